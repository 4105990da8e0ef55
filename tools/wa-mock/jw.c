/*
 * jw.c - bounded JSON text writer (see jw.h).
 *
 * Why not jansson's json_dumps: the mock answers tens of thousands of
 * requests a second and each answer is a fixed shape with two or three
 * strings in it; building a json_t tree per answer costs allocations for
 * nothing. Strings that came from a client (the `to` echo, a template name,
 * biz_opaque_callback_data) always pass through jw_str, which escapes them.
 *
 * JW_META reproduces what the reference (§4.2, §6) says Meta's webhook
 * bodies look like: ASCII only, non-ASCII code points as lowercase \uXXXX,
 * '/' as "\/". A receiver that re-serialises before hashing breaks on
 * exactly these bytes, which is the point of sending them.
 */
#include "jw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

void jw_init(struct jw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->overflow = 0;
	if (cap)
		buf[0] = '\0';
}

void jw_raw(struct jw *w, const char *s, size_t len)
{
	if (w->overflow)
		return;
	if (len >= w->cap - w->len) {  /* keep one byte for the NUL */
		w->overflow = 1;
		return;
	}
	memcpy(w->buf + w->len, s, len);
	w->len += len;
	w->buf[w->len] = '\0';
}

void jw_lit(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}

static void put_u16(struct jw *w, unsigned cp)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = {'\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15],
	             hex[(cp >> 4) & 15], hex[cp & 15]};
	jw_raw(w, e, 6);
}

/* Decode one UTF-8 sequence at p[0..len); returns its length (>= 1) and the
 * code point, or 1 and U+FFFD for an invalid or truncated sequence. */
static size_t utf8_next(const uint8_t *p, size_t len, unsigned *cp)
{
	utf8proc_int32_t v;
	utf8proc_ssize_t n = utf8proc_iterate(p, (utf8proc_ssize_t)len, &v);
	if (n <= 0) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = (unsigned)v;
	return (size_t)n;
}

void jw_str(struct jw *w, const uint8_t *p, size_t len, enum jw_mode mode)
{
	jw_raw(w, "\"", 1);
	size_t run = 0;  /* start of the pending run of bytes copied verbatim */
	size_t i = 0;
	while (i < len && !w->overflow) {
		uint8_t c = p[i];
		const char *esc = NULL;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '/': if (mode == JW_META) esc = "\\/"; break;
		default: break;
		}
		if (!esc && c >= 0x20 && (c < 0x80 || mode == JW_UTF8)) {
			i++;
			continue;
		}
		jw_raw(w, (const char *)p + run, i - run);
		if (esc) {
			jw_lit(w, esc);
			i++;
		} else if (c < 0x20) {
			put_u16(w, c);
			i++;
		} else {
			unsigned cp;
			i += utf8_next(p + i, len - i, &cp);
			if (cp >= 0x10000) {
				cp -= 0x10000;
				put_u16(w, 0xD800 + (cp >> 10));
				put_u16(w, 0xDC00 + (cp & 0x3FF));
			} else {
				put_u16(w, cp);
			}
		}
		run = i;
	}
	jw_raw(w, (const char *)p + run, i - run);
	jw_raw(w, "\"", 1);
}

void jw_u64(struct jw *w, uint64_t v)
{
	char b[24];
	size_t n = 0;
	do {
		b[sizeof b - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jw_raw(w, b + sizeof b - n, n);
}

void jw_i64(struct jw *w, int64_t v)
{
	if (v < 0) {
		jw_raw(w, "-", 1);
		jw_u64(w, (uint64_t)0 - (uint64_t)v);
	} else {
		jw_u64(w, (uint64_t)v);
	}
}

void jw_f64(struct jw *w, double v)
{
	if (!isfinite(v))
		v = 0.0;
	char b[32];
	int n = snprintf(b, sizeof b, "%.6g", v);
	jw_raw(w, b, (size_t)n);
}

size_t jw_len(const struct jw *w)
{
	return w->overflow ? 0 : w->len;
}

int jw_ok(const struct jw *w)
{
	return !w->overflow;
}
