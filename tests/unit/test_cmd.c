/*
 * test_cmd.c - the command parser (engine/cmd.c): the table of what
 * citizens type (cmd_cases.h), other keywords, properties that must hold
 * for every row (case, quotes, emoji, odd spaces, zero-width characters,
 * full-width forms, ASCII fast path versus utf8proc), limits, hostile
 * input, no heap allocation, and the vocabulary against docs/COMMANDS.md.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "cmd.h"
#include "cmd_int.h"
#include "cmd_cases.h"

#define NCASES (sizeof cmd_cases / sizeof cmd_cases[0])

/* ---- malloc interposition: counts allocations made by this thread while
 * `counting` is set. Not with AddressSanitizer, which owns malloc. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MALLOC_HOOK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NO_MALLOC_HOOK 1
#endif

#ifndef NO_MALLOC_HOOK
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t s);
extern void *__libc_realloc(void *p, size_t n);
static _Thread_local volatile int counting;
static _Thread_local volatile long nalloc;
void *malloc(size_t n);
void *calloc(size_t n, size_t s);
void *realloc(void *p, size_t n);
void *malloc(size_t n)
{
	nalloc += counting;
	return __libc_malloc(n);
}
void *calloc(size_t n, size_t s)
{
	nalloc += counting;
	return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n)
{
	nalloc += counting;
	return __libc_realloc(p, n);
}
#endif

/* A printable form of some bytes, for failure messages. */
static const char *show(const void *v, size_t len)
{
	static char buf[4][512];
	static int k;
	const uint8_t *p = v;
	char *b = buf[k++ & 3];
	size_t o = 0;
	for (size_t i = 0; i < len && o + 8 < sizeof buf[0]; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			b[o++] = (char)p[i];
		else
			o += (size_t)snprintf(b + o, 8, "\\x%02x", p[i]);
	}
	b[o] = 0;
	return b;
}

static struct cmd_grammar jesi(void)
{
	struct cmd_grammar g;
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"JESI", 4), 0);
	return g;
}

static struct cmd_grammar kw(const char *k)
{
	struct cmd_grammar g;
	int rc = cmd_grammar_init(&g, (const uint8_t *)k, strlen(k));
	cr_assert_eq(rc, 0, "keyword %s: %s", k, bnd_strerror(rc));
	return g;
}

static int parse_n(const struct cmd_grammar *g, const void *p, size_t n, struct cmd_result *r)
{
	return cmd_parse(g, p, n, r);
}

static enum cmd_verb verb_of(const struct cmd_grammar *g, const char *s)
{
	struct cmd_result r;
	int rc = cmd_parse(g, (const uint8_t *)s, strlen(s), &r);
	cr_assert_eq(rc, 0, "%s: %s", s, bnd_strerror(rc));
	return r.verb;
}

/* ---- the table ---- */

Test(cmd, table_has_at_least_150_rows_of_each_kind)
{
	size_t by[5] = {0}, errors = 0;
	for (size_t i = 0; i < NCASES; i++) {
		if (cmd_cases[i].rc)
			errors++;
		else
			by[cmd_cases[i].verb]++;
	}
	cr_assert_geq(NCASES, 150);
	cr_assert_geq(by[CMD_ON], 30);
	cr_assert_geq(by[CMD_OFF], 30);
	cr_assert_geq(by[CMD_NONE], 30);
	cr_assert_geq(by[CMD_HELP], 10);
	cr_assert_geq(by[CMD_CONFLICT], 5);
	cr_assert_geq(errors, 5);
}

