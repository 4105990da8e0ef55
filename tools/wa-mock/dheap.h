/*
 * dheap.h - a binary min-heap of deadlines: (due time, pointer, tag) items,
 * earliest first. Shared by the latency timer (timer.c) and the webhook
 * sender's schedule of statuses (webhook.c). Not thread-safe: its owner
 * locks. The struct is visible so owners can embed it; fields are private.
 */
#ifndef WAMOCK_DHEAP_H
#define WAMOCK_DHEAP_H

#include <stddef.h>
#include <stdint.h>

struct dheap_item {
	uint64_t due;
	void *p;
	int tag;
};

struct dheap {
	struct dheap_item *a;   /* private */
	size_t n, cap;          /* private */
};

/* dheap_push - add an item (the heap grows). Returns 0 or BND_E_NOMEM. */
int dheap_push(struct dheap *h, uint64_t due, void *p, int tag);

/* dheap_top - the earliest item, or NULL when empty. Valid until the next change. */
const struct dheap_item *dheap_top(const struct dheap *h);

/* dheap_pop - remove and return the earliest item; the heap must not be empty. */
struct dheap_item dheap_pop(struct dheap *h);

/* dheap_len - number of items. */
size_t dheap_len(const struct dheap *h);

/* dheap_item_at - item i (0 <= i < len) in heap order, for draining on close. */
const struct dheap_item *dheap_item_at(const struct dheap *h, size_t i);

/* dheap_free - release the storage; the heap is empty and reusable after. */
void dheap_free(struct dheap *h);

#endif
