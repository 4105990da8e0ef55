/*
 * test_opapi.c - engine/opapi.c over a real httpd on 127.0.0.1:0 with
 * libcurl, a real store and real notice directories (notice.json,
 * recipients.bin, journal.log). The sender is a recording fake behind the
 * opapi_sender function pointers: it answers at once, later from another
 * thread, holds the callback for the test to release, or refuses. Where a
 * test needs progress, it writes the journal itself the way the sender does
 * (a writer handle, which is also what makes a cancel go to the sender).
 * The clock is the test's: expiry, rates, coverage windows and start
 * latency are exact.
 *
 * Every wait is bounded (curl time-outs, loop counts).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "config.h"
#include "httpd.h"
#include "journal.h"
#include "metrics.h"
#include "notice.h"
#include "opapi.h"
#include "phone.h"
#include "store.h"

#define TOKEN "s3cret-admin-token"
#define NCONF 50
#define T0 1760263200000ull          /* 2025-10-12T10:00:00Z */

/* ---- the fake sender --------------------------------------------------------- */

enum fake_mode { FAKE_SYNC = 0, FAKE_ASYNC = 1, FAKE_HOLD = 2 };

static struct fake {
	pthread_mutex_t mu;
	enum fake_mode mode;
	int post_rc;          /* returned by post_* (then done never runs) */
	int done_rc;          /* passed to done */
	int adds, cancels;
	char last_add[NOTICE_ID_SIZE], last_cancel[NOTICE_ID_SIZE];
	opapi_done_fn held_fn;
	void *held_ud;
	int has_first;
	uint64_t first_ms;
} fk = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct later {
	opapi_done_fn fn;
	void *ud;
	int rc;
};

static void *later_thread(void *arg)
{
	struct later *l = arg;
	struct timespec ts = { 0, 30 * 1000000L };
	nanosleep(&ts, NULL);
	l->fn(l->ud, l->rc);
	free(l);
	return NULL;
}

static int fake_post(int cancel, const char *id, opapi_done_fn done, void *ud)
{
	pthread_mutex_lock(&fk.mu);
	if (cancel) {
		fk.cancels++;
		snprintf(fk.last_cancel, sizeof fk.last_cancel, "%s", id);
	} else {
		fk.adds++;
		snprintf(fk.last_add, sizeof fk.last_add, "%s", id);
	}
	int prc = fk.post_rc, drc = fk.done_rc;
	enum fake_mode mode = fk.mode;
	if (!prc && mode == FAKE_HOLD) {
		fk.held_fn = done;
		fk.held_ud = ud;
	}
	pthread_mutex_unlock(&fk.mu);
	if (prc)
		return prc;
	if (mode == FAKE_SYNC) {
		done(ud, drc);
	} else if (mode == FAKE_ASYNC) {
		struct later *l = malloc(sizeof *l);
		*l = (struct later){ done, ud, drc };
		pthread_t th;
		cr_assert_eq(pthread_create(&th, NULL, later_thread, l), 0);
		pthread_detach(th);
	}
	return 0;
}

static int fake_add(void *ctx, const char *id, opapi_done_fn done, void *ud)
{
	(void)ctx;
	return fake_post(0, id, done, ud);
}

static int fake_cancel(void *ctx, const char *id, opapi_done_fn done, void *ud)
{
	(void)ctx;
	return fake_post(1, id, done, ud);
}

static int fake_first(void *ctx, const char *id, uint64_t *ms)
{
	(void)ctx;
	(void)id;
	pthread_mutex_lock(&fk.mu);
	int ok = fk.has_first;
	*ms = fk.first_ms;
	pthread_mutex_unlock(&fk.mu);
	return ok ? 0 : BND_E_NOTFOUND;
}

/* ---- the fixture --------------------------------------------------------------- */

static char tmp[256], data[300];
static struct config cfg;
static struct store *st;
static struct httpd *hd;
static struct opapi *api;
static struct metrics *reg;
static struct metrics_set ms;
static _Atomic uint64_t clk = T0;
static char base_url[64];
static uint64_t numbers[NCONF];

static uint64_t fake_clock(void *ud)
{
	(void)ud;
	return atomic_load(&clk);
}

static char *dup_(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bnd_malloc(n);
	memcpy(d, s, n);
	return d;
}

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
	(void)s;
	(void)flag;
	(void)f;
	return remove(p);
}

static void start_api(int with_token, int with_first)
{
	struct opapi_deps d = {
		.cfg = &cfg,
		.store = st,
		.sender = { .post_add = fake_add, .post_cancel = fake_cancel,
		            .first_dispatch_ms = with_first ? fake_first : NULL },
		.metrics = &ms,
		.wall_ms = fake_clock,
	};
	if (!with_token) {
		bnd_free(cfg.admin_token);
		cfg.admin_token = NULL;
	}
	struct httpd_opts o = { .listen = "127.0.0.1:0", .threads = 2 };
	cr_assert_eq(httpd_open(&hd, &o), 0);
	cr_assert_eq(opapi_open(&api, &d), 0);
	cr_assert_eq(opapi_register(api, hd), 0);
	cr_assert_eq(httpd_start(hd), 0);
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", httpd_port(hd));
}

