// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of the virtio-mem driver. Each value is checked when it
 * is set, at load or later through /sys/module/virtio_mem/parameters, and a
 * bad one is refused with one line saying what is wrong. The files that act
 * on them read the variables (declared in vmem.h).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/log2.h>
#include <linux/memory.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include "vmem.h"

unsigned int vmem_retry_min_ms = 1000;
unsigned int vmem_retry_max_ms = 30000;

/* Length of a parameter value without the newline a sysfs write brings. */
static int vmem_param_len(const char *val)
{
	return strcspn(val, "\n");
}

static int vmem_param_set_ms(const char *val, const struct kernel_param *kp)
{
	unsigned int v;
	int rc;

	rc = kstrtouint(val, 0, &v);
	if (rc || v < 10 || v > 3600000) {
		pr_err("%s=%.*s out of range: want 10..3600000 milliseconds\n",
		       kp->name, vmem_param_len(val), val);
		return -EINVAL;
	}
	*(unsigned int *)kp->arg = v;
	return 0;
}

static const struct kernel_param_ops vmem_param_ms_ops = {
	.set = vmem_param_set_ms,
	.get = param_get_uint,
};

module_param_cb(retry_min_ms, &vmem_param_ms_ops, &vmem_retry_min_ms, 0644);
MODULE_PARM_DESC(retry_min_ms,
		 "First retry delay after a transient failure, ms (default 1000)");
module_param_cb(retry_max_ms, &vmem_param_ms_ops, &vmem_retry_max_ms, 0644);
MODULE_PARM_DESC(retry_max_ms,
		 "Longest retry delay; delays double up to it, ms (default 30000)");

unsigned long vmem_bbm_block_size;

static int vmem_param_set_bbm(const char *val, const struct kernel_param *kp)
{
	char *end;
	u64 v = memparse(val, &end);

	if (*end == '\n')
		end++;
	if (*end || (v && (!is_power_of_2(v) || v < memory_block_size_bytes()))) {
		pr_err("bbm_block_size=%s invalid: want 0 or a power of two of at least %lu bytes\n",
		       val, memory_block_size_bytes());
		return -EINVAL;
	}
	*(unsigned long *)kp->arg = v;
	return 0;
}

static const struct kernel_param_ops vmem_param_bbm_ops = {
	.set = vmem_param_set_bbm,
	.get = param_get_ulong,
};

module_param_cb(bbm_block_size, &vmem_param_bbm_ops, &vmem_bbm_block_size,
		0444);
MODULE_PARM_DESC(bbm_block_size,
		 "Use Big Block Mode with big blocks of this size (e.g. 256M), also for small device blocks; 0: only for device blocks of a memory block or more (default 0)");

bool vmem_memmap_on_memory = true;
module_param_named(memmap_on_memory, vmem_memmap_on_memory, bool, 0444);
MODULE_PARM_DESC(memmap_on_memory,
		 "Place the memmap of added memory blocks in the blocks themselves when the kernel allows it (memory_hotplug.memmap_on_memory=1), so growing a small guest costs it no memory (default true)");

unsigned int vmem_offline_timeout_ms = 10000;
module_param_cb(offline_timeout_ms, &vmem_param_ms_ops,
		&vmem_offline_timeout_ms, 0644);
MODULE_PARM_DESC(offline_timeout_ms,
		 "Longest time offlining a whole memory block may take before it is abandoned and the block is unplugged page by page instead, ms (default 10000)");

/*
 * The safety floor of unplug (vmem_floor_bytes()): VMEM_FLOOR_AUTO for the
 * formula, or MiB (0: none). One floor for the guest, whichever device
 * unplugs: the module parameter and every device's safety_floor_mb
 * attribute set the same value.
 */
int vmem_safety_floor_mb = VMEM_FLOOR_AUTO;

/**
 * vmem_floor_parse() - parse a safety floor setting
 * @val: "auto", or MiB from 0 to the guest's MemTotal (a floor above all the
 *	guest's memory could never be met)
 * @floor_mb: the setting: VMEM_FLOOR_AUTO, or MiB
 *
 * For the module parameter and every device's safety_floor_mb attribute.
 * Says what is wrong with a bad setting in one line.
 *
 * Return: 0, or -EINVAL for a bad setting.
 */
int vmem_floor_parse(const char *val, int *floor_mb)
{
	const u64 max = PFN_PHYS(totalram_pages()) >> 20;
	unsigned int v;

	if (sysfs_streq(val, "auto")) {
		*floor_mb = VMEM_FLOOR_AUTO;
		return 0;
	}
	if (kstrtouint(val, 0, &v) || v > max || v > INT_MAX) {
		pr_err("safety_floor_mb=%.*s out of range: want auto, or 0..%llu MiB (0: no floor, at most MemTotal)\n",
		       vmem_param_len(val), val, max);
		return -EINVAL;
	}
	*floor_mb = v;
	return 0;
}

/**
 * vmem_floor_show() - print a safety floor setting for vmem_floor_parse()
 * @buf: the page to print to
 * @floor_mb: the setting: VMEM_FLOOR_AUTO, or MiB
 *
 * Return: the number of characters printed.
 */
int vmem_floor_show(char *buf, int floor_mb)
{
	if (floor_mb < 0)
		return scnprintf(buf, PAGE_SIZE, "auto\n");
	return scnprintf(buf, PAGE_SIZE, "%d\n", floor_mb);
}

static int vmem_param_set_floor(const char *val, const struct kernel_param *kp)
{
	int v, rc;

	rc = vmem_floor_parse(val, &v);
	if (!rc)
		WRITE_ONCE(*(int *)kp->arg, v);
	return rc;
}

static int vmem_param_get_floor(char *buf, const struct kernel_param *kp)
{
	return vmem_floor_show(buf, READ_ONCE(*(int *)kp->arg));
}

static const struct kernel_param_ops vmem_param_floor_ops = {
	.set = vmem_param_set_floor,
	.get = vmem_param_get_floor,
};

module_param_cb(safety_floor_mb, &vmem_param_floor_ops, &vmem_safety_floor_mb,
		0644);
MODULE_PARM_DESC(safety_floor_mb,
		 "Memory an unplug leaves available to the guest (MemAvailable), MiB: auto grows with the guest (72 MiB at 128 MiB, 360 MiB at 2 GiB, 1.5 GiB at 32 GiB), 0 for none, at most MemTotal (default auto)");

/* Allocation stalls of the rest of the guest that stop an unplug. */
unsigned int vmem_pressure_stalls = 8;
#define VMEM_STALLS_MAX		1000000

static int vmem_param_set_stalls(const char *val, const struct kernel_param *kp)
{
	unsigned int v;

	if (kstrtouint(val, 0, &v) || v > VMEM_STALLS_MAX) {
		pr_err("%s=%.*s out of range: want 0..%u allocation stalls (0: ignore memory pressure)\n",
		       kp->name, vmem_param_len(val), val, VMEM_STALLS_MAX);
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, v);
	return 0;
}

static const struct kernel_param_ops vmem_param_stalls_ops = {
	.set = vmem_param_set_stalls,
	.get = param_get_uint,
};

module_param_cb(pressure_stalls, &vmem_param_stalls_ops, &vmem_pressure_stalls,
		0644);
MODULE_PARM_DESC(pressure_stalls,
		 "Allocation stalls (direct reclaim) of other tasks between two unplug steps that stop the unplug and back off; 0 ignores memory pressure (default 8)");
