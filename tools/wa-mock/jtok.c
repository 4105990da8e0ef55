/*
 * jtok.c - strict bounded JSON tokenizer (see jtok.h).
 *
 * One pass over the bytes with an explicit stack of open containers, so
 * nesting depth costs no C stack and is bounded by JTOK_DEPTH. Tokens are
 * appended in document order; a container's `next` is set when it closes,
 * a scalar's at once, so skipping a subtree is one load.
 *
 * State machine (after skipping white space):
 *   VALUE          a value must come
 *   VALUE_OR_END   just after '[': a value or ']'
 *   KEY_OR_END     just after '{': a member name or '}'
 *   KEY            after ',' in an object: a member name
 *   COLON          after a member name
 *   COMMA_OR_END   after a value inside a container: ',' or the closer
 *   DONE           the root value is complete: only white space may follow
 *
 * Strings are checked completely here (escapes, surrogate pairs, UTF-8
 * through utf8proc, no controls, no \u0000), so the decoders below can
 * trust the bytes and need no error paths of their own.
 */
#include "jtok.h"

#include <string.h>
#include <utf8proc.h>

#include "bnd.h"

enum state { VALUE, VALUE_OR_END, KEY_OR_END, KEY, COLON, COMMA_OR_END, DONE };

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p[0..4) (caller checked 4 bytes exist), or -1. */
static long hex4(const uint8_t *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Scan a string whose opening quote is at p[*i - 1]; on success *i is past
 * the closing quote. Returns 0 or -1. */
static int scan_string(const uint8_t *p, size_t len, size_t *i, int *escaped)
{
	size_t k = *i;
	*escaped = 0;
	while (k < len) {
		uint8_t c = p[k];
		if (c == '"') {
			*i = k + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			*escaped = 1;
			if (k + 1 >= len)
				return -1;
			uint8_t e = p[k + 1];
			if (e == 'u') {
				if (k + 6 > len)
					return -1;
				long u = hex4(p + k + 2);
				if (u <= 0)  /* invalid hex, or \u0000 */
					return -1;
				k += 6;
				if (u >= 0xDC00 && u <= 0xDFFF)
					return -1;  /* a low surrogate alone */
				if (u >= 0xD800 && u <= 0xDBFF) {
					if (k + 6 > len || p[k] != '\\' || p[k + 1] != 'u')
						return -1;
					long lo = hex4(p + k + 2);
					if (lo < 0xDC00 || lo > 0xDFFF)
						return -1;
					k += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == 0)
				return -1;
			k += 2;
			continue;
		}
		if (c >= 0x80) {
			utf8proc_int32_t cp;
			utf8proc_ssize_t n = utf8proc_iterate(p + k, (utf8proc_ssize_t)(len - k), &cp);
			if (n <= 0)
				return -1;  /* invalid, overlong, surrogate or truncated */
			k += (size_t)n;
			continue;
		}
		k++;
	}
	return -1;
}

/* Fill t with the string whose opening quote is at p[*i]; *i moves past
 * the closing quote. Returns 0 or -1. */
static int string_token(struct jtok *t, const uint8_t *p, size_t len, size_t *i)
{
	int esc;
	size_t k = *i + 1;
	t->type = JTOK_STRING;
	t->start = (uint32_t)k;
	if (scan_string(p, len, &k, &esc) != 0) {
		*i = k;
		return -1;
	}
	t->escaped = (uint8_t)esc;
	t->len = (uint32_t)(k - 1 - t->start);
	*i = k;
	return 0;
}

static int scan_number(const uint8_t *p, size_t len, size_t *i)
{
	size_t k = *i;
	if (k < len && p[k] == '-')
		k++;
	if (k >= len)
		return -1;
	if (p[k] == '0') {
		k++;
	} else if (p[k] >= '1' && p[k] <= '9') {
		while (k < len && p[k] >= '0' && p[k] <= '9')
			k++;
	} else {
		return -1;
	}
	if (k < len && p[k] == '.') {
		k++;
		if (k >= len || p[k] < '0' || p[k] > '9')
			return -1;
		while (k < len && p[k] >= '0' && p[k] <= '9')
			k++;
	}
	if (k < len && (p[k] == 'e' || p[k] == 'E')) {
		k++;
		if (k < len && (p[k] == '+' || p[k] == '-'))
			k++;
		if (k >= len || p[k] < '0' || p[k] > '9')
			return -1;
		while (k < len && p[k] >= '0' && p[k] <= '9')
			k++;
	}
	*i = k;
	return 0;
}

int jtok_parse(struct jdoc *d, const uint8_t *p, size_t len)
{
	uint32_t stack[JTOK_DEPTH];
	int sp = 0;
	size_t i = 0;
	enum state st = VALUE;
	d->p = p;
	d->len = len;
	d->n = 0;
	d->err_at = 0;
	if (len > UINT32_MAX)
		return BND_E_RANGE;
	for (;;) {
		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
			i++;
		if (st == DONE) {
			if (i != len)
				goto bad;
			return 0;
		}
		if (i >= len)
			goto bad;
		uint8_t c = p[i];

		if (st == COLON) {
			if (c != ':')
				goto bad;
			i++;
			st = VALUE;
			continue;
		}
		if (st == COMMA_OR_END) {
			struct jtok *top = &d->t[stack[sp - 1]];
			if (c == ',') {
				i++;
				st = top->type == JTOK_OBJECT ? KEY : VALUE;
				continue;
			}
			if (c != (top->type == JTOK_OBJECT ? '}' : ']'))
				goto bad;
			goto close;
		}
		if ((st == VALUE_OR_END && c == ']') || (st == KEY_OR_END && c == '}'))
			goto close;

		/* A new token: a member name or a value. */
		if (d->n >= JTOK_MAX) {
			d->err_at = i;
			return BND_E_RANGE;
		}
		uint32_t k = d->n++;
		struct jtok *t = &d->t[k];
		memset(t, 0, sizeof *t);
		t->start = (uint32_t)i;
		if (st == KEY || st == KEY_OR_END) {
			if (c != '"' || string_token(t, p, len, &i) != 0)
				goto bad;
			t->next = d->n;
			d->t[stack[sp - 1]].count++;
			st = COLON;
			continue;
		}
		/* st is VALUE or VALUE_OR_END */
		if (sp > 0 && d->t[stack[sp - 1]].type == JTOK_ARRAY)
			d->t[stack[sp - 1]].count++;
		if (c == '{' || c == '[') {
			if (sp >= JTOK_DEPTH) {
				d->err_at = i;
				return BND_E_RANGE;
			}
			t->type = c == '{' ? JTOK_OBJECT : JTOK_ARRAY;
			stack[sp++] = k;
			i++;
			st = c == '{' ? KEY_OR_END : VALUE_OR_END;
			continue;
		}
		if (c == '"') {
			if (string_token(t, p, len, &i) != 0)
				goto bad;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			t->type = JTOK_NUMBER;
			if (scan_number(p, len, &i) != 0)
				goto bad;
			t->len = (uint32_t)(i - t->start);
		} else if (len - i >= 4 && memcmp(p + i, "true", 4) == 0) {
			t->type = JTOK_TRUE;
			i += 4;
			t->len = 4;
		} else if (len - i >= 5 && memcmp(p + i, "false", 5) == 0) {
			t->type = JTOK_FALSE;
			i += 5;
			t->len = 5;
		} else if (len - i >= 4 && memcmp(p + i, "null", 4) == 0) {
			t->type = JTOK_NULL;
			i += 4;
			t->len = 4;
		} else {
			goto bad;
		}
		t->next = d->n;
		st = sp == 0 ? DONE : COMMA_OR_END;
		continue;
close:
		i++;
		{
			struct jtok *ct = &d->t[stack[--sp]];
			ct->next = d->n;
			ct->len = (uint32_t)(i - ct->start);
		}
		st = sp == 0 ? DONE : COMMA_OR_END;
	}
bad:
	d->err_at = i;
	return BND_E_WAMOCK_JSON;
}

enum jtok_type jtok_type_of(const struct jdoc *d, uint32_t i)
{
	return (enum jtok_type)d->t[i].type;
}

uint32_t jtok_count(const struct jdoc *d, uint32_t i)
{
	if (i >= d->n)
		return 0;
	uint8_t ty = d->t[i].type;
	return ty == JTOK_OBJECT || ty == JTOK_ARRAY ? d->t[i].count : 0;
}

/* Decode the string token t into out (if not NULL) and count code points.
 * The bytes were validated by the parser. Returns the decoded byte length;
 * writes at most cap bytes (the caller checks). */
static size_t decode(const struct jdoc *d, const struct jtok *t, char *out, size_t cap,
                     size_t *chars)
{
	const uint8_t *p = d->p + t->start;
	size_t n = t->len, o = 0, ch = 0;
	for (size_t k = 0; k < n;) {
		uint8_t c = p[k];
		uint32_t cp;
		uint8_t enc[4];
		size_t el;
		if (c != '\\') {
			/* copy one UTF-8 sequence (or ASCII byte) verbatim */
			size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
			if (out && o + l <= cap)
				memcpy(out + o, p + k, l);
			o += l;
			k += l;
			ch++;
			continue;
		}
		uint8_t e = p[k + 1];
		if (e == 'u') {
			cp = (uint32_t)hex4(p + k + 2);
			k += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				uint32_t lo = (uint32_t)hex4(p + k + 2);
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				k += 6;
			}
		} else {
			switch (e) {
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			default: cp = e; break;   /* '"', '\\', '/' */
			}
			k += 2;
		}
		if (cp < 0x80) {
			enc[0] = (uint8_t)cp;
			el = 1;
		} else if (cp < 0x800) {
			enc[0] = (uint8_t)(0xC0 | (cp >> 6));
			enc[1] = (uint8_t)(0x80 | (cp & 0x3F));
			el = 2;
		} else if (cp < 0x10000) {
			enc[0] = (uint8_t)(0xE0 | (cp >> 12));
			enc[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			enc[2] = (uint8_t)(0x80 | (cp & 0x3F));
			el = 3;
		} else {
			enc[0] = (uint8_t)(0xF0 | (cp >> 18));
			enc[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
			enc[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			enc[3] = (uint8_t)(0x80 | (cp & 0x3F));
			el = 4;
		}
		if (out && o + el <= cap)
			memcpy(out + o, enc, el);
		o += el;
		ch++;
	}
	if (chars)
		*chars = ch;
	return o;
}

long jtok_string(const struct jdoc *d, uint32_t i, char *buf, size_t cap)
{
	if (i >= d->n || d->t[i].type != JTOK_STRING || cap == 0)
		return -1;
	const struct jtok *t = &d->t[i];
	if (!t->escaped) {
		if ((size_t)t->len + 1 > cap)
			return -1;
		memcpy(buf, d->p + t->start, t->len);
		buf[t->len] = '\0';
		return (long)t->len;
	}
	size_t n = decode(d, t, buf, cap - 1, NULL);
	if (n + 1 > cap)
		return -1;
	buf[n] = '\0';
	return (long)n;
}

long jtok_chars(const struct jdoc *d, uint32_t i)
{
	if (i >= d->n || d->t[i].type != JTOK_STRING)
		return -1;
	size_t ch = 0;
	decode(d, &d->t[i], NULL, 0, &ch);
	return (long)ch;
}

static int bytes_eq(const char *a, const char *b, size_t n, int nocase)
{
	if (!nocase)
		return memcmp(a, b, n) == 0;
	for (size_t k = 0; k < n; k++) {
		char x = a[k], y = b[k];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

int jtok_str_eq(const struct jdoc *d, uint32_t i, const char *s, int nocase)
{
	if (i >= d->n || d->t[i].type != JTOK_STRING)
		return 0;
	const struct jtok *t = &d->t[i];
	size_t sl = strlen(s);
	if (!t->escaped)
		return t->len == sl && bytes_eq((const char *)d->p + t->start, s, sl, nocase);
	char buf[256];
	long n = jtok_string(d, i, buf, sizeof buf);
	return n >= 0 && (size_t)n == sl && bytes_eq(buf, s, sl, nocase);
}

int32_t jtok_member(const struct jdoc *d, uint32_t obj, const char *key)
{
	if (obj >= d->n || d->t[obj].type != JTOK_OBJECT)
		return -1;
	uint32_t k = obj + 1;
	for (uint32_t m = 0; m < d->t[obj].count; m++) {
		uint32_t v = k + 1;
		if (jtok_str_eq(d, k, key, 0))
			return (int32_t)v;
		k = d->t[v].next;
	}
	return -1;
}

int32_t jtok_elem(const struct jdoc *d, uint32_t arr, uint32_t k)
{
	if (arr >= d->n || d->t[arr].type != JTOK_ARRAY || k >= d->t[arr].count)
		return -1;
	uint32_t i = arr + 1;
	for (uint32_t m = 0; m < k; m++)
		i = d->t[i].next;
	return (int32_t)i;
}
