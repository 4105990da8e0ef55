/* test_wareq.c - hand-built request JSON (engine/wareq.c): every output is
 * parsed back with jansson; adversarial and random byte strings round-trip
 * (valid UTF-8 exactly; invalid bytes become U+FFFD, nothing else changes).
 * UTF-8 validity is judged independently with utf8proc. */
#define _GNU_SOURCE  /* memmem */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bnd.h"
#include "limiter.h"
#include "wareq.h"

static json_t *parse(const struct wareq_buf *b)
{
	json_error_t e;
	json_t *j = json_loadb((const char *)b->p, b->len, JSON_ALLOW_NUL, &e);
	cr_assert_not_null(j, "not JSON (%s at %d): %.*s", e.text, e.position, (int)b->len, b->p);
	return j;
}

static struct wa_bytes B(const char *s)
{
	return (struct wa_bytes){ (const uint8_t *)s, strlen(s) };
}

/* The independent reference: keep bytes of well-formed sequences (utf8proc
 * decides), drop the others. The output of wareq with U+FFFD removed must
 * equal this, for inputs that contain no U+FFFD of their own. */
static size_t keep_valid(const uint8_t *p, size_t n, uint8_t *out, size_t *invalid)
{
	size_t o = 0, i = 0;
	*invalid = 0;
	while (i < n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
		if (k > 0) {
			memcpy(out + o, p + i, (size_t)k);
			o += (size_t)k;
			i += (size_t)k;
		} else {
			(*invalid)++;
			i++;
		}
	}
	return o;
}

static size_t strip_fffd(const char *s, size_t n, uint8_t *out, size_t *count)
{
	size_t o = 0;
	*count = 0;
	for (size_t i = 0; i < n;) {
		if (i + 2 < n + 0 && (uint8_t)s[i] == 0xEF && (uint8_t)s[i + 1] == 0xBF &&
		    (uint8_t)s[i + 2] == 0xBD) {
			(*count)++;
			i += 3;
		} else {
			out[o++] = (uint8_t)s[i++];
		}
	}
	return o;
}

static void check_roundtrip(const uint8_t *p, size_t n)
{
	struct wareq_buf b = {0};
	struct wa_bytes param = { p, n };
	struct wa_msg m = { .kind = WA_MSG_TEMPLATE, .to = 393351234567ull,
	                    .tmpl_name = B("t"), .lang = B("it"), .params = &param, .nparams = 1,
	                    .tag = B("n=1;s=2") };
	int rc = wareq_build(&b, &m, 0);
	cr_assert_geq(rc, 0);
	json_t *j = parse(&b);
	json_t *t = json_object_get(json_array_get(json_object_get(json_array_get(
		json_object_get(json_object_get(j, "template"), "components"), 0), "parameters"), 0), "text");
	cr_assert(json_is_string(t));
	const char *s = json_string_value(t);
	size_t sl = json_string_length(t);
	uint8_t *ref = malloc(n + 1), *got = malloc(sl + 1);
	size_t invalid, fffd;
	size_t rl = keep_valid(p, n, ref, &invalid);
	size_t gl = strip_fffd(s, sl, got, &fffd);
	if (!invalid) {
		cr_assert_eq(sl, n, "valid UTF-8 round-trips exactly");
		cr_assert_eq(memcmp(s, p, n), 0);
		cr_assert_eq(rc, 0);
	} else {
		cr_assert_eq(gl, rl, "only invalid bytes are replaced");
		cr_assert_eq(memcmp(got, ref, rl), 0);
		cr_assert(fffd >= 1 && fffd <= invalid, "%zu U+FFFD for %zu invalid bytes", fffd, invalid);
		cr_assert_eq((size_t)rc, fffd, "the return value counts replacements");
		struct wareq_buf sb = {0};
		cr_assert_eq(wareq_build(&sb, &m, WAREQ_STRICT_UTF8), BND_E_WA_UTF8);
		cr_assert_neq(wareq_utf8_check(p, n), 0);
		wareq_buf_free(&sb);
	}
	if (!invalid)
		cr_assert_eq(wareq_utf8_check(p, n), 0);
	free(ref);
	free(got);
	json_decref(j);
	wareq_buf_free(&b);
}

