/* test_plan.c - the capacity-planning model (engine/plan.c): closed forms,
 * Little's law, the messaging tier, retries, monotonicity, the curve, the
 * warnings, input validation and the JSON shape. Expected values are
 * derived here from the reference's formulas, not copied from the model. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bnd.h"
#include "plan.h"

#define Z99 2.3263478740408408

static struct plan_input base(uint64_t n, double rate)
{
	struct plan_input in;
	plan_input_defaults(&in);
	in.recipients = n;
	in.rate = rate;
	return in;
}

/* A fixed latency makes the model's curve piecewise linear. */
static void fixed_latency(struct plan_input *in, double s)
{
	in->latency_p50_s = s;
	in->latency_p99_s = s;
}

static struct plan_result run(const struct plan_input *in)
{
	struct plan_result r;
	int rc = plan_compute(in, &r);
	cr_assert_eq(rc, 0, "plan_compute: %s", bnd_strerror(rc));
	return r;
}

static int has_warning(const struct plan_result *r, enum plan_warning_code code)
{
	for (size_t i = 0; i < r->nwarnings; i++)
		if (r->warnings[i].code == code)
			return 1;
	return 0;
}

/* ---- closed forms (reference §3.6: ~63 min at 80 mps, ~5 min at 1,000) ---- */

Test(plan, reaches_300k_at_80_per_s_in_62_and_a_half_minutes)
{
	struct plan_input in = base(300000, 80);
	fixed_latency(&in, 0.2);
	struct plan_result r = run(&in);
	/* Last recipient dispatched at (N - 1) / R, accepted one latency later;
	 * the fluid model puts it half a slot later: (N - 0.5) / R + L. */
	double want = (300000 - 0.5) / 80.0 + 0.2;
	cr_assert_float_eq(r.seconds_to_last_recipient, want, 0.01,
	                   "got %f want %f", r.seconds_to_last_recipient, want);
	cr_assert_float_eq(r.seconds_to_last_recipient / 60.0, 62.5, 0.01);
	cr_assert_eq(r.limited_by_window, 0);
	cr_assert_eq(r.nwarnings, 0);

	/* With the default log-normal latency only the latency tail is added. */
	struct plan_input dl = base(300000, 80);
	struct plan_result rl = run(&dl);
	cr_assert_gt(rl.seconds_to_last_recipient, 3750.0);
	cr_assert_lt(rl.seconds_to_last_recipient, 3750.0 + 10.0);
}

Test(plan, reaches_300k_at_1000_per_s_in_5_minutes)
{
	struct plan_input in = base(300000, 1000);
	in.window = 2000;
	fixed_latency(&in, 0.2);
	struct plan_result r = run(&in);
	double want = (300000 - 0.5) / 1000.0 + 0.2;
	cr_assert_float_eq(r.seconds_to_last_recipient, want, 0.01,
	                   "got %f want %f", r.seconds_to_last_recipient, want);
	cr_assert_float_eq(r.seconds_to_last_recipient / 60.0, 5.0, 0.01);
}

Test(plan, coverage_follows_the_ramp_between_its_ends)
{
	struct plan_input in = base(300000, 80);
	fixed_latency(&in, 0.2);
	struct plan_result r = run(&in);
	/* Accepted by t: everyone dispatched by t - L, at R per second. */
	cr_assert_float_eq(r.coverage_1m, 80.0 * (60 - 0.2) / 300000, 1e-9);
	cr_assert_float_eq(r.coverage_5m, 80.0 * (300 - 0.2) / 300000, 1e-9);
	cr_assert_float_eq(r.coverage_15m, 80.0 * (900 - 0.2) / 300000, 1e-9);
	cr_assert_float_eq(plan_coverage_at(&r, 0.1), 0.0, 1e-12, "nothing before one latency");
	cr_assert_float_eq(plan_coverage_at(&r, 1e6), 1.0, 1e-12);
	cr_assert_float_eq(r.seconds_to_50pct, 150000 / 80.0 + 0.2, 0.002);
	cr_assert_float_eq(r.seconds_to_90pct, 270000 / 80.0 + 0.2, 0.002);
}

Test(plan, small_audience_is_done_within_a_minute)
{
	struct plan_input in = base(100, 80);
	struct plan_result r = run(&in);
	cr_assert_lt(r.seconds_to_last_recipient, 60.0);
	cr_assert_float_eq(r.coverage_1m, 1.0, 1e-6);
	cr_assert_float_eq(r.coverage_15m, 1.0, 1e-12);
}

/* ---- Little's law ---- */

Test(plan, window_of_10_at_250_ms_gives_40_per_s)
{
	struct plan_input in = base(4000, 80);
	in.window = 10;
	in.dispatch_overhead_s = 0.0;   /* Little's law alone */
	fixed_latency(&in, 0.25);
	struct plan_result r = run(&in);
	cr_assert_float_eq(r.effective_rate, 40.0, 1e-9);
	cr_assert_eq(r.limited_by_window, 1);
	cr_assert(has_warning(&r, PLAN_WARN_WINDOW_SMALL));
	cr_assert_float_eq(r.seconds_to_last_recipient, (4000 - 0.5) / 40.0 + 0.25, 0.01);
	/* The window the rate needs: R x latency = 80 x 0.25. */
	cr_assert_eq(r.window_min, 20);
	cr_assert_eq(r.window_recommended, 20);
}

