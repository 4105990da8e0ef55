/* test_store_compact.c - compaction (store/compact.c): the live set
 * survives, unsubscribed numbers are physically erased, and a crash or an
 * allocation failure at any step leaves the old set or the new one, never
 * a mix and never a loss. */
#include "store_testutil.h"

#include "format.h"
#include "phone.h"
#include "store_int.h"   /* white box: the index's capacity and slots */

enum { NUMS = 400 };

/* Fill a store: number i gets requested, then confirmed, and every 5th is
 * then unsubscribed, every 7th invalid. Returns the expected final states. */
static void fill(struct store *s, enum sub_state *want)
{
	char src[32];
	for (int round = 0; round < 3; round++) {
		for (uint64_t i = 0; i < NUMS; i++) {
			enum sub_state st = round == 0 ? SUB_REQUESTED : SUB_CONFIRMED;
			if (round == 2 && i % 5 == 0)
				st = SUB_UNSUBSCRIBED;
			else if (round == 2 && i % 7 == 0)
				st = SUB_INVALID;
			else if (round == 2)
				continue;
			int l = snprintf(src, sizeof src, "wamid.%d.%llu", round, (unsigned long long)i);
			cr_assert_eq(store_append(s, tu_num(i), st, 1000 * (uint64_t)round + i,
			                          (uint8_t *)src, (size_t)l, NULL), 0);
			want[i] = st;
		}
	}
	cr_assert_eq(store_sync(s, 0), 0);
}

/* Which set is in force: 0 old (unsubscribed numbers still known), 1 new
 * (they are gone). Fails the test on any other state (a mix or a loss). */
static int check_old_or_new(struct store *s, const enum sub_state *want)
{
	int set = -1;
	for (uint64_t i = 0; i < NUMS; i++) {
		enum sub_state st;
		cr_assert_eq(store_get(s, tu_num(i), &st, NULL), 0);
		if (want[i] != SUB_UNSUBSCRIBED) {
			cr_assert_eq(st, want[i], "number %llu lost or changed", (unsigned long long)i);
			struct store_record rec;
			cr_assert_eq(store_get_record(s, tu_num(i), &rec), 0);
			cr_assert_eq(rec.state, want[i]);
			continue;
		}
		int this = st == SUB_NONE ? 1 : 0;
		if (!this)
			cr_assert_eq(st, SUB_UNSUBSCRIBED);
		if (set < 0)
			set = this;
		cr_assert_eq(this, set, "a mix of the old and the new set at %llu",
		             (unsigned long long)i);
	}
	return set;
}

static void scan_dir_for(const char *dir, uint64_t number, int *found_digits, int *found_packed)
{
	char digits[PHONE_STR_MAX];
	phone_format(number, digits);
	uint8_t packed[8];
	for (int i = 0; i < 8; i++)
		packed[i] = (uint8_t)(number >> (8 * i));
	*found_digits = *found_packed = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[512];
		tu_path(p, sizeof p, dir, e->d_name);
		*found_digits |= tu_file_contains(p, digits, strlen(digits));
		/* The low 6 bytes hold all 50 bits but the top two: stricter than
		 * looking for all 8 (the index packs state bits above them). */
		*found_packed |= tu_file_contains(p, packed, 6);
	}
	closedir(d);
}

