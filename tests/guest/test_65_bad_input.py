"""Bad input: the device answering ERROR, and module parameters out of
range.  Each gets one clear line in the kernel log and loses nothing.

A real QEMU never sends a malformed config or an unknown response type, so
those are covered by the unit tests (tests/unit/test_config.c,
test_resp.c).  ERROR is real here: the driver's debugfs hook makes it send
an UNPLUG of a block that is not plugged, and QEMU answers ERROR.
"""

import re

import pytest

import vmrig
from conftest import KO
from vmrig import KiB, MiB

DEBUGFS = '/sys/kernel/debug/virtio_mem'


def log_lines_matching(g, pattern, timeout=60):
    return vmrig.wait_for(
        lambda: [line for line in g.dmesg() if re.search(pattern, line)],
        timeout, f'a kernel log line matching {pattern!r}',
        until=lambda lines: lines)


def test_device_error_stops_the_driver_and_keeps_memory(boot_guest):
    # last_use: the test removes the device from the guest's PCI bus.
    g = boot_guest(block='2M', last_use=True)
    g.resize_and_check(512 * MiB)
    memtotal = g.guest_memtotal()
    g.sh('memtool fill-file /tmp/kept 200')

    g.sh(f'for f in {DEBUGFS}/virtio*/inject; do echo error > $f; done')
    line = log_lines_matching(g, r'answered ERROR')
    assert len(line) == 1 and 'UNPLUG' in line[0], line
    g.expect_driver_attrs(shortfall_reason='device stopped after an error')
    assert re.search(r'^broken 1$', g.sh(f'cat {DEBUGFS}/virtio*/stats'),
                     re.M)

    # Nothing lost: plugged memory stays, the data in it too.
    assert g.qemu_size() == 512 * MiB
    assert g.guest_memtotal() == memtotal
    g.sh('memtool check-file /tmp/kept')

    # The driver no longer talks to the device: a new request goes unmet,
    # and the guest keeps running.
    g.resize(1024 * MiB)
    vmrig.hold_for(lambda: g.qemu_size() == 512 * MiB and
                   g.run('true')[0] == 0, 5,
                   'a stopped driver that plugs nothing more')
    assert g.guest_memtotal() == memtotal

    g.assert_dmesg_clean(allowed=[
        (r'answered ERROR: driver and device disagree, stopping',
         'the error this test provokes'),
        (r'device stopped after an error', 'the shortfall it causes')])
    # A stopped driver keeps its memory on unload, and says so.
    dev = g.sh('basename $(readlink -f /sys/bus/virtio/drivers/virtio_mem/'
               'virtio*)').strip()
    g.unload_virtio_mem()
    kept = log_lines_matching(g, r'512 MiB still in use: kept plugged')
    assert len(kept) == 1, kept
    assert g.guest_memtotal() == memtotal
    g.sh('memtool check-file /tmp/kept')

    # What stays claimed outlives the module and the device: /proc/iomem
    # still names the region and its memory, read from the driver's own
    # copies (the module's strings are unmapped at unload, the device's
    # name is freed when it leaves the PCI bus).
    g.sh(f'echo 1 > $(readlink -f /sys/bus/virtio/devices/{dev}/..)/remove')
    assert g.run(f'test -e /sys/bus/virtio/devices/{dev}')[0] != 0
    iomem = g.sh('cat /proc/iomem')
    region = [line for line in iomem.splitlines()
              if line.strip().endswith(f' : {dev}')]
    assert len(region) == 1, iomem
    assert iomem.count(' : System RAM (virtio_mem)') >= 1, iomem
    g.assert_dmesg_clean(allowed=[
        (r'answered ERROR: driver and device disagree, stopping',
         'the error this test provokes'),
        (r'device stopped after an error', 'the shortfall it causes'),
        (r'still in use: kept plugged', 'the memory kept at unload')])


def test_memory_kept_at_unload_cannot_be_onlined_without_the_driver(
        boot_guest):
    """A memory block that is offline (the user offlined it) and partly
    plugged when the driver is unloaded without emptying the device (it
    stopped after an ERROR) must not be left to core mm: onlining it
    without the driver would hand its unplugged half to the buddy.  The
    driver removes it and says so; what is online stays as it was."""
    # last_use: memory stays kept after the driver is gone.
    g = boot_guest(last_use=True)
    g.resize_and_check(576 * MiB)     # four memory blocks and a half
    blocks = g.sh(f'cat {DEBUGFS}/virtio*/blocks')
    half = [m.group(1) for m in re.finditer(
        r'^memory(\d+) online_movable (#+\.+)$', blocks, re.M)]
    assert len(half) == 1, blocks
    block = f'/sys/devices/system/memory/memory{half[0]}'
    g.sh(f'echo offline > {block}/state')
    assert g.sh(f'cat {block}/state').strip() == 'offline'

    g.sh(f'for f in {DEBUGFS}/virtio*/inject; do echo error > $f; done')
    log_lines_matching(g, r'answered ERROR')
    g.unload_virtio_mem()
    log_lines_matching(g, r'still in use: kept plugged')

    # Whatever core mm is asked now, it hands out no unplugged memory.
    rc, out = g.run(f'echo online > {block}/state')
    plugged = g.qemu_size()
    assert g.guest_memtotal() <= g.base_memtotal() + plugged // KiB, \
        (g.guest_memtotal(), g.base_memtotal(), plugged)
    assert rc != 0, f'memory{half[0]} was onlined without the driver'
    removed = log_lines_matching(
        g, r'removed 1 offline memory blocks with unplugged memory')
    assert len(removed) == 1, removed
    g.assert_dmesg_clean(allowed=[
        (r'answered ERROR: driver and device disagree, stopping',
         'the error this test provokes'),
        (r'device stopped after an error', 'the shortfall it causes'),
        (r'still in use: kept plugged', 'the memory kept at unload'),
        (r'removed 1 offline memory blocks', 'what this test checks')])


@pytest.mark.debian_lane('module parameter parsing, before the driver '
                         'touches any memory')
def test_module_parameters_out_of_range_are_refused(boot_guest):
    g = boot_guest(load_driver=False, ko=str(KO))
    for params, why in (
            ('retry_min_ms=5', r'retry_min_ms=5 out of range'),
            ('retry_max_ms=99999999', r'retry_max_ms=99999999 out of range'),
            ('retry_min_ms=2000 retry_max_ms=1000',
             r'retry_max_ms=1000 is below retry_min_ms=2000'),
            ('bbm_block_size=100M', r'bbm_block_size=100M invalid'),
            ('bbm_block_size=64M', r'bbm_block_size=64M invalid')):
        before = g.dmesg()
        rc, out = g.run(f'insmod /vmem/virtio_mem.ko {params}')
        assert rc != 0, f'insmod {params} was accepted: {out}'
        assert not g.driver_loaded()
        fresh = g.dmesg()[len(before):]
        # busybox insmod may try a second way to load: the same one line
        # for each try.
        ours = [re.sub(r'^\[[^]]*\] ', '', line) for line in fresh
                if re.search(why, line)]
        assert ours and len(set(ours)) == 1, (params, fresh)
        others = [line for line in fresh if 'virtio_mem' in line and
                  not re.search(why + '|invalid for parameter|taints kernel'
                                '|module verification failed', line)]
        assert not others, (params, others)

    # Valid values load, and the driver works with them.
    g.sh('insmod /vmem/virtio_mem.ko retry_min_ms=100 retry_max_ms=2000')
    g.resize_and_check(64 * MiB)
    g.resize_and_check(0)
    g.unload_virtio_mem()
