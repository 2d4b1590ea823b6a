// SPDX-License-Identifier: GPL-2.0
/*
 * The tracepoints of vmem_trace.h (system virtio_mem) are defined here: the
 * one file that includes it with CREATE_TRACE_POINTS. The other files
 * include it plainly to call them.
 */

#define CREATE_TRACE_POINTS
#include "vmem_trace.h"
