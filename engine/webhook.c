/*
 * webhook.c - signature check, verification handshake and body walk of
 * WhatsApp webhooks (see webhook.h for the contract, docs/WEBHOOK.md for
 * the shapes and how the server uses them).
 *
 * Design.
 * - The signature is HMAC-SHA256 over the raw bytes as received, computed
 *   with OpenSSL's one-shot HMAC() and compared with CRYPTO_memcmp after the
 *   header's hex is decoded. Decoding branches on the header's characters,
 *   which the sender chose; nothing branches on the secret or on the MAC.
 * - Parsing uses jansson (json_loadb): a mature parser that bounds nesting
 *   (JSON_PARSER_MAX_DEPTH, 2048), refuses invalid UTF-8 and numbers out of
 *   range, and gives string lengths so \u0000 inside a string is harmless
 *   (JSON_ALLOW_NUL). The body size is checked before the parser runs.
 * - The walk is defensive: every field is looked up and type-checked;
 *   an element of the wrong shape is skipped and counted, never fatal,
 *   because one batch mixes many citizens' messages and refusing it whole
 *   would drop every one of them (WhatsApp would redeliver it for days).
 * - A first pass counts the events so that a body over the limit is refused
 *   before any callback runs: the caller never sees half a body.
 * - Events point into the jansson tree (borrowed, valid during the callback);
 *   no copy is made on the hot path.
 *
 * Invariants: nothing here reads past len; no global state is written, so
 * any number of threads may verify and parse at once.
 */
#include "webhook.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "bnd.h"
#include "phone.h"

/* ------------------------------------------------------------------ */
/* Signature                                                           */

