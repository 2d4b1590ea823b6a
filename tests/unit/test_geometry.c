// SPDX-License-Identifier: GPL-2.0
/*
 * vmem_geometry_init(), vmem_usable_nb_mb() and the id/address
 * conversions.
 */
#include "vmem_test.h"

#include <string.h>

/* Geometry of a whole-usable region; bb_size 0 lets the mode follow. */
static int geometry_of(struct vmem_geometry *geo, u64 block_size, u64 addr,
		       u64 region_size, u64 mb_size, u64 bb_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = block_size;
	cfg.addr = addr;
	cfg.region_size = region_size;
	cfg.usable_region_size = region_size;
	lim.mb_size = mb_size;
	memset(geo, 0xa5, sizeof(*geo));
	return vmem_geometry_init(geo, &cfg, &lim, bb_size);
}

static int geometry(struct vmem_geometry *geo, u64 block_size, u64 addr,
		    u64 region_size, u64 mb_size)
{
	return geometry_of(geo, block_size, addr, region_size, mb_size, 0);
}

START_TEST(geometry_sb_size_equals_block_size_for_2M_to_16M)
{
	static const struct {
		u64 block_size;
		unsigned int sbs_per_mb;
	} t[] = {
		{ 2 * MiB, 64 }, { 4 * MiB, 32 }, { 8 * MiB, 16 }, { 16 * MiB, 8 },
	};
	struct vmem_geometry geo;

	vt_set_ctx("block_size=%lluM", t[_i].block_size / MiB);
	EXPECT_ERR(geometry(&geo, t[_i].block_size, 4 * GiB, 4 * GiB,
			    128 * MiB), 0);
	EXPECT_U64(geo.sb_size, t[_i].block_size);
	EXPECT_U64(geo.sbs_per_mb, t[_i].sbs_per_mb);
}
END_TEST

START_TEST(geometry_raises_1M_block_to_2M_pageblock)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry(&geo, 1 * MiB, 4 * GiB, 4 * GiB, 128 * MiB), 0);
	EXPECT_U64(geo.sb_size, 2 * MiB);
	EXPECT_U64(geo.sbs_per_mb, 64);
	EXPECT_U64(geo.block_size, 1 * MiB);
}
END_TEST

START_TEST(geometry_raises_block_to_pageblock_above_mb_64th)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();
	struct vmem_geometry geo;

	/* Pageblock larger than 1/64 of a memory block: it wins. */
	lim.min_sb_size = 8 * MiB;
	cfg.block_size = 2 * MiB;
	EXPECT_ERR(vmem_geometry_init(&geo, &cfg, &lim, 0), 0);
	EXPECT_U64(geo.sb_size, 8 * MiB);
	EXPECT_U64(geo.sbs_per_mb, 16);
}
END_TEST

START_TEST(geometry_2G_memory_block_gives_32M_sub_blocks)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry(&geo, 2 * MiB, 4 * GiB, 4 * GiB, 2 * GiB), 0);
	EXPECT_U64(geo.sb_size, 32 * MiB);
	EXPECT_U64(geo.sbs_per_mb, 64);
	EXPECT_U64(geo.mb_size, 2 * GiB);
	EXPECT_U64(geo.first_mb_id, 2);
	EXPECT_U64(geo.nb_mb, 2);
}
END_TEST

START_TEST(geometry_records_block_and_memory_block_size)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry(&geo, 4 * MiB, 4 * GiB, 4 * GiB, 128 * MiB), 0);
	EXPECT_U64(geo.block_size, 4 * MiB);
	EXPECT_U64(geo.mb_size, 128 * MiB);
}
END_TEST

START_TEST(geometry_aligned_region_uses_every_memory_block)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry(&geo, 2 * MiB, 4 * GiB, 4 * GiB, 128 * MiB), 0);
	EXPECT_U64(geo.first_mb_id, 4 * GiB / (128 * MiB));
	EXPECT_U64(geo.nb_mb, 32);
}
END_TEST

START_TEST(geometry_unaligned_region_uses_only_whole_memory_blocks)
{
	struct vmem_geometry geo;

	/* [4G+64M, 8G+64M): whole memory blocks are [4G+128M, 8G). */
	EXPECT_ERR(geometry(&geo, 2 * MiB, 4 * GiB + 64 * MiB, 4 * GiB,
			    128 * MiB), 0);
	EXPECT_U64(geo.first_mb_id, (4 * GiB + 128 * MiB) / (128 * MiB));
	EXPECT_U64(geo.nb_mb, 31);
}
END_TEST

