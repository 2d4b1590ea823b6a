# SPDX-License-Identifier: GPL-2.0
#
# make            build virtio_mem.ko against the installed Debian kernel headers
# make run        boot a guest with the driver and resize its memory
# make check      unit tests and guest tests
#
# KDIR selects another kernel build tree; KREL the kernel release.

KREL ?= $(shell ls -1 /lib/modules 2>/dev/null | grep -- '-amd64$$' | sort -V | tail -n1)
KDIR ?= /lib/modules/$(KREL)/build
KO := $(CURDIR)/virtio_mem.ko

.PHONY: all modules clean deps check run

all: modules

modules: deps-build
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	rm -rf tests/unit/build tests/build

include tests/Makefile.deps
-include tests/Makefile.unit
-include tests/Makefile.rig

check: modules check-unit check-guest
