/*
 * h1.c - HTTP/1.1 keep-alive client for one origin, plain or TLS (see h1.h).
 *
 * Why it exists: on loopback the fan-out is bound by the HTTP client's own
 * CPU. libcurl 7.88 spends ~20 us per request (bench/RESULTS.md), and the
 * sender can only ever be as fast as that floor. This client does what one
 * POST on a kept-alive connection needs and nothing else:
 *
 *   submit  -> idle connection?  sendmsg(head, "Content-Length: N\r\n\r\n", body)
 *              no: open one (up to `connections`), else wait in a FIFO
 *   IN      -> recv into one shared buffer -> http_parser -> header/body
 *              callbacks -> message complete -> done; the connection goes
 *              back to idle (or to the next queued request)
 *
 * A connection is always watched for IN, idle or not: the loop's watcher
 * stays armed with the same mask, so a request costs one sendmsg, one recv
 * and one poll completion, no epoll_ctl or re-registration. An idle
 * connection that turns readable has been closed by the server (or sent
 * bytes nobody asked for): it is closed at once. Before a connection idle
 * for more than IDLE_CHECK_NS (20 ms) is reused, a MSG_PEEK recv checks it is still
 * open, so a request is rarely written into a socket the server has just
 * closed.
 *
 * Outcomes follow what the sender needs to know (waerr_classify_transport):
 * a request none of whose bytes left is H1_E_CONNECT or has sent == 0 and
 * can be retried; once bytes left, a missing answer is a closed connection
 * or a time-out with sent > 0, and the caller treats it as uncertain. No
 * request is ever re-sent here.
 *
 * Time-outs: one sweep timer while anything is in flight or queued, every
 * tick_ns (timeout / 16, 1..100 ms); a request's deadline counts from its
 * submit, as libcurl's CURLOPT_TIMEOUT_MS counts from when the transfer is
 * added. Nothing here reads the clock: now_ns comes from the loop.
 *
 * TLS (https://): OpenSSL on the same nonblocking socket, through a tiny
 * socket BIO of our own so that every write is send(MSG_NOSIGNAL) (OpenSSL's
 * own socket BIO uses write(), which raises SIGPIPE on a closed peer). The
 * TCP connect and the handshake together are the CONNECTING state, bounded
 * by the connect time-out as in libcurl; SSL_connect's WANT_READ/WANT_WRITE
 * pick the watcher's events. A request is copied into one buffer and
 * written with SSL_write (partial writes on); answers are read with SSL_read
 * until it wants more (records buffered inside OpenSSL do not make the
 * socket readable). An idle TLS connection turning readable is usually a
 * TLS 1.3 session ticket: SSL_read consumes it and the connection stays.
 * Sessions are kept (the newest ticket) and offered on new connections.
 *
 * Responses: http_parser (nodejs/http-parser 2.9, a well-fuzzed state
 * machine) does the framing: status line, headers, Content-Length, chunked
 * encoding, body-until-EOF, keep-alive rules. The parser is paused at the
 * end of the final response; bytes after it mean the server is out of step
 * (we never pipeline), so the connection is closed after that response.
 */
#include "h1.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <http_parser.h>
#include <pthread.h>
#include <stdatomic.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bnd.h"

#define RBUF_SIZE 16384u
#define IDLE_CHECK_NS 20000000ull  /* check a connection idle longer than this */
#define HNAME_MAX 32u
#define H1_ADDRS 8u   /* addresses of a name kept, tried in turn on connect failures */

/* Response parsing state: one per connection (and one for h1_parse_response). */
struct h1_parse {
	http_parser p;
	const struct h1_callbacks *cb;
	struct h1_req *r;
	uint8_t complete;       /* the final response ended */
	uint8_t in_value;       /* last header callback was a value */
	uint8_t name_over;      /* the current header's name did not fit */
	uint8_t name_len, value_len;
	char name[HNAME_MAX];
	char value[H1_VALUE_MAX];
};

enum conn_state { CS_CLOSED = 0, CS_CONNECTING, CS_IDLE, CS_BUSY };

struct h1_conn {
	struct h1 *h;
	int fd;
	enum conn_state st;
	struct loop_io io;
	unsigned watching;      /* events the watcher is started with; 0 = stopped */
	struct h1_req *req;
	uint64_t since_ns;      /* idle since / connect started */
	uint64_t deadline_ns;
	size_t woff;            /* bytes of req written */
	struct h1_conn *next_idle;
	SSL *ssl;               /* https: the connection's TLS state */
	uint8_t tls_up;         /* handshake done */
	uint8_t *wbuf;          /* https: the whole request, for SSL_write */
	size_t wcap;
	struct h1_parse ps;
};

