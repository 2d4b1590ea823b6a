// SPDX-License-Identifier: GPL-2.0
/*
 * A virtio-mem device's life in the driver: its config read and checked,
 * probe (or kdump mode, in a capture kernel), remove (unplug what may go,
 * keep the rest safely), suspend and resume; and the module's init and
 * exit. vmem.h says where everything else is.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/acpi.h>
#include <linux/crash_dump.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/suspend.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "vmem.h"

/* Newer spec: plugged memory survives a suspend to RAM (not in 6.1 uapi). */
#ifndef VIRTIO_MEM_F_PERSISTENT_SUSPEND
#define VIRTIO_MEM_F_PERSISTENT_SUSPEND	2
#endif

/* Attempts to empty the device on unload before memory is kept in place. */
#define VMEM_UNLOAD_TRIES	5

/* Resource name of added memory, as add_memory_driver_managed() wants it. */
static const char vmem_res_name[] = "System RAM (virtio_mem)";

/* ---------------------------------------------------------------------- */
/* The device's config                                                    */
/* ---------------------------------------------------------------------- */

/**
 * vmem_read_config() - read the device's config
 * @vm: the device
 * @cfg: where it goes
 */
void vmem_read_config(struct vmem *vm, struct vmem_config *cfg)
{
	struct virtio_device *vdev = vm->vdev;

	virtio_cread_le(vdev, struct virtio_mem_config, block_size,
			&cfg->block_size);
	virtio_cread_le(vdev, struct virtio_mem_config, node_id, &cfg->node_id);
	virtio_cread_le(vdev, struct virtio_mem_config, addr, &cfg->addr);
	virtio_cread_le(vdev, struct virtio_mem_config, region_size,
			&cfg->region_size);
	virtio_cread_le(vdev, struct virtio_mem_config, usable_region_size,
			&cfg->usable_region_size);
	virtio_cread_le(vdev, struct virtio_mem_config, plugged_size,
			&cfg->plugged_size);
	virtio_cread_le(vdev, struct virtio_mem_config, requested_size,
			&cfg->requested_size);
}

static void vmem_guest_limits(struct vmem_limits *lim)
{
	struct range r = mhp_get_pluggable_range(true);

	lim->page_size = PAGE_SIZE;
	lim->min_sb_size = PAGE_SIZE * pageblock_nr_pages;
	lim->mb_size = memory_block_size_bytes();
	lim->plug_start = r.start;
	lim->plug_end = r.end;
}

/**
 * vmem_check_config() - check a config and explain a bad one in one line
 * @vm: the device
 * @cfg: its config
 *
 * Return: 0, or vmem_config_check()'s error for a bad config.
 */
int vmem_check_config(struct vmem *vm, const struct vmem_config *cfg)
{
	struct vmem_limits lim;
	const char *field;
	int rc;

	vmem_guest_limits(&lim);
	rc = vmem_config_check(cfg, &lim, &field);
	if (rc == -ERANGE)
		dev_err(&vm->vdev->dev,
			"device region [%#llx, %#llx) outside the hotpluggable range [%#llx, %#llx]\n",
			cfg->addr, cfg->addr + cfg->region_size,
			lim.plug_start, lim.plug_end);
	else if (rc)
		dev_err(&vm->vdev->dev,
			"device config breaks the spec: bad %s (block_size %#llx addr %#llx region_size %#llx usable_region_size %#llx plugged_size %#llx)\n",
			field, cfg->block_size, cfg->addr, cfg->region_size,
			cfg->usable_region_size, cfg->plugged_size);
	return rc;
}

/**
 * vmem_print_facts() - log the device's facts as the stock driver does
 * @vm: the device
 *
 * The device's facts in the "key: value" lines the stock driver prints at
 * probe: tools parse them (Firecracker's virtio-mem tests do on 6.1
 * guests), so a drop-in replacement prints them too. A capture kernel
 * sets up no geometry: it prints the device's own facts only.
 */
void vmem_print_facts(struct vmem *vm)
{
	struct device *dev = &vm->vdev->dev;

	dev_info(dev, "start address: 0x%llx\n", vm->cfg.addr);
	dev_info(dev, "region size: 0x%llx\n", vm->cfg.region_size);
	dev_info(dev, "device block size: 0x%llx\n", vm->cfg.block_size);
	if (!vm->kdump) {
		dev_info(dev, "nid: %d\n", vm->nid);
		dev_info(dev, "memory block size: 0x%lx\n",
			 memory_block_size_bytes());
		dev_info(dev, "%s size: 0x%llx\n",
			 vmem_is_bbm(&vm->geo) ? "big block" : "subblock",
			 vmem_unit_size(&vm->geo));
	}
	dev_info(dev, "plugged size: 0x%llx\n", vm->cfg.plugged_size);
	dev_info(dev, "requested size: 0x%llx\n", vm->cfg.requested_size);
}

