/*
 * journal_writer.c - a crash-test subject for the notice journal: a fake
 * sender that fans one notice out through the scheduler and the journal,
 * with a simulated WhatsApp on the other side, so that
 * tests/integration/test_journal_crash.sh can kill -9 it at random moments
 * and check what survives.
 *
 *   journal_writer run DATA_DIR COUNT WINDOW SEED [PACE_US]
 *       (PACE_US: microseconds per batch spent waiting before outcome
 *       commits, to bound the rate and widen the unacknowledged moments)
 *       Create the notice on first use (COUNT synthetic recipients), else
 *       resume it: print "RESUME low=.. high=.. uncertain=.. deferred=..
 *       unsent=.. reconciled=..", then send until every recipient is final
 *       and print "DONE ...". The send loop is the one engine/sender.c is
 *       meant to have: pick up to WINDOW items from the scheduler, append
 *       their DISPATCHED intents, commit (durable before the wire), "send"
 *       them, append the outcomes in a shuffled order with a group commit
 *       every few, and after each commit print one "ACK <kind> <ordinal>"
 *       line per outcome it covered (acknowledged = durable).
 *       The simulated API decides each outcome at send time and appends
 *       "W <ordinal>" to DATA_DIR/wire.log when it accepts (wa-mock's
 *       record). On resume, an uncertain ordinal the API had accepted gets
 *       a status webhook half of the time (reconciled, not re-sent); the
 *       rest are re-sent flagged uncertain.
 *   journal_writer check DATA_DIR ACK_FILE
 *       Reopen the journal as a writer (repairing a torn tail), then check:
 *       every ACK line has its record; every CURSOR in the file lies at or
 *       below the ordinals already final before it; print "CHECK ok ...".
 *   journal_writer final DATA_DIR
 *       After the run finished: every recipient final, and print
 *       "FINAL recipients=.. accepted=.. uncertain=.. duplicates=.."
 *       (duplicates: ordinals wire.log accepted more than once).
 *
 * Exit status 0 on success, 1 on a failed check, 2 on usage or setup errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bnd.h"
#include "journal.h"
#include "notice.h"
#include "scheduler.h"

#define GRACE_MS 0  /* the test's status webhooks arrive at resume, or never */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rnd_state;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rnd_state >> 33);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "journal_writer: %s: %s\n", what, bnd_strerror(rc));
	exit(2);
}

/* Unbuffered, whole-line writes: a kill cuts at most the line being written. */
static void out_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_line(int fd, const char *fmt, ...)
{
	char b[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, b, (size_t)n) != n)
		exit(2);
}

static int find_notice(const char *data, char id[NOTICE_ID_SIZE])
{
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t n = 0;
	int rc = notice_list(data, &ids, &n);
	if (rc)
		die("notice_list", rc);
	if (n)
		memcpy(id, ids[0], NOTICE_ID_SIZE);
	bnd_free(ids);
	return n > 0;
}

/* wire.log: the simulated API's record of accepted ordinals. */
static uint8_t *wire_load(const char *data, uint32_t count)
{
	uint8_t *acc = calloc(count ? count : 1, 1);
	char p[4096];
	snprintf(p, sizeof p, "%s/wire.log", data);
	FILE *f = fopen(p, "r");
	if (!f)
		return acc;
	char line[64];
	while (fgets(line, sizeof line, f)) {
		unsigned o;
		if (strchr(line, '\n') && sscanf(line, "W %u", &o) == 1 && o < count &&
		    acc[o] < 255)
			acc[o]++;
	}
	fclose(f);
	return acc;
}

struct resume_ctx {
	struct journal *j;
	struct sched *s;
	int h;
	const uint8_t *accepted_remotely;
	uint64_t now;
	unsigned uncertain, deferred, unsent;
	uint32_t *recon;   /* uncertain ordinals a status webhook will reconcile */
	size_t nrecon, cap;
};

