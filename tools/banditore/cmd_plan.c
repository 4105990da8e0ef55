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
 * `--simulate` runs the real sender against a wa-mock with the same
 * profile (simulate.[ch]) and prints predicted and measured side by side,
 * adds a "simulation" object to the JSON and the measured curve to the
 * plot. It is guarded (predicted duration, recipients) because it really
 * sends, at the plan's rate, for as long as the plan says.
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
#include "simulate.h"

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
"  --dispatch-overhead-ms D  time a window slot is held beyond the latency: the\n"
"                        sender's durable intent and local HTTP (default 5;\n"
"                        --simulate measures it)\n"
"  --json                print one JSON object instead of the report\n"
"  --series N            points of the curve in the JSON (default 61; 0 = none)\n"
"  --plot FILE           draw the delivery curve to FILE (.svg or .png; gnuplot)\n"
"  --simulate            also run the real sender against a local wa-mock with this\n"
"                        profile (synthetic recipients, throwaway store) and print\n"
"                        predicted and measured side by side\n"
"  --wa-mock PATH        the wa-mock binary (default: $BANDITORE_WA_MOCK, else next\n"
"                        to banditore, else PATH)\n"
"  --simulate-max-seconds S     refuse a simulation predicted to last longer\n"
"                        (default 120; at most 86400)\n"
"  --simulate-max-recipients N  refuse more recipients (default 200000)\n"
"  --simulate-tolerance F       agreement needed, relative (default 5%)\n"
"  --simulate-seed N     wa-mock's seed: latency and error draws (default 1)\n"
"  -h, --help            this text\n"
"\n"
"Exit status: 0 done, 1 the plot could not be written or the simulation could\n"
"not run, 2 bad usage or input (also a simulation over its limits), 3 the\n"
"simulation ran and differs from the prediction by more than the tolerance.\n"
"The model, its assumptions and worked examples: docs/CAPACITY.md.\n";

enum {
	OPT_SUBSCRIBERS = 256, OPT_RATE, OPT_TIER, OPT_LATENCY, OPT_ERROR_RATE,
	OPT_PERMANENT, OPT_WINDOW, OPT_ATTEMPTS, OPT_PAIR, OPT_OVERHEAD, OPT_JSON, OPT_SERIES,
	OPT_PLOT, OPT_SIMULATE, OPT_WA_MOCK, OPT_SIM_SECONDS, OPT_SIM_RECIPIENTS,
	OPT_SIM_TOLERANCE, OPT_SIM_SEED,
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
	{ "dispatch-overhead-ms", required_argument, NULL, OPT_OVERHEAD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "series", required_argument, NULL, OPT_SERIES },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "simulate", no_argument, NULL, OPT_SIMULATE },
	{ "wa-mock", required_argument, NULL, OPT_WA_MOCK },
	{ "simulate-max-seconds", required_argument, NULL, OPT_SIM_SECONDS },
	{ "simulate-max-recipients", required_argument, NULL, OPT_SIM_RECIPIENTS },
	{ "simulate-tolerance", required_argument, NULL, OPT_SIM_TOLERANCE },
	{ "simulate-seed", required_argument, NULL, OPT_SIM_SEED },
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
	fprintf(f, "  window %" PRIu32 " (+%g ms dispatch overhead), transient errors %.1f%%, "
	        "permanent failures %.1f%%, up to %" PRIu32 " attempts\n\n",
	        in->window, in->dispatch_overhead_s * 1000.0, in->error_rate * 100.0,
	        in->permanent_rate * 100.0, in->max_attempts);

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
	        " recommended (%g msg/s x (p99 + overhead))\n", r->window_min,
	        r->window_recommended, in->rate);
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

/* --- simulation: report and JSON ---------------------------------------- */

/* What the report, the JSON and the plot show of a simulation. */
struct sim_view {
	const struct sim_result *res;
	const struct sim_row *rows;      /* SIM_ROWS */
	int agree;
	double max_rel;
	const struct sim_row *worst;
	double tolerance;
	const char *wa_mock;
	uint64_t seed;
};

