"""How many cores this process may run on: what decides whether the audit
forks workers and whether a writer takes its CRC-32s on a thread of its own."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores the process may run on (its CPU affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
