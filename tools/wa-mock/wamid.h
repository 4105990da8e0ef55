/*
 * wamid.h - message ids as the Cloud API returns them: "wamid." followed by
 * standard base64 (44 characters here, '=' padded), 50 bytes in all.
 *
 * The 32 encoded bytes are: 8 bytes drawn from the seed and the sequence
 * number, the recipient (8), the request sequence number (8, big-endian, so
 * ids are unique within a run), and 8 bytes of a per-process nonce mixed
 * with the seed (so two runs with the same seed never hand out the same id:
 * a restarted mock must not make a client's dedupe by wamid drop statuses).
 */
#ifndef WAMOCK_WAMID_H
#define WAMOCK_WAMID_H

#include <stddef.h>
#include <stdint.h>

#define WAMID_LEN 50        /* "wamid." + 44 */
#define WAMID_BUF (WAMID_LEN + 1)

/*
 * wamid_make - write the id of request seq to recipient to into buf
 * (WAMID_BUF bytes, NUL-terminated). Returns WAMID_LEN. Pure.
 */
size_t wamid_make(char *buf, uint64_t seed, uint64_t nonce, uint64_t seq, uint64_t to);

/*
 * wamid_base64 - standard base64 ('+', '/', '=' padding) of p[0..len) into
 * out, which holds at least 4 * ((len + 2) / 3) + 1 bytes; NUL-terminated.
 * Returns the encoded length.
 */
size_t wamid_base64(const uint8_t *p, size_t len, char *out);

#endif
