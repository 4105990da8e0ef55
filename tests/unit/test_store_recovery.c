/* test_store_recovery.c - recovery on open (store/store.c, sublog.c,
 * hint.c): torn tails are repaired by a writer and ignored by a reader,
 * damage before the tail is reported with file and offset, a read-only
 * open never changes a byte, and a hint that does not fit is rejected and
 * rebuilt with identical state. */
#include "store_testutil.h"

#include "format.h"
#include "phone.h"

/* ---- helpers ---- */

struct snap {
	uint64_t v[3 * 4096];
	size_t n;
};

static int snap_visit(uint64_t number, enum sub_state st, uint64_t t_ms, void *ud)
{
	struct snap *s = ud;
	if (s->n + 3 > sizeof s->v / sizeof s->v[0])
		return 1;
	s->v[s->n++] = number;
	s->v[s->n++] = st;
	s->v[s->n++] = t_ms;
	return 0;
}

static int cmp3(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void snap_take(struct store *s, struct snap *out)
{
	out->n = 0;
	cr_assert_eq(store_foreach(s, snap_visit, out), 0);
	qsort(out->v, out->n / 3, 3 * sizeof(uint64_t), cmp3);
}

static void snap_assert_eq(const struct snap *a, const struct snap *b, const char *what)
{
	cr_assert_eq(a->n, b->n, "%s: %zu vs %zu entries", what, a->n / 3, b->n / 3);
	cr_assert_eq(memcmp(a->v, b->v, a->n * sizeof a->v[0]), 0, "%s: states differ", what);
}

/* Every file of dir, concatenated with its name, to compare before/after.
 * A writer rewrites LOCK's holder text, so its content can be left out. */
static int dir_skip_lock;

static uint8_t *dir_bytes(const char *dir, size_t *len)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	cr_assert_geq(n, 0);
	size_t cap = 1 << 16, l = 0;
	uint8_t *out = malloc(cap);
	for (int i = 0; i < n; i++) {
		char p[512];
		tu_path(p, sizeof p, dir, names[i]->d_name);
		size_t fl = 0;
		int skip = names[i]->d_name[0] == '.' ||
		           (dir_skip_lock && strcmp(names[i]->d_name, FMT_LOCK_NAME) == 0);
		uint8_t *b = skip ? NULL : tu_read_file(p, &fl);
		size_t nl = strlen(names[i]->d_name);
		while (l + nl + fl + 16 > cap)
			out = realloc(out, cap *= 2);
		memcpy(out + l, names[i]->d_name, nl);
		l += nl;
		if (b)
			memcpy(out + l, b, fl);
		l += fl;
		free(b);
		free(names[i]);
	}
	free(names);
	*len = l;
	return out;
}

static void assert_dir_unchanged(const char *dir, const uint8_t *before, size_t blen, const char *w)
{
	size_t alen;
	uint8_t *after = dir_bytes(dir, &alen);
	cr_assert(alen == blen && memcmp(before, after, blen) == 0, "%s: directory changed", w);
	free(after);
}

/* A store with one segment: `base` numbers confirmed, then `tail` records
 * for fresh numbers (so that losing one shows as SUB_NONE). rec_off gets
 * the offset of every tail record and the end. */
enum { BASE = 300, TAIL = 3 };

static void build(char *dir, size_t dn, uint64_t rec_off[TAIL + 1], char *seg_path, size_t sn)
{
	tu_tmpdir(dir, dn);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	char src[40];
	uint64_t off = FMT_SEG_HDR_LEN;
	for (uint64_t i = 0; i < BASE + TAIL; i++) {
		int l = snprintf(src, sizeof src, "wamid.HBgL%llu", (unsigned long long)i);
		if (i >= BASE)
			rec_off[i - BASE] = off;
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, 1700000000000ULL + i,
		                          (uint8_t *)src, (size_t)l, NULL), 0);
		off += FMT_REC_FIXED + (uint64_t)l;
	}
	rec_off[TAIL] = off;
	store_close(&s);
	char name[FMT_SEG_NAME_LEN + 1];
	snprintf(name, sizeof name, "seg-%016llx.log", 1ULL);
	tu_path(seg_path, sn, dir, name);
	size_t len;
	free(tu_read_file(seg_path, &len));
	cr_assert_eq(len, off);
}

