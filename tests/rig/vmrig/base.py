"""What every part of the rig shares: settings from the environment, where
things are, the logger, RigError, and files written whole into the cache."""

import logging
import os
import sys
from pathlib import Path

KERNEL_RELEASE = os.environ.get('RIG_KERNEL_RELEASE', '6.1.0-56-amd64')
KERNEL_ROOT = Path(os.environ.get('RIG_KERNEL_ROOT', '/'))
KERNEL_ARGS = os.environ.get('RIG_KERNEL_ARGS', '')
RIG_DIR = Path(__file__).resolve().parents[1]
TESTS_DIR = RIG_DIR.parent
REPO_DIR = TESTS_DIR.parent
HELPERS_DIR = TESTS_DIR / 'helpers'
CACHE_DIR = Path(os.environ.get('RIG_CACHE',
                                RIG_DIR / '.cache' / KERNEL_RELEASE))
LOG_DIR = Path(os.environ.get('RIG_LOG_DIR', '/tmp/vmrig-logs'))
BUSYBOX = Path('/bin/busybox')
QEMU = 'qemu-system-x86_64'

log = logging.getLogger('vmrig')


class RigError(Exception):
    """Something the rig expected did not happen."""


def write_atomic(path, data):
    """Write bytes or text to path whole: into a file of this process's
    own, renamed into place (runners, tests/rig/runners, may write the
    same cache file at once)."""
    path = Path(path)
    tmp = path.with_name(f'{path.name}.{os.getpid()}.tmp')
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    tmp.replace(path)
    return path


def prune_cache(pattern, keep, max_entries):
    """Remove all but the newest max_entries files of CACHE_DIR matching
    pattern (and their .key stamps); never `keep`."""
    files = sorted(CACHE_DIR.glob(pattern),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[max_entries:]:
        if old != keep:
            old.unlink(missing_ok=True)
            Path(str(old) + '.key').unlink(missing_ok=True)


def setup_console_logging(level=logging.INFO):
    """For scripts: progress lines with elapsed time on stderr."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format='%(relativeCreated)8.0fms %(message)s')
