/*
 * conf.h - wa-mock's configuration: every command-line flag, its default,
 * and the parser from argv. Secrets are not here: they come only from the
 * environment (WA_MOCK_TOKEN, WA_MOCK_APP_SECRET, WA_MOCK_VERIFY_TOKEN) and
 * main() reads them.
 */
#ifndef WAMOCK_CONF_H
#define WAMOCK_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "faults.h"
#include "limits.h"
#include "templates.h"
#include "webhook.h"

#define CONF_ID_MAX 64
#define CONF_PATH_MAX 4096

struct conf {
	char listen_host[256];
	uint16_t listen_port;
	char port_file[CONF_PATH_MAX];
	unsigned threads;                  /* HTTP threads; 0 = one per CPU */
	char phone_number_id[CONF_ID_MAX]; /* "" = accept any numeric id */
	char waba_id[CONF_ID_MAX];
	char display_phone_number[CONF_ID_MAX];
	struct limits_conf limits;
	int tier_code;
	struct templates templates;
	struct faults_profile faults;
	int seed_set;                      /* --seed given (else main draws one) */
	double nowa_fraction;              /* recipients "not on WhatsApp" */
	char nowa_file[CONF_PATH_MAX];          /* or a file of such numbers */
	char record_path[CONF_PATH_MAX];
	char webhook_url[2048];
	struct webhook_conf webhook;       /* url/secret/seed filled by main */
	size_t max_body;
	int quiet;
};

/*
 * conf_defaults - the documented defaults: listen 127.0.0.1:8089, rate 80/s
 * (burst = one second's worth), pair rate 10/min with a burst of 5, no tier,
 * tier code 131064, the default templates, no latency, no faults, stall
 * 20 s, webhook probabilities delivered 0.97 / read 0.6, delays sent
 * 100-500 ms, delivered +200-2000 ms, read +1-10 s, batches of 100 with
 * 100 ms linger, 8 retries from 500 ms (cap 30 s), 4 POSTs in flight,
 * 5 s timeout, a 64 KiB body limit.
 */
void conf_defaults(struct conf *c);

/*
 * conf_parse - apply argv[1..argc) to c (which holds defaults). Returns 0,
 * 1 when --help was asked (usage printed to out), or -1 after printing one
 * line naming the bad flag or value to err. Not thread-safe (getopt).
 */
int conf_parse(struct conf *c, int argc, char **argv, FILE *out, FILE *err);

/* conf_usage - print the --help text to out. */
void conf_usage(FILE *out);

/*
 * conf_load_numbers - read a file of phone numbers, one per line (blank
 * lines and lines starting with '#' ignored), each parsed with phone_parse,
 * into a sorted array of packed numbers (*out, owned by the caller, freed
 * with bnd_free). Returns 0, -errno, BND_E_NOMEM, or a phone_parse code for
 * a bad line (*bad_line: its 1-based number).
 */
int conf_load_numbers(const char *path, uint64_t **out, size_t *n, size_t *bad_line);

#endif
