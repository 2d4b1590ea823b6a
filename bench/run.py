#!/usr/bin/python3
"""Benchmarks: our virtio_mem.ko against Debian's stock virtio_mem.ko (and
virtio-balloon where it fits), same kernel, same QEMU, one run.

Each scenario runs --reps times per driver, the drivers alternating (who
goes first changes every repetition); each run boots its own guest.  The
table gives medians and the ratio ours/stock; bench/results/ gets a CSV of
every run, the table, and a PNG chart (gnuplot).

    make bench                          # everything, 3 repetitions
    bench/run.py --reps 1 --only plug   # one scenario, quickly
"""

import argparse
import csv
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'tests' / 'rig'))
import vmrig  # noqa: E402
from vmrig import GiB, MiB, KiB, format_size  # noqa: E402

# The stock driver is loaded on purpose here, and only here.
os.environ['RIG_ALLOW_STOCK_DRIVER'] = '1'
OURS = HERE.parent / 'virtio_mem.ko'
STOCK = (vmrig.module_dir().parent /
         'kernel/drivers/virtio/virtio_mem.ko')
DRIVERS = {'ours': OURS, 'stock': STOCK}
RESULTS = HERE / 'results'
POLL = 0.1


def say(msg):
    print(msg, flush=True)


def guest(driver, helpers, **settings):
    settings.setdefault('name', f'bench-{driver}')
    return vmrig.Guest(ko=DRIVERS[driver], helpers=helpers, **settings)


def seconds(wait):
    """The seconds a rig wait took: wait() is one (polling every POLL s
    where it polls); None when it timed out (raised vmrig.WaitTimeout, or
    returned False)."""
    start = time.monotonic()
    try:
        reached = wait()
    except vmrig.WaitTimeout as err:
        say(f'    {str(err).splitlines()[0]}')
        return None
    if reached is False:
        return None
    return time.monotonic() - start


def settled(wait):
    """What a rig wait for a value to hold still (wait_qemu_size_settled,
    vmrig.wait_steady) returned, or, when the value never held still, the
    one it saw last."""
    try:
        return wait()
    except vmrig.WaitTimeout as err:
        say(f'    {str(err).splitlines()[0]}')
        return err.last


# ---- scenarios -------------------------------------------------------------
# Each returns {metric: value}; a value of None means the run failed.

