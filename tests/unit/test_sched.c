/*
 * test_sched.c - the scheduler (engine/scheduler.c): priorities and
 * pre-emption, FIFO and round robin within a priority, deferred items at
 * their time, expiry, cancel and pause, horizons, allocation failure.
 * Time is moved by hand; nothing here reads a clock.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "bnd.h"
#include "scheduler.h"

static struct sched *mk(enum sched_policy pol)
{
	struct sched *s = NULL;
	cr_assert_eq(sched_open(&s, pol, 0), 0);
	return s;
}

static int add(struct sched *s, enum notice_category cat, uint64_t order, uint32_t count,
               uint64_t expires_ns)
{
	struct sched_notice_def d = { .category = cat, .order = order, .count = count,
	                              .expires_ns = expires_ns };
	int h = -1;
	cr_assert_eq(sched_add(s, &d, &h), 0);
	return h;
}

/* One pick that must be a SEND; returns it. */
static struct sched_pick send(struct sched *s, uint64_t now)
{
	struct sched_pick p;
	cr_assert_eq(sched_next(s, now, &p), SCHED_SEND, "expected a SEND at t=%llu",
	             (unsigned long long)now);
	return p;
}

Test(sched, an_emergency_preempts_within_one_tick)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int info = add(s, NOTICE_CAT_INFO, 1, 1000, 0);
	int event = add(s, NOTICE_CAT_EVENT, 0, 1000, 0);
	for (uint32_t i = 0; i < 10; i++) {
		struct sched_pick p = send(s, 100 + i);
		cr_assert_eq(p.notice, info, "info outranks event even when event is older");
		cr_assert_neq(p.notice, event);
		cr_assert_eq(p.ordinal, i);
	}
	int em = add(s, NOTICE_CAT_EMERGENCY, 999, 5, 0);
	/* The very next call: no tick in between. */
	struct sched_pick p = send(s, 110);
	cr_assert_eq(p.notice, em);
	cr_assert_eq(p.ordinal, 0);
	for (uint32_t i = 1; i < 5; i++) {
		p = send(s, 110);
		cr_assert_eq(p.notice, em, "the emergency keeps the capacity");
		cr_assert_eq(p.ordinal, i);
	}
	/* Drained: the lower notice continues where it stopped. */
	cr_assert_eq(sched_drained(s, em), 1);
	p = send(s, 111);
	cr_assert_eq(p.notice, info);
	cr_assert_eq(p.ordinal, 10);
	sched_close(&s);
	cr_assert_null(s);
}

Test(sched, an_emergency_beats_due_retries_of_lower_notices)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int dis = add(s, NOTICE_CAT_DISRUPTION, 1, 100, 0);
	for (int i = 0; i < 3; i++)
		send(s, 0);
	cr_assert_eq(sched_defer(s, dis, 1, 50, 1, 0), 0);
	int em = add(s, NOTICE_CAT_EMERGENCY, 2, 2, 0);
	struct sched_pick p = send(s, 60);
	cr_assert_eq(p.notice, em);
	p = send(s, 60);
	cr_assert_eq(p.notice, em);
	p = send(s, 60);
	cr_assert_eq(p.notice, dis);
	cr_assert_eq(p.ordinal, 1, "then the due retry, before new ordinals");
	cr_assert_eq(p.retry, 1);
	cr_assert_eq(p.attempt, 1);
	sched_close(&s);
}

Test(sched, priorities_follow_the_product_order)
{
	/* emergency > disruption > deadline > info > event */
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h[5];
	h[4] = add(s, NOTICE_CAT_EVENT, 0, 1, 0);
	h[3] = add(s, NOTICE_CAT_INFO, 0, 1, 0);
	h[2] = add(s, NOTICE_CAT_DEADLINE, 0, 1, 0);
	h[1] = add(s, NOTICE_CAT_DISRUPTION, 0, 1, 0);
	h[0] = add(s, NOTICE_CAT_EMERGENCY, 0, 1, 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(send(s, 0).notice, h[i], "position %d", i);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 0, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, UINT64_MAX);
	sched_close(&s);
}

