"""Memory requested before the guest boots is plugged when the driver
probes, and is part of MemTotal once the guest is up."""

import re

import vmrig
from vmrig import GiB

# The "key: value" lines the stock driver prints at probe, which tools
# parse; ours prints them too.
FACT = re.compile(r'virtio_mem virtio\d+: ([a-z ]+): (0x[0-9a-f]+|-?\d+)$')


def probe_facts(g):
    return {m.group(1): int(m.group(2), 0)
            for m in map(FACT.search, g.dmesg()) if m}


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

    # What the driver found at probe, in the stock driver's lines.
    dev = g.memory_device()
    assert probe_facts(g) == {
        'start address': dev['memaddr'],
        'region size': g.region,
        'device block size': 4 * 1024 * 1024,
        'nid': dev['node'],
        'memory block size': int(g.sh('cat /sys/devices/system/memory/'
                                      'block_size_bytes'), 16),
        'subblock size': int(g.driver_attr('sub_block_size')),
        'plugged size': 0,
        'requested size': 1 * GiB,
    }

    # Unplug to learn the boot-only MemTotal: the difference is exactly 1G.
    assert g.resize_and_wait(0) == 0
    g.wait_guest_memtotal(with_plug - 1 * GiB // 1024, 60,
                          'MemTotal to drop by 1 GiB')
