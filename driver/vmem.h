/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-mem guest driver: fine-grained hot(un)plug of guest memory.
 *
 * The device owns a physical region. The driver plugs device blocks on
 * request of the host, hands whole Linux memory blocks to the kernel with
 * add_memory_driver_managed() and keeps the parts of a memory block that are
 * not plugged away from the buddy as PageOffline pages ("fake-offline").
 * Unplug takes pages back with alloc_contig_range(), marks them PageOffline
 * and tells the device; a memory block with nothing plugged is removed. Sub
 * Block Mode is for device blocks smaller than a memory block (a memory
 * block may be partly plugged), Big Block Mode for larger ones.
 *
 * This internal header holds struct vmem (one device), its locks and their
 * order, the helpers that guard its block states, and what the files of
 * driver/ share, file by file:
 *
 *   core.c     probe, remove, suspend and resume; module init and exit
 *   worker.c   the worker: one run towards the requested size, and the
 *              retry policy that decides what follows it
 *   request.c  requests to the device
 *   memory.c   memory hotplug the same in both modes: block state changes,
 *              fake-offline pages, the online-page callback, the memory
 *              notifier, adding and removing units, bounded offlining
 *   sbm.c      Sub Block Mode plug and unplug
 *   bbm.c      Big Block Mode plug and unplug
 *   guard.c    what the guest needs: the safety floor and memory pressure
 *   params.c   module parameters
 *   sysfs.c    the device's attributes
 *   debugfs.c  counters, the block map, error injection
 *   trace.c    defines the tracepoints of vmem_trace.h
 *   kdump.c    kdump mode (CONFIG_PROC_VMCORE)
 *
 * The pure logic (config checks, geometry, block state, planning, the floor,
 * the result table) is in vmem_logic.h, shared with tests/unit and
 * tests/fuzz.
 */
#ifndef VMEM_H
#define VMEM_H

#include <linux/atomic.h>
#include <linux/crash_dump.h>
#include <linux/device.h>
#include <linux/errno.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/page-flags.h>
#include <linux/printk.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/virtio.h>
#include <linux/virtio_mem.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "vmem_logic.h"

/*
 * Lock order, outermost first (the one place it is written down):
 *
 *   core mm's device_hotplug_lock and mem_hotplug_lock (the memory notifier
 *   and the online-page callback are called with them held)
 *     vmem_devices_lock (the online-page callback)
 *       vmem->hotplug.lock (vmem_lock_blocks() / vmem_unlock_blocks(), or
 *       plain mutex_lock() in the notifier and the callback)
 *         vmem->rq.lock (one request in flight)
 *
 * vmem->worker.stop_lock is a leaf. Never call into memory hotplug (add,
 * offline, remove) with hotplug.lock held: the notifier takes it.
 */

/**
 * struct vmem_requests - requests to the device, one at a time
 * @lock: serialises requests: one request is in flight at a time, and
 *	@req and @resp belong to it
 * @resp_wq: woken when the device has answered
 * @req: request buffer
 * @resp: response buffer
 */
struct vmem_requests {
	struct mutex lock;		/* one request in flight */
	wait_queue_head_t resp_wq;
	struct virtio_mem_req req;
	struct virtio_mem_resp resp;
};

/**
 * struct vmem_hotplug - the block states against core mm's onlining and
 *	offlining
 * @lock: protects the device's @blocks and @active against the memory
 *	notifier and the online-page callback, each of which takes it only for
 *	the duration of one call. Never held while calling into memory hotplug
 *	(add/offline/remove), nor across notifier calls (lockdep rightly
 *	objects to a mutex held from one memory_notify() to the next).
 * @active: an online or offline of one of our memory blocks is between
 *	MEM_GOING_* and its end; the worker takes @lock only while it is false
 *	(vmem_lock_blocks()), so a memory block never changes its online state
 *	while the worker holds the lock. Written by the notifier, which core mm
 *	serialises.
 * @wq: woken when @active turns false
 * @closing: remove() is about to unregister the memory notifier: new
 *	onlines and offlines of our memory blocks are refused, so none is
 *	half done when the notifier goes (set under @lock while no operation
 *	is active)
 * @memmap_on_memory: try to host each memory block's memmap in the block
 *	(Sub Block Mode only); cleared when the kernel refuses
 * @adding: the worker is inside add_memory_driver_managed()
 * @add_online_failed: the kernel tried to online memory while @adding and
 *	a memory notifier refused; written by the notifier in the worker's
 *	own call chain
 */
struct vmem_hotplug {
	struct mutex lock;		/* blocks vs. online/offline */
	bool active;
	wait_queue_head_t wq;
	bool closing;
	bool memmap_on_memory;
	bool adding;
	bool add_online_failed;
};

