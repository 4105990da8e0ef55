/* test_metrics.c - the registry, the text format it renders (checked by a
 * strict parser, prom_parse.h), concurrency, and the project's metric set
 * against docs/METRICS.md (engine/metrics.c, engine/metrics_set.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "metrics.h"
#include "prom_parse.h"

/* In the sanitizer build, a test can ask LeakSanitizer directly: a leak
 * reported only at the exit of Criterion's worker would not fail the test. */
#if defined(BANDITORE_SANITIZED) && defined(__has_include)
#if __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see stderr)")
#endif
#endif
#ifndef LEAK_CHECK
#define LEAK_CHECK() ((void)0)
#endif

static struct prom_doc doc;  /* large: static */
static char perr[256];

static char *render(struct metrics *m, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	cr_assert_eq(metrics_render(m, &out, &n), 0);
	cr_assert_not_null(out);
	cr_assert_eq(strlen(out), n);
	if (len)
		*len = n;
	return out;
}

/* render and parse strictly; the text is freed */
static void render_parse(struct metrics *m)
{
	size_t n;
	char *t = render(m, &n);
	int rc = prom_parse(t, n, &doc, perr, sizeof perr);
	cr_assert_eq(rc, 0, "%s\n--- output ---\n%s", perr, t);
	bnd_free(t);
}

static int parse_text(const char *t)
{
	perr[0] = '\0';
	return prom_parse(t, strlen(t), &doc, perr, sizeof perr);
}

/* ---------------------------------------------------- the parser itself */

Test(metrics, the_strict_parser_accepts_good_text)
{
	const char *good =
		"# HELP a_total A counter with \\\\ and \\n escapes.\n"
		"# TYPE a_total counter\n"
		"a_total{x=\"1\",y=\"q\\\"uote\\\\back\\nnl\"} 3\n"
		"a_total 0\n"
		"# TYPE g gauge\n"
		"g -1.5e3\n"
		"g{k=\"v\"} NaN\n"
		"# TYPE h_seconds histogram\n"
		"h_seconds_bucket{le=\"0.1\"} 1\n"
		"h_seconds_bucket{le=\"1\"} 2\n"
		"h_seconds_bucket{le=\"+Inf\"} 3\n"
		"h_seconds_sum 7.5\n"
		"h_seconds_count 3\n";
	cr_assert_eq(parse_text(good), 0, "%s", perr);
	cr_assert_eq(doc.nf, 3);
	cr_assert_str_eq(doc.f[0].help, "A counter with \\ and \n escapes.");
	cr_assert_eq(prom_value(&doc, "a_total", "x=\"1\",y=\"q\"uote\\back\nnl\"", NULL), 3);
	cr_assert_eq(prom_value(&doc, "g", NULL, NULL), -1500);
	cr_assert_eq(prom_value(&doc, "h_seconds_bucket", NULL, "1"), 2);
}

