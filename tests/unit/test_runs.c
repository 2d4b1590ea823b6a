// SPDX-License-Identifier: GPL-2.0
/* vmem_sb_next_run() and vmem_sb_prev_run(). */
#include "vmem_test.h"

#define NONE 0xdeadu	/* value *first must keep when nothing is found */

/* Bits 2..5 and 10..12 plugged. */
#define TWO_RUNS ((0xfULL << 2) | (0x7ULL << 10))

static void expect_run(unsigned int n, unsigned int first,
		       unsigned int want_n, unsigned int want_first)
{
	EXPECT_U64(n, want_n);
	EXPECT_U64(first, want_first);
}

/* ---- vmem_sb_next_run() ---- */

START_TEST(next_run_finds_first_plugged_run)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 0, true, 64, &first);

	expect_run(n, first, 4, 2);
}
END_TEST

START_TEST(next_run_finds_first_unplugged_run)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 2, false, 64, &first);

	expect_run(n, first, 4, 6);	/* 6..9 */
}
END_TEST

START_TEST(next_run_starts_at_from_inside_a_run)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 4, true, 64, &first);

	expect_run(n, first, 2, 4);
}
END_TEST

START_TEST(next_run_skips_to_later_run_after_from)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 6, true, 64, &first);

	expect_run(n, first, 3, 10);
}
END_TEST

START_TEST(next_run_is_capped_at_max)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 0, true, 3, &first);

	expect_run(n, first, 3, 2);
}
END_TEST

START_TEST(next_run_of_max_1_is_single_sb)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 0, false, 1, &first);

	expect_run(n, first, 1, 0);
}
END_TEST

START_TEST(next_run_returns_0_when_no_plugged_sb)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(0, 64, 0, true, 64, &first);

	expect_run(n, first, 0, NONE);
}
END_TEST

START_TEST(next_run_returns_0_when_no_unplugged_sb)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(~0ULL, 64, 0, false, 64, &first);

	expect_run(n, first, 0, NONE);
}
END_TEST

START_TEST(next_run_returns_0_when_match_only_before_from)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(TWO_RUNS, 64, 13, true, 64, &first);

	expect_run(n, first, 0, NONE);
}
END_TEST

START_TEST(next_run_ignores_bits_beyond_sbs_per_mb)
{
	unsigned int first = NONE;
	unsigned int n;

	/* 8 sbs, all plugged, garbage above: no unplugged sb exists. */
	n = vmem_sb_next_run(0xff | (0xffULL << 8) << 1, 8, 0, false, 64,
			     &first);
	expect_run(n, first, 0, NONE);
	/* A run of unplugged sbs stops at sbs_per_mb. */
	n = vmem_sb_next_run(0x0f, 8, 0, false, 64, &first);
	expect_run(n, first, 4, 4);
}
END_TEST

START_TEST(next_run_finds_plugged_bit_63)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(1ULL << 63, 64, 0, true, 64, &first);

	expect_run(n, first, 1, 63);
}
END_TEST

START_TEST(next_run_runs_through_bit_63)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(0xfULL << 60, 64, 0, true, 64,
					  &first);

	expect_run(n, first, 4, 60);
	n = vmem_sb_next_run(~(0xfULL << 60), 64, 59, false, 64, &first);
	expect_run(n, first, 4, 60);
}
END_TEST

START_TEST(next_run_covers_whole_mask)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_next_run(0, 64, 0, false, 64, &first);

	expect_run(n, first, 64, 0);
}
END_TEST

/* ---- vmem_sb_prev_run() ---- */

START_TEST(prev_run_finds_highest_plugged_run)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(TWO_RUNS, 64, true, 64, &first);

	expect_run(n, first, 3, 10);
}
END_TEST

START_TEST(prev_run_finds_highest_unplugged_run)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(TWO_RUNS, 10, false, 64, &first);

	expect_run(n, first, 4, 6);
}
END_TEST

START_TEST(prev_run_looks_only_below_below)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(TWO_RUNS, 12, true, 64, &first);

	expect_run(n, first, 2, 10);	/* 10..11, not 12 */
	n = vmem_sb_prev_run(TWO_RUNS, 10, true, 64, &first);
	expect_run(n, first, 4, 2);
}
END_TEST

START_TEST(prev_run_capped_at_max_takes_top_of_run)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(0x3ff, 64, true, 3, &first);

	expect_run(n, first, 3, 7);	/* 7..9 of 0..9 */
}
END_TEST

START_TEST(prev_run_returns_0_when_none_found)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(0, 64, true, 64, &first);

	expect_run(n, first, 0, NONE);
	n = vmem_sb_prev_run(~0ULL, 64, false, 64, &first);
	expect_run(n, first, 0, NONE);
	n = vmem_sb_prev_run(TWO_RUNS, 2, true, 64, &first);
	expect_run(n, first, 0, NONE);
}
END_TEST

START_TEST(prev_run_below_0_returns_0)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(~0ULL, 0, true, 64, &first);

	expect_run(n, first, 0, NONE);
}
END_TEST

START_TEST(prev_run_finds_plugged_bit_63)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(1ULL << 63, 64, true, 64, &first);

	expect_run(n, first, 1, 63);
}
END_TEST

START_TEST(prev_run_reaches_bit_0)
{
	unsigned int first = NONE;
	unsigned int n = vmem_sb_prev_run(~0ULL, 64, true, 64, &first);

	expect_run(n, first, 64, 0);
}
END_TEST

Suite *vt_runs_suite(void)
{
	Suite *s = suite_create("runs");
	TCase *next = vt_tcase("sb_next_run");
	TCase *prev = vt_tcase("sb_prev_run");

	tcase_add_test(next, next_run_finds_first_plugged_run);
	tcase_add_test(next, next_run_finds_first_unplugged_run);
	tcase_add_test(next, next_run_starts_at_from_inside_a_run);
	tcase_add_test(next, next_run_skips_to_later_run_after_from);
	tcase_add_test(next, next_run_is_capped_at_max);
	tcase_add_test(next, next_run_of_max_1_is_single_sb);
	tcase_add_test(next, next_run_returns_0_when_no_plugged_sb);
	tcase_add_test(next, next_run_returns_0_when_no_unplugged_sb);
	tcase_add_test(next, next_run_returns_0_when_match_only_before_from);
	tcase_add_test(next, next_run_ignores_bits_beyond_sbs_per_mb);
	tcase_add_test(next, next_run_finds_plugged_bit_63);
	tcase_add_test(next, next_run_runs_through_bit_63);
	tcase_add_test(next, next_run_covers_whole_mask);
	suite_add_tcase(s, next);

	tcase_add_test(prev, prev_run_finds_highest_plugged_run);
	tcase_add_test(prev, prev_run_finds_highest_unplugged_run);
	tcase_add_test(prev, prev_run_looks_only_below_below);
	tcase_add_test(prev, prev_run_capped_at_max_takes_top_of_run);
	tcase_add_test(prev, prev_run_returns_0_when_none_found);
	tcase_add_test(prev, prev_run_below_0_returns_0);
	tcase_add_test(prev, prev_run_finds_plugged_bit_63);
	tcase_add_test(prev, prev_run_reaches_bit_0);
	suite_add_tcase(s, prev);
	return s;
}