Test(sched, fifo_serves_the_older_notice_first_and_never_idles)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int young = add(s, NOTICE_CAT_DEADLINE, 2000, 50, 0);
	int old = add(s, NOTICE_CAT_DEADLINE, 1000, 50, 0);
	/* The older one (by creation time, not by sched_add order) first. */
	for (uint32_t i = 0; i < 20; i++)
		cr_assert_eq(send(s, 0).notice, old);
	/* The older one is blocked at its horizon: the younger one gets the
	 * capacity rather than none being used. */
	cr_assert_eq(sched_set_horizon(s, old, 20), 0);
	struct sched_pick p = send(s, 0);
	cr_assert_eq(p.notice, young);
	cr_assert_eq(p.ordinal, 0);
	/* As soon as the older one can go on, it does. */
	cr_assert_eq(sched_set_horizon(s, old, 50), 0);
	p = send(s, 0);
	cr_assert_eq(p.notice, old);
	cr_assert_eq(p.ordinal, 20);
	sched_close(&s);
}

Test(sched, fifo_ties_go_by_order_of_addition)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int a = add(s, NOTICE_CAT_INFO, 7, 3, 0);
	int b = add(s, NOTICE_CAT_INFO, 7, 3, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(send(s, 0).notice, a);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(send(s, 0).notice, b);
	sched_close(&s);
}

Test(sched, round_robin_gives_equal_shares_within_a_priority)
{
	struct sched *s = mk(SCHED_POLICY_ROUND_ROBIN);
	int h[3];
	for (int i = 0; i < 3; i++)
		h[i] = add(s, NOTICE_CAT_INFO, (uint64_t)i, 1000, 0);
	int low = add(s, NOTICE_CAT_EVENT, 0, 1000, 0);
	int got[SCHED_MAX_NOTICES] = { 0 };
	uint32_t next[SCHED_MAX_NOTICES] = { 0 };
	int prev = -1;
	for (int i = 0; i < 300; i++) {
		struct sched_pick p = send(s, (uint64_t)i);
		cr_assert_neq(p.notice, prev, "turns alternate");
		cr_assert_eq(p.ordinal, next[p.notice]++, "each notice stays in order");
		prev = p.notice;
		got[p.notice]++;
	}
	for (int i = 0; i < 3; i++)
		cr_assert_eq(got[h[i]], 100, "notice %d got %d", i, got[h[i]]);
	cr_assert_eq(got[low], 0, "a lower priority waits for all of them");
	sched_close(&s);
}

Test(sched, deferred_items_go_out_at_their_time_before_new_ordinals)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, 10, 0);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(send(s, 0).ordinal, i);
	cr_assert_eq(sched_defer(s, h, 2, 1000, 1, 0), 0);
	cr_assert_eq(sched_defer(s, h, 1, 1000, 3, SCHED_F_UNCERTAIN), 0);
	cr_assert_eq(sched_defer(s, h, 0, 5000, 2, 0), 0);
	cr_assert_eq(sched_deferred_count(s, h), 3);
	/* Not before their time: new ordinals meanwhile. */
	struct sched_pick p = send(s, 999);
	cr_assert_eq(p.ordinal, 4);
	cr_assert_eq(p.retry, 0);
	/* At their time, before new ordinals, equal times in ordinal order. */
	p = send(s, 1000);
	cr_assert_eq(p.ordinal, 1);
	cr_assert_eq(p.retry, 1);
	cr_assert_eq(p.attempt, 3);
	cr_assert_eq(p.flags, SCHED_F_UNCERTAIN);
	p = send(s, 1000);
	cr_assert_eq(p.ordinal, 2);
	cr_assert_eq(p.attempt, 1);
	cr_assert_eq(p.flags, 0);
	p = send(s, 1000);
	cr_assert_eq(p.ordinal, 5, "ordinal 0 is not due until 5000");
	cr_assert_eq(sched_deferred_count(s, h), 1);
	sched_close(&s);
}

