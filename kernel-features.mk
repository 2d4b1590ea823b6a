# SPDX-License-Identifier: GPL-2.0
# Core mm changes from mm-patches/, detected in the headers of the kernel
# being built against (included by Kbuild files). Each one selects, at build
# time, the single code path used for that feature.
vmem_hdrs := $(srctree)/include/linux
ifneq ($(shell grep -s -l offline_and_remove_memory_timeout $(vmem_hdrs)/memory_hotplug.h),)
ccflags-y += -DVMEM_HAVE_OFFLINE_TIMEOUT
endif
ifneq ($(shell grep -s -l __page_set_offline_skippable $(vmem_hdrs)/page-flags.h),)
ccflags-y += -DVMEM_HAVE_OFFLINE_SKIPPABLE
endif
