/*
 * sender.c - the fan-out sender: JOURNAL.md §7 ("What the sender must do")
 * on the event loop, with the fdatasyncs on a committer thread.
 *
 * The pipeline of one recipient (design note: engine/SENDER.md):
 *
 *   sched_next ─▶ checks ─▶ DISPATCHED appended ─▶ ring ─▶ durable? ─▶ token? ─▶ curl
 *   (priority,    (final?    (journal buffer;      (FIFO,   (committer    (limiter  │
 *    expiry,       opt-out,   while a token is     ≤ window) fdatasync'ed) taken    │
 *    window)       pair gap)  due ≤ now + AHEAD)                           here)    ▼
 *   sched_release ◀── outcome journaled (ACCEPTED/FAILED/DEFERRED...) ◀──────── answer
 *
 *  - The ring holds picks whose intent is journaled but which are not in
 *    curl yet. Its front goes to curl once journal_durable says the intent
 *    is on disk and a connection slot is free; so no request is ever on the
 *    wire without a durable trace, and a crash leaves at most `window`
 *    uncertain ordinals (the scheduler's slots cover ring + curl).
 *  - The limiter governs the wire: the token is taken in send_ready, as the
 *    request goes to curl. dispatch only journals ahead what the tokens
 *    will allow within SENDER_AHEAD_NS (limiter_ahead_ns counting the ring),
 *    so that a commit's latency is hidden without filling the ring: a stalled
 *    fdatasync or full connections leave requests waiting in the ring, and
 *    when they become sendable they go at the limiter's pace (burst, then
 *    rate), never as a clump of tokens saved up while they waited.
 *  - The committer thread runs journal_commit (write + one fdatasync) for
 *    every journal with new records, again and again while records keep
 *    coming: a group commit whose batch is whatever arrived during the
 *    previous fdatasync. The loop never blocks on the disk. When a commit
 *    ends the thread posts one task to the loop, which sends the ring's now
 *    durable front. Outcome records need no wait (a lost ACCEPTED leaves the
 *    ordinal uncertain, within the window), so when only outcomes are
 *    pending the commit is requested by a timer (commit_interval).
 *  - Pre-emption: the ring is FIFO, so a higher-priority pick appended
 *    behind ~SENDER_AHEAD_NS of lower intents would wait for all their
 *    tokens. When sched_top says a notice has something due whose priority
 *    is above some picks still in the ring, those picks are taken back
 *    (ring_preempt: DEFERRED "not sent" in their journal, the same attempt
 *    re-queued in the scheduler at once, the slot released) and the higher
 *    notice's picks take the next tokens. While a higher notice still has
 *    work, lower picks are journaled only SENDER_AHEAD_LOW_NS ahead, so
 *    each later pre-emption takes back only a few.
 *  - The loop work happens in pump(), run from a zero-delay timer at most
 *    once per loop iteration (completions of one batch of events are all
 *    recorded first), so the per-message cost is one pass, not one per
 *    callback.
 *  - Time: the loop's clock is monotonic; the scheduler and the journal
 *    work in wall-clock time (expiry and retry instants are on disk). wall()
 *    adds the caller's offset. Only the loop reads the clock.
 *
 * Invariants:
 *  - n->pending counts SEND picks of notice n not yet released; every pick
 *    is released exactly once (outcome journaled, dropped, or skipped).
 *  - ring entries are in dispatch order; an entry taken back (notice
 *    stopped, or pre-empted) is released at once and removed from the
 *    ring; n->queued counts n's live entries in the ring.
 *  - a ring entry was never handed to curl: taking it back can neither
 *    skip its recipient (the journal says DEFERRED, or still DISPATCHED =
 *    uncertain if the kill came before that record was written) nor send
 *    it twice.
 *  - a notice is finished (journal closed, sched_remove) only when nothing
 *    of it is in the ring or in curl (pending == 0).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "sender.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bnd.h"
#include "limiter.h"
#include "metrics.h"
#include "phone.h"
#include "scheduler.h"
#include "waclient.h"

#define MOD "sender"
#define NS_MS 1000000ull
#define NS_S 1000000000ull
#define PAIR_CAPACITY 16384u   /* recipients remembered for pair spacing, at
                                  least: 6 s at 1,000/s is 6,000 numbers */
#define PAIR_CAPACITY_MAX (1u << 20)  /* 40 MB; beyond, limiter_pair keeps
                                         gaps by delaying (limiter.h) */

enum req_kind { REQ_DEAD = 0, REQ_NOTICE = 1, REQ_TEXT = 2 };

struct stext {
	struct stext *next;
	struct loop_task task;
	struct sender *s;
	uint64_t number;
	uint64_t due_ns;        /* loop time */
	uint16_t attempt;
	sender_text_fn done;
	void *ud;
	int is_template;        /* else free-form text */
	char name[NOTICE_TEMPLATE_MAX + 1], lang[NOTICE_LANG_MAX + 1];
	unsigned nparams;
	size_t plen[NOTICE_PARAMS_MAX];
	size_t len, tag_len;
	char tag[WAREQ_TAG_MAX + 1];
	uint8_t text[];         /* the text, or the parameters back to back */
};

/* A pick on its way: in the ring (waiting for its intent to be durable
 * and a free connection) or in curl. */
struct sreq {
	uint8_t kind;
	uint8_t notice;         /* index into s->notices */
	uint16_t attempt, flags;
	uint32_t ordinal;
	uint64_t number;
	uint64_t ticket;        /* the DISPATCHED record's */
	struct stext *text;
	struct sender *s;       /* in curl: the owner, for on_done */
	struct sreq *next_free;
};

struct snotice {
	int used;
	int ended;              /* no more dispatching: stopped, cancelled,
	                           expired, paused by shutdown, local error */
	int local_err;          /* the committer failed this journal */
	char id[NOTICE_ID_SIZE];
	struct notice *def;
	struct notice_rcpt *rcpt;
	struct journal *j;
	int sh;                 /* scheduler handle */
	uint32_t count;
	uint32_t pending;
	uint32_t queued;        /* live entries of it in the ring */
	int prio;               /* notice_priority */
	struct wa_bytes params[NOTICE_PARAMS_MAX];
	size_t nparams;
	enum wa_msg_kind kind;
};

struct committer {
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct journal *js[SCHED_MAX_NOTICES];  /* registered, by notice index */
	int errs[SCHED_MAX_NOTICES];            /* first commit error per index */
	struct journal *cur;                    /* being committed now */
	uint64_t req, done;
	uint64_t commits;
	int quit;
	atomic_int posted;
	struct loop_task task;
};

struct post_op {
	struct loop_task task;
	struct sender *s;
	int cancel;
	char id[NOTICE_ID_SIZE];
	sender_result_fn done;
	void *ud;
};

struct sender {
	struct sender_config cfg;
	char *data_dir, *notice_template, *notice_lang;
	struct store *store;
	struct loop *l;
	struct waclient *wc;
	struct sched *sched;
	struct limiter lim;
	struct limiter_pair *pair;
	struct limiter_rng rng;
	struct committer cm;

	struct snotice notices[SCHED_MAX_NOTICES];
	size_t active;
	pthread_mutex_t reg_mu;  /* guards notices[].used/id/j against
	                            sender_post_status (other threads) */

	/* ring of picks not in curl yet */
	struct sreq *ring;
	uint32_t ring_cap, ring_head, ring_len;
	/* contexts of requests in curl */
	struct sreq *ctx;
	struct sreq *ctx_free;

	/* one-off texts */
	struct stext *texts_head, *texts_tail;  /* due now, FIFO */
	struct stext *texts_later;              /* retry later, unsorted */
	atomic_uint texts_count;

	struct loop_timer pump_t, wake_t, commit_t, progress_t, drain_t;
	uint64_t wake_at;
	int need_commit;        /* records appended since the last request */

	atomic_int stop_req, stop_posted;
	struct loop_task stop_task;
	int draining, drain_done, engine_stopped;
	uint64_t drain_deadline;

	struct sender_stats st;
};

static void kick(struct sender *s);
static void defer_pick(struct sender *s, struct snotice *n, uint32_t ordinal, uint16_t a,
                       uint64_t until_wall, uint16_t flags);

