/*
 * replies.h - the answers `serve` owes citizens (the welcome, "already
 * subscribed", the opt-out acknowledgement, help, the optional auto-reply),
 * queued, held until the state change that caused them is durable, and fed
 * to the API client a few at a time.
 *
 * Why a queue of its own: a burst of thousands of "JESI ON" a second meets
 * an API limit of 80 messages a second, so welcomes pile up. They wait here
 * (8 bytes of number, a time and a ticket each), not inside the sender,
 * whose one-off text queue is small and goes ahead of notices. The durable
 * form of the welcome backlog is the store itself: every SUB_REQUESTED
 * subscriber is owed a welcome, so after a restart (or when the queue had
 * to drop one) a scan of the store refills this queue (service.c).
 *
 * Order: two FIFO queues, "urgent" (acknowledgements, help, already
 * subscribed, auto-reply: few, and someone just wrote) ahead of
 * "welcomes". Each item carries the store ticket of the last append made
 * before it was queued; it is posted only once replies_release says that
 * ticket is durable, so no welcome leaves before its SUB_REQUESTED record
 * is on disk (a crash cannot produce a welcome the store does not know).
 *
 * The welcome is a free-form text inside WhatsApp's 24-hour customer
 * service window (counted from the citizen's message, t_req_ms), and the
 * configured template outside it (a backlog after downtime). The choice is
 * made when the item is posted.
 *
 * Threading: every function may be called from any thread; one internal
 * mutex. Lock order: a caller may hold its own lock while calling
 * replies_add / replies_welcome_pending (service.c holds its inbound lock);
 * the post hook and the outcome callback are called WITHOUT the internal
 * lock, so they may call back into replies_*.
 */
#ifndef REPLIES_H
#define REPLIES_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* Kinds, in the order and with the names of enum metrics_reply. */
enum reply_kind {
	REPLY_WELCOME = 0,          /* text in the window, template outside */
	REPLY_WELCOME_TEMPLATE,     /* the welcome, as the template whatever the time */
	REPLY_ALREADY_SUBSCRIBED,
	REPLY_OPT_OUT_ACK,
	REPLY_HELP,
	REPLY_AUTO,
	REPLY_KIND_COUNT
};

/* "welcome", "welcome_template", "already_subscribed", "opt_out_ack",
 * "help", "auto_reply"; "?" otherwise. Also the biz_opaque_callback_data
 * tag the reply carries (status webhooks echo it). */
const char *reply_kind_name(enum reply_kind k);

/* reply_kind_of_tag - the kind whose name is tag[0..len), or -1. */
int reply_kind_of_tag(const uint8_t *tag, size_t len);

/* One message for the API (pointers valid during the post call only). */
struct reply_msg {
	uint64_t number;            /* packed (phone.h) */
	enum reply_kind kind;
	int is_template;            /* 0: text; 1: template without parameters */
	const uint8_t *text;        /* text messages */
	size_t text_len;
	const char *tmpl_name;      /* templates */
	const char *lang;
	const char *tag;            /* biz_opaque_callback_data (reply_kind_name) */
};

/* The API's final answer to one reply (pointers valid during the call). */
struct reply_result {
	int accepted;               /* 1: the API took it (a wamid) */
	int64_t code;               /* failures: the API error code, or negative
	                               codes for local and transport failures */
	int permanent;              /* failures: 1 when a retry cannot help this
	                               recipient (e.g. 131026); 0 for transient
	                               failures that ran out of retries, and for
	                               shutdown */
	const char *wamid;          /* accepted */
	size_t wamid_len;
};

/* Called exactly once per successful post, from any thread (serve: the
 * sender's loop thread), with the cookie given to the post hook. */
typedef void (*reply_done_fn)(void *cookie, const struct reply_result *r);

/*
 * How replies reach the API. Returns 0 when the message was taken: done
 * will run once. Any other value: done never runs, the reply is dropped
 * (and counted), and a welcome's number is no longer pending.
 */
typedef int (*reply_post_fn)(void *ud, const struct reply_msg *m, reply_done_fn done,
                             void *cookie);

/*
 * Called (without the internal lock) once per reply that ended: accepted,
 * failed, or dropped because it could not be posted (r->accepted 0,
 * r->code the post hook's error). kind is the kind actually sent (a
 * REPLY_WELCOME outside the window becomes REPLY_WELCOME_TEMPLATE);
 * t_req_ms is what replies_add was given.
 */
typedef void (*replies_outcome_fn)(void *ud, enum reply_kind kind, uint64_t number,
                                   uint64_t t_req_ms, const struct reply_result *r);

