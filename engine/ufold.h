/*
 * ufold.h - Unicode folding of typed text into words, for matching commands.
 *
 * "Folding" here is what makes "ＪＥＳＩ", "Jési", "JE\u200bSI" and "jesi"
 * the same word: NFKC compatibility mapping (full-width and styled letters,
 * ligatures, odd spaces), Unicode case folding, combining marks stripped
 * (accents) and default-ignorable code points dropped (zero-width space and
 * joiner, BOM, soft hyphen, variation selectors, bidi controls). It is done
 * with utf8proc, one code point at a time, into fixed buffers: nothing is
 * allocated, and the result equals utf8proc_map() with the same options (the
 * fuzz target checks that).
 *
 * Words are maximal runs of letters and digits after folding; everything
 * else (spaces of every kind, punctuation, quotes, symbols, emoji, controls,
 * unassigned and private-use code points, modifier letters such as U+02BC)
 * separates words. Words come out as folded UTF-8 bytes, in decomposed form
 * (NFKD + case fold): equality of these forms is equality under NFKC
 * folding, and with marks stripped no composition is ever needed.
 *
 * ASCII fast path: a byte below 0x80 folds through a 128-entry table
 * (ufold_ascii) that a unit test proves identical to the utf8proc path for
 * every ASCII code point. It can be switched off per iterator to measure it
 * and to compare both paths (tests, fuzzing, benchmark).
 */
#ifndef UFOLD_H
#define UFOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most code points one input code point folds into. Unicode 15 (utf8proc
 * 2.8) needs 18 (U+FDFA); a unit test scans every code point. */
#define UFOLD_MAX_EXPAND 32

/*
 * ufold_ascii - the ASCII fast path: for a byte c < 0x80, ufold_ascii[c] is
 * the folded letter or digit ('A' -> 'a', '7' -> '7'), or 0 when c is a
 * separator (space, punctuation, control, NUL).
 */
extern const uint8_t ufold_ascii[128];

/*
 * ufold_cp - fold one code point.
 *   cp   a Unicode scalar value (0..0x10FFFF, not a surrogate)
 *   dst  room for UFOLD_MAX_EXPAND code points
 * Returns how many code points were written (0: the code point is dropped,
 * as default-ignorables and marks are). A code point outside the range, or
 * (with future Unicode data) one folding into more than UFOLD_MAX_EXPAND
 * code points, folds into one U+0020 SPACE: a separator.
 */
int ufold_cp(int32_t cp, int32_t dst[UFOLD_MAX_EXPAND]);

/*
 * ufold_is_word - whether a folded code point belongs to a word: a letter
 * (general categories Lu, Ll, Lt, Lo) or a number (Nd, Nl, No). Modifier
 * letters (Lm) separate, so "l\u02bcauto" gives "l" and "auto".
 */
bool ufold_is_word(int32_t cp);

/*
 * struct ufold_iter - walks a text word by word. Embeddable; fields are
 * private. Holds a pointer to the text, which must outlive the iterator.
 */
struct ufold_iter {
	const uint8_t *p;
	size_t len;
	size_t pos;                          /* next byte to decode */
	int32_t pend[UFOLD_MAX_EXPAND];      /* folded code points not yet handed out */
	uint8_t npend;
	uint8_t ipend;
	bool slow;                           /* no ASCII fast path */
};

/*
 * ufold_iter_init - start walking p[0..len). p may be NULL when len is 0.
 * slow = true sends every byte through utf8proc (tests and benchmarks:
 * results are identical, only slower). Never fails.
 */
void ufold_iter_init(struct ufold_iter *it, const uint8_t *p, size_t len, bool slow);

/*
 * ufold_word - the next word.
 *   buf, cap  receives the folded UTF-8 bytes of the word, at most cap
 *             (bytes past cap are counted but dropped; buf may be NULL
 *             when cap is 0)
 *   wlen      receives the full folded length of the word in bytes: when
 *             it exceeds cap the word did not fit, and buf holds whole
 *             code points of its beginning (fewer than cap bytes may be
 *             written)
 * Returns 1 with a word, 0 when the text has no more words, or
 * BND_E_CMD_UTF8 when the bytes reached are not valid UTF-8 (overlong
 * forms, surrogates, values past U+10FFFF, truncated sequences are all
 * invalid). Reads only p[0..len).
 */
int ufold_word(struct ufold_iter *it, uint8_t *buf, size_t cap, size_t *wlen);

/*
 * ufold_check_rest - validate the bytes the iterator has not decoded yet,
 * without folding them. Returns 0 or BND_E_CMD_UTF8. The iterator is spent
 * afterwards (ufold_word returns 0).
 */
int ufold_check_rest(struct ufold_iter *it);

#endif
