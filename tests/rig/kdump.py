"""kdump: crash a rig guest into a capture kernel and check its dump.

The guest is an ordinary vmrig guest whose initramfs carries one more
archive (the kernel unpacks concatenated archives in order):

  /usr/sbin/kexec, /usr/bin/makedumpfile  Debian's binaries, their
                               libraries (from ldd) and the dynamic loader
  /kdump/vmlinuz               the capture kernel (the guest's own kernel)
  /kdump/capture.cpio.gz       the capture initramfs (below)
  /modules/qemu_fw_cfg.ko      for -device vmcoreinfo (not loaded by init)
  /usr/sbin/kdump-uevent-hook, /usr/sbin/kdump-reloader
                               reload the capture kernel after memory
                               block events (start_reload_on_hotplug)

The capture initramfs loads the virtio transport, our virtio_mem.ko (which
finds itself in a kdump kernel and only answers /proc/vmcore) and
virtio_blk, then runs

  makedumpfile -F -d LEVEL /proc/vmcore > /dev/vda

and prints makedumpfile's report between markers on the console, then
powers off.  The host reads the raw disk back with `makedumpfile -R`.

Kernel arguments of the capture kernel that its init reads:
  kdump.level=N      makedumpfile dump level (default 31)
  kdump.noload       do not load virtio_mem.ko (a negative control)
  kdump.readall      afterwards read all memory in /proc/vmcore (every
                     PT_LOAD, unplugged parts of added memory blocks too)
  kdump.readall=A-B  the same, only for physical addresses [A, B) (the
                     device region: reading boot memory under KASAN cost
                     most of a capture and shows nothing of the driver)
  kdump.readmode=mmap  read through mmap (memtool read-mapped), as
                     makedumpfile does, instead of read() (dd): read()
                     remaps every page, which under KASAN and TCG reads
                     15 MB/s

KdumpGuest subclasses vmrig.Guest and uses only the rig's public API: the
console's marks and waits (serial_mark, wait_serial, serial_since) follow
the capture kernel after the crash; vmrig.gzip_newc writes the archives,
vmrig.write_atomic and vmrig.prune_cache keep them in the rig's cache.

Use:
    with KdumpGuest(dump_disk=path, crashkernel='256M', ...) as g:
        ... plug / unplug ...
        g.load_capture_kernel()
        g.crash()
        cap = g.wait_capture()       # console, report, rc
    vmcore = reassemble(path, out)   # makedumpfile -R
"""

import hashlib
import logging
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import vmrig
from vmrig import RigError, format_size, parse_size

log = logging.getLogger('vmrig')

KEXEC = Path('/usr/sbin/kexec')
MAKEDUMPFILE = Path('/usr/bin/makedumpfile')
CRASH = Path('/usr/bin/crash')
SHM_DIR = Path('/dev/shm')

# Capture kernel command line: one CPU, devices reset, no reboot loop.
CAPTURE_CMDLINE = ('console=ttyS0 nr_cpus=1 irqpoll reset_devices panic=-1 '
                   'printk.time=1 no_timer_check cryptomgr.notests')

# makedumpfile --message-level: common + error + report (no progress bar).
MDF_MESSAGE_LEVEL = 22

START_MARK = 'kdump-capture: start'
REPORT_BEGIN = 'kdump-capture: report begin'
REPORT_END = 'kdump-capture: report end'
DONE_RX = r'kdump-capture: done rc=(\d+)'


# --------------------------------------------------------------------------
# Files for the archives

def ldd_closure(binaries):
    """Every shared library the binaries need (ldd's list, which is the
    whole closure), plus the dynamic loader: list of Paths as ldd names
    them (the archive keeps those names; content comes from the resolved
    file)."""
    libs = []
    for b in binaries:
        out = subprocess.run(['ldd', str(b)], check=True, text=True,
                             capture_output=True).stdout
        for line in out.splitlines():
            line = line.strip()
            m = re.match(r'\S+ => (/\S+) \(0x', line) or \
                re.match(r'(/\S+) \(0x', line)
            if m:
                p = Path(m.group(1))
                if p not in libs:
                    libs.append(p)
            elif '=>' in line and 'not found' in line:
                raise RigError(f'{b}: library not found: {line}')
    return libs


