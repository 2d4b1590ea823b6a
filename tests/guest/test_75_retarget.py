"""A new requested size takes effect while a large resize is running: the
driver checks for a config change between steps (one memory block each)
and heads for the new target at once, instead of finishing the old one
first (which the 6.1 in-tree driver does for unplugs).

Measured from QEMU's side: the time from the qom-set of the new size
until QEMU's plugged size moves the other way, and how far it went on in
the old direction meanwhile.  (These tests used to log the driver's
vmem_run trace events too; switching the event off hung a Debian guest's
CPU for 48 s once under TCG, a soft lockup while other guests on the host
ran on, and the events proved nothing the sizes do not.)
"""

import time

import vmrig
from vmrig import GiB, MiB, format_size

RETARGET = dict(block='2M', region='8G')

# How soon the driver must turn, under TCG on a loaded 2-core host.  One
# step (a memory block: 128 MiB plugged and onlined, or taken with
# alloc_contig_range and unplugged) takes well under a second here.
TURN_BOUND = 5.0
# How far it may go on in the old direction: a step or two in flight.
OVERSHOOT_BOUND = 2 * 128 * MiB


def turn(g, first, when, second, timeout=120):
    """Request `first`; once QEMU's size has passed `when`, request
    `second`, which lies the other way.  Returns (size at the second
    request, seconds until the size moved towards `second`, overshoot)."""
    growing = first > g.qemu_size()
    g.resize(first)
    s1 = vmrig.wait_for(g.qemu_size, timeout, f'QEMU size past '
                        f'{format_size(when)}',
                        until=lambda s: s >= when if growing else s <= when,
                        interval=0.02)
    t1 = time.monotonic()
    g.qom_set('requested-size', second)
    vmrig.log.info('%s: requested-size := %s at %s plugged', g.name,
                   format_size(second), format_size(s1))
    extreme, samples = s1, [(0.0, s1)]
    while True:
        now, t = g.qemu_size(), time.monotonic() - t1
        if now != samples[-1][1]:
            samples.append((round(t, 3), now))
        if (now < extreme) if growing else (now > extreme):
            break
        extreme = max(extreme, now) if growing else min(extreme, now)
        assert now != first, \
            f'reached the old target {format_size(first)} after the new ' \
            f'request {format_size(second)}; QEMU size (s, MiB): ' \
            f'{[(at, size // MiB) for at, size in samples]}'
        assert t < 60, f'still not turned after {t:.0f}s: {samples}'
        time.sleep(0.01)
    overshoot = abs(extreme - s1)
    vmrig.log.info('%s: turned after %.2fs, overshoot %s; QEMU size '
                   '(s, MiB): %s', g.name, t, format_size(overshoot),
                   [(at, size // MiB) for at, size in samples])
    return s1, t, overshoot


def test_large_plug_turns_to_a_smaller_new_target_within_seconds(
        boot_guest):
    g = boot_guest(**RETARGET)
    s1, took, overshoot = turn(g, 6 * GiB, 1 * GiB, 512 * MiB)
    assert s1 < 6 * GiB
    assert took < TURN_BOUND, f'turned after {took:.2f}s'
    assert overshoot <= OVERSHOOT_BOUND, format_size(overshoot)
    assert g.wait_qemu_size(512 * MiB) == 512 * MiB
    g.wait_both_sides(512 * MiB)
    g.expect_driver_attrs(plugged_size=512 * MiB,
                          requested_size=512 * MiB, shortfall=0)


def test_large_unplug_turns_to_a_larger_new_target_within_seconds(
        boot_guest):
    g = boot_guest(**RETARGET)
    g.resize_and_check(3 * GiB)
    # Data in the memory being unplugged makes each step migrate.
    g.sh('memtool fill-file /tmp/retarget 512', timeout=300)
    s1, took, overshoot = turn(g, 0, 2 * GiB, 2 * GiB + 512 * MiB)
    assert s1 > 0
    assert took < TURN_BOUND, f'turned after {took:.2f}s'
    assert overshoot <= OVERSHOOT_BOUND, format_size(overshoot)
    final = 2 * GiB + 512 * MiB
    assert g.wait_qemu_size(final) == final
    g.wait_both_sides(final)
    g.expect_driver_attrs(plugged_size=final, requested_size=final,
                          shortfall=0)
    assert g.sh('memtool check-file /tmp/retarget', timeout=300) == \
        'check ok 512 MiB\n'
    g.sh('rm /tmp/retarget')
