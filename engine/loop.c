/*
 * loop.c - the backend-independent half of the event loop: the libcurl multi
 * glue, slots, timers, the cross-thread task queue, and the iteration.
 *
 * Design (engine/LOOP.md has the long form):
 *  - curl's socket callback only records intent: it sets the slot's `want`
 *    mask and puts the slot on the dirty list. It never touches the kernel
 *    and never calls back into curl. Before every wait, flush() asks the
 *    backend to make the kernel match each dirty slot (POLL_ADD / POLL_REMOVE
 *    SQEs for io_uring, epoll_ctl for epoll) and frees slots whose owner let
 *    go of them. With io_uring every queued SQE goes in with the wait in one
 *    io_uring_enter.
 *  - Slots are named by index and generation, never by fd: socketp given to
 *    curl_multi_assign encodes (gen, index) and kernel user_data encodes
 *    (type, arm seq, index), so a completion that belongs to an older poll,
 *    an older incarnation of the slot, or a slot being torn down is dropped.
 *  - Open/close-socket callbacks: the loop opens curl's sockets itself, so
 *    it knows which fds are curl's, and before curl closes one the backend
 *    forgets it (cancel the armed poll, EPOLL_CTL_DEL) so a reused fd number
 *    can never receive the old socket's readiness.
 *  - curl's timer is a plain deadline, no kernel object: each iteration
 *    folds min(curl deadline, first user timer) into the wait timeout and
 *    runs curl_multi_socket_action(CURL_SOCKET_TIMEOUT) when it has passed.
 *  - curl_multi_info_read is drained once per batch of events.
 *  - The clock is read here and only here (loop__clock), once at the top of
 *    an iteration and once after each wait; callbacks get that value.
 *  - loop_post is an MPSC stack (atomic exchange to take all) plus an
 *    eventfd written only by the poster that found the stack empty.
 *
 * Invariants: a slot is freed only in flush(), after the backend was told;
 * so during one dispatch batch no index is reused, and a slot pointer is
 * re-fetched after any call that can grow the array (curl, user callbacks).
 */
#include "loop_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"

_Static_assert(sizeof(void *) == 8, "socketp packs (gen, index) into a pointer");

uint64_t loop__clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *loop_backend_name(enum loop_backend b)
{
	switch (b) {
	case LOOP_BACKEND_URING: return "io_uring";
	case LOOP_BACKEND_EPOLL: return "epoll";
	default: return "auto";
	}
}

/* ------------------------------------------------------------------ slots */

static int fd_map_set(struct loop *l, int fd, uint32_t v)
{
	if (fd < 0)
		return BND_E_INVAL;
	if ((uint32_t)fd >= l->fd_cap) {
		uint32_t cap = l->fd_cap ? l->fd_cap : 256;
		while (cap <= (uint32_t)fd)
			cap *= 2;
		uint32_t *m = bnd_realloc(l->fd_map, cap * sizeof *m);
		if (!m)
			return BND_E_NOMEM;
		memset(m + l->fd_cap, 0, (cap - l->fd_cap) * sizeof *m);
		l->fd_map = m;
		l->fd_cap = cap;
	}
	l->fd_map[fd] = v;
	return 0;
}

static uint32_t fd_map_get(const struct loop *l, int fd)
{
	if (fd < 0 || (uint32_t)fd >= l->fd_cap || !l->fd_map[fd])
		return LOOP__NONE;
	return l->fd_map[fd] - 1;
}

