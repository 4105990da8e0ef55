/*
 * recip.c - striped open-addressing table of recipients (see recip.h).
 *
 * 64 stripes, each a power-of-two array with linear probing, grown at 70%
 * load. The stripe is picked by the top bits of the key's hash and the slot
 * by the low bits, so the two are independent. Entries are never removed:
 * the mock lives for one test or benchmark and 10^6 numbers take 32 MB.
 *
 * The unique/repeated totals are atomics updated under the stripe lock, so
 * /mock/stats can read them without taking 64 locks.
 */
#include "recip.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bnd.h"
#include "faults.h"

#define STRIPES 64
#define INITIAL_SLOTS 1024

struct stripe {
	pthread_mutex_t mu;
	struct recip_entry *slots;
	size_t cap;      /* power of two */
	size_t used;
	char pad[64];    /* keep neighbouring stripes' locks on separate lines */
};

struct recip {
	struct stripe s[STRIPES];
	atomic_uint_fast64_t unique;
	atomic_uint_fast64_t repeated;
};

static uint64_t key_hash(uint64_t key)
{
	return faults_hash(0x5eed, key, 0);
}

int recip_open(struct recip **out)
{
	struct recip *r = bnd_calloc(1, sizeof *r);
	if (!r)
		return BND_E_NOMEM;
	int i;
	for (i = 0; i < STRIPES; i++) {
		r->s[i].slots = bnd_calloc(INITIAL_SLOTS, sizeof(struct recip_entry));
		if (!r->s[i].slots)
			goto fail;
		r->s[i].cap = INITIAL_SLOTS;
		pthread_mutex_init(&r->s[i].mu, NULL);
	}
	*out = r;
	return 0;
fail:
	while (i-- > 0) {
		bnd_free(r->s[i].slots);
		pthread_mutex_destroy(&r->s[i].mu);
	}
	bnd_free(r);
	return BND_E_NOMEM;
}

void recip_close(struct recip **p)
{
	if (!p || !*p)
		return;
	struct recip *r = *p;
	for (int i = 0; i < STRIPES; i++) {
		bnd_free(r->s[i].slots);
		pthread_mutex_destroy(&r->s[i].mu);
	}
	bnd_free(r);
	*p = NULL;
}

static struct recip_entry *probe(struct recip_entry *slots, size_t cap, uint64_t key, uint64_t h)
{
	size_t mask = cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		if (slots[i].key == key || slots[i].key == 0)
			return &slots[i];
	}
}

static int grow(struct stripe *s)
{
	size_t ncap = s->cap * 2;
	struct recip_entry *n = bnd_calloc(ncap, sizeof *n);
	if (!n)
		return BND_E_NOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slots[i].key)
			*probe(n, ncap, s->slots[i].key, key_hash(s->slots[i].key)) = s->slots[i];
	}
	bnd_free(s->slots);
	s->slots = n;
	s->cap = ncap;
	return 0;
}

struct recip_entry *recip_lock(struct recip *r, uint64_t key, unsigned *stripe)
{
	uint64_t h = key_hash(key);
	unsigned si = (unsigned)(h >> 58);  /* top 6 bits: 64 stripes */
	struct stripe *s = &r->s[si];
	pthread_mutex_lock(&s->mu);
	struct recip_entry *e = probe(s->slots, s->cap, key, h);
	if (e->key == 0) {
		if ((s->used + 1) * 10 > s->cap * 7) {
			if (grow(s) != 0) {
				pthread_mutex_unlock(&s->mu);
				return NULL;
			}
			e = probe(s->slots, s->cap, key, h);
		}
		e->key = key;
		s->used++;
	}
	*stripe = si;
	return e;
}

void recip_unlock(struct recip *r, unsigned stripe)
{
	pthread_mutex_unlock(&r->s[stripe].mu);
}

void recip_accepted(struct recip *r, struct recip_entry *e)
{
	e->accepted++;
	if (e->accepted == 1)
		atomic_fetch_add_explicit(&r->unique, 1, memory_order_relaxed);
	else if (e->accepted == 2)
		atomic_fetch_add_explicit(&r->repeated, 1, memory_order_relaxed);
}

void recip_counts(const struct recip *r, uint64_t *unique, uint64_t *repeated)
{
	*unique = atomic_load_explicit(&r->unique, memory_order_relaxed);
	*repeated = atomic_load_explicit(&r->repeated, memory_order_relaxed);
}
