/* test_store.c - the subscriber store's API: state transitions, counts,
 * lookups, the consent ledger, the source-id window, the ordered snapshot,
 * segments, the lock and the hint (store/store.c, hint.c). */
#include "store_testutil.h"

#include <pthread.h>

#include "format.h"
#include "phone.h"
#include "sublog.h"

Test(store, create_append_sync_reopen_keeps_every_state)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	enum sub_state seq[] = { SUB_REQUESTED, SUB_CONFIRMED, SUB_UNSUBSCRIBED, SUB_INVALID };
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t t;
		cr_assert_eq(store_append(s, tu_num(i), seq[i % 4], 1000 + i, NULL, 0, &t), 0);
		cr_assert_eq(t, i + 1, "tickets count appends");
	}
	/* overwrite the first 10 with confirmed */
	for (uint64_t i = 0; i < 10; i++)
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, 5000 + i, NULL, 0, NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	struct store_counts c;
	store_count(s, &c);
	cr_assert_eq(c.by_state[SUB_NONE], 0);
	cr_assert_eq(c.by_state[SUB_REQUESTED], 250 - 3);
	cr_assert_eq(c.by_state[SUB_CONFIRMED], 250 + 7);
	cr_assert_eq(c.by_state[SUB_UNSUBSCRIBED], 250 - 2);
	cr_assert_eq(c.by_state[SUB_INVALID], 250 - 2);
	cr_assert_eq(store_close(&s), 0);
	cr_assert_null(s);

	for (int pass = 0; pass < 2; pass++) {
		struct store_open_info info;
		s = tu_open(dir, pass ? STORE_NO_HINT : 0, &info);
		cr_assert_eq(info.used_hint, !pass, "pass %d", pass);
		cr_assert_eq(info.records_replayed, pass ? 1010 : 0);
		struct store_counts c2;
		store_count(s, &c2);
		cr_assert_eq(memcmp(&c, &c2, sizeof c), 0);
		for (uint64_t i = 0; i < 1000; i++) {
			enum sub_state st;
			uint64_t t;
			cr_assert_eq(store_get(s, tu_num(i), &st, &t), 0);
			cr_assert_eq(st, i < 10 ? SUB_CONFIRMED : seq[i % 4]);
			cr_assert_eq(t, i < 10 ? 5000 + i : 1000 + i);
		}
		enum sub_state st = 9;
		uint64_t t = 9;
		cr_assert_eq(store_get(s, 393999999999ULL, &st, &t), 0);
		cr_assert_eq(st, SUB_NONE);
		cr_assert_eq(t, 0);
		store_close(&s);
	}
	tu_rmtree(dir);
}

Test(store, rejects_invalid_arguments)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	uint8_t src[STORE_SRC_MAX + 1] = { 0 };
	cr_assert_eq(store_append(s, 42, SUB_CONFIRMED, 1, NULL, 0, NULL), BND_E_INVAL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_NONE, 1, NULL, 0, NULL), BND_E_INVAL);
	cr_assert_eq(store_append(s, tu_num(1), 5, 1, NULL, 0, NULL), BND_E_INVAL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, src, sizeof src, NULL), BND_E_RANGE);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1ull << 42, NULL, 0, NULL), BND_E_RANGE);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, NULL, 3, NULL), BND_E_INVAL);
	cr_assert_eq(store_get(s, 0, NULL, NULL), BND_E_INVAL);
	struct store_counts c;
	store_count(s, &c);
	for (int i = 0; i < SUB_STATE_COUNT; i++)
		cr_assert_eq(c.by_state[i], 0);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, src, STORE_SRC_MAX, NULL), 0);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store, open_without_create_reports_notfound)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = (struct store *)1;
	cr_assert_eq(store_open(&s, dir, NULL, NULL), BND_E_NOTFOUND);
	cr_assert_null(s);
	struct store_opts ro = { .flags = STORE_RDONLY };
	cr_assert_eq(store_open(&s, dir, &ro, NULL), BND_E_NOTFOUND);
	tu_rmtree(dir);
}

