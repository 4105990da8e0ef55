/*
 * cmd_serve.c - `banditore serve`: the long-running service (PRODUCT.md §2).
 *
 * What it wires together (each piece documented in its own header):
 *   store       the data directory's writer (lock holder "banditore serve
 *               --listen HOST:PORT (pid N)", so send/import name it)
 *   sender      engine/sender.h on its own thread (it owns the event loop,
 *               the API client, the limiter); replies go through
 *               sender_post_text / sender_post_template, statuses of the
 *               notices it runs through sender_post_status, and it checks
 *               opt-outs at dispatch in the
 *               SAME store handle, so a JESI OFF recorded here stops a
 *               running fan-out for that number at once
 *   metrics     the registry rendered at GET /metrics
 *   httpd       libmicrohttpd; the service registers /webhook, /healthz,
 *               /metrics; the operator API (engine/opapi.h) the /v1/ routes
 *   log         tools/banditore/log.h: logfmt or JSON lines, numbers
 *               masked, the four secrets redacted
 *   service     engine/service.h: the inbound life cycle and its committer
 *
 * Threads: this (main) thread waits for signals with sigtimedwait and
 * calls service_tick once a second; the sender thread runs the loop;
 * libmicrohttpd's pool runs the handlers; the service's committer thread
 * makes group commits. SIGINT/SIGTERM are blocked in every thread (the
 * mask is set before any thread starts) and taken here only.
 *
 * Shutdown (SIGTERM/SIGINT): stop accepting connections; let the requests
 * in progress finish (bounded); stop the service (final group commit,
 * every deferred request answered, no more replies posted); stop the
 * sender (in-flight requests get a bounded time; welcomes not sent stay
 * owed: their subscribers are SUB_REQUESTED and get them after the next
 * start); close the HTTP server and the store (final sync, hint). Exit 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "notice.h"
#include "opapi.h"
#include "phone.h"
#include "sender.h"
#include "service.h"

#define NS_MS 1000000ull
#define NS_S 1000000000ull
#define DRAIN_MS 5000u
/* libmicrohttpd's per-connection memory (request line, headers, read
 * buffer): 16 KiB instead of httpd's 64 KiB default. The pool is cleared
 * for every request on a keep-alive connection, and at 64 KiB that memset
 * was ~3% of serve's CPU (perf); with 16 KiB serve spent ~1.3 us less per
 * signed webhook (23.9 -> 22.5 us, A/B on this machine), with no change for
 * 100-status batches (bodies live in httpd's own buffer). WhatsApp's
 * request headers are about 1 KiB. */
#define SERVE_CONN_MEMORY (16u << 10)
#define VERSION "0.1.0"

static void usage_serve(FILE *f)
{
	fprintf(f,
	        "usage: banditore [--data DIR] [--config FILE] serve [--listen HOST:PORT]\n"
	        "                 [--api-base URL] [--phone-number-id ID] [--keyword WORD]\n"
	        "                 [--rate N] [--port-file FILE] [OPTIONS]\n"
	        "\n"
	        "Run the service: the WhatsApp webhook receiver (/webhook), /metrics, /healthz,\n"
	        "and the sender that answers citizens (welcome, opt-out acknowledgement, help).\n"
	        "  --listen HOST:PORT       address (127.0.0.1:8088; port 0 = any free port)\n"
	        "  --port-file FILE         write the bound port there once listening\n"
	        "  --api-base URL           WhatsApp Cloud API base (http://127.0.0.1:8089)\n"
	        "  --phone-number-id ID     the business number's id; webhooks for other\n"
	        "                           numbers are ignored\n"
	        "  --keyword WORD           what citizens write: WORD ON, WORD OFF (JESI)\n"
	        "  --rate N                 messages/s for the number (80)\n"
	        "  --rescan-interval D      re-queue owed welcomes this often (5m)\n"
	        "every key of docs/CONFIG.md used by serve is also a flag (--welcome TEXT,\n"
	        "--http-threads N, --auto-reply on, ...); flags beat --config FILE.\n"
	        "environment: BANDITORE_APP_SECRET (webhook signatures, required),\n"
	        "BANDITORE_WA_TOKEN (API token, required), BANDITORE_VERIFY_TOKEN (GET\n"
	        "handshake; unset: refused), BANDITORE_ADMIN_TOKEN (operator API).\n"
	        "SIGTERM/SIGINT: stop accepting, finish and commit what is in progress, exit 0.\n");
}

