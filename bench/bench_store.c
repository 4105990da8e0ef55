/*
 * bench_store.c - the store scenario (issue 2's benchmark): the subscriber
 * store against SQLite doing the same work on the same generated numbers.
 *
 * usage: bench_store [--n N] [--runs R] [--seed S] [--dir DIR] [--no-warmup]
 *                    [--banditore BIN [--cli-timeout SECONDS]]
 *        bench_store --one store|sqlite --n N --seed S --dir DIR   (one run)
 *
 * The driver (first form) runs a warm-up of each engine at N/10, then R
 * measured runs interleaved store, sqlite, store, sqlite, ... each in a
 * fresh process (the second form, exec'ed from /proc/self/exe) so that
 * peak RSS and the allocator's state belong to that run alone. Each run
 * prints one JSON object of raw figures; the driver prints the scenario
 * object of bench/README.md: medians/min/max per figure, and the ratio of
 * each interleaved pair (store rate / SQLite rate) as the result.
 *
 * The work, per run, on N distinct Italian mobile numbers (fixed seed):
 *   import         store: N x store_append(CONFIRMED) + one store_sync
 *                  (group commit); sqlite: N INSERTs, one transaction per
 *                  10,000 rows (WAL, synchronous=NORMAL)
 *   import_sync10k store only: N appends with a store_sync every 10,000
 *                  (the same batching as SQLite's transactions), in a
 *                  second directory
 *   open_hint      store: close, then open with the hint file (timed);
 *                  index_bytes_per_sub is the index's heap (store_get_stats:
 *                  slots + block map) / N; open_rss_bytes_per_sub the RSS
 *                  growth of that open / N (index, source-id window, all)
 *   open_replay    store: open with STORE_NO_HINT (replays every record)
 *   mem_chase, mem_indep   random 8-byte loads from an array as big as the
 *                  index's hot array, dependent (latency) and independent
 *                  (throughput): the memory a lookup runs into, measured
 *                  in the same process at the start of the run
 *   lookup         N point lookups in random order, half hits, half misses
 *                  (store_get of the state; SQLite: prepared SELECT state
 *                  WHERE number=?); lookup_tms: the same asking for the
 *                  time too (store only: the time's low bits live in the
 *                  index's cold array, a second memory access)
 *   unsubscribe    N/10 numbers to unsubscribed, a sync (SQLite: a commit)
 *                  every 10,000 (SQLite: UPDATE ... SET state=3)
 *   scan           ordered scan of the confirmed: store_confirmed_snapshot +
 *                  iterate; SQLite: SELECT number FROM subs WHERE state=2
 *                  ORDER BY number. The writer keeps the confirmed numbers
 *                  sorted (built at open, maintained by appends), so this
 *                  snapshot merges the 100,000 unsubscribes into the list;
 *                  scan_cold: the first snapshot of a read-only handle
 *                  opened after the compaction (same 900,000 confirmed),
 *                  which builds the list from the index (collect + radix
 *                  sort): the cost without the maintained list
 *   compact        store_compact (erases the unsubscribed); SQLite: DELETE
 *                  the unsubscribed + VACUUM + wal_checkpoint(TRUNCATE),
 *                  the equivalent physical erasure
 *   cli_import     with --banditore: `banditore subscribers import FILE` of
 *                  the same N numbers (one in four written "+39 3xx xxx
 *                  xxxx"), end to end: process start, reading, parsing,
 *                  the index, appends (source "import"), one group commit,
 *                  the hint written at close. A run that exceeds
 *                  --cli-timeout (default 120 s) is killed and reported.
 * Every step checks its counts (bh_check exits 3 on a mismatch): lookups hit
 * exactly N/2, the scan returns exactly N - N/10 ascending numbers, the
 * compaction erases exactly N/10, the counts by state are exact.
 *
 * Data lives in DIR (default ./bench-data): a real disk, not tmpfs, since
 * fdatasync is part of what is measured. Each run starts from an empty DIR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "bnd.h"
#include "harness.h"
#include "store.h"

#define BATCH 10000            /* rows per SQLite transaction / store sync */
#define MAX_RUNS 32

struct params {
	size_t n;
	uint64_t seed;
	const char *dir;
	const char *banditore;   /* the CLI binary, for cli_import; may be NULL */
	int cli_timeout_s;
};

/* ---- helpers ------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, bnd_strerror(rc));
	exit(2);
}

static void sql_die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_store: sqlite %s: %s\n", what, sqlite3_errmsg(db));
	exit(2);
}

static void sql_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_store: sqlite: %s: %s\n", sql, err ? err : "?");
		exit(2);
	}
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* The lookup list: the first n/2 numbers (hits) and n/2 misses, shuffled. */
static uint64_t *lookup_list(const uint64_t *nums, const uint64_t *miss, size_t n,
                             uint64_t seed)
{
	uint64_t *v = malloc(n * sizeof *v);
	if (!v)
		die("malloc", BND_E_NOMEM);
	for (size_t i = 0; i < n / 2; i++) {
		v[2 * i] = nums[i];
		v[2 * i + 1] = miss[i];
	}
	if (n % 2)
		v[n - 1] = miss[n / 2];
	struct bh_rng r;
	bh_rng_seed(&r, seed ^ 0x10ccu);
	bh_shuffle(&r, v, n);
	return v;
}

