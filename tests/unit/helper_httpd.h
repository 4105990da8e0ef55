/*
 * helper_httpd.h - a scripted stand-in for the Cloud API's /messages
 * endpoint for unit tests: libmicrohttpd on 127.0.0.1, port 0 (the kernel
 * picks a free one), a thread per connection so a delayed answer holds up
 * only its own connection.
 *
 * Each request is scripted by its biz_opaque_callback_data tag (or by
 * opts.default_script when the tag has none): directives separated by ';'
 *   (none)          200 + success body with a unique wamid
 *   err=CODE[:HTTP] error body with that code (HTTP status from the old
 *                   Meta table when omitted: 400, 401, 403, 404, 500, 503)
 *   status=N        status N with a non-WhatsApp text body
 *   garbage         200 with a body that is not JSON
 *   retry=SECS      add "Retry-After: SECS"
 *   retrydate=SECS  add Retry-After as an HTTP-date SECS after Date
 *   delay=MS        sleep before answering
 *   close           add "Connection: close" (the server closes after it)
 *   drop            close the connection without any answer
 *   reset           abort the connection with a TCP RST, no answer
 * Linked into every unit test program: no global state, no constructors.
 */
#ifndef HELPER_HTTPD_H
#define HELPER_HTTPD_H

#include <stddef.h>
#include <stdint.h>

struct helper_httpd;

struct helper_httpd_opts {
	const char *token;           /* expected bearer token; NULL = accept any */
	const char *default_script;  /* directives for requests without a tag */
};

/* Start on 127.0.0.1:0. Returns 0 or -1. */
int helper_httpd_start(struct helper_httpd **out, const struct helper_httpd_opts *opts);

/* Stop (joins every connection thread) and free. Accepts NULL. */
void helper_httpd_stop(struct helper_httpd **p);

/* "http://127.0.0.1:PORT" into buf. */
void helper_httpd_url(const struct helper_httpd *h, char *buf, size_t cap);
uint16_t helper_httpd_port(const struct helper_httpd *h);

uint64_t helper_httpd_connections(const struct helper_httpd *h);  /* accepted */
uint64_t helper_httpd_requests(const struct helper_httpd *h);     /* complete requests */
uint64_t helper_httpd_bad_auth(const struct helper_httpd *h);     /* wrong/missing token */

/* Copy of the last request's body and path (NUL-terminated, truncated). */
size_t helper_httpd_last_body(struct helper_httpd *h, char *buf, size_t cap);
size_t helper_httpd_last_path(struct helper_httpd *h, char *buf, size_t cap);

#endif
