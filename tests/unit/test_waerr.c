/* test_waerr.c - the error-code table and response parsing (engine/waerr.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bnd.h"
#include "waerr.h"

Test(waerr, table_follows_the_reference)
{
	static const struct { int64_t code; enum wa_outcome o; } t[] = {
		{ 130429, WA_RETRY_THROTTLE }, { 4, WA_RETRY_THROTTLE }, { 80007, WA_RETRY_THROTTLE },
		{ 131056, WA_RETRY_PAIR },
		{ 2, WA_RETRY_TRANSIENT }, { 131000, WA_RETRY_TRANSIENT }, { 131016, WA_RETRY_TRANSIENT },
		{ 133004, WA_RETRY_TRANSIENT }, { 1, WA_RETRY_TRANSIENT }, { 131057, WA_RETRY_TRANSIENT },
		{ 131026, WA_FAILED_RECIPIENT }, { 131009, WA_FAILED_RECIPIENT }, { 131008, WA_FAILED_RECIPIENT },
		{ 100, WA_FAILED_RECIPIENT }, { 131047, WA_FAILED_RECIPIENT }, { 131049, WA_FAILED_RECIPIENT },
		{ 131050, WA_FAILED_RECIPIENT }, { 131030, WA_FAILED_RECIPIENT },
		{ 132000, WA_STOP_CAMPAIGN }, { 132001, WA_STOP_CAMPAIGN }, { 132012, WA_STOP_CAMPAIGN },
		{ 132015, WA_STOP_CAMPAIGN }, { 132016, WA_STOP_CAMPAIGN }, { 131048, WA_STOP_CAMPAIGN },
		{ 190, WA_STOP_ENGINE }, { 0, WA_STOP_ENGINE }, { 10, WA_STOP_ENGINE },
		{ 200, WA_STOP_ENGINE }, { 250, WA_STOP_ENGINE }, { 299, WA_STOP_ENGINE },
		{ 131005, WA_STOP_ENGINE }, { 368, WA_STOP_ENGINE }, { 131031, WA_STOP_ENGINE },
		{ 130497, WA_STOP_ENGINE }, { 131064, WA_STOP_ENGINE },
		/* not in the table: fail only that message */
		{ 300, WA_FAILED_RECIPIENT }, { 5, WA_FAILED_RECIPIENT }, { -7, WA_FAILED_RECIPIENT },
		{ 999999999, WA_FAILED_RECIPIENT },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_assert_eq(waerr_lookup(t[i].code)->outcome, t[i].o, "code %lld: %s",
		             (long long)t[i].code, wa_outcome_name(waerr_lookup(t[i].code)->outcome));
	cr_assert_eq(waerr_lookup(1)->max_tries, 3);
	cr_assert_str_eq(waerr_lookup(12345)->why, "unknown error code");
}

Test(waerr, http_and_transport_fallbacks)
{
	cr_assert_eq(waerr_classify_http(200), WA_UNCERTAIN);
	cr_assert_eq(waerr_classify_http(401), WA_STOP_ENGINE);
	cr_assert_eq(waerr_classify_http(403), WA_STOP_ENGINE);
	cr_assert_eq(waerr_classify_http(408), WA_RETRY_TRANSIENT);
	cr_assert_eq(waerr_classify_http(429), WA_RETRY_THROTTLE);
	cr_assert_eq(waerr_classify_http(404), WA_STOP_CAMPAIGN);
	cr_assert_eq(waerr_classify_http(500), WA_RETRY_TRANSIENT);
	cr_assert_eq(waerr_classify_http(503), WA_RETRY_TRANSIENT);
	cr_assert_eq(waerr_classify_http(0), WA_RETRY_TRANSIENT);
	cr_assert_eq(waerr_classify_transport(0), WA_RETRY_TRANSIENT);
	cr_assert_eq(waerr_classify_transport(312), WA_UNCERTAIN);
}

static void parse(const char *body, struct waerr_parsed *p, char *store)
{
	cr_assert_eq(waerr_parse((const uint8_t *)body, strlen(body), p, store, WAERR_STORE_MIN), 0);
}

