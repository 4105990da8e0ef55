/*
 * config.h - every setting of `banditore serve`, `send` and `resume` in one
 * struct, with its default, its validation, and the three ways to set it:
 *
 *   1. config_defaults     the built-in defaults (PRODUCT.md section 2: with
 *                          no config at all, serve and send work against a
 *                          wa-mock on loopback)
 *   2. config_load_file    a JSON file (--config FILE): grouped objects,
 *                          {"api":{"rate":80}}; unknown keys, wrong types,
 *                          bad values and anything that looks like a secret
 *                          are rejected with the key path named in err
 *   3. config_set          one flag from argv (--rate 80 -> "rate", "80"),
 *                          by flag name or key path
 *   and config_load_env    the four secrets, only from the environment
 *
 * Precedence does not depend on call order: a value set by a flag is never
 * overwritten by config_load_file, whether the file is loaded before or
 * after the flags are applied (each key remembers its source). Flags beat
 * the file, the file beats the defaults. Secrets have their own fields and
 * come only from the environment; config_set and config_load_file refuse
 * them with a message naming the environment variable to use.
 *
 * The keys are data: config_keys() returns the table (key path, flag,
 * type, range, default, help) that the loader, the flag setter, the dump,
 * `--help` and the documentation test all use. docs/CONFIG.md lists every
 * key, and tests/unit/test_config.c fails when one is missing there.
 *
 * Threading: a struct config is filled by one thread at start-up and then
 * only read (any number of threads may read it concurrently).
 */
#ifndef BANDITORE_CONFIG_H
#define BANDITORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bnd.h"

/* Limits of the table and of the values. */
#define CONFIG_KEYS_MAX 80           /* keys in the table (static_assert'ed) */
#define CONFIG_TEXT_MAX_CHARS 4096   /* WhatsApp's text body limit (code points),
                                        also after {placeholders} are filled */
#define CONFIG_TEXT_MAX 16384        /* bytes: 4096 code points of up to 4 bytes */
#define CONFIG_RENDER_MAX (CONFIG_TEXT_MAX + 1)  /* config_render buffer */
#define CONFIG_FILE_MAX (1u << 20)   /* a config file larger than 1 MiB is refused */
#define CONFIG_ERR_MAX 512           /* err buffers of this size never truncate
                                        a message (key paths are short) */

/* Notice categories, in the order of expiry_ns[] (= NOTICE_CAT_* - 1). */
enum config_category {
	CONFIG_CAT_EMERGENCY = 0,
	CONFIG_CAT_DISRUPTION = 1,
	CONFIG_CAT_DEADLINE = 2,
	CONFIG_CAT_EVENT = 3,
	CONFIG_CAT_INFO = 4,
};
#define CONFIG_CAT_COUNT 5

enum config_log_format { CONFIG_LOG_LOGFMT = 0, CONFIG_LOG_JSON = 1 };
enum config_loop { CONFIG_LOOP_AUTO = 0, CONFIG_LOOP_URING = 1, CONFIG_LOOP_EPOLL = 2 };
/* The same values as enum waclient_http. */
enum config_http { CONFIG_HTTP_AUTO = 0, CONFIG_HTTP_CURL = 1, CONFIG_HTTP_NATIVE = 2 };

/* Where a key's current value came from (config_source). */
enum config_source {
	CONFIG_SRC_DEFAULT = 0,
	CONFIG_SRC_FILE = 1,
	CONFIG_SRC_FLAG = 2,
};

/*
 * struct config - the settings. Every char * is owned by the struct
 * (allocated with bnd_malloc, released by config_free) and is never NULL
 * after config_defaults succeeded, except the four secrets, which are NULL
 * when their environment variable is unset or empty. Durations are in
 * nanoseconds (time is always ns in the engine). The JSON key of each field
 * is in the comment; docs/CONFIG.md has ranges and defaults.
 */
struct config {
	char *data;                      /* data */