static inline uint64_t wall(const struct sender *s, uint64_t mono)
{
	return (uint64_t)((int64_t)mono + s->cfg.wall_offset_ns);
}

static inline uint64_t mono_of(const struct sender *s, uint64_t wall_ns)
{
	int64_t m = (int64_t)wall_ns - s->cfg.wall_offset_ns;
	return m < 0 ? 0 : (uint64_t)m;
}

static char *dupstr(const char *p)
{
	if (!p)
		return NULL;
	size_t n = strlen(p) + 1;
	char *d = bnd_malloc(n);
	if (d)
		memcpy(d, p, n);
	return d;
}

/* ------------------------------------------------------------- committer */

static void *committer_main(void *arg)
{
	struct sender *s = arg;
	struct committer *c = &s->cm;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->quit && c->req == c->done)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->req == c->done && c->quit)
			break;
		uint64_t g = c->req;
		for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
			struct journal *j = c->js[i];
			if (!j || c->errs[i])
				continue;
			c->cur = j;
			pthread_mutex_unlock(&c->mu);
			int rc = journal_needs_commit(j) ? journal_commit(j) : 0;
			pthread_mutex_lock(&c->mu);
			c->cur = NULL;
			c->commits++;
			if (rc && !c->errs[i])
				c->errs[i] = rc;
			pthread_cond_broadcast(&c->cv);
		}
		c->done = g;
		pthread_mutex_unlock(&c->mu);
		if (!atomic_exchange(&c->posted, 1))
			loop_post(s->l, &c->task, c->task.fn, s);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void commit_request(struct sender *s)
{
	struct committer *c = &s->cm;
	s->need_commit = 0;
	pthread_mutex_lock(&c->mu);
	c->req++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* From any thread: one more commit round soon (status records). */
static void commit_poke(struct sender *s)
{
	struct committer *c = &s->cm;
	pthread_mutex_lock(&c->mu);
	c->req++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void committer_register(struct sender *s, int idx, struct journal *j)
{
	pthread_mutex_lock(&s->cm.mu);
	s->cm.js[idx] = j;
	s->cm.errs[idx] = 0;
	pthread_mutex_unlock(&s->cm.mu);
}

/* Take j away from the committer; returns once it no longer touches it. */
static void committer_unregister(struct sender *s, int idx)
{
	struct committer *c = &s->cm;
	pthread_mutex_lock(&c->mu);
	struct journal *j = c->js[idx];
	c->js[idx] = NULL;
	while (j && c->cur == j)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- notices */

static struct snotice *find_notice(struct sender *s, const char *id)
{
	for (int i = 0; i < SCHED_MAX_NOTICES; i++)
		if (s->notices[i].used && strcmp(s->notices[i].id, id) == 0)
			return &s->notices[i];
	return NULL;
}

static void release(struct sender *s, struct snotice *n)
{
	if (n->pending) {
		n->pending--;
		sched_release(s->sched, n->sh);
	}
}

/* end dispatching for n with journal state st (unless it is terminal). */
static void end_notice(struct sender *s, struct snotice *n, enum notice_state st,
                       enum notice_reason why, int32_t code, uint64_t now)
{
	if (n->ended)
		return;
	n->ended = 1;
	sched_cancel(s->sched, n->sh);
	enum notice_state cur;
	journal_state(n->j, &cur, NULL, NULL);
	if (!notice_state_terminal(cur) && cur != st && !n->local_err) {
		int rc = journal_set_state(n->j, st, why, code, wall(s, now) / NS_MS, NULL);
		if (rc)
			bnd_log(BND_LOG_WARN, MOD, "notice %s: recording state %s failed: %s", n->id,
			        notice_state_name(st), bnd_strerror(rc));
		s->need_commit = 1;
	}
	if (st == NOTICE_STOPPED)
		bnd_log(BND_LOG_ERROR, MOD, "notice %s stopped (%s, code %d)", n->id,
		        notice_reason_name(why), (int)code);
	kick(s);
}

static void finish_notice(struct sender *s, struct snotice *n, uint64_t now)
{
	int idx = (int)(n - s->notices);
	enum notice_state st;
	enum notice_reason why;
	int32_t code;
	journal_state(n->j, &st, &why, &code);
	if (st == NOTICE_RUNNING && !n->local_err &&
	    journal_low_water(n->j) == journal_recipients(n->j)) {
		int rc = journal_set_state(n->j, NOTICE_DONE, NOTICE_REASON_COMPLETE, 0,
		                           wall(s, now) / NS_MS, NULL);
		if (rc)
			bnd_log(BND_LOG_WARN, MOD, "notice %s: recording done failed: %s", n->id,
			        bnd_strerror(rc));
	}
	pthread_mutex_lock(&s->reg_mu);
	n->used = 0;            /* no more statuses from other threads */
	pthread_mutex_unlock(&s->reg_mu);
	committer_unregister(s, idx);
	int lerr = s->cm.errs[idx];
	int rc = lerr ? lerr : journal_commit(n->j);
	struct journal_report rep;
	journal_report(n->j, wall(s, now) / NS_MS, &rep);
	int crc = journal_close(&n->j);
	if (!rc)
		rc = crc;
	if (!rc)
		rc = n->local_err;
	st = rep.state;
	why = rep.reason;
	code = rep.reason_code;
	if (rc) {
		bnd_log(BND_LOG_ERROR, MOD, "notice %s: journal write failed: %s", n->id,
		        bnd_strerror(rc));
		st = NOTICE_STOPPED;
		why = NOTICE_REASON_LOCAL;
		code = rc;
	}
	sched_remove(s->sched, n->sh);
	notice_rcpt_close(&n->rcpt);
	char id[NOTICE_ID_SIZE];
	memcpy(id, n->id, sizeof id);
	bnd_free(n->def);
	pthread_mutex_lock(&s->reg_mu);
	memset(n, 0, sizeof *n);
	pthread_mutex_unlock(&s->reg_mu);
	s->active--;
	if (s->cfg.on_notice)
		s->cfg.on_notice(s->cfg.ud, id, st, why, code, &rep);
}

static void check_notice(struct sender *s, struct snotice *n, uint64_t now)
{
	if (!n->used || !n->j || n->pending)
		return;
	if (n->ended || sched_drained(s->sched, n->sh) == 1)
		finish_notice(s, n, now);
}

struct resume_ctx {
	struct sender *s;
	struct snotice *n;
	uint64_t now_wall;
	int rc;
	uint64_t uncertain, deferred, unsent;
};

static int on_pending(const struct journal_pending *p, void *ud)
{
	struct resume_ctx *r = ud;
	uint64_t due;
	uint16_t flags = 0, attempt = (uint16_t)(p->attempt + (p->dispatched || p->kind ==
	                                                   JPEND_DEFERRED ? 1 : 0));
	switch (p->kind) {
	case JPEND_UNCERTAIN:
		due = r->now_wall + r->s->cfg.uncertain_grace_ns;
		flags = SCHED_F_UNCERTAIN;
		r->uncertain++;
		break;
	case JPEND_DEFERRED:
		due = p->until_ms * NS_MS;
		r->deferred++;
		break;
	default:
		due = r->now_wall;
		attempt = 0;
		r->unsent++;
		break;
	}
	int rc = sched_defer(r->s->sched, r->n->sh, p->ordinal, due, attempt, flags);
	if (rc) {
		r->rc = rc;
		return 1;
	}
	return 0;
}

int sender_add(struct sender *s, const char *id)
{
	if (!s || !id || !notice_id_valid((const uint8_t *)id, strlen(id)))
		return BND_E_NOTICE_ID;
	if (s->draining)
		return BND_E_CLOSED;
	if (find_notice(s, id))
		return BND_E_EXISTS;
	int idx = -1;
	for (int i = 0; i < SCHED_MAX_NOTICES && idx < 0; i++)
		if (!s->notices[i].used)
			idx = i;
	if (idx < 0)
		return BND_E_RANGE;
	struct snotice *n = &s->notices[idx];
	uint64_t now = loop_now(s->l), now_wall = wall(s, now);
	int rc, added = 0;
	pthread_mutex_lock(&s->reg_mu);
	memset(n, 0, sizeof *n);
	pthread_mutex_unlock(&s->reg_mu);
	n->sh = -1;
	n->def = bnd_malloc(sizeof *n->def);
	if (!n->def)
		return BND_E_NOMEM;
	if ((rc = notice_load(s->data_dir, id, n->def)))
		goto fail;
	if ((rc = notice_rcpt_open(&n->rcpt, s->data_dir, id)))
		goto fail;
	struct journal_opts jo = { .buffer_bytes = SENDER_JOURNAL_BUFFER };
	struct journal_open_info info;
	if ((rc = journal_open_notice(&n->j, s->data_dir, id, n->rcpt, &jo, &info))) {
		if (info.err_msg[0])
			bnd_log(BND_LOG_ERROR, MOD, "notice %s: journal at offset %llu: %s", id,
			        (unsigned long long)info.err_offset, info.err_msg);
		goto fail;
	}
	if (info.tail_dropped_bytes)
		bnd_log(BND_LOG_WARN, MOD, "notice %s: cut a torn journal tail of %llu bytes", id,
		        (unsigned long long)info.tail_dropped_bytes);
	enum notice_state st;
	journal_state(n->j, &st, NULL, NULL);
	if (notice_state_terminal(st)) {
		rc = BND_E_CLOSED;
		goto fail;
	}
	pthread_mutex_lock(&s->reg_mu);
	memcpy(n->id, id, NOTICE_ID_LEN + 1);
	pthread_mutex_unlock(&s->reg_mu);
	n->count = notice_rcpt_count(n->rcpt);
	n->prio = notice_priority(n->def->category);
	struct sched_notice_def d = {
		.category = n->def->category,
		.order = n->def->created_ms,
		.count = n->count,
		.next_ordinal = journal_high_water(n->j),
		.horizon = journal_window_end(n->j),
		.expires_ns = n->def->expires_ms * NS_MS,
		.ud = n,
	};
	if ((rc = sched_add(s->sched, &d, &n->sh)))
		goto fail;
	added = 1;
	if (st != NOTICE_RUNNING &&
	    (rc = journal_set_state(n->j, NOTICE_RUNNING, NOTICE_REASON_OPERATOR, 0,
	                            now_wall / NS_MS, NULL)))
		goto fail;
	struct resume_ctx r = { .s = s, .n = n, .now_wall = now_wall };
	rc = journal_pending_foreach(n->j, on_pending, &r);
	if (r.rc)
		rc = r.rc;
	if (rc)
		goto fail;
	if (r.uncertain || r.deferred || r.unsent)
		bnd_log(BND_LOG_INFO, MOD,
		        "notice %s: resuming at ordinal %u of %u: %llu uncertain (re-sent after "
		        "%llu ms unless reconciled), %llu deferred, %llu unsent",
		        id, journal_low_water(n->j), n->count, (unsigned long long)r.uncertain,
		        (unsigned long long)(s->cfg.uncertain_grace_ns / NS_MS),
		        (unsigned long long)r.deferred, (unsigned long long)r.unsent);

	/* The message shape. */
	if (n->def->template_name[0] || s->notice_template) {
		n->kind = WA_MSG_TEMPLATE;
		if (n->def->nparams) {
			for (unsigned i = 0; i < n->def->nparams; i++) {
				n->params[i].p = (const uint8_t *)n->def->params[i];
				n->params[i].len = n->def->param_len[i];
			}
			n->nparams = n->def->nparams;
		} else {
			n->params[0].p = (const uint8_t *)n->def->text;
			n->params[0].len = n->def->text_len;
			n->nparams = 1;
		}
	} else {
		n->kind = WA_MSG_TEXT;
	}
	pthread_mutex_lock(&s->reg_mu);
	n->used = 1;
	pthread_mutex_unlock(&s->reg_mu);
	s->active++;
	committer_register(s, idx, n->j);
	s->need_commit = 1;
	kick(s);
	return 0;
fail:
	if (added)
		sched_remove(s->sched, n->sh);
	journal_close(&n->j);
	notice_rcpt_close(&n->rcpt);
	bnd_free(n->def);
	pthread_mutex_lock(&s->reg_mu);
	memset(n, 0, sizeof *n);
	pthread_mutex_unlock(&s->reg_mu);
	return rc;
}

int sender_post_status(struct sender *s, const char *id, uint32_t ordinal,
                       enum journal_status st, int32_t code, uint64_t t_ms)
{
	if (!s || !id)
		return BND_E_INVAL;
	int rc = BND_E_NOTFOUND;
	pthread_mutex_lock(&s->reg_mu);
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		struct snotice *n = &s->notices[i];
		if (n->used && n->j && strcmp(n->id, id) == 0) {
			rc = journal_status(n->j, ordinal, st, code, t_ms, NULL);
			break;
		}
	}
	pthread_mutex_unlock(&s->reg_mu);
	if (rc == 0)
		commit_poke(s);
	return rc;
}

int sender_cancel(struct sender *s, const char *id)
{
	struct snotice *n = find_notice(s, id);
	if (!n)
		return BND_E_NOTFOUND;
	if (n->ended)
		return BND_E_CLOSED;
	end_notice(s, n, NOTICE_CANCELLED, NOTICE_REASON_OPERATOR, 0, loop_now(s->l));
	/* The caller answers the operator once this returns: the cancel must
	 * be durable by then, or a GET right after the answer (it reads the
	 * journal) still says running, and a crash could forget the cancel.
	 * One fdatasync on the loop thread, for a rare operator action. */
	return n->j ? journal_commit(n->j) : 0;
}

static void on_post_op(void *ud, uint64_t now)
{
	(void)now;
	struct post_op *op = ud;
	int rc = op->cancel ? sender_cancel(op->s, op->id) : sender_add(op->s, op->id);
	if (op->done)
		op->done(op->ud, rc);
	bnd_free(op);
}

static int post_op(struct sender *s, const char *id, int cancel, sender_result_fn done, void *ud)
{
	if (!s || !id || !notice_id_valid((const uint8_t *)id, strlen(id)))
		return BND_E_INVAL;
	struct post_op *op = bnd_calloc(1, sizeof *op);
	if (!op)
		return BND_E_NOMEM;
	op->s = s;
	op->cancel = cancel;
	memcpy(op->id, id, NOTICE_ID_LEN + 1);
	op->done = done;
	op->ud = ud;
	loop_post(s->l, &op->task, on_post_op, op);
	return 0;
}

int sender_post_add(struct sender *s, const char *id, sender_result_fn done, void *ud)
{
	return post_op(s, id, 0, done, ud);
}

int sender_post_cancel(struct sender *s, const char *id, sender_result_fn done, void *ud)
{
	return post_op(s, id, 1, done, ud);
}

/* ------------------------------------------------------------------ texts */

static void on_text_task(void *ud, uint64_t now)
{
	(void)now;
	struct stext *t = ud;
	struct sender *s = t->s;
	t->next = NULL;
	if (s->texts_tail)
		s->texts_tail->next = t;
	else
		s->texts_head = t;
	s->texts_tail = t;
	kick(s);
}

/* A one-off message of len payload bytes, counted against the limit. */
static int text_new(struct sender *s, uint64_t number, size_t len, const char *tag,
                    sender_text_fn done, void *ud, struct stext **out)
{
	if (!s || !done || !phone_valid(number))
		return BND_E_INVAL;
	size_t tl = tag ? strlen(tag) : 0;
	if (tl > WAREQ_TAG_MAX)
		return BND_E_INVAL;
	if (atomic_load(&s->stop_req))
		return BND_E_CLOSED;
	if (atomic_fetch_add(&s->texts_count, 1) >= SENDER_TEXTS_MAX) {
		atomic_fetch_sub(&s->texts_count, 1);
		return BND_E_RANGE;
	}
	struct stext *t = bnd_calloc(1, sizeof *t + len);
	if (!t) {
		atomic_fetch_sub(&s->texts_count, 1);
		return BND_E_NOMEM;
	}
	t->s = s;
	t->number = number;
	t->done = done;
	t->ud = ud;
	t->len = len;
	t->tag_len = tl;
	if (tl)
		memcpy(t->tag, tag, tl);
	*out = t;
	return 0;
}

int sender_post_text(struct sender *s, uint64_t number, const uint8_t *text, size_t len,
                     const char *tag, sender_text_fn done, void *ud)
{
	if (!text || !len || len > WAREQ_STRING_MAX)
		return BND_E_INVAL;
	struct stext *t;
	int rc = text_new(s, number, len, tag, done, ud, &t);
	if (rc)
		return rc;
	memcpy(t->text, text, len);
	loop_post(s->l, &t->task, on_text_task, t);
	return 0;
}

int sender_post_template(struct sender *s, uint64_t number, const char *name, const char *lang,
                         const struct wa_bytes *params, size_t nparams, const char *tag,
                         sender_text_fn done, void *ud)
{
	if (!name || !lang || !name[0] || !lang[0] || strlen(name) > NOTICE_TEMPLATE_MAX ||
	    strlen(lang) > NOTICE_LANG_MAX || nparams > NOTICE_PARAMS_MAX ||
	    (nparams && !params))
		return BND_E_INVAL;
	size_t total = 0;
	for (size_t i = 0; i < nparams; i++) {
		if (!params[i].p || !params[i].len || params[i].len > WAREQ_STRING_MAX)
			return BND_E_INVAL;
		total += params[i].len;
	}
	struct stext *t;
	int rc = text_new(s, number, total, tag, done, ud, &t);
	if (rc)
		return rc;
	t->is_template = 1;
	strcpy(t->name, name);
	strcpy(t->lang, lang);
	t->nparams = (unsigned)nparams;
	size_t at = 0;
	for (size_t i = 0; i < nparams; i++) {
		memcpy(t->text + at, params[i].p, params[i].len);
		t->plen[i] = params[i].len;
		at += params[i].len;
	}
	loop_post(s->l, &t->task, on_text_task, t);
	return 0;
}

static void text_finish(struct sender *s, struct stext *t, enum wa_outcome o, int64_t code,
                        const char *wamid, size_t wamid_len)
{
	struct sender_text_result r = { .outcome = o, .code = code, .wamid = wamid,
	                                .wamid_len = wamid_len };
	if (o == WA_ACCEPTED)
		s->st.texts_accepted++;
	else
		s->st.texts_failed++;
	t->done(t->ud, &r);
	bnd_free(t);
	atomic_fetch_sub(&s->texts_count, 1);
}

/* ------------------------------------------------------------- the ring */

static struct sreq *ring_at(struct sender *s, uint32_t i)
{
	return &s->ring[(s->ring_head + i) % s->ring_cap];
}

static void ring_pop(struct sender *s)
{
	s->ring_head = (s->ring_head + 1) % s->ring_cap;
	s->ring_len--;
}

/* Remove the dead entries, keeping the others in order. */
static void ring_compact(struct sender *s)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < s->ring_len; i++) {
		struct sreq *q = ring_at(s, i);
		if (q->kind == REQ_DEAD)
			continue;
		if (w != i)
			*ring_at(s, w) = *q;
		w++;
	}
	s->ring_len = w;
}

