/*
 * config.c - the settings table, its validation, and the three sources
 * (defaults, a JSON file, flags) plus the environment for secrets.
 *
 * Design. The keys are data: one static table (keys[] below) names each
 * key's JSON path, flag, type, range, default, users and help line, and
 * the field of struct config it lands in (offsetof). Everything else is
 * generic over the table: defaults are written as flag strings and parsed
 * by the same code as flags (so a default that would not validate fails
 * the unit test, not production); the file loader walks the JSON object
 * and resolves every member to a table row or a group prefix; the dump
 * rebuilds the same shape; the documentation test reads the same rows.
 *
 * Invariants.
 *  - A key's value is only ever replaced through apply(), which frees the
 *    old string and records the source. A flag's value is never replaced by
 *    the file (src_ == CONFIG_SRC_FLAG), so precedence holds whatever the
 *    order of config_set and config_load_file calls.
 *  - config_load_file and config_set validate everything first and apply
 *    after: a failure leaves the struct as it was.
 *  - Secrets never go through the table. A key or flag whose name looks
 *    like a secret is refused before the unknown-key check, with the
 *    environment variable to use; so is a URL carrying user:password@ or
 *    a token in its query string.
 *  - Messages never echo a string value (it might be a phone number or a
 *    pasted token); numbers are echoed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <utf8proc.h>

/* ------------------------------------------------------------------ table */

#define OFF(f) offsetof(struct config, f)
#define NS_MS 1000000ull
#define NS_S (1000ull * NS_MS)
#define NS_M (60ull * NS_S)
#define NS_H (60ull * NS_M)
#define NS_D (24ull * NS_H)
#define MIB (1024ull * 1024ull)

#define ALL "serve send resume"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"logfmt", "json", NULL};
static const char *const loops[] = {"auto", "io_uring", "epoll", NULL};
static const char *const https[] = {"auto", "curl", "native", NULL};

static const char DEF_WELCOME[] =
	"Benvenuto nel canale WhatsApp del {city}! Qui riceverai gli avvisi di "
	"protezione civile, le chiusure di scuole e strade, le scadenze e gli eventi "
	"in città. Questo numero non risponde a messaggi e chiamate. Per cancellarti "
	"scrivi {keyword} OFF. Informativa privacy: {privacy_url}";
static const char DEF_ALREADY[] =
	"Sei già iscritto al canale WhatsApp del {city}: non serve fare altro. "
	"Per cancellarti scrivi {keyword} OFF.";
static const char DEF_OPTOUT[] =
	"Ti sei cancellato dal canale WhatsApp del {city}: da ora non riceverai più "
	"avvisi su questo numero. Per iscriverti di nuovo scrivi {keyword} ON.";
static const char DEF_HELP[] =
	"Canale WhatsApp del {city}: avvisi di protezione civile, viabilità, scuole, "
	"scadenze ed eventi. Scrivi {keyword} ON per iscriverti e {keyword} OFF per "
	"cancellarti. Questo numero non risponde a messaggi e chiamate. "
	"Informativa privacy: {privacy_url}";
static const char DEF_AUTOREPLY[] =
	"Questo numero invia soltanto avvisi e non legge i messaggi. Per contattare "
	"il {city} usa i consueti canali (telefono, e-mail, Ufficio Relazioni con il "
	"Pubblico). Per cancellarti scrivi {keyword} OFF.";

#define K(key_, flag_, type_, opts_, field_, min_, max_, choices_, def_, used_, help_) \
	{ key_, flag_, type_, opts_, OFF(field_), min_, max_, choices_, def_, used_, help_ }

