/*
 * sender.h - the fan-out sender: one object that owns an event loop (with
 * libcurl's multi), the Cloud API client, the limiter, the scheduler, a
 * journal committer thread and the open journals of the active notices, and
 * drives JOURNAL.md's "What the sender must do" for each of them.
 *
 * Two users:
 *   - `banditore send` / `resume`: one notice, SENDER_EXIT_WHEN_IDLE, run
 *     until it is done (or stopped, expired, interrupted) and exit;
 *   - `banditore serve`: several notices, runs until sender_shutdown; other
 *     threads add and cancel notices and send one-off texts (the welcome)
 *     through the sender_post_* functions, which hand the work to the loop
 *     through its cross-thread wake queue.
 *
 * Guarantees it keeps (design and proofs: engine/SENDER.md):
 *   - every request is preceded by a DISPATCHED intent that is durable
 *     (fdatasync'ed by the committer thread) before curl sees the request;
 *   - the rate limit (GCRA rate + burst) holds on the wire: a request takes
 *     its token when it is handed to curl, never earlier;
 *   - at most `window` ordinals are dispatched and not final (scheduler),
 *     so a crash leaves at most `window` uncertain recipients; at most
 *     `connections` requests are inside curl at once;
 *   - opt-out is checked at dispatch time (store_get), expiry and cancel
 *     stop dispatching at once, an emergency pre-empts on the next pick
 *     and its first request takes the next token: picks of lower notices
 *     not yet handed to curl are taken back (DEFERRED "not sent") and
 *     re-queued;
 *   - campaign-wide API errors stop the notice, engine-wide ones every
 *     notice, each with its reason and code in the journal;
 *   - memory is flat: no per-recipient heap object (a ring of `window`
 *     request contexts, the scheduler's heaps of deferred items, the
 *     journal's bitmap).
 *
 * Clocks: the loop's clock is CLOCK_MONOTONIC; expiry and retry times are
 * wall-clock instants kept on disk. The sender converts with the offset
 * wall - monotonic that the caller measures once and passes in
 * (sender_config.wall_offset_ns): library code never reads the clock.
 *
 * Threading: sender_open, sender_run and every function not marked "any
 * thread" must be called from the thread that opened the sender (the
 * loop's thread). Callbacks run on that thread.
 */
#ifndef SENDER_H
#define SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "loop.h"
#include "notice.h"
#include "store.h"
#include "waclient.h"
#include "waerr.h"
#include "wareq.h"

struct sender;

/* Flags of sender_config.flags */
#define SENDER_EXIT_WHEN_IDLE 1u  /* sender_run returns once no notice is
                                     active and no text is pending (CLI) */
#define SENDER_SHUTDOWN_RESUMES 2u /* sender_shutdown pauses the running
                                     notices with the reason SHUTDOWN, which
                                     `serve` resumes at its next start
                                     (serve); without it the reason is
                                     OPERATOR: a Ctrl-C of `send` is a
                                     person's decision, kept until `resume` */

/* Defaults (0 in the config means these). */
#define SENDER_WINDOW_DEFAULT 64u
#define SENDER_MAX_TRIES_DEFAULT 8u          /* transient errors, then failed */
#define SENDER_UNCERTAIN_TRIES 4u            /* uncertain re-sends of one ordinal */
#define SENDER_DRAIN_TIMEOUT_NS (10ull * 1000000000ull) /* shutdown waits this
                                                            long for in-flight */
#define SENDER_COMMIT_INTERVAL_NS (10ull * 1000000ull)  /* outcomes durable within */
#define SENDER_AHEAD_NS (500ull * 1000000ull)     /* intents journaled ahead of
                                                the limiter's tokens: hides
                                                an fdatasync stall of up to
                                                this (SENDER.md) */
#define SENDER_AHEAD_LOW_NS (20ull * 1000000ull) /* the same for picks of a
                                                notice while one of higher
                                                priority still has work: few
                                                intents to take back when it
                                                pre-empts (SENDER.md) */
