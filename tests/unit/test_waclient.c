/* test_waclient.c - the API client on the loop (both backends, both HTTP
 * carriers: libcurl and the native h1 client) against the scripted helper
 * server: exactly-once completion of thousands of requests, connection
 * reuse, classification of every code class, transport failures,
 * server-closed connections (fd reuse), Retry-After, window and config. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "helper_httpd.h"
#include "loop.h"
#include "waclient.h"

#define TOKEN "test-token-123"

struct drv;
struct mctx {
	struct drv *d;
	uint32_t id;
};

struct drv {
	struct loop *l;
	struct waclient *c;
	struct helper_httpd *h;
	uint32_t total, next, done;
	uint8_t *seen;
	struct mctx *ctx;
	uint64_t by_outcome[WA_OUTCOME_COUNT];
	const char *tag;           /* script for every message */
	struct wa_result last;
	char last_wamid[WA_WAMID_MAX];
	char last_detail[WA_DETAIL_MAX];
	int timed_out;
	struct loop_timer guard;
	int accepted_bad_wamid;
};

static void guard_fn(void *ud, uint64_t now)
{
	struct drv *d = ud;
	(void)now;
	d->timed_out = 1;
	loop_stop(d->l);
}

static int send_one(struct drv *d)
{
	uint32_t id = d->next;
	static const char text[] = "Allerta \"meteo\" arancione\n\xe2\x9a\xa0";
	struct wa_bytes param = { (const uint8_t *)text, sizeof text - 1 };
	struct wa_msg m = {
		.kind = WA_MSG_TEMPLATE,
		.to = 393350000000ull + id,
		.tmpl_name = { (const uint8_t *)"allerta_meteo", 13 },
		.lang = { (const uint8_t *)"it", 2 },
		.params = &param,
		.nparams = 1,
	};
	if (d->tag)
		m.tag = (struct wa_bytes){ (const uint8_t *)d->tag, strlen(d->tag) };
	d->ctx[id] = (struct mctx){ d, id };
	int rc = waclient_send(d->c, &m, &d->ctx[id]);
	if (rc == 0)
		d->next++;
	return rc;
}

static void on_done(void *ud, const struct wa_result *r, uint64_t now)
{
	struct mctx *m = ud;
	struct drv *d = m->d;
	(void)now;
	d->seen[m->id]++;
	d->done++;
	d->by_outcome[r->outcome]++;
	d->last = *r;
	d->last_wamid[0] = d->last_detail[0] = 0;
	if (r->wamid)
		snprintf(d->last_wamid, sizeof d->last_wamid, "%.*s", (int)r->wamid_len, r->wamid);
	if (r->detail)
		snprintf(d->last_detail, sizeof d->last_detail, "%.*s", (int)r->detail_len, r->detail);
	if (r->outcome == WA_ACCEPTED && strncmp(d->last_wamid, "wamid.HELPER", 12))
		d->accepted_bad_wamid++;
	d->last.wamid = NULL;
	d->last.detail = NULL;
	while (d->next < d->total && waclient_free_slots(d->c) > 0)
		cr_assert_eq(send_one(d), 0);
	if (d->done == d->total)
		loop_stop(d->l);
}

static const enum waclient_http carriers[2] = { WACLIENT_HTTP_CURL, WACLIENT_HTTP_NATIVE };

static void drv_open(struct drv *d, enum loop_backend be, enum waclient_http http,
                     uint32_t window, uint32_t conns, uint32_t timeout_ms,
                     const char *base_override)
{
	memset(d, 0, sizeof *d);
	struct helper_httpd_opts ho = { .token = TOKEN };
	cr_assert_eq(helper_httpd_start(&d->h, &ho), 0);
	cr_assert_eq(loop_open(&d->l, be), 0);
	cr_assert_eq(loop_backend(d->l), be);
	char url[64];
	helper_httpd_url(d->h, url, sizeof url);
	struct waclient_config cfg = {
		.api_base = base_override ? base_override : url,
		.version = "v25.0",
		.phone_number_id = "110000000000001",
		.token = TOKEN,
		.window = window,
		.connections = conns,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = 2000,
		.http = http,
		.done = on_done,
	};
	cr_assert_eq(waclient_open(&d->c, d->l, &cfg), 0);
	cr_assert_eq(waclient_http_used(d->c), http);
}