def dynamic_binary_files(binaries):
    """(name, mode, source) entries for dynamically linked binaries and
    their libraries."""
    files = []
    for b in binaries:
        b = Path(b)
        if not b.is_file():
            raise RigError(f'{b} is missing (Debian package '
                           f'{"kexec-tools" if b.name == "kexec" else b.name})')
        files.append((str(b).lstrip('/'), 0o755, b))
    for lib in ldd_closure(binaries):
        files.append((str(lib).lstrip('/'), 0o755, lib.resolve()))
    return files


def _dirs_of(names):
    dirs = set()
    for name in names:
        parent = Path(name).parent
        while str(parent) not in ('.', ''):
            dirs.add(str(parent))
            parent = parent.parent
    return sorted(dirs, key=lambda d: (d.count('/'), d))


def _archive(files, extra=(), dirs=()):
    """gzip'd newc archive: `dirs` and the directories of all names,
    `extra` entries (name, mode, bytes), then the files (name, mode,
    source path)."""
    names = [n for n, _, _ in files] + [n for n, _, _ in extra]
    # A directory of its own is the parent of a name inside it.
    all_dirs = _dirs_of(names + [f'{d}/-' for d in dirs])
    entries = [(d, stat.S_IFDIR | 0o755, b'', (0, 0)) for d in all_dirs]
    if 'dev' in dirs:
        # The kernel opens init's stdin/stdout/stderr on it.
        entries.append(('dev/console', stat.S_IFCHR | 0o600, b'', (5, 1)))
    for name, mode, data in extra:
        entries.append((name, stat.S_IFREG | mode, data, (0, 0)))
    for name, mode, src in files:
        entries.append((name, stat.S_IFREG | mode, Path(src).read_bytes(),
                        (0, 0)))
    return vmrig.gzip_newc(entries)


def _cached(kind, files, extra, build):
    """Build an archive into the rig's cache unless one with the same
    inputs (by content) is there; return its path."""
    h = hashlib.sha256(kind.encode())
    for name, mode, data in extra:
        h.update(f'{name} {mode:o}\n'.encode())
        h.update(hashlib.sha256(data).digest())
    for name, mode, src in files:
        h.update(f'{name} {mode:o}\n'.encode())
        h.update(hashlib.sha256(Path(src).read_bytes()).digest())
    out = vmrig.CACHE_DIR / f'{kind}-{h.hexdigest()[:16]}.cpio.gz'
    if not out.exists():
        log.info('building %s', out)
        out.parent.mkdir(parents=True, exist_ok=True)
        vmrig.write_atomic(out, build())
        vmrig.prune_cache(f'{kind}-*.cpio.gz', keep=out, max_entries=4)
    return out


