/*
 * test_webhook.c - engine/webhook.c: signature over raw bytes, the GET
 * handshake, and the body walk over every shape of the reference
 * (whatsapp-cloud-api.md section 4) plus hostile bodies.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "phone.h"
#include "webhook.h"

static const uint8_t SECRET[] = "app-secret-for-tests";
#define SLEN (sizeof SECRET - 1)

/* ------------------------------------------------------------------ */
/* Collecting events into owned copies                                 */

struct got {
	enum webhook_ev_kind kind;
	char id[WEBHOOK_ID_MAX + 1];
	size_t id_len;
	char pnid[WEBHOOK_PNID_MAX + 1];
	uint64_t ts;
	uint64_t from;
	enum webhook_msg_type type;
	char type_name[WEBHOOK_TYPE_MAX + 1];
	int has_text;
	char text[WEBHOOK_TEXT_MAX + 1];
	size_t text_len;
	int text_truncated;
	enum webhook_status status;
	uint64_t recipient;
	int has_biz;
	char biz[WEBHOOK_BIZ_MAX + 1];
	int64_t code;
	uint32_t error_count;
	char title[WEBHOOK_NOTE_MAX + 1];
	char details[WEBHOOK_NOTE_MAX + 1];
};

struct sink {
	struct got *ev;
	size_t n, cap;
	size_t stop_at;   /* return stop_rc at this event (1-based); 0: never */
	int stop_rc;
};

static void cp(char *dst, const uint8_t *p, size_t n)
{
	if (p)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

static int collect(const struct webhook_event *ev, void *ud)
{
	struct sink *s = ud;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
	}
	struct got *g = &s->ev[s->n++];
	memset(g, 0, sizeof *g);
	g->kind = ev->kind;
	cp(g->id, ev->id, ev->id_len);
	g->id_len = ev->id_len;
	cp(g->pnid, ev->phone_number_id, ev->phone_number_id_len);
	g->ts = ev->timestamp;
	switch (ev->kind) {
	case WEBHOOK_EV_MESSAGE:
		g->from = ev->msg.from;
		g->type = ev->msg.type;
		cp(g->type_name, ev->msg.type_name, ev->msg.type_len);
		g->has_text = ev->msg.text != NULL;
		cp(g->text, ev->msg.text, ev->msg.text_len);
		g->text_len = ev->msg.text_len;
		g->text_truncated = ev->msg.text_truncated;
		break;
	case WEBHOOK_EV_STATUS:
		g->status = ev->st.status;
		g->recipient = ev->st.recipient;
		g->has_biz = ev->st.biz != NULL;
		cp(g->biz, ev->st.biz, ev->st.biz_len);
		g->code = ev->st.error_code;
		g->error_count = ev->st.error_count;
		break;
	case WEBHOOK_EV_ERROR:
		g->code = ev->err.code;
		cp(g->title, ev->err.title, ev->err.title_len);
		cp(g->details, ev->err.details, ev->err.details_len);
		break;
	}
	if (s->stop_at && s->n == s->stop_at)
		return s->stop_rc;
	return 0;
}

static int parse_str(const char *body, struct sink *s, struct webhook_parse_info *info)
{
	return webhook_parse((const uint8_t *)body, strlen(body), NULL, collect, s, info);
}

static void sink_free(struct sink *s)
{
	free(s->ev);
	memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* The reference's shapes                                              */

#define ENVELOPE_HEAD                                                              \
	"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"220000000000002\"," \
	"\"changes\":[{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\"," \
	"\"metadata\":{\"display_phone_number\":\"390731000000\","                    \
	"\"phone_number_id\":\"110000000000001\"},"
#define ENVELOPE_TAIL "}}]}]}"

static const char INBOUND_TEXT[] =
	"{ \"object\": \"whatsapp_business_account\",\n"
	"  \"entry\": [ { \"id\": \"220000000000002\", \"changes\": [ { \"field\": \"messages\", \"value\": {\n"
	"        \"messaging_product\": \"whatsapp\",\n"
	"        \"metadata\": { \"display_phone_number\": \"390731000000\", \"phone_number_id\": \"110000000000001\" },\n"
	"        \"contacts\": [ { \"profile\": { \"name\": \"Maria Rossi\" }, \"wa_id\": \"393351234567\" } ],\n"
	"        \"messages\": [ { \"from\": \"393351234567\",\n"
	"                        \"id\": \"wamid.HBgMMzkzMzUxMjM0NTY3FQIAEhgUM0FBQkNERUYwMTIzNDU2Nzg5QQA=\",\n"
	"                        \"timestamp\": \"1760263200\", \"type\": \"text\",\n"
	"                        \"text\": { \"body\": \"JESI ON\" } } ] } } ] } ] }\n";

static const char STATUSES[] =
	"{ \"object\": \"whatsapp_business_account\",\n"
	"  \"entry\": [ { \"id\": \"220000000000002\", \"changes\": [ { \"field\": \"messages\", \"value\": {\n"
	"        \"messaging_product\": \"whatsapp\",\n"
	"        \"metadata\": { \"display_phone_number\": \"390731000000\", \"phone_number_id\": \"110000000000001\" },\n"
	"        \"statuses\": [\n"
	"          { \"id\": \"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA=\",\n"
	"            \"status\": \"delivered\", \"timestamp\": \"1760263205\",\n"
	"            \"recipient_id\": \"393351234567\", \"biz_opaque_callback_data\": \"b=4711;s=98231\",\n"
	"            \"pricing\": { \"billable\": true, \"pricing_model\": \"PMP\",\n"
	"                         \"type\": \"regular\", \"category\": \"utility\" } },\n"
	"          { \"id\": \"wamid.HBgMMzkzMzk5OTk5OTk5FQIAERgSRkVEQ0JBOTg3NjU0MzIxMAA=\",\n"
	"            \"status\": \"failed\", \"timestamp\": \"1760263206\", \"recipient_id\": \"393399999999\",\n"
	"            \"errors\": [ { \"code\": 131026, \"title\": \"Message undeliverable\",\n"
	"              \"message\": \"Message undeliverable\", \"href\": \"/docs/whatsapp/cloud-api/support/error-codes/\",\n"
	"              \"error_data\": { \"details\": \"Recipient cannot receive this message.\" } } ] } ] } } ] } ] }\n";

Test(webhook_parse, inbound_text_of_the_reference)
{
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(INBOUND_TEXT, &s, &info), 0);
	cr_assert_eq(s.n, 1);
	struct got *g = &s.ev[0];
	cr_assert_eq(g->kind, WEBHOOK_EV_MESSAGE);
	cr_assert_eq(g->from, 393351234567ULL);
	cr_assert_str_eq(g->id, "wamid.HBgMMzkzMzUxMjM0NTY3FQIAEhgUM0FBQkNERUYwMTIzNDU2Nzg5QQA=");
	cr_assert_eq(g->ts, 1760263200ULL);
	cr_assert_eq(g->type, WEBHOOK_MSG_TEXT);
	cr_assert_str_eq(g->type_name, "text");
	cr_assert(g->has_text);
	cr_assert_str_eq(g->text, "JESI ON");
	cr_assert_eq(g->text_len, 7);
	cr_assert_str_eq(g->pnid, "110000000000001");
	cr_assert_eq(info.entries, 1);
	cr_assert_eq(info.changes, 1);
	cr_assert_eq(info.messages, 1);
	cr_assert_eq(info.skipped, 0);
	cr_assert_eq(info.fields_defaulted, 0);
	sink_free(&s);
}

