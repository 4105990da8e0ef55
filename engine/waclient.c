/*
 * waclient.c - Cloud API client: a window of request slots, each with a
 * reusable curl easy handle, driven by the loop's multi handle.
 *
 * Life of a request: waclient_send takes a free slot, builds the JSON into
 * the slot's buffer (wareq), points CURLOPT_POSTFIELDS at it and adds the
 * handle (loop_xfer_add). curl reuses a cached keep-alive connection when
 * one is idle (CURLMOPT_MAX_HOST_CONNECTIONS bounds them; a request beyond
 * that waits in curl's pending queue, which the window keeps short). The
 * header callback catches Retry-After and Date; the write callback collects
 * the body (bounded). On completion (on_done) the result is classified
 * (waerr), the slot goes back to the free list, and only then the caller's
 * callback runs, so it can send again at once.
 *
 * Easy handles are created lazily on a slot's first use and kept until
 * close: curl keeps per-handle state (buffers, DNS cache entry) that is
 * worth reusing, and connections live in the multi's cache anyway.
 * Every handle gets CURLOPT_NOSIGNAL (else curl calls sigaction around
 * every transfer: curl #10743) and the loop's socket open/close callbacks.
 * HTTP version: curl's default (HTTP/1.1 on http://, h2 via ALPN on
 * https:// with PIPEWAIT so new requests multiplex). h2c is never asked
 * for: curl 7.88 mishandles it on connection reuse (curl #10634).
 */
#include "waclient.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <stdlib.h>

#include "bnd.h"
#include "h1.h"

#define RESP_MAX 65536u  /* response bodies are ~300 bytes; keep at most this */

struct wa_slot {
	struct loop_xfer x;
	struct h1_req hr;      /* native carrier */
	struct waclient *c;
	CURL *easy;
	void *ud;
	uint64_t sent_ns;
	uint32_t next_free;
	uint8_t busy;
	uint8_t aborting;      /* marked by waclient_abort_all */
	struct wareq_buf req;
	uint8_t *resp;
	size_t resp_len, resp_cap;
	uint8_t resp_oom;      /* native: a body byte could not be kept */
	uint64_t ra_secs;      /* Retry-After in seconds (delta form) */
	int64_t ra_date;       /* Retry-After as an HTTP-date (epoch s), 0 = none */
	char date[40];         /* raw Date header, parsed only when needed */
};

struct waclient {
	struct loop *l;
	waclient_done_fn done;
	char *url;
	struct curl_slist *hdrs;
	uint32_t timeout_ms, connect_timeout_ms;
	unsigned build_flags;
	int https;
	char *ca_file;             /* CAs to trust; NULL = the system's */
	enum waclient_http http;   /* CURL or NATIVE */
	struct h1 *h1;
	struct wa_slot *slots;
	uint32_t window, free_head, inflight;
	struct waclient_stats st;
};

#define NONE UINT32_MAX

static int all_digits(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (s[n] < '0' || s[n] > '9' || n >= max)
			return 0;
	return n > 0;
}

#define USER_AGENT "banditore/0.1"

/* The request headers besides the token, in the native client's form. */
#define NATIVE_HEADERS "Content-Type: application/json\r\nAccept: application/json\r\n" \
                       "User-Agent: " USER_AGENT "\r\n"

/* proxy_set - would libcurl send the request through a proxy? (it reads
 * http_proxy, lower case only, for http://; https_proxy / HTTPS_PROXY for
 * https://; all_proxy / ALL_PROXY for both) */
static int proxy_set(int https)
{
	const char *v[] = { "all_proxy", "ALL_PROXY", https ? "https_proxy" : "http_proxy",
	                    https ? "HTTPS_PROXY" : NULL };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		if (!v[i])
			continue;
		const char *e = getenv(v[i]);
		if (e && *e)
			return 1;
	}
	return 0;
}

static char *dupstr(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bnd_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static int token_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= 4096)
			return 0;
	return n > 0;
}

static int version_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.') || n >= 16)
			return 0;
	}
	return n > 0;
}

