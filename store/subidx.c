/*
 * subidx.c - the open-addressing index of the subscriber store.
 *
 * Why this shape: lookups are the hot path of fan-out (is this number still
 * confirmed?) and the whole table must stay small (target <= 32 bytes per
 * subscriber). A slot packs number, state, 42-bit time and a 33-bit record
 * ordinal into 16 bytes (format.h); empty slots are all-zero because 0 is
 * never a valid number. The capacity is not a power of two: the home slot
 * is (hash * cap) >> 64 ("fastrange"), so the table grows by 1.5x at a load
 * of 0.8 and stays between 0.53 and 0.8 full (20 to 30 bytes per entry),
 * where a power-of-two table would swing between 0.4 and 0.8.
 *
 * Linear probing, no deletion: entries leave the index only when compaction
 * builds a new one, so there are no tombstones.
 *
 * Invariants: n <= grow_at < cap; every occupied slot holds a distinct
 * number reachable from its home slot without crossing an empty slot.
 */
#include "subidx.h"

#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bnd.h"

uint64_t subidx_home(uint64_t number, uint64_t cap)
{
	uint8_t k[8];
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(number >> (8 * i));
	uint64_t h = XXH3_64bits_withSeed(k, 8, FMT_IDX_SEED);
	return (uint64_t)(((unsigned __int128)h * cap) >> 64);
}

uint64_t subidx_grow_at(uint64_t cap)
{
	return cap / 5 * 4 + (cap % 5) * 4 / 5;
}

void subidx_advise(void *p, size_t n)
{
	const uintptr_t huge = 2u << 20;
	uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
	if (e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

static int rehash(struct subidx *x, uint64_t cap)
{
	/* calloc of a big block is fresh zeroed mmap memory: advising before
	 * the first touch lets the page faults hand out huge pages. */
	uint64_t *ns = bnd_calloc(cap, FMT_SLOT_BYTES);
	if (!ns)
		return BND_E_NOMEM;
	subidx_advise(ns, (size_t)(cap * FMT_SLOT_BYTES));
	for (uint64_t i = 0; i < x->cap; i++) {
		const uint64_t *s = x->slots + 2 * i;
		if (!s[0])
			continue;
		uint64_t j = subidx_home(subidx_number(s), cap);
		while (ns[2 * j]) {
			if (++j == cap)
				j = 0;
		}
		ns[2 * j] = s[0];
		ns[2 * j + 1] = s[1];
	}
	bnd_free(x->slots);
	x->slots = ns;
	x->cap = cap;
	x->grow_at = subidx_grow_at(cap);
	return 0;
}

int subidx_init(struct subidx *x, uint64_t expect)
{
	memset(x, 0, sizeof *x);
	uint64_t cap = 64;
	while (subidx_grow_at(cap) < expect)
		cap += cap / 2;
	return rehash(x, cap);
}

void subidx_free(struct subidx *x)
{
	bnd_free(x->slots);
	memset(x, 0, sizeof *x);
}

int subidx_reserve(struct subidx *x, uint64_t n)
{
	if (n <= x->grow_at)
		return 0;
	uint64_t cap = x->cap;
	while (subidx_grow_at(cap) < n)
		cap += cap / 2;
	return rehash(x, cap);
}

uint64_t *subidx_find(const struct subidx *x, uint64_t number)
{
	if (!x->cap)
		return NULL;
	uint64_t j = subidx_home(number, x->cap);
	for (;;) {
		uint64_t *s = x->slots + 2 * j;
		if (!s[0])
			return NULL;
		if (subidx_number(s) == number)
			return s;
		if (++j == x->cap)
			j = 0;
	}
}

int subidx_put(struct subidx *x, uint64_t number, unsigned state, uint64_t t_ms,
               uint64_t ord, unsigned *old_state)
{
	uint64_t j = subidx_home(number, x->cap);
	uint64_t *s;
	for (;;) {
		s = x->slots + 2 * j;
		if (!s[0])
			break;
		if (subidx_number(s) == number) {
			if (old_state)
				*old_state = subidx_state(s);
			s[0] = subidx_w0(number, state, t_ms);
			s[1] = subidx_w1(t_ms, ord);
			return 0;
		}
		if (++j == x->cap)
			j = 0;
	}
	if (x->n + 1 > x->grow_at) {
		int rc = subidx_reserve(x, x->n + 1);
		if (rc)
			return rc;
		/* The table moved: find the empty slot again. */
		j = subidx_home(number, x->cap);
		while (x->slots[2 * j]) {
			if (++j == x->cap)
				j = 0;
		}
		s = x->slots + 2 * j;
	}
	s[0] = subidx_w0(number, state, t_ms);
	s[1] = subidx_w1(t_ms, ord);
	x->n++;
	if (old_state)
		*old_state = 0;
	return 0;
}
