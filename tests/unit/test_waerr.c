/* test_waerr.c - the error-code table and response parsing (engine/waerr.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
