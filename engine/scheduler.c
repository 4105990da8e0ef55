/*
 * scheduler.c - picks the next (notice, ordinal) to dispatch (scheduler.h).
 *
 * Design. A handful of notices at most (SCHED_MAX_NOTICES), so every call
 * of sched_next simply looks at all of them, from the highest priority
 * level down: no cached order can go stale, and pre-emption needs no event
 * (an emergency added between two calls wins the second one). Per notice
 * the state is a cursor (next new ordinal, the horizon it may not reach)
 * and two binary min-heaps keyed by (due time, ordinal): uncertain items
 * and retries. A due item beats the cursor, so retries are not starved by
 * a long list; uncertain items come first and need no window slot (they
 * hold one since their registration), so a full window of them can always
 * drain. Memory per notice is the heaps only, never one object per
 * recipient.
 *
 * The window is one counter of slots held (global, and per notice so that
 * removing a notice gives its slots back). It is what keeps "dispatched and
 * not final" in the journal at or below the window even across repeated
 * crashes: see rule 5 in scheduler.h.
 *
 * Expiry is checked first on every call, for active and paused notices that
 * still have something to hand out; the first one found is reported
 * (SCHED_EXPIRED) and never picked again. A notice that has handed out
 * everything does not "expire" here: its last requests are in flight and
 * their outcomes decide the end (the caller's journal says when it is done).
 *
 * Round robin within a level remembers, per level, the sequence number of
 * the notice served last and starts the next search just after it; FIFO
 * always starts at the oldest. Both are work-conserving: a notice with
 * nothing due is passed over, never waited for.
 *
 * Invariants: 0 <= next <= count; horizon <= count; every heap item has
 * ordinal < count; a CANCELLED or EXPIRED notice is never picked again;
 * in_flight is the sum of the notices' held slots; a pick that needs a
 * slot is made only while in_flight < window (or window == 0).
 */
#include "scheduler.h"

#include <string.h>

#include "bnd.h"

#define LEVELS 5  /* notice_priority: 0 (event) .. 4 (emergency) */

struct item {
	uint64_t due;
	uint32_t ordinal;
	uint16_t attempt;
	uint16_t flags;
};

struct entry {
	int used;
	int state;            /* enum sched_notice_state */
	int prio;             /* notice_priority */
	uint64_t order, seq;  /* FIFO keys */
	uint32_t count, next, horizon;
	uint64_t expires;     /* 0: never */
	void *ud;
	struct item *heap;    /* retries */
	size_t n, cap;
	struct item *uheap;   /* uncertain ordinals */
	size_t un, ucap;
	uint32_t held;        /* window slots held */
};

struct sched {
	enum sched_policy policy;
	uint32_t window;      /* 0: no limit */
	uint32_t in_flight;
	uint64_t seq;
	uint64_t rr_last[LEVELS];  /* seq of the notice served last, per level */
	uint64_t used;        /* bit i: v[i].used (sched_next visits only these) */
	struct entry v[SCHED_MAX_NOTICES];
};

_Static_assert(SCHED_MAX_NOTICES <= 64, "sched.used is one 64-bit mask");

/* Visit the used entries in index order: a notice or two is the common case,
 * and looking at all 64 slots per level cost ~3,400 instructions a message
 * (callgrind of a 10,000-recipient send). */
#define FOR_USED(s, i) \
	for (uint64_t m_ = (s)->used, i = 0; m_ && ((i = (uint64_t)__builtin_ctzll(m_)), 1); \
	     m_ &= m_ - 1)

static int item_before(const struct item *a, const struct item *b)
{
	return a->due < b->due || (a->due == b->due && a->ordinal < b->ordinal);
}

static void heap_up(struct item *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!item_before(&h[i], &h[p]))
			break;
		struct item t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static void heap_down(struct item *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && item_before(&h[l], &h[m]))
			m = l;
		if (r < n && item_before(&h[r], &h[m]))
			m = r;
		if (m == i)
			break;
		struct item t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static struct entry *get(struct sched *s, int h)
{
	if (h < 0 || h >= SCHED_MAX_NOTICES || !s->v[h].used)
		return NULL;
	return &s->v[h];
}

static const struct entry *cget(const struct sched *s, int h)
{
	if (h < 0 || h >= SCHED_MAX_NOTICES || !s->v[h].used)
		return NULL;
	return &s->v[h];
}

static int has_work(const struct entry *e)
{
	return e->n > 0 || e->un > 0 || e->next < e->count;
}

/* Push onto a growable heap; BND_E_NOMEM leaves it unchanged. */
static int heap_push(struct item **h, size_t *n, size_t *cap, struct item it)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct item *nh = bnd_realloc(*h, ncap * sizeof *nh);
		if (!nh)
			return BND_E_NOMEM;
		*h = nh;
		*cap = ncap;
	}
	(*h)[*n] = it;
	heap_up(*h, *n);
	(*n)++;
	return 0;
}

