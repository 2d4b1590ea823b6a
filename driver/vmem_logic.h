/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure logic of the virtio-mem guest driver: config validation, geometry
 * (device blocks, sub blocks, memory blocks), per memory block state and
 * plug/unplug planning.
 *
 * Nothing here touches the kernel's memory management, so the same code is
 * compiled into the module and into the userspace unit tests
 * (tests/unit/). Userspace provides the few kernel types it needs through
 * tests/unit/kshim.h before including this file.
 */
#ifndef VMEM_LOGIC_H
#define VMEM_LOGIC_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/bitops.h>
#endif

/* A PLUG/UNPLUG request carries a 16-bit block count. */
#define VMEM_MAX_BLOCKS_PER_REQ	65535ULL

/*
 * Sub blocks per memory block are tracked in one u64, so a memory block
 * holds at most 64 of them; larger memory blocks get larger sub blocks.
 */
#define VMEM_MAX_SBS_PER_MB	64

/* Request names, as the spec numbers them, for the log, debugfs and traces. */
static const char * const vmem_req_names[] = {
	[0] = "PLUG", [1] = "UNPLUG", [2] = "UNPLUG_ALL", [3] = "STATE",
};

/* Response names, as the spec numbers them, for the log and traces. */
static const char * const vmem_resp_type_names[] = {
	[0] = "ACK", [1] = "NACK", [2] = "BUSY", [3] = "ERROR",
};

/* A request's name; "unknown" for a type the spec does not define. */
static inline const char *vmem_req_name(unsigned int type)
{
	return type < 4 ? vmem_req_names[type] : "unknown";
}

/* A response's name; "unknown" for a type the spec does not define. */
static inline const char *vmem_resp_name(int type)
{
	return type >= 0 && type < 4 ? vmem_resp_type_names[type] : "unknown";
}

/**
 * struct vmem_config - the device's configuration space, in CPU order
 * @block_size: device block size, the plug granularity
 * @addr: start of the device region
 * @region_size: size of the whole device region
 * @usable_region_size: part of the region the driver may plug into
 * @plugged_size: bytes the device considers plugged
 * @requested_size: bytes the host wants plugged
 * @node_id: NUMA node (ACPI PXM) when VIRTIO_MEM_F_ACPI_PXM is offered
 */
struct vmem_config {
	u64 block_size;
	u64 addr;
	u64 region_size;
	u64 usable_region_size;
	u64 plugged_size;
	u64 requested_size;
	u16 node_id;
};

/**
 * struct vmem_limits - what the guest kernel can accept
 * @page_size: base page size
 * @min_sb_size: smallest unit the guest can take away from the buddy
 *	(pageblock size)
 * @mb_size: memory block size (the hot(un)plug unit of the kernel)
 * @plug_start: first address the kernel can hotplug
 * @plug_end: last address the kernel can hotplug (inclusive)
 */
struct vmem_limits {
	u64 page_size;
	u64 min_sb_size;
	u64 mb_size;
	u64 plug_start;
	u64 plug_end;
};

/**
 * struct vmem_geometry - how the driver carves up the device region
 * @block_size: device block size
 * @sb_size: sub block size: the unit the driver plugs and unplugs in Sub
 *	Block Mode; a multiple of @block_size
 * @mb_size: memory block size
 * @sbs_per_mb: sub blocks per memory block
 * @first_mb_id: id of the first memory block wholly inside the region
 * @nb_mb: number of memory blocks wholly inside the region
 * @bb_size: Big Block Mode: size of a big block, the unit that is plugged,
 *	added, removed and unplugged as a whole (0 in Sub Block Mode). A big
 *	block spans @bb_mbs memory blocks, each tracked with one sub block.
 * @bb_mbs: memory blocks per big block (1 in Sub Block Mode)
 *
 * Memory block ids are physical: id = address / @mb_size.
 */
struct vmem_geometry {
	u64 block_size;
	u64 sb_size;
	u64 mb_size;
	unsigned int sbs_per_mb;
	u64 first_mb_id;
	u64 nb_mb;
	u64 bb_size;
	u64 bb_mbs;
};

/**
 * enum vmem_mb_state - what the guest has done with a memory block
 * @VMEM_MB_UNUSED: not added to Linux; nothing in it is plugged
 * @VMEM_MB_OFFLINE: added, offline; any sub blocks may be plugged
 * @VMEM_MB_ONLINE_KERNEL: added, online in a kernel zone; unplugged sub
 *	blocks are fake-offline pages owned by the driver
 * @VMEM_MB_ONLINE_MOVABLE: as @VMEM_MB_ONLINE_KERNEL, in ZONE_MOVABLE
 * @VMEM_MB_NR_STATES: number of states
 *
 * An added memory block with no plugged sub block waits for removal.
 */
enum vmem_mb_state {
	VMEM_MB_UNUSED = 0,
	VMEM_MB_OFFLINE,
	VMEM_MB_ONLINE_KERNEL,
	VMEM_MB_ONLINE_MOVABLE,
	VMEM_MB_NR_STATES,
};

/**
 * struct vmem_mb - state of one memory block of the device region
 * @plugged: bit n set when sub block n is plugged
 * @pinned: plugged sub blocks that hold the memory block's own memmap
 *	(memmap_on_memory): they can only be unplugged after the memory block
 *	is removed
 * @state: an enum vmem_mb_state
 *
 * An unused memory block with plugged sub blocks was removed, but unplugging
 * its memmap sub blocks afterwards failed: the worker retries that.
 */
struct vmem_mb {
	u64 plugged;
	u64 pinned;
	u8 state;
};

