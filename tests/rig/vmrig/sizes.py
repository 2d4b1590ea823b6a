"""Sizes: units, parsing ('1028M') and the one formatter of the rig."""

import re

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

_SIZE_UNITS = {'': 1, 'K': KiB, 'M': MiB, 'G': GiB, 'T': 1024 * GiB}


def parse_size(size):
    """'1028M' -> bytes; ints pass through."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r'\s*(\d+)\s*([KMGT]?)i?B?\s*', str(size), re.I)
    if not m:
        raise ValueError(f'bad size: {size!r}')
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def format_size(nbytes, unit=None):
    """bytes -> the largest exact unit ('1028M', '2G', '0'), as QEMU and
    the scenarios write sizes; with a unit ('K', 'M', 'G', 'T'): the size
    in it to a tenth, for sizes that are not round ('12.3 MiB')."""
    if unit:
        return f'{nbytes / _SIZE_UNITS[unit]:.1f} {unit}iB'
    if nbytes == 0:
        return '0'
    for unit in ('T', 'G', 'M', 'K'):
        if nbytes % _SIZE_UNITS[unit] == 0:
            return f'{nbytes // _SIZE_UNITS[unit]}{unit}'
    return str(nbytes)


def size_steps(block):
    """Resize steps for a block size: block multiples, not 128M multiples,
    up and down: 0 -> ~1G -> ~512M -> ~2G -> ~256M -> 0."""
    bs = parse_size(block)
    return [GiB + bs, 512 * MiB - bs, 2 * GiB - 3 * bs, 256 * MiB + 5 * bs,
            0]
