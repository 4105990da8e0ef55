/*
 * replies.c - two FIFO queues of owed replies (urgent ahead of welcomes),
 * a durability gate per item (the store ticket), a bound on replies in
 * flight, and the set of numbers with a welcome pending.
 *
 * Queues are growable ring buffers of 32-byte items: a backlog of a
 * million welcomes costs 32 MiB plus the pending set (16-32 bytes per
 * number), and both shrink back only when the process restarts (the
 * buffers keep their size; the pending set keeps its table).
 *
 * Posting happens outside the mutex: the post hook (the sender) may take
 * locks of its own and may complete on another thread at once. An item is
 * popped under the lock, counted as outstanding, then posted; a refused
 * post undoes the count. So at most max_outstanding posts are in flight,
 * even with several threads pumping.
 *
 * Invariants: a number is in `pending` exactly while a welcome item for it
 * is queued or posted and not yet answered; outstanding equals the posts
 * whose done has not run.
 */
#include "replies.h"

#include <pthread.h>
#include <string.h>

#include "bnd.h"
#include "idmap.h"

#define MOD "replies"

static const char *const kind_names[REPLY_KIND_COUNT] = {
	"welcome", "welcome_template", "already_subscribed", "opt_out_ack", "help", "auto_reply",
};

const char *reply_kind_name(enum reply_kind k)
{
	return (unsigned)k < REPLY_KIND_COUNT ? kind_names[k] : "?";
}

int reply_kind_of_tag(const uint8_t *tag, size_t len)
{
	if (!tag)
		return -1;
	for (int k = 0; k < REPLY_KIND_COUNT; k++)
		if (strlen(kind_names[k]) == len && memcmp(kind_names[k], tag, len) == 0)
			return k;
	return -1;
}

struct item {
	uint64_t number;
	uint64_t t_req_ms;
	uint64_t ticket;
	uint32_t kind;
};

struct queue {
	struct item *v;
	size_t cap, head, len;
};

struct cookie {
	struct replies *r;
	enum reply_kind kind;    /* as sent */
	uint64_t number;
	uint64_t t_req_ms;
};

struct replies {
	struct replies_config cfg;
	char *texts[REPLY_KIND_COUNT];
	size_t text_len[REPLY_KIND_COUNT];
	char *tmpl, *lang;
	pthread_mutex_t mu;
	struct queue urgent, welcomes;
	struct idmap pending;
	uint64_t durable;
	unsigned outstanding;
	int stopped;
	struct replies_stats st;
};

static char *dupstr(const char *p)
{
	size_t n = strlen(p) + 1;
	char *d = bnd_malloc(n);
	if (d)
		memcpy(d, p, n);
	return d;
}

int replies_open(struct replies **out, const struct replies_config *c)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!c || !c->post || !c->wall_ms || !c->welcome_template || !c->welcome_lang)
		return BND_E_INVAL;
	struct replies *r = bnd_calloc(1, sizeof *r);
	if (!r)
		return BND_E_NOMEM;
	r->cfg = *c;
	if (!r->cfg.max_outstanding)
		r->cfg.max_outstanding = REPLIES_OUTSTANDING_DEFAULT;
	if (!r->cfg.welcomes_max)
		r->cfg.welcomes_max = REPLIES_WELCOMES_MAX;
	if (!r->cfg.window_ms)
		r->cfg.window_ms = REPLIES_WINDOW_MS;
	int rc = BND_E_NOMEM;
	for (int k = 0; k < REPLY_KIND_COUNT; k++) {
		if (!c->texts[k])
			continue;
		if (!(r->texts[k] = dupstr(c->texts[k])))
			goto fail;
		r->text_len[k] = strlen(r->texts[k]);
	}
	r->tmpl = dupstr(c->welcome_template);
	r->lang = dupstr(c->welcome_lang);
	if (!r->tmpl || !r->lang)
		goto fail;
	r->cfg.welcome_template = r->cfg.welcome_lang = NULL;
	memset(r->cfg.texts, 0, sizeof r->cfg.texts);
	if ((rc = idmap_init(&r->pending, 0)))
		goto fail;
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return 0;
fail:
	for (int k = 0; k < REPLY_KIND_COUNT; k++)
		bnd_free(r->texts[k]);
	bnd_free(r->tmpl);
	bnd_free(r->lang);
	bnd_free(r);
	return rc;
}

