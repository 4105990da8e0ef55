/*
 * main.c - the `banditore` binary: global options, then one subcommand from
 * the table below (PRODUCT.md §2).
 *
 * The table is the one place that lists subcommands. Each entry names a
 * function cmd_<name> defined in tools/banditore/cmd_<name>.c. The
 * functions are declared weak here, so a subcommand whose file has not been
 * written yet links as a NULL pointer and answers "not implemented yet"
 * with exit code 2; dropping cmd_<name>.c into the folder (the build globs
 * it) is all it takes to implement one of the listed subcommands, and a new
 * subcommand is one more CLI_COMMAND line plus its prototype in cli.h.
 *
 * Order of work: global options are lifted out of argv (anywhere before
 * "--"), the log hook is installed, the config file is loaded and checked,
 * then the subcommand runs with argv[0] = its name and returns the exit
 * code. stdout carries reports only; everything else goes to stderr.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#pragma weak cmd_serve
#pragma weak cmd_send
#pragma weak cmd_resume
#pragma weak cmd_status
#pragma weak cmd_subscribers
#pragma weak cmd_plan

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv, const struct cli_global *g);
	const char *summary;
};

#define CLI_COMMAND(name, summary) { #name, cmd_##name, summary }

static const struct cli_command commands[] = {
	CLI_COMMAND(serve, "run the service: webhook, operator API, metrics, sender"),
	CLI_COMMAND(send, "fan one notice out to every confirmed subscriber and exit"),
	CLI_COMMAND(resume, "finish a fan-out that was interrupted"),
	CLI_COMMAND(status, "progress and outcome of notices"),
	CLI_COMMAND(subscribers, "count, import, remove, verify, compact, export subscribers"),
	CLI_COMMAND(plan, "capacity planning: time to reach everyone under the API's limits"),
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: banditore [--data DIR] [--config FILE] [--json] [--log-level LEVEL]\n"
	        "                 SUBCOMMAND [ARGS...]\n"
	        "\n"
	        "A city's WhatsApp broadcast channel.\n"
	        "\n"
	        "subcommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-12s %s%s\n", commands[i].name, commands[i].summary,
		        commands[i].fn ? "" : " (not implemented yet)");
	fprintf(f,
	        "\n"
	        "global options (accepted before or after the subcommand):\n"
	        "  --data DIR         the data directory (default " CLI_DEFAULT_DATA ")\n"
	        "  --config FILE      a JSON configuration file (an object)\n"
	        "  --json             print the final report as one JSON object on stdout\n"
	        "  --log-level LEVEL  debug, info (default), warn or error; logs go to stderr\n"
	        "  -h, --help         this help; `banditore SUBCOMMAND --help` for each one\n"
	        "\n"
	        "Secrets come from the environment only: BANDITORE_WA_TOKEN,\n"
	        "BANDITORE_APP_SECRET, BANDITORE_VERIFY_TOKEN, BANDITORE_ADMIN_TOKEN.\n"
	        "Exit codes: 0 success, 1 failure or damage found, 2 usage, 3 data\n"
	        "directory locked by another process.\n");
}

int main(int argc, char **argv)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli_start_ns = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
	struct cli_global g = {
		.prog = "banditore",
		.data_dir = CLI_DEFAULT_DATA,
		.log_level = BND_LOG_INFO,
	};
	int rc = cli_parse_global(&argc, argv, &g);
	if (rc != 0)
		return rc;
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argv[1][0] == '-')
		return cli_usage_error("banditore", "unknown option '%s'", argv[1]);

	const struct cli_command *cmd = NULL;
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd)
		return cli_usage_error("banditore", "unknown subcommand '%s'", argv[1]);
	if (!cmd->fn) {
		cli_error("%s: not implemented yet", cmd->name);
		return CLI_EXIT_USAGE;
	}

	bnd_log_set(cli_log_hook, &g.log_level);
	rc = cli_load_config(&g);
	if (rc == 0)
		rc = cmd->fn(argc - 1, argv + 1, &g);
	cli_free_config(&g);
	bnd_log_set(NULL, NULL);
	fflush(stdout);
	return rc;
}
