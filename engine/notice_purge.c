/*
 * notice_purge.c - erase unsubscribed numbers from recipient lists
 * (notice_purge.h), and check the lists it writes (notice_int.h).
 *
 * Design. recipients.bin is immutable in the sense the sender needs: an
 * ordinal names one person for the life of the notice. A purge keeps that:
 * it never moves an entry, it only replaces a number by the tombstone 0
 * (or, for a notice that can never send again, drops the body whole and
 * keeps the count). The list's identity, the body checksum at creation
 * that the journal's header repeats, is carried over into the new header,
 * so the journal still matches its list; the new body has its own
 * checksum, so damage is still detected on every open.
 *
 * Why a new file and a rename rather than overwriting entries in place:
 * (1) crash safety without recovery code: a rename is atomic, so a reader
 * sees the old list or the new one, each complete and checksummed; an
 * in-place overwrite torn by a kill -9 would leave a body that no longer
 * matches its header, indistinguishable from damage. (2) readers take no
 * lock: `status`, `verify` and a sender that is just starting may have the
 * file mapped, and would see a half-written body. (3) it is the store's own
 * standard of erasure (compact.c: new segments, old ones unlinked). What
 * the file system does with the freed blocks is outside our reach, as for
 * the store (FORMAT.md, downsides).
 *
 * Locking. The writer lock of a notice is the exclusive flock its journal
 * writer takes on journal.log (journal.c). A purge takes the same lock
 * without waiting before it reads anything: a notice being sent by `send`,
 * `resume` or `serve`'s sender, or held by `serve`'s status journals, is
 * skipped (BND_E_LOCKED) and purged by the next compaction. Holding the
 * lock also means no sender can be between its journal open and its close,
 * so no one dispatches from the old list after the rename... except a
 * sender that mapped the old list just before and then finds the lock
 * taken: it fails to start (BND_E_LOCKED), which it would anyway.
 *
 * Which numbers go: for a resumable notice, those the store no longer holds
 * (SUB_NONE: compaction erased them) or holds as unsubscribed: exactly the
 * numbers store compaction erases, so after `subscribers compact` no
 * notice holds a number the store does not. A number unsubscribed and then
 * subscribed again before the purge keeps its entry; one erased here and
 * subscribed again later is not messaged by this notice (it gets the next
 * one). For a terminal notice all numbers go: nothing reads them again.
 * A notice whose journal cannot be read is still scrubbed (that only
 * removes numbers the sender would skip) but never reduced.
 *
 * A scrub never changes who a resumable notice reaches: the sender skips at
 * dispatch every number that is not confirmed (PRODUCT.md §4.3), and every
 * number erased here is not (save the re-subscription case above).
 *
 * Invariants: a list written here has the same id, count and identity as
 * the one it replaces, and each entry is either the old entry or 0; the
 * temporary is created 0600 through store/fsio.h, so tests can fail or
 * freeze any write, sync or rename.
 */
#include "notice_purge.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "bnd.h"
#include "fsio.h"
#include "journal.h"
#include "le.h"
#include "notice_int.h"
#include "phone.h"
#include "store.h"

#define RCPT_FILE "recipients.bin"
#define BATCH 4096   /* numbers per store_get_many: a few pages of states */

/* ---- the version-2 header and its check ---------------------------------- */

int notice_rcpt_encode_purged_header(uint8_t out[RCPT_HEADER_SIZE], const char *id,
                                     uint32_t count, uint32_t erased, uint64_t list_checksum,
                                     uint64_t body_checksum)
{
	return notice__rcpt_header(out, id, RCPT_VERSION_PURGED, count, erased, list_checksum,
	                           body_checksum);
}

