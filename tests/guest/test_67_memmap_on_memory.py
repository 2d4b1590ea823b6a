"""memmap_on_memory: with the kernel's memory_hotplug.memmap_on_memory=1
the driver hosts each memory block's memmap (2 MiB per 128 MiB) in the
block itself, so a small guest can grow far beyond what its own memory
could hold memmaps for.  The memmap sub block stays plugged while its block
is added; MemTotal counts plugged memory less the memmaps."""

from vmrig import GiB, MiB, format_size

MEMMAP = dict(boot='512M', region='40G', block='4M', maxmem='64G',
              kernel_args='memory_hotplug.memmap_on_memory=1')
# struct page per 4 KiB page: 64 bytes, so 2 MiB per 128 MiB block.
MEMMAP_PER_BLOCK = 2 * MiB


def blocks_for(size):
    return -(-size // (128 * MiB))


def expect_memtotal(g, plugged):
    want = g.base_memtotal() + (plugged - blocks_for(plugged) *
                                MEMMAP_PER_BLOCK) // 1024
    g.wait_guest_memtotal(want, 60, f'MemTotal for {format_size(plugged)} '
                          'plugged less the memmaps')


def test_small_guest_grows_far_with_memmap_in_plugged_memory(boot_guest):
    g = boot_guest(**MEMMAP)
    base = g.base_memtotal()
    assert base < 512 * 1024
    # 32 GiB: 64 times the boot memory. KASAN (patched kernel) needs 4 GiB
    # of kernel memory as shadow for that; there it grows by 1 GiB.
    grow = 1 * GiB if g.kasan() else 32 * GiB
    assert g.resize_and_wait(grow, timeout=600) == grow
    expect_memtotal(g, grow)
    # The guest still works, and its memory is usable.
    g.sh(f'memtool fill-file /tmp/big {min(1024, grow // MiB // 2)}',
         timeout=300)
    g.sh('memtool check-file /tmp/big', timeout=300)
    g.sh('rm /tmp/big')
    assert g.resize_and_wait(0, timeout=600) == 0
    g.wait_guest_memtotal(base, 60, 'MemTotal back to boot')


def test_memmap_sub_block_stays_until_its_block_goes(boot_guest):
    g = boot_guest(**MEMMAP)
    for size in (1028 * MiB, 700 * MiB, 300 * MiB, 4 * MiB, 0):
        assert g.resize_and_wait(size, timeout=300) == size
        expect_memtotal(g, size)
        g.expect_driver_attrs(plugged_size=size)
        # Every added block keeps its first sub block (its memmap) plugged.
        for line in g.sh('cat /sys/kernel/debug/virtio_mem/virtio*/blocks'
                         ).splitlines():
            name, state, bitmap = line.split()
            if state != 'unused':
                assert bitmap[0] == '#', line
