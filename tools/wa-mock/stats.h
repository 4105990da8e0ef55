/*
 * stats.h - wa-mock's counters: what GET /mock/stats reports and what the
 * shutdown summary prints. Every counter is an atomic bumped by the thread
 * that saw the event; reading them never stops the request path.
 */
#ifndef WAMOCK_STATS_H
#define WAMOCK_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "jw.h"

#define STATS_CODES 64   /* distinct error codes counted; more go to "other" */

/* Counts per error code, filled lock-free. Fields private. */
struct stats_codes {
	atomic_int_fast64_t code[STATS_CODES];   /* code + 1; 0 = free slot */
	atomic_uint_fast64_t n[STATS_CODES];
	atomic_uint_fast64_t other;
};

/* A one-second-resolution rate: the count of the last complete second. */
struct stats_rate {
	atomic_uint_fast64_t sec[4];
	atomic_uint_fast64_t n[4];
};

/*
 * The counters. Embed one (zero-initialise it); bump the plain counters
 * with atomic_fetch_add_explicit(..., memory_order_relaxed) or the helpers
 * below. Fields are public so that the modules which see an event can
 * count it without a function per counter.
 */
struct stats {
	atomic_uint_fast64_t requests;      /* requests to the messages endpoint */
	atomic_uint_fast64_t other_requests;/* stats and unknown paths */
	atomic_uint_fast64_t accepted;      /* answered 200 with a wamid */
	atomic_uint_fast64_t rejected;      /* answered with an error body */
	atomic_uint_fast64_t resets;        /* connections reset by a fault */
	atomic_uint_fast64_t stalls;        /* answers delayed past stall_ms */
	atomic_uint_fast64_t mark_read;     /* "status":"read" calls */
	atomic_uint_fast64_t record_errors; /* record writes that failed (answered 500) */
	struct stats_codes errors;          /* sync errors by code */
	struct stats_codes async_failed;    /* accepted, then a failed webhook, by code */
	struct stats_rate req_rate, acc_rate;
	/* webhooks */
	atomic_uint_fast64_t wh_posts;      /* POSTs answered 200 */
	atomic_uint_fast64_t wh_statuses;   /* statuses inside those POSTs */
	atomic_uint_fast64_t wh_attempts;   /* POST attempts, retries included */
	atomic_uint_fast64_t wh_retries;    /* attempts after a failure */
	atomic_uint_fast64_t wh_dropped;    /* statuses given up after the last retry */
	atomic_uint_fast64_t wh_pending;    /* statuses scheduled, not yet delivered */
};

/* stats_code_add - count one event of code in c. Thread-safe, lock-free. */
void stats_code_add(struct stats_codes *c, int code);

/* stats_code_get - the count of code in c (0 if never seen). */
uint64_t stats_code_get(const struct stats_codes *c, int code);

/* stats_rate_add - count one event at now in r. */
void stats_rate_add(struct stats_rate *r, uint64_t now_ns);

/* stats_rate_get - events during the last complete second before now. */
uint64_t stats_rate_get(const struct stats_rate *r, uint64_t now_ns);

/* Numbers /mock/stats reports that live in other modules. */
struct stats_extra {
	uint64_t unique_recipients;   /* recipients with >= 1 accepted message */
	uint64_t repeated_recipients; /* recipients with >= 2 accepted messages */
	uint64_t tier_used;           /* recipients counted in the tier window */
	uint64_t uptime_ms;
	uint64_t seed;
};

/*
 * stats_render - the /mock/stats JSON object into w:
 *   {"requests":N,"accepted":N,"rejected":N,"errors":{"130429":N,...},
 *    "async_failed":{...},"resets":N,"stalls":N,"mark_read":N,
 *    "record_errors":N,"unique_recipients":N,
 *    "recipients_accepted_more_than_once":N,"tier_used":N,
 *    "rate_per_s":{"requests":N,"accepted":N},"uptime_ms":N,"seed":N,
 *    "other_requests":N,"webhooks":{"posts":N,"statuses":N,"attempts":N,
 *    "retries":N,"dropped":N,"pending":N}}
 */
void stats_render(const struct stats *s, const struct stats_extra *x, uint64_t now_ns,
                  struct jw *w);

/*
 * stats_summary - the one-line shutdown summary (no newline) into buf:
 *   "requests=N accepted=N rejected=N errors={130429:N ...} async_failed=N
 *    resets=N stalls=N unique_recipients=N accepted_more_than_once=N
 *    webhooks={posts:N statuses:N retries:N dropped:N pending:N}"
 */
void stats_summary(const struct stats *s, const struct stats_extra *x, char *buf, size_t cap);

#endif