/* Take ring entry q back: it never went on the wire. Its intent is
 * journaled (maybe durable), so record DEFERRED: "not sent, send again"
 * rather than leaving it uncertain for a resume (a kill before that record
 * is written leaves it uncertain: re-sent, counted, never skipped). With
 * requeue (pre-emption) the scheduler hands it out again at once with the
 * same attempt (it was not a retry; an uncertain re-send becomes a plain
 * one, as a resume would make it of the DEFERRED record); else (the notice
 * stops) only its slot is released. Call ring_compact afterwards. */
static void ring_withdraw(struct sender *s, struct sreq *q, int requeue, uint64_t now)
{
	struct snotice *n = &s->notices[q->notice];
	q->kind = REQ_DEAD;
	n->queued--;
	s->need_commit = 1;
	int rc = n->local_err ? n->local_err
	                      : journal_deferred(n->j, q->ordinal, 0, wall(s, now) / NS_MS, NULL);
	if (requeue && rc == 0) {
		defer_pick(s, n, q->ordinal, q->attempt, wall(s, now), 0);
		return;
	}
	release(s, n);
	if (requeue && rc && rc != BND_E_JOURNAL_FINAL && !n->local_err) {
		bnd_log(BND_LOG_ERROR, MOD, "notice %s: journal append failed: %s", n->id,
		        bnd_strerror(rc));
		n->local_err = rc;
		end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, rc, now);
	}
}

