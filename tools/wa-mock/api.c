/*
 * api.c - wa-mock's request handler (see api.h for the order of checks).
 *
 * Design: one function decides everything about a request, given the
 * request and the time, and writes the answer into a caller-owned struct.
 * The HTTP server (server.c) only carries bytes and waits the delay. So the
 * whole behaviour of the mock can be driven without sockets, and the server
 * could be swapped without touching what the mock means.
 *
 * The per-recipient part (pair rate, fault, tier, record line) runs under
 * the recipient's stripe lock (recip.h): the record line and the counters of
 * one recipient then follow the same order, and a recipient's quota is
 * committed only for messages actually accepted. The record write happens
 * there too, before the answer exists, which is the record's contract.
 *
 * Request bodies are parsed with jtok (jtok.h), a strict allocation-free
 * tokenizer: jansson was measured at about a third of the mock's user time.
 * Client strings are echoed only through jw_str, which escapes them.
 */
#include "api.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "faults.h"
#include "gerror.h"
#include "jtok.h"
#include "jw.h"
#include "limits.h"
#include "phone.h"
#include "recip.h"
#include "wamid.h"

#define TEXT_MAX_CHARS 4096
#define TAG_MAX_CHARS 512
#define NAME_MAX_BYTES 512

struct api {
	struct api_deps d;
	const struct conf *c;
	struct recip *recip;
	struct limits *limits;
	atomic_uint_fast64_t seq;
};

