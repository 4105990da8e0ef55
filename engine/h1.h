/*
 * h1.h - a small HTTP/1.1 client for one origin (http:// or https://, TLS
 * by OpenSSL), on the event loop: a pool of keep-alive connections, one
 * request at a time on each (no pipelining), a FIFO of requests waiting for
 * a connection, response parsing by the nodejs http_parser library (Debian
 * libhttp-parser-dev).
 *
 * It exists for one measured hot path: the fan-out's POST /messages. On
 * loopback, libcurl spends ~20 us of CPU per request, most of it its own
 * machinery (bench/RESULTS.md, "fan-out"); this client writes a request
 * with one sendmsg (one SSL_write) and reads its answer with one recv (one
 * SSL_read). Proxies, redirects, authentication schemes and HTTP/2 stay
 * with libcurl (waclient picks which one runs, see waclient.h).
 *
 * Threading: the loop's thread only.
 */
#ifndef H1_H
#define H1_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct h1;
struct h1_conn;

/* Why a request ended. */
enum h1_err {
	H1_OK = 0,       /* a complete final response (any status) */
	H1_E_CONNECT,    /* no connection (resolve, refused, connect time-out):
	                    nothing of the request was written */
	H1_E_CLOSED,     /* the connection closed or reset before the response
	                    was complete */
	H1_E_TIMEOUT,    /* the request's time-out passed first */
	H1_E_PROTO,      /* the bytes received are not an HTTP/1.x response */
	H1_E_TLS,        /* the TLS handshake failed: nothing was written */
	H1_E_TLS_VERIFY, /* the server's certificate was refused (chain, name,
	                    dates): nothing was written */
};

/*
 * One request. The caller owns it (embedded in its own slot), fills `body`,
 * `body_len` and `ud`, and must keep body and request valid until the done
 * callback runs or h1_cancel returns. Fields under "private" are h1's.
 */
struct h1_req {
	const uint8_t *body;
	size_t body_len;
	void *ud;
	/* results, valid in the callbacks */
	int status;              /* status of the final response; 0 = none yet */
	uint64_t sent;           /* request bytes written to the socket */
	uint64_t received;       /* response bytes read */
	/* private */
	struct h1_req *next;
	struct h1_conn *conn;
	uint64_t deadline_ns;
	uint8_t clen_len, queued, failed;
	char clen[40];           /* "Content-Length: N\r\n\r\n" */
};

struct h1_callbacks {
	/* One response header (name and value without blanks; a value longer
	 * than H1_VALUE_MAX is cut there). Headers of 1xx interim responses
	 * are not reported. */
	void (*header)(struct h1_req *r, const char *name, size_t name_len,
	               const char *value, size_t value_len);
	/* Response body bytes, in order. */
	void (*body)(struct h1_req *r, const uint8_t *p, size_t n);
	/* The request ended: exactly once per accepted h1_submit, never from
	 * inside h1_submit. The request is the caller's again (it may submit
	 * it, or another, from here). */
	void (*done)(struct h1_req *r, enum h1_err err, uint64_t now_ns);
};

#define H1_VALUE_MAX 96u

struct h1_config {
	const char *url;          /* "http[s]://host[:port][/path]" (host: an IPv4
	                             or [IPv6] literal, or a name looked up with
	                             getaddrinfo on a thread of its own, its
	                             addresses tried in turn, looked up again once
	                             connects to all of them failed) */
	const char *ca_file;      /* https: PEM file of the CAs to trust; NULL =
	                             OpenSSL's defaults (the system's, or
	                             SSL_CERT_FILE / SSL_CERT_DIR) */
	const char *headers;      /* extra request header lines, each ending in
	                             CRLF (may be NULL); copied, wiped at close */
	uint32_t connections;     /* at most this many open; 0 = 16 */
	uint32_t timeout_ms;      /* whole request, queueing included; 0 = 15000 */
	uint32_t connect_timeout_ms; /* 0 = 5000 */
	struct h1_callbacks cb;   /* all three required */
};

/*
 * h1_open - a client for cfg->url's origin on loop l. Returns 0,
 * BND_E_INVAL (NULL arguments or callbacks), BND_E_WA_CONFIG (not an
 * http(s):// URL, a bad port, control bytes in the URL or the headers, a
 * CA file OpenSSL cannot load) or BND_E_NOMEM. Opens no connection yet.
 * https: TLS 1.2 or later, the certificate chain and the host name (or IP
 * address) verified, SNI, ALPN "http/1.1", sessions resumed.
 */
int h1_open(struct h1 **out, struct loop *l, const struct h1_config *cfg);

/* h1_close - close every connection, WITHOUT callbacks; waits for a host
 * name lookup still running (at most the resolver's time-out). Accepts NULL. */
void h1_close(struct h1 **p);

/*
 * h1_submit - POST r->body to the URL's path. It is written at once on an
 * idle connection, else on a new one (up to `connections`), else queued
 * (FIFO). Returns 0 (done will run once), or BND_E_INVAL.
 */
int h1_submit(struct h1 *h, struct h1_req *r, uint64_t now_ns);

/*
 * h1_cancel - abandon r without its callback: unqueued, or its connection
 * closed (an answer may be on its way). r->sent says whether any of it left.
 * No-op for a request not in flight.
 */
void h1_cancel(struct h1 *h, struct h1_req *r);

struct h1_stats {
	uint64_t connects;       /* connections opened (connect() called) */
	uint64_t requests;       /* requests written completely */
	uint64_t closes;         /* connections closed by either side */
	uint64_t lookups;        /* host-name lookups started (not for IP literals) */
	uint64_t first_sent_ns;  /* loop time the first request was written
	                            completely; 0 = not yet */
};

void h1_stats_get(const struct h1 *h, struct h1_stats *out);

/* h1_open_conns - connections open or opening. */
unsigned h1_open_conns(const struct h1 *h);

/*
 * h1_parse_response - parse a whole response held in memory as the client
 * would (the fuzz target and the tests use it): the same callbacks on a
 * request-less path, eof after the bytes. Returns the h1_err the client
 * would report, and the status in *status.
 */
enum h1_err h1_parse_response(const uint8_t *p, size_t n, size_t split,
                              const struct h1_callbacks *cb, struct h1_req *r,
                              int eof);

#endif