/* Drop the ring entries of notice n (or of all notices when n is NULL):
 * the notice stops (or the sender does). */
static void ring_drop(struct sender *s, struct snotice *n, uint64_t now)
{
	for (uint32_t i = 0; i < s->ring_len; i++) {
		struct sreq *q = ring_at(s, i);
		if (q->kind == REQ_NOTICE && (!n || &s->notices[q->notice] == n))
			ring_withdraw(s, q, 0, now);
	}
	ring_compact(s);
}

/* Take back the ring entries of notices below priority `top` and re-queue
 * them: a notice of that priority has something to send, and must not
 * wait behind their tokens. */
static void ring_preempt(struct sender *s, int top, uint64_t now)
{
	for (uint32_t i = 0; i < s->ring_len; i++) {
		struct sreq *q = ring_at(s, i);
		if (q->kind == REQ_NOTICE && s->notices[q->notice].prio < top) {
			ring_withdraw(s, q, 1, now);
			s->st.preempted++;
		}
	}
	ring_compact(s);
}

/* Pre-emption (design comment at the top): a notice has something due
 * whose priority is above picks still queued in the ring: take them back. */
static void preempt(struct sender *s, uint64_t now)
{
	if (s->active < 2 || !s->ring_len)
		return;
	int low = INT_MAX;
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		const struct snotice *n = &s->notices[i];
		if (n->used && n->queued && n->prio < low)
			low = n->prio;
	}
	if (low == INT_MAX)
		return;
	struct sched_top t;
	sched_top(s->sched, wall(s, now), &t);
	if (t.ready > low)
		ring_preempt(s, t.ready, now);
}

/* ------------------------------------------------------------- outcomes */

static uint16_t next_attempt(uint16_t a)
{
	return a < UINT16_MAX ? (uint16_t)(a + 1) : UINT16_MAX;
}

static int32_t fail_code(const struct wa_result *r)
{
	if (r->code != WA_CODE_NONE)
		return (int32_t)r->code;
	if (r->curl_code)
		return -(int32_t)r->curl_code;
	if (r->http_status)
		return -(int32_t)r->http_status;
	return -1;
}

static void invalidate(struct sender *s, struct snotice *n, uint32_t ordinal, uint64_t number,
                       uint64_t now)
{
	if (!s->store)
		return;
	enum sub_state st;
	if (store_get(s->store, number, &st, NULL) || st != SUB_CONFIRMED)
		return;
	char src[64];
	int len = snprintf(src, sizeof src, "131026:%s:%u", n->id, ordinal);
	int rc = store_append(s->store, number, SUB_INVALID, wall(s, now) / NS_MS,
	                      (const uint8_t *)src, (size_t)len, NULL);
	if (rc) {
		bnd_log(BND_LOG_WARN, MOD, "marking a subscriber invalid failed: %s",
		        bnd_strerror(rc));
		return;
	}
	s->st.invalidated++;
}

/* Give the pick's slot back and hand the ordinal out again at until_wall
 * as attempt a. */
static void defer_pick(struct sender *s, struct snotice *n, uint32_t ordinal, uint16_t a,
                       uint64_t until_wall, uint16_t flags)
{
	release(s, n);
	if (n->ended)
		return;
	int rc = sched_defer(s->sched, n->sh, ordinal, until_wall, a, flags);
	if (rc) {
		/* The journal still has it (DEFERRED or dispatched): a resume
		 * recovers it. Stop rather than lose it silently. */
		bnd_log(BND_LOG_ERROR, MOD, "notice %s: re-queueing failed: %s", n->id,
		        bnd_strerror(rc));
		n->local_err = n->local_err ? n->local_err : rc;
		end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, rc, loop_now(s->l));
	}
}

