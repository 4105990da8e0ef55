/* test_store_faults.c - anomaly loops over the store (store/store.c,
 * hint.c, fsio.c): fail the Nth allocation, the Nth write, the Nth fsync,
 * any Nth file-system operation, and run out of disk space; after each,
 * reopen and check that every append acknowledged by a successful
 * store_sync is there, and that nothing crashes or leaks (ASan build). */
#include "store_testutil.h"

#include "format.h"

enum { NREC = 600 };

/* ---- allocation failures ---- */

static void make_store(char *dir, size_t n, uint64_t recs)
{
	tu_tmpdir(dir, n);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	for (uint64_t i = 0; i < recs; i++)
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, i, (const uint8_t *)"src", 3,
		                          NULL), 0);
	store_close(&s);
}

static void assert_all_confirmed(struct store *s, uint64_t recs)
{
	struct store_counts c;
	store_count(s, &c);
	cr_assert_eq(c.by_state[SUB_CONFIRMED], recs);
	for (uint64_t i = 0; i < recs; i += 37) {
		struct store_record rec;
		cr_assert_eq(store_get_record(s, tu_num(i), &rec), 0);
		cr_assert_eq(rec.t_ms, i);
	}
}

Test(store_faults, open_survives_allocation_failure_at_every_step)
{
	char dir[256];
	make_store(dir, sizeof dir, NREC);
	for (unsigned flags = 0; flags <= STORE_NO_HINT; flags += STORE_NO_HINT) {
		for (unsigned ro = 0; ro <= STORE_RDONLY; ro += STORE_RDONLY) {
			long n;
			for (n = 0; n < 10000; n++) {
				struct store_opts o = { .flags = flags | ro };
				struct store *s = (struct store *)1;
				bnd_alloc_fail_after(n);
				int rc = store_open(&s, dir, &o, NULL);
				bnd_alloc_fail_after(-1);
				if (rc == 0) {
					assert_all_confirmed(s, NREC);
					store_close(&s);
					break;
				}
				cr_assert_eq(rc, BND_E_NOMEM, "n=%ld flags=%u: %s", n, flags | ro,
				             bnd_strerror(rc));
				cr_assert_null(s);
			}
			cr_assert_gt(n, 2, "open allocates");
		}
	}
	/* Creating a store too. */
	tu_rmtree(dir);
	for (long n = 0; n < 1000; n++) {
		tu_tmpdir(dir, sizeof dir);
		struct store_opts o = { .flags = STORE_CREATE };
		struct store *s;
		bnd_alloc_fail_after(n);
		int rc = store_open(&s, dir, &o, NULL);
		bnd_alloc_fail_after(-1);
		if (rc == 0) {
			store_close(&s);
			tu_rmtree(dir);
			break;
		}
		cr_assert_eq(rc, BND_E_NOMEM);
		/* a failed create leaves a directory a later create accepts */
		s = tu_open(dir, STORE_CREATE, NULL);
		store_close(&s);
		tu_rmtree(dir);
	}
}

Test(store_faults, append_allocation_failure_leaves_no_trace)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	uint64_t ok = 0, failed = 0;
	char src[16];
	/* Fail one allocation every so often while the index, the block map
	 * and the source window grow. */
	for (uint64_t i = 0; i < 5000; i++) {
		bnd_alloc_fail_after((long)(i % 3));
		int l = snprintf(src, sizeof src, "s%llu", (unsigned long long)i);
		int rc = store_append(s, tu_num(i), SUB_CONFIRMED, i, (uint8_t *)src, (size_t)l, NULL);
		bnd_alloc_fail_after(-1);
		enum sub_state st;
		store_get(s, tu_num(i), &st, NULL);
		if (rc == 0) {
			ok++;
			cr_assert_eq(st, SUB_CONFIRMED);
		} else {
			cr_assert_eq(rc, BND_E_NOMEM);
			cr_assert_eq(st, SUB_NONE, "a failed append is not in the index");
			cr_assert_eq(store_src_seen(s, (uint8_t *)src, (size_t)l), 0);
			failed++;
		}
	}
	cr_assert_gt(failed, 0, "allocation failures were hit");
	cr_assert_eq(store_sync(s, 0), 0);
	store_close(&s);
	for (unsigned fl = 0; fl <= STORE_NO_HINT; fl += STORE_NO_HINT) {
		s = tu_open(dir, fl, NULL);
		struct store_counts c;
		store_count(s, &c);
		cr_assert_eq(c.by_state[SUB_CONFIRMED], ok);
		store_close(&s);
	}
	tu_rmtree(dir);
}

