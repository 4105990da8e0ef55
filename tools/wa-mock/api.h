/*
 * api.h - what wa-mock answers to one HTTP request, independent of the HTTP
 * server: routing, the token, the body's shape, the recipient, templates,
 * limits, seeded faults, the record, stats and webhook scheduling. The
 * server hands it a complete request and gets back a status, a body, a
 * delay and whether to answer at all (a reset).
 *
 * Order of checks for POST /{version}/{phone-number-id}/messages (the first
 * that fails answers; docs/WA-MOCK.md has the full table):
 *   1 method POST (else 100)      2 bearer token (190, HTTP 401)
 *   3 phone-number-id (100/33)    4 body size (413, code 100)
 *   5 throughput (130429)         6 JSON shape, `to`, type, text/template
 *                                   (100, 131008, 131009, 132001, 132000,
 *                                    132015, 132016)
 *   7 pair rate (131056)          8 error-mix fault: sync code / reset
 *   9 tier (--tier-code)         10 accepted: record line, stats, webhook
 *  11 accepted faults: async code or not-on-WhatsApp (failed webhook),
 *     stall (answer after --stall-ms), reset-accepted (no answer)
 * Every answer of that endpoint waits the seeded latency of its request.
 */
#ifndef WAMOCK_API_H
#define WAMOCK_API_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "record.h"
#include "stats.h"
#include "webhook.h"

struct api;

/* What the api uses; everything must outlive the api. */
struct api_deps {
	const struct conf *conf;
	struct stats *stats;
	struct record *record;      /* NULL: no record */
	struct webhook *webhook;    /* NULL: no webhooks */
	const uint8_t *token;       /* expected bearer token; NULL: any */
	size_t token_len;
	const uint64_t *nowa;       /* sorted numbers "not on WhatsApp", may be NULL */
	size_t nowa_n;
	uint64_t nonce;             /* per-process, mixed into wamids */
	uint64_t start_ns;          /* monotonic start time, for uptime */
};

/*
 * api_open - build the request handler (it owns the recipient table and the
 * limits). Returns 0, BND_E_INVAL or BND_E_NOMEM.
 */
int api_open(struct api **out, const struct api_deps *d);

/* api_close - free; sets *p to NULL; accepts NULL. */
void api_close(struct api **p);

enum api_action {
	API_RESPOND,   /* send status + body after delay_ns */
	API_RESET,     /* close the connection with a reset, after delay_ns */
};

#define API_BODY_MAX 8192

struct api_req {
	const char *method;         /* NUL-terminated */
	const char *url;            /* path, without the query string */
	size_t url_len;
	const char *auth;           /* Authorization header value, or NULL */
	const uint8_t *body;
	size_t body_len;
	int body_too_large;         /* the server dropped a body over max_body */
	uint64_t now_ns;            /* monotonic clock at completion of the request */
	uint64_t wall_ms;           /* Unix time in ms, for the record */
};

struct api_resp {
	int status;                 /* HTTP status */
	enum api_action action;
	uint64_t delay_ns;          /* answer (or reset) this much later */
	size_t len;                 /* body length */
	char body[API_BODY_MAX];    /* JSON body */
};

/*
 * api_handle - decide the answer to rq into rs. Has the side effects of
 * the decision (limits, record, stats, webhook), so call it once per
 * request. Never fails: internal trouble answers 500 code 131000.
 * Thread-safe.
 */
void api_handle(struct api *a, const struct api_req *rq, struct api_resp *rs);

/* api_extra - the numbers of /mock/stats that the api's tables hold. */
void api_extra(struct api *a, uint64_t now_ns, struct stats_extra *x);

#endif