static void remove_hint(const char *dir)
{
	char p[512];
	tu_path(p, sizeof p, dir, FMT_HINT_NAME);
	unlink(p);
}

/* Records 0..upto-1 are present with their state, later ones are not. */
static void assert_prefix(struct store *s, uint64_t upto)
{
	for (uint64_t i = 0; i < BASE + TAIL; i++) {
		enum sub_state st;
		store_get(s, tu_num(i), &st, NULL);
		cr_assert_eq(st, i < upto ? SUB_CONFIRMED : SUB_NONE, "record %llu of %llu",
		             (unsigned long long)i, (unsigned long long)upto);
	}
}

/* ---- torn tails ---- */

Test(store_recovery, truncation_at_every_offset_of_the_tail_is_repaired)
{
	char dir[256], seg[512];
	uint64_t ro[TAIL + 1];
	build(dir, sizeof dir, ro, seg, sizeof seg);
	size_t full_len;
	uint8_t *full = tu_read_file(seg, &full_len);
	for (uint64_t cut = ro[0]; cut < ro[TAIL]; cut++) {
		for (int keep_hint = 0; keep_hint < 2; keep_hint++) {
			tu_write_file(seg, full, (size_t)cut);
			if (!keep_hint)
				remove_hint(dir);
			/* Complete records before the cut survive; the one cut is gone. */
			uint64_t whole = BASE;
			while (whole < BASE + TAIL && ro[whole - BASE + 1] <= cut)
				whole++;
			uint64_t good_end = ro[whole - BASE];

			size_t blen;
			uint8_t *before = dir_bytes(dir, &blen);
			struct store_open_info info;
			struct store *r = tu_open(dir, STORE_RDONLY, &info);
			cr_assert_eq(info.tail_dropped_bytes, cut - good_end, "reader cut %llu",
			             (unsigned long long)cut);
			assert_prefix(r, whole);
			store_close(&r);
			assert_dir_unchanged(dir, before, blen, "read-only open");
			free(before);

			struct store *s = tu_open(dir, 0, &info);
			cr_assert_eq(info.tail_dropped_bytes, cut - good_end);
			if (keep_hint)
				cr_assert_eq(info.hint_rejected, 1, "the hint covers bytes that are gone");
			assert_prefix(s, whole);
			size_t now;
			free(tu_read_file(seg, &now));
			cr_assert_eq(now, good_end, "writer truncated the torn tail");
			/* A later append is not poisoned by the repaired tail. */
			cr_assert_eq(store_append(s, tu_num(BASE + TAIL + 1), SUB_INVALID, 5, NULL, 0, NULL), 0);
			store_close(&s);
			s = tu_open(dir, STORE_NO_HINT, &info);
			cr_assert_eq(info.tail_dropped_bytes, 0);
			assert_prefix(s, whole);
			enum sub_state st;
			store_get(s, tu_num(BASE + TAIL + 1), &st, NULL);
			cr_assert_eq(st, SUB_INVALID);
			store_close(&s);
		}
	}
	free(full);
	tu_rmtree(dir);
}

