"""Big Block Mode: device blocks of a memory block (128 MiB) or more, or
big blocks forced with bbm_block_size for small device blocks.

Whole big blocks are plugged, added, removed and unplugged: after every
step QEMU's plugged size equals the request, the guest's MemTotal is its
boot value plus exactly that, the device's memory blocks online are
exactly the plugged ones, and sysfs says `bbm` with the right big block.
"""

import pytest

import vmrig
from vmrig import GiB, MiB, format_size

MEMORY_BLOCK = 128 * MiB

# (device block, region, steps): up and down in several steps, all
# multiples of the block, ending at 0.  1 GiB blocks need a larger region.
# 128M last: the data story below reuses that guest.
BIG_BLOCKS = [
    ('256M', '4G', [1 * GiB + 256 * MiB, 512 * MiB, 2 * GiB + 768 * MiB,
                    0]),
    ('1G', '8G', [3 * GiB, 1 * GiB, 4 * GiB, 0]),
    ('128M', '4G', [1 * GiB + 128 * MiB, 384 * MiB, 2 * GiB - 128 * MiB,
                    128 * MiB, 0]),
]

# Data held while 2 GiB are unplugged under it (as test_30, in big blocks):
# the 2 GiB left keep the data, the kernel, the memmap of the plugged
# memory and the safety floor (~355 MiB available).
HOLD_ANON_MB = 1024
HOLD_TMPFS_MB = 256


def expect_whole_blocks_online(g, size):
    """Exactly the plugged memory blocks are there, online movable.  The
    driver removes a big block after the device has it back, so that
    may lag QEMU's size by a moment: wait for it."""
    def whole(blocks):
        return len(blocks) == size // MEMORY_BLOCK and all(
            b['state'] == 'online' and b['zone'] == 'Movable'
            for b in blocks.values())
    vmrig.wait_for(g.device_memory_blocks, 60,
                   f'{size // MEMORY_BLOCK} device memory blocks, all '
                   'online movable', until=whole)


@pytest.mark.parametrize('block,region,steps', BIG_BLOCKS,
                         ids=[b[0] for b in BIG_BLOCKS])
def test_big_block_device_resizes_up_and_down_in_whole_big_blocks(
        boot_guest, block, region, steps):
    g = boot_guest(block=block, region=region)
    bs = vmrig.parse_size(block)
    g.expect_driver_attrs(mode='bbm', block_size=bs, big_block_size=bs,
                          region_size=vmrig.parse_size(region),
                          plugged_size=0, requested_size=0)
    base = g.base_memtotal()

    for size in steps:
        vmrig.log.info('step: resize to %s', format_size(size))
        g.resize_and_check(size)
        g.expect_driver_attrs(mode='bbm', big_block_size=bs,
                              plugged_size=size, requested_size=size,
                              shortfall=0, shortfall_reason='none')
        expect_whole_blocks_online(g, size)

    assert g.guest_memtotal() == base


def test_big_block_unplug_keeps_the_data_the_guest_holds(boot_guest):
    g = boot_guest(block='128M', region='4G')
    g.resize_and_check(3 * GiB)

    # KASAN (patched kernel) leaves a 1 GiB guest about 250 MiB less; whole
    # 128 MiB blocks must still be emptied around the data.
    anon_mb, tmpfs_mb = (768, 384) if g.kasan() else (HOLD_ANON_MB,
                                                       HOLD_TMPFS_MB)
    anon = g.hold_verified_data(anon_mb, tmpfs_mb)

    g.resize_and_check(1 * GiB, timeout=600)
    g.expect_driver_attrs(mode='bbm', plugged_size=1 * GiB, shortfall=0)
    expect_whole_blocks_online(g, 1 * GiB)

    anon.signal('USR1')
    result = anon.wait_output(r'^verify ', timeout=300, count=2)
    assert result.startswith('verify ok'), result
    assert g.sh('memtool check-file /tmp/data', timeout=300) == \
        f'check ok {tmpfs_mb} MiB\n'
    anon.stop()
    g.sh('rm /tmp/data')


FORCED = dict(block='4M', driver_params='bbm_block_size=256M')


def test_forced_big_blocks_plug_whole_big_blocks_of_small_device_blocks(
        boot_guest):
    g = boot_guest(**FORCED)
    g.expect_driver_attrs(mode='bbm', block_size=4 * MiB,
                          big_block_size=256 * MiB)
    base = g.base_memtotal()

    g.resize_and_check(768 * MiB)
    g.expect_driver_attrs(plugged_size=768 * MiB, shortfall=0,
                          shortfall_reason='none')
    expect_whole_blocks_online(g, 768 * MiB)

    # 600M is a multiple of the device block but not of the big block:
    # the driver plugs 512M and says why it stops there.
    g.resize(600 * MiB)
    attrs = vmrig.wait_for(
        g.driver_attrs, 120, 'the driver to settle below 600M',
        until=lambda a: a['shortfall_reason'] ==
        'requested size not a multiple of the plug unit')
    assert int(attrs['plugged_size']) == 512 * MiB, attrs
    assert int(attrs['requested_size']) == 600 * MiB, attrs
    assert int(attrs['shortfall']) == 88 * MiB, attrs
    assert g.wait_qemu_size_settled(quiet=3) == 512 * MiB
    g.wait_both_sides(512 * MiB)
    assert g.qemu_requested() == 600 * MiB
    expect_whole_blocks_online(g, 512 * MiB)

    g.resize_and_check(0)
    g.expect_driver_attrs(plugged_size=0, shortfall=0,
                          shortfall_reason='none')
    assert g.guest_memtotal() == base
