/*
 * service.c - the inbound life cycle of `banditore serve` (service.h; the
 * design note with threads, queues and durability points is
 * engine/SERVICE.md).
 *
 * A POST /webhook goes: signature over the raw bytes (webhook.h) -> the
 * walk of every event (webhook_parse) -> per message, under the inbound
 * lock: redelivery check, state read, at most one store_append, the reply
 * queued with the append's ticket -> if anything was appended (or a
 * redelivered message's first append may not be durable yet), the request
 * is handed to the committer without an answer (httpd's deferred answer);
 * else it is answered at once. The committer takes its whole queue, makes
 * one store_sync (one fdatasync for every request waiting), answers them
 * all 200 (503 if the sync failed) and releases the replies whose records
 * are now durable. So a 200 always means "on disk", and a welcome never
 * leaves before its SUB_REQUESTED record is on disk.
 *
 * The inbound lock (svc->mu) makes "was this message seen? what is this
 * number's state? append" one step, so two concurrent deliveries of one
 * message, or a JESI ON and a JESI OFF of one number in two requests, are
 * decided one after the other. It covers a hash lookup, an index lookup
 * and a buffered append (a few microseconds), never I/O: JSON parsing and
 * the command grammar run outside it, and the fdatasync runs in the
 * committer without it. Lock order: svc->mu, then the store's and the
 * reply queue's internal locks; nothing takes svc->mu while holding those.
 *
 * Redeliveries: a message that changed the store is recognised by
 * store_src_seen (its wamid is the record's source; survives restarts); a
 * message that changed nothing (HELP, chat, "already subscribed", an
 * opt-out of an unknown number) by the bounded in-memory set seen_msg, so
 * its reply is not sent twice. After a restart that set is empty: such a
 * message redelivered then gets its (stateless) reply again. Statuses are
 * deduplicated on (id, status) in seen_st.
 *
 * Confirmation: the reply queue reports the welcome's outcome on the
 * sender's loop thread; accepted -> SUB_CONFIRMED with the welcome's wamid
 * as source, if the number is still SUB_REQUESTED, then a commit is
 * requested (no HTTP request waits for it). A crash before that commit
 * leaves the number SUB_REQUESTED: at the next start it gets the welcome
 * again (a duplicate bounded by the welcomes accepted in one commit
 * interval), unless a status webhook of the first welcome (tag "welcome")
 * confirms it first.
 */
#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "bnd.h"
#include "cmd.h"
#include "idmap.h"
#include "journals.h"
#include "notice.h"
#include "notice_purge.h"
#include "phone.h"
#include "webhook.h"

#define MOD "serve"
#define NS_MS 1000000ull
#define SEED_MSG 0x62616e646d736721ull   /* "bandmsg!" */
#define SEED_ST 0x62616e6473747321ull    /* "bandsts!" */
#define SEEN_ST_MAX 262144u               /* statuses arrive 3x faster than sends */
#define T_MAX_MS ((1ull << 42) - 1)       /* the store's time field */

/* At most one line per LOG_EVERY_MS of each kind of per-event warning, with
 * the count of the lines it stands for: a backlog of failing welcomes or a
 * broken disk must not flood the log (one line per webhook at 20,000/s). */
#define LOG_EVERY_MS 10000u
struct loglim {
	_Atomic uint64_t next_ms;
	_Atomic uint64_t suppressed;
};
enum { LL_QUEUE, LL_APPEND, LL_WELCOME, LL_STATUS, LL_COUNT };

struct pending_req {
	struct pending_req *next;
	struct httpd_req *req;
	int duplicate;            /* every event was a redelivery */
};

struct service {
	struct service_config c;
	const struct config *cfg;
	struct store *store;
	struct metrics_set *m;
	struct cmd_grammar grammar;
	struct replies *replies;
	struct journals *journals;     /* statuses of notices not running here */
	const uint8_t *secret;
	size_t secret_len;
	struct webhook_limits lim;

	pthread_mutex_t mu;            /* the inbound lock */
	struct idmap seen_msg;         /* stateless message ids (hashes) */
	struct idmap seen_st;          /* (status id, status) hashes */
	struct idmap auto_sent;        /* number -> wall ms of the last auto-reply */
	_Atomic uint64_t last_ticket;  /* the latest append's ticket (under mu) */

	/* committer */
	pthread_t th;
	int started;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	struct pending_req *qhead, *qtail;
	int kick, quit, exited;
	pthread_mutex_t commit_mu;     /* one service_commit at a time */
	uint64_t durable;              /* tickets up to this are durable */
	atomic_int degraded;
	int degraded_rc;
	atomic_int stopping;

	uint64_t next_scan_ns, next_checkpoint_ns, next_compact_ns;
	struct loglim ll[LL_COUNT];
	struct httpd *h;               /* for its 413 count (answered before us) */
	pthread_mutex_t gauge_mu;
	uint64_t httpd_too_large;      /* the part already counted */

	struct {
		_Atomic uint64_t webhooks, ok, refused, failed;
		_Atomic uint64_t messages, statuses, duplicates, changes, ignored;
		_Atomic uint64_t confirmed, confirmed_by_status, welcome_failures, unrouted, journaled;
		_Atomic uint64_t commits, commit_records, overdue;
	} st;
};

#define INC(f) atomic_fetch_add_explicit(&svc->st.f, 1, memory_order_relaxed)
#define ADD(f, n) atomic_fetch_add_explicit(&svc->st.f, (n), memory_order_relaxed)
#define GET(f) atomic_load_explicit(&svc->st.f, memory_order_relaxed)

static uint64_t wall_ms(struct service *svc)
{
	return svc->c.wall_ms(svc->c.clock_ud);
}

static uint64_t mono_ns(struct service *svc)
{
	return svc->c.mono_ns(svc->c.clock_ud);
}

