/*
 * store.h - the subscriber store: an append-only, checksummed log of
 * subscription records in segments, an in-memory open-addressing index
 * keyed by the packed number (phone.h) and hashed with XXH3, a hint file
 * so that opening does not replay all history, group commit, compaction
 * that physically erases unsubscribed numbers, and a single-writer lock.
 *
 * The log is also the consent ledger: every record keeps when a transition
 * happened and which inbound message (WhatsApp message id) caused it.
 * The byte layout is in store/FORMAT.md; its constants live in format.h.
 *
 * Threading: a struct store may be used from several threads at once; every
 * function takes the store's internal lock where needed. store_sync blocks.
 *
 * Ownership: the store owns everything reachable from its handle until
 * store_close. Memory returned through an out-pointer says who frees it.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Subscription states. Values are part of the file format: never renumber. */
enum sub_state {
	SUB_NONE = 0,          /* never seen (not stored; what store_get reports) */
	SUB_REQUESTED = 1,     /* "JESI ON" received, welcome not yet accepted */
	SUB_CONFIRMED = 2,     /* welcome accepted by the API: receives notices */
	SUB_UNSUBSCRIBED = 3,  /* opted out; erased from disk by compaction */
	SUB_INVALID = 4,       /* the API says the number cannot receive */
};
#define SUB_STATE_COUNT 5

/* "none", "requested", "confirmed", "unsubscribed", "invalid"; "?" otherwise. */
const char *sub_state_name(int st);

#define STORE_SRC_MAX 255      /* longest source id (a wamid is ~60-100 bytes) */

enum store_flag {
	STORE_RDONLY = 1 << 0,   /* no lock, never repairs: reads up to the last
	                            valid record (count, status, verify while
	                            serve runs) */
	STORE_CREATE = 1 << 1,   /* create the directory (0700) and files (0600) */
	STORE_NO_HINT = 1 << 2,  /* ignore the hint file and replay every segment */
};

struct store_opts {
	unsigned flags;             /* STORE_* */
	const char *holder;         /* written into the lock file for a clear
	                               "locked by ..." message; may be NULL */
	uint64_t segment_max_bytes; /* roll to a new segment past this; 0: default */
};

/* What store_open found; every field is filled on success and on failure. */
struct store_open_info {
	int used_hint;               /* 1 when the hint file was loaded */
	int hint_rejected;           /* 1 when a hint existed but was stale,
	                                mismatched or damaged (then ignored) */
	uint64_t records_replayed;   /* log records read beyond the hint */
	uint64_t tail_dropped_bytes; /* torn tail: truncated (writer) or ignored
	                                (reader) */
	char err_file[64];           /* on damage: the file name in the directory */
	uint64_t err_offset;         /* on damage: the byte offset in err_file */
	char lock_holder[256];       /* on BND_E_LOCKED: the holder's description */
};

/*
 * store_open - open (or with STORE_CREATE create) the store in dir.
 * opts may be NULL (writer, no create, default sizes); info may be NULL.
 * A writer takes the directory's lock without waiting, truncates a torn tail
 * (reported in info) and removes leftovers of an interrupted compaction.
 * Returns 0 and sets *out; or
 *   BND_E_LOCKED          another process holds the writer lock
 *   BND_E_NOTFOUND        no store in dir and no STORE_CREATE
 *   BND_E_STORE_MAGIC, _VERSION, _CHECKSUM, _TRUNCATED, _CORRUPT
 *                         damage before the tail (info names file and offset)
 *   BND_E_STORE_MISMATCH  a segment belongs to another store or sequence
 *   BND_E_INVAL           dir NULL or empty, or STORE_RDONLY with STORE_CREATE
 *   BND_E_NOMEM, -errno   allocation or system failure
 * On failure *out is NULL and no store data was changed on disk (a writer
 * may have rewritten LOCK's holder text).
 * A writer also writes the hint at once when it had to replay without one.
 * A read-only opener retries a few times (for up to ~0.3 s) when a
 * concurrent compaction replaces the segments under it.
 */
int store_open(struct store **out, const char *dir, const struct store_opts *opts,
               struct store_open_info *info);

/*
 * store_close - sync pending appends, write the hint (writer), release the
 * lock and free everything. Accepts NULL and *s == NULL; sets *s to NULL.
 * Returns 0 or the -errno of a failed final sync (the handle is freed anyway).
 */
int store_close(struct store **s);