Test(store_recovery, flipped_bytes_repair_the_last_record_or_report_earlier_damage)
{
	char dir[256], seg[512];
	uint64_t ro[TAIL + 1];
	build(dir, sizeof dir, ro, seg, sizeof seg);
	size_t full_len;
	uint8_t *full = tu_read_file(seg, &full_len);
	char segname[64];
	snprintf(segname, sizeof segname, "seg-%016llx.log", 1ULL);
	for (uint64_t p = ro[0]; p < ro[TAIL]; p++) {
		full[p] ^= 0x5a;
		tu_write_file(seg, full, full_len);
		full[p] ^= 0x5a;
		remove_hint(dir);
		uint64_t rec = BASE;
		while (ro[rec - BASE + 1] <= p)
			rec++;
		int in_last = rec == BASE + TAIL - 1;
		for (int writer = 0; writer < 2; writer++) {
			dir_skip_lock = writer;
			size_t blen;
			uint8_t *before = dir_bytes(dir, &blen);
			struct store_opts o = { .flags = writer ? 0 : STORE_RDONLY };
			struct store_open_info info;
			struct store *s = NULL;
			int rc = store_open(&s, dir, &o, &info);
			if (in_last) {
				cr_assert_eq(rc, 0, "byte %llu: %s", (unsigned long long)p, bnd_strerror(rc));
				cr_assert_eq(info.tail_dropped_bytes, ro[TAIL] - ro[TAIL - 1]);
				assert_prefix(s, BASE + TAIL - 1);
				store_close(&s);
				if (!writer)
					assert_dir_unchanged(dir, before, blen, "read-only open");
			} else {
				cr_assert(rc == BND_E_STORE_CHECKSUM || rc == BND_E_STORE_CORRUPT ||
				          rc == BND_E_STORE_TRUNCATED,
				          "byte %llu: %d %s", (unsigned long long)p, rc, bnd_strerror(rc));
				cr_assert_null(s);
				cr_assert_str_eq(info.err_file, segname);
				cr_assert_eq(info.err_offset, ro[rec - BASE], "byte %llu: offset %llu",
				             (unsigned long long)p, (unsigned long long)info.err_offset);
				assert_dir_unchanged(dir, before, blen, "failed open");
			}
			free(before);
		}
	}
	free(full);
	tu_rmtree(dir);
}

Test(store_recovery, damage_in_a_sealed_segment_is_an_error_not_a_tail)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 4096 };
	struct store *s;
	cr_assert_eq(store_open(&s, dir, &o, NULL), 0);
	for (uint64_t i = 0; i < 400; i++)
		cr_assert_eq(store_append(s, tu_num(i), SUB_CONFIRMED, i, NULL, 0, NULL), 0);
	store_close(&s);
	char seg[512];
	tu_path(seg, sizeof seg, dir, "seg-0000000000000001.log");
	size_t len;
	uint8_t *b = tu_read_file(seg, &len);
	/* Drop the last record's last byte: in the last segment that would be
	 * a torn tail; in a sealed one it is damage. */
	tu_write_file(seg, b, len - 1);
	remove_hint(dir);
	struct store_open_info info;
	cr_assert_eq(store_open(&s, dir, &o, &info), BND_E_STORE_TRUNCATED);
	cr_assert_str_eq(info.err_file, "seg-0000000000000001.log");
	cr_assert_eq(info.err_offset, len - FMT_REC_FIXED);
	/* verify reports the same */
	tu_write_file(seg, b, len);
	s = tu_open(dir, 0, NULL);
	tu_write_file(seg, b, len - 1);
	struct store_verify_info vi;
	cr_assert_eq(store_verify(s, &vi), BND_E_STORE_TRUNCATED);
	cr_assert_str_eq(vi.err_file, "seg-0000000000000001.log");
	cr_assert_eq(vi.err_offset, len - FMT_REC_FIXED);
	cr_assert_neq(vi.err_msg[0], 0);
	tu_write_file(seg, b, len);
	store_close(&s);
	free(b);
	tu_rmtree(dir);
}

