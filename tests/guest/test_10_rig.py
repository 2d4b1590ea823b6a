"""The rig itself: initramfs, boot, serial commands, QMP, memtool.

These run without our driver (vmem.noload): the device is there, nothing
drives it.  They tell a broken rig from a broken driver.
"""

import re

import pytest

import vmrig
from vmrig import GiB, MiB, parse_size

NOLOAD = dict(load_driver=False)

pytestmark = pytest.mark.debian_lane(
    'the rig itself (initramfs, serial console, QMP, memtool), which no '
    'kernel changes')


def test_initramfs_carries_transport_and_our_module_only(tmp_path, helpers):
    ko = tmp_path / 'virtio_mem.ko'
    ko.write_bytes(b'not really a module')
    image = vmrig.build_initramfs(tmp_path / 'a.cpio.gz', [ko], helpers)
    names = vmrig.list_initramfs(image)

    assert 'vmem/virtio_mem.ko' in names
    assert 'init' in names and 'bin/busybox' in names
    assert 'usr/bin/memtool' in names
    for m in vmrig.VIRTIO_MODULES:
        assert f'modules/{m}.ko' in names
    assert not [n for n in names if n.startswith('lib/modules')], \
        'nothing may sit where modprobe would find it'

    stock = vmrig.module_dir() / 'drivers/virtio/virtio_mem.ko'
    try:
        vmrig.initramfs_inputs([stock], helpers)
    except vmrig.RigError:
        pass
    else:
        raise AssertionError('the stock virtio_mem.ko was accepted')


def test_initramfs_is_rebuilt_only_when_an_input_changes(tmp_path, helpers):
    ko = tmp_path / 'virtio_mem.ko'
    ko.write_bytes(b'one')
    out = tmp_path / 'i.cpio.gz'
    vmrig.build_initramfs(out, [ko], helpers)
    first = out.stat().st_mtime_ns

    vmrig.build_initramfs(out, [ko], helpers)
    assert out.stat().st_mtime_ns == first, 'rebuilt with the same inputs'

    ko.write_bytes(b'two')
    vmrig.build_initramfs(out, [ko], helpers)
    assert out.stat().st_mtime_ns != first, 'not rebuilt after a change'


def test_guest_boots_with_the_device_and_without_our_driver(boot_guest):
    g = boot_guest(**NOLOAD)

    assert '0x0018' in g.sh('cat /sys/bus/virtio/devices/*/device').split()
    assert not g.driver_loaded()
    assert g.run(f'test -e {vmrig.GUEST_DRIVER_DIR}')[0] != 0
    assert g.qemu_size() == 0 and g.qemu_requested() == 0
    dev = g.memory_device()
    assert dev['max-size'] == 4 * GiB and dev['block-size'] == 4 * MiB
    assert dev['memaddr'] % (128 * MiB) == 0


def test_serial_commands_give_status_and_exact_output(boot_guest):
    g = boot_guest(**NOLOAD)

    assert g.run('true') == (0, '')
    assert g.run('false')[0] == 1
    assert g.run('exit 7')[0] == 7
    assert g.run('echo "a  b"; echo \'$HOME\' # comment') == \
        (0, 'a  b\n$HOME\n')
    assert g.run('printf no-newline') == (0, 'no-newline')
    assert g.run('echo to-stderr >&2') == (0, 'to-stderr\n')
    assert g.run('if true; then\n  echo multi\nfi') == (0, 'multi\n')
    # A command cannot eat the next one's input (stdin is /dev/null).
    assert g.run('cat') == (0, '')
    out = g.sh('seq 1 20000')
    assert out.split() == [str(i) for i in range(1, 20001)]


def test_serial_commands_survive_kernel_messages_on_the_console(boot_guest):
    g = boot_guest(**NOLOAD)

    # Critical messages reach the console even with quiet/loglevel=3.
    rc, out = g.run('echo "<2>vmrig: console noise" > /dev/kmsg; echo after')
    assert rc == 0 and out.endswith('after\n')
    assert 'vmrig: console noise' in '\n'.join(g.dmesg())


def test_qmp_resize_request_reaches_qemu(boot_guest):
    g = boot_guest(**NOLOAD)

    g.resize(parse_size('256M'))
    assert g.qemu_requested() == 256 * MiB
    # Without a driver nothing gets plugged: the wait gives up and says so.
    assert g.resize_and_wait('256M', timeout=3) == 0
    assert g.qmp.wait_event(vmrig.SIZE_EVENT, 0.1) is None
    g.resize(0)
    assert g.qemu_requested() == 0


