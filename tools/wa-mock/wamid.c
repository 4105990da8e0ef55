/*
 * wamid.c - message ids (see wamid.h for the layout and why).
 */
#include "wamid.h"

#include <string.h>

#include "faults.h"

size_t wamid_base64(const uint8_t *p, size_t len, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

size_t wamid_make(char *buf, uint64_t seed, uint64_t nonce, uint64_t seq, uint64_t to)
{
	uint8_t raw[32];
	put_be64(raw, faults_hash(seed, seq, FAULTS_TAG_WAMID));
	put_be64(raw + 8, to);
	put_be64(raw + 16, seq);
	put_be64(raw + 24, faults_hash(seed, nonce, FAULTS_TAG_WAMID));
	memcpy(buf, "wamid.", 6);
	return 6 + wamid_base64(raw, sizeof raw, buf + 6);
}