static void notice_outcome(struct sender *s, struct sreq *q, const struct wa_result *r,
                           uint64_t now)
{
	struct snotice *n = &s->notices[q->notice];
	uint64_t now_wall = wall(s, now);
	int rc = 0;
	s->need_commit = 1;
	if (n->local_err) {
		release(s, n);
		return;
	}
	switch (r->outcome) {
	case WA_ACCEPTED:
		rc = journal_accepted(n->j, q->ordinal, (const uint8_t *)r->wamid,
		                      r->wamid_len > JOURNAL_WAMID_MAX ? JOURNAL_WAMID_MAX
		                                                       : r->wamid_len, NULL);
		if (s->pair)
			limiter_pair_sent(s->pair, q->number, now);
		s->st.accepted++;
		release(s, n);
		break;
	case WA_FAILED_RECIPIENT:
		rc = journal_failed(n->j, q->ordinal, fail_code(r), NULL);
		if (r->code == 131026)
			invalidate(s, n, q->ordinal, q->number, now);
		s->st.failed++;
		release(s, n);
		break;
	case WA_RETRY_THROTTLE: {
		s->st.throttled++;
		limiter_throttled(&s->lim, now, r->sent_ns, r->retry_after_ns);
		uint64_t until = limiter_next_ns(&s->lim, now);
		if (r->retry_after_ns && now + r->retry_after_ns > until)
			until = now + r->retry_after_ns;
		rc = journal_deferred(n->j, q->ordinal, fail_code(r), wall(s, until) / NS_MS, NULL);
		s->st.deferred++;
		defer_pick(s, n, q->ordinal, next_attempt(q->attempt), wall(s, until), 0);
		break;
	}
	case WA_RETRY_PAIR: {
		s->st.pair_limited++;
		uint64_t wait = s->pair ? limiter_pair_throttled(s->pair, q->number, now) : NS_S;
		if (r->retry_after_ns > wait)
			wait = r->retry_after_ns;
		rc = journal_deferred(n->j, q->ordinal, fail_code(r), (now_wall + wait) / NS_MS,
		                      NULL);
		s->st.deferred++;
		defer_pick(s, n, q->ordinal, next_attempt(q->attempt), now_wall + wait, 0);
		break;
	}
	case WA_RETRY_TRANSIENT: {
		unsigned tries = s->cfg.max_tries ? s->cfg.max_tries
		                 : r->max_tries      ? r->max_tries
		                                     : SENDER_MAX_TRIES_DEFAULT;
		if ((unsigned)q->attempt + 1 >= tries) {
			rc = journal_failed(n->j, q->ordinal, fail_code(r), NULL);
			s->st.failed++;
			release(s, n);
			break;
		}
		uint64_t wait = limiter_backoff_ns(q->attempt, s->cfg.retry_base_ns,
		                                   s->cfg.retry_cap_ns, &s->rng);
		if (r->retry_after_ns > wait)
			wait = r->retry_after_ns;
		rc = journal_deferred(n->j, q->ordinal, fail_code(r), (now_wall + wait) / NS_MS,
		                      NULL);
		s->st.deferred++;
		defer_pick(s, n, q->ordinal, next_attempt(q->attempt), now_wall + wait, 0);
		break;
	}
	case WA_UNCERTAIN:
		/* No record: the ordinal stays dispatched, i.e. uncertain. */
		s->st.uncertain++;
		if (s->draining || n->ended) {
			release(s, n);
			break;
		}
		if ((unsigned)q->attempt + 1 >= SENDER_MAX_TRIES_DEFAULT + SENDER_UNCERTAIN_TRIES) {
			rc = journal_failed(n->j, q->ordinal, fail_code(r), NULL);
			s->st.failed++;
			release(s, n);
			break;
		}
		defer_pick(s, n, q->ordinal, next_attempt(q->attempt), now_wall + s->cfg.uncertain_grace_ns, SCHED_F_UNCERTAIN);
		break;
	case WA_STOP_CAMPAIGN:
	case WA_STOP_ENGINE:
	default:
		/* Answered and refused: not sent. DEFERRED so that a resume sends
		 * it normally (not as uncertain). */
		rc = journal_deferred(n->j, q->ordinal, fail_code(r), now_wall / NS_MS, NULL);
		release(s, n);
		if (r->outcome == WA_STOP_ENGINE) {
			s->engine_stopped = 1;
			for (int i = 0; i < SCHED_MAX_NOTICES; i++)
				if (s->notices[i].used)
					end_notice(s, &s->notices[i], NOTICE_STOPPED,
					           NOTICE_REASON_ENGINE, fail_code(r), now);
			ring_drop(s, NULL, now);
		} else {
			end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_CAMPAIGN, fail_code(r), now);
			ring_drop(s, n, now);
		}
		break;
	}
	if (rc && rc != BND_E_JOURNAL_FINAL) {
		bnd_log(BND_LOG_ERROR, MOD, "notice %s: journal append failed: %s", n->id,
		        bnd_strerror(rc));
		n->local_err = rc;
		end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, rc, now);
		ring_drop(s, n, now);
	}
}

static void text_outcome(struct sender *s, struct stext *t, const struct wa_result *r,
                         uint64_t now)
{
	uint64_t wait = 0;
	unsigned tries = s->cfg.max_tries ? s->cfg.max_tries : SENDER_MAX_TRIES_DEFAULT;
	switch (r->outcome) {
	case WA_ACCEPTED:
		if (s->pair)
			limiter_pair_sent(s->pair, t->number, now);
		text_finish(s, t, WA_ACCEPTED, 0, r->wamid, r->wamid_len);
		return;
	case WA_RETRY_THROTTLE:
		s->st.throttled++;
		limiter_throttled(&s->lim, now, r->sent_ns, r->retry_after_ns);
		wait = limiter_next_ns(&s->lim, now) - now;
		break;
	case WA_RETRY_PAIR:
		wait = s->pair ? limiter_pair_throttled(s->pair, t->number, now) : NS_S;
		break;
	case WA_RETRY_TRANSIENT:
	case WA_UNCERTAIN:
		/* A one-off text re-sent after an unknown outcome may arrive twice;
		 * better than a welcome that never comes. */
		wait = limiter_backoff_ns(t->attempt, s->cfg.retry_base_ns, s->cfg.retry_cap_ns,
		                          &s->rng);
		break;
	default:
		if (r->outcome == WA_STOP_ENGINE)
			s->engine_stopped = 1;
		text_finish(s, t, r->outcome, fail_code(r), NULL, 0);
		return;
	}
	if (r->retry_after_ns > wait)
		wait = r->retry_after_ns;
	if ((unsigned)t->attempt + 1 >= tries || s->draining) {
		text_finish(s, t, r->outcome, fail_code(r), NULL, 0);
		return;
	}
	t->attempt++;
	t->due_ns = now + wait;
	t->next = s->texts_later;
	s->texts_later = t;
}

/* count_outcome - one API answer into the metrics: accepted, retried or
 * failed by error code, throttles, uncertain. The journal stays the
 * source of truth; these are the operator's live view. */
static void count_outcome(struct sender *s, const struct wa_result *r)
{
	struct metrics_set *m = s->cfg.metrics;
	if (!m)
		return;
	int code = fail_code(r);
	switch (r->outcome) {
	case WA_ACCEPTED:
		metrics_counter_inc(m->messages[METRICS_OUT_ACCEPTED]);
		break;
	case WA_RETRY_THROTTLE:
		metrics_counter_inc(m->throttles);
		metrics_set_retried(m, code);
		break;
	case WA_RETRY_PAIR:
		metrics_counter_inc(m->pair_throttles);
		metrics_set_retried(m, code);
		break;
	case WA_RETRY_TRANSIENT:
		metrics_set_retried(m, code);
		break;
	case WA_UNCERTAIN:
		metrics_counter_inc(m->messages[METRICS_OUT_UNCERTAIN]);
		break;
	default:   /* failed for the recipient, or a campaign/engine stop */
		metrics_set_failed(m, code);
		break;
	}
}

