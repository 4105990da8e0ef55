/*
 * journal.c - a notice's durable progress log. Format: see JOURNAL.md.
 *
 * Design. One append-only file per notice, records of 8 header bytes plus a
 * small payload, each with its own checksum (the low 32 bits of XXH3-64).
 * Appends are encoded into a memory buffer and reach the file in batches:
 * journal_commit writes the buffer and runs one fdatasync for all of it
 * (group commit), the async pair lets the sender's loop run that fdatasync
 * on io_uring. After each completed fdatasync the journal appends a SYNCED
 * record naming the offset it covered; it reaches the disk with the next
 * batch (and at close). That record is what lets recovery tell a torn tail
 * (bytes never covered by a completed fdatasync: cut them) from damage
 * (bytes that were: an error naming the offset), instead of guessing.
 *
 * The model kept in memory is small and bounded by the span, never by the
 * audience:
 *   - low: every ordinal below it is final; high: one past the highest seen;
 *   - a bitmap ring of "final" bits over [low, low + span) (span is fixed at
 *     creation; the ring is smaller when the list is smaller);
 *   - an open-addressing map of the ordinals in that window that have a
 *     record but no final outcome (in flight or deferred), with their last
 *     attempt and retry time; it holds at most the in-flight window plus the
 *     deferred ordinals;
 *   - counters for the report, and one nibble per recipient for the
 *     delivery statuses (sent/delivered/read/failed), allocated only when
 *     the first status arrives: 0.5 byte per recipient, which is what
 *     counting distinct recipients costs without a per-recipient object.
 * The same apply() runs for a replayed record and for a new one, after the
 * same check(): a record is written only if replaying it will be accepted,
 * and a replay rejects any record the writer would have refused (an
 * outcome for a final ordinal, a cursor past a non-final one). So the file
 * is its own proof that the cursor never passed a non-final ordinal.
 *
 * Invariants:
 *   - low only moves over final bits; a CURSOR record never exceeds low;
 *   - records reach the file in append order (one writer at a time: a
 *     buffer flush waits while a commit writes outside the lock);
 *   - a failed write or fdatasync breaks the handle (-EIO afterwards): the
 *     kernel may have dropped the dirty pages, so only a reopen (which
 *     replays what is really on disk) can continue;
 *   - on any error from journal_append nothing changed in memory or in
 *     the buffer.
 */
#define _GNU_SOURCE
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "bnd.h"
#include "le.h"
#include "fsio.h"

/* ---- records ------------------------------------------------------------- */

static uint32_t rec_sum(const uint8_t *rec, size_t plen)
{
	/* Covers type, len, reserved and the payload: everything after itself. */
	return (uint32_t)XXH3_64bits_withSeed(rec + 4, 4 + plen, JOURNAL_SEED);
}

/* The exact payload length of each fixed-size type; ACCEPTED varies. */
static int payload_len(enum journal_type t, size_t wamid_len)
{
	switch (t) {
	case JREC_DISPATCHED: return 8;
	case JREC_ACCEPTED: return 4 + (int)wamid_len;
	case JREC_FAILED: return 8;
	case JREC_DEFERRED: return 16;
	case JREC_SKIPPED: return 5;
	case JREC_STATUS: return 17;
	case JREC_CURSOR: return 4;
	case JREC_STATE: return 14;
	case JREC_SYNCED: return 8;
	}
	return -1;
}

static int fields_ok(const struct journal_rec *r)
{
	switch (r->type) {
	case JREC_SKIPPED:
		return r->kind >= JSKIP_UNSUBSCRIBED && r->kind <= JSKIP_INVALID;
	case JREC_STATUS:
		return r->kind >= JSTATUS_SENT && r->kind <= JSTATUS_FAILED;
	case JREC_STATE:
		return r->kind < NOTICE_STATE_COUNT && r->reason < NOTICE_REASON_COUNT;
	default:
		return 1;
	}
}

int journal_rec_encode(const struct journal_rec *r, uint8_t *buf, size_t cap)
{
	if (r->type == JREC_ACCEPTED && r->wamid_len > JOURNAL_WAMID_MAX)
		return BND_E_RANGE;
	int plen = payload_len(r->type, r->wamid_len);
	if (plen < 0 || !fields_ok(r))
		return BND_E_INVAL;
	size_t n = JOURNAL_REC_HEADER + (size_t)plen;
	if (cap < n)
		return BND_E_RANGE;
	uint8_t *p = buf + JOURNAL_REC_HEADER;
	buf[4] = (uint8_t)r->type;
	buf[5] = (uint8_t)plen;
	buf[6] = 0;
	buf[7] = 0;
	switch (r->type) {
	case JREC_DISPATCHED:
		le32_put(p, r->ordinal);
		le16_put(p + 4, r->attempt);
		le16_put(p + 6, r->flags);
		break;
	case JREC_ACCEPTED:
		le32_put(p, r->ordinal);
		if (r->wamid_len)
			memcpy(p + 4, r->wamid, r->wamid_len);
		break;
	case JREC_FAILED:
		le32_put(p, r->ordinal);
		le32_put(p + 4, (uint32_t)r->code);
		break;
	case JREC_DEFERRED:
		le32_put(p, r->ordinal);
		le32_put(p + 4, (uint32_t)r->code);
		le64_put(p + 8, r->t_ms);
		break;
	case JREC_SKIPPED:
		le32_put(p, r->ordinal);
		p[4] = r->kind;
		break;
	case JREC_STATUS:
		le32_put(p, r->ordinal);
		p[4] = r->kind;
		le32_put(p + 5, (uint32_t)r->code);
		le64_put(p + 9, r->t_ms);
		break;
	case JREC_CURSOR:
		le32_put(p, r->ordinal);
		break;
	case JREC_STATE:
		p[0] = r->kind;
		p[1] = r->reason;
		le32_put(p + 2, (uint32_t)r->code);
		le64_put(p + 6, r->t_ms);
		break;
	case JREC_SYNCED:
		le64_put(p, r->end);
		break;
	}
	le32_put(buf, rec_sum(buf, (size_t)plen));
	return (int)n;
}