Test(waerr, parses_success_error_and_hostile_bodies)
{
	char st[WAERR_STORE_MIN];
	struct waerr_parsed p;
	parse("{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+39\",\"wa_id\":\"39\"}],"
	      "\"messages\":[{\"id\":\"wamid.ABC=\",\"message_status\":\"held_for_quality_assessment\"}]}",
	      &p, st);
	cr_assert(p.json_ok);
	cr_assert_eq(p.code, WA_CODE_NONE);
	cr_assert_str_eq(p.wamid, "wamid.ABC=");
	cr_assert_str_eq(p.msg_status, "held_for_quality_assessment");

	parse("{\"error\":{\"message\":\"(#131056) pair\",\"type\":\"OAuthException\",\"code\":131056,"
	      "\"error_subcode\":2494055,\"error_data\":{\"details\":\"Too many.\"}}}", &p, st);
	cr_assert_eq(p.code, 131056);
	cr_assert_eq(p.subcode, 2494055);
	cr_assert_str_eq(p.detail, "Too many.");
	cr_assert_null(p.wamid);

	/* Graph-level errors have no error_data: the message is the detail. */
	parse("{\"error\":{\"message\":\"Invalid OAuth access token.\",\"code\":190}}", &p, st);
	cr_assert_eq(p.code, 190);
	cr_assert_eq(p.subcode, WA_CODE_NONE);
	cr_assert_str_eq(p.detail, "Invalid OAuth access token.");

	const char *hostile[] = { "", "null", "[]", "{", "{\"error\":5}", "{\"error\":{\"code\":\"190\"}}",
	                          "{\"messages\":{\"id\":1}}", "{\"messages\":[{\"id\":\"\"}]}",
	                          "{\"error\":{\"code\":1.5}}", "\xff\xfe" };
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		parse(hostile[i], &p, st);
		cr_assert_eq(p.code, WA_CODE_NONE, "%s", hostile[i]);
		cr_assert_null(p.wamid, "%s", hostile[i]);
	}
	/* A huge wamid and detail are truncated, never overflow the store. */
	char big[3000];
	int n = snprintf(big, sizeof big, "{\"messages\":[{\"id\":\"wamid.%0900d\"}],"
	                 "\"error\":{\"code\":7,\"message\":\"%01500d\"}}", 0, 0);
	cr_assert_lt(n, (int)sizeof big);
	parse(big, &p, st);
	cr_assert_eq(p.wamid_len, WA_WAMID_MAX - 1);
	cr_assert_eq(p.detail_len, WA_DETAIL_MAX - 1);
	cr_assert_eq(strlen(p.wamid), p.wamid_len);
}

Test(waerr, outcome_names)
{
	cr_assert_str_eq(wa_outcome_name(WA_ACCEPTED), "accepted");
	cr_assert_str_eq(wa_outcome_name(WA_STOP_ENGINE), "stop_engine");
	cr_assert_str_eq(wa_outcome_name(WA_OUTCOME_COUNT), "unknown");
}

/* ------------------------------------------------------------------------
 * Differential test: the hand-written extractor against jansson, on
 * generated response bodies (real shapes, duplicate keys, escapes, odd
 * types, nesting) and on random mutations of them. Wherever jansson accepts
 * the document, both must extract the same fields. */

struct ref {
	int ok;
	int64_t code, subcode;
	char wamid[WA_WAMID_MAX], detail[WA_DETAIL_MAX], status[32];
	int has_wamid, has_detail, has_status;
};

static void cut(char *dst, size_t cap, const char *s, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

static void ref_parse(const char *b, size_t n, struct ref *r)
{
	memset(r, 0, sizeof *r);
	r->code = r->subcode = WA_CODE_NONE;
	json_t *root = json_loadb(b, n, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return;
	}
	r->ok = 1;
	json_t *e = json_object_get(root, "error");
	if (json_is_object(e)) {
		json_t *c = json_object_get(e, "code"), *sc = json_object_get(e, "error_subcode");
		if (json_is_integer(c))
			r->code = json_integer_value(c);
		if (json_is_integer(sc))
			r->subcode = json_integer_value(sc);
		json_t *d = json_object_get(json_object_get(e, "error_data"), "details");
		if (!json_is_string(d))
			d = json_object_get(e, "message");
		if (json_is_string(d)) {
			r->has_detail = 1;
			cut(r->detail, sizeof r->detail, json_string_value(d), json_string_length(d));
		}
	}
	json_t *m0 = json_array_get(json_object_get(root, "messages"), 0);
	json_t *id = json_object_get(m0, "id"), *st = json_object_get(m0, "message_status");
	if (json_is_string(id) && json_string_length(id)) {
		r->has_wamid = 1;
		cut(r->wamid, sizeof r->wamid, json_string_value(id), json_string_length(id));
	}
	if (json_is_string(st)) {
		r->has_status = 1;
		cut(r->status, sizeof r->status, json_string_value(st), json_string_length(st));
	}
	json_decref(root);
}

static uint64_t rng_s;
static uint64_t rnd(void)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return rng_s;
}