struct h1 {
	struct loop *l;
	struct h1_callbacks cb;
	char *host;             /* for getaddrinfo, SNI and name checks, without brackets */
	int host_is_ip;
	SSL_CTX *ctx;           /* https only */
	BIO_METHOD *bio_meth;
	SSL_SESSION *sess;      /* the newest session the server gave us */
	char port[8];
	char *head;             /* request line + headers, without Content-Length */
	size_t head_len;
	uint32_t nconns, open;
	uint64_t timeout_ns, connect_timeout_ns, tick_ns;
	struct h1_addrs {       /* the origin's addresses, tried in turn */
		struct sockaddr_storage a[H1_ADDRS];
		socklen_t len[H1_ADDRS];
		unsigned n, cur, fails;  /* n == 0: not resolved (again) */
	} addrs;
	struct h1_conn *conns;
	struct h1_conn *idle;   /* stack: the most recently used first */
	struct h1_req *q_head, *q_tail;
	struct h1_req *deferred;/* ended inside h1_submit: reported next iteration */
	struct loop_timer tick, later, dns_t;
	struct h1_dns {       /* a host-name lookup on its own thread */
		pthread_t th;
		int started;      /* created, not joined yet */
		atomic_int done;  /* the thread filled rc, addr, len */
		int rc;
		struct h1_addrs out;
	} dns;
	struct h1_stats st;
	uint8_t rbuf[RBUF_SIZE];
};

/* ------------------------------------------------------------ parsing */

/* A 1xx answer precedes the real one (101 is an upgrade: final, not ours). */
static int interim(const http_parser *p)
{
	return p->status_code >= 100 && p->status_code < 200 && p->status_code != 101;
}

static void emit_header(struct h1_parse *ps)
{
	if (ps->in_value && !ps->name_over && !interim(&ps->p) && ps->r && ps->cb->header) {
		size_t vl = ps->value_len;
		while (vl && (ps->value[vl - 1] == ' ' || ps->value[vl - 1] == '\t'))
			vl--;
		ps->cb->header(ps->r, ps->name, ps->name_len, ps->value, vl);
	}
	ps->in_value = 0;
	ps->name_over = 0;
	ps->name_len = 0;
	ps->value_len = 0;
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
	struct h1_parse *ps = p->data;
	if (ps->in_value)
		emit_header(ps);
	if (ps->name_len + n > HNAME_MAX) {
		ps->name_over = 1;
		return 0;
	}
	memcpy(ps->name + ps->name_len, at, n);
	ps->name_len = (uint8_t)(ps->name_len + n);
	return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
	struct h1_parse *ps = p->data;
	ps->in_value = 1;
	if (ps->value_len == 0)
		while (n && (*at == ' ' || *at == '\t')) {
			at++;
			n--;
		}
	size_t room = H1_VALUE_MAX - ps->value_len;
	if (n > room)
		n = room;
	memcpy(ps->value + ps->value_len, at, n);
	ps->value_len = (uint8_t)(ps->value_len + n);
	return 0;
}

static int on_headers_done(http_parser *p)
{
	struct h1_parse *ps = p->data;
	emit_header(ps);
	if (!interim(p) && ps->r)
		ps->r->status = (int)p->status_code;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct h1_parse *ps = p->data;
	if (!interim(p) && ps->r && ps->cb->body)
		ps->cb->body(ps->r, (const uint8_t *)at, n);
	return 0;
}

static int on_begin(http_parser *p)
{
	struct h1_parse *ps = p->data;
	ps->in_value = 0;
	ps->name_len = 0;
	ps->value_len = 0;
	ps->name_over = 0;
	return 0;
}

