/*
 * test_notice_purge.c - erasing unsubscribed numbers from recipient lists
 * (engine/notice_purge.c): what a scrub erases and keeps, the reduction of
 * a finished notice to a count with its report intact, the lock, the
 * version-2 format (worked header, every flipped byte detected), a crash
 * or failure at every I/O step and every allocation, and notice_purge_all
 * going on past a damaged notice.
 */
#include "store_testutil.h"   /* first: it defines _GNU_SOURCE */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "journal.h"
#include "le.h"
#include "notice.h"
#include "notice_purge.h"
#include "phone.h"

#define T0 1760264100000ULL  /* 2025-10-12T10:15:00Z in ms */
#define N 200

static char dir[512];     /* the data directory (the store lives in it too) */
static struct store *st;

static uint64_t num(unsigned i) { return 393300000000ull + i * 13u; }

static void setup(void)
{
	tu_tmpdir(dir, sizeof dir);
	st = tu_open(dir, STORE_CREATE, NULL);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(store_append(st, num(i), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
}

static void teardown(void)
{
	bnd_alloc_fail_after(-1);
	tu_fault_clear();
	if (st)
		store_close(&st);
	tu_rmtree(dir);
}

TestSuite(notice_purge, .init = setup, .fini = teardown, .timeout = 60);

/* A notice of every confirmed subscriber; its id in id. */
static void make_notice(uint32_t rnd, char id[NOTICE_ID_SIZE])
{
	struct notice *no = malloc(sizeof *no);
	cr_assert_eq(notice_init(no, NOTICE_CAT_INFO, T0, 0, rnd), 0);
	cr_assert_eq(notice_set_text(no, (const uint8_t *)"avviso", 6), 0);
	uint64_t *all;
	size_t cnt;
	cr_assert_eq(store_confirmed_snapshot(st, &all, &cnt), 0);
	cr_assert_eq(notice_create(dir, no, all, cnt, 64), 0);
	memcpy(id, no->id, NOTICE_ID_SIZE);
	bnd_free(all);
	free(no);
}

/* Move the notice to state s through its journal (RUNNING first); with
 * `sent` ordinals accepted before. */
static void set_state(const char *id, enum notice_state s, uint32_t sent)
{
	struct journal *j = NULL;
	cr_assert_eq(journal_open_notice(&j, dir, id, NULL, NULL, NULL), 0);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_OPERATOR, 0, T0, NULL), 0);
	for (uint32_t o = 0; o < sent; o++) {
		char w[32];
		int wl = snprintf(w, sizeof w, "wamid.X%05u", o);
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
		cr_assert_eq(journal_accepted(j, o, (const uint8_t *)w, (size_t)wl, NULL), 0);
	}
	if (s != NOTICE_RUNNING)
		cr_assert_eq(journal_set_state(j, s, NOTICE_REASON_OPERATOR, 0, T0 + 1, NULL), 0);
	cr_assert_eq(journal_close(&j), 0);
}

static void rcpt_file(char *out, size_t n, const char *id, const char *file)
{
	cr_assert_gt(notice_path(out, n, dir, id, file), 0);
}

/* 1 when the packed number appears anywhere in the file, as 8 LE bytes or
 * as its decimal digits. */
static int file_has_number(const char *path, uint64_t v)
{
	uint8_t le[8];
	le64_put(le, v);
	char digits[24];
	int dl = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
	return tu_file_contains(path, le, 8) || tu_file_contains(path, digits, (size_t)dl);
}

/* 1 when notice id's journal still holds the wamid set_state gave ordinal o. */
static int journal_has_wamid(const char *id, uint32_t o)
{
	char path[1024], w[32];
	cr_assert_gt(notice_path(path, sizeof path, dir, id, JOURNAL_FILE), 0);
	int wl = snprintf(w, sizeof w, "wamid.X%05u", o);
	return tu_file_contains(path, w, (size_t)wl);
}

static void report_of(const char *id, struct journal_report *r)
{
	struct journal *j = NULL;
	struct journal_opts jo = { .flags = JOURNAL_RDONLY };
	cr_assert_eq(journal_open_notice(&j, dir, id, NULL, &jo, NULL), 0);
	journal_report(j, T0 + 10, r);
	journal_close(&j);
}

