// SPDX-License-Identifier: GPL-2.0
/*
 * The safety floor of unplug: vmem_isqrt64(), vmem_floor_auto(),
 * vmem_floor_bytes(), vmem_floor_allowed(), the kernel zones' share
 * (vmem_kernel_floor(), vmem_kernel_allowed()); and the pressure decision from
 * two samples of allocation stalls: vmem_stalls_between(),
 * vmem_under_pressure().
 */
#include "vmem_test.h"

#include <limits.h>

#define U64_MAX_ (~0ULL)

/* Hyper-V's balloon floor (hv_balloon.c), in MiB, for the comparison. */
static double hyperv_floor_mb(double mb)
{
	if (mb < 128)
		return 8 + mb / 2;
	if (mb < 512)
		return 40 + mb / 4;
	if (mb < 2048)
		return 104 + mb / 8;
	if (mb < 8192)
		return 232 + mb / 16;
	return 488 + mb / 32;
}

/* ---- vmem_isqrt64 ------------------------------------------------------- */

START_TEST(isqrt_small_values_match_the_definition)
{
	u64 x;

	for (x = 0; x < 100000; x++) {
		u64 r = vmem_isqrt64(x);

		vt_set_ctx("x=%llu", x);
		ck_assert_msg(r * r <= x && (r + 1) * (r + 1) > x,
			      "%sisqrt=%llu", vt_ctx, r);
	}
}
END_TEST

START_TEST(isqrt_squares_and_their_neighbours)
{
	static const u64 roots[] = { 1, 2, 3, 1000, 65535, 65536, 1ULL << 20,
				     3037000499ULL, 0xfffffffeULL,
				     0xffffffffULL };
	unsigned int i;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		u64 r = roots[i], sq = r * r;

		vt_set_ctx("root %llu", r);
		EXPECT_U64(vmem_isqrt64(sq), r);
		EXPECT_U64(vmem_isqrt64(sq - 1), r - 1);
		if (r < 0xffffffffULL)
			EXPECT_U64(vmem_isqrt64(sq + 2 * r), r);
	}
}
END_TEST

START_TEST(isqrt_of_the_largest_values)
{
	EXPECT_U64(vmem_isqrt64(U64_MAX_), 0xffffffffULL);
	EXPECT_U64(vmem_isqrt64(1ULL << 63), 3037000499ULL);
	EXPECT_U64(vmem_isqrt64(1ULL << 62), 1ULL << 31);
}
END_TEST

/* ---- vmem_floor_auto ----------------------------------------------------- */

/* Every knot of Hyper-V's piecewise linear floor lies on the curve. */
START_TEST(floor_passes_through_every_hyperv_knot)
{
	static const struct { u64 total, floor; } knots[] = {
		{ 32 * MiB, 24 * MiB },
		{ 128 * MiB, 72 * MiB },
		{ 512 * MiB, 168 * MiB },
		{ 2 * GiB, 360 * MiB },
		{ 8 * GiB, 744 * MiB },
		{ 32 * GiB, 1512 * MiB },
	};
	unsigned int i;

	for (i = 0; i < sizeof(knots) / sizeof(knots[0]); i++) {
		vt_set_ctx("total %llu MiB", knots[i].total / MiB);
		EXPECT_U64(vmem_floor_auto(knots[i].total), knots[i].floor);
	}
}
END_TEST

/* What the documentation quotes. */
START_TEST(floor_at_the_documented_sizes)
{
	/* 6 * 1024 * isqrt(2 GiB) - 24 MiB: isqrt(2^31) = 46340 */
	EXPECT_U64(vmem_floor_auto(1 * GiB), 6 * 1024 * 46340ULL - 24 * MiB);
	EXPECT_U64(vmem_floor_auto(1 * GiB) / MiB, 247);
	/* isqrt(2^33) = 92681 */
	EXPECT_U64(vmem_floor_auto(4 * GiB), 6 * 1024 * 92681ULL - 24 * MiB);
	EXPECT_U64(vmem_floor_auto(4 * GiB) / MiB, 519);
}
END_TEST

