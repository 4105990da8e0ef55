/*
 * webhook.c - the status-webhook sender (see webhook.h).
 *
 * Life of a status:
 *   1. webhook_submit (request thread) copies the accepted message into
 *      `incoming` under a mutex. Nothing else happens on the request path.
 *   2. The sender thread swaps `incoming` out, draws each message's plan
 *      from (seed, seq) -- failed, or sent then maybe delivered then maybe
 *      read, with their delays, and maybe duplicates -- and pushes one event
 *      per status into a min-heap keyed by due time.
 *   3. Due events move to `ready`, in due order. A POST is built when
 *      `ready` holds a full batch or its oldest event has lingered
 *      linger_ns; the batch takes events of one phone-number-id (each
 *      number has its own metadata block). The body is written once,
 *      signed once, and those exact bytes are what every retry sends.
 *   4. Up to `concurrency` POSTs run at once on one curl multi handle.
 *      A 200 completes a POST; anything else (another status, a timeout, a
 *      refused connection) schedules a retry after retry_base * 2^(n-1),
 *      capped, until `retries` retries have failed; then its statuses are
 *      dropped and counted.
 *
 * The thread waits in curl_multi_poll with a timeout of at most 20 ms, so
 * newly submitted messages are picked up within that time without the
 * request path having to wake it. Statuses carry Meta's ASCII-only escaping
 * (jw.h, JW_META) so that receivers hashing anything but the raw bytes fail.
 */
#include "webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bnd.h"
#include "dheap.h"
#include "faults.h"
#include "gerror.h"
#include "jw.h"
#include "phone.h"

#define POLL_MAX_MS 20
#define WH_PNID_MAX 64

enum { ST_SENT, ST_DELIVERED, ST_READ, ST_FAILED };
static const char *const status_name[] = {"sent", "delivered", "read", "failed"};

/* An accepted message, shared by its pending events (refs counts them). */
struct wmsg {
	int refs;
	int fail_code;
	const char *category;
	char wamid[WAMID_BUF];
	char to[PHONE_STR_MAX];
	char pnid[WH_PNID_MAX + 1];
	size_t tag_len;
	uint8_t *tag;               /* NULL when the client sent none */
	uint64_t seq, t_ns;
};

/* A status due at `due`: in the schedule a dheap item (p = the message,
 * tag = the status), then copied to `ready`. */
struct wevent {
	uint64_t due;
	struct wmsg *m;
	int status;
};

struct wpost {
	char *body;
	size_t len;
	struct curl_slist *hdrs;
	uint32_t nstatus;
	uint32_t attempts;
	uint64_t next_ns;           /* when a retry is due */
	CURL *easy;                 /* while in flight */
};

/* A growable array of pointers or events. */
struct vec {
	void *v;
	size_t n, cap;
};

struct webhook {
	struct webhook_conf c;
	char *url, *waba, *display, *verify;
	uint8_t *secret;
	struct stats *st;

	pthread_mutex_t mu;
	struct vec incoming;        /* struct wmsg * */
	pthread_t thread;
	atomic_int stop;
	CURLM *multi;

	/* sender-thread state */
	struct dheap heap;          /* scheduled statuses: p = struct wmsg *, tag = status */
	struct vec ready;           /* struct wevent, due order */
	struct vec retry;           /* struct wpost *, waiting for next_ns */
	struct vec flight;          /* struct wpost *, in the multi handle */
	uint32_t inflight;          /* == flight.n */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int vec_push(struct vec *a, const void *item, size_t size)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		void *nv = bnd_realloc(a->v, ncap * size);
		if (!nv)
			return BND_E_NOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	memcpy((char *)a->v + a->n * size, item, size);
	a->n++;
	return 0;
}

static void msg_unref(struct wmsg *m)
{
	if (--m->refs == 0) {
		bnd_free(m->tag);
		bnd_free(m);
	}
}

/* ---- submission (request threads) ---- */