int journal_rec_decode(const uint8_t *buf, size_t len, struct journal_rec *r)
{
	if (len < JOURNAL_REC_HEADER)
		return BND_E_JOURNAL_TRUNCATED;
	size_t plen = buf[5];
	size_t n = JOURNAL_REC_HEADER + plen;
	if (n > len)
		return BND_E_JOURNAL_TRUNCATED;
	if (le32_get(buf) != rec_sum(buf, plen))
		return BND_E_JOURNAL_CHECKSUM;
	memset(r, 0, offsetof(struct journal_rec, wamid));
	r->type = (enum journal_type)buf[4];
	if (buf[6] != 0 || buf[7] != 0)
		return BND_E_JOURNAL_CORRUPT;
	if (buf[4] >= JREC_OPTIONAL_MIN)
		return (int)n;
	int want = payload_len(r->type, plen >= 4 ? plen - 4 : 0);
	if (want < 0 || (size_t)want != plen || (r->type == JREC_ACCEPTED && plen < 4))
		return BND_E_JOURNAL_CORRUPT;
	const uint8_t *p = buf + JOURNAL_REC_HEADER;
	switch (r->type) {
	case JREC_DISPATCHED:
		r->ordinal = le32_get(p);
		r->attempt = le16_get(p + 4);
		r->flags = le16_get(p + 6);
		break;
	case JREC_ACCEPTED:
		r->ordinal = le32_get(p);
		r->wamid_len = plen - 4;
		memcpy(r->wamid, p + 4, r->wamid_len);
		break;
	case JREC_FAILED:
		r->ordinal = le32_get(p);
		r->code = (int32_t)le32_get(p + 4);
		break;
	case JREC_DEFERRED:
		r->ordinal = le32_get(p);
		r->code = (int32_t)le32_get(p + 4);
		r->t_ms = le64_get(p + 8);
		break;
	case JREC_SKIPPED:
		r->ordinal = le32_get(p);
		r->kind = p[4];
		break;
	case JREC_STATUS:
		r->ordinal = le32_get(p);
		r->kind = p[4];
		r->code = (int32_t)le32_get(p + 5);
		r->t_ms = le64_get(p + 9);
		break;
	case JREC_CURSOR:
		r->ordinal = le32_get(p);
		break;
	case JREC_STATE:
		r->kind = p[0];
		r->reason = p[1];
		r->code = (int32_t)le32_get(p + 2);
		r->t_ms = le64_get(p + 6);
		break;
	case JREC_SYNCED:
		r->end = le64_get(p);
		break;
	}
	if (!fields_ok(r))
		return BND_E_JOURNAL_CORRUPT;
	return (int)n;
}

/* ---- header --------------------------------------------------------------- */

static int span_ok(uint32_t span)
{
	return span >= JOURNAL_SPAN_MIN && span <= JOURNAL_SPAN_MAX && (span & (span - 1)) == 0;
}

int journal_header_encode(uint8_t out[JOURNAL_HEADER_SIZE], const struct journal_header *h)
{
	if (!notice_id_valid((const uint8_t *)h->notice_id, strnlen(h->notice_id, NOTICE_ID_SIZE)))
		return BND_E_NOTICE_ID;
	if (!span_ok(h->span) || h->recipients > NOTICE_MAX_RECIPIENTS)
		return BND_E_INVAL;
	memset(out, 0, JOURNAL_HEADER_SIZE);
	le32_put(out, JOURNAL_MAGIC);
	le16_put(out + 4, JOURNAL_VERSION);
	le16_put(out + 6, JOURNAL_HEADER_SIZE);
	memcpy(out + 8, h->notice_id, NOTICE_ID_LEN);
	le32_put(out + 32, h->recipients);
	le32_put(out + 36, h->span);
	le64_put(out + 40, h->rcpt_checksum);
	le64_put(out + 48, h->created_ms);
	le64_put(out + 56, XXH3_64bits_withSeed(out, 56, JOURNAL_SEED));
	return 0;
}

int journal_header_decode(const uint8_t *p, size_t len, struct journal_header *h)
{
	if (len < JOURNAL_HEADER_SIZE)
		return BND_E_JOURNAL_TRUNCATED;
	if (le32_get(p) != JOURNAL_MAGIC)
		return BND_E_JOURNAL_MAGIC;
	/* The magic and the checksum at 56 keep their places in every version,
	 * so damage is told apart from a newer format. */
	if (le64_get(p + 56) != XXH3_64bits_withSeed(p, 56, JOURNAL_SEED))
		return BND_E_JOURNAL_CHECKSUM;
	if (le16_get(p + 4) != JOURNAL_VERSION)
		return BND_E_JOURNAL_VERSION;
	if (le16_get(p + 6) != JOURNAL_HEADER_SIZE || !notice_id_valid(p + 8, NOTICE_ID_LEN) ||
	    p[8 + NOTICE_ID_LEN] != 0 || p[9 + NOTICE_ID_LEN] != 0)
		return BND_E_JOURNAL_CORRUPT;
	memset(h, 0, sizeof *h);
	memcpy(h->notice_id, p + 8, NOTICE_ID_LEN);
	h->recipients = le32_get(p + 32);
	h->span = le32_get(p + 36);
	h->rcpt_checksum = le64_get(p + 40);
	h->created_ms = le64_get(p + 48);
	if (!span_ok(h->span) || h->recipients > NOTICE_MAX_RECIPIENTS)
		return BND_E_JOURNAL_CORRUPT;
	return 0;
}

int journal_create(const char *path, const struct journal_header *h0)
{
	struct journal_header h = *h0;
	if (h.span == 0)
		h.span = JOURNAL_SPAN_DEFAULT;
	uint8_t hdr[JOURNAL_HEADER_SIZE];
	int rc = journal_header_encode(hdr, &h);
	if (rc)
		return rc;
	int fd = fsio_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL);
	if (fd < 0)
		return fd == -EEXIST ? BND_E_EXISTS : fd;
	rc = fsio_pwrite_all(fd, hdr, sizeof hdr, 0);
	if (rc == 0)
		rc = fsio_fdatasync(fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc)
		unlink(path);
	return rc;
}

/* ---- the model: the open map ------------------------------------------------ */

enum { SLOT_DISPATCHED = 1, SLOT_DEFERRED = 2 };

struct slot {
	uint32_t key;      /* ordinal + 1; 0 = empty */
	uint8_t kind;      /* SLOT_* */
	uint8_t pad;
	uint16_t attempt;  /* highest attempt dispatched */
	int32_t code;      /* DEFERRED: why */
	uint64_t until;    /* DEFERRED: retry time (wall ms) */
};

struct omap {
	struct slot *v;
	uint32_t cap;      /* power of two, or 0 */
	uint32_t n;
};

static uint32_t omap_hash(uint32_t key, uint32_t mask)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
}

static struct slot *omap_find(const struct omap *m, uint32_t ord)
{
	if (!m->cap)
		return NULL;
	uint32_t mask = m->cap - 1, key = ord + 1;
	for (uint32_t i = omap_hash(key, mask);; i = (i + 1) & mask) {
		if (m->v[i].key == key)
			return &m->v[i];
		if (m->v[i].key == 0)
			return NULL;
	}
}

/* Make room for one more entry (load at most 1/2). */
static int omap_reserve(struct omap *m)
{
	if ((uint64_t)(m->n + 1) * 2 <= m->cap)
		return 0;
	uint32_t ncap = m->cap ? m->cap * 2 : 64;
	struct slot *nv = bnd_calloc(ncap, sizeof *nv);
	if (!nv)
		return BND_E_NOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		if (!m->v[i].key)
			continue;
		uint32_t j = omap_hash(m->v[i].key, ncap - 1);
		while (nv[j].key)
			j = (j + 1) & (ncap - 1);
		nv[j] = m->v[i];
	}
	bnd_free(m->v);
	m->v = nv;
	m->cap = ncap;
	return 0;
}