/* Between the knots the curve stays within 8% above Hyper-V's chords. */
START_TEST(floor_stays_close_to_hyperv_between_the_knots)
{
	u64 mb;

	for (mb = 128; mb <= 32768; mb += 16) {
		double ours = (double)vmem_floor_auto(mb * MiB) / MiB;
		double hv = hyperv_floor_mb((double)mb);

		vt_set_ctx("total %llu MiB: ours %.1f MiB, Hyper-V %.1f MiB", mb,
			   ours, hv);
		ck_assert_msg(ours >= hv - 0.01 && ours <= hv * 1.08, "%s",
			      vt_ctx);
	}
}
END_TEST

START_TEST(floor_never_shrinks_as_the_guest_grows)
{
	u64 t, prev = 0;

	for (t = 0; t <= 64 * GiB; t += 3 * MiB + 4096) {
		u64 f = vmem_floor_auto(t);

		vt_set_ctx("total %llu", t);
		ck_assert_msg(f >= prev, "%sfloor %llu < %llu before", vt_ctx,
			      f, prev);
		prev = f;
	}
}
END_TEST

/*
 * Above 19 MiB the floor grows by less than memory added in pageblocks
 * (2 MiB) or more: vmem_floor_allowed() relies on it. (A single page can
 * cross a whole step of the integer square root.)
 */
START_TEST(floor_grows_slower_than_the_guest_above_19m)
{
	static const u64 steps[] = { 2 * MiB, 4 * MiB, 128 * MiB, 1 * GiB };
	unsigned int i;
	u64 t;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		for (t = 19 * MiB; t <= 256 * GiB; t = t * 5 / 4 + 4096) {
			u64 d = steps[i];

			vt_set_ctx("total %llu + %llu", t, d);
			ck_assert_msg(vmem_floor_auto(t + d) - vmem_floor_auto(t) <= d,
				      "%sfloor grew by more than the step", vt_ctx);
		}
	}
}
END_TEST

START_TEST(floor_is_zero_for_tiny_guests_and_never_above_the_guest)
{
	u64 t;

	EXPECT_U64(vmem_floor_auto(0), 0);
	EXPECT_U64(vmem_floor_auto(8 * MiB - 1), 0);
	EXPECT_U64(vmem_floor_auto(8 * MiB), 0);
	for (t = 0; t <= 64 * MiB; t += 4096) {
		vt_set_ctx("total %llu", t);
		ck_assert_msg(vmem_floor_auto(t) <= t, "%sfloor %llu", vt_ctx,
			      vmem_floor_auto(t));
	}
}
END_TEST

START_TEST(floor_of_huge_totals_does_not_overflow)
{
	u64 top = vmem_floor_auto(1ULL << 62);

	/* 6144 * 2^31.5 - 24 MiB */
	EXPECT_U64(top, 6144ULL * 3037000499ULL - 24 * MiB);
	EXPECT_U64(vmem_floor_auto(U64_MAX_), top);
	EXPECT_U64(vmem_floor_auto((1ULL << 62) + 1), top);
	ck_assert(vmem_floor_auto((1ULL << 62) - 1) <= top);
	/* 1 TiB: about 8.5 GiB */
	EXPECT_U64(vmem_floor_auto(1024 * GiB) / MiB, 8664);
}
END_TEST

/* ---- vmem_floor_bytes ---------------------------------------------------- */

START_TEST(floor_setting_auto_fixed_or_none)
{
	EXPECT_U64(vmem_floor_bytes(VMEM_FLOOR_AUTO, 2 * GiB), 360 * MiB);
	EXPECT_U64(vmem_floor_bytes(INT_MIN, 2 * GiB), 360 * MiB);
	EXPECT_U64(vmem_floor_bytes(0, 2 * GiB), 0);
	EXPECT_U64(vmem_floor_bytes(500, 2 * GiB), 500 * MiB);
	/* A fixed floor does not depend on the guest's size. */
	EXPECT_U64(vmem_floor_bytes(500, 0), 500 * MiB);
	EXPECT_U64(vmem_floor_bytes(INT_MAX, 1 * GiB), (u64)INT_MAX * MiB);
}
END_TEST