int webhook_submit(struct webhook *wh, const struct webhook_msg *m)
{
	if (atomic_load_explicit(&wh->st->wh_pending, memory_order_relaxed) >= wh->c.max_pending) {
		atomic_fetch_add_explicit(&wh->st->wh_dropped, 1, memory_order_relaxed);
		return BND_E_WAMOCK_FULL;
	}
	struct wmsg *w = bnd_calloc(1, sizeof *w);
	if (!w)
		goto nomem;
	if (m->tag) {
		w->tag = bnd_malloc(m->tag_len ? m->tag_len : 1);
		if (!w->tag)
			goto nomem;
		memcpy(w->tag, m->tag, m->tag_len);
		w->tag_len = m->tag_len;
	}
	memcpy(w->wamid, m->wamid, sizeof w->wamid);
	phone_format(m->to, w->to);
	size_t pl = m->pnid_len > WH_PNID_MAX ? WH_PNID_MAX : m->pnid_len;
	memcpy(w->pnid, m->pnid, pl);
	w->pnid[pl] = '\0';
	w->fail_code = m->fail_code;
	w->category = m->category;
	w->seq = m->seq;
	w->t_ns = m->now_ns;
	pthread_mutex_lock(&wh->mu);
	int rc = vec_push(&wh->incoming, &w, sizeof w);
	pthread_mutex_unlock(&wh->mu);
	if (rc != 0)
		goto nomem;
	return 0;
nomem:
	if (w)
		bnd_free(w->tag);
	bnd_free(w);
	atomic_fetch_add_explicit(&wh->st->wh_dropped, 1, memory_order_relaxed);
	return BND_E_NOMEM;
}

/* ---- planning (sender thread) ---- */

static uint64_t draw(const struct webhook *wh, uint64_t seq, uint64_t k, uint64_t lo, uint64_t hi)
{
	uint64_t h = faults_hash(wh->c.seed, seq, FAULTS_TAG_WEBHOOK + k);
	return hi > lo ? lo + h % (hi - lo + 1) : lo;
}

static double chance(const struct webhook *wh, uint64_t seq, uint64_t k)
{
	return faults_unit(faults_hash(wh->c.seed, seq, FAULTS_TAG_WEBHOOK + k));
}

static void add_event(struct webhook *wh, struct wmsg *m, int status, uint64_t due, uint64_t k)
{
	int copies = 1 + (chance(wh, m->seq, 100 + k) < wh->c.p_dup);
	for (int i = 0; i < copies; i++) {
		m->refs++;
		if (dheap_push(&wh->heap, due + (uint64_t)i * 1000000u, m, status) != 0) {
			m->refs--;
			atomic_fetch_add_explicit(&wh->st->wh_dropped, 1, memory_order_relaxed);
			continue;
		}
		atomic_fetch_add_explicit(&wh->st->wh_pending, 1, memory_order_relaxed);
	}
}

/* Draw the statuses of m and schedule them. */
static void plan(struct webhook *wh, struct wmsg *m)
{
	m->refs = 1;  /* held while planning */
	const struct webhook_conf *c = &wh->c;
	uint64_t t = m->t_ns + draw(wh, m->seq, 1, c->sent_min_ns, c->sent_max_ns);
	if (m->fail_code) {
		add_event(wh, m, ST_FAILED, t, 1);
	} else {
		add_event(wh, m, ST_SENT, t, 1);
		if (chance(wh, m->seq, 2) < c->p_delivered) {
			t += draw(wh, m->seq, 3, c->delivered_min_ns, c->delivered_max_ns);
			add_event(wh, m, ST_DELIVERED, t, 2);
			if (chance(wh, m->seq, 4) < c->p_read) {
				t += draw(wh, m->seq, 5, c->read_min_ns, c->read_max_ns);
				add_event(wh, m, ST_READ, t, 3);
			}
		}
	}
	msg_unref(m);
}

/* ---- bodies ---- */

