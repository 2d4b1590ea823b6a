"""vmrig: boot QEMU guests with a virtio-mem device and drive them.

A guest is Debian's kernel plus a small busybox initramfs that loads the
virtio transport and (unless told not to) our out-of-tree virtio_mem.ko,
then serves a shell on the serial console.  The rig talks to the guest over
that console (commands framed by unique markers) and to QEMU over QMP
(resizes, plugged size, events).

Story-level helpers (resize_and_wait, guest_memtotal, wait_until_plugged,
assert_dmesg_clean, ...) keep the scenarios in tests/guest readable.

Environment:
  RIG_KVM=1            use KVM instead of TCG (KVM hangs on some hosts)
  RIG_KERNEL_RELEASE   guest kernel release (default 6.1.0-56-amd64)
  RIG_KERNEL_ROOT      where boot/vmlinuz-REL and lib/modules/REL are
                       (default /: Debian's packages; `make check
                       KERNEL=patched` points it at the patched kernel)
  RIG_PROBE_KO         tests/kmod's mm_probe.ko for this kernel (put in the
                       initramfs as /vmem/mm_probe.ko, never loaded by init)
  RIG_CACHE            initramfs cache directory (default
                       tests/rig/.cache/RELEASE: one per guest kernel)
  RIG_LOG_DIR          where logs of failed guests are kept
                       (default /tmp/vmrig-logs)
  RIG_KERNEL_ARGS      words added to every guest's kernel command line
                       (`make check KERNEL=patched` passes acpi=noirq
                       nokaslr: see the Makefile; guests with
                       needs_acpi_irq leave acpi=noirq out)
"""

import base64
import collections
import contextlib
import functools
import gzip
import hashlib
import json
import logging
import lzma
import os
import queue
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

KERNEL_RELEASE = os.environ.get('RIG_KERNEL_RELEASE', '6.1.0-56-amd64')
KERNEL_ROOT = Path(os.environ.get('RIG_KERNEL_ROOT', '/'))
KERNEL_ARGS = os.environ.get('RIG_KERNEL_ARGS', '')
RIG_DIR = Path(__file__).resolve().parent
TESTS_DIR = RIG_DIR.parent
REPO_DIR = TESTS_DIR.parent
HELPERS_DIR = TESTS_DIR / 'helpers'
CACHE_DIR = Path(os.environ.get('RIG_CACHE',
                                RIG_DIR / '.cache' / KERNEL_RELEASE))
LOG_DIR = Path(os.environ.get('RIG_LOG_DIR', '/tmp/vmrig-logs'))
BUSYBOX = Path('/bin/busybox')
QEMU = 'qemu-system-x86_64'

# Debian's virtio transport, in load order.
VIRTIO_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
                  'virtio_pci_modern_dev', 'virtio_pci']
# Fault injection into memory notifiers, shipped for later scenarios.
FAULT_INJECT_MODULES = ['notifier-error-inject',
                        'memory-notifier-error-inject']



def module_dir(release=KERNEL_RELEASE):
    """The guest kernel's modules (lib/modules/REL/kernel)."""
    return KERNEL_ROOT / 'lib/modules' / release / 'kernel'


def kernel_image(release=KERNEL_RELEASE):
    """The guest kernel's bzImage (what kexec loads in the guest)."""
    return KERNEL_ROOT / 'boot' / f'vmlinuz-{release}'


# The ELF note by which a kernel says where its 32-bit PVH entry is
# (XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH): QEMU then boots the
# uncompressed kernel directly.
PVH_NOTE = (b'Xen\0', 18)