Test(webhook_parse, statuses_delivered_and_failed_with_errors)
{
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(STATUSES, &s, &info), 0);
	cr_assert_eq(s.n, 2);
	struct got *d = &s.ev[0], *f = &s.ev[1];
	cr_assert_eq(d->kind, WEBHOOK_EV_STATUS);
	cr_assert_eq(d->status, WEBHOOK_ST_DELIVERED);
	cr_assert_eq(d->recipient, 393351234567ULL);
	cr_assert_eq(d->ts, 1760263205ULL);
	cr_assert(d->has_biz);
	cr_assert_str_eq(d->biz, "b=4711;s=98231");
	cr_assert_eq(d->code, 0);
	cr_assert_eq(d->error_count, 0);
	cr_assert_eq(f->status, WEBHOOK_ST_FAILED);
	cr_assert_eq(f->recipient, 393399999999ULL);
	cr_assert_eq(f->code, 131026);
	cr_assert_eq(f->error_count, 1);
	cr_assert_not(f->has_biz);
	cr_assert_str_eq(f->id, "wamid.HBgMMzkzMzk5OTk5OTk5FQIAERgSRkVEQ0JBOTg3NjU0MzIxMAA=");
	cr_assert_eq(info.statuses, 2);
	cr_assert_eq(info.fields_defaulted, 0);
	sink_free(&s);
}

Test(webhook_parse, every_status_name)
{
	const char *names[] = { "sent", "delivered", "read", "failed", "played", "deleted" };
	const enum webhook_status want[] = { WEBHOOK_ST_SENT, WEBHOOK_ST_DELIVERED,
		WEBHOOK_ST_READ, WEBHOOK_ST_FAILED, WEBHOOK_ST_OTHER, WEBHOOK_ST_OTHER };
	for (size_t i = 0; i < 6; i++) {
		char body[1024];
		snprintf(body, sizeof body, ENVELOPE_HEAD
		         "\"statuses\":[{\"id\":\"wamid.S%zu\",\"status\":\"%s\","
		         "\"timestamp\":\"1\",\"recipient_id\":\"393351234567\"}]" ENVELOPE_TAIL,
		         i, names[i]);
		struct sink s = { 0 };
		cr_assert_eq(parse_str(body, &s, NULL), 0);
		cr_assert_eq(s.n, 1);
		cr_assert_eq(s.ev[0].status, want[i], "%s", names[i]);
		cr_assert_str_eq(webhook_status_name(want[i]), i < 4 ? names[i] : "other");
		sink_free(&s);
	}
}

Test(webhook_parse, account_errors_in_value)
{
	const char *body = ENVELOPE_HEAD
		"\"errors\":[{\"code\":131000,\"title\":\"Something went wrong\","
		"\"message\":\"Something went wrong\",\"error_data\":{\"details\":"
		"\"Unknown error\"}}]" ENVELOPE_TAIL;
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.ev[0].kind, WEBHOOK_EV_ERROR);
	cr_assert_eq(s.ev[0].code, 131000);
	cr_assert_str_eq(s.ev[0].title, "Something went wrong");
	cr_assert_str_eq(s.ev[0].details, "Unknown error");
	cr_assert_eq(s.ev[0].id_len, 0);
	cr_assert_eq(info.errors, 1);
	sink_free(&s);
}

/* A body with n text messages from distinct numbers. Caller frees. */
static char *batch_of_messages(size_t n)
{
	size_t cap = 512 + n * 256, len = 0;
	char *b = malloc(cap);
	len += (size_t)snprintf(b + len, cap - len, "%s\"messages\":[", ENVELOPE_HEAD);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(b + len, cap - len,
			"%s{\"from\":\"3933500%05zu\",\"id\":\"wamid.BATCH%06zu\","
			"\"timestamp\":\"%zu\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}}",
			i ? "," : "", i, i, 1760263200 + i);
	snprintf(b + len, cap - len, "]%s", ENVELOPE_TAIL);
	return b;
}

