"""vmemctl against a real QEMU: one guest of Debian's kernel with our
virtio_mem.ko, booted once for the whole module by the rig
(tests/rig/vmrig/), with two virtio-mem devices (vm0: 4 GiB region, 4 MiB
blocks; vm1: 2 GiB region, 2 MiB blocks) and a second QMP socket that only
vmemctl uses (QEMU serves one client per QMP socket; the rig holds the
first).  Every test leaves both devices at 0 plugged with the driver
loaded.

One test talks to a fake QMP server instead of QEMU: it is the only way to
make QEMU refuse a command vmemctl has already checked (exit code 4).

Environment:
  VMEMCTL            the binary (default: tools/vmemctl/vmemctl)
  VMEM_KO            our module (default: virtio_mem.ko at the top)
  VMEMCTL_VALGRIND=1 run every vmemctl under valgrind (memcheck, full leak
                     check); any error or leak fails the test
"""

import atexit
import fcntl
import json
import os
import pty
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'rig'))
import vmrig  # noqa: E402
from vmrig import GiB, KiB, MiB, format_size  # noqa: E402

KO = Path(os.environ.get('VMEM_KO', vmrig.REPO_DIR / 'virtio_mem.ko'))
VMEMCTL = Path(os.environ.get('VMEMCTL',
                              vmrig.REPO_DIR / 'tools/vmemctl/vmemctl'))
VALGRIND = os.environ.get('VMEMCTL_VALGRIND') == '1'

# vm0 comes from the rig; vm1 is added with extra QEMU arguments.
VM0 = dict(id='vm0', region=4 * GiB, block=4 * MiB)
VM1 = dict(id='vm1', region=2 * GiB, block=2 * MiB)
DEVICES = (VM0, VM1)

EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_TIMEOUT = 2, 3, 4, 5
EXIT_INTERRUPTED = 130

log = vmrig.log


def qom_path(dev_id):
    return '/machine/peripheral/' + dev_id


# --------------------------------------------------------------------------
# Running vmemctl

