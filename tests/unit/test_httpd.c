/*
 * test_httpd.c - engine/httpd.c over real loopback sockets with libcurl and
 * raw sockets: routing (404/405/prefix), query and header access, the GET
 * handshake and signed POSTs through the webhook module, body limits (413
 * early, chunked bodies cut), slow clients (idle timeout, body deadline),
 * many keep-alive connections, connection limit, deferred answers from
 * other threads (including the answer-before-suspend race), drain,
 * quiesce and close.
 *
 * Every wait is bounded (curl timeouts, poll timeouts, loop counts).
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "httpd.h"
#include "httpd_int.h"
#include "webhook.h"

static const uint8_t SECRET[] = "app-secret-for-tests";
#define SLEN (sizeof SECRET - 1)
static const uint8_t VTOK[] = "verify-me";
#define VLEN (sizeof VTOK - 1)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* A deferred-answer worker: answers queued requests after a delay.     */

struct job {
	struct httpd_req *req;
	uint64_t due_ms;
	int hold;          /* wait for release_all */
	struct job *next;
};

static pthread_mutex_t wk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wk_cv = PTHREAD_COND_INITIALIZER;
static struct job *wk_head;
static int wk_stop, wk_release;
static pthread_t wk_thread;
static int wk_started;

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wk_mu);
	for (;;) {
		struct job **pp = &wk_head, *ready = NULL;
		uint64_t t = now_ms();
		while (*pp) {
			struct job *j = *pp;
			if ((!j->hold && j->due_ms <= t) || (j->hold && wk_release)) {
				*pp = j->next;
				j->next = ready;
				ready = j;
			} else {
				pp = &j->next;
			}
		}
		if (ready) {
			pthread_mutex_unlock(&wk_mu);
			while (ready) {
				struct job *j = ready;
				ready = j->next;
				size_t len;
				const uint8_t *b = httpd_req_body(j->req, &len);
				char msg[64];
				snprintf(msg, sizeof msg, "deferred %zu", len);
				(void)b;
				httpd_respond_text(j->req, 200, msg);
				free(j);
			}
			pthread_mutex_lock(&wk_mu);
			continue;
		}
		if (wk_stop && !wk_head)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;   /* 1 ms tick */
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&wk_cv, &wk_mu, &ts);
	}
	pthread_mutex_unlock(&wk_mu);
	return NULL;
}

static void worker_start(void)
{
	wk_stop = wk_release = 0;
	cr_assert_eq(pthread_create(&wk_thread, NULL, worker, NULL), 0);
	wk_started = 1;
}

static void worker_stop(void)
{
	if (!wk_started)
		return;
	pthread_mutex_lock(&wk_mu);
	wk_stop = 1;
	wk_release = 1;
	pthread_cond_broadcast(&wk_cv);
	pthread_mutex_unlock(&wk_mu);
	pthread_join(wk_thread, NULL);
	wk_started = 0;
}