static int base_ok(const char *s, int *https)
{
	size_t n = strlen(s);
	if (n > 1024)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	*https = strncasecmp(s, "https://", 8) == 0;
	return *https || (strncasecmp(s, "http://", 7) == 0 && n > 7);
}

static char *join(const char *a, const char *b, const char *c, const char *d, const char *e)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e) + 1;
	char *s = bnd_malloc(n);
	if (s) {
		strcpy(s, a);
		strcat(s, b);
		strcat(s, c);
		strcat(s, d);
		strcat(s, e);
	}
	return s;
}

static void native_header(struct h1_req *r, const char *name, size_t nlen, const char *val,
                          size_t vlen);
static void native_body(struct h1_req *r, const uint8_t *p, size_t n);
static void native_done(struct h1_req *r, enum h1_err err, uint64_t now);

/* wipe - free a string that held the token. */
static void wipe(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		bnd_free(s);
	}
}

static int open_native(struct waclient *c, const char *token, uint32_t conns)
{
	char *hdrs = join("Authorization: Bearer ", token, "\r\n", NATIVE_HEADERS, "");
	if (!hdrs)
		return BND_E_NOMEM;
	struct h1_config hc = {
		.url = c->url,
		.headers = hdrs,
		.connections = conns,
		.timeout_ms = c->timeout_ms,
		.connect_timeout_ms = c->connect_timeout_ms,
		.ca_file = c->ca_file,
		.cb = { native_header, native_body, native_done },
	};
	int rc = h1_open(&c->h1, c->l, &hc);
	wipe(hdrs);
	return rc;
}

static int open_curl(struct waclient *c, const char *token, uint32_t conns)
{
	char *auth = join("Authorization: Bearer ", token, "", "", "");
	if (!auth)
		return BND_E_NOMEM;
	const char *hl[] = { auth, "Content-Type: application/json", "Expect:",
	                     "Accept: application/json" };
	for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
		struct curl_slist *h = curl_slist_append(c->hdrs, hl[i]);
		if (!h) {
			wipe(auth);
			return BND_E_NOMEM;
		}
		c->hdrs = h;
	}
	wipe(auth);
	CURLM *m = loop_multi(c->l);
	if (curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns) ||
	    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns))
		return BND_E_WA_CURL;
	return 0;
}

int waclient_open(struct waclient **out, struct loop *l, const struct waclient_config *cfg)
{
	int rc = BND_E_NOMEM;
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!l || !cfg || !cfg->done || cfg->window > WACLIENT_WINDOW_MAX)
		return BND_E_INVAL;
	const char *base = cfg->api_base ? cfg->api_base : "http://127.0.0.1:8089";
	const char *ver = cfg->version ? cfg->version : "v25.0";
	int https = 0;
	if (!cfg->phone_number_id || !all_digits(cfg->phone_number_id, 64) || !cfg->token ||
	    !token_ok(cfg->token) || !version_ok(ver) || !base_ok(base, &https))
		return BND_E_WA_CONFIG;

	struct waclient *c = bnd_calloc(1, sizeof *c);
	if (!c)
		return BND_E_NOMEM;
	c->l = l;
	c->done = cfg->done;
	c->https = https;
	c->window = cfg->window ? cfg->window : 64;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 15000;
	c->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	c->build_flags = cfg->build_flags;
	c->http = cfg->http;
	if (c->http == WACLIENT_HTTP_AUTO)
		c->http = proxy_set(https) || strchr(base, '@') ? WACLIENT_HTTP_CURL
		                                                : WACLIENT_HTTP_NATIVE;
	if (c->http != WACLIENT_HTTP_CURL && c->http != WACLIENT_HTTP_NATIVE) {
		rc = BND_E_INVAL;
		goto fail;
	}
	const char *ca = cfg->ca_file ? cfg->ca_file : getenv("SSL_CERT_FILE");
	if (ca && *ca && !(c->ca_file = dupstr(ca)))
		goto fail;
	size_t bl = strlen(base);
	const char *sep = bl && base[bl - 1] == '/' ? "" : "/";
	c->url = join(base, sep, ver, "/", cfg->phone_number_id);
	if (!c->url)
		goto fail;
	char *url = join(c->url, "/messages", "", "", "");
	if (!url)
		goto fail;
	bnd_free(c->url);
	c->url = url;

	c->slots = bnd_calloc(c->window, sizeof *c->slots);
	if (!c->slots)
		goto fail;
	for (uint32_t i = 0; i < c->window; i++) {
		c->slots[i].c = c;
		c->slots[i].next_free = i + 1 < c->window ? i + 1 : NONE;
	}
	c->free_head = 0;

	uint32_t conns = cfg->connections ? cfg->connections : 16;
	rc = c->http == WACLIENT_HTTP_NATIVE ? open_native(c, cfg->token, conns)
	                                     : open_curl(c, cfg->token, conns);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	waclient_close(&c);
	return rc;
}