/**
 * struct vmem_worker - the worker and what it keeps between runs
 * @work: the worker; all plugging and unplugging happens in it
 * @stop_lock: protects @stopping against the config-change interrupt
 * @stopping: the device is going away: queue no more work
 * @config_changed: set on a config change, cleared when the worker reads
 *	the config; long operations check it between steps
 * @unplug_all_pending: memory was plugged at probe; UNPLUG_ALL first
 * @retry_ms: current retry delay, 0 when the last run succeeded
 * @pressure_backoff_ms: current pause after memory pressure stopped an
 *	unplug, 0 when the last run did not stop for it
 * @inject_error: debugfs asked the worker to send a request the device
 *	must answer with ERROR, to exercise that path against a real device
 * @shortfall: bytes between the plugged size and the target, when the
 *	worker could not reach it
 * @shortfall_reason: why, for sysfs; a static string
 * @last_error: the last failed result of a worker run, 0 if none yet
 * @last_error_reason: what it meant; a static string
 * @reported_size: plugged size last announced in the kernel log
 */
struct vmem_worker {
	struct delayed_work work;
	spinlock_t stop_lock;		/* @stopping vs. config irq */
	bool stopping;
	atomic_t config_changed;
	bool unplug_all_pending;
	unsigned int retry_ms;
	unsigned int pressure_backoff_ms;
	bool inject_error;
	u64 shortfall;
	const char *shortfall_reason;
	int last_error;
	const char *last_error_reason;
	u64 reported_size;
};

/**
 * struct vmem_guard - the last judgement of an unplug step (guard.c)
 * @stalls_seen: allocation stalls when the last unplug step was judged (or
 *	the run began), the start of the window the next step is judged on
 * @held: bytes the last judged step may take, reserved against the steps
 *	of other devices (vmem_guard_reserved) until the next judgement or the
 *	end of the run
 * @avail: MemAvailable at the last judgement (less other devices'
 *	reservations), for the shortfall reason
 * @floor: the safety floor at the last judgement
 * @kernel_avail: memory available in the kernel zones at the last
 *	judgement (less other devices' reservations)
 * @kernel_floor: what the kernel zones must keep available
 * @kernel_stop: the kernel zones, not the guest as a whole, stopped the
 *	last judged step (which reason the shortfall gives)
 * @stalls: other tasks' stalls in the window that stopped the last unplug
 *	for pressure
 */
struct vmem_guard {
	struct vmem_stalls stalls_seen;
	u64 held;
	u64 avail;
	u64 floor;
	u64 kernel_avail;
	u64 kernel_floor;
	bool kernel_stop;
	u64 stalls;
};

/**
 * struct vmem_stats - counters, for debugfs
 * @requests: requests by type and response (last column: unknown response)
 * @retries: delayed retries scheduled after transient failures
 * @ns_requests: time spent waiting for the device's answers
 * @ns_add: time spent in add_memory_driver_managed() (includes onlining)
 * @ns_offline: time spent offlining and removing memory
 * @ns_take: time spent taking pages with alloc_contig_range()
 * @offline_timeouts: whole-block offlines abandoned after offline_timeout_ms
 * @offline_fallbacks: whole-block offlines that failed, so the block was
 *	unplugged page by page
 * @floor_stops: worker runs the safety floor stopped (one a
 *	VMEM_FLOOR_RETRY_MS while it holds)
 * @floor_shrunk_steps: unplug steps the floor let only partly go
 * @pressure_stops: worker runs memory pressure stopped
 */
struct vmem_stats {
	atomic64_t requests[4][5];
	atomic64_t retries;
	atomic64_t ns_requests;
	atomic64_t ns_add;
	atomic64_t ns_offline;
	atomic64_t ns_take;
	atomic64_t offline_timeouts;
	atomic64_t offline_fallbacks;
	atomic64_t floor_stops;
	atomic64_t floor_shrunk_steps;
	atomic64_t pressure_stops;
};

#ifdef CONFIG_PROC_VMCORE
/**
 * struct vmem_vmcore - what kdump mode answers /proc/vmcore from (kdump.c)
 * @cb: the /proc/vmcore callback
 * @lock: protects the STATE cache below
 * @state_start: start of the range whose state is cached
 * @state_end: end of the cached range, 0 when nothing is cached
 * @state_plugged: the cached range is plugged
 * @mixed_start: start of the last memory block the device called MIXED
 * @mixed_end: its end, 0 when there is none
 */
struct vmem_vmcore {
	struct vmcore_cb cb;
	struct mutex lock;		/* the STATE cache */
	u64 state_start;
	u64 state_end;
	bool state_plugged;
	u64 mixed_start;
	u64 mixed_end;
};
#endif