Test(store_recovery, bad_magic_and_version_have_their_own_codes)
{
	char dir[256], p[512];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_append(s, tu_num(1), SUB_CONFIRMED, 1, NULL, 0, NULL), 0);
	store_close(&s);
	struct {
		const char *file;
		size_t off;
		int code;
	} cases[] = {
		{ "seg-0000000000000001.log", FMT_SEG_OFF_MAGIC, BND_E_STORE_MAGIC },
		{ "seg-0000000000000001.log", FMT_SEG_OFF_VERSION, BND_E_STORE_VERSION },
		{ "seg-0000000000000001.log", FMT_SEG_OFF_SEQ, BND_E_STORE_CHECKSUM },
		{ FMT_MANIFEST_NAME, FMT_MAN_OFF_MAGIC, BND_E_STORE_MAGIC },
		{ FMT_MANIFEST_NAME, FMT_MAN_OFF_VERSION, BND_E_STORE_VERSION },
		{ FMT_MANIFEST_NAME, FMT_MAN_OFF_GEN, BND_E_STORE_CHECKSUM },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tu_path(p, sizeof p, dir, cases[i].file);
		size_t len;
		uint8_t *b = tu_read_file(p, &len);
		b[cases[i].off] ^= 0x10;
		tu_write_file(p, b, len);
		for (unsigned fl = 0; fl <= STORE_RDONLY; fl += STORE_RDONLY) {
			struct store_opts o = { .flags = fl };
			struct store_open_info info;
			cr_assert_eq(store_open(&s, dir, &o, &info), cases[i].code, "case %zu", i);
			cr_assert_str_eq(info.err_file, cases[i].file);
			cr_assert_eq(info.err_offset, 0);
		}
		b[cases[i].off] ^= 0x10;
		tu_write_file(p, b, len);
		free(b);
	}
	s = tu_open(dir, 0, NULL);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_recovery, a_segment_from_another_store_is_a_mismatch)
{
	char d1[256], d2[256], p1[512], p2[512];
	tu_tmpdir(d1, sizeof d1);
	tu_tmpdir(d2, sizeof d2);
	struct store *s = tu_open(d1, STORE_CREATE, NULL);
	store_close(&s);
	s = tu_open(d2, STORE_CREATE, NULL);
	store_close(&s);
	tu_path(p1, sizeof p1, d1, "seg-0000000000000001.log");
	tu_path(p2, sizeof p2, d2, "seg-0000000000000001.log");
	size_t len;
	uint8_t *b = tu_read_file(p2, &len);
	tu_write_file(p1, b, len);
	free(b);
	cr_assert_eq(store_open(&s, d1, NULL, NULL), BND_E_STORE_MISMATCH);
	tu_rmtree(d1);
	tu_rmtree(d2);
}

/* ---- hints ---- */

static void fill_some(struct store *s, uint64_t from, uint64_t n)
{
	char src[32];
	for (uint64_t i = from; i < from + n; i++) {
		int l = snprintf(src, sizeof src, "w%llu", (unsigned long long)i);
		cr_assert_eq(store_append(s, tu_num(i % 900), (enum sub_state)(1 + i % 4), i,
		                          (uint8_t *)src, (size_t)l, NULL), 0);
	}
}

Test(store_recovery, hint_behind_the_log_is_used_and_the_rest_replayed)
{
	char dir[256], hp[512];
	tu_tmpdir(dir, sizeof dir);
	tu_path(hp, sizeof hp, dir, FMT_HINT_NAME);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	fill_some(s, 0, 1000);
	store_close(&s);
	size_t hl;
	uint8_t *old = tu_read_file(hp, &hl);
	s = tu_open(dir, 0, NULL);
	fill_some(s, 1000, 500);
	struct snap want;
	snap_take(s, &want);
	store_close(&s);
	tu_write_file(hp, old, hl);   /* the hint now lags 500 records */
	free(old);
	struct store_open_info info;
	s = tu_open(dir, 0, &info);
	cr_assert_eq(info.used_hint, 1);
	cr_assert_eq(info.hint_rejected, 0);
	cr_assert_eq(info.records_replayed, 500);
	struct snap got;
	snap_take(s, &got);
	snap_assert_eq(&want, &got, "hint + replay");
	cr_assert_eq(store_src_seen(s, (const uint8_t *)"w1499", 5), 1);
	cr_assert_eq(store_src_seen(s, (const uint8_t *)"w10", 3), 1);
	store_close(&s);
	tu_rmtree(dir);
}

/* Open with a bad hint in place: rejected, identical state, rewritten. */
static void expect_rejected_then_rebuilt(const char *dir, const struct snap *want, const char *w)
{
	struct store_open_info info;
	struct store *s = tu_open(dir, 0, &info);
	cr_assert_eq(info.used_hint, 0, "%s", w);
	cr_assert_eq(info.hint_rejected, 1, "%s", w);
	struct snap got;
	snap_take(s, &got);
	snap_assert_eq(want, &got, w);
	store_close(&s);
	s = tu_open(dir, 0, &info);
	cr_assert_eq(info.used_hint, 1, "%s: rebuilt", w);
	snap_take(s, &got);
	snap_assert_eq(want, &got, w);
	store_close(&s);
}

