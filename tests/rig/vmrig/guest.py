"""A guest: one QEMU with virtio-mem devices, booted to the rig's shell;
its serial console and the commands run over it, the QEMU side (QMP:
sizes, requests, events), the guest side (meminfo, memory blocks, our
driver's sysfs and debugfs), the waits on either side and on both, and
the kernel log checks."""

import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .base import KERNEL_ARGS, KERNEL_RELEASE, LOG_DIR, QEMU, RigError, log
from .console import SerialConsole
from .dmesg import check_clean, lines_since
from .initramfs import cached_initramfs, concat_archives
from .kernel import boot_image, kernel_image
from .qmp import QMP
from .sizes import KiB, format_size, parse_size
from .waits import WaitTimeout, timed, wait_for, wait_steady

# The rig's own virtio-mem device (more: Guest's extra_vmem).
DEVICE_ID = 'vm0'
DEVICE_PATH = '/machine/peripheral/' + DEVICE_ID


def device_path(dev_id):
    """QOM path of a device added with -device ...,id=dev_id."""
    return '/machine/peripheral/' + dev_id


SIZE_EVENT = 'MEMORY_DEVICE_SIZE_CHANGE'
GUEST_DRIVER_DIR = '/sys/bus/virtio/drivers/virtio_mem'
GUEST_MEMORY_DIR = '/sys/devices/system/memory'


class GuestCommandError(RigError):
    def __init__(self, cmd, rc, output):
        super().__init__(f'guest command failed (rc={rc}): {cmd}\n'
                         f'--- output ---\n{output}')
        self.cmd, self.rc, self.output = cmd, rc, output


def _die_with_parent():
    """In the QEMU child: get SIGTERM when the rig process dies, so no
    guest outlives a killed test run."""
    import ctypes
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig,
                                            signal.SIGTERM)