/**
 * struct vmem_blocks - state of all memory blocks of a device
 * @geo: geometry the array was built for
 * @mb: one entry per memory block, index = mb id - first_mb_id
 * @nr_in_state: memory blocks per enum vmem_mb_state
 * @plugged_sbs: plugged sub blocks over the whole region
 */
struct vmem_blocks {
	const struct vmem_geometry *geo;
	struct vmem_mb *mb;
	u64 nr_in_state[VMEM_MB_NR_STATES];
	u64 plugged_sbs;
};

static inline bool vmem_is_pow2(u64 v)
{
	return v && !(v & (v - 1));
}

static inline u64 vmem_align_up(u64 v, u64 align)
{
	return (v + align - 1) / align * align;
}

static inline u64 vmem_align_down(u64 v, u64 align)
{
	return v / align * align;
}

/**
 * vmem_buddy_order() - order of the next chunk of a range for the buddy
 * @pfn: first page frame of what is left of the range
 * @nr: pages left, at least one
 * @max_order: the largest order the buddy takes (MAX_ORDER - 1)
 *
 * The buddy allocator takes only naturally aligned chunks: one of order N
 * starts at a multiple of 2^N pages. A plugged range starts on a sub block,
 * which may be smaller than the buddy's largest chunk, so neither its size
 * nor its start says which orders fit.
 *
 * Return: the largest order up to @max_order whose chunk starts at @pfn
 * and ends within @nr pages.
 */
static inline unsigned int vmem_buddy_order(u64 pfn, u64 nr,
					    unsigned int max_order)
{
	unsigned int order = 0;

	while (order < max_order && !(pfn & (1ULL << order)) &&
	       (2ULL << order) <= nr)
		order++;
	return order;
}

/* Mask of @count bits starting at bit @first, both below 64. */
static inline u64 vmem_sb_mask(unsigned int first, unsigned int count)
{
	u64 m = count >= 64 ? ~0ULL : (1ULL << count) - 1;

	return m << first;
}

/**
 * vmem_config_check() - check a device config against the spec and the guest
 * @cfg: config as read from the device
 * @lim: what the guest kernel can accept
 * @field: set to the name of the offending field on error
 *
 * Return: 0 when the config is usable, -EINVAL when it breaks the spec
 * (@field names the field), -ERANGE when the region lies outside what the
 * guest can hotplug.
 */
static inline int vmem_config_check(const struct vmem_config *cfg,
				    const struct vmem_limits *lim,
				    const char **field)
{
	const u64 bs = cfg->block_size;

	*field = NULL;
	if (!vmem_is_pow2(bs) || bs < lim->page_size) {
		*field = "block_size";
		return -EINVAL;
	}
	if (cfg->addr % bs) {
		*field = "addr";
		return -EINVAL;
	}
	if (!cfg->region_size || cfg->region_size % bs ||
	    cfg->addr + cfg->region_size < cfg->addr) {
		*field = "region_size";
		return -EINVAL;
	}
	if (cfg->usable_region_size > cfg->region_size ||
	    cfg->usable_region_size % bs) {
		*field = "usable_region_size";
		return -EINVAL;
	}
	if (cfg->plugged_size > cfg->usable_region_size ||
	    cfg->plugged_size % bs) {
		*field = "plugged_size";
		return -EINVAL;
	}
	if (cfg->addr < lim->plug_start ||
	    cfg->addr + cfg->region_size - 1 > lim->plug_end) {
		*field = "addr";
		return -ERANGE;
	}
	return 0;
}

/**
 * vmem_geometry_init() - derive sub block and memory block layout
 * @geo: filled in
 * @cfg: a config that passed vmem_config_check()
 * @lim: what the guest kernel can accept
 * @bb_size: 0 to choose the mode from the device block size, or a big
 *	block size that forces Big Block Mode
 *
 * Sub Block Mode, for device blocks smaller than a memory block: the sub
 * block is the device block, raised to the pageblock size (the smallest
 * range alloc_contig_range() can take) and to 1/64 of a memory block.
 *
 * Big Block Mode, for device blocks of a memory block or more, or when
 * @bb_size asks for it: the big block is the largest of the device block,
 * the memory block and @bb_size; each memory block is one sub block.
 *
 * Only memory blocks (big blocks) wholly inside the region are used.
 *
 * Return: 0; -EINVAL when @bb_size is not a power of two, or the region
 * holds no whole memory block (big block).
 */
static inline int vmem_geometry_init(struct vmem_geometry *geo,
				     const struct vmem_config *cfg,
				     const struct vmem_limits *lim,
				     u64 bb_size)
{
	u64 sb = cfg->block_size, unit, first, end;

	if (bb_size && !vmem_is_pow2(bb_size))
		return -EINVAL;
	if (bb_size || cfg->block_size >= lim->mb_size) {
		if (bb_size < cfg->block_size)
			bb_size = cfg->block_size;
		if (bb_size < lim->mb_size)
			bb_size = lim->mb_size;
		sb = lim->mb_size;
		unit = bb_size;
	} else {
		if (sb < lim->min_sb_size)
			sb = lim->min_sb_size;
		if (sb < lim->mb_size / VMEM_MAX_SBS_PER_MB)
			sb = lim->mb_size / VMEM_MAX_SBS_PER_MB;
		unit = lim->mb_size;
	}

	first = vmem_align_up(cfg->addr, unit);
	end = vmem_align_down(cfg->addr + cfg->region_size, unit);

	geo->block_size = cfg->block_size;
	geo->sb_size = sb;
	geo->mb_size = lim->mb_size;
	geo->sbs_per_mb = lim->mb_size / sb;
	geo->first_mb_id = first / lim->mb_size;
	geo->nb_mb = end > first ? (end - first) / lim->mb_size : 0;
	geo->bb_size = bb_size;
	geo->bb_mbs = unit / lim->mb_size;
	return geo->nb_mb ? 0 : -EINVAL;
}