Test(store_faults, close_and_compact_survive_allocation_failure)
{
	char dir[256];
	make_store(dir, sizeof dir, NREC);
	for (long n = 0; n < 50; n++) {
		struct store *s = tu_open(dir, 0, NULL);
		cr_assert_eq(store_append(s, tu_num(NREC + (uint64_t)n), SUB_CONFIRMED, NREC + (uint64_t)n,
		                          NULL, 0, NULL), 0);
		bnd_alloc_fail_after(n);
		int rc = store_close(&s);
		bnd_alloc_fail_after(-1);
		cr_assert_eq(rc, 0, "close syncs without allocating");
		s = tu_open(dir, 0, NULL);
		assert_all_confirmed(s, NREC + (uint64_t)n + 1);
		store_close(&s);
	}
	tu_rmtree(dir);
}

/* ---- I/O failures ---- */

/*
 * One workload: unique numbers appended in batches, a store_sync after
 * each; every fifth batch the store is compacted. acked[i] is set when a
 * store_sync covering number i returned 0. Returns after the first failure
 * (then checks that the store refuses or fails cleanly) or at the end.
 */
static int workload(struct store *s, uint8_t *acked, uint64_t *appended, int compact)
{
	uint64_t i = 0;
	for (int batch = 0; batch < 12; batch++) {
		uint64_t from = i;
		for (int k = 0; k < 50; k++, i++) {
			int rc = store_append(s, tu_num(i), SUB_CONFIRMED, i, (const uint8_t *)"wamid.x", 7,
			                      NULL);
			if (rc) {
				*appended = i;
				return rc;
			}
		}
		*appended = i;
		int rc = store_sync(s, 0);
		if (rc)
			return rc;
		for (uint64_t j = from; j < i; j++)
			acked[j] = 1;
		if (compact && batch % 5 == 4 && (rc = store_compact(s, NULL)))
			return rc;
	}
	return 0;
}

static void check_after(const char *dir, const uint8_t *acked, uint64_t appended, const char *w)
{
	struct store_open_info info;
	struct store *s = NULL;
	int rc = store_open(&s, dir, NULL, &info);
	cr_assert_eq(rc, 0, "%s: reopen: %s (%s@%llu)", w, bnd_strerror(rc), info.err_file,
	             (unsigned long long)info.err_offset);
	for (uint64_t i = 0; i < 12 * 50; i++) {
		enum sub_state st;
		store_get(s, tu_num(i), &st, NULL);
		if (acked[i])
			cr_assert_eq(st, SUB_CONFIRMED, "%s: acknowledged number %llu lost", w,
			             (unsigned long long)i);
		else if (i >= appended)
			cr_assert_eq(st, SUB_NONE, "%s: number %llu never appended", w,
			             (unsigned long long)i);
		else
			cr_assert(st == SUB_NONE || st == SUB_CONFIRMED);
	}
	struct store_verify_info vi;
	cr_assert_eq(store_verify(s, &vi), 0, "%s: %s", w, vi.err_msg);
	store_close(&s);
}

static void io_loop(unsigned ops, int err, int freeze, const char *what)
{
	long n;
	int fired_any = 0;
	for (n = 0; n < 2000; n++) {
		char dir[256];
		tu_tmpdir(dir, sizeof dir);
		struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
		struct store *s;
		cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
		uint8_t acked[12 * 50] = { 0 };
		uint64_t appended = 0;
		struct tu_fault f;
		tu_fault_set(&f, ops, n, err);
		f.freeze = freeze;
		int rc = workload(s, acked, &appended, 1);
		int fired = f.fired;
		if (fired && !freeze) {
			/* The store refuses or reports; it never crashes. */
			int rc2 = store_append(s, tu_num(99999), SUB_CONFIRMED, 1, NULL, 0, NULL);
			if (rc2 == 0)
				rc2 = store_sync(s, 0);
			(void)rc2;
		}
		store_close(&s);
		tu_fault_clear();
		char w[96];
		snprintf(w, sizeof w, "%s at op %ld (rc %d)", what, n, rc);
		if (!fired) {
			cr_assert_eq(rc, 0, "%s", w);
			check_after(dir, acked, appended, w);
			tu_rmtree(dir);
			break;
		}
		fired_any = 1;
		check_after(dir, acked, appended, w);
		tu_rmtree(dir);
	}
	cr_assert(fired_any, "%s: failures were injected", what);
	cr_assert_lt(n, 2000, "%s: the loop ends", what);
}

