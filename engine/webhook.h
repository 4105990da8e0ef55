/*
 * webhook.h - the pure half of the WhatsApp webhook receiver: signature
 * verification over the raw body, the GET verification handshake, and the
 * walk of a POST body into events (inbound messages, status updates,
 * account errors). No I/O, no clock, no global state; every function is
 * thread-safe and may run on many HTTP threads at once.
 *
 * The order in which the server uses them (docs/WEBHOOK.md):
 *   1. size check        body over the limit                -> 413
 *   2. webhook_verify_signature(secret, body, header)      -> 401 on error
 *   3. webhook_parse(body, ...) calling back once per event -> 400 on
 *      BND_E_WEBHOOK_JSON / _NOT_OBJECT, 413 on _TOO_MANY, 500/503 on
 *      BND_E_NOMEM or an error returned by the callback
 *   4. 200 once what the events changed is durable.
 * The signature is always checked on the bytes exactly as received: the
 * body is never re-serialised (Meta's \u00e8 and \/ escapes would change).
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"   /* STORE_SRC_MAX: the longest message id we accept */

/* Limits. Meta documents payloads up to 3 MB and up to 1,000 updates per
 * POST; the defaults leave room above both and bound everything else. */
#define WEBHOOK_BODY_MAX ((size_t)3 << 20 | (size_t)1 << 19) /* 3.5 MiB */
#define WEBHOOK_EVENTS_MAX 10000     /* events (messages+statuses+errors) per body */
#define WEBHOOK_ID_MAX STORE_SRC_MAX /* a wamid longer than this is skipped */
#define WEBHOOK_TEXT_MAX 16384       /* 4,096 characters of up to 4 bytes each */
#define WEBHOOK_TYPE_MAX 32          /* longest message type or status name */
#define WEBHOOK_BIZ_MAX 1024         /* biz_opaque_callback_data (SDKs say 512) */
#define WEBHOOK_NOTE_MAX 512         /* error title / message / details, cut */
#define WEBHOOK_PNID_MAX 64          /* metadata.phone_number_id */
#define WEBHOOK_CHALLENGE_MAX 256    /* hub.challenge echoed by the handshake */

#define WEBHOOK_SIG_HEADER "X-Hub-Signature-256"
#define WEBHOOK_SIG_PREFIX "sha256="
#define WEBHOOK_SIG_LEN (7 + 64)     /* "sha256=" + 64 hex digits */

/*
 * webhook_verify_signature - check header_value (the X-Hub-Signature-256
 * header, NUL-terminated, may be NULL) against HMAC-SHA256(key = secret,
 * message = the raw body bytes). The header is "sha256=" followed by 64 hex
 * digits; either case is accepted for the prefix and the digits, and
 * surrounding spaces or tabs are ignored. The MAC comparison is constant
 * time (CRYPTO_memcmp). body may be NULL when len is 0.
 * Returns 0 when the signature is valid;
 *   BND_E_WEBHOOK_SIG_MISSING    header_value NULL or empty
 *   BND_E_WEBHOOK_SIG_MALFORMED  anything but "sha256=" + 64 hex digits
 *   BND_E_WEBHOOK_SIG_MISMATCH   well-formed but not this body's MAC
 *   BND_E_INVAL                  no secret (slen 0): every body is refused
 *   BND_E_NOMEM                  OpenSSL could not compute the MAC
 */
int webhook_verify_signature(const uint8_t *secret, size_t slen, const uint8_t *body,
                             size_t len, const char *header_value);

/*
 * webhook_sign - write the header value a sender would put on body:
 * "sha256=" + 64 lowercase hex digits + NUL into out (WEBHOOK_SIG_LEN + 1
 * bytes). For tests, the benchmark and wa-mock's status webhooks.
 * Returns 0, BND_E_INVAL (no secret) or BND_E_NOMEM.
 */
int webhook_sign(const uint8_t *secret, size_t slen, const uint8_t *body, size_t len,
                 char out[WEBHOOK_SIG_LEN + 1]);

/*
 * webhook_token_equal - constant-time equality of two secrets of any
 * lengths (both are hashed with SHA-256 and the digests compared with
 * CRYPTO_memcmp, so neither the content nor the length leaks through
 * timing). An empty expected token never matches: an unset secret must not
 * open the door. For the verify token and the operator API's bearer token.
 * Returns 1 when equal and expected_len > 0, else 0.
 */
int webhook_token_equal(const uint8_t *given, size_t given_len, const uint8_t *expected,
                        size_t expected_len);