static inline bool vmem_is_bbm(const struct vmem_geometry *geo)
{
	return geo->bb_size != 0;
}

/* The plug/unplug unit: a big block, or a sub block in Sub Block Mode. */
static inline u64 vmem_unit_size(const struct vmem_geometry *geo)
{
	return vmem_is_bbm(geo) ? geo->bb_size : geo->sb_size;
}

static inline u64 vmem_mb_id_to_phys(const struct vmem_geometry *geo,
				     u64 mb_id)
{
	return mb_id * geo->mb_size;
}

static inline u64 vmem_phys_to_mb_id(const struct vmem_geometry *geo,
				     u64 addr)
{
	return addr / geo->mb_size;
}

static inline u64 vmem_sb_id_to_phys(const struct vmem_geometry *geo,
				     u64 mb_id, unsigned int sb_id)
{
	return mb_id * geo->mb_size + (u64)sb_id * geo->sb_size;
}

static inline u64 vmem_mb_idx(const struct vmem_geometry *geo, u64 mb_id)
{
	return mb_id - geo->first_mb_id;
}

/**
 * vmem_usable_nb_mb() - memory blocks wholly inside the usable region
 * @geo: device geometry
 * @cfg: current config (usable_region_size may grow at run time)
 *
 * Return: count of leading memory blocks of the region the driver may use.
 */
static inline u64 vmem_usable_nb_mb(const struct vmem_geometry *geo,
				    const struct vmem_config *cfg)
{
	u64 end = vmem_align_down(cfg->addr + cfg->usable_region_size,
				  geo->mb_size * geo->bb_mbs);
	u64 first = geo->first_mb_id * geo->mb_size;

	if (end <= first)
		return 0;
	end = (end - first) / geo->mb_size;
	return end < geo->nb_mb ? end : geo->nb_mb;
}

/* First memory block of the big block holding memory block @mb_id. */
static inline u64 vmem_bb_first_mb(const struct vmem_geometry *geo, u64 mb_id)
{
	return geo->first_mb_id +
	       (mb_id - geo->first_mb_id) / geo->bb_mbs * geo->bb_mbs;
}

static inline struct vmem_mb *vmem_mb_get(struct vmem_blocks *b, u64 mb_id)
{
	return &b->mb[vmem_mb_idx(b->geo, mb_id)];
}

/**
 * vmem_mb_set_state() - move a memory block to a new state
 * @b: the device's blocks
 * @mb_id: memory block
 * @state: new enum vmem_mb_state
 *
 * The only place that changes a memory block's state, so the per-state
 * counters stay exact.
 */
static inline void vmem_mb_set_state(struct vmem_blocks *b, u64 mb_id,
				     enum vmem_mb_state state)
{
	struct vmem_mb *mb = vmem_mb_get(b, mb_id);

	b->nr_in_state[mb->state]--;
	b->nr_in_state[state]++;
	mb->state = state;
}

/**
 * vmem_mb_set_plugged() - mark sub blocks of a memory block (un)plugged
 * @b: the device's blocks
 * @mb_id: memory block
 * @first: first sub block
 * @count: number of sub blocks
 * @plugged: new state
 */
static inline void vmem_mb_set_plugged(struct vmem_blocks *b, u64 mb_id,
				       unsigned int first, unsigned int count,
				       bool plugged)
{
	struct vmem_mb *mb = vmem_mb_get(b, mb_id);
	u64 mask = vmem_sb_mask(first, count);
	u64 old = mb->plugged;

	if (plugged)
		mb->plugged |= mask;
	else
		mb->plugged &= ~mask;
	b->plugged_sbs += hweight64(mb->plugged);
	b->plugged_sbs -= hweight64(old);
}

static inline bool vmem_mb_all_plugged(const struct vmem_geometry *geo,
				       const struct vmem_mb *mb)
{
	return mb->plugged == vmem_sb_mask(0, geo->sbs_per_mb);
}

/* Plugged sub blocks that can be unplugged while the block stays added. */
static inline u64 vmem_mb_unpluggable(const struct vmem_mb *mb)
{
	return mb->plugged & ~mb->pinned;
}

/*
 * A leftover: removed from Linux (unused) but with sub blocks still plugged,
 * the memmap sub blocks whose unplug failed after the removal. Nothing can
 * be added there until the worker has unplugged them.
 */
static inline bool vmem_mb_is_leftover(const struct vmem_mb *mb)
{
	return mb->state == VMEM_MB_UNUSED && mb->plugged;
}

static inline bool vmem_mb_is_online(const struct vmem_mb *mb)
{
	return mb->state == VMEM_MB_ONLINE_KERNEL ||
	       mb->state == VMEM_MB_ONLINE_MOVABLE;
}

/**
 * vmem_sb_next_run() - find a run of sub blocks in one state
 * @mask: plugged bitmap of a memory block
 * @sbs_per_mb: valid bits in @mask
 * @from: first sub block to look at
 * @plugged: look for plugged (true) or unplugged (false) sub blocks
 * @max: longest run wanted
 * @first: set to the start of the run
 *
 * Return: length of the run starting at the first matching sub block at or
 * after @from, at most @max; 0 when there is none.
 */
static inline unsigned int vmem_sb_next_run(u64 mask, unsigned int sbs_per_mb,
					    unsigned int from, bool plugged,
					    unsigned int max,
					    unsigned int *first)
{
	unsigned int i, n = 0;

	for (i = from; i < sbs_per_mb; i++) {
		bool is_plugged = mask & (1ULL << i);

		if (is_plugged == plugged) {
			if (!n)
				*first = i;
			if (++n == max)
				break;
		} else if (n) {
			break;
		}
	}
	return n;
}

