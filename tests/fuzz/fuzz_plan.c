// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: a hostile device. The input is what a device may say
 * (its config, its responses) and what the guest does meanwhile (plug,
 * unplug, grow the usable region, online or offline a memory block); the
 * pure logic of vmem_logic.h judges the config, lays out the region and
 * plans every request, as the driver would. It must never crash and never
 * plan a request outside the usable region (PLUG), outside the region
 * (UNPLUG), misaligned, for sub blocks already in the state asked for, or
 * larger than a request can carry.
 *
 * Input: 64 bytes of config and limits (see take_config()), then one
 * operation per byte pair.
 */
#include "kshim.h"
#include "vmem_logic.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ULL << 20)
#define MAX_MB (1U << 14)	/* larger regions are judged, not planned */

struct input {
	const uint8_t *p;
	size_t left;
};

static u64 take(struct input *in, unsigned int bytes)
{
	u64 v = 0;

	while (bytes--) {
		v = v << 8 | (in->left ? *in->p : 0);
		if (in->left) {
			in->p++;
			in->left--;
		}
	}
	return v;
}

static void fail(const char *what, u64 a, u64 b)
{
	fprintf(stderr, "fuzz_plan: %s (%#llx, %#llx)\n", what, a, b);
	abort();
}

/*
 * A byte chooses between a raw value (anything a device may send) and a
 * plausible one (a power of two, a multiple of it), so both the checks and
 * the planning behind them are reached.
 */
static u64 take_size(struct input *in, u64 unit)
{
	u8 how = (u8)take(in, 1);
	u64 raw = take(in, 8);

	if (how & 1)
		return raw;
	return (raw % 256) * unit;
}

static void take_config(struct input *in, struct vmem_config *cfg,
			struct vmem_limits *lim, u64 *bb_size)
{
	u8 shape = (u8)take(in, 1);

	lim->page_size = 4096;
	lim->min_sb_size = 2 * MiB;
	lim->mb_size = 128 * MiB << (shape & 3);	/* 128 MiB .. 1 GiB */
	lim->plug_start = 0;
	lim->plug_end = (1ULL << 46) - 1;

	cfg->block_size = (shape & 4) ? take(in, 8) :
			  1ULL << (12 + take(in, 1) % 22);
	cfg->addr = take_size(in, 1ULL << 30);
	cfg->region_size = take_size(in, cfg->block_size ?: 1);
	cfg->usable_region_size = take_size(in, cfg->block_size ?: 1);
	cfg->plugged_size = take_size(in, cfg->block_size ?: 1);
	cfg->requested_size = take_size(in, cfg->block_size ?: 1);
	*bb_size = (shape & 8) ? 1ULL << (27 + take(in, 1) % 8) : 0;
}

struct model {
	struct vmem_config cfg;
	struct vmem_geometry geo;
	struct vmem_blocks b;
};

/* Every request the planning produced: inside its bounds, aligned. */
static void check_range(const struct model *m, bool plug, u64 addr, u64 size)
{
	u64 end = plug ? m->cfg.addr + m->cfg.usable_region_size :
			 m->cfg.addr + m->cfg.region_size;

	if (addr % m->geo.block_size || size % m->geo.block_size)
		fail("request not aligned to the device block", addr, size);
	if (addr < m->cfg.addr || addr + size > end || addr + size < addr)
		fail(plug ? "PLUG outside the usable region" :
		     "UNPLUG outside the region", addr, size);
}

/* Sub Block Mode: a run of sub blocks of one memory block. */
static void check_request(const struct model *m, bool plug, u64 mb_id,
			  unsigned int first, unsigned int count)
{
	if (!count || first + count > m->geo.sbs_per_mb)
		fail("sub blocks outside the memory block", first, count);
	check_range(m, plug, vmem_sb_id_to_phys(&m->geo, mb_id, first),
		    (u64)count * m->geo.sb_size);
}