Test(plan, little_uses_the_log_normal_mean)
{
	struct plan_input in = base(10000, 1000);
	in.window = 64;
	in.dispatch_overhead_s = 0.0;
	in.latency_p50_s = 0.25;
	in.latency_p99_s = 2.0;
	struct plan_result r = run(&in);
	double sigma = log(8.0) / Z99;
	double mean = 0.25 * exp(sigma * sigma / 2);
	cr_assert_float_eq(r.latency_mean_s, mean, 1e-12);
	cr_assert_float_eq(r.effective_rate, 64 / mean, 1e-9);
	cr_assert_eq(r.window_min, (uint32_t)ceil(1000 * mean));
	cr_assert_eq(r.window_recommended, 2000);
	cr_assert_eq(r.connections_h2, 20);
	cr_assert_eq(r.connections_http1, 2000);
}

Test(plan, window_sizing_for_200_ms_at_1000_per_s)
{
	/* engine-notes §0: ~200 in flight at 1,000/s and 200 ms: 2-3 h2 connections. */
	struct plan_input in = base(300000, 1000);
	fixed_latency(&in, 0.2);
	in.dispatch_overhead_s = 0.0;
	struct plan_result r = run(&in);
	cr_assert_eq(r.window_min, 200);
	cr_assert_eq(r.window_recommended, 200);
	cr_assert_eq(r.connections_h2, 2);
	cr_assert_eq(r.connections_http1, 200);
	cr_assert(r.limited_by_window, "the default window 64 is too small here");
	in.window = 200;
	r = run(&in);
	cr_assert_eq(r.limited_by_window, 0);
	cr_assert_float_eq(r.effective_rate, 1000.0, 1e-9);
}

Test(plan, dispatch_overhead_holds_each_slot_longer)
{
	/* The sender holds a window slot for the latency plus its own overhead
	 * (the intent's fdatasync before the wire): 200 slots at 200 ms + 5 ms
	 * carry 200 / 0.205 = 975.6/s, not 1,000/s; the window the rate needs
	 * grows to 1000 x 0.205 = 205. */
	struct plan_input in = base(20000, 1000);
	fixed_latency(&in, 0.2);
	in.window = 200;
	cr_assert_float_eq(in.dispatch_overhead_s, PLAN_DEFAULT_DISPATCH_OVERHEAD_S, 1e-15);
	in.dispatch_overhead_s = 0.005;
	struct plan_result r = run(&in);
	cr_assert_float_eq(r.effective_rate, 200 / 0.205, 1e-9);
	cr_assert_eq(r.limited_by_window, 1);
	cr_assert(has_warning(&r, PLAN_WARN_WINDOW_SMALL));
	cr_assert_eq(r.window_min, 205);
	cr_assert_eq(r.window_recommended, 205);
	cr_assert_float_eq(r.seconds_to_last_recipient, (20000 - 0.5) / (200 / 0.205) + 0.2, 0.01);
	in.window = 205;
	r = run(&in);
	cr_assert_eq(r.limited_by_window, 0);
	cr_assert_float_eq(r.seconds_to_last_recipient, (20000 - 0.5) / 1000.0 + 0.2, 0.01);
}

/* ---- the messaging tier ---- */

Test(plan, tier_100k_with_300k_recipients_takes_three_windows)
{
	struct plan_input in = base(300000, 80);
	in.tier = 100000;
	fixed_latency(&in, 0.2);
	struct plan_result r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_TIER));
	cr_assert_eq(r.tier_windows, 3);
	/* Two full days of waiting, then the last 100K at 80/s. */
	double want = 2 * 86400.0 + (100000 - 0.5) / 80.0 + 0.2;
	cr_assert_float_eq(r.seconds_to_last_recipient, want, 0.01,
	                   "got %f want %f", r.seconds_to_last_recipient, want);
	cr_assert_gt(r.seconds_to_last_recipient, 2 * 86400.0, "multi-day");
	/* A third of the audience in the first window, two thirds after 24 h. */
	cr_assert_float_eq(plan_coverage_at(&r, 86399.0), 1.0 / 3, 1e-9);
	cr_assert_float_eq(plan_coverage_at(&r, 2 * 86399.0), 2.0 / 3, 1e-9);
	cr_assert_float_eq(plan_coverage_at(&r, 86400.0 + 600.0),
	                   (100000 + 80 * (600 - 0.2)) / 300000.0, 1e-9);

	in.tier = 0;
	struct plan_result u = run(&in);
	cr_assert_not(has_warning(&u, PLAN_WARN_TIER));
	cr_assert_eq(u.tier_windows, 1);
	cr_assert_lt(u.seconds_to_last_recipient, 3800.0);
}

Test(plan, tier_at_or_above_the_audience_does_not_bind)
{
	struct plan_input in = base(100000, 80);
	in.tier = 100000;
	struct plan_result r = run(&in);
	cr_assert_not(has_warning(&r, PLAN_WARN_TIER));
	cr_assert_eq(r.tier_windows, 1);
}