int notice__rcpt_check_purged(const uint8_t *p, size_t len, const char *id, uint32_t *count,
                              uint32_t *present, uint64_t *identity)
{
	if (le16_get(p + 6) != RCPT_HEADER_SIZE)
		return BND_E_RCPT_CORRUPT;
	if (!notice_id_valid(p + 8, NOTICE_ID_LEN) || p[8 + NOTICE_ID_LEN] != 0 ||
	    p[8 + NOTICE_ID_LEN + 1] != 0)
		return BND_E_RCPT_CORRUPT;
	if (memcmp(p + 8, id, NOTICE_ID_LEN) != 0)
		return BND_E_RCPT_MISMATCH;
	uint32_t n = le32_get(p + 32), erased = le32_get(p + 36);
	if (n > NOTICE_MAX_RECIPIENTS || erased > n)
		return BND_E_RCPT_CORRUPT;
	/* A list with every entry erased is stored without its body. */
	uint32_t stored = erased == n ? 0 : n;
	uint64_t want = RCPT_HEADER_SIZE + (uint64_t)stored * 8;
	if (len < want)
		return BND_E_RCPT_TRUNCATED;
	if (len > want)
		return BND_E_RCPT_CORRUPT;
	const uint8_t *body = p + RCPT_HEADER_SIZE;
	if (XXH3_64bits_withSeed(body, (size_t)stored * 8, RCPT_SEED) != le64_get(p + 48))
		return BND_E_RCPT_CHECKSUM;
	uint64_t prev = 0;
	uint32_t zeros = 0;
	for (uint32_t i = 0; i < stored; i++) {
		uint64_t v = le64_get(body + (size_t)i * 8);
		if (v == RCPT_ERASED) {
			zeros++;
			continue;
		}
		if (!phone_valid(v) || v <= prev)
			return BND_E_RCPT_CORRUPT;
		prev = v;
	}
	if (stored && zeros != erased)
		return BND_E_RCPT_CORRUPT;
	*count = n;
	*present = stored;
	*identity = le64_get(p + 40);
	return 0;
}

/* ---- one notice ----------------------------------------------------------- */

/* Replace final by buf[0..len) atomically: write tmp (must not exist),
 * fdatasync, rename over final, fsync dir. The rename is the commit point:
 * a crash before it leaves the old file (and a stray tmp, removed by the
 * next purge), after it the new one; a failure after it is reported with
 * the new file (complete) in place. */
static int replace_file(const char *dir, const char *tmp, const char *final, const uint8_t *buf,
                        size_t len)
{
	int fd = fsio_openat(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL);
	if (fd < 0)
		return fd;
	int rc = fsio_pwrite_all(fd, buf, len, 0);
	if (rc == 0)
		rc = fsio_fdatasync(fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = fsio_renameat(AT_FDCWD, tmp, final);
	if (rc) {
		(void)fsio_unlinkat(AT_FDCWD, tmp);
		return rc;
	}
	return notice__sync_dir(dir);
}

/* Take the notice's writer lock (the journal's flock) without waiting;
 * returns the fd holding it, BND_E_LOCKED, BND_E_NOTFOUND or -errno. */
static int lock_notice(const char *journal_path)
{
	int fd = open(journal_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? BND_E_NOTFOUND : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? BND_E_LOCKED : -e;
	}
	return fd;
}

/*
 * Which entries of r a resumable notice erases: sets keep[i] = 0 for each,
 * returns how many (>= 0) or BND_E_INVAL (from store_get_many). Entries
 * already erased get keep 0 but are not counted.
 */
static long mark_erased(const struct notice_rcpt *r, struct store *s, uint8_t *keep)
{
	uint32_t n = notice_rcpt_count(r);
	uint64_t nums[BATCH];
	enum sub_state st[BATCH];
	long erased = 0;
	for (uint32_t base = 0; base < n; base += BATCH) {
		uint32_t k = n - base < BATCH ? n - base : BATCH;
		for (uint32_t i = 0; i < k; i++)
			nums[i] = notice_rcpt_get(r, base + i);
		if (store_get_many(s, nums, k, st) != 0)
			return BND_E_INVAL;
		for (uint32_t i = 0; i < k; i++) {
			if (nums[i] == RCPT_ERASED) {
				keep[base + i] = 0;
				continue;
			}
			int go = st[i] == SUB_NONE || st[i] == SUB_UNSUBSCRIBED;
			keep[base + i] = (uint8_t)!go;
			erased += go;
		}
	}
	return erased;
}

/* Write the list r with the entries whose keep[] is 0 erased (keep NULL:
 * all of them) to tmp, sync it and rename it over final. */
static int write_list(const char *dir, const char *tmp, const char *final, const char *id,
                      const struct notice_rcpt *r, const uint8_t *keep)
{
	uint32_t n = notice_rcpt_count(r), erased = 0;
	uint8_t *buf = NULL;
	int rc;
	for (uint32_t i = 0; i < n; i++)
		erased += !keep || !keep[i] || notice_rcpt_get(r, i) == RCPT_ERASED;
	size_t stored = erased == n ? 0 : n;
	size_t len = RCPT_HEADER_SIZE + stored * 8;
	buf = bnd_malloc(len);
	if (!buf) {
		rc = BND_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < stored; i++)
		le64_put(buf + RCPT_HEADER_SIZE + i * 8,
		         keep[i] ? notice_rcpt_get(r, (uint32_t)i) : RCPT_ERASED);
	uint64_t body = XXH3_64bits_withSeed(buf + RCPT_HEADER_SIZE, stored * 8, RCPT_SEED);
	rc = notice_rcpt_encode_purged_header(buf, id, n, erased, notice_rcpt_checksum(r), body);
	if (rc)
		goto out;
	rc = replace_file(dir, tmp, final, buf, len);
out:
	bnd_free(buf);
	return rc;
}

/* The byte that replaces every byte of a redacted wamid. */
#define WAMID_REDACTED '*'

static int is_redacted(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != WAMID_REDACTED)
			return 0;
	return 1;
}

