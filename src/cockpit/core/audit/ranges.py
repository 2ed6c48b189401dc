"""Split a file into ranges of whole lines (stdlib only: the literal scan imports it
before its children fork, the query's scans after)."""

from __future__ import annotations

import itertools
import os


def split_ranges(fd: int, size: int, parts: int) -> list[tuple[int, int]]:
    """[start, end) ranges of ``fd``'s first ``size`` bytes, about ``size / parts`` each,
    cut after a newline (fewer where lines are long)."""
    bounds = [0]
    for i in range(1, parts):
        target = size * i // parts
        if target <= bounds[-1]:
            continue
        chunk = os.pread(fd, 1 << 16, target)
        nl = chunk.find(b"\n")
        while nl == -1 and chunk:
            target += len(chunk)
            chunk = os.pread(fd, 1 << 16, target)
            nl = chunk.find(b"\n")
        cut = target + nl + 1 if nl != -1 else size
        if bounds[-1] < cut < size:
            bounds.append(cut)
    bounds.append(size)
    return list(itertools.pairwise(bounds))


def workers() -> int:
    """Processes a scan is split between: the CPUs this process may run on (at most 8)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))