static int on_complete(http_parser *p)
{
	struct h1_parse *ps = p->data;
	if (interim(p))
		return 0;  /* the final response follows */
	ps->complete = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_begin,
	.on_header_field = on_hfield,
	.on_header_value = on_hvalue,
	.on_headers_complete = on_headers_done,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

static void parse_init(struct h1_parse *ps, const struct h1_callbacks *cb, struct h1_req *r)
{
	memset(ps, 0, offsetof(struct h1_parse, name));
	http_parser_init(&ps->p, HTTP_RESPONSE);
	ps->p.data = ps;
	ps->cb = cb;
	ps->r = r;
}

/*
 * parse_feed - n bytes (n == 0: the peer closed). Returns 1 when the final
 * response is complete (*extra: bytes followed it), 0 when more is needed,
 * -1 on a framing error.
 */
static int parse_feed(struct h1_parse *ps, const uint8_t *p, size_t n, int *extra)
{
	if (ps->complete) {
		*extra = n > 0;
		return 1;
	}
	size_t used = http_parser_execute(&ps->p, &settings, (const char *)p, n);
	enum http_errno e = HTTP_PARSER_ERRNO(&ps->p);
	if (ps->complete) {
		*extra = used < n;
		return 1;
	}
	if (n == 0)
		return 0;  /* the peer closed before the end: not a framing error */
	if (e != HPE_OK || used != n)
		return -1;
	return 0;
}

enum h1_err h1_parse_response(const uint8_t *p, size_t n, size_t split,
                              const struct h1_callbacks *cb, struct h1_req *r, int eof)
{
	struct h1_parse ps;
	int extra = 0, rc = 0;
	parse_init(&ps, cb, r);
	if (split > n)
		split = n;
	if (split)
		rc = parse_feed(&ps, p, split, &extra);
	if (rc == 0 && n > split)
		rc = parse_feed(&ps, p + split, n - split, &extra);
	if (rc == 0 && eof)
		rc = parse_feed(&ps, NULL, 0, &extra);
	return rc > 0 ? H1_OK : rc < 0 ? H1_E_PROTO : H1_E_CLOSED;
}

/* ------------------------------------------------------------ set-up */

static int bad_bytes(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 1;
	return 0;
}

static int headers_ok(const char *s)
{
	/* Printable lines, each ending in CRLF. */
	size_t n = strlen(s);
	if (n && (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n' || i == 0 || s[i - 1] == '\n')
				return 0;
			i++;
		} else if ((c < 0x20 && c != '\t') || c >= 0x7f) {
			return 0;
		}
	}
	return 1;
}

/* split "http://host[:port][/path]" */
static int url_split(const char *url, int *tls, const char **host, size_t *host_len,
                     const char **hostport, size_t *hostport_len, long *port,
                     const char **path)
{
	if (bad_bytes(url))
		return -1;
	const char *a;
	if (strncasecmp(url, "http://", 7) == 0) {
		*tls = 0;
		a = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		*tls = 1;
		a = url + 8;
	} else {
		return -1;
	}
	const char *e = a;
	while (*e && *e != '/' && *e != '?' && *e != '#')
		e++;
	*hostport = a;
	*hostport_len = (size_t)(e - a);
	*path = *e == '/' ? e : "/";
	if (*e && *e != '/')
		return -1;
	const char *pc = NULL;
	if (a < e && *a == '[') {
		const char *rb = memchr(a, ']', (size_t)(e - a));
		if (!rb || rb == a + 1)
			return -1;
		*host = a + 1;
		*host_len = (size_t)(rb - a - 1);
		if (rb + 1 < e) {
			if (rb[1] != ':')
				return -1;
			pc = rb + 1;
		}
	} else {
		pc = memchr(a, ':', (size_t)(e - a));
		*host = a;
		*host_len = (size_t)((pc ? pc : e) - a);
		if (memchr(a, '@', (size_t)(e - a)))
			return -1;  /* credentials in the URL: not for this client */
	}
	if (*host_len == 0)
		return -1;
	*port = *tls ? 443 : 80;
	if (pc) {
		long v = 0;
		const char *d = pc + 1;
		if (d == e)
			return -1;
		for (; d < e; d++) {
			if (*d < '0' || *d > '9' || v > 65535)
				return -1;
			v = v * 10 + (*d - '0');
		}
		if (v < 1 || v > 65535)
			return -1;
		*port = v;
	}
	return 0;
}

static void on_tick(void *ud, uint64_t now);
static void on_later(void *ud, uint64_t now);
static void on_io(void *ud, unsigned ev, uint64_t now);

/* ------------------------------------------------------------------ TLS */

/* The socket BIO: send(MSG_NOSIGNAL) and recv, the fd in the BIO's data. */
static int bsock_write(BIO *b, const char *p, size_t n, size_t *done)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t k;
	do
		k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	}
	*done = (size_t)k;
	return 1;
}

static int bsock_read(BIO *b, char *p, size_t n, size_t *done)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t k;
	do
		k = recv(fd, p, n, MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return 0;
	}
	if (k == 0)
		return 0;  /* EOF: no retry flag */
	*done = (size_t)k;
	return 1;
}

static long bsock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* Keep the newest session the server hands out (TLS 1.3 sends tickets
 * after the handshake); new connections offer it. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct h1 *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (!h)
		return 0;
	if (h->sess)
		SSL_SESSION_free(h->sess);
	h->sess = sess;
	return 1;  /* we hold the reference */
}

static int tls_setup(struct h1 *h, const char *ca_file)
{
	h->ctx = SSL_CTX_new(TLS_client_method());
	h->bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "h1-socket");
	if (!h->ctx || !h->bio_meth || !BIO_meth_set_write_ex(h->bio_meth, bsock_write) ||
	    !BIO_meth_set_read_ex(h->bio_meth, bsock_read) ||
	    !BIO_meth_set_ctrl(h->bio_meth, bsock_ctrl))
		return BND_E_NOMEM;
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX_set_app_data(h->ctx, h);
	if (!SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(h->ctx, alpn, sizeof alpn - 1) != 0)
		return BND_E_NOMEM;
	SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(h->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(h->ctx, SSL_SESS_CACHE_CLIENT |
	                               SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(h->ctx, on_new_session);
	int ok = ca_file ? SSL_CTX_load_verify_locations(h->ctx, ca_file, NULL)
	                 : SSL_CTX_set_default_verify_paths(h->ctx);
	ERR_clear_error();
	return ok == 1 ? 0 : BND_E_WA_CONFIG;
}

/* tls_begin - the TLS state of a connected socket. 0 or -1. */
static int tls_begin(struct h1_conn *c)
{
	struct h1 *h = c->h;
	SSL *ssl = SSL_new(h->ctx);
	BIO *b = BIO_new(h->bio_meth);
	if (!ssl || !b) {
		SSL_free(ssl);
		BIO_free(b);
		return -1;
	}
	BIO_set_data(b, (void *)(intptr_t)c->fd);
	BIO_set_init(b, 1);
	SSL_set_bio(ssl, b, b);
	int ok = h->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), h->host)
	                       : SSL_set1_host(ssl, h->host) &&
	                         SSL_set_tlsext_host_name(ssl, h->host);
	if (ok && h->sess)
		ok = SSL_set_session(ssl, h->sess);
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return -1;
	}
	SSL_set_connect_state(ssl);
	c->ssl = ssl;
	c->tls_up = 0;
	return 0;
}

