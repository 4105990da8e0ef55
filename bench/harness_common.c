/*
 * harness_common.c - the shared benchmark harness (see harness.h).
 *
 * The number generator draws 9-digit suffixes for 393xxxxxxxxx, sorts them
 * to drop duplicates (draws again for the few collisions) and shuffles the
 * result, so lists are distinct, random in order and reproducible from the
 * seed alone. Misses are drawn the same way and rejected when they are in
 * the sorted hit list (binary search).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t bh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bh_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

long bh_peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

long bh_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	long size, res;
	int ok = fscanf(f, "%ld %ld", &size, &res) == 2;
	fclose(f);
	return ok ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

void bh_timer_start(struct bh_timer *t)
{
	t->cpu0 = bh_cpu_ns();
	t->wall0 = bh_now_ns();
}

void bh_timer_stop(struct bh_timer *t)
{
	t->wall_ns = bh_now_ns() - t->wall0;
	t->cpu_ns = bh_cpu_ns() - t->cpu0;
}

double bh_rate(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct bh_stats bh_stats_of(const double *v, int n)
{
	struct bh_stats s = { 0, 0, 0, n };
	if (n <= 0)
		return s;
	double *c = malloc((size_t)n * sizeof *c);
	if (!c) {
		s.median = s.min = s.max = v[0];
		return s;
	}
	memcpy(c, v, (size_t)n * sizeof *c);
	qsort(c, (size_t)n, sizeof *c, dbl_cmp);
	s.min = c[0];
	s.max = c[n - 1];
	s.median = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return s;
}

void bh_check(int cond, const char *what, long long got, long long want)
{
	if (cond)
		return;
	fprintf(stderr, "CHECK FAILED: %s (got %lld, want %lld)\n", what, got, want);
	exit(3);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bh_rng_seed(struct bh_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t bh_rng_next(struct bh_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t bh_rng_below(struct bh_rng *r, uint64_t n)
{
	/* Reject the top partial range so every value is equally likely. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = bh_rng_next(r);
	while (x >= lim);
	return x % n;
}

void bh_shuffle(struct bh_rng *r, uint64_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)bh_rng_below(r, i);
		uint64_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

#define IT_MOBILE_BASE 393000000000ull   /* 39 (Italy) 3 (mobile) + 9 digits */
#define IT_MOBILE_SPAN 1000000000ull

/* n distinct draws, sorted; returns the array or NULL */
static uint64_t *draw_sorted_unique(struct bh_rng *r, size_t n, const uint64_t *avoid,
                                    size_t n_avoid)
{
	uint64_t *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return NULL;
	size_t have = 0;
	while (have < n) {
		for (size_t i = have; i < n; i++) {
			uint64_t x = IT_MOBILE_BASE + bh_rng_below(r, IT_MOBILE_SPAN);
			while (avoid && bsearch(&x, avoid, n_avoid, sizeof x, u64_cmp))
				x = IT_MOBILE_BASE + bh_rng_below(r, IT_MOBILE_SPAN);
			v[i] = x;
		}
		qsort(v, n, sizeof *v, u64_cmp);
		size_t w = 0;
		for (size_t i = 0; i < n; i++)
			if (w == 0 || v[i] != v[w - 1])
				v[w++] = v[i];
		have = w;   /* redraw the tail for the duplicates dropped */
	}
	return v;
}

int bh_gen_it_mobiles(uint64_t seed, size_t n, uint64_t **out, size_t n_miss, uint64_t **miss)
{
	struct bh_rng r;
	bh_rng_seed(&r, seed);
	uint64_t *v = draw_sorted_unique(&r, n, NULL, 0);
	if (!v)
		return -1;
	if (miss) {
		uint64_t *m = draw_sorted_unique(&r, n_miss, v, n);
		if (!m) {
			free(v);
			return -1;
		}
		bh_shuffle(&r, m, n_miss);
		*miss = m;
	}
	bh_shuffle(&r, v, n);
	*out = v;
	return 0;
}

json_t *bh_metric(const double *v, int n, const char *unit)
{
	struct bh_stats s = bh_stats_of(v, n);
	return json_pack("{s:f,s:f,s:f,s:s,s:i}", "median", s.median, "min", s.min, "max", s.max,
	                 "unit", unit, "runs", n);
}

int bh_metric_set(json_t *metrics, const char *name, const double *v, int n, const char *unit)
{
	json_t *m = bh_metric(v, n, unit);
	return m ? json_object_set_new(metrics, name, m) : -1;
}

int bh_ratio_set(json_t *ratios, const char *name, const double *a, const double *b, int n)
{
	double r[64];
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++)
		r[i] = b[i] != 0 ? a[i] / b[i] : 0;
	struct bh_stats s = bh_stats_of(r, n);
	json_t *o = json_pack("{s:f,s:f,s:f,s:i}", "median", s.median, "min", s.min, "max", s.max,
	                      "runs", n);
	return o ? json_object_set_new(ratios, name, o) : -1;
}

int bh_print_json(json_t *obj)
{
	if (!obj)
		return -1;
	int rc = json_dumpf(obj, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(obj);
	putchar('\n');
	fflush(stdout);
	return rc;
}