CAPTURE_INIT = r'''#!/bin/busybox sh
# kdump capture init: load the virtio transport, our virtio_mem.ko and
# virtio_blk, write a flattened dump of /proc/vmcore to /dev/vda, print
# makedumpfile's report, power off.  Lines for the rig start with
# "kdump-capture:".
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo "kdump-capture: start"

level=31 noload= readall= readmode=read
for word in $(cat /proc/cmdline); do
	case "$word" in
	kdump.readmode=*) readmode=${word#kdump.readmode=} ;;
	kdump.level=*) level=${word#kdump.level=} ;;
	kdump.noload) noload=1 ;;
	kdump.readall) readall=all ;;
	kdump.readall=*) readall=${word#kdump.readall=} ;;
	esac
done

now() { cut -d' ' -f1 /proc/uptime; }
# STATE requests our driver sent so far (its vmem_request tracepoint).
state_requests() {
	n=$(grep -c 'STATE' /sys/kernel/tracing/trace 2>/dev/null)
	echo "${n:-0}"
}

for m in @VIRTIO_MODULES@; do
	insmod /modules/$m.ko || echo "kdump-capture: insmod $m failed"
done
if [ -n "$noload" ]; then
	echo "kdump-capture: kdump.noload: virtio_mem not loaded"
else
	insmod /vmem/virtio_mem.ko
	rc=$?
	# Requests are traced from here on, before the rig hears of the load.
	ev=/sys/kernel/tracing/events/virtio_mem/vmem_request/enable
	[ -e $ev ] && echo 1 > $ev
	echo "kdump-capture: insmod virtio_mem rc=$rc"
fi
insmod /modules/virtio_blk.ko
echo "kdump-capture: insmod virtio_blk rc=$?"
n=0
while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
# From here on only this script writes to the console (the kernel's own
# messages, the "kdump mode" line among them, are in dmesg below), so no
# kernel message splits a line the rig parses.
echo 1 > /proc/sys/kernel/printk
echo "kdump-capture: vmcore bytes=$(stat -c %s /proc/vmcore)"

t0=$(now)
makedumpfile -F -d "$level" --message-level @MSGLEVEL@ /proc/vmcore \
	>/dev/vda 2>/tmp/mdf.log
rc=$?
sync
echo "kdump-capture: makedumpfile rc=$rc seconds=$t0-$(now) state_requests=$(state_requests)"
echo "kdump-capture: report begin"
tr '\r' '\n' </tmp/mdf.log
echo "kdump-capture: report end"

if [ -n "$readall" ]; then
	# Every byte of /proc/vmcore's memory in the physical range asked for
	# (kdump.readall=FIRST-LAST, the device region), unplugged parts of
	# added blocks too; all of it for plain kdump.readall. The PT_LOAD
	# program headers say where each range of memory is in the file.
	first=0 last=$((0x7fffffffffffffff))
	if [ "$readall" != all ]; then
		first=$((${readall%-*})) last=$((${readall#*-}))
	fi
	u() { od -A n -t "u$2" -j "$1" -N "$2" /proc/vmcore | tr -d ' '; }
	t0=$(now)
	phoff=$(u 32 8) phsize=$(u 54 2) phnum=$(u 56 2)
	r=0 i=0 want=0 segs=0 short=0
	while [ "$i" -lt "$phnum" ]; do
		ph=$((phoff + i * phsize)) i=$((i + 1))
		[ "$(u "$ph" 4)" = 1 ] || continue
		off=$(u $((ph + 8)) 8) pa=$(u $((ph + 24)) 8) sz=$(u $((ph + 32)) 8)
		lo=$pa hi=$((pa + sz))
		[ "$lo" -lt "$first" ] && lo=$first
		[ "$hi" -gt "$last" ] && hi=$last
		[ "$lo" -lt "$hi" ] || continue
		n=$((hi - lo)) segs=$((segs + 1)) want=$((want + n))
		if [ "$readmode" = mmap ]; then
			memtool read-mapped /proc/vmcore $((off + lo - pa)) $n \
				>/tmp/dd.log || r=1
			grep -q "^read-mapped $n " /tmp/dd.log ||
				short=$((short + 1))
			continue
		fi
		dd if=/proc/vmcore of=/dev/null bs=1M \
			iflag=skip_bytes,count_bytes skip=$((off + lo - pa)) \
			count=$n 2>/tmp/dd.log || r=1
		# A short read shows in dd's record count: whole MiB + the rest.
		grep -q "^$((n / 1048576))+$((n % 1048576 > 0)) records in" \
			/tmp/dd.log || short=$((short + 1))
	done
	echo "kdump-capture: readall rc=$r seconds=$t0-$(now) state_requests=$(state_requests) segments=$segs short=$short bytes=$want mode=$readmode"
fi
# Every request our driver sent, by type: a capture kernel sends STATE only.
echo "kdump-capture: requests $(grep -o 'vmem_request: [^ ]* [A-Z_]*' \
	/sys/kernel/tracing/trace 2>/dev/null | awk '{print $3}' | sort |
	uniq -c | awk '{printf "%s=%s ", $2, $1}')"
echo "kdump-capture: dmesg begin"
dmesg
echo "kdump-capture: dmesg end"
echo "kdump-capture: done rc=$rc"
poweroff -f
sleep 60
'''