static void on_done(void *ud, const struct wa_result *r, uint64_t now)
{
	struct sreq *q = ud;
	struct sender *s = q->s;
	count_outcome(s, r);
	if (q->kind == REQ_TEXT)
		text_outcome(s, q->text, r, now);
	else
		notice_outcome(s, q, r, now);
	q->kind = REQ_DEAD;
	q->text = NULL;
	q->next_free = s->ctx_free;
	s->ctx_free = q;
	s->st.in_flight = waclient_inflight(s->wc);
	kick(s);
}

/* ----------------------------------------------------------------- pump */

static void want_wake(struct sender *s, uint64_t at)
{
	if (at < s->wake_at)
		s->wake_at = at;
}

static int build_and_send(struct sender *s, struct sreq *c)
{
	struct wa_msg m = { 0 };
	char tag[NOTICE_TAG_MAX];
	struct wa_bytes tp[NOTICE_PARAMS_MAX];
	if (c->kind == REQ_TEXT) {
		struct stext *t = c->text;
		m.to = t->number;
		m.tag.p = (const uint8_t *)t->tag;
		m.tag.len = t->tag_len;
		if (t->is_template) {
			m.kind = WA_MSG_TEMPLATE;
			m.tmpl_name.p = (const uint8_t *)t->name;
			m.tmpl_name.len = strlen(t->name);
			m.lang.p = (const uint8_t *)t->lang;
			m.lang.len = strlen(t->lang);
			size_t at = 0;
			for (unsigned i = 0; i < t->nparams; i++) {
				tp[i].p = t->text + at;
				tp[i].len = t->plen[i];
				at += t->plen[i];
			}
			m.params = tp;
			m.nparams = t->nparams;
		} else {
			m.kind = WA_MSG_TEXT;
			m.text.p = t->text;
			m.text.len = t->len;
		}
	} else {
		struct snotice *n = &s->notices[c->notice];
		int tl = notice_tag_format(n->id, c->ordinal, tag);
		m.kind = n->kind;
		m.to = c->number;
		m.tag.p = (const uint8_t *)tag;
		m.tag.len = tl > 0 ? (size_t)tl : 0;
		if (n->kind == WA_MSG_TEMPLATE) {
			const char *name = n->def->template_name[0] ? n->def->template_name
			                                            : s->notice_template;
			const char *lang = n->def->template_name[0] ? n->def->lang : s->notice_lang;
			m.tmpl_name.p = (const uint8_t *)name;
			m.tmpl_name.len = strlen(name);
			m.lang.p = (const uint8_t *)lang;
			m.lang.len = strlen(lang);
			m.params = n->params;
			m.nparams = n->nparams;
		} else {
			m.text.p = (const uint8_t *)n->def->text;
			m.text.len = n->def->text_len;
		}
	}
	int rc = waclient_send(s->wc, &m, c);
	if (rc == 0) {
		s->st.sent++;
		if (!s->st.first_send_ns)
			s->st.first_send_ns = loop_now(s->l);
	}
	return rc;
}

/* An emergency notice still dispatching: it takes the sending capacity
 * (PRODUCT.md, "Emergencies first"), one-off texts wait behind it. */
static int emergency_running(const struct sender *s)
{
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		const struct snotice *n = &s->notices[i];
		if (n->used && !n->ended && n->def->category == NOTICE_CAT_EMERGENCY)
			return 1;
	}
	return 0;
}

/* Move durable ring entries (and due texts) into curl while slots are free. */
static void send_ready(struct sender *s, uint64_t now)
{
	/* Texts before other notices: they are few and someone waits for each
	 * (a welcome answers a citizen who just wrote). But not before an
	 * emergency: while one is dispatching, texts wait (engine_stopped
	 * still fails them at once). */
	if (s->texts_later) {
		struct stext **pp = &s->texts_later;
		while (*pp) {
			struct stext *t = *pp;
			if (t->due_ns <= now) {
				*pp = t->next;
				t->next = NULL;
				if (s->texts_tail)
					s->texts_tail->next = t;
				else
					s->texts_head = t;
				s->texts_tail = t;
			} else {
				want_wake(s, t->due_ns);
				pp = &t->next;
			}
		}
	}
	while (s->texts_head && s->ctx_free && !s->draining &&
	       (s->engine_stopped || !emergency_running(s))) {
		struct stext *t = s->texts_head;
		if (s->engine_stopped) {
			s->texts_head = t->next;
			if (!s->texts_head)
				s->texts_tail = NULL;
			text_finish(s, t, WA_STOP_ENGINE, -1, NULL, 0);
			continue;
		}
		uint64_t at = limiter_next_ns(&s->lim, now);
		if (s->pair) {
			uint64_t pa = limiter_pair_next_ns(s->pair, t->number, now);
			if (pa > at)
				at = pa;
		}
		if (at > now) {
			want_wake(s, at);
			break;
		}
		limiter_take(&s->lim, now);
		s->texts_head = t->next;
		if (!s->texts_head)
			s->texts_tail = NULL;
		struct sreq *c = s->ctx_free;
		s->ctx_free = c->next_free;
		c->kind = REQ_TEXT;
		c->text = t;
		s->st.texts_sent++;
		int rc = build_and_send(s, c);
		if (rc) {
			c->kind = REQ_DEAD;
			c->next_free = s->ctx_free;
			s->ctx_free = c;
			text_finish(s, t, WA_FAILED_RECIPIENT, rc, NULL, 0);
		}
	}
	while (s->ring_len) {
		struct sreq *q = ring_at(s, 0);
		if (q->kind == REQ_DEAD) {
			ring_pop(s);
			continue;
		}
		if (!s->ctx_free)
			break;
		struct snotice *n = &s->notices[q->notice];
		if (!journal_durable(n->j, q->ticket))
			break;          /* the commit's end kicks the pump */
		if (!limiter_take(&s->lim, now)) {
			want_wake(s, limiter_next_ns(&s->lim, now));
			break;
		}
		struct sreq *c = s->ctx_free;
		s->ctx_free = c->next_free;
		*c = *q;
		c->s = s;
		ring_pop(s);
		n->queued--;
		int rc = build_and_send(s, c);
		if (rc) {
			/* Not on the wire: say so, and stop the notice (a request that
			 * cannot be built will not build next time either). */
			bnd_log(BND_LOG_ERROR, MOD, "notice %s: request not sent: %s", n->id,
			        bnd_strerror(rc));
			journal_deferred(n->j, c->ordinal, 0, wall(s, now) / NS_MS, NULL);
			release(s, n);
			c->kind = REQ_DEAD;
			c->next_free = s->ctx_free;
			s->ctx_free = c;
			end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, rc, now);
			ring_drop(s, n, now);
		}
	}
	s->st.in_flight = waclient_inflight(s->wc);
}

/* Take picks from the scheduler into the ring (their intents journaled)
 * while the limiter will have a token for each within SENDER_AHEAD_NS: the
 * tokens themselves are taken in send_ready. */
