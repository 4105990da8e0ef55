/*
 * metrics.c - the registry: families, series, lock-free cells, and the
 * text exposition format 0.0.4 renderer.
 *
 * Design. Everything that can be decided at registration is: names are
 * validated, label sets are escaped and pre-rendered into one string per
 * series (`outcome="failed",code="131026"`), cells are allocated. The hot
 * path is then one relaxed atomic add on a cell of its own 64-byte line
 * (two threads counting different series never share a line; the same
 * series shares it by nature). Relaxed ordering is enough: a scrape wants
 * each number eventually right, not a consistent cut across numbers.
 *
 * Histograms keep per-bucket (non-cumulative) counts and a sum. The
 * renderer accumulates the buckets and prints _count as the +Inf bucket,
 * so the exposition's invariant (+Inf == _count, buckets non-decreasing)
 * holds even when observations race the scrape; _sum may lag _count by
 * the observations in flight, which Prometheus tolerates.
 *
 * Values are integers with a per-family decimal scale, printed exactly
 * (no floating point anywhere): raw 1500000 at scale 1e9 prints 0.0015.
 *
 * The registry's mutex serialises registration and rendering only.
 * Invariants: a family's series array only grows; handles point into
 * separately allocated cells, so growing the array never moves a cell.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CELL 64  /* cache line */

struct metrics_histogram {
	const uint64_t *bounds;     /* the family's, nb of them */
	size_t nb;
	_Atomic uint64_t sum;
	_Atomic uint64_t counts[];  /* nb + 1: the last is +Inf */
};

struct series {
	char *labels;   /* pre-rendered, escaped; "" for none */
	void *mem;      /* the allocation the cell lives in */
	void *cell;     /* struct metrics_counter / _gauge / _histogram */
};

struct metrics_family {
	struct metrics *m;
	enum metrics_type type;
	char *name;
	char *help;      /* escaped for # HELP */
	size_t nlabels;
	char *labels[METRICS_LABELS_MAX];
	uint64_t scale;
	unsigned scale_digits;
	uint64_t *bounds;
	size_t nb;
	struct series *series;
	size_t n, cap;
	struct metrics_family *next;
};

struct metrics {
	pthread_mutex_t mu;
	struct metrics_family *head, *tail;
	size_t nfam;
};

/* ------------------------------------------------------------- buffers */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = bnd_realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* buf_escape - label values escape \ " and newline; help escapes \ and
 * newline (the format's two rules). */
static void buf_escape(struct buf *b, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_put(b, "\\\\", 2);
		else if (*s == '\n')
			buf_put(b, "\\n", 2);
		else if (quote && *s == '"')
			buf_put(b, "\\\"", 2);
		else
			buf_put(b, s, 1);
	}
}

/* buf_decimal - raw / 10^digits, exactly; trailing zeros dropped. */
static void buf_decimal(struct buf *b, uint64_t raw, int negative, unsigned digits)
{
	char tmp[48];
	int n = snprintf(tmp, sizeof tmp, "%s%llu", negative ? "-" : "", (unsigned long long)raw);
	if (digits == 0) {
		buf_put(b, tmp, (size_t)n);
		return;
	}
	uint64_t scale = 1;
	for (unsigned i = 0; i < digits; i++)
		scale *= 10;
	uint64_t ip = raw / scale, fp = raw % scale;
	n = snprintf(tmp, sizeof tmp, "%s%llu", negative ? "-" : "", (unsigned long long)ip);
	if (fp) {
		char frac[24];
		snprintf(frac, sizeof frac, "%0*llu", (int)digits, (unsigned long long)fp);
		size_t fl = strlen(frac);
		while (fl > 0 && frac[fl - 1] == '0')
			fl--;
		frac[fl] = '\0';
		n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".%s", frac);
	}
	buf_put(b, tmp, (size_t)n);
}

/* ---------------------------------------------------------- validation */

static int name_ok(const char *s, int colon)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > METRICS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		         (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* utf8_ok - valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + k >= n)
			return 0;  /* truncated sequence */
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* ------------------------------------------------------------ lifecycle */

int metrics_open(struct metrics **out)
{
	if (!out)
		return BND_E_INVAL;
	*out = NULL;
	struct metrics *m = bnd_calloc(1, sizeof *m);
	if (!m)
		return BND_E_NOMEM;
	int rc = pthread_mutex_init(&m->mu, NULL);
	if (rc != 0) {
		bnd_free(m);
		return -rc;
	}
	*out = m;
	return 0;
}