START_TEST(geometry_unaligned_end_drops_trailing_partial_memory_block)
{
	struct vmem_geometry geo;

	/* [4G, 4G+300M): two whole memory blocks, 44M left over. */
	EXPECT_ERR(geometry(&geo, 2 * MiB, 4 * GiB, 300 * MiB, 128 * MiB), 0);
	EXPECT_U64(geo.first_mb_id, 32);
	EXPECT_U64(geo.nb_mb, 2);
}
END_TEST

static int geometry_bbm(struct vmem_geometry *geo, u64 block_size, u64 addr,
			u64 region_size, u64 bb_size)
{
	return geometry_of(geo, block_size, addr, region_size,
			   vt_limits().mb_size, bb_size);
}

START_TEST(geometry_block_size_of_a_memory_block_is_big_block_mode)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry(&geo, 128 * MiB, 4 * GiB, 4 * GiB, 128 * MiB), 0);
	EXPECT_U64(vmem_is_bbm(&geo), 1);
	EXPECT_U64(geo.bb_size, 128 * MiB);
	EXPECT_U64(geo.bb_mbs, 1);
	EXPECT_U64(geo.sb_size, 128 * MiB);
	EXPECT_U64(geo.sbs_per_mb, 1);
	EXPECT_U64(geo.nb_mb, 32);
}
END_TEST

START_TEST(geometry_big_block_spans_several_memory_blocks)
{
	static const u64 sizes[] = { 256 * MiB, 1 * GiB, 2 * GiB };
	struct vmem_geometry geo;

	vt_set_ctx("block_size=%lluM", sizes[_i] / MiB);
	EXPECT_ERR(geometry(&geo, sizes[_i], 4 * GiB, 8 * GiB, 128 * MiB), 0);
	EXPECT_U64(geo.bb_size, sizes[_i]);
	EXPECT_U64(geo.bb_mbs, sizes[_i] / (128 * MiB));
	EXPECT_U64(geo.sbs_per_mb, 1);
	EXPECT_U64(geo.nb_mb, 64);
	EXPECT_U64(vmem_unit_size(&geo), sizes[_i]);
}
END_TEST

START_TEST(geometry_forced_big_blocks_for_small_device_blocks)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry_bbm(&geo, 4 * MiB, 4 * GiB, 4 * GiB, 256 * MiB), 0);
	EXPECT_U64(vmem_is_bbm(&geo), 1);
	EXPECT_U64(geo.bb_size, 256 * MiB);
	EXPECT_U64(geo.bb_mbs, 2);
	EXPECT_U64(geo.block_size, 4 * MiB);
}
END_TEST

START_TEST(geometry_forced_big_block_below_memory_block_is_raised)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry_bbm(&geo, 4 * MiB, 4 * GiB, 4 * GiB, 64 * MiB), 0);
	EXPECT_U64(geo.bb_size, 128 * MiB);
	EXPECT_U64(geo.bb_mbs, 1);
}
END_TEST

START_TEST(geometry_forced_big_block_not_power_of_two_is_refused)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry_bbm(&geo, 4 * MiB, 4 * GiB, 4 * GiB, 384 * MiB),
		   -EINVAL);
}
END_TEST

START_TEST(geometry_big_blocks_use_only_whole_big_blocks_of_the_region)
{
	struct vmem_geometry geo;

	/* [4G + 512M, 7G + 512M) holds whole 1G blocks at 5G and 6G only. */
	EXPECT_ERR(geometry(&geo, 512 * MiB, 4 * GiB + 512 * MiB, 3 * GiB,
			    128 * MiB), 0);
	EXPECT_ERR(geometry_bbm(&geo, 512 * MiB, 4 * GiB + 512 * MiB, 3 * GiB,
				1 * GiB), 0);
	EXPECT_U64(geo.first_mb_id, 5 * GiB / (128 * MiB));
	EXPECT_U64(geo.nb_mb, 16);
	EXPECT_U64(vmem_bb_first_mb(&geo, geo.first_mb_id + 11),
		   geo.first_mb_id + 8);
}
END_TEST

START_TEST(geometry_big_blocks_usable_region_rounds_to_big_blocks)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();
	struct vmem_geometry geo;

	cfg.block_size = 1 * GiB;
	cfg.region_size = 8 * GiB;
	cfg.usable_region_size = 8 * GiB;
	EXPECT_ERR(vmem_geometry_init(&geo, &cfg, &lim, 0), 0);
	cfg.usable_region_size = 3 * GiB + 512 * MiB;
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 24);
}
END_TEST

