// SPDX-License-Identifier: GPL-2.0
/* Plug/unplug planning: vmem_pick_plug_mb() and vmem_next_unplug_mb(). */
#include "vmem_test.h"

#define PART	0x00ff00ffULL	/* partly plugged */
#define FULL	(~0ULL)		/* all 64 sbs plugged */
#define NO_ID	0xabcdULL	/* sentinel: mb_id not written */

static struct vt_dev dev;

/* 1G at 4G, 2M blocks: 8 memory blocks, ids 32..39, 64 sbs each. */
static void setup(void)
{
	vt_dev_init(&dev, 2 * MiB, 4 * GiB, 1 * GiB);
}

static u64 id(u64 idx)
{
	return dev.geo.first_mb_id + idx;
}

static void expect_pick(u64 usable_nb_mb, bool want_added, u64 want_id)
{
	u64 mb_id = NO_ID;
	bool added = vmem_pick_plug_mb(&dev.b, usable_nb_mb, &mb_id);

	EXPECT_BOOL(added, want_added);
	EXPECT_U64(mb_id, want_id);
}

/* ---- vmem_pick_plug_mb() ---- */

START_TEST(pick_plug_prefers_partly_plugged_online_movable)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_ONLINE_KERNEL, PART);
	vt_dev_put(&dev, 1, VMEM_MB_OFFLINE, PART);
	vt_dev_put(&dev, 5, VMEM_MB_ONLINE_MOVABLE, PART);
	expect_pick(8, true, id(5));
}
END_TEST

START_TEST(pick_plug_prefers_online_kernel_over_offline)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_OFFLINE, PART);
	vt_dev_put(&dev, 6, VMEM_MB_ONLINE_KERNEL, PART);
	expect_pick(8, true, id(6));
}
END_TEST

START_TEST(pick_plug_prefers_offline_over_unused)
{
	setup();
	vt_dev_put(&dev, 4, VMEM_MB_OFFLINE, PART);
	expect_pick(8, true, id(4));
}
END_TEST

START_TEST(pick_plug_skips_fully_plugged_memory_blocks)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_ONLINE_MOVABLE, FULL);
	vt_dev_put(&dev, 1, VMEM_MB_ONLINE_KERNEL, FULL);
	vt_dev_put(&dev, 2, VMEM_MB_ONLINE_KERNEL, PART);
	expect_pick(8, true, id(2));
}
END_TEST

START_TEST(pick_plug_takes_lowest_id_within_a_class)
{
	setup();
	vt_dev_put(&dev, 6, VMEM_MB_ONLINE_MOVABLE, PART);
	vt_dev_put(&dev, 3, VMEM_MB_ONLINE_MOVABLE, 1);
	vt_dev_put(&dev, 7, VMEM_MB_ONLINE_MOVABLE, PART);
	expect_pick(8, true, id(3));
}
END_TEST

START_TEST(pick_plug_takes_lowest_unused_when_added_blocks_are_full)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_ONLINE_MOVABLE, FULL);
	vt_dev_put(&dev, 1, VMEM_MB_ONLINE_KERNEL, FULL);
	vt_dev_put(&dev, 2, VMEM_MB_OFFLINE, FULL);
	vt_dev_put(&dev, 4, VMEM_MB_ONLINE_MOVABLE, FULL);
	expect_pick(8, false, id(3));
}
END_TEST

START_TEST(pick_plug_takes_first_unused_on_fresh_device)
{
	setup();
	expect_pick(8, false, id(0));
}
END_TEST

START_TEST(pick_plug_ignores_partly_plugged_beyond_usable_nb_mb)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_ONLINE_MOVABLE, FULL);
	vt_dev_put(&dev, 5, VMEM_MB_ONLINE_MOVABLE, PART);
	vt_dev_put(&dev, 6, VMEM_MB_OFFLINE, PART);
	expect_pick(3, false, id(1));
}
END_TEST

START_TEST(pick_plug_ignores_unused_beyond_usable_nb_mb)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_ONLINE_MOVABLE, FULL);
	vt_dev_put(&dev, 1, VMEM_MB_ONLINE_KERNEL, FULL);
	expect_pick(2, false, ~0ULL);
}
END_TEST

START_TEST(pick_plug_returns_false_and_all_ones_when_all_plugged)
{
	unsigned int i;

	setup();
	for (i = 0; i < dev.geo.nb_mb; i++)
		vt_dev_put(&dev, i, i % 2 ? VMEM_MB_ONLINE_MOVABLE :
			   VMEM_MB_OFFLINE, FULL);
	expect_pick(8, false, ~0ULL);
}
END_TEST

START_TEST(pick_plug_returns_false_and_all_ones_when_nothing_usable)
{
	setup();
	vt_dev_put(&dev, 0, VMEM_MB_ONLINE_MOVABLE, PART);
	expect_pick(0, false, ~0ULL);
}
END_TEST

START_TEST(pick_plug_uses_first_mb_id_of_unaligned_region)
{
	/* Region at 4G+64M: memory block index 0 is id 33. */
	vt_dev_init(&dev, 2 * MiB, 4 * GiB + 64 * MiB, 1 * GiB);
	vt_dev_put(&dev, 2, VMEM_MB_ONLINE_KERNEL, PART);
	expect_pick(dev.geo.nb_mb, true, 35);
}
END_TEST

