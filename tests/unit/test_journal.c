/*
 * test_journal.c - the per-notice journal (engine/journal.c): the format's
 * worked example, round trips, torn tails at every offset, flipped bytes
 * under the SYNCED rule, failed allocations, writes and syncs, resume
 * reconstruction (cursor, window bitmap, uncertain set) against a model,
 * reconciliation by status, the rules a record must obey, read-only
 * reports while a writer appends, the lock, async and concurrent commits.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "bnd.h"
#include "journal.h"
#include "notice.h"
#include "store_testutil.h"  /* tu_fault: the store's fsio fault hook */

#define T0 1760264100000ULL  /* 2025-10-12T10:15:00Z in ms */

static char dir[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/bnd-journal-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	bnd_alloc_fail_after(-1);
	tu_fault_clear();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(journal, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------- */

/* Create a notice of count recipients; *path gets its journal's path. */
static void mk_notice(uint32_t count, uint32_t span, uint32_t rnd, char id[NOTICE_ID_SIZE],
                      char *path, size_t cap)
{
	struct notice *n = calloc(1, sizeof *n);
	cr_assert_eq(notice_init(n, NOTICE_CAT_INFO, T0, 0, rnd), 0);
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"avviso", 6), 0);
	uint64_t *v = malloc((count ? count : 1) * sizeof *v);
	for (uint32_t i = 0; i < count; i++)
		v[i] = 393300000000ULL + (uint64_t)i * 13;
	cr_assert_eq(notice_create(dir, n, v, count, span), 0);
	memcpy(id, n->id, NOTICE_ID_SIZE);
	notice_path(path, cap, dir, n->id, JOURNAL_FILE);
	free(v);
	free(n);
}

static struct journal *jopen(const char *path, unsigned flags)
{
	struct journal *j = NULL;
	struct journal_opts o = { .flags = flags };
	struct journal_open_info info;
	int rc = journal_open(&j, path, &o, &info);
	cr_assert_eq(rc, 0, "open %s: %s (%s)", path, bnd_strerror(rc), info.err_msg);
	return j;
}

static size_t fsize(const char *p)
{
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	return (size_t)st.st_size;
}

static uint8_t *read_all(const char *p, size_t *len)
{
	*len = fsize(p);
	uint8_t *b = malloc(*len + 1);
	int fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, b, *len), (ssize_t)*len);
	close(fd);
	return b;
}

static void write_all(const char *p, const void *b, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *b = read_all(from, &len);
	write_all(to, b, len);
	free(b);
}

static void running(struct journal *j)
{
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_OPERATOR, 0, T0, NULL), 0);
}

static void accept_(struct journal *j, uint32_t o)
{
	char w[32];
	int n = snprintf(w, sizeof w, "wamid.%u", o);
	cr_assert_eq(journal_accepted(j, o, (const uint8_t *)w, (size_t)n, NULL), 0, "ordinal %u", o);
}

struct recs {
	struct journal_rec r[4096];
	uint64_t off[4096];
	size_t n;
};

static int collect(const struct journal_rec *r, uint64_t off, void *ud)
{
	struct recs *v = ud;
	cr_assert_lt(v->n, 4096);
	v->r[v->n] = *r;
	v->off[v->n] = off;
	v->n++;
	return 0;
}

/* ---- the format ------------------------------------------------------------------- */

/* JOURNAL.md, "Worked example": every byte. */
static const uint8_t ex_header[64] = {
	0x42, 0x4e, 0x4a, 0x4c, 0x01, 0x00, 0x40, 0x00, 0x6e, 0x2d, 0x32, 0x30, 0x32, 0x35, 0x31, 0x30,
	0x31, 0x32, 0x54, 0x31, 0x30, 0x31, 0x35, 0x30, 0x30, 0x2d, 0x61, 0x33, 0x66, 0x39, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	0xa0, 0x98, 0xea, 0xd7, 0x99, 0x01, 0x00, 0x00, 0x11, 0x25, 0xbe, 0x4f, 0xc7, 0xde, 0x4a, 0xde,
};
static const uint8_t ex_records[] = {
	/* @64 STATE running, operator, t = T0 */
	0xaf, 0xa5, 0x0c, 0x14, 0x08, 0x0e, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x98,
	0xea, 0xd7, 0x99, 0x01, 0x00, 0x00,
	/* @86 DISPATCHED 0, attempt 0 */
	0xb4, 0xcf, 0xe7, 0x88, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* @102 ACCEPTED 0 "wamid.HBgM" */
	0x46, 0x59, 0x8f, 0x9b, 0x02, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x77, 0x61, 0x6d, 0x69,
	0x64, 0x2e, 0x48, 0x42, 0x67, 0x4d,
	/* @124 DISPATCHED 1 */
	0x22, 0x3e, 0xf7, 0x9f, 0x01, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* @140 FAILED 1, 131026 */
	0xd1, 0xee, 0xdb, 0xc0, 0x03, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd2, 0xff, 0x01, 0x00,
	/* @156 CURSOR 2 */
	0x3c, 0xc7, 0x13, 0xa0, 0x07, 0x04, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	/* @168 SYNCED 168 */
	0x5b, 0x1e, 0x12, 0x8e, 0x09, 0x08, 0x00, 0x00, 0xa8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void ex_recs(struct journal_rec r[7])
{
	memset(r, 0, 7 * sizeof *r);
	r[0] = (struct journal_rec){ .type = JREC_STATE, .kind = NOTICE_RUNNING,
	                             .reason = NOTICE_REASON_OPERATOR, .t_ms = T0 };
	r[1] = (struct journal_rec){ .type = JREC_DISPATCHED, .ordinal = 0 };
	r[2] = (struct journal_rec){ .type = JREC_ACCEPTED, .ordinal = 0, .wamid_len = 10 };
	memcpy(r[2].wamid, "wamid.HBgM", 10);
	r[3] = (struct journal_rec){ .type = JREC_DISPATCHED, .ordinal = 1 };
	r[4] = (struct journal_rec){ .type = JREC_FAILED, .ordinal = 1, .code = 131026 };
	r[5] = (struct journal_rec){ .type = JREC_CURSOR, .ordinal = 2 };
	r[6] = (struct journal_rec){ .type = JREC_SYNCED, .end = 168 };
}

Test(journal, the_worked_example_encodes_and_decodes_byte_for_byte)
{
	struct journal_header h = { .recipients = 3, .span = 64,
	                            .rcpt_checksum = 0x1122334455667788ULL, .created_ms = T0 };
	strcpy(h.notice_id, "n-20251012T101500-a3f9");
	uint8_t b[JOURNAL_HEADER_SIZE];
	cr_assert_eq(journal_header_encode(b, &h), 0);
	cr_assert_arr_eq(b, ex_header, 64);
	struct journal_header d;
	cr_assert_eq(journal_header_decode(ex_header, 64, &d), 0);
	cr_assert_str_eq(d.notice_id, h.notice_id);
	cr_assert_eq(d.recipients, 3);
	cr_assert_eq(d.span, 64);
	cr_assert_eq(d.rcpt_checksum, h.rcpt_checksum);
	cr_assert_eq(d.created_ms, T0);

	struct journal_rec r[7];
	ex_recs(r);
	size_t off = 0;
	for (int i = 0; i < 7; i++) {
		uint8_t e[300];
		int n = journal_rec_encode(&r[i], e, sizeof e);
		cr_assert_gt(n, 0);
		cr_assert_arr_eq(e, ex_records + off, (size_t)n, "record %d", i);
		struct journal_rec back;
		cr_assert_eq(journal_rec_decode(ex_records + off, sizeof ex_records - off, &back), n);
		cr_assert_eq(back.type, r[i].type);
		cr_assert_eq(back.ordinal, r[i].ordinal);
		cr_assert_eq(back.code, r[i].code);
		cr_assert_eq(back.t_ms, r[i].t_ms);
		cr_assert_eq(back.kind, r[i].kind);
		cr_assert_eq(back.reason, r[i].reason);
		cr_assert_eq(back.end, r[i].end);
		cr_assert_eq(back.wamid_len, r[i].wamid_len);
		cr_assert_arr_eq(back.wamid, r[i].wamid, r[i].wamid_len);
		off += (size_t)n;
	}
	cr_assert_eq(off, sizeof ex_records);

	/* And the file opens, with the state the document describes. */
	char p[512];
	snprintf(p, sizeof p, "%s/example.log", dir);
	uint8_t *file = malloc(64 + sizeof ex_records);
	memcpy(file, ex_header, 64);
	memcpy(file + 64, ex_records, sizeof ex_records);
	write_all(p, file, 64 + sizeof ex_records);
	struct journal *j = jopen(p, JOURNAL_RDONLY);
	struct journal_report rep;
	journal_report(j, T0 + 2000, &rep);
	cr_assert_eq(rep.accepted, 1);
	cr_assert_eq(rep.failed, 1);
	cr_assert_eq(rep.failed_codes, 1);
	cr_assert_eq(rep.failed_by_code[0].code, 131026);
	cr_assert_eq(rep.low_water, 2);
	cr_assert_eq(rep.remaining, 1);
	cr_assert_eq(rep.state, NOTICE_RUNNING);
	cr_assert_eq(rep.elapsed_ms, 2000);
	cr_assert_eq(journal_durable_low_water(j), 2);
	journal_close(&j);
	free(file);
}

/* A record with any type and payload and a correct checksum, as the
 * format defines it: low 32 bits of XXH3-64 over bytes 4.. with the seed. */
static size_t forge_rec(uint8_t type, const uint8_t *payload, uint8_t plen, uint8_t *out)
{
	out[4] = type;
	out[5] = plen;
	out[6] = out[7] = 0;
	memcpy(out + 8, payload, plen);
	uint32_t sum = (uint32_t)XXH3_64bits_withSeed(out + 4, 4u + plen, JOURNAL_SEED);
	for (int k = 0; k < 4; k++)
		out[k] = (uint8_t)(sum >> (8 * k));
	return 8u + plen;
}

Test(journal, encode_and_decode_refuse_what_the_format_does_not_allow)
{
	uint8_t b[300];
	struct journal_rec r = { .type = JREC_ACCEPTED, .wamid_len = JOURNAL_WAMID_MAX + 1 };
	cr_assert_eq(journal_rec_encode(&r, b, sizeof b), BND_E_RANGE);
	r = (struct journal_rec){ .type = (enum journal_type)42 };
	cr_assert_eq(journal_rec_encode(&r, b, sizeof b), BND_E_INVAL);
	r = (struct journal_rec){ .type = JREC_SKIPPED, .kind = 9 };
	cr_assert_eq(journal_rec_encode(&r, b, sizeof b), BND_E_INVAL);
	r = (struct journal_rec){ .type = JREC_STATUS, .kind = 0 };
	cr_assert_eq(journal_rec_encode(&r, b, sizeof b), BND_E_INVAL);
	r = (struct journal_rec){ .type = JREC_FAILED };
	cr_assert_eq(journal_rec_encode(&r, b, 10), BND_E_RANGE);
	r = (struct journal_rec){ .type = JREC_ACCEPTED, .wamid_len = JOURNAL_WAMID_MAX };
	cr_assert_eq(journal_rec_encode(&r, b, sizeof b), JOURNAL_REC_HEADER + JOURNAL_PAYLOAD_MAX,
	             "the longest record");

	struct journal_rec d;
	const uint8_t four[4] = { 1, 0, 0, 0 };
	size_t n = forge_rec(JREC_FAILED, four, 4, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), BND_E_JOURNAL_CORRUPT, "FAILED needs 8 bytes");
	n = forge_rec(42, four, 4, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), BND_E_JOURNAL_CORRUPT, "unknown required type");
	n = forge_rec(0, four, 4, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), BND_E_JOURNAL_CORRUPT, "type 0");
	n = forge_rec(JREC_ACCEPTED, four, 3, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), BND_E_JOURNAL_CORRUPT, "ACCEPTED without ordinal");
	const uint8_t skip[5] = { 1, 0, 0, 0, 7 };
	n = forge_rec(JREC_SKIPPED, skip, 5, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), BND_E_JOURNAL_CORRUPT, "skip reason 7");
	n = forge_rec(200, four, 4, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), (int)n, "optional types decode");
	cr_assert_eq(d.type, 200);
	n = forge_rec(JREC_CURSOR, four, 4, b);
	cr_assert_eq(journal_rec_decode(b, n, &d), (int)n);
	b[6] = 1;  /* reserved byte: covered by the checksum, so CHECKSUM */
	cr_assert_eq(journal_rec_decode(b, n, &d), BND_E_JOURNAL_CHECKSUM);
	n = forge_rec(JREC_CURSOR, four, 4, b);
	cr_assert_eq(journal_rec_decode(b, 7, &d), BND_E_JOURNAL_TRUNCATED);
	cr_assert_eq(journal_rec_decode(b, n - 1, &d), BND_E_JOURNAL_TRUNCATED);
}