/**
 * struct vmem - one virtio-mem device
 * @vdev: the virtio device
 * @vq: the guest-request virtqueue; NULL after a resume failed to set it up
 * @rq: requests to the device
 * @cfg: device config as last read by the worker
 * @geo: layout of the region
 * @blocks: memory block states and plugged sub blocks, guarded by
 *	@hotplug.lock
 * @hotplug: the block states against onlining and offlining
 * @nid: NUMA node of the memory
 * @mgid: memory group id, so online policies see the device as one unit
 * @region_res: the claimed device region, parent of the added memory
 * @region_name: the region's name in /proc/iomem (the device's name)
 * @ram_name: the name of the memory added below it
 * @mem_nb: memory notifier
 * @list: entry in vmem_devices
 * @worker: the worker
 * @broken: the device misbehaved; nothing more is sent to it
 * @guard: the last judgement of an unplug step
 * @stats: counters
 * @debugfs: the device's debugfs directory
 * @kdump: running in a kdump capture kernel: no hotplug, only answers for
 *	/proc/vmcore
 * @vmcore: kdump mode's answers for /proc/vmcore
 */
struct vmem {
	struct virtio_device *vdev;
	struct virtqueue *vq;
	struct vmem_requests rq;

	struct vmem_config cfg;
	struct vmem_geometry geo;
	struct vmem_blocks blocks;
	struct vmem_hotplug hotplug;

	int nid;
	int mgid;
	struct resource *region_res;
	char *region_name;
	char *ram_name;
	struct notifier_block mem_nb;
	struct list_head list;

	struct vmem_worker worker;
	bool broken;
	struct vmem_guard guard;
	struct vmem_stats stats;
	struct dentry *debugfs;

	bool kdump;
#ifdef CONFIG_PROC_VMCORE
	struct vmem_vmcore vmcore;
#endif
};

/*
 * Take @vm->hotplug.lock once no online or offline of our memory is under
 * way: how the worker locks the block states (the memory notifier and the
 * online-page callback take the lock directly, for one call each).
 */
static inline void vmem_lock_blocks(struct vmem *vm)
{
	for (;;) {
		mutex_lock(&vm->hotplug.lock);
		if (!vm->hotplug.active)
			return;
		mutex_unlock(&vm->hotplug.lock);
		wait_event(vm->hotplug.wq, !READ_ONCE(vm->hotplug.active));
	}
}

/* Release what vmem_lock_blocks() took. */
static inline void vmem_unlock_blocks(struct vmem *vm)
{
	mutex_unlock(&vm->hotplug.lock);
}

/* Long operations stop between steps when the config changed. */
static inline bool vmem_should_restart(struct vmem *vm)
{
	return !READ_ONCE(vm->worker.stopping) &&
	       atomic_read(&vm->worker.config_changed);
}

/* Bytes plugged, by the driver's count. */
static inline u64 vmem_plugged_bytes(struct vmem *vm)
{
	return vm->blocks.plugged_sbs * vm->geo.sb_size;
}

/* The requested size, rounded down to whole units (sub or big blocks). */
static inline u64 vmem_target_bytes(struct vmem *vm)
{
	return vmem_align_down(vm->cfg.requested_size, vmem_unit_size(&vm->geo));
}

#ifdef VMEM_HAVE_OFFLINE_SKIPPABLE
/*
 * Core mm with mm-patches/0002 lets offlining skip the fake-offline pages
 * marked so (see vmem_fake_offline_drop_refs()); 6.1 cannot.
 */
static inline void vmem_page_set_skippable(struct page *page)
{
	__page_set_offline_skippable(page);
}

static inline void vmem_page_clear_skippable(struct page *page)
{
	__page_clear_offline_skippable(page);
}
#else
static inline void vmem_page_set_skippable(struct page *page)
{
}

static inline void vmem_page_clear_skippable(struct page *page)
{
}
#endif

/*
 * Internal results are the VMEM_* errnos of vmem_logic.h, one meaning
 * each; vmem_result_from_errno() and vmem_result_action() there turn them
 * into what the worker does next (vmem_retry_policy()).
 */

/* core.c: probe, remove, suspend */
void vmem_read_config(struct vmem *vm, struct vmem_config *cfg);
int vmem_check_config(struct vmem *vm, const struct vmem_config *cfg);
void vmem_print_facts(struct vmem *vm);

/* worker.c: the worker and its retry policy */
void vmem_shortfall_reason_format(struct vmem *vm, char *buf, size_t size);
void vmem_schedule(struct vmem *vm, unsigned long delay);
void vmem_work_fn(struct work_struct *work);
void vmem_config_changed(struct virtio_device *vdev);

