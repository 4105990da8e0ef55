/*
 * loop_epoll.c - the epoll readiness backend of the loop: for kernels or
 * containers where io_uring is refused, and as the benchmark's peer.
 *
 * One-shot entries (EPOLLONESHOT), one registration per fd, kept across
 * re-arms: the kernel disarms an entry when it reports it, and apply()
 * re-arms it with EPOLL_CTL_MOD (with the slot's current mask: a one-shot
 * entry is level-triggered at arm time, which is what curl expects). A slot
 * that stops wanting events is only marked unarmed: no EPOLL_CTL_DEL, so the
 * next slot on the same fd (curl drops a keep-alive socket between two
 * requests, CURL_POLL_REMOVE, and takes it again for the next one) re-arms
 * it with one MOD. Per request that is one epoll_ctl instead of a DEL and
 * an ADD. An entry left armed by a slot that no longer wants it reports at
 * most once (one-shot), with the old slot's (type, arm seq, index) packing
 * in its data, and the common code drops that event as stale.
 *
 * reg[fd] says whether fd has an entry. Closing an fd removes its entry,
 * so forget() (fd about to be closed) clears reg[fd]; a MOD that meets
 * ENOENT anyway (an fd closed behind our back) becomes an ADD, an ADD that
 * meets EEXIST a MOD.
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
	uint8_t *reg;        /* reg[fd]: fd has an entry in epfd */
	uint32_t reg_cap;
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
	bnd_free(b->reg);
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

/* Room for reg[fd]; 0 or BND_E_NOMEM. */
static int reg_room(struct epoll_be *b, int fd)
{
	if ((uint32_t)fd < b->reg_cap)
		return 0;
	uint32_t cap = b->reg_cap ? b->reg_cap : 64;
	while (cap <= (uint32_t)fd)
		cap *= 2;
	uint8_t *r = bnd_realloc(b->reg, cap);
	if (!r)
		return BND_E_NOMEM;
	memset(r + b->reg_cap, 0, cap - b->reg_cap);
	b->reg = r;
	b->reg_cap = cap;
	return 0;
}

static int ep_apply(struct loop *l, uint32_t idx, struct loop__slot *s)
{
	struct epoll_be *b = l->be;
	if (!s->want) {
		/* Left as it is: one-shot, so it reports at most once more, and
		 * that event is stale (not armed). The next slot on this fd re-arms
		 * the same entry with a MOD. */
		s->armed = 0;
		return 0;
	}
	if (s->armed == s->want)
		return 0;
	if (s->fd < 0)
		return -EBADF;
	int rc = reg_room(b, s->fd);
	if (rc)
		return rc;
	struct epoll_event ev = { .events = ep_mask(s->want) | EPOLLONESHOT };
	if (!s->armed)
		s->arm_seq++;
	ev.data.u64 = loop__ud_pack(LOOP__UD_POLL, s->arm_seq, idx);
	int op = b->reg[s->fd] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	rc = epoll_ctl(b->epfd, op, s->fd, &ev);
	if (rc < 0 && errno == EEXIST)
		rc = epoll_ctl(b->epfd, EPOLL_CTL_MOD, s->fd, &ev);
	else if (rc < 0 && errno == ENOENT)
		rc = epoll_ctl(b->epfd, EPOLL_CTL_ADD, s->fd, &ev);
	if (rc < 0)
		return -errno;
	b->reg[s->fd] = 1;
	s->armed = s->want;
	l->st.polls_armed++;
	return 0;
}

static void ep_forget(struct loop *l, uint32_t idx, struct loop__slot *s)
{
	struct epoll_be *b = l->be;
	(void)idx;
	/* The close removes the entry (curl's sockets are never dup'ed); DEL
	 * now anyway when it is armed, so nothing can report for this fd
	 * number between here and the close. */
	if (s->fd >= 0 && (uint32_t)s->fd < b->reg_cap && b->reg[s->fd]) {
		if (s->armed)
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		b->reg[s->fd] = 0;
	}
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
		loop__dispatch(l, loop__ud_idx(ud), loop__ud_seq(ud), (int)b->ev[i].events, 1);
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
