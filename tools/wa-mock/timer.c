/*
 * timer.c - a min-heap of (due, item) (dheap.h) and one thread that sleeps on a
 * condition variable until the earliest is due (see timer.h).
 *
 * The condition variable waits on CLOCK_MONOTONIC, the clock every due time
 * is measured on. Callbacks run without the lock held, so a callback may
 * add items.
 */
#include "timer.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "bnd.h"
#include "dheap.h"

struct timer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t drained;
	struct dheap h;
	int closing;   /* drain: fire everything, accept nothing */
	int stop;      /* thread exits */
	int busy;      /* callbacks running outside the lock */
	timer_fn fn;
	void *ud;
	pthread_t thread;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *timer_main(void *arg)
{
	struct timer *t = arg;
	enum { BATCH = 256 };
	struct dheap_item fire[BATCH];
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		uint64_t now = mono_ns();
		size_t k = 0;
		while (dheap_len(&t->h) && k < BATCH &&
		       (t->closing || dheap_top(&t->h)->due <= now))
			fire[k++] = dheap_pop(&t->h);
		if (k) {
			t->busy = 1;
			pthread_mutex_unlock(&t->mu);
			for (size_t i = 0; i < k; i++)
				t->fn(fire[i].p, t->ud);
			pthread_mutex_lock(&t->mu);
			t->busy = 0;
			continue;
		}
		if (t->closing)
			pthread_cond_broadcast(&t->drained);
		if (dheap_len(&t->h)) {
			uint64_t due = dheap_top(&t->h)->due;
			struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
			pthread_cond_timedwait(&t->cv, &t->mu, &ts);
		} else {
			pthread_cond_wait(&t->cv, &t->mu);
		}
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int timer_open(struct timer **out, timer_fn fn, void *ud)
{
	struct timer *t = bnd_calloc(1, sizeof *t);
	if (!t)
		return BND_E_NOMEM;
	t->fn = fn;
	t->ud = ud;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&t->drained, NULL);
	pthread_mutex_init(&t->mu, NULL);
	int e = pthread_create(&t->thread, NULL, timer_main, t);
	if (e != 0) {
		pthread_cond_destroy(&t->cv);
		pthread_cond_destroy(&t->drained);
		pthread_mutex_destroy(&t->mu);
		bnd_free(t);
		return -e;
	}
	*out = t;
	return 0;
}

int timer_add(struct timer *t, uint64_t due_ns, void *item)
{
	int rc = 0;
	pthread_mutex_lock(&t->mu);
	if (t->closing) {
		rc = BND_E_CLOSED;
		goto out;
	}
	rc = dheap_push(&t->h, due_ns, item, 0);
	if (rc == 0 && dheap_top(&t->h)->p == item)  /* new earliest: wake sooner */
		pthread_cond_signal(&t->cv);
out:
	pthread_mutex_unlock(&t->mu);
	return rc;
}

void timer_drain(struct timer *t)
{
	pthread_mutex_lock(&t->mu);
	t->closing = 1;
	pthread_cond_signal(&t->cv);
	while (dheap_len(&t->h) || t->busy)
		pthread_cond_wait(&t->drained, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

uint64_t timer_pending(struct timer *t)
{
	pthread_mutex_lock(&t->mu);
	uint64_t n = dheap_len(&t->h);
	pthread_mutex_unlock(&t->mu);
	return n;
}

void timer_close(struct timer **p)
{
	if (!p || !*p)
		return;
	struct timer *t = *p;
	timer_drain(t);
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_cond_destroy(&t->drained);
	pthread_mutex_destroy(&t->mu);
	dheap_free(&t->h);
	bnd_free(t);
	*p = NULL;
}
