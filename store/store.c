/*
 * store.c - the subscriber store: open and recovery, appends with group
 * commit, lookups, the ordered confirmed view, close.
 *
 * format: see FORMAT.md (constants in format.h). Hint file: hint.c.
 * Compaction: compact.c. Record bytes and scanning: sublog.c. Index: subidx.c.
 *
 * Shape (Bitcask/Sparkey): a directory holds a MANIFEST naming the live
 * segments first..last and a generation, the segments (append-only
 * records), a HINT (a snapshot of the index tied to the log position it
 * covers) and a LOCK. Only the last segment is ever appended to; a segment
 * is sealed (fdatasync'd) before the MANIFEST names its successor, so damage
 * anywhere but at the end of the last segment is real damage.
 *
 * Appends go into a 1 MiB userspace buffer and reach the file in big
 * pwrite()s, so an import costs a few syscalls per megabyte. Durability is
 * group commit: store_sync's caller becomes the leader when no sync runs,
 * writes the buffer, drops the lock for one fdatasync and then wakes every
 * caller whose ticket that covered; callers arriving meanwhile wait and
 * share the next one.
 *
 * Failure policy (fsyncgate): after a failed fdatasync the kernel may have
 * dropped the dirty pages, so the store refuses appends (-EIO) until it is
 * reopened and rebuilt from what is really on disk. A failed pwrite is the
 * same, except ENOSPC/EDQUOT/EFBIG: nothing was lost from the page cache, so
 * the file is truncated back to its last good offset (no half record
 * stays), the buffered records stay buffered, the call that needed the
 * space fails with -ENOSPC, and appends work again once space is freed.
 * If that truncate fails too, the store fails like for -EIO, and the torn
 * tail is repaired by the next writer open.
 *
 * Invariants (under mu): every record in buf or in the file is also in the
 * index; nrec counts them; blk[i] is the position of record i*FMT_BLK_RECS;
 * lsn >= synced_lsn; buf holds bytes [file_off, file_off + buf_len) of the
 * last segment.
 */
#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bnd.h"
#include "format.h"
#include "fsio.h"
#include "phone.h"
#include "store_int.h"

#define SRC_SET_CAP (2u * STORE_SRC_WINDOW)   /* load <= 0.5 */
#define POS_OFF_MASK ((1ull << FMT_POS_OFF_BITS) - 1)

const char *sub_state_name(int st)
{
	switch (st) {
	case SUB_NONE: return "none";
	case SUB_REQUESTED: return "requested";
	case SUB_CONFIRMED: return "confirmed";
	case SUB_UNSUBSCRIBED: return "unsubscribed";
	case SUB_INVALID: return "invalid";
	default: return "?";
	}
}

static void set_err(struct store_open_info *info, const char *file, uint64_t off)
{
	size_t n = strlen(file);
	if (n >= sizeof info->err_file)
		n = sizeof info->err_file - 1;
	memcpy(info->err_file, file, n);
	info->err_file[n] = 0;
	info->err_offset = off;
}

/* ---------------------------------------------------------------- helpers */

int store__fsync_dir(struct store *s)
{
	return fsio_fsync(s->dirfd);
}

int store__write_manifest(struct store *s, const struct sublog_manifest *m)
{
	uint8_t b[FMT_MAN_LEN];
	sublog_manifest_encode(b, m);
	int fd = fsio_openat(s->dirfd, FMT_MANIFEST_TMP, O_WRONLY | O_CREAT | O_TRUNC);
	if (fd < 0)
		return fd;
	int rc = fsio_pwrite_all(fd, b, sizeof b, 0);
	if (!rc)
		rc = fsio_fsync(fd);
	close(fd);
	if (!rc)
		rc = fsio_renameat(s->dirfd, FMT_MANIFEST_TMP, FMT_MANIFEST_NAME);
	if (!rc)
		rc = store__fsync_dir(s);
	return rc;
}

/* Create segment seq with its header, fdatasync'd when sync is set (a
 * caller that fdatasyncs the file later anyway, before any MANIFEST names
 * it, passes 0). The directory entry is made durable by the manifest switch
 * that follows (it fsyncs the dir). */