static const struct config_key keys[] = {
	K("data", "data", CONFIG_T_PATH, 0, data, 1, 4095, NULL, "./banditore-data", ALL,
	  "data directory: subscriber store, notice journals, the writer lock"),

	K("serve.listen", "listen", CONFIG_T_HOSTPORT, 0, listen, 0, 0, NULL, "127.0.0.1:8088",
	  "serve", "address of /webhook, /v1/ (operator API), /metrics and /healthz"),
	K("serve.threads", "http-threads", CONFIG_T_UINT, 0, http_threads, 1, 64, NULL, "2",
	  "serve", "HTTP server threads"),
	K("serve.max_connections", "max-connections", CONFIG_T_UINT, 0, max_connections, 1,
	  100000, NULL, "1024", "serve", "open HTTP connections at most; more wait in the backlog"),
	K("serve.max_connections_per_ip", "max-connections-per-ip", CONFIG_T_UINT, 0,
	  max_connections_per_ip, 0, 100000, NULL, "0", "serve",
	  "open HTTP connections per client address (0: no limit; WhatsApp posts from few addresses)"),
	K("serve.idle_timeout", "idle-timeout", CONFIG_T_DURATION, 0, idle_timeout_ns, NS_S,
	  NS_H, NULL, "15s", "serve", "a connection silent for this long is closed"),
	K("serve.body_timeout", "body-timeout", CONFIG_T_DURATION, 0, body_timeout_ns, NS_S,
	  10 * NS_M, NULL, "30s", "serve", "a request body must arrive within this time"),
	K("serve.webhook_max_body_bytes", "webhook-max-body-bytes", CONFIG_T_UINT, 0,
	  webhook_max_body_bytes, 1024, 16 * MIB, NULL, "3670016", "serve",
	  "larger webhook bodies get 413 (WhatsApp batches statuses: keep it in MiB)"),
	K("serve.api_max_body_bytes", "api-max-body-bytes", CONFIG_T_UINT, 0, api_max_body_bytes,
	  1024, 16 * MIB, NULL, "65536", "serve", "larger operator API bodies get 413"),

	K("api.base", "api-base", CONFIG_T_URL, CONFIG_O_BASE_URL, api_base, 1, 2048, NULL,
	  "http://127.0.0.1:8089", ALL,
	  "WhatsApp Cloud API base URL (https://graph.facebook.com in production)"),
	K("api.version", "api-version", CONFIG_T_VERSION, 0, api_version, 4, 16, NULL, "v25.0",
	  ALL, "Graph API version in the request path"),
	K("api.phone_number_id", "phone-number-id", CONFIG_T_DIGITS, 0, phone_number_id, 1, 32,
	  NULL, "110000000000001", ALL, "the business phone number's id (not the number itself)"),
	K("api.rate", "rate", CONFIG_T_UINT, 0, rate, 1, 100000, NULL, "80", ALL,
	  "messages per second for the number (80 by default, 1000 after the upgrade)"),
	K("api.burst", "burst", CONFIG_T_UINT, 0, burst, 0, 100000, NULL, "0", ALL,
	  "messages allowed back to back (0: auto, 50 ms worth of the rate)"),
	K("api.window", "window", CONFIG_T_UINT, 0, window, 1, 65536, NULL, "64", ALL,
	  "requests in flight at most; also bounds duplicates after a crash"),
	K("api.connections", "connections", CONFIG_T_UINT, 0, connections, 1, 4096, NULL, "64",
	  ALL, "HTTP connections to the API at most (HTTP/1.1 needs one per request in flight)"),
	K("api.request_timeout", "request-timeout", CONFIG_T_DURATION, 0, request_timeout_ns,
	  100 * NS_MS, 10 * NS_M, NULL, "20s", ALL,
	  "a request without an answer by then is uncertain and retried"),
	K("api.connect_timeout", "connect-timeout", CONFIG_T_DURATION, 0, connect_timeout_ns,
	  100 * NS_MS, 5 * NS_M, NULL, "5s", ALL, "TCP and TLS connection set-up at most"),
	K("api.retry_base", "retry-base", CONFIG_T_DURATION, 0, retry_base_ns, 10 * NS_MS,
	  10 * NS_M, NULL, "1s", ALL, "first retry delay of a transient error, doubling, with jitter"),
	K("api.retry_cap", "retry-cap", CONFIG_T_DURATION, 0, retry_cap_ns, 100 * NS_MS, NS_H,
	  NULL, "60s", ALL, "longest retry delay"),
	K("api.retry_budget", "retry-budget", CONFIG_T_DURATION, 0, retry_budget_ns, NS_S,
	  NS_D, NULL, "5m", ALL, "a recipient still failing transiently after this is failed"),
	K("api.pair_interval", "pair-interval", CONFIG_T_DURATION, 0, pair_interval_ns, 0,
	  NS_H, NULL, "6s", ALL, "minimum spacing of two messages to one recipient (pair rate)"),
	K("api.tier", "tier", CONFIG_T_UINT, 0, tier, 0, 1000000000000ull, NULL, "0", ALL,
	  "messaging-limit tier: unique recipients per 24 h outside a service window (0: unlimited)"),
	K("api.loop", "loop", CONFIG_T_ENUM, 0, loop, 0, 0, loops, "auto", ALL,
	  "event loop backend (auto: io_uring, or epoll where it is refused)"),
	K("api.http", "http", CONFIG_T_ENUM, 0, http, 0, 0, https, "auto", ALL,
	  "HTTP client (auto: the native HTTP/1.1 client, libcurl when a proxy is set)"),

	K("city.keyword", "keyword", CONFIG_T_WORD, 0, keyword, 1, 32, NULL, "JESI", "serve",
	  "the word citizens send: KEYWORD ON, KEYWORD OFF"),
	K("city.name", "city", CONFIG_T_LABEL, 0, city, 1, 100, NULL, "Comune di Jesi", ALL,
	  "the city's name as written in the messages ({city})"),
	K("city.privacy_url", "privacy-url", CONFIG_T_URL, 0, privacy_url, 1, 2048, NULL,
	  "https://www.comune.jesi.an.it/privacy", ALL,
	  "the privacy policy the welcome links to ({privacy_url})"),

	K("messages.welcome", "welcome", CONFIG_T_TEXT, 0, welcome, 1, CONFIG_TEXT_MAX_CHARS,
	  NULL, DEF_WELCOME, "serve", "confirmation of KEYWORD ON (inside the 24 h window)"),
	K("messages.welcome_template", "welcome-template", CONFIG_T_NAME, 0, welcome_template,
	  1, 512, NULL, "welcome", "serve",
	  "approved template sent instead when the 24 h window is closed"),
	K("messages.welcome_lang", "welcome-lang", CONFIG_T_LANG, 0, welcome_lang, 2, 15, NULL,
	  "it", "serve", "language code of the welcome template"),
	K("messages.already_subscribed", "already-subscribed", CONFIG_T_TEXT, 0,
	  already_subscribed, 1, CONFIG_TEXT_MAX_CHARS, NULL, DEF_ALREADY, "serve",
	  "answer to KEYWORD ON from a confirmed subscriber"),
	K("messages.opt_out_ack", "opt-out-ack", CONFIG_T_TEXT, 0, opt_out_ack, 1,
	  CONFIG_TEXT_MAX_CHARS, NULL, DEF_OPTOUT, "serve", "acknowledgement of KEYWORD OFF"),
	K("messages.help_text", "help-text", CONFIG_T_TEXT, 0, help_text, 1,
	  CONFIG_TEXT_MAX_CHARS, NULL, DEF_HELP, "serve", "answer to HELP, AIUTO, INFO"),
	K("messages.auto_reply", "auto-reply", CONFIG_T_BOOL, 0, auto_reply, 0, 0, NULL, "false",
	  "serve", "answer other messages with auto_reply_text (off: the number does not answer)"),
	K("messages.auto_reply_text", "auto-reply-text", CONFIG_T_TEXT, 0, auto_reply_text, 1,
	  CONFIG_TEXT_MAX_CHARS, NULL, DEF_AUTOREPLY, "serve",
	  "the optional 'this number does not answer' reply"),
	K("messages.auto_reply_interval", "auto-reply-interval", CONFIG_T_DURATION, 0,
	  auto_reply_interval_ns, NS_H, 30 * NS_D, NULL, "24h", "serve",
	  "at most one auto-reply per number in this time"),

	K("notices.template", "notice-template", CONFIG_T_NAME, 0, notice_template, 1, 512, NULL,
	  "notice", ALL, "approved template that carries a notice's text as its parameter"),
	K("notices.lang", "notice-lang", CONFIG_T_LANG, 0, notice_lang, 2, 15, NULL, "it", ALL,
	  "language code of the notice template"),
	K("notices.expiry.emergency", "expiry-emergency", CONFIG_T_DURATION, 0,
	  expiry_ns[CONFIG_CAT_EMERGENCY], NS_M, 30 * NS_D, NULL, "6h", ALL,
	  "default expiry of an emergency notice: nothing is sent after it"),
	K("notices.expiry.disruption", "expiry-disruption", CONFIG_T_DURATION, 0,
	  expiry_ns[CONFIG_CAT_DISRUPTION], NS_M, 30 * NS_D, NULL, "24h", ALL,
	  "default expiry of a disruption notice"),
	K("notices.expiry.deadline", "expiry-deadline", CONFIG_T_DURATION, 0,
	  expiry_ns[CONFIG_CAT_DEADLINE], NS_M, 30 * NS_D, NULL, "72h", ALL,
	  "default expiry of a deadline notice"),
	K("notices.expiry.event", "expiry-event", CONFIG_T_DURATION, 0,
	  expiry_ns[CONFIG_CAT_EVENT], NS_M, 30 * NS_D, NULL, "48h", ALL,
	  "default expiry of an event notice"),
	K("notices.expiry.info", "expiry-info", CONFIG_T_DURATION, 0, expiry_ns[CONFIG_CAT_INFO],
	  NS_M, 30 * NS_D, NULL, "72h", ALL, "default expiry of an info notice"),

	K("store.commit_interval", "commit-interval", CONFIG_T_DURATION, 0, commit_interval_ns,
	  0, NS_S, NULL, "10ms", ALL,
	  "group commit of the notice journal: outcomes wait at most this long for an fsync"),
	K("store.commit_max_records", "commit-max-records", CONFIG_T_UINT, 0, commit_max_records,
	  1, 1000000, NULL, "1024", ALL, "commit earlier once this many records wait"),
	K("store.checkpoint_interval", "checkpoint-interval", CONFIG_T_DURATION, 0,
	  checkpoint_interval_ns, NS_M, NS_D, NULL, "10m", "serve",
	  "write the store's hint file this often (shorter replay after a crash)"),
	K("store.compact_interval", "compact-interval", CONFIG_T_DURATION, 0,
	  compact_interval_ns, NS_H, 30 * NS_D, NULL, "24h", "serve",
	  "compaction period: unsubscribed numbers are erased from disk within it"),

	K("log.level", "log-level", CONFIG_T_ENUM, 0, log_level, 0, 0, log_levels, "info", ALL,
	  "least severe level logged"),
	K("log.format", "log-format", CONFIG_T_ENUM, 0, log_format, 0, 0, log_formats, "logfmt",
	  ALL, "one line per event: logfmt (key=value) or json"),

	K("slo.confirmation", "confirmation-slo", CONFIG_T_DURATION, 0, confirmation_slo_ns,
	  NS_M, 30 * NS_D, NULL, "48h", "serve",
	  "the public promise for the welcome: older pending confirmations are counted"),
};
#define NKEYS (sizeof keys / sizeof keys[0])
_Static_assert(NKEYS <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX");

const char *const config_env_vars[] = {
	"BANDITORE_WA_TOKEN", "BANDITORE_APP_SECRET", "BANDITORE_VERIFY_TOKEN",
	"BANDITORE_ADMIN_TOKEN", NULL,
};
static const size_t env_off[] = {
	OFF(wa_token), OFF(app_secret), OFF(verify_token), OFF(admin_token),
};

const struct config_key *config_keys(size_t *n)
{
	if (n)
		*n = NKEYS;
	return keys;
}

static int key_index(const char *name)
{
	if (!name)
		return -1;
	if (name[0] == '-' && name[1] == '-')
		name += 2;
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].key, name) == 0 || strcmp(keys[i].flag, name) == 0)
			return (int)i;
	return -1;
}