/* Find or insert; omap_reserve must have succeeded before. */
static struct slot *omap_put(struct omap *m, uint32_t ord)
{
	uint32_t mask = m->cap - 1, key = ord + 1;
	uint32_t i = omap_hash(key, mask);
	while (m->v[i].key && m->v[i].key != key)
		i = (i + 1) & mask;
	if (!m->v[i].key) {
		memset(&m->v[i], 0, sizeof m->v[i]);
		m->v[i].key = key;
		m->n++;
	}
	return &m->v[i];
}

/* Delete with backward shifting, so lookups never need tombstones. */
static void omap_del(struct omap *m, struct slot *s)
{
	uint32_t mask = m->cap - 1;
	uint32_t i = (uint32_t)(s - m->v);
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!m->v[j].key)
			break;
		uint32_t home = omap_hash(m->v[j].key, mask);
		/* Move j into the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->v[i] = m->v[j];
			i = j;
		}
	}
	m->v[i].key = 0;
	m->n--;
}

/* ---- the journal ------------------------------------------------------------ */

struct counters {
	uint64_t accepted, failed, skipped_unsub, skipped_invalid, skipped_expired;
	uint64_t retried, uncertain, reconciled, dispatches, finals;
	uint64_t in_flight, deferred;
	struct journal_code_count codes[JOURNAL_CODES_MAX];
	size_t ncodes;
	uint64_t failed_other;
	uint64_t sent, delivered, read, delivery_failed;
	uint64_t d1m, d5m, d15m;
	uint64_t start_ms, end_ms;
};

struct journal {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	unsigned flags;
	struct journal_header h;

	/* the model */
	enum notice_state state;
	enum notice_reason reason;
	int32_t reason_code;
	uint32_t low, high;
	uint64_t *ring;          /* final bits of [low, low + span) */
	uint32_t ring_mask;      /* ring bits - 1 */
	struct omap open;
	uint8_t *stat;           /* a nibble per recipient: STAT_* */
	struct counters c;

	/* buffer and commit */
	uint8_t *buf, *spare;
	size_t len, cap;
	uint64_t file_end;       /* bytes written to the file */
	uint64_t appended_end;   /* file_end + bytes buffered or being written */
	uint64_t dirty_end;      /* end of the last record that needs a sync */
	uint64_t synced_end;     /* covered by a completed fdatasync */
	uint64_t marker_end;     /* value of the last SYNCED appended */
	int writing;             /* a commit writes outside the lock */
	int syncing;             /* a commit (sync or async) is running */
	int broken;              /* 0, or the error that broke the handle */
	uint32_t cursor_appended, cursor_durable;
	uint64_t cursor_ticket;
};

enum { STAT_SENT = 1, STAT_DELIVERED = 2, STAT_READ = 4, STAT_FAILED = 8 };

static int ring_get(const struct journal *j, uint32_t o)
{
	uint32_t b = o & j->ring_mask;
	return (int)((j->ring[b >> 6] >> (b & 63)) & 1);
}

static void ring_set(struct journal *j, uint32_t o, int v)
{
	uint32_t b = o & j->ring_mask;
	if (v)
		j->ring[b >> 6] |= 1ULL << (b & 63);
	else
		j->ring[b >> 6] &= ~(1ULL << (b & 63));
}

static uint32_t window_end(const struct journal *j)
{
	uint64_t e = (uint64_t)j->low + j->h.span;
	return e < j->h.recipients ? (uint32_t)e : j->h.recipients;
}

enum ostate { O_FINAL, O_NONE, O_DISPATCHED, O_DEFERRED, O_BEYOND };

static enum ostate ord_state(const struct journal *j, uint32_t o, struct slot **sp)
{
	*sp = NULL;
	if (o < j->low)
		return O_FINAL;
	if ((uint64_t)o >= (uint64_t)j->low + j->h.span)
		return O_BEYOND;
	if (ring_get(j, o))
		return O_FINAL;
	struct slot *s = omap_find(&j->open, o);
	if (!s)
		return O_NONE;
	*sp = s;
	return s->kind == SLOT_DISPATCHED ? O_DISPATCHED : O_DEFERRED;
}

/*
 * check - may r be applied now? replay: r was read from the file at offset
 * off (CURSOR and SYNCED are allowed, and any refusal means damage).
 * Returns 0 or the code journal_append documents.
 */
static int check(const struct journal *j, const struct journal_rec *r, int replay, uint64_t off)
{
	if (!fields_ok(r))
		return BND_E_INVAL;
	switch (r->type) {
	case JREC_DISPATCHED:
	case JREC_ACCEPTED:
	case JREC_FAILED:
	case JREC_DEFERRED:
	case JREC_SKIPPED: {
		if (r->ordinal >= j->h.recipients)
			return BND_E_RANGE;
		struct slot *s;
		enum ostate st = ord_state(j, r->ordinal, &s);
		if (st == O_FINAL)
			return BND_E_JOURNAL_FINAL;
		if (st == O_BEYOND)
			return BND_E_JOURNAL_WINDOW;
		if (r->type == JREC_DISPATCHED && j->state != NOTICE_RUNNING)
			return BND_E_JOURNAL_STATE;
		if (r->type == JREC_ACCEPTED && r->wamid_len > JOURNAL_WAMID_MAX)
			return BND_E_INVAL;
		return 0;
	}
	case JREC_STATUS: {
		if (r->ordinal >= j->h.recipients)
			return BND_E_RANGE;
		struct slot *s;
		if (ord_state(j, r->ordinal, &s) == O_BEYOND)
			return BND_E_JOURNAL_WINDOW;
		return 0;
	}
	case JREC_STATE:
		if (!notice_state_allowed(j->state, (enum notice_state)r->kind))
			return BND_E_JOURNAL_STATE;
		if (r->kind == NOTICE_DONE && j->low < j->h.recipients)
			return BND_E_JOURNAL_STATE;
		return 0;
	case JREC_CURSOR:
		if (!replay)
			return BND_E_INVAL;
		return r->ordinal <= j->low ? 0 : BND_E_JOURNAL_CORRUPT;
	case JREC_SYNCED:
		if (!replay)
			return BND_E_INVAL;
		return r->end <= off ? 0 : BND_E_JOURNAL_CORRUPT;
	}
	return BND_E_INVAL;
}

