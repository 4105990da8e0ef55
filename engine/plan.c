/*
 * plan.c - the capacity-planning model: a fluid (mean-value) model of one
 * fan-out, evaluated in closed form. docs/CAPACITY.md states the equations
 * with their sources; this comment is the map of the code.
 *
 * 1. Latency L is log-normal, fitted to p50 and p99: mu = ln p50,
 *    sigma = ln(p99 / p50) / z99 (z99 = 2.3263); p99 == p50 means a fixed
 *    latency. E[L] = exp(mu + sigma^2 / 2).
 * 2. Throughput. Requests leave at R_eff = min(R, W / (E[L] + d)): a
 *    window of W slots, each held for the latency plus the sender's dispatch
 *    overhead d (the intent made durable before the wire, the local HTTP
 *    round trip), completes W / (E[L] + d) per second (Little's law). Retries spend the same budget, so new
 *    recipients start at r = R_eff / E[attempts], where a recipient makes
 *    1 attempt when it fails permanently (fraction P) and otherwise
 *    1 + F + ... + F^(K-1) attempts (F: transient failure per attempt,
 *    K: attempts allowed).
 * 3. Tier. With a messaging limit of T unique users per rolling 24 h and
 *    N > T, recipient j cannot start before recipient j - T's start plus
 *    24 h. When a block of T takes less than 24 h at rate r, the schedule
 *    is blocks of T recipients starting at 0, 24 h, 48 h... (the last one
 *    partial); otherwise the rate alone is slower than the tier, which then
 *    never binds.
 * 4. Dispatch curve D(u): recipients first dispatched by u. Per block b it
 *    is a ramp r * [(u - S_b)+ - (u - S_b - len_b)+].
 * 5. Acceptance. Attempt k (0-based) of a recipient succeeds with weight
 *    F^k (1 - F) and is accepted c_k + L after the recipient's first
 *    dispatch, where c_k adds, per earlier failed attempt, the mean latency
 *    plus the sender's mean retry wait 0.75 min(1 s * 2^j, 60 s). So the
 *    expected count accepted by t is
 *        (1 - P) * sum_k w_k * E[D(t - c_k - L)]
 *    and E[(y - L)+] has the closed form H(y) = y Phi(z) - E[L] Phi(z - sigma)
 *    with z = (ln y - mu) / sigma. Coverage is that count over N.
 * 6. A recipient is settled when its outcome is known: accepted, failed
 *    permanently (at its first response) or given up (at the response to
 *    its K-th failed attempt). The last recipient is settled when the
 *    expected number not yet settled drops below one half:
 *    N (1 - S(t)) <= 0.5, found by bisection on the non-decreasing S. Using
 *    "settled" rather than "accepted" keeps the figure honest: more errors
 *    never make a fan-out finish sooner (fewer successes would otherwise
 *    make the last success come earlier), and it is when the sender is done.
 *
 * Evaluating C(t) touches only the blocks whose ramp, shifted by c_k and the
 * latency tail (exp(mu + 7 sigma): P(Z > 7) ~ 1e-12 of the mass ignored),
 * overlaps t; older blocks count whole. So one evaluation costs O(K) even
 * for thousands of 24 h windows.
 *
 * Invariants: no I/O, no clock, no allocation outside plan_to_json; every
 * input is validated before use, so no NaN reaches the arithmetic.
 */
#include "plan.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bnd.h"

#define Z99 2.3263478740408408   /* standard normal 99th percentile */
#define TAIL_SIGMAS 7.0          /* latency mass beyond exp(mu + 7 sigma) ignored */

void plan_input_defaults(struct plan_input *in)
{
	memset(in, 0, sizeof *in);
	in->recipients = 0;
	in->rate = PLAN_DEFAULT_RATE;
	in->tier = PLAN_DEFAULT_TIER;
	in->latency_p50_s = PLAN_DEFAULT_LATENCY_P50_S;
	in->latency_p99_s = PLAN_DEFAULT_LATENCY_P99_S;
	in->error_rate = 0.0;
	in->permanent_rate = 0.0;
	in->window = PLAN_DEFAULT_WINDOW;
	in->max_attempts = PLAN_DEFAULT_MAX_ATTEMPTS;
	in->pair_interval_s = PLAN_DEFAULT_PAIR_INTERVAL_S;
	in->dispatch_overhead_s = PLAN_DEFAULT_DISPATCH_OVERHEAD_S;
}