Test(store_compact, keeps_the_live_set_and_erases_unsubscribed_numbers)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	enum sub_state want[NUMS];
	fill(s, want);
	uint64_t gone = tu_num(5);
	cr_assert_eq(want[5], SUB_UNSUBSCRIBED);
	int fd_, fp_;
	scan_dir_for(dir, gone, &fd_, &fp_);
	cr_assert(fp_, "control: before compaction the packed number is in the log");

	struct store_compact_info ci;
	cr_assert_eq(store_compact(s, &ci), 0);
	cr_assert_eq(ci.records_before, 3 * NUMS - (NUMS - NUMS / 5 - (NUMS / 7 - NUMS / 35)));
	cr_assert_eq(ci.erased, NUMS / 5);
	cr_assert_eq(ci.records_after, NUMS - NUMS / 5);
	cr_assert_lt(ci.bytes_after, ci.bytes_before);
	cr_assert_eq(check_old_or_new(s, want), 1);
	struct store_counts c;
	store_count(s, &c);
	cr_assert_eq(c.by_state[SUB_UNSUBSCRIBED], 0);

	for (uint64_t i = 0; i < NUMS; i += 5) {
		scan_dir_for(dir, tu_num(i), &fd_, &fp_);
		cr_assert(!fd_ && !fp_, "number %llu still on disk (digits %d packed %d)",
		          (unsigned long long)i, fd_, fp_);
	}
	/* Source ids survive in the window (they are hashes, not numbers). */
	cr_assert_eq(store_src_seen(s, (const uint8_t *)"wamid.2.5", 9), 1);

	/* Appends continue after compaction; state survives both kinds of open. */
	cr_assert_eq(store_append(s, gone, SUB_REQUESTED, 99, NULL, 0, NULL), 0);
	want[5] = SUB_REQUESTED;
	store_close(&s);
	for (unsigned fl = 0; fl <= STORE_NO_HINT; fl += STORE_NO_HINT) {
		struct store_open_info info;
		s = tu_open(dir, fl, &info);
		cr_assert_eq(info.used_hint, fl ? 0 : 1);
		check_old_or_new(s, want);
		struct store_verify_info vi;
		cr_assert_eq(store_verify(s, &vi), 0, "%s", vi.err_msg);
		cr_assert_eq(vi.hint_ok, 1);
		store_close(&s);
	}
	tu_rmtree(dir);
}

/* Every number's state, time and ledger record (found through the record
 * ordinal the index holds) match the model; the erased are unknown. */
static void check_model(struct store *s, const enum sub_state *want, const uint64_t *t, size_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		enum sub_state st;
		uint64_t tm;
		cr_assert_eq(store_get(s, tu_num(i), &st, &tm), 0);
		if (want[i] == SUB_NONE) {
			cr_assert_eq(st, SUB_NONE, "number %llu erased", (unsigned long long)i);
			cr_assert_eq(store_get_record(s, tu_num(i), &(struct store_record){ 0 }),
			             BND_E_NOTFOUND);
			continue;
		}
		cr_assert_eq(st, want[i], "number %llu", (unsigned long long)i);
		cr_assert_eq(tm, t[i]);
		struct store_record rec;
		cr_assert_eq(store_get_record(s, tu_num(i), &rec), 0, "number %llu", (unsigned long long)i);
		cr_assert_eq(rec.number, tu_num(i));
		cr_assert_eq(rec.state, want[i]);
		cr_assert_eq(rec.t_ms, t[i]);
	}
}

/*
 * When the live set still needs the same capacity, compaction rewrites the
 * index in place (renumbering ordinals, removing the unsubscribed without
 * breaking probe chains). At the highest load, with a cluster that wraps
 * past the last slot, every survivor must stay findable with the right
 * record, through two compactions and both kinds of reopen.
 */
