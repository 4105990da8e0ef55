/*
 * phone.c - parsing, packing and masking of E.164 numbers (see phone.h).
 *
 * The parser walks the input once with a length limit, never reads past
 * len, and allocates nothing: it is on the import and webhook paths.
 */
#include "phone.h"

#include "bnd.h"

int phone_parse(const uint8_t *p, size_t len, uint64_t *out)
{
	if (len > PHONE_MAX_INPUT)
		return BND_E_RANGE;
	size_t i = 0, end = len;
	while (i < end && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t' ||
	                   p[end - 1] == '\r' || p[end - 1] == '\n'))
		end--;
	if (i == end)
		return BND_E_PHONE_EMPTY;
	/* An opening parenthesis may come first: "(+39) 335 ...". */
	if (p[i] == '(' && i + 1 < end && (p[i + 1] == '+' || p[i + 1] == '0'))
		i++;
	if (p[i] == '+') {
		i++;
	} else if (end - i >= 2 && p[i] == '0' && p[i + 1] == '0') {
		i += 2;
	}
	uint64_t v = 0;
	int digits = 0;
	for (; i < end; i++) {
		uint8_t c = p[i];
		if (c >= '0' && c <= '9') {
			if (digits == 0 && c == '0')
				return BND_E_PHONE_ZERO;
			if (++digits > PHONE_MAX_DIGITS)
				return BND_E_PHONE_LENGTH;
			v = v * 10 + (uint64_t)(c - '0');
		} else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
			continue;
		} else if (c == 0xC2 && i + 1 < end && p[i + 1] == 0xA0) {
			i++;  /* U+00A0 no-break space, common in pasted numbers */
		} else {
			return BND_E_PHONE_CHAR;
		}
	}
	if (digits == 0)
		return BND_E_PHONE_EMPTY;
	if (digits < PHONE_MIN_DIGITS)
		return BND_E_PHONE_LENGTH;
	if (out)
		*out = v;
	return 0;
}

static int ndigits(uint64_t n)
{
	int d = 0;
	while (n) {
		n /= 10;
		d++;
	}
	return d;
}

/* A number has an allowed digit count iff it lies in
 * [10^(PHONE_MIN_DIGITS - 1), 10^PHONE_MAX_DIGITS): two compares instead of
 * a division loop (the fan-out validates every recipient when it writes and
 * when it checks recipients.bin, a million at a time). */
static const uint64_t pow10_tab[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};
_Static_assert(PHONE_MIN_DIGITS >= 1 && PHONE_MAX_DIGITS < 20, "pow10_tab bounds");

int phone_valid(uint64_t n)
{
	return n >= pow10_tab[PHONE_MIN_DIGITS - 1] && n < pow10_tab[PHONE_MAX_DIGITS];
}

size_t phone_format(uint64_t n, char *buf)
{
	if (!phone_valid(n)) {
		buf[0] = '\0';
		return 0;
	}
	int d = ndigits(n);
	buf[d] = '\0';
	for (int i = d - 1; i >= 0; i--) {
		buf[i] = (char)('0' + n % 10);
		n /= 10;
	}
	return (size_t)d;
}

size_t phone_mask(uint64_t n, char *buf)
{
	char digits[PHONE_STR_MAX];
	size_t d = phone_format(n, digits);
	if (d == 0) {
		buf[0] = '?';
		buf[1] = '\0';
		return 0;
	}
	/* Keep 5 leading and 3 trailing digits, but always hide at least 4. */
	size_t head = 5, tail = 3;
	while (head + tail + 4 > d) {
		if (head > tail)
			head--;
		else
			tail--;
	}
	for (size_t i = 0; i < d; i++)
		buf[i] = (i < head || i >= d - tail) ? digits[i] : '*';
	buf[d] = '\0';
	return d;
}
