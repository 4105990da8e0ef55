/*
 * sublog.c - encoding, decoding and scanning of the subscriber log.
 *
 * format: see FORMAT.md (constants in format.h).
 *
 * A record is a fixed 29-byte head plus the source id: checksum first, then
 * the length, so that a reader can always find the next record from the
 * length and can tell a complete record (checksum over everything after the
 * checksum field) from a torn or damaged one.
 *
 * The scanner's recovery rule: a record that does not decode is a torn tail
 * only if no valid record starts anywhere after it. To know that, it tries
 * to decode a record at every later byte offset (cheap: the length and type
 * bytes reject almost every offset before any hashing). That costs time
 * only on the damage path. A valid record after a bad one means the bad one
 * is damage, not an interrupted append, and is reported with its offset
 * instead of being skipped.
 *
 * Invariant: decode never reads outside [p, p + avail).
 */
#include "sublog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bnd.h"
#include "format.h"
#include "fsio.h"

size_t sublog_rec_encode(uint8_t *dst, uint64_t number, unsigned state, uint64_t t_ms,
                         const uint8_t *src, size_t src_len)
{
	size_t len = FMT_REC_FIXED + src_len;
	le16_put(dst + FMT_REC_OFF_LEN, (uint16_t)len);
	dst[FMT_REC_OFF_TYPE] = FMT_REC_TYPE_SET;
	dst[FMT_REC_OFF_STATE] = (uint8_t)state;
	le64_put(dst + FMT_REC_OFF_NUMBER, number);
	le64_put(dst + FMT_REC_OFF_TMS, t_ms);
	dst[FMT_REC_OFF_SRCLEN] = (uint8_t)src_len;
	if (src_len)
		memcpy(dst + FMT_REC_OFF_SRC, src, src_len);
	uint64_t sum = XXH3_64bits_withSeed(dst + FMT_REC_OFF_LEN, len - FMT_REC_OFF_LEN,
	                                    FMT_REC_SEED);
	le64_put(dst + FMT_REC_OFF_SUM, sum);
	return len;
}

/* The framing checks: a length and type that can be, and the checksum.
 * Returns the length or a damage code. */
static int rec_frame(const uint8_t *p, size_t avail)
{
	if (avail < FMT_REC_FIXED)
		return BND_E_STORE_TRUNCATED;
	uint32_t len = le16_get(p + FMT_REC_OFF_LEN);
	if (len < FMT_REC_FIXED || len > FMT_REC_MAX || p[FMT_REC_OFF_TYPE] != FMT_REC_TYPE_SET)
		return BND_E_STORE_CORRUPT;
	if (len > avail)
		return BND_E_STORE_TRUNCATED;
	if (XXH3_64bits_withSeed(p + FMT_REC_OFF_LEN, len - FMT_REC_OFF_LEN, FMT_REC_SEED) !=
	    le64_get(p + FMT_REC_OFF_SUM))
		return BND_E_STORE_CHECKSUM;
	return (int)len;
}

int sublog_rec_decode(const uint8_t *p, size_t avail, struct sublog_rec *r)
{
	int len = rec_frame(p, avail);
	if (len < 0)
		return len;
	r->sum = le64_get(p + FMT_REC_OFF_SUM);
	r->len = (uint32_t)len;
	r->type = p[FMT_REC_OFF_TYPE];
	r->state = p[FMT_REC_OFF_STATE];
	r->number = le64_get(p + FMT_REC_OFF_NUMBER);
	r->t_ms = le64_get(p + FMT_REC_OFF_TMS);
	r->src_len = p[FMT_REC_OFF_SRCLEN];
	r->src = p + FMT_REC_OFF_SRC;
	r->raw = p;
	/* The checksum matched, so these were written like this: a bug or a
	 * foreign writer, never a torn write. */
	if (r->src_len != (uint32_t)len - FMT_REC_FIXED || r->state < 1 || r->state > 4 ||
	    !sublog_num_ok(r->number) || r->t_ms >> FMT_TMS_BITS)
		return BND_E_STORE_CORRUPT;
	return len;
}

