/*
 * fanout.c - the common half of `banditore send` and `banditore resume`:
 * flags through engine/config.h, one notice through engine/sender.h, the
 * progress bar, signals, the report and the exit codes (fanout.h).
 *
 * Signals: SIGINT and SIGTERM call sender_shutdown (async-signal-safe: an
 * atomic flag and one loop_post); the sender stops dispatching, waits for
 * what is in flight (bounded), pauses the notice and returns; the report
 * says "paused" and the exit code is 7. A second signal is the same call
 * (idempotent): kill -9 is the way to not wait, and resume copes with it.
 */
#include "fanout.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define NS_MS 1000000ull

const char fanout_flags_help[] =
	"sending flags (also settable in --config FILE; see docs/CONFIG.md):\n"
	"  --api-base URL            Cloud API base (default http://127.0.0.1:8089)\n"
	"  --api-version V           Graph API version (v25.0)\n"
	"  --phone-number-id ID      the business number's id\n"
	"  --rate N                  messages/s (80; 0 = unlimited, for benchmarks)\n"
	"  --burst N                 messages back to back (0 = rate/20)\n"
	"  --window N                requests dispatched and not answered at most (64);\n"
	"                            also the bound on duplicates after a crash\n"
	"  --connections N           HTTP connections (requests in curl) at most (64)\n"
	"  --request-timeout D       a request unanswered by then is uncertain (20s)\n"
	"  --retry-base D, --retry-cap D   backoff of transient errors (1s, 60s)\n"
	"  --pair-interval D         spacing of two messages to one number (6s)\n"
	"  --uncertain-grace D       wait before re-sending an uncertain request (0)\n"
	"  --loop io_uring|epoll|auto   event loop backend (auto)\n"
	"  --http native|curl|auto      HTTP client (auto: native, curl when a proxy is set)\n"
	"  --progress-interval D     progress refresh (1s; plain lines every 5s)\n"
	"the token comes from BANDITORE_WA_TOKEN (never from argv).\n"
	"exit codes: 0 done, 1 local failure, 2 usage, 3 locked, 4 stopped by an API\n"
	"error, 5 expired, 6 cancelled, 7 interrupted (resumable).\n";

uint64_t fanout_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int fanout_init(struct fanout_opts *o)
{
	memset(o, 0, sizeof *o);
	o->start_ns = cli_start_ns ? cli_start_ns : fanout_mono_ns();
	if (config_defaults(&o->cfg)) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	return 0;
}

void fanout_free(struct fanout_opts *o)
{
	config_free(&o->cfg);
}

int fanout_flag(struct fanout_opts *o, int argc, char **argv, int *i, const char *usage_cmd)
{
	const char *a = argv[*i];
	if (strncmp(a, "--", 2) != 0)
		return 0;
	const char *name = a + 2;
	char err[CONFIG_ERR_MAX];
	if (strcmp(name, "uncertain-grace") == 0 || strcmp(name, "progress-interval") == 0) {
		if (*i + 1 >= argc)
			return cli_usage_error(usage_cmd, "%s needs a value", a);
		const char *v = argv[++*i];
		uint64_t ns;
		if (config_parse_duration(v, strlen(v), &ns))
			return cli_usage_error(usage_cmd, "%s: not a duration: '%s' (e.g. 500ms, 30s)",
			                       a, v);
		if (name[0] == 'u')
			o->uncertain_grace_ns = ns;
		else
			o->progress_ns = ns ? ns : NS_MS;
		return 1;
	}
	const struct config_key *k = config_key_find(name);
	if (!k || !strstr(k->used_by, "send"))
		return 0;
	if (*i + 1 >= argc)
		return cli_usage_error(usage_cmd, "%s needs a value", a);
	const char *v = argv[++*i];
	if (strcmp(name, "rate") == 0 && strcmp(v, "0") == 0) {
		o->rate_unlimited = 1;   /* api.rate has no 0; the sender has */
		return 1;
	}
	if (strcmp(name, "rate") == 0)
		o->rate_unlimited = 0;
	if (config_set(&o->cfg, name, v, err, sizeof err))
		return cli_usage_error(usage_cmd, "%s", err);
	return 1;
}

