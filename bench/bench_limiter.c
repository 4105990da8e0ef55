/*
 * bench_limiter.c - accuracy and cost of the sending limiter
 * (engine/limiter.c), with a naive peer in the same run. Driven by
 * bench/scenario_limiter.sh, which adds the end-to-end half (banditore
 * send against wa-mock) and merges both into one JSON object.
 *
 * Model mode (default), deterministic: the limiter is driven with simulated
 * nanoseconds, so every figure is the same on every machine.
 *  - Accuracy: a sender that always has work wakes at limiter_next_ns plus
 *    a seeded scheduling delay (uniform 0..--late-us, and once a second a
 *    --stall-ms stall: a descheduled process), for --seconds, at 80, 1,000
 *    and 10,000/s with bursts 1, rate/20 (the sender's default) and rate/10.
 *    Windows start from 1 s: the first second holds the initial burst.
 *    The peer is what a team writes first: send, nanosleep(1/rate), repeat,
 *    with the same delays. Figures per configuration: achieved rate (% of
 *    the configured one), the largest deviation of any 1 s and any 10 s
 *    sliding window (1 ms steps) from rate x window, the most messages at one
 *    instant. Checked: at most `burst` at one instant, any B + 1 messages
 *    span at least 1/rate (an independent GCRA conformance check), no window
 *    above rate x window + burst, and without delays the exact count
 *    rate x seconds + burst - 1 (integer time does not drift). Median, min
 *    and max are over --seeds seeds of the delays.
 *  - 130429: one throttle at 10 s (1,000/s, burst 50): the pause (1 s), the
 *    cut (x0.7), the time until the limiter's rate and the sent rate (a
 *    trailing 1 s window) are back at 95%; Retry-After 5 s honoured to the
 *    nanosecond; a storm of 64 throttles for requests sent before the cut is
 *    one cut. Then an API whose real limit (800/s, one second of burst, a
 *    GCRA like wa-mock's) is below the configured 1,000/s, answers 50 ms
 *    after the send, 64 requests in flight at most: 130429s and accepted
 *    rate of the adaptive limiter against a fixed one (throttles ignored).
 *  - Pair spacing: a round-robin sender at 1,000/s over 500 recipients with
 *    a 6 s pair gap (the sender's table of 16,384): no recipient twice
 *    within the gap (checked); then 20,000 recipients at 10,000/s, more live
 *    recipients than the table holds (a figure: what fixed memory loses);
 *    131056 backoffs 1, 4, 16, 64, 256, 256 s (checked).
 *  - Cost: ns per limiter_take + limiter_next_ns decision and per pair
 *    lookup + update (real time, median of --runs).
 * Real-time mode (--realtime): the same GCRA driving a real loop
 * (clock_nanosleep to limiter_next_ns) against the naive nanosleep loop,
 * interleaved A B A B, --rt-seconds each at 80, 1,000, 10,000/s: achieved
 * rate over the run after its first second, and the largest 1 s window
 * deviation. This shows the machine's real wake-up delays.
 * Count mode (--iterations N): N limiter decisions and nothing else, for
 * callgrind (Ir per decision = (Ir(N) - Ir(0)) / N).
 * Naive HTTP mode (--naive-http URL --rate R --count N): the naive peer of
 * the end-to-end half: one libcurl easy handle (keep-alive), one POST to
 * wa-mock per recipient, then nanosleep(1/rate). Prints
 * {"sent":…,"accepted":…,"rejected_130429":…,"elapsed_s":…}.
 *
 *   bench_limiter [--json] [--seconds S] [--seeds K] [--runs R]
 *                 [--late-us U] [--stall-ms M] [--realtime]
 *                 [--rt-seconds S] [--rt-runs R] [--iterations N]
 *                 [--naive-http URL --rate R --count N [--seed S]]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "harness.h"
#include "limiter.h"

#define NS LIMITER_NS_PER_S
#define MS 1000000ull
#define US 1000ull

/* ------------------------------------------------------------ analysis */

/* win_counts - the least and most elements of sorted t[0..n) in the
 * windows [s, s + w), s = a, a + step, … while s + w <= b. */
static void win_counts(const uint64_t *t, size_t n, uint64_t a, uint64_t b, uint64_t w,
                       uint64_t step, uint64_t *mn, uint64_t *mx)
{
	size_t lo = 0, hi = 0;
	*mn = UINT64_MAX;
	*mx = 0;
	for (uint64_t s = a; s + w <= b; s += step) {
		while (lo < n && t[lo] < s)
			lo++;
		while (hi < n && t[hi] < s + w)
			hi++;
		uint64_t c = hi - lo;
		if (c < *mn)
			*mn = c;
		if (c > *mx)
			*mx = c;
	}
	if (*mn == UINT64_MAX)
		*mn = 0;
}