/* tls_events - the watcher's events for an SSL call that wants more. */
static unsigned tls_events(SSL *ssl, int rc, int *again)
{
	int e = SSL_get_error(ssl, rc);
	*again = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
	return e == SSL_ERROR_WANT_WRITE ? LOOP_IN | LOOP_OUT : LOOP_IN;
}

int h1_open(struct h1 **out, struct loop *l, const struct h1_config *cfg)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	if (!l || !cfg || !cfg->url || !cfg->cb.done || !cfg->cb.header || !cfg->cb.body)
		return BND_E_INVAL;
	const char *host, *hostport, *path;
	size_t host_len, hostport_len;
	long port;
	int tls = 0;
	const char *hdrs = cfg->headers ? cfg->headers : "";
	if (url_split(cfg->url, &tls, &host, &host_len, &hostport, &hostport_len, &port, &path) ||
	    !headers_ok(hdrs) || strlen(cfg->url) > 2048)
		return BND_E_WA_CONFIG;

	struct h1 *h = bnd_calloc(1, sizeof *h);
	if (!h)
		return BND_E_NOMEM;
	h->l = l;
	h->cb = cfg->cb;
	h->nconns = cfg->connections ? cfg->connections : 16;
	uint32_t to = cfg->timeout_ms ? cfg->timeout_ms : 15000;
	uint32_t cto = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	h->timeout_ns = (uint64_t)to * 1000000ull;
	h->connect_timeout_ns = (uint64_t)cto * 1000000ull;
	h->tick_ns = h->timeout_ns / 16;
	if (h->tick_ns < 1000000ull)
		h->tick_ns = 1000000ull;
	if (h->tick_ns > 100000000ull)
		h->tick_ns = 100000000ull;
	snprintf(h->port, sizeof h->port, "%ld", port);
	h->host = bnd_malloc(host_len + 1);
	size_t cap = strlen(path) + hostport_len + strlen(hdrs) + 64;
	h->head = bnd_malloc(cap);
	h->conns = bnd_calloc(h->nconns, sizeof *h->conns);
	if (!h->host || !h->head || !h->conns) {
		h1_close(&h);
		return BND_E_NOMEM;
	}
	memcpy(h->host, host, host_len);
	h->host[host_len] = 0;
	uint8_t ab[16];
	h->host_is_ip = inet_pton(AF_INET, h->host, ab) == 1 || inet_pton(AF_INET6, h->host, ab) == 1;
	int trc;
	if (tls && (trc = tls_setup(h, cfg->ca_file))) {
		h1_close(&h);
		return trc;
	}
	int n = snprintf(h->head, cap, "POST %s HTTP/1.1\r\nHost: %.*s\r\n%s", path,
	                 (int)hostport_len, hostport, hdrs);
	h->head_len = (size_t)n;
	for (uint32_t i = 0; i < h->nconns; i++) {
		h->conns[i].h = h;
		h->conns[i].fd = -1;
	}
	*out = h;
	return 0;
}

static void conn_close(struct h1_conn *c);

void h1_close(struct h1 **p)
{
	if (!p || !*p)
		return;
	struct h1 *h = *p;
	*p = NULL;
	for (uint32_t i = 0; h->conns && i < h->nconns; i++)
		if (h->conns[i].st != CS_CLOSED)
			conn_close(&h->conns[i]);
	loop_timer_stop(h->l, &h->tick);
	loop_timer_stop(h->l, &h->later);
	loop_timer_stop(h->l, &h->dns_t);
	if (h->dns.started)
		pthread_join(h->dns.th, NULL);  /* at most the resolver's time-out */
	if (h->head) {
		explicit_bzero(h->head, h->head_len);  /* holds the bearer token */
		bnd_free(h->head);
	}
	if (h->sess)
		SSL_SESSION_free(h->sess);
	SSL_CTX_free(h->ctx);
	BIO_meth_free(h->bio_meth);
	bnd_free(h->host);
	bnd_free(h->conns);
	bnd_free(h);
}

/* ------------------------------------------------------------ connections */

/* lookup - getaddrinfo's stream addresses, in its order (at most H1_ADDRS). 0 or -1. */
static int lookup(const char *host, const char *port, int numeric, struct h1_addrs *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG |
	                                      (numeric ? AI_NUMERICHOST : 0) };
	struct addrinfo *res = NULL;
	out->n = out->cur = out->fails = 0;
	if (getaddrinfo(host, port, &hints, &res) || !res)
		return -1;
	for (struct addrinfo *ai = res; ai && out->n < H1_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof out->a[0])
			continue;
		memcpy(&out->a[out->n], ai->ai_addr, ai->ai_addrlen);
		out->len[out->n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return out->n ? 0 : -1;
}

/* addr_failed - a connect to the current address failed: try the next one
 * next time; after all of them failed, look the name up again. */
static void addr_failed(struct h1 *h)
{
	if (!h->addrs.n)
		return;
	h->addrs.cur = (h->addrs.cur + 1) % h->addrs.n;
	if (++h->addrs.fails >= h->addrs.n)
		h->addrs.n = 0;
}

static void *dns_main(void *ud)
{
	struct h1 *h = ud;
	h->dns.rc = lookup(h->host, h->port, 0, &h->dns.out);
	atomic_store_explicit(&h->dns.done, 1, memory_order_release);
	return NULL;
}

static void drain_queue(struct h1 *h, uint64_t now);

