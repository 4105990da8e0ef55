/*
 * journals.c - the status journals of notices that are not running here
 * (journals.h). A table of at most JOURNALS_OPEN_MAX open writer handles of
 * terminal notices, least recently used evicted; every operation under one
 * mutex (opening replays a journal: tens of milliseconds for a large
 * notice, once per notice per idle period; appends are microseconds).
 *
 * Why only terminal notices are kept open: the writer lock (flock) of a
 * notice that may still be resumed must be free for the sender that will
 * resume it; a terminal notice is never dispatched again (sender_add
 * refuses it), so holding its lock harms nobody.
 */
#include "journals.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bnd.h"

#define MOD "serve"

struct entry {
	char id[NOTICE_ID_SIZE];
	struct journal *j;
	int dirty;
	int used;
	uint64_t last_ns;
	uint64_t lru;
};

struct journals {
	char *dir;
	pthread_mutex_t mu;
	struct entry e[JOURNALS_OPEN_MAX];
	uint64_t clock;   /* LRU counter */
};

int journals_open(struct journals **out, const char *data_dir)
{
	if (!out || !data_dir)
		return BND_E_INVAL;
	*out = NULL;
	struct journals *js = bnd_calloc(1, sizeof *js);
	if (!js)
		return BND_E_NOMEM;
	size_t n = strlen(data_dir) + 1;
	if (!(js->dir = bnd_malloc(n))) {
		bnd_free(js);
		return BND_E_NOMEM;
	}
	memcpy(js->dir, data_dir, n);
	pthread_mutex_init(&js->mu, NULL);
	*out = js;
	return 0;
}

static void drop(struct entry *e)
{
	int rc = journal_close(&e->j);   /* commits what is left */
	if (rc)
		bnd_log(BND_LOG_WARN, MOD, "closing the journal of notice %s: %s", e->id,
		        bnd_strerror(rc));
	memset(e, 0, sizeof *e);
}

void journals_close(struct journals **p)
{
	if (!p || !*p)
		return;
	struct journals *js = *p;
	*p = NULL;
	for (int i = 0; i < JOURNALS_OPEN_MAX; i++)
		if (js->e[i].j)
			drop(&js->e[i]);
	pthread_mutex_destroy(&js->mu);
	bnd_free(js->dir);
	bnd_free(js);
}

static struct entry *find(struct journals *js, const char *id)
{
	for (int i = 0; i < JOURNALS_OPEN_MAX; i++)
		if (js->e[i].j && strcmp(js->e[i].id, id) == 0)
			return &js->e[i];
	return NULL;
}

static struct entry *free_slot(struct journals *js)
{
	struct entry *victim = NULL;
	for (int i = 0; i < JOURNALS_OPEN_MAX; i++) {
		if (!js->e[i].j)
			return &js->e[i];
		if (!victim || js->e[i].lru < victim->lru)
			victim = &js->e[i];
	}
	drop(victim);
	return victim;
}

int journals_status(struct journals *js, const char *id, uint32_t ordinal,
                    enum journal_status st, int32_t code, uint64_t t_ms, int *pending)
{
	if (!js || !id)
		return BND_E_INVAL;
	pthread_mutex_lock(&js->mu);
	int rc;
	struct entry *e = find(js, id);
	if (e) {
		rc = journal_status(e->j, ordinal, st, code, t_ms, NULL);
		if (rc == 0) {
			e->dirty = 1;
			e->used = 1;
			e->lru = ++js->clock;
			if (pending)
				*pending = 1;
		}
		goto out;
	}
	struct journal *j = NULL;
	struct journal_open_info info;
	rc = journal_open_notice(&j, js->dir, id, NULL, NULL, &info);
	if (rc)
		goto out;
	enum notice_state nst;
	journal_state(j, &nst, NULL, NULL);
	rc = journal_status(j, ordinal, st, code, t_ms, NULL);
	if (!notice_state_terminal(nst)) {
		/* May be resumed: do not keep its lock. */
		int crc = journal_close(&j);
		if (!rc)
			rc = crc;
		goto out;
	}
	e = free_slot(js);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->j = j;
	e->dirty = rc == 0;
	e->used = 1;
	e->lru = ++js->clock;
	if (rc == 0 && pending)
		*pending = 1;
out:
	pthread_mutex_unlock(&js->mu);
	return rc;
}

int journals_commit(struct journals *js)
{
	if (!js)
		return 0;
	int first = 0;
	pthread_mutex_lock(&js->mu);
	for (int i = 0; i < JOURNALS_OPEN_MAX; i++) {
		struct entry *e = &js->e[i];
		if (!e->j || !e->dirty)
			continue;
		int rc = journal_commit(e->j);
		if (rc) {
			bnd_log(BND_LOG_ERROR, MOD, "commit of the journal of notice %s: %s", e->id,
			        bnd_strerror(rc));
			if (!first)
				first = rc;
			drop(e);   /* the handle refuses appends now; reopen next time */
			continue;
		}
		e->dirty = 0;
	}
	pthread_mutex_unlock(&js->mu);
	return first;
}

void journals_trim(struct journals *js, uint64_t now_ns, uint64_t idle_ns)
{
	if (!js)
		return;
	pthread_mutex_lock(&js->mu);
	for (int i = 0; i < JOURNALS_OPEN_MAX; i++) {
		struct entry *e = &js->e[i];
		if (!e->j)
			continue;
		if (e->used || !e->last_ns) {
			e->used = 0;
			e->last_ns = now_ns;
		} else if (now_ns - e->last_ns >= idle_ns) {
			drop(e);
		}
	}
	pthread_mutex_unlock(&js->mu);
}

size_t journals_cached(struct journals *js)
{
	size_t n = 0;
	pthread_mutex_lock(&js->mu);
	for (int i = 0; i < JOURNALS_OPEN_MAX; i++)
		n += js->e[i].j != NULL;
	pthread_mutex_unlock(&js->mu);
	return n;
}