Test(sched, idle_reports_when_the_next_item_falls_due)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, 2, 0);
	send(s, 0);
	send(s, 0);
	cr_assert_eq(sched_drained(s, h), 1);
	cr_assert_eq(sched_defer(s, h, 1, 7000, 1, 0), 0);
	cr_assert_eq(sched_defer(s, h, 0, 3000, 1, 0), 0);
	cr_assert_eq(sched_drained(s, h), 0);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 10, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, 3000);
	cr_assert_eq(sched_next(s, 2999, &p), SCHED_IDLE);
	cr_assert_eq(send(s, 3000).ordinal, 0);
	cr_assert_eq(sched_next(s, 3001, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, 7000);
	cr_assert_eq(send(s, 8000).ordinal, 1);
	cr_assert_eq(sched_next(s, 9000, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, UINT64_MAX);
	sched_close(&s);
}

Test(sched, nothing_is_dispatched_at_or_after_expiry)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_DISRUPTION, 0, 100, 500);
	int other = add(s, NOTICE_CAT_INFO, 0, 100, 0);
	for (uint32_t i = 0; i < 5; i++)
		cr_assert_eq(send(s, 499).notice, h);
	cr_assert_eq(sched_defer(s, h, 2, 499, 1, 0), 0);
	struct sched_pick p;
	/* The idle wake-up includes the expiry while it has work. */
	cr_assert_eq(sched_set_horizon(s, h, 5), 0);
	cr_assert_eq(sched_pause(s, other), 0);
	cr_assert_eq(sched_next(s, 499, &p), SCHED_SEND, "the due retry");
	cr_assert_eq(p.ordinal, 2);
	cr_assert_eq(sched_defer(s, h, 2, 700, 2, 0), 0);
	cr_assert_eq(sched_next(s, 499, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, 500, "the expiry comes before the retry at 700");
	cr_assert_eq(sched_set_horizon(s, h, 100), 0);
	cr_assert_eq(sched_unpause(s, other), 0);
	cr_assert_eq(sched_defer(s, h, 3, 400, 1, 0), 0);
	/* At the expiry: reported once, with the due retry not sent. */
	cr_assert_eq(sched_next(s, 500, &p), SCHED_EXPIRED);
	cr_assert_eq(p.notice, h);
	cr_assert_eq(sched_state(s, h), SCHED_EXPIRED_STATE);
	for (uint64_t t = 500; t < 50000; t += 997) {  /* 50 of other's 100 */
		cr_assert_eq(sched_next(s, t, &p), SCHED_SEND);
		cr_assert_eq(p.notice, other, "the expired notice never comes back");
	}
	cr_assert_eq(sched_defer(s, h, 4, 0, 1, 0), 0);
	cr_assert_eq(sched_next(s, 200000, &p), SCHED_SEND);
	cr_assert_eq(p.notice, other);
	cr_assert_eq(sched_pause(s, h), BND_E_CLOSED);
	cr_assert_eq(sched_unpause(s, h), BND_E_CLOSED);
	cr_assert_eq(sched_cancel(s, h), BND_E_CLOSED);
	sched_close(&s);
}

Test(sched, a_paused_notice_expires_too)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, 10, 1000);
	cr_assert_eq(sched_pause(s, h), 0);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 10, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, 1000, "wake up to expire it");
	cr_assert_eq(sched_next(s, 1000, &p), SCHED_EXPIRED);
	cr_assert_eq(sched_unpause(s, h), BND_E_CLOSED);
	cr_assert_eq(sched_next(s, 1001, &p), SCHED_IDLE);
	sched_close(&s);
}

Test(sched, a_drained_notice_does_not_report_expiry)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, 2, 100);
	send(s, 0);
	send(s, 0);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 100, &p), SCHED_IDLE, "its in-flight outcomes decide");
	/* A retry handed back after the expiry: now there is something unsent. */
	cr_assert_eq(sched_defer(s, h, 1, 150, 1, 0), 0);
	cr_assert_eq(sched_next(s, 200, &p), SCHED_EXPIRED);
	cr_assert_eq(sched_next(s, 200, &p), SCHED_IDLE);
	sched_close(&s);
}

