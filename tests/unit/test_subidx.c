/* test_subidx.c - the open-addressing index (store/subidx.c): insert,
 * overwrite, growth, packing limits and the bytes it costs per entry. */
#include <criterion/criterion.h>

#include "bnd.h"
#include "subidx.h"

static uint64_t num(uint64_t i)
{
	return 100000000ULL + i * 2654435761ULL % 899999999999999ULL;
}

Test(subidx, finds_what_was_put_and_nothing_else)
{
	struct subidx x;
	cr_assert_eq(subidx_init(&x, 10), 0);
	for (uint64_t i = 0; i < 100000; i++) {
		unsigned old = 9;
		cr_assert_eq(subidx_put(&x, num(i), 1 + i % 4, i * 1000, i, &old), 0);
		cr_assert_eq(old, 0);
	}
	cr_assert_eq(x.n, 100000);
	for (uint64_t i = 0; i < 100000; i++) {
		const uint64_t *s = subidx_find(&x, num(i));
		cr_assert_not_null(s);
		cr_assert_eq(subidx_number(s), num(i));
		cr_assert_eq(subidx_state(s), 1 + i % 4);
		cr_assert_eq(subidx_tms(s), i * 1000);
		cr_assert_eq(subidx_ord(s), i);
	}
	cr_assert_null(subidx_find(&x, 99999999ULL));
	subidx_free(&x);
	subidx_free(&x);   /* safe twice */
}

Test(subidx, overwrite_reports_the_old_state_and_keeps_one_entry)
{
	struct subidx x;
	cr_assert_eq(subidx_init(&x, 0), 0);
	unsigned old;
	cr_assert_eq(subidx_put(&x, num(1), 1, 5, 0, &old), 0);
	cr_assert_eq(subidx_put(&x, num(1), 3, 6, 1, &old), 0);
	cr_assert_eq(old, 1);
	cr_assert_eq(x.n, 1);
	const uint64_t *s = subidx_find(&x, num(1));
	cr_assert_eq(subidx_state(s), 3);
	cr_assert_eq(subidx_ord(s), 1);
	subidx_free(&x);
}

Test(subidx, packs_the_extreme_values)
{
	uint64_t n = 999999999999999ULL, t = (1ULL << FMT_TMS_BITS) - 1, o = SUBIDX_MAX_ORD;
	uint64_t s[2] = { subidx_w0(n, 4, t), subidx_w1(t, o) };
	cr_assert_eq(subidx_number(s), n);
	cr_assert_eq(subidx_state(s), 4);
	cr_assert_eq(subidx_tms(s), t);
	cr_assert_eq(subidx_ord(s), o);
}

Test(subidx, stays_between_20_and_32_bytes_per_entry_as_it_grows)
{
	struct subidx x;
	cr_assert_eq(subidx_init(&x, 0), 0);
	for (uint64_t i = 0; i < 300000; i++) {
		cr_assert_eq(subidx_put(&x, num(i), 2, 0, i, NULL), 0);
		if (x.n > 1000) {
			double per = (double)subidx_bytes(&x) / (double)x.n;
			cr_assert_leq(per, 32.0, "%.1f bytes/entry at %llu", per, (unsigned long long)x.n);
			cr_assert_geq(per, 19.9);
		}
		cr_assert_leq(x.n, x.grow_at);
		cr_assert_lt(x.grow_at, x.cap);
	}
	subidx_free(&x);
}

Test(subidx, home_slot_is_inside_the_table)
{
	for (uint64_t cap = 64; cap < 10000000; cap = cap * 3 / 2 + 7)
		for (uint64_t i = 0; i < 100; i++)
			cr_assert_lt(subidx_home(num(i), cap), cap);
}

Test(subidx, failed_growth_changes_nothing)
{
	struct subidx x;
	cr_assert_eq(subidx_init(&x, 0), 0);
	uint64_t i = 0;
	while (x.n < x.grow_at)
		cr_assert_eq(subidx_put(&x, num(i++), 2, 0, 0, NULL), 0);
	uint64_t cap = x.cap, n = x.n;
	bnd_alloc_fail_after(0);
	int rc = subidx_put(&x, num(i), 2, 0, 0, NULL);
	bnd_alloc_fail_after(-1);
	cr_assert_eq(rc, BND_E_NOMEM);
	cr_assert_eq(x.cap, cap);
	cr_assert_eq(x.n, n);
	cr_assert_null(subidx_find(&x, num(i)));
	cr_assert_not_null(subidx_find(&x, num(0)));
	subidx_free(&x);
}