const struct config_key *config_key_find(const char *name)
{
	int i = key_index(name);
	return i < 0 ? NULL : &keys[i];
}

/* ----------------------------------------------------------------- errors */

/* Where a value came from, for messages: "in x.json", "flag --rate". */
struct origin {
	const char *what;  /* "file", "flag", "default" */
	const char *name;  /* file name or flag */
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* key_err - "config: "api.rate": must be ... (in x.json)" */
static int key_err(char *err, size_t errlen, int rc, const char *path, const struct origin *o,
                   const char *why)
{
	if (!o || strcmp(o->what, "file") == 0)
		errf(err, errlen, "config: \"%s\": %s%s%s%s", path, why, o ? " (in " : "",
		     o ? o->name : "", o ? ")" : "");
	else if (strcmp(o->what, "flag") == 0)
		errf(err, errlen, "config: \"%s\" (--%s): %s", path, o->name, why);
	else
		errf(err, errlen, "config: \"%s\" (%s): %s", path, o->what, why);
	return rc;
}

/* ----------------------------------------------------------------- secrets */

/* secret_env - the environment variable for a key or flag name that looks
 * like a secret, or NULL. Only the last path component is looked at. */
static const char *secret_env(const char *name)
{
	const char *last = strrchr(name, '.');
	last = last ? last + 1 : name;
	while (*last == '-')
		last++;
	char low[128];
	size_t n = 0;
	for (; last[n] && n < sizeof low - 1; n++) {
		char ch = last[n];
		low[n] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : (ch == '-' ? '_' : ch);
	}
	low[n] = '\0';
	static const char *const words[] = {"token", "secret", "password", "passwd", "apikey",
	                                    "api_key", "credential", "bearer", NULL};
	int hit = 0;
	for (size_t i = 0; words[i]; i++)
		if (strstr(low, words[i]))
			hit = 1;
	if (!hit)
		return NULL;
	if (strstr(low, "admin") || strstr(low, "operator") || strstr(low, "bearer"))
		return "BANDITORE_ADMIN_TOKEN";
	if (strstr(low, "verify"))
		return "BANDITORE_VERIFY_TOKEN";
	if (strstr(low, "secret") || strstr(low, "hmac"))
		return "BANDITORE_APP_SECRET";
	return "BANDITORE_WA_TOKEN";
}

static int secret_err(char *err, size_t errlen, const char *path, const struct origin *o,
                      const char *env)
{
	char why[256];
	snprintf(why, sizeof why,
	         "secrets are never read from %s; set %s in the environment instead",
	         o && strcmp(o->what, "flag") == 0 ? "the command line" : "a config file", env);
	return key_err(err, errlen, BND_E_CONFIG_SECRET, path, o, why);
}

/* ------------------------------------------------------------- durations */

int config_parse_duration(const char *s, size_t len, uint64_t *ns)
{
	if (!s || !ns || len == 0)
		return BND_E_CONFIG_VALUE;
	if (len == 1 && s[0] == '0') {
		*ns = 0;
		return 0;
	}
	static const struct {
		const char *u;
		uint64_t mul;
	} units[] = {
		{"ns", 1}, {"us", 1000}, {"ms", NS_MS}, {"s", NS_S},
		{"m", NS_M}, {"h", NS_H}, {"d", NS_D},
	};
	uint64_t total = 0;
	size_t i = 0;
	while (i < len) {
		uint64_t v = 0;
		size_t digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return BND_E_CONFIG_VALUE;
			v = v * 10 + (uint64_t)(s[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0)
			return BND_E_CONFIG_VALUE;
		size_t u0 = i;
		while (i < len && ((s[i] >= 'a' && s[i] <= 'z')))
			i++;
		size_t ulen = i - u0;
		uint64_t mul = 0;
		for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
			if (strlen(units[k].u) == ulen && memcmp(units[k].u, s + u0, ulen) == 0)
				mul = units[k].mul;
		if (mul == 0)
			return BND_E_CONFIG_VALUE;
		if (v != 0 && mul > UINT64_MAX / v)
			return BND_E_CONFIG_VALUE;
		if (total > UINT64_MAX - v * mul)
			return BND_E_CONFIG_VALUE;
		total += v * mul;
	}
	*ns = total;
	return 0;
}

char *config_format_duration(uint64_t ns, char *buf, size_t cap)
{
	static const struct {
		const char *u;
		uint64_t mul;
	} units[] = {
		{"d", NS_D}, {"h", NS_H}, {"m", NS_M}, {"s", NS_S},
		{"ms", NS_MS}, {"us", 1000}, {"ns", 1},
	};
	if (ns == 0) {
		snprintf(buf, cap, "0");
		return buf;
	}
	for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
		/* Days only from a week up: "48h" reads better than "2d". */
		if (units[k].mul == NS_D && ns < 7 * NS_D)
			continue;
		if (ns % units[k].mul == 0) {
			snprintf(buf, cap, "%llu%s", (unsigned long long)(ns / units[k].mul),
			         units[k].u);
			break;
		}
	}
	return buf;
}

/* ------------------------------------------------------ value validation */

/* A parsed value before it is applied. */
struct val {
	uint64_t u;
	bool b;
	int e;
	char *s;   /* bnd_malloc'd, for string types */
};

static void val_free(struct val *v)
{
	bnd_free(v->s);
	v->s = NULL;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* utf8_scan - count code points of s[0..len); -1 when not valid UTF-8 or
 * when a control character other than \n and \t appears (ctl_ok: none
 * allowed when 0). */
static long utf8_scan(const char *s, size_t len, int nl_ok)
{
	long n = 0;
	size_t i = 0;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k =
			utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
		if (k <= 0)
			return -1;
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			if (!(nl_ok && (cp == '\n' || cp == '\t')))
				return -1;
		}
		i += (size_t)k;
		n++;
	}
	return n;
}