static void setup(void)
{
	const char *b = getenv("BANDITORE_TEST_TMP");
	if (!b || !*b)
		b = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(tmp, sizeof tmp, "%.150s/bnd-opapi-XXXXXX", b);
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(data, sizeof data, "%s/data", tmp);
	struct store_opts so = { .flags = STORE_CREATE, .holder = "test_opapi" };
	cr_assert_eq(store_open(&st, data, &so, NULL), 0);
	for (int i = 0; i < NCONF; i++) {
		numbers[i] = 393350000000ull + (uint64_t)i * 7919ull;
		cr_assert_eq(store_append(st, numbers[i], SUB_CONFIRMED, T0 - 1000, NULL, 0, NULL), 0);
	}
	for (int i = 0; i < 3; i++)
		cr_assert_eq(store_append(st, 393390000000ull + (uint64_t)i, SUB_REQUESTED, T0, NULL, 0,
		                          NULL), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(store_append(st, 393380000000ull + (uint64_t)i, SUB_UNSUBSCRIBED, T0, NULL,
		                          0, NULL), 0);
	cr_assert_eq(store_sync(st, 0), 0);

	cr_assert_eq(config_defaults(&cfg), 0);
	bnd_free(cfg.data);
	cfg.data = dup_(data);
	cfg.admin_token = dup_(TOKEN);
	cr_assert_eq(metrics_open(&reg), 0);
	struct metrics_build mb = { "test", "epoll" };
	cr_assert_eq(metrics_set_register(reg, &ms, &mb), 0);
	pthread_mutex_lock(&fk.mu);
	fk.mode = FAKE_SYNC;
	fk.post_rc = fk.done_rc = 0;
	fk.adds = fk.cancels = 0;
	fk.held_fn = NULL;
	fk.has_first = 0;
	pthread_mutex_unlock(&fk.mu);
	atomic_store(&clk, T0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
	opapi_shutdown(api);
	httpd_close(&hd);
	opapi_close(&api);
	store_close(&st);
	config_free(&cfg);
	metrics_close(&reg);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
}

TestSuite(opapi, .init = setup, .fini = teardown, .timeout = 60);

/* ---- HTTP ------------------------------------------------------------------------- */

struct resp {
	long status;
	char body[65536];
	size_t len;
	char location[128], www_auth[128], allow[64];
	json_t *json;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t k = sz * n;
	if (r->len + k >= sizeof r->body)
		k = sizeof r->body - 1 - r->len;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = 0;
	return sz * n;
}

static void grab(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (len > nl && strncasecmp(line, name, nl) == 0) {
		size_t v = len - nl;
		while (v && (line[nl + v - 1] == '\r' || line[nl + v - 1] == '\n'))
			v--;
		snprintf(out, cap, "%.*s", (int)v, line + nl);
	}
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	grab(p, sz * n, "Location: ", r->location, sizeof r->location);
	grab(p, sz * n, "WWW-Authenticate: ", r->www_auth, sizeof r->www_auth);
	grab(p, sz * n, "Allow: ", r->allow, sizeof r->allow);
	return sz * n;
}

/* One request. token NULL: no Authorization header. extra: one more header. */
static void call(struct resp *r, const char *method, const char *path, const char *token,
                 const char *body, const char *extra)
{
	memset(r, 0, sizeof *r);
	char url[512], auth[256];
	snprintf(url, sizeof url, "%s%s", base_url, path);
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (extra)
		h = curl_slist_append(h, extra);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(c);
	cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	r->json = r->len ? json_loads(r->body, 0, NULL) : NULL;
}

static void done_resp(struct resp *r)
{
	json_decref(r->json);
	r->json = NULL;
}

static const char *jstr(json_t *o, const char *path)
{
	json_t *v = o;
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *jget(json_t *o, const char *path)
{
	json_t *v = o;
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	return v;
}

static long long jint(json_t *o, const char *path)
{
	json_t *v = jget(o, path);
	cr_assert(json_is_integer(v), "%s is not an integer", path);
	return json_integer_value(v);
}

/* No subscriber's number, whole, in s. */
static void assert_no_number(const char *s)
{
	for (int i = 0; i < NCONF; i++) {
		char d[PHONE_STR_MAX];
		phone_format(numbers[i], d);
		cr_assert_null(strstr(s, d), "a full number in: %s", s);
	}
}

/* POST a notice; returns its id in id (status must be 202). */
static void post_notice(const char *body, char id[NOTICE_ID_SIZE])
{
	struct resp r;
	call(&r, "POST", "/v1/notices", TOKEN, body, NULL);
	cr_assert_eq(r.status, 202, "status %ld: %s", r.status, r.body);
	const char *v = jstr(r.json, "id");
	cr_assert_not_null(v);
	cr_assert(notice_id_valid((const uint8_t *)v, strlen(v)));
	snprintf(id, NOTICE_ID_SIZE, "%s", v);
	done_resp(&r);
}

/* ---- authentication ------------------------------------------------------------------ */

Test(opapi, every_route_needs_the_bearer_token)
{
	start_api(1, 0);
	static const char *const paths[][2] = {
		{ "GET", "/v1/subscribers" }, { "GET", "/v1/notices" }, { "POST", "/v1/notices" },
		{ "GET", "/v1/notices/n-20251012T100000-abcd" },
		{ "POST", "/v1/notices/n-20251012T100000-abcd/cancel" }, { "GET", "/v1/nothing" },
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct resp r;
		call(&r, paths[i][0], paths[i][1], NULL, NULL, NULL);
		cr_assert_eq(r.status, 401, "%s %s: %ld", paths[i][0], paths[i][1], r.status);
		cr_assert_str_eq(jstr(r.json, "error.code"), "unauthorized");
		cr_assert_str_eq(r.www_auth, "Bearer realm=\"banditore\"");
		done_resp(&r);
		call(&r, paths[i][0], paths[i][1], "s3cret-admin-tokeN", NULL, NULL);
		cr_assert_eq(r.status, 401);
		done_resp(&r);
		call(&r, paths[i][0], paths[i][1], TOKEN "x", NULL, NULL);
		cr_assert_eq(r.status, 401);
		done_resp(&r);
	}
	struct resp r;
	call(&r, "GET", "/v1/subscribers", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200);
	done_resp(&r);
	cr_assert_eq(metrics_counter_get(ms.operator_requests[METRICS_OP_UNAUTHORIZED]), 18);
	cr_assert_eq(metrics_counter_get(ms.operator_requests[METRICS_OP_OK]), 1);
	cr_assert_eq(fk.adds, 0);
}

Test(opapi, without_an_admin_token_the_api_answers_503)
{
	start_api(0, 0);
	struct resp r;
	call(&r, "GET", "/v1/subscribers", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(jstr(r.json, "error.code"), "disabled");
	done_resp(&r);
	call(&r, "POST", "/v1/notices", "", "{\"category\":\"info\",\"text\":\"x\"}", NULL);
	cr_assert_eq(r.status, 503);
	done_resp(&r);
	cr_assert_eq(fk.adds, 0);
	cr_assert_eq(metrics_counter_get(ms.operator_requests[METRICS_OP_ERROR]), 2);
}

Test(opapi, unknown_paths_and_methods_under_v1_answer_json)
{
	start_api(1, 0);
	struct resp r;
	call(&r, "GET", "/v1/whatever", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(jstr(r.json, "error.code"), "not_found");
	done_resp(&r);
	call(&r, "DELETE", "/v1/notices/n-20251012T100000-abcd", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET");
	done_resp(&r);
	call(&r, "GET", "/v1/notices/n-20251012T100000-abcd/cancel", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "POST");
	done_resp(&r);
	call(&r, "GET", "/v1/notices/not-an-id", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	done_resp(&r);
	call(&r, "GET", "/v1/notices/n-20251012T100000-abcd/cancel/x", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	done_resp(&r);
	call(&r, "GET", "/v1/notices/n-20251012T100000-abcd", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(jstr(r.json, "error.code"), "not_found");
	done_resp(&r);
}

/* ---- subscribers ---------------------------------------------------------------------- */

Test(opapi, subscribers_are_counts_by_state_and_never_numbers)
{
	start_api(1, 0);
	struct resp r;
	call(&r, "GET", "/v1/subscribers", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(jint(r.json, "confirmed"), NCONF);
	cr_assert_eq(jint(r.json, "requested"), 3);
	cr_assert_eq(jint(r.json, "unsubscribed"), 2);
	cr_assert_eq(jint(r.json, "invalid"), 0);
	cr_assert_eq(json_object_size(r.json), 4);
	assert_no_number(r.body);
	done_resp(&r);
	/* A change shows at once. */
	cr_assert_eq(store_append(st, numbers[0], SUB_UNSUBSCRIBED, T0 + 5, NULL, 0, NULL), 0);
	call(&r, "GET", "/v1/subscribers", TOKEN, NULL, NULL);
	cr_assert_eq(jint(r.json, "confirmed"), NCONF - 1);
	cr_assert_eq(jint(r.json, "unsubscribed"), 3);
	done_resp(&r);
}

/* ---- POST /v1/notices: validation --------------------------------------------------------- */

Test(opapi, bad_notices_get_field_level_400s)
{
	start_api(1, 0);
	static const struct {
		const char *body, *field, *msg_part;
	} cases[] = {
		{ "{}", "category", "is required" },
		{ "{\"category\":\"alert\",\"text\":\"x\"}", "category",
		  "must be one of emergency|disruption|deadline|event|info" },
		{ "{\"category\":\"Emergency\",\"text\":\"x\"}", "category", "must be one of" },
		{ "{\"category\":7,\"text\":\"x\"}", "category", "must be one of" },
		{ "{\"category\":\"info\"}", "text", "is required" },
		{ "{\"category\":\"info\",\"text\":\"\"}", "text", "1 to 4096 characters" },
		{ "{\"category\":\"info\",\"text\":5}", "text", "must be a string" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"expiry\":\"soon\"}", "expiry", "duration" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"expiry\":\"2025-10-12T09:00:00Z\"}", "expiry",
		  "in the future" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"expiry\":\"31d\"}", "expiry", "within 30 days" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"expiry\":\"2025-10-12T12:00:00\"}", "expiry",
		  "RFC 3339" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"expiry\":3600}", "expiry", "duration" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"priority\":4}", "priority", "info has priority 1" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"priority\":\"high\"}", "priority", "set by the" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"parameters\":[\"a\"]}", "parameters",
		  "needs \"template\"" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"template\":\"Bad-Name\"}", "template",
		  "template name" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"template\":\"t\",\"language\":\"i\"}",
		  "language", "language code" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"template\":\"t\",\"parameters\":\"a\"}",
		  "parameters", "array" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"template\":\"t\",\"parameters\":[\"\"]}",
		  "parameters", "entry 0" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"template\":\"t\",\"parameters\":[1]}",
		  "parameters", "entry 0" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"template\":\"t\",\"parameters\":"
		  "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]}",
		  "parameters", "at most 10" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"plain_text\":true,\"template\":\"t\"}",
		  "plain_text", "cannot be combined" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"plain_text\":\"yes\"}", "plain_text",
		  "true or false" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"expires\":\"6h\"}", "expires", "unknown field" },
		{ "{\"category\":\"info\",\"text\":\"x\",\"393351234567\":1}", "?",
		  "unknown field" },   /* a key that could be a number is not echoed */
		{ "{\"category\":\"info\",\"text\":\"x\",\"n1234567\":1}", "n1234567",
		  "unknown field" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct resp r;
		call(&r, "POST", "/v1/notices", TOKEN, cases[i].body, NULL);
		cr_assert_eq(r.status, 400, "case %zu: %ld %s", i, r.status, r.body);
		cr_assert_str_eq(jstr(r.json, "error.code"), "invalid_field", "case %zu", i);
		cr_assert_str_eq(jstr(r.json, "error.field"), cases[i].field, "case %zu: %s", i, r.body);
		cr_assert_not_null(strstr(jstr(r.json, "error.message"), cases[i].msg_part),
		                   "case %zu: %s", i, r.body);
		done_resp(&r);
	}
	/* The exact wording scripts may match. */
	struct resp r;
	call(&r, "POST", "/v1/notices", TOKEN, "{\"category\":\"x\",\"text\":\"y\"}", NULL);
	cr_assert_str_eq(r.body, "{\"error\":{\"code\":\"invalid_field\",\"message\":\"must be one of "
	                 "emergency|disruption|deadline|event|info\",\"field\":\"category\"}}\n");
	done_resp(&r);
	/* A text of 4096 characters passes, 4097 does not (multi-byte counted as one). */
	size_t n = 4097 * 2 + 64;
	char *big = malloc(n);
	int k = snprintf(big, n, "{\"category\":\"info\",\"text\":\"");
	for (int c = 0; c < 4097; c++)
		k += snprintf(big + k, n - (size_t)k, "\xc3\xa8");
	snprintf(big + k, n - (size_t)k, "\"}");
	call(&r, "POST", "/v1/notices", TOKEN, big, NULL);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(r.json, "error.field"), "text");
	done_resp(&r);
	free(big);
	cr_assert_eq(fk.adds, 0, "no invalid notice reached the sender");
	char dir[400];
	snprintf(dir, sizeof dir, "%s/notices", data);
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t nids = 9;
	cr_assert_eq(notice_list(data, &ids, &nids), 0);
	cr_assert_eq(nids, 0, "no invalid notice on disk");
	bnd_free(ids);
}

Test(opapi, malformed_bodies_are_400_bad_json)
{
	start_api(1, 0);
	static const char *const bodies[] = { "", "{", "[1,2]", "\"x\"", "{\"category\":\"info\",\"text\":\"a\"}x",
		"{\"category\":\"info\",\"category\":\"event\",\"text\":\"a\"}",
		"{\"category\":\"info\",\"text\":\"a\\u0000b\"}" };
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct resp r;
		call(&r, "POST", "/v1/notices", TOKEN, bodies[i], NULL);
		cr_assert_eq(r.status, 400, "body %zu: %ld", i, r.status);
		cr_assert_str_eq(jstr(r.json, "error.code"), "bad_json", "body %zu: %s", i, r.body);
		done_resp(&r);
	}
	struct resp r;
	call(&r, "POST", "/v1/notices", TOKEN, "{\n  \"category\": ,\n}", NULL);
	cr_assert_eq(jint(r.json, "error.line"), 2);
	done_resp(&r);
	cr_assert_eq(fk.adds, 0);
}

/* ---- POST /v1/notices: creation ------------------------------------------------------------ */

Test(opapi, a_notice_is_created_on_disk_and_handed_to_the_sender)
{
	start_api(1, 0);
	struct resp r;
	call(&r, "POST", "/v1/notices", TOKEN,
	     "{\"category\":\"emergency\",\"text\":\"Allerta meteo rossa: scuole chiuse\"}", NULL);
	cr_assert_eq(r.status, 202, "%s", r.body);
	const char *id = jstr(r.json, "id");
	cr_assert_not_null(id);
	cr_assert_str_eq(id, fk.last_add);
	cr_assert_eq(fk.adds, 1);
	cr_assert_str_eq(jstr(r.json, "category"), "emergency");
	cr_assert_eq(jint(r.json, "priority"), 4);
	cr_assert_eq(jint(r.json, "recipients"), NCONF);
	cr_assert_str_eq(jstr(r.json, "created"), "2025-10-12T10:00:00.000Z");
	cr_assert_str_eq(jstr(r.json, "expires"), "2025-10-12T16:00:00.000Z"); /* 6h default */
	char want[64];
	snprintf(want, sizeof want, "/v1/notices/%s", id);
	cr_assert_str_eq(r.location, want);
	cr_assert_str_eq(jstr(r.json, "self"), want);

	struct notice *n = malloc(sizeof *n);
	cr_assert_eq(notice_load(data, id, n), 0);
	cr_assert_eq(n->category, NOTICE_CAT_EMERGENCY);
	cr_assert_eq(n->recipients, NCONF);
	cr_assert_eq(n->created_ms, T0);
	cr_assert_eq(n->expires_ms, T0 + 6 * 3600000ull);
	cr_assert_str_eq(n->template_name, "notice");   /* notices.template */
	cr_assert_str_eq(n->lang, "it");
	cr_assert_eq(n->nparams, 0);
	cr_assert_str_eq(n->text, "Allerta meteo rossa: scuole chiuse");
	struct notice_rcpt *rc = NULL;
	cr_assert_eq(notice_rcpt_open(&rc, data, id), 0);
	cr_assert_eq(notice_rcpt_count(rc), NCONF);
	uint64_t prev = 0;
	for (uint32_t i = 0; i < NCONF; i++) {
		uint64_t v = notice_rcpt_get(rc, i);
		cr_assert_gt(v, prev);
		prev = v;
	}
	notice_rcpt_close(&rc);
	char path[512];
	notice_path(path, sizeof path, data, id, "notice.json");
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	free(n);
	done_resp(&r);
	cr_assert_eq(metrics_counter_get(ms.operator_requests[METRICS_OP_OK]), 1);
}

Test(opapi, template_parameters_language_expiry_and_plain_text)
{
	start_api(1, 0);
	char id[NOTICE_ID_SIZE];
	post_notice("{\"category\":\"disruption\",\"template\":\"allerta_meteo\",\"language\":\"en_US\","
	            "\"parameters\":[\"arancione\",\"domenica 12 ottobre\"],"
	            "\"expiry\":\"2025-10-12T20:30:00+02:00\"}", id);
	struct notice *n = malloc(sizeof *n);
	cr_assert_eq(notice_load(data, id, n), 0);
	cr_assert_str_eq(n->template_name, "allerta_meteo");
	cr_assert_str_eq(n->lang, "en_US");
	cr_assert_eq(n->nparams, 2);
	cr_assert_str_eq(n->params[1], "domenica 12 ottobre");
	cr_assert_str_eq(n->text, "arancione\ndomenica 12 ottobre");
	cr_assert_eq(n->expires_ms, T0 + 8 * 3600000ull + 30 * 60000ull);   /* 18:30Z */

	post_notice("{\"category\":\"event\",\"text\":\"Sagra\",\"expiry\":\"90m\",\"priority\":0}", id);
	cr_assert_eq(notice_load(data, id, n), 0);
	cr_assert_eq(n->expires_ms, T0 + 90 * 60000ull);
	cr_assert_str_eq(n->template_name, "notice");

	post_notice("{\"category\":\"info\",\"text\":\"Ciao\",\"plain_text\":true}", id);
	cr_assert_eq(notice_load(data, id, n), 0);
	cr_assert_str_eq(n->template_name, "");
	cr_assert_eq(n->expires_ms, T0 + 72 * 3600000ull);   /* notices.expiry.info */
	free(n);
	cr_assert_eq(fk.adds, 3);
}

Test(opapi, a_refusal_by_the_sender_is_reported_with_the_id)
{
	start_api(1, 0);
	fk.done_rc = BND_E_RANGE;
	struct resp r;
	call(&r, "POST", "/v1/notices", TOKEN, "{\"category\":\"info\",\"text\":\"x\"}", NULL);
	cr_assert_eq(r.status, 503, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "error.code"), "sender_busy");
	const char *id = jstr(r.json, "error.id");
	cr_assert_not_null(id);
	cr_assert_str_eq(id, fk.last_add);
	done_resp(&r);
	fk.done_rc = 0;
	fk.post_rc = BND_E_NOMEM;
	call(&r, "POST", "/v1/notices", TOKEN, "{\"category\":\"info\",\"text\":\"x\"}", NULL);
	cr_assert_eq(r.status, 500, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "error.code"), "sender_error");
	done_resp(&r);
	cr_assert_eq(fk.adds, 2);
}

Test(opapi, the_answer_waits_for_a_sender_on_another_thread)
{
	start_api(1, 0);
	fk.mode = FAKE_ASYNC;
	char id[NOTICE_ID_SIZE];
	for (int i = 0; i < 5; i++)
		post_notice("{\"category\":\"deadline\",\"text\":\"Scadenza TARI\"}", id);
	cr_assert_eq(fk.adds, 5);
	fk.mode = FAKE_SYNC;   /* the detached threads are done: each answered */
}

struct bg {
	struct resp r;
	const char *method, *path, *body;
	pthread_t th;
};

static void *bg_call(void *arg)
{
	struct bg *b = arg;
	call(&b->r, b->method, b->path, TOKEN, b->body, NULL);
	return NULL;
}

static void wait_held(void)
{
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&fk.mu);
		int held = fk.held_fn != NULL;
		pthread_mutex_unlock(&fk.mu);
		if (held)
			return;
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("the sender was never called");
}

Test(opapi, shutdown_answers_requests_waiting_for_the_sender_and_late_callbacks_are_harmless)
{
	start_api(1, 0);
	fk.mode = FAKE_HOLD;
	struct bg b = { .method = "POST", .path = "/v1/notices",
		        .body = "{\"category\":\"info\",\"text\":\"x\"}" };
	cr_assert_eq(pthread_create(&b.th, NULL, bg_call, &b), 0);
	wait_held();
	opapi_shutdown(api);
	pthread_join(b.th, NULL);
	cr_assert_eq(b.r.status, 503, "%s", b.r.body);
	cr_assert_str_eq(jstr(b.r.json, "error.code"), "shutting_down");
	done_resp(&b.r);
	/* The sender answers after all: nothing to answer, nothing freed twice. */
	fk.held_fn(fk.held_ud, 0);
	struct resp r;
	call(&r, "GET", "/v1/subscribers", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 503);
	done_resp(&r);
}

Test(opapi, a_held_request_left_at_close_is_freed)
{
	start_api(1, 0);
	fk.mode = FAKE_HOLD;
	struct bg b = { .method = "POST", .path = "/v1/notices",
		        .body = "{\"category\":\"info\",\"text\":\"x\"}" };
	cr_assert_eq(pthread_create(&b.th, NULL, bg_call, &b), 0);
	wait_held();
	opapi_shutdown(api);
	pthread_join(b.th, NULL);
	cr_assert_eq(b.r.status, 503);
	done_resp(&b.r);
	/* No callback ever: teardown's opapi_close frees the orphan (ASan). */
}

Test(opapi, an_idempotency_key_creates_one_notice)
{
	start_api(1, 0);
	struct resp r1, r2;
	const char *body = "{\"category\":\"emergency\",\"text\":\"Evacuazione\"}";
	call(&r1, "POST", "/v1/notices", TOKEN, body, "Idempotency-Key: alert-42");
	cr_assert_eq(r1.status, 202);
	call(&r2, "POST", "/v1/notices", TOKEN, body, "Idempotency-Key: alert-42");
	cr_assert_eq(r2.status, 200, "%s", r2.body);
	cr_assert_str_eq(jstr(r2.json, "id"), jstr(r1.json, "id"));
	cr_assert(json_is_true(jget(r2.json, "duplicate")));
	cr_assert_str_eq(r2.location, r1.location);
	done_resp(&r1);
	done_resp(&r2);
	cr_assert_eq(fk.adds, 1);
	call(&r1, "POST", "/v1/notices", TOKEN, body, "Idempotency-Key: alert-43");
	cr_assert_eq(r1.status, 202);
	done_resp(&r1);
	cr_assert_eq(fk.adds, 2);
	/* A refused body does not burn its key. */
	call(&r1, "POST", "/v1/notices", TOKEN, "{}", "Idempotency-Key: alert-44");
	cr_assert_eq(r1.status, 400);
	done_resp(&r1);
	call(&r1, "POST", "/v1/notices", TOKEN, body, "Idempotency-Key: alert-44");
	cr_assert_eq(r1.status, 202);
	done_resp(&r1);
}

/* ---- progress: GET /v1/notices/{id} ------------------------------------------------------ */

static struct journal *writer(const char *id)
{
	struct journal *j = NULL;
	cr_assert_eq(journal_open_notice(&j, data, id, NULL, NULL, NULL), 0);
	return j;
}

Test(opapi, a_notice_report_has_counts_rate_eta_coverage_failures_and_latency)
{
	start_api(1, 0);
	char id[NOTICE_ID_SIZE];
	post_notice("{\"category\":\"emergency\",\"text\":\"Allerta\"}", id);
	struct resp r;
	call(&r, "GET", "/v1/notices/", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	done_resp(&r);

	/* Before the sender writes anything: queued, nothing known. */
	char path[64];
	snprintf(path, sizeof path, "/v1/notices/%s", id);
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "state"), "queued");
	cr_assert(json_is_null(jget(r.json, "start_latency_ms")));
	cr_assert(json_is_null(jget(r.json, "eta_s")));
	cr_assert_str_eq(jstr(r.json, "text"), "Allerta");
	cr_assert_str_eq(jstr(r.json, "template.name"), "notice");
	done_resp(&r);

	/* The sender's part: running 250 ms after creation, 40 accepted, 3
	 * failed (2 x 131026, 1 x 131047), statuses at +30 s, +2 min, +10 min. */
	struct journal *j = writer(id);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_NONE, 0, T0 + 250, NULL), 0);
	for (uint32_t o = 0; o < 43; o++) {
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
		if (o < 40)
			cr_assert_eq(journal_accepted(j, o, (const uint8_t *)"wamid.x", 7, NULL), 0);
		else
			cr_assert_eq(journal_failed(j, o, o < 42 ? 131026 : 131047, NULL), 0);
	}
	for (uint32_t o = 0; o < 30; o++) {
		uint64_t at = o < 10 ? T0 + 30000 : o < 20 ? T0 + 120000 : T0 + 600000;
		cr_assert_eq(journal_status(j, o, JSTATUS_DELIVERED, 0, at, NULL), 0);
	}
	cr_assert_eq(journal_commit(j), 0);
	atomic_store(&clk, T0 + 250 + 10000);   /* 10 s after the start */
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "state"), "running");
	cr_assert_str_eq(jstr(r.json, "id"), id);
	cr_assert_str_eq(jstr(r.json, "notice_id"), id);
	cr_assert_eq(jint(r.json, "recipients"), NCONF);
	cr_assert_eq(jint(r.json, "accepted"), 40);
	cr_assert_eq(jint(r.json, "failed"), 3);
	cr_assert_eq(jint(r.json, "remaining"), NCONF - 43);
	cr_assert_eq(jint(r.json, "delivered"), 30);
	cr_assert_eq(jint(r.json, "start_latency_ms"), 250);
	cr_assert_str_eq(jstr(r.json, "start_latency_basis"), "running");
	cr_assert_float_eq(json_real_value(jget(r.json, "rate_per_s")), 4.0, 1e-9);
	/* rate_now needs two samples a second apart: the average serves. */
	cr_assert(json_is_null(jget(r.json, "rate_now_per_s")));
	cr_assert_float_eq(json_real_value(jget(r.json, "eta_s")), 7 / 4.0, 1e-9);
	cr_assert_float_eq(json_real_value(jget(r.json, "progress_pct")), 86.0, 1e-9);
	cr_assert_eq(jint(r.json, "coverage.1m.delivered"), 10);
	cr_assert_eq(jint(r.json, "coverage.5m.delivered"), 20);
	cr_assert_eq(jint(r.json, "coverage.15m.delivered"), 30);
	cr_assert_float_eq(json_real_value(jget(r.json, "coverage.5m.percent")), 40.0, 1e-9);
	cr_assert(json_is_false(jget(r.json, "coverage.1m.complete")));
	json_t *f = jget(r.json, "failures");
	cr_assert_eq(json_array_size(f), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *e = json_array_get(f, i);
		long long code = jint(e, "code");
		cr_assert(code == 131026 || code == 131047);
		cr_assert_eq(jint(e, "count"), code == 131026 ? 2 : 1);
		cr_assert_str_eq(jstr(e, "class"), "recipient");
		cr_assert_gt(strlen(jstr(e, "reason")), 3);
	}
	cr_assert_eq(jint(r.json, "failed_by_code.131026"), 2);
	assert_no_number(r.body);
	done_resp(&r);

	/* Two seconds and 4 more accepted later: rate_now is 2/s. */
	for (uint32_t o = 43; o < 47; o++) {
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
		cr_assert_eq(journal_accepted(j, o, (const uint8_t *)"wamid.y", 7, NULL), 0);
	}
	cr_assert_eq(journal_commit(j), 0);
	atomic_store(&clk, T0 + 250 + 12000);
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_float_eq(json_real_value(jget(r.json, "rate_now_per_s")), 2.0, 1e-9);
	cr_assert_float_eq(json_real_value(jget(r.json, "eta_s")), 3 / 2.0, 1e-9);
	done_resp(&r);

	/* The end, and 16 minutes later: the windows are complete. */
	for (uint32_t o = 47; o < NCONF; o++) {
		cr_assert_eq(journal_dispatched(j, o, 0, 0, NULL), 0);
		cr_assert_eq(journal_accepted(j, o, (const uint8_t *)"wamid.z", 7, NULL), 0);
	}
	cr_assert_eq(journal_set_state(j, NOTICE_DONE, NOTICE_REASON_COMPLETE, 0, T0 + 20250, NULL),
	             0);
	cr_assert_eq(journal_close(&j), 0);
	atomic_store(&clk, T0 + 16 * 60000);
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_str_eq(jstr(r.json, "state"), "done");
	cr_assert(json_is_true(jget(r.json, "coverage.15m.complete")));
	cr_assert(json_is_null(jget(r.json, "eta_s")));
	cr_assert_str_eq(jstr(r.json, "ended"), "2025-10-12T10:00:20.250Z");
	cr_assert_float_eq(json_real_value(jget(r.json, "elapsed_s")), 20.0, 1e-9);
	done_resp(&r);
}

Test(opapi, the_start_latency_comes_from_the_first_dispatch_when_the_sender_knows_it)
{
	start_api(1, 1);
	char id[NOTICE_ID_SIZE];
	post_notice("{\"category\":\"emergency\",\"text\":\"Allerta\"}", id);
	struct journal *j = writer(id);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_NONE, 0, T0 + 5, NULL), 0);
	cr_assert_eq(journal_close(&j), 0);
	pthread_mutex_lock(&fk.mu);
	fk.has_first = 1;
	fk.first_ms = T0 + 37;
	pthread_mutex_unlock(&fk.mu);
	char path[64];
	snprintf(path, sizeof path, "/v1/notices/%s", id);
	struct resp r;
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_eq(jint(r.json, "start_latency_ms"), 37);
	cr_assert_eq(jint(r.json, "first_dispatch_ms"), (long long)(T0 + 37));
	cr_assert_str_eq(jstr(r.json, "start_latency_basis"), "first_dispatch");
	done_resp(&r);
	/* And the histogram sees it once, however often the gauges refresh
	 * (at most every 5 s: the second call is a no-op, the third is not). */
	cr_assert_eq(opapi_refresh_metrics(api), 0);
	cr_assert_eq(metrics_gauge_get(ms.notices[NOTICE_RUNNING]), 1);
	cr_assert_eq(opapi_refresh_metrics(api), 0);
	atomic_store(&clk, T0 + 6000);
	cr_assert_eq(opapi_refresh_metrics(api), 0);
	cr_assert_eq(metrics_histogram_count(ms.notice_start[0]), 1);
	j = writer(id);
	cr_assert_eq(journal_set_state(j, NOTICE_CANCELLED, NOTICE_REASON_OPERATOR, 0, T0 + 6000, NULL),
	             0);
	cr_assert_eq(journal_close(&j), 0);
	atomic_store(&clk, T0 + 8000);
	cr_assert_eq(opapi_refresh_metrics(api), 0);   /* throttled: unchanged */
	cr_assert_eq(metrics_gauge_get(ms.notices[NOTICE_RUNNING]), 1);
	atomic_store(&clk, T0 + 11000);
	cr_assert_eq(opapi_refresh_metrics(api), 0);
	cr_assert_eq(metrics_gauge_get(ms.notices[NOTICE_RUNNING]), 0);
	cr_assert_eq(metrics_gauge_get(ms.notices[NOTICE_CANCELLED]), 1);
	cr_assert_eq(metrics_histogram_count(ms.notice_start[0]), 1);
}

