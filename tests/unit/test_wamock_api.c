/*
 * test_wamock_api.c - what wa-mock answers (tools/wa-mock/api.c), driven
 * without sockets: every validation error with its code and HTTP status,
 * the success body, the record, the limits with time moved by hand, the
 * seeded error mix, resets and stalls, and failure paths (a record that
 * cannot be written, allocation failures). The HTTP path itself is covered
 * by tests/integration/test_wamock_*.sh.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/wa-mock/speclist.c"
#include "../../tools/wa-mock/dheap.c"
#include "../../tools/wa-mock/faults.c"
#include "../../tools/wa-mock/jw.c"
#include "../../tools/wa-mock/gerror.c"
#include "../../tools/wa-mock/templates.c"
#include "../../tools/wa-mock/jtok.c"
#include "../../tools/wa-mock/recip.c"
#include "../../tools/wa-mock/limits.c"
#include "../../tools/wa-mock/stats.c"
#include "../../tools/wa-mock/record.c"
#include "../../tools/wa-mock/wamid.c"
#include "../../tools/wa-mock/webhook.c"
#include "../../tools/wa-mock/conf.c"
#include "../../tools/wa-mock/api.c"

#define S 1000000000ull
#define URL "/v25.0/110000000000001/messages"

static struct conf c;
static struct stats st;
static struct api *api;
static struct record *rec;
static char rec_path[64];
static struct api_resp rs;

static void setup_conf(void)
{
	conf_defaults(&c);
	c.limits.rate = 0;
	c.limits.pair_per_min = 0;
	c.faults.seed = 1;
	memset(&st, 0, sizeof st);
}

static void open_api(const char *token)
{
	strcpy(rec_path, "/tmp/wamock-api-XXXXXX");
	int fd = mkstemp(rec_path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(record_open(&rec, rec_path), 0);
	struct api_deps d = {
		.conf = &c, .stats = &st, .record = rec,
		.token = (const uint8_t *)token, .token_len = token ? strlen(token) : 0,
		.nonce = 99, .start_ns = 1,
	};
	cr_assert_eq(api_open(&api, &d), 0);
}

static void teardown(void)
{
	api_close(&api);
	record_close(&rec);
	if (rec_path[0])
		unlink(rec_path);
	rec_path[0] = '\0';
}

/* One request; returns the HTTP status. */
static int call_at(const char *method, const char *url, const char *auth, const char *body,
                   uint64_t now)
{
	struct api_req rq = {
		.method = method, .url = url, .url_len = strlen(url), .auth = auth,
		.body = (const uint8_t *)body, .body_len = body ? strlen(body) : 0,
		.now_ns = now, .wall_ms = 1760263200000ull,
	};
	memset(&rs, 0xAB, sizeof rs);
	api_handle(api, &rq, &rs);
	cr_assert_lt(rs.len, sizeof rs.body);
	rs.body[rs.len] = '\0';
	return rs.status;
}

static int post(const char *body, uint64_t now)
{
	return call_at("POST", URL, "Bearer tok", body, now);
}

/* error.code of the last answer, or 0 for a non-error body. */
static int last_code(void)
{
	json_error_t e;
	json_t *j = json_loadb(rs.body, rs.len, 0, &e);
	cr_assert_not_null(j, "answer is not JSON: %s", rs.body);
	json_t *err = json_object_get(j, "error");
	int code = err ? (int)json_integer_value(json_object_get(err, "code")) : 0;
	if (err) {
		cr_assert(json_is_string(json_object_get(err, "message")));
		cr_assert(json_is_string(json_object_get(err, "fbtrace_id")));
		cr_assert_str_eq(json_string_value(json_object_get(err, "type")), "OAuthException");
	}
	json_decref(j);
	return code;
}

static char *tmpl(const char *to, const char *name, const char *lang, int nparams,
                  const char *tag)
{
	/* a ring of buffers: a table of cases holds several results at once */
	static char ring[16][4096];
	static unsigned next;
	char *b = ring[next++ % 16];
	char params[1024] = "";
	for (int i = 0; i < nparams; i++)
		snprintf(params + strlen(params), sizeof params - strlen(params),
		         "%s{\"type\":\"text\",\"text\":\"p%d\"}", i ? "," : "", i);
	snprintf(b, sizeof ring[0],
	         "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
	         "\"to\":\"%s\",\"type\":\"template\",\"template\":{\"name\":\"%s\","
	         "\"language\":{\"code\":\"%s\"},\"components\":[{\"type\":\"body\","
	         "\"parameters\":[%s]}]}%s%s%s}",
	         to, name, lang, params, tag ? ",\"biz_opaque_callback_data\":\"" : "",
	         tag ? tag : "", tag ? "\"" : "");
	return b;
}

