/*
 * simulate.c - `banditore plan --simulate`: the real sender against a
 * wa-mock with the plan's profile, measured (simulate.h).
 *
 * Why in this process rather than `banditore send` as a child: fanout_run
 * *is* what `send` runs after creating its notice (same config keys and
 * defaults, same sender_config, same sender, loop, limiter, journal with
 * its fsyncs), and running it here lets us sample the notice's counters on
 * the sender's own loop every few milliseconds against the same clock that
 * stamps the first request (t = 0 of the model). A child would leave us
 * parsing progress lines printed every 5 s, or reconstructing acceptance
 * times from wa-mock's record (the server's clock, before the simulated
 * latency). What differs from `send` is only what it must: a throwaway
 * store and notice, a throwaway token, and no report printed.
 *
 * wa-mock is a separate process (it is the API): started with fork+exec
 * on 127.0.0.1 port 0 with --port-file, PR_SET_PDEATHSIG=SIGTERM so it
 * cannot outlive us, its output in the temp directory (its last line is
 * quoted when it fails to start), stopped by PID with SIGTERM (SIGKILL
 * after 5 s). SIGINT/SIGTERM during the set-up abort it cleanly; during the
 * fan-out they pause the notice the way `send` does, and we still clean up.
 *
 * Profile mapping (plan -> engine / wa-mock):
 *   rate R          sender --rate R, wa-mock --rate R (the API's limit)
 *   latency         wa-mock --latency-ms P (fixed) or --latency-dist
 *                   lognormal:P50:P99
 *   error rate F    wa-mock --error-mix 131000:F(1-P) (HTTP 500, retried)
 *   permanent P     wa-mock --error-mix 131026:P:sync (fails at once)
 *   window W        sender --window W and --connections W (the model's W
 *                   is requests in flight; the sender's connections
 *                   default of 64 would otherwise cap it)
 *   attempts K      sender max_tries K
 *   pair interval S sender --pair-interval S, wa-mock --pair-rate 60/S
 *   tier T          wa-mock --tier T (a binding tier is refused by the
 *                   duration guard: it means days)
 */
#define _GNU_SOURCE
#include "simulate.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "cli.h"
#include "fanout.h"
#include "notice.h"
#include "sender.h"
#include "store.h"

#define NS_S 1000000000ull
#define NS_MS 1000000ull
#define SIM_SAMPLES_MIN 5000u       /* initial sample capacity */
#define SIM_TOKEN_BYTES 16

static volatile sig_atomic_t g_interrupted;

static void on_setup_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ checks */

int sim_check(const struct plan_result *r, double max_seconds, uint64_t max_recipients,
              char *err, size_t errlen)
{
	const struct plan_input *in = &r->in;
	if (in->rate < 1.0 || in->rate != floor(in->rate)) {
		seterr(err, errlen, "--simulate needs a whole --rate of at least 1 msg/s (the "
		       "sender's limiter counts whole messages per second), not %g", in->rate);
		return -1;
	}
	if (in->recipients > max_recipients) {
		seterr(err, errlen, "--simulate refuses %" PRIu64 " recipients: the limit is %"
		       PRIu64 " (a throwaway store of that many numbers is built and sent to); "
		       "raise it with --simulate-max-recipients N (at most %u)",
		       in->recipients, max_recipients, SIM_MAX_RECIPIENTS_LIMIT);
		return -1;
	}
	if (r->seconds_to_last_recipient > max_seconds) {
		seterr(err, errlen, "--simulate would run for about %.0f s (the predicted time to "
		       "the last recipient), above the limit of %.0f s; raise it with "
		       "--simulate-max-seconds S (at most %.0f) or simulate fewer --subscribers",
		       r->seconds_to_last_recipient, max_seconds, SIM_MAX_SECONDS_LIMIT);
		return -1;
	}
	return 0;
}

/* --------------------------------------------------------- wa-mock binary */

