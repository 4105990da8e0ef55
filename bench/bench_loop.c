/*
 * bench_loop.c - the engine's loop + API client sending N requests as fast
 * as the server answers (limiter off): per message it builds the request
 * JSON (wareq, a different recipient and tag each time), sends it through
 * the loop on io_uring or epoll, parses the response (jansson) and
 * classifies it (waerr). Compare with bench_curl_bare at the same
 * connection count.
 *
 *   bench_loop --url URL --conns N --count M [--window W] [--backend uring|epoll]
 *
 * Prints one JSON object; exits 1 unless all M were ACCEPTED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bnd.h"
#include "loop.h"
#include "waclient.h"

struct bench {
	struct loop *l;
	struct waclient *c;
	long count, started, done, accepted;
	long by[WA_OUTCOME_COUNT];
};

static const char TEXT[] = "Allerta meteo arancione: domenica 12 ottobre";

static int send_next(struct bench *b)
{
	char tag[32];
	int tl = snprintf(tag, sizeof tag, "n=1;s=%ld", b->started);
	struct wa_bytes param = { (const uint8_t *)TEXT, sizeof TEXT - 1 };
	struct wa_msg m = {
		.kind = WA_MSG_TEMPLATE,
		.to = 393350000000ull + (uint64_t)b->started,
		.tmpl_name = { (const uint8_t *)"allerta_meteo", 13 },
		.lang = { (const uint8_t *)"it", 2 },
		.params = &param,
		.nparams = 1,
		.tag = { (const uint8_t *)tag, (size_t)tl },
	};
	int rc = waclient_send(b->c, &m, b);
	if (rc == 0)
		b->started++;
	return rc;
}

static void on_done(void *ud, const struct wa_result *r, uint64_t now)
{
	struct bench *b = ud;
	(void)now;
	b->done++;
	b->by[r->outcome]++;
	if (r->outcome == WA_ACCEPTED && r->wamid_len)
		b->accepted++;
	while (b->started < b->count && waclient_free_slots(b->c))
		if (send_next(b))
			break;
	if (b->done == b->count)
		loop_stop(b->l);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *backend = "uring", *http = "curl";
	int conns = 64, window = 0;
	struct bench b = { .count = 200000 };
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--url"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--conns"))
			conns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--window"))
			window = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--count"))
			b.count = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--backend"))
			backend = argv[i + 1];
		else if (!strcmp(argv[i], "--http"))
			http = argv[i + 1];
	}
	if (!url || conns < 1 || b.count < 1) {
		fprintf(stderr, "usage: bench_loop --url URL --conns N --count M [--window W] "
		                "[--backend uring|epoll] [--http curl|native]\n");
		return 2;
	}
	if (!window)
		window = conns;
	enum loop_backend be = !strcmp(backend, "epoll") ? LOOP_BACKEND_EPOLL : LOOP_BACKEND_URING;
	int rc = loop_open(&b.l, be);
	if (rc) {
		fprintf(stderr, "loop_open: %s\n", bnd_strerror(rc));
		return 1;
	}
	struct waclient_config cfg = {
		.api_base = url, .version = "v25.0", .phone_number_id = "110000000000001",
		.token = "bench-token", .window = (uint32_t)window, .connections = (uint32_t)conns,
		.timeout_ms = 15000, .done = on_done,
		.http = !strcmp(http, "native") ? WACLIENT_HTTP_NATIVE : WACLIENT_HTTP_CURL,
	};
	rc = waclient_open(&b.c, b.l, &cfg);
	if (rc) {
		fprintf(stderr, "waclient_open: %s\n", bnd_strerror(rc));
		return 1;
	}
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	double t0 = now_s();
	while (b.started < b.count && waclient_free_slots(b.c))
		if (send_next(&b))
			break;
	rc = loop_run(b.l);
	double secs = now_s() - t0;
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
	             (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
	             (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	             (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	struct loop_stats ls;
	loop_stats_get(b.l, &ls);
	struct waclient_stats ws;
	waclient_stats_get(b.c, &ws);
	printf("{\"prog\":\"loop_%s_%s\",\"conns\":%d,\"window\":%d,\"count\":%ld,\"ok\":%ld,"
	       "\"bad\":%ld,\"secs\":%.4f,\"msgs_per_s\":%.1f,\"cpu_us_per_msg\":%.3f,"
	       "\"maxrss_kb\":%ld,\"iterations\":%llu,\"events\":%llu,\"connects\":%llu}\n",
	       loop_backend_name(loop_backend(b.l)), waclient_http_name(waclient_http_used(b.c)),
	       conns, window, b.count, b.accepted,
	       b.count - b.accepted, secs, (double)b.count / secs, cpu * 1e6 / (double)b.count,
	       r1.ru_maxrss, (unsigned long long)ls.iterations, (unsigned long long)ls.events,
	       (unsigned long long)ws.connects);
	waclient_close(&b.c);
	loop_close(&b.l);
	return rc == 0 && b.accepted == b.count ? 0 : 1;
}
