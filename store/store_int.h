/*
 * store_int.h - the store's private state, shared by store.c, hint.c and
 * compact.c (and read by white-box tests). Not an API: fields change.
 *
 * Locking: every field below mu is protected by mu, except that a sync
 * leader drops mu around fdatasync while `syncing` is set; anything that
 * replaces the current segment fd (roll, compaction, close) first waits for
 * syncing == 0.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "cview.h"
#include "store.h"
#include "sublog.h"
#include "subidx.h"

#define STORE_MOD "store"          /* module name for bnd_log */
#define STORE_BUF_BYTES (1u << 20) /* userspace append buffer */

struct store_seg {
	uint64_t seq;        /* segment sequence number (file name) */
	uint64_t end;        /* bytes of valid data (last segment: file_off + buffered) */
	int fd;              /* open for reading (writer's last one: read-write) */
};

struct store {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *dir;
	int dirfd;
	int lockfd;                  /* -1 for read-only handles */
	unsigned flags;              /* STORE_* */
	uint64_t seg_max;

	struct sublog_manifest man;  /* the live set in force */
	struct store_seg *segs;      /* man.last - man.first + 1 of them */
	size_t nsegs, segs_cap;

	/* pending appends: buf holds bytes of the last segment at file_off */
	uint8_t *buf;
	size_t buf_len;
	uint64_t file_off;

	/* the index and what hangs off it */
	struct subidx idx;
	uint64_t counts[SUB_STATE_COUNT];
	uint64_t nrec;               /* records in the live log = next ordinal */
	uint64_t *blk;               /* position of record i*FMT_BLK_RECS */
	size_t nblk, blk_cap;
	struct cview view;           /* the confirmed numbers, sorted (a cache) */
	uint64_t last_sum;           /* checksum and length of the last record */
	uint32_t last_len;           /* of the last segment (0: none yet) */

	/* recent source ids: ring in arrival order + the distinct hashes in it
	 * with their number of copies in the ring, for lookups */
	uint64_t *src_ring;          /* STORE_SRC_WINDOW hashes, NULL until used */
	uint64_t src_total;          /* hashes ever pushed (ring position) */
	uint64_t *src_set;           /* open addressing, 0 = empty */
	uint32_t *src_cnt;           /* copies of src_set[i] in the ring */

	/* group commit */
	uint64_t lsn;                /* appends so far (tickets) */
	uint64_t synced_lsn;         /* appends known durable */
	int syncing;                 /* a leader is in fdatasync */
	int failed;                  /* sticky -errno after a failed write/fsync */

	/* the HINT on disk describes exactly the current state (nothing was
	 * appended or replayed beyond it): close need not rewrite it */
	int hint_current;

	struct store_stats stats;
};

/* store.c: helpers shared with hint.c / compact.c */
int store__apply(struct store *s, const struct sublog_rec *r, size_t seg_idx, uint64_t off);
int store__write_manifest(struct store *s, const struct sublog_manifest *m);
int store__fsync_dir(struct store *s);
int store__create_segment(struct store *s, uint64_t seq, int sync, int *fd_out);
int store__src_push(struct store *s, uint64_t h);
void store__src_reset(struct store *s);   /* free the window: empty again */
uint64_t store__src_hash(const uint8_t *src, size_t len);
int store__blk_push(struct store *s, uint64_t pos);
int store__flush(struct store *s);
int store__sync_all(struct store *s);
int store__read_record(struct store *s, uint64_t ord, struct store_record *rec);

/* hint.c */
struct hint_load_res {
	int used;          /* loaded: replay resumes at (seg_idx, off) */
	int rejected;      /* a hint existed but did not fit */
	size_t seg_idx;
	uint64_t off;
};
/* hint_write - snapshot the index of s (all appends flushed) to HINT via
 * HINT.tmp, fsync, rename, fsync dir. 0 or -errno / BND_E_NOMEM. */
int hint_write(struct store *s);
/* hint_load - load HINT into s (empty index) if it fits the live set whose
 * segments are open in s->segs. A hint that does not fit sets rejected and
 * leaves s empty; returns 0 then too. Returns -errno / BND_E_NOMEM on
 * failures that are not the hint's fault. */
int hint_load(struct store *s, struct hint_load_res *res);

/* An open flag for store_verify only (beside enum store_flags): a
 * read-only open that keeps the hint's stored view, to compare it. */
#define STORE__KEEP_VIEW (1u << 30)

/* store__view_ready - make the confirmed view valid (built from the index
 * if it is not) and folded: s->view.base[0 .. nbase) is then the exact
 * ascending set. mu held (or open/close). 0 or BND_E_NOMEM (no view). */
int store__view_ready(struct store *s);

/* compact.c */
int compact_run(struct store *s, struct store_compact_info *info);

#endif
