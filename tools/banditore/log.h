/*
 * log.h - the `banditore` binary's log lines: the bnd_log hook that every
 * library message goes through, one line per event, in logfmt or JSON
 * (config log.format), filtered by level (log.level), with a UTC
 * timestamp. Two defensive filters run on every message before it is
 * written:
 *
 *   - numbers: any run of 8 or more digits that stands alone (not glued to
 *     a letter, so "n-20251012T101500-a3f9" and wamids pass) is masked the
 *     way phone_mask masks a number ("393351234567" -> "39335****567"), and
 *     so is a number written with '+' or "00" and separators
 *     ("+39 335 123 4567" -> "+39 335 *** *567"). Callers mask numbers already (phone_mask);
 *     this catches the one that slipped through. A long counter (a byte
 *     count, a timestamp in ms) is masked too: the log prefers losing a
 *     figure to leaking a number.
 *   - secrets: the values registered with log_add_secret (the four tokens
 *     of the environment) are replaced by "[redacted]" wherever they
 *     appear.
 *
 * Lines (examples):
 *   logfmt  ts=2025-10-12T10:00:00.123Z level=info module=opapi msg="notice n-... created"
 *   json    {"ts":"2025-10-12T10:00:00.123Z","level":"info","module":"opapi","msg":"..."}
 *
 * Each line is written with one write(2) (at most LOG_LINE_MAX bytes; a
 * longer message is cut and ends with "..."), so lines from several threads
 * never interleave. Threading: log_configure and log_add_secret at start,
 * before other threads log; log_hook from any thread.
 */
#ifndef BANDITORE_LOG_H
#define BANDITORE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "bnd.h"

#define LOG_LINE_MAX 2048
#define LOG_SECRETS_MAX 8
#define LOG_MASK_MIN_DIGITS 8   /* shortest E.164 number in use (phone.h) */

enum log_format {
	LOG_FORMAT_LOGFMT = 0,      /* same values as enum config_log_format */
	LOG_FORMAT_JSON = 1,
};

/*
 * log_configure - least severe level written, the format and the file
 * descriptor (2 for stderr). Defaults before any call: info, logfmt, 2.
 */
void log_configure(enum bnd_log_level min, enum log_format format, int fd);

/*
 * log_add_secret - never write s (copied; strings shorter than 4 bytes are
 * ignored: they would redact ordinary words). Returns 0, BND_E_RANGE
 * (LOG_SECRETS_MAX already) or BND_E_NOMEM. NULL or "" is a no-op (0).
 */
int log_add_secret(const char *s);

/* log_clear_secrets - forget (and wipe) every registered secret. */
void log_clear_secrets(void);

/*
 * log_hook - the bnd_log hook (bnd_log_set(log_hook, NULL)): filter, mask,
 * format and write one line. ud is unused.
 */
void log_hook(enum bnd_log_level lvl, const char *module, const char *msg, void *ud);

/*
 * log_mask_numbers - copy in to out (cap bytes, NUL-terminated, cut at
 * cap - 1) with the number filter above applied. Returns the number of
 * digits masked. Pure.
 */
size_t log_mask_numbers(const char *in, char *out, size_t cap);

/*
 * log_format_line - the line log_hook writes (with its '\n'), for tests:
 * wall_ms is the timestamp; msg is written as given (log_hook masks it
 * first). Returns the length written into out (cap bytes, NUL-terminated).
 */
size_t log_format_line(char *out, size_t cap, uint64_t wall_ms, enum log_format format,
                       enum bnd_log_level lvl, const char *module, const char *msg);

/* log_level_name - "debug", "info", "warn", "error". */
const char *log_level_name(enum bnd_log_level lvl);

#endif
