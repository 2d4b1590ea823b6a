"""Soak: many random resizes, in both modes and both zones, while the
guest holds data and keeps checking it.

For each kind of guest (Sub Block / Big Block Mode, onlined movable / to
the kernel zone) the device gets random requested sizes (device block
multiples between a floor that leaves room for the data and a ceiling in
the region); some are replaced by the next before they are reached.
Meanwhile memtool holds ~1 GiB of anonymous memory and verifies all of it
after every resize (the verify runs while the driver migrates pages), and
a tmpfs file is checked every few resizes.

Every target the driver can reach must be reached: in movable memory all
of them; in the kernel zone unmovable kernel allocations may pin memory,
so a shrink may stop short, only with the reason "memory in use,
retrying".  Plugging in whole big blocks stops at the last whole one below
the request.  After every resize and at the end, QEMU's size, the
driver's plugged_size and the guest's MemTotal delta agree, and the
kernel log has no warning.

SOAK_RESIZES (default 20) is the number of resizes over all guests;
`make soak` runs 200.  SOAK_SEED repeats a run (the seed is logged).
"""

import os
import random
import time

import pytest

import vmrig
from vmrig import GiB, MiB, format_size

SOAK_RESIZES = int(os.environ.get('SOAK_RESIZES', '20'))
SOAK_SEED = int(os.environ.get('SOAK_SEED', '0')) or int(time.time())

MEMORY_BLOCK = 128 * MiB
PAGEBLOCK = 2 * MiB
HOLD_ANON_MB = 1024
HOLD_TMPFS_MB = 128
# Lowest target: 1 GiB boot memory plus this holds the data, the kernel
# and the page cache with room to migrate.
FLOOR = 1536 * MiB
CHECK_FILE_EVERY = 5
# A reachable target is reached within this (migrating ~1 GiB of data
# under TCG, with retries backing off up to retry_max_ms, 30 s).
RESIZE_TIMEOUT = 420
# In the kernel zone: once the driver says memory is in use, how long it
# gets to retry before the shrink counts as unreachable.
PINNED_GRACE = 20
IN_USE = 'memory in use, retrying'

# (id, guest settings, highest target).  sbm-movable is the retarget
# story's guest (test_75).
CONFIGS = [
    ('sbm-movable', dict(block='2M', region='8G'), 5 * GiB),
    ('bbm-movable', dict(block='128M', region='4G'), 4 * GiB),
    ('sbm-kernel', dict(block='4M', region='4G', online='online_kernel'),
     4 * GiB),
    ('bbm-kernel', dict(block='4M', region='4G', online='online_kernel',
                        driver_params='bbm_block_size=256M'), 4 * GiB),
]


def plug_unit(settings):
    """What the driver plugs in: the device block raised to a pageblock
    (Sub Block Mode), or the big block (Big Block Mode)."""
    block = vmrig.parse_size(settings['block'])
    params = dict(p.split('=') for p in
                  settings.get('driver_params', '').split(',') if p)
    bbm = vmrig.parse_size(params.get('bbm_block_size', '0'))
    if bbm or block >= MEMORY_BLOCK:
        return max(block, bbm, MEMORY_BLOCK)
    return max(block, PAGEBLOCK)


