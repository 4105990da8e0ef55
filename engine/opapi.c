/*
 * opapi.c - the operator API (/v1/) of `banditore serve`. Contract in
 * opapi.h and docs/openapi.json.
 *
 * Design:
 *
 *  - Writes go through the sender, reads come from disk. Creating a notice
 *    is notice_create (the store's confirmed snapshot, written and synced
 *    before the rename) on the server thread, then sender->post_add; the
 *    202 is sent from the sender's callback, so "202" means "the sender has
 *    it" and a refusal (too many active notices) is reported, not hidden.
 *    Every GET reads notice.json and replays the journal read-only: it never
 *    waits for the sender's loop, and it reads exactly what `banditore
 *    status` reads. A cache keyed by the journal's size and mtime (the file
 *    only grows while a writer appends) keeps a report of each notice, so
 *    a finished notice costs one stat() per GET and a running one a replay
 *    of its journal: 19 ms for 100,000 recipients with sent, delivered and
 *    read statuses (a 16 MB journal), 65 ms for 300,000 (best of 7 on the
 *    2-core development VM; a throwaway program timing journal_open
 *    RDONLY + journal_report). So a report younger than REPORT_REUSE_MS is
 *    reused as it is, and opapi_refresh_metrics runs at most every
 *    REFRESH_EVERY_MS: polling clients and the metrics cost at most a few
 *    replays per second, whatever their number.
 *
 *  - Deferred answers. A request waiting for a sender callback is on the
 *    `pending` list under `mu`. The callback takes it off and answers; a
 *    shutdown takes everything off and answers 503, leaving the contexts on
 *    the `orphans` list, which a late callback (or opapi_close) frees. So
 *    every request is answered exactly once and no callback touches freed
 *    memory, whatever the order of shutdown and callbacks. Callbacks run on
 *    the sender's loop thread: they build a small JSON answer from what the
 *    context holds and never touch the disk.
 *
 *  - Cancelling a notice that the sender is not running (queued, paused,
 *    stopped after an API error) is done here: the journal's writer lock is
 *    tried without waiting; if it is free the CANCELLED state is journaled
 *    directly; if the sender holds it, the cancel is posted to the sender.
 *    Terminal notices are answered 409 from the read-only report, so a
 *    finished journal is never reopened for writing.
 *
 *  - Authentication: every /v1/ handler starts with gate(): 503 while the
 *    admin token is unset (the API is off, said once in the log at start)
 *    or while shutting down; 401 with WWW-Authenticate for a missing or
 *    wrong bearer token, compared with webhook_token_equal (SHA-256 of both
 *    sides, CRYPTO_memcmp: neither content nor length leaks). Failed
 *    attempts are logged at most once per 10 s with a count, so a guessing
 *    client cannot flood the log.
 *
 *  - Privacy: no handler ever writes a phone number. The subscriber route
 *    returns counts; notice reports count ordinals. Error messages name the
 *    field and never echo a value (a mistyped field may hold a number or a
 *    token).
 *
 *  - Time: every wall-clock read goes through deps.wall_ms (the service's
 *    clock), so tests move time by hand.
 */
#include "opapi.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "bnd.h"
#include "journal.h"
#include "notice.h"
#include "sender.h"
#include "waerr.h"
#include "webhook.h"

#define MOD "opapi"
#define MS_PER_DAY 86400000ull
#define EXPIRY_MAX_MS (30ull * MS_PER_DAY)   /* the range of notices.expiry.* */
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define CACHE_MAX 256          /* notices whose report is cached */
#define IDEM_MAX 64            /* Idempotency-Key values remembered */
#define IDEM_KEY_MAX 128
#define AUTH_LOG_INTERVAL_MS 10000ull
#define RATE_SAMPLE_MS 1000ull /* rate_now: accepted over at least this long */
#define CREATE_TRIES 16        /* ids drawn when one is taken (same second) */
#define REPORT_REUSE_MS 250ull /* a report this young is reused even if the
                                  journal grew: replaying costs ~19 ms per
                                  100,000 recipients (see the top) */
#define REFRESH_EVERY_MS 5000ull /* opapi_refresh_metrics at most this often */

static const char CATEGORY_CHOICES[] = "emergency|disruption|deadline|event|info";

/* ---- the object ----------------------------------------------------------- */

enum pend_kind { PEND_CREATE = 1, PEND_CANCEL = 2, PEND_RESUME = 3 };

/* A request waiting for a sender callback. */
struct pend {
	struct pend *next;
	struct opapi *api;
	struct httpd_req *req;      /* NULL once shutdown answered it */
	enum pend_kind kind;
	char id[NOTICE_ID_SIZE];
	enum notice_category category;
	uint64_t created_ms, expires_ms;
	uint32_t recipients;
	int idem;                   /* index in idem[] to settle, or -1 */
};

/* One cached report. */
struct centry {
	int used;
	char id[NOTICE_ID_SIZE];
	uint64_t size, mtime_ns;    /* of journal.log when rep was made */
	uint64_t made_ms;           /* wall time rep was made (0: none yet) */
	uint64_t used_at;           /* LRU tick */
	struct journal_report rep;
	uint64_t sample_ms, sample_accepted;   /* for rate_now */
	double rate_now;
	int has_rate_now;
	int ours;                   /* created through this API object */
	int has_def;                /* cat and created_ms are known */
	enum notice_category cat;
	uint64_t created_ms;
	int start_observed;         /* banditore_notice_start_seconds done */
};

struct idem {
	char key[IDEM_KEY_MAX + 1];
	char id[NOTICE_ID_SIZE];    /* "" while its request is in progress */
	int used;
};

struct opapi {
	struct opapi_deps d;
	const char *data;
	const uint8_t *token;
	size_t token_len;
	atomic_int closing;

	pthread_mutex_t mu;         /* pending, orphans, idem */
	struct pend *pending, *orphans;
	struct idem idem[IDEM_MAX];
	unsigned idem_next;

	pthread_mutex_t cmu;        /* cache */
	struct centry cache[CACHE_MAX];
	uint64_t tick;

	pthread_rwlock_t slock;     /* held (read) around every sender call;
	                               opapi_shutdown takes it (write) once, so
	                               after it returns no call is running or
	                               can start: the sender may then go away */
	pthread_mutex_t lmu;        /* auth failure log throttle, refresh time */
	uint64_t last_refresh_ms;
	uint64_t auth_last_log_ms;
	uint64_t auth_suppressed;
};

static uint64_t now_ms(struct opapi *api)
{
	return api->d.wall_ms(api->d.clock_ud);
}

/* ---- sender adapters -------------------------------------------------------- */

static int real_post_add(void *ctx, const char *id, opapi_done_fn done, void *ud)
{
	return sender_post_add(ctx, id, done, ud);
}

static int real_post_cancel(void *ctx, const char *id, opapi_done_fn done, void *ud)
{
	return sender_post_cancel(ctx, id, done, ud);
}

void opapi_sender_use(struct opapi_sender *ops, struct sender *s)
{
	memset(ops, 0, sizeof *ops);
	ops->post_add = real_post_add;
	ops->post_cancel = real_post_cancel;
	ops->ctx = s;
}