def capture_files(ko, release=vmrig.KERNEL_RELEASE):
    moddir = vmrig.module_dir(release)
    files = [('bin/busybox', 0o755, vmrig.BUSYBOX)]
    for m in vmrig.VIRTIO_MODULES:
        files.append((f'modules/{m}.ko', 0o644,
                      moddir / 'drivers/virtio' / f'{m}.ko'))
    files.append(('modules/virtio_blk.ko', 0o644,
                  moddir / 'drivers/block/virtio_blk.ko'))
    if ko:
        files.append(('vmem/virtio_mem.ko', 0o644, Path(ko).resolve()))
    memtool = next(p for p in vmrig.guest_programs() if p.name == 'memtool')
    files.append(('bin/memtool', 0o755, memtool))
    files += dynamic_binary_files([MAKEDUMPFILE])
    for name, _, src in files:
        if not Path(src).is_file():
            raise RigError(f'capture initramfs input missing: {src}')
    return files


def capture_initramfs(ko, release=vmrig.KERNEL_RELEASE):
    """The capture kernel's initramfs (cached by content)."""
    files = capture_files(ko, release)
    init = (CAPTURE_INIT
            .replace('@VIRTIO_MODULES@', ' '.join(vmrig.VIRTIO_MODULES))
            .replace('@MSGLEVEL@', str(MDF_MESSAGE_LEVEL)))
    dirs = ['dev', 'proc', 'sys', 'tmp', 'sbin', 'usr/sbin']
    extra = [('init', 0o755, init.encode()),
             ('etc/kdump-capture', 0o644, ' '.join(dirs).encode())]
    return _cached('capture', files, extra,
                   lambda: _archive(files, extra, dirs))


# Reload the capture kernel on memory hotplug, the way a distribution does
# from udev (Debian's kdump-tools: 50-kdump-tools.rules runs
# `kdump-config try-reload` on memory online/offline), with the debounce
# RHEL's kdump-udev-throttler adds: busybox `uevent` runs the hook for every
# kernel event; the hook notes memory block events; the reloader reloads
# once they have been quiet for a second.
UEVENT_HOOK = r'''#!/bin/sh
[ "$SUBSYSTEM" = memory ] || exit 0
case "$ACTION" in
add|remove|online|offline)
	echo "$SEQNUM $ACTION $DEVPATH" >>/tmp/kdump-events ;;
esac
'''

RELOADER = r'''#!/bin/sh
# kdump-reloader: reload the capture kernel (same kernel, initramfs and
# command line as the last load) after memory block events settle.
touch /tmp/kdump-events
done_n=$(wc -l </tmp/kdump-events)
while :; do
	n=$(wc -l </tmp/kdump-events)
	if [ "$n" != "$done_n" ]; then
		sleep 1
		[ "$(wc -l </tmp/kdump-events)" = "$n" ] || continue
		kexec -p -u
		kexec -p /kdump/vmlinuz --initrd=/kdump/capture.cpio.gz \
			--append="$(cat /tmp/kdump-append)"
		echo "reloaded rc=$? after $n events at $(cut -d' ' -f1 /proc/uptime)"
		done_n=$n
	fi
	sleep 0.5
done
'''


def overlay_initramfs(ko, release=vmrig.KERNEL_RELEASE):
    """The archive appended to the rig's initramfs: kexec, makedumpfile,
    the capture kernel and its initramfs, qemu_fw_cfg.ko, the hotplug
    reload scripts."""
    capture = capture_initramfs(ko, release)
    moddir = vmrig.module_dir(release)
    files = dynamic_binary_files([KEXEC, MAKEDUMPFILE])
    files += [('kdump/vmlinuz', 0o644, vmrig.kernel_image(release)),
              ('kdump/capture.cpio.gz', 0o644, capture),
              ('modules/qemu_fw_cfg.ko', 0o644,
               moddir / 'drivers/firmware/qemu_fw_cfg.ko')]
    for name, _, src in files:
        if not Path(src).is_file():
            raise RigError(f'kdump overlay input missing: {src}')
    extra = [('usr/sbin/kdump-uevent-hook', 0o755, UEVENT_HOOK.encode()),
             ('usr/sbin/kdump-reloader', 0o755, RELOADER.encode())]
    return _cached('kdump-overlay', files, extra,
                   lambda: _archive(files, extra))


# --------------------------------------------------------------------------
# The guest

