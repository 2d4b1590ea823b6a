// SPDX-License-Identifier: GPL-2.0
/*
 * The worker, where all plugging and unplugging happens: one run reads the
 * config again and plugs or unplugs towards the requested size
 * (vmem_run()); the retry policy turns the run's result into what happens
 * next (vmem_retry_policy(): done, run again now, back off, look again
 * soon because the guest needs the memory, wait for a new config, or stop),
 * and keeps the shortfall and its reason for sysfs.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/workqueue.h>

#include "vmem.h"
#include "vmem_trace.h"

/*
 * While the floor holds an unplug back, MemAvailable is polled this often:
 * the unplug goes on by itself within about a second of memory freeing up.
 */
#define VMEM_FLOOR_RETRY_MS		1000
/* Under memory pressure, the pause doubles from the above up to this. */
#define VMEM_PRESSURE_RETRY_MAX_MS	8000

/*
 * Read the device's config again. The region may not move or change its
 * blocks; a device that does, or breaks the spec, is stopped.
 */
static int vmem_refresh_config(struct vmem *vm)
{
	struct vmem_config cfg;

	vmem_read_config(vm, &cfg);
	if (vmem_check_config(vm, &cfg) || cfg.block_size != vm->cfg.block_size ||
	    cfg.addr != vm->cfg.addr || cfg.region_size != vm->cfg.region_size) {
		dev_err(&vm->vdev->dev, "device config became invalid, stopping\n");
		WRITE_ONCE(vm->broken, true);
		return -EPROTO;
	}
	vm->cfg = cfg;
	return 0;
}

/* One pass towards the requested size. */
static int vmem_run(struct vmem *vm)
{
	u64 target, plugged;
	int rc, removal;

	if (READ_ONCE(vm->worker.inject_error)) {
		WRITE_ONCE(vm->worker.inject_error, false);
		dev_info(&vm->vdev->dev, "debugfs: sending an invalid request\n");
		rc = vmem_send_invalid_request(vm);
		if (rc)
			return rc;
	}

	if (vm->worker.unplug_all_pending) {
		rc = vmem_unplug_all(vm);
		if (rc)
			return rc;
		vm->worker.unplug_all_pending = false;
		/* The device may resize the usable region on UNPLUG_ALL. */
		rc = vmem_refresh_config(vm);
		if (rc)
			return rc;
	}

	rc = vmem_unplug_leftovers(vm);
	if (rc)
		return rc;
	/* Removals that failed before; the result decides on a retry. */
	removal = vmem_remove_empty_units(vm);

	/*
	 * Allocation stalls count from here; after a pause for memory
	 * pressure, from before the pause, so pressure that went on during
	 * it stops the unplug again before it takes anything.
	 */
	if (!vm->worker.pressure_backoff_ms)
		vmem_stalls_sample(&vm->guard.stalls_seen);

	target = vmem_target_bytes(vm) / vmem_unit_size(&vm->geo);
	plugged = vmem_plugged_bytes(vm) / vmem_unit_size(&vm->geo);
	rc = 0;
	if (target > plugged) {
		rc = vmem_is_bbm(&vm->geo) ? vmem_bbm_plug(vm, target - plugged) :
		     vmem_sbm_plug(vm, target - plugged);
	} else if (target < plugged) {
		rc = vmem_is_bbm(&vm->geo) ? vmem_bbm_unplug(vm, plugged - target) :
		     vmem_sbm_unplug(vm, plugged - target);
		vmem_guard_release(vm);
		/* Units this unplug emptied. */
		if (!rc)
			removal = vmem_remove_empty_units(vm);
	}
	return rc ?: removal;
}

/*
 * The two reasons the shortfall adds numbers to, from the result table.
 * Reasons are compared by address, and vmem_result_rules is a static table
 * of vmem_logic.h, one copy per file: every shortfall reason is set in this
 * file, from this file's copy.
 */
