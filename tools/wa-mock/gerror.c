/*
 * gerror.c - the Graph error table and renderer (see gerror.h).
 *
 * Titles and details follow Meta's error-code page as summarised in the
 * reference; HTTP statuses follow the older table that still had an HTTP
 * column (reference §1.5): 401 for 0 and 190; 403 for 10, 200-299, 368,
 * 131005, 131031; 404 for 132001; 500 for 3, 131000, 131016, 131045,
 * 131057; 503 for 2; 400 for everything else, throttles included. A client
 * must classify by error.code, so a test against the mock that passes only
 * because of the HTTP status would be a test of the wrong thing.
 *
 * The table is sorted by code and searched by bisection. Messages and
 * details may quote client bytes (a template name, a parser's complaint),
 * so they are written in JW_META form: ASCII only, invalid UTF-8 replaced.
 */
#include "gerror.h"

#include <stdio.h>
#include <string.h>

#include "faults.h"

static const struct gerror_info table[] = {
	{0, 401, 0, 1, "AuthException", "We were unable to authenticate the app user."},
	{1, 400, 0, 0, "API Unknown", "Invalid request or possible server error."},
	{2, 503, 0, 0, "API Service", "Temporary due to downtime or due to being overloaded."},
	{3, 500, 0, 0, "API Method", "Capability or permissions issue."},
	{4, 400, 0, 1, "API Too Many Calls", "The app has reached its API call rate limit."},
	{10, 403, 0, 1, "Permission denied", "Permission is either not granted or has been removed."},
	{100, 400, 0, 0, "Invalid parameter", "Invalid parameter."},
	{190, 401, 0, 1, "Access token has expired", "Invalid OAuth access token."},
	{200, 403, 0, 1, "API Permission", "Permission is either not granted or has been removed."},
	{368, 403, 0, 0, "Temporarily blocked for policies violations",
	 "The WhatsApp Business Account is restricted from messaging."},
	{2500, 404, 0, 1, "Unknown path components", "Unknown path components."},
	{80007, 400, 0, 0, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."},
	{130429, 400, 0, 0, "Rate limit hit", "Cloud API message throughput has been reached."},
	{130472, 400, 0, 0, "User's number is part of an experiment",
	 "Message was not sent as part of an experiment."},
	{130497, 400, 0, 0, "Business account is restricted from messaging users in this country",
	 "The business account is restricted from messaging users in this country."},
	{131000, 500, 0, 0, "Something went wrong", "Message failed to send due to an unknown error."},
	{131005, 403, 0, 0, "Access denied", "Permission is either not granted or has been removed."},
	{131008, 400, 0, 0, "Required parameter is missing", "The request is missing a required parameter."},
	{131009, 400, 0, 0, "Parameter value is not valid", "One or more parameter values are invalid."},
	{131016, 500, 0, 0, "Service unavailable", "A service is temporarily unavailable."},
	{131021, 400, 0, 0, "Recipient cannot be sender", "Sender and recipient phone number is the same."},
	{131026, 400, 0, 0, "Message undeliverable", "Unable to deliver message."},
	{131030, 400, 0, 0, "Recipient phone number not in allowed list",
	 "The recipient phone number is not in the allowed list."},
	{131031, 403, 0, 0, "Account has been locked", "The business account has been locked."},
	{131045, 500, 0, 0, "Incorrect certificate", "Message failed to send due to a phone number registration error."},
	{131047, 400, 0, 0, "Re-engagement message",
	 "More than 24 hours have passed since the recipient last replied to the sender number."},
	{131048, 400, 0, 0, "Spam rate limit hit",
	 "Message failed to send because there are restrictions on how many messages can be sent from this phone number."},
	{131049, 400, 0, 0, "This message was not delivered to maintain healthy ecosystem engagement.",
	 "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
	{131050, 400, 0, 0, "User has stopped marketing messages",
	 "The user has stopped marketing messages from this business."},
	{131051, 400, 0, 0, "Unsupported message type", "The message type is not supported."},
	{131056, 400, 2494055, 0, "(Business Account, Consumer Account) pair rate limit hit",
	 "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."},
	{131057, 500, 0, 0, "Account in maintenance mode", "The business account is in maintenance mode."},
	{131064, 400, 0, 0, "Messaging limit reached",
	 "The business has reached its limit of unique recipients in a rolling 24-hour window."},
	{132000, 400, 0, 0, "Number of parameters does not match the expected number of params",
	 "The number of variable parameter values does not match the number of parameters in the template."},
	{132001, 404, 0, 0, "Template name does not exist in the translation",
	 "The template does not exist in the specified language or has not been approved."},
	{132005, 400, 0, 0, "Translated text too long", "The translated text is too long."},
	{132007, 400, 0, 0, "Template format character policy violated",
	 "Template content violates a WhatsApp policy."},
	{132012, 400, 0, 0, "Parameter format does not match format in the created template",
	 "The variable parameter values are formatted incorrectly."},
	{132015, 400, 0, 0, "Template is paused", "The template is paused due to low quality."},
	{132016, 400, 0, 0, "Template is disabled", "The template has been disabled due to low quality."},
	{133004, 400, 0, 0, "Server temporarily unavailable", "The server is temporarily unavailable."},
};

static const struct gerror_info generic = {0, 400, 0, 0, "Error", "An error occurred."};

const struct gerror_info *gerror_find(int code)
{
	if (code >= 200 && code <= 299)
		code = 200;
	size_t lo = 0, hi = sizeof table / sizeof table[0];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (table[mid].code == code)
			return &table[mid];
		if (table[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return &generic;
}

int gerror_http_status(int code)
{
	return gerror_find(code)->http;
}

void gerror_render(struct jw *w, int code, int subcode, const char *message,
                   const char *details, uint64_t trace)
{
	const struct gerror_info *e = gerror_find(code);
	char msg[256];
	if (!message) {
		snprintf(msg, sizeof msg, "(#%d) %s", code, e->title);
		message = msg;
	}
	if (code == GERROR_TOKEN && message == msg)
		message = "Invalid OAuth access token - Cannot parse access token";
	if (subcode < 0)
		subcode = e->subcode;
	if (!details && !e->graph_level) {
		/* A specific message makes the better details: "(#100) The parameter
		 * to is required." -> "The parameter to is required." */
		const char *rp = message != msg ? strstr(message, ") ") : NULL;
		details = rp && message[0] == '(' ? rp + 2 : message != msg ? message : e->details;
	}

	jw_lit(w, "{\"error\":{\"message\":");
	jw_str(w, (const uint8_t *)message, strlen(message), JW_META);
	jw_lit(w, ",\"type\":\"OAuthException\",\"code\":");
	jw_i64(w, code);
	if (subcode > 0) {
		jw_lit(w, ",\"error_subcode\":");
		jw_i64(w, subcode);
	}
	if (details && *details) {
		jw_lit(w, ",\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":");
		jw_str(w, (const uint8_t *)details, strlen(details), JW_META);
		jw_lit(w, "}");
	}
	/* fbtrace_id: 'A' and 26 more characters of [A-Za-z0-9_-], like Meta's. */
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char id[27];
	id[0] = 'A';
	uint64_t h = trace;
	for (int i = 1; i < 27; i++) {
		if (i % 10 == 1)
			h = faults_hash(trace, (uint64_t)i, FAULTS_TAG_TRACE);
		id[i] = alpha[h & 63];
		h >>= 6;
	}
	jw_lit(w, ",\"fbtrace_id\":\"");
	jw_raw(w, id, sizeof id);
	jw_lit(w, "\"}}");
}