static void dispatch(struct sender *s, uint64_t now)
{
	int appended = 0;
	uint64_t now_wall = wall(s, now);
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		struct snotice *n = &s->notices[i];
		if (n->used && !n->ended)
			sched_set_horizon(s->sched, n->sh, journal_window_end(n->j));
	}
	while (s->ring_len < s->ring_cap && !s->draining) {
		uint64_t ahead = SENDER_AHEAD_NS;
		if (s->active > 1) {
			/* The next pick is of a notice below one that still has
			 * work: journal it only just ahead, so that a pre-emption
			 * by that one takes back few intents. */
			struct sched_top t;
			sched_top(s->sched, now_wall, &t);
			if (t.ready < t.pending)
				ahead = SENDER_AHEAD_LOW_NS;
		}
		uint64_t at = limiter_ahead_ns(&s->lim, s->ring_len, now);
		if (at > now + ahead) {
			want_wake(s, at - ahead);
			break;
		}
		struct sched_pick p;
		enum sched_pick_kind k = sched_next(s->sched, now_wall, &p);
		if (k == SCHED_IDLE) {
			if (p.wake_ns != UINT64_MAX)
				want_wake(s, mono_of(s, p.wake_ns));
			break;
		}
		struct snotice *n = p.ud;
		if (k == SCHED_EXPIRED) {
			end_notice(s, n, NOTICE_EXPIRED, NOTICE_REASON_EXPIRY, 0, now);
			continue;
		}
		n->pending++;
		if (journal_is_final(n->j, p.ordinal)) {   /* reconciled by a status */
			release(s, n);
			continue;
		}
		uint64_t number = notice_rcpt_get(n->rcpt, p.ordinal);
		if (s->store || number == 0) {
			/* 0: erased by compaction (notice_purge.h), an opt-out. */
			enum sub_state st = SUB_NONE;
			if (number != 0)
				store_get(s->store, number, &st, NULL);
			if (st != SUB_CONFIRMED) {
				int rc = journal_skipped(n->j, p.ordinal,
				                         st == SUB_INVALID ? JSKIP_INVALID
				                                           : JSKIP_UNSUBSCRIBED, NULL);
				s->st.skipped++;
				if (s->cfg.metrics)
					metrics_counter_inc(s->cfg.metrics->messages[METRICS_OUT_SKIPPED]);
				release(s, n);
				appended = 1;
				if (rc && rc != BND_E_JOURNAL_FINAL) {
					n->local_err = rc;
					end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, rc, now);
				}
				continue;
			}
		}
		if (s->pair) {
			uint64_t pa = limiter_pair_next_ns(s->pair, number, now);
			if (pa > now) {
				/* Too soon after the last message to this number:
				 * the same pick, later. */
				defer_pick(s, n, p.ordinal, p.attempt, wall(s, pa), p.flags);
				continue;
			}
		}
		uint64_t ticket = 0;
		uint16_t jflags = (p.flags & SCHED_F_UNCERTAIN) ? JOURNAL_DISPATCH_UNCERTAIN : 0;
		int rc = journal_dispatched(n->j, p.ordinal, p.attempt, jflags, &ticket);
		if (rc) {
			release(s, n);
			if (rc == BND_E_JOURNAL_FINAL)
				continue;
			bnd_log(BND_LOG_ERROR, MOD, "notice %s: journaling an intent failed: %s",
			        n->id, bnd_strerror(rc));
			n->local_err = rc;
			end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, rc, now);
			ring_drop(s, n, now);
			continue;
		}
		s->st.dispatched++;
		appended = 1;
		struct sreq *q = ring_at(s, s->ring_len);
		*q = (struct sreq){ .kind = REQ_NOTICE, .notice = (uint8_t)(n - s->notices),
		                    .attempt = p.attempt, .flags = p.flags, .ordinal = p.ordinal,
		                    .number = number, .ticket = ticket };
		s->ring_len++;
		n->queued++;
	}
	if (appended)
		s->need_commit = 1;
}

static void on_commit_timer(void *ud, uint64_t now)
{
	(void)now;
	struct sender *s = ud;
	if (s->need_commit)
		commit_request(s);
}

static void finish_drain(struct sender *s, uint64_t now)
{
	waclient_abort_all(s->wc, now);   /* outcomes: UNCERTAIN, released */
	for (int i = 0; i < SCHED_MAX_NOTICES; i++)
		if (s->notices[i].used) {
			s->notices[i].pending = 0;
			finish_notice(s, &s->notices[i], now);
		}
	while (s->texts_head) {
		struct stext *t = s->texts_head;
		s->texts_head = t->next;
		text_finish(s, t, WA_RETRY_TRANSIENT, -1, NULL, 0);
	}
	s->texts_tail = NULL;
	while (s->texts_later) {
		struct stext *t = s->texts_later;
		s->texts_later = t->next;
		text_finish(s, t, WA_RETRY_TRANSIENT, -1, NULL, 0);
	}
	s->drain_done = 1;
	loop_stop(s->l);
}

static void pump(void *ud, uint64_t now)
{
	struct sender *s = ud;
	if (s->drain_done)
		return;
	s->wake_at = UINT64_MAX;
	if (s->draining) {
		if (waclient_inflight(s->wc) == 0 || now >= s->drain_deadline)
			finish_drain(s, now);
		else
			want_wake(s, s->drain_deadline);
	} else {
		preempt(s, now);
		send_ready(s, now);
		dispatch(s, now);
		/* Intents waiting for the disk: commit now. Only outcomes: within
		 * the commit interval. */
		if (s->need_commit) {
			int intents = 0;
			for (uint32_t i = 0; i < s->ring_len && !intents; i++)
				intents = ring_at(s, i)->kind == REQ_NOTICE;
			if (intents)
				commit_request(s);
			else if (!loop_timer_active(&s->commit_t))
				loop_timer_start(s->l, &s->commit_t, now + s->cfg.commit_interval_ns,
				                 on_commit_timer, s);
		}
		for (int i = 0; i < SCHED_MAX_NOTICES; i++)
			check_notice(s, &s->notices[i], now);
		/* Texts held back by an emergency that just ended go now. */
		if (s->texts_head && s->ctx_free)
			send_ready(s, now);
		if (s->need_commit && !loop_timer_active(&s->commit_t))
			loop_timer_start(s->l, &s->commit_t, now + s->cfg.commit_interval_ns,
			                 on_commit_timer, s);
		if ((s->cfg.flags & SENDER_EXIT_WHEN_IDLE) && s->active == 0 && !s->ring_len &&
		    !s->texts_head && !s->texts_later && waclient_inflight(s->wc) == 0 &&
		    atomic_load(&s->texts_count) == 0) {
			loop_stop(s->l);
			return;
		}
	}
	if (s->wake_at != UINT64_MAX)
		loop_timer_start(s->l, &s->wake_t, s->wake_at, pump, s);
	else
		loop_timer_stop(s->l, &s->wake_t);
}

static void kick(struct sender *s)
{
	if (!loop_timer_active(&s->pump_t))
		loop_timer_start(s->l, &s->pump_t, 0, pump, s);
}

static void on_commit_done(void *ud, uint64_t now)
{
	struct sender *s = ud;
	atomic_store(&s->cm.posted, 0);
	pthread_mutex_lock(&s->cm.mu);
	int errs[SCHED_MAX_NOTICES];
	memcpy(errs, s->cm.errs, sizeof errs);
	s->st.commits = s->cm.commits;
	pthread_mutex_unlock(&s->cm.mu);
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		struct snotice *n = &s->notices[i];
		if (n->used && errs[i] && !n->local_err) {
			bnd_log(BND_LOG_ERROR, MOD, "notice %s: journal commit failed: %s", n->id,
			        bnd_strerror(errs[i]));
			n->local_err = errs[i];
			end_notice(s, n, NOTICE_STOPPED, NOTICE_REASON_LOCAL, errs[i], now);
			ring_drop(s, n, now);
		}
	}
	kick(s);
}

static void on_progress(void *ud, uint64_t now)
{
	struct sender *s = ud;
	if (s->cfg.on_progress && s->active)
		s->cfg.on_progress(s->cfg.ud, s, now);
	loop_timer_start(s->l, &s->progress_t, now + s->cfg.progress_ns, on_progress, s);
}

static void on_stop(void *ud, uint64_t now)
{
	struct sender *s = ud;
	if (s->draining)
		return;
	s->draining = 1;
	s->drain_deadline = now + SENDER_DRAIN_TIMEOUT_NS;
	ring_drop(s, NULL, now);
	for (int i = 0; i < SCHED_MAX_NOTICES; i++) {
		struct snotice *n = &s->notices[i];
		if (n->used && !n->ended)
			end_notice(s, n, NOTICE_PAUSED,
			           (s->cfg.flags & SENDER_SHUTDOWN_RESUMES) ? NOTICE_REASON_SHUTDOWN
			                                                    : NOTICE_REASON_OPERATOR,
			           0, now);
	}
	bnd_log(BND_LOG_INFO, MOD, "stopping: waiting for %u request(s) in flight",
	        waclient_inflight(s->wc));
	kick(s);
}

void sender_shutdown(struct sender *s)
{
	if (!s)
		return;
	atomic_store(&s->stop_req, 1);
	if (!atomic_exchange(&s->stop_posted, 1))
		loop_post(s->l, &s->stop_task, on_stop, s);
}

