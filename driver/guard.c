// SPDX-License-Identifier: GPL-2.0
/*
 * What the guest needs: every unplug step that takes online memory is
 * judged first (vmem_guard_step()). It may take only what keeps the safety
 * floor available to the guest, and to its kernel zones their share of it;
 * and nothing when the rest of the guest stalled on allocations since the
 * last step (memory pressure). Steps approved are reserved against those of
 * other devices. Documentation/design.rst, "What the guest needs", says why.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/vmstat.h>

#include "vmem.h"
#include "vmem_trace.h"

/*
 * Direct reclaims entered by any task, and by the driver's own threads,
 * whose migrations need free pages too: counted by a probe on the kernel's
 * mm_vmscan_direct_reclaim_begin tracepoint, because the kernel's
 * allocstall counters cannot tell whose stall it was.
 */
static atomic_long_t vmem_reclaim_all = ATOMIC_LONG_INIT(0);
static atomic_long_t vmem_reclaim_own = ATOMIC_LONG_INIT(0);
static struct tracepoint *vmem_reclaim_tp;

/*
 * The driver's threads that may unplug right now (workers, offline
 * threads, unload), each in a slot it claims for itself; NULL is free.
 * The probe compares pointers only, it never dereferences them.
 */
#define VMEM_OWN_SLOTS	16
static struct task_struct *vmem_own_tasks[VMEM_OWN_SLOTS];

/* Bytes the floor approved for steps of all devices, maybe not done yet. */
static atomic64_t vmem_guard_reserved = ATOMIC64_INIT(0);

/**
 * vmem_own_begin() - mark the calling thread as the driver's
 *
 * Its direct reclaims then count as the driver's own, not as pressure.
 *
 * Return: the slot for vmem_own_end(), or -1 if no slot is free.
 */
int vmem_own_begin(void)
{
	int i;

	for (i = 0; i < VMEM_OWN_SLOTS; i++)
		if (!cmpxchg(&vmem_own_tasks[i], NULL, current))
			return i;
	return -1;
}

/**
 * vmem_own_end() - the calling thread is no longer the driver's
 * @slot: what vmem_own_begin() returned
 */
void vmem_own_end(int slot)
{
	if (slot >= 0)
		WRITE_ONCE(vmem_own_tasks[slot], NULL);
}

#ifdef CONFIG_TRACEPOINTS
/* Called in every task entering direct reclaim: keep it short. */
static void vmem_reclaim_probe(void *data, int order, gfp_t gfp_flags)
{
	int i;

	atomic_long_inc(&vmem_reclaim_all);
	for (i = 0; i < VMEM_OWN_SLOTS; i++) {
		if (READ_ONCE(vmem_own_tasks[i]) == current) {
			atomic_long_inc(&vmem_reclaim_own);
			return;
		}
	}
}

static void vmem_reclaim_tp_match(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "mm_vmscan_direct_reclaim_begin"))
		*(struct tracepoint **)priv = tp;
}

/**
 * vmem_reclaim_probe_register() - count direct reclaims with a probe
 *
 * The probe goes on the kernel's mm_vmscan_direct_reclaim_begin
 * tracepoint; without it, the log says what pressure is judged on instead.
 */
void vmem_reclaim_probe_register(void)
{
	struct tracepoint *tp = NULL;

	for_each_kernel_tracepoint(vmem_reclaim_tp_match, &tp);
	if (tp && !tracepoint_probe_register(tp, vmem_reclaim_probe, NULL))
		vmem_reclaim_tp = tp;
	else
		pr_notice("no probe on direct reclaim: memory pressure is judged on allocstall, the driver's own stalls included\n");
}

/**
 * vmem_reclaim_probe_unregister() - remove the probe, once no CPU runs it
 */
void vmem_reclaim_probe_unregister(void)
{
	if (!vmem_reclaim_tp)
		return;
	tracepoint_probe_unregister(vmem_reclaim_tp, vmem_reclaim_probe, NULL);
	tracepoint_synchronize_unregister();
	vmem_reclaim_tp = NULL;
}
#endif

