/* test_limiter.c - GCRA rate, burst, adaptation, pair spacing, backoff and
 * tier budget (engine/limiter.c). Time is moved by hand: no clock, no sleep. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "bnd.h"
#include "limiter.h"

#define S LIMITER_NS_PER_S
#define MS 1000000ull

/*
 * Simulate a sender that wakes at limiter_next_ns plus a random jitter (timer
 * slack) and sends every conforming message at each wake-up, for `secs`
 * seconds. Returns the number of sends; times go to out[].
 */
static size_t simulate(struct limiter *l, uint64_t t0, uint64_t secs, uint64_t jitter_ns,
                       uint64_t seed, uint64_t *out, size_t cap)
{
	struct limiter_rng r;
	limiter_rng_seed(&r, seed);
	uint64_t now = t0, end = t0 + secs * S;
	size_t n = 0;
	while (now < end && n < cap) {
		while (limiter_take(l, now) && n < cap)
			out[n++] = now;
		uint64_t next = limiter_next_ns(l, now);
		cr_assert_gt(next, now, "next_ns must move forward when take fails");
		now = next + (jitter_ns ? limiter_rng_next(&r) % jitter_ns : 0);
	}
	return n;
}

/* max relative error of the count in any 10 s window starting at whole seconds
 * from `from` (skipping the initial burst) */
static double worst_window(const uint64_t *t, size_t n, uint64_t from, uint64_t to, double rate)
{
	double worst = 0;
	size_t lo = 0, hi = 0;
	for (uint64_t w = from; w + 10 * S <= to; w += S / 4) {
		while (lo < n && t[lo] < w)
			lo++;
		if (hi < lo)
			hi = lo;
		while (hi < n && t[hi] < w + 10 * S)
			hi++;
		double err = ((double)(hi - lo) - rate * 10) / (rate * 10);
		if (err < 0)
			err = -err;
		if (err > worst)
			worst = err;
	}
	return worst;
}

static void check_rate(uint32_t rate, uint32_t burst, uint64_t jitter)
{
	struct limiter l;
	uint64_t t0 = 123456789;
	limiter_init(&l, rate, burst, t0);
	size_t cap = (size_t)rate * 70 + 1000;
	uint64_t *t = calloc(cap, sizeof *t);
	size_t n = simulate(&l, t0, 60, jitter, 42, t, cap);
	double err = worst_window(t, n, t0 + S, t0 + 60 * S, rate);
	cr_assert_lt(err, 0.01, "rate %u burst %u jitter %lu: worst 10 s window off by %.4f",
	             rate, burst, (unsigned long)jitter, err);
	free(t);
}

Test(limiter, rate_within_1pct_over_10s_windows_at_80_per_s)
{
	check_rate(80, 1, 0);
	check_rate(80, 2, 5 * MS);   /* timer slack up to 5 ms, absorbed by the burst */
	check_rate(80, 20, 5 * MS);
}

Test(limiter, rate_within_1pct_over_10s_windows_at_1000_per_s)
{
	check_rate(1000, 1, 0);
	check_rate(1000, 5, 2 * MS);
	check_rate(1000, 50, 3 * MS);
}

Test(limiter, slack_without_burst_loses_rate)
{
	/* The reason bursts exist: with burst 1, wake-up lateness is never made
	 * up. This test proves the simulation can fail (it is not rigged). */
	struct limiter l;
	limiter_init(&l, 1000, 1, 0);
	uint64_t *t = calloc(70000, sizeof *t);
	size_t n = simulate(&l, 0, 60, 2 * MS, 7, t, 70000);
	cr_assert_gt(worst_window(t, n, S, 60 * S, 1000), 0.2);
	free(t);
}

Test(limiter, burst_allows_exactly_burst_messages_back_to_back)
{
	struct limiter l;
	uint64_t t0 = 5 * S;
	limiter_init(&l, 80, 10, t0);
	for (int i = 0; i < 10; i++)
		cr_assert(limiter_take(&l, t0), "message %d of the burst", i);
	cr_assert_not(limiter_take(&l, t0));
	cr_assert_eq(limiter_next_ns(&l, t0), t0 + 12500000);
	cr_assert_not(limiter_take(&l, t0 + 12499999));
	cr_assert(limiter_take(&l, t0 + 12500000));
	/* Idle for a long time: the credit is capped at the burst. */
	uint64_t t1 = t0 + 3600 * S;
	int k = 0;
	while (limiter_take(&l, t1))
		k++;
	cr_assert_eq(k, 10);
}