Test(store_recovery, damaged_hint_is_rejected_and_rebuilt)
{
	char dir[256], hp[512];
	tu_tmpdir(dir, sizeof dir);
	tu_path(hp, sizeof hp, dir, FMT_HINT_NAME);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	fill_some(s, 0, 3000);
	struct snap want;
	snap_take(s, &want);
	store_close(&s);
	size_t hl;
	uint8_t *h = tu_read_file(hp, &hl);
	/* Every header byte, and a spread of body bytes (slots, block map,
	 * source window), and truncations. */
	for (size_t p = 0; p < hl; p = p < FMT_HINT_HDR_LEN ? p + 1 : p + hl / 37) {
		h[p] ^= 0x20;
		tu_write_file(hp, h, hl);
		h[p] ^= 0x20;
		char w[64];
		snprintf(w, sizeof w, "flip at %zu", p);
		expect_rejected_then_rebuilt(dir, &want, w);
	}
	tu_write_file(hp, h, hl - 8);
	expect_rejected_then_rebuilt(dir, &want, "truncated");
	tu_write_file(hp, h, 10);
	expect_rejected_then_rebuilt(dir, &want, "header cut");
	free(h);
	tu_rmtree(dir);
}

Test(store_recovery, hint_of_another_store_or_generation_is_rejected)
{
	char d1[256], d2[256], h1[512], h2[512];
	tu_tmpdir(d1, sizeof d1);
	tu_tmpdir(d2, sizeof d2);
	tu_path(h1, sizeof h1, d1, FMT_HINT_NAME);
	tu_path(h2, sizeof h2, d2, FMT_HINT_NAME);
	struct store *s = tu_open(d1, STORE_CREATE, NULL);
	fill_some(s, 0, 500);
	struct snap want;
	snap_take(s, &want);
	store_close(&s);
	s = tu_open(d2, STORE_CREATE, NULL);
	fill_some(s, 0, 500);   /* same content, other store id */
	store_close(&s);
	size_t l;
	uint8_t *other = tu_read_file(h2, &l);
	tu_write_file(h1, other, l);
	free(other);
	expect_rejected_then_rebuilt(d1, &want, "other store");

	/* A hint from before a compaction (older generation). */
	uint8_t *pre = tu_read_file(h1, &l);
	s = tu_open(d1, 0, NULL);
	cr_assert_eq(store_compact(s, NULL), 0);
	snap_take(s, &want);
	store_close(&s);
	tu_write_file(h1, pre, l);
	free(pre);
	expect_rejected_then_rebuilt(d1, &want, "older generation");
	tu_rmtree(d1);
	tu_rmtree(d2);
}

Test(store_recovery, no_hint_flag_replays_everything)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	fill_some(s, 0, 700);
	struct snap want, got;
	snap_take(s, &want);
	store_close(&s);
	struct store_open_info info;
	s = tu_open(dir, STORE_NO_HINT, &info);
	cr_assert_eq(info.used_hint, 0);
	cr_assert_eq(info.hint_rejected, 0);
	cr_assert_eq(info.records_replayed, 700);
	snap_take(s, &got);
	snap_assert_eq(&want, &got, "full replay");
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_recovery, reader_beside_a_writer_sees_a_consistent_prefix)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct store_opts o = { .flags = STORE_CREATE, .segment_max_bytes = 8192 };
	struct store *w;
	cr_assert_eq(store_open(&w, dir, &o, NULL), 0);
	for (uint64_t round = 0; round < 20; round++) {
		for (uint64_t i = 0; i < 100; i++)
			cr_assert_eq(store_append(w, tu_num(round * 100 + i), SUB_CONFIRMED, round, NULL, 0,
			                          NULL), 0);
		cr_assert_eq(store_sync(w, 0), 0);
		/* unsynced appends may or may not be visible; synced ones are */
		for (uint64_t i = 0; i < 37; i++)
			cr_assert_eq(store_append(w, tu_num(900000 + round * 100 + i), SUB_REQUESTED, round,
			                          NULL, 0, NULL), 0);
		struct store_open_info info;
		struct store *r = tu_open(dir, STORE_RDONLY, &info);
		struct store_counts c;
		store_count(r, &c);
		cr_assert_eq(c.by_state[SUB_CONFIRMED], (round + 1) * 100);
		struct store_verify_info vi;
		cr_assert_eq(store_verify(r, &vi), 0, "%s", vi.err_msg);
		store_close(&r);
	}
	store_close(&w);
	tu_rmtree(dir);
}