static int on_pending(const struct journal_pending *p, void *ud)
{
	struct resume_ctx *c = ud;
	int rc = 0;
	switch (p->kind) {
	case JPEND_UNCERTAIN:
		c->uncertain++;
		/* A status webhook for it, half of the time it was accepted. */
		if (c->accepted_remotely[p->ordinal] && (rnd() & 1)) {
			/* The walk holds the journal: append the status after it. */
			if (c->nrecon == c->cap) {
				c->cap = c->cap ? 2 * c->cap : 64;
				c->recon = realloc(c->recon, c->cap * sizeof *c->recon);
			}
			c->recon[c->nrecon++] = p->ordinal;
			break;
		}
		rc = sched_defer(c->s, c->h, p->ordinal, (c->now + GRACE_MS) * 1000000ULL,
		                 (uint16_t)(p->attempt + 1), SCHED_F_UNCERTAIN);
		break;
	case JPEND_DEFERRED:
		c->deferred++;
		rc = sched_defer(c->s, c->h, p->ordinal, p->until_ms * 1000000ULL,
		                 (uint16_t)(p->attempt + 1), 0);
		break;
	case JPEND_UNSENT:
		c->unsent++;
		rc = sched_defer(c->s, c->h, p->ordinal, 0, 0, 0);
		break;
	}
	return rc;
}

enum outcome { O_ACCEPTED, O_FAILED, O_DEFERRED };

struct flight {
	uint32_t ordinal;
	uint16_t attempt;
	enum outcome what;
};

