// SPDX-License-Identifier: GPL-2.0
/*
 * The driver's side of memory hotplug, the same in both modes: block state
 * changes; fake-offline pages, the unplugged parts of added memory; the
 * online-page callback and the memory notifier, through which core mm
 * onlines and offlines our memory blocks; adding a unit (a memory block in
 * Sub Block Mode, a big block in Big Block Mode); offlining with a time
 * limit; removing units, and unplugging what a removal left over.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/log2.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/page-flags.h>
#include <linux/page_ref.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/timekeeping.h>
#include <linux/wait.h>

#include "vmem.h"
#include "vmem_trace.h"

/* ---------------------------------------------------------------------- */
/* Block states                                                           */
/* ---------------------------------------------------------------------- */

const char * const vmem_mb_state_names[VMEM_MB_NR_STATES] = {
	[VMEM_MB_UNUSED] = "unused",
	[VMEM_MB_OFFLINE] = "offline",
	[VMEM_MB_ONLINE_KERNEL] = "online_kernel",
	[VMEM_MB_ONLINE_MOVABLE] = "online_movable",
};

/**
 * vmem_set_mb_state() - change a memory block's state
 * @vm: the device
 * @mb_id: the memory block
 * @state: its new state
 *
 * Every change is traced.
 *
 * Context: @vm->hotplug.lock held.
 */
void vmem_set_mb_state(struct vmem *vm, u64 mb_id, enum vmem_mb_state state)
{
	lockdep_assert_held(&vm->hotplug.lock);
	vmem_mb_set_state(&vm->blocks, mb_id, state);
	trace_vmem_mb_state(dev_name(&vm->vdev->dev), mb_id,
			    vmem_mb_state_names[state]);
}

/* Devices the online-page callback must know about; vmem_devices_lock. */
LIST_HEAD(vmem_devices);
/* Guards vmem_devices; its place in the lock order is in vmem.h. */
DEFINE_MUTEX(vmem_devices_lock);

/* ---------------------------------------------------------------------- */
/* Fake-offline pages                                                     */
/* ---------------------------------------------------------------------- */

#ifdef VMEM_HAVE_OFFLINE_SKIPPABLE
/*
 * Core mm with mm-patches/0002 skips PageOffline pages marked skippable when
 * offlining and leaves them out of the managed count: nothing to do in
 * MEM_GOING_OFFLINE and MEM_CANCEL_OFFLINE.
 */
static void vmem_fake_offline_drop_refs(struct vmem *vm, u64 mb_id,
					bool drop)
{
}
#else
/*
 * Offlining a memory block requires every page to be free, migrated or
 * PageOffline without references. Drop the reference of fake-offline pages
 * and count them as managed, because offlining subtracts the whole block.
 */
static void vmem_fake_offline_drop_refs(struct vmem *vm, u64 mb_id,
					bool drop)
{
	struct vmem_mb *mb = vmem_mb_get(&vm->blocks, mb_id);
	const unsigned long sb_pages = PHYS_PFN(vm->geo.sb_size);
	unsigned int sb, i;

	for (sb = 0; sb < vm->geo.sbs_per_mb; sb++) {
		unsigned long pfn;

		if (mb->plugged & (1ULL << sb))
			continue;
		pfn = PHYS_PFN(vmem_sb_id_to_phys(&vm->geo, mb_id, sb));
		if (drop) {
			adjust_managed_page_count(pfn_to_page(pfn), sb_pages);
			for (i = 0; i < sb_pages; i++)
				if (!page_ref_dec_and_test(pfn_to_page(pfn + i)))
					dev_warn_once(&vm->vdev->dev,
						      "fake-offline page %#lx still referenced\n",
						      pfn + i);
		} else {
			for (i = 0; i < sb_pages; i++)
				page_ref_inc(pfn_to_page(pfn + i));
			adjust_managed_page_count(pfn_to_page(pfn), -sb_pages);
		}
	}
}
#endif

/**
 * vmem_pages_set_offline() - make pages fake-offline
 * @pfn: the first page
 * @nr: how many pages
 * @fresh_memmap: their memmap was just initialised (they are being onlined)
 *
 * Fake-offline pages belong to the driver: PageOffline, one reference, not
 * counted as managed. The online-page callback leaves unplugged parts of a
 * memory block in this state, and unplug puts pages taken with
 * alloc_contig_range() in it.
 */
