/*
 * journal.h - a notice's durable progress: one append-only, checksummed,
 * group-committed log of what happened to each recipient ordinal.
 *
 * Records (format: engine/JOURNAL.md): DISPATCHED intents, final outcomes
 * (ACCEPTED with the wamid, FAILED with the API code, SKIPPED), DEFERRED
 * retries with their time, STATUS updates from webhooks, STATE changes of
 * the notice, and two kinds the journal writes by itself: CURSOR (the
 * durable low-water mark) and SYNCED (proof of a completed fdatasync, which
 * lets recovery tell a torn tail from damage). Ordinals only: no phone
 * number ever appears in a journal.
 *
 * The model, in one paragraph. low_water is the first ordinal without a
 * final outcome: every ordinal below it is accepted, failed or skipped, and
 * it only moves over final outcomes (listmonk's skip bug was a cursor moved
 * by fetching). high_water is one past the highest ordinal the journal has
 * seen. Ordinals in [low_water, high_water) are final (a bit in a bitmap
 * over the tracking window), DEFERRED (retry at a time), in flight
 * (DISPATCHED, no outcome yet), or untouched. The window is at most `span`
 * ordinals wide (fixed at creation): nothing at or past low_water + span may
 * be dispatched, so memory is bounded by the span, never by the audience.
 * After a crash the in-flight ordinals are *uncertain*: the request may or
 * may not have reached WhatsApp. journal_pending_foreach hands them to the
 * sender, which waits for status webhooks (a STATUS record on a non-final
 * ordinal proves the API accepted it, and makes it final) and re-sends the
 * rest after a grace period, flagged JOURNAL_DISPATCH_UNCERTAIN so that the
 * report counts them.
 *
 * Durability: appends go to a memory buffer; journal_commit (or the async
 * journal_commit_begin/_end pair for an io_uring fsync) writes it and runs
 * one fdatasync for everything appended so far. A record is durable once
 * journal_durable(j, ticket) says so. A DISPATCHED intent must be durable
 * before its request goes on the wire, or a crash could send without a
 * trace (see JOURNAL.md, "What the sender must do").
 *
 * I/O: every write, fdatasync and truncate goes through store/fsio.h, so
 * tests fail the Nth one, shorten a write, or freeze the disk at step N
 * with the store's hook.
 *
 * Threading: a struct journal may be used from several threads (the
 * sender's loop and webhook threads appending STATUS); every function takes
 * the journal's lock. journal_commit and journal_sync block for an
 * fdatasync; concurrent callers share one.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "notice.h"

/* ---- format constants (every number of JOURNAL.md has its home here) ---- */

#define JOURNAL_MAGIC 0x4c4a4e42u     /* "BNJL" read as a little-endian u32 */
#define JOURNAL_VERSION 1
#define JOURNAL_HEADER_SIZE 64
#define JOURNAL_SEED 0x62616e646a726e6cULL  /* XXH3 seed, "bandjrnl" */
#define JOURNAL_REC_HEADER 8          /* checksum u32, type u8, len u8, zero u16 */
#define JOURNAL_PAYLOAD_MAX 255
#define JOURNAL_WAMID_MAX 251         /* ACCEPTED payload: ordinal u32 + wamid */
#define JOURNAL_SPAN_DEFAULT (1u << 20) /* 1M ordinals: a 128 KiB bitmap */
#define JOURNAL_SPAN_MIN 64u
#define JOURNAL_SPAN_MAX (1u << 28)   /* 32 MiB of bitmap at most */
#define JOURNAL_BUFFER_DEFAULT (256u * 1024u)
#define JOURNAL_CODES_MAX 16          /* distinct failure codes counted one by one */
#define JOURNAL_FILE "journal.log"

/* Record types: on-disk values, never renumber. Types >= 128 are optional:
 * a reader that does not know one skips it; an unknown type below 128 is
 * damage (BND_E_JOURNAL_CORRUPT). */