static void release_all(void)
{
	pthread_mutex_lock(&wk_mu);
	wk_release = 1;
	pthread_cond_broadcast(&wk_cv);
	pthread_mutex_unlock(&wk_mu);
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */

static void h_health(struct httpd_req *r, void *ud)
{
	httpd_respond_text(r, 200, "ok\n");
}

static void h_handshake(struct httpd_req *r, void *ud)
{
	const char *ch = httpd_req_query(r, "hub.challenge", NULL);
	int rc = webhook_handshake(httpd_req_query(r, "hub.mode", NULL),
	                           httpd_req_query(r, "hub.verify_token", NULL), ch, VTOK, VLEN);
	if (rc == 0)
		httpd_respond_text(r, 200, ch);
	else
		httpd_respond_text(r, 403, "forbidden\n");
}

static int count_event(const struct webhook_event *ev, void *ud)
{
	(*(unsigned *)ud)++;
	return 0;
}

static void h_webhook(struct httpd_req *r, void *ud)
{
	size_t len;
	const uint8_t *body = httpd_req_body(r, &len);
	int rc = webhook_verify_signature(SECRET, SLEN, body, len,
	                                  httpd_req_header(r, WEBHOOK_SIG_HEADER, NULL));
	if (rc) {
		httpd_respond_text(r, 401, "bad signature\n");
		return;
	}
	unsigned n = 0;
	rc = webhook_parse(body, len, NULL, count_event, &n, NULL);
	if (rc) {
		httpd_respond_text(r, 400, "bad body\n");
		return;
	}
	char msg[32];
	snprintf(msg, sizeof msg, "events=%u", n);
	httpd_respond_text(r, 200, msg);
}

static void h_echo(struct httpd_req *r, void *ud)
{
	size_t len;
	const uint8_t *body = httpd_req_body(r, &len);
	const char *x = httpd_req_header(r, "x-test", NULL);
	if (x)
		httpd_req_set_header(r, "X-Echo", x);
	httpd_respond(r, 200, "application/octet-stream", body, len);
}

static atomic_int second_rc;

static void h_twice(struct httpd_req *r, void *ud)
{
	httpd_respond_text(r, 200, "first");
	/* r must not be touched after an answer; this is exactly what the
	 * answered flag is for, and the request lives until we return. */
	atomic_store(&second_rc, httpd_respond_text(r, 500, "second"));
}

static void h_path(struct httpd_req *r, void *ud)
{
	httpd_respond_text(r, 200, httpd_req_path(r));
}

static void h_auth(struct httpd_req *r, void *ud)
{
	size_t n = 0;
	const char *t = httpd_req_bearer(r, &n);
	if (!t || !webhook_token_equal((const uint8_t *)t, n, (const uint8_t *)"s3cret", 6)) {
		httpd_req_set_header(r, "WWW-Authenticate", "Bearer");
		httpd_respond_text(r, 401, "unauthorized\n");
		return;
	}
	httpd_respond_text(r, 200, "welcome\n");
}

static void h_defer(struct httpd_req *r, void *ud)
{
	const char *ms = httpd_req_query(r, "ms", NULL);
	struct job *j = calloc(1, sizeof *j);
	j->req = r;
	if (ms && strcmp(ms, "hold") == 0)
		j->hold = 1;
	else
		j->due_ms = now_ms() + (ms ? (uint64_t)atoi(ms) : 0);
	pthread_mutex_lock(&wk_mu);
	j->next = wk_head;
	wk_head = j;
	pthread_cond_broadcast(&wk_cv);
	pthread_mutex_unlock(&wk_mu);
}

/* ------------------------------------------------------------------ */
/* Server fixture                                                      */

static struct httpd *srv;
static char base[64];

static void start_server(struct httpd_opts *o)
{
	struct httpd_opts def = { 0 };
	if (!o)
		o = &def;
	o->listen = "127.0.0.1:0";
	cr_assert_eq(httpd_open(&srv, o), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/healthz", 0, h_health, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/webhook", 0, h_handshake, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_POST, "/webhook", WEBHOOK_BODY_MAX, h_webhook, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_POST, "/echo", 1024, h_echo, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/twice", 0, h_twice, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET | HTTPD_PREFIX, "/v1/notices/", 0, h_path, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/auth", 0, h_auth, NULL), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_POST | HTTPD_GET, "/defer", 0, h_defer, NULL), 0);
	worker_start();
	cr_assert_eq(httpd_start(srv), 0);
	cr_assert_gt(httpd_port(srv), 0);
	snprintf(base, sizeof base, "http://127.0.0.1:%u", httpd_port(srv));
}

static void stop_server(void)
{
	worker_stop();
	httpd_close(&srv);
	cr_assert_null(srv);
}

/* ------------------------------------------------------------------ */
/* libcurl helpers                                                     */

struct resp {
	long status;
	CURLcode cc;
	char *body;
	size_t len;
	char allow[128];
	char echo[128];
	char auth[64];
	curl_off_t uploaded;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	r->body = realloc(r->body, r->len + sz * n + 1);
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static void grab(char *dst, size_t cap, const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);
	if (n > k && strncasecmp(line, name, k) == 0) {
		size_t m = n - k;
		while (m > 0 && (line[k + m - 1] == '\r' || line[k + m - 1] == '\n'))
			m--;
		if (m >= cap)
			m = cap - 1;
		memcpy(dst, line + k, m);
		dst[m] = '\0';
	}
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	grab(r->allow, sizeof r->allow, p, sz * n, "Allow: ");
	grab(r->echo, sizeof r->echo, p, sz * n, "X-Echo: ");
	grab(r->auth, sizeof r->auth, p, sz * n, "WWW-Authenticate: ");
	return sz * n;
}

static void setup_easy(CURL *c, struct resp *r, const char *method, const char *url,
                       struct curl_slist *hdrs, const void *body, size_t len)
{
	memset(r, 0, sizeof *r);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
}

static void http(const char *method, const char *path, struct curl_slist *hdrs,
                 const void *body, size_t len, struct resp *r)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", base, path);
	CURL *c = curl_easy_init();
	setup_easy(c, r, method, url, hdrs, body, len);
	r->cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &r->uploaded);
	curl_easy_cleanup(c);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

static const char INBOUND[] =
	"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"220000000000002\","
	"\"changes\":[{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
	"\"metadata\":{\"display_phone_number\":\"390731000000\",\"phone_number_id\":"
	"\"110000000000001\"},\"contacts\":[{\"profile\":{\"name\":\"Nicol\\u00f2\"},"
	"\"wa_id\":\"393351234567\"}],\"messages\":[{\"from\":\"393351234567\",\"id\":"
	"\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAEhgUM0FBQkNERUYwMTIzNDU2Nzg5QQA=\",\"timestamp\":"
	"\"1760263200\",\"type\":\"text\",\"text\":{\"body\":\"JESI ON\"}}]}}]}]}";

static struct curl_slist *sig_headers(const void *body, size_t len)
{
	char sig[WEBHOOK_SIG_LEN + 1], line[160];
	cr_assert_eq(webhook_sign(SECRET, SLEN, body, len, sig), 0);
	snprintf(line, sizeof line, "X-Hub-Signature-256: %s", sig);
	struct curl_slist *h = curl_slist_append(NULL, line);
	return curl_slist_append(h, "Content-Type: application/json");
}

