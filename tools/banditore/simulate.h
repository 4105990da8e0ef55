/*
 * simulate.h - `banditore plan --simulate`: run the real sender against a
 * wa-mock configured with the plan's profile and measure the delivery curve,
 * so the model's prediction can be checked against the engine.
 *
 * One call, sim_run, does everything and undoes everything: a private temp
 * directory (0700) with a throwaway store of N synthetic confirmed numbers
 * (the reserved ITU-T country code +999: never a real subscriber; never
 * printed), a wa-mock child process on 127.0.0.1 with a free port
 * (--port-file), the fan-out through fanout_run (the code path of `banditore
 * send`, in this process), sampling of the notice's counters on the
 * sender's loop, then wa-mock stopped by its PID (SIGTERM, then SIGKILL) and
 * the directory removed, on every exit path. wa-mock also gets
 * PR_SET_PDEATHSIG, so it dies with us even if we are killed with -9.
 *
 * Time: as in plan.h, t = 0 is the sender's first request handed to curl
 * (sender_stats.first_send_ns); samples are the loop's CLOCK_MONOTONIC.
 */
#ifndef BANDITORE_SIMULATE_H
#define BANDITORE_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

#define SIM_NUMBER_BASE 999000000000ull  /* +999 000000000: ITU-T reserved code */
#define SIM_PHONE_NUMBER_ID "110000000000001"
#define SIM_MAX_SECONDS_DEFAULT 120.0    /* guard: predicted run time */
#define SIM_MAX_SECONDS_LIMIT 86400.0
#define SIM_MAX_RECIPIENTS_DEFAULT 200000u
#define SIM_MAX_RECIPIENTS_LIMIT 10000000u
#define SIM_TOLERANCE_DEFAULT 0.05
#define SIM_MOCK_START_TIMEOUT_S 10.0    /* wa-mock must listen within this */
#define SIM_ERR_MAX 512

struct sim_opts {
	const char *wa_mock;     /* wa-mock binary (path or name in PATH), required */
	double max_seconds;      /* the run is stopped after max(this, 2 x predicted + 10 s) */
	uint64_t seed;           /* wa-mock's --seed (latency, errors) */
	int progress;            /* show the sender's progress bar on a terminal */
};

/* One sample of the notice's counters: t_s from the first request. */
struct sim_sample {
	double t_s;
	uint64_t accepted;
	uint64_t settled;        /* accepted + failed + skipped: final outcomes */
	uint64_t dispatches;     /* requests (DISPATCHED records), retries included */
};

struct sim_result {
	uint64_t recipients;
	uint64_t accepted, failed, retried, throttled, pair_limited;
	int complete;            /* every recipient settled (the notice is done) */
	int timed_out;           /* stopped by the max-seconds watchdog */
	const char *state;       /* the notice's final state ("done", "paused", ...) */
	double setup_s;          /* temp store and notice creation, wa-mock start */
	double first_request_s;  /* fan-out start to its first request */
	double seconds_to_last_accept;  /* t of the last acceptance; < 0: none */
	double seconds_to_settled;      /* t when every recipient settled; < 0: never */
	double sample_interval_s;
	double mean_window_used;  /* window slots held, mean over 10%..90% accepted */
	double mean_in_curl;      /* of which inside curl (on the wire) */
	struct sim_sample *samples;     /* t ascending; owned (sim_result_free) */
	size_t nsamples;
	char mock_args[384];     /* how wa-mock was configured (flags, no secrets) */
};

/*
 * sim_check - whether the plan r can be simulated: a whole --rate of at
 * least 1 msg/s, at most max_recipients recipients and a predicted time to
 * the last recipient of at most max_seconds. Returns 0, or -1 with a
 * one-sentence reason (naming the flag that allows more) in err.
 */
int sim_check(const struct plan_result *r, double max_seconds, uint64_t max_recipients,
              char *err, size_t errlen);

/*
 * sim_run - run the simulation of plan r (r must pass sim_check). Fills
 * *out (sim_result_free it, also on failure). Returns 0 when the fan-out
 * ran (complete or not: see out->complete, out->timed_out, out->state);
 * otherwise a negative code with a one-line explanation in err (wa-mock
 * missing or not starting, temp dir, store, notice or sender failure).
 * Prints one line on stderr when wa-mock is up (what is being simulated).
 */
int sim_run(const struct plan_result *r, const struct sim_opts *o, struct sim_result *out,
            char *err, size_t errlen);

void sim_result_free(struct sim_result *res);

/*
 * sim_coverage_at - the measured coverage (accepted / N) at t_s: the last
 * sample at or before t_s. Returns -1 when t_s is past the run's end and
 * the run was not complete (unknown); the final coverage past the end of a
 * complete run.
 */
double sim_coverage_at(const struct sim_result *res, double t_s);

/* sim_time_to - the first sample time with accepted >= coverage x N; -1 if never. */
double sim_time_to(const struct sim_result *res, double coverage);

/* One row of the predicted-versus-measured table. */
enum sim_kind { SIM_SECONDS, SIM_RATE, SIM_FRACTION, SIM_COUNT, SIM_MILLIS };

struct sim_row {
	const char *key;         /* JSON key: the plan field it compares */
	const char *label;       /* the report's words */
	enum sim_kind kind;
	double predicted;        /* NAN: not defined (e.g. 90% never reached) */
	double measured;         /* NAN: not measured (past the end of an incomplete run) */
	double rel;              /* (measured - predicted) / predicted; NAN: undefined */
	int verdict;             /* counts for the agreement verdict */
};

#define SIM_ROWS 10

/*
 * sim_compare - fill rows[SIM_ROWS]: time to the last recipient settled,
 * to 50% and 90% of N accepted, the throughput between 10% and 90% (N x
 * 0.8 / (t90 - t10), the same definition on both sides), coverage at 1, 5,
 * 15 minutes and final, retries, and the dispatch overhead (measured: the
 * mean window slots held / requests per second - mean latency). The verdict rows are the three times and
 * the throughput: returns 1 when every one of them is defined on both sides
 * and within tolerance (relative), else 0; *max_rel and *worst (may be
 * NULL) get the largest verdict difference and its row.
 */
int sim_compare(const struct plan_result *r, const struct sim_result *res, double tolerance,
                struct sim_row rows[SIM_ROWS], double *max_rel, const struct sim_row **worst);

/*
 * sim_find_wa_mock - the wa-mock to run: explicit (a flag) if given, else
 * $BANDITORE_WA_MOCK, else "wa-mock" in the directory of this executable,
 * else "wa-mock" in PATH. Writes the path into buf. Returns 0, or -1 when
 * none is found or the explicit one is not executable (err says where it
 * looked).
 */
int sim_find_wa_mock(const char *explicit_path, char *buf, size_t cap, char *err,
                     size_t errlen);

#endif