Test(wareq, adversarial_texts_round_trip)
{
	static const char *const texts[] = {
		"", "plain", "\"", "\\", "\\\"", "\"\\\"\\", "\n\r\t\b\f", "\x01\x02\x1f\x7f",
		"tab\there", "quote \" and backslash \\ and slash /", "</script>",
		"Jesi: allerta \xe2\x9a\xa0\xef\xb8\x8f meteo", "\xf0\x9f\x98\x80 emoji",
		"\xe2\x80\xa8 line sep \xe2\x80\xa9", "\\u0000", "\\ud800", "{\"a\":1}",
		"\xef\xbb\xbf BOM", "caff\xc3\xa8", "\xf4\x8f\xbf\xbf max",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		check_roundtrip((const uint8_t *)texts[i], strlen(texts[i]));
	/* NUL inside: length-delimited, escaped as \u0000. */
	check_roundtrip((const uint8_t *)"a\0b", 3);
}

Test(wareq, invalid_utf8_is_replaced_by_maximal_subparts)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;  /* expected decoded string */
	} cases[] = {
		{ "\x80", 1, "\xef\xbf\xbd" },                        /* stray continuation */
		{ "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd" },        /* overlong: 2 subparts */
		{ "\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },  /* surrogate */
		{ "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe2\x9a", 2, "\xef\xbf\xbd" },                    /* truncated: one subpart */
		{ "a\xe2\x9a" "b", 4, "a\xef\xbf\xbd" "b" },
		{ "\xf0\x9f\x98", 3, "\xef\xbf\xbd" },
		{ "\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct wareq_buf b = {0};
		struct wa_msg m = { .kind = WA_MSG_TEXT, .to = 393351234567ull,
		                    .text = { (const uint8_t *)cases[i].in, cases[i].len } };
		cr_assert_gt(wareq_build(&b, &m, 0), 0, "case %zu", i);
		json_t *j = parse(&b);
		const char *body = json_string_value(json_object_get(json_object_get(j, "text"), "body"));
		cr_assert_str_eq(body, cases[i].out, "case %zu", i);
		json_decref(j);
		wareq_buf_free(&b);
	}
}

Test(wareq, random_byte_strings_round_trip)
{
	struct limiter_rng r;
	limiter_rng_seed(&r, 20260101);
	uint8_t buf[300];
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = limiter_rng_next(&r) % sizeof buf;
		int mode = iter % 3;
		for (size_t i = 0; i < n; i++) {
			uint64_t x = limiter_rng_next(&r);
			if (mode == 0) {
				buf[i] = (uint8_t)x;                       /* any byte */
			} else if (mode == 1) {
				static const uint8_t pick[] = { 0, '"', '\\', '\n', 0x1f, 'a', 0x7f, 0x80,
				                                0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff };
				buf[i] = pick[x % sizeof pick];            /* the interesting ones */
			} else {
				/* mostly valid UTF-8 with rare damage */
				utf8proc_int32_t cp = (utf8proc_int32_t)(x % 0x110000);
				if (cp >= 0xD800 && cp < 0xE000)
					cp = 'x';
				uint8_t enc[4];
				utf8proc_ssize_t k = utf8proc_encode_char(cp, enc);
				if (i + (size_t)k > n) {
					buf[i] = 'z';
					continue;
				}
				memcpy(buf + i, enc, (size_t)k);
				i += (size_t)k - 1;
				if ((x >> 40) % 50 == 0)
					buf[i] ^= 0x40;
			}
		}
		/* The reference cannot tell our U+FFFD from an input one. */
		if (memmem(buf, n, "\xef\xbf\xbd", 3))
			continue;
		check_roundtrip(buf, n);
	}
}