Test(webhook_parse, batch_of_100_messages_in_order)
{
	char *body = batch_of_messages(100);
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 100);
	for (size_t i = 0; i < 100; i++) {
		char id[32];
		snprintf(id, sizeof id, "wamid.BATCH%06zu", i);
		cr_assert_str_eq(s.ev[i].id, id);
		cr_assert_eq(s.ev[i].from, 393350000000ULL + i);
		cr_assert_eq(s.ev[i].ts, 1760263200ULL + i);
	}
	cr_assert_eq(info.messages, 100);
	sink_free(&s);
	free(body);
}

Test(webhook_parse, several_entries_changes_messages_and_statuses_mixed)
{
	const char *body =
		"{\"object\":\"whatsapp_business_account\",\"entry\":["
		"{\"id\":\"1\",\"changes\":["
		" {\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"111\"},"
		"  \"statuses\":[{\"id\":\"wamid.S1\",\"status\":\"sent\",\"timestamp\":\"5\",\"recipient_id\":\"393351234567\"}],"
		"  \"messages\":[{\"from\":\"393351234567\",\"id\":\"wamid.M1\",\"timestamp\":\"6\",\"type\":\"text\",\"text\":{\"body\":\"JESI OFF\"}}]}},"
		" {\"field\":\"account_update\",\"value\":{\"event\":\"X\"}}]},"
		"{\"id\":\"2\",\"changes\":["
		" {\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"222\"},"
		"  \"messages\":[{\"from\":\"+39 335 765 4321\",\"id\":\"wamid.M2\",\"timestamp\":\"7\",\"type\":\"text\",\"text\":{\"body\":\"stop\"}}]}}]}]}";
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 3);
	/* Within a change, messages come before statuses. */
	cr_assert_str_eq(s.ev[0].id, "wamid.M1");
	cr_assert_str_eq(s.ev[0].pnid, "111");
	cr_assert_str_eq(s.ev[1].id, "wamid.S1");
	cr_assert_eq(s.ev[1].kind, WEBHOOK_EV_STATUS);
	cr_assert_str_eq(s.ev[2].id, "wamid.M2");
	cr_assert_str_eq(s.ev[2].pnid, "222");
	cr_assert_eq(s.ev[2].from, 393357654321ULL);
	cr_assert_eq(info.entries, 2);
	cr_assert_eq(info.changes, 2);
	cr_assert_eq(info.changes_ignored, 1);
	sink_free(&s);
}

Test(webhook_parse, other_message_types_carry_no_text)
{
	const char *types[] = { "image", "audio", "video", "document", "sticker", "location",
		"contacts", "reaction", "order", "system", "unsupported", "ephemeral" };
	const enum webhook_msg_type want[] = { WEBHOOK_MSG_IMAGE, WEBHOOK_MSG_AUDIO,
		WEBHOOK_MSG_VIDEO, WEBHOOK_MSG_DOCUMENT, WEBHOOK_MSG_STICKER,
		WEBHOOK_MSG_LOCATION, WEBHOOK_MSG_CONTACTS, WEBHOOK_MSG_REACTION,
		WEBHOOK_MSG_ORDER, WEBHOOK_MSG_SYSTEM, WEBHOOK_MSG_UNSUPPORTED, WEBHOOK_MSG_OTHER };
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		char body[2048];
		/* A text member on a non-text message must not be taken as words. */
		snprintf(body, sizeof body, ENVELOPE_HEAD
		         "\"messages\":[{\"from\":\"393351234567\",\"id\":\"wamid.T%zu\","
		         "\"timestamp\":\"1\",\"type\":\"%s\",\"text\":{\"body\":\"JESI OFF\"},"
		         "\"%s\":{\"id\":\"x\",\"emoji\":\"\\ud83d\\udc4d\",\"mime_type\":\"image/jpeg\"}}]"
		         ENVELOPE_TAIL, i, types[i], types[i]);
		struct sink s = { 0 };
		cr_assert_eq(parse_str(body, &s, NULL), 0, "%s", types[i]);
		cr_assert_eq(s.n, 1, "%s", types[i]);
		cr_assert_eq(s.ev[0].type, want[i], "%s", types[i]);
		cr_assert_str_eq(s.ev[0].type_name, types[i]);
		cr_assert_not(s.ev[0].has_text, "%s", types[i]);
		sink_free(&s);
	}
}

Test(webhook_parse, button_and_interactive_replies_give_their_words)
{
	const char *body = ENVELOPE_HEAD "\"messages\":["
		"{\"from\":\"393351234567\",\"id\":\"wamid.B\",\"timestamp\":\"1\",\"type\":\"button\","
		" \"button\":{\"payload\":\"P\",\"text\":\"JESI OFF\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.I1\",\"timestamp\":\"1\",\"type\":\"interactive\","
		" \"interactive\":{\"type\":\"button_reply\",\"button_reply\":{\"id\":\"on\",\"title\":\"JESI ON\"}}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.I2\",\"timestamp\":\"1\",\"type\":\"interactive\","
		" \"interactive\":{\"type\":\"list_reply\",\"list_reply\":{\"id\":\"h\",\"title\":\"AIUTO\",\"description\":\"d\"}}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.I3\",\"timestamp\":\"1\",\"type\":\"interactive\","
		" \"interactive\":{\"type\":\"nfm_reply\",\"nfm_reply\":{\"response_json\":\"{}\"}}}"
		"]" ENVELOPE_TAIL;
	struct sink s = { 0 };
	cr_assert_eq(parse_str(body, &s, NULL), 0);
	cr_assert_eq(s.n, 4);
	cr_assert_eq(s.ev[0].type, WEBHOOK_MSG_BUTTON);
	cr_assert_str_eq(s.ev[0].text, "JESI OFF");
	cr_assert_eq(s.ev[1].type, WEBHOOK_MSG_INTERACTIVE);
	cr_assert_str_eq(s.ev[1].text, "JESI ON");
	cr_assert_str_eq(s.ev[2].text, "AIUTO");
	cr_assert_not(s.ev[3].has_text);
	sink_free(&s);
}