Test(metrics, the_strict_parser_rejects_bad_text)
{
	static const char *const bad[] = {
		"# TYPE a gauge\na 1",                                       /* no final newline */
		"# TYPE a gauge\n\na 1\n",                                   /* blank line */
		"a 1\n",                                                     /* no TYPE */
		"# TYPE a gauge\na 1\n# HELP a late\n",                      /* HELP after samples */
		"# TYPE a gauge\n# TYPE a gauge\na 1\n",                     /* TYPE twice */
		"# comment\n",                                               /* stray comment */
		"# TYPE 1a gauge\n",                                         /* bad name */
		"# TYPE a gauge\na{x=\"1\",} 1\n",                           /* trailing comma */
		"# TYPE a gauge\na{x=1} 1\n",                                /* unquoted */
		"# TYPE a gauge\na{x=\"a\\tb\"} 1\n",                        /* bad escape */
		"# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",                    /* label twice */
		"# TYPE a gauge\na{__x=\"1\"} 1\n",                          /* reserved label */
		"# TYPE a gauge\na one\n",                                   /* bad value */
		"# TYPE a gauge\na 1\na 2\n",                                /* duplicate series */
		"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n",  /* not contiguous */
		"# TYPE c_total counter\nc_total -1\n",                      /* negative counter */
		"# TYPE a gauge\na{n=\"393351234567\"} 1\n",                  /* a phone number */
		"# TYPE a wibble\n",                                         /* unknown type */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
		"h_sum 1\nh_count 1\n",                                      /* decreasing */
		"# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
		"h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",             /* le order */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", /* no +Inf */
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", /* +Inf != count */
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",  /* no sum */
		"# TYPE h histogram\nh 2\n",                                 /* no suffix */
		"# TYPE h histogram\nh_sum{le=\"1\"} 2\n",                   /* le outside bucket */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(parse_text(bad[i]), -1, "case %zu accepted:\n%s", i, bad[i]);
}

/* ------------------------------------------------------------ registry */

static struct metrics *m;

static void open_m(void)
{
	cr_assert_eq(metrics_open(&m), 0);
}

static void close_m(void)
{
	metrics_close(&m);
	cr_assert_null(m);
	metrics_close(&m);  /* accepts NULL */
}

static int add(enum metrics_type t, const char *name, const char *l0, const char *l1,
               struct metrics_family **f)
{
	static const uint64_t b[] = {1, 2, 3};
	struct metrics_desc d = {.type = t, .name = name, .help = "h", .labels = {l0, l1, NULL},
	                         .buckets = b, .nbuckets = 3};
	struct metrics_family *tmp;
	return metrics_family_add(m, &d, f ? f : &tmp);
}

Test(metrics, registration_refuses_bad_names_and_duplicates, .init = open_m, .fini = close_m)
{
	cr_assert_eq(add(METRICS_COUNTER, "ok_total", NULL, NULL, NULL), 0);
	cr_assert_eq(add(METRICS_COUNTER, "ok_total", NULL, NULL, NULL), BND_E_METRICS_DUP);
	cr_assert_eq(add(METRICS_GAUGE, "ok_total", NULL, NULL, NULL), BND_E_METRICS_DUP);
	cr_assert_eq(add(METRICS_COUNTER, "no_suffix", NULL, NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "1bad", NULL, NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "bad-name", NULL, NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "", NULL, NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "ns:ok_gauge", NULL, NULL, NULL), 0);
	cr_assert_eq(add(METRICS_GAUGE, "g1", "bad-label", NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "g2", "__reserved", NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "g3", "a:b", NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_GAUGE, "g4", "x", "x", NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_HISTOGRAM, "h_seconds", "le", NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_HISTOGRAM, "h_count", NULL, NULL, NULL), BND_E_METRICS_NAME);
	cr_assert_eq(add(METRICS_HISTOGRAM, "h_seconds", NULL, NULL, NULL), 0);
	/* the names a histogram's samples use are taken */
	cr_assert_eq(add(METRICS_GAUGE, "h_seconds_count", NULL, NULL, NULL), BND_E_METRICS_DUP);
	cr_assert_eq(add(METRICS_COUNTER, "h_seconds_sum", NULL, NULL, NULL), BND_E_METRICS_NAME,
	             "(a counter without _total is refused first)");
	cr_assert_eq(add(METRICS_GAUGE, "h_seconds_bucket", NULL, NULL, NULL), BND_E_METRICS_DUP);

	struct metrics_desc d = {.type = METRICS_GAUGE, .name = "s", .help = "h", .scale = 25};
	struct metrics_family *f;
	cr_assert_eq(metrics_family_add(m, &d, &f), BND_E_METRICS_NAME, "scale not 10^k");
	d.scale = 1000;
	d.help = "two\nlines are escaped";
	cr_assert_eq(metrics_family_add(m, &d, &f), 0);
	static const uint64_t dec[] = {3, 2};
	struct metrics_desc h = {.type = METRICS_HISTOGRAM, .name = "hh", .help = "h",
	                         .buckets = dec, .nbuckets = 2};
	cr_assert_eq(metrics_family_add(m, &h, &f), BND_E_METRICS_NAME, "buckets must increase");
	h.nbuckets = 0;
	cr_assert_eq(metrics_family_add(m, &h, &f), BND_E_METRICS_NAME, "no buckets");
	struct metrics_desc many = {.type = METRICS_GAUGE, .name = "many", .help = "h",
	                            .labels = {"a", "b", "c", "d", "e"}};
	cr_assert_eq(metrics_family_add(m, &many, &f), BND_E_METRICS_NAME, "too many labels");
	cr_assert_eq(metrics_family_add(NULL, &d, &f), BND_E_INVAL);
	render_parse(m);
}

Test(metrics, series_refuse_wrong_labels_types_duplicates_and_phone_numbers, .init = open_m,
     .fini = close_m)
{
	struct metrics_family *f, *g;
	cr_assert_eq(add(METRICS_COUNTER, "msg_total", "outcome", "code", &f), 0);
	cr_assert_eq(add(METRICS_GAUGE, "plain", NULL, NULL, &g), 0);
	struct metrics_counter *c;
	struct metrics_gauge *gg;
	const char *v1[] = {"failed", "131026"};
	cr_assert_eq(metrics_counter_series(f, v1, &c), 0);
	cr_assert_not_null(c);
	cr_assert_eq(metrics_counter_series(f, v1, &c), BND_E_METRICS_DUP);
	cr_assert_eq(metrics_gauge_series(f, v1, &gg), BND_E_METRICS_TYPE);
	cr_assert_eq(metrics_counter_series(f, NULL, &c), BND_E_METRICS_LABELS);
	const char *vnull[] = {"failed", NULL};
	cr_assert_eq(metrics_counter_series(f, vnull, &c), BND_E_METRICS_LABELS);
	const char *phone[] = {"failed", "393351234567"};
	cr_assert_eq(metrics_counter_series(f, phone, &c), BND_E_METRICS_PRIVACY);
	const char *phone2[] = {"to +39 335 123 4567", ""};
	cr_assert_eq(metrics_counter_series(f, phone2, &c), BND_E_METRICS_PRIVACY);
	const char *badutf[] = {"\xc3", ""};
	cr_assert_eq(metrics_counter_series(f, badutf, &c), BND_E_METRICS_LABELS);
	char longv[METRICS_VALUE_MAX + 2];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	const char *toolong[] = {longv, ""};
	cr_assert_eq(metrics_counter_series(f, toolong, &c), BND_E_METRICS_LABELS);
	cr_assert_eq(metrics_gauge_series(g, NULL, &gg), 0);
	cr_assert_eq(metrics_gauge_series(g, NULL, &gg), BND_E_METRICS_DUP, "one series only");
	render_parse(m);
	cr_assert_eq(doc.ns, 2, "only the two accepted series are rendered");
}

Test(metrics, label_values_and_help_are_escaped, .init = open_m, .fini = close_m)
{
	struct metrics_desc d = {.type = METRICS_GAUGE, .name = "esc", .labels = {"v", NULL},
	                         .help = "back\\slash and\nnewline"};
	struct metrics_family *f;
	cr_assert_eq(metrics_family_add(m, &d, &f), 0);
	const char *weird = "a\"quote\" \\back\\ new\nline è 📵";
	const char *v[] = {weird};
	struct metrics_gauge *g;
	cr_assert_eq(metrics_gauge_series(f, v, &g), 0);
	metrics_gauge_set(g, 42);
	char *t = render(m, NULL);
	cr_assert(strstr(t, "esc{v=\"a\\\"quote\\\" \\\\back\\\\ new\\nline è 📵\"} 42\n"), "%s", t);
	cr_assert(strstr(t, "# HELP esc back\\\\slash and\\nnewline\n"), "%s", t);
	bnd_free(t);
	render_parse(m);
	char canon[256];
	snprintf(canon, sizeof canon, "v=\"%s\"", weird);
	cr_assert_eq(prom_value(&doc, "esc", canon, NULL), 42, "round trip through escaping");
	cr_assert_str_eq(doc.f[0].help, "back\\slash and\nnewline");
}

Test(metrics, empty_label_values_are_left_out, .init = open_m, .fini = close_m)
{
	struct metrics_family *f;
	cr_assert_eq(add(METRICS_COUNTER, "m_total", "outcome", "code", &f), 0);
	struct metrics_counter *a, *b;
	const char *va[] = {"accepted", ""};
	const char *vb[] = {"failed", "131026"};
	cr_assert_eq(metrics_counter_series(f, va, &a), 0);
	cr_assert_eq(metrics_counter_series(f, vb, &b), 0);
	metrics_counter_add(a, 5);
	metrics_counter_inc(b);
	char *t = render(m, NULL);
	cr_assert(strstr(t, "\nm_total{outcome=\"accepted\"} 5\n"), "%s", t);
	cr_assert(strstr(t, "\nm_total{outcome=\"failed\",code=\"131026\"} 1\n"), "%s", t);
	bnd_free(t);
	render_parse(m);
}

Test(metrics, scaled_values_print_exact_decimals, .init = open_m, .fini = close_m)
{
	struct metrics_desc d = {.type = METRICS_GAUGE, .name = "rate", .help = "h",
	                         .labels = {"k", NULL}, .scale = 1000};
	struct metrics_family *f;
	cr_assert_eq(metrics_family_add(m, &d, &f), 0);
	static const struct {
		int64_t raw;
		const char *text;
	} cases[] = {
		{0, "0"}, {1, "0.001"}, {1000, "1"}, {79500, "79.5"}, {-1500, "-1.5"},
		{INT64_MAX, "9223372036854775.807"}, {INT64_MIN, "-9223372036854775.808"},
	};
	struct metrics_gauge *g[7];
	for (size_t i = 0; i < 7; i++) {
		char k[8];
		snprintf(k, sizeof k, "c%zu", i);
		const char *v[] = {k};
		cr_assert_eq(metrics_gauge_series(f, v, &g[i]), 0);
		metrics_gauge_set(g[i], cases[i].raw);
	}
	char *t = render(m, NULL);
	for (size_t i = 0; i < 7; i++) {
		char want[96];
		snprintf(want, sizeof want, "rate{k=\"c%zu\"} %s\n", i, cases[i].text);
		cr_assert(strstr(t, want), "want %s in\n%s", want, t);
	}
	bnd_free(t);
	render_parse(m);
	metrics_gauge_add(g[2], -3000);
	cr_assert_eq(metrics_gauge_get(g[2]), -2000);
}

Test(metrics, histogram_buckets_include_their_bound, .init = open_m, .fini = close_m)
{
	static const uint64_t b[] = {1000000, 5000000, 1000000000};  /* 1 ms, 5 ms, 1 s */
	struct metrics_desc d = {.type = METRICS_HISTOGRAM, .name = "lat_seconds", .help = "h",
	                         .scale = 1000000000, .buckets = b, .nbuckets = 3};
	struct metrics_family *f;
	struct metrics_histogram *h;
	cr_assert_eq(metrics_family_add(m, &d, &f), 0);
	cr_assert_eq(metrics_histogram_series(f, NULL, &h), 0);
	uint64_t obs[] = {0, 1000000, 1000001, 5000000, 999999999, 1000000000, 1000000001, 7};
	uint64_t sum = 0;
	for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++) {
		metrics_histogram_observe(h, obs[i]);
		sum += obs[i];
	}
	cr_assert_eq(metrics_histogram_count(h), 8);
	render_parse(m);
	cr_assert_eq(prom_value(&doc, "lat_seconds_bucket", "", "0.001"), 3);  /* 0, 1ms, 7ns */
	cr_assert_eq(prom_value(&doc, "lat_seconds_bucket", "", "0.005"), 5);
	cr_assert_eq(prom_value(&doc, "lat_seconds_bucket", "", "1"), 7);
	cr_assert_eq(prom_value(&doc, "lat_seconds_bucket", "", "+Inf"), 8);
	cr_assert_eq(prom_value(&doc, "lat_seconds_count", "", NULL), 8);
	cr_assert_float_eq(prom_value(&doc, "lat_seconds_sum", "", NULL), (double)sum / 1e9, 1e-12);
}