static int slot_alloc(struct loop *l, int fd, uint8_t kind, uint32_t *idx_out)
{
	if (l->free_head == LOOP__NONE) {
		if (l->nslots == l->slots_cap) {
			uint32_t cap = l->slots_cap ? l->slots_cap * 2 : 64;
			struct loop__slot *s = bnd_realloc(l->slots, cap * sizeof *s);
			if (!s)
				return BND_E_NOMEM;
			l->slots = s;
			l->slots_cap = cap;
		}
		/* Grow the dirty list with the slots: every slot fits at once. */
		if (l->dirty_cap < l->slots_cap) {
			uint32_t *d = bnd_realloc(l->dirty, l->slots_cap * sizeof *d);
			if (!d)
				return BND_E_NOMEM;
			l->dirty = d;
			l->dirty_cap = l->slots_cap;
		}
		memset(&l->slots[l->nslots], 0, sizeof l->slots[0]);
		l->slots[l->nslots].next_free = LOOP__NONE;
		l->free_head = l->nslots++;
	}
	int rc = fd_map_set(l, fd, 0);  /* make room first: no failure after */
	if (rc)
		return rc;
	uint32_t idx = l->free_head;
	struct loop__slot *s = &l->slots[idx];
	l->free_head = s->next_free;
	s->fd = fd;
	s->gen++;
	s->kind = kind;
	s->want = 0;
	s->armed = 0;
	s->dirty = 0;
	s->dead = 0;
	s->io = NULL;
	l->fd_map[fd] = idx + 1;
	*idx_out = idx;
	return 0;
}

static void slot_free(struct loop *l, uint32_t idx)
{
	struct loop__slot *s = &l->slots[idx];
	if (fd_map_get(l, s->fd) == idx)
		l->fd_map[s->fd] = 0;
	s->kind = LOOP__SLOT_FREE;
	s->fd = -1;
	s->io = NULL;
	s->next_free = l->free_head;
	l->free_head = idx;
}

static void slot_dirty(struct loop *l, uint32_t idx)
{
	struct loop__slot *s = &l->slots[idx];
	if (!s->dirty) {
		s->dirty = 1;
		l->dirty[l->ndirty++] = idx;  /* dirty_cap >= slots_cap */
	}
}

/* slot_release - the owner lets go: nothing wanted, freed at the next flush. */
static void slot_release(struct loop *l, uint32_t idx)
{
	struct loop__slot *s = &l->slots[idx];
	if (s->kind == LOOP__SLOT_CURL && !s->dead)
		l->st.sockets_live--;
	s->dead = 1;
	s->want = 0;
	s->io = NULL;
	slot_dirty(l, idx);
}

/* flush - make the kernel match every dirty slot; free released slots. */
static int flush(struct loop *l)
{
	uint32_t n = l->ndirty, keep = 0;
	int err = 0;
	l->again = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = l->dirty[i];
		struct loop__slot *s = &l->slots[idx];
		int rc = l->ops->apply(l, idx, s);
		if (rc == -EAGAIN) {
			l->dirty[keep++] = idx;  /* stays dirty; retried next time */
			l->again = 1;
			continue;
		}
		if (rc < 0 && !err)
			err = rc;
		s->dirty = 0;
		if (s->dead)
			slot_free(l, idx);
	}
	/* Slots dirtied during apply (none today) would sit past n. */
	memmove(l->dirty + keep, l->dirty + n, (l->ndirty - n) * sizeof *l->dirty);
	l->ndirty = keep + (l->ndirty - n);
	return err;
}

/* ------------------------------------------------------------------ curl */

static void *socketp_encode(uint32_t gen, uint32_t idx)
{
	return (void *)(uintptr_t)(((uint64_t)gen << 32) | (uint64_t)(idx + 1));
}

/* socketp_decode - the slot a socketp names, or LOOP__NONE when that slot
 * has been released or reused since (curl may keep an old socketp). */
static uint32_t socketp_decode(const struct loop *l, void *p, curl_socket_t fd)
{
	uint64_t v = (uint64_t)(uintptr_t)p;
	uint32_t idx = (uint32_t)v - 1u, gen = (uint32_t)(v >> 32);
	if (!p || idx >= l->nslots)
		return LOOP__NONE;
	const struct loop__slot *s = &l->slots[idx];
	if (s->kind != LOOP__SLOT_CURL || s->gen != gen || s->dead || s->fd != fd)
		return LOOP__NONE;
	return idx;
}

