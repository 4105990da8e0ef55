/*
 * store_check.c - the checker of the crash tests: opens a store read-only
 * (as `count` and `verify` do while a writer may run) and compares it with
 * what the test expects.
 *
 * usage:
 *   store_check acks DIR LOG...
 *     LOG files hold store_writer's "T NUMBER STATE" / "A NUMBER STATE"
 *     lines (a last line cut by kill -9 is ignored). For every number, the
 *     store must hold the state of its last acknowledged record, or the
 *     state of a record tried after it (which may or may not have reached
 *     disk). A number tried but never acknowledged may be absent.
 *   store_check sets DIR LIVE GONE
 *     LIVE and GONE hold one number per line. Every LIVE number must be
 *     confirmed. The GONE numbers (unsubscribed, not yet compacted away)
 *     must all be present as unsubscribed (the old set) or all absent (the
 *     new set): never a mix. Nothing else may be in the store. Prints
 *     "old" or "new".
 * Exit codes: 0 consistent, 1 a violation (described on stderr), 2 usage or
 * an error opening the store. Numbers are printed masked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "phone.h"
#include "store.h"

struct ev {
	uint64_t number;
	uint32_t seq;     /* order of the line in the logs */
	uint8_t acked;    /* 1: 'A' line, 0: 'T' line */
	uint8_t state;
};

struct evs {
	struct ev *v;
	size_t n, cap;
};

static int push(struct evs *e, struct ev x)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 1 << 16;
		struct ev *v = realloc(e->v, cap * sizeof *v);
		if (!v)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = x;
	return 0;
}

static int ev_cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int open_ro(const char *dir, struct store **s)
{
	struct store_opts opts = { .flags = STORE_RDONLY };
	struct store_open_info info;
	int rc = store_open(s, dir, &opts, &info);
	if (rc != 0)
		fprintf(stderr, "store_check: open %s: %s (file %s offset %llu)\n", dir,
		        bnd_strerror(rc), info.err_file, (unsigned long long)info.err_offset);
	return rc;
}

static int check_acks(const char *dir, int nlogs, char **logs)
{
	struct evs e = { 0 };
	uint32_t seq = 0;
	char line[128];
	for (int i = 0; i < nlogs; i++) {
		FILE *f = fopen(logs[i], "r");
		if (!f) {
			perror(logs[i]);
			return 2;
		}
		while (fgets(line, sizeof line, f)) {
			char kind;
			unsigned long long num;
			int st;
			size_t l = strlen(line);
			if (l == 0 || line[l - 1] != '\n')
				continue;   /* cut by the kill */
			if (sscanf(line, "%c %llu %d", &kind, &num, &st) != 3 ||
			    (kind != 'T' && kind != 'A') || st < 1 || st >= SUB_STATE_COUNT) {
				fprintf(stderr, "store_check: %s: malformed line\n", logs[i]);
				fclose(f);
				return 2;
			}
			if (push(&e, (struct ev){ num, seq++, kind == 'A', (uint8_t)st }) != 0) {
				fclose(f);
				return 2;
			}
		}
		fclose(f);
	}
	qsort(e.v, e.n, sizeof *e.v, ev_cmp);

	struct store *s;
	if (open_ro(dir, &s) != 0)
		return 2;
	uint64_t acked_numbers = 0, tried_only = 0, bad = 0;
	for (size_t i = 0; i < e.n;) {
		size_t j = i;
		int last_acked = 0;
		unsigned allowed = 0;   /* bit per state */
		for (; j < e.n && e.v[j].number == e.v[i].number; j++) {
			if (e.v[j].acked) {
				last_acked = e.v[j].state;
				allowed = 1u << e.v[j].state;
			} else {
				allowed |= 1u << e.v[j].state;
			}
		}
		if (!last_acked)
			allowed |= 1u << SUB_NONE;
		enum sub_state st;
		store_get(s, e.v[i].number, &st, NULL);
		if (!(allowed & (1u << st))) {
			char m[PHONE_MASK_MAX];
			phone_mask(e.v[i].number, m);
			if (bad < 20)
				fprintf(stderr, "store_check: %s is %s; acknowledged %s (allowed mask %#x)\n",
				        m, sub_state_name(st), sub_state_name(last_acked), allowed);
			bad++;
		}
		if (last_acked)
			acked_numbers++;
		else
			tried_only++;
		i = j;
	}
	store_close(&s);
	free(e.v);
	printf("checked %llu acknowledged numbers (%llu more only tried): %llu violations\n",
	       (unsigned long long)acked_numbers, (unsigned long long)tried_only,
	       (unsigned long long)bad);
	return bad ? 1 : (acked_numbers ? 0 : 1);
}