Test(opapi, a_damaged_journal_is_a_500_naming_the_notice)
{
	start_api(1, 0);
	char id[NOTICE_ID_SIZE];
	post_notice("{\"category\":\"info\",\"text\":\"x\"}", id);
	char p[512];
	notice_path(p, sizeof p, data, id, JOURNAL_FILE);
	FILE *fp = fopen(p, "r+b");
	cr_assert_not_null(fp);
	fputc('X', fp);   /* the magic */
	fclose(fp);
	char path[64];
	snprintf(path, sizeof path, "/v1/notices/%s", id);
	struct resp r;
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 500);
	cr_assert_str_eq(jstr(r.json, "error.code"), "damaged");
	cr_assert_not_null(strstr(jstr(r.json, "error.message"), id));
	done_resp(&r);
}

/* ---- GET /v1/notices ------------------------------------------------------------------------ */

Test(opapi, the_list_is_newest_first_with_filters_and_a_limit)
{
	start_api(1, 0);
	char ids[4][NOTICE_ID_SIZE];
	const char *cats[4] = { "event", "info", "emergency", "event" };
	for (int i = 0; i < 4; i++) {
		atomic_store(&clk, T0 + (uint64_t)i * 1000);
		char body[128];
		snprintf(body, sizeof body, "{\"category\":\"%s\",\"text\":\"n%d\"}", cats[i], i);
		post_notice(body, ids[i]);
	}
	struct journal *j = writer(ids[2]);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_NONE, 0, T0 + 2100, NULL), 0);
	cr_assert_eq(journal_close(&j), 0);

	struct resp r;
	call(&r, "GET", "/v1/notices", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200);
	json_t *a = jget(r.json, "notices");
	cr_assert_eq(json_array_size(a), 4);
	cr_assert_eq(jint(r.json, "count"), 4);
	for (int i = 0; i < 4; i++)
		cr_assert_str_eq(jstr(json_array_get(a, (size_t)i), "id"), ids[3 - i]);
	cr_assert_str_eq(jstr(json_array_get(a, 1), "state"), "running");
	cr_assert_eq(jint(json_array_get(a, 1), "recipients"), NCONF);
	done_resp(&r);

	call(&r, "GET", "/v1/notices?category=event", TOKEN, NULL, NULL);
	a = jget(r.json, "notices");
	cr_assert_eq(json_array_size(a), 2);
	cr_assert_str_eq(jstr(json_array_get(a, 0), "id"), ids[3]);
	cr_assert_str_eq(jstr(json_array_get(a, 1), "id"), ids[0]);
	done_resp(&r);
	call(&r, "GET", "/v1/notices?state=running", TOKEN, NULL, NULL);
	a = jget(r.json, "notices");
	cr_assert_eq(json_array_size(a), 1);
	cr_assert_str_eq(jstr(json_array_get(a, 0), "id"), ids[2]);
	done_resp(&r);
	call(&r, "GET", "/v1/notices?limit=2", TOKEN, NULL, NULL);
	cr_assert_eq(json_array_size(jget(r.json, "notices")), 2);
	done_resp(&r);
	static const char *const bad[] = { "?state=sending", "?category=alert", "?limit=0",
		                           "?limit=1001", "?limit=3x" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char p[64];
		snprintf(p, sizeof p, "/v1/notices%s", bad[i]);
		call(&r, "GET", p, TOKEN, NULL, NULL);
		cr_assert_eq(r.status, 400, "%s", bad[i]);
		cr_assert_str_eq(jstr(r.json, "error.code"), "invalid_field");
		done_resp(&r);
	}
	/* The gauges follow the notices on disk. */
	cr_assert_eq(opapi_refresh_metrics(api), 0);
	cr_assert_eq(metrics_gauge_get(ms.notices[NOTICE_QUEUED]), 3);
	cr_assert_eq(metrics_gauge_get(ms.notices[NOTICE_RUNNING]), 1);
	cr_assert_eq(metrics_gauge_get(ms.notice_recipients[CONFIG_CAT_EMERGENCY]), NCONF);
	cr_assert_eq(metrics_gauge_get(ms.notice_remaining[CONFIG_CAT_EVENT]), NCONF);
	cr_assert_eq(metrics_gauge_get(ms.notice_recipients[CONFIG_CAT_DEADLINE]), 0);
	cr_assert_eq(metrics_histogram_count(ms.notice_start[CONFIG_CAT_EMERGENCY]), 1);
}

