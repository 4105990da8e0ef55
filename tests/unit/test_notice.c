/*
 * test_notice.c - notices (engine/notice.c): categories and priorities,
 * states, ids and callback tags, definition validation, notice.json,
 * the notice directory (atomic create, modes, list, cleanup) and
 * recipients.bin (round trip, every kind of damage), with failed
 * allocations, writes and syncs.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "bnd.h"
#include "journal.h"
#include "notice.h"
#include "phone.h"
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
	snprintf(dir, sizeof dir, "/tmp/bnd-notice-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* jansson allocates through the wrapper too, so failures reach it. */
	json_set_alloc_funcs(bnd_malloc, bnd_free);
}

static void teardown(void)
{
	bnd_alloc_fail_after(-1);
	tu_fault_clear();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(notice, .init = setup, .fini = teardown);

static struct notice *new_notice(enum notice_category cat, uint32_t rnd)
{
	struct notice *n = calloc(1, sizeof *n);
	cr_assert_eq(notice_init(n, cat, T0, T0 + 3600000, rnd), 0);
	const char *t = "Allerta meteo arancione: scuole chiuse domani.";
	cr_assert_eq(notice_set_text(n, (const uint8_t *)t, strlen(t)), 0);
	return n;
}

static uint64_t *numbers(size_t n)
{
	uint64_t *v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = 393300000000ULL + i * 7919;
	return v;
}

static size_t file_size(const char *p)
{
	struct stat st;
	cr_assert_eq(stat(p, &st), 0, "%s", p);
	return (size_t)st.st_size;
}

static uint8_t *read_all(const char *p, size_t *len)
{
	*len = file_size(p);
	uint8_t *b = malloc(*len + 1);
	FILE *f = fopen(p, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void write_all(const char *p, const void *b, size_t len)
{
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, len, f), len);
	fclose(f);
}

static int count_entries(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", d);
	FILE *f = popen(cmd, "r");
	int n = -1;
	cr_assert_eq(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

/* ---- categories and states -------------------------------------------------- */

Test(notice, categories_parse_and_rank_as_the_product_says)
{
	static const char *names[] = { "emergency", "disruption", "deadline", "info", "event" };
	int last = 1000;
	for (size_t i = 0; i < 5; i++) {
		enum notice_category c;
		cr_assert_eq(notice_category_parse((const uint8_t *)names[i], strlen(names[i]), &c), 0);
		cr_assert_str_eq(notice_category_name(c), names[i]);
		cr_assert_lt(notice_priority(c), last, "%s must rank below the previous", names[i]);
		last = notice_priority(c);
	}
	enum notice_category c = NOTICE_CAT_INFO;
	cr_assert_eq(notice_category_parse((const uint8_t *)"Emergency", 9, &c), BND_E_NOTICE_CATEGORY);
	cr_assert_eq(notice_category_parse((const uint8_t *)"info ", 5, &c), BND_E_NOTICE_CATEGORY);
	cr_assert_eq(notice_category_parse((const uint8_t *)"emergencyX", 9, &c), 0,
	             "reads only len bytes");
	cr_assert_eq(notice_category_parse(NULL, 0, &c), BND_E_NOTICE_CATEGORY);
	cr_assert_str_eq(notice_category_name((enum notice_category)0), "?");
	cr_assert_eq(notice_priority((enum notice_category)42), -1);
}

Test(notice, the_life_cycle_allows_only_its_transitions)
{
	cr_assert(notice_state_allowed(NOTICE_QUEUED, NOTICE_RUNNING));
	cr_assert(notice_state_allowed(NOTICE_RUNNING, NOTICE_PAUSED));
	cr_assert(notice_state_allowed(NOTICE_PAUSED, NOTICE_RUNNING));
	cr_assert(notice_state_allowed(NOTICE_STOPPED, NOTICE_RUNNING), "resume after a stop");
	cr_assert(notice_state_allowed(NOTICE_PAUSED, NOTICE_CANCELLED));
	cr_assert(notice_state_allowed(NOTICE_RUNNING, NOTICE_EXPIRED));
	cr_assert(notice_state_allowed(NOTICE_QUEUED, NOTICE_DONE));
	cr_assert_not(notice_state_allowed(NOTICE_RUNNING, NOTICE_RUNNING));
	cr_assert_not(notice_state_allowed(NOTICE_QUEUED, NOTICE_PAUSED));
	cr_assert_not(notice_state_allowed(NOTICE_RUNNING, NOTICE_QUEUED));
	for (int t = 0; t < NOTICE_STATE_COUNT; t++) {
		cr_assert_not(notice_state_allowed(NOTICE_DONE, (enum notice_state)t));
		cr_assert_not(notice_state_allowed(NOTICE_CANCELLED, (enum notice_state)t));
		cr_assert_not(notice_state_allowed(NOTICE_EXPIRED, (enum notice_state)t));
	}
	cr_assert_not(notice_state_allowed((enum notice_state)9, NOTICE_RUNNING));
	cr_assert_str_eq(notice_state_name(NOTICE_EXPIRED), "expired");
	cr_assert_str_eq(notice_state_name((enum notice_state)77), "?");
	cr_assert_str_eq(notice_reason_name(NOTICE_REASON_CAMPAIGN), "campaign_error");
	cr_assert(notice_state_terminal(NOTICE_DONE));
	cr_assert_not(notice_state_terminal(NOTICE_STOPPED));
}

/* ---- ids and tags ------------------------------------------------------------- */

Test(notice, ids_name_the_utc_second_and_sort_by_time)
{
	char a[NOTICE_ID_SIZE], b[NOTICE_ID_SIZE], c[NOTICE_ID_SIZE];
	cr_assert_eq(notice_id_make(T0 + 999, 0xa3f9, a), 0);
	cr_assert_str_eq(a, "n-20251012T101500-a3f9");
	cr_assert_eq(strlen(a), NOTICE_ID_LEN);
	cr_assert(notice_id_valid((const uint8_t *)a, strlen(a)));
	cr_assert_eq(notice_id_make(T0 + 1000, 0x0000, b), 0);
	cr_assert_eq(notice_id_make(T0 + 86400000ULL * 400, 0xffff1, c), 0);
	cr_assert_str_eq(c + 18, "fff1", "only the low 16 bits of rnd");
	cr_assert_lt(strcmp(a, b), 0);
	cr_assert_lt(strcmp(b, c), 0);
	cr_assert_eq(notice_id_make(253402300800000ULL, 0, a), BND_E_INVAL, "year 10000");
}

Test(notice, malformed_ids_are_rejected)
{
	static const char *bad[] = {
		"", "n-20251012T101500-a3f", "n-20251012T101500-a3f90", "N-20251012T101500-a3f9",
		"n_20251012T101500-a3f9", "n-20251012t101500-a3f9", "n-20251012T101500-A3F9",
		"n-20251312T101500-a3f9", "n-20251000T101500-a3f9", "n-20251012T241500-a3f9",
		"n-20251012T106000-a3f9", "n-19691231T235959-a3f9", "n-2025101xT101500-a3f9",
		"n-20251012T101500-a3g9", "../../etc/passwd00000",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_not(notice_id_valid((const uint8_t *)bad[i], strlen(bad[i])), "%s", bad[i]);
	cr_assert_not(notice_id_valid(NULL, NOTICE_ID_LEN));
}

Test(notice, callback_tags_round_trip)
{
	char tag[NOTICE_TAG_MAX], id[NOTICE_ID_SIZE];
	uint32_t ord = 0;
	static const uint32_t ords[] = { 0, 7, 98231, 4294967295u };
	for (size_t i = 0; i < 4; i++) {
		int n = notice_tag_format("n-20251012T101500-a3f9", ords[i], tag);
		cr_assert_gt(n, 0);
		cr_assert_eq((size_t)n, strlen(tag));
		cr_assert_eq(notice_tag_parse((const uint8_t *)tag, (size_t)n, id, &ord), 0, "%s", tag);
		cr_assert_str_eq(id, "n-20251012T101500-a3f9");
		cr_assert_eq(ord, ords[i]);
	}
	cr_assert_str_eq(tag, "n-20251012T101500-a3f9:4294967295");
	cr_assert_eq(strlen(tag), NOTICE_TAG_MAX - 1, "the longest tag fills the buffer");
	cr_assert_eq(notice_tag_format("nope", 1, tag), BND_E_NOTICE_ID);
}

Test(notice, hostile_tags_are_rejected_without_reading_past_len)
{
	static const char *bad[] = {
		"", "n-20251012T101500-a3f9", "n-20251012T101500-a3f9:", "n-20251012T101500-a3f9:01",
		"n-20251012T101500-a3f9:4294967296", "n-20251012T101500-a3f9:12a",
		"n-20251012T101500-a3f9:-1", "n-20251012T101500-a3f9;12", "n-20251012T101500-a3f9: 1",
		"b=4711;s=98231", "n-20251012T101500-a3f9:99999999999", "x-20251012T101500-a3f9:1",
	};
	char id[NOTICE_ID_SIZE] = "untouched";
	uint32_t ord = 77;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(notice_tag_parse((const uint8_t *)bad[i], strlen(bad[i]), id, &ord),
		             BND_E_NOTICE_TAG, "%s", bad[i]);
	}
	cr_assert_str_eq(id, "untouched");
	cr_assert_eq(ord, 77);
	/* len stops before the extra digits; a heap copy so ASan sees overreads. */
	const char *s = "n-20251012T101500-a3f9:12345";
	size_t len = strlen("n-20251012T101500-a3f9:12");
	uint8_t *p = malloc(len);
	memcpy(p, s, len);
	cr_assert_eq(notice_tag_parse(p, len, NULL, &ord), 0);
	cr_assert_eq(ord, 12);
	free(p);
	cr_assert_eq(notice_tag_parse(NULL, 30, NULL, NULL), BND_E_NOTICE_TAG);
}

/* ---- the definition -------------------------------------------------------------- */

Test(notice, text_must_be_utf8_without_nul_and_at_most_4096_characters)
{
	struct notice *n = new_notice(NOTICE_CAT_INFO, 1);
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"", 0), BND_E_NOTICE_TEXT);
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"a\0b", 3), BND_E_NOTICE_TEXT);
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"\xc3\x28", 2), BND_E_NOTICE_TEXT);
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"\xed\xa0\x80", 3), BND_E_NOTICE_TEXT,
	             "a surrogate is not UTF-8");
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"caf\xc3", 4), BND_E_NOTICE_TEXT);
	cr_assert_str_eq(n->text, "Allerta meteo arancione: scuole chiuse domani.", "unchanged");
	/* 4096 four-byte characters: 16384 bytes, the most a text can hold. */
	uint8_t *big = malloc(NOTICE_TEXT_MAX + 8);
	for (size_t i = 0; i < NOTICE_TEXT_MAX_CHARS; i++)
		memcpy(big + 4 * i, "\xf0\x9f\x9a\xa8", 4); /* U+1F6A8 police light */
	cr_assert_eq(notice_set_text(n, big, NOTICE_TEXT_MAX), 0);
	cr_assert_eq(n->text_len, NOTICE_TEXT_MAX);
	cr_assert_eq(notice_validate(n), 0);
	memset(big, 'a', 4097);
	cr_assert_eq(notice_set_text(n, big, 4097), BND_E_NOTICE_TEXT, "4097 characters");
	cr_assert_eq(notice_set_text(n, big, 4096), 0);
	free(big);
	free(n);
}

