/*
 * le.h - little-endian load and store of 16/32/64-bit integers, shared by
 * every on-disk format of the project (store segments, hint, manifest,
 * notice recipient lists and journals), all of which are little-endian.
 *
 * On a little-endian host these are plain (unaligned) loads and stores
 * through memcpy: a field written byte by byte and then read back as a
 * wider word (a checksum over a record just encoded) defeats the CPU's
 * store forwarding and stalls; one wide store does not. Elsewhere, bytes.
 */
#ifndef BND_LE_H
#define BND_LE_H

#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline void le16_put(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }
static inline void le32_put(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }
static inline void le64_put(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }
static inline uint16_t le16_get(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return v;
}
static inline uint32_t le32_get(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}
static inline uint64_t le64_get(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}
#else
static inline void le16_put(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t le16_get(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
#endif

#endif