#define SENDER_PROGRESS_DEFAULT_NS (1000ull * 1000000ull)
#define SENDER_JOURNAL_BUFFER (4u << 20)     /* journal append buffer: covers
                                                several fdatasyncs at 50k msg/s */
#define SENDER_TEXTS_MAX 4096u               /* one-off texts queued at most */

/* Codes the sender journals for failures without a Cloud API error code
 * (failed_by_code in the report): a transport failure after the retries is
 * -(CURLcode) (e.g. -28 time-out, -7 connection refused, -56 reset); an
 * HTTP answer without a WhatsApp error object is -(HTTP status) (-502). */

/*
 * Called on the loop thread when a notice leaves the sender (done, expired,
 * cancelled, stopped, paused by shutdown, or closed after a local error):
 * st/why/code are its journaled state (local errors: NOTICE_STOPPED with
 * NOTICE_REASON_LOCAL and the negative error in code). The report is the
 * journal's final one. Pointers are valid during the call only.
 */
typedef void (*sender_notice_fn)(void *ud, const char *notice_id, enum notice_state st,
                                 enum notice_reason why, int32_t code,
                                 const struct journal_report *rep);

/* Called every progress_ns on the loop thread while notices are active. */
typedef void (*sender_progress_fn)(void *ud, struct sender *s, uint64_t now_ns);

struct metrics_set;

struct sender_config {
	const char *data_dir;          /* notices live in DATA_DIR/notices */
	struct store *store;           /* borrowed writer handle: opt-out checks
	                                  at dispatch, SUB_INVALID on 131026;
	                                  NULL: no checks (benchmarks of the
	                                  client only) */
	enum loop_backend backend;     /* AUTO, URING or EPOLL */
	enum waclient_http http;       /* AUTO, CURL or NATIVE (waclient.h) */

	const char *api_base;          /* NULL: http://127.0.0.1:8089 */
	const char *api_version;       /* NULL: v25.0 */
	const char *phone_number_id;   /* required */
	const char *token;             /* required; copied by the client, never logged */

	uint32_t rate;                 /* msg/s for the number; 0 = unlimited */
	uint32_t burst;                /* 0: rate/20, at least 1 */
	uint32_t window;               /* ordinals dispatched and not final, at
	                                  most (bounds duplicates after a crash);
	                                  0: SENDER_WINDOW_DEFAULT */
	uint32_t connections;          /* requests inside curl at most (HTTP/1.1:
	                                  one connection each); 0 or > window:
	                                  window */
	uint32_t timeout_ms;           /* per request; 0: 20000 */
	uint32_t connect_timeout_ms;   /* 0: 5000 */
	uint64_t retry_base_ns;        /* 0: 1 s */
	uint64_t retry_cap_ns;         /* 0: 60 s */
	uint32_t max_tries;            /* transient errors of one ordinal before
	                                  it is failed; 0: the error table's hint,
	                                  else SENDER_MAX_TRIES_DEFAULT */
	uint64_t pair_interval_ns;     /* spacing of two messages to one number;
	                                  0: none beyond 131056 backoffs */
	uint64_t uncertain_grace_ns;   /* wait before re-sending an uncertain
	                                  ordinal (status webhooks may reconcile
	                                  it meanwhile); 0: re-send at once */
	uint64_t commit_interval_ns;   /* 0: SENDER_COMMIT_INTERVAL_NS */
	int64_t wall_offset_ns;        /* wall-clock ns minus CLOCK_MONOTONIC ns */
	uint64_t seed;                 /* jitter RNG (tests fix it) */
	unsigned flags;                /* SENDER_* */

	const char *notice_template;   /* default template for notices without one
	                                  (NULL: plain text messages) */
	const char *notice_lang;       /* its language (NULL: "it") */

	struct metrics_set *metrics;   /* borrowed; every API answer is counted in
	                                  banditore_messages_total and the
	                                  throttle counters (NULL: not counted) */

