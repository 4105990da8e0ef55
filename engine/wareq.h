/*
 * wareq.h - WhatsApp Cloud API request bodies (POST /{version}/{phone-number-
 * id}/messages), built by hand into a reusable buffer: this runs once per
 * recipient on the fan-out's hot path, so no JSON library and no allocation
 * once the buffer has grown to its working size.
 *
 * Escaping policy (tests/unit/test_wareq.c proves it with jansson over
 * random byte strings): '"' and '\\' are escaped; control characters
 * U+0000..U+001F become \b \f \n \r \t or \u00XX; everything else valid
 * is copied as UTF-8 (including U+2028/9, DEL, emoji). Invalid UTF-8 (stray
 * continuation bytes, overlong forms, surrogates, > U+10FFFF, truncated
 * sequences) is REPLACED: each maximal invalid subpart becomes one U+FFFD,
 * as Unicode recommends and browsers do, so a notice with one bad byte
 * still goes out readable. Callers that prefer to refuse pass
 * WAREQ_STRICT_UTF8 and get BND_E_WA_UTF8. Validate notice text once at
 * creation with wareq_utf8_check to tell the operator early.
 */
#ifndef WAREQ_H
#define WAREQ_H

#include <stddef.h>
#include <stdint.h>

#define WAREQ_STRING_MAX 65536u  /* bytes of one text or parameter (API: 4,096 chars) */
#define WAREQ_TAG_MAX 512u       /* biz_opaque_callback_data (one SDK's stated cap) */
#define WAREQ_NAME_MAX 512u      /* template name, language code */
#define WAREQ_PARAMS_MAX 32u     /* body parameters of a template */

#define WAREQ_STRICT_UTF8 1u     /* refuse invalid UTF-8 instead of replacing it */

/* A growable byte buffer; visible for embedding, fields private. */
struct wareq_buf {
	uint8_t *p;
	size_t len, cap;
};

enum wa_msg_kind {
	WA_MSG_TEMPLATE = 1,  /* approved template; the notice text as a body parameter */
	WA_MSG_TEXT = 2,      /* free-form text: only inside the 24-hour window (welcome) */
};

struct wa_bytes {
	const uint8_t *p;
	size_t len;
};

/* One message. All pointers are borrowed for the duration of the call. */
struct wa_msg {
	enum wa_msg_kind kind;
	uint64_t to;                 /* packed number (phone.h); sent as "+" digits */
	struct wa_bytes tag;         /* biz_opaque_callback_data; len 0 = omitted */
	/* WA_MSG_TEXT */
	struct wa_bytes text;
	int preview_url;
	/* WA_MSG_TEMPLATE */
	struct wa_bytes tmpl_name;
	struct wa_bytes lang;        /* language.code, e.g. "it" */
	const struct wa_bytes *params;  /* positional body parameters {{1}}.. */
	size_t nparams;
};

/* wareq_buf_free - release the buffer; it is reusable (empty) afterwards. */
void wareq_buf_free(struct wareq_buf *b);

/*
 * wareq_build - replace b's content with the JSON body of m.
 * Returns the number of invalid UTF-8 subparts replaced (0 normally), or
 * BND_E_INVAL (kind unknown, invalid `to`, empty template name/lang or
 * text, params NULL with nparams > 0), BND_E_RANGE (a string or the
 * parameter count over its maximum), BND_E_WA_UTF8 (WAREQ_STRICT_UTF8 and
 * invalid UTF-8), BND_E_NOMEM. On error b's content is unspecified.
 */
int wareq_build(struct wareq_buf *b, const struct wa_msg *m, unsigned flags);

/*
 * wareq_escape - append p[0..len) as the inside of a JSON string (no quotes)
 * following the policy above. Returns replacements (>= 0) or BND_E_WA_UTF8 /
 * BND_E_NOMEM.
 */
int wareq_escape(struct wareq_buf *b, const uint8_t *p, size_t len, unsigned flags);

/*
 * wareq_utf8_check - 0 when p[0..len) is valid UTF-8, else the byte offset
 * of the first invalid sequence plus 1. Pure.
 */
size_t wareq_utf8_check(const uint8_t *p, size_t len);

#endif