void sublog_seg_hdr_encode(uint8_t *dst, const uint8_t id[SUBLOG_ID_LEN], uint64_t seq)
{
	memset(dst, 0, FMT_SEG_HDR_LEN);
	memcpy(dst + FMT_SEG_OFF_MAGIC, FMT_SEG_MAGIC, 8);
	le32_put(dst + FMT_SEG_OFF_VERSION, FMT_SEG_VERSION);
	le32_put(dst + FMT_SEG_OFF_HDRLEN, FMT_SEG_HDR_LEN);
	memcpy(dst + FMT_SEG_OFF_STORE_ID, id, SUBLOG_ID_LEN);
	le64_put(dst + FMT_SEG_OFF_SEQ, seq);
	le64_put(dst + FMT_SEG_OFF_SUM, XXH3_64bits_withSeed(dst, FMT_SEG_OFF_SUM, FMT_SEG_HDR_SEED));
}

int sublog_seg_hdr_decode(const uint8_t *p, size_t avail, uint8_t id[SUBLOG_ID_LEN],
                          uint64_t *seq)
{
	if (avail < 12)
		return BND_E_STORE_TRUNCATED;
	if (memcmp(p + FMT_SEG_OFF_MAGIC, FMT_SEG_MAGIC, 8) != 0)
		return BND_E_STORE_MAGIC;
	if (le32_get(p + FMT_SEG_OFF_VERSION) != FMT_SEG_VERSION)
		return BND_E_STORE_VERSION;
	if (avail < FMT_SEG_HDR_LEN)
		return BND_E_STORE_TRUNCATED;
	if (le64_get(p + FMT_SEG_OFF_SUM) != XXH3_64bits_withSeed(p, FMT_SEG_OFF_SUM, FMT_SEG_HDR_SEED))
		return BND_E_STORE_CHECKSUM;
	if (le32_get(p + FMT_SEG_OFF_HDRLEN) != FMT_SEG_HDR_LEN)
		return BND_E_STORE_CORRUPT;
	memcpy(id, p + FMT_SEG_OFF_STORE_ID, SUBLOG_ID_LEN);
	*seq = le64_get(p + FMT_SEG_OFF_SEQ);
	return 0;
}

void sublog_manifest_encode(uint8_t *dst, const struct sublog_manifest *m)
{
	memset(dst, 0, FMT_MAN_LEN);
	memcpy(dst + FMT_MAN_OFF_MAGIC, FMT_MAN_MAGIC, 8);
	le32_put(dst + FMT_MAN_OFF_VERSION, FMT_MAN_VERSION);
	le32_put(dst + FMT_MAN_OFF_LEN, FMT_MAN_LEN);
	memcpy(dst + FMT_MAN_OFF_STORE_ID, m->id, SUBLOG_ID_LEN);
	le64_put(dst + FMT_MAN_OFF_GEN, m->gen);
	le64_put(dst + FMT_MAN_OFF_FIRST, m->first);
	le64_put(dst + FMT_MAN_OFF_LAST, m->last);
	le64_put(dst + FMT_MAN_OFF_SUM, XXH3_64bits_withSeed(dst, FMT_MAN_OFF_SUM, FMT_MAN_SEED));
}

int sublog_manifest_decode(const uint8_t *p, size_t avail, struct sublog_manifest *m)
{
	if (avail < 12)
		return BND_E_STORE_TRUNCATED;
	if (memcmp(p + FMT_MAN_OFF_MAGIC, FMT_MAN_MAGIC, 8) != 0)
		return BND_E_STORE_MAGIC;
	if (le32_get(p + FMT_MAN_OFF_VERSION) != FMT_MAN_VERSION)
		return BND_E_STORE_VERSION;
	if (avail < FMT_MAN_LEN)
		return BND_E_STORE_TRUNCATED;
	if (le64_get(p + FMT_MAN_OFF_SUM) != XXH3_64bits_withSeed(p, FMT_MAN_OFF_SUM, FMT_MAN_SEED))
		return BND_E_STORE_CHECKSUM;
	if (le32_get(p + FMT_MAN_OFF_LEN) != FMT_MAN_LEN)
		return BND_E_STORE_CORRUPT;
	memcpy(m->id, p + FMT_MAN_OFF_STORE_ID, SUBLOG_ID_LEN);
	m->gen = le64_get(p + FMT_MAN_OFF_GEN);
	m->first = le64_get(p + FMT_MAN_OFF_FIRST);
	m->last = le64_get(p + FMT_MAN_OFF_LAST);
	if (m->first == 0 || m->first > m->last || m->last - m->first >= (1u << 24))
		return BND_E_STORE_CORRUPT;
	return 0;
}