/**
 * vmem_sb_prev_run() - like vmem_sb_next_run(), searching downwards
 * @mask: plugged bitmap of a memory block
 * @below: search sub blocks below this one
 * @plugged: look for plugged (true) or unplugged (false) sub blocks
 * @max: longest run wanted
 * @first: set to the lowest sub block of the run
 *
 * Unplug works from the top of a memory block down, so the low part, where
 * the kernel tends to allocate first, is taken last.
 *
 * Return: length of the run, 0 when there is none.
 */
static inline unsigned int vmem_sb_prev_run(u64 mask, unsigned int below,
					    bool plugged, unsigned int max,
					    unsigned int *first)
{
	unsigned int i, n = 0;

	for (i = below; i-- > 0;) {
		bool is_plugged = mask & (1ULL << i);

		if (is_plugged == plugged) {
			*first = i;
			if (++n == max)
				break;
		} else if (n) {
			break;
		}
	}
	return n;
}

/*
 * Plug order: fill partly plugged memory blocks that are online, then
 * partly plugged offline ones, then add new memory blocks.
 * Unplug order: offline blocks cost nothing, movable ones can be emptied by
 * migration, kernel ones rarely; within a class the highest block first.
 */
static const u8 vmem_plug_order[] = {
	VMEM_MB_ONLINE_MOVABLE, VMEM_MB_ONLINE_KERNEL, VMEM_MB_OFFLINE,
};

static const u8 vmem_unplug_order[] = {
	VMEM_MB_OFFLINE, VMEM_MB_ONLINE_MOVABLE, VMEM_MB_ONLINE_KERNEL,
};

/**
 * vmem_pick_plug_mb() - choose the memory block to plug into next
 * @b: the device's blocks
 * @usable_nb_mb: memory blocks inside the usable region
 * @mb_id: set to the chosen memory block
 *
 * Return: true when @mb_id is an added memory block with unplugged sub
 * blocks, false when it is an unused one that must be added (or when
 * nothing is left: then @mb_id is U64_MAX).
 */
static inline bool vmem_pick_plug_mb(struct vmem_blocks *b, u64 usable_nb_mb,
				     u64 *mb_id)
{
	const struct vmem_geometry *geo = b->geo;
	unsigned int o;
	u64 i;

	for (o = 0; o < sizeof(vmem_plug_order); o++) {
		if (!b->nr_in_state[vmem_plug_order[o]])
			continue;
		for (i = 0; i < usable_nb_mb; i++) {
			const struct vmem_mb *mb = &b->mb[i];

			if (mb->state == vmem_plug_order[o] &&
			    !vmem_mb_all_plugged(geo, mb)) {
				*mb_id = geo->first_mb_id + i;
				return true;
			}
		}
	}
	for (i = 0; i < usable_nb_mb; i++) {
		if (b->mb[i].state == VMEM_MB_UNUSED &&
		    !vmem_mb_is_leftover(&b->mb[i])) {
			*mb_id = geo->first_mb_id + i;
			return false;
		}
	}
	*mb_id = ~0ULL;
	return false;
}

/**
 * vmem_bbm_pick_plug_bb() - choose the big block to plug and add next
 * @b: the device's blocks (Big Block Mode)
 * @usable_nb_mb: memory blocks inside the usable region
 * @mb_id: set to the first memory block of the lowest unused big block
 *
 * All memory blocks of a big block share one state, so the first one
 * stands for all.
 *
 * Return: true when there is an unused big block.
 */
static inline bool vmem_bbm_pick_plug_bb(struct vmem_blocks *b,
					 u64 usable_nb_mb, u64 *mb_id)
{
	const struct vmem_geometry *geo = b->geo;
	u64 i;

	for (i = 0; i + geo->bb_mbs <= usable_nb_mb; i += geo->bb_mbs) {
		if (b->mb[i].state == VMEM_MB_UNUSED) {
			*mb_id = geo->first_mb_id + i;
			return true;
		}
	}
	return false;
}

/**
 * vmem_next_unplug_mb() - walk memory blocks in unplug order
 * @b: the device's blocks
 * @cursor: iteration state; start at 0
 * @mb_id: set to the next memory block that has plugged sub blocks
 *
 * Return: true while there is a next memory block.
 */
static inline bool vmem_next_unplug_mb(struct vmem_blocks *b, u64 *cursor,
				       u64 *mb_id)
{
	const struct vmem_geometry *geo = b->geo;
	u64 nb = geo->nb_mb;

	while (*cursor < sizeof(vmem_unplug_order) * nb) {
		u64 o = *cursor / nb;
		u64 i = nb - 1 - *cursor % nb;
		const struct vmem_mb *mb = &b->mb[i];

		(*cursor)++;
		if (mb->state == vmem_unplug_order[o] && mb->plugged) {
			*mb_id = geo->first_mb_id + i;
			return true;
		}
	}
	return false;
}

/*
 * Response types of the device (VIRTIO_MEM_RESP_*), repeated here so the
 * mapping below needs no kernel header.
 */
enum vmem_resp {
	VMEM_RESP_ACK = 0,
	VMEM_RESP_NACK = 1,
	VMEM_RESP_BUSY = 2,
	VMEM_RESP_ERROR = 3,
};

/**
 * vmem_resp_to_errno() - what a response to a request means for the driver
 * @type: response type as received
 *
 * Return: 0 for ACK; -EPERM for NACK (a plug beyond the requested size);
 * -EAGAIN for BUSY (try again later); -EIO for ERROR (driver and device
 * disagree about the state of a range); -EPROTO for a type the spec does not
 * define.
 */