Test(plan, slow_rate_is_slower_than_the_tier)
{
	/* 100K at 1/s take longer than 24 h, so the tier never stops the
	 * sender; the audience still cannot be covered within 24 h. */
	struct plan_input in = base(300000, 1);
	in.tier = 100000;
	fixed_latency(&in, 0.2);
	struct plan_result r = run(&in);
	cr_assert_eq(r.tier_windows, 1);
	cr_assert_float_eq(r.seconds_to_last_recipient, 300000 - 0.5 + 0.2, 0.01);
	cr_assert(has_warning(&r, PLAN_WARN_TIER));
}

Test(plan, thousands_of_windows_stay_cheap_and_finite)
{
	struct plan_input in = base(1000000000, 80);
	in.tier = 250;
	struct plan_result r = run(&in);
	cr_assert_eq(r.tier_windows, 4000000);
	cr_assert(isfinite(r.seconds_to_last_recipient));
	cr_assert_gt(r.seconds_to_last_recipient, (4000000 - 1) * 86400.0);
	cr_assert_lt(r.seconds_to_last_recipient, 4000000 * 86400.0);
	cr_assert(has_warning(&r, PLAN_WARN_TIER));
}

/* ---- retries and failures ---- */

Test(plan, retries_cost_throughput_and_coverage)
{
	struct plan_input in = base(100000, 80);
	in.error_rate = 0.1;
	in.max_attempts = 8;
	fixed_latency(&in, 0.2);
	struct plan_result r = run(&in);
	double attempts = (1 - pow(0.1, 8)) / 0.9;
	cr_assert_float_eq(r.attempts_per_recipient, attempts, 1e-12);
	cr_assert_float_eq(r.retry_overhead, attempts - 1, 1e-12);
	cr_assert_float_eq(r.expected_retries, 100000 * (attempts - 1), 1e-6);
	cr_assert_float_eq(r.recipient_rate, 80 / attempts, 1e-9);
	cr_assert_float_eq(r.coverage_final, 1 - 1e-8, 1e-15);
	cr_assert(has_warning(&r, PLAN_WARN_ERRORS));
	cr_assert_not(has_warning(&r, PLAN_WARN_GIVE_UP), "1e-3 expected: fewer than one");
	/* Retry j waits the sender's mean backoff, 0.75 x 2^j s (not the
	 * pair interval: that counts accepted messages only). */
	cr_assert_float_eq(r.attempt_offset_s[1], 0.2 + 0.75, 1e-12);
	cr_assert_float_eq(r.attempt_offset_s[4], 4 * 0.2 + 0.75 * (1 + 2 + 4 + 8), 1e-12);
	/* Dispatch ends at N x attempts / R; retries end after it. */
	cr_assert_gt(r.seconds_to_last_recipient, 100000 * attempts / 80.0);
}

Test(plan, retries_wait_the_senders_jittered_backoff)
{
	/* The sender waits uniform [d/2, d] with d = 1 s, 2 s, 4 s ... (60 s
	 * cap): 0.75 d on average; the pair spacing counts accepted messages
	 * only, so it does not space the retries of transient failures. */
	struct plan_input in = base(50000, 80);
	in.error_rate = 0.2;
	in.pair_interval_s = 0;
	struct plan_result loose = run(&in);
	double l = loose.latency_mean_s;
	cr_assert_float_eq(loose.attempt_offset_s[1], l + 0.75, 1e-12);
	cr_assert_float_eq(loose.attempt_offset_s[2], 2 * l + 0.75 + 1.5, 1e-12);
	cr_assert_float_eq(loose.attempt_offset_s[7] - loose.attempt_offset_s[6], l + 0.75 * 60,
	                   1e-9, "capped at 60 s");
	in.pair_interval_s = 6;
	struct plan_result tight = run(&in);
	cr_assert_float_eq(tight.seconds_to_last_recipient, loose.seconds_to_last_recipient, 1e-9);
}

Test(plan, exhausted_attempts_and_permanent_failures_lower_coverage)
{
	struct plan_input in = base(10000, 80);
	in.error_rate = 0.5;
	in.max_attempts = 2;
	in.permanent_rate = 0.2;
	struct plan_result r = run(&in);
	cr_assert_float_eq(r.coverage_final, 0.8 * 0.75, 1e-12);
	cr_assert_float_eq(r.expected_gave_up, 10000 * 0.8 * 0.25, 1e-6);
	cr_assert_float_eq(r.expected_permanent, 2000, 1e-6);
	cr_assert_float_eq(r.attempts_per_recipient, 0.2 + 0.8 * 1.5, 1e-12);
	cr_assert(has_warning(&r, PLAN_WARN_GIVE_UP));
	cr_assert(has_warning(&r, PLAN_WARN_PERMANENT));
	cr_assert_lt(r.seconds_to_90pct, 0.0, "90%% is never reached");
	cr_assert_gt(r.seconds_to_50pct, 0.0);
	cr_assert_float_eq(plan_coverage_at(&r, 1e7), r.coverage_final, 1e-12);
}

