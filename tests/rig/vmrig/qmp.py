"""A minimal QMP client: one socket, a reader thread, an event queue."""

import json
import queue
import socket
import threading
import time

from .base import RigError


class QMPError(RigError):
    pass


class QMP:
    """Minimal QMP client: one socket, a reader thread, an event queue."""

    def __init__(self, path, timeout=30):
        self.sock = self._connect(path, timeout)
        self._file = self.sock.makefile('rb')
        greeting = json.loads(self._file.readline())
        if 'QMP' not in greeting:
            raise QMPError(f'unexpected QMP greeting: {greeting}')
        self._responses = queue.Queue()
        self._events = []
        self._events_cv = threading.Condition()
        self._lock = threading.Lock()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.execute('qmp_capabilities')

    @staticmethod
    def _connect(path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise QMPError(f'no QMP socket at {path} after '
                                   f'{timeout}s')
                time.sleep(0.05)

    def _read_loop(self):
        for line in self._file:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if 'event' in msg:
                with self._events_cv:
                    self._events.append(msg)
                    self._events_cv.notify_all()
            else:
                self._responses.put(msg)
        self._responses.put(None)

    def execute(self, cmd, arguments=None, timeout=30, **kwargs):
        """Run a QMP command; return its 'return' value or raise QMPError.
        Arguments with '-' in their names go in `arguments`."""
        args = dict(arguments or {}, **kwargs)
        with self._lock:
            self._next_id += 1
            req = {'execute': cmd, 'id': self._next_id}
            if args:
                req['arguments'] = args
            self.sock.sendall(json.dumps(req).encode() + b'\n')
            while True:
                try:
                    resp = self._responses.get(timeout=timeout)
                except queue.Empty:
                    raise QMPError(f'no answer to {cmd} in {timeout}s')
                if resp is None:
                    raise QMPError(f'QMP closed during {cmd}')
                if resp.get('id') == self._next_id:
                    break
        if 'error' in resp:
            raise QMPError(f'{cmd} {args}: {resp["error"]}')
        return resp.get('return')

    def wait_event(self, name, timeout):
        """Pop the oldest queued event called name; wait up to timeout s.
        Returns the event or None."""
        deadline = time.monotonic() + timeout
        with self._events_cv:
            while True:
                for i, ev in enumerate(self._events):
                    if ev['event'] == name:
                        return self._events.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._events_cv.wait(left)

    def clear_events(self, name=None):
        with self._events_cv:
            self._events = [e for e in self._events
                            if name is not None and e['event'] != name]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