Test(store, get_record_returns_the_latest_ledger_entry)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 8192 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	char src[64];
	/* Many records so that ordinals cross block-map blocks and segments. */
	for (uint64_t i = 0; i < 3000; i++) {
		int n = snprintf(src, sizeof src, "wamid.%llu", (unsigned long long)i);
		cr_assert_eq(store_append(s, tu_num(i % 700), (enum sub_state)(1 + i % 4), 7000 + i,
		                          (const uint8_t *)src, (size_t)n, NULL), 0);
	}
	for (int round = 0; round < 3; round++) {
		for (uint64_t j = 0; j < 700; j++) {
			uint64_t last = j + 700 * ((3000 - 1 - j) / 700);
			struct store_record rec;
			cr_assert_eq(store_get_record(s, tu_num(j), &rec), 0, "j=%llu round %d",
			             (unsigned long long)j, round);
			int n = snprintf(src, sizeof src, "wamid.%llu", (unsigned long long)last);
			cr_assert_eq(rec.number, tu_num(j));
			cr_assert_eq(rec.state, (enum sub_state)(1 + last % 4));
			cr_assert_eq(rec.t_ms, 7000 + last);
			cr_assert_eq(rec.src_len, (size_t)n);
			cr_assert_eq(memcmp(rec.src, src, (size_t)n), 0);
		}
		struct store_record rec;
		cr_assert_eq(store_get_record(s, 393999999999ULL, &rec), BND_E_NOTFOUND);
		/* round 0: partly in the buffer; 1: after sync; 2: after reopen */
		if (round == 0)
			cr_assert_eq(store_sync(s, 0), 0);
		if (round == 1) {
			store_close(&s);
			cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
			struct store_stats st;
			store_get_stats(s, &st);
			cr_assert_gt(st.segments, 3, "small segments roll");
		}
	}
	store_close(&s);
	tu_rmtree(dir);
}

Test(store, src_seen_survives_reopen_and_window_evicts)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	const uint8_t a[] = "wamid.AAA", b[] = "wamid.BBB";
	cr_assert_eq(store_src_seen(s, a, sizeof a - 1), 0);
	cr_assert_eq(store_append(s, tu_num(1), SUB_REQUESTED, 1, a, sizeof a - 1, NULL), 0);
	cr_assert_eq(store_src_seen(s, a, sizeof a - 1), 1);
	cr_assert_eq(store_src_seen(s, b, sizeof b - 1), 0);
	store_close(&s);
	for (int flags = 0; flags <= STORE_NO_HINT; flags += STORE_NO_HINT) {
		s = tu_open(dir, (unsigned)flags, NULL);
		cr_assert_eq(store_src_seen(s, a, sizeof a - 1), 1, "flags %d", flags);
		cr_assert_eq(store_src_seen(s, b, sizeof b - 1), 0);
		store_close(&s);
	}
	tu_rmtree(dir);
}

Test(store, src_window_forgets_after_window_records)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	char src[32];
	uint64_t n = STORE_SRC_WINDOW + 10;
	for (uint64_t i = 0; i < n; i++) {
		int l = snprintf(src, sizeof src, "m%llu", (unsigned long long)i);
		cr_assert_eq(store_append(s, tu_num(i % 5000), SUB_CONFIRMED, i, (uint8_t *)src,
		                          (size_t)l, NULL), 0);
	}
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < 20; i++) {
			int l = snprintf(src, sizeof src, "m%llu", (unsigned long long)i);
			cr_assert_eq(store_src_seen(s, (uint8_t *)src, (size_t)l), i >= 10,
			             "i=%llu round %d", (unsigned long long)i, round);
			l = snprintf(src, sizeof src, "m%llu", (unsigned long long)(n - 1 - i));
			cr_assert_eq(store_src_seen(s, (uint8_t *)src, (size_t)l), 1);
		}
		store_close(&s);
		s = tu_open(dir, 0, NULL);
	}
	store_close(&s);
	tu_rmtree(dir);
}

/* Probes of the source-id window's set so far, per source-id push. */
static double src_probes_per_push(struct store *s, uint64_t pushes)
{
	struct store_stats st;
	store_get_stats(s, &st);
	return (double)st.src_probes / (double)(pushes ? pushes : 1);
}

/*
 * Regression: the CLI records every imported number with the source id
 * "import". The window's set held one entry per record, so a repeated id
 * made one cluster that every push and eviction walked: an import of 100k
 * lines took seconds and 1M did not finish, and every open paid the same
 * again rebuilding the window. The cost per push must stay constant.
 */