/* ---- time ------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

char *opapi_format_time(uint64_t ms, char *buf, size_t cap)
{
	int64_t y;
	unsigned mo, d;
	uint64_t secs = ms / 1000;
	civil_from_days((int64_t)(secs / 86400), &y, &mo, &d);
	unsigned sod = (unsigned)(secs % 86400);
	snprintf(buf, cap, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y, mo, d, sod / 3600,
	         sod / 60 % 60, sod % 60, (unsigned)(ms % 1000));
	return buf;
}

/* n digits at p[*i], advancing *i; -1 when they are not all digits. */
static int digits(const char *p, size_t len, size_t *i, unsigned n)
{
	int v = 0;
	if (*i + n > len)
		return -1;
	for (unsigned k = 0; k < n; k++) {
		char c = p[*i + k];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*i += n;
	return v;
}

static int expect(const char *p, size_t len, size_t *i, char c)
{
	if (*i >= len || p[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

static int rfc3339(const char *p, size_t len, uint64_t *out_ms)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t i = 0;
	int y = digits(p, len, &i, 4);
	if (y < 1970 || expect(p, len, &i, '-'))
		return BND_E_INVAL;
	int mo = digits(p, len, &i, 2);
	if (mo < 1 || mo > 12 || expect(p, len, &i, '-'))
		return BND_E_INVAL;
	int d = digits(p, len, &i, 2);
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	unsigned dmax = mdays[mo - 1] + (mo == 2 && leap);
	if (d < 1 || (unsigned)d > dmax)
		return BND_E_INVAL;
	if (i >= len || (p[i] != 'T' && p[i] != 't' && p[i] != ' '))
		return BND_E_INVAL;
	i++;
	int hh = digits(p, len, &i, 2);
	if (hh < 0 || hh > 23 || expect(p, len, &i, ':'))
		return BND_E_INVAL;
	int mm = digits(p, len, &i, 2);
	if (mm < 0 || mm > 59 || expect(p, len, &i, ':'))
		return BND_E_INVAL;
	int ss = digits(p, len, &i, 2);
	if (ss < 0 || ss > 59)   /* a leap second is refused rather than guessed */
		return BND_E_INVAL;
	unsigned frac_ms = 0;
	if (i < len && p[i] == '.') {
		i++;
		unsigned nd = 0, scale = 100;
		while (i < len && p[i] >= '0' && p[i] <= '9') {
			if (nd < 3) {
				frac_ms += (unsigned)(p[i] - '0') * scale;
				scale /= 10;
			}
			nd++;
			i++;
		}
		if (nd == 0 || nd > 9)
			return BND_E_INVAL;
	}
	int64_t off_min = 0;
	if (i < len && (p[i] == 'Z' || p[i] == 'z')) {
		i++;
	} else if (i < len && (p[i] == '+' || p[i] == '-')) {
		int sign = p[i] == '-' ? -1 : 1;
		i++;
		int oh = digits(p, len, &i, 2);
		if (oh < 0 || oh > 23 || expect(p, len, &i, ':'))
			return BND_E_INVAL;
		int om = digits(p, len, &i, 2);
		if (om < 0 || om > 59)
			return BND_E_INVAL;
		off_min = sign * (oh * 60 + om);
	} else {
		return BND_E_INVAL;   /* a time without an offset is ambiguous */
	}
	if (i != len)
		return BND_E_INVAL;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 +
	               mm * 60 + ss - off_min * 60;
	if (secs < 0)
		return BND_E_INVAL;
	*out_ms = (uint64_t)secs * 1000 + frac_ms;
	return 0;
}

int opapi_parse_time(const char *s, size_t len, uint64_t now_ms_, uint64_t *out_ms)
{
	if (!s || !out_ms || len == 0 || len > 64)
		return BND_E_INVAL;
	/* A date-time starts with a 4-digit year and a '-'; a duration never
	 * has a '-' in its fifth byte. */
	if (len >= 5 && s[4] == '-')
		return rfc3339(s, len, out_ms);
	uint64_t ns;
	if (config_parse_duration(s, len, &ns) || ns < 1000000ull)
		return BND_E_INVAL;
	*out_ms = now_ms_ + ns / 1000000ull;
	return 0;
}

/* ---- answers ------------------------------------------------------------------ */

static void count_outcome(struct opapi *api, unsigned status)
{
	struct metrics_set *m = api->d.metrics;
	if (!m)
		return;
	enum metrics_op o = status < 300   ? METRICS_OP_OK
	                    : status == 401 ? METRICS_OP_UNAUTHORIZED
	                    : status >= 500 ? METRICS_OP_ERROR
	                                    : METRICS_OP_BAD_REQUEST;
	metrics_counter_inc(m->operator_requests[o]);
}

/* Answer with obj (reference taken). A NULL obj (out of memory building
 * it) becomes a fixed 500. */
static void reply_json(struct opapi *api, struct httpd_req *req, unsigned status, json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!s) {
		static const char oom[] =
			"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
		count_outcome(api, 500);
		httpd_respond(req, 500, "application/json", oom, sizeof oom - 1);
		return;
	}
	size_t n = strlen(s);
	char *body = bnd_malloc(n + 2);
	if (body) {
		memcpy(body, s, n);
		body[n] = '\n';
		body[n + 1] = '\0';
	}
	count_outcome(api, status);
	httpd_respond(req, status, "application/json", body ? body : s, body ? n + 1 : n);
	bnd_free(body);
	free(s);
}

static void reply_error(struct opapi *api, struct httpd_req *req, unsigned status,
                        const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void reply_error(struct opapi *api, struct httpd_req *req, unsigned status,
                        const char *code, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (e && field)
		json_object_set_new(e, "field", json_string(field));
	reply_json(api, req, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

/* ---- the gate ------------------------------------------------------------------- */

static void log_auth_failure(struct opapi *api, const char *why)
{
	uint64_t t = now_ms(api);
	pthread_mutex_lock(&api->lmu);
	int log = api->auth_last_log_ms == 0 || t - api->auth_last_log_ms >= AUTH_LOG_INTERVAL_MS;
	uint64_t suppressed = api->auth_suppressed;
	if (log) {
		api->auth_last_log_ms = t;
		api->auth_suppressed = 0;
	} else {
		api->auth_suppressed++;
	}
	pthread_mutex_unlock(&api->lmu);
	if (log)
		bnd_log(BND_LOG_WARN, MOD, "refused an operator API request: %s (%" PRIu64
		        " more refused since the last line)", why, suppressed);
}

/* 1 when the request may go on; otherwise it has been answered. */
static int gate(struct opapi *api, struct httpd_req *req)
{
	if (atomic_load(&api->closing)) {
		httpd_req_set_header(req, "Retry-After", "5");
		reply_error(api, req, 503, "shutting_down", NULL, "the service is shutting down");
		return 0;
	}
	if (!api->token) {
		reply_error(api, req, 503, "disabled", NULL,
		            "the operator API is disabled: BANDITORE_ADMIN_TOKEN is not set");
		return 0;
	}
	size_t len = 0;
	const char *given = httpd_req_bearer(req, &len);
	if (!given || !webhook_token_equal((const uint8_t *)given, len, api->token,
	                                   api->token_len)) {
		httpd_req_set_header(req, "WWW-Authenticate", "Bearer realm=\"banditore\"");
		log_auth_failure(api, given ? "wrong bearer token" : "no bearer token");
		reply_error(api, req, 401, "unauthorized", NULL,
		            "a valid 'Authorization: Bearer <BANDITORE_ADMIN_TOKEN>' header is required");
		return 0;
	}
	return 1;
}

static int method_is(struct httpd_req *req, const char *m)
{
	const char *got = httpd_req_method(req);
	if (strcmp(m, "GET") == 0 && strcmp(got, "HEAD") == 0)
		return 1;
	return strcmp(got, m) == 0;
}

static void reply_method(struct opapi *api, struct httpd_req *req, const char *allow)
{
	httpd_req_set_header(req, "Allow", allow);
	reply_error(api, req, 405, "method_not_allowed", NULL, "use %s on this path", allow);
}

/* ---- reports and the cache -------------------------------------------------------- */

static int journal_stat(struct opapi *api, const char *id, uint64_t *size, uint64_t *mtime)
{
	char path[4096];
	int n = notice_path(path, sizeof path, api->data, id, JOURNAL_FILE);
	if (n < 0)
		return n;
	struct stat st;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? BND_E_NOTFOUND : -errno;
	*size = (uint64_t)st.st_size;
	*mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
	return 0;
}

static struct centry *cache_find(struct opapi *api, const char *id)
{
	for (size_t i = 0; i < CACHE_MAX; i++)
		if (api->cache[i].used && strcmp(api->cache[i].id, id) == 0)
			return &api->cache[i];
	return NULL;
}

static struct centry *cache_slot(struct opapi *api, const char *id)
{
	struct centry *e = cache_find(api, id);
	if (e)
		return e;
	struct centry *victim = &api->cache[0];
	for (size_t i = 0; i < CACHE_MAX; i++) {
		if (!api->cache[i].used) {
			victim = &api->cache[i];
			break;
		}
		if (api->cache[i].used_at < victim->used_at)
			victim = &api->cache[i];
	}
	memset(victim, 0, sizeof *victim);
	victim->used = 1;
	snprintf(victim->id, sizeof victim->id, "%s", id);
	return victim;
}

/* Recompute the time-derived fields of a report at t (what journal_report
 * does with now_ms for a notice that has not ended). */
static void report_retime(struct journal_report *r, uint64_t t)
{
	if (!r->start_ms)
		return;
	uint64_t end = r->end_ms ? r->end_ms : t;
	r->elapsed_ms = end > r->start_ms ? end - r->start_ms : 0;
	r->rate_per_s = r->elapsed_ms ? (double)r->accepted * 1000.0 / (double)r->elapsed_ms : 0.0;
}

/* What a GET shows beyond the journal's report. */
struct live {
	double rate_now;
	int has_rate_now;
	uint64_t first_dispatch_ms;  /* 0: unknown */
};

/*
 * The report of notice id at time t, from the cache when the journal has
 * not changed. Returns 0, BND_E_NOTFOUND, or journal_open's code (damage).
 */
static int get_report(struct opapi *api, const char *id, uint64_t t, struct journal_report *out,
                      struct live *lv)
{
	uint64_t size = 0, mtime = 0;
	int rc = journal_stat(api, id, &size, &mtime);
	if (rc)
		return rc;
	pthread_mutex_lock(&api->cmu);
	struct centry *e = cache_find(api, id);
	int fresh = e && e->made_ms &&
	            ((e->size == size && e->mtime_ns == mtime) ||
	             (t >= e->made_ms && t - e->made_ms < REPORT_REUSE_MS));
	if (fresh) {
		*out = e->rep;
		e->used_at = ++api->tick;
	}
	pthread_mutex_unlock(&api->cmu);
	if (!fresh) {
		struct journal *j = NULL;
		struct journal_opts jo = { .flags = JOURNAL_RDONLY };
		rc = journal_open_notice(&j, api->data, id, NULL, &jo, NULL);
		if (rc)
			return rc;
		journal_report(j, t, out);
		journal_close(&j);
	}
	report_retime(out, t);

	memset(lv, 0, sizeof *lv);
	if (api->d.sender.first_dispatch_ms) {
		uint64_t ms = 0;
		if (api->d.sender.first_dispatch_ms(api->d.sender.ctx, id, &ms) == 0)
			lv->first_dispatch_ms = ms;
	}
	pthread_mutex_lock(&api->cmu);
	e = cache_slot(api, id);
	if (!fresh) {
		e->size = size;
		e->mtime_ns = mtime;
		e->rep = *out;
		e->made_ms = t ? t : 1;
	}
	e->used_at = ++api->tick;
	/* rate_now: accepted per second since a sample at least RATE_SAMPLE_MS
	 * old, while the notice runs. */
	if (out->state == NOTICE_RUNNING) {
		if (e->sample_ms && t >= e->sample_ms + RATE_SAMPLE_MS &&
		    out->accepted >= e->sample_accepted) {
			e->rate_now = (double)(out->accepted - e->sample_accepted) * 1000.0 /
			              (double)(t - e->sample_ms);
			e->has_rate_now = 1;
			e->sample_ms = t;
			e->sample_accepted = out->accepted;
		} else if (!e->sample_ms || out->accepted < e->sample_accepted) {
			e->sample_ms = t;
			e->sample_accepted = out->accepted;
		}
	} else {
		e->has_rate_now = 0;
		e->sample_ms = 0;
	}
	lv->rate_now = e->rate_now;
	lv->has_rate_now = e->has_rate_now;
	pthread_mutex_unlock(&api->cmu);
	return 0;
}

/* Forget the cached report of id: the API just changed its state, and a
 * GET right after must show it. */
static void cache_forget(struct opapi *api, const char *id)
{
	pthread_mutex_lock(&api->cmu);
	struct centry *e = cache_find(api, id);
	if (e)
		e->made_ms = 0;
	pthread_mutex_unlock(&api->cmu);
}

static void mark_ours(struct opapi *api, const char *id)
{
	pthread_mutex_lock(&api->cmu);
	struct centry *e = cache_slot(api, id);
	e->ours = 1;
	e->used_at = ++api->tick;
	pthread_mutex_unlock(&api->cmu);
}

/* ---- JSON of a notice ------------------------------------------------------------------ */

static json_t *time_or_null(uint64_t ms)
{
	char b[OPAPI_TIME_MAX];
	return ms ? json_string(opapi_format_time(ms, b, sizeof b)) : json_null();
}

static const char *code_class(int32_t code)
{
	if (code < 0)
		return "transport";
	switch (waerr_lookup(code)->outcome) {
	case WA_FAILED_RECIPIENT: return "recipient";
	case WA_STOP_CAMPAIGN: return "campaign";
	case WA_STOP_ENGINE: return "engine";
	case WA_UNCERTAIN: return "uncertain";
	default: return "retries_exhausted";
	}
}

static const char *code_reason(int32_t code)
{
	if (code < 0)
		return code <= -100 ? "HTTP error without a WhatsApp error body"
		                    : "no answer from the API (connection or time-out)";
	const char *why = waerr_lookup(code)->why;
	return why && *why ? why : "unknown code";
}

/* Reals are rounded to 2 decimals: a report, not a measurement device. */
static double r2(double v)
{
	return (double)(int64_t)(v * 100.0 + (v >= 0 ? 0.5 : -0.5)) / 100.0;
}

static json_t *real2(double v)
{
	return json_real(r2(v));
}

static double pct(uint64_t part, uint32_t whole)
{
	return whole ? r2((double)part * 100.0 / (double)whole) : 0.0;
}

static json_t *coverage_json(const struct journal_report *r, uint64_t t)
{
	static const struct { const char *k; uint64_t ms; } w[3] = {
		{ "1m", 60000 }, { "5m", 300000 }, { "15m", 900000 } };
	const uint64_t v[3] = { r->delivered_1m, r->delivered_5m, r->delivered_15m };
	json_t *c = json_object();
	for (int i = 0; c && i < 3; i++) {
		int complete = r->start_ms && t >= r->start_ms + w[i].ms;
		json_t *o = json_pack("{s:I,s:f,s:b}", "delivered", (json_int_t)v[i], "percent",
		                      pct(v[i], r->recipients), "complete", complete);
		if (!o || json_object_set_new(c, w[i].k, o)) {
			json_decref(c);
			return NULL;
		}
	}
	return c;
}

static json_t *failures_json(const struct journal_report *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < r->failed_codes; i++) {
		int32_t code = r->failed_by_code[i].code;
		json_t *o = json_pack("{s:i,s:I,s:s,s:s}", "code", (int)code, "count",
		                      (json_int_t)r->failed_by_code[i].count, "reason",
		                      code_reason(code), "class", code_class(code));
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	if (a && r->failed_other) {
		json_t *o = json_pack("{s:n,s:I,s:s,s:s}", "code", "count",
		                      (json_int_t)r->failed_other, "reason",
		                      "other codes (more distinct codes than the report keeps)",
		                      "class", "recipient");
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int set(json_t *o, const char *k, json_t *v)
{
	return v ? json_object_set_new(o, k, v) : -1;
}

/* The fields shared by the list and the detail view. */
static json_t *notice_summary(const struct notice *n, const struct journal_report *r,
                              const struct live *lv)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	uint64_t settled = r->recipients >= r->remaining ? r->recipients - r->remaining : 0;
	double rate = lv->has_rate_now ? lv->rate_now : r->rate_per_s;
	json_t *eta = json_null();
	if (r->state == NOTICE_RUNNING && r->remaining == 0)
		eta = json_real(0.0);
	else if (r->state == NOTICE_RUNNING && rate > 0.0)
		eta = real2((double)r->remaining / rate);
	if (set(o, "id", json_string(n->id)) ||
	    set(o, "category", json_string(notice_category_name(n->category))) ||
	    set(o, "priority", json_integer(notice_priority(n->category))) ||
	    set(o, "state", json_string(notice_state_name(r->state))) ||
	    set(o, "created", time_or_null(n->created_ms)) ||
	    set(o, "expires", time_or_null(n->expires_ms)) ||
	    set(o, "recipients", json_integer(r->recipients)) ||
	    set(o, "accepted", json_integer((json_int_t)r->accepted)) ||
	    set(o, "failed", json_integer((json_int_t)r->failed)) ||
	    set(o, "delivered", json_integer((json_int_t)r->delivered)) ||
	    set(o, "remaining", json_integer((json_int_t)r->remaining)) ||
	    set(o, "progress_pct", json_real(pct(settled, r->recipients))) ||
	    set(o, "rate_per_s", real2(r->rate_per_s)) ||
	    set(o, "rate_now_per_s", lv->has_rate_now ? real2(lv->rate_now) : json_null()) ||
	    set(o, "eta_s", eta)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *notice_detail(const struct notice *n, const struct journal_report *r,
                             const struct live *lv, uint64_t t)
{
	json_t *o = journal_report_json(r);
	json_t *s = notice_summary(n, r, lv);
	json_t *tpl = NULL;
	if (!o || !s)
		goto fail;
	if (json_object_update(o, s))
		goto fail;
	json_decref(s);
	s = NULL;
	if (n->template_name[0]) {
		json_t *params = json_array();
		for (unsigned i = 0; params && i < n->nparams; i++)
			if (json_array_append_new(params, json_stringn(n->params[i], n->param_len[i]))) {
				json_decref(params);
				params = NULL;
			}
		tpl = params ? json_pack("{s:s,s:s,s:o}", "name", n->template_name, "language",
		                         n->lang, "parameters", params)
		             : NULL;
		if (!tpl)
			goto fail;
	} else {
		tpl = json_null();
	}
	uint64_t first = lv->first_dispatch_ms ? lv->first_dispatch_ms : r->start_ms;
	int rc = set(o, "template", tpl);   /* takes tpl, also on failure */
	tpl = NULL;
	if (rc || set(o, "text", json_stringn(n->text, n->text_len)) ||
	    set(o, "created_ms", json_integer((json_int_t)n->created_ms)) ||
	    set(o, "expires_ms", json_integer((json_int_t)n->expires_ms)) ||
	    set(o, "started", time_or_null(r->start_ms)) ||
	    set(o, "ended", time_or_null(r->end_ms)) ||
	    set(o, "first_dispatch_ms", lv->first_dispatch_ms
	                                    ? json_integer((json_int_t)lv->first_dispatch_ms)
	                                    : json_null()) ||
	    set(o, "start_latency_ms",
	        first ? json_integer(first > n->created_ms ? (json_int_t)(first - n->created_ms) : 0)
	              : json_null()) ||
	    set(o, "start_latency_basis",
	        json_string(lv->first_dispatch_ms ? "first_dispatch" : first ? "running" : "none")) ||
	    set(o, "coverage", coverage_json(r, t)) || set(o, "failures", failures_json(r)))
		goto fail;
	return o;
fail:
	json_decref(tpl);
	json_decref(s);
	json_decref(o);
	return NULL;
}

/* ---- POST /v1/notices ------------------------------------------------------------------ */

struct ferr {
	const char *field;
	char msg[256];
};

static int fail_field(struct ferr *fe, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_field(struct ferr *fe, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fe->msg, sizeof fe->msg, fmt, ap);
	va_end(ap);
	fe->field = field;
	return BND_E_INVAL;
}

static int name_ok(const char *s, size_t len, size_t max, int lang)
{
	if (len == 0 || len > max || (lang && len < 2))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = lang ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		              : ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
		if (!ok)
			return 0;
	}
	return 1;
}

/* Code points of valid UTF-8 (jansson guarantees validity). */
static size_t utf8_count(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static const char *const FIELDS[] = { "category", "text", "template", "language", "parameters",
	                              "expiry", "priority", "plain_text", NULL };

/* Fill n from the request body; on a field error fills fe. */
static int parse_notice(struct opapi *api, json_t *root, uint64_t t, struct notice *n,
                        struct ferr *fe)
{
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		int known = 0;
		for (size_t i = 0; FIELDS[i]; i++)
			known |= strcmp(key, FIELDS[i]) == 0;
		if (!known) {
			/* The key itself is caller data: name it only when short,
			 * printable and without a run of 8 digits (it could be a
			 * number); never a value. */
			int printable = strlen(key) <= 32, run = 0;
			for (const char *p = key; printable && *p; p++) {
				printable = *p >= 0x21 && *p <= 0x7e && *p != '"' && *p != '\\';
				run = *p >= '0' && *p <= '9' ? run + 1 : 0;
				printable = printable && run < 8;
			}
			return fail_field(fe, printable ? key : "?",
			                  "unknown field (allowed: category, text, template, language, "
			                  "parameters, expiry, priority, plain_text)");
		}
	}

	json_t *cat = json_object_get(root, "category");
	enum notice_category c;
	if (!cat)
		return fail_field(fe, "category", "is required: one of %s", CATEGORY_CHOICES);
	if (!json_is_string(cat) ||
	    notice_category_parse((const uint8_t *)json_string_value(cat), json_string_length(cat), &c))
		return fail_field(fe, "category", "must be one of %s", CATEGORY_CHOICES);

	json_t *prio = json_object_get(root, "priority");
	if (prio && (!json_is_integer(prio) || json_integer_value(prio) != notice_priority(c)))
		return fail_field(fe, "priority",
		                  "is set by the category: %s has priority %d (emergency 4 > "
		                  "disruption 3 > deadline 2 > info 1 > event 0); omit it or send %d",
		                  notice_category_name(c), notice_priority(c), notice_priority(c));

	const struct config *cfg = api->d.cfg;
	uint64_t expires = 0;
	json_t *exp = json_object_get(root, "expiry");
	if (exp && !json_is_null(exp)) {
		if (!json_is_string(exp) ||
		    opapi_parse_time(json_string_value(exp), json_string_length(exp), t, &expires))
			return fail_field(fe, "expiry", "must be a duration like \"6h\" or \"90m\", or an "
			                  "RFC 3339 time like \"2025-10-12T18:00:00Z\"");
		if (expires <= t)
			return fail_field(fe, "expiry", "must be in the future");
		if (expires - t > EXPIRY_MAX_MS)
			return fail_field(fe, "expiry", "must be within 30 days");
	} else {
		uint64_t ns = cfg->expiry_ns[c - 1];
		expires = ns ? t + ns / 1000000ull : 0;
	}

	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)t ^ (uint32_t)(uintptr_t)n;
	int rc = notice_init(n, c, t, expires, rnd);
	if (rc)
		return fail_field(fe, "expiry", "must be after the creation time");

	json_t *plain = json_object_get(root, "plain_text");
	if (plain && !json_is_boolean(plain))
		return fail_field(fe, "plain_text", "must be true or false");
	int is_plain = plain && json_is_true(plain);

	json_t *tpl = json_object_get(root, "template");
	json_t *lang = json_object_get(root, "language");
	json_t *params = json_object_get(root, "parameters");
	if (tpl && (!json_is_string(tpl) ||
	            !name_ok(json_string_value(tpl), json_string_length(tpl), NOTICE_TEMPLATE_MAX, 0)))
		return fail_field(fe, "template", "must be a template name as approved in WhatsApp "
		                  "Manager: 1 to %d of a-z, 0-9 and _", NOTICE_TEMPLATE_MAX);
	if (lang && (!json_is_string(lang) ||
	             !name_ok(json_string_value(lang), json_string_length(lang), NOTICE_LANG_MAX, 1)))
		return fail_field(fe, "language", "must be a language code like \"it\" or \"en_US\" "
		                  "(2 to %d letters or _)", NOTICE_LANG_MAX);
	if (params && !json_is_array(params))
		return fail_field(fe, "parameters", "must be an array of strings");
	if (params && !tpl)
		return fail_field(fe, "parameters", "needs \"template\": parameters fill an approved "
		                  "template's placeholders");
	if (is_plain && (tpl || lang || params))
		return fail_field(fe, "plain_text", "cannot be combined with template, language or "
		                  "parameters");
	size_t np = params ? json_array_size(params) : 0;
	if (np > NOTICE_PARAMS_MAX)
		return fail_field(fe, "parameters", "must have at most %d entries", NOTICE_PARAMS_MAX);

	json_t *text = json_object_get(root, "text");
	if (text && !json_is_string(text))
		return fail_field(fe, "text", "must be a string");
	if (!text && np == 0)
		return fail_field(fe, "text", "is required (or give template and parameters)");
	if (text) {
		size_t len = json_string_length(text);
		size_t chars = utf8_count(json_string_value(text), len);
		if (chars == 0 || chars > NOTICE_TEXT_MAX_CHARS ||
		    notice_set_text(n, (const uint8_t *)json_string_value(text), len))
			return fail_field(fe, "text", "must be 1 to %d characters of text",
			                  NOTICE_TEXT_MAX_CHARS);
	}

	if (!is_plain) {
		const char *name = tpl ? json_string_value(tpl) : cfg->notice_template;
		const char *lc = lang ? json_string_value(lang) : cfg->notice_lang;
		if (notice_set_template(n, name, lc))
			return fail_field(fe, tpl ? "template" : "language", "is not usable");
	}
	char joined[NOTICE_TEXT_MAX + 1];
	size_t jl = 0;
	for (size_t i = 0; i < np; i++) {
		json_t *p = json_array_get(params, i);
		if (!json_is_string(p) || json_string_length(p) == 0 ||
		    json_string_length(p) > NOTICE_PARAM_MAX ||
		    notice_add_param(n, (const uint8_t *)json_string_value(p), json_string_length(p)))
			return fail_field(fe, "parameters", "entry %zu must be a non-empty string of at "
			                  "most %d bytes", i, NOTICE_PARAM_MAX);
		/* Without a text, the notice's text (what reports show) is the
		 * parameters, one per line. */
		size_t l = json_string_length(p);
		if (!text && jl + l + 1 < sizeof joined) {
			if (jl)
				joined[jl++] = '\n';
			memcpy(joined + jl, json_string_value(p), l);
			jl += l;
		}
	}
	if (!text && notice_set_text(n, (const uint8_t *)joined, jl))
		return fail_field(fe, "text", "is required: the parameters do not make a valid text");
	return 0;
}

/* Idempotency-Key: returns -1 (no key), an index to settle later, or -2
 * after answering (a repeat, or a key in progress). */
static int idem_begin(struct opapi *api, struct httpd_req *req)
{
	size_t kl = 0;
	const char *key = httpd_req_header(req, "Idempotency-Key", &kl);
	if (!key)
		return -1;
	if (kl == 0 || kl > IDEM_KEY_MAX) {
		reply_error(api, req, 400, "invalid_field", "Idempotency-Key",
		            "must be 1 to %d bytes", IDEM_KEY_MAX);
		return -2;
	}
	char id[NOTICE_ID_SIZE] = "";
	int found = -1;
	pthread_mutex_lock(&api->mu);
	for (int i = 0; i < IDEM_MAX; i++)
		if (api->idem[i].used && strcmp(api->idem[i].key, key) == 0) {
			found = i;
			snprintf(id, sizeof id, "%s", api->idem[i].id);
		}
	int slot = -1;
	if (found < 0) {
		slot = (int)(api->idem_next++ % IDEM_MAX);
		api->idem[slot].used = 1;
		snprintf(api->idem[slot].key, sizeof api->idem[slot].key, "%s", key);
		api->idem[slot].id[0] = '\0';
	}
	pthread_mutex_unlock(&api->mu);
	if (found < 0)
		return slot;
	if (!id[0]) {
		reply_error(api, req, 409, "in_progress", "Idempotency-Key",
		            "a request with this key is still being processed");
		return -2;
	}
	char loc[64];
	snprintf(loc, sizeof loc, "/v1/notices/%s", id);
	httpd_req_set_header(req, "Location", loc);
	reply_json(api, req, 200, json_pack("{s:s,s:b}", "id", id, "duplicate", 1));
	return -2;
}

/* Settle (id given: remember it) or forget (id NULL) an idempotency slot. */
static void idem_end(struct opapi *api, int slot, const char *id)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&api->mu);
	if (id)
		snprintf(api->idem[slot].id, sizeof api->idem[slot].id, "%s", id);
	else
		api->idem[slot].used = 0;
	pthread_mutex_unlock(&api->mu);
}

static void pend_unlink(struct pend **head, struct pend *p)
{
	for (struct pend **pp = head; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

/*
 * Take p off the pending list for answering: returns its request, or NULL
 * when shutdown answered it already (then p is freed here).
 */
static struct httpd_req *pend_take(struct pend *p)
{
	struct opapi *api = p->api;
	pthread_mutex_lock(&api->mu);
	struct httpd_req *req = p->req;
	if (req)
		pend_unlink(&api->pending, p);
	else
		pend_unlink(&api->orphans, p);
	pthread_mutex_unlock(&api->mu);
	if (!req)
		bnd_free(p);
	return req;
}

/* Call the sender unless shutting down (then BND_E_CLOSED). */
static int sender_call(struct opapi *api, int cancel, const char *id, opapi_done_fn done,
                       void *ud)
{
	pthread_rwlock_rdlock(&api->slock);
	int rc = BND_E_CLOSED;
	if (!atomic_load(&api->closing))
		rc = cancel ? api->d.sender.post_cancel(api->d.sender.ctx, id, done, ud)
		            : api->d.sender.post_add(api->d.sender.ctx, id, done, ud);
	pthread_rwlock_unlock(&api->slock);
	return rc;
}

static void on_added(void *ud, int rc)
{
	struct pend *p = ud;
	struct opapi *api = p->api;
	int idem = p->idem;
	cache_forget(api, p->id);
	struct httpd_req *req = pend_take(p);
	if (!req) {
		idem_end(api, idem, NULL);   /* never answered with an id (p is freed) */
		return;
	}
	if (rc == 0) {
		char loc[64], cb[OPAPI_TIME_MAX], eb[OPAPI_TIME_MAX];
		snprintf(loc, sizeof loc, "/v1/notices/%s", p->id);
		httpd_req_set_header(req, "Location", loc);
		idem_end(api, p->idem, p->id);
		reply_json(api, req, 202,
		           json_pack("{s:s,s:s,s:s,s:i,s:I,s:s,s:o,s:s}", "id", p->id, "state", "running",
		                     "category", notice_category_name(p->category), "priority",
		                     notice_priority(p->category), "recipients",
		                     (json_int_t)p->recipients, "created",
		                     opapi_format_time(p->created_ms, cb, sizeof cb), "expires",
		                     p->expires_ms ? json_string(opapi_format_time(p->expires_ms, eb,
		                                                                   sizeof eb))
		                                   : json_null(),
		                     "self", loc));
		bnd_log(BND_LOG_INFO, MOD, "notice %s (%s) handed to the sender: %" PRIu32
		        " recipients", p->id, notice_category_name(p->category), p->recipients);
	} else {
		/* The notice exists on disk (queued) but is not sending. */
		idem_end(api, p->idem, p->id);
		int busy = rc == BND_E_RANGE;
		bnd_log(BND_LOG_ERROR, MOD, "notice %s created but the sender refused it: %s", p->id,
		        bnd_strerror(rc));
		json_t *e = json_pack("{s:s,s:s,s:s}", "code", busy ? "sender_busy" : "sender_error",
		                      "message", busy ? "created but not started: the sender runs "
		                      "its maximum of notices at once; it stays queued (cancel it, "
		                      "or wait for others to end and restart the service)"
		                      : "created but not started: the sender refused it; it stays queued",
		                      "id", p->id);
		if (e)
			json_object_set_new(e, "detail", json_string(bnd_strerror(rc)));
		reply_json(api, req, busy ? 503 : 500, e ? json_pack("{s:o}", "error", e) : NULL);
	}
	bnd_free(p);
}

static void notices_post(struct opapi *api, struct httpd_req *req)
{
	struct notice *n = NULL;
	uint64_t *numbers = NULL;
	json_t *root = NULL;
	struct pend *p = NULL;
	int slot = idem_begin(api, req);
	if (slot == -2)
		return;

	size_t len = 0;
	const uint8_t *body = httpd_req_body(req, &len);
	json_error_t jerr;
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_t *e = json_pack("{s:s,s:s}", "code", "bad_json", "message",
		                      root ? "the body must be a JSON object" : "the body is not valid JSON");
		if (e && !root) {
			json_object_set_new(e, "line", json_integer(jerr.line));
			json_object_set_new(e, "column", json_integer(jerr.column));
		}
		reply_json(api, req, 400, e ? json_pack("{s:o}", "error", e) : NULL);
		goto fail;
	}
	n = bnd_malloc(sizeof *n);
	if (!n) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		goto fail;
	}
	uint64_t t = now_ms(api);
	struct ferr fe = { 0 };
	if (parse_notice(api, root, t, n, &fe)) {
		reply_error(api, req, 400, "invalid_field", fe.field, "%s", fe.msg);
		goto fail;
	}

	size_t count = 0;
	int rc = store_confirmed_snapshot(api->d.store, &numbers, &count);
	if (rc) {
		reply_error(api, req, 500, "internal", NULL, "cannot read the subscribers: %s",
		            bnd_strerror(rc));
		goto fail;
	}
	for (int tries = 0;; tries++) {
		rc = notice_create(api->data, n, numbers, count, 0);
		if (rc != BND_E_EXISTS || tries >= CREATE_TRIES)
			break;
		uint32_t rnd = 0;
		if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
			rnd = (uint32_t)tries * 40503u + 1u;
		notice_id_make(n->created_ms, rnd, n->id);
	}
	bnd_free(numbers);
	numbers = NULL;
	if (rc) {
		bnd_log(BND_LOG_ERROR, MOD, "cannot create a notice: %s", bnd_strerror(rc));
		reply_error(api, req, 500, "internal", NULL, "cannot create the notice: %s",
		            bnd_strerror(rc));
		goto fail;
	}
	bnd_log(BND_LOG_INFO, MOD, "notice %s created by the operator API: category=%s "
	        "recipients=%zu", n->id, notice_category_name(n->category), count);
	mark_ours(api, n->id);

	p = bnd_calloc(1, sizeof *p);
	if (!p) {
		reply_error(api, req, 500, "internal", NULL, "out of memory (notice %s stays queued)",
		            n->id);
		goto fail;
	}
	p->api = api;
	p->req = req;
	p->kind = PEND_CREATE;
	p->idem = slot;
	memcpy(p->id, n->id, sizeof p->id);
	p->category = n->category;
	p->created_ms = n->created_ms;
	p->expires_ms = n->expires_ms;
	p->recipients = (uint32_t)count;
	pthread_mutex_lock(&api->mu);
	p->next = api->pending;
	api->pending = p;
	pthread_mutex_unlock(&api->mu);
	rc = sender_call(api, 0, p->id, on_added, p);
	if (rc) {
		/* done never runs: answer here, unless a shutdown did. */
		if (pend_take(p)) {
			reply_error(api, req, 500, "sender_error", NULL,
			            "notice %s created but not started: %s; it stays queued", p->id,
			            bnd_strerror(rc));
			bnd_free(p);
		}
		idem_end(api, slot, n->id);
		p = NULL;
		slot = -1;
		goto fail;
	}
	slot = -1;   /* on_added settles it */
fail:
	idem_end(api, slot, NULL);
	json_decref(root);
	bnd_free(numbers);
	bnd_free(n);
}

/* ---- GET /v1/notices ---------------------------------------------------------------- */

static void notices_list(struct opapi *api, struct httpd_req *req)
{
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t nids = 0;
	struct notice *n = NULL;
	json_t *arr = NULL;

	const char *sq = httpd_req_query(req, "state", NULL);
	const char *cq = httpd_req_query(req, "category", NULL);
	const char *lq = httpd_req_query(req, "limit", NULL);
	int want_state = -1;
	enum notice_category want_cat = 0;
	long limit = LIST_LIMIT_DEFAULT;
	if (sq) {
		for (int s = 0; s < NOTICE_STATE_COUNT; s++)
			if (strcmp(sq, notice_state_name((enum notice_state)s)) == 0)
				want_state = s;
		if (want_state < 0) {
			reply_error(api, req, 400, "invalid_field", "state", "must be one of queued|running|"
			            "paused|done|cancelled|expired|stopped");
			return;
		}
	}
	if (cq && notice_category_parse((const uint8_t *)cq, strlen(cq), &want_cat)) {
		reply_error(api, req, 400, "invalid_field", "category", "must be one of %s",
		            CATEGORY_CHOICES);
		return;
	}
	if (lq) {
		char *end = NULL;
		errno = 0;
		limit = strtol(lq, &end, 10);
		if (errno || !end || *end || end == lq || limit < 1 || limit > LIST_LIMIT_MAX) {
			reply_error(api, req, 400, "invalid_field", "limit", "must be an integer from 1 "
			            "to %d", LIST_LIMIT_MAX);
			return;
		}
	}

	int rc = notice_list(api->data, &ids, &nids);
	if (rc) {
		reply_error(api, req, 500, "internal", NULL, "cannot list the notices: %s",
		            bnd_strerror(rc));
		goto out;
	}
	n = bnd_malloc(sizeof *n);
	arr = json_array();
	if (!n || !arr) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		goto out;
	}
	uint64_t t = now_ms(api);
	size_t total = 0;
	for (size_t k = nids; k-- > 0 && (long)json_array_size(arr) < limit;) {
		struct journal_report r;
		struct live lv;
		if (notice_load(api->data, ids[k], n) != 0)
			continue;   /* damaged or being removed: GET {id} says why */
		if (cq && n->category != want_cat)
			continue;
		if (get_report(api, ids[k], t, &r, &lv) != 0)
			continue;
		if (want_state >= 0 && (int)r.state != want_state)
			continue;
		total++;
		json_t *o = notice_summary(n, &r, &lv);
		if (!o || json_array_append_new(arr, o)) {
			reply_error(api, req, 500, "internal", NULL, "out of memory");
			goto out;
		}
	}
	json_t *res = json_pack("{s:o,s:I}", "notices", arr, "count", (json_int_t)total);
	arr = NULL;
	reply_json(api, req, 200, res);
out:
	json_decref(arr);
	bnd_free(n);
	bnd_free(ids);
}

/* ---- GET /v1/notices/{id}, POST /v1/notices/{id}/cancel ------------------------------ */

/* Load notice id into n, answering 404/500 on failure. Returns 0 or -1. */
static int load_or_reply(struct opapi *api, struct httpd_req *req, const char *id,
                         struct notice *n)
{
	int rc = notice_load(api->data, id, n);
	if (rc == BND_E_NOTFOUND || rc == BND_E_NOTICE_ID) {
		reply_error(api, req, 404, "not_found", NULL, "no such notice");
		return -1;
	}
	if (rc) {
		reply_error(api, req, 500, "damaged", NULL, "notice %s cannot be read: %s", id,
		            bnd_strerror(rc));
		return -1;
	}
	return 0;
}

static void notice_get(struct opapi *api, struct httpd_req *req, const char *id)
{
	struct notice *n = bnd_malloc(sizeof *n);
	if (!n) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		return;
	}
	if (load_or_reply(api, req, id, n) == 0) {
		uint64_t t = now_ms(api);
		struct journal_report r;
		struct live lv;
		int rc = get_report(api, id, t, &r, &lv);
		if (rc)
			reply_error(api, req, 500, "damaged", NULL, "the journal of notice %s cannot "
			            "be read: %s", id, bnd_strerror(rc));
		else
			reply_json(api, req, 200, notice_detail(n, &r, &lv, t));
	}
	bnd_free(n);
}

static void on_cancelled(void *ud, int rc)
{
	struct pend *p = ud;
	struct opapi *api = p->api;
	cache_forget(api, p->id);
	struct httpd_req *req = pend_take(p);
	if (!req)
		return;
	if (rc == 0) {
		bnd_log(BND_LOG_INFO, MOD, "notice %s cancelled by the operator API", p->id);
		reply_json(api, req, 200, json_pack("{s:s,s:s}", "id", p->id, "state", "cancelled"));
	} else if (rc == BND_E_CLOSED || rc == BND_E_NOTFOUND) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s is not running any more "
		            "(it ended meanwhile): GET it for its state", p->id);
	} else {
		reply_error(api, req, 500, "sender_error", NULL, "cancel failed: %s", bnd_strerror(rc));
	}
	bnd_free(p);
}