Test(sched, cancel_holds)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_EMERGENCY, 0, 100, 0);
	int low = add(s, NOTICE_CAT_EVENT, 0, 3, 0);
	send(s, 0);
	cr_assert_eq(sched_defer(s, h, 0, 10, 1, 0), 0);
	cr_assert_eq(sched_cancel(s, h), 0);
	cr_assert_eq(sched_cancel(s, h), 0, "cancelling twice is a no-op");
	cr_assert_eq(sched_state(s, h), SCHED_CANCELLED);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(send(s, 100).notice, low);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 1000, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, UINT64_MAX, "a cancelled notice's retries wake nobody");
	cr_assert_eq(sched_unpause(s, h), BND_E_CLOSED);
	cr_assert_eq(sched_pause(s, h), BND_E_CLOSED);
	cr_assert_eq(sched_remove(s, h), 0);
	cr_assert_eq(sched_state(s, h), BND_E_NOTFOUND);
	sched_close(&s);
}

Test(sched, pause_holds_and_unpause_continues)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, 10, 0);
	cr_assert_eq(send(s, 0).ordinal, 0);
	cr_assert_eq(sched_pause(s, h), 0);
	cr_assert_eq(sched_pause(s, h), 0);
	cr_assert_eq(sched_defer(s, h, 0, 5, 1, 0), 0);
	struct sched_pick p;
	for (uint64_t t = 0; t < 50; t++)
		cr_assert_eq(sched_next(s, t, &p), SCHED_IDLE);
	cr_assert_eq(sched_unpause(s, h), 0);
	p = send(s, 50);
	cr_assert_eq(p.ordinal, 0);
	cr_assert_eq(p.retry, 1, "kept while paused");
	cr_assert_eq(send(s, 50).ordinal, 1);
	sched_close(&s);
}

Test(sched, new_ordinals_stop_at_the_horizon_and_resume_from_next_ordinal)
{
	struct sched *s = mk(SCHED_POLICY_FIFO);
	struct sched_notice_def d = { .category = NOTICE_CAT_INFO, .count = 100, .next_ordinal = 40,
	                              .horizon = 43 };
	int h;
	cr_assert_eq(sched_add(s, &d, &h), 0);
	for (uint32_t i = 40; i < 43; i++)
		cr_assert_eq(send(s, 0).ordinal, i);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 0, &p), SCHED_IDLE);
	cr_assert_eq(sched_drained(s, h), 0, "blocked is not drained");
	cr_assert_eq(sched_set_horizon(s, h, 1000), 0, "clamped to the count");
	for (uint32_t i = 43; i < 100; i++)
		cr_assert_eq(send(s, 0).ordinal, i);
	cr_assert_eq(sched_drained(s, h), 1);
	cr_assert_eq(sched_next(s, 0, &p), SCHED_IDLE);
	sched_close(&s);
}

Test(sched, rejects_bad_arguments_and_counts_its_notices)
{
	struct sched *s = NULL;
	cr_assert_eq(sched_open(&s, (enum sched_policy)7, 0), BND_E_INVAL);
	s = mk(SCHED_POLICY_FIFO);
	int h;
	struct sched_notice_def d = { .category = (enum notice_category)99, .count = 1 };
	cr_assert_eq(sched_add(s, &d, &h), BND_E_INVAL);
	d.category = NOTICE_CAT_INFO;
	d.next_ordinal = 2;
	cr_assert_eq(sched_add(s, &d, &h), BND_E_INVAL);
	d.next_ordinal = 0;
	for (int i = 0; i < SCHED_MAX_NOTICES; i++)
		cr_assert_eq(sched_add(s, &d, &h), 0);
	cr_assert_eq(sched_notices(s), SCHED_MAX_NOTICES);
	cr_assert_eq(sched_add(s, &d, &h), BND_E_RANGE);
	cr_assert_eq(sched_remove(s, 5), 0);
	cr_assert_eq(sched_add(s, &d, &h), 0);
	cr_assert_eq(h, 5, "a freed handle is reused");
	cr_assert_eq(sched_defer(s, h, 1, 0, 0, 0), BND_E_INVAL, "ordinal past the count");
	cr_assert_eq(sched_defer(s, -1, 0, 0, 0, 0), BND_E_NOTFOUND);
	cr_assert_eq(sched_defer(s, SCHED_MAX_NOTICES, 0, 0, 0, 0), BND_E_NOTFOUND);
	cr_assert_eq(sched_remove(s, 99), BND_E_NOTFOUND);
	cr_assert_eq(sched_set_horizon(s, 99, 1), BND_E_NOTFOUND);
	cr_assert_eq(sched_drained(s, 99), BND_E_NOTFOUND);
	sched_close(&s);
	sched_close(&s);
	sched_close(NULL);
}

