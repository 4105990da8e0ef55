/*
 * test_wamock_jtok.c - wa-mock's request-body JSON parser
 * (tools/wa-mock/jtok.c): what it accepts, what it refuses, how strings
 * decode, and a differential run against jansson over seeded mutations of
 * real request bodies (the two must agree on valid/invalid).
 *
 * wa-mock's sources are a program, not a library, so the unit under test
 * is compiled into this test directly.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "../../tools/wa-mock/jtok.c"
#include "../../tools/wa-mock/speclist.c"
#include "../../tools/wa-mock/faults.c"

static int parse(struct jdoc *d, const char *s)
{
	return jtok_parse(d, (const uint8_t *)s, strlen(s));
}

static struct jdoc doc;

Test(wamock_jtok, accepts_a_real_template_send_and_finds_members)
{
	const char *b =
		"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"template\","
		"\"template\":{\"name\":\"notice\",\"language\":{\"code\":\"it\"},\"components\":"
		"[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"a\"},"
		"{\"type\":\"text\",\"text\":\"b\"}]}]},\"biz_opaque_callback_data\":\"n=1\"}";
	cr_assert_eq(parse(&doc, b), 0);
	cr_assert_eq(jtok_type_of(&doc, 0), JTOK_OBJECT);
	cr_assert_eq(jtok_count(&doc, 0), 5);
	int32_t t = jtok_member(&doc, 0, "template");
	cr_assert_geq(t, 0);
	int32_t comps = jtok_member(&doc, (uint32_t)t, "components");
	cr_assert_eq(jtok_type_of(&doc, (uint32_t)comps), JTOK_ARRAY);
	int32_t c0 = jtok_elem(&doc, (uint32_t)comps, 0);
	int32_t params = jtok_member(&doc, (uint32_t)c0, "parameters");
	cr_assert_eq(jtok_count(&doc, (uint32_t)params), 2);
	int32_t p1 = jtok_elem(&doc, (uint32_t)params, 1);
	char buf[16];
	cr_assert_eq(jtok_string(&doc, (uint32_t)jtok_member(&doc, (uint32_t)p1, "text"), buf,
	                         sizeof buf), 1);
	cr_assert_str_eq(buf, "b");
	/* a member after a nested subtree is still found */
	int32_t tag = jtok_member(&doc, 0, "biz_opaque_callback_data");
	cr_assert(jtok_str_eq(&doc, (uint32_t)tag, "n=1", 0));
	cr_assert_eq(jtok_member(&doc, 0, "absent"), -1);
	cr_assert_eq(jtok_elem(&doc, (uint32_t)params, 2), -1);
}

Test(wamock_jtok, decodes_escapes_surrogates_and_counts_code_points)
{
	cr_assert_eq(parse(&doc, "\"a\\u00e8\\n\\/\\ud83d\\ude00\\\"\""), 0);
	char buf[32];
	long n = jtok_string(&doc, 0, buf, sizeof buf);
	cr_assert_eq(n, 1 + 2 + 1 + 1 + 4 + 1);
	cr_assert_eq(memcmp(buf, "a\xc3\xa8\n/\xf0\x9f\x98\x80\"", (size_t)n), 0);
	cr_assert_eq(jtok_chars(&doc, 0), 6);
	/* too small a buffer is refused, never truncated */
	cr_assert_eq(jtok_string(&doc, 0, buf, 5), -1);
	/* keys with escapes match their decoded form */
	cr_assert_eq(parse(&doc, "{\"t\\u006f\":\"x\"}"), 0);
	cr_assert_geq(jtok_member(&doc, 0, "to"), 0);
	/* case-insensitive comparison is ASCII only and exact in length */
	cr_assert_eq(parse(&doc, "\"TeXt\""), 0);
	cr_assert(jtok_str_eq(&doc, 0, "text", 1));
	cr_assert(!jtok_str_eq(&doc, 0, "text", 0));
	cr_assert(!jtok_str_eq(&doc, 0, "tex", 1));
}

Test(wamock_jtok, refuses_malformed_documents)
{
	const char *bad[] = {
		"", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]",
		"{\"a\":1 \"b\":2}", "{a:1}", "'x'", "\"abc", "\"a\\x\"", "\"\\u12\"",
		"\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
		"\"\x01\"", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf5\x80\x80\x80\"",
		"01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "{} {}", "[] x", "\"a\"\"b\"",
		"[\"a\":1]", "{\"a\":1:2}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(parse(&doc, bad[i]), BND_E_WAMOCK_JSON, "accepted %zu: %s", i, bad[i]);
}