static const char *const pieces_val[] = {
	"131056", "-3", "0", "1.5", "1e3", "\"190\"", "null", "true", "[1,2]", "{}",
	"99999999999999999999", "9223372036854775807", "-9223372036854775808",
	"\"wamid.ABC\"", "\"\"", "\"caff\\u00e8 \\ud83d\\ude00 \\\" \\\\ \\/ \\n\"", "\"x\\u0041y\"",
	"{\"details\":\"d1\"}", "{\"details\":5}", "[{\"id\":\"w1\"},{\"id\":\"w2\"}]",
	"[{\"id\":\"w3\",\"message_status\":\"paused\"}]", "[]", "[[{\"id\":\"no\"}]]",
	"\"a very long string aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
};
static const char *const pieces_key[] = {
	"code", "error_subcode", "message", "error_data", "details", "id", "message_status",
	"error", "messages", "c\\u006fde", "other", "", "messages_x",
};

static size_t gen_obj(char *o, size_t cap, int depth);

static size_t gen_val(char *o, size_t cap, int depth)
{
	if (depth < 3 && rnd() % 4 == 0)
		return gen_obj(o, cap, depth + 1);
	const char *v = pieces_val[rnd() % (sizeof pieces_val / sizeof pieces_val[0])];
	size_t n = strlen(v);
	if (n >= cap)
		return 0;
	memcpy(o, v, n);
	return n;
}

static size_t gen_obj(char *o, size_t cap, int depth)
{
	size_t n = 0;
	if (cap < 4)
		return 0;
	o[n++] = '{';
	int k = (int)(rnd() % 5);
	for (int i = 0; i < k && n + 64 < cap; i++) {
		if (i)
			o[n++] = ',';
		const char *key = pieces_key[rnd() % (sizeof pieces_key / sizeof pieces_key[0])];
		n += (size_t)snprintf(o + n, cap - n, " \"%s\" : ", key);
		n += gen_val(o + n, cap - n - 2, depth);
	}
	o[n++] = '}';
	return n;
}

static void compare(const char *b, size_t n)
{
	struct ref r;
	ref_parse(b, n, &r);
	char st[WAERR_STORE_MIN];
	struct waerr_parsed p;
	cr_assert_eq(waerr_parse((const uint8_t *)b, n, &p, st, sizeof st), 0);
	if (!r.ok || memchr(b, 0, n))
		return;  /* jansson refuses (or takes a raw NUL, which is not JSON):
		          * ours may differ, it only must not crash */
	cr_assert(p.json_ok, "jansson accepts, extractor refuses: %.*s", (int)n, b);
	cr_assert_eq(p.code, r.code, "code in %.*s", (int)n, b);
	cr_assert_eq(p.subcode, r.subcode, "subcode in %.*s", (int)n, b);
	cr_assert_eq(!!p.wamid, r.has_wamid, "wamid presence in %.*s", (int)n, b);
	if (p.wamid)
		cr_assert_str_eq(p.wamid, r.wamid);
	cr_assert_eq(!!p.detail, r.has_detail, "detail presence in %.*s", (int)n, b);
	if (p.detail)
		cr_assert_str_eq(p.detail, r.detail);
	cr_assert_eq(!!p.msg_status, r.has_status);
	if (p.msg_status)
		cr_assert_str_eq(p.msg_status, r.status);
}

Test(waerr, extractor_agrees_with_jansson_on_generated_and_mutated_bodies)
{
	rng_s = 0x9E3779B97F4A7C15ull;
	char b[4096];
	int accepted = 0;
	for (int i = 0; i < 30000; i++) {
		size_t n = gen_obj(b, sizeof b, 0);
		int mut = (int)(rnd() % 4);
		for (int k = 0; k < mut && n; k++) {
			size_t at = rnd() % n;
			switch (rnd() % 3) {
			case 0: b[at] = (char)rnd(); break;                 /* flip a byte */
			case 1: n = at; break;                              /* truncate */
			case 2: memmove(b + at, b + at + 1, n - at - 1); n--; break;  /* delete */
			}
		}
		struct ref r;
		ref_parse(b, n, &r);
		accepted += r.ok;
		compare(b, n);
	}
	cr_assert_gt(accepted, 5000, "the generator mostly makes valid documents (%d)", accepted);
	/* Deep nesting is refused, not recursed into without bound. */
	char deep[2000];
	size_t n = 0;
	deep[n++] = '{';
	n += (size_t)snprintf(deep + n, sizeof deep - n, "\"a\":");
	for (int i = 0; i < 500; i++)
		deep[n++] = '[';
	for (int i = 0; i < 500; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	char st[WAERR_STORE_MIN];
	struct waerr_parsed p;
	cr_assert_eq(waerr_parse((const uint8_t *)deep, n, &p, st, sizeof st), 0);
	cr_assert_not(p.json_ok);
	cr_assert_eq(waerr_parse((const uint8_t *)"{}", 2, &p, st, 10), BND_E_INVAL);
}