/*
 * store_append - append one transition of number to the log and apply it to
 * the index. It is visible to store_get at once and durable after
 * store_sync(s, *ticket) returns 0. src is the source id (the inbound
 * message id), 0..STORE_SRC_MAX bytes, may be NULL when src_len is 0.
 * ticket may be NULL.
 * Returns 0; BND_E_INVAL (bad number or state, or src NULL with src_len);
 * BND_E_RANGE (src too long, t_ms >= 2^42 i.e. past year 2109, or 2^33
 * records since the last compaction); BND_E_RDONLY; BND_E_NOMEM;
 * -ENOSPC, -EIO and other -errno when the write fails: then the record is
 * in neither the log nor the index and earlier data is intact. After
 * -ENOSPC (also -EDQUOT, -EFBIG) appends work again once space is freed;
 * after any other write or sync failure every append returns -EIO until
 * the store is reopened.
 * Appends are buffered in memory (1 MiB) and written in large writes; a
 * segment rolls over past opts->segment_max_bytes.
 */
int store_append(struct store *s, uint64_t number, enum sub_state st, uint64_t t_ms,
                 const uint8_t *src, size_t src_len, uint64_t *ticket);

/*
 * store_sync - group commit: return once every append up to ticket is on
 * stable storage. Callers arriving while a sync runs wait for it and share
 * the next one, so N concurrent callers cost about two fdatasync calls.
 * ticket 0 or UINT64_MAX means "everything appended so far".
 * Returns 0 or the -errno of the failed write or fdatasync; after such a
 * failure the store refuses further appends (-EIO) until it is reopened,
 * because the kernel may have dropped the dirty pages.
 */
int store_sync(struct store *s, uint64_t ticket);

/*
 * store_get - current state of number (SUB_NONE when never seen, with
 * t_ms 0). Either out pointer may be NULL. Returns 0 or BND_E_INVAL.
 */
int store_get(struct store *s, uint64_t number, enum sub_state *st, uint64_t *t_ms);

/*
 * store_get_many - the states of n numbers at once (SUB_NONE for a number
 * never seen or not valid), under one lock acquisition and with the
 * lookups' memory accesses overlapped: several times the rate of n
 * store_get calls on a big store. st has room for n entries.
 * Returns 0 or BND_E_INVAL (NULL arrays with n > 0).
 */
int store_get_many(struct store *s, const uint64_t *numbers, size_t n, enum sub_state *st);

/*
 * store_reserve - size the index for n numbers now, so that a bulk import
 * does not rehash as it grows. Optional. Returns 0 or BND_E_NOMEM.
 */
int store_reserve(struct store *s, uint64_t n);

/* One log record, as stored. */
struct store_record {
	uint64_t number;
	enum sub_state state;
	uint64_t t_ms;                  /* wall-clock milliseconds of the transition */
	size_t src_len;
	uint8_t src[STORE_SRC_MAX];     /* source id, not NUL-terminated */
};

/*
 * store_get_record - the latest record of number, read from the log (the
 * consent ledger entry: state, when, and the source message id). It reads
 * at most 64 records of the log (or the append buffer), so it costs a
 * pread, not a lookup. Returns 0, BND_E_NOTFOUND, BND_E_INVAL (bad number
 * or rec NULL), or a read/damage error (-errno, BND_E_STORE_*).
 */
int store_get_record(struct store *s, uint64_t number, struct store_record *rec);

/*
 * store_src_seen - 1 when a record with this source id was appended among
 * the last STORE_SRC_WINDOW records that carried a source id (across
 * restarts: the window is saved in the hint, or rebuilt from the log on
 * open), else 0. Used to drop webhook redeliveries. Compares 64-bit hashes
 * of the ids (a false "seen" has odds ~2^-46 per call). An id stays seen
 * until its last copy leaves the window. Each push and lookup costs a few
 * probes whatever the ids (one id repeated a million times included). The
 * window costs a fixed 8 MiB, allocated with the first source id.
 */
#define STORE_SRC_WINDOW 262144
int store_src_seen(struct store *s, const uint8_t *src, size_t src_len);

struct store_counts {
	uint64_t by_state[SUB_STATE_COUNT];   /* index 0 (SUB_NONE) is always 0 */
};
void store_count(struct store *s, struct store_counts *c);

/*
 * store_confirmed_snapshot - the dense ordered view for fan-out: the numbers
 * of every confirmed subscriber in ascending numeric order, so that a
 * notice's progress is one ordinal cursor into it. *out is allocated with
 * bnd_malloc and owned by the caller (bnd_free); *n is its length.
 * The store keeps this list sorted as states change (8 bytes per confirmed
 * number, store_stats.view_bytes; a writer builds it at open, a reader at
 * its first snapshot), so a snapshot merges the changes since the last one
 * and copies the list, under the store's lock.
 * Returns 0, BND_E_NOMEM.
 */
int store_confirmed_snapshot(struct store *s, uint64_t **out, size_t *n);

