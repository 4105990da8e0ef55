/*
 * webhook_load.c - subscribe (or unsubscribe) many citizens through real
 * signed WhatsApp webhooks, for tools/demo.sh and the integration tests.
 *
 *   webhook_load --url http://127.0.0.1:PORT/webhook --count N --first NUMBER
 *                [--text "JESI ON"] [--conns 16] [--per-body 1]
 *                [--id-prefix demo] [--phone-number-id 110000000000001]
 *                [--timeout-ms 30000] [--quiet]
 *
 * Sends N inbound text messages, from the numbers FIRST, FIRST+1, ...,
 * FIRST+N-1 (digits, the wa_id form), --per-body messages per POST, over
 * --conns keep-alive connections with one request in flight each (as
 * WhatsApp does: it posts concurrently). Each body is shaped like
 * reference/whatsapp-cloud-api.md section 4.3 (object, entry, changes,
 * value with metadata, contacts and messages; the timestamp a string),
 * each message id is unique ("wamid.<prefix>.<index>"), and each body
 * is signed with HMAC-SHA256 of its exact bytes under BANDITORE_APP_SECRET
 * (engine/webhook.h webhook_sign): the X-Hub-Signature-256 header.
 *
 * Prints one JSON line on stdout: {"bodies":..,"messages":..,"ok":..,
 * "failed":..,"elapsed_s":..,"messages_per_s":..,"p50_ms":..,"p99_ms":..}.
 * Progress on stderr unless --quiet (never a number: counts only). Exit 0
 * when every POST was answered 200, 1 when any was not (the first failures
 * are named on stderr by status), 2 for usage.
 *
 * libcurl's multi interface drives the connections: this tool measures
 * nothing about serve's limits, it only has to be faster than the
 * service's durable acknowledgement, which it is by a wide margin.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bnd.h"
#include "phone.h"
#include "webhook.h"

#define CONNS_MAX 256
#define PER_BODY_MAX 1000
#define BODY_MAX (PER_BODY_MAX * 400 + 1024)

struct opts {
	const char *url, *text, *prefix, *pnid;
	uint64_t count, first;
	unsigned conns, per_body;
	long timeout_ms;
	int quiet;
};

struct slot {
	CURL *e;
	struct curl_slist *hdr;
	char *body;
	size_t len;
	uint64_t first_index, n;
	uint64_t t0_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: webhook_load --url URL --count N --first NUMBER [--text T] [--conns C]\n"
	           "       [--per-body K] [--id-prefix P] [--phone-number-id ID] [--timeout-ms MS]\n"
	           "       [--quiet]   (secret: BANDITORE_APP_SECRET)\n");
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

/* Append a JSON string (the text is the caller's: escape " and \). */
static size_t put_str(char *b, size_t o, size_t cap, const char *s)
{
	b[o++] = '"';
	for (; *s && o + 8 < cap; s++) {
		if (*s == '"' || *s == '\\')
			b[o++] = '\\';
		b[o++] = *s;
	}
	b[o++] = '"';
	return o;
}