Test(limiter, no_drift_over_a_million_messages)
{
	struct limiter l;
	limiter_init(&l, 80, 1, 0);
	uint64_t now = 0;
	for (int i = 0; i < 1000000; i++) {
		now = limiter_next_ns(&l, now);
		cr_assert(limiter_take(&l, now));
	}
	cr_assert_eq(now, (uint64_t)999999 * 12500000, "integer arithmetic is exact");

	/* 7/s: T = 142857142.857 ns is not whole; error stays < 1e-6. */
	limiter_init(&l, 7, 1, 0);
	now = 0;
	for (int i = 0; i < 1000000; i++) {
		now = limiter_next_ns(&l, now);
		cr_assert(limiter_take(&l, now));
	}
	double ideal = 999999.0 / 7 * 1e9;
	double rel = ((double)now - ideal) / ideal;
	cr_assert_lt(rel < 0 ? -rel : rel, 1e-6, "relative drift %g", rel);
}

Test(limiter, unlimited_always_allows)
{
	struct limiter l;
	limiter_init(&l, 0, 0, 0);
	for (int i = 0; i < 1000; i++)
		cr_assert(limiter_take(&l, 1));
	cr_assert_eq(limiter_next_ns(&l, 77), 77);
	cr_assert_eq(limiter_rate_milli(&l, 0), 0);
}

Test(limiter, throttle_cuts_pauses_and_recovers_along_a_concave_curve)
{
	struct limiter l;
	uint64_t t = 100 * S;
	limiter_init(&l, 1000, 5, 0);
	cr_assert_eq(limiter_rate_milli(&l, t), 1000000);
	limiter_throttled(&l, t, t - 200 * MS, 0);
	cr_assert_eq(limiter_rate_milli(&l, t), 700000, "x0.7");
	cr_assert_not(limiter_take(&l, t + S - 1), "paused for 1 s");
	cr_assert_eq(limiter_next_ns(&l, t), t + S, "first send at the end of the pause");
	cr_assert(limiter_take(&l, t + S));
	cr_assert_not(limiter_take(&l, t + S), "no burst credit right after a throttle");

	uint64_t epoch = t + S, prev = 0;
	for (uint64_t dt = 0; dt <= 12 * S; dt += S / 10) {
		uint64_t r = limiter_rate_milli(&l, epoch + dt);
		cr_assert_geq(r, prev, "recovery is monotonic");
		prev = r;
	}
	/* At K/2 a cubic is 1/8 of the way down from wmax: 1000 - 300/8. */
	struct limiter m;
	limiter_init(&m, 1000, 5, 0);
	limiter_throttled(&m, t, t, 0);
	uint64_t half = limiter_rate_milli(&m, epoch + LIMITER_RECOVER_NS / 2);
	cr_assert(half > 960000 && half < 965000, "concave: %lu at K/2", (unsigned long)half);
	cr_assert_eq(limiter_rate_milli(&m, epoch + LIMITER_RECOVER_NS), 1000000);
	cr_assert_eq(limiter_rate_milli(&m, epoch + 60 * S), 1000000, "never above the configured rate");
}

Test(limiter, a_window_of_throttles_is_one_cut)
{
	struct limiter l;
	limiter_init(&l, 1000, 5, 0);
	uint64_t t = 50 * S;
	for (int i = 0; i < 64; i++)  /* 64 requests in flight, all sent before the cut */
		limiter_throttled(&l, t + (uint64_t)i * MS, t - 300 * MS + (uint64_t)i * MS, 0);
	cr_assert_eq(l.cuts, 1);
	cr_assert_eq(l.throttles, 64);
	cr_assert_eq(limiter_rate_milli(&l, t), 700000);
	/* A request sent after the cut that is throttled again cuts again. */
	uint64_t before = limiter_rate_milli(&l, t + 2 * S);
	cr_assert(before > 700000 && before < 1000000, "recovering: %lu", (unsigned long)before);
	limiter_throttled(&l, t + 2 * S, t + S + MS, 0);
	cr_assert_eq(l.cuts, 2);
	cr_assert_eq(limiter_rate_milli(&l, t + 2 * S), before * 7 / 10);
}

Test(limiter, repeated_throttles_stop_at_the_floor)
{
	struct limiter l;
	limiter_init(&l, 80, 1, 0);
	uint64_t t = S;
	for (int i = 0; i < 100; i++) {
		limiter_throttled(&l, t, t, 0);
		t += MS;
	}
	cr_assert_eq(limiter_rate_milli(&l, t), LIMITER_FLOOR_MILLI);
}