def resizes_per_guest():
    return max(1, -(-SOAK_RESIZES // len(CONFIGS)))


class Soak:
    def __init__(self, g, settings, ceiling, rng):
        self.g, self.rng = g, rng
        self.block = vmrig.parse_size(settings['block'])
        self.unit = plug_unit(settings)
        self.kernel_zone = settings.get('online') == 'online_kernel'
        self.floor = -(-FLOOR // self.unit) * self.unit
        self.ceiling = ceiling
        self.base = g.base_memtotal()
        self.anon = None
        self.verifies = 0
        self.stats = dict(reached=0, pinned=0, replaced=0)

    def pick(self):
        """A random device block multiple in [floor, ceiling]."""
        return self.block * self.rng.randint(self.floor // self.block,
                                             self.ceiling // self.block)

    def expected(self, target):
        return target // self.unit * self.unit

    def sides(self):
        """(QEMU size, sysfs plugged_size, MemTotal delta in bytes), read
        so that QEMU's size did not change meanwhile (else None)."""
        g = self.g
        before = g.qemu_size()
        plugged = int(g.driver_attr('plugged_size'))
        delta = (g.guest_memtotal() - self.base) * 1024
        return (before, plugged, delta) if g.qemu_size() == before else None

    def expect_sides_agree(self, size=None):
        seen = vmrig.wait_for(
            self.sides, 120, 'QEMU size, plugged_size and the MemTotal '
            'delta to agree' + (f' on {format_size(size)}' if size else ''),
            until=lambda s: s is not None and s[0] == s[1] == s[2] and
            (size is None or s[0] == size))
        return seen[0]

    def verify_data(self, check_file):
        self.verifies += 1
        line = self.anon.wait_output(r'^verify ', timeout=600,
                                     count=self.verifies)
        assert line == f'verify ok {HOLD_ANON_MB} MiB', line
        if check_file:
            assert self.g.sh('memtool check-file /tmp/soak', timeout=300) \
                == f'check ok {HOLD_TMPFS_MB} MiB\n'

    def wait_target(self, target, was):
        """Wait for the driver to reach what it can of target; returns
        the plugged size."""
        g, want = self.g, self.expected(target)
        shrink = want < was

        def probe():
            return g.qemu_size(), g.driver_attr('shortfall_reason')

        def done(seen):
            size, reason = seen
            if size == want:
                return True
            return self.kernel_zone and shrink and reason == IN_USE

        size, reason = vmrig.wait_for(
            probe, RESIZE_TIMEOUT, f'{format_size(want)} plugged (request '
            f'{format_size(target)})', until=done)
        if size != want:
            # Kernel zone, pinned: give the retries a moment, then take
            # what the driver could get.
            try:
                size = vmrig.wait_for(g.qemu_size, PINNED_GRACE,
                                      f'{format_size(want)} plugged',
                                      until=lambda s: s == want)
            except vmrig.RigError:
                size = g.qemu_size()
                assert want <= size <= was, \
                    f'shrink to {format_size(want)} ended at ' \
                    f'{format_size(size)} (from {format_size(was)})'
                attrs = g.driver_attrs()
                assert attrs['shortfall_reason'] == IN_USE, attrs
                vmrig.log.info('soak: %s unreachable (pinned), plugged %s',
                               format_size(want), format_size(size))
                self.stats['pinned'] += 1
                return self.expect_sides_agree()
        self.stats['reached'] += 1
        if self.unit > self.block and target % self.unit:
            vmrig.wait_for(lambda: g.driver_attr('shortfall_reason'), 60,
                           'the plug unit as the reason',
                           until=lambda r: r == 'requested size not a '
                           'multiple of the plug unit')
        return self.expect_sides_agree(want)

    def step(self, i):
        g, rng = self.g, self.rng
        was = g.qemu_size()
        if rng.random() < 0.3:
            # Not waiting: another request replaces this one, at once or
            # once the driver has started on it.
            interim = self.pick()
            g.resize(interim)
            if rng.random() < 0.5 and self.expected(interim) != was:
                try:
                    vmrig.wait_for(g.qemu_size, 30, 'the resize to start',
                                   until=lambda s: s != was, interval=0.05)
                except vmrig.RigError:
                    pass    # pinned memory in the kernel zone
            self.stats['replaced'] += 1
            was = g.qemu_size()
        target = self.pick()
        g.resize(target)
        self.anon.signal('USR1')    # verify while the driver works
        size = self.wait_target(target, was)
        self.verify_data(check_file=(i + 1) % CHECK_FILE_EVERY == 0)
        vmrig.log.info('soak: step %d: request %s, plugged %s', i + 1,
                       format_size(target), format_size(size))

    def run(self, n):
        g = self.g
        g.resize_and_check(self.floor, timeout=RESIZE_TIMEOUT)
        self.anon = g.start_memtool('hold-anon', HOLD_ANON_MB)
        self.anon.wait_output(r'^ready ', timeout=600)
        g.sh(f'memtool fill-file /tmp/soak {HOLD_TMPFS_MB}', timeout=300)
        for i in range(n):
            self.step(i)
        self.anon.signal('USR1')
        self.verify_data(check_file=True)
        self.anon.stop()
        g.sh('rm /tmp/soak')
        size = self.expect_sides_agree()
        assert size == int(g.driver_attr('plugged_size'))
        vmrig.log.info('soak: %s', self.stats)
        return size


# The patched lane soaks one guest per mode, one in each zone; the other
# two combinations repeat what it and test_40/test_70 drive through core mm
# there, at some 70 s each under KASAN.
REPEATED_ON_PATCHED = {
    'bbm-movable': 'big blocks in ZONE_MOVABLE: soak[sbm-movable] and '
                   'test_70 cover both there',
    'sbm-kernel': 'sub blocks in the kernel zone: soak[bbm-kernel] and '
                  'test_40 cover both there',
}


@pytest.mark.parametrize('config', [
    pytest.param(c, id=c[0], marks=[pytest.mark.debian_lane(
        REPEATED_ON_PATCHED[c[0]])] if c[0] in REPEATED_ON_PATCHED else [])
    for c in CONFIGS])
def test_random_resizes_keep_data_and_both_sides_agree(boot_guest, config):
    name, settings, ceiling = config
    seed = f'{SOAK_SEED}-{name}'
    vmrig.log.info('soak: %s, %d resizes, SOAK_SEED=%d', name,
                   resizes_per_guest(), SOAK_SEED)
    g = boot_guest(**settings)
    soak = Soak(g, settings, ceiling, random.Random(seed))
    soak.run(resizes_per_guest())
    g.assert_dmesg_clean()
    if not soak.kernel_zone:
        assert soak.stats['pinned'] == 0