Test(metrics, null_handles_are_ignored)
{
	metrics_counter_inc(NULL);
	metrics_counter_add(NULL, 5);
	metrics_gauge_set(NULL, 1);
	metrics_gauge_add(NULL, 1);
	metrics_histogram_observe(NULL, 1);
	cr_assert_eq(metrics_counter_get(NULL), 0);
	cr_assert_eq(metrics_gauge_get(NULL), 0);
	cr_assert_eq(metrics_histogram_count(NULL), 0);
	metrics_set_failed(NULL, 131026);
	cr_assert_eq(metrics_render(NULL, NULL, NULL), BND_E_INVAL);
	cr_assert_eq(metrics_open(NULL), BND_E_INVAL);
}

/* ---------------------------------------------------------- concurrency */

#define THREADS 4
#define PER_THREAD 200000

struct race {
	struct metrics_counter *shared, *own[THREADS];
	struct metrics_histogram *h;
	struct metrics_gauge *g;
	int id;
};

static void *hammer(void *arg)
{
	struct race *r = arg;
	for (uint64_t i = 0; i < PER_THREAD; i++) {
		metrics_counter_inc(r->shared);
		metrics_counter_inc(r->own[r->id]);
		metrics_histogram_observe(r->h, i % 7);
		metrics_gauge_add(r->g, 1);
		metrics_gauge_add(r->g, -1);
	}
	return NULL;
}