/* request.c: requests to the device */
void vmem_vq_done(struct virtqueue *vq);
int vmem_send(struct vmem *vm, u16 type, u64 addr, u64 nb_blocks, u16 *state);
int vmem_request_sbs_head(struct vmem *vm, u16 type, u64 mb_id,
			  unsigned int first, unsigned int count,
			  unsigned int *head);
int vmem_request_sbs(struct vmem *vm, u16 type, u64 mb_id, unsigned int first,
		     unsigned int count);
int vmem_unplug_all(struct vmem *vm);
int vmem_send_invalid_request(struct vmem *vm);

/* memory.c: memory hotplug, the same in both modes */
/* Block state names, for debugfs and the vmem_mb_state tracepoint. */
extern const char * const vmem_mb_state_names[VMEM_MB_NR_STATES];
/*
 * The devices the online-page callback looks addresses up in, guarded by
 * vmem_devices_lock.
 */
extern struct list_head vmem_devices;
extern struct mutex vmem_devices_lock;
void vmem_set_mb_state(struct vmem *vm, u64 mb_id, enum vmem_mb_state state);
void vmem_pages_set_offline(unsigned long pfn, unsigned long nr,
			    bool fresh_memmap);
void vmem_pages_clear_offline(unsigned long pfn, unsigned long nr);
void vmem_pages_give_to_buddy(unsigned long pfn, unsigned long nr);
void vmem_online_page_cb(struct page *page, unsigned int order);
int vmem_memory_notifier_cb(struct notifier_block *nb, unsigned long action,
			    void *arg);
int vmem_plug_and_add(struct vmem *vm, u64 mb_id, u64 nb_mbs,
		      unsigned int count);
int vmem_offline_and_remove_bounded(struct vmem *vm, u64 addr, u64 size,
				    unsigned int timeout_ms);
int vmem_unplug_leftovers(struct vmem *vm);
int vmem_remove_unit(struct vmem *vm, u64 mb_id);
int vmem_remove_empty_units(struct vmem *vm);

/* sbm.c: Sub Block Mode */
int vmem_sbm_plug(struct vmem *vm, u64 nb_sbs);
int vmem_sbm_unplug(struct vmem *vm, u64 nb_sbs);

/* bbm.c: Big Block Mode */
int vmem_bbm_plug(struct vmem *vm, u64 nb_bbs);
int vmem_bbm_unplug(struct vmem *vm, u64 nb_bbs);

/* guard.c: what the guest needs, the safety floor and memory pressure */
int vmem_own_begin(void);
void vmem_own_end(int slot);
const char *vmem_pressure_signal(void);
void vmem_stalls_sample(struct vmem_stalls *s);
u64 vmem_kernel_available(u64 *total);
void vmem_guard_release(struct vmem *vm);
int vmem_guard_step(struct vmem *vm, u64 unit, u64 *nb, bool movable);
#ifdef CONFIG_TRACEPOINTS
void vmem_reclaim_probe_register(void);
void vmem_reclaim_probe_unregister(void);
#else
static inline void vmem_reclaim_probe_register(void)
{
	pr_notice("no tracepoints: memory pressure is judged on allocstall, the driver's own stalls included\n");
}

static inline void vmem_reclaim_probe_unregister(void)
{
}
#endif

/*
 * params.c: module parameters, read where they act; each is described at
 * its module_param_cb().
 */
extern unsigned int vmem_retry_min_ms;
extern unsigned int vmem_retry_max_ms;
extern unsigned long vmem_bbm_block_size;
extern bool vmem_memmap_on_memory;
extern unsigned int vmem_offline_timeout_ms;
extern int vmem_safety_floor_mb;
extern unsigned int vmem_pressure_stalls;
int vmem_floor_parse(const char *val, int *floor_mb);
int vmem_floor_show(char *buf, int floor_mb);

/* sysfs.c: the device's attributes */
extern const struct attribute_group *vmem_groups[];

/* debugfs.c: the driver's debugfs */
/* /sys/kernel/debug/virtio_mem, with a directory per device below it. */
extern struct dentry *vmem_debugfs_root;
void vmem_debugfs_init(struct vmem *vm);

/* kdump.c: kdump mode, built with CONFIG_PROC_VMCORE */
#ifdef CONFIG_PROC_VMCORE
int vmem_kdump_probe(struct vmem *vm);
void vmem_kdump_remove(struct vmem *vm);
#else
static inline int vmem_kdump_probe(struct vmem *vm)
{
	dev_err(&vm->vdev->dev, "kdump mode needs CONFIG_PROC_VMCORE\n");
	return -ENODEV;
}

static inline void vmem_kdump_remove(struct vmem *vm)
{
}
#endif

#endif /* VMEM_H */
