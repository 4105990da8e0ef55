/*
 * bench_webhook.c - load generator and test servers for the webhook
 * receiver benchmark (bench/scenario_webhook.sh drives it).
 *
 *   bench_webhook load --url http://127.0.0.1:PORT/webhook [--conns 64]
 *         [--duration 5] [--warmup 1] [--kind single|statuses|get]
 *         [--statuses 100] [--threads 1] [--seed 1] [--expect 200]
 *     Sends signed POST /webhook bodies shaped like the reference's (one
 *     "JESI ON" text message, or a batch of status updates), every message
 *     or status id unique (seed + counter), over N keep-alive connections,
 *     one request in flight per connection (as wrk does). The signature is
 *     HMAC-SHA256 of each body with BENCH_SECRET (env; default
 *     "bench-secret"). Prints one JSON object: requests, rate, p50/p90/p99
 *     latency of the measured window (after the warm-up). Exit 1 when any
 *     request failed or answered other than --expect. Works against any
 *     HTTP/1.1 server answering with Content-Length (nginx, MHD).
 *
 *   bench_webhook serve --listen 127.0.0.1:0 --port-file F [--threads 2]
 *         [--mode inline|defer|block] [--sync-file F] [--conn-max N] [--turbo]
 *         [--tpc]   (one thread per connection instead of the epoll pool)
 *     A test server built on engine/httpd + engine/webhook: verify the
 *     signature, parse, walk every event; no store. The modes model how
 *     `serve` can acknowledge only after a durable group commit:
 *       inline  answer 200 in the handler (verify + parse cost only)
 *       defer   append one record per event to --sync-file, hand the request
 *               to a committer thread that fdatasyncs once per batch and
 *               answers every request of the batch (connection suspended
 *               meanwhile; server threads keep serving)
 *       block   append, then wait in the handler for a shared group commit
 *               (store_sync semantics: the server thread blocks)
 *     Runs until SIGINT/SIGTERM; then prints its counters as JSON on stderr.
 *
 *   bench_webhook freeport   prints a free loopback TCP port.
 *
 * The load loop is a small epoll HTTP/1.1 client written for this purpose
 * (like wrk): a general client (libcurl) would spend more CPU than the
 * server under test on this 2-core machine and measure itself.
 */
#define _GNU_SOURCE   /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "httpd.h"
#include "webhook.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *secret(void)
{
	const char *s = getenv("BENCH_SECRET");
	return s && *s ? s : "bench-secret";
}

