/* test_subidx.c - the open-addressing index (store/subidx.c): insert,
 * overwrite, growth, placement, packing limits and the bytes it costs per
 * entry. */
#include <criterion/criterion.h>

#include "bnd.h"
#include "subidx.h"

static uint64_t num(uint64_t i)
{
	return 100000000ULL + i * 2654435761ULL % 899999999999999ULL;
}

/* Slot j as the hint stores it: its hot and cold words side by side. */
static const uint64_t *slot_at(const struct subidx *x, uint64_t j, uint64_t out[2])
{
	cr_assert_neq(j, SUBIDX_NONE);
	cr_assert_lt(j, x->cap);
	out[0] = x->hot[j];
	out[1] = x->cold[j];
	return out;
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
		uint64_t b[2];
		const uint64_t *s = slot_at(&x, subidx_find(&x, num(i)), b);
		cr_assert_eq(subidx_number(s), num(i));
		cr_assert_eq(subidx_state(s), 1 + i % 4);
		cr_assert_eq(subidx_tms(s), i * 1000);
		cr_assert_eq(subidx_ord(s), i);
	}
	cr_assert_eq(subidx_find(&x, 99999999ULL), SUBIDX_NONE);
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
	uint64_t b[2];
	const uint64_t *s = slot_at(&x, subidx_find(&x, num(1)), b);
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
	cr_assert_eq(subidx_find(&x, num(i)), SUBIDX_NONE);
	cr_assert_neq(subidx_find(&x, num(0)), SUBIDX_NONE);
	subidx_free(&x);
}

/* subidx_place into a table of another size (what compaction and growth
 * do) keeps every entry findable with both of its words, and a full table
 * keeps an empty slot in every probe chain. */
Test(subidx, place_moves_entries_between_tables_of_any_size)
{
	struct subidx a, b;
	cr_assert_eq(subidx_init(&a, 5000), 0);
	for (uint64_t i = 0; i < 5000; i++)
		cr_assert_eq(subidx_put(&a, num(i), 1 + i % 4, i * 7, i, NULL), 0);
	uint64_t caps[] = { 64, subidx_cap_for(2500), a.cap, a.cap * 3 };
	for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
		cr_assert_eq(subidx_alloc(&b, caps[c]), 0);
		cr_assert_eq(b.cap, caps[c]);
		uint64_t moved = 0;
		for (uint64_t i = 0; i < a.cap && b.n < b.grow_at; i++) {
			if (a.hot[i] && subidx_w0_state(a.hot[i]) != 3) {
				subidx_place(&b, a.hot[i], subidx_w1_with_ord(a.cold[i], moved));
				moved++;
			}
		}
		cr_assert_eq(b.n, moved);
		for (uint64_t i = 0; i < a.cap; i++) {
			if (!a.hot[i] || subidx_w0_state(a.hot[i]) == 3)
				continue;
			uint64_t j = subidx_find(&b, subidx_w0_number(a.hot[i]));
			if (j == SUBIDX_NONE)
				continue;   /* the small table was full before it came */
			cr_assert_eq(b.hot[j], a.hot[i]);
			cr_assert_eq(subidx_w_tms(b.hot[j], b.cold[j]), subidx_w_tms(a.hot[i], a.cold[i]));
			cr_assert_lt(subidx_w1_ord(b.cold[j]), moved);
		}
		uint64_t empty = 0;
		for (uint64_t i = 0; i < b.cap; i++)
			empty += !b.hot[i];
		cr_assert_gt(empty, 0);
		subidx_free(&b);
	}
	subidx_free(&a);
}
