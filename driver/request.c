// SPDX-License-Identifier: GPL-2.0
/*
 * Requests to the virtio-mem device: one at a time over the guest-request
 * virtqueue (vmem_send()), ranges of sub blocks split into as many requests
 * as the device takes (vmem_request_sbs_head()), UNPLUG_ALL, and the
 * invalid request debugfs can inject.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/bug.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/stddef.h>
#include <linux/timekeeping.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>
#include <linux/wait.h>

#include "vmem.h"
#include "vmem_trace.h"

/* vmem_logic.h numbers the responses as the device sends them. */
static_assert(VMEM_RESP_ACK == VIRTIO_MEM_RESP_ACK);
static_assert(VMEM_RESP_NACK == VIRTIO_MEM_RESP_NACK);
static_assert(VMEM_RESP_BUSY == VIRTIO_MEM_RESP_BUSY);
static_assert(VMEM_RESP_ERROR == VIRTIO_MEM_RESP_ERROR);

/**
 * vmem_vq_done() - the device answered a request
 * @vq: the guest-request virtqueue
 *
 * Wakes vmem_send(), which waits for the answer.
 */
void vmem_vq_done(struct virtqueue *vq)
{
	struct vmem *vm = vq->vdev->priv;

	wake_up(&vm->rq.resp_wq);
}

/**
 * vmem_send() - send one request and wait for the answer
 * @vm: the device
 * @type: the request, VIRTIO_MEM_REQ_*
 * @addr: start of the range it is about
 * @nb_blocks: device blocks in the range, at most U16_MAX
 * @state: where the answer to a STATE request goes; NULL for the others
 *
 * Context: may sleep; takes @vm->rq.lock.
 * Return: the response type, or a negative errno when the request could not
 * be queued (or the answer was too short: -EPROTO).
 */
int vmem_send(struct vmem *vm, u16 type, u64 addr, u64 nb_blocks, u16 *state)
{
	struct virtio_device *vdev = vm->vdev;
	struct scatterlist out, in, *sgs[2] = { &out, &in };
	unsigned int len;
	size_t needed;
	u64 start;
	int rc;

	/* The request has 16 bits for it: callers split larger ranges. */
	if (WARN_ON_ONCE(nb_blocks > U16_MAX))
		return -EINVAL;
	mutex_lock(&vm->rq.lock);
	if (unlikely(!vm->vq)) {
		/* A resume could not set the queue up again. */
		mutex_unlock(&vm->rq.lock);
		return -ENODEV;
	}
	memset(&vm->rq.req, 0, sizeof(vm->rq.req));
	vm->rq.req.type = cpu_to_virtio16(vdev, type);
	vm->rq.req.u.plug.addr = cpu_to_virtio64(vdev, addr);
	vm->rq.req.u.plug.nb_blocks = cpu_to_virtio16(vdev, nb_blocks);
	sg_init_one(&out, &vm->rq.req, sizeof(vm->rq.req));
	sg_init_one(&in, &vm->rq.resp, sizeof(vm->rq.resp));

	rc = virtqueue_add_sgs(vm->vq, sgs, 1, 1, vm, GFP_KERNEL);
	if (rc) {
		mutex_unlock(&vm->rq.lock);
		return rc;
	}
	start = ktime_get_ns();
	virtqueue_kick(vm->vq);
	wait_event(vm->rq.resp_wq, virtqueue_get_buf(vm->vq, &len));
	atomic64_add(ktime_get_ns() - start, &vm->stats.ns_requests);

	/* A response the device did not write would repeat the last one. */
	needed = state ? offsetofend(struct virtio_mem_resp, u.state.state) :
			 offsetofend(struct virtio_mem_resp, type);
	if (len < needed) {
		mutex_unlock(&vm->rq.lock);
		dev_err(&vdev->dev, "%s answered with %u bytes, %zu needed, stopping\n",
			vmem_req_names[type], len, needed);
		return -EPROTO;
	}
	rc = virtio16_to_cpu(vdev, vm->rq.resp.type);
	if (state)
		*state = virtio16_to_cpu(vdev, vm->rq.resp.u.state.state);
	mutex_unlock(&vm->rq.lock);

	atomic64_inc(&vm->stats.requests[type][min_t(int, rc, 4)]);
	trace_vmem_request(dev_name(&vdev->dev), type, addr, nb_blocks, rc);
	return rc;
}