int api_open(struct api **out, const struct api_deps *d)
{
	if (!d->conf || !d->stats)
		return BND_E_INVAL;
	struct api *a = bnd_calloc(1, sizeof *a);
	if (!a)
		return BND_E_NOMEM;
	a->d = *d;
	a->c = d->conf;
	int rc = recip_open(&a->recip);
	if (rc == 0)
		rc = limits_open(&a->limits, &d->conf->limits);
	if (rc != 0) {
		recip_close(&a->recip);
		bnd_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void api_close(struct api **p)
{
	if (!p || !*p)
		return;
	recip_close(&(*p)->recip);
	limits_close(&(*p)->limits);
	bnd_free(*p);
	*p = NULL;
}

void api_extra(struct api *a, uint64_t now_ns, struct stats_extra *x)
{
	recip_counts(a->recip, &x->unique_recipients, &x->repeated_recipients);
	x->tier_used = limits_tier_used(a->limits, now_ns);
	x->uptime_ms = (now_ns - a->d.start_ns) / 1000000u;
	x->seed = a->c->faults.seed;
}

/* ---- answers ---- */

#define INC(field) atomic_fetch_add_explicit(&a->d.stats->field, 1, memory_order_relaxed)

/* Answer with the error body of code and count it. */
static void fail(struct api *a, struct api_resp *rs, uint64_t seq, int code, int subcode,
                 const char *message, const char *details)
{
	struct jw w;
	jw_init(&w, rs->body, sizeof rs->body);
	gerror_render(&w, code, subcode, message, details,
	              faults_hash(a->c->faults.seed, seq, FAULTS_TAG_TRACE));
	rs->len = jw_len(&w);
	rs->status = gerror_http_status(code);
	INC(rejected);
	stats_code_add(&a->d.stats->errors, code);
}

__attribute__((format(printf, 5, 6)))
static void fail_fmt(struct api *a, struct api_resp *rs, uint64_t seq, int code,
                     const char *details_fmt, ...)
{
	char det[768];
	va_list ap;
	va_start(ap, details_fmt);
	vsnprintf(det, sizeof det, details_fmt, ap);
	va_end(ap);
	fail(a, rs, seq, code, -1, NULL, det);
}

/* ---- routing ---- */

enum route { ROUTE_UNKNOWN, ROUTE_MESSAGES, ROUTE_STATS };

static int is_version(const char *s, size_t n)
{
	size_t i = 1, d1 = 0, d2 = 0;
	if (n < 4 || s[0] != 'v')
		return 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, d1++;
	if (i >= n || s[i] != '.')
		return 0;
	i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, d2++;
	return i == n && d1 && d2;
}

static enum route route(const char *u, size_t n, const char **pnid, size_t *pnid_len)
{
	if (n == 11 && memcmp(u, "/mock/stats", 11) == 0)
		return ROUTE_STATS;
	/* Split into at most 4 segments after the leading '/'. */
	const char *seg[4];
	size_t len[4], ns = 0, i = 0;
	if (n == 0 || u[0] != '/')
		return ROUTE_UNKNOWN;
	i = 1;
	while (i <= n && ns < 4) {
		size_t j = i;
		while (j < n && u[j] != '/')
			j++;
		seg[ns] = u + i;
		len[ns] = j - i;
		ns++;
		i = j + 1;
	}
	if (i <= n)  /* more than 4 segments */
		return ROUTE_UNKNOWN;
	size_t k = 0;
	if (ns == 3 && is_version(seg[0], len[0]))
		k = 1;
	else if (ns != 2)
		return ROUTE_UNKNOWN;
	if (len[k + 1] != 8 || memcmp(seg[k + 1], "messages", 8) != 0 || len[k] == 0 ||
	    len[k] > CONF_ID_MAX - 1)
		return ROUTE_UNKNOWN;
	*pnid = seg[k];
	*pnid_len = len[k];
	return ROUTE_MESSAGES;
}

static int token_ok(const struct api *a, const char *auth)
{
	if (!a->d.token)
		return 1;
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	const char *t = auth + 7;
	while (*t == ' ')
		t++;
	size_t n = strlen(t);
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	return n == a->d.token_len && CRYPTO_memcmp(t, a->d.token, n) == 0;
}

static int pnid_ok(const struct api *a, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	const char *want = a->c->phone_number_id;
	return !*want || (strlen(want) == n && memcmp(want, p, n) == 0);
}

/* ---- body shape ---- */

/* A string member's token, or -1 when absent; *bad when present but not a string. */
static int32_t get_str(const struct jdoc *d, uint32_t obj, const char *key, int *bad)
{
	int32_t v = jtok_member(d, obj, key);
	*bad = 0;
	if (v < 0)
		return -1;
	if (jtok_type_of(d, (uint32_t)v) != JTOK_STRING) {
		*bad = 1;
		return -1;
	}
	return v;
}

/* What validation found out about a message to be accepted. Strings are
 * decoded copies (the body's escapes resolved). */
struct msg {
	char to_raw[PHONE_MAX_INPUT + 1];
	size_t to_len;
	uint64_t to;
	int is_template;
	const char *category;      /* pricing category for webhooks */
	int has_tag;
	char tag[TAG_MAX_CHARS * 4 + 1];
	size_t tag_len;
};

/*
 * Check a template object against the registry. Returns 0 when valid, or
 * answers the error into rs and returns -1.
 */
static int check_template(struct api *a, struct api_resp *rs, uint64_t seq,
                          const struct jdoc *d, int32_t t, struct msg *m)
{
	int bad;
	char name[NAME_MAX_BYTES + 1], code[33];
	if (t < 0 || jtok_type_of(d, (uint32_t)t) != JTOK_OBJECT) {
		fail(a, rs, seq, 100, -1, "(#100) Param template must be a JSON object.", NULL);
		return -1;
	}
	int32_t ni = get_str(d, (uint32_t)t, "name", &bad);
	long nl = ni < 0 ? -1 : jtok_string(d, (uint32_t)ni, name, sizeof name);
	if (nl <= 0) {
		fail(a, rs, seq, 100, -1, "(#100) The parameter template['name'] is required.",
		     NULL);
		return -1;
	}
	int32_t lang = jtok_member(d, (uint32_t)t, "language");
	int32_t ci = lang < 0 ? -1 : get_str(d, (uint32_t)lang, "code", &bad);
	long ll = ci < 0 ? -1 : jtok_string(d, (uint32_t)ci, code, sizeof code);
	if (ll <= 0) {
		fail(a, rs, seq, 100, -1,
		     "(#100) The parameter template['language']['code'] is required.", NULL);
		return -1;
	}
	int known = 0;
	const struct templates_entry *e =
		templates_find(&a->c->templates, (const uint8_t *)name, (size_t)nl,
		               (const uint8_t *)code, (size_t)ll, &known);
	if (!e) {
		fail_fmt(a, rs, seq, GERROR_TEMPLATE_MISSING,
		         "template name (%s) does not exist in %s", name, code);
		return -1;
	}
	if (e->status == TEMPLATES_PAUSED || e->status == TEMPLATES_DISABLED) {
		fail_fmt(a, rs, seq, e->status == TEMPLATES_PAUSED ? GERROR_TEMPLATE_PAUSED
		                                                   : GERROR_TEMPLATE_DISABLED,
		         "Template %s is not approved for sending.", e->name);
		return -1;
	}
	size_t nparams = 0;
	int32_t comps = jtok_member(d, (uint32_t)t, "components");
	if (comps >= 0 && jtok_type_of(d, (uint32_t)comps) != JTOK_ARRAY) {
		fail(a, rs, seq, 100, -1, "(#100) Param template['components'] must be an array.",
		     NULL);
		return -1;
	}
	uint32_t nc = comps < 0 ? 0 : jtok_count(d, (uint32_t)comps);
	for (uint32_t i = 0; i < nc; i++) {
		int32_t comp = jtok_elem(d, (uint32_t)comps, i);
		int32_t ct = jtok_type_of(d, (uint32_t)comp) == JTOK_OBJECT
		           ? get_str(d, (uint32_t)comp, "type", &bad) : -1;
		if (ct < 0) {
			fail(a, rs, seq, 100, -1,
			     "(#100) The parameter template['components'][]['type'] is required.", NULL);
			return -1;
		}
		if (!jtok_str_eq(d, (uint32_t)ct, "body", 1))
			continue;  /* header and button parameters are not counted */
		int32_t params = jtok_member(d, (uint32_t)comp, "parameters");
		if (params >= 0 && jtok_type_of(d, (uint32_t)params) != JTOK_ARRAY) {
			fail(a, rs, seq, 100, -1, "(#100) Param parameters must be an array.", NULL);
			return -1;
		}
		uint32_t np = params < 0 ? 0 : jtok_count(d, (uint32_t)params);
		for (uint32_t j = 0; j < np; j++) {
			int32_t p = jtok_elem(d, (uint32_t)params, j);
			int32_t pt = jtok_type_of(d, (uint32_t)p) == JTOK_OBJECT
			           ? get_str(d, (uint32_t)p, "type", &bad) : -1;
			if (pt < 0) {
				fail(a, rs, seq, 100, -1,
				     "(#100) The parameter parameters[]['type'] is required.", NULL);
				return -1;
			}
			if (jtok_str_eq(d, (uint32_t)pt, "text", 1)) {
				int32_t x = get_str(d, (uint32_t)p, "text", &bad);
				if (x < 0 || jtok_chars(d, (uint32_t)x) <= 0) {
					fail(a, rs, seq, GERROR_MISSING, -1, NULL,
					     "Parameter of type text is missing the text value.");
					return -1;
				}
			}
			nparams++;
		}
	}
	if (nparams != (size_t)e->params) {
		fail_fmt(a, rs, seq, GERROR_TEMPLATE_PARAMS,
		         "body: number of localizable_params (%zu) does not match the expected "
		         "number of params (%d)", nparams, e->params);
		return -1;
	}
	m->is_template = 1;
	m->category = e->category;
	return 0;
}

/*
 * Validate the body of a send (root token 0 of d). Returns 1 for a message
 * to accept (m filled), 0 when the answer is already in rs (an error, or a
 * mark-read success).
 */
static int validate(struct api *a, struct api_resp *rs, uint64_t seq, const struct jdoc *d,
                    struct msg *m)
{
	int bad;
	if (jtok_type_of(d, 0) != JTOK_OBJECT) {
		fail(a, rs, seq, 100, -1, NULL, "The request body is not a JSON object.");
		return 0;
	}
	int32_t mp = get_str(d, 0, "messaging_product", &bad);
	if (mp < 0) {
		fail(a, rs, seq, 100, -1, "(#100) The parameter messaging_product is required.",
		     NULL);
		return 0;
	}
	if (!jtok_str_eq(d, (uint32_t)mp, "whatsapp", 1)) {
		fail(a, rs, seq, 100, -1, "(#100) Param messaging_product must be one of {WHATSAPP}.",
		     NULL);
		return 0;
	}
	/* Mark as read: {"messaging_product":"whatsapp","status":"read","message_id":...} */
	int32_t st = get_str(d, 0, "status", &bad);
	if (st >= 0 && jtok_str_eq(d, (uint32_t)st, "read", 1)) {
		int32_t id = get_str(d, 0, "message_id", &bad);
		if (id < 0 || jtok_chars(d, (uint32_t)id) <= 0) {
			fail(a, rs, seq, 100, -1, "(#100) The parameter message_id is required.", NULL);
			return 0;
		}
		struct jw w;
		jw_init(&w, rs->body, sizeof rs->body);
		jw_lit(&w, "{\"success\":true}");
		rs->len = jw_len(&w);
		INC(mark_read);
		return 0;
	}
	int32_t rt = get_str(d, 0, "recipient_type", &bad);
	if (bad || (rt >= 0 && !jtok_str_eq(d, (uint32_t)rt, "individual", 1))) {
		fail(a, rs, seq, 100, -1, "(#100) Param recipient_type must be one of {INDIVIDUAL}.",
		     NULL);
		return 0;
	}
	int32_t to = get_str(d, 0, "to", &bad);
	if (to < 0) {
		fail(a, rs, seq, 100, -1, "(#100) The parameter to is required.", NULL);
		return 0;
	}
	long tl = jtok_string(d, (uint32_t)to, m->to_raw, sizeof m->to_raw);
	if (tl < 0) {
		fail_fmt(a, rs, seq, GERROR_BAD_VALUE, "Invalid parameter to: %s.",
		         bnd_strerror(BND_E_RANGE));
		return 0;
	}
	m->to_len = (size_t)tl;
	/* "00" as an international prefix is refused by the real API (ref. §5). */
	size_t s = 0;
	while (s < m->to_len && (m->to_raw[s] == ' ' || m->to_raw[s] == '('))
		s++;
	if (m->to_len - s >= 2 && m->to_raw[s] == '0' && m->to_raw[s + 1] == '0') {
		fail(a, rs, seq, 100, -1, "(#100) Invalid parameter",
		     "The parameter to has a 00 prefix; use + and the country code.");
		return 0;
	}
	int prc = phone_parse((const uint8_t *)m->to_raw, m->to_len, &m->to);
	if (prc != 0) {
		fail_fmt(a, rs, seq, GERROR_BAD_VALUE, "Invalid parameter to: %s.",
		         bnd_strerror(prc));
		return 0;
	}
	int32_t tag = get_str(d, 0, "biz_opaque_callback_data", &bad);
	long tagl = tag < 0 ? 0 : jtok_string(d, (uint32_t)tag, m->tag, sizeof m->tag);
	if (bad || tagl < 0 || (tag >= 0 && jtok_chars(d, (uint32_t)tag) > TAG_MAX_CHARS)) {
		fail(a, rs, seq, 100, -1,
		     "(#100) Param biz_opaque_callback_data must be a string of at most 512 characters.",
		     NULL);
		return 0;
	}
	m->has_tag = tag >= 0;
	m->tag_len = (size_t)tagl;
	int32_t type = get_str(d, 0, "type", &bad);
	if (bad) {
		fail(a, rs, seq, 100, -1, "(#100) Param type must be a string.", NULL);
		return 0;
	}
	if (type < 0 || jtok_str_eq(d, (uint32_t)type, "text", 1)) {
		int32_t text = jtok_member(d, 0, "text");
		int32_t body = text >= 0 && jtok_type_of(d, (uint32_t)text) == JTOK_OBJECT
		             ? get_str(d, (uint32_t)text, "body", &bad) : -1;
		long chars = body < 0 ? -1 : jtok_chars(d, (uint32_t)body);
		if (chars <= 0) {
			fail(a, rs, seq, 100, -1, "(#100) The parameter text['body'] is required.", NULL);
			return 0;
		}
		if (chars > TEXT_MAX_CHARS) {
			fail(a, rs, seq, 100, -1,
			     "(#100) Param text['body'] must be at most 4096 characters long.", NULL);
			return 0;
		}
		m->is_template = 0;
		m->category = "service";
		return 1;
	}
	if (jtok_str_eq(d, (uint32_t)type, "template", 1))
		return check_template(a, rs, seq, d, jtok_member(d, 0, "template"), m) == 0;
	fail(a, rs, seq, 100, -1, "(#100) Param type must be one of {TEXT, TEMPLATE} in wa-mock.",
	     NULL);
	return 0;
}

/* ---- acceptance ---- */

static int not_on_whatsapp(const struct api *a, uint64_t to)
{
	if (a->c->nowa_fraction > 0 &&
	    faults_unit(faults_hash(a->c->faults.seed, to, FAULTS_TAG_NOWA)) < a->c->nowa_fraction)
		return 1;
	size_t lo = 0, hi = a->d.nowa_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->d.nowa[mid] == to)
			return 1;
		if (a->d.nowa[mid] < to)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * Steps 7-11 for a valid message m. Returns with rs filled (or its action
 * set to a reset).
 */
static void admit(struct api *a, const struct api_req *rq, struct api_resp *rs, uint64_t seq,
                  const char *pnid, size_t pnid_len, const struct msg *m)
{
	struct faults_entry burst;
	const struct faults_entry *f = faults_pick(&a->c->faults, seq, &burst);
	char wamid[WAMID_BUF];
	unsigned stripe;
	struct recip_entry *e = recip_lock(a->recip, m->to, &stripe);
	if (!e) {
		fail(a, rs, seq, GERROR_UNKNOWN, -1, NULL, "wa-mock is out of memory.");
		return;
	}
	if (!limits_pair_ok(a->limits, e, rq->now_ns)) {
		recip_unlock(a->recip, stripe);
		fail(a, rs, seq, GERROR_PAIR, -1, NULL, NULL);
		return;
	}
	if (f && f->kind == FAULTS_CODE && !f->async) {
		recip_unlock(a->recip, stripe);
		fail(a, rs, seq, f->code, -1, NULL, NULL);
		return;
	}
	if (f && f->kind == FAULTS_RESET) {
		recip_unlock(a->recip, stripe);
		INC(resets);
		rs->action = API_RESET;
		return;
	}
	if (!limits_tier_admit(a->limits, e, rq->now_ns)) {
		recip_unlock(a->recip, stripe);
		fail(a, rs, seq, a->c->tier_code, -1, NULL, NULL);
		return;
	}
	size_t wlen = wamid_make(wamid, a->c->faults.seed, a->d.nonce, seq, m->to);
	if (a->d.record) {
		int rc = record_append(a->d.record, m->to, wamid, wlen, (const uint8_t *)m->tag,
		                       m->tag_len, m->is_template ? "template" : "text", rq->wall_ms);
		if (rc != 0) {
			recip_unlock(a->recip, stripe);
			INC(record_errors);
			fail_fmt(a, rs, seq, GERROR_UNKNOWN, "wa-mock could not record the message: %s.",
			         bnd_strerror(rc));
			return;
		}
	}
	limits_pair_commit(a->limits, e, rq->now_ns);
	recip_accepted(a->recip, e);
	recip_unlock(a->recip, stripe);
	INC(accepted);
	stats_rate_add(&a->d.stats->acc_rate, rq->now_ns);

	int fail_code = 0;
	if (f && f->kind == FAULTS_CODE && f->async)
		fail_code = f->code;
	else if ((a->c->nowa_fraction > 0 || a->d.nowa_n) && not_on_whatsapp(a, m->to))
		fail_code = GERROR_UNDELIVERABLE;
	if (fail_code)
		stats_code_add(&a->d.stats->async_failed, fail_code);
	if (a->d.webhook) {
		struct webhook_msg wm = {
			.to = m->to, .seq = seq, .pnid = (const uint8_t *)pnid, .pnid_len = pnid_len,
			.tag = m->has_tag ? (const uint8_t *)m->tag : NULL, .tag_len = m->tag_len,
			.fail_code = fail_code,
			.category = m->category, .now_ns = rq->now_ns,
		};
		memcpy(wm.wamid, wamid, sizeof wamid);
		webhook_submit(a->d.webhook, &wm);
	}

	struct jw w;
	jw_init(&w, rs->body, sizeof rs->body);
	jw_lit(&w, "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":");
	jw_str(&w, (const uint8_t *)m->to_raw, m->to_len, JW_UTF8);
	char digits[PHONE_STR_MAX];
	phone_format(m->to, digits);
	jw_lit(&w, ",\"wa_id\":\"");
	jw_lit(&w, digits);
	jw_lit(&w, "\"}],\"messages\":[{\"id\":\"");
	jw_raw(&w, wamid, wlen);
	jw_lit(&w, "\"}]}");
	rs->len = jw_len(&w);
	rs->status = 200;
	if (f && f->kind == FAULTS_STALL) {
		INC(stalls);
		rs->delay_ns = a->c->faults.stall_ns;
	} else if (f && f->kind == FAULTS_RESET_ACCEPTED) {
		INC(resets);
		rs->action = API_RESET;
	}
}

/* ---- the handler ---- */

void api_handle(struct api *a, const struct api_req *rq, struct api_resp *rs)
{
	rs->status = 200;
	rs->action = API_RESPOND;
	rs->delay_ns = 0;
	rs->len = 0;
	const char *pnid = NULL;
	size_t pnid_len = 0;
	enum route r = route(rq->url, rq->url_len, &pnid, &pnid_len);

	if (r == ROUTE_STATS && strcmp(rq->method, "GET") == 0) {
		INC(other_requests);
		struct stats_extra x;
		api_extra(a, rq->now_ns, &x);
		struct jw w;
		jw_init(&w, rs->body, sizeof rs->body);
		stats_render(a->d.stats, &x, rq->now_ns, &w);
		rs->len = jw_len(&w);
		return;
	}
	if (r != ROUTE_MESSAGES) {
		INC(other_requests);
		char msg[160];
		snprintf(msg, sizeof msg, "Unknown path components: %.*s",
		         (int)(rq->url_len > 100 ? 100 : rq->url_len), rq->url);
		struct jw w;
		jw_init(&w, rs->body, sizeof rs->body);
		gerror_render(&w, GERROR_UNKNOWN_PATH, 0, msg, NULL, rq->now_ns);
		rs->len = jw_len(&w);
		rs->status = 404;
		return;
	}

	uint64_t seq = atomic_fetch_add_explicit(&a->seq, 1, memory_order_relaxed);
	INC(requests);
	stats_rate_add(&a->d.stats->req_rate, rq->now_ns);
	rs->delay_ns = faults_latency_ns(&a->c->faults, seq);

	if (strcmp(rq->method, "POST") != 0) {
		char msg[96];
		snprintf(msg, sizeof msg, "Unsupported %.16s request.", rq->method);
		fail(a, rs, seq, 100, -1, msg, "");
		return;
	}
	if (!token_ok(a, rq->auth)) {
		fail(a, rs, seq, GERROR_TOKEN, -1, NULL, NULL);
		return;
	}
	if (!pnid_ok(a, pnid, pnid_len)) {
		char msg[320];
		snprintf(msg, sizeof msg,
		         "Unsupported post request. Object with ID '%.*s' does not exist, cannot be "
		         "loaded due to missing permissions, or does not support this operation. "
		         "Please read the Graph API documentation at "
		         "https://developers.facebook.com/docs/graph-api",
		         (int)pnid_len, pnid);
		fail(a, rs, seq, 100, 33, msg, "");
		return;
	}
	if (rq->body_too_large) {
		fail(a, rs, seq, 100, -1, "(#100) Request body too large", NULL);
		rs->status = 413;
		return;
	}
	if (!limits_throughput(a->limits, (const uint8_t *)pnid, pnid_len, rq->now_ns)) {
		fail(a, rs, seq, GERROR_THROUGHPUT, -1, NULL, NULL);
		return;
	}
	struct jdoc doc;
	int jrc = jtok_parse(&doc, rq->body, rq->body_len);
	if (jrc != 0) {
		fail_fmt(a, rs, seq, 100, "The request body is not valid JSON (%s at byte %zu).",
		         bnd_strerror(jrc), doc.err_at);
		return;
	}
	struct msg m;
	if (validate(a, rs, seq, &doc, &m))
		admit(a, rq, rs, seq, pnid, pnid_len, &m);
	if (rs->len == 0 && rs->action == API_RESPOND) {
		/* Only possible if a body overflowed API_BODY_MAX: never claim success. */
		struct jw w;
		jw_init(&w, rs->body, sizeof rs->body);
		gerror_render(&w, GERROR_UNKNOWN, 0, NULL, NULL, seq);
		rs->len = jw_len(&w);
		rs->status = 500;
	}
}
