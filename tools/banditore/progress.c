/*
 * progress.c - the progress bar and plain progress lines of send/resume.
 *
 * Samples (time, final outcomes) go into a small ring; the rate is the
 * slope between the newest sample and the oldest one inside the last
 * PROGRESS_RATE_WINDOW_S seconds. The bar is drawn with '\r' and "erase to
 * end of line" only when stderr is a terminal; otherwise one plain line
 * every PROGRESS_PLAIN_EVERY_S seconds keeps logs readable.
 */
#include "progress.h"

#include <string.h>

#define NS_S 1000000000ull
#define BAR_WIDTH 24

void progress_init(struct progress *p, FILE *out, int tty)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	p->tty = tty;
}

double progress_rate(const struct progress *p)
{
	if (p->n < 2)
		return 0.0;
	unsigned newest = (p->head + PROGRESS_SAMPLES - 1) % PROGRESS_SAMPLES;
	unsigned oldest = newest;
	for (unsigned k = 1; k < p->n; k++) {
		unsigned i = (newest + PROGRESS_SAMPLES - k) % PROGRESS_SAMPLES;
		if (p->t_ns[newest] - p->t_ns[i] > PROGRESS_RATE_WINDOW_S * NS_S)
			break;
		oldest = i;
	}
	if (oldest == newest || p->t_ns[newest] <= p->t_ns[oldest])
		return 0.0;
	return (double)(p->done[newest] - p->done[oldest]) * 1e9 /
	       (double)(p->t_ns[newest] - p->t_ns[oldest]);
}

const char *progress_fmt_duration(double secs, char *buf, size_t cap)
{
	if (!(secs >= 0) || secs > 99.0 * 3600) {
		snprintf(buf, cap, "--");
		return buf;
	}
	unsigned long s = (unsigned long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		snprintf(buf, cap, "%lu:%02lu", s / 60, s % 60);
	else
		snprintf(buf, cap, "%lus", s);
	return buf;
}

void progress_update(struct progress *p, const struct progress_view *v, uint64_t now_ns)
{
	uint64_t done = v->accepted + v->failed + v->skipped + v->expired;
	p->t_ns[p->head] = now_ns;
	p->done[p->head] = done;
	p->head = (p->head + 1) % PROGRESS_SAMPLES;
	if (p->n < PROGRESS_SAMPLES)
		p->n++;
	double rate = progress_rate(p);
	char eta[24];
	if (rate > 0)
		progress_fmt_duration((double)v->remaining / rate, eta, sizeof eta);
	else
		snprintf(eta, sizeof eta, "--");
	double pct = v->recipients ? 100.0 * (double)done / (double)v->recipients : 100.0;
	if (p->tty) {
		char bar[BAR_WIDTH + 1];
		unsigned fill = (unsigned)(pct * BAR_WIDTH / 100.0);
		for (unsigned i = 0; i < BAR_WIDTH; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[BAR_WIDTH] = 0;
		fprintf(p->out,
		        "\r[%s] %5.1f%%  accepted %llu  failed %llu  in flight %llu  %.0f/s  ETA %s\033[K",
		        bar, pct, (unsigned long long)v->accepted, (unsigned long long)v->failed,
		        (unsigned long long)v->in_flight, rate, eta);
		fflush(p->out);
		p->drawn = 1;
		return;
	}
	if (p->last_plain_ns && now_ns - p->last_plain_ns < PROGRESS_PLAIN_EVERY_S * NS_S)
		return;
	p->last_plain_ns = now_ns;
	fprintf(p->out,
	        "progress: notice %s %.1f%% of %llu: accepted %llu, failed %llu, skipped %llu, "
	        "in flight %llu, %.0f/s, ETA %s\n",
	        v->notice_id ? v->notice_id : "?", pct, (unsigned long long)v->recipients,
	        (unsigned long long)v->accepted, (unsigned long long)v->failed,
	        (unsigned long long)v->skipped, (unsigned long long)v->in_flight, rate, eta);
	fflush(p->out);
}

void progress_end(struct progress *p)
{
	if (p->tty && p->drawn) {
		fputc('\n', p->out);
		fflush(p->out);
	}
	p->drawn = 0;
}
