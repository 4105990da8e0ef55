/*
 * jtok.h - a strict, bounded, allocation-free JSON parser for wa-mock's
 * request bodies. It validates a whole document (RFC 8259: grammar, string
 * escapes, UTF-8, numbers) and leaves a flat array of tokens in document
 * order that the caller queries by member name. Strings are not copied:
 * a token points into the caller's bytes and is decoded on demand.
 *
 * Why not jansson: profiling wa-mock under wrk showed jansson's parse and
 * its allocations at about a third of the process's user-space time (see
 * docs/WA-MOCK.md). Requests are small and their shape is fixed, so a
 * token array on the stack does the same job without a malloc.
 *
 * Limits: JTOK_MAX tokens, JTOK_DEPTH nesting, documents up to 4 GiB.
 * Differences from jansson's defaults, on purpose: none that accept more;
 * strings with \u0000 are refused like jansson refuses them; a duplicate
 * member is legal and jtok_member returns the first.
 */
#ifndef WAMOCK_JTOK_H
#define WAMOCK_JTOK_H

#include <stddef.h>
#include <stdint.h>

#define JTOK_MAX 512
#define JTOK_DEPTH 32

enum jtok_type { JTOK_OBJECT, JTOK_ARRAY, JTOK_STRING, JTOK_NUMBER, JTOK_TRUE,
                 JTOK_FALSE, JTOK_NULL };

/* One value (or member name). Fields are read through the functions below. */
struct jtok {
	uint8_t type;       /* enum jtok_type */
	uint8_t escaped;    /* string: contains a backslash escape */
	uint32_t start;     /* string: first byte after the quote; else first byte */
	uint32_t len;       /* string: raw bytes between the quotes; else bytes */
	uint32_t next;      /* index of the first token after this subtree */
	uint32_t count;     /* object: members; array: elements */
};

/* A parsed document. Large (JTOK_MAX tokens): keep one per request, on the
 * stack or in the request's context. Fields private except through the
 * functions; `err_at` is the byte offset of the first error. */
struct jdoc {
	const uint8_t *p;
	size_t len;
	uint32_t n;
	size_t err_at;
	struct jtok t[JTOK_MAX];
};

/*
 * jtok_parse - parse p[0..len) into d (the root is token 0). p must outlive
 * d's use. Returns 0, BND_E_WAMOCK_JSON (malformed: d->err_at says where)
 * or BND_E_RANGE (more than JTOK_MAX tokens or JTOK_DEPTH levels).
 * Reads at most len bytes.
 */
int jtok_parse(struct jdoc *d, const uint8_t *p, size_t len);

/* jtok_type_of - the type of token i (i < d->n). */
enum jtok_type jtok_type_of(const struct jdoc *d, uint32_t i);

/*
 * jtok_member - index of the value of member key (NUL-terminated, compared
 * after decoding escapes) in object token obj, or -1 if obj is not an
 * object or has no such member.
 */
int32_t jtok_member(const struct jdoc *d, uint32_t obj, const char *key);

/*
 * jtok_elem - index of element k of array token arr, or -1 (not an array,
 * or k out of range). Walks the array: O(k).
 */
int32_t jtok_elem(const struct jdoc *d, uint32_t arr, uint32_t k);

/* jtok_count - members of an object or elements of an array; else 0. */
uint32_t jtok_count(const struct jdoc *d, uint32_t i);

/*
 * jtok_string - decode string token i (escapes resolved, UTF-8) into
 * buf[0..cap), NUL-terminated. Returns the decoded length, or -1 when i is
 * not a string or the decoded string plus its NUL does not fit.
 */
long jtok_string(const struct jdoc *d, uint32_t i, char *buf, size_t cap);

/* jtok_chars - code points in string token i after decoding; -1 if not a string. */
long jtok_chars(const struct jdoc *d, uint32_t i);

/* jtok_str_eq - 1 when string token i decodes to exactly s (NUL-terminated),
 * ignoring ASCII case when nocase is set; 0 otherwise (also for non-strings). */
int jtok_str_eq(const struct jdoc *d, uint32_t i, const char *s, int nocase);

#endif
