"""Faults injected into memory hotplug with Debian's notifier error
injection (memory-notifier-error-inject.ko): a memory notifier refuses
onlining (MEM_GOING_ONLINE) or offlining (MEM_GOING_OFFLINE) with
-ENOMEM.  While it does, the driver cannot finish, says why in sysfs and
retries, and the guest keeps running; once the fault is cleared the driver
gets there by itself, with no new request.  In Sub Block Mode and Big
Block Mode.

A refused onlining keeps the plugged size where it was: the driver gives
the memory block back (removes it, unplugs it) rather than keep plugged
memory nobody can use.  A refused offlining does not stop the unplug (the
device gets its blocks back, MemTotal drops): it keeps the emptied memory
blocks added, until their removal succeeds.
"""

import re

import pytest

import vmrig
from vmrig import GiB, MiB

INJECT = '/sys/kernel/debug/notifier-error-inject/memory/actions'
MEMORY_BLOCK = 128 * MiB
ENOMEM = -12

MODES = {
    # Sub Block Mode with the retarget story's guest (test_75).
    'sbm': dict(block='2M', region='8G'),
    'bbm': dict(block='128M'),
}


@pytest.fixture(scope='module', params=['bbm', 'sbm'])
def mode(request):
    """Module-scoped, so pytest runs every story of one mode in a row and
    they share its guest."""
    return request.param


class Fault:
    """The memory notifier error injection in a guest."""

    def __init__(self, g):
        self.g = g
        for m in vmrig.FAULT_INJECT_MODULES:
            if g.run(f'grep -q "^{m.replace("-", "_")} " /proc/modules')[0]:
                g.sh(f'insmod /modules/{m}.ko')
        assert sorted(g.sh(f'ls {INJECT}').split()) == \
            ['MEM_GOING_OFFLINE', 'MEM_GOING_ONLINE']

    def set(self, action, err):
        self.g.sh(f'echo {err} > {INJECT}/{action}/error')
        assert int(self.g.sh(f'cat {INJECT}/{action}/error')) == err

    def remove(self):
        for action in ('MEM_GOING_ONLINE', 'MEM_GOING_OFFLINE'):
            self.g.run(f'echo 0 > {INJECT}/{action}/error')
        for m in reversed(vmrig.FAULT_INJECT_MODULES):
            self.g.run(f'rmmod {m}')


@pytest.fixture
def fault_guest(boot_guest, mode):
    g = boot_guest(**MODES[mode])
    fault = Fault(g)
    yield g, fault
    fault.remove()


def wait_for_retries(g, reason, since, count=2, timeout=120):
    """Wait until the driver states `reason` and has retried `count`
    times more than `since`: it keeps failing and keeps trying."""
    def probe():
        return g.driver_attrs()['shortfall_reason'], \
            g.driver_stats()['retries']
    return vmrig.wait_for(probe, timeout,
                          f'"{reason}" and {count} more retries',
                          until=lambda s: s[0] == reason and
                          s[1] >= since + count)


def injected(g, action):
    return [line for line in g.dmesg()
            if re.search(rf'Injecting error \({ENOMEM}\) to {action}', line)]


def test_refused_onlining_holds_the_plug_back_until_allowed(fault_guest,
                                                           mode):
    g, fault = fault_guest
    start, target = 256 * MiB, 1 * GiB
    g.resize_and_check(start)
    retries = g.driver_stats()['retries']

    fault.set('MEM_GOING_ONLINE', ENOMEM)
    g.resize(target)
    wait_for_retries(g, 'onlining added memory failed, retrying', retries)
    assert injected(g, 'MEM_GOING_ONLINE')

    # Nothing more plugged, nothing half-added, and the guest runs on.
    # (Each retry plugs and adds a block for a moment, and takes it back
    # when the onlining is refused: look between retries.)
    def held_back():
        attrs = g.driver_attrs()
        blocks = g.device_memory_blocks()
        return (g.qemu_size(), int(attrs['plugged_size']),
                int(attrs['shortfall']), len(blocks),
                all(b['state'] == 'online' for b in blocks.values()))
    vmrig.wait_for(held_back, 60, 'the plugged size held back at the start',
                   until=lambda seen: seen == (start, start, target - start,
                                               start // MEMORY_BLOCK, True))
    g.wait_both_sides(start)
    assert g.qemu_requested() == target
    assert g.run('true') == (0, '')

    # Allowed again: the retries get there, with no new request.
    fault.set('MEM_GOING_ONLINE', 0)
    assert g.wait_qemu_size(target, timeout=120) == target, \
        g.driver_attrs()
    g.wait_both_sides(target)
    g.expect_driver_attrs(plugged_size=target, shortfall=0,
                          shortfall_reason='none')
    assert len(g.device_memory_blocks()) == target // MEMORY_BLOCK


def test_refused_offlining_keeps_emptied_blocks_until_allowed(fault_guest,
                                                              mode):
    g, fault = fault_guest
    start, target = 1 * GiB, 256 * MiB
    g.resize_and_check(start)
    retries = g.driver_stats()['retries']

    fault.set('MEM_GOING_OFFLINE', ENOMEM)
    g.resize(target)
    wait_for_retries(g, 'removing unplugged memory failed, retrying',
                     retries)
    assert injected(g, 'MEM_GOING_OFFLINE')

    # The device got its blocks back and MemTotal dropped by exactly that,
    # but the emptied memory blocks are still added; the guest runs on.
    assert g.qemu_size() == target
    g.wait_both_sides(target)
    g.expect_driver_attrs(plugged_size=target, requested_size=target)
    kept = g.device_memory_blocks()
    assert len(kept) == start // MEMORY_BLOCK, kept
    assert g.run('true') == (0, '')

    # Allowed again: the retries remove them, with no new request.
    fault.set('MEM_GOING_OFFLINE', 0)
    vmrig.wait_for(lambda: len(g.device_memory_blocks()), 120,
                   'the emptied memory blocks to be removed',
                   until=lambda n: n == target // MEMORY_BLOCK)
    vmrig.wait_for(lambda: g.driver_attrs()['shortfall_reason'], 60,
                   'shortfall_reason "none"', until=lambda r: r == 'none')
    g.wait_both_sides(target)
    g.expect_driver_attrs(plugged_size=target, shortfall=0)