static void drv_run(struct drv *d, uint32_t total, const char *tag)
{
	d->total = total;
	d->next = d->done = 0;
	d->tag = tag;
	memset(d->by_outcome, 0, sizeof d->by_outcome);
	free(d->seen);
	free(d->ctx);
	d->seen = calloc(total, 1);
	d->ctx = calloc(total, sizeof *d->ctx);
	cr_assert_eq(loop_timer_start(d->l, &d->guard, loop_now(d->l) + 25000000000ull,
	                              guard_fn, d), 0);
	while (d->next < d->total && waclient_free_slots(d->c) > 0)
		cr_assert_eq(send_one(d), 0);
	cr_assert_eq(loop_run(d->l), 0);
	loop_timer_stop(d->l, &d->guard);
	cr_assert_not(d->timed_out, "run timed out: %u of %u done", d->done, d->total);
	for (uint32_t i = 0; i < total; i++)
		cr_assert_eq(d->seen[i], 1, "request %u completed %u times", i, d->seen[i]);
	cr_assert_eq(waclient_inflight(d->c), 0);
}

static void drv_close(struct drv *d)
{
	waclient_close(&d->c);
	cr_assert_null(d->c);
	loop_close(&d->l);
	helper_httpd_stop(&d->h);
	free(d->seen);
	free(d->ctx);
}

