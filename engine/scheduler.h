/*
 * scheduler.h - which recipient of which notice to dispatch next (API prefix
 * sched_; the file is not called sched.h because engine/ is on the include
 * path and would shadow the system <sched.h> that <pthread.h> includes).
 *
 * The scheduler holds the active notices of one sender (at most
 * SCHED_MAX_NOTICES) and answers one question, sched_next: given the time,
 * what is the next (notice, ordinal) to send? Its rules:
 *
 *   1. Highest priority first (notice_priority: emergency > disruption >
 *      deadline > info > event). The order is re-evaluated on every call, so
 *      an emergency added now is what the very next call returns: it
 *      pre-empts lower notices within one scheduler tick. Requests already
 *      in flight for them finish normally; nothing new of theirs is
 *      dispatched while the emergency has something to send.
 *   2. Within one priority, SCHED_POLICY_FIFO (the default) serves notices in
 *      creation order: the older one goes first, and a younger one gets the
 *      capacity only while the older one has nothing due (work-conserving:
 *      no idle capacity, no starvation). SCHED_POLICY_ROUND_ROBIN alternates
 *      between them instead, for equal shares.
 *   3. Within one notice: an uncertain ordinal whose grace period ended,
 *      then a retry whose time has come, then the next new ordinal; new
 *      ordinals go out in ascending order, never at or past the notice's
 *      horizon (the journal's window end).
 *   4. Nothing is dispatched for a paused or cancelled notice, or at or after
 *      a notice's expiry. The call that finds a notice expired (while it
 *      still had something to send) returns SCHED_EXPIRED for it once, so
 *      that the caller records the state; what was not sent is then counted
 *      expired by the journal.
 *   5. The in-flight window: at most `window` ordinals may be dispatched
 *      and not yet answered, across all notices. A new ordinal or a retry
 *      takes a slot when it is handed out; the caller gives it back with
 *      sched_release when the outcome is recorded. An uncertain ordinal
 *      (its request may have reached WhatsApp before a crash) takes a slot
 *      as soon as it is registered with sched_defer(..., SCHED_F_UNCERTAIN)
 *      and keeps it until released, because the journal counts it as
 *      dispatched; re-sending it needs no new slot. So "dispatched and not
 *      final" never exceeds the window, across any number of crashes, and
 *      neither can the duplicates one crash leaves.
 *
 * The scheduler is pure: no I/O, no clock (time is a parameter, in one
 * consistent clock for every call; the sender uses wall-clock nanoseconds
 * because expiry and retry times are wall-clock instants kept on disk), no
 * global state. It keeps no per-recipient objects: per notice, one cursor
 * (the next new ordinal) and two heaps of deferred items (uncertain ones,
 * retries).
 *
 * Threading: not thread-safe; one sender loop owns it.
 */
#ifndef SCHEDULER_H
#define SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "notice.h"

#define SCHED_MAX_NOTICES 64

enum sched_policy {
	SCHED_POLICY_FIFO = 0,   /* within a priority: oldest notice first */
	SCHED_POLICY_ROUND_ROBIN = 1,/* within a priority: take turns */
};

/* Flags carried by a deferred item back to the caller. */
#define SCHED_F_UNCERTAIN 0x0001u   /* an uncertain ordinal: holds a window
                                       slot from sched_defer on; when picked,
                                       check the journal (a status may have
                                       made it final: then just release) and
                                       send with JOURNAL_DISPATCH_UNCERTAIN */

struct sched;

/* What the scheduler needs to know about one notice. */
struct sched_notice_def {
	enum notice_category category;  /* sets the priority */
	uint64_t order;                 /* FIFO key within a priority (the
	                                   notice's created_ms); ties: the order
	                                   of sched_add */
	uint32_t count;                 /* recipients */
	uint32_t next_ordinal;          /* first new ordinal to hand out: 0, or
	                                   the journal's high_water on resume */
	uint32_t horizon;               /* new ordinals stop below this (the
	                                   journal's window end); 0: count */
	uint64_t expires_ns;            /* same clock as now_ns; 0: never */
	void *ud;                       /* the caller's, returned in picks */
};

/*
 * sched_open - an empty scheduler with an in-flight window of `window`
 * slots shared by all notices (0: no limit). Returns 0 and sets *out,
 * BND_E_INVAL (unknown policy) or BND_E_NOMEM.
 */
int sched_open(struct sched **out, enum sched_policy policy, uint32_t window);

/* sched_close - free everything; accepts NULL and *p == NULL; sets *p = NULL. */
void sched_close(struct sched **p);

/*
 * sched_add - start scheduling a notice (active). On success *handle is a
 * small integer (0..SCHED_MAX_NOTICES-1) naming it until sched_remove; a
 * handle is reused after removal. Returns 0; BND_E_INVAL (unknown category,
 * next_ordinal > count, NULL handle); BND_E_RANGE (SCHED_MAX_NOTICES
 * notices already).
 */
int sched_add(struct sched *s, const struct sched_notice_def *d, int *handle);

/*
 * sched_remove - forget a notice and its deferred items, and give back the
 * window slots it still holds (the caller does this when the journal says
 * it is done, or after cancel/expiry once its in-flight requests ended).
 * Returns 0 or BND_E_NOTFOUND (bad handle).
 */
int sched_remove(struct sched *s, int handle);

