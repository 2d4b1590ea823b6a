# SPDX-License-Identifier: GPL-2.0
#
# make            build virtio_mem.ko against the installed Debian kernel headers
# make run        boot a guest with the driver and resize its memory
# make check      hygiene, unit, tool and guest tests (see tests/run-all)
# make tools      build tools/vmemctl (host side)
# make bench      benchmarks against the stock driver (bench/run.py)
#
# KDIR selects another kernel build tree; KREL the kernel release.

# KERNEL=patched builds and tests against the kernel `make kernel` builds
# (Debian's linux-source-6.1 + mm-patches/series, in tests/build/kernel);
# the module is then built in tests/build/patched-driver.
KERNEL ?= debian
# The guest tests read the lane (tests/guest/conftest.py: debian_lane).
export RIG_LANE := $(KERNEL)
# The files virtio_mem.ko is built from, the one list of them: Kbuild names
# the objects, and whatever copies or checks the sources (the patched lane
# here, tests/kernel/bisect, tests/hygiene, tests/dkms-check) is given this.
KO_SRCS := Kbuild kernel-features.mk $(sort $(wildcard driver/*.c driver/*.h))
PROBE_SRCS := tests/kmod/Kbuild tests/kmod/mm_probe.c kernel-features.mk
ifeq ($(KERNEL),patched)
PATCHED := $(CURDIR)/tests/build/kernel
KDIR := $(PATCHED)/obj
KREL = $(shell cat $(PATCHED)/release 2>/dev/null)
KO_DIR := $(CURDIR)/tests/build/patched-driver
PROBE_DIR := $(CURDIR)/tests/build/patched-probe
export RIG_KERNEL_ROOT := $(PATCHED)/root
export RIG_VMLINUX := $(KDIR)/vmlinux
export RIG_MM_PATCHED := 1
# Under lockdep and KASAN, routing PCI interrupts through ACPI (AML link
# devices) takes 15 s of every boot; the PIRQ table SeaBIOS gives does the
# same job in no time for the devices present at boot (virtio-pci uses
# MSI-X anyway). ACPI stays on for everything else: hotplug, NUMA, sleep
# states. With KASLR this kernel's MemTotal differs by a page between a cold
# boot and a reboot, which the reboot scenarios compare: nokaslr.
# A hot-added PCI device is set up by ACPI in one go, with every slab
# allocation unwinding its stack for KASAN, under TCG: it held a CPU for 26 s
# once, past RCU's 21 s stall warning. 60 s still catches a real stall.
# no5lvl: identify_cpu() zeroes the boot CPU's feature bits for a moment, so
# pgtable_l5_enabled() says no while the direct map is 5-level; KASAN then
# calls an interrupt's access to it a wild-memory-access (seen once in CI, at
# 0.005 s of a reboot). Four-level paging has no such window.
export RIG_KERNEL_ARGS := acpi=noirq nokaslr rcupdate.rcu_cpu_stall_timeout=60 no5lvl
else ifeq ($(KERNEL),debian)
KREL ?= $(shell ls -d /lib/modules/*-amd64/build 2>/dev/null | sort -V | tail -n1 | cut -d/ -f4)
KDIR ?= /lib/modules/$(KREL)/build
KO_DIR := $(CURDIR)
PROBE_DIR := $(CURDIR)/tests/build/debian-probe
else
$(error KERNEL must be debian or patched, not $(KERNEL))
endif
KO := $(KO_DIR)/virtio_mem.ko
PROBE_KO := $(PROBE_DIR)/mm_probe.ko
export RIG_PROBE_KO := $(PROBE_KO)

.PHONY: all modules probe clean check run bench kernel kernel-bisect deps

all: modules

ifeq ($(KERNEL),patched)
modules: $(CURDIR)/tests/build/kernel/release
	mkdir -p $(KO_DIR)
	cp --parents $(KO_SRCS) $(KO_DIR)/
	$(MAKE) -C $(KDIR) M=$(KO_DIR) modules
else
modules: deps-build
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
endif

# The test module of tests/guest/test_95_mm_patches.py, for the same kernel.
probe: modules
	mkdir -p $(PROBE_DIR)
	cp $(PROBE_SRCS) $(PROBE_DIR)/
	$(MAKE) -C $(KDIR) M=$(PROBE_DIR) modules

# The patched test kernel (tests/kernel/build; ccache keeps rebuilds short).
# `make kernel` always runs the build; other targets only when the series,
# the config or the script changed.
kernel:
	tests/kernel/build

$(CURDIR)/tests/build/kernel/release: mm-patches/series mm-patches/BASE \
		mm-patches/kernel.config $(wildcard mm-patches/0*.patch) \
		tests/kernel/build
	tests/kernel/build

# Every package both lanes need, so that they can then run side by side.
deps: deps-test
	tests/kernel/build --deps

# Every prefix of the series builds (slow: not part of check).
kernel-bisect:
	tests/kernel/bisect $(KO_SRCS)

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	rm -rf tests/unit/build tests/build tests/fuzz/build

include tests/Makefile.deps
include tests/Makefile.unit
include tests/Makefile.fuzz
include tests/Makefile.rig
include tests/Makefile.hygiene
include tools/Makefile.tools

# On the patched kernel only the guest suite runs: the other stages do not
# depend on the kernel the guests boot.
ifeq ($(KERNEL),patched)
CHECK_STAGES ?= guest
endif
check: modules deps-test
	@STAGES="$(CHECK_STAGES)" tests/run-all

check-unit check-fuzz check-guest check-hygiene check-tools: deps-test
check-guest run: modules probe

# Benchmarks against the stock driver (not part of check): bench/results/.
bench: modules deps-test rig-helpers
	@tests/ensure-packages gnuplot-nox
	/usr/bin/python3 bench/run.py $(BENCH_ARGS)

# The rig boots the kernel whose headers the module was built against.
export RIG_KERNEL_RELEASE = $(KREL)