static int tier_valid(uint32_t t)
{
	/* 250 / 2K / 10K / 100K / unlimited since Oct 2025; 1K was the second
	 * tier before (reference §3.3 and §7.1): accepted for older numbers. */
	return t == 0 || t == 250 || t == 1000 || t == 2000 || t == 10000 || t == 100000;
}

int plan_validate(const struct plan_input *in)
{
	if (!in)
		return BND_E_INVAL;
	if (in->recipients < 1 || in->recipients > PLAN_MAX_RECIPIENTS)
		return BND_E_PLAN_RECIPIENTS;
	/* Written so that NaN fails every comparison and lands on the error. */
	if (!(in->rate >= PLAN_MIN_RATE && in->rate <= PLAN_MAX_RATE))
		return BND_E_PLAN_RATE;
	if (!tier_valid(in->tier))
		return BND_E_PLAN_TIER;
	if (!(in->latency_p50_s >= 1e-6 && in->latency_p99_s >= in->latency_p50_s &&
	      in->latency_p99_s <= PLAN_MAX_LATENCY_S &&
	      in->latency_p99_s <= PLAN_MAX_LATENCY_SPREAD * in->latency_p50_s))
		return BND_E_PLAN_LATENCY;
	if (!(in->error_rate >= 0.0 && in->error_rate <= PLAN_MAX_ERROR_RATE))
		return BND_E_PLAN_ERROR_RATE;
	if (!(in->permanent_rate >= 0.0 && in->permanent_rate < 1.0))
		return BND_E_PLAN_PERMANENT;
	if (in->window < 1 || in->window > PLAN_MAX_WINDOW)
		return BND_E_PLAN_WINDOW;
	if (in->max_attempts < 1 || in->max_attempts > PLAN_MAX_ATTEMPTS)
		return BND_E_PLAN_ATTEMPTS;
	if (!(in->pair_interval_s >= 0.0 && in->pair_interval_s <= PLAN_MAX_PAIR_INTERVAL_S))
		return BND_E_PLAN_PAIR;
	if (!(in->dispatch_overhead_s >= 0.0 &&
	      in->dispatch_overhead_s <= PLAN_MAX_DISPATCH_OVERHEAD_S))
		return BND_E_PLAN_OVERHEAD;
	return 0;
}

/* Standard normal CDF; erfc keeps precision deep in the tails. */
static double phi(double x)
{
	return 0.5 * erfc(-x / M_SQRT2);
}

/* H(y) = E[(y - L)+]: the expected part of a unit-rate ramp that is past
 * its latency by y seconds after it started. */
static double ramp_h(const struct plan_result *r, double y)
{
	if (y <= 0.0)
		return 0.0;
	if (r->latency_sigma == 0.0)
		return y > r->latency_mean_s ? y - r->latency_mean_s : 0.0;
	double z = (log(y) - r->latency_mu) / r->latency_sigma;
	double h = y * phi(z) - r->latency_mean_s * phi(z - r->latency_sigma);
	return h > 0.0 ? h : 0.0;   /* rounding can give -1e-17 */
}

/* E[D(u - L)]: recipients first dispatched and one latency old by u. */
static double dispatched_accepted(const struct plan_result *r, double u)
{
	if (u <= 0.0)
		return 0.0;
	const double n = (double)r->in.recipients;
	const double rate = r->recipient_rate;
	const uint64_t nb = r->tier_windows;
	const double period = PLAN_TIER_PERIOD_S;

	/* Blocks after b_hi have not started; blocks before b_lo are complete
	 * (their ramp ended more than the latency tail ago). */
	uint64_t b_hi = 0, b_lo;
	if (nb > 1) {
		double q = floor(u / period);
		b_hi = q >= (double)(nb - 1) ? nb - 1 : (uint64_t)q;
	}
	double done_at = u - r->block_len_s - r->latency_tail_s;
	if (done_at < 0.0)
		b_lo = 0;
	else if (nb == 1)
		b_lo = 1;
	else {
		double q = floor(done_at / period) + 1.0;
		b_lo = q >= (double)nb ? nb : (uint64_t)q;
	}
	if (b_lo >= nb)
		return n;
	double count = (double)b_lo * (double)r->block_size;
	for (uint64_t b = b_lo; b <= b_hi; b++) {
		double nbk = b == nb - 1
			? n - (double)(nb - 1) * (double)r->block_size
			: (double)r->block_size;
		double len = nbk / rate;
		double y = u - (double)b * period;
		count += rate * (ramp_h(r, y) - ramp_h(r, y - len));
	}
	return count < n ? count : n;
}

