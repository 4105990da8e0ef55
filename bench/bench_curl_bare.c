/*
 * bench_curl_bare.c - the floor libcurl itself sets: a bare curl-multi loop
 * that only sends the same POST /messages over N keep-alive connections as
 * fast as it can (N transfers in flight, each re-added on completion), with
 * the same options the engine's client uses (NOSIGNAL, TCP_NODELAY, the same
 * headers and body). Nothing else: no JSON parsing, no limiter, no
 * classification.
 *
 *   bench_curl_bare --url URL --conns N --count M [--mode epoll|poll]
 *
 * mode epoll (default): curl_multi_socket_action driven by a level-triggered
 * epoll and curl's timer as the epoll_wait timeout (curl's ephiperfifo.c
 * shape, the fastest way to drive curl); mode poll: curl_multi_perform +
 * curl_multi_poll (the simplest). Prints one JSON object; exits 1 unless
 * every one of the M requests got a 200.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

static const char BODY[] =
	"{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
	"\"to\":\"+393350000001\",\"type\":\"template\",\"template\":{\"name\":\"allerta_meteo\","
	"\"language\":{\"code\":\"it\"},\"components\":[{\"type\":\"body\",\"parameters\":"
	"[{\"type\":\"text\",\"text\":\"Allerta meteo arancione: domenica 12 ottobre\"}]}]},"
	"\"biz_opaque_callback_data\":\"n=1;s=1\"}";

struct bench {
	CURLM *multi;
	int epfd;
	double deadline;  /* curl's timer as an absolute time; < 0 none */
	long count, started, done, ok, bad;
	CURL **easy;
	int conns;
};


static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct bench *b = userp;
	(void)e;
	struct epoll_event ev = { .data.fd = s };
	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(b->multi, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (!socketp) {
		if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
			epoll_ctl(b->epfd, EPOLL_CTL_MOD, s, &ev);
		curl_multi_assign(b->multi, s, (void *)1);
	} else {
		epoll_ctl(b->epfd, EPOLL_CTL_MOD, s, &ev);
	}
	return 0;
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m;
	/* Keep an absolute deadline: a relative value would go stale while
	 * events keep the loop busy, and a later callback must not erase an
	 * earlier "now" (0) before it is served. */
	((struct bench *)userp)->deadline = ms < 0 ? -1.0 : now_s() + (double)ms / 1000.0;
	return 0;
}

static struct curl_slist *headers(void)
{
	struct curl_slist *h = NULL;
	h = curl_slist_append(h, "Authorization: Bearer bench-token");
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, "Accept: application/json");
	return h;
}

static void start(struct bench *b, CURL *e)
{
	b->started++;
	curl_multi_add_handle(b->multi, e);
}

static void reap(struct bench *b)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(b->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		long code = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (m->data.result == CURLE_OK && code == 200)
			b->ok++;
		else
			b->bad++;
		b->done++;
		curl_multi_remove_handle(b->multi, e);
		if (b->started < b->count)
			start(b, e);
	}
}

static void run_epoll(struct bench *b)
{
	struct epoll_event ev[256];
	int running;
	curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	while (b->done < b->count) {
		int wait_ms = 1000;
		if (b->deadline >= 0) {
			double d = (b->deadline - now_s()) * 1000.0;
			wait_ms = d <= 0 ? 0 : (int)d + 1;
		}
		int n = epoll_wait(b->epfd, ev, 256, wait_ms);
		for (int i = 0; i < n; i++) {
			int mask = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
			           (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
			           (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
			curl_multi_socket_action(b->multi, ev[i].data.fd, mask, &running);
		}
		reap(b);
		if (b->deadline >= 0 && b->deadline <= now_s()) {
			b->deadline = -1;
			curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
			reap(b);
		}
	}
}

static void run_poll(struct bench *b)
{
	int running;
	while (b->done < b->count) {
		curl_multi_perform(b->multi, &running);
		reap(b);
		if (b->done < b->count)
			curl_multi_poll(b->multi, NULL, 0, 1000, NULL);
	}
}

int main(int argc, char **argv)
{
	const char *url = NULL, *mode = "epoll";
	struct bench b = { .conns = 64, .count = 200000, .deadline = -1 };
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--url"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--conns"))
			b.conns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--count"))
			b.count = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--mode"))
			mode = argv[i + 1];
	}
	if (!url || b.conns < 1 || b.count < 1) {
		fprintf(stderr, "usage: bench_curl_bare --url URL --conns N --count M [--mode epoll|poll]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	b.multi = curl_multi_init();
	b.epfd = epoll_create1(EPOLL_CLOEXEC);
	curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)b.conns);
	curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, (long)b.conns);
	if (!strcmp(mode, "epoll")) {
		curl_multi_setopt(b.multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
		curl_multi_setopt(b.multi, CURLMOPT_SOCKETDATA, &b);
		curl_multi_setopt(b.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
		curl_multi_setopt(b.multi, CURLMOPT_TIMERDATA, &b);
	}
	struct curl_slist *h = headers();
	b.easy = calloc((size_t)b.conns, sizeof *b.easy);
	for (int i = 0; i < b.conns; i++) {
		CURL *e = curl_easy_init();
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, BODY);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof BODY - 1));
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "banditore/0.1");
		b.easy[i] = e;
	}
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	double t0 = now_s();
	for (int i = 0; i < b.conns && b.started < b.count; i++)
		start(&b, b.easy[i]);
	if (!strcmp(mode, "epoll"))
		run_epoll(&b);
	else
		run_poll(&b);
	double secs = now_s() - t0;
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
	             (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
	             (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	             (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("{\"prog\":\"bare_%s\",\"conns\":%d,\"count\":%ld,\"ok\":%ld,\"bad\":%ld,"
	       "\"secs\":%.4f,\"msgs_per_s\":%.1f,\"cpu_us_per_msg\":%.3f,\"maxrss_kb\":%ld}\n",
	       mode, b.conns, b.count, b.ok, b.bad, secs, (double)b.count / secs,
	       cpu * 1e6 / (double)b.count, r1.ru_maxrss);
	for (int i = 0; i < b.conns; i++)
		curl_easy_cleanup(b.easy[i]);
	curl_multi_cleanup(b.multi);
	curl_slist_free_all(h);
	free(b.easy);
	return b.ok == b.count ? 0 : 1;
}
