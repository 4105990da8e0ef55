/*
 * log.c - log lines of the `banditore` binary (contract in log.h).
 *
 * Why here and not in engine/: library code never prints; it calls
 * bnd_log, and the binary decides what a line looks like. This file is
 * that decision: one line per event, a timestamp, a level, the module,
 * the message, in logfmt (easy to grep, what journald shows) or JSON (for
 * a log shipper).
 *
 * The number filter is deliberately simple and errs towards masking:
 *   1. a maximal run of >= LOG_MASK_MIN_DIGITS ASCII digits with no letter
 *      or '_' right before or after it;
 *   2. an international form: '+' or "00" (not glued to a letter or digit
 *      before it) then digit groups separated by single ' ', '-', '.', or
 *      '('/')' characters, holding >= LOG_MASK_MIN_DIGITS digits in all.
 * A number written with spaces and no international prefix
 * ("335 123 4567") is not recognised: it is indistinguishable from a list
 * of counts, and no code of the project writes numbers that way.
 * The masked digits follow phone_mask: keep the first 5 and last 3, but
 * hide at least 4. Letters glued to a run exempt it because the project's
 * own identifiers carry long digit runs that way (notice ids
 * "n-20251012T101500-a3f9", wamids in base64); a phone number written by a
 * person or by our code is never glued to a letter.
 *
 * Secrets are matched byte for byte (memmem) before the number filter, so
 * a token made of digits is redacted whole rather than half-masked.
 */
#define _GNU_SOURCE   /* memmem */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = BND_LOG_INFO;
static _Atomic int fmt = LOG_FORMAT_LOGFMT;
static _Atomic int out_fd = 2;
static char *secrets[LOG_SECRETS_MAX];
static size_t secret_len[LOG_SECRETS_MAX];
static size_t nsecrets;

#define REDACTED "[redacted]"

void log_configure(enum bnd_log_level min, enum log_format format, int fd)
{
	atomic_store(&min_level, (int)min);
	atomic_store(&fmt, (int)format);
	atomic_store(&out_fd, fd);
}

int log_add_secret(const char *s)
{
	if (!s)
		return 0;
	size_t n = strlen(s);
	if (n < 4)
		return 0;
	for (size_t i = 0; i < nsecrets; i++)
		if (secret_len[i] == n && memcmp(secrets[i], s, n) == 0)
			return 0;
	if (nsecrets >= LOG_SECRETS_MAX)
		return BND_E_RANGE;
	char *c = bnd_malloc(n + 1);
	if (!c)
		return BND_E_NOMEM;
	memcpy(c, s, n + 1);
	secrets[nsecrets] = c;
	secret_len[nsecrets] = n;
	nsecrets++;
	return 0;
}

void log_clear_secrets(void)
{
	for (size_t i = 0; i < nsecrets; i++) {
		volatile char *p = secrets[i];
		for (size_t k = 0; k < secret_len[i]; k++)
			p[k] = 0;
		bnd_free(secrets[i]);
		secrets[i] = NULL;
	}
	nsecrets = 0;
}

const char *log_level_name(enum bnd_log_level lvl)
{
	switch (lvl) {
	case BND_LOG_DEBUG: return "debug";
	case BND_LOG_INFO: return "info";
	case BND_LOG_WARN: return "warn";
	case BND_LOG_ERROR: return "error";
	}
	return "?";
}

/* ---- the number filter ------------------------------------------------------ */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_sep(char c)
{
	return c == ' ' || c == '-' || c == '.';
}

/* Keep-first/keep-last counts for d digits (phone_mask's rule). */
static void mask_plan(size_t d, size_t *head, size_t *tail)
{
	*head = 5;
	*tail = 3;
	while (*head + *tail + 4 > d) {
		if (*head > *tail)
			(*head)--;
		else
			(*tail)--;
	}
}

/*
 * The end of an international span at p[i] ("+" or "00" then digit groups
 * and single separators), or i when it does not hold enough digits; *nd
 * gets its digit count.
 */
static size_t intl_span(const char *p, size_t i, size_t *nd)
{
	size_t j = p[i] == '+' ? i + 1 : i, d = 0, end = i;
	int prev_sep = 1;   /* a digit must come first */
	while (p[j]) {
		if (is_digit(p[j])) {
			d++;
			prev_sep = 0;
			end = j + 1;
		} else if (p[j] == '(' || p[j] == ')') {
			/* "(+39) 335...", "+39 (0)731...": parentheses go with
			 * their neighbour and do not count as a separator. */
		} else if (is_sep(p[j]) && !prev_sep) {
			prev_sep = 1;
		} else {
			break;
		}
		j++;
	}
	if (d < LOG_MASK_MIN_DIGITS || (p[end] && (is_word(p[end]) || is_digit(p[end]))))
		return i;
	*nd = d;
	return end;
}

