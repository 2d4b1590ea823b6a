// SPDX-License-Identifier: GPL-2.0
/*
 * Per memory block state: vmem_mb_set_state(), vmem_mb_set_plugged(),
 * vmem_mb_all_plugged(), vmem_mb_is_online(), vmem_mb_is_leftover() and
 * vmem_sb_mask().
 */
#include "vmem_test.h"

static struct vt_dev dev;

/* 1G at 4G, 2M blocks: 8 memory blocks (ids 32..39), 64 sbs each. */
static void dev64(void)
{
	vt_dev_init(&dev, 2 * MiB, 4 * GiB, 1 * GiB);
}

/* 1G at 4G, 16M blocks: 8 memory blocks, 8 sbs each. */
static void dev8(void)
{
	vt_dev_init(&dev, 16 * MiB, 4 * GiB, 1 * GiB);
}

static u64 id(u64 idx)
{
	return dev.geo.first_mb_id + idx;
}

static void expect_counts(u64 unused, u64 offline, u64 kernel, u64 movable)
{
	EXPECT_U64(dev.b.nr_in_state[VMEM_MB_UNUSED], unused);
	EXPECT_U64(dev.b.nr_in_state[VMEM_MB_OFFLINE], offline);
	EXPECT_U64(dev.b.nr_in_state[VMEM_MB_ONLINE_KERNEL], kernel);
	EXPECT_U64(dev.b.nr_in_state[VMEM_MB_ONLINE_MOVABLE], movable);
}

/* ---- vmem_mb_set_state() ---- */

START_TEST(set_state_records_new_state_in_memory_block)
{
	dev64();
	vmem_mb_set_state(&dev.b, id(3), VMEM_MB_ONLINE_MOVABLE);
	EXPECT_U64(dev.mbs[3].state, VMEM_MB_ONLINE_MOVABLE);
	EXPECT_U64(dev.mbs[2].state, VMEM_MB_UNUSED);
	EXPECT_U64(dev.mbs[4].state, VMEM_MB_UNUSED);
}
END_TEST

START_TEST(set_state_moves_one_count_between_states)
{
	dev64();
	vmem_mb_set_state(&dev.b, id(0), VMEM_MB_OFFLINE);
	expect_counts(7, 1, 0, 0);
	vmem_mb_set_state(&dev.b, id(0), VMEM_MB_ONLINE_KERNEL);
	expect_counts(7, 0, 1, 0);
	vmem_mb_set_state(&dev.b, id(7), VMEM_MB_ONLINE_MOVABLE);
	expect_counts(6, 0, 1, 1);
	vmem_mb_set_state(&dev.b, id(0), VMEM_MB_UNUSED);
	expect_counts(7, 0, 0, 1);
}
END_TEST

START_TEST(set_state_to_current_state_keeps_counts)
{
	dev64();
	vmem_mb_set_state(&dev.b, id(1), VMEM_MB_OFFLINE);
	vmem_mb_set_state(&dev.b, id(1), VMEM_MB_OFFLINE);
	expect_counts(7, 1, 0, 0);
	vmem_mb_set_state(&dev.b, id(2), VMEM_MB_UNUSED);
	expect_counts(7, 1, 0, 0);
}
END_TEST

START_TEST(set_state_keeps_counts_exact_over_many_transitions)
{
	unsigned int step;

	dev64();
	for (step = 0; step < 1000; step++) {
		u64 idx = (step * 5 + step / 8) % dev.geo.nb_mb;
		enum vmem_mb_state st = (step * 7 + idx) % VMEM_MB_NR_STATES;
		u64 want[VMEM_MB_NR_STATES] = { 0 };
		unsigned int i;

		vmem_mb_set_state(&dev.b, id(idx), st);
		for (i = 0; i < dev.geo.nb_mb; i++)
			want[dev.mbs[i].state]++;
		for (i = 0; i < VMEM_MB_NR_STATES; i++) {
			vt_set_ctx("step %u state %u", step, i);
			EXPECT_U64(dev.b.nr_in_state[i], want[i]);
		}
	}
}
END_TEST

/* ---- vmem_mb_set_plugged() ---- */

START_TEST(set_plugged_sets_bits_and_counts_them)
{
	dev64();
	vmem_mb_set_plugged(&dev.b, id(2), 4, 3, true);
	EXPECT_U64(dev.mbs[2].plugged, 0x70);
	EXPECT_U64(dev.b.plugged_sbs, 3);
}
END_TEST