/* win_dev_pct - the largest |count - rate x w| / (rate x w) over the
 * windows of win_counts, in percent. */
static double win_dev_pct(const uint64_t *t, size_t n, uint64_t a, uint64_t b, uint64_t w,
                          uint64_t step, double rate, uint64_t *mx_out)
{
	uint64_t mn, mx;
	win_counts(t, n, a, b, w, step, &mn, &mx);
	double want = rate * (double)w / 1e9;
	double over = ((double)mx - want) / want * 100, under = (want - (double)mn) / want * 100;
	if (mx_out)
		*mx_out = mx;
	return over > under ? over : under;
}

/* max_same - the most elements of sorted t equal to one value. */
static uint64_t max_same(const uint64_t *t, size_t n)
{
	uint64_t best = n ? 1 : 0, run = 1;
	for (size_t i = 1; i < n; i++) {
		run = t[i] == t[i - 1] ? run + 1 : 1;
		if (run > best)
			best = run;
	}
	return best;
}

/* ------------------------------------------------------ simulated sender */

/* Seeded scheduling delays of a loop thread: every wake late by uniform
 * [0, late_ns], and the first wake after each stall instant (one per
 * second, random phase) late by stall_ns more. */
struct noise {
	struct bh_rng r;
	uint64_t late_ns, stall_ns, next_stall;
};

static void noise_init(struct noise *z, uint64_t seed, uint64_t late_ns, uint64_t stall_ns)
{
	bh_rng_seed(&z->r, seed);
	z->late_ns = late_ns;
	z->stall_ns = stall_ns;
	z->next_stall = stall_ns ? bh_rng_below(&z->r, NS) : UINT64_MAX;
}

static uint64_t noise_wake(struct noise *z, uint64_t want)
{
	uint64_t t = want + (z->late_ns ? bh_rng_below(&z->r, z->late_ns + 1) : 0);
	if (t >= z->next_stall) {
		t += z->stall_ns;
		z->next_stall += NS;
	}
	return t;
}

/* sim_gcra - a sender with endless work behind the limiter for dur ns;
 * send times into ts (room for cap). Returns the count. */
static size_t sim_gcra(uint32_t rate, uint32_t burst, uint64_t dur, struct noise *z,
                       uint64_t *ts, size_t cap)
{
	struct limiter l;
	limiter_init(&l, rate, burst, 0);
	uint64_t now = 0;
	size_t n = 0;
	while (now < dur && n < cap) {
		if (limiter_take(&l, now)) {
			ts[n++] = now;
			continue;
		}
		now = noise_wake(z, limiter_next_ns(&l, now));
	}
	return n;
}

/* sim_naive - the peer: send, sleep 1/rate, repeat. */
static size_t sim_naive(uint32_t rate, uint64_t dur, struct noise *z, uint64_t *ts, size_t cap)
{
	uint64_t now = 0, T = NS / rate;
	size_t n = 0;
	while (now < dur && n < cap) {
		ts[n++] = now;
		now = noise_wake(z, now + T);
	}
	return n;
}

struct acc_fig {
	double achieved_pct, w1_dev, w10_dev, at_once;
};

static struct acc_fig analyse(const uint64_t *ts, size_t n, uint32_t rate, uint64_t dur)
{
	struct acc_fig f;
	f.achieved_pct = (double)n / ((double)rate * (double)dur / 1e9) * 100;
	/* Windows from 1 s on: the first second holds the initial burst, the
	 * allowance configured (bounded by check_gcra, not an error). */
	f.w1_dev = win_dev_pct(ts, n, NS, dur, NS, MS, rate, NULL);
	f.w10_dev = win_dev_pct(ts, n, NS, dur, 10 * NS, MS, rate, NULL);
	f.at_once = (double)max_same(ts, n);
	return f;
}

/* Checks every GCRA run must pass. */
static void check_gcra(const char *name, const uint64_t *ts, size_t n, uint32_t rate,
                       uint32_t burst, uint64_t dur)
{
	uint64_t T = NS / rate;
	bh_check(max_same(ts, n) <= burst, name, (long long)max_same(ts, n), burst);
	for (size_t i = burst; i < n; i++)
		if (ts[i] - ts[i - burst] < T)
			bh_check(0, "burst + 1 messages within 1/rate", (long long)(ts[i] - ts[i - burst]),
			         (long long)T);
	uint64_t mx;
	win_dev_pct(ts, n, 0, dur, NS, MS, rate, &mx);
	bh_check(mx <= (uint64_t)rate + burst, "1 s window above rate + burst", (long long)mx,
	         (long long)rate + burst);
	win_dev_pct(ts, n, 0, dur, 10 * NS, MS, rate, &mx);
	bh_check(mx <= 10ull * rate + burst, "10 s window above rate x 10 + burst", (long long)mx,
	         10ll * rate + burst);
}

struct cfg {
	uint32_t rate, burst;
};