Test(metrics, concurrent_updates_lose_nothing_and_scrapes_stay_valid, .init = open_m,
     .fini = close_m)
{
	static const uint64_t b[] = {1, 3, 5};
	struct metrics_family *fc, *fh, *fg;
	struct race base = {0};
	cr_assert_eq(add(METRICS_COUNTER, "c_total", "t", NULL, &fc), 0);
	const char *sv[] = {"shared"};
	cr_assert_eq(metrics_counter_series(fc, sv, &base.shared), 0);
	for (int i = 0; i < THREADS; i++) {
		char name[8];
		snprintf(name, sizeof name, "t%d", i);
		const char *v[] = {name};
		cr_assert_eq(metrics_counter_series(fc, v, &base.own[i]), 0);
	}
	struct metrics_desc dh = {.type = METRICS_HISTOGRAM, .name = "hist", .help = "h",
	                          .buckets = b, .nbuckets = 3};
	cr_assert_eq(metrics_family_add(m, &dh, &fh), 0);
	cr_assert_eq(metrics_histogram_series(fh, NULL, &base.h), 0);
	cr_assert_eq(add(METRICS_GAUGE, "inflight", NULL, NULL, &fg), 0);
	cr_assert_eq(metrics_gauge_series(fg, NULL, &base.g), 0);

	pthread_t th[THREADS];
	struct race r[THREADS];
	for (int i = 0; i < THREADS; i++) {
		r[i] = base;
		r[i].id = i;
		cr_assert_eq(pthread_create(&th[i], NULL, hammer, &r[i]), 0);
	}
	/* scrape while they run: every scrape must be valid (the +Inf == _count
	 * invariant must hold mid-flight) */
	for (int k = 0; k < 50; k++)
		render_parse(m);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);

	cr_assert_eq(metrics_counter_get(base.shared), (uint64_t)THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(metrics_counter_get(base.own[i]), PER_THREAD);
	cr_assert_eq(metrics_histogram_count(base.h), (uint64_t)THREADS * PER_THREAD);
	cr_assert_eq(metrics_gauge_get(base.g), 0);
	render_parse(m);
	/* i % 7 over 0..PER_THREAD-1: values 0..6; <=1: 0,1; <=3: +2,3; <=5: +4,5 */
	uint64_t per[7] = {0};
	for (uint64_t i = 0; i < PER_THREAD; i++)
		per[i % 7]++;
	double le1 = (double)THREADS * (double)(per[0] + per[1]);
	cr_assert_eq(prom_value(&doc, "hist_bucket", "", "1"), le1);
	cr_assert_eq(prom_value(&doc, "hist_count", "", NULL), (double)THREADS * PER_THREAD);
	uint64_t sum = 0;
	for (int v = 0; v < 7; v++)
		sum += per[v] * (uint64_t)v;
	cr_assert_eq(prom_value(&doc, "hist_sum", "", NULL), (double)sum * THREADS);
}

