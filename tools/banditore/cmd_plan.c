/*
 * cmd_plan.c - `banditore plan`: capacity planning before an alert.
 *
 * A thin shell over engine/plan.[ch]: parse and check the flags (the
 * contract of PRODUCT.md §2, plus a few extra knobs of the model), run the
 * model, print a short report or one JSON object, and optionally draw the
 * delivery curve through gnuplot (plot.[ch]).
 *
 * Parsing is strict: a number must be all number ("80x" is an error, not
 * 80), NaN and infinities are refused, and every range check lives in
 * plan_validate so the CLI and the library agree. A bad value names its
 * flag, the value given and the accepted range, and exits 2.
 *
 * `--simulate` (run the real sender against wa-mock with the same profile
 * and print predicted and measured side by side) needs the sender engine,
 * which does not exist yet: the flag is recognised and refused with a note.
 * The model's outputs are designed for that comparison (see plan.h).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "plan.h"
#include "plot.h"

#define PLOT_POINTS 1500         /* smooth at 1000 px, small script */
#define JSON_SERIES_DEFAULT 61   /* one point per 1/60 of the span */

static const char usage[] =
"usage: banditore plan --subscribers N [--rate R] [--tier T] [--latency-ms P50[:P99]]\n"
"                      [--error-rate F] [--window W] [--json] [--plot FILE] ...\n"
"\n"
"How long one notice takes to reach N recipients under the WhatsApp Cloud API's\n"
"limits, with the in-flight window and connections it needs, before it is sent.\n"
"\n"
"  --subscribers N       recipients (deduplicated); 300000, 300k or 1.5m style\n"
"  --rate R              throughput limit, msg/s (default 80; 1000 upgraded,\n"
"                        20 for coexistence numbers)\n"
"  --tier T              messaging limit: unique users per rolling 24 h: 250, 1000,\n"
"                        2000, 10000, 100000 (2k/10k/100k) or unlimited (default; 0)\n"
"  --latency-ms P50[:P99] API latency in ms (default 250:2000, log-normal);\n"
"                        a single value means a fixed latency\n"
"  --error-rate F        fraction of requests failing transiently (5xx, timeouts,\n"
"                        130429), retried with backoff; 0.05 or 5% (default 0)\n"
"  --permanent-rate F    fraction of recipients failing permanently (default 0)\n"
"  --window W            requests in flight the sender allows (default 64)\n"
"  --max-attempts K      attempts per recipient, first included (default 8)\n"
"  --pair-interval-s S   least spacing of two requests to one user (default 6)\n"
"  --json                print one JSON object instead of the report\n"
"  --series N            points of the curve in the JSON (default 61; 0 = none)\n"
"  --plot FILE           draw the delivery curve to FILE (.svg or .png; gnuplot)\n"
"  --simulate            not available yet: needs the sender (see docs/CAPACITY.md)\n"
"  -h, --help            this text\n"
"\n"
"Exit status: 0 done, 1 the plot could not be written, 2 bad usage or input.\n"
"The model, its assumptions and worked examples: docs/CAPACITY.md.\n";

enum {
	OPT_SUBSCRIBERS = 256, OPT_RATE, OPT_TIER, OPT_LATENCY, OPT_ERROR_RATE,
	OPT_PERMANENT, OPT_WINDOW, OPT_ATTEMPTS, OPT_PAIR, OPT_JSON, OPT_SERIES,
	OPT_PLOT, OPT_SIMULATE,
};

static const struct option options[] = {
	{ "subscribers", required_argument, NULL, OPT_SUBSCRIBERS },
	{ "recipients", required_argument, NULL, OPT_SUBSCRIBERS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "tier", required_argument, NULL, OPT_TIER },
	{ "latency-ms", required_argument, NULL, OPT_LATENCY },
	{ "error-rate", required_argument, NULL, OPT_ERROR_RATE },
	{ "permanent-rate", required_argument, NULL, OPT_PERMANENT },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "max-attempts", required_argument, NULL, OPT_ATTEMPTS },
	{ "pair-interval-s", required_argument, NULL, OPT_PAIR },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "series", required_argument, NULL, OPT_SERIES },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "simulate", no_argument, NULL, OPT_SIMULATE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --- strict parsers --------------------------------------------------- */