int store__create_segment(struct store *s, uint64_t seq, int sync, int *fd_out)
{
	char name[FMT_SEG_NAME_LEN + 1];
	uint8_t h[FMT_SEG_HDR_LEN];
	sublog_seg_name(name, seq);
	sublog_seg_hdr_encode(h, s->man.id, seq);
	int fd = fsio_openat(s->dirfd, name, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0)
		return fd;
	int rc = fsio_pwrite_all(fd, h, sizeof h, 0);
	if (!rc && sync)
		rc = fsio_fdatasync(fd);
	if (rc) {
		close(fd);
		(void)fsio_unlinkat(s->dirfd, name);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

uint64_t store__src_hash(const uint8_t *src, size_t len)
{
	uint64_t h = XXH3_64bits_withSeed(src, len, FMT_SRC_SEED);
	return h ? h : 1;
}

static uint64_t src_home(uint64_t h)
{
	return h & (SRC_SET_CAP - 1);
}

/*
 * The source-id window: a ring of the last STORE_SRC_WINDOW hashes in
 * arrival order, and a set of the DISTINCT hashes in it with the number of
 * ring entries holding each. "Seen" means "in the set". A push evicts the
 * oldest ring entry (decrementing its count, deleting the hash when that
 * was its last copy) and adds the new one (incrementing, or inserting with
 * count 1). The set never holds more than WINDOW hashes at load <= 0.5, so
 * every operation is a short probe whatever the ids: a source id repeated
 * a million times (the CLI's "import") is one entry with a big count, not
 * a million-entry cluster.
 */

/* The slot of h, or the empty slot that ends its probe chain. */
static uint64_t src_slot(struct store *s, uint64_t h)
{
	const uint64_t *set = s->src_set;
	uint64_t j = src_home(h);
	s->stats.src_probes++;
	while (set[j] && set[j] != h) {
		j = (j + 1) & (SRC_SET_CAP - 1);
		s->stats.src_probes++;
	}
	return j;
}

static void src_set_add(struct store *s, uint64_t h)
{
	uint64_t j = src_slot(s, h);
	if (s->src_set[j]) {
		s->src_cnt[j]++;
		return;
	}
	s->src_set[j] = h;
	s->src_cnt[j] = 1;
}

/* Drop one copy of h; the last copy leaves the set (backward-shift
 * deletion keeps probe chains unbroken without tombstones). */
static void src_set_drop(struct store *s, uint64_t h)
{
	uint64_t *set = s->src_set;
	uint32_t *cnt = s->src_cnt;
	uint64_t mask = SRC_SET_CAP - 1, i = src_slot(s, h);
	if (!set[i] || --cnt[i])
		return;
	uint64_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		s->stats.src_probes++;
		if (!set[j])
			break;
		uint64_t k = src_home(set[j]);
		/* Move set[j] into the hole at i unless its home lies in (i, j]. */
		int in_range = i <= j ? (k > i && k <= j) : (k > i || k <= j);
		if (!in_range) {
			set[i] = set[j];
			cnt[i] = cnt[j];
			i = j;
		}
	}
	set[i] = 0;
	cnt[i] = 0;
}

static void src_free(struct store *s)
{
	bnd_free(s->src_ring);
	bnd_free(s->src_set);
	bnd_free(s->src_cnt);
	s->src_ring = s->src_set = NULL;
	s->src_cnt = NULL;
	s->src_total = 0;
}

static int src_alloc(struct store *s)
{
	if (s->src_ring)
		return 0;
	s->src_ring = bnd_calloc(STORE_SRC_WINDOW, sizeof(uint64_t));
	s->src_set = bnd_calloc(SRC_SET_CAP, sizeof(uint64_t));
	s->src_cnt = bnd_calloc(SRC_SET_CAP, sizeof(uint32_t));
	if (!s->src_ring || !s->src_set || !s->src_cnt) {
		src_free(s);
		return BND_E_NOMEM;
	}
	return 0;
}

void store__src_reset(struct store *s)
{
	src_free(s);
}

int store__src_push(struct store *s, uint64_t h)
{
	int rc = src_alloc(s);
	if (rc)
		return rc;
	uint64_t slot = s->src_total % STORE_SRC_WINDOW;
	if (s->src_total >= STORE_SRC_WINDOW)
		src_set_drop(s, s->src_ring[slot]);
	s->src_ring[slot] = h;
	src_set_add(s, h);
	s->src_total++;
	return 0;
}

static int blk_reserve(struct store *s)
{
	if (s->nblk < s->blk_cap)
		return 0;
	size_t cap = s->blk_cap ? s->blk_cap * 2 : 256;
	uint64_t *nb = bnd_realloc(s->blk, cap * sizeof *nb);
	if (!nb)
		return BND_E_NOMEM;
	s->blk = nb;
	s->blk_cap = cap;
	return 0;
}

int store__blk_push(struct store *s, uint64_t pos)
{
	int rc = blk_reserve(s);
	if (rc)
		return rc;
	s->blk[s->nblk++] = pos;
	return 0;
}

/*
 * Apply one record (replayed or appended) at (seg_idx, off) to the index.
 * Every allocation happens before the first change, so a failure leaves
 * the index as it was.
 */
int store__apply(struct store *s, const struct sublog_rec *r, size_t seg_idx, uint64_t off)
{
	if (s->nrec > SUBIDX_MAX_ORD)
		return BND_E_RANGE;
	int rc;
	int need_blk = s->nrec % FMT_BLK_RECS == 0;
	if (need_blk && (rc = blk_reserve(s)))
		return rc;
	if (r->src_len && (rc = src_alloc(s)))
		return rc;
	unsigned old;
	rc = subidx_put(&s->idx, r->number, r->state, r->t_ms, s->nrec, &old);
	if (rc)
		return rc;
	s->counts[old]--;   /* counts[0] is a scratch slot, reset below */
	s->counts[r->state]++;
	s->counts[SUB_NONE] = 0;
	if (old != r->state && (old == SUB_CONFIRMED || r->state == SUB_CONFIRMED))
		cview_note(&s->view, r->number, r->state == SUB_CONFIRMED);
	if (need_blk)
		s->blk[s->nblk++] = (uint64_t)seg_idx << FMT_POS_OFF_BITS | off;
	if (r->src_len)
		(void)store__src_push(s, store__src_hash(r->src, r->src_len));
	s->nrec++;
	s->last_sum = r->sum;
	s->last_len = r->len;
	return 0;
}

/* ------------------------------------------------------------- appending */

static int is_space_error(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG;
}

/* Write the buffer at file_off. See the failure policy above. */
int store__flush(struct store *s)
{
	if (s->failed)
		return s->failed;
	if (!s->buf_len)
		return 0;
	struct store_seg *last = &s->segs[s->nsegs - 1];
	int rc = fsio_pwrite_all(last->fd, s->buf, s->buf_len, (off_t)s->file_off);
	if (!rc) {
		s->file_off += s->buf_len;
		s->stats.bytes_written += s->buf_len;
		s->buf_len = 0;
		return 0;
	}
	int trc = fsio_ftruncate(last->fd, (off_t)s->file_off);
	if (!is_space_error(rc) || trc) {
		s->failed = rc;
		bnd_log(BND_LOG_ERROR, STORE_MOD, "log write failed (%s): appends refused until reopen",
		        bnd_strerror(rc));
	}
	return rc;
}

/* Group commit; mu held (dropped while fdatasync runs). */
static int sync_locked(struct store *s, uint64_t ticket)
{
	if (ticket == 0 || ticket > s->lsn)
		ticket = s->lsn;
	for (;;) {
		if (s->failed)
			return s->failed;
		if (s->synced_lsn >= ticket)
			return 0;
		if (s->syncing) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		int rc = store__flush(s);
		if (rc)
			return rc;
		uint64_t target = s->lsn;
		int fd = s->segs[s->nsegs - 1].fd;
		s->syncing = 1;
		pthread_mutex_unlock(&s->mu);
		rc = fsio_fdatasync(fd);
		pthread_mutex_lock(&s->mu);
		s->syncing = 0;
		s->stats.fdatasyncs++;
		if (rc) {
			s->failed = rc;
			bnd_log(BND_LOG_ERROR, STORE_MOD,
			        "log fdatasync failed (%s): appends refused until reopen",
			        bnd_strerror(rc));
		} else if (target > s->synced_lsn) {
			s->synced_lsn = target;
		}
		pthread_cond_broadcast(&s->cv);
	}
}

/*
 * Return with mu held, no sync running, the buffer empty and everything
 * appended durable. Waiting drops mu, and other threads may append
 * meanwhile, hence the loop: roll and compaction depend on an empty buffer.
 */
int store__sync_all(struct store *s)
{
	for (;;) {
		int rc = sync_locked(s, s->lsn);
		if (rc)
			return rc;
		while (s->syncing)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->failed)
			return s->failed;
		if (!s->buf_len && s->synced_lsn == s->lsn)
			return 0;
	}
}