static void plug(struct model *m, unsigned int want)
{
	const u64 usable = vmem_usable_nb_mb(&m->geo, &m->cfg);
	unsigned int first = 0, n;
	struct vmem_mb *mb;
	u64 mb_id, i;

	if (vmem_is_bbm(&m->geo)) {
		if (!vmem_bbm_pick_plug_bb(&m->b, usable, &mb_id))
			return;
		/* One request for the whole big block. */
		check_range(m, true, vmem_mb_id_to_phys(&m->geo, mb_id),
			    m->geo.bb_size);
		for (i = 0; i < m->geo.bb_mbs; i++) {
			if (vmem_mb_get(&m->b, mb_id + i)->plugged)
				fail("PLUG of a plugged big block", mb_id, i);
			vmem_mb_set_plugged(&m->b, mb_id + i, 0, 1, true);
			vmem_mb_set_state(&m->b, mb_id + i,
					  VMEM_MB_ONLINE_MOVABLE);
		}
		return;
	}
	if (vmem_pick_plug_mb(&m->b, usable, &mb_id)) {
		mb = vmem_mb_get(&m->b, mb_id);
		n = vmem_sb_next_run(mb->plugged, m->geo.sbs_per_mb, 0, false,
				     want ?: 1, &first);
		if (!n)
			fail("picked a memory block with nothing to plug",
			     mb_id, mb->plugged);
	} else if (mb_id != ~0ULL) {
		n = want % m->geo.sbs_per_mb ?: m->geo.sbs_per_mb;
		vmem_mb_set_state(&m->b, mb_id, VMEM_MB_ONLINE_MOVABLE);
		mb = vmem_mb_get(&m->b, mb_id);
	} else {
		return;
	}
	check_request(m, true, mb_id, first, n);
	if (mb->plugged & vmem_sb_mask(first, n))
		fail("PLUG of plugged sub blocks", mb->plugged, first);
	vmem_mb_set_plugged(&m->b, mb_id, first, n, true);
}

static void unplug(struct model *m, unsigned int want)
{
	unsigned int first = 0, n;
	struct vmem_mb *mb;
	u64 cursor = 0, mb_id;

	if (!vmem_next_unplug_mb(&m->b, &cursor, &mb_id))
		return;
	if (vmem_is_bbm(&m->geo)) {
		u64 i, bb = vmem_bb_first_mb(&m->geo, mb_id);

		check_range(m, false, vmem_mb_id_to_phys(&m->geo, bb),
			    m->geo.bb_size);
		for (i = 0; i < m->geo.bb_mbs; i++) {
			if (!vmem_mb_get(&m->b, bb + i)->plugged)
				fail("UNPLUG of a big block not all plugged",
				     bb, i);
			vmem_mb_set_plugged(&m->b, bb + i, 0, 1, false);
			vmem_mb_set_state(&m->b, bb + i, VMEM_MB_UNUSED);
		}
		return;
	}
	mb = vmem_mb_get(&m->b, mb_id);
	n = vmem_sb_prev_run(vmem_mb_unpluggable(mb), m->geo.sbs_per_mb, true,
			     want ?: 1, &first);
	if (!n)
		return;
	check_request(m, false, mb_id, first, n);
	if ((mb->plugged & vmem_sb_mask(first, n)) != vmem_sb_mask(first, n))
		fail("UNPLUG of unplugged sub blocks", mb->plugged, first);
	vmem_mb_set_plugged(&m->b, mb_id, first, n, false);
	if (!mb->plugged)
		vmem_mb_set_state(&m->b, mb_id, VMEM_MB_UNUSED);
}

/* The device answers each request of a split range from the input. */
struct split_dev {
	struct input *in;
	u64 start, end, block_size;
};

