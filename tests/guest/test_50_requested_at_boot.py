"""Memory requested before the guest boots is plugged when the driver
probes, and is part of MemTotal once the guest is up."""

import vmrig
from vmrig import GiB


def test_memory_requested_before_boot_is_plugged_at_probe(boot_guest):
    g = boot_guest(block='4M', requested='1G')
    vmrig.wait_for(g.qemu_size, 120, 'QEMU size 1G',
                   until=lambda s: s == 1 * GiB)
    # QEMU counts a block plugged at its PLUG; the driver adds and onlines
    # the memory block right after.
    vmrig.wait_for(lambda: [n for n, b in g.device_memory_blocks().items()
                            if b['state'] == 'online'], 60,
                   'the 8 memory blocks of 1 GiB online',
                   until=lambda online: len(online) == 8)
    g.expect_driver_attrs(plugged_size=1 * GiB, requested_size=1 * GiB)
    with_plug = g.guest_memtotal()

    # Unplug to learn the boot-only MemTotal: the difference is exactly 1G.
    assert g.resize_and_wait(0) == 0
    vmrig.wait_for(g.guest_memtotal, 60, 'MemTotal to drop by 1 GiB',
                   until=lambda kb: with_plug - kb == 1 * GiB // 1024)