/* 1 when a line of kind k may be logged now; *more gets how many were
 * suppressed since the last one. */
static int log_ok(struct service *svc, int k, uint64_t *more)
{
	struct loglim *l = &svc->ll[k];
	uint64_t now = wall_ms(svc), next = atomic_load(&l->next_ms);
	if (now < next || !atomic_compare_exchange_strong(&l->next_ms, &next, now + LOG_EVERY_MS)) {
		atomic_fetch_add(&l->suppressed, 1);
		return 0;
	}
	*more = atomic_exchange(&l->suppressed, 0);
	return 1;
}

static uint64_t id_hash(const uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t h = XXH3_64bits_withSeed(p, len, seed);
	return h ? h : 1;   /* 0 is the idmap's empty key */
}

/* The time of a transition from a webhook timestamp (unix seconds): the
 * citizen's clock as WhatsApp stamped it; now when absent or implausible
 * (more than a day ahead, or past the store's range). */
static uint64_t event_ms(uint64_t ts, uint64_t now_ms)
{
	if (!ts || ts > T_MAX_MS / 1000)
		return now_ms;
	uint64_t t = ts * 1000;
	return t > now_ms + 86400000ull ? now_ms : t;
}

/* ------------------------------------------------------------ committer */

static void kick_committer(struct service *svc)
{
	pthread_mutex_lock(&svc->cmu);
	svc->kick = 1;
	pthread_cond_signal(&svc->ccv);
	pthread_mutex_unlock(&svc->cmu);
}

int service_commit(struct service *svc)
{
	if (atomic_load(&svc->degraded))
		return svc->degraded_rc;
	pthread_mutex_lock(&svc->commit_mu);
	uint64_t upto = atomic_load(&svc->last_ticket);
	uint64_t t0 = mono_ns(svc);
	int rc = store_sync(svc->store, 0);
	uint64_t t1 = mono_ns(svc);
	if (rc) {
		if (!atomic_exchange(&svc->degraded, 1)) {
			svc->degraded_rc = rc;
			bnd_log(BND_LOG_ERROR, MOD, "store sync failed: %s; nothing more is "
			        "acknowledged (webhooks get 503) until serve is restarted",
			        bnd_strerror(rc));
		}
		pthread_mutex_unlock(&svc->commit_mu);
		return rc;
	}
	if (upto > svc->durable) {
		if (svc->m) {
			metrics_histogram_observe(svc->m->fsync[METRICS_FILE_STORE],
			                          t1 > t0 ? t1 - t0 : 0);
			metrics_histogram_observe(svc->m->commit_records[METRICS_FILE_STORE],
			                          upto - svc->durable);
		}
		ADD(commit_records, upto - svc->durable);
		svc->durable = upto;
	}
	INC(commits);
	uint64_t durable = svc->durable;
	/* Statuses of finished notices ride the same commit. A failure here
	 * answers 503 (WhatsApp redelivers) but does not degrade the store. */
	int jrc = journals_commit(svc->journals);
	pthread_mutex_unlock(&svc->commit_mu);
	replies_release(svc->replies, durable);
	return jrc;
}

static void count_outcome(struct service *svc, enum metrics_webhook o)
{
	if (svc->m)
		metrics_counter_inc(svc->m->webhooks[o]);
}

static void *committer_main(void *arg)
{
	struct service *svc = arg;
	pthread_mutex_lock(&svc->cmu);
	for (;;) {
		while (!svc->qhead && !svc->kick && !svc->quit)
			pthread_cond_wait(&svc->ccv, &svc->cmu);
		if (!svc->qhead && !svc->kick && svc->quit)
			break;
		struct pending_req *batch = svc->qhead;
		svc->qhead = svc->qtail = NULL;
		svc->kick = 0;
		pthread_mutex_unlock(&svc->cmu);

		int rc = service_commit(svc);
		while (batch) {
			struct pending_req *p = batch;
			batch = p->next;
			if (rc == 0) {
				INC(ok);
				count_outcome(svc, p->duplicate ? METRICS_WH_DUPLICATE : METRICS_WH_OK);
				httpd_respond_text(p->req, 200, "ok\n");
			} else {
				INC(failed);
				count_outcome(svc, METRICS_WH_ERROR);
				httpd_req_set_header(p->req, "Retry-After", "5");
				httpd_respond_text(p->req, 503, "not durable; retry\n");
			}
			bnd_free(p);
		}
		pthread_mutex_lock(&svc->cmu);
	}
	svc->exited = 1;
	pthread_mutex_unlock(&svc->cmu);
	return NULL;
}

/* Hand req to the committer. Returns 0, or an error when the committer is
 * gone (then the caller answers). */
static int defer_to_committer(struct service *svc, struct httpd_req *req, int duplicate)
{
	struct pending_req *p = bnd_malloc(sizeof *p);
	if (!p)
		return BND_E_NOMEM;
	*p = (struct pending_req){ .req = req, .duplicate = duplicate };
	pthread_mutex_lock(&svc->cmu);
	if (!svc->started || svc->quit) {
		pthread_mutex_unlock(&svc->cmu);
		bnd_free(p);
		return BND_E_SERVE_STOPPING;
	}
	if (svc->qtail)
		svc->qtail->next = p;
	else
		svc->qhead = p;
	svc->qtail = p;
	pthread_cond_signal(&svc->ccv);
	pthread_mutex_unlock(&svc->cmu);
	return 0;
}

/* ---------------------------------------------------------- life cycle */

/* Append a transition under svc->mu; the ticket becomes last_ticket. */
static int append_locked(struct service *svc, uint64_t number, enum sub_state st,
                         uint64_t t_ms, const uint8_t *src, size_t src_len)
{
	uint64_t ticket = 0;
	if (src_len > STORE_SRC_MAX)
		src_len = STORE_SRC_MAX;
	if (t_ms > T_MAX_MS)
		t_ms = T_MAX_MS;
	int rc = store_append(svc->store, number, st, t_ms, src, src_len, &ticket);
	if (rc == 0) {
		atomic_store(&svc->last_ticket, ticket);
		INC(changes);
	}
	return rc;
}

