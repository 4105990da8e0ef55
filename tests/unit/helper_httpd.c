/*
 * helper_httpd.c - scripted /messages endpoint for unit tests (see
 * helper_httpd.h). libmicrohttpd, thread per connection, 127.0.0.1 only.
 * All state hangs off struct helper_httpd: no globals, no constructors,
 * because every unit test program links this file.
 */
#define _GNU_SOURCE  /* memmem */
#include "helper_httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 65536

struct helper_httpd {
	struct MHD_Daemon *d;
	uint16_t port;
	char *token;
	char *default_script;
	atomic_uint_fast64_t conns, reqs, bad_auth, wamid_seq;
	pthread_mutex_t mu;
	char last_body[4096];
	char last_path[512];
};

struct req {
	char *body;
	size_t len;
	int too_big;
};

struct script {
	int has_err;
	long err, err_http, status, retry, retrydate, delay_ms;
	int garbage, close, drop, reset;
};

static void parse_script(const char *s, size_t n, struct script *sc)
{
	char buf[512];
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		if (!strncmp(t, "err=", 4)) {
			sc->has_err = 1;
			sc->err = strtol(t + 4, &t, 10);
			if (*t == ':')
				sc->err_http = strtol(t + 1, NULL, 10);
		} else if (!strncmp(t, "status=", 7)) {
			sc->status = strtol(t + 7, NULL, 10);
		} else if (!strncmp(t, "retry=", 6)) {
			sc->retry = strtol(t + 6, NULL, 10);
		} else if (!strncmp(t, "retrydate=", 10)) {
			sc->retrydate = strtol(t + 10, NULL, 10);
		} else if (!strncmp(t, "delay=", 6)) {
			sc->delay_ms = strtol(t + 6, NULL, 10);
		} else if (!strcmp(t, "garbage")) {
			sc->garbage = 1;
		} else if (!strcmp(t, "close")) {
			sc->close = 1;
		} else if (!strcmp(t, "drop")) {
			sc->drop = 1;
		} else if (!strcmp(t, "reset")) {
			sc->reset = 1;
		}
	}
}

/* The old Meta table's HTTP status per code (reference §1.5). */
static long http_for(long code)
{
	if (code == 0 || code == 190)
		return 401;
	if (code == 10 || (code >= 200 && code <= 299) || code == 368 || code == 131031 ||
	    code == 131005)
		return 403;
	if (code == 132001)
		return 404;
	if (code == 3 || code == 131000 || code == 131016 || code == 131045 || code == 131057)
		return 500;
	if (code == 2)
		return 503;
	return 400;
}

static const char *find_tag(const char *body, size_t len, size_t *n)
{
	static const char key[] = "\"biz_opaque_callback_data\":\"";
	const char *p = memmem(body, len, key, sizeof key - 1);
	if (!p)
		return NULL;
	p += sizeof key - 1;
	const char *e = memchr(p, '"', (size_t)(body + len - p));
	if (!e)
		return NULL;
	*n = (size_t)(e - p);
	return p;
}

