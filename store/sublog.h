/*
 * sublog.h - the bytes of the subscriber log: record, segment header and
 * manifest encoding and decoding, and a scanner that reads one segment and
 * tells a torn tail from damage. No state, no locking; store.c owns files.
 * Format: see FORMAT.md; constants in format.h.
 */
#ifndef STORE_SUBLOG_H
#define STORE_SUBLOG_H

#include <stddef.h>
#include <stdint.h>

#include "le.h"

#define SUBLOG_ID_LEN 16

/* sublog_num_ok - phone_valid (8 to 15 digits) as two compares: on the
 * lookup path phone_valid's digit-counting loop was 7% of the time.
 * test_store_format checks that both agree at every boundary. */
static inline int sublog_num_ok(uint64_t n)
{
	return n >= 10000000ULL && n <= 999999999999999ULL;
}

/* One decoded record; src points into the buffer that was decoded. */
struct sublog_rec {
	uint64_t sum;        /* the stored checksum */
	uint32_t len;        /* total bytes */
	uint8_t type;
	uint8_t state;
	uint64_t number;
	uint64_t t_ms;
	uint8_t src_len;
	const uint8_t *src;
	const uint8_t *raw;  /* the record's len bytes as stored (decode sets it;
	                        valid as long as the decoded buffer) */
};

/*
 * sublog_rec_encode - write one record into dst (at least FMT_REC_MAX
 * bytes). The caller has validated number, state, t_ms and src_len
 * (<= FMT_REC_SRC_MAX). Returns the record length.
 */
size_t sublog_rec_encode(uint8_t *dst, uint64_t number, unsigned state, uint64_t t_ms,
                         const uint8_t *src, size_t src_len);

/*
 * sublog_rec_decode - decode the record at p, of which avail bytes exist.
 * Returns its length (> 0) and fills *r; or
 *   BND_E_STORE_TRUNCATED  fewer bytes than the header or than len says
 *   BND_E_STORE_CORRUPT    len impossible, or a field impossible although
 *                          the checksum matches
 *   BND_E_STORE_CHECKSUM   the checksum does not match
 * Never reads past avail. Pure.
 */
int sublog_rec_decode(const uint8_t *p, size_t avail, struct sublog_rec *r);

/* Segment header: encode into dst (FMT_SEG_HDR_LEN bytes). */
void sublog_seg_hdr_encode(uint8_t *dst, const uint8_t id[SUBLOG_ID_LEN], uint64_t seq);

/*
 * sublog_seg_hdr_decode - check a segment header of avail bytes.
 * Returns 0 and sets id and seq; BND_E_STORE_TRUNCATED (short),
 * BND_E_STORE_MAGIC, BND_E_STORE_VERSION, BND_E_STORE_CHECKSUM or
 * BND_E_STORE_CORRUPT (header length field).
 */
int sublog_seg_hdr_decode(const uint8_t *p, size_t avail, uint8_t id[SUBLOG_ID_LEN],
                          uint64_t *seq);

struct sublog_manifest {
	uint8_t id[SUBLOG_ID_LEN];   /* store identity */
	uint64_t gen;                /* +1 per compaction */
	uint64_t first, last;        /* live segments: first..last inclusive */
};

/* Manifest: encode into dst (FMT_MAN_LEN bytes), decode with the same
 * codes as sublog_seg_hdr_decode (CORRUPT also for first > last or 0). */
void sublog_manifest_encode(uint8_t *dst, const struct sublog_manifest *m);
int sublog_manifest_decode(const uint8_t *p, size_t avail, struct sublog_manifest *m);

/* sublog_seg_name - "seg-%016llx.log" into buf (>= FMT_SEG_NAME_LEN + 1). */
void sublog_seg_name(char *buf, uint64_t seq);
/* sublog_seg_parse_name - 1 and *seq when name is a segment file name. */
int sublog_seg_parse_name(const char *name, uint64_t *seq);

/*
 * Scanning a segment from an offset to its end.
 * fn is called for every valid record with its offset; a non-zero return
 * stops the scan and is returned by sublog_scan.
 */
typedef int (*sublog_rec_fn)(const struct sublog_rec *r, uint64_t off, void *ud);

struct sublog_scan_res {
	uint64_t end;       /* offset just past the last valid record read */
	uint64_t size;      /* bytes found in the file */
	int tail_err;       /* the damage code of a torn tail, 0 if none */
	uint64_t err_off;   /* where damage or the torn tail starts */
};

/*
 * sublog_scan - read fd from start (a record boundary) to its end (or to
 * limit, when limit is not UINT64_MAX: then bytes past limit are ignored).
 * A record that fails to decode is a torn tail when no valid record starts
 * anywhere after it (res->tail_err set, scan returns 0; the caller decides
 * whether it may be a tail at all); otherwise it is damage: returns its
 * code with res->err_off. Returns 0, a damage code, fn's value, -errno or
 * BND_E_NOMEM. res is filled in every case.
 */
int sublog_scan(int fd, uint64_t start, uint64_t limit, sublog_rec_fn fn, void *ud,
                struct sublog_scan_res *res);

#endif