static void check_table(bool slow)
{
	struct cmd_grammar g = jesi();
	cmd_grammar_set_slow(&g, slow);
	for (size_t i = 0; i < NCASES; i++) {
		const struct cmd_case *c = &cmd_cases[i];
		/* An exact-size copy, so AddressSanitizer sees any read past len. */
		uint8_t *copy = malloc(c->len ? c->len : 1);
		memcpy(copy, c->in, c->len);
		struct cmd_result r = {.verb = CMD_CONFLICT, .keyword = true, .bare_on = true};
		int rc = cmd_parse(&g, copy, c->len, &r);
		free(copy);
		cr_expect_eq(rc, c->rc, "row %zu \"%s\": rc %d (%s), want %d", i,
		             show(c->in, c->len), rc, bnd_strerror(rc), c->rc);
		cr_expect_eq(r.verb, (enum cmd_verb)c->verb, "row %zu \"%s\"%s: got %s, want %s", i,
		             show(c->in, c->len), slow ? " (slow path)" : "",
		             cmd_verb_name(r.verb), cmd_verb_name(c->verb));
		if (rc)
			cr_expect(!r.keyword && !r.bare_on, "row %zu: flags cleared on error", i);
	}
}

Test(cmd, table_default_keyword)
{
	check_table(false);
}

Test(cmd, table_slow_path_gives_the_same_answers)
{
	check_table(true);
}

/* ---- properties over every valid row ---- */

struct buf {
	uint8_t b[4 * CMD_MAX_INPUT];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	cr_assert_leq(o->n + n, sizeof o->b);
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put_cp(struct buf *o, uint32_t cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	put(o, u, n);
}

typedef void (*xform_fn)(const uint8_t *in, size_t n, struct buf *o, unsigned seed);

static void x_swapcase(const uint8_t *in, size_t n, struct buf *o, unsigned seed)
{
	(void)seed;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (c >= 'a' && c <= 'z')
			c = (uint8_t)(c - 32);
		else if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		put(o, &c, 1);
	}
}

static void x_quotes(const uint8_t *in, size_t n, struct buf *o, unsigned seed)
{
	(void)seed;
	put(o, "\xe2\x80\x9c", 3);
	put(o, in, n);
	put(o, "\xe2\x80\x9d", 3);
}

static void x_decorate(const uint8_t *in, size_t n, struct buf *o, unsigned seed)
{
	static const char *around[] = {
		"  ", "\xc2\xa0", "\xe3\x80\x80", "!!", "...", "\xf0\x9f\x91\x8d", "\xf0\x9f\x99\x8f\xf0\x9f\x8f\xbc",
		"\xe2\x9d\xa4\xef\xb8\x8f", "\xf0\x9f\x87\xae\xf0\x9f\x87\xb9", "\r\n", "\xe2\x80\x8b", "\xc2\xbf?", "--", ":)",
	};
	size_t k = sizeof around / sizeof around[0];
	const char *a = around[seed % k], *b = around[(seed / k) % k];
	put(o, a, strlen(a));
	put(o, in, n);
	put(o, b, strlen(b));
}

/* A zero-width space between two code points (position chosen by seed). */
static void x_zwsp(const uint8_t *in, size_t n, struct buf *o, unsigned seed)
{
	size_t cut = n ? seed % (n + 1) : 0;
	while (cut < n && (in[cut] & 0xC0) == 0x80)
		cut++;  /* not inside a UTF-8 sequence */
	put(o, in, cut);
	put(o, "\xe2\x80\x8b", 3);
	put(o, in + cut, n - cut);
}

/* Printable ASCII to full-width forms, space to the ideographic space. */
static void x_fullwidth(const uint8_t *in, size_t n, struct buf *o, unsigned seed)
{
	(void)seed;
	for (size_t i = 0; i < n; i++) {
		if (in[i] > 0x20 && in[i] < 0x7f)
			put_cp(o, 0xFF01u + (in[i] - 0x21u));
		else if (in[i] == ' ')
			put_cp(o, 0x3000);
		else
			put(o, in + i, 1);
	}
}

static void x_nbsp(const uint8_t *in, size_t n, struct buf *o, unsigned seed)
{
	(void)seed;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == ' ')
			put(o, "\xc2\xa0", 2);
		else
			put(o, in + i, 1);
	}
}

