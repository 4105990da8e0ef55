/*
 * wareq.c - hand-built request JSON for the Cloud API (see wareq.h for the
 * escaping policy).
 *
 * Why by hand: one body per recipient, up to 1,000/s for hours; a JSON
 * library would build a tree, allocate per node and re-escape the same
 * notice text every time. Here the body is a few memcpy of constant
 * fragments plus one escaping pass whose inner loop copies runs of plain
 * ASCII with a 256-entry class table. The shape (templates, text) is fixed,
 * so the only thing that can go wrong is escaping, which the tests attack.
 *
 * UTF-8 decoding follows the Unicode table of well-formed byte sequences
 * (Unicode 15, table 3-7); an ill-formed sequence is consumed as its
 * "maximal subpart" (the longest prefix that could start a well-formed
 * sequence, at least one byte) and replaced by U+FFFD.
 */
#include "wareq.h"

#include <string.h>

#include "bnd.h"
#include "phone.h"

/* Byte classes: 0 copy as is, 1 escape, 2 start of a multi-byte sequence
 * (or an invalid byte). */
static const uint8_t cls[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,  /* '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

void wareq_buf_free(struct wareq_buf *b)
{
	bnd_free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int reserve(struct wareq_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 512;
	while (cap - b->len < more)
		cap *= 2;
	uint8_t *p = bnd_realloc(b->p, cap);
	if (!p)
		return BND_E_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int put(struct wareq_buf *b, const void *p, size_t n)
{
	int rc = reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

#define PUTS(b, s) put((b), (s), sizeof(s) - 1)

/*
 * seq_len - length of the well-formed UTF-8 sequence at p (n bytes left),
 * or 0 when ill-formed; then *bad gets the maximal subpart's length.
 */
static size_t seq_len(const uint8_t *p, size_t n, size_t *bad)
{
	uint8_t c = p[0];
	size_t need;
	uint8_t lo = 0x80, hi = 0xBF;  /* range of the second byte */
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;           /* no overlongs */
		else if (c == 0xED)
			hi = 0x9F;           /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;           /* <= U+10FFFF */
	} else {
		*bad = 1;                /* 80..C1, F5..FF */
		return 0;
	}
	size_t i = 1;
	if (i < n && p[i] >= lo && p[i] <= hi) {
		for (i = 2; i < need && i < n && p[i] >= 0x80 && p[i] <= 0xBF; i++)
			;
		if (i == need)
			return need;
	}
	*bad = i;
	return 0;
}

size_t wareq_utf8_check(const uint8_t *p, size_t len)
{
	size_t i = 0, bad;
	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = seq_len(p + i, len - i, &bad);
		if (!k)
			return i + 1;
		i += k;
	}
	return 0;
}

int wareq_escape(struct wareq_buf *b, const uint8_t *p, size_t len, unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	int replaced = 0, rc;
	/* Worst case 6 output bytes per input byte (\u00XX); reserving it once
	 * keeps the loop free of capacity checks. */
	if (len > WAREQ_STRING_MAX * 2u)
		return BND_E_RANGE;
	rc = reserve(b, len * 6 + 8);
	if (rc)
		return rc;
	uint8_t *o = b->p + b->len;
	size_t i = 0;
	while (i < len) {
		size_t run = i;
		while (run < len && !cls[p[run]])
			run++;
		memcpy(o, p + i, run - i);
		o += run - i;
		i = run;
		if (i >= len)
			break;
		uint8_t c = p[i];
		if (cls[c] == 1) {
			*o++ = '\\';
			switch (c) {
			case '"': *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = (uint8_t)hex[c >> 4];
				*o++ = (uint8_t)hex[c & 15];
			}
			i++;
			continue;
		}
		size_t bad = 0, k = seq_len(p + i, len - i, &bad);
		if (k) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		if (flags & WAREQ_STRICT_UTF8)
			return BND_E_WA_UTF8;
		*o++ = 0xEF;  /* U+FFFD: 3 bytes for >= 1 input byte, within budget */
		*o++ = 0xBF;
		*o++ = 0xBD;
		i += bad;
		replaced++;
	}
	b->len = (size_t)(o - b->p);
	return replaced;
}

static int put_string(struct wareq_buf *b, struct wa_bytes s, size_t max, unsigned flags,
                      int *replaced)
{
	if (s.len > max)
		return BND_E_RANGE;
	if (s.len && !s.p)
		return BND_E_INVAL;
	int rc = PUTS(b, "\"");
	if (rc)
		return rc;
	rc = wareq_escape(b, s.p, s.len, flags);
	if (rc < 0)
		return rc;
	*replaced += rc;
	return PUTS(b, "\"");
}

int wareq_build(struct wareq_buf *b, const struct wa_msg *m, unsigned flags)
{
	char digits[PHONE_STR_MAX];
	int rc, replaced = 0;
	if (!b || !m)
		return BND_E_INVAL;
	size_t nd = phone_format(m->to, digits);
	if (!nd)
		return BND_E_INVAL;
	b->len = 0;
	if ((rc = PUTS(b, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\",\"to\":\"+")) ||
	    (rc = put(b, digits, nd)))
		return rc;
	if (m->kind == WA_MSG_TEXT) {
		if (!m->text.len)
			return BND_E_INVAL;
		if ((rc = PUTS(b, "\",\"type\":\"text\",\"text\":{\"preview_url\":")) ||
		    (rc = m->preview_url ? PUTS(b, "true") : PUTS(b, "false")) ||
		    (rc = PUTS(b, ",\"body\":")) ||
		    (rc = put_string(b, m->text, WAREQ_STRING_MAX, flags, &replaced)) ||
		    (rc = PUTS(b, "}")))
			return rc;
	} else if (m->kind == WA_MSG_TEMPLATE) {
		if (!m->tmpl_name.len || !m->lang.len || (m->nparams && !m->params))
			return BND_E_INVAL;
		if (m->nparams > WAREQ_PARAMS_MAX)
			return BND_E_RANGE;
		if ((rc = PUTS(b, "\",\"type\":\"template\",\"template\":{\"name\":")) ||
		    (rc = put_string(b, m->tmpl_name, WAREQ_NAME_MAX, flags, &replaced)) ||
		    (rc = PUTS(b, ",\"language\":{\"code\":")) ||
		    (rc = put_string(b, m->lang, WAREQ_NAME_MAX, flags, &replaced)) ||
		    (rc = PUTS(b, "}")))
			return rc;
		if (m->nparams) {
			if ((rc = PUTS(b, ",\"components\":[{\"type\":\"body\",\"parameters\":[")))
				return rc;
			for (size_t i = 0; i < m->nparams; i++) {
				if ((i && (rc = PUTS(b, ","))) ||
				    (rc = PUTS(b, "{\"type\":\"text\",\"text\":")) ||
				    (rc = put_string(b, m->params[i], WAREQ_STRING_MAX, flags, &replaced)) ||
				    (rc = PUTS(b, "}")))
					return rc;
			}
			if ((rc = PUTS(b, "]}]")))
				return rc;
		}
		if ((rc = PUTS(b, "}")))
			return rc;
	} else {
		return BND_E_INVAL;
	}
	if (m->tag.len) {
		if ((rc = PUTS(b, ",\"biz_opaque_callback_data\":")) ||
		    (rc = put_string(b, m->tag, WAREQ_TAG_MAX, flags, &replaced)))
			return rc;
	}
	if ((rc = PUTS(b, "}")))
		return rc;
	return replaced;
}