static void die(const char *msg)
{
	fprintf(stderr, "bench_webhook: %s\n", msg);
	exit(2);
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */

enum kind { KIND_SINGLE, KIND_STATUSES, KIND_GET };

#define ENV_HEAD                                                                     \
	"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"220000000000002\"," \
	"\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":"          \
	"{\"display_phone_number\":\"390731000000\",\"phone_number_id\":\"110000000000001\"},"
#define ENV_TAIL "},\"field\":\"messages\"}]}]}"

/* Build body number n of the run into buf; returns its length. */
static size_t make_body(char *buf, size_t cap, enum kind k, unsigned statuses, uint64_t seed,
                        uint64_t n)
{
	size_t len = 0;
	uint64_t num = 393350000000ULL + (n % 10000000ULL);
	if (k == KIND_SINGLE) {
		len = (size_t)snprintf(buf, cap, ENV_HEAD
			"\"contacts\":[{\"profile\":{\"name\":\"Citizen %llu\"},\"wa_id\":\"%llu\"}],"
			"\"messages\":[{\"from\":\"%llu\",\"id\":\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAEhgU%016llx%016llx\","
			"\"timestamp\":\"%llu\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}}]" ENV_TAIL,
			(unsigned long long)n, (unsigned long long)num, (unsigned long long)num,
			(unsigned long long)seed, (unsigned long long)n,
			(unsigned long long)(1760263200 + n / 1000));
		return len;
	}
	static const char *st[] = { "sent", "delivered", "read" };
	len = (size_t)snprintf(buf, cap, "%s\"statuses\":[", ENV_HEAD);
	for (unsigned i = 0; i < statuses && len < cap; i++) {
		uint64_t id = n * statuses + i;
		len += (size_t)snprintf(buf + len, cap - len,
			"%s{\"id\":\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgS%016llx%016llx\",\"status\":\"%s\","
			"\"timestamp\":\"%llu\",\"recipient_id\":\"%llu\",\"biz_opaque_callback_data\":"
			"\"n=7;o=%llu\",\"pricing\":{\"billable\":true,\"pricing_model\":\"PMP\","
			"\"type\":\"regular\",\"category\":\"utility\"}}",
			i ? "," : "", (unsigned long long)seed, (unsigned long long)id, st[id % 3],
			(unsigned long long)(1760263200 + n / 1000),
			(unsigned long long)(393350000000ULL + id % 10000000ULL),
			(unsigned long long)id);
	}
	if (len < cap)
		len += (size_t)snprintf(buf + len, cap - len, "]%s", ENV_TAIL);
	if (len >= cap)
		die("body buffer too small");
	return len;
}

/* ------------------------------------------------------------------ */
/* Load generator                                                      */

struct conn {
	int fd;
	char *out;          /* request head + body */
	size_t out_len, out_off;
	char in[8192];
	size_t in_len;
	uint64_t t_sent;
};

struct loader {
	/* configuration, shared */
	struct sockaddr_in addr;
	char host[64];
	char path[256];
	enum kind kind;
	unsigned statuses;
	uint64_t seed;
	unsigned expect;
	uint64_t t_measure, t_end;
	int conns;
	/* per thread */
	int id, nthreads;
	uint64_t next_n;       /* body counter: id, id + nthreads, ... */
	uint32_t *lat_us;      /* samples of the measured window */
	size_t nlat, caplat;
	uint64_t done, errors, unexpected, reconnects, bytes_out, built;
	size_t body_max;
	char *body;
};

static int connect_to(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)a, sizeof *a) != 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void build_request(struct loader *L, struct conn *c)
{
	uint64_t n = L->next_n;
	L->next_n += (uint64_t)L->nthreads;
	if (L->kind == KIND_GET) {
		c->out_len = (size_t)snprintf(c->out, L->body_max + 512,
			"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", L->path, L->host);
		c->out_off = 0;
		return;
	}
	size_t blen = make_body(L->body, L->body_max, L->kind, L->statuses, L->seed, n);
	char sig[WEBHOOK_SIG_LEN + 1];
	const char *sec = secret();
	if (webhook_sign((const uint8_t *)sec, strlen(sec), (const uint8_t *)L->body, blen, sig))
		die("sign failed");
	int h = snprintf(c->out, 512,
		"POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: facebookexternalua\r\n"
		"Content-Type: application/json\r\nX-Hub-Signature-256: %s\r\n"
		"Content-Length: %zu\r\n\r\n", L->path, L->host, sig, blen);
	memcpy(c->out + h, L->body, blen);
	c->out_len = (size_t)h + blen;
	c->out_off = 0;
	L->bytes_out += c->out_len;
	L->built++;
}

/* Parse one complete response in c->in; returns its length, 0 if more bytes
 * are needed, -1 if it cannot be handled. *status and *close are set. */
static long parse_response(struct conn *c, unsigned *status, int *close_after)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (!end)
		return c->in_len >= sizeof c->in ? -1 : 0;
	size_t head = (size_t)(end - c->in) + 4;
	if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
		return -1;
	*status = (unsigned)atoi(c->in + 9);
	size_t clen = 0;
	int have = 0;
	*close_after = 0;
	for (char *p = c->in; p < end;) {
		char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
			clen = (size_t)strtoul(p + 15, NULL, 10);
			have = 1;
		} else if ((size_t)(eol - p) > 11 && strncasecmp(p, "Connection:", 11) == 0 &&
		           memmem(p, (size_t)(eol - p), "close", 5)) {
			*close_after = 1;
		} else if ((size_t)(eol - p) > 18 &&
		           strncasecmp(p, "Transfer-Encoding:", 18) == 0) {
			return -1;   /* not needed by the peers measured here */
		}
		p = eol + 2;
	}
	if (!have)
		clen = 0;
	if (head + clen > sizeof c->in)
		return -1;
	if (c->in_len < head + clen)
		return 0;
	return (long)(head + clen);
}