static void put(json_t *metrics, const char *name, const double *v, int n, const char *unit)
{
	if (bh_metric_set(metrics, name, v, n, unit) != 0)
		bh_check(0, "json", 0, 0);
}

static void put1(json_t *metrics, const char *name, double v, const char *unit)
{
	put(metrics, name, &v, 1, unit);
}

#define MAX_SEEDS 16

static void model_accuracy(json_t *metrics, json_t *ratios, uint64_t dur, int seeds,
                           uint64_t late_ns, uint64_t stall_ns)
{
	static const uint32_t rates[] = { 80, 1000, 10000 };
	size_t cap = (size_t)(10000ull * dur / NS) + 20000;
	uint64_t *ts = malloc(cap * sizeof *ts);
	bh_check(ts != NULL, "allocation", 0, 0);
	char name[96];
	for (size_t ri = 0; ri < 3; ri++) {
		uint32_t rate = rates[ri];
		uint32_t bursts[3] = { 1, rate / 20 ? rate / 20 : 1, rate / 10 ? rate / 10 : 1 };
		double gcra_ach[MAX_SEEDS] = { 0 }, naive_ach[MAX_SEEDS];
		for (int bi = 0; bi < 3; bi++) {
			uint32_t burst = bursts[bi];
			/* Without delays: exact, no drift. */
			struct noise quiet;
			noise_init(&quiet, 1, 0, 0);
			size_t n = sim_gcra(rate, burst, dur, &quiet, ts, cap);
			long long want = (long long)((uint64_t)rate * dur / NS) + burst - 1;
			bh_check((long long)n == want, "exact count without delays", (long long)n, want);
			check_gcra("at most burst at one instant (no delays)", ts, n, rate, burst, dur);
			double a[MAX_SEEDS], w1[MAX_SEEDS], w10[MAX_SEEDS], once[MAX_SEEDS];
			for (int s = 0; s < seeds; s++) {
				struct noise z;
				noise_init(&z, 1000 + (uint64_t)s, late_ns, stall_ns);
				n = sim_gcra(rate, burst, dur, &z, ts, cap);
				check_gcra("at most burst at one instant", ts, n, rate, burst, dur);
				struct acc_fig f = analyse(ts, n, rate, dur);
				a[s] = f.achieved_pct;
				w1[s] = f.w1_dev;
				w10[s] = f.w10_dev;
				once[s] = f.at_once;
				if (bi == 1)
					gcra_ach[s] = f.achieved_pct;
			}
			snprintf(name, sizeof name, "gcra_%u_b%u_achieved", rate, burst);
			put(metrics, name, a, seeds, "% of rate");
			snprintf(name, sizeof name, "gcra_%u_b%u_w1s_dev", rate, burst);
			put(metrics, name, w1, seeds, "% max window deviation");
			snprintf(name, sizeof name, "gcra_%u_b%u_w10s_dev", rate, burst);
			put(metrics, name, w10, seeds, "% max window deviation");
			snprintf(name, sizeof name, "gcra_%u_b%u_most_at_once", rate, burst);
			put(metrics, name, once, seeds, "messages");
		}
		double a[MAX_SEEDS], w1[MAX_SEEDS], w10[MAX_SEEDS];
		for (int s = 0; s < seeds; s++) {
			struct noise z;
			noise_init(&z, 1000 + (uint64_t)s, late_ns, stall_ns);
			size_t n = sim_naive(rate, dur, &z, ts, cap);
			struct acc_fig f = analyse(ts, n, rate, dur);
			a[s] = naive_ach[s] = f.achieved_pct;
			w1[s] = f.w1_dev;
			w10[s] = f.w10_dev;
		}
		snprintf(name, sizeof name, "naive_%u_achieved", rate);
		put(metrics, name, a, seeds, "% of rate");
		snprintf(name, sizeof name, "naive_%u_w1s_dev", rate);
		put(metrics, name, w1, seeds, "% max window deviation");
		snprintf(name, sizeof name, "naive_%u_w10s_dev", rate);
		put(metrics, name, w10, seeds, "% max window deviation");
		snprintf(name, sizeof name, "model_%u_naive_vs_gcra_achieved", rate);
		bh_ratio_set(ratios, name, naive_ach, gcra_ach, seeds);
	}
	free(ts);
}

/* ----------------------------------------------------------------- 130429 */

/* greedy - sends as the exact sender would (wakes at limiter_next_ns) from
 * *now until `until`, appending to ts; *first95 gets the first wake at
 * which the limiter's rate is >= 95% of cfg_milli (if still 0). */
static size_t greedy(struct limiter *l, uint64_t *now, uint64_t until, uint64_t *ts, size_t n,
                     size_t cap, uint64_t cfg_milli, uint64_t *first95)
{
	while (*now < until && n < cap) {
		if (first95 && !*first95 && limiter_rate_milli(l, *now) * 100 >= cfg_milli * 95)
			*first95 = *now;
		if (limiter_take(l, *now)) {
			ts[n++] = *now;
			continue;
		}
		*now = limiter_next_ns(l, *now);
	}
	return n;
}

