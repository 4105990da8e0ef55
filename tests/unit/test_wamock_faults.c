/*
 * test_wamock_faults.c - wa-mock's seeded decisions (tools/wa-mock/faults.c):
 * the error-mix grammar, reproducibility (same seed and sequence number,
 * same outcome), the observed frequencies against the configured ones,
 * 5xx bursts covering whole windows, and the latency distributions.
 * Frequencies are checked on fixed seeds, so these tests are exact
 * repetitions, not statistical gambles: they cannot flake.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/wa-mock/speclist.c"
#include "../../tools/wa-mock/faults.c"

static int mix(struct faults_profile *p, const char *s)
{
	return faults_parse_mix(p, s, strlen(s), NULL);
}

Test(wamock_faults, parses_the_documented_grammar)
{
	struct faults_profile p = {0};
	cr_assert_eq(mix(&p, "131000:0.01,2:0.005,131026:0.02,131048:0.01:async,131026:0.01:sync"), 0);
	cr_assert_eq(p.nmix, 5);
	cr_assert_eq(p.mix[0].code, 131000);
	cr_assert_eq(p.mix[0].async, 0);
	cr_assert_eq(p.mix[2].async, 1, "131026 is async by default");
	cr_assert_eq(p.mix[3].async, 1);
	cr_assert_eq(p.mix[4].async, 0);
	cr_assert_eq(mix(&p, "reset:0.01,reset-accepted:0.02,stall:0.03,burst:0.1:20:2"), 0);
	cr_assert_eq(p.mix[5].kind, FAULTS_RESET);
	cr_assert_eq(p.mix[6].kind, FAULTS_RESET_ACCEPTED);
	cr_assert_eq(p.mix[7].kind, FAULTS_STALL);
	cr_assert_eq(p.burst_len, 20);
	cr_assert_eq(p.burst_code, 2);
	cr_assert_float_eq(p.burst_p, 0.1, 1e-12);
}

Test(wamock_faults, refuses_bad_specs_and_says_where)
{
	const char *bad[] = {"", "131000", "131000:", "131000:1.5", "131000:-0.1", "x:0.1",
	                     "131000:0.1:later", "reset:0.1:async", "burst:0.1", "burst:0.1:0",
	                     "131000:0.6,2:0.5", ",", "131000:0.1,,2:0.1", "0:0.1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct faults_profile p = {0};
		cr_assert_neq(mix(&p, bad[i]), 0, "accepted '%s'", bad[i]);
	}
	struct faults_profile p = {0};
	size_t at = 0;
	cr_assert_eq(faults_parse_mix(&p, "131000:0.1,zzz:1", 16, &at), BND_E_WAMOCK_SPEC);
	cr_assert_eq(at, 11);
}

Test(wamock_faults, same_seed_same_sequence_gives_same_outcomes)
{
	struct faults_profile a = {.seed = 42}, b = {.seed = 42}, c = {.seed = 43};
	const char *s = "131000:0.1,2:0.05,131026:0.1,reset:0.05,stall:0.05";
	cr_assert_eq(mix(&a, s), 0);
	cr_assert_eq(mix(&b, s), 0);
	cr_assert_eq(mix(&c, s), 0);
	int differ = 0;
	for (uint64_t seq = 0; seq < 10000; seq++) {
		struct faults_entry ba, bb, bc;
		const struct faults_entry *fa = faults_pick(&a, seq, &ba);
		const struct faults_entry *fb = faults_pick(&b, seq, &bb);
		const struct faults_entry *fc = faults_pick(&c, seq, &bc);
		int ia = fa ? (int)(fa - a.mix) : -1, ib = fb ? (int)(fb - b.mix) : -1;
		int ic = fc ? (int)(fc - c.mix) : -1;
		cr_assert_eq(ia, ib, "seq %llu", (unsigned long long)seq);
		differ += ia != ic;
		cr_assert_eq(faults_latency_ns(&a, seq), faults_latency_ns(&b, seq));
	}
	cr_assert_gt(differ, 1000, "another seed must give other outcomes");
}

Test(wamock_faults, observed_frequencies_follow_the_mix)
{
	struct faults_profile p = {.seed = 7};
	cr_assert_eq(mix(&p, "131000:0.01,2:0.005,131026:0.02"), 0);
	int count[3] = {0}, none = 0;
	const int N = 400000;
	for (uint64_t seq = 0; seq < (uint64_t)N; seq++) {
		struct faults_entry b;
		const struct faults_entry *f = faults_pick(&p, seq, &b);
		if (f)
			count[f - p.mix]++;
		else
			none++;
	}
	/* Binomial standard deviation at these N is under 0.04 points: 5 sigma. */
	cr_assert_float_eq((double)count[0] / N, 0.01, 0.0008);
	cr_assert_float_eq((double)count[1] / N, 0.005, 0.0006);
	cr_assert_float_eq((double)count[2] / N, 0.02, 0.0012);
	cr_assert_eq(count[0] + count[1] + count[2] + none, N);
}

Test(wamock_faults, bursts_cover_whole_windows)
{
	struct faults_profile p = {.seed = 3};
	cr_assert_eq(mix(&p, "burst:0.2:10:2"), 0);
	int bursts = 0;
	for (uint64_t w = 0; w < 1000; w++) {
		struct faults_entry b;
		const struct faults_entry *first = faults_pick(&p, w * 10, &b);
		for (uint64_t k = 1; k < 10; k++) {
			struct faults_entry b2;
			const struct faults_entry *f = faults_pick(&p, w * 10 + k, &b2);
			cr_assert_eq(f != NULL, first != NULL, "window %llu split", (unsigned long long)w);
			if (f)
				cr_assert_eq(f->code, 2);
		}
		bursts += first != NULL;
	}
	cr_assert(bursts > 150 && bursts < 250, "%d bursts of 1000 windows", bursts);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

Test(wamock_faults, latency_stays_in_range_and_lognormal_hits_its_percentiles)
{
	struct faults_profile p = {.seed = 11, .lat_min_ns = 5000000, .lat_max_ns = 9000000};
	uint64_t lo = UINT64_MAX, hi = 0;
	for (uint64_t seq = 0; seq < 20000; seq++) {
		uint64_t v = faults_latency_ns(&p, seq);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	cr_assert_geq(lo, 5000000);
	cr_assert_leq(hi, 9000000);
	cr_assert_lt(lo, 5100000, "the range's bottom is reached");
	cr_assert_gt(hi, 8900000, "the range's top is reached");

	struct faults_profile q = {.seed = 11};
	cr_assert_eq(faults_set_lognormal(&q, 250, 2000), 0);
	cr_assert_eq(faults_set_lognormal(&q, 250, 100), BND_E_INVAL);
	enum { N = 100000 };
	static uint64_t v[N];
	for (uint64_t seq = 0; seq < N; seq++)
		v[seq] = faults_latency_ns(&q, seq);
	qsort(v, N, sizeof v[0], cmp_u64);
	double p50 = (double)v[N / 2] / 1e6, p99 = (double)v[N * 99 / 100] / 1e6;
	cr_assert(fabs(p50 - 250) < 10, "p50 %.1f ms", p50);
	cr_assert(fabs(p99 - 2000) < 150, "p99 %.1f ms", p99);
}
