/*
 * compact.c - compaction: rewrite the live set into new segments, switch
 * the MANIFEST atomically, delete the old files.
 *
 * format: see FORMAT.md (constants in format.h).
 *
 * Steps, and what a crash after each leaves (the writer's next open removes
 * every segment outside MANIFEST's range, MANIFEST.tmp and HINT.tmp):
 *   1. sync everything appended          old set, complete
 *   2. unlink HINT                        old set, full replay on open
 *   3. write new segments seq last+1..    old set + leftovers (removed)
 *      (the latest record of every number that is not unsubscribed, in the
 *      order those records appear in the old log: deterministic), one
 *      fdatasync per new segment
 *   4. MANIFEST.tmp, fsync, rename        COMMIT POINT: new set
 *   5. fsync directory                    new set, durable
 *   6. write the new HINT                 new set
 *   7. unlink old segments, fsync dir     new set (+ old files = leftovers)
 * The old set stays complete until step 4 and the new one is complete
 * before it, so a reader sees one or the other, never a mix.
 *
 * Erasure: an unsubscribed number's records exist only in old segments and
 * the old HINT, both unlinked here; the new HINT is a dump of an index that
 * never held it. (What the file system does with freed blocks is outside
 * the store's reach: see FORMAT.md, downsides.)
 *
 * How, so that it costs about one sequential read of the old log and one
 * sequential write of the new one:
 *   - which records survive is decided from the index, not per record: one
 *     pass over the slots sets bit `ordinal` of a bitmap for every number
 *     that is not unsubscribed (its latest record is the one the index
 *     points at). The new ordinal of a kept record is the number of kept
 *     records before it: a rank over the bitmap (a prefix count per word).
 *   - the index is not rebuilt from the records: after the commit point it
 *     is rewritten in place (erase_in_place: renumbered, the unsubscribed
 *     removed; only entries behind a removal in their cluster are hashed
 *     again), with no allocation, so nothing can fail there. When the
 *     erased numbers would leave it oversized, a smaller table is built
 *     before the commit point instead, from the old one in slot order
 *     (nearly ascending hash order: written nearly sequentially).
 *   - the old segments are read sequentially in 1 MiB chunks (sublog_scan,
 *     which checks every record's checksum); a kept record is copied as
 *     its stored bytes into a 1 MiB buffer written with one pwrite when
 *     full; each new segment is fdatasync'd once (its header is not synced
 *     on its own: the segment's final fdatasync covers it).
 * The kept records must be exactly the live entries of the index, or the
 * compaction fails with BND_E_STORE_CORRUPT before the commit point.
 *
 * Appends wait while compaction runs (it holds the store's lock). Extra
 * memory: two bits per record, plus a new index when it shrinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "bnd.h"
#include "format.h"
#include "fsio.h"
#include "store_int.h"

struct cw {
	struct store *s;
	/* output */
	uint8_t *buf;
	size_t len;
	struct store_seg *segs;     /* new segments; the last is being written */
	size_t nsegs, segs_cap;
	uint64_t file_off;          /* bytes of the current new segment on file */
	/* the new block map */
	uint64_t *blk;
	size_t nblk, blk_cap;
	uint64_t nrec;
	uint64_t last_sum;
	uint32_t last_len;
	uint64_t bytes;             /* total new log bytes */
	/* input */
	uint64_t old_ord;
	const uint64_t *keep;       /* bit i set: old record i is kept */
};

static int cw_flush(struct cw *w)
{
	if (!w->len)
		return 0;
	struct store_seg *g = &w->segs[w->nsegs - 1];
	int rc = fsio_pwrite_all(g->fd, w->buf, w->len, (off_t)w->file_off);
	if (rc)
		return rc;
	w->file_off += w->len;
	w->len = 0;
	return 0;
}

static int cw_new_segment(struct cw *w)
{
	int rc;
	if (w->nsegs) {
		if ((rc = cw_flush(w)) || (rc = fsio_fdatasync(w->segs[w->nsegs - 1].fd)))
			return rc;
	}
	if (w->nsegs == w->segs_cap) {
		size_t cap = w->segs_cap ? w->segs_cap * 2 : 8;
		struct store_seg *ns = bnd_realloc(w->segs, cap * sizeof *ns);
		if (!ns)
			return BND_E_NOMEM;
		w->segs = ns;
		w->segs_cap = cap;
	}
	uint64_t seq = w->s->man.last + 1 + w->nsegs;
	int fd;
	if ((rc = store__create_segment(w->s, seq, 0, &fd)))
		return rc;
	w->segs[w->nsegs++] = (struct store_seg){ .seq = seq, .end = FMT_SEG_HDR_LEN, .fd = fd };
	w->file_off = FMT_SEG_HDR_LEN;
	w->last_sum = 0;
	w->last_len = 0;
	return 0;
}

