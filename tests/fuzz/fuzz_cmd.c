/*
 * fuzz_cmd.c - libFuzzer target for the command parser (engine/cmd.c) and
 * its folding (engine/ufold.c). Also linked with tests/fuzz/replay_main.c to
 * replay corpus/cmd and regress/cmd in every ctest run.
 *
 * Beyond "no crash, no sanitizer report", every input must satisfy these
 * invariants (a violation aborts, so libFuzzer saves the input):
 *   1. deterministic: parsing twice gives the same answer;
 *   2. the ASCII fast path and the utf8proc-only path give the same answer;
 *   3. ufold's words equal the words of utf8proc_map() (the allocating
 *      whole-string API) with the same options, and both agree on whether
 *      the text is valid UTF-8 (differential check of the folding);
 *   4. appending or prepending a space, or swapping the case of ASCII
 *      letters, changes nothing;
 *   5. with the default keyword, appending an ordinary word to a valid
 *      text gives CMD_NONE (with a fuzzed keyword the "ordinary" word may
 *      be the keyword or a piece of it: regress/cmd/crash-d0268c75…);
 *   6. a verb is only reported for valid input, and flags are clear on
 *      errors and on CMD_NONE from ordinary text.
 * Inputs containing a 0x01 byte are split there: the bytes before are a
 * keyword for cmd_grammar_init, the bytes after are the message (fuzzing
 * the keyword path too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bnd.h"
#include "cmd.h"
#include "ufold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "fuzz_cmd: invariant failed at line %d: %s\n", __LINE__, #c); \
		abort(); \
	} \
} while (0)

struct answer {
	int rc;
	struct cmd_result r;
};

static struct answer ask(const struct cmd_grammar *g, const uint8_t *p, size_t n)
{
	struct answer a;
	memset(&a, 0, sizeof a);
	a.rc = cmd_parse(g, p, n, &a.r);
	return a;
}

static int same(struct answer a, struct answer b)
{
	return a.rc == b.rc && a.r.verb == b.r.verb && a.r.keyword == b.r.keyword &&
	       a.r.bare_on == b.r.bare_on;
}

#define FOLD_OPTS ((utf8proc_option_t)(UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | \
	UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_STRIPMARK))

/* Up to 18 code points per input code point, 4 bytes each, plus '|'. */
static uint8_t ref[CMD_MAX_INPUT * 80], mine[CMD_MAX_INPUT * 80];

/* Words of p joined by '|': by utf8proc_map (ref) and by ufold (mine).
 * Returns -1 if the two disagree on validity, else 1 if the words differ,
 * else 0. */
static int words_differ(const uint8_t *p, size_t n, bool slow)
{
	uint8_t *m = NULL;
	utf8proc_ssize_t mn = utf8proc_map(p, (utf8proc_ssize_t)n, &m, FOLD_OPTS);
	size_t rn = 0, yn = 0;
	bool in = false;
	for (utf8proc_ssize_t i = 0; mn > 0 && i < mn;) {
		int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(m + i, mn - i, &cp);
		CHECK(k > 0);
		if (ufold_is_word(cp)) {
			memcpy(ref + rn, m + i, (size_t)k);
			rn += (size_t)k;
			in = true;
		} else if (in) {
			ref[rn++] = '|';
			in = false;
		}
		i += k;
	}
	if (in)
		ref[rn++] = '|';
	free(m);

	struct ufold_iter it;
	size_t wl;
	int rc;
	ufold_iter_init(&it, p, n, slow);
	while ((rc = ufold_word(&it, mine + yn, sizeof mine - yn - 1, &wl)) == 1) {
		CHECK(yn + wl < sizeof mine);
		yn += wl;
		mine[yn++] = '|';
	}
	if ((rc < 0) != (mn < 0))
		return -1;
	if (rc < 0)
		return 0;
	return rn != yn || memcmp(ref, mine, rn) != 0;
}

static void check_message(const struct cmd_grammar *g, const struct cmd_grammar *slow,
                          const uint8_t *p, size_t n, bool default_kw)
{
	static uint8_t buf[CMD_MAX_INPUT + 64];
	struct answer a = ask(g, p, n);

	/* 1, 2 */
	CHECK(same(a, ask(g, p, n)));
	CHECK(same(a, ask(slow, p, n)));
	/* 6 */
	CHECK(a.rc == 0 || a.rc == BND_E_CMD_UTF8 || a.rc == BND_E_CMD_TOOLONG);
	if (a.rc)
		CHECK(a.r.verb == CMD_NONE && !a.r.keyword && !a.r.bare_on);
	CHECK(a.r.verb >= CMD_NONE && a.r.verb <= CMD_CONFLICT);
	CHECK(!(a.r.verb == CMD_ON && !a.r.keyword));
	if (n > CMD_MAX_INPUT) {
		CHECK(a.rc == BND_E_CMD_TOOLONG);
		return;
	}
	/* 3 */
	CHECK(words_differ(p, n, false) == 0);
	CHECK(words_differ(p, n, true) == 0);
	/* 4 */
	if (n + 1 <= CMD_MAX_INPUT) {
		memcpy(buf, p, n);
		buf[n] = ' ';
		CHECK(same(a, ask(g, buf, n + 1)));
		buf[0] = ' ';
		memcpy(buf + 1, p, n);
		CHECK(same(a, ask(g, buf, n + 1)));
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		buf[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) :
		         (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
	}
	CHECK(same(a, ask(g, buf, n)));
	/* 5 */
	if (default_kw && a.rc == 0 && n + 9 <= CMD_MAX_INPUT) {
		memcpy(buf, p, n);
		memcpy(buf + n, " traffico", 9);
		struct answer b = ask(g, buf, n + 9);
		CHECK(b.rc == 0 && b.r.verb == CMD_NONE && !b.r.keyword && !b.r.bare_on);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmd_grammar jesi, jesi_slow;
	static int ready;
	if (!ready) {
		if (cmd_grammar_init(&jesi, (const uint8_t *)"JESI", 4) != 0)
			abort();
		jesi_slow = jesi;
		cmd_grammar_set_slow(&jesi_slow, true);
		ready = 1;
	}
	check_message(&jesi, &jesi_slow, data, size, true);

	const uint8_t *split = memchr(data, 0x01, size);
	if (split) {
		struct cmd_grammar g, gs;
		size_t kn = (size_t)(split - data);
		int rc = cmd_grammar_init(&g, data, kn);
		CHECK(rc == 0 || rc == BND_E_CMD_KEYWORD || rc == BND_E_CMD_UTF8);
		gs = g;
		cmd_grammar_set_slow(&gs, true);
		check_message(&g, &gs, split + 1, size - kn - 1, false);
		if (rc == 0) {
			/* The keyword alone asks for help, keyword + ON subscribes. */
			static uint8_t kb[CMD_KEYWORD_INPUT_MAX + 8];
			memcpy(kb, data, kn);
			struct answer a = ask(&g, kb, kn);
			CHECK(a.rc == 0 && a.r.verb == CMD_HELP && a.r.keyword);
			memcpy(kb + kn, " ON", 3);
			a = ask(&g, kb, kn + 3);
			CHECK(a.rc == 0 && a.r.verb == CMD_ON);
		}
	}
	return 0;
}
