"""vmemstat, the guest tool, shows the block map and counters of the
driver, and they agree with QEMU and with the kernel's memory blocks."""

import re

import pytest

from vmrig import MiB

pytestmark = pytest.mark.debian_lane(
    'vmemstat, a user-space reader of the driver\'s debugfs')


def vmemstat_rows(out):
    """BLOCK table rows: {n: (state, plugged MiB, map)}."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r'\s+memory(\d+)\s+(\S+)\s+(\d+) (MiB|GiB|B)\s+([#.]+)$',
                     line)
        if m:
            size = int(m.group(3)) * {'B': 0, 'MiB': 1, 'GiB': 1024}[m.group(4)]
            rows[int(m.group(1))] = (m.group(2), size, m.group(5))
    return rows


def test_vmemstat_block_map_matches_qemu_and_sysfs(boot_guest):
    g = boot_guest(block='4M')
    g.resize_and_check(1028 * MiB)
    g.resize_and_check(900 * MiB)

    out = g.sh('vmemstat -n')
    assert re.search(r'^virtio\d+: Sub Block Mode, device block 4 MiB, '
                     r'sub block 4 MiB, region 0x[0-9a-f]+ \+4 GiB$', out,
                     re.M), out
    assert 'plugged 900 MiB, requested 900 MiB' in out, out
    rows = vmemstat_rows(out)
    assert sum(size for _, size, _ in rows.values()) == 900, out

    blocks = g.device_memory_blocks()
    assert set(rows) == set(blocks), (rows, blocks)
    for n, (state, size, bitmap) in rows.items():
        assert len(bitmap) == 32, bitmap
        assert bitmap.count('#') * 4 == size
        assert (state == 'online_movable') == (blocks[n]['state'] == 'online'), \
            (n, state, blocks[n])
    # 900 MiB = 7 full memory blocks and one with 1 of 32 sub blocks.
    partial = [bitmap for _, _, bitmap in rows.values() if '.' in bitmap]
    assert partial == ['#' + '.' * 31], partial

    # An offlined block shows up as offline.
    n = max(rows)
    assert g.set_memory_block_state(n, 'offline')[0] == 0
    assert vmemstat_rows(g.sh('vmemstat -n'))[n][0] == 'offline'
    assert g.set_memory_block_state(n, 'online_movable')[0] == 0

    # Counters, and unused blocks on request.
    counters = g.sh('vmemstat -n -c')
    assert re.search(r'requests_PLUG_ack=\d+', counters), counters
    assert re.search(r'requests_UNPLUG_ack=\d+', counters), counters
    every = vmemstat_rows(g.sh('vmemstat -n -a'))
    assert len(every) == 32 and \
        sum(1 for s, _, _ in every.values() if s == 'unused') == 24, every


def test_vmemstat_names_a_device_it_cannot_show(boot_guest):
    g = boot_guest(block='4M')
    rc, out = g.run('vmemstat -n virtio9')
    assert rc == 1
    assert out.strip() == ('vmemstat: virtio9: not a device of the '
                           'virtio_mem driver (No such file or directory)'), out