/* Seal the last segment and start the next one; mu held. */
static int roll(struct store *s)
{
	int rc = store__sync_all(s);
	if (rc)
		return rc;
	/* Another thread may have rolled while this one waited. */
	if (s->file_off == FMT_SEG_HDR_LEN)
		return 0;
	if (s->nsegs >= (1u << 24) - 1)
		return BND_E_RANGE;
	if (s->nsegs == s->segs_cap) {
		size_t cap = s->segs_cap * 2;
		struct store_seg *ns = bnd_realloc(s->segs, cap * sizeof *ns);
		if (!ns)
			return BND_E_NOMEM;
		s->segs = ns;
		s->segs_cap = cap;
	}
	struct sublog_manifest m = s->man;
	m.last++;
	int fd;
	rc = store__create_segment(s, m.last, 1, &fd);
	if (rc)
		return rc;
	rc = store__write_manifest(s, &m);
	if (rc) {
		/* Whether the rename happened is unknown when the directory fsync
		 * failed: stop appending; reopen sorts it out. */
		close(fd);
		s->failed = -EIO;
		return rc;
	}
	s->man = m;
	s->segs[s->nsegs++] = (struct store_seg){ .seq = m.last, .end = FMT_SEG_HDR_LEN,
	                                          .fd = fd };
	s->file_off = FMT_SEG_HDR_LEN;
	s->last_sum = 0;
	s->last_len = 0;
	return 0;
}

