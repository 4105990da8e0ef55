/*
 * test_wamock_limits.c - wa-mock's limits and recipient table
 * (tools/wa-mock/limits.c, recip.c): GCRA throughput per phone-number-id,
 * the pair rate per recipient, the rolling messaging tier, and the
 * unique/repeated counts. Time is moved by hand: no clock is read.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../tools/wa-mock/speclist.c"
#include "../../tools/wa-mock/faults.c"
#include "../../tools/wa-mock/limits.c"
#include "../../tools/wa-mock/recip.c"

#define S 1000000000ull
#define MS 1000000ull

static int thr(struct limits *l, const char *pnid, uint64_t now)
{
	return limits_throughput(l, (const uint8_t *)pnid, strlen(pnid), now);
}

Test(wamock_limits, throughput_allows_a_burst_then_the_rate)
{
	struct limits_conf c = {.rate = 80, .rate_burst = 0};
	struct limits *l = NULL;
	cr_assert_eq(limits_open(&l, &c), 0);
	uint64_t t = 1000 * S;
	int ok = 0;
	for (int i = 0; i < 200; i++)
		ok += thr(l, "110000000000001", t);
	cr_assert_eq(ok, 80, "one second's worth at once");
	/* 12.5 ms later exactly one more conforms */
	cr_assert_eq(thr(l, "110000000000001", t + 12500 * 1000), 1);
	cr_assert_eq(thr(l, "110000000000001", t + 12500 * 1000), 0);
	/* another phone-number-id has its own bucket */
	cr_assert_eq(thr(l, "110000000000002", t), 1);
	/* over 10 s at 200 attempts/s, about 80/s get through */
	ok = 0;
	for (uint64_t k = 0; k < 2000; k++)
		ok += thr(l, "110000000000001", t + S + k * 5 * MS);
	cr_assert(ok >= 800 && ok <= 881, "%d accepted in 10 s at 80/s", ok);
	limits_close(&l);
	cr_assert_null(l);
}

Test(wamock_limits, no_rate_means_no_limit)
{
	struct limits_conf c = {.rate = 0};
	struct limits *l = NULL;
	cr_assert_eq(limits_open(&l, &c), 0);
	for (int i = 0; i < 100000; i++)
		cr_assert_eq(thr(l, "1", 5), 1);
	limits_close(&l);
}

Test(wamock_limits, pair_rate_counts_only_committed_messages)
{
	struct limits_conf c = {.pair_per_min = 10, .pair_burst = 3};
	struct limits *l = NULL;
	cr_assert_eq(limits_open(&l, &c), 0);
	struct recip_entry e = {.key = 393351234567ULL};
	uint64_t t = 50 * S;
	for (int i = 0; i < 3; i++) {
		cr_assert(limits_pair_ok(l, &e, t));
		limits_pair_commit(l, &e, t);
	}
	cr_assert(!limits_pair_ok(l, &e, t), "burst of 3 used up");
	/* checking without committing (a refused message) uses nothing */
	for (int i = 0; i < 10; i++)
		cr_assert(!limits_pair_ok(l, &e, t + 5 * S));
	cr_assert(limits_pair_ok(l, &e, t + 6 * S), "one per 6 s");
	limits_pair_commit(l, &e, t + 6 * S);
	cr_assert(!limits_pair_ok(l, &e, t + 6 * S));
	limits_close(&l);
}

Test(wamock_limits, tier_counts_unique_recipients_in_a_rolling_window)
{
	struct limits_conf c = {.tier = 3, .tier_window_ns = 100 * S};
	struct limits *l = NULL;
	cr_assert_eq(limits_open(&l, &c), 0);
	struct recip_entry e[5];
	memset(e, 0, sizeof e);
	uint64_t t = 10 * S;
	cr_assert(limits_tier_admit(l, &e[0], t));
	cr_assert(limits_tier_admit(l, &e[1], t + 10 * S));
	cr_assert(limits_tier_admit(l, &e[2], t + 20 * S));
	cr_assert(!limits_tier_admit(l, &e[3], t + 30 * S), "window full");
	cr_assert(limits_tier_admit(l, &e[1], t + 30 * S), "a counted recipient again");
	cr_assert_eq(limits_tier_used(l, t + 30 * S), 3);
	/* e[0] entered at t: it leaves the window at t + 100 s */
	cr_assert(!limits_tier_admit(l, &e[3], t + 99 * S));
	cr_assert(limits_tier_admit(l, &e[3], t + 100 * S));
	cr_assert_eq(limits_tier_used(l, t + 100 * S), 3);
	/* e[0] comes back later: it counts again, as a new entry */
	cr_assert(!limits_tier_admit(l, &e[0], t + 105 * S));
	cr_assert(limits_tier_admit(l, &e[0], t + 110 * S), "e[1] left at t+110");
	cr_assert_eq(limits_tier_used(l, t + 1000 * S), 0);
	limits_close(&l);
}

Test(wamock_limits, refuses_impossible_configurations)
{
	struct limits *l = NULL;
	struct limits_conf neg = {.rate = -1};
	cr_assert_eq(limits_open(&l, &neg), BND_E_INVAL);
	struct limits_conf nowin = {.tier = 5, .tier_window_ns = 0};
	cr_assert_eq(limits_open(&l, &nowin), BND_E_INVAL);
	cr_assert_null(l);
}

Test(wamock_recip, counts_unique_and_repeated_recipients_across_growth)
{
	struct recip *r = NULL;
	cr_assert_eq(recip_open(&r), 0);
	const uint64_t base = 393300000000ULL;
	/* 200k numbers force every stripe to grow several times */
	for (uint64_t i = 0; i < 200000; i++) {
		unsigned s;
		struct recip_entry *e = recip_lock(r, base + i, &s);
		cr_assert_not_null(e);
		cr_assert_eq(e->key, base + i);
		recip_accepted(r, e);
		if (i % 10 == 0)
			recip_accepted(r, e);
		recip_unlock(r, s);
	}
	uint64_t uniq, rep;
	recip_counts(r, &uniq, &rep);
	cr_assert_eq(uniq, 200000);
	cr_assert_eq(rep, 20000);
	/* entries survive growth with their counts */
	unsigned s;
	struct recip_entry *e = recip_lock(r, base + 10, &s);
	cr_assert_eq(e->accepted, 2);
	recip_unlock(r, s);
	e = recip_lock(r, base + 11, &s);
	cr_assert_eq(e->accepted, 1);
	recip_unlock(r, s);
	recip_close(&r);
	cr_assert_null(r);
}

Test(wamock_recip, open_fails_cleanly_when_memory_runs_out)
{
	for (long n = 0; n < 70; n++) {
		struct recip *r = NULL;
		bnd_alloc_fail_after(n);
		int rc = recip_open(&r);
		bnd_alloc_fail_after(-1);
		if (rc == 0) {
			cr_assert_geq(n, 65, "open succeeded with only %ld allocations", n);
			recip_close(&r);
			return;
		}
		cr_assert_eq(rc, BND_E_NOMEM);
		cr_assert_null(r);
	}
	cr_assert_fail("recip_open never succeeded");
}
