/*
 * httpd.h - the HTTP/1.1 server of `banditore serve`: a thin wrapper over
 * libmicrohttpd that hides its request-callback state machine.
 *
 * A route is (methods, path) -> handler. The wrapper accumulates the whole
 * request body (answering 413 early when Content-Length is over the route's
 * limit), then calls the handler ONCE with the full body. The handler
 * answers with httpd_respond, either before it returns (synchronous) or
 * LATER from any thread (deferred: the connection is suspended meanwhile and
 * the server thread goes on serving other connections). Deferred answers
 * are how `serve` acknowledges a webhook only after its group commit is
 * durable without holding a server thread per waiting request.
 *
 * Threads: libmicrohttpd's epoll mode with an internal pool of
 * opts.threads threads; handlers run on those threads, several at once.
 * One more thread of ours accepts connections and hands them to that pool
 * (libmicrohttpd never sees the listening socket; see httpd_quiesce).
 * Limits: connections in total and per IP, an idle timeout per connection,
 * a deadline for receiving a body, a header memory cap per connection.
 * See docs/WEBHOOK.md for the life cycle and the measurements behind the
 * defaults.
 *
 * Typical use:
 *   struct httpd_opts o = { .listen = "127.0.0.1:0" };
 *   httpd_open(&h, &o);                       // binds: the port is known
 *   httpd_route(h, HTTPD_POST, "/webhook", WEBHOOK_BODY_MAX, on_post, app);
 *   httpd_start(h);
 *   ... httpd_port(h) ...
 *   httpd_quiesce(h); httpd_drain(h, 5000); httpd_close(&h);
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct httpd;
struct httpd_req;

#define HTTPD_THREADS_DEFAULT 2
#define HTTPD_CONN_MAX_DEFAULT 1024
#define HTTPD_IDLE_TIMEOUT_S_DEFAULT 15   /* no byte for this long: closed */
#define HTTPD_BODY_TIMEOUT_S_DEFAULT 30   /* whole body within this */
#define HTTPD_BODY_MAX_DEFAULT (64u << 10) /* routes without their own limit */
#define HTTPD_CONN_MEMORY_DEFAULT (64u << 10) /* request line + headers + IO */
#define HTTPD_ROUTES_MAX 32
#define HTTPD_PATH_MAX 128
#define HTTPD_EXTRA_HEADERS_MAX 4

struct httpd_opts {
	const char *listen;         /* "HOST:PORT" (httpd_listen_parse); required */
	unsigned threads;           /* server threads; 0: HTTPD_THREADS_DEFAULT */
	unsigned conn_max;          /* open connections in total; 0: default */
	unsigned per_ip_conn_max;   /* per client address; 0: no limit */
	unsigned idle_timeout_s;    /* 0: HTTPD_IDLE_TIMEOUT_S_DEFAULT */
	unsigned body_timeout_s;    /* 0: HTTPD_BODY_TIMEOUT_S_DEFAULT */
	size_t body_max;            /* default route body limit; 0: default */
	size_t conn_memory;         /* per-connection buffer; 0: default */
	int turbo;                  /* 1: MHD_USE_TURBO (fewer syscalls) */
	int thread_per_connection;  /* 1: one thread per connection (poll mode)
	                               instead of the epoll pool; a deferred
	                               answer then blocks only that connection's
	                               thread (no suspend/resume); threads is
	                               ignored. See docs/WEBHOOK.md. */
};

enum httpd_method {
	HTTPD_GET = 1 << 0,        /* also answers HEAD */
	HTTPD_POST = 1 << 1,
	HTTPD_PUT = 1 << 2,
	HTTPD_DELETE = 1 << 3,
	HTTPD_PATCH = 1 << 4,
	HTTPD_PREFIX = 1 << 8,     /* httpd_route: match the path as a prefix */
};

/*
 * A handler runs on a server thread with the request complete. It must
 * eventually call httpd_respond exactly once, before returning or later
 * from any thread. Until then the connection waits (it does not time out
 * and its client's disconnect is not noticed), so a deferred answer must
 * come in bounded time; httpd_close waits for every one.
 */
typedef void (*httpd_handler_fn)(struct httpd_req *req, void *ud);

/*
 * httpd_listen_parse - parse "HOST:PORT": HOST is an IPv4 literal,
 * "[IPv6]" or "localhost" (127.0.0.1); PORT is 0..65535 (0: any free port).
 * No name resolution. Returns 0 and fills *ss / *sslen, or BND_E_HTTPD_LISTEN.
 */
int httpd_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen);

/*
 * httpd_open - create the server and bind its listening socket (so a busy
 * port is reported here and httpd_port is known), without serving yet.
 * Returns 0 and *out; BND_E_HTTPD_LISTEN (bad spec), BND_E_INVAL (no
 * opts or listen), BND_E_NOMEM, -errno of socket/bind/listen (e.g.
 * -EADDRINUSE, -EACCES). On failure *out is NULL.
 */
int httpd_open(struct httpd **out, const struct httpd_opts *opts);

/*
 * httpd_route - add a route before httpd_start. methods is a mask of
 * enum httpd_method, plus HTTPD_PREFIX to match path as a prefix
 * ("/v1/notices/" with HTTPD_PREFIX matches "/v1/notices/42/cancel" but
 * not "/v1/notices"); otherwise the path must be equal ("/webhook").
 * The first matching route in registration order wins.
 * body_max bounds the request body (0: opts.body_max). A path that matches
 * no route gets 404; a path that matches with another method gets 405 with
 * an Allow header. Returns 0; BND_E_HTTPD_ROUTE (started already, table
 * full, path not starting with '/' or longer than HTTPD_PATH_MAX), BND_E_INVAL.
 */
