/*
 * bnd.h - project-wide basics shared by every module: error codes, the one
 * strerror, the allocation wrapper (so tests can fail the Nth allocation),
 * and the log hook (library code never prints).
 *
 * It lives in store/ because store/ is the leaf every other module may use.
 *
 * Error convention: functions return int, 0 on success, negative on failure.
 * System failures pass -errno through unchanged (errno values are < 4096).
 * Project codes live below BND_E_BASE, one band of 100 per module, so a code
 * names both the module and the condition.
 */
#ifndef BND_H
#define BND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
	BND_E_BASE = -10000,

	/* general: -10000 .. -10099 */
	BND_E_INVAL = -10001,      /* an argument is out of its documented range */
	BND_E_NOMEM = -10002,      /* the allocation wrapper returned NULL */
	BND_E_RANGE = -10003,      /* a length or count exceeds its maximum */
	BND_E_NOTFOUND = -10004,   /* the key, file or object does not exist */
	BND_E_EXISTS = -10005,     /* it exists already */
	BND_E_LOCKED = -10006,     /* another process holds the writer lock */
	BND_E_RDONLY = -10007,     /* write attempted on a read-only handle */
	BND_E_CLOSED = -10008,     /* the object is shutting down */

	/* phone numbers: -10100 .. -10199 */
	BND_E_PHONE_EMPTY = -10101,    /* no digits at all */
	BND_E_PHONE_CHAR = -10102,     /* a character that has no place in a number */
	BND_E_PHONE_LENGTH = -10103,   /* fewer than 8 or more than 15 digits */
	BND_E_PHONE_ZERO = -10104,     /* the country code would start with 0 */

	/* store format damage: -10200 .. -10299 */
	BND_E_STORE_MAGIC = -10201,    /* a file does not start with the expected magic */
	BND_E_STORE_VERSION = -10202,  /* a format version this build cannot read */
	BND_E_STORE_CHECKSUM = -10203, /* a record's checksum does not match: damage */
	BND_E_STORE_TRUNCATED = -10204,/* a record ends past the end of its file */
	BND_E_STORE_CORRUPT = -10205,  /* a field holds an impossible value */
	BND_E_STORE_MISMATCH = -10206, /* a derived file belongs to another log */

	/* engine bands: each module adds its codes here, in its own band, and
	 * their strings to bnd_strerror in bnd.c.
	 *   -11100 cmd (command parser)     -11200 webhook / HTTP server
	 *   -11300 API client               -11400 event loop
	 *   -11500 sender                   -11600 limiter
	 *   -11700 notices and journal      -11800 configuration
	 *   -11900 wa-mock                                                   */
	BND_E_ENGINE_BASE = -11000,

	/* capacity plan (engine/plan.c, banditore plan): -11750 .. -11799,
	 * a sub-band of the notices band */
	BND_E_PLAN_RECIPIENTS = -11751, /* recipients outside 1 .. PLAN_MAX_RECIPIENTS */
	BND_E_PLAN_RATE = -11752,       /* rate outside PLAN_MIN_RATE .. PLAN_MAX_RATE */
	BND_E_PLAN_TIER = -11753,       /* not a messaging-limit tier */
	BND_E_PLAN_LATENCY = -11754,    /* latency p50/p99 out of range or p99 < p50 */
	BND_E_PLAN_ERROR_RATE = -11755, /* transient error rate outside [0, 0.99] */
	BND_E_PLAN_PERMANENT = -11756,  /* permanent-failure rate outside [0, 1) */
	BND_E_PLAN_WINDOW = -11757,     /* in-flight window outside 1 .. PLAN_MAX_WINDOW */
	BND_E_PLAN_ATTEMPTS = -11758,   /* max attempts outside 1 .. PLAN_MAX_ATTEMPTS */
	BND_E_PLAN_PAIR = -11759,       /* pair interval outside [0, 3600] s */
	BND_E_PLAN_PLOT_FORMAT = -11770,  /* plot file name is not .svg or .png */
	BND_E_PLAN_GNUPLOT_MISSING = -11771, /* no gnuplot executable found */
	BND_E_PLAN_GNUPLOT_FAILED = -11772,  /* gnuplot ran but did not write the plot */
};

/*
 * bnd_strerror - a message for any return code of the project: 0, -errno or
 * a BND_E_* code. Returns a static string; never NULL. Thread-safe.
 */
const char *bnd_strerror(int code);

/*
 * Allocation. Library code allocates only through these, so a test can make
 * the Nth call fail (bnd_alloc_fail_after). They behave like malloc, calloc,
 * realloc and free; bnd_realloc leaves the old block intact on failure.
 */
void *bnd_malloc(size_t n);
void *bnd_calloc(size_t nmemb, size_t size);
void *bnd_realloc(void *p, size_t n);
void bnd_free(void *p);

/*
 * bnd_alloc_fail_after - test hook: allocations succeed n more times, then
 * every one fails until the hook is reset with n < 0 (the default).
 * bnd_alloc_count returns how many allocations were attempted so far, so a
 * loop can find the number of allocation sites of an operation.
 * Not thread-safe with respect to concurrent allocation: tests only.
 */
void bnd_alloc_fail_after(long n);
long bnd_alloc_count(void);

/*
 * Logging. Library code reports through one hook, set by the program (tools
 * print; tests capture). With no hook set, messages are dropped. Phone numbers
 * in messages must already be masked (phone_mask in phone.h).
 */
enum bnd_log_level { BND_LOG_DEBUG, BND_LOG_INFO, BND_LOG_WARN, BND_LOG_ERROR };
typedef void (*bnd_log_fn)(enum bnd_log_level lvl, const char *module,
                           const char *msg, void *ud);
void bnd_log_set(bnd_log_fn fn, void *ud);
void bnd_log(enum bnd_log_level lvl, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