START_TEST(set_plugged_on_already_plugged_bits_does_not_double_count)
{
	dev64();
	vmem_mb_set_plugged(&dev.b, id(2), 0, 8, true);
	vmem_mb_set_plugged(&dev.b, id(2), 0, 8, true);
	EXPECT_U64(dev.b.plugged_sbs, 8);
	vmem_mb_set_plugged(&dev.b, id(2), 4, 8, true);	/* 4 overlap, 4 new */
	EXPECT_U64(dev.mbs[2].plugged, 0xfff);
	EXPECT_U64(dev.b.plugged_sbs, 12);
}
END_TEST

START_TEST(set_unplugged_subtracts_only_bits_that_were_plugged)
{
	dev64();
	vmem_mb_set_plugged(&dev.b, id(1), 0, 8, true);
	vmem_mb_set_plugged(&dev.b, id(1), 6, 10, false);  /* 2 were plugged */
	EXPECT_U64(dev.mbs[1].plugged, 0x3f);
	EXPECT_U64(dev.b.plugged_sbs, 6);
	vmem_mb_set_plugged(&dev.b, id(1), 40, 10, false); /* none plugged */
	EXPECT_U64(dev.b.plugged_sbs, 6);
}
END_TEST

START_TEST(set_plugged_touches_only_its_memory_block)
{
	dev64();
	vmem_mb_set_plugged(&dev.b, id(3), 0, 64, true);
	EXPECT_U64(dev.mbs[2].plugged, 0);
	EXPECT_U64(dev.mbs[3].plugged, ~0ULL);
	EXPECT_U64(dev.mbs[4].plugged, 0);
	EXPECT_U64(dev.b.plugged_sbs, 64);
}
END_TEST

START_TEST(set_plugged_sums_over_memory_blocks)
{
	dev64();
	vmem_mb_set_plugged(&dev.b, id(0), 0, 64, true);
	vmem_mb_set_plugged(&dev.b, id(7), 63, 1, true);
	vmem_mb_set_plugged(&dev.b, id(4), 10, 20, true);
	EXPECT_U64(dev.b.plugged_sbs, 85);
	vmem_mb_set_plugged(&dev.b, id(0), 0, 64, false);
	EXPECT_U64(dev.b.plugged_sbs, 21);
}
END_TEST

START_TEST(set_plugged_does_not_change_state)
{
	dev64();
	vmem_mb_set_state(&dev.b, id(5), VMEM_MB_OFFLINE);
	vmem_mb_set_plugged(&dev.b, id(5), 0, 64, true);
	vmem_mb_set_plugged(&dev.b, id(5), 0, 64, false);
	EXPECT_U64(dev.mbs[5].state, VMEM_MB_OFFLINE);
	expect_counts(7, 1, 0, 0);
}
END_TEST

/* ---- vmem_mb_all_plugged() ---- */

START_TEST(all_plugged_with_64_sbs_needs_all_64_bits)
{
	dev64();
	EXPECT_U64(dev.geo.sbs_per_mb, 64);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), false);
	vmem_mb_set_plugged(&dev.b, id(0), 0, 63, true);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), false);
	vmem_mb_set_plugged(&dev.b, id(0), 63, 1, true);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), true);
	vmem_mb_set_plugged(&dev.b, id(0), 0, 1, false);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), false);
}
END_TEST

START_TEST(all_plugged_with_8_sbs_needs_only_the_low_8_bits)
{
	dev8();
	EXPECT_U64(dev.geo.sbs_per_mb, 8);
	vmem_mb_set_plugged(&dev.b, id(0), 0, 7, true);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), false);
	vmem_mb_set_plugged(&dev.b, id(0), 7, 1, true);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), true);
	vmem_mb_set_plugged(&dev.b, id(0), 3, 1, false);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[0]), false);
}
END_TEST

START_TEST(all_plugged_is_false_for_empty_memory_block)
{
	dev8();
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[1]), false);
}
END_TEST

START_TEST(is_online_only_for_online_states)
{
	struct vmem_mb mb = { 0 };

	mb.state = VMEM_MB_UNUSED;
	EXPECT_BOOL(vmem_mb_is_online(&mb), false);
	mb.state = VMEM_MB_OFFLINE;
	EXPECT_BOOL(vmem_mb_is_online(&mb), false);
	mb.state = VMEM_MB_ONLINE_KERNEL;
	EXPECT_BOOL(vmem_mb_is_online(&mb), true);
	mb.state = VMEM_MB_ONLINE_MOVABLE;
	EXPECT_BOOL(vmem_mb_is_online(&mb), true);
}
END_TEST