/* ---- vmem_floor_allowed -------------------------------------------------- */

static bool leaves_the_floor(u64 avail, u64 total, int floor_mb, u64 take)
{
	return take <= avail && take <= total &&
	       avail - take >= vmem_floor_bytes(floor_mb, total - take);
}

START_TEST(allowed_is_all_when_memory_is_plenty)
{
	EXPECT_U64(vmem_floor_allowed(3 * GiB, 4 * GiB, VMEM_FLOOR_AUTO,
				      4 * MiB, 32), 32);
	EXPECT_U64(vmem_floor_allowed(3 * GiB, 4 * GiB, VMEM_FLOOR_AUTO,
				      128 * MiB, 1), 1);
}
END_TEST

START_TEST(allowed_is_nothing_at_or_below_the_floor)
{
	u64 total = 2 * GiB, floor = vmem_floor_auto(total);

	EXPECT_U64(vmem_floor_allowed(floor, total, VMEM_FLOOR_AUTO, 2 * MiB,
				      100), 0);
	EXPECT_U64(vmem_floor_allowed(floor / 2, total, VMEM_FLOOR_AUTO,
				      2 * MiB, 100), 0);
	EXPECT_U64(vmem_floor_allowed(0, total, VMEM_FLOOR_AUTO, 2 * MiB, 100),
		   0);
}
END_TEST

/*
 * The boundary, with a fixed floor: a step may take available memory down
 * to exactly the floor, not a byte further.
 */
START_TEST(allowed_takes_down_to_exactly_the_floor)
{
	/* 1000 MiB available, floor 600 MiB: 400 MiB may go. */
	EXPECT_U64(vmem_floor_allowed(1000 * MiB, 4 * GiB, 600, 4 * MiB, 1000),
		   100);
	EXPECT_U64(vmem_floor_allowed(1000 * MiB - 1, 4 * GiB, 600, 4 * MiB,
				      1000), 99);
	EXPECT_U64(vmem_floor_allowed(1000 * MiB, 4 * GiB, 600, 128 * MiB, 8),
		   3);
}
END_TEST

/* The auto floor is judged on the guest the step leaves, which is smaller. */
START_TEST(allowed_judges_the_floor_after_the_step)
{
	u64 total = 4 * GiB, unit = 4 * MiB, avail, n;

	/* Exactly enough for 10 units with the floor of the smaller guest. */
	avail = 10 * unit + vmem_floor_auto(total - 10 * unit);
	n = vmem_floor_allowed(avail, total, VMEM_FLOOR_AUTO, unit, 1000);
	EXPECT_U64(n, 10);
	/* Judged on today's size it would have been fewer. */
	ck_assert(avail - 10 * unit < vmem_floor_auto(total));
	EXPECT_U64(vmem_floor_allowed(avail - 1, total, VMEM_FLOOR_AUTO, unit,
				      1000), 9);
}
END_TEST

/* Whatever comes in, the answer is safe and as large as it can be. */
START_TEST(allowed_is_the_largest_step_that_leaves_the_floor)
{
	static const u64 units[] = { 2 * MiB, 4 * MiB, 128 * MiB, 1 * GiB };
	static const int floors[] = { VMEM_FLOOR_AUTO, 0, 100, 1000 };
	unsigned int u, f;
	u64 total, avail;

	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
	for (f = 0; f < sizeof(floors) / sizeof(floors[0]); f++)
	for (total = 64 * MiB; total <= 40 * GiB; total = total * 3 / 2)
	for (avail = 0; avail <= total; avail += total / 37 + 1) {
		u64 want = total / units[u] + 1;
		u64 n = vmem_floor_allowed(avail, total, floors[f], units[u],
					   want);

		vt_set_ctx("unit %llu floor %d total %llu avail %llu: n %llu",
			   units[u], floors[f], total, avail, n);
		ck_assert_msg(n <= want, "%smore than wanted", vt_ctx);
		if (n)
			ck_assert_msg(leaves_the_floor(avail, total, floors[f],
						       n * units[u]),
				      "%sbreaks the floor", vt_ctx);
		if (n < want)
			ck_assert_msg(!leaves_the_floor(avail, total, floors[f],
							(n + 1) * units[u]),
				      "%sone more unit would have fit", vt_ctx);
	}
}
END_TEST