START_TEST(geometry_rejects_region_smaller_than_memory_block)
{
	struct vmem_geometry geo;

	EXPECT_ERR(geometry(&geo, 2 * MiB, 4 * GiB, 64 * MiB, 128 * MiB),
		   -EINVAL);
}
END_TEST

START_TEST(geometry_rejects_region_straddling_without_whole_memory_block)
{
	struct vmem_geometry geo;

	/* 128M at 4G+64M: covers halves of two memory blocks, no whole one. */
	EXPECT_ERR(geometry(&geo, 2 * MiB, 4 * GiB + 64 * MiB, 128 * MiB,
			    128 * MiB), -EINVAL);
}
END_TEST

/* ---- vmem_usable_nb_mb() ---- */

static void usable_setup(struct vmem_geometry *geo, struct vmem_config *cfg,
			 u64 addr, u64 region_size)
{
	struct vmem_limits lim = vt_limits();

	*cfg = vt_config();
	cfg->addr = addr;
	cfg->region_size = region_size;
	cfg->usable_region_size = region_size;
	ck_assert_int_eq(vmem_geometry_init(geo, cfg, &lim, 0), 0);
}

START_TEST(usable_nb_mb_is_zero_for_zero_usable_region)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;

	usable_setup(&geo, &cfg, 4 * GiB, 4 * GiB);
	cfg.usable_region_size = 0;
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 0);
}
END_TEST

START_TEST(usable_nb_mb_is_zero_while_usable_ends_before_first_whole_mb)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;

	/* Region at 4G+64M: first whole memory block starts at 4G+128M. */
	usable_setup(&geo, &cfg, 4 * GiB + 64 * MiB, 4 * GiB);
	cfg.usable_region_size = 64 * MiB - 2 * MiB;
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 0);
	cfg.usable_region_size = 64 * MiB;	/* reaches its start only */
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 0);
	cfg.usable_region_size = 64 * MiB + 126 * MiB;	/* 2M short of its end */
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 0);
}
END_TEST

START_TEST(usable_nb_mb_counts_only_whole_memory_blocks)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;

	usable_setup(&geo, &cfg, 4 * GiB, 4 * GiB);
	cfg.usable_region_size = 128 * MiB - 2 * MiB;
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 0);
	cfg.usable_region_size = 128 * MiB;
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 1);
	cfg.usable_region_size = 3 * 128 * MiB - 2 * MiB;
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 2);
}
END_TEST

START_TEST(usable_nb_mb_grows_with_usable_region_size)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;
	u64 k;

	/* Unaligned region: mb k ends at 64M + (k + 1) * 128M from addr. */
	usable_setup(&geo, &cfg, 4 * GiB + 64 * MiB, 4 * GiB);
	for (k = 0; k < geo.nb_mb; k++) {
		cfg.usable_region_size = 64 * MiB + (k + 1) * 128 * MiB;
		vt_set_ctx("usable=%lluM", cfg.usable_region_size / MiB);
		EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), k + 1);
	}
	cfg.usable_region_size = cfg.region_size;
	vt_set_ctx("usable=region");
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), geo.nb_mb);
}
END_TEST

START_TEST(usable_nb_mb_is_capped_at_nb_mb)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;

	/* A device growing usable_region_size past the region at run time. */
	usable_setup(&geo, &cfg, 4 * GiB, 1 * GiB);
	cfg.usable_region_size = 4 * GiB;
	EXPECT_U64(geo.nb_mb, 8);
	EXPECT_U64(vmem_usable_nb_mb(&geo, &cfg), 8);
}
END_TEST

/* ---- id / address conversions ---- */

START_TEST(mb_id_to_phys_and_back_round_trips)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;
	u64 id;

	usable_setup(&geo, &cfg, 4 * GiB, 4 * GiB);
	for (id = geo.first_mb_id; id < geo.first_mb_id + geo.nb_mb; id++) {
		u64 phys = vmem_mb_id_to_phys(&geo, id);

		vt_set_ctx("mb_id=%llu", id);
		EXPECT_U64(phys, id * 128 * MiB);
		EXPECT_U64(vmem_phys_to_mb_id(&geo, phys), id);
		EXPECT_U64(vmem_phys_to_mb_id(&geo, phys + 128 * MiB - 1), id);
	}
}
END_TEST

