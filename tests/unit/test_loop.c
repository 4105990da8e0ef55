/* test_loop.c - the event loop (engine/loop*.c) on both backends: backend
 * choice and the seccomp fallback, timers, cross-thread posting, fd
 * watchers, stale completions after fd reuse, curl REMOVE of unknown
 * sockets, allocation failure. Transfers are covered by test_waclient.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bnd.h"
#include "loop.h"
#include "loop_int.h"

#define MS 1000000ull

static const enum loop_backend backends[] = { LOOP_BACKEND_URING, LOOP_BACKEND_EPOLL };

Test(loop, opens_each_backend_and_reports_it)
{
	struct loop *l;
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_URING), 0);
	cr_assert_eq(loop_backend(l), LOOP_BACKEND_URING);
	cr_assert_str_eq(loop_backend_name(loop_backend(l)), "io_uring");
	struct loop_stats st;
	loop_stats_get(l, &st);
	cr_assert_neq(st.ring_flags, 0, "6.x kernels take SINGLE_ISSUER/TASKRUN flags");
	cr_assert_not_null(loop_multi(l));
	loop_close(&l);
	cr_assert_null(l);
	loop_close(&l);
	loop_close(NULL);
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_EPOLL), 0);
	cr_assert_str_eq(loop_backend_name(loop_backend(l)), "epoll");
	loop_close(&l);
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	cr_assert_eq(loop_backend(l), LOOP_BACKEND_URING, "io_uring allowed here");
	loop_close(&l);
	cr_assert_eq(loop_open(&l, (enum loop_backend)9), BND_E_INVAL);
	cr_assert_null(l);
}

static void fired(void *ud, uint64_t now)
{
	(void)now;
	(*(int *)ud)++;
}

/* In a child: io_uring_setup fails with `err` (as under a container's
 * seccomp profile); URING must refuse, AUTO must fall back and work. */
static int child_refused(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 10;
	struct loop *l;
	if (loop_open(&l, LOOP_BACKEND_URING) != BND_E_LOOP_NOURING)
		return 11;
	if (loop_open(&l, LOOP_BACKEND_AUTO) != 0)
		return 12;
	if (loop_backend(l) != LOOP_BACKEND_EPOLL)
		return 13;
	struct loop_timer t = {0};
	int n = 0;
	loop_timer_start(l, &t, loop_now(l) + MS, fired, &n);
	for (int i = 0; i < 100 && !n; i++)
		loop_run_once(l, 10 * MS);
	loop_close(&l);
	return n == 1 ? 0 : 14;
}

Test(loop, auto_falls_back_to_epoll_when_io_uring_is_refused)
{
	int errs[] = { EPERM, ENOSYS };
	for (int i = 0; i < 2; i++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			_exit(child_refused(errs[i]));
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st), "child died");
		cr_assert_eq(WEXITSTATUS(st), 0, "errno %d: child step %d failed", errs[i], WEXITSTATUS(st));
	}
}

struct order {
	int seq[16];
	int n;
	uint64_t at[16], when[16];
	struct loop *l;
};

struct tctx {
	struct order *o;
	int id;
	struct loop_timer t;
};

static void ordered(void *ud, uint64_t now)
{
	struct tctx *c = ud;
	c->o->at[c->o->n] = c->t.at_ns;
	c->o->when[c->o->n] = now;
	c->o->seq[c->o->n++] = c->id;
}

Test(loop, timers_fire_in_deadline_then_start_order_never_early)
{
	for (size_t b = 0; b < 2; b++) {
		struct loop *l;
		cr_assert_eq(loop_open(&l, backends[b]), 0);
		struct order o = { .l = l };
		struct tctx c[6];
		uint64_t t0 = loop_now(l);
		uint64_t off[6] = { 3, 1, 2, 1, 4, 5 };
		for (int i = 0; i < 6; i++) {
			c[i] = (struct tctx){ .o = &o, .id = i };
			cr_assert_eq(loop_timer_start(l, &c[i].t, t0 + off[i] * MS, ordered, &c[i]), 0);
		}
		loop_timer_stop(l, &c[4].t);                                   /* never fires */
		cr_assert_not(loop_timer_active(&c[4].t));
		cr_assert_eq(loop_timer_start(l, &c[5].t, t0 + 6 * MS, ordered, &c[5]), 0);  /* moved */
		for (int i = 0; i < 200 && o.n < 5; i++)
			cr_assert_eq(loop_run_once(l, LOOP_NEVER), 0);
		int want[] = { 1, 3, 2, 0, 5 };
		cr_assert_eq(o.n, 5);
		for (int i = 0; i < 5; i++) {
			cr_assert_eq(o.seq[i], want[i], "position %d", i);
			cr_assert_geq(o.when[i], o.at[i], "never early");
		}
		cr_assert_lt(o.when[4] - t0, 1000 * MS, "and not absurdly late");
		loop_close(&l);
	}
}