/* The loop side of a lookup: checked every millisecond until it is done. */
static void on_dns(void *ud, uint64_t now)
{
	struct h1 *h = ud;
	if (!atomic_load_explicit(&h->dns.done, memory_order_acquire)) {
		loop_timer_start(h->l, &h->dns_t, now + 1000000ull, on_dns, h);
		return;
	}
	pthread_join(h->dns.th, NULL);
	h->dns.started = 0;
	if (h->dns.rc == 0) {
		h->addrs = h->dns.out;
		drain_queue(h, now);
		return;
	}
	/* No address: what waits for a connection cannot get one, unless a
	 * connection is still open (then it waits for that one). The queue is
	 * taken whole first: a callback that submits again starts a new
	 * lookup, and its request waits for that one. */
	if (h->open > 0)
		return;
	struct h1_req *r = h->q_head;
	h->q_head = h->q_tail = NULL;
	while (r) {
		struct h1_req *next = r->next;
		r->next = NULL;
		r->queued = 0;
		h->cb.done(r, H1_E_CONNECT, now);
		r = next;
	}
}

/*
 * resolve - the origin's address for a new connection. An IP literal is
 * converted at once; a host name is looked up on a thread of its own (a
 * slow or dead resolver must not stall the loop): returns 1 while that
 * runs (the request waits in the queue; on_dns moves it on), 0 when
 * h->addrs is ready, -1 when the address cannot be had.
 */
static int resolve(struct h1 *h, uint64_t now)
{
	if (h->addrs.n)
		return 0;
	if (h->host_is_ip)
		return lookup(h->host, h->port, 1, &h->addrs);
	if (h->dns.started)
		return 1;
	atomic_store(&h->dns.done, 0);
	if (pthread_create(&h->dns.th, NULL, dns_main, h) != 0)
		return -1;
	h->dns.started = 1;
	h->st.lookups++;
	loop_timer_start(h->l, &h->dns_t, now + 1000000ull, on_dns, h);
	return 1;
}

static void watch(struct h1_conn *c, unsigned ev)
{
	if (c->watching == ev)
		return;
	if (loop_io_start(c->h->l, &c->io, c->fd, ev, on_io, c) == 0)
		c->watching = ev;
}

static void conn_close(struct h1_conn *c)
{
	struct h1 *h = c->h;
	if (c->st == CS_IDLE) {
		struct h1_conn **pp = &h->idle;
		while (*pp && *pp != c)
			pp = &(*pp)->next_idle;
		if (*pp)
			*pp = c->next_idle;
	}
	loop_io_stop(h->l, &c->io);  /* before close: the fd number is reused at once */
	c->watching = 0;
	if (c->ssl) {
		if (c->tls_up)
			(void)SSL_shutdown(c->ssl);  /* close_notify, if the socket takes it */
		SSL_free(c->ssl);
		ERR_clear_error();
		c->ssl = NULL;
		c->tls_up = 0;
	}
	if (c->wbuf) {
		explicit_bzero(c->wbuf, c->wcap);  /* held a request with the token */
		bnd_free(c->wbuf);
		c->wbuf = NULL;
		c->wcap = 0;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = CS_CLOSED;
	c->req = NULL;
	c->next_idle = NULL;
	h->open--;
	h->st.closes++;
}

static void arm_tick(struct h1 *h, uint64_t now)
{
	if (!loop_timer_active(&h->tick))
		loop_timer_start(h->l, &h->tick, now + h->tick_ns, on_tick, h);
}

/* Report r as failed on the next iteration (we may be inside h1_submit). */
static void defer_fail(struct h1 *h, struct h1_req *r, enum h1_err err, uint64_t now)
{
	r->failed = (uint8_t)err;
	r->conn = NULL;
	r->next = h->deferred;
	h->deferred = r;
	r->queued = 1;
	if (!loop_timer_active(&h->later))
		loop_timer_start(h->l, &h->later, now, on_later, h);
}

static void conn_write(struct h1_conn *c, uint64_t now);
static void req_end(struct h1_conn *c, enum h1_err err, int keep, uint64_t now);

/* Start r on connection c (idle, or fresh). */
static void conn_start(struct h1_conn *c, struct h1_req *r, uint64_t now)
{
	c->req = r;
	r->conn = c;
	c->woff = 0;
	c->deadline_ns = r->deadline_ns;
	parse_init(&c->ps, &c->h->cb, r);
	if (c->st == CS_CONNECTING) {
		uint64_t cd = c->since_ns + c->h->connect_timeout_ns;
		if (cd < c->deadline_ns)
			c->deadline_ns = cd;
		return;  /* written once connected */
	}
	c->st = CS_BUSY;
	conn_write(c, now);
}

static struct h1_conn *conn_new(struct h1 *h, uint64_t now, int *err)
{
	struct h1_conn *c = NULL;
	for (uint32_t i = 0; i < h->nconns; i++)
		if (h->conns[i].st == CS_CLOSED) {
			c = &h->conns[i];
			break;
		}
	*err = 0;
	if (!c)
		return NULL;
	int rrc = resolve(h, now);
	if (rrc) {
		*err = rrc < 0;  /* 1: the lookup runs, the request waits */
		return NULL;
	}
	const struct sockaddr_storage *to = &h->addrs.a[h->addrs.cur];
	socklen_t to_len = h->addrs.len[h->addrs.cur];
	int fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = 1;
		return NULL;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	h->st.connects++;
	int rc;
	do
		rc = connect(fd, (const struct sockaddr *)to, to_len);
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno != EINPROGRESS) {
		close(fd);
		addr_failed(h);
		*err = 1;
		return NULL;
	}
	c->fd = fd;
	c->since_ns = now;
	c->watching = 0;
	h->open++;
	if (rc == 0)
		h->addrs.fails = 0;
	if (rc == 0 && !h->ctx) {
		c->st = CS_IDLE;  /* conn_start turns it busy */
		watch(c, LOOP_IN);
	} else {  /* https: the handshake starts from the loop, never in h1_submit */
		c->st = CS_CONNECTING;
		watch(c, LOOP_OUT);
	}
	if (!c->watching) {  /* the loop could not take it */
		conn_close(c);
		*err = 1;
		return NULL;
	}
	return c;
}