Test(journal, decode_never_reads_past_len)
{
	/* Random bytes in exactly-sized heap buffers: ASan catches an overread. */
	uint32_t x = 99;
	for (int i = 0; i < 20000; i++) {
		x = x * 1664525u + 1013904223u;
		size_t len = (x >> 16) % 40;
		uint8_t *b = malloc(len ? len : 1);
		for (size_t k = 0; k < len; k++) {
			x = x * 1664525u + 1013904223u;
			b[k] = (uint8_t)(x >> 24);
		}
		if (len > 8 && (i & 1))
			b[5] = (uint8_t)(len - 8);  /* a plausible length byte */
		struct journal_rec r;
		int n = journal_rec_decode(b, len, &r);
		cr_assert(n < 0 || (size_t)n <= len);
		struct journal_header h;
		cr_assert_lt(journal_header_decode(b, len, &h), 0);
		free(b);
	}
}

Test(journal, optional_record_types_are_skipped)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(10, 64, 1, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	cr_assert_eq(journal_close(&j), 0);
	uint8_t rec[64];
	size_t n = forge_rec(200, (const uint8_t *)"future", 6, rec);
	int fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, rec, n), (ssize_t)n);
	close(fd);
	j = jopen(p, 0);
	accept_(j, 0);
	cr_assert_eq(journal_close(&j), 0);
	struct journal_open_info info;
	cr_assert_eq(journal_open(&j, p, NULL, &info), 0);
	cr_assert_eq(info.tail_dropped_bytes, 0);
	cr_assert_eq(journal_low_water(j), 1);
	journal_close(&j);
}

/* ---- round trip and reports ---------------------------------------------------- */

Test(journal, a_round_trip_keeps_every_count)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(100, 0, 2, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	struct journal_report before;
	journal_report(j, T0, &before);
	cr_assert_eq(before.state, NOTICE_QUEUED);
	cr_assert_eq(before.recipients, 100);
	cr_assert_eq(before.remaining, 100);
	running(j);
	for (uint32_t o = 0; o < 60; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	for (uint32_t o = 0; o < 40; o++)
		accept_(j, o);
	for (uint32_t o = 40; o < 45; o++)
		cr_assert_eq(journal_failed(j, o, 131026, NULL), 0);
	cr_assert_eq(journal_failed(j, 45, 131009, NULL), 0);
	cr_assert_eq(journal_skipped(j, 46, JSKIP_UNSUBSCRIBED, NULL), 0);
	cr_assert_eq(journal_skipped(j, 47, JSKIP_INVALID, NULL), 0);
	cr_assert_eq(journal_deferred(j, 48, 131056, T0 + 6000, NULL), 0);
	cr_assert_eq(journal_dispatched(j, 48, 1, 0, NULL), 0);
	accept_(j, 48);
	cr_assert_eq(journal_deferred(j, 49, 130429, T0 + 1000, NULL), 0);
	cr_assert_eq(journal_status(j, 3, JSTATUS_DELIVERED, 0, T0 + 30000, NULL), 0);
	cr_assert_eq(journal_status(j, 4, JSTATUS_READ, 0, T0 + 200000, NULL), 0);
	cr_assert_eq(journal_status(j, 5, JSTATUS_FAILED, 131026, T0 + 5000, NULL), 0);
	cr_assert_eq(journal_commit(j), 0);
	struct journal_report a, b;
	journal_report(j, T0 + 10000, &a);
	cr_assert_eq(a.accepted, 41);
	cr_assert_eq(a.failed, 6);
	cr_assert_eq(a.failed_codes, 2);
	cr_assert_eq(a.failed_by_code[0].code, 131026);
	cr_assert_eq(a.failed_by_code[0].count, 5);
	cr_assert_eq(a.failed_by_code[1].code, 131009);
	cr_assert_eq(a.skipped_unsubscribed, 1);
	cr_assert_eq(a.skipped_invalid, 1);
	cr_assert_eq(a.retried, 1);
	cr_assert_eq(a.dispatches, 61);
	cr_assert_eq(a.in_flight, 10, "50..59 dispatched without outcome");
	cr_assert_eq(a.deferred, 1);
	cr_assert_eq(a.low_water, 49);
	cr_assert_eq(a.high_water, 60);
	cr_assert_eq(a.remaining, 100 - 41 - 6 - 2);
	cr_assert_eq(a.sent, 2);
	cr_assert_eq(a.delivered, 2);
	cr_assert_eq(a.read, 1);
	cr_assert_eq(a.delivery_failed, 1);
	cr_assert_eq(a.delivered_1m, 1);
	cr_assert_eq(a.delivered_5m, 2);
	cr_assert_eq(a.elapsed_ms, 10000);
	cr_assert_float_eq(a.rate_per_s, 4.1, 1e-9);
	cr_assert_eq(journal_close(&j), 0);

	j = jopen(p, JOURNAL_RDONLY);
	journal_report(j, T0 + 10000, &b);
	cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "the same report after a reopen");
	cr_assert_eq(journal_durable_low_water(j), 49);
	journal_close(&j);
}

