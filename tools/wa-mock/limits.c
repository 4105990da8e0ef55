/*
 * limits.c - throughput, pair-rate and tier limits (see limits.h).
 *
 * Throughput: a GCRA per phone-number-id in a small table under one mutex.
 * The mock normally serves one id, the critical section is a few loads and
 * stores, and with --rate 0 the table is never touched at all.
 *
 * Pair rate: a GCRA per recipient, stored in the recipient's entry (recip.h)
 * so it shares the entry's stripe lock. The check and the commit are split
 * because a later step (a fault, the tier) may still refuse the message, and
 * a refused message must not use up the recipient's quota.
 *
 * Tier: a FIFO of the times recipients entered the window, oldest first.
 * Entries older than the window are dropped on each call, so the FIFO's
 * length is the number of recipients counted now; its capacity is the tier.
 * A recipient's own entry remembers when it entered, so a repeat message
 * inside the window is admitted without counting again. Because a recipient
 * re-enters only after its previous time expired, and expired times are
 * dropped before any admission, the FIFO needs no keys.
 */
#include "limits.h"

#include <pthread.h>
#include <string.h>

#include "bnd.h"

#define PNID_SLOTS 256
#define LIMITS_PNID_MAX 64

struct pnid_slot {
	uint8_t id[LIMITS_PNID_MAX];
	size_t len;          /* 0 = free */
	struct gcra g;
};

struct limits {
	struct limits_conf c;
	uint64_t rate_period, rate_tau;
	uint64_t pair_period, pair_tau;

	pthread_mutex_t rate_mu;
	struct pnid_slot pnids[PNID_SLOTS];
	struct gcra overflow;   /* shared by ids past the table */

	pthread_mutex_t tier_mu;
	uint64_t *fifo;         /* tier entries: enter times, a ring */
	uint64_t head, count;
};

int gcra_peek(const struct gcra *g, uint64_t now_ns, uint64_t tau_ns)
{
	return g->tat <= now_ns || g->tat - now_ns <= tau_ns;
}

void gcra_commit(struct gcra *g, uint64_t now_ns, uint64_t period_ns)
{
	g->tat = (g->tat > now_ns ? g->tat : now_ns) + period_ns;
}

int limits_open(struct limits **out, const struct limits_conf *c)
{
	if (!(c->rate >= 0.0) || !(c->pair_per_min >= 0.0) ||
	    (c->tier && c->tier_window_ns == 0) || c->tier > 100000000)
		return BND_E_INVAL;
	struct limits *l = bnd_calloc(1, sizeof *l);
	if (!l)
		return BND_E_NOMEM;
	l->c = *c;
	if (c->rate > 0.0) {
		l->rate_period = (uint64_t)(1e9 / c->rate);
		uint32_t burst = c->rate_burst ? c->rate_burst
		               : (c->rate >= 1.0 ? (uint32_t)c->rate : 1);
		l->rate_tau = (uint64_t)(burst - 1) * l->rate_period;
	}
	if (c->pair_per_min > 0.0) {
		l->pair_period = (uint64_t)(60e9 / c->pair_per_min);
		uint32_t burst = c->pair_burst ? c->pair_burst : 1;
		l->pair_tau = (uint64_t)(burst - 1) * l->pair_period;
	}
	if (c->tier) {
		l->fifo = bnd_calloc(c->tier, sizeof *l->fifo);
		if (!l->fifo) {
			bnd_free(l);
			return BND_E_NOMEM;
		}
	}
	pthread_mutex_init(&l->rate_mu, NULL);
	pthread_mutex_init(&l->tier_mu, NULL);
	*out = l;
	return 0;
}

void limits_close(struct limits **p)
{
	if (!p || !*p)
		return;
	struct limits *l = *p;
	pthread_mutex_destroy(&l->rate_mu);
	pthread_mutex_destroy(&l->tier_mu);
	bnd_free(l->fifo);
	bnd_free(l);
	*p = NULL;
}

int limits_throughput(struct limits *l, const uint8_t *pnid, size_t len, uint64_t now_ns)
{
	if (l->rate_period == 0)
		return 1;
	if (len > LIMITS_PNID_MAX)
		len = LIMITS_PNID_MAX;
	uint32_t h = 2166136261u;  /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ pnid[i]) * 16777619u;
	size_t start = h % PNID_SLOTS;
	pthread_mutex_lock(&l->rate_mu);
	struct gcra *g = &l->overflow;
	for (size_t k = 0; k < PNID_SLOTS; k++) {
		struct pnid_slot *s = &l->pnids[(start + k) % PNID_SLOTS];
		if (s->len == 0) {
			memcpy(s->id, pnid, len);
			s->len = len;
			g = &s->g;
			break;
		}
		if (s->len == len && memcmp(s->id, pnid, len) == 0) {
			g = &s->g;
			break;
		}
	}
	int ok = gcra_peek(g, now_ns, l->rate_tau);
	if (ok)
		gcra_commit(g, now_ns, l->rate_period);
	pthread_mutex_unlock(&l->rate_mu);
	return ok;
}

int limits_pair_ok(const struct limits *l, const struct recip_entry *e, uint64_t now_ns)
{
	if (l->pair_period == 0)
		return 1;
	struct gcra g = {e->pair_tat};
	return gcra_peek(&g, now_ns, l->pair_tau);
}

void limits_pair_commit(const struct limits *l, struct recip_entry *e, uint64_t now_ns)
{
	if (l->pair_period == 0)
		return;
	struct gcra g = {e->pair_tat};
	gcra_commit(&g, now_ns, l->pair_period);
	e->pair_tat = g.tat;
}

/* Drop window entries that expired by now. Caller holds tier_mu. */
static void tier_expire(struct limits *l, uint64_t now_ns)
{
	while (l->count > 0) {
		uint64_t t = l->fifo[l->head];
		if (t > now_ns || now_ns - t < l->c.tier_window_ns)
			break;
		l->head = (l->head + 1) % l->c.tier;
		l->count--;
	}
}

int limits_tier_admit(struct limits *l, struct recip_entry *e, uint64_t now_ns)
{
	if (l->c.tier == 0)
		return 1;
	if (e->tier_enter &&
	    (e->tier_enter > now_ns || now_ns - e->tier_enter < l->c.tier_window_ns))
		return 1;
	pthread_mutex_lock(&l->tier_mu);
	tier_expire(l, now_ns);
	int ok = l->count < l->c.tier;
	if (ok) {
		/* Times are pushed in order under the lock; a caller whose clock
		 * read is a little older than the last pushed time is clamped so
		 * the FIFO stays sorted. */
		uint64_t t = now_ns ? now_ns : 1;
		if (l->count) {
			uint64_t last = l->fifo[(l->head + l->count - 1) % l->c.tier];
			if (t < last)
				t = last;
		}
		l->fifo[(l->head + l->count) % l->c.tier] = t;
		l->count++;
		e->tier_enter = t;
	}
	pthread_mutex_unlock(&l->tier_mu);
	return ok;
}

uint64_t limits_tier_used(struct limits *l, uint64_t now_ns)
{
	if (l->c.tier == 0)
		return 0;
	pthread_mutex_lock(&l->tier_mu);
	tier_expire(l, now_ns);
	uint64_t n = l->count;
	pthread_mutex_unlock(&l->tier_mu);
	return n;
}