/* A finite decimal number, the whole string. */
static int parse_double(const char *s, double *out)
{
	if (!s || !*s || (*s != '-' && *s != '+' && *s != '.' && (*s < '0' || *s > '9')))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* A count: digits with an optional k (x1,000) or m (x1,000,000) suffix;
 * "1.5m" is allowed when the result is whole. No sign, no separators. */
static int parse_count(const char *s, uint64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 24 || s[0] < '0' || s[0] > '9')
		return -1;
	double mult = 1.0;
	char buf[32];
	memcpy(buf, s, n + 1);
	char last = buf[n - 1];
	if (last == 'k' || last == 'K')
		mult = 1e3;
	else if (last == 'm' || last == 'M')
		mult = 1e6;
	if (mult > 1.0)
		buf[--n] = '\0';
	if (n == 0)
		return -1;
	int dot = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '.' && mult > 1.0 && !dot)
			dot = 1;
		else if (buf[i] < '0' || buf[i] > '9')
			return -1;
	}
	double v;
	if (parse_double(buf, &v) != 0)
		return -1;
	v *= mult;
	if (v != floor(v) || v > 1e18)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* A fraction: "0.05" or "5%". */
static int parse_fraction(const char *s, double *out)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 1 && s[n - 1] == '%') {
		char buf[64];
		if (n >= sizeof buf)
			return -1;
		memcpy(buf, s, n - 1);
		buf[n - 1] = '\0';
		if (parse_double(buf, out) != 0)
			return -1;
		*out /= 100.0;
		return 0;
	}
	return parse_double(s, out);
}

/* "P50" or "P50:P99", milliseconds. */
static int parse_latency(const char *s, double *p50_s, double *p99_s)
{
	char buf[64];
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n + 1);
	char *colon = strchr(buf, ':');
	double a, b;
	if (colon) {
		*colon = '\0';
		if (parse_double(buf, &a) != 0 || parse_double(colon + 1, &b) != 0)
			return -1;
	} else {
		if (parse_double(buf, &a) != 0)
			return -1;
		b = a;
	}
	*p50_s = a / 1000.0;
	*p99_s = b / 1000.0;
	return 0;
}

/* --- report ------------------------------------------------------------ */

static void fmt_count(char buf[32], uint64_t v)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	int o = 0;
	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

static void fmt_duration(char buf[48], double s)
{
	if (s < 0.0) {
		snprintf(buf, 48, "never");
		return;
	}
	if (s < 60.0) {
		snprintf(buf, 48, "%.1f s", s);
		return;
	}
	uint64_t x = (uint64_t)(s + 0.5);
	uint64_t d = x / 86400, h = x % 86400 / 3600, m = x % 3600 / 60, sec = x % 60;
	if (d > 0)
		snprintf(buf, 48, "%" PRIu64 " d %" PRIu64 " h %" PRIu64 " min", d, h, m);
	else if (h > 0)
		snprintf(buf, 48, "%" PRIu64 " h %" PRIu64 " min", h, m);
	else
		snprintf(buf, 48, "%" PRIu64 " min %" PRIu64 " s", m, sec);
}

static void fmt_tier(char buf[32], uint32_t tier)
{
	if (tier == 0)
		snprintf(buf, 32, "unlimited");
	else
		fmt_count(buf, tier);
}