/* Cancel on disk a notice the sender does not hold. Returns 0, BND_E_LOCKED
 * (someone holds its journal: the sender), or another code. */
static int cancel_offline(struct opapi *api, const char *id, uint64_t t)
{
	struct journal *j = NULL;
	int rc = journal_open_notice(&j, api->data, id, NULL, NULL, NULL);
	if (rc)
		return rc;
	enum notice_state st;
	journal_state(j, &st, NULL, NULL);
	if (notice_state_terminal(st))
		rc = BND_E_JOURNAL_STATE;
	else
		rc = journal_set_state(j, NOTICE_CANCELLED, NOTICE_REASON_OPERATOR, 0, t, NULL);
	if (rc == 0)
		rc = journal_commit(j);
	int crc = journal_close(&j);
	return rc ? rc : crc;
}

static void notice_cancel(struct opapi *api, struct httpd_req *req, const char *id)
{
	size_t blen = 0;
	const uint8_t *body = httpd_req_body(req, &blen);
	if (blen) {
		json_t *o = json_loadb((const char *)body, blen, 0, NULL);
		int ok = o && json_is_object(o) && json_object_size(o) == 0;
		json_decref(o);
		if (!ok) {
			reply_error(api, req, 400, "bad_json", NULL, "the body must be empty or {}");
			return;
		}
	}
	struct notice *n = bnd_malloc(sizeof *n);
	if (!n) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		return;
	}
	if (load_or_reply(api, req, id, n)) {
		bnd_free(n);
		return;
	}
	bnd_free(n);
	uint64_t t = now_ms(api);
	struct journal_report r;
	struct live lv;
	int rc = get_report(api, id, t, &r, &lv);
	if (rc) {
		reply_error(api, req, 500, "damaged", NULL, "the journal of notice %s cannot be read: %s",
		            id, bnd_strerror(rc));
		return;
	}
	if (notice_state_terminal(r.state)) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s is %s already", id,
		            notice_state_name(r.state));
		return;
	}
	rc = cancel_offline(api, id, t);
	cache_forget(api, id);
	if (rc == 0) {
		bnd_log(BND_LOG_INFO, MOD, "notice %s (%s, not sending) cancelled by the operator API",
		        id, notice_state_name(r.state));
		reply_json(api, req, 200, json_pack("{s:s,s:s}", "id", id, "state", "cancelled"));
		return;
	}
	if (rc == BND_E_JOURNAL_STATE) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s has ended already", id);
		return;
	}
	if (rc != BND_E_LOCKED) {
		reply_error(api, req, 500, "internal", NULL, "cannot cancel notice %s: %s", id,
		            bnd_strerror(rc));
		return;
	}
	struct pend *p = bnd_calloc(1, sizeof *p);
	if (!p) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		return;
	}
	p->api = api;
	p->req = req;
	p->kind = PEND_CANCEL;
	p->idem = -1;
	snprintf(p->id, sizeof p->id, "%s", id);
	pthread_mutex_lock(&api->mu);
	p->next = api->pending;
	api->pending = p;
	pthread_mutex_unlock(&api->mu);
	rc = sender_call(api, 1, p->id, on_cancelled, p);
	if (rc && pend_take(p)) {
		reply_error(api, req, 500, "sender_error", NULL, "cancel failed: %s", bnd_strerror(rc));
		bnd_free(p);
	}
}