/*
 * The memory this machine gives a lookup, measured beside it: an array of
 * words as big as the index's hot array, read at random. chase: each load's
 * address depends on the previous load (latency bound: one miss at a time);
 * indep: the addresses are known in advance (as many misses in flight as
 * the core allows). A lookup is a hash, one such miss and a compare, so its
 * rate sits between the two. Returns loads per second in *chase, *indep.
 */
static void mem_ceiling(size_t words, uint64_t seed, double *chase, double *indep)
{
	uint64_t *a = malloc(words * sizeof *a);
	if (!a)
		die("malloc", BND_E_NOMEM);
	/* Sattolo: a random permutation with a single cycle, as successors */
	struct bh_rng r;
	bh_rng_seed(&r, seed ^ 0xcea1u);
	for (size_t i = 0; i < words; i++)
		a[i] = i;
	for (size_t i = words - 1; i > 0; i--) {
		size_t j = (size_t)bh_rng_below(&r, i);
		uint64_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
	struct bh_timer t;
	uint64_t j = 0;
	bh_timer_start(&t);
	for (size_t i = 0; i < words; i++)
		j = a[j];
	bh_timer_stop(&t);
	*chase = bh_rate(words, t.wall_ns);
	/* independent: addresses from a multiplicative hash of i */
	uint64_t sum = 0;
	bh_timer_start(&t);
	for (size_t i = 0; i < words; i++)
		sum += a[(size_t)(((unsigned __int128)(i * 0x9e3779b97f4a7c15ull) * words) >> 64)];
	bh_timer_stop(&t);
	*indep = bh_rate(words, t.wall_ns);
	bh_check(j == 0 && sum != 0, "memory ceiling: one cycle through every word", (long long)j, 0);
	free(a);
}

/* ---- the store ------------------------------------------------------------ */

static struct store *open_store(const char *dir, unsigned flags, struct store_open_info *info)
{
	struct store_opts o = { .flags = flags, .holder = "bench_store" };
	struct store *s = NULL;
	int rc = store_open(&s, dir, &o, info);
	if (rc != 0)
		die("store_open", rc);
	return s;
}

static void import_store(const char *dir, const uint64_t *nums, size_t n, size_t sync_every,
                         struct bh_timer *t)
{
	struct store *s = open_store(dir, STORE_CREATE, NULL);
	bh_timer_start(t);
	for (size_t i = 0; i < n; i++) {
		/* number, state and time, like the SQLite row; the CLI's import
		 * (source "import") is measured end to end as cli_import */
		int rc = store_append(s, nums[i], SUB_CONFIRMED, 1700000000000ull + i, NULL, 0,
		                      NULL);
		if (rc != 0)
			die("store_append", rc);
		if (sync_every && (i + 1) % sync_every == 0 && (rc = store_sync(s, 0)) != 0)
			die("store_sync", rc);
	}
	int rc = store_sync(s, 0);
	if (rc != 0)
		die("store_sync", rc);
	bh_timer_stop(t);
	struct store_counts c;
	store_count(s, &c);
	bh_check(c.by_state[SUB_CONFIRMED] == n, "store import: confirmed count",
	         (long long)c.by_state[SUB_CONFIRMED], (long long)n);
	if ((rc = store_close(&s)) != 0)
		die("store_close", rc);
}

static json_t *run_store(const struct params *p, const uint64_t *nums, const uint64_t *look,
                         size_t nlook)
{
	char dir[4096], dir2[4096];
	snprintf(dir, sizeof dir, "%s/store", p->dir);
	snprintf(dir2, sizeof dir2, "%s/store-sync10k", p->dir);
	rm_rf(dir);
	rm_rf(dir2);
	size_t n = p->n, nunsub = n / 10;
	struct bh_timer t_imp, t_imp10k, t_hint, t_replay, t_look, t_unsub, t_scan, t_compact;

	/* The memory ceiling first, while little else is allocated (so that it
	 * does not raise the peak RSS figure): an array as big as the hot
	 * array of an index of n numbers (8 bytes per slot, load ~0.62). */
	double mem_chase, mem_indep;
	mem_ceiling(n + n * 5 / 8, p->seed, &mem_chase, &mem_indep);

	import_store(dir, nums, n, 0, &t_imp);
	import_store(dir2, nums, n, BATCH, &t_imp10k);
	rm_rf(dir2);

	/* open from the hint (the close above wrote it) */
	struct store_open_info info;
	long rss0 = bh_rss_kb();
	bh_timer_start(&t_hint);
	struct store *s = open_store(dir, 0, &info);
	bh_timer_stop(&t_hint);
	long rss1 = bh_rss_kb();
	bh_check(info.used_hint == 1, "store open: the hint was used", info.used_hint, 1);
	struct store_stats stats;
	store_get_stats(s, &stats);
	bh_check(stats.view_bytes >= n * 8, "store open: the confirmed view is built",
	         (long long)stats.view_bytes, (long long)(n * 8));
	bh_check(stats.index_entries == n, "store open: index entries",
	         (long long)stats.index_entries, (long long)n);
	store_close(&s);

	/* open by full replay */
	bh_timer_start(&t_replay);
	s = open_store(dir, STORE_NO_HINT, &info);
	bh_timer_stop(&t_replay);
	bh_check(info.used_hint == 0, "store open NO_HINT: no hint used", info.used_hint, 0);
	bh_check(info.records_replayed == n, "store open NO_HINT: records replayed",
	         (long long)info.records_replayed, (long long)n);

	/* point lookups, random order, half misses */
	size_t hits = 0, confirmed = 0;
	bh_timer_start(&t_look);
	for (size_t i = 0; i < nlook; i++) {
		enum sub_state st;
		store_get(s, look[i], &st, NULL);
		hits += st != SUB_NONE;
		confirmed += st == SUB_CONFIRMED;
	}
	bh_timer_stop(&t_look);
	bh_check(hits == nlook / 2, "store lookups: hits", (long long)hits, (long long)(nlook / 2));
	bh_check(confirmed == hits, "store lookups: hits are confirmed", (long long)confirmed,
	         (long long)hits);

	/* the same lookups asking for the time as well */
	struct bh_timer t_look_tms;
	uint64_t tsum = 0;
	hits = 0;
	bh_timer_start(&t_look_tms);
	for (size_t i = 0; i < nlook; i++) {
		enum sub_state st;
		uint64_t tm;
		store_get(s, look[i], &st, &tm);
		hits += st != SUB_NONE;
		tsum += tm;
	}
	bh_timer_stop(&t_look_tms);
	bh_check(hits == nlook / 2, "store lookups with time: hits", (long long)hits,
	         (long long)(nlook / 2));
	bh_check(tsum != 0, "store lookups with time: times", (long long)tsum, 1);

	/* the same lookups through store_get_many, 1024 at a time */
	struct bh_timer t_many;
	enum sub_state *sts = malloc(1024 * sizeof *sts);
	if (!sts)
		die("malloc", BND_E_NOMEM);
	hits = 0;
	bh_timer_start(&t_many);
	for (size_t i = 0; i < nlook; i += 1024) {
		size_t k = nlook - i < 1024 ? nlook - i : 1024;
		store_get_many(s, look + i, k, sts);
		for (size_t j = 0; j < k; j++)
			hits += sts[j] == SUB_CONFIRMED;
	}
	bh_timer_stop(&t_many);
	free(sts);
	bh_check(hits == nlook / 2, "store_get_many: hits", (long long)hits, (long long)(nlook / 2));

	/* unsubscribe N/10, a sync every BATCH */
	bh_timer_start(&t_unsub);
	for (size_t i = 0; i < nunsub; i++) {
		/* a JESI OFF arrives with its own WhatsApp message id */
		char src[48];
		int sl = snprintf(src, sizeof src, "wamid.HBgLMzkzMzUxMjM0NTY3FQIAEhgU%08zx", i);
		int rc = store_append(s, nums[i], SUB_UNSUBSCRIBED, 1800000000000ull + i,
		                      (const uint8_t *)src, (size_t)sl, NULL);
		if (rc != 0)
			die("store_append unsubscribe", rc);
		if ((i + 1) % BATCH == 0 && (rc = store_sync(s, 0)) != 0)
			die("store_sync", rc);
	}
	int rc = store_sync(s, 0);
	if (rc != 0)
		die("store_sync", rc);
	bh_timer_stop(&t_unsub);
	struct store_counts c;
	store_count(s, &c);
	bh_check(c.by_state[SUB_UNSUBSCRIBED] == nunsub, "store: unsubscribed count",
	         (long long)c.by_state[SUB_UNSUBSCRIBED], (long long)nunsub);

	/* ordered scan of the confirmed: snapshot + iterate */
	uint64_t *snap = NULL;
	size_t nsnap = 0;
	uint64_t sum = 0, prev = 0;
	size_t unordered = 0;
	bh_timer_start(&t_scan);
	rc = store_confirmed_snapshot(s, &snap, &nsnap);
	if (rc != 0)
		die("store_confirmed_snapshot", rc);
	for (size_t i = 0; i < nsnap; i++) {
		unordered += snap[i] <= prev;
		prev = snap[i];
		sum += snap[i];
	}
	bh_timer_stop(&t_scan);
	bnd_free(snap);
	bh_check(nsnap == n - nunsub, "store scan: confirmed count", (long long)nsnap,
	         (long long)(n - nunsub));
	bh_check(unordered == 0, "store scan: ascending", (long long)unordered, 0);
	bh_check(sum != 0, "store scan: sum", (long long)sum, 1);

	/* compaction */
	struct store_compact_info ci;
	bh_timer_start(&t_compact);
	rc = store_compact(s, &ci);
	bh_timer_stop(&t_compact);
	if (rc != 0)
		die("store_compact", rc);
	bh_check(ci.erased == nunsub, "store compact: erased", (long long)ci.erased,
	         (long long)nunsub);
	bh_check(ci.records_after == n - nunsub, "store compact: records after",
	         (long long)ci.records_after, (long long)(n - nunsub));
	store_close(&s);

	/* the same snapshot on a fresh read-only handle, which builds it from
	 * the index (after the writer is closed, so that peak RSS does not
	 * count two indexes at once) */
	struct store *ro = open_store(dir, STORE_RDONLY, NULL);
	struct bh_timer t_scan_cold;
	uint64_t sum2 = 0;
	bh_timer_start(&t_scan_cold);
	rc = store_confirmed_snapshot(ro, &snap, &nsnap);
	if (rc != 0)
		die("store_confirmed_snapshot (read-only)", rc);
	for (size_t i = 0; i < nsnap; i++)
		sum2 += snap[i];
	bh_timer_stop(&t_scan_cold);
	bnd_free(snap);
	store_close(&ro);
	bh_check(nsnap == n - nunsub, "store cold scan: confirmed count", (long long)nsnap,
	         (long long)(n - nunsub));
	bh_check(sum2 == sum, "store cold scan: same numbers", (long long)(sum2 - sum), 0);
	rm_rf(dir);

	return json_pack(
		"{s:s,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,"
		"s:f,s:f,s:f}",
		"engine", "store", "n", (json_int_t)n,
		"import_per_s", bh_rate(n, t_imp.wall_ns),
		"import_cpu_us_per_op", (double)t_imp.cpu_ns / 1e3 / (double)n,
		"import_sync10k_per_s", bh_rate(n, t_imp10k.wall_ns),
		"open_hint_ms", ms(t_hint.wall_ns),
		"open_replay_ms", ms(t_replay.wall_ns),
		"index_bytes_per_sub", (double)stats.index_bytes / (double)n,
		"src_window_bytes", (double)stats.src_bytes,
		"view_bytes_per_sub", (double)stats.view_bytes / (double)n,
		"open_rss_bytes_per_sub", (double)(rss1 - rss0) * 1024.0 / (double)n,
		"lookup_per_s", bh_rate(nlook, t_look.wall_ns),
		"lookup_many_per_s", bh_rate(nlook, t_many.wall_ns),
		"lookup_tms_per_s", bh_rate(nlook, t_look_tms.wall_ns),
		"mem_chase_per_s", mem_chase, "mem_indep_per_s", mem_indep,
		"unsub_per_s", bh_rate(nunsub, t_unsub.wall_ns),
		"scan_per_s", bh_rate(nsnap, t_scan.wall_ns),
		"scan_ms", ms(t_scan.wall_ns),
		"scan_cold_per_s", bh_rate(nsnap, t_scan_cold.wall_ns),
		"compact_ms", ms(t_compact.wall_ns),
		"compact_bytes_before", (double)ci.bytes_before,
		"compact_bytes_after", (double)ci.bytes_after,
		"peak_rss_mb", (double)bh_peak_rss_kb() / 1024.0,
		"cpu_s", (double)bh_cpu_ns() / 1e9);
}

/* ---- SQLite ------------------------------------------------------------ */

static sqlite3 *open_sqlite(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		sql_die(db, "open");
	sql_exec(db, "PRAGMA journal_mode=WAL");
	sql_exec(db, "PRAGMA synchronous=NORMAL");
	return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		sql_die(db, sql);
	return st;
}

static long long count_state(sqlite3 *db, int state)
{
	sqlite3_stmt *st = prep(db, "SELECT count(*) FROM subs WHERE state=?");
	sqlite3_bind_int(st, 1, state);
	long long c = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return c;
}

/* n rows keyed by nums[i] set to state (INSERT or UPDATE), BATCH per commit */
static void sqlite_batched(sqlite3 *db, const char *sql, const uint64_t *nums, size_t n,
                           int state, uint64_t t0)
{
	sqlite3_stmt *st = prep(db, sql);
	for (size_t i = 0; i < n; i++) {
		if (i % BATCH == 0)
			sql_exec(db, "BEGIN");
		sqlite3_bind_int(st, 1, state);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(t0 + i));
		sqlite3_bind_int64(st, 3, (sqlite3_int64)nums[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			sql_die(db, sql);
		bh_check(sqlite3_changes(db) == 1, "sqlite: one row changed", sqlite3_changes(db), 1);
		sqlite3_reset(st);
		if ((i + 1) % BATCH == 0 || i + 1 == n)
			sql_exec(db, "COMMIT");
	}
	sqlite3_finalize(st);
}

static json_t *run_sqlite(const struct params *p, const uint64_t *nums, const uint64_t *look,
                          size_t nlook)
{
	char dir[4096], path[4200];
	snprintf(dir, sizeof dir, "%s/sqlite", p->dir);
	rm_rf(dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		die("mkdir", -errno);
	snprintf(path, sizeof path, "%s/subs.db", dir);
	size_t n = p->n, nunsub = n / 10;
	struct bh_timer t_imp, t_open, t_look, t_unsub, t_scan, t_compact;

	sqlite3 *db = open_sqlite(path);
	sql_exec(db, "CREATE TABLE subs(number INTEGER PRIMARY KEY, state INTEGER NOT NULL, "
	             "t_ms INTEGER NOT NULL)");
	bh_timer_start(&t_imp);
	sqlite_batched(db, "INSERT INTO subs(state, t_ms, number) VALUES(?1, ?2, ?3)", nums, n,
	               2, 1700000000000ull);
	bh_timer_stop(&t_imp);
	bh_check(count_state(db, 2) == (long long)n, "sqlite import: confirmed count",
	         count_state(db, 2), (long long)n);
	sqlite3_close(db);

	/* open: the connection plus the schema read a first statement needs */
	bh_timer_start(&t_open);
	db = open_sqlite(path);
	sqlite3_stmt *get = prep(db, "SELECT state FROM subs WHERE number=?");
	bh_timer_stop(&t_open);

	size_t hits = 0, confirmed = 0;
	bh_timer_start(&t_look);
	for (size_t i = 0; i < nlook; i++) {
		sqlite3_bind_int64(get, 1, (sqlite3_int64)look[i]);
		if (sqlite3_step(get) == SQLITE_ROW) {
			hits++;
			confirmed += sqlite3_column_int(get, 0) == 2;
		}
		sqlite3_reset(get);
	}
	bh_timer_stop(&t_look);
	sqlite3_finalize(get);
	bh_check(hits == nlook / 2, "sqlite lookups: hits", (long long)hits, (long long)(nlook / 2));
	bh_check(confirmed == hits, "sqlite lookups: confirmed", (long long)confirmed,
	         (long long)hits);

	bh_timer_start(&t_unsub);
	sqlite_batched(db, "UPDATE subs SET state=?1, t_ms=?2 WHERE number=?3", nums, nunsub, 3,
	               1800000000000ull);
	bh_timer_stop(&t_unsub);
	bh_check(count_state(db, 3) == (long long)nunsub, "sqlite: unsubscribed count",
	         count_state(db, 3), (long long)nunsub);

	sqlite3_stmt *scan = prep(db, "SELECT number FROM subs WHERE state=2 ORDER BY number");
	size_t nscan = 0, unordered = 0;
	uint64_t prev = 0;
	bh_timer_start(&t_scan);
	while (sqlite3_step(scan) == SQLITE_ROW) {
		uint64_t x = (uint64_t)sqlite3_column_int64(scan, 0);
		unordered += x <= prev;
		prev = x;
		nscan++;
	}
	bh_timer_stop(&t_scan);
	sqlite3_finalize(scan);
	bh_check(nscan == n - nunsub, "sqlite scan: confirmed count", (long long)nscan,
	         (long long)(n - nunsub));
	bh_check(unordered == 0, "sqlite scan: ascending", (long long)unordered, 0);

	bh_timer_start(&t_compact);
	sql_exec(db, "DELETE FROM subs WHERE state=3");
	int deleted = sqlite3_changes(db);
	sql_exec(db, "VACUUM");
	sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	bh_timer_stop(&t_compact);
	bh_check(deleted == (int)nunsub, "sqlite compact: deleted", deleted, (long long)nunsub);
	sqlite3_close(db);
	rm_rf(dir);

	return json_pack("{s:s,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
	                 "engine", "sqlite", "n", (json_int_t)n,
	                 "import_per_s", bh_rate(n, t_imp.wall_ns),
	                 "import_cpu_us_per_op", (double)t_imp.cpu_ns / 1e3 / (double)n,
	                 "open_ms", ms(t_open.wall_ns),
	                 "lookup_per_s", bh_rate(nlook, t_look.wall_ns),
	                 "unsub_per_s", bh_rate(nunsub, t_unsub.wall_ns),
	                 "scan_per_s", bh_rate(nscan, t_scan.wall_ns),
	                 "scan_ms", ms(t_scan.wall_ns),
	                 "compact_ms", ms(t_compact.wall_ns),
	                 "peak_rss_mb", (double)bh_peak_rss_kb() / 1024.0,
	                 "cpu_s", (double)bh_cpu_ns() / 1e9);
}

/* ---- one run (child process) ------------------------------------------------ */

static int run_one(const char *engine, const struct params *p)
{
	/* A fixed mmap threshold: large blocks (the index) are mapped and
	 * returned to the kernel on free, so the RSS growth of an open is
	 * what that open holds, not what the allocator kept from before. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	uint64_t *nums = NULL, *miss = NULL;
	size_t nlook = p->n;
	if (bh_gen_it_mobiles(p->seed, p->n, &nums, nlook / 2 + 1, &miss) != 0)
		die("generate numbers", BND_E_NOMEM);
	uint64_t *look = lookup_list(nums, miss, nlook, p->seed);
	free(miss);
	if (mkdir(p->dir, 0700) != 0 && errno != EEXIST)
		die(p->dir, -errno);
	json_t *r = strcmp(engine, "store") == 0 ? run_store(p, nums, look, nlook)
	                                         : run_sqlite(p, nums, look, nlook);
	free(nums);
	free(look);
	return bh_print_json(r) == 0 ? 0 : 2;
}

/* ---- the CLI import ------------------------------------------------------------ */

static void write_import_file(const char *path, const uint64_t *nums, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die(path, -errno);
	for (size_t i = 0; i < n; i++) {
		uint64_t x = nums[i] - 390000000000ull;   /* 3xx xxx xxxx */
		if (i % 4 == 3)
			fprintf(f, "+39 %03llu %03llu %04llu\n", (unsigned long long)(x / 10000000),
			        (unsigned long long)(x / 10000 % 1000), (unsigned long long)(x % 10000));
		else
			fprintf(f, "%llu\n", (unsigned long long)nums[i]);
	}
	if (fclose(f) != 0)
		die(path, -errno);
}

/* One timed CLI import into an empty directory. Returns the rate, or 0
 * with *timed_out set when it ran past the timeout (it is then killed). */
static double run_cli_import(const struct params *p, const char *file, size_t n,
                             int *timed_out)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/cli", p->dir);
	rm_rf(dir);
	*timed_out = 0;
	int fds[2];
	if (pipe(fds) != 0)
		die("pipe", -errno);
	struct bh_timer t;
	bh_timer_start(&t);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (!freopen("/dev/null", "w", stderr))
			_exit(126);
		execl(p->banditore, "banditore", "--data", dir, "subscribers", "import", file,
		      "--json", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	uint64_t deadline = bh_now_ns() + (uint64_t)p->cli_timeout_s * 1000000000u;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (bh_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			*timed_out = 1;
			break;
		}
		usleep(1000);
	}
	bh_timer_stop(&t);
	FILE *f = fdopen(fds[0], "r");
	json_error_t err;
	json_t *j = f && !*timed_out ? json_loadf(f, JSON_DISABLE_EOF_CHECK, &err) : NULL;
	if (f)
		fclose(f);
	rm_rf(dir);
	if (*timed_out)
		return 0;
	bh_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "cli import: exit status", status, 0);
	long long imported = (long long)json_integer_value(json_object_get(j, "imported"));
	json_decref(j);
	bh_check(imported == (long long)n, "cli import: imported", imported, (long long)n);
	return bh_rate(n, t.wall_ns);
}

/* ---- the driver ---------------------------------------------------------------- */

/* Run one child and parse its JSON line. Returns a new reference or NULL. */
static json_t *spawn_run(const char *engine, const struct params *p, size_t n)
{
	char nbuf[32], sbuf[32];
	snprintf(nbuf, sizeof nbuf, "%zu", n);
	snprintf(sbuf, sizeof sbuf, "%llu", (unsigned long long)p->seed);
	int fds[2];
	if (pipe(fds) != 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", "bench_store", "--one", engine, "--n", nbuf, "--seed", sbuf,
		      "--dir", p->dir, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	json_error_t err;
	json_t *j = f ? json_loadf(f, JSON_DISABLE_EOF_CHECK, &err) : NULL;
	if (f)
		fclose(f);
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_store: the %s run failed (status %d)\n", engine, status);
		json_decref(j);
		return NULL;
	}
	return j;
}

struct series {
	const char *key, *unit;
	int has_store, has_sqlite;
};

static const struct series SERIES[] = {
	{ "import_per_s", "numbers/s", 1, 1 },
	{ "import_sync10k_per_s", "numbers/s", 1, 0 },
	{ "import_cpu_us_per_op", "us CPU/number", 1, 1 },
	{ "open_hint_ms", "ms", 1, 0 },
	{ "open_replay_ms", "ms", 1, 0 },
	{ "open_ms", "ms", 0, 1 },
	{ "index_bytes_per_sub", "bytes/subscriber", 1, 0 },
	{ "open_rss_bytes_per_sub", "bytes/subscriber", 1, 0 },
	{ "src_window_bytes", "bytes", 1, 0 },
	{ "view_bytes_per_sub", "bytes/subscriber", 1, 0 },
	{ "lookup_per_s", "lookups/s", 1, 1 },
	{ "lookup_many_per_s", "lookups/s", 1, 0 },
	{ "lookup_tms_per_s", "lookups/s", 1, 0 },
	{ "mem_chase_per_s", "dependent random loads/s", 1, 0 },
	{ "mem_indep_per_s", "independent random loads/s", 1, 0 },
	{ "unsub_per_s", "unsubscribes/s", 1, 1 },
	{ "scan_per_s", "numbers/s", 1, 1 },
	{ "scan_ms", "ms", 1, 1 },
	{ "scan_cold_per_s", "numbers/s", 1, 0 },
	{ "compact_ms", "ms", 1, 1 },
	{ "compact_bytes_before", "bytes", 1, 0 },
	{ "compact_bytes_after", "bytes", 1, 0 },
	{ "peak_rss_mb", "MiB", 1, 1 },
};
#define N_SERIES (sizeof SERIES / sizeof SERIES[0])

static double getnum(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static int drive(const struct params *p, int runs, int warmup)
{
	json_t *res[2][MAX_RUNS] = { { 0 } };
	const char *eng[2] = { "store", "sqlite" };
	if (warmup) {
		size_t wn = p->n / 10 ? p->n / 10 : p->n;
		for (int e = 0; e < 2; e++) {
			json_t *w = spawn_run(eng[e], p, wn);
			if (!w)
				return 1;
			json_decref(w);
		}
	}
	/* The CLI import reads a file of the same numbers. */
	char import_file[4200];
	double cli[MAX_RUNS];
	int cli_timeouts = 0;
	if (p->banditore) {
		uint64_t *nums = NULL;
		if (bh_gen_it_mobiles(p->seed, p->n, &nums, 0, NULL) != 0)
			die("generate numbers", BND_E_NOMEM);
		if (mkdir(p->dir, 0700) != 0 && errno != EEXIST)
			die(p->dir, -errno);
		snprintf(import_file, sizeof import_file, "%s/import.txt", p->dir);
		write_import_file(import_file, nums, p->n);
		free(nums);
	}
	for (int r = 0; r < runs; r++) {
		for (int e = 0; e < 2; e++) {
			res[e][r] = spawn_run(eng[e], p, p->n);
			if (!res[e][r])
				return 1;
			fprintf(stderr, "bench_store: run %d %s done\n", r + 1, eng[e]);
		}
		if (p->banditore) {
			int to;
			cli[r] = run_cli_import(p, import_file, p->n, &to);
			cli_timeouts += to;
			fprintf(stderr, "bench_store: run %d cli import %s\n", r + 1,
			        to ? "TIMED OUT" : "done");
		}
	}
	if (p->banditore)
		unlink(import_file);
	json_t *metrics = json_object(), *ratios = json_object();
	if (p->banditore)
		bh_metric_set(metrics, "cli_import_per_s", cli, runs, "numbers/s (end to end)");
	double v[2][MAX_RUNS];
	for (size_t k = 0; k < N_SERIES; k++) {
		for (int e = 0; e < 2; e++) {
			if (!(e == 0 ? SERIES[k].has_store : SERIES[k].has_sqlite))
				continue;
			for (int r = 0; r < runs; r++)
				v[e][r] = getnum(res[e][r], SERIES[k].key);
			char name[96];
			snprintf(name, sizeof name, "%s_%s", eng[e], SERIES[k].key);
			bh_metric_set(metrics, name, v[e], runs, SERIES[k].unit);
		}
	}
	/* Ratios of interleaved pairs: how many times faster the store is. */
	static const struct {
		const char *name, *store_key, *sqlite_key;
		int inverse;   /* 1: times (lower is better): sqlite / store */
	} RATIOS[] = {
		{ "import_vs_sqlite", "import_per_s", "import_per_s", 0 },
		{ "import_sync10k_vs_sqlite", "import_sync10k_per_s", "import_per_s", 0 },
		{ "lookup_vs_sqlite", "lookup_per_s", "lookup_per_s", 0 },
		{ "unsub_vs_sqlite", "unsub_per_s", "unsub_per_s", 0 },
		{ "scan_vs_sqlite", "scan_per_s", "scan_per_s", 0 },
		{ "scan_cold_vs_sqlite", "scan_cold_per_s", "scan_per_s", 0 },
		{ "compact_vs_sqlite", "compact_ms", "compact_ms", 1 },
	};
	for (size_t k = 0; k < sizeof RATIOS / sizeof RATIOS[0]; k++) {
		for (int r = 0; r < runs; r++) {
			double a = getnum(res[0][r], RATIOS[k].store_key);
			double b = getnum(res[1][r], RATIOS[k].sqlite_key);
			v[0][r] = RATIOS[k].inverse ? b : a;
			v[1][r] = RATIOS[k].inverse ? a : b;
		}
		bh_ratio_set(ratios, RATIOS[k].name, v[0], v[1], runs);
	}
	/* The targets, judged on the medians. */
	static const struct {
		const char *name, *metric, *ratio;
		double limit;
		int at_most;
	} TARGETS[] = {
		{ "open_hint_ms <= 100", "store_open_hint_ms", NULL, 100, 1 },
		{ "import >= 2M/s", "store_import_per_s", NULL, 2e6, 0 },
		{ "lookups >= 10M/s", "store_lookup_per_s", NULL, 10e6, 0 },
		{ "scan >= 50M/s", "store_scan_per_s", NULL, 50e6, 0 },
		{ "index <= 32 B/subscriber", "store_index_bytes_per_sub", NULL, 32, 1 },
		{ "import >= 10x SQLite", NULL, "import_vs_sqlite", 10, 0 },
		{ "import (sync every 10k) >= 10x SQLite", NULL, "import_sync10k_vs_sqlite", 10, 0 },
		{ "lookups >= 10x SQLite", NULL, "lookup_vs_sqlite", 10, 0 },
		{ "unsubscribes >= 10x SQLite", NULL, "unsub_vs_sqlite", 10, 0 },
		{ "scan >= 5x SQLite", NULL, "scan_vs_sqlite", 5, 0 },
		{ "compaction >= 10x SQLite", NULL, "compact_vs_sqlite", 10, 0 },
		{ "CLI import of N lines >= 2M/s", "cli_import_per_s", NULL, 2e6, 0 },
	};
	json_t *targets = json_object();
	for (size_t k = 0; k < sizeof TARGETS / sizeof TARGETS[0]; k++) {
		json_t *src = TARGETS[k].metric ? json_object_get(metrics, TARGETS[k].metric)
		                                : json_object_get(ratios, TARGETS[k].ratio);
		if (!src)
			continue;   /* a figure this run did not measure */
		double med = getnum(src, "median");
		int met = TARGETS[k].at_most ? med <= TARGETS[k].limit : med >= TARGETS[k].limit;
		json_object_set_new(targets, TARGETS[k].name,
		                    json_pack("{s:f,s:f,s:b}", "median", med, "limit",
		                              TARGETS[k].limit, "met", met));
	}
	json_t *out = json_pack(
		"{s:s,s:{s:I,s:I,s:I,s:I,s:i,s:b,s:s,s:i},s:o,s:o,s:o,s:s}", "scenario", "store",
		"params", "n", (json_int_t)p->n, "lookups", (json_int_t)p->n, "unsubscribes",
		(json_int_t)(p->n / 10), "seed", (json_int_t)p->seed, "runs", runs, "warmup", warmup,
		"dir", p->dir, "cli_import_timeouts", cli_timeouts, "metrics", metrics, "ratios",
		ratios, "targets", targets, "notes",
		"store vs SQLite (WAL, synchronous=NORMAL, 10,000 rows per transaction), "
		"interleaved store/sqlite runs, each in a fresh process; ratios are medians of "
		"per-pair ratios (store faster when > 1); data on the real disk in dir");
	for (int e = 0; e < 2; e++)
		for (int r = 0; r < runs; r++)
			json_decref(res[e][r]);
	return bh_print_json(out) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct params p = { .n = 1000000, .seed = 42, .dir = "./bench-data", .cli_timeout_s = 120 };
	int runs = 3, warmup = 1;
	const char *one = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-warmup") == 0) {
			warmup = 0;
			continue;
		}
		if (!v) {
			fprintf(stderr, "usage: bench_store [--n N] [--runs R] [--seed S] [--dir DIR] "
			                "[--no-warmup] | --one store|sqlite ...\n");
			return 2;
		}
		if (strcmp(a, "--n") == 0)
			p.n = strtoull(v, NULL, 10);
		else if (strcmp(a, "--runs") == 0)
			runs = atoi(v);
		else if (strcmp(a, "--seed") == 0)
			p.seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--dir") == 0)
			p.dir = v;
		else if (strcmp(a, "--one") == 0)
			one = v;
		else if (strcmp(a, "--banditore") == 0)
			p.banditore = v;
		else if (strcmp(a, "--cli-timeout") == 0)
			p.cli_timeout_s = atoi(v);
		else {
			fprintf(stderr, "bench_store: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (p.n < 20 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "bench_store: --n >= 20, --runs 1..%d\n", MAX_RUNS);
		return 2;
	}
	if (one) {
		if (strcmp(one, "store") != 0 && strcmp(one, "sqlite") != 0) {
			fprintf(stderr, "bench_store: --one store|sqlite\n");
			return 2;
		}
		return run_one(one, &p);
	}
	return drive(&p, runs, warmup);
}