Test(store, src_window_stays_linear_with_one_repeated_source, .timeout = 120)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	static const uint8_t imp[] = "import";
	const uint64_t n = 300000;
	for (uint64_t i = 0; i < n; i++) {
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, i, imp, sizeof imp - 1, NULL), 0);
		if ((i + 1) % 1000 == 0)
			cr_assert_leq(src_probes_per_push(s, i + 1), 8.0, "after %llu appends: %.1f probes "
			              "per push", (unsigned long long)(i + 1), src_probes_per_push(s, i + 1));
	}
	cr_assert_eq(store_src_seen(s, imp, sizeof imp - 1), 1);
	cr_assert_eq(store_src_seen(s, (const uint8_t *)"importx", 7), 0);
	store_close(&s);

	/* Reopening rebuilds the window: from the hint (its last WINDOW hashes)
	 * and by full replay (every record): linear both ways. */
	for (int pass = 0; pass < 2; pass++) {
		struct store_open_info info;
		s = tu_open(dir, pass ? STORE_NO_HINT : 0, &info);
		cr_assert_eq(info.used_hint, !pass);
		uint64_t pushed = pass ? n : STORE_SRC_WINDOW;
		cr_assert_leq(src_probes_per_push(s, pushed), 8.0, "pass %d: %.1f probes per push", pass,
		              src_probes_per_push(s, pushed));
		cr_assert_eq(store_src_seen(s, imp, sizeof imp - 1), 1, "pass %d", pass);
		store_close(&s);
	}
	tu_rmtree(dir);
}

/*
 * An id that repeats stays "seen" until its LAST occurrence leaves the
 * window: evicting an older copy must not forget a newer one.
 */
Test(store, src_window_keeps_an_id_until_its_last_copy_leaves, .timeout = 120)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	static const uint8_t x[] = "wamid.repeated";
	char f[32];
	uint64_t pos = 0;
#define PUSH(p, l) do { cr_assert_eq(store_append(s, tu_num(pos % 7000), SUB_CONFIRMED, pos, \
	                                              (const uint8_t *)(p), (l), NULL), 0); \
	pos++; } while (0)
#define FILLER() do { int l_ = snprintf(f, sizeof f, "f%llu", (unsigned long long)pos); \
	PUSH(f, (size_t)l_); } while (0)
	PUSH(x, sizeof x - 1);                        /* position 0 */
	PUSH(x, sizeof x - 1);                        /* position 1: a second copy */
	for (uint64_t i = 2; i < STORE_SRC_WINDOW; i++)
		FILLER();
	PUSH(x, sizeof x - 1);                        /* evicts copy 0 */
	cr_assert_eq(store_src_seen(s, x, sizeof x - 1), 1, "two newer copies remain");
	FILLER();                                     /* evicts copy 1 */
	cr_assert_eq(store_src_seen(s, x, sizeof x - 1), 1, "the newest copy remains");
	/* Across a reopen (hint, then replay) the window is the same. */
	for (int pass = 0; pass < 2; pass++) {
		store_close(&s);
		s = tu_open(dir, pass ? STORE_NO_HINT : 0, NULL);
		cr_assert_eq(store_src_seen(s, x, sizeof x - 1), 1, "pass %d", pass);
	}
	for (uint64_t i = 0; i < STORE_SRC_WINDOW - 2; i++)
		FILLER();
	cr_assert_eq(store_src_seen(s, x, sizeof x - 1), 1, "the last copy is the oldest now");
	FILLER();
	cr_assert_eq(store_src_seen(s, x, sizeof x - 1), 0, "every copy has left the window");
	snprintf(f, sizeof f, "f%llu", (unsigned long long)(pos - STORE_SRC_WINDOW));
	cr_assert_eq(store_src_seen(s, (const uint8_t *)f, strlen(f)), 1, "oldest filler kept");
	snprintf(f, sizeof f, "f%llu", (unsigned long long)(pos - STORE_SRC_WINDOW - 1));
	cr_assert_eq(store_src_seen(s, (const uint8_t *)f, strlen(f)), 0, "older filler gone");
#undef FILLER
#undef PUSH
	store_close(&s);
	tu_rmtree(dir);
}

