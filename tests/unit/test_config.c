// SPDX-License-Identifier: GPL-2.0
/* vmem_config_check(): spec and guest-range validation of the config. */
#include "vmem_test.h"

/* Run the check on @cfg with @lim, expecting @err and @field. */
static void expect_check(const struct vmem_config *cfg,
			 const struct vmem_limits *lim, int err,
			 const char *field)
{
	const char *got_field = "(untouched)";

	EXPECT_ERR(vmem_config_check(cfg, lim, &got_field), err);
	EXPECT_STR(got_field, field);
}

START_TEST(config_accepts_block_sizes_2M_to_16M)
{
	static const u64 sizes[] = { 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB };
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = sizes[_i];
	vt_set_ctx("block_size=%lluM", cfg.block_size / MiB);
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_accepts_block_size_1M)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = 1 * MiB;
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_accepts_block_sizes_128M_and_larger)
{
	static const u64 sizes[] = { 128 * MiB, 256 * MiB, 1 * GiB, 4 * GiB };
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = sizes[_i];
	vt_set_ctx("block_size=%lluM", cfg.block_size / MiB);
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_accepts_block_size_equal_to_page_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = lim.page_size;
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_accepts_usable_and_plugged_sizes_of_zero)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.usable_region_size = 0;
	cfg.plugged_size = 0;
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_accepts_plugged_equal_usable_equal_region)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.usable_region_size = cfg.region_size;
	cfg.plugged_size = cfg.region_size;
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_accepts_region_exactly_filling_plug_range)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	lim.plug_start = cfg.addr;
	lim.plug_end = cfg.addr + cfg.region_size - 1;
	expect_check(&cfg, &lim, 0, NULL);
}
END_TEST

START_TEST(config_rejects_block_size_not_power_of_two)
{
	static const u64 sizes[] = { 3 * MiB, 2 * MiB + 4 * KiB, 6 * KiB };
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = sizes[_i];
	cfg.addr = 0;	/* keep every other field valid-looking */
	cfg.region_size = cfg.block_size * 64;
	cfg.usable_region_size = cfg.region_size;
	vt_set_ctx("block_size=%llu", cfg.block_size);
	expect_check(&cfg, &lim, -EINVAL, "block_size");
}
END_TEST

START_TEST(config_rejects_block_size_zero)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = 0;
	expect_check(&cfg, &lim, -EINVAL, "block_size");
}
END_TEST

START_TEST(config_rejects_block_size_below_page_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.block_size = lim.page_size / 2;
	expect_check(&cfg, &lim, -EINVAL, "block_size");
}
END_TEST

START_TEST(config_rejects_addr_not_aligned_to_block_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.addr += cfg.block_size / 2;
	expect_check(&cfg, &lim, -EINVAL, "addr");
}
END_TEST

START_TEST(config_rejects_region_size_zero)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.region_size = 0;
	cfg.usable_region_size = 0;
	expect_check(&cfg, &lim, -EINVAL, "region_size");
}
END_TEST

START_TEST(config_rejects_region_size_not_multiple_of_block_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.region_size += cfg.block_size / 2;
	expect_check(&cfg, &lim, -EINVAL, "region_size");
}
END_TEST

START_TEST(config_rejects_region_overflowing_address_space)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	lim.plug_end = ~0ULL;
	cfg.addr = 0ULL - 2 * MiB;	/* last 2M block of the space */
	cfg.region_size = 4 * MiB;	/* addr + size wraps to 2M */
	cfg.usable_region_size = 0;
	expect_check(&cfg, &lim, -EINVAL, "region_size");
}
END_TEST

START_TEST(config_rejects_usable_region_size_above_region_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.usable_region_size = cfg.region_size + cfg.block_size;
	expect_check(&cfg, &lim, -EINVAL, "usable_region_size");
}
END_TEST

START_TEST(config_rejects_usable_region_size_not_multiple_of_block_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.usable_region_size = cfg.region_size / 2 + cfg.block_size / 2;
	expect_check(&cfg, &lim, -EINVAL, "usable_region_size");
}
END_TEST

START_TEST(config_rejects_plugged_size_above_usable_region_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.usable_region_size = 1 * GiB;
	cfg.plugged_size = 1 * GiB + cfg.block_size;
	expect_check(&cfg, &lim, -EINVAL, "plugged_size");
}
END_TEST

START_TEST(config_rejects_plugged_size_not_multiple_of_block_size)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	cfg.plugged_size = cfg.block_size + cfg.block_size / 2;
	expect_check(&cfg, &lim, -EINVAL, "plugged_size");
}
END_TEST

START_TEST(config_rejects_region_starting_below_plug_start_with_erange)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	lim.plug_start = cfg.addr + cfg.block_size;
	expect_check(&cfg, &lim, -ERANGE, "addr");
}
END_TEST

START_TEST(config_rejects_region_ending_beyond_plug_end_with_erange)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	lim.plug_end = cfg.addr + cfg.region_size - 2;	/* one byte short */
	expect_check(&cfg, &lim, -ERANGE, "addr");
}
END_TEST

START_TEST(config_reports_spec_violation_before_range_violation)
{
	struct vmem_config cfg = vt_config();
	struct vmem_limits lim = vt_limits();

	lim.plug_start = 64 * GiB;		/* region out of range ... */
	cfg.plugged_size = cfg.block_size / 2;	/* ... and malformed */
	expect_check(&cfg, &lim, -EINVAL, "plugged_size");
}
END_TEST

Suite *vt_config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *ok = vt_tcase("config_valid");
	TCase *bad = vt_tcase("config_invalid");

	tcase_add_loop_test(ok, config_accepts_block_sizes_2M_to_16M, 0, 4);
	tcase_add_test(ok, config_accepts_block_size_1M);
	tcase_add_loop_test(ok, config_accepts_block_sizes_128M_and_larger, 0, 4);
	tcase_add_test(ok, config_accepts_block_size_equal_to_page_size);
	tcase_add_test(ok, config_accepts_usable_and_plugged_sizes_of_zero);
	tcase_add_test(ok, config_accepts_plugged_equal_usable_equal_region);
	tcase_add_test(ok, config_accepts_region_exactly_filling_plug_range);
	suite_add_tcase(s, ok);

	tcase_add_loop_test(bad, config_rejects_block_size_not_power_of_two, 0, 3);
	tcase_add_test(bad, config_rejects_block_size_zero);
	tcase_add_test(bad, config_rejects_block_size_below_page_size);
	tcase_add_test(bad, config_rejects_addr_not_aligned_to_block_size);
	tcase_add_test(bad, config_rejects_region_size_zero);
	tcase_add_test(bad, config_rejects_region_size_not_multiple_of_block_size);
	tcase_add_test(bad, config_rejects_region_overflowing_address_space);
	tcase_add_test(bad, config_rejects_usable_region_size_above_region_size);
	tcase_add_test(bad, config_rejects_usable_region_size_not_multiple_of_block_size);
	tcase_add_test(bad, config_rejects_plugged_size_above_usable_region_size);
	tcase_add_test(bad, config_rejects_plugged_size_not_multiple_of_block_size);
	tcase_add_test(bad, config_rejects_region_starting_below_plug_start_with_erange);
	tcase_add_test(bad, config_rejects_region_ending_beyond_plug_end_with_erange);
	tcase_add_test(bad, config_reports_spec_violation_before_range_violation);
	suite_add_tcase(s, bad);
	return s;
}
