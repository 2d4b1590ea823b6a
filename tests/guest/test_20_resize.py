"""A user resizes the device up and down; both QEMU and the guest follow.

For each block size the device is grown and shrunk in steps that are block
multiples but not multiples of the guest's 128 MiB memory block, so partly
plugged memory blocks are exercised.  After every step QEMU's plugged size
equals the request and the guest's MemTotal is its boot value plus exactly
the plugged size.
"""

import pytest

import vmrig
from vmrig import format_size, parse_size

# 4M last: the next test files reuse that guest.
BLOCK_SIZES = ['2M', '8M', '16M', '4M']


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
