/*
 * test_wamock_format.c - the texts wa-mock writes and reads besides request
 * bodies: the JSON writer (tools/wa-mock/jw.c) and its Meta-style escaping,
 * Graph error bodies (gerror.c), wamids and base64 (wamid.c), the template
 * grammar (templates.c), record lines (record.c), the webhook signature
 * (webhook.c), the stats JSON (stats.c) and the command line (conf.c).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "../../tools/wa-mock/speclist.c"
#include "../../tools/wa-mock/dheap.c"
#include "../../tools/wa-mock/faults.c"
#include "../../tools/wa-mock/jw.c"
#include "../../tools/wa-mock/gerror.c"
#include "../../tools/wa-mock/templates.c"
#include "../../tools/wa-mock/wamid.c"
#include "../../tools/wa-mock/record.c"
#include "../../tools/wa-mock/stats.c"
#include "../../tools/wa-mock/webhook.c"
#include "../../tools/wa-mock/conf.c"

static char buf[4096];

static const char *esc(const char *s, size_t n, enum jw_mode m)
{
	struct jw w;
	jw_init(&w, buf, sizeof buf);
	jw_str(&w, (const uint8_t *)s, n, m);
	cr_assert(jw_ok(&w));
	return buf;
}

Test(wamock_jw, escapes_for_json_in_both_modes)
{
	cr_assert_str_eq(esc("a\"b\\c\n\x01/", 8, JW_UTF8), "\"a\\\"b\\\\c\\n\\u0001/\"");
	cr_assert_str_eq(esc("caf\xc3\xa9", 5, JW_UTF8), "\"caf\xc3\xa9\"");
	/* Meta's webhook form: ASCII only, lowercase \u, slashes escaped */
	cr_assert_str_eq(esc("caf\xc3\xa9/\xe2\x82\xac", 9, JW_META), "\"caf\\u00e9\\/\\u20ac\"");
	cr_assert_str_eq(esc("\xf0\x9f\x98\x80", 4, JW_META), "\"\\ud83d\\ude00\"");
	cr_assert_str_eq(esc("\xff\xc3", 2, JW_META), "\"\\ufffd\\ufffd\"", "invalid UTF-8");
	cr_assert_str_eq(esc("a\0b", 3, JW_UTF8), "\"a\\u0000b\"", "NUL is data, not the end");
	/* what jansson reads back is what went in */
	const char *in = "x\"\\\x7f\xc3\xa8\xf0\x9f\x98\x80/end";
	json_error_t e;
	json_t *j = json_loads(esc(in, strlen(in), JW_META), JSON_DECODE_ANY, &e);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(j), in);
	json_decref(j);
}

Test(wamock_jw, overflow_is_never_a_truncated_document)
{
	char small[8];
	struct jw w;
	jw_init(&w, small, sizeof small);
	jw_lit(&w, "{\"a\":");
	cr_assert_eq(jw_len(&w), 5);
	jw_u64(&w, 123456);
	cr_assert(!jw_ok(&w));
	cr_assert_eq(jw_len(&w), 0);
	jw_lit(&w, "}");
	cr_assert_eq(jw_len(&w), 0, "stays overflowed");
	jw_init(&w, small, sizeof small);
	jw_i64(&w, -42);
	cr_assert_str_eq(small, "-42");
}

Test(wamock_gerror, renders_the_graph_shape_with_the_table_status)
{
	int codes[] = {190, 100, 130429, 131056, 131026, 132000, 132001, 131000, 2, 368, 250, 777};
	int http[] = {401, 400, 400, 400, 400, 400, 404, 500, 503, 403, 403, 400};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		struct jw w;
		jw_init(&w, buf, sizeof buf);
		gerror_render(&w, codes[i], -1, NULL, NULL, 5);
		cr_assert_eq(gerror_http_status(codes[i]), http[i], "code %d", codes[i]);
		json_error_t e;
		json_t *j = json_loadb(buf, jw_len(&w), 0, &e);
		cr_assert_not_null(j, "%s", buf);
		json_t *err = json_object_get(j, "error");
		cr_assert_eq(json_integer_value(json_object_get(err, "code")), codes[i]);
		cr_assert_eq(strlen(json_string_value(json_object_get(err, "fbtrace_id"))), 27);
		const char *msg = json_string_value(json_object_get(err, "message"));
		if (codes[i] != 190) {
			char pre[16];
			snprintf(pre, sizeof pre, "(#%d) ", codes[i]);
			cr_assert_eq(strncmp(msg, pre, strlen(pre)), 0, "%s", msg);
		}
		json_t *data = json_object_get(err, "error_data");
		if (codes[i] == 190 || codes[i] == 250)
			cr_assert_null(data, "Graph-level errors carry no error_data");
		else
			cr_assert_str_eq(json_string_value(json_object_get(data, "messaging_product")),
			                 "whatsapp");
		if (codes[i] == 131056)
			cr_assert_eq(json_integer_value(json_object_get(err, "error_subcode")), 2494055);
		json_decref(j);
	}
}