/* A server-side GCRA, written apart from the limiter (like wa-mock's). */
struct api_gcra {
	uint64_t tat, T, tau;
};

static int api_conforms(struct api_gcra *g, uint64_t now)
{
	uint64_t tat = g->tat > now ? g->tat : now;
	if (tat - now > g->tau)
		return 0;
	g->tat = tat + g->T;
	return 1;
}

/* sim_api - configured cfg/s (burst cfg/20) against an API limited to
 * api/s (burst api), answering rtt after the send, at most 64 in flight,
 * for dur. adaptive: report 130429s to the limiter. */
static void sim_api(uint32_t cfg, uint32_t api, uint64_t rtt, uint64_t dur, int adaptive,
                    uint64_t *throttles, uint64_t *accepted_late, uint64_t *accepted)
{
	enum { WIN = 64 };
	struct limiter l;
	limiter_init(&l, cfg, cfg / 20, 0);
	struct api_gcra g = { 0, NS / api, (uint64_t)(api - 1) * (NS / api) };
	uint64_t due[WIN], sent[WIN];
	int ok[WIN];
	size_t head = 0, count = 0;
	uint64_t now = 0;
	*throttles = *accepted_late = *accepted = 0;
	while (now < dur) {
		/* answers due */
		while (count && due[head] <= now) {
			if (!ok[head]) {
				(*throttles)++;
				if (adaptive)
					limiter_throttled(&l, due[head], sent[head], 0);
			}
			head = (head + 1) % WIN;
			count--;
		}
		if (count < WIN && limiter_take(&l, now)) {
			size_t k = (head + count) % WIN;
			ok[k] = api_conforms(&g, now);
			sent[k] = now;
			due[k] = now + rtt;
			count++;
			if (ok[k]) {
				(*accepted)++;
				if (now >= dur / 2)
					(*accepted_late)++;
			}
			continue;
		}
		uint64_t next = count < WIN ? limiter_next_ns(&l, now) : UINT64_MAX;
		if (count && due[head] < next)
			next = due[head];
		now = next > now ? next : now + 1;
	}
}

