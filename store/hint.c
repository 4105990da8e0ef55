/*
 * hint.c - the HINT file: a snapshot of the index, the block map and the
 * source-id window, tied to the log position it covers, so that opening a
 * big store reads one file sequentially instead of replaying every record.
 *
 * format: see FORMAT.md (constants in format.h).
 *
 * Why a slot dump: the body is the index's slots in table order, each as
 * its two little-endian words (w0, w1), so loading is a sequential read in
 * 1 MiB chunks that are split into the index's hot and cold arrays (the
 * index keeps the two words of a slot apart, subidx.h) and validated in
 * the same pass, with no rehashing: about 16 bytes per slot of sequential
 * I/O. Writing interleaves the arrays back, chunk by chunk. The price is that the hint format includes
 * the hash function, its seed and the probing scheme; changing any of them
 * bumps FMT_HINT_VERSION, and an old hint is then simply rejected and
 * rebuilt (it is derived data).
 *
 * Why the view (version 2): the writer keeps the confirmed numbers sorted
 * (cview.h), and sorting 1M of them at open was the biggest single cost of
 * `banditore send`'s start-up (~128M instructions of the store open's 227M,
 * SENDER.md). The hint stores the folded view after the source window, so
 * an open from a current hint reads 8 bytes per confirmed number and checks
 * the order in one pass instead; records replayed after the hint become
 * the view's delta, as appends do. A reader hashes the view for the body
 * checksum but does not keep it.
 *
 * Trust: a hint is used only when its header checksum, its body checksum,
 * its store id and generation match the MANIFEST, the position it covers
 * lies inside the live log at a record boundary whose checksum the hint
 * also recorded, and every slot holds a possible value. Anything else is
 * "rejected": ignored, the log is replayed in full, and the writer writes a
 * new hint. A hostile hint with valid checksums can at worst make lookups
 * wrong, never crash: entries <= grow_at(cap) < cap keeps an empty slot in
 * every probe chain, and ordinals and positions are bounds-checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bnd.h"
#include "format.h"
#include "fsio.h"
#include "phone.h"
#include "store_int.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hint.c dumps native words: port the slot dump to big-endian hosts first"
#endif

#define MAX_CAP (1ull << 36)   /* a sanity bound on a header field */

static void put_header(uint8_t *h, const struct store *s, uint64_t nsrc, uint32_t flags,
                       uint64_t body_sum)
{
	const struct store_seg *g = &s->segs[s->nsegs - 1];
	memset(h, 0, FMT_HINT_HDR_LEN);
	memcpy(h + FMT_HINT_OFF_MAGIC, FMT_HINT_MAGIC, 8);
	le32_put(h + FMT_HINT_OFF_VERSION, FMT_HINT_VERSION);
	le32_put(h + FMT_HINT_OFF_HDRLEN, FMT_HINT_HDR_LEN);
	memcpy(h + FMT_HINT_OFF_STORE_ID, s->man.id, SUBLOG_ID_LEN);
	le64_put(h + FMT_HINT_OFF_GEN, s->man.gen);
	le64_put(h + FMT_HINT_OFF_SEG, g->seq);
	le64_put(h + FMT_HINT_OFF_SEGOFF, g->end);
	le64_put(h + FMT_HINT_OFF_LASTSUM, s->last_len ? s->last_sum : 0);
	le32_put(h + FMT_HINT_OFF_LASTLEN, s->last_len);
	le32_put(h + FMT_HINT_OFF_FLAGS, flags);
	le64_put(h + FMT_HINT_OFF_RECORDS, s->nrec);
	le64_put(h + FMT_HINT_OFF_CAP, s->idx.cap);
	le64_put(h + FMT_HINT_OFF_NBLK, s->nblk);
	le64_put(h + FMT_HINT_OFF_NSRC, nsrc);
	le64_put(h + FMT_HINT_OFF_ENTRIES, s->idx.n);
	le64_put(h + FMT_HINT_OFF_BODYSUM, body_sum);
	le64_put(h + FMT_HINT_OFF_SUM, XXH3_64bits_withSeed(h, FMT_HINT_OFF_SUM, FMT_HINT_SEED));
}