Test(journal, the_report_json_carries_the_product_fields)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(20, 0, 3, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	for (uint32_t o = 0; o < 20; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	for (uint32_t o = 0; o < 18; o++)
		cr_assert_eq(journal_failed(j, o, (int32_t)(100000 + o), NULL), 0);
	accept_(j, 18);
	accept_(j, 19);
	cr_assert_eq(journal_set_state(j, NOTICE_DONE, NOTICE_REASON_COMPLETE, 0, T0 + 4000, NULL), 0);
	struct journal_report r;
	journal_report(j, T0 + 999999, &r);
	cr_assert_eq(r.elapsed_ms, 4000, "a finished notice's clock stops");
	json_t *o = journal_report_json(&r);
	cr_assert_not_null(o);
	static const char *fields[] = { "notice_id", "recipients", "accepted", "failed",
	                                "failed_by_code", "retried", "expired", "uncertain",
	                                "elapsed_s", "rate_per_s" };
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		cr_assert_not_null(json_object_get(o, fields[i]), "%s", fields[i]);
	cr_assert_str_eq(json_string_value(json_object_get(o, "notice_id")), id);
	cr_assert_eq(json_integer_value(json_object_get(o, "failed")), 18);
	json_t *codes = json_object_get(o, "failed_by_code");
	cr_assert_eq(json_object_size(codes), JOURNAL_CODES_MAX + 1, "the table and 'other'");
	cr_assert_eq(json_integer_value(json_object_get(codes, "100000")), 1);
	cr_assert_eq(json_integer_value(json_object_get(codes, "other")), 18 - JOURNAL_CODES_MAX);
	cr_assert_float_eq(json_real_value(json_object_get(o, "elapsed_s")), 4.0, 1e-9);
	cr_assert_float_eq(json_real_value(json_object_get(o, "rate_per_s")), 0.5, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(o, "state")), "done");
	json_decref(o);
	journal_close(&j);
}

/* ---- recovery: torn tails and damage ------------------------------------------- */

/* A journal of a few batches, closed cleanly; returns its records. */
static void batches(const char *p, struct recs *v)
{
	struct journal *j = jopen(p, 0);
	running(j);
	for (uint32_t o = 0; o < 6; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	cr_assert_eq(journal_commit(j), 0);
	for (uint32_t o = 0; o < 3; o++)
		accept_(j, o);
	cr_assert_eq(journal_commit(j), 0);
	cr_assert_eq(journal_failed(j, 3, 131026, NULL), 0);
	accept_(j, 4);
	cr_assert_eq(journal_close(&j), 0);
	v->n = 0;
	cr_assert_eq(journal_scan(p, NULL, collect, v, NULL), 0);
}

Test(journal, a_torn_tail_is_cut_at_every_offset_of_the_last_records)
{
	char id[NOTICE_ID_SIZE], p[512], q[600];
	mk_notice(10, 64, 4, id, p, sizeof p);
	static struct recs v;
	batches(p, &v);
	size_t len;
	uint8_t *good = read_all(p, &len);
	snprintf(q, sizeof q, "%s.copy", p);
	cr_assert_geq(v.n, 6);
	/* Every cut inside the last six records (and the header's end). */
	size_t from = (size_t)v.off[v.n - 6];
	for (size_t cut = from; cut < len; cut++) {
		write_all(q, good, cut);
		/* The last whole record that ends at or before the cut. */
		size_t keep = JOURNAL_HEADER_SIZE;
		size_t kept = 0;
		for (size_t i = 0; i < v.n; i++) {
			size_t end = i + 1 < v.n ? (size_t)v.off[i + 1] : len;
			if (end <= cut) {
				keep = end;
				kept = i + 1;
			}
		}
		struct journal *j = NULL;
		struct journal_open_info info;
		int rc = journal_open(&j, q, NULL, &info);
		cr_assert_eq(rc, 0, "cut %zu: %s %s", cut, bnd_strerror(rc), info.err_msg);
		cr_assert_eq(info.tail_dropped_bytes, cut - keep, "cut %zu", cut);
		cr_assert_eq(info.records, kept, "cut %zu", cut);
		/* Still writable after the repair. */
		uint64_t t;
		cr_assert_eq(journal_failed(j, 5, 1, &t), 0, "cut %zu", cut);
		cr_assert_eq(journal_sync(j, t), 0);
		cr_assert_eq(journal_close(&j), 0);
		cr_assert_eq(journal_open(&j, q, NULL, &info), 0, "cut %zu reopened", cut);
		cr_assert_eq(info.tail_dropped_bytes, 0);
		cr_assert(journal_is_final(j, 5));
		journal_close(&j);
	}
	free(good);
}

Test(journal, a_reader_ignores_a_torn_tail_and_never_repairs)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(10, 64, 5, id, p, sizeof p);
	static struct recs v;
	batches(p, &v);
	size_t len = fsize(p);
	cr_assert_eq(truncate(p, (off_t)len - 3), 0);
	struct journal *j = NULL;
	struct journal_opts ro = { .flags = JOURNAL_RDONLY };
	struct journal_open_info info;
	cr_assert_eq(journal_open(&j, p, &ro, &info), 0);
	cr_assert_gt(info.tail_dropped_bytes, 0);
	cr_assert_eq(fsize(p), len - 3, "a reader leaves the file alone");
	cr_assert_eq(journal_failed(j, 5, 1, NULL), BND_E_RDONLY);
	cr_assert_eq(journal_commit(j), BND_E_RDONLY);
	int fd;
	uint64_t upto;
	cr_assert_eq(journal_commit_begin(j, &fd, &upto), BND_E_RDONLY);
	cr_assert_eq(journal_close(&j), 0);
	cr_assert_eq(fsize(p), len - 3);
}

Test(journal, a_flipped_byte_is_damage_when_a_sync_covered_it_else_a_torn_tail)
{
	char id[NOTICE_ID_SIZE], p[512], q[600];
	mk_notice(10, 64, 6, id, p, sizeof p);
	static struct recs v;
	batches(p, &v);
	size_t len;
	uint8_t *good = read_all(p, &len);
	uint8_t *b = malloc(len);
	snprintf(q, sizeof q, "%s.copy", p);
	int damage = 0, tails = 0;
	for (size_t i = JOURNAL_HEADER_SIZE; i < len; i++) {
		/* The record holding byte i, and whether a later SYNCED covers it. */
		size_t r = 0;
		while (r + 1 < v.n && v.off[r + 1] <= i)
			r++;
		int covered = 0;
		for (size_t k = r + 1; k < v.n; k++)
			if (v.r[k].type == JREC_SYNCED && v.r[k].end > v.off[r])
				covered = 1;
		memcpy(b, good, len);
		b[i] ^= 0x10;
		write_all(q, b, len);
		struct journal *j = NULL;
		struct journal_open_info info;
		int rc = journal_open(&j, q, NULL, &info);
		if (covered) {
			cr_assert_eq(rc, BND_E_JOURNAL_CHECKSUM, "byte %zu: %s", i, bnd_strerror(rc));
			cr_assert_eq(info.err_offset, v.off[r], "byte %zu", i);
			cr_assert_null(j);
			cr_assert_eq(fsize(q), len, "an error changes nothing");
			damage++;
		} else {
			cr_assert_eq(rc, 0, "byte %zu: %s (%s)", i, bnd_strerror(rc), info.err_msg);
			cr_assert_eq(info.tail_dropped_bytes, len - v.off[r], "byte %zu", i);
			cr_assert_eq(fsize(q), v.off[r], "byte %zu: cut at its record", i);
			journal_close(&j);
			tails++;
		}
	}
	cr_assert_gt(damage, 100, "most bytes are covered by a sync");
	cr_assert_gt(tails, 0, "the last SYNCED record itself is a tail");
	free(b);
	free(good);
}