static int cmd_run(const char *data, uint32_t count, uint32_t window, uint64_t seed,
                   unsigned pace_us)
{
	rnd_state = seed ^ (uint64_t)getpid() << 20 ^ now_ms();
	char id[NOTICE_ID_SIZE];
	int rc;
	if (!find_notice(data, id)) {
		struct notice n;
		rc = notice_init(&n, NOTICE_CAT_EMERGENCY, now_ms(), 0, (uint32_t)seed);
		if (rc == 0)
			rc = notice_set_text(&n, (const uint8_t *)"prova", 5);
		uint64_t *v = malloc((count ? count : 1) * sizeof *v);
		for (uint32_t i = 0; i < count; i++)
			v[i] = 393000000000ULL + (uint64_t)i * 3;
		if (rc == 0)
			rc = notice_create(data, &n, v, count, 1u << 16);
		free(v);
		if (rc)
			die("notice_create", rc);
		memcpy(id, n.id, NOTICE_ID_SIZE);
	}
	struct notice_rcpt *r = NULL;
	struct journal *j = NULL;
	struct journal_open_info info;
	if ((rc = notice_rcpt_open(&r, data, id)))
		die("notice_rcpt_open", rc);
	if ((rc = journal_open_notice(&j, data, id, r, NULL, &info))) {
		fprintf(stderr, "journal_writer: open: %s at %llu: %s\n", bnd_strerror(rc),
		        (unsigned long long)info.err_offset, info.err_msg);
		return 1;
	}
	count = notice_rcpt_count(r);
	enum notice_state st;
	journal_state(j, &st, NULL, NULL);
	if (st == NOTICE_DONE) {
		out_line(1, "DONE already\n");
		goto close;
	}
	if (st != NOTICE_RUNNING &&
	    (rc = journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_OPERATOR, 0, now_ms(), NULL)))
		die("set running", rc);

	/* Resume: the scheduler starts at high_water; pending items are
	 * deferred (uncertain ones after the grace period) or reconciled. */
	struct sched *s = NULL;
	if ((rc = sched_open(&s, SCHED_POLICY_FIFO, window)))
		die("sched_open", rc);
	struct sched_notice_def d = { .category = NOTICE_CAT_EMERGENCY, .count = count,
	                              .next_ordinal = journal_high_water(j),
	                              .horizon = journal_window_end(j) };
	int h;
	if ((rc = sched_add(s, &d, &h)))
		die("sched_add", rc);
	uint8_t *remote = wire_load(data, count);
	struct resume_ctx rc_ = { .j = j, .s = s, .h = h, .accepted_remotely = remote,
	                          .now = now_ms() };
	if ((rc = journal_pending_foreach(j, on_pending, &rc_)))
		die("pending", rc);
	/* The status webhooks that echo biz_opaque_callback_data: each makes
	 * its uncertain ordinal final (accepted), so it is not sent again. */
	for (size_t i = 0; i < rc_.nrecon; i++) {
		if ((rc = journal_status(j, rc_.recon[i], JSTATUS_SENT, 0, now_ms(), NULL)))
			die("status", rc);
	}
	if ((rc = journal_commit(j)))
		die("commit statuses", rc);
	free(rc_.recon);
	out_line(1, "RESUME low=%u high=%u uncertain=%u deferred=%u unsent=%u reconciled=%zu\n",
	         journal_low_water(j), journal_high_water(j), rc_.uncertain, rc_.deferred,
	         rc_.unsent, rc_.nrecon);

	char wp[4096];
	snprintf(wp, sizeof wp, "%s/wire.log", data);
	int wire = open(wp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (wire < 0)
		die("wire.log", -errno);
	struct flight *fl = calloc(window, sizeof *fl);
	uint32_t *skipped = calloc(window, sizeof *skipped);
	for (;;) {
		if (journal_low_water(j) >= count)
			break;
		/* 1. Pick up to `window` items; intents into the journal. */
		size_t nfl = 0, nskip = 0;
		uint64_t now = now_ms();
		struct sched_pick p;
		/* The scheduler keeps the window: it stops handing out items when
		 * `window` ordinals are dispatched and not final. */
		while (nfl + nskip < window && sched_next(s, now * 1000000ULL, &p) == SCHED_SEND) {
			if (journal_is_final(j, p.ordinal)) {
				sched_release(s, h);  /* reconciled meanwhile */
				continue;
			}
			if ((rnd() % 100) == 0) {
				/* Unsubscribed at dispatch: final without a send. */
				if ((rc = journal_skipped(j, p.ordinal, JSKIP_UNSUBSCRIBED, NULL)))
					die("skip", rc);
				sched_release(s, h);
				skipped[nskip++] = p.ordinal;
				continue;
			}
			uint16_t flags = (p.flags & SCHED_F_UNCERTAIN) ? JOURNAL_DISPATCH_UNCERTAIN : 0;
			if ((rc = journal_dispatched(j, p.ordinal, p.attempt, flags, NULL)))
				die("dispatched", rc);
			fl[nfl++] = (struct flight){ .ordinal = p.ordinal, .attempt = p.attempt };
		}
		/* 2. Intents durable before anything goes on the wire. */
		if ((rc = journal_commit(j)))
			die("commit intents", rc);
		for (size_t i = 0; i < nskip; i++)
			out_line(1, "ACK S %u\n", skipped[i]);
		/* 3. The wire: the API decides. */
		for (size_t i = 0; i < nfl; i++) {
			unsigned dice = rnd() % 100;
			fl[i].what = dice < 85 ? O_ACCEPTED : dice < 92 ? O_FAILED : O_DEFERRED;
			if (fl[i].what == O_ACCEPTED)
				out_line(wire, "W %u\n", fl[i].ordinal);
		}
		/* 4. Outcomes in a shuffled order, a group commit every 16. While
		 * the killing goes on, each group waits PACE_US/4 before its commit,
		 * as a real sender's outcomes wait for the group-commit interval:
		 * that is the moment where acknowledging too early would show. */
		for (size_t i = nfl; i > 1; i--) {
			size_t k = rnd() % i;
			struct flight t = fl[i - 1];
			fl[i - 1] = fl[k];
			fl[k] = t;
		}
		size_t acked = 0;
		for (size_t i = 0; i < nfl; i++) {
			struct flight *f = &fl[i];
			if (f->what == O_ACCEPTED) {
				char w[40];
				int n = snprintf(w, sizeof w, "wamid.sim.%u.%u", f->ordinal, f->attempt);
				rc = journal_accepted(j, f->ordinal, (const uint8_t *)w, (size_t)n, NULL);
				if (rc == BND_E_JOURNAL_FINAL)
					rc = 0;  /* a late status got there first */
			} else if (f->what == O_FAILED) {
				rc = journal_failed(j, f->ordinal, 131026, NULL);
			} else {
				uint64_t until = now_ms() + 1 + rnd() % 20;
				rc = journal_deferred(j, f->ordinal, 130429, until, NULL);
				if (rc == 0)
					rc = sched_defer(s, h, f->ordinal, until * 1000000ULL,
					                 (uint16_t)(f->attempt + 1), 0);
			}
			if (rc)
				die("outcome", rc);
			if ((rc = sched_release(s, h)))
				die("release", rc);
			if ((i + 1) % 16 == 0 || i + 1 == nfl) {
				if (pace_us)
					usleep(pace_us / 4);
				if ((rc = journal_commit(j)))
					die("commit outcomes", rc);
				for (; acked <= i; acked++) {
					static const char kind[] = { 'A', 'F', 'D' };
					out_line(1, "ACK %c %u\n", kind[fl[acked].what], fl[acked].ordinal);
				}
			}
		}
		if ((rc = sched_set_horizon(s, h, journal_window_end(j))))
			die("horizon", rc);
		if (nfl == 0 && nskip == 0) {
			if (sched_drained(s, h) == 1) {
				/* Nothing left to hand out, yet not every ordinal is
				 * final: one was lost, the very bug this guards. */
				fprintf(stderr, "journal_writer: ordinal %u lost\n", journal_low_water(j));
				return 1;
			}
			/* Only deferred items left, not due yet. */
			if ((rc = journal_commit(j)))
				die("commit", rc);
			usleep(1000);
		}
	}
	if ((rc = journal_set_state(j, NOTICE_DONE, NOTICE_REASON_COMPLETE, 0, now_ms(), NULL)))
		die("done", rc);
	if ((rc = journal_commit(j)))
		die("commit done", rc);
	out_line(1, "DONE low=%u\n", journal_low_water(j));
	free(fl);
	free(skipped);
	close(wire);
	free(remote);
	sched_close(&s);
close:
	rc = journal_close(&j);
	notice_rcpt_close(&r);
	return rc ? 1 : 0;
}