static const char *const placeholders[] = {"city", "keyword", "privacy_url", NULL};

/* text_check - placeholders and braces of a message text; NULL when fine,
 * else why (static or in why_buf). */
static const char *text_check(const char *s, size_t len, char *why_buf, size_t why_len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '{') {
			if (i + 1 < len && s[i + 1] == '{') {
				i++;
				continue;
			}
			size_t j = i + 1;
			while (j < len && s[j] != '}' && j - i <= 32)
				j++;
			if (j >= len || s[j] != '}')
				return "has a '{' that opens no placeholder (write {{ for a brace)";
			int ok = 0;
			for (size_t k = 0; placeholders[k]; k++)
				if (strlen(placeholders[k]) == j - i - 1 &&
				    memcmp(placeholders[k], s + i + 1, j - i - 1) == 0)
					ok = 1;
			if (!ok) {
				/* The name is shown: it is at most 32 bytes between braces. */
				snprintf(why_buf, why_len,
				         "unknown placeholder {%.*s} (known: {city}, {keyword}, "
				         "{privacy_url}; write {{ for a brace)",
				         (int)(j - i - 1), s + i + 1);
				return why_buf;
			}
			i = j;
		} else if (s[i] == '}') {
			if (i + 1 < len && s[i + 1] == '}') {
				i++;
				continue;
			}
			return "has a lone '}' (write }} for a brace)";
		}
	}
	return NULL;
}

static int hostport_ok(const char *s, size_t len)
{
	if (len == 0 || len > 300 || memchr(s, '\0', len))
		return 0;
	char buf[301];
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *colon = strrchr(buf, ':');
	if (!colon || colon == buf)
		return 0;
	*colon = '\0';
	const char *port = colon + 1;
	size_t pl = strlen(port);
	if (pl == 0 || pl > 5)
		return 0;
	unsigned long p = 0;
	for (size_t i = 0; i < pl; i++) {
		if (!is_digit(port[i]))
			return 0;
		p = p * 10 + (unsigned long)(port[i] - '0');
	}
	if (p > 65535)
		return 0;
	unsigned char addr[16];
	if (buf[0] == '[') {
		size_t hl = strlen(buf);
		if (hl < 3 || buf[hl - 1] != ']')
			return 0;
		buf[hl - 1] = '\0';
		return inet_pton(AF_INET6, buf + 1, addr) == 1;
	}
	if (strcmp(buf, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* url_check - NULL when fine, else why; *secret set when the URL carries
 * credentials. */
static const char *url_check(const char *s, size_t len, unsigned opts, int *secret)
{
	*secret = 0;
	size_t i;
	if (len >= 7 && memcmp(s, "http://", 7) == 0)
		i = 7;
	else if (len >= 8 && memcmp(s, "https://", 8) == 0)
		i = 8;
	else
		return "must be an http:// or https:// URL";
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)s[k] <= 0x20 || (unsigned char)s[k] >= 0x7f)
			return "must be a URL without spaces or non-ASCII characters (percent-encode them)";
	size_t a = i;
	while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
		i++;
	size_t aend = i;
	if (memchr(s + a, '@', aend - a)) {
		*secret = 1;
		return "must not carry user:password@";
	}
	if (aend == a)
		return "must name a host";
	/* host, optional port */
	size_t h = a, hend = aend;
	if (s[a] == '[') {
		const char *rb = memchr(s + a, ']', aend - a);
		if (!rb)
			return "has an unclosed [IPv6] host";
		hend = (size_t)(rb - s) + 1;
		char v6[64];
		size_t vl = hend - a - 2;
		if (vl == 0 || vl >= sizeof v6)
			return "has a bad [IPv6] host";
		memcpy(v6, s + a + 1, vl);
		v6[vl] = '\0';
		unsigned char addr[16];
		if (inet_pton(AF_INET6, v6, addr) != 1)
			return "has a bad [IPv6] host";
	} else {
		const char *colon = memchr(s + a, ':', aend - a);
		hend = colon ? (size_t)(colon - s) : aend;
		if (hend == h)
			return "must name a host";
		for (size_t k = h; k < hend; k++) {
			char ch = s[k];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
			      ch == '.' || ch == '-'))
				return "has a bad host name";
		}
	}
	if (hend < aend) {
		if (s[hend] != ':' || hend + 1 == aend || aend - hend - 1 > 5)
			return "has a bad port";
		unsigned long p = 0;
		for (size_t k = hend + 1; k < aend; k++) {
			if (!is_digit(s[k]))
				return "has a bad port";
			p = p * 10 + (unsigned long)(s[k] - '0');
		}
		if (p == 0 || p > 65535)
			return "has a port out of 1..65535";
	}
	const char *q = memchr(s + aend, '?', len - aend);
	if (q) {
		char low[2049];
		size_t ql = len - (size_t)(q - s);
		if (ql >= sizeof low)
			ql = sizeof low - 1;
		for (size_t k = 0; k < ql; k++)
			low[k] = (char)((q[k] >= 'A' && q[k] <= 'Z') ? q[k] - 'A' + 'a' : q[k]);
		low[ql] = '\0';
		if (strstr(low, "token") || strstr(low, "secret") || strstr(low, "key=")) {
			*secret = 1;
			return "must not carry a token in its query string";
		}
	}
	if ((opts & CONFIG_O_BASE_URL) && (q || memchr(s + aend, '#', len - aend)))
		return "must be a base URL without ?query or #fragment";
	return NULL;
}

static const char *type_name(enum config_type t)
{
	switch (t) {
	case CONFIG_T_UINT: return "an integer";
	case CONFIG_T_BOOL: return "true or false";
	default: return "a string";
	}
}

