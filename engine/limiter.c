/*
 * limiter.c - GCRA rate limiting with adaptive decrease and recovery, pair
 * spacing, retry backoff, tier budget. See limiter.h for the policy.
 *
 * GCRA (generic cell rate algorithm): one number per limiter, the
 * theoretical arrival time TAT. A message conforms at `now` when
 * now >= TAT - tau; sending it sets TAT = max(TAT, now) + T. With T the
 * emission interval (1e12 / rate in milli-msg/s) and tau = (burst - 1) * T
 * this is a token bucket of `burst` tokens refilled at `rate`. Everything is
 * integer nanoseconds: no drift however long it runs (at 80/s T is exactly
 * 12,500,000 ns; where 1e12 / rate is not whole the truncation makes the
 * rate higher by under 1 ns per interval, i.e. < 1e-6 relative).
 * limiter_next_ns is TAT - tau, which the loop folds into its wait.
 *
 * Adaptation: the rate is a function of time while recovering, recomputed
 * by refresh() on every call (a handful of integer operations):
 *   t < K:  rate = wmax - (wmax - wmin) * ((K - t) / K)^3     (concave up to wmax)
 *   t >= K: rate = wmax + probe * (t - K) / 1 s, capped at the configured rate
 * with t the time since the pause ended, K = LIMITER_RECOVER_NS and
 * (K - t)/K in Q20 fixed point.
 */
#include "limiter.h"

#include <stddef.h>

#include "bnd.h"

#define MILLI_NS 1000000000000ull  /* ns per message at 1 milli-msg/s */
#define Q 20

static void set_rate(struct limiter *l, uint64_t milli)
{
	l->rate_milli = milli;
	if (!milli) {
		l->interval = 0;
		l->tau = 0;
		return;
	}
	l->interval = MILLI_NS / milli;
	if (!l->interval)
		l->interval = 1;
	l->tau = (uint64_t)(l->burst - 1) * l->interval;
}

void limiter_init(struct limiter *l, uint32_t rate_per_s, uint32_t burst, uint64_t now_ns)
{
	*l = (struct limiter){0};
	l->burst = burst ? burst : 1;
	l->cfg_milli = (uint64_t)rate_per_s * 1000u;
	l->tat = now_ns;
	set_rate(l, l->cfg_milli);
}

static uint64_t floor_milli(const struct limiter *l)
{
	return l->cfg_milli < LIMITER_FLOOR_MILLI ? l->cfg_milli : LIMITER_FLOOR_MILLI;
}

static void refresh(struct limiter *l, uint64_t now)
{
	if (!l->recovering || now <= l->epoch)
		return;
	uint64_t t = now - l->epoch, r;
	if (t < LIMITER_RECOVER_NS) {
		uint64_t f = ((LIMITER_RECOVER_NS - t) << Q) / LIMITER_RECOVER_NS;
		uint64_t f3 = (((f * f) >> Q) * f) >> Q;
		r = l->wmax_milli - (((l->wmax_milli - l->wmin_milli) * f3) >> Q);
	} else {
		uint64_t probe = l->cfg_milli * LIMITER_PROBE_PCT / 100u;
		if (probe < LIMITER_FLOOR_MILLI)
			probe = LIMITER_FLOOR_MILLI;
		uint64_t above = t - LIMITER_RECOVER_NS;
		/* probe * above / 1 s without overflow: split whole seconds. */
		uint64_t add = probe * (above / LIMITER_NS_PER_S) +
		               probe * (above % LIMITER_NS_PER_S) / LIMITER_NS_PER_S;
		r = l->wmax_milli + add;
	}
	if (r >= l->cfg_milli) {
		r = l->cfg_milli;
		l->recovering = 0;
	}
	if (r != l->rate_milli)
		set_rate(l, r);
}

void limiter_set_rate(struct limiter *l, uint32_t rate_per_s, uint32_t burst, uint64_t now_ns)
{
	uint64_t cfg = (uint64_t)rate_per_s * 1000u;
	refresh(l, now_ns);
	l->burst = burst ? burst : 1;
	l->cfg_milli = cfg;
	if (!cfg) {
		l->recovering = 0;
		set_rate(l, 0);
		return;
	}
	if (l->recovering) {
		/* Keep climbing, now towards the new rate. */
		if (l->wmax_milli > cfg)
			l->wmax_milli = cfg;
		if (l->wmin_milli > cfg)
			l->wmin_milli = cfg;
		if (l->rate_milli > cfg) {
			l->recovering = 0;
			set_rate(l, cfg);
		} else {
			set_rate(l, l->rate_milli);  /* burst may have changed */
		}
		return;
	}
	set_rate(l, cfg);
}

