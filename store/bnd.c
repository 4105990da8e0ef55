/*
 * bnd.c - error strings, the allocation wrapper and the log hook.
 *
 * The allocation wrapper counts calls in an atomic so that the failure hook
 * can be used from single-threaded tests without affecting production code
 * paths beyond one relaxed atomic increment.
 */
#include "bnd.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long alloc_calls;
static atomic_long alloc_fail_at = -1;  /* fail calls numbered >= this; -1: never */

static int alloc_should_fail(void)
{
	long n = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	long at = atomic_load_explicit(&alloc_fail_at, memory_order_relaxed);
	return at >= 0 && n >= at;
}

void bnd_alloc_fail_after(long n)
{
	if (n < 0) {
		atomic_store(&alloc_fail_at, -1);
		return;
	}
	atomic_store(&alloc_fail_at, atomic_load(&alloc_calls) + n);
}

long bnd_alloc_count(void)
{
	return atomic_load(&alloc_calls);
}

void *bnd_malloc(size_t n)
{
	return alloc_should_fail() ? NULL : malloc(n ? n : 1);
}

void *bnd_calloc(size_t nmemb, size_t size)
{
	return alloc_should_fail() ? NULL : calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *bnd_realloc(void *p, size_t n)
{
	return alloc_should_fail() ? NULL : realloc(p, n ? n : 1);
}

void bnd_free(void *p)
{
	free(p);
}

static bnd_log_fn log_fn;
static void *log_ud;

void bnd_log_set(bnd_log_fn fn, void *ud)
{
	log_fn = fn;
	log_ud = ud;
}

void bnd_log(enum bnd_log_level lvl, const char *module, const char *fmt, ...)
{
	if (!log_fn)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_fn(lvl, module, msg, log_ud);
}

const char *bnd_strerror(int code)
{
	switch (code) {
	case 0: return "success";
	case BND_E_INVAL: return "invalid argument";
	case BND_E_NOMEM: return "out of memory";
	case BND_E_RANGE: return "length or count out of range";
	case BND_E_NOTFOUND: return "not found";
	case BND_E_EXISTS: return "already exists";
	case BND_E_LOCKED: return "data directory is locked by another process";
	case BND_E_RDONLY: return "handle is read-only";
	case BND_E_CLOSED: return "object is closing";
	case BND_E_PHONE_EMPTY: return "phone number has no digits";
	case BND_E_PHONE_CHAR: return "phone number has an invalid character";
	case BND_E_PHONE_LENGTH: return "phone number must have 8 to 15 digits";
	case BND_E_PHONE_ZERO: return "phone number country code cannot start with 0";
	case BND_E_STORE_MAGIC: return "store file has a bad magic number";
	case BND_E_STORE_VERSION: return "store file has an unsupported version";
	case BND_E_STORE_CHECKSUM: return "store record checksum mismatch (damaged data)";
	case BND_E_STORE_TRUNCATED: return "store record truncated";
	case BND_E_STORE_CORRUPT: return "store record has an impossible field";
	case BND_E_STORE_MISMATCH: return "derived file does not match its log";
	case BND_E_CMD_UTF8: return "command text is not valid UTF-8";
	case BND_E_CMD_TOOLONG: return "command text is too long";
	case BND_E_CMD_KEYWORD: return "command keyword is empty, too long or a reserved word";
	case BND_E_WEBHOOK_SIG_MISSING: return "webhook signature header missing";
	case BND_E_WEBHOOK_SIG_MALFORMED: return "webhook signature is not sha256= and 64 hex digits";
	case BND_E_WEBHOOK_SIG_MISMATCH: return "webhook signature does not match the body";
	case BND_E_WEBHOOK_TOO_LARGE: return "webhook body over the size limit";
	case BND_E_WEBHOOK_JSON: return "webhook body is not valid JSON";
	case BND_E_WEBHOOK_NOT_OBJECT: return "webhook body is not a JSON object";
	case BND_E_WEBHOOK_TOO_MANY: return "webhook body carries more events than the limit";
	case BND_E_WEBHOOK_HANDSHAKE: return "webhook verification handshake refused";
	case BND_E_HTTPD_LISTEN: return "listen address must be HOST:PORT";
	case BND_E_HTTPD_START: return "HTTP server failed to start";
	case BND_E_HTTPD_ROUTE: return "invalid HTTP route or server already started";
	case BND_E_HTTPD_ANSWERED: return "HTTP request already answered";
	case BND_E_SERVE_NO_SECRET: return "serve: BANDITORE_APP_SECRET is not set (every webhook would be refused)";
	case BND_E_SERVE_DEGRADED: return "serve: an earlier store sync failed; restart to recover";
	case BND_E_SERVE_STOPPING: return "serve: shutting down";
	case BND_E_NOTICE_ID: return "malformed notice id";
	case BND_E_NOTICE_CATEGORY: return "unknown notice category";
	case BND_E_NOTICE_TEXT: return "notice text is empty, not UTF-8 or too long";
	case BND_E_NOTICE_TEMPLATE: return "bad template name, language or parameter";
	case BND_E_NOTICE_JSON: return "notice.json is unreadable or malformed";
	case BND_E_NOTICE_TAG: return "callback data is not <notice_id>:<ordinal>";
	case BND_E_RCPT_MAGIC: return "recipient list has a bad magic number";
	case BND_E_RCPT_VERSION: return "recipient list has an unsupported version";
	case BND_E_RCPT_CHECKSUM: return "recipient list checksum mismatch (damaged data)";
	case BND_E_RCPT_TRUNCATED: return "recipient list truncated";
	case BND_E_RCPT_CORRUPT: return "recipient list is not ascending valid numbers";
	case BND_E_RCPT_MISMATCH: return "recipient list belongs to another notice";
	case BND_E_JOURNAL_MAGIC: return "journal has a bad magic number";
	case BND_E_JOURNAL_VERSION: return "journal has an unsupported version";
	case BND_E_JOURNAL_CHECKSUM: return "journal checksum mismatch before the tail (damaged data)";
	case BND_E_JOURNAL_TRUNCATED: return "journal header truncated";
	case BND_E_JOURNAL_CORRUPT: return "journal record has an impossible field";
	case BND_E_JOURNAL_MISMATCH: return "journal belongs to another notice or recipient list";
	case BND_E_JOURNAL_WINDOW: return "ordinal is past the journal's tracking window";
	case BND_E_JOURNAL_FINAL: return "ordinal already has a final outcome";
	case BND_E_JOURNAL_STATE: return "notice state change not allowed";
	case BND_E_CONFIG_SYNTAX: return "config file is not one valid JSON object";
	case BND_E_CONFIG_UNKNOWN: return "unknown configuration key";
	case BND_E_CONFIG_TYPE: return "configuration value has the wrong type";
	case BND_E_CONFIG_VALUE: return "configuration value is out of range or malformed";
	case BND_E_CONFIG_SECRET: return "secrets come only from the environment";
	case BND_E_METRICS_NAME: return "invalid metric or label name";
	case BND_E_METRICS_DUP: return "metric registered twice";
	case BND_E_METRICS_LABELS: return "wrong metric labels";
	case BND_E_METRICS_PRIVACY: return "metric label value could be a phone number";
	case BND_E_METRICS_TYPE: return "metric series type does not match its family";
	case BND_E_PLAN_RECIPIENTS: return "plan: recipients must be 1 to 1000000000";
	case BND_E_PLAN_RATE: return "plan: rate must be 0.001 to 10000 msg/s";
	case BND_E_PLAN_TIER: return "plan: tier must be 250, 1000, 2000, 10000, 100000 or 0 (unlimited)";
	case BND_E_PLAN_LATENCY: return "plan: latency needs 0 < p50 <= p99 <= 60 s and p99 <= 100 x p50";
	case BND_E_PLAN_ERROR_RATE: return "plan: transient error rate must be a fraction from 0 to 0.99";
	case BND_E_PLAN_PERMANENT: return "plan: permanent-failure rate must be a fraction from 0 to below 1";
	case BND_E_PLAN_WINDOW: return "plan: window must be 1 to 1000000 requests in flight";
	case BND_E_PLAN_ATTEMPTS: return "plan: max attempts must be 1 to 20";
	case BND_E_PLAN_PAIR: return "plan: pair interval must be 0 to 3600 s";
	case BND_E_PLAN_OVERHEAD: return "plan: dispatch overhead must be 0 to 1000 ms";
	case BND_E_PLAN_PLOT_FORMAT: return "plot file name must end in .svg or .png";
	case BND_E_PLAN_GNUPLOT_MISSING: return "gnuplot not found (install gnuplot-nox, or set BANDITORE_GNUPLOT)";
	case BND_E_PLAN_GNUPLOT_FAILED: return "gnuplot failed to write the plot";
	default: break;
	}
	if (code < 0 && code > -4096) {
		/* strerror is not thread-safe in general, but glibc's returns
		 * pointers to static strings for known values. */
		return strerror(-code);
	}
	if (code <= BND_E_ENGINE_BASE)
		return "engine error (see the module's header)";
	return "unknown error";
}