Test(sched, allocation_failure_changes_nothing)
{
	struct sched *s = NULL;
	bnd_alloc_fail_after(0);
	cr_assert_eq(sched_open(&s, SCHED_POLICY_FIFO, 0), BND_E_NOMEM);
	cr_assert_null(s);
	bnd_alloc_fail_after(-1);
	s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, 100, 0);
	/* Fill the first heap block, then fail the growth. */
	for (uint32_t i = 0; i < 16; i++)
		cr_assert_eq(sched_defer(s, h, i, 100 + i, 1, 0), 0);
	bnd_alloc_fail_after(0);
	cr_assert_eq(sched_defer(s, h, 50, 1, 1, 0), BND_E_NOMEM);
	bnd_alloc_fail_after(-1);
	cr_assert_eq(sched_deferred_count(s, h), 16);
	for (uint32_t i = 0; i < 16; i++) {
		struct sched_pick p = send(s, 1000);
		cr_assert_eq(p.ordinal, i, "the heap is intact, ordinal 50 was never added");
		cr_assert_eq(p.retry, 1);
	}
	sched_close(&s);
}

Test(sched, many_deferred_items_come_out_in_time_order)
{
	/* A heap check: pseudo-random due times, popped in (due, ordinal) order. */
	enum { N = 5000 };
	static uint64_t due[N];
	struct sched *s = mk(SCHED_POLICY_FIFO);
	int h = add(s, NOTICE_CAT_INFO, 0, N, 0);
	cr_assert_eq(sched_set_horizon(s, h, 0), 0, "no new ordinals: only the heap");
	uint32_t x = 12345;
	for (uint32_t i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		due[i] = (x >> 8) % 1000;
		cr_assert_eq(sched_defer(s, h, i, due[i], 1, 0), 0);
	}
	struct sched_pick p = send(s, 1000);
	for (uint32_t i = 1; i < N; i++) {
		struct sched_pick q = send(s, 1000);
		cr_assert(due[q.ordinal] > due[p.ordinal] ||
		          (due[q.ordinal] == due[p.ordinal] && q.ordinal > p.ordinal),
		          "out of order at %u", i);
		p = q;
	}
	cr_assert_eq(sched_next(s, 1000, &p), SCHED_IDLE);
	sched_close(&s);
}

/* ---- the in-flight window ------------------------------------------------------ */

static struct sched *mkw(uint32_t window)
{
	struct sched *s = NULL;
	cr_assert_eq(sched_open(&s, SCHED_POLICY_FIFO, window), 0);
	return s;
}

Test(sched, the_window_bounds_what_is_handed_out_until_released)
{
	struct sched *s = mkw(4);
	int h = add(s, NOTICE_CAT_INFO, 0, 100, 0);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(send(s, 0).ordinal, i);
	cr_assert_eq(sched_in_flight(s), 4);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 0, &p), SCHED_IDLE);
	cr_assert_eq(p.wake_ns, UINT64_MAX, "only a release helps");
	/* A retry needs a slot too. */
	cr_assert_eq(sched_release(s, h), 0);
	cr_assert_eq(sched_defer(s, h, 1, 0, 1, 0), 0);
	p = send(s, 0);
	cr_assert_eq(p.ordinal, 1);
	cr_assert_eq(p.retry, 1);
	cr_assert_eq(sched_next(s, 0, &p), SCHED_IDLE);
	cr_assert_eq(sched_release(s, h), 0);
	cr_assert_eq(send(s, 0).ordinal, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(sched_release(s, h), 0);
	cr_assert_eq(sched_release(s, h), BND_E_RANGE, "a double release is caught");
	cr_assert_eq(sched_in_flight(s), 0);
	sched_close(&s);
}