def _has_pvh_note(elf):
    """Whether an x86-64 ELF image carries the PVH entry note."""
    if elf[:4] != b'\x7fELF' or elf[4] != 2:
        return False
    phoff, = struct.unpack_from('<Q', elf, 32)
    phentsize, phnum = struct.unpack_from('<HH', elf, 54)
    for i in range(phnum):
        ptype, _, offset, _, _, filesz = struct.unpack_from(
            '<IIQQQQ', elf, phoff + i * phentsize)
        if ptype != 4:      # PT_NOTE
            continue
        pos, end = offset, offset + filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from('<III', elf, pos)
            name = elf[pos + 12:pos + 12 + namesz]
            if (name, ntype) == PVH_NOTE:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def _uncompressed_kernel(bzimage):
    """The ELF kernel inside a bzImage (xz or gzip payload), or None."""
    data = bzimage.read_bytes()
    for magic, open_stream in (
            (b'\xfd7zXZ\x00', lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
            (b'\x1f\x8b\x08', lambda: zlib.decompressobj(31))):
        pos = data.find(magic)
        while pos >= 0:
            try:
                elf = open_stream().decompress(data[pos:])
            except (lzma.LZMAError, zlib.error):
                elf = b''
            if elf[:4] == b'\x7fELF':
                return elf
            pos = data.find(magic, pos + 1)
    return None


def boot_image(release=KERNEL_RELEASE):
    """What QEMU's -kernel boots: the uncompressed kernel with its PVH
    entry, when the kernel has one, else the bzImage.  Under TCG a
    bzImage spends about half of a guest's boot in real-mode setup and
    unpacking itself (Debian's is xz: 8 s to the shell, 4 s with PVH).
    The uncompressed kernel is kept in the rig's cache, keyed by the
    bzImage's size and mtime.  RIG_PVH=0 boots the bzImage."""
    bzimage = kernel_image(release)
    if os.environ.get('RIG_PVH') == '0':
        return bzimage
    st = bzimage.stat()
    key = f'{st.st_size}-{st.st_mtime_ns}'
    out = CACHE_DIR / f'vmlinux-pvh-{release}'
    stamp = out.with_name(out.name + '.key')
    if stamp.exists():
        seen_key, _, kind = stamp.read_text().partition(' ')
        if seen_key == key and (kind != 'pvh' or out.exists()):
            return out if kind == 'pvh' else bzimage
    elf = _uncompressed_kernel(bzimage)
    pvh = elf is not None and _has_pvh_note(elf)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    if pvh:
        tmp = out.with_name(f'{out.name}.{os.getpid()}.tmp')
        tmp.write_bytes(elf)
        tmp.replace(out)
    log.info('%s: %s', bzimage, 'booting its uncompressed kernel (PVH)'
             if pvh else 'no PVH entry: booting the bzImage')
    stamp.write_text(f'{key} {"pvh" if pvh else "bzimage"}')
    return out if pvh else bzimage


DEVICE_ID = 'vm0'
DEVICE_PATH = '/machine/peripheral/' + DEVICE_ID


def device_path(dev_id):
    """QOM path of a device added with -device ...,id=dev_id."""
    return '/machine/peripheral/' + dev_id

SIZE_EVENT = 'MEMORY_DEVICE_SIZE_CHANGE'
GUEST_DRIVER_DIR = '/sys/bus/virtio/drivers/virtio_mem'
GUEST_MEMORY_DIR = '/sys/devices/system/memory'

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Kernel log lines that mean something went wrong.
DMESG_BAD = [r'WARNING:', r'BUG:', r'Oops', r'Call Trace',
             r'general protection', r'virtio_mem.*error',
             # the patched kernel's debug options: lockdep, DEBUG_VM, KASAN
             # (their reports also start with WARNING: or BUG:)
             r'possible .*(locking|deadlock|recursive)',
             r'lockdep is turned off', r'DEBUG_LOCKS_WARN_ON',
             r'kernel BUG at', r'page dumped because: VM_']
# Lines that match DMESG_BAD but are expected, each with its reason.  Boot
# logs of this kernel under QEMU 7.2 TCG have none today; add entries here
# (or pass `allowed=` to assert_dmesg_clean) only with a reason.
DMESG_ALLOWED = []
# Whole reports (from the line that matches to the end of its stack dump,
# "</TASK>") that core mm prints for a condition it handles itself, each
# with its reason.
BENIGN_REPORTS = [
    (r': vmemmap alloc failure: order:9,',
     'no 2 MiB block for a hot-added memmap in fragmented boot memory: core '
     'mm warns once and maps the memmap with base pages (seen under KASAN '
     'after the page cache stories)'),
]

log = logging.getLogger('vmrig')


class RigError(Exception):
    """Something the rig expected did not happen."""


class GuestCommandError(RigError):
    def __init__(self, cmd, rc, output):
        super().__init__(f'guest command failed (rc={rc}): {cmd}\n'
                         f'--- output ---\n{output}')
        self.cmd, self.rc, self.output = cmd, rc, output


class QMPError(RigError):
    pass


# --------------------------------------------------------------------------
# Sizes

_SIZE_UNITS = {'': 1, 'K': KiB, 'M': MiB, 'G': GiB, 'T': 1024 * GiB}


def parse_size(size):
    """'1028M' -> bytes; ints pass through."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r'\s*(\d+)\s*([KMGT]?)i?B?\s*', str(size), re.I)
    if not m:
        raise ValueError(f'bad size: {size!r}')
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def format_size(nbytes):
    """bytes -> the largest exact unit ('1028M', '2G', '0')."""
    if nbytes == 0:
        return '0'
    for unit in ('T', 'G', 'M', 'K'):
        if nbytes % _SIZE_UNITS[unit] == 0:
            return f'{nbytes // _SIZE_UNITS[unit]}{unit}'
    return str(nbytes)


# --------------------------------------------------------------------------
# Where the seconds go

class PhaseClock:
    """Seconds spent per phase of a test: 'boot' (QEMU start to the guest's
    shell, reboots), 'reset' (bringing a pooled guest back to clean),
    'wait' (waiting on a condition: a size, a log line, an event),
    'capture' (a kdump capture kernel at work), 'dmesg' (kernel log
    checks).  Whatever a test spends outside them is its body.  Phases do
    not nest: time inside a phase counts for the outermost one only, so
    the phases of a test add up to at most its duration."""

    PHASES = ('boot', 'reset', 'wait', 'capture', 'dmesg')

    def __init__(self):
        self.spent = collections.Counter()
        self._current = None

    def clear(self):
        spent, self.spent = self.spent, collections.Counter()
        return spent

    @contextlib.contextmanager
    def phase(self, name):
        if self._current is not None or \
                threading.current_thread() is not threading.main_thread():
            yield
            return
        self._current = name
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.spent[name] += time.monotonic() - t0
            self._current = None


CLOCK = PhaseClock()


def timed(name):
    """Decorator: the call counts as phase `name` (see PhaseClock)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with CLOCK.phase(name):
                return fn(*args, **kwargs)
        return inner
    return wrap


# --------------------------------------------------------------------------
# Polling

@timed('wait')
def wait_for(probe, timeout, what, until=bool, interval=0.25):
    """Call probe() until until(value) holds; return that value.

    Raises RigError naming what was waited for and the last value seen
    (or the last exception the probe raised).
    """
    deadline = time.monotonic() + timeout
    last = '<never probed>'
    while True:
        try:
            value = probe()
            if until(value):
                return value
            last = repr(value)
        except RigError as err:
            last = f'<probe failed: {str(err).splitlines()[0]}>'
        if time.monotonic() >= deadline:
            raise RigError(f'timed out after {timeout:.0f}s waiting for '
                           f'{what}; last saw: {last}')
        time.sleep(interval)


@timed('wait')
def hold_for(probe, duration, what, until=bool, interval=0.5):
    """Check that until(probe()) stays true for `duration` seconds."""
    deadline = time.monotonic() + duration
    while True:
        value = probe()
        if not until(value):
            raise RigError(f'{what} stopped holding: saw {value!r}')
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------
# Initramfs

def _newc_entry(name, mode, data=b'', rdev=(0, 0), ino=0):
    name_b = name.encode() + b'\0'
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
              len(name_b), 0]
    hdr = b'070701' + b''.join(b'%08X' % f for f in fields)
    out = hdr + name_b
    out += b'\0' * (-len(out) % 4)
    out += data
    out += b'\0' * (-len(data) % 4)
    return out


def _newc_archive(entries):
    """entries: list of (name, mode, data, rdev). Returns newc bytes."""
    parts = [_newc_entry(name, mode, data, rdev, ino)
             for ino, (name, mode, data, rdev) in enumerate(entries, 1)]
    parts.append(_newc_entry('TRAILER!!!', 0))
    return b''.join(parts)