static size_t record_lines(void)
{
	FILE *f = fopen(rec_path, "r");
	cr_assert_not_null(f);
	size_t n = 0;
	int ch;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

TestSuite(wamock_api, .init = setup_conf, .fini = teardown);

Test(wamock_api, routes_unknown_paths_to_a_graph_404_and_serves_stats)
{
	open_api("tok");
	cr_assert_eq(call_at("GET", "/foo", NULL, NULL, S), 404);
	cr_assert_eq(last_code(), 2500);
	cr_assert_eq(call_at("POST", "/v25.0/110000000000001/messages/x", "Bearer tok", "{}", S), 404);
	cr_assert_eq(call_at("POST", "/vX/1/messages", "Bearer tok", "{}", S), 404);
	cr_assert_eq(call_at("GET", "/mock/stats", NULL, NULL, S), 200);
	json_error_t e;
	json_t *j = json_loadb(rs.body, rs.len, 0, &e);
	cr_assert_not_null(j);
	cr_assert_eq(json_integer_value(json_object_get(j, "requests")), 0);
	cr_assert_eq(json_integer_value(json_object_get(j, "other_requests")), 4);
	json_decref(j);
	/* the version segment is optional, like Graph's */
	cr_assert_eq(call_at("POST", "/110000000000001/messages", "Bearer tok",
	                     tmpl("+393351234567", "notice", "it", 1, NULL), S), 200);
}

Test(wamock_api, checks_the_bearer_token)
{
	open_api("tok");
	const char *b = tmpl("+393351234567", "notice", "it", 1, NULL);
	cr_assert_eq(call_at("POST", URL, NULL, b, S), 401);
	cr_assert_eq(last_code(), 190);
	cr_assert_eq(call_at("POST", URL, "Bearer tokx", b, S), 401);
	cr_assert_eq(call_at("POST", URL, "Bearer to", b, S), 401);
	cr_assert_eq(call_at("POST", URL, "Basic tok", b, S), 401);
	cr_assert_eq(call_at("POST", URL, "bearer  tok ", b, S), 200);
	cr_assert_eq(call_at("GET", URL, "Bearer tok", NULL, S), 400);
	cr_assert_eq(last_code(), 100);
}

Test(wamock_api, any_token_is_accepted_when_none_is_configured)
{
	open_api(NULL);
	cr_assert_eq(call_at("POST", URL, NULL, tmpl("+393351234567", "notice", "it", 1, NULL), S),
	             200);
}

Test(wamock_api, unknown_phone_number_id_is_graph_error_100_33)
{
	strcpy(c.phone_number_id, "110000000000001");
	open_api("tok");
	const char *b = tmpl("+393351234567", "notice", "it", 1, NULL);
	cr_assert_eq(call_at("POST", "/v25.0/999/messages", "Bearer tok", b, S), 400);
	cr_assert_eq(last_code(), 100);
	cr_assert(strstr(rs.body, "\"error_subcode\":33"));
	cr_assert_eq(call_at("POST", URL, "Bearer tok", b, S), 200);
}

struct bad_case {
	const char *body;
	int http, code;
};

Test(wamock_api, answers_each_invalid_body_with_its_code_and_status)
{
	cr_assert_eq(templates_parse(&c.templates, "old:it:1:paused,gone:it:0:disabled", 34, NULL), 0);
	open_api("tok");
	static char long_text[5000], long_tag[600], ok_tag[600];
	memset(long_text, 'x', 4097);
	memset(long_tag, 't', 513);
	memset(ok_tag, 't', 512);
	static char text4097[5200], tag513[4200], tag512[4200];
	snprintf(text4097, sizeof text4097,
	         "{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"text\","
	         "\"text\":{\"body\":\"%s\"}}", long_text);
	snprintf(tag513, sizeof tag513, "%s", tmpl("+393351234567", "notice", "it", 1, long_tag));
	snprintf(tag512, sizeof tag512, "%s", tmpl("+393351234567", "notice", "it", 1, ok_tag));
	const struct bad_case cases[] = {
		{"{bad", 400, 100},
		{"[1,2]", 400, 100},
		{"{}", 400, 100},
		{"{\"messaging_product\":\"sms\",\"to\":\"+393351234567\",\"text\":{\"body\":\"x\"}}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"text\":{\"body\":\"x\"}}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":393351234567,\"text\":{\"body\":\"x\"}}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+39 abc\",\"text\":{\"body\":\"x\"}}", 400, 131009},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+3933\",\"text\":{\"body\":\"x\"}}", 400, 131009},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"00393351234567\",\"text\":{\"body\":\"x\"}}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"text\"}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"text\":{\"body\":\"\"}}", 400, 100},
		{text4097, 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"image\"}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"group\",\"to\":\"+393351234567\",\"text\":{\"body\":\"x\"}}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"template\"}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"template\",\"template\":{\"name\":\"notice\"}}", 400, 100},
		{tmpl("+393351234567", "nope", "it", 1, NULL), 404, 132001},
		{tmpl("+393351234567", "notice", "fr", 1, NULL), 404, 132001},
		{tmpl("+393351234567", "notice", "it", 0, NULL), 400, 132000},
		{tmpl("+393351234567", "notice", "it", 2, NULL), 400, 132000},
		{tmpl("+393351234567", "old", "it", 1, NULL), 400, 132015},
		{tmpl("+393351234567", "gone", "it", 0, NULL), 400, 132016},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"type\":\"template\",\"template\":{\"name\":\"notice\",\"language\":{\"code\":\"it\"},\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\"}]}]}}", 400, 131008},
		{tag513, 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"text\":{\"body\":\"x\"},\"biz_opaque_callback_data\":7}", 400, 100},
		{"{\"messaging_product\":\"whatsapp\",\"status\":\"read\"}", 400, 100},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int http = post(cases[i].body, S);
		cr_assert_eq(http, cases[i].http, "case %zu: HTTP %d, body %s", i, http, rs.body);
		cr_assert_eq(last_code(), cases[i].code, "case %zu: %s", i, rs.body);
	}
	cr_assert_eq(record_lines(), 0, "nothing invalid is recorded");
	cr_assert_eq(atomic_load(&st.rejected), sizeof cases / sizeof cases[0]);
	cr_assert_eq(stats_code_get(&st.errors, 132001), 2);

	/* the valid neighbours of those cases pass */
	cr_assert_eq(post(tag512, S), 200, "%s", rs.body);
	cr_assert_eq(post("{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\","
	                  "\"text\":{\"body\":\"x\"}}", S), 200, "type defaults to text");
	cr_assert_eq(post("{\"messaging_product\":\"whatsapp\",\"status\":\"read\","
	                  "\"message_id\":\"wamid.x\"}", S), 200);
	cr_assert_str_eq(rs.body, "{\"success\":true}");
	cr_assert_eq(record_lines(), 2, "a mark-read is not a message");
}

