/*
 * conf.c - wa-mock's flags (see conf.h; the reference is docs/WA-MOCK.md).
 *
 * getopt_long with long options only: the flags are the stable surface of
 * PRODUCT.md §2 and scripts spell them out. Every numeric value is range
 * checked; a bad value ends the program with one line naming the flag,
 * never with a silently clamped setting.
 */
#include "conf.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "phone.h"

#define MS 1000000ull  /* nanoseconds per millisecond */

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->listen_host, "127.0.0.1");
	c->listen_port = 8089;
	strcpy(c->waba_id, "220000000000002");
	strcpy(c->display_phone_number, "390731000000");
	c->limits = (struct limits_conf){
		.rate = 80, .rate_burst = 0, .pair_per_min = 10, .pair_burst = 5,
		.tier = 0, .tier_window_ns = 86400ull * 1000 * MS,
	};
	c->tier_code = 131064;
	templates_parse(&c->templates, TEMPLATES_DEFAULT, strlen(TEMPLATES_DEFAULT), NULL);
	c->faults.burst_code = 131000;
	c->faults.stall_ns = 20000 * MS;
	c->faults.lat_cap_ns = 120000 * MS;
	c->webhook = (struct webhook_conf){
		.p_delivered = 0.97, .p_read = 0.6, .p_dup = 0,
		.sent_min_ns = 100 * MS, .sent_max_ns = 500 * MS,
		.delivered_min_ns = 200 * MS, .delivered_max_ns = 2000 * MS,
		.read_min_ns = 1000 * MS, .read_max_ns = 10000 * MS,
		.batch_max = 100, .linger_ns = 100 * MS,
		.retries = 8, .retry_base_ns = 500 * MS, .retry_max_ns = 30000 * MS,
		.concurrency = 4, .timeout_ms = 5000, .max_pending = 10000000,
	};
	c->max_body = 64 * 1024;
}

void conf_usage(FILE *out)
{
	fputs(
"usage: wa-mock [options]\n"
"A local stand-in for the WhatsApp Cloud API: POST /{version}/{phone-number-id}/messages\n"
"answers like the real API, with its limits, seeded faults, signed status webhooks\n"
"and a record of every accepted message. GET /mock/stats reports counters.\n"
"\n"
"server\n"
"  --listen HOST:PORT        address to serve (127.0.0.1:8089); port 0 = any free port\n"
"  --port-file FILE          write the bound port to FILE once listening\n"
"  --threads N               HTTP threads (one per CPU)\n"
"  --phone-number-id ID      accept only this phone-number-id (any numeric id)\n"
"  --waba-id ID              entry[].id in webhooks (220000000000002)\n"
"  --display-phone-number N  metadata.display_phone_number (390731000000)\n"
"  --max-body BYTES          larger request bodies get 413 (65536)\n"
"  --quiet                   no start-up line and no warnings on stderr\n"
"limits\n"
"  --rate N                  messages/s per phone-number-id, 0 = no limit (80) -> 130429\n"
"  --rate-burst N            requests allowed at once (one second's worth)\n"
"  --pair-rate N             messages/min to one recipient, 0 = no limit (10) -> 131056\n"
"  --pair-burst N            messages at once to one recipient (5; the real API allows 45)\n"
"  --tier N                  unique recipients per rolling window, 0 = unlimited (0)\n"
"  --tier-window-s S         the tier's rolling window (86400)\n"
"  --tier-code CODE          error code past the tier (131064)\n"
"templates\n"
"  --templates SPEC          NAME:LANG:PARAMS[:approved|paused|disabled[:CATEGORY]],...\n"
"                            replaces the defaults; a leading '+' adds to them. Defaults:\n"
"                            " TEMPLATES_DEFAULT "\n"
"faults (all seeded: the same --seed and request order give the same outcomes)\n"
"  --seed N                  seed of every random choice (random, printed at start)\n"
"  --latency-ms MIN[:MAX]    answer after a uniform delay in [MIN, MAX] ms\n"
"  --latency-dist lognormal:P50:P99   heavy-tailed delay instead (ms)\n"
"  --error-mix SPEC          CODE:P[:sync|async], reset:P, reset-accepted:P, stall:P,\n"
"                            burst:P:LEN[:CODE]; e.g. 131000:0.01,2:0.005,131026:0.02\n"
"  --stall-ms N              how late a stalled answer comes (20000)\n"
"  --not-on-whatsapp F|FILE  fraction of recipients, or a file of numbers, that get\n"
"                            200 then a failed 131026 webhook\n"
"record\n"
"  --record FILE             append one JSON line per accepted message (0600)\n"
"status webhooks\n"
"  --webhook URL             POST signed statuses to URL (needs WA_MOCK_APP_SECRET)\n"
"  --webhook-p-delivered F   sent -> delivered probability (0.97)\n"
"  --webhook-p-read F        delivered -> read probability (0.6)\n"
"  --webhook-p-dup F         probability a status is sent twice (0)\n"
"  --webhook-sent-ms MIN[:MAX]       accept -> sent/failed delay (100:500)\n"
"  --webhook-delivered-ms MIN[:MAX]  sent -> delivered delay (200:2000)\n"
"  --webhook-read-ms MIN[:MAX]       delivered -> read delay (1000:10000)\n"
"  --webhook-batch N         statuses per POST at most (100)\n"
"  --webhook-linger-ms N     wait for a batch to fill (100)\n"
"  --webhook-retries N       retries of a POST not answered 200 (8)\n"
"  --webhook-retry-ms N      first retry delay, doubling, capped at 30 s (500)\n"
"  --webhook-concurrency N   POSTs in flight (4)\n"
"  --webhook-timeout-ms N    per POST (5000)\n"
"environment\n"
"  WA_MOCK_TOKEN             expected bearer token (any token accepted if unset)\n"
"  WA_MOCK_APP_SECRET        HMAC-SHA256 key of X-Hub-Signature-256 on webhooks\n"
"  WA_MOCK_VERIFY_TOKEN      if set, a GET verification handshake to --webhook at start\n"
"SIGTERM/SIGINT stop it cleanly with a one-line summary on stderr.\n", out);
}

