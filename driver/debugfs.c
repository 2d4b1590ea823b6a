// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs of the virtio-mem driver (/sys/kernel/debug/virtio_mem/<device>/):
 * counters (stats), the block map (blocks, read by tools/vmemstat) and error
 * injection (inject). Tests read the names: they do not change.
 */

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "vmem.h"

/* virtio_mem/, created at module load, a directory per device below it. */
struct dentry *vmem_debugfs_root;

static const char * const vmem_resp_names[] = {
	"ack", "nack", "busy", "error", "unknown",
};

static int vmem_stats_show(struct seq_file *m, void *unused)
{
	struct vmem *vm = m->private;
	struct vmem_stalls stalls;
	long pages;
	u64 total, floor, kavail, ktotal;
	int t, r;

	mutex_lock(&vm->hotplug.lock);
	for (t = 0; t < VMEM_MB_NR_STATES; t++)
		seq_printf(m, "memory_blocks_%s %llu\n", vmem_mb_state_names[t],
			   vm->blocks.nr_in_state[t]);
	seq_printf(m, "plugged_sub_blocks %llu\n", vm->blocks.plugged_sbs);
	mutex_unlock(&vm->hotplug.lock);
	for (t = 0; t < ARRAY_SIZE(vmem_req_names); t++)
		for (r = 0; r < ARRAY_SIZE(vmem_resp_names); r++)
			seq_printf(m, "requests_%s_%s %lld\n", vmem_req_names[t],
				   vmem_resp_names[r],
				   (long long)atomic64_read(&vm->stats.requests[t][r]));
	seq_printf(m, "retries %lld\n",
		   (long long)atomic64_read(&vm->stats.retries));
	seq_printf(m, "ms_requests %lld\n",
		   (long long)atomic64_read(&vm->stats.ns_requests) /
		   NSEC_PER_MSEC);
	seq_printf(m, "ms_add %lld\n",
		   (long long)atomic64_read(&vm->stats.ns_add) /
		   NSEC_PER_MSEC);
	seq_printf(m, "ms_offline %lld\n",
		   (long long)atomic64_read(&vm->stats.ns_offline) /
		   NSEC_PER_MSEC);
	seq_printf(m, "ms_take %lld\n",
		   (long long)atomic64_read(&vm->stats.ns_take) /
		   NSEC_PER_MSEC);
	seq_printf(m, "offline_timeouts %lld\n",
		   (long long)atomic64_read(&vm->stats.offline_timeouts));
	seq_printf(m, "offline_fallbacks %lld\n",
		   (long long)atomic64_read(&vm->stats.offline_fallbacks));
	pages = si_mem_available();
	total = PFN_PHYS(totalram_pages());
	seq_printf(m, "mem_available %llu\n", pages > 0 ? PFN_PHYS(pages) : 0);
	floor = vmem_floor_bytes(READ_ONCE(vmem_safety_floor_mb), total);
	seq_printf(m, "safety_floor %llu\n", floor);
	kavail = vmem_kernel_available(&ktotal);
	seq_printf(m, "kernel_available %llu\n", kavail);
	seq_printf(m, "kernel_floor %llu\n", vmem_kernel_floor(floor, ktotal));
	seq_printf(m, "floor_stops %lld\n",
		   (long long)atomic64_read(&vm->stats.floor_stops));
	seq_printf(m, "floor_shrunk_steps %lld\n",
		   (long long)atomic64_read(&vm->stats.floor_shrunk_steps));
	seq_printf(m, "pressure_stops %lld\n",
		   (long long)atomic64_read(&vm->stats.pressure_stops));
	seq_printf(m, "pressure_stalls_last %llu\n",
		   READ_ONCE(vm->guard.stalls));
	vmem_stalls_sample(&stalls);
	seq_printf(m, "reclaim_stalls %llu\n", stalls.all);
	seq_printf(m, "reclaim_stalls_own %llu\n", stalls.own);
	seq_printf(m, "pressure_signal %s\n", vmem_pressure_signal());
	seq_printf(m, "broken %d\n", READ_ONCE(vm->broken));
	seq_printf(m, "last_error %d %s\n", READ_ONCE(vm->worker.last_error),
		   READ_ONCE(vm->worker.last_error_reason) ?: "none");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmem_stats);

/*
 * One line per memory block: "memoryN <state> <map>", the map with one
 * character per sub block: '#' plugged, '.' unplugged.
 */
static int vmem_blocks_show(struct seq_file *m, void *unused)
{
	struct vmem *vm = m->private;
	unsigned int sb;
	u64 i;

	mutex_lock(&vm->hotplug.lock);
	for (i = 0; i < vm->geo.nb_mb; i++) {
		const struct vmem_mb *mb = &vm->blocks.mb[i];

		seq_printf(m, "memory%llu %s ", vm->geo.first_mb_id + i,
			   vmem_mb_state_names[mb->state]);
		for (sb = 0; sb < vm->geo.sbs_per_mb; sb++)
			seq_putc(m, mb->plugged & (1ULL << sb) ? '#' : '.');
		seq_putc(m, '\n');
	}
	mutex_unlock(&vm->hotplug.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmem_blocks);

static ssize_t vmem_inject_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct vmem *vm = file->private_data;
	char buf[16] = {};

	if (copy_from_user(buf, ubuf, min(count, sizeof(buf) - 1)))
		return -EFAULT;
	if (!sysfs_streq(buf, "error"))
		return -EINVAL;
	WRITE_ONCE(vm->worker.inject_error, true);
	vmem_schedule(vm, 0);
	return count;
}

static const struct file_operations vmem_inject_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = vmem_inject_write,
	.llseek = no_llseek,
};

/**
 * vmem_debugfs_init() - the device's debugfs directory
 * @vm: the device
 *
 * stats: counters and the guard's numbers; blocks: one line per memory
 * block; inject: "error" makes the worker send a request the device must
 * answer ERROR.
 */
void vmem_debugfs_init(struct vmem *vm)
{
	vm->debugfs = debugfs_create_dir(dev_name(&vm->vdev->dev),
					 vmem_debugfs_root);
	debugfs_create_file("stats", 0444, vm->debugfs, vm, &vmem_stats_fops);
	debugfs_create_file("blocks", 0444, vm->debugfs, vm, &vmem_blocks_fops);
	debugfs_create_file("inject", 0200, vm->debugfs, vm, &vmem_inject_fops);
}
