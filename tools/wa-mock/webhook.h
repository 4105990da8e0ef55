/*
 * webhook.h - wa-mock's status webhooks (--webhook URL): after a message is
 * accepted, the mock tells the business what happened to it, like the real
 * API does (reference §4.2, §4.4, §4.5):
 *
 *   sent -> delivered -> read, each with its own probability and delay, or
 *   failed with errors[] for an asynchronous error (error-mix ":async", or
 *   a number "not on WhatsApp": 131026)
 *
 * batched several statuses per POST, signed with X-Hub-Signature-256
 * (HMAC-SHA256 of the exact body with WA_MOCK_APP_SECRET), echoing
 * biz_opaque_callback_data, and retried with exponential backoff until the
 * receiver answers 200 (up to a number of retries, then dropped and counted).
 *
 * Threading: one thread of its own drives libcurl's multi interface. The
 * request path only appends to a locked list (webhook_submit), so a slow or
 * dead receiver never slows the answers to API calls.
 */
#ifndef WAMOCK_WEBHOOK_H
#define WAMOCK_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "wamid.h"

struct webhook_conf {
	const char *url;                 /* receiver, http:// or https:// */
	const uint8_t *secret;           /* HMAC key; copied */
	size_t secret_len;
	const char *verify_token;        /* if set: GET handshake at start (§4.1) */
	uint64_t seed;
	double p_delivered;              /* sent -> delivered probability */
	double p_read;                   /* delivered -> read probability */
	double p_dup;                    /* a status sent twice (at-least-once) */
	uint64_t sent_min_ns, sent_max_ns;        /* accept -> sent (or failed) */
	uint64_t delivered_min_ns, delivered_max_ns; /* sent -> delivered */
	uint64_t read_min_ns, read_max_ns;        /* delivered -> read */
	uint32_t batch_max;              /* statuses per POST at most */
	uint64_t linger_ns;              /* wait this long for a batch to fill */
	uint32_t retries;                /* retries of a POST before dropping it */
	uint64_t retry_base_ns;          /* first retry delay; doubles each time */
	uint64_t retry_max_ns;           /* cap of the retry delay */
	uint32_t concurrency;            /* POSTs in flight at most */
	long timeout_ms;                 /* per POST */
	uint64_t max_pending;            /* statuses waiting at most; more are dropped */
	const char *waba_id;             /* entry[].id */
	const char *display_phone_number;/* metadata.display_phone_number */
};

/* What the request path tells the sender about one accepted message. */
struct webhook_msg {
	char wamid[WAMID_BUF];
	uint64_t to;                     /* packed recipient */
	uint64_t seq;                    /* request sequence number: seeds its plan */
	const uint8_t *pnid;             /* phone-number-id bytes (copied) */
	size_t pnid_len;
	const uint8_t *tag;              /* biz_opaque_callback_data (copied), may be NULL */
	size_t tag_len;
	int fail_code;                   /* 0, or the async error to report as failed */
	const char *category;            /* static: utility, marketing, ..., service */
	uint64_t now_ns;                 /* acceptance time (monotonic) */
};

struct webhook;

/*
 * webhook_open - start the sender thread. c is copied (strings too); st
 * must outlive the sender (it counts posts, statuses, retries, drops).
 * Returns 0, BND_E_INVAL (no URL, no secret), BND_E_NOMEM, or -errno from
 * pthread_create.
 */
int webhook_open(struct webhook **out, const struct webhook_conf *c, struct stats *st);

/*
 * webhook_submit - schedule the statuses of one accepted message. Copies
 * what it needs; cheap (a lock and an append). Returns 0, or BND_E_NOMEM /
 * BND_E_WAMOCK_FULL when the message was not scheduled (counted as dropped).
 * Thread-safe.
 */
int webhook_submit(struct webhook *wh, const struct webhook_msg *m);

/*
 * webhook_close - stop the thread (statuses not yet sent are abandoned and
 * stay counted as pending), free everything; sets *p to NULL; accepts NULL.
 */
void webhook_close(struct webhook **p);

/*
 * webhook_sign - "sha256=" + 64 lowercase hex of HMAC-SHA256(key, body)
 * into out (at least 72 bytes), NUL-terminated. Returns 0 or BND_E_INVAL.
 */
int webhook_sign(const uint8_t *key, size_t key_len, const uint8_t *body, size_t len,
                 char *out);

#endif