int loop__socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct loop *l = userp;
	uint32_t idx = socketp_decode(l, socketp, fd);
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* Unknown socket (never seen, or already closed): nothing to do. */
		if (idx != LOOP__NONE)
			slot_release(l, idx);
		return 0;
	}
	if (idx == LOOP__NONE) {
		/* A new socket, or an fd number reused behind an old socketp.
		 * The fd may still map to a slot whose close we never saw (a
		 * socket curl closed without our callback, e.g. the resolver's
		 * pair): that slot is stale now. */
		uint32_t old = fd_map_get(l, fd);
		if (old != LOOP__NONE && l->slots[old].kind == LOOP__SLOT_CURL &&
		    !l->slots[old].dead)
			slot_release(l, old);
		if (slot_alloc(l, fd, LOOP__SLOT_CURL, &idx) < 0)
			return -1;  /* curl fails the transfers on this multi */
		l->st.sockets_live++;
		curl_multi_assign(l->multi, fd, socketp_encode(l->slots[idx].gen, idx));
	}
	struct loop__slot *s = &l->slots[idx];
	uint8_t want = (uint8_t)(what & (CURL_POLL_IN | CURL_POLL_OUT));
	/* IN only: curl wrote a whole request and waits for the answer. Once
	 * per loop: "first request on the wire" of the benchmarks. */
	if (want == CURL_POLL_IN && !l->st.first_wait_ns)
		l->st.first_wait_ns = loop__clock();
	if (s->want != want) {
		s->want = want;
		slot_dirty(l, idx);
	}
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct loop *l = userp;
	(void)multi;
	if (timeout_ms < 0) {
		l->curl_deadline = LOOP_NEVER;
	} else if (timeout_ms == 0) {
		l->curl_deadline = 0;
	} else {
		/* curl truncates its remaining time to whole ms: round up so the
		 * deadline is never early (an early call is harmless, curl re-arms,
		 * but it costs an iteration). */
		l->curl_deadline = loop__clock() + (uint64_t)timeout_ms * 1000000u + 999999u;
	}
	return 0;
}

static curl_socket_t open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct loop *l = clientp;
	(void)purpose;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	/* A stale mapping of this fd number means a socket closed behind our
	 * back; its slot must not receive the new socket's events. */
	uint32_t old = fd_map_get(l, fd);
	if (old != LOOP__NONE && !l->slots[old].dead && l->slots[old].kind == LOOP__SLOT_CURL) {
		l->ops->forget(l, old, &l->slots[old]);
		slot_release(l, old);
	}
	return fd;
}

static int close_cb(void *clientp, curl_socket_t fd)
{
	struct loop *l = clientp;
	uint32_t idx = fd_map_get(l, fd);
	if (idx != LOOP__NONE) {
		struct loop__slot *s = &l->slots[idx];
		if (s->kind == LOOP__SLOT_CURL) {
			/* The kernel must drop the fd before it is closed: an armed
			 * io_uring poll keeps the socket alive and a reused fd number
			 * must not inherit an epoll entry. */
			if (s->armed) {
				l->ops->forget(l, idx, s);
				l->st.close_cancels++;
			}
			if (!s->dead)
				slot_release(l, idx);  /* closed without REMOVE first */
			l->fd_map[fd] = 0;
		}
	}
	return close(fd);
}

static void drain_info(struct loop *l)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(l->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;
		char *priv = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		curl_multi_remove_handle(l->multi, e);
		struct loop_xfer *x = (struct loop_xfer *)priv;
		if (!x || x->easy != e)
			continue;  /* not added through loop_xfer_add */
		x->easy = NULL;
		x->fn(x->ud, e, rc, l->now);
	}
}

static void curl_action(struct loop *l, curl_socket_t fd, int ev)
{
	int running;
	l->st.socket_actions++;
	l->in_curl = 1;
	CURLMcode mc = curl_multi_socket_action(l->multi, fd, ev, &running);
	l->in_curl = 0;
	if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET)
		bnd_log(BND_LOG_ERROR, "loop", "curl_multi_socket_action: %s",
		        curl_multi_strerror(mc));
}

int loop_easy_setup(struct loop *l, CURL *easy)
{
	if (!l || !easy)
		return BND_E_INVAL;
	if (curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_cb) ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, l) ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_cb) ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, l))
		return BND_E_LOOP_CURL;
	return 0;
}

