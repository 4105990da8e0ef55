/*
 * loop_int.h - what loop.c (the common part: curl glue, timers, tasks,
 * slots) shares with the two readiness backends, loop_uring.c and
 * loop_epoll.c. Not for use outside engine/loop*.c.
 *
 * A *slot* is one fd the loop watches: a curl socket, a loop_io watcher, or
 * the wake-up eventfd. Slots live in one array, are named by their index and
 * never by their fd (fds are reused at once after close), and carry an arm
 * sequence number so that a completion for an older poll of the same slot is
 * recognised as stale. The kernel is told the slot's id through user_data
 * (io_uring) or epoll_event.data.u64, packed and unpacked only here:
 *
 *    63      56 55                32 31                             0
 *   +----------+--------------------+--------------------------------+
 *   |   type   |  arm seq (24 bits) |        slot index              |
 *   +----------+--------------------+--------------------------------+
 */
#ifndef LOOP_INT_H
#define LOOP_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "loop.h"

enum loop__ud_type {
	LOOP__UD_POLL = 1,    /* a one-shot POLL_ADD of a slot (or an epoll entry) */
	LOOP__UD_CANCEL = 2,  /* a POLL_REMOVE: its own completion is ignored */
};

#define LOOP__SEQ_MASK 0xffffffu

static inline uint64_t loop__ud_pack(unsigned type, uint32_t seq, uint32_t idx)
{
	return ((uint64_t)(type & 0xffu) << 56) |
	       ((uint64_t)(seq & LOOP__SEQ_MASK) << 32) | (uint64_t)idx;
}

static inline unsigned loop__ud_type(uint64_t ud) { return (unsigned)(ud >> 56); }
static inline uint32_t loop__ud_seq(uint64_t ud) { return (uint32_t)(ud >> 32) & LOOP__SEQ_MASK; }
static inline uint32_t loop__ud_idx(uint64_t ud) { return (uint32_t)ud; }

enum loop__slot_kind {
	LOOP__SLOT_FREE = 0,
	LOOP__SLOT_CURL = 1,  /* a socket curl told us about */
	LOOP__SLOT_IO = 2,    /* a loop_io watcher */
	LOOP__SLOT_WAKE = 3,  /* the eventfd of loop_post */
};

#define LOOP__NONE UINT32_MAX

struct loop__slot {
	int fd;
	uint32_t gen;        /* bumped on every allocation: identity for socketp */
	uint32_t arm_seq;    /* bumped on every arm: identity for completions */
	uint32_t next_free;  /* free-list link while FREE */
	uint8_t kind;        /* enum loop__slot_kind */
	uint8_t want;        /* LOOP_IN|LOOP_OUT wanted; 0 = nothing (dying) */
	uint8_t armed;       /* mask the kernel holds (armed poll / epoll entry); 0 none */
	uint8_t dirty;       /* on the dirty list */
	uint8_t dead;        /* released by its owner; freed at the next flush */
	struct loop_io *io;  /* LOOP__SLOT_IO: the watcher */
};

/*
 * Backend operations. All run on the loop thread.
 *   init   - create the kernel object; -errno on failure (EPERM/ENOSYS mean
 *            "refused", which AUTO turns into an epoll fallback).
 *   fini   - release it (pending kernel requests are cancelled by the kernel).
 *   apply  - make the kernel's interest in slot idx match s->want (0 = none).
 *            May queue requests that the next wait submits. -EAGAIN: retry
 *            at the next flush.
 *   forget - the fd is about to be closed: the kernel must drop it now
 *            (cancel an armed poll, EPOLL_CTL_DEL), before close().
 *   wait   - submit what is queued, wait up to timeout_ns (LOOP_NEVER =
 *            forever, 0 = poll), refresh l->now, and hand every readiness
 *            event to loop__dispatch. Returns 0 or -errno.
 */
struct loop__ops {
	const char *name;
	int (*init)(struct loop *l);
	void (*fini)(struct loop *l);
	int (*apply)(struct loop *l, uint32_t idx, struct loop__slot *s);
	void (*forget)(struct loop *l, uint32_t idx, struct loop__slot *s);
	int (*wait)(struct loop *l, uint64_t timeout_ns);
};

extern const struct loop__ops loop__uring_ops;
extern const struct loop__ops loop__epoll_ops;

struct loop {
	const struct loop__ops *ops;
	enum loop_backend backend;
	void *be;                 /* backend state */
	CURLM *multi;
	uint64_t now;             /* last clock reading */
	uint64_t curl_deadline;   /* curl's timer; LOOP_NEVER = none */
	int stop;
	int again;                /* a flush left work: do not block */
	int in_curl;              /* inside curl_multi_socket_action */

	struct loop__slot *slots;
	uint32_t nslots, slots_cap, free_head;
	uint32_t *dirty;
	uint32_t ndirty, dirty_cap;
	uint32_t *fd_map;         /* fd -> slot index + 1 (0: none) */
	uint32_t fd_cap;

	struct loop_timer **heap; /* 1-based binary min-heap */
	uint32_t heap_n, heap_cap;
	uint64_t timer_seq;

	_Atomic(struct loop_task *) tasks;  /* MPSC stack, newest first */
	int efd;
	uint32_t wake_idx;

	unsigned long owner;      /* pthread_t of the loop thread */
	struct loop_stats st;
};

/* loop__clock - CLOCK_MONOTONIC in ns; the only clock read of the engine. */
uint64_t loop__clock(void);

/*
 * loop__dispatch - a completion or event of a poll of slot idx that was armed
 * with arm sequence seq. res: > 0 poll(2)/epoll bits (same values), < 0
 * -errno (-ECANCELED after a cancel). oneshot: the kernel dropped the poll
 * with this completion (io_uring), so the slot is no longer armed. The common
 * code drops stale events (freed slot, other seq, dying slot, cancelled),
 * calls curl or the watcher, and queues a re-arm if the slot still wants one.
 */
void loop__dispatch(struct loop *l, uint32_t idx, uint32_t seq, int res, int oneshot);

/* loop__socket_cb - curl's CURLMOPT_SOCKETFUNCTION (exposed for tests). */
int loop__socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);

#endif