Test(store, snapshot_lists_confirmed_numbers_in_ascending_order)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	uint64_t want = 0;
	uint64_t nums[] = { 12345678ULL, 999999999999999ULL, 447700900123ULL };
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(store_append(s, nums[i], SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	want = 3;
	for (uint64_t i = 0; i < 20000; i++) {
		enum sub_state st = (i % 3 == 0) ? SUB_REQUESTED : SUB_CONFIRMED;
		cr_assert_eq(store_append(s, tu_num(i), st, i, NULL, 0, NULL), 0);
		want += st == SUB_CONFIRMED;
	}
	uint64_t *v;
	size_t n;
	cr_assert_eq(store_confirmed_snapshot(s, &v, &n), 0);
	cr_assert_eq(n, want);
	cr_assert_eq(v[0], 12345678ULL);
	cr_assert_eq(v[n - 1], 999999999999999ULL);
	for (size_t i = 1; i < n; i++)
		cr_assert_lt(v[i - 1], v[i], "ascending at %zu", i);
	for (size_t i = 0; i < n; i++) {
		enum sub_state st;
		store_get(s, v[i], &st, NULL);
		cr_assert_eq(st, SUB_CONFIRMED);
	}
	bnd_free(v);
	store_close(&s);
	tu_rmtree(dir);
}

/* store_chunk_fn comparing the streamed chunks with an expected list. */
struct collect {
	const uint64_t *v;
	size_t n, at, chunks;
	int bad;
};

static int collect_chunk(void *ud, const uint64_t *numbers, size_t n)
{
	struct collect *c = ud;
	c->chunks++;
	for (size_t i = 0; i < n; i++, c->at++)
		if (c->at >= c->n || numbers[i] != c->v[c->at])
			c->bad = 1;
	return 0;
}

/* The snapshot equals the confirmed numbers of the model, ascending, and
 * store_confirmed_stream hands out the same list. */
static void snapshot_matches(struct store *s, const enum sub_state *model, size_t n, int round)
{
	uint64_t *v;
	size_t k;
	cr_assert_eq(store_confirmed_snapshot(s, &v, &k), 0, "round %d", round);
	size_t j = 0;
	for (uint64_t i = 0; i < n; i++) {
		/* tu_num is increasing in i over this range */
		if (model[i] != SUB_CONFIRMED)
			continue;
		cr_assert_lt(j, k, "round %d: snapshot too short", round);
		cr_assert_eq(v[j], tu_num(i), "round %d: position %zu", round, j);
		j++;
	}
	cr_assert_eq(j, k, "round %d: snapshot too long", round);
	/* The stream hands out the same list, in chunks, without a copy. */
	struct collect c = { .v = v, .n = k };
	size_t got = 0;
	cr_assert_eq(store_confirmed_stream(s, collect_chunk, &c, &got), 0, "round %d", round);
	cr_assert_eq(got, k, "round %d: stream count", round);
	cr_assert_eq(c.at, k, "round %d: stream length", round);
	cr_assert_eq(c.bad, 0, "round %d: stream differs from the snapshot", round);
	bnd_free(v);
}

/*
 * The sorted confirmed view the store keeps between snapshots (cview.c)
 * must give the same answer as sorting the index: through confirmations
 * out of order, in order (appended to the list directly), removals,
 * re-confirmations of one number several times between two snapshots,
 * a burst of changes large enough to drop the view, an allocation failure
 * during a snapshot, compaction, and a read-only handle that builds it at
 * its first snapshot.
 */
Test(store, snapshot_follows_every_change_between_snapshots)
{
	enum { N = 90000 };
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	static enum sub_state model[N];
	struct bnd_rng { uint64_t x; } r = { 88172645463325252ull };
#define RND() (r.x ^= r.x << 13, r.x ^= r.x >> 7, r.x ^= r.x << 17, r.x)
	static const enum sub_state pick[] = { SUB_REQUESTED, SUB_CONFIRMED, SUB_CONFIRMED,
	                                       SUB_UNSUBSCRIBED, SUB_INVALID };
	for (int round = 0; round < 12; round++) {
		size_t changes = round == 7 ? 80000 : (size_t)(RND() % 3000);
		if (round == 2) {
			/* ascending confirmations with nothing pending */
			snapshot_matches(s, model, N, round);
			for (uint64_t i = N - 2000; i < N; i++) {
				cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, i, NULL, 0, NULL), 0);
				model[i] = SUB_CONFIRMED;
			}
			changes = 0;
		}
		for (size_t c = 0; c < changes; c++) {
			uint64_t i = round == 0 ? c % N : RND() % (N - 2000);
			enum sub_state st = pick[RND() % 5];
			cr_assert_eq(store_append(s, tu_num(i), st, i, NULL, 0, NULL), 0);
			model[i] = st;
		}
		/* one number flips several times */
		for (int f = 0; f < 5; f++) {
			enum sub_state st = f % 2 ? SUB_UNSUBSCRIBED : SUB_CONFIRMED;
			cr_assert_eq(store_append(s, tu_num(17), st, 1, NULL, 0, NULL), 0);
			model[17] = st;
		}
		if (round == 5) {
			bnd_alloc_fail_after(0);
			uint64_t *v = (uint64_t *)1;
			size_t k = 1;
			int rc = store_confirmed_snapshot(s, &v, &k);
			bnd_alloc_fail_after(-1);
			cr_assert_eq(rc, BND_E_NOMEM);
			cr_assert_null(v);
			cr_assert_eq(k, 0);
		}
		if (round == 9) {
			cr_assert_eq(store_compact(s, NULL), 0);
			for (uint64_t i = 0; i < N; i++)
				if (model[i] == SUB_UNSUBSCRIBED)
					model[i] = SUB_NONE;
		}
		struct store_stats st;
		if (round == 3 || round == 7) {
			/* Dropped: the next snapshot (and stream) rebuilds it. */
			store_confirmed_release(s);
			store_get_stats(s, &st);
			cr_assert_eq(st.view_bytes, 0, "round %d: released", round);
		}
		snapshot_matches(s, model, N, round);
		store_get_stats(s, &st);
		cr_assert_gt(st.view_bytes, 0, "round %d: the view is kept", round);
	}
