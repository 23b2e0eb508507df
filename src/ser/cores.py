"""How many cores this process may use: its CPU affinity, which a container's cpuset or ``taskset`` narrows below the
machine's count."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0))
