/*
 * notice_fill.c - notices for the purge crash test
 * (tests/integration/test_purge_crash.sh), and the check run after each
 * kill -9.
 *
 * usage: notice_fill make DIR K
 *   K notices of the store's whole confirmed set, made with notice_create
 *   as `send` makes them, each journaled as sent to everyone (a wamid
 *   holding the number's digits per recipient): the first cancelled
 *   (finished), the others paused (resumable). Prints "made K".
 * usage: notice_fill check DIR FILE
 *   FILE: the numbers confirmed at `make`, ascending. For every notice: recipients.bin opens (every check of notice_rcpt_open
 *   passes: a torn or mixed list would not), is private (0600), and its
 *   journal still matches it; every entry is either 0 (erased) or the
 *   number the list had at creation (line i of FILE); an erased number is
 *   not confirmed in the store.
 *   Prints "ok notices=N erased=E kept=K tmp=T" (T: purge temporaries lying
 *   around) or "bad ..." on stdout; exit 0 or 1. The numbers are never
 *   printed, only ordinals.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnd.h"
#include "journal.h"
#include "notice.h"
#include "notice_purge.h"
#include "store.h"

/* Journal every recipient as accepted, with a wamid holding the number's
 * digits (as WhatsApp's encode it), then pause the notice (or cancel it:
 * a finished notice, reduced by a purge). */
static int sent_to_all(const char *dir, const char *id, const uint64_t *all, size_t n,
                       int cancel)
{
	struct journal *j = NULL;
	int rc = journal_open_notice(&j, dir, id, NULL, NULL, NULL);
	if (rc)
		return rc;
	rc = journal_set_state(j, NOTICE_RUNNING, NOTICE_REASON_OPERATOR, 0, 1760264100000ULL,
	                       NULL);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char w[40];
		int wl = snprintf(w, sizeof w, "wamid.F%llu", (unsigned long long)all[i]);
		rc = journal_dispatched(j, (uint32_t)i, 0, 0, NULL);
		if (rc == 0)
			rc = journal_accepted(j, (uint32_t)i, (const uint8_t *)w, (size_t)wl, NULL);
		if (rc == 0 && i % 4096 == 4095)
			rc = journal_commit(j);
	}
	if (rc == 0)
		rc = journal_set_state(j, cancel ? NOTICE_CANCELLED : NOTICE_PAUSED,
		                       NOTICE_REASON_OPERATOR, 0, 1760264100001ULL, NULL);
	int crc = journal_close(&j);
	return rc ? rc : crc;
}

static int make(const char *dir, int k)
{
	struct store_opts o = { .flags = STORE_RDONLY };
	struct store *s = NULL;
	struct store_open_info oi;
	int rc = store_open(&s, dir, &o, &oi);
	if (rc) {
		fprintf(stderr, "store_open: %s\n", bnd_strerror(rc));
		return 1;
	}
	uint64_t *all = NULL;
	size_t n = 0;
	rc = store_confirmed_snapshot(s, &all, &n);
	store_close(&s);
	if (rc) {
		fprintf(stderr, "snapshot: %s\n", bnd_strerror(rc));
		return 1;
	}
	static struct notice no;
	for (int i = 0; i < k; i++) {
		if ((rc = notice_init(&no, NOTICE_CAT_INFO, 1760264100000ULL, 0, (uint32_t)i)) ||
		    (rc = notice_set_text(&no, (const uint8_t *)"x", 1)) ||
		    (rc = notice_create(dir, &no, all, n, 0)) ||
		    (rc = sent_to_all(dir, no.id, all, n, i == 0))) {
			fprintf(stderr, "notice %d: %s\n", i, bnd_strerror(rc));
			bnd_free(all);
			return 1;
		}
	}
	bnd_free(all);
	printf("made %d\n", k);
	return 0;
}

/* The numbers of FILE (one per line, ascending), or NULL. */
static uint64_t *load(const char *path, uint32_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1024, len = 0;
	uint64_t *v = malloc(cap * sizeof *v);
	unsigned long long x;
	while (v && fscanf(f, "%llu", &x) == 1) {
		if (len == cap) {
			cap *= 2;
			uint64_t *nv = realloc(v, cap * sizeof *v);
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
		}
		v[len++] = x;
	}
	fclose(f);
	*n = (uint32_t)len;
	return v;
}