#define vmem_reason_floor	(vmem_result_rules[VMEM_RES_FLOOR].reason)
#define vmem_reason_pressure	(vmem_result_rules[VMEM_RES_PRESSURE].reason)

/**
 * vmem_shortfall_reason_format() - why the plugged size is not the requested
 * @vm: the device
 * @buf: where the reason goes
 * @size: @buf's size
 *
 * The shortfall reason, with the numbers behind it when the guest needs
 * memory.
 */
void vmem_shortfall_reason_format(struct vmem *vm, char *buf, size_t size)
{
	const char *reason = READ_ONCE(vm->worker.shortfall_reason);

	if (reason == vmem_reason_floor && READ_ONCE(vm->guard.kernel_stop))
		scnprintf(buf, size,
			  "%s: kernel zones %llu MiB available, floor %llu MiB",
			  reason, READ_ONCE(vm->guard.kernel_avail) >> 20,
			  READ_ONCE(vm->guard.kernel_floor) >> 20);
	else if (reason == vmem_reason_floor)
		scnprintf(buf, size, "%s: %llu MiB available, floor %llu MiB",
			  reason, READ_ONCE(vm->guard.avail) >> 20,
			  READ_ONCE(vm->guard.floor) >> 20);
	else if (reason == vmem_reason_pressure)
		scnprintf(buf, size,
			  "%s (%llu allocation stalls), backing off; floor %llu MiB",
			  reason, READ_ONCE(vm->guard.stalls),
			  READ_ONCE(vm->guard.floor) >> 20);
	else
		scnprintf(buf, size, "%s", reason ?: "none");
}

static void vmem_set_shortfall(struct vmem *vm, const char *reason)
{
	u64 target = vmem_target_bytes(vm), plugged = vmem_plugged_bytes(vm);
	u64 gap = target > plugged ? target - plugged : plugged - target;
	bool changed = READ_ONCE(vm->worker.shortfall_reason) != reason;
	char why[128];

	WRITE_ONCE(vm->worker.shortfall, reason ? gap : 0);
	WRITE_ONCE(vm->worker.shortfall_reason, reason);
	if (reason && changed) {
		vmem_shortfall_reason_format(vm, why, sizeof(why));
		dev_info(&vm->vdev->dev,
			 "plugged %llu MiB of %llu MiB requested: %s\n",
			 plugged >> 20, vm->cfg.requested_size >> 20, why);
	}
}

/**
 * vmem_schedule() - run the worker, unless the device is stopping
 * @vm: the device
 * @delay: in jiffies
 */
void vmem_schedule(struct vmem *vm, unsigned long delay)
{
	unsigned long flags;

	spin_lock_irqsave(&vm->worker.stop_lock, flags);
	if (!vm->worker.stopping)
		mod_delayed_work(system_freezable_wq, &vm->worker.work, delay);
	spin_unlock_irqrestore(&vm->worker.stop_lock, flags);
}

