/*
 * opapi.h - the operator API of `banditore serve`: the /v1/ routes on the
 * service's HTTP server (engine/httpd.h). JSON in and out, a bearer token
 * (BANDITORE_ADMIN_TOKEN) compared in constant time, field-level 400s.
 *
 *   POST /v1/notices               create a notice, hand it to the sender: 202 {"id":...}
 *   GET  /v1/notices               the notices, newest first (?state= ?category= ?limit=)
 *   GET  /v1/notices/{id}          one notice: state, counts, rate, ETA, coverage at
 *                                  1/5/15 min, failures by reason, start latency
 *   POST /v1/notices/{id}/cancel   stop it: nothing more is dispatched
 *   POST /v1/notices/{id}/resume   hand a paused or stopped notice (or one left
 *                                  "running" by a crash) to the sender again
 *   GET  /v1/subscribers           counts by state (never a number)
 *
 * The contract (fields, codes, examples) is docs/openapi.json; the
 * operator's guide is docs/OPERATIONS.md.
 *
 * What it needs from the service is struct opapi_deps: the configuration
 * (data directory, admin token, notice defaults), the store's writer
 * handle (the confirmed snapshot of a new notice, the counts), the sender
 * as two "post" calls that any thread may make (struct opapi_sender), the
 * metric set (may be NULL) and a wall clock. Progress is read from the
 * notices' journals on disk with read-only handles (JOURNAL_RDONLY), which
 * work beside the sender's writer handles, so the API never waits for the
 * sender's loop to answer a GET.
 *
 * Life cycle in serve:
 *   opapi_open(&api, &deps);           (logs once when the API is disabled)
 *   opapi_register(api, httpd);        before httpd_start
 *   ... serve; opapi_refresh_metrics(api) from the periodic tick ...
 *   httpd_quiesce + httpd_drain
 *   opapi_shutdown(api);               BEFORE the sender stops: refuses new
 *                                      requests (503), answers those still
 *                                      waiting for the sender (503); once it
 *                                      returns no sender call runs or starts
 *   stop the sender; httpd_close(&httpd);
 *   opapi_close(&api);                 after both: no handler or sender
 *                                      callback can run any more
 *
 * Threading: handlers run on the server's threads, several at once; the
 * sender's callbacks on its loop thread. Everything here is thread-safe.
 */
#ifndef OPAPI_H
#define OPAPI_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "httpd.h"
#include "metrics.h"
#include "store.h"

struct opapi;
struct sender;

/* The result of a posted sender operation: 0 or a negative code. */
typedef void (*opapi_done_fn)(void *ud, int rc);

/*
 * The sender, as the operator API uses it. post_add and post_cancel have
 * the contract of sender_post_add / sender_post_cancel (sender.h): callable
 * from any thread, they queue the work and return 0 (then done(ud, rc) runs
 * exactly once, later or before they return) or a negative code (then done
 * never runs). first_dispatch_ms (optional, may be NULL) gives the
 * wall-clock millisecond of the first request of notice id handed to the
 * API, returning 0, or BND_E_NOTFOUND when unknown; without it the start
 * latency falls back to the journal's first RUNNING time.
 * opapi_sender_use fills this for a real struct sender.
 */
struct opapi_sender {
	int (*post_add)(void *ctx, const char *id, opapi_done_fn done, void *ud);
	int (*post_cancel)(void *ctx, const char *id, opapi_done_fn done, void *ud);
	int (*first_dispatch_ms)(void *ctx, const char *id, uint64_t *ms);
	void *ctx;
};

/* A wall clock: milliseconds since the epoch, UTC. */
typedef uint64_t (*opapi_clock_fn)(void *ud);