void waclient_close(struct waclient **p)
{
	if (!p || !*p)
		return;
	struct waclient *c = *p;
	*p = NULL;
	for (uint32_t i = 0; c->slots && i < c->window; i++) {
		struct wa_slot *s = &c->slots[i];
		if (s->busy && c->h1)
			h1_cancel(c->h1, &s->hr);
		else if (s->busy)
			loop_xfer_remove(c->l, &s->x);
		if (s->easy)
			curl_easy_cleanup(s->easy);
		wareq_buf_free(&s->req);
		bnd_free(s->resp);
	}
	bnd_free(c->slots);
	h1_close(&c->h1);
	curl_slist_free_all(c->hdrs);  /* holds the token: curl frees it */
	bnd_free(c->url);
	bnd_free(c->ca_file);
	bnd_free(c);
}

/* resp_append - keep up to RESP_MAX body bytes. Returns -1 when out of memory. */
static int resp_append(struct wa_slot *s, const void *ptr, size_t len)
{
	size_t room = RESP_MAX - s->resp_len;
	size_t take = len < room ? len : room;  /* beyond RESP_MAX: dropped */
	if (take && s->resp_len + take > s->resp_cap) {
		size_t cap = s->resp_cap ? s->resp_cap : 1024;
		while (cap < s->resp_len + take)
			cap *= 2;
		uint8_t *r = bnd_realloc(s->resp, cap);
		if (!r)
			return -1;
		s->resp = r;
		s->resp_cap = cap;
	}
	if (take)
		memcpy(s->resp + s->resp_len, ptr, take);
	s->resp_len += take;
	return 0;
}

static size_t on_write(char *ptr, size_t size, size_t n, void *ud)
{
	/* 0 makes curl fail the transfer: CURLE_WRITE_ERROR */
	return resp_append(ud, ptr, size * n) ? 0 : size * n;
}

/* trimmed - copy value v (blanks cut at both ends) as a C string into out. */
static size_t trimmed(const char *v, size_t n, char *out, size_t cap)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(out, v, k);
	out[k] = 0;
	return k;
}

/* note_header - one response header, whichever client read it. */
static void note_header(struct wa_slot *s, const char *name, size_t nlen, const char *val,
                        size_t vlen)
{
	char v[64];
	if (nlen == 11 && strncasecmp(name, "retry-after", 11) == 0) {
		size_t vl = trimmed(val, vlen, v, sizeof v);
		if (vl && v[0] >= '0' && v[0] <= '9') {
			uint64_t x = 0;
			for (size_t i = 0; i < vl && v[i] >= '0' && v[i] <= '9' && x < 100000000; i++)
				x = x * 10 + (uint64_t)(v[i] - '0');
			s->ra_secs = x;
			s->ra_date = 0;
		} else if (vl) {
			time_t t = curl_getdate(v, NULL);
			s->ra_date = t > 0 ? (int64_t)t : 0;
		}
	} else if (nlen == 4 && strncasecmp(name, "date", 4) == 0) {
		/* Every response has one; curl_getdate costs ~11,000 instructions
		 * (sscanf), so keep the text and parse it only for a Retry-After
		 * date. */
		trimmed(val, vlen, s->date, sizeof s->date);
	}
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct wa_slot *s = ud;
	size_t len = size * n;
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the previous one. */
		s->ra_secs = 0;
		s->ra_date = 0;
		s->date[0] = 0;
		s->resp_len = 0;
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (colon && ((buf[0] | 0x20) == 'r' || (buf[0] | 0x20) == 'd'))
		note_header(s, buf, (size_t)(colon - buf), colon + 1, len - (size_t)(colon - buf) - 1);
	return len;
}