int limiter_take(struct limiter *l, uint64_t now_ns)
{
	if (now_ns < l->pause_until)
		return 0;
	if (!l->interval)
		return 1;
	refresh(l, now_ns);
	uint64_t tat = l->tat > now_ns ? l->tat : now_ns;
	if (tat - now_ns > l->tau)
		return 0;
	l->tat = tat + l->interval;
	return 1;
}

uint64_t limiter_next_ns(struct limiter *l, uint64_t now_ns)
{
	uint64_t t = now_ns;
	if (l->pause_until > t)
		t = l->pause_until;
	if (!l->interval)
		return t;
	refresh(l, now_ns);
	if (l->tat > l->tau && l->tat - l->tau > t)
		t = l->tat - l->tau;
	return t;
}

uint64_t limiter_ahead_ns(struct limiter *l, uint32_t n, uint64_t now_ns)
{
	uint64_t t0 = limiter_next_ns(l, now_ns);
	if (!l->interval || !n)
		return t0;
	/* Take k goes at t_k = max(t0, max(TAT, t0) + k T - tau). n <= 2^32 and
	 * T <= 1e12 ns: n T < 2^72 could overflow, so saturate. */
	uint64_t base = l->tat > t0 ? l->tat : t0;
	if (l->interval > (UINT64_MAX - base) / n)
		return UINT64_MAX;
	uint64_t t = base + (uint64_t)n * l->interval;
	t = t > l->tau ? t - l->tau : 0;
	return t > t0 ? t : t0;
}

void limiter_throttled(struct limiter *l, uint64_t now_ns, uint64_t sent_ns,
                       uint64_t retry_after_ns)
{
	l->throttles++;
	if (retry_after_ns > LIMITER_RETRY_AFTER_MAX_NS)
		retry_after_ns = LIMITER_RETRY_AFTER_MAX_NS;
	uint64_t pause = retry_after_ns ? retry_after_ns : LIMITER_PAUSE_NS;
	int cut = l->cfg_milli && (l->last_cut == 0 || sent_ns >= l->last_cut);
	/* A throttle for a request that left before the last cut says nothing
	 * about the new rate; it only honours its own Retry-After. */
	if (!cut && !retry_after_ns)
		return;
	if (now_ns + pause > l->pause_until)
		l->pause_until = now_ns + pause;
	if (!cut)
		return;
	refresh(l, now_ns);
	uint64_t w = l->rate_milli;
	uint64_t lo = w * LIMITER_BETA_NUM / LIMITER_BETA_DEN;
	if (lo < floor_milli(l))
		lo = floor_milli(l);
	l->wmax_milli = w;
	l->wmin_milli = lo;
	l->epoch = l->pause_until;
	l->last_cut = now_ns;
	l->recovering = 1;
	l->cuts++;
	set_rate(l, lo);
	/* No burst credit right after a throttle: the first send is at the
	 * end of the pause, the next ones T apart. */
	uint64_t tat = l->pause_until + l->tau;
	if (l->tat < tat)
		l->tat = tat;
}

uint64_t limiter_rate_milli(struct limiter *l, uint64_t now_ns)
{
	refresh(l, now_ns);
	return l->rate_milli;
}

/* ------------------------------------------------------------ pair rate */

struct pair_entry {
	uint64_t number;   /* 0 = empty (0 is never a valid number) */
	uint64_t next_ns;  /* no message before this */
	uint64_t hit_ns;   /* last 131056, for forgetting X */
	uint32_t hits;     /* consecutive 131056s */
};

struct limiter_pair {
	struct pair_entry *e;
	uint32_t mask;
	uint64_t gap_ns;
};

int limiter_pair_open(struct limiter_pair **out, uint32_t capacity, uint64_t gap_ns)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (capacity > (1u << 24))
		return BND_E_INVAL;
	uint32_t n = 64;
	while (n < capacity)
		n *= 2;
	struct limiter_pair *p = bnd_calloc(1, sizeof *p);
	if (!p)
		return BND_E_NOMEM;
	p->e = bnd_calloc(n, sizeof *p->e);
	if (!p->e) {
		bnd_free(p);
		return BND_E_NOMEM;
	}
	p->mask = n - 1;
	p->gap_ns = gap_ns;
	*out = p;
	return 0;
}

