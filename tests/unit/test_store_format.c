/* test_store_format.c - store/FORMAT.md's worked example, encoded with the
 * store's own encoders (sublog.c, subidx.h) and compared byte for byte with
 * the hex printed in FORMAT.md (read from the source tree), then decoded
 * back; and the constants FORMAT.md quotes, checked against format.h. */
#include "store_testutil.h"

#include "format.h"
#include "phone.h"
#include "sublog.h"
#include "subidx.h"
#include "store_int.h"   /* white box: the index's two arrays */

#define XXH_INLINE_ALL
#include <xxhash.h>

static const uint8_t EX_ID[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                   0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };
#define EX_NUMBER 393351234567ULL
#define EX_TMS 1700000000000ULL
#define EX_SRC "wamid.X1"

static char *format_md(size_t *len)
{
	char p[1024];
	const char *src = getenv("SRC_DIR");
	if (src && *src) {
		snprintf(p, sizeof p, "%s/store/FORMAT.md", src);
	} else {
		/* __FILE__ is tests/unit/test_store_format.c in the source tree */
		snprintf(p, sizeof p, "%s", __FILE__);
		char *cut = strstr(p, "tests/unit/");
		cr_assert_not_null(cut, "cannot locate the source tree from %s", __FILE__);
		strcpy(cut, "store/FORMAT.md");
	}
	char *b = (char *)tu_read_file(p, len);
	cr_assert_not_null(b, "cannot read %s", p);
	b[*len] = 0;
	return b;
}

/* The bytes of the "```hex <name>" block: per line, the hex pairs between
 * "ADDR:" and "|"; the address must equal the running offset. */
static size_t md_block(const char *md, const char *name, uint8_t *out, size_t cap)
{
	char open[64];
	snprintf(open, sizeof open, "```hex %s\n", name);
	const char *p = strstr(md, open);
	cr_assert_not_null(p, "FORMAT.md has no block %s", name);
	p += strlen(open);
	const char *end = strstr(p, "```");
	cr_assert_not_null(end);
	size_t n = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		unsigned addr;
		cr_assert_eq(sscanf(p, "%x:", &addr), 1, "block %s: bad line", name);
		cr_assert_eq(addr, n, "block %s: address %x, expected %zx", name, addr, n);
		const char *q = strchr(p, ':') + 1;
		const char *bar = memchr(q, '|', (size_t)(eol - q));
		cr_assert_not_null(bar, "block %s: no | on a line", name);
		while (q < bar) {
			if (*q == ' ') {
				q++;
				continue;
			}
			unsigned v;
			cr_assert_eq(sscanf(q, "%2x", &v), 1);
			cr_assert_lt(n, cap);
			out[n++] = (uint8_t)v;
			q += 2;
		}
		p = eol + 1;
	}
	return n;
}

Test(store_format, segment_example_matches_format_md_byte_for_byte)
{
	size_t ml;
	char *md = format_md(&ml);
	uint8_t want[256], got[256];
	size_t wn = md_block(md, "segment", want, sizeof want);
	sublog_seg_hdr_encode(got, EX_ID, 1);
	size_t rl = sublog_rec_encode(got + FMT_SEG_HDR_LEN, EX_NUMBER, SUB_CONFIRMED, EX_TMS,
	                              (const uint8_t *)EX_SRC, strlen(EX_SRC));
	cr_assert_eq(wn, FMT_SEG_HDR_LEN + rl);
	cr_assert_eq(wn, 85, "FORMAT.md says 85 bytes");
	for (size_t i = 0; i < wn; i++)
		cr_assert_eq(got[i], want[i], "byte 0x%zx: encoder %02x, FORMAT.md %02x", i, got[i], want[i]);

	/* and back */
	uint8_t id[16];
	uint64_t seq;
	cr_assert_eq(sublog_seg_hdr_decode(want, wn, id, &seq), 0);
	cr_assert_eq(memcmp(id, EX_ID, 16), 0);
	cr_assert_eq(seq, 1);
	struct sublog_rec r;
	cr_assert_eq(sublog_rec_decode(want + FMT_SEG_HDR_LEN, wn - FMT_SEG_HDR_LEN, &r), 37);
	cr_assert_eq(r.number, EX_NUMBER);
	cr_assert_eq(r.state, SUB_CONFIRMED);
	cr_assert_eq(r.t_ms, EX_TMS);
	cr_assert_eq(r.src_len, strlen(EX_SRC));
	cr_assert_eq(memcmp(r.src, EX_SRC, r.src_len), 0);
	cr_assert_eq(r.sum, 0x6c4d3fa1ca310711ULL, "the checksum FORMAT.md quotes");
	/* one byte less is a truncated record */
	cr_assert_eq(sublog_rec_decode(want + FMT_SEG_HDR_LEN, wn - FMT_SEG_HDR_LEN - 1, &r),
	             BND_E_STORE_TRUNCATED);
	free(md);
}

