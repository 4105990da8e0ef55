/*
 * format.h - every constant of the subscriber store's on-disk format, in one
 * place. store/FORMAT.md explains them; tests/unit/test_store_format.c
 * encodes FORMAT.md's worked example with these values and compares bytes.
 *
 * All integers on disk are little-endian. Checksums are XXH3-64 with the
 * seeds below (different seeds per kind, so that a block of one kind can
 * never pass for another kind).
 *
 * Changing anything here changes the format: bump the matching version.
 */
#ifndef STORE_FORMAT_H
#define STORE_FORMAT_H

/* ---- file names (inside the store directory) ----
 * The store owns exactly these names; the directory may hold other files
 * (the data directory is shared), which the store never touches. */
#define FMT_LOCK_NAME "LOCK"               /* flock target + holder text */
#define FMT_MANIFEST_NAME "MANIFEST"       /* the live segment set */
#define FMT_MANIFEST_TMP "MANIFEST.tmp"    /* written, fsynced, renamed */
#define FMT_HINT_NAME "HINT"               /* index snapshot (derived) */
#define FMT_HINT_TMP "HINT.tmp"
#define FMT_SEG_PREFIX "seg-"              /* seg-<16 lower-case hex digits>.log */
#define FMT_SEG_SUFFIX ".log"
#define FMT_SEG_NAME_LEN 24                /* strlen("seg-0000000000000001.log") */

/* ---- segment file header ---- */
#define FMT_SEG_MAGIC "BNDSTSEG"           /* 8 bytes, no NUL on disk */
#define FMT_SEG_VERSION 1u                 /* bump: record or header layout */
#define FMT_SEG_HDR_LEN 48u
/* offsets in the segment header */
#define FMT_SEG_OFF_MAGIC 0
#define FMT_SEG_OFF_VERSION 8              /* u32 */
#define FMT_SEG_OFF_HDRLEN 12              /* u32, = FMT_SEG_HDR_LEN */
#define FMT_SEG_OFF_STORE_ID 16            /* 16 bytes */
#define FMT_SEG_OFF_SEQ 32                 /* u64 segment sequence number */
#define FMT_SEG_OFF_SUM 40                 /* u64 XXH3 of bytes [0,40) */
#define FMT_SEG_HDR_SEED 0x42534547ULL     /* "BSEG" */

/* ---- log record (inside a segment, after the header) ---- */
#define FMT_REC_OFF_SUM 0                  /* u64 XXH3 of bytes [8, len) */
#define FMT_REC_OFF_LEN 8                  /* u16 total record length */
#define FMT_REC_OFF_TYPE 10                /* u8 record type */
#define FMT_REC_OFF_STATE 11               /* u8 enum sub_state */
#define FMT_REC_OFF_NUMBER 12              /* u64 packed number (phone.h) */
#define FMT_REC_OFF_TMS 20                 /* u64 milliseconds since the epoch */
#define FMT_REC_OFF_SRCLEN 28              /* u8, = len - FMT_REC_FIXED */
#define FMT_REC_OFF_SRC 29                 /* src_len bytes */
#define FMT_REC_FIXED 29u                  /* length without the source id */
#define FMT_REC_SRC_MAX 255u               /* = STORE_SRC_MAX */
#define FMT_REC_MAX (FMT_REC_FIXED + FMT_REC_SRC_MAX)   /* 284 */
#define FMT_REC_SEED 0x42524543ULL         /* "BREC" */
#define FMT_REC_TYPE_SET 1u                /* the only type: a state transition */
#define FMT_TMS_BITS 42                    /* t_ms below 2^42 (year 2109): the
                                              index keeps 42 bits of it */

/* ---- MANIFEST ---- */
#define FMT_MAN_MAGIC "BNDSTMAN"
#define FMT_MAN_VERSION 1u                 /* bump: manifest layout */
#define FMT_MAN_LEN 64u
#define FMT_MAN_OFF_MAGIC 0
#define FMT_MAN_OFF_VERSION 8              /* u32 */
#define FMT_MAN_OFF_LEN 12                 /* u32, = FMT_MAN_LEN */
#define FMT_MAN_OFF_STORE_ID 16            /* 16 bytes */
#define FMT_MAN_OFF_GEN 32                 /* u64 generation (+1 per compaction) */
#define FMT_MAN_OFF_FIRST 40               /* u64 first live segment seq */
#define FMT_MAN_OFF_LAST 48                /* u64 last live segment seq */
#define FMT_MAN_OFF_SUM 56                 /* u64 XXH3 of bytes [0,56) */
#define FMT_MAN_SEED 0x424d414eULL         /* "BMAN" */

