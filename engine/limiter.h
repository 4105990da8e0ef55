/*
 * limiter.h - sending limits of one business phone number, in integer
 * nanoseconds with time always passed in (only the loop reads the clock):
 *
 *  - struct limiter: GCRA rate + burst, adaptive. On 130429 the rate is cut
 *    multiplicatively (x0.7, with a floor) and sending pauses (Retry-After
 *    when given, else 1 s); then it climbs back along a CUBIC-like concave
 *    curve to the rate where it was throttled, and probes linearly above it
 *    up to the configured rate. Raising the configured rate
 *    (limiter_set_rate) is seen at once.
 *  - struct limiter_pair: per-recipient spacing (pair rate, 131056): a small
 *    fixed-size hash of recently sent recipients with their next allowed time;
 *    131056 makes only that recipient wait 4^X s (1, 4, 16, 64, 256 s).
 *  - limiter_backoff_ns: exponential retry backoff with jitter from a seeded
 *    RNG the caller owns (tests are deterministic).
 *  - limiter_tier_check: the daily unique-recipient messaging-limit tier.
 *
 * Not thread-safe: one limiter per loop thread.
 */
#ifndef LIMITER_H
#define LIMITER_H

#include <stdint.h>

#define LIMITER_NS_PER_S 1000000000ull

/* Tuning, with reasons:
 * BETA 7/10: AWS SDK adaptive retry and CUBIC use 0.7; halving (AIMD)
 *   over-corrects at 1,000/s where a 130429 means "a little too fast".
 * PAUSE 1 s: the reference's first retry delay for 130429; the error stops
 *   as soon as the rate is back under the limit.
 * RECOVER 10 s: time to climb back to the rate that was throttled (CUBIC's
 *   K); ten 1-s windows of the API's per-second accounting.
 * PROBE 5%/s of the configured rate above that point, so a raised API
 *   limit is found within ~20 s.
 * FLOOR 1/s (or the configured rate if lower): never stop entirely. */
#define LIMITER_BETA_NUM 7u
#define LIMITER_BETA_DEN 10u
#define LIMITER_PAUSE_NS (1 * LIMITER_NS_PER_S)
#define LIMITER_RETRY_AFTER_MAX_NS (600 * LIMITER_NS_PER_S)
#define LIMITER_RECOVER_NS (10 * LIMITER_NS_PER_S)
#define LIMITER_PROBE_PCT 5u
#define LIMITER_FLOOR_MILLI 1000u

/* Visible for embedding; every field is private to limiter.c. */
struct limiter {
	uint64_t tat;            /* GCRA theoretical arrival time */
	uint64_t interval;       /* emission interval T at the current rate; 0 = unlimited */
	uint64_t tau;            /* burst tolerance: (burst - 1) * T */
	uint64_t pause_until;    /* no sends before this */
	uint64_t epoch;          /* recovery curve starts here (end of the pause) */
	uint64_t last_cut;       /* time of the last decrease; 0 = never */
	uint64_t cfg_milli;      /* configured rate, 1/1000 msg/s; 0 = unlimited */
	uint64_t rate_milli;     /* current rate */
	uint64_t wmax_milli;     /* rate at the last 130429 */
	uint64_t wmin_milli;     /* rate right after it */
	uint32_t burst;
	uint32_t recovering;     /* 1 while below the configured rate */
	uint64_t cuts;           /* decreases so far */
	uint64_t throttles;      /* 130429s reported */
};

/*
 * limiter_init - rate_per_s messages per second (0 = no limit, the
 * benchmark's "limiter off"), burst messages allowed back to back (>= 1; 0
 * is taken as 1). The first message may go at now_ns.
 */
void limiter_init(struct limiter *l, uint32_t rate_per_s, uint32_t burst, uint64_t now_ns);

/*
 * limiter_set_rate - change the configured rate and burst (operator, or a
 * THROUGHPUT_UPGRADE webhook). Higher: used at once unless the limiter is
 * recovering from 130429, in which case the recovery continues up to the new
 * rate. Lower: the current rate is clamped at once. 0 = no limit.
 */
void limiter_set_rate(struct limiter *l, uint32_t rate_per_s, uint32_t burst, uint64_t now_ns);

/*
 * limiter_take - 1 when a message may be sent at now_ns (and it is counted),
 * 0 when not yet (see limiter_next_ns).
 */
int limiter_take(struct limiter *l, uint64_t now_ns);

/*
 * limiter_next_ns - the earliest time >= now_ns at which limiter_take will
 * succeed (now_ns when it would succeed now). For the loop's wait deadline.
 */
uint64_t limiter_next_ns(struct limiter *l, uint64_t now_ns);