Test(store_format, manifest_example_matches_format_md)
{
	size_t ml;
	char *md = format_md(&ml);
	uint8_t want[128], got[FMT_MAN_LEN];
	size_t wn = md_block(md, "manifest", want, sizeof want);
	struct sublog_manifest m = { .gen = 1, .first = 1, .last = 1 };
	memcpy(m.id, EX_ID, 16);
	sublog_manifest_encode(got, &m);
	cr_assert_eq(wn, FMT_MAN_LEN);
	cr_assert_eq(memcmp(got, want, wn), 0);
	struct sublog_manifest back;
	cr_assert_eq(sublog_manifest_decode(want, wn, &back), 0);
	cr_assert_eq(memcmp(&back, &m, sizeof m), 0);
	free(md);
}

Test(store_format, slot_example_matches_format_md)
{
	size_t ml;
	char *md = format_md(&ml);
	uint8_t want[32], got[16];
	size_t wn = md_block(md, "slot", want, sizeof want);
	uint64_t slot[2] = { subidx_w0(EX_NUMBER, SUB_CONFIRMED, EX_TMS), subidx_w1(EX_TMS, 5) };
	le64_put(got, slot[0]);
	le64_put(got + 8, slot[1]);
	cr_assert_eq(wn, FMT_SLOT_BYTES);
	cr_assert_eq(memcmp(got, want, wn), 0);
	uint64_t back[2] = { le64_get(want), le64_get(want + 8) };
	cr_assert_eq(subidx_number(back), EX_NUMBER);
	cr_assert_eq(subidx_state(back), SUB_CONFIRMED);
	cr_assert_eq(subidx_tms(back), EX_TMS);
	cr_assert_eq(subidx_ord(back), 5);
	free(md);
}

Test(store_format, a_real_store_writes_the_example_record)
{
	char dir[256], seg[512];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	cr_assert_eq(store_append(s, EX_NUMBER, SUB_CONFIRMED, EX_TMS, (const uint8_t *)EX_SRC,
	                          strlen(EX_SRC), NULL), 0);
	store_close(&s);
	tu_path(seg, sizeof seg, dir, "seg-0000000000000001.log");
	size_t len;
	uint8_t *b = tu_read_file(seg, &len);
	size_t ml;
	char *md = format_md(&ml);
	uint8_t want[256];
	size_t wn = md_block(md, "segment", want, sizeof want);
	cr_assert_eq(len, wn);
	/* Same bytes except the random store id and the header checksum. */
	cr_assert_eq(memcmp(b, want, FMT_SEG_OFF_STORE_ID), 0);
	cr_assert_eq(memcmp(b + FMT_SEG_OFF_SEQ, want + FMT_SEG_OFF_SEQ, 8), 0);
	cr_assert_eq(memcmp(b + FMT_SEG_HDR_LEN, want + FMT_SEG_HDR_LEN, wn - FMT_SEG_HDR_LEN), 0);
	free(b);
	free(md);
	tu_rmtree(dir);
}

