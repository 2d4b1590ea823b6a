/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers for the vmem_logic.h unit tests: assertion macros that
 * print expected vs got, a per-test context string, and a small device
 * fixture (config, limits, geometry and block array).
 */
#ifndef VMEM_TEST_H
#define VMEM_TEST_H

#include "kshim.h"
#include "vmem_logic.h"

#include <check.h>

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/*
 * Free-form context (e.g. the loop variable) prefixed to every failure
 * message of the running test; reset before each test.
 */
extern char vt_ctx[160];
void vt_set_ctx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vt_reset_ctx(void);

const char *vt_errname(int err);

#define EXPECT_U64(got, expected) do {					\
	const unsigned long long vt_g_ = (got);				\
	const unsigned long long vt_e_ = (expected);			\
	ck_assert_msg(vt_g_ == vt_e_,					\
		"%s%s: expected %llu (0x%llx), got %llu (0x%llx)",	\
		vt_ctx, #got, vt_e_, vt_e_, vt_g_, vt_g_);		\
} while (0)

#define EXPECT_INT(got, expected) do {					\
	const long long vt_g_ = (got);					\
	const long long vt_e_ = (expected);				\
	ck_assert_msg(vt_g_ == vt_e_,					\
		"%s%s: expected %lld, got %lld",			\
		vt_ctx, #got, vt_e_, vt_g_);				\
} while (0)

/* For 0 / -Exxx returns: prints the errno names. */
#define EXPECT_ERR(got, expected) do {					\
	const int vt_g_ = (got);					\
	const int vt_e_ = (expected);					\
	ck_assert_msg(vt_g_ == vt_e_,					\
		"%s%s: expected %s (%d), got %s (%d)",			\
		vt_ctx, #got, vt_errname(vt_e_), vt_e_,			\
		vt_errname(vt_g_), vt_g_);				\
} while (0)

#define EXPECT_BOOL(got, expected) do {					\
	const bool vt_g_ = (got);					\
	const bool vt_e_ = (expected);					\
	ck_assert_msg(vt_g_ == vt_e_,					\
		"%s%s: expected %s, got %s", vt_ctx, #got,		\
		vt_e_ ? "true" : "false", vt_g_ ? "true" : "false");	\
} while (0)

/* Strings that may be NULL (e.g. the field reported by config_check). */
#define EXPECT_STR(got, expected) do {					\
	const char *vt_g_ = (got);					\
	const char *vt_e_ = (expected);					\
	ck_assert_msg(vt_str_eq(vt_g_, vt_e_),				\
		"%s%s: expected %s%s%s, got %s%s%s", vt_ctx, #got,	\
		vt_e_ ? "\"" : "", vt_e_ ? vt_e_ : "NULL",		\
		vt_e_ ? "\"" : "", vt_g_ ? "\"" : "",			\
		vt_g_ ? vt_g_ : "NULL", vt_g_ ? "\"" : "");		\
} while (0)

bool vt_str_eq(const char *a, const char *b);

/* x86_64 with 4K pages: 2M pageblocks, 128M memory blocks, 46 bit phys. */
struct vmem_limits vt_limits(void);

/*
 * A config that passes vmem_config_check() with vt_limits():
 * 2M blocks, region 4G at 4G, whole region usable, nothing plugged.
 */
struct vmem_config vt_config(void);

/* Device state for the block, planning and property tests. */
#define VT_MAX_MB 64

struct vt_dev {
	struct vmem_config cfg;
	struct vmem_limits lim;
	struct vmem_geometry geo;
	struct vmem_blocks b;
	struct vmem_mb mbs[VT_MAX_MB];
};

/*
 * Build a device (region @region_size at @addr, device block @block_size,
 * vt_limits() otherwise) with every memory block unused and unplugged, as
 * the driver does at probe. Fails the test if the geometry is refused.
 */
void vt_dev_init(struct vt_dev *d, u64 block_size, u64 addr,
		 u64 region_size);

/* Put memory block index @idx in @state with plugged bitmap @plugged. */
void vt_dev_put(struct vt_dev *d, u64 idx, enum vmem_mb_state state,
		u64 plugged);

Suite *vt_config_suite(void);
Suite *vt_geometry_suite(void);
Suite *vt_blocks_suite(void);
Suite *vt_runs_suite(void);
Suite *vt_planning_suite(void);
Suite *vt_backoff_suite(void);
Suite *vt_property_suite(void);
Suite *vt_resp_suite(void);
Suite *vt_floor_suite(void);
Suite *vt_pressure_suite(void);
Suite *vt_split_suite(void);
Suite *vt_result_suite(void);

/* New test case whose tests start with an empty vt_ctx. */
TCase *vt_tcase(const char *name);

#endif /* VMEM_TEST_H */
