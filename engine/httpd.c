/*
 * httpd.c - routes, whole-body requests and deferred answers over
 * libmicrohttpd (MHD). Contract in httpd.h; life cycle in docs/WEBHOOK.md.
 *
 * MHD's access handler is called several times per request: once when the
 * headers are in (*con_cls is NULL), once per received piece of body, once
 * more when the request is complete, and again after a suspended connection
 * is resumed. This file turns that into one handler call with the whole
 * body and one answer:
 *
 *   first call      route lookup (404/405 answered at once), Content-Length
 *                   over the route's limit -> 413 at once (MHD then drops the
 *                   rest of the body and closes), allocate the body buffer
 *   body pieces     append; a chunked body over the limit or a body that is
 *                   still arriving after body_timeout_s closes the connection
 *   complete        call the handler; if it answered, queue the answer;
 *                   otherwise suspend the connection (deferred)
 *   after resume    queue the answer that httpd_respond stored
 *
 * The race between "the handler returned without answering" and "another
 * thread answers" is settled by one atomic state per request:
 *   RUNNING --respond--> ANSWERED                  (queued after return)
 *   RUNNING --handler returns--> DEFERRING --suspend--> SUSPENDED
 *   DEFERRING --respond--> ANSWERED  (the server thread sees its CAS fail
 *                                     after suspending and resumes at once)
 *   SUSPENDED --respond--> ANSWERED + MHD_resume_connection
 * httpd_respond touches the request only before its atomic exchange; after
 * it the server thread may queue the answer and free the request.
 *
 * A request is freed only in MHD's completion callback, which MHD never
 * calls for a suspended connection. in_flight counts requests from the
 * handler call to that callback (the answer sent), so httpd_drain returns
 * only when every answer has left, and httpd_close waits for in_flight == 0
 * because stopping MHD with suspended connections is undefined behaviour.
 *
 * The listening socket is created here (not by MHD) so that the bound port
 * and bind errors (-EADDRINUSE) are known at httpd_open, and it is never
 * given to MHD: MHD runs with MHD_USE_NO_LISTEN_SOCKET and our own acceptor
 * thread hands each accepted socket to it with MHD_add_connection. The
 * reason is httpd_quiesce. MHD_quiesce_daemon on an epoll daemon with its
 * own threads removes the listening socket from the threads' epoll sets
 * from the calling thread while those threads remove it too (their
 * "connection limit reached / quiesced" branch); the loser's epoll_ctl
 * gets ENOENT and MHD 0.9.75 calls abort() ("Failed to remove listen FD
 * from epoll set"; an open MHD defect, hit about once in 20 test runs and
 * in 19 of 20 runs of the stress test). Shutting the listening socket down
 * under MHD instead is no cure: the socket then polls EPOLLHUP for ever,
 * MHD skips it and spins at 100% CPU in every thread until stopped
 * (measured). With the acceptor, quiescing is ours alone: wake the
 * acceptor, join it, then shutdown(SHUT_RDWR) the socket, which makes the
 * kernel refuse new clients (and reset the ones still in the backlog) while
 * the descriptor stays open until httpd_close. MHD never sees a listening
 * socket, so none of its listen-socket code (and no MHD_quiesce_daemon)
 * runs. See engine/SERVICE.md "Shutdown".
 *
 * The acceptor keeps MHD's connection limit behaviour: at conn_max open
 * connections it stops accepting, so further clients wait in the kernel
 * backlog, and a closing connection wakes it. It counts exactly: the
 * connections it gave MHD minus those MHD reported closed
 * (MHD_OPTION_NOTIFY_CONNECTION). MHD's own limit is set well above
 * conn_max and is never reached: after MHD 0.9.75 refuses an added
 * connection over its limit, its thread deadlocks on its own mutex and
 * MHD_stop_daemon hangs.
 * MHD_add_connection still refuses (and closes) a connection over the
 * per-IP limit.
 */
#define _GNU_SOURCE   /* accept4 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "httpd_int.h"

struct route {
	unsigned methods;
	char path[HTTPD_PATH_MAX + 1];
	size_t plen;
	int prefix;
	size_t body_max;
	httpd_handler_fn fn;
	void *ud;
};