/**
 * vmem_pressure_signal() - what memory pressure is judged on
 *
 * Return: "probe", "allocstall" or "none".
 */
const char *vmem_pressure_signal(void)
{
	if (vmem_reclaim_tp)
		return "probe";
	return IS_ENABLED(CONFIG_VM_EVENT_COUNTERS) ? "allocstall" : "none";
}

/**
 * vmem_stalls_sample() - allocation stalls so far
 * @s: the stalls of all tasks and of the driver's own
 */
void vmem_stalls_sample(struct vmem_stalls *s)
{
#ifdef CONFIG_VM_EVENT_COUNTERS
	int cpu, item;
#endif

	if (vmem_reclaim_tp) {
		/* Own first: the probe counts a stall in all, then in own. */
		s->own = (unsigned long)atomic_long_read(&vmem_reclaim_own);
		s->all = (unsigned long)atomic_long_read(&vmem_reclaim_all);
		return;
	}
	s->all = 0;
	s->own = 0;
#ifdef CONFIG_VM_EVENT_COUNTERS
	/*
	 * The allocstall counters, one per zone up to ZONE_MOVABLE (ZONE_DEVICE
	 * has none). all_vm_events() would take cpus_read_lock(), which ranks
	 * above the memory hotplug locks and hotplug.lock: sum the per-cpu
	 * counters without it.
	 */
	for_each_online_cpu(cpu)
		for (item = ALLOCSTALL_NORMAL - ZONE_NORMAL;
		     item <= ALLOCSTALL_MOVABLE; item++)
			s->all += per_cpu(vm_event_states, cpu).event[item];
#endif
}

/* Free pages of @zone above its high watermark. */
static unsigned long vmem_zone_free(struct zone *zone)
{
	unsigned long free = zone_page_state(zone, NR_FREE_PAGES);
	unsigned long wmark = high_wmark_pages(zone);

	return free > wmark ? free - wmark : 0;
}

/**
 * vmem_kernel_available() - memory kernel allocations can still get
 * @total: the memory the zones below ZONE_MOVABLE manage (may be NULL)
 *
 * si_mem_available()'s estimate (free pages above the high watermark, plus
 * half the file LRU or all of it but the low watermark) over the zones below
 * ZONE_MOVABLE. Reclaimable slab is counted per node, not per zone, and left
 * out.
 *
 * Return: the memory available to the kernel zones, bytes.
 */
u64 vmem_kernel_available(u64 *total)
{
	unsigned long pages = 0, managed = 0;
	int nid, i;

	for_each_online_node(nid) {
		pg_data_t *pgdat = NODE_DATA(nid);

		for (i = 0; i < ZONE_MOVABLE; i++) {
			struct zone *zone = &pgdat->node_zones[i];
			unsigned long file;

			if (!populated_zone(zone))
				continue;
			managed += zone_managed_pages(zone);
			file = zone_page_state(zone, NR_ZONE_ACTIVE_FILE) +
			       zone_page_state(zone, NR_ZONE_INACTIVE_FILE);
			pages += vmem_zone_free(zone);
			pages += file - min(file / 2, low_wmark_pages(zone));
		}
	}
	if (total)
		*total = PFN_PHYS(managed);
	return PFN_PHYS(pages);
}

/* Free memory of ZONE_MOVABLE above its high watermarks. */
static u64 vmem_movable_free(void)
{
	unsigned long pages = 0;
	int nid;

	for_each_online_node(nid) {
		struct zone *zone = &NODE_DATA(nid)->node_zones[ZONE_MOVABLE];

		if (populated_zone(zone))
			pages += vmem_zone_free(zone);
	}
	return PFN_PHYS(pages);
}

/**
 * vmem_guard_release() - drop the reservation of the last step approved
 * @vm: the device whose step it was
 */
