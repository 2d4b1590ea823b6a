"""Stories on a guest whose hotplugged memory is onlined movable
(1 GiB boot memory, 4 GiB device, 4 MiB blocks)."""

import vmrig
from vmrig import GiB, MiB, format_size

MOVABLE = dict(block='4M', online='online_movable')
MEMORY_BLOCK = 128 * MiB

# Data the guest holds while 2 GiB are unplugged under it.  With 1 GiB boot
# memory and 1 GiB left plugged the guest keeps ~1.9 GiB, of which the
# driver leaves its safety floor (~355 MiB) available: 1.25 GiB of data
# leaves room for the kernel and the floor (KASAN takes ~250 MiB more).
HOLD_ANON_MB = 1024
HOLD_TMPFS_MB = 256
KASAN_HOLD_MB = (768, 384)


def online_device_blocks(g):
    return {n: b for n, b in g.device_memory_blocks().items()
            if b['state'] == 'online'}


def test_plugged_memory_is_onlined_movable(boot_guest):
    g = boot_guest(**MOVABLE)
    size = 512 * MiB + 4 * MiB
    g.resize_and_check(size)

    online = online_device_blocks(g)
    assert len(online) == -(-size // MEMORY_BLOCK), online
    zones = {n: b['zone'] for n, b in online.items()}
    assert set(zones.values()) == {'Movable'}, zones
    device = g.device_memory_blocks()
    boot_zones = {b['zone'] for n, b in g.guest_memory_blocks().items()
                  if n not in device}
    assert 'Movable' not in boot_zones

    g.resize_and_check(0)
    # QEMU's size drops at the last UNPLUG; the driver removes the emptied
    # blocks right after it.
    vmrig.wait_for(lambda: online_device_blocks(g), 60,
                   'the emptied memory blocks to be removed',
                   until=lambda blocks: blocks == {})


def test_unplug_keeps_the_data_the_guest_holds(boot_guest):
    g = boot_guest(**MOVABLE)
    g.resize_and_check(3 * GiB)

    anon_mb, tmpfs_mb = KASAN_HOLD_MB if g.kasan() else (HOLD_ANON_MB,
                                                          HOLD_TMPFS_MB)
    anon = g.hold_verified_data(anon_mb, tmpfs_mb)
    used_kb = g.guest_memtotal() - g.guest_meminfo()['MemAvailable']
    vmrig.log.info('guest uses %d MiB before the unplug', used_kb // 1024)

    g.resize_and_check(1 * GiB, timeout=600)

    anon.signal('USR1')
    result = anon.wait_output(r'^verify ', timeout=300, count=2)
    assert result.startswith('verify ok'), result
    assert g.sh('memtool check-file /tmp/data', timeout=300) == \
        f'check ok {tmpfs_mb} MiB\n'
    anon.stop()
    g.sh('rm /tmp/data')
    g.resize_and_check(0)


def offline_one_device_block(g, must=True):
    """Offline the highest online device block that the kernel lets go.
    Returns (block, kB MemTotal dropped meanwhile), or (None, 0) if every
    block refused and `must` is False.  The drop is the block's plugged
    part only when no resize runs at the same time."""
    before = g.guest_memtotal()
    for n in sorted(online_device_blocks(g), reverse=True):
        rc, out = g.set_memory_block_state(n, 'offline')
        if rc == 0:
            after = g.guest_memtotal()
            vmrig.log.info('memory%d offline (MemTotal %d -> %d kB)', n,
                           before, after)
            return n, before - after
        vmrig.log.info('memory%d stays online: %s', n, out.strip())
    assert not must, 'no device memory block could be offlined'
    return None, 0


def test_memory_block_offlined_from_sysfs_between_and_during_resizes(
        boot_guest):
    g = boot_guest(**MOVABLE)
    base = g.base_memtotal()

    # Between resizes: offline a block, shrink, put it back.
    g.resize_and_check(1 * GiB + 8 * MiB)
    block, taken = offline_one_device_block(g)
    assert 0 < taken <= MEMORY_BLOCK // 1024
    assert g.guest_memtotal() == base + (1 * GiB + 8 * MiB) // 1024 - taken
    assert g.resize_and_wait(512 * MiB - 4 * MiB) == 512 * MiB - 4 * MiB
    g.online_offline_device_blocks()
    g.wait_both_sides(512 * MiB - 4 * MiB)

    # Between resizes: offline a block, grow, put it back.
    block, taken = offline_one_device_block(g)
    assert g.resize_and_wait(2 * GiB - 12 * MiB) == 2 * GiB - 12 * MiB
    g.online_offline_device_blocks()
    g.wait_both_sides(2 * GiB - 12 * MiB)

    # During a shrink: a block goes offline while the driver unplugs.
    target = 768 * MiB + 4 * MiB
    g.resize(target)
    offline_one_device_block(g, must=False)
    assert g.resize_and_wait(target) == target, \
        f'resize to {format_size(target)} did not converge'
    g.online_offline_device_blocks()
    g.wait_both_sides(target)

    # During a grow: a block offline when the request comes is onlined
    # again while the driver plugs.
    target = 1536 * MiB + 20 * MiB
    offline_one_device_block(g)
    g.resize(target)
    g.online_offline_device_blocks()
    assert g.resize_and_wait(target) == target, \
        f'resize to {format_size(target)} did not converge'
    g.online_offline_device_blocks()
    g.wait_both_sides(target)

    g.resize_and_check(0)
    assert g.guest_memtotal() == base


def test_module_unload_and_reload_with_memory_plugged(boot_guest):
    g = boot_guest(**MOVABLE)
    base = g.base_memtotal()
    size = 1 * GiB + 4 * MiB
    g.resize_and_check(size)

    g.unload_virtio_mem()
    assert not g.driver_loaded()
    vmrig.wait_for(g.qemu_size, 60, 'QEMU size 0 after rmmod',
                   until=lambda s: s == 0)
    assert g.guest_memtotal() == base
    assert g.device_memory_blocks() == {}
    assert g.qemu_requested() == size

    g.load_virtio_mem()
    assert g.driver_loaded()
    g.wait_both_sides(size, timeout=180)
    g.expect_driver_attrs(plugged_size=size, requested_size=size)

    g.resize_and_check(0)