static void model_throttle(json_t *metrics, json_t *ratios, json_t *params)
{
	const uint32_t rate = 1000, burst = 50;
	const uint64_t t_hit = 10 * NS, end = 40 * NS;
	size_t cap = 64 * 1024;
	uint64_t *ts = malloc(cap * sizeof *ts);
	bh_check(ts != NULL, "allocation", 0, 0);

	/* One 130429 at 10 s for a request sent 50 ms earlier, no Retry-After. */
	struct limiter l;
	limiter_init(&l, rate, burst, 0);
	uint64_t now = 0, first95 = 0;
	size_t n = greedy(&l, &now, t_hit, ts, 0, cap, 0, NULL);
	size_t before = n;
	limiter_throttled(&l, t_hit, t_hit - 50 * MS, 0);
	uint64_t cut = limiter_rate_milli(&l, t_hit);
	bh_check(cut == 700000, "rate after one 130429 (milli-msg/s)", (long long)cut, 700000);
	if (now < t_hit)
		now = t_hit;
	n = greedy(&l, &now, end, ts, n, cap, (uint64_t)rate * 1000, &first95);
	bh_check(n > before, "sends after the throttle", (long long)(n - before), 1);
	uint64_t pause = ts[before] - t_hit;
	bh_check(pause == LIMITER_PAUSE_NS, "pause after 130429 (ns)", (long long)pause,
	         (long long)LIMITER_PAUSE_NS);
	bh_check(first95 != 0, "limiter rate back at 95%", 0, 1);
	/* Sent rate back: the end of the first trailing 1 s window after the
	 * pause holding >= 95% of rate x 1 s. */
	uint64_t sent95 = 0;
	size_t lo = before, hi = before;
	for (uint64_t e = t_hit + LIMITER_PAUSE_NS + NS; e <= end; e += MS) {
		while (hi < n && ts[hi] < e)
			hi++;
		while (lo < n && ts[lo] < e - NS)
			lo++;
		if ((hi - lo) * 100 >= (uint64_t)rate * 95) {
			sent95 = e;
			break;
		}
	}
	bh_check(sent95 != 0, "sent rate back at 95%", 0, 1);
	/* After recovery the rate is the configured one again: the last 10 s
	 * window holds rate x 10 s (+1 at most). */
	uint64_t mn, mx;
	win_counts(ts, n, end - 10 * NS, end, 10 * NS, MS, &mn, &mx);
	bh_check(mx <= 10ull * rate + 1 && mn + 1 >= 10ull * rate, "rate after recovery",
	         (long long)mn, 10ll * rate);
	put1(metrics, "throttle_pause_s", (double)pause / 1e9, "s");
	put1(metrics, "throttle_cut_to", (double)cut / 1e3, "msg/s");
	put1(metrics, "throttle_limiter_back_95pct_s", (double)(first95 - t_hit) / 1e9,
	     "s after the 130429");
	put1(metrics, "throttle_sent_back_95pct_s", (double)(sent95 - t_hit) / 1e9,
	     "s after the 130429 (trailing 1 s window)");

	/* Retry-After 5 s. */
	limiter_init(&l, rate, burst, 0);
	now = 0;
	n = greedy(&l, &now, t_hit, ts, 0, cap, 0, NULL);
	before = n;
	limiter_throttled(&l, t_hit, t_hit - 50 * MS, 5 * NS);
	now = t_hit;
	n = greedy(&l, &now, t_hit + 7 * NS, ts, n, cap, 0, NULL);
	bh_check(n > before, "sends after Retry-After", (long long)(n - before), 1);
	pause = ts[before] - t_hit;
	bh_check(pause == 5 * NS, "pause for Retry-After 5 s (ns)", (long long)pause, 5ll * NS);
	put1(metrics, "retry_after_5s_pause_s", (double)pause / 1e9, "s");

	/* A storm: 64 requests in flight, sent before the cut, all 130429. */
	limiter_init(&l, rate, burst, 0);
	for (int k = 0; k < 64; k++)
		limiter_throttled(&l, t_hit + (uint64_t)k * 100 * US, t_hit - 64 * MS + (uint64_t)k * MS,
		                  0);
	cut = limiter_rate_milli(&l, t_hit + 64 * 100 * US);
	bh_check(cut == 700000, "rate after a storm of 64 (one cut)", (long long)cut, 700000);
	put1(metrics, "storm_64_rate_after", (double)cut / 1e3, "msg/s (one cut)");

	/* The API's real limit is below the configured rate. */
	uint64_t thr_a, late_a, acc_a, thr_f, late_f, acc_f;
	const uint32_t api = 800;
	const uint64_t dur = 60 * NS;
	sim_api(rate, api, 50 * MS, dur, 1, &thr_a, &late_a, &acc_a);
	sim_api(rate, api, 50 * MS, dur, 0, &thr_f, &late_f, &acc_f);
	bh_check(acc_a > 0 && acc_f > 0, "accepted against the lower API limit", 0, 1);
	double ea = (double)late_a / ((double)api * 30) * 100;
	double ef = (double)late_f / ((double)api * 30) * 100;
	put1(metrics, "api800_adaptive_130429_per_min", (double)thr_a, "130429/min");
	put1(metrics, "api800_fixed_130429_per_min", (double)thr_f, "130429/min");
	put1(metrics, "api800_adaptive_accepted", ea, "% of the API limit (last 30 s)");
	put1(metrics, "api800_fixed_accepted", ef, "% of the API limit (last 30 s)");
	bh_ratio_set(ratios, "api800_adaptive_vs_fixed_accepted", &ea, &ef, 1);
	json_object_set_new(params, "api800",
	                    json_pack("{s:i,s:i,s:i,s:i,s:i,s:s}", "configured", rate, "burst",
	                              rate / 20, "api_limit", api, "api_burst", api, "rtt_ms", 50,
	                              "note", "64 in flight; rejected requests not counted"));
	free(ts);
}

/* ------------------------------------------------------------ pair spacing */

/* sim_pair - round robin over k numbers behind a global limiter at rate
 * (burst 1) and a pair table (capacity cap, gap 6 s) for dur; returns the
 * count of sends to a number less than the gap after its previous one,
 * *min_gap the least spacing seen, *sent the sends. */
static uint64_t sim_pair(uint32_t rate, size_t k, uint32_t capacity, uint64_t dur,
                         uint64_t *min_gap, uint64_t *sent)
{
	const uint64_t gap = 6 * NS;
	uint64_t *nums, *last = calloc(k, sizeof *last);
	bh_check(last != NULL && bh_gen_it_mobiles(7, k, &nums, 0, NULL) == 0, "allocation", 0, 0);
	struct limiter_pair *p;
	bh_check(limiter_pair_open(&p, capacity, gap) == 0, "limiter_pair_open", 0, 0);
	struct limiter l;
	limiter_init(&l, rate, 1, 0);
	uint64_t now = 0, bad = 0;
	*min_gap = UINT64_MAX;
	*sent = 0;
	for (size_t i = 0; now < dur; i = (i + 1) % k) {
		uint64_t t = limiter_pair_next_ns(p, nums[i], now);
		uint64_t g = limiter_next_ns(&l, t);
		now = g > t ? g : t;
		bh_check(limiter_take(&l, now), "global token at its next time", 0, 1);
		limiter_pair_sent(p, nums[i], now);
		if (last[i]) {  /* last send + 1; 0 = never */
			uint64_t d = now - (last[i] - 1);
			if (d < gap)
				bad++;
			if (d < *min_gap)
				*min_gap = d;
		}
		last[i] = now + 1;
		(*sent)++;
	}
	limiter_pair_close(&p);
	free(nums);
	free(last);
	return bad;
}