double plan_coverage_at(const struct plan_result *r, double t_s)
{
	if (!(t_s > 0.0))
		return 0.0;
	double acc = 0.0;
	for (uint32_t k = 0; k < r->in.max_attempts; k++) {
		if (r->attempt_weight[k] <= 0.0)
			continue;
		acc += r->attempt_weight[k] *
		       dispatched_accepted(r, t_s - r->attempt_offset_s[k]);
	}
	double c = (1.0 - r->in.permanent_rate) * acc / (double)r->in.recipients;
	return c < r->coverage_final ? c : r->coverage_final;
}

double plan_settled_at(const struct plan_result *r, double t_s)
{
	if (!(t_s > 0.0))
		return 0.0;
	const double p = r->in.permanent_rate;
	const uint32_t k_last = r->in.max_attempts - 1;
	/* accepted, by attempt */
	double acc = 0.0;
	for (uint32_t k = 0; k <= k_last; k++) {
		if (r->attempt_weight[k] <= 0.0)
			continue;
		acc += r->attempt_weight[k] *
		       dispatched_accepted(r, t_s - r->attempt_offset_s[k]);
	}
	/* given up: the response to the last attempt, weight F^K */
	double give_up = r->give_up_weight > 0.0
		? r->give_up_weight * dispatched_accepted(r, t_s - r->attempt_offset_s[k_last])
		: 0.0;
	/* permanent failures: at the first response */
	double perm = p > 0.0 ? p * dispatched_accepted(r, t_s) : 0.0;
	double s = ((1.0 - p) * (acc + give_up) + perm) / (double)r->in.recipients;
	return s < 1.0 ? s : 1.0;
}

/* A time by which everything that will be accepted is (to ~1e-12 of N). */
static double horizon(const struct plan_result *r)
{
	double last_start = (double)(r->tier_windows - 1) * PLAN_TIER_PERIOD_S;
	double last_n = (double)r->in.recipients -
	                (double)(r->tier_windows - 1) * (double)r->block_size;
	return last_start + last_n / r->recipient_rate +
	       r->attempt_offset_s[r->in.max_attempts - 1] + r->latency_tail_s + 1.0;
}

/* The earliest t with f(r, t) >= level, f non-decreasing. Bounded
 * bisection: 200 halvings exceed double precision for any horizon, and
 * 1 ms is finer than anything the model resolves. */
static double solve(const struct plan_result *r,
                    double (*f)(const struct plan_result *, double), double level)
{
	double lo = 0.0, hi = horizon(r);
	for (int i = 0; i < 200 && hi - lo > 1e-3; i++) {
		double mid = lo + (hi - lo) / 2.0;
		if (f(r, mid) >= level)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

double plan_time_to(const struct plan_result *r, double coverage)
{
	if (!(coverage > 0.0))
		return 0.0;
	if (coverage > r->coverage_final * (1.0 + 1e-12))
		return -1.0;
	return solve(r, plan_coverage_at, coverage);
}

double plan_series_end(const struct plan_result *r)
{
	double t = r->seconds_to_last_recipient * 1.05;
	return t > 60.0 ? t : 60.0;
}

int plan_series(const struct plan_result *r, double t_end_s,
                struct plan_point *pts, size_t n)
{
	if (!r || !pts || n < 2 || !(t_end_s > 0.0) || !isfinite(t_end_s))
		return BND_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		double t = i == n - 1 ? t_end_s : t_end_s * (double)i / (double)(n - 1);
		pts[i].t_s = t;
		pts[i].coverage = plan_coverage_at(r, t);
	}
	return 0;
}

/* --- warnings ------------------------------------------------------- */

/* 300000 -> "300,000": the reference writes counts this way. */
static void fmt_count(char buf[32], uint64_t v)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	int o = 0;
	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

static void fmt_duration(char buf[48], double s)
{
	if (s < 60.0) {
		snprintf(buf, 48, "%.1f s", s);
		return;
	}
	uint64_t x = (uint64_t)(s + 0.5);
	uint64_t d = x / 86400, h = x % 86400 / 3600, m = x % 3600 / 60, sec = x % 60;
	if (d > 0)
		snprintf(buf, 48, "%" PRIu64 " d %" PRIu64 " h %" PRIu64 " min", d, h, m);
	else if (h > 0)
		snprintf(buf, 48, "%" PRIu64 " h %" PRIu64 " min", h, m);
	else
		snprintf(buf, 48, "%" PRIu64 " min %" PRIu64 " s", m, sec);
}

static void tier_label(char buf[32], uint32_t tier)
{
	if (tier == 0)
		snprintf(buf, 32, "unlimited");
	else
		fmt_count(buf, tier);
}

__attribute__((format(printf, 3, 4)))
static void warn(struct plan_result *r, enum plan_warning_code code, const char *fmt, ...)
{
	if (r->nwarnings >= PLAN_MAX_WARNINGS)
		return;
	struct plan_warning *w = &r->warnings[r->nwarnings++];
	w->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->text, sizeof w->text, fmt, ap);
	va_end(ap);
}