/* Reserve what apply() will need, so that apply cannot fail. */
static int prepare(struct journal *j, const struct journal_rec *r)
{
	if (r->type == JREC_DISPATCHED || r->type == JREC_DEFERRED) {
		if (!omap_find(&j->open, r->ordinal))
			return omap_reserve(&j->open);
	}
	if (r->type == JREC_STATUS && !j->stat) {
		j->stat = bnd_calloc((size_t)j->h.recipients / 2 + 1, 1);
		if (!j->stat)
			return BND_E_NOMEM;
	}
	return 0;
}

static void bump_high(struct journal *j, uint32_t o)
{
	if (o + 1 > j->high)
		j->high = o + 1;
}

static void drop_slot(struct journal *j, struct slot *s)
{
	if (s->kind == SLOT_DISPATCHED)
		j->c.in_flight--;
	else
		j->c.deferred--;
	omap_del(&j->open, s);
}

static void finalize(struct journal *j, uint32_t o)
{
	struct slot *s = omap_find(&j->open, o);
	if (s)
		drop_slot(j, s);
	ring_set(j, o, 1);
	j->c.finals++;
	bump_high(j, o);
	while (j->low < j->h.recipients && ring_get(j, j->low)) {
		ring_set(j, j->low, 0);
		j->low++;
	}
}

static void count_code(struct counters *c, int32_t code)
{
	for (size_t i = 0; i < c->ncodes; i++) {
		if (c->codes[i].code == code) {
			c->codes[i].count++;
			return;
		}
	}
	if (c->ncodes < JOURNAL_CODES_MAX) {
		c->codes[c->ncodes].code = code;
		c->codes[c->ncodes].count = 1;
		c->ncodes++;
		return;
	}
	c->failed_other++;
}

static void apply_status(struct journal *j, const struct journal_rec *r)
{
	uint32_t o = r->ordinal;
	uint8_t *b = &j->stat[o / 2];
	int shift = (o & 1) ? 4 : 0;
	unsigned old = (*b >> shift) & 0xfu;
	unsigned bit = r->kind == JSTATUS_SENT ? STAT_SENT
	             : r->kind == JSTATUS_DELIVERED ? STAT_DELIVERED
	             : r->kind == JSTATUS_READ ? STAT_READ : STAT_FAILED;
	unsigned nw = old | bit;
	*b = (uint8_t)((*b & ~(0xfu << shift)) | (nw << shift));
	const unsigned any = STAT_SENT | STAT_DELIVERED | STAT_READ;
	const unsigned dlv = STAT_DELIVERED | STAT_READ;
	if (!(old & any) && (nw & any))
		j->c.sent++;
	if (!(old & dlv) && (nw & dlv)) {
		j->c.delivered++;
		/* Coverage: delivered within 1, 5, 15 minutes of the start. The
		 * first delivered-or-read status seen is taken as the delivery
		 * time (statuses can arrive out of order; the error is small). */
		if (j->c.start_ms) {
			uint64_t dt = r->t_ms > j->c.start_ms ? r->t_ms - j->c.start_ms : 0;
			if (dt <= 60000)
				j->c.d1m++;
			if (dt <= 300000)
				j->c.d5m++;
			if (dt <= 900000)
				j->c.d15m++;
		}
	}
	if (!(old & STAT_READ) && (nw & STAT_READ))
		j->c.read++;
	if (!(old & STAT_FAILED) && (nw & STAT_FAILED))
		j->c.delivery_failed++;
}

/* Apply a checked and prepared record to the model. Cannot fail. */
static void apply(struct journal *j, const struct journal_rec *r)
{
	struct slot *s;
	switch (r->type) {
	case JREC_DISPATCHED:
		s = omap_find(&j->open, r->ordinal);
		if (!s) {
			s = omap_put(&j->open, r->ordinal);
			s->kind = SLOT_DISPATCHED;
			j->c.in_flight++;
		} else if (s->kind == SLOT_DEFERRED) {
			s->kind = SLOT_DISPATCHED;
			j->c.deferred--;
			j->c.in_flight++;
		}
		if (r->attempt > s->attempt)
			s->attempt = r->attempt;
		j->c.dispatches++;
		if (r->flags & JOURNAL_DISPATCH_UNCERTAIN)
			j->c.uncertain++;
		else if (r->attempt > 0)
			j->c.retried++;
		bump_high(j, r->ordinal);
		break;
	case JREC_DEFERRED:
		s = omap_find(&j->open, r->ordinal);
		if (!s) {
			s = omap_put(&j->open, r->ordinal);
			s->kind = SLOT_DEFERRED;
			j->c.deferred++;
		} else if (s->kind == SLOT_DISPATCHED) {
			s->kind = SLOT_DEFERRED;
			j->c.in_flight--;
			j->c.deferred++;
		}
		s->code = r->code;
		s->until = r->t_ms;
		bump_high(j, r->ordinal);
		break;
	case JREC_ACCEPTED:
		j->c.accepted++;
		finalize(j, r->ordinal);
		break;
	case JREC_FAILED:
		j->c.failed++;
		count_code(&j->c, r->code);
		finalize(j, r->ordinal);
		break;
	case JREC_SKIPPED:
		if (r->kind == JSKIP_UNSUBSCRIBED)
			j->c.skipped_unsub++;
		else if (r->kind == JSKIP_INVALID)
			j->c.skipped_invalid++;
		else
			j->c.skipped_expired++;
		finalize(j, r->ordinal);
		break;
	case JREC_STATUS:
		apply_status(j, r);
		if (ord_state(j, r->ordinal, &s) != O_FINAL) {
			/* A status proves the API accepted the request. */
			j->c.accepted++;
			j->c.reconciled++;
			finalize(j, r->ordinal);
		}
		break;
	case JREC_STATE:
		j->state = (enum notice_state)r->kind;
		j->reason = (enum notice_reason)r->reason;
		j->reason_code = r->code;
		if (j->state == NOTICE_RUNNING && j->c.start_ms == 0)
			j->c.start_ms = r->t_ms ? r->t_ms : 1;
		if (notice_state_terminal(j->state))
			j->c.end_ms = r->t_ms;
		break;
	case JREC_CURSOR:
		j->cursor_appended = r->ordinal;
		j->cursor_durable = r->ordinal;
		break;
	case JREC_SYNCED:
		break;
	}
}

/* ---- reading a file: the recovery rule -------------------------------------- */

/*
 * proven - 1 when a valid SYNCED record after offset x claims an fdatasync
 * covered x: the bad record at x was then acknowledged as durable, so it is
 * damage, not a torn tail. Scans byte by byte (records after damage are not
 * aligned to anything we can trust); runs only when something is wrong.
 */
static int proven(const uint8_t *p, size_t size, size_t x)
{
	const size_t n = JOURNAL_REC_HEADER + 8;
	for (size_t q = x + 1; q + n <= size; q++) {
		if (p[q + 4] != JREC_SYNCED || p[q + 5] != 8 || p[q + 6] || p[q + 7])
			continue;
		struct journal_rec r;
		if (journal_rec_decode(p + q, size - q, &r) > 0 && r.end > x && r.end <= q)
			return 1;
	}
	return 0;
}

