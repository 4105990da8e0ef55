/*
 * ufold.c - folding typed text into words with utf8proc (see ufold.h).
 *
 * Why one code point at a time: utf8proc_decompose() wants an output buffer
 * for the whole text, and utf8proc_map() allocates one. A text of 4 KiB can
 * expand eighteen-fold under NFKD, too much for a stack buffer, so we call
 * utf8proc_decompose_char() per code point into a 32-entry buffer instead.
 * That is exactly what utf8proc_decompose() does inside, minus the
 * canonical reordering of combining marks: with UTF8PROC_STRIPMARK every
 * code point of non-zero combining class is a mark (Mn/Mc; checked over all
 * of Unicode by a unit test) and is removed, so there is nothing to reorder.
 * The fuzz target compares words against utf8proc_map() with the same
 * options on every input.
 *
 * Invariants: pos only grows and never passes len; utf8proc_iterate gets the
 * remaining length, so no read passes len; pend holds at most
 * UFOLD_MAX_EXPAND code points and ipend <= npend.
 */
#include "ufold.h"

#include <string.h>
#include <utf8proc.h>

#include "bnd.h"

/* NFKD + case fold + marks stripped + default-ignorables dropped. */
#define FOLD_OPTS ((utf8proc_option_t)(UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | \
	UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_STRIPMARK))

#define A(c) [c] = c
#define U(c) [c] = (c) + ('a' - 'A')
const uint8_t ufold_ascii[128] = {
	A('0'), A('1'), A('2'), A('3'), A('4'), A('5'), A('6'), A('7'), A('8'), A('9'),
	U('A'), U('B'), U('C'), U('D'), U('E'), U('F'), U('G'), U('H'), U('I'),
	U('J'), U('K'), U('L'), U('M'), U('N'), U('O'), U('P'), U('Q'), U('R'),
	U('S'), U('T'), U('U'), U('V'), U('W'), U('X'), U('Y'), U('Z'),
	A('a'), A('b'), A('c'), A('d'), A('e'), A('f'), A('g'), A('h'), A('i'),
	A('j'), A('k'), A('l'), A('m'), A('n'), A('o'), A('p'), A('q'), A('r'),
	A('s'), A('t'), A('u'), A('v'), A('w'), A('x'), A('y'), A('z'),
};
#undef A
#undef U

int ufold_cp(int32_t cp, int32_t dst[UFOLD_MAX_EXPAND])
{
	if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		dst[0] = 0x20;
		return 1;
	}
	int boundclass = 0;  /* used only with UTF8PROC_CHARBOUND */
	utf8proc_ssize_t n = utf8proc_decompose_char(cp, dst, UFOLD_MAX_EXPAND,
	                                             FOLD_OPTS, &boundclass);
	if (n < 0 || n > UFOLD_MAX_EXPAND) {
		dst[0] = 0x20;
		return 1;
	}
	return (int)n;
}

bool ufold_is_word(int32_t cp)
{
	if (cp < 0x80)
		return cp >= 0 && ufold_ascii[cp] != 0;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		return true;
	default:
		return false;
	}
}

void ufold_iter_init(struct ufold_iter *it, const uint8_t *p, size_t len, bool slow)
{
	it->p = p;
	it->len = p ? len : 0;
	it->pos = 0;
	it->npend = 0;
	it->ipend = 0;
	it->slow = slow;
}

/* Append one folded word code point, counting bytes that do not fit. */
static void put_cp(int32_t cp, uint8_t *buf, size_t cap, size_t *n)
{
	uint8_t tmp[4];
	size_t k;
	if (cp < 0x80) {
		if (*n < cap)
			buf[*n] = (uint8_t)cp;
		(*n)++;
		return;
	}
	k = (size_t)utf8proc_encode_char(cp, tmp);
	if (*n + k <= cap)
		memcpy(buf + *n, tmp, k);  /* whole code points only */
	*n += k;
}

int ufold_word(struct ufold_iter *it, uint8_t *buf, size_t cap, size_t *wlen)
{
	size_t n = 0;
	bool in_word = false;

	for (;;) {
		int32_t cp;
		if (it->ipend < it->npend) {
			cp = it->pend[it->ipend++];
			if (ufold_is_word(cp)) {
				put_cp(cp, buf, cap, &n);
				in_word = true;
			} else if (in_word) {
				break;
			}
			continue;
		}
		if (!it->slow) {
			/* ASCII run, with the cursor in locals: buf may alias
			 * anything, so fields would be reloaded after each store. */
			const uint8_t *p = it->p;
			size_t pos = it->pos, len = it->len;
			while (pos < len && p[pos] < 0x80) {
				uint8_t f = ufold_ascii[p[pos++]];
				if (f) {
					if (n < cap)
						buf[n] = f;
					n++;
					in_word = true;
				} else if (in_word) {
					it->pos = pos;
					goto done;
				}
			}
			it->pos = pos;
		}
		if (it->pos >= it->len)
			break;
		utf8proc_ssize_t r = utf8proc_iterate(it->p + it->pos,
		                                      (utf8proc_ssize_t)(it->len - it->pos), &cp);
		if (r <= 0)
			return BND_E_CMD_UTF8;
		it->pos += (size_t)r;
		it->npend = (uint8_t)ufold_cp(cp, it->pend);
		it->ipend = 0;
	}
done:
	*wlen = n;
	return in_word ? 1 : 0;
}

int ufold_check_rest(struct ufold_iter *it)
{
	const uint8_t *p = it->p;
	size_t i = it->pos, len = it->len;

	it->npend = it->ipend = 0;
	while (i < len) {
		/* Skip ASCII eight bytes at a time: chat text is mostly ASCII. */
		while (len - i >= 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		int32_t cp;
		utf8proc_ssize_t r = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (r <= 0) {
			it->pos = len;
			return BND_E_CMD_UTF8;
		}
		i += (size_t)r;
	}
	it->pos = len;
	return 0;
}