static void check_property(const char *name, xform_fn fn, int seeds)
{
	struct cmd_grammar g = jesi();
	static struct buf o;
	for (size_t i = 0; i < NCASES; i++) {
		const struct cmd_case *c = &cmd_cases[i];
		if (c->rc)
			continue;
		struct cmd_result want, got;
		cr_assert_eq(parse_n(&g, c->in, c->len, &want), 0);
		for (int s = 0; s < seeds; s++) {
			o.n = 0;
			fn((const uint8_t *)c->in, c->len, &o, (unsigned)s * 2654435761u);
			int rc = parse_n(&g, o.b, o.n, &got);
			cr_expect_eq(rc, 0, "%s row %zu \"%s\" -> \"%s\": %s", name, i,
			             show(c->in, c->len), show(o.b, o.n), bnd_strerror(rc));
			cr_expect(got.verb == want.verb && got.keyword == want.keyword &&
			          got.bare_on == want.bare_on,
			          "%s row %zu \"%s\" -> \"%s\": %s, was %s", name, i,
			          show(c->in, c->len), show(o.b, o.n),
			          cmd_verb_name(got.verb), cmd_verb_name(want.verb));
		}
	}
}

Test(cmd, case_does_not_matter)
{
	check_property("swapcase", x_swapcase, 1);
}

Test(cmd, poster_quotes_do_not_matter)
{
	check_property("quotes", x_quotes, 1);
}

Test(cmd, spaces_punctuation_and_emoji_around_do_not_matter)
{
	check_property("decorate", x_decorate, 40);
}

Test(cmd, zero_width_space_anywhere_does_not_matter)
{
	check_property("zwsp", x_zwsp, 24);
}

Test(cmd, full_width_forms_do_not_matter)
{
	check_property("fullwidth", x_fullwidth, 1);
}

Test(cmd, no_break_spaces_do_not_matter)
{
	check_property("nbsp", x_nbsp, 1);
}

Test(cmd, a_command_must_be_the_whole_message)
{
	/* Any row followed by an ordinary word is ordinary text. */
	struct cmd_grammar g = jesi();
	static struct buf o;
	static const char *tails[] = {" traffico", " domani?", ", non funziona", " 2"};
	for (size_t i = 0; i < NCASES; i++) {
		const struct cmd_case *c = &cmd_cases[i];
		if (c->rc)
			continue;
		for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
			struct cmd_result r;
			o.n = 0;
			put(&o, c->in, c->len);
			put(&o, tails[t], strlen(tails[t]));
			cr_expect_eq(parse_n(&g, o.b, o.n, &r), 0);
			cr_expect(r.verb == CMD_NONE && !r.keyword && !r.bare_on,
			          "row %zu + \"%s\" gave %s", i, tails[t], cmd_verb_name(r.verb));
			/* and preceded by one */
			o.n = 0;
			put(&o, "Ciao, ho letto: ", 16);
			put(&o, c->in, c->len);
			cr_expect_eq(parse_n(&g, o.b, o.n, &r), 0);
			cr_expect_eq(r.verb, CMD_NONE, "\"Ciao, ho letto: \" + row %zu", i);
		}
	}
}

/* Random compositions: [fillers] [keyword] verb [fillers] in random case
 * with random separators; the expected verb follows from the parts. */
