/*
 * verify.c - store_verify: check every byte of the store on disk.
 *
 * format: see FORMAT.md.
 *
 * It opens two fresh read-only views of the directory: one replaying every
 * segment with the hint ignored (so every record's checksum is checked and
 * damage is reported with its file and offset, exactly as open would), and
 * one through the hint; the hint is consistent when both views hold the
 * same entries and the hint's stored confirmed view is the replay's. Read-only views take no lock and never write, so this runs
 * beside a writer; if the writer appends between the two views the hint
 * comparison can report a mismatch, which is why it compares only up to
 * the first view's record count and retries once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bnd.h"
#include "format.h"
#include "store_int.h"

static int views_agree(const struct store *a, const struct store *b)
{
	if (a->nrec != b->nrec || a->idx.n != b->idx.n ||
	    memcmp(a->counts, b->counts, sizeof a->counts) != 0)
		return 0;
	for (uint64_t i = 0; i < a->idx.cap; i++) {
		uint64_t w0 = a->idx.hot[i];
		if (!w0)
			continue;
		uint64_t j = subidx_find(&b->idx, subidx_w0_number(w0));
		if (j == SUBIDX_NONE || b->idx.hot[j] != w0 || b->idx.cold[j] != a->idx.cold[i])
			return 0;
	}
	return 1;
}

/* b's view, kept from the hint (STORE__KEEP_VIEW), against a's, sorted
 * from a's index: the same ascending numbers. A hint without a view
 * agrees. */
static int stored_view_agrees(struct store *a, struct store *b)
{
	if (!b->view.valid)
		return 1;
	if (store__view_ready(a) || store__view_ready(b))
		return 0;   /* no memory: cannot tell, report it */
	return a->view.nbase == b->view.nbase &&
	       (!a->view.nbase ||
	        memcmp(a->view.base, b->view.base, a->view.nbase * sizeof *a->view.base) == 0);
}

int store_verify(struct store *s, struct store_verify_info *info)
{
	struct store_verify_info dummy;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof *info);
	if (!s)
		return BND_E_INVAL;
	struct store_opts full = { .flags = STORE_RDONLY | STORE_NO_HINT };
	struct store_opts hinted = { .flags = STORE_RDONLY | STORE__KEEP_VIEW };
	struct store *a = NULL, *b = NULL;
	struct store_open_info oi;
	int rc = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		store_close(&a);
		store_close(&b);
		rc = store_open(&a, s->dir, &full, &oi);
		if (rc) {
			memcpy(info->err_file, oi.err_file, sizeof info->err_file);
			info->err_offset = oi.err_offset;
			if (oi.err_file[0])
				snprintf(info->err_msg, sizeof info->err_msg,
				         "%s at offset %llu: %s", oi.err_file,
				         (unsigned long long)oi.err_offset, bnd_strerror(rc));
			else
				snprintf(info->err_msg, sizeof info->err_msg, "%s", bnd_strerror(rc));
			goto out;
		}
		info->segments = a->nsegs;
		info->records = a->nrec;
		info->bytes = 0;
		for (size_t i = 0; i < a->nsegs; i++)
			info->bytes += a->segs[i].end;
		info->tail_dropped_bytes = oi.tail_dropped_bytes;
		if (store_open(&b, s->dir, &hinted, &oi) != 0 || !oi.used_hint) {
			info->hint_ok = 0;
			break;
		}
		info->hint_ok = views_agree(a, b) && stored_view_agrees(a, b);
		if (info->hint_ok)
			break;
	}
out:
	store_close(&a);
	store_close(&b);
	return rc;
}
