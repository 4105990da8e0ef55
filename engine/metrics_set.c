/*
 * metrics_set.c - every metric Banditore exports, declared in one place.
 *
 * Each family below is registered with ALL its label values up front, so
 * the exposition always shows every series (a zero is information: "no
 * 131026 failures" reads differently from "no data"), the number of series
 * is fixed (about 200), and nothing that comes from outside (a phone number,
 * a notice text, an unknown error code) can ever become a label. Error
 * codes are a bounded table of the codes the reference documents, plus
 * "transport", "http" and "other" for the rest.
 *
 * Notice progress is bounded the same way: one set of gauges per category
 * (five), describing the most recent notice of that category that the
 * sender worked on; per-notice detail is the operator API's job
 * (GET /v1/notices/{id}), not the metrics'.
 *
 * The operator's reference for all of this is docs/METRICS.md (a unit test
 * checks it names every family registered here).
 */
#include "metrics.h"

#include <string.h>

/* Codes of reference/whatsapp-cloud-api.md section 2, sorted (bsearch). */
static const int code_values[] = {
	0,      2,      3,      4,      10,     100,    190,    368,    80007,
	130429, 130497, 131000, 131005, 131008, 131009, 131016, 131026, 131030,
	131031, 131045, 131047, 131048, 131049, 131050, 131056, 131057, 131064,
	132000, 132001, 132012, 132015, 132016, 133004,
};
#define NCODES (sizeof code_values / sizeof code_values[0])
_Static_assert(NCODES + 3 == METRICS_CODES_COUNT, "METRICS_CODES_COUNT");

const char *const metrics_code_names[METRICS_CODES_COUNT] = {
	"0",      "2",      "3",      "4",      "10",     "100",    "190",    "368",    "80007",
	"130429", "130497", "131000", "131005", "131008", "131009", "131016", "131026", "131030",
	"131031", "131045", "131047", "131048", "131049", "131050", "131056", "131057", "131064",
	"132000", "132001", "132012", "132015", "132016", "133004",
	"transport", "http", "other",
};

size_t metrics_code_index(int code)
{
	if (code == METRICS_CODE_TRANSPORT)
		return NCODES;
	if (code == METRICS_CODE_HTTP)
		return NCODES + 1;
	size_t lo = 0, hi = NCODES;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (code_values[mid] < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < NCODES && code_values[lo] == code) ? lo : NCODES + 2;
}

void metrics_set_failed(struct metrics_set *s, int code)
{
	if (s)
		metrics_counter_inc(s->failed[metrics_code_index(code)]);
}

void metrics_set_retried(struct metrics_set *s, int code)
{
	if (s)
		metrics_counter_inc(s->retried[metrics_code_index(code)]);
}

void metrics_set_status_failed(struct metrics_set *s, int code)
{
	if (s)
		metrics_counter_inc(s->status_failed[metrics_code_index(code)]);
}

/* ------------------------------------------------------------- buckets */

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull

static const uint64_t fsync_buckets[] = {
	50 * US,  100 * US, 250 * US, 500 * US, 1 * MS,    2500 * US, 5 * MS,   10 * MS,
	25 * MS,  50 * MS,  100 * MS, 250 * MS, 500 * MS,  1 * SEC,   2500 * MS, 5 * SEC,
};
static const uint64_t record_buckets[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
};
static const uint64_t start_buckets[] = {
	10 * MS, 25 * MS, 50 * MS, 100 * MS, 250 * MS, 500 * MS, 1 * SEC,
	2500 * MS, 5 * SEC, 10 * SEC, 30 * SEC, 60 * SEC, 300 * SEC,
};
/* 48 h is a bound: the share confirmed within the public promise is
 * bucket{le="172800"} / count. */
static const uint64_t confirm_buckets[] = {
	1 * SEC, 2 * SEC, 5 * SEC, 10 * SEC, 30 * SEC, 60 * SEC, 300 * SEC, 900 * SEC,
	3600 * SEC, 6 * 3600 * SEC, 24 * 3600 * SEC, 48 * 3600 * SEC, 72 * 3600 * SEC,
};
#define NB(a) (sizeof(a) / sizeof((a)[0]))

/* -------------------------------------------------------------- names */