Test(cmd, random_compositions)
{
	static const char *on[] = {"on", "SI", "s\xc3\xac", "start", "Iscrivimi", "ATTIVA", "subscribe"};
	static const char *off[] = {"off", "STOP", "basta", "Cancellami", "disiscrivimi", "unsubscribe", "esci", "fine"};
	static const char *help[] = {"help", "AIUTO", "info"};
	static const char *fill[] = {"grazie", "per favore", "ciao", "Buongiorno", "ok", "grazie mille"};
	static const char *sep[] = {" ", "  ", "\xc2\xa0", ", ", "! ", " - ", "\xe3\x80\x80", " \xf0\x9f\x99\x8f ", "\n"};
	struct cmd_grammar g = jesi();
	static struct buf o;
	uint64_t s = 0x9E3779B97F4A7C15ULL;
#define RND(n) ((s ^= s << 13, s ^= s >> 7, s ^= s << 17), (size_t)(s % (n)))
#define PICK(a) a[RND(sizeof a / sizeof a[0])]
	for (int iter = 0; iter < 5000; iter++) {
		bool with_kw = RND(2), glued = with_kw && RND(4) == 0;
		int kind = (int)RND(3);  /* 0 on, 1 off, 2 help */
		const char *v = kind == 0 ? PICK(on) : kind == 1 ? PICK(off) : PICK(help);
		o.n = 0;
		if (RND(3) == 0) {
			const char *f = PICK(fill);
			put(&o, f, strlen(f));
			const char *z = PICK(sep);
			put(&o, z, strlen(z));
		}
		if (with_kw) {
			put(&o, RND(2) ? "JESI" : "jesi", 4);
			if (!glued) {
				const char *z = PICK(sep);
				put(&o, z, strlen(z));
			}
		}
		size_t vstart = o.n;
		put(&o, v, strlen(v));
		if (RND(2))
			for (size_t k = vstart; k < o.n; k++)
				if (o.b[k] >= 'a' && o.b[k] <= 'z')
					o.b[k] = (uint8_t)(o.b[k] - 32);
		if (RND(3) == 0) {
			const char *z = PICK(sep);
			put(&o, z, strlen(z));
			const char *f = PICK(fill);
			put(&o, f, strlen(f));
		}
		enum cmd_verb want = kind == 1 ? CMD_OFF : kind == 2 ? CMD_HELP :
		                     with_kw ? CMD_ON : CMD_NONE;
		struct cmd_result r;
		cr_assert_eq(parse_n(&g, o.b, o.n, &r), 0);
		cr_assert_eq(r.verb, want, "\"%s\": got %s, want %s", show(o.b, o.n),
		             cmd_verb_name(r.verb), cmd_verb_name(want));
		cr_assert_eq(r.keyword, with_kw, "\"%s\"", show(o.b, o.n));
		cr_assert_eq(r.bare_on, kind == 0 && !with_kw, "\"%s\"", show(o.b, o.n));
	}
#undef PICK
#undef RND
}

/* ---- flags ---- */

Test(cmd, flags_report_keyword_and_bare_on_verbs)
{
	struct cmd_grammar g = jesi();
	struct cmd_result r;
	cr_assert_eq(parse_n(&g, "START", 5, &r), 0);
	cr_assert(r.verb == CMD_NONE && r.bare_on && !r.keyword);
	cr_assert_eq(parse_n(&g, "Iscrivimi grazie", 16, &r), 0);
	cr_assert(r.verb == CMD_NONE && r.bare_on && !r.keyword);
	cr_assert_eq(parse_n(&g, "JESI START", 10, &r), 0);
	cr_assert(r.verb == CMD_ON && !r.bare_on && r.keyword);
	cr_assert_eq(parse_n(&g, "STOP", 4, &r), 0);
	cr_assert(r.verb == CMD_OFF && !r.bare_on && !r.keyword);
	cr_assert_eq(parse_n(&g, "ON OFF", 6, &r), 0);
	cr_assert(r.verb == CMD_OFF && r.bare_on && !r.keyword);
	cr_assert_eq(parse_n(&g, "JESI", 4, &r), 0);
	cr_assert(r.verb == CMD_HELP && r.keyword);
	/* ordinary text naming the city: no flags */
	cr_assert_eq(parse_n(&g, "Sono a Jesi, on", 15, &r), 0);
	cr_assert(r.verb == CMD_NONE && !r.keyword && !r.bare_on);
}

/* ---- other keywords ---- */

