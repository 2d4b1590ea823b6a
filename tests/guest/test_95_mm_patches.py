"""What each patch of mm-patches/ changes in core mm, shown on the kernel
under test with tests/kmod's mm_probe module and an ACPI DIMM.

RIG_MM_PATCHED=1 (set by `make check KERNEL=patched`) expects the patched
behaviour, otherwise Debian's 6.1 behaviour, which each patch exists to
change.  Running with RIG_MM_PATCHED=1 on Debian's kernel makes both tests
fail: that is the effect of the patches, shown.

  0001  a kernel thread that offlines memory holding an unmovable page
        (here the ACPI hotplug worker ejecting the DIMM) gives up after
        memory_hotplug.offline_timeout_ms; on 6.1 it retries forever.
  0002  a memory block with PageOffline pages marked skippable offlines
        with nothing done in the memory notifier, and MemTotal drops by
        exactly the pages that were still managed; on 6.1 offlining fails
        with EBUSY (the pages count as unmovable).
"""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from vmrig import MiB, RigError, log

PATCHED = os.environ.get('RIG_MM_PATCHED') == '1'
PROBE = os.environ.get('RIG_PROBE_KO')
MEMORY = '/sys/devices/system/memory'
TIMEOUT_PARAM = '/sys/module/memory_hotplug/parameters/offline_timeout_ms'
EJECT = 3                   # ACPI_NOTIFY_EJECT_REQUEST, the OST source
OST_IN_PROGRESS = 0x84      # ACPI_OST_SC_EJECT_IN_PROGRESS: not final


@pytest.fixture
def probe_guest(boot_guest):
    """boot_guest(...) with mm_probe loaded; settings unique per test so
    the guest (which ends up with a DIMM) is never shared."""
    if not PROBE or not Path(PROBE).is_file():
        pytest.skip('mm_probe.ko is not built (make probe; RIG_PROBE_KO)')

    def get(tag):
        g = boot_guest(load_driver=False, kernel_args=f'mm_probe.test={tag}')
        g.sh('insmod /vmem/mm_probe.ko')
        g.mm_patched = g.run(f'test -e {TIMEOUT_PARAM}')[0] == 0
        return g
    return get