int fanout_finish_config(struct fanout_opts *o, const struct cli_global *g,
                         const char *usage_cmd)
{
	char err[CONFIG_ERR_MAX];
	if (g->config_path && config_load_file(&o->cfg, g->config_path, err, sizeof err))
		return cli_usage_error(usage_cmd, "%s", err);
	if (config_load_env(&o->cfg)) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	if (config_check(&o->cfg, err, sizeof err))
		return cli_usage_error(usage_cmd, "%s", err);
	if (!o->cfg.wa_token) {
		cli_error("BANDITORE_WA_TOKEN is not set: the Cloud API access token comes from "
		          "the environment");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int fanout_exit_for(enum notice_state st)
{
	switch (st) {
	case NOTICE_DONE: return CLI_EXIT_OK;
	case NOTICE_STOPPED: return FANOUT_EXIT_STOPPED;
	case NOTICE_EXPIRED: return FANOUT_EXIT_EXPIRED;
	case NOTICE_CANCELLED: return FANOUT_EXIT_CANCELLED;
	case NOTICE_PAUSED: return FANOUT_EXIT_INTERRUPTED;
	default: return CLI_EXIT_FAIL;
	}
}

static const char *code_name(int32_t code)
{
	const struct waerr_rule *r = waerr_lookup(code);
	return r && r->why ? r->why : "";
}

int fanout_print_report(const struct cli_global *g, const struct journal_report *r,
                        double first_request_ms)
{
	int ex = fanout_exit_for(r->state);
	if (g->json) {
		json_t *o = journal_report_json(r);
		if (o && first_request_ms >= 0)
			json_object_set_new(o, "first_request_ms", json_real(first_request_ms));
		if (o)
			json_object_set_new(o, "exit_code", json_integer(ex));
		int rc = cli_json_print(o);
		return rc ? rc : ex;
	}
	FILE *f = stdout;
	fprintf(f, "notice %s: %s", r->notice_id, notice_state_name(r->state));
	if (r->state == NOTICE_STOPPED || r->reason_code)
		fprintf(f, " (%s, code %d%s%s)", notice_reason_name(r->reason), (int)r->reason_code,
		        r->reason_code > 0 ? ": " : "", r->reason_code > 0 ? code_name(r->reason_code)
		                                                         : "");
	fputc('\n', f);
	fprintf(f, "  recipients %u, accepted %llu, failed %llu, skipped %llu (opted out %llu, "
	           "invalid %llu), remaining %llu\n",
	        r->recipients, (unsigned long long)r->accepted, (unsigned long long)r->failed,
	        (unsigned long long)(r->skipped_unsubscribed + r->skipped_invalid),
	        (unsigned long long)r->skipped_unsubscribed, (unsigned long long)r->skipped_invalid,
	        (unsigned long long)r->remaining);
	if (r->failed_codes || r->failed_other) {
		fprintf(f, "  failed by code:");
		for (size_t i = 0; i < r->failed_codes; i++)
			fprintf(f, "%s %d: %llu", i ? "," : "", (int)r->failed_by_code[i].code,
			        (unsigned long long)r->failed_by_code[i].count);
		if (r->failed_other)
			fprintf(f, "%s other: %llu", r->failed_codes ? "," : "",
			        (unsigned long long)r->failed_other);
		fputc('\n', f);
	}
	fprintf(f, "  retried %llu, expired %llu, uncertain %llu (reconciled %llu)\n",
	        (unsigned long long)r->retried, (unsigned long long)r->expired,
	        (unsigned long long)r->uncertain, (unsigned long long)r->reconciled);
	fprintf(f, "  elapsed %.1f s, %.1f accepted/s\n", (double)r->elapsed_ms / 1000.0,
	        r->rate_per_s);
	if (r->state == NOTICE_PAUSED || r->state == NOTICE_STOPPED)
		fprintf(f, "  resume with: banditore --data %s resume %s\n", g->data_dir,
		        r->notice_id);
	fflush(f);
	return ex;
}

/* ------------------------------------------------------------------ run */

struct run_ctx {
	const char *id;
	const struct fanout_opts *o;
	struct progress prog;
	int finished;
	struct journal_report rep;
	int32_t code;
	enum notice_state st;
	enum notice_reason why;
};

static struct sender *volatile g_sender;

static void on_signal(int sig)
{
	(void)sig;
	struct sender *s = g_sender;
	if (s)
		sender_shutdown(s);
}

static void on_notice(void *ud, const char *id, enum notice_state st, enum notice_reason why,
                      int32_t code, const struct journal_report *rep)
{
	struct run_ctx *x = ud;
	x->why = why;
	if (x->o->outcome)
		x->o->outcome->end_ns = fanout_mono_ns();
	if (x->prog.tty && !x->o->no_progress) {   /* the bar's last state: the final counts */
		struct progress_view v = {
			.notice_id = id, .recipients = rep->recipients, .accepted = rep->accepted,
			.failed = rep->failed, .expired = rep->expired, .remaining = rep->remaining,
			.skipped = rep->skipped_unsubscribed + rep->skipped_invalid,
		};
		progress_update(&x->prog, &v, fanout_mono_ns());
	}
	progress_end(&x->prog);
	x->finished = 1;
	x->rep = *rep;
	x->st = st;
	x->code = code;
}

static void on_progress(void *ud, struct sender *s, uint64_t now)
{
	struct run_ctx *x = ud;
	struct journal_report r;
	if (sender_report(s, x->id, &r))
		return;
	if (x->o->tap)
		x->o->tap(x->o->tap_ud, s, &r, now);
	if (x->o->no_progress)
		return;
	struct sender_stats st;
	sender_stats_get(s, &st);
	struct progress_view v = {
		.notice_id = x->id,
		.recipients = r.recipients,
		.accepted = r.accepted,
		.failed = r.failed,
		.skipped = r.skipped_unsubscribed + r.skipped_invalid,
		.expired = r.expired,
		.remaining = r.remaining,
		.in_flight = st.in_flight,
		.rate_limit_milli = st.rate_milli,
	};
	progress_update(&x->prog, &v, now);
}

int fanout_run(const struct cli_global *g, struct fanout_opts *o, struct store *st,
               const char *id)
{
	const struct config *c = &o->cfg;
	struct run_ctx x = { .id = id, .o = o };
	progress_init(&x.prog, stderr, !o->no_progress && isatty(STDERR_FILENO));
	enum loop_backend be = c->loop == CONFIG_LOOP_URING   ? LOOP_BACKEND_URING
	                       : c->loop == CONFIG_LOOP_EPOLL ? LOOP_BACKEND_EPOLL
	                                                      : LOOP_BACKEND_AUTO;
	uint64_t mono = fanout_mono_ns();
	struct sender_config sc = {
		.data_dir = g->data_dir,
		.store = st,
		.backend = be,
		.http = (enum waclient_http)c->http,
		.api_base = c->api_base,
		.api_version = c->api_version,
		.phone_number_id = c->phone_number_id,
		.token = c->wa_token,
		.rate = o->rate_unlimited ? 0 : (uint32_t)c->rate,
		.burst = (uint32_t)c->burst,
		.window = (uint32_t)c->window,
		.connections = (uint32_t)c->connections,
		.timeout_ms = (uint32_t)(c->request_timeout_ns / NS_MS),
		.connect_timeout_ms = (uint32_t)(c->connect_timeout_ns / NS_MS),
		.retry_base_ns = c->retry_base_ns,
		.retry_cap_ns = c->retry_cap_ns,
		.max_tries = o->max_tries,
		.pair_interval_ns = c->pair_interval_ns,
		.uncertain_grace_ns = o->uncertain_grace_ns,
		.commit_interval_ns = c->commit_interval_ns,
		.wall_offset_ns = (int64_t)(wall_ns() - mono),
		.seed = mono,
		.flags = SENDER_EXIT_WHEN_IDLE,
		.notice_template = c->notice_template,
		.notice_lang = c->notice_lang,
		.on_notice = on_notice,
		.on_progress = on_progress,
		.progress_ns = o->progress_ns,
		.ud = &x,
	};
	struct sender *s = NULL;
	int rc = sender_open(&s, &sc);
	if (rc) {
		if (rc == BND_E_LOOP_NOURING)
			cli_error("io_uring is refused by this kernel (seccomp?): use --loop epoll "
			          "or --loop auto");
		else
			cli_error("cannot start the sender: %s", bnd_strerror(rc));
		return rc == BND_E_WA_CONFIG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	rc = sender_add(s, id);
	if (rc) {
		sender_close(&s);
		if (rc == BND_E_LOCKED) {
			cli_error("notice %s is being sent by another process", id);
			return CLI_EXIT_LOCKED;
		}
		if (rc == BND_E_CLOSED) {
			/* Terminal already: nothing to send; report what it was. */
			struct journal *j = NULL;
			struct journal_opts jo = { .flags = JOURNAL_RDONLY };
			if (journal_open_notice(&j, g->data_dir, id, NULL, &jo, NULL) == 0) {
				struct journal_report r;
				journal_report(j, cli_now_ms(), &r);
				journal_close(&j);
				cli_error("notice %s is %s: nothing left to send", id,
				          notice_state_name(r.state));
				return fanout_print_report(g, &r, -1);
			}
		}
		cli_error("cannot start notice %s: %s", id, bnd_strerror(rc));
		return rc == BND_E_NOTFOUND ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	g_sender = s;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	rc = sender_run(s);
	struct sender_stats sst;
	sender_stats_get(s, &sst);
	/* The loop's clock is CLOCK_MONOTONIC too. */
	/* From main() to the first request written to its socket (the loop
	 * notes when curl first waits for an answer); the hand-over to curl
	 * when that is unknown. */
	uint64_t first = sst.first_wire_ns ? sst.first_wire_ns : sst.first_send_ns;
	double first_ms = first && first >= o->start_ns ? (double)(first - o->start_ns) / 1e6
	                                                : -1.0;
	if (o->outcome) {
		o->outcome->stats = sst;
		o->outcome->finished = x.finished;
		if (x.finished)
			o->outcome->rep = x.rep;
	}
	sender_close(&s);   /* closes the journal of an interrupted run */
	g_sender = NULL;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	progress_end(&x.prog);
	if (rc)
		cli_error("event loop failed: %s", bnd_strerror(rc));
	if (!x.finished) {
		cli_error("notice %s: the sender ended without a report", id);
		return CLI_EXIT_FAIL;
	}
	if (sst.invalidated)
		fprintf(stderr, "banditore: %llu subscriber(s) marked invalid (WhatsApp error 131026)\n",
		        (unsigned long long)sst.invalidated);
	if (x.st == NOTICE_STOPPED && x.why == NOTICE_REASON_LOCAL) {
		cli_error("notice %s stopped by a local error: %s", id, bnd_strerror(x.code));
		if (!o->quiet)
			fanout_print_report(g, &x.rep, first_ms);
		return CLI_EXIT_FAIL;
	}
	if (x.st == NOTICE_STOPPED)
		cli_error("notice %s stopped by the API: code %d (%s); fix the cause, then resume",
		          id, (int)x.code, code_name(x.code));
	if (o->quiet)
		return fanout_exit_for(x.st);
	return fanout_print_report(g, &x.rep, first_ms);
}