/*
 * The hint body is what FORMAT.md says: after the 128-byte header, every
 * slot as w0 then w1 (little-endian), in table order, then the block map,
 * the source window and (flags bit 0) the confirmed numbers ascending; the
 * body checksum covers exactly that. The index
 * keeps w0 and w1 in two arrays and the hint writer interleaves them in
 * chunks: a table of more slots than one chunk (65536) must come out
 * slot for slot.
 */
Test(store_format, hint_body_is_the_slots_as_w0_w1_pairs)
{
	char dir[256], hp[512];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	for (uint64_t i = 0; i < 90000; i++)
		cr_assert_eq(store_append(s, tu_num(i), 1 + i % 4, 1700000000000ULL + i * 977,
		                          (const uint8_t *)"w", i % 3 ? 1 : 0, NULL), 0);
	cr_assert_eq(store_checkpoint(s), 0);
	tu_path(hp, sizeof hp, dir, FMT_HINT_NAME);
	size_t len;
	uint8_t *b = tu_read_file(hp, &len);
	cr_assert_not_null(b);
	uint64_t cap = le64_get(b + FMT_HINT_OFF_CAP), nblk = le64_get(b + FMT_HINT_OFF_NBLK);
	uint64_t nsrc = le64_get(b + FMT_HINT_OFF_NSRC);
	cr_assert_eq(cap, s->idx.cap);
	cr_assert_gt(cap, 65536, "more slots than one write chunk");
	cr_assert_eq(le32_get(b + FMT_HINT_OFF_VERSION), 2);
	cr_assert_eq(le32_get(b + FMT_HINT_OFF_FLAGS), FMT_HINT_F_VIEW);
	uint64_t *conf;
	size_t nconf;
	cr_assert_eq(store_confirmed_snapshot(s, &conf, &nconf), 0);
	cr_assert_eq(nconf, 90000 / 4, "states 1..4 in turn: a quarter confirmed");
	uint64_t fixed = FMT_HINT_HDR_LEN + cap * FMT_SLOT_BYTES + nblk * 8 + nsrc * 8;
	cr_assert_eq(len, fixed + nconf * 8);
	for (size_t i = 0; i < nconf; i++)
		cr_assert_eq(le64_get(b + fixed + i * 8), conf[i], "view word %zu", i);
	bnd_free(conf);
	cr_assert_eq(le64_get(b + FMT_HINT_OFF_ENTRIES), s->idx.n);
	const uint8_t *body = b + FMT_HINT_HDR_LEN;
	for (uint64_t i = 0; i < cap; i++) {
		const uint8_t *sl = body + i * FMT_SLOT_BYTES;
		cr_assert_eq(le64_get(sl), s->idx.hot[i], "slot %llu w0", (unsigned long long)i);
		cr_assert_eq(le64_get(sl + 8), s->idx.cold[i], "slot %llu w1", (unsigned long long)i);
	}
	/* A slot decodes to what the store answers. */
	uint64_t j = subidx_find(&s->idx, tu_num(12345));
	cr_assert_neq(j, SUBIDX_NONE);
	uint64_t slot[2] = { le64_get(body + j * FMT_SLOT_BYTES), le64_get(body + j * FMT_SLOT_BYTES + 8) };
	enum sub_state st;
	uint64_t t;
	cr_assert_eq(store_get(s, tu_num(12345), &st, &t), 0);
	cr_assert_eq(subidx_number(slot), tu_num(12345));
	cr_assert_eq(subidx_state(slot), st);
	cr_assert_eq(subidx_tms(slot), t);
	cr_assert_eq(XXH3_64bits_withSeed(body, len - FMT_HINT_HDR_LEN, FMT_HINT_SEED),
	             le64_get(b + FMT_HINT_OFF_BODYSUM));
	free(b);
	store_close(&s);
	tu_rmtree(dir);
}