Test(cmd, another_city_uses_another_keyword)
{
	struct cmd_grammar g = kw("ANCONA");
	cr_assert_eq(verb_of(&g, "ANCONA ON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "ancona on"), CMD_ON);
	cr_assert_eq(verb_of(&g, "ANCONAON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "AN CONA ON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "\xef\xbc\xa1\xef\xbc\xae\xef\xbc\xa3\xef\xbc\xaf\xef\xbc\xae\xef\xbc\xa1 \xef\xbc\xaf\xef\xbc\xae"), CMD_ON);
	cr_assert_eq(verb_of(&g, "ANCONA S\xc3\xac"), CMD_ON);
	cr_assert_eq(verb_of(&g, "ANCONA ON OFF"), CMD_CONFLICT);
	cr_assert_eq(verb_of(&g, "ANCONA OFF"), CMD_OFF);
	cr_assert_eq(verb_of(&g, "OFF"), CMD_OFF);
	cr_assert_eq(verb_of(&g, "Ancona"), CMD_HELP);
	/* The other city's keyword is just an unknown word here. */
	cr_assert_eq(verb_of(&g, "JESI ON"), CMD_NONE);
	cr_assert_eq(verb_of(&g, "JESION"), CMD_NONE);
	cr_assert_eq(verb_of(&g, "JESI OFF"), CMD_NONE);
	cr_assert_eq(verb_of(&g, "JESI"), CMD_NONE);
	cr_assert_eq(verb_of(&g, "ON"), CMD_NONE);

	struct cmd_grammar j = jesi();
	cr_assert_eq(verb_of(&j, "ANCONA ON"), CMD_NONE);
}

Test(cmd, keyword_with_an_accent_folds_like_messages)
{
	struct cmd_grammar g = kw("Forl\xc3\xac");  /* Forlì */
	cr_assert_eq(verb_of(&g, "FORLI ON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "Forl\xc3\xac on"), CMD_ON);
	cr_assert_eq(verb_of(&g, "FORL\xc3\x8c S\xc3\x8c"), CMD_ON);
	cr_assert_eq(verb_of(&g, "forl\xc3\xad-on"), CMD_ON);  /* forlí */
	struct cmd_grammar h = kw("\xef\xbc\xaa\xef\xbd\x85\xef\xbd\x93\xef\xbd\x89");  /* Ｊｅｓｉ */
	cr_assert_eq(verb_of(&h, "JESI ON"), CMD_ON);
}

Test(cmd, keyword_of_two_words)
{
	struct cmd_grammar g = kw("San Benedetto");
	cr_assert_eq(verb_of(&g, "SAN BENEDETTO ON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "sanbenedetto on"), CMD_ON);
	cr_assert_eq(verb_of(&g, "San-Benedetto ON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "SANBENEDETTOON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "San Benedetto"), CMD_HELP);
	cr_assert_eq(verb_of(&g, "SAN BENEDETTO OFF"), CMD_OFF);
	cr_assert_eq(verb_of(&g, "SAN ON"), CMD_NONE);
	cr_assert_eq(verb_of(&g, "BENEDETTO ON"), CMD_NONE);
	cr_assert_eq(verb_of(&g, "BENEDETTO SAN ON"), CMD_NONE);
}

/* Found by fuzz_cmd (regress/cmd/crash-d0268c75…): a keyword may be an
 * ordinary word; the harness assumed "traffico" never could be. */
Test(cmd, keyword_may_be_an_ordinary_word)
{
	struct cmd_grammar g = kw("traffico");
	cr_assert_eq(verb_of(&g, "TRAFFICO"), CMD_HELP);
	cr_assert_eq(verb_of(&g, " traffico"), CMD_HELP);
	cr_assert_eq(verb_of(&g, "traffico on"), CMD_ON);
	cr_assert_eq(verb_of(&g, "stop al traffico"), CMD_OFF);
	cr_assert_eq(verb_of(&g, "stop al traffico in via Roma"), CMD_NONE);
}

Test(cmd, keyword_errors)
{
	struct cmd_grammar g;
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"", 0), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, NULL, 0), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, NULL, 4), BND_E_INVAL);
	cr_assert_eq(cmd_grammar_init(NULL, (const uint8_t *)"JESI", 4), BND_E_INVAL);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"!!! \xf0\x9f\x91\x8d", 8), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"ON", 2), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"Stop", 4), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"GRAZIE", 6), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"JE\xff", 3), BND_E_CMD_UTF8);
	char big[CMD_KEYWORD_INPUT_MAX + 1];
	memset(big, 'a', sizeof big);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)big, sizeof big), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)big, CMD_KEYWORD_MAX + 1), BND_E_CMD_KEYWORD);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)big, CMD_KEYWORD_MAX), 0);
	/* 17 words of two letters: 34 folded bytes, over CMD_KEYWORD_MAX */
	const char *many = "ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab";
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)many, strlen(many)), BND_E_CMD_KEYWORD);
	/* four words are fine, five are not */
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"San Benedetto del Tronto", 24), 0);
	cr_assert_eq(verb_of(&g, "SAN BENEDETTO DEL TRONTO ON"), CMD_ON);
	cr_assert_eq(verb_of(&g, "SANBENEDETTODELTRONTO ON"), CMD_ON);
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"a b c d e", 9), BND_E_CMD_KEYWORD);
	/* A grammar whose init failed recognises nothing, not even STOP. */
	cr_assert_eq(cmd_grammar_init(&g, (const uint8_t *)"ON", 2), BND_E_CMD_KEYWORD);
	struct cmd_result r;
	cr_assert_eq(parse_n(&g, "STOP", 4, &r), 0);
	cr_assert_eq(r.verb, CMD_NONE);
	cr_assert_eq(parse_n(&g, "STOP \xff", 6, &r), BND_E_CMD_UTF8);
}