	char *listen;                    /* serve.listen            HOST:PORT */
	uint64_t http_threads;           /* serve.threads */
	uint64_t max_connections;        /* serve.max_connections */
	uint64_t max_connections_per_ip; /* serve.max_connections_per_ip (0: none) */
	uint64_t idle_timeout_ns;        /* serve.idle_timeout */
	uint64_t body_timeout_ns;        /* serve.body_timeout */
	uint64_t webhook_max_body_bytes; /* serve.webhook_max_body_bytes */
	uint64_t api_max_body_bytes;     /* serve.api_max_body_bytes */

	char *api_base;                  /* api.base   http(s)://host[:port][/path], no '/' at end */
	char *api_version;               /* api.version            "v25.0" */
	char *phone_number_id;           /* api.phone_number_id    digits */
	uint64_t rate;                   /* api.rate               msg/s */
	uint64_t burst;                  /* api.burst              0: auto (config_burst) */
	uint64_t window;                 /* api.window             requests in flight */
	uint64_t connections;            /* api.connections */
	uint64_t request_timeout_ns;     /* api.request_timeout */
	uint64_t connect_timeout_ns;     /* api.connect_timeout */
	uint64_t retry_base_ns;          /* api.retry_base */
	uint64_t retry_cap_ns;           /* api.retry_cap */
	uint64_t retry_budget_ns;        /* api.retry_budget */
	uint64_t pair_interval_ns;       /* api.pair_interval */
	uint64_t tier;                   /* api.tier               0: unlimited */
	int loop;                        /* api.loop               enum config_loop */
	int http;                        /* api.http               enum config_http */

	char *keyword;                   /* city.keyword           "JESI" */
	char *city;                      /* city.name              "Comune di Jesi" */
	char *privacy_url;               /* city.privacy_url */

	char *welcome;                   /* messages.welcome             {placeholders} */
	char *welcome_template;          /* messages.welcome_template    outside 24 h */
	char *welcome_lang;              /* messages.welcome_lang */
	char *already_subscribed;        /* messages.already_subscribed */
	char *opt_out_ack;               /* messages.opt_out_ack */
	char *help_text;                 /* messages.help_text */
	bool auto_reply;                 /* messages.auto_reply          off */
	char *auto_reply_text;           /* messages.auto_reply_text */
	uint64_t auto_reply_interval_ns; /* messages.auto_reply_interval at most one per number */

	char *notice_template;           /* notices.template       "notice" */
	char *notice_lang;               /* notices.lang           "it" */
	uint64_t expiry_ns[CONFIG_CAT_COUNT]; /* notices.expiry.<category> */

	uint64_t commit_interval_ns;     /* store.commit_interval */
	uint64_t commit_max_records;     /* store.commit_max_records */
	uint64_t checkpoint_interval_ns; /* store.checkpoint_interval */
	uint64_t compact_interval_ns;    /* store.compact_interval */

	int log_level;                   /* log.level   enum bnd_log_level */
	int log_format;                  /* log.format  enum config_log_format */

	uint64_t confirmation_slo_ns;    /* slo.confirmation   48 h */

	/* Secrets: only from the environment (config_load_env). */
	char *wa_token;                  /* BANDITORE_WA_TOKEN */
	char *app_secret;                /* BANDITORE_APP_SECRET */
	char *verify_token;              /* BANDITORE_VERIFY_TOKEN */
	char *admin_token;               /* BANDITORE_ADMIN_TOKEN */

	/* private to config.c */
	uint8_t src_[CONFIG_KEYS_MAX];   /* enum config_source per key */
};

