/* test_h1.c - the native HTTP/1.1 client (engine/h1.c) on the loop, both
 * backends, against a raw scripted TCP server on 127.0.0.1: answers cut
 * into single bytes, chunked bodies, 100 Continue, bodies ended by EOF,
 * closes before, during and after an answer, an idle close by the server,
 * garbage, time-outs, a refused connect, a request too big for the socket
 * buffer (partial writes), queueing beyond the connections, cancel; and the
 * same server over TLS (a certificate made here): keep-alive across TLS 1.3
 * session tickets on an idle connection, a refused chain, a wrong name,
 * session resumption. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bnd.h"
#include "h1.h"
#include "loop.h"

/* ------------------------------------------------------- scripted server */

enum act_kind {
	ACT_SEND,         /* send text (in pieces of `piece` bytes, 1 ms apart) */
	ACT_SEND_CLOSE,   /* send text, then close the connection */
	ACT_CLOSE,        /* close without an answer */
	ACT_SILENT,       /* read the request, never answer (until the test ends) */
	ACT_IDLE_CLOSE,   /* send text, then close the connection after 50 ms idle */
};

struct act {
	enum act_kind kind;
	const char *text;
	size_t piece;     /* 0: all at once */
	int slow_read;    /* read the request slowly (1 ms per 64 KiB) */
};

struct srv {
	int lfd;
	uint16_t port;
	pthread_t th;
	const struct act *acts;
	size_t nacts;
	volatile int stop;
	unsigned accepts;
	unsigned requests;
	size_t last_body_len;
	char last_head[1024];
	SSL_CTX *tls;     /* NULL: plain TCP */
	SSL *ssl;         /* the connection being served */
	unsigned resumed; /* TLS connections that resumed a session */
	unsigned tls_failed;
};