/* ---- vmem_next_unplug_mb() ---- */

/* Collect the whole unplug walk into @ids; returns how many. */
static unsigned int walk(u64 *ids, unsigned int max)
{
	u64 cursor = 0, mb_id = NO_ID;
	unsigned int n = 0;

	while (vmem_next_unplug_mb(&dev.b, &cursor, &mb_id)) {
		ck_assert_msg(n < max, "unplug walk longer than %u", max);
		ids[n++] = mb_id;
		mb_id = NO_ID;
	}
	EXPECT_U64(mb_id, NO_ID);	/* untouched at the end */
	return n;
}

static void expect_walk(const u64 *want, unsigned int want_n)
{
	u64 got[3 * VT_MAX_MB];
	unsigned int n = walk(got, 3 * VT_MAX_MB), i;

	EXPECT_U64(n, want_n);
	for (i = 0; i < n && i < want_n; i++) {
		vt_set_ctx("step %u", i);
		EXPECT_U64(got[i], want[i]);
	}
}

START_TEST(unplug_walks_offline_then_movable_then_kernel)
{
	u64 want[3];

	setup();
	vt_dev_put(&dev, 5, VMEM_MB_ONLINE_KERNEL, PART);
	vt_dev_put(&dev, 3, VMEM_MB_ONLINE_MOVABLE, PART);
	vt_dev_put(&dev, 1, VMEM_MB_OFFLINE, PART);
	want[0] = id(1);
	want[1] = id(3);
	want[2] = id(5);
	expect_walk(want, 3);
}
END_TEST

START_TEST(unplug_takes_highest_id_first_within_a_class)
{
	u64 want[6];

	setup();
	vt_dev_put(&dev, 0, VMEM_MB_OFFLINE, 1);
	vt_dev_put(&dev, 7, VMEM_MB_OFFLINE, FULL);
	vt_dev_put(&dev, 2, VMEM_MB_ONLINE_MOVABLE, PART);
	vt_dev_put(&dev, 6, VMEM_MB_ONLINE_MOVABLE, PART);
	vt_dev_put(&dev, 1, VMEM_MB_ONLINE_KERNEL, FULL);
	vt_dev_put(&dev, 4, VMEM_MB_ONLINE_KERNEL, PART);
	want[0] = id(7);
	want[1] = id(0);
	want[2] = id(6);
	want[3] = id(2);
	want[4] = id(4);
	want[5] = id(1);
	expect_walk(want, 6);
}
END_TEST

START_TEST(unplug_skips_added_blocks_with_nothing_plugged)
{
	u64 want[1];

	setup();
	vt_dev_put(&dev, 1, VMEM_MB_OFFLINE, 0);
	vt_dev_put(&dev, 2, VMEM_MB_ONLINE_MOVABLE, 0);
	vt_dev_put(&dev, 3, VMEM_MB_ONLINE_KERNEL, 0);
	vt_dev_put(&dev, 4, VMEM_MB_ONLINE_KERNEL, 1ULL << 63);
	want[0] = id(4);
	expect_walk(want, 1);
}
END_TEST

START_TEST(unplug_skips_unused_blocks)
{
	u64 want[1];

	setup();
	/* An unused block never has plugged sbs; even if it did, skip it. */
	dev.mbs[6].plugged = FULL;
	vt_dev_put(&dev, 2, VMEM_MB_ONLINE_MOVABLE, PART);
	want[0] = id(2);
	expect_walk(want, 1);
}
END_TEST

START_TEST(unplug_walk_is_empty_when_nothing_plugged)
{
	setup();
	expect_walk(NULL, 0);
}
END_TEST

START_TEST(unplug_walk_stays_finished)
{
	u64 cursor = 0, mb_id = NO_ID;

	setup();
	vt_dev_put(&dev, 0, VMEM_MB_OFFLINE, PART);
	EXPECT_BOOL(vmem_next_unplug_mb(&dev.b, &cursor, &mb_id), true);
	EXPECT_U64(mb_id, id(0));
	EXPECT_BOOL(vmem_next_unplug_mb(&dev.b, &cursor, &mb_id), false);
	EXPECT_BOOL(vmem_next_unplug_mb(&dev.b, &cursor, &mb_id), false);
}
END_TEST

START_TEST(unplug_walk_visits_each_plugged_block_once)
{
	static const u8 states[] = {
		VMEM_MB_OFFLINE, VMEM_MB_ONLINE_KERNEL, VMEM_MB_ONLINE_MOVABLE,
	};
	u64 got[3 * VT_MAX_MB];
	unsigned int i, n, seen[VT_MAX_MB] = { 0 };

	setup();
	for (i = 0; i < dev.geo.nb_mb; i++)
		vt_dev_put(&dev, i, states[i % 3], PART);
	n = walk(got, 3 * VT_MAX_MB);
	EXPECT_U64(n, dev.geo.nb_mb);
	for (i = 0; i < n; i++)
		seen[vmem_mb_idx(&dev.geo, got[i])]++;
	for (i = 0; i < dev.geo.nb_mb; i++) {
		vt_set_ctx("mb index %u", i);
		EXPECT_U64(seen[i], 1);
	}
}
END_TEST