def list_initramfs(path):
    """Names in a gzip'd newc archive (for checks on what it carries)."""
    raw = gzip.decompress(Path(path).read_bytes())
    names, pos = [], 0
    while True:
        hdr = raw[pos:pos + 110]
        if hdr[:6] != b'070701':
            raise RigError(f'{path}: bad cpio header at {pos}')
        filesize = int(hdr[54:62], 16)
        namesize = int(hdr[94:102], 16)
        name = raw[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        pos += filesize + (-filesize % 4)
        if name == 'TRAILER!!!':
            return names
        names.append(name)


INIT_SCRIPT = r'''#!/bin/busybox sh
# vmrig guest init: mount, load the virtio transport, load virtio_mem.ko,
# then serve a non-interactive shell on the console.
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs -o size=64g tmpfs /tmp

for m in @VIRTIO_MODULES@; do
	insmod /modules/$m.ko || echo "vmrig: insmod $m failed"
done

params=
noload=
for word in $(cat /proc/cmdline); do
	case "$word" in
	vmem.params=*) params=$(echo "${word#vmem.params=}" | tr , ' ') ;;
	vmem.noload) noload=1 ;;
	esac
done
echo "$params" > /vmem/params
if [ -n "$noload" ]; then
	echo "vmrig: vmem.noload: virtio_mem not loaded"
elif [ ! -e /vmem/virtio_mem.ko ]; then
	echo "vmrig: no /vmem/virtio_mem.ko in this initramfs"
else
	insmod /vmem/virtio_mem.ko $params
	echo "vmrig: insmod virtio_mem rc=$?"
fi

# No echo, no line editing, no prompt: the rig sends one line per command
# and reads only what lies between the markers that line prints.  Each line
# runs in its own subshell, so nothing it does can end init.
stty -echo 2>/dev/null
echo "vmrig: ready"
while :; do
	while IFS= read -r line; do
		(eval "$line")
	done
	echo "vmrig: console read failed"
	sleep 1
done
'''


def initramfs_inputs(ko_paths, helpers, release=KERNEL_RELEASE, modules=()):
    """Everything the initramfs holds: list of (name, mode, source).
    `modules`: more of the kernel's modules, by path under its
    lib/modules/REL/kernel, put in /modules (never loaded by init); those
    the kernel does not have as modules (built in, or not at all) are left
    out, and the test loads what /modules holds."""
    moddir = module_dir(release)
    files = [('bin/busybox', 0o755, BUSYBOX)]
    for m in VIRTIO_MODULES:
        files.append((f'modules/{m}.ko', 0o644,
                      moddir / 'drivers/virtio' / f'{m}.ko'))
    for path in modules:
        src = moddir / path
        if src.exists():
            files.append((f'modules/{Path(path).name}', 0o644, src))
    for m in FAULT_INJECT_MODULES:
        src = moddir / 'lib' / f'{m}.ko'
        if src.exists():
            files.append((f'modules/{m}.ko', 0o644, src))
    # virtio-balloon, for benchmarks that compare with it; never autoloaded.
    balloon = moddir / 'drivers/virtio/virtio_balloon.ko'
    if balloon.exists():
        files.append(('modules/virtio_balloon.ko', 0o644, balloon))
    stock = (moddir / 'drivers/virtio/virtio_mem.ko').resolve()
    for ko in ko_paths:
        ko = Path(ko).resolve()
        if ko == stock and not os.environ.get('RIG_ALLOW_STOCK_DRIVER'):
            raise RigError(f'{ko} is the stock driver; the rig must not '
                           'ship it')
        files.append((f'vmem/{ko.name}', 0o644, ko))
    # Built for the guest suite (make probe); other users of the rig, such
    # as the tools tests, may come before it.
    probe = os.environ.get('RIG_PROBE_KO')
    if probe and Path(probe).is_file():
        files.append(('vmem/mm_probe.ko', 0o644, Path(probe)))
    for h in helpers:
        files.append((f'usr/bin/{Path(h).name}', 0o755, Path(h)))
    for name, _, src in files:
        if not src.is_file():
            raise RigError(f'initramfs input missing: {src} (for /{name})')
    return files


def initramfs_key(files):
    h = hashlib.sha256(INIT_SCRIPT.encode())
    h.update(' '.join(VIRTIO_MODULES).encode())
    for name, mode, src in files:
        h.update(f'{name} {mode:o}\n'.encode())
        h.update(hashlib.sha256(src.read_bytes()).digest())
    return h.hexdigest()


def build_initramfs(out_path, ko_paths, helpers, release=KERNEL_RELEASE,
                    modules=()):
    """Write a gzip'd newc initramfs to out_path, unless an identical one
    (same inputs, by content) is already there.  Returns out_path."""
    out_path = Path(out_path)
    files = initramfs_inputs(ko_paths, helpers, release, modules)
    key = initramfs_key(files)
    stamp = out_path.with_name(out_path.name + '.key')
    if out_path.exists() and stamp.exists() and stamp.read_text() == key:
        return out_path

    log.info('building initramfs %s', out_path)
    dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc',
            'sys', 'tmp', 'etc', 'root', 'modules', 'vmem', 'lib']
    entries = [(d, stat.S_IFDIR | 0o755, b'', (0, 0)) for d in dirs]
    entries.append(('dev/console', stat.S_IFCHR | 0o600, b'', (5, 1)))
    init = INIT_SCRIPT.replace('@VIRTIO_MODULES@', ' '.join(VIRTIO_MODULES))
    entries.append(('init', stat.S_IFREG | 0o755, init.encode(), (0, 0)))
    for name, mode, src in files:
        entries.append((name, stat.S_IFREG | mode, src.read_bytes(), (0, 0)))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Runners (tests/rig/runners) may build the same image at once: each
    # writes its own file and renames it into place.
    tmp = out_path.with_name(f'{out_path.name}.{os.getpid()}.tmp')
    tmp.write_bytes(gzip.compress(_newc_archive(entries), compresslevel=6,
                                  mtime=0))
    tmp.replace(out_path)
    tmp_stamp = stamp.with_name(f'{stamp.name}.{os.getpid()}.tmp')
    tmp_stamp.write_text(key)
    tmp_stamp.replace(stamp)
    return out_path


def cached_initramfs(ko_paths, helpers, release=KERNEL_RELEASE, modules=()):
    """The initramfs for these inputs, from the cache or freshly built."""
    files = initramfs_inputs(ko_paths, helpers, release, modules)
    out = CACHE_DIR / f'initramfs-{initramfs_key(files)[:16]}.cpio.gz'
    build_initramfs(out, ko_paths, helpers, release, modules)
    _prune_cache(keep=out)
    return out