Test(store_format, constants_quoted_in_format_md_match_format_h)
{
	size_t ml;
	char *md = format_md(&ml);
	char buf[64];
	const unsigned long long seeds[] = { FMT_REC_SEED, FMT_SEG_HDR_SEED, FMT_MAN_SEED,
	                                     FMT_HINT_SEED, FMT_IDX_SEED, FMT_SRC_SEED };
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		snprintf(buf, sizeof buf, "0x%llx", seeds[i]);
		cr_assert_not_null(strstr(md, buf), "FORMAT.md does not mention seed %s", buf);
	}
	const char *strs[] = { FMT_SEG_MAGIC, FMT_MAN_MAGIC, FMT_HINT_MAGIC, FMT_MANIFEST_NAME,
	                       FMT_HINT_NAME, FMT_LOCK_NAME, "seg-0000000000000001.log" };
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		cr_assert_not_null(strstr(md, strs[i]), "FORMAT.md does not mention %s", strs[i]);
	snprintf(buf, sizeof buf, "(%u bytes)", FMT_SEG_HDR_LEN);
	cr_assert_not_null(strstr(md, buf));
	snprintf(buf, sizeof buf, "(%u bytes)", FMT_MAN_LEN);
	cr_assert_not_null(strstr(md, buf));
	snprintf(buf, sizeof buf, "(%u bytes)", FMT_HINT_HDR_LEN);
	cr_assert_not_null(strstr(md, buf));
	snprintf(buf, sizeof buf, "(%u + src_len)", FMT_REC_FIXED);
	cr_assert_not_null(strstr(md, buf));
	snprintf(buf, sizeof buf, "%u..%u", FMT_REC_FIXED, FMT_REC_MAX);
	cr_assert_not_null(strstr(md, buf));
	snprintf(buf, sizeof buf, "record `i × %u`", FMT_BLK_RECS);
	cr_assert_not_null(strstr(md, buf));
	cr_assert_eq(FMT_REC_SRC_MAX, STORE_SRC_MAX);
	cr_assert_eq(FMT_REC_OFF_SRC, FMT_REC_FIXED);
	cr_assert_eq(FMT_NUM_BITS + FMT_STATE_BITS + (FMT_TMS_BITS - FMT_TMSLO_BITS), 64);
	cr_assert_eq(FMT_TMSLO_BITS + FMT_ORD_BITS, 64);
	cr_assert_lt(999999999999999ULL, 1ULL << FMT_NUM_BITS);
	free(md);
}

Test(store_format, quick_number_check_agrees_with_phone_valid)
{
	const uint64_t edges[] = { 0, 1, 9999999ULL, 10000000ULL, 10000001ULL, 99999999999999ULL,
	                           999999999999999ULL, 1000000000000000ULL, UINT64_MAX,
	                           393351234567ULL };
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		cr_assert_eq(sublog_num_ok(edges[i]), phone_valid(edges[i]), "%llu",
		             (unsigned long long)edges[i]);
	for (uint64_t n = 1; n < UINT64_MAX / 3; n = n * 3 + 1)
		cr_assert_eq(sublog_num_ok(n), phone_valid(n), "%llu", (unsigned long long)n);
}

Test(store_format, segment_names_round_trip)
{
	char name[FMT_SEG_NAME_LEN + 1];
	sublog_seg_name(name, 0x1234abcdULL);
	cr_assert_str_eq(name, "seg-000000001234abcd.log");
	uint64_t seq;
	cr_assert_eq(sublog_seg_parse_name(name, &seq), 1);
	cr_assert_eq(seq, 0x1234abcdULL);
	cr_assert_eq(sublog_seg_parse_name("seg-000000001234ABCD.log", &seq), 0);
	cr_assert_eq(sublog_seg_parse_name("seg-1.log", &seq), 0);
	cr_assert_eq(sublog_seg_parse_name("HINT", &seq), 0);
}

/* Rewrite the hint at hp as version `version` with `flags`, its body cut to
 * `body_len` bytes (or patched by the caller before), both checksums
 * recomputed: a hint a writer of that version could have written. */
