/*
 * metrics.h - a small Prometheus registry (counters, gauges, histograms)
 * and the project's metric set, rendered for GET /metrics in the text
 * exposition format 0.0.4.
 *
 * Two layers:
 *
 *  1. The registry (metrics.c). A family (name, help, type, label names) is
 *     registered once; each of its series is registered once with its label
 *     VALUES, and gives back a handle. Series are never created on the hot
 *     path and never from outside data: the set of label values is fixed
 *     at start-up, so cardinality is bounded by construction and no phone
 *     number can become a label (registration also refuses a label value
 *     with 8 or more digits: BND_E_METRICS_PRIVACY).
 *
 *     Hot path: a handle is one 64-byte-aligned atomic cell (a histogram:
 *     one cell per bucket plus the sum). Counting is one relaxed atomic
 *     add, no lock, no lookup, no allocation. The functions accept NULL so
 *     code can run without metrics (tests, tools) at the cost of a branch.
 *
 *     Values are integers; a family's `scale` turns them into the rendered
 *     number (value / scale, printed exactly): record nanoseconds with
 *     scale 1e9 and Prometheus sees seconds; milli-messages/s with scale
 *     1000 gives messages/s.
 *
 *  2. The project's metric set (metrics_set.c): every metric of Banditore in
 *     one place, as handles in struct metrics_set, documented in
 *     docs/METRICS.md.
 *
 * Threading: registration and metrics_render take the registry's mutex
 * (so rendering while a late series is added is safe); the hot-path
 * functions are lock-free and may be called from any thread.
 */
#ifndef BANDITORE_METRICS_H
#define BANDITORE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bnd.h"

/* Content-Type of the rendered text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define METRICS_NAME_MAX 128     /* metric and label names, bytes */
#define METRICS_HELP_MAX 512     /* help text, bytes */
#define METRICS_VALUE_MAX 128    /* a label value, bytes */
#define METRICS_LABELS_MAX 4     /* label names per family */
#define METRICS_BUCKETS_MAX 32   /* histogram upper bounds (+Inf is added) */
#define METRICS_SERIES_MAX 1024  /* series per family */
#define METRICS_FAMILIES_MAX 256 /* families per registry */
#define METRICS_PHONE_DIGITS 8   /* a label value with this many digits is refused */

struct metrics;
struct metrics_family;

enum metrics_type {
	METRICS_COUNTER = 0,
	METRICS_GAUGE = 1,
	METRICS_HISTOGRAM = 2,
};

/* Hot-path handles. Visible so the increments inline; fields are private. */
struct metrics_counter {
	_Atomic uint64_t v;
};
struct metrics_gauge {
	_Atomic int64_t v;
};
struct metrics_histogram;

/*
 * struct metrics_desc - a family.
 *   name     [a-zA-Z_:][a-zA-Z0-9_:]*; counters must end in "_total";
 *            histograms must not end in _bucket, _sum or _count
 *   help     one line for # HELP (escaped on output)
 *   labels   label names, NULL-terminated (none: labels[0] = NULL); each
 *            [a-zA-Z_][a-zA-Z0-9_]*, not starting "__", not "le" in a histogram
 *   scale    rendered value = raw / scale; 0 or 1 = integers; else a power
 *            of ten up to 1e18
 *   buckets  histograms: upper bounds in raw units, strictly increasing,
 *            1..METRICS_BUCKETS_MAX of them (+Inf is implicit)
 */
struct metrics_desc {
	enum metrics_type type;
	const char *name;
	const char *help;
	const char *labels[METRICS_LABELS_MAX + 1];
	uint64_t scale;
	const uint64_t *buckets;
	size_t nbuckets;
};

/*
 * metrics_open - an empty registry. Returns 0 and *out, BND_E_INVAL,
 * BND_E_NOMEM. metrics_close frees it and every family and series (their
 * handles die with it), sets *p to NULL, accepts NULL.
 */
int metrics_open(struct metrics **out);
void metrics_close(struct metrics **p);

