/*
 * fanout.h - what `banditore send` and `banditore resume` share: the
 * sending flags (through engine/config.h, so flags, the config file and
 * the environment mean the same everywhere), running one notice through
 * engine/sender.h with progress on stderr and SIGINT/SIGTERM handling,
 * the final report, and the exit codes:
 *
 *   0  done: every recipient ended accepted, failed with a reason, or
 *      skipped because they opted out meanwhile
 *   1  a local failure (disk, journal damage, no memory)
 *   2  usage
 *   3  the data directory (or the notice's journal) is locked by another
 *      process (`serve`, another send/resume)
 *   4  stopped by a campaign- or engine-wide API error (template missing or
 *      paused, token invalid...): fix the cause, then `resume`
 *   5  expired: the notice's expiry came with recipients not reached
 *   6  cancelled
 *   7  interrupted by SIGINT/SIGTERM: in-flight requests were waited for
 *      (bounded), the notice is paused and resumable
 */
#ifndef BANDITORE_FANOUT_H
#define BANDITORE_FANOUT_H

#include <stdint.h>

#include "cli.h"
#include "config.h"
#include "journal.h"
#include "sender.h"

enum fanout_exit {
	FANOUT_EXIT_STOPPED = 4,
	FANOUT_EXIT_EXPIRED = 5,
	FANOUT_EXIT_CANCELLED = 6,
	FANOUT_EXIT_INTERRUPTED = 7,
};

/*
 * A tap on a running fan-out, for a caller that embeds it (`plan
 * --simulate` measures the delivery curve through it): called every
 * progress_ns on the sender's loop thread with the notice's report and the
 * loop's time (CLOCK_MONOTONIC). It may call sender_shutdown(s).
 */
typedef void (*fanout_tap_fn)(void *ud, struct sender *s, const struct journal_report *r,
                              uint64_t now_ns);

/* What an embedding caller gets back from fanout_run (fanout_opts.outcome). */
struct fanout_outcome {
	int finished;               /* the sender reported the notice's end */
	struct journal_report rep;  /* its final report (finished) */
	struct sender_stats stats;  /* the sender's counters at the end */
	uint64_t end_ns;            /* CLOCK_MONOTONIC when the notice ended */
};

struct fanout_opts {
	struct config cfg;          /* config_defaults + flags + file + env */
	int rate_unlimited;         /* --rate 0: no limiter (benchmarks) */
	uint64_t uncertain_grace_ns;/* --uncertain-grace */
	uint64_t progress_ns;       /* --progress-interval */
	uint64_t start_ns;          /* CLOCK_MONOTONIC at main() (cli_start_ns) */
	/* Embedding (zero for send/resume): */
	uint32_t max_tries;         /* sender_config.max_tries (0: its default) */
	int quiet;                  /* no report: the caller reports */
	int no_progress;            /* no progress bar or lines either */
	fanout_tap_fn tap;          /* NULL: none */
	void *tap_ud;
	struct fanout_outcome *outcome; /* filled by fanout_run when not NULL */
};

/* fanout_init - defaults; returns 0 or CLI_EXIT_FAIL (no memory). */
int fanout_init(struct fanout_opts *o);
void fanout_free(struct fanout_opts *o);

/*
 * fanout_flag - if argv[*i] is a sending flag, consume it (and its value,
 * advancing *i) and return 1; 0 when it is not one; CLI_EXIT_USAGE (after
 * printing) for a bad value. usage_cmd names the subcommand for messages.
 */
int fanout_flag(struct fanout_opts *o, int argc, char **argv, int *i, const char *usage_cmd);

/*
 * fanout_finish_config - apply --config (flags win), the environment's
 * secrets and the cross-key checks. Returns 0 or CLI_EXIT_USAGE.
 */
int fanout_finish_config(struct fanout_opts *o, const struct cli_global *g,
                         const char *usage_cmd);

/* The sending flags, for --help. */
extern const char fanout_flags_help[];

/*
 * fanout_run - send or resume notice id with the store st (writer, held
 * by the caller, closed by it afterwards), print progress and the report
 * (JSON with g->json; neither with o->quiet), and return the exit code
 * above. o->tap and o->outcome, when set, see the run as described there.
 */
int fanout_run(const struct cli_global *g, struct fanout_opts *o, struct store *st,
               const char *id);

/*
 * fanout_print_report - print a notice's report the way send/resume do
 * (JSON object, or lines) and return the exit code its state implies.
 * first_request_ms < 0: not known (not printed).
 */
int fanout_print_report(const struct cli_global *g, const struct journal_report *r,
                        double first_request_ms);

/* fanout_exit_for - the exit code of a notice's state. */
int fanout_exit_for(enum notice_state st);

/* fanout_mono_ns - CLOCK_MONOTONIC now (tools read the clock). */
uint64_t fanout_mono_ns(void);

#endif