static void hint_forge(const char *hp, uint8_t *b, size_t body_len, uint32_t version, uint32_t flags)
{
	le32_put(b + FMT_HINT_OFF_VERSION, version);
	le32_put(b + FMT_HINT_OFF_FLAGS, flags);
	le64_put(b + FMT_HINT_OFF_BODYSUM,
	         XXH3_64bits_withSeed(b + FMT_HINT_HDR_LEN, body_len, FMT_HINT_SEED));
	le64_put(b + FMT_HINT_OFF_SUM, XXH3_64bits_withSeed(b, FMT_HINT_OFF_SUM, FMT_HINT_SEED));
	tu_write_file(hp, b, FMT_HINT_HDR_LEN + body_len);
}

/* The confirmed numbers of the store at dir, opened as a writer with the
 * hint; *info gets the open's report. */
static uint64_t *view_of(const char *dir, size_t *n, struct store_open_info *info)
{
	struct store *s = tu_open(dir, 0, info);
	uint64_t *v;
	cr_assert_eq(store_confirmed_snapshot(s, &v, n), 0);
	cr_assert_eq(store_close(&s), 0);
	return v;
}

/*
 * Hint versions and the stored view: a version-1 hint (no view, reserved
 * word 0) with valid checksums is rejected and rewritten, never read as
 * version 2; a version-2 hint without the view bit is used and the view is
 * sorted from the index; a view out of order (valid checksums) rejects the
 * hint; unknown flag bits reject it; records after the hint join the
 * stored view. Every time the view equals the one built by a full replay.
 */
