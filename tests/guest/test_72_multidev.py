"""Several virtio-mem devices in one guest, of different block sizes and
modes (vm0: 2 MiB blocks, Sub Block Mode; vm1: 128 MiB blocks, Big Block
Mode), resized one at a time and at the same time.  Each device's QEMU
size and sysfs plugged_size follow its own request; MemTotal is the boot
value plus the sum."""

from conftest import TWO_NODES_TWO_DEVICES
from vmrig import GiB, MiB, format_size


def resize_together(g, sizes, timeout=300):
    """qom-set every device first, then wait for all of them."""
    for dev, size in sizes.items():
        g.resize(size, dev=dev)
    for dev, size in sizes.items():
        got = g.wait_qemu_size(size, timeout, dev=dev)
        assert got == size, \
            f'{dev}: QEMU size {format_size(got)}, wanted ' \
            f'{format_size(size)}; driver: {g.driver_attrs(dev)}'
    g.wait_both_sides_all(sizes)
    for dev, size in sizes.items():
        g.expect_driver_attrs(dev=dev, plugged_size=size,
                              requested_size=size, shortfall=0)


def test_devices_of_different_modes_resize_independently_and_together(
        boot_guest):
    g = boot_guest(**TWO_NODES_TWO_DEVICES)
    g.expect_driver_attrs(dev='vm0', mode='sbm', block_size=2 * MiB,
                          big_block_size=0)
    g.expect_driver_attrs(dev='vm1', mode='bbm', block_size=128 * MiB,
                          big_block_size=128 * MiB)
    base = g.base_memtotal()

    # One at a time: the other device does not move.
    resize_together(g, {'vm0': 514 * MiB, 'vm1': 0})
    resize_together(g, {'vm0': 514 * MiB, 'vm1': 768 * MiB})
    # Both at once, the same way and opposite ways.
    resize_together(g, {'vm0': 1 * GiB + 2 * MiB, 'vm1': 1 * GiB + 256 * MiB})
    resize_together(g, {'vm0': 130 * MiB, 'vm1': 1536 * MiB})
    resize_together(g, {'vm0': 2 * GiB - 6 * MiB, 'vm1': 256 * MiB})
    resize_together(g, {'vm0': 0, 'vm1': 0})
    assert g.guest_memtotal() == base