/*
 * metrics_family_add - register a family. *out lives as long as m.
 * Returns 0; BND_E_METRICS_NAME (a bad metric or label name, bad help,
 * bad scale or buckets, "_total" missing on a counter); BND_E_METRICS_DUP
 * (the name is taken, or is the _bucket/_sum/_count of a histogram);
 * BND_E_RANGE (METRICS_FAMILIES_MAX reached); BND_E_INVAL; BND_E_NOMEM.
 */
int metrics_family_add(struct metrics *m, const struct metrics_desc *d,
                       struct metrics_family **out);

/*
 * metrics_counter_series / _gauge_series / _histogram_series - register
 * one series of family f with its label values (as many as the family has
 * label names, in the same order; NULL when it has none). An empty value
 * leaves that label out of the output (`{outcome="accepted"}` next to
 * `{outcome="failed",code="131026"}`). Values are UTF-8, at most
 * METRICS_VALUE_MAX bytes, escaped on output. The handle lives as long as
 * the registry. Returns 0; BND_E_METRICS_TYPE (f is of another type);
 * BND_E_METRICS_LABELS (wrong count, invalid UTF-8, too long);
 * BND_E_METRICS_PRIVACY (METRICS_PHONE_DIGITS digits or more in a value);
 * BND_E_METRICS_DUP (these values are registered already); BND_E_RANGE
 * (METRICS_SERIES_MAX); BND_E_INVAL; BND_E_NOMEM.
 */
int metrics_counter_series(struct metrics_family *f, const char *const *values,
                           struct metrics_counter **out);
int metrics_gauge_series(struct metrics_family *f, const char *const *values,
                         struct metrics_gauge **out);
int metrics_histogram_series(struct metrics_family *f, const char *const *values,
                             struct metrics_histogram **out);

/* ---- the hot path: lock-free, any thread, NULL handles ignored ---------- */