int store_append(struct store *s, uint64_t number, enum sub_state st, uint64_t t_ms,
                 const uint8_t *src, size_t src_len, uint64_t *ticket)
{
	if (!s || !sublog_num_ok(number) || st < SUB_REQUESTED || st > SUB_INVALID ||
	    (src_len && !src))
		return BND_E_INVAL;
	if (src_len > STORE_SRC_MAX || t_ms >> FMT_TMS_BITS)
		return BND_E_RANGE;
	if (s->flags & STORE_RDONLY)
		return BND_E_RDONLY;
	uint8_t rb[FMT_REC_MAX];
	size_t len = sublog_rec_encode(rb, number, st, t_ms, src, src_len);
	struct sublog_rec r = {
		.sum = le64_get(rb + FMT_REC_OFF_SUM), .len = (uint32_t)len, .type = FMT_REC_TYPE_SET,
		.state = (uint8_t)st, .number = number, .t_ms = t_ms, .src_len = (uint8_t)src_len,
		.src = rb + FMT_REC_OFF_SRC,
	};
	int rc;
	pthread_mutex_lock(&s->mu);
	if (s->failed) {
		rc = -EIO;
		goto out;
	}
	struct store_seg *last = &s->segs[s->nsegs - 1];
	uint64_t end = s->file_off + s->buf_len;
	if (end + len > s->seg_max && end > FMT_SEG_HDR_LEN) {
		rc = roll(s);
		if (rc)
			goto out;
		last = &s->segs[s->nsegs - 1];
		end = s->file_off + s->buf_len;
	}
	if (s->buf_len + len > STORE_BUF_BYTES) {
		rc = store__flush(s);
		if (rc)
			goto out;
	}
	rc = store__apply(s, &r, s->nsegs - 1, end);
	if (rc)
		goto out;
	memcpy(s->buf + s->buf_len, rb, len);
	s->buf_len += len;
	s->hint_current = 0;
	last->end = end + len;
	s->lsn++;
	s->stats.appends++;
	if (ticket)
		*ticket = s->lsn;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_sync(struct store *s, uint64_t ticket)
{
	if (!s)
		return BND_E_INVAL;
	if (s->flags & STORE_RDONLY)
		return 0;
	pthread_mutex_lock(&s->mu);
	s->stats.sync_calls++;
	int rc = sync_locked(s, ticket);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* -------------------------------------------------------------- reading */

/* Read n bytes of segment k at off, from the file or the append buffer. */
static int read_log(struct store *s, size_t k, uint64_t off, uint8_t *dst, size_t n)
{
	struct store_seg *g = &s->segs[k];
	if (off > g->end || n > g->end - off)
		return BND_E_STORE_TRUNCATED;
	size_t from_file = n;
	if (k == s->nsegs - 1 && !(s->flags & STORE_RDONLY)) {
		if (off >= s->file_off)
			from_file = 0;
		else if (off + n > s->file_off)
			from_file = (size_t)(s->file_off - off);
	}
	if (from_file) {
		ssize_t r = fsio_pread_all(g->fd, dst, from_file, (off_t)off);
		if (r < 0)
			return (int)r;
		if ((size_t)r != from_file)
			return BND_E_STORE_TRUNCATED;
	}
	if (from_file < n)
		memcpy(dst + from_file, s->buf + (off + from_file - s->file_off), n - from_file);
	return 0;
}

int store__read_record(struct store *s, uint64_t ord, struct store_record *rec)
{
	if (ord >= s->nrec)
		return BND_E_NOTFOUND;
	uint64_t pos = s->blk[ord / FMT_BLK_RECS];
	size_t k = (size_t)(pos >> FMT_POS_OFF_BITS);
	uint64_t off = pos & POS_OFF_MASK;
	uint64_t cur = ord / FMT_BLK_RECS * FMT_BLK_RECS;
	uint8_t chunk[FMT_BLK_RECS * FMT_REC_MAX];
	size_t have = 0, at = 0;
	if (k >= s->nsegs)
		return BND_E_STORE_CORRUPT;
	for (;;) {
		if (off >= s->segs[k].end) {
			if (++k >= s->nsegs)
				return BND_E_STORE_TRUNCATED;
			off = FMT_SEG_HDR_LEN;
			have = at = 0;
		}
		if (at + FMT_REC_MAX > have) {
			/* Refill from off: at most a chunk, at most to the segment end. */
			uint64_t n = s->segs[k].end - off;
			if (n > sizeof chunk)
				n = sizeof chunk;
			int rc = read_log(s, k, off, chunk, (size_t)n);
			if (rc)
				return rc;
			have = (size_t)n;
			at = 0;
		}
		struct sublog_rec r;
		int len = sublog_rec_decode(chunk + at, have - at, &r);
		if (len < 0)
			return len;
		if (cur == ord) {
			rec->number = r.number;
			rec->state = (enum sub_state)r.state;
			rec->t_ms = r.t_ms;
			rec->src_len = r.src_len;
			memcpy(rec->src, r.src, r.src_len);
			return 0;
		}
		cur++;
		at += (size_t)len;
		off += (uint64_t)len;
	}
}

int store_get(struct store *s, uint64_t number, enum sub_state *st, uint64_t *t_ms)
{
	if (!s || !sublog_num_ok(number))
		return BND_E_INVAL;
	pthread_mutex_lock(&s->mu);
	uint64_t home = subidx_home(number, s->idx.cap);
	/* The time's low bits are in the cold word: read only on request, and
	 * then fetched alongside the hot probe (most numbers sit at home). */
	if (t_ms)
		__builtin_prefetch(s->idx.cold + home);
	uint64_t j = subidx_find_from(&s->idx, number, home);
	uint64_t w0 = j != SUBIDX_NONE ? s->idx.hot[j] : 0;
	/* An absent number is usually inserted next (an import asks, then
	 * appends): start loading the cold word the insert will write, or the
	 * append's mutex release waits for that miss. */
	if (!w0)
		__builtin_prefetch(s->idx.cold + home, 0, 3);
	if (st)
		*st = (enum sub_state)subidx_w0_state(w0);
	if (t_ms)
		*t_ms = w0 ? subidx_w_tms(w0, s->idx.cold[j]) : 0;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int store_get_many(struct store *s, const uint64_t *numbers, size_t n, enum sub_state *st)
{
	if (!s || (n && (!numbers || !st)))
		return BND_E_INVAL;
	/* Batches of GET_BATCH: prefetch every home slot first, then probe,
	 * so that the cache misses of a batch overlap instead of queueing. */
	enum { GET_BATCH = 16 };
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i += GET_BATCH) {
		size_t m = n - i < GET_BATCH ? n - i : GET_BATCH;
		for (size_t j = 0; j < m; j++)
			subidx_prefetch(&s->idx, numbers[i + j]);
		for (size_t j = 0; j < m; j++) {
			uint64_t k = sublog_num_ok(numbers[i + j]) ?
				subidx_find(&s->idx, numbers[i + j]) : SUBIDX_NONE;
			st[i + j] = k != SUBIDX_NONE ? (enum sub_state)subidx_w0_state(s->idx.hot[k])
			                             : SUB_NONE;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int store_reserve(struct store *s, uint64_t n)
{
	if (!s)
		return BND_E_INVAL;
	pthread_mutex_lock(&s->mu);
	int rc = subidx_reserve(&s->idx, n);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_get_record(struct store *s, uint64_t number, struct store_record *rec)
{
	if (!s || !rec || !sublog_num_ok(number))
		return BND_E_INVAL;
	pthread_mutex_lock(&s->mu);
	uint64_t j = subidx_find(&s->idx, number);
	int rc = j != SUBIDX_NONE ? store__read_record(s, subidx_w1_ord(s->idx.cold[j]), rec)
	                          : BND_E_NOTFOUND;
	if (!rc && rec->number != number)
		rc = BND_E_STORE_CORRUPT;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_src_seen(struct store *s, const uint8_t *src, size_t src_len)
{
	if (!s || !src_len || !src || src_len > STORE_SRC_MAX)
		return 0;
	uint64_t h = store__src_hash(src, src_len);
	pthread_mutex_lock(&s->mu);
	int seen = s->src_set && s->src_set[src_slot(s, h)] == h;
	pthread_mutex_unlock(&s->mu);
	return seen;
}

void store_count(struct store *s, struct store_counts *c)
{
	memset(c, 0, sizeof *c);
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	for (int i = 1; i < SUB_STATE_COUNT; i++)
		c->by_state[i] = s->counts[i];
	pthread_mutex_unlock(&s->mu);
}

int store_foreach(struct store *s, store_visit_fn fn, void *ud)
{
	if (!s || !fn)
		return BND_E_INVAL;
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	for (uint64_t i = 0; i < s->idx.cap && !rc; i++) {
		uint64_t w0 = s->idx.hot[i];
		if (w0)
			rc = fn(subidx_w0_number(w0), (enum sub_state)subidx_w0_state(w0),
			        subidx_w_tms(w0, s->idx.cold[i]), ud);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Build the confirmed view from the index (mu held). */
static int view_build(struct store *s)
{
	size_t cnt = (size_t)s->counts[SUB_CONFIRMED];
	uint64_t *a = bnd_malloc((cnt ? cnt : 1) * sizeof *a);
	if (!a)
		return BND_E_NOMEM;
	subidx_advise(a, cnt * sizeof *a);
	size_t k = 0;
	const uint64_t *hot = s->idx.hot;
	const uint64_t want = (uint64_t)SUB_CONFIRMED << FMT_STATE_SHIFT;
	const uint64_t smask = ((1ull << FMT_STATE_BITS) - 1) << FMT_STATE_SHIFT;
	for (uint64_t i = 0; i < s->idx.cap; i++) {
		if ((hot[i] & smask) == want && k < cnt)
			a[k++] = hot[i] & SUBIDX_NUM_MASK;
	}
	return cview_build(&s->view, a, k, cnt ? cnt : 1);
}

int store__view_ready(struct store *s)
{
	int rc = s->view.valid ? 0 : view_build(s);
	return rc ? rc : cview_fold(&s->view);
}

int store_confirmed_snapshot(struct store *s, uint64_t **out, size_t *n)
{
	if (!s || !out || !n)
		return BND_E_INVAL;
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->mu);
	int rc = s->view.valid ? 0 : view_build(s);
	if (!rc)
		rc = cview_snapshot(&s->view, out, n);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

#define STREAM_CHUNK 8192u   /* numbers per call: 64 KiB */

int store_confirmed_stream(struct store *s, store_chunk_fn fn, void *ud, size_t *n)
{
	if (n)
		*n = 0;
	if (!s || !fn)
		return BND_E_INVAL;
	pthread_mutex_lock(&s->mu);
	int rc = store__view_ready(s);
	size_t done = 0;
	while (!rc && done < s->view.nbase) {
		size_t k = s->view.nbase - done < STREAM_CHUNK ? s->view.nbase - done : STREAM_CHUNK;
		rc = fn(ud, s->view.base + done, k);
		done += k;
	}
	pthread_mutex_unlock(&s->mu);
	if (n)
		*n = done;
	return rc;
}

void store_confirmed_release(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	cview_drop(&s->view);
	pthread_mutex_unlock(&s->mu);
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	*st = s->stats;
	st->records = s->nrec;
	st->segments = s->nsegs;
	st->index_entries = s->idx.n;
	st->index_bytes = subidx_bytes(&s->idx) + s->blk_cap * sizeof(uint64_t);
	st->view_bytes = cview_bytes(&s->view);
	st->src_bytes = s->src_ring ? (STORE_SRC_WINDOW + SRC_SET_CAP) * sizeof(uint64_t) +
	                              SRC_SET_CAP * sizeof(uint32_t) : 0;
	pthread_mutex_unlock(&s->mu);
}

const char *store_dir(const struct store *s)
{
	return s ? s->dir : NULL;
}

/* ------------------------------------------------------------ open/close */

static void free_store(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].fd >= 0)
			close(s->segs[i].fd);
	}
	bnd_free(s->segs);
	bnd_free(s->buf);
	subidx_free(&s->idx);
	cview_drop(&s->view);
	bnd_free(s->blk);
	src_free(s);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->lockfd >= 0)
		close(s->lockfd);   /* releases the flock */
	bnd_free(s->dir);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	bnd_free(s);
}

static int take_lock(struct store *s, const struct store_opts *opts, struct store_open_info *info)
{
	int fd = fsio_openat(s->dirfd, FMT_LOCK_NAME, O_RDWR | O_CREAT);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK) {
			ssize_t r = fsio_pread_all(fd, info->lock_holder, sizeof info->lock_holder - 1, 0);
			info->lock_holder[r > 0 ? r : 0] = 0;
			char *nl = strchr(info->lock_holder, '\n');
			if (nl)
				*nl = 0;
		}
		close(fd);
		return e == EWOULDBLOCK ? BND_E_LOCKED : -e;
	}
	/* The holder text is a courtesy for the next opener: failures to
	 * write it are ignored and do not go through the fault hook. */
	char text[sizeof info->lock_holder];
	int n = snprintf(text, sizeof text, "%s (pid %ld)\n",
	                 opts && opts->holder ? opts->holder : "banditore", (long)getpid());
	if (ftruncate(fd, 0) == 0 && n > 0)
		(void)!pwrite(fd, text, strlen(text), 0);
	s->lockfd = fd;
	return 0;
}

static int read_manifest(struct store *s, struct sublog_manifest *m, struct store_open_info *info)
{
	uint8_t b[FMT_MAN_LEN];
	int fd = fsio_openat(s->dirfd, FMT_MANIFEST_NAME, O_RDONLY);
	if (fd < 0)
		return fd;
	ssize_t r = fsio_pread_all(fd, b, sizeof b, 0);
	close(fd);
	if (r < 0)
		return (int)r;
	int rc = sublog_manifest_decode(b, (size_t)r, m);
	if (rc)
		set_err(info, FMT_MANIFEST_NAME, 0);
	return rc;
}

/* Segments with records but no MANIFEST are someone's data: refuse. A
 * header-only segment is what an interrupted creation leaves: remove. */
static int create_new(struct store *s, struct store_open_info *info)
{
	DIR *d = fdopendir(dup(s->dirfd));
	if (!d)
		return -errno;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		uint64_t seq;
		if (!sublog_seg_parse_name(e->d_name, &seq))
			continue;
		struct stat st;
		if (fstatat(s->dirfd, e->d_name, &st, 0) == 0 && st.st_size > FMT_SEG_HDR_LEN) {
			set_err(info, e->d_name, 0);
			rc = BND_E_STORE_CORRUPT;
			break;
		}
		if ((rc = fsio_unlinkat(s->dirfd, e->d_name)))
			break;
	}
	closedir(d);
	if (rc)
		return rc;
	if (getrandom(s->man.id, sizeof s->man.id, 0) != (ssize_t)sizeof s->man.id)
		return -errno;
	s->man.gen = 1;
	s->man.first = s->man.last = 1;
	int fd;
	rc = store__create_segment(s, 1, 1, &fd);
	if (rc)
		return rc;
	close(fd);
	rc = store__write_manifest(s, &s->man);
	if (!rc)
		bnd_log(BND_LOG_INFO, STORE_MOD, "created a new store");
	return rc;
}

/* Remove what an interrupted roll or compaction left: segments outside
 * the live set and the store's own temporary files (only those: the data
 * directory may be shared with other modules' files). Writer only. */
static int remove_leftovers(struct store *s)
{
	DIR *d = fdopendir(dup(s->dirfd));
	if (!d)
		return -errno;
	struct dirent *e;
	int rc = 0, removed = 0;
	while ((e = readdir(d))) {
		uint64_t seq;
		int seg = sublog_seg_parse_name(e->d_name, &seq);
		int tmp = strcmp(e->d_name, FMT_MANIFEST_TMP) == 0 ||
		          strcmp(e->d_name, FMT_HINT_TMP) == 0;
		if ((seg && (seq < s->man.first || seq > s->man.last)) || tmp) {
			if ((rc = fsio_unlinkat(s->dirfd, e->d_name)))
				break;
			removed++;
		}
	}
	closedir(d);
	if (!rc && removed) {
		bnd_log(BND_LOG_INFO, STORE_MOD, "removed %d leftover file(s) of an interrupted "
		        "compaction or segment roll", removed);
		rc = store__fsync_dir(s);
	}
	return rc;
}

/* Open every live segment and check its header. */
static int open_segments(struct store *s, struct store_open_info *info)
{
	size_t n = (size_t)(s->man.last - s->man.first + 1);
	s->segs_cap = n < 8 ? 8 : n;
	s->segs = bnd_calloc(s->segs_cap, sizeof *s->segs);
	if (!s->segs)
		return BND_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char name[FMT_SEG_NAME_LEN + 1];
		uint64_t seq = s->man.first + i;
		sublog_seg_name(name, seq);
		int writer_last = i == n - 1 && !(s->flags & STORE_RDONLY);
		int fd = fsio_openat(s->dirfd, name, writer_last ? O_RDWR : O_RDONLY);
		if (fd < 0) {
			set_err(info, name, 0);
			return fd == -ENOENT ? BND_E_STORE_CORRUPT : fd;
		}
		s->segs[s->nsegs++] = (struct store_seg){ .seq = seq, .fd = fd };
		uint8_t h[FMT_SEG_HDR_LEN], id[SUBLOG_ID_LEN];
		uint64_t hseq;
		ssize_t r = fsio_pread_all(fd, h, sizeof h, 0);
		if (r < 0)
			return (int)r;
		int rc = sublog_seg_hdr_decode(h, (size_t)r, id, &hseq);
		if (!rc && (memcmp(id, s->man.id, sizeof id) != 0 || hseq != seq))
			rc = BND_E_STORE_MISMATCH;
		if (rc) {
			set_err(info, name, 0);
			return rc;
		}
		s->segs[i].end = FMT_SEG_HDR_LEN;
	}
	return 0;
}

struct replay_ctx {
	struct store *s;
	size_t seg_idx;
	uint64_t replayed;
};

static int replay_one(const struct sublog_rec *r, uint64_t off, void *ud)
{
	struct replay_ctx *c = ud;
	c->replayed++;
	return store__apply(c->s, r, c->seg_idx, off);
}

/* Replay from (k0, off0) to the end. Torn tail of the last segment:
 * truncated by a writer, ignored by a reader. */
static int replay(struct store *s, size_t k0, uint64_t off0, struct store_open_info *info)
{
	struct replay_ctx c = { .s = s };
	for (size_t k = k0; k < s->nsegs; k++) {
		struct store_seg *g = &s->segs[k];
		struct sublog_scan_res res;
		char name[FMT_SEG_NAME_LEN + 1];
		sublog_seg_name(name, g->seq);
		c.seg_idx = k;
		if (k != k0) {
			/* The hint's last-record check is per segment. */
			s->last_sum = 0;
			s->last_len = 0;
		}
		int rc = sublog_scan(g->fd, k == k0 ? off0 : FMT_SEG_HDR_LEN, UINT64_MAX,
		                     replay_one, &c, &res);
		g->end = res.end;
		if (rc) {
			if (rc <= BND_E_STORE_MAGIC && rc >= BND_E_STORE_MISMATCH)
				set_err(info, name, res.err_off);
			return rc;
		}
		if (!res.tail_err)
			continue;
		if (k != s->nsegs - 1) {
			set_err(info, name, res.err_off);
			return res.tail_err;
		}
		info->tail_dropped_bytes = res.size - res.end;
		if (!(s->flags & STORE_RDONLY)) {
			rc = fsio_ftruncate(g->fd, (off_t)res.end);
			if (!rc)
				rc = fsio_fdatasync(g->fd);
			if (rc)
				return rc;
			bnd_log(BND_LOG_WARN, STORE_MOD,
			        "%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64
			        " truncated (%s)", name, info->tail_dropped_bytes, res.end,
			        bnd_strerror(res.tail_err));
		}
	}
	info->records_replayed = c.replayed;
	return 0;
}

int store_open(struct store **out, const char *dir, const struct store_opts *opts,
               struct store_open_info *info)
{
	struct store_open_info dummy;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof *info);
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	unsigned flags = opts ? opts->flags : 0;
	if (!dir || !*dir || ((flags & STORE_RDONLY) && (flags & STORE_CREATE)))
		return BND_E_INVAL;
	int rc;
	struct store *s = bnd_calloc(1, sizeof *s);
	if (!s)
		return BND_E_NOMEM;
	s->dirfd = s->lockfd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->flags = flags;
	s->seg_max = opts && opts->segment_max_bytes ? opts->segment_max_bytes : FMT_SEG_DEFAULT_MAX;
	if (s->seg_max < FMT_SEG_MIN_MAX)
		s->seg_max = FMT_SEG_MIN_MAX;
	if (s->seg_max > POS_OFF_MASK)
		s->seg_max = POS_OFF_MASK;
	size_t dl = strlen(dir);
	s->dir = bnd_malloc(dl + 1);
	if (!s->dir) {
		rc = BND_E_NOMEM;
		goto fail;
	}
	memcpy(s->dir, dir, dl + 1);
	int writer = !(flags & STORE_RDONLY);
	if (writer) {
		s->buf = bnd_malloc(STORE_BUF_BYTES);
		if (!s->buf) {
			rc = BND_E_NOMEM;
			goto fail;
		}
	}
	if (flags & STORE_CREATE) {
		rc = fsio_mkdir(dir);
		if (rc && rc != -EEXIST)
			goto fail;
	}
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		rc = errno == ENOENT ? BND_E_NOTFOUND : -errno;
		goto fail;
	}
	if (writer && (rc = take_lock(s, opts, info)))
		goto fail;

	/* A read-only opener can race a compaction that replaces the live set
	 * between reading MANIFEST and opening the segments: retry then. */
	for (int attempt = 0;; attempt++) {
		rc = read_manifest(s, &s->man, info);
		if (rc == -ENOENT) {
			if (!(flags & STORE_CREATE)) {
				rc = BND_E_NOTFOUND;
				goto fail;
			}
			rc = create_new(s, info);
		}
		if (rc)
			goto fail;
		rc = open_segments(s, info);
		if (!rc || writer || attempt == 8 || rc != BND_E_STORE_CORRUPT)
			break;
		for (size_t i = 0; i < s->nsegs; i++)
			close(s->segs[i].fd);
		bnd_free(s->segs);
		s->segs = NULL;
		s->nsegs = 0;
		memset(info, 0, sizeof *info);
		usleep(1000u << (attempt < 6 ? attempt : 6));
	}
	if (rc)
		goto fail;

	struct hint_load_res hres = { 0 };
	if (!(flags & STORE_NO_HINT)) {
		rc = hint_load(s, &hres);
		if (rc)
			goto fail;
	}
	info->used_hint = hres.used;
	info->hint_rejected = hres.rejected;
	if (hres.rejected)
		bnd_log(BND_LOG_WARN, STORE_MOD, "hint file does not fit the log: ignored, "
		        "replaying every segment");
	if (!hres.used && (rc = subidx_init(&s->idx, 1024)))
		goto fail;
	rc = replay(s, hres.used ? hres.seg_idx : 0, hres.used ? hres.off : FMT_SEG_HDR_LEN, info);
	if (rc)
		goto fail;
	if (writer) {
		/* The writer keeps the confirmed view from the start, so that the
		 * first fan-out snapshot is a copy too: read from the hint when it
		 * held one (plus the replayed changes as the delta), sorted from
		 * the index otherwise. Optional: without memory for it, the first
		 * snapshot builds it. */
		int view_from_hint = s->view.valid;
		if (!s->view.valid)
			(void)view_build(s);
		s->file_off = s->segs[s->nsegs - 1].end;
		if ((rc = remove_leftovers(s)))
			goto fail;
		/* A hint written without the view is rewritten at the close. */
		s->hint_current = hres.used && !info->records_replayed && !info->tail_dropped_bytes &&
		                  view_from_hint;
		/* A rejected hint is rewritten at once: it may be a stale copy
		 * holding numbers that compaction erased. */
		if (!hres.used && (s->nrec || hres.rejected)) {
			int hrc = hint_write(s);
			if (hrc)
				bnd_log(BND_LOG_WARN, STORE_MOD, "could not write the hint file: %s",
				        bnd_strerror(hrc));
		}
	}
	*out = s;
	return 0;
