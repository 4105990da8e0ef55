/*
 * prom_parse.h - a strict parser of the Prometheus text exposition format
 * 0.0.4, for tests (header-only: included by test_metrics.c, and usable by
 * integration helpers that scrape /metrics).
 *
 * Stricter than Prometheus itself on purpose: it accepts what a good
 * exporter emits and nothing sloppy.
 *  - every line ends with '\n'; no blank lines; '#' lines are HELP or TYPE
 *  - names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
 *    (not starting "__"), label values with only \\ \" \n escapes,
 *    valid UTF-8; no duplicate label name in a sample, no trailing comma
 *  - values: Go-ParseFloat floats (digits, '.', exponent, NaN, +Inf, -Inf)
 *  - at most one HELP and one TYPE per family, both before its samples;
 *    every sample belongs to a family with a TYPE; a family's samples are
 *    contiguous; no sample (name + label set) twice
 *  - counters: non-negative values
 *  - histograms: per label set, _bucket samples with an `le` label in
 *    strictly increasing order, non-decreasing counts, the last le="+Inf",
 *    and _count equal to it; a _sum; no other suffixes
 *  - privacy: no label value holds 8 or more digits
 * On failure prom_parse returns -1 and writes "line N: why" into err.
 */
#ifndef PROM_PARSE_H
#define PROM_PARSE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_MAX_SAMPLES 4096
#define PROM_MAX_FAMILIES 512

struct prom_sample {
	char name[160];
	char labels[1024];   /* canonical: name="unescaped value" joined by ',', sorted, no le */
	char le[64];         /* the raw le value, or "" */
	double value;
	int family;
};

struct prom_family {
	char name[160];
	char type[16];
	char help[1024];     /* unescaped */
	int has_help, has_type, samples, closed;
};

struct prom_doc {
	struct prom_sample s[PROM_MAX_SAMPLES];
	size_t ns;
	struct prom_family f[PROM_MAX_FAMILIES];
	size_t nf;
};

static inline int prom__name_ok(const char *s, size_t n, int colon)
{
	if (n == 0)
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

static inline int prom__utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t k;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
		} else {
			return 0;
		}
		for (size_t j = 1; j <= k; j++)
			if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

/* prom__float - Go ParseFloat's forms that exporters use. */
static inline int prom__float(const char *s, size_t n, double *out)
{
	char b[64];
	if (n == 0 || n >= sizeof b)
		return 0;
	memcpy(b, s, n);
	b[n] = '\0';
	if (!strcmp(b, "+Inf") || !strcmp(b, "Inf")) {
		*out = INFINITY;
		return 1;
	}
	if (!strcmp(b, "-Inf")) {
		*out = -INFINITY;
		return 1;
	}
	if (!strcmp(b, "NaN")) {
		*out = NAN;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
		      c == '-'))
			return 0;
	}
	char *end;
	*out = strtod(b, &end);
	return *end == '\0';
}

static inline int prom__find_family(struct prom_doc *d, const char *name)
{
	for (size_t i = 0; i < d->nf; i++)
		if (!strcmp(d->f[i].name, name))
			return (int)i;
	return -1;
}

static inline int prom__ends(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && !strcmp(s + a - b, suf);
}

/* prom__cmp - for sorting label pairs */
static inline int prom__cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define PROM_FAIL(...)                                                          \
	do {                                                                    \
		int o_ = lineno ? snprintf(err, errlen, "line %zu: ", lineno)   \
		                : snprintf(err, errlen, "histogram check: ");   \
		if (o_ > 0 && (size_t)o_ < errlen)                              \
			snprintf(err + o_, errlen - (size_t)o_, __VA_ARGS__);   \
		return -1;                                                      \
	} while (0)

/* prom__labels - parse {a="x",...} at p (pointing at '{'); writes the
 * canonical label string (without le) and le. Returns chars consumed or -1. */