int loop_xfer_add(struct loop *l, struct loop_xfer *x, CURL *easy,
                  loop_xfer_fn fn, void *ud)
{
	if (!l || !x || !easy || !fn || x->easy)
		return BND_E_INVAL;
	x->fn = fn;
	x->ud = ud;
	x->easy = easy;
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x) != CURLE_OK ||
	    curl_multi_add_handle(l->multi, easy) != CURLM_OK) {
		x->easy = NULL;
		return BND_E_LOOP_CURL;
	}
	return 0;
}

void loop_xfer_remove(struct loop *l, struct loop_xfer *x)
{
	if (!l || !x || !x->easy)
		return;
	curl_multi_remove_handle(l->multi, x->easy);
	x->easy = NULL;
}

/* ------------------------------------------------------------ dispatch */

static unsigned poll_to_loop(int res)
{
	unsigned ev = 0;
	if (res & (0x001 | 0x2000))  /* POLLIN, POLLRDHUP: read to see EOF */
		ev |= LOOP_IN;
	if (res & 0x004)             /* POLLOUT */
		ev |= LOOP_OUT;
	if (res & (0x008 | 0x010))   /* POLLERR, POLLHUP */
		ev |= LOOP_ERR;
	return ev;
}

static void run_tasks(struct loop *l);

void loop__dispatch(struct loop *l, uint32_t idx, uint32_t seq, int res, int oneshot)
{
	if (idx >= l->nslots) {
		l->st.stale++;
		return;
	}
	struct loop__slot *s = &l->slots[idx];
	if (s->kind == LOOP__SLOT_FREE || !s->armed || (s->arm_seq & LOOP__SEQ_MASK) != seq) {
		l->st.stale++;
		return;
	}
	if (oneshot)
		s->armed = 0;
	if (s->dead || res == -ECANCELED) {
		l->st.stale++;
		if (!s->dead && s->want && !s->armed)
			slot_dirty(l, idx);
		return;
	}
	unsigned ev = res < 0 ? LOOP_ERR : poll_to_loop(res);
	l->st.events++;
	switch (s->kind) {
	case LOOP__SLOT_CURL:
		curl_action(l, s->fd, (int)ev);
		break;
	case LOOP__SLOT_IO: {
		struct loop_io *io = s->io;
		io->fn(io->ud, ev, l->now);
		break;
	}
	case LOOP__SLOT_WAKE:
		run_tasks(l);
		break;
	}
	s = &l->slots[idx];  /* the array may have grown */
	if (s->kind != LOOP__SLOT_FREE && !s->dead && s->want && !s->armed)
		slot_dirty(l, idx);
}

/* ---------------------------------------------------------------- timers */