Test(wamock_jtok, bounds_depth_and_token_count)
{
	char deep[2 * JTOK_DEPTH + 8];
	size_t n = 0;
	for (int i = 0; i < JTOK_DEPTH + 1; i++)
		deep[n++] = '[';
	for (int i = 0; i < JTOK_DEPTH + 1; i++)
		deep[n++] = ']';
	cr_assert_eq(jtok_parse(&doc, (const uint8_t *)deep, n), BND_E_RANGE);
	cr_assert_eq(jtok_parse(&doc, (const uint8_t *)deep + 1, n - 2), 0);

	static char many[4 * JTOK_MAX + 8];
	n = 0;
	many[n++] = '[';
	for (int i = 0; i < JTOK_MAX; i++) {
		many[n++] = '1';
		many[n++] = ',';
	}
	many[n - 1] = ']';
	cr_assert_eq(jtok_parse(&doc, (const uint8_t *)many, n), BND_E_RANGE);
}

Test(wamock_jtok, never_reads_past_len)
{
	/* The bytes after len would complete the document: they must be ignored. */
	const char *s = "{\"a\":\"bc\"}";
	for (size_t len = 0; len < strlen(s); len++)
		cr_assert_neq(jtok_parse(&doc, (const uint8_t *)s, len), 0, "len %zu", len);
	cr_assert_eq(jtok_parse(&doc, (const uint8_t *)s, strlen(s)), 0);
}

/* jansson refuses numbers it cannot store; jtok accepts any valid number. */
static int jansson_number_limit(const json_error_t *e)
{
	return strstr(e->text, "too big") || strstr(e->text, "overflow");
}

Test(wamock_jtok, agrees_with_jansson_on_seeded_mutations)
{
	const char *seeds[] = {
		"{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\",\"to\":"
		"\"+393351234567\",\"type\":\"template\",\"template\":{\"name\":\"notice\","
		"\"language\":{\"code\":\"it\"},\"components\":[{\"type\":\"body\",\"parameters\":"
		"[{\"type\":\"text\",\"text\":\"Allerta \\u00e8 arancione\"}]}]},"
		"\"biz_opaque_callback_data\":\"n=17;s=9\"}",
		"{\"messaging_product\":\"whatsapp\",\"to\":\"39 335\",\"text\":{\"preview_url\":false,"
		"\"body\":\"caf\xc3\xa9 \\ud83d\\ude00 \\\\ \\\"q\\\"\"},\"x\":[1,-2.5e3,true,null,{}]}",
	};
	const char alphabet[] = "{}[]\":,\\u0123456789abcdefEe.-+ tnrfl\x01\x7f\xc3\xa9\xed\xf0";
	uint64_t h = 1;
	int agreed_valid = 0, agreed_invalid = 0;
	for (int round = 0; round < 20000; round++) {
		char buf[512];
		const char *s = seeds[round % 2];
		size_t n = strlen(s);
		memcpy(buf, s, n);
		int edits = 1 + (int)(faults_hash(7, (uint64_t)round, 0) % 3);
		for (int k = 0; k < edits; k++) {
			h = faults_hash(h, (uint64_t)round, (uint64_t)k);
			size_t at = h % n;
			char c = alphabet[(h >> 20) % (sizeof alphabet - 1)];
			switch ((h >> 40) % 3) {
			case 0: buf[at] = c; break;                                     /* replace */
			case 1: memmove(buf + at, buf + at + 1, n - at - 1); n--; break; /* delete */
			default:                                                        /* insert */
				if (n + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
				}
			}
		}
		json_error_t e;
		json_t *j = json_loadb(buf, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
		int ours = jtok_parse(&doc, (const uint8_t *)buf, n);
		if (!j && (jansson_number_limit(&e) || strstr(e.text, "duplicate")))
			continue;
		cr_assert_eq(ours == 0, j != NULL, "round %d disagrees (jtok %d, jansson %s): %.*s",
		             round, ours, j ? "ok" : e.text, (int)n, buf);
		if (j) {
			agreed_valid++;
			/* Every string of the root object decodes like jansson's. */
			const char *key;
			json_t *v;
			json_object_foreach(j, key, v) {
				if (!json_is_string(v))
					continue;
				int32_t t = jtok_member(&doc, 0, key);
				char dec[512];
				cr_assert_geq(t, 0, "round %d: member %s not found", round, key);
				long dl = jtok_string(&doc, (uint32_t)t, dec, sizeof dec);
				cr_assert_eq((size_t)dl, json_string_length(v), "round %d", round);
				cr_assert_eq(memcmp(dec, json_string_value(v), (size_t)dl), 0);
			}
			json_decref(j);
		} else {
			agreed_invalid++;
		}
	}
	/* The mutations must exercise both sides, or the test proves nothing. */
	cr_assert_gt(agreed_valid, 500);
	cr_assert_gt(agreed_invalid, 5000);
}