Test(journal, header_damage_is_an_error_at_offset_zero)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(10, 64, 7, id, p, sizeof p);
	size_t len;
	uint8_t *good = read_all(p, &len);
	cr_assert_eq(len, JOURNAL_HEADER_SIZE);
	for (size_t i = 0; i < JOURNAL_HEADER_SIZE; i++) {
		uint8_t b[JOURNAL_HEADER_SIZE];
		memcpy(b, good, sizeof b);
		b[i] ^= 0x01;
		write_all(p, b, sizeof b);
		struct journal *j = NULL;
		struct journal_open_info info;
		int rc = journal_open(&j, p, NULL, &info);
		cr_assert_eq(rc, i < 4 ? BND_E_JOURNAL_MAGIC : BND_E_JOURNAL_CHECKSUM, "byte %zu", i);
		cr_assert_eq(info.err_offset, 0);
		cr_assert_gt(strlen(info.err_msg), 0);
	}
	for (size_t cut = 0; cut < JOURNAL_HEADER_SIZE; cut++) {
		write_all(p, good, cut);
		struct journal *j = NULL;
		cr_assert_eq(journal_open(&j, p, NULL, NULL), BND_E_JOURNAL_TRUNCATED, "cut %zu", cut);
	}
	/* A newer version, honestly checksummed. */
	uint8_t b[JOURNAL_HEADER_SIZE];
	memcpy(b, good, sizeof b);
	b[4] = 2;
	uint64_t s = XXH3_64bits_withSeed(b, 56, JOURNAL_SEED);
	for (int k = 0; k < 8; k++)
		b[56 + k] = (uint8_t)(s >> (8 * k));
	write_all(p, b, sizeof b);
	struct journal *j = NULL;
	cr_assert_eq(journal_open(&j, p, NULL, NULL), BND_E_JOURNAL_VERSION);
	unlink(p);
	cr_assert_eq(journal_open(&j, p, NULL, NULL), BND_E_NOTFOUND);
	free(good);
}

/* ---- the rules ---------------------------------------------------------------- */

Test(journal, the_rules_refuse_impossible_records)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(1000, 64, 8, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	uint64_t t = 77;
	cr_assert_eq(journal_dispatched(j, 0, 0, 0, &t), BND_E_JOURNAL_STATE, "not running yet");
	cr_assert_eq(t, 77, "no ticket on failure");
	cr_assert_eq(journal_set_state(j, NOTICE_PAUSED, 0, 0, T0, NULL), BND_E_JOURNAL_STATE);
	running(j);
	cr_assert_eq(journal_dispatched(j, 1000, 0, 0, NULL), BND_E_RANGE);
	cr_assert_eq(journal_status(j, 1000, JSTATUS_SENT, 0, T0, NULL), BND_E_RANGE);
	cr_assert_eq(journal_dispatched(j, 64, 0, 0, NULL), BND_E_JOURNAL_WINDOW);
	cr_assert_eq(journal_window_end(j), 64);
	cr_assert_eq(journal_deferred(j, 70, 1, T0, NULL), BND_E_JOURNAL_WINDOW);
	cr_assert_eq(journal_status(j, 64, JSTATUS_SENT, 0, T0, NULL), BND_E_JOURNAL_WINDOW);
	cr_assert_eq(journal_dispatched(j, 63, 0, 0, NULL), 0);
	accept_(j, 63);
	cr_assert_eq(journal_failed(j, 63, 1, NULL), BND_E_JOURNAL_FINAL, "a second outcome");
	cr_assert_eq(journal_dispatched(j, 63, 1, 0, NULL), BND_E_JOURNAL_FINAL, "no double send");
	cr_assert_eq(journal_deferred(j, 63, 1, T0, NULL), BND_E_JOURNAL_FINAL);
	cr_assert_eq(journal_status(j, 63, JSTATUS_READ, 0, T0, NULL), 0, "statuses always");
	struct journal_rec r = { .type = JREC_CURSOR, .ordinal = 0 };
	cr_assert_eq(journal_append(j, &r, NULL), BND_E_INVAL);
	r = (struct journal_rec){ .type = JREC_SYNCED };
	cr_assert_eq(journal_append(j, &r, NULL), BND_E_INVAL);
	cr_assert_eq(journal_skipped(j, 1, (enum journal_skip)0, NULL), BND_E_INVAL);
	cr_assert_eq(journal_status(j, 1, (enum journal_status)5, 0, T0, NULL), BND_E_INVAL);
	cr_assert_eq(journal_set_state(j, (enum notice_state)9, 0, 0, T0, NULL), BND_E_INVAL);
	cr_assert_eq(journal_accepted(j, 1, (const uint8_t *)"x", JOURNAL_WAMID_MAX + 1, NULL),
	             BND_E_INVAL);
	cr_assert_eq(journal_set_state(j, NOTICE_DONE, NOTICE_REASON_COMPLETE, 0, T0, NULL),
	             BND_E_JOURNAL_STATE, "not every ordinal is final");
	cr_assert_eq(journal_set_state(j, NOTICE_PAUSED, NOTICE_REASON_OPERATOR, 0, T0, NULL), 0);
	cr_assert_eq(journal_dispatched(j, 1, 0, 0, NULL), BND_E_JOURNAL_STATE, "paused");
	cr_assert_eq(journal_failed(j, 2, 1, NULL), 0, "outcomes still land while paused");
	cr_assert_eq(journal_set_state(j, NOTICE_CANCELLED, NOTICE_REASON_OPERATOR, 0, T0, NULL), 0);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_OPERATOR, 0, T0, NULL),
	             BND_E_JOURNAL_STATE, "cancelled is final");
	cr_assert_eq(journal_dispatched(j, 1, 0, 0, NULL), BND_E_JOURNAL_STATE);
	cr_assert_eq(journal_close(&j), 0);
	j = jopen(p, 0);  /* and all of that replays */
	enum notice_state st;
	journal_state(j, &st, NULL, NULL);
	cr_assert_eq(st, NOTICE_CANCELLED);
	journal_close(&j);
}

Test(journal, done_needs_every_ordinal_final_and_expiry_counts_the_rest)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(5, 64, 9, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	cr_assert_eq(journal_dispatched(j, 0, 0, 0, NULL), 0);
	accept_(j, 0);
	cr_assert_eq(journal_skipped(j, 1, JSKIP_EXPIRED, NULL), 0);
	cr_assert_eq(journal_dispatched(j, 2, 0, 0, NULL), 0);
	cr_assert_eq(journal_set_state(j, NOTICE_EXPIRED, NOTICE_REASON_EXPIRY, 0, T0 + 9, NULL), 0);
	accept_(j, 2);  /* the in-flight request still reports */
	struct journal_report r;
	journal_report(j, T0 + 100, &r);
	cr_assert_eq(r.state, NOTICE_EXPIRED);
	cr_assert_eq(r.expired, 3, "the skipped one and the two never sent");
	cr_assert_eq(r.accepted, 2);
	cr_assert_eq(r.elapsed_ms, 9);
	journal_close(&j);

	mk_notice(0, 64, 10, id, p, sizeof p);
	j = jopen(p, 0);
	cr_assert_eq(journal_set_state(j, NOTICE_DONE, NOTICE_REASON_COMPLETE, 0, T0, NULL), 0,
	             "an empty notice is done at once");
	journal_close(&j);
}

/* A journal whose records all carry valid checksums but break a rule. */
static int open_forged(const char *p, const struct journal_rec *recs, size_t n,
                       struct journal_open_info *info)
{
	size_t len;
	uint8_t *b = read_all(p, &len);
	b = realloc(b, JOURNAL_HEADER_SIZE + n * 300);
	size_t off = JOURNAL_HEADER_SIZE;
	for (size_t i = 0; i < n; i++) {
		int k = journal_rec_encode(&recs[i], b + off, 300);
		cr_assert_gt(k, 0);
		off += (size_t)k;
	}
	char q[600];
	snprintf(q, sizeof q, "%s.forged", p);
	write_all(q, b, off);
	free(b);
	struct journal *j = NULL;
	int rc = journal_open(&j, q, NULL, info);
	journal_close(&j);
	return rc;
}