/*
 * webhook_handshake - the GET /webhook verification. mode, token and
 * challenge are the hub.mode, hub.verify_token and hub.challenge query
 * values (NUL-terminated, any may be NULL); expected is the configured
 * verify token (BANDITORE_VERIFY_TOKEN).
 * Returns 0 when mode is "subscribe", the token matches (constant time,
 * webhook_token_equal) and the challenge is 1..WEBHOOK_CHALLENGE_MAX
 * visible ASCII characters: answer 200 with the challenge, byte for byte,
 * as a text/plain body. Otherwise BND_E_WEBHOOK_HANDSHAKE: answer 403.
 */
int webhook_handshake(const char *mode, const char *token, const char *challenge,
                      const uint8_t *expected, size_t expected_len);

/* ------------------------------------------------------------------ */
/* Body parsing                                                        */

enum webhook_ev_kind {
	WEBHOOK_EV_MESSAGE = 1,  /* entry[].changes[].value.messages[] */
	WEBHOOK_EV_STATUS = 2,   /* entry[].changes[].value.statuses[] */
	WEBHOOK_EV_ERROR = 3,    /* entry[].changes[].value.errors[] (account level) */
};

/* Message types with a meaning for us; anything else is WEBHOOK_MSG_OTHER
 * with its name still given in type_name. */
enum webhook_msg_type {
	WEBHOOK_MSG_OTHER = 0,
	WEBHOOK_MSG_TEXT,          /* text.body */
	WEBHOOK_MSG_BUTTON,        /* a template quick-reply button: button.text */
	WEBHOOK_MSG_INTERACTIVE,   /* button_reply.title or list_reply.title */
	WEBHOOK_MSG_IMAGE,
	WEBHOOK_MSG_AUDIO,
	WEBHOOK_MSG_VIDEO,
	WEBHOOK_MSG_DOCUMENT,
	WEBHOOK_MSG_STICKER,
	WEBHOOK_MSG_LOCATION,
	WEBHOOK_MSG_CONTACTS,
	WEBHOOK_MSG_REACTION,
	WEBHOOK_MSG_ORDER,
	WEBHOOK_MSG_SYSTEM,
	WEBHOOK_MSG_UNSUPPORTED,
};

enum webhook_status {
	WEBHOOK_ST_OTHER = 0,      /* "played", "deleted", anything new */
	WEBHOOK_ST_SENT,
	WEBHOOK_ST_DELIVERED,
	WEBHOOK_ST_READ,
	WEBHOOK_ST_FAILED,
};

/* "text", "button", ... ("other" for WEBHOOK_MSG_OTHER). */
const char *webhook_msg_type_name(enum webhook_msg_type t);
/* "sent", "delivered", "read", "failed", "other". */
const char *webhook_status_name(enum webhook_status s);

/*
 * One event. Every pointer is BORROWED from the parsed document: valid only
 * during the callback call that receives the event, never NUL-terminated
 * (use the lengths; strings may contain NUL bytes, which JSON allows as
 * \u0000). Copy what must outlive the call.
 */
struct webhook_message {
	uint64_t from;                  /* sender, packed (phone.h); always valid */
	enum webhook_msg_type type;
	const uint8_t *type_name;       /* the "type" string, 1..WEBHOOK_TYPE_MAX */
	size_t type_len;
	const uint8_t *text;            /* TEXT, BUTTON, INTERACTIVE: the words the
	                                   citizen sent or tapped; NULL otherwise
	                                   or when absent */
	size_t text_len;                /* <= WEBHOOK_TEXT_MAX */
	int text_truncated;             /* 1 when the text was longer and was cut
	                                   at a UTF-8 boundary (never a command) */
};

struct webhook_status_update {
	enum webhook_status status;
	const uint8_t *status_name;     /* the "status" string as sent */
	size_t status_len;
	uint64_t recipient;             /* recipient_id packed; 0 when missing or
	                                   invalid (counted in fields_defaulted) */
	const uint8_t *biz;             /* biz_opaque_callback_data; NULL if absent
	                                   or longer than WEBHOOK_BIZ_MAX */
	size_t biz_len;
	int64_t error_code;             /* errors[0].code; 0 when none */
	uint32_t error_count;           /* elements in errors[] */
};

struct webhook_account_error {
	int64_t code;                   /* 0 when absent or unusable */
	const uint8_t *title;           /* NULL when absent; cut to WEBHOOK_NOTE_MAX */
	size_t title_len;
	const uint8_t *message;
	size_t message_len;
	const uint8_t *details;         /* error_data.details */
	size_t details_len;
};