struct httpd {
	struct MHD_Daemon *d;
	int lfd;            /* listening socket: ours, closed by httpd_close */
	int wake_fd;        /* eventfd: wakes the acceptor (quiesce, a close) */
	pthread_t acceptor;
	int acceptor_running;   /* started and not yet joined */
	atomic_int acc_stop;    /* the acceptor must return */
	atomic_int acc_waiting; /* the acceptor sleeps at conn_max: wake on close */
	uint64_t acc_handed;    /* acceptor only: connections given to MHD */
	atomic_uint_fast64_t conn_closed;  /* MHD's "connection closed" calls */
	uint64_t acc_errors;    /* acceptor only: accept errors seen */
	uint16_t port;
	struct httpd_opts o;
	struct route routes[HTTPD_ROUTES_MAX];
	unsigned nroutes;
	int started;
	atomic_int quiesced;
	struct MHD_Response *r404;

	atomic_uint_fast64_t requests, s2xx, s3xx, s4xx, s5xx, too_large, not_found,
		bad_method, deferred, aborted, in_flight;
};

enum {
	RS_RECEIVING,
	RS_RUNNING,
	RS_DEFERRING,
	RS_SUSPENDED,
	RS_WAITING,     /* thread-per-connection: the connection's thread waits */
	RS_ANSWERED,
};

struct httpd_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	const struct route *route;
	const char *method;
	const char *path;
	uint8_t *body;
	size_t len, cap, body_max;
	uint64_t t_start_ns;
	int dispatched;             /* the handler was called (in_flight counted) */
	int queued;                 /* the answer was handed to MHD */
	atomic_int state;
	atomic_int answered;
	struct MHD_Response *resp;  /* set by httpd_respond (NULL on NOMEM) */
	unsigned status;
	unsigned nextra;
	char *extra[HTTPD_EXTRA_HEADERS_MAX][2];
	/* thread-per-connection only: the deferred answer wakes the waiter */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int sync_init;
};

#define RELAXED memory_order_relaxed

void (*httpd__deferring_hook)(struct httpd_req *r);

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Listen address                                                      */

int httpd_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[64];
	const char *port_s;
	if (!spec || !ss || !sslen)
		return BND_E_HTTPD_LISTEN;
	memset(ss, 0, sizeof *ss);
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof host)
			return BND_E_HTTPD_LISTEN;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		port_s = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof host)
			return BND_E_HTTPD_LISTEN;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port_s = colon + 1;
		if (strchr(host, ':'))
			return BND_E_HTTPD_LISTEN;   /* IPv6 needs brackets */
	}
	size_t plen = strlen(port_s);
	if (plen == 0 || plen > 5)
		return BND_E_HTTPD_LISTEN;
	unsigned long port = 0;
	for (size_t i = 0; i < plen; i++) {
		if (port_s[i] < '0' || port_s[i] > '9')
			return BND_E_HTTPD_LISTEN;
		port = port * 10 + (unsigned long)(port_s[i] - '0');
	}
	if (port > 65535)
		return BND_E_HTTPD_LISTEN;
	if (spec[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return BND_E_HTTPD_LISTEN;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof *a6;
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return BND_E_HTTPD_LISTEN;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*sslen = sizeof *a4;
	return 0;
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t sslen, int *fd_out,
                     uint16_t *port)
{
	int one = 1, rc;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A restarted serve must be able to bind while old connections of the
	 * previous process linger in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)ss, sslen) != 0)
		goto fail;
	if (listen(fd, SOMAXCONN) != 0)
		goto fail;
	struct sockaddr_storage got;
	socklen_t glen = sizeof got;
	if (getsockname(fd, (struct sockaddr *)&got, &glen) != 0)
		goto fail;
	*port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
	                                        : ((struct sockaddr_in *)&got)->sin_port);
	*fd_out = fd;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Server life cycle                                                   */

static const char msg_404[] = "not found\n";

