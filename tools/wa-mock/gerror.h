/*
 * gerror.h - the Graph API error bodies wa-mock answers with: a table of the
 * codes a bulk sender meets (reference §1.5 and §2), the HTTP status of each
 * (the older Meta table: throttles are 400, tokens 401, 132001 404, ...),
 * and the renderer of the real JSON shape:
 *
 *   {"error":{"message":"(#131056) (Business Account, Consumer Account) pair
 *   rate limit hit","type":"OAuthException","code":131056,
 *   "error_subcode":2494055,"error_data":{"messaging_product":"whatsapp",
 *   "details":"..."},"fbtrace_id":"A..."}}
 */
#ifndef WAMOCK_GERROR_H
#define WAMOCK_GERROR_H

#include <stdint.h>

#include "jw.h"

/* Codes wa-mock produces by itself (others come from --error-mix). */
enum {
	GERROR_UNKNOWN_PATH = 2500,  /* Graph: unknown path components */
	GERROR_PARAM = 100,          /* invalid parameter, bad JSON, unknown object */
	GERROR_TOKEN = 190,          /* bad or missing access token */
	GERROR_THROUGHPUT = 130429,
	GERROR_PAIR = 131056,
	GERROR_MISSING = 131008,     /* required parameter missing */
	GERROR_BAD_VALUE = 131009,   /* parameter value is not valid */
	GERROR_UNDELIVERABLE = 131026,
	GERROR_UNKNOWN = 131000,     /* something went wrong (HTTP 500) */
	GERROR_TEMPLATE_PARAMS = 132000,
	GERROR_TEMPLATE_MISSING = 132001,
	GERROR_TEMPLATE_PAUSED = 132015,
	GERROR_TEMPLATE_DISABLED = 132016,
	GERROR_TIER_DEFAULT = 131064,  /* messaging limit: configurable, --tier-code */
};

/* One row of the table. Strings are static. */
struct gerror_info {
	int code;
	int http;             /* HTTP status the mock answers with */
	int subcode;          /* error_subcode to send, 0 = none */
	int graph_level;      /* 1: a Graph-level error, no error_data */
	const char *title;    /* message is "(#code) title" unless overridden */
	const char *details;  /* error_data.details */
};

/*
 * gerror_find - the row of code. Never NULL: an unknown code gets a generic
 * row (HTTP 400, title "Error") whose code field is 0; 200..299 share the
 * "permission" row. The pointer is static.
 */
const struct gerror_info *gerror_find(int code);

/* gerror_http_status - shorthand for gerror_find(code)->http. */
int gerror_http_status(int code);

/*
 * gerror_render - append the error body for code to w.
 *   subcode: -1 = the table's, 0 = none, > 0 = this one.
 *   message: NULL = "(#code) title"; otherwise used as is (UTF-8, escaped).
 *   details: NULL = the table's, or the text of a given message after its
 *            "(#code) " (no error_data for Graph-level rows);
 *            "" = no error_data; otherwise used as is (escaped).
 *   trace:   seeds the fbtrace_id (27 characters like Meta's).
 * message and details are NUL-terminated; they may contain client text.
 */
void gerror_render(struct jw *w, int code, int subcode, const char *message,
                   const char *details, uint64_t trace);

#endif