static void on_resumed(void *ud, int rc)
{
	struct pend *p = ud;
	struct opapi *api = p->api;
	cache_forget(api, p->id);
	struct httpd_req *req = pend_take(p);
	if (!req)
		return;
	if (rc == 0) {
		bnd_log(BND_LOG_INFO, MOD, "notice %s resumed by the operator API", p->id);
		reply_json(api, req, 200, json_pack("{s:s,s:s}", "id", p->id, "state", "running"));
	} else if (rc == BND_E_EXISTS) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s is running already", p->id);
	} else if (rc == BND_E_CLOSED) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s has ended", p->id);
	} else if (rc == BND_E_LOCKED) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s is held by another process "
		            "(a banditore send or resume)", p->id);
	} else if (rc == BND_E_RANGE) {
		reply_error(api, req, 503, "sender_busy", NULL, "the sender runs its maximum of "
		            "notices at once; resume %s when one ends", p->id);
	} else {
		reply_error(api, req, 500, "sender_error", NULL, "resume failed: %s", bnd_strerror(rc));
	}
	bnd_free(p);
}

/* POST /v1/notices/{id}/resume: hand a paused, stopped, queued or (after a
 * crash) still "running" notice to the sender again; it continues from its
 * journal (no recipient skipped, none messaged twice but the uncertain). */