Test(opapi, an_empty_data_directory_lists_nothing)
{
	start_api(1, 0);
	struct resp r;
	call(&r, "GET", "/v1/notices", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(json_array_size(jget(r.json, "notices")), 0);
	done_resp(&r);
	cr_assert_eq(opapi_refresh_metrics(api), 0);
}

/* ---- cancel ------------------------------------------------------------------------------------ */

Test(opapi, cancelling_a_notice_the_sender_does_not_hold_is_journaled_here)
{
	start_api(1, 0);
	char id[NOTICE_ID_SIZE], path[80];
	post_notice("{\"category\":\"event\",\"text\":\"Concerto\"}", id);
	snprintf(path, sizeof path, "/v1/notices/%s/cancel", id);
	struct resp r;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "state"), "cancelled");
	done_resp(&r);
	cr_assert_eq(fk.cancels, 0);
	struct journal *j = NULL;
	struct journal_opts jo = { .flags = JOURNAL_RDONLY };
	cr_assert_eq(journal_open_notice(&j, data, id, NULL, &jo, NULL), 0);
	enum notice_state s;
	enum notice_reason why;
	journal_state(j, &s, &why, NULL);
	cr_assert_eq(s, NOTICE_CANCELLED);
	cr_assert_eq(why, NOTICE_REASON_OPERATOR);
	journal_close(&j);
	char gpath[64];
	snprintf(gpath, sizeof gpath, "/v1/notices/%s", id);
	call(&r, "GET", gpath, TOKEN, NULL, NULL);   /* same instant: not a stale report */
	cr_assert_str_eq(jstr(r.json, "state"), "cancelled");
	done_resp(&r);
	/* Twice: 409, and the journal is not touched again. */
	call(&r, "POST", path, TOKEN, "{}", NULL);
	cr_assert_eq(r.status, 409, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "error.code"), "conflict");
	done_resp(&r);
	call(&r, "POST", path, TOKEN, "{\"force\":true}", NULL);
	cr_assert_eq(r.status, 400);
	done_resp(&r);
	call(&r, "POST", "/v1/notices/n-20251012T100000-0000/cancel", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	done_resp(&r);
}