/* A raw loopback connection to the server. */
static int raw_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(httpd_port(srv)),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_geq(fd, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Wait up to ms for the peer to close; returns 1 when closed (EOF or
 * reset), 0 on timeout. Data read meanwhile is appended to buf if given. */
static int wait_closed(int fd, unsigned ms, char *buf, size_t cap)
{
	uint64_t end = now_ms() + ms;
	size_t got = 0;
	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		char tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof tmp, 0);
		if (n <= 0)
			return 1;
		if (buf && got + (size_t)n < cap) {
			memcpy(buf + got, tmp, (size_t)n);
			got += (size_t)n;
			buf[got] = '\0';
		}
	}
	return 0;
}

/* in_flight drops when MHD reports the answer sent, which can be a moment
 * after the client has read it: poll (2 s at most). */
static uint64_t in_flight_settled(void)
{
	struct httpd_stats st;
	for (int i = 0; i < 200; i++) {
		httpd_stats(srv, &st);
		if (st.in_flight == 0)
			break;
		sleep_ms(10);
	}
	return st.in_flight;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

TestSuite(httpd, .init = NULL, .fini = NULL, .timeout = 60);

Test(httpd, listen_spec_parsing)
{
	struct sockaddr_storage ss;
	socklen_t len;
	cr_assert_eq(httpd_listen_parse("127.0.0.1:8088", &ss, &len), 0);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8088);
	cr_assert_eq(httpd_listen_parse("localhost:0", &ss, &len), 0);
	cr_assert_eq(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(httpd_listen_parse("0.0.0.0:65535", &ss, &len), 0);
	cr_assert_eq(httpd_listen_parse("[::1]:8088", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	const char *bad[] = { "", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:80x", "::1:80", "[::1]80", "[::1", "example.com:80",
		"256.0.0.1:80", "127.0.0.1:123456", "[zz]:1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(httpd_listen_parse(bad[i], &ss, &len), BND_E_HTTPD_LISTEN, "%s", bad[i]);
	struct httpd *h = NULL;
	struct httpd_opts o = { .listen = "nope" };
	cr_assert_eq(httpd_open(&h, &o), BND_E_HTTPD_LISTEN);
	cr_assert_null(h);
	cr_assert_eq(httpd_open(&h, NULL), BND_E_INVAL);
}

Test(httpd, busy_port_is_reported_at_open)
{
	start_server(NULL);
	struct httpd *h2 = NULL;
	char spec[32];
	snprintf(spec, sizeof spec, "127.0.0.1:%u", httpd_port(srv));
	struct httpd_opts o = { .listen = spec };
	cr_assert_eq(httpd_open(&h2, &o), -EADDRINUSE);
	cr_assert_null(h2);
	stop_server();
}

Test(httpd, routes_404_405_head_and_prefix)
{
	start_server(NULL);
	struct resp r;
	http("GET", "/healthz", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok\n");
	resp_free(&r);
	http("HEAD", "/healthz", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 0);
	resp_free(&r);
	http("GET", "/nope", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	http("DELETE", "/webhook", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET, HEAD, POST");
	resp_free(&r);
	http("POST", "/healthz", NULL, "x", 1, &r);
	cr_assert_eq(r.status, 405);
	resp_free(&r);
	http("GET", "/v1/notices/42/cancel", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "/v1/notices/42/cancel");
	resp_free(&r);
	http("GET", "/v1/notices", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.not_found, 2);
	cr_assert_eq(st.bad_method, 2);
	cr_assert_eq(st.requests, 3);
	/* Routes cannot change once serving. */
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/late", 0, h_health, NULL), BND_E_HTTPD_ROUTE);
	cr_assert_eq(httpd_start(srv), BND_E_HTTPD_ROUTE);
	stop_server();
}

Test(httpd, route_table_rules)
{
	struct httpd *h = NULL;
	struct httpd_opts o = { .listen = "127.0.0.1:0" };
	cr_assert_eq(httpd_open(&h, &o), 0);
	cr_assert_eq(httpd_route(h, HTTPD_GET, "nope", 0, h_health, NULL), BND_E_HTTPD_ROUTE);
	cr_assert_eq(httpd_route(h, 0, "/x", 0, h_health, NULL), BND_E_INVAL);
	cr_assert_eq(httpd_route(h, HTTPD_PREFIX, "/x", 0, h_health, NULL), BND_E_INVAL);
	cr_assert_eq(httpd_route(h, HTTPD_GET, "/x", 0, NULL, NULL), BND_E_INVAL);
	for (int i = 0; i < HTTPD_ROUTES_MAX; i++)
		cr_assert_eq(httpd_route(h, HTTPD_GET, "/x", 0, h_health, NULL), 0);
	cr_assert_eq(httpd_route(h, HTTPD_GET, "/x", 0, h_health, NULL), BND_E_HTTPD_ROUTE);
	httpd_close(&h);   /* never started: closes the socket */
	cr_assert_null(h);
	httpd_close(&h);
	httpd_close(NULL);
}

Test(httpd, handshake_200_with_challenge_else_403)
{
	start_server(NULL);
	struct resp r;
	http("GET", "/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-me",
	     NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "1158201444");
	resp_free(&r);
	/* Percent-encoding is decoded before the comparison. */
	http("GET", "/webhook?hub.verify_token=verify%2Dme&hub.mode=subscribe&hub.challenge=7",
	     NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "7");
	resp_free(&r);
	const char *bad[] = {
		"/webhook?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
		"/webhook?hub.mode=subscribe&hub.challenge=1",
		"/webhook?hub.mode=nope&hub.challenge=1&hub.verify_token=verify-me",
		"/webhook?hub.mode=subscribe&hub.verify_token=verify-me",
		"/webhook",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		http("GET", bad[i], NULL, NULL, 0, &r);
		cr_assert_eq(r.status, 403, "%s", bad[i]);
		resp_free(&r);
	}
	stop_server();
}

Test(httpd, signed_post_200_forged_or_missing_401_garbage_400)
{
	start_server(NULL);
	struct resp r;
	size_t n = strlen(INBOUND);
	struct curl_slist *h = sig_headers(INBOUND, n);
	http("POST", "/webhook", h, INBOUND, n, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "events=1");
	resp_free(&r);
	/* The same signature on one altered byte. */
	char *alt = strdup(INBOUND);
	alt[n - 10] ^= 1;
	http("POST", "/webhook", h, alt, n, &r);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	free(alt);
	curl_slist_free_all(h);
	http("POST", "/webhook", NULL, INBOUND, n, &r);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	const char *junk = "{\"entry\": [";
	h = sig_headers(junk, strlen(junk));
	http("POST", "/webhook", h, junk, strlen(junk), &r);
	cr_assert_eq(r.status, 400);
	resp_free(&r);
	curl_slist_free_all(h);
	stop_server();
}

Test(httpd, body_bytes_headers_and_extra_response_headers)
{
	start_server(NULL);
	uint8_t body[600];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (uint8_t)(i * 7);   /* includes NUL, CR, LF, high bytes */
	struct curl_slist *h = curl_slist_append(NULL, "X-Test: hello there");
	struct resp r;
	http("POST", "/echo", h, body, sizeof body, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, sizeof body);
	cr_assert_eq(memcmp(r.body, body, sizeof body), 0);
	cr_assert_str_eq(r.echo, "hello there");
	resp_free(&r);
	curl_slist_free_all(h);
	/* An empty body is a body of length 0. */
	http("POST", "/echo", NULL, "", 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 0);
	resp_free(&r);
	stop_server();
}

Test(httpd, bearer_token_and_www_authenticate)
{
	start_server(NULL);
	struct resp r;
	const char *ok[] = { "Authorization: Bearer s3cret", "Authorization: bearer   s3cret  " };
	for (size_t i = 0; i < 2; i++) {
		struct curl_slist *h = curl_slist_append(NULL, ok[i]);
		http("GET", "/auth", h, NULL, 0, &r);
		cr_assert_eq(r.status, 200, "%s", ok[i]);
		resp_free(&r);
		curl_slist_free_all(h);
	}
	const char *bad[] = { "Authorization: Bearer s3cre", "Authorization: Basic s3cret",
		"Authorization: Bearer", "X-Other: 1" };
	for (size_t i = 0; i < 4; i++) {
		struct curl_slist *h = curl_slist_append(NULL, bad[i]);
		http("GET", "/auth", h, NULL, 0, &r);
		cr_assert_eq(r.status, 401, "%s", bad[i]);
		cr_assert_str_eq(r.auth, "Bearer");
		resp_free(&r);
		curl_slist_free_all(h);
	}
	stop_server();
}

Test(httpd, second_answer_is_refused)
{
	start_server(NULL);
	struct resp r;
	http("GET", "/twice", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "first");
	cr_assert_eq(atomic_load(&second_rc), BND_E_HTTPD_ANSWERED);
	resp_free(&r);
	stop_server();
}

Test(httpd, oversized_body_gets_413_early)
{
	start_server(NULL);
	struct resp r;
	/* Over the small route's limit, no Expect: the whole body is sent in
	 * one go and the 413 still arrives. */
	char big[2048];
	memset(big, 'a', sizeof big);
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	http("POST", "/echo", h, big, sizeof big, &r);
	cr_assert_eq(r.status, 413);
	resp_free(&r);
	curl_slist_free_all(h);
	/* 8 MiB against the webhook's 3.5 MiB with Expect: 100-continue: the
	 * 413 comes before the body is sent. */
	size_t n = 8u << 20;
	char *huge = malloc(n);
	memset(huge, ' ', n);
	h = curl_slist_append(NULL, "Expect: 100-continue");
	{
		/* curl sends the body anyway after waiting 1 s for "100 Continue";
		 * give a busy machine 10 s so the early 413 is what is tested. */
		char url[512];
		snprintf(url, sizeof url, "%s/webhook", base);
		CURL *c = curl_easy_init();
		setup_easy(c, &r, "POST", url, h, huge, n);
		curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
		r.cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &r.uploaded);
		curl_easy_cleanup(c);
	}
	cr_assert_eq(r.status, 413);
	cr_assert_lt(r.uploaded, (curl_off_t)n, "the body was not read whole");
	resp_free(&r);
	curl_slist_free_all(h);
	free(huge);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.too_large, 2);
	cr_assert_eq(st.requests, 0, "no handler saw an oversized body");
	/* The server goes on serving. */
	http("GET", "/healthz", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	stop_server();
}

Test(httpd, chunked_body_over_the_limit_closes_the_connection)
{
	start_server(NULL);
	int fd = raw_connect();
	cr_assert_geq(fd, 0);
	const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	cr_assert_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	char chunk[600 + 16];
	int k = snprintf(chunk, sizeof chunk, "%x\r\n", 600);
	memset(chunk + k, 'b', 600);
	memcpy(chunk + k + 600, "\r\n", 2);
	for (int i = 0; i < 3; i++)   /* 1,800 bytes against a 1,024 limit */
		send(fd, chunk, (size_t)k + 602, MSG_NOSIGNAL);
	char buf[1024] = "";
	cr_assert(wait_closed(fd, 5000, buf, sizeof buf), "connection closed");
	cr_assert_null(strstr(buf, "200 OK"), "never answered 200: %s", buf);
	close(fd);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.too_large, 1);
	cr_assert_eq(st.requests, 0);
	stop_server();
}

Test(httpd, chunked_body_within_the_limit_is_whole)
{
	start_server(NULL);
	int fd = raw_connect();
	const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	char buf[2048] = "";
	cr_assert(wait_closed(fd, 5000, buf, sizeof buf));
	cr_assert_not_null(strstr(buf, "200 OK"), "%s", buf);
	cr_assert_not_null(strstr(buf, "\r\n\r\nhello world"), "%s", buf);
	close(fd);
	stop_server();
}

Test(httpd, idle_client_is_closed_after_the_timeout)
{
	struct httpd_opts o = { .idle_timeout_s = 1 };
	start_server(&o);
	int fd = raw_connect();
	const char *part = "GET /healthz HTTP/1.1\r\nHost: x\r\n";   /* never finished */
	send(fd, part, strlen(part), MSG_NOSIGNAL);
	uint64_t t0 = now_ms();
	char buf[1024] = "";
	cr_assert(wait_closed(fd, 8000, buf, sizeof buf), "slow client was dropped");
	cr_assert_geq(now_ms() - t0, 500, "not closed at once");
	cr_assert_null(strstr(buf, "200 OK"));
	close(fd);
	stop_server();
}

Test(httpd, trickling_body_is_cut_at_its_deadline)
{
	/* One byte every 200 ms never trips the idle timeout (1 s); the body
	 * deadline (1 s) must. */
	struct httpd_opts o = { .idle_timeout_s = 1, .body_timeout_s = 1 };
	start_server(&o);
	int fd = raw_connect();
	const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
	send(fd, head, strlen(head), MSG_NOSIGNAL);
	int closed = 0, sent = 0;
	for (; sent < 40 && !closed; sent++) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
			closed = 1;
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 200) > 0) {
			char tmp[512];
			closed = recv(fd, tmp, sizeof tmp, 0) <= 0;
			cr_assert(closed || !strstr(tmp, "200 OK"));
		}
	}
	cr_assert(closed, "connection closed while trickling");
	cr_assert_lt(sent, 40);
	close(fd);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.requests, 0);
	stop_server();
}

/* Many keep-alive connections at once through curl multi. */
static void run_concurrent(const char *path, int conns, int per_conn, int signed_post,
                           long *ok, long *fail)
{
	CURLM *m = curl_multi_init();
	struct resp *rs = calloc((size_t)conns, sizeof *rs);
	CURL **cs = calloc((size_t)conns, sizeof *cs);
	int *left = calloc((size_t)conns, sizeof *left);
	char url[256];
	snprintf(url, sizeof url, "%s%s", base, path);
	size_t n = strlen(INBOUND);
	struct curl_slist *h = signed_post ? sig_headers(INBOUND, n) : NULL;
	for (int i = 0; i < conns; i++) {
		cs[i] = curl_easy_init();
		setup_easy(cs[i], &rs[i], signed_post ? "POST" : "GET", url, h,
		           signed_post ? INBOUND : NULL, n);
		left[i] = per_conn;
		curl_multi_add_handle(m, cs[i]);
	}
	*ok = *fail = 0;
	uint64_t end = now_ms() + 60000;
	int running = 1;
	while ((running || *ok + *fail < (long)conns * per_conn) && now_ms() < end) {
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int q;
		while ((msg = curl_multi_info_read(m, &q))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			int i = 0;
			while (cs[i] != msg->easy_handle)
				i++;
			long st = 0;
			curl_easy_getinfo(cs[i], CURLINFO_RESPONSE_CODE, &st);
			if (msg->data.result == CURLE_OK && st == 200)
				(*ok)++;
			else
				(*fail)++;
			curl_multi_remove_handle(m, cs[i]);
			resp_free(&rs[i]);
			if (--left[i] > 0) {
				/* Same easy handle: the connection is reused. */
				setup_easy(cs[i], &rs[i], signed_post ? "POST" : "GET", url, h,
				           signed_post ? INBOUND : NULL, n);
				curl_multi_add_handle(m, cs[i]);
				running = 1;
			}
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < conns; i++) {
		curl_multi_remove_handle(m, cs[i]);
		curl_easy_cleanup(cs[i]);
		resp_free(&rs[i]);
	}
	curl_slist_free_all(h);
	curl_multi_cleanup(m);
	free(rs);
	free(cs);
	free(left);
}

Test(httpd, many_keepalive_connections_signed_posts)
{
	struct httpd_opts o = { .threads = 2 };
	start_server(&o);
	long ok, fail;
	run_concurrent("/webhook", 64, 20, 1, &ok, &fail);
	cr_assert_eq(ok, 64 * 20);
	cr_assert_eq(fail, 0);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.requests, 64 * 20);
	cr_assert_eq(st.status_2xx, 64 * 20);
	cr_assert_eq(in_flight_settled(), 0);
	stop_server();
}

Test(httpd, deferred_answers_from_another_thread)
{
	start_server(NULL);
	long ok, fail;
	run_concurrent("/defer?ms=30", 16, 4, 1, &ok, &fail);
	cr_assert_eq(ok, 64);
	cr_assert_eq(fail, 0);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.deferred, 64);
	cr_assert_eq(in_flight_settled(), 0);
	struct resp r;
	http("POST", "/defer?ms=10", NULL, "abc", 3, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "deferred 3");
	resp_free(&r);
	stop_server();
}

Test(httpd, immediate_deferred_answers_race_the_suspension)
{
	/* The worker answers as soon as it sees the job, often before the
	 * server thread has suspended the connection: every request must
	 * still be answered exactly once. */
	struct httpd_opts o = { .threads = 2 };
	start_server(&o);
	long ok, fail;
	run_concurrent("/defer?ms=0", 8, 250, 1, &ok, &fail);
	cr_assert_eq(ok, 2000);
	cr_assert_eq(fail, 0);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(st.status_2xx, 2000);
	cr_assert_eq(in_flight_settled(), 0);
	stop_server();
}

static atomic_int hook_calls;

static void answer_in_the_window(struct httpd_req *r)
{
	atomic_fetch_add(&hook_calls, 1);
	httpd_respond_text(r, 200, "in the window");
}

static void h_silent(struct httpd_req *r, void *ud)
{
	(void)r;   /* answered by the hook, between return and suspension */
}

Test(httpd, answer_between_return_and_suspension_is_delivered)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0" };
	cr_assert_eq(httpd_open(&srv, &o), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/silent", 0, h_silent, NULL), 0);
	cr_assert_eq(httpd_start(srv), 0);
	snprintf(base, sizeof base, "http://127.0.0.1:%u", httpd_port(srv));
	httpd__deferring_hook = answer_in_the_window;
	for (int i = 0; i < 20; i++) {
		struct resp r;
		http("GET", "/silent", NULL, NULL, 0, &r);
		cr_assert_eq(r.status, 200, "request %d", i);
		cr_assert_str_eq(r.body, "in the window");
		resp_free(&r);
	}
	httpd__deferring_hook = NULL;
	cr_assert_eq(atomic_load(&hook_calls), 20);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_eq(in_flight_settled(), 0);
	httpd_close(&srv);
}

struct bg {
	pthread_t t;
	char path[128];
	struct resp r;
};

static void *bg_get(void *arg)
{
	struct bg *b = arg;
	http("GET", b->path, NULL, NULL, 0, &b->r);
	return NULL;
}

Test(httpd, drain_waits_for_deferred_answers_and_close_after)
{
	start_server(NULL);
	struct bg b = { .path = "/defer?ms=hold" };
	pthread_create(&b.t, NULL, bg_get, &b);
	struct httpd_stats st;
	for (int i = 0; i < 500; i++) {
		httpd_stats(srv, &st);
		if (st.in_flight == 1)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(st.in_flight, 1);
	httpd_quiesce(srv);
	cr_assert_eq(httpd_drain(srv, 50), -ETIMEDOUT);
	/* Quiesced: a new connection is refused, the held one still waits. */
	int fd = raw_connect();
	cr_assert_lt(fd, 0, "no new connection after quiesce");
	release_all();
	cr_assert_eq(httpd_drain(srv, 5000), 0);
	pthread_join(b.t, NULL);
	cr_assert_eq(b.r.status, 200);
	cr_assert_str_eq(b.r.body, "deferred 0");
	resp_free(&b.r);
	stop_server();
}

Test(httpd, thread_per_connection_mode_serves_and_defers)
{
	/* The same API with one thread per connection: a deferred answer
	 * blocks only its connection's thread instead of suspending it. */
	struct httpd_opts o = { .thread_per_connection = 1 };
	start_server(&o);
	long ok, fail;
	run_concurrent("/webhook", 16, 20, 1, &ok, &fail);
	cr_assert_eq(ok, 320);
	cr_assert_eq(fail, 0);
	run_concurrent("/defer?ms=0", 8, 100, 1, &ok, &fail);
	cr_assert_eq(ok, 800);
	cr_assert_eq(fail, 0);
	run_concurrent("/defer?ms=20", 16, 2, 0, &ok, &fail);
	cr_assert_eq(ok, 32);
	struct httpd_stats st;
	httpd_stats(srv, &st);
	cr_assert_gt(st.deferred, 0);
	cr_assert_eq(in_flight_settled(), 0);
	struct resp r;
	http("GET", "/nope", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	stop_server();
}

Test(httpd, thread_per_connection_drain_and_quiesce)
{
	struct httpd_opts o = { .thread_per_connection = 1 };
	start_server(&o);
	struct bg b = { .path = "/defer?ms=hold" };
	pthread_create(&b.t, NULL, bg_get, &b);
	struct httpd_stats st;
	for (int i = 0; i < 500; i++) {
		httpd_stats(srv, &st);
		if (st.in_flight == 1)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(st.in_flight, 1);
	httpd_quiesce(srv);
	cr_assert_eq(httpd_drain(srv, 50), -ETIMEDOUT);
	cr_assert_lt(raw_connect(), 0, "no new connection after quiesce");
	release_all();
	cr_assert_eq(httpd_drain(srv, 5000), 0);
	pthread_join(b.t, NULL);
	cr_assert_eq(b.r.status, 200);
	resp_free(&b.r);
	stop_server();
}

Test(httpd, quiesce_keeps_open_connections_served)
{
	start_server(NULL);
	int fd = raw_connect();
	cr_assert_geq(fd, 0);
	/* A first answer proves the server accepted the connection. */
	const char *req1 = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	send(fd, req1, strlen(req1), MSG_NOSIGNAL);
	char buf[1024] = "";
	struct pollfd p = { .fd = fd, .events = POLLIN };
	cr_assert_gt(poll(&p, 1, 5000), 0);
	cr_assert_gt(recv(fd, buf, sizeof buf - 1, 0), 0);
	cr_assert_not_null(strstr(buf, "200 OK"), "%s", buf);
	httpd_quiesce(srv);
	httpd_quiesce(srv);   /* twice is harmless */
	const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	memset(buf, 0, sizeof buf);
	cr_assert(wait_closed(fd, 5000, buf, sizeof buf));
	cr_assert_not_null(strstr(buf, "200 OK"), "%s", buf);
	close(fd);
	stop_server();
}

Test(httpd, connection_limit_holds_new_clients_off)
{
	struct httpd_opts o = { .threads = 1, .conn_max = 4 };
	start_server(&o);
	int held[4];
	for (int i = 0; i < 4; i++) {
		held[i] = raw_connect();
		cr_assert_geq(held[i], 0);
	}
	struct httpd_stats st;
	for (int i = 0; i < 200; i++) {   /* accepted within 2 s, even on a busy box */
		httpd_stats(srv, &st);
		if (st.connections == 4)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(st.connections, 4);
	/* A fifth client is not served while the four are open. */
	char url[128];
	snprintf(url, sizeof url, "%s/healthz", base);
	CURL *c = curl_easy_init();
	struct resp r;
	setup_easy(c, &r, "GET", url, NULL, NULL, 0);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 700L);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	cr_assert(cc != CURLE_OK && status != 200, "fifth client refused or left waiting");
	resp_free(&r);
	curl_easy_cleanup(c);
	for (int i = 0; i < 4; i++)
		close(held[i]);
	/* Once they are gone, clients are served again. */
	int served = 0;
	for (int i = 0; i < 50 && !served; i++) {
		http("GET", "/healthz", NULL, NULL, 0, &r);
		served = r.status == 200;
		resp_free(&r);
		if (!served)
			sleep_ms(50);
	}
	cr_assert(served);
	stop_server();
}

/* ------------------------------------------------------------------ */
/* Quiesce under load: the libmicrohttpd race                          */

/*
 * Hammer threads connect, ask GET /healthz with "Connection: close" and
 * read to the end, over and over, to whatever port hm_port holds (0:
 * idle). They keep the server's threads busy in their event loop, and
 * with a small conn_max at the connection limit, while the test quiesces.
 */
static atomic_int hm_stop;
static atomic_int hm_port;
static atomic_long hm_ok, hm_refused;

static void *hammer(void *arg)
{
	(void)arg;
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	while (!atomic_load(&hm_stop)) {
		int port = atomic_load(&hm_port);
		if (port == 0) {
			sleep_ms(1);
			continue;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
			atomic_fetch_add(&hm_refused, 1);
			close(fd);
			sched_yield();
			continue;
		}
		char buf[512] = "";
		if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
			wait_closed(fd, 1000, buf, sizeof buf);
			if (strstr(buf, " 200 OK"))
				atomic_fetch_add(&hm_ok, 1);
		}
		close(fd);
	}
	return NULL;
}

/* Send one request on fd and wait (2 s at most) for its 200. */
static int keepalive_get(int fd, int last)
{
	const char *req = last ? "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	                       : "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[1024] = "";
	size_t got = 0;
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		return 0;
	uint64_t end = now_ms() + 2000;
	while (now_ms() < end && !strstr(buf, "ok\n")) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return strstr(buf, " 200 OK") != NULL;
}

Test(httpd, quiesce_under_load_and_at_the_connection_limit)
{
	/*
	 * Many server lives, each quiesced while three clients hammer it, half
	 * of them at a connection limit of 2 (so the server's threads keep
	 * switching their listening on and off), in every threading mode. libmicrohttpd 0.9.75's own
	 * MHD_quiesce_daemon raced its epoll threads here and aborted the
	 * process ("Failed to remove listen FD from epoll set"). Each life
	 * also checks the quiesce contract: an open keep-alive connection is
	 * still served, a new one is refused, drain and close work.
	 */
	pthread_t t[3];
	atomic_store(&hm_stop, 0);
	atomic_store(&hm_port, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
	uint64_t end = now_ms() + 4000;
	int lives = 0;
	while (now_ms() < end && lives < 1000) {
		/* lives 0, 1, 2, 3 mod 4: epoll pool; the same at conn_max 2;
		 * turbo; one thread per connection at conn_max 2. */
		struct httpd_opts o = { .threads = 2, .conn_max = (lives & 1) ? 2 : 64,
		                        .turbo = (lives & 3) == 2,
		                        .thread_per_connection = (lives & 3) == 3 };
		start_server(&o);
		long ok0 = atomic_load(&hm_ok);
		atomic_store(&hm_port, httpd_port(srv));
		int fd = raw_connect();
		cr_assert_geq(fd, 0);
		cr_assert(keepalive_get(fd, 0), "life %d: first answer on the kept connection", lives);
		for (int i = 0; i < 200 && atomic_load(&hm_ok) == ok0; i++)
			sleep_ms(1);   /* the hammers are being served (usually at once) */
		httpd_quiesce(srv);
		cr_assert(keepalive_get(fd, 1), "life %d: kept connection served after quiesce", lives);
		cr_assert(wait_closed(fd, 2000, NULL, 0));
		close(fd);
		cr_assert_lt(raw_connect(), 0, "life %d: new connection after quiesce", lives);
		cr_assert_eq(httpd_drain(srv, 2000), 0);
		atomic_store(&hm_port, 0);
		stop_server();
		lives++;
	}
	atomic_store(&hm_stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	cr_log_info("quiesce stress: %d lives, %ld answers, %ld refused connects", lives,
	            atomic_load(&hm_ok), atomic_load(&hm_refused));
	cr_assert_geq(lives, 10);
	cr_assert_gt(atomic_load(&hm_ok), lives);   /* the hammers were served */
}

/* bind() a plain socket (no SO_REUSEADDR) to 127.0.0.1:port: 0 or errno. */
static int plain_bind_errno(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_geq(fd, 0);
	int e = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
	close(fd);
	return e;
}

Test(httpd, quiesce_keeps_the_descriptor_and_an_explicit_port_until_close)
{
	/* The quiesced socket is shut down, not closed: with an explicit port
	 * (as in production) the port stays bound until httpd_close. */
	struct httpd_opts o = { 0 };
	char spec[32];
	int opened = 0;
	for (int attempt = 0; attempt < 20 && !opened; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t al = sizeof a;
		cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
		cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
		close(fd);   /* a free port, most likely still free just below */
		snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(a.sin_port));
		o.listen = spec;
		opened = httpd_open(&srv, &o) == 0;
	}
	cr_assert(opened);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/healthz", 0, h_health, NULL), 0);
	cr_assert_eq(httpd_start(srv), 0);
	uint16_t port = httpd_port(srv);
	snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
	struct resp r;
	http("GET", "/healthz", NULL, NULL, 0, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	httpd_quiesce(srv);
	cr_assert_lt(raw_connect(), 0, "refused after quiesce");
	cr_assert_eq(plain_bind_errno(port), EADDRINUSE, "port still ours after quiesce");
	httpd_close(&srv);
	cr_assert_eq(plain_bind_errno(port), 0, "port free after close");
}

Test(httpd, quiesce_before_start_never_accepts)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0" };
	cr_assert_eq(httpd_open(&srv, &o), 0);
	cr_assert_eq(httpd_route(srv, HTTPD_GET, "/healthz", 0, h_health, NULL), 0);
	httpd_quiesce(srv);
	cr_assert_eq(httpd_start(srv), 0);
	cr_assert_lt(raw_connect(), 0, "refused: quiesced before the start");
	httpd_close(&srv);
	cr_assert_null(srv);
}