/* ----------------------------------------------------- the project's set */

static struct metrics_set set;

static void open_set(void)
{
	open_m();
	struct metrics_build b = {.version = "0.1.0", .loop = "io_uring"};
	cr_assert_eq(metrics_set_register(m, &set, &b), 0);
}

Test(metrics, project_set_renders_valid_text_with_every_series, .init = open_set,
     .fini = close_m)
{
	render_parse(m);
	cr_assert_geq(doc.nf, 25);
	for (size_t i = 0; i < doc.nf; i++) {
		cr_assert(doc.f[i].has_help && doc.f[i].has_type, "%s", doc.f[i].name);
		cr_assert(doc.f[i].samples > 0, "%s has series", doc.f[i].name);
		cr_assert(!strncmp(doc.f[i].name, "banditore_", 10), "%s", doc.f[i].name);
	}
	cr_assert_eq(prom_value(&doc, "banditore_build_info",
	                        "loop=\"io_uring\",version=\"0.1.0\"", NULL), 1);
	/* every known code is a series of failed and retried, plus the three
	 * catch-alls; accepted has no code label */
	cr_assert_eq(prom_value(&doc, "banditore_messages_total", "outcome=\"accepted\"", NULL), 0);
	for (size_t k = 0; k < METRICS_CODES_COUNT; k++) {
		char l[96];
		snprintf(l, sizeof l, "code=\"%s\",outcome=\"failed\"", metrics_code_names[k]);
		cr_assert_eq(prom_value(&doc, "banditore_messages_total", l, NULL), 0, "%s", l);
	}
	cr_assert_eq(prom_value(&doc, "banditore_subscribers", "state=\"confirmed\"", NULL), 0);
	cr_assert(isnan(prom_value(&doc, "banditore_subscribers", "state=\"none\"", NULL)));
	/* a bounded exposition: a scrape stays small */
	cr_assert_lt(doc.ns, 600, "%zu samples", doc.ns);
}