/* ---- HINT (index snapshot; derived, always rebuildable from the log) ---- */
#define FMT_HINT_MAGIC "BNDSTHNT"
#define FMT_HINT_VERSION 2u                /* bump: header, slot packing, hash
                                              function/seed, probing scheme or
                                              body layout (2: + the view) */
#define FMT_HINT_HDR_LEN 128u
#define FMT_HINT_OFF_MAGIC 0
#define FMT_HINT_OFF_VERSION 8             /* u32 */
#define FMT_HINT_OFF_HDRLEN 12             /* u32 */
#define FMT_HINT_OFF_STORE_ID 16           /* 16 bytes */
#define FMT_HINT_OFF_GEN 32                /* u64 manifest generation covered */
#define FMT_HINT_OFF_SEG 40                /* u64 segment seq where replay resumes */
#define FMT_HINT_OFF_SEGOFF 48             /* u64 byte offset in it */
#define FMT_HINT_OFF_LASTSUM 56            /* u64 checksum of the record ending
                                              at SEGOFF (0 if SEGOFF is the
                                              header end) */
#define FMT_HINT_OFF_LASTLEN 64            /* u32 its length (0: none) */
#define FMT_HINT_OFF_FLAGS 68              /* u32 FMT_HINT_F_* (version 1: 0) */
#define FMT_HINT_F_VIEW 1u                 /* the body ends with the confirmed
                                              numbers, ascending (one per
                                              confirmed slot) */
#define FMT_HINT_OFF_RECORDS 72            /* u64 log records covered */
#define FMT_HINT_OFF_CAP 80                /* u64 index slots that follow */
#define FMT_HINT_OFF_NBLK 88               /* u64 block-map entries that follow */
#define FMT_HINT_OFF_NSRC 96               /* u64 source-id hashes that follow */
#define FMT_HINT_OFF_ENTRIES 104           /* u64 occupied slots (cross-check) */
#define FMT_HINT_OFF_BODYSUM 112           /* u64 XXH3 of the body */
#define FMT_HINT_OFF_SUM 120               /* u64 XXH3 of bytes [0,120) */
#define FMT_HINT_SEED 0x42484e54ULL        /* "BHNT" (header and body) */

/* ---- in-memory index = hint slot packing ----
 * A slot is two u64 words:
 *   w0 = number | state << 50 | (t_ms >> 31) << 53        (w0 == 0: empty)
 *   w1 = (t_ms & (2^31 - 1)) | ordinal << 31
 * number < 10^15 < 2^50; t_ms < 2^42; ordinal (record number in the live
 * log) < 2^33. The slot of a number is found by linear probing from
 * (XXH3_64bits_withSeed(number as 8 LE bytes, FMT_IDX_SEED) * cap) >> 64. */
#define FMT_SLOT_BYTES 16u
#define FMT_IDX_SEED 0x4249445855ULL       /* "BIDXU" */
#define FMT_NUM_BITS 50
#define FMT_STATE_SHIFT 50
#define FMT_STATE_BITS 3
#define FMT_TMSHI_SHIFT 53                 /* 11 high bits of t_ms */
#define FMT_TMSLO_BITS 31                  /* 31 low bits of t_ms in w1 */
#define FMT_ORD_SHIFT 31
#define FMT_ORD_BITS 33

/* Block map: the position (segment index in the live set << 40 | offset) of
 * every FMT_BLK_RECS-th record, so a record is found from its ordinal by
 * reading at most FMT_BLK_RECS records. */
#define FMT_BLK_RECS 64u
#define FMT_POS_OFF_BITS 40

/* Source-id window: XXH3 of the source id (0 is stored as 1). */
#define FMT_SRC_SEED 0x42535243ULL         /* "BSRC" */

/* Default segment size before rolling to the next one. */
#define FMT_SEG_DEFAULT_MAX (64ull << 20)
#define FMT_SEG_MIN_MAX 4096ull            /* smallest segment_max_bytes honoured */

#endif
