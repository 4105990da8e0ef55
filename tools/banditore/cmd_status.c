/*
 * cmd_status.c - `banditore status [NOTICE_ID] [--json]`: progress and
 * outcome of notices, read-only.
 *
 * It opens journals with JOURNAL_RDONLY (no lock, no repair, reads up to
 * the last valid record), so it works while `send`, `resume` or `serve`
 * writes them, and never changes a byte. Without an id: one line (or one
 * JSON object) per notice, oldest first. With an id: the full report:
 * accepted, failed by code, skipped, remaining, retried, expired,
 * uncertain, delivery (sent / delivered / read from status webhooks,
 * distinct recipients), coverage at 1, 5 and 15 minutes, rate and ETA.
 */
#include <string.h>

#include "fanout.h"
#include "notice.h"
#include "progress.h"

static void usage_status(FILE *f)
{
	fprintf(f, "usage: banditore [--data DIR] status [NOTICE_ID] [--json]\n"
	           "\n"
	           "Progress and outcome of notices (read-only; works while a sender runs).\n"
	           "Without NOTICE_ID: every notice, oldest first.\n");
}

static int load(const struct cli_global *g, const char *id, struct notice *n,
                struct journal_report *r, uint64_t now_ms)
{
	int rc = notice_load(g->data_dir, id, n);
	if (rc)
		return rc;
	struct journal *j = NULL;
	struct journal_opts jo = { .flags = JOURNAL_RDONLY };
	struct journal_open_info info;
	rc = journal_open_notice(&j, g->data_dir, id, NULL, &jo, &info);
	if (rc) {
		if (info.err_msg[0])
			cli_error("notice %s: journal damaged at offset %llu: %s", id,
			          (unsigned long long)info.err_offset, info.err_msg);
		return rc;
	}
	journal_report(j, now_ms, r);
	journal_close(&j);
	return 0;
}

/* eta_s - seconds to the last recipient at the notice's pace, or < 0. */
static double eta_s(const struct journal_report *r)
{
	if (r->state != NOTICE_RUNNING || !r->remaining || r->elapsed_ms == 0)
		return -1.0;
	double done = (double)(r->recipients - r->remaining);
	if (done <= 0)
		return -1.0;
	double rate = done * 1000.0 / (double)r->elapsed_ms;
	return (double)r->remaining / rate;
}