START_TEST(phys_to_mb_id_and_back_gives_memory_block_start)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;
	u64 addr;

	usable_setup(&geo, &cfg, 4 * GiB, 4 * GiB);
	for (addr = 4 * GiB; addr < 8 * GiB; addr += 7 * MiB + 4 * KiB) {
		vt_set_ctx("addr=0x%llx", addr);
		EXPECT_U64(vmem_mb_id_to_phys(&geo,
					      vmem_phys_to_mb_id(&geo, addr)),
			   addr / (128 * MiB) * (128 * MiB));
	}
}
END_TEST

START_TEST(sb_id_to_phys_round_trips_through_mb_id_and_sb_offset)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;
	unsigned int sb;
	u64 id;

	usable_setup(&geo, &cfg, 4 * GiB, 1 * GiB);
	for (id = geo.first_mb_id; id < geo.first_mb_id + geo.nb_mb; id++) {
		for (sb = 0; sb < geo.sbs_per_mb; sb++) {
			u64 phys = vmem_sb_id_to_phys(&geo, id, sb);

			vt_set_ctx("mb_id=%llu sb=%u", id, sb);
			EXPECT_U64(vmem_phys_to_mb_id(&geo, phys), id);
			EXPECT_U64((phys - vmem_mb_id_to_phys(&geo, id)) /
				   geo.sb_size, sb);
			EXPECT_U64(phys % geo.sb_size, 0);
		}
	}
}
END_TEST

START_TEST(sb_id_to_phys_steps_by_sb_size_not_block_size)
{
	struct vmem_geometry geo;

	/* 1M device blocks, 2M sub blocks. */
	ck_assert_int_eq(geometry(&geo, 1 * MiB, 4 * GiB, 1 * GiB, 128 * MiB), 0);
	EXPECT_U64(vmem_sb_id_to_phys(&geo, 33, 0), 4 * GiB + 128 * MiB);
	EXPECT_U64(vmem_sb_id_to_phys(&geo, 33, 5), 4 * GiB + 138 * MiB);
	EXPECT_U64(vmem_sb_id_to_phys(&geo, 33, 63), 4 * GiB + 254 * MiB);
}
END_TEST

START_TEST(mb_idx_is_offset_from_first_mb_id)
{
	struct vmem_geometry geo;
	struct vmem_config cfg;

	usable_setup(&geo, &cfg, 4 * GiB + 64 * MiB, 4 * GiB);
	EXPECT_U64(vmem_mb_idx(&geo, geo.first_mb_id), 0);
	EXPECT_U64(vmem_mb_idx(&geo, geo.first_mb_id + geo.nb_mb - 1),
		   geo.nb_mb - 1);
	EXPECT_U64(vmem_mb_idx(&geo, vmem_phys_to_mb_id(&geo, 4 * GiB +
							128 * MiB)), 0);
}
END_TEST

/* 4 KiB pages: 512 pages a 2 MiB sub block, order 10 the buddy's largest. */
#define PAGES_2M 512ULL
#define BUDDY_MAX 10

START_TEST(buddy_order_takes_the_largest_chunk_of_an_aligned_range)
{
	EXPECT_INT(vmem_buddy_order(0x100000, 64 * PAGES_2M, BUDDY_MAX), 10);
	EXPECT_INT(vmem_buddy_order(0x100000, 2 * PAGES_2M, BUDDY_MAX), 10);
	EXPECT_INT(vmem_buddy_order(0x100000, PAGES_2M, BUDDY_MAX), 9);
}
END_TEST

START_TEST(buddy_order_follows_the_start_of_a_range_on_an_odd_sub_block)
{
	/* Plugging from the second 2 MiB sub block of a memory block. */
	EXPECT_INT(vmem_buddy_order(0x100000 + PAGES_2M, 63 * PAGES_2M,
				    BUDDY_MAX), 9);
	EXPECT_INT(vmem_buddy_order(0x100000 + 2 * PAGES_2M, 62 * PAGES_2M,
				    BUDDY_MAX), 10);
}
END_TEST

START_TEST(buddy_order_of_single_or_odd_pages_is_zero)
{
	EXPECT_INT(vmem_buddy_order(0x100000, 1, BUDDY_MAX), 0);
	EXPECT_INT(vmem_buddy_order(0x100001, 1024, BUDDY_MAX), 0);
	EXPECT_INT(vmem_buddy_order(0x100000, 3, BUDDY_MAX), 1);
}
END_TEST