/* ---- check ----------------------------------------------------------------- */

struct check_ctx {
	uint32_t count;
	uint8_t *final;     /* per ordinal: 0, or the final type */
	uint8_t *deferred;  /* a DEFERRED record seen */
	uint32_t finals;
	unsigned cursors;
	int bad;
};

static int on_rec(const struct journal_rec *r, uint64_t off, void *ud)
{
	struct check_ctx *c = ud;
	switch (r->type) {
	case JREC_ACCEPTED:
	case JREC_FAILED:
	case JREC_SKIPPED:
		if (r->ordinal >= c->count || c->final[r->ordinal]) {
			fprintf(stderr, "check: second final outcome for %u at %llu\n", r->ordinal,
			        (unsigned long long)off);
			c->bad = 1;
			break;
		}
		c->final[r->ordinal] = (uint8_t)r->type;
		c->finals++;
		break;
	case JREC_STATUS:
		if (r->ordinal < c->count && !c->final[r->ordinal]) {
			c->final[r->ordinal] = JREC_ACCEPTED;  /* reconciled */
			c->finals++;
		}
		break;
	case JREC_DEFERRED:
		if (r->ordinal < c->count)
			c->deferred[r->ordinal] = 1;
		break;
	case JREC_CURSOR:
		c->cursors++;
		for (uint32_t o = 0; o < r->ordinal && o < c->count; o++) {
			if (!c->final[o]) {
				fprintf(stderr, "check: CURSOR %u at %llu passes non-final ordinal %u\n",
				        r->ordinal, (unsigned long long)off, o);
				c->bad = 1;
				break;
			}
		}
		break;
	default:
		break;
	}
	return 0;
}