Test(metrics, project_set_counts_what_the_engine_reports, .init = open_set, .fini = close_m)
{
	metrics_counter_inc(set.webhooks[METRICS_WH_BAD_SIGNATURE]);
	metrics_counter_add(set.commands[METRICS_VERB_ON], 3);
	metrics_counter_add(set.messages[METRICS_OUT_ACCEPTED], 1000);
	metrics_set_failed(&set, 131026);
	metrics_set_failed(&set, 131026);
	metrics_set_failed(&set, 424242);          /* unknown: other */
	metrics_set_failed(&set, METRICS_CODE_TRANSPORT);
	metrics_set_retried(&set, 130429);
	metrics_set_status_failed(&set, 131047);
	metrics_counter_inc(set.statuses[METRICS_ST_DELIVERED]);
	metrics_gauge_set(set.limiter_rate, 56000);  /* cut to 56/s after a 130429 */
	metrics_gauge_set(set.subscribers[2], 20000);
	metrics_gauge_set(set.notice_remaining[0], 1234);
	metrics_histogram_observe(set.fsync[METRICS_FILE_STORE], 800000);  /* 0.8 ms */
	metrics_histogram_observe(set.confirmation, 3000000000ull);        /* 3 s */
	metrics_gauge_set(set.confirmation_slo, 48 * 3600);
	render_parse(m);
	cr_assert_eq(prom_value(&doc, "banditore_webhooks_total", "outcome=\"bad_signature\"",
	                        NULL), 1);
	cr_assert_eq(prom_value(&doc, "banditore_commands_total", "verb=\"on\"", NULL), 3);
	cr_assert_eq(prom_value(&doc, "banditore_messages_total", "outcome=\"accepted\"", NULL),
	             1000);
	cr_assert_eq(prom_value(&doc, "banditore_messages_total",
	                        "code=\"131026\",outcome=\"failed\"", NULL), 2);
	cr_assert_eq(prom_value(&doc, "banditore_messages_total",
	                        "code=\"other\",outcome=\"failed\"", NULL), 1);
	cr_assert_eq(prom_value(&doc, "banditore_messages_total",
	                        "code=\"transport\",outcome=\"failed\"", NULL), 1);
	cr_assert_eq(prom_value(&doc, "banditore_messages_total",
	                        "code=\"130429\",outcome=\"retried\"", NULL), 1);
	cr_assert_eq(prom_value(&doc, "banditore_statuses_total",
	                        "code=\"131047\",status=\"failed\"", NULL), 1);
	cr_assert_eq(prom_value(&doc, "banditore_statuses_total", "status=\"delivered\"", NULL), 1);
	cr_assert_eq(prom_value(&doc, "banditore_limiter_rate", "", NULL), 56);
	cr_assert_eq(prom_value(&doc, "banditore_subscribers", "state=\"confirmed\"", NULL), 20000);
	cr_assert_eq(prom_value(&doc, "banditore_notice_remaining", "category=\"emergency\"",
	                        NULL), 1234);
	cr_assert_eq(prom_value(&doc, "banditore_fsync_seconds_bucket", "file=\"store\"", "0.001"),
	             1);
	cr_assert_eq(prom_value(&doc, "banditore_fsync_seconds_bucket", "file=\"store\"",
	                        "0.0005"), 0);
	cr_assert_eq(prom_value(&doc, "banditore_confirmation_seconds_bucket", "", "172800"), 1);
	cr_assert_eq(prom_value(&doc, "banditore_confirmation_slo_seconds", "", NULL), 172800);
}