/* ---------------------------------------------------------------------- */
/* Probe                                                                  */
/* ---------------------------------------------------------------------- */

static int vmem_node(struct vmem *vm)
{
	int nid = NUMA_NO_NODE;

#if defined(CONFIG_ACPI_NUMA)
	if (virtio_has_feature(vm->vdev, VIRTIO_MEM_F_ACPI_PXM))
		nid = pxm_to_node(vm->cfg.node_id);
#endif
	if (nid == NUMA_NO_NODE)
		nid = memory_add_physaddr_to_nid(vm->cfg.addr);
	return nid;
}

static void vmem_free_region_names(struct vmem *vm)
{
	kfree(vm->region_name);
	kfree(vm->ram_name);
	vm->region_name = NULL;
	vm->ram_name = NULL;
}

/*
 * Claim the device region so nothing else is placed there. Resources keep
 * pointers to their names, and memory kept at unload stays claimed after
 * this module is gone (its strings unmapped) and after the device is (its
 * name freed): the names are copies that live as long as the region.
 */
static int vmem_claim_region(struct vmem *vm)
{
	vm->region_name = kstrdup(dev_name(&vm->vdev->dev), GFP_KERNEL);
	vm->ram_name = kstrdup(vmem_res_name, GFP_KERNEL);
	if (!vm->region_name || !vm->ram_name) {
		vmem_free_region_names(vm);
		return -ENOMEM;
	}
	vm->region_res = __request_mem_region(vm->cfg.addr, vm->cfg.region_size,
					      vm->region_name,
					      IORESOURCE_SYSTEM_RAM |
					      IORESOURCE_EXCLUSIVE);
	if (!vm->region_res) {
		vmem_free_region_names(vm);
		dev_err(&vm->vdev->dev,
			"device region [%#llx, %#llx) is busy: memory of an earlier driver instance may still be added\n",
			vm->cfg.addr, vm->cfg.addr + vm->cfg.region_size);
		return -EBUSY;
	}
	/* Added memory becomes a child resource of the region. */
	vm->region_res->flags &= ~IORESOURCE_BUSY;
	return 0;
}

static void vmem_release_region(struct vmem *vm)
{
	vm->region_res->flags |= IORESOURCE_BUSY;
	release_resource(vm->region_res);
	kfree(vm->region_res);
	vm->region_res = NULL;
	vmem_free_region_names(vm);
}