struct opapi_deps {
	const struct config *cfg;   /* borrowed, must outlive the API:
	                               admin_token (NULL: the API answers 503),
	                               notice_template, notice_lang, expiry_ns,
	                               api_max_body_bytes */
	const char *data_dir;       /* the data directory (notices live in its
	                               notices/); NULL: cfg->data */
	struct store *store;        /* borrowed writer handle (serve holds the
	                               data directory's lock, which notice_create
	                               requires) */
	struct opapi_sender sender; /* post_add and post_cancel are required */
	struct metrics_set *metrics;/* may be NULL: operator_requests,
	                               notices, notice_* gauges */
	opapi_clock_fn wall_ms;     /* required: the service's wall clock
	                               (library code never reads the clock) */
	void *clock_ud;
};

/*
 * opapi_sender_use - fill ops with adapters calling sender_post_add and
 * sender_post_cancel on s (first_dispatch_ms stays NULL).
 */
void opapi_sender_use(struct opapi_sender *ops, struct sender *s);

/*
 * opapi_open - make the API object. deps is copied (the pointers in it are
 * borrowed). When cfg->admin_token is NULL or empty, logs one warning
 * ("operator API disabled") and every /v1/ request will get 503.
 * Returns 0 and *out; BND_E_INVAL (deps, cfg, store, wall_ms, post_add or
 * post_cancel missing); BND_E_NOMEM. On failure *out is NULL.
 */
int opapi_open(struct opapi **out, const struct opapi_deps *deps);

/*
 * opapi_register - add the /v1/ routes to h (before httpd_start):
 * "/v1/notices" (GET, POST), "/v1/notices/" (prefix: GET {id}, POST
 * {id}/cancel, POST {id}/resume), "/v1/subscribers" (GET) and "/v1/"
 * (prefix: a JSON 404 for anything else under /v1/). Each takes every method, so that the bearer
 * check comes first and other methods get a JSON 405 with Allow. The
 * request body limit is cfg->api_max_body_bytes. Returns 0 or
 * httpd_route's code.
 */
int opapi_register(struct opapi *api, struct httpd *h);

/*
 * opapi_shutdown - refuse new requests (503) and answer every request still
 * waiting for a sender callback with 503; a callback that comes later finds
 * nothing to answer. Idempotent; any thread.
 */
void opapi_shutdown(struct opapi *api);

/*
 * opapi_close - free the object. Call it after httpd_close (no handler may
 * run) and after the sender is closed (no callback may come). Accepts NULL
 * and *p == NULL; sets *p to NULL.
 */
void opapi_close(struct opapi **p);

/*
 * opapi_refresh_metrics - set the notice gauges of deps->metrics from the
 * notices on disk: banditore_notices{state}, and per category the latest
 * notice's recipients, accepted, failed, delivered and remaining; and
 * observe banditore_notice_start_seconds once for each notice created
 * through this API whose first dispatch became known. For the service to
 * call before rendering /metrics (or from a timer). Reports of notices
 * whose journal did not change are cached, so a refresh costs one stat per
 * notice plus a replay of the journals that grew. Returns 0, or the
 * negative code of listing the notices (gauges unchanged); a no-op
 * without metrics.
 */
int opapi_refresh_metrics(struct opapi *api);

/*
 * opapi_parse_time - an expiry as the API accepts it, for the CLI and tests:
 * a duration ("90m", "6h", "1h30m": config_parse_duration) counted from
 * now_ms, or an RFC 3339 date-time ("2025-10-12T18:00:00Z",
 * "2025-10-12T20:00:00.5+02:00"; 'T' or ' ' between date and time, 'Z' or
 * an offset required). Pure; reads at most len bytes.
 * Returns 0 and *out_ms (wall-clock ms, UTC), or BND_E_INVAL.
 */
int opapi_parse_time(const char *s, size_t len, uint64_t now_ms, uint64_t *out_ms);

/*
 * opapi_format_time - ms as RFC 3339 UTC with milliseconds
 * ("2025-10-12T18:00:00.000Z") into buf (at least OPAPI_TIME_MAX bytes).
 * Returns buf.
 */
#define OPAPI_TIME_MAX 32
char *opapi_format_time(uint64_t ms, char *buf, size_t cap);

#endif
