/*
 * timer.h - one thread that fires callbacks at given times: wa-mock's
 * simulated latency. A delayed answer's connection is suspended and an
 * entry added here; when it is due the callback resumes the connection.
 * No request thread ever sleeps, so a thousand answers waiting 200 ms cost
 * a thousand heap entries, not a thousand threads.
 */
#ifndef WAMOCK_TIMER_H
#define WAMOCK_TIMER_H

#include <stdint.h>

/* Called on the timer thread, once per added item, with the item. */
typedef void (*timer_fn)(void *item, void *ud);

struct timer;

/*
 * timer_open - start the timer thread; fn(item, ud) is called for each due
 * item. Returns 0, BND_E_NOMEM or -errno from pthread_create.
 */
int timer_open(struct timer **out, timer_fn fn, void *ud);

/*
 * timer_add - call fn(item) at monotonic time due_ns (or at once if due is
 * past). Returns 0, BND_E_NOMEM, or BND_E_CLOSED once timer_drain started;
 * on error fn is never called for item. Thread-safe.
 */
int timer_add(struct timer *t, uint64_t due_ns, void *item);

/*
 * timer_drain - fire every pending item now, and make further timer_add
 * calls fail with BND_E_CLOSED. Returns when the callbacks have run.
 */
void timer_drain(struct timer *t);

/* timer_close - drain, stop the thread, free; sets *p to NULL; accepts NULL. */
void timer_close(struct timer **p);

/* timer_pending - items waiting now. Thread-safe. */
uint64_t timer_pending(struct timer *t);

#endif
