/*
 * service.h - the inbound side of `banditore serve`: WhatsApp webhooks in,
 * subscription state in the store, replies out, with the 200 of each
 * webhook sent only once what it changed is durable.
 *
 *   POST /webhook   signature (401), size (413), JSON (400), then every
 *                   message and status of every entry and change:
 *                   commands change the store (engine/cmd.h grammar),
 *                   statuses go to notice journals (through a hook) and to
 *                   the welcome's confirmation; the answer waits for the
 *                   group commit that covers it (a committer thread)
 *   GET  /webhook   the verification handshake
 *   GET  /healthz   200, or 503 once a store sync has failed or while
 *                   stopping
 *   GET  /metrics   the Prometheus exposition of the registry given
 *
 * The subscription life cycle (PRODUCT.md section 1, engine/SERVICE.md):
 *   KEYWORD ON    none/unsubscribed/invalid -> SUB_REQUESTED (src = the
 *                 message's wamid, t = its timestamp), then the welcome;
 *                 SUB_CONFIRMED (src = the welcome's wamid, t = when the
 *                 API accepted it) once the API accepts the welcome;
 *                 requested -> the welcome again if none is pending;
 *                 confirmed -> "already subscribed"
 *   KEYWORD OFF   requested/confirmed -> SUB_UNSUBSCRIBED at once + the
 *                 acknowledgement; anyone else -> the acknowledgement only
 *   HELP          the help text
 *   anything else nothing (the optional auto-reply at most once per number
 *                 per messages.auto_reply_interval)
 *
 * Everything else `serve` needs (the HTTP server, the store, the sender,
 * the registry) is made by the caller and borrowed; the service only
 * registers its routes and runs one committer thread. The operator API
 * (issue 7) registers its /v1/ routes on the same struct httpd.
 *
 * Time: library code does not read the clock; the caller passes two
 * clock functions (wall-clock ms, monotonic ns).
 *
 * Threading: service_ingest / service_commit and the HTTP handlers run on
 * any thread, concurrently. service_open, _start, _stop and _close are for
 * the owner's thread. The reply outcome and the notice-status hook run on
 * whatever thread calls them (the sender's loop, the HTTP threads).
 */
#ifndef SERVICE_H
#define SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "httpd.h"
#include "journal.h"
#include "metrics.h"
#include "replies.h"
#include "store.h"

struct service;

typedef uint64_t (*service_clock_fn)(void *ud);

/*
 * A status webhook of a notice's message (biz_opaque_callback_data
 * "<notice_id>:<ordinal>", notice.h) goes first to this hook: the sender
 * of this process, which holds the journals of the notices it is running.
 * Returns 0 when it took the status (the service does not wait for its
 * durability: the sender commits its journals within its commit
 * interval), BND_E_NOTFOUND when the notice is not running there; then the
 * service records it itself (journals.h: finished and paused notices,
 * committed before the webhook's 200). Any other error is counted (status
 * unrouted) and logged. Runs on an HTTP thread; t_ms is the status time.
 */
typedef int (*service_notice_status_fn)(void *ud, const char *notice_id, uint32_t ordinal,
                                        enum journal_status st, int32_t code, uint64_t t_ms);

#define SERVICE_SEEN_MAX 65536u        /* stateless message and status ids kept
                                          to recognise a redelivery */
#define SERVICE_AUTO_REPLY_MAX 65536u  /* numbers whose auto-reply time is kept */
#define SERVICE_RESCAN_NS (5ull * 60 * 1000000000ull) /* requested subscribers
                                          without a pending welcome: re-queued
                                          this often (and at start) */
#define SERVICE_JOURNAL_IDLE_NS (60ull * 1000000000ull) /* a finished notice's
                                          journal unused this long is closed */

struct service_config {
	struct store *store;           /* borrowed writer handle; required */
	const struct config *cfg;      /* borrowed, read-only; required: texts,
	                                  keyword, phone_number_id, limits, SLO,
	                                  secrets (app_secret required) */
	struct metrics *registry;      /* GET /metrics renders it; NULL: 404 */
	struct metrics_set *metrics;   /* counted into; may be NULL */
	reply_post_fn post;            /* required: how replies reach the API */
	void *post_ud;
	service_notice_status_fn notice_status;  /* may be NULL */
	void *status_ud;
	const char *data_dir;          /* notices/ of finished notices get their
	                                  statuses here (journals.h); NULL: only
	                                  the hook (unit tests) */
	service_clock_fn wall_ms;      /* required */
	service_clock_fn mono_ns;      /* required */
	void *clock_ud;
	uint64_t rescan_ns;            /* 0: SERVICE_RESCAN_NS */
	unsigned max_outstanding;      /* replies in flight (0: replies.h default) */
};