START_TEST(allowed_never_more_than_wanted)
{
	EXPECT_U64(vmem_floor_allowed(3 * GiB, 4 * GiB, 0, 2 * MiB, 5), 5);
	EXPECT_U64(vmem_floor_allowed(3 * GiB, 4 * GiB, 0, 2 * MiB, 0), 0);
}
END_TEST

START_TEST(allowed_with_no_floor_is_what_is_available)
{
	EXPECT_U64(vmem_floor_allowed(100 * MiB, 4 * GiB, 0, 4 * MiB, 1000),
		   25);
	EXPECT_U64(vmem_floor_allowed(100 * MiB + 3 * MiB, 4 * GiB, 0, 4 * MiB,
				      1000), 25);
}
END_TEST

START_TEST(allowed_handles_degenerate_input)
{
	/* No unit: nothing to take. */
	EXPECT_U64(vmem_floor_allowed(3 * GiB, 4 * GiB, 0, 0, 10), 0);
	/* More available than there is (a racy sample): bounded by total. */
	EXPECT_U64(vmem_floor_allowed(8 * GiB, 4 * GiB, 0, 1 * GiB, 100), 4);
	/* Nothing at all. */
	EXPECT_U64(vmem_floor_allowed(0, 0, VMEM_FLOOR_AUTO, 2 * MiB, 10), 0);
}
END_TEST

START_TEST(allowed_does_not_overflow_with_huge_requests)
{
	/* want * unit would wrap: bounded by what is available. */
	EXPECT_U64(vmem_floor_allowed(3 * GiB, 4 * GiB, 0, 2 * MiB, U64_MAX_),
		   1536);
	EXPECT_U64(vmem_floor_allowed(U64_MAX_, U64_MAX_, 0, 1ULL << 40,
				      U64_MAX_), 0xffffffULL);
	/* All of it leaves a guest of nothing, whose floor is nothing. */
	EXPECT_U64(vmem_floor_allowed(U64_MAX_, U64_MAX_, VMEM_FLOOR_AUTO,
				      U64_MAX_, U64_MAX_), 1);
	EXPECT_U64(vmem_floor_allowed(U64_MAX_ - 1, U64_MAX_, VMEM_FLOOR_AUTO,
				      U64_MAX_, U64_MAX_), 0);
	ck_assert(vmem_floor_allowed(U64_MAX_ - 1, U64_MAX_, VMEM_FLOOR_AUTO,
				     1ULL << 40, U64_MAX_) > 0);
}
END_TEST

/*
 * The issue's story: 1 GiB boot + 3 GiB plugged, 2.5 GiB held, the host
 * asks for 0. The floor lets seven memory blocks go, not the eighth.
 */
START_TEST(allowed_in_the_story_of_the_issue)
{
	u64 total = 4075 * MiB, avail = 1434 * MiB;
	u64 n = vmem_floor_allowed(avail, total, VMEM_FLOOR_AUTO, 128 * MiB,
				   24);

	EXPECT_U64(n, 7);
	ck_assert(avail - n * 128 * MiB >=
		  vmem_floor_auto(total - n * 128 * MiB));
	/* Then sub blocks of 4 MiB, up to the floor. */
	avail -= 7 * 128 * MiB;
	total -= 7 * 128 * MiB;
	n = vmem_floor_allowed(avail, total, VMEM_FLOOR_AUTO, 4 * MiB, 32);
	ck_assert(n > 0 && n < 32);
	ck_assert(avail - n * 4 * MiB >= vmem_floor_auto(total - n * 4 * MiB));
	ck_assert(avail - (n + 1) * 4 * MiB <
		  vmem_floor_auto(total - (n + 1) * 4 * MiB));
}
END_TEST