def vmem_device_args(dev_id, memdev, region, block, requested=0, node=None,
                     unplugged_inaccessible=None, backend_file=None):
    """QEMU arguments for one virtio-mem device and its backend: RAM, or
    with backend_file a host file shared with QEMU (memory-backend-file,
    share=on: unplugged memory is a hole in it)."""
    dev = (f'virtio-mem-pci,id={dev_id},memdev={memdev},'
           f'requested-size={requested},block-size={block}')
    if node is not None:
        dev += f',node={node}'
    if unplugged_inaccessible is not None:
        dev += (',unplugged-inaccessible=' +
                ('on' if unplugged_inaccessible else 'off'))
    if backend_file:
        backend = (f'memory-backend-file,id={memdev},size={region},'
                   f'mem-path={backend_file},share=on,reserve=off')
    else:
        backend = f'memory-backend-ram,id={memdev},size={region},reserve=off'
    return ['-object', backend, '-device', dev]


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
        except WaitTimeout as err:
            tail = '\n'.join(seen[0].splitlines()[-10:])
            raise err.again(f'{err}; its output ends with:\n{tail}') \
                from None
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
      backend_file: host path for vm0's memory (memory-backend-file,
          share=on, instead of RAM): removed before QEMU starts and after
          it stops
      numa_nodes: boot memory per NUMA node ('512M', '512M'): one
          memory-backend-ram and -numa node each (must add up to `boot`)
      extra_vmem: more virtio-mem devices, dicts with id (required),
          region, block, requested, node, unplugged_inaccessible,
          backend_file
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
                 backend_file=None, no_reboot=True):
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
        self.backend_file = Path(backend_file) if backend_file else None
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
        self.console = None
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

    def vmem_specs(self):
        """The virtio-mem devices, each as vmem_device_args' keywords: vm0
        from the settings, then those of extra_vmem."""
        specs = [dict(dev_id=DEVICE_ID, memdev='mem0', region=self.region,
                      block=self.block, requested=self.requested_at_boot,
                      node=self.node,
                      unplugged_inaccessible=self.unplugged_inaccessible,
                      backend_file=self.backend_file)]
        for d in self.extra_vmem:
            specs.append(dict(
                dev_id=d['id'], memdev=f'mem-{d["id"]}',
                region=parse_size(d.get('region', '4G')),
                block=parse_size(d.get('block', '4M')),
                requested=parse_size(d.get('requested', 0)),
                node=d.get('node'),
                unplugged_inaccessible=d.get('unplugged_inaccessible'),
                backend_file=d.get('backend_file')))
        return specs

    def backend_files(self):
        """The host files that back virtio-mem devices."""
        return [Path(s['backend_file']) for s in self.vmem_specs()
                if s['backend_file']]

    def initrd_archives(self):
        """The initramfs, as archives the kernel unpacks in this order (a
        later one adds to an earlier one): the rig's own; a subclass adds
        its own after it."""
        ko = [self.ko] if self.ko else []
        return [cached_initramfs(ko, self.helpers, self.release,
                                 self.extra_modules)]

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
        for spec in self.vmem_specs():
            cmd += vmem_device_args(**spec)
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
        archives = self.initrd_archives()
        self.workdir = Path(tempfile.mkdtemp(prefix=f'vmrig-{self.name}-'))
        initrd = concat_archives(archives, self.workdir / 'initrd.cpio.gz')
        cmd = self.qemu_command(initrd)
        for path in self.backend_files():
            path.unlink(missing_ok=True)
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
        self.console = SerialConsole(self.name, self.proc,
                                     self.workdir / 'serial.log')
        try:
            self.qmp = QMP(self.workdir / 'qmp.sock')
            self.console.wait(r'vmrig: ready\n', self.boot_timeout,
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
        m = self.console.search(r'vmrig: insmod virtio_mem rc=(\d+)', start)
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
        if self.console:
            self.console.close()
        if failed:
            self._keep_logs()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for path in self.backend_files():
            path.unlink(missing_ok=True)
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
        log.error('%s: logs kept in %s; serial tail:\n%s', self.name, dest,
                  self.console.tail(40))
        self.kept_logs = dest

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- serial console -----------------------------------------------------

    def serial_tail(self, lines=25):
        return self.console.tail(lines)

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
            try:
                start = self.console.send(line, cmd)
                m = self.console.wait(
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
        return self.console.send(text, f'(raw) {text!r}')

    def serial_mark(self):
        """Position in the serial output, for wait_for_reboot()."""
        return self.console.mark()

    def serial_since(self, mark):
        """Everything the guest wrote to its console since the mark."""
        return self.console.since(mark)

    @timed('wait')
    def wait_serial(self, pattern, timeout, what, mark=0):
        """Wait until the console output since the mark matches pattern
        (kernel messages, a background command's last words); return the
        match."""
        return self.console.wait(pattern, timeout, what, mark)

    @timed('boot')
    def wait_for_reboot(self, mark, timeout=None):
        """Wait until the guest has booted again to its shell after the
        serial mark (QEMU without -no-reboot), and check that our driver
        was loaded again.  The kernel log starts over: the next dmesg
        check covers the whole new boot."""
        t0 = time.monotonic()
        self.console.wait(r'vmrig: ready\n', timeout or self.boot_timeout,
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

    def wait_qemu_size_settled(self, quiet=5, timeout=180, dev=DEVICE_ID):
        """Wait until QEMU's plugged size of dev has not changed for `quiet`
        seconds (no size-change event, same size); return that size.
        Raises WaitTimeout with the size it saw last."""
        self.qmp.clear_events(SIZE_EVENT)
        try:
            size = wait_steady(
                lambda: self.qemu_size(dev), quiet, timeout,
                f'{dev}\'s plugged size to hold still for {quiet}s',
                changed=lambda t: self.qmp.wait_event(SIZE_EVENT, t)
                is not None)
        except WaitTimeout as err:
            raise err.again(f'{self.name}: {dev} plugged size still '
                            f'changing after {timeout}s (now '
                            f'{format_size(err.last)})') from None
        log.info('%s: %s plugged size settled at %s', self.name, dev,
                 format_size(size))
        return size

    # ---- guest side ---------------------------------------------------------

    def guest_memtotal(self):
        """MemTotal from /proc/meminfo, in kB."""
        out = self.sh('cat /proc/meminfo')
        m = re.search(r'^MemTotal:\s+(\d+) kB', out, re.M)
        if not m:
            raise RigError(f'no MemTotal in /proc/meminfo:\n{out}')
        return int(m.group(1))

    def wait_guest_memtotal(self, want, timeout=120, what=None,
                            interval=0.25):
        """Wait until the guest's MemTotal (kB) is `want`, or until
        want(MemTotal) holds when want is a function; return it.  Raises
        WaitTimeout with the MemTotal it saw last."""
        until = want if callable(want) else (lambda kb: kb == want)
        what = what or (f'MemTotal {want} kB' if not callable(want)
                        else 'MemTotal')
        try:
            return wait_for(self.guest_memtotal, timeout, what, until=until,
                            interval=interval)
        except WaitTimeout as err:
            raise err.again(f'{self.name}: {err}') from None

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
        fresh, newest = lines_since(self.dmesg(), self._dmesg_mark)
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
        fresh = check_clean(self.new_dmesg(), self.name, allowed,
                            allowed_warnings)
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
        except WaitTimeout as err:
            got = seen[0]
            if got is None:
                raise
            name, value, was = wrong(got)
            raise err.again(f'driver attribute {name}: expected {value!r}, '
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

    def wait_both_sides(self, size, timeout=120, dev=DEVICE_ID,
                        interval=0.25):
        """Wait until QEMU reports `size` plugged and the guest's MemTotal
        is exactly the base plus `size`; raise WaitTimeout saying what each
        side showed last.  With more devices, the others count with their
        QEMU size as it is now (wait_both_sides_all names them all)."""
        sizes = {d: self.qemu_size(d) for d in self.vmem_ids() if d != dev}
        sizes[dev] = parse_size(size)
        self.wait_both_sides_all(sizes, timeout, interval)

    def wait_both_sides_all(self, sizes, timeout=120, interval=0.25):
        """Like wait_both_sides for several devices at once: sizes is
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
                     until=lambda seen: seen == want, interval=interval)
        except WaitTimeout as err:
            raise err.again(f'{self.name}: {err} (as ((QEMU sizes), '
                            f'MemTotal); base MemTotal '
                            f'{self.base_memtotal()} kB)') from None
        log.info('%s: both sides agree: %s plugged, MemTotal %d kB',
                 self.name, shown, want_kb)

    def resize_and_check(self, size, timeout=180, dev=DEVICE_ID):
        """resize_and_wait plus wait_both_sides: the common story."""
        size = parse_size(size)
        got = self.resize_and_wait(size, timeout, dev)
        if got != size:
            raise RigError(f'{self.name}: resize of {dev} to '
                           f'{format_size(size)} did not converge in '
                           f'{timeout}s: QEMU size {format_size(got)}; '
                           f'driver: {self._driver_state_for_error(dev)}')
        self.wait_both_sides(size, dev=dev)

    def _driver_state_for_error(self, dev=DEVICE_ID):
        try:
            return self.driver_attrs(
                None if self.vmem_ids() == [DEVICE_ID] else dev)
        except RigError as err:
            return f'<no attributes: {str(err).splitlines()[0]}>'