static void family_free(struct metrics_family *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		bnd_free(f->series[i].labels);
		bnd_free(f->series[i].mem);
	}
	bnd_free(f->series);
	for (size_t i = 0; i < f->nlabels; i++)
		bnd_free(f->labels[i]);
	bnd_free(f->bounds);
	bnd_free(f->name);
	bnd_free(f->help);
	bnd_free(f);
}

void metrics_close(struct metrics **p)
{
	if (!p || !*p)
		return;
	struct metrics *m = *p;
	for (struct metrics_family *f = m->head, *next; f; f = next) {
		next = f->next;
		family_free(f);
	}
	pthread_mutex_destroy(&m->mu);
	bnd_free(m);
	*p = NULL;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s);
	char *p = bnd_malloc(n + 1);
	if (p)
		memcpy(p, s, n + 1);
	return p;
}

/* taken - does name collide with a family's name or its derived series? */
static int taken(const struct metrics *m, const char *name)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count", NULL};
	for (const struct metrics_family *f = m->head; f; f = f->next) {
		if (strcmp(f->name, name) == 0)
			return 1;
		size_t fl = strlen(f->name);
		for (size_t i = 0; sfx[i]; i++) {
			/* name is f's derived series, or f is name's derived series */
			if (f->type == METRICS_HISTOGRAM && strncmp(name, f->name, fl) == 0 &&
			    strcmp(name + fl, sfx[i]) == 0)
				return 1;
		}
	}
	return 0;
}

int metrics_family_add(struct metrics *m, const struct metrics_desc *d,
                       struct metrics_family **out)
{
	if (!m || !d || !out)
		return BND_E_INVAL;
	*out = NULL;
	if (d->type != METRICS_COUNTER && d->type != METRICS_GAUGE && d->type != METRICS_HISTOGRAM)
		return BND_E_INVAL;
	if (!name_ok(d->name, 1))
		return BND_E_METRICS_NAME;
	if (d->type == METRICS_COUNTER && !ends_with(d->name, "_total"))
		return BND_E_METRICS_NAME;
	if (d->type == METRICS_HISTOGRAM &&
	    (ends_with(d->name, "_bucket") || ends_with(d->name, "_sum") ||
	     ends_with(d->name, "_count") || ends_with(d->name, "_total")))
		return BND_E_METRICS_NAME;
	if (!d->help || strlen(d->help) > METRICS_HELP_MAX || !utf8_ok(d->help, strlen(d->help)))
		return BND_E_METRICS_NAME;
	size_t nl = 0;
	while (nl <= METRICS_LABELS_MAX && d->labels[nl])
		nl++;
	if (nl > METRICS_LABELS_MAX)
		return BND_E_METRICS_NAME;
	for (size_t i = 0; i < nl; i++) {
		if (!name_ok(d->labels[i], 0) || strncmp(d->labels[i], "__", 2) == 0 ||
		    (d->type == METRICS_HISTOGRAM && strcmp(d->labels[i], "le") == 0))
			return BND_E_METRICS_NAME;
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->labels[i], d->labels[j]) == 0)
				return BND_E_METRICS_NAME;
	}
	uint64_t scale = d->scale ? d->scale : 1;
	unsigned digits = 0;
	for (uint64_t s = scale; s > 1; s /= 10) {
		if (s % 10 != 0)
			return BND_E_METRICS_NAME;
		digits++;
	}
	if (d->type == METRICS_HISTOGRAM) {
		if (!d->buckets || d->nbuckets == 0 || d->nbuckets > METRICS_BUCKETS_MAX)
			return BND_E_METRICS_NAME;
		for (size_t i = 1; i < d->nbuckets; i++)
			if (d->buckets[i] <= d->buckets[i - 1])
				return BND_E_METRICS_NAME;
	}

	int rc = BND_E_NOMEM;
	struct metrics_family *f = NULL;
	pthread_mutex_lock(&m->mu);
	if (taken(m, d->name)) {
		rc = BND_E_METRICS_DUP;
		goto out;
	}
	if (m->nfam >= METRICS_FAMILIES_MAX) {
		rc = BND_E_RANGE;
		goto out;
	}
	f = bnd_calloc(1, sizeof *f);
	if (!f)
		goto out;
	f->m = m;
	f->type = d->type;
	f->scale = scale;
	f->scale_digits = digits;
	f->name = dup_str(d->name);
	if (!f->name)
		goto out;
	struct buf hb = {0};
	buf_put(&hb, "", 0);
	buf_escape(&hb, d->help, 0);
	if (hb.oom) {
		bnd_free(hb.p);
		goto out;
	}
	f->help = hb.p;
	for (size_t i = 0; i < nl; i++) {
		f->labels[i] = dup_str(d->labels[i]);
		if (!f->labels[i])
			goto out;
		f->nlabels = i + 1;
	}
	if (d->type == METRICS_HISTOGRAM) {
		f->bounds = bnd_malloc(d->nbuckets * sizeof *f->bounds);
		if (!f->bounds)
			goto out;
		memcpy(f->bounds, d->buckets, d->nbuckets * sizeof *f->bounds);
		f->nb = d->nbuckets;
	}
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	m->nfam++;
	*out = f;
	f = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&m->mu);
	family_free(f);
	return rc;
}