Test(limiter, retry_after_is_honoured_and_capped)
{
	struct limiter l;
	limiter_init(&l, 80, 1, 0);
	limiter_throttled(&l, 10 * S, 10 * S, 7 * S);
	cr_assert_eq(limiter_next_ns(&l, 10 * S), 17 * S);
	/* An old request's Retry-After still extends the pause, without a cut. */
	limiter_throttled(&l, 11 * S, 9 * S, 20 * S);
	cr_assert_eq(l.cuts, 1);
	cr_assert_eq(limiter_next_ns(&l, 11 * S), 31 * S);
	limiter_throttled(&l, 12 * S, 12 * S, 100000 * S);
	cr_assert_eq(limiter_next_ns(&l, 12 * S), 12 * S + LIMITER_RETRY_AFTER_MAX_NS);
}

Test(limiter, raising_the_configured_rate_is_seen)
{
	struct limiter l;
	limiter_init(&l, 80, 1, 0);
	limiter_set_rate(&l, 1000, 1, S);
	cr_assert_eq(limiter_rate_milli(&l, S), 1000000, "not recovering: at once");

	/* Throttled at 80 (the API said 80), then the operator raises to 1000
	 * (THROUGHPUT_UPGRADE): the limiter climbs past 80 to 1000 by probing. */
	limiter_init(&l, 80, 1, 0);
	limiter_throttled(&l, S, S, 0);
	limiter_set_rate(&l, 1000, 1, 2 * S);
	uint64_t epoch = 2 * S;
	cr_assert_leq(limiter_rate_milli(&l, epoch + LIMITER_RECOVER_NS), 80000);
	uint64_t r = limiter_rate_milli(&l, epoch + LIMITER_RECOVER_NS + 5 * S);
	cr_assert(r > 80000 && r < 1000000, "probing: %lu", (unsigned long)r);
	cr_assert_eq(limiter_rate_milli(&l, epoch + LIMITER_RECOVER_NS + 60 * S), 1000000);

	/* Lowering clamps at once. */
	limiter_set_rate(&l, 20, 1, 100 * S);
	cr_assert_eq(limiter_rate_milli(&l, 100 * S), 20000);
}

Test(limiter, pair_backoff_is_4_to_the_x_for_that_recipient_only)
{
	struct limiter_pair *p;
	cr_assert_eq(limiter_pair_open(&p, 1000, 0), 0);
	uint64_t a = 393351234567ull, b = 393351234568ull, t = 1000 * S;
	cr_assert_eq(limiter_pair_next_ns(p, a, t), t);
	uint64_t want[] = { 1, 4, 16, 64, 256, 256 };
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(limiter_pair_throttled(p, a, t), want[i] * S, "hit %d", i);
		cr_assert_eq(limiter_pair_next_ns(p, a, t), t + want[i] * S);
	}
	cr_assert_eq(limiter_pair_next_ns(p, b, t), t, "others are not delayed");
	limiter_pair_sent(p, a, t + 300 * S);
	cr_assert_eq(limiter_pair_throttled(p, a, t + 300 * S), S, "success resets X");
	limiter_pair_close(&p);
	cr_assert_null(p);
	limiter_pair_close(&p);
}

Test(limiter, pair_gap_spaces_messages_to_one_recipient)
{
	struct limiter_pair *p;
	cr_assert_eq(limiter_pair_open(&p, 64, 6 * S), 0);
	limiter_pair_sent(p, 391234567890ull, 10 * S);
	cr_assert_eq(limiter_pair_next_ns(p, 391234567890ull, 11 * S), 16 * S);
	cr_assert_eq(limiter_pair_next_ns(p, 391234567890ull, 17 * S), 17 * S);
	limiter_pair_close(&p);
}

Test(limiter, pair_table_memory_is_bounded_and_keeps_the_most_valuable)
{
	struct limiter_pair *p;
	cr_assert_eq(limiter_pair_open(&p, 64, 0), 0);
	uint64_t t = 10 * S;
	/* Far more recipients than slots: no failure, no growth. */
	for (uint64_t i = 0; i < 100000; i++)
		limiter_pair_throttled(p, 390000000000ull + i, t + i);
	/* The most recent hit is there. */
	uint64_t last = 390000000000ull + 99999;
	cr_assert_eq(limiter_pair_next_ns(p, last, t + 100000), t + 99999 + S);
	limiter_pair_close(&p);
	cr_assert_eq(limiter_pair_open(&p, 1u << 30, 0), BND_E_INVAL);
}