/* Value types of the key table. */
enum config_type {
	CONFIG_T_UINT,      /* JSON integer; flag: decimal digits */
	CONFIG_T_BOOL,      /* JSON true/false; flag: true/false/yes/no/on/off/1/0 */
	CONFIG_T_DURATION,  /* JSON string "500ms", "15s", "48h", "1h30m", "0" */
	CONFIG_T_ENUM,      /* one of the key's choices */
	CONFIG_T_HOSTPORT,  /* "HOST:PORT": IPv4 literal, [IPv6] or localhost; port 0..65535 */
	CONFIG_T_URL,       /* http:// or https:// URL, no user:password@ */
	CONFIG_T_PATH,      /* a file system path */
	CONFIG_T_TEXT,      /* a message text: UTF-8, {city} {keyword} {privacy_url} */
	CONFIG_T_NAME,      /* a template name: [a-z0-9_] */
	CONFIG_T_LANG,      /* a language code: [A-Za-z_], "it", "en_US" */
	CONFIG_T_DIGITS,    /* an id made of digits (phone-number-id) */
	CONFIG_T_VERSION,   /* a Graph API version: v<major>.<minor> */
	CONFIG_T_WORD,      /* the keyword: UTF-8 letters, digits, spaces */
	CONFIG_T_LABEL,     /* one line of UTF-8 text without braces (city.name) */
};

/* struct config_key.opts */
#define CONFIG_O_BASE_URL 1u  /* URL: no query or fragment; a final '/' is dropped */

/*
 * struct config_key - one row of the key table (static, read-only).
 *   key      JSON path, groups joined by '.', e.g. "api.rate"
 *   flag     the command-line flag without "--", e.g. "rate"
 *   min/max  UINT: the value range; DURATION: range in ns; string types:
 *            length range (TEXT: code points, others: bytes)
 *   choices  ENUM: NULL-terminated list, index = stored int value
 *   def      the default, written as a flag value (parsed at config_defaults)
 *   used_by  which subcommands read it: "serve", "serve send resume"...
 *   opts     CONFIG_O_* bits
 *   help     one sentence for --help and the docs
 */
struct config_key {
	const char *key;
	const char *flag;
	enum config_type type;
	unsigned opts;
	size_t off;
	uint64_t min, max;
	const char *const *choices;
	const char *def;
	const char *used_by;
	const char *help;
};

/* config_keys - the table, in documentation order; *n gets its length.
 * Static storage; never NULL. */
const struct config_key *config_keys(size_t *n);

/* config_key_find - the row whose key path ("api.rate") or flag ("rate",
 * "--rate") is name; NULL when there is none. */
const struct config_key *config_key_find(const char *name);

/* The environment variables of the secrets, NULL-terminated, static. */
extern const char *const config_env_vars[];

/*
 * config_defaults - fill c with the defaults (any previous content is
 * ignored, not freed: call it on a fresh struct, or config_free first).
 * Returns 0 or BND_E_NOMEM (c is then freed and zeroed, safe to free again).
 */
int config_defaults(struct config *c);

/*
 * config_free - release every string (secrets are wiped first) and zero c.
 * Accepts a zeroed struct; safe to call twice.
 */
void config_free(struct config *c);

/*
 * config_load_file - apply a JSON config file over c (which holds defaults,
 * and maybe flags already: keys set by a flag keep the flag's value, but
 * the file's value is still validated). The file is one JSON object of
 * groups (see docs/CONFIG.md); duplicate keys are an error. Every key of
 * the file is checked before anything is applied: on failure c is
 * unchanged.
 *   err   gets one line naming the key path and what is expected, e.g.
 *         config: "api.rate": must be an integer from 1 to 100000, got 0 (in x.json)
 *         (string values are never echoed: they might be a number or a token)
 * Returns 0; -errno of open/read (err says which file); BND_E_CONFIG_SYNTAX
 * (not JSON, with line and column; not an object; not a regular file;
 * larger than CONFIG_FILE_MAX; nested deeper than 32 levels);
 * BND_E_CONFIG_UNKNOWN (no such key, or a dotted member name); BND_E_CONFIG_TYPE
 * (wrong JSON type); BND_E_CONFIG_VALUE (out of range or bad shape);
 * BND_E_CONFIG_SECRET (a key that looks like a secret); BND_E_NOMEM.
 */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/*
 * config_load_json - config_load_file on a JSON text in memory (len bytes,
 * no NUL needed); origin names it in messages ("file x.json", "stdin").
 * Same returns.
 */
