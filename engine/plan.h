/*
 * plan.h - the capacity-planning model behind `banditore plan`: how long one
 * notice takes to reach every recipient under the WhatsApp Cloud API's limits
 * (throughput per number, messaging-limit tier, pair rate), the API's latency,
 * its transient errors and the sender's in-flight window.
 *
 * The model is analytic and pure: no I/O, no clock, no allocation (except
 * plan_to_json, which builds a jansson object). The equations, assumptions
 * and worked examples are in docs/CAPACITY.md; the numbers come from
 * reference/whatsapp-cloud-api.md §2-§3 and reference/engine-notes.md §2-§3.
 *
 * Time: every time is in seconds from the first dispatch of the fan-out
 * (t = 0 when the sender issues its first request). "Coverage" at t is the
 * fraction of the N recipients whose request the API has accepted (HTTP 200
 * with a wamid) by t: the denominator is always N, so permanent failures and
 * recipients that exhaust their attempts keep coverage below 1.
 *
 * Comparing with a measurement (`plan --simulate`, tools/banditore/
 * simulate.c): a run of the real sender against wa-mock yields the notice's
 * counters over time from the first request. Its empirical curve is
 * (number accepted by t) / N, compared with plan_coverage_at; the time the
 * last recipient settles (accepted or failed for good) with
 * seconds_to_last_recipient (see plan_settled_at), and its 1/5/15-minute
 * coverage with coverage_1m/5m/15m. plan_to_json carries the model version
 * and the full input echo so a stored prediction can be re-evaluated later.
 */
#ifndef PLAN_H
#define PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PLAN_MODEL_VERSION "banditore-plan/2"

/* Defaults. The throughput default is Meta's 80 msg/s per number; latency
 * defaults to the reference's wa-mock profile (log-normal, median 250 ms,
 * p99 ~2 s, §6); the window is the sender's default in-flight window (keep
 * in step with engine/sender.h when it lands); attempts and backoff follow
 * the reference's retry advice for 5xx (1 s base, x2, 60 s cap, a budget of
 * about two minutes: 1+2+4+8+16+32+60 s of waits = 8 attempts). */
#define PLAN_DEFAULT_RATE 80.0
#define PLAN_DEFAULT_TIER 0u            /* unlimited */
#define PLAN_DEFAULT_LATENCY_P50_S 0.250
#define PLAN_DEFAULT_LATENCY_P99_S 2.0
#define PLAN_DEFAULT_WINDOW 64u
#define PLAN_DEFAULT_MAX_ATTEMPTS 8u
#define PLAN_DEFAULT_PAIR_INTERVAL_S 6.0 /* ~1 message per 6 s per user (§3.2) */
/* The time a window slot is held beyond the API's latency: the sender
 * makes each request's intent durable (a group commit: one to two
 * fdatasyncs) before the wire, and the local HTTP round trip adds a little.
 * Measured by `plan --simulate` (mean_window_used / throughput - latency):
 * 4-8 ms on the development VM's ext4 disk under load; about 1 ms on a
 * quiet NVMe. Little's law uses E[L] + this. */
#define PLAN_DEFAULT_DISPATCH_OVERHEAD_S 0.005
#define PLAN_MAX_DISPATCH_OVERHEAD_S 1.0
#define PLAN_BACKOFF_BASE_S 1.0
#define PLAN_BACKOFF_CAP_S 60.0
#define PLAN_BACKOFF_JITTER_MEAN 0.75   /* the sender waits uniform [d/2, d] */

/* API facts the model and its warnings use (reference §3). */
#define PLAN_TIER_PERIOD_S 86400.0      /* messaging limits: rolling 24 h */
#define PLAN_RATE_DEFAULT_LIMIT 80.0    /* default throughput per number */
#define PLAN_RATE_UPGRADED_LIMIT 1000.0 /* after the automatic upgrade */
#define PLAN_UPGRADE_MIN_AUDIENCE 100000u /* upgrade needs >= 100K users in 24 h */
#define PLAN_H2_STREAMS 100u            /* curl's default streams per h2 connection */

/* Validation limits: beyond these an input is a typo, not a plan. */
#define PLAN_MAX_RECIPIENTS 1000000000ull
#define PLAN_MIN_RATE 0.001           /* one message per 1,000 s: slower is a typo */
#define PLAN_MAX_RATE 10000.0
#define PLAN_MAX_LATENCY_S 60.0       /* slower than this is a client timeout: an error */
#define PLAN_MAX_LATENCY_SPREAD 100.0 /* p99 / p50 beyond this is not log-normal data */
#define PLAN_MAX_ERROR_RATE 0.99
#define PLAN_MAX_WINDOW 1000000u
#define PLAN_MAX_ATTEMPTS 20u
#define PLAN_MAX_PAIR_INTERVAL_S 3600.0