static void queue_reply(struct service *svc, enum reply_kind k, uint64_t number, uint64_t t_ms)
{
	int rc = replies_add(svc->replies, k, number, t_ms, atomic_load(&svc->last_ticket));
	uint64_t more;
	if (rc && rc != BND_E_EXISTS && rc != BND_E_CLOSED && log_ok(svc, LL_QUEUE, &more)) {
		char mask[PHONE_MASK_MAX];
		phone_mask(number, mask);
		bnd_log(BND_LOG_WARN, MOD, "%s reply to %s not queued: %s (%llu more since the "
		        "last such line)", reply_kind_name(k), mask, bnd_strerror(rc),
		        (unsigned long long)more);
	}
}

static int wants_auto_reply(const struct webhook_message *msg)
{
	/* A reaction or a system notice is not someone writing to us. */
	return msg->type != WEBHOOK_MSG_REACTION && msg->type != WEBHOOK_MSG_SYSTEM;
}

struct ingest_ctx {
	struct service *svc;
	struct service_ingest *out;
	uint64_t now_ms;
};

static int on_message(struct ingest_ctx *x, const struct webhook_event *ev)
{
	struct service *svc = x->svc;
	const struct webhook_message *msg = &ev->msg;
	struct cmd_result cr = { .verb = CMD_NONE };
	if (msg->text && !msg->text_truncated)
		cmd_parse(&svc->grammar, msg->text, msg->text_len, &cr);   /* error: CMD_NONE */
	uint64_t h = id_hash(ev->id, ev->id_len, SEED_MSG);
	uint64_t t_ms = event_ms(ev->timestamp, x->now_ms);
	uint64_t number = msg->from;
	int rc = 0, stateless = 1;

	pthread_mutex_lock(&svc->mu);
	if (idmap_get(&svc->seen_msg, h, NULL)) {
		pthread_mutex_unlock(&svc->mu);
		x->out->duplicates++;
		return 0;
	}
	if (store_src_seen(svc->store, ev->id, ev->id_len)) {
		/* Its record may still be in the commit in progress: this 200
		 * waits for the next commit too. */
		pthread_mutex_unlock(&svc->mu);
		x->out->duplicates++;
		x->out->need_commit = 1;
		return 0;
	}
	enum sub_state st = SUB_NONE;
	store_get(svc->store, number, &st, NULL);
	switch (cr.verb) {
	case CMD_ON:
		if (st == SUB_CONFIRMED) {
			queue_reply(svc, REPLY_ALREADY_SUBSCRIBED, number, t_ms);
		} else if (st == SUB_REQUESTED) {
			/* Owed a welcome already: send it again only when none is on
			 * its way (an earlier one failed, or a restart lost it). */
			if (!replies_welcome_pending(svc->replies, number))
				queue_reply(svc, REPLY_WELCOME, number, t_ms);
		} else {
			rc = append_locked(svc, number, SUB_REQUESTED, t_ms, ev->id, ev->id_len);
			if (rc == 0) {
				stateless = 0;
				queue_reply(svc, REPLY_WELCOME, number, t_ms);
			}
		}
		break;
	case CMD_OFF:
		if (st == SUB_REQUESTED || st == SUB_CONFIRMED) {
			rc = append_locked(svc, number, SUB_UNSUBSCRIBED, t_ms, ev->id, ev->id_len);
			stateless = rc != 0;
		}
		/* Acknowledged whatever the state: someone who writes OFF wants to
		 * know they will get nothing (no state is kept for a number that
		 * was not subscribed). */
		if (rc == 0)
			queue_reply(svc, REPLY_OPT_OUT_ACK, number, t_ms);
		break;
	case CMD_HELP:
		queue_reply(svc, REPLY_HELP, number, t_ms);
		break;
	default:
		if (svc->cfg->auto_reply && wants_auto_reply(msg)) {
			uint64_t last;
			if (!idmap_get(&svc->auto_sent, number, &last) ||
			    x->now_ms >= last + svc->cfg->auto_reply_interval_ns / NS_MS) {
				idmap_put(&svc->auto_sent, number, x->now_ms);
				queue_reply(svc, REPLY_AUTO, number, t_ms);
			}
		}
		break;
	}
	if (rc == 0 && stateless)
		idmap_put(&svc->seen_msg, h, 1);   /* best effort: NOMEM only forgets */
	pthread_mutex_unlock(&svc->mu);

	if (rc) {
		uint64_t more;
		if (log_ok(svc, LL_APPEND, &more))
			bnd_log(BND_LOG_ERROR, MOD, "store append failed: %s (%llu more since the "
			        "last such line)", bnd_strerror(rc), (unsigned long long)more);
		return rc;
	}
	if (!stateless) {
		x->out->changes++;
		x->out->need_commit = 1;
	}
	if (svc->m)
		metrics_counter_inc(svc->m->commands[(unsigned)cr.verb < METRICS_VERB_COUNT ? (unsigned)cr.verb : 0]);
	return 0;
}

static enum journal_status jstatus_of(enum webhook_status s)
{
	switch (s) {
	case WEBHOOK_ST_SENT: return JSTATUS_SENT;
	case WEBHOOK_ST_DELIVERED: return JSTATUS_DELIVERED;
	case WEBHOOK_ST_READ: return JSTATUS_READ;
	case WEBHOOK_ST_FAILED: return JSTATUS_FAILED;
	default: return 0;
	}
}