Test(store_faults, write_failure_at_every_step_loses_no_acknowledged_append)
{
	io_loop(1u << FSIO_WRITE, -EIO, 0, "write EIO");
}

Test(store_faults, fsync_failure_at_every_step_loses_no_acknowledged_append)
{
	io_loop(1u << FSIO_FSYNC, -EIO, 0, "fsync EIO");
}

Test(store_faults, any_fs_operation_failing_loses_no_acknowledged_append)
{
	io_loop(~0u, -EIO, 0, "any op EIO");
}

Test(store_faults, crash_at_every_fs_operation_loses_no_acknowledged_append)
{
	io_loop(~0u, -EIO, 1, "crash");
}

Test(store_faults, failed_fdatasync_makes_the_store_refuse_appends_until_reopen)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	struct tu_fault f;
	tu_fault_set(&f, 1u << FSIO_FSYNC, 0, -EIO);
	cr_assert_eq(store_append(s, tu_num(2), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	cr_assert_eq(store_sync(s, 0), -EIO);
	tu_fault_clear();
	cr_assert_eq(store_append(s, tu_num(3), SUB_CONFIRMED, 1, NULL, 0, NULL), -EIO);
	cr_assert_eq(store_sync(s, 0), -EIO, "the failure is sticky");
	cr_assert_eq(store_close(&s), -EIO);
	s = tu_open(dir, 0, NULL);
	enum sub_state st;
	store_get(s, tu_num(1), &st, NULL);
	cr_assert_eq(st, SUB_CONFIRMED);
	store_get(s, tu_num(3), &st, NULL);
	cr_assert_eq(st, SUB_NONE);
	cr_assert_eq(store_append(s, tu_num(3), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_faults, full_disk_fails_the_call_and_recovers_when_space_returns)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	uint8_t src[200];
	memset(src, 'x', sizeof src);
	uint64_t i = 0;
	for (; i < 100; i++)
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, i, src, sizeof src, NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	uint64_t durable = i;
	/* The disk fills up: the next write gets 1000 bytes through, then
	 * ENOSPC, and every write after that fails too. */
	struct tu_fault f;
	tu_fault_set(&f, 1u << FSIO_WRITE, 0, -ENOSPC);
	f.sticky = 1;
	f.short_bytes = 1000;
	int rc = 0;
	uint64_t buffered_from = i;
	for (; i < 100000 && !rc; i++)
		rc = store_append(s, tu_num(i), SUB_CONFIRMED, i, src, sizeof src, NULL);
	cr_assert_eq(rc, -ENOSPC, "an append that needs the disk fails");
	uint64_t failed_num = i - 1;
	enum sub_state st;
	store_get(s, tu_num(failed_num), &st, NULL);
	cr_assert_eq(st, SUB_NONE, "the failed record is not in the index");
	cr_assert_eq(store_append(s, tu_num(failed_num), SUB_CONFIRMED, 1, src, sizeof src, NULL),
	             -ENOSPC);
	cr_assert_eq(store_sync(s, 0), -ENOSPC);
	/* Earlier data intact, no half record on disk. */
	struct store *r = tu_open(dir, STORE_RDONLY, NULL);
	struct store_counts c;
	store_count(r, &c);
	cr_assert_eq(c.by_state[SUB_CONFIRMED], durable);
	store_close(&r);
	/* Space returns: the buffered appends and new ones go through. */
	tu_fault_clear();
	cr_assert_eq(store_append(s, tu_num(failed_num), SUB_CONFIRMED, failed_num, src, sizeof src,
	                          NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	cr_assert_eq(store_close(&s), 0);
	struct store_open_info info;
	s = tu_open(dir, STORE_NO_HINT, &info);
	cr_assert_eq(info.tail_dropped_bytes, 0, "no torn record was left behind");
	store_count(s, &c);
	cr_assert_eq(c.by_state[SUB_CONFIRMED], failed_num + 1);
	for (uint64_t j = buffered_from; j <= failed_num; j += 101) {
		struct store_record rec;
		cr_assert_eq(store_get_record(s, tu_num(j), &rec), 0);
		cr_assert_eq(rec.t_ms, j);
	}
	store_close(&s);
	tu_rmtree(dir);
}
