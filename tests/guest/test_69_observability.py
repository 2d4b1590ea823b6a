"""What the driver shows about itself: tracepoints for requests, sub
blocks and memory block states, and the last error in debugfs."""

import re

import pytest

from vmrig import MiB

TRACING = '/sys/kernel/tracing'


def test_tracepoints_show_requests_plugs_and_state_changes(boot_guest):
    g = boot_guest(block='4M')
    g.sh(f'mountpoint -q {TRACING} || mount -t tracefs none {TRACING}')
    g.sh(f'echo > {TRACING}/trace')
    g.sh(f'echo 1 > {TRACING}/events/virtio_mem/enable')
    try:
        g.resize_and_check(132 * MiB)
        g.resize_and_check(0)
    finally:
        g.sh(f'echo 0 > {TRACING}/events/virtio_mem/enable')
    trace = g.sh(f'cat {TRACING}/trace')
    # 132 MiB: one memory block filled, one more with one sub block.
    assert re.search(r'vmem_request: virtio\d+ PLUG addr=0x[0-9a-f]+ '
                     r'blocks=32 resp=ACK', trace), trace
    assert re.search(r'vmem_plug: virtio\d+ memory\d+ sub blocks 0\+1 rc=0',
                     trace), trace
    assert re.search(r'vmem_mb_state: virtio\d+ memory\d+ online_movable',
                     trace), trace
    assert re.search(r'vmem_request: virtio\d+ UNPLUG .* resp=ACK', trace)
    assert re.search(r'vmem_mb_state: virtio\d+ memory\d+ unused', trace)
    runs = re.findall(r'vmem_run: virtio\d+ requested=(\d+) plugged=(\d+) '
                      r'rc=(-?\d+)', trace)
    assert ('138412032', '138412032', '0') in runs, runs
    assert runs[-1] == ('0', '0', '0'), runs


@pytest.mark.debian_lane('what debugfs says; the kernel-zone shortfall it '
                         'provokes runs on the patched lane in test_40')
def test_debugfs_keeps_the_last_error(boot_guest):
    g = boot_guest(block='4M', online='online_kernel')
    stats = g.sh('cat /sys/kernel/debug/virtio_mem/virtio*/stats')
    assert re.search(r'^last_error 0 none$', stats, re.M), stats
    g.resize_and_check(512 * MiB)
    pipes = g.start_memtool('hold-pipes', 400)
    pipes.wait_output(r'^ready ', timeout=120)
    g.resize(0)
    g.wait_qemu_size_settled(quiet=5, timeout=180)
    stats = g.sh('cat /sys/kernel/debug/virtio_mem/virtio*/stats')
    assert re.search(r'^last_error -\d+ [a-z ]+, retrying$', stats,
                     re.M), stats
    pipes.stop()
