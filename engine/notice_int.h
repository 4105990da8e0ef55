/*
 * notice_int.h - shared between notice.c (the recipient list's reader) and
 * notice_purge.c (its rewriter): the check of a purged list (version 2).
 */
#ifndef NOTICE_INT_H
#define NOTICE_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * notice__rcpt_check_purged - check a mapped version-2 recipients.bin of
 * len bytes whose magic, header checksum and version the caller verified:
 * header fields, size (the body is count entries, or empty when every one
 * is erased), body checksum, the erased count, the numbers left valid and
 * strictly ascending, and the id. On success sets *count, *present (the
 * entries stored in the body: count, or 0 for a stub) and *identity (the
 * list's checksum at creation, which the journal's header repeats).
 * Returns 0 or BND_E_RCPT_TRUNCATED, _CORRUPT, _CHECKSUM, _MISMATCH.
 */
int notice__rcpt_check_purged(const uint8_t *p, size_t len, const char *id, uint32_t *count,
                              uint32_t *present, uint64_t *identity);

/*
 * notice__rcpt_header - the 64-byte recipients.bin header, both versions:
 * magic, version, size, id, count, erased (0 in version 1), the two 64-bit
 * words at 40 and 48 (v1: body checksum, 0; v2: list checksum, body
 * checksum) and the header's own checksum. Returns 0 or BND_E_NOTICE_ID.
 */
int notice__rcpt_header(uint8_t out[RCPT_HEADER_SIZE], const char *id, uint16_t version,
                        uint32_t count, uint32_t erased, uint64_t at40, uint64_t at48);

/* notice__sync_dir - fsync the directory at path (after creating, renaming
 * or unlinking an entry in it). Returns 0 or -errno. */
int notice__sync_dir(const char *path);

#endif