struct webhook_event {
	enum webhook_ev_kind kind;
	/* metadata.phone_number_id of the change: which of the city's numbers
	 * it concerns; NULL when absent or longer than WEBHOOK_PNID_MAX. */
	const uint8_t *phone_number_id;
	size_t phone_number_id_len;
	/* Message or status id (wamid), 1..WEBHOOK_ID_MAX bytes; NULL for
	 * WEBHOOK_EV_ERROR. Dedupe on it (messages) or on (id, status). */
	const uint8_t *id;
	size_t id_len;
	uint64_t timestamp;             /* unix seconds; 0 when absent or unusable */
	union {
		struct webhook_message msg;           /* kind == WEBHOOK_EV_MESSAGE */
		struct webhook_status_update st;      /* kind == WEBHOOK_EV_STATUS */
		struct webhook_account_error err;     /* kind == WEBHOOK_EV_ERROR */
	};
};

/*
 * Called once per event in document order of entries and changes; within
 * a change, messages first, then statuses, then errors. Return 0 to go on;
 * any other value stops the walk and webhook_parse returns it (use a
 * negative error code, e.g. a failed store_append, so the server answers
 * 5xx and WhatsApp redelivers).
 */
typedef int (*webhook_event_fn)(const struct webhook_event *ev, void *ud);

/* Limits for one parse; a zero field takes the default above. */
struct webhook_limits {
	size_t body_max;     /* WEBHOOK_BODY_MAX */
	size_t events_max;   /* WEBHOOK_EVENTS_MAX */
};

/* What a parse saw. Every field is set by webhook_parse, also on failure
 * (then it holds what was seen up to the failure). */
struct webhook_parse_info {
	uint32_t entries;            /* elements of entry[] */
	uint32_t changes;            /* changes with field "messages" walked */
	uint32_t changes_ignored;    /* other fields (account_update, ...) */
	uint32_t messages;           /* WEBHOOK_EV_MESSAGE events delivered */
	uint32_t statuses;           /* WEBHOOK_EV_STATUS events delivered */
	uint32_t errors;             /* WEBHOOK_EV_ERROR events delivered */
	uint32_t skipped;            /* elements dropped, all reasons: */
	uint32_t skipped_bad_from;   /*   message 'from' missing or not a number */
	uint32_t skipped_bad_id;     /*   id missing, empty, not a string, too long */
	uint32_t skipped_bad_shape;  /*   not an object, or type/status unusable;
	                                  also an entry or change of the wrong type */
	uint32_t fields_defaulted;   /* events delivered with a field set to its
	                                default: timestamp, recipient_id, biz data,
	                                error code unusable */
};

/*
 * webhook_parse - parse body (JSON, len bytes, no NUL needed) and call fn
 * for every event in entry[].changes[] whose field is "messages".
 *
 * Unknown fields are ignored. An element with a wrong shape is skipped and
 * counted, never fatal: a batch carrying one odd element still delivers the
 * others. A message is skipped when from (phone_parse), id or type is
 * unusable; a status when id or status is; text over WEBHOOK_TEXT_MAX is
 * cut (text_truncated). Timestamps are strings of unix seconds or numbers.
 * Duplicate object keys are accepted (the last wins, jansson's rule): the
 * body is authenticated, and refusing it would only make WhatsApp redeliver
 * it for days. JSON \u0000 is accepted inside strings (lengths are used).
 *
 * Before the first callback the number of events is counted, so a body
 * over events_max is refused whole (no callback runs).
 * lim may be NULL (defaults); info may be NULL.
 * Returns 0 (also when there were no events);
 *   BND_E_WEBHOOK_TOO_LARGE    len > body_max (nothing parsed)
 *   BND_E_WEBHOOK_JSON         not JSON (syntax, bad UTF-8, numbers out of
 *                              range, nesting over 2048 levels)
 *   BND_E_WEBHOOK_NOT_OBJECT   the top-level value is not an object
 *   BND_E_WEBHOOK_TOO_MANY     more than events_max events
 *   BND_E_NOMEM                allocation failed while building the tree
 *                              (jansson reports a few allocation failures
 *                              in its lexer as syntax errors, hence as
 *                              BND_E_WEBHOOK_JSON: both are non-200)
 *   BND_E_INVAL                body NULL with len > 0, or fn NULL
 *   any non-zero value returned by fn (the walk stops there)
 * Memory: the JSON tree is built (jansson) and freed inside the call; it
 * takes roughly 10-20x the body size at peak for object-heavy bodies.
 */
int webhook_parse(const uint8_t *body, size_t len, const struct webhook_limits *lim,
                  webhook_event_fn fn, void *ud, struct webhook_parse_info *info);

#endif