int httpd_open(struct httpd **out, const struct httpd_opts *opts)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct httpd *h = NULL;
	int rc;

	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!opts || !opts->listen)
		return BND_E_INVAL;
	rc = httpd_listen_parse(opts->listen, &ss, &sslen);
	if (rc)
		return rc;
	h = bnd_calloc(1, sizeof *h);
	if (!h)
		return BND_E_NOMEM;
	h->lfd = -1;
	h->wake_fd = -1;
	h->o = *opts;
	h->o.listen = NULL;   /* not kept: the caller owns the string */
	if (!h->o.threads)
		h->o.threads = HTTPD_THREADS_DEFAULT;
	if (!h->o.conn_max)
		h->o.conn_max = HTTPD_CONN_MAX_DEFAULT;
	if (!h->o.idle_timeout_s)
		h->o.idle_timeout_s = HTTPD_IDLE_TIMEOUT_S_DEFAULT;
	if (!h->o.body_timeout_s)
		h->o.body_timeout_s = HTTPD_BODY_TIMEOUT_S_DEFAULT;
	if (!h->o.body_max)
		h->o.body_max = HTTPD_BODY_MAX_DEFAULT;
	if (!h->o.conn_memory)
		h->o.conn_memory = HTTPD_CONN_MEMORY_DEFAULT;
	h->r404 = MHD_create_response_from_buffer(sizeof msg_404 - 1, (void *)msg_404,
	                                          MHD_RESPMEM_PERSISTENT);
	if (!h->r404 ||
	    MHD_add_response_header(h->r404, "Content-Type", "text/plain") != MHD_YES) {
		rc = BND_E_NOMEM;
		goto fail;
	}
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = listen_on(&ss, sslen, &h->lfd, &h->port);
	if (rc)
		goto fail;
	*out = h;
	return 0;
fail:
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	if (h->r404)
		MHD_destroy_response(h->r404);
	bnd_free(h);
	return rc;
}

int httpd_route(struct httpd *h, unsigned methods, const char *path, size_t body_max,
                httpd_handler_fn fn, void *ud)
{
	if (!h || !path || !fn || !(methods & ~(unsigned)HTTPD_PREFIX))
		return BND_E_INVAL;
	size_t n = strlen(path);
	if (h->started || h->nroutes >= HTTPD_ROUTES_MAX || n == 0 || n > HTTPD_PATH_MAX ||
	    path[0] != '/')
		return BND_E_HTTPD_ROUTE;
	struct route *r = &h->routes[h->nroutes];
	memset(r, 0, sizeof *r);
	memcpy(r->path, path, n + 1);
	r->prefix = (methods & HTTPD_PREFIX) != 0;
	r->plen = n;
	r->methods = methods & ~(unsigned)HTTPD_PREFIX;
	r->body_max = body_max ? body_max : h->o.body_max;
	r->fn = fn;
	r->ud = ud;
	h->nroutes++;
	return 0;
}

/* MHD hands us its own format strings: a printf-like callback. */
__attribute__((format(printf, 2, 0)))
static void on_log(void *cls, const char *fm, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof buf, fm, ap);
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	bnd_log(BND_LOG_WARN, "httpd", "%s", buf);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);

/* ------------------------------------------------------------------ */
/* The acceptor                                                        */

static void wake_acceptor(struct httpd *h)
{
	uint64_t one = 1;
	/* EAGAIN: the counter is already non-zero, the wake is pending. */
	ssize_t n = write(h->wake_fd, &one, sizeof one);
	(void)n;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a closed connection frees a place under
 * conn_max and wakes the acceptor when it sleeps at the limit. Runs on
 * MHD's threads. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
	struct httpd *h = cls;
	(void)conn;
	(void)socket_ctx;
	if (code != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	atomic_fetch_add(&h->conn_closed, 1);
	if (atomic_load(&h->acc_waiting))
		wake_acceptor(h);
}

/* Connections given to MHD and not yet reported closed (acceptor only). */
static uint64_t open_connections(struct httpd *h)
{
	return h->acc_handed - atomic_load(&h->conn_closed);
}

/* Accept what the backlog holds (16 at most, then poll again) while under
 * the limit. Returns -1 when accept failed for want of descriptors or
 * memory (the caller backs off), else 0. */
static int accept_some(struct httpd *h)
{
	for (int i = 0; i < 16 && !atomic_load(&h->acc_stop); i++) {
		if (open_connections(h) >= h->o.conn_max)
			return 0;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(h->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == EPERM)
				continue;   /* that client is gone (or filtered): the next */
			if ((h->acc_errors++ & 1023) == 0)
				bnd_log(BND_LOG_WARN, "httpd", "accept: %s", strerror(errno));
			return -1;   /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
		}
		/* MHD owns fd from here. It refuses (and closes) only for the
		 * per-IP limit or want of memory, and says why through on_log. */
		if (MHD_add_connection(h->d, fd, (struct sockaddr *)&ss, sl) == MHD_YES)
			h->acc_handed++;
	}
	return 0;
}