#undef RND
	cr_assert_eq(store_sync(s, 0), 0);
	struct store_opts ro = { .flags = STORE_RDONLY };
	struct store *r2;
	cr_assert_eq(store_open(&r2, dir, &ro, NULL), 0);
	struct store_stats st;
	store_get_stats(r2, &st);
	cr_assert_eq(st.view_bytes, 0, "a reader builds the view on demand");
	snapshot_matches(r2, model, N, 100);
	snapshot_matches(r2, model, N, 101);
	store_close(&r2);
	store_close(&s);
	tu_rmtree(dir);
}

static int count_visit(uint64_t number, enum sub_state st, uint64_t t_ms, void *ud)
{
	uint64_t *c = ud;
	c[st]++;
	c[0] += number % 7 + t_ms % 3;
	return c[SUB_CONFIRMED] == 50 ? 7 : 0;
}

Test(store, foreach_visits_every_number_and_stops_on_request)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(store_append(s, tu_num(i), i < 40 ? SUB_INVALID : SUB_CONFIRMED, i, NULL, 0,
		                          NULL), 0);
	uint64_t c[SUB_STATE_COUNT] = { 0 };
	cr_assert_eq(store_foreach(s, count_visit, c), 7);
	cr_assert_eq(c[SUB_CONFIRMED], 50);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store, second_writer_is_locked_out_and_told_who_holds_it)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	struct store *s2 = NULL;
	struct store_open_info info;
	cr_assert_eq(store_open(&s2, dir, NULL, &info), BND_E_LOCKED);
	cr_assert_null(s2);
	cr_assert_not_null(strstr(info.lock_holder, "unit test"), "holder: %s", info.lock_holder);
	cr_assert_not_null(strstr(info.lock_holder, "pid"), "holder: %s", info.lock_holder);
	/* A reader works meanwhile and sees synced data. */
	struct store *r = tu_open(dir, STORE_RDONLY, NULL);
	enum sub_state st;
	store_get(r, tu_num(1), &st, NULL);
	cr_assert_eq(st, SUB_CONFIRMED);
	cr_assert_eq(store_append(r, tu_num(2), SUB_CONFIRMED, 1, NULL, 0, NULL), BND_E_RDONLY);
	store_close(&r);
	store_close(&s);
	s2 = tu_open(dir, 0, NULL);
	store_close(&s2);
	tu_rmtree(dir);
}

Test(store, files_are_private)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	store_close(&s);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[512];
		tu_path(p, sizeof p, dir, e->d_name);
		cr_assert_eq(stat(p, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0600, "%s mode %o", e->d_name, st.st_mode & 0777);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 4, "LOCK, MANIFEST, HINT, a segment");
	tu_rmtree(dir);
}

struct gc_arg {
	struct store *s;
	int id;
	int n;
	int fails;
};