static void add_warnings(struct plan_result *r)
{
	const struct plan_input *in = &r->in;
	char n_s[32], t_s[32], last_s[48], x_s[32];
	fmt_count(n_s, in->recipients);
	tier_label(t_s, in->tier);
	fmt_duration(last_s, r->seconds_to_last_recipient);

	if (in->tier != 0 && in->recipients > in->tier) {
		uint64_t windows = (in->recipients + in->tier - 1) / in->tier;
		warn(r, PLAN_WARN_TIER,
		     "messaging tier %s reaches at most %s unique users per rolling 24 h, "
		     "so it cannot cover %s recipients within 24 h: they need %" PRIu64
		     " windows of 24 h and the last recipient is reached after %s "
		     "(the unlimited tier reaches everyone in one pass)",
		     t_s, t_s, n_s, windows, last_s);
	} else if (r->seconds_to_last_recipient > PLAN_TIER_PERIOD_S) {
		warn(r, PLAN_WARN_LONG,
		     "the fan-out lasts %s, more than 24 h, at %.1f new recipients/s: "
		     "a notice with an expiry may lapse before the last recipient",
		     last_s, r->recipient_rate);
	}
	if (r->limited_by_window) {
		warn(r, PLAN_WARN_WINDOW_SMALL,
		     "window %" PRIu32 " sustains only %.1f msg/s at a mean latency of %.0f ms "
		     "plus %g ms of dispatch overhead (Little's law: window / time held), "
		     "below the rate limit of %g msg/s: the window paces the fan-out, not the "
		     "API; use --window %" PRIu32 " or more (rate x (p99 latency + overhead))",
		     in->window, r->little_rate, r->latency_mean_s * 1000.0,
		     in->dispatch_overhead_s * 1000.0, in->rate, r->window_recommended);
	} else if ((double)in->window > PLAN_WARN_WINDOW_FACTOR * r->window_recommended &&
		   in->window > PLAN_WARN_WINDOW_FLOOR) {
		warn(r, PLAN_WARN_WINDOW_LARGE,
		     "window %" PRIu32 " is far above the %" PRIu32 " this rate needs "
		     "(rate x p99 latency): it adds no speed, and after a crash up to %"
		     PRIu32 " recipients may be messaged twice",
		     in->window, r->window_recommended, in->window);
	}
	if (in->rate > PLAN_RATE_UPGRADED_LIMIT) {
		warn(r, PLAN_WARN_RATE_MAX,
		     "rate %g msg/s is above 1,000 msg/s, the highest throughput Meta documents "
		     "per number: the API answers 130429 above its limit", in->rate);
	}
	if (in->rate > PLAN_RATE_DEFAULT_LIMIT && in->tier != 0) {
		warn(r, PLAN_WARN_RATE_TIER,
		     "rate %g msg/s is above 80 msg/s and needs the upgrade to 1,000 msg/s, which Meta grants only with the "
		     "unlimited messaging tier (this plan: tier %s): a number at 80 msg/s "
		     "answers 130429 above it", in->rate, t_s);
	} else if (in->rate > PLAN_RATE_DEFAULT_LIMIT &&
		   in->recipients < PLAN_UPGRADE_MIN_AUDIENCE) {
		warn(r, PLAN_WARN_RATE_AUDIENCE,
		     "rate %g msg/s assumes the number was upgraded to 1,000 msg/s, which Meta "
		     "does after it messages 100,000 unique users within 24 h: %s recipients "
		     "alone do not earn it, and a number not yet upgraded stays at 80 msg/s",
		     in->rate, n_s);
	}
	if (in->error_rate > PLAN_WARN_ERROR_RATE) {
		warn(r, PLAN_WARN_ERRORS,
		     "transient error rate %.1f%% adds %.1f%% extra requests (retries after "
		     "1, 2, 4... s, at least %g s apart per user): errors this frequent "
		     "usually mean an outage or a rate above the number's limit",
		     in->error_rate * 100.0, r->retry_overhead * 100.0, in->pair_interval_s);
	}
	if (r->expected_gave_up >= 1.0) {
		fmt_count(x_s, (uint64_t)(r->expected_gave_up + 0.5));
		warn(r, PLAN_WARN_GIVE_UP,
		     "about %s recipients are expected to fail all %" PRIu32
		     " attempts at a %.1f%% transient error rate and stay unreached",
		     x_s, in->max_attempts, in->error_rate * 100.0);
	}
	if (in->permanent_rate > PLAN_WARN_PERMANENT_RATE) {
		fmt_count(x_s, (uint64_t)(r->expected_permanent + 0.5));
		warn(r, PLAN_WARN_PERMANENT,
		     "%.1f%% of recipients fail permanently (not on WhatsApp, 131026, and the "
		     "like): about %s numbers to clean from the list",
		     in->permanent_rate * 100.0, x_s);
	}
	if ((double)in->recipients * r->coverage_final < 0.5) {
		warn(r, PLAN_WARN_NOBODY,
		     "fewer than one recipient is expected to be reached");
	}
}