static const char *const wh_names[METRICS_WH_COUNT] = {
	"ok", "duplicate", "bad_signature", "bad_json", "too_large", "error",
	"handshake_ok", "handshake_refused",
};
static const char *const verb_names[METRICS_VERB_COUNT] = {
	"none", "on", "off", "help", "conflict",
};
static const char *const reply_names[METRICS_REPLY_COUNT] = {
	"welcome", "welcome_template", "already_subscribed", "opt_out_ack", "help", "auto_reply",
};
static const char *const outcome_names[METRICS_OUT_COUNT] = {
	"accepted", "failed", "retried", "expired", "uncertain", "skipped",
};
static const char *const status_names[METRICS_ST_COUNT] = {
	"sent", "delivered", "read", "failed",
};
static const char *const sub_names[METRICS_SUB_STATES] = {
	NULL, "requested", "confirmed", "unsubscribed", "invalid",
};
static const char *const notice_state_names[METRICS_NOTICE_STATES] = {
	"queued", "running", "paused", "done", "cancelled", "expired", "stopped",
};
static const char *const category_names[METRICS_CATEGORIES] = {
	"emergency", "disruption", "deadline", "event", "info",
};
static const char *const op_names[METRICS_OP_COUNT] = {
	"ok", "bad_request", "unauthorized", "error",
};
static const char *const file_names[METRICS_FILE_COUNT] = {"store", "journal"};

/* ------------------------------------------------------------ helpers */

static int family(struct metrics *m, enum metrics_type t, const char *name, const char *help,
                  const char *label, uint64_t scale, const uint64_t *b, size_t nb,
                  struct metrics_family **f)
{
	struct metrics_desc d = {
		.type = t, .name = name, .help = help, .labels = {label, NULL},
		.scale = scale, .buckets = b, .nbuckets = nb,
	};
	return metrics_family_add(m, &d, f);
}

