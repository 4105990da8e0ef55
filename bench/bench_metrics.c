/*
 * bench_metrics.c - what a metrics update costs on the hot path
 * (engine/metrics.h), next to its peers, single-threaded and with two
 * threads.
 *
 * Peers, run side by side and interleaved (A B C A B C ...) in each run:
 *   plain       a non-atomic increment through a volatile pointer: the floor
 *   counter     metrics_counter_inc: one relaxed atomic add (what we ship)
 *   mutex       a pthread mutex around a plain increment: the usual
 *               alternative a registry with locks would pay
 *   histogram   metrics_histogram_observe over 16 buckets (binary search +
 *               two atomic adds)
 * Two threads (each does iters/4 updates at the same time):
 *   shared      both increment ONE counter (true sharing: the line bounces)
 *   own         each increments its own series (64-byte cells: no sharing)
 *   adjacent    each increments its own counter, the two 8 bytes apart on
 *               one cache line: what the 64-byte cells avoid (false sharing)
 *   mutex2      both increment one mutex-protected counter
 *
 * Every run checks the final counts (a broken path cannot report a number)
 * and prints one JSON object (bench/README.md): ns per update, median/min/
 * max over runs, and ratios to the atomic counter.
 *
 * usage: bench_metrics [--iters N] [--runs R]   (defaults 20000000, 5)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bnd.h"
#include "metrics.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double median, min, max;
};

static struct stats stats_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	struct stats s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
	return s;
}

static void fail(const char *what, uint64_t got, uint64_t want)
{
	fprintf(stderr, "bench_metrics: %s: count %" PRIu64 ", expected %" PRIu64 "\n", what, got,
	        want);
	exit(1);
}

/* ------------------------------------------------------------- single */

static double run_plain(uint64_t n)
{
	static uint64_t cell;
	volatile uint64_t *p = &cell;
	cell = 0;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		(*p)++;
	uint64_t dt = now_ns() - t0;
	if (cell != n)
		fail("plain", cell, n);
	return (double)dt / (double)n;
}

static double run_counter(struct metrics_counter *c, uint64_t n)
{
	uint64_t before = metrics_counter_get(c);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		metrics_counter_inc(c);
	uint64_t dt = now_ns() - t0;
	if (metrics_counter_get(c) - before != n)
		fail("counter", metrics_counter_get(c) - before, n);
	return (double)dt / (double)n;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t locked_count;

static double run_mutex(uint64_t n)
{
	locked_count = 0;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		pthread_mutex_lock(&mu);
		locked_count++;
		pthread_mutex_unlock(&mu);
	}
	uint64_t dt = now_ns() - t0;
	if (locked_count != n)
		fail("mutex", locked_count, n);
	return (double)dt / (double)n;
}

static double run_histogram(struct metrics_histogram *h, uint64_t n)
{
	uint64_t before = metrics_histogram_count(h);
	/* latencies spread over the buckets: a cheap LCG, fixed seed */
	uint64_t x = 42;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		metrics_histogram_observe(h, (x >> 33) % 6000000000ull);
	}
	uint64_t dt = now_ns() - t0;
	if (metrics_histogram_count(h) - before != n)
		fail("histogram", metrics_histogram_count(h) - before, n);
	return (double)dt / (double)n;
}

/* ---------------------------------------------------------- two threads */

enum mode { SHARED, OWN, ADJACENT, MUTEX2 };

struct two {
	enum mode mode;
	uint64_t n;
	struct metrics_counter *a, *b;     /* SHARED: a == b */
	_Atomic uint64_t *adj;             /* ADJACENT: adj[0], adj[1] */
	pthread_barrier_t *bar;
	int id;
};

static void *two_thread(void *arg)
{
	struct two *t = arg;
	struct metrics_counter *c = t->id ? t->b : t->a;
	pthread_barrier_wait(t->bar);
	switch (t->mode) {
	case SHARED:
	case OWN:
		for (uint64_t i = 0; i < t->n; i++)
			metrics_counter_inc(c);
		break;
	case ADJACENT:
		for (uint64_t i = 0; i < t->n; i++)
			atomic_fetch_add_explicit(&t->adj[t->id], 1, memory_order_relaxed);
		break;
	case MUTEX2:
		for (uint64_t i = 0; i < t->n; i++) {
			pthread_mutex_lock(&mu);
			locked_count++;
			pthread_mutex_unlock(&mu);
		}
		break;
	}
	return NULL;
}