void limiter_pair_close(struct limiter_pair **pp)
{
	if (!pp || !*pp)
		return;
	bnd_free((*pp)->e);
	bnd_free(*pp);
	*pp = NULL;
}

static uint32_t pair_hash(uint64_t n)
{
	/* Fibonacci hashing: numbers are dense in ranges, this spreads them. */
	return (uint32_t)((n * 0x9E3779B97F4A7C15ull) >> 32);
}

static int entry_expired(const struct pair_entry *e, uint64_t now)
{
	if (e->next_ns > now)
		return 0;
	return e->hits == 0 || now - e->hit_ns >= LIMITER_PAIR_FORGET_NS;
}

/* find - the entry of number; with create, a free, expired or the least
 * valuable entry of the probe window, reset for number. NULL if absent.
 * A live entry replaced loses its gap: remembering evicted times per home
 * slot instead (tried) delays every new number sharing the slot, which at
 * an unlimited fan-out rate (50,000/s against a 16,384-slot table) cut the
 * rate 2.6x; the sender sizes the table for rate x gap instead. */
static struct pair_entry *find(struct limiter_pair *p, uint64_t number, uint64_t now, int create)
{
	uint32_t h = pair_hash(number);
	struct pair_entry *victim = NULL;
	for (uint32_t i = 0; i < LIMITER_PAIR_PROBE; i++) {
		struct pair_entry *e = &p->e[(h + i) & p->mask];
		if (e->number == number)
			return e;
		if (!create)
			continue;
		if (!e->number || entry_expired(e, now)) {
			if (!victim || victim->number)
				victim = e;
		} else if (!victim || (victim->number && e->next_ns < victim->next_ns)) {
			victim = e;
		}
	}
	if (!create)
		return NULL;
	*victim = (struct pair_entry){ .number = number };
	return victim;
}

uint64_t limiter_pair_next_ns(struct limiter_pair *p, uint64_t number, uint64_t now_ns)
{
	struct pair_entry *e = find(p, number, now_ns, 0);
	return e && e->next_ns > now_ns ? e->next_ns : now_ns;
}

void limiter_pair_sent(struct limiter_pair *p, uint64_t number, uint64_t now_ns)
{
	if (!p->gap_ns) {
		struct pair_entry *e = find(p, number, now_ns, 0);
		if (e)
			e->hits = 0;
		return;
	}
	struct pair_entry *e = find(p, number, now_ns, 1);
	e->hits = 0;
	if (e->next_ns < now_ns + p->gap_ns)
		e->next_ns = now_ns + p->gap_ns;
}

uint64_t limiter_pair_throttled(struct limiter_pair *p, uint64_t number, uint64_t now_ns)
{
	struct pair_entry *e = find(p, number, now_ns, 1);
	if (e->hits && now_ns - e->hit_ns >= LIMITER_PAIR_FORGET_NS)
		e->hits = 0;
	uint32_t x = e->hits < LIMITER_PAIR_BACKOFF_MAX_X ? e->hits : LIMITER_PAIR_BACKOFF_MAX_X;
	uint64_t wait = LIMITER_NS_PER_S << (2 * x);  /* 4^x s */
	e->hits++;
	e->hit_ns = now_ns;
	if (e->next_ns < now_ns + wait)
		e->next_ns = now_ns + wait;
	return wait;
}

/* ------------------------------------------------------ backoff with jitter */

void limiter_rng_seed(struct limiter_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t limiter_rng_next(struct limiter_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t limiter_backoff_ns(unsigned attempt, uint64_t base_ns, uint64_t cap_ns,
                            struct limiter_rng *r)
{
	uint64_t d = base_ns;
	for (unsigned i = 0; i < attempt && d < cap_ns; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	if (d > cap_ns)
		d = cap_ns;
	uint64_t half = d / 2;
	return half + limiter_rng_next(r) % (d - half + 1);
}

/* ------------------------------------------------------ messaging-limit tier */

int limiter_tier_check(uint64_t tier, uint64_t unique_24h, uint64_t audience,
                       uint64_t *room_out)
{
	uint64_t room = !tier ? UINT64_MAX : (unique_24h >= tier ? 0 : tier - unique_24h);
	if (room_out)
		*room_out = room;
	return audience > room ? BND_E_LIM_TIER : 0;
}

uint64_t limiter_tier_next(uint64_t tier)
{
	static const uint64_t tiers[] = { 250, 2000, 10000, 100000 };
	if (!tier)
		return 0;
	for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++)
		if (tier < tiers[i])
			return tiers[i];
	return 0;
}