static void record(struct loader *L, uint64_t now, uint64_t sent)
{
	if (now < L->t_measure || sent < L->t_measure)
		return;
	if (L->nlat == L->caplat) {
		L->caplat = L->caplat ? 2 * L->caplat : 1 << 16;
		L->lat_us = realloc(L->lat_us, L->caplat * sizeof *L->lat_us);
		if (!L->lat_us)
			die("out of memory for samples");
	}
	uint64_t us = (now - sent) / 1000;
	L->lat_us[L->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int send_some(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	return 0;
}

static void *load_thread(void *arg)
{
	struct loader *L = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int n = L->conns;
	struct conn *cs = calloc((size_t)n, sizeof *cs);
	L->body = malloc(L->body_max);
	for (int i = 0; i < n; i++) {
		cs[i].out = malloc(L->body_max + 512);
		cs[i].fd = connect_to(&L->addr);
		if (cs[i].fd < 0)
			die("connect failed");
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = &cs[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
		build_request(L, &cs[i]);
		cs[i].t_sent = mono_ns();
		if (send_some(&cs[i]) != 0)
			die("send failed");
	}
	struct epoll_event evs[256];
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= L->t_end)
			break;
		int k = epoll_wait(ep, evs, 256, 10);
		for (int e = 0; e < k; e++) {
			struct conn *c = evs[e].data.ptr;
			if (evs[e].events & EPOLLOUT && send_some(c) != 0)
				goto broken;
			if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			for (;;) {
				ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0)
					goto broken;
				c->in_len += (size_t)r;
				unsigned status;
				int close_after;
				long used;
				while ((used = parse_response(c, &status, &close_after)) > 0) {
					uint64_t t = mono_ns();
					record(L, t, c->t_sent);
					if (t >= L->t_measure && c->t_sent >= L->t_measure) {
						L->done++;
						if (status != L->expect)
							L->unexpected++;
					}
					memmove(c->in, c->in + used, c->in_len - (size_t)used);
					c->in_len -= (size_t)used;
					if (close_after)
						goto reconnect;
					build_request(L, c);
					c->t_sent = mono_ns();
					if (send_some(c) != 0)
						goto broken;
				}
				if (used < 0)
					goto broken;
			}
			continue;
		broken:
			if (mono_ns() >= L->t_measure)
				L->errors++;
		reconnect:
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->in_len = 0;
			c->fd = connect_to(&L->addr);
			if (c->fd < 0)
				die("reconnect failed");
			L->reconnects++;
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			build_request(L, c);
			c->t_sent = mono_ns();
			send_some(c);
		}
	}
	for (int i = 0; i < n; i++) {
		close(cs[i].fd);
		free(cs[i].out);
	}
	free(cs);
	free(L->body);
	close(ep);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmd_load(int argc, char **argv)
{
	const char *url = NULL, *kind_s = "single";
	int conns = 64, threads = 1;
	double duration = 5, warmup = 1;
	unsigned statuses = 100, expect = 200;
	uint64_t seed = 1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("missing value");
		if (!strcmp(a, "--url")) url = v;
		else if (!strcmp(a, "--conns")) conns = atoi(v);
		else if (!strcmp(a, "--threads")) threads = atoi(v);
		else if (!strcmp(a, "--duration")) duration = atof(v);
		else if (!strcmp(a, "--warmup")) warmup = atof(v);
		else if (!strcmp(a, "--kind")) kind_s = v;
		else if (!strcmp(a, "--statuses")) statuses = (unsigned)atoi(v);
		else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--expect")) expect = (unsigned)atoi(v);
		else die("unknown option (see the comment at the top of bench_webhook.c)");
		i++;
	}
	if (!url || strncmp(url, "http://", 7) != 0)
		die("--url http://HOST:PORT/PATH required");
	if (conns < 1 || threads < 1 || threads > conns || duration <= 0 || statuses < 1)
		die("bad numbers");
	struct loader base = { .statuses = statuses, .seed = seed, .expect = expect };
	base.kind = !strcmp(kind_s, "statuses") ? KIND_STATUSES : !strcmp(kind_s, "get") ? KIND_GET
	                                                                                  : KIND_SINGLE;
	const char *hp = url + 7, *slash = strchr(hp, '/');
	size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
	if (hl >= sizeof base.host)
		die("host too long");
	memcpy(base.host, hp, hl);
	snprintf(base.path, sizeof base.path, "%s", slash ? slash : "/");
	char spec[80];
	snprintf(spec, sizeof spec, "%s", base.host);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (httpd_listen_parse(spec, &ss, &sl) != 0 || ss.ss_family != AF_INET)
		die("URL host must be IPv4:PORT");
	memcpy(&base.addr, &ss, sizeof base.addr);
	base.body_max = base.kind == KIND_STATUSES ? 2048 + (size_t)statuses * 400 : 4096;

	struct loader *Ls = calloc((size_t)threads, sizeof *Ls);
	pthread_t *ts = calloc((size_t)threads, sizeof *ts);
	uint64_t t0 = mono_ns();
	base.t_measure = t0 + (uint64_t)(warmup * 1e9);
	base.t_end = base.t_measure + (uint64_t)(duration * 1e9);
	for (int t = 0; t < threads; t++) {
		Ls[t] = base;
		Ls[t].id = t;
		Ls[t].nthreads = threads;
		Ls[t].next_n = (uint64_t)t;
		Ls[t].conns = conns / threads + (t < conns % threads);
		pthread_create(&ts[t], NULL, load_thread, &Ls[t]);
	}
	uint64_t done = 0, errors = 0, unexpected = 0, reconnects = 0, bytes = 0;
	size_t nlat = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(ts[t], NULL);
		done += Ls[t].done;
		errors += Ls[t].errors;
		unexpected += Ls[t].unexpected;
		reconnects += Ls[t].reconnects;
		bytes += Ls[t].bytes_out;
		nlat += Ls[t].nlat;
	}
	uint32_t *all = malloc((nlat ? nlat : 1) * sizeof *all);
	size_t k = 0;
	for (int t = 0; t < threads; t++) {
		memcpy(all + k, Ls[t].lat_us, Ls[t].nlat * sizeof *all);
		k += Ls[t].nlat;
		free(Ls[t].lat_us);
	}
	qsort(all, nlat, sizeof *all, cmp_u32);