	sender_notice_fn on_notice;    /* may be NULL */
	sender_progress_fn on_progress;/* may be NULL */
	uint64_t progress_ns;          /* 0: SENDER_PROGRESS_DEFAULT_NS */
	void *ud;
};

/*
 * sender_open - the loop (backend as asked; AUTO falls back to epoll), the
 * client, limiter, scheduler and the committer thread. Strings are copied.
 * Returns 0 and *out; BND_E_INVAL (NULL or inconsistent config);
 * BND_E_WA_CONFIG; BND_E_LOOP_NOURING (URING refused by the kernel);
 * BND_E_NOMEM; -errno. On failure *out is NULL and nothing leaks.
 */
int sender_open(struct sender **out, const struct sender_config *cfg);

/*
 * sender_close - abort what is still in flight (no callbacks; those
 * ordinals stay dispatched, i.e. uncertain on resume), commit and close
 * every journal, stop the committer, free everything. Call sender_run to
 * completion (or sender_shutdown + sender_run) first for a clean stop.
 * Accepts NULL; sets *p to NULL.
 */
void sender_close(struct sender **p);

/* sender_loop - the sender's loop (owned by it), e.g. to add fd watchers. */
struct loop *sender_loop(struct sender *s);

/* sender_http_name - the HTTP client carrying requests: "native" or "curl". */
const char *sender_http_name(struct sender *s);

/*
 * sender_add - start or resume notice `id` of data_dir (loop thread):
 * opens its list and journal (writer), registers it with the scheduler and
 * re-queues what the journal says is pending (uncertain ordinals after the
 * grace period, deferred ones at their time). A notice already terminal is
 * not added: returns BND_E_CLOSED (its report is still readable with
 * journal_report). A STOPPED or PAUSED notice is set RUNNING again.
 * Returns 0; BND_E_CLOSED; BND_E_EXISTS (already active here);
 * BND_E_RANGE (SCHED_MAX_NOTICES active); BND_E_LOCKED (another process
 * has its journal); the codes of notice_load, notice_rcpt_open,
 * journal_open_notice; BND_E_NOMEM.
 */
int sender_add(struct sender *s, const char *id);

/*
 * sender_cancel - cancel active notice id (loop thread): nothing more is
 * dispatched; in-flight requests finish; the journal says CANCELLED
 * (operator). Returns 0, BND_E_NOTFOUND, BND_E_CLOSED (not running).
 */
int sender_cancel(struct sender *s, const char *id);

/*
 * sender_post_add / sender_post_cancel - the same from ANY thread: queued
 * to the loop; the result is reported through done(ud, rc) on the loop
 * thread (done may be NULL). Return 0, or BND_E_NOMEM / BND_E_INVAL
 * (then done never runs).
 */
typedef void (*sender_result_fn)(void *ud, int rc);
int sender_post_add(struct sender *s, const char *id, sender_result_fn done, void *ud);
int sender_post_cancel(struct sender *s, const char *id, sender_result_fn done, void *ud);

/* The outcome of a one-off text (pointers valid during the call only). */
struct sender_text_result {
	enum wa_outcome outcome;     /* WA_ACCEPTED, or the final failure class */
	int64_t code;                /* API code, or the negative codes above */
	const char *wamid;           /* ACCEPTED */
	size_t wamid_len;
};
typedef void (*sender_text_fn)(void *ud, const struct sender_text_result *r);

/*
 * sender_post_text - ANY thread: send text[0..len) as a free-form text
 * message to number (packed, phone.h), ahead of notices, under the same
 * rate and pair limits; retried on throttling and transient errors (up to
 * max_tries). done(ud, result) runs once on the loop thread with the final
 * outcome (e.g. `serve` confirms a subscriber when its welcome is
 * accepted). The text is copied. tag (may be NULL) is sent as
 * biz_opaque_callback_data.
 * Returns 0; BND_E_INVAL (bad number, empty or too long text, NULL done);
 * BND_E_RANGE (SENDER_TEXTS_MAX texts pending); BND_E_NOMEM; BND_E_CLOSED
 * (shutting down). On failure done never runs.
 */
