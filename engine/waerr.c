/*
 * waerr.c - the error-code table and response parsing (see waerr.h).
 *
 * The table is the only place that knows what a code means; it follows
 * reference/whatsapp-cloud-api.md §2, with these choices where the
 * reference leaves room:
 *  - 1 ("invalid request or possible server error") is transient with a
 *    budget of 3 tries, then the caller treats it as permanent.
 *  - 4 and 80007 (app / WABA call-rate limits) slow the whole number like
 *    130429: they are throttles of the same sender.
 *  - 131048 (spam rate limit) stops the campaign: hammering makes it worse.
 *  - 131047 (re-engagement, free-form outside the window) fails the
 *    recipient: the sender resends as a template if it wants.
 *  - 3 (capability) and 131045 (certificate) stop the engine like 10/200:
 *    no message can succeed until an operator acts.
 *  - unknown codes fail only their message (see waerr_lookup).
 * Parsing uses jansson: one small body per message, measured in
 * bench/bench_loop.c's profile as far below libcurl's own cost.
 */
#include "waerr.h"

#include <jansson.h>
#include <string.h>

static const struct waerr_rule rules[] = {
	{ 0, 0, WA_STOP_ENGINE, 0, "auth exception (token)" },
	{ 1, 1, WA_RETRY_TRANSIENT, 3, "invalid request or server error" },
	{ 2, 2, WA_RETRY_TRANSIENT, 0, "temporary API downtime" },
	{ 3, 3, WA_STOP_ENGINE, 0, "API capability missing" },
	{ 4, 4, WA_RETRY_THROTTLE, 0, "app call-rate limit" },
	{ 10, 10, WA_STOP_ENGINE, 0, "permission denied" },
	{ 100, 100, WA_FAILED_RECIPIENT, 0, "invalid parameter" },
	{ 190, 190, WA_STOP_ENGINE, 0, "access token expired or invalid" },
	{ 200, 299, WA_STOP_ENGINE, 0, "permission missing" },
	{ 368, 368, WA_STOP_ENGINE, 0, "temporarily blocked for policy violations" },
	{ 80007, 80007, WA_RETRY_THROTTLE, 0, "WABA rate limit" },
	{ 130429, 130429, WA_RETRY_THROTTLE, 0, "throughput limit reached" },
	{ 130497, 130497, WA_STOP_ENGINE, 0, "country restricted" },
	{ 131000, 131000, WA_RETRY_TRANSIENT, 0, "unknown server error" },
	{ 131005, 131005, WA_STOP_ENGINE, 0, "access denied" },
	{ 131008, 131009, WA_FAILED_RECIPIENT, 0, "missing or invalid parameter" },
	{ 131016, 131016, WA_RETRY_TRANSIENT, 0, "service unavailable" },
	{ 131021, 131021, WA_FAILED_RECIPIENT, 0, "recipient is the sender" },
	{ 131026, 131026, WA_FAILED_RECIPIENT, 0, "message undeliverable" },
	{ 131030, 131030, WA_FAILED_RECIPIENT, 0, "recipient not in allowed list" },
	{ 131031, 131031, WA_STOP_ENGINE, 0, "account locked" },
	{ 131045, 131045, WA_STOP_ENGINE, 0, "phone number not registered (certificate)" },
	{ 131047, 131047, WA_FAILED_RECIPIENT, 0, "re-engagement: outside 24 h window" },
	{ 131048, 131048, WA_STOP_CAMPAIGN, 0, "spam rate limit" },
	{ 131049, 131050, WA_FAILED_RECIPIENT, 0, "marketing limit or opt-out" },
	{ 131051, 131053, WA_FAILED_RECIPIENT, 0, "unsupported message or media" },
	{ 131056, 131056, WA_RETRY_PAIR, 0, "pair rate limit" },
	{ 131057, 131057, WA_RETRY_TRANSIENT, 0, "account in maintenance" },
	{ 131064, 131064, WA_STOP_ENGINE, 0, "messaging limit: template misclassified" },
	{ 132000, 132000, WA_STOP_CAMPAIGN, 0, "template parameter count mismatch" },
	{ 132001, 132001, WA_STOP_CAMPAIGN, 0, "template does not exist" },
	{ 132005, 132005, WA_STOP_CAMPAIGN, 0, "template text too long" },
	{ 132007, 132007, WA_STOP_CAMPAIGN, 0, "template format policy" },
	{ 132012, 132012, WA_STOP_CAMPAIGN, 0, "template parameter format mismatch" },
	{ 132015, 132015, WA_STOP_CAMPAIGN, 0, "template paused" },
	{ 132016, 132016, WA_STOP_CAMPAIGN, 0, "template disabled" },
	{ 133004, 133004, WA_RETRY_TRANSIENT, 0, "server temporarily unavailable" },
	{ 135000, 135000, WA_FAILED_RECIPIENT, 0, "generic user error" },
};