/* A status of one of our replies (tag = its kind's name). */
static int on_reply_status(struct ingest_ctx *x, const struct webhook_event *ev, int kind)
{
	struct service *svc = x->svc;
	const struct webhook_status_update *su = &ev->st;
	if (kind != REPLY_WELCOME && kind != REPLY_WELCOME_TEMPLATE)
		return 0;
	if (!phone_valid(su->recipient))
		return 0;
	char mask[PHONE_MASK_MAX];
	phone_mask(su->recipient, mask);
	int rc = 0;
	if (su->status == WEBHOOK_ST_FAILED) {
		INC(welcome_failures);
		uint64_t more;
		if (log_ok(svc, LL_WELCOME, &more))
			bnd_log(BND_LOG_WARN, MOD, "welcome to %s failed after acceptance: code %lld "
			        "(%llu more welcome failures since the last such line)", mask,
			        (long long)su->error_code, (unsigned long long)more);
		pthread_mutex_lock(&svc->mu);
		enum sub_state st = SUB_NONE;
		store_get(svc->store, su->recipient, &st, NULL);
		if (su->error_code == 131026 && (st == SUB_REQUESTED || st == SUB_CONFIRMED)) {
			/* Not a WhatsApp user (or cannot receive): SUB_INVALID, as the
			 * sender does for notices; a new KEYWORD ON starts over. */
			rc = append_locked(svc, su->recipient, SUB_INVALID,
			                   event_ms(ev->timestamp, x->now_ms), ev->id, ev->id_len);
			if (rc == 0)
				x->out->need_commit = 1;
		} else if (su->error_code == 131047 && kind == REPLY_WELCOME &&
		           st == SUB_CONFIRMED) {
			/* The window had closed after all: the template. */
			queue_reply(svc, REPLY_WELCOME_TEMPLATE, su->recipient, x->now_ms);
		}
		pthread_mutex_unlock(&svc->mu);
		return rc;
	}
	if (su->status != WEBHOOK_ST_SENT && su->status != WEBHOOK_ST_DELIVERED &&
	    su->status != WEBHOOK_ST_READ)
		return 0;
	/* Proof that a welcome was accepted, for a number whose confirmation
	 * was lost (a crash before its commit). */
	pthread_mutex_lock(&svc->mu);
	enum sub_state st = SUB_NONE;
	store_get(svc->store, su->recipient, &st, NULL);
	if (st == SUB_REQUESTED) {
		rc = append_locked(svc, su->recipient, SUB_CONFIRMED,
		                   event_ms(ev->timestamp, x->now_ms), ev->id, ev->id_len);
		if (rc == 0) {
			x->out->need_commit = 1;
			x->out->changes++;
			INC(confirmed_by_status);
			bnd_log(BND_LOG_INFO, MOD, "%s confirmed by a status of its welcome", mask);
		}
	}
	pthread_mutex_unlock(&svc->mu);
	return rc;
}

static int on_status(struct ingest_ctx *x, const struct webhook_event *ev)
{
	struct service *svc = x->svc;
	const struct webhook_status_update *su = &ev->st;
	uint64_t h = id_hash(ev->id, ev->id_len, SEED_ST + (uint64_t)su->status);
	pthread_mutex_lock(&svc->mu);
	int dup = idmap_get(&svc->seen_st, h, NULL);
	if (!dup)
		idmap_put(&svc->seen_st, h, 1);
	pthread_mutex_unlock(&svc->mu);
	if (dup) {
		x->out->duplicates++;
		return 0;
	}
	if (svc->m) {
		if (su->status == WEBHOOK_ST_FAILED)
			metrics_set_status_failed(svc->m, (int)su->error_code);
		else if (su->status >= WEBHOOK_ST_SENT && su->status <= WEBHOOK_ST_READ)
			metrics_counter_inc(svc->m->statuses[su->status - WEBHOOK_ST_SENT]);
	}
	if (!su->biz)
		return 0;
	char id[NOTICE_ID_SIZE];
	uint32_t ordinal;
	if (notice_tag_parse(su->biz, su->biz_len, id, &ordinal) == 0) {
		enum journal_status js = jstatus_of(su->status);
		if (!js)
			return 0;
		uint64_t t = event_ms(ev->timestamp, x->now_ms);
		int rc = svc->c.notice_status
		                 ? svc->c.notice_status(svc->c.status_ud, id, ordinal, js,
		                                        (int32_t)su->error_code, t)
		                 : BND_E_NOTFOUND;
		if (rc == BND_E_NOTFOUND && svc->journals) {
			int pending = 0;
			rc = journals_status(svc->journals, id, ordinal, js, (int32_t)su->error_code, t,
			                     &pending);
			if (pending)
				x->out->need_commit = 1;
			if (rc == 0)
				INC(journaled);
		}
		if (rc) {
			INC(unrouted);
			uint64_t more;
			if (rc != BND_E_NOTFOUND && log_ok(svc, LL_STATUS, &more))
				bnd_log(BND_LOG_WARN, MOD, "status of notice %s not journaled: %s (%llu "
				        "more since the last such line)", id, bnd_strerror(rc),
				        (unsigned long long)more);
		}
		return 0;
	}
	int kind = reply_kind_of_tag(su->biz, su->biz_len);
	return kind >= 0 ? on_reply_status(x, ev, kind) : 0;
}

static int on_event(const struct webhook_event *ev, void *ud)
{
	struct ingest_ctx *x = ud;
	struct service *svc = x->svc;
	const char *pnid = svc->cfg->phone_number_id;
	size_t pl = strlen(pnid);
	/* Meta sends every number of the business account to the app: act only
	 * for ours (answering from this number would be wrong). */
	if (ev->phone_number_id && (ev->phone_number_id_len != pl ||
	                            memcmp(ev->phone_number_id, pnid, pl) != 0)) {
		x->out->ignored++;
		return 0;
	}
	switch (ev->kind) {
	case WEBHOOK_EV_MESSAGE:
		x->out->messages++;
		return on_message(x, ev);
	case WEBHOOK_EV_STATUS:
		x->out->statuses++;
		return on_status(x, ev);
	case WEBHOOK_EV_ERROR:
		x->out->errors++;
		bnd_log(BND_LOG_WARN, MOD, "WhatsApp reported an account error: code %lld",
		        (long long)ev->err.code);
		return 0;
	}
	return 0;
}