struct rearm {
	struct loop *l;
	struct loop_timer t;
	int n;
};

static void rearm_now(void *ud, uint64_t now)
{
	struct rearm *r = ud;
	r->n++;
	loop_timer_start(r->l, &r->t, now, rearm_now, r);  /* due at once, again */
}

Test(loop, a_timer_rearming_itself_for_now_runs_once_per_iteration)
{
	struct rearm r = {0};
	cr_assert_eq(loop_open(&r.l, LOOP_BACKEND_AUTO), 0);
	loop_timer_start(r.l, &r.t, 0, rearm_now, &r);  /* in the past */
	for (int i = 0; i < 10; i++)
		loop_run_once(r.l, 0);
	/* Due timers run before and after the wait: twice per iteration at most. */
	cr_assert(r.n >= 10 && r.n <= 20, "%d runs in 10 iterations", r.n);
	loop_close(&r.l);
}

struct heapchk {
	uint64_t last_at;
	int n, bad;
	struct loop_timer *t;
};

struct hctx {
	struct heapchk *h;
	struct loop_timer *t;
};

static void heap_fired(void *ud, uint64_t now)
{
	struct hctx *c = ud;
	(void)now;
	if (c->t->at_ns < c->h->last_at)
		c->h->bad++;
	c->h->last_at = c->t->at_ns;
	c->h->n++;
}

Test(loop, ten_thousand_timers_fire_sorted_with_random_stops)
{
	struct loop *l;
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	enum { N = 10000 };
	struct loop_timer *t = calloc(N, sizeof *t);
	struct hctx *c = calloc(N, sizeof *c);
	struct heapchk h = {0};
	unsigned seed = 12345;
	uint64_t t0 = loop_now(l);
	int stopped = 0;
	for (int i = 0; i < N; i++) {
		c[i] = (struct hctx){ &h, &t[i] };
		cr_assert_eq(loop_timer_start(l, &t[i], t0 + (uint64_t)(rand_r(&seed) % 30) * MS,
		                              heap_fired, &c[i]), 0);
	}
	for (int i = 0; i < N; i += 7) {
		loop_timer_stop(l, &t[i]);
		stopped++;
	}
	for (int i = 0; i < 500 && h.n < N - stopped; i++)
		loop_run_once(l, 5 * MS);
	cr_assert_eq(h.n, N - stopped);
	cr_assert_eq(h.bad, 0, "timers fired out of deadline order");
	free(t);
	free(c);
	loop_close(&l);
}

/* ---------------------------------------------------------------- posting */

enum { POSTERS = 3, PER = 20000 };

struct poster {
	struct loop *l;
	int id;
	struct loop_task *tasks;
};

struct post_state {
	int next[POSTERS];
	int total, bad_order, wrong_thread;
	pthread_t loop_thread;
	struct loop *l;
};

struct post_item {
	struct post_state *s;
	int poster, seq;
};

static struct post_item items[POSTERS][PER];

static void posted(void *ud, uint64_t now)
{
	struct post_item *it = ud;
	struct post_state *s = it->s;
	(void)now;
	if (!pthread_equal(pthread_self(), s->loop_thread))
		s->wrong_thread++;
	if (s->next[it->poster] != it->seq)
		s->bad_order++;
	s->next[it->poster] = it->seq + 1;
	if (++s->total == POSTERS * PER)
		loop_stop(s->l);
}

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < PER; i++) {
		loop_post(p->l, &p->tasks[i], posted, &items[p->id][i]);
		if (i % 1000 == 0)
			sched_yield();
	}
	return NULL;
}