/* Is an idle connection still open? (EOF or bytes waiting: no) */
static int idle_alive(struct h1_conn *c)
{
	uint8_t b;
	if (c->ssl) {  /* session tickets are consumed; data or EOF: not alive */
		int again, n = SSL_read(c->ssl, &b, 1);
		if (n > 0)
			return 0;
		tls_events(c->ssl, n, &again);
		ERR_clear_error();
		return again;
	}
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Find a connection for r now, or return 0 to leave it queued. */
static int dispatch(struct h1 *h, struct h1_req *r, uint64_t now)
{
	while (h->idle) {
		struct h1_conn *c = h->idle;
		h->idle = c->next_idle;
		c->next_idle = NULL;
		if (now - c->since_ns > IDLE_CHECK_NS && !idle_alive(c)) {
			c->st = CS_BUSY;  /* not on the idle stack any more */
			conn_close(c);
			continue;
		}
		conn_start(c, r, now);
		return 1;
	}
	if (h->open < h->nconns) {
		int err;
		struct h1_conn *c = conn_new(h, now, &err);
		if (c) {
			conn_start(c, r, now);
			return 1;
		}
		if (err) {
			defer_fail(h, r, H1_E_CONNECT, now);
			return 1;
		}
	}
	return 0;
}

int h1_submit(struct h1 *h, struct h1_req *r, uint64_t now)
{
	if (!h || !r || (!r->body && r->body_len))
		return BND_E_INVAL;
	r->status = 0;
	r->sent = 0;
	r->received = 0;
	r->failed = 0;
	r->queued = 0;
	r->conn = NULL;
	r->next = NULL;
	r->deadline_ns = now + h->timeout_ns;
	/* "Content-Length: N\r\n\r\n" */
	char num[24];
	int k = 0;
	uint64_t v = r->body_len;
	do {
		num[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(r->clen, "Content-Length: ", 16);
	size_t o = 16;
	while (k)
		r->clen[o++] = num[--k];
	memcpy(r->clen + o, "\r\n\r\n", 4);
	r->clen_len = (uint8_t)(o + 4);
	arm_tick(h, now);
	if (!h->q_head && dispatch(h, r, now))
		return 0;
	r->queued = 1;
	if (h->q_tail)
		h->q_tail->next = r;
	else
		h->q_head = r;
	h->q_tail = r;
	return 0;
}

/* q_pop - take the oldest queued request (the queue is not empty). */
static struct h1_req *q_pop(struct h1 *h)
{
	struct h1_req *r = h->q_head;
	h->q_head = r->next;
	if (!h->q_head)
		h->q_tail = NULL;
	r->next = NULL;
	r->queued = 0;
	return r;
}

/* Move queued requests onto connections while there are some. */
static void drain_queue(struct h1 *h, uint64_t now)
{
	while (h->q_head) {
		struct h1_req *r = q_pop(h);
		if (now >= r->deadline_ns) {  /* its time ran out in the queue */
			defer_fail(h, r, H1_E_TIMEOUT, now);
			continue;
		}
		if (!dispatch(h, r, now)) {
			r->queued = 1;
			r->next = h->q_head;
			h->q_head = r;
			if (!h->q_tail)
				h->q_tail = r;
			return;
		}
	}
}

/*
 * req_end - the request on c ended. keep: the connection may serve another.
 * The connection is settled (idle, next request, or closed) before the
 * caller hears of it, so its callback can submit at once.
 */
static void req_end(struct h1_conn *c, enum h1_err err, int keep, uint64_t now)
{
	struct h1 *h = c->h;
	struct h1_req *r = c->req;
	c->req = NULL;
	if (r)
		r->conn = NULL;
	if (err != H1_OK || !keep) {
		conn_close(c);
	} else {
		c->st = CS_IDLE;
		c->since_ns = now;
		c->next_idle = h->idle;
		h->idle = c;
		watch(c, LOOP_IN);
	}
	drain_queue(h, now);
	if (r)
		h->cb.done(r, err, now);
}

/*
 * write_some - write what is left of c's request once. Returns 1 when it
 * all left, 0 when the socket is full (the watcher waits for it), -1 on
 * error (the connection is dead).
 */
static int write_some(struct h1_conn *c, struct h1_req *r, size_t total)
{
	struct h1 *h = c->h;
	if (c->ssl) {
		if (c->woff == 0) {  /* (again) the whole request in one buffer */
			if (total > c->wcap) {
				uint8_t *nb = bnd_realloc(c->wbuf, total);
				if (!nb)
					return -1;
				c->wbuf = nb;
				c->wcap = total;
			}
			memcpy(c->wbuf, h->head, h->head_len);
			memcpy(c->wbuf + h->head_len, r->clen, r->clen_len);
			if (r->body_len)
				memcpy(c->wbuf + h->head_len + r->clen_len, r->body, r->body_len);
		}
		while (c->woff < total) {
			size_t left = total - c->woff;
			int n = SSL_write(c->ssl, c->wbuf + c->woff, left > 1u << 30 ? 1 << 30 : (int)left);
			if (n <= 0) {
				int again;
				unsigned ev = tls_events(c->ssl, n, &again);
				ERR_clear_error();
				if (!again)
					return -1;
				watch(c, ev);  /* WANT_READ: IN retries the write (on_io) */
				return 0;
			}
			c->woff += (size_t)n;
			r->sent = c->woff;
		}
		return 1;
	}
	struct iovec iov[3] = {
		{ h->head, h->head_len },
		{ r->clen, r->clen_len },
		{ (void *)r->body, r->body_len },
	};
	size_t skip = c->woff;
	int first = 0;
	while (first < 3 && skip >= iov[first].iov_len) {
		skip -= iov[first].iov_len;
		first++;
	}
	if (first < 3) {
		iov[first].iov_base = (char *)iov[first].iov_base + skip;
		iov[first].iov_len -= skip;
		struct msghdr m = { .msg_iov = iov + first, .msg_iovlen = (size_t)(3 - first) };
		ssize_t n;
		do
			n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			watch(c, LOOP_IN | LOOP_OUT);
			return 0;
		}
		c->woff += (size_t)n;
		r->sent = c->woff;
	}
	if (c->woff < total) {
		watch(c, LOOP_IN | LOOP_OUT);
		return 0;
	}
	return 1;
}

static void conn_write(struct h1_conn *c, uint64_t now)
{
	struct h1 *h = c->h;
	struct h1_req *r = c->req;
	size_t total = h->head_len + r->clen_len + r->body_len;
	int rc = write_some(c, r, total);
	if (rc < 0) {
		if (c->woff == 0) {
			/* Nothing of it left (a connection the server had closed). We
			 * may be inside h1_submit, where no callback may run: defer. */
			c->req = NULL;
			conn_close(c);
			defer_fail(h, r, H1_E_CLOSED, now);
			return;
		}
		req_end(c, H1_E_CLOSED, 0, now);
		return;
	}
	if (rc == 0)
		return;
	h->st.requests++;
	if (!h->st.first_sent_ns)
		h->st.first_sent_ns = now;
	watch(c, LOOP_IN);
}

/*
 * read_some - read once into h->rbuf. Returns the bytes read, 0 at EOF
 * (the peer closed; a TLS close_notify), -1 when nothing is there yet (the
 * watcher waits), -2 on error.
 */
static ssize_t read_some(struct h1_conn *c)
{
	struct h1 *h = c->h;
	if (c->ssl) {
		int n = SSL_read(c->ssl, h->rbuf, (int)sizeof h->rbuf);
		if (n > 0) {
			/* A read that wanted to write is done: stop waiting for OUT
			 * unless the request itself still has bytes to go. */
			if ((c->watching & LOOP_OUT) && (!c->req || c->woff == h->head_len +
			    c->req->clen_len + c->req->body_len))
				watch(c, LOOP_IN);
			return n;
		}
		int e = SSL_get_error(c->ssl, n), again;
		unsigned ev = tls_events(c->ssl, n, &again);
		ERR_clear_error();
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (!again)
			return -2;  /* a reset, or an EOF without close_notify (truncation) */
		if (ev & LOOP_OUT)
			watch(c, ev);
		return -1;
	}
	ssize_t n;
	do
		n = recv(c->fd, h->rbuf, sizeof h->rbuf, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	return n;
}

static void conn_read(struct h1_conn *c, uint64_t now)
{
	struct h1 *h = c->h;
	for (;;) {
		ssize_t n = read_some(c);
		if (n == -1)
			return;
		if (!c->req) {  /* idle: the server closed, or talks out of turn */
			conn_close(c);
			drain_queue(h, now);
			return;
		}
		if (n < 0) {
			req_end(c, H1_E_CLOSED, 0, now);
			return;
		}
		c->req->received += (uint64_t)n;
		int extra = 0;
		int rc = parse_feed(&c->ps, h->rbuf, (size_t)n, &extra);
		if (rc > 0) {
			/* Complete. The request must have been written entirely too:
			 * an early answer (413, 400) ends the connection. */
			int keep = !extra && n > 0 && c->woff == h->head_len + c->req->clen_len +
			           c->req->body_len && http_should_keep_alive(&c->ps.p);
			if (keep && c->ssl && SSL_pending(c->ssl))
				keep = 0;  /* bytes after the answer, inside OpenSSL */
			req_end(c, H1_OK, keep, now);
			return;
		}
		if (rc < 0) {
			req_end(c, H1_E_PROTO, 0, now);
			return;
		}
		if (n == 0) {  /* EOF before the response ended */
			req_end(c, H1_E_CLOSED, 0, now);
			return;
		}
		/* Plain: a short read emptied the socket. TLS: read until OpenSSL
		 * wants more, its buffered records do not wake the watcher. */
		if (!c->ssl && (size_t)n < sizeof h->rbuf)
			return;
	}
}

/* connected - TCP (and TLS) are up: write the request, or go idle. */
static void connected(struct h1_conn *c, uint64_t now)
{
	watch(c, LOOP_IN);
	if (c->req) {
		c->st = CS_BUSY;
		conn_write(c, now);
		return;
	}
	c->st = CS_IDLE;  /* its request was cancelled meanwhile */
	c->since_ns = now;
	c->next_idle = c->h->idle;
	c->h->idle = c;
	drain_queue(c->h, now);
}

static void on_connecting(struct h1_conn *c, unsigned ev, uint64_t now)
{
	struct h1 *h = c->h;
	if (!c->ssl) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0 && !(ev & (LOOP_OUT | LOOP_ERR)))
			return;
		if (err) {
			addr_failed(h);
			req_end(c, H1_E_CONNECT, 0, now);
			return;
		}
		h->addrs.fails = 0;
		if (!h->ctx) {
			connected(c, now);
			return;
		}
		if (tls_begin(c)) {
			req_end(c, H1_E_TLS, 0, now);
			return;
		}
	}
	int rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		c->tls_up = 1;
		connected(c, now);
		return;
	}
	int again;
	unsigned want = tls_events(c->ssl, rc, &again);
	if (again) {
		watch(c, want == LOOP_IN ? LOOP_IN : LOOP_OUT);
		ERR_clear_error();
		return;
	}
	long v = SSL_get_verify_result(c->ssl);
	ERR_clear_error();
	req_end(c, v != X509_V_OK ? H1_E_TLS_VERIFY : H1_E_TLS, 0, now);
}