static inline long prom__labels(const char *p, const char *end, char *canon, size_t ccap,
                                char *le, size_t lecap, char *why, size_t whylen)
{
	const char *q = p + 1;
	char pairs[32][300];
	char *ptrs[32];
	size_t np = 0;
	le[0] = '\0';
	if (q < end && *q == '}') {
		snprintf(why, whylen, "empty label set {}");
		return -1;
	}
	for (;;) {
		const char *n0 = q;
		while (q < end && *q != '=')
			q++;
		if (q >= end || !prom__name_ok(n0, (size_t)(q - n0), 0)) {
			snprintf(why, whylen, "bad label name");
			return -1;
		}
		size_t nl = (size_t)(q - n0);
		if (nl >= 2 && n0[0] == '_' && n0[1] == '_') {
			snprintf(why, whylen, "reserved label name");
			return -1;
		}
		q++;
		if (q >= end || *q != '"') {
			snprintf(why, whylen, "label value not quoted");
			return -1;
		}
		q++;
		char val[256];
		size_t vl = 0;
		while (q < end && *q != '"') {
			char c = *q;
			if (c == '\n') {
				snprintf(why, whylen, "raw newline in label value");
				return -1;
			}
			if (c == '\\') {
				q++;
				if (q >= end || (*q != '\\' && *q != '"' && *q != 'n')) {
					snprintf(why, whylen, "bad escape in label value");
					return -1;
				}
				c = *q == 'n' ? '\n' : *q;
			}
			if (vl + 1 >= sizeof val) {
				snprintf(why, whylen, "label value too long");
				return -1;
			}
			val[vl++] = c;
			q++;
		}
		if (q >= end) {
			snprintf(why, whylen, "unterminated label value");
			return -1;
		}
		val[vl] = '\0';
		q++;
		if (!prom__utf8_ok(val, vl)) {
			snprintf(why, whylen, "label value is not UTF-8");
			return -1;
		}
		size_t digits = 0;
		for (size_t i = 0; i < vl; i++)
			digits += val[i] >= '0' && val[i] <= '9';
		if (digits >= 8) {
			snprintf(why, whylen, "label value with %zu digits: a phone number?", digits);
			return -1;
		}
		for (size_t i = 0; i < np; i++) {
			if (strncmp(pairs[i], n0, nl) == 0 && pairs[i][nl] == '=') {
				snprintf(why, whylen, "label %.*s twice", (int)nl, n0);
				return -1;
			}
		}
		if (nl == 2 && !memcmp(n0, "le", 2)) {
			if (vl >= lecap) {
				snprintf(why, whylen, "le value too long");
				return -1;
			}
			memcpy(le, val, vl + 1);
			/* keep "le" in the duplicate check */
		}
		if (np == 32) {
			snprintf(why, whylen, "too many labels");
			return -1;
		}
		snprintf(pairs[np], sizeof pairs[np], "%.*s=\"%s\"", (int)nl, n0, val);
		ptrs[np] = pairs[np];
		np++;
		if (q < end && *q == ',') {
			q++;
			if (q < end && *q == '}') {
				snprintf(why, whylen, "trailing comma in labels");
				return -1;
			}
			continue;
		}
		if (q < end && *q == '}') {
			q++;
			break;
		}
		snprintf(why, whylen, "expected , or } in labels");
		return -1;
	}
	qsort(ptrs, np, sizeof ptrs[0], prom__cmp);
	size_t o = 0;
	canon[0] = '\0';
	for (size_t i = 0; i < np; i++) {
		if (!strncmp(ptrs[i], "le=\"", 4))
			continue;
		o += (size_t)snprintf(canon + o, ccap - o, "%s%s", o ? "," : "", ptrs[i]);
		if (o >= ccap) {
			snprintf(why, whylen, "labels too long");
			return -1;
		}
	}
	return q - p;
}