static void *gc_thread(void *p)
{
	struct gc_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		uint64_t t;
		if (store_append(a->s, tu_num((uint64_t)a->id * 100000 + (uint64_t)i), SUB_CONFIRMED,
		                 (uint64_t)i, NULL, 0, &t) || store_sync(a->s, t))
			a->fails++;
	}
	return NULL;
}

/* A disk whose fdatasync takes 2 ms, whatever the test directory is on
 * (tmpfs syncs in no time, and then nobody ever waits to share one). */
static int slow_fsync(enum fsio_op op, const char *name, size_t len, void *ud)
{
	(void)name;
	(void)len;
	(void)ud;
	if (op == FSIO_FSYNC)
		usleep(2000);
	return 0;
}

Test(store, group_commit_shares_fdatasync_between_threads)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	fsio_set_hook(slow_fsync, NULL);
	enum { T = 8, N = 50 };
	pthread_t th[T];
	struct gc_arg a[T];
	for (int i = 0; i < T; i++) {
		a[i] = (struct gc_arg){ .s = s, .id = i, .n = N };
		pthread_create(&th[i], NULL, gc_thread, &a[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(a[i].fails, 0);
	}
	struct store_stats st;
	store_get_stats(s, &st);
	cr_assert_eq(st.sync_calls, T * N);
	cr_assert_lt(st.fdatasyncs, T * N / 2, "%llu fdatasyncs for %d syncs",
	             (unsigned long long)st.fdatasyncs, T * N);
	cr_assert_geq(st.fdatasyncs, 1);
	store_close(&s);
	fsio_set_hook(NULL, NULL);
	s = tu_open(dir, 0, NULL);
	for (int i = 0; i < T; i++)
		for (int j = 0; j < N; j++) {
			enum sub_state ss;
			store_get(s, tu_num((uint64_t)i * 100000 + (uint64_t)j), &ss, NULL);
			cr_assert_eq(ss, SUB_CONFIRMED);
		}
	store_close(&s);
	tu_rmtree(dir);
}

Test(store, state_names)
{
	cr_assert_str_eq(sub_state_name(SUB_CONFIRMED), "confirmed");
	cr_assert_str_eq(sub_state_name(SUB_UNSUBSCRIBED), "unsubscribed");
	cr_assert_str_eq(sub_state_name(99), "?");
}

Test(store, get_many_agrees_with_get)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_reserve(s, 5000), 0);
	struct store_stats st0, st1;
	store_get_stats(s, &st0);
	for (uint64_t i = 0; i < 5000; i++)
		cr_assert_eq(store_append(s, tu_num(i), (enum sub_state)(1 + i % 4), i, NULL, 0, NULL), 0);
	store_get_stats(s, &st1);
	/* No rehash (a 5000-entry table is > 100 KB); the block map may grow. */
	cr_assert_lt(st1.index_bytes - st0.index_bytes, 4096, "reserve sized the index up front");
	enum { Q = 7001 };
	uint64_t *q = malloc(Q * sizeof *q);
	enum sub_state *got = malloc(Q * sizeof *got);
	for (uint64_t i = 0; i < Q; i++)
		q[i] = i % 3 == 2 ? (i % 2 ? 5 : tu_num(100000 + i)) : tu_num(i * 13 % 5000);
	cr_assert_eq(store_get_many(s, q, Q, got), 0);
	for (uint64_t i = 0; i < Q; i++) {
		enum sub_state want = SUB_NONE;
		if (sublog_num_ok(q[i]))
			store_get(s, q[i], &want, NULL);
		cr_assert_eq(got[i], want, "query %llu", (unsigned long long)i);
	}
	cr_assert_eq(store_get_many(s, NULL, 0, NULL), 0);
	cr_assert_eq(store_get_many(s, NULL, 3, got), BND_E_INVAL);
	free(q);
	free(got);
	store_close(&s);
	tu_rmtree(dir);
}

/* Copy every file of src into dst (created): a crash image of a store. */
static void copy_dir(const char *src, const char *dst)
{
	cr_assert_eq(mkdir(dst, 0700), 0);
	DIR *d = opendir(src);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char a[1024], b[1024];
		tu_path(a, sizeof a, src, e->d_name);
		tu_path(b, sizeof b, dst, e->d_name);
		size_t len;
		uint8_t *buf = tu_read_file(a, &len);
		tu_write_file(b, buf, len);
		free(buf);
	}
	closedir(d);
}