static int split_send(void *ctx, bool plug, u64 addr, u64 nb)
{
	struct split_dev *d = ctx;

	(void)plug;
	if (!nb || nb > VMEM_MAX_BLOCKS_PER_REQ)
		fail("request of an impossible size", addr, nb);
	if (addr < d->start || addr + nb * d->block_size > d->end)
		fail("split request outside its range", addr, nb);
	return vmem_resp_to_errno((unsigned int)take(d->in, 1) % 6);
}

static void split(struct model *m, struct input *in, u64 nb)
{
	struct split_dev d = { in, m->cfg.addr, 0, m->geo.block_size };
	u64 changed, unit = m->geo.sb_size / m->geo.block_size;

	nb = nb % (4 * VMEM_MAX_BLOCKS_PER_REQ) + 1;
	d.end = d.start + nb * d.block_size;
	if (d.end < d.start)
		return;
	vmem_request_split(split_send, &d, take(in, 1) & 1, d.start, nb,
			   d.block_size, unit, &changed);
	if (changed > nb)
		fail("more changed than requested", changed, nb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct vmem_limits lim;
	struct model m = { 0 };
	const char *field;
	u64 bb_size, i;

	take_config(&in, &m.cfg, &lim, &bb_size);
	if (vmem_config_check(&m.cfg, &lim, &field)) {
		if (!field)
			fail("config refused without naming a field", 0, 0);
		return 0;
	}
	if (vmem_geometry_init(&m.geo, &m.cfg, &lim, bb_size))
		return 0;
	if (m.geo.sb_size % m.geo.block_size && m.geo.block_size < m.geo.mb_size)
		fail("sub block not a multiple of the device block",
		     m.geo.sb_size, m.geo.block_size);
	if (!m.geo.sbs_per_mb || m.geo.sbs_per_mb > VMEM_MAX_SBS_PER_MB)
		fail("sub blocks per memory block", m.geo.sbs_per_mb, 0);
	if (m.geo.first_mb_id * m.geo.mb_size < m.cfg.addr ||
	    (m.geo.first_mb_id + m.geo.nb_mb) * m.geo.mb_size >
	    m.cfg.addr + m.cfg.region_size)
		fail("memory blocks outside the region", m.geo.first_mb_id,
		     m.geo.nb_mb);
	if (m.geo.nb_mb > MAX_MB)
		return 0;

	m.b.geo = &m.geo;
	m.b.mb = calloc(m.geo.nb_mb, sizeof(*m.b.mb));
	if (!m.b.mb)
		return 0;
	m.b.nr_in_state[VMEM_MB_UNUSED] = m.geo.nb_mb;

	while (in.left) {
		u8 op = (u8)take(&in, 1);
		u8 arg = (u8)take(&in, 1);

		switch (op % 5) {
		case 0:
			plug(&m, arg);
			break;
		case 1:
			unplug(&m, arg);
			break;
		case 2:	/* the device grows its usable region */
			m.cfg.usable_region_size += (u64)arg * m.geo.block_size;
			if (m.cfg.usable_region_size > m.cfg.region_size)
				m.cfg.usable_region_size = m.cfg.region_size;
			break;
		case 3:	/* a user offlines or onlines a memory block */
			i = arg % m.geo.nb_mb;
			if (m.b.mb[i].state != VMEM_MB_UNUSED)
				vmem_mb_set_state(&m.b, m.geo.first_mb_id + i,
						  arg & 1 ? VMEM_MB_OFFLINE :
						  VMEM_MB_ONLINE_MOVABLE);
			break;
		default:
			split(&m, &in, (u64)arg << 8 | take(&in, 2));
			break;
		}
	}

	/* The counters kept by the helpers match the blocks. */
	for (i = 0, bb_size = 0; i < m.geo.nb_mb; i++)
		bb_size += hweight64(m.b.mb[i].plugged);
	if (bb_size != m.b.plugged_sbs)
		fail("plugged sub block count", bb_size, m.b.plugged_sbs);
	free(m.b.mb);
	return 0;
}
