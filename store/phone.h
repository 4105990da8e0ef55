/*
 * phone.h - the one place that parses, validates, packs and masks phone
 * numbers. Every path that takes a number from outside (webhooks, imports,
 * the CLI, wa-mock) goes through phone_parse.
 *
 * Canonical form: E.164 digits without '+' (WhatsApp's wa_id form,
 * "393351234567"). E.164 allows at most 15 digits and a country code never
 * starts with 0, so the number's integer value is a lossless 64-bit key:
 * "390731..." keeps its 0 after the country code because it is not leading.
 */
#ifndef PHONE_H
#define PHONE_H

#include <stddef.h>
#include <stdint.h>

#define PHONE_MIN_DIGITS 8   /* shortest E.164 numbers in use (small countries) */
#define PHONE_MAX_DIGITS 15  /* E.164 maximum */
#define PHONE_MAX_INPUT 64   /* longest input accepted: digits plus separators */
#define PHONE_STR_MAX 16     /* 15 digits + NUL */
#define PHONE_MASK_MAX 16    /* masked form has the same length */

/*
 * phone_parse - accept one number as people and systems write it: an
 * optional leading '+' or "00" international prefix, digits, and the
 * separators ' ', '-', '.', '(' and ')' (also U+00A0 no-break space as UTF-8).
 * Leading and trailing ASCII white space is ignored. A number without '+'
 * or "00" is taken as already international (the wa_id form).
 * On success stores the packed number in *out (may be NULL) and returns 0.
 * Returns BND_E_PHONE_EMPTY, BND_E_PHONE_CHAR, BND_E_PHONE_LENGTH,
 * BND_E_PHONE_ZERO or BND_E_RANGE (input longer than PHONE_MAX_INPUT).
 * Pure; reads at most len bytes; never needs a NUL.
 */
int phone_parse(const uint8_t *p, size_t len, uint64_t *out);

/* phone_valid - 1 when n is a packed number phone_parse could produce. */
int phone_valid(uint64_t n);

/*
 * phone_format - write the canonical digits of n and a NUL into buf (at least
 * PHONE_STR_MAX bytes). Returns the number of digits, or 0 if n is invalid.
 */
size_t phone_format(uint64_t n, char *buf);

/*
 * phone_mask - write the masked form used in every log, metric and report:
 * the first 5 and last 3 digits kept, the rest replaced by '*'
 * ("39335****219"). Shorter numbers keep fewer digits so that at least
 * 4 are always hidden. buf holds at least PHONE_MASK_MAX bytes.
 * Returns the length written (0 if n is invalid, buf then holds "?").
 */
size_t phone_mask(uint64_t n, char *buf);

#endif
