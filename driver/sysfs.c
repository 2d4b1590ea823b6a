// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs attributes of each virtio-mem device, in
 * /sys/bus/virtio/devices/virtioN/: its geometry and mode, the plugged and
 * requested sizes, the shortfall and its reason, and the safety floor, now
 * and as set. Documentation/admin-guide.rst describes them; tests and tools
 * read them, so their names do not change.
 */

#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/sysfs.h>
#include <linux/virtio.h>

#include "vmem.h"

static struct vmem *dev_to_vmem(struct device *dev)
{
	return dev_to_virtio(dev)->priv;
}

#define VMEM_ATTR_U64(_name, _expr)					\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct vmem *vm = dev_to_vmem(dev);				\
									\
	return sysfs_emit(buf, "%llu\n", (u64)(_expr));			\
}									\
static DEVICE_ATTR_RO(_name)

VMEM_ATTR_U64(block_size, vm->geo.block_size);
VMEM_ATTR_U64(sub_block_size, vm->geo.sb_size);
VMEM_ATTR_U64(big_block_size, vm->geo.bb_size);
VMEM_ATTR_U64(region_addr, vm->cfg.addr);
VMEM_ATTR_U64(region_size, vm->cfg.region_size);
VMEM_ATTR_U64(plugged_size, vmem_plugged_bytes(vm));
VMEM_ATTR_U64(requested_size, READ_ONCE(vm->cfg.requested_size));
VMEM_ATTR_U64(shortfall, READ_ONCE(vm->worker.shortfall));

/* The floor now, in bytes: the guest's one floor for its size today. */
static ssize_t safety_floor_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  vmem_floor_bytes(READ_ONCE(vmem_safety_floor_mb),
					   PFN_PHYS(totalram_pages())));
}
static DEVICE_ATTR_RO(safety_floor);

static ssize_t shortfall_reason_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	char why[128];

	vmem_shortfall_reason_format(dev_to_vmem(dev), why, sizeof(why));
	return sysfs_emit(buf, "%s\n", why);
}
static DEVICE_ATTR_RO(shortfall_reason);

/* The guest's one floor setting, as the module parameter safety_floor_mb. */
static ssize_t safety_floor_mb_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return vmem_floor_show(buf, READ_ONCE(vmem_safety_floor_mb));
}

static ssize_t safety_floor_mb_store(struct device *dev,
				     struct device_attribute *attr,
				     const char *buf, size_t count)
{
	int v, rc;

	rc = vmem_floor_parse(buf, &v);
	if (rc)
		return rc;
	WRITE_ONCE(vmem_safety_floor_mb, v);
	return count;
}
static DEVICE_ATTR_RW(safety_floor_mb);

static ssize_t mode_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", vmem_is_bbm(&dev_to_vmem(dev)->geo) ? "bbm" : "sbm");
}
static DEVICE_ATTR_RO(mode);

static struct attribute *vmem_attrs[] = {
	&dev_attr_block_size.attr,
	&dev_attr_sub_block_size.attr,
	&dev_attr_big_block_size.attr,
	&dev_attr_mode.attr,
	&dev_attr_region_addr.attr,
	&dev_attr_region_size.attr,
	&dev_attr_plugged_size.attr,
	&dev_attr_requested_size.attr,
	&dev_attr_shortfall.attr,
	&dev_attr_shortfall_reason.attr,
	&dev_attr_safety_floor.attr,
	&dev_attr_safety_floor_mb.attr,
	NULL,
};

static const struct attribute_group vmem_group = {
	.attrs = vmem_attrs,
};

/* The driver's dev_groups: every device gets these attributes. */
const struct attribute_group *vmem_groups[] = {
	&vmem_group,
	NULL,
};