static json_t *one_json(const struct notice *n, const struct journal_report *r)
{
	json_t *o = journal_report_json(r);
	if (!o)
		return NULL;
	double eta = eta_s(r);
	if (json_object_set_new(o, "category", json_string(notice_category_name(n->category))) ||
	    json_object_set_new(o, "created_ms", json_integer((json_int_t)n->created_ms)) ||
	    json_object_set_new(o, "expires_ms", json_integer((json_int_t)n->expires_ms)) ||
	    json_object_set_new(o, "template", n->template_name[0] ? json_string(n->template_name)
	                                                          : json_null()) ||
	    json_object_set_new(o, "eta_s", eta >= 0 ? json_real(eta) : json_null())) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void print_one(const struct notice *n, const struct journal_report *r)
{
	char eta[24];
	double e = eta_s(r);
	printf("notice %s (%s%s%s), %s", r->notice_id, notice_category_name(n->category),
	       n->template_name[0] ? ", template " : "", n->template_name, notice_state_name(r->state));
	if (r->state == NOTICE_STOPPED || r->reason_code)
		printf(" (%s, code %d)", notice_reason_name(r->reason), (int)r->reason_code);
	printf("\n  recipients %u: accepted %llu, failed %llu, skipped %llu, expired %llu, "
	       "remaining %llu\n",
	       r->recipients, (unsigned long long)r->accepted, (unsigned long long)r->failed,
	       (unsigned long long)(r->skipped_unsubscribed + r->skipped_invalid),
	       (unsigned long long)r->expired, (unsigned long long)r->remaining);
	if (r->failed_codes || r->failed_other) {
		printf("  failed by code:");
		for (size_t i = 0; i < r->failed_codes; i++)
			printf("%s %d: %llu", i ? "," : "", (int)r->failed_by_code[i].code,
			       (unsigned long long)r->failed_by_code[i].count);
		if (r->failed_other)
			printf(", other: %llu", (unsigned long long)r->failed_other);
		printf("\n");
	}
	printf("  retried %llu, uncertain %llu, reconciled %llu, in flight %llu, deferred %llu\n",
	       (unsigned long long)r->retried, (unsigned long long)r->uncertain,
	       (unsigned long long)r->reconciled, (unsigned long long)r->in_flight,
	       (unsigned long long)r->deferred);
	double pct = r->recipients ? 100.0 / r->recipients : 0;
	printf("  delivery: sent %llu, delivered %llu, read %llu, failed %llu; coverage "
	       "%.1f%% at 1 min, %.1f%% at 5 min, %.1f%% at 15 min\n",
	       (unsigned long long)r->sent, (unsigned long long)r->delivered,
	       (unsigned long long)r->read, (unsigned long long)r->delivery_failed,
	       (double)r->delivered_1m * pct, (double)r->delivered_5m * pct,
	       (double)r->delivered_15m * pct);
	printf("  elapsed %.1f s, %.1f accepted/s, ETA %s\n", (double)r->elapsed_ms / 1000.0,
	       r->rate_per_s, e >= 0 ? progress_fmt_duration(e, eta, sizeof eta) : "--");
}

int cmd_status(int argc, char **argv, const struct cli_global *g)
{
	const char *id = NULL;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage_status(stdout);
			return CLI_EXIT_OK;
		}
		if (argv[i][0] == '-' || id)
			return cli_usage_error("banditore status", "unknown argument '%s'", argv[i]);
		id = argv[i];
	}
	uint64_t now_ms = cli_now_ms();
	struct notice *n = bnd_malloc(sizeof *n);
	struct journal_report *r = bnd_malloc(sizeof *r);
	int rc = CLI_EXIT_FAIL;
	if (!n || !r) {
		cli_error("out of memory");
		goto out;
	}
	if (id) {
		if (!notice_id_valid((const uint8_t *)id, strlen(id))) {
			rc = cli_usage_error("banditore status", "'%s' is not a notice id", id);
			goto out;
		}
		int e = load(g, id, n, r, now_ms);
		if (e) {
			cli_error("notice %s: %s", id, e == BND_E_NOTFOUND ? "no such notice"
			                                                   : bnd_strerror(e));
			goto out;
		}
		if (g->json)
			rc = cli_json_print(one_json(n, r));
		else {
			print_one(n, r);
			rc = CLI_EXIT_OK;
		}
		goto out;
	}
	char (*ids)[NOTICE_ID_SIZE] = NULL;
	size_t count = 0;
	int e = notice_list(g->data_dir, &ids, &count);
	if (e && e != BND_E_NOTFOUND && e != -2 /* ENOENT: no notices yet */) {
		cli_error("cannot list notices in %s: %s", g->data_dir, bnd_strerror(e));
		goto out;
	}
	json_t *arr = g->json ? json_array() : NULL;
	rc = CLI_EXIT_OK;
	if (!g->json && count == 0)
		printf("no notices in %s\n", g->data_dir);
	for (size_t i = 0; i < count; i++) {
		if ((e = load(g, ids[i], n, r, now_ms))) {
			cli_error("notice %s: %s", ids[i], bnd_strerror(e));
			rc = CLI_EXIT_FAIL;
			continue;
		}
		if (arr) {
			json_array_append_new(arr, one_json(n, r));
		} else {
			printf("%s  %-10s %-9s %8u recipients  %8llu accepted  %6llu failed  "
			       "%8llu remaining\n",
			       ids[i], notice_category_name(n->category), notice_state_name(r->state),
			       r->recipients, (unsigned long long)r->accepted,
			       (unsigned long long)r->failed, (unsigned long long)r->remaining);
		}
	}
	bnd_free(ids);
	if (arr) {
		int prc = cli_json_print(cli_json_pack("{s:o}", "notices", arr));
		if (prc)
			rc = prc;
	}
out:
	bnd_free(n);
	bnd_free(r);
	return rc;
}