Test(store_format, hint_view_versions_and_checks)
{
	char dir[256], hp[512];
	tu_tmpdir(dir, sizeof dir);
	struct store *s = tu_open(dir, STORE_CREATE, NULL);
	for (uint64_t i = 0; i < 5000; i++)
		cr_assert_eq(store_append(s, tu_num((i * 7919) % 5000), 1 + i % 4,
		                          1700000000000ULL + i, NULL, 0, NULL), 0);
	cr_assert_eq(store_close(&s), 0);
	tu_path(hp, sizeof hp, dir, FMT_HINT_NAME);

	/* The reference: a full replay, no hint. */
	s = tu_open(dir, STORE_NO_HINT | STORE_RDONLY, NULL);
	uint64_t *ref;
	size_t nref;
	cr_assert_eq(store_confirmed_snapshot(s, &ref, &nref), 0);
	store_close(&s);
	cr_assert_eq(nref, 5000 / 4);

	size_t len;
	uint8_t *b = tu_read_file(hp, &len);
	cr_assert_not_null(b);
	uint64_t fixed = FMT_HINT_HDR_LEN + le64_get(b + FMT_HINT_OFF_CAP) * FMT_SLOT_BYTES +
	                 le64_get(b + FMT_HINT_OFF_NBLK) * 8 + le64_get(b + FMT_HINT_OFF_NSRC) * 8;
	cr_assert_eq(len, fixed + nref * 8);
	struct store_open_info info;
	size_t n;
	uint64_t *v = view_of(dir, &n, &info);
	cr_assert(info.used_hint && !info.hint_rejected);
	cr_assert_eq(n, nref);
	cr_assert_arr_eq(v, ref, n * 8);
	bnd_free(v);

	struct { const char *what; uint32_t version, flags; size_t body; int swap, used; } c[] = {
		{ "version 1", 1, 0, fixed - FMT_HINT_HDR_LEN, 0, 0 },
		{ "version 1 with a view", 1, FMT_HINT_F_VIEW, len - FMT_HINT_HDR_LEN, 0, 0 },
		{ "no view bit", 2, 0, fixed - FMT_HINT_HDR_LEN, 0, 1 },
		{ "view bit, view cut", 2, FMT_HINT_F_VIEW, fixed - FMT_HINT_HDR_LEN, 0, 0 },
		{ "no view bit, view kept", 2, 0, len - FMT_HINT_HDR_LEN, 0, 0 },
		{ "unknown flag", 2, FMT_HINT_F_VIEW | 2, len - FMT_HINT_HDR_LEN, 0, 0 },
		{ "view out of order", 2, FMT_HINT_F_VIEW, len - FMT_HINT_HDR_LEN, 1, 0 },
	};
	for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
		uint8_t *f = malloc(len);
		cr_assert_not_null(f);
		memcpy(f, b, len);
		if (c[k].swap) {
			uint64_t x = le64_get(f + fixed), y = le64_get(f + fixed + 8);
			le64_put(f + fixed, y);
			le64_put(f + fixed + 8, x);
		}
		hint_forge(hp, f, c[k].body, c[k].version, c[k].flags);
		free(f);
		v = view_of(dir, &n, &info);
		cr_assert_eq(info.used_hint, c[k].used, "%s", c[k].what);
		cr_assert_eq(info.hint_rejected, !c[k].used, "%s", c[k].what);
		cr_assert_eq(n, nref, "%s", c[k].what);
		cr_assert_arr_eq(v, ref, n * 8, "%s", c[k].what);
		bnd_free(v);
		/* What the writer left is a current version-2 hint with the view. */
		size_t l2;
		uint8_t *b2 = tu_read_file(hp, &l2);
		cr_assert_eq(le32_get(b2 + FMT_HINT_OFF_VERSION), 2, "%s", c[k].what);
		cr_assert_eq(le32_get(b2 + FMT_HINT_OFF_FLAGS), FMT_HINT_F_VIEW, "%s", c[k].what);
		cr_assert_eq(l2, len, "%s", c[k].what);
		free(b2);
	}

	/* A view that is in order but wrong (its last number replaced by a
	 * larger one nobody confirmed), checksums valid: the open trusts it as
	 * it trusts slots, store_verify finds it; the good hint verifies. */
	{
		struct store_verify_info vi;
		s = tu_open(dir, STORE_RDONLY, NULL);
		cr_assert_eq(store_verify(s, &vi), 0, "%s", vi.err_msg);
		cr_assert_eq(vi.hint_ok, 1);
		store_close(&s);
		uint8_t *f = malloc(len);
		cr_assert_not_null(f);
		memcpy(f, b, len);
		le64_put(f + len - 8, 999999999999999ULL);
		hint_forge(hp, f, len - FMT_HINT_HDR_LEN, 2, FMT_HINT_F_VIEW);
		free(f);
		s = tu_open(dir, STORE_RDONLY, NULL);
		cr_assert_eq(store_verify(s, &vi), 0, "%s", vi.err_msg);
		cr_assert_eq(vi.hint_ok, 0, "the stored view differs from the log");
		store_close(&s);
		hint_forge(hp, b, len - FMT_HINT_HDR_LEN, 2, FMT_HINT_F_VIEW);   /* the good one back */
	}

	/* A hint behind the log (the one from before these appends, put back
	 * after the close wrote a newer one): the records after it, new
	 * confirmations and confirmed numbers leaving, join the stored view. */
	size_t lold;
	uint8_t *old = tu_read_file(hp, &lold);
	s = tu_open(dir, 0, NULL);
	for (uint64_t i = 0; i < 3000; i++)
		cr_assert_eq(store_append(s, tu_num(i * 3), i % 2 ? SUB_CONFIRMED : SUB_UNSUBSCRIBED,
		                          1800000000000ULL + i, NULL, 0, NULL), 0);
	cr_assert_eq(store_close(&s), 0);
	tu_write_file(hp, old, lold);
	free(old);
	s = tu_open(dir, STORE_NO_HINT | STORE_RDONLY, NULL);
	bnd_free(ref);
	cr_assert_eq(store_confirmed_snapshot(s, &ref, &nref), 0);
	store_close(&s);
	v = view_of(dir, &n, &info);
	cr_assert(info.used_hint && !info.hint_rejected);
	cr_assert_eq(info.records_replayed, 3000);
	cr_assert_eq(n, nref);
	cr_assert_arr_eq(v, ref, n * 8);
	bnd_free(v);
	tu_rmtree(dir);
	bnd_free(ref);
	free(b);
}
