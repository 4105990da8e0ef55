/*
 * recip.h - wa-mock's table of recipients: one entry per number the mock has
 * seen in a valid send, holding how many messages to it were accepted, its
 * pair-rate state and its messaging-tier window. It answers the questions a
 * test asks of the mock ("how many distinct numbers?", "did anyone get the
 * notice twice?") and carries the per-recipient limits.
 *
 * Concurrency: the table is split into stripes, each with its own lock, so
 * request threads touching different numbers do not contend. A caller locks
 * one entry's stripe with recip_lock, works on the entry, and unlocks.
 */
#ifndef WAMOCK_RECIP_H
#define WAMOCK_RECIP_H

#include <stdint.h>

struct recip;

/* One recipient. Fields are read and written only under the stripe lock. */
struct recip_entry {
	uint64_t key;         /* packed number (phone.h); 0 marks an empty slot */
	uint64_t pair_tat;    /* pair-rate GCRA theoretical arrival time, ns */
	uint64_t tier_enter;  /* when it entered the tier window (ns), 0 = never */
	uint32_t accepted;    /* messages to it answered 200 */
	uint32_t pad;
};

/*
 * recip_open - an empty table. Returns 0 or BND_E_NOMEM. The table grows
 * as needed; close with recip_close.
 */
int recip_open(struct recip **out);

/* recip_close - free the table; sets *p to NULL; accepts NULL. */
void recip_close(struct recip **p);

/*
 * recip_lock - lock the stripe of key (non-zero) and return its entry,
 * inserting a zeroed one if absent. *stripe receives the token to pass to
 * recip_unlock. Returns NULL (and leaves nothing locked) when the table
 * cannot grow (out of memory). The entry pointer is valid until unlock.
 */
struct recip_entry *recip_lock(struct recip *r, uint64_t key, unsigned *stripe);

/* recip_unlock - release the stripe returned by recip_lock. */
void recip_unlock(struct recip *r, unsigned stripe);

/*
 * recip_accepted - count one accepted message to e (caller holds its
 * stripe): keeps the table's unique and "accepted more than once" totals.
 */
void recip_accepted(struct recip *r, struct recip_entry *e);

/*
 * recip_counts - recipients with at least one accepted message, and with
 * two or more. Lock-free reads of running totals; thread-safe.
 */
void recip_counts(const struct recip *r, uint64_t *unique, uint64_t *repeated);

#endif
