/* test_phone.c - phone number parsing, packing and masking (store/phone.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "bnd.h"
#include "phone.h"

static int parse(const char *s, uint64_t *out)
{
	return phone_parse((const uint8_t *)s, strlen(s), out);
}

Test(phone, accepts_the_written_forms_of_one_number)
{
	const char *forms[] = {
		"393351234567", "+393351234567", "00393351234567", "+39 335 123 4567",
		"+39-335-123-4567", "(+39) 335.123.4567", "  393351234567\r\n",
		"+39\xc2\xa0" "335\xc2\xa0" "1234567",
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		uint64_t n = 0;
		cr_assert_eq(parse(forms[i], &n), 0, "form %zu", i);
		cr_assert_eq(n, 393351234567ULL, "form %zu", i);
	}
}

Test(phone, keeps_the_zero_of_italian_landlines)
{
	uint64_t n;
	cr_assert_eq(parse("+39 0731 123456", &n), 0);
	char buf[PHONE_STR_MAX];
	phone_format(n, buf);
	cr_assert_str_eq(buf, "390731123456");
}

Test(phone, rejects_what_is_not_a_number)
{
	uint64_t n = 7;
	cr_assert_eq(parse("", &n), BND_E_PHONE_EMPTY);
	cr_assert_eq(parse("   ", &n), BND_E_PHONE_EMPTY);
	cr_assert_eq(parse("+", &n), BND_E_PHONE_EMPTY);
	cr_assert_eq(parse("39335abc4567", &n), BND_E_PHONE_CHAR);
	cr_assert_eq(parse("1234567", &n), BND_E_PHONE_LENGTH);
	cr_assert_eq(parse("1234567890123456", &n), BND_E_PHONE_LENGTH);
	cr_assert_eq(parse("+0393351234567", &n), BND_E_PHONE_ZERO);
	cr_assert_eq(parse("0393351234567", &n), BND_E_PHONE_ZERO);
	char big[100];
	memset(big, '1', sizeof big);
	cr_assert_eq(phone_parse((const uint8_t *)big, sizeof big, &n), BND_E_RANGE);
	cr_assert_eq(n, 7, "out untouched on error");
}

Test(phone, never_reads_past_len)
{
	uint64_t n;
	/* The digits after len must not count. */
	cr_assert_eq(phone_parse((const uint8_t *)"3933512345679999", 12, &n), 0);
	cr_assert_eq(n, 393351234567ULL);
}

Test(phone, masks_like_the_product_says)
{
	char buf[PHONE_MASK_MAX];
	cr_assert_eq(phone_mask(393351234567ULL, buf), 12);
	cr_assert_str_eq(buf, "39335****567");
	phone_mask(12345678ULL, buf);
	cr_assert_eq(strlen(buf), 8);
	size_t hidden = 0;
	for (size_t i = 0; buf[i]; i++)
		hidden += buf[i] == '*';
	cr_assert_geq(hidden, 4, "short numbers hide at least 4 digits: %s", buf);
	cr_assert_eq(phone_mask(42, buf), 0);
	cr_assert_str_eq(buf, "?");
}

Test(phone, format_round_trips)
{
	for (uint64_t n = 10000000ULL; n < 999999999999999ULL; n = n * 7 + 3) {
		char buf[PHONE_STR_MAX];
		size_t d = phone_format(n, buf);
		cr_assert_gt(d, 0);
		uint64_t back;
		cr_assert_eq(parse(buf, &back), 0);
		cr_assert_eq(back, n);
	}
}
