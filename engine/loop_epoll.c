/*
 * loop_epoll.c - the epoll readiness backend of the loop: for kernels or
 * containers where io_uring is refused, and as the benchmark's peer.
 *
 * Level-triggered entries (what curl expects: its own epoll example uses
 * LT), one per slot, added/modified/deleted by apply() from the dirty list
 * before each wait. The entry's data is the same (type, arm seq, index)
 * packing as io_uring's user_data, so an event fetched in a batch for a
 * slot that changed hands during that batch is dropped as stale.
 *
 * Deleting: closing an fd removes its epoll entry, but a DEL issued later
 * for the old slot would hit a new socket that reused the fd number, so
 * apply() deletes only while the fd still maps to the slot, and forget()
 * (fd about to be closed) deletes at once.
 *
 * The wait uses epoll_pwait2 (ns timeout, 5.11+) and falls back to
 * epoll_wait with the timeout rounded up to whole ms on ENOSYS.
 */
#include "loop_int.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"

#define EPOLL_BATCH 256

struct epoll_be {
	int epfd;
	int no_pwait2;
	struct epoll_event ev[EPOLL_BATCH];
};

static int ep_init(struct loop *l)
{
	struct epoll_be *b = bnd_calloc(1, sizeof *b);
	if (!b)
		return BND_E_NOMEM;
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		int rc = -errno;
		bnd_free(b);
		return rc;
	}
	l->be = b;
	return 0;
}

static void ep_fini(struct loop *l)
{
	struct epoll_be *b = l->be;
	if (!b)
		return;
	close(b->epfd);
	bnd_free(b);
	l->be = NULL;
}

static uint32_t ep_mask(uint8_t want)
{
	uint32_t m = 0;
	if (want & LOOP_IN)
		m |= EPOLLIN;
	if (want & LOOP_OUT)
		m |= EPOLLOUT;
	return m;
}

static int fd_is_slot(const struct loop *l, int fd, uint32_t idx)
{
	return fd >= 0 && (uint32_t)fd < l->fd_cap && l->fd_map[fd] == idx + 1;
}

static int ep_apply(struct loop *l, uint32_t idx, struct loop__slot *s)
{
	struct epoll_be *b = l->be;
	if (!s->want) {
		if (s->armed) {
			if (fd_is_slot(l, s->fd, idx))
				epoll_ctl(b->epfd, EPOLL_CTL_DEL, s->fd, NULL);  /* ENOENT/EBADF: gone already */
			s->armed = 0;
		}
		return 0;
	}
	if (s->armed == s->want)
		return 0;
	struct epoll_event ev = { .events = ep_mask(s->want) };
	int op = s->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (!s->armed)
		s->arm_seq++;
	ev.data.u64 = loop__ud_pack(LOOP__UD_POLL, s->arm_seq, idx);
	int rc = epoll_ctl(b->epfd, op, s->fd, &ev);
	if (rc < 0 && errno == EEXIST)
		rc = epoll_ctl(b->epfd, EPOLL_CTL_MOD, s->fd, &ev);
	else if (rc < 0 && errno == ENOENT)
		rc = epoll_ctl(b->epfd, EPOLL_CTL_ADD, s->fd, &ev);
	if (rc < 0)
		return -errno;
	s->armed = s->want;
	l->st.polls_armed++;
	return 0;
}

static void ep_forget(struct loop *l, uint32_t idx, struct loop__slot *s)
{
	struct epoll_be *b = l->be;
	if (s->armed && fd_is_slot(l, s->fd, idx))
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->armed = 0;
	l->st.cancels++;
}

static int ep_wait(struct loop *l, uint64_t timeout_ns)
{
	struct epoll_be *b = l->be;
	int n;
	if (!b->no_pwait2) {
		struct timespec ts, *tsp = NULL;
		if (timeout_ns != LOOP_NEVER) {
			ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
			ts.tv_nsec = (long)(timeout_ns % 1000000000u);
			tsp = &ts;
		}
		n = epoll_pwait2(b->epfd, b->ev, EPOLL_BATCH, tsp, NULL);
		if (n < 0 && errno == ENOSYS)
			b->no_pwait2 = 1;
	}
	if (b->no_pwait2) {
		int ms = -1;
		if (timeout_ns != LOOP_NEVER) {
			uint64_t m = (timeout_ns + 999999u) / 1000000u;
			ms = m > 0x7fffffff ? 0x7fffffff : (int)m;
		}
		n = epoll_wait(b->epfd, b->ev, EPOLL_BATCH, ms);
	}
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->now = loop__clock();
	for (int i = 0; i < n; i++) {
		uint64_t ud = b->ev[i].data.u64;
		loop__dispatch(l, loop__ud_idx(ud), loop__ud_seq(ud), (int)b->ev[i].events, 0);
	}
	return 0;
}

const struct loop__ops loop__epoll_ops = {
	.name = "epoll",
	.init = ep_init,
	.fini = ep_fini,
	.apply = ep_apply,
	.forget = ep_forget,
	.wait = ep_wait,
};