static int cw_blk_push(struct cw *w, uint64_t pos)
{
	if (w->nblk == w->blk_cap) {
		size_t cap = w->blk_cap ? w->blk_cap * 2 : 256;
		uint64_t *nb = bnd_realloc(w->blk, cap * sizeof *nb);
		if (!nb)
			return BND_E_NOMEM;
		w->blk = nb;
		w->blk_cap = cap;
	}
	w->blk[w->nblk++] = pos;
	return 0;
}

/* Scan callback: copy the record when the bitmap keeps it. */
static int keep_live(const struct sublog_rec *r, uint64_t off, void *ud)
{
	(void)off;
	struct cw *w = ud;
	uint64_t ord = w->old_ord++;
	if (!(w->keep[ord >> 6] >> (ord & 63) & 1))
		return 0;
	int rc;
	struct store_seg *g = &w->segs[w->nsegs - 1];
	uint64_t end = w->file_off + w->len;
	if (end + r->len > w->s->seg_max && end > FMT_SEG_HDR_LEN) {
		if ((rc = cw_new_segment(w)))
			return rc;
		g = &w->segs[w->nsegs - 1];
		end = w->file_off;
	}
	if (w->len + r->len > STORE_BUF_BYTES && (rc = cw_flush(w)))
		return rc;
	if (w->nrec % FMT_BLK_RECS == 0 &&
	    (rc = cw_blk_push(w, (uint64_t)(w->nsegs - 1) << FMT_POS_OFF_BITS | end)))
		return rc;
	/* The stored bytes, checksum included: the record is unchanged. */
	memcpy(w->buf + w->len, r->raw, r->len);
	w->len += r->len;
	g->end = end + r->len;
	w->nrec++;
	w->bytes += r->len;
	w->last_sum = r->sum;
	w->last_len = r->len;
	return 0;
}

/*
 * The kept-record bitmap over the old ordinals (every live number's latest
 * record) and its rank directory (rank[i]: kept records before word i).
 * Returns 0, BND_E_NOMEM, or BND_E_STORE_CORRUPT when the index points
 * outside the log or two numbers share a record.
 */
static int build_keep(const struct store *s, uint64_t **keep_out, uint64_t **rank_out,
                      uint64_t *kept_out)
{
	size_t nw = (size_t)((s->nrec + 63) / 64);
	uint64_t *keep = bnd_calloc(nw ? nw : 1, sizeof *keep);
	uint64_t *rank = bnd_malloc((nw ? nw : 1) * sizeof *rank);
	if (!keep || !rank) {
		bnd_free(keep);
		bnd_free(rank);
		return BND_E_NOMEM;
	}
	uint64_t marked = 0;
	for (uint64_t i = 0; i < s->idx.cap; i++) {
		uint64_t w0 = s->idx.hot[i];
		if (!w0 || subidx_w0_state(w0) == SUB_UNSUBSCRIBED)
			continue;
		uint64_t ord = subidx_w1_ord(s->idx.cold[i]);
		if (ord >= s->nrec || keep[ord >> 6] >> (ord & 63) & 1) {
			bnd_free(keep);
			bnd_free(rank);
			return BND_E_STORE_CORRUPT;
		}
		keep[ord >> 6] |= 1ull << (ord & 63);
		marked++;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < nw; i++) {
		rank[i] = sum;
		sum += (uint64_t)__builtin_popcountll(keep[i]);
	}
	*keep_out = keep;
	*rank_out = rank;
	*kept_out = marked;
	return 0;
}

/* Bits set in v. Inline: without -mpopcnt the builtin is a library call. */
static inline uint64_t popcount64(uint64_t v)
{
	v -= (v >> 1) & 0x5555555555555555ull;
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (v * 0x0101010101010101ull) >> 56;
}

/* The new ordinal of kept old record ord: kept records before it. */
static inline uint64_t new_ord(const uint64_t *keep, const uint64_t *rank, uint64_t ord)
{
	return rank[ord >> 6] + popcount64(keep[ord >> 6] & ((1ull << (ord & 63)) - 1));
}