/*
 * Redact, in the journal at jpath, the wamid of every ACCEPTED record whose
 * ordinal is erased (erase[ordinal] != 0; erase NULL: every ordinal): each
 * byte becomes '*', the record keeps its length (so every offset, and the
 * SYNCED records that prove them, stay true) and gets its checksum again.
 * The result is written to tmp, synced and renamed over jpath (the caller
 * holds the journal's lock; journal_open checks after its flock that the
 * path still names the file it locked). Records after the first one that
 * does not decode (a torn tail, which the next writer cuts) are copied as
 * they are. *n counts the wamids redacted (0: the file was not touched).
 * Returns 0, BND_E_NOMEM or -errno.
 */
static int redact_journal(const char *dir, const char *jpath, const char *tmp,
                          const uint8_t *erase, uint32_t count, uint64_t *n)
{
	*n = 0;
	uint8_t *buf = NULL;
	int fd = open(jpath, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		rc = -errno;
		goto out;
	}
	size_t len = (size_t)sb.st_size;
	if (len <= JOURNAL_HEADER_SIZE)
		goto out;
	buf = bnd_malloc(len);
	if (!buf) {
		rc = BND_E_NOMEM;
		goto out;
	}
	ssize_t got = fsio_pread_all(fd, buf, len, 0);
	if (got < 0 || (size_t)got != len) {
		rc = got < 0 ? (int)got : -EIO;
		goto out;
	}
	close(fd);
	fd = -1;
	struct journal_rec r;
	for (size_t off = JOURNAL_HEADER_SIZE; off < len;) {
		int k = journal_rec_decode(buf + off, len - off, &r);
		if (k <= 0)
			break;
		if (r.type == JREC_ACCEPTED && r.wamid_len && r.ordinal < count &&
		    (!erase || erase[r.ordinal]) && !is_redacted(r.wamid, r.wamid_len)) {
			memset(r.wamid, WAMID_REDACTED, r.wamid_len);
			if (journal_rec_encode(&r, buf + off, (size_t)k) != k) {
				rc = BND_E_INVAL;   /* cannot happen: same type, same length */
				goto out;
			}
			(*n)++;
		}
		off += (size_t)k;
	}
	if (*n == 0)
		goto out;
	rc = replace_file(dir, tmp, jpath, buf, len);
out:
	if (rc)
		*n = 0;
	if (fd >= 0)
		close(fd);
	bnd_free(buf);
	return rc;
}

static void note_failure(struct notice_purge_info *info, const char *id, int rc)
{
	info->failed++;
	if (!info->first_error) {
		info->first_error = rc;
		memset(info->first_failed, 0, sizeof info->first_failed);
		memcpy(info->first_failed, id, NOTICE_ID_LEN);
	}
}

/* Redact the journal for the entries about to be erased (keep NULL: all),
 * then take the lock again on the journal now at the path. Returns 0 and
 * the new lock fd in *lockfd, or an error (*lockfd closed and -1 when the
 * lock could not be taken again: a writer got in; purged next time). */
static int redact_and_relock(const char *dir, const char *jpath, const char *jtmp,
                             const uint8_t *keep, uint32_t n, int *lockfd,
                             struct notice_purge_info *info)
{
	uint8_t *erase = NULL;
	if (keep) {
		erase = bnd_malloc(n);
		if (!erase)
			return BND_E_NOMEM;
		for (uint32_t i = 0; i < n; i++)
			erase[i] = !keep[i];
	}
	uint64_t redacted = 0;
	int rc = redact_journal(dir, jpath, jtmp, erase, n, &redacted);
	bnd_free(erase);
	if (rc || redacted == 0)
		return rc;
	info->wamids_redacted += redacted;
	/* Our lock is on the file just replaced: lock the new one. */
	int fd = lock_notice(jpath);
	close(*lockfd);
	*lockfd = fd;
	return fd < 0 ? fd : 0;
}

