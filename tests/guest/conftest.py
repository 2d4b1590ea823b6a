"""Fixtures for the guest scenarios.

Booting a guest costs seconds under TCG, so guests are pooled: a test asks
`boot_guest(**settings)` for a guest, and gets the one from the previous
test if that one had the same settings, passed, and could be brought back
to a clean state (nothing plugged, no helpers running, MemTotal at its
boot value).  Otherwise the old guest is stopped and a new one boots.
Tests of one file run one after the other in one process, so a file's
tests that share settings share a guest; the files themselves are shared
out between two processes (tests/rig/runners, tests/rig/rigqueue.py).

After every test the kernel log lines it produced are checked
(assert_dmesg_clean); a failing test's guest keeps its logs (the path is
printed) and is not reused.

Lanes: `make check` runs these tests on Debian's kernel, `make check
KERNEL=patched` on the patched debug kernel (RIG_LANE=patched).  A test
marked @pytest.mark.debian_lane(reason) runs on Debian's kernel only: it
checks nothing the patched kernel changes or its debug options watch (a
host tool, the rig), and the patched lane, five times slower per test,
leaves it out, saying why (see Documentation/testing.rst).

Environment:
  VMEM_KO                 our module (default: virtio_mem.ko at the top of
                          the repository)
  RIG_LANE                debian (default) or patched
  RIG_NO_DRIVER_ATTRS=1   skip checks of the driver's sysfs attributes
                          (see vmrig.Guest.expect_driver_attrs)
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'rig'))
import vmrig  # noqa: E402
from rigtimes import (  # noqa: E402,F401  (the time table's hooks)
    pytest_runtest_protocol, pytest_terminal_summary)
import rigqueue  # noqa: E402
from rigqueue import pytest_runtestloop  # noqa: E402,F401

# The files that take longest first, so that the runners sharing them
# (tests/rig/runners) end together: measured on both kernels, see
# Documentation/testing.rst (test_76 placed by estimate: GiB of data filled
# and migrated under TCG).  Files not named here come after these.
rigqueue.COST_ORDER = [
    'test_90_kdump.py', 'test_73_lifecycle.py', 'test_80_soak.py',
    'test_70_bigblocks.py', 'test_76_safety_floor.py', 'test_30_movable.py',
    'test_74_faults.py', 'test_20_resize.py', 'test_75_retarget.py',
    'test_40_kernel_zone.py',
    'test_71_numa.py', 'test_72_multidev.py', 'test_67_memmap_on_memory.py',
    'test_65_bad_input.py', 'test_69_observability.py', 'test_95_mm_patches.py',
]

KO = Path(os.environ.get('VMEM_KO', vmrig.REPO_DIR / 'virtio_mem.ko'))


LANE = os.environ.get('RIG_LANE', 'debian')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'debian_lane(reason): runs on Debian\'s kernel only; '
        'the patched lane leaves it out, for the reason given')


def pytest_collection_modifyitems(config, items):
    if LANE == 'debian':
        return
    left = [i for i in items if i.get_closest_marker('debian_lane')]
    if not left:
        return
    items[:] = [i for i in items if i not in left]
    config.hook.pytest_deselected(items=left)
    reasons = {}
    for item in left:
        why = item.get_closest_marker('debian_lane').args[0]
        reasons.setdefault(why, []).append(item.name)
    for why, names in reasons.items():
        vmrig.log.info('lane %s leaves out %s: %s', LANE, ', '.join(names),
                       why)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, 'rep_' + rep.when, rep)


class GuestPool:
    """At most one running guest, reused by tests with equal settings."""

    def __init__(self, helpers):
        self.helpers = helpers
        self.guest = None
        self.settings = None
        self.boots = 0

    # Settings a test leaves out, so equal guests compare equal.
    DEFAULTS = dict(boot='1G', region='4G', block='4M', requested=0,
                    online='online_movable', load_driver=True)

    def get(self, name, settings):
        settings = {**self.DEFAULTS, **settings}
        # last_use=True: the test leaves the guest in a state no reset
        # undoes (a hot-added device): it may take over the previous
        # test's guest, but its guest is never handed to a later test.
        last_use = settings.pop('last_use', False)
        for key in ('boot', 'region', 'block', 'requested'):
            settings[key] = vmrig.parse_size(settings[key])
        if settings.get('load_driver', True):
            if not KO.is_file():
                pytest.skip(f'{KO} is not built (run make, or set VMEM_KO)')
            settings['ko'] = str(KO)
        if self.guest and self.settings == settings and self._reset():
            vmrig.log.info('%s: reusing the guest of the previous test',
                           self.guest.name)
            if last_use:
                self.settings = None
            return self.guest
        self.discard()
        guest = vmrig.Guest(name=name, helpers=self.helpers, **settings)
        guest.start()
        self.boots += 1
        self.guest, self.settings = guest, settings
        # Never reused: a guest booted with memory requested (that state
        # cannot be put back), and a guest onlining to the kernel zone
        # (the kernel's own allocations land in device memory and may keep
        # some of it plugged for good: resetting to 0 can fail).
        if settings['requested'] or settings['online'] == 'online_kernel' \
                or last_use or any(vmrig.parse_size(d.get('requested', 0))
                                    for d in settings.get('extra_vmem', ())):
            self.settings = None
        guest.assert_dmesg_clean()
        return guest

    @vmrig.timed('reset')
    def _reset(self):
        g = self.guest
        try:
            if not g.alive() or g.broken:
                return False
            g.run('killall memtool')
            wait_no_memtool(g)
            if g.load_driver and not g.driver_loaded():
                return False
            devices = g.vmem_ids()
            for dev in devices:
                g.online_offline_device_blocks(dev)
            busy = [dev for dev in devices
                    if g.qemu_requested(dev) != 0 or g.qemu_size(dev) != 0]
            for dev in busy:
                g.resize(0, dev=dev)
            for dev in busy:
                left = g.wait_qemu_size(0, timeout=60, dev=dev)
                if left:
                    raise vmrig.RigError(f'{dev} still has '
                                         f'{vmrig.format_size(left)} '
                                         'plugged after 60 s')
            if busy:
                g.wait_both_sides_all({dev: 0 for dev in devices})
            if g.guest_memtotal() != g.base_memtotal():
                return False
            g.assert_dmesg_clean()
            return True
        except vmrig.RigError as err:
            vmrig.log.warning('%s: cannot reuse: %s', g.name,
                              str(err).splitlines()[0])
            # A guest that a passing test left unable to empty its device
            # is worth a look: keep its logs.
            g.close(failed=True)
            return False

    def discard(self, failed=False):
        if self.guest:
            self.guest.close(failed=failed)
        self.guest = self.settings = None


def wait_no_memtool(g, timeout=60):
    vmrig.wait_for(lambda: g.run('pidof memtool')[0] != 0, timeout,
                   'every memtool to exit')


def guest_name(settings):
    """A short name saying what kind of guest this is, for the logs."""
    parts = ['vm', str(settings.get('block', '4M')),
             settings.get('online', 'online_movable').replace('online_', '')]
    if settings.get('requested'):
        parts.append(f'req{settings["requested"]}')
    if not settings.get('load_driver', True):
        parts.append('noload')
    for d in settings.get('extra_vmem', ()):
        parts.append(f'{d["id"]}_{d.get("block", "4M")}')
    if settings.get('numa_nodes'):
        parts.append(f'numa{len(settings["numa_nodes"])}')
    if settings.get('driver_params'):
        parts.append(str(settings['driver_params']).replace('=', '')
                     .replace(',', '_'))
    if settings.get('unplugged_inaccessible') is not None:
        parts.append('ui' + ('on' if settings['unplugged_inaccessible']
                             else 'off'))
    if settings.get('no_reboot') is False:
        parts.append('reboot')
    if settings.get('extra_modules'):
        parts.append('mods')
    return '-'.join(parts)


@pytest.fixture(scope='session')
def helpers():
    return vmrig.guest_programs()


@pytest.fixture(scope='session')
def guest_pool(helpers):
    pool = GuestPool(helpers)
    yield pool
    pool.discard()
    vmrig.log.info('guests booted in this session: %d', pool.boots)


@pytest.fixture
def boot_guest(request, guest_pool):
    """boot_guest(**settings) -> a running vmrig.Guest (see vmrig.Guest
    for the settings).  Checks the kernel log after the test."""
    used = []

    def get(**settings):
        g = guest_pool.get(guest_name(settings), settings)
        used.append(g)
        return g

    yield get

    rep = getattr(request.node, 'rep_call', None)
    failed = rep is None or rep.failed
    for g in used:
        if g is not guest_pool.guest:
            continue
        if failed:
            guest_pool.discard(failed=True)
            continue
        try:
            g.assert_dmesg_clean()
        except vmrig.RigError:
            guest_pool.discard(failed=True)
            raise


# A guest with two NUMA nodes of 512 MiB boot memory each and one
# virtio-mem device per node, of different block sizes and modes: vm0 on
# node 0 in Sub Block Mode (2 MiB blocks), vm1 on node 1 in Big Block Mode
# (128 MiB blocks).  The NUMA and several-devices stories share it.
TWO_NODES_TWO_DEVICES = dict(
    block='2M', region='4G', node=0, numa_nodes=['512M', '512M'],
    extra_vmem=[dict(id='vm1', block='128M', region='4G', node=1)])