typedef journal_scan_fn walk_fn;

/*
 * walk - decode every record after the header, calling fn; stop at a torn
 * tail. Returns 0 with *valid_end, BND_E_JOURNAL_CHECKSUM or _CORRUPT
 * (info set), or fn's non-zero value.
 */
static int walk(const uint8_t *p, size_t size, walk_fn fn, void *ud,
                struct journal_open_info *info, uint64_t *valid_end)
{
	size_t off = JOURNAL_HEADER_SIZE;
	while (off < size) {
		struct journal_rec r;
		int n = journal_rec_decode(p + off, size - off, &r);
		if (n == BND_E_JOURNAL_CORRUPT) {
			info->err_offset = off;
			snprintf(info->err_msg, sizeof info->err_msg,
			         "record at offset %zu has a valid checksum but an impossible type or length",
			         off);
			return n;
		}
		if (n < 0) {
			if (proven(p, size, off)) {
				info->err_offset = off;
				snprintf(info->err_msg, sizeof info->err_msg,
				         "damaged record at offset %zu inside data a completed fdatasync covered",
				         off);
				return BND_E_JOURNAL_CHECKSUM;
			}
			break;
		}
		if (r.type < JREC_OPTIONAL_MIN) {
			int rc = fn(&r, off, ud);
			if (rc)
				return rc;
		}
		info->records++;
		off += (size_t)n;
	}
	*valid_end = off;
	info->tail_dropped_bytes = size - off;
	return 0;
}

static const char *type_name(enum journal_type t)
{
	static const char *const names[] = {
		"?", "DISPATCHED", "ACCEPTED", "FAILED", "DEFERRED", "SKIPPED",
		"STATUS", "CURSOR", "STATE", "SYNCED",
	};
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

struct replay_ctx {
	struct journal *j;
	struct journal_open_info *info;
};

static int replay_one(const struct journal_rec *r, uint64_t off, void *ud)
{
	struct replay_ctx *x = ud;
	int rc = check(x->j, r, 1, off);
	if (rc == 0)
		rc = prepare(x->j, r);
	if (rc == BND_E_NOMEM)
		return rc;
	if (rc) {
		x->info->err_offset = off;
		snprintf(x->info->err_msg, sizeof x->info->err_msg,
		         "%s record at offset %" PRIu64 " (ordinal %u) breaks the journal's rules: %s",
		         type_name(r->type), off, r->ordinal, bnd_strerror(rc));
		return BND_E_JOURNAL_CORRUPT;
	}
	apply(x->j, r);
	return 0;
}

/* Map a whole file read-only; *p is NULL for an empty file. */
static int map_file(int fd, const uint8_t **p, size_t *size)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	*p = NULL;
	*size = (size_t)st.st_size;
	if (st.st_size == 0)
		return 0;
	void *m = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	*p = m;
	return 0;
}

/* ---- open and close --------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = JOURNAL_SPAN_MIN;
	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static void journal_free(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	bnd_free(j->ring);
	bnd_free(j->open.v);
	bnd_free(j->stat);
	bnd_free(j->buf);
	bnd_free(j->spare);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	bnd_free(j);
}

int journal_open(struct journal **out, const char *path, const struct journal_opts *opts,
                 struct journal_open_info *info)
{
	struct journal_open_info dummy;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof *info);
	*out = NULL;
	unsigned flags = opts ? opts->flags : 0;
	size_t cap = opts && opts->buffer_bytes ? opts->buffer_bytes : JOURNAL_BUFFER_DEFAULT;
	if (cap < 2 * (JOURNAL_REC_HEADER + JOURNAL_PAYLOAD_MAX))
		return BND_E_INVAL;
	int rdonly = (flags & JOURNAL_RDONLY) != 0;
	const uint8_t *map = NULL;
	size_t size = 0;
	int rc = 0;

	struct journal *j = bnd_calloc(1, sizeof *j);
	if (!j)
		return BND_E_NOMEM;
	j->fd = -1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->flags = flags;

	for (int tries = 0;; tries++) {
		j->fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (j->fd < 0) {
			rc = errno == ENOENT ? BND_E_NOTFOUND : -errno;
			goto fail;
		}
		if (rdonly)
			break;
		if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
			rc = errno == EWOULDBLOCK ? BND_E_LOCKED : -errno;
			goto fail;
		}
		/* A purge (notice_purge.c) replaces the file by rename while it
		 * holds this lock. If that happened between our open and our
		 * flock, we hold the lock of a deleted file and would append to
		 * it: open again, a few times, then report the notice busy. */
		struct stat a, b;
		if (fstat(j->fd, &a) != 0 || stat(path, &b) != 0) {
			rc = errno == ENOENT ? BND_E_NOTFOUND : -errno;
			goto fail;
		}
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			break;
		close(j->fd);
		j->fd = -1;
		if (tries == 2) {
			rc = BND_E_LOCKED;
			goto fail;
		}
	}
	rc = map_file(j->fd, &map, &size);
	if (rc)
		goto fail;
	rc = journal_header_decode(map, size, &j->h);
	if (rc) {
		info->err_offset = 0;
		snprintf(info->err_msg, sizeof info->err_msg, "bad journal header: %s",
		         bnd_strerror(rc));
		goto fail;
	}
	uint32_t ring_bits = j->h.span;
	if (j->h.recipients < ring_bits)
		ring_bits = pow2_at_least(j->h.recipients);
	j->ring_mask = ring_bits - 1;
	j->ring = bnd_calloc(ring_bits / 64, sizeof *j->ring);
	if (!j->ring) {
		rc = BND_E_NOMEM;
		goto fail;
	}
	if (!rdonly) {
		j->cap = cap;
		j->buf = bnd_malloc(cap);
		j->spare = bnd_malloc(cap);
		if (!j->buf || !j->spare) {
			rc = BND_E_NOMEM;
			goto fail;
		}
	}
	struct replay_ctx x = { j, info };
	uint64_t valid_end = 0;
	rc = walk(map, size, replay_one, &x, info, &valid_end);
	if (rc)
		goto fail;
	if (!rdonly) {
		if (valid_end < size) {
			/* Torn tail: never covered by a completed fdatasync. */
			rc = fsio_ftruncate(j->fd, (off_t)valid_end);
			if (rc)
				goto fail;
		}
		/* What a crashed writer wrote may sit unsynced in the page cache:
		 * make it durable before acting on it. */
		rc = fsio_fdatasync(j->fd);
		if (rc)
			goto fail;
	}
	info->file_bytes = valid_end;
	j->file_end = j->appended_end = j->dirty_end = j->synced_end = valid_end;
	j->marker_end = valid_end;
	if (map)
		munmap((void *)map, size);
	*out = j;
	return 0;