/* ---- limits and hostile input ---- */

Test(cmd, bad_arguments)
{
	struct cmd_grammar g = jesi();
	struct cmd_result r = {.verb = CMD_ON};
	cr_assert_eq(cmd_parse(NULL, (const uint8_t *)"STOP", 4, &r), BND_E_INVAL);
	cr_assert_eq(r.verb, CMD_NONE);
	cr_assert_eq(cmd_parse(&g, (const uint8_t *)"STOP", 4, NULL), BND_E_INVAL);
	r.verb = CMD_ON;
	cr_assert_eq(cmd_parse(&g, NULL, 4, &r), BND_E_INVAL);
	cr_assert_eq(r.verb, CMD_NONE);
	cr_assert_eq(cmd_parse(&g, NULL, 0, &r), 0);
	cr_assert_eq(r.verb, CMD_NONE);
	cr_assert_str_eq(cmd_verb_name(CMD_CONFLICT), "conflict");
	cr_assert_str_eq(cmd_verb_name((enum cmd_verb)99), "?");
}

Test(cmd, input_length_limit)
{
	struct cmd_grammar g = jesi();
	struct cmd_result r;
	uint8_t *b = malloc(CMD_MAX_INPUT + 1);
	memset(b, ' ', CMD_MAX_INPUT + 1);
	memcpy(b + CMD_MAX_INPUT - 7, "JESI ON", 7);
	cr_assert_eq(cmd_parse(&g, b, CMD_MAX_INPUT, &r), 0);
	cr_assert_eq(r.verb, CMD_ON, "a command at the very end of the longest text");
	memcpy(b + CMD_MAX_INPUT - 7, "       ", 7);
	memcpy(b, "STOP", 4);
	cr_assert_eq(cmd_parse(&g, b, CMD_MAX_INPUT, &r), 0);
	cr_assert_eq(r.verb, CMD_OFF);
	r.verb = CMD_ON;
	cr_assert_eq(cmd_parse(&g, b, CMD_MAX_INPUT + 1, &r), BND_E_CMD_TOOLONG);
	cr_assert_eq(r.verb, CMD_NONE);
	free(b);
	/* A megabyte of text is refused without being read. */
	size_t big = 1 << 20;
	b = malloc(big);
	memset(b, 'x', big);
	cr_assert_eq(cmd_parse(&g, b, big, &r), BND_E_CMD_TOOLONG);
	free(b);
}

Test(cmd, longest_text_of_emoji_and_odd_spaces)
{
	/* Every code point taking the slow path, at the input limit. */
	struct cmd_grammar g = jesi();
	static struct buf o;
	o.n = 0;
	put(&o, "JESI OFF ", 9);
	while (o.n + 4 <= CMD_MAX_INPUT)
		put(&o, (o.n / 4) % 2 ? "\xf0\x9f\x91\x8d" : "\xc2\xa0\xc2\xa0", 4);
	struct cmd_result r;
	cr_assert_eq(parse_n(&g, o.b, o.n, &r), 0);
	cr_assert_eq(r.verb, CMD_OFF);
	/* many long words: stops at the first, still validates everything */
	o.n = 0;
	while (o.n + 40 <= CMD_MAX_INPUT)
		put(&o, "precipitevolissimevolmente\xc3\xa8 abcdefghi ", 39);
	cr_assert_eq(parse_n(&g, o.b, o.n, &r), 0);
	cr_assert_eq(r.verb, CMD_NONE);
	o.b[o.n - 1] = 0xC3;
	cr_assert_eq(parse_n(&g, o.b, o.n, &r), BND_E_CMD_UTF8);
}