/* wall_s: the Unix time at which the event fell due. */
static void put_status(struct jw *w, const struct wevent *e, uint64_t wall_s)
{
	const struct wmsg *m = e->m;
	jw_lit(w, "{\"id\":");
	jw_str(w, (const uint8_t *)m->wamid, strlen(m->wamid), JW_META);
	jw_lit(w, ",\"status\":\"");
	jw_lit(w, status_name[e->status]);
	jw_lit(w, "\",\"timestamp\":\"");
	jw_u64(w, wall_s);
	jw_lit(w, "\",\"recipient_id\":\"");
	jw_lit(w, m->to);
	jw_lit(w, "\"");
	if (m->tag) {
		jw_lit(w, ",\"biz_opaque_callback_data\":");
		jw_str(w, m->tag, m->tag_len, JW_META);
	}
	if (e->status == ST_DELIVERED) {
		int service = strcmp(m->category, "service") == 0;
		jw_lit(w, service ? ",\"pricing\":{\"billable\":false,\"pricing_model\":\"PMP\","
		                    "\"type\":\"free_customer_service\",\"category\":\"service\"}"
		                  : ",\"pricing\":{\"billable\":true,\"pricing_model\":\"PMP\","
		                    "\"type\":\"regular\",\"category\":\"");
		if (!service) {
			jw_lit(w, m->category);
			jw_lit(w, "\"}");
		}
	}
	if (e->status == ST_FAILED) {
		const struct gerror_info *g = gerror_find(m->fail_code);
		jw_lit(w, ",\"errors\":[{\"code\":");
		jw_i64(w, m->fail_code);
		jw_lit(w, ",\"title\":");
		jw_str(w, (const uint8_t *)g->title, strlen(g->title), JW_META);
		jw_lit(w, ",\"message\":");
		jw_str(w, (const uint8_t *)g->title, strlen(g->title), JW_META);
		jw_lit(w, ",\"error_data\":{\"details\":");
		jw_str(w, (const uint8_t *)g->details, strlen(g->details), JW_META);
		jw_lit(w, "},\"href\":\"https:\\/\\/developers.facebook.com\\/docs\\/whatsapp"
		          "\\/cloud-api\\/support\\/error-codes\\/\"}]");
	}
	jw_lit(w, "}");
}

static void post_free(struct wpost *p)
{
	if (!p)
		return;
	curl_slist_free_all(p->hdrs);
	bnd_free(p->body);
	bnd_free(p);
}

/*
 * Take up to batch_max ready events of the first event's phone-number-id
 * and write, sign and wrap them in a post. Returns NULL on allocation
 * failure (the events are then dropped and counted).
 */
static struct wpost *build_post(struct webhook *wh)
{
	struct wevent *r = wh->ready.v;
	const char *pnid = r[0].m->pnid;
	size_t take[1024];
	size_t nt = 0, cap = 512;
	uint32_t max = wh->c.batch_max < 1024 ? wh->c.batch_max : 1024;
	for (size_t i = 0; i < wh->ready.n && nt < max; i++) {
		if (strcmp(r[i].m->pnid, pnid) == 0) {
			take[nt++] = i;
			cap += 1200 + r[i].m->tag_len * 6;
		}
	}
	struct wpost *p = bnd_calloc(1, sizeof *p);
	char *body = bnd_malloc(cap);
	if (!p || !body) {
		bnd_free(body);
		bnd_free(p);
		p = NULL;
		goto consume;
	}
	struct jw w;
	jw_init(&w, body, cap);
	jw_lit(&w, "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":");
	jw_str(&w, (const uint8_t *)wh->waba, strlen(wh->waba), JW_META);
	jw_lit(&w, ",\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\","
	           "\"metadata\":{\"display_phone_number\":");
	jw_str(&w, (const uint8_t *)wh->display, strlen(wh->display), JW_META);
	jw_lit(&w, ",\"phone_number_id\":");
	jw_str(&w, (const uint8_t *)pnid, strlen(pnid), JW_META);
	jw_lit(&w, "},\"statuses\":[");
	/* Each status carries the time it fell due, on the wall clock. */
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t wall_ns = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
	uint64_t mono = mono_ns();
	for (size_t k = 0; k < nt; k++) {
		if (k)
			jw_lit(&w, ",");
		uint64_t late = mono > r[take[k]].due ? mono - r[take[k]].due : 0;
		put_status(&w, &r[take[k]], (wall_ns - late) / 1000000000u);
	}
	jw_lit(&w, "]},\"field\":\"messages\"}]}]}");
	p->body = body;
	p->len = jw_len(&w);
	p->nstatus = (uint32_t)nt;
	char sig[128] = "X-Hub-Signature-256: ";
	size_t sl = strlen(sig);
	if (p->len == 0 ||
	    webhook_sign(wh->secret, wh->c.secret_len, (const uint8_t *)body, p->len, sig + sl) != 0)
		goto fail;
	struct curl_slist *h = NULL, *t;
	const char *hdrs[] = {"Content-Type: application/json", sig, "Expect:"};
	for (size_t i = 0; i < 3; i++) {
		t = curl_slist_append(h, hdrs[i]);
		if (!t)
			goto fail_h;
		h = t;
	}
	p->hdrs = h;
	goto consume;
fail_h:
	curl_slist_free_all(h);
fail:
	post_free(p);
	p = NULL;
consume:
	if (!p) {
		atomic_fetch_add_explicit(&wh->st->wh_dropped, nt, memory_order_relaxed);
		atomic_fetch_sub_explicit(&wh->st->wh_pending, nt, memory_order_relaxed);
	}
	/* Remove the taken events from ready, keeping the order of the rest. */
	size_t o = 0, k = 0;
	for (size_t i = 0; i < wh->ready.n; i++) {
		if (k < nt && take[k] == i) {
			msg_unref(r[i].m);
			k++;
		} else {
			r[o++] = r[i];
		}
	}
	wh->ready.n = o;
	return p;
}

/* ---- curl ---- */

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * n;
}