int httpd_route(struct httpd *h, unsigned methods, const char *path, size_t body_max,
                httpd_handler_fn fn, void *ud);

/*
 * httpd_start - start the server threads. Returns 0, BND_E_HTTPD_START
 * (libmicrohttpd refused; the reason goes to the bnd_log hook),
 * BND_E_HTTPD_ROUTE (started twice).
 */
int httpd_start(struct httpd *h);

/* httpd_port - the bound port (the chosen one when the spec said 0). */
uint16_t httpd_port(const struct httpd *h);

/*
 * httpd_quiesce - stop accepting new connections; open ones are served to
 * the end. Joins the acceptor thread, then shuts the listening socket down:
 * new clients are refused (ECONNREFUSED), clients still in the backlog are
 * reset. The socket stays open (and an explicit port bound) until
 * httpd_close. Never calls MHD_quiesce_daemon (it races libmicrohttpd's
 * epoll threads and can abort the process). Before httpd_start: the server
 * will start without accepting. Safe to call more than once. Thread-safe.
 */
void httpd_quiesce(struct httpd *h);

/*
 * httpd_drain - wait until every request handed to a handler has been
 * answered and its answer sent (or its client gone), for at most timeout_ms. Returns 0, or -ETIMEDOUT with requests
 * still unanswered. Thread-safe; call it from a thread that is not going to
 * answer them.
 */
int httpd_drain(struct httpd *h, unsigned timeout_ms);

/*
 * httpd_close - stop serving, close every connection and free the server.
 * It first waits (without limit) for every deferred request to be
 * answered: answering them (with 503 on shutdown if need be) is the
 * owner's job. Accepts NULL and *h == NULL; sets *h to NULL.
 */
void httpd_close(struct httpd **h);

struct httpd_stats {
	uint64_t requests;         /* requests handed to a handler */
	uint64_t status_2xx, status_3xx, status_4xx, status_5xx; /* answers queued */
	uint64_t too_large;        /* 413 and bodies cut (also counted above) */
	uint64_t not_found;        /* 404 from routing */
	uint64_t bad_method;       /* 405 from routing */
	uint64_t deferred;         /* handlers that answered after returning */
	uint64_t aborted;          /* requests ended without their answer sent
	                              (client gone, timeout, body cut) */
	uint64_t in_flight;        /* handed to a handler, answer not yet sent */
	unsigned connections;      /* open now */
};
/* httpd_stats - counters since start (relaxed reads). Thread-safe. */
void httpd_stats(struct httpd *h, struct httpd_stats *st);

/* ------------------------------------------------------------------ */
/* Requests. A struct httpd_req is owned by the server: valid from the  */
/* handler call until httpd_respond returns, never after.               */

/* "GET", "POST", ...; and the path without the query string
 * (percent-decoded by libmicrohttpd). Valid until httpd_respond. */
const char *httpd_req_method(const struct httpd_req *r);
const char *httpd_req_path(const struct httpd_req *r);

/* The body: exactly the bytes received (never re-encoded), NUL-terminated
 * for convenience at body[len] (not counted). Valid until httpd_respond. */
const uint8_t *httpd_req_body(const struct httpd_req *r, size_t *len);

/*
 * httpd_req_query / httpd_req_header - a query argument (percent-decoded)
 * or a request header (name case-insensitive), NUL-terminated, its length
 * in *len when len is not NULL; NULL when absent. "?flag" gives "".
 * ONLY during the handler call, on the server thread: copy what a deferred
 * answer needs.
 */
const char *httpd_req_query(struct httpd_req *r, const char *name, size_t *len);
const char *httpd_req_header(struct httpd_req *r, const char *name, size_t *len);

/*
 * httpd_req_bearer - the token of "Authorization: Bearer <token>" (scheme
 * case-insensitive), or NULL. Same lifetime rule as httpd_req_header.
 */
const char *httpd_req_bearer(struct httpd_req *r, size_t *len);

/*
 * httpd_req_set_header - add a response header (e.g. "Allow",
 * "WWW-Authenticate", "Retry-After") to the answer; both strings copied.
 * Call before httpd_respond, from the thread that will answer.
 * Returns 0, BND_E_RANGE (more than HTTPD_EXTRA_HEADERS_MAX), BND_E_NOMEM.
 */
int httpd_req_set_header(struct httpd_req *r, const char *name, const char *value);

/*
 * httpd_respond - answer the request: status, Content-Type (NULL: none)
 * and body (copied; body may be NULL when len is 0). May be called from
 * the handler or later from any thread; after it returns r must not be
 * touched. Returns 0; BND_E_HTTPD_ANSWERED (second answer: ignored);
 * BND_E_NOMEM (the answer could not be built: the connection is closed
 * without one, which the client sees as a failure and WhatsApp retries).
 */
int httpd_respond(struct httpd_req *r, unsigned status, const char *content_type,
                  const void *body, size_t len);

/* httpd_respond_text - httpd_respond with a NUL-terminated text/plain body. */
int httpd_respond_text(struct httpd_req *r, unsigned status, const char *text);

#endif