static struct item heap_pop(struct item *h, size_t *n)
{
	struct item it = h[0];
	h[0] = h[--*n];
	heap_down(h, *n, 0);
	return it;
}

int sched_open(struct sched **out, enum sched_policy policy, uint32_t window)
{
	*out = NULL;
	if (policy != SCHED_POLICY_FIFO && policy != SCHED_POLICY_ROUND_ROBIN)
		return BND_E_INVAL;
	struct sched *s = bnd_calloc(1, sizeof *s);
	if (!s)
		return BND_E_NOMEM;
	s->policy = policy;
	s->window = window;
	*out = s;
	return 0;
}

void sched_close(struct sched **p)
{
	if (!p || !*p)
		return;
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		bnd_free((*p)->v[i].heap);
		bnd_free((*p)->v[i].uheap);
	}
	bnd_free(*p);
	*p = NULL;
}

int sched_add(struct sched *s, const struct sched_notice_def *d, int *handle)
{
	if (!d || !handle)
		return BND_E_INVAL;
	int prio = notice_priority(d->category);
	if (prio < 0 || prio >= LEVELS || d->next_ordinal > d->count)
		return BND_E_INVAL;
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		struct entry *e = &s->v[i];
		if (e->used)
			continue;
		memset(e, 0, sizeof *e);
		e->used = 1;
		s->used |= 1ull << i;
		e->state = SCHED_ACTIVE;
		e->prio = prio;
		e->order = d->order;
		e->seq = ++s->seq;
		e->count = d->count;
		e->next = d->next_ordinal;
		e->horizon = d->horizon == 0 || d->horizon > d->count ? d->count : d->horizon;
		e->expires = d->expires_ns;
		e->ud = d->ud;
		*handle = i;
		return 0;
	}
	return BND_E_RANGE;
}

int sched_remove(struct sched *s, int handle)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	s->in_flight -= e->held;
	bnd_free(e->heap);
	bnd_free(e->uheap);
	memset(e, 0, sizeof *e);
	s->used &= ~(1ull << handle);
	return 0;
}

int sched_pause(struct sched *s, int handle)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	if (e->state == SCHED_CANCELLED || e->state == SCHED_EXPIRED_STATE)
		return BND_E_CLOSED;
	e->state = SCHED_PAUSED;
	return 0;
}

int sched_unpause(struct sched *s, int handle)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	if (e->state == SCHED_CANCELLED || e->state == SCHED_EXPIRED_STATE)
		return BND_E_CLOSED;
	e->state = SCHED_ACTIVE;
	return 0;
}

int sched_cancel(struct sched *s, int handle)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	if (e->state == SCHED_EXPIRED_STATE)
		return BND_E_CLOSED;
	e->state = SCHED_CANCELLED;
	return 0;
}

int sched_set_horizon(struct sched *s, int handle, uint32_t end)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	e->horizon = end > e->count ? e->count : end;
	return 0;
}

int sched_defer(struct sched *s, int handle, uint32_t ordinal, uint64_t due_ns, uint16_t attempt,
                uint16_t flags)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	if (ordinal >= e->count)
		return BND_E_INVAL;
	struct item it = { .due = due_ns, .ordinal = ordinal, .attempt = attempt, .flags = flags };
	if (!(flags & SCHED_F_UNCERTAIN))
		return heap_push(&e->heap, &e->n, &e->cap, it);
	int rc = heap_push(&e->uheap, &e->un, &e->ucap, it);
	if (rc == 0) {
		/* Dispatched in the journal already: it holds a slot now. */
		e->held++;
		s->in_flight++;
	}
	return rc;
}

int sched_release(struct sched *s, int handle)
{
	struct entry *e = get(s, handle);
	if (!e)
		return BND_E_NOTFOUND;
	if (e->held == 0)
		return BND_E_RANGE;
	e->held--;
	s->in_flight--;
	return 0;
}

uint32_t sched_in_flight(const struct sched *s)
{
	return s->in_flight;
}

/* Try to take one item of e at now; 1 when p was filled. */
static int take(struct sched *s, struct entry *e, uint64_t now, struct sched_pick *p)
{
	struct item it;
	if (e->un > 0 && e->uheap[0].due <= now) {
		/* Holds its slot since registration. */
		it = heap_pop(e->uheap, &e->un);
		goto deferred;
	}
	if (s->window && s->in_flight >= s->window)
		return 0;
	if (e->n > 0 && e->heap[0].due <= now) {
		it = heap_pop(e->heap, &e->n);
		e->held++;
		s->in_flight++;
		goto deferred;
	}
	if (e->next < e->horizon) {
		p->ordinal = e->next++;
		p->attempt = 0;
		p->flags = 0;
		p->retry = 0;
		e->held++;
		s->in_flight++;
		return 1;
	}
	return 0;
deferred:
	p->ordinal = it.ordinal;
	p->attempt = it.attempt;
	p->flags = it.flags;
	p->retry = 1;
	return 1;
}