class CaptureResult:
    """What the capture kernel printed: console text (from the crash on),
    makedumpfile's exit code and report (a dict), its own kernel log."""

    def __init__(self, console, rc, seconds):
        self.console, self.rc, self.seconds = console, rc, seconds
        self.report_text = _between(console, REPORT_BEGIN, REPORT_END)
        self.report = parse_report(self.report_text)
        self.dmesg = _between(console, 'kdump-capture: dmesg begin',
                              'kdump-capture: dmesg end').splitlines()

    def _line(self, what):
        m = re.search(r'^kdump-capture: ' + what + r' rc=(\d+) '
                      r'seconds=([\d.]+)-([\d.]+) state_requests=(\d+)',
                      self.console, re.M)
        if not m:
            return None
        return {'rc': int(m.group(1)),
                'seconds': float(m.group(3)) - float(m.group(2)),
                'state_requests': int(m.group(4))}

    def makedumpfile(self):
        """{'rc', 'seconds', 'state_requests'} of the makedumpfile run."""
        return self._line('makedumpfile')

    def readall(self):
        """The same for the read of /proc/vmcore's memory (kdump.readall),
        plus 'segments' and 'bytes' it read and 'complete': no segment was
        read short."""
        r = self._line('readall')
        if r is None:
            return None
        m = re.search(r'kdump-capture: readall .* segments=(\d+) '
                      r'short=(\d+) bytes=(\d+) mode=(\w+)', self.console)
        r['segments'], short, r['bytes'] = (
            (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m
            else (None, None, None))
        r['complete'] = short == 0
        r['mode'] = m and m.group(4)
        return r

    def requests(self):
        """{type: count} of the requests our driver sent in the capture
        kernel (its vmem_request tracepoint), or None without the line."""
        m = re.search(r'^kdump-capture: requests (.*)$', self.console, re.M)
        if not m:
            return None
        return {k: int(v) for k, v in
                (w.split('=') for w in m.group(1).split())}

    def vmcore_bytes(self):
        m = re.search(r'kdump-capture: vmcore bytes=(\d+)', self.console)
        return int(m.group(1)) if m else None

    def kdump_mode_lines(self):
        return [line for line in self.dmesg
                if 'virtio_mem' in line and 'kdump mode' in line]

    def bad_dmesg(self):
        """Capture kernel log lines matching vmrig.DMESG_BAD (and not
        vmrig.DMESG_ALLOWED)."""
        return vmrig.bad_lines(self.dmesg)


def _between(text, begin, end):
    m = re.search(re.escape(begin) + r'\n(.*?)^' + re.escape(end), text,
                  re.S | re.M)
    return m.group(1) if m else ''


def parse_report(text):
    """makedumpfile's report ('Offline pages : 0x...') -> {name: int}."""
    report = {}
    for m in re.finditer(r'^\s*([A-Za-z][A-Za-z ()-]*?)\s*:\s*'
                         r'(0x[0-9a-fA-F]+|\d+)\s*$', text, re.M):
        report[m.group(1)] = int(m.group(2), 0)
    return report


class KdumpGuest(vmrig.Guest):
    """A vmrig.Guest that can crash into a capture kernel.

    Extra settings:
      crashkernel: reservation for the capture kernel ('256M'; None:
          none)
      dump_disk: host path of a raw disk for the dump (created sparse,
          dump_disk_size large when the guest starts); the guest sees it
          as /dev/vda
      vmcoreinfo: add -device vmcoreinfo (QEMU's dump-guest-memory then
          carries the guest's VMCOREINFO once qemu_fw_cfg is loaded)
    and, of vmrig.Guest's, backend_file: a host path (in /dev/shm) for the
    device's memory: unplugged memory is a hole in that file, and a read of
    it by the guest allocates a page there: data_ranges() shows it.

    What it adds to the guest is data for the rig: its archive after the
    rig's initramfs (initrd_archives), the dump disk in extra_args,
    vmcoreinfo in extra_devices.
    """

    def __init__(self, *, crashkernel='256M', dump_disk=None,
                 dump_disk_size='4G', vmcoreinfo=False, **settings):
        args = settings.pop('kernel_args', '')
        if crashkernel:
            args = f'{args} crashkernel={crashkernel}'.strip()
        dump_disk = Path(dump_disk) if dump_disk else None
        extra_args = list(settings.pop('extra_args', ()))
        if dump_disk:
            extra_args += ['-drive', f'file={dump_disk},format=raw,if=none,'
                                     'id=dumpdisk,cache=writeback',
                           '-device', 'virtio-blk-pci,drive=dumpdisk']
        extra_devices = list(settings.pop('extra_devices', ()))
        if vmcoreinfo:
            extra_devices.append('vmcoreinfo')
        super().__init__(kernel_args=args, extra_args=extra_args,
                         extra_devices=extra_devices, **settings)
        self.crashkernel = crashkernel
        self.dump_disk = dump_disk
        self.dump_disk_size = parse_size(dump_disk_size)
        self.vmcoreinfo = vmcoreinfo
        self.crash_mark = None
        self.capture = None

    def initrd_archives(self):
        return super().initrd_archives() + [overlay_initramfs(self.ko,
                                                              self.release)]

    def start(self):
        if self.dump_disk:
            self.dump_disk.unlink(missing_ok=True)
            with open(self.dump_disk, 'wb') as f:
                f.truncate(self.dump_disk_size)
        super().start()

    # ---- first kernel -------------------------------------------------------

    def crash_reserved(self):
        """Bytes reserved for the capture kernel (/sys/kernel/kexec_crash_size)."""
        return int(self.sh('cat /sys/kernel/kexec_crash_size'))

    def load_capture_kernel(self, append='', level=31):
        """kexec -p the capture kernel with its initramfs.  The elfcorehdr
        (which memory the capture kernel may dump) is fixed now."""
        # The lane's words too (RIG_KERNEL_ARGS): the capture kernel is the
        # guest's own kernel, and slow to boot without them.
        cmdline = ' '.join(w for w in (CAPTURE_CMDLINE, vmrig.KERNEL_ARGS,
                                       f'kdump.level={level}', append) if w)
        self.sh(f'echo "{cmdline}" > /tmp/kdump-append')
        t0 = time.monotonic()
        self.sh('kexec -p /kdump/vmlinuz --initrd=/kdump/capture.cpio.gz '
                f'--append="{cmdline}"', timeout=120)
        loaded = self.sh('cat /sys/kernel/kexec_crash_loaded').strip()
        if loaded != '1':
            raise RigError(f'{self.name}: kexec -p did not load a capture '
                           f'kernel (kexec_crash_loaded={loaded})')
        log.info('%s: capture kernel loaded in %.1fs: %s', self.name,
                 time.monotonic() - t0, cmdline)

    def start_reload_on_hotplug(self):
        """Reload the capture kernel after memory block events, as a
        distribution's udev rule does (see RELOADER).  Load it once first
        (load_capture_kernel): the reloader keeps its command line."""
        self.uevent = self.start_process('uevent kdump-uevent-hook',
                                         'uevent listener')
        self.reloader = self.start_process('kdump-reloader',
                                           'kdump reloader')

    def wait_reloads_settled(self, timeout=120):
        """Wait until the reloader has reloaded after every memory block
        event so far; returns its log lines."""
        def settled():
            events = int(self.sh('wc -l </tmp/kdump-events').strip())
            log_lines = self.reloader.output().splitlines()
            m = re.search(r'reloaded rc=(\d+) after (\d+) events',
                          log_lines[-1]) if log_lines else None
            if events and m and int(m.group(2)) == events:
                return log_lines
            return None
        lines = vmrig.wait_for(settled, timeout,
                               'the capture kernel reloaded after the last '
                               'memory block event')
        # No event in the last second and no reload running: settled.
        vmrig.hold_for(settled, 2, 'no more memory block events')
        bad = [line for line in lines if 'rc=0' not in line]
        if bad:
            raise RigError(f'{self.name}: a reload failed: {bad}')
        log.info('%s: capture kernel reloaded %d times after memory '
                 'events', self.name, len(lines))
        return lines

    def unload_capture_kernel(self):
        self.sh('kexec -p -u')

    def iomem_ram(self):
        """'System RAM' ranges of /proc/iomem: [(start, end+1, name)]."""
        out = self.sh('cat /proc/iomem')
        ranges = []
        for line in out.splitlines():
            m = re.match(r'\s*([0-9a-f]+)-([0-9a-f]+) : (System RAM.*)',
                         line)
            if m:
                ranges.append((int(m.group(1), 16), int(m.group(2), 16) + 1,
                               m.group(3)))
        return ranges

    def block_map(self):
        """The driver's debugfs map: [(block, state, map)]."""
        out = self.sh('cat /sys/kernel/debug/virtio_mem/virtio*/blocks')
        rows = []
        for line in out.splitlines():
            m = re.fullmatch(r'memory(\d+) (\w+) ([#.]+)', line.strip())
            if not m:
                raise RigError(f'unexpected block map line: {line!r}')
            rows.append((int(m.group(1)), m.group(2), m.group(3)))
        return rows

    def unplugged_pages_in_added_blocks(self):
        """Pages of added memory blocks (state other than 'unused') whose
        sub block is unplugged ('.'): all of them PageOffline."""
        sbs = int(self.driver_attr('sub_block_size'))
        dots = sum(m.count('.') for _, state, m in self.block_map()
                   if state != 'unused')
        return dots * sbs // 4096

    def unplugged_ranges(self):
        """Physical ranges [start, end) of unplugged sub blocks inside
        added memory blocks (from the block map)."""
        sbs = int(self.driver_attr('sub_block_size'))
        mb = self.memory_block_size()
        ranges = []
        for n, state, m in self.block_map():
            if state == 'unused':
                continue
            for i, c in enumerate(m):
                if c == '.':
                    ranges.append((n * mb + i * sbs, n * mb + (i + 1) * sbs))
        return ranges

    def crash(self):
        """echo c > /proc/sysrq-trigger: the first kernel panics and kexecs
        into the capture kernel.  The shell is gone afterwards."""
        log.info('%s: crashing the guest (sysrq c)', self.name)
        self.crash_mark = self.send_line('echo c > /proc/sysrq-trigger\n')
        self.broken = 'crashed into the capture kernel'
        self.ready = False
        self.crash_time = time.monotonic()

    @vmrig.timed('capture')
    def wait_capture_line(self, regex, what, timeout=180):
        """Wait for a line of the capture kernel's init (after the crash);
        returns its match."""
        return self.wait_serial(regex, timeout, what, self.crash_mark)

    @vmrig.timed('capture')
    def wait_capture(self, timeout=600):
        """Wait for the capture kernel to finish (its 'done' line) and QEMU
        to exit (poweroff).  Returns a CaptureResult."""
        t0 = time.monotonic()
        self.wait_serial(re.escape(START_MARK), 180,
                         'the capture kernel to run its init', self.crash_mark)
        log.info('%s: capture kernel up %.1fs after the crash', self.name,
                 time.monotonic() - self.crash_time)
        m = self.wait_serial(DONE_RX, timeout, 'the capture kernel to '
                             'finish its dump', self.crash_mark)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise RigError(f'{self.name}: QEMU still running 60s after the '
                           'capture kernel powered off')
        self.capture = CaptureResult(self.serial_since(self.crash_mark),
                                     int(m.group(1)),
                                     time.monotonic() - self.crash_time)
        log.info('%s: capture done in %.1fs after the crash (wait %.1fs), '
                 'makedumpfile rc=%d', self.name, self.capture.seconds,
                 time.monotonic() - t0, self.capture.rc)
        return self.capture

    # ---- QEMU's dump-guest-memory -----------------------------------------

    def dump_guest_memory(self, path, fmt='kdump-zlib', paging=False,
                          timeout=600):
        """QMP dump-guest-memory to a host file (synchronous); returns the
        seconds it took."""
        t0 = time.monotonic()
        Path(path).unlink(missing_ok=True)
        args = {'paging': paging, 'protocol': f'file:{path}'}
        if fmt != 'elf':
            args['format'] = fmt
        self.qmp.execute('dump-guest-memory', timeout=timeout, **args)
        took = time.monotonic() - t0
        log.info('%s: dump-guest-memory %s paging=%s: %s in %.1fs',
                 self.name, fmt, paging,
                 format_size(Path(path).stat().st_size, 'M'), took)
        return took


# --------------------------------------------------------------------------
# Backend file: which parts are holes

def data_ranges(path):
    """Allocated ranges [start, end) of a sparse file (SEEK_DATA/HOLE)."""
    ranges = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, end))
            pos = end
    finally:
        os.close(fd)
    return ranges