Test(metrics, code_table_maps_every_known_code_to_itself)
{
	for (size_t k = 0; k + 3 < METRICS_CODES_COUNT; k++) {
		int code = atoi(metrics_code_names[k]);
		cr_assert_eq(metrics_code_index(code), k, "%d", code);
		if (k > 0)
			cr_assert_lt(atoi(metrics_code_names[k - 1]), code, "sorted");
	}
	cr_assert_str_eq(metrics_code_names[metrics_code_index(METRICS_CODE_TRANSPORT)],
	                 "transport");
	cr_assert_str_eq(metrics_code_names[metrics_code_index(METRICS_CODE_HTTP)], "http");
	cr_assert_str_eq(metrics_code_names[metrics_code_index(-7)], "other");
	cr_assert_str_eq(metrics_code_names[metrics_code_index(131027)], "other");
	cr_assert_str_eq(metrics_code_names[metrics_code_index(999999)], "other");
}

Test(metrics, project_set_registers_once, .init = open_set, .fini = close_m)
{
	struct metrics_set again;
	struct metrics_build b = {.version = "0.1.0", .loop = "epoll"};
	cr_assert_eq(metrics_set_register(m, &again, &b), BND_E_METRICS_DUP);
	struct metrics *m2;
	cr_assert_eq(metrics_open(&m2), 0);
	struct metrics_build phone = {.version = "393351234567", .loop = "epoll"};
	cr_assert_eq(metrics_set_register(m2, &again, &phone), BND_E_METRICS_PRIVACY);
	metrics_close(&m2);
}

Test(metrics, allocation_failures_return_nomem_and_leak_nothing)
{
	long ok_at = -1;
	for (long n = 0; n < 2000; n++) {
		struct metrics *mm = NULL;
		struct metrics_set s;
		struct metrics_build b = {.version = "0.1.0", .loop = "epoll"};
		bnd_alloc_fail_after(n);
		int rc = metrics_open(&mm);
		if (rc == 0)
			rc = metrics_set_register(mm, &s, &b);
		char *t = NULL;
		if (rc == 0)
			rc = metrics_render(mm, &t, NULL);
		bnd_alloc_fail_after(-1);
		bnd_free(t);
		metrics_close(&mm);
		if (rc == 0) {
			ok_at = n;
			break;
		}
		cr_assert_eq(rc, BND_E_NOMEM, "n=%ld: %s", n, bnd_strerror(rc));
	}
	LEAK_CHECK();
	cr_assert_gt(ok_at, 200, "every series allocates (%ld)", ok_at);
}

/* -------------------------------------------------------- the document */

Test(metrics, doc_lists_every_family, .init = open_set, .fini = close_m)
{
	const char *src = getenv("SRC_DIR");
	cr_assert_not_null(src, "SRC_DIR is set by CTest");
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/METRICS.md", src);
	FILE *fp = fopen(path, "rb");
	cr_assert_not_null(fp, "%s", path);
	static char text[1 << 18];
	size_t n = fread(text, 1, sizeof text - 1, fp);
	text[n] = '\0';
	fclose(fp);
	render_parse(m);
	for (size_t i = 0; i < doc.nf; i++) {
		char want[200];
		snprintf(want, sizeof want, "| `%s`", doc.f[i].name);
		cr_assert(strstr(text, want), "docs/METRICS.md has no row for %s", doc.f[i].name);
	}
	/* and every family row of the doc exists */
	size_t rows = 0;
	for (const char *p = text; (p = strstr(p, "\n| `banditore_")); p++) {
		char name[160];
		const char *q = p + 4, *e = strchr(q, '`');
		snprintf(name, sizeof name, "%.*s", (int)(e - q), q);
		cr_assert_geq(prom__find_family(&doc, name), 0, "docs/METRICS.md lists %s, which "
		                                                "is not registered", name);
		rows++;
	}
	cr_assert_eq(rows, doc.nf, "one row per family");
}