static void fmt_cell(char buf[32], enum sim_kind k, double v)
{
	if (isnan(v)) {
		snprintf(buf, 32, "-");
		return;
	}
	switch (k) {
	case SIM_SECONDS:
		snprintf(buf, 32, "%.2f s", v);
		break;
	case SIM_RATE:
		snprintf(buf, 32, "%.1f/s", v);
		break;
	case SIM_MILLIS:
		snprintf(buf, 32, "%.1f ms", v * 1000.0);
		break;
	case SIM_FRACTION:
		snprintf(buf, 32, "%.2f%%", v * 100.0);
		break;
	case SIM_COUNT:
		fmt_count(buf, (uint64_t)(v + 0.5));
		break;
	}
}

static void print_sim(FILE *f, const struct sim_view *v)
{
	const struct sim_result *res = v->res;
	char n_s[32], a_s[32], f_s[32];
	fmt_count(n_s, res->recipients);
	fmt_count(a_s, res->accepted);
	fmt_count(f_s, res->failed);
	fprintf(f, "\nsimulation: the sender of `banditore send` against wa-mock, %s synthetic "
	        "recipients\n", n_s);
	fprintf(f, "  wa-mock %s\n", res->mock_args);
	fprintf(f, "  notice %s: accepted %s, failed %s, throttled (130429) %" PRIu64
	        "; first request %.3f s after the start (set-up %.2f s); sampled every %.0f ms\n\n",
	        res->state, a_s, f_s, res->throttled, res->first_request_s, res->setup_s,
	        res->sample_interval_s * 1000.0);
	fprintf(f, "  %-28s %12s %12s %11s\n", "", "predicted", "measured", "difference");
	for (size_t i = 0; i < SIM_ROWS; i++) {
		const struct sim_row *x = &v->rows[i];
		char p[32], m[32], d[32];
		fmt_cell(p, x->kind, x->predicted);
		fmt_cell(m, x->kind, x->measured);
		if (isnan(x->rel))
			snprintf(d, sizeof d, "-");
		else
			snprintf(d, sizeof d, "%+.1f%%", x->rel * 100.0);
		fprintf(f, "  %-28s %12s %12s %11s\n", x->label, p, m, d);
	}
	if (v->agree)
		fprintf(f, "\nverdict: agree within %.1f%% (largest difference %.2f%%%s%s)\n",
		        v->tolerance * 100.0, v->max_rel * 100.0, v->worst ? ": " : "",
		        v->worst ? v->worst->label : "");
	else
		fprintf(f, "\nverdict: DIFFER by more than %.1f%% (largest difference %.2f%%%s%s)\n",
		        v->tolerance * 100.0, v->max_rel * 100.0, v->worst ? ": " : "",
		        v->worst ? v->worst->label : "");
}

static int set_num(json_t *o, const char *k, double v)
{
	return json_object_set_new(o, k, isnan(v) ? json_null() : json_real(v));
}