Test(store_compact, rewrites_a_full_index_in_place_with_wrapping_clusters)
{
	enum { N = 1300 };
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	static enum sub_state want[N];
	static uint64_t t[N];
	uint64_t cap0 = s->idx.cap;
	cr_assert_leq(N, subidx_grow_at(cap0), "N fits the initial table");
	for (uint64_t i = 0; i < N; i++) {
		want[i] = i % 11 == 3 ? SUB_INVALID : SUB_CONFIRMED;
		t[i] = 5000 + i;
		cr_assert_eq(store_append(s, tu_num(i), want[i], t[i], NULL, 0, NULL), 0);
	}
	cr_assert_eq(s->idx.cap, cap0);
	cr_assert(s->idx.hot[cap0 - 1] && s->idx.hot[0], "a cluster wraps past the last slot");
	for (int round = 0; round < 2; round++) {
		/* round 0 erases 1 in 13; round 1 another 1 in 4 of the rest, after
		 * re-subscribing some of the erased (new records, new ordinals). */
		for (uint64_t i = 0; i < N; i++) {
			int gone = round == 0 ? i % 13 == 0 : (i % 4 == 1 && want[i] != SUB_NONE);
			if (round == 1 && want[i] == SUB_NONE && i % 2 == 0) {
				want[i] = SUB_REQUESTED;
				t[i] = 9000 + i;
				cr_assert_eq(store_append(s, tu_num(i), want[i], t[i], NULL, 0, NULL), 0);
			}
			if (gone) {
				cr_assert_eq(store_append(s, tu_num(i), SUB_UNSUBSCRIBED, 7000 + i,
				                          (const uint8_t *)"operator", 8, NULL), 0);
				want[i] = SUB_NONE;
			}
		}
		uint64_t live = 0;
		for (uint64_t i = 0; i < N; i++)
			live += want[i] != SUB_NONE;
		cr_assert_eq(subidx_cap_for(live), cap0, "round %d keeps the capacity", round);
		struct store_compact_info ci;
		cr_assert_eq(store_compact(s, &ci), 0);
		cr_assert_eq(ci.records_after, live);
		cr_assert_eq(s->idx.cap, cap0, "rewritten in place");
		cr_assert_eq(s->idx.n, live);
		check_model(s, want, t, N);
	}
	store_close(&s);
	for (unsigned fl = 0; fl <= STORE_NO_HINT; fl += STORE_NO_HINT) {
		struct store_open_info info;
		s = tu_open(dir, fl, &info);
		cr_assert_eq(info.used_hint, fl ? 0 : 1);
		check_model(s, want, t, N);
		struct store_verify_info vi;
		cr_assert_eq(store_verify(s, &vi), 0, "%s", vi.err_msg);
		cr_assert_eq(vi.hint_ok, 1);
		store_close(&s);
	}
	tu_rmtree(dir);
}

/* When most numbers are erased the index shrinks (a new, smaller table
 * built before the commit point). */
Test(store_compact, shrinks_the_index_when_most_numbers_are_erased)
{
	enum { N = 3000 };
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	static enum sub_state want[N];
	static uint64_t t[N];
	for (uint64_t i = 0; i < N; i++) {
		want[i] = SUB_CONFIRMED;
		t[i] = 100 + i;
		cr_assert_eq(store_append(s, tu_num(i), want[i], t[i], NULL, 0, NULL), 0);
	}
	for (uint64_t i = 0; i < N; i++) {
		if (i % 10) {
			cr_assert_eq(store_append(s, tu_num(i), SUB_UNSUBSCRIBED, 200 + i, NULL, 0, NULL), 0);
			want[i] = SUB_NONE;
		}
	}
	uint64_t cap0 = s->idx.cap;
	cr_assert_eq(store_compact(s, NULL), 0);
	cr_assert_lt(s->idx.cap, cap0);
	cr_assert_eq(s->idx.cap, subidx_cap_for(N / 10));
	check_model(s, want, t, N);
	store_close(&s);
	s = tu_open(dir, 0, NULL);
	check_model(s, want, t, N);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_compact, of_an_empty_or_all_unsubscribed_store_leaves_an_empty_store)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_compact(s, NULL), 0);
	cr_assert_eq(store_append(s, tu_num(1), SUB_UNSUBSCRIBED, 1, NULL, 0, NULL), 0);
	struct store_compact_info ci;
	cr_assert_eq(store_compact(s, &ci), 0);
	cr_assert_eq(ci.records_after, 0);
	cr_assert_eq(ci.erased, 1);
	store_close(&s);
	s = tu_open(dir, 0, NULL);
	struct store_stats st;
	store_get_stats(s, &st);
	cr_assert_eq(st.records, 0);
	cr_assert_eq(st.index_entries, 0);
	store_close(&s);
	int a, b;
	scan_dir_for(dir, tu_num(1), &a, &b);
	cr_assert(!a && !b);
	tu_rmtree(dir);
}