int service_ingest(struct service *svc, const uint8_t *body, size_t len, const char *sig,
                   struct service_ingest *out)
{
	memset(out, 0, sizeof *out);
	INC(webhooks);
	int rc = webhook_verify_signature(svc->secret, svc->secret_len, body, len, sig);
	if (rc) {
		out->status = rc == BND_E_NOMEM ? 503 : 401;
		goto refused;
	}
	if (atomic_load(&svc->degraded)) {
		rc = BND_E_SERVE_DEGRADED;
		out->status = 503;
		goto refused;
	}
	struct ingest_ctx x = { .svc = svc, .out = out, .now_ms = wall_ms(svc) };
	struct webhook_parse_info info;
	rc = webhook_parse(body, len, &svc->lim, on_event, &x, &info);
	ADD(messages, out->messages);
	ADD(statuses, out->statuses);
	ADD(duplicates, out->duplicates);
	ADD(ignored, out->ignored);
	if (rc) {
		switch (rc) {
		case BND_E_WEBHOOK_JSON:
		case BND_E_WEBHOOK_NOT_OBJECT:
		case BND_E_INVAL:
			out->status = 400;
			break;
		case BND_E_WEBHOOK_TOO_LARGE:
		case BND_E_WEBHOOK_TOO_MANY:
			out->status = 413;
			break;
		default:
			out->status = 503;   /* no memory, store failure: redelivered */
			break;
		}
		goto refused;
	}
	if (!out->need_commit)
		out->status = 200;
	/* Replies that need no commit (HELP, an acknowledgement without a
	 * change) go now; the others wait for their ticket. */
	replies_pump(svc->replies);
	return 0;
refused:
	out->rc = rc;
	if (out->status >= 500)
		INC(failed);
	else
		INC(refused);
	return rc;
}

/* ------------------------------------------------------------- handlers */

static int all_duplicates(const struct service_ingest *in)
{
	uint32_t ev = in->messages + in->statuses;
	return ev && in->duplicates == ev;
}

static void on_post(struct httpd_req *req, void *ud)
{
	struct service *svc = ud;
	if (atomic_load(&svc->stopping)) {
		count_outcome(svc, METRICS_WH_ERROR);
		httpd_req_set_header(req, "Retry-After", "5");
		httpd_respond_text(req, 503, "shutting down\n");
		return;
	}
	size_t len;
	const uint8_t *body = httpd_req_body(req, &len);
	const char *sig = httpd_req_header(req, WEBHOOK_SIG_HEADER, NULL);
	struct service_ingest in;
	service_ingest(svc, body, len, sig, &in);
	if (in.status == 0) {
		int rc = defer_to_committer(svc, req, all_duplicates(&in));
		if (rc == 0)
			return;
		in.status = 503;
		INC(failed);
	}
	enum metrics_webhook o = METRICS_WH_OK;
	switch (in.status) {
	case 200:
		INC(ok);
		o = all_duplicates(&in) ? METRICS_WH_DUPLICATE : METRICS_WH_OK;
		break;
	case 401: o = METRICS_WH_BAD_SIGNATURE; break;
	case 400: o = METRICS_WH_BAD_JSON; break;
	case 413: o = METRICS_WH_TOO_LARGE; break;
	default: o = METRICS_WH_ERROR; break;
	}
	count_outcome(svc, o);
	if (in.status >= 500)
		httpd_req_set_header(req, "Retry-After", "5");
	const char *text = in.status == 200 ? "ok\n"
	                   : in.status == 401 ? "bad signature\n"
	                   : in.status == 400 ? "bad body\n"
	                   : in.status == 413 ? "too large\n"
	                                      : "unavailable; retry\n";
	httpd_respond_text(req, in.status, text);
}

static void on_handshake(struct httpd_req *req, void *ud)
{
	struct service *svc = ud;
	const char *mode = httpd_req_query(req, "hub.mode", NULL);
	const char *token = httpd_req_query(req, "hub.verify_token", NULL);
	const char *challenge = httpd_req_query(req, "hub.challenge", NULL);
	const char *vt = svc->cfg->verify_token;
	int rc = webhook_handshake(mode, token, challenge, (const uint8_t *)(vt ? vt : ""),
	                           vt ? strlen(vt) : 0);
	if (rc == 0) {
		count_outcome(svc, METRICS_WH_HANDSHAKE_OK);
		httpd_respond(req, 200, "text/plain", challenge, strlen(challenge));
		return;
	}
	count_outcome(svc, METRICS_WH_HANDSHAKE_REFUSED);
	httpd_respond_text(req, 403, "forbidden\n");
}

static void on_healthz(struct httpd_req *req, void *ud)
{
	struct service *svc = ud;
	if (atomic_load(&svc->degraded))
		httpd_respond_text(req, 503, "degraded: a store sync failed; restart serve\n");
	else if (atomic_load(&svc->stopping))
		httpd_respond_text(req, 503, "stopping\n");
	else
		httpd_respond_text(req, 200, "ok\n");
}

static void update_gauges(struct service *svc)
{
	if (!svc->m)
		return;
	if (svc->h) {
		/* Bodies over the limit are refused by the HTTP layer before the
		 * handler (Content-Length), so they are counted from its stats:
		 * every 413 of the server (the operator API's included). */
		struct httpd_stats hs;
		httpd_stats(svc->h, &hs);
		pthread_mutex_lock(&svc->gauge_mu);
		if (hs.too_large > svc->httpd_too_large) {
			metrics_counter_add(svc->m->webhooks[METRICS_WH_TOO_LARGE],
			                    hs.too_large - svc->httpd_too_large);
			svc->httpd_too_large = hs.too_large;
		}
		pthread_mutex_unlock(&svc->gauge_mu);
	}
	struct store_counts sc;
	store_count(svc->store, &sc);
	for (int i = 1; i < METRICS_SUB_STATES; i++)
		metrics_gauge_set(svc->m->subscribers[i], (int64_t)sc.by_state[i]);
}