/* Each case on both backends with both carriers. */
#define CARRIERS(fn, name)                                                    \
	Test(waclient, name##_uring_curl) { fn(LOOP_BACKEND_URING, WACLIENT_HTTP_CURL); }     \
	Test(waclient, name##_epoll_curl) { fn(LOOP_BACKEND_EPOLL, WACLIENT_HTTP_CURL); }     \
	Test(waclient, name##_uring_native) { fn(LOOP_BACKEND_URING, WACLIENT_HTTP_NATIVE); } \
	Test(waclient, name##_epoll_native) { fn(LOOP_BACKEND_EPOLL, WACLIENT_HTTP_NATIVE); }

/* ------------------------------------------------------------------ */

static void many_requests(enum loop_backend be, enum waclient_http http)
{
	struct drv d;
	drv_open(&d, be, http, 64, 16, 10000, NULL);
	drv_run(&d, 4000, NULL);
	cr_assert_eq(d.by_outcome[WA_ACCEPTED], 4000);
	cr_assert_eq(d.accepted_bad_wamid, 0);
	cr_assert_eq(helper_httpd_requests(d.h), 4000, "no request sent twice");
	cr_assert_eq(helper_httpd_bad_auth(d.h), 0);
	uint64_t conns = helper_httpd_connections(d.h);
	cr_assert(conns >= 1 && conns <= 16, "keep-alive reuse: %lu connections for 4000 requests",
	          (unsigned long)conns);
	struct waclient_stats st;
	waclient_stats_get(d.c, &st);
	cr_assert_eq(st.sent, 4000);
	cr_assert_eq(st.completed, 4000);
	cr_assert_eq(st.connects, conns, "client and server agree on connections");
	struct loop_stats ls;
	loop_stats_get(d.l, &ls);
	cr_assert_eq(ls.sockets_live, 0, "every socket REMOVEd between transfers");
	/* A second batch reuses the cached connections: no new ones. */
	drv_run(&d, 1000, NULL);
	cr_assert_eq(helper_httpd_connections(d.h), conns);
	drv_close(&d);
}

CARRIERS(many_requests, thousands_of_requests_complete_exactly_once)

static void server_closes(enum loop_backend be, enum waclient_http http)
{
	struct drv d;
	drv_open(&d, be, http, 32, 8, 10000, NULL);
	/* Every response closes its connection: 1500 short connections, fds
	 * reused at once by the next connect. Any poll keyed by fd, or a
	 * stale completion delivered to the new socket, loses or doubles a
	 * transfer, which drv_run detects. */
	drv_run(&d, 1500, "close");
	cr_assert_eq(d.by_outcome[WA_ACCEPTED], 1500);
	cr_assert_geq(helper_httpd_connections(d.h), 1500);
	struct loop_stats ls;
	loop_stats_get(d.l, &ls);
	cr_assert_eq(ls.sockets_live, 0);
	/* Let cancels and closes settle, then nothing may be left in the kernel. */
	for (int i = 0; i < 10; i++)
		loop_run_once(d.l, 1000000);
	loop_stats_get(d.l, &ls);
	cr_assert_eq(ls.polls_pending, be == LOOP_BACKEND_URING ? 1 : 0,
	             "only the wake-up poll is left (%lu): no leaked socket", (unsigned long)ls.polls_pending);
	drv_close(&d);
}

CARRIERS(server_closes, server_closed_connections_and_fd_reuse)

struct code_case {
	const char *script;
	enum wa_outcome want;
	int64_t code;
};

static void classification(enum loop_backend be, enum waclient_http http)
{
	static const struct code_case cases[] = {
		{ "err=130429", WA_RETRY_THROTTLE, 130429 },
		{ "err=130429:429", WA_RETRY_THROTTLE, 130429 },
		{ "err=4", WA_RETRY_THROTTLE, 4 },
		{ "err=131056", WA_RETRY_PAIR, 131056 },
		{ "err=2", WA_RETRY_TRANSIENT, 2 },
		{ "err=1", WA_RETRY_TRANSIENT, 1 },
		{ "err=131000", WA_RETRY_TRANSIENT, 131000 },
		{ "err=131016", WA_RETRY_TRANSIENT, 131016 },
		{ "err=133004", WA_RETRY_TRANSIENT, 133004 },
		{ "err=131057", WA_RETRY_TRANSIENT, 131057 },
		{ "err=131026", WA_FAILED_RECIPIENT, 131026 },
		{ "err=131009", WA_FAILED_RECIPIENT, 131009 },
		{ "err=100", WA_FAILED_RECIPIENT, 100 },
		{ "err=131047", WA_FAILED_RECIPIENT, 131047 },
		{ "err=132000", WA_STOP_CAMPAIGN, 132000 },
		{ "err=132001", WA_STOP_CAMPAIGN, 132001 },
		{ "err=132012", WA_STOP_CAMPAIGN, 132012 },
		{ "err=132015", WA_STOP_CAMPAIGN, 132015 },
		{ "err=132016", WA_STOP_CAMPAIGN, 132016 },
		{ "err=131048", WA_STOP_CAMPAIGN, 131048 },
		{ "err=190", WA_STOP_ENGINE, 190 },
		{ "err=190:400", WA_STOP_ENGINE, 190 },  /* real fixtures: 190 with 400 */
		{ "err=0", WA_STOP_ENGINE, 0 },
		{ "err=10", WA_STOP_ENGINE, 10 },
		{ "err=200", WA_STOP_ENGINE, 200 },
		{ "err=299", WA_STOP_ENGINE, 299 },
		{ "err=131005", WA_STOP_ENGINE, 131005 },
		{ "err=368", WA_STOP_ENGINE, 368 },
		{ "err=131031", WA_STOP_ENGINE, 131031 },
		{ "err=130497", WA_STOP_ENGINE, 130497 },
		{ "err=131064", WA_STOP_ENGINE, 131064 },
		{ "err=131056:200", WA_RETRY_PAIR, 131056 },  /* by code, not by status */
		{ "err=999999", WA_FAILED_RECIPIENT, 999999 },
		{ "status=502", WA_RETRY_TRANSIENT, WA_CODE_NONE },
		{ "status=503", WA_RETRY_TRANSIENT, WA_CODE_NONE },
		{ "status=429", WA_RETRY_THROTTLE, WA_CODE_NONE },
		{ "status=404", WA_STOP_CAMPAIGN, WA_CODE_NONE },
		{ "status=401", WA_STOP_ENGINE, WA_CODE_NONE },
		{ "garbage", WA_UNCERTAIN, WA_CODE_NONE },
	};
	struct drv d;
	drv_open(&d, be, http, 4, 2, 5000, NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		drv_run(&d, 1, cases[i].script);
		cr_assert_eq(d.last.outcome, cases[i].want, "%s: got %s", cases[i].script,
		             wa_outcome_name(d.last.outcome));
		cr_assert_eq(d.last.code, cases[i].code, "%s", cases[i].script);
		cr_assert_eq(d.last.curl_code, 0);
		if (cases[i].code != WA_CODE_NONE) {
			char want[64];
			snprintf(want, sizeof want, "scripted details %lld", (long long)cases[i].code);
			cr_assert_str_eq(d.last_detail, want, "%s", cases[i].script);
			cr_assert_eq(d.last.subcode, 2494055);
		}
	}
	drv_run(&d, 1, "err=1");
	cr_assert_eq(d.last.max_tries, 3, "code 1 is retried a limited number of times");
	drv_run(&d, 1, NULL);
	cr_assert_eq(d.last.outcome, WA_ACCEPTED);
	cr_assert_eq(d.last.http_status, 200);
	cr_assert_eq(strncmp(d.last_wamid, "wamid.HELPER", 12), 0);
	drv_close(&d);
}

CARRIERS(classification, every_code_class_is_classified_by_code)

static void transport(enum loop_backend be, enum waclient_http http)
{
	struct drv d;
	drv_open(&d, be, http, 8, 4, 400, NULL);
	/* No answer, connection closed after the request: sent, outcome unknown. */
	drv_run(&d, 3, "drop");
	cr_assert_eq(d.by_outcome[WA_UNCERTAIN], 3);
	cr_assert_neq(d.last.curl_code, 0);
	drv_run(&d, 3, "reset");
	cr_assert_eq(d.by_outcome[WA_UNCERTAIN], 3);
	/* Answer later than the client's timeout (400 ms): uncertain. */
	drv_run(&d, 4, "delay=1200");
	cr_assert_eq(d.by_outcome[WA_UNCERTAIN], 4);
	cr_assert_eq(d.last.curl_code, CURLE_OPERATION_TIMEDOUT);
	struct loop_stats ls;
	loop_stats_get(d.l, &ls);
	if (be == LOOP_BACKEND_URING && http == WACLIENT_HTTP_CURL)
		cr_assert_gt(ls.close_cancels, 0, "timed-out sockets closed with a poll armed");
	/* The client still works afterwards. */
	drv_run(&d, 20, NULL);
	cr_assert_eq(d.by_outcome[WA_ACCEPTED], 20);
	drv_close(&d);

	/* Nothing listens: the request never left, retry is safe. */
	struct helper_httpd *h;
	cr_assert_eq(helper_httpd_start(&h, NULL), 0);
	char url[64];
	helper_httpd_url(h, url, sizeof url);
	helper_httpd_stop(&h);  /* port now closed */
	drv_open(&d, be, http, 4, 2, 2000, url);
	drv_run(&d, 2, NULL);
	cr_assert_eq(d.by_outcome[WA_RETRY_TRANSIENT], 2);
	cr_assert_eq(d.last.curl_code, CURLE_COULDNT_CONNECT);
	cr_assert_eq(d.last.http_status, 0);
	drv_close(&d);
}

CARRIERS(transport, resets_drops_and_timeouts_are_uncertain_refused_is_transient)

Test(waclient, retry_after_in_seconds_and_as_http_date)
{
	for (int k = 0; k < 2; k++) {
	struct drv d;
	drv_open(&d, LOOP_BACKEND_URING, carriers[k], 2, 1, 5000, NULL);
	drv_run(&d, 1, "err=130429;retry=7");
	cr_assert_eq(d.last.outcome, WA_RETRY_THROTTLE);
	cr_assert_eq(d.last.retry_after_ns, 7000000000ull);
	drv_run(&d, 1, "err=130429;retrydate=30");
	cr_assert_eq(d.last.retry_after_ns, 30000000000ull);
	drv_run(&d, 1, "err=130429");
	cr_assert_eq(d.last.retry_after_ns, 0, "absent is normal");
	drv_close(&d);
	}
}

Test(waclient, request_line_headers_and_body_are_what_the_api_expects)
{
	for (int k = 0; k < 2; k++) {
	struct drv d;
	drv_open(&d, LOOP_BACKEND_EPOLL, carriers[k], 2, 1, 5000, NULL);
	drv_run(&d, 1, "b=4711;s=1");
	char body[4096], path[512];
	helper_httpd_last_path(d.h, path, sizeof path);
	cr_assert_str_eq(path, "POST /v25.0/110000000000001/messages");
	helper_httpd_last_body(d.h, body, sizeof body);
	json_error_t je;
	json_t *j = json_loads(body, 0, &je);
	cr_assert_not_null(j, "body is JSON: %s", je.text);
	cr_assert_str_eq(json_string_value(json_object_get(j, "messaging_product")), "whatsapp");
	cr_assert_str_eq(json_string_value(json_object_get(j, "to")), "+393350000000");
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "template");
	json_t *t = json_object_get(j, "template");
	cr_assert_str_eq(json_string_value(json_object_get(t, "name")), "allerta_meteo");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "language"), "code")), "it");
	json_t *p = json_array_get(json_object_get(json_array_get(json_object_get(t, "components"), 0),
	                                           "parameters"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(p, "text")),
	                 "Allerta \"meteo\" arancione\n\xe2\x9a\xa0");
	cr_assert_str_eq(json_string_value(json_object_get(j, "biz_opaque_callback_data")), "b=4711;s=1");
	json_decref(j);
	cr_assert_eq(helper_httpd_bad_auth(d.h), 0, "bearer token sent");
	drv_close(&d);
	}
}

