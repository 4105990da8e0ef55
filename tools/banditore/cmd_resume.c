/*
 * cmd_resume.c - `banditore resume NOTICE_ID`: finish a fan-out that was
 * interrupted (crash, kill, power loss, SIGINT, an API stop whose cause is
 * fixed), per JOURNAL.md §5: nobody below the durable cursor is sent
 * again, answered retries go out at their time, and the requests that were
 * in flight at the crash (uncertain: at most the window) are re-sent after
 * --uncertain-grace unless a status record reconciled them; the report
 * counts them in `uncertain`.
 */
#include <string.h>

#include "fanout.h"
#include "notice.h"

static void usage_resume(FILE *f)
{
	fprintf(f,
	        "usage: banditore [--data DIR] resume NOTICE_ID [SENDING FLAGS] [--json]\n"
	        "\n"
	        "Finish an interrupted fan-out: no subscriber skipped; only the requests\n"
	        "in flight at the interruption may reach someone twice, and the report\n"
	        "counts them (uncertain).\n\n%s",
	        fanout_flags_help);
}

int cmd_resume(int argc, char **argv, const struct cli_global *g)
{
	struct fanout_opts o;
	int rc = fanout_init(&o);
	if (rc)
		return rc;
	const char *id = NULL;
	struct store *st = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			usage_resume(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		}
		if (a[0] != '-') {
			if (id) {
				rc = cli_usage_error("banditore resume", "one NOTICE_ID only");
				goto out;
			}
			id = a;
			continue;
		}
		int r = fanout_flag(&o, argc, argv, &i, "banditore resume");
		if (r == 1)
			continue;
		rc = r ? r : cli_usage_error("banditore resume", "unknown argument '%s'", a);
		goto out;
	}
	if (!id) {
		rc = cli_usage_error("banditore resume", "NOTICE_ID is required (see `banditore "
		                     "status`)");
		goto out;
	}
	if (!notice_id_valid((const uint8_t *)id, strlen(id))) {
		rc = cli_usage_error("banditore resume", "'%s' is not a notice id "
		                     "(n-YYYYmmddTHHMMSS-xxxx)", id);
		goto out;
	}
	if ((rc = fanout_finish_config(&o, g, "banditore resume")))
		goto out;
	if ((rc = cli_store_open(&st, g, "resume", 1, 0, NULL)))
		goto out;
	notice_cleanup(g->data_dir);
	rc = fanout_run(g, &o, st, id);
out:
	if (st) {
		int crc = store_close(&st);
		if (crc && rc == 0) {
			cli_error("closing the store failed: %s", bnd_strerror(crc));
			rc = CLI_EXIT_FAIL;
		}
	}
	fanout_free(&o);
	return rc;
}
