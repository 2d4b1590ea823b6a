"""pytest hooks: where each test's seconds went, as a table at the end.

A conftest imports these hooks (pytest_runtest_protocol,
pytest_terminal_summary).  For every test, setup, call and teardown
together, the table gives the total and the phases vmrig.CLOCK accounted
(boot, reset, wait, capture, dmesg); the body is the rest: guest
commands, QMP, host tools.  The slowest tests come first, then the sum
over all.  RIG_TIMES=path also writes the table there.
"""

import collections
import os
import time

import pytest

import vmrig

_rows = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    vmrig.CLOCK.clear()
    t0 = time.monotonic()
    yield
    _rows.append((item.nodeid, time.monotonic() - t0, vmrig.CLOCK.clear()))


def format_times(rows):
    """The table of (nodeid, seconds, {phase: seconds}) rows."""
    phases = vmrig.PhaseClock.PHASES
    head = ' '.join(f'{p:>7}' for p in ('total', *phases, 'body'))
    lines = [f'{head}  test']

    def line(total, spent, name):
        body = total - sum(spent.values())
        cells = [total, *(spent.get(p, 0.0) for p in phases), body]
        return ' '.join(f'{c:7.1f}' for c in cells) + f'  {name}'

    for nodeid, total, spent in sorted(rows, key=lambda r: -r[1]):
        lines.append(line(total, spent, nodeid.split('/')[-1]))
    everything = sum((spent for _, _, spent in rows), collections.Counter())
    lines.append(line(sum(r[1] for r in rows), everything,
                      f'all {len(rows)} tests'))
    return '\n'.join(lines)


def pytest_terminal_summary(terminalreporter):
    if not _rows:
        return
    table = format_times(_rows)
    terminalreporter.write_sep('=', 'where the time went (seconds)')
    terminalreporter.write_line(table)
    path = os.environ.get('RIG_TIMES')
    if path:
        with open(path, 'w') as out:
            out.write(table + '\n')