Test(wamock_api, success_answers_the_real_shape_and_records_what_it_answered)
{
	open_api("tok");
	enum { N = 500 };
	static char wamids[N][WAMID_BUF];
	for (int i = 0; i < N; i++) {
		char to[32], tag[32];
		snprintf(to, sizeof to, "+39 335 %07d", i);
		snprintf(tag, sizeof tag, "n=1;s=%d", i);
		cr_assert_eq(post(tmpl(to, "notice", "it", 1, tag), S + (uint64_t)i), 200, "%s", rs.body);
		json_error_t e;
		json_t *j = json_loadb(rs.body, rs.len, 0, &e);
		cr_assert_not_null(j);
		cr_assert_str_eq(json_string_value(json_object_get(j, "messaging_product")), "whatsapp");
		json_t *ct = json_array_get(json_object_get(j, "contacts"), 0);
		cr_assert_str_eq(json_string_value(json_object_get(ct, "input")), to);
		char wa[16];
		snprintf(wa, sizeof wa, "39335%07d", i);
		cr_assert_str_eq(json_string_value(json_object_get(ct, "wa_id")), wa);
		const char *id = json_string_value(
			json_object_get(json_array_get(json_object_get(j, "messages"), 0), "id"));
		cr_assert_eq(strncmp(id, "wamid.", 6), 0);
		cr_assert_eq(strlen(id), WAMID_LEN);
		strcpy(wamids[i], id);
		for (int k = 0; k < i; k++)
			cr_assert_str_neq(wamids[k], id, "wamid repeated");
		json_decref(j);
	}
	/* the record holds the same N messages, in order, with these fields */
	FILE *f = fopen(rec_path, "r");
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		json_error_t e;
		json_t *j = json_loads(line, 0, &e);
		cr_assert_not_null(j, "record line %d: %s", n, line);
		cr_assert_eq(json_object_size(j), 5, "exactly to, wamid, tag, type, t_ms");
		char wa[16], tag[32];
		snprintf(wa, sizeof wa, "39335%07d", n);
		snprintf(tag, sizeof tag, "n=1;s=%d", n);
		cr_assert_str_eq(json_string_value(json_object_get(j, "to")), wa);
		cr_assert_str_eq(json_string_value(json_object_get(j, "wamid")), wamids[n]);
		cr_assert_str_eq(json_string_value(json_object_get(j, "tag")), tag);
		cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "template");
		cr_assert_eq(json_integer_value(json_object_get(j, "t_ms")), 1760263200000);
		json_decref(j);
		n++;
	}
	fclose(f);
	cr_assert_eq(n, N);
	uint64_t u, r;
	recip_counts(api->recip, &u, &r);
	cr_assert_eq(u, N);
	cr_assert_eq(r, 0);
	cr_assert_eq(post(tmpl("+393350000007", "notice", "it", 1, NULL), S), 200);
	recip_counts(api->recip, &u, &r);
	cr_assert_eq(r, 1, "a second message to one recipient is counted");
}

