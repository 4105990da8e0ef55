/*
 * cli.h - what every `banditore` subcommand shares: the global options, the
 * exit codes, error printing, the log hook, the config file and the helpers
 * that open the store the way operators expect (one clear line when another
 * process holds the writer lock, never a wait).
 *
 * Adding a subcommand: write tools/banditore/cmd_<name>.c defining
 *     int cmd_<name>(int argc, char **argv, const struct cli_global *g);
 * and, if <name> is not in the table yet, add one CLI_COMMAND line to the
 * table in main.c. argv[0] is the subcommand's name; the global options
 * (--data, --config, --json, --log-level) have already been removed from
 * argv wherever they appeared, so `banditore subscribers --data D count`
 * and `banditore --data D subscribers count` mean the same thing.
 * The function returns the process exit code (CLI_EXIT_*).
 */
#ifndef BANDITORE_CLI_H
#define BANDITORE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "bnd.h"
#include "store.h"

/* Exit codes: part of the contract scripts rely on. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,     /* the operation failed, or verify found damage */
	CLI_EXIT_USAGE = 2,    /* bad arguments, refused request, not implemented */
	CLI_EXIT_LOCKED = 3,   /* another process holds the data directory's lock */
};

#define CLI_DEFAULT_DATA "./banditore-data"

struct cli_global {
	const char *prog;       /* "banditore" */
	const char *data_dir;   /* --data DIR, default CLI_DEFAULT_DATA */
	const char *config_path;/* --config FILE or NULL */
	json_t *config;         /* the loaded config object (borrowed; owned by
	                           main until exit) or NULL without --config */
	int json;               /* --json: the final report as one JSON object */
	enum bnd_log_level log_level; /* --log-level, default info */
};

/* CLOCK_MONOTONIC (ns) read first thing in main(): the origin of the
 * report's first_request_ms. 0 until main sets it. */
extern uint64_t cli_start_ns;

/* The subcommands of the table in main.c. Each is defined in its own
 * cmd_<name>.c; one that is not linked in yet is reported as "not
 * implemented yet" (see main.c). */
int cmd_serve(int argc, char **argv, const struct cli_global *g);
int cmd_send(int argc, char **argv, const struct cli_global *g);
int cmd_resume(int argc, char **argv, const struct cli_global *g);
int cmd_status(int argc, char **argv, const struct cli_global *g);
int cmd_subscribers(int argc, char **argv, const struct cli_global *g);
int cmd_plan(int argc, char **argv, const struct cli_global *g);

/*
 * cli_error - print "banditore: <message>\n" to stderr. Never print a full
 * phone number through it (use phone_mask).
 */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * cli_usage_error - cli_error, then "Try '<usage_cmd> --help'." on stderr;
 * returns CLI_EXIT_USAGE so that callers can `return cli_usage_error(...)`.
 */
int cli_usage_error(const char *usage_cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cli_is_help - 1 when arg is "--help" or "-h". */
int cli_is_help(const char *arg);

/*
 * cli_log_hook - the bnd_log hook of the binary: one line per message on
 * stderr, "level=warn module=store msg=\"...\"" (logfmt, the message quoted
 * and escaped). ud points at the minimum enum bnd_log_level to print.
 */
void cli_log_hook(enum bnd_log_level lvl, const char *module, const char *msg, void *ud);

/*
 * cli_parse_global - take the global options out of argv (anywhere before a
 * "--" argument) and fill g. argv is compacted in place; *argc is updated.
 * Does not load the config (cli_load_config does).
 * Returns 0, or CLI_EXIT_USAGE after printing the problem.
 */
int cli_parse_global(int *argc, char **argv, struct cli_global *g);

/*
 * cli_load_config - when g->config_path is set, load it with jansson and
 * check that it is a JSON object; g->config then owns one reference that
 * cli_free_config drops. Returns 0, or CLI_EXIT_USAGE after printing the
 * file, line and column of the problem.
 */
int cli_load_config(struct cli_global *g);
void cli_free_config(struct cli_global *g);

/* cli_now_ms - wall-clock milliseconds since the epoch (tools read the clock;
 * library code takes time as a parameter). */
uint64_t cli_now_ms(void);

/*
 * cli_secret - a secret from the environment (BANDITORE_WA_TOKEN, ...):
 * secrets never come from argv. Returns NULL when unset or empty. The
 * pointer is the environment's; do not free it.
 */
const char *cli_secret(const char *env_name);

/*
 * cli_store_open - open the store in g->data_dir for a subcommand, printing
 * every failure as one clear line on stderr:
 *   writer: write = 1; create = 1 also creates the store (0700 dir, 0600
 *   files). A torn tail that the open truncated is reported on stderr.
 *   reader: write = 0 (STORE_RDONLY, works while another process writes;
 *   a torn tail is skipped silently: see info->tail_dropped_bytes).
 * what names the subcommand for the lock file ("subscribers import") and for
 * the message when the lock is held: the holder is named and the operator
 * API of `banditore serve` is offered instead; the call never waits.
 * info (may be NULL) receives what store_open reported.
 * Returns CLI_EXIT_OK and sets *out, or CLI_EXIT_LOCKED (another writer),
 * or CLI_EXIT_FAIL (no store, damage with file and offset, system error).
 */
int cli_store_open(struct store **out, const struct cli_global *g, const char *what,
                   int write, int create, struct store_open_info *info);

/*
 * cli_json_print - print obj as one compact JSON line on stdout and drop the
 * caller's reference. Returns CLI_EXIT_OK, or CLI_EXIT_FAIL when obj is NULL
 * (an allocation failed while building it) or printing fails.
 */
int cli_json_print(json_t *obj);

/*
 * cli_json_pack - json_pack that reports allocation failure: returns NULL
 * after printing an error. The format and arguments are jansson's.
 */
json_t *cli_json_pack(const char *fmt, ...);

#endif