static void print_report(FILE *f, const struct plan_result *r, const char *plot_path)
{
	const struct plan_input *in = &r->in;
	char n_s[32], t_s[32], d1[48], d2[48], d3[48], x_s[32];
	fmt_count(n_s, in->recipients);
	fmt_tier(t_s, in->tier);

	fprintf(f, "banditore plan: %s recipients at %g msg/s, messaging tier %s\n",
	        n_s, in->rate, t_s);
	if (r->latency_sigma > 0.0)
		fprintf(f, "  assuming latency p50 %g ms / p99 %g ms (log-normal, mean %.0f ms),\n",
		        in->latency_p50_s * 1000.0, in->latency_p99_s * 1000.0,
		        r->latency_mean_s * 1000.0);
	else
		fprintf(f, "  assuming a fixed latency of %g ms,\n", in->latency_p50_s * 1000.0);
	fprintf(f, "  window %" PRIu32 ", transient errors %.1f%%, permanent failures %.1f%%, "
	        "up to %" PRIu32 " attempts\n\n",
	        in->window, in->error_rate * 100.0, in->permanent_rate * 100.0,
	        in->max_attempts);

	fmt_duration(d1, r->seconds_to_last_recipient);
	/* With failures the figure is when the last outcome is known (accepted
	 * or failed for good): say so rather than promise a reach. */
	const char *what = (double)in->recipients * (1.0 - r->coverage_final) < 0.5
		? "last recipient reached after" : "last outcome known after    ";
	if (r->seconds_to_last_recipient < 60.0)
		fprintf(f, "  %s  %s\n", what, d1);
	else
		fprintf(f, "  %s  %s (%.1f s)\n", what, d1, r->seconds_to_last_recipient);
	if (r->tier_windows > 1) {
		fprintf(f, "  24 h windows used             %" PRIu64 " (at most %s recipients each)\n",
		        r->tier_windows, t_s);
	}
	fprintf(f, "  send rate                     %.1f msg/s, limited by %s\n",
	        r->effective_rate,
	        r->limited_by_window ? "the window (Little's law)" : "the throughput limit");
	if (!r->limited_by_window)
		fprintf(f, "                                (window %" PRIu32 " could carry %.1f msg/s)\n",
		        in->window, r->little_rate);
	fprintf(f, "  coverage at 1 / 5 / 15 min    %.1f%% / %.1f%% / %.1f%%\n",
	        r->coverage_1m * 100.0, r->coverage_5m * 100.0, r->coverage_15m * 100.0);
	fmt_duration(d2, r->seconds_to_50pct);
	fmt_duration(d3, r->seconds_to_90pct);
	fprintf(f, "  50%% / 90%% reached after       %s / %s\n", d2, d3);
	fprintf(f, "  final coverage                %.2f%%\n", r->coverage_final * 100.0);
	fprintf(f, "  window needed                 %" PRIu32 " at the mean latency, %" PRIu32
	        " recommended (%g msg/s x p99)\n", r->window_min, r->window_recommended, in->rate);
	fprintf(f, "  connections                   %" PRIu32 " HTTP/2 (%u streams each) or %"
	        PRIu32 " HTTP/1.1\n", r->connections_h2, PLAN_H2_STREAMS, r->connections_http1);
	fmt_count(x_s, (uint64_t)(r->expected_retries + 0.5));
	fprintf(f, "  retries                       %s expected (+%.1f%% requests)\n",
	        x_s, r->retry_overhead * 100.0);
	if (plot_path)
		fprintf(f, "  plot                          %s\n", plot_path);

	if (r->nwarnings == 0) {
		fputs("\nwarnings: none\n", f);
		return;
	}
	fputs("\nwarnings:\n", f);
	for (size_t i = 0; i < r->nwarnings; i++)
		fprintf(f, "  - %s\n", r->warnings[i].text);
}

/* --- plot -------------------------------------------------------------- */

static int draw(const struct plan_result *r, const char *path)
{
	const struct plan_input *in = &r->in;
	double t_end = plan_series_end(r);
	struct plan_point *pts = bnd_calloc(PLOT_POINTS, sizeof *pts);
	if (!pts)
		return BND_E_NOMEM;
	int rc = plan_series(r, t_end, pts, PLOT_POINTS);
	if (rc)
		goto out;

	char n_s[32], t_s[32], title[256], sub[256], vlabel[96], dur[48];
	fmt_count(n_s, in->recipients);
	fmt_tier(t_s, in->tier);
	snprintf(title, sizeof title,
	         "Delivery curve: %s recipients at %g msg/s, messaging tier %s", n_s, in->rate, t_s);
	if (r->latency_sigma > 0.0)
		snprintf(sub, sizeof sub,
		         "window %" PRIu32 ", latency p50 %g ms / p99 %g ms, transient errors %.1f%%"
		         ", permanent %.1f%%  (%s)", in->window, in->latency_p50_s * 1000.0,
		         in->latency_p99_s * 1000.0, in->error_rate * 100.0,
		         in->permanent_rate * 100.0, PLAN_MODEL_VERSION);
	else
		snprintf(sub, sizeof sub,
		         "window %" PRIu32 ", fixed latency %g ms, transient errors %.1f%%"
		         ", permanent %.1f%%  (%s)", in->window, in->latency_p50_s * 1000.0,
		         in->error_rate * 100.0, in->permanent_rate * 100.0, PLAN_MODEL_VERSION);
	fmt_duration(dur, r->seconds_to_last_recipient);
	snprintf(vlabel, sizeof vlabel, "%s: %s",
	         (double)in->recipients * (1.0 - r->coverage_final) < 0.5
	         ? "last recipient" : "last outcome known", dur);

	struct plot_mark marks[3];
	const double at[3] = { 60.0, 300.0, 900.0 };
	const double cov[3] = { r->coverage_1m, r->coverage_5m, r->coverage_15m };
	for (int i = 0; i < 3; i++) {
		marks[i].t_s = at[i];
		marks[i].coverage = cov[i];
		snprintf(marks[i].label, sizeof marks[i].label, "%d min: %.1f%%",
		         (int)(at[i] / 60.0), cov[i] * 100.0);
	}
	struct plot_curve curve = { .label = "predicted (model)", .pts = pts, .n = PLOT_POINTS };
	struct plot_spec spec = {
		.path = path, .title = title, .subtitle = sub, .t_end_s = t_end,
		.curves = &curve, .ncurves = 1, .marks = marks, .nmarks = 3,
		.vline_t_s = r->seconds_to_last_recipient, .vline_label = vlabel,
	};
	rc = plot_delivery(&spec);
out:
	bnd_free(pts);
	return rc;
}

