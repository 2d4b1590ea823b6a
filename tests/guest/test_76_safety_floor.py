"""Unplug never starves the guest: the safety floor, page cache that gives
way, memory pressure that stops an unplug, and the shortfall explained on
both sides.

One guest (1 GiB boot, 4 GiB device in 4 MiB blocks, movable) with a
virtio disk for page cache and a second QMP socket for vmemctl.  Page
cache that reclaim can give back needs a real file system: tmpfs and
ramfs are not reclaimable without swap.  The files are sparse, so reading
them fills the page cache with zeroed pages and no disk I/O; the kernel
places page cache in ZONE_MOVABLE, that is in device memory.

These stories move GiB: the issue's own story holds 2.5 GiB of data, and
page cache is migrated or reclaimed block by block.  Filling and verifying
that much under TCG costs more than the 20 s a scenario should take; the
guest is shared by all of them.
"""

import atexit
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import vmrig
from vmrig import GiB, KiB, MiB, format_size

TRACING = '/sys/kernel/debug/tracing'
DRIVER_PARAMS = '/sys/module/virtio_mem/parameters'
VMEMCTL = Path(os.environ.get('VMEMCTL',
                              vmrig.REPO_DIR / 'tools/vmemctl/vmemctl'))

# A disk for page cache and a QMP socket for vmemctl, per pytest process.
_WORKDIR = Path(tempfile.mkdtemp(prefix='vmem76-'))
atexit.register(shutil.rmtree, _WORKDIR, True)
DISK = _WORKDIR / 'cache.img'
with open(DISK, 'wb') as _disk:
    _disk.truncate(256 * MiB)
VMEMCTL_SOCK = _WORKDIR / 'vmemctl.sock'

# ext2 on the disk: Debian's kernel has it in ext4.ko (and what that needs);
# the patched kernel has it built in, and none of these modules.
DISK_MODULES = ['lib/crc16.ko', 'crypto/crc32c_generic.ko', 'fs/mbcache.ko',
                'fs/jbd2/jbd2.ko', 'fs/ext4/ext4.ko',
                'drivers/block/virtio_blk.ko']

FLOOR_GUEST = dict(
    block='4M', online='online_movable', extra_modules=DISK_MODULES,
    extra_args=['-drive', f'file={DISK},format=raw,if=none,id=cache0,'
                          'cache=unsafe',
                '-device', 'virtio-blk-pci,drive=cache0',
                '-qmp', f'unix:{VMEMCTL_SOCK},server=on,wait=off'])

# The story: 1 GiB boot + 3 GiB plugged, 2.5 GiB held, ask for 0.
HELD_MB = 2560
# Mostly page cache: 2.5 GiB of it in a guest of 4 GiB.
CACHE_MB = 2560
# A workload that grows by GROW_MB during the unplug, in GROW_STEP_MB
# chunks, next to GROW_HELD_MB of data and GROW_CACHE_MB of page cache:
# without it the unplug would reach 0 (the page cache gives way), with it
# the guest cannot fit in its boot memory.
GROW_HELD_MB = 256
GROW_CACHE_MB = 2048
GROW_MB = 1024
GROW_STEP_MB = 64
# Under KASAN (the patched lane) page cache is filled and moved at a fifth
# of the speed: the two page cache stories plug 2 GiB and cache less (still
# more than half of MemTotal, and still more than boot memory can take
# with the growing workload).  The held-data story keeps the sizes.
KASAN_CACHE_PLUG = 2 * GiB
KASAN_CACHE_MB = 1536
KASAN_GROW_CACHE_MB = 1024
# ... and the workload grows by half as much: KASAN leaves 786 MiB of boot
# memory, and 1 GiB more of anonymous memory (no swap) that ZONE_MOVABLE,
# shrunk to the floor, cannot hold spills into ZONE_DMA32 until kernel
# allocations find nothing there (run F, and once alone: the unplug had
# stopped, the workload's own pages filled the zone).
KASAN_GROW_MB = 512
# Once memory frees up, the floor is looked at again every second: the
# unplug moves again within RESUME_TIMEOUT, and each memory block after
# that within it too.  Its pace is the machine's: a block of page cache
# takes 4-5 s to offline on the KASAN kernel with one runner, and 9 blocks
# took over 60 s in CI with two (run 18).  RESUME_TOTAL only bounds a
# creeping unplug.
RESUME_TIMEOUT = 60
RESUME_TOTAL = 600
# Sub Block Mode judges every step; no step is larger than a memory block.
MEMORY_BLOCK = 128 * MiB
PRESSURE_STALLS = 8

