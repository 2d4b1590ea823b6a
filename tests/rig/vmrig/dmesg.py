"""Kernel log checks: the lines that mean something went wrong
(DMESG_BAD), those let through with a reason (DMESG_ALLOWED, whole
BENIGN_REPORTS, WARNING reports a test allows), and the lines a guest
logged since the last look."""

import re

from .base import RigError, log

# Kernel log lines that mean something went wrong.
DMESG_BAD = [r'WARNING:', r'BUG:', r'Oops', r'Call Trace',
             r'general protection', r'virtio_mem.*error',
             # the patched kernel's debug options: lockdep, DEBUG_VM, KASAN
             # (their reports also start with WARNING: or BUG:)
             r'possible .*(locking|deadlock|recursive)',
             r'lockdep is turned off', r'DEBUG_LOCKS_WARN_ON',
             r'kernel BUG at', r'page dumped because: VM_']
# Lines that match DMESG_BAD but are expected, each with its reason.  Boot
# logs of this kernel under QEMU 7.2 TCG have none today; add entries here
# (or pass `allowed=` to assert_dmesg_clean) only with a reason.
DMESG_ALLOWED = []
# Whole reports (from the line that matches to the end of its stack dump,
# "</TASK>") that core mm prints for a condition it handles itself, each
# with its reason.
BENIGN_REPORTS = [
    (r': vmemmap alloc failure: order:9,',
     'no 2 MiB block for a hot-added memmap in fragmented boot memory: core '
     'mm warns once and maps the memmap with base pages (seen under KASAN '
     'after the page cache stories)'),
]


def lines_since(lines, mark):
    """The kernel log lines after timestamp `mark` (lines without one
    belong to the line before them), and the newest timestamp seen:
    (lines, newest)."""
    fresh, newest, include = [], mark, False
    for line in lines:
        m = re.match(r'\[\s*(\d+\.\d+)\]', line)
        if m:
            ts = float(m.group(1))
            include = ts > mark
            newest = max(newest, ts)
        if include:
            fresh.append(line)
    return fresh, newest


def bad_lines(lines, allowed=()):
    """The lines that match DMESG_BAD and neither DMESG_ALLOWED nor the
    (regex, reason) pairs of `allowed`."""
    allow = list(DMESG_ALLOWED) + list(allowed)
    return [line for line in lines
            if any(re.search(p, line) for p in DMESG_BAD)
            and not any(re.search(p, line) for p, _ in allow)]


def check_clean(lines, name='guest', allowed=(), allowed_warnings=()):
    """Raise RigError showing the bad lines of a kernel log and what came
    around the first; `allowed` and `allowed_warnings` as for
    Guest.assert_dmesg_clean.  Returns the lines checked (without the
    reports let through)."""
    fresh = drop_warning_reports(lines, allowed_warnings, name)
    fresh = drop_benign_reports(fresh, name)
    bad = bad_lines(fresh, allowed)
    if bad:
        first = fresh.index(bad[0])
        context = '\n'.join(fresh[max(0, first - 5):first + 30])
        raise RigError(f'{name}: kernel log is not clean:\n'
                       + '\n'.join(bad) + '\n--- context ---\n'
                       + context)
    return fresh


def drop_warning_reports(lines, allowed_warnings, name='guest'):
    """Kernel log lines without the WARNING reports that
    allowed_warnings (see Guest.assert_dmesg_clean) let through."""
    if not allowed_warnings:
        return lines
    out, i = [], 0
    while i < len(lines):
        if 'cut here' in lines[i]:
            end = next((j for j in range(i, len(lines))
                        if '---[ end trace' in lines[j]), None)
            if end is not None:
                report = lines[i:end + 1]
                for warn, trace, reason in allowed_warnings:
                    if any(re.search(warn, x) for x in report
                           if 'WARNING:' in x) and \
                            any(re.search(trace, x) for x in report):
                        log.info('%s: kernel warning let through (%s): %s',
                                 name, reason,
                                 next(x for x in report if 'WARNING:' in x))
                        i = end + 1
                        break
                else:
                    out.append(lines[i])
                    i += 1
                continue
        out.append(lines[i])
        i += 1
    return out


def drop_benign_reports(lines, name='guest'):
    """Kernel log lines without the reports BENIGN_REPORTS lets through."""
    out, i = [], 0
    while i < len(lines):
        why = next((reason for rx, reason in BENIGN_REPORTS
                    if re.search(rx, lines[i])), None)
        end = next((j for j in range(i, min(len(lines), i + 80))
                    if '</TASK>' in lines[j]), None) if why else None
        if end is None:
            out.append(lines[i])
            i += 1
            continue
        log.info('%s: kernel report let through (%s): %s', name, why,
                 lines[i])
        i = end + 1
    return out

