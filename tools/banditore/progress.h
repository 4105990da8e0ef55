/*
 * progress.h - fan-out progress for `banditore send` and `resume` on
 * stderr: a live one-line bar (accepted, failed, in flight, rate, ETA)
 * redrawn in place when stderr is a terminal, a plain line every few
 * seconds otherwise (logs, CI). Never prints a phone number.
 *
 * The rate is measured over the last PROGRESS_RATE_WINDOW_S seconds of
 * samples (final outcomes per second), so a throttling pause shows at once
 * and the ETA follows the current pace, not the average since the start.
 */
#ifndef BANDITORE_PROGRESS_H
#define BANDITORE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#define PROGRESS_SAMPLES 64
#define PROGRESS_RATE_WINDOW_S 5
#define PROGRESS_PLAIN_EVERY_S 5   /* plain lines at most this often */

struct progress {
	FILE *out;
	int tty;              /* redraw in place */
	int drawn;            /* a bar is on the screen (tty) */
	uint64_t last_plain_ns;
	uint64_t t_ns[PROGRESS_SAMPLES];
	uint64_t done[PROGRESS_SAMPLES];
	unsigned n, head;
};

/* What one update shows. */
struct progress_view {
	const char *notice_id;
	uint64_t recipients;
	uint64_t accepted, failed, skipped, expired;
	uint64_t remaining;
	uint64_t in_flight;
	uint64_t rate_limit_milli;  /* the limiter's current rate; 0 = unlimited */
};

/* progress_init - out is where to print (stderr); tty: isatty(fileno(out)),
 * or forced. */
void progress_init(struct progress *p, FILE *out, int tty);

/* progress_update - record a sample at now_ns (monotonic) and print (tty:
 * always; plain: at most every PROGRESS_PLAIN_EVERY_S seconds). */
void progress_update(struct progress *p, const struct progress_view *v, uint64_t now_ns);

/* progress_rate - outcomes per second over the recent window; 0 when unknown. */
double progress_rate(const struct progress *p);

/* progress_end - finish the bar's line (tty) so the report starts clean. */
void progress_end(struct progress *p);

/* progress_fmt_duration - "1:02:03", "4:05" or "17s" into buf (>= 16 bytes). */
const char *progress_fmt_duration(double secs, char *buf, size_t cap);

#endif