#define PCT(p) (nlat ? all[(size_t)((double)(nlat - 1) * (p))] : 0)
	uint64_t sent_total = 0;
	for (int t = 0; t < threads; t++)
		sent_total += Ls[t].built;
	printf("{\"kind\":\"%s\",\"url\":\"%s\",\"conns\":%d,\"threads\":%d,\"duration_s\":%.3f,"
	       "\"requests\":%llu,\"rate_per_s\":%.1f,\"events_per_s\":%.1f,"
	       "\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,\"max_us\":%u,"
	       "\"errors\":%llu,\"unexpected_status\":%llu,\"reconnects\":%llu,"
	       "\"avg_request_bytes\":%.0f}\n",
	       kind_s, url, conns, threads, duration, (unsigned long long)done,
	       (double)done / duration,
	       (double)done * (base.kind == KIND_STATUSES ? statuses : 1) / duration, PCT(0.50),
	       PCT(0.90), PCT(0.99), nlat ? all[nlat - 1] : 0, (unsigned long long)errors,
	       (unsigned long long)unexpected, (unsigned long long)reconnects,
	       sent_total ? (double)bytes / (double)sent_total : 0.0);
	free(all);
	free(Ls);
	free(ts);
	/* A broken path must not report a number: every request counted must
	 * have been answered with the expected status. */
	if (done == 0 || errors > 0 || unexpected > 0) {
		fprintf(stderr, "bench_webhook: %llu done, %llu errors, %llu unexpected status\n",
		        (unsigned long long)done, (unsigned long long)errors,
		        (unsigned long long)unexpected);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Test server                                                         */

enum mode { MODE_INLINE, MODE_DEFER, MODE_BLOCK };

struct pending {
	struct httpd_req *req;
	struct pending *next;
};

static struct {
	enum mode mode;
	const uint8_t *secret;
	size_t slen;
	int sync_fd;
	/* the shared log file and group commit */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t appended, synced;   /* tickets */
	int syncing;
	/* defer: the committer's queue */
	struct pending *queue;
	int stop;
	atomic_uint_fast64_t events, ok, unauthorized, bad, fsyncs, batch_sum;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .sync_fd = -1 };

struct walk {
	uint64_t events;
	uint64_t sum;
	char rec[4096];
	size_t rec_len;
};

static int on_event(const struct webhook_event *ev, void *ud)
{
	struct walk *w = ud;
	w->events++;
	for (size_t i = 0; i < ev->id_len; i++)
		w->sum += ev->id[i];
	/* What serve would append: number + state + source id, ~40-100 bytes. */
	if (S.sync_fd >= 0 && w->rec_len + ev->id_len + 32 < sizeof w->rec) {
		uint64_t num = ev->kind == WEBHOOK_EV_MESSAGE ? ev->msg.from : ev->st.recipient;
		memcpy(w->rec + w->rec_len, &num, 8);
		memcpy(w->rec + w->rec_len + 8, ev->id, ev->id_len);
		w->rec_len += 8 + ev->id_len;
	}
	return 0;
}

/* Append under the lock; returns the ticket to wait for. */
static uint64_t append_rec(const char *p, size_t n)
{
	pthread_mutex_lock(&S.mu);
	if (n && write(S.sync_fd, p, n) != (ssize_t)n)
		die("write to sync file failed");
	uint64_t t = ++S.appended;
	pthread_mutex_unlock(&S.mu);
	return t;
}

/* store_sync semantics: the first waiter syncs for everyone appended so far;
 * later ones wait for it, then for the next. Called with S.mu held. */
static void group_commit_locked(uint64_t ticket)
{
	while (S.synced < ticket) {
		if (S.syncing) {
			pthread_cond_wait(&S.cv, &S.mu);
			continue;
		}
		S.syncing = 1;
		uint64_t upto = S.appended;
		pthread_mutex_unlock(&S.mu);
		if (fdatasync(S.sync_fd) != 0)
			die("fdatasync failed");
		atomic_fetch_add(&S.fsyncs, 1);
		pthread_mutex_lock(&S.mu);
		atomic_fetch_add(&S.batch_sum, upto - S.synced);
		S.synced = upto;
		S.syncing = 0;
		pthread_cond_broadcast(&S.cv);
	}
}

static void on_webhook(struct httpd_req *r, void *ud)
{
	size_t len;
	const uint8_t *body = httpd_req_body(r, &len);
	int rc = webhook_verify_signature(S.secret, S.slen, body, len,
	                                  httpd_req_header(r, WEBHOOK_SIG_HEADER, NULL));
	if (rc) {
		atomic_fetch_add(&S.unauthorized, 1);
		httpd_respond_text(r, 401, "bad signature\n");
		return;
	}
	struct walk w = { 0 };
	rc = webhook_parse(body, len, NULL, on_event, &w, NULL);
	if (rc) {
		atomic_fetch_add(&S.bad, 1);
		httpd_respond_text(r, rc == BND_E_NOMEM ? 503 : 400, bnd_strerror(rc));
		return;
	}
	atomic_fetch_add(&S.events, w.events);
	if (S.mode == MODE_INLINE) {
		atomic_fetch_add(&S.ok, 1);
		httpd_respond(r, 200, NULL, NULL, 0);
		return;
	}
	uint64_t ticket = append_rec(w.rec, w.rec_len);
	if (S.mode == MODE_BLOCK) {
		pthread_mutex_lock(&S.mu);
		group_commit_locked(ticket);
		pthread_mutex_unlock(&S.mu);
		atomic_fetch_add(&S.ok, 1);
		httpd_respond(r, 200, NULL, NULL, 0);
		return;
	}
	/* defer: the committer answers after the batch's fdatasync. */
	struct pending *p = malloc(sizeof *p);
	p->req = r;
	pthread_mutex_lock(&S.mu);
	p->next = S.queue;
	S.queue = p;
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.mu);
}