Test(notice_purge, a_scrub_erases_exactly_the_numbers_the_store_no_longer_holds)
{
	char id[NOTICE_ID_SIZE];
	make_notice(1, id);
	struct notice_rcpt *r0 = NULL;
	cr_assert_eq(notice_rcpt_open(&r0, dir, id), 0);
	uint64_t ident = notice_rcpt_checksum(r0);
	notice_rcpt_close(&r0);
	/* 10..19 opt out (still in the store as unsubscribed); 20..29 opt out
	 * and are compacted away (SUB_NONE); 30..34 invalid; 35..39 opt out
	 * and subscribe again (requested): only the first two groups go. */
	for (unsigned i = 10; i < 40; i++)
		cr_assert_eq(store_append(st, num(i), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	struct store_compact_info ci;
	cr_assert_eq(store_compact(st, &ci), 0);
	cr_assert_eq(ci.erased, 30);
	for (unsigned i = 10; i < 20; i++)
		cr_assert_eq(store_append(st, num(i), SUB_UNSUBSCRIBED, 3, NULL, 0, NULL), 0);
	for (unsigned i = 30; i < 35; i++)
		cr_assert_eq(store_append(st, num(i), SUB_INVALID, 3, NULL, 0, NULL), 0);
	for (unsigned i = 35; i < 40; i++)
		cr_assert_eq(store_append(st, num(i), SUB_REQUESTED, 3, NULL, 0, NULL), 0);
	set_state(id, NOTICE_PAUSED, 15);
	struct journal_report before, after;
	report_of(id, &before);

	struct notice_purge_info pi = { 0 };
	cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
	cr_assert_eq(pi.notices, 1);
	cr_assert_eq(pi.scrubbed, 1);
	cr_assert_eq(pi.scrubbed_entries, 20);
	/* The wamids of the erased ordinals the notice had reached (10..14)
	 * are blanked; the others are kept; the report is the same. */
	cr_assert_eq(pi.wamids_redacted, 5);
	for (uint32_t o = 0; o < 15; o++)
		cr_assert_eq(journal_has_wamid(id, o), o < 10, "ordinal %u", o);
	report_of(id, &after);
	cr_assert_eq(after.accepted, 15);
	cr_assert_eq(after.accepted, before.accepted);
	cr_assert_eq(after.remaining, before.remaining);
	cr_assert_eq(after.state, NOTICE_PAUSED);
	cr_assert_eq(pi.reduced, 0);
	cr_assert_eq(pi.locked + pi.failed, 0);

	struct notice_rcpt *r = NULL;
	cr_assert_eq(notice_rcpt_open(&r, dir, id), 0);
	cr_assert_eq(notice_rcpt_count(r), N, "ordinals keep their meaning");
	cr_assert_eq(notice_rcpt_checksum(r), ident, "the identity the journal repeats");
	for (unsigned i = 0; i < N; i++) {
		uint64_t want = i >= 10 && i < 30 ? 0 : num(i);
		cr_assert_eq(notice_rcpt_get(r, i), want, "ordinal %u", i);
	}
	/* The journal still matches its list: a writer (resume) opens it. */
	struct journal *j = NULL;
	cr_assert_eq(journal_open_notice(&j, dir, id, r, NULL, NULL), 0);
	journal_close(&j);
	notice_rcpt_close(&r);

	char path[1024];
	rcpt_file(path, sizeof path, id, "recipients.bin");
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(file_has_number(path, num(i)), !(i >= 10 && i < 30), "number %u", i);
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	rcpt_file(path, sizeof path, id, RCPT_PURGE_TMP);
	cr_assert_neq(access(path, F_OK), 0, "no temporary left");

	/* Idempotent: a second purge finds nothing more. */
	memset(&pi, 0, sizeof pi);
	cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
	cr_assert_eq(pi.scrubbed + pi.reduced, 0);
	/* More opt-outs later: a purged list is scrubbed again. */
	cr_assert_eq(store_append(st, num(50), SUB_UNSUBSCRIBED, 4, NULL, 0, NULL), 0);
	cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
	cr_assert_eq(pi.scrubbed_entries, 1);
	cr_assert_eq(notice_rcpt_open(&r, dir, id), 0);
	cr_assert_eq(notice_rcpt_get(r, 50), 0);
	cr_assert_eq(notice_rcpt_get(r, 10), 0);
	cr_assert_eq(notice_rcpt_get(r, 51), num(51));
	notice_rcpt_close(&r);
}

Test(notice_purge, finished_notices_keep_only_a_count_and_their_report_is_unchanged)
{
	static const enum notice_state fin[] = { NOTICE_CANCELLED, NOTICE_EXPIRED, NOTICE_DONE };
	for (unsigned k = 0; k < 3; k++) {
		char id[NOTICE_ID_SIZE];
		make_notice(10 + k, id);
		set_state(id, fin[k], fin[k] == NOTICE_DONE ? N : 37);
		struct journal_report before, after;
		report_of(id, &before);
		struct notice_purge_info pi = { 0 };
		cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
		cr_assert_eq(pi.reduced, 1, "%s", notice_state_name(fin[k]));
		cr_assert_eq(pi.reduced_entries, N);
		cr_assert_eq(pi.scrubbed, 0);
		uint32_t sent = fin[k] == NOTICE_DONE ? N : 37;
		cr_assert_eq(pi.wamids_redacted, sent);
		for (uint32_t o = 0; o < sent; o++)
			cr_assert_not(journal_has_wamid(id, o), "ordinal %u", o);
		char path[1024];
		rcpt_file(path, sizeof path, id, "recipients.bin");
		struct stat sb;
		cr_assert_eq(stat(path, &sb), 0);
		cr_assert_eq(sb.st_size, RCPT_HEADER_SIZE, "a stub: the header alone");
		for (unsigned i = 0; i < N; i++)
			cr_assert_not(file_has_number(path, num(i)));
		report_of(id, &after);
		cr_assert_eq(after.state, before.state);
		cr_assert_eq(after.recipients, N);
		cr_assert_eq(after.accepted, before.accepted);
		cr_assert_eq(after.remaining, before.remaining);
		cr_assert_eq(after.expired, before.expired);
		/* The stub opens: count kept, every ordinal erased, and the
		 * journal (late status webhooks) still matches it. */
		struct notice_rcpt *r = NULL;
		cr_assert_eq(notice_rcpt_open(&r, dir, id), 0);
		cr_assert_eq(notice_rcpt_count(r), N);
		cr_assert_eq(notice_rcpt_get(r, 0), 0);
		cr_assert_eq(notice_rcpt_get(r, N - 1), 0);
		struct journal *j = NULL;
		cr_assert_eq(journal_open_notice(&j, dir, id, r, NULL, NULL), 0);
		cr_assert_eq(journal_status(j, 3, JSTATUS_DELIVERED, 0, T0 + 5, NULL), 0);
		journal_close(&j);
		notice_rcpt_close(&r);
		/* Once a stub, always: nothing more to do. */
		memset(&pi, 0, sizeof pi);
		cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
		cr_assert_eq(pi.reduced, 0);
	}
}

Test(notice_purge, resumable_states_are_scrubbed_never_reduced)
{
	static const enum notice_state live[] = { NOTICE_QUEUED, NOTICE_RUNNING, NOTICE_PAUSED,
		                                  NOTICE_STOPPED };
	cr_assert_eq(store_append(st, num(7), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	for (unsigned k = 0; k < 4; k++) {
		char id[NOTICE_ID_SIZE];
		/* the store now lacks num(7): put it back for the snapshot */
		cr_assert_eq(store_append(st, num(7), SUB_CONFIRMED, 3, NULL, 0, NULL), 0);
		make_notice(20 + k, id);
		cr_assert_eq(store_append(st, num(7), SUB_UNSUBSCRIBED, 4, NULL, 0, NULL), 0);
		if (live[k] != NOTICE_QUEUED)
			set_state(id, live[k], 3);
		struct notice_purge_info pi = { 0 };
		cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
		cr_assert_eq(pi.reduced, 0, "%s", notice_state_name(live[k]));
		cr_assert_eq(pi.scrubbed_entries, 1);
		struct notice_rcpt *r = NULL;
		cr_assert_eq(notice_rcpt_open(&r, dir, id), 0);
		cr_assert_eq(notice_rcpt_get(r, 7), 0);
		cr_assert_eq(notice_rcpt_get(r, 8), num(8));
		notice_rcpt_close(&r);
	}
	/* Without a store, a resumable notice is left alone. */
	char id[NOTICE_ID_SIZE];
	cr_assert_eq(store_append(st, num(7), SUB_CONFIRMED, 5, NULL, 0, NULL), 0);
	make_notice(30, id);
	cr_assert_eq(store_append(st, num(7), SUB_UNSUBSCRIBED, 6, NULL, 0, NULL), 0);
	struct notice_purge_info pi = { 0 };
	cr_assert_eq(notice_purge_one(dir, NULL, id, &pi), 0);
	cr_assert_eq(pi.scrubbed + pi.reduced, 0);
}

Test(notice_purge, a_notice_held_by_a_writer_is_skipped_not_waited_for)
{
	char id[NOTICE_ID_SIZE];
	make_notice(40, id);
	cr_assert_eq(store_append(st, num(3), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	char path[1024];
	rcpt_file(path, sizeof path, id, "recipients.bin");
	size_t l0;
	uint8_t *b0 = tu_read_file(path, &l0);
	struct journal *j = NULL;   /* what a running sender holds */
	cr_assert_eq(journal_open_notice(&j, dir, id, NULL, NULL, NULL), 0);
	struct notice_purge_info pi = { 0 };
	cr_assert_eq(notice_purge_one(dir, st, id, &pi), BND_E_LOCKED);
	cr_assert_eq(pi.locked, 1);
	cr_assert_eq(pi.failed, 0);
	size_t l1;
	uint8_t *b1 = tu_read_file(path, &l1);
	cr_assert(l0 == l1 && memcmp(b0, b1, l0) == 0, "unchanged while locked");
	free(b1);
	/* purge_all reports it and goes on */
	cr_assert_eq(notice_purge_all(dir, st, &pi), 0);
	cr_assert_eq(pi.locked, 2);
	journal_close(&j);
	cr_assert_eq(notice_purge_all(dir, st, &pi), 0);
	cr_assert_eq(pi.scrubbed_entries, 1);
	free(b0);
}

Test(notice_purge, the_purged_header_layout_matches_the_format_document)
{
	uint8_t h[RCPT_HEADER_SIZE];
	cr_assert_eq(notice_rcpt_encode_purged_header(h, "n-20251012T101500-a3f9", 2, 1,
	                                              0x1122334455667788ull,
	                                              0x99aabbccddeeff00ull), 0);
	static const uint8_t want[56] = {
		0x42, 0x4e, 0x52, 0x43, 0x02, 0x00, 0x40, 0x00,
		'n', '-', '2', '0', '2', '5', '1', '0', '1', '2', 'T', '1', '0', '1', '5', '0',
		'0', '-', 'a', '3', 'f', '9', 0, 0,
		0x02, 0, 0, 0, 0x01, 0, 0, 0,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		0x00, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99,
	};
	cr_assert_arr_eq(h, want, 56);
	cr_assert_eq(le64_get(h + 56), XXH3_64bits_withSeed(h, 56, RCPT_SEED));
	cr_assert_eq(notice_rcpt_encode_purged_header(h, "nope", 2, 1, 0, 0), BND_E_NOTICE_ID);
}

Test(notice_purge, every_flipped_byte_of_a_purged_list_is_detected)
{
	char id[NOTICE_ID_SIZE];
	make_notice(50, id);
	for (unsigned i = 0; i < N; i += 3)
		cr_assert_eq(store_append(st, num(i), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	struct notice_purge_info pi = { 0 };
	cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
	cr_assert_eq(pi.scrubbed, 1);
	char path[1024];
	rcpt_file(path, sizeof path, id, "recipients.bin");
	size_t len;
	uint8_t *orig = tu_read_file(path, &len);
	cr_assert_eq(len, RCPT_HEADER_SIZE + N * 8);
	for (size_t off = 0; off < len; off++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			orig[off] ^= (uint8_t)(1u << bit);
			tu_write_file(path, orig, len);
			struct notice_rcpt *r = NULL;
			int rc = notice_rcpt_open(&r, dir, id);
			cr_assert_lt(rc, 0, "flip at %zu bit %u accepted", off, bit);
			cr_assert_null(r);
			orig[off] ^= (uint8_t)(1u << bit);
		}
	}
	/* Truncated or extended: detected too. */
	tu_write_file(path, orig, len - 8);
	struct notice_rcpt *r = NULL;
	cr_assert_eq(notice_rcpt_open(&r, dir, id), BND_E_RCPT_TRUNCATED);
	uint8_t *big = calloc(1, len + 8);
	memcpy(big, orig, len);
	tu_write_file(path, big, len + 8);
	cr_assert_eq(notice_rcpt_open(&r, dir, id), BND_E_RCPT_CORRUPT);
	free(big);
	/* A checksummed body whose erased count lies is corrupt. */
	uint8_t *bad = malloc(len);
	memcpy(bad, orig, len);
	le32_put(bad + 36, le32_get(bad + 36) + 1);
	le64_put(bad + 56, XXH3_64bits_withSeed(bad, 56, RCPT_SEED));
	tu_write_file(path, bad, len);
	cr_assert_eq(notice_rcpt_open(&r, dir, id), BND_E_RCPT_CORRUPT);
	free(bad);
	tu_write_file(path, orig, len);
	cr_assert_eq(notice_rcpt_open(&r, dir, id), 0);
	notice_rcpt_close(&r);
	free(orig);
}

/* The list is the old one (every number) or the new one (20..39 erased):
 * checked entry by entry; returns 0 for old, 1 for new. */
static int old_or_new(const char *id)
{
	struct notice_rcpt *r = NULL;
	int rc = notice_rcpt_open(&r, dir, id);
	cr_assert_eq(rc, 0, "the list must always open: %s", bnd_strerror(rc));
	cr_assert_eq(notice_rcpt_count(r), N);
	int isnew = notice_rcpt_get(r, 20) == 0;
	for (unsigned i = 0; i < N; i++) {
		uint64_t want = isnew && i >= 20 && i < 40 ? 0 : num(i);
		cr_assert_eq(notice_rcpt_get(r, i), want, "ordinal %u: a mix of old and new", i);
	}
	/* The journal opens as a writer would (every record checked) and
	 * matches the list; a new list means the journal was purged first. */
	struct journal *j = NULL;
	rc = journal_open_notice(&j, dir, id, r, NULL, NULL);
	cr_assert_eq(rc, 0, "journal: %s", bnd_strerror(rc));
	struct journal_report rep;
	journal_report(j, T0 + 10, &rep);
	cr_assert_eq(rep.accepted, 30);
	journal_close(&j);
	notice_rcpt_close(&r);
	if (isnew)
		for (uint32_t o = 20; o < 30; o++)
			cr_assert_not(journal_has_wamid(id, o), "ordinal %u", o);
	return isnew;
}

Test(notice_purge, a_crash_or_failure_at_any_io_step_leaves_the_old_list_or_the_new)
{
	char id[NOTICE_ID_SIZE];
	make_notice(60, id);
	set_state(id, NOTICE_PAUSED, 30);
	for (unsigned i = 20; i < 40; i++)
		cr_assert_eq(store_append(st, num(i), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	unsigned ops = (1u << FSIO_WRITE) | (1u << FSIO_FSYNC) | (1u << FSIO_RENAME) |
	               (1u << FSIO_UNLINK) | (1u << FSIO_CREATE);
	int saw_new = 0, saw_old = 0;
	for (int freeze = 0; freeze < 2; freeze++) {
		for (long k = 0; k < 60; k++) {
			/* Back to the old list for each step. */
			char path[1024], tmp[1024];
			rcpt_file(path, sizeof path, id, "recipients.bin");
			rcpt_file(tmp, sizeof tmp, id, RCPT_PURGE_TMP);
			struct tu_fault f;
			tu_fault_set(&f, ops, k, -EIO);
			f.freeze = freeze;   /* freeze: everything after fails, a crash */
			struct notice_purge_info pi = { 0 };
			int rc = notice_purge_one(dir, st, id, &pi);
			int fired = f.fired;
			tu_fault_clear();
			int isnew = old_or_new(id);
			if (!fired) {
				cr_assert_eq(rc, 0);
				cr_assert(isnew);
				break;
			}
			saw_new += isnew;
			saw_old += !isnew;
			if (rc == 0)
				cr_assert(isnew, "success means the new list");
			else
				cr_assert_eq(pi.failed, 1);
			/* The next purge completes it and leaves no temporary. */
			memset(&pi, 0, sizeof pi);
			cr_assert_eq(notice_purge_one(dir, st, id, &pi), 0);
			cr_assert(old_or_new(id));
			cr_assert_neq(access(tmp, F_OK), 0, "step %ld: temporary left", k);
			/* Restore the old list for the next step: a fresh notice
			 * file is not possible, so re-create the notice. */
			char ndir[1024];
			rcpt_file(ndir, sizeof ndir, id, NULL);
			char cmd[1200];
			snprintf(cmd, sizeof cmd, "rm -rf '%s'", ndir);
			cr_assert_eq(system(cmd), 0);
			for (unsigned i = 20; i < 40; i++)
				cr_assert_eq(store_append(st, num(i), SUB_CONFIRMED, 3, NULL, 0, NULL), 0);
			make_notice(61 + (uint32_t)k + 100 * (uint32_t)freeze, id);
			set_state(id, NOTICE_PAUSED, 30);
			for (unsigned i = 20; i < 40; i++)
				cr_assert_eq(store_append(st, num(i), SUB_UNSUBSCRIBED, 4, NULL, 0, NULL),
				             0);
		}
	}
	cr_assert(saw_old > 0 && saw_new > 0, "steps before and after the commit point");
}

Test(notice_purge, a_failed_allocation_leaves_the_list_as_it_was)
{
	char id[NOTICE_ID_SIZE];
	make_notice(70, id);
	set_state(id, NOTICE_PAUSED, 30);
	for (unsigned i = 20; i < 40; i++)
		cr_assert_eq(store_append(st, num(i), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	int failures = 0;
	for (long k = 0; k < 64; k++) {
		struct notice_purge_info pi = { 0 };
		bnd_alloc_fail_after(k);
		int rc = notice_purge_one(dir, st, id, &pi);
		bnd_alloc_fail_after(-1);
		int isnew = old_or_new(id);
		if (rc == 0) {
			cr_assert(isnew);
			break;
		}
		cr_assert_eq(rc, BND_E_NOMEM, "%s", bnd_strerror(rc));
		cr_assert_not(isnew);
		failures++;
	}
	cr_assert_gt(failures, 0, "the loop must reach a failing allocation");
	cr_assert(old_or_new(id));
}

Test(notice_purge, purge_all_goes_on_past_a_damaged_notice_and_names_it)
{
	char a[NOTICE_ID_SIZE], b[NOTICE_ID_SIZE], c[NOTICE_ID_SIZE];
	make_notice(80, a);
	make_notice(81, b);
	make_notice(82, c);
	set_state(c, NOTICE_CANCELLED, 0);
	cr_assert_eq(store_append(st, num(5), SUB_UNSUBSCRIBED, 2, NULL, 0, NULL), 0);
	char path[1024];
	rcpt_file(path, sizeof path, a, "recipients.bin");
	size_t len;
	uint8_t *buf = tu_read_file(path, &len);
	buf[RCPT_HEADER_SIZE + 3] ^= 1;
	tu_write_file(path, buf, len);
	free(buf);
	struct notice_purge_info pi = { 0 };
	cr_assert_eq(notice_purge_all(dir, st, &pi), 0);
	cr_assert_eq(pi.notices, 3);
	cr_assert_eq(pi.failed, 1);
	cr_assert_eq(pi.first_error, BND_E_RCPT_CHECKSUM);
	cr_assert_str_eq(pi.first_failed, a);
	cr_assert_eq(pi.scrubbed, 1);
	cr_assert_eq(pi.scrubbed_entries, 1);
	cr_assert_eq(pi.reduced, 1);
	cr_assert_eq(pi.reduced_entries, N);
	/* No notices at all: nothing to do. */
	cr_assert_eq(notice_purge_one(dir, st, "bad", &pi), BND_E_NOTICE_ID);
}