/* Every run of 2 MiB sub blocks in a 128 MiB memory block is handed over
 * exactly, in naturally aligned chunks no larger than the buddy takes. */
START_TEST(buddy_chunks_tile_every_sub_block_run_naturally_aligned)
{
	const unsigned long long base = 0x100000;	/* 4 GiB */
	unsigned int first, count;

	for (first = 0; first < 64; first++) {
		for (count = 1; first + count <= 64; count++) {
			unsigned long long pfn = base + first * PAGES_2M;
			unsigned long long end = pfn + count * PAGES_2M;

			vt_set_ctx("sub blocks %u+%u, ", first, count);
			while (pfn < end) {
				unsigned int order =
					vmem_buddy_order(pfn, end - pfn, BUDDY_MAX);

				ck_assert_msg(order <= BUDDY_MAX, "%sorder %u",
					      vt_ctx, order);
				EXPECT_U64(pfn & ((1ULL << order) - 1), 0);
				pfn += 1ULL << order;
			}
			EXPECT_U64(pfn, end);
		}
	}
}
END_TEST

Suite *vt_geometry_suite(void)
{
	Suite *s = suite_create("geometry");
	TCase *geo = vt_tcase("geometry_init");
	TCase *usable = vt_tcase("usable_nb_mb");
	TCase *conv = vt_tcase("conversions");
	TCase *buddy = vt_tcase("buddy_order");

	tcase_add_loop_test(geo, geometry_sb_size_equals_block_size_for_2M_to_16M, 0, 4);
	tcase_add_test(geo, geometry_raises_1M_block_to_2M_pageblock);
	tcase_add_test(geo, geometry_raises_block_to_pageblock_above_mb_64th);
	tcase_add_test(geo, geometry_2G_memory_block_gives_32M_sub_blocks);
	tcase_add_test(geo, geometry_records_block_and_memory_block_size);
	tcase_add_test(geo, geometry_aligned_region_uses_every_memory_block);
	tcase_add_test(geo, geometry_unaligned_region_uses_only_whole_memory_blocks);
	tcase_add_test(geo, geometry_unaligned_end_drops_trailing_partial_memory_block);
	tcase_add_test(geo, geometry_block_size_of_a_memory_block_is_big_block_mode);
	tcase_add_loop_test(geo, geometry_big_block_spans_several_memory_blocks, 0, 3);
	tcase_add_test(geo, geometry_forced_big_blocks_for_small_device_blocks);
	tcase_add_test(geo, geometry_forced_big_block_below_memory_block_is_raised);
	tcase_add_test(geo, geometry_forced_big_block_not_power_of_two_is_refused);
	tcase_add_test(geo, geometry_big_blocks_use_only_whole_big_blocks_of_the_region);
	tcase_add_test(geo, geometry_big_blocks_usable_region_rounds_to_big_blocks);
	tcase_add_test(geo, geometry_rejects_region_smaller_than_memory_block);
	tcase_add_test(geo, geometry_rejects_region_straddling_without_whole_memory_block);
	suite_add_tcase(s, geo);

	tcase_add_test(usable, usable_nb_mb_is_zero_for_zero_usable_region);
	tcase_add_test(usable, usable_nb_mb_is_zero_while_usable_ends_before_first_whole_mb);
	tcase_add_test(usable, usable_nb_mb_counts_only_whole_memory_blocks);
	tcase_add_test(usable, usable_nb_mb_grows_with_usable_region_size);
	tcase_add_test(usable, usable_nb_mb_is_capped_at_nb_mb);
	suite_add_tcase(s, usable);

	tcase_add_test(conv, mb_id_to_phys_and_back_round_trips);
	tcase_add_test(conv, phys_to_mb_id_and_back_gives_memory_block_start);
	tcase_add_test(conv, sb_id_to_phys_round_trips_through_mb_id_and_sb_offset);
	tcase_add_test(conv, sb_id_to_phys_steps_by_sb_size_not_block_size);
	tcase_add_test(conv, mb_idx_is_offset_from_first_mb_id);
	suite_add_tcase(s, conv);

	tcase_add_test(buddy, buddy_order_takes_the_largest_chunk_of_an_aligned_range);
	tcase_add_test(buddy, buddy_order_follows_the_start_of_a_range_on_an_odd_sub_block);
	tcase_add_test(buddy, buddy_order_of_single_or_odd_pages_is_zero);
	tcase_add_test(buddy, buddy_chunks_tile_every_sub_block_run_naturally_aligned);
	suite_add_tcase(s, buddy);
	return s;
}
