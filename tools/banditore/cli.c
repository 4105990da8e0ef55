/*
 * cli.c - shared option handling, error printing, logging and store opening
 * for the `banditore` subcommands (see cli.h for the contract).
 *
 * Design notes:
 * - Global options may appear before or after the subcommand (PRODUCT.md
 *   writes both `banditore --data D subscribers count` and `banditore
 *   subscribers --data D count`), so they are lifted out of argv in one pass
 *   before the subcommand parses the rest. A literal "--" ends that pass so
 *   that a value such as `--text -- --data` can still be given.
 * - The tool is the only layer that prints: library code logs through
 *   bnd_log, which lands in cli_log_hook as logfmt lines on stderr.
 * - Opening the store is shared so that every writing subcommand answers a
 *   held lock with the same single line and exit code 3, and every reader
 *   names file and offset on damage.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("banditore: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *usage_cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("banditore: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", usage_cmd);
	return CLI_EXIT_USAGE;
}

int cli_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static const char *level_name(enum bnd_log_level lvl)
{
	switch (lvl) {
	case BND_LOG_DEBUG: return "debug";
	case BND_LOG_INFO: return "info";
	case BND_LOG_WARN: return "warn";
	case BND_LOG_ERROR: return "error";
	}
	return "?";
}

void cli_log_hook(enum bnd_log_level lvl, const char *module, const char *msg, void *ud)
{
	const enum bnd_log_level *min = ud;
	if (min && lvl < *min)
		return;
	/* One fputs-sized line per message: build it first so that lines from
	 * several threads do not interleave inside stdio. */
	char line[1400];
	size_t n = 0;
	int w = snprintf(line, sizeof line, "level=%s module=%s msg=\"", level_name(lvl),
	                 module ? module : "?");
	if (w < 0)
		return;
	n = (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
	for (const char *p = msg ? msg : ""; *p && n + 4 < sizeof line; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			line[n++] = '\\';
			line[n++] = (char)c;
		} else if (c == '\n') {
			line[n++] = '\\';
			line[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			line[n++] = '?';
		} else {
			line[n++] = (char)c;
		}
	}
	line[n++] = '"';
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

static int parse_level(const char *s, enum bnd_log_level *out)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum bnd_log_level)i;
			return 0;
		}
	}
	return -1;
}

/*
 * Match "--name VALUE" or "--name=VALUE" at argv[i]. Returns 0 (no match),
 * 1 (matched "--name=V": one argument used), 2 (matched "--name V": two), or
 * -1 (matched but the value is missing).
 */
static int match_valued(int argc, char **argv, int i, const char *name, const char **val)
{
	size_t nl = strlen(name);
	if (strncmp(argv[i], name, nl) != 0)
		return 0;
	if (argv[i][nl] == '=') {
		*val = argv[i] + nl + 1;
		return 1;
	}
	if (argv[i][nl] != '\0')
		return 0;
	if (i + 1 >= argc)
		return -1;
	*val = argv[i + 1];
	return 2;
}

int cli_parse_global(int *argc, char **argv, struct cli_global *g)
{
	int n = *argc, out = 1, i = 1;
	while (i < n) {
		const char *a = argv[i], *val = NULL;
		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--json") == 0) {
			g->json = 1;
			i++;
			continue;
		}
		static const char *valued[] = { "--data", "--config", "--log-level" };
		int used = 0, which = -1;
		for (int k = 0; k < 3 && used == 0; k++) {
			used = match_valued(n, argv, i, valued[k], &val);
			which = k;
		}
		if (used < 0) {
			cli_error("option %s needs a value", valued[which]);
			return CLI_EXIT_USAGE;
		}
		if (used == 0) {
			argv[out++] = argv[i++];
			continue;
		}
		if (val[0] == '\0') {
			cli_error("option %s needs a non-empty value", valued[which]);
			return CLI_EXIT_USAGE;
		}
		if (which == 0) {
			g->data_dir = val;
		} else if (which == 1) {
			g->config_path = val;
		} else if (parse_level(val, &g->log_level) != 0) {
			cli_error("--log-level must be debug, info, warn or error");
			return CLI_EXIT_USAGE;
		}
		i += used;
	}
	while (i < n)
		argv[out++] = argv[i++];
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int cli_load_config(struct cli_global *g)
{
	if (!g->config_path)
		return 0;
	json_error_t err;
	json_t *root = json_load_file(g->config_path, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		cli_error("config %s: %s (line %d, column %d)", g->config_path, err.text,
		          err.line, err.column);
		return CLI_EXIT_USAGE;
	}
	if (!json_is_object(root)) {
		cli_error("config %s: the top level must be a JSON object", g->config_path);
		json_decref(root);
		return CLI_EXIT_USAGE;
	}
	g->config = root;
	return 0;
}