fail:
	if (map)
		munmap((void *)map, size);
	journal_free(j);
	return rc;
}

int journal_matches(const struct journal *j, const char *id, uint32_t count,
                    uint64_t rcpt_checksum)
{
	if (!id || strncmp(j->h.notice_id, id, NOTICE_ID_SIZE) != 0 || j->h.recipients != count ||
	    j->h.rcpt_checksum != rcpt_checksum)
		return BND_E_JOURNAL_MISMATCH;
	return 0;
}

int journal_open_notice(struct journal **out, const char *data_dir, const char *id,
                        const struct notice_rcpt *rcpt, const struct journal_opts *opts,
                        struct journal_open_info *info)
{
	*out = NULL;
	if (!id || !notice_id_valid((const uint8_t *)id, strnlen(id, NOTICE_ID_SIZE)))
		return BND_E_NOTICE_ID;
	char path[4096];
	if (notice_path(path, sizeof path, data_dir, id, JOURNAL_FILE) < 0)
		return BND_E_RANGE;
	struct journal *j;
	int rc = journal_open(&j, path, opts, info);
	if (rc)
		return rc;
	if (strncmp(j->h.notice_id, id, NOTICE_ID_SIZE) != 0 ||
	    (rcpt && journal_matches(j, id, notice_rcpt_count(rcpt), notice_rcpt_checksum(rcpt)))) {
		/* Close without touching the file: nothing was appended. */
		journal_free(j);
		return BND_E_JOURNAL_MISMATCH;
	}
	*out = j;
	return 0;
}

void journal_header_get(const struct journal *j, struct journal_header *h)
{
	*h = j->h;
}

/* ---- appending and committing ----------------------------------------------- */

/* Make room for n more bytes in the buffer, writing it out if needed. */
static int ensure_space(struct journal *j, size_t n)
{
	if (j->len + n <= j->cap)
		return 0;
	while (j->writing)
		pthread_cond_wait(&j->cv, &j->mu);
	if (j->broken)
		return -EIO;
	if (j->len + n <= j->cap)
		return 0;
	int rc = fsio_pwrite_all(j->fd, j->buf, j->len, (off_t)j->file_end);
	if (rc) {
		j->broken = rc;
		return rc;
	}
	j->file_end += j->len;
	j->len = 0;
	return 0;
}

/* Encode r into the buffer (space must be ensured). Returns the new end. */
static uint64_t buffer_rec(struct journal *j, const uint8_t *rec, size_t n)
{
	memcpy(j->buf + j->len, rec, n);
	j->len += n;
	j->appended_end += n;
	return j->appended_end;
}

/* Append a record the journal writes itself (CURSOR, SYNCED). */
static int append_own(struct journal *j, const struct journal_rec *r, int need_sync)
{
	uint8_t rec[JOURNAL_REC_HEADER + JOURNAL_PAYLOAD_MAX];
	int n = journal_rec_encode(r, rec, sizeof rec);
	if (n < 0)
		return n;
	int rc = ensure_space(j, (size_t)n);
	if (rc)
		return rc;
	uint64_t end = buffer_rec(j, rec, (size_t)n);
	if (need_sync)
		j->dirty_end = end;
	return 0;
}

static int append_locked(struct journal *j, const struct journal_rec *r, uint64_t *ticket)
{
	if (j->flags & JOURNAL_RDONLY)
		return BND_E_RDONLY;
	if (j->broken)
		return -EIO;
	if (r->type == JREC_CURSOR || r->type == JREC_SYNCED)
		return BND_E_INVAL;
	int rc = check(j, r, 0, 0);
	if (rc)
		return rc;
	uint8_t rec[JOURNAL_REC_HEADER + JOURNAL_PAYLOAD_MAX];
	int n = journal_rec_encode(r, rec, sizeof rec);
	if (n < 0)
		return n;
	rc = prepare(j, r);
	if (rc == 0)
		rc = ensure_space(j, (size_t)n);
	if (rc)
		return rc;
	apply(j, r);
	j->dirty_end = buffer_rec(j, rec, (size_t)n);
	if (ticket)
		*ticket = j->dirty_end;
	return 0;
}

int journal_append(struct journal *j, const struct journal_rec *r, uint64_t *ticket)
{
	pthread_mutex_lock(&j->mu);
	int rc = append_locked(j, r, ticket);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int journal_dispatched(struct journal *j, uint32_t ordinal, uint16_t attempt, uint16_t flags,
                       uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_DISPATCHED, .ordinal = ordinal, .attempt = attempt,
	                         .flags = flags };
	return journal_append(j, &r, ticket);
}

int journal_accepted(struct journal *j, uint32_t ordinal, const uint8_t *wamid, size_t wamid_len,
                     uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_ACCEPTED, .ordinal = ordinal };
	if (wamid_len > JOURNAL_WAMID_MAX)
		return BND_E_INVAL;
	if (wamid_len)
		memcpy(r.wamid, wamid, wamid_len);
	r.wamid_len = wamid_len;
	return journal_append(j, &r, ticket);
}

int journal_failed(struct journal *j, uint32_t ordinal, int32_t code, uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_FAILED, .ordinal = ordinal, .code = code };
	return journal_append(j, &r, ticket);
}

int journal_deferred(struct journal *j, uint32_t ordinal, int32_t code, uint64_t until_ms,
                     uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_DEFERRED, .ordinal = ordinal, .code = code,
	                         .t_ms = until_ms };
	return journal_append(j, &r, ticket);
}

int journal_skipped(struct journal *j, uint32_t ordinal, enum journal_skip reason,
                    uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_SKIPPED, .ordinal = ordinal, .kind = (uint8_t)reason };
	if ((unsigned)reason > 255)
		return BND_E_INVAL;
	return journal_append(j, &r, ticket);
}

int journal_status(struct journal *j, uint32_t ordinal, enum journal_status st, int32_t code,
                   uint64_t t_ms, uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_STATUS, .ordinal = ordinal, .kind = (uint8_t)st,
	                         .code = code, .t_ms = t_ms };
	if ((unsigned)st > 255)
		return BND_E_INVAL;
	return journal_append(j, &r, ticket);
}

int journal_set_state(struct journal *j, enum notice_state st, enum notice_reason why,
                      int32_t code, uint64_t t_ms, uint64_t *ticket)
{
	struct journal_rec r = { .type = JREC_STATE, .kind = (uint8_t)st, .reason = (uint8_t)why,
	                         .code = code, .t_ms = t_ms };
	if ((unsigned)st > 255 || (unsigned)why > 255)
		return BND_E_INVAL;
	return journal_append(j, &r, ticket);
}

/* Before a batch goes out: checkpoint the cursor if it moved. */
static int add_cursor(struct journal *j)
{
	if (j->low <= j->cursor_appended)
		return 0;
	struct journal_rec r = { .type = JREC_CURSOR, .ordinal = j->low };
	int rc = append_own(j, &r, 1);
	if (rc)
		return rc;
	j->cursor_appended = j->low;
	j->cursor_ticket = j->appended_end;
	return 0;
}