enum journal_type {
	JREC_DISPATCHED = 1,  /* ordinal u32, attempt u16, flags u16 */
	JREC_ACCEPTED = 2,    /* ordinal u32, wamid (len - 4 bytes) */
	JREC_FAILED = 3,      /* ordinal u32, code i32 */
	JREC_DEFERRED = 4,    /* ordinal u32, code i32, until_ms u64 */
	JREC_SKIPPED = 5,     /* ordinal u32, reason u8 */
	JREC_STATUS = 6,      /* ordinal u32, status u8, code i32, t_ms u64 */
	JREC_CURSOR = 7,      /* low_water u32 (written by the journal) */
	JREC_STATE = 8,       /* state u8, reason u8, code i32, t_ms u64 */
	JREC_SYNCED = 9,      /* end u64 (written by the journal) */
};
#define JREC_OPTIONAL_MIN 128

/* DISPATCHED flags */
#define JOURNAL_DISPATCH_UNCERTAIN 0x0001u  /* re-send of an uncertain ordinal */

/* SKIPPED reasons: on-disk values. */
enum journal_skip {
	JSKIP_UNSUBSCRIBED = 1,  /* not confirmed any more at dispatch (JESI OFF) */
	JSKIP_EXPIRED = 2,       /* its turn came after the notice's expiry */
	JSKIP_INVALID = 3,       /* the store marked the number invalid meanwhile */
};

/* STATUS values (webhook statuses[].status): on-disk values. */
enum journal_status {
	JSTATUS_SENT = 1,
	JSTATUS_DELIVERED = 2,
	JSTATUS_READ = 3,
	JSTATUS_FAILED = 4,    /* async failure after acceptance; code says why */
};

/* One record, decoded. Fields not used by a type are zero. */
struct journal_rec {
	enum journal_type type;
	uint32_t ordinal;    /* DISPATCHED..STATUS; CURSOR: the low-water mark */
	uint16_t attempt;    /* DISPATCHED: 0 for the first send */
	uint16_t flags;      /* DISPATCHED: JOURNAL_DISPATCH_* */
	int32_t code;        /* FAILED, DEFERRED, STATUS, STATE: an API error code */
	uint64_t t_ms;       /* DEFERRED: retry time; STATUS, STATE: when (wall ms) */
	uint8_t kind;        /* SKIPPED: journal_skip; STATUS: journal_status;
	                        STATE: notice_state */
	uint8_t reason;      /* STATE: notice_reason */
	uint64_t end;        /* SYNCED: the file offset the fdatasync covered */
	size_t wamid_len;    /* ACCEPTED */
	uint8_t wamid[JOURNAL_WAMID_MAX];
};

/*
 * journal_rec_encode - the bytes of r (header with checksum, payload) into
 * buf (cap bytes). Returns the record's length, BND_E_RANGE when cap is too
 * small or wamid_len too big, BND_E_INVAL for an unknown type. Pure.
 */
int journal_rec_encode(const struct journal_rec *r, uint8_t *buf, size_t cap);

/*
 * journal_rec_decode - decode one record from p[0..len). Returns its length
 * (> 0) and fills *r; or BND_E_JOURNAL_TRUNCATED (len shorter than the
 * record claims), BND_E_JOURNAL_CHECKSUM (checksum or reserved bytes
 * wrong), BND_E_JOURNAL_CORRUPT (checksum right but an impossible length or
 * value for its type, or an unknown type below 128). For an optional type
 * (>= 128) returns the length with r->type set and nothing else decoded.
 * Pure; never reads past len.
 */
int journal_rec_decode(const uint8_t *p, size_t len, struct journal_rec *r);

/* The file header, decoded. */
struct journal_header {
	char notice_id[NOTICE_ID_SIZE];
	uint32_t recipients;       /* the list's count */
	uint32_t span;             /* tracking window in ordinals: a power of two */
	uint64_t rcpt_checksum;    /* recipients.bin's body checksum */
	uint64_t created_ms;
};