static void *acceptor_main(void *arg)
{
	struct httpd *h = arg;
	while (!atomic_load(&h->acc_stop)) {
		/* At the limit, the listening socket is left out of the poll so
		 * that new clients wait in the kernel backlog, as MHD itself does;
		 * a closing connection wakes us. The flag is raised before the
		 * count is read again, so a close in between is not missed; the
		 * timeout is only a safety net. */
		int at_limit = open_connections(h) >= h->o.conn_max;
		if (at_limit) {
			atomic_store(&h->acc_waiting, 1);
			at_limit = open_connections(h) >= h->o.conn_max;
		}
		struct pollfd p[2] = {
			{ .fd = h->wake_fd, .events = POLLIN },
			{ .fd = at_limit ? -1 : h->lfd, .events = POLLIN },
		};
		int n = poll(p, 2, at_limit ? 100 : -1);
		atomic_store(&h->acc_waiting, 0);
		if (n < 0) {
			/* EINTR, or ENOMEM: never give up accepting, back off. */
			if (errno != EINTR && (h->acc_errors++ & 1023) == 0)
				bnd_log(BND_LOG_WARN, "httpd", "poll: %s", strerror(errno));
			if (errno != EINTR) {
				struct timespec ts = { 0, 10 * 1000000 };
				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (p[0].revents & POLLIN) {
			uint64_t v;
			ssize_t r = read(h->wake_fd, &v, sizeof v);
			(void)r;
		}
		if (atomic_load(&h->acc_stop))
			break;
		if ((p[1].revents & POLLIN) && accept_some(h) < 0) {
			struct timespec ts = { 0, 10 * 1000000 };   /* out of fds: back off */
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Stop accepting: join the acceptor, then stop the socket listening. */
static void stop_accepting(struct httpd *h)
{
	if (h->acceptor_running) {
		atomic_store(&h->acc_stop, 1);
		wake_acceptor(h);
		pthread_join(h->acceptor, NULL);
		h->acceptor_running = 0;
	}
	/* On Linux shutdown() of a listening socket stops the listening: new
	 * clients are refused (RST) and those still in the backlog are reset,
	 * while the descriptor, and with an explicit port the port, stay ours
	 * until httpd_close. */
	shutdown(h->lfd, SHUT_RDWR);
}

/* ------------------------------------------------------------------ */
/* Server life cycle, continued                                        */

int httpd_start(struct httpd *h)
{
	if (!h)
		return BND_E_INVAL;
	if (h->started)
		return BND_E_HTTPD_ROUTE;
	/* MHD_USE_NO_LISTEN_SOCKET: connections come from our acceptor only
	 * (see the top of this file). MHD_add_connection needs MHD_USE_ITC to
	 * wake the server thread (MHD_ALLOW_SUSPEND_RESUME includes it). */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (h->o.thread_per_connection)
		flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		        MHD_USE_POLL | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
	if (h->o.turbo)
		flags |= MHD_USE_TURBO;
	/* conn_max is enforced by the acceptor, exactly: it counts the
	 * connections it gave MHD minus those MHD reported closed. MHD's own
	 * limit is set 4 times above it in every pool thread, because when MHD
	 * 0.9.75's server thread refuses an added connection over its limit,
	 * that thread later blocks on a mutex it still holds and
	 * MHD_stop_daemon hangs for ever (reproduced: 4 connections added
	 * at once to a limit of 2; gdb: the mutex's owner is the blocked
	 * thread). MHD counts a
	 * closed connection until its thread's next clean-up, so it can hold
	 * more than conn_max for a moment; 4x leaves room for that. */
	unsigned pool = h->o.threads > 1 && !h->o.thread_per_connection ? h->o.threads : 1;
	unsigned mhd_limit = h->o.conn_max > (1u << 20) / (4 * pool) ? (1u << 20)
	                   : h->o.conn_max * 4 * pool;
	/* The logger goes first so that MHD's remarks about later options
	 * reach the log hook instead of stderr. One thread is MHD's internal
	 * polling thread itself: no pool. */
	h->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
		MHD_OPTION_THREAD_POOL_SIZE, pool > 1 ? pool : 0u,
		MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)h->o.per_ip_conn_max,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->o.idle_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)h->o.conn_memory,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_END);
	if (!h->d)
		return BND_E_HTTPD_START;
	h->started = 1;
	if (atomic_load(&h->quiesced)) {
		stop_accepting(h);   /* quiesced before the start: never accept */
		return 0;
	}
	int rc = pthread_create(&h->acceptor, NULL, acceptor_main, h);
	if (rc) {
		bnd_log(BND_LOG_WARN, "httpd", "start: acceptor thread: %s", strerror(rc));
		MHD_stop_daemon(h->d);
		h->d = NULL;
		h->started = 0;
		return BND_E_HTTPD_START;
	}
	h->acceptor_running = 1;
	return 0;
}

uint16_t httpd_port(const struct httpd *h)
{
	return h ? h->port : 0;
}

void httpd_quiesce(struct httpd *h)
{
	if (!h || atomic_exchange(&h->quiesced, 1))
		return;
	if (h->started)
		stop_accepting(h);
}

int httpd_drain(struct httpd *h, unsigned timeout_ms)
{
	if (!h)
		return 0;
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while (atomic_load(&h->in_flight) > 0) {
		if (mono_ns() >= end)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 1000000 };   /* 1 ms: shutdown path only */
		nanosleep(&ts, NULL);
	}
	return 0;
}

void httpd_close(struct httpd **hp)
{
	if (!hp || !*hp)
		return;
	struct httpd *h = *hp;
	*hp = NULL;
	if (h->d) {
		httpd_quiesce(h);
		/* MHD must not be stopped with suspended connections: wait for the
		 * owner to answer every deferred request (httpd.h contract). */
		while (httpd_drain(h, 5000) != 0)
			bnd_log(BND_LOG_WARN, "httpd", "close: %llu request(s) still unanswered",
			        (unsigned long long)atomic_load(&h->in_flight));
		MHD_stop_daemon(h->d);
	}
	close(h->lfd);   /* only now: the port stays ours until here */
	close(h->wake_fd);
	MHD_destroy_response(h->r404);
	bnd_free(h);
}

void httpd_stats(struct httpd *h, struct httpd_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!h)
		return;
	st->requests = atomic_load_explicit(&h->requests, RELAXED);
	st->status_2xx = atomic_load_explicit(&h->s2xx, RELAXED);
	st->status_3xx = atomic_load_explicit(&h->s3xx, RELAXED);
	st->status_4xx = atomic_load_explicit(&h->s4xx, RELAXED);
	st->status_5xx = atomic_load_explicit(&h->s5xx, RELAXED);
	st->too_large = atomic_load_explicit(&h->too_large, RELAXED);
	st->not_found = atomic_load_explicit(&h->not_found, RELAXED);
	st->bad_method = atomic_load_explicit(&h->bad_method, RELAXED);
	st->deferred = atomic_load_explicit(&h->deferred, RELAXED);
	st->aborted = atomic_load_explicit(&h->aborted, RELAXED);
	st->in_flight = atomic_load_explicit(&h->in_flight, RELAXED);
	if (h->d) {
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di)
			st->connections = di->num_connections;
	}
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