static void guard_stop(void *ud, uint64_t now)
{
	(void)now;
	loop_stop(ud);
}

Test(loop, tasks_posted_from_other_threads_run_once_in_order_on_the_loop_thread)
{
	for (size_t b = 0; b < 2; b++) {
		struct post_state s = { .loop_thread = pthread_self() };
		cr_assert_eq(loop_open(&s.l, backends[b]), 0);
		struct poster p[POSTERS];
		pthread_t th[POSTERS];
		for (int i = 0; i < POSTERS; i++) {
			p[i] = (struct poster){ s.l, i, calloc(PER, sizeof(struct loop_task)) };
			for (int k = 0; k < PER; k++)
				items[i][k] = (struct post_item){ &s, i, k };
		}
		struct loop_timer guard = {0};
		loop_timer_start(s.l, &guard, loop_now(s.l) + 20000 * MS, guard_stop, s.l);
		for (int i = 0; i < POSTERS; i++)
			pthread_create(&th[i], NULL, poster_main, &p[i]);
		cr_assert_eq(loop_run(s.l), 0);
		for (int i = 0; i < POSTERS; i++)
			pthread_join(th[i], NULL);
		cr_assert_eq(s.total, POSTERS * PER, "%d of %d tasks ran", s.total, POSTERS * PER);
		cr_assert_eq(s.bad_order, 0);
		cr_assert_eq(s.wrong_thread, 0);
		struct loop_stats st;
		loop_stats_get(s.l, &st);
		cr_assert_lt(st.wakeups, (uint64_t)POSTERS * PER, "wake-ups are coalesced");
		for (int i = 0; i < POSTERS; i++)
			free(p[i].tasks);
		loop_close(&s.l);
	}
}

static void *run_elsewhere(void *arg)
{
	return (void *)(intptr_t)loop_run(arg);
}

Test(loop, run_from_a_thread_that_does_not_own_it_is_refused)
{
	struct loop *l;
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	pthread_t th;
	void *ret;
	pthread_create(&th, NULL, run_elsewhere, l);
	pthread_join(th, &ret);
	cr_assert_eq((int)(intptr_t)ret, BND_E_LOOP_THREAD);
	loop_close(&l);
}

/* ------------------------------------------------------------ fd watchers */

struct iostate {
	int n;
	unsigned ev;
	int id;
	int *log;
	int nlog;
};

static void io_cb(void *ud, unsigned ev, uint64_t now)
{
	struct iostate *s = ud;
	(void)now;
	s->n++;
	s->ev |= ev;
}

Test(loop, fd_watchers_are_level_triggered)
{
	for (size_t b = 0; b < 2; b++) {
		struct loop *l;
		cr_assert_eq(loop_open(&l, backends[b]), 0);
		int p[2];
		cr_assert_eq(pipe(p), 0);
		struct loop_io io = {0};
		struct iostate s = {0};
		cr_assert_eq(loop_io_start(l, &io, p[0], LOOP_IN, io_cb, &s), 0);
		for (int i = 0; i < 3; i++)
			loop_run_once(l, 0);
		cr_assert_eq(s.n, 0, "nothing to read yet");
		cr_assert_eq(write(p[1], "x", 1), 1);
		for (int i = 0; i < 5; i++)
			loop_run_once(l, 50 * MS);
		cr_assert_geq(s.n, 4, "still readable, reported again (level): %d", s.n);
		cr_assert(s.ev & LOOP_IN);
		char c;
		cr_assert_eq(read(p[0], &c, 1), 1);
		int before = s.n;
		for (int i = 0; i < 3; i++)
			loop_run_once(l, 0);
		cr_assert_leq(s.n, before + 1, "drained: at most one late report");
		before = s.n;
		for (int i = 0; i < 3; i++)
			loop_run_once(l, 0);
		cr_assert_eq(s.n, before);
		loop_io_stop(l, &io);
		loop_io_stop(l, &io);  /* idempotent */
		close(p[0]);
		close(p[1]);
		loop_close(&l);
	}
}