Test(wareq, text_and_template_shapes)
{
	struct wareq_buf b = {0};
	struct wa_msg m = { .kind = WA_MSG_TEXT, .to = 393351234567ull,
	                    .text = B("Iscrizione confermata. Scrivi JESI OFF per uscire."),
	                    .preview_url = 1 };
	cr_assert_eq(wareq_build(&b, &m, 0), 0);
	const char want[] =
		"{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
		"\"to\":\"+393351234567\",\"type\":\"text\",\"text\":{\"preview_url\":true,"
		"\"body\":\"Iscrizione confermata. Scrivi JESI OFF per uscire.\"}}";
	cr_assert_eq(b.len, sizeof want - 1);
	cr_assert_eq(memcmp(b.p, want, b.len), 0, "%.*s", (int)b.len, b.p);

	struct wa_bytes params[2] = { B("arancione"), B("domenica 12 ottobre") };
	struct wa_msg t = { .kind = WA_MSG_TEMPLATE, .to = 390731123456ull,
	                    .tmpl_name = B("allerta_meteo"), .lang = B("it"), .params = params,
	                    .nparams = 2, .tag = B("b=4711;s=98231") };
	cr_assert_eq(wareq_build(&b, &t, 0), 0);
	json_t *j = parse(&b);
	cr_assert_str_eq(json_string_value(json_object_get(j, "to")), "+390731123456",
	                 "the 0 after 39 is kept");
	json_t *tp = json_object_get(j, "template");
	json_t *comp = json_array_get(json_object_get(tp, "components"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(comp, "type")), "body");
	json_t *ps = json_object_get(comp, "parameters");
	cr_assert_eq(json_array_size(ps), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ps, 1), "text")),
	                 "domenica 12 ottobre");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ps, 0), "type")), "text");
	cr_assert_str_eq(json_string_value(json_object_get(j, "biz_opaque_callback_data")),
	                 "b=4711;s=98231");
	json_decref(j);

	t.nparams = 0;  /* a template without parameters has no components */
	t.tag.len = 0;  /* and no tag */
	cr_assert_eq(wareq_build(&b, &t, 0), 0);
	j = parse(&b);
	cr_assert_null(json_object_get(json_object_get(j, "template"), "components"));
	cr_assert_null(json_object_get(j, "biz_opaque_callback_data"));
	json_decref(j);
	wareq_buf_free(&b);
	wareq_buf_free(&b);
}

Test(wareq, bad_messages_are_refused)
{
	struct wareq_buf b = {0};
	struct wa_msg m = { .kind = WA_MSG_TEXT, .to = 393351234567ull, .text = B("x") };
	struct wa_msg x = m;
	x.to = 0;
	cr_assert_eq(wareq_build(&b, &x, 0), BND_E_INVAL);
	x = m;
	x.kind = 0;
	cr_assert_eq(wareq_build(&b, &x, 0), BND_E_INVAL);
	x = m;
	x.text.len = 0;
	cr_assert_eq(wareq_build(&b, &x, 0), BND_E_INVAL);
	x = m;
	static uint8_t big[WAREQ_STRING_MAX + 1];
	memset(big, 'a', sizeof big);
	x.text = (struct wa_bytes){ big, sizeof big };
	cr_assert_eq(wareq_build(&b, &x, 0), BND_E_RANGE);
	x.text.len = WAREQ_STRING_MAX;
	cr_assert_eq(wareq_build(&b, &x, 0), 0);
	x = m;
	x.tag = (struct wa_bytes){ big, WAREQ_TAG_MAX + 1 };
	cr_assert_eq(wareq_build(&b, &x, 0), BND_E_RANGE);
	struct wa_msg t = { .kind = WA_MSG_TEMPLATE, .to = 393351234567ull,
	                    .tmpl_name = B("n"), .lang = B("") };
	cr_assert_eq(wareq_build(&b, &t, 0), BND_E_INVAL);
	t.lang = B("it");
	t.nparams = 1;
	cr_assert_eq(wareq_build(&b, &t, 0), BND_E_INVAL, "params NULL");
	struct wa_bytes ps[WAREQ_PARAMS_MAX + 1];
	for (size_t i = 0; i < WAREQ_PARAMS_MAX + 1; i++)
		ps[i] = B("p");
	t.params = ps;
	t.nparams = WAREQ_PARAMS_MAX + 1;
	cr_assert_eq(wareq_build(&b, &t, 0), BND_E_RANGE);
	wareq_buf_free(&b);
}

Test(wareq, allocation_failure_is_reported_not_crashed)
{
	struct wa_msg m = { .kind = WA_MSG_TEXT, .to = 393351234567ull, .text = B("hello") };
	for (long n = 0; n < 4; n++) {
		struct wareq_buf b = {0};
		bnd_alloc_fail_after(n);
		int rc = wareq_build(&b, &m, 0);
		bnd_alloc_fail_after(-1);
		cr_assert(rc == 0 || rc == BND_E_NOMEM);
		if (rc == 0)
			json_decref(parse(&b));
		wareq_buf_free(&b);
	}
}