/* Build the body of messages [first_index, first_index + n). */
static size_t build(char *b, size_t cap, const struct opts *o, uint64_t first_index, uint64_t n,
                    uint64_t ts)
{
	size_t k = 0;
	k += (size_t)snprintf(b + k, cap - k,
	                      "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	                      "\"220000000000002\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	                      "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	                      "\"display_phone_number\":\"390731000000\",\"phone_number_id\":\"%s\"},"
	                      "\"contacts\":[",
	                      o->pnid);
	for (uint64_t i = 0; i < n; i++) {
		char num[PHONE_STR_MAX];
		phone_format(o->first + first_index + i, num);
		k += (size_t)snprintf(b + k, cap - k, "%s{\"profile\":{\"name\":\"Cittadino %" PRIu64
		                      "\"},\"wa_id\":\"%s\"}", i ? "," : "", first_index + i, num);
	}
	k += (size_t)snprintf(b + k, cap - k, "],\"messages\":[");
	for (uint64_t i = 0; i < n; i++) {
		char num[PHONE_STR_MAX];
		phone_format(o->first + first_index + i, num);
		k += (size_t)snprintf(b + k, cap - k, "%s{\"from\":\"%s\",\"id\":\"wamid.%s.%" PRIu64
		                      "\",\"timestamp\":\"%" PRIu64 "\",\"type\":\"text\",\"text\":{"
		                      "\"body\":", i ? "," : "", num, o->prefix, first_index + i, ts);
		k = put_str(b, k, cap, o->text);
		k += (size_t)snprintf(b + k, cap - k, "}}");
	}
	k += (size_t)snprintf(b + k, cap - k, "]}}]}]}");
	return k;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end = NULL;
	unsigned long long x = strtoull(s, &end, 10);
	if (!*s || !end || *end)
		return -1;
	*v = x;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .text = "JESI ON", .prefix = "load", .pnid = "110000000000001",
		          .conns = 16, .per_body = 1, .timeout_ms = 30000 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x = 0;
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--quiet") == 0) {
			o.quiet = 1;
			continue;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--url") == 0)
			o.url = v;
		else if (strcmp(a, "--text") == 0)
			o.text = v;
		else if (strcmp(a, "--id-prefix") == 0)
			o.prefix = v;
		else if (strcmp(a, "--phone-number-id") == 0)
			o.pnid = v;
		else if (strcmp(a, "--count") == 0 && !parse_u64(v, &x))
			o.count = x;
		else if (strcmp(a, "--first") == 0 && phone_parse((const uint8_t *)v, strlen(v), &x) == 0)
			o.first = x;
		else if (strcmp(a, "--conns") == 0 && !parse_u64(v, &x) && x >= 1 && x <= CONNS_MAX)
			o.conns = (unsigned)x;
		else if (strcmp(a, "--per-body") == 0 && !parse_u64(v, &x) && x >= 1 &&
		         x <= PER_BODY_MAX)
			o.per_body = (unsigned)x;
		else if (strcmp(a, "--timeout-ms") == 0 && !parse_u64(v, &x) && x >= 100)
			o.timeout_ms = (long)x;
		else {
			fprintf(stderr, "webhook_load: bad argument %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	const char *secret = getenv("BANDITORE_APP_SECRET");
	if (!o.url || !o.count || !o.first || !secret || !*secret) {
		fprintf(stderr, "webhook_load: --url, --count, --first and BANDITORE_APP_SECRET are "
		                "required\n");
		return 2;
	}
	if (!phone_valid(o.first + o.count - 1)) {
		fprintf(stderr, "webhook_load: --first + --count leaves the valid numbers\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o.conns);
	uint64_t bodies = (o.count + o.per_body - 1) / o.per_body;
	uint64_t *lat = calloc(bodies, sizeof *lat);
	struct slot *slots = calloc(o.conns, sizeof *slots);
	if (!lat || !slots) {
		fprintf(stderr, "webhook_load: out of memory\n");
		return 1;
	}
	uint64_t next = 0, done_bodies = 0, ok = 0, failed = 0, nlat = 0;
	uint64_t ts = (uint64_t)time(NULL);
	uint64_t start = mono_ns(), last_print = start;
	int bad_shown = 0;

	/* Start (or restart) slot s with the next body; 0 when none is left. */
#define LAUNCH(s)                                                                              \
	do {                                                                                   \
		if (next >= o.count)                                                           \
			break;                                                                 \
		uint64_t n_ = o.count - next < o.per_body ? o.count - next : o.per_body;       \
		(s)->len = build((s)->body, BODY_MAX, &o, next, n_, ts);                       \
		(s)->first_index = next;                                                       \
		(s)->n = n_;                                                                   \
		next += n_;                                                                    \
		char sig_[WEBHOOK_SIG_LEN + 1], h_[WEBHOOK_SIG_LEN + 40];                      \
		webhook_sign((const uint8_t *)secret, strlen(secret), (const uint8_t *)(s)->body, \
		             (s)->len, sig_);                                                  \
		snprintf(h_, sizeof h_, "X-Hub-Signature-256: %s", sig_);                      \
		curl_slist_free_all((s)->hdr);                                                 \
		(s)->hdr = curl_slist_append(NULL, "Content-Type: application/json");          \
		(s)->hdr = curl_slist_append((s)->hdr, h_);                                    \
		curl_easy_setopt((s)->e, CURLOPT_HTTPHEADER, (s)->hdr);                        \
		curl_easy_setopt((s)->e, CURLOPT_POSTFIELDS, (s)->body);                       \
		curl_easy_setopt((s)->e, CURLOPT_POSTFIELDSIZE, (long)(s)->len);               \
		(s)->t0_ns = mono_ns();                                                        \
		curl_multi_add_handle(m, (s)->e);                                              \
	} while (0)

	for (unsigned i = 0; i < o.conns; i++) {
		struct slot *s = &slots[i];
		s->body = malloc(BODY_MAX);
		s->e = curl_easy_init();
		if (!s->body || !s->e) {
			fprintf(stderr, "webhook_load: out of memory\n");
			return 1;
		}
		curl_easy_setopt(s->e, CURLOPT_URL, o.url);
		curl_easy_setopt(s->e, CURLOPT_PRIVATE, s);
		curl_easy_setopt(s->e, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(s->e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(s->e, CURLOPT_TIMEOUT_MS, o.timeout_ms);
		curl_easy_setopt(s->e, CURLOPT_USERAGENT, "facebookexternalua");
		LAUNCH(s);
	}
	int running = 1;
	while (running || done_bodies < bodies) {
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			long status = 0;
			curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &status);
			CURLcode res = msg->data.result;
			curl_multi_remove_handle(m, s->e);
			done_bodies++;
			lat[nlat++] = mono_ns() - s->t0_ns;
			if (res == CURLE_OK && status == 200) {
				ok += s->n;
			} else {
				failed += s->n;
				if (bad_shown++ < 5)
					fprintf(stderr, "webhook_load: a POST got %s %ld\n",
					        res == CURLE_OK ? "HTTP" : curl_easy_strerror(res), status);
			}
			LAUNCH(s);
			running = 1;
		}
		if (done_bodies >= bodies)
			break;
		int nfds = 0;
		curl_multi_poll(m, NULL, 0, 100, &nfds);
		uint64_t t = mono_ns();
		if (!o.quiet && t - last_print >= 1000000000ull) {
			last_print = t;
			fprintf(stderr, "webhook_load: %" PRIu64 "/%" PRIu64 " messages answered\n",
			        ok + failed, o.count);
		}
	}
	double el = (double)(mono_ns() - start) / 1e9;
	qsort(lat, nlat, sizeof *lat, cmp_u64);
	double p50 = nlat ? (double)lat[nlat / 2] / 1e6 : 0.0;
	double p99 = nlat ? (double)lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100 : nlat - 1] / 1e6
	                  : 0.0;
	printf("{\"bodies\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"elapsed_s\":%.3f,\"messages_per_s\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
	       done_bodies, o.count, ok, failed, el, el > 0 ? (double)(ok + failed) / el : 0.0, p50,
	       p99);
	for (unsigned i = 0; i < o.conns; i++) {
		curl_slist_free_all(slots[i].hdr);
		curl_easy_cleanup(slots[i].e);
		free(slots[i].body);
	}
	free(slots);
	free(lat);
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