/* ---- pressure ------------------------------------------------------------ */

START_TEST(stalls_of_others_are_the_difference_less_our_own)
{
	struct vmem_stalls then = { 100, 40 }, now = { 130, 45 };

	EXPECT_U64(vmem_stalls_between(&then, &now), 25);
	EXPECT_U64(vmem_stalls_between(&then, &then), 0);
}
END_TEST

START_TEST(stalls_of_our_own_are_no_pressure)
{
	struct vmem_stalls then = { 100, 40 }, now = { 1100, 1040 };
	u64 stalls;

	EXPECT_BOOL(vmem_under_pressure(&then, &now, 1, &stalls), false);
	EXPECT_U64(stalls, 0);
}
END_TEST

/* Sampled while a stall of ours was being counted: no underflow. */
START_TEST(stalls_own_running_ahead_counts_as_none)
{
	struct vmem_stalls then = { 100, 40 }, now = { 100, 41 };

	EXPECT_U64(vmem_stalls_between(&then, &now), 0);
}
END_TEST

START_TEST(pressure_from_the_threshold_on)
{
	struct vmem_stalls then = { 0, 0 }, seven = { 7, 0 }, eight = { 8, 0 };
	u64 stalls;

	EXPECT_BOOL(vmem_under_pressure(&then, &seven, 8, &stalls), false);
	EXPECT_U64(stalls, 7);
	EXPECT_BOOL(vmem_under_pressure(&then, &eight, 8, &stalls), true);
	EXPECT_U64(stalls, 8);
	EXPECT_BOOL(vmem_under_pressure(&then, &eight, 1, &stalls), true);
}
END_TEST

START_TEST(pressure_threshold_zero_never_stops)
{
	struct vmem_stalls then = { 0, 0 }, now = { 1000000, 0 };
	u64 stalls;

	EXPECT_BOOL(vmem_under_pressure(&then, &now, 0, &stalls), false);
	EXPECT_U64(stalls, 1000000);
}
END_TEST

START_TEST(pressure_counters_that_wrap_still_subtract)
{
	struct vmem_stalls then = { U64_MAX_ - 4, U64_MAX_ - 1 };
	struct vmem_stalls now = { 5, 1 };
	u64 stalls;

	/* 10 stalls in all, 3 of them ours. */
	EXPECT_U64(vmem_stalls_between(&then, &now), 7);
	EXPECT_BOOL(vmem_under_pressure(&then, &now, 8, &stalls), false);
	EXPECT_BOOL(vmem_under_pressure(&then, &now, 7, &stalls), true);
}
END_TEST

/* ---- vmem_kernel_floor, vmem_kernel_allowed ----------------------------- */

START_TEST(kernel_floor_is_a_quarter_of_the_floor)
{
	EXPECT_U64(vmem_kernel_floor(0, 1 * GiB), 0);
	EXPECT_U64(vmem_kernel_floor(360 * MiB, 1 * GiB), 90 * MiB);
	EXPECT_U64(vmem_kernel_floor(vmem_floor_auto(1 * GiB), 1 * GiB),
		   vmem_floor_auto(1 * GiB) / 4);
}
END_TEST

/*
 * ... but at most an eighth of the kernel zones: run H's small guest (a
 * 400 MiB boot memory, 32 GiB plugged, floor 1.5 GiB) kept 360 MiB there
 * and a quarter of its floor would have held every unplug back.
 */
START_TEST(kernel_floor_at_most_an_eighth_of_the_kernel_zones)
{
	u64 floor = vmem_floor_auto(32 * GiB + 400 * MiB);

	EXPECT_U64(vmem_kernel_floor(floor, 400 * MiB), 50 * MiB);
	EXPECT_U64(vmem_kernel_floor(floor, 0), 0);
	/* Run F's KASAN guest: 786 MiB of kernel zones, floor 345 MiB. */
	EXPECT_U64(vmem_kernel_floor(345 * MiB, 786 * MiB), 345 * MiB / 4);
}
END_TEST