Test(waclient, wrong_token_stops_the_engine)
{
	for (int k = 0; k < 2; k++) {
	struct drv d;
	memset(&d, 0, sizeof d);
	struct helper_httpd_opts ho = { .token = "the-right-one" };
	cr_assert_eq(helper_httpd_start(&d.h, &ho), 0);
	cr_assert_eq(loop_open(&d.l, LOOP_BACKEND_AUTO), 0);
	char url[64];
	helper_httpd_url(d.h, url, sizeof url);
	struct waclient_config cfg = { .api_base = url, .phone_number_id = "1", .token = "wrong",
	                               .http = carriers[k], .done = on_done };
	cr_assert_eq(waclient_open(&d.c, d.l, &cfg), 0);
	drv_run(&d, 2, NULL);
	cr_assert_eq(d.by_outcome[WA_STOP_ENGINE], 2);
	cr_assert_eq(d.last.code, 190);
	cr_assert_eq(d.last.http_status, 401);
	drv_close(&d);
	}
}

static void never(void *ud, const struct wa_result *r, uint64_t now)
{
	(void)ud;
	(void)r;
	(void)now;
	cr_assert_fail("callback must not run");
}

Test(waclient, full_window_and_bad_messages_fail_without_callback)
{
	for (int k = 0; k < 2; k++) {
	struct loop *l;
	struct helper_httpd *h;
	cr_assert_eq(helper_httpd_start(&h, NULL), 0);
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	char url[64];
	helper_httpd_url(h, url, sizeof url);
	struct waclient *c;
	struct waclient_config cfg = { .api_base = url, .phone_number_id = "123", .token = "t",
	                               .window = 2, .done = never, .http = carriers[k],
	                               .build_flags = WAREQ_STRICT_UTF8 };
	cr_assert_eq(waclient_open(&c, l, &cfg), 0);
	struct wa_msg m = { .kind = WA_MSG_TEXT, .to = 393351234567ull,
	                    .text = { (const uint8_t *)"ciao", 4 } };
	struct wa_msg bad = m;
	bad.text = (struct wa_bytes){ (const uint8_t *)"\xff", 1 };
	cr_assert_eq(waclient_send(c, &bad, NULL), BND_E_WA_UTF8);
	bad = m;
	bad.to = 12;
	cr_assert_eq(waclient_send(c, &bad, NULL), BND_E_INVAL);
	cr_assert_eq(waclient_inflight(c), 0);
	cr_assert_eq(waclient_send(c, &m, NULL), 0);
	cr_assert_eq(waclient_send(c, &m, NULL), 0);
	cr_assert_eq(waclient_send(c, &m, NULL), BND_E_WA_FULL);
	cr_assert_eq(waclient_inflight(c), 2);
	waclient_close(&c);  /* in flight: dropped without callbacks */
	loop_close(&l);
	helper_httpd_stop(&h);
	}
}