static ssize_t s_recv(struct srv *s, int fd, void *p, size_t n)
{
	if (!s->ssl)
		return recv(fd, p, n, 0);
	int k = SSL_read(s->ssl, p, (int)n);
	if (k > 0)
		return k;
	int e = SSL_get_error(s->ssl, k);
	if (e == SSL_ERROR_WANT_READ) {
		errno = EAGAIN;
		return -1;
	}
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static ssize_t s_send(struct srv *s, int fd, const void *p, size_t n)
{
	if (!s->ssl)
		return send(fd, p, n, MSG_NOSIGNAL);
	int k = SSL_write(s->ssl, p, (int)n);
	return k > 0 ? k : -1;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Read one request (head + Content-Length body). Returns 0, -2 when nothing
 * came within the receive time-out (call again), -1 at EOF or error. */
static int read_request(struct srv *s, int fd, int slow)
{
	static char buf[1 << 16];
	size_t have = 0;
	char *end = NULL;
	while (!end) {
		ssize_t n = s_recv(s, fd, buf + have, sizeof buf - 1 - have);
		if (n < 0 && have == 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -2;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	size_t head = (size_t)(end + 4 - buf);
	snprintf(s->last_head, sizeof s->last_head, "%.*s", (int)head, buf);
	const char *cl = strcasestr(buf, "content-length:");
	size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
	size_t got = have - head;
	while (got < want) {
		if (slow)
			msleep(1);
		ssize_t n = s_recv(s, fd, buf, sizeof buf);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	s->last_body_len = want;
	return 0;
}

static void send_text(struct srv *s, int fd, const char *t, size_t piece)
{
	size_t n = strlen(t);
	if (!piece)
		piece = n;
	for (size_t o = 0; o < n; o += piece) {
		size_t k = n - o < piece ? n - o : piece;
		if (s_send(s, fd, t + o, k) < 0)
			return;
		if (piece < n)
			msleep(1);
	}
}

static void *srv_main(void *ud)
{
	struct srv *s = ud;
	size_t next = 0;
	while (!s->stop) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		s->accepts++;
		struct timeval tv = { 0, 100000 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (s->tls) {
			s->ssl = SSL_new(s->tls);
			SSL_set_fd(s->ssl, fd);
			int rc;
			do
				rc = SSL_accept(s->ssl);
			while (rc <= 0 && SSL_get_error(s->ssl, rc) == SSL_ERROR_WANT_READ && !s->stop);
			if (rc <= 0) {
				s->tls_failed++;
				SSL_free(s->ssl);
				s->ssl = NULL;
				close(fd);
				continue;
			}
			s->resumed += SSL_session_reused(s->ssl) != 0;
		}
		for (;;) {
			const struct act *a = next < s->nacts ? &s->acts[next] : NULL;
			int rc;
			do
				rc = read_request(s, fd, a && a->slow_read);
			while (rc == -2 && !s->stop);
			if (rc < 0 || !a)
				break;
			next++;
			s->requests++;
			if (a->kind == ACT_SILENT) {
				while (!s->stop)
					msleep(5);
				break;
			}
			if (a->kind != ACT_CLOSE)
				send_text(s, fd, a->text, a->piece);
			if (a->kind == ACT_IDLE_CLOSE)
				msleep(50);
			if (a->kind != ACT_SEND)
				break;
		}
		if (s->ssl) {
			SSL_shutdown(s->ssl);
			SSL_free(s->ssl);
			s->ssl = NULL;
		}
		close(fd);
	}
	return NULL;
}

static void srv_start_tls(struct srv *s, const struct act *acts, size_t n, SSL_CTX *tls)
{
	memset(s, 0, sizeof *s);
	s->acts = acts;
	s->nacts = n;
	s->tls = tls;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(s->lfd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(s->lfd, 16), 0);
	socklen_t al = sizeof a;
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	struct timeval tv = { 0, 50000 };
	setsockopt(s->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);  /* accept wakes to see stop */
	cr_assert_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_start(struct srv *s, const struct act *acts, size_t n)
{
	srv_start_tls(s, acts, n, NULL);
}

static void srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->tls);
}

/* A self-signed certificate (its own CA) for the names in san, e.g.
 * "IP:127.0.0.1"; the PEM goes to pem_path for the client to trust. */
static SSL_CTX *tls_server(const char *san, const char *pem_path)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	cr_assert_not_null(pk);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid());
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"h1 test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	const char *ext[][2] = { { "subjectAltName", san }, { "basicConstraints", "critical,CA:TRUE" } };
	for (int i = 0; i < 2; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, ext[i][0], ext[i][1]);
		cr_assert_not_null(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	cr_assert(X509_sign(x, pk, EVP_sha256()) > 0);
	FILE *f = fopen(pem_path, "w");
	cr_assert_not_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	cr_assert_eq(SSL_CTX_use_certificate(ctx, x), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, pk), 1);
	X509_free(x);
	EVP_PKEY_free(pk);
	return ctx;
}

/* ------------------------------------------------------------ the client */

#define MAXR 16

struct cli {
	struct loop *l;
	struct h1 *h;
	struct h1_req r[MAXR];
	int ended[MAXR];
	enum h1_err err[MAXR];
	char body[MAXR][256];
	size_t body_len[MAXR];
	char retry_after[MAXR][64];
	int pending;
};

static void c_header(struct h1_req *r, const char *n, size_t nl, const char *v, size_t vl)
{
	struct cli *c = *(struct cli **)r->ud;
	int i = (int)(r - c->r);
	if (nl == 11 && strncasecmp(n, "retry-after", 11) == 0)
		snprintf(c->retry_after[i], sizeof c->retry_after[i], "%.*s", (int)vl, v);
}

static void c_body(struct h1_req *r, const uint8_t *p, size_t n)
{
	struct cli *c = *(struct cli **)r->ud;
	int i = (int)(r - c->r);
	size_t room = sizeof c->body[i] - 1 - c->body_len[i];
	size_t k = n < room ? n : room;
	memcpy(c->body[i] + c->body_len[i], p, k);
	c->body_len[i] += k;
	c->body[i][c->body_len[i]] = 0;
}

static void c_done(struct h1_req *r, enum h1_err e, uint64_t now)
{
	(void)now;
	struct cli *c = *(struct cli **)r->ud;
	int i = (int)(r - c->r);
	cr_assert_eq(c->ended[i], 0, "request %d ended twice", i);
	c->ended[i] = 1;
	c->err[i] = e;
	c->pending--;
}

static struct cli *g_self;  /* every request's ud points here */

static void cli_open_url(struct cli *c, enum loop_backend be, const char *url, uint32_t conns,
                         uint32_t timeout_ms, const char *ca_file)
{
	memset(c, 0, sizeof *c);
	g_self = c;
	cr_assert_eq(loop_open(&c->l, be), 0);
	struct h1_config cfg = {
		.url = url,
		.ca_file = ca_file,
		.headers = "Authorization: Bearer t\r\nContent-Type: application/json\r\n",
		.connections = conns,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = 1000,
		.cb = { c_header, c_body, c_done },
	};
	cr_assert_eq(h1_open(&c->h, c->l, &cfg), 0);
}

static void cli_open(struct cli *c, enum loop_backend be, uint16_t port, uint32_t conns,
                     uint32_t timeout_ms)
{
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v25.0/1/messages", port);
	cli_open_url(c, be, url, conns, timeout_ms, NULL);
}

static void cli_submit(struct cli *c, int i, const void *body, size_t len)
{
	c->r[i].body = body;
	c->r[i].body_len = len;
	c->r[i].ud = &g_self;
	c->ended[i] = 0;
	c->body_len[i] = 0;
	c->body[i][0] = 0;
	c->retry_after[i][0] = 0;
	c->pending++;
	cr_assert_eq(h1_submit(c->h, &c->r[i], loop_now(c->l)), 0);
	cr_assert_eq(c->ended[i], 0, "never called back from inside submit");
}

/* Run the loop until nothing is pending (at most 10 s). */
static void cli_wait(struct cli *c)
{
	for (int k = 0; k < 10000 && c->pending > 0; k++)
		cr_assert_eq(loop_run_once(c->l, 1000000), 0);
	cr_assert_eq(c->pending, 0, "requests left unanswered");
}

static void cli_close(struct cli *c)
{
	h1_close(&c->h);
	loop_close(&c->l);
}

static const char body[] = "{\"to\":\"+39\"}";
#define OK_LEN "HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"messages\":[{\"id\":\"w.1\"}]}"

/* ----------------------------------------------------------------- cases */

static void pieces_chunked_and_reuse(enum loop_backend be)
{
	static const struct act acts[] = {
		{ ACT_SEND, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
		            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1, 0 },
		{ ACT_SEND, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nContent-Length: 2\r\n"
		            "\r\n{}", 3, 0 },
		{ ACT_SEND, OK_LEN, 0, 0 },
	};
	struct srv s;
	srv_start(&s, acts, 3);
	struct cli c;
	cli_open(&c, be, s.port, 1, 5000);
	for (int i = 0; i < 3; i++) {
		cli_submit(&c, i, body, sizeof body - 1);
		cli_wait(&c);
		cr_assert_eq(c.err[i], H1_OK, "request %d", i);
	}
	cr_assert_eq(c.r[0].status, 200);
	cr_assert_str_eq(c.body[0], "hello world", "chunks joined across one-byte reads");
	cr_assert_str_eq(c.retry_after[0], "7");
	cr_assert_eq(c.r[1].status, 429, "the final answer after 100 Continue");
	cr_assert_str_eq(c.body[1], "{}");
	cr_assert_str_eq(c.body[2], "{\"messages\":[{\"id\":\"w.1\"}]}");
	cr_assert_eq(s.accepts, 1, "one keep-alive connection for all three");
	cr_assert(strstr(s.last_head, "POST /v25.0/1/messages HTTP/1.1\r\n") == s.last_head);
	cr_assert_not_null(strstr(s.last_head, "Host: 127.0.0.1:"));
	cr_assert_not_null(strstr(s.last_head, "Authorization: Bearer t\r\n"));
	cr_assert_not_null(strstr(s.last_head, "Content-Length: 12\r\n\r\n"));
	cr_assert_eq(s.last_body_len, sizeof body - 1);
	struct h1_stats st;
	h1_stats_get(c.h, &st);
	cr_assert_eq(st.connects, 1);
	cr_assert_eq(st.requests, 3);
	cr_assert_neq(st.first_sent_ns, 0);
	cli_close(&c);
	srv_stop(&s);
}

Test(h1, answers_in_pieces_chunked_and_100_continue_on_one_connection_uring)
{
	pieces_chunked_and_reuse(LOOP_BACKEND_URING);
}

Test(h1, answers_in_pieces_chunked_and_100_continue_on_one_connection_epoll)
{
	pieces_chunked_and_reuse(LOOP_BACKEND_EPOLL);
}

static void closes(enum loop_backend be)
{
	static const struct act acts[] = {
		{ ACT_SEND_CLOSE, "HTTP/1.0 200 OK\r\n\r\nuntil eof", 4, 0 },        /* body to EOF */
		{ ACT_SEND_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", 0, 0 },
		{ ACT_CLOSE, NULL, 0, 0 },                                           /* no answer */
		{ ACT_SEND_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage", 0, 0 },
		{ ACT_SEND_CLOSE, "SMTP ready\r\n\r\n", 0, 0 },
		{ ACT_IDLE_CLOSE, OK_LEN, 0, 0 },                                    /* then idle close */
		{ ACT_SEND, OK_LEN, 0, 0 },
	};
	struct srv s;
	srv_start(&s, acts, 7);
	struct cli c;
	cli_open(&c, be, s.port, 1, 5000);
	for (int i = 0; i < 6; i++) {
		cli_submit(&c, i, body, sizeof body - 1);
		cli_wait(&c);
	}
	cr_assert_eq(c.err[0], H1_OK);
	cr_assert_str_eq(c.body[0], "until eof");
	cr_assert_eq(c.err[1], H1_E_CLOSED, "closed in the middle of the body");
	cr_assert_gt(c.r[1].received, 0);
	cr_assert_eq(c.err[2], H1_E_CLOSED, "closed without an answer");
	cr_assert_eq(c.r[2].received, 0);
	cr_assert_eq(c.r[2].sent, c.r[1].sent, "the request had left: uncertain, not retryable");
	cr_assert_gt(c.r[2].sent, sizeof body - 1);
	cr_assert_eq(c.err[3], H1_OK, "bytes after the answer: the answer stands");
	cr_assert_str_eq(c.body[3], "{}");
	cr_assert_eq(c.err[4], H1_E_PROTO);
	cr_assert_eq(c.err[5], H1_OK);
	/* The server closes the kept-alive connection 50 ms later: the client
	 * notices it while idle, and the next request opens a new one. */
	for (int k = 0; k < 300 && h1_open_conns(c.h) > 0; k++)
		loop_run_once(c.l, 1000000);
	cr_assert_eq(h1_open_conns(c.h), 0, "an idle connection the server closed is closed");
	cli_submit(&c, 6, body, sizeof body - 1);
	cli_wait(&c);
	cr_assert_eq(c.err[6], H1_OK);
	cr_assert_eq(s.accepts, 7, "every close above cost a new connection, no more");
	cli_close(&c);
	srv_stop(&s);
}

Test(h1, eof_bodies_early_closes_extra_bytes_garbage_and_idle_close_uring)
{
	closes(LOOP_BACKEND_URING);
}

Test(h1, eof_bodies_early_closes_extra_bytes_garbage_and_idle_close_epoll)
{
	closes(LOOP_BACKEND_EPOLL);
}

static void timeouts_and_refused(enum loop_backend be)
{
	static const struct act acts[] = { { ACT_SILENT, NULL, 0, 0 } };
	struct srv s;
	srv_start(&s, acts, 1);
	struct cli c;
	cli_open(&c, be, s.port, 1, 200);
	cli_submit(&c, 0, body, sizeof body - 1);
	cli_submit(&c, 1, body, sizeof body - 1);  /* queued behind it: never sent */
	cli_wait(&c);
	cr_assert_eq(c.err[0], H1_E_TIMEOUT);
	cr_assert_gt(c.r[0].sent, 0);
	cr_assert_eq(c.err[1], H1_E_TIMEOUT);
	cr_assert_eq(c.r[1].sent, 0, "timed out in the queue: nothing left");
	cli_close(&c);
	srv_stop(&s);

	/* Nothing listens on the port any more. */
	cli_open(&c, be, s.port, 2, 2000);
	cli_submit(&c, 0, body, sizeof body - 1);
	cli_wait(&c);
	cr_assert_eq(c.err[0], H1_E_CONNECT);
	cr_assert_eq(c.r[0].sent, 0);
	cli_close(&c);
}

Test(h1, a_silent_server_times_out_and_a_closed_port_is_a_connect_error_uring)
{
	timeouts_and_refused(LOOP_BACKEND_URING);
}

Test(h1, a_silent_server_times_out_and_a_closed_port_is_a_connect_error_epoll)
{
	timeouts_and_refused(LOOP_BACKEND_EPOLL);
}

static void big_and_queued(enum loop_backend be)
{
	struct act acts[12];
	for (int i = 0; i < 12; i++)
		acts[i] = (struct act){ ACT_SEND, OK_LEN, 0, i == 0 };
	struct srv s;
	srv_start(&s, acts, 12);
	struct cli c;
	cli_open(&c, be, s.port, 1, 10000);
	/* 8 MiB: more than the socket buffers take at once, read slowly. */
	size_t big = 8u << 20;
	char *p = malloc(big);
	memset(p, 'x', big);
	cli_submit(&c, 0, p, big);
	for (int i = 1; i < 12; i++)
		cli_submit(&c, i, body, sizeof body - 1);  /* queued: one connection */
	cli_wait(&c);
	for (int i = 0; i < 12; i++)
		cr_assert_eq(c.err[i], H1_OK, "request %d", i);
	/* "Content-Length: 8388608" is 5 bytes longer than "...: 12" */
	cr_assert_eq(c.r[0].sent, c.r[1].sent - (sizeof body - 1) + big + 5, "all of it left");
	cr_assert_eq(s.requests, 12);
	cr_assert_eq(s.accepts, 1);
	free(p);
	cli_close(&c);
	srv_stop(&s);
}

Test(h1, a_request_bigger_than_the_socket_buffer_and_a_queue_uring)
{
	big_and_queued(LOOP_BACKEND_URING);
}

Test(h1, a_request_bigger_than_the_socket_buffer_and_a_queue_epoll)
{
	big_and_queued(LOOP_BACKEND_EPOLL);
}

Test(h1, cancel_drops_a_request_without_its_callback)
{
	static const struct act acts[] = { { ACT_SILENT, NULL, 0, 0 } };
	struct srv s;
	srv_start(&s, acts, 1);
	struct cli c;
	cli_open(&c, LOOP_BACKEND_AUTO, s.port, 1, 5000);
	cli_submit(&c, 0, body, sizeof body - 1);
	cli_submit(&c, 1, body, sizeof body - 1);
	for (int k = 0; k < 50; k++)
		loop_run_once(c.l, 1000000);
	cr_assert_gt(c.r[0].sent, 0);
	h1_cancel(c.h, &c.r[1]);  /* queued */
	h1_cancel(c.h, &c.r[0]);  /* on the wire: its connection is closed */
	cr_assert_eq(h1_open_conns(c.h), 0);
	for (int k = 0; k < 50; k++)
		loop_run_once(c.l, 1000000);
	cr_assert_eq(c.ended[0] + c.ended[1], 0, "no callback after cancel");
	cli_close(&c);
	srv_stop(&s);
}

Test(h1, bad_urls_and_headers_are_refused)
{
	struct loop *l;
	cr_assert_eq(loop_open(&l, LOOP_BACKEND_AUTO), 0);
	struct h1 *h = (struct h1 *)1;
	struct h1_config cfg = { .cb = { c_header, c_body, c_done } };
	const char *bad[] = { "http://", "https://", "ftp://x/", "http://:80/", "http://x:0/", "http://x:65536/",
	                      "http://x:8a/", "http://u@x/", "http://[::1/", "http://x?q",
	                      "http://x/\r\nX: y" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cfg.url = bad[i];
		cr_assert_eq(h1_open(&h, l, &cfg), BND_E_WA_CONFIG, "%s", bad[i]);
		cr_assert_null(h);
	}
	cfg.url = "http://[::1]:8080/v1";
	cr_assert_eq(h1_open(&h, l, &cfg), 0);
	h1_close(&h);
	cfg.headers = "X: y";  /* no CRLF */
	cr_assert_eq(h1_open(&h, l, &cfg), BND_E_WA_CONFIG);
	cfg.headers = "X: y\r\n\r\nPOST /smuggled HTTP/1.1\r\n";
	cr_assert_eq(h1_open(&h, l, &cfg), BND_E_WA_CONFIG, "an empty line would end the head");
	cfg.headers = "X: y\r\n";
	cfg.cb.done = NULL;
	cr_assert_eq(h1_open(&h, l, &cfg), BND_E_INVAL);
	loop_close(&l);
}

Test(h1, a_host_name_is_looked_up_off_the_loop_and_again_once_every_address_failed)
{
	static const struct act acts[] = { { ACT_SEND, OK_LEN, 0, 0 }, { ACT_SEND, OK_LEN, 0, 0 } };
	struct srv s;
	srv_start(&s, acts, 2);
	char url[160];
	snprintf(url, sizeof url, "http://localhost:%u/v25.0/1/messages", s.port);
	struct cli c;
	cli_open_url(&c, LOOP_BACKEND_AUTO, url, 1, 5000, NULL);
	struct h1_stats st;
	for (int i = 0; i < 2; i++) {
		cli_submit(&c, i, body, sizeof body - 1);
		cli_wait(&c);
		cr_assert_eq(c.err[i], H1_OK, "request %d", i);
	}
	h1_stats_get(c.h, &st);
	cr_assert_eq(st.lookups, 1, "looked up once, kept");
	cr_assert_eq(s.accepts, 1);
	cli_close(&c);
	srv_stop(&s);

	/* Nothing listens any more: each connect is refused, and with every
	 * address of the name failed, the next connection looks it up again. */
	cli_open_url(&c, LOOP_BACKEND_AUTO, url, 1, 5000, NULL);
	for (int i = 0; i < 2; i++) {
		cli_submit(&c, i, body, sizeof body - 1);
		cli_wait(&c);
		cr_assert_eq(c.err[i], H1_E_CONNECT, "request %d", i);
		cr_assert_eq(c.r[i].sent, 0);
	}
	h1_stats_get(c.h, &st);
	cr_assert_eq(st.lookups, 2);
	cli_close(&c);

	/* A name no resolver can answer (a 70-byte label is refused by the
	 * stub resolver itself, without any network traffic). */
	char label[71];
	memset(label, 'a', 70);
	label[70] = 0;
	snprintf(url, sizeof url, "http://%s.test:8080/v25.0/1/messages", label);
	cli_open_url(&c, LOOP_BACKEND_AUTO, url, 2, 5000, NULL);
	cli_submit(&c, 0, body, sizeof body - 1);
	cli_submit(&c, 1, body, sizeof body - 1);  /* waits for the same lookup */
	cli_wait(&c);
	cr_assert_eq(c.err[0], H1_E_CONNECT);
	cr_assert_eq(c.err[1], H1_E_CONNECT);
	h1_stats_get(c.h, &st);
	cr_assert_eq(st.lookups, 1, "one lookup for both");
	cli_close(&c);
}

/* ------------------------------------------------------------------ TLS */

static void tls_cases(enum loop_backend be)
{
	static const struct act acts[] = {
		{ ACT_SEND, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 2, 0 },
		{ ACT_SEND, OK_LEN, 0, 0 },
		{ ACT_SEND_CLOSE, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
		  0, 0 },
		{ ACT_SEND, OK_LEN, 0, 0 },
	};
	char pem[] = "/tmp/h1-ca-XXXXXX", other[] = "/tmp/h1-other-XXXXXX";
	close(mkstemp(pem));
	close(mkstemp(other));
	struct srv s;
	srv_start_tls(&s, acts, 4, tls_server("IP:127.0.0.1", pem));
	char url[96];
	snprintf(url, sizeof url, "https://127.0.0.1:%u/v25.0/1/messages", s.port);
	struct cli c;
	cli_open_url(&c, be, url, 1, 5000, pem);
	cli_submit(&c, 0, body, sizeof body - 1);
	cli_wait(&c);
	cr_assert_eq(c.err[0], H1_OK);
	cr_assert_str_eq(c.body[0], "hello world", "chunks cut in 2-byte TLS records");
	/* Idle past the liveness check: the TLS 1.3 session tickets that came
	 * after the handshake must not make the connection look dead. */
	for (int k = 0; k < 1200; k++)
		loop_run_once(c.l, 1000000);
	cr_assert_eq(h1_open_conns(c.h), 1, "the idle TLS connection is kept");
	cli_submit(&c, 1, body, sizeof body - 1);
	cli_wait(&c);
	cr_assert_eq(c.err[1], H1_OK);
	cr_assert_eq(s.accepts, 1, "one connection for both");
	cr_assert_not_null(strstr(s.last_head, "POST /v25.0/1/messages HTTP/1.1\r\n"));
	/* The third answer says Connection: close; the fourth request opens a
	 * new connection, which resumes the session. */
	cli_submit(&c, 2, body, sizeof body - 1);
	cli_wait(&c);
	cli_submit(&c, 3, body, sizeof body - 1);
	cli_wait(&c);
	cr_assert_eq(c.err[2], H1_OK);
	cr_assert_eq(c.err[3], H1_OK);
	cr_assert_eq(s.accepts, 2);
	cr_assert_eq(s.resumed, 1, "the second connection resumed the first's session");
	cli_close(&c);
	srv_stop(&s);

	/* A chain we do not trust, and a certificate for another address. */
	static const struct act none[] = { { ACT_SEND, OK_LEN, 0, 0 } };
	const char *sans[2] = { "IP:127.0.0.1", "IP:127.0.0.2, DNS:localhost" };
	for (int k = 0; k < 2; k++) {
		SSL_CTX *dummy = tls_server("IP:127.0.0.1", other);  /* another CA */
		SSL_CTX_free(dummy);
		srv_start_tls(&s, none, 1, tls_server(sans[k], pem));
		snprintf(url, sizeof url, "https://127.0.0.1:%u/v25.0/1/messages", s.port);
		cli_open_url(&c, be, url, 1, 5000, k == 0 ? other : pem);
		cli_submit(&c, 0, body, sizeof body - 1);
		cli_wait(&c);
		cr_assert_eq(c.err[0], H1_E_TLS_VERIFY, "case %d: %d", k, c.err[0]);
		cr_assert_eq(c.r[0].sent, 0, "nothing of the request left");
		cli_close(&c);
		srv_stop(&s);
		cr_assert_eq(s.requests, 0);
	}
	unlink(pem);
	unlink(other);
}

Test(h1, tls_keep_alive_tickets_resumption_and_refused_certificates_uring)
{
	tls_cases(LOOP_BACKEND_URING);
}

Test(h1, tls_keep_alive_tickets_resumption_and_refused_certificates_epoll)
{
	tls_cases(LOOP_BACKEND_EPOLL);
}
