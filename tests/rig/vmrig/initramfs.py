"""The guest's initramfs: what it holds, its /init, the newc archive
writer, and the cache of built images (by content of every input); the
static guest programs it carries (built by make)."""

import gzip
import hashlib
import os
import stat
from pathlib import Path

from .base import (BUSYBOX, CACHE_DIR, HELPERS_DIR, KERNEL_RELEASE, REPO_DIR,
                   RigError, log, prune_cache, write_atomic)
from .kernel import module_dir

# Debian's virtio transport, in load order.
VIRTIO_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
                  'virtio_pci_modern_dev', 'virtio_pci']
# Fault injection into memory notifiers, shipped for later scenarios.
FAULT_INJECT_MODULES = ['notifier-error-inject',
                        'memory-notifier-error-inject']


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


def newc_archive(entries):
    """entries: list of (name, mode, data, rdev). Returns newc bytes."""
    parts = [_newc_entry(name, mode, data, rdev, ino)
             for ino, (name, mode, data, rdev) in enumerate(entries, 1)]
    parts.append(_newc_entry('TRAILER!!!', 0))
    return b''.join(parts)


def gzip_newc(entries):
    """newc_archive(entries), gzip'd the same way every time (no mtime),
    as the kernel unpacks it."""
    return gzip.compress(newc_archive(entries), compresslevel=6, mtime=0)


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
    # Runners (tests/rig/runners) may build the same image at once.
    write_atomic(out_path, gzip_newc(entries))
    write_atomic(stamp, key)
    return out_path


def cached_initramfs(ko_paths, helpers, release=KERNEL_RELEASE, modules=()):
    """The initramfs for these inputs, from the cache or freshly built."""
    files = initramfs_inputs(ko_paths, helpers, release, modules)
    out = CACHE_DIR / f'initramfs-{initramfs_key(files)[:16]}.cpio.gz'
    build_initramfs(out, ko_paths, helpers, release, modules)
    prune_cache('initramfs-*.cpio.gz', keep=out, max_entries=8)
    return out


def concat_archives(archives, out):
    """One initramfs of several archives (the kernel unpacks them one after
    the other, each padded to 4 bytes): the only one as it is, or all of
    them written to out.  Returns the path to boot."""
    if len(archives) == 1:
        return Path(archives[0])
    with open(out, 'wb') as f:
        for part in archives:
            data = Path(part).read_bytes()
            f.write(data + b'\0' * (-len(data) % 4))
    return Path(out)


# Static guest programs: the test helper and the project's guest tool.
# make builds them (rig-helpers) and passes their paths; the rig only
# finds them.
GUEST_PROGRAMS = {'memtool': ('RIG_MEMTOOL', HELPERS_DIR / 'memtool'),
                  'vmemstat': ('RIG_VMEMSTAT',
                               REPO_DIR / 'tools' / 'vmemstat' / 'vmemstat')}


def guest_programs():
    """Paths of the static guest programs make built (RIG_MEMTOOL,
    RIG_VMEMSTAT; by default where make puts them)."""
    paths = []
    for name, (var, default) in GUEST_PROGRAMS.items():
        path = Path(os.environ.get(var) or default)
        if not path.is_file():
            raise RigError(f'{name} is not built ({path}): run make '
                           f'rig-helpers')
        paths.append(path)
    return paths
