/*
 * waclient.h - the WhatsApp Cloud API client on the event loop: sends one
 * message per call over a pool of reusable curl easy handles (at most
 * `window` in flight), keep-alive connections (at most `connections`), and
 * reports each request's classified outcome once, through one callback.
 *
 * The client keeps no queue: when the window is full waclient_send says so
 * (BND_E_WA_FULL) and the caller (the sender) keeps its own backlog. That is
 * the design rule "never park thousands of handles inside curl".
 *
 * Threading: the loop's thread only.
 */
#ifndef WACLIENT_H
#define WACLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "waerr.h"
#include "wareq.h"

struct waclient;

/* The outcome of one request. Pointers are valid during the callback only. */
struct wa_result {
	enum wa_outcome outcome;
	long http_status;          /* 0 when no response arrived */
	int64_t code;              /* error.code, or WA_CODE_NONE */
	int64_t subcode;           /* error.error_subcode, or WA_CODE_NONE */
	int curl_code;             /* CURLcode of the transfer; 0 = complete response */
	uint64_t retry_after_ns;   /* Retry-After of the response; 0 = absent */
	uint64_t sent_ns;          /* loop time of waclient_send */
	uint8_t max_tries;         /* the table's retry budget hint (0 = caller's default) */
	const char *wamid;         /* ACCEPTED: the message id; else NULL */
	size_t wamid_len;
	const char *detail;        /* error detail or message; NULL if none */
	size_t detail_len;
	const char *msg_status;    /* "accepted"/"held_for_quality_assessment"/"paused" or NULL */
	size_t msg_status_len;
};

/* Completion: ud is waclient_send's; now_ns the loop's clock. The callback
 * may call waclient_send (its slot is already free). */
typedef void (*waclient_done_fn)(void *ud, const struct wa_result *r, uint64_t now_ns);

#define WACLIENT_WINDOW_MAX 4096u

/* Which HTTP client carries the requests. */
enum waclient_http {
	WACLIENT_HTTP_AUTO = 0,   /* native unless a proxy is set in the environment
	                             (http_proxy / https_proxy / all_proxy, as
	                             libcurl reads them) or the URL has credentials */
	WACLIENT_HTTP_CURL = 1,   /* libcurl's multi on the loop: proxies, HTTP/2 */
	WACLIENT_HTTP_NATIVE = 2, /* engine/h1.c: HTTP/1.1 keep-alive, plain or TLS
	                             (OpenSSL), one write and one read per request */
};

struct waclient_config {
	const char *api_base;        /* e.g. "http://127.0.0.1:8089"; NULL = that */
	const char *version;         /* e.g. "v25.0"; NULL = "v25.0" */
	const char *phone_number_id; /* required: digits */
	const char *token;           /* required: bearer token (the caller reads
	                                BANDITORE_WA_TOKEN; never logged) */
	uint32_t window;             /* requests in flight at most; 0 = 64 */
	uint32_t connections;        /* CURLMOPT_MAX_HOST_CONNECTIONS; 0 = 16 */
	uint32_t timeout_ms;         /* whole request; 0 = 15000 */
	uint32_t connect_timeout_ms; /* 0 = 5000 */
	unsigned build_flags;        /* WAREQ_STRICT_UTF8 to refuse bad UTF-8 */
	enum waclient_http http;     /* AUTO, CURL or NATIVE */
	const char *ca_file;         /* https: PEM CAs to trust; NULL = $SSL_CERT_FILE
	                                if set, else the system's (both carriers) */
	waclient_done_fn done;       /* required */
};

/*
 * waclient_open - a client on loop l (strings are copied). Returns 0,
 * BND_E_INVAL (NULL args, window > WACLIENT_WINDOW_MAX), BND_E_WA_CONFIG
 * (missing/unusable phone-number-id, token, base URL or version: an id that
 * is not digits, a token with control characters, a CA file that does not
 * load), BND_E_NOMEM, or BND_E_WA_CURL. Sets CURLMOPT_MAX_HOST_CONNECTIONS and MAXCONNECTS on the
 * loop's multi.
 */
int waclient_open(struct waclient **out, struct loop *l, const struct waclient_config *cfg);

/*
 * waclient_close - abort what is in flight WITHOUT callbacks, free
 * everything. Sets *p to NULL; accepts NULL. Call before loop_close.
 */
void waclient_close(struct waclient **p);

/*
 * waclient_send - build m's request and start it. On 0 the callback runs
 * exactly once, later (never from inside this call). On failure it never
 * runs: BND_E_WA_FULL (window full), the wareq_build errors (BND_E_INVAL,
 * BND_E_RANGE, BND_E_WA_UTF8, BND_E_NOMEM), BND_E_WA_CURL.
 */
int waclient_send(struct waclient *c, const struct wa_msg *m, void *ud);

/*
 * waclient_abort_all - end every request in flight now: each callback runs
 * with curl_code CURLE_ABORTED_BY_CALLBACK and outcome UNCERTAIN when any
 * request byte had left, RETRY_TRANSIENT otherwise. For cancel/expiry.
 */
void waclient_abort_all(struct waclient *c, uint64_t now_ns);

/* waclient_inflight - requests started and not completed. */
unsigned waclient_inflight(const struct waclient *c);

/* waclient_free_slots - window - inflight. */
unsigned waclient_free_slots(const struct waclient *c);

struct waclient_stats {
	uint64_t sent, completed;
	uint64_t by_outcome[WA_OUTCOME_COUNT];
	uint64_t utf8_replaced;     /* invalid UTF-8 subparts replaced in bodies */
	uint64_t connects;          /* new connections opened (CURLINFO_NUM_CONNECTS) */
	uint64_t first_sent_ns;     /* native: loop time the first request was
	                               written whole; 0 = not yet, or curl (the
	                               loop's first_wait_ns says it for curl) */
};

/* waclient_http_used - the client actually carrying requests (CURL or NATIVE). */
enum waclient_http waclient_http_used(const struct waclient *c);

/* waclient_http_name - "auto", "curl" or "native". */
const char *waclient_http_name(enum waclient_http h);

void waclient_stats_get(const struct waclient *c, struct waclient_stats *out);

#endif
