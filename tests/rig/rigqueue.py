"""pytest hooks: several pytest processes share one queue of test files.

Under TCG a guest keeps about one host core busy: the driver's worker, a
boot and a kdump capture kernel are single threaded.  So `make
check-guest` runs two pytest processes (tests/rig/runners), each with its
own guests, and they share the test files between them: each process
walks the files in the same order and runs a file only if it is the first
to claim it (an O_EXCL file in $RIG_QUEUE).  A file's tests stay together
in one process, in their order, so they share guests as before; files
that take longest come first (COST_ORDER), so no process is left with a
long file at the end.

Without $RIG_QUEUE pytest runs every test itself, as usual.

A conftest imports the hook (`from rigqueue import pytest_runtestloop`)
and sets rigqueue.COST_ORDER: module file names, costliest first; files
not named follow in their usual order.
"""

import os
import re
from pathlib import Path

import pytest

QUEUE = os.environ.get('RIG_QUEUE')
RUNNER = os.environ.get('RIG_RUNNER', '')

# Module file names, costliest first (a conftest sets it).
COST_ORDER = []


def _claim_file(path):
    return Path(QUEUE) / re.sub(r'[^\w.-]', '_', str(path))


def claim(path):
    """True if this process is the first to claim the test file."""
    try:
        fd = os.open(_claim_file(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                     0o644)
    except FileExistsError:
        return False
    os.write(fd, RUNNER.encode())
    os.close(fd)
    return True


def claimed_by_other(path):
    return _claim_file(path).exists()


def files_in_cost_order(items, order):
    """[(path, [items])] grouped by file, costliest first."""
    files = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    rank = {name: i for i, name in enumerate(order)}
    return sorted(files.items(),
                  key=lambda f: rank.get(f[0].name, len(rank)))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    if not QUEUE:
        return None
    if session.testsfailed and \
            not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(
            f'{session.testsfailed} error(s) during collection')
    if session.config.option.collectonly:
        return True

    files = files_in_cost_order(session.items, COST_ORDER)
    taken = set()

    def unclaimed_after(path):
        """The first item of the next file nobody has claimed yet: pytest
        needs to know the next test to tear down the right fixtures
        (module fixtures at a file's end, session ones only at the
        end).  The file is claimed only once this one is done."""
        for p, items in files:
            if p not in taken and p != path and not claimed_by_other(p):
                return items[0]
        return None

    def next_file():
        for p, items in files:
            if p not in taken:
                taken.add(p)
                if claim(p):
                    return items
        return None

    items = next_file()
    while items:
        for i, item in enumerate(items):
            following = (items[i + 1] if i + 1 < len(items)
                         else unclaimed_after(item.path))
            item.config.hook.pytest_runtest_protocol(item=item,
                                                     nextitem=following)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
        items = next_file()
    return True