static int vmem_probe(struct virtio_device *vdev)
{
	struct vmem_limits lim;
	struct vmem *vm;
	int rc;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm)
		return -ENOMEM;
	vdev->priv = vm;
	vm->vdev = vdev;
	mutex_init(&vm->rq.lock);
	mutex_init(&vm->hotplug.lock);
	init_waitqueue_head(&vm->hotplug.wq);
	init_waitqueue_head(&vm->rq.resp_wq);
	spin_lock_init(&vm->worker.stop_lock);
	INIT_DELAYED_WORK(&vm->worker.work, vmem_work_fn);
	INIT_LIST_HEAD(&vm->list);

	vmem_read_config(vm, &vm->cfg);
	rc = vmem_check_config(vm, &vm->cfg);
	if (rc)
		goto out_free;
	if (is_kdump_kernel()) {
		rc = vmem_kdump_probe(vm);
		if (rc)
			goto out_free;
		return 0;
	}
	vmem_guest_limits(&lim);
	if (vmem_geometry_init(&vm->geo, &vm->cfg, &lim, vmem_bbm_block_size)) {
		dev_err(&vdev->dev,
			"region [%#llx, %#llx) holds no whole %s block: nothing to plug\n",
			vm->cfg.addr, vm->cfg.addr + vm->cfg.region_size,
			vmem_bbm_block_size ||
			vm->cfg.block_size >= lim.mb_size ? "big" : "memory");
		rc = -EINVAL;
		goto out_free;
	}

	vm->blocks.geo = &vm->geo;
	vm->blocks.mb = kvcalloc(vm->geo.nb_mb, sizeof(*vm->blocks.mb),
				 GFP_KERNEL);
	if (!vm->blocks.mb) {
		rc = -ENOMEM;
		goto out_free;
	}
	vm->blocks.nr_in_state[VMEM_MB_UNUSED] = vm->geo.nb_mb;
	vm->hotplug.memmap_on_memory = vmem_memmap_on_memory &&
				       !vmem_is_bbm(&vm->geo);

	vm->vq = virtio_find_single_vq(vdev, vmem_vq_done, "guest-request");
	if (IS_ERR(vm->vq)) {
		rc = PTR_ERR(vm->vq);
		dev_err(&vdev->dev, "cannot set up the request queue: %d\n", rc);
		goto out_free_blocks;
	}

	vm->nid = vmem_node(vm);
	rc = vmem_claim_region(vm);
	if (rc)
		goto out_del_vq;

	rc = memory_group_register_dynamic(vm->nid,
					   PHYS_PFN(vm->geo.mb_size * vm->geo.bb_mbs));
	if (rc < 0) {
		dev_err(&vdev->dev, "cannot register a memory group: %d\n", rc);
		goto out_release;
	}
	vm->mgid = rc;

	vm->mem_nb.notifier_call = vmem_memory_notifier_cb;
	rc = register_memory_notifier(&vm->mem_nb);
	if (rc)
		goto out_group;

	mutex_lock(&vmem_devices_lock);
	list_add(&vm->list, &vmem_devices);
	mutex_unlock(&vmem_devices_lock);

	virtio_device_ready(vdev);
	vmem_debugfs_init(vm);

	/* We cannot know what a previous owner plugged: start from nothing. */
	vm->worker.unplug_all_pending = vm->cfg.plugged_size != 0;
	vmem_print_facts(vm);
	dev_info(&vdev->dev,
		 "region [%#llx, %#llx), block size %llu KiB, %s %llu KiB, node %d, plugged %llu MiB, requested %llu MiB\n",
		 vm->cfg.addr, vm->cfg.addr + vm->cfg.region_size,
		 vm->geo.block_size >> 10,
		 vmem_is_bbm(&vm->geo) ? "big block" : "sub block",
		 vmem_unit_size(&vm->geo) >> 10, vm->nid,
		 vm->cfg.plugged_size >> 20, vm->cfg.requested_size >> 20);
	vmem_schedule(vm, 0);
	return 0;

out_group:
	memory_group_unregister(vm->mgid);
out_release:
	vmem_release_region(vm);
out_del_vq:
	vdev->config->del_vqs(vdev);
out_free_blocks:
	kvfree(vm->blocks.mb);
out_free:
	kfree(vm);
	vdev->priv = NULL;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Remove                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Unplug and remove everything, for unload and for a suspend that would lose
 * plugged memory. Gives up after a few tries with short pauses. Returns true
 * when no memory of the device is added any more.
 */
static bool vmem_empty_device(struct vmem *vm)
{
	unsigned int delay_ms = 100;
	const char *reason;
	int try, rc = 0;
	/* Here too the floor holds: memory the guest needs stays plugged. */
	int slot = vmem_own_begin();

	vmem_stalls_sample(&vm->guard.stalls_seen);
	for (try = 0; try < VMEM_UNLOAD_TRIES; try++) {
		rc = 0;
		if (vmem_is_bbm(&vm->geo) && vm->blocks.plugged_sbs)
			rc = vmem_bbm_unplug(vm, vmem_plugged_bytes(vm) /
					     vm->geo.bb_size);
		else if (vm->blocks.plugged_sbs)
			rc = vmem_sbm_unplug(vm, vm->blocks.plugged_sbs);
		rc = vmem_remove_empty_units(vm) ?: rc;
		if (vmem_result_action(vmem_result_from_errno(rc), &reason) !=
		    VMEM_ACT_BACK_OFF)
			break;
		msleep(delay_ms);
		delay_ms *= 2;
	}
	vmem_guard_release(vm);
	vmem_own_end(slot);
	return vm->blocks.nr_in_state[VMEM_MB_UNUSED] == vm->geo.nb_mb;
}

/*
 * Memory kept at unload must stay out of core mm's hands once this driver is
 * gone: the online-page callback is restored, and onlining hands every page
 * of a block to the buddy, plugged or not. So offline units with unplugged
 * memory are removed (what is plugged in them stays plugged, unused), and
 * fake-offline pages of online blocks lose the skippable mark, so that
 * offlining them fails instead of skipping them (mm-patches/0002). Returns
 * how many units were removed; *@unsafe counts those that could not be.
 */