Test(journal, a_replay_rejects_records_that_break_the_rules)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(100, 64, 11, id, p, sizeof p);
	const struct journal_rec run = { .type = JREC_STATE, .kind = NOTICE_RUNNING, .t_ms = T0 };
	const struct journal_rec d0 = { .type = JREC_DISPATCHED, .ordinal = 0 };
	const struct journal_rec a0 = { .type = JREC_ACCEPTED, .ordinal = 0 };
	const struct journal_rec d1 = { .type = JREC_DISPATCHED, .ordinal = 1 };
	struct {
		const char *why;
		struct journal_rec r[5];
		size_t n;
		size_t bad;  /* index of the offending record */
	} cases[] = {
		{ "a cursor past a non-final ordinal",
		  { run, d0, a0, d1, { .type = JREC_CURSOR, .ordinal = 2 } }, 5, 4 },
		{ "a second outcome", { run, d0, a0, { .type = JREC_FAILED, .ordinal = 0 } }, 4, 3 },
		{ "a dispatch before running", { d0 }, 1, 0 },
		{ "an ordinal past the list", { run, { .type = JREC_DISPATCHED, .ordinal = 100 } }, 2, 1 },
		{ "an ordinal past the window", { run, { .type = JREC_FAILED, .ordinal = 64 } }, 2, 1 },
		{ "a forbidden transition", { { .type = JREC_STATE, .kind = NOTICE_PAUSED } }, 1, 0 },
		{ "done too early", { run, { .type = JREC_STATE, .kind = NOTICE_DONE } }, 2, 1 },
		{ "a SYNCED claiming the future", { run, { .type = JREC_SYNCED, .end = 1000 } }, 2, 1 },
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct journal_open_info info;
		int rc = open_forged(p, cases[c].r, cases[c].n, &info);
		cr_assert_eq(rc, BND_E_JOURNAL_CORRUPT, "%s: %s", cases[c].why, bnd_strerror(rc));
		/* The offset of the offending record. */
		uint64_t off = JOURNAL_HEADER_SIZE;
		for (size_t i = 0; i < cases[c].bad; i++) {
			uint8_t tmp[300];
			off += (uint64_t)journal_rec_encode(&cases[c].r[i], tmp, sizeof tmp);
		}
		cr_assert_eq(info.err_offset, off, "%s", cases[c].why);
		cr_assert_gt(strlen(info.err_msg), 0);
	}
	/* The same records without the offence open fine. */
	struct journal_rec ok[] = { run, d0, a0, d1, { .type = JREC_CURSOR, .ordinal = 1 } };
	cr_assert_eq(open_forged(p, ok, 5, NULL), 0);
}

/* ---- cursor, window, resume ------------------------------------------------------ */

