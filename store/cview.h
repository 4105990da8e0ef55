/*
 * cview.h - the confirmed view: the numbers of every confirmed subscriber
 * in ascending order, kept up to date as states change, so that the
 * ordered snapshot fan-out takes (store_confirmed_snapshot) is a merge of
 * a small change list into a sorted array and a copy, not a sort of the
 * whole base.
 *
 * Shape: `base` is sorted and was exact at the last merge; `delta` lists
 * the membership changes since, in the order they happened (number and
 * whether it is confirmed now). A snapshot sorts the delta (stable, so the
 * last change of a number wins), merges it into the base, keeps the result
 * as the new base and hands out a copy. A number confirmed above the
 * largest in the base while the delta is empty is appended to the base
 * directly (an import of ascending numbers costs no delta).
 *
 * It is a cache of what the index says: it may be dropped at any time
 * (when the delta outgrows its bound, or memory for it cannot be had) and
 * is rebuilt from the index by the next snapshot. So noting a change never
 * fails.
 *
 * The struct is embedded in struct store; its fields are private to
 * cview.c. Not thread-safe: the store locks.
 */
#ifndef STORE_CVIEW_H
#define STORE_CVIEW_H

#include <stddef.h>
#include <stdint.h>

struct cview {
	uint64_t *base;    /* ascending, distinct */
	size_t nbase, base_cap;
	uint64_t *delta;   /* number << 1 | (1 if confirmed now), in time order */
	size_t ndelta, delta_cap;
	int valid;         /* 0: not built (or dropped): nothing is kept */
};

/* cview_drop - forget everything (valid = 0). Safe on a zeroed struct. */
void cview_drop(struct cview *v);

/*
 * cview_note - number became confirmed (in = 1) or stopped being confirmed
 * (in = 0). A no-op on a view that is not valid. Never fails: when the
 * change cannot be kept (no memory, or more than max(65536, base/2)
 * pending changes) the view is dropped.
 */
void cview_note(struct cview *v, uint64_t number, int in);

/*
 * cview_build - make the view valid from the n distinct numbers in a (any
 * order; a was allocated with bnd_malloc for cap >= n words, and the view
 * takes it over, on failure too). Returns 0 or BND_E_NOMEM (then the view
 * is not valid).
 */
int cview_build(struct cview *v, uint64_t *a, size_t n, size_t cap);

/*
 * cview_adopt - make the view valid from a, n numbers already ascending
 * and distinct (the caller checked: the hint's stored view, hint.c),
 * allocated with bnd_malloc for cap >= n words; the view takes it over.
 * No sort. Never fails.
 */
void cview_adopt(struct cview *v, uint64_t *a, size_t n, size_t cap);

/*
 * cview_snapshot - fold the pending changes into the base and return a
 * copy of it: *out (bnd_malloc, the caller frees it with bnd_free) holds
 * *n ascending numbers. The view must be valid. Returns 0 or BND_E_NOMEM
 * (then the view is dropped and *out is NULL).
 */
int cview_snapshot(struct cview *v, uint64_t **out, size_t *n);

/*
 * cview_fold - fold the pending changes into the base, so that v->base[0 ..
 * v->nbase) is the exact ascending set (what store_confirmed_stream hands
 * out without a copy). The view must be valid. Returns 0 or BND_E_NOMEM
 * (then the view is dropped).
 */
int cview_fold(struct cview *v);

/* cview_bytes - heap bytes held. */
static inline uint64_t cview_bytes(const struct cview *v)
{
	return (uint64_t)(v->base_cap + v->delta_cap) * sizeof(uint64_t);
}

/*
 * cview_sort - sort n numbers (< 2^50) ascending with an LSD radix sort;
 * tmp is scratch of n words. Returns the array holding the result (a or
 * tmp). Stable on (x >> shift) for a list of tagged words when shift is 1.
 */
uint64_t *cview_sort(uint64_t *a, uint64_t *tmp, size_t n, unsigned shift);

#endif