static u64 vmem_secure_kept_memory(struct vmem *vm, u64 *unsafe)
{
	const unsigned long sb_pages = PHYS_PFN(vm->geo.sb_size);
	u64 mb_id, i, removed = 0;
	unsigned int sb;

	*unsafe = 0;
	for (mb_id = vm->geo.first_mb_id;
	     mb_id < vm->geo.first_mb_id + vm->geo.nb_mb;
	     mb_id += vm->geo.bb_mbs) {
		bool offline = false, online = false, holes = false;

		vmem_lock_blocks(vm);
		for (i = 0; i < vm->geo.bb_mbs; i++) {
			struct vmem_mb *mb = vmem_mb_get(&vm->blocks, mb_id + i);

			if (mb->state == VMEM_MB_UNUSED)
				continue;
			holes |= !vmem_mb_all_plugged(&vm->geo, mb);
			if (mb->state == VMEM_MB_OFFLINE) {
				offline = true;
				continue;
			}
			online = true;
			for (sb = 0; sb < vm->geo.sbs_per_mb; sb++) {
				unsigned long pfn, p;

				if (mb->plugged & (1ULL << sb))
					continue;
				pfn = PHYS_PFN(vmem_sb_id_to_phys(&vm->geo,
								  mb_id + i, sb));
				for (p = 0; p < sb_pages; p++)
					vmem_page_clear_skippable(pfn_to_page(pfn + p));
			}
		}
		vmem_unlock_blocks(vm);
		if (!offline || !holes)
			continue;
		/* Offline memory of a unit partly online cannot be removed. */
		if (online || vmem_remove_unit(vm, mb_id))
			(*unsafe)++;
		else
			removed++;
	}
	return removed;
}

static void vmem_remove(struct virtio_device *vdev)
{
	struct vmem *vm = vdev->priv;
	u64 removed, unsafe;
	bool empty = true;

	if (vm->kdump) {
		vmem_kdump_remove(vm);
		virtio_reset_device(vdev);
		vdev->config->del_vqs(vdev);
		kfree(vm);
		return;
	}

	debugfs_remove_recursive(vm->debugfs);
	spin_lock_irq(&vm->worker.stop_lock);
	vm->worker.stopping = true;
	spin_unlock_irq(&vm->worker.stop_lock);
	cancel_delayed_work_sync(&vm->worker.work);

	/*
	 * Memory that stays in use is kept: online, plugged, its region
	 * claimed for good, with the copies of its names. Its unplugged parts
	 * stay fake-offline with a reference, so the memory block can never
	 * be offlined and onlined again without this driver; offline blocks
	 * with unplugged parts are removed (vmem_secure_kept_memory()).
	 */
	if (!READ_ONCE(vm->broken))
		empty = vmem_empty_device(vm);
	else
		empty = vm->blocks.nr_in_state[VMEM_MB_UNUSED] == vm->geo.nb_mb;

	if (empty && !READ_ONCE(vm->broken) && vmem_unplug_all(vm))
		dev_warn(&vdev->dev, "UNPLUG_ALL on unload failed\n");

	/*
	 * Let an online or offline in progress end with the notifier's help,
	 * and refuse new ones until it is gone: one that ended after it,
	 * cancelled, would leave fake-offline pages without their reference.
	 */
	vmem_lock_blocks(vm);
	vm->hotplug.closing = true;
	vmem_unlock_blocks(vm);

	if (!empty) {
		removed = vmem_secure_kept_memory(vm, &unsafe);
		if (removed)
			dev_warn(&vdev->dev,
				 "removed %llu offline memory blocks with unplugged memory: onlined without the driver, they would hand it out\n",
				 removed * vm->geo.bb_mbs);
		if (unsafe)
			dev_err(&vdev->dev,
				"%llu offline memory blocks with unplugged memory could not be removed: do not online them\n",
				unsafe * vm->geo.bb_mbs);
	}

	unregister_memory_notifier(&vm->mem_nb);
	mutex_lock(&vmem_devices_lock);
	list_del(&vm->list);
	mutex_unlock(&vmem_devices_lock);

	if (empty) {
		memory_group_unregister(vm->mgid);
		vmem_release_region(vm);
	} else {
		dev_warn(&vdev->dev,
			 "%llu MiB still in use: kept plugged and online, region [%#llx, %#llx) stays claimed\n",
			 vmem_plugged_bytes(vm) >> 20, vm->cfg.addr,
			 vm->cfg.addr + vm->cfg.region_size);
	}

	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	kvfree(vm->blocks.mb);
	kfree(vm);
	vdev->priv = NULL;
}