/* run_two - wall ns per update per thread (each thread does n). */
static double run_two(enum mode mode, struct metrics_counter *a, struct metrics_counter *b,
                      uint64_t n)
{
	static _Alignas(64) _Atomic uint64_t adj[2];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 3);
	struct two t[2];
	pthread_t th[2];
	uint64_t a0 = metrics_counter_get(a), b0 = metrics_counter_get(b);
	atomic_store(&adj[0], 0);
	atomic_store(&adj[1], 0);
	locked_count = 0;
	for (int i = 0; i < 2; i++) {
		t[i] = (struct two){mode, n, a, b, adj, &bar, i};
		if (pthread_create(&th[i], NULL, two_thread, &t[i]) != 0) {
			fprintf(stderr, "bench_metrics: pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&bar);
	uint64_t t0 = now_ns();
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	uint64_t dt = now_ns() - t0;
	pthread_barrier_destroy(&bar);
	switch (mode) {
	case SHARED:
		if (metrics_counter_get(a) - a0 != 2 * n)
			fail("shared", metrics_counter_get(a) - a0, 2 * n);
		break;
	case OWN:
		if (metrics_counter_get(a) - a0 != n || metrics_counter_get(b) - b0 != n)
			fail("own", metrics_counter_get(a) - a0, n);
		break;
	case ADJACENT:
		if (atomic_load(&adj[0]) != n || atomic_load(&adj[1]) != n)
			fail("adjacent", atomic_load(&adj[0]), n);
		break;
	case MUTEX2:
		if (locked_count != 2 * n)
			fail("mutex2", locked_count, 2 * n);
		break;
	}
	return (double)dt / (double)n;
}

/* ---------------------------------------------------------------- main */

#define PEERS 8
static const char *const names[PEERS] = {
	"plain", "counter", "mutex", "histogram", "shared_2t", "own_2t", "adjacent_2t", "mutex_2t",
};

int main(int argc, char **argv)
{
	uint64_t iters = 20000000;
	int runs = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_metrics [--iters N] [--runs R]\n");
			return 2;
		}
	}
	if (iters < 1000 || runs < 1 || runs > 100) {
		fprintf(stderr, "bench_metrics: --iters >= 1000, --runs 1..100\n");
		return 2;
	}

	struct metrics *m;
	struct metrics_set set;
	struct metrics_build b = {"bench", "none"};
	if (metrics_open(&m) != 0 || metrics_set_register(m, &set, &b) != 0) {
		fprintf(stderr, "bench_metrics: registry set-up failed\n");
		return 1;
	}
	struct metrics_counter *c = set.messages[METRICS_OUT_ACCEPTED];
	struct metrics_counter *c2 = set.messages[METRICS_OUT_EXPIRED];
	struct metrics_histogram *h = set.fsync[METRICS_FILE_JOURNAL];
	uint64_t n2 = iters / 4;  /* per thread */

	/* warm-up: a tenth of a run of each */
	run_plain(iters / 10);
	run_counter(c, iters / 10);
	run_mutex(iters / 10);
	run_histogram(h, iters / 10);
	run_two(OWN, c, c2, n2 / 10);

	double v[PEERS][100];
	for (int r = 0; r < runs; r++) {
		v[0][r] = run_plain(iters);
		v[1][r] = run_counter(c, iters);
		v[2][r] = run_mutex(iters);
		v[3][r] = run_histogram(h, iters);
		v[4][r] = run_two(SHARED, c, c, n2);
		v[5][r] = run_two(OWN, c, c2, n2);
		v[6][r] = run_two(ADJACENT, c, c2, n2);
		v[7][r] = run_two(MUTEX2, c, c2, n2);
	}
	/* the registry still renders after all that */
	char *text = NULL;
	if (metrics_render(m, &text, NULL) != 0 || !strstr(text, "banditore_messages_total")) {
		fprintf(stderr, "bench_metrics: render failed\n");
		return 1;
	}
	bnd_free(text);

	struct stats s[PEERS];
	for (int p = 0; p < PEERS; p++)
		s[p] = stats_of(v[p], runs);
	printf("{\"scenario\":\"metrics\",\"params\":{\"iters\":%" PRIu64 ",\"iters_per_thread_2t\":%"
	       PRIu64 ",\"runs\":%d},\"metrics\":{",
	       iters, n2, runs);
	for (int p = 0; p < PEERS; p++)
		printf("%s\"%s_ns\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,\"unit\":\"ns/update%s\","
		       "\"runs\":%d}",
		       p ? "," : "", names[p], s[p].median, s[p].min, s[p].max,
		       p >= 4 ? " per thread" : "", runs);
	printf("},\"ratios\":{\"mutex_vs_counter\":{\"median\":%.2f},"
	       "\"histogram_vs_counter\":{\"median\":%.2f},"
	       "\"shared_2t_vs_own_2t\":{\"median\":%.2f},"
	       "\"adjacent_2t_vs_own_2t\":{\"median\":%.2f},"
	       "\"mutex_2t_vs_own_2t\":{\"median\":%.2f}},",
	       s[2].median / s[1].median, s[3].median / s[1].median, s[4].median / s[5].median,
	       s[6].median / s[5].median, s[7].median / s[5].median);
	printf("\"notes\":\"ns per update; two-thread figures are wall time per update of each "
	       "thread, both running at once; own_2t uses the registry's 64-byte cells, "
	       "adjacent_2t puts two counters on one cache line\"}\n");
	metrics_close(&m);
	return 0;
}