Test(sched, uncertain_items_hold_slots_from_registration_and_need_no_free_one)
{
	struct sched *s = mkw(4);
	struct sched_notice_def d = { .category = NOTICE_CAT_INFO, .count = 100, .next_ordinal = 10 };
	int h;
	cr_assert_eq(sched_add(s, &d, &h), 0);
	/* A resume registers 6 uncertain ordinals (the window was larger then). */
	for (uint32_t o = 0; o < 6; o++)
		cr_assert_eq(sched_defer(s, h, o, 1000, 1, SCHED_F_UNCERTAIN), 0);
	cr_assert_eq(sched_defer(s, h, 7, 0, 2, 0), 0, "a retry, due at once");
	cr_assert_eq(sched_in_flight(s), 6);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 999, &p), SCHED_IDLE, "the window is full of uncertain ones");
	cr_assert_eq(p.wake_ns, 1000);
	for (uint32_t o = 0; o < 6; o++) {
		p = send(s, 1000);
		cr_assert_eq(p.ordinal, o, "uncertain ones go out although the window is full");
		cr_assert_eq(p.flags, SCHED_F_UNCERTAIN);
	}
	cr_assert_eq(sched_in_flight(s), 6, "re-sending takes no new slot");
	cr_assert_eq(sched_next(s, 1000, &p), SCHED_IDLE);
	/* Two outcomes: 6 - 2 = 4 = the window: still nothing new. */
	sched_release(s, h);
	sched_release(s, h);
	cr_assert_eq(sched_next(s, 1000, &p), SCHED_IDLE);
	sched_release(s, h);
	p = send(s, 1000);
	cr_assert_eq(p.ordinal, 7, "then the retry");
	cr_assert_eq(sched_in_flight(s), 4);
	cr_assert_eq(sched_next(s, 1000, &p), SCHED_IDLE, "full again");
	sched_release(s, h);
	cr_assert_eq(send(s, 1000).ordinal, 10, "then new ordinals");
	cr_assert_eq(sched_remove(s, h), 0);
	cr_assert_eq(sched_in_flight(s), 0, "removing a notice gives its slots back");
	sched_close(&s);
}