OOM_SIGNS = (r'Out of memory|oom-kill|invoked oom-killer|'
             r'page allocation failure')
# The floor of the guest as a whole, or the kernel zones' share of it.
FLOOR_REASON = re.compile(r'^guest needs the memory: (kernel zones )?(\d+) MiB '
                          r'available, floor (\d+) MiB$')
GUARD = re.compile(r'\s(\d+\.\d+): vmem_guard: \S+ want=(\d+) allowed=(\d+) '
                   r'available=(\d+) total=(\d+) floor=(\d+) stalls=(\d+) '
                   r'(\w+) kernel_available=(\d+) kernel_floor=(\d+) '
                   r'movable_free=(\d+)')
MARK = re.compile(r'\s(\d+\.\d+): tracing_mark_write: (\w+)')


def floor_auto(total):
    """The default floor, as Documentation/design.rst gives it:
    6 MiB * sqrt(2 * total / MiB) - 24 MiB, in whole bytes as the driver
    computes it."""
    root = 6 * 1024 * math.isqrt(2 * min(total, 1 << 62))
    return 0 if root <= 24 * MiB else min(root - 24 * MiB, total)


def assert_no_oom(g):
    bad = [line for line in g.dmesg() if re.search(OOM_SIGNS, line)]
    assert not bad, 'the guest ran out of memory:\n' + '\n'.join(bad)


def out_of_range_lines(g):
    return [line for line in g.dmesg() if 'out of range' in line]


def mount_cache_disk(g):
    """ext2 on the virtio disk at /mnt/cache (once per boot)."""
    if g.run('grep -q " /mnt/cache " /proc/mounts')[0] == 0:
        return
    names = ' '.join(Path(m).stem for m in DISK_MODULES)
    g.sh(f'for m in {names}; do grep -q "^$m " /proc/modules || '
         '[ ! -e /modules/$m.ko ] || insmod /modules/$m.ko || exit 1; done')
    vmrig.wait_for(lambda: g.run('[ -b /dev/vda ]')[0] == 0, 30,
                   'the virtio disk /dev/vda')
    g.sh('mke2fs -F -b 4096 /dev/vda >/dev/null && mkdir -p /mnt/cache && '
         'mount -t ext2 /dev/vda /mnt/cache', timeout=120)


