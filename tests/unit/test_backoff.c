// SPDX-License-Identifier: GPL-2.0
/* vmem_backoff_next(): exponential retry delay. */
#include "vmem_test.h"

#include <limits.h>

START_TEST(backoff_returns_min_on_first_failure)
{
	EXPECT_U64(vmem_backoff_next(0, 100, 30000), 100);
}
END_TEST

START_TEST(backoff_doubles_current_delay)
{
	EXPECT_U64(vmem_backoff_next(100, 100, 30000), 200);
	EXPECT_U64(vmem_backoff_next(3000, 100, 30000), 6000);
}
END_TEST

START_TEST(backoff_doubles_up_to_exactly_max)
{
	EXPECT_U64(vmem_backoff_next(400, 100, 800), 800);
}
END_TEST

START_TEST(backoff_caps_at_max_when_double_exceeds_it)
{
	EXPECT_U64(vmem_backoff_next(600, 100, 1000), 1000);
	EXPECT_U64(vmem_backoff_next(999, 100, 1000), 1000);
}
END_TEST

START_TEST(backoff_stays_at_max)
{
	EXPECT_U64(vmem_backoff_next(1000, 100, 1000), 1000);
}
END_TEST

START_TEST(backoff_above_max_returns_max)
{
	EXPECT_U64(vmem_backoff_next(5000, 100, 1000), 1000);
}
END_TEST

START_TEST(backoff_sequence_is_min_doubling_then_max)
{
	static const unsigned int want[] = { 100, 200, 400, 800, 1000, 1000 };
	unsigned int cur = 0, i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cur = vmem_backoff_next(cur, 100, 1000);
		vt_set_ctx("failure %u", i + 1);
		EXPECT_U64(cur, want[i]);
	}
}
END_TEST

/*
 * "Doubling, capped at max" is min(2 * cur, max): with an odd max the
 * double of max / 2 still fits and must not be rounded up to max.
 */
START_TEST(backoff_doubles_when_double_fits_under_odd_max)
{
	EXPECT_U64(vmem_backoff_next(500, 100, 1001), 1000);
	EXPECT_U64(vmem_backoff_next(0x7fffffffU, 1, UINT_MAX), 0xfffffffeU);
}
END_TEST

START_TEST(backoff_does_not_overflow_near_uint_max)
{
	EXPECT_U64(vmem_backoff_next(0x80000000U, 1, UINT_MAX), UINT_MAX);
	EXPECT_U64(vmem_backoff_next(UINT_MAX - 1, 1, UINT_MAX), UINT_MAX);
	EXPECT_U64(vmem_backoff_next(UINT_MAX, 1, UINT_MAX), UINT_MAX);
}
END_TEST

Suite *vt_backoff_suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = vt_tcase("backoff_next");

	tcase_add_test(tc, backoff_returns_min_on_first_failure);
	tcase_add_test(tc, backoff_doubles_current_delay);
	tcase_add_test(tc, backoff_doubles_up_to_exactly_max);
	tcase_add_test(tc, backoff_caps_at_max_when_double_exceeds_it);
	tcase_add_test(tc, backoff_stays_at_max);
	tcase_add_test(tc, backoff_above_max_returns_max);
	tcase_add_test(tc, backoff_sequence_is_min_doubling_then_max);
	tcase_add_test(tc, backoff_doubles_when_double_fits_under_odd_max);
	tcase_add_test(tc, backoff_does_not_overflow_near_uint_max);
	suite_add_tcase(s, tc);
	return s;
}
