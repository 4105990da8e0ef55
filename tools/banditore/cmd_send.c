/*
 * cmd_send.c - `banditore send`: create one notice from every confirmed
 * subscriber and fan it out (PRODUCT.md §2).
 *
 * Order: take the data directory's writer lock (one clear line and exit 3
 * when serve holds it), snapshot the confirmed subscribers into the
 * notice's immutable recipient list (notice_create: atomic, synced), then
 * hand the notice to the sender (fanout.c). The notice id is printed on
 * stderr before the first request, so an interrupted send can be resumed
 * with `banditore resume ID` even if the terminal is lost.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fanout.h"
#include "limiter.h"
#include "notice.h"

static void usage_send(FILE *f)
{
	fprintf(f,
	        "usage: banditore [--data DIR] send --category CAT --text TEXT\n"
	        "                 [--template NAME --lang CODE] [--param TEXT]...\n"
	        "                 [--expires DURATION] [SENDING FLAGS] [--json]\n"
	        "\n"
	        "Fan one notice out to every confirmed subscriber and exit.\n"
	        "  --category CAT     emergency | disruption | deadline | event | info\n"
	        "                     (emergency is sent first, before any other notice)\n"
	        "  --text TEXT        the notice (up to 4,096 characters)\n"
	        "  --template NAME    approved template carrying it (default: notices.template,\n"
	        "                     \"notice\"), --lang CODE its language (\"it\")\n"
	        "  --param TEXT       a template body parameter (repeat; default: the text)\n"
	        "  --plain-text       send a free-form text message instead of a template\n"
	        "                     (only reaches people who wrote within 24 hours)\n"
	        "  --expires D        nothing is sent after now + D (default: the category's\n"
	        "                     notices.expiry, e.g. 6h for emergency; 0 = never)\n"
	        "  --json             the final report as one JSON object on stdout\n"
	        "\n%s",
	        fanout_flags_help);
}

/* notice_source_fn over the store: its kept sorted view, chunk by chunk. */
static int stream_confirmed(void *ud, notice_sink_fn sink, void *sink_ud)
{
	return store_confirmed_stream(ud, sink, sink_ud, NULL);
}

int cmd_send(int argc, char **argv, const struct cli_global *g)
{
	struct fanout_opts o;
	int rc = fanout_init(&o);
	if (rc)
		return rc;
	const char *cat = NULL, *text = NULL, *tmpl = NULL, *lang = NULL, *expires = NULL;
	const char *params[NOTICE_PARAMS_MAX];
	unsigned nparams = 0;
	int plain = 0;
	struct store *st = NULL;
	struct notice *n = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (cli_is_help(a)) {
			usage_send(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		}
		if (strcmp(a, "--category") == 0)
			slot = &cat;
		else if (strcmp(a, "--text") == 0)
			slot = &text;
		else if (strcmp(a, "--template") == 0)
			slot = &tmpl;
		else if (strcmp(a, "--lang") == 0)
			slot = &lang;
		else if (strcmp(a, "--expires") == 0)
			slot = &expires;
		else if (strcmp(a, "--plain-text") == 0) {
			plain = 1;
			continue;
		} else if (strcmp(a, "--param") == 0) {
			if (i + 1 >= argc || nparams >= NOTICE_PARAMS_MAX) {
				rc = cli_usage_error("banditore send", "--param: missing value or more "
				                     "than %d parameters", NOTICE_PARAMS_MAX);
				goto out;
			}
			params[nparams++] = argv[++i];
			continue;
		}
		if (slot) {
			if (i + 1 >= argc) {
				rc = cli_usage_error("banditore send", "%s needs a value", a);
				goto out;
			}
			*slot = argv[++i];
			continue;
		}
		int r = fanout_flag(&o, argc, argv, &i, "banditore send");
		if (r == 1)
			continue;
		rc = r ? r : cli_usage_error("banditore send", "unknown argument '%s'", a);
		goto out;
	}
	if (!cat || !text) {
		rc = cli_usage_error("banditore send", "--category and --text are required");
		goto out;
	}
	if ((rc = fanout_finish_config(&o, g, "banditore send")))
		goto out;

	enum notice_category c;
	if (notice_category_parse((const uint8_t *)cat, strlen(cat), &c)) {
		rc = cli_usage_error("banditore send", "unknown category '%s' (emergency, "
		                     "disruption, deadline, event, info)", cat);
		goto out;
	}
	uint64_t exp_ns = config_expiry_ns(&o.cfg, cat);
	if (expires && config_parse_duration(expires, strlen(expires), &exp_ns)) {
		rc = cli_usage_error("banditore send", "--expires: not a duration: '%s'", expires);
		goto out;
	}
	n = malloc(sizeof *n);
	if (!n) {
		cli_error("out of memory");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	uint64_t now_ms = cli_now_ms();
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)now_ms;
	rc = notice_init(n, c, now_ms, exp_ns ? now_ms + exp_ns / 1000000u : 0, rnd);
	if (!rc)
		rc = notice_set_text(n, (const uint8_t *)text, strlen(text));
	if (rc) {
		rc = cli_usage_error("banditore send", "%s", bnd_strerror(rc));
		goto out;
	}
	if (!plain) {
		if (!tmpl)
			tmpl = o.cfg.notice_template;
		if (!lang)
			lang = o.cfg.notice_lang;
		if ((rc = notice_set_template(n, tmpl, lang))) {
			rc = cli_usage_error("banditore send", "--template/--lang: %s",
			                     bnd_strerror(rc));
			goto out;
		}
		for (unsigned k = 0; k < nparams; k++)
			if ((rc = notice_add_param(n, (const uint8_t *)params[k], strlen(params[k])))) {
				rc = cli_usage_error("banditore send", "--param %u: %s", k + 1,
				                     bnd_strerror(rc));
				goto out;
			}
	} else if (tmpl || nparams) {
		rc = cli_usage_error("banditore send", "--plain-text excludes --template/--param");
		goto out;
	}

	if ((rc = cli_store_open(&st, g, "send", 1, 0, NULL)))
		goto out;
	notice_cleanup(g->data_dir);
	/* The recipients go from the store's kept sorted view straight into
	 * recipients.bin (no copy of the list), and the view is dropped once
	 * the notice exists: this process takes no other snapshot. */
	size_t count = 0;
	for (int tries = 0;; tries++) {
		rc = notice_create_from(g->data_dir, n, stream_confirmed, st, 0, &count);
		if (rc != BND_E_EXISTS || tries > 16)
			break;
		rnd++;   /* same second, same random bits: take the next id */
		notice_id_make(now_ms, rnd, n->id);
	}
	store_confirmed_release(st);
	if (rc == 0) {
		uint64_t room;
		if (o.cfg.tier && limiter_tier_check(o.cfg.tier, 0, count, &room))
			fprintf(stderr, "banditore: warning: %zu recipients exceed the messaging-limit "
			        "tier of %llu unique users per 24 h: the API will refuse the excess\n",
			        count, (unsigned long long)o.cfg.tier);
	}
	if (rc) {
		cli_error("cannot create the notice: %s", bnd_strerror(rc));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	fprintf(stderr, "banditore: notice %s (%s): %zu recipients\n", n->id, cat, count);
	rc = fanout_run(g, &o, st, n->id);
out:
	if (st) {
		int crc = store_close(&st);
		if (crc && rc == 0) {
			cli_error("closing the store failed: %s", bnd_strerror(crc));
			rc = CLI_EXIT_FAIL;
		}
	}
	free(n);
	fanout_free(&o);
	return rc;
}