static void on_metrics(struct httpd_req *req, void *ud)
{
	struct service *svc = ud;
	if (!svc->c.registry) {
		httpd_respond_text(req, 404, "no metrics\n");
		return;
	}
	update_gauges(svc);
	char *text = NULL;
	size_t len = 0;
	if (metrics_render(svc->c.registry, &text, &len)) {
		httpd_respond_text(req, 503, "out of memory\n");
		return;
	}
	httpd_respond(req, 200, METRICS_CONTENT_TYPE, text, len);
	bnd_free(text);
}

int service_routes(struct service *svc, struct httpd *h)
{
	int rc;
	size_t body_max = svc->lim.body_max;
	svc->h = h;
	if ((rc = httpd_route(h, HTTPD_POST, "/webhook", body_max, on_post, svc)) ||
	    (rc = httpd_route(h, HTTPD_GET, "/webhook", 0, on_handshake, svc)) ||
	    (rc = httpd_route(h, HTTPD_GET, "/healthz", 0, on_healthz, svc)) ||
	    (rc = httpd_route(h, HTTPD_GET, "/metrics", 0, on_metrics, svc)))
		return rc;
	return 0;
}

/* ------------------------------------------------------ reply outcomes */

static int reply_wanted(void *ud, enum reply_kind kind, uint64_t number)
{
	(void)kind;
	struct service *svc = ud;
	enum sub_state st = SUB_NONE;
	store_get(svc->store, number, &st, NULL);
	return st == SUB_REQUESTED;
}

static void on_reply_outcome(void *ud, enum reply_kind kind, uint64_t number, uint64_t t_req_ms,
                             const struct reply_result *r)
{
	struct service *svc = ud;
	if (kind != REPLY_WELCOME && kind != REPLY_WELCOME_TEMPLATE)
		return;
	char mask[PHONE_MASK_MAX];
	phone_mask(number, mask);
	uint64_t now = wall_ms(svc);
	int rc = 0, appended = 0;
	pthread_mutex_lock(&svc->mu);
	enum sub_state st = SUB_NONE;
	store_get(svc->store, number, &st, NULL);
	if (r->accepted) {
		if (st == SUB_REQUESTED) {
			rc = append_locked(svc, number, SUB_CONFIRMED, now, (const uint8_t *)r->wamid,
			                   r->wamid ? r->wamid_len : 0);
			appended = rc == 0;
		}
	} else if (r->permanent && r->code == 131026 && st == SUB_REQUESTED) {
		rc = append_locked(svc, number, SUB_INVALID, now, NULL, 0);
		appended = rc == 0;
	} else if (r->code == 131047 && kind == REPLY_WELCOME && st == SUB_REQUESTED) {
		/* The window closed before it went out: the template instead. */
		queue_reply(svc, REPLY_WELCOME_TEMPLATE, number, t_req_ms);
	}
	pthread_mutex_unlock(&svc->mu);
	if (r->accepted && appended) {
		INC(confirmed);
		if (svc->m)
			metrics_histogram_observe(svc->m->confirmation,
			                          now > t_req_ms ? (now - t_req_ms) * NS_MS : 0);
		bnd_log(BND_LOG_DEBUG, MOD, "%s confirmed (%s accepted)", mask, reply_kind_name(kind));
	} else if (!r->accepted) {
		INC(welcome_failures);
		uint64_t more;
		if (log_ok(svc, LL_WELCOME, &more))
			bnd_log(BND_LOG_WARN, MOD, "%s to %s failed: code %lld%s%s%s (%llu more welcome "
			        "failures since the last such line)", reply_kind_name(kind), mask,
			        (long long)r->code, r->code <= BND_E_BASE ? " " : "",
			        r->code <= BND_E_BASE ? bnd_strerror((int)r->code) : "",
			        appended ? ", marked invalid" : ", still owed: retried by the next scan",
			        (unsigned long long)more);
	}
	uint64_t more;
	if (rc && log_ok(svc, LL_APPEND, &more))
		bnd_log(BND_LOG_ERROR, MOD, "store append failed: %s", bnd_strerror(rc));
	if (appended)
		kick_committer(svc);
	else
		replies_pump(svc->replies);
}

/* ------------------------------------------------------------- open/close */