static int start_post(struct webhook *wh, struct wpost *p)
{
	CURL *e = curl_easy_init();
	if (!e)
		return BND_E_NOMEM;
	curl_easy_setopt(e, CURLOPT_URL, wh->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "facebookexternalua");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, wh->c.timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_PRIVATE, p);
	if (vec_push(&wh->flight, &p, sizeof p) != 0) {
		curl_easy_cleanup(e);
		return BND_E_NOMEM;
	}
	if (curl_multi_add_handle(wh->multi, e) != CURLM_OK) {
		wh->flight.n--;
		curl_easy_cleanup(e);
		return BND_E_NOMEM;
	}
	p->easy = e;
	p->attempts++;
	wh->inflight++;
	atomic_fetch_add_explicit(&wh->st->wh_attempts, 1, memory_order_relaxed);
	if (p->attempts > 1)
		atomic_fetch_add_explicit(&wh->st->wh_retries, 1, memory_order_relaxed);
	return 0;
}

static void give_up(struct webhook *wh, struct wpost *p)
{
	atomic_fetch_add_explicit(&wh->st->wh_dropped, p->nstatus, memory_order_relaxed);
	atomic_fetch_sub_explicit(&wh->st->wh_pending, p->nstatus, memory_order_relaxed);
	bnd_log(BND_LOG_WARN, "webhook", "gave up a POST of %" PRIu32 " statuses after %" PRIu32
	        " attempts", p->nstatus, p->attempts);
	post_free(p);
}

static void finish(struct webhook *wh, CURL *e, CURLcode res, uint64_t now)
{
	struct wpost *p = NULL;
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&p);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(wh->multi, e);
	curl_easy_cleanup(e);
	p->easy = NULL;
	wh->inflight--;
	struct wpost **fl = wh->flight.v;
	for (size_t i = 0; i < wh->flight.n; i++) {
		if (fl[i] == p) {
			fl[i] = fl[--wh->flight.n];
			break;
		}
	}
	if (res == CURLE_OK && code == 200) {
		atomic_fetch_add_explicit(&wh->st->wh_posts, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&wh->st->wh_statuses, p->nstatus, memory_order_relaxed);
		atomic_fetch_sub_explicit(&wh->st->wh_pending, p->nstatus, memory_order_relaxed);
		post_free(p);
		return;
	}
	if (p->attempts > wh->c.retries) {
		give_up(wh, p);
		return;
	}
	uint64_t d = wh->c.retry_base_ns;
	for (uint32_t i = 1; i < p->attempts && d < wh->c.retry_max_ns; i++)
		d *= 2;
	if (d > wh->c.retry_max_ns)
		d = wh->c.retry_max_ns;
	p->next_ns = now + d;
	if (vec_push(&wh->retry, &p, sizeof p) != 0)
		give_up(wh, p);
}