Test(plan, failures_settle_at_their_last_response)
{
	/* One attempt each: half fail, but everyone is settled one latency
	 * after their request, exactly like the error-free plan. */
	struct plan_input in = base(8000, 80);
	fixed_latency(&in, 0.2);
	in.max_attempts = 1;
	in.error_rate = 0.5;
	struct plan_result r = run(&in);
	cr_assert_float_eq(r.seconds_to_last_recipient, (8000 - 0.5) / 80.0 + 0.2, 0.01);
	cr_assert_float_eq(r.coverage_final, 0.5, 1e-12);
	/* Two attempts: the given-up ones settle at their second response,
	 * 0.2 + 0.75 s (mean backoff) + 0.2 s after their first request; the
	 * dispatch takes 1.5 requests per recipient. */
	in.max_attempts = 2;
	r = run(&in);
	cr_assert_float_eq(r.seconds_to_last_recipient,
	                   (8000 - 0.5 / 0.5) / (80 / 1.5) + 0.2 + 0.75 + 0.2, 0.02,
	                   "got %f", r.seconds_to_last_recipient);
}

Test(plan, nobody_reached_is_a_warning)
{
	struct plan_input in = base(1, 80);
	in.permanent_rate = 0.9;
	struct plan_result r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_NOBODY));
	/* Settled all the same: one response after one latency. */
	cr_assert_lt(r.seconds_to_last_recipient, 60.0);
}

/* ---- monotonicity ---- */

Test(plan, more_rate_is_never_slower)
{
	const double rates[] = { 1, 5, 20, 50, 80, 100, 250, 500, 1000, 2000, 10000 };
	const uint32_t tiers[] = { 0, 1000, 100000 };
	const uint32_t windows[] = { 8, 64, 5000 };
	for (size_t t = 0; t < 3; t++)
		for (size_t w = 0; w < 3; w++) {
			double prev_last = INFINITY, prev_5m = -1;
			for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
				struct plan_input in = base(300000, rates[i]);
				in.tier = tiers[t];
				in.window = windows[w];
				in.error_rate = 0.03;
				struct plan_result r = run(&in);
				cr_assert_leq(r.seconds_to_last_recipient, prev_last + 1e-6,
				              "rate %g tier %u window %u", rates[i], tiers[t], windows[w]);
				cr_assert_geq(r.coverage_5m, prev_5m - 1e-12);
				prev_last = r.seconds_to_last_recipient;
				prev_5m = r.coverage_5m;
			}
		}
}

Test(plan, more_errors_are_never_faster)
{
	const double errs[] = { 0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 0.9, 0.99 };
	double prev_last = 0, prev_final = 2, prev_1m = 2, prev_15m = 2;
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		struct plan_input in = base(100000, 80);
		in.error_rate = errs[i];
		struct plan_result r = run(&in);
		cr_assert_geq(r.seconds_to_last_recipient, prev_last - 1e-6, "error rate %g", errs[i]);
		cr_assert_leq(r.coverage_final, prev_final + 1e-15);
		cr_assert_leq(r.coverage_1m, prev_1m + 1e-12);
		cr_assert_leq(r.coverage_15m, prev_15m + 1e-12);
		prev_last = r.seconds_to_last_recipient;
		prev_final = r.coverage_final;
		prev_1m = r.coverage_1m;
		prev_15m = r.coverage_15m;
	}
}

Test(plan, more_window_and_less_latency_are_never_slower)
{
	const uint32_t windows[] = { 1, 2, 10, 64, 200, 1000, 100000 };
	double prev = INFINITY;
	for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
		struct plan_input in = base(200000, 1000);
		in.window = windows[i];
		struct plan_result r = run(&in);
		cr_assert_leq(r.seconds_to_last_recipient, prev + 1e-6, "window %u", windows[i]);
		prev = r.seconds_to_last_recipient;
	}
	const double p50[] = { 2.0, 1.0, 0.5, 0.25, 0.1, 0.01 };
	prev = INFINITY;
	for (size_t i = 0; i < sizeof p50 / sizeof p50[0]; i++) {
		struct plan_input in = base(200000, 1000);
		in.window = 500;
		in.latency_p50_s = p50[i];
		in.latency_p99_s = p50[i] * 4;
		struct plan_result r = run(&in);
		cr_assert_leq(r.seconds_to_last_recipient, prev + 1e-6, "p50 %g", p50[i]);
		prev = r.seconds_to_last_recipient;
	}
}

/* ---- the curve ---- */