/*
 * Asked just before a welcome is posted: 1 to send it, 0 to drop it (the
 * citizen opted out while it waited, or is confirmed already). Called
 * without the internal lock. May be NULL (always send).
 */
typedef int (*replies_wanted_fn)(void *ud, enum reply_kind kind, uint64_t number);

/* Wall-clock milliseconds (only the program reads the clock). */
typedef uint64_t (*replies_clock_fn)(void *ud);

#define REPLIES_OUTSTANDING_DEFAULT 32u     /* posted, not yet answered */
#define REPLIES_WELCOMES_MAX (1u << 20)     /* queued welcomes at most; more are
                                               dropped (still SUB_REQUESTED, so
                                               the next store scan re-queues) */
#define REPLIES_URGENT_MAX 65536u           /* queued urgent replies at most */
#define REPLIES_WINDOW_MS (24ull * 3600 * 1000) /* the customer service window */

struct replies_config {
	reply_post_fn post;                 /* required */
	void *post_ud;
	replies_outcome_fn on_outcome;      /* may be NULL */
	replies_wanted_fn wanted;           /* may be NULL */
	void *outcome_ud;                   /* for on_outcome and wanted */
	replies_clock_fn wall_ms;           /* required */
	void *clock_ud;
	/* Rendered texts (NUL-terminated, copied): index by kind; the two
	 * welcome kinds share texts[REPLY_WELCOME]. A NULL text makes that
	 * kind refused by replies_add (BND_E_INVAL). */
	const char *texts[REPLY_KIND_COUNT];
	const char *welcome_template;       /* required: template name */
	const char *welcome_lang;           /* required */
	unsigned max_outstanding;           /* 0: REPLIES_OUTSTANDING_DEFAULT */
	size_t welcomes_max;                /* 0: REPLIES_WELCOMES_MAX */
	uint64_t window_ms;                 /* 0: REPLIES_WINDOW_MS */
	/* Counted once per reply handed to the post hook, by the kind actually
	 * sent (banditore_replies_total); the array or entries may be NULL. */
	struct metrics_counter **posted;
};

struct replies;

/* replies_open - copies the texts. Returns 0, BND_E_INVAL, BND_E_NOMEM. */
int replies_open(struct replies **out, const struct replies_config *c);

/*
 * replies_close - free everything; replies still queued are dropped
 * without callbacks. Replies posted and not answered must not complete
 * afterwards: stop the API client first (serve closes the sender before).
 * Accepts NULL; sets *p to NULL.
 */
void replies_close(struct replies **p);

/*
 * replies_add - queue a reply to number, to be posted once store ticket
 * `ticket` is durable (0: at once). t_req_ms is when the citizen's
 * message was sent (the welcome's 24-hour window; reported back in the
 * outcome). A welcome (either kind) marks number pending until its outcome.
 * Returns 0; BND_E_EXISTS (a welcome for number is already pending:
 * nothing queued); BND_E_RANGE (the queue is full: nothing queued);
 * BND_E_CLOSED (replies_stop was called); BND_E_INVAL; BND_E_NOMEM.
 * It does not post: call replies_pump (or replies_release) afterwards,
 * outside any lock the post hook's completions might need.
 */
int replies_add(struct replies *r, enum reply_kind kind, uint64_t number, uint64_t t_req_ms,
                uint64_t ticket);

/* replies_welcome_pending - 1 when a welcome for number is queued or posted. */
int replies_welcome_pending(struct replies *r, uint64_t number);

/*
 * replies_release - every store ticket up to durable is on disk: the items
 * waiting for them may go. Then posts what it can (replies_pump).
 */
void replies_release(struct replies *r, uint64_t durable);

/* replies_pump - post queued, releasable items while fewer than
 * max_outstanding are in flight. */
void replies_pump(struct replies *r);

/*
 * replies_stop - post nothing more (queued items stay queued, dropped at
 * close; welcomes among them are still SUB_REQUESTED in the store and go
 * out after the next start). Answers to posted replies are still handled.
 */
void replies_stop(struct replies *r);

struct replies_stats {
	uint64_t queued_welcomes;   /* now */
	uint64_t queued_urgent;     /* now */
	uint64_t outstanding;       /* now: posted, no answer yet */
	uint64_t pending_welcomes;  /* now: numbers with a welcome queued or posted */
	uint64_t posted[REPLY_KIND_COUNT];   /* since open, by the kind actually sent */
	uint64_t accepted, failed;
	uint64_t dropped;           /* refused by the post hook, or queue full */
	uint64_t unwanted;          /* welcomes dropped by the wanted hook */
};
void replies_stats_get(struct replies *r, struct replies_stats *st);

#endif
