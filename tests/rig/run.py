#!/usr/bin/python3
"""Boot a guest with our driver and a virtio-mem device, and resize it by
hand.

Commands (one per line, from a terminal or a pipe):
  size SIZE     request SIZE (e.g. 2G, 1028M), wait, then show
  show          QEMU's plugged/requested size, the guest's MemTotal and
                the driver's view (vmemstat: sizes, shortfall, block map)
  sh COMMAND    run COMMAND in the guest and print its output
  dmesg         the guest's kernel log lines since the last look
  help          this list
  quit          stop the guest (end of input does the same)
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vmrig  # noqa: E402
from vmrig import KiB, format_size  # noqa: E402


def show(g):
    print(f'QEMU: plugged {format_size(g.qemu_size())}, '
          f'requested {format_size(g.qemu_requested())}')
    memtotal = g.guest_memtotal() * KiB
    try:
        base = g.base_memtotal() * KiB
        sign = '+' if memtotal >= base else ''
        print(f'guest: MemTotal {format_size(memtotal, "M")}, '
              f'{sign}{format_size(memtotal - base, "M")} over the '
              f'{format_size(base, "M")} it has with nothing plugged')
    except vmrig.RigError:
        print(f'guest: MemTotal {format_size(memtotal, "M")}')
    if g.load_driver and g.driver_loaded():
        # The guest tool says it best: sizes, shortfall, the block map.
        print(g.sh('vmemstat -n').rstrip())
    else:
        blocks = g.device_memory_blocks()
        print('device memory blocks:' + ('' if blocks else ' none'))
        for n, b in sorted(blocks.items()):
            zone = b['zone'] or '/'.join(b['valid_zones'])
            print(f'  memory{n} {b["state"]} {zone}')
    sys.stdout.flush()


def handle(g, line):
    """Run one command line; return False to stop."""
    cmd, _, arg = line.strip().partition(' ')
    arg = arg.strip()
    if not cmd or cmd.startswith('#'):
        return True
    if cmd in ('quit', 'exit', 'q'):
        return False
    if cmd == 'size' and arg:
        try:
            size = vmrig.parse_size(arg)
        except ValueError as err:
            print(err)
            return True
        final = g.resize_and_wait(size, timeout=300)
        if final != size:
            print(f'not there yet: plugged {format_size(final)} of '
                  f'{format_size(size)} requested')
        show(g)
    elif cmd == 'show':
        show(g)
    elif cmd == 'sh' and arg:
        rc, out = g.run(arg, timeout=300)
        print(out, end='' if out.endswith('\n') or not out else '\n')
        if rc:
            print(f'(exit status {rc})')
    elif cmd == 'dmesg':
        print('\n'.join(g.new_dmesg()))
    else:
        print(__doc__.split('Commands', 1)[1].split('\n', 1)[1].rstrip())
    sys.stdout.flush()
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ko', default=str(vmrig.REPO_DIR / 'virtio_mem.ko'),
                    help='our virtio_mem.ko (default: %(default)s)')
    ap.add_argument('--boot', default='1G', help='boot memory')
    ap.add_argument('--region', default='4G', help='device region size')
    ap.add_argument('--block', default='4M', help='device block size')
    ap.add_argument('--requested', default='0', help='requested at boot')
    ap.add_argument('--online', default='online_movable',
                    help='memhp_default_state')
    ap.add_argument('--params', default='', help='insmod params a=1,b=2')
    ap.add_argument('--noload', action='store_true',
                    help='do not load virtio_mem.ko')
    ap.add_argument('--qmp', default='/tmp/vmem-run.qmp',
                    help='a QMP socket of its own for vmemctl '
                    '(default: %(default)s)')
    args = ap.parse_args()

    vmrig.setup_console_logging()
    helpers = vmrig.guest_programs()
    interactive = sys.stdin.isatty()
    settings = dict(boot=args.boot, region=args.region, block=args.block,
                    requested=args.requested, online=args.online,
                    driver_params=args.params, load_driver=not args.noload,
                    ko=None if args.noload else args.ko, helpers=helpers,
                    name='run',
                    extra_args=['-qmp', f'unix:{args.qmp},server=on,wait=off'])
    with vmrig.Guest(**settings) as g:
        print(f'vmemctl can drive this guest from another terminal: '
              f'tools/vmemctl/vmemctl -s {args.qmp} resize vm0 2G --wait',
              file=sys.stderr)
        show(g)
        while True:
            if interactive:
                print('vmem> ', end='', flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            if not interactive:
                print(f'> {line.strip()}', flush=True)
            if not handle(g, line):
                break
    return 0


if __name__ == '__main__':
    sys.exit(main())