#define CHUNK_SLOTS 65536u   /* slots per write or read: 1 MiB */

int hint_write(struct store *s)
{
	int rc = store__flush(s);
	if (rc)
		return rc;
	/* The source window in arrival order: [start, WINDOW) then [0, start). */
	uint64_t nsrc = s->src_total < STORE_SRC_WINDOW ? s->src_total : STORE_SRC_WINDOW;
	uint64_t start = s->src_total > STORE_SRC_WINDOW ? s->src_total % STORE_SRC_WINDOW : 0;
	const void *part[3] = { s->blk, s->src_ring ? s->src_ring + start : NULL, s->src_ring };
	size_t plen[3] = { s->nblk * 8, (size_t)(nsrc - start) * 8, (size_t)start * 8 };
	/* The confirmed view goes last, folded; without memory for it the hint
	 * goes without (the next open sorts). */
	uint32_t flags = store__view_ready(s) == 0 ? FMT_HINT_F_VIEW : 0;
	uint64_t *stage = bnd_malloc(CHUNK_SLOTS * FMT_SLOT_BYTES);
	if (!stage)
		return BND_E_NOMEM;

	XXH3_state_t st;
	memset(&st, 0, sizeof st);
	XXH3_64bits_reset_withSeed(&st, FMT_HINT_SEED);
	int fd = fsio_openat(s->dirfd, FMT_HINT_TMP, O_WRONLY | O_CREAT | O_TRUNC);
	if (fd < 0) {
		bnd_free(stage);
		return fd;
	}
	/* The body first (its checksum goes into the header), then the header;
	 * nothing counts before the fdatasync and the rename. */
	uint64_t off = FMT_HINT_HDR_LEN;
	for (uint64_t i = 0; i < s->idx.cap && !rc; i += CHUNK_SLOTS) {
		uint64_t m = s->idx.cap - i < CHUNK_SLOTS ? s->idx.cap - i : CHUNK_SLOTS;
		for (uint64_t k = 0; k < m; k++) {
			stage[2 * k] = s->idx.hot[i + k];
			stage[2 * k + 1] = s->idx.cold[i + k];
		}
		size_t n = (size_t)(m * FMT_SLOT_BYTES);
		XXH3_64bits_update(&st, stage, n);
		rc = fsio_pwrite_all(fd, stage, n, (off_t)off);
		off += n;
	}
	for (int i = 0; i < 3 && !rc; i++) {
		if (!plen[i])
			continue;
		XXH3_64bits_update(&st, part[i], plen[i]);
		rc = fsio_pwrite_all(fd, part[i], plen[i], (off_t)off);
		off += plen[i];
	}
	if (!rc && (flags & FMT_HINT_F_VIEW) && s->view.nbase) {
		size_t n = s->view.nbase * sizeof *s->view.base;
		XXH3_64bits_update(&st, s->view.base, n);
		rc = fsio_pwrite_all(fd, s->view.base, n, (off_t)off);
		off += n;
	}
	bnd_free(stage);
	if (!rc) {
		uint8_t h[FMT_HINT_HDR_LEN];
		put_header(h, s, nsrc, flags, XXH3_64bits_digest(&st));
		rc = fsio_pwrite_all(fd, h, sizeof h, 0);
	}
	if (!rc)
		rc = fsio_fdatasync(fd);
	close(fd);
	if (!rc)
		rc = fsio_renameat(s->dirfd, FMT_HINT_TMP, FMT_HINT_NAME);
	if (!rc)
		rc = store__fsync_dir(s);
	if (rc)
		(void)fsio_unlinkat(s->dirfd, FMT_HINT_TMP);
	else
		s->hint_current = 1;
	return rc;
}

static uint64_t file_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
}

/* The body checksum, computed beside the slot pass (see hint_load). */
struct body_hash {
	int fd;
	uint64_t off, end;   /* bytes [off, end) of the file */
	void *buf;           /* CHUNK_SLOTS * FMT_SLOT_BYTES bytes */
	uint64_t sum;
	int rc;              /* 0, -errno, or 1: the file was shorter */
};