int config_load_json(struct config *c, const char *text, size_t len, const char *origin,
                     char *err, size_t errlen);

/*
 * config_set - set one key from a flag's value, e.g. ("rate", "80"),
 * ("--api-base", "http://..."), or by key path ("api.rate", "80").
 * The key is marked as set by a flag (a later config_load_file keeps it).
 * Durations take the same strings as the file; booleans also accept
 * yes/no/on/off/1/0. On failure c is unchanged.
 * Returns 0, BND_E_CONFIG_UNKNOWN, BND_E_CONFIG_VALUE, BND_E_CONFIG_SECRET
 * (e.g. "token": use the environment), BND_E_INVAL (NULL args), BND_E_NOMEM.
 */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);

/*
 * config_load_env - read BANDITORE_WA_TOKEN, BANDITORE_APP_SECRET,
 * BANDITORE_VERIFY_TOKEN and BANDITORE_ADMIN_TOKEN (empty = unset) into the
 * secret fields, replacing what they held. Returns 0 or BND_E_NOMEM.
 */
int config_load_env(struct config *c);

/*
 * config_check - the checks that involve several keys, run once every
 * source is applied: every message text fits CONFIG_TEXT_MAX_CHARS after
 * its placeholders are filled; the welcome and the help text carry the
 * privacy-policy link ({privacy_url} or a URL); retry_base <= retry_cap.
 * Returns 0 or BND_E_CONFIG_VALUE (err names the key).
 */
int config_check(const struct config *c, char *err, size_t errlen);

/* config_source - where key's value came from; -1 for an unknown key. */
int config_source(const struct config *c, const char *key);

/*
 * config_render - a message text with its placeholders filled: {city},
 * {keyword}, {privacy_url}; "{{" and "}}" are literal braces. buf gets
 * NUL-terminated UTF-8 (CONFIG_RENDER_MAX is always enough for a text that
 * passed config_check). Returns the length in bytes (>= 0), BND_E_RANGE
 * (does not fit cap), BND_E_CONFIG_VALUE (an unknown placeholder: cannot
 * happen for texts that came through config_set or the file).
 */
int config_render(const struct config *c, const char *text, char *buf, size_t cap);

/* config_burst - api.burst, or when it is 0 (auto) a twentieth of the rate
 * (50 ms of sending, the reference's suggested burst tolerance), >= 1. */
uint64_t config_burst(const struct config *c);

/* config_expiry_ns - notices.expiry.<category> by category name
 * ("emergency"...); 0 for an unknown name. */
uint64_t config_expiry_ns(const struct config *c, const char *category);

/*
 * config_parse_duration - "500ms", "15s", "5m", "48h", "7d", "1h30m",
 * "250us", "0"; units ns, us, ms, s, m, h, d; at least one unit unless the
 * value is 0. For --expires and the like. Reads at most len bytes.
 * Returns 0 and *ns, or BND_E_CONFIG_VALUE (bad shape, or above ~584 years).
 */
int config_parse_duration(const char *s, size_t len, uint64_t *ns);

/* config_format_duration - ns as the shortest exact form config_parse_duration
 * reads back ("48h", "1500ms", "0"). buf of at least 32 bytes. Returns buf. */
char *config_format_duration(uint64_t ns, char *buf, size_t cap);

/* Flags of config_dump_json. */
#define CONFIG_DUMP_SECRETS 1u  /* add "environment": which secrets are set
                                   (values always redacted; not loadable) */
#define CONFIG_DUMP_SOURCES 2u  /* add "sources": key -> "default"|"file"|"flag" */

/*
 * config_dump_json - the settings as a JSON object of groups, indented,
 * in table order. Without flags the output is a valid config file that
 * config_load_file reads back to the same settings. Secret values never
 * appear in it. *out is allocated with bnd_malloc (release with bnd_free).
 * Returns 0, BND_E_NOMEM.
 */
int config_dump_json(const struct config *c, unsigned flags, char **out);

#endif