Test(notice, templates_and_parameters_are_checked)
{
	struct notice *n = new_notice(NOTICE_CAT_EMERGENCY, 2);
	cr_assert_eq(notice_add_param(n, (const uint8_t *)"x", 1), BND_E_NOTICE_TEMPLATE,
	             "parameters need a template");
	cr_assert_eq(notice_set_template(n, "Allerta", "it"), BND_E_NOTICE_TEMPLATE);
	cr_assert_eq(notice_set_template(n, "allerta meteo", "it"), BND_E_NOTICE_TEMPLATE);
	cr_assert_eq(notice_set_template(n, "", "it"), BND_E_NOTICE_TEMPLATE);
	cr_assert_eq(notice_set_template(n, "allerta_meteo", "i"), BND_E_NOTICE_TEMPLATE);
	cr_assert_eq(notice_set_template(n, "allerta_meteo", "it-IT"), BND_E_NOTICE_TEMPLATE);
	cr_assert_eq(notice_set_template(n, "allerta_meteo", "en_US"), 0);
	cr_assert_eq(notice_add_param(n, (const uint8_t *)"arancione", 9), 0);
	cr_assert_eq(notice_add_param(n, (const uint8_t *)"", 0), BND_E_NOTICE_TEMPLATE);
	cr_assert_eq(notice_add_param(n, (const uint8_t *)"\xff", 1), BND_E_NOTICE_TEMPLATE);
	for (int i = 1; i < NOTICE_PARAMS_MAX; i++)
		cr_assert_eq(notice_add_param(n, (const uint8_t *)"p", 1), 0);
	cr_assert_eq(notice_add_param(n, (const uint8_t *)"p", 1), BND_E_RANGE);
	cr_assert_eq(notice_validate(n), 0);
	n->params[3][0] = '\xff';
	cr_assert_eq(notice_validate(n), BND_E_NOTICE_TEMPLATE);
	free(n);
}