/*
 * sched_pause / sched_unpause / sched_cancel - stop handing out the
 * notice's items, hand them out again, stop for good. Deferred items are
 * kept while paused. Pausing a paused notice, unpausing an active one and
 * cancelling a cancelled one are no-ops returning 0.
 * Returns 0, BND_E_NOTFOUND, or BND_E_CLOSED when the notice is already
 * cancelled or expired (for cancel: expired).
 */
int sched_pause(struct sched *s, int handle);
int sched_unpause(struct sched *s, int handle);
int sched_cancel(struct sched *s, int handle);

/*
 * sched_set_horizon - new ordinals may go up to (not including) end; the
 * sender calls it when the journal's window end moves. end is clamped to
 * the count. Returns 0 or BND_E_NOTFOUND.
 */
int sched_set_horizon(struct sched *s, int handle, uint32_t end);

/*
 * sched_defer - hand ordinal out again at due_ns or later, with attempt and
 * flags (SCHED_F_*) returned in the pick. Used for retries after a
 * throttle or transient error (release the slot first), and on resume for
 * deferred, unsent and uncertain ordinals. With SCHED_F_UNCERTAIN the item
 * takes a window slot now (even past the window: a resume must register
 * every uncertain ordinal) and keeps it through its pick until
 * sched_release. Items due at the same time go out in ascending ordinal
 * order. Returns 0, BND_E_NOTFOUND, BND_E_INVAL (ordinal >= count),
 * BND_E_NOMEM (then nothing changed: the caller must not lose the ordinal;
 * stopping the notice and resuming later recovers it from the journal).
 */
int sched_defer(struct sched *s, int handle, uint32_t ordinal, uint64_t due_ns, uint16_t attempt,
                uint16_t flags);

/*
 * sched_release - give back the window slot of one item of the notice that
 * was handed out (or registered uncertain): call it exactly once per SEND
 * pick when its outcome is recorded in the journal (final or DEFERRED), or
 * when the item is dropped (a picked uncertain ordinal found final, a
 * dispatch that failed before the wire). Returns 0, BND_E_NOTFOUND, or
 * BND_E_RANGE when the notice holds no slot (a double release).
 */
int sched_release(struct sched *s, int handle);

/* sched_in_flight - window slots held across all notices. */
uint32_t sched_in_flight(const struct sched *s);

enum sched_pick_kind {
	SCHED_IDLE = 0,     /* nothing to dispatch now; wake_ns says when to ask
	                       again (UINT64_MAX: only after a change: a
	                       release, a horizon move, a new notice) */
	SCHED_SEND = 1,     /* dispatch (notice, ordinal) */
	SCHED_EXPIRED = 2,  /* notice just reached its expiry with items unsent:
	                       record it (once); nothing more will come from it */
};

struct sched_pick {
	enum sched_pick_kind kind;
	int notice;          /* handle (SEND, EXPIRED) */
	void *ud;            /* the notice's ud (SEND, EXPIRED) */
	uint32_t ordinal;    /* SEND */
	uint16_t attempt;    /* SEND: 0 for a new ordinal, else from sched_defer */
	uint16_t flags;      /* SEND: SCHED_F_* from sched_defer */
	int retry;           /* SEND: 1 when it came from sched_defer */
	uint64_t wake_ns;    /* IDLE: earliest time something becomes due */
};

/*
 * sched_next - the next thing to do at now_ns, by the rules at the top.
 * Fills *p and returns p->kind. A SEND takes the item out of the scheduler
 * and holds a window slot until sched_release. O(notices + log deferred).
 * Never fails.
 */
enum sched_pick_kind sched_next(struct sched *s, uint64_t now_ns, struct sched_pick *p);

/* What sched_top reports: notice_priority levels, -1 for none. */
struct sched_top {
	int ready;      /* highest priority of an active notice with an item due
	                   now: an uncertain or retry item whose time has come, or
	                   a new ordinal below its horizon. The window is not
	                   counted: a caller holding slots for lower notices (a
	                   queue not yet on the wire) frees them by giving those
	                   items back */
	int pending;    /* highest priority of an active notice with anything
	                   left to hand out, now or later (not drained) */
};

/*
 * sched_top - the priorities above at now_ns (active notices only; one at
 * or past its expiry counts for neither). Pure, O(notices). The sender
 * uses it to take lower-priority picks back out of its queue when a
 * higher notice has something to send, and to queue few lower picks while
 * a higher notice still has work.
 */
void sched_top(const struct sched *s, uint64_t now_ns, struct sched_top *out);

enum sched_notice_state {
	SCHED_ACTIVE = 1,
	SCHED_PAUSED = 2,
	SCHED_CANCELLED = 3,
	SCHED_EXPIRED_STATE = 4,
};

/* sched_state - the notice's scheduling state, or BND_E_NOTFOUND. */
int sched_state(const struct sched *s, int handle);

/*
 * sched_drained - 1 when the notice has nothing left to hand out (every
 * new ordinal went out and no item is deferred), 0 when it has, or
 * BND_E_NOTFOUND. The notice is finished once it is drained and its last
 * in-flight request has an outcome.
 */
int sched_drained(const struct sched *s, int handle);

/* sched_deferred_count - deferred items held for the notice (0 for a bad handle). */
size_t sched_deferred_count(const struct sched *s, int handle);

/* sched_notices - active, paused, cancelled and expired notices held. */
size_t sched_notices(const struct sched *s);

#endif
