// SPDX-License-Identifier: GPL-2.0
/*
 * Big Block Mode, for device blocks of a memory block or more (or forced
 * with bbm_block_size): a big block is one or more whole memory blocks,
 * plugged and added whole, and unplugged whole the safe way: its pages are
 * taken first, then the device is told, and only then is memory that is
 * all fake-offline offlined and removed.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/lockdep.h>
#include <linux/mm.h>

#include "vmem.h"
#include "vmem_trace.h"

/**
 * vmem_bbm_plug() - plug and add big blocks, in Big Block Mode
 * @vm: the device
 * @nb_bbs: how many
 *
 * Each goes whole, in one add_memory_driver_managed() call; the lowest
 * unused one first.
 *
 * Return: 0, VMEM_RESTART when the config changed, VMEM_NO_SPACE when the
 * usable region is full, or vmem_plug_and_add()'s error.
 */
int vmem_bbm_plug(struct vmem *vm, u64 nb_bbs)
{
	const u64 usable = vmem_usable_nb_mb(&vm->geo, &vm->cfg);
	u64 mb_id;
	int rc;

	for (; nb_bbs; nb_bbs--) {
		if (vmem_should_restart(vm))
			return VMEM_RESTART;
		if (!vmem_bbm_pick_plug_bb(&vm->blocks, usable, &mb_id))
			return VMEM_NO_SPACE;
		rc = vmem_plug_and_add(vm, mb_id, vm->geo.bb_mbs, vm->geo.bb_mbs);
		if (rc)
			return rc;
	}
	return 0;
}

/* Give pages taken from online memory blocks @mb_id.. back to the buddy. */
static void vmem_bbm_give_back(struct vmem *vm, u64 mb_id, u64 nb_mbs)
{
	const unsigned long nr = PHYS_PFN(vm->geo.mb_size);
	u64 i;

	lockdep_assert_held(&vm->hotplug.lock);
	for (i = 0; i < nb_mbs; i++) {
		unsigned long pfn = PHYS_PFN(vmem_mb_id_to_phys(&vm->geo, mb_id + i));

		if (!vmem_mb_is_online(vmem_mb_get(&vm->blocks, mb_id + i)))
			continue;
		vmem_pages_clear_offline(pfn, nr);
		free_contig_range(pfn, nr);
		adjust_managed_page_count(pfn_to_page(pfn), nr);
	}
}

/*
 * Unplug a big block the safe way: take every page of its online memory
 * blocks first (bounded: alloc_contig_range() gives up on pages it cannot
 * migrate), unplug it, and only then offline and remove memory that is all
 * fake-offline, which cannot hang.
 */
static int vmem_bbm_unplug_bb(struct vmem *vm, u64 mb_id)
{
	const unsigned long nr = PHYS_PFN(vm->geo.mb_size);
	const u64 nb = vm->geo.bb_mbs;
	unsigned int head = 0;
	u64 i, skip;
	int rc = 0;

	vmem_lock_blocks(vm);
	/* An earlier UNPLUG that failed half way unplugged the first ones. */
	for (skip = 0; skip < nb; skip++)
		if (vmem_mb_get(&vm->blocks, mb_id + skip)->plugged)
			break;
	for (i = skip; i < nb; i++) {
		unsigned long pfn = PHYS_PFN(vmem_mb_id_to_phys(&vm->geo, mb_id + i));

		if (!vmem_mb_is_online(vmem_mb_get(&vm->blocks, mb_id + i)))
			continue;
		rc = alloc_contig_range(pfn, pfn + nr, MIGRATE_MOVABLE,
					GFP_KERNEL | __GFP_NOWARN);
		if (rc) {
			rc = rc == -ENOMEM ? -ENOMEM : VMEM_MEM_BUSY;
			break;
		}
		vmem_pages_set_offline(pfn, nr, false);
		adjust_managed_page_count(pfn_to_page(pfn), -nr);
	}
	if (!rc && skip < nb)
		rc = vmem_request_sbs_head(vm, VIRTIO_MEM_REQ_UNPLUG,
					   mb_id + skip, 0, nb - skip, &head);
	trace_vmem_unplug(dev_name(&vm->vdev->dev), mb_id, 0, nb, rc);
	if (rc) {
		/* An unplugged head keeps its pages, as if it all went. */
		vmem_bbm_give_back(vm, mb_id + skip + head, i - skip - head);
		for (i = skip; i < skip + head; i++)
			vmem_mb_set_plugged(&vm->blocks, mb_id + i, 0, 1, false);
		vmem_unlock_blocks(vm);
		return rc;
	}
	for (i = skip; i < nb; i++)
		vmem_mb_set_plugged(&vm->blocks, mb_id + i, 0, 1, false);
	vmem_unlock_blocks(vm);

	/* Unplugged for good; a failed removal is retried by the worker. */
	vmem_remove_unit(vm, mb_id);
	return 0;
}

/* Bytes of online memory in the big block starting at @mb_id. */
static u64 vmem_bbm_online_bytes(struct vmem *vm, u64 mb_id)
{
	u64 i, online = 0;

	vmem_lock_blocks(vm);
	for (i = 0; i < vm->geo.bb_mbs; i++)
		if (vmem_mb_is_online(vmem_mb_get(&vm->blocks, mb_id + i)))
			online += vm->geo.mb_size;
	vmem_unlock_blocks(vm);
	return online;
}

/**
 * vmem_bbm_unplug() - unplug big blocks, in Big Block Mode
 * @vm: the device
 * @nb_bbs: how many
 *
 * Unplug @nb_bbs big blocks. A big block with online memory goes whole or
 * not at all: when the safety floor or memory pressure stops it, the
 * unplug ends there (VMEM_FLOOR, VMEM_PRESSURE). Busy big blocks are
 * skipped while others make up for them.
 *
 * Return: 0, VMEM_MEM_BUSY when busy big blocks kept it short, or what
 * stopped it (VMEM_RESTART, VMEM_FLOOR, VMEM_PRESSURE, an error).
 */
int vmem_bbm_unplug(struct vmem *vm, u64 nb_bbs)
{
	u64 cursor = 0, mb_id, online, n;
	int rc;

	while (nb_bbs && vmem_next_unplug_mb(&vm->blocks, &cursor, &mb_id)) {
		mb_id = vmem_bb_first_mb(&vm->geo, mb_id);
		if (!vmem_mb_get(&vm->blocks, mb_id)->plugged)
			continue;
		if (vmem_should_restart(vm))
			return VMEM_RESTART;
		online = vmem_bbm_online_bytes(vm, mb_id);
		if (online) {
			n = 1;
			rc = vmem_guard_step(vm, online, &n,
					     vmem_mb_get(&vm->blocks, mb_id)->state ==
					     VMEM_MB_ONLINE_MOVABLE);
			if (rc)
				return rc;
		}
		rc = vmem_bbm_unplug_bb(vm, mb_id);
		if (rc == VMEM_MEM_BUSY)
			continue;
		if (rc)
			return rc;
		nb_bbs--;
	}
	return nb_bbs ? VMEM_MEM_BUSY : 0;
}