Test(plan, series_agrees_with_the_coverage_figures)
{
	struct plan_input in = base(300000, 80);
	in.error_rate = 0.05;
	in.permanent_rate = 0.01;
	struct plan_result r = run(&in);
	/* 1 s steps over 0..3600 put 60, 300 and 900 s on the grid. */
	static struct plan_point pts[3601];
	cr_assert_eq(plan_series(&r, 3600.0, pts, 3601), 0);
	cr_assert_float_eq(pts[0].t_s, 0.0, 1e-12);
	cr_assert_float_eq(pts[0].coverage, 0.0, 1e-12);
	cr_assert_float_eq(pts[60].t_s, 60.0, 1e-9);
	cr_assert_float_eq(pts[60].coverage, r.coverage_1m, 1e-12);
	cr_assert_float_eq(pts[300].coverage, r.coverage_5m, 1e-12);
	cr_assert_float_eq(pts[900].coverage, r.coverage_15m, 1e-12);
	for (size_t i = 1; i < 3601; i++) {
		cr_assert_geq(pts[i].coverage, pts[i - 1].coverage, "non-decreasing at %zu", i);
		cr_assert_leq(pts[i].coverage, r.coverage_final);
	}
	/* At the last-recipient time fewer than half a recipient is unsettled
	 * (not yet accepted nor failed for good); a second earlier, more is.
	 * Settled is never behind accepted, and ends at everyone. */
	double n = 300000;
	double t = r.seconds_to_last_recipient;
	cr_assert_leq(n * (1 - plan_settled_at(&r, t)), 0.5 + 1e-6);
	cr_assert_gt(n * (1 - plan_settled_at(&r, t - 1.0)), 0.5);
	cr_assert_leq(n * (r.coverage_final - plan_coverage_at(&r, t)), 0.5 + 1e-6);
	for (size_t i = 0; i < 3601; i += 10)
		cr_assert_geq(plan_settled_at(&r, pts[i].t_s), pts[i].coverage);
	cr_assert_float_eq(plan_settled_at(&r, 1e7), 1.0, 1e-12);
	/* The 50% time is where the curve crosses 50%. */
	cr_assert_geq(plan_coverage_at(&r, r.seconds_to_50pct), 0.5);
	cr_assert_lt(plan_coverage_at(&r, r.seconds_to_50pct - 0.01), 0.5);
	/* The default span ends past the last recipient. */
	cr_assert_gt(plan_series_end(&r), t);
}

Test(plan, series_rejects_bad_arguments)
{
	struct plan_input in = base(10, 80);
	struct plan_result r = run(&in);
	struct plan_point pts[2];
	cr_assert_eq(plan_series(&r, 10.0, pts, 1), BND_E_INVAL);
	cr_assert_eq(plan_series(&r, 0.0, pts, 2), BND_E_INVAL);
	cr_assert_eq(plan_series(&r, NAN, pts, 2), BND_E_INVAL);
	cr_assert_eq(plan_series(&r, 10.0, NULL, 2), BND_E_INVAL);
	cr_assert_eq(plan_series(NULL, 10.0, pts, 2), BND_E_INVAL);
}

/* ---- warnings about the API's throughput levels ---- */

Test(plan, warns_when_the_rate_outruns_the_number)
{
	struct plan_input in = base(300000, 1000);
	in.window = 2000;
	in.tier = 10000;
	struct plan_result r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_RATE_TIER));

	in = base(50000, 1000);
	in.window = 2000;
	r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_RATE_AUDIENCE));
	cr_assert_not(has_warning(&r, PLAN_WARN_RATE_TIER));

	in = base(300000, 2000);
	in.window = 5000;
	r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_RATE_MAX));

	in = base(300000, 80);
	r = run(&in);
	cr_assert_eq(r.nwarnings, 0, "the default plan is clean");
	in.rate = 20;
	r = run(&in);
	cr_assert_not(has_warning(&r, PLAN_WARN_RATE_TIER));
}

Test(plan, warns_about_an_oversized_window)
{
	struct plan_input in = base(300000, 80);
	in.window = 5000;
	struct plan_result r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_WINDOW_LARGE));
	in.window = 160;
	r = run(&in);
	cr_assert_not(has_warning(&r, PLAN_WARN_WINDOW_LARGE));
}

Test(plan, warns_when_the_rate_alone_takes_more_than_a_day)
{
	struct plan_input in = base(3000000, 20);
	struct plan_result r = run(&in);
	cr_assert(has_warning(&r, PLAN_WARN_LONG));
	cr_assert_not(has_warning(&r, PLAN_WARN_TIER));
}

Test(plan, warning_names_are_distinct)
{
	for (int a = PLAN_WARN_TIER; a <= PLAN_WARN_NOBODY; a++) {
		cr_assert_str_neq(plan_warning_name(a), "unknown");
		for (int b = a + 1; b <= PLAN_WARN_NOBODY; b++)
			cr_assert_str_neq(plan_warning_name(a), plan_warning_name(b));
	}
	cr_assert_str_eq(plan_warning_name((enum plan_warning_code)999), "unknown");
}

/* ---- validation ---- */