enum opt {
	O_LISTEN = 256, O_PORT_FILE, O_THREADS, O_PNID, O_WABA, O_DISPLAY, O_MAX_BODY,
	O_QUIET, O_RATE, O_RATE_BURST, O_PAIR_RATE, O_PAIR_BURST, O_TIER, O_TIER_WINDOW,
	O_TIER_CODE, O_TEMPLATES, O_SEED, O_LATENCY, O_LATENCY_DIST, O_ERROR_MIX,
	O_STALL, O_NOWA, O_RECORD, O_WEBHOOK, O_WH_P_DELIV, O_WH_P_READ, O_WH_P_DUP,
	O_WH_SENT, O_WH_DELIV, O_WH_READ, O_WH_BATCH, O_WH_LINGER, O_WH_RETRIES,
	O_WH_RETRY_MS, O_WH_CONC, O_WH_TIMEOUT, O_HELP,
};

static const struct option opts[] = {
	{"listen", required_argument, 0, O_LISTEN},
	{"port-file", required_argument, 0, O_PORT_FILE},
	{"threads", required_argument, 0, O_THREADS},
	{"phone-number-id", required_argument, 0, O_PNID},
	{"waba-id", required_argument, 0, O_WABA},
	{"display-phone-number", required_argument, 0, O_DISPLAY},
	{"max-body", required_argument, 0, O_MAX_BODY},
	{"quiet", no_argument, 0, O_QUIET},
	{"rate", required_argument, 0, O_RATE},
	{"rate-burst", required_argument, 0, O_RATE_BURST},
	{"pair-rate", required_argument, 0, O_PAIR_RATE},
	{"pair-burst", required_argument, 0, O_PAIR_BURST},
	{"tier", required_argument, 0, O_TIER},
	{"tier-window-s", required_argument, 0, O_TIER_WINDOW},
	{"tier-code", required_argument, 0, O_TIER_CODE},
	{"templates", required_argument, 0, O_TEMPLATES},
	{"seed", required_argument, 0, O_SEED},
	{"latency-ms", required_argument, 0, O_LATENCY},
	{"latency-dist", required_argument, 0, O_LATENCY_DIST},
	{"error-mix", required_argument, 0, O_ERROR_MIX},
	{"stall-ms", required_argument, 0, O_STALL},
	{"not-on-whatsapp", required_argument, 0, O_NOWA},
	{"record", required_argument, 0, O_RECORD},
	{"webhook", required_argument, 0, O_WEBHOOK},
	{"webhook-p-delivered", required_argument, 0, O_WH_P_DELIV},
	{"webhook-p-read", required_argument, 0, O_WH_P_READ},
	{"webhook-p-dup", required_argument, 0, O_WH_P_DUP},
	{"webhook-sent-ms", required_argument, 0, O_WH_SENT},
	{"webhook-delivered-ms", required_argument, 0, O_WH_DELIV},
	{"webhook-read-ms", required_argument, 0, O_WH_READ},
	{"webhook-batch", required_argument, 0, O_WH_BATCH},
	{"webhook-linger-ms", required_argument, 0, O_WH_LINGER},
	{"webhook-retries", required_argument, 0, O_WH_RETRIES},
	{"webhook-retry-ms", required_argument, 0, O_WH_RETRY_MS},
	{"webhook-concurrency", required_argument, 0, O_WH_CONC},
	{"webhook-timeout-ms", required_argument, 0, O_WH_TIMEOUT},
	{"help", no_argument, 0, O_HELP},
	{0, 0, 0, 0},
};

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_f64(const char *s, double min, double max, double *out)
{
	char *end;
	if (!*s)
		return -1;
	double v = strtod(s, &end);
	if (*end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

/* "MIN[:MAX]" in milliseconds (up to 1 h) to nanoseconds; MAX >= MIN. */
static int parse_range_ms(const char *s, uint64_t *lo, uint64_t *hi)
{
	char buf[64];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	uint64_t a, b;
	if (parse_u64(buf, 0, 3600000, &a) != 0)
		return -1;
	b = a;
	if (colon && parse_u64(colon + 1, a, 3600000, &b) != 0)
		return -1;
	*lo = a * MS;
	*hi = b * MS;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

static int parse_listen(struct conf *c, const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -1;
	size_t hl = (size_t)(colon - s);
	if (s[0] == '[' && s[hl - 1] == ']') {  /* [::1]:8089 */
		s++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof c->listen_host)
		return -1;
	uint64_t port;
	if (parse_u64(colon + 1, 0, 65535, &port) != 0)
		return -1;
	memcpy(c->listen_host, s, hl);
	c->listen_host[hl] = '\0';
	c->listen_port = (uint16_t)port;
	return 0;
}

static int digits_only(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Apply one option; returns 0, or -1 for a bad value. */
static int apply(struct conf *c, int o, const char *v)
{
	uint64_t u;
	double d;
	switch (o) {
	case O_LISTEN:
		return parse_listen(c, v);
	case O_PORT_FILE:
		return copy_str(c->port_file, sizeof c->port_file, v);
	case O_THREADS:
		if (parse_u64(v, 1, 64, &u) != 0)
			return -1;
		c->threads = (unsigned)u;
		return 0;
	case O_PNID:
		if (!digits_only(v))
			return -1;
		return copy_str(c->phone_number_id, sizeof c->phone_number_id, v);
	case O_WABA:
		if (!digits_only(v))
			return -1;
		return copy_str(c->waba_id, sizeof c->waba_id, v);
	case O_DISPLAY:
		if (!digits_only(v))
			return -1;
		return copy_str(c->display_phone_number, sizeof c->display_phone_number, v);
	case O_MAX_BODY:
		if (parse_u64(v, 1024, 16u << 20, &u) != 0)
			return -1;
		c->max_body = (size_t)u;
		return 0;
	case O_RATE:
		return parse_f64(v, 0, 1e7, &c->limits.rate);
	case O_RATE_BURST:
		if (parse_u64(v, 1, 10000000, &u) != 0)
			return -1;
		c->limits.rate_burst = (uint32_t)u;
		return 0;
	case O_PAIR_RATE:
		return parse_f64(v, 0, 1e7, &c->limits.pair_per_min);
	case O_PAIR_BURST:
		if (parse_u64(v, 1, 1000000, &u) != 0)
			return -1;
		c->limits.pair_burst = (uint32_t)u;
		return 0;
	case O_TIER:
		if (parse_u64(v, 0, 100000000, &u) != 0)
			return -1;
		c->limits.tier = (uint32_t)u;
		return 0;
	case O_TIER_WINDOW:
		if (parse_u64(v, 1, 365ull * 86400, &u) != 0)
			return -1;
		c->limits.tier_window_ns = u * 1000 * MS;
		return 0;
	case O_TIER_CODE:
		if (parse_u64(v, 1, 9999999, &u) != 0)
			return -1;
		c->tier_code = (int)u;
		return 0;
	case O_TEMPLATES:
		if (v[0] == '+') {
			v++;
		} else {
			c->templates.n = 0;
		}
		return templates_parse(&c->templates, v, strlen(v), NULL) == 0 ? 0 : -1;
	case O_SEED:
		if (parse_u64(v, 0, UINT64_MAX, &u) != 0)
			return -1;
		c->faults.seed = u;
		c->seed_set = 1;
		return 0;
	case O_LATENCY:
		c->faults.lognormal = 0;
		return parse_range_ms(v, &c->faults.lat_min_ns, &c->faults.lat_max_ns);
	case O_LATENCY_DIST: {
		double p50, p99;
		char tail;
		if (sscanf(v, "lognormal:%lf:%lf%c", &p50, &p99, &tail) != 2)
			return -1;
		return faults_set_lognormal(&c->faults, p50, p99) == 0 ? 0 : -1;
	}
	case O_ERROR_MIX:
		return faults_parse_mix(&c->faults, v, strlen(v), NULL) == 0 ? 0 : -1;
	case O_STALL:
		if (parse_u64(v, 1, 3600000, &u) != 0)
			return -1;
		c->faults.stall_ns = u * MS;
		return 0;
	case O_NOWA:
		c->nowa_file[0] = '\0';
		c->nowa_fraction = 0;
		if (parse_f64(v, 0, 1, &d) == 0) {
			c->nowa_fraction = d;
			return 0;
		}
		return copy_str(c->nowa_file, sizeof c->nowa_file, v);
	case O_RECORD:
		return copy_str(c->record_path, sizeof c->record_path, v);
	case O_WEBHOOK:
		if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
			return -1;
		return copy_str(c->webhook_url, sizeof c->webhook_url, v);
	case O_WH_P_DELIV:
		return parse_f64(v, 0, 1, &c->webhook.p_delivered);
	case O_WH_P_READ:
		return parse_f64(v, 0, 1, &c->webhook.p_read);
	case O_WH_P_DUP:
		return parse_f64(v, 0, 1, &c->webhook.p_dup);
	case O_WH_SENT:
		return parse_range_ms(v, &c->webhook.sent_min_ns, &c->webhook.sent_max_ns);
	case O_WH_DELIV:
		return parse_range_ms(v, &c->webhook.delivered_min_ns, &c->webhook.delivered_max_ns);
	case O_WH_READ:
		return parse_range_ms(v, &c->webhook.read_min_ns, &c->webhook.read_max_ns);
	case O_WH_BATCH:
		if (parse_u64(v, 1, 1000, &u) != 0)
			return -1;
		c->webhook.batch_max = (uint32_t)u;
		return 0;
	case O_WH_LINGER:
		if (parse_u64(v, 0, 60000, &u) != 0)
			return -1;
		c->webhook.linger_ns = u * MS;
		return 0;
	case O_WH_RETRIES:
		if (parse_u64(v, 0, 1000, &u) != 0)
			return -1;
		c->webhook.retries = (uint32_t)u;
		return 0;
	case O_WH_RETRY_MS:
		if (parse_u64(v, 1, 3600000, &u) != 0)
			return -1;
		c->webhook.retry_base_ns = u * MS;
		return 0;
	case O_WH_CONC:
		if (parse_u64(v, 1, 1024, &u) != 0)
			return -1;
		c->webhook.concurrency = (uint32_t)u;
		return 0;
	case O_WH_TIMEOUT:
		if (parse_u64(v, 1, 600000, &u) != 0)
			return -1;
		c->webhook.timeout_ms = (long)u;
		return 0;
	default:
		return -1;
	}
}

int conf_parse(struct conf *c, int argc, char **argv, FILE *out, FILE *err)
{
	optind = 1;
	opterr = 0;
	for (;;) {
		int idx = -1;
		int o = getopt_long(argc, argv, "", opts, &idx);
		if (o == -1)
			break;
		if (o == O_HELP) {
			conf_usage(out);
			return 1;
		}
		if (o == O_QUIET) {
			c->quiet = 1;
			continue;
		}
		if (o == '?' || o == ':') {
			fprintf(err, "wa-mock: unknown option or missing value: %s (see --help)\n",
			        argv[optind - 1]);
			return -1;
		}
		if (apply(c, o, optarg) != 0) {
			fprintf(err, "wa-mock: bad value for --%s: '%s' (see --help)\n",
			        idx >= 0 ? opts[idx].name : "?", optarg);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(err, "wa-mock: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int conf_load_numbers(const char *path, uint64_t **out, size_t *n, size_t *bad_line)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	uint64_t *v = NULL;
	size_t len = 0, cap = 0, line = 0;
	char buf[256];
	int rc = 0;
	while (fgets(buf, sizeof buf, f)) {
		line++;
		size_t l = strlen(buf);
		while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
			l--;
		size_t s = 0;
		while (s < l && (buf[s] == ' ' || buf[s] == '\t'))
			s++;
		if (s == l || buf[s] == '#')
			continue;
		uint64_t num;
		rc = phone_parse((const uint8_t *)buf + s, l - s, &num);
		if (rc != 0) {
			if (bad_line)
				*bad_line = line;
			goto out;
		}
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			uint64_t *nv = bnd_realloc(v, ncap * sizeof *nv);
			if (!nv) {
				rc = BND_E_NOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[len++] = num;
	}
	if (ferror(f))
		rc = -EIO;
out:
	fclose(f);
	if (rc != 0) {
		bnd_free(v);
		return rc;
	}
	if (len)
		qsort(v, len, sizeof *v, cmp_u64);
	*out = v;
	*n = len;
	return 0;
}