Test(opapi, cancelling_a_running_notice_goes_through_the_sender)
{
	start_api(1, 0);
	char id[NOTICE_ID_SIZE], path[80];
	post_notice("{\"category\":\"event\",\"text\":\"Concerto\"}", id);
	struct journal *j = writer(id);   /* the sender holds it */
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_NONE, 0, T0 + 1, NULL), 0);
	cr_assert_eq(journal_commit(j), 0);
	snprintf(path, sizeof path, "/v1/notices/%s/cancel", id);
	fk.mode = FAKE_ASYNC;
	struct resp r;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "state"), "cancelled");
	cr_assert_eq(fk.cancels, 1);
	cr_assert_str_eq(fk.last_cancel, id);
	done_resp(&r);
	/* The sender says it ended meanwhile: 409. */
	fk.mode = FAKE_SYNC;
	fk.done_rc = BND_E_CLOSED;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 409, "%s", r.body);
	done_resp(&r);
	fk.done_rc = 0;
	fk.post_rc = BND_E_NOMEM;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 500);
	done_resp(&r);
	journal_close(&j);
}

Test(opapi, resume_hands_a_notice_to_the_sender_again)
{
	start_api(1, 0);
	char id[NOTICE_ID_SIZE], path[80];
	post_notice("{\"category\":\"event\",\"text\":\"Concerto\"}", id);
	cr_assert_eq(fk.adds, 1);
	/* Paused by a shutdown (the journal says so; nobody holds it). */
	struct journal *j = writer(id);
	cr_assert_eq(journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_NONE, 0, T0 + 1, NULL), 0);
	cr_assert_eq(journal_set_state(j, NOTICE_PAUSED, NOTICE_REASON_OPERATOR, 0, T0 + 2, NULL), 0);
	cr_assert_eq(journal_close(&j), 0);
	snprintf(path, sizeof path, "/v1/notices/%s/resume", id);
	struct resp r;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "state"), "running");
	cr_assert_eq(fk.adds, 2);
	cr_assert_str_eq(fk.last_add, id);
	done_resp(&r);
	fk.done_rc = BND_E_EXISTS;
	call(&r, "POST", path, TOKEN, "{}", NULL);
	cr_assert_eq(r.status, 409, "%s", r.body);
	done_resp(&r);
	fk.done_rc = BND_E_LOCKED;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 409);
	done_resp(&r);
	fk.done_rc = 0;
	call(&r, "POST", path, TOKEN, "{\"now\":true}", NULL);
	cr_assert_eq(r.status, 400);
	done_resp(&r);
	call(&r, "GET", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "POST");
	done_resp(&r);
	call(&r, "POST", "/v1/notices/n-20251012T100000-0000/resume", TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 404);
	done_resp(&r);
	/* A finished notice has nothing to resume: the sender is not asked. */
	j = writer(id);
	cr_assert_eq(journal_set_state(j, NOTICE_CANCELLED, NOTICE_REASON_OPERATOR, 0, T0 + 3, NULL),
	             0);
	cr_assert_eq(journal_close(&j), 0);
	int adds = fk.adds;
	call(&r, "POST", path, TOKEN, NULL, NULL);
	cr_assert_eq(r.status, 409);
	cr_assert_eq(fk.adds, adds);
	done_resp(&r);
}