def sc_plug_unplug_8g(driver, helpers, args):
    """Plug 8 GiB: seconds from qom-set until MemTotal includes it.
    Unplug 8 GiB from the idle guest: seconds until QEMU's size and
    MemTotal are back."""
    with guest(driver, helpers, region='10G', block='4M') as g:
        base = g.base_memtotal()
        g.resize(8 * GiB)
        plug = seconds(lambda: g.wait_guest_memtotal(
            base + 8 * GiB // KiB, 600, 'MemTotal + 8 GiB', interval=POLL))
        # Our driver's time counters (debugfs stats, ms_*).
        profile = g.driver_stats() if driver == 'ours' else {}
        g.resize(0)
        unplug = seconds(lambda: g.wait_both_sides(0, 600, interval=POLL))
    result = {'plug_8g_s': plug, 'unplug_8g_idle_s': unplug}
    if profile and plug:
        # Where our plug time goes: core mm's add and online, or requests.
        result['plug_share_core_mm'] = profile['ms_add'] / 1000 / plug
        result['plug_share_requests'] = profile['ms_requests'] / 1000 / plug
    return result


def sc_loaded_unplug(driver, helpers, args):
    """Unplug half of 4 GiB while the guest holds 1.5 GiB of anonymous
    memory and 512 MiB in tmpfs: seconds until QEMU's size reaches 2 GiB
    (None when it never does), the fraction of the target reached, and
    whether the data survived."""
    with guest(driver, helpers, region='4G', block='4M') as g:
        g.resize_and_wait(4 * GiB, timeout=600)
        anon = g.start_memtool('hold-anon', 1536)
        anon.wait_output(r'^ready', timeout=300)
        g.sh('memtool fill-file /tmp/cache 512', timeout=300)
        g.resize(2 * GiB)
        secs = seconds(lambda: g.wait_qemu_size(2 * GiB, 300) == 2 * GiB)
        final = settled(lambda: g.wait_qemu_size_settled(quiet=3,
                                                         timeout=60))
        anon.signal('USR1')
        try:
            anon.wait_output(r'^verify ok', timeout=300)
            g.sh('memtool check-file /tmp/cache', timeout=300)
            ok = 1.0
        except vmrig.RigError:
            ok = 0.0
    return {'loaded_unplug_s': secs,
            'loaded_unplug_fraction': (4 * GiB - final) / (2 * GiB),
            'loaded_unplug_data_ok': ok}


def sc_random_resizes(driver, helpers, args):
    """Random resizes (seeded, the same sequence for both drivers), each
    waited for: resizes per minute."""
    rng = random.Random(42)
    targets = [rng.randrange(0, 2 * GiB // (4 * MiB) + 1) * 4 * MiB
               for _ in range(args.resizes)]
    with guest(driver, helpers, region='4G', block='4M') as g:
        start = time.monotonic()
        for i, t in enumerate(targets):
            g.resize(t)
            if g.wait_qemu_size(t, 300) != t:
                say(f'    resize {i} to {format_size(t)} timed out')
                return {'resizes_per_min': None}
        secs = time.monotonic() - start
    return {'resizes_per_min': len(targets) * 60 / secs}


def sc_small_guest_growth(driver, helpers, args):
    """The largest plug a guest booted with 512 MiB survives: plug in
    growing steps; a step counts when QEMU's size reaches it and the guest
    still answers."""
    best = 0
    with guest(driver, helpers, boot='512M', region='64G', block='4M',
               maxmem='128G', kernel_args=args.growth_args) as g:
        for step in (2, 4, 8, 16, 24, 32, 48):
            g.resize(step * GiB)
            # A guest out of memory stops plugging: wait until the size
            # stops moving rather than for a size that never comes.
            reached = settled(lambda: g.wait_qemu_size_settled(
                quiet=20, timeout=600)) == step * GiB
            try:
                alive = g.alive() and g.run('true', timeout=60)[0] == 0
            except vmrig.RigError:
                alive = False
            if not reached or not alive:
                say(f'    {step} GiB: reached={reached} alive={alive}')
                break
            best = step
    return {'small_guest_max_plug_gib': float(best)}


def driver_memory(driver, helpers, region):
    """kB of Slab + VmallocUsed the driver takes when it binds to a device
    with a region of `region`."""
    with guest(driver, helpers, region=region, block='2M',
               load_driver=False, maxmem='300G') as g:
        def used():
            info = g.guest_meminfo()
            return info['Slab'] + info['VmallocUsed']
        before = used()
        g.sh('insmod /vmem/virtio_mem.ko')
        vmrig.wait_for(lambda: g.run('ls /sys/bus/virtio/drivers/'
                                     'virtio_mem/ | grep -q virtio')[0],
                       60, 'the driver to bind', until=lambda rc: rc == 0)
        return used() - before


def sc_driver_memory(driver, helpers, args):
    """Bytes of driver memory per GiB of device region: the slope between a
    16 GiB and a 256 GiB region (module text cancels out; QEMU's 40 physical
    address bits leave no room for much more)."""
    small = driver_memory(driver, helpers, '16G')
    large = driver_memory(driver, helpers, '256G')
    return {'driver_bytes_per_gib': (large - small) * 1024 / (256 - 16)}


def sc_balloon_vs_mem(driver, helpers, args):
    """Give back 1 GiB and take it again: virtio-mem (ours, stock) against
    virtio-balloon inflating and deflating within boot memory."""
    if driver == 'balloon':
        with vmrig.Guest(boot='3G', load_driver=False, helpers=helpers,
                         name='bench-balloon', region='1G',
                         extra_devices=['virtio-balloon-pci,id=balloon0'],
                         ko=OURS) as g:
            g.sh('insmod /modules/virtio_balloon.ko')
            base = g.guest_memtotal()
            g.qmp.execute('balloon', value=2 * GiB)
            shrink = seconds(lambda: g.wait_guest_memtotal(
                lambda kb: kb <= base - GiB // KiB, 300,
                'balloon inflated by 1 GiB', interval=POLL))
            g.qmp.execute('balloon', value=3 * GiB)
            grow = seconds(lambda: g.wait_guest_memtotal(
                lambda kb: kb >= base, 300, 'balloon deflated',
                interval=POLL))
        return {'shrink_1g_s': shrink, 'regrow_1g_s': grow}
    with guest(driver, helpers, region='4G', block='4M') as g:
        base = g.base_memtotal()
        g.resize_and_wait(2 * GiB, timeout=300)
        seconds(lambda: g.wait_guest_memtotal(base + 2 * GiB // KiB, 120,
                                              'MemTotal + 2 GiB'))
        g.resize(1 * GiB)
        shrink = seconds(lambda: g.wait_guest_memtotal(
            base + GiB // KiB, 300, 'MemTotal + 1 GiB', interval=POLL))
        g.resize(2 * GiB)
        grow = seconds(lambda: g.wait_guest_memtotal(
            base + 2 * GiB // KiB, 300, 'MemTotal + 2 GiB again',
            interval=POLL))
    return {'shrink_1g_s': shrink, 'regrow_1g_s': grow}


# The host asks for less than the guest uses (issue 12's story): 1 GiB
# boot memory, 3 GiB more, 2.5 GiB of anonymous data held.
STARVE_HELD_MB = 2560
# The lowest MemAvailable (kB) the guest went through, one line per new low;
# the sampler itself is never chosen by the OOM killer.
MINAVAIL_SAMPLER = (
    "sh -c 'echo -1000 >/proc/self/oom_score_adj; m=999999999; "
    'while :; do while read -r k v u; do [ "$k" = MemAvailable: ] && '
    'break; done </proc/meminfo; if [ "$v" -lt "$m" ]; then m=$v; '
    "echo $m; fi; sleep 0.2; done'")
# The holder may be chosen by the OOM killer; the rig's shell may not.
STARVE_HOLDER = ("sh -c 'echo 0 >/proc/self/oom_score_adj; "
                 f"exec memtool hold-anon {STARVE_HELD_MB}'")


def starve_outcome(g, holder, sampler):
    """What the guest went through: OOM kills, allocation failures in its
    log, the lowest MemAvailable (MiB) and whether the data survived."""
    log = g.dmesg()
    lows = sampler.output().split()
    data_ok = 0.0
    if holder.alive():
        holder.signal('USR1')
        try:
            if holder.wait_output(r'^verify ', timeout=300).startswith(
                    'verify ok'):
                data_ok = 1.0
        except vmrig.RigError:
            pass
    return {
        'starve_oom_kills': float(sum('invoked oom-killer' in line
                                      for line in log)),
        'starve_alloc_failures': float(sum('page allocation failure' in line
                                           for line in log)),
        'starve_min_available_mib': int(lows[-1]) / 1024 if lows else None,
        'starve_data_ok': data_ok,
    }


def sc_starve(driver, helpers, args):
    """The host asks for less than the guest is using: 1 GiB boot + 3 GiB
    plugged (or, for virtio-balloon with deflate-on-oom, 4 GiB booted and
    a balloon target of 1 GiB), 2.5 GiB held, the host asks for 0 more.
    OOM kills and allocation failures the guest logged, the lowest
    MemAvailable it went through, whether the data survived, and the
    seconds to the target once the holder exits."""
    if driver == 'balloon':
        settings = dict(boot='4G', region='1G', load_driver=False, ko=OURS,
                        name='bench-balloon', extra_devices=[
                            'virtio-balloon-pci,id=balloon0,'
                            'deflate-on-oom=on'])
    else:
        settings = dict(boot='1G', region='4G', block='4M', ko=DRIVERS[driver],
                        name=f'bench-{driver}')
    with vmrig.Guest(helpers=helpers, **settings) as g:
        g.sh('echo -1000 >/proc/$$/oom_score_adj')
        if driver == 'balloon':
            g.sh('insmod /modules/virtio_balloon.ko')

            def reached():
                return g.qmp.execute('query-balloon')['actual'] <= GiB

            def ask():
                g.qmp.execute('balloon', value=1 * GiB)
        else:
            g.resize_and_wait(3 * GiB, timeout=600)

            def reached():
                return g.qemu_size() == 0

            def ask():
                g.resize(0)
        holder = g.start_process(STARVE_HOLDER, what='memtool hold-anon')
        holder.wait_output(r'^ready', timeout=600)
        sampler = g.start_process(MINAVAIL_SAMPLER, what='sampler')
        ask()
        # Until the size stops moving: the target may never come.
        if driver == 'balloon':
            settled(lambda: vmrig.wait_steady(
                lambda: g.qmp.execute('query-balloon')['actual'], 10, 600,
                'the balloon to hold still'))
        else:
            settled(lambda: g.wait_qemu_size_settled(quiet=10, timeout=600))
        result = starve_outcome(g, holder, sampler)
        holder.stop()
        result['starve_target_after_release_s'] = seconds(
            lambda: vmrig.wait_for(reached, 300, 'the target after the '
                                   'holder exits', interval=POLL))
        sampler.stop()
    return result


SCENARIOS = {
    'plug': (sc_plug_unplug_8g, ('ours', 'stock')),
    'loaded': (sc_loaded_unplug, ('ours', 'stock')),
    'random': (sc_random_resizes, ('ours', 'stock')),
    'growth': (sc_small_guest_growth, ('ours', 'stock')),
    'memory': (sc_driver_memory, ('ours', 'stock')),
    'balloon': (sc_balloon_vs_mem, ('ours', 'stock', 'balloon')),
    'starve': (sc_starve, ('ours', 'stock', 'balloon')),
}

# Metrics where less is better; the rest: more is better.
LOWER_IS_BETTER = {'plug_8g_s', 'unplug_8g_idle_s', 'loaded_unplug_s',
                   'driver_bytes_per_gib', 'shrink_1g_s', 'regrow_1g_s',
                   'starve_oom_kills', 'starve_alloc_failures',
                   'starve_target_after_release_s'}
UNITS = {'plug_8g_s': 's', 'unplug_8g_idle_s': 's', 'loaded_unplug_s': 's',
         'loaded_unplug_fraction': '', 'loaded_unplug_data_ok': '',
         'resizes_per_min': '/min', 'small_guest_max_plug_gib': 'GiB',
         'driver_bytes_per_gib': 'B/GiB', 'shrink_1g_s': 's',
         'plug_share_core_mm': '', 'plug_share_requests': '',
         'regrow_1g_s': 's', 'starve_oom_kills': '', 'starve_alloc_failures': '',
         'starve_min_available_mib': 'MiB', 'starve_data_ok': '',
         'starve_target_after_release_s': 's'}


def machine():
    cpu = 'unknown CPU'
    for line in Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('model name'):
            cpu = line.split(':', 1)[1].strip()
            break
    qemu = subprocess.run(['qemu-system-x86_64', '--version'],
                          capture_output=True, text=True).stdout.split('\n')[0]
    return (f'{os.cpu_count()} x {cpu}, '
            f'{os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 30}'
            f' GiB, host {platform.release()}; guest kernel '
            f'{vmrig.KERNEL_RELEASE} under TCG; {qemu}')


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v):
    if v is None:
        return 'failed'
    return f'{v:.3g}' if abs(v) < 1000 else f'{v:.0f}'


def summarize(rows):
    """Table lines: metric, median per driver, ratio ours/stock."""
    metrics = []
    for r in rows:
        if r['metric'] not in metrics:
            metrics.append(r['metric'])
    out = [f'{"metric":28} {"ours":>10} {"stock":>10} {"balloon":>10} '
           f'{"ours/stock":>11}']
    table = []
    for m in metrics:
        med = {d: median([r['value'] for r in rows
                          if r['metric'] == m and r['driver'] == d])
               for d in ('ours', 'stock', 'balloon')}
        ran = {r['driver'] for r in rows if r['metric'] == m}
        # The starve scenario compares outcomes (kills, data, lows), not
        # speeds: a driver that let the holder be killed reaches the target
        # before the release, so a ratio of its times says nothing.
        ratio = (med['ours'] / med['stock']
                 if med['ours'] is not None and med['stock']
                 and not m.startswith('starve_') else None)
        table.append((m, med, ratio))
        cell = {d: fmt(med[d]) if d in ran else '-' for d in med}
        out.append(f'{m + " (" + UNITS.get(m, "") + ")":28} '
                   f'{cell["ours"]:>10} {cell["stock"]:>10} '
                   f'{cell["balloon"]:>10} '
                   f'{fmt(ratio) if ratio is not None else "-":>11}')
    return out, table


def bar_chart(path, size, title, ylabel, boxwidth, plot, extra=''):
    """Draw a bar chart into path (PNG) with gnuplot; `plot` is the plot
    command's arguments, `extra` more settings."""
    gnuplot(f'''
set terminal pngcairo size {size} font ",10"
set output "{path}"
set title "{title}"
set style fill solid 0.8 border -1
set boxwidth {boxwidth}
set yrange [0:*]
set ylabel "{ylabel}"
{extra}plot {plot}
''')


def gnuplot(script):
    """Draw with gnuplot; a missing or failing gnuplot costs the chart
    only."""
    try:
        subprocess.run(['gnuplot'], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        say(f'chart not drawn: {err}')


def chart(table, path):
    """Bar chart of ours/stock per metric; below 1 is better for the
    time and memory metrics, above 1 for the others."""
    data = path.with_suffix('.dat')
    with data.open('w') as f:
        for m, _, ratio in table:
            # (The starve scenario has no ratios, and a chart of its own.)
            if ratio is not None:
                f.write(f'"{m}" {ratio:.4f} '
                        f'{1 if m in LOWER_IS_BETTER else 2}\n')
    bar_chart(path, '1000,520', 'virtio-mem: ours / stock (median of runs; TCG)',
              'ratio ours/stock', 0.6, f'''"{data}" using 0:($3==1?$2:1/0):xtic(1) with boxes lc rgb "#3070b0" title "time/memory (lower is better)", \\
     "" using 0:($3==2?$2:1/0) with boxes lc rgb "#40a040" title "rate/size (higher is better)", \\
     "" using 0:2:(sprintf("%.2f",$2)) with labels offset 0,0.8 notitle''',
              extra='''set xtics rotate by -25 noenhanced
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
set key top left
''')


def starve_chart(rows, path):
    """The starve scenario per driver: the lowest MemAvailable the guest
    went through (bars), with its OOM kills and allocation failures."""
    med = {}
    for d in ('ours', 'stock', 'balloon'):
        med[d] = {m: median([r['value'] for r in rows if r['driver'] == d
                             and r['metric'] == m])
                  for m in ('starve_min_available_mib', 'starve_oom_kills',
                            'starve_alloc_failures', 'starve_data_ok')}
    if all(v['starve_min_available_mib'] is None for v in med.values()):
        return
    data = path.with_suffix('.dat')
    with data.open('w') as f:
        for d, v in med.items():
            if v['starve_min_available_mib'] is None:
                continue
            label = (f'{v["starve_oom_kills"] or 0:.0f} OOM kills, '
                     f'{v["starve_alloc_failures"] or 0:.0f} alloc. failures'
                     f'{", data lost" if not v["starve_data_ok"] else ""}')
            f.write(f'"{d}" {v["starve_min_available_mib"]:.1f} '
                    f'"{label}"\n')
    bar_chart(path, '800,420', 'host asks for 0 while the guest holds 2.5 of '
              'its 4 GiB: lowest MemAvailable', 'lowest MemAvailable (MiB)',
              0.5, f'''"{data}" using 0:2:xtic(1) with boxes lc rgb "#3070b0" notitle, \\
     "" using 0:2:3 with labels offset 0,0.8 notitle''')


def read_rows(out):
    with (out / 'bench.csv').open() as f:
        return [dict(r, value=float(r['value']) if r['value'] else None)
                for r in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--only', nargs='*', choices=sorted(SCENARIOS),
                    help='scenarios to run (default: all)')
    ap.add_argument('--resizes', type=int, default=100)
    ap.add_argument('--growth-args',
                    default='memory_hotplug.memmap_on_memory=1',
                    help='guest kernel arguments for the growth run (the '
                    'same for both drivers)')
    ap.add_argument('--out', type=Path, default=RESULTS)
    ap.add_argument('--summarize', action='store_true',
                    help='only redo the table and chart from --out/bench.csv')
    ap.add_argument('--update', action='store_true',
                    help='run the --only scenarios again and replace their '
                    'rows in --out/bench.csv, keeping the other rows')
    args = ap.parse_args()
    if args.update and not args.only:
        ap.error('--update needs --only')
    if args.summarize:
        rows = read_rows(args.out)
        lines, table = summarize(rows)
        old = (args.out / 'bench.txt').read_text().splitlines()
        header = [line for line in old if line.startswith('#')]
        (args.out / 'bench.txt').write_text('\n'.join(header + lines) + '\n')
        chart(table, args.out / 'bench.png')
        starve_chart(rows, args.out / 'starve.png')
        say('\n'.join(header + lines))
        return

    for ko in DRIVERS.values():
        if not ko.is_file():
            sys.exit(f'bench: {ko} missing (run make)')
    helpers = vmrig.guest_programs()
    names = args.only or list(SCENARIOS)
    plan = []
    for rep in range(args.reps):
        for name in names:
            drivers = list(SCENARIOS[name][1])
            if rep % 2:
                drivers.reverse()
            plan += [(name, d, rep) for d in drivers]

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    say(f'bench: {len(plan)} runs on {machine()}')
    t0 = time.monotonic()
    for i, (name, driver, rep) in enumerate(plan, 1):
        say(f'[{i}/{len(plan)}] {name} {driver} rep {rep + 1} '
            f'({time.monotonic() - t0:.0f}s elapsed)')
        try:
            result = SCENARIOS[name][0](driver, helpers, args)
        except (vmrig.RigError, OSError) as err:
            say(f'    failed: {str(err).splitlines()[0]}')
            result = {}
        for metric, value in result.items():
            say(f'    {metric} = {fmt(value)}')
            rows.append(dict(scenario=name, metric=metric, driver=driver,
                             rep=rep + 1, value=value))

    header = [f'# {time.strftime("%Y-%m-%d %H:%M")}: {machine()}',
              f'# {args.reps} repetitions, medians; '
              f'{time.monotonic() - t0:.0f} s in all']
    if args.update:
        kept = [r for r in read_rows(args.out) if r['scenario'] not in names]
        rows = kept + rows
        old = (args.out / 'bench.txt').read_text().splitlines()
        header = [line for line in old if line.startswith('#')
                  and not line.startswith('# updated')] + \
            [f'# updated {" ".join(names)}: {header[0][2:]}; '
             f'{args.reps} repetitions']
    with (args.out / 'bench.csv').open('w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=['scenario', 'metric', 'driver',
                                          'rep', 'value'])
        w.writeheader()
        w.writerows(rows)
    lines, table = summarize(rows)
    (args.out / 'bench.txt').write_text('\n'.join(header + lines) + '\n')
    chart(table, args.out / 'bench.png')
    starve_chart(rows, args.out / 'starve.png')
    say('\n'.join(header + lines))
    say(f'results: {args.out}/bench.csv, bench.txt, bench.png')


if __name__ == '__main__':
    main()