/*
 * service_open - build the command grammar and render the reply texts from
 * cfg, open the reply queue. Nothing runs yet.
 * Returns 0 and *out; BND_E_INVAL (missing field); BND_E_SERVE_NO_SECRET
 * (cfg->app_secret unset: every webhook would be refused); the codes of
 * cmd_grammar_init and config_render; BND_E_NOMEM.
 */
int service_open(struct service **out, const struct service_config *c);

/*
 * service_routes - register GET+POST /webhook, GET /healthz and GET
 * /metrics on h (before httpd_start). Returns 0 or httpd_route's error.
 */
int service_routes(struct service *svc, struct httpd *h);

/*
 * service_start - start the committer thread and queue a welcome for every
 * SUB_REQUESTED subscriber whose welcome is not pending (those that were
 * owed one when the process stopped or crashed). Call once the post hook
 * can take messages. Returns 0 or -errno (thread creation).
 */
int service_start(struct service *svc);

/*
 * service_tick - the periodic work, from the owner's loop about once a
 * second: subscriber gauges, and every rescan_ns the re-queue of owed
 * welcomes, the count of confirmations past the SLO (gauge and a warning),
 * the store checkpoint (store.checkpoint_interval) and compaction
 * (store.compact_interval).
 */
void service_tick(struct service *svc);

/*
 * service_stop - from now on webhook POSTs are answered 503 without being
 * processed (WhatsApp redelivers them to the next process); the committer
 * makes everything durable, answers every request it holds and exits; no
 * more replies are posted. Call after httpd_quiesce + httpd_drain, before
 * stopping the sender. Returns 0 or the final sync's error.
 */
int service_stop(struct service *svc);

/* service_close - free; call after service_stop and after the sender (the
 * post hook's completions) has stopped. Accepts NULL; sets *p to NULL. */
void service_close(struct service **p);

/* ---- the core, for tests and tools (the HTTP handlers wrap these) ---- */

/* What one POST body did. */
struct service_ingest {
	unsigned status;        /* the HTTP status to answer; 0 when the answer
	                           must wait for service_commit (need_commit) */
	int need_commit;        /* the body appended to the store, or repeats a
	                           message whose record may not be durable yet */
	int rc;                 /* the error behind a 4xx/5xx, else 0 */
	uint32_t messages, statuses, errors;   /* events seen */
	uint32_t duplicates;    /* events already seen before */
	uint32_t changes;       /* store records appended */
	uint32_t ignored;       /* events for another phone_number_id */
};

/*
 * service_ingest - check the signature (sig = the X-Hub-Signature-256
 * header, may be NULL) and process every event of body. Fills *out.
 * Returns 0 (see out->status), or the error behind out->status.
 */
int service_ingest(struct service *svc, const uint8_t *body, size_t len, const char *sig,
                   struct service_ingest *out);

/*
 * service_commit - one group commit now (store_sync) and release the
 * replies waiting for it. The committer thread calls it; tests without the
 * thread call it directly. Returns 0 or the sync's error (after which the
 * service is degraded: /healthz 503, every later commit fails).
 */
int service_commit(struct service *svc);

/*
 * service_scan - the periodic scan now: queue owed welcomes and count
 * pending confirmations older than the SLO. Returns the overdue count.
 */
uint64_t service_scan(struct service *svc);

struct service_stats {
	uint64_t webhooks, webhooks_ok, webhooks_refused, webhooks_failed;
	uint64_t messages, statuses, duplicates, changes, ignored;
	uint64_t confirmed;            /* welcomes accepted -> SUB_CONFIRMED */
	uint64_t confirmed_by_status;  /* ... by a status webhook of the welcome */
	uint64_t welcome_failures;
	uint64_t journaled_statuses;   /* notice statuses recorded by the service */
	uint64_t unrouted_statuses;    /* notice statuses nobody took */
	uint64_t commits, commit_records;
	uint64_t overdue;              /* at the last scan */
	int degraded;                  /* a store sync failed */
	struct replies_stats replies;
};
void service_stats_get(struct service *svc, struct service_stats *st);

/* service_replies - the reply queue (owned by the service). */
struct replies *service_replies(struct service *svc);

#endif