/* The one place that turns a result into what happens next. */
static void vmem_retry_policy(struct vmem *vm, int rc)
{
	const enum vmem_result res = vmem_result_from_errno(rc);
	const char *reason;

	if (res != VMEM_RES_PRESSURE)
		vm->worker.pressure_backoff_ms = 0;
	switch (vmem_result_action(res, &reason)) {
	case VMEM_ACT_DONE:
		vm->worker.retry_ms = 0;
		vmem_set_shortfall(vm, NULL);
		/* Plugging is in whole units: say so when that falls short. */
		if (vm->cfg.requested_size != vmem_plugged_bytes(vm)) {
			WRITE_ONCE(vm->worker.shortfall,
				   vm->cfg.requested_size - vmem_plugged_bytes(vm));
			WRITE_ONCE(vm->worker.shortfall_reason,
				   "requested size not a multiple of the plug unit");
		}
		if (vm->worker.reported_size != vmem_plugged_bytes(vm)) {
			vm->worker.reported_size = vmem_plugged_bytes(vm);
			dev_info(&vm->vdev->dev, "plugged %llu MiB (requested %llu MiB)\n",
				 vm->worker.reported_size >> 20,
				 vm->cfg.requested_size >> 20);
		}
		return;
	case VMEM_ACT_RESTART:
		vmem_schedule(vm, 0);
		return;
	case VMEM_ACT_WAIT_CONFIG:
		vmem_set_shortfall(vm, reason);
		return;
	case VMEM_ACT_GUEST_NEEDS:
		/*
		 * Not a failure: the guest needs the memory. Look again soon,
		 * so the unplug goes on by itself once memory frees up; after
		 * pressure, wait longer each time it comes back.
		 */
		vmem_set_shortfall(vm, reason);
		if (res == VMEM_RES_FLOOR) {
			atomic64_inc(&vm->stats.floor_stops);
			vmem_schedule(vm, msecs_to_jiffies(VMEM_FLOOR_RETRY_MS));
			return;
		}
		vm->worker.pressure_backoff_ms =
			vmem_backoff_next(vm->worker.pressure_backoff_ms,
					  VMEM_FLOOR_RETRY_MS,
					  VMEM_PRESSURE_RETRY_MAX_MS);
		atomic64_inc(&vm->stats.pressure_stops);
		vmem_schedule(vm,
			      msecs_to_jiffies(vm->worker.pressure_backoff_ms));
		return;
	case VMEM_ACT_STOP:
		WRITE_ONCE(vm->broken, true);
		vmem_set_shortfall(vm, reason);
		WRITE_ONCE(vm->worker.last_error, rc);
		WRITE_ONCE(vm->worker.last_error_reason, reason);
		return;
	case VMEM_ACT_BACK_OFF:
		break;
	}
	vmem_set_shortfall(vm, reason);
	WRITE_ONCE(vm->worker.last_error, rc);
	WRITE_ONCE(vm->worker.last_error_reason, reason);
	atomic64_inc(&vm->stats.retries);
	vm->worker.retry_ms = vmem_backoff_next(vm->worker.retry_ms,
						vmem_retry_min_ms,
						max(vmem_retry_min_ms,
						    vmem_retry_max_ms));
	vmem_schedule(vm, msecs_to_jiffies(vm->worker.retry_ms));
}

/**
 * vmem_work_fn() - the worker: one run towards the requested size
 * @work: the device's @worker.work
 *
 * All plugging and unplugging happens here; vmem_retry_policy() decides
 * what happens after the run.
 */
void vmem_work_fn(struct work_struct *work)
{
	struct vmem *vm = container_of(to_delayed_work(work), struct vmem,
				       worker.work);
	int rc, slot;

	if (READ_ONCE(vm->broken))
		return;
	atomic_set(&vm->worker.config_changed, 0);
	if (vmem_refresh_config(vm))
		return;
	/* Its migrations are the driver's: their stalls are no pressure. */
	slot = vmem_own_begin();
	rc = vmem_run(vm);
	vmem_own_end(slot);
	trace_vmem_run(dev_name(&vm->vdev->dev), vm->cfg.requested_size,
		       vmem_plugged_bytes(vm), rc);
	vmem_retry_policy(vm, rc);
}

/**
 * vmem_config_changed() - the device's config changed
 * @vdev: the device
 *
 * Runs the worker at once; a run under way stops at its next step and runs
 * again.
 */
void vmem_config_changed(struct virtio_device *vdev)
{
	struct vmem *vm = vdev->priv;

	/* A capture kernel leaves the device as it is (vmem_kdump_probe()). */
	if (vm->kdump) {
		dev_dbg(&vdev->dev, "kdump mode: config change ignored\n");
		return;
	}
	atomic_set(&vm->worker.config_changed, 1);
	vmem_schedule(vm, 0);
}