Test(webhook_parse, unicode_escapes_and_escaped_slashes_are_decoded)
{
	const char *body = ENVELOPE_HEAD
		"\"contacts\":[{\"profile\":{\"name\":\"Nicol\\u00f2 Fabbri\"},\"wa_id\":\"393351234567\"}],"
		"\"messages\":[{\"from\":\"393351234567\",\"id\":\"wamid.U\\/1\",\"timestamp\":\"1\","
		"\"type\":\"text\",\"text\":{\"body\":\"\\u201cJESI ON\\u201d perch\\u00e8 http:\\/\\/x\"}}]"
		ENVELOPE_TAIL;
	struct sink s = { 0 };
	cr_assert_eq(parse_str(body, &s, NULL), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.ev[0].id, "wamid.U/1");
	cr_assert_str_eq(s.ev[0].text, "\xe2\x80\x9c" "JESI ON" "\xe2\x80\x9d" " perch\xc3\xa8 http://x");
	sink_free(&s);
}

Test(webhook_parse, nul_inside_a_string_is_kept_by_length)
{
	const char *body = ENVELOPE_HEAD "\"messages\":[{\"from\":\"393351234567\","
		"\"id\":\"wamid.N\",\"timestamp\":\"1\",\"type\":\"text\","
		"\"text\":{\"body\":\"JESI\\u0000ON\"}}]" ENVELOPE_TAIL;
	struct sink s = { 0 };
	cr_assert_eq(parse_str(body, &s, NULL), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.ev[0].text_len, 7);
	cr_assert_eq(memcmp(s.ev[0].text, "JESI\0ON", 7), 0);
	sink_free(&s);
}

Test(webhook_parse, numeric_timestamp_tolerated_bad_one_defaults_to_zero)
{
	const char *body = ENVELOPE_HEAD "\"messages\":["
		"{\"from\":\"393351234567\",\"id\":\"wamid.1\",\"timestamp\":1760263200,\"type\":\"text\",\"text\":{\"body\":\"a\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.2\",\"timestamp\":\"17x\",\"type\":\"text\",\"text\":{\"body\":\"b\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.3\",\"timestamp\":-5,\"type\":\"text\",\"text\":{\"body\":\"c\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.4\",\"timestamp\":1e300,\"type\":\"text\",\"text\":{\"body\":\"d\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.5\",\"timestamp\":\"99999999999999999999999\",\"type\":\"text\",\"text\":{\"body\":\"e\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.6\",\"type\":\"text\",\"text\":{\"body\":\"f\"}}"
		"]" ENVELOPE_TAIL;
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 6);
	cr_assert_eq(s.ev[0].ts, 1760263200ULL);
	for (size_t i = 1; i < 6; i++)
		cr_assert_eq(s.ev[i].ts, 0, "message %zu", i);
	cr_assert_eq(info.fields_defaulted, 5);
	cr_assert_eq(info.skipped, 0);
	sink_free(&s);
}

Test(webhook_parse, invalid_sender_skips_only_that_message)
{
	const char *body = ENVELOPE_HEAD "\"messages\":["
		"{\"from\":\"abc\",\"id\":\"wamid.1\",\"timestamp\":\"1\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}},"
		"{\"from\":\"0393351234567\",\"id\":\"wamid.2\",\"timestamp\":\"1\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}},"
		"{\"from\":393351234567,\"id\":\"wamid.3\",\"timestamp\":\"1\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}},"
		"{\"id\":\"wamid.4\",\"timestamp\":\"1\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}},"
		"{\"from\":\"393351234567\",\"id\":\"wamid.ok\",\"timestamp\":\"1\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}}"
		"]" ENVELOPE_TAIL;
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.ev[0].id, "wamid.ok");
	cr_assert_eq(info.skipped_bad_from, 4);
	cr_assert_eq(info.skipped, 4);
	sink_free(&s);
}

Test(webhook_parse, ids_empty_missing_or_too_long_are_skipped)
{
	char longid[WEBHOOK_ID_MAX + 2];
	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	char okid[WEBHOOK_ID_MAX + 1];
	memset(okid, 'y', sizeof okid - 1);
	okid[sizeof okid - 1] = '\0';
	char body[4096];
	snprintf(body, sizeof body, ENVELOPE_HEAD "\"messages\":["
		"{\"from\":\"393351234567\",\"id\":\"\",\"type\":\"text\"},"
		"{\"from\":\"393351234567\",\"type\":\"text\"},"
		"{\"from\":\"393351234567\",\"id\":7,\"type\":\"text\"},"
		"{\"from\":\"393351234567\",\"id\":\"%s\",\"type\":\"text\"},"
		"{\"from\":\"393351234567\",\"id\":\"%s\",\"type\":\"text\"}],"
		"\"statuses\":[{\"id\":\"%s\",\"status\":\"read\"},{\"status\":\"read\"}]"
		ENVELOPE_TAIL, longid, okid, longid);
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.ev[0].id_len, WEBHOOK_ID_MAX);
	cr_assert_eq(info.skipped_bad_id, 6);
	sink_free(&s);
}

