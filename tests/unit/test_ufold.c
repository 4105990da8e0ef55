/*
 * test_ufold.c - Unicode folding into words (engine/ufold.c): the ASCII
 * fast path equals utf8proc, every code point folds within bounds and
 * leaves no marks, words equal those of utf8proc_map() (the allocating
 * whole-string API) on the command table, and hostile bytes are refused.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bnd.h"
#include "cmd.h"
#include "ufold.h"
#include "cmd_cases.h"

#define NCASES (sizeof cmd_cases / sizeof cmd_cases[0])

Test(ufold, ascii_fast_path_equals_utf8proc)
{
	for (int32_t c = 0; c < 128; c++) {
		int32_t out[UFOLD_MAX_EXPAND];
		int n = ufold_cp(c, out);
		cr_assert_eq(n, 1, "U+%04X folds to one code point", c);
		if (ufold_ascii[c]) {
			cr_assert(ufold_is_word(out[0]), "U+%04X is a word character", c);
			cr_assert_eq(out[0], ufold_ascii[c], "U+%04X", c);
		} else {
			cr_assert(!ufold_is_word(out[0]), "U+%04X separates", c);
		}
	}
}

Test(ufold, every_code_point_folds_within_bounds_and_without_marks)
{
	/* This is what makes folding one code point at a time equal to
	 * utf8proc_decompose() (see ufold.c). */
	long words = 0;
	for (int32_t c = 0; c <= 0x10FFFF; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		int32_t buf[64];
		utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 64,
			UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD |
			UTF8PROC_IGNORE | UTF8PROC_STRIPMARK, NULL);
		cr_assert(n >= 0 && n <= UFOLD_MAX_EXPAND, "U+%04X expands to %ld", c, (long)n);
		for (utf8proc_ssize_t i = 0; i < n; i++) {
			const utf8proc_property_t *p = utf8proc_get_property(buf[i]);
			if (p->combining_class != 0)
				cr_assert_fail("U+%04X leaves U+%04X of class %d", c, buf[i],
				               p->combining_class);
			words += ufold_is_word(buf[i]);
		}
		/* The same as the wrapper. */
		int32_t mine[UFOLD_MAX_EXPAND];
		int m = ufold_cp(c, mine);
		if (m != n || memcmp(mine, buf, (size_t)n * sizeof mine[0]) != 0)
			cr_assert_fail("ufold_cp(U+%04X) differs", c);
	}
	cr_assert_gt(words, 100000, "most assigned code points are letters");
	int32_t out[UFOLD_MAX_EXPAND];
	cr_assert_eq(ufold_cp(0xD800, out), 1);
	cr_assert_eq(out[0], 0x20, "a surrogate is a separator");
	cr_assert_eq(ufold_cp(0x110000, out), 1);
	cr_assert_eq(out[0], 0x20);
	cr_assert_eq(ufold_cp(-1, out), 1);
}