/* Warning thresholds. */
#define PLAN_WARN_ERROR_RATE 0.05     /* transient errors above 5% of requests */
#define PLAN_WARN_PERMANENT_RATE 0.05 /* permanent failures above 5% of recipients */
#define PLAN_WARN_WINDOW_FACTOR 4.0   /* window > 4x the recommended one ... */
#define PLAN_WARN_WINDOW_FLOOR 256u   /* ... and above this many requests */

#define PLAN_MAX_WARNINGS 12
#define PLAN_WARNING_LEN 400

/*
 * The model's inputs. Fill with plan_input_defaults, then set what the user
 * gave. Rates and fractions are doubles; counts are integers.
 */
struct plan_input {
	uint64_t recipients;     /* N: deduplicated recipients, 1..PLAN_MAX_RECIPIENTS */
	double rate;             /* R: throughput limit, requests/s (80, 1000, 20);
	                          * PLAN_MIN_RATE..PLAN_MAX_RATE */
	uint32_t tier;           /* T: unique users per rolling 24 h; 0 = unlimited */
	double latency_p50_s;    /* API latency median, seconds */
	double latency_p99_s;    /* 99th percentile; == p50 means a fixed latency */
	double error_rate;       /* F: fraction of requests failing transiently */
	double permanent_rate;   /* P: fraction of recipients failing permanently */
	uint32_t window;         /* W: requests in flight the sender allows */
	uint32_t max_attempts;   /* K: attempts per recipient, first included */
	double pair_interval_s;  /* least spacing of two messages the API accepted
	                          * for one user: echoed and used by --simulate;
	                          * it does not space retries of transient
	                          * failures (model 2), so one notice is not
	                          * affected */
	double dispatch_overhead_s; /* d: a window slot's hold time beyond the
	                          * latency (durable intent, local HTTP);
	                          * 0..PLAN_MAX_DISPATCH_OVERHEAD_S */
};

/* Warnings, in the order plan_compute emits them. */
enum plan_warning_code {
	PLAN_WARN_TIER,          /* the tier cannot cover the audience in 24 h */
	PLAN_WARN_LONG,          /* the rate alone needs more than 24 h */
	PLAN_WARN_WINDOW_SMALL,  /* Little's law caps the rate below R */
	PLAN_WARN_WINDOW_LARGE,  /* window far above the need: more crash duplicates */
	PLAN_WARN_RATE_MAX,      /* R above 1,000 msg/s, the highest documented */
	PLAN_WARN_RATE_TIER,     /* R above 80 needs the upgrade: unlimited tier */
	PLAN_WARN_RATE_AUDIENCE, /* the upgrade needs >= 100K users messaged */
	PLAN_WARN_ERRORS,        /* transient error rate high */
	PLAN_WARN_GIVE_UP,       /* recipients expected to exhaust every attempt */
	PLAN_WARN_PERMANENT,     /* permanent-failure fraction high */
	PLAN_WARN_NOBODY,        /* fewer than one recipient expected to be reached */
};

struct plan_warning {
	enum plan_warning_code code;
	char text[PLAN_WARNING_LEN];   /* one English sentence, no newline */
};

/*
 * The model's outputs. A value type: plan_compute fills it, the caller owns
 * it (stack is fine), nothing inside points elsewhere. Fields are read-only
 * for callers; the ones marked "model" are the internals plan_coverage_at
 * needs.
 */
struct plan_result {
	struct plan_input in;            /* the validated inputs */

	/* latency: log-normal ln L ~ Normal(mu, sigma); sigma 0 = fixed */
	double latency_mu, latency_sigma;
	double latency_mean_s;           /* E[L] = exp(mu + sigma^2 / 2) */

	/* throughput */
	double little_rate;              /* W / (E[L] + d): what the window sustains */
	double effective_rate;           /* min(R, W / (E[L] + d)), requests/s */
	int limited_by_window;           /* 1 when W / (E[L] + d) < R */
	double attempts_per_recipient;   /* E[requests per recipient] */
	double recipient_rate;           /* new recipients/s = effective / attempts */

	/* window sizing for R at this latency */
	uint32_t window_min;             /* ceil(R x (E[L] + d)): Little's law at the mean */
	uint32_t window_recommended;     /* ceil(R x (p99 + d)): holds R through latency spikes */
	uint32_t connections_h2;         /* ceil(window_recommended / 100 streams) */
	uint32_t connections_http1;      /* one request per connection */

	/* tier schedule: blocks of T recipients, one per 24 h window (model) */
	uint64_t tier_windows;           /* 24 h windows used (1 when the tier does not bind) */
	uint64_t block_size;             /* recipients per block (N when one block) */
	double block_len_s;              /* dispatch time of a full block */