void cli_free_config(struct cli_global *g)
{
	json_decref(g->config);
	g->config = NULL;
}

uint64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *cli_secret(const char *env_name)
{
	const char *v = getenv(env_name);
	return v && v[0] ? v : NULL;
}

static int is_damage(int rc)
{
	return rc <= BND_E_STORE_MAGIC && rc >= BND_E_STORE_MISMATCH;
}

uint64_t cli_start_ns;

int cli_store_open(struct store **out, const struct cli_global *g, const char *what,
                   int write, int create, struct store_open_info *info)
{
	struct store_open_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof *info);

	/* The store adds " (pid N)" when it writes the lock file. */
	char holder[200];
	snprintf(holder, sizeof holder, "banditore %s", what);
	struct store_opts opts = {
		.flags = write ? (create ? STORE_CREATE : 0u) : STORE_RDONLY,
		.holder = holder,
	};
	*out = NULL;
	int rc = store_open(out, g->data_dir, &opts, info);
	if (rc == 0) {
		/* A writer's repair is an event to report; a reader only skips
		 * the torn tail (verify reports it in its own words). */
		if (write && info->tail_dropped_bytes > 0)
			cli_error("repaired a torn tail: dropped %llu bytes after the last "
			          "complete record (an interrupted write)",
			          (unsigned long long)info->tail_dropped_bytes);
		return CLI_EXIT_OK;
	}
	if (rc == BND_E_LOCKED) {
		cli_error("%s is locked by %s; while it runs, use the operator API of "
		          "`banditore serve` (POST /v1/... on its --listen address) instead",
		          g->data_dir, info->lock_holder[0] ? info->lock_holder : "another process");
		return CLI_EXIT_LOCKED;
	}
	if (rc == BND_E_NOTFOUND) {
		cli_error("no subscriber store in %s (create one with `banditore subscribers "
		          "import FILE`, or pass --data DIR)", g->data_dir);
		return CLI_EXIT_FAIL;
	}
	if (is_damage(rc)) {
		cli_error("damaged store: %s in %s/%s at offset %llu", bnd_strerror(rc),
		          g->data_dir, info->err_file[0] ? info->err_file : "?",
		          (unsigned long long)info->err_offset);
		return CLI_EXIT_FAIL;
	}
	cli_error("cannot open the store in %s: %s", g->data_dir, bnd_strerror(rc));
	return CLI_EXIT_FAIL;
}

int cli_json_print(json_t *obj)
{
	if (!obj) {
		cli_error("out of memory building the JSON report");
		return CLI_EXIT_FAIL;
	}
	int rc = json_dumpf(obj, stdout, JSON_COMPACT);
	json_decref(obj);
	if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		cli_error("cannot write the report: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

json_t *cli_json_pack(const char *fmt, ...)
{
	va_list ap;
	json_error_t err;
	va_start(ap, fmt);
	json_t *j = json_vpack_ex(&err, 0, fmt, ap);
	va_end(ap);
	if (!j)
		cli_error("cannot build the JSON report: %s", err.text);
	return j;
}
