/*
 * cmd_plan.h - the `banditore plan` subcommand (capacity planning).
 */
#ifndef CMD_PLAN_H
#define CMD_PLAN_H

/*
 * cmd_plan - run `banditore plan`. argv[0] is the subcommand name ("plan")
 * and is otherwise ignored; the options follow (see cmd_plan's --help, and
 * PRODUCT.md §2). Global options such as --data are the caller's to strip.
 * Prints the report (or one JSON object with --json) on stdout, errors on
 * stderr. Returns the process exit code: 0 success, 1 runtime failure (the
 * plot could not be written, out of memory), 2 usage or invalid input.
 * Uses getopt_long and resets it (optind = 0) first; not thread-safe.
 */
int cmd_plan(int argc, char **argv);

#endif