Test(waclient, bad_configuration_is_refused)
{
	struct loop *l;
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	struct waclient *c = (struct waclient *)1;
	struct waclient_config ok = { .phone_number_id = "123", .token = "t", .done = never };
	struct waclient_config cfg = ok;
	cfg.phone_number_id = "12a";
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG);
	cr_assert_null(c);
	cfg = ok;
	cfg.token = "has space";
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG);
	cfg = ok;
	cfg.token = NULL;
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG);
	cfg = ok;
	cfg.api_base = "ftp://x";
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG);
	cfg = ok;
	cfg.version = "v25.0/../x";
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG);
	cfg = ok;
	cfg.window = WACLIENT_WINDOW_MAX + 1;
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_INVAL);
	cfg = ok;
	cfg.api_base = "https://graph.facebook.com";
	cfg.http = WACLIENT_HTTP_AUTO;
	cr_assert_eq(waclient_open(&c, l, &cfg), 0);
	cr_assert_eq(waclient_http_used(c), WACLIENT_HTTP_NATIVE, "https without a proxy: native");
	waclient_close(&c);
	setenv("https_proxy", "http://127.0.0.1:3128", 1);
	cr_assert_eq(waclient_open(&c, l, &cfg), 0);
	cr_assert_eq(waclient_http_used(c), WACLIENT_HTTP_CURL, "an https proxy: curl");
	waclient_close(&c);
	unsetenv("https_proxy");
	cfg.ca_file = "/nonexistent/ca.pem";
	cfg.http = WACLIENT_HTTP_NATIVE;
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG, "a CA file that does not load");
	cfg.ca_file = NULL;
	cfg.api_base = "http://127.0.0.1:9";
	cfg.http = WACLIENT_HTTP_AUTO;
	cr_assert_eq(waclient_open(&c, l, &cfg), 0);
	cr_assert_eq(waclient_http_used(c), WACLIENT_HTTP_NATIVE, "plain http: native");
	waclient_close(&c);
	setenv("http_proxy", "http://127.0.0.1:3128", 1);
	cr_assert_eq(waclient_open(&c, l, &cfg), 0);
	cr_assert_eq(waclient_http_used(c), WACLIENT_HTTP_CURL, "a proxy: curl");
	waclient_close(&c);
	unsetenv("http_proxy");
	cfg.http = WACLIENT_HTTP_NATIVE;
	cfg.api_base = "http://user:pw@127.0.0.1:9";
	cr_assert_eq(waclient_open(&c, l, &cfg), BND_E_WA_CONFIG, "credentials in the URL");
	cr_assert_eq(waclient_open(&c, l, &ok), 0);
	waclient_close(&c);
	loop_close(&l);
}