static int executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int search_path(const char *name, char *buf, size_t cap)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		return -1;
	while (*path) {
		const char *e = strchr(path, ':');
		size_t len = e ? (size_t)(e - path) : strlen(path);
		if (len > 0 && (size_t)snprintf(buf, cap, "%.*s/%s", (int)len, path, name) < cap &&
		    executable(buf))
			return 0;
		path += len + (e ? 1 : 0);
	}
	return -1;
}

int sim_find_wa_mock(const char *explicit_path, char *buf, size_t cap, char *err,
                     size_t errlen)
{
	const char *env = getenv("BANDITORE_WA_MOCK");
	const char *want = explicit_path ? explicit_path : (env && *env ? env : NULL);
	const char *from = explicit_path ? "--wa-mock" : "BANDITORE_WA_MOCK";
	if (want) {
		if (strchr(want, '/')) {
			if (!executable(want) || (size_t)snprintf(buf, cap, "%s", want) >= cap) {
				seterr(err, errlen, "%s '%s' is not an executable file", from, want);
				return -1;
			}
			return 0;
		}
		if (search_path(want, buf, cap) != 0) {
			seterr(err, errlen, "%s '%s' not found in PATH", from, want);
			return -1;
		}
		return 0;
	}
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, cap, "%s/wa-mock", self) < cap && executable(buf))
				return 0;
		}
	}
	if (search_path("wa-mock", buf, cap) == 0)
		return 0;
	seterr(err, errlen, "--simulate needs wa-mock: not found next to this banditore (%s) "
	       "nor in PATH; give --wa-mock PATH or set BANDITORE_WA_MOCK",
	       n > 0 ? self : "?");
	return -1;
}

/* ------------------------------------------------------------- run state */

struct sim {
	const struct plan_result *plan;
	const struct sim_opts *o;
	struct sim_result *res;
	char dir[4096];           /* the temp directory */
	char data[4200];          /* dir/data: the throwaway store */
	char log[4200];           /* dir/wa-mock.log */
	char token[2 * SIM_TOKEN_BYTES + 1];
	pid_t mock;
	int port;
	uint64_t deadline_ns;     /* monotonic; the watchdog stops the sender then */
	uint64_t first_ns;        /* sender's first request (0: not yet) */
	int oom;                  /* sample storage failed */
	double sum_window, sum_curl;   /* steady-state sums of the slots held */
	uint64_t nsum;
	size_t cap;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) == 0 || errno == ENOENT ? 0 : -1;
}

/* The last non-empty line of wa-mock's log (its error), without numbers. */
static void mock_last_line(const struct sim *x, char *buf, size_t cap)
{
	buf[0] = '\0';
	FILE *f = fopen(x->log, "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		size_t n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n > 0) {
			n = n < cap - 1 ? n : cap - 1;
			memcpy(buf, line, n);
			buf[n] = '\0';
		}
	}
	fclose(f);
}