START_TEST(kernel_allowed_down_to_exactly_the_kernel_floor)
{
	/* A kernel zone step: 100 MiB available, 60 MiB floor, 4 MiB units. */
	EXPECT_U64(vmem_kernel_allowed(100 * MiB, 60 * MiB, 0, 4 * MiB, 32), 10);
	EXPECT_U64(vmem_kernel_allowed(100 * MiB, 60 * MiB, 0, 4 * MiB, 7), 7);
	EXPECT_U64(vmem_kernel_allowed(100 * MiB - 1, 60 * MiB, 0, 4 * MiB, 32),
		   9);
	/* A whole memory block does not fit; a sub block does. */
	EXPECT_U64(vmem_kernel_allowed(100 * MiB, 60 * MiB, 0, 128 * MiB, 1), 0);
}
END_TEST

/*
 * A step from ZONE_MOVABLE costs the kernel zones only what its free memory
 * cannot take: a 1 GiB big block goes when ZONE_MOVABLE has 1 GiB free
 * besides, however little the kernel zones have above their floor (run G:
 * 791 MiB available and a 127 MiB floor held every 1 GiB big block back).
 */
START_TEST(kernel_allowed_counts_what_zone_movable_takes)
{
	EXPECT_U64(vmem_kernel_allowed(791 * MiB, 127 * MiB, 0, 1024 * MiB, 1),
		   0);
	EXPECT_U64(vmem_kernel_allowed(791 * MiB, 127 * MiB, 1024 * MiB,
				       1024 * MiB, 1), 1);
	EXPECT_U64(vmem_kernel_allowed(791 * MiB, 127 * MiB, 400 * MiB,
				       1024 * MiB, 1), 1);
	EXPECT_U64(vmem_kernel_allowed(791 * MiB, 127 * MiB, 300 * MiB,
				       1024 * MiB, 1), 0);
	/* Sub blocks: 40 MiB of budget and 20 MiB free take 15. */
	EXPECT_U64(vmem_kernel_allowed(100 * MiB, 60 * MiB, 20 * MiB, 4 * MiB,
				       32), 15);
}
END_TEST

START_TEST(kernel_allowed_is_nothing_below_the_kernel_floor)
{
	EXPECT_U64(vmem_kernel_allowed(60 * MiB, 60 * MiB, 0, 4 * MiB, 32), 0);
	EXPECT_U64(vmem_kernel_allowed(0, 60 * MiB, 0, 4 * MiB, 32), 0);
	EXPECT_U64(vmem_kernel_allowed(U64_MAX_, 60 * MiB, 0, 0, 32), 0);
}
END_TEST

/* Below it, what ZONE_MOVABLE takes whole still goes: it costs nothing. */
START_TEST(kernel_allowed_below_the_floor_what_costs_nothing)
{
	EXPECT_U64(vmem_kernel_allowed(59 * MiB, 60 * MiB, 20 * MiB, 4 * MiB,
				       32), 5);
	EXPECT_U64(vmem_kernel_allowed(0, 60 * MiB, 1024 * MiB, 4 * MiB, 32),
		   32);
	EXPECT_U64(vmem_kernel_allowed(0, 60 * MiB, 3 * MiB, 4 * MiB, 32), 0);
}
END_TEST

/* safety_floor_mb=0 turns the floor off, the kernel zones' share too. */
START_TEST(kernel_allowed_without_a_floor_is_all)
{
	EXPECT_U64(vmem_kernel_allowed(0, 0, 0, 128 * MiB, 3), 3);
	EXPECT_U64(vmem_kernel_allowed(0, vmem_kernel_floor(0, 1 * GiB), 0,
				       4 * MiB, 32), 32);
}
END_TEST