static void notice_resume(struct opapi *api, struct httpd_req *req, const char *id)
{
	size_t blen = 0;
	const uint8_t *body = httpd_req_body(req, &blen);
	if (blen) {
		json_t *o = json_loadb((const char *)body, blen, 0, NULL);
		int ok = o && json_is_object(o) && json_object_size(o) == 0;
		json_decref(o);
		if (!ok) {
			reply_error(api, req, 400, "bad_json", NULL, "the body must be empty or {}");
			return;
		}
	}
	struct notice *n = bnd_malloc(sizeof *n);
	if (!n) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		return;
	}
	int lrc = load_or_reply(api, req, id, n);
	bnd_free(n);
	if (lrc)
		return;
	struct journal_report r;
	struct live lv;
	int rc = get_report(api, id, now_ms(api), &r, &lv);
	if (rc) {
		reply_error(api, req, 500, "damaged", NULL, "the journal of notice %s cannot be read: %s",
		            id, bnd_strerror(rc));
		return;
	}
	if (notice_state_terminal(r.state)) {
		reply_error(api, req, 409, "conflict", NULL, "notice %s is %s: nothing to resume", id,
		            notice_state_name(r.state));
		return;
	}
	struct pend *p = bnd_calloc(1, sizeof *p);
	if (!p) {
		reply_error(api, req, 500, "internal", NULL, "out of memory");
		return;
	}
	p->api = api;
	p->req = req;
	p->kind = PEND_RESUME;
	p->idem = -1;
	snprintf(p->id, sizeof p->id, "%s", id);
	pthread_mutex_lock(&api->mu);
	p->next = api->pending;
	api->pending = p;
	pthread_mutex_unlock(&api->mu);
	rc = sender_call(api, 0, p->id, on_resumed, p);
	if (rc && pend_take(p)) {
		reply_error(api, req, rc == BND_E_CLOSED ? 503 : 500, "sender_error", NULL,
		            "resume failed: %s", bnd_strerror(rc));
		bnd_free(p);
	}
}

