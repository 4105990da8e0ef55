/*
 * fuzz_store_log.c - the store's log decoders and segment scanner
 * (store/sublog.c) on hostile bytes: they must never crash, never read out
 * of bounds, and classify every input as records, a torn tail or damage.
 *
 * The input is the body of a segment (records after the 48-byte header);
 * it is also tried as a segment header and as a MANIFEST. The scan runs on
 * a memfd, through the same windowed reader the store uses.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bnd.h"
#include "format.h"
#include "sublog.h"

struct tally {
	uint64_t n, last_end;
};

static int count(const struct sublog_rec *r, uint64_t off, void *ud)
{
	struct tally *t = ud;
	/* Records arrive in order, back to back. */
	if (off != t->last_end || r->len < FMT_REC_FIXED || r->len > FMT_REC_MAX)
		abort();
	t->last_end = off + r->len;
	t->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* pure decoders, at every offset of a bounded prefix */
	for (size_t i = 0; i < size && i < 512; i++) {
		struct sublog_rec r;
		int len = sublog_rec_decode(data + i, size - i, &r);
		if (len > 0 && (size_t)len > size - i)
			abort();
	}
	uint8_t id[SUBLOG_ID_LEN];
	uint64_t seq;
	(void)sublog_seg_hdr_decode(data, size, id, &seq);
	struct sublog_manifest m;
	(void)sublog_manifest_decode(data, size, &m);

	/* the scanner over header + input */
	int fd = memfd_create("seg", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	uint8_t h[FMT_SEG_HDR_LEN];
	memset(id, 7, sizeof id);
	sublog_seg_hdr_encode(h, id, 1);
	if (write(fd, h, sizeof h) == (ssize_t)sizeof h &&
	    (size == 0 || write(fd, data, size) == (ssize_t)size)) {
		struct tally t = { 0, FMT_SEG_HDR_LEN };
		struct sublog_scan_res res;
		int rc = sublog_scan(fd, FMT_SEG_HDR_LEN, UINT64_MAX, count, &t, &res);
		if (rc == 0 && res.end != t.last_end)
			abort();
		if (rc == 0 && !res.tail_err && res.end != FMT_SEG_HDR_LEN + size)
			abort();   /* a clean scan consumed everything */
		if (rc != 0 && rc != BND_E_STORE_CHECKSUM && rc != BND_E_STORE_CORRUPT &&
		    rc != BND_E_STORE_TRUNCATED && rc != BND_E_NOMEM)
			abort();
	}
	close(fd);
	return 0;
}