Test(ufold, examples)
{
	static const struct {
		const char *in, *words;
	} t[] = {
		{"\xef\xbc\xaa\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa9\xe3\x80\x80\xef\xbc\xaf\xef\xbc\xae", "jesi|on|"},
		{"J\xc3\xa9si \xe2\x80\x9cOn\xe2\x80\x9d!", "jesi|on|"},
		{"JE\xe2\x80\x8bSI\xc2\xa0ON", "jesi|on|"},
		{"Stra\xc3\x9f" "e", "strasse|"},
		{"\xef\xac\x81ne", "fine|"},                  /* ligature fi */
		{"l\xe2\x80\x99" "auto", "l|auto|"},
		{"l\xca\xbc" "auto", "l|auto|"},              /* modifier letter apostrophe */
		{"\xc2\xbd", "1|2|"},                         /* ½ -> 1⁄2 */
		{"\xe2\x84\xa1", "tel|"},                     /* ℡ */
		{"\xc4\xb0stanbul", "istanbul|"},             /* İ: case fold leaves i + dot, dot stripped */
		{"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbb", ""},
		{"", ""},
		{"a\0b", "a|b|"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ufold_iter it;
		char got[256] = "";
		uint8_t w[64];
		size_t wl, n = 0, len = i == sizeof t / sizeof t[0] - 1 ? 3 : strlen(t[i].in);
		ufold_iter_init(&it, (const uint8_t *)t[i].in, len, i & 1);
		int rc;
		while ((rc = ufold_word(&it, w, sizeof w, &wl)) == 1) {
			memcpy(got + n, w, wl);
			n += wl;
			got[n++] = '|';
			got[n] = 0;
		}
		cr_assert_eq(rc, 0);
		cr_assert_str_eq(got, t[i].words, "example %zu", i);
	}
}

Test(ufold, long_words_are_counted_and_cut_on_a_code_point)
{
	struct ufold_iter it;
	uint8_t w[5];
	size_t wl;
	const char *s = "\xc3\xa8\xc3\xa8\xc3\xa8 x";  /* èèè: 3 folded bytes "eee" */
	ufold_iter_init(&it, (const uint8_t *)s, strlen(s), false);
	cr_assert_eq(ufold_word(&it, w, 2, &wl), 1);
	cr_assert_eq(wl, 3);
	cr_assert_eq(memcmp(w, "ee", 2), 0);
	const char *t = "\xd0\x96\xd0\x96\xd0\x96";  /* ЖЖЖ -> жжж, 6 bytes */
	ufold_iter_init(&it, (const uint8_t *)t, strlen(t), false);
	memset(w, 0, sizeof w);
	cr_assert_eq(ufold_word(&it, w, 5, &wl), 1);
	cr_assert_eq(wl, 6);
	cr_assert_eq(memcmp(w, "\xd0\xb6\xd0\xb6", 4), 0, "no half code point");
	cr_assert_eq(w[4], 0);
	ufold_iter_init(&it, (const uint8_t *)"abc", 3, false);
	cr_assert_eq(ufold_word(&it, NULL, 0, &wl), 1);
	cr_assert_eq(wl, 3);
}

Test(ufold, invalid_utf8_is_refused)
{
	static const char *bad[] = {
		"\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf0\x8f\xbf\xbf",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xc3", "\xe2\x82", "ab\xf0\x9f\x91",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ufold_iter it;
		uint8_t w[64];
		size_t wl;
		int rc;
		ufold_iter_init(&it, (const uint8_t *)bad[i], strlen(bad[i]), false);
		while ((rc = ufold_word(&it, w, sizeof w, &wl)) == 1)
			;
		cr_assert_eq(rc, BND_E_CMD_UTF8, "bad %zu", i);
		ufold_iter_init(&it, (const uint8_t *)bad[i], strlen(bad[i]), false);
		cr_assert_eq(ufold_check_rest(&it), BND_E_CMD_UTF8, "check_rest bad %zu", i);
	}
	struct ufold_iter it;
	const char *ok = "all ASCII for a while, then \xc3\xa8 and \xf0\x9f\x91\x8d";
	ufold_iter_init(&it, (const uint8_t *)ok, strlen(ok), false);
	cr_assert_eq(ufold_check_rest(&it), 0);
	uint8_t w[8];
	size_t wl;
	cr_assert_eq(ufold_word(&it, w, sizeof w, &wl), 0, "spent after check_rest");
}

/* Words of utf8proc_map (allocating, whole string) joined by '|'. */
static size_t ref_words(const uint8_t *p, size_t len, char *out, size_t cap)
{
	uint8_t *m = NULL;
	utf8proc_ssize_t n = utf8proc_map(p, (utf8proc_ssize_t)len, &m,
		UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD |
		UTF8PROC_IGNORE | UTF8PROC_STRIPMARK);
	cr_assert_geq(n, 0);
	size_t o = 0;
	bool in = false;
	for (utf8proc_ssize_t i = 0; i < n;) {
		int32_t cp;
		utf8proc_ssize_t r = utf8proc_iterate(m + i, n - i, &cp);
		cr_assert_gt(r, 0);
		if (ufold_is_word(cp)) {
			cr_assert_lt(o + (size_t)r, cap);
			memcpy(out + o, m + i, (size_t)r);
			o += (size_t)r;
			in = true;
		} else if (in) {
			out[o++] = '|';
			in = false;
		}
		i += r;
	}
	if (in)
		out[o++] = '|';
	free(m);
	return o;
}

static size_t my_words(const uint8_t *p, size_t len, bool slow, char *out, size_t cap)
{
	struct ufold_iter it;
	uint8_t w[256];
	size_t wl, o = 0;
	int rc;
	ufold_iter_init(&it, p, len, slow);
	while ((rc = ufold_word(&it, w, sizeof w, &wl)) == 1) {
		cr_assert_leq(wl, sizeof w);
		cr_assert_lt(o + wl + 1, cap);
		memcpy(out + o, w, wl);
		o += wl;
		out[o++] = '|';
	}
	cr_assert_eq(rc, 0);
	return o;
}

Test(ufold, words_equal_utf8proc_map_on_the_command_table)
{
	static char a[8192], b[8192], c[8192];
	for (size_t i = 0; i < NCASES; i++) {
		if (cmd_cases[i].rc)
			continue;
		const uint8_t *p = (const uint8_t *)cmd_cases[i].in;
		size_t len = cmd_cases[i].len;
		size_t na = ref_words(p, len, a, sizeof a);
		size_t nb = my_words(p, len, false, b, sizeof b);
		size_t nc = my_words(p, len, true, c, sizeof c);
		cr_assert(na == nb && memcmp(a, b, na) == 0, "row %zu: fast path differs", i);
		cr_assert(na == nc && memcmp(a, c, na) == 0, "row %zu: slow path differs", i);
	}
}
