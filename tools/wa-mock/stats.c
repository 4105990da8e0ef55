/*
 * stats.c - wa-mock's counters and their two renderings (see stats.h).
 *
 * Per-code counts live in a fixed array claimed with compare-and-swap, so
 * a code seen for the first time by two threads at once gets one slot. The
 * rate keeps four one-second buckets; a bucket from an older second is
 * reset by whoever first counts in the new second. Two threads crossing a
 * second boundary together may lose a count or two: this is a gauge for
 * people watching a run, never an input to a test's assertion.
 */
#include "stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RELAXED memory_order_relaxed

void stats_code_add(struct stats_codes *c, int code)
{
	int_fast64_t want = (int_fast64_t)code + 1;
	for (int i = 0; i < STATS_CODES; i++) {
		int_fast64_t cur = atomic_load_explicit(&c->code[i], RELAXED);
		if (cur == 0) {
			int_fast64_t zero = 0;
			if (atomic_compare_exchange_strong(&c->code[i], &zero, want))
				cur = want;
			else
				cur = zero;  /* someone claimed it: the value they stored */
		}
		if (cur == want) {
			atomic_fetch_add_explicit(&c->n[i], 1, RELAXED);
			return;
		}
	}
	atomic_fetch_add_explicit(&c->other, 1, RELAXED);
}

uint64_t stats_code_get(const struct stats_codes *c, int code)
{
	int_fast64_t want = (int_fast64_t)code + 1;
	for (int i = 0; i < STATS_CODES; i++) {
		int_fast64_t cur = atomic_load_explicit(&c->code[i], RELAXED);
		if (cur == 0)
			break;
		if (cur == want)
			return atomic_load_explicit(&c->n[i], RELAXED);
	}
	return 0;
}

static uint64_t codes_total(const struct stats_codes *c)
{
	uint64_t t = atomic_load_explicit(&c->other, RELAXED);
	for (int i = 0; i < STATS_CODES; i++)
		t += atomic_load_explicit(&c->n[i], RELAXED);
	return t;
}

void stats_rate_add(struct stats_rate *r, uint64_t now_ns)
{
	uint64_t sec = now_ns / 1000000000u;
	unsigned i = (unsigned)(sec % 4);
	uint64_t cur = atomic_load_explicit(&r->sec[i], RELAXED);
	if (cur != sec && atomic_compare_exchange_strong(&r->sec[i], &cur, sec))
		atomic_store_explicit(&r->n[i], 0, RELAXED);
	atomic_fetch_add_explicit(&r->n[i], 1, RELAXED);
}

uint64_t stats_rate_get(const struct stats_rate *r, uint64_t now_ns)
{
	uint64_t sec = now_ns / 1000000000u;
	if (sec == 0)
		return 0;
	unsigned i = (unsigned)((sec - 1) % 4);
	if (atomic_load_explicit(&r->sec[i], RELAXED) != sec - 1)
		return 0;
	return atomic_load_explicit(&r->n[i], RELAXED);
}

static void field(struct jw *w, const char *name, uint64_t v)
{
	jw_lit(w, name);
	jw_u64(w, v);
}

static void render_codes(struct jw *w, const struct stats_codes *c)
{
	jw_lit(w, "{");
	int first = 1;
	for (int i = 0; i < STATS_CODES; i++) {
		int_fast64_t code = atomic_load_explicit(&c->code[i], RELAXED);
		if (code == 0)
			break;
		jw_lit(w, first ? "\"" : ",\"");
		jw_i64(w, (int64_t)code - 1);
		jw_lit(w, "\":");
		jw_u64(w, atomic_load_explicit(&c->n[i], RELAXED));
		first = 0;
	}
	uint64_t other = atomic_load_explicit(&c->other, RELAXED);
	if (other) {
		jw_lit(w, first ? "\"other\":" : ",\"other\":");
		jw_u64(w, other);
	}
	jw_lit(w, "}");
}

#define LOAD(x) atomic_load_explicit(&s->x, RELAXED)

void stats_render(const struct stats *s, const struct stats_extra *x, uint64_t now_ns,
                  struct jw *w)
{
	field(w, "{\"requests\":", LOAD(requests));
	field(w, ",\"accepted\":", LOAD(accepted));
	field(w, ",\"rejected\":", LOAD(rejected));
	jw_lit(w, ",\"errors\":");
	render_codes(w, &s->errors);
	jw_lit(w, ",\"async_failed\":");
	render_codes(w, &s->async_failed);
	field(w, ",\"resets\":", LOAD(resets));
	field(w, ",\"stalls\":", LOAD(stalls));
	field(w, ",\"mark_read\":", LOAD(mark_read));
	field(w, ",\"record_errors\":", LOAD(record_errors));
	field(w, ",\"unique_recipients\":", x->unique_recipients);
	field(w, ",\"recipients_accepted_more_than_once\":", x->repeated_recipients);
	field(w, ",\"tier_used\":", x->tier_used);
	field(w, ",\"rate_per_s\":{\"requests\":", stats_rate_get(&s->req_rate, now_ns));
	field(w, ",\"accepted\":", stats_rate_get(&s->acc_rate, now_ns));
	field(w, "},\"uptime_ms\":", x->uptime_ms);
	field(w, ",\"seed\":", x->seed);
	field(w, ",\"other_requests\":", LOAD(other_requests));
	field(w, ",\"webhooks\":{\"posts\":", LOAD(wh_posts));
	field(w, ",\"statuses\":", LOAD(wh_statuses));
	field(w, ",\"attempts\":", LOAD(wh_attempts));
	field(w, ",\"retries\":", LOAD(wh_retries));
	field(w, ",\"dropped\":", LOAD(wh_dropped));
	field(w, ",\"pending\":", LOAD(wh_pending));
	jw_lit(w, "}}");
}

void stats_summary(const struct stats *s, const struct stats_extra *x, char *buf, size_t cap)
{
	char codes[512];
	size_t n = 0;
	codes[0] = '\0';
	for (int i = 0; i < STATS_CODES && n < sizeof codes; i++) {
		int_fast64_t code = atomic_load_explicit(&s->errors.code[i], RELAXED);
		if (code == 0)
			break;
		int k = snprintf(codes + n, sizeof codes - n, "%s%" PRIdFAST64 ":%" PRIuFAST64,
		                 n ? " " : "", code - 1,
		                 atomic_load_explicit(&s->errors.n[i], RELAXED));
		if (k < 0)
			break;
		n += (size_t)k;
	}
	snprintf(buf, cap,
	         "requests=%" PRIuFAST64 " accepted=%" PRIuFAST64 " rejected=%" PRIuFAST64
	         " errors={%s} async_failed=%" PRIu64 " resets=%" PRIuFAST64
	         " stalls=%" PRIuFAST64 " unique_recipients=%" PRIu64
	         " accepted_more_than_once=%" PRIu64
	         " webhooks={posts:%" PRIuFAST64 " statuses:%" PRIuFAST64
	         " retries:%" PRIuFAST64 " dropped:%" PRIuFAST64 " pending:%" PRIuFAST64 "}",
	         LOAD(requests), LOAD(accepted), LOAD(rejected), codes,
	         codes_total(&s->async_failed), LOAD(resets), LOAD(stalls),
	         x->unique_recipients, x->repeated_recipients, LOAD(wh_posts),
	         LOAD(wh_statuses), LOAD(wh_retries), LOAD(wh_dropped), LOAD(wh_pending));
}