/* ---- handlers ------------------------------------------------------------------------- */

static void h_notices(struct httpd_req *req, void *ud)
{
	struct opapi *api = ud;
	if (!gate(api, req))
		return;
	if (method_is(req, "GET"))
		notices_list(api, req);
	else if (method_is(req, "POST"))
		notices_post(api, req);
	else
		reply_method(api, req, "GET, POST");
}

static void h_notice(struct httpd_req *req, void *ud)
{
	struct opapi *api = ud;
	if (!gate(api, req))
		return;
	const char *rest = httpd_req_path(req) + strlen("/v1/notices/");
	const char *slash = strchr(rest, '/');
	size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!notice_id_valid((const uint8_t *)rest, idlen) ||
	    (slash && strcmp(slash, "/cancel") != 0 && strcmp(slash, "/resume") != 0)) {
		reply_error(api, req, 404, "not_found", NULL, "no such resource");
		return;
	}
	char id[NOTICE_ID_SIZE];
	memcpy(id, rest, idlen);
	id[idlen] = '\0';
	if (!slash) {
		if (method_is(req, "GET"))
			notice_get(api, req, id);
		else
			reply_method(api, req, "GET");
	} else if (method_is(req, "POST")) {
		if (strcmp(slash, "/cancel") == 0)
			notice_cancel(api, req, id);
		else
			notice_resume(api, req, id);
	} else {
		reply_method(api, req, "POST");
	}
}