/* render_labels - `a="x",b="y"`, empty values left out; NULL on OOM. */
static char *render_labels(const struct metrics_family *f, const char *const *values)
{
	struct buf b = {0};
	int first = 1;
	buf_put(&b, "", 0);
	for (size_t i = 0; i < f->nlabels; i++) {
		if (!values[i][0])
			continue;
		if (!first)
			buf_put(&b, ",", 1);
		first = 0;
		buf_str(&b, f->labels[i]);
		buf_put(&b, "=\"", 2);
		buf_escape(&b, values[i], 1);
		buf_put(&b, "\"", 1);
	}
	if (b.oom) {
		bnd_free(b.p);
		return NULL;
	}
	return b.p;
}

static int series_add(struct metrics_family *f, enum metrics_type type,
                      const char *const *values, void **cell_out)
{
	if (!f || !cell_out)
		return BND_E_INVAL;
	*cell_out = NULL;
	if (f->type != type)
		return BND_E_METRICS_TYPE;
	if (f->nlabels && !values)
		return BND_E_METRICS_LABELS;
	for (size_t i = 0; i < f->nlabels; i++) {
		if (!values[i])
			return BND_E_METRICS_LABELS;
		size_t n = strlen(values[i]);
		if (n > METRICS_VALUE_MAX || !utf8_ok(values[i], n))
			return BND_E_METRICS_LABELS;
		size_t digits = 0;
		for (size_t k = 0; k < n; k++)
			digits += values[i][k] >= '0' && values[i][k] <= '9';
		if (digits >= METRICS_PHONE_DIGITS)
			return BND_E_METRICS_PRIVACY;
	}
	/* a family without labels has exactly one series; values must then
	 * be NULL or an empty list */
	char *labels = render_labels(f, values);
	if (!labels)
		return BND_E_NOMEM;

	struct metrics *m = f->m;
	int rc = BND_E_NOMEM;
	void *mem = NULL;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->series[i].labels, labels) == 0) {
			rc = BND_E_METRICS_DUP;
			goto out;
		}
	}
	if (f->n >= METRICS_SERIES_MAX) {
		rc = BND_E_RANGE;
		goto out;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct series *s = bnd_realloc(f->series, cap * sizeof *s);
		if (!s)
			goto out;
		f->series = s;
		f->cap = cap;
	}
	size_t size = type == METRICS_HISTOGRAM
	                      ? sizeof(struct metrics_histogram) + (f->nb + 1) * sizeof(uint64_t)
	                      : CELL;
	size = (size + CELL - 1) / CELL * CELL;
	mem = bnd_calloc(1, size + CELL - 1);
	if (!mem)
		goto out;
	void *cell = (void *)(((uintptr_t)mem + CELL - 1) & ~(uintptr_t)(CELL - 1));
	if (type == METRICS_HISTOGRAM) {
		struct metrics_histogram *h = cell;
		h->bounds = f->bounds;
		h->nb = f->nb;
		atomic_init(&h->sum, 0);
		for (size_t i = 0; i <= f->nb; i++)
			atomic_init(&h->counts[i], 0);
	} else if (type == METRICS_COUNTER) {
		atomic_init(&((struct metrics_counter *)cell)->v, 0);
	} else {
		atomic_init(&((struct metrics_gauge *)cell)->v, 0);
	}
	f->series[f->n].labels = labels;
	f->series[f->n].mem = mem;
	f->series[f->n].cell = cell;
	f->n++;
	labels = NULL;
	mem = NULL;
	*cell_out = cell;
	rc = 0;
out:
	pthread_mutex_unlock(&m->mu);
	bnd_free(labels);
	bnd_free(mem);
	return rc;
}

int metrics_counter_series(struct metrics_family *f, const char *const *values,
                           struct metrics_counter **out)
{
	void *c = NULL;
	int rc = series_add(f, METRICS_COUNTER, values, &c);
	if (out)
		*out = c;
	return rc;
}