static void *committer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&S.mu);
	for (;;) {
		while (!S.queue && !S.stop)
			pthread_cond_wait(&S.cv, &S.mu);
		if (!S.queue && S.stop)
			break;
		struct pending *batch = S.queue;
		S.queue = NULL;
		uint64_t upto = S.appended;
		pthread_mutex_unlock(&S.mu);
		if (fdatasync(S.sync_fd) != 0)
			die("fdatasync failed");
		atomic_fetch_add(&S.fsyncs, 1);
		uint64_t n = 0;
		while (batch) {
			struct pending *p = batch;
			batch = p->next;
			atomic_fetch_add(&S.ok, 1);
			httpd_respond(p->req, 200, NULL, NULL, 0);
			free(p);
			n++;
		}
		atomic_fetch_add(&S.batch_sum, n);
		pthread_mutex_lock(&S.mu);
		S.synced = upto;
	}
	pthread_mutex_unlock(&S.mu);
	return NULL;
}

static void on_health(struct httpd_req *r, void *ud)
{
	httpd_respond_text(r, 200, "ok\n");
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static int cmd_serve(int argc, char **argv)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .threads = 2, .conn_max = 4096 };
	const char *port_file = NULL, *sync_file = NULL, *mode = "inline";
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--turbo")) {
			o.turbo = 1;
			continue;
		}
		if (!strcmp(a, "--tpc")) {
			o.thread_per_connection = 1;
			continue;
		}
		if (!v)
			die("missing value");
		if (!strcmp(a, "--listen")) o.listen = v;
		else if (!strcmp(a, "--port-file")) port_file = v;
		else if (!strcmp(a, "--threads")) o.threads = (unsigned)atoi(v);
		else if (!strcmp(a, "--conn-max")) o.conn_max = (unsigned)atoi(v);
		else if (!strcmp(a, "--mode")) mode = v;
		else if (!strcmp(a, "--sync-file")) sync_file = v;
		else die("unknown option (see the comment at the top of bench_webhook.c)");
		i++;
	}
	S.mode = !strcmp(mode, "defer") ? MODE_DEFER : !strcmp(mode, "block") ? MODE_BLOCK
	                                                                      : MODE_INLINE;
	S.secret = (const uint8_t *)secret();
	S.slen = strlen(secret());
	if (S.mode != MODE_INLINE) {
		if (!sync_file)
			die("--sync-file needed for defer and block");
		S.sync_fd = open(sync_file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (S.sync_fd < 0)
			die("cannot open the sync file");
	}
	struct httpd *h = NULL;
	int rc = httpd_open(&h, &o);
	if (rc) {
		fprintf(stderr, "bench_webhook: %s: %s\n", o.listen, bnd_strerror(rc));
		return 2;
	}
	httpd_route(h, HTTPD_POST, "/webhook", WEBHOOK_BODY_MAX, on_webhook, NULL);
	httpd_route(h, HTTPD_GET, "/healthz", 0, on_health, NULL);
	pthread_t ct;
	if (S.mode == MODE_DEFER)
		pthread_create(&ct, NULL, committer, NULL);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((rc = httpd_start(h)) != 0) {
		fprintf(stderr, "bench_webhook: %s\n", bnd_strerror(rc));
		return 2;
	}
	if (port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
		FILE *f = fopen(tmp, "w");
		if (!f)
			die("cannot write the port file");
		fprintf(f, "%u\n", httpd_port(h));
		fclose(f);
		rename(tmp, port_file);
	} else {
		printf("%u\n", httpd_port(h));
		fflush(stdout);
	}
	while (!got_signal)
		pause();
	httpd_quiesce(h);
	if (S.mode == MODE_DEFER) {
		httpd_drain(h, 5000);
		pthread_mutex_lock(&S.mu);
		S.stop = 1;
		pthread_cond_broadcast(&S.cv);
		pthread_mutex_unlock(&S.mu);
		pthread_join(ct, NULL);
	}
	struct httpd_stats st;
	httpd_stats(h, &st);
	httpd_close(&h);
	uint64_t fs = atomic_load(&S.fsyncs);
	/* CPU time per request: robust where wall-clock rates are not (this
	 * machine's cores are shared with other work). */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	fprintf(stderr, "{\"mode\":\"%s\",\"requests\":%llu,\"ok\":%llu,\"events\":%llu,"
	        "\"unauthorized\":%llu,\"bad\":%llu,\"fsyncs\":%llu,\"avg_batch\":%.1f,"
	        "\"cpu_s\":%.3f,\"cpu_us_per_request\":%.2f,"
	        "\"deferred\":%llu}\n", mode, (unsigned long long)st.requests,
	        (unsigned long long)atomic_load(&S.ok), (unsigned long long)atomic_load(&S.events),
	        (unsigned long long)atomic_load(&S.unauthorized),
	        (unsigned long long)atomic_load(&S.bad), (unsigned long long)fs,
	        fs ? (double)atomic_load(&S.batch_sum) / (double)fs : 0.0, cpu_s,
	        st.requests ? cpu_s * 1e6 / (double)st.requests : 0.0,
	        (unsigned long long)st.deferred);
	if (S.sync_fd >= 0)
		close(S.sync_fd);
	return 0;
}

static int cmd_freeport(void)
{
	struct httpd *h = NULL;
	struct httpd_opts o = { .listen = "127.0.0.1:0" };
	if (httpd_open(&h, &o) != 0)
		return 2;
	printf("%u\n", httpd_port(h));
	httpd_close(&h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "load"))
		return cmd_load(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "freeport"))
		return cmd_freeport();
	fprintf(stderr, "usage: bench_webhook load|serve|freeport ... (see bench_webhook.c)\n");
	return 2;
}