int service_open(struct service **out, const struct service_config *c)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!c || !c->store || !c->cfg || !c->post || !c->wall_ms || !c->mono_ns)
		return BND_E_INVAL;
	const struct config *cfg = c->cfg;
	if (!cfg->app_secret || !cfg->app_secret[0])
		return BND_E_SERVE_NO_SECRET;
	struct service *svc = bnd_calloc(1, sizeof *svc);
	if (!svc)
		return BND_E_NOMEM;
	svc->c = *c;
	svc->cfg = cfg;
	svc->store = c->store;
	svc->m = c->metrics;
	svc->secret = (const uint8_t *)cfg->app_secret;
	svc->secret_len = strlen(cfg->app_secret);
	svc->lim.body_max = (size_t)cfg->webhook_max_body_bytes;
	if (!svc->c.rescan_ns)
		svc->c.rescan_ns = SERVICE_RESCAN_NS;
	pthread_mutex_init(&svc->mu, NULL);
	pthread_mutex_init(&svc->cmu, NULL);
	pthread_mutex_init(&svc->commit_mu, NULL);
	pthread_mutex_init(&svc->gauge_mu, NULL);
	pthread_cond_init(&svc->ccv, NULL);

	char *buf[REPLY_KIND_COUNT] = { 0 };
	int rc = cmd_grammar_init(&svc->grammar, (const uint8_t *)cfg->keyword,
	                          strlen(cfg->keyword));
	if (rc)
		goto fail;
	const char *src[REPLY_KIND_COUNT] = {
		[REPLY_WELCOME] = cfg->welcome,
		[REPLY_ALREADY_SUBSCRIBED] = cfg->already_subscribed,
		[REPLY_OPT_OUT_ACK] = cfg->opt_out_ack,
		[REPLY_HELP] = cfg->help_text,
		[REPLY_AUTO] = cfg->auto_reply_text,
	};
	struct replies_config rcfg = {
		.post = c->post,
		.post_ud = c->post_ud,
		.on_outcome = on_reply_outcome,
		.wanted = reply_wanted,
		.outcome_ud = svc,
		.wall_ms = c->wall_ms,
		.clock_ud = c->clock_ud,
		.welcome_template = cfg->welcome_template,
		.welcome_lang = cfg->welcome_lang,
		.max_outstanding = c->max_outstanding,
		.posted = svc->m ? svc->m->replies : NULL,
	};
	for (int k = 0; k < REPLY_KIND_COUNT; k++) {
		if (!src[k])
			continue;
		rc = BND_E_NOMEM;
		if (!(buf[k] = bnd_malloc(CONFIG_RENDER_MAX)))
			goto fail;
		rc = config_render(cfg, src[k], buf[k], CONFIG_RENDER_MAX);
		if (rc < 0)
			goto fail;
		rcfg.texts[k] = buf[k];
	}
	if ((rc = replies_open(&svc->replies, &rcfg)))
		goto fail;
	if (c->data_dir && (rc = journals_open(&svc->journals, c->data_dir)))
		goto fail;
	if ((rc = idmap_init(&svc->seen_msg, SERVICE_SEEN_MAX)) ||
	    (rc = idmap_init(&svc->seen_st, SEEN_ST_MAX)) ||
	    (rc = idmap_init(&svc->auto_sent, SERVICE_AUTO_REPLY_MAX)))
		goto fail;
	for (int k = 0; k < REPLY_KIND_COUNT; k++)
		bnd_free(buf[k]);
	if (svc->m) {
		metrics_gauge_set(svc->m->confirmation_slo,
		                  (int64_t)(cfg->confirmation_slo_ns / 1000000000ull));
	}
	*out = svc;
	return 0;
fail:
	for (int k = 0; k < REPLY_KIND_COUNT; k++)
		bnd_free(buf[k]);
	service_close(&svc);
	return rc;
}

int service_start(struct service *svc)
{
	uint64_t now = mono_ns(svc);
	svc->next_scan_ns = now + svc->c.rescan_ns;
	svc->next_checkpoint_ns = now + svc->cfg->checkpoint_interval_ns;
	svc->next_compact_ns = now + svc->cfg->compact_interval_ns;
	pthread_mutex_lock(&svc->cmu);
	int rc = -pthread_create(&svc->th, NULL, committer_main, svc);
	svc->started = rc == 0;
	pthread_mutex_unlock(&svc->cmu);
	if (rc)
		return rc;
	update_gauges(svc);
	service_scan(svc);
	return 0;
}

struct scan_ctx {
	uint64_t *numbers;
	uint64_t *times;
	size_t n, cap;
	int nomem;
};

static int scan_visit(uint64_t number, enum sub_state st, uint64_t t_ms, void *ud)
{
	struct scan_ctx *x = ud;
	if (st != SUB_REQUESTED)
		return 0;
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 256;
		uint64_t *nn = bnd_realloc(x->numbers, ncap * sizeof *nn);
		if (!nn) {
			x->nomem = 1;
			return 1;
		}
		x->numbers = nn;
		uint64_t *nt = bnd_realloc(x->times, ncap * sizeof *nt);
		if (!nt) {
			x->nomem = 1;
			return 1;
		}
		x->times = nt;
		x->cap = ncap;
	}
	x->numbers[x->n] = number;
	x->times[x->n] = t_ms;
	x->n++;
	return 0;
}

uint64_t service_scan(struct service *svc)
{
	struct scan_ctx x = { 0 };
	store_foreach(svc->store, scan_visit, &x);
	uint64_t now = wall_ms(svc);
	uint64_t slo_ms = svc->cfg->confirmation_slo_ns / NS_MS;
	uint64_t overdue = 0, queued = 0;
	for (size_t i = 0; i < x.n; i++) {
		if (now > x.times[i] && now - x.times[i] > slo_ms)
			overdue++;
		pthread_mutex_lock(&svc->mu);
		enum sub_state st = SUB_NONE;
		store_get(svc->store, x.numbers[i], &st, NULL);
		if (st == SUB_REQUESTED && !replies_welcome_pending(svc->replies, x.numbers[i]) &&
		    replies_add(svc->replies, REPLY_WELCOME, x.numbers[i], x.times[i],
		                atomic_load(&svc->last_ticket)) == 0)
			queued++;
		pthread_mutex_unlock(&svc->mu);
	}
	bnd_free(x.numbers);
	bnd_free(x.times);
	if (x.nomem)
		bnd_log(BND_LOG_WARN, MOD, "scan of requested subscribers cut short: out of memory");
	atomic_store(&svc->st.overdue, overdue);
	if (svc->m)
		metrics_gauge_set(svc->m->confirmations_overdue, (int64_t)overdue);
	if (queued)
		bnd_log(BND_LOG_INFO, MOD, "%llu welcome(s) owed to requested subscribers queued",
		        (unsigned long long)queued);
	if (overdue)
		bnd_log(BND_LOG_WARN, MOD, "%llu subscription request(s) still unconfirmed after "
		        "the %llu h promise", (unsigned long long)overdue,
		        (unsigned long long)(slo_ms / 3600000));
	replies_pump(svc->replies);
	return overdue;
}