static void *body_hash_run(void *p)
{
	struct body_hash *h = p;
	XXH3_state_t st;
	memset(&st, 0, sizeof st);
	XXH3_64bits_reset_withSeed(&st, FMT_HINT_SEED);
	for (uint64_t off = h->off; off < h->end && !h->rc;) {
		size_t n = h->end - off < CHUNK_SLOTS * FMT_SLOT_BYTES ? (size_t)(h->end - off)
		                                                     : CHUNK_SLOTS * FMT_SLOT_BYTES;
		ssize_t r = fsio_pread_all(h->fd, h->buf, n, (off_t)off);
		if (r < 0)
			h->rc = (int)r;
		else if ((size_t)r != n)
			h->rc = 1;
		XXH3_64bits_update(&st, h->buf, n);
		off += n;
	}
	h->sum = XXH3_64bits_digest(&st);
	return NULL;
}

int hint_load(struct store *s, struct hint_load_res *res)
{
	memset(res, 0, sizeof *res);
	int fd = fsio_openat(s->dirfd, FMT_HINT_NAME, O_RDONLY);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	int rc = 0;
	int fits = 0;
	uint64_t *blk = NULL, *src = NULL, *stage = NULL, *view = NULL;
	struct body_hash bh = { .fd = fd };
	pthread_t bh_thread;
	int bh_started = 0;
	struct subidx idx = { 0 };
	uint8_t h[FMT_HINT_HDR_LEN];
	ssize_t r = fsio_pread_all(fd, h, sizeof h, 0);
	if (r < 0) {
		rc = (int)r;
		goto out;
	}
	if ((size_t)r < sizeof h || memcmp(h, FMT_HINT_MAGIC, 8) != 0 ||
	    le32_get(h + FMT_HINT_OFF_VERSION) != FMT_HINT_VERSION ||
	    le32_get(h + FMT_HINT_OFF_HDRLEN) != FMT_HINT_HDR_LEN ||
	    le64_get(h + FMT_HINT_OFF_SUM) != XXH3_64bits_withSeed(h, FMT_HINT_OFF_SUM, FMT_HINT_SEED))
		goto out;
	/* Identity: this store, this generation, a position inside the log. */
	uint64_t seg = le64_get(h + FMT_HINT_OFF_SEG), seg_off = le64_get(h + FMT_HINT_OFF_SEGOFF);
	uint64_t last_sum = le64_get(h + FMT_HINT_OFF_LASTSUM);
	uint32_t last_len = le32_get(h + FMT_HINT_OFF_LASTLEN);
	uint64_t records = le64_get(h + FMT_HINT_OFF_RECORDS), cap = le64_get(h + FMT_HINT_OFF_CAP);
	uint64_t nblk = le64_get(h + FMT_HINT_OFF_NBLK), nsrc = le64_get(h + FMT_HINT_OFF_NSRC);
	uint64_t entries = le64_get(h + FMT_HINT_OFF_ENTRIES);
	uint32_t flags = le32_get(h + FMT_HINT_OFF_FLAGS);
	if (memcmp(h + FMT_HINT_OFF_STORE_ID, s->man.id, SUBLOG_ID_LEN) != 0 ||
	    le64_get(h + FMT_HINT_OFF_GEN) != s->man.gen || seg < s->man.first || seg > s->man.last)
		goto out;
	size_t k = (size_t)(seg - s->man.first);
	uint64_t seg_size = file_size(s->segs[k].fd);
	if (seg_off < FMT_SEG_HDR_LEN || seg_off > seg_size)
		goto out;
	if (last_len) {
		uint8_t rb[FMT_REC_MAX];
		struct sublog_rec rec;
		if (last_len < FMT_REC_FIXED || last_len > FMT_REC_MAX ||
		    seg_off - FMT_SEG_HDR_LEN < last_len)
			goto out;
		r = fsio_pread_all(s->segs[k].fd, rb, last_len, (off_t)(seg_off - last_len));
		if (r != (ssize_t)last_len || sublog_rec_decode(rb, last_len, &rec) != (int)last_len ||
		    rec.sum != last_sum)
			goto out;
	} else if (seg_off != FMT_SEG_HDR_LEN) {
		goto out;
	}
	if (cap < 64 || cap > MAX_CAP || entries > subidx_grow_at(cap) || records > SUBIDX_MAX_ORD + 1 ||
	    nblk != (records + FMT_BLK_RECS - 1) / FMT_BLK_RECS || nsrc > STORE_SRC_WINDOW ||
	    entries > records || (flags & ~FMT_HINT_F_VIEW))
		goto out;
	/* The view's length is the confirmed slot count: checked after the slots. */
	uint64_t fsize = file_size(fd), fixed = FMT_HINT_HDR_LEN + cap * FMT_SLOT_BYTES + nblk * 8 + nsrc * 8;
	if ((flags & FMT_HINT_F_VIEW) ? fsize < fixed : fsize != fixed)
		goto out;

	blk = bnd_malloc((size_t)((nblk > 256 ? nblk : 256) * 8));
	src = nsrc ? bnd_malloc((size_t)nsrc * 8) : NULL;
	stage = bnd_malloc(CHUNK_SLOTS * FMT_SLOT_BYTES);
	bh.buf = bnd_malloc(CHUNK_SLOTS * FMT_SLOT_BYTES);
	if (!blk || (nsrc && !src) || !stage || !bh.buf || (rc = subidx_alloc(&idx, cap))) {
		rc = BND_E_NOMEM;
		goto out;
	}
	/* The body checksum is computed by a second thread reading the file
	 * on its own while this one splits and checks the slots (on a
	 * multi-core machine the hash, a third of the load's instructions,
	 * leaves the critical path); without a thread, it is computed here
	 * after the pass. Nothing is installed before both agree. */
	bh.off = FMT_HINT_HDR_LEN;
	bh.end = fsize;
	bh_started = pthread_create(&bh_thread, NULL, body_hash_run, &bh) == 0;
	uint64_t off = FMT_HINT_HDR_LEN;
	/* The slots, chunk by chunk into the hot and cold arrays; every slot
	 * must hold a possible value. */
	uint64_t counts[SUB_STATE_COUNT] = { 0 }, n = 0;
	int bad = 0;
	for (uint64_t i = 0; i < cap; i += CHUNK_SLOTS) {
		uint64_t m = cap - i < CHUNK_SLOTS ? cap - i : CHUNK_SLOTS;
		size_t bytes = (size_t)(m * FMT_SLOT_BYTES);
		r = fsio_pread_all(fd, stage, bytes, (off_t)off);
		if (r < 0 || (size_t)r != bytes) {
			if (r < 0)
				rc = (int)r;
			goto out;
		}
		off += bytes;
		for (uint64_t j = 0; j < m; j++) {
			const uint64_t *sl = stage + 2 * j;
			idx.hot[i + j] = sl[0];
			idx.cold[i + j] = sl[1];
			if (!sl[0]) {
				bad |= sl[1] != 0;
				continue;
			}
			unsigned stt = subidx_state(sl);
			bad |= !sublog_num_ok(subidx_number(sl)) || stt < SUB_REQUESTED ||
			       stt > SUB_INVALID || subidx_ord(sl) >= records;
			counts[stt < SUB_STATE_COUNT ? stt : 0]++;   /* a bad one rejects below */
			n++;
		}
	}
	struct { void *p; size_t n; } part[2] = { { blk, (size_t)nblk * 8 }, { src, (size_t)nsrc * 8 } };
	for (int i = 0; i < 2; i++) {
		if (!part[i].n)
			continue;
		r = fsio_pread_all(fd, part[i].p, part[i].n, (off_t)off);
		if (r < 0 || (size_t)r != part[i].n) {
			if (r < 0)
				rc = (int)r;
			goto out;
		}
		off += part[i].n;
	}
	/* The view: exactly one number per confirmed slot, ascending and
	 * distinct, each a possible number (a hostile one that passes can at
	 * worst list wrong recipients, as wrong slots can; store_verify
	 * compares it with the log). A writer keeps it; a reader only hashes
	 * it, a chunk at a time (store_verify's keeps it). */
	uint64_t nview = (flags & FMT_HINT_F_VIEW) ? counts[SUB_CONFIRMED] : 0;
	if (fsize != fixed + nview * 8 || bad || n != entries)
		goto out;
	if ((flags & FMT_HINT_F_VIEW) && (!(s->flags & STORE_RDONLY) || (s->flags & STORE__KEEP_VIEW))) {
		if (!(view = bnd_malloc((size_t)(nview ? nview : 1) * 8))) {
			rc = BND_E_NOMEM;
			goto out;
		}
		subidx_advise(view, (size_t)nview * 8);
	}
	uint64_t prev = 0;
	for (uint64_t i = 0; i < nview; i += CHUNK_SLOTS * 2) {
		uint64_t m = nview - i < CHUNK_SLOTS * 2 ? nview - i : CHUNK_SLOTS * 2;
		uint64_t *dst = view ? view + i : stage;
		r = fsio_pread_all(fd, dst, (size_t)m * 8, (off_t)off);
		if (r < 0 || (size_t)r != m * 8) {
			if (r < 0)
				rc = (int)r;
			goto out;
		}
		off += m * 8;
		/* Ascending: the first and the last bound every other. */
		bad |= !sublog_num_ok(dst[0]) || !sublog_num_ok(dst[m - 1]);
		for (uint64_t j = 0; j < m; j++) {
			bad |= dst[j] <= prev;
			prev = dst[j];
		}
	}
	if (bh_started) {
		pthread_join(bh_thread, NULL);
		bh_started = 0;
	} else {
		body_hash_run(&bh);
	}
	if (bh.rc < 0) {
		rc = bh.rc;
		goto out;
	}
	if (bh.rc || bh.sum != le64_get(h + FMT_HINT_OFF_BODYSUM) || bad)
		goto out;
	for (uint64_t i = 0; i < nblk; i++) {
		size_t bk = (size_t)(blk[i] >> FMT_POS_OFF_BITS);
		uint64_t boff = blk[i] & ((1ull << FMT_POS_OFF_BITS) - 1);
		if (bk > k || boff < FMT_SEG_HDR_LEN || boff > (bk == k ? seg_off : file_size(s->segs[bk].fd)))
			goto out;
	}

	/* It fits: install. */
	for (uint64_t i = 0; i < nsrc; i++) {
		if ((rc = store__src_push(s, src[i])))
			goto out;
	}
	subidx_free(&s->idx);
	idx.n = n;
	s->idx = idx;
	memset(&idx, 0, sizeof idx);
	memcpy(s->counts, counts, sizeof counts);
	bnd_free(s->blk);
	s->blk = blk;
	s->nblk = (size_t)nblk;
	s->blk_cap = (size_t)(nblk > 256 ? nblk : 256);
	blk = NULL;
	s->nrec = records;
	for (size_t i = 0; i < k; i++)
		s->segs[i].end = file_size(s->segs[i].fd);
	s->segs[k].end = seg_off;
	s->last_sum = last_len ? last_sum : 0;
	s->last_len = last_len;
	if (view) {
		cview_adopt(&s->view, view, (size_t)nview, (size_t)(nview ? nview : 1));
		view = NULL;
	}
	res->used = 1;
	res->seg_idx = k;
	res->off = seg_off;
	fits = 1;
out:
	if (bh_started)
		pthread_join(bh_thread, NULL);
	bnd_free(bh.buf);
	close(fd);
	subidx_free(&idx);
	bnd_free(stage);
	bnd_free(blk);
	bnd_free(src);
	bnd_free(view);
	if (!rc && !fits) {
		/* Undo a partial source-window load. */
		store__src_reset(s);
		res->rejected = 1;
	}
	return rc;
}
