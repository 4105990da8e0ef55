/*
 * loop.h - the engine's event loop: one thread, one readiness backend
 * (io_uring or epoll), libcurl's multi interface driven through
 * curl_multi_socket_action, one-shot timers, fd watchers, and a thread-safe
 * way for other threads (the webhook server) to post work to it.
 *
 * The loop is the only place in the engine that reads the clock
 * (CLOCK_MONOTONIC); every callback receives the loop's `now_ns`.
 *
 * Threading: a loop belongs to the thread that calls loop_open. Every
 * function here must be called from that thread, except loop_post (any
 * thread). Callbacks run on the loop thread, never concurrently.
 *
 * Handles (struct loop_timer, struct loop_io, struct loop_xfer,
 * struct loop_task) are allocated by the caller and embedded where the caller
 * likes; their fields are private. See engine/LOOP.md for the design.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct loop;

enum loop_backend {
	LOOP_BACKEND_AUTO = 0,  /* io_uring, or epoll when io_uring_setup is refused */
	LOOP_BACKEND_URING = 1,
	LOOP_BACKEND_EPOLL = 2,
};

/* Readiness bits, the same values as CURL_CSELECT_IN/OUT/ERR. */
#define LOOP_IN 1u
#define LOOP_OUT 2u
#define LOOP_ERR 4u

/* Sentinel for "no deadline". */
#define LOOP_NEVER UINT64_MAX

/*
 * loop_open - create a loop on the calling thread, with its curl multi handle
 * (curl_global_init is done once per process, here).
 * backend: LOOP_BACKEND_URING fails with BND_E_LOOP_NOURING when the kernel
 * refuses io_uring_setup (EPERM, ENOSYS: seccomp in containers); AUTO then
 * falls back to epoll. loop_backend() says which one runs.
 * Returns 0, BND_E_INVAL, BND_E_NOMEM, BND_E_LOOP_NOURING, BND_E_LOOP_CURL
 * or -errno (eventfd, epoll_create1, io_uring_setup for other errors).
 * On failure *out is NULL and nothing leaks.
 */
int loop_open(struct loop **out, enum loop_backend backend);

/*
 * loop_close - destroy the loop and its multi handle. Every transfer must
 * have been removed (loop_xfer_remove, or closed clients) before; timers and
 * fd watchers still started are simply forgotten (no callback); tasks posted
 * and not yet run are dropped. Sets *p to NULL; accepts NULL and *p == NULL.
 */
void loop_close(struct loop **p);

/* loop_backend - the backend actually running (URING or EPOLL, never AUTO). */
enum loop_backend loop_backend(const struct loop *l);

/* loop_backend_name - "io_uring", "epoll" or "auto"; a static string. */
const char *loop_backend_name(enum loop_backend b);

/*
 * loop_multi - the loop's libcurl multi handle, owned by the loop (valid
 * until loop_close). Callers may set CURLMOPT_* options on it except the
 * socket and timer callbacks, which the loop owns.
 */
CURLM *loop_multi(struct loop *l);

/* loop_now - the loop's clock as of its last reading (CLOCK_MONOTONIC, ns). */
uint64_t loop_now(const struct loop *l);

/*
 * loop_run - run until loop_stop is called. Returns 0 after a stop, or a
 * negative code when the backend fails (-errno from io_uring_enter or
 * epoll_wait other than EINTR, BND_E_LOOP_CURL).
 */
int loop_run(struct loop *l);

/*
 * loop_run_once - one iteration: due timers and curl's timer, then wait at
 * most max_wait_ns (0 = do not block; LOOP_NEVER = until an event or the
 * next deadline, forever when there is none) for readiness or posted tasks,
 * dispatch them, and run what fell due meanwhile. Returns 0 or as loop_run.
 */
int loop_run_once(struct loop *l, uint64_t max_wait_ns);

/* loop_stop - make loop_run return after the current iteration. Loop thread. */
void loop_stop(struct loop *l);

/* ---------------------------------------------------------------- timers */

typedef void (*loop_timer_fn)(void *ud, uint64_t now_ns);

/* One-shot timer; fields private. Zero-initialise before first use. */
struct loop_timer {
	uint64_t at_ns;
	uint64_t seq;
	loop_timer_fn fn;
	void *ud;
	uint32_t heap_idx;  /* 0 = not started */
};

/*
 * loop_timer_start - call fn(ud, now_ns) once, at the first iteration whose
 * clock reading is >= at_ns (absolute CLOCK_MONOTONIC ns; a time in the past
 * fires at the next iteration). Restarting a started timer moves it. Timers
 * due at the same time fire in start order. The deadline is folded into the
 * backend's wait, so no syscall is spent on timers.
 * Returns 0 or BND_E_NOMEM (the heap could not grow; the timer is then not
 * started).
 */