START_TEST(kernel_allowed_does_not_overflow)
{
	EXPECT_U64(vmem_kernel_allowed(U64_MAX_, 1, 0, 1, U64_MAX_),
		   U64_MAX_ - 1);
	EXPECT_U64(vmem_kernel_allowed(U64_MAX_, 1, U64_MAX_, 1, 7), 7);
	EXPECT_U64(vmem_kernel_allowed(2, 1, U64_MAX_, 4096, 5), 5);
	EXPECT_U64(vmem_kernel_allowed(U64_MAX_, 1, 4096, 4096, 5), 5);
}
END_TEST

Suite *vt_floor_suite(void)
{
	Suite *s = suite_create("floor");
	TCase *tc = vt_tcase("isqrt");

	tcase_add_test(tc, isqrt_small_values_match_the_definition);
	tcase_add_test(tc, isqrt_squares_and_their_neighbours);
	tcase_add_test(tc, isqrt_of_the_largest_values);
	suite_add_tcase(s, tc);

	tc = vt_tcase("floor_auto");
	tcase_add_test(tc, floor_passes_through_every_hyperv_knot);
	tcase_add_test(tc, floor_at_the_documented_sizes);
	tcase_add_test(tc, floor_stays_close_to_hyperv_between_the_knots);
	tcase_add_test(tc, floor_never_shrinks_as_the_guest_grows);
	tcase_add_test(tc, floor_grows_slower_than_the_guest_above_19m);
	tcase_add_test(tc, floor_is_zero_for_tiny_guests_and_never_above_the_guest);
	tcase_add_test(tc, floor_of_huge_totals_does_not_overflow);
	tcase_add_test(tc, floor_setting_auto_fixed_or_none);
	suite_add_tcase(s, tc);

	tc = vt_tcase("floor_allowed");
	tcase_add_test(tc, allowed_is_all_when_memory_is_plenty);
	tcase_add_test(tc, allowed_is_nothing_at_or_below_the_floor);
	tcase_add_test(tc, allowed_takes_down_to_exactly_the_floor);
	tcase_add_test(tc, allowed_judges_the_floor_after_the_step);
	tcase_add_test(tc, allowed_is_the_largest_step_that_leaves_the_floor);
	tcase_add_test(tc, allowed_never_more_than_wanted);
	tcase_add_test(tc, allowed_with_no_floor_is_what_is_available);
	tcase_add_test(tc, allowed_handles_degenerate_input);
	tcase_add_test(tc, allowed_does_not_overflow_with_huge_requests);
	tcase_add_test(tc, allowed_in_the_story_of_the_issue);
	suite_add_tcase(s, tc);

	tc = vt_tcase("kernel_zones");
	tcase_add_test(tc, kernel_floor_is_a_quarter_of_the_floor);
	tcase_add_test(tc, kernel_floor_at_most_an_eighth_of_the_kernel_zones);
	tcase_add_test(tc, kernel_allowed_down_to_exactly_the_kernel_floor);
	tcase_add_test(tc, kernel_allowed_counts_what_zone_movable_takes);
	tcase_add_test(tc, kernel_allowed_is_nothing_below_the_kernel_floor);
	tcase_add_test(tc, kernel_allowed_below_the_floor_what_costs_nothing);
	tcase_add_test(tc, kernel_allowed_without_a_floor_is_all);
	tcase_add_test(tc, kernel_allowed_does_not_overflow);
	suite_add_tcase(s, tc);
	return s;
}

Suite *vt_pressure_suite(void)
{
	Suite *s = suite_create("pressure");
	TCase *tc = vt_tcase("stalls");

	tcase_add_test(tc, stalls_of_others_are_the_difference_less_our_own);
	tcase_add_test(tc, stalls_of_our_own_are_no_pressure);
	tcase_add_test(tc, stalls_own_running_ahead_counts_as_none);
	tcase_add_test(tc, pressure_from_the_threshold_on);
	tcase_add_test(tc, pressure_threshold_zero_never_stops);
	tcase_add_test(tc, pressure_counters_that_wrap_still_subtract);
	suite_add_tcase(s, tc);
	return s;
}