static inline int vmem_resp_to_errno(unsigned int type)
{
	switch (type) {
	case VMEM_RESP_ACK:
		return 0;
	case VMEM_RESP_NACK:
		return -EPERM;
	case VMEM_RESP_BUSY:
		return -EAGAIN;
	case VMEM_RESP_ERROR:
		return -EIO;
	default:
		return -EPROTO;
	}
}

/*
 * Sends one PLUG (@plug) or UNPLUG request of @nb_blocks device blocks at
 * @addr (at most VMEM_MAX_BLOCKS_PER_REQ) and returns 0 for ACK, a
 * vmem_resp_to_errno() value for the other responses, or a negative errno
 * when the request could not be sent.
 */
typedef int (*vmem_send_fn)(void *ctx, bool plug, u64 addr, u64 nb_blocks);

/**
 * vmem_request_chunk() - blocks the next request of a split range carries
 * @left: blocks of the range still to request
 * @unit_blocks: device blocks per unit the caller tracks (a sub block, a
 *	memory block); 0 or more than a request holds counts as 1
 *
 * Requests end on unit boundaries, so a range that fails half way changed
 * whole units only.
 *
 * Return: at most VMEM_MAX_BLOCKS_PER_REQ blocks, a multiple of
 * @unit_blocks unless @left is smaller, and never 0 while @left is not.
 */
static inline u64 vmem_request_chunk(u64 left, u64 unit_blocks)
{
	u64 max = VMEM_MAX_BLOCKS_PER_REQ;

	if (unit_blocks > 1 && unit_blocks <= max)
		max -= max % unit_blocks;
	return left < max ? left : max;
}

/**
 * vmem_request_split() - PLUG or UNPLUG a range, in as many requests as needed
 * @send: the transport
 * @ctx: passed to @send
 * @plug: PLUG (true) or UNPLUG
 * @addr: start of the range
 * @nb_blocks: device blocks in the range
 * @block_size: device block size, bytes
 * @unit_blocks: requests end on multiples of this many blocks (see
 *	vmem_request_chunk())
 * @changed: blocks from @addr on whose state stays changed when this fails
 *
 * When a request fails after earlier ones went through, the range would be
 * left in two states. A PLUG is undone with UNPLUG, which the device takes
 * whatever the requested size, so the range stays unplugged; only if the
 * undo fails too is the state of the first *@changed blocks unknown (some
 * may be plugged): -EIO, and the caller stops as after ERROR. An UNPLUG is
 * never undone: a device that is shrinking refuses PLUG (NACK), and the
 * memory was given up already. Its first *@changed blocks are unplugged,
 * and the caller must treat them so: their pages never go back to the
 * guest.
 *
 * Return: 0 when the whole range changed (*@changed is @nb_blocks), -EIO
 * when a PLUG could not be undone, else the failing request's error.
 */
static inline int vmem_request_split(vmem_send_fn send, void *ctx, bool plug,
				     u64 addr, u64 nb_blocks, u64 block_size,
				     u64 unit_blocks, u64 *changed)
{
	u64 done = 0, undone = 0;
	int rc = 0;

	while (done < nb_blocks) {
		u64 chunk = vmem_request_chunk(nb_blocks - done, unit_blocks);

		rc = send(ctx, plug, addr + done * block_size, chunk);
		if (rc)
			break;
		done += chunk;
	}
	*changed = done;
	if (!rc || !done || !plug)
		return rc;
	while (undone < done) {
		u64 chunk = vmem_request_chunk(done - undone, unit_blocks);

		if (send(ctx, false, addr + undone * block_size, chunk))
			break;
		undone += chunk;
	}
	if (undone < done)
		return -EIO;
	*changed = 0;
	return rc;
}

/*
 * The driver's internal results as errnos, one meaning each, for the code
 * paths that also pass on the kernel's own errors (-ENOMEM). Everything
 * else a step can fail with (ERROR, an unknown response, a request that
 * could not be sent) means the driver and the device disagree.
 */
#define VMEM_RESTART	(-ECANCELED)	/* config changed: start over */
#define VMEM_DEV_BUSY	(-EAGAIN)	/* the device answered BUSY */
#define VMEM_MEM_BUSY	(-EBUSY)	/* guest memory could not be taken */
#define VMEM_NO_SPACE	(-ENOSPC)	/* usable region exhausted */
#define VMEM_NACK	(-EPERM)	/* the device refused a plug */
#define VMEM_ONLINE_FAILED (-ENODATA)	/* added memory could not be onlined */
#define VMEM_REMOVE_FAILED (-ENOTEMPTY)	/* unplugged memory still added */
#define VMEM_FLOOR	(-EDQUOT)	/* a step would go below the floor */
#define VMEM_PRESSURE	(-ETIME)	/* the rest of the guest stalled */

/**
 * enum vmem_result - what a run of the worker (or of unload) came to
 * @VMEM_RES_OK: the device has the requested size
 * @VMEM_RES_RESTART: the config changed during the run
 * @VMEM_RES_DEV_BUSY: the device answered BUSY (e.g. during migration)
 * @VMEM_RES_MEM_BUSY: guest memory could not be taken (unmovable pages)
 * @VMEM_RES_NO_MEMORY: an allocation failed (-ENOMEM)
 * @VMEM_RES_NO_SPACE: the usable region has no room left
 * @VMEM_RES_NACK: the device refused a plug
 * @VMEM_RES_ONLINE_FAILED: added memory could not be onlined
 * @VMEM_RES_REMOVE_FAILED: unplugged memory could not be removed
 * @VMEM_RES_FLOOR: a step would leave the guest below its safety floor
 * @VMEM_RES_PRESSURE: the rest of the guest stalled on allocations
 * @VMEM_RES_ERROR: ERROR, an unknown response, a request not sent: the
 *	driver and the device disagree
 * @VMEM_RES_NR: number of results
 */