static void model_pair(json_t *metrics)
{
	uint64_t min_gap, sent;
	uint64_t bad = sim_pair(1000, 500, 16384, 60 * NS, &min_gap, &sent);
	bh_check(bad == 0, "pair gap kept (500 recipients, table 16,384)", (long long)bad, 0);
	bh_check(min_gap >= 6 * NS, "least spacing >= 6 s", (long long)min_gap, 6ll * NS);
	put1(metrics, "pair_500_violations", (double)bad, "sends within the 6 s gap");
	put1(metrics, "pair_500_min_spacing_s", (double)min_gap / 1e9, "s");
	put1(metrics, "pair_500_rate", (double)sent / 60, "msg/s (pair-limited: 500 / 6 s)");
	bad = sim_pair(10000, 20000, 16384, 30 * NS, &min_gap, &sent);
	/* Overfull: an evicted entry loses its gap (limiter.h); the sender
	 * sizes its table for rate x gap, so this is the cost of a table
	 * sized too small, reported, not a check. */
	put1(metrics, "pair_20k_overfull_violations", (double)bad,
	     "sends within the gap (20,000 live > 16,384 slots)");
	put1(metrics, "pair_20k_overfull_rate", (double)sent / 30,
	     "msg/s (limit 10,000/s; 20,000 / 6 s = 3,333 pair-limited)");
	put1(metrics, "pair_20k_overfull_violation_pct", (double)bad / (double)sent * 100,
	     "% of sends");

	/* 131056: 4^X s for consecutive hits, capped at 256 s. */
	struct limiter_pair *p;
	bh_check(limiter_pair_open(&p, 64, 0) == 0, "limiter_pair_open", 0, 0);
	static const uint64_t want[] = { 1, 4, 16, 64, 256, 256 };
	uint64_t now = 100 * NS;
	for (size_t i = 0; i < 6; i++) {
		uint64_t w = limiter_pair_throttled(p, 393351234567ull, now);
		bh_check(w == want[i] * NS, "131056 backoff (ns)", (long long)w, (long long)(want[i] * NS));
		uint64_t nx = limiter_pair_next_ns(p, 393351234567ull, now);
		bh_check(nx == now + w, "recipient waits its backoff", (long long)(nx - now), (long long)w);
		bh_check(limiter_pair_next_ns(p, 393351234568ull, now) == now,
		         "another recipient does not wait", 1, 0);
		now = nx;
	}
	limiter_pair_close(&p);
	put1(metrics, "pair_131056_backoff_max_s", 256, "s (1, 4, 16, 64, 256, 256 checked)");
}

/* -------------------------------------------------------------------- cost */

/* Results are stored here so that the timed loops cannot be optimised away. */
static volatile uint64_t bench_sink;

static uint64_t decisions(uint64_t iters, uint64_t *taken)
{
	struct limiter l;
	limiter_init(&l, 10000, 1, 0);
	uint64_t now = 0, got = 0, acc = 0;
	/* Time advances half an interval per decision: half are refused. */
	for (uint64_t i = 0; i < iters; i++) {
		now += 50 * US;
		if (limiter_take(&l, now))
			got++;
		else
			acc += limiter_next_ns(&l, now);
	}
	*taken = got;
	return acc;
}

static void model_cost(json_t *metrics, int runs)
{
	const uint64_t iters = 5000000;
	double ns[64], pns[64];
	uint64_t taken, sink = decisions(iters / 10, &taken);
	uint64_t *nums;
	const size_t k = 100000;
	bh_check(bh_gen_it_mobiles(9, k, &nums, 0, NULL) == 0, "allocation", 0, 0);
	for (int r = 0; r < runs; r++) {
		uint64_t t0 = bh_now_ns();
		sink += decisions(iters, &taken);
		ns[r] = (double)(bh_now_ns() - t0) / (double)iters;
		bh_check(taken == iters / 2, "decisions taken", (long long)taken, (long long)iters / 2);

		struct limiter_pair *p;
		bh_check(limiter_pair_open(&p, 16384, 6 * NS) == 0, "limiter_pair_open", 0, 0);
		uint64_t now = 0;
		t0 = bh_now_ns();
		for (uint64_t i = 0; i < iters / 5; i++) {
			uint64_t num = nums[i % k];
			now += 100 * US;
			if (limiter_pair_next_ns(p, num, now) == now)
				limiter_pair_sent(p, num, now);
			else
				sink++;
		}
		pns[r] = (double)(bh_now_ns() - t0) / (double)(iters / 5);
		limiter_pair_close(&p);
	}
	free(nums);
	bench_sink = sink;
	put(metrics, "cost_take_ns", ns, runs, "ns/decision (take or next)");
	put(metrics, "cost_pair_ns", pns, runs, "ns/lookup+update (16,384 slots)");
}