static void wake_at(uint64_t *wake, uint64_t t)
{
	if (t < *wake)
		*wake = t;
}

/* FIFO order within a level: by (order, seq). */
static int entry_before(const struct entry *a, const struct entry *b)
{
	return a->order < b->order || (a->order == b->order && a->seq < b->seq);
}

enum sched_pick_kind sched_next(struct sched *s, uint64_t now_ns, struct sched_pick *p)
{
	memset(p, 0, sizeof *p);
	p->kind = SCHED_IDLE;
	p->wake_ns = UINT64_MAX;

	/* Expiry first: nothing is dispatched at or after it. */
	FOR_USED(s, i) {
		struct entry *e = &s->v[i];
		if (e->state != SCHED_ACTIVE && e->state != SCHED_PAUSED)
			continue;
		if (e->expires && now_ns >= e->expires && has_work(e)) {
			e->state = SCHED_EXPIRED_STATE;
			p->kind = SCHED_EXPIRED;
			p->notice = (int)i;
			p->ud = e->ud;
			return p->kind;
		}
	}

	for (int level = LEVELS - 1; level >= 0; level--) {
		/* This level's active notices in FIFO order (insertion sort). */
		int idx[SCHED_MAX_NOTICES];
		int n = 0;
		FOR_USED(s, i) {
			const struct entry *e = &s->v[i];
			if (e->prio != level)
				continue;
			if (e->state == SCHED_PAUSED && e->expires && has_work(e))
				wake_at(&p->wake_ns, e->expires);
			if (e->state != SCHED_ACTIVE)
				continue;
			int k = n++;
			while (k > 0 && entry_before(e, &s->v[idx[k - 1]])) {
				idx[k] = idx[k - 1];
				k--;
			}
			idx[k] = (int)i;
		}
		if (n == 0)
			continue;
		int start = 0;
		if (s->policy == SCHED_POLICY_ROUND_ROBIN) {
			/* Just after the notice served last at this level. */
			for (int k = 0; k < n; k++) {
				if (s->v[idx[k]].seq == s->rr_last[level]) {
					start = (k + 1) % n;
					break;
				}
			}
		}
		for (int t = 0; t < n; t++) {
			int i = idx[(start + t) % n];
			struct entry *e = &s->v[i];
			if (take(s, e, now_ns, p)) {
				p->kind = SCHED_SEND;
				p->notice = i;
				p->ud = e->ud;
				p->wake_ns = 0;
				s->rr_last[level] = e->seq;
				return p->kind;
			}
			if (e->un > 0)
				wake_at(&p->wake_ns, e->uheap[0].due);
			if (e->n > 0 && (!s->window || s->in_flight < s->window))
				wake_at(&p->wake_ns, e->heap[0].due);
			if (e->expires && has_work(e))
				wake_at(&p->wake_ns, e->expires);
		}
	}
	return p->kind;
}

void sched_top(const struct sched *s, uint64_t now_ns, struct sched_top *out)
{
	out->ready = -1;
	out->pending = -1;
	FOR_USED(s, i) {
		const struct entry *e = &s->v[i];
		if (e->state != SCHED_ACTIVE || !has_work(e) ||
		    (e->expires && now_ns >= e->expires))
			continue;
		if (e->prio > out->pending)
			out->pending = e->prio;
		if (e->prio > out->ready &&
		    ((e->un > 0 && e->uheap[0].due <= now_ns) ||
		     (e->n > 0 && e->heap[0].due <= now_ns) || e->next < e->horizon))
			out->ready = e->prio;
	}
}

int sched_state(const struct sched *s, int handle)
{
	const struct entry *e = cget(s, handle);
	return e ? e->state : BND_E_NOTFOUND;
}

int sched_drained(const struct sched *s, int handle)
{
	const struct entry *e = cget(s, handle);
	return e ? !has_work(e) : BND_E_NOTFOUND;
}

size_t sched_deferred_count(const struct sched *s, int handle)
{
	const struct entry *e = cget(s, handle);
	return e ? e->n + e->un : 0;
}

size_t sched_notices(const struct sched *s)
{
	size_t n = 0;
	for (int i = 0; i < SCHED_MAX_NOTICES; i++)
		n += s->v[i].used != 0;
	return n;
}
