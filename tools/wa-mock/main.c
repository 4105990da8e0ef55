/*
 * main.c - wa-mock: a faithful, fast, recording stand-in for the WhatsApp
 * Cloud API (docs/WA-MOCK.md; PRODUCT.md §2).
 *
 * A thin main: parse flags (conf.c), read secrets from the environment,
 * open the record, the webhook sender, the request handler and the HTTP
 * server, then wait for SIGTERM or SIGINT with sigwait. Signals are blocked
 * in every thread (they inherit the mask from here), so no handler runs in
 * the middle of a request; the main thread alone receives them, then stops
 * the pieces in reverse order and prints one summary line on stderr.
 * Exit codes: 0 after a clean stop, 2 for a usage error, 1 when a resource
 * (port, record file, webhook) cannot be opened.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bnd.h"
#include "conf.h"
#include "record.h"
#include "server.h"
#include "stats.h"
#include "webhook.h"

static int quiet;

static void log_stderr(enum bnd_log_level lvl, const char *module, const char *msg, void *ud)
{
	(void)ud;
	if (quiet && lvl < BND_LOG_ERROR)
		return;
	fprintf(stderr, "wa-mock: %s: %s\n", module, msg);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = mono_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

/* Write the port to path atomically (temporary file, then rename). */
static int write_port_file(const char *path, uint16_t port)
{
	char tmp[CONF_PATH_MAX + 32];
	if (snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", (unsigned)port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

/* Up to the hard limit: a thousand held connections need a thousand fds. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static struct conf c;
	static struct stats st;
	struct record *rec = NULL;
	struct webhook *wh = NULL;
	struct api *api = NULL;
	struct server *srv = NULL;
	uint64_t *nowa = NULL;
	size_t nowa_n = 0;
	int rc, status = 1;
	uint64_t start = mono_ns();

	conf_defaults(&c);
	rc = conf_parse(&c, argc, argv, stdout, stderr);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	quiet = c.quiet;
	bnd_log_set(log_stderr, NULL);
	if (!c.seed_set)
		c.faults.seed = random_u64();

	const char *token = getenv("WA_MOCK_TOKEN");
	const char *secret = getenv("WA_MOCK_APP_SECRET");
	const char *verify = getenv("WA_MOCK_VERIFY_TOKEN");
	if (token && !*token)
		token = NULL;
	if (c.webhook_url[0] && (!secret || !*secret)) {
		fprintf(stderr, "wa-mock: --webhook needs WA_MOCK_APP_SECRET in the environment "
		                "to sign X-Hub-Signature-256\n");
		return 2;
	}
	if (c.nowa_file[0]) {
		size_t bad = 0;
		rc = conf_load_numbers(c.nowa_file, &nowa, &nowa_n, &bad);
		if (rc != 0) {
			if (bad)
				fprintf(stderr, "wa-mock: --not-on-whatsapp %s: line %zu: %s\n", c.nowa_file,
				        bad, bnd_strerror(rc));
			else
				fprintf(stderr, "wa-mock: --not-on-whatsapp %s: %s\n", c.nowa_file,
				        bnd_strerror(rc));
			return 2;
		}
	}

	/* Block the stop signals in every thread started from here on. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "wa-mock: libcurl failed to initialise\n");
		goto out;
	}

	if (c.record_path[0] && (rc = record_open(&rec, c.record_path)) != 0) {
		fprintf(stderr, "wa-mock: --record %s: %s\n", c.record_path, bnd_strerror(rc));
		goto out_curl;
	}
	if (c.webhook_url[0]) {
		c.webhook.url = c.webhook_url;
		c.webhook.secret = (const uint8_t *)secret;
		c.webhook.secret_len = strlen(secret);
		c.webhook.verify_token = verify;
		c.webhook.seed = c.faults.seed;
		c.webhook.waba_id = c.waba_id;
		c.webhook.display_phone_number = c.display_phone_number;
		if ((rc = webhook_open(&wh, &c.webhook, &st)) != 0) {
			fprintf(stderr, "wa-mock: --webhook: %s\n", bnd_strerror(rc));
			goto out_curl;
		}
	}
	struct api_deps deps = {
		.conf = &c, .stats = &st, .record = rec, .webhook = wh,
		.token = (const uint8_t *)token, .token_len = token ? strlen(token) : 0,
		.nowa = nowa, .nowa_n = nowa_n, .nonce = random_u64(), .start_ns = start,
	};
	if ((rc = api_open(&api, &deps)) != 0) {
		fprintf(stderr, "wa-mock: %s\n", bnd_strerror(rc));
		goto out_curl;
	}
	uint16_t port = 0;
	if ((rc = server_open(&srv, &c, api, &port)) != 0) {
		fprintf(stderr, "wa-mock: cannot listen on %s:%u: %s\n", c.listen_host,
		        (unsigned)c.listen_port, bnd_strerror(rc));
		goto out_curl;
	}
	if (c.port_file[0] && (rc = write_port_file(c.port_file, port)) != 0) {
		fprintf(stderr, "wa-mock: --port-file %s: %s\n", c.port_file, bnd_strerror(rc));
		goto out_curl;
	}
	if (!quiet)
		fprintf(stderr, "wa-mock: listening on %s:%u seed=%" PRIu64 " rate=%g pair-rate=%g/min "
		        "tier=%u record=%s webhook=%s token=%s\n",
		        c.listen_host, (unsigned)port, c.faults.seed, c.limits.rate,
		        c.limits.pair_per_min, c.limits.tier, c.record_path[0] ? c.record_path : "off",
		        c.webhook_url[0] ? "on" : "off", token ? "checked" : "any");

	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
	status = 0;

out_curl:
	server_close(&srv);
	webhook_close(&wh);
	if (api) {
		uint64_t now = mono_ns();
		struct stats_extra x;
		api_extra(api, now, &x);
		char line[1024];
		stats_summary(&st, &x, line, sizeof line);
		fprintf(stderr, "wa-mock: stopped after %.1f s: %s\n", (double)(now - start) / 1e9,
		        line);
	}
	api_close(&api);
	record_close(&rec);
	curl_global_cleanup();
out:
	bnd_free(nowa);
	return status;
}