Test(webhook_parse, long_text_is_cut_at_a_character_boundary)
{
	/* "è" (2 bytes) repeated past the limit, after one ASCII byte so the
	 * limit falls in the middle of a character. */
	size_t reps = WEBHOOK_TEXT_MAX / 2 + 10;
	size_t cap = reps * 6 + 1024;
	char *body = malloc(cap);
	size_t len = (size_t)snprintf(body, cap, ENVELOPE_HEAD "\"messages\":[{\"from\":"
		"\"393351234567\",\"id\":\"wamid.L\",\"type\":\"text\",\"text\":{\"body\":\"a");
	for (size_t i = 0; i < reps; i++)
		len += (size_t)snprintf(body + len, cap - len, "\\u00e8");
	snprintf(body + len, cap - len, "\"}}]" ENVELOPE_TAIL);
	struct sink s = { 0 };
	cr_assert_eq(parse_str(body, &s, NULL), 0);
	cr_assert_eq(s.n, 1);
	cr_assert(s.ev[0].text_truncated);
	cr_assert_eq(s.ev[0].text_len, WEBHOOK_TEXT_MAX - 1);
	cr_assert_eq((unsigned char)s.ev[0].text[s.ev[0].text_len - 1], 0xa8);
	sink_free(&s);
	free(body);
}

Test(webhook_parse, status_odd_fields_default_but_deliver)
{
	const char *body = ENVELOPE_HEAD "\"statuses\":["
		"{\"id\":\"wamid.1\",\"status\":\"read\",\"timestamp\":\"1\",\"recipient_id\":\"nope\","
		" \"biz_opaque_callback_data\":17,\"errors\":{\"code\":1}},"
		"{\"id\":\"wamid.2\",\"status\":\"failed\",\"timestamp\":\"1\",\"recipient_id\":\"393351234567\","
		" \"errors\":[{\"code\":\"131049\"},{\"code\":2}]},"
		"{\"id\":\"wamid.3\",\"status\":\"failed\",\"timestamp\":\"1\",\"recipient_id\":\"393351234567\","
		" \"errors\":[\"x\"]},"
		"{\"id\":\"wamid.4\",\"status\":5},"
		"{\"id\":\"wamid.5\",\"status\":\"\"},"
		"7]" ENVELOPE_TAIL;
	struct sink s = { 0 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.ev[0].recipient, 0);
	cr_assert_not(s.ev[0].has_biz);
	cr_assert_eq(s.ev[1].code, 131049);
	cr_assert_eq(s.ev[1].error_count, 2);
	cr_assert_eq(s.ev[2].code, 0);
	cr_assert_eq(s.ev[2].error_count, 1);
	/* recipient, biz, errors of #1; error code of #3 */
	cr_assert_eq(info.fields_defaulted, 4);
	cr_assert_eq(info.skipped_bad_shape, 3);
	sink_free(&s);
}

Test(webhook_parse, wrong_types_at_every_level_are_skipped_not_fatal)
{
	const char *bodies[] = {
		"{\"entry\":{}}",
		("{\"entry\":[1,\"x\",null,{\"changes\":\"no\"},{\"changes\":[1,{\"field\":7},"
		 "{\"field\":\"messages\",\"value\":[]},{\"field\":\"messages\",\"value\":{\"messages\":{},"
		 "\"statuses\":\"s\",\"errors\":3,\"metadata\":[]}}]}]}"),
		("{\"object\":5,\"entry\":[{\"changes\":[{\"field\":\"messages\",\"value\":{\"messages\":"
		 "[null,true,[],{\"from\":{},\"id\":\"w\",\"type\":\"text\"}]}}]}]}"),
		"{}",
		"{\"entry\":[]}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct sink s = { 0 };
		struct webhook_parse_info info;
		cr_assert_eq(parse_str(bodies[i], &s, &info), 0, "body %zu", i);
		cr_assert_eq(s.n, 0, "body %zu", i);
		sink_free(&s);
	}
}

/* Replace one field of a valid message with each JSON type in turn. */
Test(webhook_parse, each_field_as_each_type_never_crashes)
{
	const char *fields[] = { "from", "id", "timestamp", "type", "text" };
	const char *values[] = { "null", "true", "0", "-1", "1.5", "\"\"", "\"x\"", "[]",
		"[1]", "{}", "{\"body\":{}}", "9223372036854775807" };
	for (size_t f = 0; f < 5; f++) {
		for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
			char msg[512], body[2048];
			snprintf(msg, sizeof msg,
			         "{\"from\":\"393351234567\",\"id\":\"wamid.X\",\"timestamp\":\"1\","
			         "\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"},\"%s\":%s}",
			         fields[f], values[v]);
			snprintf(body, sizeof body, ENVELOPE_HEAD "\"messages\":[%s]" ENVELOPE_TAIL, msg);
			struct sink s = { 0 };
			struct webhook_parse_info info;
			int rc = parse_str(body, &s, &info);
			cr_assert_eq(rc, 0, "%s=%s", fields[f], values[v]);
			cr_assert_eq(s.n + info.skipped, 1, "%s=%s", fields[f], values[v]);
			sink_free(&s);
		}
	}
}

Test(webhook_parse, duplicate_keys_take_the_last_value)
{
	const char *body = ENVELOPE_HEAD "\"messages\":[{\"from\":\"393351234567\","
		"\"id\":\"wamid.D\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\",\"body\":\"JESI OFF\"}}]"
		ENVELOPE_TAIL;
	struct sink s = { 0 };
	cr_assert_eq(parse_str(body, &s, NULL), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.ev[0].text, "JESI OFF");
	sink_free(&s);
}

/* ------------------------------------------------------------------ */
/* Refused bodies                                                      */

