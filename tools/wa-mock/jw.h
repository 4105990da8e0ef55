/*
 * jw.h - a bounded JSON text writer for wa-mock's hot path: response bodies,
 * record lines, status webhooks, stats. It writes into caller-owned memory
 * and never allocates.
 *
 * The struct is visible so callers can keep it on the stack; its fields are
 * private to jw.c. Once a write does not fit, the writer is marked
 * overflowed, stops writing, and jw_len reports 0 so a truncated document
 * can never be mistaken for a complete one.
 */
#ifndef WAMOCK_JW_H
#define WAMOCK_JW_H

#include <stddef.h>
#include <stdint.h>

struct jw {
	char *buf;       /* private */
	size_t len;      /* private */
	size_t cap;      /* private */
	int overflow;    /* private */
};

/* How jw_str escapes text. */
enum jw_mode {
	JW_UTF8,   /* UTF-8 kept as is; only '"', '\\' and controls escaped */
	JW_META,   /* like Meta's webhooks: non-ASCII as lowercase \uXXXX
	            * (surrogate pairs above U+FFFF) and '/' as "\/" */
};

/* jw_init - write into buf[0..cap). buf must outlive the writer. */
void jw_init(struct jw *w, char *buf, size_t cap);

/* jw_raw - append len bytes verbatim (already valid JSON text). */
void jw_raw(struct jw *w, const char *s, size_t len);

/* jw_lit - append a NUL-terminated literal verbatim. */
void jw_lit(struct jw *w, const char *s);

/*
 * jw_str - append a JSON string, quotes included, escaping p[0..len) as mode
 * says. Invalid UTF-8 in JW_META mode is written as \ufffd. Reads at most
 * len bytes; NUL bytes are escaped, not terminators.
 */
void jw_str(struct jw *w, const uint8_t *p, size_t len, enum jw_mode mode);

/* jw_u64 / jw_i64 / jw_f64 - append a number (jw_f64: %.6g, finite only). */
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_f64(struct jw *w, double v);

/*
 * jw_len - bytes written so far, or 0 if anything overflowed. The text is
 * also NUL-terminated when it fits with one spare byte.
 */
size_t jw_len(const struct jw *w);

/* jw_ok - 1 while nothing has overflowed. */
int jw_ok(const struct jw *w);

#endif