static void count_status(struct httpd *h, unsigned status)
{
	atomic_uint_fast64_t *c = status < 300 ? &h->s2xx : status < 400 ? &h->s3xx
	                        : status < 500 ? &h->s4xx : &h->s5xx;
	atomic_fetch_add_explicit(c, 1, RELAXED);
}

static unsigned method_bit(const char *m)
{
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
		return HTTPD_GET;
	if (!strcmp(m, "POST"))
		return HTTPD_POST;
	if (!strcmp(m, "PUT"))
		return HTTPD_PUT;
	if (!strcmp(m, "DELETE"))
		return HTTPD_DELETE;
	if (!strcmp(m, "PATCH"))
		return HTTPD_PATCH;
	return 0;
}

static int path_matches(const struct route *r, const char *url)
{
	if (r->prefix)
		return strncmp(url, r->path, r->plen) == 0;
	return strcmp(url, r->path) == 0;
}

/* A fixed answer from routing (404, 405, 413) on the first call. */
static enum MHD_Result answer_now(struct httpd *h, struct MHD_Connection *conn,
                                  unsigned status, const char *text, const char *allow)
{
	count_status(h, status);
	if (status == 404)
		return MHD_queue_response(conn, status, h->r404);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	enum MHD_Result ok = MHD_add_response_header(r, "Content-Type", "text/plain");
	if (ok == MHD_YES && allow)
		ok = MHD_add_response_header(r, "Allow", allow);
	if (ok == MHD_YES)
		ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static void allow_list(unsigned m, char *buf, size_t cap)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ HTTPD_GET, "GET, HEAD" }, { HTTPD_POST, "POST" }, { HTTPD_PUT, "PUT" },
		{ HTTPD_DELETE, "DELETE" }, { HTTPD_PATCH, "PATCH" },
	};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(m & names[i].bit))
			continue;
		if (buf[0])
			strncat(buf, ", ", cap - strlen(buf) - 1);
		strncat(buf, names[i].name, cap - strlen(buf) - 1);
	}
}