/* ----------------------------------------------------- real-time loops */

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / NS), (long)(t % NS) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void sleep_for(uint64_t d)
{
	struct timespec ts = { (time_t)(d / NS), (long)(d % NS) }, rem;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

/* rt_run - one real loop for dur: GCRA (burst rate/20) or naive. Fills
 * *rate_pct (sends in [1 s, dur) per second, % of rate) and *dev (largest
 * 1 s window deviation inside [1 s, dur), %). */
static void rt_run(int naive, uint32_t rate, uint64_t dur, uint64_t *ts, size_t cap,
                   double *rate_pct, double *dev)
{
	struct limiter l;
	uint64_t t0 = bh_now_ns(), now = t0, T = NS / rate;
	uint32_t burst = rate / 20 ? rate / 20 : 1;
	limiter_init(&l, rate, burst, t0);
	size_t n = 0;
	while (now - t0 < dur && n < cap) {
		if (naive) {
			ts[n++] = now - t0;
			sleep_for(T);
		} else if (limiter_take(&l, now)) {
			ts[n++] = now - t0;
			continue;
		} else {
			sleep_until(limiter_next_ns(&l, now));
		}
		now = bh_now_ns();
	}
	size_t from = 0;
	while (from < n && ts[from] < NS)
		from++;
	*rate_pct = (double)(n - from) / ((double)rate * (double)(dur - NS) / 1e9) * 100;
	*dev = win_dev_pct(ts + from, n - from, NS, dur, NS, MS, rate, NULL);
}

static void realtime(json_t *metrics, json_t *ratios, double secs, int runs)
{
	static const uint32_t rates[] = { 80, 1000, 10000 };
	uint64_t dur = (uint64_t)(secs * 1e9);
	size_t cap = (size_t)(10000 * secs) + 20000;
	uint64_t *ts = malloc(cap * sizeof *ts);
	bh_check(ts != NULL, "allocation", 0, 0);
	char name[96];
	for (size_t ri = 0; ri < 3; ri++) {
		double ga[64], gd[64], na[64], nd[64];
		for (int r = 0; r < runs; r++) {  /* A B A B … */
			rt_run(0, rates[ri], dur, ts, cap, &ga[r], &gd[r]);
			rt_run(1, rates[ri], dur, ts, cap, &na[r], &nd[r]);
		}
		snprintf(name, sizeof name, "rt_gcra_%u_achieved", rates[ri]);
		put(metrics, name, ga, runs, "% of rate");
		snprintf(name, sizeof name, "rt_gcra_%u_w1s_dev", rates[ri]);
		put(metrics, name, gd, runs, "% max window deviation");
		snprintf(name, sizeof name, "rt_naive_%u_achieved", rates[ri]);
		put(metrics, name, na, runs, "% of rate");
		snprintf(name, sizeof name, "rt_naive_%u_w1s_dev", rates[ri]);
		put(metrics, name, nd, runs, "% max window deviation");
		snprintf(name, sizeof name, "rt_%u_naive_vs_gcra_achieved", rates[ri]);
		bh_ratio_set(ratios, name, na, ga, runs);
	}
	free(ts);
}

/* ------------------------------------------------------- naive HTTP peer */

static size_t sink_body(char *p, size_t sz, size_t nm, void *ud)
{
	(void)p;
	(void)ud;
	return sz * nm;
}

static int naive_http(const char *url, uint32_t rate, size_t count, uint64_t seed)
{
	uint64_t *nums;
	if (bh_gen_it_mobiles(seed, count, &nums, 0, NULL) != 0)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *e = curl_easy_init();
	if (!e)
		return 1;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	const char *tok = getenv("BANDITORE_WA_TOKEN");
	char auth[256];
	if (tok) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_body);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	uint64_t T = NS / rate, accepted = 0, r429 = 0, other = 0, t0 = bh_now_ns();
	char body[512];
	for (size_t i = 0; i < count; i++) {
		snprintf(body, sizeof body,
		         "{\"messaging_product\":\"whatsapp\",\"to\":\"+%" PRIu64 "\",\"type\":\"template\","
		         "\"template\":{\"name\":\"notice\",\"language\":{\"code\":\"it\"},\"components\":"
		         "[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"Allerta\"}]}]},"
		         "\"biz_opaque_callback_data\":\"naive:%zu\"}",
		         nums[i], i);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		long code = 0;
		if (curl_easy_perform(e) == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200)
			accepted++;
		else if (code == 400)
			r429++;  /* wa-mock answers throttles 400; other 400s cannot occur here */
		else
			other++;
		sleep_for(T);
	}
	double el = (double)(bh_now_ns() - t0) / 1e9;
	printf("{\"sent\":%zu,\"accepted\":%" PRIu64 ",\"rejected_400\":%" PRIu64
	       ",\"other\":%" PRIu64 ",\"elapsed_s\":%.3f}\n",
	       count, accepted, r429, other, el);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	curl_global_cleanup();
	free(nums);
	return accepted + r429 == count ? 0 : 1;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	double secs = 60, rt_secs = 3;
	int seeds = 5, runs = 7, rt_runs = 3, rt = 0, json = 0;
	long long iterations = -1;
	uint64_t late_us = 200, stall_ms = 20, seed = 1;
	const char *url = NULL;
	uint32_t rate = 0;
	size_t count = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json"))
			json = 1;
		else if (!strcmp(a, "--realtime"))
			rt = 1;
		else if (v && !strcmp(a, "--seconds") && ++i)
			secs = atof(v);
		else if (v && !strcmp(a, "--seeds") && ++i)
			seeds = atoi(v);
		else if (v && !strcmp(a, "--runs") && ++i)
			runs = atoi(v);
		else if (v && !strcmp(a, "--late-us") && ++i)
			late_us = strtoull(v, NULL, 10);
		else if (v && !strcmp(a, "--stall-ms") && ++i)
			stall_ms = strtoull(v, NULL, 10);
		else if (v && !strcmp(a, "--rt-seconds") && ++i)
			rt_secs = atof(v);
		else if (v && !strcmp(a, "--rt-runs") && ++i)
			rt_runs = atoi(v);
		else if (v && !strcmp(a, "--iterations") && ++i)
			iterations = atoll(v);
		else if (v && !strcmp(a, "--naive-http") && ++i)
			url = v;
		else if (v && !strcmp(a, "--rate") && ++i)
			rate = (uint32_t)strtoul(v, NULL, 10);
		else if (v && !strcmp(a, "--count") && ++i)
			count = strtoull(v, NULL, 10);
		else if (v && !strcmp(a, "--seed") && ++i)
			seed = strtoull(v, NULL, 10);
		else {
			fprintf(stderr, "usage: bench_limiter [--json] [--seconds S] [--seeds K] [--runs R]\n"
			        "  [--late-us U] [--stall-ms M] [--realtime] [--rt-seconds S] [--rt-runs R]\n"
			        "  [--iterations N] [--naive-http URL --rate R --count N [--seed S]]\n");
			return 2;
		}
	}
	if (url) {
		if (!rate || !count) {
			fprintf(stderr, "bench_limiter: --naive-http needs --rate and --count\n");
			return 2;
		}
		return naive_http(url, rate, count, seed);
	}
	if (iterations >= 0) {
		uint64_t taken;
		uint64_t s = decisions((uint64_t)iterations, &taken);
		printf("{\"iterations\":%lld,\"taken\":%" PRIu64 ",\"sink\":%" PRIu64 "}\n", iterations,
		       taken, s & 1);
		return taken == (uint64_t)iterations / 2 ? 0 : 1;
	}
	if (secs < 20 || seeds < 1 || seeds > MAX_SEEDS || runs < 1 || runs > 64 || rt_runs < 1 ||
	    rt_runs > 64 || rt_secs < 2) {
		fprintf(stderr, "bench_limiter: bad parameters (seconds >= 20, 1 <= seeds <= %d, "
		        "runs <= 64, rt-seconds >= 2)\n", MAX_SEEDS);
		return 2;
	}
	json_t *o = json_object(), *metrics = json_object(), *ratios = json_object();
	json_t *params = json_pack("{s:f,s:i,s:I,s:I,s:i}", "model_seconds", secs, "model_seeds",
	                           seeds, "late_us", (json_int_t)late_us, "stall_ms_per_s",
	                           (json_int_t)stall_ms, "cost_runs", runs);
	uint64_t dur = (uint64_t)(secs * 1e9);
	model_accuracy(metrics, ratios, dur, seeds, late_us * US, stall_ms * MS);
	model_throttle(metrics, ratios, params);
	model_pair(metrics);
	model_cost(metrics, runs);
	if (rt) {
		json_object_set_new(params, "rt_seconds", json_real(rt_secs));
		json_object_set_new(params, "rt_runs", json_integer(rt_runs));
		realtime(metrics, ratios, rt_secs, rt_runs);
	}
	json_object_set_new(o, "scenario", json_string("limiter"));
	json_object_set_new(o, "params", params);
	json_object_set_new(o, "metrics", metrics);
	json_object_set_new(o, "ratios", ratios);
	if (json)
		return bh_print_json(o) == 0 ? 0 : 1;
	char *s = json_dumps(o, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}