/* One series per name (NULL names skipped); out[i] for names[i]. */
static int each_counter(struct metrics_family *f, const char *const *names, size_t n,
                        struct metrics_counter **out)
{
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			continue;
		const char *v[] = {names[i]};
		int rc = metrics_counter_series(f, v, &out[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int each_gauge(struct metrics_family *f, const char *const *names, size_t n,
                      struct metrics_gauge **out)
{
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			continue;
		const char *v[] = {names[i]};
		int rc = metrics_gauge_series(f, v, &out[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int each_histogram(struct metrics_family *f, const char *const *names, size_t n,
                          struct metrics_histogram **out)
{
	for (size_t i = 0; i < n; i++) {
		const char *v[] = {names[i]};
		int rc = metrics_histogram_series(f, v, &out[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int single_counter(struct metrics *m, const char *name, const char *help,
                          struct metrics_counter **out)
{
	struct metrics_family *f;
	int rc = family(m, METRICS_COUNTER, name, help, NULL, 1, NULL, 0, &f);
	return rc ? rc : metrics_counter_series(f, NULL, out);
}

static int single_gauge(struct metrics *m, const char *name, const char *help, uint64_t scale,
                        struct metrics_gauge **out)
{
	struct metrics_family *f;
	int rc = family(m, METRICS_GAUGE, name, help, NULL, scale, NULL, 0, &f);
	return rc ? rc : metrics_gauge_series(f, NULL, out);
}

/* ------------------------------------------------------------ the set */

#define TRY(x)                  \
	do {                    \
		rc = (x);       \
		if (rc != 0)    \
			return rc; \
	} while (0)

int metrics_set_register(struct metrics *m, struct metrics_set *s, const struct metrics_build *b)
{
	if (!m || !s || !b || !b->version || !b->loop)
		return BND_E_INVAL;
	memset(s, 0, sizeof *s);
	struct metrics_family *f;
	int rc;

	/* process */
	{
		struct metrics_desc d = {
			.type = METRICS_GAUGE, .name = "banditore_build_info",
			.help = "Always 1; the labels say which build and event loop run.",
			.labels = {"version", "loop", NULL},
		};
		TRY(metrics_family_add(m, &d, &f));
		const char *v[] = {b->version, b->loop};
		TRY(metrics_gauge_series(f, v, &s->build_info));
		metrics_gauge_set(s->build_info, 1);
	}
	TRY(single_gauge(m, "banditore_start_time_seconds",
	                 "Unix time the process started.", 1, &s->start_time));

	/* inbound */
	TRY(family(m, METRICS_GAUGE, "banditore_subscribers",
	           "Numbers in the subscriber store by state.", "state", 1, NULL, 0, &f));
	TRY(each_gauge(f, sub_names, METRICS_SUB_STATES, s->subscribers));
	TRY(family(m, METRICS_COUNTER, "banditore_webhooks_total",
	           "Webhook requests by outcome (POST bodies and GET handshakes).", "outcome", 1,
	           NULL, 0, &f));
	TRY(each_counter(f, wh_names, METRICS_WH_COUNT, s->webhooks));
	TRY(family(m, METRICS_COUNTER, "banditore_commands_total",
	           "Inbound text messages by the command they carry (none: ordinary text); "
	           "redeliveries are not counted again.", "verb", 1, NULL, 0, &f));
	TRY(each_counter(f, verb_names, METRICS_VERB_COUNT, s->commands));
	TRY(family(m, METRICS_COUNTER, "banditore_replies_total",
	           "Answers to citizens queued for sending, by kind.", "kind", 1, NULL, 0, &f));
	TRY(each_counter(f, reply_names, METRICS_REPLY_COUNT, s->replies));
	{
		struct metrics_desc d = {
			.type = METRICS_COUNTER, .name = "banditore_statuses_total",
			.help = "Status webhooks by status; failed ones by error code.",
			.labels = {"status", "code", NULL},
		};
		TRY(metrics_family_add(m, &d, &f));
		for (size_t i = 0; i < METRICS_ST_FAILED; i++) {
			const char *v[] = {status_names[i], ""};
			TRY(metrics_counter_series(f, v, &s->statuses[i]));
		}
		for (size_t i = 0; i < METRICS_CODES_COUNT; i++) {
			const char *v[] = {"failed", metrics_code_names[i]};
			TRY(metrics_counter_series(f, v, &s->status_failed[i]));
		}
	}

	/* outbound */
	{
		struct metrics_desc d = {
			.type = METRICS_COUNTER, .name = "banditore_messages_total",
			.help = "Outbound send attempts by outcome; failed and retried by error code.",
			.labels = {"outcome", "code", NULL},
		};
		TRY(metrics_family_add(m, &d, &f));
		for (size_t i = 0; i < METRICS_OUT_COUNT; i++) {
			if (i == METRICS_OUT_FAILED || i == METRICS_OUT_RETRIED) {
				for (size_t k = 0; k < METRICS_CODES_COUNT; k++) {
					const char *v[] = {outcome_names[i], metrics_code_names[k]};
					TRY(metrics_counter_series(f, v, i == METRICS_OUT_FAILED
					                                         ? &s->failed[k]
					                                         : &s->retried[k]));
				}
				continue;
			}
			const char *v[] = {outcome_names[i], ""};
			TRY(metrics_counter_series(f, v, &s->messages[i]));
		}
	}
	TRY(single_gauge(m, "banditore_limiter_rate",
	                 "Current send rate allowed by the adaptive limiter, messages/s.", 1000,
	                 &s->limiter_rate));
	TRY(single_gauge(m, "banditore_limiter_configured_rate",
	                 "Configured send rate (api.rate), messages/s.", 1000,
	                 &s->limiter_configured));
	TRY(single_counter(m, "banditore_throttles_total",
	                   "130429 answers (throughput exceeded): each slows the limiter down.",
	                   &s->throttles));
	TRY(single_counter(m, "banditore_pair_throttles_total",
	                   "131056 answers (pair rate): that recipient is retried later.",
	                   &s->pair_throttles));
	TRY(single_gauge(m, "banditore_in_flight", "Requests to the API awaiting an answer.", 1,
	                 &s->in_flight));
	TRY(single_gauge(m, "banditore_window", "Largest number of requests allowed in flight.",
	                 1, &s->window));

	/* durability */
	TRY(family(m, METRICS_HISTOGRAM, "banditore_fsync_seconds",
	           "Group-commit fdatasync latency, by file.", "file", 1000000000ull,
	           fsync_buckets, NB(fsync_buckets), &f));
	TRY(each_histogram(f, file_names, METRICS_FILE_COUNT, s->fsync));
	TRY(family(m, METRICS_HISTOGRAM, "banditore_group_commit_records",
	           "Records made durable by one group commit, by file.", "file", 1, record_buckets,
	           NB(record_buckets), &f));
	TRY(each_histogram(f, file_names, METRICS_FILE_COUNT, s->commit_records));
	{
		static const char *const oc[] = {"ok", "failed"};
		struct metrics_counter *h[2];
		TRY(family(m, METRICS_COUNTER, "banditore_compactions_total",
		           "Store compactions by outcome.", "outcome", 1, NULL, 0, &f));
		TRY(each_counter(f, oc, 2, h));
		s->compactions_ok = h[0];
		s->compactions_failed = h[1];
	}
	TRY(single_counter(m, "banditore_compaction_erased_total",
	                   "Unsubscribed numbers physically erased from disk by compaction.",
	                   &s->compaction_erased));
	TRY(single_gauge(m, "banditore_last_compaction_timestamp_seconds",
	                 "Unix time of the last successful compaction (0: none yet).", 1,
	                 &s->last_compaction));

	/* notices */
	TRY(family(m, METRICS_GAUGE, "banditore_notices", "Notices in the data directory by state.",
	           "state", 1, NULL, 0, &f));
	TRY(each_gauge(f, notice_state_names, METRICS_NOTICE_STATES, s->notices));
	static const struct {
		const char *name, *help;
		size_t off;
	} prog[] = {
		{"banditore_notice_recipients",
		 "Recipients of the latest notice of this category.",
		 offsetof(struct metrics_set, notice_recipients)},
		{"banditore_notice_accepted",
		 "Recipients accepted by the API so far (latest notice of this category).",
		 offsetof(struct metrics_set, notice_accepted)},
		{"banditore_notice_failed",
		 "Recipients failed for good so far (latest notice of this category).",
		 offsetof(struct metrics_set, notice_failed)},
		{"banditore_notice_delivered",
		 "Recipients with a delivered status webhook (latest notice of this category).",
		 offsetof(struct metrics_set, notice_delivered)},
		{"banditore_notice_remaining",
		 "Recipients not yet accepted, failed or expired (latest notice of this category).",
		 offsetof(struct metrics_set, notice_remaining)},
	};
	for (size_t i = 0; i < NB(prog); i++) {
		TRY(family(m, METRICS_GAUGE, prog[i].name, prog[i].help, "category", 1, NULL, 0, &f));
		TRY(each_gauge(f, category_names, METRICS_CATEGORIES,
		               (struct metrics_gauge **)((char *)s + prog[i].off)));
	}
	TRY(family(m, METRICS_HISTOGRAM, "banditore_notice_start_seconds",
	           "From a notice's creation to its first message on the wire, by category "
	           "(shows emergency pre-emption).", "category", 1000000000ull, start_buckets,
	           NB(start_buckets), &f));
	TRY(each_histogram(f, category_names, METRICS_CATEGORIES, s->notice_start));

	/* the 48 h promise */
	TRY(single_gauge(m, "banditore_confirmations_overdue",
	                 "Subscription requests still unconfirmed after slo.confirmation (48 h).", 1,
	                 &s->confirmations_overdue));
	TRY(single_gauge(m, "banditore_confirmation_slo_seconds",
	                 "The confirmation promise (slo.confirmation), seconds.", 1,
	                 &s->confirmation_slo));
	{
		TRY(family(m, METRICS_HISTOGRAM, "banditore_confirmation_seconds",
		           "From a subscription request to its welcome accepted by the API.", NULL,
		           1000000000ull, confirm_buckets, NB(confirm_buckets), &f));
		TRY(metrics_histogram_series(f, NULL, &s->confirmation));
	}

	/* operator API */
	TRY(family(m, METRICS_COUNTER, "banditore_operator_requests_total",
	           "Operator API (/v1/) requests by outcome.", "outcome", 1, NULL, 0, &f));
	TRY(each_counter(f, op_names, METRICS_OP_COUNT, s->operator_requests));
	return 0;
}