Test(wamock_api, throughput_over_the_rate_is_130429_with_http_400)
{
	c.limits.rate = 5;
	open_api("tok");
	int ok = 0, throttled = 0;
	for (int i = 0; i < 12; i++) {
		char to[20];
		snprintf(to, sizeof to, "+3933500000%02d", i);
		int http = post(tmpl(to, "notice", "it", 1, NULL), 10 * S);
		if (http == 200) {
			ok++;
		} else {
			cr_assert_eq(http, 400);
			cr_assert_eq(last_code(), 130429);
			throttled++;
		}
	}
	cr_assert_eq(ok, 5);
	cr_assert_eq(throttled, 7);
	cr_assert_eq(post(tmpl("+393350000099", "notice", "it", 1, NULL), 10 * S + S / 5), 200,
	             "one more after 1/rate");
	cr_assert_eq(record_lines(), 6);
}

Test(wamock_api, pair_rate_refuses_a_recipient_messaged_too_often)
{
	c.limits.pair_per_min = 10;
	c.limits.pair_burst = 2;
	open_api("tok");
	const char *b = tmpl("+393351234567", "notice", "it", 1, NULL);
	cr_assert_eq(post(b, 100 * S), 200);
	cr_assert_eq(post(b, 100 * S), 200);
	cr_assert_eq(post(b, 100 * S), 400);
	cr_assert_eq(last_code(), 131056);
	cr_assert(strstr(rs.body, "\"error_subcode\":2494055"));
	cr_assert_eq(post(tmpl("+393357654321", "notice", "it", 1, NULL), 100 * S), 200,
	             "other recipients are not affected");
	cr_assert_eq(post(b, 106 * S), 200, "6 s later");
	cr_assert_eq(stats_code_get(&st.errors, 131056), 1);
}

Test(wamock_api, tier_refuses_new_recipients_past_the_limit)
{
	c.limits.tier = 2;
	c.tier_code = 131064;
	open_api("tok");
	cr_assert_eq(post(tmpl("+393350000001", "notice", "it", 1, NULL), S), 200);
	cr_assert_eq(post(tmpl("+393350000002", "notice", "it", 1, NULL), S), 200);
	cr_assert_eq(post(tmpl("+393350000003", "notice", "it", 1, NULL), S), 400);
	cr_assert_eq(last_code(), 131064);
	cr_assert_eq(post(tmpl("+393350000001", "notice", "it", 1, NULL), S), 200,
	             "a recipient inside the window is not new");
}

/* The sequence of (status, code) for n sends under the current conf. */
static void outcomes(int n, int *out)
{
	for (int i = 0; i < n; i++) {
		char to[20];
		snprintf(to, sizeof to, "+39335%07d", i);
		int http = post(tmpl(to, "notice", "it", 1, NULL), S + (uint64_t)i);
		out[i] = rs.action == API_RESET ? -1 : http == 200 ? 0 : last_code();
	}
}