/* journal_header_encode - 64 bytes. Returns 0, BND_E_NOTICE_ID, BND_E_INVAL (span). */
int journal_header_encode(uint8_t out[JOURNAL_HEADER_SIZE], const struct journal_header *h);

/*
 * journal_header_decode - check and decode. Returns 0; BND_E_JOURNAL_TRUNCATED
 * (len < 64), _MAGIC, _VERSION, _CHECKSUM, _CORRUPT (a field out of range).
 */
int journal_header_decode(const uint8_t *p, size_t len, struct journal_header *h);

/*
 * journal_create - create path (O_EXCL, mode 0600) holding only the header,
 * and fsync it. The caller syncs the directory (notice_create does).
 * span 0 means JOURNAL_SPAN_DEFAULT; otherwise a power of two in
 * [JOURNAL_SPAN_MIN, JOURNAL_SPAN_MAX]. Returns 0, BND_E_EXISTS,
 * BND_E_INVAL, BND_E_NOTICE_ID, -errno (the file is removed on failure).
 */
int journal_create(const char *path, const struct journal_header *h);

/* ---- opening ------------------------------------------------------------ */

struct journal;

enum journal_flag {
	JOURNAL_RDONLY = 1 << 0,  /* no lock, never repairs, no appends: reads up
	                             to the last valid record, so it works while
	                             the writer runs (banditore status) */
};

struct journal_opts {
	unsigned flags;           /* JOURNAL_* */
	size_t buffer_bytes;      /* append buffer; 0: JOURNAL_BUFFER_DEFAULT */
};

/* What journal_open found; filled on success and on failure. */
struct journal_open_info {
	uint64_t records;             /* records replayed */
	uint64_t file_bytes;          /* size after any repair */
	uint64_t tail_dropped_bytes;  /* torn tail: truncated (writer) or ignored
	                                 (reader) */
	uint64_t err_offset;          /* on damage: the byte offset of the bad
	                                 record (0 for the header) */
	char err_msg[160];            /* on damage: what is wrong */
};

/*
 * journal_open - open a journal and rebuild its state by replaying every
 * record. opts and info may be NULL (writer, default buffer).
 *
 * Recovery rule (JOURNAL.md): at the first record that fails to decode, at
 * offset X, the rest of the file is a torn tail unless a valid SYNCED
 * record after X proves that an fdatasync covered X; then it is damage. A
 * writer truncates a torn tail (and syncs); a reader only ignores it.
 *
 * A writer takes an exclusive flock on the file without waiting.
 * Returns 0 and sets *out; or
 *   BND_E_NOTFOUND           no such file
 *   BND_E_LOCKED             another writer has it open
 *   BND_E_JOURNAL_TRUNCATED, _MAGIC, _VERSION, _CHECKSUM (damage before the
 *                            tail, or in the header), _CORRUPT (a record
 *                            that breaks the model: an outcome for a final
 *                            ordinal, a cursor past a non-final ordinal,
 *                            an ordinal out of range...). info names the
 *                            offset.
 *   BND_E_INVAL, BND_E_NOMEM, -errno
 * On failure *out is NULL and the file is unchanged (one exception: a
 * writer whose fdatasync after cutting a torn tail fails returns that
 * -errno with the tail already cut; the cut bytes were never durable).
 */
int journal_open(struct journal **out, const char *path, const struct journal_opts *opts,
                 struct journal_open_info *info);

/*
 * journal_open_notice - journal_open on DATA_DIR/notices/<id>/journal.log,
 * then journal_matches against rcpt when rcpt is not NULL. Same returns,
 * plus BND_E_NOTICE_ID, BND_E_RANGE (path too long), BND_E_JOURNAL_MISMATCH.
 */
