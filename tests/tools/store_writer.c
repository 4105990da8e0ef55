/*
 * store_writer.c - the victim of the crash test (tests/integration/
 * test_store_crash.sh): appends subscription records to a store from several
 * threads with group commit and reports, on stdout, what it was about to
 * write and what the store acknowledged as durable, so that a checker can
 * prove after `kill -9` that nothing acknowledged was lost.
 *
 * usage: store_writer DIR RUN [THREADS [MAX_SECONDS [READY_FILE]]]
 * READY_FILE, when given, is created once the store is open, so that the
 * test can aim its kill at the writing rather than at the open.
 *
 * Output protocol (one write(2) per batch, so lines of different threads
 * never interleave inside a line when stdout is a file opened O_APPEND):
 *   T NUMBER STATE     before a batch is appended: the record may reach disk
 *   A NUMBER STATE     after store_sync returned 0 for the batch: it must
 * Numbers are unique per (RUN, thread, i): 393 RR T IIIIII (RUN < 100,
 * THREADS <= 10, i < 10^6), so successive runs on one directory never touch
 * each other's numbers. Within a thread, some earlier acknowledged numbers
 * are moved to another state in a later batch (transitions), so the check
 * also covers "the latest acknowledged state wins".
 *
 * Batches have a random size (1..64) and a random pause (0..2 ms) after
 * them, so that syncs of several threads overlap in varied ways (group
 * commit) while the log stays small enough to re-check after every kill. The process stops by itself after
 * MAX_SECONDS (default 30) or 10^6 records per thread: the loop is bounded.
 * Exit codes: 0 stopped by itself, 1 an error (printed on stderr).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "store.h"

#define BATCH_MAX 64
#define PER_THREAD_MAX 1000000u
#define LINE_MAX_LEN 32   /* "T 393999999999999 4\n" fits */