Test(notice, validate_catches_hand_filled_fields)
{
	struct notice *n = new_notice(NOTICE_CAT_DEADLINE, 3);
	cr_assert_eq(notice_validate(n), 0);
	n->id[3] = 'x';
	cr_assert_eq(notice_validate(n), BND_E_NOTICE_ID);
	free(n);
	n = new_notice(NOTICE_CAT_DEADLINE, 3);
	n->category = (enum notice_category)0;
	cr_assert_eq(notice_validate(n), BND_E_NOTICE_CATEGORY);
	n->category = NOTICE_CAT_EVENT;
	n->expires_ms = n->created_ms;
	cr_assert_eq(notice_validate(n), BND_E_INVAL);
	n->expires_ms = 0;
	cr_assert_eq(notice_validate(n), 0, "no expiry is fine");
	n->text_len = 3;
	cr_assert_eq(notice_validate(n), BND_E_NOTICE_TEXT, "length and NUL disagree");
	free(n);
	n = new_notice(NOTICE_CAT_DEADLINE, 3);
	strcpy(n->lang, "it");
	cr_assert_eq(notice_validate(n), BND_E_NOTICE_TEMPLATE, "a language without a template");
	free(n);
	struct notice m;
	cr_assert_eq(notice_init(&m, (enum notice_category)9, T0, 0, 0), BND_E_NOTICE_CATEGORY);
	cr_assert_eq(notice_init(&m, NOTICE_CAT_INFO, T0, T0, 0), BND_E_INVAL);
	cr_assert_eq(notice_init(&m, NOTICE_CAT_INFO, T0, 0, 0), 0);
	cr_assert_eq(notice_expired(&m, UINT64_MAX), 0, "never expires");
	m.expires_ms = T0 + 10;
	cr_assert_eq(notice_expired(&m, T0 + 9), 0);
	cr_assert_eq(notice_expired(&m, T0 + 10), 1);
}

/* ---- the directory ----------------------------------------------------------------- */