Test(loop, a_completion_for_a_closed_fd_never_reaches_its_reuser)
{
	for (size_t b = 0; b < 2; b++) {
		struct loop *l;
		cr_assert_eq(loop_open(&l, backends[b]), 0);
		for (int round = 0; round < 200; round++) {
			int a[2];
			cr_assert_eq(pipe(a), 0);
			struct loop_io io1 = {0}, io2 = {0};
			struct iostate s1 = {0}, s2 = {0};
			cr_assert_eq(loop_io_start(l, &io1, a[0], LOOP_IN, io_cb, &s1), 0);
			loop_run_once(l, 0);  /* poll armed in the kernel */
			/* Readable now, stop and close in the same breath: the old
			 * poll's completion (if any) is in flight. */
			cr_assert_eq(write(a[1], "x", 1), 1);
			loop_io_stop(l, &io1);
			int fd = a[0];
			close(a[0]);
			close(a[1]);
			int c[2];
			cr_assert_eq(pipe(c), 0);
			cr_assert_eq(c[0], fd, "the fd number is reused");
			cr_assert_eq(loop_io_start(l, &io2, c[0], LOOP_IN, io_cb, &s2), 0);
			for (int i = 0; i < 3; i++)
				loop_run_once(l, 0);
			cr_assert_eq(s1.n, 0, "round %d: old watcher called after stop", round);
			cr_assert_eq(s2.n, 0, "round %d: new watcher got the old fd's readiness", round);
			cr_assert_eq(write(c[1], "y", 1), 1);
			for (int i = 0; i < 3 && !s2.n; i++)
				loop_run_once(l, 10 * MS);
			cr_assert_geq(s2.n, 1);
			loop_io_stop(l, &io2);
			close(c[0]);
			close(c[1]);
		}
		struct loop_stats st;
		loop_stats_get(l, &st);
		if (backends[b] == LOOP_BACKEND_URING)
			cr_assert_gt(st.stale, 0, "cancelled polls came back and were dropped");
		loop_close(&l);
	}
}

Test(loop, curl_remove_of_an_unknown_socket_is_a_no_op)
{
	struct loop *l;
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	struct loop_stats a, b;
	loop_stats_get(l, &a);
	cr_assert_eq(loop__socket_cb(NULL, 777, CURL_POLL_REMOVE, l, NULL), 0);
	cr_assert_eq(loop__socket_cb(NULL, 778, CURL_POLL_REMOVE, l, (void *)(uintptr_t)0x123456789ull), 0);
	loop_run_once(l, 0);
	loop_stats_get(l, &b);
	cr_assert_eq(b.sockets_live, 0);
	cr_assert_eq(b.cancels, a.cancels);
	/* A known socket: IN, then REMOVE twice (the second is unknown). */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(loop__socket_cb(NULL, p[0], CURL_POLL_IN, l, NULL), 0);
	loop_stats_get(l, &b);
	cr_assert_eq(b.sockets_live, 1);
	loop_run_once(l, 0);
	cr_assert_eq(loop__socket_cb(NULL, p[0], CURL_POLL_REMOVE, l, NULL), 0,
	             "socketp lost: treated as unknown");
	loop_stats_get(l, &b);
	cr_assert_eq(b.sockets_live, 1, "the unknown REMOVE did not touch it");
	close(p[0]);
	close(p[1]);
	loop_close(&l);
}

Test(loop, open_survives_every_allocation_failure)
{
	for (size_t b = 0; b < 2; b++) {
		for (long n = 0; n < 40; n++) {
			struct loop *l = NULL;
			bnd_alloc_fail_after(n);
			int rc = loop_open(&l, backends[b]);
			bnd_alloc_fail_after(-1);
			if (rc == 0) {
				struct loop_timer t = {0};
				int k = 0;
				loop_timer_start(l, &t, 0, fired, &k);
				loop_run_once(l, 0);
				cr_assert_eq(k, 1);
				loop_close(&l);
			} else {
				cr_assert_eq(rc, BND_E_NOMEM, "n=%ld: %s", n, bnd_strerror(rc));
				cr_assert_null(l);
			}
		}
	}
}