def fill_page_cache(g, mb):
    """Read mb MiB of sparse files (512 MiB each) into the page cache,
    from nothing cached; returns the kB of page cache they added."""
    g.sh('sync && echo 3 > /proc/sys/vm/drop_caches')
    before = g.guest_meminfo()['Cached']
    g.sh(f'cd /mnt/cache && for i in $(seq {mb // 512}); do '
         'truncate -s 512M f$i && dd if=f$i of=/dev/null bs=1M 2>/dev/null '
         '|| exit 1; done', timeout=300)
    added = g.guest_meminfo()['Cached'] - before
    vmrig.log.info('%s: page cache +%d MiB', g.name, added // 1024)
    assert added >= (mb - 128) * 1024, f'only {added} kB of page cache'
    return added


def wait_for_floor_stop(g, timeout=300):
    """Wait until the driver says the floor holds the unplug back; returns
    (sysfs attributes, available MiB, floor MiB, whether it is the kernel
    zones' floor) from its reason."""
    attrs = vmrig.wait_for(
        g.driver_attrs, timeout, 'the floor to stop the unplug',
        until=lambda a: FLOOR_REASON.match(a.get('shortfall_reason', '')))
    vmrig.log.info('%s: driver says: %s', g.name, attrs)
    m = FLOOR_REASON.match(attrs['shortfall_reason'])
    return attrs, int(m.group(2)), int(m.group(3)), bool(m.group(1))


def kernel_zones_managed(g):
    """Bytes the zones below ZONE_MOVABLE manage (/proc/zoneinfo)."""
    managed, zone = 0, None
    for line in g.sh('cat /proc/zoneinfo').splitlines():
        m = re.match(r'Node \d+, zone\s+(\w+)', line)
        if m:
            zone = m.group(1)
            continue
        m = re.match(r'\s+managed\s+(\d+)$', line)
        if m and zone in ('DMA', 'DMA32', 'Normal'):
            managed += int(m.group(1)) * 4096
    return managed


def kernel_floor(g, floor):
    """The kernel zones' floor: a quarter of the guest's, at most an eighth
    of those zones."""
    return min(floor // 4, kernel_zones_managed(g) // 8)


def vmemctl_status():
    if not os.access(VMEMCTL, os.X_OK):
        pytest.fail(f'{VMEMCTL} is not built (run make tools)')
    r = subprocess.run([str(VMEMCTL), '-s', str(VMEMCTL_SOCK), 'status'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == '', r
    return r.stdout.splitlines()


def trace_guard(g, on):
    g.sh(f'echo {int(on)} > {TRACING}/events/virtio_mem/vmem_guard/enable; '
         f'echo > {TRACING}/trace')


def guard_events(g):
    """The driver's judgements of unplug steps, and the trace markers:
    ([(time, want, allowed, available, total, floor, stalls, decision,
    kernel available, kernel floor, ZONE_MOVABLE free)], {marker: time})."""
    events, marks = [], {}
    for line in g.sh(f'cat {TRACING}/trace', timeout=120).splitlines():
        m = GUARD.search(line)
        if m:
            events.append((float(m.group(1)),
                           *(int(m.group(i)) for i in range(2, 8)),
                           m.group(8), int(m.group(9)), int(m.group(10)),
                           int(m.group(11))))
            continue
        m = MARK.search(line)
        if m:
            marks[m.group(2)] = float(m.group(1))
    return events, marks


def wait_resumed_to_zero(g, holders):
    """Stop the holders; the unplug goes on by itself, no host action."""
    for h in holders:
        h.stop()
    assert g.qemu_requested() == 0
    assert g.wait_qemu_size(0, timeout=RESUME_TOTAL,
                            stall=RESUME_TIMEOUT) == 0, \
        f'unplug did not go on to 0, a block at least every ' \
        f'{RESUME_TIMEOUT}s: {g.driver_attrs()}'
    g.wait_both_sides(0)
    vmrig.wait_for(g.driver_attrs, 30, 'shortfall 0 and reason "none"',
                   until=lambda a: (a['shortfall'], a['shortfall_reason'])
                   == ('0', 'none'))


def test_bad_floor_values_are_refused_with_one_line(boot_guest):
    """At load time (insmod) and at run time (the device's attribute and
    the module parameter in sysfs): a bad floor is refused, with one line
    saying what is allowed, and the floor stays as it was.  (Both lanes:
    it reloads the driver.)"""
    g = boot_guest(**FLOOR_GUEST)
    memtotal_mb = g.guest_memtotal() // 1024
    dev = g.driver_dir()
    assert g.driver_attr('safety_floor_mb') == 'auto'
    assert int(g.driver_attr('safety_floor')) == \
        floor_auto(g.guest_memtotal() * KiB)

    for path in (f'{dev}/safety_floor_mb',
                 f'{DRIVER_PARAMS}/safety_floor_mb'):
        for bad in ('-1', 'lots', str(memtotal_mb + 1), '4294967296'):
            before = len(out_of_range_lines(g))
            rc, out = g.run(f'for f in {path}; do echo {bad} > $f; done')
            assert rc != 0, f'{path} took {bad}: {out}'
            new = out_of_range_lines(g)[before:]
            assert len(new) == 1, new
            want = (rf'safety_floor_mb={re.escape(bad)} out of range: '
                    rf'want auto, or 0\.\.{memtotal_mb} MiB')
            assert re.search(want, new[0]), new[0]
            assert g.driver_attr('safety_floor_mb') == 'auto'
        for good, shown in (('100', '100'), ('0', '0'),
                            (str(memtotal_mb), str(memtotal_mb)),
                            ('auto', 'auto')):
            g.sh(f'for f in {path}; do echo {good} > $f; done')
            # One floor for the guest: both places show it.
            assert g.driver_attr('safety_floor_mb') == shown
            assert g.sh(f'cat {DRIVER_PARAMS}/safety_floor_mb').strip() == \
                shown
        assert g.sh(f'cat {DRIVER_PARAMS}/safety_floor_mb').strip() == 'auto'

    before = len(out_of_range_lines(g))
    rc, out = g.run(f'echo 1000001 > {DRIVER_PARAMS}/pressure_stalls')
    assert rc != 0, out
    assert len(out_of_range_lines(g)) == before + 1

    # At load time the module refuses to load, with the same line (the
    # kernel adds its own "invalid for parameter" line after ours).
    # busybox insmod asks twice (finit_module, then init_module when that
    # fails): one line per attempt, the same line.
    g.unload_virtio_mem()
    for bad in ('-5', f'{memtotal_mb + 1}'):
        before = len(out_of_range_lines(g))
        rc, out = g.run(f'insmod /vmem/virtio_mem.ko safety_floor_mb={bad}')
        assert rc != 0, out
        new = {line.split('] ', 1)[1]
               for line in out_of_range_lines(g)[before:]}
        assert len(new) == 1, new
        assert f'safety_floor_mb={bad} out of range' in new.pop()
        assert not g.driver_loaded()
    g.load_virtio_mem()
    assert g.driver_loaded()


def test_held_data_stops_the_unplug_at_the_floor_until_the_holder_exits(
        boot_guest):
    """The issue's story: 1 GiB boot + 3 GiB plugged, 2.5 GiB of anonymous
    data held, the host asks for 0.  The driver unplugs what it can and
    stops at the floor: no OOM kill, no failed allocation, the data
    intact, and room left for a new 128 MiB buffer.  The shortfall shows
    in QEMU (plugged above requested), in sysfs with the floor, and in
    vmemctl status.  When the holder exits, the unplug reaches 0 by
    itself within seconds."""
    g = boot_guest(**FLOOR_GUEST)
    g.resize_and_check(3 * GiB)
    holder = g.start_memtool('hold-anon', HELD_MB)
    holder.wait_output(r'^ready ', timeout=600)

    g.resize(0)
    attrs, avail_mb, floor_mb, kernel = wait_for_floor_stop(g)
    plugged = g.qemu_size()
    assert 0 < plugged < 3 * GiB, format_size(plugged)
    # It stopped: nothing more goes while the data is held.
    vmrig.hold_for(lambda: g.qemu_size() == plugged, 3,
                   f'QEMU size staying at {format_size(plugged)}')
    assert_no_oom(g)

    # The floor is the documented one for the guest's size now (or the
    # kernel zones' quarter of it), and the driver went down to it: one more
    # 4 MiB sub block would break it.
    memtotal = g.guest_memtotal() * KiB
    floor = floor_auto(memtotal)
    assert int(g.driver_attr('safety_floor')) == floor
    vmrig.log.info('%s: stopped by the %s floor', g.name,
                   'kernel zones\'' if kernel else 'guest\'s')
    if kernel:
        assert floor_mb == kernel_floor(g, floor) >> 20
        assert int(g.driver_stats()['kernel_floor']) == \
            kernel_floor(g, floor)
    else:
        assert floor_mb == floor >> 20
        assert g.guest_meminfo()['MemAvailable'] * KiB >= \
            (floor_mb - 32) * MiB
    assert floor_mb - 32 <= avail_mb < floor_mb + 8, (avail_mb, floor_mb)

    # Both sides say it.
    assert g.qemu_requested() == 0 and g.qemu_size() == plugged
    assert int(attrs['plugged_size']) == plugged
    assert int(attrs['requested_size']) == 0
    assert int(attrs['shortfall']) == plugged
    status = vmemctl_status()
    assert f'vm0: shortfall {format_size(plugged)} (plugged above ' \
           'requested)' in status, status
    assert re.search(r'guest needs the memory: (kernel zones )?\d+ MiB '
                     rf'available, floor {floor_mb} MiB',
                     '\n'.join(g.dmesg())), \
        'no kernel log line of the shortfall'

    holder.signal('USR1')
    seen = holder.wait_output(r'^verify ', timeout=600)
    assert seen.startswith('verify ok'), seen
    extra = g.start_memtool('hold-anon', 128)
    extra.wait_output(r'^ready ', timeout=120)
    extra.stop()
    assert_no_oom(g)

    wait_resumed_to_zero(g, [holder])
    assert_no_oom(g)


def test_page_cache_gives_way_and_the_unplug_reaches_the_target(boot_guest):
    """A guest whose memory is mostly page cache shrinks all the way: the
    cache is reclaimed (or migrated) block by block and the floor, which
    counts reclaimable cache as available, never holds the unplug back."""
    g = boot_guest(**FLOOR_GUEST)
    mount_cache_disk(g)
    plug, cache_mb = ((KASAN_CACHE_PLUG, KASAN_CACHE_MB) if g.kasan()
                      else (3 * GiB, CACHE_MB))
    g.resize_and_check(plug)
    fill_page_cache(g, cache_mb)
    info = g.guest_meminfo()
    assert info['Cached'] > info['MemTotal'] // 2, info
    before = g.driver_stats()

    g.resize(0)
    assert g.wait_qemu_size(0, timeout=300) == 0, g.driver_attrs()
    g.wait_both_sides(0)
    after = g.driver_stats()
    vmrig.log.info('%s: floor stops %d, pressure stops %d, own stalls %d',
                   g.name, after['floor_stops'] - before['floor_stops'],
                   after['pressure_stops'] - before['pressure_stops'],
                   after['reclaim_stalls_own'] -
                   before['reclaim_stalls_own'])
    assert after['floor_stops'] == before['floor_stops']
    shrunk = info['Cached'] - g.guest_meminfo()['Cached']
    assert shrunk >= (cache_mb - 1024) * 1024, f'cache shrank {shrunk} kB'
    g.expect_driver_attrs(shortfall=0, shortfall_reason='none')
    assert_no_oom(g)


def test_workload_growing_during_the_unplug_stops_it_within_one_step(
        boot_guest):
    """A long unplug of a guest full of page cache, and a workload that
    grows by 1 GiB (512 MiB under KASAN) meanwhile.  Without the workload
    the unplug would reach 0 (the story above); with it, the driver stops
    (for a floor or for the allocation stalls of the workload), having
    judged every step of at most a memory block before taking it, and
    backs off instead of trying again at once.  The workload gets all its memory; once it and the
    data exit, the unplug goes on to 0."""
    g = boot_guest(**FLOOR_GUEST)
    mount_cache_disk(g)
    plug, cache_mb, grow_mb = (
        (KASAN_CACHE_PLUG, KASAN_GROW_CACHE_MB, KASAN_GROW_MB) if g.kasan()
        else (3 * GiB, GROW_CACHE_MB, GROW_MB))
    g.resize_and_check(plug)
    holder = g.start_memtool('hold-anon', GROW_HELD_MB)
    holder.wait_output(r'^ready ', timeout=300)
    fill_page_cache(g, cache_mb)
    trace_guard(g, True)
    try:
        g.resize(0)
        vmrig.wait_for(g.qemu_size, 120, 'the unplug to start',
                       until=lambda size: size < plug, interval=0.05)
        g.sh(f'echo grow > {TRACING}/trace_marker')
        grower = g.start_memtool('grow-anon', grow_mb, GROW_STEP_MB)
        assert grower.wait_output(r'^done ', timeout=300) == \
            f'done {grow_mb} MiB'
        wait_for_floor_stop(g)
        # Stopped short of 0.  Each retry (every second) may still take
        # what the floor allows as caches shrink: wait until it settles.
        plugged = g.wait_qemu_size_settled(quiet=3, timeout=120)
        assert plugged > 0
        events, marks = guard_events(g)
    finally:
        trace_guard(g, False)
    assert_no_oom(g)
    for proc in (holder, grower):
        proc.signal('USR1')
        seen = proc.wait_output(r'^verify ', timeout=300)
        assert seen.startswith('verify ok'), seen

    assert events, 'no vmem_guard trace events'
    stops = [e for e in events if e[7] in ('floor', 'pressure')]
    vmrig.log.info('%s: %d judgements, %d stops (%s); first stop %.2fs '
                   'after the workload started', g.name, len(events),
                   len(stops), sorted({e[7] for e in stops}),
                   stops[0][0] - marks['grow'] if stops else -1)
    kernel_zones = kernel_zones_managed(g)
    for (t, want, allowed, avail, total, floor, stalls, decision, kavail,
         kfloor, mfree) in events:
        cost = max(0, allowed - mfree)
        what = f'judgement at {t}: {decision}, want {want}, allowed ' \
               f'{allowed}, available {avail}, total {total}, floor ' \
               f'{floor}, kernel zones {kavail} available, floor ' \
               f'{kfloor}, ZONE_MOVABLE {mfree} free'
        # The driver's floors are the documented ones.
        assert floor == floor_auto(total), what
        assert kfloor == min(floor // 4, kernel_zones // 8), what
        if decision in ('go', 'shrunk'):
            # Each step is at most a memory block and leaves both floors,
            # even if what ZONE_MOVABLE cannot take lands in the kernel
            # zones.
            assert 0 < allowed <= min(want, MEMORY_BLOCK), what
            assert avail - allowed >= floor_auto(total - allowed), what
            assert cost == 0 or kavail - cost >= kfloor, what
            assert stalls < PRESSURE_STALLS, what
        elif decision == 'pressure':
            assert stalls >= PRESSURE_STALLS and allowed == 0, what
        else:
            assert decision == 'floor' and allowed == 0, what
    # The workload is what stopped it, and the driver backed off after each
    # stop instead of judging again at once.
    assert stops and stops[0][0] > marks['grow'], \
        'the unplug stopped before the workload grew'
    for stop in stops:
        later = [e for e in events if e[0] > stop[0]]
        if later:
            assert later[0][0] - stop[0] >= 0.9, \
                f'judged again {later[0][0] - stop[0]:.2f}s after a stop'

    wait_resumed_to_zero(g, [grower, holder])
    assert_no_oom(g)