static int hmac_sha256(const uint8_t *secret, size_t slen, const uint8_t *body, size_t len,
                       uint8_t mac[32])
{
	static const uint8_t empty[1];
	unsigned int mlen = 0;
	if (slen == 0 || slen > 0x7fffffff)
		return BND_E_INVAL;
	if (!body)
		body = empty;   /* OpenSSL wants a pointer even for 0 bytes */
	if (!HMAC(EVP_sha256(), secret, (int)slen, body, len, mac, &mlen) || mlen != 32)
		return BND_E_NOMEM;
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;   /* fold to lower case; non-letters stay out of range */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int webhook_verify_signature(const uint8_t *secret, size_t slen, const uint8_t *body,
                             size_t len, const char *header_value)
{
	if (!header_value)
		return BND_E_WEBHOOK_SIG_MISSING;
	const char *p = header_value;
	while (is_ows(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_ows(p[n - 1]))
		n--;
	if (n == 0)
		return BND_E_WEBHOOK_SIG_MISSING;
	if (slen == 0 || !secret)
		return BND_E_INVAL;
	if (n != WEBHOOK_SIG_LEN || strncasecmp(p, WEBHOOK_SIG_PREFIX, 7) != 0)
		return BND_E_WEBHOOK_SIG_MALFORMED;
	uint8_t want[32];
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval((unsigned char)p[7 + 2 * i]);
		int lo = hexval((unsigned char)p[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return BND_E_WEBHOOK_SIG_MALFORMED;
		want[i] = (uint8_t)(hi << 4 | lo);
	}
	if (!body && len > 0)
		return BND_E_INVAL;
	uint8_t mac[32];
	int rc = hmac_sha256(secret, slen, body, len, mac);
	if (rc)
		return rc;
	rc = CRYPTO_memcmp(mac, want, sizeof mac) == 0 ? 0 : BND_E_WEBHOOK_SIG_MISMATCH;
	OPENSSL_cleanse(mac, sizeof mac);
	return rc;
}

int webhook_sign(const uint8_t *secret, size_t slen, const uint8_t *body, size_t len,
                 char out[WEBHOOK_SIG_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t mac[32];
	if (!secret || (!body && len > 0))
		return BND_E_INVAL;
	int rc = hmac_sha256(secret, slen, body, len, mac);
	if (rc)
		return rc;
	memcpy(out, WEBHOOK_SIG_PREFIX, 7);
	for (size_t i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[mac[i] >> 4];
		out[8 + 2 * i] = hex[mac[i] & 15];
	}
	out[WEBHOOK_SIG_LEN] = '\0';
	return 0;
}

int webhook_token_equal(const uint8_t *given, size_t given_len, const uint8_t *expected,
                        size_t expected_len)
{
	static const uint8_t empty[1];
	uint8_t a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	if (!expected || expected_len == 0)
		return 0;
	if (!given)
		given = empty, given_len = 0;
	/* Hashing both sides first makes the comparison independent of the
	 * lengths: CRYPTO_memcmp then sees two 32-byte strings. */
	if (!SHA256(given, given_len, a) || !SHA256(expected, expected_len, b))
		return 0;
	return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

int webhook_handshake(const char *mode, const char *token, const char *challenge,
                      const uint8_t *expected, size_t expected_len)
{
	int ok = 1;
	if (!mode || strcmp(mode, "subscribe") != 0)
		ok = 0;
	/* The token comparison runs whatever the mode said, so the answer's
	 * timing does not tell which check failed. */
	if (!webhook_token_equal((const uint8_t *)token, token ? strlen(token) : 0, expected,
	                         expected_len))
		ok = 0;
	if (!challenge)
		return BND_E_WEBHOOK_HANDSHAKE;
	size_t n = strnlen(challenge, WEBHOOK_CHALLENGE_MAX + 1);
	if (n == 0 || n > WEBHOOK_CHALLENGE_MAX)
		return BND_E_WEBHOOK_HANDSHAKE;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)challenge[i];
		if (c < 0x21 || c > 0x7e)
			return BND_E_WEBHOOK_HANDSHAKE;
	}
	return ok ? 0 : BND_E_WEBHOOK_HANDSHAKE;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */

static const char *const msg_type_names[] = {
	[WEBHOOK_MSG_OTHER] = "other",       [WEBHOOK_MSG_TEXT] = "text",
	[WEBHOOK_MSG_BUTTON] = "button",     [WEBHOOK_MSG_INTERACTIVE] = "interactive",
	[WEBHOOK_MSG_IMAGE] = "image",       [WEBHOOK_MSG_AUDIO] = "audio",
	[WEBHOOK_MSG_VIDEO] = "video",       [WEBHOOK_MSG_DOCUMENT] = "document",
	[WEBHOOK_MSG_STICKER] = "sticker",   [WEBHOOK_MSG_LOCATION] = "location",
	[WEBHOOK_MSG_CONTACTS] = "contacts", [WEBHOOK_MSG_REACTION] = "reaction",
	[WEBHOOK_MSG_ORDER] = "order",       [WEBHOOK_MSG_SYSTEM] = "system",
	[WEBHOOK_MSG_UNSUPPORTED] = "unsupported",
};
#define MSG_TYPE_COUNT (sizeof msg_type_names / sizeof msg_type_names[0])

static const char *const status_names[] = {
	[WEBHOOK_ST_OTHER] = "other",         [WEBHOOK_ST_SENT] = "sent",
	[WEBHOOK_ST_DELIVERED] = "delivered", [WEBHOOK_ST_READ] = "read",
	[WEBHOOK_ST_FAILED] = "failed",
};
#define STATUS_COUNT (sizeof status_names / sizeof status_names[0])

const char *webhook_msg_type_name(enum webhook_msg_type t)
{
	return (unsigned)t < MSG_TYPE_COUNT ? msg_type_names[t] : "other";
}

const char *webhook_status_name(enum webhook_status s)
{
	return (unsigned)s < STATUS_COUNT ? status_names[s] : "other";
}

static int bytes_eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static enum webhook_msg_type msg_type_of(const char *p, size_t n)
{
	for (unsigned i = 1; i < MSG_TYPE_COUNT; i++)
		if (bytes_eq(p, n, msg_type_names[i]))
			return (enum webhook_msg_type)i;
	return WEBHOOK_MSG_OTHER;
}

static enum webhook_status status_of(const char *p, size_t n)
{
	for (unsigned i = 1; i < STATUS_COUNT; i++)
		if (bytes_eq(p, n, status_names[i]))
			return (enum webhook_status)i;
	return WEBHOOK_ST_OTHER;
}

/* ------------------------------------------------------------------ */
/* Field helpers: each returns "usable or not" and never trusts a type.  */

/* The string at key, its length in *n; NULL when absent or not a string. */
static const char *str_at(json_t *obj, const char *key, size_t *n)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return NULL;
	*n = json_string_length(v);
	return json_string_value(v);
}

/* Decimal digits only, 1..20 of them, no overflow. */
static int parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* A non-negative integer given as a JSON string of digits or a number. */
static int uint_of(json_t *v, uint64_t *out)
{
	if (json_is_string(v))
		return parse_u64(json_string_value(v), json_string_length(v), out);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return -1;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* The negated comparison also refuses NaN. */
		if (!(d >= 0 && d < 18446744073709551616.0))
			return -1;
		*out = (uint64_t)d;
		return 0;
	}
	return -1;
}

/* Error codes are small positive integers; a digit string is tolerated. */
static int code_of(json_t *v, int64_t *out)
{
	uint64_t u;
	if (uint_of(v, &u) != 0 || u > INT64_MAX)
		return -1;
	*out = (int64_t)u;
	return 0;
}

/* Cut a UTF-8 string to at most max bytes without splitting a character. */
static size_t utf8_cut(const char *p, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t k = max;
	/* Back off over continuation bytes (10xxxxxx) to a character start:
	 * at most 3 for valid UTF-8, which jansson guarantees. */
	while (k > 0 && ((unsigned char)p[k] & 0xc0) == 0x80)
		k--;
	return k;
}

/* ------------------------------------------------------------------ */
/* The walk                                                            */

struct walk {
	webhook_event_fn fn;
	void *ud;
	struct webhook_parse_info *info;
	const uint8_t *pnid;
	size_t pnid_len;
};

static void skip(struct walk *w, uint32_t *reason)
{
	w->info->skipped++;
	(*reason)++;
}

static void event_init(const struct walk *w, struct webhook_event *ev,
                       enum webhook_ev_kind kind)
{
	memset(ev, 0, sizeof *ev);
	ev->kind = kind;
	ev->phone_number_id = w->pnid;
	ev->phone_number_id_len = w->pnid ? w->pnid_len : 0;
}

/* Message or status id: 1..WEBHOOK_ID_MAX bytes of string. */
static const char *id_of(json_t *o, size_t *n)
{
	const char *id = str_at(o, "id", n);
	if (!id || *n == 0 || *n > WEBHOOK_ID_MAX)
		return NULL;
	return id;
}

static void timestamp_of(struct walk *w, json_t *o, uint64_t *ts)
{
	if (uint_of(json_object_get(o, "timestamp"), ts) != 0) {
		*ts = 0;
		w->info->fields_defaulted++;
	}
}

static const char *title_of(json_t *o, const char *key, size_t *n)
{
	json_t *sub = json_object_get(o, key);
	if (!json_is_object(sub))
		return NULL;
	return str_at(sub, "title", n);
}

/* The words of a message: text.body, button.text, or the reply title. */
static const char *words_of(json_t *m, enum webhook_msg_type type, size_t *n)
{
	json_t *o;
	switch (type) {
	case WEBHOOK_MSG_TEXT:
		o = json_object_get(m, "text");
		return json_is_object(o) ? str_at(o, "body", n) : NULL;
	case WEBHOOK_MSG_BUTTON:
		o = json_object_get(m, "button");
		return json_is_object(o) ? str_at(o, "text", n) : NULL;
	case WEBHOOK_MSG_INTERACTIVE: {
		o = json_object_get(m, "interactive");
		if (!json_is_object(o))
			return NULL;
		size_t tn = 0;
		const char *t = str_at(o, "type", &tn);
		if (t && bytes_eq(t, tn, "list_reply"))
			return title_of(o, "list_reply", n);
		if (t && bytes_eq(t, tn, "button_reply"))
			return title_of(o, "button_reply", n);
		/* No or an unknown sub-type: take whichever reply is there. */
		const char *s = title_of(o, "button_reply", n);
		return s ? s : title_of(o, "list_reply", n);
	}
	default:
		return NULL;
	}
}

static int do_message(struct walk *w, json_t *m)
{
	struct webhook_event ev;
	size_t id_len = 0, from_len = 0, type_len = 0;
	if (!json_is_object(m)) {
		skip(w, &w->info->skipped_bad_shape);
		return 0;
	}
	const char *id = id_of(m, &id_len);
	if (!id) {
		skip(w, &w->info->skipped_bad_id);
		return 0;
	}
	uint64_t from = 0;
	const char *fs = str_at(m, "from", &from_len);
	if (!fs || phone_parse((const uint8_t *)fs, from_len, &from) != 0) {
		skip(w, &w->info->skipped_bad_from);
		return 0;
	}
	const char *type = str_at(m, "type", &type_len);
	if (!type || type_len == 0 || type_len > WEBHOOK_TYPE_MAX) {
		skip(w, &w->info->skipped_bad_shape);
		return 0;
	}
	event_init(w, &ev, WEBHOOK_EV_MESSAGE);
	ev.id = (const uint8_t *)id;
	ev.id_len = id_len;
	timestamp_of(w, m, &ev.timestamp);
	ev.msg.from = from;
	ev.msg.type = msg_type_of(type, type_len);
	ev.msg.type_name = (const uint8_t *)type;
	ev.msg.type_len = type_len;
	size_t tlen = 0;
	const char *text = words_of(m, ev.msg.type, &tlen);
	if (text) {
		size_t cut = utf8_cut(text, tlen, WEBHOOK_TEXT_MAX);
		ev.msg.text = (const uint8_t *)text;
		ev.msg.text_len = cut;
		ev.msg.text_truncated = cut != tlen;
	}
	w->info->messages++;
	return w->fn(&ev, w->ud);
}

static int do_status(struct walk *w, json_t *s)
{
	struct webhook_event ev;
	size_t id_len = 0, st_len = 0, n = 0;
	if (!json_is_object(s)) {
		skip(w, &w->info->skipped_bad_shape);
		return 0;
	}
	const char *id = id_of(s, &id_len);
	if (!id) {
		skip(w, &w->info->skipped_bad_id);
		return 0;
	}
	const char *st = str_at(s, "status", &st_len);
	if (!st || st_len == 0 || st_len > WEBHOOK_TYPE_MAX) {
		skip(w, &w->info->skipped_bad_shape);
		return 0;
	}
	event_init(w, &ev, WEBHOOK_EV_STATUS);
	ev.id = (const uint8_t *)id;
	ev.id_len = id_len;
	timestamp_of(w, s, &ev.timestamp);
	ev.st.status = status_of(st, st_len);
	ev.st.status_name = (const uint8_t *)st;
	ev.st.status_len = st_len;

	const char *rcpt = str_at(s, "recipient_id", &n);
	if (!rcpt || phone_parse((const uint8_t *)rcpt, n, &ev.st.recipient) != 0) {
		ev.st.recipient = 0;
		w->info->fields_defaulted++;
	}
	json_t *biz = json_object_get(s, "biz_opaque_callback_data");
	if (biz) {
		if (json_is_string(biz) && json_string_length(biz) <= WEBHOOK_BIZ_MAX) {
			ev.st.biz = (const uint8_t *)json_string_value(biz);
			ev.st.biz_len = json_string_length(biz);
		} else {
			w->info->fields_defaulted++;
		}
	}
	json_t *errs = json_object_get(s, "errors");
	if (json_is_array(errs) && json_array_size(errs) > 0) {
		size_t cnt = json_array_size(errs);
		ev.st.error_count = cnt > UINT32_MAX ? UINT32_MAX : (uint32_t)cnt;
		json_t *e0 = json_array_get(errs, 0);
		if (!json_is_object(e0) || code_of(json_object_get(e0, "code"), &ev.st.error_code)) {
			ev.st.error_code = 0;
			w->info->fields_defaulted++;
		}
	} else if (errs) {
		w->info->fields_defaulted++;
	}
	w->info->statuses++;
	return w->fn(&ev, w->ud);
}

static const uint8_t *note_of(json_t *o, const char *key, size_t *n)
{
	size_t len = 0;
	const char *s = str_at(o, key, &len);
	if (!s) {
		*n = 0;
		return NULL;
	}
	*n = utf8_cut(s, len, WEBHOOK_NOTE_MAX);
	return (const uint8_t *)s;
}

static int do_error(struct walk *w, json_t *e)
{
	struct webhook_event ev;
	if (!json_is_object(e)) {
		skip(w, &w->info->skipped_bad_shape);
		return 0;
	}
	event_init(w, &ev, WEBHOOK_EV_ERROR);
	if (code_of(json_object_get(e, "code"), &ev.err.code) != 0) {
		ev.err.code = 0;
		w->info->fields_defaulted++;
	}
	ev.err.title = note_of(e, "title", &ev.err.title_len);
	ev.err.message = note_of(e, "message", &ev.err.message_len);
	json_t *data = json_object_get(e, "error_data");
	if (json_is_object(data))
		ev.err.details = note_of(data, "details", &ev.err.details_len);
	if (json_object_get(e, "timestamp"))
		timestamp_of(w, e, &ev.timestamp);
	w->info->errors++;
	return w->fn(&ev, w->ud);
}

typedef int (*element_fn)(struct walk *w, json_t *el);

static int do_array(struct walk *w, json_t *value, const char *key, element_fn fn)
{
	json_t *arr = json_object_get(value, key);
	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		skip(w, &w->info->skipped_bad_shape);
		return 0;
	}
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		int rc = fn(w, el);
		if (rc)
			return rc;
	}
	return 0;
}

