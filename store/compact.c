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
 *      order those records appear in the old log: deterministic), fdatasync
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
 * Appends wait while compaction runs (it holds the store's lock). Peak
 * memory: the old and the new index at once.
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
	/* the new index */
	struct subidx idx;
	uint64_t counts[SUB_STATE_COUNT];
	uint64_t *blk;
	size_t nblk, blk_cap;
	uint64_t nrec;
	uint64_t last_sum;
	uint32_t last_len;
	uint64_t bytes;             /* total new log bytes */
	/* input */
	uint64_t old_ord;
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
	if ((rc = store__create_segment(w->s, seq, &fd)))
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

/* Scan callback: keep the record when it is its number's latest and the
 * number is not unsubscribed. */
static int keep_live(const struct sublog_rec *r, uint64_t off, void *ud)
{
	(void)off;
	struct cw *w = ud;
	uint64_t ord = w->old_ord++;
	const uint64_t *slot = subidx_find(&w->s->idx, r->number);
	if (!slot)
		return BND_E_STORE_CORRUPT;   /* the index is built from this log */
	if (subidx_ord(slot) != ord || r->state == SUB_UNSUBSCRIBED)
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
	if ((rc = subidx_put(&w->idx, r->number, r->state, r->t_ms, w->nrec, NULL)))
		return rc;
	size_t len = sublog_rec_encode(w->buf + w->len, r->number, r->state, r->t_ms, r->src,
	                               r->src_len);
	w->len += len;
	g->end = end + len;
	w->counts[r->state]++;
	w->nrec++;
	w->bytes += len;
	w->last_sum = r->sum;
	w->last_len = r->len;
	return 0;
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
	w.buf = bnd_malloc(STORE_BUF_BYTES);
	if (!w.buf) {
		rc = BND_E_NOMEM;
		goto fail;
	}
	if ((rc = subidx_init(&w.idx, live)))
		goto fail;

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
	if (w.old_ord != s->nrec) {
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
	subidx_free(&s->idx);
	s->idx = w.idx;
	memset(&w.idx, 0, sizeof w.idx);
	memcpy(s->counts, w.counts, sizeof s->counts);
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
	subidx_free(&w.idx);
	return rc;
}