/* After an fdatasync covering [0, upto) completed (mu held). */
static void sync_done(struct journal *j, uint64_t upto)
{
	if (upto > j->synced_end)
		j->synced_end = upto;
	if (j->cursor_ticket && j->cursor_ticket <= j->synced_end)
		j->cursor_durable = j->cursor_appended;
	/* Evidence for recovery; rides along with the next batch. Skipped when
	 * the buffer is full: it is evidence, not data. */
	if (upto > j->marker_end && j->len + JOURNAL_REC_HEADER + 8 <= j->cap) {
		struct journal_rec r = { .type = JREC_SYNCED, .end = upto };
		uint8_t rec[JOURNAL_REC_HEADER + 8];
		int n = journal_rec_encode(&r, rec, sizeof rec);
		if (n > 0) {
			buffer_rec(j, rec, (size_t)n);
			j->marker_end = upto;
		}
	}
}

/* One group commit (mu held, no commit running, not broken). */
static int commit_locked(struct journal *j)
{
	int rc = add_cursor(j);
	if (rc)
		return rc;
	uint8_t *b = j->buf;
	size_t n = j->len;
	off_t at = (off_t)j->file_end;  /* no other write runs: writing is ours */
	uint64_t target = j->appended_end;
	j->buf = j->spare;
	j->spare = NULL;
	j->len = 0;
	j->syncing = j->writing = 1;
	pthread_mutex_unlock(&j->mu);
	rc = n ? fsio_pwrite_all(j->fd, b, n, at) : 0;
	if (rc == 0)
		rc = fsio_fdatasync(j->fd);
	pthread_mutex_lock(&j->mu);
	j->spare = b;
	j->syncing = j->writing = 0;
	if (rc) {
		j->broken = rc;
	} else {
		j->file_end += n;
		sync_done(j, target);
	}
	pthread_cond_broadcast(&j->cv);
	return rc;
}

static int sync_locked(struct journal *j, uint64_t ticket)
{
	if (j->flags & JOURNAL_RDONLY)
		return BND_E_RDONLY;
	for (;;) {
		if (j->synced_end >= ticket)
			return 0;
		if (j->broken)
			return -EIO;
		if (j->syncing) {
			pthread_cond_wait(&j->cv, &j->mu);
			continue;
		}
		int rc = commit_locked(j);
		if (rc)
			return rc;
	}
}

