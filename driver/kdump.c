// SPDX-License-Identifier: GPL-2.0
/*
 * kdump mode, built with CONFIG_PROC_VMCORE: in a capture kernel the driver
 * plugs and unplugs nothing and only tells /proc/vmcore which pages of the
 * device region are plugged, asking the device with STATE requests.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crash_dump.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/memory.h>
#include <linux/mutex.h>
#include <linux/virtio_config.h>

#include "vmem.h"

/* Ask the device for the state of [@addr, @addr + @size). */
static int vmem_kdump_state(struct vmem *vm, u64 addr, u64 size, u16 *state)
{
	int resp;

	resp = vmem_send(vm, VIRTIO_MEM_REQ_STATE, addr,
			 size / vm->cfg.block_size, state);
	return resp < 0 ? resp : vmem_resp_to_errno(resp);
}

/*
 * Whether /proc/vmcore may read @pfn. Answers come from STATE requests:
 * first for the whole memory block (or device block, if larger) around the
 * page, which is all a dump of mostly plugged or unplugged memory needs; for
 * a MIXED one, for the device block holding the page. The last answer and
 * the last MIXED memory block are cached, and /proc/vmcore reads in
 * ascending order, so a dump costs one request per memory block plus one per
 * device block of mixed ones.
 */
static bool vmem_vmcore_pfn_is_ram(struct vmcore_cb *cb, unsigned long pfn)
{
	struct vmem *vm = container_of(cb, struct vmem, vmcore.cb);
	const u64 addr = PFN_PHYS(pfn);
	const u64 end = vm->cfg.addr + vm->cfg.usable_region_size;
	u64 unit = max_t(u64, memory_block_size_bytes(), vm->cfg.block_size);
	u64 start;
	u16 state;
	bool plugged;

	if (addr < vm->cfg.addr || addr >= vm->cfg.addr + vm->cfg.region_size)
		return true;
	/* Beyond the usable region nothing can be plugged. */
	if (addr >= end)
		return false;

	mutex_lock(&vm->vmcore.lock);
	if (addr >= vm->vmcore.state_start && addr < vm->vmcore.state_end) {
		plugged = vm->vmcore.state_plugged;
		goto out;
	}
	start = max(vmem_align_down(addr, unit), vm->cfg.addr);
	unit = min(vmem_align_down(addr, unit) + unit, end) - start;
	/* Inside a memory block known to be MIXED, ask per device block. */
	if (addr >= vm->vmcore.mixed_start && addr < vm->vmcore.mixed_end) {
		state = VIRTIO_MEM_STATE_MIXED;
	} else {
		if (vmem_kdump_state(vm, start, unit, &state))
			goto fail;
		if (state == VIRTIO_MEM_STATE_MIXED) {
			vm->vmcore.mixed_start = start;
			vm->vmcore.mixed_end = start + unit;
		}
	}
	if (state == VIRTIO_MEM_STATE_MIXED) {
		start = vmem_align_down(addr, vm->cfg.block_size);
		unit = vm->cfg.block_size;
		if (vmem_kdump_state(vm, start, unit, &state))
			goto fail;
	}
	if (state != VIRTIO_MEM_STATE_PLUGGED &&
	    state != VIRTIO_MEM_STATE_UNPLUGGED)
		goto fail;
	plugged = state == VIRTIO_MEM_STATE_PLUGGED;
	vm->vmcore.state_start = start;
	vm->vmcore.state_end = start + unit;
	vm->vmcore.state_plugged = plugged;
out:
	mutex_unlock(&vm->vmcore.lock);
	return plugged;
fail:
	/* Reading memory that may be unplugged can be fatal: do not. */
	mutex_unlock(&vm->vmcore.lock);
	dev_err_ratelimited(&vm->vdev->dev,
			    "cannot tell whether %#llx is plugged; left out of the dump\n",
			    addr);
	return false;
}

/**
 * vmem_kdump_probe() - probe in a capture kernel
 * @vm: the device, its config read and checked
 *
 * In a capture kernel: touch nothing, answer /proc/vmcore. The device must
 * stay as the crashed kernel left it, whatever the host asks meanwhile: a
 * plug or unplug would make the STATE answers, and the dump, wrong. So the
 * worker never runs (stopping is set before the device is ready, and
 * config changes are ignored) and no block table is allocated.
 *
 * Return: 0, or the error of setting up the request queue.
 */
int vmem_kdump_probe(struct vmem *vm)
{
	vm->vq = virtio_find_single_vq(vm->vdev, vmem_vq_done, "guest-request");
	if (IS_ERR(vm->vq)) {
		dev_err(&vm->vdev->dev, "cannot set up the request queue: %ld\n",
			PTR_ERR(vm->vq));
		return PTR_ERR(vm->vq);
	}
	vm->kdump = true;
	vm->worker.stopping = true;
	mutex_init(&vm->vmcore.lock);
	virtio_device_ready(vm->vdev);
	vm->vmcore.cb.pfn_is_ram = vmem_vmcore_pfn_is_ram;
	register_vmcore_cb(&vm->vmcore.cb);
	vmem_print_facts(vm);
	dev_info(&vm->vdev->dev,
		 "kdump mode: region [%#llx, %#llx), %llu MiB plugged; answering /proc/vmcore\n",
		 vm->cfg.addr, vm->cfg.addr + vm->cfg.region_size,
		 vm->cfg.plugged_size >> 20);
	return 0;
}

/**
 * vmem_kdump_remove() - stop answering /proc/vmcore
 * @vm: the device
 */
void vmem_kdump_remove(struct vmem *vm)
{
	unregister_vmcore_cb(&vm->vmcore.cb);
}