void vmem_guard_release(struct vmem *vm)
{
	atomic64_sub(vm->guard.held, &vmem_guard_reserved);
	vm->guard.held = 0;
}

/**
 * vmem_guard_step() - judge an unplug step against what the guest needs
 * @vm: the device
 * @unit: bytes per unit of the step
 * @nb: units the step would take; lowered to what it may take
 * @movable: the memory is in ZONE_MOVABLE
 *
 * Judge an unplug step that would take *@nb units of @unit bytes of online
 * memory. The rest of the guest stalled on allocations since the last
 * judgement (or the start of the run): VMEM_PRESSURE, take nothing. Else
 * the step may take what keeps the safety floor available, and the kernel
 * zones' share of it there (a step from ZONE_MOVABLE, @movable, costs them
 * only what ZONE_MOVABLE's free memory cannot take): *@nb is lowered to
 * that, VMEM_FLOOR when it is nothing. What a step may take stays
 * reserved against other devices' steps until this device's next
 * judgement or vmem_guard_release().
 *
 * Context: the thread that takes the memory, before it takes it, with or
 * without @vm->hotplug.lock.
 * Return: 0 (*@nb may go), VMEM_FLOOR (nothing may) or VMEM_PRESSURE.
 */
int vmem_guard_step(struct vmem *vm, u64 unit, u64 *nb, bool movable)
{
	const int floor_mb = READ_ONCE(vmem_safety_floor_mb);
	const u64 total = PFN_PHYS(totalram_pages());
	const u64 floor = vmem_floor_bytes(floor_mb, total);
	u64 avail, kavail, ktotal, kfloor, mfree, others, stalls, kallowed;
	u64 allowed = 0;
	struct vmem_stalls now;
	const char *decision;
	long pages;
	int rc;

	vmem_guard_release(vm);
	vmem_stalls_sample(&now);
	pages = si_mem_available();
	avail = pages > 0 ? PFN_PHYS(pages) : 0;
	kavail = vmem_kernel_available(&ktotal);
	kfloor = vmem_kernel_floor(floor, ktotal);
	mfree = movable ? vmem_movable_free() : 0;
	/* Steps of other devices that were approved may not show yet. */
	others = atomic64_read(&vmem_guard_reserved);
	avail = avail > others ? avail - others : 0;
	kavail = kavail > others ? kavail - others : 0;
	mfree = mfree > others ? mfree - others : 0;

	if (vmem_under_pressure(&vm->guard.stalls_seen, &now,
				READ_ONCE(vmem_pressure_stalls), &stalls)) {
		rc = VMEM_PRESSURE;
		decision = "pressure";
		WRITE_ONCE(vm->guard.stalls, stalls);
	} else {
		allowed = vmem_floor_allowed(avail, total, floor_mb, unit, *nb);
		kallowed = vmem_kernel_allowed(kavail, kfloor, mfree, unit,
					       *nb);
		WRITE_ONCE(vm->guard.kernel_stop, kallowed < allowed);
		allowed = min(allowed, kallowed);
		rc = allowed ? 0 : VMEM_FLOOR;
		decision = !allowed ? "floor" : allowed < *nb ? "shrunk" : "go";
		if (allowed && allowed < *nb)
			atomic64_inc(&vm->stats.floor_shrunk_steps);
	}
	vm->guard.stalls_seen = now;
	WRITE_ONCE(vm->guard.avail, avail);
	WRITE_ONCE(vm->guard.floor, floor);
	WRITE_ONCE(vm->guard.kernel_avail, kavail);
	WRITE_ONCE(vm->guard.kernel_floor, kfloor);
	trace_vmem_guard(dev_name(&vm->vdev->dev), *nb * unit, allowed * unit,
			 avail, total, floor, stalls, decision,
			 kavail, kfloor, mfree);
	vm->guard.held = allowed * unit;
	atomic64_add(vm->guard.held, &vmem_guard_reserved);
	*nb = allowed;
	return rc;
}