def test_memory_blocks_and_memtotal_are_read_from_the_guest(boot_guest):
    g = boot_guest(**NOLOAD)

    blocks = g.guest_memory_blocks()
    assert g.memory_block_size() == 128 * MiB
    assert len(blocks) == 8, blocks
    assert all(b['state'] == 'online' for b in blocks.values())
    assert g.device_memory_blocks() == {}
    # KASAN (the patched kernel) keeps an eighth of RAM for its shadow.
    assert 700 * 1024 < g.guest_memtotal() < 1024 * 1024


def test_memtool_files_detect_corruption(boot_guest):
    g = boot_guest(**NOLOAD)

    assert g.sh('memtool fill-file /tmp/f 8') == 'filled 8 MiB\n'
    assert g.sh('memtool check-file /tmp/f') == 'check ok 8 MiB\n'
    g.sh('printf X | dd of=/tmp/f bs=1 seek=123456 conv=notrunc 2>/dev/null')
    rc, out = g.run('memtool check-file /tmp/f')
    assert rc == 1 and out.startswith('check FAILED at block 30'), out
    g.sh('rm /tmp/f')


def test_memtool_holds_and_verifies_anon_memory(boot_guest):
    g = boot_guest(**NOLOAD)

    anon = g.start_memtool('hold-anon', 64)
    anon.wait_output(r'^ready 64 MiB anon$')
    # Its own resident anonymous memory, not a MemFree difference: the
    # kernel frees and allocates meanwhile (KASAN's quarantine, page
    # cache), which made the difference fall short of 60 MiB once.
    status = g.sh(f'cat /proc/{anon.pid}/status')
    rss_anon = int(re.search(r'^RssAnon:\s+(\d+) kB', status, re.M).group(1))
    assert rss_anon > 60 * 1024, status
    anon.signal('USR1')
    anon.wait_output(r'^verify ok 64 MiB$')
    anon.stop()
    assert anon.output().endswith('exit\n')


def test_memtool_holds_unmovable_memory_in_pipes(boot_guest):
    g = boot_guest(**NOLOAD)

    before = g.guest_meminfo()['MemFree']
    pipes = g.start_memtool('hold-pipes', 64)
    pipes.wait_output(r'^ready 67108864 bytes in pipes$')
    # MemFree is noisy (page cache, per-cpu lists): allow some slack.
    assert before - g.guest_meminfo()['MemFree'] > 48 * 1024
    pipes.stop()
    # The pipes' pages come back once the kernel has torn them down; the
    # per-cpu lists give them back to MemFree a little later still.
    vmrig.wait_for(lambda: g.guest_meminfo()['MemFree'], 30,
                   f'MemFree back above {before - 8 * 1024} kB',
                   until=lambda free: free > before - 8 * 1024)


def test_dmesg_check_catches_warnings_and_honours_allowed_ones(boot_guest):
    g = boot_guest(**NOLOAD)
    g.assert_dmesg_clean()

    g.sh('echo "<4>WARNING: CPU: 0 PID: 1 at vmrig-test" > /dev/kmsg')
    try:
        g.assert_dmesg_clean()
    except vmrig.RigError as err:
        assert 'vmrig-test' in str(err)
    else:
        raise AssertionError('a WARNING: line went unnoticed')

    g.sh('echo "<3>virtio_mem virtio0: vmrig-test error" > /dev/kmsg')
    g.assert_dmesg_clean(allowed=[(r'vmrig-test', 'injected by this test')])

    # A report BENIGN_REPORTS names goes through whole, to its "</TASK>";
    # the same stack dump after any other line does not.
    report = ['<4>kworker/0:1: vmemmap alloc failure: order:9, mode:0x4cc0',
              '<4>Call Trace:', '<4> <TASK>', '<4> dump_stack_lvl+0x51/0x66',
              '<4> </TASK>']
    g.sh('; '.join(f'echo "{line}" > /dev/kmsg' for line in report))
    g.assert_dmesg_clean()
    g.sh('; '.join(f'echo "{line}" > /dev/kmsg'
                   for line in ['<4>vmrig-test: something else'] +
                   report[1:]))
    try:
        g.assert_dmesg_clean()
    except vmrig.RigError as err:
        assert 'Call Trace' in str(err)
    else:
        raise AssertionError('a Call Trace went unnoticed')