int notice_purge_one(const char *data_dir, struct store *s, const char *id,
                     struct notice_purge_info *info)
{
	if (!data_dir || !info || !id ||
	    !notice_id_valid((const uint8_t *)id, strnlen(id, NOTICE_ID_SIZE)))
		return BND_E_NOTICE_ID;
	char dir[4096], jpath[4096], rpath[4096], tmp[4096], jtmp[4096];
	if (notice_path(dir, sizeof dir, data_dir, id, NULL) < 0 ||
	    notice_path(jpath, sizeof jpath, data_dir, id, JOURNAL_FILE) < 0 ||
	    notice_path(rpath, sizeof rpath, data_dir, id, RCPT_FILE) < 0 ||
	    notice_path(tmp, sizeof tmp, data_dir, id, RCPT_PURGE_TMP) < 0 ||
	    notice_path(jtmp, sizeof jtmp, data_dir, id, JOURNAL_PURGE_TMP) < 0)
		return BND_E_RANGE;
	struct notice_rcpt *r = NULL;
	struct journal *j = NULL;
	uint8_t *keep = NULL;
	int rc;
	info->notices++;
	int lockfd = lock_notice(jpath);
	if (lockfd < 0) {
		rc = lockfd;
		goto out;
	}
	/* Temporaries left by a purge killed before its renames: copies with
	 * fewer numbers than the files in force, but copies: remove them. */
	int removed = fsio_unlinkat(AT_FDCWD, tmp) == 0;
	removed |= fsio_unlinkat(AT_FDCWD, jtmp) == 0;
	if (removed)
		(void)notice__sync_dir(dir);
	if ((rc = notice_rcpt_open(&r, data_dir, id)))
		goto out;
	uint32_t n = notice_rcpt_count(r);
	/* A list of 64 bytes holds no number: a stub, whose journal was purged
	 * before it was written, or an empty list. Nothing to do, and no
	 * journal to replay (a finished notice's can be large). */
	struct stat sb;
	if (stat(rpath, &sb) == 0 && sb.st_size == RCPT_HEADER_SIZE)
		goto out;
	struct journal_opts jo = { .flags = JOURNAL_RDONLY };
	enum notice_state st = NOTICE_QUEUED;
	int terminal = 0;
	if (journal_open_notice(&j, data_dir, id, r, &jo, NULL) == 0) {
		journal_state(j, &st, NULL, NULL);
		terminal = notice_state_terminal(st);
	}
	journal_close(&j);
	/* Order: the journal first, then the list. The list's rewrite is what
	 * makes a purge "done" (a stub, or no erasable number left); a crash
	 * between the two leaves the list as it was, so the next purge does
	 * both again (the journal's part is then a no-op). */
	if (terminal) {
		uint32_t left = 0;
		for (uint32_t i = 0; i < n; i++)
			left += notice_rcpt_get(r, i) != RCPT_ERASED;
		if ((rc = redact_and_relock(dir, jpath, jtmp, NULL, n, &lockfd, info)))
			goto out;
		if ((rc = write_list(dir, tmp, rpath, id, r, NULL)))
			goto out;
		info->reduced++;
		info->reduced_entries += left;
		goto out;
	}
	if (!s || n == 0)
		goto out;
	keep = bnd_malloc(n);
	if (!keep) {
		rc = BND_E_NOMEM;
		goto out;
	}
	long erased = mark_erased(r, s, keep);
	if (erased < 0) {
		rc = (int)erased;
		goto out;
	}
	if (erased == 0)
		goto out;
	if ((rc = redact_and_relock(dir, jpath, jtmp, keep, n, &lockfd, info)))
		goto out;
	if ((rc = write_list(dir, tmp, rpath, id, r, keep)))
		goto out;
	info->scrubbed++;
	info->scrubbed_entries += (uint64_t)erased;
out:
	if (rc == BND_E_LOCKED)
		info->locked++;
	else if (rc)
		note_failure(info, id, rc);
	bnd_free(keep);
	journal_close(&j);
	notice_rcpt_close(&r);
	if (lockfd >= 0)
		close(lockfd);   /* releases the flock */
	return rc;
}

int notice_purge_all(const char *data_dir, struct store *s, struct notice_purge_info *info)
{
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t n = 0;
	int rc = notice_list(data_dir, &ids, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		(void)notice_purge_one(data_dir, s, ids[i], info);
	bnd_free(ids);
	return 0;
}
