# SPDX-License-Identifier: GPL-2.0
#
# make            build virtio_mem.ko against the installed Debian kernel headers
# make run        boot a guest with the driver and resize its memory
# make check      hygiene, unit, tool and guest tests (see tests/run-all)
# make tools      build tools/vmemctl (host side)
# make bench      benchmarks against the stock driver (bench/run.py)
#
# KDIR selects another kernel build tree; KREL the kernel release.

KREL ?= $(shell ls -d /lib/modules/*-amd64/build 2>/dev/null | sort -V | tail -n1 | cut -d/ -f4)
KDIR ?= /lib/modules/$(KREL)/build
KO := $(CURDIR)/virtio_mem.ko

.PHONY: all modules clean check run bench

all: modules

modules: deps-build
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	rm -rf tests/unit/build tests/build

include tests/Makefile.deps
include tests/Makefile.unit
include tests/Makefile.rig
include tests/Makefile.hygiene
include tools/Makefile.tools

check: modules deps-test
	@tests/run-all

check-unit check-guest check-hygiene check-tools: deps-test
check-guest run: modules

# Benchmarks against the stock driver (not part of check): bench/results/.
bench: modules deps-test
	@tests/ensure-packages gnuplot-nox
	/usr/bin/python3 bench/run.py $(BENCH_ARGS)

# The rig boots the kernel whose headers the module was built against.
export RIG_KERNEL_RELEASE = $(KREL)
