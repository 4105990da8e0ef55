/*
 * dheap.c - binary min-heap of deadlines (see dheap.h): sift up on push,
 * sift down on pop, storage doubled on demand. Items with equal due times
 * come out in no promised order; no user depends on one.
 */
#include "dheap.h"

#include "bnd.h"

int dheap_push(struct dheap *h, uint64_t due, void *p, int tag)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 1024;
		struct dheap_item *na = bnd_realloc(h->a, ncap * sizeof *na);
		if (!na)
			return BND_E_NOMEM;
		h->a = na;
		h->cap = ncap;
	}
	size_t i = h->n++;
	h->a[i] = (struct dheap_item){due, p, tag};
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (h->a[up].due <= h->a[i].due)
			break;
		struct dheap_item t = h->a[up];
		h->a[up] = h->a[i];
		h->a[i] = t;
		i = up;
	}
	return 0;
}

const struct dheap_item *dheap_top(const struct dheap *h)
{
	return h->n ? &h->a[0] : NULL;
}

struct dheap_item dheap_pop(struct dheap *h)
{
	struct dheap_item top = h->a[0];
	h->a[0] = h->a[--h->n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && h->a[l].due < h->a[m].due)
			m = l;
		if (r < h->n && h->a[r].due < h->a[m].due)
			m = r;
		if (m == i)
			break;
		struct dheap_item t = h->a[m];
		h->a[m] = h->a[i];
		h->a[i] = t;
		i = m;
	}
	return top;
}

size_t dheap_len(const struct dheap *h)
{
	return h->n;
}

const struct dheap_item *dheap_item_at(const struct dheap *h, size_t i)
{
	return &h->a[i];
}

void dheap_free(struct dheap *h)
{
	bnd_free(h->a);
	h->a = NULL;
	h->n = h->cap = 0;
}