static void http_date(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static enum MHD_Result respond(struct helper_httpd *h, struct MHD_Connection *c, struct req *r)
{
	struct script sc = {0};
	size_t tn = 0;
	const char *tag = find_tag(r->body ? r->body : "", r->len, &tn);
	if (tag)
		parse_script(tag, tn, &sc);
	else if (h->default_script)
		parse_script(h->default_script, strlen(h->default_script), &sc);

	if (sc.delay_ms > 0) {
		struct timespec ts = { sc.delay_ms / 1000, (sc.delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (sc.reset) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci) {
			struct linger lg = { 1, 0 };
			setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		return MHD_NO;
	}
	if (sc.drop)
		return MHD_NO;

	char body[1024];
	long status = 200;
	const char *ctype = "application/json";
	int bad = 0;
	if (h->token) {
		const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		bad = !a || strncmp(a, "Bearer ", 7) || strcmp(a + 7, h->token);
	}
	if (bad) {
		atomic_fetch_add(&h->bad_auth, 1);
		sc.has_err = 1;
		sc.err = 190;
		sc.err_http = 0;
	}
	if (sc.has_err) {
		status = sc.err_http ? sc.err_http : http_for(sc.err);
		snprintf(body, sizeof body,
		         "{\"error\":{\"message\":\"(#%ld) scripted error\",\"type\":\"OAuthException\","
		         "\"code\":%ld,\"error_subcode\":2494055,\"error_data\":{\"messaging_product\":"
		         "\"whatsapp\",\"details\":\"scripted details %ld\"},\"fbtrace_id\":\"AbC\"}}",
		         sc.err, sc.err, sc.err);
	} else if (sc.status) {
		status = sc.status;
		ctype = "text/html";
		snprintf(body, sizeof body, "<html><body>%ld from a proxy</body></html>", sc.status);
	} else if (sc.garbage) {
		snprintf(body, sizeof body, "this is not json {");
	} else {
		uint64_t n = atomic_fetch_add(&h->wamid_seq, 1);
		snprintf(body, sizeof body,
		         "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+393351234567\","
		         "\"wa_id\":\"393351234567\"}],\"messages\":[{\"id\":\"wamid.HELPER%llu\"}]}",
		         (unsigned long long)n);
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", ctype);
	char v[64];
	time_t now = time(NULL);
	if (sc.retry) {
		snprintf(v, sizeof v, "%ld", sc.retry);
		MHD_add_response_header(resp, "Retry-After", v);
	}
	if (sc.retrydate) {
		/* Our own Date header too, so the client can compute the delta. */
		http_date(now, v, sizeof v);
		MHD_add_response_header(resp, "Date", v);
		http_date(now + sc.retrydate, v, sizeof v);
		MHD_add_response_header(resp, "Retry-After", v);
	}
	if (sc.close)
		MHD_add_response_header(resp, "Connection", "close");
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
	struct helper_httpd *h = cls;
	struct req *r = *con_cls;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->len + *upload_size > BODY_MAX) {
			r->too_big = 1;
		} else {
			char *b = realloc(r->body, r->len + *upload_size + 1);
			if (!b)
				return MHD_NO;
			memcpy(b + r->len, upload, *upload_size);
			r->body = b;
			r->len += *upload_size;
			r->body[r->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	atomic_fetch_add(&h->reqs, 1);
	pthread_mutex_lock(&h->mu);
	snprintf(h->last_body, sizeof h->last_body, "%.*s", (int)r->len, r->body ? r->body : "");
	snprintf(h->last_path, sizeof h->last_path, "%s %s", method, url);
	pthread_mutex_unlock(&h->mu);
	return respond(h, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct helper_httpd *h = cls;
	(void)c;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&h->conns, 1);
}

int helper_httpd_start(struct helper_httpd **out, const struct helper_httpd_opts *opts)
{
	struct helper_httpd *h = calloc(1, sizeof *h);
	if (!h)
		return -1;
	pthread_mutex_init(&h->mu, NULL);
	if (opts && opts->token)
		h->token = strdup(opts->token);
	if (opts && opts->default_script)
		h->default_script = strdup(opts->default_script);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                        MHD_USE_POLL,
	                        0, NULL, NULL, on_request, h,
	                        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	                        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
	                        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
	                        MHD_OPTION_END);
	if (!h->d) {
		helper_httpd_stop(&h);
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : 0;
	if (!h->port) {
		helper_httpd_stop(&h);
		return -1;
	}
	*out = h;
	return 0;
}

void helper_httpd_stop(struct helper_httpd **p)
{
	if (!p || !*p)
		return;
	struct helper_httpd *h = *p;
	*p = NULL;
	if (h->d)
		MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	free(h->token);
	free(h->default_script);
	free(h);
}

void helper_httpd_url(const struct helper_httpd *h, char *buf, size_t cap)
{
	snprintf(buf, cap, "http://127.0.0.1:%u", (unsigned)h->port);
}

uint16_t helper_httpd_port(const struct helper_httpd *h) { return h->port; }
uint64_t helper_httpd_connections(const struct helper_httpd *h) { return atomic_load(&h->conns); }
uint64_t helper_httpd_requests(const struct helper_httpd *h) { return atomic_load(&h->reqs); }
uint64_t helper_httpd_bad_auth(const struct helper_httpd *h) { return atomic_load(&h->bad_auth); }

size_t helper_httpd_last_body(struct helper_httpd *h, char *buf, size_t cap)
{
	pthread_mutex_lock(&h->mu);
	int n = snprintf(buf, cap, "%s", h->last_body);
	pthread_mutex_unlock(&h->mu);
	return n < 0 ? 0 : (size_t)n;
}

size_t helper_httpd_last_path(struct helper_httpd *h, char *buf, size_t cap)
{
	pthread_mutex_lock(&h->mu);
	int n = snprintf(buf, cap, "%s", h->last_path);
	pthread_mutex_unlock(&h->mu);
	return n < 0 ? 0 : (size_t)n;
}
