/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the virtio-mem driver: requests and their responses, sub
 * block ranges plugged and unplugged, memory block state changes, the
 * worker's runs and the judgement of unplug steps against what the guest
 * needs. Usable with perf trace and trace-cmd (system virtio_mem).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM virtio_mem

#if !defined(VMEM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define VMEM_TRACE_H

#include <linux/tracepoint.h>
#include "vmem_logic.h"

TRACE_EVENT(vmem_request,
	TP_PROTO(const char *dev, u16 type, u64 addr, u64 nb_blocks, int resp),
	TP_ARGS(dev, type, addr, nb_blocks, resp),
	TP_STRUCT__entry(
		__string(dev, dev)
		__string(type, vmem_req_name(type))
		__field(u64, addr)
		__field(u64, nb_blocks)
		__string(resp, vmem_resp_name(resp))
	),
	TP_fast_assign(
		__assign_str(dev, dev);
		__assign_str(type, vmem_req_name(type));
		__entry->addr = addr;
		__entry->nb_blocks = nb_blocks;
		__assign_str(resp, vmem_resp_name(resp));
	),
	TP_printk("%s %s addr=%#llx blocks=%llu resp=%s", __get_str(dev),
		  __get_str(type), __entry->addr, __entry->nb_blocks,
		  __get_str(resp))
);

DECLARE_EVENT_CLASS(vmem_sbs,
	TP_PROTO(const char *dev, u64 mb_id, unsigned int first,
		 unsigned int count, int rc),
	TP_ARGS(dev, mb_id, first, count, rc),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, mb_id)
		__field(unsigned int, first)
		__field(unsigned int, count)
		__field(int, rc)
	),
	TP_fast_assign(
		__assign_str(dev, dev);
		__entry->mb_id = mb_id;
		__entry->first = first;
		__entry->count = count;
		__entry->rc = rc;
	),
	TP_printk("%s memory%llu sub blocks %u+%u rc=%d", __get_str(dev),
		  __entry->mb_id, __entry->first, __entry->count, __entry->rc)
);

DEFINE_EVENT(vmem_sbs, vmem_plug,
	TP_PROTO(const char *dev, u64 mb_id, unsigned int first,
		 unsigned int count, int rc),
	TP_ARGS(dev, mb_id, first, count, rc));

DEFINE_EVENT(vmem_sbs, vmem_unplug,
	TP_PROTO(const char *dev, u64 mb_id, unsigned int first,
		 unsigned int count, int rc),
	TP_ARGS(dev, mb_id, first, count, rc));

TRACE_EVENT(vmem_mb_state,
	TP_PROTO(const char *dev, u64 mb_id, const char *state),
	TP_ARGS(dev, mb_id, state),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, mb_id)
		__string(state, state)
	),
	TP_fast_assign(
		__assign_str(dev, dev);
		__entry->mb_id = mb_id;
		__assign_str(state, state);
	),
	TP_printk("%s memory%llu %s", __get_str(dev), __entry->mb_id,
		  __get_str(state))
);

TRACE_EVENT(vmem_run,
	TP_PROTO(const char *dev, u64 requested, u64 plugged, int rc),
	TP_ARGS(dev, requested, plugged, rc),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, requested)
		__field(u64, plugged)
		__field(int, rc)
	),
	TP_fast_assign(
		__assign_str(dev, dev);
		__entry->requested = requested;
		__entry->plugged = plugged;
		__entry->rc = rc;
	),
	TP_printk("%s requested=%llu plugged=%llu rc=%d", __get_str(dev),
		  __entry->requested, __entry->plugged, __entry->rc)
);

/*
 * One unplug step judged against what the guest needs: the step wanted
 * @want bytes of online memory and may take @allowed; @available is
 * MemAvailable (less steps of other devices in flight), @total MemTotal,
 * @floor the safety floor, @stalls other tasks' allocation stalls since
 * the last step. @decision: go, shrunk (to what the floor allows), floor
 * (nothing may go) or pressure (the unplug backs off). @kernel_available
 * and @kernel_floor: the same for the zones kernel allocations use;
 * @movable_free: free memory of ZONE_MOVABLE that takes a movable step's
 * data first (0 for a step from a kernel zone).
 */
TRACE_EVENT(vmem_guard,
	TP_PROTO(const char *dev, u64 want, u64 allowed, u64 available,
		 u64 total, u64 floor, u64 stalls, const char *decision,
		 u64 kernel_available, u64 kernel_floor, u64 movable_free),
	TP_ARGS(dev, want, allowed, available, total, floor, stalls, decision,
		kernel_available, kernel_floor, movable_free),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, want)
		__field(u64, allowed)
		__field(u64, available)
		__field(u64, total)
		__field(u64, floor)
		__field(u64, stalls)
		__string(decision, decision)
		__field(u64, kernel_available)
		__field(u64, kernel_floor)
		__field(u64, movable_free)
	),
	TP_fast_assign(
		__assign_str(dev, dev);
		__entry->want = want;
		__entry->allowed = allowed;
		__entry->available = available;
		__entry->total = total;
		__entry->floor = floor;
		__entry->stalls = stalls;
		__assign_str(decision, decision);
		__entry->kernel_available = kernel_available;
		__entry->kernel_floor = kernel_floor;
		__entry->movable_free = movable_free;
	),
	TP_printk("%s want=%llu allowed=%llu available=%llu total=%llu floor=%llu stalls=%llu %s kernel_available=%llu kernel_floor=%llu movable_free=%llu",
		  __get_str(dev), __entry->want, __entry->allowed,
		  __entry->available, __entry->total, __entry->floor,
		  __entry->stalls, __get_str(decision),
		  __entry->kernel_available, __entry->kernel_floor,
		  __entry->movable_free)
);

#endif /* VMEM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vmem_trace
#include <trace/define_trace.h>