int journal_open_notice(struct journal **out, const char *data_dir, const char *id,
                        const struct notice_rcpt *rcpt, const struct journal_opts *opts,
                        struct journal_open_info *info);

/*
 * journal_matches - 0 when the journal's header names notice id with this
 * recipient list (count and body checksum), else BND_E_JOURNAL_MISMATCH.
 */
int journal_matches(const struct journal *j, const char *id, uint32_t count,
                    uint64_t rcpt_checksum);

/*
 * journal_close - writer: write and sync everything appended, append and
 * sync a final SYNCED record, release the lock; then free. Accepts NULL and
 * *j == NULL; sets *j to NULL. Returns 0 or the -errno of the final write or
 * sync (the handle is freed anyway; the records not synced may be lost).
 */
int journal_close(struct journal **j);

/* journal_header_get - the header of an open journal. */
void journal_header_get(const struct journal *j, struct journal_header *h);

/* ---- appending (writer only) -------------------------------------------- */

/*
 * journal_append - check r against the model and the notice's state, apply
 * it in memory and append it to the buffer. It counts at once (reports,
 * journal_is_final) and is durable once journal_durable(j, *ticket) is 1.
 * ticket may be NULL. The rules:
 *   - ordinal < recipients, else BND_E_RANGE;
 *   - DISPATCHED, ACCEPTED, FAILED, DEFERRED, SKIPPED: the ordinal must not
 *     be final (BND_E_JOURNAL_FINAL: nothing is appended; for a DISPATCHED
 *     this is the last guard against a double send) and must lie below
 *     journal_window_end (BND_E_JOURNAL_WINDOW);
 *   - DISPATCHED only while the notice is RUNNING (BND_E_JOURNAL_STATE):
 *     nothing is sent after a pause, cancel, stop or expiry;
 *   - STATUS is accepted for any ordinal; on a non-final one (below the
 *     window's end) it makes the ordinal final as accepted ("reconciled");
 *   - STATE must be a transition notice_state_allowed permits, and DONE
 *     only when every ordinal is final (BND_E_JOURNAL_STATE);
 *   - CURSOR and SYNCED are the journal's own: BND_E_INVAL.
 * Other returns: BND_E_INVAL (bad field: unknown status, reason, state,
 * wamid too long), BND_E_RDONLY, BND_E_NOMEM, -EIO (an earlier write or
 * sync failed: reopen), -errno of a buffer flush that failed now.
 */
int journal_append(struct journal *j, const struct journal_rec *r, uint64_t *ticket);

/* Shorthands for journal_append; same returns. */
int journal_dispatched(struct journal *j, uint32_t ordinal, uint16_t attempt, uint16_t flags,
                       uint64_t *ticket);
int journal_accepted(struct journal *j, uint32_t ordinal, const uint8_t *wamid, size_t wamid_len,
                     uint64_t *ticket);
int journal_failed(struct journal *j, uint32_t ordinal, int32_t code, uint64_t *ticket);
int journal_deferred(struct journal *j, uint32_t ordinal, int32_t code, uint64_t until_ms,
                     uint64_t *ticket);
int journal_skipped(struct journal *j, uint32_t ordinal, enum journal_skip reason,
                    uint64_t *ticket);
int journal_status(struct journal *j, uint32_t ordinal, enum journal_status st, int32_t code,
                   uint64_t t_ms, uint64_t *ticket);
int journal_set_state(struct journal *j, enum notice_state st, enum notice_reason why,
                      int32_t code, uint64_t t_ms, uint64_t *ticket);

/* ---- group commit -------------------------------------------------------- */

/*
 * journal_commit - make everything appended so far durable: append a CURSOR
 * record if the low-water mark moved, write the buffer, one fdatasync.
 * A caller arriving while another commit runs waits for it and then commits
 * what is left, so N concurrent callers cost about two fdatasync calls.
 * Returns 0 (also when there was nothing to do); -errno of the failed write
 * or fdatasync, after which the journal refuses appends (-EIO) until it is
 * reopened, because the kernel may have dropped the dirty pages;
 * BND_E_RDONLY.
 */