Test(notice, create_writes_three_private_files_and_load_reads_them_back)
{
	struct notice *n = new_notice(NOTICE_CAT_EMERGENCY, 0xbeef);
	cr_assert_eq(notice_set_template(n, "allerta_meteo", "it"), 0);
	cr_assert_eq(notice_add_param(n, (const uint8_t *)"arancione \"forte\"\n", 18), 0);
	uint64_t *v = numbers(1000);
	cr_assert_eq(notice_create(dir, n, v, 1000, 0), 0);
	char p[512];
	notice_path(p, sizeof p, dir, n->id, NULL);
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_eq(count_entries(p), 3);
	static const char *files[] = { "notice.json", "recipients.bin", "journal.log" };
	for (int i = 0; i < 3; i++) {
		notice_path(p, sizeof p, dir, n->id, files[i]);
		cr_assert_eq(stat(p, &st), 0, "%s", files[i]);
		cr_assert_eq(st.st_mode & 0777, 0600, "%s is private", files[i]);
	}
	notice_path(p, sizeof p, dir, NULL, NULL);
	cr_assert_eq(count_entries(p), 1, "no .tmp leftover");

	struct notice *m = calloc(1, sizeof *m);
	cr_assert_eq(notice_load(dir, n->id, m), 0);
	cr_assert_str_eq(m->id, n->id);
	cr_assert_eq(m->category, NOTICE_CAT_EMERGENCY);
	cr_assert_eq(m->created_ms, T0);
	cr_assert_eq(m->expires_ms, T0 + 3600000);
	cr_assert_str_eq(m->text, n->text);
	cr_assert_str_eq(m->template_name, "allerta_meteo");
	cr_assert_str_eq(m->lang, "it");
	cr_assert_eq(m->nparams, 1);
	cr_assert_str_eq(m->params[0], "arancione \"forte\"\n");
	cr_assert_eq(m->recipients, 1000);

	struct notice_rcpt *r = NULL;
	cr_assert_eq(notice_rcpt_open(&r, dir, n->id), 0);
	cr_assert_eq(notice_rcpt_count(r), 1000);
	for (uint32_t i = 0; i < 1000; i++)
		cr_assert_eq(notice_rcpt_get(r, i), v[i]);
	cr_assert_eq(notice_rcpt_get(r, 1000), 0);
	uint8_t *body = malloc(1000 * 8);
	for (uint32_t i = 0; i < 1000; i++)
		for (int k = 0; k < 8; k++)
			body[i * 8 + (uint32_t)k] = (uint8_t)(v[i] >> (8 * k));
	cr_assert_eq(notice_rcpt_checksum(r), XXH3_64bits_withSeed(body, 8000, RCPT_SEED));
	free(body);
	notice_rcpt_close(&r);
	cr_assert_null(r);
	notice_rcpt_close(&r);

	/* The journal is there, empty, and tied to this list. */
	struct journal *j = NULL;
	cr_assert_eq(notice_rcpt_open(&r, dir, n->id), 0);
	cr_assert_eq(journal_open_notice(&j, dir, n->id, r, NULL, NULL), 0);
	cr_assert_eq(journal_recipients(j), 1000);
	cr_assert_eq(journal_close(&j), 0);
	notice_rcpt_close(&r);

	cr_assert_eq(notice_create(dir, n, v, 1000, 0), BND_E_EXISTS);
	free(v);
	free(m);
	free(n);
}

Test(notice, notice_json_is_readable_json_with_the_definition)
{
	struct notice *n = new_notice(NOTICE_CAT_DISRUPTION, 7);
	cr_assert_eq(notice_create(dir, n, NULL, 0, 0), 0);
	char p[512];
	notice_path(p, sizeof p, dir, n->id, "notice.json");
	json_error_t e;
	json_t *o = json_load_file(p, 0, &e);
	cr_assert_not_null(o, "%s", e.text);
	cr_assert_str_eq(json_string_value(json_object_get(o, "id")), n->id);
	cr_assert_str_eq(json_string_value(json_object_get(o, "category")), "disruption");
	cr_assert_eq(json_integer_value(json_object_get(o, "priority")), 3);
	cr_assert_eq(json_integer_value(json_object_get(o, "recipients")), 0);
	cr_assert(json_is_null(json_object_get(o, "template")));
	json_decref(o);
	struct notice_rcpt *r = NULL;
	cr_assert_eq(notice_rcpt_open(&r, dir, n->id), 0, "an empty list is a valid list");
	cr_assert_eq(notice_rcpt_count(r), 0);
	cr_assert_eq(notice_rcpt_get(r, 0), 0);
	notice_rcpt_close(&r);
	free(n);
}

Test(notice, create_refuses_bad_lists_and_definitions)
{
	struct notice *n = new_notice(NOTICE_CAT_INFO, 9);
	uint64_t v[3] = { 393351234567ULL, 393351234567ULL, 393351234568ULL };
	cr_assert_eq(notice_create(dir, n, v, 3, 0), BND_E_INVAL, "duplicate");
	v[1] = 393300000000ULL;
	cr_assert_eq(notice_create(dir, n, v, 3, 0), BND_E_INVAL, "descending");
	v[0] = 1234;
	v[1] = 393351234567ULL;
	cr_assert_eq(notice_create(dir, n, v, 3, 0), BND_E_INVAL, "invalid number");
	v[0] = 393300000000ULL;
	cr_assert_eq(notice_create(dir, n, NULL, 3, 0), BND_E_INVAL);
	cr_assert_eq(notice_create(dir, n, v, 3, 100), BND_E_INVAL, "span not a power of two");
	cr_assert_eq(notice_create(dir, n, v, 3, 32), BND_E_INVAL, "span too small");
	n->text_len = 0;
	cr_assert_eq(notice_create(dir, n, v, 3, 0), BND_E_INVAL);
	n->id[0] = 'x';
	cr_assert_eq(notice_create(dir, n, v, 3, 0), BND_E_NOTICE_ID);
	char p[512];
	notice_path(p, sizeof p, dir, NULL, NULL);
	cr_assert_eq(access(p, F_OK), -1, "nothing created");
	free(n);
}