Test(journal, the_cursor_only_moves_over_final_outcomes)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(1000, 256, 12, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	for (uint32_t o = 0; o < 10; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	for (uint32_t o = 1; o < 10; o++)
		accept_(j, o);
	cr_assert_eq(journal_low_water(j), 0, "0 is in flight: listmonk's bug would skip it");
	cr_assert_eq(journal_deferred(j, 0, 130429, T0 + 1000, NULL), 0);
	cr_assert_eq(journal_low_water(j), 0, "deferred is not final");
	cr_assert_eq(journal_commit(j), 0);
	cr_assert_eq(journal_durable_low_water(j), 0);
	cr_assert_eq(journal_dispatched(j, 0, 1, 0, NULL), 0);
	cr_assert_eq(journal_failed(j, 0, 131026, NULL), 0);
	cr_assert_eq(journal_low_water(j), 10);
	cr_assert_eq(journal_durable_low_water(j), 0, "not durable before a commit");
	cr_assert_eq(journal_window_end(j), 266);
	cr_assert_eq(journal_commit(j), 0);
	cr_assert_eq(journal_durable_low_water(j), 10);
	cr_assert_eq(journal_close(&j), 0);
	/* Every CURSOR in the file is below or at the finals before it. */
	static struct recs v;
	v.n = 0;
	cr_assert_eq(journal_scan(p, NULL, collect, &v, NULL), 0);
	static uint8_t fin[1000];
	int cursors = 0;
	for (size_t i = 0; i < v.n; i++) {
		const struct journal_rec *r = &v.r[i];
		if (r->type == JREC_ACCEPTED || r->type == JREC_FAILED || r->type == JREC_SKIPPED)
			fin[r->ordinal] = 1;
		if (r->type == JREC_CURSOR) {
			cursors++;
			for (uint32_t o = 0; o < r->ordinal; o++)
				cr_assert(fin[o], "CURSOR %u passes non-final %u", r->ordinal, o);
		}
	}
	cr_assert_gt(cursors, 0);
}

/* What resume must see, from a model of every ordinal. */
enum { M_NONE, M_DISP, M_DEF, M_FINAL };
struct model {
	uint32_t n;
	uint8_t *st;
	uint16_t *attempt;
	uint64_t *until;
};

struct pend_check {
	struct model *m;
	uint32_t next;   /* the next ordinal expected to be visited */
	uint32_t low, high;
	size_t uncertain;
};

static int check_pending(const struct journal_pending *p, void *ud)
{
	struct pend_check *c = ud;
	/* Skipped ordinals in between must be final in the model. */
	for (uint32_t o = c->next; o < p->ordinal; o++)
		cr_assert_eq(c->m->st[o], M_FINAL, "ordinal %u not visited but not final", o);
	c->next = p->ordinal + 1;
	switch (c->m->st[p->ordinal]) {
	case M_DISP:
		cr_assert_eq(p->kind, JPEND_UNCERTAIN, "ordinal %u", p->ordinal);
		cr_assert_eq(p->dispatched, 1);
		cr_assert_eq(p->attempt, c->m->attempt[p->ordinal]);
		c->uncertain++;
		break;
	case M_DEF:
		cr_assert_eq(p->kind, JPEND_DEFERRED, "ordinal %u", p->ordinal);
		cr_assert_eq(p->until_ms, c->m->until[p->ordinal]);
		break;
	case M_NONE:
		cr_assert_eq(p->kind, JPEND_UNSENT, "ordinal %u", p->ordinal);
		break;
	default:
		cr_assert_fail("final ordinal %u reported pending", p->ordinal);
	}
	return 0;
}

static void compare(struct journal *j, struct model *m, const char *when)
{
	uint32_t low = 0, high = 0;
	while (low < m->n && m->st[low] == M_FINAL)
		low++;
	for (uint32_t o = 0; o < m->n; o++)
		if (m->st[o] != M_NONE)
			high = o + 1;
	cr_assert_eq(journal_low_water(j), low, "%s", when);
	cr_assert_eq(journal_high_water(j), high, "%s", when);
	for (uint32_t o = 0; o < m->n; o++)
		cr_assert_eq(journal_is_final(j, o), m->st[o] == M_FINAL, "%s: ordinal %u", when, o);
	struct pend_check c = { .m = m, .next = low, .low = low, .high = high };
	cr_assert_eq(journal_pending_foreach(j, check_pending, &c), 0);
	for (uint32_t o = c.next; o < high; o++)
		cr_assert_eq(m->st[o], M_FINAL, "%s: %u missing from pending", when, o);
	struct journal_report r;
	journal_report(j, T0, &r);
	cr_assert_eq(r.in_flight, c.uncertain, "%s", when);
}

Test(journal, resume_rebuilds_cursor_window_and_the_exact_uncertain_set)
{
	char id[NOTICE_ID_SIZE], p[512], q[600];
	enum { N = 3000, SPAN = 256, W = 40 };
	mk_notice(N, SPAN, 13, id, p, sizeof p);
	snprintf(q, sizeof q, "%s.crash", p);
	struct model m = { .n = N, .st = calloc(N, 1), .attempt = calloc(N, 2),
	                   .until = calloc(N, 8) };
	struct journal *j = jopen(p, 0);
	running(j);
	uint32_t next = 0, x = 4242;
	uint32_t inflight[W];
	size_t nin = 0;
	int reopens = 0;
	for (int step = 0; step < 40000 && (next < N || nin > 0); step++) {
		x = x * 1664525u + 1013904223u;
		unsigned dice = x >> 24;
		if (nin < W && dice < 140) {
			/* Dispatch: a deferred ordinal first if any is due (random),
			 * else the next new one within the window. */
			uint32_t o = UINT32_MAX;
			for (uint32_t k = journal_low_water(j); k < next && k < N; k++)
				if (m.st[k] == M_DEF && (x & 1)) {
					o = k;
					break;
				}
			if (o == UINT32_MAX && next < journal_window_end(j))
				o = next++;
			if (o == UINT32_MAX)
				continue;
			uint16_t a = m.st[o] == M_DEF ? (uint16_t)(m.attempt[o] + 1) : 0;
			cr_assert_eq(journal_dispatched(j, o, a, 0, NULL), 0, "step %d", step);
			m.st[o] = M_DISP;
			m.attempt[o] = a;
			inflight[nin++] = o;
		} else if (nin > 0 && dice < 250) {
			/* An outcome for a random in-flight ordinal. */
			size_t k = (x >> 8) % nin;
			uint32_t o = inflight[k];
			inflight[k] = inflight[--nin];
			unsigned what = (x >> 4) % 10;
			if (what < 6) {
				accept_(j, o);
				m.st[o] = M_FINAL;
			} else if (what < 7) {
				cr_assert_eq(journal_failed(j, o, 131026, NULL), 0);
				m.st[o] = M_FINAL;
			} else if (what < 8) {
				cr_assert_eq(journal_skipped(j, o, JSKIP_UNSUBSCRIBED, NULL), 0);
				m.st[o] = M_FINAL;
			} else {
				uint64_t until = T0 + step;
				cr_assert_eq(journal_deferred(j, o, 131056, until, NULL), 0);
				m.st[o] = M_DEF;
				m.until[o] = until;
			}
		} else if (dice < 254) {
			cr_assert_eq(journal_commit(j), 0);
		} else {
			/* "Crash": commit, copy the file as it is on disk, resume from
			 * the copy; the live journal goes on. */
			cr_assert_eq(journal_commit(j), 0);
			copy_file(p, q);
			struct journal *r = jopen(q, 0);
			char when[64];
			snprintf(when, sizeof when, "crash at step %d", step);
			compare(r, &m, when);
			journal_close(&r);
			reopens++;
		}
	}
	cr_assert_eq(journal_close(&j), 0);
	j = jopen(p, JOURNAL_RDONLY);
	compare(j, &m, "the end");
	journal_close(&j);
	cr_assert_gt(reopens, 20, "the walk crashed often enough to mean something");
	free(m.st);
	free(m.attempt);
	free(m.until);
}

static int count_uncertain(const struct journal_pending *p, void *ud)
{
	if (p->kind == JPEND_UNCERTAIN)
		(*(size_t *)ud)++;
	return 0;
}

Test(journal, a_status_reconciles_an_uncertain_ordinal)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(50, 64, 14, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	for (uint32_t o = 0; o < 10; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	for (uint32_t o = 0; o < 5; o++)
		accept_(j, o);
	cr_assert_eq(journal_commit(j), 0);
	cr_assert_eq(journal_close(&j), 0);
	/* Resume: 5..9 are uncertain. */
	j = jopen(p, 0);
	size_t unc = 0;
	journal_pending_foreach(j, count_uncertain, &unc);
	cr_assert_eq(unc, 5);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, 0, 0, T0, NULL), BND_E_JOURNAL_STATE,
	             "still running");
	/* Webhooks echo 5 and 7 (status sent/delivered): accepted, not re-sent. */
	cr_assert_eq(journal_status(j, 5, JSTATUS_SENT, 0, T0 + 1000, NULL), 0);
	cr_assert_eq(journal_status(j, 7, JSTATUS_DELIVERED, 0, T0 + 2000, NULL), 0);
	cr_assert(journal_is_final(j, 5));
	cr_assert(journal_is_final(j, 7));
	cr_assert_eq(journal_dispatched(j, 5, 1, JOURNAL_DISPATCH_UNCERTAIN, NULL),
	             BND_E_JOURNAL_FINAL, "the journal refuses to send it again");
	cr_assert_eq(journal_low_water(j), 6);
	/* A late duplicate status changes no count. */
	cr_assert_eq(journal_status(j, 7, JSTATUS_DELIVERED, 0, T0 + 2500, NULL), 0);
	/* The others are re-sent after the grace period, counted uncertain. */
	for (uint32_t o = 6; o < 10; o += 2)
		cr_assert_eq(journal_dispatched(j, o, 1, JOURNAL_DISPATCH_UNCERTAIN, NULL), 0);
	cr_assert_eq(journal_dispatched(j, 9, 1, JOURNAL_DISPATCH_UNCERTAIN, NULL), 0);
	accept_(j, 6);
	accept_(j, 8);
	accept_(j, 9);
	struct journal_report r;
	journal_report(j, T0, &r);
	cr_assert_eq(r.accepted, 10);
	cr_assert_eq(r.reconciled, 2);
	cr_assert_eq(r.uncertain, 3);
	cr_assert_eq(r.retried, 0, "an uncertain re-send is not a retry");
	cr_assert_eq(r.delivered, 1);
	cr_assert_eq(r.sent, 2);
	cr_assert_eq(r.low_water, 10);
	cr_assert_eq(journal_close(&j), 0);
	j = jopen(p, JOURNAL_RDONLY);
	struct journal_report r2;
	journal_report(j, T0, &r2);
	cr_assert_eq(memcmp(&r, &r2, sizeof r), 0, "and it replays the same");
	journal_close(&j);
}

Test(journal, statuses_count_distinct_recipients_and_coverage)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(1001, 0, 15, id, p, sizeof p);  /* odd: the last nibble is alone */
	struct journal *j = jopen(p, 0);
	running(j);
	for (uint32_t o = 0; o < 1001; o++) {
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
		accept_(j, o);
	}
	/* delivered at 30 s, 4 min, 10 min, 20 min; read before delivered; dups. */
	static const uint64_t at[] = { 30000, 240000, 600000, 1200000 };
	for (uint32_t o = 0; o < 400; o++) {
		cr_assert_eq(journal_status(j, o, JSTATUS_SENT, 0, T0 + 1000, NULL), 0);
		cr_assert_eq(journal_status(j, o, JSTATUS_DELIVERED, 0, T0 + at[o % 4], NULL), 0);
		cr_assert_eq(journal_status(j, o, JSTATUS_DELIVERED, 0, T0 + at[o % 4] + 5, NULL), 0);
	}
	cr_assert_eq(journal_status(j, 1000, JSTATUS_READ, 0, T0 + 1000, NULL), 0);
	cr_assert_eq(journal_status(j, 1000, JSTATUS_DELIVERED, 0, T0 + 900, NULL), 0);
	cr_assert_eq(journal_status(j, 999, JSTATUS_FAILED, 131026, T0, NULL), 0);
	cr_assert_eq(journal_status(j, 999, JSTATUS_FAILED, 131026, T0, NULL), 0);
	struct journal_report r;
	journal_report(j, T0, &r);
	cr_assert_eq(r.sent, 401);
	cr_assert_eq(r.delivered, 401);
	cr_assert_eq(r.read, 1);
	cr_assert_eq(r.delivery_failed, 1);
	cr_assert_eq(r.delivered_1m, 101);
	cr_assert_eq(r.delivered_5m, 201);
	cr_assert_eq(r.delivered_15m, 301);
	cr_assert_eq(r.accepted, 1001, "statuses of final ordinals add no acceptance");
	journal_close(&j);
}

/* ---- failures ----------------------------------------------------------------------- */

