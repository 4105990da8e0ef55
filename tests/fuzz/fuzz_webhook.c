/*
 * fuzz_webhook.c - libFuzzer target for the whole webhook body path:
 * signature check on the raw bytes, JSON parse, and every event of the
 * body walked with every borrowed byte read (so ASan sees any pointer or
 * length that strays outside the parsed document).
 *
 * The first input byte chooses the mode, so one corpus reaches all paths:
 *   'S'  signed: the rest is the body; it is signed with the fixed secret,
 *        so the check must pass and the parser is always reached; the same
 *        body with its last byte flipped must then fail the check.
 *   'H'  header given: bytes 1..71 are the X-Hub-Signature-256 value, the
 *        rest is the body; verify, and parse only if it verified.
 *   'L'  limits: byte 1 sets events_max (1..256), byte 2 the body limit as
 *        a fraction of the length, byte 3 the event at which the callback
 *        stops the walk with an error (0: never); the rest is the body.
 *   'K'  handshake: the rest split on '&' into mode, token, challenge.
 *   any other byte: its value modulo 4 picks one of the above.
 * Invariants of webhook.h are checked on every event; a violation aborts
 * (a finding), exactly like a sanitizer report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "phone.h"
#include "webhook.h"

static const uint8_t SECRET[] = "fuzz-app-secret";
#define SLEN (sizeof SECRET - 1)

#define CHECK(c)                       \
	do {                           \
		if (!(c))              \
			abort();       \
	} while (0)

struct walk {
	uint32_t events;
	uint32_t stop_at;
	uint64_t sum;   /* every borrowed byte is read into it */
};

static void touch(struct walk *w, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w->sum += p[i];
}

static int on_event(const struct webhook_event *ev, void *ud)
{
	struct walk *w = ud;
	w->events++;
	touch(w, ev->phone_number_id, ev->phone_number_id_len);
	CHECK(ev->phone_number_id_len <= WEBHOOK_PNID_MAX);
	CHECK(ev->phone_number_id || ev->phone_number_id_len == 0);
	switch (ev->kind) {
	case WEBHOOK_EV_MESSAGE:
		CHECK(ev->id && ev->id_len >= 1 && ev->id_len <= WEBHOOK_ID_MAX);
		touch(w, ev->id, ev->id_len);
		CHECK(phone_valid(ev->msg.from));
		CHECK(ev->msg.type_len >= 1 && ev->msg.type_len <= WEBHOOK_TYPE_MAX);
		touch(w, ev->msg.type_name, ev->msg.type_len);
		CHECK(ev->msg.text_len <= WEBHOOK_TEXT_MAX);
		CHECK(ev->msg.text || ev->msg.text_len == 0);
		CHECK(!ev->msg.text_truncated || ev->msg.text);
		touch(w, ev->msg.text, ev->msg.text_len);
		CHECK(strcmp(webhook_msg_type_name(ev->msg.type), "") != 0);
		break;
	case WEBHOOK_EV_STATUS:
		CHECK(ev->id && ev->id_len >= 1 && ev->id_len <= WEBHOOK_ID_MAX);
		touch(w, ev->id, ev->id_len);
		CHECK(ev->st.status_len >= 1 && ev->st.status_len <= WEBHOOK_TYPE_MAX);
		touch(w, ev->st.status_name, ev->st.status_len);
		CHECK(ev->st.recipient == 0 || phone_valid(ev->st.recipient));
		CHECK(ev->st.biz_len <= WEBHOOK_BIZ_MAX);
		CHECK(ev->st.biz || ev->st.biz_len == 0);
		touch(w, ev->st.biz, ev->st.biz_len);
		CHECK(ev->st.error_code >= 0);
		CHECK(ev->st.error_count > 0 || ev->st.error_code == 0);
		break;
	case WEBHOOK_EV_ERROR:
		CHECK(!ev->id && ev->id_len == 0);
		CHECK(ev->err.code >= 0);
		CHECK(ev->err.title_len <= WEBHOOK_NOTE_MAX);
		CHECK(ev->err.message_len <= WEBHOOK_NOTE_MAX);
		CHECK(ev->err.details_len <= WEBHOOK_NOTE_MAX);
		touch(w, ev->err.title, ev->err.title_len);
		touch(w, ev->err.message, ev->err.message_len);
		touch(w, ev->err.details, ev->err.details_len);
		break;
	default:
		abort();
	}
	if (w->stop_at && w->events == w->stop_at)
		return -77;
	return 0;
}

