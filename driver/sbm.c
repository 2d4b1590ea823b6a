// SPDX-License-Identifier: GPL-2.0
/*
 * Sub Block Mode, for device blocks smaller than a memory block: a memory
 * block is added once its first sub blocks are plugged and may be partly
 * plugged; unplug takes sub blocks from the top down, offlining and removing
 * a whole memory block where it can (bounded in time), else taking its pages
 * with alloc_contig_range(), each step judged by vmem_guard_step() first.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/timekeeping.h>

#include "vmem.h"
#include "vmem_trace.h"

/* Plug unplugged sub blocks of an added memory block. */
static int vmem_sbm_plug_sbs(struct vmem *vm, u64 mb_id, unsigned int first,
			     unsigned int count)
{
	unsigned long pfn = PHYS_PFN(vmem_sb_id_to_phys(&vm->geo, mb_id, first));
	struct vmem_mb *mb;
	int rc;

	vmem_lock_blocks(vm);
	rc = vmem_request_sbs(vm, VIRTIO_MEM_REQ_PLUG, mb_id, first, count);
	trace_vmem_plug(dev_name(&vm->vdev->dev), mb_id, first, count, rc);
	if (!rc) {
		mb = vmem_mb_get(&vm->blocks, mb_id);
		vmem_mb_set_plugged(&vm->blocks, mb_id, first, count, true);
		if (vmem_mb_is_online(mb))
			vmem_pages_give_to_buddy(pfn, PHYS_PFN((u64)count * vm->geo.sb_size));
	}
	vmem_unlock_blocks(vm);
	return rc;
}

/**
 * vmem_sbm_plug() - plug sub blocks, in Sub Block Mode
 * @vm: the device
 * @nb_sbs: how many
 *
 * Fills added memory blocks that are partly plugged first, then adds unused
 * ones, in the order vmem_pick_plug_mb() gives.
 *
 * Return: 0, VMEM_RESTART when the config changed, VMEM_NO_SPACE when the
 * usable region is full, or the error of the step that failed.
 */
int vmem_sbm_plug(struct vmem *vm, u64 nb_sbs)
{
	const u64 usable = vmem_usable_nb_mb(&vm->geo, &vm->cfg);
	unsigned int first, n;
	u64 mb_id;
	int rc;

	while (nb_sbs) {
		if (vmem_should_restart(vm))
			return VMEM_RESTART;
		if (vmem_pick_plug_mb(&vm->blocks, usable, &mb_id)) {
			n = vmem_sb_next_run(vmem_mb_get(&vm->blocks, mb_id)->plugged,
					     vm->geo.sbs_per_mb, 0, false,
					     min_t(u64, nb_sbs, vm->geo.sbs_per_mb),
					     &first);
			rc = vmem_sbm_plug_sbs(vm, mb_id, first, n);
		} else if (mb_id != ~0ULL) {
			n = min_t(u64, nb_sbs, vm->geo.sbs_per_mb);
			rc = vmem_plug_and_add(vm, mb_id, 1, n);
		} else {
			return VMEM_NO_SPACE;
		}
		if (rc)
			return rc;
		nb_sbs -= n;
	}
	return 0;
}

/*
 * Unplug a whole, fully plugged, online memory block by offlining and
 * removing it first: cheaper than taking its pages one range at a time,
 * and bounded in time. Its sub blocks are then unplugged as leftovers of an
 * unused block. VMEM_MEM_BUSY when the memory could not be offlined.
 */
static int vmem_sbm_offline_and_unplug_mb(struct vmem *vm, u64 mb_id)
{
	const unsigned int timeout_ms = READ_ONCE(vmem_offline_timeout_ms);
	struct vmem_mb *mb = vmem_mb_get(&vm->blocks, mb_id);
	int rc;

	rc = vmem_offline_and_remove_bounded(vm, vmem_mb_id_to_phys(&vm->geo, mb_id),
					     vm->geo.mb_size, timeout_ms);
	if (rc) {
		atomic64_inc(&vm->stats.offline_fallbacks);
		return VMEM_MEM_BUSY;
	}
	vmem_lock_blocks(vm);
	vmem_set_mb_state(vm, mb_id, VMEM_MB_UNUSED);
	mb->pinned = 0;
	vmem_unlock_blocks(vm);
	return vmem_unplug_leftovers(vm);
}

