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

	/* command parser: -11100 .. -11199 (engine/cmd.h, engine/ufold.h) */
	BND_E_CMD_UTF8 = -11101,       /* the text is not valid UTF-8 */
	BND_E_CMD_TOOLONG = -11102,    /* the text is longer than CMD_MAX_INPUT bytes */
	BND_E_CMD_KEYWORD = -11103,    /* the keyword is empty, too long or a vocabulary word */

	/* webhook receiver and HTTP server: -11200 .. -11299 */
	BND_E_WEBHOOK_SIG_MISSING = -11201,  /* no X-Hub-Signature-256 header (answer 401) */
	BND_E_WEBHOOK_SIG_MALFORMED = -11202,/* not "sha256=" + 64 hex digits (answer 401) */
	BND_E_WEBHOOK_SIG_MISMATCH = -11203, /* HMAC differs: forged, altered or wrong secret (401) */
	BND_E_WEBHOOK_TOO_LARGE = -11204,    /* body over the size limit (answer 413) */
	BND_E_WEBHOOK_JSON = -11205,         /* body is not valid JSON (answer 400) */
	BND_E_WEBHOOK_NOT_OBJECT = -11206,   /* top-level JSON value is not an object (400) */
	BND_E_WEBHOOK_TOO_MANY = -11207,     /* more events in one body than the limit (413) */
	BND_E_WEBHOOK_HANDSHAKE = -11208,    /* GET verification refused (answer 403) */
	BND_E_HTTPD_LISTEN = -11250,         /* listen address is not HOST:PORT */
	BND_E_HTTPD_START = -11251,          /* libmicrohttpd refused to start */
	BND_E_HTTPD_ROUTE = -11252,          /* bad route, table full, or server started */
	BND_E_HTTPD_ANSWERED = -11253,       /* the request was already answered */
	/* serve (engine/service.h, tools/banditore/cmd_serve.c): -11260 .. -11299 */
	BND_E_SERVE_NO_SECRET = -11260,      /* BANDITORE_APP_SECRET unset: every webhook would be refused */
	BND_E_SERVE_DEGRADED = -11261,       /* an earlier store sync failed: nothing is acknowledged */
	BND_E_SERVE_STOPPING = -11262,       /* shutting down: answered 503, WhatsApp redelivers */

	/* notices, recipient lists and journals: -11700 .. -11749 */
	BND_E_NOTICE_ID = -11701,         /* a notice id is not n-YYYYmmddTHHMMSS-xxxx */
	BND_E_NOTICE_CATEGORY = -11702,   /* not emergency|disruption|deadline|event|info */
	BND_E_NOTICE_TEXT = -11703,       /* text empty, not UTF-8, or too long */
	BND_E_NOTICE_TEMPLATE = -11704,   /* bad template name, language or parameter */
	BND_E_NOTICE_JSON = -11705,       /* notice.json unreadable or of the wrong shape */
	BND_E_NOTICE_TAG = -11706,        /* biz_opaque_callback_data is not <id>:<ordinal> */
	BND_E_RCPT_MAGIC = -11710,        /* recipients.bin: bad magic */
	BND_E_RCPT_VERSION = -11711,      /* recipients.bin: unsupported version */
	BND_E_RCPT_CHECKSUM = -11712,     /* recipients.bin: header or body checksum mismatch */
	BND_E_RCPT_TRUNCATED = -11713,    /* recipients.bin: shorter than its header says */
	BND_E_RCPT_CORRUPT = -11714,      /* recipients.bin: numbers not ascending or invalid */
	BND_E_RCPT_MISMATCH = -11715,     /* recipients.bin belongs to another notice */
	BND_E_JOURNAL_MAGIC = -11720,     /* journal.log: bad magic */
	BND_E_JOURNAL_VERSION = -11721,   /* journal.log: unsupported version */
	BND_E_JOURNAL_CHECKSUM = -11722,  /* journal.log: damage before the tail */
	BND_E_JOURNAL_TRUNCATED = -11723, /* journal.log: header shorter than its size */
	BND_E_JOURNAL_CORRUPT = -11724,   /* journal.log: a checksummed record is impossible */
	BND_E_JOURNAL_MISMATCH = -11725,  /* journal.log belongs to another notice or list */
	BND_E_JOURNAL_WINDOW = -11726,    /* ordinal at or past the tracking window's end */
	BND_E_JOURNAL_FINAL = -11727,     /* the ordinal already has a final outcome */
	BND_E_JOURNAL_STATE = -11728,     /* state change not allowed from the current state */
	/* API client (waclient, wareq, waerr): -11300 .. -11399 */
	BND_E_WA_FULL = -11301,        /* every request slot of the window is in use */
	BND_E_WA_UTF8 = -11302,        /* text is not valid UTF-8 (strict building) */
	BND_E_WA_CONFIG = -11303,      /* API base URL, version, phone-number-id or token unusable */
	BND_E_WA_CURL = -11304,        /* libcurl refused a handle or an option */

	/* event loop: -11400 .. -11499 */
	BND_E_LOOP_NOURING = -11401,   /* io_uring was requested but the kernel refused it */
	BND_E_LOOP_CURL = -11402,      /* libcurl's multi interface reported an error */
	BND_E_LOOP_THREAD = -11403,    /* called from a thread that does not own the loop */

	/* limiter: -11600 .. -11699 */
	BND_E_LIM_TIER = -11601,       /* the audience exceeds the messaging-limit tier */
	/* configuration: -11800 .. -11849 (engine/config.h) */
	BND_E_CONFIG_SYNTAX = -11801,  /* config file: not JSON, not an object, too large */
	BND_E_CONFIG_UNKNOWN = -11802, /* no such key or flag */
	BND_E_CONFIG_TYPE = -11803,    /* wrong JSON type for the key */
	BND_E_CONFIG_VALUE = -11804,   /* out of range or bad shape */
	BND_E_CONFIG_SECRET = -11805,  /* a secret outside the environment */

	/* metrics: -11850 .. -11899 (engine/metrics.h) */
	BND_E_METRICS_NAME = -11851,    /* bad metric or label name */
	BND_E_METRICS_DUP = -11852,     /* family or series registered twice */
	BND_E_METRICS_LABELS = -11853,  /* wrong label count, bad label value */
	BND_E_METRICS_PRIVACY = -11854, /* a label value that could be a phone number */
	BND_E_METRICS_TYPE = -11855,    /* series of another type than its family */
	/* wa-mock: -11900 .. -11999 */
	BND_E_WAMOCK_SPEC = -11901,    /* a malformed option value or spec string */
	BND_E_WAMOCK_FULL = -11902,    /* a fixed-size table of the mock is full */
	BND_E_WAMOCK_JSON = -11903,    /* a request body is not valid JSON */
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
	BND_E_PLAN_OVERHEAD = -11760,   /* dispatch overhead outside [0, 1] s */
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