/* The value of a change whose field is "messages", or NULL. */
static json_t *messages_value(json_t *ch)
{
	size_t n = 0;
	if (!json_is_object(ch))
		return NULL;
	const char *field = str_at(ch, "field", &n);
	if (!field || !bytes_eq(field, n, "messages"))
		return NULL;
	json_t *v = json_object_get(ch, "value");
	return json_is_object(v) ? v : NULL;
}

static size_t array_len(json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);
	return json_is_array(a) ? json_array_size(a) : 0;
}

/* First pass: how many events the body would deliver at most. */
static size_t count_events(json_t *entries, size_t stop_after)
{
	size_t total = 0, i, j;
	json_t *e, *ch;
	json_array_foreach(entries, i, e) {
		json_t *changes = json_is_object(e) ? json_object_get(e, "changes") : NULL;
		if (!json_is_array(changes))
			continue;
		json_array_foreach(changes, j, ch) {
			json_t *v = messages_value(ch);
			if (!v)
				continue;
			total += array_len(v, "messages") + array_len(v, "statuses") +
				 array_len(v, "errors");
			if (total > stop_after)
				return total;
		}
	}
	return total;
}

static int walk_entries(struct walk *w, json_t *entries)
{
	size_t i, j;
	json_t *e, *ch;
	json_array_foreach(entries, i, e) {
		w->info->entries++;
		if (!json_is_object(e)) {
			skip(w, &w->info->skipped_bad_shape);
			continue;
		}
		json_t *changes = json_object_get(e, "changes");
		if (!changes)
			continue;
		if (!json_is_array(changes)) {
			skip(w, &w->info->skipped_bad_shape);
			continue;
		}
		json_array_foreach(changes, j, ch) {
			if (!json_is_object(ch)) {
				skip(w, &w->info->skipped_bad_shape);
				continue;
			}
			size_t n = 0;
			const char *field = str_at(ch, "field", &n);
			if (!field || !bytes_eq(field, n, "messages")) {
				w->info->changes_ignored++;
				continue;
			}
			json_t *v = json_object_get(ch, "value");
			if (!json_is_object(v)) {
				skip(w, &w->info->skipped_bad_shape);
				continue;
			}
			w->info->changes++;
			w->pnid = NULL;
			w->pnid_len = 0;
			json_t *meta = json_object_get(v, "metadata");
			if (json_is_object(meta)) {
				const char *p = str_at(meta, "phone_number_id", &n);
				if (p && n > 0 && n <= WEBHOOK_PNID_MAX) {
					w->pnid = (const uint8_t *)p;
					w->pnid_len = n;
				}
			}
			int rc = do_array(w, v, "messages", do_message);
			if (!rc)
				rc = do_array(w, v, "statuses", do_status);
			if (!rc)
				rc = do_array(w, v, "errors", do_error);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int webhook_parse(const uint8_t *body, size_t len, const struct webhook_limits *lim,
                  webhook_event_fn fn, void *ud, struct webhook_parse_info *info)
{
	struct webhook_parse_info scratch;
	json_t *root = NULL;
	json_error_t jerr;
	int rc = 0;

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof *info);
	if ((!body && len > 0) || !fn)
		return BND_E_INVAL;
	size_t body_max = lim && lim->body_max ? lim->body_max : WEBHOOK_BODY_MAX;
	size_t events_max = lim && lim->events_max ? lim->events_max : WEBHOOK_EVENTS_MAX;
	if (len > body_max)
		return BND_E_WEBHOOK_TOO_LARGE;
	if (len == 0)
		return BND_E_WEBHOOK_JSON;

	/* jansson leaves the error's code byte unset on some paths: clear it.
	 * Every syntax error sets a message; a failure without one comes from
	 * an allocation (json_object() or a set returning NULL), so it is
	 * reported as BND_E_NOMEM (the server answers 5xx, not 400). */
	memset(&jerr, 0, sizeof jerr);
	root = json_loadb((const char *)body, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (!root) {
		rc = json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0'
		         ? BND_E_NOMEM
		         : BND_E_WEBHOOK_JSON;
		goto out;
	}
	if (!json_is_object(root)) {
		rc = BND_E_WEBHOOK_NOT_OBJECT;
		goto out;
	}
	struct walk w = { .fn = fn, .ud = ud, .info = info };
	json_t *entries = json_object_get(root, "entry");
	if (!entries)
		goto out;   /* a valid body with nothing for us */
	if (!json_is_array(entries)) {
		skip(&w, &info->skipped_bad_shape);
		goto out;
	}
	if (count_events(entries, events_max) > events_max) {
		rc = BND_E_WEBHOOK_TOO_MANY;
		goto out;
	}
	rc = walk_entries(&w, entries);
out:
	json_decref(root);
	return rc;
}