Test(cmd, never_reads_past_len)
{
	struct cmd_grammar g = jesi();
	struct {
		const char *s;
		size_t len;
		enum cmd_verb v;
	} t[] = {
		{"JESI ONxxxx", 7, CMD_ON},
		{"JESI OFF", 7, CMD_NONE},     /* "JESI OF" */
		{"STOP", 3, CMD_NONE},         /* "STO" */
		{"JESI \xc3\xac", 6, CMD_NONE},  /* the cut ends inside a code point */
		{"STOP\xff", 4, CMD_OFF},      /* the bad byte is past len */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint8_t *b = malloc(t[i].len);  /* exact size: ASan catches overreads */
		memcpy(b, t[i].s, t[i].len);
		struct cmd_result r;
		int rc = cmd_parse(&g, b, t[i].len, &r);
		free(b);
		if (i == 3) {
			cr_assert_eq(rc, BND_E_CMD_UTF8, "a sequence cut by len is invalid");
			continue;
		}
		cr_assert_eq(rc, 0, "case %zu", i);
		cr_assert_eq(r.verb, t[i].v, "case %zu", i);
	}
}

Test(cmd, nul_bytes_are_separators)
{
	struct cmd_grammar g = jesi();
	struct cmd_result r;
	cr_assert_eq(parse_n(&g, "\0\0STOP\0\0", 8, &r), 0);
	cr_assert_eq(r.verb, CMD_OFF);
	cr_assert_eq(parse_n(&g, "JE\0SI ON", 8, &r), 0);
	cr_assert_eq(r.verb, CMD_ON, "pieces of the keyword");
	uint8_t zeros[64] = {0};
	cr_assert_eq(parse_n(&g, zeros, sizeof zeros, &r), 0);
	cr_assert_eq(r.verb, CMD_NONE);
}

Test(cmd, ten_words_at_most)
{
	struct cmd_grammar g = jesi();
	cr_assert_eq(verb_of(&g, "ciao ciao ciao ciao ciao ciao ciao ciao ciao STOP"), CMD_OFF);
	cr_assert_eq(verb_of(&g, "ciao ciao ciao ciao ciao ciao ciao ciao ciao ciao STOP"), CMD_NONE);
}

Test(cmd, does_not_allocate)
{
#ifdef NO_MALLOC_HOOK
	cr_skip_test("malloc belongs to AddressSanitizer in this build");
#else
	struct cmd_grammar g;
	struct cmd_result r;
	counting = 1;
	nalloc = 0;
	int rc = cmd_grammar_init(&g, (const uint8_t *)"San Benedetto", 13);
	for (size_t i = 0; i < NCASES; i++) {
		cmd_parse(&g, (const uint8_t *)cmd_cases[i].in, cmd_cases[i].len, &r);
		cmd_grammar_set_slow(&g, !(i & 1));
	}
	long seen = nalloc;
	/* The hook must work, or this test could not fail: */
	void *volatile probe = malloc(16);
	long after = nalloc;
	free(probe);
	counting = 0;
	cr_assert_eq(rc, 0);
	cr_assert_eq(seen, 0, "cmd allocated %ld times", seen);
	cr_assert_eq(after, 1, "the malloc hook counts");
#endif
}

/* ---- the vocabulary ---- */

