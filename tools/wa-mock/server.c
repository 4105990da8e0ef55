/*
 * server.c - libmicrohttpd glue for wa-mock (see server.h).
 *
 * Why libmicrohttpd and not a hand-written loop: on the project's 2-core
 * machine a bare MHD handler in epoll mode answered a small POST over
 * keep-alive at ~159k requests/s on one thread, level with nginx returning
 * a constant (one-off measurement before the mock existed). The whole mock
 * costs ~10 us of CPU per request, ~100k/s per core, against a 50k/s
 * target (bench/scenario_wamock.sh), so a custom io_uring server would buy
 * nothing the benchmark could show. Numbers and commands: docs/WA-MOCK.md.
 *
 * Life of a request:
 *   1. MHD calls on_request with no context: a struct req is allocated.
 *   2. Body chunks are appended (past max_body they are dropped and the
 *      request is marked too large).
 *   3. The final call hands the request to api_handle. With no delay the
 *      answer is queued at once. With a delay the connection is suspended
 *      and the req put on the timer; when due, the timer thread resumes the
 *      connection and MHD calls on_request again, which queues the answer.
 *   4. A reset answer sets SO_LINGER to zero and returns MHD_NO: MHD closes
 *      the socket and the kernel sends RST.
 *   5. on_completed frees the req.
 * A suspended connection is never closed by MHD, so a req on the timer is
 * always alive when the timer fires. Shutdown drains the timer (resuming
 * everyone) before MHD is stopped.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "timer.h"

#define BODY_INLINE 2048

enum req_state { REQ_RECEIVING, REQ_DELAYED, REQ_ANSWERED };

struct req {
	enum req_state state;
	int too_large;
	struct MHD_Connection *conn;
	uint8_t *body;              /* inline or heap */
	size_t len, cap;
	struct api_resp resp;
	uint8_t inline_body[BODY_INLINE];
};

struct server {
	const struct conf *c;
	struct api *api;
	struct MHD_Daemon *d;
	struct timer *timer;
	int fd;
	atomic_long delayed;        /* suspended connections */
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum MHD_Result respond(struct MHD_Connection *c, struct req *r)
{
	if (r->resp.action == API_RESET) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci) {
			struct linger lg = {1, 0};
			setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		return MHD_NO;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(r->resp.len, r->resp.body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "application/json; charset=UTF-8");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->resp.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void append(struct server *s, struct req *r, const char *data, size_t n)
{
	if (r->too_large)
		return;
	if (r->len + n > s->c->max_body) {
		r->too_large = 1;
		return;
	}
	if (r->len + n > r->cap) {
		size_t ncap = r->cap * 2;
		while (ncap < r->len + n)
			ncap *= 2;
		uint8_t *nb = bnd_malloc(ncap);
		if (!nb) {
			r->too_large = 1;  /* answered as too large: the mock has no room */
			return;
		}
		memcpy(nb, r->body, r->len);
		if (r->body != r->inline_body)
			bnd_free(r->body);
		r->body = nb;
		r->cap = ncap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *size, void **req_cls)
{
	(void)version;
	struct server *s = cls;
	struct req *r = *req_cls;
	if (!r) {
		r = bnd_malloc(sizeof *r);
		if (!r)
			return MHD_NO;
		r->state = REQ_RECEIVING;
		r->too_large = 0;
		r->conn = c;
		r->body = r->inline_body;
		r->len = 0;
		r->cap = sizeof r->inline_body;
		*req_cls = r;
		return MHD_YES;
	}
	if (r->state == REQ_DELAYED) {
		r->state = REQ_ANSWERED;
		atomic_fetch_sub(&s->delayed, 1);
		return respond(c, r);
	}
	if (*size) {
		append(s, r, data, *size);
		*size = 0;
		return MHD_YES;
	}
	struct api_req rq = {
		.method = method,
		.url = url,
		.url_len = strlen(url),
		.auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.body = r->body,
		.body_len = r->len,
		.body_too_large = r->too_large,
		.now_ns = clock_ns(CLOCK_MONOTONIC),
		.wall_ms = clock_ns(CLOCK_REALTIME) / 1000000u,
	};
	api_handle(s->api, &rq, &r->resp);
	if (r->resp.delay_ns == 0)
		return respond(c, r);
	r->state = REQ_DELAYED;
	atomic_fetch_add(&s->delayed, 1);
	MHD_suspend_connection(c);
	if (timer_add(s->timer, rq.now_ns + r->resp.delay_ns, r) != 0)
		MHD_resume_connection(c);  /* shutting down or no memory: answer now */
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)c;
	(void)toe;
	struct server *s = cls;
	struct req *r = *req_cls;
	if (!r)
		return;
	/* A client gone while its answer waited: MHD ends the request without
	 * calling on_request again. */
	if (r->state == REQ_DELAYED)
		atomic_fetch_sub(&s->delayed, 1);
	if (r->body != r->inline_body)
		bnd_free(r->body);
	bnd_free(r);
	*req_cls = NULL;
}

static void on_due(void *item, void *ud)
{
	(void)ud;
	struct req *r = item;
	MHD_resume_connection(r->conn);
}

static int listen_on(const char *host, uint16_t port, uint16_t *bound)
{
	char ps[8];
	snprintf(ps, sizeof ps, "%u", (unsigned)port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
		return BND_E_INVAL;
	int rc = 0, fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return rc ? rc : BND_E_INVAL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                        : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int server_open(struct server **out, const struct conf *c, struct api *api, uint16_t *port)
{
	struct server *s = bnd_calloc(1, sizeof *s);
	if (!s)
		return BND_E_NOMEM;
	s->c = c;
	s->api = api;
	s->fd = -1;
	int rc = timer_open(&s->timer, on_due, s);
	if (rc != 0)
		goto fail;
	rc = listen_on(c->listen_host, c->listen_port, port);
	if (rc < 0)
		goto fail;
	s->fd = rc;
	unsigned threads = c->threads;
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 && n < 64 ? (unsigned)n : 2;
	}
	s->d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO,
		0, NULL, NULL, on_request, s,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)16000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
		/* MHD clears a connection's memory pool between requests: a 16 KiB
		 * pool halves that cost against the 32 KiB default, and bodies
		 * larger than the pool still arrive, in several chunks. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
		MHD_OPTION_END);
	if (!s->d) {
		rc = BND_E_NOMEM;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	timer_close(&s->timer);
	bnd_free(s);
	return rc;
}

void server_close(struct server **p)
{
	if (!p || !*p)
		return;
	struct server *s = *p;
	/* No MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it races the epoll
	 * threads and can abort the process (engine/SERVICE.md, "Shutdown").
	 * A client connecting during these last moments is simply served. */
	timer_drain(s->timer);
	/* Resumed connections answer on MHD's threads; give them a moment. */
	for (int i = 0; i < 200 && atomic_load(&s->delayed) > 0; i++)
		usleep(10000);
	MHD_stop_daemon(s->d);
	timer_close(&s->timer);
	close(s->fd);
	bnd_free(s);
	*p = NULL;
}