void replies_close(struct replies **p)
{
	if (!p || !*p)
		return;
	struct replies *r = *p;
	*p = NULL;
	pthread_mutex_destroy(&r->mu);
	idmap_free(&r->pending);
	bnd_free(r->urgent.v);
	bnd_free(r->welcomes.v);
	for (int k = 0; k < REPLY_KIND_COUNT; k++)
		bnd_free(r->texts[k]);
	bnd_free(r->tmpl);
	bnd_free(r->lang);
	bnd_free(r);
}

static int q_push(struct queue *q, const struct item *it)
{
	if (q->len == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 64;
		struct item *nv = bnd_malloc(ncap * sizeof *nv);
		if (!nv)
			return BND_E_NOMEM;
		for (size_t i = 0; i < q->len; i++)
			nv[i] = q->v[(q->head + i) % q->cap];
		bnd_free(q->v);
		q->v = nv;
		q->cap = ncap;
		q->head = 0;
	}
	q->v[(q->head + q->len) % q->cap] = *it;
	q->len++;
	return 0;
}

static const struct item *q_front(const struct queue *q)
{
	return q->len ? &q->v[q->head] : NULL;
}

static void q_pop(struct queue *q)
{
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

int replies_add(struct replies *r, enum reply_kind kind, uint64_t number, uint64_t t_req_ms,
                uint64_t ticket)
{
	if (!r || (unsigned)kind >= REPLY_KIND_COUNT || !number)
		return BND_E_INVAL;
	int welcome = kind == REPLY_WELCOME || kind == REPLY_WELCOME_TEMPLATE;
	if (!r->texts[welcome ? REPLY_WELCOME : kind] && kind != REPLY_WELCOME_TEMPLATE)
		return BND_E_INVAL;
	struct item it = { .number = number, .t_req_ms = t_req_ms, .ticket = ticket,
	                   .kind = (uint32_t)kind };
	int rc;
	pthread_mutex_lock(&r->mu);
	if (r->stopped) {
		rc = BND_E_CLOSED;
	} else if (welcome) {
		if (idmap_get(&r->pending, number, NULL)) {
			rc = BND_E_EXISTS;
		} else if (r->welcomes.len >= r->cfg.welcomes_max) {
			r->st.dropped++;
			rc = BND_E_RANGE;
		} else if ((rc = idmap_put(&r->pending, number, 1)) == 0 &&
		           (rc = q_push(&r->welcomes, &it)) != 0) {
			idmap_del(&r->pending, number);
		}
	} else if (r->urgent.len >= REPLIES_URGENT_MAX) {
		r->st.dropped++;
		rc = BND_E_RANGE;
	} else {
		rc = q_push(&r->urgent, &it);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int replies_welcome_pending(struct replies *r, uint64_t number)
{
	pthread_mutex_lock(&r->mu);
	int p = idmap_get(&r->pending, number, NULL);
	pthread_mutex_unlock(&r->mu);
	return p;
}

static void finish(struct replies *r, struct cookie *c, const struct reply_result *res)
{
	pthread_mutex_lock(&r->mu);
	r->outstanding--;
	if (c->kind == REPLY_WELCOME || c->kind == REPLY_WELCOME_TEMPLATE)
		idmap_del(&r->pending, c->number);
	if (res->accepted)
		r->st.accepted++;
	else
		r->st.failed++;
	pthread_mutex_unlock(&r->mu);
	if (r->cfg.on_outcome)
		r->cfg.on_outcome(r->cfg.outcome_ud, c->kind, c->number, c->t_req_ms, res);
}

static void on_done(void *cookie, const struct reply_result *res)
{
	struct cookie *c = cookie;
	struct replies *r = c->r;
	finish(r, c, res);
	bnd_free(c);
	replies_pump(r);
}

/* Pop the next releasable item (urgent first). Caller holds the lock. */
static int take(struct replies *r, struct item *out)
{
	struct queue *qs[2] = { &r->urgent, &r->welcomes };
	for (int i = 0; i < 2; i++) {
		const struct item *f = q_front(qs[i]);
		if (f && f->ticket <= r->durable) {
			*out = *f;
			q_pop(qs[i]);
			return 1;
		}
	}
	return 0;
}

/* Set while this thread runs replies_pump: a post hook that completes
 * inside the post call (a test's fake) re-enters through on_done; the outer
 * loop goes on instead of recursing once per queued item. */
static _Thread_local int pumping;

void replies_pump(struct replies *r)
{
	if (!r || pumping)
		return;
	pumping = 1;
	pthread_mutex_lock(&r->mu);
	while (!r->stopped && r->outstanding < r->cfg.max_outstanding) {
		struct item it;
		if (!take(r, &it))
			break;
		r->outstanding++;
		pthread_mutex_unlock(&r->mu);

		enum reply_kind kind = (enum reply_kind)it.kind;
		if ((kind == REPLY_WELCOME || kind == REPLY_WELCOME_TEMPLATE) && r->cfg.wanted &&
		    !r->cfg.wanted(r->cfg.outcome_ud, kind, it.number)) {
			pthread_mutex_lock(&r->mu);
			r->outstanding--;
			idmap_del(&r->pending, it.number);
			r->st.unwanted++;
			continue;
		}
		if (kind == REPLY_WELCOME) {
			uint64_t now = r->cfg.wall_ms(r->cfg.clock_ud);
			/* The window runs from the citizen's message; a message
			 * time in the future (clock skew) counts as now. */
			if (now > it.t_req_ms && now - it.t_req_ms >= r->cfg.window_ms)
				kind = REPLY_WELCOME_TEMPLATE;
		}
		struct reply_msg m = { .number = it.number, .kind = kind,
		                       .tag = reply_kind_name(kind) };
		if (kind == REPLY_WELCOME_TEMPLATE) {
			m.is_template = 1;
			m.tmpl_name = r->tmpl;
			m.lang = r->lang;
		} else {
			m.text = (const uint8_t *)r->texts[kind];
			m.text_len = r->text_len[kind];
		}
		struct cookie *c = bnd_malloc(sizeof *c);
		int rc = BND_E_NOMEM;
		if (c) {
			*c = (struct cookie){ .r = r, .kind = kind, .number = it.number,
			                      .t_req_ms = it.t_req_ms };
			rc = r->cfg.post(r->cfg.post_ud, &m, on_done, c);
		}
		if (rc == 0) {
			if (r->cfg.posted)
				metrics_counter_inc(r->cfg.posted[kind]);
			pthread_mutex_lock(&r->mu);
			r->st.posted[kind]++;
			continue;
		}
		bnd_log(BND_LOG_DEBUG, MOD, "a %s reply was not posted: %s", reply_kind_name(kind),
		        bnd_strerror(rc));
		struct reply_result res = { .accepted = 0, .code = rc };
		if (c) {
			finish(r, c, &res);
			bnd_free(c);
		} else {
			struct cookie tmp = { .r = r, .kind = kind, .number = it.number,
			                      .t_req_ms = it.t_req_ms };
			finish(r, &tmp, &res);
		}
		pthread_mutex_lock(&r->mu);
		r->st.dropped++;
	}
	pthread_mutex_unlock(&r->mu);
	pumping = 0;
}

void replies_release(struct replies *r, uint64_t durable)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	if (durable > r->durable)
		r->durable = durable;
	pthread_mutex_unlock(&r->mu);
	replies_pump(r);
}

void replies_stop(struct replies *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopped = 1;
	pthread_mutex_unlock(&r->mu);
}

void replies_stats_get(struct replies *r, struct replies_stats *st)
{
	pthread_mutex_lock(&r->mu);
	*st = r->st;
	st->queued_welcomes = r->welcomes.len;
	st->queued_urgent = r->urgent.len;
	st->outstanding = r->outstanding;
	st->pending_welcomes = idmap_len(&r->pending);
	pthread_mutex_unlock(&r->mu);
}