class Result:
    def __init__(self, rc, stdout, stderr, seconds):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.seconds = seconds

    def __repr__(self):
        return (f'<vmemctl rc={self.rc} in {self.seconds:.1f}s\n'
                f'--- stdout ---\n{self.stdout}--- stderr ---\n'
                f'{self.stderr}>')

    def json(self):
        return json.loads(self.stdout)

    def one_line_error(self):
        """stderr is exactly one line, starting with 'vmemctl: '."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith('vmemctl: '), self
        return lines[0]


class Vmemctl:
    """Runs the binary (under valgrind with VMEMCTL_VALGRIND=1)."""

    logdir = None                   # valgrind logs, one directory a run

    def __init__(self, sock=None):
        self.sock = sock
        if VALGRIND and Vmemctl.logdir is None:
            Vmemctl.logdir = Path(tempfile.mkdtemp(prefix='vmemctl-vg-'))
            atexit.register(shutil.rmtree, Vmemctl.logdir, True)

    def command(self, args, sock):
        cmd = [str(VMEMCTL)]
        if VALGRIND:
            cmd = ['valgrind', '-q', '--leak-check=full',
                   '--show-leak-kinds=all', '--errors-for-leak-kinds=all',
                   '--error-exitcode=99', '--track-fds=yes',
                   f'--log-file={self.logdir}/vg.%p.log'] + cmd
        if sock:
            cmd += ['-s', str(sock)]
        return cmd + [str(a) for a in args]

    def check_valgrind(self, result):
        if not VALGRIND:
            return
        logs = list(self.logdir.glob('vg.*.log'))
        text = ''.join(p.read_text() for p in logs)
        for p in logs:
            p.unlink()
        # --track-fds lists the descriptors the test harness handed down
        # (stdin/out/err, a pty); only a leaked socket would be ours.
        leaked_socket = re.search(r'Open (AF_UNIX )?socket', text)
        errors = re.search(r'ERROR SUMMARY: [1-9]|definitely|indirectly|'
                           r'possibly|still reachable|Invalid|'
                           r'uninitialised', text)
        assert result.rc != 99 and not errors and not leaked_socket, \
            f'valgrind:\n{text}\n{result!r}'

    def __call__(self, *args, sock='default', timeout=300):
        """Run vmemctl with args; sock=None leaves out -s."""
        sock = self.sock if sock == 'default' else sock
        t0 = time.monotonic()
        proc = subprocess.run(self.command(args, sock), capture_output=True,
                              text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        result = Result(proc.returncode, proc.stdout, proc.stderr,
                        time.monotonic() - t0)
        log.info('vmemctl %s -> rc %d in %.1fs', ' '.join(map(str, args)),
                 result.rc, result.seconds)
        self.check_valgrind(result)
        return result

    def on_tty(self, *args, columns=100, timeout=300):
        """Run with stderr on a pseudo-terminal; stdout is a pipe."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack('HHHH', 24, columns, 0, 0))
        t0 = time.monotonic()
        proc = subprocess.Popen(self.command(args, self.sock),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        chunks = []
        reader = threading.Thread(target=_drain_pty,
                                  args=(master, chunks), daemon=True)
        reader.start()
        stdout = proc.communicate(timeout=timeout)[0].decode()
        reader.join(10)
        os.close(master)
        result = Result(proc.returncode, stdout,
                        b''.join(chunks).decode(errors='replace'),
                        time.monotonic() - t0)
        self.check_valgrind(result)
        return result


def _drain_pty(fd, chunks):
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:             # EIO: the last writer closed it
            return
        if not data:
            return
        chunks.append(data)


# --------------------------------------------------------------------------
# The guest

def vm1_args():
    return ['-object', 'memory-backend-ram,id=mem1,size=2G,reserve=off',
            '-device', 'virtio-mem-pci,id=vm1,memdev=mem1,requested-size=0,'
                       'block-size=2M']


@pytest.fixture(scope='module')
def guest():
    """One guest for the module: our driver, vm0 and vm1, and a second QMP
    socket for vmemctl."""
    if not KO.is_file():
        pytest.fail(f'{KO} is not built (run make, or set VMEM_KO)')
    if not os.access(VMEMCTL, os.X_OK):
        pytest.fail(f'{VMEMCTL} is not built (run make tools)')
    sockdir = Path(tempfile.mkdtemp(prefix='vmemctl-'))
    sock = sockdir / 'qmp.sock'
    g = vmrig.Guest(name='vmemctl', ko=KO, extra_args=[
        '-qmp', f'unix:{sock},server=on,wait=off', *vm1_args()])
    g.start()
    g.vmemctl_sock = sock
    failed = True
    try:
        g.assert_dmesg_clean()
        yield g
        failed = False
    finally:
        g.close(failed=failed)
        sock.unlink(missing_ok=True)
        sockdir.rmdir()


@pytest.fixture
def vmemctl(guest):
    """vmemctl on the guest's second QMP socket; the guest is brought back
    to nothing plugged (driver loaded, dmesg clean) after the test."""
    run = Vmemctl(guest.vmemctl_sock)
    yield run
    back_to_zero(guest)


def back_to_zero(g):
    if not g.driver_loaded():
        for dev in DEVICES:
            g.qom_set('requested-size', 0, path=qom_path(dev['id']))
        g.load_virtio_mem()
    for dev in DEVICES:
        path = qom_path(dev['id'])
        if g.qom_get('requested-size', path=path) != 0:
            g.qom_set('requested-size', 0, path=path)
        vmrig.wait_for(lambda: g.qom_get('size', path=path), 180,
                       f'{dev["id"]} back to 0 plugged',
                       until=lambda size: size == 0)
    g.wait_both_sides(0)
    g.assert_dmesg_clean()


def qemu_devices(g):
    """query-memory-devices as the rig sees it: {id: data}."""
    return {d['data']['id']: d['data']
            for d in g.qmp.execute('query-memory-devices')
            if d['type'] == 'virtio-mem'}


def plugged_on_both_sides(g, dev_id, size):
    """QEMU's size of dev_id is size, and the guest's MemTotal grew by
    exactly what all devices have plugged (vm1 is not one of the rig's
    settings: it comes in through extra QEMU arguments)."""
    assert g.qom_get('size', path=qom_path(dev_id)) == size
    total = sum(g.qom_get('size', path=qom_path(d['id'])) for d in DEVICES)
    want_kb = g.base_memtotal() + total // KiB
    g.wait_guest_memtotal(want_kb, 120, f'MemTotal {want_kb} kB '
                          f'({format_size(total)} plugged in all)')


# --------------------------------------------------------------------------
# No QEMU needed

def test_help_documents_every_exit_code():
    r = Vmemctl()('--help', sock=None)
    assert r.rc == 0 and r.stderr == '', r
    for code, words in [(0, 'done'), (2, 'malformed size'),
                        (2, 'not a multiple'), (2, 'region'),
                        (2, 'unknown device id'), (3, 'unreachable'),
                        (4, 'refused'), (5, 'timed out')]:
        assert re.search(rf'^\s+{code}\s', r.stdout, re.M), r
        assert words in r.stdout, (words, r)


def test_malformed_size_exits_2_before_connecting():
    r = Vmemctl()('resize', 'vm0', '1.5G', sock='/nonexistent/qmp.sock')
    assert r.rc == EXIT_USAGE, r
    assert "bad size '1.5G'" in r.one_line_error()


@pytest.mark.parametrize('args', [[], ['status', 'extra'], ['resize', 'vm0'],
                                  ['frobnicate'], ['status', '--wait'],
                                  ['resize', 'vm0', '4M', '--timeout', 'x']])
def test_usage_errors_exit_2_with_one_line(args):
    r = Vmemctl()(*args, sock='/nonexistent/qmp.sock')
    assert r.rc == EXIT_USAGE, r
    r.one_line_error()


def test_missing_socket_exits_3():
    r = Vmemctl()('status', sock='/nonexistent/qmp.sock')
    assert r.rc == EXIT_UNREACHABLE and r.stdout == '', r
    line = r.one_line_error()
    assert '/nonexistent/qmp.sock' in line and 'No such file' in line


def test_socket_nobody_listens_on_exits_3(tmp_path):
    path = tmp_path / 'stale.sock'
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()                       # the file stays, nobody listens
    r = Vmemctl()('resize', 'vm0', '4M', '--wait', sock=path)
    assert r.rc == EXIT_UNREACHABLE, r
    assert 'Connection refused' in r.one_line_error()


class FakeQMP(threading.Thread):
    """A QMP server that knows vm0 and refuses every qom-set, as QEMU does
    with a desc (or, with hang_up_on, closes the connection when that
    command comes); records what the client sent and whether it hung up."""

    DEVICE = {'type': 'virtio-mem', 'data': {
        'memdev': '/objects/mem0', 'memaddr': 4 * GiB, 'block-size': 4 * MiB,
        'size': 0, 'node': 0, 'max-size': 4 * GiB, 'requested-size': 0,
        'id': 'vm0'}}
    REFUSAL = 'fake refusal: the device is busy'

    def __init__(self, path, hang_up_on=None):
        super().__init__(daemon=True)
        self.hang_up_on = hang_up_on
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(1)
        self.received = []
        self.client_hung_up = False

    def answer(self, req):
        cmd = req['execute']
        if cmd == 'qom-set' and not self.hang_up_on:
            return {'error': {'class': 'GenericError',
                              'desc': self.REFUSAL}}
        if cmd == 'query-memory-devices':
            return {'return': [self.DEVICE]}
        return {'return': {}}

    def run(self):
        conn, _ = self.server.accept()
        conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
        for line in conn.makefile('rb'):
            req = json.loads(line)
            self.received.append(req)
            if req['execute'] == self.hang_up_on:
                break
            reply = dict(self.answer(req), id=req['id'])
            conn.sendall(json.dumps(reply).encode() + b'\r\n')
        self.client_hung_up = True
        conn.close()
        self.server.close()


def test_qemu_refusal_exits_4_with_qemus_error(tmp_path):
    fake = FakeQMP(tmp_path / 'fake.sock')
    fake.start()
    r = Vmemctl(tmp_path / 'fake.sock')('resize', 'vm0', '8M', '--wait')
    fake.join(10)
    assert r.rc == EXIT_REFUSED, r
    assert FakeQMP.REFUSAL in r.one_line_error()
    assert [q['execute'] for q in fake.received] == [
        'qmp_capabilities', 'query-memory-devices', 'qom-set']
    assert fake.received[2]['arguments'] == {
        'path': '/machine/peripheral/vm0', 'property': 'requested-size',
        'value': 8 * MiB}
    assert fake.client_hung_up


def test_qemu_going_away_while_waiting_exits_3(tmp_path):
    fake = FakeQMP(tmp_path / 'fake.sock', hang_up_on='qom-get')
    fake.start()
    r = Vmemctl(tmp_path / 'fake.sock')('resize', 'vm0', '8M', '--wait')
    fake.join(10)
    assert r.rc == EXIT_UNREACHABLE, r
    assert r.stderr.splitlines()[-1] == \
        'vmemctl: QEMU closed the QMP connection', r


# --------------------------------------------------------------------------
# Against QEMU and the guest

def test_status_json_lists_every_device_as_qemu_does(guest, vmemctl):
    r = vmemctl('--json', 'status')
    assert r.rc == 0 and r.stderr == '', r
    listed = {d['id']: d for d in r.json()}
    qemu = qemu_devices(guest)
    assert set(listed) == set(qemu) == {'vm0', 'vm1'}
    for dev_id, data in qemu.items():
        assert listed[dev_id] == {
            'id': dev_id, 'node': data['node'], 'memdev': data['memdev'],
            'memaddr': data['memaddr'], 'region_size': data['max-size'],
            'block_size': data['block-size'],
            'requested': data['requested-size'], 'plugged': data['size'],
            'shortfall': 0, 'shortfall_reason': None}
    for dev in DEVICES:
        assert listed[dev['id']]['block_size'] == dev['block']
        assert listed[dev['id']]['region_size'] == dev['region']


def test_status_table_shows_each_device_on_a_row(guest, vmemctl):
    guest.qom_set('requested-size', 8 * MiB, path=qom_path('vm1'))
    vmrig.wait_for(lambda: guest.qom_get('size', path=qom_path('vm1')), 120,
                   'vm1 to plug 8M', until=lambda size: size == 8 * MiB)
    r = vmemctl('status')
    assert r.rc == 0 and r.stderr == '', r
    header, *rows = r.stdout.splitlines()
    # Both devices have what they asked for: no shortfall lines below.
    assert not [row for row in rows if ': shortfall ' in row], r
    assert header.split() == ['ID', 'NODE', 'BLOCK', 'MEMADDR', 'REGION',
                              'REQUESTED', 'PLUGGED', 'MEMDEV'], r
    qemu = qemu_devices(guest)
    assert len(rows) == len(qemu), r
    for row in rows:
        dev_id, node, block, memaddr, region, req, plugged, memdev = \
            row.split()
        data = qemu[dev_id]
        assert int(node) == data['node']
        assert block == format_size(data['block-size'])
        assert int(memaddr, 16) == data['memaddr']
        assert region == format_size(data['max-size'])
        assert req == format_size(data['requested-size'])
        assert memdev == data['memdev']
        assert plugged == format_size(data['size'])
    assert re.search(r'^vm1 .* 8M +8M  /objects/mem1$', r.stdout, re.M), r


def test_status_shows_what_qemu_knows_of_a_shortfall(guest, vmemctl):
    """QEMU knows a shortfall only as plugged size against requested
    size: without the driver (rmmod on the shared guest) nothing plugs,
    and status says so under the table and in JSON.  (Plugged above
    requested, the guest needing its memory, is in the guest suite:
    tests/guest/test_76_safety_floor.py.)"""
    guest.unload_virtio_mem()
    guest.qom_set('requested-size', 256 * MiB, path=qom_path('vm0'))
    r = vmemctl('status')
    assert r.rc == 0 and r.stderr == '', r
    lines = r.stdout.splitlines()
    assert lines[-1] == 'vm0: shortfall 256M (plugged below requested)', r
    assert len(lines) == 1 + len(DEVICES) + 1, r
    listed = {d['id']: d for d in vmemctl('--json', 'status').json()}
    assert listed['vm0']['shortfall'] == 256 * MiB
    assert listed['vm0']['shortfall_reason'] == 'plugged below requested'
    assert listed['vm1']['shortfall'] == 0
    assert listed['vm1']['shortfall_reason'] is None


def test_resize_wait_reaches_the_target_on_both_sides(guest, vmemctl):
    target = 1028 * MiB             # 257 blocks: not a memory-block multiple
    r = vmemctl('resize', 'vm0', '1028M', '--wait')
    assert r.rc == 0, r
    assert re.fullmatch(r'vm0: plugged 1028M, requested 1028M, reached in '
                        r'[0-9.]+s\n', r.stdout), r
    # No terminal: a plain progress line a second, the last one at 100%.
    progress = r.stderr.splitlines()
    assert progress and all(re.fullmatch(
        r'vm0: +\d+%  plugged \S+, target 1028M, [0-9.]+s', line)
        for line in progress), r
    assert progress[-1].startswith('vm0: 100%'), r
    assert guest.qemu_requested() == target
    plugged_on_both_sides(guest, 'vm0', target)

    # What vmemctl reports now matches QEMU, plugged and requested alike.
    listed = {d['id']: d for d in vmemctl('--json', 'status').json()}
    assert listed['vm0']['plugged'] == listed['vm0']['requested'] == target

    r = vmemctl('resize', 'vm0', '0', '--wait', '--quiet')
    assert r.rc == 0 and r.stderr == '', r
    plugged_on_both_sides(guest, 'vm0', 0)


def test_resize_json_output_parses(guest, vmemctl):
    target = 258 * MiB              # 129 blocks of vm1's 2 MiB
    r = vmemctl('--json', 'resize', 'vm1', str(target), '--wait',
                '--timeout', '240')
    assert r.rc == 0, r
    out = r.json()
    assert set(out) == {'id', 'requested', 'plugged', 'reached', 'elapsed_s'}
    assert out['id'] == 'vm1'
    assert out['requested'] == out['plugged'] == target
    assert out['reached'] is True
    assert isinstance(out['elapsed_s'], float) and \
        0 <= out['elapsed_s'] <= r.seconds
    plugged_on_both_sides(guest, 'vm1', target)


def test_resize_without_wait_returns_at_once(guest, vmemctl):
    r = vmemctl('--json', 'resize', 'vm0', '512M')
    assert r.rc == 0 and r.stderr == '', r
    out = r.json()
    assert out['id'] == 'vm0' and out['requested'] == 512 * MiB
    assert out['reached'] == (out['plugged'] == 512 * MiB)
    assert guest.qemu_requested() == 512 * MiB
    r = vmemctl('resize', 'vm0', '0')
    assert r.rc == 0 and re.fullmatch(r'vm0: requested 0, plugged \S+\n',
                                      r.stdout), r


def test_resize_wait_on_a_terminal_draws_a_bar(guest, vmemctl):
    r = vmemctl.on_tty('resize', 'vm0', '256M', '--wait', columns=100)
    assert r.rc == 0, r
    assert 'reached in' in r.stdout
    draws = r.stderr.replace('\r\n', '\n').split('\r')[1:]
    assert draws, r
    for draw in draws:
        assert re.match(r'vm0 \[[#.]+\] +\d+%  plugged \S+, target 256M',
                        draw), repr(draw)
    last = draws[-1]
    assert re.match(r'vm0 \[#+\] 100%  plugged 256M, target 256M', last), r
    assert last.endswith('\n') and len(last.split('\033[K')[0]) <= 100, r
    plugged_on_both_sides(guest, 'vm0', 256 * MiB)


@pytest.mark.parametrize('dev_id, size, problem', [
    ('vm0', '4X', "bad size '4X'"),
    ('vm0', '1030M', "1030M is not a multiple of vm0's block size 4M"),
    ('vm1', '3M', "3M is not a multiple of vm1's block size 2M"),
    ('vm0', '8G', "8G exceeds vm0's region size 4G"),
    ('vm1', '2050M', "2050M exceeds vm1's region size 2G"),
    ('nosuch', '4M', "no virtio-mem device 'nosuch' (QEMU has: vm0, vm1)"),
])
def test_bad_input_exits_2_with_one_line(guest, vmemctl, dev_id, size,
                                         problem):
    r = vmemctl('resize', dev_id, size, '--wait')
    assert r.rc == EXIT_USAGE and r.stdout == '', r
    assert r.one_line_error().startswith(f'vmemctl: {problem}')
    for dev in DEVICES:
        assert guest.qom_get('requested-size',
                             path=qom_path(dev['id'])) == 0


def test_busy_qmp_socket_exits_3(guest):
    """The rig holds the first QMP socket: QEMU never greets a second
    client there."""
    r = Vmemctl(guest.workdir / 'qmp.sock')('status')
    assert r.rc == EXIT_UNREACHABLE, r
    assert 'no QMP greeting' in r.one_line_error()
    guest.qemu_size()               # the rig's session still works


def test_wait_times_out_when_no_driver_plugs(guest, vmemctl):
    """Without the driver nothing ever plugs: exit 5 with target, plugged
    size and elapsed time.  (rmmod on the shared guest stands in for a
    guest booted with vmem.noload and saves a boot.)"""
    guest.unload_virtio_mem()
    r = vmemctl('--json', 'resize', 'vm0', '256M', '--timeout', '3')
    assert r.rc == EXIT_TIMEOUT, r
    line = r.stderr.splitlines()[-1]
    assert re.fullmatch(r'vmemctl: timed out after 3\.\ds: vm0 plugged 0 '
                        r'of requested 256M', line), r
    assert all(ln.startswith('vm0: ') for ln in r.stderr.splitlines()[:-1])
    out = r.json()
    assert out['reached'] is False and out['plugged'] == 0
    assert out['requested'] == 256 * MiB and 3 <= out['elapsed_s'] < 4.5
    assert 3 <= r.seconds < 30, r
    assert guest.qemu_size() == 0


def test_interrupted_wait_exits_130_and_says_where_it_was(guest, vmemctl):
    guest.unload_virtio_mem()
    proc = subprocess.Popen(vmemctl.command(['resize', 'vm0', '256M',
                                             '--wait', '--quiet'],
                                            vmemctl.sock),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(2 if VALGRIND else 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    r = Result(proc.returncode, out, err, 0)
    vmemctl.check_valgrind(r)
    assert r.rc == EXIT_INTERRUPTED and out == '', r
    assert re.fullmatch(r'vmemctl: interrupted after [0-9.]+s: vm0 plugged '
                        r'0 of requested 256M', r.one_line_error()), r