int metrics_gauge_series(struct metrics_family *f, const char *const *values,
                         struct metrics_gauge **out)
{
	void *c = NULL;
	int rc = series_add(f, METRICS_GAUGE, values, &c);
	if (out)
		*out = c;
	return rc;
}

int metrics_histogram_series(struct metrics_family *f, const char *const *values,
                             struct metrics_histogram **out)
{
	void *c = NULL;
	int rc = series_add(f, METRICS_HISTOGRAM, values, &c);
	if (out)
		*out = c;
	return rc;
}

/* ------------------------------------------------------------ hot path */

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t v)
{
	if (!h)
		return;
	/* first bound >= v; nb when v exceeds every bound (+Inf) */
	size_t lo = 0, hi = h->nb;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

uint64_t metrics_histogram_count(const struct metrics_histogram *h)
{
	if (!h)
		return 0;
	uint64_t n = 0;
	for (size_t i = 0; i <= h->nb; i++)
		n += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	return n;
}

/* ------------------------------------------------------------ rendering */

static const char *type_name(enum metrics_type t)
{
	return t == METRICS_COUNTER ? "counter" : t == METRICS_GAUGE ? "gauge" : "histogram";
}

/* sample - "name[suffix]{labels[,extra]} " */
static void sample_head(struct buf *b, const struct metrics_family *f, const char *suffix,
                        const char *labels, const char *extra)
{
	buf_str(b, f->name);
	buf_str(b, suffix);
	int any = labels[0] || extra;
	if (any) {
		buf_put(b, "{", 1);
		buf_str(b, labels);
		if (extra) {
			if (labels[0])
				buf_put(b, ",", 1);
			buf_str(b, extra);
		}
		buf_put(b, "}", 1);
	}
	buf_put(b, " ", 1);
}

static void render_family(struct buf *b, const struct metrics_family *f)
{
	buf_str(b, "# HELP ");
	buf_str(b, f->name);
	buf_put(b, " ", 1);
	buf_str(b, f->help);
	buf_str(b, "\n# TYPE ");
	buf_str(b, f->name);
	buf_put(b, " ", 1);
	buf_str(b, type_name(f->type));
	buf_put(b, "\n", 1);
	for (size_t i = 0; i < f->n; i++) {
		const struct series *s = &f->series[i];
		if (f->type == METRICS_COUNTER) {
			uint64_t v = metrics_counter_get(s->cell);
			sample_head(b, f, "", s->labels, NULL);
			buf_decimal(b, v, 0, f->scale_digits);
			buf_put(b, "\n", 1);
		} else if (f->type == METRICS_GAUGE) {
			int64_t v = metrics_gauge_get(s->cell);
			uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			sample_head(b, f, "", s->labels, NULL);
			buf_decimal(b, mag, v < 0, f->scale_digits);
			buf_put(b, "\n", 1);
		} else {
			const struct metrics_histogram *h = s->cell;
			uint64_t cum = 0;
			struct buf le = {0};
			for (size_t k = 0; k <= h->nb; k++) {
				cum += atomic_load_explicit(&h->counts[k], memory_order_relaxed);
				le.len = 0;
				buf_str(&le, "le=\"");
				if (k < h->nb)
					buf_decimal(&le, h->bounds[k], 0, f->scale_digits);
				else
					buf_str(&le, "+Inf");
				buf_str(&le, "\"");
				if (le.oom) {
					b->oom = 1;
					break;
				}
				sample_head(b, f, "_bucket", s->labels, le.p);
				buf_decimal(b, cum, 0, 0);
				buf_put(b, "\n", 1);
			}
			bnd_free(le.p);
			uint64_t sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
			sample_head(b, f, "_sum", s->labels, NULL);
			buf_decimal(b, sum, 0, f->scale_digits);
			buf_put(b, "\n", 1);
			sample_head(b, f, "_count", s->labels, NULL);
			buf_decimal(b, cum, 0, 0);
			buf_put(b, "\n", 1);
		}
	}
}

int metrics_render(struct metrics *m, char **out, size_t *len)
{
	if (!m || !out)
		return BND_E_INVAL;
	*out = NULL;
	if (len)
		*len = 0;
	struct buf b = {0};
	pthread_mutex_lock(&m->mu);
	for (const struct metrics_family *f = m->head; f && !b.oom; f = f->next)
		render_family(&b, f);
	pthread_mutex_unlock(&m->mu);
	if (!b.oom && !b.p)
		buf_put(&b, "", 0);
	if (b.oom || !b.p) {
		bnd_free(b.p);
		return BND_E_NOMEM;
	}
	*out = b.p;
	if (len)
		*len = b.len;
	return 0;
}