/* ---------------------------------------------------------------------- */
/* Suspend and resume                                                     */
/* ---------------------------------------------------------------------- */

#ifdef CONFIG_PM_SLEEP
static bool vmem_has_memory(struct vmem *vm)
{
	return vm->blocks.nr_in_state[VMEM_MB_UNUSED] != vm->geo.nb_mb ||
	       vm->blocks.plugged_sbs;
}

/* Says why and returns true if @vm has memory a hibernation image needs. */
static bool vmem_refuses_hibernation(struct vmem *vm)
{
	if (!vmem_has_memory(vm))
		return false;
	dev_err(&vm->vdev->dev,
		"hibernation refused: %llu MiB plugged; set requested-size to 0 first\n",
		vmem_plugged_bytes(vm) >> 20);
	return true;
}

/*
 * Refuse hibernation before it starts, while nothing is frozen yet and no
 * image memory is taken: preallocating the image can fail first, for lack
 * of memory, and then hides why hibernation cannot work. vmem_freeze()
 * checks again, for memory plugged in between.
 */
static int vmem_pm_notifier_cb(struct notifier_block *nb,
			       unsigned long action, void *arg)
{
	struct vmem *vm;
	int rc = NOTIFY_OK;

	if (action != PM_HIBERNATION_PREPARE)
		return NOTIFY_OK;
	mutex_lock(&vmem_devices_lock);
	list_for_each_entry(vm, &vmem_devices, list) {
		mutex_lock(&vm->hotplug.lock);
		if (vmem_refuses_hibernation(vm))
			rc = notifier_from_errno(-EBUSY);
		mutex_unlock(&vm->hotplug.lock);
	}
	mutex_unlock(&vmem_devices_lock);
	return rc;
}

static struct notifier_block vmem_pm_nb = {
	.notifier_call = vmem_pm_notifier_cb,
};

/*
 * Suspend keeps the device's memory as it is, with two exceptions. Waking up
 * from S3 resets the machine, and QEMU unplugs everything on reset unless
 * the device offers VIRTIO_MEM_F_PERSISTENT_SUSPEND: then the device is
 * emptied first (its data migrates to other memory) and plugged again after
 * resume. Hibernation would restore an image over memory that is no longer
 * plugged: it is refused while memory is plugged.
 */
static int vmem_freeze(struct virtio_device *vdev)
{
	struct vmem *vm = vdev->priv;
	bool s3 = pm_suspend_target_state == PM_SUSPEND_MEM;
	bool hibernation = pm_suspend_target_state == PM_SUSPEND_ON;

	/* restore() would start the worker, which a capture kernel never runs. */
	if (vm->kdump) {
		dev_err(&vdev->dev, "kdump mode: suspend refused\n");
		return -EBUSY;
	}
	spin_lock_irq(&vm->worker.stop_lock);
	vm->worker.stopping = true;
	spin_unlock_irq(&vm->worker.stop_lock);
	cancel_delayed_work_sync(&vm->worker.work);

	if (hibernation && vmem_refuses_hibernation(vm))
		goto refuse;
	if (s3 && !virtio_has_feature(vdev, VIRTIO_MEM_F_PERSISTENT_SUSPEND) &&
	    vmem_has_memory(vm) && !READ_ONCE(vm->broken)) {
		dev_info(&vdev->dev,
			 "suspend to RAM: the device does not keep memory plugged, unplugging %llu MiB\n",
			 vmem_plugged_bytes(vm) >> 20);
		if (!vmem_empty_device(vm) || vm->blocks.plugged_sbs) {
			dev_err(&vdev->dev,
				"suspend to RAM refused: %llu MiB still in use and the device would lose it\n",
				vmem_plugged_bytes(vm) >> 20);
			goto refuse;
		}
	}
	/* A device that is not reset may still use the rings being freed. */
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	return 0;

refuse:
	spin_lock_irq(&vm->worker.stop_lock);
	vm->worker.stopping = false;
	spin_unlock_irq(&vm->worker.stop_lock);
	vmem_schedule(vm, 0);
	return -EBUSY;
}