/*
 * Take plugged sub blocks of an online memory block away from Linux and
 * unplug them. Pages that cannot be migrated away make it fail with
 * VMEM_MEM_BUSY; nothing changes then.
 */
static int vmem_sbm_unplug_online_sbs(struct vmem *vm, u64 mb_id,
				      unsigned int first, unsigned int count)
{
	const unsigned long pfn = PHYS_PFN(vmem_sb_id_to_phys(&vm->geo, mb_id, first));
	const unsigned long nr = PHYS_PFN((u64)count * vm->geo.sb_size);
	u64 start = ktime_get_ns();
	unsigned long kept;
	unsigned int head;
	int rc;

	lockdep_assert_held(&vm->hotplug.lock);
	rc = alloc_contig_range(pfn, pfn + nr, MIGRATE_MOVABLE,
				GFP_KERNEL | __GFP_NOWARN);
	atomic64_add(ktime_get_ns() - start, &vm->stats.ns_take);
	if (rc == -ENOMEM)
		return -ENOMEM;
	if (rc)
		return VMEM_MEM_BUSY;

	vmem_pages_set_offline(pfn, nr, false);
	adjust_managed_page_count(pfn_to_page(pfn), -nr);

	rc = vmem_request_sbs_head(vm, VIRTIO_MEM_REQ_UNPLUG, mb_id, first,
				   count, &head);
	trace_vmem_unplug(dev_name(&vm->vdev->dev), mb_id, first, count, rc);
	if (rc) {
		/* An unplugged head keeps its pages, as if it all went. */
		kept = PHYS_PFN((u64)head * vm->geo.sb_size);
		vmem_mb_set_plugged(&vm->blocks, mb_id, first, head, false);
		vmem_pages_clear_offline(pfn + kept, nr - kept);
		free_contig_range(pfn + kept, nr - kept);
		adjust_managed_page_count(pfn_to_page(pfn + kept), nr - kept);
		return rc;
	}
	vmem_mb_set_plugged(&vm->blocks, mb_id, first, count, false);
	return 0;
}

/*
 * Unplug up to *@nb_sbs sub blocks of one memory block, from the top down,
 * and lower *@nb_sbs by what was unplugged. Sub blocks whose memory is busy
 * are skipped; then VMEM_MEM_BUSY is returned after trying the others.
 * Each step that takes online memory is judged first (vmem_guard_step()):
 * it shrinks to what the safety floor allows, and VMEM_FLOOR or
 * VMEM_PRESSURE stop the unplug with what was done so far kept.
 */