static inline int prom_parse(const char *text, size_t len, struct prom_doc *d, char *err,
                             size_t errlen)
{
	memset(d, 0, sizeof *d);
	size_t lineno = 0;
	const char *p = text, *end = text + len;
	int cur = -1;  /* family whose samples are being read */
	if (len == 0)
		return 0;
	while (p < end) {
		lineno++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			PROM_FAIL("no newline at the end");
		const char *le_ = nl;
		if (le_ == p)
			PROM_FAIL("blank line");
		if (!prom__utf8_ok(p, (size_t)(le_ - p)))
			PROM_FAIL("not UTF-8");
		if (*p == '#') {
			int help = (size_t)(le_ - p) > 7 && !memcmp(p, "# HELP ", 7);
			int type = (size_t)(le_ - p) > 7 && !memcmp(p, "# TYPE ", 7);
			if (!help && !type)
				PROM_FAIL("a comment that is neither HELP nor TYPE");
			const char *n0 = p + 7, *q = n0;
			while (q < le_ && *q != ' ')
				q++;
			if (!prom__name_ok(n0, (size_t)(q - n0), 1))
				PROM_FAIL("bad metric name in %s", help ? "HELP" : "TYPE");
			char name[160];
			snprintf(name, sizeof name, "%.*s", (int)(q - n0), n0);
			int fi = prom__find_family(d, name);
			if (fi < 0) {
				if (d->nf == PROM_MAX_FAMILIES)
					PROM_FAIL("too many families");
				fi = (int)d->nf++;
				snprintf(d->f[fi].name, sizeof d->f[fi].name, "%s", name);
			}
			struct prom_family *f = &d->f[fi];
			if (f->samples)
				PROM_FAIL("%s of %s after its samples", help ? "HELP" : "TYPE", name);
			if (q >= le_ || *q != ' ')
				PROM_FAIL("nothing after the name");
			q++;
			if (help) {
				if (f->has_help)
					PROM_FAIL("second HELP for %s", name);
				f->has_help = 1;
				size_t o = 0;
				for (; q < le_; q++) {
					char c = *q;
					if (c == '\\') {
						q++;
						if (q >= le_ || (*q != '\\' && *q != 'n'))
							PROM_FAIL("bad escape in HELP");
						c = *q == 'n' ? '\n' : '\\';
					}
					if (o + 1 < sizeof f->help)
						f->help[o++] = c;
				}
				f->help[o] = '\0';
			} else {
				if (f->has_type)
					PROM_FAIL("second TYPE for %s", name);
				f->has_type = 1;
				snprintf(f->type, sizeof f->type, "%.*s", (int)(le_ - q), q);
				if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
				    strcmp(f->type, "histogram") && strcmp(f->type, "summary") &&
				    strcmp(f->type, "untyped"))
					PROM_FAIL("unknown type \"%s\"", f->type);
			}
			p = nl + 1;
			continue;
		}
		/* a sample */
		if (d->ns == PROM_MAX_SAMPLES)
			PROM_FAIL("too many samples");
		struct prom_sample *s = &d->s[d->ns];
		const char *n0 = p, *q = p;
		while (q < le_ && *q != '{' && *q != ' ')
			q++;
		if (!prom__name_ok(n0, (size_t)(q - n0), 1) || (size_t)(q - n0) >= sizeof s->name)
			PROM_FAIL("bad metric name");
		snprintf(s->name, sizeof s->name, "%.*s", (int)(q - n0), n0);
		if (q < le_ && *q == '{') {
			char why[160];
			long used = prom__labels(q, le_, s->labels, sizeof s->labels, s->le,
			                         sizeof s->le, why, sizeof why);
			if (used < 0)
				PROM_FAIL("%s: %s", s->name, why);
			q += used;
		}
		if (q >= le_ || *q != ' ')
			PROM_FAIL("%s: no space before the value", s->name);
		q++;
		const char *v0 = q;
		while (q < le_ && *q != ' ')
			q++;
		if (!prom__float(v0, (size_t)(q - v0), &s->value))
			PROM_FAIL("%s: bad value \"%.*s\"", s->name, (int)(q - v0), v0);
		if (q < le_) {
			/* an optional integer timestamp */
			q++;
			const char *t0 = q;
			if (q < le_ && *q == '-')
				q++;
			while (q < le_ && *q >= '0' && *q <= '9')
				q++;
			if (q != le_ || q == t0)
				PROM_FAIL("%s: garbage after the value", s->name);
		}
		/* which family? */
		int fi = prom__find_family(d, s->name);
		const char *suffix = "";
		if (fi < 0 || !d->f[fi].has_type) {
			static const char *const sfx[] = {"_bucket", "_sum", "_count"};
			for (size_t k = 0; k < 3 && (fi < 0 || !d->f[fi].has_type); k++) {
				if (!prom__ends(s->name, sfx[k]))
					continue;
				char base[160];
				snprintf(base, sizeof base, "%.*s",
				         (int)(strlen(s->name) - strlen(sfx[k])), s->name);
				int bi = prom__find_family(d, base);
				if (bi >= 0 && !strcmp(d->f[bi].type, "histogram")) {
					fi = bi;
					suffix = sfx[k];
				}
			}
		}
		if (fi < 0 || !d->f[fi].has_type)
			PROM_FAIL("%s: sample without a TYPE line before it", s->name);
		struct prom_family *f = &d->f[fi];
		if (!strcmp(f->type, "histogram") && !*suffix)
			PROM_FAIL("%s: histogram sample without _bucket/_sum/_count", s->name);
		if (f->closed)
			PROM_FAIL("%s: samples of %s are not contiguous", s->name, f->name);
		if (cur >= 0 && cur != fi)
			d->f[cur].closed = 1;
		cur = fi;
		if (!strcmp(f->type, "counter") && !(s->value >= 0))
			PROM_FAIL("%s: negative or NaN counter", s->name);
		if (!strcmp(suffix, "_bucket") && !s->le[0])
			PROM_FAIL("%s: bucket without le", s->name);
		if (strcmp(suffix, "_bucket") && s->le[0])
			PROM_FAIL("%s: le outside a bucket", s->name);
		for (size_t i = 0; i < d->ns; i++)
			if (!strcmp(d->s[i].name, s->name) && !strcmp(d->s[i].labels, s->labels) &&
			    !strcmp(d->s[i].le, s->le))
				PROM_FAIL("%s{%s} twice", s->name, s->labels);
		s->family = fi;
		f->samples++;
		d->ns++;
		p = nl + 1;
	}
	/* histogram invariants, per family and label set */
	for (size_t fi = 0; fi < d->nf; fi++) {
		struct prom_family *f = &d->f[fi];
		if (strcmp(f->type, "histogram"))
			continue;
		for (size_t i = 0; i < d->ns; i++) {
			struct prom_sample *c = &d->s[i];
			if (c->family != (int)fi || !prom__ends(c->name, "_count"))
				continue;
			double prev_le = -INFINITY, prev_v = 0, last_v = -1;
			int last_inf = 0, buckets = 0, sum = 0;
			for (size_t j = 0; j < d->ns; j++) {
				struct prom_sample *b = &d->s[j];
				if (b->family != (int)fi || strcmp(b->labels, c->labels))
					continue;
				if (prom__ends(b->name, "_sum"))
					sum = 1;
				if (!prom__ends(b->name, "_bucket"))
					continue;
				double lev;
				lineno = 0;
				if (!prom__float(b->le, strlen(b->le), &lev) || isnan(lev))
					PROM_FAIL("%s{%s}: bad le \"%s\"", b->name, b->labels, b->le);
				if (last_inf)
					PROM_FAIL("%s{%s}: bucket after +Inf", b->name, b->labels);
				if (!(lev > prev_le))
					PROM_FAIL("%s{%s}: le %s not increasing", b->name, b->labels, b->le);
				if (b->value < prev_v)
					PROM_FAIL("%s{%s}: bucket counts decrease at le=%s", b->name,
					          b->labels, b->le);
				prev_le = lev;
				prev_v = b->value;
				last_v = b->value;
				last_inf = isinf(lev) && lev > 0;
				buckets++;
			}
			if (!buckets || !last_inf)
				PROM_FAIL("%s{%s}: no le=\"+Inf\" bucket", f->name, c->labels);
			if (last_v != c->value)
				PROM_FAIL("%s{%s}: +Inf bucket %g != _count %g", f->name, c->labels,
				          last_v, c->value);
			if (!sum)
				PROM_FAIL("%s{%s}: no _sum", f->name, c->labels);
		}
	}
	return 0;
}

/* prom_value - the value of name{labels} (canonical labels, le excluded,
 * le given separately or NULL); NAN when absent. */
static inline double prom_value(const struct prom_doc *d, const char *name, const char *labels,
                                const char *le)
{
	for (size_t i = 0; i < d->ns; i++)
		if (!strcmp(d->s[i].name, name) && !strcmp(d->s[i].labels, labels ? labels : "") &&
		    !strcmp(d->s[i].le, le ? le : ""))
			return d->s[i].value;
	return NAN;
}

#endif