void sublog_seg_name(char *buf, uint64_t seq)
{
	snprintf(buf, FMT_SEG_NAME_LEN + 1, FMT_SEG_PREFIX "%016" PRIx64 FMT_SEG_SUFFIX, seq);
}

int sublog_seg_parse_name(const char *name, uint64_t *seq)
{
	size_t pl = sizeof FMT_SEG_PREFIX - 1;
	if (strlen(name) != FMT_SEG_NAME_LEN || memcmp(name, FMT_SEG_PREFIX, pl) != 0 ||
	    strcmp(name + pl + 16, FMT_SEG_SUFFIX) != 0)
		return 0;
	uint64_t v = 0;
	for (size_t i = pl; i < pl + 16; i++) {
		char c = name[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return 0;
		v = v << 4 | d;
	}
	*seq = v;
	return 1;
}

#define SCAN_CHUNK (1u << 20)

/*
 * A window over the file: buf holds bytes [base, base + have). refill moves
 * the unread rest to the front and reads more. Returns 0 or -errno.
 */
struct window {
	int fd;
	uint8_t *buf;
	uint64_t base;
	size_t have;
	uint64_t limit;   /* never look at bytes at or past limit */
	int eof;
};

static int window_fill(struct window *w, uint64_t pos)
{
	/* Keep bytes from pos on; read until the buffer is full or EOF. */
	if (pos > w->base + w->have) {
		w->base = pos;
		w->have = 0;
	} else {
		size_t drop = (size_t)(pos - w->base);
		memmove(w->buf, w->buf + drop, w->have - drop);
		w->have -= drop;
		w->base = pos;
	}
	while (w->have < SCAN_CHUNK && !w->eof) {
		uint64_t at = w->base + w->have;
		size_t want = SCAN_CHUNK - w->have;
		if (at >= w->limit) {
			w->eof = 1;
			break;
		}
		if (want > w->limit - at)
			want = (size_t)(w->limit - at);
		ssize_t r = fsio_pread_all(w->fd, w->buf + w->have, want, (off_t)at);
		if (r < 0)
			return (int)r;
		w->have += (size_t)r;
		if ((size_t)r < want)
			w->eof = 1;
	}
	return 0;
}

/* 1 when a record with a valid checksum starts at some offset in
 * (from, end of file); *err is set on a read error. */
static int valid_after(struct window *w, uint64_t from, int *err)
{
	*err = 0;
	for (uint64_t pos = from + 1;; pos++) {
		if (w->base + w->have - pos < FMT_REC_MAX && !w->eof) {
			int rc = window_fill(w, pos);
			if (rc < 0) {
				*err = rc;
				return 0;
			}
		}
		if (pos >= w->base + w->have)
			return 0;
		size_t at = (size_t)(pos - w->base);
		if (rec_frame(w->buf + at, w->have - at) > 0)
			return 1;
	}
}

int sublog_scan(int fd, uint64_t start, uint64_t limit, sublog_rec_fn fn, void *ud,
                struct sublog_scan_res *res)
{
	struct window w = { .fd = fd, .base = start, .limit = limit };
	int rc = 0;
	res->end = start;
	res->size = start;
	res->tail_err = 0;
	res->err_off = 0;
	w.buf = bnd_malloc(SCAN_CHUNK);
	if (!w.buf)
		return BND_E_NOMEM;
	uint64_t pos = start;
	for (;;) {
		if (w.base + w.have - pos < FMT_REC_MAX && !w.eof) {
			rc = window_fill(&w, pos);
			if (rc < 0)
				goto out;
		}
		size_t at = (size_t)(pos - w.base);
		if (at == w.have)
			break;   /* clean end */
		struct sublog_rec r;
		int len = sublog_rec_decode(w.buf + at, w.have - at, &r);
		if (len < 0) {
			int err;
			uint64_t bad = pos;
			if (valid_after(&w, bad, &err)) {
				rc = len;
				res->err_off = bad;
				goto out;
			}
			if (err) {
				rc = err;
				goto out;
			}
			res->tail_err = len;
			res->err_off = bad;
			break;
		}
		if (fn) {
			rc = fn(&r, pos, ud);
			if (rc)
				goto out;
		}
		pos += (uint64_t)len;
		res->end = pos;
	}
	rc = 0;
out:
	{
		struct stat st;
		uint64_t size = res->end;
		if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > size)
			size = (uint64_t)st.st_size;
		res->size = size < limit ? size : (limit > res->end ? limit : res->end);
	}
	bnd_free(w.buf);
	return rc;
}