/* expect - "must be ..." for a key, in buf. */
static const char *expect(const struct config_key *k, char *buf, size_t len)
{
	char a[32], b[32];
	switch (k->type) {
	case CONFIG_T_UINT:
		snprintf(buf, len, "must be an integer from %llu to %llu",
		         (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case CONFIG_T_BOOL:
		snprintf(buf, len, "must be true or false");
		break;
	case CONFIG_T_DURATION:
		snprintf(buf, len, "must be a duration from %s to %s, like \"500ms\", \"15s\", \"48h\"",
		         config_format_duration(k->min, a, sizeof a),
		         config_format_duration(k->max, b, sizeof b));
		break;
	case CONFIG_T_ENUM: {
		size_t o = (size_t)snprintf(buf, len, "must be one of");
		for (size_t i = 0; k->choices[i] && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s \"%s\"", i ? "," : "",
			                      k->choices[i]);
		break;
	}
	case CONFIG_T_HOSTPORT:
		snprintf(buf, len, "must be HOST:PORT (an IPv4 address, [IPv6] or localhost; "
		                   "port 0..65535)");
		break;
	case CONFIG_T_URL:
		snprintf(buf, len, "must be an http:// or https:// URL of at most %llu bytes",
		         (unsigned long long)k->max);
		break;
	case CONFIG_T_PATH:
		snprintf(buf, len, "must be a path of 1 to %llu bytes without control characters",
		         (unsigned long long)k->max);
		break;
	case CONFIG_T_TEXT:
		snprintf(buf, len, "must be UTF-8 text of %llu to %llu characters",
		         (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case CONFIG_T_NAME:
		snprintf(buf, len, "must be a template name of 1 to %llu characters a-z, 0-9 and _",
		         (unsigned long long)k->max);
		break;
	case CONFIG_T_LANG:
		snprintf(buf, len, "must be a language code like \"it\" or \"en_US\" (letters and _, "
		                   "2 to 15)");
		break;
	case CONFIG_T_DIGITS:
		snprintf(buf, len, "must be digits only, 1 to %llu of them",
		         (unsigned long long)k->max);
		break;
	case CONFIG_T_VERSION:
		snprintf(buf, len, "must be a Graph API version like \"v25.0\"");
		break;
	case CONFIG_T_WORD:
		snprintf(buf, len, "must be 1 to %llu bytes of letters, digits and spaces",
		         (unsigned long long)k->max);
		break;
	case CONFIG_T_LABEL:
		snprintf(buf, len, "must be one line of %llu to %llu characters without braces",
		         (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	}
	return buf;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = bnd_malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/*
 * parse_str - validate a value given as a string (flag, default, or a JSON
 * string for string-typed keys) into v. Returns 0, BND_E_CONFIG_VALUE,
 * BND_E_CONFIG_SECRET or BND_E_NOMEM, with err filled.
 */
static int parse_str(const struct config_key *k, const char *s, size_t len, struct val *v,
                     const struct origin *o, char *err, size_t errlen)
{
	char why[320], exp[256];
	const char *bad = NULL;
	memset(v, 0, sizeof *v);
	if (memchr(s, '\0', len))
		return key_err(err, errlen, BND_E_CONFIG_VALUE, k->key, o, "must not contain NUL");
	switch (k->type) {
	case CONFIG_T_UINT: {
		uint64_t x = 0;
		if (len == 0 || len > 20)
			goto bad_value;
		for (size_t i = 0; i < len; i++) {
			if (!is_digit(s[i]) || x > (UINT64_MAX - 9) / 10)
				goto bad_value;
			x = x * 10 + (uint64_t)(s[i] - '0');
		}
		if (x < k->min || x > k->max) {
			snprintf(why, sizeof why, "%s, got %llu", expect(k, exp, sizeof exp),
			         (unsigned long long)x);
			return key_err(err, errlen, BND_E_CONFIG_VALUE, k->key, o, why);
		}
		v->u = x;
		return 0;
	}
	case CONFIG_T_BOOL: {
		static const char *const yes[] = {"true", "yes", "on", "1", NULL};
		static const char *const no[] = {"false", "no", "off", "0", NULL};
		for (size_t i = 0; yes[i]; i++) {
			if (strlen(yes[i]) == len && strncasecmp(yes[i], s, len) == 0) {
				v->b = true;
				return 0;
			}
			if (strlen(no[i]) == len && strncasecmp(no[i], s, len) == 0) {
				v->b = false;
				return 0;
			}
		}
		goto bad_value;
	}
	case CONFIG_T_DURATION: {
		uint64_t ns;
		if (config_parse_duration(s, len, &ns) != 0 || ns < k->min || ns > k->max)
			goto bad_value;
		v->u = ns;
		return 0;
	}
	case CONFIG_T_ENUM:
		for (size_t i = 0; k->choices[i]; i++) {
			if (strlen(k->choices[i]) == len && memcmp(k->choices[i], s, len) == 0) {
				v->e = (int)i;
				return 0;
			}
		}
		goto bad_value;
	case CONFIG_T_HOSTPORT:
		if (!hostport_ok(s, len))
			goto bad_value;
		break;
	case CONFIG_T_URL: {
		int secret = 0;
		if (len < k->min || len > k->max)
			goto bad_value;
		bad = url_check(s, len, k->opts, &secret);
		if (secret) {
			snprintf(why, sizeof why, "%s: secrets come only from the environment "
			         "(BANDITORE_WA_TOKEN and the others, docs/CONFIG.md)", bad);
			return key_err(err, errlen, BND_E_CONFIG_SECRET, k->key, o, why);
		}
		if (bad)
			break;
		if ((k->opts & CONFIG_O_BASE_URL) && s[len - 1] == '/')
			len--;
		break;
	}
	case CONFIG_T_PATH:
		if (len < k->min || len > k->max || utf8_scan(s, len, 0) < 0)
			goto bad_value;
		break;
	case CONFIG_T_TEXT: {
		long n = utf8_scan(s, len, 1);
		if (n < 0) {
			bad = "must be valid UTF-8 without control characters (\\n and \\t are allowed)";
			break;
		}
		if ((uint64_t)n < k->min || (uint64_t)n > k->max || len > CONFIG_TEXT_MAX)
			goto bad_value;
		bad = text_check(s, len, why, sizeof why);
		break;
	}
	case CONFIG_T_LABEL: {
		long n = utf8_scan(s, len, 0);
		if (n < 0 || (uint64_t)n < k->min || (uint64_t)n > k->max || memchr(s, '{', len) ||
		    memchr(s, '}', len))
			goto bad_value;
		break;
	}
	case CONFIG_T_NAME:
		if (len < k->min || len > k->max)
			goto bad_value;
		for (size_t i = 0; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || is_digit(s[i]) || s[i] == '_'))
				goto bad_value;
		break;
	case CONFIG_T_LANG:
		if (len < k->min || len > k->max)
			goto bad_value;
		for (size_t i = 0; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
				goto bad_value;
		break;
	case CONFIG_T_DIGITS:
		if (len < k->min || len > k->max)
			goto bad_value;
		for (size_t i = 0; i < len; i++)
			if (!is_digit(s[i]))
				goto bad_value;
		break;
	case CONFIG_T_VERSION: {
		/* v<1..3 digits>.<1..3 digits> */
		size_t i = 1, d1 = 0, d2 = 0;
		if (len < k->min || len > k->max || s[0] != 'v')
			goto bad_value;
		while (i < len && is_digit(s[i]))
			i++, d1++;
		if (i >= len || s[i] != '.')
			goto bad_value;
		i++;
		while (i < len && is_digit(s[i]))
			i++, d2++;
		if (i != len || d1 < 1 || d1 > 3 || d2 < 1 || d2 > 3)
			goto bad_value;
		break;
	}
	case CONFIG_T_WORD: {
		int alnum = 0;
		size_t i = 0;
		if (len < k->min || len > k->max)
			goto bad_value;
		while (i < len) {
			utf8proc_int32_t cp;
			utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
			                                      (utf8proc_ssize_t)(len - i), &cp);
			if (n <= 0)
				goto bad_value;
			utf8proc_category_t cat = utf8proc_category(cp);
			int letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
			int digit = cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
			int mark = cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
			if (letter || digit)
				alnum = 1;
			else if (!mark && cp != ' ')
				goto bad_value;
			i += (size_t)n;
		}
		if (!alnum)
			goto bad_value;
		break;
	}
	}
	if (bad) {
		snprintf(why, sizeof why, "%s", bad);
		return key_err(err, errlen, BND_E_CONFIG_VALUE, k->key, o, why);
	}
	v->s = dup_n(s, len);
	if (!v->s)
		return BND_E_NOMEM;
	return 0;

bad_value:
	return key_err(err, errlen, BND_E_CONFIG_VALUE, k->key, o, expect(k, exp, sizeof exp));
}

static const char *json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* parse_json - validate a JSON value for key k. */
static int parse_json(const struct config_key *k, const json_t *j, struct val *v,
                      const struct origin *o, char *err, size_t errlen)
{
	char why[320], exp[256];
	memset(v, 0, sizeof *v);
	switch (k->type) {
	case CONFIG_T_UINT: {
		if (!json_is_integer(j))
			break;
		json_int_t x = json_integer_value(j);
		if (x < 0 || (uint64_t)x < k->min || (uint64_t)x > k->max) {
			snprintf(why, sizeof why, "%s, got %lld", expect(k, exp, sizeof exp),
			         (long long)x);
			return key_err(err, errlen, BND_E_CONFIG_VALUE, k->key, o, why);
		}
		v->u = (uint64_t)x;
		return 0;
	}
	case CONFIG_T_BOOL:
		if (!json_is_boolean(j))
			break;
		v->b = json_is_true(j);
		return 0;
	default:
		if (!json_is_string(j))
			break;
		return parse_str(k, json_string_value(j), json_string_length(j), v, o, err, errlen);
	}
	snprintf(why, sizeof why, "%s (%s), got %s", expect(k, exp, sizeof exp), type_name(k->type),
	         json_type_name(j));
	return key_err(err, errlen, BND_E_CONFIG_TYPE, k->key, o, why);
}

/* --------------------------------------------------------------- applying */

static void apply(struct config *c, size_t i, struct val *v, enum config_source src)
{
	const struct config_key *k = &keys[i];
	char *base = (char *)c;
	switch (k->type) {
	case CONFIG_T_UINT:
	case CONFIG_T_DURATION:
		*(uint64_t *)(base + k->off) = v->u;
		break;
	case CONFIG_T_BOOL:
		*(bool *)(base + k->off) = v->b;
		break;
	case CONFIG_T_ENUM:
		*(int *)(base + k->off) = v->e;
		break;
	default: {
		char **p = (char **)(base + k->off);
		bnd_free(*p);
		*p = v->s;
		v->s = NULL;
		break;
	}
	}
	c->src_[i] = (uint8_t)src;
}

static void wipe_free(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		bnd_free(*p);
		*p = NULL;
	}
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == CONFIG_T_UINT || keys[i].type == CONFIG_T_DURATION ||
		    keys[i].type == CONFIG_T_BOOL || keys[i].type == CONFIG_T_ENUM)
			continue;
		char **p = (char **)((char *)c + keys[i].off);
		bnd_free(*p);
		*p = NULL;
	}
	for (size_t i = 0; config_env_vars[i]; i++)
		wipe_free((char **)((char *)c + env_off[i]));
	memset(c, 0, sizeof *c);
}

int config_defaults(struct config *c)
{
	if (!c)
		return BND_E_INVAL;
	memset(c, 0, sizeof *c);
	struct origin o = {"default", ""};
	for (size_t i = 0; i < NKEYS; i++) {
		struct val v;
		int rc = parse_str(&keys[i], keys[i].def, strlen(keys[i].def), &v, &o, NULL, 0);
		if (rc != 0) {
			config_free(c);
			/* A default that does not validate is a bug caught by the
			 * unit test; NOMEM is the only outside cause. */
			return rc == BND_E_NOMEM ? rc : BND_E_INVAL;
		}
		apply(c, i, &v, CONFIG_SRC_DEFAULT);
	}
	return 0;
}

int config_source(const struct config *c, const char *key)
{
	int i = key_index(key);
	return (i < 0 || !c) ? -1 : c->src_[i];
}

/* ------------------------------------------------------------- unknown keys */

/* Edit distance of two short strings (capped), for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	size_t prev[64], cur[64];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
	}
	return prev[lb];
}

static int unknown_err(char *err, size_t errlen, const char *path, const struct origin *o,
                       int by_flag)
{
	size_t best = 99, bi = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t d = edit_distance(path, by_flag ? keys[i].flag : keys[i].key);
		if (d < best) {
			best = d;
			bi = i;
		}
	}
	char why[200];
	if (best <= 2)
		snprintf(why, sizeof why, "unknown key (did you mean \"%s\"?)",
		         by_flag ? keys[bi].flag : keys[bi].key);
	else
		snprintf(why, sizeof why, "unknown key (docs/CONFIG.md lists every key)");
	if (by_flag) {
		errf(err, errlen, "config: --%s: %s", path, why);
		return BND_E_CONFIG_UNKNOWN;
	}
	return key_err(err, errlen, BND_E_CONFIG_UNKNOWN, path, o, why);
}

/* -------------------------------------------------------------- the flags */

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
	if (!c || !key || !value) {
		errf(err, errlen, "config: missing key or value");
		return BND_E_INVAL;
	}
	const char *name = key[0] == '-' && key[1] == '-' ? key + 2 : key;
	int i = key_index(name);
	struct origin o = {"flag", name};
	if (i < 0) {
		const char *env = secret_env(name);
		if (env)
			return secret_err(err, errlen, name, &o, env);
		return unknown_err(err, errlen, name, &o, strchr(name, '.') == NULL);
	}
	o.name = keys[i].flag;
	struct val v;
	int rc = parse_str(&keys[i], value, strlen(value), &v, &o, err, errlen);
	if (rc != 0)
		return rc;
	apply(c, (size_t)i, &v, CONFIG_SRC_FLAG);
	return 0;
}

/* --------------------------------------------------------------- the file */

struct pending {
	size_t n;
	size_t idx[CONFIG_KEYS_MAX];
	struct val v[CONFIG_KEYS_MAX];
};

/* is_group - 1 when path is a proper prefix of some key at a '.' boundary. */
static int is_group(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < NKEYS; i++)
		if (strncmp(keys[i].key, path, n) == 0 && keys[i].key[n] == '.')
			return 1;
	return 0;
}

static int walk(const json_t *obj, const char *prefix, struct pending *pd,
                const struct origin *o, char *err, size_t errlen)
{
	const char *name;
	json_t *val;
	json_object_foreach((json_t *)obj, name, val) {
		char path[160];
		size_t nl = strlen(name);
		if (nl == 0 || nl > 64 || memchr(name, '\0', nl) || utf8_scan(name, nl, 0) < 0) {
			return key_err(err, errlen, BND_E_CONFIG_UNKNOWN, *prefix ? prefix : "(top)",
			               o, "has a member with an empty, overlong or unprintable name");
		}
		snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
		if (strchr(name, '.'))
			return key_err(err, errlen, BND_E_CONFIG_UNKNOWN, path, o,
			               "unknown key (write groups as nested objects: "
			               "{\"api\": {\"rate\": 80}})");
		int i = key_index(path);
		if (i >= 0 && strcmp(keys[i].key, path) == 0) {
			int rc = parse_json(&keys[i], val, &pd->v[pd->n], o, err, errlen);
			if (rc != 0)
				return rc;
			pd->idx[pd->n++] = (size_t)i;
			continue;
		}
		if (is_group(path)) {
			if (!json_is_object(val)) {
				char why[128];
				snprintf(why, sizeof why, "must be an object (a group of keys), got %s",
				         json_type_name(val));
				return key_err(err, errlen, BND_E_CONFIG_TYPE, path, o, why);
			}
			int rc = walk(val, path, pd, o, err, errlen);
			if (rc != 0)
				return rc;
			continue;
		}
		const char *env = secret_env(path);
		if (env)
			return secret_err(err, errlen, path, o, env);
		return unknown_err(err, errlen, path, o, 0);
	}
	return 0;
}

/* find_secret - refuse a secret-looking member name anywhere in the file,
 * even inside an unknown group, so the message says "use the environment"
 * rather than "unknown key". Depth is bounded (NEST_MAX): the recursion
 * must not depend on how deep a hostile file nests. */
#define NEST_MAX 32

static int find_secret(const json_t *j, const char *prefix, int depth, const struct origin *o,
                       char *err, size_t errlen)
{
	if (depth > NEST_MAX)
		return key_err(err, errlen, BND_E_CONFIG_SYNTAX, prefix, o,
		               "nests deeper than 32 levels");
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach((json_t *)j, i, v) {
			int rc = find_secret(v, prefix, depth + 1, o, err, errlen);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	if (!json_is_object(j))
		return 0;
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)j, name, v) {
		char path[160];
		snprintf(path, sizeof path, "%s%s%.64s", prefix, *prefix ? "." : "", name);
		const char *env = secret_env(name);
		if (env)
			return secret_err(err, errlen, path, o, env);
		int rc = find_secret(v, path, depth + 1, o, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int config_load_json(struct config *c, const char *text, size_t len, const char *origin,
                     char *err, size_t errlen)
{
	if (!c || (!text && len)) {
		errf(err, errlen, "config: invalid arguments");
		return BND_E_INVAL;
	}
	const char *on = origin ? origin : "config";
	if (len > CONFIG_FILE_MAX) {
		errf(err, errlen, "config: %s: larger than %u bytes", on, CONFIG_FILE_MAX);
		return BND_E_CONFIG_SYNTAX;
	}
	json_error_t je;
	json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		errf(err, errlen, "config: %s: line %d, column %d: %s", on, je.line, je.column,
		     je.text);
		return BND_E_CONFIG_SYNTAX;
	}
	int rc = 0;
	if (!json_is_object(root)) {
		errf(err, errlen, "config: %s: must be one JSON object, got %s", on,
		     json_type_name(root));
		rc = BND_E_CONFIG_SYNTAX;
		goto out_root;
	}
	struct pending *pd = bnd_calloc(1, sizeof *pd);
	if (!pd) {
		rc = BND_E_NOMEM;
		goto out_root;
	}
	struct origin o = {"file", on};
	rc = find_secret(root, "", 0, &o, err, errlen);
	if (rc == 0)
		rc = walk(root, "", pd, &o, err, errlen);
	if (rc == 0) {
		for (size_t k = 0; k < pd->n; k++) {
			size_t i = pd->idx[k];
			if (c->src_[i] == CONFIG_SRC_FLAG)
				continue;  /* flags override the file */
			apply(c, i, &pd->v[k], CONFIG_SRC_FILE);
		}
	}
	for (size_t k = 0; k < pd->n; k++)
		val_free(&pd->v[k]);
	bnd_free(pd);
out_root:
	json_decref(root);
	return rc;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	if (!c || !path) {
		errf(err, errlen, "config: no file name");
		return BND_E_INVAL;
	}
	int rc = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "config: %s: %s", path, strerror(-rc));
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		errf(err, errlen, "config: %s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = BND_E_CONFIG_SYNTAX;
		errf(err, errlen, "config: %s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)CONFIG_FILE_MAX) {
		rc = BND_E_CONFIG_SYNTAX;
		errf(err, errlen, "config: %s: larger than %u bytes", path, CONFIG_FILE_MAX);
		goto out;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	buf = bnd_malloc(cap);
	if (!buf) {
		rc = BND_E_NOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			/* The file grew while we read it: refuse rather than chase it. */
			rc = BND_E_CONFIG_SYNTAX;
			errf(err, errlen, "config: %s: changed while being read", path);
			goto out;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			errf(err, errlen, "config: %s: %s", path, strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	rc = config_load_json(c, buf, len, path, err, errlen);
out:
	bnd_free(buf);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------ environment */

int config_load_env(struct config *c)
{
	if (!c)
		return BND_E_INVAL;
	for (size_t i = 0; config_env_vars[i]; i++) {
		char **p = (char **)((char *)c + env_off[i]);
		const char *v = getenv(config_env_vars[i]);
		char *copy = NULL;
		if (v && *v) {
			copy = dup_n(v, strlen(v));
			if (!copy)
				return BND_E_NOMEM;
		}
		wipe_free(p);
		*p = copy;
	}
	return 0;
}

/* ------------------------------------------------------------- rendering */

int config_render(const struct config *c, const char *text, char *buf, size_t cap)
{
	if (!c || !text || !buf || cap == 0)
		return BND_E_INVAL;
	size_t o = 0;
	for (const char *p = text; *p;) {
		const char *ins = NULL;
		size_t ilen = 0, adv = 1;
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			ins = p;
			ilen = 1;
			adv = 2;
		} else if (p[0] == '{') {
			const char *end = strchr(p, '}');
			size_t n = end ? (size_t)(end - p - 1) : 0;
			if (end && n == 4 && memcmp(p + 1, "city", 4) == 0)
				ins = c->city;
			else if (end && n == 7 && memcmp(p + 1, "keyword", 7) == 0)
				ins = c->keyword;
			else if (end && n == 11 && memcmp(p + 1, "privacy_url", 11) == 0)
				ins = c->privacy_url;
			else
				return BND_E_CONFIG_VALUE;
			ins = ins ? ins : "";
			ilen = strlen(ins);
			adv = n + 2;
		} else if (p[0] == '}') {
			return BND_E_CONFIG_VALUE;
		} else {
			ins = p;
			ilen = 1;
		}
		if (o + ilen >= cap)
			return BND_E_RANGE;
		memcpy(buf + o, ins, ilen);
		o += ilen;
		p += adv;
	}
	buf[o] = '\0';
	return (int)o;
}

int config_check(const struct config *c, char *err, size_t errlen)
{
	if (!c)
		return BND_E_INVAL;
	char *buf = bnd_malloc(CONFIG_RENDER_MAX);
	if (!buf)
		return BND_E_NOMEM;
	int rc = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type != CONFIG_T_TEXT)
			continue;
		const char *t = *(char *const *)((const char *)c + keys[i].off);
		int n = config_render(c, t ? t : "", buf, CONFIG_RENDER_MAX);
		long chars = n >= 0 ? utf8_scan(buf, (size_t)n, 1) : -1;
		if (n < 0 || chars < 0 || chars > CONFIG_TEXT_MAX_CHARS) {
			char why[160];
			snprintf(why, sizeof why,
			         "is longer than %d characters once {city}, {keyword} and "
			         "{privacy_url} are filled in", CONFIG_TEXT_MAX_CHARS);
			rc = key_err(err, errlen, BND_E_CONFIG_VALUE, keys[i].key, NULL, why);
			goto out;
		}
		if ((t == c->welcome || t == c->help_text) && !strstr(t, "{privacy_url}") &&
		    !strstr(t, "://")) {
			rc = key_err(err, errlen, BND_E_CONFIG_VALUE, keys[i].key, NULL,
			             "must include the privacy-policy link ({privacy_url})");
			goto out;
		}
	}
	if (c->retry_base_ns > c->retry_cap_ns) {
		rc = key_err(err, errlen, BND_E_CONFIG_VALUE, "api.retry_base", NULL,
		             "must not exceed api.retry_cap");
		goto out;
	}
	if (c->connect_timeout_ns > c->request_timeout_ns) {
		rc = key_err(err, errlen, BND_E_CONFIG_VALUE, "api.connect_timeout", NULL,
		             "must not exceed api.request_timeout");
		goto out;
	}
out:
	bnd_free(buf);
	return rc;
}

uint64_t config_burst(const struct config *c)
{
	if (c->burst)
		return c->burst;
	uint64_t b = c->rate / 20;
	return b ? b : 1;
}

uint64_t config_expiry_ns(const struct config *c, const char *category)
{
	static const char *const names[CONFIG_CAT_COUNT] = {"emergency", "disruption",
	                                                    "deadline", "event", "info"};
	for (size_t i = 0; i < CONFIG_CAT_COUNT; i++)
		if (category && strcmp(names[i], category) == 0)
			return c->expiry_ns[i];
	return 0;
}

/* ---------------------------------------------------------------- the dump */

static json_t *value_json(const struct config *c, const struct config_key *k)
{
	const char *base = (const char *)c;
	char b[32];
	switch (k->type) {
	case CONFIG_T_UINT:
		return json_integer((json_int_t) * (const uint64_t *)(base + k->off));
	case CONFIG_T_DURATION:
		return json_string(
			config_format_duration(*(const uint64_t *)(base + k->off), b, sizeof b));
	case CONFIG_T_BOOL:
		return json_boolean(*(const bool *)(base + k->off));
	case CONFIG_T_ENUM:
		return json_string(k->choices[*(const int *)(base + k->off)]);
	default: {
		const char *s = *(char *const *)(base + k->off);
		return json_string(s ? s : "");
	}
	}
}

/* set_path - root["a"]["b"]["c"] = v, creating groups; steals v. */
static int set_path(json_t *root, const char *path, json_t *v)
{
	char buf[160];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *obj = root;
	char *p = buf;
	for (char *dot; (dot = strchr(p, '.')); p = dot + 1) {
		*dot = '\0';
		json_t *next = json_object_get(obj, p);
		if (!next) {
			next = json_object();
			if (!next || json_object_set_new(obj, p, next) != 0) {
				json_decref(v);
				return BND_E_NOMEM;
			}
		}
		obj = next;
	}
	return json_object_set_new(obj, p, v) == 0 ? 0 : BND_E_NOMEM;
}

int config_dump_json(const struct config *c, unsigned flags, char **out)
{
	static const char *const src_names[] = {"default", "file", "flag"};
	if (!c || !out)
		return BND_E_INVAL;
	*out = NULL;
	int rc = BND_E_NOMEM;
	char *s = NULL;
	json_t *root = json_object();
	if (!root)
		return BND_E_NOMEM;
	for (size_t i = 0; i < NKEYS; i++) {
		json_t *v = value_json(c, &keys[i]);
		if (!v || set_path(root, keys[i].key, v) != 0)
			goto out;
	}
	if (flags & CONFIG_DUMP_SOURCES) {
		json_t *srcs = json_object();
		if (!srcs || json_object_set_new(root, "sources", srcs) != 0)
			goto out;
		for (size_t i = 0; i < NKEYS; i++)
			if (json_object_set_new(srcs, keys[i].key,
			                        json_string(src_names[c->src_[i] % 3])) != 0)
				goto out;
	}
	if (flags & CONFIG_DUMP_SECRETS) {
		json_t *env = json_object();
		if (!env || json_object_set_new(root, "environment", env) != 0)
			goto out;
		for (size_t i = 0; config_env_vars[i]; i++) {
			const char *v = *(char *const *)((const char *)c + env_off[i]);
			if (json_object_set_new(env, config_env_vars[i],
			                        json_string(v ? "(set, redacted)" : "(unset)")) != 0)
				goto out;
		}
	}
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		goto out;
	size_t n = strlen(s);
	*out = bnd_malloc(n + 2);
	if (!*out)
		goto out;
	memcpy(*out, s, n);
	(*out)[n] = '\n';
	(*out)[n + 1] = '\0';
	rc = 0;
out:
	if (s) {
		json_free_t jfree;
		json_get_alloc_funcs(NULL, &jfree);
		jfree(s);
	}
	json_decref(root);
	return rc;
}