size_t log_mask_numbers(const char *in, char *out, size_t cap)
{
	size_t o = 0, masked = 0;
	if (cap == 0)
		return 0;
	for (size_t i = 0; in && in[i] && o + 1 < cap;) {
		char prev = i ? in[i - 1] : ' ';
		size_t start = i, end = i, nd = 0;
		if (in[i] == '+' && !is_word(prev) && !is_digit(prev)) {
			end = intl_span(in, i, &nd);
		} else if (in[i] == '0' && in[i + 1] == '0' && !is_word(prev) && !is_digit(prev) &&
		           (end = intl_span(in, i, &nd)) > i) {
			/* "0039 335 1234567": taken whole below */
		} else if (is_digit(in[i]) && !is_word(prev) && !is_digit(prev)) {
			size_t j = i;
			while (is_digit(in[j]))
				j++;
			if (j - i >= LOG_MASK_MIN_DIGITS && !is_word(in[j])) {
				end = j;
				nd = j - i;
			}
		}
		if (end == start) {
			out[o++] = in[i++];
			continue;
		}
		size_t head, tail, k = 0;
		mask_plan(nd, &head, &tail);
		for (size_t j = start; j < end && o + 1 < cap; j++) {
			char c = in[j];
			if (is_digit(c)) {
				if (k >= head && k < nd - tail) {
					c = '*';
					masked++;
				}
				k++;
			}
			out[o++] = c;
		}
		i = end;
	}
	out[o] = '\0';
	return masked;
}

/* ---- secrets -------------------------------------------------------------------- */

/* Copy in to out with every registered secret replaced. */
static void redact(const char *in, char *out, size_t cap)
{
	size_t o = 0, n = strlen(in);
	for (size_t i = 0; i < n && o + 1 < cap;) {
		size_t hit = 0;
		for (size_t s = 0; s < nsecrets && !hit; s++)
			if (secret_len[s] <= n - i && memcmp(in + i, secrets[s], secret_len[s]) == 0)
				hit = secret_len[s];
		if (hit) {
			for (const char *r = REDACTED; *r && o + 1 < cap; r++)
				out[o++] = *r;
			i += hit;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
}

/* ---- lines ------------------------------------------------------------------------ */

/* Append s escaped for a double-quoted logfmt or JSON string. */
static size_t put_escaped(char *out, size_t o, size_t cap, const char *s, int json)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		size_t el = 0;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			el = 2;
		} else if (*p == '\n') {
			memcpy(esc, "\\n", 2);
			el = 2;
		} else if (*p == '\t') {
			memcpy(esc, "\\t", 2);
			el = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			el = (size_t)snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", *p);
		} else {
			esc[0] = (char)*p;
			el = 1;
		}
		if (o + el + 8 >= cap) {   /* room for "...", the closing and '\n' */
			memcpy(out + o, "...", 3);
			return o + 3;
		}
		memcpy(out + o, esc, el);
		o += el;
	}
	return o;
}

static size_t put(char *out, size_t o, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (o + n >= cap)
		n = o < cap ? cap - 1 - o : 0;
	memcpy(out + o, s, n);
	return o + n;
}

static void format_ts(uint64_t ms, char *b, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(b, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

size_t log_format_line(char *out, size_t cap, uint64_t wall_ms, enum log_format format,
                       enum bnd_log_level lvl, const char *module, const char *msg)
{
	char ts[96];
	format_ts(wall_ms, ts, sizeof ts);
	const char *mod = module && *module ? module : "-";
	size_t o = 0;
	if (cap < 64)
		return 0;
	/* Module names are the project's own identifiers: no escaping needed,
	 * but they are escaped anyway in case one ever is not. */
	if (format == LOG_FORMAT_JSON) {
		o = put(out, o, cap, "{\"ts\":\"");
		o = put(out, o, cap, ts);
		o = put(out, o, cap, "\",\"level\":\"");
		o = put(out, o, cap, log_level_name(lvl));
		o = put(out, o, cap, "\",\"module\":\"");
		o = put_escaped(out, o, cap / 4, mod, 1);
		o = put(out, o, cap, "\",\"msg\":\"");
		o = put_escaped(out, o, cap, msg ? msg : "", 1);
		o = put(out, o, cap, "\"}\n");
	} else {
		o = put(out, o, cap, "ts=");
		o = put(out, o, cap, ts);
		o = put(out, o, cap, " level=");
		o = put(out, o, cap, log_level_name(lvl));
		o = put(out, o, cap, " module=");
		o = put_escaped(out, o, cap / 4, mod, 0);
		o = put(out, o, cap, " msg=\"");
		o = put_escaped(out, o, cap, msg ? msg : "", 0);
		o = put(out, o, cap, "\"\n");
	}
	out[o] = '\0';
	return o;
}

void log_hook(enum bnd_log_level lvl, const char *module, const char *msg, void *ud)
{
	(void)ud;
	if ((int)lvl < atomic_load(&min_level))
		return;
	char clean[LOG_LINE_MAX], masked[LOG_LINE_MAX], line[LOG_LINE_MAX + 256];
	redact(msg ? msg : "", clean, sizeof clean);
	log_mask_numbers(clean, masked, sizeof masked);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	size_t n = log_format_line(line, sizeof line, ms, (enum log_format)atomic_load(&fmt), lvl,
	                           module, masked);
	int fd = atomic_load(&out_fd);
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;   /* nowhere to report a failing log */
		off += (size_t)w;
	}
}