static inline void metrics_counter_add(struct metrics_counter *c, uint64_t n)
{
	if (c)
		atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline void metrics_counter_inc(struct metrics_counter *c)
{
	metrics_counter_add(c, 1);
}

static inline void metrics_gauge_set(struct metrics_gauge *g, int64_t v)
{
	if (g)
		atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

static inline void metrics_gauge_add(struct metrics_gauge *g, int64_t d)
{
	if (g)
		atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}

/* Reads, for reports and tests (0 for NULL). */
static inline uint64_t metrics_counter_get(const struct metrics_counter *c)
{
	return c ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0;
}

static inline int64_t metrics_gauge_get(const struct metrics_gauge *g)
{
	return g ? atomic_load_explicit(&g->v, memory_order_relaxed) : 0;
}

/*
 * metrics_histogram_observe - count one observation v (raw units: ns for
 * a seconds histogram of scale 1e9) in the first bucket whose bound is
 * >= v, and add v to the sum. Two relaxed atomic adds; a binary search
 * over at most METRICS_BUCKETS_MAX bounds.
 */
void metrics_histogram_observe(struct metrics_histogram *h, uint64_t v);

/* metrics_histogram_count - observations so far (0 for NULL). */
uint64_t metrics_histogram_count(const struct metrics_histogram *h);

/*
 * metrics_render - the whole registry in the text exposition format
 * 0.0.4: families in registration order, each "# HELP", "# TYPE", then its
 * series in registration order; histograms as cumulative _bucket{le=...}
 * series ending with le="+Inf", then _sum and _count (= the +Inf bucket,
 * so the two always agree even while other threads observe).
 * *out is NUL-terminated, allocated with bnd_malloc (bnd_free it); *len is
 * its length without the NUL. Returns 0, BND_E_INVAL, BND_E_NOMEM.
 */
int metrics_render(struct metrics *m, char **out, size_t *len);

/* ======================================================================
 * The project's metric set. Index enums below say which handle is which;
 * metrics_set_register fills every handle. docs/METRICS.md is the
 * operator's reference; tests/unit/test_metrics.c checks it lists every
 * family.
 * ==================================================================== */

/* banditore_webhooks_total{outcome}: one per POST /webhook (and GET handshake). */
enum metrics_webhook {
	METRICS_WH_OK = 0,          /* 200: processed */
	METRICS_WH_DUPLICATE,       /* 200: a redelivery, every event already seen */
	METRICS_WH_BAD_SIGNATURE,   /* 401: X-Hub-Signature-256 missing or wrong */
	METRICS_WH_BAD_JSON,        /* 400: not JSON, not an object */
	METRICS_WH_TOO_LARGE,       /* 413 */
	METRICS_WH_ERROR,           /* 500: could not make it durable (WhatsApp retries) */
	METRICS_WH_HANDSHAKE_OK,    /* GET verification answered */
	METRICS_WH_HANDSHAKE_REFUSED, /* GET with a wrong verify token */
	METRICS_WH_COUNT
};

/* banditore_commands_total{verb}: same order and names as enum cmd_verb. */
enum metrics_verb {
	METRICS_VERB_NONE = 0,  /* not a command */
	METRICS_VERB_ON,
	METRICS_VERB_OFF,
	METRICS_VERB_HELP,
	METRICS_VERB_CONFLICT,
	METRICS_VERB_COUNT
};

/* banditore_replies_total{kind}: what the service answered. */
enum metrics_reply {
	METRICS_REPLY_WELCOME = 0,
	METRICS_REPLY_WELCOME_TEMPLATE,
	METRICS_REPLY_ALREADY_SUBSCRIBED,
	METRICS_REPLY_OPT_OUT_ACK,
	METRICS_REPLY_HELP,
	METRICS_REPLY_AUTO_REPLY,
	METRICS_REPLY_COUNT
};

/* banditore_messages_total{outcome[,code]}: outbound sends. */
enum metrics_outcome {
	METRICS_OUT_ACCEPTED = 0,  /* 200 + wamid */
	METRICS_OUT_FAILED,        /* final failure, by code */
	METRICS_OUT_RETRIED,       /* a transient error, retried later, by code */
	METRICS_OUT_EXPIRED,       /* the notice expired before this recipient */
	METRICS_OUT_UNCERTAIN,     /* in flight at a crash, outcome unknown */
	METRICS_OUT_SKIPPED,       /* unsubscribed by dispatch time: not sent */
	METRICS_OUT_COUNT
};

/* banditore_statuses_total{status[,code]}: status webhooks. */
enum metrics_status {
	METRICS_ST_SENT = 0,
	METRICS_ST_DELIVERED,
	METRICS_ST_READ,
	METRICS_ST_FAILED,         /* by code */
	METRICS_ST_COUNT
};

/* Pseudo codes for failures without a Graph API error code. */
#define METRICS_CODE_TRANSPORT (-1)  /* no HTTP answer: timeout, reset, refused */
#define METRICS_CODE_HTTP (-2)       /* an HTTP error without a JSON error body */

/* The bounded table of error codes used as the `code` label: the codes of
 * reference/whatsapp-cloud-api.md, "transport", "http", then "other". */
#define METRICS_CODES_COUNT 36
extern const char *const metrics_code_names[METRICS_CODES_COUNT];

/* metrics_code_index - the index in metrics_code_names of a Graph error
 * code (or METRICS_CODE_*); unknown codes map to "other" (the last). */
size_t metrics_code_index(int code);

/* banditore_subscribers{state}: same index as enum sub_state (store.h). */
#define METRICS_SUB_STATES 5   /* [0] (none) is not registered: NULL */

/* banditore_notices{state}: same order and names as enum notice_state. */
#define METRICS_NOTICE_STATES 7
/* notice progress: per category, same order as enum config_category. */
#define METRICS_CATEGORIES 5

/* banditore_operator_requests_total{outcome}: the operator API (/v1/). */
enum metrics_op {
	METRICS_OP_OK = 0,        /* 2xx */
	METRICS_OP_BAD_REQUEST,   /* 400, 404, 405, 409, 413 */
	METRICS_OP_UNAUTHORIZED,  /* 401: missing or wrong bearer token */
	METRICS_OP_ERROR,         /* 5xx */
	METRICS_OP_COUNT
};

/* banditore_fsync_seconds{file}, banditore_group_commit_records{file} */
enum metrics_file {
	METRICS_FILE_STORE = 0,    /* the subscriber log (webhooks wait for it) */
	METRICS_FILE_JOURNAL,      /* a notice journal (the sender's outcomes) */
	METRICS_FILE_COUNT
};

struct metrics_set {
	/* inbound */
	struct metrics_counter *webhooks[METRICS_WH_COUNT];
	struct metrics_counter *commands[METRICS_VERB_COUNT];
	struct metrics_counter *replies[METRICS_REPLY_COUNT];
	struct metrics_counter *statuses[METRICS_ST_COUNT - 1]; /* sent, delivered, read */
	struct metrics_counter *status_failed[METRICS_CODES_COUNT];
	struct metrics_gauge *subscribers[METRICS_SUB_STATES];
	/* outbound */
	struct metrics_counter *messages[METRICS_OUT_COUNT];     /* [FAILED], [RETRIED] NULL */
	struct metrics_counter *failed[METRICS_CODES_COUNT];
	struct metrics_counter *retried[METRICS_CODES_COUNT];
	struct metrics_gauge *limiter_rate;          /* milli-msg/s, current */
	struct metrics_gauge *limiter_configured;    /* milli-msg/s, configured */
	struct metrics_counter *throttles;           /* 130429 */
	struct metrics_counter *pair_throttles;      /* 131056 */
	struct metrics_gauge *in_flight;
	struct metrics_gauge *window;
	/* durability */
	struct metrics_histogram *fsync[METRICS_FILE_COUNT];         /* ns */
	struct metrics_histogram *commit_records[METRICS_FILE_COUNT];
	struct metrics_counter *compactions_ok, *compactions_failed;
	struct metrics_counter *compaction_erased;
	struct metrics_gauge *last_compaction;       /* unix seconds */
	/* notices */
	struct metrics_gauge *notices[METRICS_NOTICE_STATES];
	struct metrics_gauge *notice_recipients[METRICS_CATEGORIES];
	struct metrics_gauge *notice_accepted[METRICS_CATEGORIES];
	struct metrics_gauge *notice_failed[METRICS_CATEGORIES];
	struct metrics_gauge *notice_delivered[METRICS_CATEGORIES];
	struct metrics_gauge *notice_remaining[METRICS_CATEGORIES];
	struct metrics_histogram *notice_start[METRICS_CATEGORIES];  /* ns */
	/* the 48 h promise */
	struct metrics_gauge *confirmations_overdue;
	struct metrics_gauge *confirmation_slo;      /* seconds */
	struct metrics_histogram *confirmation;      /* ns, JESI ON -> welcome accepted */
	/* operator API, process */
	struct metrics_counter *operator_requests[METRICS_OP_COUNT];
	struct metrics_gauge *build_info;
	struct metrics_gauge *start_time;            /* unix seconds */
};

/*
 * struct metrics_build - constant facts for banditore_build_info: version
 * ("0.1.0") and loop ("io_uring" or "epoll"); short, no 8-digit runs.
 */
struct metrics_build {
	const char *version;
	const char *loop;
};

/*
 * metrics_set_register - register every family and series of the project
 * in m and fill s (zeroed first). build_info is set to 1. Returns 0 or the
 * registry's error (BND_E_NOMEM; BND_E_METRICS_DUP when called twice on
 * one registry; BND_E_METRICS_PRIVACY/LABELS for a bad build field).
 */
int metrics_set_register(struct metrics *m, struct metrics_set *s, const struct metrics_build *b);

/*
 * Helpers for the counters indexed by error code. code is a Graph API
 * error code or METRICS_CODE_*; a NULL set is ignored.
 */
void metrics_set_failed(struct metrics_set *s, int code);
void metrics_set_retried(struct metrics_set *s, int code);
void metrics_set_status_failed(struct metrics_set *s, int code);

#endif