static void on_io(void *ud, unsigned ev, uint64_t now)
{
	struct h1_conn *c = ud;
	switch (c->st) {
	case CS_CONNECTING:
		on_connecting(c, ev, now);
		return;
	case CS_BUSY:
		if (c->req && c->woff < c->h->head_len + c->req->clen_len + c->req->body_len &&
		    ((ev & LOOP_OUT) || (c->ssl && (ev & LOOP_IN)))) {
			conn_write(c, now);
			if (c->st != CS_BUSY)
				return;
		}
		if ((ev & (LOOP_IN | LOOP_ERR)) || (c->ssl && (ev & LOOP_OUT)))
			conn_read(c, now);
		return;
	case CS_IDLE:
		if (ev & (LOOP_IN | LOOP_ERR))
			conn_read(c, now);
		return;
	case CS_CLOSED:
		return;
	}
}

static void on_later(void *ud, uint64_t now)
{
	struct h1 *h = ud;
	/* Report in submit order: the list was pushed at the front. */
	struct h1_req *rev = NULL;
	while (h->deferred) {
		struct h1_req *r = h->deferred;
		h->deferred = r->next;
		r->next = rev;
		rev = r;
	}
	while (rev) {
		struct h1_req *r = rev;
		rev = r->next;
		r->next = NULL;
		r->queued = 0;
		h->cb.done(r, (enum h1_err)r->failed, now);
	}
}

