/*
 * cview.c - the confirmed view: a sorted array of the confirmed numbers
 * plus the changes since it was last merged (cview.h).
 *
 * format: none of its own; the writer's hint stores the folded base
 * (FORMAT.md, hint.c) so that an open need not sort it again. Otherwise
 * rebuilt from the index whenever needed.
 *
 * Why: store_confirmed_snapshot used to collect the confirmed numbers from
 * the index and radix-sort them on every call (about 11 ms of CPU for
 * 900,000). Between two snapshots few numbers change, so keeping the
 * sorted result and merging the changes costs a pass over the array and a
 * sort of the changes only: a snapshot becomes about as cheap as copying
 * the array.
 *
 * Invariants (valid view): base is ascending and distinct; the confirmed
 * set is base with, for every number in delta, its LAST delta entry
 * deciding membership. ndelta <= bound(nbase).
 */
#include "cview.h"

#include <string.h>

#include "bnd.h"
#include "format.h"
#include "subidx.h"

#define DELTA_MIN_BOUND 65536u

void cview_drop(struct cview *v)
{
	bnd_free(v->base);
	bnd_free(v->delta);
	memset(v, 0, sizeof *v);
}

static size_t delta_bound(const struct cview *v)
{
	return v->nbase / 2 > DELTA_MIN_BOUND ? v->nbase / 2 : DELTA_MIN_BOUND;
}

/* Room for one more word in *p (cap *cap, len n): doubling. */
static int grow(uint64_t **p, size_t *cap, size_t n)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 1024;
	uint64_t *np = bnd_realloc(*p, nc * sizeof *np);
	if (!np)
		return BND_E_NOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

void cview_note(struct cview *v, uint64_t number, int in)
{
	if (!v->valid)
		return;
	/* Ascending confirmations with nothing pending go straight to the end
	 * of the base: an import of a sorted list keeps no delta. */
	if (in && !v->ndelta && (!v->nbase || number > v->base[v->nbase - 1])) {
		if (grow(&v->base, &v->base_cap, v->nbase)) {
			cview_drop(v);
			return;
		}
		v->base[v->nbase++] = number;
		return;
	}
	if (v->ndelta >= delta_bound(v) || grow(&v->delta, &v->delta_cap, v->ndelta)) {
		cview_drop(v);
		return;
	}
	v->delta[v->ndelta++] = number << 1 | (in ? 1u : 0u);
}

/*
 * LSD radix sort on RADIX_BITS-bit digits of (x >> shift) - lo: only as
 * many passes as hi - lo needs, so a city's numbers (one country code,
 * ~2^30 apart) sort in 4 passes, and all digit histograms are counted in
 * one read. 8-bit digits keep the 256 scatter streams inside L1/TLB
 * reach; 11-bit digits (one pass fewer) measured slower. Stable.
 */
#define RADIX_BITS 8
#define RADIX_MAX_PASSES ((FMT_NUM_BITS + RADIX_BITS - 1) / RADIX_BITS)

uint64_t *cview_sort(uint64_t *a, uint64_t *tmp, size_t n, unsigned shift)
{
	enum { B = 1 << RADIX_BITS };
	if (n < 2)
		return a;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = a[i] >> shift;
		lo = k < lo ? k : lo;
		hi = k > hi ? k : hi;
	}
	unsigned passes = 0;
	for (uint64_t r = hi - lo; r; r >>= RADIX_BITS)
		passes++;
	size_t c[RADIX_MAX_PASSES][B];   /* 2 KiB per pass, on the stack */
	memset(c, 0, sizeof c);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = (a[i] >> shift) - lo;
		for (unsigned p = 0; p < passes; p++)
			c[p][(k >> (p * RADIX_BITS)) & (B - 1)]++;
	}
	for (unsigned p = 0; p < passes; p++) {
		size_t sum = 0;
		for (size_t d = 0; d < B; d++) {
			size_t x = c[p][d];
			c[p][d] = sum;
			sum += x;
		}
		unsigned sh = p * RADIX_BITS;
		for (size_t i = 0; i < n; i++)
			tmp[c[p][(((a[i] >> shift) - lo) >> sh) & (B - 1)]++] = a[i];
		uint64_t *t = a;
		a = tmp;
		tmp = t;
	}
	return a;
}

