// SPDX-License-Identifier: GPL-2.0
/* Shared fixture and reporting helpers for the vmem_logic.h unit tests. */
#include "vmem_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

char vt_ctx[160];

void vt_set_ctx(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(vt_ctx, sizeof(vt_ctx) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(vt_ctx) - 3)
		n = sizeof(vt_ctx) - 3;
	strcpy(vt_ctx + n, ": ");
}

void vt_reset_ctx(void)
{
	vt_ctx[0] = '\0';
}

const char *vt_errname(int err)
{
	switch (err) {
	case 0:
		return "0";
	case -EINVAL:
		return "-EINVAL";
	case -ERANGE:
		return "-ERANGE";
	default:
		return "other";
	}
}

bool vt_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

struct vmem_limits vt_limits(void)
{
	struct vmem_limits lim = {
		.page_size = 4 * KiB,
		.min_sb_size = 2 * MiB,
		.mb_size = 128 * MiB,
		.plug_start = 0,
		.plug_end = (1ULL << 46) - 1,
	};

	return lim;
}

struct vmem_config vt_config(void)
{
	struct vmem_config cfg = {
		.block_size = 2 * MiB,
		.addr = 4 * GiB,
		.region_size = 4 * GiB,
		.usable_region_size = 4 * GiB,
		.plugged_size = 0,
		.requested_size = 0,
		.node_id = 0,
	};

	return cfg;
}

void vt_dev_init(struct vt_dev *d, u64 block_size, u64 addr,
		 u64 region_size)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->lim = vt_limits();
	d->cfg = vt_config();
	d->cfg.block_size = block_size;
	d->cfg.addr = addr;
	d->cfg.region_size = region_size;
	d->cfg.usable_region_size = region_size;
	ret = vmem_geometry_init(&d->geo, &d->cfg, &d->lim, 0);
	ck_assert_msg(ret == 0, "fixture: vmem_geometry_init: expected 0, got %d",
		      ret);
	ck_assert_msg(d->geo.nb_mb <= VT_MAX_MB,
		      "fixture: nb_mb %llu exceeds VT_MAX_MB",
		      (unsigned long long)d->geo.nb_mb);
	d->b.geo = &d->geo;
	d->b.mb = d->mbs;
	d->b.nr_in_state[VMEM_MB_UNUSED] = d->geo.nb_mb;
	d->b.plugged_sbs = 0;
}

void vt_dev_put(struct vt_dev *d, u64 idx, enum vmem_mb_state state,
		u64 plugged)
{
	const u64 mb_id = d->geo.first_mb_id + idx;
	unsigned int i;

	vmem_mb_set_state(&d->b, mb_id, state);
	vmem_mb_set_plugged(&d->b, mb_id, 0, d->geo.sbs_per_mb, false);
	for (i = 0; i < d->geo.sbs_per_mb; i++)
		if (plugged & (1ULL << i))
			vmem_mb_set_plugged(&d->b, mb_id, i, 1, true);
	ck_assert_msg(d->mbs[idx].plugged == plugged,
		      "fixture: mb %llu plugged: expected 0x%llx, got 0x%llx",
		      (unsigned long long)idx, (unsigned long long)plugged,
		      (unsigned long long)d->mbs[idx].plugged);
}

TCase *vt_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, vt_reset_ctx, NULL);
	return tc;
}