def add_dimm(g, size=128 * MiB):
    """Hot-add a pc-dimm; wait until the guest onlined all of it.
    Returns (first pfn, memory block numbers)."""
    g.qmp.execute('object-add', {'qom-type': 'memory-backend-ram',
                                 'id': 'dimm-mem', 'size': size})
    g.qmp.execute('device_add', driver='pc-dimm', id='dimm0',
                  memdev='dimm-mem')
    dimm = next(d['data'] for d in g.qmp.execute('query-memory-devices')
                if d['type'] == 'dimm' and d['data']['id'] == 'dimm0')
    bs = g.memory_block_size()
    assert dimm['addr'] % bs == 0 and size % bs == 0, dimm
    blocks = list(range(dimm['addr'] // bs, (dimm['addr'] + size) // bs))
    deadline = time.monotonic() + 60
    while True:
        states = [g.guest_memory_blocks().get(b, {}).get('state')
                  for b in blocks]
        if states == ['online'] * len(blocks):
            return dimm['addr'] >> 12, blocks
        if time.monotonic() > deadline:
            raise RigError(f'DIMM blocks {blocks} not online: {states}')
        g.sh('sleep 0.5')


def block_state(g, block):
    return g.sh(f'cat {MEMORY}/memory{block}/state').strip()


def wait_ost(g, timeout):
    """The guest's final _OST answer to the eject, or None."""
    deadline = time.monotonic() + timeout
    while True:
        ev = g.qmp.wait_event('ACPI_DEVICE_OST',
                              max(0.1, deadline - time.monotonic()))
        if ev is None:
            return None
        info = ev['data']['info']
        if info.get('device') == 'dimm0' and info['source'] == EJECT and \
                info['status'] != OST_IN_PROGRESS:
            return info


def remove_dimm(g):
    g.qmp.clear_events()
    g.qmp.execute('device_del', id='dimm0')
    assert g.qmp.wait_event('DEVICE_DELETED', 120), 'the DIMM stayed'


def test_0001_kernel_thread_offlining_gives_up(probe_guest):
    g = probe_guest('0001')
    assert g.mm_patched == PATCHED, \
        f'memory_hotplug.offline_timeout_ms present: {g.mm_patched}'
    if PATCHED:
        g.sh(f'echo 3000 > {TIMEOUT_PARAM}')
    pfn, blocks = add_dimm(g)
    # 2 MiB of unmovable memory in the DIMM's (movable) memory block.
    g.sh(f'echo {pfn + 8192} 512 busy > /sys/kernel/debug/mm_probe/take')

    g.qmp.clear_events()
    t0 = time.monotonic()
    g.qmp.execute('device_del', id='dimm0')
    if PATCHED:
        ost = wait_ost(g, 120)
        took = time.monotonic() - t0
        assert ost is not None, 'no _OST answer to the eject'
        log.info('0001: eject answered %#x after %.1f s', ost['status'], took)
        assert ost['status'] != 0, f'eject succeeded with memory held: {ost}'
        assert took >= 3, f'gave up after {took:.1f}s, before the limit'
        assert [block_state(g, b) for b in blocks] == ['online'] * len(blocks)
        assert g.qmp.wait_event('DEVICE_DELETED', 0) is None
        g.sh('echo > /sys/kernel/debug/mm_probe/release')
        # QEMU forgets a refused eject: ask again, now it works.
        remove_dimm(g)
    else:
        # The kacpi_hotplug worker is stuck in offline_pages(): the block
        # stays "going-offline" and no answer comes, however long we wait.
        deadline = time.monotonic() + 60
        while block_state(g, blocks[0]) != 'going-offline':
            assert time.monotonic() < deadline, 'offlining never started'
            g.sh('sleep 0.2')
        assert wait_ost(g, 15) is None, 'the eject was answered'
        assert block_state(g, blocks[0]) == 'going-offline'
        log.info('0001: no answer to the eject after %.1f s, block still '
                 'going-offline', time.monotonic() - t0)
        # Freeing the pages is the only way out on 6.1.
        g.sh('echo > /sys/kernel/debug/mm_probe/release')
        assert g.qmp.wait_event('DEVICE_DELETED', 120), 'the DIMM stayed'
    present = g.guest_memory_blocks()
    assert not [b for b in blocks if b in present]


def test_0002_offline_skips_skippable_pages(probe_guest):
    g = probe_guest('0002')
    assert 'skippable PageOffline: ' + ('yes' if PATCHED else 'no') in \
        g.sh('dmesg | grep mm_probe:')
    pfn, blocks = add_dimm(g)
    block = blocks[0]
    start_kb = g.guest_memtotal()
    g.sh(f'echo {pfn + 8192} 512 offline > /sys/kernel/debug/mm_probe/take')
    assert g.guest_memtotal() == start_kb - 2048

    rc, out = g.run(f'timeout 60 sh -c "echo offline > '
                    f'{MEMORY}/memory{block}/state"', timeout=120)
    log.info('0002: offline rc %d (%s), MemTotal %+d kB', rc, out.strip(),
             g.guest_memtotal() - start_kb)
    if PATCHED:
        assert rc == 0, out
        assert block_state(g, block) == 'offline'
        # The 2 MiB already left the managed count; nothing twice.
        assert g.guest_memtotal() == start_kb - 128 * 1024
        assert g.sh('cat /sys/kernel/debug/mm_probe/held').strip() == ''
        g.sh(f'echo online_movable > {MEMORY}/memory{block}/state')
        assert g.guest_memtotal() == start_kb
    else:
        assert rc != 0 and 'busy' in out, \
            f'offline did not fail with EBUSY: rc {rc}: {out}'
        assert block_state(g, block) == 'online'
        assert g.guest_memtotal() == start_kb - 2048
        assert re.search(r'\d+ 512 offline', g.sh(
            'cat /sys/kernel/debug/mm_probe/held'))
        g.sh('echo > /sys/kernel/debug/mm_probe/release')
        assert g.guest_memtotal() == start_kb
    remove_dimm(g)
    present = g.guest_memory_blocks()
    assert not [b for b in blocks if b in present]


def test_driver_build_matches_kernel():
    """The driver picks its code paths from the kernel headers: on the
    patched kernel it must use both core mm features, on 6.1 neither."""
    ko = os.environ.get('VMEM_KO')
    if not ko or not Path(ko).is_file():
        pytest.skip('VMEM_KO is not built')
    out = subprocess.run(['modinfo', '-F', 'core_mm', ko], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == ('offline_timeout offline_skippable' if PATCHED
                   else 'none'), out