Test(notice, load_rejects_damaged_or_hostile_json)
{
	struct notice *n = new_notice(NOTICE_CAT_INFO, 0x11);
	cr_assert_eq(notice_create(dir, n, NULL, 0, 0), 0);
	char p[512];
	notice_path(p, sizeof p, dir, n->id, "notice.json");
	size_t good_len;
	uint8_t *good = read_all(p, &good_len);
	char other[NOTICE_ID_SIZE];
	notice_id_make(T0, 0x22, other);
	static const char *bad[] = {
		"", "{", "[]", "null", "{\"format\":1}", "\"x\"",
		"{\"format\":2,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"urgent\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":-1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":5,\"expires_ms\":4,"
		"\"text\":\"t\",\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"\",\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"a\\u0000b\",\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":7,\"template\":null,\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":{\"name\":\"a\\u0000b\",\"lang\":\"it\",\"params\":[]},"
		"\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":{\"name\":\"ok\",\"lang\":\"it\",\"params\":[1]},"
		"\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":{\"name\":\"ok\",\"lang\":\"it\",\"params\":"
		"[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]},\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":[],\"recipients\":0}",
		"{\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,\"expires_ms\":0,"
		"\"text\":\"t\",\"template\":null,\"recipients\":99999999999}",
		"{\"format\":1,\"format\":1,\"id\":\"@ID@\",\"category\":\"info\",\"created_ms\":1,"
		"\"expires_ms\":0,\"text\":\"t\",\"template\":null,\"recipients\":0}",
	};
	struct notice *m = calloc(1, sizeof *m);
	char buf[4096];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* Put the notice's id where the case says @ID@. */
		const char *at = strstr(bad[i], "@ID@");
		size_t len = strlen(bad[i]);
		if (at) {
			size_t pre = (size_t)(at - bad[i]);
			memcpy(buf, bad[i], pre);
			memcpy(buf + pre, n->id, NOTICE_ID_LEN);
			strcpy(buf + pre + NOTICE_ID_LEN, at + 4);
			len = strlen(buf);
		} else {
			strcpy(buf, bad[i]);
		}
		write_all(p, buf, len);
		int rc = notice_load(dir, n->id, m);
		cr_assert_lt(rc, 0, "case %zu loaded", i);
		cr_assert_neq(rc, BND_E_NOMEM, "case %zu", i);
	}
	/* A valid file that names another notice. */
	char *swapped = malloc(good_len + 1);
	memcpy(swapped, good, good_len);
	swapped[good_len] = 0;
	char *at = strstr(swapped, n->id);
	memcpy(at, other, NOTICE_ID_LEN);
	write_all(p, swapped, good_len);
	cr_assert_eq(notice_load(dir, n->id, m), BND_E_NOTICE_JSON);
	/* Too big. */
	char *huge = malloc(NOTICE_JSON_MAX + 2);
	memset(huge, ' ', NOTICE_JSON_MAX + 1);
	write_all(p, huge, NOTICE_JSON_MAX + 1);
	cr_assert_eq(notice_load(dir, n->id, m), BND_E_NOTICE_JSON);
	/* Truncated at every length. */
	for (size_t cut = 0; cut < good_len - 1; cut++) {
		write_all(p, good, cut);
		cr_assert_lt(notice_load(dir, n->id, m), 0, "cut at %zu", cut);
	}
	write_all(p, good, good_len);
	cr_assert_eq(notice_load(dir, n->id, m), 0);
	cr_assert_eq(notice_load(dir, other, m), BND_E_NOTFOUND);
	cr_assert_eq(notice_load(dir, "../x", m), BND_E_NOTICE_ID);
	free(huge);
	free(swapped);
	free(good);
	free(m);
	free(n);
}

Test(notice, list_is_sorted_and_ignores_leftovers_which_cleanup_removes)
{
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t n = 99;
	cr_assert_eq(notice_list(dir, &ids, &n), 0);
	cr_assert_eq(n, 0, "no notices directory yet");
	static const uint32_t rnd[] = { 0x3, 0x1, 0x2 };
	static const uint64_t when[] = { T0 + 5000, T0, T0 + 5000 };
	for (int i = 0; i < 3; i++) {
		struct notice *x = new_notice(NOTICE_CAT_INFO, rnd[i]);
		x->created_ms = when[i];
		notice_id_make(when[i], rnd[i], x->id);
		cr_assert_eq(notice_create(dir, x, NULL, 0, 0), 0);
		free(x);
	}
	char p[512];
	notice_path(p, sizeof p, dir, NULL, NULL);
	char junk[600];
	snprintf(junk, sizeof junk, "%s/.tmp-n-20251012T101500-ffff", p);
	cr_assert_eq(mkdir(junk, 0700), 0);
	snprintf(junk, sizeof junk, "%s/.tmp-n-20251012T101500-ffff/recipients.bin", p);
	write_all(junk, "x", 1);
	snprintf(junk, sizeof junk, "%s/not-a-notice", p);
	cr_assert_eq(mkdir(junk, 0700), 0);
	cr_assert_eq(notice_list(dir, &ids, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(ids[0], "n-20251012T101500-0001");
	cr_assert_str_eq(ids[1], "n-20251012T101505-0002");
	cr_assert_str_eq(ids[2], "n-20251012T101505-0003");
	bnd_free(ids);
	cr_assert_eq(notice_cleanup(dir), 1);
	cr_assert_eq(notice_cleanup(dir), 0);
	cr_assert_eq(count_entries(p), 4, "three notices and the stranger remain");
}

/* ---- failure injection ---------------------------------------------------------- */

static void assert_nothing_created(const char *why, long k)
{
	char p[512];
	notice_path(p, sizeof p, dir, NULL, NULL);
	if (access(p, F_OK) == 0)
		cr_assert_eq(count_entries(p), 0, "%s %ld left something behind", why, k);
}

Test(notice, create_fails_cleanly_at_every_io_step_and_allocation)
{
	struct notice *n = new_notice(NOTICE_CAT_EMERGENCY, 0x77);
	cr_assert_eq(notice_set_template(n, "allerta", "it"), 0);
	uint64_t *v = numbers(5000);
	static const struct {
		const char *what;
		int op;  /* FSIO_*, or -1 for allocation */
	} kinds[] = { { "write", FSIO_WRITE },   { "fsync", FSIO_FSYNC },
	              { "create", FSIO_CREATE }, { "rename", FSIO_RENAME },
	              { "alloc", -1 } };
	static struct tu_fault f;
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		long i;
		for (i = 0; i < 1000; i++) {
			if (kinds[k].op < 0)
				bnd_alloc_fail_after(i);
			else
				tu_fault_set(&f, 1u << kinds[k].op, i, -ENOSPC);
			int rc = notice_create(dir, n, v, 5000, 0);
			bnd_alloc_fail_after(-1);
			tu_fault_clear();
			if (rc == 0)
				break;
			cr_assert(rc == -ENOSPC || rc == BND_E_NOMEM, "%s %ld: %s", kinds[k].what, i,
			          bnd_strerror(rc));
			assert_nothing_created(kinds[k].what, i);
		}
		cr_assert_gt(i, 0, "%s: at least one failure point was exercised", kinds[k].what);
		cr_assert_lt(i, 1000);
		struct notice_rcpt *r = NULL;
		cr_assert_eq(notice_rcpt_open(&r, dir, n->id), 0);
		cr_assert_eq(notice_rcpt_count(r), 5000);
		notice_rcpt_close(&r);
		char p[512];
		notice_path(p, sizeof p, dir, n->id, NULL);
		nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(v);
	free(n);
}

Test(notice, a_crash_at_any_step_of_create_leaves_nothing_or_everything)
{
	/* Freeze the disk at the Nth operation of any kind: what is left is
	 * either no notice (a .tmp- leftover at most, which list ignores and
	 * cleanup removes) or the whole notice. */
	struct notice *n = new_notice(NOTICE_CAT_INFO, 0x7a);
	uint64_t *v = numbers(100);
	static struct tu_fault f;
	long i;
	for (i = 0; i < 1000; i++) {
		tu_fault_set(&f, ~0u, i, -EIO);
		f.freeze = 1;
		int rc = notice_create(dir, n, v, 100, 0);
		tu_fault_clear();
		char (*ids)[NOTICE_ID_SIZE] = NULL;
		size_t cnt = 0;
		cr_assert_eq(notice_list(dir, &ids, &cnt), 0);
		bnd_free(ids);
		if (rc == 0) {
			cr_assert_eq(cnt, 1);
			break;
		}
		if (cnt == 1) {
			/* Renamed, then the parent's sync failed: the notice must be
			 * complete and usable (its removal could not run either). */
			struct notice_rcpt *r = NULL;
			struct notice *m = calloc(1, sizeof *m);
			cr_assert_eq(notice_rcpt_open(&r, dir, n->id), 0, "step %ld", i);
			cr_assert_eq(notice_load(dir, n->id, m), 0, "step %ld", i);
			struct journal *j = NULL;
			cr_assert_eq(journal_open_notice(&j, dir, n->id, r, NULL, NULL), 0);
			journal_close(&j);
			notice_rcpt_close(&r);
			free(m);
			char p[512];
			notice_path(p, sizeof p, dir, n->id, NULL);
			nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		}
		cr_assert_geq(notice_cleanup(dir), 0);
		char p[512];
		notice_path(p, sizeof p, dir, NULL, NULL);
		if (access(p, F_OK) == 0)
			cr_assert_eq(count_entries(p), 0, "step %ld: cleanup leaves nothing", i);
	}
	cr_assert_gt(i, 8, "every step of the create was a crash point");
	free(v);
	free(n);
}

Test(notice, rcpt_open_fails_cleanly_at_every_allocation)
{
	struct notice *n = new_notice(NOTICE_CAT_INFO, 0x78);
	uint64_t *v = numbers(10);
	cr_assert_eq(notice_create(dir, n, v, 10, 0), 0);
	struct notice_rcpt *r = NULL;
	long i;
	for (i = 0; i < 100; i++) {
		bnd_alloc_fail_after(i);
		int rc = notice_rcpt_open(&r, dir, n->id);
		bnd_alloc_fail_after(-1);
		if (rc == 0)
			break;
		cr_assert_eq(rc, BND_E_NOMEM);
		cr_assert_null(r);
	}
	cr_assert_gt(i, 0);
	notice_rcpt_close(&r);
	free(v);
	free(n);
}

/* ---- recipients.bin damage -------------------------------------------------------- */

struct rcpt_fixture {
	struct notice *n;
	char path[512];
	uint8_t *good;
	size_t len;
};

static void rcpt_fixture(struct rcpt_fixture *f, size_t count)
{
	f->n = new_notice(NOTICE_CAT_INFO, 0x99);
	uint64_t *v = numbers(count);
	cr_assert_eq(notice_create(dir, f->n, v, count, 0), 0);
	free(v);
	notice_path(f->path, sizeof f->path, dir, f->n->id, "recipients.bin");
	f->good = read_all(f->path, &f->len);
}

static int rcpt_rc(struct rcpt_fixture *f)
{
	struct notice_rcpt *r = NULL;
	int rc = notice_rcpt_open(&r, dir, f->n->id);
	if (rc == 0)
		cr_assert_not_null(r);
	else
		cr_assert_null(r);
	notice_rcpt_close(&r);
	return rc;
}

Test(notice, every_flipped_byte_of_recipients_bin_is_detected)
{
	struct rcpt_fixture f;
	rcpt_fixture(&f, 40);
	cr_assert_eq(f.len, RCPT_HEADER_SIZE + 40 * 8);
	uint8_t *b = malloc(f.len);
	for (size_t i = 0; i < f.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(b, f.good, f.len);
			b[i] ^= (uint8_t)(1u << bit);
			write_all(f.path, b, f.len);
			int rc = rcpt_rc(&f);
			if (i < 4)
				cr_assert_eq(rc, BND_E_RCPT_MAGIC, "byte %zu", i);
			else if (i < RCPT_HEADER_SIZE)
				cr_assert_eq(rc, BND_E_RCPT_CHECKSUM, "byte %zu", i);
			else
				cr_assert_eq(rc, BND_E_RCPT_CHECKSUM, "byte %zu", i);
		}
	}
	write_all(f.path, f.good, f.len);
	cr_assert_eq(rcpt_rc(&f), 0);
	free(b);
	free(f.good);
	free(f.n);
}

Test(notice, truncated_or_extended_recipients_bin_is_detected)
{
	struct rcpt_fixture f;
	rcpt_fixture(&f, 40);
	for (size_t cut = 0; cut < f.len; cut++) {
		write_all(f.path, f.good, cut);
		cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_TRUNCATED, "cut at %zu", cut);
	}
	uint8_t *b = malloc(f.len + 8);
	memcpy(b, f.good, f.len);
	memset(b + f.len, 0, 8);
	write_all(f.path, b, f.len + 8);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_CORRUPT, "trailing bytes");
	unlink(f.path);
	cr_assert_eq(rcpt_rc(&f), BND_E_NOTFOUND);
	free(b);
	free(f.good);
	free(f.n);
}

/* Rewrite body number i and fix both checksums, as a buggy writer would. */
static void forge(uint8_t *b, size_t len, const char *id, uint32_t count, size_t i, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		b[RCPT_HEADER_SIZE + i * 8 + (size_t)k] = (uint8_t)(v >> (8 * k));
	uint64_t sum = XXH3_64bits_withSeed(b + RCPT_HEADER_SIZE, len - RCPT_HEADER_SIZE, RCPT_SEED);
	cr_assert_eq(notice_rcpt_encode_header(b, id, count, sum), 0);
}

Test(notice, a_checksummed_list_must_still_be_ascending_valid_and_ours)
{
	struct rcpt_fixture f;
	rcpt_fixture(&f, 10);
	uint8_t *b = malloc(f.len);
	memcpy(b, f.good, f.len);
	forge(b, f.len, f.n->id, 10, 0, 393300000000ULL);  /* the same value: still valid */
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), 0, "the forge helper is right");
	forge(b, f.len, f.n->id, 10, 5, 393300000000ULL);
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_CORRUPT, "not ascending");
	memcpy(b, f.good, f.len);
	forge(b, f.len, f.n->id, 10, 5, 393300000000ULL + 4 * 7919);  /* = number 4 */
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_CORRUPT, "a duplicate");
	memcpy(b, f.good, f.len);
	forge(b, f.len, f.n->id, 10, 9, 12);
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_CORRUPT, "not a number");
	memcpy(b, f.good, f.len);
	char other[NOTICE_ID_SIZE];
	notice_id_make(T0, 0x1234, other);
	forge(b, f.len, other, 10, 0, 393300000000ULL);
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_MISMATCH, "another notice's list");
	memcpy(b, f.good, f.len);
	forge(b, f.len, f.n->id, 11, 0, 393300000000ULL);
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_TRUNCATED, "the header claims more");
	memcpy(b, f.good, f.len);
	b[4] = 3;  /* version 3 (2 is a purged list), checksum fixed */
	uint64_t hs = XXH3_64bits_withSeed(b, 56, RCPT_SEED);
	for (int k = 0; k < 8; k++)
		b[56 + k] = (uint8_t)(hs >> (8 * k));
	write_all(f.path, b, f.len);
	cr_assert_eq(rcpt_rc(&f), BND_E_RCPT_VERSION);
	free(b);
	free(f.good);
	free(f.n);
}

