/*
 * subidx.c - the open-addressing index of the subscriber store.
 *
 * Why this shape: lookups are the hot path of fan-out (is this number still
 * confirmed?) and the whole table must stay small (target <= 32 bytes per
 * subscriber). A slot packs number, state, 42-bit time and a 33-bit record
 * ordinal into 16 bytes (format.h), as two words in two arrays: hot (w0:
 * number, state, high time bits; all a lookup probes) and cold (w1: low
 * time bits, ordinal). Empty slots are all-zero because 0 is never a valid
 * number. The capacity is not a power of two: the home slot
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
	/* The number as 8 little-endian bytes. On a little-endian host that is
	 * its memory image: one 8-byte store, which the hash's two 4-byte
	 * loads read back through store forwarding (eight byte stores cannot
	 * be forwarded to a wider load and cost a stall on every call). */
	uint8_t k[8];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(k, &number, sizeof k);
#else
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(number >> (8 * i));
#endif
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

/* calloc of a big block is fresh zeroed mmap memory: advising before the
 * first touch lets the page faults hand out huge pages. */
static int alloc_arrays(uint64_t cap, uint64_t **hot, uint64_t **cold)
{
	*hot = bnd_calloc(cap, sizeof(uint64_t));
	*cold = bnd_calloc(cap, sizeof(uint64_t));
	if (!*hot || !*cold) {
		bnd_free(*hot);
		bnd_free(*cold);
		*hot = *cold = NULL;
		return BND_E_NOMEM;
	}
	subidx_advise(*hot, (size_t)(cap * sizeof(uint64_t)));
	subidx_advise(*cold, (size_t)(cap * sizeof(uint64_t)));
	return 0;
}

int subidx_alloc(struct subidx *x, uint64_t cap)
{
	memset(x, 0, sizeof *x);
	int rc = alloc_arrays(cap, &x->hot, &x->cold);
	if (rc)
		return rc;
	x->cap = cap;
	x->grow_at = subidx_grow_at(cap);
	return 0;
}

void subidx_place(struct subidx *x, uint64_t w0, uint64_t w1)
{
	uint64_t j = subidx_home(subidx_w0_number(w0), x->cap);
	while (x->hot[j]) {
		if (++j == x->cap)
			j = 0;
	}
	x->hot[j] = w0;
	x->cold[j] = w1;
	x->n++;
}

/* Move every entry into a new table of cap slots. Walking the old slots in
 * order visits the numbers in nearly ascending hash order, so the new
 * table is written nearly sequentially too (fastrange keeps the order). */
static int rehash(struct subidx *x, uint64_t cap)
{
	struct subidx nx;
	int rc = subidx_alloc(&nx, cap);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < x->cap; i++) {
		if (x->hot[i])
			subidx_place(&nx, x->hot[i], x->cold[i]);
	}
	subidx_free(x);
	*x = nx;
	return 0;
}

uint64_t subidx_cap_for(uint64_t expect)
{
	uint64_t cap = 64;
	while (subidx_grow_at(cap) < expect)
		cap += cap / 2;
	return cap;
}

int subidx_init(struct subidx *x, uint64_t expect)
{
	return subidx_alloc(x, subidx_cap_for(expect));
}

void subidx_free(struct subidx *x)
{
	bnd_free(x->hot);
	bnd_free(x->cold);
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

uint64_t subidx_find(const struct subidx *x, uint64_t number)
{
	return x->cap ? subidx_find_from(x, number, subidx_home(number, x->cap)) : SUBIDX_NONE;
}

uint64_t subidx_find_from(const struct subidx *x, uint64_t number, uint64_t home)
{
	uint64_t j = home;
	for (;;) {
		uint64_t w = x->hot[j];
		if (!w)
			return SUBIDX_NONE;
		if (subidx_w0_number(w) == number)
			return j;
		if (++j == x->cap)
			j = 0;
	}
}

int subidx_put(struct subidx *x, uint64_t number, unsigned state, uint64_t t_ms,
               uint64_t ord, unsigned *old_state)
{
	uint64_t j = subidx_home(number, x->cap);
	/* The cold word is written too: fetch its line alongside the hot
	 * probe so that the two misses overlap. */
	__builtin_prefetch(x->cold + j, 1);
	for (;;) {
		uint64_t w = x->hot[j];
		if (!w)
			break;
		if (subidx_w0_number(w) == number) {
			if (old_state)
				*old_state = subidx_w0_state(w);
			x->hot[j] = subidx_w0(number, state, t_ms);
			x->cold[j] = subidx_w1(t_ms, ord);
			return 0;
		}
		if (++j == x->cap)
			j = 0;
	}
	uint64_t w0 = subidx_w0(number, state, t_ms), w1 = subidx_w1(t_ms, ord);
	if (x->n + 1 > x->grow_at) {
		int rc = subidx_reserve(x, x->n + 1);
		if (rc)
			return rc;
		subidx_place(x, w0, w1);   /* the table moved */
	} else {
		x->hot[j] = w0;
		x->cold[j] = w1;
		x->n++;
	}
	if (old_state)
		*old_state = 0;
	return 0;
}