def _prune_cache(keep, max_entries=8):
    images = sorted(CACHE_DIR.glob('initramfs-*.cpio.gz'),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in images[max_entries:]:
        if old != keep:
            old.unlink(missing_ok=True)
            Path(str(old) + '.key').unlink(missing_ok=True)


# Static guest programs: the test helper and the project's guest tool.
GUEST_PROGRAMS = [HELPERS_DIR / 'memtool.c',
                  REPO_DIR / 'tools' / 'vmemstat' / 'vmemstat.c']


def build_helpers(out_dir=HELPERS_DIR):
    """Compile the static guest programs if their source is newer."""
    outs = []
    for src in GUEST_PROGRAMS:
        out = Path(out_dir) / src.stem
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            log.info('compiling %s', out)
            subprocess.run(['gcc', '-static', '-O2', '-Wall', '-Wextra',
                            '-Werror', '-o', str(out), str(src)], check=True)
        outs.append(out)
    return outs


# --------------------------------------------------------------------------
# QMP

class QMP:
    """Minimal QMP client: one socket, a reader thread, an event queue."""

    def __init__(self, path, timeout=30):
        self.sock = self._connect(path, timeout)
        self._file = self.sock.makefile('rb')
        greeting = json.loads(self._file.readline())
        if 'QMP' not in greeting:
            raise QMPError(f'unexpected QMP greeting: {greeting}')
        self._responses = queue.Queue()
        self._events = []
        self._events_cv = threading.Condition()
        self._lock = threading.Lock()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.execute('qmp_capabilities')

    @staticmethod
    def _connect(path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise QMPError(f'no QMP socket at {path} after '
                                   f'{timeout}s')
                time.sleep(0.05)

    def _read_loop(self):
        for line in self._file:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if 'event' in msg:
                with self._events_cv:
                    self._events.append(msg)
                    self._events_cv.notify_all()
            else:
                self._responses.put(msg)
        self._responses.put(None)

    def execute(self, cmd, arguments=None, timeout=30, **kwargs):
        """Run a QMP command; return its 'return' value or raise QMPError.
        Arguments with '-' in their names go in `arguments`."""
        args = dict(arguments or {}, **kwargs)
        with self._lock:
            self._next_id += 1
            req = {'execute': cmd, 'id': self._next_id}
            if args:
                req['arguments'] = args
            self.sock.sendall(json.dumps(req).encode() + b'\n')
            while True:
                try:
                    resp = self._responses.get(timeout=timeout)
                except queue.Empty:
                    raise QMPError(f'no answer to {cmd} in {timeout}s')
                if resp is None:
                    raise QMPError(f'QMP closed during {cmd}')
                if resp.get('id') == self._next_id:
                    break
        if 'error' in resp:
            raise QMPError(f'{cmd} {args}: {resp["error"]}')
        return resp.get('return')

    def wait_event(self, name, timeout):
        """Pop the oldest queued event called name; wait up to timeout s.
        Returns the event or None."""
        deadline = time.monotonic() + timeout
        with self._events_cv:
            while True:
                for i, ev in enumerate(self._events):
                    if ev['event'] == name:
                        return self._events.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._events_cv.wait(left)

    def clear_events(self, name=None):
        with self._events_cv:
            self._events = [e for e in self._events
                            if name is not None and e['event'] != name]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# --------------------------------------------------------------------------
# Guest

def _die_with_parent():
    """In the QEMU child: get SIGTERM when the rig process dies, so no
    guest outlives a killed test run."""
    import ctypes
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig,
                                            signal.SIGTERM)


def vmem_device_args(dev_id, memdev, region, block, requested=0, node=None,
                     unplugged_inaccessible=None):
    """QEMU arguments for one virtio-mem device and its backend."""
    dev = (f'virtio-mem-pci,id={dev_id},memdev={memdev},'
           f'requested-size={requested},block-size={block}')
    if node is not None:
        dev += f',node={node}'
    if unplugged_inaccessible is not None:
        dev += (',unplugged-inaccessible=' +
                ('on' if unplugged_inaccessible else 'off'))
    return ['-object', f'memory-backend-ram,id={memdev},size={region},'
                       'reserve=off',
            '-device', dev]


class GuestProcess:
    """A background process in the guest whose stdout goes to a file."""

    def __init__(self, guest, pid, out_path, what):
        self.guest, self.pid, self.out_path, self.what = \
            guest, pid, out_path, what

    def output(self):
        return self.guest.sh(f'cat {self.out_path}')

    def wait_output(self, pattern, timeout=120, count=1):
        """Wait until `count` output lines match pattern; return the
        count-th of them."""
        rx = re.compile(pattern)
        seen = ['']

        def probe():
            seen[0] = self.output()
            return [line for line in seen[0].splitlines()
                    if rx.search(line)]
        try:
            lines = wait_for(probe, timeout,
                             f'{count} line(s) matching "{pattern}" from '
                             f'{self.what} (pid {self.pid})',
                             until=lambda found: len(found) >= count)
        except RigError as err:
            tail = '\n'.join(seen[0].splitlines()[-10:])
            raise RigError(f'{err}; its output ends with:\n{tail}') from None
        return lines[count - 1]

    def signal(self, sig):
        self.guest.sh(f'kill -{sig} {self.pid}')

    def alive(self):
        return self.guest.run(f'kill -0 {self.pid}')[0] == 0

    def stop(self, timeout=60):
        """SIGTERM, then wait until it is gone."""
        if self.alive():
            self.signal('TERM')
        wait_for(lambda: not self.alive(), timeout,
                 f'{self.what} (pid {self.pid}) to exit')


class Guest:
    """One QEMU guest with a virtio-mem device `vm0`.

    Use as a context manager; all settings are keywords:
      boot, region, block, requested: sizes ('1G', '4M', bytes)
      online: memhp_default_state (online_movable, online_kernel, offline)
      unplugged_inaccessible: None (QEMU default), True or False
      load_driver: False boots with vmem.noload
      driver_params: dict or 'a=1,b=2' for insmod
      ko: path of our virtio_mem.ko (None: no module in the initramfs)
      extra_devices: list of -device values; extra_args: raw QEMU args
      extra_modules: more kernel modules for /modules in the initramfs,
          by path under lib/modules/REL/kernel (see initramfs_inputs)
      kernel_args: extra kernel command line words
      needs_acpi_irq: the guest needs ACPI PCI interrupt routing (a
          hot-added PCI device, S3: only ACPI routes interrupts again on
          resume), so acpi=noirq is left out of RIG_KERNEL_ARGS
      pvh: boot the uncompressed kernel through its PVH entry when it has
          one (see boot_image); False boots the bzImage, as S3 needs: a
          kernel that came in through PVH does not wake from S3 under
          QEMU 7.2
      node: NUMA node of vm0 (None: QEMU's default)
      numa_nodes: boot memory per NUMA node ('512M', '512M'): one
          memory-backend-ram and -numa node each (must add up to `boot`)
      extra_vmem: more virtio-mem devices, dicts with id (required),
          region, block, requested, node, unplugged_inaccessible
      no_reboot: True passes -no-reboot (a reset makes QEMU exit);
          False lets the guest reboot (see wait_for_reboot)
    """

    def __init__(self, *, boot='1G', region='4G', block='4M', requested=0,
                 online='online_movable', unplugged_inaccessible=None,
                 load_driver=True, driver_params=None, ko=None,
                 helpers=None, extra_devices=(), extra_args=(),
                 extra_modules=(), kernel_args='', needs_acpi_irq=False,
                 pvh=True, smp=2, maxmem='64G', slots=4,
                 name='guest', boot_timeout=180, release=KERNEL_RELEASE,
                 node=None, numa_nodes=None, extra_vmem=(),
                 no_reboot=True):
        self.boot_size = parse_size(boot)
        self.region = parse_size(region)
        self.block = parse_size(block)
        self.requested_at_boot = parse_size(requested)
        self.online = online
        self.unplugged_inaccessible = unplugged_inaccessible
        self.load_driver = load_driver
        if isinstance(driver_params, dict):
            driver_params = ','.join(f'{k}={v}'
                                     for k, v in driver_params.items())
        self.driver_params = driver_params or ''
        self.ko = Path(ko) if ko else None
        self.helpers = list(helpers) if helpers is not None else []
        self.extra_devices = list(extra_devices)
        self.extra_args = list(extra_args)
        self.extra_modules = list(extra_modules)
        self.kernel_args = kernel_args
        self.needs_acpi_irq = needs_acpi_irq
        self.pvh = pvh
        self.smp, self.maxmem, self.slots = smp, maxmem, slots
        self.name = name
        self.boot_timeout = boot_timeout
        self.release = release
        self.node = node
        self.numa_nodes = [parse_size(n) for n in numa_nodes or ()]
        if self.numa_nodes and sum(self.numa_nodes) != self.boot_size:
            raise RigError(f'NUMA nodes {numa_nodes} do not add up to the '
                           f'boot memory {format_size(self.boot_size)}')
        self.extra_vmem = [dict(d) for d in extra_vmem]
        for d in self.extra_vmem:
            if 'id' not in d or d['id'] == DEVICE_ID:
                raise RigError(f'extra virtio-mem device needs an id other '
                               f'than {DEVICE_ID}: {d}')
        self.no_reboot = no_reboot

        self.proc = None
        self.qmp = None
        self.workdir = None
        self.broken = None      # reason the guest can no longer be trusted
        self.ready = False      # the shell answered
        self._buf = ''
        self._buf_cv = threading.Condition()
        self._eof = False
        self._seq = 0
        self._run_lock = threading.Lock()
        self._dmesg_mark = -1.0
        self._base_memtotal = None
        self._kasan = None
        self.boot_seconds = None

    # ---- lifecycle ----------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False

    def kernel_cmdline(self):
        # cryptomgr.notests: the crypto self-tests cost half a second of
        # every boot under TCG and test nothing of ours.
        words = ['console=ttyS0', 'quiet', 'loglevel=3', 'printk.time=1',
                 'panic=-1', 'cryptomgr.notests',
                 f'memhp_default_state={self.online}']
        if not self.load_driver:
            words.append('vmem.noload')
        if self.driver_params:
            words.append(f'vmem.params={self.driver_params}')
        lane = KERNEL_ARGS.split()
        if self.needs_acpi_irq:
            lane = [w for w in lane if w != 'acpi=noirq']
        words += lane
        if self.kernel_args:
            words.append(self.kernel_args)
        return ' '.join(words)

    def qemu_command(self, initrd):
        if os.environ.get('RIG_KVM') == '1':
            accel = ['-accel', 'kvm', '-cpu', 'host']
        else:
            accel = ['-accel', 'tcg', '-cpu', 'max']
        cmd = [QEMU, *accel, '-smp', str(self.smp),
               '-m', f'{format_size(self.boot_size)},maxmem={self.maxmem},'
                     f'slots={self.slots}']
        for nid, size in enumerate(self.numa_nodes):
            cmd += ['-object', f'memory-backend-ram,id=ram{nid},'
                               f'size={format_size(size)}',
                    '-numa', f'node,nodeid={nid},memdev=ram{nid}']
        cmd += vmem_device_args(DEVICE_ID, 'mem0', self.region, self.block,
                                self.requested_at_boot, self.node,
                                self.unplugged_inaccessible)
        for d in self.extra_vmem:
            cmd += vmem_device_args(
                d['id'], f'mem-{d["id"]}', parse_size(d.get('region', '4G')),
                parse_size(d.get('block', '4M')),
                parse_size(d.get('requested', 0)), d.get('node'),
                d.get('unplugged_inaccessible'))
        for d in self.extra_devices:
            cmd += ['-device', d]
        kernel = (boot_image(self.release) if self.pvh
                  else kernel_image(self.release))
        cmd += ['-kernel', str(kernel),
                '-initrd', str(initrd),
                '-append', self.kernel_cmdline(),
                '-display', 'none', *(['-no-reboot'] if self.no_reboot
                                      else []), '-nodefaults',
                '-chardev', 'stdio,id=ser0,signal=off',
                '-serial', 'chardev:ser0',
                '-qmp', f'unix:{self.workdir}/qmp.sock,server=on,wait=off']
        return cmd + self.extra_args

    @timed('boot')
    def start(self):
        t0 = time.monotonic()
        ko = [self.ko] if self.ko else []
        initrd = cached_initramfs(ko, self.helpers, self.release,
                                  self.extra_modules)
        self.workdir = Path(tempfile.mkdtemp(prefix=f'vmrig-{self.name}-'))
        self.serial_log = open(self.workdir / 'serial.log', 'w')
        cmd = self.qemu_command(initrd)
        (self.workdir / 'qemu.cmd').write_text(' '.join(cmd) + '\n')
        log.info('%s: booting: boot %s, region %s, block %s, requested %s, '
                 '%s%s', self.name, format_size(self.boot_size),
                 format_size(self.region), format_size(self.block),
                 format_size(self.requested_at_boot), self.online,
                 '' if self.load_driver else ', vmem.noload')
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(self.workdir / 'qemu.stderr', 'w'), bufsize=0,
            preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read_serial,
                                        daemon=True)
        self._reader.start()
        try:
            self.qmp = QMP(self.workdir / 'qmp.sock')
            self._wait_serial(r'vmrig: ready\n', self.boot_timeout,
                              'the guest to boot to its shell')
            self.boot_seconds = time.monotonic() - t0
            self.ready = True
            log.info('%s: shell up after %.1fs', self.name,
                     self.boot_seconds)
            self._check_module_load()
            if self.requested_at_boot == 0 and not any(
                    parse_size(d.get('requested', 0))
                    for d in self.extra_vmem):
                self.base_memtotal()
        except BaseException:
            self.close(failed=True)
            raise

    def _check_module_load(self, start=0):
        m = re.compile(r'vmrig: insmod virtio_mem rc=(\d+)').search(
            self._buf, start)
        if self.load_driver and self.ko:
            if not m or m.group(1) != '0':
                raise RigError(f'{self.name}: insmod virtio_mem failed:\n'
                               f'{self.run("dmesg | tail -30")[1]}')
            log.info('%s: virtio_mem.ko loaded', self.name)

    def close(self, failed=False):
        """Stop QEMU and remove the files; keep logs if failed."""
        if self.proc is None:
            return
        if failed and self.ready and not self.broken and self.alive():
            self._save_dmesg()
        if self.qmp:
            self.qmp.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.serial_log.close()
        if failed:
            self._keep_logs()
        shutil.rmtree(self.workdir, ignore_errors=True)
        log.info('%s: stopped', self.name)
        self.proc = None

    def _save_dmesg(self):
        """The kernel log, and the driver's debugfs state (counters,
        block map) when it has one, for the kept logs."""
        try:
            rc, out = self.run('dmesg', timeout=30)
            (self.workdir / 'dmesg.txt').write_text(out)
            rc, out = self.run('cd /sys/kernel/debug/virtio_mem && '
                               'for f in */stats */blocks; do echo "== $f"; '
                               'cat $f; done', timeout=30)
            if rc == 0:
                (self.workdir / 'driver-debugfs.txt').write_text(out)
        except RigError:
            pass

    def _keep_logs(self):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        dest = LOG_DIR / f'{self.name}-{time.strftime("%Y%m%d-%H%M%S")}'
        shutil.copytree(self.workdir, dest,
                        ignore=shutil.ignore_patterns('*.sock'),
                        dirs_exist_ok=True)
        tail = '\n'.join(self._buf.splitlines()[-40:])
        log.error('%s: logs kept in %s; serial tail:\n%s', self.name, dest,
                  tail)
        self.kept_logs = dest

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- serial console -----------------------------------------------------

    def _read_serial(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b''
            if not chunk:
                break
            text = chunk.decode('utf-8', 'replace').replace('\r', '')
            self.serial_log.write(text)
            self.serial_log.flush()
            with self._buf_cv:
                self._buf += text
                self._buf_cv.notify_all()
        with self._buf_cv:
            self._eof = True
            self._buf_cv.notify_all()

    def _wait_serial(self, pattern, timeout, what, start=0):
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        with self._buf_cv:
            while True:
                m = rx.search(self._buf, start)
                if m:
                    return m
                if self._eof:
                    raise RigError(f'{self.name}: QEMU exited while waiting '
                                   f'for {what}; serial tail:\n'
                                   f'{self.serial_tail()}')
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RigError(f'{self.name}: timed out after '
                                   f'{timeout}s waiting for {what}; '
                                   f'serial tail:\n{self.serial_tail()}')
                self._buf_cv.wait(min(left, 1.0))

    def serial_tail(self, lines=25):
        return '\n'.join(self._buf.splitlines()[-lines:])

    def run(self, cmd, timeout=60):
        """Run cmd in a guest subshell; return (rc, output).

        Output is what the command wrote between two markers; stdin is
        /dev/null.  A one-line command travels single-quoted; one with
        newlines or control characters travels base64-encoded, which
        costs three more processes in the guest (a tenth of a second each
        on the debug kernel).  The markers are written with an empty quoted
        string inside, so an echo of the line never looks like them.
        """
        if self.broken:
            raise RigError(f'{self.name} is unusable: {self.broken}')
        with self._run_lock:
            self._seq += 1
            tag = f'{os.getpid()}x{self._seq}'
            if cmd.isprintable():
                quoted = "'" + cmd.replace("'", "'\\''") + "'"
                body = f'(eval {quoted})'
            else:
                encoded = base64.b64encode(cmd.encode()).decode()
                body = f'(eval "$(echo {encoded} | base64 -d)")'
            line = (f'echo @@S""{tag}; {body} </dev/null 2>&1; '
                    f'echo @@E""{tag}:$?\n')
            if len(line) > 3500:
                raise RigError('guest command too long for the tty: '
                               f'{len(cmd)} bytes')
            with self._buf_cv:
                start = len(self._buf)
            self.serial_log.write(f'\n### {cmd}\n')
            try:
                self.proc.stdin.write(line.encode())
                self.proc.stdin.flush()
                m = self._wait_serial(
                    rf'@@S{tag}\n(.*?)@@E{tag}:(\d+)\n', timeout,
                    f'the end of: {cmd}', start)
            except (RigError, OSError) as err:
                self.broken = f'command did not finish: {cmd}'
                raise RigError(str(err)) from None
            return int(m.group(2)), m.group(1)

    def sh(self, cmd, timeout=60):
        """Run cmd; return its output; raise GuestCommandError on rc != 0."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise GuestCommandError(cmd, rc, out)
        return out

    def send_line(self, text):
        """Write raw text to the guest's console and return at once: for
        commands that never finish (reboot -f) and for waking a guest
        from suspend to idle.  Returns the serial mark before it."""
        mark = self.serial_mark()
        self.serial_log.write(f'\n### (raw) {text!r}\n')
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()
        return mark

    def serial_mark(self):
        """Position in the serial output, for wait_for_reboot()."""
        with self._buf_cv:
            return len(self._buf)

    def serial_since(self, mark):
        """Everything the guest wrote to its console since the mark."""
        with self._buf_cv:
            return self._buf[mark:]

    @timed('wait')
    def wait_serial(self, pattern, timeout, what, mark=0):
        """Wait until the console output since the mark matches pattern
        (kernel messages, a background command's last words); return the
        match."""
        return self._wait_serial(pattern, timeout, what, mark)

    @timed('boot')
    def wait_for_reboot(self, mark, timeout=None):
        """Wait until the guest has booted again to its shell after the
        serial mark (QEMU without -no-reboot), and check that our driver
        was loaded again.  The kernel log starts over: the next dmesg
        check covers the whole new boot."""
        t0 = time.monotonic()
        self._wait_serial(r'vmrig: ready\n', timeout or self.boot_timeout,
                          'the guest to boot again to its shell', mark)
        self._dmesg_mark = -1.0
        log.info('%s: shell up again after %.1fs', self.name,
                 time.monotonic() - t0)
        self._check_module_load(mark)

    def start_process(self, cmd, what=None, out_path=None):
        """Start cmd in the background; its output goes to a file."""
        self._seq += 1
        out_path = out_path or f'/tmp/proc{self._seq}.out'
        pid = int(self.sh(f'{cmd} >{out_path} 2>&1 &\necho $!').strip())
        return GuestProcess(self, pid, out_path, what or cmd)

    def hold_verified_data(self, anon_mb, tmpfs_mb, path='/tmp/data'):
        """Hold anon_mb MiB of anonymous memory (memtool hold-anon) and
        write tmpfs_mb MiB to path, verify the anonymous data once, and
        return the memtool process (SIGUSR1 verifies again)."""
        anon = self.start_memtool('hold-anon', anon_mb)
        anon.wait_output(r'^ready ', timeout=300)
        self.sh(f'memtool fill-file {path} {tmpfs_mb}', timeout=300)
        anon.signal('USR1')
        seen = anon.wait_output(r'^verify ', timeout=300)
        if not seen.startswith('verify ok'):
            raise RigError(f'{self.name}: held data did not verify: {seen}')
        return anon

    def start_memtool(self, *args):
        return self.start_process('memtool ' + ' '.join(map(str, args)),
                                  what='memtool ' + args[0])

    # ---- QEMU side ----------------------------------------------------------

    def qom_get(self, prop, path=DEVICE_PATH):
        return self.qmp.execute('qom-get', path=path, property=prop)

    def qom_set(self, prop, value, path=DEVICE_PATH):
        return self.qmp.execute('qom-set', path=path, property=prop,
                                value=value)

    def qemu_size(self, dev=DEVICE_ID):
        """Bytes plugged, as QEMU sees it."""
        return self.qom_get('size', device_path(dev))

    def qemu_requested(self, dev=DEVICE_ID):
        return self.qom_get('requested-size', device_path(dev))

    def memory_device(self, dev=DEVICE_ID):
        """query-memory-devices data of a device (memaddr, max-size,
        ...), vm0 unless told."""
        for d in self.qmp.execute('query-memory-devices'):
            if d['data'].get('id') == dev:
                return d['data']
        raise RigError(f'{dev} not in query-memory-devices')

    def vmem_ids(self):
        """Ids of every virtio-mem device QEMU has, in its order."""
        return [d['data']['id'] for d in
                self.qmp.execute('query-memory-devices')
                if d['type'] == 'virtio-mem']

    def virtio_status(self, dev=DEVICE_ID):
        """QEMU's x-query-virtio-status of a device: host-features
        (offered), guest-features (negotiated), status, ..."""
        return self.qmp.execute('x-query-virtio-status',
                                path=device_path(dev) + '/virtio-backend')

    def resize(self, size, dev=DEVICE_ID):
        """Ask for a new size and return at once."""
        size = parse_size(size)
        log.info('%s: %s requested-size := %s (plugged now %s)', self.name,
                 dev, format_size(size), format_size(self.qemu_size(dev)))
        self.qom_set('requested-size', size, device_path(dev))
        return size

    def resize_and_wait(self, size, timeout=180, dev=DEVICE_ID):
        """Request size; wait until QEMU's plugged size equals it (woken
        by size-change events, polled as well).  Returns the final size."""
        size = self.resize(size, dev)
        return self.wait_qemu_size(size, timeout, dev)

    @timed('wait')
    def wait_qemu_size(self, size, timeout=180, dev=DEVICE_ID, stall=None):
        """Wait until QEMU's plugged size of dev is size (or timeout);
        return the size it has then.  With stall, give up as well once the
        size has not changed for stall seconds: for long resizes whose pace
        depends on the machine, where only a stop means something is
        wrong."""
        size = parse_size(size)
        t0 = last_change = time.monotonic()
        deadline = t0 + timeout
        seen = None
        while True:
            now = self.qemu_size(dev)
            if now != seen:
                if seen is not None:
                    log.info('%s: %s plugged %s', self.name, dev,
                             format_size(now))
                    last_change = time.monotonic()
                seen = now
            if now == size:
                log.info('%s: %s reached %s in %.1fs', self.name, dev,
                         format_size(size), time.monotonic() - t0)
                return now
            end = deadline if stall is None else \
                min(deadline, last_change + stall)
            left = end - time.monotonic()
            if left <= 0:
                log.warning('%s: %s still %s after %ds (wanted %s; last '
                            'change %ds ago)', self.name, dev,
                            format_size(now), time.monotonic() - t0,
                            format_size(size),
                            time.monotonic() - last_change)
                return now
            self.qmp.wait_event(SIZE_EVENT, min(left, 1.0))

    @timed('wait')
    def wait_until_settled(self, quiet=5, timeout=180, dev=DEVICE_ID):
        """Wait until QEMU's plugged size has not changed for `quiet`
        seconds (no size-change event, same size); return that size."""
        t0 = time.monotonic()
        self.qmp.clear_events(SIZE_EVENT)
        size = self.qemu_size(dev)
        while True:
            if self.qmp.wait_event(SIZE_EVENT, quiet) is None:
                now = self.qemu_size(dev)
                if now == size:
                    log.info('%s: %s plugged size settled at %s', self.name,
                             dev, format_size(size))
                    return size
                size = now
            else:
                size = self.qemu_size(dev)
            if time.monotonic() - t0 > timeout:
                raise RigError(f'{self.name}: plugged size still changing '
                               f'after {timeout}s (now {format_size(size)})')

    # ---- guest side ---------------------------------------------------------

    def guest_memtotal(self):
        """MemTotal from /proc/meminfo, in kB."""
        out = self.sh('cat /proc/meminfo')
        m = re.search(r'^MemTotal:\s+(\d+) kB', out, re.M)
        if not m:
            raise RigError(f'no MemTotal in /proc/meminfo:\n{out}')
        return int(m.group(1))

    def guest_meminfo(self):
        out = self.sh('cat /proc/meminfo')
        return {k: int(v) for k, v in
                re.findall(r'^(\w+):\s+(\d+)', out, re.M)}

    def memory_block_size(self):
        return int(self.sh(f'cat {GUEST_MEMORY_DIR}/block_size_bytes'), 16)

    def guest_memory_blocks(self):
        """{N: {'state', 'valid_zones', 'zone'}} for every memoryN.  Blocks
        that vanish while being listed (removed by the driver) are left
        out."""
        # The shell's own `read`, not cat: no process per file.  stderr is
        # dropped for the whole loop: a redirection's own error (the file
        # is gone) is printed before a later 2>/dev/null on the same
        # command would take effect.
        out = self.sh(
            f'cd {GUEST_MEMORY_DIR} && for b in memory[0-9]*; do '
            'read -r s <$b/state || continue; '
            'read -r z <$b/valid_zones || continue; '
            'echo "$b|$s|$z"; done 2>/dev/null')
        blocks = {}
        for line in out.splitlines():
            m = re.fullmatch(r'memory(\d+)\|([\w-]+)\|(.*)', line)
            if not m:
                raise RigError(f'unexpected memory block line: {line!r}')
            state, zones = m.group(2), m.group(3).split()
            blocks[int(m.group(1))] = {
                'state': state,
                'valid_zones': zones,
                'zone': zones[0] if state == 'online' and len(zones) == 1
                else None,
            }
        return blocks

    def device_memory_blocks(self, dev=DEVICE_ID):
        """Like guest_memory_blocks(), only those in the device's region."""
        dev = self.memory_device(dev)
        bs = self.memory_block_size()
        first = dev['memaddr'] // bs
        last = (dev['memaddr'] + dev['max-size'] - 1) // bs
        return {n: b for n, b in self.guest_memory_blocks().items()
                if first <= n <= last}

    def set_memory_block_state(self, block, state):
        """echo state > memoryN/state; returns (rc, output)."""
        return self.run(f'echo {state} > '
                        f'{GUEST_MEMORY_DIR}/memory{block}/state')

    def dmesg(self):
        return self.sh('dmesg', timeout=60).splitlines()

    def new_dmesg(self):
        """Kernel log lines since the last call (by timestamp; lines
        without one belong to the line before them)."""
        fresh, newest, include = [], self._dmesg_mark, False
        for line in self.dmesg():
            m = re.match(r'\[\s*(\d+\.\d+)\]', line)
            if m:
                ts = float(m.group(1))
                include = ts > self._dmesg_mark
                newest = max(newest, ts)
            if include:
                fresh.append(line)
        self._dmesg_mark = newest
        return fresh

    @timed('dmesg')
    def assert_dmesg_clean(self, allowed=(), allowed_warnings=()):
        """Fail on warnings, oopses and driver errors logged since the last
        check.  `allowed`: extra (regex, reason) pairs for this call.
        `allowed_warnings`: (warning regex, trace regex, reason) triples:
        a whole WARNING report (from its "cut here" line to its "end
        trace" line) is let through when its WARNING line matches the
        first regex and one of its lines the second."""
        allow = list(DMESG_ALLOWED) + list(allowed)
        fresh = drop_warning_reports(self.new_dmesg(), allowed_warnings,
                                     self.name)
        fresh = drop_benign_reports(fresh, self.name)
        bad = [line for line in fresh
               if any(re.search(p, line) for p in DMESG_BAD)
               and not any(re.search(p, line) for p, _ in allow)]
        if bad:
            first = fresh.index(bad[0])
            context = '\n'.join(fresh[max(0, first - 5):first + 30])
            raise RigError(f'{self.name}: kernel log is not clean:\n'
                           + '\n'.join(bad) + '\n--- context ---\n'
                           + context)
        log.info('%s: dmesg clean (%d new lines)', self.name, len(fresh))

    # ---- our driver ---------------------------------------------------------

    def driver_loaded(self):
        return self.run('grep -q "^virtio_mem " /proc/modules')[0] == 0

    def load_virtio_mem(self):
        log.info('%s: insmod /vmem/virtio_mem.ko', self.name)
        return self.sh('insmod /vmem/virtio_mem.ko $(cat /vmem/params)',
                       timeout=300)

    def unload_virtio_mem(self, timeout=300):
        log.info('%s: rmmod virtio_mem', self.name)
        return self.sh('rmmod virtio_mem', timeout=timeout)

    def driver_dir(self, dev=None):
        """sysfs directory of the virtio device our driver drives for a
        QEMU device id (matched by region address); None: the only one."""
        if dev is None:
            return f'{GUEST_DRIVER_DIR}/virtio*'
        addr = self.memory_device(dev)['memaddr']
        out = self.sh(f'for d in {GUEST_DRIVER_DIR}/virtio*; do '
                      'echo "$d $(cat $d/region_addr)"; done')
        for line in out.splitlines():
            path, _, region = line.partition(' ')
            if region.strip() and int(region, 0) == addr:
                return path
        raise RigError(f'{self.name}: no device of our driver has the '
                       f'region of {dev} at {addr:#x}:\n{out}')

    def driver_attr(self, name, dev=None):
        """A sysfs attribute of the virtio device our driver is bound to."""
        return self.sh(f'cat {self.driver_dir(dev)}/{name}').strip()

    def driver_attrs(self, dev=None):
        out = self.sh(f'cd {self.driver_dir(dev)} && for a in '
                      'block_size sub_block_size big_block_size mode '
                      'region_addr region_size plugged_size '
                      'requested_size shortfall shortfall_reason; do '
                      '[ ! -e $a ] || echo "$a=$(cat $a)"; done')
        return dict(line.split('=', 1) for line in out.splitlines())

    def driver_stats(self, dev=None):
        """The driver's debugfs counters of a device (None: the only
        one): {'retries': 3, 'requests_PLUG_ack': 5, ...}."""
        name = ('virtio*' if dev is None
                else self.driver_dir(dev).rsplit('/', 1)[1])
        out = self.sh(f'cat /sys/kernel/debug/virtio_mem/{name}/stats')
        return {k: int(v) for k, v in re.findall(r'^(\w+) (-?\d+)$', out,
                                                  re.M)}

    @staticmethod
    def driver_attrs_checked():
        """False with RIG_NO_DRIVER_ATTRS=1 (only to try the rig on a
        driver that has no sysfs attributes)."""
        return os.environ.get('RIG_NO_DRIVER_ATTRS') != '1'

    def expect_driver_attrs(self, dev=None, timeout=10, **want):
        """Check sysfs attributes of our driver's device (of QEMU device
        dev; None: the only one): ints compare as byte counts, strings as
        given (skipped, see driver_attrs_checked).  The driver's worker
        sets shortfall and its reason when its run ends, a moment after
        QEMU's size and MemTotal show the run's work: they are waited for
        up to `timeout` seconds."""
        if not self.driver_attrs_checked():
            return

        def wrong(got):
            for name, value in want.items():
                seen = got.get(name)
                if isinstance(value, int) and seen is not None:
                    seen = int(seen, 0)
                if seen != value:
                    return name, value, seen
            return None

        seen = [None]

        def probe():
            seen[0] = self.driver_attrs(dev)
            return seen[0]
        try:
            wait_for(probe, timeout, 'driver attributes',
                     until=lambda got: wrong(got) is None, interval=0.1)
        except RigError:
            got = seen[0]
            if got is None:
                raise
            name, value, was = wrong(got)
            raise RigError(f'driver attribute {name}: expected {value!r}, '
                           f'got {was!r} after {timeout}s (all: {got})') \
                from None

    def online_offline_device_blocks(self, dev=DEVICE_ID):
        """Online every offline memory block of the device, into the zone
        the guest's policy names.  Returns the blocks it onlined."""
        how = ('online_kernel' if self.online == 'online_kernel'
               else 'online_movable')
        onlined = []
        for n, b in self.device_memory_blocks(dev).items():
            if b['state'] == 'offline':
                rc, out = self.set_memory_block_state(n, how)
                if rc != 0:
                    # A block the driver is adding is offline until the
                    # kernel onlines it: it may have done so meanwhile.
                    rc_now, now = self.run(
                        f'cat {GUEST_MEMORY_DIR}/memory{n}/state')
                    if rc_now == 0 and now.strip() == 'online':
                        log.info('%s: memory%d came online by itself',
                                 self.name, n)
                        continue
                    raise RigError(f'cannot online memory{n}: {out} '
                                   f'(state now: {now.strip()})')
                onlined.append(n)
        return onlined

    def kasan(self):
        """Whether the guest kernel runs KASAN (the patched kernel does):
        it then takes an eighth of all memory it onlines for its shadow,
        from memory the kernel can allocate (not ZONE_MOVABLE), which caps
        how far a guest can grow."""
        if self._kasan is None:
            self._kasan = self.run(
                'dmesg | grep -q "KernelAddressSanitizer initialized"')[0] == 0
        return self._kasan

    # ---- both sides ---------------------------------------------------------

    def base_memtotal(self):
        """MemTotal (kB) with nothing plugged: measured once, when QEMU
        reports 0 plugged and the guest has caught up."""
        if self._base_memtotal is None:
            if any(self.qemu_size(d) for d in self.vmem_ids()):
                raise RigError('base MemTotal unknown: memory is plugged')
            self._base_memtotal = self.guest_memtotal()
            log.info('%s: MemTotal with nothing plugged: %d kB', self.name,
                     self._base_memtotal)
        return self._base_memtotal

    def set_base_memtotal(self, kb):
        self._base_memtotal = kb

    def wait_until_plugged(self, size, timeout=120, dev=DEVICE_ID):
        """Wait until QEMU reports `size` plugged and the guest's MemTotal
        is exactly the base plus `size`; fail saying what each side shows.
        With more devices, the others count with their QEMU size as it is
        now (use wait_until_all_plugged to name them all)."""
        sizes = {d: self.qemu_size(d) for d in self.vmem_ids() if d != dev}
        sizes[dev] = parse_size(size)
        self.wait_until_all_plugged(sizes, timeout)

    def wait_until_all_plugged(self, sizes, timeout=120):
        """Like wait_until_plugged for several devices at once: sizes is
        {device id: bytes}; MemTotal must be the base plus their sum."""
        sizes = {d: parse_size(s) for d, s in sizes.items()}
        want_kb = self.base_memtotal() + sum(sizes.values()) // KiB
        want = (tuple(sizes.values()), want_kb)
        shown = ', '.join(f'{d} {format_size(s)}' for d, s in sizes.items())

        def both_sides():
            return (tuple(self.qemu_size(d) for d in sizes),
                    self.guest_memtotal())

        try:
            wait_for(both_sides, timeout,
                     f'QEMU size {shown} and MemTotal {want_kb} kB',
                     until=lambda seen: seen == want)
        except RigError as err:
            raise RigError(f'{self.name}: {err} (as ((QEMU sizes), '
                           f'MemTotal); base MemTotal '
                           f'{self.base_memtotal()} kB)')
        log.info('%s: both sides agree: %s plugged, MemTotal %d kB',
                 self.name, shown, want_kb)

    def resize_and_check(self, size, timeout=180, dev=DEVICE_ID):
        """resize_and_wait plus wait_until_plugged: the common story."""
        size = parse_size(size)
        got = self.resize_and_wait(size, timeout, dev)
        if got != size:
            raise RigError(f'{self.name}: resize of {dev} to '
                           f'{format_size(size)} did not converge in '
                           f'{timeout}s: QEMU size {format_size(got)}; '
                           f'driver: {self._driver_state_for_error(dev)}')
        self.wait_until_plugged(size, dev=dev)

    def _driver_state_for_error(self, dev=DEVICE_ID):
        try:
            return self.driver_attrs(
                None if self.vmem_ids() == [DEVICE_ID] else dev)
        except RigError as err:
            return f'<no attributes: {str(err).splitlines()[0]}>'


def drop_warning_reports(lines, allowed_warnings, name='guest'):
    """Kernel log lines without the WARNING reports that
    allowed_warnings (see Guest.assert_dmesg_clean) let through."""
    if not allowed_warnings:
        return lines
    out, i = [], 0
    while i < len(lines):
        if 'cut here' in lines[i]:
            end = next((j for j in range(i, len(lines))
                        if '---[ end trace' in lines[j]), None)
            if end is not None:
                report = lines[i:end + 1]
                for warn, trace, reason in allowed_warnings:
                    if any(re.search(warn, x) for x in report
                           if 'WARNING:' in x) and \
                            any(re.search(trace, x) for x in report):
                        log.info('%s: kernel warning let through (%s): %s',
                                 name, reason,
                                 next(x for x in report if 'WARNING:' in x))
                        i = end + 1
                        break
                else:
                    out.append(lines[i])
                    i += 1
                continue
        out.append(lines[i])
        i += 1
    return out


def drop_benign_reports(lines, name='guest'):
    """Kernel log lines without the reports BENIGN_REPORTS lets through."""
    out, i = [], 0
    while i < len(lines):
        why = next((reason for rx, reason in BENIGN_REPORTS
                    if re.search(rx, lines[i])), None)
        end = next((j for j in range(i, min(len(lines), i + 80))
                    if '</TASK>' in lines[j]), None) if why else None
        if end is None:
            out.append(lines[i])
            i += 1
            continue
        log.info('%s: kernel report let through (%s): %s', name, why,
                 lines[i])
        i = end + 1
    return out


def size_steps(block):
    """Resize steps for a block size: block multiples, not 128M multiples,
    up and down: 0 -> ~1G -> ~512M -> ~2G -> ~256M -> 0."""
    bs = parse_size(block)
    return [GiB + bs, 512 * MiB - bs, 2 * GiB - 3 * bs, 256 * MiB + 5 * bs,
            0]


def setup_console_logging(level=logging.INFO):
    """For scripts: progress lines with elapsed time on stderr."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format='%(relativeCreated)8.0fms %(message)s')