START_TEST(pick_plug_skips_unused_block_with_leftover_plugged_memmap)
{
	struct vt_dev d;
	u64 mb_id = 0;

	vt_dev_init(&d, 4ULL << 20, 4ULL << 30, 4ULL << 30);
	/* Removed, but its memmap sub block is still plugged at the device. */
	d.mbs[0].plugged = 1;
	d.b.plugged_sbs = 1;
	EXPECT_U64(vmem_pick_plug_mb(&d.b, d.geo.nb_mb, &mb_id), 0);
	EXPECT_U64(mb_id, d.geo.first_mb_id + 1);
}
END_TEST

START_TEST(unpluggable_excludes_pinned_memmap_sub_blocks)
{
	struct vmem_mb mb = { .plugged = 0xff, .pinned = 0x1 };

	EXPECT_U64(vmem_mb_unpluggable(&mb), 0xfe);
	mb.plugged = 0x1;
	EXPECT_U64(vmem_mb_unpluggable(&mb), 0);
}
END_TEST

START_TEST(bbm_plug_picks_lowest_unused_big_block)
{
	struct vt_dev d;
	u64 mb_id = 0, i;

	vt_dev_init(&d, 1024ULL << 20, 4ULL << 30, 4ULL << 30);
	EXPECT_U64(d.geo.bb_mbs, 8);
	for (i = 0; i < 8; i++)
		vt_dev_put(&d, i, VMEM_MB_ONLINE_MOVABLE, 1);
	EXPECT_U64(vmem_bbm_pick_plug_bb(&d.b, d.geo.nb_mb, &mb_id), 1);
	EXPECT_U64(mb_id, d.geo.first_mb_id + 8);
}
END_TEST

START_TEST(bbm_plug_ignores_partial_big_blocks_beyond_usable_region)
{
	struct vt_dev d;
	u64 mb_id = 0, i;

	vt_dev_init(&d, 1024ULL << 20, 4ULL << 30, 4ULL << 30);
	for (i = 0; i < 8; i++)
		vt_dev_put(&d, i, VMEM_MB_OFFLINE, 1);
	EXPECT_U64(vmem_bbm_pick_plug_bb(&d.b, 12, &mb_id), 0);
	EXPECT_U64(vmem_bbm_pick_plug_bb(&d.b, 16, &mb_id), 1);
	EXPECT_U64(mb_id, d.geo.first_mb_id + 8);
}
END_TEST

Suite *vt_planning_suite(void)
{
	Suite *s = suite_create("planning");
	TCase *plug = vt_tcase("pick_plug_mb");
	TCase *unplug = vt_tcase("next_unplug_mb");

	tcase_add_test(plug, pick_plug_prefers_partly_plugged_online_movable);
	tcase_add_test(plug, pick_plug_prefers_online_kernel_over_offline);
	tcase_add_test(plug, pick_plug_prefers_offline_over_unused);
	tcase_add_test(plug, pick_plug_skips_fully_plugged_memory_blocks);
	tcase_add_test(plug, pick_plug_takes_lowest_id_within_a_class);
	tcase_add_test(plug, pick_plug_takes_lowest_unused_when_added_blocks_are_full);
	tcase_add_test(plug, pick_plug_takes_first_unused_on_fresh_device);
	tcase_add_test(plug, pick_plug_ignores_partly_plugged_beyond_usable_nb_mb);
	tcase_add_test(plug, pick_plug_ignores_unused_beyond_usable_nb_mb);
	tcase_add_test(plug, pick_plug_returns_false_and_all_ones_when_all_plugged);
	tcase_add_test(plug, pick_plug_returns_false_and_all_ones_when_nothing_usable);
	tcase_add_test(plug, pick_plug_uses_first_mb_id_of_unaligned_region);
	tcase_add_test(plug, pick_plug_skips_unused_block_with_leftover_plugged_memmap);
	tcase_add_test(plug, unpluggable_excludes_pinned_memmap_sub_blocks);
	tcase_add_test(plug, bbm_plug_picks_lowest_unused_big_block);
	tcase_add_test(plug, bbm_plug_ignores_partial_big_blocks_beyond_usable_region);
	suite_add_tcase(s, plug);

	tcase_add_test(unplug, unplug_walks_offline_then_movable_then_kernel);
	tcase_add_test(unplug, unplug_takes_highest_id_first_within_a_class);
	tcase_add_test(unplug, unplug_skips_added_blocks_with_nothing_plugged);
	tcase_add_test(unplug, unplug_skips_unused_blocks);
	tcase_add_test(unplug, unplug_walk_is_empty_when_nothing_plugged);
	tcase_add_test(unplug, unplug_walk_stays_finished);
	tcase_add_test(unplug, unplug_walk_visits_each_plugged_block_once);
	suite_add_tcase(s, unplug);
	return s;
}