def overlap(ranges_a, ranges_b):
    """Bytes where two lists of [start, end) ranges overlap."""
    total = 0
    for a0, a1 in ranges_a:
        for b0, b1 in ranges_b:
            lo, hi = max(a0, b0), min(a1, b1)
            if lo < hi:
                total += hi - lo
    return total


# --------------------------------------------------------------------------
# Host side

def reassemble(flat, out):
    """makedumpfile -R: the flattened dump on the raw disk -> a kdump
    compressed dump file.  Returns out."""
    out = Path(out)
    out.unlink(missing_ok=True)
    with open(flat, 'rb') as f:
        r = subprocess.run([str(MAKEDUMPFILE), '-R', str(out)], stdin=f,
                           capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not out.exists():
        raise RigError(f'makedumpfile -R failed (rc={r.returncode}):\n'
                       f'{r.stdout}\n{r.stderr}')
    return out


def flattened_size(flat):
    """Bytes of the flattened stream on the raw disk: up to and including
    its end marker (makedumpfile's flat records: 16-byte header of
    big-endian offset and size, then data; offset -1 and size -1 end it)."""
    with open(flat, 'rb') as f:
        head = f.read(4096)
        if not head.startswith(b'makedumpfile'):
            raise RigError(f'{flat}: no flattened makedumpfile header')
        pos = 4096
        while True:
            f.seek(pos)
            rec = f.read(16)
            if len(rec) < 16:
                raise RigError(f'{flat}: flattened stream ends without its '
                               f'end marker at {pos}')
            off = int.from_bytes(rec[:8], 'big', signed=True)
            size = int.from_bytes(rec[8:], 'big', signed=True)
            pos += 16
            if off == -1 and size == -1:
                return pos
            if size < 0:
                raise RigError(f'{flat}: bad record at {pos - 16}')
            pos += size


def elf_core(path):
    """An ELF64 core file's layout: {'ehsize', 'phoff', 'shoff', 'loads':
    [(paddr, filesz)], 'notes': bytes of its PT_NOTE segments}."""
    import struct
    with open(path, 'rb') as f:
        eh = f.read(64)
        if eh[:4] != b'\x7fELF' or eh[4] != 2:
            raise RigError(f'{path}: not an ELF64 file')
        (phoff, shoff, _flags, ehsize, phentsize,
         phnum) = struct.unpack_from('<QQIHHH', eh, 32)
        loads, notes = [], b''
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type, _pf, p_offset, _vaddr, p_paddr, p_filesz,
             _memsz, _align) = struct.unpack('<IIQQQQQQ', f.read(56))
            if p_type == 1:
                loads.append((p_paddr, p_filesz))
            elif p_type == 4:
                f.seek(p_offset)
                notes += f.read(p_filesz)
    return {'ehsize': ehsize, 'phoff': phoff, 'shoff': shoff,
            'loads': loads, 'notes': notes}


def vmlinux_path(release=vmrig.KERNEL_RELEASE):
    """The debug vmlinux of the guest kernel (Debian package
    linux-image-<release>-dbg), or RIG_VMLINUX; None if there is none."""
    env = os.environ.get('RIG_VMLINUX')
    for p in ([Path(env)] if env else []) + [
            Path(f'/usr/lib/debug/boot/vmlinux-{release}'),
            Path(f'/usr/lib/debug/vmlinux-{release}')]:
        if p.is_file():
            return p
    return None


def crash_commands(vmlinux, vmcore, commands, timeout=300):
    """Run crash(8) on a dump with commands; returns its output (raises on
    a failure to open the dump)."""
    if not CRASH.exists():
        raise RigError('crash is not installed (Debian package crash)')
    script = '\n'.join(list(commands) + ['quit']) + '\n'
    env = dict(os.environ, PAGER='cat', CRASHPAGER='cat')
    r = subprocess.run([str(CRASH), '-s', '--no_crashrc', str(vmlinux),
                        str(vmcore)], input=script, capture_output=True,
                       text=True, timeout=timeout, env=env)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise RigError(f'crash failed (rc={r.returncode}) on {vmcore}:\n'
                       f'{out[-4000:]}')
    return out