Test(notice, the_header_layout_matches_the_format_document)
{
	/* JOURNAL.md, "recipients.bin", worked example. */
	uint8_t h[RCPT_HEADER_SIZE];
	cr_assert_eq(notice_rcpt_encode_header(h, "n-20251012T101500-a3f9", 2, 0x1122334455667788ULL),
	             0);
	static const uint8_t want[56] = {
		0x42, 0x4e, 0x52, 0x43, 0x01, 0x00, 0x40, 0x00,
		'n', '-', '2', '0', '2', '5', '1', '0', '1', '2', 'T', '1', '0', '1', '5', '0', '0',
		'-', 'a', '3', 'f', '9', 0, 0,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		0, 0, 0, 0, 0, 0, 0, 0,
	};
	cr_assert_arr_eq(h, want, 56);
	uint64_t sum = XXH3_64bits_withSeed(h, 56, RCPT_SEED);
	for (int k = 0; k < 8; k++)
		cr_assert_eq(h[56 + k], (uint8_t)(sum >> (8 * k)));
	cr_assert_eq(notice_rcpt_encode_header(h, "bad", 2, 0), BND_E_NOTICE_ID);
}

Test(notice, create_syncs_every_file_and_both_directories)
{
	/* Durability cannot be observed without pulling the power, so pin the
	 * number of syncs: recipients.bin, journal.log, notice.json, the hidden
	 * directory, notices/ after the rename; plus DATA_DIR when notices/ is
	 * created. A refactoring that drops one fails here. */
	struct notice *n = new_notice(NOTICE_CAT_INFO, 0x51);
	uint64_t *v = numbers(3);
	static struct tu_fault count;  /* fails nothing: counts */
	tu_fault_set(&count, 1u << FSIO_FSYNC, -1, 0);
	cr_assert_eq(notice_create(dir, n, v, 3, 0), 0);
	cr_assert_eq(count.seen, 6);
	notice_id_make(T0, 0x52, n->id);
	tu_fault_set(&count, 1u << FSIO_FSYNC, -1, 0);
	cr_assert_eq(notice_create(dir, n, v, 3, 0), 0);
	cr_assert_eq(count.seen, 5);
	tu_fault_clear();
	free(v);
	free(n);
}