/* ---- the thread ---- */

static void handshake(struct webhook *wh)
{
	CURL *e = curl_easy_init();
	if (!e)
		return;
	char *tok = curl_easy_escape(e, wh->verify, 0);
	size_t n = strlen(wh->url) + (tok ? strlen(tok) : 0) + 96;
	char *u = bnd_malloc(n);
	if (tok && u) {
		snprintf(u, n, "%s%shub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=%s",
		         wh->url, strchr(wh->url, '?') ? "&" : "?", tok);
		curl_easy_setopt(e, CURLOPT_URL, u);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, wh->c.timeout_ms);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "facebookexternalua");
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		CURLcode rc = curl_easy_perform(e);
		long code = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		bnd_log(rc == CURLE_OK && code == 200 ? BND_LOG_INFO : BND_LOG_WARN, "webhook",
		        "verification GET answered %ld (%s)", code, curl_easy_strerror(rc));
	}
	bnd_free(u);
	curl_free(tok);
	curl_easy_cleanup(e);
}

static void take_incoming(struct webhook *wh)
{
	struct vec in;
	pthread_mutex_lock(&wh->mu);
	in = wh->incoming;
	wh->incoming = (struct vec){0};
	pthread_mutex_unlock(&wh->mu);
	struct wmsg **m = in.v;
	for (size_t i = 0; i < in.n; i++)
		plan(wh, m[i]);
	bnd_free(in.v);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void *sender_main(void *arg)
{
	struct webhook *wh = arg;
	if (wh->verify)
		handshake(wh);
	while (!atomic_load(&wh->stop)) {
		take_incoming(wh);
		uint64_t now = mono_ns();
		while (dheap_len(&wh->heap) && dheap_top(&wh->heap)->due <= now) {
			struct dheap_item it = dheap_pop(&wh->heap);
			struct wevent e = {it.due, it.p, it.tag};
			if (vec_push(&wh->ready, &e, sizeof e) != 0) {
				msg_unref(e.m);
				atomic_fetch_add_explicit(&wh->st->wh_dropped, 1, memory_order_relaxed);
				atomic_fetch_sub_explicit(&wh->st->wh_pending, 1, memory_order_relaxed);
			}
		}
		/* Retries first: they are older. */
		struct wpost **rp = wh->retry.v;
		for (size_t i = 0; i < wh->retry.n && wh->inflight < wh->c.concurrency;) {
			if (rp[i]->next_ns <= now) {
				struct wpost *p = rp[i];
				rp[i] = rp[--wh->retry.n];
				if (start_post(wh, p) != 0)
					give_up(wh, p);
			} else {
				i++;
			}
		}
		while (wh->ready.n && wh->inflight < wh->c.concurrency &&
		       (wh->ready.n >= wh->c.batch_max ||
		        ((struct wevent *)wh->ready.v)[0].due + wh->c.linger_ns <= now)) {
			struct wpost *p = build_post(wh);
			if (p && start_post(wh, p) != 0)
				give_up(wh, p);
		}
		int running;
		curl_multi_perform(wh->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(wh->multi, &left))) {
			if (msg->msg == CURLMSG_DONE)
				finish(wh, msg->easy_handle, msg->data.result, mono_ns());
		}
		/* Sleep until the next thing to do, at most POLL_MAX_MS. */
		now = mono_ns();
		uint64_t next = now + POLL_MAX_MS * 1000000ull;
		if (dheap_len(&wh->heap))
			next = min_u64(next, dheap_top(&wh->heap)->due);
		if (wh->ready.n && wh->inflight < wh->c.concurrency)
			next = min_u64(next, ((struct wevent *)wh->ready.v)[0].due + wh->c.linger_ns);
		rp = wh->retry.v;
		for (size_t i = 0; i < wh->retry.n && wh->inflight < wh->c.concurrency; i++)
			next = min_u64(next, rp[i]->next_ns);
		int ms = next > now ? (int)((next - now + 999999) / 1000000) : 0;
		curl_multi_poll(wh->multi, NULL, 0, ms, NULL);
	}
	return NULL;
}