/* --- main ---------------------------------------------------------------- */

static int bad_value(const char *flag, const char *value, const char *want)
{
	fprintf(stderr, "banditore plan: %s '%s': %s\n", flag, value, want);
	return 2;
}

/* bnd_strerror's plan messages start with "plan: ", which the CLI's own
 * "banditore plan:" prefix already says. */
static const char *plan_message(int code)
{
	const char *m = bnd_strerror(code);
	return strncmp(m, "plan: ", 6) == 0 ? m + 6 : m;
}

static const char *flag_of(int code)
{
	switch (code) {
	case BND_E_PLAN_RECIPIENTS: return "--subscribers";
	case BND_E_PLAN_RATE: return "--rate";
	case BND_E_PLAN_TIER: return "--tier";
	case BND_E_PLAN_LATENCY: return "--latency-ms";
	case BND_E_PLAN_ERROR_RATE: return "--error-rate";
	case BND_E_PLAN_PERMANENT: return "--permanent-rate";
	case BND_E_PLAN_WINDOW: return "--window";
	case BND_E_PLAN_ATTEMPTS: return "--max-attempts";
	case BND_E_PLAN_PAIR: return "--pair-interval-s";
	}
	return "input";
}

int cmd_plan(int argc, char **argv, const struct cli_global *g)
{
	struct plan_input in;
	plan_input_defaults(&in);
	const char *given[OPT_SIMULATE + 1] = { 0 };
	int json = g->json, have_n = 0;
	uint64_t series = JSON_SERIES_DEFAULT;
	const char *plot_path = NULL;
	uint64_t u;
	double d;

	optind = 0;     /* GNU: full re-initialisation, whatever ran before */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		if (c >= OPT_SUBSCRIBERS && c <= OPT_SIMULATE)
			given[c] = optarg;
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return 0;
		case OPT_SUBSCRIBERS:
			if (parse_count(optarg, &u) != 0)
				return bad_value("--subscribers", optarg,
				                 "a whole number of recipients, e.g. 300000 or 300k");
			in.recipients = u;
			have_n = 1;
			break;
		case OPT_RATE:
			if (parse_double(optarg, &d) != 0)
				return bad_value("--rate", optarg, "a number of messages per second, e.g. 80");
			in.rate = d;
			break;
		case OPT_TIER:
			if (strcmp(optarg, "unlimited") == 0 || strcmp(optarg, "inf") == 0)
				u = 0;
			else if (parse_count(optarg, &u) != 0 || u > UINT32_MAX)
				return bad_value("--tier", optarg,
				                 "250, 1000, 2000, 10000, 100000 or unlimited");
			in.tier = (uint32_t)u;
			break;
		case OPT_LATENCY:
			if (parse_latency(optarg, &in.latency_p50_s, &in.latency_p99_s) != 0)
				return bad_value("--latency-ms", optarg,
				                 "milliseconds as P50 or P50:P99, e.g. 250:2000");
			break;
		case OPT_ERROR_RATE:
			if (parse_fraction(optarg, &in.error_rate) != 0)
				return bad_value("--error-rate", optarg, "a fraction such as 0.05, or 5%");
			break;
		case OPT_PERMANENT:
			if (parse_fraction(optarg, &in.permanent_rate) != 0)
				return bad_value("--permanent-rate", optarg, "a fraction such as 0.02, or 2%");
			break;
		case OPT_WINDOW:
			if (parse_count(optarg, &u) != 0 || u > UINT32_MAX)
				return bad_value("--window", optarg, "a whole number of requests, e.g. 64");
			in.window = (uint32_t)u;
			break;
		case OPT_ATTEMPTS:
			if (parse_count(optarg, &u) != 0 || u > UINT32_MAX)
				return bad_value("--max-attempts", optarg, "a whole number, e.g. 8");
			in.max_attempts = (uint32_t)u;
			break;
		case OPT_PAIR:
			if (parse_double(optarg, &in.pair_interval_s) != 0)
				return bad_value("--pair-interval-s", optarg, "seconds, e.g. 6");
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_SERIES:
			if (parse_count(optarg, &u) != 0 || u == 1 || u > 10000)
				return bad_value("--series", optarg, "0 (none) or 2 to 10000 points");
			series = u;
			break;
		case OPT_PLOT:
			if (plot_check_path(optarg) != 0)
				return bad_value("--plot", optarg,
				                 "a file name ending in .svg or .png (no control characters)");
			plot_path = optarg;
			break;
		case OPT_SIMULATE:
			fputs("banditore plan: --simulate is not available yet: it runs the real "
			      "sender against wa-mock, and the sender is not built yet (issue 6). "
			      "Run the model without it.\n", stderr);
			return 2;
		case ':':
			fprintf(stderr, "banditore plan: option '%s' needs a value\n",
			        argv[optind - 1]);
			fputs("try 'banditore plan --help'\n", stderr);
			return 2;
		case '?':
		default:
			fprintf(stderr, "banditore plan: unknown option '%s'\n", argv[optind - 1]);
			fputs("try 'banditore plan --help'\n", stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "banditore plan: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!have_n) {
		fputs("banditore plan: --subscribers N is required (how many recipients)\n"
		      "try 'banditore plan --help'\n", stderr);
		return 2;
	}

	struct plan_result r;
	int rc = plan_compute(&in, &r);
	if (rc) {
		const char *flag = flag_of(rc);
		const char *val = NULL;
		static const int opt_of[][2] = {
			{ BND_E_PLAN_RECIPIENTS, OPT_SUBSCRIBERS }, { BND_E_PLAN_RATE, OPT_RATE },
			{ BND_E_PLAN_TIER, OPT_TIER }, { BND_E_PLAN_LATENCY, OPT_LATENCY },
			{ BND_E_PLAN_ERROR_RATE, OPT_ERROR_RATE },
			{ BND_E_PLAN_PERMANENT, OPT_PERMANENT }, { BND_E_PLAN_WINDOW, OPT_WINDOW },
			{ BND_E_PLAN_ATTEMPTS, OPT_ATTEMPTS }, { BND_E_PLAN_PAIR, OPT_PAIR },
		};
		for (size_t i = 0; i < sizeof opt_of / sizeof opt_of[0]; i++)
			if (opt_of[i][0] == rc)
				val = given[opt_of[i][1]];
		if (val)
			fprintf(stderr, "banditore plan: %s '%s': %s\n", flag, val, plan_message(rc));
		else
			fprintf(stderr, "banditore plan: %s\n", plan_message(rc));
		return 2;
	}

	if (plot_path) {
		rc = draw(&r, plot_path);
		if (rc) {
			fprintf(stderr, "banditore plan: --plot '%s': %s\n", plot_path, bnd_strerror(rc));
			return 1;
		}
	}

	if (json) {
		json_t *o = NULL;
		rc = plan_to_json(&r, (size_t)series, &o);
		if (!rc && plot_path && json_object_set_new(o, "plot", json_string(plot_path)))
			rc = BND_E_NOMEM;
		if (rc) {
			json_decref(o);
			fprintf(stderr, "banditore plan: %s\n", bnd_strerror(rc));
			return 1;
		}
		rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9) |
		                JSON_PRESERVE_ORDER);
		json_decref(o);
		if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
			fprintf(stderr, "banditore plan: cannot write the report: %s\n",
			        strerror(errno));
			return 1;
		}
		return 0;
	}
	print_report(stdout, &r, plot_path);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "banditore plan: cannot write the report: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