Test(cmd, vocabulary_is_sorted_and_folded)
{
	struct cmd_grammar g = jesi();
	size_t longest = 0;
	for (size_t i = 0; i < cmd__nvocab; i++) {
		const struct cmd__word *w = &cmd__vocab[i];
		cr_assert_eq(strlen(w->w), w->len, "%s", w->w);
		for (size_t k = 0; k < w->len; k++)
			cr_assert(w->w[k] >= 'a' && w->w[k] <= 'z', "%s is folded", w->w);
		if (i)
			cr_assert_lt(strcmp(cmd__vocab[i - 1].w, w->w), 0, "%s sorted", w->w);
		cr_assert_eq(cmd__lookup(&g, (const uint8_t *)w->w, w->len), w->cls, "%s", w->w);
		if (w->len > longest)
			longest = w->len;
	}
	cr_assert_eq(longest, CMD__VOCAB_MAX);
	cr_assert_eq(cmd__lookup(&g, (const uint8_t *)"zzz", 3), 0);
	cr_assert_eq(cmd__lookup(&g, (const uint8_t *)"a", 1), 0);
	cr_assert_eq(cmd__lookup(&g, (const uint8_t *)"", 0), 0);
	cr_assert_eq(cmd__lookup(&g, (const uint8_t *)"sto", 3), 0);
	cr_assert_eq(cmd__lookup(&g, (const uint8_t *)"stopp", 5), 0);
	cr_assert_eq(cmd__lookup(&g, (const uint8_t *)"disiscrivermii", 14), 0);
	/* every 1..3-letter string: found exactly when it is in the table */
	for (int a = 'a'; a <= 'z'; a++)
		for (int b = 'a' - 1; b <= 'z'; b++)
			for (int c = 'a' - 1; c <= 'z'; c++) {
				uint8_t w[3] = {(uint8_t)a, (uint8_t)b, (uint8_t)c};
				size_t n = b < 'a' ? 1 : c < 'a' ? 2 : 3;
				if (b < 'a' && c >= 'a')
					continue;
				int want = 0;
				for (size_t i = 0; i < cmd__nvocab; i++)
					if (cmd__vocab[i].len == n && !memcmp(cmd__vocab[i].w, w, n))
						want = cmd__vocab[i].cls;
				cr_assert_eq(cmd__lookup(&g, w, n), want, "%.*s", (int)n, w);
			}
	struct cmd_grammar bad;
	cr_assert_neq(cmd_grammar_init(&bad, (const uint8_t *)"ON", 2), 0);
	cr_assert_eq(cmd__lookup(&bad, (const uint8_t *)"stop", 4), 0);
}

Test(cmd, every_vocabulary_word_does_what_its_class_says)
{
	struct cmd_grammar g = jesi();
	char b[64];
	for (size_t i = 0; i < cmd__nvocab; i++) {
		const struct cmd__word *w = &cmd__vocab[i];
		enum cmd_verb alone, with_kw, glued;
		switch (w->cls) {
		case CMD__ON: alone = CMD_NONE; with_kw = glued = CMD_ON; break;
		case CMD__OFF: alone = with_kw = glued = CMD_OFF; break;
		case CMD__HELP: alone = with_kw = glued = CMD_HELP; break;
		default: alone = CMD_NONE; with_kw = CMD_HELP; glued = CMD_NONE; break;
		}
		cr_expect_eq(verb_of(&g, w->w), alone, "%s", w->w);
		snprintf(b, sizeof b, "JESI %s", w->w);
		cr_expect_eq(verb_of(&g, b), with_kw, "%s", b);
		snprintf(b, sizeof b, "jesi%s", w->w);
		cr_expect_eq(verb_of(&g, b), glued, "%s", b);
		if (w->cls == CMD__FILLER) {
			snprintf(b, sizeof b, "%s STOP", w->w);
			cr_expect_eq(verb_of(&g, b), CMD_OFF, "%s", b);
		}
	}
}

Test(cmd, docs_list_every_vocabulary_word)
{
	const char *src = getenv("SRC_DIR");
	cr_assert(src, "SRC_DIR is set by CTest");
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/COMMANDS.md", src);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof doc - 1, f);
	fclose(f);
	doc[n] = 0;
	for (size_t i = 0; i < cmd__nvocab; i++) {
		char want[32];
		size_t k;
		want[0] = '`';
		for (k = 0; k < cmd__vocab[i].len; k++)
			want[k + 1] = (char)(cmd__vocab[i].w[k] - 32);
		want[k + 1] = '`';
		want[k + 2] = 0;
		cr_expect(strstr(doc, want), "docs/COMMANDS.md lists %s", want);
	}
}