/*
 * store_confirmed_stream - the same ordered list as store_confirmed_snapshot,
 * without the copy: fn is called with consecutive ascending chunks of the
 * kept view (numbers valid only during the call) until the list ends or fn
 * returns non-zero, which is then returned. For a one-shot consumer that
 * writes the list out (`send` streams it into recipients.bin): no 8-byte-
 * per-recipient copy. The store's lock is held throughout, so other
 * threads' store calls wait for fn: keep it to a sequential write. *n (may
 * be NULL) gets the count handed out. Returns 0, fn's code, BND_E_NOMEM.
 */
typedef int (*store_chunk_fn)(void *ud, const uint64_t *numbers, size_t n);
int store_confirmed_stream(struct store *s, store_chunk_fn fn, void *ud, size_t *n);

/*
 * store_confirmed_release - drop the kept sorted view (8 bytes per
 * confirmed number) when this process will take no more snapshots, e.g.
 * `send` once its notice exists. Harmless otherwise: the next snapshot
 * rebuilds it (a scan and a sort). Thread-safe.
 */
void store_confirmed_release(struct store *s);

/*
 * store_foreach - call fn for every number with a state (any but SUB_NONE),
 * in unspecified order, under the store's lock (fn must not call the store).
 * fn returns 0 to go on or non-zero to stop; that value is returned.
 */
typedef int (*store_visit_fn)(uint64_t number, enum sub_state st, uint64_t t_ms, void *ud);
int store_foreach(struct store *s, store_visit_fn fn, void *ud);

/*
 * store_checkpoint - sync, then write the hint file now (it is written at
 * close and after compaction anyway), so that an open after a crash replays
 * only what came later. Holds the store's lock while it writes (about 16
 * bytes per index slot plus an fdatasync): call it from a timer every
 * several minutes in a long-running writer, not per request. Writer only.
 * Returns 0, BND_E_RDONLY, or the -errno of the failed sync or write.
 */
int store_checkpoint(struct store *s);

struct store_compact_info {
	uint64_t records_before;   /* records in the log before */
	uint64_t records_after;    /* records written (one per live number) */
	uint64_t bytes_before, bytes_after;
	uint64_t erased;           /* unsubscribed numbers physically removed */
};

/*
 * store_compact - rewrite the live set (every number not unsubscribed, its
 * latest record) into new segments and a new hint: write new, fsync, switch
 * atomically (manifest rename + directory fsync), delete the old files.
 * A crash at any point leaves the old set or the new set, never a mix.
 * Appends wait while it runs. Writer only. info may be NULL.
 * Returns 0, BND_E_RDONLY, BND_E_NOMEM, -errno (the old set stays in force).
 */
int store_compact(struct store *s, struct store_compact_info *info);

struct store_verify_info {
	uint64_t segments, records, bytes;
	uint64_t tail_dropped_bytes;  /* a torn tail is reported, not an error */
	int hint_ok;                  /* hint present and consistent with the log */
	char err_file[64];
	uint64_t err_offset;
	char err_msg[256];            /* what is wrong, for the operator */
};

/*
 * store_verify - read every file of the store and check every checksum, the
 * manifest, and that the hint (if any) matches the log. Works on a
 * read-only handle while a writer runs. Returns 0 when intact, or the
 * BND_E_STORE_* code of the first damage (info says where and what).
 */
int store_verify(struct store *s, struct store_verify_info *info);

/* store_dir - the directory the store was opened on (owned by the store). */
const char *store_dir(const struct store *s);

/* Counters and sizes of an open store (a consistent copy). */
struct store_stats {
	uint64_t appends;        /* successful store_append calls */
	uint64_t sync_calls;     /* store_sync calls */
	uint64_t fdatasyncs;     /* fdatasync calls made on log segments */
	uint64_t bytes_written;  /* log bytes written by this handle */
	uint64_t records;        /* records in the live log */
	uint64_t segments;       /* live segments */
	uint64_t index_entries;  /* numbers in the index (any state) */
	uint64_t index_bytes;    /* heap bytes of the index: slots + block map */
	uint64_t src_bytes;      /* heap bytes of the source-id window (fixed
	                            size, allocated on the first source id) */
	uint64_t view_bytes;     /* heap bytes of the sorted confirmed view
	                            (8 per confirmed number, plus pending
	                            changes; see store_confirmed_snapshot) */
	uint64_t src_probes;     /* slots of the source-id window's hash set
	                            visited (pushes, evictions, store_src_seen):
	                            a small multiple of the operations */
};

/* store_get_stats - fill st. Thread-safe. */
void store_get_stats(struct store *s, struct store_stats *st);

#endif
