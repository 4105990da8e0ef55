/*
 * bench_fanout.c - builds the audience of bench/scenario_fanout.sh: a
 * subscriber store of N confirmed numbers (distinct, seeded), each record
 * carrying its own source id, as subscribers confirmed through webhooks
 * have (a WhatsApp message id each).
 *
 *   bench_fanout --data DIR --count N [--seed S]
 *
 * Why not `banditore subscribers import`: every imported record carries the
 * same source id ("import"), and the store's source-id window (store.c,
 * store__src_push) degrades to quadratic time on identical ids: opening a
 * store of 100,000 imported numbers costs ~2.5 s of CPU, and 1,000,000
 * would take hours. That is a store bug, reported; with unique ids (the
 * real case for a city's subscribers) opening is fast. Prints one JSON
 * line {"count":N,"secs":...}; exits 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bnd.h"
#include "store.h"

int main(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long n = 0, seed = 42;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--data") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = strtoul(argv[i + 1], NULL, 10);
	}
	if (!dir || !n) {
		fprintf(stderr, "usage: bench_fanout --data DIR --count N [--seed S]\n");
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct store *s = NULL;
	struct store_opts o = { .flags = STORE_CREATE, .holder = "bench_fanout" };
	int rc = store_open(&s, dir, &o, NULL);
	if (rc) {
		fprintf(stderr, "store_open: %s\n", bnd_strerror(rc));
		return 1;
	}
	store_reserve(s, n);
	/* splitmix64 over 9-digit suffixes of Italian mobiles: 3930xxxxxxxx..;
	 * duplicates are appended twice (a re-confirmation), counted once. */
	uint64_t x = seed;
	unsigned long added = 0;
	for (unsigned long i = 0; added < n; i++) {
		x += 0x9e3779b97f4a7c15ull;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		uint64_t num = 393000000000ull + z % 999999999ull;
		enum sub_state st;
		store_get(s, num, &st, NULL);
		if (st == SUB_CONFIRMED)
			continue;
		char src[40];
		int len = snprintf(src, sizeof src, "wamid.bench%lu.%lu", seed, i);
		rc = store_append(s, num, SUB_CONFIRMED, 1760000000000ull + i, (const uint8_t *)src,
		                  (size_t)len, NULL);
		if (rc) {
			fprintf(stderr, "store_append: %s\n", bnd_strerror(rc));
			return 1;
		}
		added++;
	}
	rc = store_close(&s);
	if (rc) {
		fprintf(stderr, "store_close: %s\n", bnd_strerror(rc));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"count\":%lu,\"secs\":%.3f}\n", added,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