int sender_post_text(struct sender *s, uint64_t number, const uint8_t *text, size_t len,
                     const char *tag, sender_text_fn done, void *ud);

/*
 * sender_post_template - ANY thread: the same for an approved template
 * (the welcome outside the 24-hour window): name and lang (NUL-terminated,
 * at most NOTICE_TEMPLATE_MAX / NOTICE_LANG_MAX bytes) with nparams body
 * parameters (copied; 0..NOTICE_PARAMS_MAX, each 1..WAREQ_STRING_MAX
 * bytes). Same limits, retries, callback and returns as sender_post_text.
 */
int sender_post_template(struct sender *s, uint64_t number, const char *name, const char *lang,
                         const struct wa_bytes *params, size_t nparams, const char *tag,
                         sender_text_fn done, void *ud);

/*
 * sender_post_status - ANY thread (a webhook handler): a status webhook of
 * message (notice id, ordinal) — tag "<id>:<ordinal>", notice_tag_parse —
 * appended as a STATUS record to that notice's journal when the notice is
 * active in this sender. A status on an ordinal without a final outcome
 * reconciles it (accepted: an uncertain ordinal is then not re-sent). The
 * record is committed by the committer thread soon after (it is not waited
 * for: a lost status only means a possible re-send, counted uncertain).
 * Returns 0; BND_E_NOTFOUND (not active here: the caller records it in the
 * notice's journal itself, see JOURNAL.md §7.8); the codes of
 * journal_status (BND_E_RANGE, BND_E_INVAL, -EIO...).
 */
int sender_post_status(struct sender *s, const char *id, uint32_t ordinal,
                       enum journal_status st, int32_t code, uint64_t t_ms);

/*
 * sender_run - run the loop until sender_shutdown has drained, a fatal
 * loop error, or (SENDER_EXIT_WHEN_IDLE) nothing is active. Returns 0, or
 * the loop's error.
 */
int sender_run(struct sender *s);

/*
 * sender_shutdown - ANY thread, and async-signal-safe (a SIGINT/SIGTERM
 * handler may call it): stop dispatching; requests already on the wire
 * get up to SENDER_DRAIN_TIMEOUT_NS to answer (then they are aborted and
 * stay uncertain); intents not yet on the wire are journaled DEFERRED
 * (not sent); every running notice is set PAUSED (operator, resumable);
 * journals are committed and closed; sender_run returns.
 */
void sender_shutdown(struct sender *s);

/* Counters of the whole sender (loop thread). */
struct sender_stats {
	uint64_t dispatched;       /* DISPATCHED intents journaled */
	uint64_t sent;             /* requests handed to curl */
	uint64_t accepted, failed, deferred, uncertain, skipped;
	uint64_t throttled;        /* 130429 answers */
	uint64_t pair_limited;     /* 131056 answers */
	uint64_t invalidated;      /* subscribers marked invalid (131026) */
	uint64_t commits;          /* journal group commits */
	uint64_t preempted;        /* intents taken back out of the ring, never
	                              sent, because a notice of higher priority
	                              had something to send (DEFERRED, re-queued) */
	uint32_t in_flight;        /* requests inside curl now */
	uint32_t window_used;      /* scheduler slots held now */
	uint64_t rate_milli;       /* the limiter's current rate (0 = unlimited) */
	uint64_t first_send_ns;    /* loop time of the first request handed to curl */
	uint64_t first_wire_ns;    /* CLOCK_MONOTONIC once the first request had been
	                              written to its socket (loop_stats.first_wait_ns) */
	uint64_t texts_sent, texts_accepted, texts_failed;
};
void sender_stats_get(struct sender *s, struct sender_stats *out);

/*
 * sender_report - the journal report of active notice id (loop thread).
 * Returns 0 or BND_E_NOTFOUND.
 */
int sender_report(struct sender *s, const char *id, struct journal_report *rep);

/* sender_active - notices active now (loop thread). */
size_t sender_active(struct sender *s);

#endif
