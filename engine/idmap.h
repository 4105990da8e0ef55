/*
 * idmap.h - a map from non-zero 64-bit keys to 64-bit values (open
 * addressing, linear probing, deletion by backward shift), with an optional
 * FIFO bound: a map made with a limit forgets its oldest key when a new one
 * would exceed it.
 *
 * `serve` keeps three of them (engine/SERVICE.md):
 *   - the ids (64-bit hashes) of recent inbound messages that changed no
 *     state (HELP, chat, "already subscribed"), so a redelivery is not
 *     answered twice; bounded, the oldest forgotten first;
 *   - the last auto-reply time per number (bounded the same way);
 *   - the numbers whose welcome is queued or in flight (unbounded: it
 *     grows with the backlog and shrinks as welcomes complete).
 *
 * Key 0 is reserved (the empty slot): callers map a hash of 0 to 1, and a
 * packed phone number is never 0.
 *
 * Not thread-safe: the owner locks. Memory: 16 bytes per slot, at most
 * twice the live keys (the table doubles at half full), plus 8 bytes per
 * key of the FIFO ring for a bounded map.
 */
#ifndef IDMAP_H
#define IDMAP_H

#include <stddef.h>
#include <stdint.h>

/* Embeddable; fields are private. */
struct idmap {
	uint64_t *slots;     /* 2 * cap words: key, value */
	size_t cap;          /* power of two, or 0 before the first put */
	size_t len;
	size_t limit;        /* 0: unbounded; else FIFO bound on len */
	uint64_t *ring;      /* bounded maps: keys in insertion order */
	size_t ring_head;    /* oldest entry's position in ring */
	size_t ring_len;     /* entries in ring (<= limit) */
};

/*
 * idmap_init - an empty map; limit 0 = unbounded, else at most limit keys
 * (the ring of limit keys is allocated now). Returns 0, BND_E_NOMEM.
 */
int idmap_init(struct idmap *m, size_t limit);

/* idmap_free - release the memory; the map is empty and reusable after
 * idmap_init. Accepts a zeroed map. */
void idmap_free(struct idmap *m);

/*
 * idmap_put - set key's value (insert or overwrite). A bounded map that is
 * full forgets its oldest key first; a key's age counts from its insertion
 * (overwriting the value does not make it younger). Returns 0, BND_E_INVAL (key 0),
 * BND_E_NOMEM (the table could not grow: the map is unchanged).
 */
int idmap_put(struct idmap *m, uint64_t key, uint64_t value);

/* idmap_get - 1 and *value (may be NULL) when key is present, else 0. */
int idmap_get(const struct idmap *m, uint64_t key, uint64_t *value);

/*
 * idmap_del - remove key; returns 1 when it was present, else 0. In a
 * bounded map the key's ring entry stays and is skipped when it comes up.
 */
int idmap_del(struct idmap *m, uint64_t key);

/* idmap_len - keys present. */
size_t idmap_len(const struct idmap *m);

#endif