Test(wamock_api, error_mix_is_reproducible_and_delivers_sync_and_async)
{
	enum { N = 3000 };
	static int a[N], b[N];
	const char *spec = "131000:0.05,2:0.05,131026:0.05,131048:0.05:async,reset:0.02";
	cr_assert_eq(faults_parse_mix(&c.faults, spec, strlen(spec), NULL), 0);
	c.faults.seed = 1234;
	open_api("tok");
	outcomes(N, a);
	teardown();
	memset(&st, 0, sizeof st);
	open_api("tok");
	outcomes(N, b);
	cr_assert_eq(memcmp(a, b, sizeof a), 0, "same seed, same outcomes");
	int n131000 = 0, n2 = 0, resets = 0, ok = 0;
	for (int i = 0; i < N; i++) {
		n131000 += a[i] == 131000;
		n2 += a[i] == 2;
		resets += a[i] == -1;
		ok += a[i] == 0;
		cr_assert(a[i] != 131026 && a[i] != 131048, "async codes answer 200");
	}
	cr_assert(n131000 > 100 && n131000 < 200, "%d", n131000);
	cr_assert(n2 > 100 && n2 < 200, "%d", n2);
	cr_assert(resets > 30 && resets < 90, "%d", resets);
	/* 200s include the async failures, which are counted as such */
	uint64_t async = stats_code_get(&st.async_failed, 131026) +
	                 stats_code_get(&st.async_failed, 131048);
	cr_assert(async > 200 && async < 400, "%llu", (unsigned long long)async);
	cr_assert_eq((size_t)ok, record_lines());
	cr_assert_eq(atomic_load(&st.accepted), (uint64_t)ok);
	/* HTTP statuses of the sync codes follow the table */
	cr_assert_eq(gerror_http_status(131000), 500);
	cr_assert_eq(gerror_http_status(2), 503);
}

Test(wamock_api, reset_stall_and_latency_shape_the_answer)
{
	const char *spec = "reset:1";
	cr_assert_eq(faults_parse_mix(&c.faults, spec, strlen(spec), NULL), 0);
	c.faults.lat_min_ns = 10 * 1000000ull;
	c.faults.lat_max_ns = 20 * 1000000ull;
	open_api("tok");
	post(tmpl("+393351234567", "notice", "it", 1, NULL), S);
	cr_assert_eq(rs.action, API_RESET);
	cr_assert(rs.delay_ns >= 10000000 && rs.delay_ns <= 20000000);
	cr_assert_eq(record_lines(), 0, "reset before acceptance records nothing");
	teardown();

	c.faults.nmix = 0;
	spec = "reset-accepted:1";
	cr_assert_eq(faults_parse_mix(&c.faults, spec, strlen(spec), NULL), 0);
	open_api("tok");
	post(tmpl("+393351234567", "notice", "it", 1, NULL), S);
	cr_assert_eq(rs.action, API_RESET);
	cr_assert_eq(record_lines(), 1, "accepted, then reset");
	teardown();

	c.faults.nmix = 0;
	spec = "stall:1";
	cr_assert_eq(faults_parse_mix(&c.faults, spec, strlen(spec), NULL), 0);
	c.faults.stall_ns = 30 * S;
	open_api("tok");
	cr_assert_eq(post(tmpl("+393351234567", "notice", "it", 1, NULL), S), 200);
	cr_assert_eq(rs.action, API_RESPOND);
	cr_assert_eq(rs.delay_ns, 30 * S);
	cr_assert_eq(record_lines(), 1);
	cr_assert_eq(atomic_load(&st.stalls), 1);
}

Test(wamock_api, not_on_whatsapp_numbers_are_accepted_then_fail_async)
{
	static const uint64_t nowa[] = {393350000002ULL, 393350000005ULL};
	open_api("tok");
	api->d.nowa = nowa;
	api->d.nowa_n = 2;
	for (int i = 0; i < 8; i++) {
		char to[20];
		snprintf(to, sizeof to, "+39335000000%d", i);
		cr_assert_eq(post(tmpl(to, "notice", "it", 1, NULL), S), 200);
	}
	cr_assert_eq(stats_code_get(&st.async_failed, 131026), 2);
	cr_assert_eq(record_lines(), 8);
}

Test(wamock_api, a_record_that_cannot_be_written_is_never_a_200)
{
	open_api("tok");
	record_close(&rec);
	cr_assert_eq(record_open(&rec, "/dev/full"), 0);
	api->d.record = rec;
	cr_assert_eq(post(tmpl("+393351234567", "notice", "it", 1, NULL), S), 500);
	cr_assert_eq(last_code(), 131000);
	cr_assert_eq(atomic_load(&st.accepted), 0);
	cr_assert_eq(atomic_load(&st.record_errors), 1);
	uint64_t u, r;
	recip_counts(api->recip, &u, &r);
	cr_assert_eq(u, 0);
}

Test(wamock_api, open_survives_every_allocation_failure)
{
	struct api_deps d = {.conf = &c, .stats = &st};
	for (long n = 0;; n++) {
		struct api *a = NULL;
		bnd_alloc_fail_after(n);
		int rc = api_open(&a, &d);
		bnd_alloc_fail_after(-1);
		if (rc == 0) {
			api_close(&a);
			cr_assert_gt(n, 60);
			break;
		}
		cr_assert_eq(rc, BND_E_NOMEM);
		cr_assert_null(a);
		cr_assert_lt(n, 1000);
	}
}