/*
 * limiter_ahead_ns - the earliest time >= now_ns at which limiter_take would
 * succeed once more after n further takes made each at its earliest time
 * (n = 0: limiter_next_ns). At the current rate (a recovery climbing during
 * the wait makes the true time a little earlier). Counts nothing; for
 * deciding how many requests to prepare ahead of the tokens that send them.
 */
uint64_t limiter_ahead_ns(struct limiter *l, uint32_t n, uint64_t now_ns);

/*
 * limiter_throttled - a 130429 arrived at now_ns for a request sent at
 * sent_ns; retry_after_ns is the response's Retry-After (0 = none; capped at
 * LIMITER_RETRY_AFTER_MAX_NS). Pauses sending, and cuts the rate once per
 * round trip: a throttle for a request sent before the last cut only extends
 * the pause (a full window of 130429s is one signal, not 64).
 */
void limiter_throttled(struct limiter *l, uint64_t now_ns, uint64_t sent_ns,
                       uint64_t retry_after_ns);

/* limiter_rate_milli - the current rate in 1/1000 msg/s at now_ns (0 =
 * unlimited); for metrics and tests. */
uint64_t limiter_rate_milli(struct limiter *l, uint64_t now_ns);

/* ------------------------------------------------------------ pair rate */

struct limiter_pair;

#define LIMITER_PAIR_PROBE 8           /* slots probed per lookup */
#define LIMITER_PAIR_BACKOFF_MAX_X 4   /* 4^4 = 256 s at most */
#define LIMITER_PAIR_FORGET_NS (900 * LIMITER_NS_PER_S)  /* hits forgotten after 15 min */

/*
 * limiter_pair_open - a table of about `capacity` recipients (rounded up to
 * a power of two, at least 64). gap_ns: minimum spacing between two
 * messages to one recipient (0 = only 131056 backoffs are kept; the
 * reference's pair rate is ~6 s). Memory is fixed (32 bytes a slot): when
 * the probe window of a number is full of live entries, the entry with the
 * earliest next time is replaced (losing the least: that number's gap).
 * A number the table has not seen is never delayed. Size it for rate x gap
 * live numbers (the sender does). Returns 0, BND_E_INVAL or BND_E_NOMEM.
 */
int limiter_pair_open(struct limiter_pair **out, uint32_t capacity, uint64_t gap_ns);
void limiter_pair_close(struct limiter_pair **p);

/* limiter_pair_next_ns - earliest time >= now_ns a message to number
 * (packed, phone.h) may be sent. */
uint64_t limiter_pair_next_ns(struct limiter_pair *p, uint64_t number, uint64_t now_ns);

/* limiter_pair_sent - a message to number was accepted at now_ns: keep the
 * gap and reset its 131056 backoff. */
void limiter_pair_sent(struct limiter_pair *p, uint64_t number, uint64_t now_ns);

/* limiter_pair_throttled - 131056 for number at now_ns: it waits 4^X s,
 * X = 0, 1, 2... for consecutive hits (capped). Returns the wait in ns. */
uint64_t limiter_pair_throttled(struct limiter_pair *p, uint64_t number, uint64_t now_ns);

/* ------------------------------------------------------ backoff with jitter */

/* A splitmix64 generator; the caller seeds it (fixed seeds in tests). */
struct limiter_rng {
	uint64_t s;
};

void limiter_rng_seed(struct limiter_rng *r, uint64_t seed);
uint64_t limiter_rng_next(struct limiter_rng *r);

/*
 * limiter_backoff_ns - wait before retry number `attempt` (0 = first retry):
 * d = min(cap_ns, base_ns * 2^attempt), result uniform in [d/2, d] ("equal
 * jitter": spread out, yet never less than half). The reference's transient
 * policy is base 1 s, cap 60 s.
 */
uint64_t limiter_backoff_ns(unsigned attempt, uint64_t base_ns, uint64_t cap_ns,
                            struct limiter_rng *r);

/* ------------------------------------------------------ messaging-limit tier */

/*
 * limiter_tier_check - can `audience` more unique recipients be messaged
 * today under a tier of `tier` unique users per moving 24 h (0 = unlimited),
 * `unique_24h` having been used already? Returns 0 when they fit, or
 * BND_E_LIM_TIER (warn before sending: the excess will be refused by the
 * API). *room_out (may be NULL) gets the remaining room (UINT64_MAX when
 * unlimited).
 */
int limiter_tier_check(uint64_t tier, uint64_t unique_24h, uint64_t audience,
                       uint64_t *room_out);

/* limiter_tier_next - the tier above (250 -> 2,000 -> 10,000 -> 100,000 ->
 * 0 = unlimited); 0 stays 0. */
uint64_t limiter_tier_next(uint64_t tier);

#endif
