/*
 * notice_purge.h - erase unsubscribed numbers from notices' recipient lists
 * (the notice half of `subscribers compact`; PRODUCT.md §1 and §4.6).
 *
 * A notice's recipients.bin is a copy of the confirmed set at the moment the
 * notice was created (notice.h). Without this module it would keep, for the
 * life of the data directory, the full number of every citizen who was
 * subscribed then, including those who later sent JESI OFF: store
 * compaction alone would not keep the product's promise that an
 * unsubscribed number is erased from disk within a bounded time.
 *
 * What a purge of one notice does, under the notice's writer lock (the
 * flock its journal writer takes; a notice being sent is skipped, never
 * waited for):
 *
 *   - a notice whose journal shows a terminal state (DONE, CANCELLED,
 *     EXPIRED: nothing can ever be sent again) is REDUCED: its list is
 *     replaced by a count-only stub (a 64-byte header, no numbers). Status,
 *     reports and late status webhooks need only ordinals and the count,
 *     which the journal and the stub keep.
 *   - any other notice (queued, running, paused, stopped: all resumable) is
 *     SCRUBBED: every entry whose number the store no longer holds, or holds
 *     as unsubscribed, is replaced by the tombstone 0, in a new list with the
 *     same ordinals. The sender skips a tombstone as "unsubscribed" (it is
 *     one: only such numbers are erased), so resume works and counts it.
 *
 * Either way the journal is purged first: the wamid of every ACCEPTED
 * record of an erased ordinal is overwritten with '*' (same length, so every
 * offset and SYNCED record stays true; checksums recomputed). WhatsApp's
 * message ids are base64 text that encodes the recipient's number, so a
 * journal that kept them would keep the number.
 *
 * Both write the new list beside the old one, fdatasync it, rename it over
 * recipients.bin and fsync the directory: a kill -9 or power loss at any
 * point leaves the old list or the new one, each complete and checked on
 * open, plus at worst a leftover temporary that the next purge of that
 * notice removes. The journal is replaced the same way (journal_open checks
 * after its flock that the path still names the file it locked). Format of
 * the purged list (version 2) and of the redaction: JOURNAL.md §2.1.
 *
 * Threading: functions here touch only the files of the notices they are
 * given and the store through store_get_many (thread-safe), so they may run
 * on any thread; two purges of one notice exclude each other by the lock.
 */
#ifndef NOTICE_PURGE_H
#define NOTICE_PURGE_H

#include <stdint.h>

#include "notice.h"

struct store;

/* The version of a recipients.bin that a purge rewrote (JOURNAL.md §2). */
#define RCPT_VERSION_PURGED 2
/* The value of an erased entry: 0 is never a valid packed number. */
#define RCPT_ERASED 0
/* The temporary a purge writes in the notice directory before the rename. */
#define RCPT_PURGE_TMP "recipients.bin.purge"
/* The same for the journal, when a purge redacts wamids in it. */
#define JOURNAL_PURGE_TMP "journal.log.purge"

/* What a purge did; notice_purge_* add to these counters (zero it first). */
struct notice_purge_info {
	uint64_t notices;          /* notices examined */
	uint64_t scrubbed;         /* resumable notices whose list was rewritten */
	uint64_t scrubbed_entries; /* numbers erased from those lists */
	uint64_t reduced;          /* terminal notices reduced to a count-only stub */
	uint64_t reduced_entries;  /* numbers those reductions removed */
	uint64_t wamids_redacted;  /* message ids of erased recipients blanked in
	                              the journals (a wamid encodes the number) */
	uint64_t locked;           /* skipped: a sender holds the notice (next time) */
	uint64_t failed;           /* skipped: damaged or unreadable; left as it is */
	int first_error;           /* the first failure's code (0: none) */
	char first_failed[NOTICE_ID_SIZE];  /* its notice ("" when none) */
};

/*
 * notice_purge_one - purge notice `id` of DATA_DIR (see the top of this
 * file). s is the subscriber store, open (reader or writer); it decides
 * which numbers a resumable notice keeps: those whose state is requested,
 * confirmed or invalid (the states compaction keeps). s may be NULL: then
 * only a terminal notice is reduced and a resumable one is left as it is.
 * info is updated (notices, scrubbed..., locked, failed).
 * Returns 0 (purged, or nothing to do); BND_E_LOCKED (a writer holds the
 * notice: nothing done); BND_E_NOTICE_ID; BND_E_NOTFOUND; the list's
 * damage codes (BND_E_RCPT_*); BND_E_NOMEM; -errno. On any failure the
 * notice's list is the one it had before.
 * Caller: holds the data directory's writer lock, or is `serve` (whose
 * sender and status journals take each notice's lock, which is respected).
 */
int notice_purge_one(const char *data_dir, struct store *s, const char *id,
                     struct notice_purge_info *info);

/*
 * notice_purge_all - notice_purge_one on every notice of DATA_DIR, in id
 * order. A locked notice is counted and skipped; a failing one is counted,
 * recorded in first_error/first_failed, and skipped: one damaged notice
 * does not keep the others' numbers on disk.
 * Returns 0 when every notice was examined (some may be locked or failed:
 * see info), or the error of listing the notices (BND_E_NOMEM, -errno).
 */
int notice_purge_all(const char *data_dir, struct store *s, struct notice_purge_info *info);

/*
 * notice_rcpt_encode_purged_header - the 64-byte header of a version-2
 * list: id, count, `erased` tombstones, the list's identity checksum (the
 * body checksum at creation, which the journal repeats) and the checksum
 * of the body as it is now. For tests and the format's example.
 * Returns 0 or BND_E_NOTICE_ID.
 */
int notice_rcpt_encode_purged_header(uint8_t out[RCPT_HEADER_SIZE], const char *id,
                                     uint32_t count, uint32_t erased, uint64_t list_checksum,
                                     uint64_t body_checksum);

#endif