/* ---- open / close ---- */

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bnd_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Free the sender and the strings it copied from its configuration. */
static void free_copies(struct webhook *wh)
{
	bnd_free(wh->url);
	bnd_free(wh->waba);
	bnd_free(wh->display);
	bnd_free(wh->verify);
	bnd_free(wh->secret);
	bnd_free(wh);
}

int webhook_open(struct webhook **out, const struct webhook_conf *c, struct stats *st)
{
	if (!c->url || !*c->url || !c->secret || c->secret_len == 0)
		return BND_E_INVAL;
	struct webhook *wh = bnd_calloc(1, sizeof *wh);
	if (!wh)
		return BND_E_NOMEM;
	int rc = BND_E_NOMEM;
	wh->c = *c;
	if (wh->c.batch_max == 0)
		wh->c.batch_max = 1;
	if (wh->c.concurrency == 0)
		wh->c.concurrency = 1;
	wh->st = st;
	wh->url = dup_str(c->url);
	wh->waba = dup_str(c->waba_id);
	wh->display = dup_str(c->display_phone_number);
	wh->secret = bnd_malloc(c->secret_len);
	if (c->verify_token && *c->verify_token && !(wh->verify = dup_str(c->verify_token)))
		goto fail;
	if (!wh->url || !wh->waba || !wh->display || !wh->secret)
		goto fail;
	memcpy(wh->secret, c->secret, c->secret_len);
	wh->multi = curl_multi_init();
	if (!wh->multi)
		goto fail;
	pthread_mutex_init(&wh->mu, NULL);
	int e = pthread_create(&wh->thread, NULL, sender_main, wh);
	if (e != 0) {
		rc = -e;
		pthread_mutex_destroy(&wh->mu);
		goto fail;
	}
	*out = wh;
	return 0;
fail:
	if (wh->multi)
		curl_multi_cleanup(wh->multi);
	free_copies(wh);
	return rc;
}

void webhook_close(struct webhook **pp)
{
	if (!pp || !*pp)
		return;
	struct webhook *wh = *pp;
	atomic_store(&wh->stop, 1);
	curl_multi_wakeup(wh->multi);
	pthread_join(wh->thread, NULL);

	/* Everything below belongs to the (finished) thread: free it. */
	struct wpost **rp = wh->flight.v;
	for (size_t i = 0; i < wh->flight.n; i++) {
		curl_multi_remove_handle(wh->multi, rp[i]->easy);
		curl_easy_cleanup(rp[i]->easy);
		post_free(rp[i]);
	}
	rp = wh->retry.v;
	for (size_t i = 0; i < wh->retry.n; i++)
		post_free(rp[i]);
	struct wmsg **in = wh->incoming.v;
	for (size_t i = 0; i < wh->incoming.n; i++) {
		bnd_free(in[i]->tag);
		bnd_free(in[i]);
	}
	for (size_t i = 0; i < dheap_len(&wh->heap); i++)
		msg_unref(dheap_item_at(&wh->heap, i)->p);
	struct wevent *ev = wh->ready.v;
	for (size_t i = 0; i < wh->ready.n; i++)
		msg_unref(ev[i].m);
	dheap_free(&wh->heap);
	bnd_free(wh->ready.v);
	bnd_free(wh->retry.v);
	bnd_free(wh->flight.v);
	bnd_free(wh->incoming.v);
	curl_multi_cleanup(wh->multi);
	pthread_mutex_destroy(&wh->mu);
	free_copies(wh);
	*pp = NULL;
}

int webhook_sign(const uint8_t *key, size_t key_len, const uint8_t *body, size_t len,
                 char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!HMAC(EVP_sha256(), key, (int)key_len, body, len, md, &mdlen) || mdlen != 32)
		return BND_E_INVAL;
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256=", 7);
	for (unsigned i = 0; i < mdlen; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + 2 * mdlen] = '\0';
	return 0;
}