Test(journal, open_fails_cleanly_at_every_allocation)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(300, 64, 16, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	for (uint32_t o = 0; o < 60; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	cr_assert_eq(journal_status(j, 3, JSTATUS_SENT, 0, T0, NULL), 0);
	cr_assert_eq(journal_close(&j), 0);
	size_t len;
	uint8_t *before = read_all(p, &len);
	long i;
	for (i = 0; i < 200; i++) {
		bnd_alloc_fail_after(i);
		int rc = journal_open(&j, p, NULL, NULL);
		bnd_alloc_fail_after(-1);
		if (rc == 0)
			break;
		cr_assert_eq(rc, BND_E_NOMEM, "allocation %ld: %s", i, bnd_strerror(rc));
		cr_assert_null(j);
		size_t l2;
		uint8_t *after = read_all(p, &l2);
		cr_assert_eq(l2, len);
		cr_assert_arr_eq(after, before, len, "a failed open changes nothing");
		free(after);
	}
	cr_assert_gt(i, 4, "struct, ring, buffers, map, statuses");
	struct journal_report r;
	journal_report(j, T0, &r);
	cr_assert_eq(r.in_flight, 59, "60 dispatched, one reconciled by its status");
	journal_close(&j);
	free(before);
}

Test(journal, a_failed_allocation_in_append_changes_nothing)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(5000, 0, 17, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	struct journal_report a, b;
	journal_report(j, T0, &a);
	bnd_alloc_fail_after(0);
	cr_assert_eq(journal_status(j, 3, JSTATUS_SENT, 0, T0, NULL), BND_E_NOMEM,
	             "the status nibbles are allocated on first use");
	bnd_alloc_fail_after(-1);
	for (uint32_t o = 0; o < 10; o++)
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
	journal_report(j, T0, &a);
	/* Grow the open map until an allocation is needed. */
	bnd_alloc_fail_after(0);
	int failed_at = -1;
	for (uint32_t o = 10; o < 200; o++) {
		int rc = journal_dispatched(j, o, 0, 0, NULL);
		if (rc) {
			cr_assert_eq(rc, BND_E_NOMEM);
			failed_at = (int)o;
			break;
		}
	}
	bnd_alloc_fail_after(-1);
	cr_assert_gt(failed_at, 10, "the map grew at some point");
	journal_report(j, T0, &b);
	cr_assert_eq(b.dispatches, (uint64_t)failed_at, "the failed one is not counted");
	cr_assert_eq(b.sent, a.sent);
	cr_assert_eq(journal_high_water(j), (uint32_t)failed_at);
	cr_assert_eq(journal_dispatched(j, (uint32_t)failed_at, 0, 0, NULL), 0, "and works after");
	cr_assert_eq(journal_close(&j), 0);
	j = jopen(p, 0);
	journal_report(j, T0, &b);
	cr_assert_eq(b.dispatches, (uint64_t)failed_at + 1, "nothing half-written");
	journal_close(&j);
}

/*
 * Run a workload under the fsio fault hook: the Nth operation of the kinds
 * in `ops` fails with ENOSPC (after a short write of 7 bytes when `short_w`),
 * and with `freeze` every later operation of any kind fails too: a crash
 * at step N. Remember what was acknowledged (a commit that returned 0);
 * reopen without the hook and check that all of it is there. Returns 1
 * when the workload ran to the end (N past its last operation).
 */
static int failing_workload(const char *p, unsigned ops, long n, int short_w, int freeze)
{
	struct journal_opts small = { .buffer_bytes = 600 };  /* flushes between commits too */
	struct journal *j = NULL;
	cr_assert_eq(journal_open(&j, p, &small, NULL), 0);
	static struct tu_fault f;
	tu_fault_set(&f, ops, n, -ENOSPC);
	f.short_bytes = short_w ? 7 : 0;
	f.freeze = freeze;
	uint32_t acked = 0;  /* ordinals [0, acked) were acknowledged final */
	int failed = 0;
	int rc = journal_set_state(j, NOTICE_RUNNING, 0, 0, T0, NULL);
	if (rc == 0)
		rc = journal_commit(j);
	for (uint32_t o = 0; o < 200 && rc == 0; o++) {
		rc = journal_dispatched(j, o, 0, 0, NULL);
		if (rc == 0) {
			char w[32];
			int k = snprintf(w, sizeof w, "wamid.%u", o);
			rc = journal_accepted(j, o, (const uint8_t *)w, (size_t)k, NULL);
		}
		if (rc == 0 && o % 10 == 9) {
			rc = journal_commit(j);
			if (rc == 0)
				acked = o + 1;
		}
	}
	if (rc) {
		failed = 1;
		cr_assert(rc == -ENOSPC || rc == -EIO, "n=%ld: %s", n, bnd_strerror(rc));
		cr_assert_eq(journal_failed(j, 199, 1, NULL), -EIO, "broken until reopened");
		cr_assert_eq(journal_commit(j), -EIO);
	}
	int crc = journal_close(&j);
	if (failed)
		cr_assert_neq(crc, 0, "close reports the broken journal");
	tu_fault_clear();
	struct journal_open_info info;
	rc = journal_open(&j, p, NULL, &info);
	cr_assert_eq(rc, 0, "n=%ld reopen: %s (%s)", n, bnd_strerror(rc), info.err_msg);
	for (uint32_t o = 0; o < acked; o++)
		cr_assert(journal_is_final(j, o), "n=%ld: acknowledged ordinal %u lost", n, o);
	/* And it goes on from there. */
	uint32_t low = journal_low_water(j);
	if (low < 200) {
		uint64_t t;
		cr_assert_eq(journal_failed(j, low, 1, &t), 0, "n=%ld", n);
		cr_assert_eq(journal_sync(j, t), 0);
		cr_assert_eq(journal_low_water(j), low + 1);
	}
	journal_close(&j);
	return !failed;
}

static void failing_io(unsigned ops, int short_w, int freeze, uint32_t rnd)
{
	char id[NOTICE_ID_SIZE], p[512], q[600];
	mk_notice(200, 64, rnd, id, p, sizeof p);
	snprintf(q, sizeof q, "%s.work", p);
	long n;
	for (n = 0; n < 2000; n++) {
		copy_file(p, q);
		if (failing_workload(q, ops, n, short_w, freeze))
			break;
	}
	cr_assert_gt(n, 10, "many failure points were exercised");
	cr_assert_lt(n, 2000, "the workload finished once the failures ran out");
}

Test(journal, a_failed_write_loses_nothing_acknowledged)
{
	failing_io(1u << FSIO_WRITE, 0, 0, 18);
}

Test(journal, a_short_write_then_disk_full_loses_nothing_acknowledged)
{
	failing_io(1u << FSIO_WRITE, 1, 0, 19);
}

Test(journal, a_failed_fdatasync_loses_nothing_acknowledged)
{
	failing_io(1u << FSIO_FSYNC, 0, 0, 20);
}

Test(journal, a_crash_at_every_step_loses_nothing_acknowledged)
{
	/* Freeze the disk at the Nth write, fsync or truncate: nothing after it
	 * reaches the file, as in a crash at that step. */
	failing_io(1u << FSIO_WRITE | 1u << FSIO_FSYNC | 1u << FSIO_TRUNCATE, 0, 1, 21);
}

/* ---- concurrency, lock, identity, async commit -------------------------------------- */

struct writer_arg {
	const char *path;
	uint32_t count;
	volatile int done;
};

static void *writer_main(void *ud)
{
	struct writer_arg *a = ud;
	struct journal_opts small = { .buffer_bytes = 1024 };
	struct journal *j = NULL;
	cr_assert_eq(journal_open(&j, a->path, &small, NULL), 0);
	running(j);
	for (uint32_t o = 0; o < a->count; o++) {
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
		if (o % 3 == 0)
			cr_assert_eq(journal_failed(j, o, 131026, NULL), 0);
		else
			accept_(j, o);
		if (o % 50 == 0)
			cr_assert_eq(journal_commit(j), 0);
	}
	cr_assert_eq(journal_close(&j), 0);
	a->done = 1;
	return NULL;
}

Test(journal, a_reader_reports_while_a_writer_appends)
{
	char id[NOTICE_ID_SIZE], p[512];
	enum { N = 20000 };
	mk_notice(N, 0, 20, id, p, sizeof p);
	struct writer_arg a = { .path = p, .count = N };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, writer_main, &a), 0);
	uint64_t last_final = 0;
	int opens = 0;
	while (!a.done || opens < 3) {
		struct journal *j = NULL;
		struct journal_opts ro = { .flags = JOURNAL_RDONLY };
		struct journal_open_info info;
		int rc = journal_open(&j, p, &ro, &info);
		cr_assert_eq(rc, 0, "reader: %s (%s)", bnd_strerror(rc), info.err_msg);
		struct journal_report r;
		journal_report(j, T0, &r);
		uint64_t fin = r.accepted + r.failed;
		cr_assert_geq(fin, last_final, "progress never goes backwards");
		cr_assert_leq(fin, r.dispatches);
		cr_assert_eq(r.low_water, fin, "in order: finals are a prefix");
		cr_assert_leq(r.in_flight, 1);
		last_final = fin;
		journal_close(&j);
		opens++;
		if (opens > 100000)
			break;
	}
	pthread_join(t, NULL);
	cr_assert_gt(opens, 3);
	struct journal *j = jopen(p, JOURNAL_RDONLY);
	struct journal_report r;
	journal_report(j, T0, &r);
	cr_assert_eq(r.accepted + r.failed, N, "a look after the writer closed sees everything");
	cr_assert_geq(r.accepted + r.failed, last_final);
	journal_close(&j);
}