static uint32_t ceil_u32(double x)
{
	/* The epsilon keeps 1000 x 0.2 = 200.00000000000003 at 200. */
	double c = ceil(x - 1e-9);
	if (c < 1.0)
		return 1;
	if (c > (double)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)c;
}

int plan_compute(const struct plan_input *in, struct plan_result *out)
{
	int rc = plan_validate(in);
	if (rc)
		return rc;
	if (!out)
		return BND_E_INVAL;

	struct plan_result r;
	memset(&r, 0, sizeof r);
	r.in = *in;
	const double n = (double)in->recipients;
	const double f = in->error_rate, p = in->permanent_rate;
	const uint32_t k_max = in->max_attempts;

	/* 1. latency */
	r.latency_mu = log(in->latency_p50_s);
	r.latency_sigma = log(in->latency_p99_s / in->latency_p50_s) / Z99;
	if (r.latency_sigma < 1e-12)
		r.latency_sigma = 0.0;
	r.latency_mean_s = exp(r.latency_mu + r.latency_sigma * r.latency_sigma / 2.0);
	r.latency_tail_s = exp(r.latency_mu + TAIL_SIGMAS * r.latency_sigma);

	/* 2. throughput and retries */
	r.little_rate = (double)in->window / (r.latency_mean_s + in->dispatch_overhead_s);
	/* A relative margin: W = R x L exactly (200 x 0.2 s at 1,000/s) must
	 * not count as window-limited through a rounding error. */
	r.limited_by_window = r.little_rate < in->rate * (1.0 - 1e-9);
	r.effective_rate = r.limited_by_window ? r.little_rate : in->rate;
	double geo = 0.0, fk = 1.0;          /* 1 + F + ... + F^(K-1); F^K */
	for (uint32_t k = 0; k < k_max; k++) {
		geo += fk;
		fk *= f;
	}
	r.attempts_per_recipient = p + (1.0 - p) * geo;
	r.recipient_rate = r.effective_rate / r.attempts_per_recipient;
	r.retry_overhead = r.attempts_per_recipient - 1.0;
	r.expected_retries = n * r.retry_overhead;
	r.expected_permanent = n * p;
	r.expected_gave_up = n * (1.0 - p) * fk;
	r.coverage_final = (1.0 - p) * (1.0 - fk);
	r.give_up_weight = fk;

	double w = 1.0, c = 0.0;
	for (uint32_t k = 0; k < k_max; k++) {
		r.attempt_weight[k] = w * (1.0 - f);
		r.attempt_offset_s[k] = c;
		/* The wait before retry k+1: the sender's backoff, d = 1 s x 2^k
		 * capped at 60 s, drawn uniformly in [d/2, d] (limiter_backoff_ns):
		 * 0.75 d on average. The pair spacing does not apply: it counts
		 * messages the API accepted, and a transient failure is none
		 * (plan --simulate showed the old 6 s floor 37% too slow). */
		double backoff = PLAN_BACKOFF_BASE_S * ldexp(1.0, (int)k);
		if (backoff > PLAN_BACKOFF_CAP_S)
			backoff = PLAN_BACKOFF_CAP_S;
		c += r.latency_mean_s + PLAN_BACKOFF_JITTER_MEAN * backoff;
		w *= f;
	}

	/* window sizing for the configured rate */
	r.window_min = ceil_u32(in->rate * (r.latency_mean_s + in->dispatch_overhead_s));
	r.window_recommended = ceil_u32(in->rate * (in->latency_p99_s + in->dispatch_overhead_s));
	r.connections_h2 = ceil_u32((double)r.window_recommended / PLAN_H2_STREAMS);
	r.connections_http1 = r.window_recommended;

	/* 3. tier schedule */
	r.tier_windows = 1;
	r.block_size = in->recipients;
	if (in->tier != 0 && in->recipients > in->tier &&
	    (double)in->tier / r.recipient_rate < PLAN_TIER_PERIOD_S) {
		r.block_size = in->tier;
		r.tier_windows = (in->recipients + in->tier - 1) / in->tier;
	}
	r.block_len_s = (double)r.block_size / r.recipient_rate;

	/* 4-6. coverage figures */
	r.coverage_1m = plan_coverage_at(&r, 60.0);
	r.coverage_5m = plan_coverage_at(&r, 300.0);
	r.coverage_15m = plan_coverage_at(&r, 900.0);
	r.seconds_to_last_recipient = solve(&r, plan_settled_at, 1.0 - 0.5 / n);
	r.seconds_to_50pct = plan_time_to(&r, 0.5);
	r.seconds_to_90pct = plan_time_to(&r, 0.9);

	add_warnings(&r);
	*out = r;
	return 0;
}