Test(store, checkpoint_bounds_the_replay_after_a_crash)
{
	char dir[256], img[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(img, sizeof img, "%s-crash", dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	for (uint64_t i = 0; i < 1000; i++)
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, i, NULL, 0, NULL), 0);
	cr_assert_eq(store_checkpoint(s), 0);
	for (uint64_t i = 1000; i < 1010; i++)
		cr_assert_eq(store_append(s, tu_num(i), SUB_REQUESTED, i, NULL, 0, NULL), 0);
	cr_assert_eq(store_sync(s, 0), 0);
	copy_dir(dir, img);   /* the files as a crash right now would leave them */
	store_close(&s);
	struct store_open_info info;
	s = tu_open(img, 0, &info);
	cr_assert_eq(info.used_hint, 1);
	cr_assert_eq(info.records_replayed, 10);
	struct store_counts c;
	store_count(s, &c);
	cr_assert_eq(c.by_state[SUB_CONFIRMED], 1000);
	cr_assert_eq(c.by_state[SUB_REQUESTED], 10);
	store_close(&s);
	struct store *r = tu_open(dir, STORE_RDONLY, NULL);
	cr_assert_eq(store_checkpoint(r), BND_E_RDONLY);
	store_close(&r);
	tu_rmtree(dir);
}

Test(store, close_rewrites_the_hint_only_when_it_is_behind)
{
	char dir[256], hp[512];
	tu_tmpdir(dir, sizeof dir);
	tu_path(hp, sizeof hp, dir, "HINT");
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	store_close(&s);
	struct stat a, b;
	cr_assert_eq(stat(hp, &a), 0);
	s = tu_open(dir, 0, NULL);   /* nothing appended: the hint stays */
	store_close(&s);
	cr_assert_eq(stat(hp, &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino, "not rewritten");
	s = tu_open(dir, 0, NULL);
	cr_assert_eq(store_append(s, tu_num(2), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	store_close(&s);
	cr_assert_eq(stat(hp, &b), 0);
	cr_assert_neq(a.st_ino, b.st_ino, "rewritten (a new file renamed over it)");
	tu_rmtree(dir);
}

struct mix_arg {
	struct store *s;
	int id;
	int n;
	int fails;
};

static void *mix_thread(void *p)
{
	struct mix_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		uint64_t num = tu_num((uint64_t)a->id * 100000 + (uint64_t)i), t;
		char src[32];
		int l = snprintf(src, sizeof src, "w%d.%d", a->id, i);
		if (store_append(a->s, num, SUB_CONFIRMED, (uint64_t)i, (uint8_t *)src, (size_t)l, &t))
			a->fails++;
		if (i % 7 == 0 && store_sync(a->s, t))
			a->fails++;
		struct store_record rec;
		if (store_get_record(a->s, num, &rec) || rec.t_ms != (uint64_t)i)
			a->fails++;
		if (a->id == 0 && i % 100 == 99 && store_compact(a->s, NULL))
			a->fails++;
	}
	if (store_sync(a->s, 0))
		a->fails++;
	return NULL;
}

Test(store, concurrent_appends_rolls_and_compaction_keep_every_append)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	fsio_set_hook(slow_fsync, NULL);   /* syncs take long enough to race */
	enum { T = 4, N = 400 };
	pthread_t th[T];
	struct mix_arg a[T];
	for (int i = 0; i < T; i++) {
		a[i] = (struct mix_arg){ .s = s, .id = i, .n = N };
		pthread_create(&th[i], NULL, mix_thread, &a[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(a[i].fails, 0, "thread %d", i);
	}
	fsio_set_hook(NULL, NULL);
	struct store_verify_info vi;
	cr_assert_eq(store_verify(s, &vi), 0, "%s", vi.err_msg);
	store_close(&s);
	for (unsigned fl = 0; fl <= STORE_NO_HINT; fl += STORE_NO_HINT) {
		s = tu_open(dir, fl, NULL);
		struct store_counts c;
		store_count(s, &c);
		cr_assert_eq(c.by_state[SUB_CONFIRMED], T * N);
		for (int i = 0; i < T; i++)
			for (int j = 0; j < N; j += 13) {
				struct store_record rec;
				cr_assert_eq(store_get_record(s, tu_num((uint64_t)i * 100000 + (uint64_t)j), &rec), 0);
				cr_assert_eq(rec.t_ms, (uint64_t)j);
			}
		store_close(&s);
	}
	tu_rmtree(dir);
}
