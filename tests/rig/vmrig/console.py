"""A guest's serial console: everything QEMU's serial port printed (kept
whole, and logged to a file as it comes), positions in it (marks), waits
for a pattern after a mark, and lines sent to the guest."""

import os
import re
import threading
import time

from .base import RigError
from .waits import WaitTimeout


class SerialConsole:
    """The console of QEMU process `proc` (-serial on its stdio), read by a
    thread of its own from the start."""

    def __init__(self, name, proc, log_path):
        self.name = name
        self._proc = proc
        self._log = open(log_path, 'w')
        self._buf = ''
        self._cv = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        fd = self._proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b''
            if not chunk:
                break
            text = chunk.decode('utf-8', 'replace').replace('\r', '')
            self._log.write(text)
            self._log.flush()
            with self._cv:
                self._buf += text
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def close(self):
        """After QEMU has exited: the reader's last words, the log shut."""
        self._reader.join(5)
        self._log.close()

    def mark(self):
        """Position in the output: what comes after it is new."""
        with self._cv:
            return len(self._buf)

    def since(self, mark):
        """Everything the guest wrote since the mark."""
        with self._cv:
            return self._buf[mark:]

    def tail(self, lines=25):
        return '\n'.join(self._buf.splitlines()[-lines:])

    def search(self, pattern, mark=0):
        """The first match of pattern after the mark so far, or None."""
        with self._cv:
            return re.compile(pattern, re.S).search(self._buf, mark)

    def wait(self, pattern, timeout, what, mark=0):
        """Wait until the output after the mark matches pattern; return the
        match.  Raises RigError with the last lines seen when QEMU exits,
        WaitTimeout (last: those lines) when the time is up."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                m = rx.search(self._buf, mark)
                if m:
                    return m
                if self._eof:
                    raise RigError(f'{self.name}: QEMU exited while waiting '
                                   f'for {what}; serial tail:\n'
                                   f'{self.tail()}')
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f'{self.name}: timed out after '
                                      f'{timeout}s waiting for {what}; '
                                      f'serial tail:\n{self.tail()}', what,
                                      self.tail(), timeout)
                self._cv.wait(min(left, 1.0))

    def send(self, text, note):
        """Write text to the guest's console; `note` goes to the log first
        (the command, for whoever reads it).  Returns the mark before."""
        mark = self.mark()
        self._log.write(f'\n### {note}\n')
        self._proc.stdin.write(text.encode())
        self._proc.stdin.flush()
        return mark