enum vmem_result {
	VMEM_RES_OK,
	VMEM_RES_RESTART,
	VMEM_RES_DEV_BUSY,
	VMEM_RES_MEM_BUSY,
	VMEM_RES_NO_MEMORY,
	VMEM_RES_NO_SPACE,
	VMEM_RES_NACK,
	VMEM_RES_ONLINE_FAILED,
	VMEM_RES_REMOVE_FAILED,
	VMEM_RES_FLOOR,
	VMEM_RES_PRESSURE,
	VMEM_RES_ERROR,
	VMEM_RES_NR,
};

/**
 * enum vmem_action - what the worker does after a result
 * @VMEM_ACT_DONE: nothing until the config changes
 * @VMEM_ACT_RESTART: run again at once
 * @VMEM_ACT_BACK_OFF: a transient failure: try again after the growing
 *	retry delay (unload tries again a few times)
 * @VMEM_ACT_GUEST_NEEDS: the guest needs the memory: judge again later (a
 *	second after a floor stop, a growing pause after pressure); unload
 *	keeps it
 * @VMEM_ACT_WAIT_CONFIG: the host must change the config first
 * @VMEM_ACT_STOP: stop sending requests
 */
enum vmem_action {
	VMEM_ACT_DONE,
	VMEM_ACT_RESTART,
	VMEM_ACT_BACK_OFF,
	VMEM_ACT_GUEST_NEEDS,
	VMEM_ACT_WAIT_CONFIG,
	VMEM_ACT_STOP,
};

/**
 * struct vmem_result_rule - one row of the result table
 * @action: what the worker does
 * @reason: the shortfall and last-error reason shown in sysfs, debugfs and
 *	the log; NULL when there is no shortfall
 */
struct vmem_result_rule {
	enum vmem_action action;
	const char *reason;
};

/* The one table of results: what each means and what is done about it. */
static const struct vmem_result_rule vmem_result_rules[VMEM_RES_NR] = {
	[VMEM_RES_OK] = { VMEM_ACT_DONE, NULL },
	[VMEM_RES_RESTART] = { VMEM_ACT_RESTART, NULL },
	[VMEM_RES_DEV_BUSY] = { VMEM_ACT_BACK_OFF, "device busy, retrying" },
	[VMEM_RES_MEM_BUSY] = { VMEM_ACT_BACK_OFF, "memory in use, retrying" },
	[VMEM_RES_NO_MEMORY] = { VMEM_ACT_BACK_OFF,
				 "out of guest memory, retrying" },
	[VMEM_RES_NO_SPACE] = { VMEM_ACT_WAIT_CONFIG,
				"usable region exhausted" },
	/* The requested size shrank under us; a config change follows. */
	[VMEM_RES_NACK] = { VMEM_ACT_WAIT_CONFIG, "device refused plug" },
	[VMEM_RES_ONLINE_FAILED] = { VMEM_ACT_BACK_OFF,
				     "onlining added memory failed, retrying" },
	[VMEM_RES_REMOVE_FAILED] = { VMEM_ACT_BACK_OFF,
				     "removing unplugged memory failed, retrying" },
	[VMEM_RES_FLOOR] = { VMEM_ACT_GUEST_NEEDS, "guest needs the memory" },
	[VMEM_RES_PRESSURE] = { VMEM_ACT_GUEST_NEEDS,
				"guest needs the memory: under memory pressure" },
	[VMEM_RES_ERROR] = { VMEM_ACT_STOP, "device stopped after an error" },
};

/**
 * vmem_result_from_errno() - the result a run's return value stands for
 * @rc: 0, one of the VMEM_* errnos above, -ENOMEM, or any other errno
 *
 * Return: the matching result; VMEM_RES_ERROR for any errno not listed.
 */
static inline enum vmem_result vmem_result_from_errno(int rc)
{
	switch (rc) {
	case 0:
		return VMEM_RES_OK;
	case VMEM_RESTART:
		return VMEM_RES_RESTART;
	case VMEM_DEV_BUSY:
		return VMEM_RES_DEV_BUSY;
	case VMEM_MEM_BUSY:
		return VMEM_RES_MEM_BUSY;
	case -ENOMEM:
		return VMEM_RES_NO_MEMORY;
	case VMEM_NO_SPACE:
		return VMEM_RES_NO_SPACE;
	case VMEM_NACK:
		return VMEM_RES_NACK;
	case VMEM_ONLINE_FAILED:
		return VMEM_RES_ONLINE_FAILED;
	case VMEM_REMOVE_FAILED:
		return VMEM_RES_REMOVE_FAILED;
	case VMEM_FLOOR:
		return VMEM_RES_FLOOR;
	case VMEM_PRESSURE:
		return VMEM_RES_PRESSURE;
	default:
		return VMEM_RES_ERROR;
	}
}

/**
 * vmem_result_action() - what to do after a result, and why
 * @res: the result; anything out of range counts as VMEM_RES_ERROR
 * @reason: set to the reason to show (NULL: no shortfall)
 *
 * Return: the action.
 */
static inline enum vmem_action vmem_result_action(enum vmem_result res,
						  const char **reason)
{
	if ((unsigned int)res >= VMEM_RES_NR)
		res = VMEM_RES_ERROR;
	*reason = vmem_result_rules[res].reason;
	return vmem_result_rules[res].action;
}