/* ---- time ---------------------------------------------------------------------------------------- */

Test(opapi, expiry_times_parse_as_rfc3339_or_durations)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
		{ "2025-10-12T10:00:00Z", T0 },
		{ "2025-10-12t10:00:00z", T0 },
		{ "2025-10-12 10:00:00Z", T0 },
		{ "2025-10-12T12:00:00+02:00", T0 },
		{ "2025-10-12T07:30:00-02:30", T0 },
		{ "2025-10-12T10:00:00.5Z", T0 + 500 },
		{ "2025-10-12T10:00:00.123456789Z", T0 + 123 },
		{ "2024-02-29T00:00:00Z", 1709164800000ull },
		{ "2000-02-29T00:00:00Z", 951782400000ull },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "6h", T0 + 6 * 3600000ull },
		{ "1h30m", T0 + 90 * 60000ull },
		{ "250ms", T0 + 250 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint64_t v = 1;
		cr_assert_eq(opapi_parse_time(ok[i].s, strlen(ok[i].s), T0, &v), 0, "%s", ok[i].s);
		cr_assert_eq(v, ok[i].ms, "%s: %llu", ok[i].s, (unsigned long long)v);
	}
	static const char *const bad[] = {
		"", "0", "6", "soon", "2025-10-12", "2025-10-12T10:00:00", "2025-10-12T10:00Z",
		"2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
		"2025-10-12T24:00:00Z", "2025-10-12T10:60:00Z", "2025-10-12T10:00:60Z",
		"2025-10-12T10:00:00.Z", "2025-10-12T10:00:00+2:00", "2025-10-12T10:00:00+02",
		"2025-10-12T10:00:00Z ", "1969-12-31T23:59:59Z", "2025-10-12X10:00:00Z",
		"2025-10-12T10:00:00.1234567890Z", "-1h", "1x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = 7;
		cr_assert_eq(opapi_parse_time(bad[i], strlen(bad[i]), T0, &v), BND_E_INVAL, "%s", bad[i]);
		cr_assert_eq(v, 7);
	}
	/* Reads at most len bytes. */
	uint64_t v = 0;
	cr_assert_eq(opapi_parse_time("2025-10-12T10:00:00Zjunk", 20, T0, &v), 0);
	cr_assert_eq(v, T0);
	char b[OPAPI_TIME_MAX];
	cr_assert_str_eq(opapi_format_time(T0 + 42, b, sizeof b), "2025-10-12T10:00:00.042Z");
	cr_assert_str_eq(opapi_format_time(951782400000ull, b, sizeof b), "2000-02-29T00:00:00.000Z");
	/* Round trip over four centuries of days. */
	for (uint64_t d = 0; d < 146097 * 2; d += 97) {
		uint64_t want = d * 86400000ull + (d % 86400) * 1000 + d % 1000;
		opapi_format_time(want, b, sizeof b);
		cr_assert_eq(opapi_parse_time(b, strlen(b), 0, &v), 0, "%s", b);
		cr_assert_eq(v, want, "%s", b);
	}
}

Test(opapi, open_refuses_incomplete_deps)
{
	struct opapi *a = (struct opapi *)1;
	struct opapi_deps d = { .cfg = &cfg, .store = st, .wall_ms = fake_clock,
		                .sender = { .post_add = fake_add } };
	cr_assert_eq(opapi_open(&a, &d), BND_E_INVAL);
	cr_assert_null(a);
	d.sender.post_cancel = fake_cancel;
	d.store = NULL;
	cr_assert_eq(opapi_open(&a, &d), BND_E_INVAL);
	d.store = st;
	d.wall_ms = NULL;
	cr_assert_eq(opapi_open(&a, &d), BND_E_INVAL);
	cr_assert_eq(opapi_open(&a, NULL), BND_E_INVAL);
	opapi_close(&a);
	opapi_close(NULL);
	start_api(1, 0);   /* teardown expects a running API */
}