fail:
	free_store(s);
	return rc;
}

int store_close(struct store **p)
{
	if (!p || !*p)
		return 0;
	struct store *s = *p;
	*p = NULL;
	int rc = 0;
	if (!(s->flags & STORE_RDONLY)) {
		pthread_mutex_lock(&s->mu);
		rc = store__sync_all(s);
		if (!rc && !s->hint_current) {
			int hrc = hint_write(s);
			if (hrc)
				bnd_log(BND_LOG_WARN, STORE_MOD, "could not write the hint file: %s",
				        bnd_strerror(hrc));
		}
		pthread_mutex_unlock(&s->mu);
	}
	free_store(s);
	return rc;
}

int store_checkpoint(struct store *s)
{
	if (!s)
		return BND_E_INVAL;
	if (s->flags & STORE_RDONLY)
		return BND_E_RDONLY;
	pthread_mutex_lock(&s->mu);
	int rc = store__sync_all(s);
	if (!rc && !s->hint_current)
		rc = hint_write(s);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_compact(struct store *s, struct store_compact_info *info)
{
	struct store_compact_info dummy;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof *info);
	if (!s)
		return BND_E_INVAL;
	if (s->flags & STORE_RDONLY)
		return BND_E_RDONLY;
	pthread_mutex_lock(&s->mu);
	int rc = compact_run(s, info);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