/* ---------------------------------------------------------- life cycle */

/* The pair table holds every number sent to within the last gap (or
 * waiting out a 131056): twice rate x gap keeps its probe windows short of
 * full. Unlimited rate (benchmarks): the minimum; an overfull table delays,
 * it does not lose gaps. */
static uint32_t pair_capacity(const struct sender_config *c)
{
	uint64_t gap_s = (c->pair_interval_ns + NS_S - 1) / NS_S;
	uint64_t want = 2u * (uint64_t)c->rate * (gap_s ? gap_s : 1);
	if (want < PAIR_CAPACITY)
		want = PAIR_CAPACITY;
	if (want > PAIR_CAPACITY_MAX)
		want = PAIR_CAPACITY_MAX;
	return (uint32_t)want;
}

int sender_open(struct sender **out, const struct sender_config *cfg)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!cfg || !cfg->data_dir || !cfg->phone_number_id || !cfg->token)
		return BND_E_INVAL;
	struct sender *s = bnd_calloc(1, sizeof *s);
	if (!s)
		return BND_E_NOMEM;
	int rc = BND_E_NOMEM;
	pthread_mutex_init(&s->reg_mu, NULL);
	s->cfg = *cfg;
	struct sender_config *c = &s->cfg;
	if (!c->window)
		c->window = SENDER_WINDOW_DEFAULT;
	if (c->window > WACLIENT_WINDOW_MAX * 16)
		c->window = WACLIENT_WINDOW_MAX * 16;
	if (!c->connections || c->connections > c->window)
		c->connections = c->window;
	if (c->connections > WACLIENT_WINDOW_MAX)
		c->connections = WACLIENT_WINDOW_MAX;
	if (!c->timeout_ms)
		c->timeout_ms = 20000;
	if (!c->connect_timeout_ms)
		c->connect_timeout_ms = 5000;
	if (!c->retry_base_ns)
		c->retry_base_ns = NS_S;
	if (!c->retry_cap_ns)
		c->retry_cap_ns = 60 * NS_S;
	if (!c->commit_interval_ns)
		c->commit_interval_ns = SENDER_COMMIT_INTERVAL_NS;
	if (!c->progress_ns)
		c->progress_ns = SENDER_PROGRESS_DEFAULT_NS;
	s->store = c->store;
	s->data_dir = dupstr(c->data_dir);
	s->notice_template = dupstr(c->notice_template);
	s->notice_lang = dupstr(c->notice_lang ? c->notice_lang : "it");
	if (!s->data_dir || !s->notice_lang || (c->notice_template && !s->notice_template))
		goto fail;
	c->data_dir = s->data_dir;
	c->notice_template = s->notice_template;
	c->notice_lang = s->notice_lang;
	c->api_base = c->api_version = c->phone_number_id = c->token = NULL; /* the client copies */

	if ((rc = loop_open(&s->l, cfg->backend)))
		goto fail;
	struct waclient_config wcfg = {
		.api_base = cfg->api_base,
		.version = cfg->api_version,
		.phone_number_id = cfg->phone_number_id,
		.token = cfg->token,
		.window = c->connections,
		.connections = c->connections,
		.timeout_ms = c->timeout_ms,
		.connect_timeout_ms = c->connect_timeout_ms,
		.http = c->http,
		.done = on_done,
	};
	if ((rc = waclient_open(&s->wc, s->l, &wcfg)))
		goto fail;
	if ((rc = sched_open(&s->sched, SCHED_POLICY_FIFO, c->window)))
		goto fail;
	uint64_t now = loop_now(s->l);
	uint32_t burst = c->burst ? c->burst : (c->rate / 20 ? c->rate / 20 : 1);
	limiter_init(&s->lim, c->rate, burst, now);
	if ((rc = limiter_pair_open(&s->pair, pair_capacity(c), c->pair_interval_ns)))
		goto fail;
	limiter_rng_seed(&s->rng, c->seed ? c->seed : 0x62616e6469746f72ull);
	rc = BND_E_NOMEM;
	s->ring_cap = c->window;
	s->ring = bnd_calloc(s->ring_cap, sizeof *s->ring);
	s->ctx = bnd_calloc(c->connections, sizeof *s->ctx);
	if (!s->ring || !s->ctx)
		goto fail;
	for (uint32_t i = 0; i < c->connections; i++) {
		s->ctx[i].s = s;
		s->ctx[i].next_free = s->ctx_free;
		s->ctx_free = &s->ctx[i];
	}
	pthread_mutex_init(&s->cm.mu, NULL);
	pthread_cond_init(&s->cm.cv, NULL);

	s->cm.task.fn = on_commit_done;
	if ((rc = -pthread_create(&s->cm.th, NULL, committer_main, s)))
		goto fail;
	s->cm.started = 1;
	loop_timer_start(s->l, &s->progress_t, now + c->progress_ns, on_progress, s);
	*out = s;
	return 0;
fail:
	sender_close(&s);
	return rc;
}

void sender_close(struct sender **p)
{
	if (!p || !*p)
		return;
	struct sender *s = *p;
	*p = NULL;
	/* No callbacks: in-flight ordinals stay dispatched (uncertain). */
	waclient_close(&s->wc);
	if (s->l) {
		for (int i = 0; i < SCHED_MAX_NOTICES; i++)
			if (s->notices[i].used) {
				s->notices[i].pending = 0;
				s->notices[i].ended = 1;
				finish_notice(s, &s->notices[i], loop_now(s->l));
			}
	}
	if (s->cm.started) {
		pthread_mutex_lock(&s->cm.mu);
		s->cm.quit = 1;
		pthread_cond_signal(&s->cm.cv);
		pthread_mutex_unlock(&s->cm.mu);
		pthread_join(s->cm.th, NULL);
		pthread_mutex_destroy(&s->cm.mu);
		pthread_cond_destroy(&s->cm.cv);
	}
	struct stext *lists[2] = { s->texts_head, s->texts_later };
	for (int k = 0; k < 2; k++)
		while (lists[k]) {
			struct stext *t = lists[k];
			lists[k] = t->next;
			bnd_free(t);
		}
	for (uint32_t i = 0; s->ctx && i < s->cfg.connections; i++)
		if (s->ctx[i].kind == REQ_TEXT && s->ctx[i].text)
			bnd_free(s->ctx[i].text);
	limiter_pair_close(&s->pair);
	sched_close(&s->sched);
	loop_close(&s->l);   /* drops tasks posted and not run */
	bnd_free(s->ring);
	bnd_free(s->ctx);
	bnd_free(s->data_dir);
	bnd_free(s->notice_template);
	bnd_free(s->notice_lang);
	pthread_mutex_destroy(&s->reg_mu);
	bnd_free(s);
}

int sender_run(struct sender *s)
{
	if (!s)
		return BND_E_INVAL;
	kick(s);
	int rc = loop_run(s->l);
	return rc;
}

struct loop *sender_loop(struct sender *s) { return s->l; }
const char *sender_http_name(struct sender *s)
{
	return waclient_http_name(waclient_http_used(s->wc));
}
size_t sender_active(struct sender *s) { return s->active; }

void sender_stats_get(struct sender *s, struct sender_stats *out)
{
	*out = s->st;
	out->in_flight = waclient_inflight(s->wc);
	out->window_used = sched_in_flight(s->sched);
	out->rate_milli = limiter_rate_milli(&s->lim, loop_now(s->l));
	struct loop_stats ls;
	loop_stats_get(s->l, &ls);
	out->first_wire_ns = ls.first_wait_ns;
	struct waclient_stats ws;
	waclient_stats_get(s->wc, &ws);
	if (ws.first_sent_ns)
		out->first_wire_ns = ws.first_sent_ns;  /* native: curl never waited */
}

int sender_report(struct sender *s, const char *id, struct journal_report *rep)
{
	struct snotice *n = find_notice(s, id);
	if (!n)
		return BND_E_NOTFOUND;
	journal_report(n->j, wall(s, loop_now(s->l)) / NS_MS, rep);
	return 0;
}