/* A new, smaller index (when the erased numbers leave the old one
 * oversized): every live entry with its record's new ordinal, in the old
 * table's slot order. Allocation only; the old index is untouched. */
static int build_index(const struct store *s, const uint64_t *keep, const uint64_t *rank,
                       uint64_t cap, struct subidx *out)
{
	int rc = subidx_alloc(out, cap);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < s->idx.cap; i++) {
		uint64_t w0 = s->idx.hot[i];
		if (!w0 || subidx_w0_state(w0) == SUB_UNSUBSCRIBED)
			continue;
		uint64_t w1 = s->idx.cold[i];
		subidx_place(out, w0, subidx_w1_with_ord(w1, new_ord(keep, rank, subidx_w1_ord(w1))));
	}
	return 0;
}

/*
 * The same in place, after the commit point (it cannot fail: no
 * allocation): renumber every live entry and remove the unsubscribed ones.
 * Linear probing without tombstones, so a removal must not break the probe
 * chain of an entry behind it in its cluster: walking each cluster in slot
 * order, the entries after the cluster's first removal are taken out and
 * put back from their home, which lands them at or before where they were.
 * The walk starts just after an empty slot, so no cluster straddles its
 * start; a slot that was empty before the walk ends a cluster (the walk
 * never writes ahead of itself, so it sees the original state there).
 */
static void erase_in_place(struct subidx *x, const uint64_t *keep, const uint64_t *rank)
{
	uint64_t cap = x->cap, start = 0;
	while (x->hot[start])
		start++;   /* n <= grow_at < cap: there is an empty slot */
	int hole = 0;
	for (uint64_t k = 1; k <= cap; k++) {
		uint64_t p = start + k < cap ? start + k : start + k - cap;
		uint64_t w0 = x->hot[p];
		if (!w0) {
			hole = 0;
			continue;
		}
		if (subidx_w0_state(w0) == SUB_UNSUBSCRIBED) {
			x->hot[p] = x->cold[p] = 0;
			x->n--;
			hole = 1;
			continue;
		}
		uint64_t w1 = x->cold[p];
		w1 = subidx_w1_with_ord(w1, new_ord(keep, rank, subidx_w1_ord(w1)));
		if (!hole) {
			x->cold[p] = w1;
			continue;
		}
		x->hot[p] = x->cold[p] = 0;
		x->n--;
		subidx_place(x, w0, w1);
	}
}

static void cw_discard(struct cw *w)
{
	for (size_t i = 0; i < w->nsegs; i++) {
		char name[FMT_SEG_NAME_LEN + 1];
		sublog_seg_name(name, w->segs[i].seq);
		close(w->segs[i].fd);
		(void)fsio_unlinkat(w->s->dirfd, name);
	}
	w->nsegs = 0;
}