static int vmem_restore(struct virtio_device *vdev)
{
	struct vmem *vm = vdev->priv;
	struct vmem_config cfg;

	vm->vq = virtio_find_single_vq(vdev, vmem_vq_done, "guest-request");
	if (IS_ERR(vm->vq)) {
		int rc = PTR_ERR(vm->vq);

		/* No queue, no requests: the worker stays stopped for good. */
		vm->vq = NULL;
		WRITE_ONCE(vm->broken, true);
		dev_err(&vdev->dev, "cannot set up the request queue after resume: %d, stopping\n",
			rc);
		return rc;
	}
	virtio_device_ready(vdev);

	vmem_read_config(vm, &cfg);
	if (cfg.plugged_size < vmem_plugged_bytes(vm)) {
		dev_err(&vdev->dev,
			"device lost plugged memory across suspend (%llu MiB of %llu MiB), stopping\n",
			cfg.plugged_size >> 20, vmem_plugged_bytes(vm) >> 20);
		WRITE_ONCE(vm->broken, true);
	}
	spin_lock_irq(&vm->worker.stop_lock);
	vm->worker.stopping = false;
	spin_unlock_irq(&vm->worker.stop_lock);
	atomic_set(&vm->worker.config_changed, 1);
	vmem_schedule(vm, 0);
	return 0;
}
#endif

/* ---------------------------------------------------------------------- */
/* The driver and the module                                              */
/* ---------------------------------------------------------------------- */

static unsigned int vmem_features[] = {
#if defined(CONFIG_ACPI_NUMA)
	VIRTIO_MEM_F_ACPI_PXM,
#endif
	VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
	VIRTIO_MEM_F_PERSISTENT_SUSPEND,
};

static const struct virtio_device_id vmem_id_table[] = {
	{ VIRTIO_ID_MEM, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static struct virtio_driver vmem_driver = {
	.feature_table = vmem_features,
	.feature_table_size = ARRAY_SIZE(vmem_features),
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.driver.dev_groups = vmem_groups,
	.id_table = vmem_id_table,
	.probe = vmem_probe,
	.remove = vmem_remove,
	.config_changed = vmem_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze = vmem_freeze,
	.restore = vmem_restore,
#endif
};

static int __init vmem_init(void)
{
	int rc;

	if (vmem_retry_max_ms < vmem_retry_min_ms) {
		pr_err("retry_max_ms=%u is below retry_min_ms=%u\n",
		       vmem_retry_max_ms, vmem_retry_min_ms);
		return -EINVAL;
	}
	rc = set_online_page_callback(&vmem_online_page_cb);
	if (rc) {
		pr_err("another driver owns the online-page callback (is the stock virtio_mem or hv_balloon loaded?)\n");
		return rc;
	}
	vmem_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	vmem_reclaim_probe_register();
	rc = register_virtio_driver(&vmem_driver);
	if (rc) {
		vmem_reclaim_probe_unregister();
		debugfs_remove_recursive(vmem_debugfs_root);
		restore_online_page_callback(&vmem_online_page_cb);
		return rc;
	}
#ifdef CONFIG_PM_SLEEP
	register_pm_notifier(&vmem_pm_nb);
#endif
	return 0;
}

static void __exit vmem_exit(void)
{
#ifdef CONFIG_PM_SLEEP
	unregister_pm_notifier(&vmem_pm_nb);
#endif
	unregister_virtio_driver(&vmem_driver);
	vmem_reclaim_probe_unregister();
	debugfs_remove_recursive(vmem_debugfs_root);
	restore_online_page_callback(&vmem_online_page_cb);
}

module_init(vmem_init);
module_exit(vmem_exit);

MODULE_DEVICE_TABLE(virtio, vmem_id_table);
MODULE_DESCRIPTION("virtio-mem guest driver: fine-grained memory hot(un)plug");
MODULE_LICENSE("GPL");
/* Keep in step with PACKAGE_VERSION in dkms.conf. */
MODULE_VERSION("0.1");
/*
 * The core mm features of mm-patches/ this build uses, as detected in the
 * kernel headers by kernel-features.mk; "none" on Debian's 6.1.
 */
#if defined(VMEM_HAVE_OFFLINE_TIMEOUT) && defined(VMEM_HAVE_OFFLINE_SKIPPABLE)
MODULE_INFO(core_mm, "offline_timeout offline_skippable");
#elif defined(VMEM_HAVE_OFFLINE_TIMEOUT)
MODULE_INFO(core_mm, "offline_timeout");
#elif defined(VMEM_HAVE_OFFLINE_SKIPPABLE)
MODULE_INFO(core_mm, "offline_skippable");
#else
MODULE_INFO(core_mm, "none");
#endif
