/*
 * faults.h - wa-mock's seeded decisions: which requests fail and how, how
 * long each answer waits, and the hash every other seeded choice of the
 * mock is drawn from.
 *
 * Reproducibility: no decision reads a random number generator with hidden
 * state. Each one is a pure function of (seed, a request sequence number or
 * a recipient, a purpose tag), so the same seed and the same order of
 * requests give the same outcomes whatever the thread timing (see
 * docs/WA-MOCK.md, "Reproducibility").
 */
#ifndef WAMOCK_FAULTS_H
#define WAMOCK_FAULTS_H

#include <stddef.h>
#include <stdint.h>

/* Purpose tags: one independent stream of decisions per purpose. */
enum faults_tag {
	FAULTS_TAG_MIX = 1,     /* which error-mix entry, if any */
	FAULTS_TAG_BURST,       /* whether a window of requests is a 5xx burst */
	FAULTS_TAG_LATENCY,     /* latency draw, first uniform */
	FAULTS_TAG_LATENCY2,    /* latency draw, second uniform (log-normal) */
	FAULTS_TAG_NOWA,        /* whether a recipient is "not on WhatsApp" */
	FAULTS_TAG_WAMID,       /* random bytes of a wamid */
	FAULTS_TAG_TRACE,       /* fbtrace_id of an error */
	FAULTS_TAG_WEBHOOK,     /* webhook plan of an accepted message (base) */
};

/*
 * faults_hash - a 64-bit mix of (seed, a, b): splitmix64's finaliser applied
 * twice. Pure, thread-safe. Equal inputs give equal outputs on every run.
 */
uint64_t faults_hash(uint64_t seed, uint64_t a, uint64_t b);

/* faults_unit - a hash turned into a double uniform in [0, 1). */
double faults_unit(uint64_t h);

/* What an error-mix entry does to the request it picks. */
enum faults_kind {
	FAULTS_CODE,            /* answer with an API error code (sync or async) */
	FAULTS_RESET,           /* reset the connection before accepting: nothing recorded */
	FAULTS_RESET_ACCEPTED,  /* accept and record, then reset instead of answering */
	FAULTS_STALL,           /* accept and record, answer only after stall_ms */
};

struct faults_entry {
	enum faults_kind kind;
	int code;               /* FAULTS_CODE: the error code */
	int async;              /* FAULTS_CODE: 1 = 200 + wamid, then a failed webhook */
	double p;               /* probability per request */
};

#define FAULTS_MAX_ENTRIES 32

/* The fault profile of a run. Plain data, filled by faults_parse_mix and
 * the CLI; read-only once the server runs. */
struct faults_profile {
	uint64_t seed;
	struct faults_entry mix[FAULTS_MAX_ENTRIES];
	int nmix;
	double burst_p;          /* probability that a window is a 5xx burst */
	uint32_t burst_len;      /* requests per window; 0 = no bursts */
	int burst_code;          /* code answered during a burst (131000) */
	/* latency: uniform in [lat_min_ns, lat_max_ns], or log-normal with the
	 * given median and 99th percentile when lognormal is set */
	uint64_t lat_min_ns, lat_max_ns;
	int lognormal;
	double ln_mu, ln_sigma;  /* of the log-normal, in log-nanoseconds */
	uint64_t lat_cap_ns;     /* upper bound of any latency draw */
	uint64_t stall_ns;       /* how late a stalled answer comes */
};

/*
 * faults_default_async - 1 when code usually arrives asynchronously in the
 * real API (131026, 131047, 131049, 131050: reference §2), else 0.
 */
int faults_default_async(int code);

/*
 * faults_parse_mix - parse an error-mix spec into prof->mix (appending).
 * Grammar (comma-separated items):
 *   CODE:P[:sync|:async]   an API error code with probability P
 *   reset:P                connection reset before acceptance
 *   reset-accepted:P       accepted and recorded, then the connection reset
 *   stall:P                accepted and recorded, answered after --stall-ms
 *   burst:P:LEN[:CODE]     5xx bursts (see faults_pick)
 * P is a decimal in [0, 1]; the probabilities of the non-burst items must
 * sum to at most 1. Reads at most len bytes.
 * Returns 0, BND_E_WAMOCK_SPEC on a malformed item (*bad_at is then the
 * byte offset of the item when bad_at is not NULL) or BND_E_WAMOCK_FULL
 * past FAULTS_MAX_ENTRIES items.
 */
int faults_parse_mix(struct faults_profile *prof, const char *spec, size_t len,
                     size_t *bad_at);

/*
 * faults_set_lognormal - latency drawn from a log-normal distribution with
 * median p50_ms and 99th percentile p99_ms (p99_ms >= p50_ms > 0).
 * Returns 0 or BND_E_INVAL.
 */
int faults_set_lognormal(struct faults_profile *prof, double p50_ms, double p99_ms);

/*
 * faults_pick - the fault for request number seq, or NULL for none.
 * Bursts first: the requests are cut into windows of burst_len by seq, and
 * a whole window is a burst with probability burst_p. Otherwise one uniform
 * draw walks the mix's cumulative probabilities. Pure. The returned pointer
 * is into prof, or is burst_out (caller's storage, filled with a FAULTS_CODE entry carrying
 * burst_code) during a burst.
 */
const struct faults_entry *faults_pick(const struct faults_profile *prof, uint64_t seq,
                                       struct faults_entry *burst_out);

/* faults_latency_ns - the simulated latency of request seq. Pure. */
uint64_t faults_latency_ns(const struct faults_profile *prof, uint64_t seq);

#endif