/* ---- notice_create_from: the recipients streamed from a source ---------------------- */

struct chunked_src {
	const uint64_t *v;
	size_t n, chunk;
	int calls;
};

/* notice_source_fn handing v out in pieces of `chunk` (the last one shorter). */
static int chunked_source(void *ud, notice_sink_fn sink, void *sink_ud)
{
	struct chunked_src *c = ud;
	for (size_t i = 0; i < c->n; i += c->chunk) {
		size_t k = c->n - i < c->chunk ? c->n - i : c->chunk;
		c->calls++;
		int rc = sink(sink_ud, c->v + i, k);
		if (rc)
			return rc;
	}
	return 0;
}

Test(notice, create_from_chunks_writes_the_same_list_as_create)
{
	/* 20,000 numbers (160 KB: several 64 KiB writes) in odd-sized chunks. */
	size_t cnt = 20000;
	uint64_t *v = numbers(cnt);
	struct notice *a = new_notice(NOTICE_CAT_INFO, 0xa1);
	struct notice *b = new_notice(NOTICE_CAT_INFO, 0xa1);
	cr_assert_eq(notice_create(dir, a, v, cnt, 0), 0);
	char pa[512], pb[512];
	notice_path(pa, sizeof pa, dir, a->id, "recipients.bin");
	size_t la, lb;
	uint8_t *fa = read_all(pa, &la);
	/* Same id for b: move a's directory away first. */
	char da[512], moved[512];
	notice_path(da, sizeof da, dir, a->id, NULL);
	snprintf(moved, sizeof moved, "%s/moved", dir);
	cr_assert_eq(rename(da, moved), 0);
	struct chunked_src c = { .v = v, .n = cnt, .chunk = 777 };
	size_t got = 0;
	cr_assert_eq(notice_create_from(dir, b, chunked_source, &c, 0, &got), 0);
	cr_assert_eq(got, cnt);
	cr_assert_gt(c.calls, 20);
	notice_path(pb, sizeof pb, dir, b->id, "recipients.bin");
	uint8_t *fb = read_all(pb, &lb);
	cr_assert_eq(la, lb);
	cr_assert_eq(memcmp(fa, fb, la), 0, "streamed recipients.bin differs from notice_create's");
	struct notice_rcpt *r = NULL;
	cr_assert_eq(notice_rcpt_open(&r, dir, b->id), 0);
	cr_assert_eq(notice_rcpt_count(r), cnt);
	cr_assert_eq(notice_rcpt_get(r, (uint32_t)cnt - 1), v[cnt - 1]);
	notice_rcpt_close(&r);
	free(fa);
	free(fb);
	free(v);
	free(a);
	free(b);
}

