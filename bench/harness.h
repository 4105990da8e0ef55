/*
 * harness.h - the shared benchmark harness (bench/README.md): clocks, CPU
 * time and peak memory, order statistics, a seeded generator of Italian
 * mobile numbers, and helpers that build the JSON a scenario prints.
 *
 * Every benchmark program uses these so that figures mean the same thing
 * everywhere: wall time from CLOCK_MONOTONIC, CPU time from getrusage
 * (user + system, so kernel work such as fdatasync shows), memory as the
 * kernel's peak resident set, statistics as median/min/max over runs.
 * Results are JSON (jansson); a run's counts are checked by the program
 * itself (bh_check) so a broken fast path cannot report a number.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- time and resources ---- */

/* bh_now_ns - CLOCK_MONOTONIC in nanoseconds. */
uint64_t bh_now_ns(void);

/* bh_cpu_ns - CPU time of the process so far (user + system), in ns. */
uint64_t bh_cpu_ns(void);

/* bh_peak_rss_kb - peak resident set size of the process, in KiB. */
long bh_peak_rss_kb(void);

/* bh_rss_kb - current resident set size, in KiB (from /proc/self/statm);
 * -1 when unavailable. */
long bh_rss_kb(void);

/* A measured interval: wall and CPU time. */
struct bh_timer {
	uint64_t wall0, cpu0;
	uint64_t wall_ns, cpu_ns;  /* filled by bh_timer_stop */
};
void bh_timer_start(struct bh_timer *t);
void bh_timer_stop(struct bh_timer *t);

/* bh_rate - ops per second for n operations in ns nanoseconds (0 if ns 0). */
double bh_rate(uint64_t n, uint64_t ns);

/* ---- statistics ---- */

struct bh_stats {
	double median, min, max;
	int runs;
};

/* bh_stats_of - order statistics of v[0..n) (v is not modified; n >= 1).
 * The median of an even count is the mean of the two middle values. */
struct bh_stats bh_stats_of(const double *v, int n);

/* ---- checks ---- */

/*
 * bh_check - when cond is false, print "CHECK FAILED: <what>" with the
 * values to stderr and exit(3): a benchmark whose result counts are wrong
 * must not report a figure.
 */
void bh_check(int cond, const char *what, long long got, long long want);

/* ---- seeded random numbers ---- */

/* xoshiro256** seeded through splitmix64: fast, fixed across platforms. */
struct bh_rng {
	uint64_t s[4];
};
void bh_rng_seed(struct bh_rng *r, uint64_t seed);
uint64_t bh_rng_next(struct bh_rng *r);
/* bh_rng_below - uniform in [0, n) (n > 0), without modulo bias. */
uint64_t bh_rng_below(struct bh_rng *r, uint64_t n);
/* bh_shuffle - Fisher-Yates shuffle of v[0..n). */
void bh_shuffle(struct bh_rng *r, uint64_t *v, size_t n);

/*
 * bh_gen_it_mobiles - n distinct Italian mobile numbers in packed form
 * (phone.h): 39 3xx xxxxxxx, i.e. 393000000000 + a 9-digit suffix, in
 * random order. The same seed gives the same list. Also, when miss is not
 * NULL, n_miss more distinct numbers of the same shape that are NOT in the
 * first list (for lookups that must miss). Both arrays are malloc'ed and
 * owned by the caller. Returns 0 or -1 (allocation failure; nothing to free).
 */
int bh_gen_it_mobiles(uint64_t seed, size_t n, uint64_t **out, size_t n_miss,
                      uint64_t **miss);

/* ---- JSON output (bench/README.md shape) ---- */

/*
 * bh_metric - {"median":…,"min":…,"max":…,"unit":unit,"runs":n} for the
 * values v[0..n). Returns a new reference or NULL.
 */
json_t *bh_metric(const double *v, int n, const char *unit);

/* bh_metric_set - metrics[name] = bh_metric(v, n, unit). Returns 0 or -1. */
int bh_metric_set(json_t *metrics, const char *name, const double *v, int n, const char *unit);

/*
 * bh_ratio_set - ratios[name] = {"median": median of a[i]/b[i] over the
 * paired runs i, "min", "max", "runs"}: the ratio of each interleaved pair,
 * so that drifts of the machine during the run cancel out. Returns 0 or -1.
 */
int bh_ratio_set(json_t *ratios, const char *name, const double *a, const double *b, int n);

/* bh_print_json - print obj compactly on one line of stdout; drops the
 * reference. Returns 0 or -1. */
int bh_print_json(json_t *obj);

#endif