Test(plan, rejects_every_out_of_range_input)
{
	struct plan_input ok = base(1000, 80);
	cr_assert_eq(plan_validate(&ok), 0);
	cr_assert_eq(plan_validate(NULL), BND_E_INVAL);

#define BAD(field, value, code) do { \
		struct plan_input in = ok; \
		in.field = value; \
		cr_assert_eq(plan_validate(&in), code, #field " = " #value); \
		struct plan_result r; \
		memset(&r, 0xa5, sizeof r); \
		cr_assert_eq(plan_compute(&in, &r), code); \
		cr_assert_eq(((unsigned char *)&r)[0], 0xa5, "output untouched"); \
	} while (0)

	BAD(recipients, 0, BND_E_PLAN_RECIPIENTS);
	BAD(dispatch_overhead_s, -0.001, BND_E_PLAN_OVERHEAD);
	BAD(dispatch_overhead_s, 1.5, BND_E_PLAN_OVERHEAD);
	BAD(dispatch_overhead_s, NAN, BND_E_PLAN_OVERHEAD);
	BAD(recipients, PLAN_MAX_RECIPIENTS + 1, BND_E_PLAN_RECIPIENTS);
	BAD(recipients, UINT64_MAX, BND_E_PLAN_RECIPIENTS);
	BAD(rate, 0, BND_E_PLAN_RATE);
	BAD(rate, 1e-300, BND_E_PLAN_RATE);
	BAD(rate, -80, BND_E_PLAN_RATE);
	BAD(rate, 1e9, BND_E_PLAN_RATE);
	BAD(rate, NAN, BND_E_PLAN_RATE);
	BAD(rate, INFINITY, BND_E_PLAN_RATE);
	BAD(tier, 1, BND_E_PLAN_TIER);
	BAD(tier, 5000, BND_E_PLAN_TIER);
	BAD(tier, UINT32_MAX, BND_E_PLAN_TIER);
	BAD(latency_p50_s, 0, BND_E_PLAN_LATENCY);
	BAD(latency_p50_s, -0.2, BND_E_PLAN_LATENCY);
	BAD(latency_p50_s, NAN, BND_E_PLAN_LATENCY);
	BAD(latency_p50_s, 3.0, BND_E_PLAN_LATENCY);   /* above p99 (2 s) */
	BAD(latency_p99_s, 120.0, BND_E_PLAN_LATENCY); /* above 60 s */
	BAD(latency_p99_s, 30.0, BND_E_PLAN_LATENCY);  /* 120 x p50 */
	BAD(latency_p99_s, INFINITY, BND_E_PLAN_LATENCY);
	BAD(error_rate, -0.01, BND_E_PLAN_ERROR_RATE);
	BAD(error_rate, 1.0, BND_E_PLAN_ERROR_RATE);
	BAD(error_rate, NAN, BND_E_PLAN_ERROR_RATE);
	BAD(permanent_rate, 1.0, BND_E_PLAN_PERMANENT);
	BAD(permanent_rate, -1, BND_E_PLAN_PERMANENT);
	BAD(window, 0, BND_E_PLAN_WINDOW);
	BAD(window, PLAN_MAX_WINDOW + 1, BND_E_PLAN_WINDOW);
	BAD(max_attempts, 0, BND_E_PLAN_ATTEMPTS);
	BAD(max_attempts, PLAN_MAX_ATTEMPTS + 1, BND_E_PLAN_ATTEMPTS);
	BAD(pair_interval_s, -1, BND_E_PLAN_PAIR);
	BAD(pair_interval_s, 1e6, BND_E_PLAN_PAIR);
	BAD(pair_interval_s, NAN, BND_E_PLAN_PAIR);
#undef BAD

	const uint32_t tiers[] = { 0, 250, 1000, 2000, 10000, 100000 };
	for (size_t i = 0; i < 6; i++) {
		struct plan_input in = ok;
		in.tier = tiers[i];
		cr_assert_eq(plan_validate(&in), 0, "tier %u", tiers[i]);
	}
	cr_assert_eq(plan_compute(&ok, NULL), BND_E_INVAL);
}

Test(plan, every_plan_code_has_its_own_message)
{
	const int codes[] = {
		BND_E_PLAN_RECIPIENTS, BND_E_PLAN_RATE, BND_E_PLAN_TIER, BND_E_PLAN_LATENCY,
		BND_E_PLAN_ERROR_RATE, BND_E_PLAN_PERMANENT, BND_E_PLAN_WINDOW,
		BND_E_PLAN_ATTEMPTS, BND_E_PLAN_PAIR, BND_E_PLAN_OVERHEAD, BND_E_PLAN_PLOT_FORMAT,
		BND_E_PLAN_GNUPLOT_MISSING, BND_E_PLAN_GNUPLOT_FAILED,
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		cr_assert(codes[i] <= -11750 && codes[i] > -11800, "in the plan band");
		cr_assert_str_neq(bnd_strerror(codes[i]), bnd_strerror(BND_E_ENGINE_BASE - 999));
		for (size_t j = i + 1; j < sizeof codes / sizeof codes[0]; j++)
			cr_assert_str_neq(bnd_strerror(codes[i]), bnd_strerror(codes[j]));
	}
}

/* ---- JSON ---- */

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(v && json_is_number(v), "%s is a number", key);
	return json_number_value(v);
}