int compact_run(struct store *s, struct store_compact_info *info)
{
	int rc = store__sync_all(s);
	if (rc)
		return rc;
	info->records_before = s->nrec;
	for (size_t i = 0; i < s->nsegs; i++)
		info->bytes_before += s->segs[i].end - FMT_SEG_HDR_LEN;
	uint64_t live = s->counts[SUB_REQUESTED] + s->counts[SUB_CONFIRMED] + s->counts[SUB_INVALID];
	uint64_t erased = s->counts[SUB_UNSUBSCRIBED];
	struct cw w = { .s = s };
	struct subidx nidx = { 0 };
	uint64_t *keep = NULL, *rank = NULL, kept = 0;
	w.buf = bnd_malloc(STORE_BUF_BYTES);
	if (!w.buf) {
		rc = BND_E_NOMEM;
		goto fail;
	}
	if ((rc = build_keep(s, &keep, &rank, &kept)))
		goto fail;
	if (kept != live) {
		rc = BND_E_STORE_CORRUPT;
		goto fail;
	}
	/* Same capacity (the usual case: erased numbers are a small part):
	 * the index is rewritten in place after the commit point; smaller: a
	 * new table now. */
	uint64_t ncap = subidx_cap_for(live);
	if (ncap < s->idx.cap && (rc = build_index(s, keep, rank, ncap, &nidx)))
		goto fail;
	w.keep = keep;

	/* 2: no copy of the old index may outlive the old segments. */
	rc = fsio_unlinkat(s->dirfd, FMT_HINT_NAME);
	if (rc && rc != -ENOENT)
		goto fail;
	s->hint_current = 0;

	/* 3: the live set into new segments. */
	if ((rc = cw_new_segment(&w)))
		goto fail;
	for (size_t k = 0; k < s->nsegs; k++) {
		struct sublog_scan_res res;
		rc = sublog_scan(s->segs[k].fd, FMT_SEG_HDR_LEN, s->segs[k].end, keep_live, &w, &res);
		if (!rc && res.tail_err)
			rc = res.tail_err;
		if (rc)
			goto fail;
	}
	if (w.old_ord != s->nrec || w.nrec != live) {
		rc = BND_E_STORE_CORRUPT;
		goto fail;
	}
	if ((rc = cw_flush(&w)) || (rc = fsio_fdatasync(w.segs[w.nsegs - 1].fd)))
		goto fail;

	/* 4: the commit point. */
	struct sublog_manifest m = s->man;
	m.gen++;
	m.first = s->man.last + 1;
	m.last = s->man.last + w.nsegs;
	uint8_t mb[FMT_MAN_LEN];
	sublog_manifest_encode(mb, &m);
	int fd = fsio_openat(s->dirfd, FMT_MANIFEST_TMP, O_WRONLY | O_CREAT | O_TRUNC);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	rc = fsio_pwrite_all(fd, mb, sizeof mb, 0);
	if (!rc)
		rc = fsio_fsync(fd);
	close(fd);
	if (!rc)
		rc = fsio_renameat(s->dirfd, FMT_MANIFEST_TMP, FMT_MANIFEST_NAME);
	if (rc) {
		(void)fsio_unlinkat(s->dirfd, FMT_MANIFEST_TMP);
		goto fail;
	}
	/* 5: from here the new set is in force, whatever happens next. */
	int drc = store__fsync_dir(s);

	/* Install the new set in memory. */
	struct store_seg *old = s->segs;
	size_t nold = s->nsegs;
	uint64_t old_first = s->man.first;
	if (nidx.hot) {
		subidx_free(&s->idx);
		s->idx = nidx;
		memset(&nidx, 0, sizeof nidx);
	} else {
		erase_in_place(&s->idx, keep, rank);
	}
	bnd_free(keep);
	bnd_free(rank);
	keep = rank = NULL;
	s->counts[SUB_UNSUBSCRIBED] = 0;
	bnd_free(s->blk);
	s->blk = w.blk;
	s->nblk = w.nblk;
	s->blk_cap = w.blk_cap;
	w.blk = NULL;
	s->nrec = w.nrec;
	s->last_sum = w.last_sum;
	s->last_len = w.last_len;
	s->segs = w.segs;
	s->nsegs = w.nsegs;
	s->segs_cap = w.segs_cap;
	w.segs = NULL;
	s->man = m;
	s->file_off = s->segs[s->nsegs - 1].end;
	s->buf_len = 0;
	info->records_after = s->nrec;
	info->bytes_after = w.bytes;
	info->erased = erased;
	bnd_free(w.buf);
	for (size_t i = 0; i < nold; i++)
		close(old[i].fd);
	bnd_free(old);
	if (drc) {
		/* The switch may not be durable: keep every file, stop appending;
		 * the next open decides from the MANIFEST that survived. */
		s->failed = drc;
		return drc;
	}

	/* 6 and 7. Failures here leave derived data or leftovers only. */
	int hrc = hint_write(s);
	if (hrc)
		bnd_log(BND_LOG_WARN, STORE_MOD, "compaction: could not write the hint: %s",
		        bnd_strerror(hrc));
	int urc = 0;
	for (size_t i = 0; i < nold; i++) {
		char name[FMT_SEG_NAME_LEN + 1];
		sublog_seg_name(name, old_first + i);
		int r = fsio_unlinkat(s->dirfd, name);
		if (r && r != -ENOENT && !urc)
			urc = r;
	}
	if (!urc)
		urc = store__fsync_dir(s);
	if (urc)
		bnd_log(BND_LOG_WARN, STORE_MOD, "compaction: old segments not all removed (%s); "
		        "the next writer open removes them", bnd_strerror(urc));
	return 0;
fail:
	cw_discard(&w);
	bnd_free(w.segs);
	bnd_free(w.buf);
	bnd_free(w.blk);
	bnd_free(keep);
	bnd_free(rank);
	subidx_free(&nidx);
	return rc;
}