/* Unused with plugged sub blocks, and only that, is a leftover. */
START_TEST(leftover_is_unused_with_plugged_sub_blocks)
{
	struct vmem_mb mb = { 0 };
	unsigned int st;

	for (st = 0; st < VMEM_MB_NR_STATES; st++) {
		vt_set_ctx("state %u: ", st);
		mb.state = st;
		mb.plugged = 0;
		EXPECT_BOOL(vmem_mb_is_leftover(&mb), false);
		mb.plugged = 0x3;
		EXPECT_BOOL(vmem_mb_is_leftover(&mb), st == VMEM_MB_UNUSED);
	}
}
END_TEST

/* A leftover is never picked to be added: its memmap is still plugged. */
START_TEST(leftover_is_not_picked_for_plugging)
{
	u64 mb_id;

	dev64();
	dev.b.mb[0].plugged = 0x1;
	dev.b.plugged_sbs = 1;
	EXPECT_BOOL(vmem_pick_plug_mb(&dev.b, dev.geo.nb_mb, &mb_id), false);
	EXPECT_U64(mb_id, dev.geo.first_mb_id + 1);
}
END_TEST

/* ---- vmem_sb_mask() ---- */

START_TEST(sb_mask_covers_count_bits_from_first)
{
	EXPECT_U64(vmem_sb_mask(3, 5), 0xf8);
	EXPECT_U64(vmem_sb_mask(0, 1), 0x1);
}
END_TEST

START_TEST(sb_mask_of_count_64_is_all_ones)
{
	EXPECT_U64(vmem_sb_mask(0, 64), ~0ULL);
}
END_TEST

START_TEST(sb_mask_ending_at_bit_63_includes_bit_63)
{
	EXPECT_U64(vmem_sb_mask(60, 4), 0xf000000000000000ULL);
	EXPECT_U64(vmem_sb_mask(63, 1), 0x8000000000000000ULL);
	EXPECT_U64(vmem_sb_mask(1, 63), ~1ULL);
}
END_TEST

START_TEST(sb_mask_of_count_0_is_empty)
{
	EXPECT_U64(vmem_sb_mask(0, 0), 0);
	EXPECT_U64(vmem_sb_mask(17, 0), 0);
}
END_TEST

Suite *vt_blocks_suite(void)
{
	Suite *s = suite_create("blocks");
	TCase *state = vt_tcase("set_state");
	TCase *plug = vt_tcase("set_plugged");
	TCase *all = vt_tcase("all_plugged");
	TCase *mask = vt_tcase("sb_mask");

	tcase_add_test(state, set_state_records_new_state_in_memory_block);
	tcase_add_test(state, set_state_moves_one_count_between_states);
	tcase_add_test(state, set_state_to_current_state_keeps_counts);
	tcase_add_test(state, set_state_keeps_counts_exact_over_many_transitions);
	suite_add_tcase(s, state);

	tcase_add_test(plug, set_plugged_sets_bits_and_counts_them);
	tcase_add_test(plug, set_plugged_on_already_plugged_bits_does_not_double_count);
	tcase_add_test(plug, set_unplugged_subtracts_only_bits_that_were_plugged);
	tcase_add_test(plug, set_plugged_touches_only_its_memory_block);
	tcase_add_test(plug, set_plugged_sums_over_memory_blocks);
	tcase_add_test(plug, set_plugged_does_not_change_state);
	suite_add_tcase(s, plug);

	tcase_add_test(all, all_plugged_with_64_sbs_needs_all_64_bits);
	tcase_add_test(all, all_plugged_with_8_sbs_needs_only_the_low_8_bits);
	tcase_add_test(all, all_plugged_is_false_for_empty_memory_block);
	tcase_add_test(all, is_online_only_for_online_states);
	tcase_add_test(all, leftover_is_unused_with_plugged_sub_blocks);
	tcase_add_test(all, leftover_is_not_picked_for_plugging);
	suite_add_tcase(s, all);

	tcase_add_test(mask, sb_mask_covers_count_bits_from_first);
	tcase_add_test(mask, sb_mask_of_count_64_is_all_ones);
	tcase_add_test(mask, sb_mask_ending_at_bit_63_includes_bit_63);
	tcase_add_test(mask, sb_mask_of_count_0_is_empty);
	suite_add_tcase(s, mask);
	return s;
}