Test(plan, json_has_the_contract_fields)
{
	struct plan_input in = base(300000, 1000);
	in.tier = 100000;
	in.error_rate = 0.1;
	struct plan_result r = run(&in);
	json_t *o = NULL;
	cr_assert_eq(plan_to_json(&r, 61, &o), 0);
	cr_assert(json_is_object(o));

	/* PRODUCT.md §2: at least these three. */
	cr_assert_float_eq(num(o, "seconds_to_last_recipient"), r.seconds_to_last_recipient, 1e-9);
	cr_assert(json_is_integer(json_object_get(o, "window")));
	cr_assert_eq(json_integer_value(json_object_get(o, "window")), r.window_recommended);
	json_t *w = json_object_get(o, "warnings");
	cr_assert(json_is_array(w));
	cr_assert_eq(json_array_size(w), r.nwarnings);
	cr_assert_geq(r.nwarnings, 3, "tier, window, rate_tier, errors");
	for (size_t i = 0; i < json_array_size(w); i++) {
		cr_assert(json_is_string(json_array_get(w, i)));
		cr_assert_str_eq(json_string_value(json_array_get(w, i)), r.warnings[i].text);
	}
	json_t *codes = json_object_get(o, "warning_codes");
	cr_assert_eq(json_array_size(codes), r.nwarnings);
	cr_assert_str_eq(json_string_value(json_array_get(codes, 0)), "tier");

	/* The rest of the report. */
	cr_assert_float_eq(num(o, "effective_rate"), r.effective_rate, 1e-9);
	cr_assert_float_eq(num(o, "coverage_1m"), r.coverage_1m, 1e-15);
	cr_assert_float_eq(num(o, "coverage_5m"), r.coverage_5m, 1e-15);
	cr_assert_float_eq(num(o, "coverage_15m"), r.coverage_15m, 1e-15);
	cr_assert_float_eq(num(o, "coverage_final"), r.coverage_final, 1e-15);
	cr_assert_eq((long)num(o, "connections"), r.connections_h2);
	cr_assert_eq((long)num(o, "tier_windows"), 3);
	cr_assert_float_eq(num(o, "retry_overhead"), r.retry_overhead, 1e-15);
	cr_assert_str_eq(json_string_value(json_object_get(o, "limited_by")), "window");
	cr_assert_str_eq(json_string_value(json_object_get(o, "model")), PLAN_MODEL_VERSION);
	json_t *ins = json_object_get(o, "inputs");
	cr_assert_eq(json_integer_value(json_object_get(ins, "recipients")), 300000);
	cr_assert_eq(json_integer_value(json_object_get(ins, "tier")), 100000);

	json_t *s = json_object_get(o, "series");
	cr_assert_eq(json_array_size(s), 61);
	double prev = -1;
	for (size_t i = 0; i < 61; i++) {
		json_t *pt = json_array_get(s, i);
		double t = num(pt, "t_s"), c = num(pt, "coverage");
		cr_assert_float_eq(c, plan_coverage_at(&r, t), 1e-15);
		cr_assert_geq(c, prev);
		prev = c;
	}
	cr_assert_float_eq(num(json_array_get(s, 60), "t_s"), plan_series_end(&r), 1e-9);

	/* It serialises and parses back. */
	char *text = json_dumps(o, JSON_COMPACT);
	cr_assert_not_null(text);
	json_error_t err;
	json_t *back = json_loads(text, 0, &err);
	cr_assert_not_null(back, "%s", err.text);
	cr_assert(json_equal(o, back));
	free(text);
	json_decref(back);
	json_decref(o);
}

Test(plan, json_null_for_unreached_coverage_and_no_series_on_request)
{
	struct plan_input in = base(1000, 80);
	in.permanent_rate = 0.5;
	struct plan_result r = run(&in);
	json_t *o = NULL;
	cr_assert_eq(plan_to_json(&r, 0, &o), 0);
	cr_assert(json_is_null(json_object_get(o, "seconds_to_90pct")));
	cr_assert_null(json_object_get(o, "series"));
	json_decref(o);
	cr_assert_eq(plan_to_json(&r, 1, &o), BND_E_INVAL);
	cr_assert_eq(plan_to_json(&r, 10001, &o), BND_E_INVAL);
	cr_assert_eq(plan_to_json(NULL, 0, &o), BND_E_INVAL);
	cr_assert_eq(plan_to_json(&r, 0, NULL), BND_E_INVAL);
}

/* ---- robustness: random inputs, valid or not ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static double uniform(double lo, double hi)
{
	return lo + (hi - lo) * (double)(rng() >> 11) / 9007199254740992.0;
}

Test(plan, random_valid_inputs_give_finite_consistent_results)
{
	const uint32_t tiers[] = { 0, 250, 1000, 2000, 10000, 100000 };
	for (int i = 0; i < 1500; i++) {
		struct plan_input in;
		plan_input_defaults(&in);
		in.recipients = 1 + (uint64_t)exp(uniform(0, log(1e9) - 1e-9));
		in.rate = exp(uniform(log(PLAN_MIN_RATE), log(PLAN_MAX_RATE)));
		in.tier = tiers[rng() % 6];
		in.latency_p50_s = exp(uniform(log(1e-4), log(PLAN_MAX_LATENCY_S)));
		double p99 = in.latency_p50_s * exp(uniform(0, log(PLAN_MAX_LATENCY_SPREAD)));
		in.latency_p99_s = p99 < PLAN_MAX_LATENCY_S ? p99 : PLAN_MAX_LATENCY_S;
		in.error_rate = rng() % 3 ? uniform(0, PLAN_MAX_ERROR_RATE) : 0;
		in.permanent_rate = rng() % 3 ? uniform(0, 0.999) : 0;
		in.window = 1 + (uint32_t)(rng() % PLAN_MAX_WINDOW);
		in.max_attempts = 1 + (uint32_t)(rng() % PLAN_MAX_ATTEMPTS);
		in.pair_interval_s = uniform(0, PLAN_MAX_PAIR_INTERVAL_S);
		struct plan_result r = run(&in);
		cr_assert(isfinite(r.seconds_to_last_recipient) && r.seconds_to_last_recipient >= 0,
		          "case %d", i);
		cr_assert(r.coverage_final >= 0 && r.coverage_final <= 1, "case %d", i);
		const double at[] = { 1, 60, 300, 900, 3600, 86400 };
		double prev = 0;
		for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
			double c = plan_coverage_at(&r, at[k]);
			cr_assert(isfinite(c) && c >= prev - 1e-12 && c <= r.coverage_final,
			          "case %d: C(%g) = %g after %g", i, at[k], c, prev);
			prev = c;
		}
		/* The bisection ends where the condition holds; only the ignored
		 * latency tail (~1e-12 of N) could leave a sliver more. */
		double missing = (double)in.recipients *
		                 (1 - plan_settled_at(&r, r.seconds_to_last_recipient));
		cr_assert_leq(missing, 0.5 + 1e-3, "case %d: %g missing", i, missing);
		cr_assert_geq(r.window_recommended, r.window_min, "case %d", i);
		cr_assert_leq(r.nwarnings, PLAN_MAX_WARNINGS);
	}
}

