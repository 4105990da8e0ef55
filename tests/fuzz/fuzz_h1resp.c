/*
 * fuzz_h1resp.c - the native HTTP/1.1 client's response path (h1.c: the
 * http_parser callbacks, header accumulation across reads, 1xx handling,
 * the end-of-response pause, EOF). Input: one byte choosing where the bytes
 * are cut in two reads, then the bytes the server sent.
 *
 * Properties: never crashes; the outcome, and unless it is a framing
 * error the status, reported headers and body, are the same whether the
 * bytes arrive whole or cut anywhere (a
 * header or a chunk split across two recv calls must not change what the
 * client reads); the body is never longer than the input.
 */
#include <stdlib.h>
#include <string.h>

#include "h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint8_t hdr[8192];
	size_t hdr_len;
	uint8_t body[65536];
	size_t body_len;
	size_t body_total;
};

static void put(uint8_t *dst, size_t cap, size_t *len, const void *p, size_t n)
{
	if (*len + n > cap)
		n = cap - *len;
	memcpy(dst + *len, p, n);
	*len += n;
}

static void on_header(struct h1_req *r, const char *name, size_t nlen, const char *value,
                      size_t vlen)
{
	struct seen *s = r->ud;
	if (vlen > H1_VALUE_MAX)
		abort();
	put(s->hdr, sizeof s->hdr, &s->hdr_len, name, nlen);
	put(s->hdr, sizeof s->hdr, &s->hdr_len, "\0", 1);
	put(s->hdr, sizeof s->hdr, &s->hdr_len, value, vlen);
	put(s->hdr, sizeof s->hdr, &s->hdr_len, "\n", 1);
}

static void on_body(struct h1_req *r, const uint8_t *p, size_t n)
{
	struct seen *s = r->ud;
	s->body_total += n;
	put(s->body, sizeof s->body, &s->body_len, p, n);
}

static void on_done(struct h1_req *r, enum h1_err err, uint64_t now)
{
	(void)r;
	(void)err;
	(void)now;
	abort();  /* the parse-only path never completes a request */
}

static const struct h1_callbacks cb = { on_header, on_body, on_done };

static enum h1_err run(const uint8_t *p, size_t n, size_t split, int eof, struct seen *s,
                       int *status)
{
	struct h1_req r = { .ud = s };
	s->hdr_len = s->body_len = s->body_total = 0;
	enum h1_err e = h1_parse_response(p, n, split, &cb, &r, eof);
	*status = r.status;
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen a, b;
	if (size < 1)
		return 0;
	int eof = data[0] & 1;
	size_t n = size - 1;
	size_t split = n ? (size_t)(data[0] >> 1) * n / 127 : 0;
	const uint8_t *p = data + 1;
	int sa, sb;
	enum h1_err ea = run(p, n, 0, eof, &a, &sa);
	enum h1_err eb = run(p, n, split, eof, &b, &sb);
	if (ea > H1_E_PROTO || eb > H1_E_PROTO)
		abort();
	if (a.body_total > n)
		abort();
	/* The verdict always agrees. After a framing error what was reported
	 * may differ (a header is reported when the next one starts, which a
	 * cut can bring forward); the client drops it all then. */
	if (ea != eb)
		abort();
	if (ea == H1_E_PROTO)
		return 0;
	if (sa != sb || a.hdr_len != b.hdr_len ||
	    memcmp(a.hdr, b.hdr, a.hdr_len) || a.body_total != b.body_total ||
	    memcmp(a.body, b.body, a.body_len))
		abort();
	if (ea == H1_OK && (sa < 0 || sa > 999))  /* http_parser takes "1" too */
		abort();
	return 0;
}