int journal_commit(struct journal *j);

/*
 * journal_sync - return once the record of ticket is durable, committing
 * if nobody else is. ticket 0 or UINT64_MAX: everything appended so far.
 * Returns as journal_commit.
 */
int journal_sync(struct journal *j, uint64_t ticket);

/* journal_durable - 1 when the record of ticket is on stable storage, else 0. */
int journal_durable(struct journal *j, uint64_t ticket);

/*
 * journal_needs_commit - 1 when records (other than the journal's own
 * SYNCED markers) were appended and are not durable yet.
 */
int journal_needs_commit(struct journal *j);

/*
 * Asynchronous commit, for a loop that runs the fdatasync itself (an
 * io_uring IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, or a thread).
 * journal_commit_begin writes the buffer (a plain write(2) into the page
 * cache) and returns 1 with *fd to fdatasync and *upto, the ticket that
 * sync will cover; 0 when nothing needs syncing; -EBUSY when a commit is
 * already running (call again after its end); BND_E_RDONLY; -EIO; -errno.
 * After 1, the caller must call journal_commit_end(j, upto, res) exactly
 * once with the fdatasync's result (0 or -errno); until then other
 * committers wait. journal_commit_end returns res. Appends stay possible
 * meanwhile (a full buffer is written behind the pending sync, in order),
 * but the thread that owns the pending commit must not call journal_sync,
 * journal_commit or journal_close before its journal_commit_end: they wait
 * for it.
 */
int journal_commit_begin(struct journal *j, int *fd, uint64_t *upto);
int journal_commit_end(struct journal *j, uint64_t upto, int res);

/* ---- queries -------------------------------------------------------------- */

uint32_t journal_recipients(const struct journal *j);
uint32_t journal_low_water(struct journal *j);     /* in memory */
uint32_t journal_durable_low_water(struct journal *j); /* last durable CURSOR */
uint32_t journal_high_water(struct journal *j);
/* journal_window_end - min(low_water + span, recipients): ordinals at or
 * past it may not be dispatched yet. */
uint32_t journal_window_end(struct journal *j);

/* journal_is_final - 1 when ordinal has a final outcome, else 0. */
int journal_is_final(struct journal *j, uint32_t ordinal);

/* journal_state - the notice's state as journaled; any out pointer may be NULL. */
void journal_state(struct journal *j, enum notice_state *st, enum notice_reason *why,
                   int32_t *code);

/* What resume must do about one non-final ordinal below high_water. */
enum journal_pending_kind {
	JPEND_UNCERTAIN = 1,  /* dispatched and no outcome: the request may
	                         have reached WhatsApp */
	JPEND_DEFERRED = 2,   /* answered "retry later" at until_ms */
	JPEND_UNSENT = 3,     /* below high_water but no record at all: never
	                         on the wire, because every send is preceded by
	                         a durable DISPATCHED intent; send it normally */
};
struct journal_pending {
	uint32_t ordinal;
	enum journal_pending_kind kind;
	uint16_t attempt;     /* the highest attempt dispatched so far (the next
	                         send is attempt + 1) */
	int dispatched;       /* 1 when a DISPATCHED record exists since the last
	                         outcome */
	int32_t code;         /* DEFERRED: why */
	uint64_t until_ms;    /* DEFERRED: not before */
};
typedef int (*journal_pending_fn)(const struct journal_pending *p, void *ud);

/*
 * journal_pending_foreach - call fn for every non-final ordinal in
 * [low_water, high_water), ascending, under the journal's lock (fn must not
 * call the journal). After a crash the UNCERTAIN ones are exactly the
 * requests that were in flight, at most the sender's window. fn returns 0 to
 * go on; a non-zero value stops the walk and is returned.
 */
