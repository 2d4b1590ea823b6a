"""vmrig: boot QEMU guests with a virtio-mem device and drive them.

A guest is Debian's kernel plus a small busybox initramfs that loads the
virtio transport and (unless told not to) our out-of-tree virtio_mem.ko,
then serves a shell on the serial console.  The rig talks to the guest over
that console (commands framed by unique markers) and to QEMU over QMP
(resizes, plugged size, events).

Story-level helpers (resize_and_wait, guest_memtotal, wait_both_sides,
assert_dmesg_clean, ...) keep the scenarios in tests/guest readable.
Waits are named by the side they look at: wait_qemu_size and
wait_qemu_size_settled (QEMU's plugged size), wait_guest_memtotal (the
guest's MemTotal), wait_both_sides and wait_both_sides_all (both agree),
wait_serial (the console); one that times out raises WaitTimeout with what
it saw last (wait_qemu_size returns the size it reached instead).

The rig is a package; `import vmrig` gives everything the scenarios use
(vmrig.Guest, vmrig.wait_for, vmrig.parse_size, ...).  Its modules:
  base       the environment, paths, logger, RigError, cache writes
  sizes      KiB/MiB/GiB, parse_size, format_size, size_steps
  waits      the phase clock (CLOCK, timed), wait_for, wait_steady,
             hold_for, WaitTimeout
  kernel     the guest kernel's modules and image, the PVH boot image
  initramfs  the newc writer, the initramfs and its cache, guest programs
  qmp        the QMP client
  console    a guest's serial console (output, marks, waits, lines sent)
  dmesg      kernel log checks (DMESG_BAD, BENIGN_REPORTS, ...)
  guest      Guest and GuestProcess

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


# The facade: what tests/guest, tests/tools, kdump.py, bench/run.py and
# run.py use.
from .base import (
    BUSYBOX, CACHE_DIR, HELPERS_DIR, KERNEL_ARGS, KERNEL_RELEASE, KERNEL_ROOT,
    LOG_DIR, QEMU, REPO_DIR, RIG_DIR, TESTS_DIR, RigError, log, prune_cache,
    setup_console_logging, write_atomic)
from .console import SerialConsole
from .dmesg import (
    BENIGN_REPORTS, DMESG_ALLOWED, DMESG_BAD, bad_lines, check_clean,
    drop_benign_reports, drop_warning_reports, lines_since)
from .guest import (
    DEVICE_ID, DEVICE_PATH, GUEST_DRIVER_DIR, GUEST_MEMORY_DIR, SIZE_EVENT,
    Guest, GuestCommandError, GuestProcess, device_path, vmem_device_args)
from .initramfs import (
    FAULT_INJECT_MODULES, GUEST_PROGRAMS, INIT_SCRIPT, VIRTIO_MODULES,
    guest_programs, build_initramfs, cached_initramfs, concat_archives,
    gzip_newc,
    initramfs_inputs, initramfs_key, list_initramfs, newc_archive)
from .kernel import boot_image, kernel_image, module_dir
from .qmp import QMP, QMPError
from .sizes import (
    GiB, KiB, MiB, format_size, parse_size, size_steps)
from .waits import (
    CLOCK, PhaseClock, WaitTimeout, hold_for, timed, wait_for, wait_steady)

__all__ = [
    'BUSYBOX', 'CACHE_DIR', 'HELPERS_DIR', 'KERNEL_ARGS', 'KERNEL_RELEASE',
    'KERNEL_ROOT', 'LOG_DIR', 'QEMU', 'REPO_DIR', 'RIG_DIR', 'TESTS_DIR',
    'RigError', 'log', 'prune_cache', 'setup_console_logging',
    'write_atomic', 'SerialConsole', 'BENIGN_REPORTS', 'DMESG_ALLOWED',
    'DMESG_BAD', 'bad_lines', 'check_clean', 'drop_benign_reports',
    'drop_warning_reports', 'lines_since', 'DEVICE_ID', 'DEVICE_PATH',
    'GUEST_DRIVER_DIR', 'GUEST_MEMORY_DIR', 'SIZE_EVENT', 'Guest',
    'GuestCommandError', 'GuestProcess', 'device_path', 'vmem_device_args',
    'FAULT_INJECT_MODULES', 'GUEST_PROGRAMS', 'INIT_SCRIPT',
    'VIRTIO_MODULES', 'guest_programs', 'build_initramfs',
    'cached_initramfs', 'concat_archives', 'gzip_newc', 'initramfs_inputs',
    'initramfs_key', 'list_initramfs', 'newc_archive', 'boot_image',
    'kernel_image', 'module_dir', 'QMP', 'QMPError', 'GiB', 'KiB', 'MiB',
    'format_size', 'parse_size', 'size_steps', 'CLOCK', 'PhaseClock',
    'WaitTimeout', 'hold_for', 'timed', 'wait_for', 'wait_steady']
