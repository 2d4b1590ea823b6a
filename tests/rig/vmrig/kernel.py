"""The guest kernel: where its modules and its image are, and the image
QEMU boots (the uncompressed kernel through its PVH entry, cached)."""

import lzma
import os
import struct
import zlib

from .base import CACHE_DIR, KERNEL_RELEASE, KERNEL_ROOT, log, write_atomic


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
        write_atomic(out, elf)
    log.info('%s: %s', bzimage, 'booting its uncompressed kernel (PVH)'
             if pvh else 'no PVH entry: booting the bzImage')
    stamp.write_text(f'{key} {"pvh" if pvh else "bzimage"}')
    return out if pvh else bzimage