static int vmem_sbm_unplug_from_mb(struct vmem *vm, u64 mb_id, u64 *nb_sbs)
{
	struct vmem_mb *mb = vmem_mb_get(&vm->blocks, mb_id);
	unsigned int below = vm->geo.sbs_per_mb;
	unsigned int first, n, i, pinned, head;
	bool busy = false, memmap_only;
	u64 allowed;
	int rc = 0;

	if (vmem_mb_is_online(mb) && vmem_mb_all_plugged(&vm->geo, mb) &&
	    *nb_sbs >= vm->geo.sbs_per_mb) {
		allowed = vm->geo.sbs_per_mb;
		rc = vmem_guard_step(vm, vm->geo.sb_size, &allowed,
				     mb->state == VMEM_MB_ONLINE_MOVABLE);
		if (rc)
			return rc;
		if (allowed == vm->geo.sbs_per_mb) {
			rc = vmem_sbm_offline_and_unplug_mb(vm, mb_id);
			if (!rc)
				*nb_sbs -= vm->geo.sbs_per_mb;
			if (rc != VMEM_MEM_BUSY)
				return rc;
		}
		/*
		 * Some of it will not move, or the floor lets only part of
		 * it go: take what may, page by page.
		 */
		rc = 0;
	}

	vmem_lock_blocks(vm);
	while (*nb_sbs) {
		n = vmem_sb_prev_run(vmem_mb_unpluggable(mb), below, true,
				     min_t(u64, *nb_sbs, vm->geo.sbs_per_mb),
				     &first);
		if (!n)
			break;
		below = first;
		if (vmem_should_restart(vm)) {
			rc = VMEM_RESTART;
			break;
		}
		if (!vmem_mb_is_online(mb)) {
			rc = vmem_request_sbs_head(vm, VIRTIO_MEM_REQ_UNPLUG,
						   mb_id, first, n, &head);
			trace_vmem_unplug(dev_name(&vm->vdev->dev), mb_id, first,
					  n, rc);
			vmem_mb_set_plugged(&vm->blocks, mb_id, first,
					    rc ? head : n, false);
		} else {
			allowed = n;
			rc = vmem_guard_step(vm, vm->geo.sb_size, &allowed,
					     mb->state == VMEM_MB_ONLINE_MOVABLE);
			if (rc)
				break;
			/* The floor may let part of the run go: its top. */
			first += n - allowed;
			n = allowed;
			rc = vmem_sbm_unplug_online_sbs(vm, mb_id, first, n);
			/* One busy page must not keep the whole run plugged. */
			for (i = first + n; rc == VMEM_MEM_BUSY && n > 1 && i-- > first;) {
				int rc1 = vmem_sbm_unplug_online_sbs(vm, mb_id, i, 1);

				if (rc1 == VMEM_MEM_BUSY) {
					busy = true;
					continue;
				}
				if (rc1) {
					rc = rc1;
					break;
				}
				*nb_sbs -= 1;
			}
			if (rc == VMEM_MEM_BUSY) {
				busy = true;
				rc = 0;
				continue;
			}
		}
		if (rc)
			break;
		*nb_sbs -= n;
	}
	/* Only the memmap is left: the block must go for the rest to go. */
	pinned = hweight64(mb->pinned);
	memmap_only = !rc && mb->pinned && !vmem_mb_unpluggable(mb) &&
		      *nb_sbs >= pinned;
	vmem_unlock_blocks(vm);
	if (memmap_only) {
		rc = vmem_remove_unit(vm, mb_id);
		if (!rc)
			*nb_sbs -= pinned;
	}
	if (!rc && busy)
		rc = VMEM_MEM_BUSY;
	return rc;
}

/**
 * vmem_sbm_unplug() - unplug sub blocks, in Sub Block Mode
 * @vm: the device
 * @nb_sbs: how many
 *
 * Visits memory blocks in the order vmem_next_unplug_mb() gives. Busy sub
 * blocks are skipped while others make up for them; a memory block left
 * with nothing plugged is removed.
 *
 * Return: 0, VMEM_MEM_BUSY when busy sub blocks kept it short, or what
 * stopped it (VMEM_RESTART, VMEM_FLOOR, VMEM_PRESSURE, an error).
 */
int vmem_sbm_unplug(struct vmem *vm, u64 nb_sbs)
{
	u64 cursor = 0, mb_id;
	struct vmem_mb *mb;
	int rc;

	while (nb_sbs && vmem_next_unplug_mb(&vm->blocks, &cursor, &mb_id)) {
		if (vmem_should_restart(vm))
			return VMEM_RESTART;
		/* Busy sub blocks are skipped; other blocks may make up for them. */
		rc = vmem_sbm_unplug_from_mb(vm, mb_id, &nb_sbs);
		if (rc && rc != VMEM_MEM_BUSY)
			return rc;
		/* A failed removal is retried at the end of the run. */
		mb = vmem_mb_get(&vm->blocks, mb_id);
		if (mb->state != VMEM_MB_UNUSED && !mb->plugged)
			vmem_remove_unit(vm, mb_id);
	}
	/* Busy sub blocks do not matter once enough others were unplugged. */
	return nb_sbs ? VMEM_MEM_BUSY : 0;
}