static void h_subscribers(struct httpd_req *req, void *ud)
{
	struct opapi *api = ud;
	if (!gate(api, req))
		return;
	if (!method_is(req, "GET")) {
		reply_method(api, req, "GET");
		return;
	}
	struct store_counts c;
	store_count(api->d.store, &c);
	reply_json(api, req, 200,
	           json_pack("{s:I,s:I,s:I,s:I}", "requested",
	                     (json_int_t)c.by_state[SUB_REQUESTED], "confirmed",
	                     (json_int_t)c.by_state[SUB_CONFIRMED], "unsubscribed",
	                     (json_int_t)c.by_state[SUB_UNSUBSCRIBED], "invalid",
	                     (json_int_t)c.by_state[SUB_INVALID]));
}

static void h_other(struct httpd_req *req, void *ud)
{
	struct opapi *api = ud;
	if (!gate(api, req))
		return;
	reply_error(api, req, 404, "not_found", NULL, "no such resource");
}

/* ---- life cycle -------------------------------------------------------------------------- */

int opapi_open(struct opapi **out, const struct opapi_deps *deps)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!deps || !deps->cfg || !(deps->data_dir || deps->cfg->data) || !deps->store ||
	    !deps->wall_ms ||
	    !deps->sender.post_add || !deps->sender.post_cancel)
		return BND_E_INVAL;
	struct opapi *api = bnd_calloc(1, sizeof *api);
	if (!api)
		return BND_E_NOMEM;
	api->d = *deps;
	api->data = deps->data_dir ? deps->data_dir : deps->cfg->data;
	if (deps->cfg->admin_token && deps->cfg->admin_token[0]) {
		api->token = (const uint8_t *)deps->cfg->admin_token;
		api->token_len = strlen(deps->cfg->admin_token);
	} else {
		bnd_log(BND_LOG_WARN, MOD, "operator API disabled: BANDITORE_ADMIN_TOKEN is not set "
		        "(every /v1/ request answers 503)");
	}
	pthread_mutex_init(&api->mu, NULL);
	pthread_mutex_init(&api->cmu, NULL);
	pthread_mutex_init(&api->lmu, NULL);
	pthread_rwlock_init(&api->slock, NULL);
	*out = api;
	return 0;
}