struct writer {
	struct store *s;
	int run, tid;
	uint64_t deadline_ns;
	uint64_t rng;
	int failed;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* write all of buf to stdout; the caller's lines must reach the file whole */
static int write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static size_t put_line(char *p, char kind, uint64_t num, int st)
{
	return (size_t)snprintf(p, LINE_MAX_LEN, "%c %llu %d\n", kind, (unsigned long long)num, st);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	static const enum sub_state first[4] = { SUB_CONFIRMED, SUB_REQUESTED, SUB_CONFIRMED,
	                                         SUB_INVALID };
	uint64_t nums[BATCH_MAX];
	int sts[BATCH_MAX];
	char *buf = malloc((size_t)BATCH_MAX * LINE_MAX_LEN);
	if (!buf) {
		w->failed = 1;
		return NULL;
	}
	uint64_t base = 393000000000ull + (uint64_t)w->run * 10000000ull +
	                (uint64_t)w->tid * 1000000ull;
	uint32_t i = 0;        /* next new number of this thread */
	uint32_t acked = 0;    /* numbers [0, acked) are acknowledged */
	while (i < PER_THREAD_MAX && mono_ns() < w->deadline_ns) {
		int n = 1 + (int)(splitmix(&w->rng) % BATCH_MAX);
		int k = 0;
		for (; k < n && i < PER_THREAD_MAX; k++) {
			/* One record in eight moves an acknowledged number on:
			 * requested -> confirmed, others -> unsubscribed. */
			if (acked > 0 && splitmix(&w->rng) % 8 == 0) {
				uint32_t j = (uint32_t)(splitmix(&w->rng) % acked);
				nums[k] = base + j;
				sts[k] = first[j % 4] == SUB_REQUESTED ? SUB_CONFIRMED
				                                          : SUB_UNSUBSCRIBED;
				/* The same number twice in one batch would make the
				 * expected order ambiguous for the checker: skip. */
				int dup = 0;
				for (int q = 0; q < k; q++)
					dup |= nums[q] == nums[k];
				if (!dup)
					continue;
			}
			nums[k] = base + i;
			sts[k] = first[i % 4];
			i++;
		}
		n = k;
		size_t len = 0;
		for (k = 0; k < n; k++)
			len += put_line(buf + len, 'T', nums[k], sts[k]);
		if (write_all(buf, len) != 0)
			goto fail;
		uint64_t ticket = 0, t_ms = wall_ms();
		for (k = 0; k < n; k++) {
			/* a distinct source id per record, as inbound messages have */
			char src[64];
			int sl = snprintf(src, sizeof src, "wamid.crash.%llu.%llu",
			                  (unsigned long long)nums[k], (unsigned long long)splitmix(&w->rng));
			int rc = store_append(w->s, nums[k], (enum sub_state)sts[k], t_ms,
			                      (const uint8_t *)src, (size_t)sl, &ticket);
			if (rc != 0) {
				fprintf(stderr, "store_writer: append: %s\n", bnd_strerror(rc));
				goto fail;
			}
		}
		int rc = store_sync(w->s, ticket);
		if (rc != 0) {
			fprintf(stderr, "store_writer: sync: %s\n", bnd_strerror(rc));
			goto fail;
		}
		len = 0;
		for (k = 0; k < n; k++)
			len += put_line(buf + len, 'A', nums[k], sts[k]);
		if (write_all(buf, len) != 0)
			goto fail;
		acked = i;
		usleep((useconds_t)(splitmix(&w->rng) % 2000));
	}
	free(buf);
	return NULL;
fail:
	w->failed = 1;
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 6) {
		fprintf(stderr, "usage: store_writer DIR RUN [THREADS [MAX_SECONDS [READY_FILE]]]\n");
		return 1;
	}
	int run = atoi(argv[2]);
	int threads = argc > 3 ? atoi(argv[3]) : 4;
	int max_s = argc > 4 ? atoi(argv[4]) : 30;
	if (run < 0 || run > 99 || threads < 1 || threads > 10 || max_s < 1 || max_s > 600) {
		fprintf(stderr, "store_writer: RUN 0..99, THREADS 1..10, MAX_SECONDS 1..600\n");
		return 1;
	}
	struct store_opts opts = { .flags = STORE_CREATE, .holder = "store_writer" };
	struct store_open_info info;
	struct store *s = NULL;
	int rc = store_open(&s, argv[1], &opts, &info);
	if (rc != 0) {
		fprintf(stderr, "store_writer: open %s: %s (file %s offset %llu)\n", argv[1],
		        bnd_strerror(rc), info.err_file, (unsigned long long)info.err_offset);
		return 1;
	}
	if (info.tail_dropped_bytes)
		fprintf(stderr, "store_writer: repaired a torn tail of %llu bytes\n",
		        (unsigned long long)info.tail_dropped_bytes);
	if (argc > 5) {
		FILE *rf = fopen(argv[5], "w");
		if (rf)
			fclose(rf);
	}

	struct writer w[10];
	pthread_t th[10];
	uint64_t deadline = mono_ns() + (uint64_t)max_s * 1000000000u;
	int started = 0, status = 0;
	for (int t = 0; t < threads; t++) {
		w[t] = (struct writer){ .s = s, .run = run, .tid = t, .deadline_ns = deadline,
		                        .rng = (uint64_t)run * 1000003u + (uint64_t)t * 7919u +
		                               (uint64_t)getpid() };
		if (pthread_create(&th[t], NULL, writer_main, &w[t]) != 0) {
			fprintf(stderr, "store_writer: pthread_create failed\n");
			status = 1;
			break;
		}
		started++;
	}
	for (int t = 0; t < started; t++) {
		pthread_join(th[t], NULL);
		status |= w[t].failed;
	}
	rc = store_close(&s);
	if (rc != 0) {
		fprintf(stderr, "store_writer: close: %s\n", bnd_strerror(rc));
		status = 1;
	}
	return status;
}