static int cmd_check(const char *data, const char *acks)
{
	char id[NOTICE_ID_SIZE];
	if (!find_notice(data, id)) {
		out_line(1, "CHECK ok (no notice yet)\n");
		return 0;
	}
	struct journal *j = NULL;
	struct journal_open_info info;
	int rc = journal_open_notice(&j, data, id, NULL, NULL, &info);
	if (rc) {
		fprintf(stderr, "check: open: %s at %llu: %s\n", bnd_strerror(rc),
		        (unsigned long long)info.err_offset, info.err_msg);
		return 1;
	}
	uint32_t count = journal_recipients(j);
	uint64_t dropped = info.tail_dropped_bytes;
	journal_close(&j);
	char p[4096];
	notice_path(p, sizeof p, data, id, JOURNAL_FILE);
	struct check_ctx c = { .count = count, .final = calloc(count + 1, 1),
	                       .deferred = calloc(count + 1, 1) };
	rc = journal_scan(p, NULL, on_rec, &c, &info);
	if (rc) {
		fprintf(stderr, "check: scan: %s\n", bnd_strerror(rc));
		return 1;
	}
	FILE *f = fopen(acks, "r");
	unsigned long lines = 0;
	if (f) {
		char line[128];
		while (fgets(line, sizeof line, f)) {
			char kind;
			unsigned o;
			if (!strchr(line, '\n'))
				break;  /* the line a kill cut short */
			if (sscanf(line, "ACK %c %u", &kind, &o) != 2 || o >= count)
				continue;
			lines++;
			int ok = kind == 'A'   ? c.final[o] == JREC_ACCEPTED
			         : kind == 'F' ? c.final[o] == JREC_FAILED
			         : kind == 'S' ? c.final[o] == JREC_SKIPPED
			         : kind == 'D' ? c.deferred[o] || c.final[o]
			                       : 0;
			if (!ok) {
				fprintf(stderr, "check: acknowledged %c %u missing\n", kind, o);
				c.bad = 1;
			}
		}
		fclose(f);
	}
	if (!c.bad)
		out_line(1, "CHECK ok acks=%lu finals=%u cursors=%u tail_dropped=%llu\n", lines,
		         c.finals, c.cursors, (unsigned long long)dropped);
	free(c.final);
	free(c.deferred);
	return c.bad;
}

static int cmd_final(const char *data)
{
	char id[NOTICE_ID_SIZE];
	if (!find_notice(data, id))
		return 2;
	struct journal *j = NULL;
	struct journal_opts ro = { .flags = JOURNAL_RDONLY };
	int rc = journal_open_notice(&j, data, id, NULL, &ro, NULL);
	if (rc)
		die("open", rc);
	struct journal_report r;
	journal_report(j, now_ms(), &r);
	journal_close(&j);
	uint8_t *remote = wire_load(data, r.recipients);
	unsigned dup = 0;
	for (uint32_t o = 0; o < r.recipients; o++)
		dup += remote[o] > 1;
	free(remote);
	out_line(1, "FINAL recipients=%u accepted=%llu failed=%llu skipped=%llu remaining=%llu "
	         "uncertain=%llu reconciled=%llu duplicates=%u state=%s\n",
	         r.recipients, (unsigned long long)r.accepted, (unsigned long long)r.failed,
	         (unsigned long long)r.skipped_unsubscribed, (unsigned long long)r.remaining,
	         (unsigned long long)r.uncertain, (unsigned long long)r.reconciled, dup,
	         notice_state_name(r.state));
	if (r.remaining || r.state != NOTICE_DONE || dup > r.uncertain)
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "run") == 0)
		return cmd_run(argv[2], (uint32_t)strtoul(argv[3], NULL, 10),
		               (uint32_t)strtoul(argv[4], NULL, 10), strtoull(argv[5], NULL, 10),
		               argc > 6 ? (unsigned)strtoul(argv[6], NULL, 10) : 0);
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "final") == 0)
		return cmd_final(argv[2]);
	fprintf(stderr, "usage: journal_writer run DIR COUNT WINDOW SEED [PACE_US] | "
	                "check DIR ACKS | final DIR\n");
	return 2;
}