static int timer_less(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

static void heap_set(struct loop *l, uint32_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, uint32_t i)
{
	struct loop_timer *t = l->heap[i];
	while (i > 1 && timer_less(t, l->heap[i / 2])) {
		heap_set(l, i, l->heap[i / 2]);
		i /= 2;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, uint32_t i)
{
	struct loop_timer *t = l->heap[i];
	for (;;) {
		uint32_t c = 2 * i;
		if (c > l->heap_n)
			break;
		if (c + 1 <= l->heap_n && timer_less(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_less(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	uint32_t i = t->heap_idx;
	struct loop_timer *last = l->heap[l->heap_n--];
	t->heap_idx = 0;
	if (last == t)
		return;
	heap_set(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_idx);
}

int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t at_ns,
                     loop_timer_fn fn, void *ud)
{
	if (!l || !t || !fn)
		return BND_E_INVAL;
	if (t->heap_idx)
		heap_remove(l, t);
	if (l->heap_n + 1 >= l->heap_cap) {
		uint32_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct loop_timer **h = bnd_realloc(l->heap, cap * sizeof *h);
		if (!h)
			return BND_E_NOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->at_ns = at_ns;
	t->seq = l->timer_seq++;
	t->fn = fn;
	t->ud = ud;
	l->heap_n++;
	heap_set(l, l->heap_n, t);
	heap_up(l, l->heap_n);
	return 0;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	if (l && t && t->heap_idx)
		heap_remove(l, t);
}

int loop_timer_active(const struct loop_timer *t)
{
	return t && t->heap_idx != 0;
}

static void run_timers(struct loop *l)
{
	/* Only timers due at entry: one started by a callback for "now" runs
	 * at the next iteration, so a callback re-arming itself cannot spin. */
	uint64_t limit = l->timer_seq;
	while (l->heap_n && l->heap[1]->at_ns <= l->now && l->heap[1]->seq < limit) {
		struct loop_timer *t = l->heap[1];
		heap_remove(l, t);
		t->fn(t->ud, l->now);
	}
}

/* ----------------------------------------------------------- fd watchers */

int loop_io_start(struct loop *l, struct loop_io *io, int fd, unsigned events,
                  loop_io_fn fn, void *ud)
{
	if (!l || !io || !fn || fd < 0 || (events & ~(LOOP_IN | LOOP_OUT)))
		return BND_E_INVAL;
	uint32_t idx;
	if (io->slot) {
		idx = io->slot - 1;
		if (l->slots[idx].fd != fd) {
			loop_io_stop(l, io);
			return loop_io_start(l, io, fd, events, fn, ud);
		}
	} else {
		int rc = slot_alloc(l, fd, LOOP__SLOT_IO, &idx);
		if (rc)
			return rc;
		io->slot = idx + 1;
	}
	struct loop__slot *s = &l->slots[idx];
	io->fn = fn;
	io->ud = ud;
	s->io = io;
	if (s->want != events) {
		s->want = (uint8_t)events;
		slot_dirty(l, idx);
	}
	return 0;
}

void loop_io_stop(struct loop *l, struct loop_io *io)
{
	if (!l || !io || !io->slot)
		return;
	uint32_t idx = io->slot - 1;
	io->slot = 0;
	/* The caller may close the fd right after: drop kernel interest now. */
	struct loop__slot *s = &l->slots[idx];
	if (s->armed)
		l->ops->forget(l, idx, s);
	slot_release(l, idx);
	if (fd_map_get(l, s->fd) == idx)
		l->fd_map[s->fd] = 0;
}

/* ----------------------------------------------------------------- tasks */

void loop_post(struct loop *l, struct loop_task *t, loop_task_fn fn, void *ud)
{
	t->fn = fn;
	t->ud = ud;
	struct loop_task *head = atomic_load_explicit(&l->tasks, memory_order_relaxed);
	do {
		t->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&l->tasks, &head, t,
	                                                memory_order_release,
	                                                memory_order_relaxed));
	if (!head) {
		/* First task since the loop last took the list: wake it. */
		uint64_t one = 1;
		ssize_t w;
		do
			w = write(l->efd, &one, sizeof one);
		while (w < 0 && errno == EINTR);
	}
}

static void run_tasks(struct loop *l)
{
	uint64_t v;
	/* Read the eventfd before taking the list: a poster that finds the
	 * list empty after the exchange writes again, so nothing is missed. */
	while (read(l->efd, &v, sizeof v) < 0 && errno == EINTR)
		;
	l->st.wakeups++;
	struct loop_task *t = atomic_exchange_explicit(&l->tasks, NULL, memory_order_acquire);
	struct loop_task *fifo = NULL;
	while (t) {  /* reverse: the stack is newest first */
		struct loop_task *next = t->next;
		t->next = fifo;
		fifo = t;
		t = next;
	}
	while (fifo) {
		struct loop_task *next = fifo->next;
		fifo->fn(fifo->ud, l->now);  /* may free fifo */
		fifo = next;
	}
}

/* ------------------------------------------------------------- lifecycle */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int backend_init(struct loop *l, enum loop_backend want)
{
	if (want == LOOP_BACKEND_URING || want == LOOP_BACKEND_AUTO) {
		l->ops = &loop__uring_ops;
		l->backend = LOOP_BACKEND_URING;
		int rc = l->ops->init(l);
		if (rc == 0)
			return 0;
		bool refused = rc == -EPERM || rc == -ENOSYS || rc == -EACCES;
		if (want == LOOP_BACKEND_URING)
			return refused ? BND_E_LOOP_NOURING : rc;
		if (!refused)
			return rc;
		bnd_log(BND_LOG_INFO, "loop", "io_uring refused (%s): using epoll",
		        bnd_strerror(rc));
	}
	l->ops = &loop__epoll_ops;
	l->backend = LOOP_BACKEND_EPOLL;
	return l->ops->init(l);
}

int loop_open(struct loop **out, enum loop_backend backend)
{
	int rc;
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (backend != LOOP_BACKEND_AUTO && backend != LOOP_BACKEND_URING &&
	    backend != LOOP_BACKEND_EPOLL)
		return BND_E_INVAL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return BND_E_LOOP_CURL;

	struct loop *l = bnd_calloc(1, sizeof *l);
	if (!l)
		return BND_E_NOMEM;
	l->efd = -1;
	l->free_head = LOOP__NONE;
	l->wake_idx = LOOP__NONE;
	l->curl_deadline = LOOP_NEVER;
	l->owner = (unsigned long)pthread_self();
	atomic_init(&l->tasks, NULL);
	l->now = loop__clock();

	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = backend_init(l, backend);
	if (rc) {
		l->ops = NULL;
		goto fail;
	}
	rc = slot_alloc(l, l->efd, LOOP__SLOT_WAKE, &l->wake_idx);
	if (rc)
		goto fail;
	l->slots[l->wake_idx].want = LOOP_IN;
	slot_dirty(l, l->wake_idx);

	l->multi = curl_multi_init();
	if (!l->multi) {
		rc = BND_E_LOOP_CURL;
		goto fail;
	}
	if (curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, loop__socket_cb) ||
	    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l) ||
	    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb) ||
	    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l)) {
		rc = BND_E_LOOP_CURL;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	loop_close(&l);
	return rc;
}

void loop_close(struct loop **p)
{
	if (!p || !*p)
		return;
	struct loop *l = *p;
	*p = NULL;
	if (l->multi)
		curl_multi_cleanup(l->multi);  /* may call the socket and close callbacks */
	if (l->ops)
		l->ops->fini(l);
	if (l->efd >= 0)
		close(l->efd);
	bnd_free(l->slots);
	bnd_free(l->dirty);
	bnd_free(l->fd_map);
	bnd_free(l->heap);
	bnd_free(l);
}

enum loop_backend loop_backend(const struct loop *l) { return l->backend; }
CURLM *loop_multi(struct loop *l) { return l->multi; }
uint64_t loop_now(const struct loop *l) { return l->now; }
void loop_stop(struct loop *l) { l->stop = 1; }

void loop_stats_get(const struct loop *l, struct loop_stats *out)
{
	*out = l->st;
}

/* ------------------------------------------------------------- iteration */

static void curl_timeout_if_due(struct loop *l)
{
	if (l->curl_deadline <= l->now) {
		l->curl_deadline = LOOP_NEVER;
		curl_action(l, CURL_SOCKET_TIMEOUT, 0);
		drain_info(l);
	}
}

int loop_run_once(struct loop *l, uint64_t max_wait_ns)
{
	l->now = loop__clock();
	run_timers(l);
	curl_timeout_if_due(l);
	int rc = flush(l);
	if (rc < 0)
		bnd_log(BND_LOG_WARN, "loop", "arming a poll failed: %s", bnd_strerror(rc));

	uint64_t dl = l->curl_deadline;
	if (l->heap_n && l->heap[1]->at_ns < dl)
		dl = l->heap[1]->at_ns;
	uint64_t wait;
	if (l->stop || l->again || dl <= l->now)
		wait = 0;
	else if (dl == LOOP_NEVER)
		wait = LOOP_NEVER;
	else
		wait = dl - l->now;
	if (max_wait_ns < wait)
		wait = max_wait_ns;
	l->st.iterations++;
	rc = l->ops->wait(l, wait);
	drain_info(l);
	/* What fell due during the wait runs now, so one iteration that waited
	 * for a deadline also serves it (the wait's clock reading is reused). */
	run_timers(l);
	curl_timeout_if_due(l);
	return rc;
}

int loop_run(struct loop *l)
{
	if (!pthread_equal((pthread_t)l->owner, pthread_self()))
		return BND_E_LOOP_THREAD;
	while (!l->stop) {
		int rc = loop_run_once(l, LOOP_NEVER);
		if (rc < 0)
			return rc;
	}
	l->stop = 0;
	return 0;
}
