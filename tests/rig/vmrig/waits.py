"""Waiting, and where the seconds go: the phase clock, wait_for and
hold_for (poll anything), wait_steady (until a value stops changing);
a wait that times out raises WaitTimeout, saying what it saw last."""

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


class WaitTimeout(RigError):
    """A wait ran out of time.  The message names what was waited for and
    what was seen last; so do the attributes: what, last (the last value
    seen, None if there was none) and timeout (seconds)."""

    def __init__(self, message, what=None, last=None, timeout=None):
        super().__init__(message)
        self.what, self.last, self.timeout = what, last, timeout

    def again(self, message):
        """The same timeout told another way (with the waiter's name, or
        more of what it saw)."""
        return WaitTimeout(message, self.what, self.last, self.timeout)


@timed('wait')
def wait_for(probe, timeout, what, until=bool, interval=0.25):
    """Call probe() until until(value) holds; return that value.

    Raises WaitTimeout naming what was waited for and the last value seen
    (or the last exception the probe raised).
    """
    deadline = time.monotonic() + timeout
    last, shown = None, '<never probed>'
    while True:
        try:
            value = probe()
            if until(value):
                return value
            last, shown = value, repr(value)
        except RigError as err:
            shown = f'<probe failed: {str(err).splitlines()[0]}>'
        if time.monotonic() >= deadline:
            raise WaitTimeout(f'timed out after {timeout:.0f}s waiting for '
                              f'{what}; last saw: {shown}', what, last,
                              timeout)
        time.sleep(interval)


@timed('wait')
def wait_steady(probe, quiet, timeout, what, interval=0.5, changed=None):
    """Call probe() until it has returned the same value for `quiet`
    seconds; return that value.  changed(seconds), when given, waits up to
    that long for a sign of change (an event) and says whether one came;
    without it, probe() is called every `interval` seconds.  Raises
    WaitTimeout with the last value after `timeout` seconds."""
    t0 = time.monotonic()
    value, since = probe(), t0
    while True:
        if changed is None:
            time.sleep(interval)
            signalled = False
        else:
            signalled = changed(quiet)
        now = probe()
        if signalled or now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return value
        if time.monotonic() - t0 > timeout:
            raise WaitTimeout(f'timed out after {timeout:.0f}s waiting for '
                              f'{what}; last saw: {value!r}', what, value,
                              timeout)


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

