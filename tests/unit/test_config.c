/* test_config.c - settings: defaults, the file, flags, environment, checks,
 * the dump round trip, and that docs/CONFIG.md lists every key (engine/config.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnd.h"
#include "config.h"

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

#define NS_S 1000000000ull
#define NS_H (3600ull * NS_S)

static struct config cfg;
static char err[CONFIG_ERR_MAX];

static void setup(void)
{
	cr_assert_eq(config_defaults(&cfg), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	config_free(&cfg);
}

static int load(const char *json)
{
	err[0] = '\0';
	return config_load_json(&cfg, json, strlen(json), "test.json", err, sizeof err);
}

static char *dump(const struct config *c, unsigned flags)
{
	char *s = NULL;
	cr_assert_eq(config_dump_json(c, flags, &s), 0);
	cr_assert_not_null(s);
	return s;
}

/* A path for a temporary file, removed by the caller. */
static void write_tmp(char *path, size_t cap, const char *content)
{
	snprintf(path, cap, "/tmp/bnd_test_config_XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	size_t n = strlen(content);
	cr_assert_eq(write(fd, content, n), (ssize_t)n);
	close(fd);
}

/* ------------------------------------------------------------- defaults */

Test(config, defaults_follow_the_product_contract, .init = setup, .fini = teardown)
{
	cr_assert_str_eq(cfg.data, "./banditore-data");
	cr_assert_str_eq(cfg.listen, "127.0.0.1:8088");
	cr_assert_str_eq(cfg.api_base, "http://127.0.0.1:8089");
	cr_assert_str_eq(cfg.api_version, "v25.0");
	cr_assert_str_eq(cfg.phone_number_id, "110000000000001");
	cr_assert_str_eq(cfg.keyword, "JESI");
	cr_assert_eq(cfg.rate, 80);
	cr_assert_eq(cfg.window, 64);
	cr_assert_eq(cfg.burst, 0);
	cr_assert_eq(config_burst(&cfg), 4, "auto burst: 50 ms of 80/s");
	cr_assert_str_eq(cfg.notice_template, "notice");
	cr_assert_str_eq(cfg.notice_lang, "it");
	cr_assert_str_eq(cfg.welcome_template, "welcome");
	cr_assert_eq(cfg.auto_reply, false, "the number does not answer by default");
	cr_assert_eq(cfg.confirmation_slo_ns, 48 * NS_H);
	cr_assert_eq(cfg.log_level, BND_LOG_INFO);
	cr_assert_eq(cfg.log_format, CONFIG_LOG_LOGFMT);
	cr_assert_eq(cfg.loop, CONFIG_LOOP_AUTO);
	cr_assert_eq(cfg.http, CONFIG_HTTP_AUTO);
	cr_assert_eq(config_expiry_ns(&cfg, "emergency"), 6 * NS_H);
	cr_assert_eq(config_expiry_ns(&cfg, "info"), cfg.expiry_ns[CONFIG_CAT_INFO]);
	cr_assert_eq(config_expiry_ns(&cfg, "nonsense"), 0);
	cr_assert_null(cfg.wa_token, "secrets only from config_load_env");
	cr_assert_eq(config_check(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config, every_key_has_a_value_and_a_default_source, .init = setup, .fini = teardown)
{
	size_t n;
	const struct config_key *k = config_keys(&n);
	cr_assert_gt(n, 40);
	cr_assert_leq(n, CONFIG_KEYS_MAX);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(config_source(&cfg, k[i].key), CONFIG_SRC_DEFAULT, "%s", k[i].key);
		cr_assert_eq(config_key_find(k[i].key), &k[i]);
		char flag[80];
		snprintf(flag, sizeof flag, "--%s", k[i].flag);
		cr_assert_eq(config_key_find(flag), &k[i], "%s", flag);
		cr_assert_eq(config_key_find(k[i].flag), &k[i]);
		for (size_t j = 0; j < i; j++) {
			cr_assert_str_neq(k[i].key, k[j].key);
			cr_assert_str_neq(k[i].flag, k[j].flag);
		}
		cr_assert(strlen(k[i].help) > 5, "%s has help", k[i].key);
		if (k[i].type != CONFIG_T_UINT && k[i].type != CONFIG_T_DURATION &&
		    k[i].type != CONFIG_T_BOOL && k[i].type != CONFIG_T_ENUM)
			cr_assert_not_null(*(char **)((char *)&cfg + k[i].off), "%s", k[i].key);
	}
	cr_assert_null(config_key_find("no.such.key"));
	cr_assert_eq(config_source(&cfg, "no.such.key"), -1);
}

Test(config, default_welcome_is_italian_with_keyword_and_privacy_link, .init = setup,
     .fini = teardown)
{
	char buf[CONFIG_RENDER_MAX];
	int n = config_render(&cfg, cfg.welcome, buf, sizeof buf);
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(buf));
	cr_assert(strstr(buf, "Comune di Jesi"), "%s", buf);
	cr_assert(strstr(buf, "JESI OFF"), "%s", buf);
	cr_assert(strstr(buf, "Informativa privacy: https://"), "%s", buf);
	cr_assert_null(strchr(buf, '{'), "every placeholder filled: %s", buf);
	n = config_render(&cfg, cfg.opt_out_ack, buf, sizeof buf);
	cr_assert(n > 0 && strstr(buf, "JESI ON"), "%s", buf);
	n = config_render(&cfg, cfg.help_text, buf, sizeof buf);
	cr_assert(n > 0 && strstr(buf, "JESI ON") && strstr(buf, "JESI OFF"), "%s", buf);
}

/* ---------------------------------------------------------- round trips */

Test(config, dump_of_defaults_loads_back_unchanged, .init = setup, .fini = teardown)
{
	char *a = dump(&cfg, 0);
	struct config c2;
	cr_assert_eq(config_defaults(&c2), 0);
	cr_assert_eq(config_load_json(&c2, a, strlen(a), "dump", err, sizeof err), 0, "%s", err);
	char *b = dump(&c2, 0);
	cr_assert_str_eq(a, b);
	bnd_free(a);
	bnd_free(b);
	config_free(&c2);
}

/* Every key set to a value that is not its default. */
static const char full_example[] =
	"{\n"
	"  \"data\": \"/var/lib/banditore\",\n"
	"  \"serve\": {\"listen\": \"[::1]:9000\", \"threads\": 4, \"max_connections\": 2048,\n"
	"    \"max_connections_per_ip\": 64, \"idle_timeout\": \"20s\", \"body_timeout\": \"45s\",\n"
	"    \"webhook_max_body_bytes\": 4194304, \"api_max_body_bytes\": 131072},\n"
	"  \"api\": {\"base\": \"https://graph.facebook.com/\", \"version\": \"v24.0\",\n"
	"    \"phone_number_id\": \"123456789012345\", \"rate\": 1000, \"burst\": 50,\n"
	"    \"window\": 300, \"connections\": 8, \"request_timeout\": \"30s\",\n"
	"    \"connect_timeout\": \"3s\", \"retry_base\": \"500ms\", \"retry_cap\": \"30s\",\n"
	"    \"retry_budget\": \"10m\", \"pair_interval\": \"7s\", \"tier\": 100000,\n"
	"    \"loop\": \"epoll\", \"http\": \"curl\"},\n"
	"  \"city\": {\"keyword\": \"Fabriano\", \"name\": \"Comune di Fabriano\",\n"
	"    \"privacy_url\": \"https://www.comune.fabriano.gov.it/privacy?lang=it\"},\n"
	"  \"messages\": {\"welcome\": \"Ciao! {{benvenuto}} {city}. Esci: {keyword} OFF. "
	"Privacy: {privacy_url}\",\n"
	"    \"welcome_template\": \"benvenuto_2\", \"welcome_lang\": \"en_US\",\n"
	"    \"already_subscribed\": \"Già iscritto.\", \"opt_out_ack\": \"Cancellato.\\nA presto\",\n"
	"    \"help_text\": \"Aiuto: {keyword} ON / OFF. {privacy_url}\", \"auto_reply\": true,\n"
	"    \"auto_reply_text\": \"Numero senza risposta 📵\", \"auto_reply_interval\": \"12h\"},\n"
	"  \"notices\": {\"template\": \"avviso\", \"lang\": \"en\", \"expiry\": {\"emergency\": "
	"\"4h\",\n"
	"    \"disruption\": \"12h\", \"deadline\": \"7d\", \"event\": \"90m\", \"info\": \"14d\"}},\n"
	"  \"store\": {\"commit_interval\": \"250us\", \"commit_max_records\": 4096,\n"
	"    \"checkpoint_interval\": \"30m\", \"compact_interval\": \"6h\"},\n"
	"  \"log\": {\"level\": \"debug\", \"format\": \"json\"},\n"
	"  \"slo\": {\"confirmation\": \"24h\"}\n"
	"}\n";

Test(config, full_example_file_round_trips, .init = setup, .fini = teardown)
{
	char path[64];
	write_tmp(path, sizeof path, full_example);
	int rc = config_load_file(&cfg, path, err, sizeof err);
	unlink(path);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(config_check(&cfg, err, sizeof err), 0, "%s", err);

	/* every key came from the file, and none kept its default */
	size_t n;
	const struct config_key *k = config_keys(&n);
	struct config d;
	cr_assert_eq(config_defaults(&d), 0);
	char *ddump = dump(&d, 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(config_source(&cfg, k[i].key), CONFIG_SRC_FILE, "%s", k[i].key);
	config_free(&d);

	cr_assert_str_eq(cfg.listen, "[::1]:9000");
	cr_assert_str_eq(cfg.api_base, "https://graph.facebook.com", "final '/' dropped");
	cr_assert_eq(cfg.rate, 1000);
	cr_assert_eq(cfg.burst, 50);
	cr_assert_eq(config_burst(&cfg), 50);
	cr_assert_eq(cfg.loop, CONFIG_LOOP_EPOLL);
	cr_assert_eq(cfg.http, CONFIG_HTTP_CURL);
	cr_assert_eq(cfg.auto_reply, true);
	cr_assert_eq(cfg.expiry_ns[CONFIG_CAT_EVENT], 90ull * 60 * NS_S);
	cr_assert_eq(cfg.commit_interval_ns, 250000ull);
	cr_assert_eq(cfg.log_level, BND_LOG_DEBUG);
	cr_assert_str_eq(cfg.opt_out_ack, "Cancellato.\nA presto");

	char buf[CONFIG_RENDER_MAX];
	cr_assert_gt(config_render(&cfg, cfg.welcome, buf, sizeof buf), 0);
	cr_assert_str_eq(buf, "Ciao! {benvenuto} Comune di Fabriano. Esci: Fabriano OFF. "
	                      "Privacy: https://www.comune.fabriano.gov.it/privacy?lang=it");

	/* dump -> load -> dump is a fixed point */
	char *a = dump(&cfg, 0);
	cr_assert_str_neq(a, ddump);
	struct config c2;
	cr_assert_eq(config_defaults(&c2), 0);
	cr_assert_eq(config_load_json(&c2, a, strlen(a), "dump", err, sizeof err), 0, "%s", err);
	char *b = dump(&c2, 0);
	cr_assert_str_eq(a, b);
	bnd_free(a);
	bnd_free(b);
	bnd_free(ddump);
	config_free(&c2);
}

Test(config, dump_with_sources_and_secrets_redacts_values, .init = setup, .fini = teardown)
{
	setenv("BANDITORE_WA_TOKEN", "EAAGsecretvalue123", 1);
	unsetenv("BANDITORE_APP_SECRET");
	cr_assert_eq(config_load_env(&cfg), 0);
	cr_assert_eq(config_set(&cfg, "rate", "100", err, sizeof err), 0, "%s", err);
	char *s = dump(&cfg, CONFIG_DUMP_SECRETS | CONFIG_DUMP_SOURCES);
	cr_assert_null(strstr(s, "EAAGsecretvalue123"), "%s", s);
	cr_assert(strstr(s, "\"BANDITORE_WA_TOKEN\": \"(set, redacted)\""), "%s", s);
	cr_assert(strstr(s, "\"BANDITORE_APP_SECRET\": \"(unset)\""), "%s", s);
	cr_assert(strstr(s, "\"api.rate\": \"flag\""), "%s", s);
	cr_assert(strstr(s, "\"api.window\": \"default\""), "%s", s);
	/* a dump with the environment section is not a config file */
	struct config c2;
	cr_assert_eq(config_defaults(&c2), 0);
	cr_assert_neq(config_load_json(&c2, s, strlen(s), "dump", err, sizeof err), 0);
	config_free(&c2);
	bnd_free(s);
	s = dump(&cfg, 0);
	cr_assert_null(strstr(s, "EAAG"), "%s", s);
	cr_assert_null(strstr(s, "BANDITORE_"), "%s", s);
	bnd_free(s);
}

/* ------------------------------------------------------------ validation */

/* A JSON text setting key (a dotted path) to the raw JSON value. */
static void nest(char *out, size_t cap, const char *key, const char *value)
{
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s", key);
	size_t o = 0, depth = 0;
	o += (size_t)snprintf(out + o, cap - o, "{");
	for (char *p = tmp, *dot; (dot = strchr(p, '.')); p = dot + 1) {
		*dot = '\0';
		o += (size_t)snprintf(out + o, cap - o, "\"%s\": {", p);
		depth++;
	}
	const char *last = strrchr(key, '.');
	last = last ? last + 1 : key;
	o += (size_t)snprintf(out + o, cap - o, "\"%s\": %s", last, value);
	for (size_t i = 0; i <= depth; i++)
		o += (size_t)snprintf(out + o, cap - o, "}");
}

static void expect_error(const char *key, const char *value, int code)
{
	char json[600], quoted[80];
	nest(json, sizeof json, key, value);
	char *before = dump(&cfg, CONFIG_DUMP_SOURCES);
	int rc = load(json);
	cr_assert_eq(rc, code, "%s = %s: rc %d (%s), err \"%s\"", key, value, rc,
	             bnd_strerror(rc), err);
	snprintf(quoted, sizeof quoted, "\"%s\"", key);
	cr_assert(strstr(err, quoted), "error names %s: %s", quoted, err);
	cr_assert(strstr(err, "test.json"), "error names the file: %s", err);
	char *after = dump(&cfg, CONFIG_DUMP_SOURCES);
	cr_assert_str_eq(before, after, "a failed load changes nothing (%s)", key);
	bnd_free(before);
	bnd_free(after);
}

Test(config, every_key_rejects_a_wrong_type_and_names_itself, .init = setup, .fini = teardown)
{
	size_t n;
	const struct config_key *k = config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		const char *wrong = k[i].type == CONFIG_T_UINT   ? "\"80\""
		                    : k[i].type == CONFIG_T_BOOL ? "\"true\""
		                                                 : "17";
		expect_error(k[i].key, wrong, BND_E_CONFIG_TYPE);
		expect_error(k[i].key, "null", BND_E_CONFIG_TYPE);
		expect_error(k[i].key, "[1]", BND_E_CONFIG_TYPE);
		expect_error(k[i].key, "{}", BND_E_CONFIG_TYPE);
		if (k[i].type == CONFIG_T_UINT)
			expect_error(k[i].key, "1.5", BND_E_CONFIG_TYPE);
	}
}

Test(config, every_key_rejects_a_bad_value_and_names_itself, .init = setup, .fini = teardown)
{
	size_t n;
	const struct config_key *k = config_keys(&n);
	char v[64], d[32];
	for (size_t i = 0; i < n; i++) {
		switch (k[i].type) {
		case CONFIG_T_UINT:
			snprintf(v, sizeof v, "%llu", (unsigned long long)k[i].max + 1);
			expect_error(k[i].key, v, BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "-1", BND_E_CONFIG_VALUE);
			if (k[i].min > 0) {
				snprintf(v, sizeof v, "%llu", (unsigned long long)k[i].min - 1);
				expect_error(k[i].key, v, BND_E_CONFIG_VALUE);
			}
			break;
		case CONFIG_T_DURATION:
			snprintf(v, sizeof v, "\"%s\"",
			         config_format_duration(k[i].max + 1, d, sizeof d));
			expect_error(k[i].key, v, BND_E_CONFIG_VALUE);
			if (k[i].min > 0) {
				snprintf(v, sizeof v, "\"%s\"",
				         config_format_duration(k[i].min - 1, d, sizeof d));
				expect_error(k[i].key, v, BND_E_CONFIG_VALUE);
			}
			expect_error(k[i].key, "\"15\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"fast\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_BOOL:
			break;  /* any JSON boolean is a valid value */
		case CONFIG_T_ENUM:
			expect_error(k[i].key, "\"neither\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_HOSTPORT:
			expect_error(k[i].key, "\"127.0.0.1\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"127.0.0.1:65536\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"example.com:80\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"[::1:80\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"300.1.1.1:80\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_URL:
			expect_error(k[i].key, "\"ftp://x.org\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"https://\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"https://a b.org\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"https://x.org:0\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"https://x.org:99999\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"https://x_y.org\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_PATH:
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"a\\nb\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_TEXT:
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"Ciao {citta}\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"Ciao {city\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"a } b\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"bell \\u0007\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_LABEL:
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"Jesi {x}\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"two\\nlines\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_NAME:
			expect_error(k[i].key, "\"Notice\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"a-b\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_LANG:
			expect_error(k[i].key, "\"i\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"it-IT\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_DIGITS:
			expect_error(k[i].key, "\"+39 0731\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_VERSION:
			expect_error(k[i].key, "\"25.0\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"v25\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"v25.0.1\"", BND_E_CONFIG_VALUE);
			break;
		case CONFIG_T_WORD:
			expect_error(k[i].key, "\"\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"  \"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"JESI!\"", BND_E_CONFIG_VALUE);
			expect_error(k[i].key, "\"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG\"",
			             BND_E_CONFIG_VALUE);
			break;
		}
	}
}

Test(config, accepts_the_edges_of_ranges, .init = setup, .fini = teardown)
{
	cr_assert_eq(load("{\"api\":{\"rate\":1}}"), 0, "%s", err);
	cr_assert_eq(load("{\"api\":{\"rate\":100000}}"), 0, "%s", err);
	cr_assert_eq(cfg.rate, 100000);
	cr_assert_eq(load("{\"serve\":{\"listen\":\"localhost:0\"}}"), 0, "%s", err);
	cr_assert_eq(load("{\"serve\":{\"listen\":\"0.0.0.0:65535\"}}"), 0, "%s", err);
	cr_assert_eq(load("{\"api\":{\"pair_interval\":\"0\"}}"), 0, "%s", err);
	cr_assert_eq(cfg.pair_interval_ns, 0);
	cr_assert_eq(load("{\"city\":{\"keyword\":\"San Benedetto\"}}"), 0, "%s", err);
	cr_assert_eq(load("{\"city\":{\"keyword\":\"Forlì\"}}"), 0, "%s", err);
	cr_assert_eq(load("{\"api\":{\"base\":\"http://[::1]:8089\"}}"), 0, "%s", err);
	cr_assert_eq(load("{}"), 0, "%s", err);
}

Test(config, unknown_keys_are_rejected_with_their_path, .init = setup, .fini = teardown)
{
	cr_assert_eq(load("{\"api\":{\"rat\":80}}"), BND_E_CONFIG_UNKNOWN);
	cr_assert(strstr(err, "\"api.rat\""), "%s", err);
	cr_assert(strstr(err, "did you mean \"api.rate\""), "%s", err);
	cr_assert_eq(load("{\"colour\":\"blue\"}"), BND_E_CONFIG_UNKNOWN);
	cr_assert(strstr(err, "\"colour\""), "%s", err);
	cr_assert_eq(load("{\"notices\":{\"expiry\":{\"emergenza\":\"1h\"}}}"),
	             BND_E_CONFIG_UNKNOWN);
	cr_assert(strstr(err, "\"notices.expiry.emergenza\""), "%s", err);
	/* flag names are not file keys, and dotted keys are not accepted */
	cr_assert_eq(load("{\"rate\":80}"), BND_E_CONFIG_UNKNOWN);
	cr_assert_eq(load("{\"api.rate\":80}"), BND_E_CONFIG_UNKNOWN);
	/* a group must be an object */
	cr_assert_eq(load("{\"api\":80}"), BND_E_CONFIG_TYPE);
	cr_assert(strstr(err, "\"api\"") && strstr(err, "object"), "%s", err);
	/* the whole file is checked before anything is applied */
	cr_assert_eq(load("{\"api\":{\"rate\":5, \"nope\":1}}"), BND_E_CONFIG_UNKNOWN);
	cr_assert_eq(cfg.rate, 80);
}

Test(config, hostile_files_give_errors, .init = setup, .fini = teardown)
{
	cr_assert_eq(load("[1,2]"), BND_E_CONFIG_SYNTAX);
	cr_assert(strstr(err, "object"), "%s", err);
	cr_assert_eq(load("{\"api\": {\"rate\": 80,}}"), BND_E_CONFIG_SYNTAX);
	cr_assert(strstr(err, "line 1"), "%s", err);
	cr_assert_eq(load(""), BND_E_CONFIG_SYNTAX);
	cr_assert_eq(load("{\"api\":{\"rate\":80},\"api\":{\"rate\":90}}"), BND_E_CONFIG_SYNTAX,
	             "duplicate keys: %s", err);
	cr_assert_eq(load("{\"api\":{\"rate\":99999999999999999999999}}"), BND_E_CONFIG_SYNTAX);
	cr_assert_eq(config_load_json(&cfg, "{\"a\":1}\0{", 9, "x", err, sizeof err),
	             BND_E_CONFIG_SYNTAX);
	/* deep nesting inside an unknown group */
	char deep[400] = "{";
	for (int i = 0; i < 60; i++)
		strcat(deep, "\"a\":{");
	for (int i = 0; i < 61; i++)
		strcat(deep, "}");
	cr_assert_neq(load(deep), 0);
	/* not UTF-8 */
	cr_assert_neq(load("{\"city\":{\"name\":\"\xff\"}}"), 0);

	cr_assert_eq(config_load_file(&cfg, "/nonexistent/banditore.json", err, sizeof err),
	             -ENOENT);
	cr_assert(strstr(err, "/nonexistent/banditore.json"), "%s", err);
	cr_assert_eq(config_load_file(&cfg, "/tmp", err, sizeof err), BND_E_CONFIG_SYNTAX);
	char *big = malloc(CONFIG_FILE_MAX + 10);
	memset(big, ' ', CONFIG_FILE_MAX + 9);
	big[0] = '{';
	big[CONFIG_FILE_MAX + 8] = '}';
	big[CONFIG_FILE_MAX + 9] = '\0';
	char path[64];
	write_tmp(path, sizeof path, big);
	cr_assert_eq(config_load_file(&cfg, path, err, sizeof err), BND_E_CONFIG_SYNTAX);
	cr_assert(strstr(err, "larger"), "%s", err);
	unlink(path);
	free(big);
	char *s = dump(&cfg, CONFIG_DUMP_SOURCES);
	cr_assert_null(strstr(s, "\"file\""), "nothing applied");
	bnd_free(s);
}

/* --------------------------------------------------------------- secrets */

Test(config, secrets_in_the_file_are_refused_with_the_variable_to_use, .init = setup,
     .fini = teardown)
{
	static const struct {
		const char *json, *path, *env;
	} cases[] = {
		{"{\"api\":{\"token\":\"EAAGxyz\"}}", "\"api.token\"", "BANDITORE_WA_TOKEN"},
		{"{\"api\":{\"access_token\":\"EAAGxyz\"}}", "\"api.access_token\"",
		 "BANDITORE_WA_TOKEN"},
		{"{\"app_secret\":\"abc\"}", "\"app_secret\"", "BANDITORE_APP_SECRET"},
		{"{\"serve\":{\"verify_token\":\"abc\"}}", "\"serve.verify_token\"",
		 "BANDITORE_VERIFY_TOKEN"},
		{"{\"admin_token\":\"abc\"}", "\"admin_token\"", "BANDITORE_ADMIN_TOKEN"},
		{"{\"whatsapp\":{\"auth\":{\"Password\":\"abc\"}}}", "\"whatsapp.auth.Password\"",
		 "BANDITORE_WA_TOKEN"},
		{"{\"list\":[{\"secret\":1}]}", "\"list.secret\"", "BANDITORE_APP_SECRET"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(load(cases[i].json), BND_E_CONFIG_SECRET, "%s: %s", cases[i].json, err);
		cr_assert(strstr(err, cases[i].path), "%s", err);
		cr_assert(strstr(err, cases[i].env), "%s", err);
		cr_assert(strstr(err, "environment"), "%s", err);
		cr_assert_null(strstr(err, "EAAG"), "the value is never echoed: %s", err);
		cr_assert_null(strstr(err, "abc"), "the value is never echoed: %s", err);
	}
	cr_assert_eq(load("{\"api\":{\"base\":\"https://user:pw@graph.facebook.com\"}}"),
	             BND_E_CONFIG_SECRET);
	cr_assert(strstr(err, "\"api.base\""), "%s", err);
	cr_assert_null(strstr(err, "pw@"), "%s", err);
	cr_assert_eq(load("{\"city\":{\"privacy_url\":\"https://x.it/p?access_token=EAAG\"}}"),
	             BND_E_CONFIG_SECRET);
	cr_assert_null(strstr(err, "EAAG"), "%s", err);
}

Test(config, secrets_on_the_command_line_are_refused, .init = setup, .fini = teardown)
{
	cr_assert_eq(config_set(&cfg, "--token", "EAAGxyz", err, sizeof err), BND_E_CONFIG_SECRET);
	cr_assert(strstr(err, "BANDITORE_WA_TOKEN") && strstr(err, "command line"), "%s", err);
	cr_assert_null(strstr(err, "EAAG"), "%s", err);
	cr_assert_eq(config_set(&cfg, "app-secret", "x", err, sizeof err), BND_E_CONFIG_SECRET);
	cr_assert(strstr(err, "BANDITORE_APP_SECRET"), "%s", err);
	cr_assert_eq(config_set(&cfg, "admin-token", "x", err, sizeof err), BND_E_CONFIG_SECRET);
	cr_assert(strstr(err, "BANDITORE_ADMIN_TOKEN"), "%s", err);
	cr_assert_eq(config_set(&cfg, "verify-token", "x", err, sizeof err), BND_E_CONFIG_SECRET);
	cr_assert(strstr(err, "BANDITORE_VERIFY_TOKEN"), "%s", err);
}

Test(config, environment_provides_the_secrets, .init = setup, .fini = teardown)
{
	setenv("BANDITORE_WA_TOKEN", "wa-1", 1);
	setenv("BANDITORE_APP_SECRET", "app-1", 1);
	setenv("BANDITORE_VERIFY_TOKEN", "", 1);  /* empty = unset */
	unsetenv("BANDITORE_ADMIN_TOKEN");
	cr_assert_eq(config_load_env(&cfg), 0);
	cr_assert_str_eq(cfg.wa_token, "wa-1");
	cr_assert_str_eq(cfg.app_secret, "app-1");
	cr_assert_null(cfg.verify_token);
	cr_assert_null(cfg.admin_token);
	/* a second load replaces (token rotation on restart) */
	setenv("BANDITORE_WA_TOKEN", "wa-2", 1);
	unsetenv("BANDITORE_APP_SECRET");
	setenv("BANDITORE_ADMIN_TOKEN", "adm", 1);
	cr_assert_eq(config_load_env(&cfg), 0);
	cr_assert_str_eq(cfg.wa_token, "wa-2");
	cr_assert_null(cfg.app_secret);
	cr_assert_str_eq(cfg.admin_token, "adm");
	/* the environment does not touch ordinary settings */
	setenv("BANDITORE_RATE", "5", 1);
	cr_assert_eq(config_load_env(&cfg), 0);
	cr_assert_eq(cfg.rate, 80);
}

/* ------------------------------------------------------------------ flags */

Test(config, flags_override_the_file_in_either_order, .init = setup, .fini = teardown)
{
	/* flag first, then the file */
	cr_assert_eq(config_set(&cfg, "--rate", "120", err, sizeof err), 0, "%s", err);
	cr_assert_eq(load("{\"api\":{\"rate\":1000,\"window\":300}}"), 0, "%s", err);
	cr_assert_eq(cfg.rate, 120);
	cr_assert_eq(cfg.window, 300);
	cr_assert_eq(config_source(&cfg, "api.rate"), CONFIG_SRC_FLAG);
	cr_assert_eq(config_source(&cfg, "api.window"), CONFIG_SRC_FILE);
	/* the file's value for a flagged key is still validated */
	cr_assert_eq(load("{\"api\":{\"rate\":0}}"), BND_E_CONFIG_VALUE);
	cr_assert_eq(cfg.rate, 120);
	/* file first, then the flag */
	cr_assert_eq(load("{\"api\":{\"burst\":10}}"), 0, "%s", err);
	cr_assert_eq(config_set(&cfg, "burst", "20", err, sizeof err), 0, "%s", err);
	cr_assert_eq(cfg.burst, 20);
	cr_assert_eq(load("{\"api\":{\"burst\":30}}"), 0, "%s", err);
	cr_assert_eq(cfg.burst, 20);
	/* by key path too */
	cr_assert_eq(config_set(&cfg, "api.window", "32", err, sizeof err), 0, "%s", err);
	cr_assert_eq(cfg.window, 32);
}

Test(config, flag_values_are_parsed_and_checked, .init = setup, .fini = teardown)
{
	cr_assert_eq(config_set(&cfg, "auto-reply", "yes", err, sizeof err), 0, "%s", err);
	cr_assert_eq(cfg.auto_reply, true);
	cr_assert_eq(config_set(&cfg, "auto-reply", "OFF", err, sizeof err), 0, "%s", err);
	cr_assert_eq(cfg.auto_reply, false);
	cr_assert_eq(config_set(&cfg, "expiry-emergency", "1h30m", err, sizeof err), 0);
	cr_assert_eq(cfg.expiry_ns[CONFIG_CAT_EMERGENCY], 90 * 60 * NS_S);
	cr_assert_eq(config_set(&cfg, "loop", "io_uring", err, sizeof err), 0);
	cr_assert_eq(cfg.loop, CONFIG_LOOP_URING);
	cr_assert_eq(config_set(&cfg, "log-level", "warn", err, sizeof err), 0);
	cr_assert_eq(cfg.log_level, BND_LOG_WARN);
	cr_assert_eq(config_set(&cfg, "keyword", "RIETI", err, sizeof err), 0);

	cr_assert_eq(config_set(&cfg, "window", "0", err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert(strstr(err, "\"api.window\"") && strstr(err, "--window"), "%s", err);
	cr_assert(strstr(err, "got 0"), "%s", err);
	cr_assert_eq(config_set(&cfg, "rate", "80x", err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert_eq(config_set(&cfg, "rate", "", err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert_eq(config_set(&cfg, "rate", "-5", err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert_eq(config_set(&cfg, "rate", "99999999999999999999999", err, sizeof err),
	             BND_E_CONFIG_VALUE);
	cr_assert_eq(config_set(&cfg, "auto-reply", "maybe", err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert_eq(config_set(&cfg, "rates", "80", err, sizeof err), BND_E_CONFIG_UNKNOWN);
	cr_assert(strstr(err, "--rates") && strstr(err, "did you mean \"rate\""), "%s", err);
	cr_assert_eq(config_set(&cfg, NULL, "1", err, sizeof err), BND_E_INVAL);
	cr_assert_eq(config_set(&cfg, "rate", NULL, err, sizeof err), BND_E_INVAL);
	cr_assert_eq(cfg.rate, 80, "failed sets change nothing");
	cr_assert_eq(cfg.window, 64);
	cr_assert_str_eq(cfg.keyword, "RIETI");
}

/* ---------------------------------------------------------- cross checks */

Test(config, check_catches_what_single_keys_cannot, .init = setup, .fini = teardown)
{
	cr_assert_eq(config_set(&cfg, "welcome", "Benvenuto! Scrivi {keyword} OFF per uscire.",
	                        err, sizeof err), 0, "%s", err);
	cr_assert_eq(config_check(&cfg, err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert(strstr(err, "\"messages.welcome\"") && strstr(err, "privacy"), "%s", err);
	cr_assert_eq(config_set(&cfg, "welcome", "Benvenuto! https://x.it/privacy", err,
	                        sizeof err), 0);
	cr_assert_eq(config_check(&cfg, err, sizeof err), 0, "%s", err);

	cr_assert_eq(config_set(&cfg, "retry-base", "2m", err, sizeof err), 0);
	cr_assert_eq(config_check(&cfg, err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert(strstr(err, "\"api.retry_base\""), "%s", err);
	cr_assert_eq(config_set(&cfg, "retry-base", "1s", err, sizeof err), 0);
	cr_assert_eq(config_set(&cfg, "connect-timeout", "1m", err, sizeof err), 0);
	cr_assert_eq(config_check(&cfg, err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert(strstr(err, "\"api.connect_timeout\""), "%s", err);
	cr_assert_eq(config_set(&cfg, "connect-timeout", "5s", err, sizeof err), 0);

	/* 4042 characters that grow past 4096 once {privacy_url} is filled */
	char *t = malloc(5000);
	size_t o = 0;
	while (o < 4000)
		t[o++] = 'a';
	o += (size_t)sprintf(t + o, " {privacy_url} {privacy_url} {privacy_url}");
	t[o] = '\0';
	cr_assert_eq(config_set(&cfg, "help-text", t, err, sizeof err), 0, "%s", err);
	cr_assert_eq(config_check(&cfg, err, sizeof err), BND_E_CONFIG_VALUE);
	cr_assert(strstr(err, "\"messages.help_text\"") && strstr(err, "4096"), "%s", err);
	free(t);
}

Test(config, render_fills_placeholders_and_checks_space, .init = setup, .fini = teardown)
{
	char buf[64];
	cr_assert_eq(config_render(&cfg, "{{x}} {keyword}", buf, sizeof buf), 8);
	cr_assert_str_eq(buf, "{x} JESI");
	cr_assert_eq(config_render(&cfg, "{keyword}", buf, 4), BND_E_RANGE);
	cr_assert_eq(config_render(&cfg, "{keyword}", buf, 5), 4);
	cr_assert_eq(config_render(&cfg, "{nope}", buf, sizeof buf), BND_E_CONFIG_VALUE);
	cr_assert_eq(config_render(&cfg, "a}b", buf, sizeof buf), BND_E_CONFIG_VALUE);
	cr_assert_eq(config_render(&cfg, "", buf, sizeof buf), 0);
	cr_assert_str_eq(buf, "");
}

/* ------------------------------------------------------------- durations */

Test(config, durations_parse_and_format_exactly)
{
	static const struct {
		const char *s;
		uint64_t ns;
		const char *back;
	} ok[] = {
		{"0", 0, "0"}, {"1ns", 1, "1ns"}, {"250us", 250000, "250us"},
		{"1500ms", 1500000000ull, "1500ms"}, {"15s", 15 * NS_S, "15s"},
		{"60s", 60 * NS_S, "1m"}, {"1h30m", 90 * 60 * NS_S, "90m"},
		{"48h", 48 * NS_H, "48h"}, {"7d", 7 * 24 * NS_H, "7d"},
		{"30d", 30 * 24 * NS_H, "30d"}, {"1d", 24 * NS_H, "24h"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint64_t ns = 7;
		cr_assert_eq(config_parse_duration(ok[i].s, strlen(ok[i].s), &ns), 0, "%s", ok[i].s);
		cr_assert_eq(ns, ok[i].ns, "%s", ok[i].s);
		char b[32];
		cr_assert_str_eq(config_format_duration(ns, b, sizeof b), ok[i].back);
		uint64_t again;
		cr_assert_eq(config_parse_duration(b, strlen(b), &again), 0);
		cr_assert_eq(again, ns);
	}
	static const char *const bad[] = {"", "s", "15", "1.5s", "-1s", "15 s", "15S", "1y",
	                                  "00", "99999999999999999999s", "18446744073709551615d",
	                                  "1s ", "5m5", "ms"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t ns = 7;
		cr_assert_eq(config_parse_duration(bad[i], strlen(bad[i]), &ns), BND_E_CONFIG_VALUE,
		             "\"%s\"", bad[i]);
		cr_assert_eq(ns, 7);
	}
	uint64_t ns;
	cr_assert_eq(config_parse_duration("15s9999", 3, &ns), 0, "reads only len bytes");
	cr_assert_eq(ns, 15 * NS_S);
}

/* --------------------------------------------------------------- memory */

Test(config, allocation_failures_return_nomem_and_leak_nothing)
{
	long sites = 0;
	for (long n = 0; n < 400; n++) {
		struct config c;
		char e[CONFIG_ERR_MAX];
		bnd_alloc_fail_after(n);
		int rc = config_defaults(&c);
		if (rc == 0) {
			rc = config_load_json(&c, full_example, strlen(full_example), "x", e, sizeof e);
			if (rc == 0)
				rc = config_set(&c, "welcome", "W {privacy_url}", e, sizeof e);
			if (rc == 0) {
				char *s = NULL;
				rc = config_dump_json(&c, CONFIG_DUMP_SOURCES, &s);
				bnd_free(s);
			}
			if (rc == 0)
				rc = config_check(&c, e, sizeof e);
		}
		bnd_alloc_fail_after(-1);
		config_free(&c);
		if (rc == 0) {
			sites = n;
			break;
		}
		cr_assert_eq(rc, BND_E_NOMEM, "n=%ld: %d %s", n, rc, bnd_strerror(rc));
	}
	LEAK_CHECK();
	cr_assert_gt(sites, 30, "every default string and file value allocates (%ld)", sites);
}

/* -------------------------------------------------------- the document */

static char *read_doc(void)
{
	const char *src = getenv("SRC_DIR");
	cr_assert_not_null(src, "SRC_DIR is set by CTest");
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/CONFIG.md", src);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	char *doc = malloc(1 << 20);
	size_t n = fread(doc, 1, (1 << 20) - 1, f);
	doc[n] = '\0';
	fclose(f);
	return doc;
}

/* The "Every key" table row of key: "| `key` | ..." up to the line end. */
static char *doc_row(const char *doc, const char *key, char *row, size_t cap)
{
	char needle[128];
	snprintf(needle, sizeof needle, "\n| `%s` |", key);
	const char *p = strstr(doc, needle);
	if (!p)
		return NULL;
	p++;
	const char *e = strchr(p, '\n');
	size_t n = e ? (size_t)(e - p) : strlen(p);
	if (n >= cap)
		n = cap - 1;
	memcpy(row, p, n);
	row[n] = '\0';
	return row;
}

Test(config, doc_lists_every_key)
{
	char *doc = read_doc();
	size_t n;
	const struct config_key *k = config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		char row[1024], want[256];
		cr_assert_not_null(doc_row(doc, k[i].key, row, sizeof row),
		                   "docs/CONFIG.md has no row for `%s`", k[i].key);
		snprintf(want, sizeof want, "`--%s`", k[i].flag);
		cr_assert(strstr(row, want), "row of %s names %s: %s", k[i].key, want, row);
		if (k[i].type != CONFIG_T_TEXT) {
			snprintf(want, sizeof want, "| `%s` |", k[i].def);
			cr_assert(strstr(row, want), "row of %s gives the default %s: %s", k[i].key,
			          k[i].def, row);
		} else {
			cr_assert(strstr(doc, "`") && strstr(doc, k[i].key), "%s", k[i].key);
		}
		if (k[i].type == CONFIG_T_UINT) {
			snprintf(want, sizeof want, "| %llu..%llu |", (unsigned long long)k[i].min,
			         (unsigned long long)k[i].max);
			cr_assert(strstr(row, want), "row of %s gives the range %s: %s", k[i].key,
			          want, row);
		}
	}
	for (size_t i = 0; config_env_vars[i]; i++) {
		char want[80];
		snprintf(want, sizeof want, "| `%s` |", config_env_vars[i]);
		cr_assert(strstr(doc, want), "docs/CONFIG.md documents %s", config_env_vars[i]);
	}
	/* and it lists no key that does not exist */
	const char *sec = strstr(doc, "\n## Every key");
	cr_assert_not_null(sec);
	const char *end = strstr(sec + 1, "\n## ");
	size_t rows = 0;
	for (const char *p = sec; (p = strstr(p, "\n| `")) && (!end || p < end); p++) {
		char key[128];
		const char *q = p + 4;
		const char *e = strchr(q, '`');
		cr_assert_not_null(e);
		snprintf(key, sizeof key, "%.*s", (int)(e - q), q);
		const struct config_key *f = config_key_find(key);
		cr_assert(f && strcmp(f->key, key) == 0, "docs/CONFIG.md lists `%s`, which is "
		                                         "not a key", key);
		rows++;
	}
	cr_assert_eq(rows, n, "one row per key");
	free(doc);
}

Test(config, doc_example_loads)
{
	char *doc = read_doc();
	const char *p = strstr(doc, "## Example file");
	cr_assert_not_null(p);
	p = strstr(p, "```json\n");
	cr_assert_not_null(p);
	p += 8;
	const char *e = strstr(p, "```");
	cr_assert_not_null(e);
	struct config c;
	char e2[CONFIG_ERR_MAX];
	cr_assert_eq(config_defaults(&c), 0);
	cr_assert_eq(config_load_json(&c, p, (size_t)(e - p), "CONFIG.md", e2, sizeof e2), 0,
	             "%s", e2);
	cr_assert_eq(config_check(&c, e2, sizeof e2), 0, "%s", e2);
	cr_assert_eq(c.rate, 1000);
	cr_assert_str_eq(c.api_base, "https://graph.facebook.com");
	/* the doc's run line: the flag beats the file */
	cr_assert_eq(config_set(&c, "rate", "80", e2, sizeof e2), 0);
	cr_assert_eq(c.rate, 80);
	config_free(&c);
	free(doc);
}
