/*
 * loop_uring.c - the io_uring readiness backend of the loop.
 *
 * io_uring here is only a readiness notifier for curl's sockets (curl does
 * its own send/recv), so what it buys over epoll is batching: every poll
 * arm and cancel of an iteration goes into the kernel with the wait, in one
 * io_uring_enter (io_uring_submit_and_wait_timeout, whose timeout is the
 * loop's next deadline: no timeout SQEs, no timerfd).
 *
 * Polls are ONE-SHOT POLL_ADDs, re-armed by the common code after each
 * completion with the slot's current mask: curl expects level-triggered
 * readiness and does not always drain a socket, and multishot poll is
 * edge-like after arming (liburing #1014; a level multishot does not exist on
 * 6.1). A one-shot poll is level-triggered at arm time, so re-arming on a
 * still-readable socket completes at once.
 *
 * Cancellation: POLL_REMOVE by user_data with IOSQE_CQE_SKIP_SUCCESS when
 * the kernel has it (the cancelled poll still posts -ECANCELED, which the
 * common code drops as stale). forget() - the fd is about to be closed -
 * submits the cancel at once, so the kernel lets go of the socket before
 * close() and an fd number reused right after cannot be confused with it
 * (user_data names the slot and arm sequence, never the fd).
 *
 * Setup flags, tried in order until the kernel accepts them:
 * SINGLE_ISSUER|DEFER_TASKRUN (6.1), SINGLE_ISSUER|COOP_TASKRUN (6.0),
 * COOP_TASKRUN (5.19), none. EPERM/ENOSYS (seccomp, io_uring_disabled) are
 * returned to loop_open, which falls back to epoll under AUTO.
 */
#include "loop_int.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <string.h>

#include "bnd.h"

#define URING_SQ_ENTRIES 512u
#define URING_CQ_ENTRIES 4096u  /* a poll per live socket plus cancels; NODROP beyond */

struct uring_be {
	struct io_uring ring;
	unsigned skip_flag;  /* IOSQE_CQE_SKIP_SUCCESS when supported, else 0 */
};

static int uring_init(struct loop *l)
{
	static const unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct uring_be *b = bnd_calloc(1, sizeof *b);
	if (!b)
		return BND_E_NOMEM;
	int rc = -EINVAL;
	struct io_uring_params p;
	for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
		memset(&p, 0, sizeof p);
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = URING_CQ_ENTRIES;
		rc = io_uring_queue_init_params(URING_SQ_ENTRIES, &b->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	if (rc < 0) {
		bnd_free(b);
		return rc;
	}
	l->st.ring_flags = p.flags & ~(unsigned)IORING_SETUP_CQSIZE;
	if (p.features & IORING_FEAT_CQE_SKIP)
		b->skip_flag = IOSQE_CQE_SKIP_SUCCESS;
	/* Saves an fget/fput per io_uring_enter (5.18+); optional. */
	(void)io_uring_register_ring_fd(&b->ring);
	l->be = b;
	return 0;
}

static void uring_fini(struct loop *l)
{
	struct uring_be *b = l->be;
	if (!b)
		return;
	io_uring_queue_exit(&b->ring);
	bnd_free(b);
	l->be = NULL;
}

static struct io_uring_sqe *sqe_get(struct uring_be *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		io_uring_submit(&b->ring);  /* SQ full: push what is queued */
		sqe = io_uring_get_sqe(&b->ring);
	}
	return sqe;
}

static int queue_cancel(struct loop *l, struct uring_be *b, uint32_t idx, struct loop__slot *s)
{
	struct io_uring_sqe *sqe = sqe_get(b);
	if (!sqe)
		return -EAGAIN;
	io_uring_prep_poll_remove(sqe, loop__ud_pack(LOOP__UD_POLL, s->arm_seq, idx));
	io_uring_sqe_set_data64(sqe, loop__ud_pack(LOOP__UD_CANCEL, 0, idx));
	sqe->flags |= (uint8_t)b->skip_flag;
	s->armed = 0;
	l->st.cancels++;
	return 0;
}

static int uring_apply(struct loop *l, uint32_t idx, struct loop__slot *s)
{
	struct uring_be *b = l->be;
	if (s->armed && s->armed != s->want) {
		int rc = queue_cancel(l, b, idx, s);
		if (rc)
			return rc;
	}
	if (s->want && !s->armed) {
		struct io_uring_sqe *sqe = sqe_get(b);
		if (!sqe)
			return -EAGAIN;
		unsigned mask = 0;
		if (s->want & LOOP_IN)
			mask |= POLLIN;
		if (s->want & LOOP_OUT)
			mask |= POLLOUT;
		s->arm_seq++;
		io_uring_prep_poll_add(sqe, s->fd, mask);
		io_uring_sqe_set_data64(sqe, loop__ud_pack(LOOP__UD_POLL, s->arm_seq, idx));
		s->armed = s->want;
		l->st.polls_armed++;
		l->st.polls_pending++;
	}
	return 0;
}

static void uring_forget(struct loop *l, uint32_t idx, struct loop__slot *s)
{
	struct uring_be *b = l->be;
	if (!s->armed)
		return;
	if (queue_cancel(l, b, idx, s) == 0)
		io_uring_submit(&b->ring);
}

static int uring_wait(struct loop *l, uint64_t timeout_ns)
{
	struct uring_be *b = l->be;
	struct io_uring_cqe *cqe;
	int rc;
	if (timeout_ns == LOOP_NEVER) {
		rc = io_uring_submit_and_wait(&b->ring, 1);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = (long long)(timeout_ns / 1000000000u),
			.tv_nsec = (long long)(timeout_ns % 1000000000u),
		};
		rc = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, &ts, NULL);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	l->now = loop__clock();
	unsigned head, n = 0;
	io_uring_for_each_cqe(&b->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		n++;
		if (loop__ud_type(ud) != LOOP__UD_POLL)
			continue;  /* a cancel's own result */
		l->st.polls_pending--;
		loop__dispatch(l, loop__ud_idx(ud), loop__ud_seq(ud), cqe->res, 1);
	}
	io_uring_cq_advance(&b->ring, n);
	return 0;
}

const struct loop__ops loop__uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.apply = uring_apply,
	.forget = uring_forget,
	.wait = uring_wait,
};