static enum MHD_Result queue_answer(struct httpd_req *r)
{
	enum MHD_Result ok = MHD_NO;
	r->queued = 1;
	if (r->resp) {
		ok = MHD_queue_response(r->conn, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
		if (ok == MHD_YES)
			count_status(r->h, r->status);
	}
	return ok;   /* MHD_NO closes the connection: no answer could be built */
}

static int first_call(struct httpd *h, struct MHD_Connection *conn, const char *url,
                      const char *method, struct httpd_req **out, enum MHD_Result *res)
{
	unsigned m = method_bit(method), allow = 0;
	const struct route *rt = NULL;
	for (unsigned i = 0; i < h->nroutes; i++) {
		if (!path_matches(&h->routes[i], url))
			continue;
		allow |= h->routes[i].methods;
		if (h->routes[i].methods & m) {
			rt = &h->routes[i];
			break;
		}
	}
	if (!rt) {
		char list[64];
		if (!allow) {
			atomic_fetch_add_explicit(&h->not_found, 1, RELAXED);
			*res = answer_now(h, conn, 404, NULL, NULL);
			return 1;
		}
		allow_list(allow, list, sizeof list);
		atomic_fetch_add_explicit(&h->bad_method, 1, RELAXED);
		*res = answer_now(h, conn, 405, "method not allowed\n", list);
		return 1;
	}

	size_t cl = 0;
	int have_cl = 0;
	const char *cls = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                              MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cls) {
		/* MHD has already refused a malformed Content-Length with 400. */
		have_cl = 1;
		for (const char *p = cls; *p >= '0' && *p <= '9'; p++) {
			if (cl > (SIZE_MAX - 9) / 10) {
				cl = SIZE_MAX;
				break;
			}
			cl = cl * 10 + (size_t)(*p - '0');
		}
	}
	if (have_cl && cl > rt->body_max) {
		atomic_fetch_add_explicit(&h->too_large, 1, RELAXED);
		*res = answer_now(h, conn, 413, "request body too large\n", NULL);
		return 1;
	}
	struct httpd_req *r = bnd_calloc(1, sizeof *r);
	if (!r) {
		*res = MHD_NO;
		return 1;
	}
	r->h = h;
	r->conn = conn;
	r->route = rt;
	r->method = method;
	r->path = url;
	r->body_max = rt->body_max;
	r->t_start_ns = mono_ns();
	atomic_init(&r->state, RS_RECEIVING);
	atomic_init(&r->answered, 0);
	if (h->o.thread_per_connection) {
		pthread_mutex_init(&r->mu, NULL);
		pthread_cond_init(&r->cv, NULL);
		r->sync_init = 1;
	}
	/* With a Content-Length the buffer is allocated once at its size;
	 * chunked bodies grow it. One spare byte holds a NUL terminator. */
	if (have_cl)
		r->cap = cl;
	else
		r->cap = r->body_max < 16384 ? r->body_max : 16384;
	r->body = bnd_malloc(r->cap + 1);
	if (!r->body) {
		bnd_free(r);
		*res = MHD_NO;
		return 1;
	}
	*out = r;
	return 0;
}