static int easy_create(struct waclient *c, struct wa_slot *s)
{
	CURL *e = curl_easy_init();
	if (!e)
		return BND_E_WA_CURL;
	if (loop_easy_setup(c->l, e) ||
	    curl_easy_setopt(e, CURLOPT_URL, c->url) ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs) ||
	    curl_easy_setopt(e, CURLOPT_POST, 1L) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, s) ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, s) ||
	    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT) ||
	    (c->https && curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L)) ||
	    (c->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file))) {
		curl_easy_cleanup(e);
		return BND_E_WA_CURL;
	}
	s->easy = e;
	return 0;
}

static void slot_put(struct waclient *c, struct wa_slot *s)
{
	s->busy = 0;
	s->ud = NULL;
	s->next_free = c->free_head;
	c->free_head = (uint32_t)(s - c->slots);
	c->inflight--;
}

/*
 * finish_result - classify and report one ended request. rc: CURLE_OK for a
 * complete response (status), else the transport failure; sent: request
 * bytes that left (decides uncertain against retry).
 */
static void finish_result(struct wa_slot *s, long status, CURLcode rc, int64_t sent,
                          uint64_t now)
{
	struct waclient *c = s->c;
	char store[WAERR_STORE_MIN];
	struct wa_result r = { .code = WA_CODE_NONE, .subcode = WA_CODE_NONE };
	r.http_status = status;
	r.curl_code = (int)rc;
	r.sent_ns = s->sent_ns;
	if (rc != CURLE_OK) {
		r.outcome = waerr_classify_transport(sent);
	} else {
		struct waerr_parsed p;
		waerr_parse(s->resp, s->resp_len, &p, store, sizeof store);
		r.code = p.code;
		r.subcode = p.subcode;
		r.detail = p.detail;
		r.detail_len = p.detail_len;
		if (p.code != WA_CODE_NONE) {
			const struct waerr_rule *rule = waerr_lookup(p.code);
			r.outcome = rule->outcome;
			r.max_tries = rule->max_tries;
		} else if (status >= 200 && status < 300 && p.wamid) {
			r.outcome = WA_ACCEPTED;
			r.wamid = p.wamid;
			r.wamid_len = p.wamid_len;
			r.msg_status = p.msg_status;
			r.msg_status_len = p.msg_status_len;
		} else {
			r.outcome = waerr_classify_http(status);
		}
		if (s->ra_secs)
			r.retry_after_ns = s->ra_secs * 1000000000ull;
		else if (s->ra_date && s->date[0]) {
			time_t d = curl_getdate(s->date, NULL);
			if (d > 0 && s->ra_date > (int64_t)d)
				r.retry_after_ns = (uint64_t)(s->ra_date - (int64_t)d) * 1000000000ull;
		}
	}
	void *ud = s->ud;
	slot_put(c, s);
	c->st.completed++;
	c->st.by_outcome[r.outcome]++;
	c->done(ud, &r, now);
}

static void finish(struct wa_slot *s, CURL *e, CURLcode rc, uint64_t now)
{
	long status = 0, conns = 0, sent = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK && conns > 0)
		s->c->st.connects += (uint64_t)conns;
	if (rc != CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &sent);
	finish_result(s, status, rc, sent, now);
}

static void on_done(void *ud, CURL *e, CURLcode rc, uint64_t now)
{
	finish(ud, e, rc, now);
}

/* ------------------------------------------------------- native carrier */

static void native_header(struct h1_req *r, const char *name, size_t nlen, const char *val,
                          size_t vlen)
{
	note_header(r->ud, name, nlen, val, vlen);
}

static void native_body(struct h1_req *r, const uint8_t *p, size_t n)
{
	struct wa_slot *s = r->ud;
	if (resp_append(s, p, n))
		s->resp_oom = 1;
}

