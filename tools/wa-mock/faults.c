/*
 * faults.c - seeded fault and latency decisions for wa-mock (see faults.h).
 *
 * Design: every decision is a pure function of the seed and a key (the
 * request's sequence number, or a recipient number), so it needs no lock and
 * gives the same answer on every run with the same seed and the same order
 * of requests, whatever the threads do. The hash is splitmix64's finaliser,
 * which passes the usual avalanche tests and costs a few multiplications:
 * the request path calls it a handful of times.
 *
 * Bursts of 5xx are decided per window of burst_len consecutive sequence
 * numbers rather than by a "burst until" counter, so they too depend only
 * on the sequence number and not on what other threads did first.
 *
 * Latency: uniform in [min, max], or log-normal given the median and the
 * 99th percentile (sigma = ln(p99 / p50) / 2.326, the normal's 99% point),
 * drawn with Box-Muller from two hashed uniforms, and capped so a single
 * draw cannot park a connection for hours.
 */
#include "faults.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "speclist.h"

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t faults_hash(uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ULL);
	h = mix64(h ^ (a + 0x9e3779b97f4a7c15ULL));
	return mix64(h ^ (b * 0xd6e8feb86659fd93ULL + 0x632be59bd9b4e019ULL));
}

double faults_unit(uint64_t h)
{
	return (double)(h >> 11) * (1.0 / 9007199254740992.0);  /* 53 bits / 2^53 */
}

int faults_default_async(int code)
{
	switch (code) {
	case 131026: case 131047: case 131049: case 131050:
		return 1;
	default:
		return 0;
	}
}

/* Parse a probability in [0, 1] from a NUL-terminated token. */
static int parse_prob(const char *s, double *out)
{
	char *end;
	if (!*s)
		return -1;
	double v = strtod(s, &end);
	if (*end || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

/* Parse a positive decimal integer below limit from a NUL-terminated token. */
static int parse_uint(const char *s, unsigned long limit, unsigned long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v == 0 || v >= limit)
		return -1;
	*out = v;
	return 0;
}

/* Split a NUL-terminated item at ':' into at most 4 fields, in place. */
static int split_fields(char *item, char *f[4])
{
	int n = 0;
	char *p = item;
	for (;;) {
		if (n == 4)
			return -1;
		f[n++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	return n;
}

static int parse_fault(struct faults_profile *prof, char *item)
{
	char *f[4] = {0};
	int n = split_fields(item, f);
	if (n < 2)
		return BND_E_WAMOCK_SPEC;
	double p;
	if (parse_prob(f[1], &p) != 0)
		return BND_E_WAMOCK_SPEC;

	if (strcmp(f[0], "burst") == 0) {
		unsigned long len, code = 131000;
		if (n < 3 || parse_uint(f[2], 1000000, &len) != 0)
			return BND_E_WAMOCK_SPEC;
		if (n == 4 && parse_uint(f[3], 10000000, &code) != 0)
			return BND_E_WAMOCK_SPEC;
		prof->burst_p = p;
		prof->burst_len = (uint32_t)len;
		prof->burst_code = (int)code;
		return 0;
	}

	if (prof->nmix >= FAULTS_MAX_ENTRIES)
		return BND_E_WAMOCK_FULL;
	struct faults_entry e = {.p = p};
	if (strcmp(f[0], "reset") == 0 || strcmp(f[0], "reset-accepted") == 0 ||
	    strcmp(f[0], "stall") == 0) {
		if (n != 2)
			return BND_E_WAMOCK_SPEC;
		e.kind = f[0][0] == 's' ? FAULTS_STALL
		       : f[0][5] == '\0' ? FAULTS_RESET : FAULTS_RESET_ACCEPTED;
	} else {
		unsigned long code;
		if (parse_uint(f[0], 10000000, &code) != 0 || n > 3)
			return BND_E_WAMOCK_SPEC;
		e.kind = FAULTS_CODE;
		e.code = (int)code;
		e.async = faults_default_async(e.code);
		if (n == 3) {
			if (strcmp(f[2], "async") == 0)
				e.async = 1;
			else if (strcmp(f[2], "sync") == 0)
				e.async = 0;
			else
				return BND_E_WAMOCK_SPEC;
		}
	}
	double sum = p;
	for (int i = 0; i < prof->nmix; i++)
		sum += prof->mix[i].p;
	if (sum > 1.0 + 1e-9)
		return BND_E_WAMOCK_SPEC;
	prof->mix[prof->nmix++] = e;
	return 0;
}

static int parse_fault_item(char *item, void *ud)
{
	return parse_fault(ud, item);
}

int faults_parse_mix(struct faults_profile *prof, const char *spec, size_t len,
                     size_t *bad_at)
{
	return speclist_each(spec, len, parse_fault_item, prof, bad_at);
}

int faults_set_lognormal(struct faults_profile *prof, double p50_ms, double p99_ms)
{
	if (!(p50_ms > 0.0) || !(p99_ms >= p50_ms) || p99_ms > 3600e3)
		return BND_E_INVAL;
	prof->lognormal = 1;
	prof->ln_mu = log(p50_ms * 1e6);
	prof->ln_sigma = log(p99_ms / p50_ms) / 2.326347874;  /* z of the 99th percentile */
	return 0;
}

const struct faults_entry *faults_pick(const struct faults_profile *prof, uint64_t seq,
                                       struct faults_entry *burst_out)
{
	if (prof->burst_len > 0 && prof->burst_p > 0.0) {
		uint64_t window = seq / prof->burst_len;
		if (faults_unit(faults_hash(prof->seed, window, FAULTS_TAG_BURST)) < prof->burst_p) {
			*burst_out = (struct faults_entry){.kind = FAULTS_CODE,
			                                   .code = prof->burst_code, .p = 0};
			return burst_out;
		}
	}
	if (prof->nmix == 0)
		return NULL;
	double u = faults_unit(faults_hash(prof->seed, seq, FAULTS_TAG_MIX));
	double acc = 0.0;
	for (int i = 0; i < prof->nmix; i++) {
		acc += prof->mix[i].p;
		if (u < acc)
			return &prof->mix[i];
	}
	return NULL;
}

uint64_t faults_latency_ns(const struct faults_profile *prof, uint64_t seq)
{
	uint64_t v;
	if (prof->lognormal) {
		double u1 = faults_unit(faults_hash(prof->seed, seq, FAULTS_TAG_LATENCY));
		double u2 = faults_unit(faults_hash(prof->seed, seq, FAULTS_TAG_LATENCY2));
		if (u1 < 1e-300)
			u1 = 1e-300;
		double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
		double ns = exp(prof->ln_mu + prof->ln_sigma * z);
		v = ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
	} else {
		if (prof->lat_max_ns <= prof->lat_min_ns)
			return prof->lat_min_ns;
		uint64_t span = prof->lat_max_ns - prof->lat_min_ns + 1;
		v = prof->lat_min_ns +
		    faults_hash(prof->seed, seq, FAULTS_TAG_LATENCY) % span;
	}
	if (prof->lat_cap_ns && v > prof->lat_cap_ns)
		v = prof->lat_cap_ns;
	return v;
}