/**
 * vmem_resp_to_result() - what a device response to PLUG or UNPLUG means
 * @type: response type as received
 *
 * Return: VMEM_RES_OK for ACK, VMEM_RES_NACK, VMEM_RES_DEV_BUSY, and
 * VMEM_RES_ERROR for ERROR and for types the spec does not define.
 */
static inline enum vmem_result vmem_resp_to_result(unsigned int type)
{
	switch (type) {
	case VMEM_RESP_ACK:
		return VMEM_RES_OK;
	case VMEM_RESP_NACK:
		return VMEM_RES_NACK;
	case VMEM_RESP_BUSY:
		return VMEM_RES_DEV_BUSY;
	default:
		return VMEM_RES_ERROR;
	}
}

/**
 * vmem_backoff_next() - next retry delay after a transient failure
 * @cur_ms: current delay, 0 when the last attempt succeeded
 * @min_ms: first delay
 * @max_ms: cap
 *
 * Return: the delay to wait before the next attempt.
 */
static inline unsigned int vmem_backoff_next(unsigned int cur_ms,
					     unsigned int min_ms,
					     unsigned int max_ms)
{
	if (!cur_ms)
		return min_ms;
	if (cur_ms > max_ms / 2)
		return max_ms;
	return cur_ms * 2;
}

/*
 * Safety floor: memory an unplug must leave available to the guest, as the
 * kernel estimates what is available (MemAvailable: free pages plus the page
 * cache and slab reclaim can give back), for a guest of a given size
 * (MemTotal).
 *
 *	floor(T) = 6 MiB * sqrt(2 * T / 1 MiB) - 24 MiB, and 0 below 8 MiB
 *
 * The reference is Hyper-V's dynamic memory: its Linux guest keeps
 * MemAvailable above compute_balloon_floor() (drivers/hv/hv_balloon.c),
 * a piecewise linear function whose knots are 24 MiB at 32 MiB, 72 MiB at
 * 128 MiB, 168 MiB at 512 MiB, 360 MiB at 2 GiB, 744 MiB at 8 GiB and
 * 1512 MiB at 32 GiB: its slope halves each time memory quadruples, which is
 * a square root. The curve above passes exactly through every one of those
 * knots (2 * T / MiB is a power of four there) and lies at most 8% above
 * Hyper-V's chords between them; past 32 GiB, where Hyper-V goes on with a
 * slope of 1/32, it keeps growing as a square root (3 GiB at 128 GiB,
 * 8.5 GiB at 1 TiB), as the kernel's own reserves do (min_free_kbytes is
 * 4 * sqrt(lowmem in KiB)).
 *
 * In bytes: 6 MiB * sqrt(2 * T / MiB) = 6 * sqrt(2 * T * MiB)
 * = 6 * 1024 * sqrt(2 * T).
 */
#define VMEM_FLOOR_SQRT_MUL	(6ULL * 1024)		/* 6 MiB per sqrt(MiB) */
#define VMEM_FLOOR_OFFSET	(24ULL << 20)		/* 24 MiB */
/* The floor setting that selects the formula above. */
#define VMEM_FLOOR_AUTO		(-1)

/**
 * vmem_isqrt64() - integer square root
 * @x: any value
 *
 * Return: the largest r with r * r <= @x.
 */