Test(webhook_parse, not_json_truncated_or_not_an_object)
{
	struct sink s = { 0 };
	cr_assert_eq(parse_str("not json", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{\"entry\":[", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{} trailing", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("[]", &s, NULL), BND_E_WEBHOOK_NOT_OBJECT);
	cr_assert_eq(parse_str("null", &s, NULL), BND_E_WEBHOOK_NOT_OBJECT);
	cr_assert_eq(parse_str("\"s\"", &s, NULL), BND_E_WEBHOOK_NOT_OBJECT);
	cr_assert_eq(parse_str("12", &s, NULL), BND_E_WEBHOOK_NOT_OBJECT);
	/* Every proper prefix of a real body is refused, never half-parsed. */
	size_t n = strlen(INBOUND_TEXT);
	while (n > 0 && (INBOUND_TEXT[n - 1] == '\n' || INBOUND_TEXT[n - 1] == ' '))
		n--;
	for (size_t k = 0; k < n; k++) {
		int rc = webhook_parse((const uint8_t *)INBOUND_TEXT, k, NULL, collect, &s, NULL);
		cr_assert(rc == BND_E_WEBHOOK_JSON || rc == BND_E_WEBHOOK_NOT_OBJECT,
		          "prefix %zu rc %d", k, rc);
	}
	cr_assert_eq(s.n, 0);
	sink_free(&s);
}

Test(webhook_parse, raw_nul_bad_utf8_and_huge_numbers_are_refused)
{
	struct sink s = { 0 };
	const char nul[] = "{\"a\":\"x\0y\"}";
	cr_assert_eq(webhook_parse((const uint8_t *)nul, sizeof nul - 1, NULL, collect, &s, NULL),
	             BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{\"a\":\"\xc3\x28\"}", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{\"a\":\"\xed\xa0\x80\"}", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{\"a\":\"\\ud800\"}", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{\"a\":1e400}", &s, NULL), BND_E_WEBHOOK_JSON);
	cr_assert_eq(parse_str("{\"a\":123456789012345678901234567890}", &s, NULL),
	             BND_E_WEBHOOK_JSON);
	cr_assert_eq(s.n, 0);
	sink_free(&s);
}

Test(webhook_parse, deep_nesting_is_refused_without_crashing)
{
	size_t depth = 100000;
	char *b = malloc(2 * depth + 16);
	size_t len = 0;
	memcpy(b, "{\"entry\":", 9);
	len = 9;
	memset(b + len, '[', depth);
	len += depth;
	memset(b + len, ']', depth);
	len += depth;
	b[len++] = '}';
	struct sink s = { 0 };
	cr_assert_eq(webhook_parse((const uint8_t *)b, len, NULL, collect, &s, NULL),
	             BND_E_WEBHOOK_JSON);
	/* Nesting within the parser's bound is walked (and skipped) normally. */
	len = 9;
	memset(b + len, '[', 1000);
	len += 1000;
	memset(b + len, ']', 1000);
	len += 1000;
	b[len++] = '}';
	struct webhook_parse_info info;
	cr_assert_eq(webhook_parse((const uint8_t *)b, len, NULL, collect, &s, &info), 0);
	cr_assert_eq(s.n, 0);
	free(b);
	sink_free(&s);
}

Test(webhook_parse, size_and_event_limits_refuse_before_any_callback)
{
	char *body = batch_of_messages(20);
	struct sink s = { 0 };
	struct webhook_limits lim = { .events_max = 19 };
	cr_assert_eq(webhook_parse((const uint8_t *)body, strlen(body), &lim, collect, &s, NULL),
	             BND_E_WEBHOOK_TOO_MANY);
	cr_assert_eq(s.n, 0);
	lim.events_max = 20;
	cr_assert_eq(webhook_parse((const uint8_t *)body, strlen(body), &lim, collect, &s, NULL), 0);
	cr_assert_eq(s.n, 20);
	s.n = 0;
	lim.body_max = strlen(body) - 1;
	cr_assert_eq(webhook_parse((const uint8_t *)body, strlen(body), &lim, collect, &s, NULL),
	             BND_E_WEBHOOK_TOO_LARGE);
	cr_assert_eq(s.n, 0);
	/* The default limits: 10,000 events, 3.5 MiB. */
	cr_assert_eq(webhook_parse((const uint8_t *)body, WEBHOOK_BODY_MAX + 1, NULL, collect, &s,
	                           NULL), BND_E_WEBHOOK_TOO_LARGE);
	sink_free(&s);
	free(body);
	body = batch_of_messages(WEBHOOK_EVENTS_MAX + 1);
	cr_assert_eq(parse_str(body, &s, NULL), BND_E_WEBHOOK_TOO_MANY);
	cr_assert_eq(s.n, 0);
	free(body);
	sink_free(&s);
}

Test(webhook_parse, callback_error_stops_the_walk_and_is_returned)
{
	char *body = batch_of_messages(10);
	struct sink s = { .stop_at = 4, .stop_rc = -5 };
	struct webhook_parse_info info;
	cr_assert_eq(parse_str(body, &s, &info), -5);
	cr_assert_eq(s.n, 4);
	cr_assert_eq(info.messages, 4);
	sink_free(&s);
	free(body);
}

Test(webhook_parse, bad_arguments)
{
	struct sink s = { 0 };
	cr_assert_eq(webhook_parse(NULL, 5, NULL, collect, &s, NULL), BND_E_INVAL);
	cr_assert_eq(webhook_parse((const uint8_t *)"{}", 2, NULL, NULL, &s, NULL), BND_E_INVAL);
}

static void *json_alloc(size_t n)
{
	return bnd_malloc(n);
}

Test(webhook_parse, every_allocation_failure_is_reported_never_half_walked)
{
	/* The reference walk, with every allocation succeeding. */
	struct sink ref = { 0 };
	cr_assert_eq(parse_str(STATUSES, &ref, NULL), 0);
	cr_assert_eq(ref.n, 2);

	json_set_alloc_funcs(json_alloc, bnd_free);
	long n, nomem = 0;
	for (n = 0; n < 10000; n++) {
		struct sink s = { 0 };
		bnd_alloc_fail_after(n);
		int rc = webhook_parse((const uint8_t *)STATUSES, strlen(STATUSES), NULL, collect,
		                       &s, NULL);
		bnd_alloc_fail_after(-1);
		if (rc == 0) {
			/* The first run that allocates enough: exactly the reference. */
			cr_assert_eq(s.n, ref.n);
			for (size_t i = 0; i < ref.n; i++)
				cr_assert_eq(memcmp(&s.ev[i], &ref.ev[i], sizeof s.ev[i]), 0, "event %zu", i);
			sink_free(&s);
			break;
		}
		/* jansson reports some allocation failures inside its lexer as
		 * syntax errors; both are non-200 answers, so WhatsApp retries. */
		cr_assert(rc == BND_E_NOMEM || rc == BND_E_WEBHOOK_JSON, "failure %ld gave %d", n, rc);
		nomem += rc == BND_E_NOMEM;
		cr_assert_eq(s.n, 0, "no event before the tree is whole");
		sink_free(&s);
	}
	json_set_alloc_funcs(malloc, free);
	cr_assert_gt(n, 10, "the loop must have exercised allocations");
	cr_assert_lt(n, 10000);
	cr_assert_gt(nomem, n / 2, "most failures are reported as BND_E_NOMEM");
	sink_free(&ref);
}

/* ------------------------------------------------------------------ */
/* Signature                                                           */

static void sign(const char *body, char out[WEBHOOK_SIG_LEN + 1])
{
	cr_assert_eq(webhook_sign(SECRET, SLEN, (const uint8_t *)body, strlen(body), out), 0);
}

static int verify(const char *body, const char *hdr)
{
	return webhook_verify_signature(SECRET, SLEN, (const uint8_t *)body, strlen(body), hdr);
}

Test(webhook_sig, matches_the_rfc4231_test_vector)
{
	/* RFC 4231 test case 2: key "Jefe". */
	char out[WEBHOOK_SIG_LEN + 1];
	const char *data = "what do ya want for nothing?";
	cr_assert_eq(webhook_sign((const uint8_t *)"Jefe", 4, (const uint8_t *)data,
	                          strlen(data), out), 0);
	cr_assert_str_eq(out, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	cr_assert_eq(webhook_verify_signature((const uint8_t *)"Jefe", 4, (const uint8_t *)data,
	                                      strlen(data), out), 0);
}

Test(webhook_sig, valid_signature_of_a_real_body)
{
	char h[WEBHOOK_SIG_LEN + 1];
	sign(INBOUND_TEXT, h);
	cr_assert_eq(verify(INBOUND_TEXT, h), 0);
}

Test(webhook_sig, every_flipped_bit_of_the_body_is_a_mismatch)
{
	char h[WEBHOOK_SIG_LEN + 1];
	sign(INBOUND_TEXT, h);
	size_t n = strlen(INBOUND_TEXT);
	uint8_t *b = malloc(n);
	/* Every byte, one bit each (rotating), to keep the test quick. */
	for (size_t i = 0; i < n; i++) {
		memcpy(b, INBOUND_TEXT, n);
		b[i] ^= (uint8_t)(1u << (i % 8));
		cr_assert_eq(webhook_verify_signature(SECRET, SLEN, b, n, h),
		             BND_E_WEBHOOK_SIG_MISMATCH, "byte %zu", i);
	}
	free(b);
	/* A different secret, and one byte more or less. */
	cr_assert_eq(webhook_verify_signature((const uint8_t *)"other", 5,
	             (const uint8_t *)INBOUND_TEXT, n, h), BND_E_WEBHOOK_SIG_MISMATCH);
	cr_assert_eq(webhook_verify_signature(SECRET, SLEN, (const uint8_t *)INBOUND_TEXT, n - 1,
	                                      h), BND_E_WEBHOOK_SIG_MISMATCH);
}

Test(webhook_sig, flipped_hex_digit_is_a_mismatch)
{
	char h[WEBHOOK_SIG_LEN + 1];
	sign(INBOUND_TEXT, h);
	for (size_t i = 7; i < WEBHOOK_SIG_LEN; i++) {
		char t[WEBHOOK_SIG_LEN + 1];
		memcpy(t, h, sizeof t);
		t[i] = t[i] == '0' ? '1' : '0';
		cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MISMATCH, "digit %zu", i);
	}
}

Test(webhook_sig, missing_and_malformed_headers)
{
	char h[WEBHOOK_SIG_LEN + 1], t[WEBHOOK_SIG_LEN + 16];
	sign(INBOUND_TEXT, h);
	cr_assert_eq(verify(INBOUND_TEXT, NULL), BND_E_WEBHOOK_SIG_MISSING);
	cr_assert_eq(verify(INBOUND_TEXT, ""), BND_E_WEBHOOK_SIG_MISSING);
	cr_assert_eq(verify(INBOUND_TEXT, " \t "), BND_E_WEBHOOK_SIG_MISSING);
	snprintf(t, sizeof t, "sha1=%s", h + 7);
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	snprintf(t, sizeof t, "%s", h + 7);
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	snprintf(t, sizeof t, "sha256:%s", h + 7);
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	snprintf(t, sizeof t, "%.*s", WEBHOOK_SIG_LEN - 1, h);
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	snprintf(t, sizeof t, "%s0", h);
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	memcpy(t, h, sizeof h);
	t[20] = 'g';
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	t[20] = ':';   /* one past '9': hexval must not accept it */
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
	snprintf(t, sizeof t, "sha256=%s,sha1=00", h + 7);
	cr_assert_eq(verify(INBOUND_TEXT, t), BND_E_WEBHOOK_SIG_MALFORMED);
}

Test(webhook_sig, uppercase_hex_prefix_case_and_spaces_accepted)
{
	char h[WEBHOOK_SIG_LEN + 1], t[WEBHOOK_SIG_LEN + 16];
	sign(INBOUND_TEXT, h);
	memcpy(t, h, sizeof h);
	for (size_t i = 7; i < WEBHOOK_SIG_LEN; i++)
		if (t[i] >= 'a' && t[i] <= 'f')
			t[i] = (char)(t[i] - 'a' + 'A');
	cr_assert_eq(verify(INBOUND_TEXT, t), 0);
	memcpy(t, "SHA256=", 7);
	cr_assert_eq(verify(INBOUND_TEXT, t), 0);
	snprintf(t, sizeof t, " %s\t", h);
	cr_assert_eq(verify(INBOUND_TEXT, t), 0);
}

Test(webhook_sig, empty_body_and_no_secret)
{
	char h[WEBHOOK_SIG_LEN + 1];
	cr_assert_eq(webhook_sign(SECRET, SLEN, NULL, 0, h), 0);
	cr_assert_eq(webhook_verify_signature(SECRET, SLEN, NULL, 0, h), 0);
	cr_assert_eq(webhook_verify_signature(SECRET, SLEN, (const uint8_t *)"", 0, h), 0);
	cr_assert_eq(webhook_verify_signature(SECRET, SLEN, (const uint8_t *)"x", 1, h),
	             BND_E_WEBHOOK_SIG_MISMATCH);
	cr_assert_eq(webhook_verify_signature(SECRET, 0, NULL, 0, h), BND_E_INVAL);
	cr_assert_eq(webhook_sign(SECRET, 0, NULL, 0, h), BND_E_INVAL);
}

Test(webhook_sig, raw_bytes_not_a_reserialisation)
{
	/* Meta's bytes escape non-ASCII and '/'. Re-encoding the parsed JSON
	 * changes the bytes and must therefore fail the check. */
	const char *body = "{\"entry\":[{\"changes\":[{\"field\":\"messages\",\"value\":"
		"{\"contacts\":[{\"profile\":{\"name\":\"Nicol\\u00f2\"}}],\"x\":\"http:\\/\\/a\"}}]}]}";
	char h[WEBHOOK_SIG_LEN + 1];
	sign(body, h);
	cr_assert_eq(verify(body, h), 0);
	json_t *j = json_loads(body, 0, NULL);
	cr_assert_not_null(j);
	char *again = json_dumps(j, JSON_COMPACT);
	cr_assert_str_neq(again, body);
	cr_assert_eq(verify(again, h), BND_E_WEBHOOK_SIG_MISMATCH);
	free(again);
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Handshake and tokens                                                */

static const uint8_t VTOK[] = "verify-me";
#define VLEN (sizeof VTOK - 1)

Test(webhook_handshake, accepts_subscribe_with_the_right_token)
{
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", "1158201444", VTOK, VLEN), 0);
}

Test(webhook_handshake, refuses_everything_else)
{
	cr_assert_eq(webhook_handshake("subscribe", "verify-mE", "1", VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", "verify-me ", "1", VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", "", "1", VTOK, VLEN), BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", NULL, "1", VTOK, VLEN), BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("unsubscribe", "verify-me", "1", VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake(NULL, "verify-me", "1", VTOK, VLEN), BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", NULL, VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", "", VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", "a b", VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", "<\x01>", VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	char longc[WEBHOOK_CHALLENGE_MAX + 2];
	memset(longc, '7', sizeof longc - 1);
	longc[sizeof longc - 1] = '\0';
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", longc, VTOK, VLEN),
	             BND_E_WEBHOOK_HANDSHAKE);
	longc[WEBHOOK_CHALLENGE_MAX] = '\0';
	cr_assert_eq(webhook_handshake("subscribe", "verify-me", longc, VTOK, VLEN), 0);
	/* No configured token: nothing matches, not even an empty one. */
	cr_assert_eq(webhook_handshake("subscribe", "", "1", (const uint8_t *)"", 0),
	             BND_E_WEBHOOK_HANDSHAKE);
}

Test(webhook_token, equal_only_when_identical_and_configured)
{
	cr_assert(webhook_token_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abc", 3));
	cr_assert_not(webhook_token_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abd", 3));
	cr_assert_not(webhook_token_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abcd", 4));
	cr_assert_not(webhook_token_equal((const uint8_t *)"ab\0c", 4, (const uint8_t *)"ab", 2));
	cr_assert_not(webhook_token_equal(NULL, 0, (const uint8_t *)"", 0));
	cr_assert_not(webhook_token_equal(NULL, 0, NULL, 0));
}

Test(webhook_names, every_enum_has_its_name)
{
	cr_assert_str_eq(webhook_msg_type_name(WEBHOOK_MSG_TEXT), "text");
	cr_assert_str_eq(webhook_msg_type_name(WEBHOOK_MSG_UNSUPPORTED), "unsupported");
	cr_assert_str_eq(webhook_msg_type_name((enum webhook_msg_type)99), "other");
	cr_assert_str_eq(webhook_status_name((enum webhook_status)-1), "other");
	cr_assert_str_eq(bnd_strerror(BND_E_WEBHOOK_SIG_MISMATCH),
	                 "webhook signature does not match the body");
}