/* The CURLcode libcurl reports for the same failure, so that reasons read alike. */
static CURLcode native_code(enum h1_err e, const struct h1_req *r)
{
	switch (e) {
	case H1_OK: return CURLE_OK;
	case H1_E_CONNECT: return CURLE_COULDNT_CONNECT;
	case H1_E_CLOSED: return r->received ? CURLE_RECV_ERROR : CURLE_GOT_NOTHING;
	case H1_E_TIMEOUT: return CURLE_OPERATION_TIMEDOUT;
	case H1_E_PROTO: return CURLE_WEIRD_SERVER_REPLY;
	case H1_E_TLS: return CURLE_SSL_CONNECT_ERROR;
	case H1_E_TLS_VERIFY: return CURLE_PEER_FAILED_VERIFICATION;
	}
	return CURLE_RECV_ERROR;
}

static void native_done(struct h1_req *r, enum h1_err err, uint64_t now)
{
	struct wa_slot *s = r->ud;
	CURLcode rc = native_code(err, r);
	if (rc == CURLE_OK && s->resp_oom)
		rc = CURLE_WRITE_ERROR;
	finish_result(s, rc == CURLE_OK ? r->status : 0, rc, (int64_t)r->sent, now);
}

int waclient_send(struct waclient *c, const struct wa_msg *m, void *ud)
{
	if (!c || !m)
		return BND_E_INVAL;
	if (c->free_head == NONE)
		return BND_E_WA_FULL;
	struct wa_slot *s = &c->slots[c->free_head];
	int rc;
	if (!c->h1 && !s->easy && (rc = easy_create(c, s)))
		return rc;
	rc = wareq_build(&s->req, m, c->build_flags);
	if (rc < 0)
		return rc;
	c->st.utf8_replaced += (uint64_t)rc;
	s->resp_len = 0;
	s->resp_oom = 0;
	s->ra_secs = 0;
	s->ra_date = 0;
	s->date[0] = 0;
	s->ud = ud;
	s->sent_ns = loop_now(c->l);
	if (c->h1) {
		s->hr.body = s->req.p;
		s->hr.body_len = s->req.len;
		s->hr.ud = s;
		if ((rc = h1_submit(c->h1, &s->hr, s->sent_ns)))
			return rc;
		goto started;
	}
	if (curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->req.len) ||
	    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (char *)s->req.p))
		return BND_E_WA_CURL;
	rc = loop_xfer_add(c->l, &s->x, s->easy, on_done, s);
	if (rc)
		return rc;
started:
	c->free_head = s->next_free;
	s->busy = 1;
	c->inflight++;
	c->st.sent++;
	return 0;
}

void waclient_abort_all(struct waclient *c, uint64_t now_ns)
{
	/* Mark first: a callback may start new requests, which must survive. */
	for (uint32_t i = 0; i < c->window; i++)
		c->slots[i].aborting = c->slots[i].busy;
	for (uint32_t i = 0; i < c->window; i++) {
		struct wa_slot *s = &c->slots[i];
		if (!s->aborting)
			continue;
		s->aborting = 0;
		if (c->h1) {
			h1_cancel(c->h1, &s->hr);
			finish_result(s, 0, CURLE_ABORTED_BY_CALLBACK, (int64_t)s->hr.sent, now_ns);
			continue;
		}
		loop_xfer_remove(c->l, &s->x);
		finish(s, s->easy, CURLE_ABORTED_BY_CALLBACK, now_ns);
	}
}

unsigned waclient_inflight(const struct waclient *c) { return c->inflight; }
unsigned waclient_free_slots(const struct waclient *c) { return c->window - c->inflight; }

void waclient_stats_get(const struct waclient *c, struct waclient_stats *out)
{
	*out = c->st;
	if (c->h1) {
		struct h1_stats hs;
		h1_stats_get(c->h1, &hs);
		out->connects = hs.connects;
		out->first_sent_ns = hs.first_sent_ns;
	}
}

enum waclient_http waclient_http_used(const struct waclient *c) { return c->http; }

const char *waclient_http_name(enum waclient_http h)
{
	return h == WACLIENT_HTTP_CURL ? "curl" : h == WACLIENT_HTTP_NATIVE ? "native" : "auto";
}