	/* retries (model): attempt k is accepted with weight w[k] and at
	 * offset c[k] after the recipient's first dispatch */
	double attempt_weight[PLAN_MAX_ATTEMPTS];
	double attempt_offset_s[PLAN_MAX_ATTEMPTS];
	double give_up_weight;           /* F^K: share of the non-permanent that give up */
	double latency_tail_s;           /* latency beyond which the model ignores mass */

	/* results */
	double coverage_final;           /* (1 - P)(1 - F^K) */
	double coverage_1m, coverage_5m, coverage_15m;
	double seconds_to_last_recipient; /* every recipient settled: accepted or failed */
	double seconds_to_50pct;         /* < 0: never reached */
	double seconds_to_90pct;         /* < 0: never reached */
	double retry_overhead;           /* extra requests per recipient: attempts - 1 */
	double expected_retries;         /* N x retries per recipient */
	double expected_gave_up;         /* recipients failing all K attempts */
	double expected_permanent;       /* recipients failing permanently */

	size_t nwarnings;
	struct plan_warning warnings[PLAN_MAX_WARNINGS];
};

/* A point of the delivery curve: time (s) and coverage (fraction of N). */
struct plan_point {
	double t_s;
	double coverage;
};

/*
 * plan_input_defaults - set every field to its default; recipients to 0
 * (which plan_validate rejects: the caller must set it).
 */
void plan_input_defaults(struct plan_input *in);

/*
 * plan_validate - check every field against its range. Returns 0 or the
 * code of the first bad field: BND_E_PLAN_RECIPIENTS, BND_E_PLAN_RATE,
 * BND_E_PLAN_TIER (tiers: 0, 250, 1000 (before Oct 2025), 2000, 10000,
 * 100000), BND_E_PLAN_LATENCY, BND_E_PLAN_ERROR_RATE, BND_E_PLAN_PERMANENT,
 * BND_E_PLAN_WINDOW, BND_E_PLAN_ATTEMPTS, BND_E_PLAN_PAIR,
 * BND_E_PLAN_OVERHEAD; BND_E_INVAL for a
 * NULL pointer. NaN and infinities are rejected like any out-of-range value.
 */
int plan_validate(const struct plan_input *in);

/*
 * plan_compute - run the model. Validates first (codes as plan_validate);
 * on error *out is untouched. On success fills *out and returns 0. Pure and
 * thread-safe; cost is a few thousand evaluations of the coverage function.
 */
int plan_compute(const struct plan_input *in, struct plan_result *out);

/*
 * plan_coverage_at - expected coverage (fraction of N, 0..coverage_final)
 * at t_s seconds after the first dispatch; 0 for t_s <= 0. Non-decreasing
 * in t_s. r must come from a successful plan_compute.
 */
double plan_coverage_at(const struct plan_result *r, double t_s);

/*
 * plan_settled_at - expected fraction of N whose outcome is known at t_s:
 * accepted, failed permanently, or given up after the last attempt (0..1,
 * non-decreasing, >= plan_coverage_at). seconds_to_last_recipient is where
 * fewer than half a recipient remains unsettled. Its measured counterpart is
 * the sender's count of final outcomes over time.
 */
double plan_settled_at(const struct plan_result *r, double t_s);

/*
 * plan_time_to - the earliest time at which coverage reaches the fraction
 * `coverage` of N; a negative value when it never does (coverage above
 * coverage_final). Resolution 1 ms.
 */
double plan_time_to(const struct plan_result *r, double coverage);

/*
 * plan_series_end - the time span a delivery curve should show: a little
 * past the last recipient (5%), at least one minute.
 */
double plan_series_end(const struct plan_result *r);

/*
 * plan_series - fill pts[0..n-1] with the curve at n evenly spaced times
 * from 0 to t_end_s inclusive (n >= 2; t_end_s > 0). Returns 0, or
 * BND_E_INVAL for n < 2, a NULL pointer or a t_end_s not above 0.
 */
int plan_series(const struct plan_result *r, double t_end_s,
                struct plan_point *pts, size_t n);

/*
 * plan_warning_name - a stable short name for a warning code ("tier",
 * "window_small", ...), used as JSON keys; "unknown" for anything else.
 */
const char *plan_warning_name(enum plan_warning_code code);

/*
 * plan_to_json - the `plan --json` object: at least
 * seconds_to_last_recipient, window, warnings (array of strings), plus the
 * inputs, rates, coverage, retry figures, warning_codes and `series` with
 * series_points points (0 for none; at most 10000). On success stores a new
 * reference in *out (the caller json_decref's it) and returns 0; returns
 * BND_E_INVAL for bad arguments or BND_E_NOMEM. Coverage values are
 * fractions of N (0..1); times are seconds.
 */
int plan_to_json(const struct plan_result *r, size_t series_points, json_t **out);

#endif
