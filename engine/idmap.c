/*
 * idmap.c - open addressing with linear probing over (key, value) pairs in
 * one array, deletion by backward shift (no tombstones, so probe lengths
 * stay short however many keys come and go), doubling at half full.
 * Keys are hashed again with a multiplicative mix (keys may be packed
 * phone numbers, which are far from uniform in their low bits).
 *
 * A bounded map also keeps its keys in a ring in insertion order; when a
 * new key arrives and the ring is full, the oldest ring entry's key is
 * deleted first. A key deleted by the caller leaves its ring entry in
 * place: it is skipped (already absent) when its turn comes; a key deleted
 * and inserted again has two entries, and the older one may forget it
 * early. Both are acceptable for the uses in engine/SERVICE.md, where a
 * bounded map is a best-effort memory of recent events.
 */
#include "idmap.h"

#include <string.h>

#include "bnd.h"

#define IDMAP_MIN_CAP 64

static inline size_t home(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

int idmap_init(struct idmap *m, size_t limit)
{
	memset(m, 0, sizeof *m);
	m->limit = limit;
	if (limit) {
		m->ring = bnd_malloc(limit * sizeof *m->ring);
		if (!m->ring)
			return BND_E_NOMEM;
	}
	return 0;
}

void idmap_free(struct idmap *m)
{
	if (!m)
		return;
	bnd_free(m->slots);
	bnd_free(m->ring);
	memset(m, 0, sizeof *m);
}

/* Insert a key known to be absent into a table with room. */
static void place(uint64_t *slots, size_t cap, uint64_t key, uint64_t value)
{
	size_t i = home(key, cap);
	while (slots[2 * i])
		i = (i + 1) & (cap - 1);
	slots[2 * i] = key;
	slots[2 * i + 1] = value;
}

static int grow(struct idmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : IDMAP_MIN_CAP;
	uint64_t *ns = bnd_calloc(ncap * 2, sizeof *ns);
	if (!ns)
		return BND_E_NOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[2 * i])
			place(ns, ncap, m->slots[2 * i], m->slots[2 * i + 1]);
	bnd_free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

/* The slot of key, or cap when absent. */
static size_t find(const struct idmap *m, uint64_t key)
{
	if (!m->cap)
		return 0;
	size_t i = home(key, m->cap);
	while (m->slots[2 * i]) {
		if (m->slots[2 * i] == key)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return m->cap;
}

int idmap_get(const struct idmap *m, uint64_t key, uint64_t *value)
{
	if (!key || !m->cap)
		return 0;
	size_t i = find(m, key);
	if (i == m->cap)
		return 0;
	if (value)
		*value = m->slots[2 * i + 1];
	return 1;
}

int idmap_del(struct idmap *m, uint64_t key)
{
	if (!key || !m->cap)
		return 0;
	size_t i = find(m, key);
	if (i == m->cap)
		return 0;
	/* Backward shift: move later members of the cluster into the hole
	 * when their home is not strictly between the hole and themselves. */
	size_t mask = m->cap - 1, j = i;
	for (;;) {
		m->slots[2 * i] = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!m->slots[2 * j])
				goto done;
			size_t h = home(m->slots[2 * j], m->cap);
			/* j's home h lies cyclically in (i, j]: it must stay. */
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		m->slots[2 * i] = m->slots[2 * j];
		m->slots[2 * i + 1] = m->slots[2 * j + 1];
		i = j;
	}
done:
	m->len--;
	return 1;
}

int idmap_put(struct idmap *m, uint64_t key, uint64_t value)
{
	if (!key)
		return BND_E_INVAL;
	size_t i = find(m, key);
	if (m->cap && i < m->cap) {
		m->slots[2 * i + 1] = value;
		return 0;
	}
	if ((m->len + 1) * 2 > m->cap) {
		int rc = grow(m);
		if (rc)
			return rc;
	}
	if (m->limit) {
		if (m->ring_len == m->limit) {
			idmap_del(m, m->ring[m->ring_head]);
			m->ring_head = (m->ring_head + 1) % m->limit;
			m->ring_len--;
		}
		m->ring[(m->ring_head + m->ring_len) % m->limit] = key;
		m->ring_len++;
	}
	place(m->slots, m->cap, key, value);
	m->len++;
	return 0;
}

size_t idmap_len(const struct idmap *m)
{
	return m->len;
}