/* After a compaction: erase the same numbers from the notices' recipient
 * lists (notice_purge.h). A notice the sender or the status journals hold
 * is skipped and purged by the next compaction. */
static void purge_notices(struct service *svc)
{
	struct notice_purge_info pi;
	memset(&pi, 0, sizeof pi);
	int rc = notice_purge_all(svc->c.data_dir, svc->store, &pi);
	if (rc) {
		bnd_log(BND_LOG_ERROR, MOD, "compaction: listing the notices failed: %s; their "
		        "recipient lists were not purged", bnd_strerror(rc));
		return;
	}
	if (pi.failed)
		bnd_log(BND_LOG_ERROR, MOD, "compaction: %llu notice(s) could not be purged; "
		        "first: %s: %s", (unsigned long long)pi.failed, pi.first_failed,
		        bnd_strerror(pi.first_error));
	bnd_log(BND_LOG_INFO, MOD, "compaction: notices: %llu examined, %llu scrubbed (%llu "
	        "number(s) erased), %llu finished reduced to counts (%llu number(s) removed), "
	        "%llu message id(s) redacted, %llu locked (next time)",
	        (unsigned long long)pi.notices, (unsigned long long)pi.scrubbed,
	        (unsigned long long)pi.scrubbed_entries, (unsigned long long)pi.reduced,
	        (unsigned long long)pi.reduced_entries, (unsigned long long)pi.wamids_redacted,
	        (unsigned long long)pi.locked);
}

void service_tick(struct service *svc)
{
	uint64_t now = mono_ns(svc);
	update_gauges(svc);
	if (atomic_load(&svc->stopping))
		return;
	journals_trim(svc->journals, now, SERVICE_JOURNAL_IDLE_NS);
	if (now >= svc->next_scan_ns) {
		svc->next_scan_ns = now + svc->c.rescan_ns;
		service_scan(svc);
	}
	if (svc->cfg->checkpoint_interval_ns && now >= svc->next_checkpoint_ns) {
		svc->next_checkpoint_ns = now + svc->cfg->checkpoint_interval_ns;
		int rc = store_checkpoint(svc->store);
		if (rc)
			bnd_log(BND_LOG_WARN, MOD, "store checkpoint failed: %s", bnd_strerror(rc));
	}
	if (svc->cfg->compact_interval_ns && now >= svc->next_compact_ns) {
		svc->next_compact_ns = now + svc->cfg->compact_interval_ns;
		struct store_compact_info ci;
		int rc = store_compact(svc->store, &ci);
		if (svc->m) {
			metrics_counter_inc(rc ? svc->m->compactions_failed : svc->m->compactions_ok);
			if (!rc) {
				metrics_counter_add(svc->m->compaction_erased, ci.erased);
				metrics_gauge_set(svc->m->last_compaction, (int64_t)(wall_ms(svc) / 1000));
			}
		}
		if (rc)
			bnd_log(BND_LOG_ERROR, MOD, "compaction failed: %s", bnd_strerror(rc));
		else
			bnd_log(BND_LOG_INFO, MOD, "compaction: %llu unsubscribed number(s) erased, "
			        "%llu -> %llu bytes", (unsigned long long)ci.erased,
			        (unsigned long long)ci.bytes_before, (unsigned long long)ci.bytes_after);
		if (!rc && svc->c.data_dir)
			purge_notices(svc);
	}
}

int service_stop(struct service *svc)
{
	if (!svc)
		return 0;
	atomic_store(&svc->stopping, 1);
	pthread_mutex_lock(&svc->cmu);
	int started = svc->started;
	svc->quit = 1;
	pthread_cond_signal(&svc->ccv);
	pthread_mutex_unlock(&svc->cmu);
	if (started) {
		pthread_join(svc->th, NULL);
		pthread_mutex_lock(&svc->cmu);
		svc->started = 0;
		pthread_mutex_unlock(&svc->cmu);
	}
	int rc = service_commit(svc);
	replies_stop(svc->replies);
	return rc;
}

void service_close(struct service **p)
{
	if (!p || !*p)
		return;
	struct service *svc = *p;
	*p = NULL;
	if (svc->started)
		service_stop(svc);
	replies_close(&svc->replies);
	journals_close(&svc->journals);
	idmap_free(&svc->seen_msg);
	idmap_free(&svc->seen_st);
	idmap_free(&svc->auto_sent);
	pthread_mutex_destroy(&svc->mu);
	pthread_mutex_destroy(&svc->cmu);
	pthread_mutex_destroy(&svc->commit_mu);
	pthread_mutex_destroy(&svc->gauge_mu);
	pthread_cond_destroy(&svc->ccv);
	bnd_free(svc);
}

void service_stats_get(struct service *svc, struct service_stats *st)
{
	memset(st, 0, sizeof *st);
	st->webhooks = GET(webhooks);
	st->webhooks_ok = GET(ok);
	st->webhooks_refused = GET(refused);
	st->webhooks_failed = GET(failed);
	st->messages = GET(messages);
	st->statuses = GET(statuses);
	st->duplicates = GET(duplicates);
	st->changes = GET(changes);
	st->ignored = GET(ignored);
	st->confirmed = GET(confirmed);
	st->confirmed_by_status = GET(confirmed_by_status);
	st->welcome_failures = GET(welcome_failures);
	st->unrouted_statuses = GET(unrouted);
	st->journaled_statuses = GET(journaled);
	st->commits = GET(commits);
	st->commit_records = GET(commit_records);
	st->overdue = GET(overdue);
	st->degraded = atomic_load(&svc->degraded);
	replies_stats_get(svc->replies, &st->replies);
}

struct replies *service_replies(struct service *svc)
{
	return svc->replies;
}