/* The measured curve at n evenly spaced times from 0 to its last sample. */
static json_t *sim_series_json(const struct sim_result *res, size_t n)
{
	json_t *a = json_array();
	if (!a || n < 2 || !res->nsamples)
		return a;
	double end = res->samples[res->nsamples - 1].t_s;
	for (size_t i = 0; i < n; i++) {
		double t = end * (double)i / (double)(n - 1);
		json_t *p = json_object();
		if (!p || json_array_append_new(a, p) || set_num(p, "t_s", t) ||
		    set_num(p, "coverage", sim_coverage_at(res, t))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Adds "simulation" to the plan's JSON object o. */
static int sim_json(const struct sim_view *v, size_t series, json_t *o)
{
	const struct sim_result *res = v->res;
	json_t *s = json_object(), *cmp = json_object();
	if (!s || !cmp) {
		json_decref(s);
		json_decref(cmp);
		return BND_E_NOMEM;
	}
	/* json_object_set_new takes s (and frees it when it fails) */
	if (json_object_set_new(o, "simulation", s)) {
		json_decref(cmp);
		return BND_E_NOMEM;
	}
	int bad = 0;
	bad |= json_object_set_new(s, "engine", json_string("banditore send (fanout) vs wa-mock"));
	bad |= json_object_set_new(s, "wa_mock", json_string(v->wa_mock));
	bad |= json_object_set_new(s, "wa_mock_args", json_string(res->mock_args));
	bad |= json_object_set_new(s, "seed", json_integer((json_int_t)v->seed));
	bad |= json_object_set_new(s, "recipients", json_integer((json_int_t)res->recipients));
	bad |= json_object_set_new(s, "state", json_string(res->state));
	bad |= json_object_set_new(s, "complete", json_boolean(res->complete));
	bad |= json_object_set_new(s, "timed_out", json_boolean(res->timed_out));
	bad |= json_object_set_new(s, "accepted", json_integer((json_int_t)res->accepted));
	bad |= json_object_set_new(s, "failed", json_integer((json_int_t)res->failed));
	bad |= json_object_set_new(s, "retried", json_integer((json_int_t)res->retried));
	bad |= json_object_set_new(s, "throttled", json_integer((json_int_t)res->throttled));
	bad |= json_object_set_new(s, "pair_limited",
	                           json_integer((json_int_t)res->pair_limited));
	bad |= set_num(s, "setup_s", res->setup_s);
	bad |= set_num(s, "first_request_s", res->first_request_s);
	bad |= set_num(s, "seconds_to_last_accept", res->seconds_to_last_accept < 0 ? NAN
	               : res->seconds_to_last_accept);
	bad |= set_num(s, "sample_interval_s", res->sample_interval_s);
	bad |= set_num(s, "mean_window_used", res->mean_window_used);
	bad |= set_num(s, "mean_in_flight", res->mean_in_curl);
	bad |= set_num(s, "tolerance", v->tolerance);
	bad |= json_object_set_new(s, "agree", json_boolean(v->agree));
	bad |= set_num(s, "max_relative_difference", v->max_rel);
	if (json_object_set_new(s, "compare", cmp))
		return BND_E_NOMEM;   /* cmp freed by jansson */
	for (size_t i = 0; i < SIM_ROWS; i++) {
		const struct sim_row *x = &v->rows[i];
		json_t *e = json_object();
		if (!e || json_object_set_new(cmp, x->key, e)) {   /* e freed on failure */
			bad = 1;
			break;
		}
		bad |= set_num(e, "predicted", x->predicted);
		bad |= set_num(e, "measured", x->measured);
		bad |= set_num(e, "relative_difference", x->rel);
		bad |= json_object_set_new(e, "in_verdict", json_boolean(x->verdict));
	}
	if (series) {
		json_t *a = sim_series_json(res, series);
		bad |= !a || json_object_set_new(s, "series", a);
	}
	return bad ? BND_E_NOMEM : 0;
}

/* --- plot -------------------------------------------------------------- */

static int draw(const struct plan_result *r, const struct sim_view *sv, const char *path)
{
	const struct plan_input *in = &r->in;
	double t_end = plan_series_end(r);
	if (sv) {   /* a short run: no one-minute floor, room for both curves */
		const struct sim_result *res = sv->res;
		double m_end = res->nsamples ? res->samples[res->nsamples - 1].t_s : 0.0;
		t_end = 1.05 * (m_end > r->seconds_to_last_recipient ? m_end
		                                                      : r->seconds_to_last_recipient);
	}
	struct plan_point *pts = bnd_calloc(2 * PLOT_POINTS, sizeof *pts);
	if (!pts)
		return BND_E_NOMEM;
	struct plan_point *mpts = pts + PLOT_POINTS;
	int rc = plan_series(r, t_end, pts, PLOT_POINTS);
	if (rc)
		goto out;

	char n_s[32], t_s[32], title[256], sub[256], vlabel[160], dur[48];
	fmt_count(n_s, in->recipients);
	fmt_tier(t_s, in->tier);
	snprintf(title, sizeof title,
	         "Delivery curve: %s recipients at %g msg/s, messaging tier %s", n_s, in->rate, t_s);
	if (r->latency_sigma > 0.0)
		snprintf(sub, sizeof sub,
		         "window %" PRIu32 " (+%g ms overhead), latency p50 %g ms / p99 %g ms, "
		         "transient errors %.1f%%, permanent %.1f%%  (%s)", in->window,
		         in->dispatch_overhead_s * 1000.0, in->latency_p50_s * 1000.0,
		         in->latency_p99_s * 1000.0, in->error_rate * 100.0,
		         in->permanent_rate * 100.0, PLAN_MODEL_VERSION);
	else
		snprintf(sub, sizeof sub,
		         "window %" PRIu32 " (+%g ms overhead), fixed latency %g ms, transient errors "
		         "%.1f%%, permanent %.1f%%  (%s)", in->window, in->dispatch_overhead_s * 1000.0,
		         in->latency_p50_s * 1000.0, in->error_rate * 100.0, in->permanent_rate * 100.0,
		         PLAN_MODEL_VERSION);
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
	struct plot_curve curves[2] = {
		{ .label = "predicted (model)", .pts = pts, .n = PLOT_POINTS },
	};
	size_t ncurves = 1;
	if (sv) {
		const struct sim_result *res = sv->res;
		double m_end = res->nsamples ? res->samples[res->nsamples - 1].t_s : 0.0;
		for (size_t i = 0; i < PLOT_POINTS; i++) {
			mpts[i].t_s = m_end * (double)i / (double)(PLOT_POINTS - 1);
			double c = sim_coverage_at(res, mpts[i].t_s);
			mpts[i].coverage = c < 0.0 ? 0.0 : c;
		}
		curves[1] = (struct plot_curve){
			.label = "measured (banditore send vs wa-mock)", .pts = mpts, .n = PLOT_POINTS,
		};
		ncurves = 2;
		snprintf(title, sizeof title, "Predicted vs measured: %s recipients at %g msg/s, "
		         "messaging tier %s", n_s, in->rate, t_s);
		char m_dur[48];
		fmt_duration(m_dur, sv->rows[0].measured);
		snprintf(vlabel, sizeof vlabel, "predicted last: %s, measured: %s", dur,
		         isnan(sv->rows[0].measured) ? "-" : m_dur);
	}
	struct plot_spec spec = {
		.path = path, .title = title, .subtitle = sub, .t_end_s = t_end,
		.curves = curves, .ncurves = ncurves, .marks = marks, .nmarks = 3,
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
	case BND_E_PLAN_OVERHEAD: return "--dispatch-overhead-ms";
	}
	return "input";
}

int cmd_plan(int argc, char **argv, const struct cli_global *g)
{
	struct plan_input in;
	plan_input_defaults(&in);
	const char *given[OPT_SIM_SEED + 1] = { 0 };
	int simulate = 0;
	const char *wa_mock = NULL;
	double sim_max_s = SIM_MAX_SECONDS_DEFAULT, sim_tol = SIM_TOLERANCE_DEFAULT;
	uint64_t sim_max_n = SIM_MAX_RECIPIENTS_DEFAULT, sim_seed = 1;
	int json = g->json, have_n = 0;
	uint64_t series = JSON_SERIES_DEFAULT;
	const char *plot_path = NULL;
	uint64_t u;
	double d;

	optind = 0;     /* GNU: full re-initialisation, whatever ran before */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		if (c >= OPT_SUBSCRIBERS && c <= OPT_SIM_SEED)
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
		case OPT_OVERHEAD:
			if (parse_double(optarg, &d) != 0)
				return bad_value("--dispatch-overhead-ms", optarg, "milliseconds, e.g. 5");
			in.dispatch_overhead_s = d / 1000.0;
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
			simulate = 1;
			break;
		case OPT_WA_MOCK:
			if (!*optarg)
				return bad_value("--wa-mock", optarg, "the path of the wa-mock binary");
			wa_mock = optarg;
			break;
		case OPT_SIM_SECONDS:
			if (parse_double(optarg, &d) != 0 || d < 1.0 || d > SIM_MAX_SECONDS_LIMIT)
				return bad_value("--simulate-max-seconds", optarg,
				                 "seconds, from 1 to 86400");
			sim_max_s = d;
			break;
		case OPT_SIM_RECIPIENTS:
			if (parse_count(optarg, &u) != 0 || u < 1 || u > SIM_MAX_RECIPIENTS_LIMIT)
				return bad_value("--simulate-max-recipients", optarg,
				                 "a whole number from 1 to 10000000");
			sim_max_n = u;
			break;
		case OPT_SIM_TOLERANCE:
			if (parse_fraction(optarg, &d) != 0 || d <= 0.0 || d > 1.0)
				return bad_value("--simulate-tolerance", optarg,
				                 "a fraction above 0 and at most 1, e.g. 0.05 or 5%");
			sim_tol = d;
			break;
		case OPT_SIM_SEED:
			if (parse_count(optarg, &u) != 0)
				return bad_value("--simulate-seed", optarg, "a whole number");
			sim_seed = u;
			break;
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
			{ BND_E_PLAN_OVERHEAD, OPT_OVERHEAD },
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

	struct sim_result sim;
	memset(&sim, 0, sizeof sim);
	struct sim_row rows[SIM_ROWS];
	const struct sim_row *worst = NULL;
	double max_rel = 0.0;
	int agree = 1, ex = 0;
	const struct sim_view *sv = NULL;
	struct sim_view view;
	char mock_path[4096];
	if (simulate) {
		char err[SIM_ERR_MAX];
		if (sim_check(&r, sim_max_s, sim_max_n, err, sizeof err) != 0) {
			fprintf(stderr, "banditore plan: %s\n", err);
			return 2;
		}
		if (sim_find_wa_mock(wa_mock, mock_path, sizeof mock_path, err, sizeof err) != 0) {
			fprintf(stderr, "banditore plan: %s\n", err);
			return 1;
		}
		struct sim_opts so = {
			.wa_mock = mock_path, .max_seconds = sim_max_s, .seed = sim_seed,
			.progress = !json,
		};
		rc = sim_run(&r, &so, &sim, err, sizeof err);
		if (rc) {
			fprintf(stderr, "banditore plan: --simulate could not run: %s\n", err);
			sim_result_free(&sim);
			return 1;
		}
		agree = sim_compare(&r, &sim, sim_tol, rows, &max_rel, &worst);
		view = (struct sim_view){ .res = &sim, .rows = rows, .agree = agree,
		                          .max_rel = max_rel, .worst = worst,
		                          .tolerance = sim_tol, .wa_mock = mock_path,
		                          .seed = sim_seed };
		sv = &view;
		ex = agree ? 0 : 3;
	}

	if (plot_path) {
		rc = draw(&r, sv, plot_path);
		if (rc) {
			fprintf(stderr, "banditore plan: --plot '%s': %s\n", plot_path, bnd_strerror(rc));
			ex = 1;
			goto out;
		}
	}

	if (json) {
		json_t *o = NULL;
		rc = plan_to_json(&r, (size_t)series, &o);
		if (!rc && plot_path && json_object_set_new(o, "plot", json_string(plot_path)))
			rc = BND_E_NOMEM;
		if (!rc && sv)
			rc = sim_json(sv, (size_t)series, o);
		if (rc) {
			json_decref(o);
			fprintf(stderr, "banditore plan: %s\n", bnd_strerror(rc));
			ex = 1;
			goto out;
		}
		rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9) |
		                JSON_PRESERVE_ORDER);
		json_decref(o);
		if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
			fprintf(stderr, "banditore plan: cannot write the report: %s\n",
			        strerror(errno));
			ex = 1;
		}
		goto out;
	}
	print_report(stdout, &r, plot_path);
	if (sv)
		print_sim(stdout, sv);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "banditore plan: cannot write the report: %s\n", strerror(errno));
		ex = 1;
	}
out:
	if (sv && !agree)
		fprintf(stderr, "banditore plan: the simulation differs from the prediction by "
		        "%.1f%% (%s), more than the tolerance of %.1f%%\n", max_rel * 100.0,
		        worst ? worst->label : "a figure measured on one side only",
		        sim_tol * 100.0);
	sim_result_free(&sim);
	return ex;
}