void vmem_pages_set_offline(unsigned long pfn, unsigned long nr,
			    bool fresh_memmap)
{
	unsigned long i;

	page_offline_begin();
	for (i = 0; i < nr; i++) {
		struct page *page = pfn_to_page(pfn + i);

		__SetPageOffline(page);
		vmem_page_set_skippable(page);
		/* A freshly initialised memmap marks hotplugged pages reserved. */
		if (fresh_memmap)
			ClearPageReserved(page);
	}
	page_offline_end();
}

/**
 * vmem_pages_clear_offline() - pages stop being fake-offline
 * @pfn: the first page
 * @nr: how many pages
 *
 * The caller hands them on: to the buddy, or back to whoever they were
 * taken from.
 */
void vmem_pages_clear_offline(unsigned long pfn, unsigned long nr)
{
	unsigned long i;

	page_offline_begin();
	for (i = 0; i < nr; i++) {
		vmem_page_clear_skippable(pfn_to_page(pfn + i));
		__ClearPageOffline(pfn_to_page(pfn + i));
	}
	page_offline_end();
}

/**
 * vmem_pages_give_to_buddy() - hand fake-offline pages to the buddy
 * @pfn: the first page of a freshly plugged range
 * @nr: how many pages
 *
 * In naturally aligned chunks: a range may start on any sub block, and a
 * misaligned chunk would corrupt the buddy's free lists.
 * generic_online_page() resets the reference count and accounts the pages as
 * managed, whichever way they became fake-offline.
 */
void vmem_pages_give_to_buddy(unsigned long pfn, unsigned long nr)
{
	const unsigned long end = pfn + nr;

	vmem_pages_clear_offline(pfn, nr);
	while (pfn < end) {
		unsigned int order = vmem_buddy_order(pfn, end - pfn,
						      MAX_ORDER - 1);

		generic_online_page(pfn_to_page(pfn), order);
		pfn += 1UL << order;
	}
}

/* ---------------------------------------------------------------------- */
/* Onlining and offlining: the online-page callback, the notifier         */
/* ---------------------------------------------------------------------- */

/* The device whose region holds @addr, if any; vmem_devices_lock held. */
static struct vmem *vmem_find_by_phys(u64 addr)
{
	struct vmem *vm;

	list_for_each_entry(vm, &vmem_devices, list) {
		u64 start = vmem_mb_id_to_phys(&vm->geo, vm->geo.first_mb_id);

		if (addr >= start && addr < start + vm->geo.nb_mb * vm->geo.mb_size)
			return vm;
	}
	return NULL;
}

/**
 * vmem_online_page_cb() - the online-page callback
 * @page: the first page of the chunk
 * @order: the chunk's order
 *
 * Called by online_pages() for each naturally aligned chunk of a memory block
 * being onlined, between MEM_GOING_ONLINE and MEM_ONLINE (hotplug.active).
 * Plugged sub blocks go to the buddy, unplugged ones stay fake-offline.
 * Memory of no device of ours goes to the buddy whole.
 */
void vmem_online_page_cb(struct page *page, unsigned int order)
{
	u64 addr = page_to_phys(page);
	u64 end = addr + (PAGE_SIZE << order);
	struct vmem *vm;

	mutex_lock(&vmem_devices_lock);
	vm = vmem_find_by_phys(addr);
	if (!vm) {
		mutex_unlock(&vmem_devices_lock);
		generic_online_page(page, order);
		return;
	}
	mutex_lock(&vm->hotplug.lock);
	WARN_ON_ONCE(!vm->hotplug.active);
	while (addr < end) {
		u64 mb_id = vmem_phys_to_mb_id(&vm->geo, addr);
		u64 off = addr - vmem_mb_id_to_phys(&vm->geo, mb_id);
		unsigned int sb = off / vm->geo.sb_size;
		/* Chunks and sub blocks are both naturally aligned powers of 2. */
		u64 piece = min(end - addr, vm->geo.sb_size - off % vm->geo.sb_size);
		unsigned long pfn = PHYS_PFN(addr);

		if (vmem_mb_get(&vm->blocks, mb_id)->plugged & (1ULL << sb))
			generic_online_page(pfn_to_page(pfn),
					    ilog2(PHYS_PFN(piece)));
		else
			vmem_pages_set_offline(pfn, PHYS_PFN(piece), true);
		addr += piece;
	}
	mutex_unlock(&vm->hotplug.lock);
	mutex_unlock(&vmem_devices_lock);
}