int cview_build(struct cview *v, uint64_t *a, size_t n, size_t cap)
{
	cview_drop(v);
	uint64_t *tmp = bnd_malloc((n ? n : 1) * sizeof *tmp);
	if (!tmp) {
		bnd_free(a);
		return BND_E_NOMEM;
	}
	subidx_advise(tmp, n * sizeof *tmp);
	uint64_t *r = cview_sort(a, tmp, n, 0);
	if (r == a) {
		bnd_free(tmp);
	} else {
		bnd_free(a);
		cap = n ? n : 1;
	}
	v->base = r;
	v->nbase = n;
	v->base_cap = cap;
	v->valid = 1;
	return 0;
}

void cview_adopt(struct cview *v, uint64_t *a, size_t n, size_t cap)
{
	cview_drop(v);
	v->base = a;
	v->nbase = n;
	v->base_cap = cap;
	v->valid = 1;
}

/* Fold the delta into the base: the merged set goes to out (room for
 * nbase + ndelta), returns its length. */
static size_t merge(const struct cview *v, const uint64_t *d, uint64_t *out)
{
	const uint64_t *b = v->base;
	size_t nb = v->nbase, nd = v->ndelta, i = 0, j = 0, k = 0;
	while (j < nd) {
		uint64_t x = d[j] >> 1;
		while (j + 1 < nd && d[j + 1] >> 1 == x)
			j++;   /* the last change of x decides */
		int in = (int)(d[j] & 1);
		j++;
		while (i < nb && b[i] < x)
			out[k++] = b[i++];
		if (i < nb && b[i] == x)
			i++;
		if (in)
			out[k++] = x;
	}
	if (i < nb) {
		memcpy(out + k, b + i, (nb - i) * sizeof *out);
		k += nb - i;
	}
	return k;
}

int cview_snapshot(struct cview *v, uint64_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t room = v->nbase + v->ndelta;
	uint64_t *r = bnd_malloc((room ? room : 1) * sizeof *r);
	if (!r) {
		cview_drop(v);
		return BND_E_NOMEM;
	}
	subidx_advise(r, room * sizeof *r);
	size_t k = v->nbase;
	if (!v->ndelta) {
		memcpy(r, v->base, k * sizeof *r);
	} else {
		uint64_t *tmp = bnd_malloc(v->ndelta * sizeof *tmp);
		if (!tmp) {
			bnd_free(r);
			cview_drop(v);
			return BND_E_NOMEM;
		}
		uint64_t *d = cview_sort(v->delta, tmp, v->ndelta, 1);
		k = merge(v, d, r);
		bnd_free(tmp);
		/* The merged set is the new base (it fits: only growth reallocs). */
		if (k > v->base_cap) {
			uint64_t *nb = bnd_realloc(v->base, k * sizeof *nb);
			if (!nb) {
				bnd_free(r);
				cview_drop(v);
				return BND_E_NOMEM;
			}
			v->base = nb;
			v->base_cap = k;
		}
		memcpy(v->base, r, k * sizeof *r);
		v->nbase = k;
		v->ndelta = 0;
	}
	*out = r;
	*n = k;
	return 0;
}

int cview_fold(struct cview *v)
{
	if (!v->ndelta)
		return 0;
	size_t room = v->nbase + v->ndelta;
	uint64_t *r = bnd_malloc(room * sizeof *r);
	uint64_t *tmp = r ? bnd_malloc(v->ndelta * sizeof *tmp) : NULL;
	if (!tmp) {
		bnd_free(r);
		cview_drop(v);
		return BND_E_NOMEM;
	}
	subidx_advise(r, room * sizeof *r);
	size_t k = merge(v, cview_sort(v->delta, tmp, v->ndelta, 1), r);
	bnd_free(tmp);
	bnd_free(v->base);
	v->base = r;
	v->base_cap = room;
	v->nbase = k;
	v->ndelta = 0;
	return 0;
}
