"""A user resizes the device up and down; both QEMU and the guest follow.

For each block size the device is grown and shrunk in steps that are block
multiples but not multiples of the guest's 128 MiB memory block, so partly
plugged memory blocks are exercised.  After every step QEMU's plugged size
equals the request and the guest's MemTotal is its boot value plus exactly
the plugged size.
"""

import pytest

import vmrig
from vmrig import MiB, format_size, parse_size

# 2M first (the test before uses it), 4M last: the next test files reuse
# that guest.
BLOCK_SIZES = ['2M', '8M', '16M', '4M']


def test_plug_from_an_odd_sub_block_keeps_the_buddy_aligned(boot_guest):
    """With 2 MiB blocks a memory block has 64 sub blocks, half the size of
    the buddy allocator's largest chunk (4 MiB).  Growing a memory block
    that has only its first sub block plugged hands the buddy a range that
    starts on an odd sub block: it must get it in naturally aligned chunks.
    A misaligned chunk corrupts its free lists silently on Debian's kernel;
    the patched kernel's DEBUG_VM stops with a BUG, which the dmesg check
    catches."""
    g = boot_guest(block='2M')
    base = g.base_memtotal()
    for size in (128 * MiB + 2 * MiB, 256 * MiB, 384 * MiB + 2 * MiB,
                 512 * MiB, 0):
        g.resize_and_check(size)
        g.assert_dmesg_clean()
    assert g.guest_memtotal() == base


@pytest.mark.parametrize('block', BLOCK_SIZES)
def test_resize_up_and_down_in_steps(boot_guest, block):
    g = boot_guest(block=block)
    g.expect_driver_attrs(block_size=parse_size(block), plugged_size=0,
                          requested_size=0)
    base = g.base_memtotal()

    for size in vmrig.size_steps(block):
        vmrig.log.info('step: resize to %s', format_size(size))
        g.resize_and_check(size)
        g.expect_driver_attrs(plugged_size=size, requested_size=size,
                              shortfall=0)

    assert g.guest_memtotal() == base