int opapi_register(struct opapi *api, struct httpd *h)
{
	if (!api || !h)
		return BND_E_INVAL;
	size_t max = api->d.cfg->api_max_body_bytes ? (size_t)api->d.cfg->api_max_body_bytes : 0;
	/* Every method goes to the handlers, which check the token first and
	 * then answer 405 (JSON, with Allow) for the methods they do not take. */
	const unsigned any = HTTPD_GET | HTTPD_POST | HTTPD_PUT | HTTPD_DELETE | HTTPD_PATCH;
	int rc = httpd_route(h, any, "/v1/notices", max, h_notices, api);
	if (!rc)
		rc = httpd_route(h, any | HTTPD_PREFIX, "/v1/notices/", max, h_notice, api);
	if (!rc)
		rc = httpd_route(h, any, "/v1/subscribers", max, h_subscribers, api);
	if (!rc)
		rc = httpd_route(h, any | HTTPD_PREFIX, "/v1/", max, h_other, api);
	return rc;
}

void opapi_shutdown(struct opapi *api)
{
	if (!api)
		return;
	atomic_store(&api->closing, 1);
	/* Wait for sender calls in progress; none can start after this. */
	pthread_rwlock_wrlock(&api->slock);
	pthread_rwlock_unlock(&api->slock);
	pthread_mutex_lock(&api->mu);
	struct pend *p = api->pending;
	api->pending = NULL;
	struct httpd_req *reqs[64];
	for (;;) {
		size_t n = 0;
		while (p && n < 64) {
			struct pend *next = p->next;
			reqs[n++] = p->req;
			p->req = NULL;
			p->next = api->orphans;
			api->orphans = p;
			p = next;
		}
		/* Answering outside the lock: httpd_respond may take a while. */
		pthread_mutex_unlock(&api->mu);
		for (size_t i = 0; i < n; i++) {
			httpd_req_set_header(reqs[i], "Retry-After", "5");
			reply_error(api, reqs[i], 503, "shutting_down", NULL,
			            "the service is shutting down; the notice's state is on disk "
			            "(GET it after the restart)");
		}
		if (!p)
			break;
		pthread_mutex_lock(&api->mu);
	}
}

void opapi_close(struct opapi **pp)
{
	if (!pp || !*pp)
		return;
	struct opapi *api = *pp;
	opapi_shutdown(api);
	while (api->orphans) {
		struct pend *p = api->orphans;
		api->orphans = p->next;
		bnd_free(p);
	}
	pthread_mutex_destroy(&api->mu);
	pthread_mutex_destroy(&api->cmu);
	pthread_mutex_destroy(&api->lmu);
	pthread_rwlock_destroy(&api->slock);
	bnd_free(api);
	*pp = NULL;
}

/* ---- metrics ------------------------------------------------------------------------------ */

int opapi_refresh_metrics(struct opapi *api)
{
	struct metrics_set *m = api ? api->d.metrics : NULL;
	if (!m)
		return 0;
	uint64_t t0 = now_ms(api);
	pthread_mutex_lock(&api->lmu);
	int skip = api->last_refresh_ms && t0 >= api->last_refresh_ms &&
	           t0 - api->last_refresh_ms < REFRESH_EVERY_MS;
	if (!skip)
		api->last_refresh_ms = t0;
	pthread_mutex_unlock(&api->lmu);
	if (skip)
		return 0;
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t nids = 0;
	int rc = notice_list(api->data, &ids, &nids);
	if (rc)
		return rc;
	struct notice *n = bnd_malloc(sizeof *n);
	if (!n) {
		bnd_free(ids);
		return BND_E_NOMEM;
	}
	int64_t by_state[NOTICE_STATE_COUNT] = { 0 };
	int seen_cat[METRICS_CATEGORIES] = { 0 };
	uint64_t t = now_ms(api);
	for (size_t k = nids; k-- > 0;) {
		struct journal_report r;
		struct live lv;
		if (get_report(api, ids[k], t, &r, &lv) != 0)
			continue;
		if ((unsigned)r.state < NOTICE_STATE_COUNT)
			by_state[r.state]++;
		/* The category and creation time, from the cache or notice.json. */
		pthread_mutex_lock(&api->cmu);
		struct centry *e = cache_find(api, ids[k]);
		int has_def = e && e->has_def;
		enum notice_category cat = has_def ? e->cat : 0;
		uint64_t created = has_def ? e->created_ms : 0;
		pthread_mutex_unlock(&api->cmu);
		if (!has_def) {
			if (notice_load(api->data, ids[k], n) != 0)
				continue;
			cat = n->category;
			created = n->created_ms;
			pthread_mutex_lock(&api->cmu);
			e = cache_slot(api, ids[k]);
			e->has_def = 1;
			e->cat = cat;
			e->created_ms = created;
			pthread_mutex_unlock(&api->cmu);
		}
		unsigned ci = (unsigned)cat - 1;
		if (ci >= METRICS_CATEGORIES)
			continue;
		/* Start latency: once per notice created through this API. */
		uint64_t first = lv.first_dispatch_ms ? lv.first_dispatch_ms : r.start_ms;
		int observe = 0;
		pthread_mutex_lock(&api->cmu);
		e = cache_find(api, ids[k]);
		if (e && e->ours && !e->start_observed && first) {
			e->start_observed = 1;
			observe = 1;
		}
		pthread_mutex_unlock(&api->cmu);
		if (observe)
			metrics_histogram_observe(m->notice_start[ci],
			                          first > created ? (first - created) * 1000000ull : 0);
		if (seen_cat[ci])
			continue;
		seen_cat[ci] = 1;   /* ids sort by creation: the first seen is the latest */
		metrics_gauge_set(m->notice_recipients[ci], r.recipients);
		metrics_gauge_set(m->notice_accepted[ci], (int64_t)r.accepted);
		metrics_gauge_set(m->notice_failed[ci], (int64_t)r.failed);
		metrics_gauge_set(m->notice_delivered[ci], (int64_t)r.delivered);
		metrics_gauge_set(m->notice_remaining[ci], (int64_t)r.remaining);
	}
	for (int s = 0; s < NOTICE_STATE_COUNT; s++)
		metrics_gauge_set(m->notices[s], by_state[s]);
	bnd_free(n);
	bnd_free(ids);
	return 0;
}