static void on_tick(void *ud, uint64_t now)
{
	struct h1 *h = ud;
	/* The queue first: a connection freed below must not take a request
	 * whose time is already up. */
	while (h->q_head && now >= h->q_head->deadline_ns)
		h->cb.done(q_pop(h), H1_E_TIMEOUT, now);
	for (uint32_t i = 0; i < h->nconns; i++) {
		struct h1_conn *c = &h->conns[i];
		if ((c->st == CS_BUSY || c->st == CS_CONNECTING) && c->req && now >= c->deadline_ns)
			req_end(c, c->st == CS_CONNECTING && c->req->sent == 0 &&
			           now < c->req->deadline_ns ? H1_E_CONNECT : H1_E_TIMEOUT, 0, now);
		else if (c->st == CS_CONNECTING && !c->req &&
		         now >= c->since_ns + h->connect_timeout_ns)
			conn_close(c);
	}
	int busy = h->q_head != NULL;
	for (uint32_t i = 0; !busy && i < h->nconns; i++)
		busy = h->conns[i].st == CS_BUSY || h->conns[i].st == CS_CONNECTING;
	if (busy)
		arm_tick(h, now);
}

void h1_cancel(struct h1 *h, struct h1_req *r)
{
	if (!h || !r)
		return;
	if (r->conn) {
		struct h1_conn *c = r->conn;
		c->req = NULL;
		r->conn = NULL;
		conn_close(c);  /* its answer may still come: never reuse it */
		return;
	}
	if (!r->queued)
		return;
	struct h1_req **lists[2] = { &h->q_head, &h->deferred };
	for (int k = 0; k < 2; k++)
		for (struct h1_req **pp = lists[k], *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				if (k == 0 && h->q_tail == r)
					h->q_tail = prev;
				r->next = NULL;
				r->queued = 0;
				return;
			}
}

void h1_stats_get(const struct h1 *h, struct h1_stats *out) { *out = h->st; }
unsigned h1_open_conns(const struct h1 *h) { return h->open; }