static const struct waerr_rule unknown_rule = {
	0, 0, WA_FAILED_RECIPIENT, 0, "unknown error code",
};

const struct waerr_rule *waerr_lookup(int64_t code)
{
	size_t lo = 0, hi = sizeof rules / sizeof rules[0];
	while (lo < hi) {  /* rules are sorted and disjoint */
		size_t mid = (lo + hi) / 2;
		if (code < rules[mid].lo)
			hi = mid;
		else if (code > rules[mid].hi)
			lo = mid + 1;
		else
			return &rules[mid];
	}
	return &unknown_rule;
}

enum wa_outcome waerr_classify_http(long status)
{
	if (status >= 200 && status < 300)
		return WA_UNCERTAIN;
	if (status == 401 || status == 403)
		return WA_STOP_ENGINE;
	if (status == 408)
		return WA_RETRY_TRANSIENT;
	if (status == 429)
		return WA_RETRY_THROTTLE;
	if (status >= 400 && status < 500)
		return WA_STOP_CAMPAIGN;
	return WA_RETRY_TRANSIENT;
}

enum wa_outcome waerr_classify_transport(int64_t request_bytes_sent)
{
	return request_bytes_sent > 0 ? WA_UNCERTAIN : WA_RETRY_TRANSIENT;
}

static const char *copy(char **dst, size_t *room, const char *s, size_t n, size_t max,
                        size_t *out_len)
{
	if (n > max)
		n = max;
	if (n + 1 > *room)
		n = *room ? *room - 1 : 0;
	if (!*room)
		return NULL;
	char *p = *dst;
	memcpy(p, s, n);
	p[n] = 0;
	*dst += n + 1;
	*room -= n + 1;
	*out_len = n;
	return p;
}

static int64_t int_or_none(json_t *v)
{
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	return WA_CODE_NONE;
}

int waerr_parse(const uint8_t *body, size_t len, struct waerr_parsed *out,
                char *store, size_t store_len)
{
	memset(out, 0, sizeof *out);
	out->code = WA_CODE_NONE;
	out->subcode = WA_CODE_NONE;
	json_t *root = len ? json_loadb((const char *)body, len, 0, NULL) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		return 0;
	}
	out->json_ok = 1;
	json_t *err = json_object_get(root, "error");
	if (json_is_object(err)) {
		out->code = int_or_none(json_object_get(err, "code"));
		out->subcode = int_or_none(json_object_get(err, "error_subcode"));
		json_t *d = json_object_get(json_object_get(err, "error_data"), "details");
		if (!json_is_string(d))
			d = json_object_get(err, "message");
		if (json_is_string(d))
			out->detail = copy(&store, &store_len, json_string_value(d),
			                   json_string_length(d), WA_DETAIL_MAX - 1, &out->detail_len);
	}
	json_t *m0 = json_array_get(json_object_get(root, "messages"), 0);
	json_t *id = json_object_get(m0, "id");
	if (json_is_string(id) && json_string_length(id))
		out->wamid = copy(&store, &store_len, json_string_value(id), json_string_length(id),
		                  WA_WAMID_MAX - 1, &out->wamid_len);
	json_t *ms = json_object_get(m0, "message_status");
	if (json_is_string(ms))
		out->msg_status = copy(&store, &store_len, json_string_value(ms),
		                       json_string_length(ms), 31, &out->msg_status_len);
	json_decref(root);
	return 0;
}

const char *wa_outcome_name(enum wa_outcome o)
{
	static const char *const names[WA_OUTCOME_COUNT] = {
		"accepted", "retry_throttle", "retry_pair", "retry_transient",
		"uncertain", "failed_recipient", "stop_campaign", "stop_engine",
	};
	return (unsigned)o < WA_OUTCOME_COUNT ? names[o] : "unknown";
}
