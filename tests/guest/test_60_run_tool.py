"""`make run` (tests/rig/run.py) driven through a pipe, as a script would."""

import os
import re
import subprocess
import sys

import pytest

import vmrig
from conftest import KO

pytestmark = pytest.mark.debian_lane('make run, a host tool')


def test_run_tool_resizes_and_shows_both_sides_from_piped_commands(tmp_path):
    if not KO.is_file():
        pytest.skip(f'{KO} is not built')
    script = 'show\nsize 260M\nsh grep MemTotal /proc/meminfo\nsize 0\nquit\n'
    proc = subprocess.run(
        [sys.executable, str(vmrig.RIG_DIR / 'run.py'), '--ko', str(KO),
         '--qmp', str(tmp_path / 'qmp.sock')],
        input=script, capture_output=True, text=True, timeout=300,
        env=dict(os.environ))
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = out.split('> ')
    assert steps[0].startswith('QEMU: plugged 0, requested 0'), out
    resized = next(s for s in steps if s.startswith('size 260M'))
    assert 'QEMU: plugged 260M, requested 260M' in resized, out
    assert '+260.0 MiB over' in resized, out
    # vmemstat's view: sizes and one row per memory block, no raw bytes.
    assert 'plugged 260 MiB, requested 260 MiB' in resized, out
    assert re.search(r'^\s+memory33\s+online_movable\s+128 MiB\s+#+$',
                     resized, re.M), out
    assert not re.search(r'=\d{6,}', out), out
    shown = next(s for s in steps if s.startswith('sh grep'))
    assert 'MemTotal:' in shown, out
    shrunk = next(s for s in steps if s.startswith('size 0'))
    assert 'QEMU: plugged 0, requested 0' in shrunk, out
    assert not re.search(r'^\s+memory\d+ ', shrunk, re.M), out
    assert steps[-1].strip() == 'quit', out