static int load_numbers(const char *path, uint64_t **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1024;
	uint64_t *v = malloc(cap * sizeof *v);
	char line[128];
	*n = 0;
	while (v && fgets(line, sizeof line, f)) {
		uint64_t x;
		if (phone_parse((const uint8_t *)line, strlen(line), &x) != 0)
			continue;
		if (*n == cap) {
			uint64_t *nv = realloc(v, (cap *= 2) * sizeof *v);
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
		}
		v[(*n)++] = x;
	}
	fclose(f);
	*out = v;
	return v ? 0 : -1;
}

static int check_sets(const char *dir, const char *live_path, const char *gone_path)
{
	uint64_t *live = NULL, *gone = NULL;
	size_t nlive = 0, ngone = 0;
	int ret = 2;
	struct store *s = NULL;
	if (load_numbers(live_path, &live, &nlive) != 0 ||
	    load_numbers(gone_path, &gone, &ngone) != 0)
		goto out;
	if (open_ro(dir, &s) != 0)
		goto out;
	ret = 1;
	uint64_t bad = 0, present = 0, absent = 0;
	for (size_t i = 0; i < nlive; i++) {
		enum sub_state st;
		store_get(s, live[i], &st, NULL);
		if (st != SUB_CONFIRMED) {
			char m[PHONE_MASK_MAX];
			phone_mask(live[i], m);
			if (bad++ < 20)
				fprintf(stderr, "store_check: live %s is %s\n", m, sub_state_name(st));
		}
	}
	for (size_t i = 0; i < ngone; i++) {
		enum sub_state st;
		store_get(s, gone[i], &st, NULL);
		if (st == SUB_UNSUBSCRIBED) {
			present++;
		} else if (st == SUB_NONE) {
			absent++;
		} else {
			char m[PHONE_MASK_MAX];
			phone_mask(gone[i], m);
			if (bad++ < 20)
				fprintf(stderr, "store_check: removed %s is %s\n", m, sub_state_name(st));
		}
	}
	struct store_counts c;
	store_count(s, &c);
	uint64_t total = 0;
	for (int k = 0; k < SUB_STATE_COUNT; k++)
		total += c.by_state[k];
	if (present && absent) {
		fprintf(stderr, "store_check: a mix of old and new sets: %llu removed numbers "
		        "present, %llu gone\n", (unsigned long long)present, (unsigned long long)absent);
		bad++;
	}
	if (total != nlive + present) {
		fprintf(stderr, "store_check: the store holds %llu numbers, expected %llu\n",
		        (unsigned long long)total, (unsigned long long)(nlive + present));
		bad++;
	}
	if (bad == 0) {
		printf("%s\n", ngone == 0 ? "same" : present ? "old" : "new");
		ret = 0;
	}
out:
	store_close(&s);
	free(live);
	free(gone);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "acks") == 0)
		return check_acks(argv[2], argc - 3, argv + 3);
	if (argc == 5 && strcmp(argv[1], "sets") == 0)
		return check_sets(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: store_check acks DIR LOG... | store_check sets DIR LIVE GONE\n");
	return 2;
}