static inline u64 vmem_isqrt64(u64 x)
{
	u64 r = 0, bit = 1ULL << 62;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

/**
 * vmem_floor_auto() - the default safety floor for a guest's size
 * @total: the guest's memory (MemTotal), bytes
 *
 * Return: the floor in bytes (see the formula above); never more than
 * @total.
 */
static inline u64 vmem_floor_auto(u64 total)
{
	/* 2 * @total must not overflow: 4 EiB is beyond any guest. */
	u64 t = total > (1ULL << 62) ? 1ULL << 62 : total;
	u64 root = VMEM_FLOOR_SQRT_MUL * vmem_isqrt64(2 * t);

	if (root <= VMEM_FLOOR_OFFSET)
		return 0;
	root -= VMEM_FLOOR_OFFSET;
	return root < total ? root : total;
}

/**
 * vmem_floor_bytes() - the safety floor a setting asks for
 * @floor_mb: VMEM_FLOOR_AUTO, or a fixed floor in MiB (0: no floor)
 * @total: the guest's memory (MemTotal), bytes
 *
 * Return: the floor in bytes.
 */
static inline u64 vmem_floor_bytes(int floor_mb, u64 total)
{
	if (floor_mb < 0)
		return vmem_floor_auto(total);
	return (u64)floor_mb << 20;
}

/* Whether taking @take bytes leaves at least the floor available. */
static inline bool vmem_floor_holds(u64 avail, u64 total, int floor_mb,
				    u64 take)
{
	if (take > avail || take > total)
		return false;
	return avail - take >= vmem_floor_bytes(floor_mb, total - take);
}

/**
 * vmem_floor_allowed() - how much of an unplug step the safety floor allows
 * @avail: memory available to the guest now (MemAvailable), bytes
 * @total: the guest's memory now (MemTotal), bytes
 * @floor_mb: VMEM_FLOOR_AUTO, or a fixed floor in MiB (0: no floor)
 * @unit: what the step takes in, bytes (a sub block, a big block)
 * @want: units the step would take
 *
 * Taking memory costs available memory one for one, whatever the pages
 * held: free pages are taken, clean page cache in the range is dropped,
 * and data is migrated into other free memory (or into memory that reclaim
 * frees for it). So a step of s bytes leaves the guest @total - s bytes,
 * of which at most @avail - s are available, and the floor is judged on
 * the guest as the step leaves it: @avail - s >= floor(@total - s).
 *
 * The floor grows by less than the memory added (for guests of 19 MiB and
 * more, in steps of a pageblock or more), so if n units are allowed, fewer
 * are too, and the largest n is found by bisection. Whatever the input,
 * the n returned keeps the floor.
 *
 * Return: the largest n <= @want for which the floor holds, 0 if none.
 */
static inline u64 vmem_floor_allowed(u64 avail, u64 total, int floor_mb,
				     u64 unit, u64 want)
{
	u64 lo = 0, hi;

	if (!unit)
		return 0;
	/* More than @avail can never be allowed; this also bounds n * unit. */
	hi = avail / unit;
	if (hi > want)
		hi = want;
	while (lo < hi) {
		u64 mid = hi - (hi - lo) / 2;

		if (vmem_floor_holds(avail, total, floor_mb, mid * unit))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * The kernel zones' share of the floor. Kernel allocations (slab, page
 * tables, stacks) come only from the zones below ZONE_MOVABLE, and an unplug
 * of movable memory migrates data into them once ZONE_MOVABLE is full: a
 * guest can keep the floor in MemAvailable, all of it page cache in
 * ZONE_MOVABLE, while fork() finds nothing (seen under KASAN, where boot
 * memory also holds the shadow). So those zones keep a quarter of the floor
 * of their own, above their high watermarks; but never more than an eighth
 * of their own size, or a small boot memory with a large device (memmap on
 * memory) could never give anything back (run H: 360 MiB available in the
 * kernel zones of a guest with 32 GiB plugged, whose floor is 1.5 GiB).
 */
#define VMEM_KERNEL_FLOOR_SHARE	4
#define VMEM_KERNEL_FLOOR_OF_ZONES	8

/**
 * vmem_kernel_floor() - what the kernel zones must keep available
 * @floor: the guest's safety floor, bytes (0: no floor)
 * @kernel_total: the memory the kernel zones manage, bytes
 *
 * Return: the kernel zones' floor in bytes, 0 when there is no floor.
 */
static inline u64 vmem_kernel_floor(u64 floor, u64 kernel_total)
{
	u64 share = floor / VMEM_KERNEL_FLOOR_SHARE;
	u64 cap = kernel_total / VMEM_KERNEL_FLOOR_OF_ZONES;

	return share < cap ? share : cap;
}

/**
 * vmem_kernel_allowed() - how much of an unplug step the kernel zones allow
 * @kavail: memory available in the zones kernel allocations use, bytes
 * @kfloor: what must stay available there (0: no limit)
 * @movable_free: free memory of ZONE_MOVABLE, bytes, when the step takes
 *	movable memory; 0 when it takes kernel zone memory
 * @unit: what the step takes in, bytes
 * @want: units the step would take
 *
 * A step of s bytes from ZONE_MOVABLE holds s - f bytes of data if f of
 * its bytes are free; after it, ZONE_MOVABLE has @movable_free - f bytes
 * free to take that data, and the rest is migrated into the kernel zones:
 * s - @movable_free, whatever f is. A step from a kernel zone costs them
 * all of it. Clean page cache is counted as data: the cost is an upper
 * bound, measured again before each step. A step that costs them nothing
 * is allowed even when they are below their floor already: it cannot make
 * that worse.
 *
 * Return: the largest n <= @want whose cost c = max(0, n * @unit -
 * @movable_free) is 0 or keeps @kavail - c >= @kfloor.
 */
static inline u64 vmem_kernel_allowed(u64 kavail, u64 kfloor, u64 movable_free,
				      u64 unit, u64 want)
{
	u64 room = movable_free, n;

	if (!kfloor)
		return want;
	if (!unit)
		return 0;
	if (kavail > kfloor) {
		/* Saturate: more than any want is as good as infinite. */
		if (movable_free > ~0ULL - (kavail - kfloor))
			return want;
		room += kavail - kfloor;
	}
	n = room / unit;
	return n < want ? n : want;
}

/**
 * struct vmem_stalls - a sample of the guest's allocation stalls
 * @all: direct reclaims entered so far, by anyone (allocations that stalled
 *	because free memory ran out)
 * @own: those of them the driver's own threads entered (its migrations
 *	need free pages too)
 *
 * Both only grow; two samples tell what happened in between.
 */
struct vmem_stalls {
	u64 all;
	u64 own;
};

/**
 * vmem_stalls_between() - allocation stalls of the rest of the guest
 * @then: the earlier sample
 * @now: the later sample
 *
 * Counters are sampled one after the other while stalls go on, so the own
 * count may run ahead of the total for a moment: that counts as none.
 *
 * Return: stalls between the two samples that were not the driver's.
 */
static inline u64 vmem_stalls_between(const struct vmem_stalls *then,
				      const struct vmem_stalls *now)
{
	u64 all = now->all - then->all;
	u64 own = now->own - then->own;

	return all > own ? all - own : 0;
}

/**
 * vmem_under_pressure() - whether the guest came under memory pressure
 * @then: the sample before the last unplug step
 * @now: the sample after it
 * @threshold: stalls of other tasks that mean pressure; 0: never
 * @stalls: set to the stalls of other tasks between the samples
 *
 * An allocation stalls in direct reclaim only once free memory is below
 * the kernel's minimum watermark: for the rest of the guest that is what
 * memory pressure feels like. A single stall can be one unlucky
 * allocation; a task whose memory grows while the guest runs short stalls
 * once per 32 pages or so, many times a second.
 *
 * Return: true when at least @threshold stalls of other tasks happened.
 */
static inline bool vmem_under_pressure(const struct vmem_stalls *then,
				       const struct vmem_stalls *now,
				       unsigned int threshold, u64 *stalls)
{
	*stalls = vmem_stalls_between(then, now);
	return threshold && *stalls >= threshold;
}

#endif /* VMEM_LOGIC_H */