Test(store_compact, is_refused_on_a_read_only_handle)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	struct store *r = tu_open(dir, STORE_RDONLY, NULL);
	cr_assert_eq(store_compact(r, NULL), BND_E_RDONLY);
	store_close(&r);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_compact, a_reader_opened_before_keeps_its_snapshot)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	enum sub_state want[NUMS];
	fill(s, want);
	struct store *r = tu_open(dir, STORE_RDONLY, NULL);
	cr_assert_eq(store_compact(s, NULL), 0);
	cr_assert_eq(check_old_or_new(r, want), 0, "the reader still sees the old set");
	store_close(&r);
	r = tu_open(dir, STORE_RDONLY, NULL);
	cr_assert_eq(check_old_or_new(r, want), 1);
	store_close(&r);
	store_close(&s);
	tu_rmtree(dir);
}

/* Crash simulation: at fs operation N of the compaction the disk freezes
 * (that op and every later one fail: nothing more reaches the files, as if
 * the process died), the handle is closed under the freeze, then a writer
 * reopens. */
Test(store_compact, crash_at_every_step_leaves_old_or_new_set)
{
	int saw[2] = { 0, 0 };
	long n;
	for (n = 0; n < 400; n++) {
		char dir[256];
		tu_tmpdir(dir, sizeof dir);
		struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
		struct store *s;
		cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
		enum sub_state want[NUMS];
		fill(s, want);
		struct tu_fault f;
		tu_fault_set(&f, ~0u, n, -EIO);
		f.freeze = 1;
		int rc = store_compact(s, NULL);
		int fired = f.fired;
		store_close(&s);
		tu_fault_clear();
		if (!fired)
			cr_assert_eq(rc, 0);
		struct store_open_info info;
		o.flags = 0;
		int orc = store_open(&s, dir, &o, &info);
		cr_assert_eq(orc, 0, "step %ld: reopen: %s (%s@%llu)", n, bnd_strerror(orc),
		             info.err_file, (unsigned long long)info.err_offset);
		int set = check_old_or_new(s, want);
		saw[set]++;
		/* The survivor is complete and intact. */
		struct store_verify_info vi;
		cr_assert_eq(store_verify(s, &vi), 0, "step %ld: %s", n, vi.err_msg);
		/* And usable: compaction to the end succeeds. */
		cr_assert_eq(store_compact(s, NULL), 0);
		cr_assert_eq(check_old_or_new(s, want), 1);
		store_close(&s);
		tu_rmtree(dir);
		if (!fired)
			break;
	}
	cr_assert_lt(n, 400, "the compaction ends");
	cr_assert_gt(saw[0], 3, "crashes before the switch keep the old set");
	cr_assert_gt(saw[1], 1, "crashes after the switch keep the new set");
}

Test(store_compact, allocation_failure_at_every_step_keeps_the_old_set)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	enum sub_state want[NUMS];
	fill(s, want);
	long n;
	int rc = -1;
	for (n = 0; n < 1000; n++) {
		bnd_alloc_fail_after(n);
		rc = store_compact(s, NULL);
		bnd_alloc_fail_after(-1);
		if (rc == 0)
			break;
		cr_assert_eq(rc, BND_E_NOMEM, "n=%ld: %s", n, bnd_strerror(rc));
		cr_assert_eq(check_old_or_new(s, want), 0);
	}
	cr_assert_eq(rc, 0);
	cr_assert_gt(n, 2, "compaction allocates");
	cr_assert_eq(check_old_or_new(s, want), 1);
	store_close(&s);
	s = tu_open(dir, 0, NULL);
	cr_assert_eq(check_old_or_new(s, want), 1);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_compact, other_files_in_the_data_directory_are_left_alone)
{
	char dir[256], p[512];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	const char *foreign[] = { "journal.tmp", "notices-1.log", "seg-notes.log", "HINT.old" };
	for (size_t i = 0; i < 4; i++) {
		tu_path(p, sizeof p, dir, foreign[i]);
		tu_write_file(p, (const uint8_t *)"keep", 4);
	}
	enum sub_state want[NUMS];
	fill(s, want);
	cr_assert_eq(store_compact(s, NULL), 0);
	store_close(&s);
	s = tu_open(dir, 0, NULL);
	check_old_or_new(s, want);
	store_close(&s);
	for (size_t i = 0; i < 4; i++) {
		tu_path(p, sizeof p, dir, foreign[i]);
		cr_assert(tu_file_contains(p, "keep", 4), "%s survives", foreign[i]);
	}
	tu_rmtree(dir);
}