const char *plan_warning_name(enum plan_warning_code code)
{
	switch (code) {
	case PLAN_WARN_TIER: return "tier";
	case PLAN_WARN_LONG: return "long";
	case PLAN_WARN_WINDOW_SMALL: return "window_small";
	case PLAN_WARN_WINDOW_LARGE: return "window_large";
	case PLAN_WARN_RATE_MAX: return "rate_max";
	case PLAN_WARN_RATE_TIER: return "rate_tier";
	case PLAN_WARN_RATE_AUDIENCE: return "rate_audience";
	case PLAN_WARN_ERRORS: return "errors";
	case PLAN_WARN_GIVE_UP: return "give_up";
	case PLAN_WARN_PERMANENT: return "permanent";
	case PLAN_WARN_NOBODY: return "nobody";
	}
	return "unknown";
}

/* --- JSON ------------------------------------------------------------ */

/* json_object_set_new that remembers a failure (NULL value or no memory). */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
	if (json_object_set_new(o, key, v) != 0)
		*bad = 1;
}

static json_t *time_or_null(double t)
{
	return t < 0.0 ? json_null() : json_real(t);
}

int plan_to_json(const struct plan_result *r, size_t series_points, json_t **out)
{
	if (!r || !out || series_points == 1 || series_points > 10000)
		return BND_E_INVAL;
	int bad = 0;
	char label[32];
	json_t *o = json_object();
	json_t *in = json_object();
	json_t *warnings = json_array();
	json_t *codes = json_array();
	if (!o || !in || !warnings || !codes) {
		json_decref(o);
		json_decref(in);
		json_decref(warnings);
		json_decref(codes);
		return BND_E_NOMEM;
	}

	tier_label(label, r->in.tier);
	put(in, "recipients", json_integer((json_int_t)r->in.recipients), &bad);
	put(in, "rate", json_real(r->in.rate), &bad);
	put(in, "tier", json_integer(r->in.tier), &bad);
	put(in, "tier_label", json_string(label), &bad);
	put(in, "latency_p50_ms", json_real(r->in.latency_p50_s * 1000.0), &bad);
	put(in, "latency_p99_ms", json_real(r->in.latency_p99_s * 1000.0), &bad);
	put(in, "error_rate", json_real(r->in.error_rate), &bad);
	put(in, "permanent_rate", json_real(r->in.permanent_rate), &bad);
	put(in, "window", json_integer(r->in.window), &bad);
	put(in, "max_attempts", json_integer(r->in.max_attempts), &bad);
	put(in, "pair_interval_s", json_real(r->in.pair_interval_s), &bad);
	put(in, "dispatch_overhead_ms", json_real(r->in.dispatch_overhead_s * 1000.0), &bad);

	put(o, "model", json_string(PLAN_MODEL_VERSION), &bad);
	put(o, "inputs", in, &bad);
	put(o, "seconds_to_last_recipient", json_real(r->seconds_to_last_recipient), &bad);
	put(o, "minutes_to_last_recipient", json_real(r->seconds_to_last_recipient / 60.0), &bad);
	put(o, "tier_windows", json_integer((json_int_t)r->tier_windows), &bad);
	put(o, "window", json_integer(r->window_recommended), &bad);
	put(o, "window_min", json_integer(r->window_min), &bad);
	put(o, "window_configured", json_integer(r->in.window), &bad);
	put(o, "connections", json_integer(r->connections_h2), &bad);
	put(o, "connections_http1", json_integer(r->connections_http1), &bad);
	put(o, "effective_rate", json_real(r->effective_rate), &bad);
	put(o, "window_rate", json_real(r->little_rate), &bad);
	put(o, "limited_by", json_string(r->limited_by_window ? "window" : "rate"), &bad);
	put(o, "recipient_rate", json_real(r->recipient_rate), &bad);
	put(o, "latency_mean_ms", json_real(r->latency_mean_s * 1000.0), &bad);
	put(o, "coverage_1m", json_real(r->coverage_1m), &bad);
	put(o, "coverage_5m", json_real(r->coverage_5m), &bad);
	put(o, "coverage_15m", json_real(r->coverage_15m), &bad);
	put(o, "coverage_final", json_real(r->coverage_final), &bad);
	put(o, "seconds_to_50pct", time_or_null(r->seconds_to_50pct), &bad);
	put(o, "seconds_to_90pct", time_or_null(r->seconds_to_90pct), &bad);
	put(o, "attempts_per_recipient", json_real(r->attempts_per_recipient), &bad);
	put(o, "retry_overhead", json_real(r->retry_overhead), &bad);
	put(o, "expected_retries", json_real(r->expected_retries), &bad);
	put(o, "expected_gave_up", json_real(r->expected_gave_up), &bad);
	put(o, "expected_permanent_failures", json_real(r->expected_permanent), &bad);
	for (size_t i = 0; i < r->nwarnings; i++) {
		if (json_array_append_new(warnings, json_string(r->warnings[i].text)) ||
		    json_array_append_new(codes,
		                          json_string(plan_warning_name(r->warnings[i].code))))
			bad = 1;
	}
	put(o, "warnings", warnings, &bad);
	put(o, "warning_codes", codes, &bad);

	if (series_points >= 2) {
		json_t *series = json_array();
		double t_end = plan_series_end(r);
		for (size_t i = 0; series && i < series_points; i++) {
			double t = i == series_points - 1
				? t_end : t_end * (double)i / (double)(series_points - 1);
			json_t *pt = json_object();
			if (!pt) {
				bad = 1;
				break;
			}
			put(pt, "t_s", json_real(t), &bad);
			put(pt, "coverage", json_real(plan_coverage_at(r, t)), &bad);
			if (json_array_append_new(series, pt))
				bad = 1;
		}
		put(o, "series", series, &bad);
	}
	if (bad) {
		json_decref(o);
		return BND_E_NOMEM;
	}
	*out = o;
	return 0;
}