Test(wamock_gerror, client_text_in_messages_is_escaped)
{
	struct jw w;
	jw_init(&w, buf, sizeof buf);
	gerror_render(&w, 132001, -1, NULL, "template name (\"x\xff\\) does not exist", 1);
	json_error_t e;
	json_t *j = json_loadb(buf, jw_len(&w), 0, &e);
	cr_assert_not_null(j, "%s", buf);
	json_decref(j);
}

Test(wamock_wamid, base64_and_ids_have_the_expected_form)
{
	char out[16];
	cr_assert_eq(wamid_base64((const uint8_t *)"foobar", 6, out), 8);
	cr_assert_str_eq(out, "Zm9vYmFy");
	wamid_base64((const uint8_t *)"fooba", 5, out);
	cr_assert_str_eq(out, "Zm9vYmE=");
	wamid_base64((const uint8_t *)"f", 1, out);
	cr_assert_str_eq(out, "Zg==");
	char a[WAMID_BUF], b[WAMID_BUF], c2[WAMID_BUF];
	cr_assert_eq(wamid_make(a, 1, 2, 3, 393351234567ULL), WAMID_LEN);
	wamid_make(b, 1, 2, 3, 393351234567ULL);
	wamid_make(c2, 1, 9, 3, 393351234567ULL);
	cr_assert_str_eq(a, b, "pure");
	cr_assert_str_neq(a, c2, "another process (nonce) gives another id");
	cr_assert_eq(strncmp(a, "wamid.", 6), 0);
	for (const char *p = a + 6; *p; p++)
		cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", *p));
}

Test(wamock_templates, parses_the_grammar_and_finds_by_name_and_language)
{
	struct templates t = {0};
	const char *spec = "notice:it:1,welcome:en:0:paused,promo:it:2:approved:marketing";
	cr_assert_eq(templates_parse(&t, spec, strlen(spec), NULL), 0);
	cr_assert_eq(t.n, 3);
	int known;
	const struct templates_entry *e =
		templates_find(&t, (const uint8_t *)"promo", 5, (const uint8_t *)"it", 2, &known);
	cr_assert_not_null(e);
	cr_assert_eq(e->params, 2);
	cr_assert_str_eq(e->category, "marketing");
	cr_assert_null(templates_find(&t, (const uint8_t *)"notice", 6, (const uint8_t *)"en", 2, &known));
	cr_assert_eq(known, 1);
	cr_assert_null(templates_find(&t, (const uint8_t *)"noti", 4, (const uint8_t *)"it", 2, &known));
	cr_assert_eq(known, 0);
	const char *bad[] = {"", "a", "a:it", "a:it:x", "a:it:1:maybe", "a b:it:1", "a:i:1",
	                     "a:it:1:approved:spam", "a:it:1,", "a:it:-1", "a:it:101"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct templates u = {0};
		cr_assert_neq(templates_parse(&u, bad[i], strlen(bad[i]), NULL), 0, "'%s'", bad[i]);
	}
	struct templates d = {0};
	cr_assert_eq(templates_parse(&d, TEMPLATES_DEFAULT, strlen(TEMPLATES_DEFAULT), NULL), 0);
	e = templates_find(&d, (const uint8_t *)"notice", 6, (const uint8_t *)"it", 2, NULL);
	cr_assert(e && e->params == 1, "the default notice takes one parameter");
	cr_assert_not_null(templates_find(&d, (const uint8_t *)"welcome", 7, (const uint8_t *)"it", 2, NULL));
	/* a later entry redefines one: "--templates +welcome:it:1" */
	cr_assert_eq(templates_parse(&d, "welcome:it:1", 12, NULL), 0);
	e = templates_find(&d, (const uint8_t *)"welcome", 7, (const uint8_t *)"it", 2, NULL);
	cr_assert(e && e->params == 1);
}

Test(wamock_record, lines_have_exactly_the_product_format)
{
	char line[512];
	size_t n = record_format(line, sizeof line, 393351234567ULL, "wamid.QUJD", 10,
	                         (const uint8_t *)"b=4711;s=\"9\"", 12, "template", 1760263200123ULL);
	cr_assert_str_eq(line, "{\"to\":\"393351234567\",\"wamid\":\"wamid.QUJD\",\"tag\":"
	                       "\"b=4711;s=\\\"9\\\"\",\"type\":\"template\",\"t_ms\":1760263200123}\n");
	cr_assert_eq(n, strlen(line));
	cr_assert_eq(record_format(line, 40, 393351234567ULL, "wamid.QUJD", 10,
	                           (const uint8_t *)"", 0, "text", 1), 0, "too small: nothing");
}

