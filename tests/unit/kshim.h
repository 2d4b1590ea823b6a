/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal kernel-type shim so vmem_logic.h compiles in userspace.
 * Types and helpers only: no logic under test lives here.
 */
#ifndef VMEM_TEST_KSHIM_H
#define VMEM_TEST_KSHIM_H

#include <stdbool.h>	/* bool, true, false */
#include <stddef.h>	/* NULL (linux/types.h brings it in the kernel) */
#include <errno.h>	/* EINVAL, ERANGE */

/* Same widths and types as the kernel's asm-generic/int-ll64.h. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

static inline unsigned int hweight64(u64 w)
{
	return (unsigned int)__builtin_popcountll(w);
}

#endif /* VMEM_TEST_KSHIM_H */