static enum MHD_Result take_body(struct httpd_req *r, const char *data, size_t n)
{
	struct httpd *h = r->h;
	if (mono_ns() - r->t_start_ns > (uint64_t)h->o.body_timeout_s * 1000000000u)
		return MHD_NO;   /* a body trickling in past its deadline */
	if (n > r->body_max - r->len) {
		/* Only a chunked body can get here (MHD enforces Content-Length);
		 * a response cannot be queued mid-body, so the connection closes. */
		atomic_fetch_add_explicit(&h->too_large, 1, RELAXED);
		return MHD_NO;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		while (cap < r->len + n)
			cap = cap > r->body_max / 2 ? r->body_max : cap * 2;
		uint8_t *nb = bnd_realloc(r->body, cap + 1);
		if (!nb)
			return MHD_NO;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return MHD_YES;
}

static enum MHD_Result dispatch(struct httpd_req *r)
{
	struct httpd *h = r->h;
	r->body[r->len] = '\0';
	r->dispatched = 1;
	atomic_fetch_add(&h->in_flight, 1);
	atomic_fetch_add_explicit(&h->requests, 1, RELAXED);
	atomic_store(&r->state, RS_RUNNING);
	r->route->fn(r, r->route->ud);

	int exp = RS_RUNNING;
	if (h->o.thread_per_connection) {
		/* The connection owns this thread: wait here for the answer. */
		pthread_mutex_lock(&r->mu);
		if (atomic_compare_exchange_strong(&r->state, &exp, RS_WAITING)) {
			atomic_fetch_add_explicit(&h->deferred, 1, RELAXED);
			while (atomic_load(&r->state) != RS_ANSWERED)
				pthread_cond_wait(&r->cv, &r->mu);
		}
		pthread_mutex_unlock(&r->mu);
		return queue_answer(r);
	}
	if (!atomic_compare_exchange_strong(&r->state, &exp, RS_DEFERRING))
		return queue_answer(r);   /* answered during the handler */
	atomic_fetch_add_explicit(&h->deferred, 1, RELAXED);
	if (httpd__deferring_hook)
		httpd__deferring_hook(r);
	MHD_suspend_connection(r->conn);
	exp = RS_DEFERRING;
	if (!atomic_compare_exchange_strong(&r->state, &exp, RS_SUSPENDED)) {
		/* Answered between the handler's return and the suspension: the
		 * answering thread left the resume to us. MHD calls us again. */
		MHD_resume_connection(r->conn);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	struct httpd *h = cls;
	struct httpd_req *r = *con_cls;
	if (!r) {
		enum MHD_Result res;
		if (first_call(h, conn, url, method, &r, &res))
			return res;
		*con_cls = r;
		return MHD_YES;
	}
	int st = atomic_load(&r->state);
	if (st == RS_RECEIVING) {
		if (*upload_data_size > 0) {
			enum MHD_Result ok = take_body(r, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return ok;
		}
		return dispatch(r);
	}
	if (st == RS_ANSWERED && !r->queued)
		return queue_answer(r);   /* resumed after a deferred answer */
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	struct httpd_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		atomic_fetch_add_explicit(&h->aborted, 1, RELAXED);
	/* in_flight ends here, once the answer has been sent (or the
	 * connection died), so that drain-then-close loses no answer. */
	if (r->dispatched)
		atomic_fetch_sub(&h->in_flight, 1);
	if (r->resp)
		MHD_destroy_response(r->resp);
	for (unsigned i = 0; i < r->nextra; i++) {
		bnd_free(r->extra[i][0]);
		bnd_free(r->extra[i][1]);
	}
	if (r->sync_init) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
	}
	bnd_free(r->body);
	bnd_free(r);
}

const char *httpd_req_method(const struct httpd_req *r)
{
	return r->method;
}

const char *httpd_req_path(const struct httpd_req *r)
{
	return r->path;
}

const uint8_t *httpd_req_body(const struct httpd_req *r, size_t *len)
{
	if (len)
		*len = r->len;
	return r->body;
}

static const char *lookup(struct httpd_req *r, enum MHD_ValueKind kind, const char *name,
                          size_t *len)
{
	const char *v = NULL;
	size_t n = 0;
	if (MHD_lookup_connection_value_n(r->conn, kind, name, strlen(name), &v, &n) != MHD_YES)
		return NULL;
	if (!v) {
		v = "";   /* "?flag" without '=' */
		n = 0;
	}
	if (len)
		*len = n;
	return v;
}

const char *httpd_req_query(struct httpd_req *r, const char *name, size_t *len)
{
	return lookup(r, MHD_GET_ARGUMENT_KIND, name, len);
}

const char *httpd_req_header(struct httpd_req *r, const char *name, size_t *len)
{
	return lookup(r, MHD_HEADER_KIND, name, len);
}

const char *httpd_req_bearer(struct httpd_req *r, size_t *len)
{
	size_t n = 0;
	const char *v = httpd_req_header(r, "Authorization", &n);
	if (!v || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7, n -= 7;
	while (n > 0 && *v == ' ')
		v++, n--;
	while (n > 0 && v[n - 1] == ' ')
		n--;
	if (n == 0)
		return NULL;
	if (len)
		*len = n;
	return v;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bnd_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

int httpd_req_set_header(struct httpd_req *r, const char *name, const char *value)
{
	if (!r || !name || !value)
		return BND_E_INVAL;
	if (r->nextra >= HTTPD_EXTRA_HEADERS_MAX)
		return BND_E_RANGE;
	char *n = dup_str(name), *v = dup_str(value);
	if (!n || !v) {
		bnd_free(n);
		bnd_free(v);
		return BND_E_NOMEM;
	}
	r->extra[r->nextra][0] = n;
	r->extra[r->nextra][1] = v;
	r->nextra++;
	return 0;
}

int httpd_respond(struct httpd_req *r, unsigned status, const char *content_type,
                  const void *body, size_t len)
{
	int rc = 0;
	if (!r || (!body && len > 0))
		return BND_E_INVAL;
	if (atomic_exchange(&r->answered, 1))
		return BND_E_HTTPD_ANSWERED;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
	if (resp && content_type &&
	    MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES)
		goto nomem;
	for (unsigned i = 0; resp && i < r->nextra; i++)
		if (MHD_add_response_header(resp, r->extra[i][0], r->extra[i][1]) != MHD_YES)
			goto nomem;
	if (!resp)
		rc = BND_E_NOMEM;
	goto publish;
nomem:
	MHD_destroy_response(resp);
	resp = NULL;
	rc = BND_E_NOMEM;
publish:
	r->resp = resp;
	r->status = status;
	if (r->sync_init) {
		/* The waiter re-takes the mutex before it frees r, so r stays
		 * valid until this unlock returns. */
		pthread_mutex_lock(&r->mu);
		atomic_store(&r->state, RS_ANSWERED);
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	struct MHD_Connection *conn = r->conn;
	/* After this exchange r belongs to the server thread again. */
	if (atomic_exchange(&r->state, RS_ANSWERED) == RS_SUSPENDED)
		MHD_resume_connection(conn);
	return rc;
}

int httpd_respond_text(struct httpd_req *r, unsigned status, const char *text)
{
	return httpd_respond(r, status, "text/plain", text, text ? strlen(text) : 0);
}