Test(plan, random_plans_are_monotonic_in_rate_errors_and_window)
{
	const uint32_t tiers[] = { 0, 250, 1000, 2000, 10000, 100000 };
	for (int i = 0; i < 3000; i++) {
		struct plan_input in = base(1 + (uint64_t)exp(uniform(0, log(1e7))),
		                            exp(uniform(log(0.01), log(5000))));
		in.tier = tiers[rng() % 6];
		in.latency_p50_s = exp(uniform(log(1e-3), log(5)));
		in.latency_p99_s = fmin(60, in.latency_p50_s * exp(uniform(0, log(50))));
		in.error_rate = rng() % 2 ? uniform(0, 0.6) : 0;
		in.permanent_rate = rng() % 2 ? uniform(0, 0.5) : 0;
		in.window = 1 + (uint32_t)(rng() % 5000);
		in.max_attempts = 1 + (uint32_t)(rng() % 12);
		struct plan_result a = run(&in), b;
		const double slack = 1e-9 * a.seconds_to_last_recipient + 2e-3;

		struct plan_input j = in;
		j.rate = fmin(PLAN_MAX_RATE, in.rate * uniform(1, 3));
		b = run(&j);
		cr_assert_leq(b.seconds_to_last_recipient, a.seconds_to_last_recipient + slack,
		              "case %d: rate %g -> %g slower", i, in.rate, j.rate);

		j = in;
		j.error_rate = fmin(PLAN_MAX_ERROR_RATE, in.error_rate + uniform(0, 0.3));
		b = run(&j);
		cr_assert_geq(b.seconds_to_last_recipient, a.seconds_to_last_recipient - slack,
		              "case %d: errors %g -> %g faster", i, in.error_rate, j.error_rate);
		/* 1e-10: the model ignores the latency mass beyond 7 sigma
		 * (~1e-12) once per attempt. */
		cr_assert_leq(b.coverage_5m, a.coverage_5m + 1e-10, "case %d: N %llu R %g T %u p50 %g p99 %g F %g->%g P %g W %u K %u: %.17g -> %.17g", i, (unsigned long long)in.recipients, in.rate, in.tier, in.latency_p50_s, in.latency_p99_s, in.error_rate, j.error_rate, in.permanent_rate, in.window, in.max_attempts, a.coverage_5m, b.coverage_5m);
		cr_assert_leq(b.coverage_final, a.coverage_final + 1e-12, "case %d", i);

		j = in;
		j.window = in.window * 2;
		b = run(&j);
		cr_assert_leq(b.seconds_to_last_recipient, a.seconds_to_last_recipient + slack,
		              "case %d: window %u -> %u slower", i, in.window, j.window);
	}
}

Test(plan, random_bytes_never_crash)
{
	/* Start from a valid input and overwrite a random run of its bytes, so
	 * both the validation and the arithmetic behind it get exercised. */
	int accepted = 0;
	for (int i = 0; i < 20000; i++) {
		struct plan_input in = base(1 + rng() % 1000000, 80);
		unsigned char *b = (unsigned char *)&in;
		size_t at = rng() % sizeof in, len = 1 + rng() % 8;
		for (size_t k = at; k < at + len && k < sizeof in; k++)
			b[k] = (unsigned char)rng();
		struct plan_result r;
		int rc = plan_compute(&in, &r);
		if (rc == 0) {
			accepted++;
			cr_assert(isfinite(r.seconds_to_last_recipient) && r.seconds_to_last_recipient >= 0,
			          "N %llu R %g T %u p50 %g p99 %g F %g P %g W %u K %u S %g -> %g",
			          (unsigned long long)in.recipients, in.rate, in.tier, in.latency_p50_s,
			          in.latency_p99_s, in.error_rate, in.permanent_rate, in.window,
			          in.max_attempts, in.pair_interval_s, r.seconds_to_last_recipient);
			cr_assert(r.coverage_final >= 0 && r.coverage_final <= 1);
			cr_assert(isfinite(r.coverage_15m));
		} else {
			cr_assert(rc <= -11750 && rc > -11800, "a plan code, got %d", rc);
		}
	}
	cr_assert_gt(accepted, 1000, "the mutations must leave many inputs valid");
}
