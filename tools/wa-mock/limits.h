/*
 * limits.h - the API limits wa-mock enforces (reference §3):
 *   throughput per phone-number-id (--rate, 80/s by default)   -> 130429
 *   pair rate per recipient (--pair-rate per minute, burst)    -> 131056
 *   messaging tier: unique recipients per rolling window      -> --tier-code
 *
 * All three are GCRA / windows in integer nanoseconds. Time is a parameter:
 * nothing here reads a clock, so unit tests move time by hand.
 */
#ifndef WAMOCK_LIMITS_H
#define WAMOCK_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "recip.h"

/*
 * GCRA (generic cell rate algorithm) state: one theoretical arrival time.
 * A request at now conforms when now >= tat - tau; committing it moves tat
 * to max(now, tat) + period. period = 1/rate, tau = (burst - 1) * period.
 * Visible so callers can embed it; fields are private.
 */
struct gcra {
	uint64_t tat;
};

/* gcra_peek - 1 when a request at now conforms, else 0. Pure. */
int gcra_peek(const struct gcra *g, uint64_t now_ns, uint64_t tau_ns);

/* gcra_commit - account one request at now (whether or not it conformed). */
void gcra_commit(struct gcra *g, uint64_t now_ns, uint64_t period_ns);

struct limits_conf {
	double rate;             /* messages/s per phone-number-id; 0 = no limit */
	uint32_t rate_burst;     /* requests allowed at once; 0 = one second's worth */
	double pair_per_min;     /* messages/min per recipient; 0 = no limit */
	uint32_t pair_burst;     /* messages allowed at once to one recipient (>= 1) */
	uint32_t tier;           /* unique recipients per window; 0 = unlimited */
	uint64_t tier_window_ns; /* the rolling window (24 h) */
};

struct limits;

/*
 * limits_open - limits as c says (copied). Returns 0, BND_E_INVAL for an
 * impossible configuration (negative rates, a zero window with a tier) or
 * BND_E_NOMEM.
 */
int limits_open(struct limits **out, const struct limits_conf *c);

/* limits_close - free; sets *p to NULL; accepts NULL. */
void limits_close(struct limits **p);

/*
 * limits_throughput - count one request to phone-number-id pnid (bytes
 * pnid[0..len), len <= 64) at now. Returns 1 when it conforms (and commits
 * it), 0 when the number is over its rate (nothing committed). Ids past the
 * table's 256 distinct ones share one bucket. Thread-safe.
 */
int limits_throughput(struct limits *l, const uint8_t *pnid, size_t len, uint64_t now_ns);

/*
 * limits_pair_ok - 1 when one more message to e conforms to the pair rate
 * at now; limits_pair_commit accounts it. The caller holds e's stripe.
 */
int limits_pair_ok(const struct limits *l, const struct recip_entry *e, uint64_t now_ns);
void limits_pair_commit(const struct limits *l, struct recip_entry *e, uint64_t now_ns);

/*
 * limits_tier_admit - admit a message to e under the messaging tier at now:
 * 1 when e is already inside the window or the window has room (e enters
 * it, committed), 0 when the window is full. A recipient stays counted for
 * tier_window from its first message in the window, like a conversation.
 * The caller holds e's stripe; the tier has its own lock, taken inside.
 * Always 1 with no tier.
 */
int limits_tier_admit(struct limits *l, struct recip_entry *e, uint64_t now_ns);

/* limits_tier_used - recipients currently counted in the window at now. */
uint64_t limits_tier_used(struct limits *l, uint64_t now_ns);

#endif
