/*
 * waerr.h - what a Cloud API response means for a bulk sender: the parsed
 * response and its outcome class. Classification goes by `error.code`
 * (never by HTTP status or title, reference §1.5), from ONE table in
 * waerr.c that follows reference/whatsapp-cloud-api.md §2. The HTTP status
 * is used only when a response carries no WhatsApp error object at all (a
 * proxy, a load balancer), and transport failures are split by whether any
 * request byte left: before, it is safe to retry; after, nobody knows.
 */
#ifndef WAERR_H
#define WAERR_H

#include <stddef.h>
#include <stdint.h>

enum wa_outcome {
	WA_ACCEPTED = 0,        /* 2xx with a wamid: the API took it (not delivered yet) */
	WA_RETRY_THROTTLE,      /* 130429 (and 4, 80007): slow the whole number down, retry */
	WA_RETRY_PAIR,          /* 131056: only this recipient waits (4^X s), retry */
	WA_RETRY_TRANSIENT,     /* server trouble or not sent: retry with backoff */
	WA_UNCERTAIN,           /* sent, answer lost (timeout/reset after the body left) */
	WA_FAILED_RECIPIENT,    /* permanent for this recipient: record the reason */
	WA_STOP_CAMPAIGN,       /* every message of this notice will fail: stop it */
	WA_STOP_ENGINE,         /* token/account/permission: stop sending altogether */
	WA_OUTCOME_COUNT
};

#define WA_CODE_NONE (-1)    /* no error.code in the response */
#define WA_WAMID_MAX 256     /* longest wamid kept (real ones are ~60 bytes) */
#define WA_DETAIL_MAX 256    /* longest error detail kept */

/* One rule of the table: codes lo..hi map to outcome. */
struct waerr_rule {
	int64_t lo, hi;
	enum wa_outcome outcome;
	uint8_t max_tries;   /* retry budget hint for RETRY_*: 0 = the caller's default */
	const char *why;     /* short reason, for reports */
};

/* What waerr_parse found in a response body. Strings point into body. */
struct waerr_parsed {
	int json_ok;                 /* the body is a JSON object */
	int64_t code;                /* error.code, or WA_CODE_NONE */
	int64_t subcode;             /* error.error_subcode, or WA_CODE_NONE */
	const char *wamid;           /* messages[0].id; NULL if absent */
	size_t wamid_len;
	const char *detail;          /* error.error_data.details, else error.message */
	size_t detail_len;
	const char *msg_status;      /* messages[0].message_status (pacing), or NULL */
	size_t msg_status_len;
};

/*
 * waerr_lookup - the rule for an error code; never NULL. Codes not in the
 * table get a default rule: WA_FAILED_RECIPIENT ("unknown code": fails that
 * one message, counted by code; a sender-level breaker decides about the
 * rest). Pure, thread-safe.
 */
const struct waerr_rule *waerr_lookup(int64_t code);

/*
 * waerr_classify_http - outcome for a response WITHOUT an error code:
 * 2xx without wamid UNCERTAIN (the API may have taken it), 401/403
 * STOP_ENGINE, 408 RETRY_TRANSIENT, 429 RETRY_THROTTLE, other 4xx
 * STOP_CAMPAIGN (not the Cloud API answering: every message would fail the
 * same way), 5xx and anything else RETRY_TRANSIENT.
 */
enum wa_outcome waerr_classify_http(long status);

/*
 * waerr_classify_transport - outcome of a transfer that ended without a
 * complete response: RETRY_TRANSIENT when no request byte was written
 * (connect failures, pending-queue timeouts), else UNCERTAIN.
 */
enum wa_outcome waerr_classify_transport(int64_t request_bytes_sent);

/*
 * waerr_parse - extract code, subcode, wamid, detail and message_status
 * from a response body: one bounded pass (at most len bytes, no NUL needed,
 * nesting at most 64), the same answers as jansson on every document
 * jansson accepts. Strings are unescaped into `store` (WAERR_STORE_MIN
 * bytes) and out's pointers point there, NUL-terminated, truncated to their
 * maxima. Returns 0 (also for bodies that are not one JSON object: then
 * json_ok = 0 and nothing is extracted) or BND_E_INVAL (store too small).
 */
#define WAERR_STORE_MIN (WA_WAMID_MAX + 2 * WA_DETAIL_MAX + 32)
int waerr_parse(const uint8_t *body, size_t len, struct waerr_parsed *out,
                char *store, size_t store_len);

/* wa_outcome_name - "accepted", "retry_throttle", ...; static. */
const char *wa_outcome_name(enum wa_outcome o);

#endif