Test(sched, an_emergency_takes_the_first_slot_that_frees_up)
{
	struct sched *s = mkw(3);
	int info = add(s, NOTICE_CAT_INFO, 0, 100, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(send(s, 0).notice, info);
	int em = add(s, NOTICE_CAT_EMERGENCY, 1, 10, 0);
	struct sched_pick p;
	cr_assert_eq(sched_next(s, 0, &p), SCHED_IDLE, "in-flight requests finish normally");
	cr_assert_eq(sched_release(s, info), 0);
	cr_assert_eq(send(s, 0).notice, em);
	cr_assert_eq(sched_release(s, info), 0);
	cr_assert_eq(send(s, 0).notice, em);
	cr_assert_eq(sched_in_flight(s), 3);
	sched_close(&s);
}

/*
 * The crash model. A sender with window W runs against a model journal
 * (per ordinal: untouched, dispatched, deferred, final) and crashes at
 * random moments; each resume rebuilds the scheduler from the model the way
 * the sender does (uncertain -> SCHED_F_UNCERTAIN after a grace period,
 * deferred -> a retry, untouched below high water -> due now). At every
 * step the number of dispatched-not-final ordinals stays <= W: the bound on
 * what one crash can leave uncertain, however many crashes came before.
 */
Test(sched, dispatched_not_final_never_exceeds_the_window_across_crashes)
{
	enum { N = 3000, W = 16, ST_NONE = 0, ST_DISP, ST_DEF, ST_FINAL };
	static uint8_t st[N];
	uint32_t x = 2024, high = 0, finals = 0, t = 0;
	int crashes = 0;
	struct sched *s = NULL;
	int h = -1;
	uint32_t wire[W * 4];
	size_t nwire = 0;
	while (finals < N) {
		if (!s) {
			/* Resume. */
			s = mkw(W);
			struct sched_notice_def d = { .category = NOTICE_CAT_INFO, .count = N,
			                              .next_ordinal = high };
			cr_assert_eq(sched_add(s, &d, &h), 0);
			for (uint32_t o = 0; o < high; o++) {
				if (st[o] == ST_DISP)
					cr_assert_eq(sched_defer(s, h, o, t + 50, 1, SCHED_F_UNCERTAIN), 0);
				else if (st[o] != ST_FINAL)
					cr_assert_eq(sched_defer(s, h, o, t, 1, 0), 0);
			}
			nwire = 0;
		}
		t++;
		x = x * 1664525u + 1013904223u;
		unsigned dice = x >> 24;
		struct sched_pick p;
		if (dice < 120 && sched_next(s, t, &p) == SCHED_SEND) {
			cr_assert_neq(st[p.ordinal], ST_FINAL, "a final ordinal handed out");
			st[p.ordinal] = ST_DISP;
			if (p.ordinal + 1 > high)
				high = p.ordinal + 1;
			cr_assert_lt(nwire, sizeof wire / sizeof wire[0]);
			wire[nwire++] = p.ordinal;
		} else if (dice < 240 && nwire > 0) {
			size_t k = (x >> 8) % nwire;
			uint32_t o = wire[k];
			wire[k] = wire[--nwire];
			cr_assert_eq(sched_release(s, h), 0);
			if ((x >> 4) % 8 == 0) {
				st[o] = ST_DEF;
				cr_assert_eq(sched_defer(s, h, o, t + 5, 2, 0), 0);
			} else {
				st[o] = ST_FINAL;
				finals++;
			}
		} else if (dice == 255) {
			sched_close(&s);  /* crash: everything in memory is gone */
			crashes++;
		}
		unsigned dnf = 0;
		for (uint32_t o = 0; o < high; o++)
			dnf += st[o] == ST_DISP;
		cr_assert_leq(dnf, W, "step %u: %u dispatched and not final", t, dnf);
		cr_assert_leq(t, 10000000u, "no progress");
	}
	sched_close(&s);
	cr_assert_gt(crashes, 30);
}

Test(sched, top_says_which_priorities_are_due_now_and_which_still_have_work)
{
	struct sched *s = NULL;
	cr_assert_eq(sched_open(&s, SCHED_POLICY_FIFO, 2), 0);
	struct sched_top t;
	sched_top(s, 0, &t);
	cr_assert_eq(t.ready, -1);
	cr_assert_eq(t.pending, -1);
	int info = add(s, NOTICE_CAT_INFO, 1, 3, 0);
	int em = add(s, NOTICE_CAT_EMERGENCY, 2, 1, 500);
	sched_top(s, 10, &t);
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_EMERGENCY));
	cr_assert_eq(t.pending, notice_priority(NOTICE_CAT_EMERGENCY));
	/* The window does not count: two info picks fill it, the emergency is
	 * still ready (giving the info picks back frees the slots). */
	struct sched_pick p;
	cr_assert_eq(sched_pause(s, em), 0);
	sched_top(s, 10, &t);
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_INFO), "a paused notice is not ready");
	cr_assert_eq(t.pending, notice_priority(NOTICE_CAT_INFO));
	send(s, 10);
	send(s, 10);
	cr_assert_eq(sched_next(s, 10, &p), SCHED_IDLE, "the window is full");
	cr_assert_eq(sched_unpause(s, em), 0);
	sched_top(s, 10, &t);
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_EMERGENCY));
	/* Given back and re-queued at once: the info notice is ready again. */
	cr_assert_eq(sched_release(s, info), 0);
	cr_assert_eq(sched_defer(s, info, 1, 10, 0, 0), 0);
	p = send(s, 10);
	cr_assert_eq(p.notice, em, "the freed slot goes to the emergency");
	sched_top(s, 10, &t);
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_INFO), "the emergency is drained");
	cr_assert_eq(t.pending, notice_priority(NOTICE_CAT_INFO));
	/* A retry due later: work pending, nothing ready. */
	cr_assert_eq(sched_release(s, em), 0);
	cr_assert_eq(sched_defer(s, em, 0, 400, 1, 0), 0);
	cr_assert_eq(sched_release(s, info), 0);
	cr_assert_eq(sched_release(s, info), BND_E_RANGE);
	sched_top(s, 10, &t);
	cr_assert_eq(t.pending, notice_priority(NOTICE_CAT_EMERGENCY));
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_INFO));
	sched_top(s, 400, &t);
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_EMERGENCY), "the retry's time came");
	/* At its expiry the emergency counts for neither. */
	sched_top(s, 500, &t);
	cr_assert_eq(t.pending, notice_priority(NOTICE_CAT_INFO));
	cr_assert_eq(t.ready, notice_priority(NOTICE_CAT_INFO));
	sched_close(&s);
}