Test(notice, create_from_refuses_a_bad_stream_and_leaves_no_notice)
{
	size_t cnt = 20000;
	uint64_t *v = numbers(cnt);
	v[15000] = v[14999];  /* a duplicate deep in the stream, after several writes */
	struct notice *n = new_notice(NOTICE_CAT_INFO, 0xa2);
	struct chunked_src c = { .v = v, .n = cnt, .chunk = 4096 };
	size_t got = 1;
	cr_assert_eq(notice_create_from(dir, n, chunked_source, &c, 0, &got), BND_E_INVAL);
	cr_assert_eq(got, 0);
	char p[512];
	notice_path(p, sizeof p, dir, NULL, NULL);
	cr_assert_eq(count_entries(p), 0, "neither the notice nor its .tmp directory is left");
	v[15000] = 5;  /* an invalid number */
	cr_assert_eq(notice_create_from(dir, n, chunked_source, &c, 0, NULL), BND_E_INVAL);
	cr_assert_eq(count_entries(p), 0);
	cr_assert_eq(notice_create_from(dir, n, NULL, NULL, 0, NULL), BND_E_INVAL);
	/* An empty stream is an empty list. */
	c.n = 0;
	cr_assert_eq(notice_create_from(dir, n, chunked_source, &c, 0, &got), 0);
	cr_assert_eq(got, 0);
	free(v);
	free(n);
}