/* ------------------------------------------------------------------ clocks */

static uint64_t clock_wall_ms(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / NS_MS;
}

static uint64_t clock_mono_ns(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_S + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ sender */

struct sender_thread {
	pthread_t th;
	struct sender_config sc;
	struct sender *s;   /* readers (posts from other threads) hold lock */
	pthread_rwlock_t lock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state;          /* 0 opening, 1 running, 2 stopped, -1 failed to open */
	int open_rc, run_rc;
	struct metrics_set *m;
};

static void on_notice_end(void *ud, const char *id, enum notice_state st, enum notice_reason why,
                          int32_t code, const struct journal_report *rep)
{
	(void)ud;
	bnd_log(st == NOTICE_STOPPED ? BND_LOG_ERROR : BND_LOG_INFO, "serve",
	        "notice %s %s (%s, code %d): %llu accepted, %llu failed, %llu remaining", id,
	        notice_state_name(st), notice_reason_name(why), (int)code,
	        (unsigned long long)rep->accepted, (unsigned long long)rep->failed,
	        (unsigned long long)rep->remaining);
}

static void on_sender_progress(void *ud, struct sender *s, uint64_t now)
{
	(void)now;
	struct sender_thread *t = ud;
	if (!t->m)
		return;
	struct sender_stats st;
	sender_stats_get(s, &st);
	metrics_gauge_set(t->m->limiter_rate, (int64_t)st.rate_milli);
	metrics_gauge_set(t->m->in_flight, (int64_t)st.in_flight);
}

static void *sender_main(void *arg)
{
	struct sender_thread *t = arg;
	int rc = sender_open(&t->s, &t->sc);
	pthread_mutex_lock(&t->mu);
	t->open_rc = rc;
	t->state = rc ? -1 : 1;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	if (rc)
		return NULL;
	int run_rc = sender_run(t->s);
	/* Take the handle away under the lock before closing it, so that
	 * post_reply, notice_status and the shutdown never touch a closed
	 * sender. */
	pthread_rwlock_wrlock(&t->lock);
	struct sender *s = t->s;
	t->s = NULL;
	pthread_rwlock_unlock(&t->lock);
	pthread_mutex_lock(&t->mu);
	t->run_rc = run_rc;
	t->state = 2;
	pthread_mutex_unlock(&t->mu);
	if (run_rc)
		bnd_log(BND_LOG_ERROR, "serve", "the sender's loop failed: %s", bnd_strerror(run_rc));
	sender_close(&s);
	return NULL;
}

/* Stop the sender (any thread): it drains and its thread exits. */
static void sender_stop(struct sender_thread *t)
{
	pthread_rwlock_rdlock(&t->lock);
	if (t->s)
		sender_shutdown(t->s);
	pthread_rwlock_unlock(&t->lock);
}

/* The reply path: the service's post hook on sender_post_text. */
struct post_ctx {
	reply_done_fn done;
	void *cookie;
};

static void on_text_done(void *ud, const struct sender_text_result *r)
{
	struct post_ctx *p = ud;
	struct reply_result rr = {
		.accepted = r->outcome == WA_ACCEPTED,
		.code = r->code,
		.permanent = r->outcome == WA_FAILED_RECIPIENT,
		.wamid = r->wamid,
		.wamid_len = r->wamid_len,
	};
	p->done(p->cookie, &rr);
	free(p);
}

static int post_reply(void *ud, const struct reply_msg *m, reply_done_fn done, void *cookie)
{
	struct sender_thread *t = ud;
	struct post_ctx *p = malloc(sizeof *p);
	if (!p)
		return BND_E_NOMEM;
	p->done = done;
	p->cookie = cookie;
	int rc = BND_E_CLOSED;
	pthread_rwlock_rdlock(&t->lock);
	if (t->s && m->is_template)
		rc = sender_post_template(t->s, m->number, m->tmpl_name, m->lang, NULL, 0, m->tag,
		                          on_text_done, p);
	else if (t->s)
		rc = sender_post_text(t->s, m->number, m->text, m->text_len, m->tag, on_text_done, p);
	pthread_rwlock_unlock(&t->lock);
	if (rc)
		free(p);
	return rc;
}

/* The service's notice-status hook: the sender journals the statuses of the
 * notices it runs (BND_E_NOTFOUND otherwise: the service records them). */
static int notice_status(void *ud, const char *id, uint32_t ordinal, enum journal_status st,
                         int32_t code, uint64_t t_ms)
{
	struct sender_thread *t = ud;
	pthread_rwlock_rdlock(&t->lock);
	int rc = t->s ? sender_post_status(t->s, id, ordinal, st, code, t_ms) : BND_E_NOTFOUND;
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* Notices a crash interrupted (RUNNING), a clean stop paused (PAUSED for
 * the reason SHUTDOWN: a restart must not leave an alert half sent until
 * someone notices), or created and never started (QUEUED) continue when
 * serve starts: no subscriber is skipped. A notice a person paused, or
 * one stopped by an API error, waits for the operator. The sender's
 * scheduler orders them by priority, so an emergency goes first. */
static void on_resumed(void *ud, int rc)
{
	const char *id = ud;
	if (rc)
		bnd_log(BND_LOG_ERROR, "serve", "notice %s not resumed: %s", id, bnd_strerror(rc));
	else
		bnd_log(BND_LOG_INFO, "serve", "notice %s resumed", id);
}

static void resume_notices(const char *data_dir, struct sender_thread *t,
                           char (**ids)[NOTICE_ID_SIZE])
{
	size_t n = 0;
	int rc = notice_list(data_dir, ids, &n);
	if (rc) {
		if (rc != BND_E_NOTFOUND && rc != -ENOENT)
			bnd_log(BND_LOG_WARN, "serve", "cannot list the notices: %s", bnd_strerror(rc));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct journal *j = NULL;
		struct journal_opts jo = { .flags = JOURNAL_RDONLY };
		if (journal_open_notice(&j, data_dir, (*ids)[i], NULL, &jo, NULL))
			continue;
		enum notice_state st;
		enum notice_reason why;
		journal_state(j, &st, &why, NULL);
		journal_close(&j);
		if (st != NOTICE_RUNNING && st != NOTICE_QUEUED &&
		    !(st == NOTICE_PAUSED && why == NOTICE_REASON_SHUTDOWN))
			continue;
		pthread_rwlock_rdlock(&t->lock);
		rc = t->s ? sender_post_add(t->s, (*ids)[i], on_resumed, (*ids)[i]) : BND_E_CLOSED;
		pthread_rwlock_unlock(&t->lock);
		if (rc)
			bnd_log(BND_LOG_ERROR, "serve", "notice %s not resumed: %s", (*ids)[i],
			        bnd_strerror(rc));
	}
}

/* The operator API's sender calls, under the same lock as post_reply (snd.lock): the
 * sender may be gone (its thread ended) by the time a request comes. */
static int op_post(void *ud, const char *id, int cancel, opapi_done_fn done, void *cookie)
{
	struct sender_thread *t = ud;
	pthread_rwlock_rdlock(&t->lock);
	int rc = !t->s     ? BND_E_CLOSED
	         : cancel ? sender_post_cancel(t->s, id, done, cookie)
	                  : sender_post_add(t->s, id, done, cookie);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

static int op_add(void *ud, const char *id, opapi_done_fn done, void *cookie)
{
	return op_post(ud, id, 0, done, cookie);
}

static int op_cancel(void *ud, const char *id, opapi_done_fn done, void *cookie)
{
	return op_post(ud, id, 1, done, cookie);
}

/* ------------------------------------------------------------------ flags */

struct serve_opts {
	struct config cfg;
	const char *port_file;
	uint64_t rescan_ns;
};

static int serve_flag(struct serve_opts *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	if (strncmp(a, "--", 2) != 0)
		return 0;
	const char *name = a + 2;
	if (*i + 1 >= argc)
		return cli_usage_error("banditore serve", "%s needs a value", a);
	const char *v = argv[*i + 1];
	if (strcmp(name, "port-file") == 0) {
		o->port_file = v;
		++*i;
		return 1;
	}
	if (strcmp(name, "rescan-interval") == 0) {
		if (config_parse_duration(v, strlen(v), &o->rescan_ns) || !o->rescan_ns)
			return cli_usage_error("banditore serve", "%s: not a duration: '%s'", a, v);
		++*i;
		return 1;
	}
	const struct config_key *k = config_key_find(name);
	if (!k || !strstr(k->used_by, "serve"))
		return 0;
	char err[CONFIG_ERR_MAX];
	if (config_set(&o->cfg, name, v, err, sizeof err))
		return cli_usage_error("banditore serve", "%s", err);
	++*i;
	return 1;
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

/* ------------------------------------------------------------------ main */

int cmd_serve(int argc, char **argv, const struct cli_global *g)
{
	struct serve_opts o = { 0 };
	struct store *st = NULL;
	struct metrics *reg = NULL;
	struct metrics_set ms = { 0 };   /* NULL handles count nothing */
	struct httpd *h = NULL;
	struct service *svc = NULL;
	struct opapi *api = NULL;
	struct sender_thread snd = { .state = 0 };
	char (*notice_ids)[NOTICE_ID_SIZE] = NULL;   /* the on_resumed cookies */
	int sender_started = 0, rc = CLI_EXIT_FAIL;
	char err[CONFIG_ERR_MAX];
	pthread_mutex_init(&snd.mu, NULL);
	pthread_cond_init(&snd.cv, NULL);
	pthread_rwlock_init(&snd.lock, NULL);

	if (config_defaults(&o.cfg)) {
		cli_error("out of memory");
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage_serve(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		}
		int r = serve_flag(&o, argc, argv, &i);
		if (r == 1)
			continue;
		rc = r ? r : cli_usage_error("banditore serve", "unknown argument '%s'", argv[i]);
		goto out;
	}
	if (g->config_path && config_load_file(&o.cfg, g->config_path, err, sizeof err)) {
		rc = cli_usage_error("banditore serve", "%s", err);
		goto out;
	}
	if (config_load_env(&o.cfg)) {
		cli_error("out of memory");
		goto out;
	}
	if (config_check(&o.cfg, err, sizeof err)) {
		rc = cli_usage_error("banditore serve", "%s", err);
		goto out;
	}
	const struct config *c = &o.cfg;
	/* Log lines: log.format and log.level (the global --log-level when the
	 * config leaves it at its default), secrets never written. */
	log_configure(config_source(c, "log.level") == CONFIG_SRC_DEFAULT
	                      ? g->log_level
	                      : (enum bnd_log_level)c->log_level,
	              (enum log_format)c->log_format, 2);
	log_add_secret(c->wa_token);
	log_add_secret(c->app_secret);
	log_add_secret(c->verify_token);
	log_add_secret(c->admin_token);
	bnd_log_set(log_hook, NULL);
	if (!c->app_secret) {
		cli_error("BANDITORE_APP_SECRET is not set: webhook signatures cannot be checked "
		          "(the app secret comes from the environment)");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (!c->wa_token) {
		cli_error("BANDITORE_WA_TOKEN is not set: the Cloud API access token comes from "
		          "the environment");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (!c->verify_token)
		bnd_log(BND_LOG_WARN, "serve", "BANDITORE_VERIFY_TOKEN is not set: the webhook "
		        "verification handshake (GET /webhook) will be refused");

	/* Signals: blocked in every thread from now on, taken by sigtimedwait. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The store: writer, created if missing (no config at all still works). */
	char what[160];
	snprintf(what, sizeof what, "serve --listen %s", c->listen);
	if ((rc = cli_store_open(&st, g, what, 1, 1, NULL)))
		goto out;
	rc = CLI_EXIT_FAIL;

	/* The sender, on its own thread (it owns the loop). */
	uint64_t mono = clock_mono_ns(NULL);
	snd.sc = (struct sender_config){
		.data_dir = g->data_dir,
		.store = st,
		.backend = c->loop == CONFIG_LOOP_URING   ? LOOP_BACKEND_URING
		           : c->loop == CONFIG_LOOP_EPOLL ? LOOP_BACKEND_EPOLL
		                                          : LOOP_BACKEND_AUTO,
		.http = (enum waclient_http)c->http,
		.api_base = c->api_base,
		.api_version = c->api_version,
		.phone_number_id = c->phone_number_id,
		.token = c->wa_token,
		.rate = (uint32_t)c->rate,
		.burst = (uint32_t)c->burst,
		.window = (uint32_t)c->window,
		.connections = (uint32_t)c->connections,
		.timeout_ms = (uint32_t)(c->request_timeout_ns / NS_MS),
		.connect_timeout_ms = (uint32_t)(c->connect_timeout_ns / NS_MS),
		.retry_base_ns = c->retry_base_ns,
		.retry_cap_ns = c->retry_cap_ns,
		.pair_interval_ns = c->pair_interval_ns,
		.commit_interval_ns = c->commit_interval_ns,
		.wall_offset_ns = (int64_t)(clock_wall_ms(NULL) * NS_MS - mono),
		.seed = mono,
		.flags = SENDER_SHUTDOWN_RESUMES,
		.notice_template = c->notice_template,
		.notice_lang = c->notice_lang,
		.on_notice = on_notice_end,
		.on_progress = on_sender_progress,
		.ud = &snd,
		/* Registered below, once the loop backend is known; the sender
		 * has no work before the HTTP server and the notice resume start,
		 * both after the registration. */
		.metrics = &ms,
	};
	if (pthread_create(&snd.th, NULL, sender_main, &snd) != 0) {
		cli_error("cannot start the sender thread");
		goto out;
	}
	sender_started = 1;
	pthread_mutex_lock(&snd.mu);
	while (snd.state == 0)
		pthread_cond_wait(&snd.cv, &snd.mu);
	pthread_mutex_unlock(&snd.mu);
	if (snd.state < 0) {
		if (snd.open_rc == BND_E_LOOP_NOURING)
			cli_error("io_uring is refused by this kernel (seccomp?): use --loop epoll "
			          "or --loop auto");
		else
			cli_error("cannot start the sender: %s", bnd_strerror(snd.open_rc));
		rc = snd.open_rc == BND_E_WA_CONFIG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
		goto out;
	}

	/* Metrics. */
	struct metrics_build b = {
		.version = VERSION,
		.loop = loop_backend_name(loop_backend(sender_loop(snd.s))),
	};
	int mrc;
	if ((mrc = metrics_open(&reg)) || (mrc = metrics_set_register(reg, &ms, &b))) {
		cli_error("cannot set up the metrics: %s", bnd_strerror(mrc));
		goto out;
	}
	snd.m = &ms;
	metrics_gauge_set(ms.start_time, (int64_t)(clock_wall_ms(NULL) / 1000));
	metrics_gauge_set(ms.limiter_configured, (int64_t)c->rate * 1000);
	metrics_gauge_set(ms.limiter_rate, (int64_t)c->rate * 1000);
	metrics_gauge_set(ms.window, (int64_t)c->window);

	/* The HTTP server: bound now, so a busy port is reported before anything
	 * is served. */
	struct httpd_opts ho = {
		.listen = c->listen,
		.threads = (unsigned)c->http_threads,
		.conn_max = (unsigned)c->max_connections,
		.per_ip_conn_max = (unsigned)c->max_connections_per_ip,
		.idle_timeout_s = (unsigned)(c->idle_timeout_ns / NS_S),
		.body_timeout_s = (unsigned)(c->body_timeout_ns / NS_S),
		.conn_memory = SERVE_CONN_MEMORY,
	};
	int hrc = httpd_open(&h, &ho);
	if (hrc) {
		cli_error("cannot listen on %s: %s", c->listen, bnd_strerror(hrc));
		rc = hrc == BND_E_HTTPD_LISTEN ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
		goto out;
	}
	struct service_config scfg = {
		.store = st,
		.cfg = c,
		.registry = reg,
		.metrics = &ms,
		.post = post_reply,
		.post_ud = &snd,
		/* Statuses of running notices go to the sender, which holds their
		 * journals; those of finished or paused notices are journaled by
		 * the service itself. */
		.notice_status = notice_status,
		.status_ud = &snd,
		.data_dir = g->data_dir,
		.wall_ms = clock_wall_ms,
		.mono_ns = clock_mono_ns,
		.rescan_ns = o.rescan_ns,
		/* Replies in flight: as many as the fan-out may have (api.window);
		 * the default 32 caps welcomes at ~100/s at 250 ms of API latency. */
		.max_outstanding = (unsigned)c->window,
	};
	int src = service_open(&svc, &scfg);
	if (src) {
		cli_error("cannot start the service: %s", bnd_strerror(src));
		goto out;
	}
	if ((src = service_routes(svc, h))) {
		cli_error("cannot register the routes: %s", bnd_strerror(src));
		goto out;
	}
	/* The operator API (/v1/, issue 7). */
	struct opapi_deps od = {
		.cfg = c,
		.data_dir = g->data_dir,
		.store = st,
		.sender = { .post_add = op_add, .post_cancel = op_cancel, .ctx = &snd },
		.metrics = &ms,
		.wall_ms = clock_wall_ms,
	};
	if ((src = opapi_open(&api, &od)) || (src = opapi_register(api, h))) {
		cli_error("cannot start the operator API: %s", bnd_strerror(src));
		goto out;
	}
	if ((src = httpd_start(h))) {
		cli_error("cannot start the HTTP server: %s", bnd_strerror(src));
		goto out;
	}
	if ((src = service_start(svc))) {
		cli_error("cannot start the committer: %s", bnd_strerror(src));
		goto out;
	}
	notice_cleanup(g->data_dir);   /* leftovers of an interrupted creation */
	resume_notices(g->data_dir, &snd, &notice_ids);
	unsigned port = httpd_port(h);
	if (o.port_file && (src = write_port_file(o.port_file, port))) {
		cli_error("cannot write %s: %s", o.port_file, bnd_strerror(src));
		goto out;
	}
	struct store_counts sc;
	store_count(st, &sc);
	bnd_log(BND_LOG_INFO, "serve", "listening on %s (port %u), data %s: %llu confirmed, "
	        "%llu requested; sending to %s at %llu/s with the %s loop and the %s HTTP client",
	        c->listen, port,
	        g->data_dir, (unsigned long long)sc.by_state[SUB_CONFIRMED],
	        (unsigned long long)sc.by_state[SUB_REQUESTED], c->api_base,
	        (unsigned long long)c->rate, b.loop, sender_http_name(snd.s));

	/* Wait for a signal; the periodic work once a second. */
	int sig = 0;
	for (;;) {
		struct timespec to = { .tv_sec = 1 };
		sig = sigtimedwait(&sigs, NULL, &to);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		pthread_mutex_lock(&snd.mu);
		int sender_alive = snd.state == 1;
		pthread_mutex_unlock(&snd.mu);
		if (!sender_alive)
			break;
		service_tick(svc);
		opapi_refresh_metrics(api);
	}
	bnd_log(BND_LOG_INFO, "serve", "%s: stopping",
	        sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "the sender stopped");

	httpd_quiesce(h);
	if (httpd_drain(h, DRAIN_MS))
		bnd_log(BND_LOG_WARN, "serve", "requests still in progress after %u ms: they get 503",
		        DRAIN_MS);
	int stop_rc = service_stop(svc);
	opapi_shutdown(api);
	sender_stop(&snd);
	pthread_join(snd.th, NULL);
	sender_started = 0;
	httpd_close(&h);
	struct service_stats ss;
	service_stats_get(svc, &ss);
	bnd_log(BND_LOG_INFO, "serve", "stopped: %llu webhooks (%llu ok, %llu refused, %llu failed), "
	        "%llu messages, %llu statuses, %llu duplicates, %llu changes, %llu confirmed, "
	        "%llu commits", (unsigned long long)ss.webhooks, (unsigned long long)ss.webhooks_ok,
	        (unsigned long long)ss.webhooks_refused, (unsigned long long)ss.webhooks_failed,
	        (unsigned long long)ss.messages, (unsigned long long)ss.statuses,
	        (unsigned long long)ss.duplicates, (unsigned long long)ss.changes,
	        (unsigned long long)ss.confirmed, (unsigned long long)ss.commits);
	rc = stop_rc || snd.run_rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	if (stop_rc)
		cli_error("the final commit failed: %s", bnd_strerror(stop_rc));
	if (snd.run_rc)
		cli_error("the sender's loop failed: %s", bnd_strerror(snd.run_rc));
out:
	if (h)
		httpd_quiesce(h);
	if (svc)
		service_stop(svc);
	opapi_shutdown(api);
	if (sender_started) {
		sender_stop(&snd);
		pthread_join(snd.th, NULL);
	}
	httpd_close(&h);
	opapi_close(&api);
	service_close(&svc);
	if (st) {
		int crc = store_close(&st);
		if (crc && rc == CLI_EXIT_OK) {
			cli_error("closing the store failed: %s", bnd_strerror(crc));
			rc = CLI_EXIT_FAIL;
		}
	}
	metrics_close(&reg);
	bnd_free(notice_ids);
	config_free(&o.cfg);
	pthread_mutex_destroy(&snd.mu);
	pthread_cond_destroy(&snd.cv);
	pthread_rwlock_destroy(&snd.lock);
	return rc;
}
