"""Waiting, and where the seconds go: the phase clock, wait_for and
hold_for (poll anything)."""

import collections
import contextlib
import functools
import threading
import time

from .base import RigError


class PhaseClock:
    """Seconds spent per phase of a test: 'boot' (QEMU start to the guest's
    shell, reboots), 'reset' (bringing a pooled guest back to clean),
    'wait' (waiting on a condition: a size, a log line, an event),
    'capture' (a kdump capture kernel at work), 'dmesg' (kernel log
    checks).  Whatever a test spends outside them is its body.  Phases do
    not nest: time inside a phase counts for the outermost one only, so
    the phases of a test add up to at most its duration."""

    PHASES = ('boot', 'reset', 'wait', 'capture', 'dmesg')

    def __init__(self):
        self.spent = collections.Counter()
        self._current = None

    def clear(self):
        spent, self.spent = self.spent, collections.Counter()
        return spent

    @contextlib.contextmanager
    def phase(self, name):
        if self._current is not None or \
                threading.current_thread() is not threading.main_thread():
            yield
            return
        self._current = name
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.spent[name] += time.monotonic() - t0
            self._current = None


CLOCK = PhaseClock()


def timed(name):
    """Decorator: the call counts as phase `name` (see PhaseClock)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with CLOCK.phase(name):
                return fn(*args, **kwargs)
        return inner
    return wrap


@timed('wait')
def wait_for(probe, timeout, what, until=bool, interval=0.25):
    """Call probe() until until(value) holds; return that value.

    Raises RigError naming what was waited for and the last value seen
    (or the last exception the probe raised).
    """
    deadline = time.monotonic() + timeout
    last = '<never probed>'
    while True:
        try:
            value = probe()
            if until(value):
                return value
            last = repr(value)
        except RigError as err:
            last = f'<probe failed: {str(err).splitlines()[0]}>'
        if time.monotonic() >= deadline:
            raise RigError(f'timed out after {timeout:.0f}s waiting for '
                           f'{what}; last saw: {last}')
        time.sleep(interval)


@timed('wait')
def hold_for(probe, duration, what, until=bool, interval=0.5):
    """Check that until(probe()) stays true for `duration` seconds."""
    deadline = time.monotonic() + duration
    while True:
        value = probe()
        if not until(value):
            raise RigError(f'{what} stopped holding: saw {value!r}')
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)