Test(wamock_webhook, signature_is_hmac_sha256_hex)
{
	/* RFC 4231 test case 2 */
	char sig[80];
	const char *data = "what do ya want for nothing?";
	cr_assert_eq(webhook_sign((const uint8_t *)"Jefe", 4, (const uint8_t *)data, strlen(data),
	                          sig), 0);
	cr_assert_str_eq(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(wamock_stats, renders_valid_json_with_the_counts)
{
	static struct stats s;
	atomic_store(&s.requests, 10);
	atomic_store(&s.accepted, 7);
	stats_code_add(&s.errors, 130429);
	stats_code_add(&s.errors, 130429);
	stats_code_add(&s.errors, 190);
	stats_code_add(&s.async_failed, 131026);
	for (int i = 0; i < 5; i++)
		stats_rate_add(&s.acc_rate, 41 * 1000000000ull + (uint64_t)i);
	struct stats_extra x = {.unique_recipients = 6, .repeated_recipients = 1, .seed = 9};
	struct jw w;
	jw_init(&w, buf, sizeof buf);
	stats_render(&s, &x, 42 * 1000000000ull, &w);
	json_error_t e;
	json_t *j = json_loadb(buf, jw_len(&w), 0, &e);
	cr_assert_not_null(j, "%s", buf);
	cr_assert_eq(json_integer_value(json_object_get(j, "requests")), 10);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "errors"), "130429")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "async_failed"), "131026")), 1);
	cr_assert_eq(json_integer_value(json_object_get(j, "unique_recipients")), 6);
	cr_assert_eq(json_integer_value(json_object_get(j, "recipients_accepted_more_than_once")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rate_per_s"), "accepted")), 5);
	json_decref(j);
	char line[512];
	stats_summary(&s, &x, line, sizeof line);
	cr_assert(strstr(line, "requests=10 accepted=7"), "%s", line);
	cr_assert(strstr(line, "errors={130429:2 190:1}"), "%s", line);
}

static int parse_args(struct conf *c, const char *const *args)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)"wa-mock";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	FILE *null = fopen("/dev/null", "w");
	conf_defaults(c);
	int rc = conf_parse(c, argc, argv, null, null);
	fclose(null);
	return rc;
}

Test(wamock_conf, parses_flags_and_refuses_bad_values)
{
	static struct conf c;
	const char *none[] = {NULL};
	cr_assert_eq(parse_args(&c, none), 0);
	cr_assert_str_eq(c.listen_host, "127.0.0.1");
	cr_assert_eq(c.listen_port, 8089);
	cr_assert_float_eq(c.limits.rate, 80, 1e-9);
	const char *many[] = {"--listen", "[::1]:0", "--rate", "0", "--latency-ms", "5:10",
	                      "--error-mix", "131000:0.01,2:0.005,131026:0.02", "--seed", "77",
	                      "--templates", "+extra:it:3", "--tier", "250", "--webhook",
	                      "http://127.0.0.1:9/webhook", "--record", "/tmp/x", NULL};
	cr_assert_eq(parse_args(&c, many), 0);
	cr_assert_str_eq(c.listen_host, "::1");
	cr_assert_eq(c.listen_port, 0);
	cr_assert_float_eq(c.limits.rate, 0, 1e-9);
	cr_assert_eq(c.faults.lat_min_ns, 5000000);
	cr_assert_eq(c.faults.lat_max_ns, 10000000);
	cr_assert_eq(c.faults.nmix, 3);
	cr_assert_eq(c.faults.seed, 77);
	cr_assert(c.seed_set);
	cr_assert_eq(c.templates.n, 6, "defaults plus one");
	cr_assert_eq(c.limits.tier, 250);
	const char *help[] = {"--help", NULL};
	cr_assert_eq(parse_args(&c, help), 1);
	const char *const bad[][3] = {
		{"--rate", "-1", NULL}, {"--listen", "nohost", NULL}, {"--listen", "h:99999", NULL},
		{"--latency-ms", "10:5", NULL}, {"--error-mix", "131000:2", NULL},
		{"--seed", "x", NULL}, {"--webhook", "ftp://x", NULL}, {"--bogus", NULL, NULL},
		{"--threads", "0", NULL}, {"--latency-dist", "lognormal:250", NULL},
		{"--phone-number-id", "12a", NULL}, {"stray", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(parse_args(&c, bad[i]), -1, "accepted %s %s", bad[i][0],
		             bad[i][1] ? bad[i][1] : "");
}

Test(wamock_conf, loads_a_file_of_numbers_sorted)
{
	char path[] = "/tmp/wamock-nowa-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs("# not on WhatsApp\n+39 335 000 0009\n\n393350000001\n", f);
	fclose(f);
	uint64_t *v = NULL;
	size_t n = 0, bad = 0;
	cr_assert_eq(conf_load_numbers(path, &v, &n, &bad), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[0], 393350000001ULL);
	cr_assert_eq(v[1], 393350000009ULL);
	bnd_free(v);
	f = fopen(path, "a");
	fputs("12x\n", f);
	fclose(f);
	cr_assert_eq(conf_load_numbers(path, &v, &n, &bad), BND_E_PHONE_CHAR);
	cr_assert_eq(bad, 5);
	unlink(path);
}
