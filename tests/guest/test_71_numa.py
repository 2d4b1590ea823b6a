"""NUMA: a guest with two nodes and one virtio-mem device per node.  The
memory a device plugs belongs to the device's node: it shows up in that
node's MemTotal (and memory blocks), exactly, and nowhere else."""

import re

import vmrig
from conftest import TWO_NODES_TWO_DEVICES
from vmrig import GiB, MiB, format_size

NODE_DIR = '/sys/devices/system/node'
DEVICE_NODE = {'vm0': 0, 'vm1': 1}


def node_memtotal(g):
    """{node: MemTotal kB} from /sys/devices/system/node/nodeN/meminfo."""
    out = g.sh(f'cat {NODE_DIR}/node*/meminfo')
    return {int(n): int(kb) for n, kb in
            re.findall(r'^Node (\d+) MemTotal:\s+(\d+) kB', out, re.M)}


def node_memory_blocks(g, node):
    out = g.sh(f'cd {NODE_DIR}/node{node} && ls -d memory[0-9]* || true')
    return {int(m) for m in re.findall(r'memory(\d+)', out)}


def test_plugged_memory_belongs_to_the_node_of_its_device(boot_guest):
    g = boot_guest(**TWO_NODES_TWO_DEVICES)
    assert sorted(g.vmem_ids()) == ['vm0', 'vm1']
    for dev, node in DEVICE_NODE.items():
        assert g.memory_device(dev)['node'] == node
    base = node_memtotal(g)
    assert sorted(base) == [0, 1], base
    assert sum(base.values()) == g.base_memtotal()

    plugged = {'vm0': 0, 'vm1': 0}
    for dev, size in (('vm0', 1 * GiB + 6 * MiB), ('vm1', 512 * MiB),
                      ('vm0', 260 * MiB), ('vm1', 1 * GiB + 128 * MiB)):
        node = DEVICE_NODE[dev]
        vmrig.log.info('step: %s (node %d) to %s', dev, node,
                       format_size(size))
        assert g.resize_and_wait(size, dev=dev) == size
        plugged[dev] = size
        g.wait_both_sides_all(plugged)
        g.expect_driver_attrs(dev=dev, plugged_size=size, shortfall=0)

        want = {n: base[n] + sum(s for d, s in plugged.items()
                                 if DEVICE_NODE[d] == n) // 1024
                for n in base}
        assert node_memtotal(g) == want, \
            f'node MemTotal: plugged {plugged}, boot values {base}'
        # Emptied memory blocks are removed just after the device has
        # them back: wait for the device's blocks to be the plugged ones.
        blocks = set(vmrig.wait_for(
            lambda: g.device_memory_blocks(dev), 60,
            f'{dev}: its plugged memory blocks, online',
            until=lambda bl: len(bl) == -(-size // (128 * MiB)) and
            all(b['state'] == 'online' for b in bl.values())))
        assert blocks <= node_memory_blocks(g, node), \
            f'{dev} memory blocks {blocks} are not all on node {node}'
        assert not blocks & node_memory_blocks(g, 1 - node)

    for dev in plugged:
        g.resize(0, dev=dev)
    for dev in plugged:
        assert g.wait_qemu_size(0, dev=dev) == 0
    g.wait_both_sides_all({'vm0': 0, 'vm1': 0})
    assert node_memtotal(g) == base