static int check(const char *dir, const char *orig)
{
	struct store_opts o = { .flags = STORE_RDONLY };
	struct store *s = NULL;
	struct store_open_info oi;
	int rc = store_open(&s, dir, &o, &oi);
	if (rc) {
		printf("bad store_open: %s\n", bnd_strerror(rc));
		return 1;
	}
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t nn = 0;
	if ((rc = notice_list(dir, &ids, &nn))) {
		printf("bad notice_list: %s\n", bnd_strerror(rc));
		store_close(&s);
		return 1;
	}
	/* Every list was made from the numbers of orig (ascending): entry i
	 * is 0 or orig[i]. */
	uint32_t count = 0;
	uint64_t *ref = load(orig, &count);
	if (!ref) {
		printf("bad: cannot read %s\n", orig);
		bnd_free(ids);
		store_close(&s);
		return 1;
	}
	int bad = 0;
	uint64_t erased = 0, kept = 0, tmps = 0;
	/* Finished notices may hold no number at all (a purge reduces them). */
	char (*fin)[NOTICE_ID_SIZE] = calloc(nn ? nn : 1, NOTICE_ID_SIZE);
	size_t nfin = 0;
	for (size_t i = 0; i < nn && !bad; i++) {
		struct notice_rcpt *r = NULL;
		if ((rc = notice_rcpt_open(&r, dir, ids[i]))) {
			printf("bad %s: recipients.bin: %s\n", ids[i], bnd_strerror(rc));
			bad = 1;
			break;
		}
		if (notice_rcpt_count(r) != count) {
			printf("bad %s: count %u, not %u\n", ids[i], notice_rcpt_count(r), count);
			bad = 1;
		}
		for (uint32_t o2 = 0; o2 < count && !bad; o2++) {
			uint64_t v = notice_rcpt_get(r, o2);
			if (v == 0)
				continue;
			if (ref[o2] != v) {
				printf("bad %s: ordinal %u is not the number it had\n", ids[i], o2);
				bad = 1;
			}
		}
		struct journal *j = NULL;
		struct journal_opts jo = { .flags = JOURNAL_RDONLY };
		if (!bad && (rc = journal_open_notice(&j, dir, ids[i], r, &jo, NULL))) {
			printf("bad %s: journal: %s\n", ids[i], bnd_strerror(rc));
			bad = 1;
		}
		if (!bad) {
			struct journal_report rep;
			journal_report(j, 1760264200000ULL, &rep);
			if (notice_state_terminal(rep.state))
				memcpy(fin[nfin++], ids[i], NOTICE_ID_SIZE);
			if (rep.accepted != count) {
				printf("bad %s: journal reports %llu accepted, not %u\n", ids[i],
				       (unsigned long long)rep.accepted, count);
				bad = 1;
			}
		}
		journal_close(&j);
		notice_rcpt_close(&r);
		char p[4096];
		struct stat sb;
		if (!bad && notice_path(p, sizeof p, dir, ids[i], "recipients.bin") > 0 &&
		    (stat(p, &sb) != 0 || (sb.st_mode & 0777) != 0600)) {
			printf("bad %s: recipients.bin not 0600\n", ids[i]);
			bad = 1;
		}
		if (notice_path(p, sizeof p, dir, ids[i], RCPT_PURGE_TMP) > 0 && access(p, F_OK) == 0)
			tmps++;
		if (notice_path(p, sizeof p, dir, ids[i], JOURNAL_PURGE_TMP) > 0 && access(p, F_OK) == 0)
			tmps++;
	}
	/* Second pass: an erased entry is never confirmed in the store, and
	 * the reference is ascending (every entry is the creation's). */
	for (size_t i = 0; i < nn && !bad; i++) {
		int finished = 0;
		for (size_t f = 0; f < nfin; f++)
			finished |= strcmp(fin[f], ids[i]) == 0;
		struct notice_rcpt *r = NULL;
		if (notice_rcpt_open(&r, dir, ids[i]))
			break;
		for (uint32_t o2 = 0; o2 < count; o2++) {
			uint64_t v = notice_rcpt_get(r, o2);
			if (v) {
				kept++;
				continue;
			}
			erased++;
			enum sub_state st = SUB_NONE;
			if (ref[o2] && !finished)
				store_get(s, ref[o2], &st, NULL);
			if (st == SUB_CONFIRMED) {
				printf("bad %s: ordinal %u erased but confirmed\n", ids[i], o2);
				bad = 1;
				break;
			}
		}
		notice_rcpt_close(&r);
	}
	if (!bad)
		printf("ok notices=%zu erased=%llu kept=%llu tmp=%llu\n", nn,
		       (unsigned long long)erased, (unsigned long long)kept,
		       (unsigned long long)tmps);
	free(fin);
	free(ref);
	bnd_free(ids);
	store_close(&s);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "make") == 0)
		return make(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return check(argv[2], argv[3]);
	fprintf(stderr, "usage: notice_fill make DIR K | notice_fill check DIR FILE\n");
	return 2;
}