int journal_pending_foreach(struct journal *j, journal_pending_fn fn, void *ud);

/* ---- progress report ------------------------------------------------------ */

struct journal_code_count {
	int32_t code;
	uint64_t count;
};

struct journal_report {
	char notice_id[NOTICE_ID_SIZE];
	enum notice_state state;
	enum notice_reason reason;
	int32_t reason_code;        /* the API code that stopped it, if any */
	uint32_t recipients;
	uint64_t accepted;          /* final: the API accepted (incl. reconciled) */
	uint64_t failed;            /* final: the API refused for this recipient */
	struct journal_code_count failed_by_code[JOURNAL_CODES_MAX];
	size_t failed_codes;        /* entries used in failed_by_code */
	uint64_t failed_other;      /* failures whose code did not fit the table */
	uint64_t skipped_unsubscribed; /* final: opted out before their turn */
	uint64_t skipped_invalid;
	uint64_t skipped_expired;   /* SKIPPED records with reason expired */
	uint64_t expired;           /* skipped_expired, plus every non-final
	                               ordinal once the notice is EXPIRED */
	uint64_t remaining;         /* recipients without a final outcome */
	uint64_t retried;           /* sends with attempt > 0 (not uncertain) */
	uint64_t uncertain;         /* re-sends of uncertain ordinals: requests in
	                               flight at a crash whose outcome was unknown */
	uint64_t reconciled;        /* non-final ordinals made final by a STATUS */
	uint64_t in_flight;         /* dispatched, no outcome yet */
	uint64_t deferred;          /* waiting for a retry time */
	uint64_t dispatches;        /* DISPATCHED records */
	uint64_t sent, delivered, read;   /* distinct recipients whose statuses
	                                     reached at least that level */
	uint64_t delivery_failed;   /* distinct recipients with a failed status */
	uint64_t delivered_1m, delivered_5m, delivered_15m; /* delivered (or read)
	                               within 1, 5, 15 minutes of start_ms */
	uint32_t low_water, high_water;
	uint64_t start_ms;          /* first RUNNING; 0 if never started */
	uint64_t end_ms;            /* entering a terminal state; 0 if none */
	uint64_t elapsed_ms;        /* (end_ms or now_ms) - start_ms */
	double rate_per_s;          /* accepted per second of elapsed time */
};

/*
 * journal_report - counts as of the records replayed and appended so far.
 * now_ms is the wall clock, used for elapsed_ms while the notice runs.
 * Works on read-only and writer handles. Never fails.
 */
void journal_report(struct journal *j, uint64_t now_ms, struct journal_report *r);

/*
 * journal_report_json - the report as a new JSON object with the stable
 * field names of PRODUCT.md (notice_id, recipients, accepted, failed,
 * failed_by_code, retried, expired, uncertain, elapsed_s, rate_per_s) and
 * the others above. The caller owns the reference (json_decref).
 * Returns NULL when out of memory.
 */
json_t *journal_report_json(const struct journal_report *r);

/* ---- reading records (tools, tests, status --records) --------------------- */

/* Called for every valid record in file order, with its offset. */
typedef int (*journal_scan_fn)(const struct journal_rec *r, uint64_t offset, void *ud);

/*
 * journal_scan - read path record by record without interpreting the model
 * (so it also reads journals journal_open rejects as CORRUPT), under the
 * same recovery rule: stops at a torn tail (reported in info), returns
 * BND_E_JOURNAL_CHECKSUM at proven damage. fn returns 0 to go on; non-zero
 * stops the scan and is returned. Never writes. hdr may be NULL.
 * Returns 0, fn's value, BND_E_NOTFOUND, the header codes, BND_E_NOMEM, -errno.
 */
int journal_scan(const char *path, struct journal_header *hdr, journal_scan_fn fn, void *ud,
                 struct journal_open_info *info);

#endif