static void parse(const uint8_t *body, size_t len, const struct webhook_limits *lim,
                  uint32_t stop_at)
{
	struct walk w = { .stop_at = stop_at };
	struct webhook_parse_info info;
	int rc = webhook_parse(body, len, lim, on_event, &w, &info);
	CHECK(rc == 0 || rc == -77 || rc == BND_E_WEBHOOK_JSON ||
	      rc == BND_E_WEBHOOK_NOT_OBJECT || rc == BND_E_WEBHOOK_TOO_MANY ||
	      rc == BND_E_WEBHOOK_TOO_LARGE || rc == BND_E_NOMEM);
	CHECK(info.messages + info.statuses + info.errors == w.events);
	CHECK(info.skipped == info.skipped_bad_from + info.skipped_bad_id +
	                      info.skipped_bad_shape);
	if (rc == -77)
		CHECK(w.events == stop_at);
	if (rc != 0 && rc != -77)
		CHECK(w.events == 0);   /* refused bodies deliver nothing */
	size_t events_max = lim && lim->events_max ? lim->events_max : WEBHOOK_EVENTS_MAX;
	CHECK(w.events <= events_max);
}

static void mode_signed(const uint8_t *body, size_t len)
{
	char sig[WEBHOOK_SIG_LEN + 1];
	CHECK(webhook_sign(SECRET, SLEN, body, len, sig) == 0);
	CHECK(webhook_verify_signature(SECRET, SLEN, body, len, sig) == 0);
	parse(body, len, NULL, 0);
	if (len > 0) {
		uint8_t *copy = malloc(len);
		memcpy(copy, body, len);
		copy[len - 1] ^= 0x01;
		CHECK(webhook_verify_signature(SECRET, SLEN, copy, len, sig) ==
		      BND_E_WEBHOOK_SIG_MISMATCH);
		free(copy);
	}
}

static void mode_header(const uint8_t *data, size_t size)
{
	char hdr[WEBHOOK_SIG_LEN + 1];
	size_t hl = size < WEBHOOK_SIG_LEN ? size : WEBHOOK_SIG_LEN;
	memcpy(hdr, data, hl);
	hdr[hl] = '\0';
	const uint8_t *body = data + hl;
	size_t len = size - hl;
	int rc = webhook_verify_signature(SECRET, SLEN, body, len, hdr);
	CHECK(rc == 0 || rc == BND_E_WEBHOOK_SIG_MISSING || rc == BND_E_WEBHOOK_SIG_MALFORMED ||
	      rc == BND_E_WEBHOOK_SIG_MISMATCH);
	if (rc == 0)
		parse(body, len, NULL, 0);
}

static void mode_limits(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	struct webhook_limits lim = { .events_max = (size_t)data[0] + 1 };
	const uint8_t *body = data + 3;
	size_t len = size - 3;
	lim.body_max = len * ((size_t)data[1] + 1) / 128;   /* ~0 .. 2x len */
	if (lim.body_max == 0)
		lim.body_max = 1;
	parse(body, len, &lim, data[2]);
}

static void mode_handshake(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	char *parts[3] = { NULL, NULL, NULL };
	char *p = s;
	for (int i = 0; i < 3 && p; i++) {
		parts[i] = p;
		p = strchr(p, '&');
		if (p)
			*p++ = '\0';
	}
	int rc = webhook_handshake(parts[0], parts[1], parts[2], (const uint8_t *)"verify-me", 9);
	CHECK(rc == 0 || rc == BND_E_WEBHOOK_HANDSHAKE);
	if (rc == 0)
		CHECK(parts[1] && strcmp(parts[1], "verify-me") == 0 && strcmp(parts[0], "subscribe") == 0);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t mode = data[0];
	if (mode != 'S' && mode != 'H' && mode != 'L' && mode != 'K')
		mode = (const uint8_t[]){ 'S', 'H', 'L', 'K' }[mode % 4];
	data++, size--;
	switch (mode) {
	case 'S': mode_signed(data, size); break;
	case 'H': mode_header(data, size); break;
	case 'L': mode_limits(data, size); break;
	default: mode_handshake(data, size); break;
	}
	return 0;
}
