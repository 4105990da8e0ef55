/*
 * subidx.h - the in-memory index: an open-addressing hash table (linear
 * probing) from packed number to state, time and record ordinal, 16 bytes
 * per slot. The slot packing is also the hint file's (format.h, FORMAT.md).
 *
 * The struct is visible so that the store can embed it; its fields are
 * private to subidx.c and hint.c. Not thread-safe: the store locks.
 */
#ifndef STORE_SUBIDX_H
#define STORE_SUBIDX_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct subidx {
	uint64_t *slots;   /* 2 * cap words; slot i is slots[2i], slots[2i+1] */
	uint64_t cap;      /* number of slots (any size: fastrange reduction) */
	uint64_t n;        /* occupied slots */
	uint64_t grow_at;  /* grow before n exceeds this (load 0.8) */
};

#define SUBIDX_NUM_MASK ((1ull << FMT_NUM_BITS) - 1)
#define SUBIDX_MAX_ORD ((1ull << FMT_ORD_BITS) - 1)

static inline uint64_t subidx_w0(uint64_t number, unsigned state, uint64_t t_ms)
{
	return number | (uint64_t)state << FMT_STATE_SHIFT |
	       (t_ms >> FMT_TMSLO_BITS) << FMT_TMSHI_SHIFT;
}
static inline uint64_t subidx_w1(uint64_t t_ms, uint64_t ord)
{
	return (t_ms & ((1ull << FMT_TMSLO_BITS) - 1)) | ord << FMT_ORD_SHIFT;
}
static inline uint64_t subidx_number(const uint64_t *slot) { return slot[0] & SUBIDX_NUM_MASK; }
static inline unsigned subidx_state(const uint64_t *slot)
{
	return (unsigned)(slot[0] >> FMT_STATE_SHIFT) & ((1u << FMT_STATE_BITS) - 1);
}
static inline uint64_t subidx_tms(const uint64_t *slot)
{
	return (slot[0] >> FMT_TMSHI_SHIFT) << FMT_TMSLO_BITS |
	       (slot[1] & ((1ull << FMT_TMSLO_BITS) - 1));
}
static inline uint64_t subidx_ord(const uint64_t *slot) { return slot[1] >> FMT_ORD_SHIFT; }

/* subidx_home - the first slot probed for number in a table of cap slots. */
uint64_t subidx_home(uint64_t number, uint64_t cap);

/*
 * subidx_init - an empty index with room for about expect entries.
 * Returns 0 or BND_E_NOMEM. subidx_free releases it (safe on a zeroed or
 * freed struct).
 */
int subidx_init(struct subidx *x, uint64_t expect);
void subidx_free(struct subidx *x);

/* subidx_find - the slot of number (2 words), or NULL. Valid until the
 * next subidx_put. */
uint64_t *subidx_find(const struct subidx *x, uint64_t number);

/*
 * subidx_put - set number's entry (insert or overwrite); *old_state (may be
 * NULL) gets the previous state, 0 when new. May grow the table.
 * Returns 0 or BND_E_NOMEM (then nothing changed).
 */
int subidx_put(struct subidx *x, uint64_t number, unsigned state, uint64_t t_ms,
               uint64_t ord, unsigned *old_state);

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
 * subidx_prefetch - start loading number's home slot into the cache; used
 * by batched lookups so that the cache misses of several numbers overlap.
 */
static inline void subidx_prefetch(const struct subidx *x, uint64_t number)
{
	__builtin_prefetch(x->slots + 2 * subidx_home(number, x->cap));
}

/* subidx_bytes - heap bytes held by the table. */
static inline uint64_t subidx_bytes(const struct subidx *x) { return x->cap * FMT_SLOT_BYTES; }

#endif
