/*
 * record.h - wa-mock's record of accepted messages (--record FILE), the
 * ground truth tests compare a fan-out against: one JSON line per message
 * answered 200 with a wamid (PRODUCT.md §2):
 *
 *   {"to":"393351234567","wamid":"wamid.…","tag":"b=4711;s=98231","type":"template","t_ms":1760263200123}
 *
 * to:    canonical digits (wa_id form) of the recipient
 * wamid: the id returned to the client
 * tag:   biz_opaque_callback_data as sent ("" when absent)
 * type:  "template" or "text"
 * t_ms:  Unix time of acceptance, milliseconds
 *
 * Each line is one write(2) to a file opened O_APPEND, made before the
 * answer is handed to the HTTP server, so a client killed at any moment
 * never saw a 200 for a message missing from the file. Lines from several
 * threads never interleave (one append-mode write each). The file is created
 * 0600 and appended to if it exists. A process kill keeps every line (the
 * page cache survives it); a power loss may not (no fsync per message).
 */
#ifndef WAMOCK_RECORD_H
#define WAMOCK_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct record;

/*
 * record_open - open (create 0600, append) path. Returns 0 or -errno.
 * An existing regular file is set to mode 0600 too (devices and pipes are
 * left alone).
 */
int record_open(struct record **out, const char *path);

/* record_close - close; sets *p to NULL; accepts NULL. */
void record_close(struct record **p);

/*
 * record_append - write one line. to is the packed number; wamid[0..wlen)
 * and tag[0..tlen) are escaped; type is "template" or "text".
 * Returns 0, -errno from write(2), -EIO on a short write that could not be
 * completed, or BND_E_RANGE when the line would exceed 8 KiB.
 * Thread-safe.
 */
int record_append(struct record *r, uint64_t to, const char *wamid, size_t wlen,
                  const uint8_t *tag, size_t tlen, const char *type, uint64_t t_ms);

/*
 * record_format - the line record_append writes (newline included) into
 * buf[0..cap). Returns its length, or 0 if it does not fit. Pure.
 */
size_t record_format(char *buf, size_t cap, uint64_t to, const char *wamid, size_t wlen,
                     const uint8_t *tag, size_t tlen, const char *type, uint64_t t_ms);

#endif