Test(limiter, an_overfull_pair_table_never_delays_a_number_it_has_not_seen)
{
	/* A fan-out sends to each number once: 40,000 new numbers through a
	 * 64-slot table at 20,000/s, far more live entries than slots. None may
	 * wait (a per-slot memory of evicted gaps delayed them, and cut an
	 * unlimited fan-out 2.6x); a number sent to again while its entry
	 * survives still waits its gap. */
	struct limiter_pair *p;
	const uint64_t gap = 6 * S;
	cr_assert_eq(limiter_pair_open(&p, 64, gap), 0);
	uint64_t now = S;
	for (uint64_t i = 0; i < 40000; i++) {
		uint64_t num = 390000000000ull + i * 7919u;
		cr_assert_eq(limiter_pair_next_ns(p, num, now), now, "new number %llu delayed",
		             (unsigned long long)i);
		limiter_pair_sent(p, num, now);
		cr_assert_eq(limiter_pair_next_ns(p, num, now), now + gap);
		now += 50 * MS / 1000;   /* 20,000/s */
	}
	limiter_pair_close(&p);
}

Test(limiter, ahead_is_the_time_of_the_nth_next_token)
{
	struct limiter l;
	limiter_init(&l, 100, 5, 0);          /* T = 10 ms, 5 tokens */
	uint64_t t = 10 * S;
	for (uint32_t n = 0; n < 5; n++)
		cr_assert_eq(limiter_ahead_ns(&l, n, t), t, "token %u is there", n);
	cr_assert_eq(limiter_ahead_ns(&l, 5, t), t + 10 * MS);
	cr_assert_eq(limiter_ahead_ns(&l, 9, t), t + 50 * MS);
	/* It agrees with taking them one by one at their earliest. */
	for (uint32_t n = 0; n < 20; n++) {
		struct limiter c = l;
		uint64_t at = t;
		for (uint32_t i = 0; i < n; i++) {
			at = limiter_next_ns(&c, at);
			cr_assert(limiter_take(&c, at));
		}
		cr_assert_eq(limiter_ahead_ns(&l, n, t), limiter_next_ns(&c, at), "n %u", n);
	}
	/* A pause counts; unlimited is now. */
	limiter_throttled(&l, t, t, 2 * S);
	cr_assert_geq(limiter_ahead_ns(&l, 0, t), t + 2 * S);
	cr_assert_gt(limiter_ahead_ns(&l, 3, t), limiter_ahead_ns(&l, 0, t));
	limiter_init(&l, 0, 1, 0);
	cr_assert_eq(limiter_ahead_ns(&l, 1000, t), t);
}

Test(limiter, backoff_is_exponential_jittered_capped_and_deterministic)
{
	struct limiter_rng r1, r2;
	limiter_rng_seed(&r1, 99);
	limiter_rng_seed(&r2, 99);
	for (unsigned a = 0; a < 80; a++) {
		uint64_t d = limiter_backoff_ns(a, S, 60 * S, &r1);
		uint64_t full = a < 6 ? S << a : 60 * S;
		if (full > 60 * S)
			full = 60 * S;
		cr_assert(d >= full / 2 && d <= full, "attempt %u: %lu", a, (unsigned long)d);
		cr_assert_eq(d, limiter_backoff_ns(a, S, 60 * S, &r2), "same seed, same delays");
	}
	/* Jitter actually varies. */
	uint64_t x = limiter_backoff_ns(5, S, 60 * S, &r1), y = x;
	for (int i = 0; i < 10 && y == x; i++)
		y = limiter_backoff_ns(5, S, 60 * S, &r1);
	cr_assert_neq(x, y);
}

Test(limiter, tier_budget_warns_when_the_audience_exceeds_it)
{
	uint64_t room;
	cr_assert_eq(limiter_tier_check(250, 0, 250, &room), 0);
	cr_assert_eq(room, 250);
	cr_assert_eq(limiter_tier_check(250, 10, 241, &room), BND_E_LIM_TIER);
	cr_assert_eq(room, 240);
	cr_assert_eq(limiter_tier_check(1000, 5000, 1, &room), BND_E_LIM_TIER);
	cr_assert_eq(room, 0);
	cr_assert_eq(limiter_tier_check(0, 5000000, 1000000, &room), 0, "unlimited");
	cr_assert_eq(room, UINT64_MAX);
	cr_assert_eq(limiter_tier_next(250), 2000);
	cr_assert_eq(limiter_tier_next(2000), 10000);
	cr_assert_eq(limiter_tier_next(10000), 100000);
	cr_assert_eq(limiter_tier_next(100000), 0);
	cr_assert_eq(limiter_tier_next(0), 0);
}