int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t at_ns,
                     loop_timer_fn fn, void *ud);

/* loop_timer_stop - cancel; no-op when not started. The callback never runs. */
void loop_timer_stop(struct loop *l, struct loop_timer *t);

/* loop_timer_active - 1 when started and not yet fired. */
int loop_timer_active(const struct loop_timer *t);

/* ------------------------------------------------------------ fd watchers */

typedef void (*loop_io_fn)(void *ud, unsigned events, uint64_t now_ns);

/* Level-triggered readiness watcher of one fd; fields private. Zero-init. */
struct loop_io {
	uint32_t slot;  /* slot index + 1; 0 = stopped */
	loop_io_fn fn;
	void *ud;
};

/*
 * loop_io_start - call fn(ud, events, now) whenever fd is ready for any of
 * `events` (LOOP_IN|LOOP_OUT; LOOP_ERR is always reported), level-triggered
 * (called again while the condition holds). Calling it again on a started
 * watcher changes the events. The fd must stay open until loop_io_stop.
 * Returns 0, BND_E_INVAL, BND_E_NOMEM or -errno (epoll_ctl).
 */
int loop_io_start(struct loop *l, struct loop_io *io, int fd, unsigned events,
                  loop_io_fn fn, void *ud);

/*
 * loop_io_stop - stop watching; after it returns the loop never touches io
 * again (it may be freed, the fd closed). No-op when stopped.
 */
void loop_io_stop(struct loop *l, struct loop_io *io);

/* -------------------------------------------------------- curl transfers */

typedef void (*loop_xfer_fn)(void *ud, CURL *easy, CURLcode result, uint64_t now_ns);

/* One transfer handed to the loop's multi; fields private. */
struct loop_xfer {
	loop_xfer_fn fn;
	void *ud;
	CURL *easy;
};

/*
 * loop_easy_setup - install the loop's open/close-socket callbacks on an easy
 * handle (so a pending poll is cancelled before curl closes a socket) and
 * CURLOPT_PRIVATE. Call once per easy handle, before its first
 * loop_xfer_add. Returns 0 or BND_E_LOOP_CURL.
 */
int loop_easy_setup(struct loop *l, CURL *easy);

/*
 * loop_xfer_add - add a configured easy handle to the multi. When the
 * transfer ends (any result), the loop removes it from the multi and calls
 * fn(ud, easy, result, now) once; the easy handle is then the caller's again
 * (reuse it: connections stay cached). x must stay valid until then.
 * Returns 0 or BND_E_LOOP_CURL (then fn never runs).
 */
int loop_xfer_add(struct loop *l, struct loop_xfer *x, CURL *easy,
                  loop_xfer_fn fn, void *ud);

/*
 * loop_xfer_remove - abort a transfer that has not completed: removes it
 * from the multi; fn never runs. No-op if x is not in flight.
 */
void loop_xfer_remove(struct loop *l, struct loop_xfer *x);

/* ----------------------------------------------- work from other threads */

typedef void (*loop_task_fn)(void *ud, uint64_t now_ns);

/* A posted task; fields private. Owned by the poster until fn runs. */
struct loop_task {
	struct loop_task *next;
	loop_task_fn fn;
	void *ud;
};

/*
 * loop_post - from ANY thread: run fn(ud, now) on the loop thread soon,
 * in posting order per posting thread. Lock-free (an MPSC list); the eventfd
 * is written only when the list was empty, so a burst costs one wake-up.
 * t must stay valid until fn runs (fn may free it). Never fails.
 */
void loop_post(struct loop *l, struct loop_task *t, loop_task_fn fn, void *ud);

/* ------------------------------------------------------------ statistics */

struct loop_stats {
	uint64_t iterations;     /* backend waits */
	uint64_t polls_armed;    /* POLL_ADDs queued (uring) or epoll_ctl ADD/MOD */
	uint64_t polls_pending;  /* polls the kernel still holds, the wake-up eventfd's
	                            included (uring; always 0 with epoll) */
	uint64_t events;         /* readiness events dispatched */
	uint64_t stale;          /* completions dropped: old generation or cancelled */
	uint64_t cancels;        /* poll cancellations issued */
	uint64_t close_cancels;  /* of which: in the close-socket callback */
	uint64_t sockets_live;   /* curl sockets with a slot right now */
	uint64_t socket_actions; /* curl_multi_socket_action calls */
	uint64_t wakeups;        /* eventfd wake-ups received */
	uint32_t ring_flags;     /* IORING_SETUP_* flags in force (uring) */
	uint64_t first_wait_ns;  /* CLOCK_MONOTONIC when curl first waited for an
	                            answer on a socket (wanted IN only): its
	                            request had been written to the socket; 0 = not yet */
};

/* loop_stats_get - copy the counters. */
void loop_stats_get(const struct loop *l, struct loop_stats *out);

#endif
