/*
 * subidx.h - the in-memory index: an open-addressing hash table (linear
 * probing) from packed number to state, time and record ordinal, 16 bytes
 * per slot kept in two parallel arrays: the "hot" word w0 (number, state,
 * high bits of the time) that every lookup reads, and the "cold" word w1
 * (low bits of the time, record ordinal) read only when a caller wants
 * them. The packing of the two words is the hint file's (format.h,
 * FORMAT.md); the hint stores them interleaved, w0 then w1 per slot.
 *
 * Why split: a point lookup ("is this number still confirmed?") touches
 * only w0, so the memory it probes is half the table (8 bytes per slot):
 * for a million subscribers 13 MB instead of 26 MB, which stays in the last
 * level cache where the interleaved table did not. Measured: 1.7-2x more
 * lookups per second (bench/RESULTS.md).
 *
 * The struct is visible so that the store can embed it; its fields are
 * private to subidx.c, hint.c, compact.c and verify.c. Not thread-safe:
 * the store locks.
 */
#ifndef STORE_SUBIDX_H
#define STORE_SUBIDX_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct subidx {
	uint64_t *hot;     /* cap words w0; 0 = empty slot */
	uint64_t *cold;    /* cap words w1 (0 in an empty slot) */
	uint64_t cap;      /* number of slots (any size: fastrange reduction) */
	uint64_t n;        /* occupied slots */
	uint64_t grow_at;  /* grow before n exceeds this (load 0.8) */
};

#define SUBIDX_NUM_MASK ((1ull << FMT_NUM_BITS) - 1)
#define SUBIDX_MAX_ORD ((1ull << FMT_ORD_BITS) - 1)
#define SUBIDX_NONE UINT64_MAX   /* "no slot" from subidx_find */

static inline uint64_t subidx_w0(uint64_t number, unsigned state, uint64_t t_ms)
{
	return number | (uint64_t)state << FMT_STATE_SHIFT |
	       (t_ms >> FMT_TMSLO_BITS) << FMT_TMSHI_SHIFT;
}
static inline uint64_t subidx_w1(uint64_t t_ms, uint64_t ord)
{
	return (t_ms & ((1ull << FMT_TMSLO_BITS) - 1)) | ord << FMT_ORD_SHIFT;
}

/* The fields of a slot's words. */
static inline uint64_t subidx_w0_number(uint64_t w0) { return w0 & SUBIDX_NUM_MASK; }
static inline unsigned subidx_w0_state(uint64_t w0)
{
	return (unsigned)(w0 >> FMT_STATE_SHIFT) & ((1u << FMT_STATE_BITS) - 1);
}
static inline uint64_t subidx_w_tms(uint64_t w0, uint64_t w1)
{
	return (w0 >> FMT_TMSHI_SHIFT) << FMT_TMSLO_BITS | (w1 & ((1ull << FMT_TMSLO_BITS) - 1));
}
static inline uint64_t subidx_w1_ord(uint64_t w1) { return w1 >> FMT_ORD_SHIFT; }
/* w1 with its ordinal replaced (compaction renumbers records). */
static inline uint64_t subidx_w1_with_ord(uint64_t w1, uint64_t ord)
{
	return (w1 & ((1ull << FMT_ORD_SHIFT) - 1)) | ord << FMT_ORD_SHIFT;
}

/* The same on a slot as the hint stores it: slot[0] = w0, slot[1] = w1. */
static inline uint64_t subidx_number(const uint64_t *slot) { return subidx_w0_number(slot[0]); }
static inline unsigned subidx_state(const uint64_t *slot) { return subidx_w0_state(slot[0]); }
static inline uint64_t subidx_tms(const uint64_t *slot) { return subidx_w_tms(slot[0], slot[1]); }
static inline uint64_t subidx_ord(const uint64_t *slot) { return subidx_w1_ord(slot[1]); }

/* subidx_home - the first slot probed for number in a table of cap slots. */
uint64_t subidx_home(uint64_t number, uint64_t cap);

/*
 * subidx_init - an empty index with room for about expect entries.
 * Returns 0 or BND_E_NOMEM. subidx_free releases it (safe on a zeroed or
 * freed struct).
 */
int subidx_init(struct subidx *x, uint64_t expect);
void subidx_free(struct subidx *x);

/*
 * subidx_alloc - an empty index of exactly cap slots (cap >= 64), for a
 * caller that fills it with subidx_place or by writing the arrays (the
 * hint loader; it then sets n). Returns 0 or BND_E_NOMEM.
 */
int subidx_alloc(struct subidx *x, uint64_t cap);

/* subidx_cap_for - the capacity subidx_init(expect) would choose. */
uint64_t subidx_cap_for(uint64_t expect);

/* subidx_find - the slot index of number, or SUBIDX_NONE. Valid until the
 * next subidx_put. */
uint64_t subidx_find(const struct subidx *x, uint64_t number);

/* subidx_find_from - the same when the caller has computed number's home
 * slot (subidx_home(number, x->cap)), e.g. to prefetch the cold word of
 * the home slot while the hot one is probed. */
uint64_t subidx_find_from(const struct subidx *x, uint64_t number, uint64_t home);

/*
 * subidx_put - set number's entry (insert or overwrite); *old_state (may be
 * NULL) gets the previous state, 0 when new. May grow the table.
 * Returns 0 or BND_E_NOMEM (then nothing changed).
 */
int subidx_put(struct subidx *x, uint64_t number, unsigned state, uint64_t t_ms,
               uint64_t ord, unsigned *old_state);

/*
 * subidx_place - insert an entry (its words) whose number is not in the
 * table, into a table with room (n < grow_at): never grows, never fails.
 * Inserting in the order of another table's slots (the same hash order)
 * walks this one nearly sequentially.
 */
void subidx_place(struct subidx *x, uint64_t w0, uint64_t w1);

/* subidx_reserve - grow now so that n entries fit without growing.
 * 0 or BND_E_NOMEM. */
int subidx_reserve(struct subidx *x, uint64_t n);

/* subidx_grow_at - the entry count a table of cap slots holds before it
 * grows. */
uint64_t subidx_grow_at(uint64_t cap);

/* subidx_advise - ask for transparent huge pages on a big table (fewer TLB
 * misses on random lookups); a no-op where unsupported. */
void subidx_advise(void *p, size_t n);

/*
 * subidx_prefetch - start loading number's home slot (its hot word) into
 * the cache; used by batched lookups so that the cache misses of several
 * numbers overlap.
 */
static inline void subidx_prefetch(const struct subidx *x, uint64_t number)
{
	__builtin_prefetch(x->hot + subidx_home(number, x->cap));
}

/* subidx_bytes - heap bytes held by the table (both arrays). */
static inline uint64_t subidx_bytes(const struct subidx *x) { return x->cap * FMT_SLOT_BYTES; }

#endif