/**
 * vmem_memory_notifier_cb() - core mm onlines or offlines memory
 * @nb: the device's @mem_nb
 * @action: MEM_GOING_ONLINE, MEM_ONLINE, MEM_GOING_OFFLINE, ...
 * @arg: the struct memory_notify
 *
 * Keeps the block states and hotplug.active in step with the onlining and
 * offlining of our memory blocks, and refuses what must not happen: a range
 * that is not one of our memory blocks; anything once remove() is closing;
 * onlining memory that is not added, or of a broken device.
 *
 * Return: NOTIFY_OK, or the refusal for the notifier chain.
 */
int vmem_memory_notifier_cb(struct notifier_block *nb, unsigned long action,
			    void *arg)
{
	struct vmem *vm = container_of(nb, struct vmem, mem_nb);
	struct memory_notify *mn = arg;
	const u64 start = PFN_PHYS(mn->start_pfn);
	const u64 size = PFN_PHYS(mn->nr_pages);
	const u64 first = vmem_mb_id_to_phys(&vm->geo, vm->geo.first_mb_id);
	const u64 end = first + vm->geo.nb_mb * vm->geo.mb_size;
	u64 mb_id = vmem_phys_to_mb_id(&vm->geo, start);
	int rc = NOTIFY_OK;

	if (start + size <= first || start >= end)
		return NOTIFY_OK;
	/*
	 * One memory block at a time; with memmap_on_memory the range starts
	 * after the block's own memmap.
	 */
	if (start < first || start + size > end || !size ||
	    vmem_phys_to_mb_id(&vm->geo, start + size - 1) != mb_id ||
	    (start + size) % vm->geo.mb_size) {
		dev_warn_ratelimited(&vm->vdev->dev,
				     "refusing to change [%#llx, %#llx): not one of our memory blocks\n",
				     start, start + size);
		return notifier_from_errno(-EINVAL);
	}

	if (action == MEM_CANCEL_ONLINE && vm->hotplug.adding)
		vm->hotplug.add_online_failed = true;

	mutex_lock(&vm->hotplug.lock);
	switch (action) {
	case MEM_GOING_OFFLINE:
		if (vm->hotplug.closing) {
			rc = notifier_from_errno(-EBUSY);
			break;
		}
		WRITE_ONCE(vm->hotplug.active, true);
		if (vmem_mb_get(&vm->blocks, mb_id)->state != VMEM_MB_UNUSED)
			vmem_fake_offline_drop_refs(vm, mb_id, true);
		break;
	case MEM_GOING_ONLINE:
		if (vm->hotplug.closing) {
			rc = notifier_from_errno(-EBUSY);
			break;
		}
		WRITE_ONCE(vm->hotplug.active, true);
		if (vm->broken || vmem_mb_get(&vm->blocks, mb_id)->state == VMEM_MB_UNUSED)
			rc = notifier_from_errno(-EBUSY);
		break;
	/*
	 * The end of an operation whose MEM_GOING_* we did not see (an
	 * earlier notifier refused it) changes nothing.
	 */
	case MEM_OFFLINE:
		if (vm->hotplug.active)
			vmem_set_mb_state(vm, mb_id, VMEM_MB_OFFLINE);
		break;
	case MEM_ONLINE:
		if (vm->hotplug.active)
			vmem_set_mb_state(vm, mb_id,
					  page_zonenum(pfn_to_page(mn->start_pfn)) == ZONE_MOVABLE ?
					  VMEM_MB_ONLINE_MOVABLE : VMEM_MB_ONLINE_KERNEL);
		break;
	case MEM_CANCEL_OFFLINE:
		if (vm->hotplug.active &&
		    vmem_mb_get(&vm->blocks, mb_id)->state != VMEM_MB_UNUSED)
			vmem_fake_offline_drop_refs(vm, mb_id, false);
		break;
	}
	if (action != MEM_GOING_OFFLINE && action != MEM_GOING_ONLINE &&
	    vm->hotplug.active) {
		WRITE_ONCE(vm->hotplug.active, false);
		wake_up_all(&vm->hotplug.wq);
	}
	mutex_unlock(&vm->hotplug.lock);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Adding units                                                           */
/* ---------------------------------------------------------------------- */

/* Mark @count sub blocks from sub block 0 of @mb_id on plugged and added. */
static void vmem_mark_added(struct vmem *vm, u64 mb_id, u64 nb_mbs,
			    unsigned int count, bool added)
{
	u64 i;

	vmem_lock_blocks(vm);
	for (i = 0; i < nb_mbs; i++) {
		unsigned int n = min(count, vm->geo.sbs_per_mb);

		vmem_mb_set_plugged(&vm->blocks, mb_id + i, 0, n, added);
		vmem_set_mb_state(vm, mb_id + i,
				  added ? VMEM_MB_OFFLINE : VMEM_MB_UNUSED);
		if (!added)
			vmem_mb_get(&vm->blocks, mb_id + i)->pinned = 0;
		count -= n;
	}
	vmem_unlock_blocks(vm);
}

/*
 * The memmap of a memory block added with MHP_MEMMAP_ON_MEMORY lives in its
 * first pages: the sub blocks holding it stay plugged while it is added.
 */
static void vmem_sbm_pin_memmap(struct vmem *vm, u64 mb_id)
{
	const u64 memmap = PHYS_PFN(vm->geo.mb_size) * sizeof(struct page);
	unsigned int n = DIV_ROUND_UP(memmap, vm->geo.sb_size);

	vmem_lock_blocks(vm);
	vmem_mb_get(&vm->blocks, mb_id)->pinned = vmem_sb_mask(0, n);
	vmem_unlock_blocks(vm);
}

/**
 * vmem_plug_and_add() - plug and add a unit
 * @vm: the device
 * @mb_id: the first memory block, unused
 * @nb_mbs: memory blocks to add
 * @count: sub blocks to plug
 *
 * Plug @count sub blocks from the start of unused memory block @mb_id on,
 * and add @nb_mbs memory blocks there: one memory block in Sub Block Mode,
 * a big block in Big Block Mode. When adding or onlining fails, the memory
 * is unplugged again.
 *
 * Return: 0; the PLUG's error; VMEM_ONLINE_FAILED (a notifier refused
 * onlining), -ENOMEM or VMEM_MEM_BUSY (adding failed); -EIO when the
 * memory could not be unplugged again.
 */
int vmem_plug_and_add(struct vmem *vm, u64 mb_id, u64 nb_mbs,
		      unsigned int count)
{
	const u64 addr = vmem_mb_id_to_phys(&vm->geo, mb_id);
	u64 start;
	int rc, rc2;

	rc = vmem_request_sbs(vm, VIRTIO_MEM_REQ_PLUG, mb_id, 0, count);
	trace_vmem_plug(dev_name(&vm->vdev->dev), mb_id, 0, count, rc);
	if (rc)
		return rc;
	vmem_mark_added(vm, mb_id, nb_mbs, count, true);

	/* May online the memory right away, calling the notifier and callback. */
	vm->hotplug.adding = true;
	vm->hotplug.add_online_failed = false;
	start = ktime_get_ns();
	rc = -EINVAL;
	if (vm->hotplug.memmap_on_memory) {
		rc = add_memory_driver_managed(vm->mgid, addr, vm->geo.mb_size,
					       vm->ram_name, MHP_NID_IS_MGID |
					       MHP_MEMMAP_ON_MEMORY);
		if (!rc)
			vmem_sbm_pin_memmap(vm, mb_id);
	}
	if (rc == -EINVAL) {
		rc = add_memory_driver_managed(vm->mgid, addr,
					       nb_mbs * vm->geo.mb_size,
					       vm->ram_name, MHP_NID_IS_MGID);
		/* Only when the plain add works was the flag what failed. */
		if (!rc && vm->hotplug.memmap_on_memory) {
			dev_info(&vm->vdev->dev,
				 "the kernel refuses memmap_on_memory: memory blocks keep their memmap in boot memory\n");
			vm->hotplug.memmap_on_memory = false;
		}
	}
	vm->hotplug.adding = false;
	atomic64_add(ktime_get_ns() - start, &vm->stats.ns_add);
	if (!rc && !vm->hotplug.add_online_failed)
		return 0;
	if (!rc) {
		/*
		 * The online policy wanted the memory online and a notifier
		 * refused: take it back and try again later rather than keep
		 * plugged memory nobody can use.
		 */
		if (offline_and_remove_memory(addr, nb_mbs * vm->geo.mb_size)) {
			/* Plugged, added, offline: a user may online it. */
			dev_warn_ratelimited(&vm->vdev->dev,
					     "onlining [%#llx, %#llx) was refused and removing it failed: it stays added, offline\n",
					     addr, addr + nb_mbs * vm->geo.mb_size);
			return VMEM_ONLINE_FAILED;
		}
		rc = VMEM_ONLINE_FAILED;
	}

	dev_warn_ratelimited(&vm->vdev->dev, "%s [%#llx, %#llx) failed: %d\n",
			     rc == VMEM_ONLINE_FAILED ? "onlining" : "adding",
			     addr, addr + nb_mbs * vm->geo.mb_size, rc);
	vmem_mark_added(vm, mb_id, nb_mbs, count, false);
	/* A failure stops the driver: the memory was never handed out. */
	rc2 = vmem_request_sbs_head(vm, VIRTIO_MEM_REQ_UNPLUG, mb_id, 0, count,
				    NULL);
	if (rc2) {
		dev_err(&vm->vdev->dev,
			"cannot unplug [%#llx, %#llx) after adding it failed: %d, stopping\n",
			addr, addr + nb_mbs * vm->geo.mb_size, rc2);
		return -EIO;
	}
	return rc == -ENOMEM || rc == VMEM_ONLINE_FAILED ? rc : VMEM_MEM_BUSY;
}

/* ---------------------------------------------------------------------- */
/* Offlining with a time limit                                            */
/* ---------------------------------------------------------------------- */

#ifdef VMEM_HAVE_OFFLINE_TIMEOUT
/**
 * vmem_offline_and_remove_bounded() - offline and remove memory, in time
 * @vm: the device, whose counters it updates
 * @addr: start of the memory
 * @size: its size
 * @timeout_ms: how long offlining may take
 *
 * Core mm with mm-patches/0001 bounds offlining itself: it fails with -EBUSY
 * once @timeout_ms have passed, and the memory stays online as it was.
 *
 * Return: 0, or offline_and_remove_memory_timeout()'s error.
 */
int vmem_offline_and_remove_bounded(struct vmem *vm, u64 addr, u64 size,
				    unsigned int timeout_ms)
{
	u64 start = ktime_get_ns();
	u64 took;
	int rc;

	rc = offline_and_remove_memory_timeout(addr, size, timeout_ms);
	took = ktime_get_ns() - start;
	/* -EBUSY also means "unmovable page": count only what ran out of time. */
	if (rc == -EBUSY && took >= (u64)timeout_ms * NSEC_PER_MSEC)
		atomic64_inc(&vm->stats.offline_timeouts);
	atomic64_add(took, &vm->stats.ns_offline);
	return rc;
}
#else
/**
 * struct vmem_offline_job - one bounded offline_and_remove_memory() call
 * @addr: start of the memory to offline and remove
 * @size: its size
 * @rc: the result
 * @done: completed by the thread when @rc is set
 */
struct vmem_offline_job {
	u64 addr;
	u64 size;
	int rc;
	struct completion done;
};

static int vmem_offline_thread(void *arg)
{
	struct vmem_offline_job *job = arg;
	/* Its migrations are the driver's: their stalls are no pressure. */
	int slot = vmem_own_begin();

	allow_signal(SIGKILL);
	job->rc = offline_and_remove_memory(job->addr, job->size);
	flush_signals(current);
	vmem_own_end(slot);
	/*
	 * Once @done completes the module may go away: complete and exit in
	 * core kernel code, never returning into this function.
	 */
	kthread_complete_and_exit(&job->done, 0);
}

/**
 * vmem_offline_and_remove_bounded() - offline and remove memory, in time
 * @vm: the device, whose counters it updates
 * @addr: start of the memory
 * @size: its size
 * @timeout_ms: how long offlining may take
 *
 * offline_and_remove_memory() that gives up after @timeout_ms. In 6.1
 * offline_pages() retries migration until it succeeds or a signal is
 * pending, and a kernel worker never gets one: so run it in a thread that
 * accepts SIGKILL, and send one when the time is up. offline_pages() then
 * fails with -EINTR and the memory is left online as it was.
 *
 * Return: 0, offline_and_remove_memory()'s error, or the thread's creation's.
 */
int vmem_offline_and_remove_bounded(struct vmem *vm, u64 addr, u64 size,
				    unsigned int timeout_ms)
{
	struct vmem_offline_job job = { .addr = addr, .size = size };
	u64 start = ktime_get_ns();
	struct task_struct *t;

	init_completion(&job.done);
	t = kthread_create(vmem_offline_thread, &job, "vmem-offline");
	if (IS_ERR(t))
		return PTR_ERR(t);
	get_task_struct(t);
	wake_up_process(t);
	if (!wait_for_completion_timeout(&job.done,
					 msecs_to_jiffies(timeout_ms))) {
		send_sig(SIGKILL, t, 1);
		wait_for_completion(&job.done);
		atomic64_inc(&vm->stats.offline_timeouts);
	}
	put_task_struct(t);
	atomic64_add(ktime_get_ns() - start, &vm->stats.ns_offline);
	return job.rc;
}
#endif

/* ---------------------------------------------------------------------- */
/* Removing units                                                         */
/* ---------------------------------------------------------------------- */

/**
 * vmem_unplug_leftovers() - unplug what is still plugged in unused blocks
 * @vm: the device
 *
 * Those are memmap sub blocks whose unplug failed after their memory block
 * was removed.
 *
 * Return: 0, or the result of the UNPLUG that failed.
 */
int vmem_unplug_leftovers(struct vmem *vm)
{
	int rc = 0;
	u64 i;

	for (i = 0; i < vm->geo.nb_mb && !rc; i++) {
		struct vmem_mb *mb = &vm->blocks.mb[i];
		u64 mb_id = vm->geo.first_mb_id + i;
		unsigned int n = hweight64(mb->plugged), first, head;

		if (!vmem_mb_is_leftover(mb))
			continue;
		/* One run: the memmap's, less a head an earlier try unplugged. */
		first = __ffs64(mb->plugged);
		rc = vmem_request_sbs_head(vm, VIRTIO_MEM_REQ_UNPLUG, mb_id,
					   first, n, &head);
		trace_vmem_unplug(dev_name(&vm->vdev->dev), mb_id, first, n, rc);
		vmem_lock_blocks(vm);
		vmem_mb_set_plugged(&vm->blocks, mb_id, first, rc ? head : n,
				    false);
		vmem_unlock_blocks(vm);
	}
	return rc;
}

/**
 * vmem_remove_unit() - offline and remove a unit
 * @vm: the device
 * @mb_id: the unit's first memory block
 *
 * Remove the unit (memory block, or big block) starting at @mb_id once
 * nothing in it is plugged but its memmap. Sub blocks that held the memmap
 * are unplugged after the removal; if that fails they are left over for
 * vmem_unplug_leftovers().
 *
 * Return: 0, VMEM_MEM_BUSY when the removal failed, or
 * vmem_unplug_leftovers()'s result.
 */
int vmem_remove_unit(struct vmem *vm, u64 mb_id)
{
	const u64 nb = vm->geo.bb_mbs;
	u64 i, start = ktime_get_ns();
	int rc;

	rc = offline_and_remove_memory(vmem_mb_id_to_phys(&vm->geo, mb_id),
				       nb * vm->geo.mb_size);
	atomic64_add(ktime_get_ns() - start, &vm->stats.ns_offline);
	if (rc) {
		dev_dbg(&vm->vdev->dev, "removing memory block %llu failed: %d\n",
			mb_id, rc);
		return VMEM_MEM_BUSY;
	}
	vmem_lock_blocks(vm);
	for (i = 0; i < nb; i++) {
		vmem_set_mb_state(vm, mb_id + i, VMEM_MB_UNUSED);
		vmem_mb_get(&vm->blocks, mb_id + i)->pinned = 0;
	}
	vmem_unlock_blocks(vm);
	return vmem_unplug_leftovers(vm);
}

/**
 * vmem_remove_empty_units() - remove the units with nothing plugged
 * @vm: the device
 *
 * Return: 0, or VMEM_REMOVE_FAILED if any stays.
 */
int vmem_remove_empty_units(struct vmem *vm)
{
	const u64 nb = vm->geo.bb_mbs;
	int rc = 0;
	u64 i, j;

	for (i = 0; i < vm->geo.nb_mb; i += nb) {
		bool added = false, plugged = false;

		for (j = i; j < i + nb; j++) {
			added |= vm->blocks.mb[j].state != VMEM_MB_UNUSED;
			plugged |= vm->blocks.mb[j].plugged != 0;
		}
		if (added && !plugged &&
		    vmem_remove_unit(vm, vm->geo.first_mb_id + i))
			rc = VMEM_REMOVE_FAILED;
	}
	return rc;
}