static void abort_done(void *ud, const struct wa_result *r, uint64_t now)
{
	int *n = ud;
	(void)now;
	cr_assert_eq(r->curl_code, CURLE_ABORTED_BY_CALLBACK);
	cr_assert(r->outcome == WA_UNCERTAIN || r->outcome == WA_RETRY_TRANSIENT);
	(*n)++;
}

Test(waclient, abort_all_completes_everything_in_flight_once)
{
	for (int k = 0; k < 2; k++) {
	struct loop *l;
	struct helper_httpd *h;
	cr_assert_eq(helper_httpd_start(&h, NULL), 0);
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	char url[64];
	helper_httpd_url(h, url, sizeof url);
	struct waclient *c;
	struct waclient_config cfg = { .api_base = url, .phone_number_id = "123", .token = "t",
	                               .window = 8, .http = carriers[k], .done = abort_done };
	cr_assert_eq(waclient_open(&c, l, &cfg), 0);
	struct wa_msg m = { .kind = WA_MSG_TEXT, .to = 393351234567ull,
	                    .text = { (const uint8_t *)"x", 1 },
	                    .tag = { (const uint8_t *)"delay=2000", 10 } };
	int n = 0;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(waclient_send(c, &m, &n), 0);
	for (int i = 0; i < 20; i++)
		loop_run_once(l, 10000000);  /* requests leave */
	waclient_abort_all(c, loop_now(l));
	cr_assert_eq(n, 5);
	cr_assert_eq(waclient_inflight(c), 0);
	waclient_close(&c);
	loop_close(&l);
	helper_httpd_stop(&h);
	}
}