int journal_sync(struct journal *j, uint64_t ticket)
{
	pthread_mutex_lock(&j->mu);
	if (ticket == 0 || ticket == UINT64_MAX || ticket > j->dirty_end)
		ticket = j->dirty_end;
	int rc = sync_locked(j, ticket);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int journal_commit(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	/* Also make the cursor durable when only it moved (a STATUS replayed). */
	uint64_t t = j->dirty_end;
	int rc = 0;
	if (!(j->flags & JOURNAL_RDONLY) && !j->broken && j->low > j->cursor_appended &&
	    t <= j->synced_end)
		t = j->synced_end + 1;
	rc = sync_locked(j, t);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int journal_durable(struct journal *j, uint64_t ticket)
{
	pthread_mutex_lock(&j->mu);
	int r = ticket <= j->synced_end;
	pthread_mutex_unlock(&j->mu);
	return r;
}

int journal_needs_commit(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	int r = !(j->flags & JOURNAL_RDONLY) && j->dirty_end > j->synced_end;
	pthread_mutex_unlock(&j->mu);
	return r;
}

int journal_commit_begin(struct journal *j, int *fd, uint64_t *upto)
{
	pthread_mutex_lock(&j->mu);
	int rc;
	if (j->flags & JOURNAL_RDONLY) {
		rc = BND_E_RDONLY;
	} else if (j->broken) {
		rc = -EIO;
	} else if (j->syncing) {
		rc = -EBUSY;
	} else if (j->dirty_end <= j->synced_end && j->low <= j->cursor_appended) {
		rc = 0;
	} else if ((rc = add_cursor(j)) == 0) {
		/* The write happens here, under the lock and in order; only the
		 * fdatasync is left to the caller. */
		rc = j->len ? fsio_pwrite_all(j->fd, j->buf, j->len, (off_t)j->file_end) : 0;
		if (rc) {
			j->broken = rc;
		} else {
			j->file_end += j->len;
			j->len = 0;
			j->syncing = 1;
			*fd = j->fd;
			*upto = j->appended_end;
			rc = 1;
		}
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int journal_commit_end(struct journal *j, uint64_t upto, int res)
{
	pthread_mutex_lock(&j->mu);
	j->syncing = 0;
	if (res)
		j->broken = res;
	else
		sync_done(j, upto);
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return res;
}

int journal_close(struct journal **jp)
{
	if (!jp || !*jp)
		return 0;
	struct journal *j = *jp;
	*jp = NULL;
	int rc = 0;
	if (!(j->flags & JOURNAL_RDONLY)) {
		pthread_mutex_lock(&j->mu);
		while (j->syncing)
			pthread_cond_wait(&j->cv, &j->mu);
		/* The second round writes and syncs the SYNCED record of the first,
		 * so that the last batch, too, is provably durable. */
		for (int round = 0; round < 2 && !j->broken; round++) {
			if (j->appended_end == j->synced_end && j->low <= j->cursor_appended)
				break;
			rc = commit_locked(j);
		}
		if (j->broken && rc == 0)
			rc = j->broken;
		pthread_mutex_unlock(&j->mu);
	}
	journal_free(j);
	return rc;
}

/* ---- queries ------------------------------------------------------------------ */

uint32_t journal_recipients(const struct journal *j)
{
	return j->h.recipients;
}

uint32_t journal_low_water(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint32_t v = j->low;
	pthread_mutex_unlock(&j->mu);
	return v;
}

uint32_t journal_durable_low_water(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint32_t v = j->cursor_durable;
	pthread_mutex_unlock(&j->mu);
	return v;
}

uint32_t journal_high_water(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint32_t v = j->high;
	pthread_mutex_unlock(&j->mu);
	return v;
}

uint32_t journal_window_end(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint32_t v = window_end(j);
	pthread_mutex_unlock(&j->mu);
	return v;
}

int journal_is_final(struct journal *j, uint32_t ordinal)
{
	pthread_mutex_lock(&j->mu);
	struct slot *s;
	int v = ordinal < j->h.recipients && ord_state(j, ordinal, &s) == O_FINAL;
	pthread_mutex_unlock(&j->mu);
	return v;
}

void journal_state(struct journal *j, enum notice_state *st, enum notice_reason *why,
                   int32_t *code)
{
	pthread_mutex_lock(&j->mu);
	if (st)
		*st = j->state;
	if (why)
		*why = j->reason;
	if (code)
		*code = j->reason_code;
	pthread_mutex_unlock(&j->mu);
}

int journal_pending_foreach(struct journal *j, journal_pending_fn fn, void *ud)
{
	pthread_mutex_lock(&j->mu);
	int rc = 0;
	for (uint32_t o = j->low; o < j->high && rc == 0; o++) {
		if (ring_get(j, o))
			continue;
		struct journal_pending p = { .ordinal = o };
		struct slot *s = omap_find(&j->open, o);
		if (!s) {
			p.kind = JPEND_UNSENT;
		} else if (s->kind == SLOT_DISPATCHED) {
			p.kind = JPEND_UNCERTAIN;
			p.dispatched = 1;
			p.attempt = s->attempt;
		} else {
			p.kind = JPEND_DEFERRED;
			p.attempt = s->attempt;
			p.code = s->code;
			p.until_ms = s->until;
		}
		rc = fn(&p, ud);
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* ---- report ------------------------------------------------------------------- */

void journal_report(struct journal *j, uint64_t now_ms, struct journal_report *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_lock(&j->mu);
	const struct counters *c = &j->c;
	memcpy(r->notice_id, j->h.notice_id, NOTICE_ID_SIZE);
	r->state = j->state;
	r->reason = j->reason;
	r->reason_code = j->reason_code;
	r->recipients = j->h.recipients;
	r->accepted = c->accepted;
	r->failed = c->failed;
	memcpy(r->failed_by_code, c->codes, sizeof c->codes);
	r->failed_codes = c->ncodes;
	r->failed_other = c->failed_other;
	r->skipped_unsubscribed = c->skipped_unsub;
	r->skipped_invalid = c->skipped_invalid;
	r->skipped_expired = c->skipped_expired;
	r->remaining = j->h.recipients - c->finals;
	r->expired = c->skipped_expired + (j->state == NOTICE_EXPIRED ? r->remaining : 0);
	r->retried = c->retried;
	r->uncertain = c->uncertain;
	r->reconciled = c->reconciled;
	r->in_flight = c->in_flight;
	r->deferred = c->deferred;
	r->dispatches = c->dispatches;
	r->sent = c->sent;
	r->delivered = c->delivered;
	r->read = c->read;
	r->delivery_failed = c->delivery_failed;
	r->delivered_1m = c->d1m;
	r->delivered_5m = c->d5m;
	r->delivered_15m = c->d15m;
	r->low_water = j->low;
	r->high_water = j->high;
	r->start_ms = c->start_ms;
	r->end_ms = c->end_ms;
	pthread_mutex_unlock(&j->mu);
	if (r->start_ms) {
		uint64_t end = r->end_ms ? r->end_ms : now_ms;
		r->elapsed_ms = end > r->start_ms ? end - r->start_ms : 0;
	}
	r->rate_per_s = r->elapsed_ms ? (double)r->accepted * 1000.0 / (double)r->elapsed_ms : 0.0;
}

static int set_u64(json_t *o, const char *k, uint64_t v)
{
	return json_object_set_new(o, k, json_integer((json_int_t)v));
}

json_t *journal_report_json(const struct journal_report *r)
{
	json_t *o = json_object();
	json_t *codes = json_object();
	json_t *cov = json_object();
	if (!o || !codes || !cov)
		goto fail;
	for (size_t i = 0; i < r->failed_codes; i++) {
		char k[16];
		snprintf(k, sizeof k, "%" PRId32, r->failed_by_code[i].code);
		if (set_u64(codes, k, r->failed_by_code[i].count))
			goto fail;
	}
	if (r->failed_other && set_u64(codes, "other", r->failed_other))
		goto fail;
	double pct = r->recipients ? 100.0 / r->recipients : 0.0;
	if (json_object_set_new(cov, "1m", json_real((double)r->delivered_1m * pct)) ||
	    json_object_set_new(cov, "5m", json_real((double)r->delivered_5m * pct)) ||
	    json_object_set_new(cov, "15m", json_real((double)r->delivered_15m * pct)))
		goto fail;
	json_t *c = codes, *v = cov;
	codes = cov = NULL;  /* set_new below takes them, even on failure */
	if (json_object_set_new(o, "notice_id", json_string(r->notice_id)) ||
	    json_object_set_new(o, "state", json_string(notice_state_name(r->state))) ||
	    json_object_set_new(o, "stop_reason", json_string(notice_reason_name(r->reason))) ||
	    json_object_set_new(o, "stop_code", json_integer(r->reason_code)) ||
	    set_u64(o, "recipients", r->recipients) || set_u64(o, "accepted", r->accepted) ||
	    set_u64(o, "failed", r->failed) || json_object_set_new(o, "failed_by_code", c) ||
	    set_u64(o, "retried", r->retried) || set_u64(o, "expired", r->expired) ||
	    set_u64(o, "uncertain", r->uncertain) ||
	    json_object_set_new(o, "elapsed_s", json_real((double)r->elapsed_ms / 1000.0)) ||
	    json_object_set_new(o, "rate_per_s", json_real(r->rate_per_s)) ||
	    set_u64(o, "skipped_unsubscribed", r->skipped_unsubscribed) ||
	    set_u64(o, "skipped_invalid", r->skipped_invalid) ||
	    set_u64(o, "remaining", r->remaining) || set_u64(o, "in_flight", r->in_flight) ||
	    set_u64(o, "deferred", r->deferred) || set_u64(o, "reconciled", r->reconciled) ||
	    set_u64(o, "sent", r->sent) || set_u64(o, "delivered", r->delivered) ||
	    set_u64(o, "read", r->read) || set_u64(o, "delivery_failed", r->delivery_failed) ||
	    json_object_set_new(o, "coverage_pct", v) || set_u64(o, "low_water", r->low_water) ||
	    set_u64(o, "start_ms", r->start_ms) || set_u64(o, "end_ms", r->end_ms))
		goto fail;
	return o;
fail:
	json_decref(codes);
	json_decref(cov);
	json_decref(o);
	return NULL;
}

/* ---- scanning ------------------------------------------------------------------ */

int journal_scan(const char *path, struct journal_header *hdr, journal_scan_fn fn, void *ud,
                 struct journal_open_info *info)
{
	struct journal_open_info dummy;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof *info);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? BND_E_NOTFOUND : -errno;
	const uint8_t *map = NULL;
	size_t size = 0;
	struct journal_header h;
	int rc = map_file(fd, &map, &size);
	if (rc == 0)
		rc = journal_header_decode(map, size, &h);
	if (rc == 0) {
		if (hdr)
			*hdr = h;
		uint64_t end = 0;
		rc = walk(map, size, fn, ud, info, &end);
		info->file_bytes = size;
	}
	if (map)
		munmap((void *)map, size);
	close(fd);
	return rc;
}