static void mock_stop(struct sim *x)
{
	if (x->mock <= 0)
		return;
	kill(x->mock, SIGTERM);
	for (int i = 0; i < 500; i++) {   /* 5 s */
		pid_t w = waitpid(x->mock, NULL, WNOHANG);
		if (w == x->mock || (w < 0 && errno != EINTR)) {
			x->mock = 0;
			return;
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(x->mock, SIGKILL);
	while (waitpid(x->mock, NULL, 0) < 0 && errno == EINTR)
		;
	x->mock = 0;
}

/* Append "fmt" to args[] (a flat buffer) and argv[] (pointers into it). */
struct argbuf {
	char buf[1024];
	size_t used;
	char *argv[40];
	size_t argc;
};

static int arg_add(struct argbuf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int arg_add(struct argbuf *a, const char *fmt, ...)
{
	if (a->argc + 1 >= sizeof a->argv / sizeof a->argv[0])
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(a->buf + a->used, sizeof a->buf - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof a->buf - a->used)
		return -1;
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += (size_t)n + 1;
	return 0;
}

/* wa-mock's flags from the plan's profile (see the mapping at the top). */
static int mock_args(const struct sim *x, const char *bin, const char *port_file,
                     struct argbuf *a)
{
	const struct plan_input *in = &x->plan->in;
	int rc = 0;
	rc |= arg_add(a, "%s", bin);
	rc |= arg_add(a, "--listen");
	rc |= arg_add(a, "127.0.0.1:0");
	rc |= arg_add(a, "--port-file");
	rc |= arg_add(a, "%s", port_file);
	rc |= arg_add(a, "--phone-number-id");
	rc |= arg_add(a, SIM_PHONE_NUMBER_ID);
	rc |= arg_add(a, "--seed");
	rc |= arg_add(a, "%" PRIu64, x->o->seed);
	rc |= arg_add(a, "--rate");
	rc |= arg_add(a, "%g", in->rate);
	if (x->plan->latency_sigma > 0.0) {
		rc |= arg_add(a, "--latency-dist");
		rc |= arg_add(a, "lognormal:%g:%g", in->latency_p50_s * 1000.0,
		              in->latency_p99_s * 1000.0);
	} else {
		rc |= arg_add(a, "--latency-ms");
		rc |= arg_add(a, "%.0f", in->latency_p50_s * 1000.0);
	}
	rc |= arg_add(a, "--pair-rate");
	rc |= arg_add(a, "%g", in->pair_interval_s > 0.0 ? 60.0 / in->pair_interval_s : 0.0);
	if (in->tier) {
		rc |= arg_add(a, "--tier");
		rc |= arg_add(a, "%" PRIu32, in->tier);
	}
	double f = in->error_rate * (1.0 - in->permanent_rate);
	if (f > 0.0 && in->permanent_rate > 0.0) {
		rc |= arg_add(a, "--error-mix");
		rc |= arg_add(a, "131000:%.6f,131026:%.6f:sync", f, in->permanent_rate);
	} else if (f > 0.0) {
		rc |= arg_add(a, "--error-mix");
		rc |= arg_add(a, "131000:%.6f", f);
	} else if (in->permanent_rate > 0.0) {
		rc |= arg_add(a, "--error-mix");
		rc |= arg_add(a, "131026:%.6f:sync", in->permanent_rate);
	}
	return rc ? -1 : 0;
}

static int mock_start(struct sim *x, const char *bin, char *err, size_t errlen)
{
	char port_file[4200];
	snprintf(port_file, sizeof port_file, "%s/port", x->dir);
	struct argbuf a = { .used = 0 };
	if (mock_args(x, bin, port_file, &a) != 0) {
		seterr(err, errlen, "wa-mock's command line is too long");
		return BND_E_RANGE;
	}
	/* How it was configured, for the report (skip argv[0] and the paths). */
	size_t o = 0;
	for (size_t i = 1; i < a.argc && o < sizeof x->res->mock_args; i++) {
		if (i >= 3 && i <= 4)   /* --port-file and its path */
			continue;
		o += (size_t)snprintf(x->res->mock_args + o, sizeof x->res->mock_args - o, "%s%s",
		                      o ? " " : "", a.argv[i]);
	}

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		seterr(err, errlen, "cannot start wa-mock: fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		/* Child: no allocation-heavy work; the parent has no threads yet. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		int fd = open(x->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		signal(SIGINT, SIG_IGN);  /* we stop it; a terminal's ^C reaches us */
		setenv("WA_MOCK_TOKEN", x->token, 1);
		unsetenv("WA_MOCK_APP_SECRET");
		unsetenv("WA_MOCK_VERIFY_TOKEN");
		execv(a.argv[0], a.argv);
		dprintf(2, "exec %s: %s\n", a.argv[0], strerror(errno));
		_exit(127);
	}
	x->mock = pid;

	/* Wait for the port file (written atomically once it listens). */
	uint64_t until = fanout_mono_ns() + (uint64_t)(SIM_MOCK_START_TIMEOUT_S * 1e9);
	for (;;) {
		int status;
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			x->mock = 0;
			char last[256];
			mock_last_line(x, last, sizeof last);
			seterr(err, errlen, "wa-mock (%s) exited at start with status %d%s%s", bin,
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			       last[0] ? ": " : "", last);
			return -EIO;
		}
		FILE *f = fopen(port_file, "r");
		if (f) {
			int p = 0;
			int ok = fscanf(f, "%d", &p) == 1 && p > 0 && p < 65536;
			fclose(f);
			if (ok) {
				x->port = p;
				return 0;
			}
		}
		if (g_interrupted) {
			seterr(err, errlen, "interrupted");
			return -EIO;
		}
		if (fanout_mono_ns() > until) {
			seterr(err, errlen, "wa-mock (%s) did not listen within %.0f s", bin,
			       SIM_MOCK_START_TIMEOUT_S);
			return -EIO;
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* ------------------------------------------------------- store and notice */

/* N confirmed numbers +999 000 000 000 + i: the reserved country code 999
 * (ITU-T: "reserved for future use"), so never a real subscriber. */
static int fill_store(struct sim *x, struct store **st, char *err, size_t errlen)
{
	struct store_opts so = { .flags = STORE_CREATE, .holder = "plan --simulate" };
	int rc = store_open(st, x->data, &so, NULL);
	if (rc) {
		seterr(err, errlen, "cannot create the throwaway store: %s", bnd_strerror(rc));
		return rc;
	}
	uint64_t n = x->plan->in.recipients;
	rc = store_reserve(*st, n);
	uint64_t t0 = cli_now_ms();
	for (uint64_t i = 0; !rc && i < n; i++) {
		rc = store_append(*st, SIM_NUMBER_BASE + i, SUB_CONFIRMED, t0, NULL, 0, NULL);
		if ((i & 0xffff) == 0 && g_interrupted)
			rc = -EIO;
	}
	if (!rc)
		rc = store_sync(*st, 0);
	if (rc)
		seterr(err, errlen, "cannot fill the throwaway store: %s",
		       g_interrupted ? "interrupted" : bnd_strerror(rc));
	return rc;
}

static int make_notice(struct sim *x, struct store *st, const struct config *cfg,
                       char id[NOTICE_ID_SIZE], char *err, size_t errlen)
{
	static const char text[] = "banditore plan --simulate";
	struct notice *n = bnd_malloc(sizeof *n);
	uint64_t *numbers = NULL;
	size_t count = 0;
	int rc = n ? 0 : BND_E_NOMEM;
	uint64_t now_ms = cli_now_ms();
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)now_ms;
	if (!rc)
		rc = notice_init(n, NOTICE_CAT_INFO, now_ms, 0, rnd);
	if (!rc)
		rc = notice_set_text(n, (const uint8_t *)text, sizeof text - 1);
	if (!rc)
		rc = notice_set_template(n, cfg->notice_template, cfg->notice_lang);
	if (!rc)
		rc = store_confirmed_snapshot(st, &numbers, &count);
	if (!rc)
		rc = notice_create(x->data, n, numbers, count, 0);
	if (!rc)
		memcpy(id, n->id, NOTICE_ID_SIZE);
	else
		seterr(err, errlen, "cannot create the throwaway notice: %s", bnd_strerror(rc));
	bnd_free(numbers);
	bnd_free(n);
	return rc;
}

/* The sender's configuration: `send`'s defaults plus the profile, through
 * the same config keys as its flags. */
static int sender_opts(struct sim *x, struct fanout_opts *fo, char *err, size_t errlen)
{
	const struct plan_input *in = &x->plan->in;
	int rc = fanout_init(fo);
	if (rc) {
		seterr(err, errlen, "out of memory");
		return BND_E_NOMEM;
	}
	char base[64], rate[32], window[32], conns[32], pair[48];
	snprintf(base, sizeof base, "http://127.0.0.1:%d", x->port);
	snprintf(rate, sizeof rate, "%.0f", in->rate);
	snprintf(window, sizeof window, "%" PRIu32, in->window);
	snprintf(conns, sizeof conns, "%" PRIu32, in->window < 4096 ? in->window : 4096u);
	snprintf(pair, sizeof pair, "%.0fms", in->pair_interval_s * 1000.0);
	const char *kv[][2] = {
		{ "api-base", base }, { "phone-number-id", SIM_PHONE_NUMBER_ID },
		{ "rate", rate }, { "window", window }, { "connections", conns },
		{ "pair-interval", pair },
	};
	char cerr[CONFIG_ERR_MAX];
	for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
		if (config_set(&fo->cfg, kv[i][0], kv[i][1], cerr, sizeof cerr)) {
			seterr(err, errlen, "sender configuration: %s", cerr);
			return BND_E_INVAL;
		}
	fo->cfg.wa_token = bnd_malloc(sizeof x->token);
	if (!fo->cfg.wa_token) {
		seterr(err, errlen, "out of memory");
		return BND_E_NOMEM;
	}
	memcpy(fo->cfg.wa_token, x->token, sizeof x->token);
	if (config_check(&fo->cfg, cerr, sizeof cerr)) {
		seterr(err, errlen, "sender configuration: %s", cerr);
		return BND_E_INVAL;
	}
	fo->max_tries = in->max_attempts;
	fo->quiet = 1;
	fo->no_progress = !x->o->progress;
	return 0;
}

/* ------------------------------------------------------------- sampling */

static void add_sample(struct sim *x, uint64_t now_ns, const struct journal_report *r)
{
	struct sim_result *res = x->res;
	if (!x->first_ns || x->oom)
		return;
	if (res->nsamples == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : SIM_SAMPLES_MIN;
		struct sim_sample *p = bnd_realloc(res->samples, cap * sizeof *p);
		if (!p) {
			x->oom = 1;
			return;
		}
		res->samples = p;
		x->cap = cap;
	}
	double t = now_ns > x->first_ns ? (double)(now_ns - x->first_ns) / 1e9 : 0.0;
	struct sim_sample *s = &res->samples[res->nsamples++];
	s->t_s = t;
	s->accepted = r->accepted;
	s->dispatches = r->dispatches;
	s->settled = r->accepted + r->failed + r->skipped_unsubscribed + r->skipped_invalid +
	             r->expired;
}

static void tap(void *ud, struct sender *s, const struct journal_report *r, uint64_t now_ns)
{
	struct sim *x = ud;
	if (!x->first_ns) {
		struct sender_stats st;
		sender_stats_get(s, &st);
		if (st.first_send_ns) {
			x->first_ns = st.first_send_ns;
			/* the first sample: nothing accepted at t = 0 */
			struct journal_report z = { .accepted = 0 };
			add_sample(x, st.first_send_ns, &z);
		}
	}
	add_sample(x, now_ns, r);
	/* Little's law on the two halves of a window slot, in the steady
	 * state (10% to 90% accepted): slots held, and requests inside curl. */
	uint64_t n = x->res->recipients;
	if (r->accepted * 10 >= n && r->accepted * 10 <= 9 * n) {
		struct sender_stats st;
		sender_stats_get(s, &st);
		x->sum_window += st.window_used;
		x->sum_curl += st.in_flight;
		x->nsum++;
	}
	if (now_ns > x->deadline_ns && !x->res->timed_out) {
		x->res->timed_out = 1;
		sender_shutdown(s);
	}
}

/* ------------------------------------------------------------------ run */

int sim_run(const struct plan_result *r, const struct sim_opts *o, struct sim_result *out,
            char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->recipients = r->in.recipients;
	out->seconds_to_last_accept = -1.0;
	out->seconds_to_settled = -1.0;
	out->state = "not started";
	struct sim x = { .plan = r, .o = o, .res = out };
	struct store *st = NULL;
	struct fanout_opts fo;
	int have_fo = 0;
	int rc = 0;
	uint64_t t_setup = fanout_mono_ns();

	g_interrupted = 0;
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_setup_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	uint8_t raw[SIM_TOKEN_BYTES];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		seterr(err, errlen, "getrandom: %s", strerror(errno));
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(x.token + 2 * i, 3, "%02x", raw[i]);

	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(x.dir, sizeof x.dir, "%s/banditore-sim.XXXXXX", tmp) >= sizeof x.dir ||
	    !mkdtemp(x.dir)) {   /* mkdtemp creates it 0700 */
		seterr(err, errlen, "cannot create a temporary directory in %s: %s", tmp,
		       strerror(errno));
		x.dir[0] = '\0';
		rc = -EIO;
		goto out;
	}
	snprintf(x.data, sizeof x.data, "%s/data", x.dir);
	snprintf(x.log, sizeof x.log, "%s/wa-mock.log", x.dir);

	if ((rc = mock_start(&x, o->wa_mock, err, errlen)))
		goto out;
	if ((rc = fill_store(&x, &st, err, errlen)))
		goto out;
	if ((rc = sender_opts(&x, &fo, err, errlen))) {
		have_fo = 1;
		goto out;
	}
	have_fo = 1;
	char id[NOTICE_ID_SIZE];
	if ((rc = make_notice(&x, st, &fo.cfg, id, err, errlen)))
		goto out;
	if (g_interrupted) {
		seterr(err, errlen, "interrupted");
		rc = -EIO;
		goto out;
	}

	double predicted = r->seconds_to_last_recipient;
	double limit = o->max_seconds > 2.0 * predicted + 10.0 ? o->max_seconds
	                                                       : 2.0 * predicted + 10.0;
	double iv = predicted / 2000.0;
	iv = iv < 0.005 ? 0.005 : iv > 1.0 ? 1.0 : iv;
	out->sample_interval_s = iv;
	fo.progress_ns = (uint64_t)(iv * 1e9);
	fo.tap = tap;
	fo.tap_ud = &x;
	struct fanout_outcome oc;
	memset(&oc, 0, sizeof oc);
	fo.outcome = &oc;
	out->setup_s = (double)(fanout_mono_ns() - t_setup) / 1e9;
	fprintf(stderr, "banditore plan: simulating %" PRIu64 " recipients through wa-mock "
	        "(pid %d, 127.0.0.1:%d: %s); predicted %.1f s, stopped after %.0f s at most\n",
	        r->in.recipients, (int)x.mock, x.port, out->mock_args, predicted, limit);
	struct cli_global g = { .prog = "banditore", .data_dir = x.data };
	uint64_t t_run = fanout_mono_ns();
	x.deadline_ns = t_run + (uint64_t)(limit * 1e9);
	int ex = fanout_run(&g, &fo, st, id);
	/* fanout_run restored our handlers; a signal it took paused the notice */

	struct sender_stats *ss = &oc.stats;
	x.first_ns = x.first_ns ? x.first_ns : ss->first_send_ns;
	if (ss->first_send_ns)
		out->first_request_s = (double)(ss->first_send_ns - t_run) / 1e9;
	out->throttled = ss->throttled;
	out->pair_limited = ss->pair_limited;
	if (oc.finished) {
		out->accepted = oc.rep.accepted;
		out->failed = oc.rep.failed;
		out->retried = oc.rep.retried;
		out->state = notice_state_name(oc.rep.state);
		out->complete = oc.rep.remaining == 0 && oc.rep.state == NOTICE_DONE;
		if (oc.end_ns)
			add_sample(&x, oc.end_ns, &oc.rep);
	}
	if (x.oom) {
		seterr(err, errlen, "out of memory for the samples");
		rc = BND_E_NOMEM;
		goto out;
	}
	if (ex == FANOUT_EXIT_INTERRUPTED) {
		if (out->timed_out)
			seterr(err, errlen, "the fan-out did not finish within %.0f s (%" PRIu64
			       " of %" PRIu64 " accepted): stopped; the plan predicted %.1f s",
			       limit, out->accepted, out->recipients, predicted);
		else
			seterr(err, errlen, "interrupted (%" PRIu64 " of %" PRIu64 " accepted)",
			       out->accepted, out->recipients);
		rc = -EINTR;
		goto out;
	}
	if (!oc.finished || ex != 0) {
		seterr(err, errlen, "the sender did not finish the throwaway notice (exit %d, "
		       "state %s)", ex, out->state);
		rc = -EIO;
		goto out;
	}
	if (x.nsum) {
		out->mean_window_used = x.sum_window / (double)x.nsum;
		out->mean_in_curl = x.sum_curl / (double)x.nsum;
	}
	for (size_t i = 0; i < out->nsamples; i++) {
		const struct sim_sample *s = &out->samples[i];
		if (out->seconds_to_last_accept < 0 && out->accepted &&
		    s->accepted >= out->accepted)
			out->seconds_to_last_accept = s->t_s;
		if (out->seconds_to_settled < 0 && s->settled >= out->recipients)
			out->seconds_to_settled = s->t_s;
	}
	rc = 0;
out:
	if (have_fo)
		fanout_free(&fo);
	if (st) {
		int crc = store_close(&st);
		if (crc && !rc) {
			seterr(err, errlen, "closing the throwaway store: %s", bnd_strerror(crc));
			rc = crc;
		}
	}
	mock_stop(&x);
	if (x.dir[0] && nftw(x.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && !rc) {
		seterr(err, errlen, "cannot remove the temporary directory %s: %s", x.dir,
		       strerror(errno));
		rc = -EIO;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	explicit_bzero(x.token, sizeof x.token);
	return rc;
}

void sim_result_free(struct sim_result *res)
{
	if (!res)
		return;
	bnd_free(res->samples);
	res->samples = NULL;
	res->nsamples = 0;
}

double sim_coverage_at(const struct sim_result *res, double t_s)
{
	if (!res->nsamples || !res->recipients)
		return -1.0;
	const struct sim_sample *last = &res->samples[res->nsamples - 1];
	if (t_s > last->t_s)
		return res->complete ? (double)last->accepted / (double)res->recipients : -1.0;
	/* binary search: the last sample with t <= t_s */
	size_t lo = 0, hi = res->nsamples;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (res->samples[mid].t_s <= t_s)
			lo = mid;
		else
			hi = mid;
	}
	return (double)res->samples[lo].accepted / (double)res->recipients;
}

double sim_time_to(const struct sim_result *res, double coverage)
{
	double want = coverage * (double)res->recipients;
	for (size_t i = 0; i < res->nsamples; i++)
		if ((double)res->samples[i].accepted >= want - 1e-9)
			return res->samples[i].t_s;
	return -1.0;
}

static double throughput(double t10, double t90, uint64_t n)
{
	if (t10 < 0.0 || t90 < 0.0 || !(t90 > t10))
		return NAN;
	return 0.8 * (double)n / (t90 - t10);
}

/* The sample at time t (the last one at or before it). */
static const struct sim_sample *sample_at(const struct sim_result *res, double t)
{
	const struct sim_sample *s = NULL;
	for (size_t i = 0; i < res->nsamples && res->samples[i].t_s <= t; i++)
		s = &res->samples[i];
	return s;
}

/* Little's law on a window slot: held mean_window_used / (requests per
 * second) seconds, between 10% and 90% accepted, of which the API's latency
 * is E[L]; the rest is the sender's. */
static double overhead(const struct plan_result *r, const struct sim_result *res)
{
	double t10 = sim_time_to(res, 0.1), t90 = sim_time_to(res, 0.9);
	if (t10 < 0.0 || !(t90 > t10) || !(res->mean_window_used > 0.0))
		return NAN;
	const struct sim_sample *a = sample_at(res, t10), *b = sample_at(res, t90);
	if (!a || !b || b->dispatches <= a->dispatches)
		return NAN;
	double rps = (double)(b->dispatches - a->dispatches) / (t90 - t10);
	return res->mean_window_used / rps - r->latency_mean_s;
}

static double or_nan(double v)
{
	return v < 0.0 ? NAN : v;
}

int sim_compare(const struct plan_result *r, const struct sim_result *res, double tolerance,
                struct sim_row rows[SIM_ROWS], double *max_rel, const struct sim_row **worst)
{
	uint64_t n = r->in.recipients;
	const struct sim_row init[SIM_ROWS] = {
		{ "seconds_to_last_recipient", "last recipient settled", SIM_SECONDS,
		  r->seconds_to_last_recipient, or_nan(res->seconds_to_settled), 0, 1 },
		{ "seconds_to_50pct", "50% reached", SIM_SECONDS,
		  or_nan(r->seconds_to_50pct), or_nan(sim_time_to(res, 0.5)), 0, 1 },
		{ "seconds_to_90pct", "90% reached", SIM_SECONDS,
		  or_nan(r->seconds_to_90pct), or_nan(sim_time_to(res, 0.9)), 0, 1 },
		{ "throughput_per_s", "throughput, 10% to 90%", SIM_RATE,
		  throughput(plan_time_to(r, 0.1), plan_time_to(r, 0.9), n),
		  throughput(sim_time_to(res, 0.1), sim_time_to(res, 0.9), n), 0, 1 },
		{ "coverage_1m", "coverage at 1 min", SIM_FRACTION,
		  r->coverage_1m, or_nan(sim_coverage_at(res, 60.0)), 0, 0 },
		{ "coverage_5m", "coverage at 5 min", SIM_FRACTION,
		  r->coverage_5m, or_nan(sim_coverage_at(res, 300.0)), 0, 0 },
		{ "coverage_15m", "coverage at 15 min", SIM_FRACTION,
		  r->coverage_15m, or_nan(sim_coverage_at(res, 900.0)), 0, 0 },
		{ "coverage_final", "final coverage", SIM_FRACTION, r->coverage_final,
		  res->recipients ? (double)res->accepted / (double)res->recipients : NAN, 0, 0 },
		{ "retries", "retries", SIM_COUNT, r->expected_retries, (double)res->retried, 0, 0 },
		{ "dispatch_overhead_s", "dispatch overhead", SIM_MILLIS, r->in.dispatch_overhead_s,
		  overhead(r, res), 0, 0 },
	};
	int agree = 1;
	double mx = 0.0;
	const struct sim_row *w = NULL;
	for (size_t i = 0; i < SIM_ROWS; i++) {
		rows[i] = init[i];
		struct sim_row *x = &rows[i];
		if (isnan(x->predicted) || isnan(x->measured))
			x->rel = NAN;
		else if (x->predicted != 0.0)
			x->rel = (x->measured - x->predicted) / x->predicted;
		else
			x->rel = x->measured == 0.0 ? 0.0 : NAN;
		if (!x->verdict || (isnan(x->predicted) && isnan(x->measured)))
			continue;   /* e.g. 90% reached on neither side */
		if (isnan(x->rel)) {
			agree = 0;
			continue;
		}
		if (fabs(x->rel) > tolerance)
			agree = 0;
		if (!w || fabs(x->rel) > mx) {
			mx = fabs(x->rel);
			w = x;
		}
	}
	if (max_rel)
		*max_rel = mx;
	if (worst)
		*worst = w;
	return agree;
}