/* vmem_send_fn for vmem_request_split(): one request, failures logged. */
static int vmem_send_split(void *ctx, bool plug, u64 addr, u64 nb_blocks)
{
	struct vmem *vm = ctx;
	const u16 type = plug ? VIRTIO_MEM_REQ_PLUG : VIRTIO_MEM_REQ_UNPLUG;
	int resp = vmem_send(vm, type, addr, nb_blocks, NULL);
	int rc = resp < 0 ? resp : vmem_resp_to_errno(resp);

	if (rc == -EIO)
		dev_err(&vm->vdev->dev,
			"%s [%#llx, %#llx) answered ERROR: driver and device disagree, stopping\n",
			vmem_req_names[type], addr,
			addr + nb_blocks * vm->geo.block_size);
	else if (rc == -EPROTO && resp >= 0)
		dev_err(&vm->vdev->dev,
			"%s answered with unknown response type %d, stopping\n",
			vmem_req_names[type], resp);
	else if (rc && rc != VMEM_NACK && rc != VMEM_DEV_BUSY && rc != -EPROTO)
		dev_err(&vm->vdev->dev, "%s could not be sent: %d, stopping\n",
			vmem_req_names[type], rc);
	return rc;
}

/**
 * vmem_request_sbs_head() - plug or unplug sub blocks, keeping a failed head
 * @vm: the device
 * @type: VIRTIO_MEM_REQ_PLUG or VIRTIO_MEM_REQ_UNPLUG
 * @mb_id: the memory block
 * @first: the first sub block
 * @count: how many sub blocks
 * @head: for an UNPLUG that fails: sub blocks unplugged all the same (may be
 *	NULL)
 *
 * Plug or unplug sub blocks [@first, @first + @count) of memory block @mb_id
 * (in Big Block Mode, memory blocks from @mb_id on), in as many requests as
 * the device needs, each ending on a sub block. A PLUG that fails half way
 * is undone; -EIO if that fails too (the driver stops). An UNPLUG that fails
 * half way is not: *@head (if given) says how many sub blocks from @first
 * on are unplugged all the same, and the caller must treat them so.
 *
 * Return: 0, or the result of the request that failed (see
 * vmem_request_split()).
 */
int vmem_request_sbs_head(struct vmem *vm, u16 type, u64 mb_id,
			  unsigned int first, unsigned int count,
			  unsigned int *head)
{
	const u64 bs = vm->geo.block_size;
	u64 addr = vmem_sb_id_to_phys(&vm->geo, mb_id, first);
	u64 changed;
	int rc;

	rc = vmem_request_split(vmem_send_split, vm,
				type == VIRTIO_MEM_REQ_PLUG, addr,
				(u64)count * vm->geo.sb_size / bs, bs,
				vm->geo.sb_size / bs, &changed);
	if (rc == -EIO && changed && type == VIRTIO_MEM_REQ_PLUG)
		dev_err(&vm->vdev->dev, "cannot undo a partial PLUG at %#llx, stopping\n",
			addr);
	if (head)
		*head = rc && type == VIRTIO_MEM_REQ_UNPLUG ?
			changed * bs / vm->geo.sb_size : 0;
	return rc;
}

/**
 * vmem_request_sbs() - plug or unplug sub blocks
 * @vm: the device
 * @type: VIRTIO_MEM_REQ_PLUG or VIRTIO_MEM_REQ_UNPLUG
 * @mb_id: the memory block
 * @first: the first sub block
 * @count: how many sub blocks
 *
 * As vmem_request_sbs_head(), for a PLUG (undone whole) or a one-request
 * UNPLUG.
 *
 * Return: as vmem_request_sbs_head().
 */
int vmem_request_sbs(struct vmem *vm, u16 type, u64 mb_id, unsigned int first,
		     unsigned int count)
{
	unsigned int head;
	int rc = vmem_request_sbs_head(vm, type, mb_id, first, count, &head);

	WARN_ON_ONCE(head);
	return rc;
}

/**
 * vmem_unplug_all() - send UNPLUG_ALL
 * @vm: the device
 *
 * Return: 0, VMEM_DEV_BUSY, or -EPROTO when the device refused or could not
 * be asked (the driver stops).
 */
int vmem_unplug_all(struct vmem *vm)
{
	int resp = vmem_send(vm, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL);
	int rc = resp < 0 ? resp : vmem_resp_to_errno(resp);

	if (rc && rc != VMEM_DEV_BUSY) {
		dev_err(&vm->vdev->dev, "UNPLUG_ALL failed (response %d), stopping\n",
			resp);
		return -EPROTO;
	}
	return rc;
}

/**
 * vmem_send_invalid_request() - send a request the device must answer ERROR
 * @vm: the device
 *
 * Breaks the spec on purpose, for debugfs's inject: unplug a sub block that
 * is not plugged.
 *
 * Return: the request's result (-EIO for ERROR), or -EINVAL when no memory
 * block has an unplugged first sub block.
 */
int vmem_send_invalid_request(struct vmem *vm)
{
	u64 i;

	for (i = vm->geo.nb_mb; i-- > 0;)
		if (!(vm->blocks.mb[i].plugged & 1))
			return vmem_request_sbs(vm, VIRTIO_MEM_REQ_UNPLUG,
						vm->geo.first_mb_id + i, 0, 1);
	return -EINVAL;
}