Test(journal, one_writer_at_a_time_and_readers_alongside)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(10, 64, 21, id, p, sizeof p);
	struct journal *w = jopen(p, 0), *w2 = NULL, *r = NULL;
	cr_assert_eq(journal_open(&w2, p, NULL, NULL), BND_E_LOCKED);
	cr_assert_null(w2);
	r = jopen(p, JOURNAL_RDONLY);
	journal_close(&r);
	cr_assert_eq(journal_close(&w), 0);
	w2 = jopen(p, 0);
	journal_close(&w2);
	journal_close(NULL);
	cr_assert_eq(journal_close(&w2), 0);
}

Test(journal, open_notice_checks_that_the_journal_belongs_to_the_list)
{
	char a[NOTICE_ID_SIZE], b[NOTICE_ID_SIZE], pa[512], pb[512];
	mk_notice(10, 64, 22, a, pa, sizeof pa);
	mk_notice(11, 64, 23, b, pb, sizeof pb);
	struct notice_rcpt *ra = NULL, *rb = NULL;
	cr_assert_eq(notice_rcpt_open(&ra, dir, a), 0);
	cr_assert_eq(notice_rcpt_open(&rb, dir, b), 0);
	struct journal *j = NULL;
	cr_assert_eq(journal_open_notice(&j, dir, a, ra, NULL, NULL), 0);
	cr_assert_eq(journal_matches(j, a, 10, notice_rcpt_checksum(ra)), 0);
	cr_assert_eq(journal_matches(j, b, 10, notice_rcpt_checksum(ra)), BND_E_JOURNAL_MISMATCH);
	cr_assert_eq(journal_matches(j, a, 11, notice_rcpt_checksum(ra)), BND_E_JOURNAL_MISMATCH);
	cr_assert_eq(journal_matches(j, a, 10, notice_rcpt_checksum(ra) ^ 1),
	             BND_E_JOURNAL_MISMATCH);
	journal_close(&j);
	cr_assert_eq(journal_open_notice(&j, dir, a, rb, NULL, NULL), BND_E_JOURNAL_MISMATCH);
	cr_assert_null(j);
	/* A journal moved under another notice's directory. */
	copy_file(pa, pb);
	cr_assert_eq(journal_open_notice(&j, dir, b, NULL, NULL, NULL), BND_E_JOURNAL_MISMATCH);
	cr_assert_eq(journal_open_notice(&j, dir, "../../x", NULL, NULL, NULL), BND_E_NOTICE_ID);
	struct journal_header h;
	cr_assert_eq(journal_open_notice(&j, dir, a, NULL, NULL, NULL), 0);
	journal_header_get(j, &h);
	cr_assert_str_eq(h.notice_id, a);
	cr_assert_eq(h.span, 64);
	journal_close(&j);
	notice_rcpt_close(&ra);
	notice_rcpt_close(&rb);
}

Test(journal, the_async_commit_pair_makes_records_durable)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(100, 64, 24, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	int fd = -1;
	uint64_t upto = 0, t1, t2;
	cr_assert_eq(journal_commit_begin(j, &fd, &upto), 0, "nothing to do");
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, 0, 0, T0, NULL), 0);
	cr_assert_eq(journal_dispatched(j, 0, 0, 0, &t1), 0);
	cr_assert_eq(journal_needs_commit(j), 1);
	cr_assert_eq(journal_durable(j, t1), 0);
	cr_assert_eq(journal_commit_begin(j, &fd, &upto), 1);
	cr_assert_geq(fd, 0);
	cr_assert_geq(upto, t1);
	cr_assert_eq(fsize(p), upto, "the write happened in begin");
	int fd2;
	uint64_t u2;
	cr_assert_eq(journal_commit_begin(j, &fd2, &u2), -EBUSY);
	/* Appends go on while the fdatasync runs. */
	cr_assert_eq(journal_dispatched(j, 1, 0, 0, &t2), 0);
	cr_assert_eq(fdatasync(fd), 0);
	cr_assert_eq(journal_commit_end(j, upto, 0), 0);
	cr_assert_eq(journal_durable(j, t1), 1);
	cr_assert_eq(journal_durable(j, t2), 0);
	cr_assert_eq(journal_sync(j, t2), 0);
	cr_assert_eq(journal_durable(j, t2), 1);
	cr_assert_eq(journal_needs_commit(j), 0);
	/* A failed fdatasync breaks the journal. */
	cr_assert_eq(journal_dispatched(j, 2, 0, 0, NULL), 0);
	cr_assert_eq(journal_commit_begin(j, &fd, &upto), 1);
	cr_assert_eq(journal_commit_end(j, upto, -EIO), -EIO);
	cr_assert_eq(journal_dispatched(j, 3, 0, 0, NULL), -EIO);
	cr_assert_neq(journal_close(&j), 0);
	j = jopen(p, 0);
	cr_assert_eq(journal_high_water(j), 3, "the page cache still had it");
	journal_close(&j);
}

struct syncer_arg {
	struct journal *j;
	uint32_t first;
	int ok;
};

static void *syncer_main(void *ud)
{
	struct syncer_arg *a = ud;
	for (uint32_t k = 0; k < 50; k++) {
		uint64_t t;
		uint32_t o = a->first + k;
		if (journal_dispatched(a->j, o, 0, 0, NULL) || journal_failed(a->j, o, 7, &t) ||
		    journal_sync(a->j, t) || !journal_durable(a->j, t))
			return NULL;
	}
	a->ok = 1;
	return NULL;
}

Test(journal, concurrent_committers_share_fdatasyncs)
{
	char id[NOTICE_ID_SIZE], p[512];
	enum { T = 8 };
	mk_notice(T * 50, 0, 25, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	pthread_t t[T];
	struct syncer_arg a[T];
	for (int i = 0; i < T; i++) {
		a[i] = (struct syncer_arg){ .j = j, .first = (uint32_t)i * 50 };
		cr_assert_eq(pthread_create(&t[i], NULL, syncer_main, &a[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(t[i], NULL);
		cr_assert(a[i].ok, "thread %d", i);
	}
	journal_close(&j);
	j = jopen(p, JOURNAL_RDONLY);
	struct journal_report r;
	journal_report(j, T0, &r);
	cr_assert_eq(r.failed, T * 50);
	cr_assert_eq(r.low_water, T * 50);
	journal_close(&j);
}

struct waiter_arg {
	struct journal *j;
	uint64_t ticket;
	int rc;
};

static void *waiter_main(void *ud)
{
	struct waiter_arg *a = ud;
	a->rc = journal_sync(a->j, a->ticket);
	return NULL;
}

Test(journal, a_caller_arriving_during_a_sync_shares_it)
{
	char id[NOTICE_ID_SIZE], p[512];
	mk_notice(10, 64, 26, id, p, sizeof p);
	struct journal *j = jopen(p, 0);
	running(j);
	uint64_t t;
	cr_assert_eq(journal_dispatched(j, 0, 0, 0, &t), 0);
	int fd;
	uint64_t upto;
	cr_assert_eq(journal_commit_begin(j, &fd, &upto), 1);
	static struct tu_fault count;  /* fails nothing: counts fdatasyncs */
	tu_fault_set(&count, 1u << FSIO_FSYNC, -1, 0);
	struct waiter_arg a = { .j = j, .ticket = t, .rc = 99 };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, waiter_main, &a), 0);
	usleep(20000);  /* let it wait (if it is late, it finds the ticket durable) */
	cr_assert_eq(fdatasync(fd), 0);
	cr_assert_eq(journal_commit_end(j, upto, 0), 0);
	pthread_join(th, NULL);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(count.seen, 0,
	             "the waiter was covered by the running commit: no fdatasync of its own");
	tu_fault_clear();
	cr_assert_eq(journal_durable(j, t), 1);
	journal_close(&j);
}
