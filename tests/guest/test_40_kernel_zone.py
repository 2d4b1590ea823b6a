"""Stories on a guest whose hotplugged memory is onlined to the kernel
zone (ZONE_NORMAL), where the kernel may pin it."""

import vmrig
from vmrig import GiB, MiB

KERNEL = dict(block='4M', online='online_kernel')

# Unmovable memory held in pipe buffers.  Pipe pages come from ZONE_NORMAL
# first, which in this guest is device memory only (boot memory is DMA32).
PINNED_MB = 640

# How long the driver may take to retry after the pin goes away.
RETRY_TIMEOUT = 300


def test_plugged_memory_is_onlined_to_the_kernel_zone(boot_guest):
    g = boot_guest(**KERNEL)
    size = 512 * MiB + 4 * MiB
    g.resize_and_check(size)

    online = {n: b for n, b in g.device_memory_blocks().items()
              if b['state'] == 'online'}
    assert len(online) == 5, online
    zones = {n: b['zone'] for n, b in online.items()}
    assert set(zones.values()) == {'Normal'}, zones

    g.resize_and_check(0)


def test_unmeetable_request_leaves_a_visible_shortfall_until_retried(
        boot_guest):
    g = boot_guest(**KERNEL)
    g.resize_and_check(1 * GiB)

    pipes = g.start_memtool('hold-pipes', PINNED_MB)
    pipes.wait_output(r'^ready ', timeout=120)

    g.resize(0)
    # The driver unplugs what it can, then stops with memory still pinned.
    plugged = g.wait_until_settled(quiet=5, timeout=180)
    assert plugged > 0, 'all memory unplugged although some is pinned'
    assert g.run('true') == (0, '')
    if g.driver_attrs_checked():
        attrs = vmrig.wait_for(
            g.driver_attrs, 60, 'a shortfall and its reason in sysfs',
            until=lambda a: int(a['shortfall'], 0) > 0 and
            a['shortfall_reason'] not in ('', 'none'))
        vmrig.log.info('driver says: %s', attrs)
        assert int(attrs['plugged_size'], 0) == g.qemu_size()
        assert int(attrs['requested_size'], 0) == 0
        assert int(attrs['shortfall'], 0) == g.qemu_size()
    g.wait_until_plugged(g.qemu_size())

    # It stays short while the memory is pinned, and the guest keeps going.
    vmrig.hold_for(lambda: g.run('true')[0] == 0 and g.qemu_size() > 0, 10,
                   'a running guest with memory still plugged')

    pipes.stop()
    final = g.resize_and_wait(0, timeout=RETRY_TIMEOUT)
    assert final == 0, f'driver did not retry: still {final} plugged'
    g.wait_until_plugged(0)
    g.expect_driver_attrs(plugged_size=0, shortfall=0)
