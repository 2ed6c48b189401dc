"""Which files a local process writes its stdout/stderr to (``/proc/PID/fd/N``).

The files are followed through ``/proc/PID/fd/N`` (``core/follow.py``), so it is the
very file the process writes to even after it was renamed or deleted (log rotation).
"""

from __future__ import annotations

import os
import stat

_CHUNK = 64 * 1024
#: Most bytes read backwards to find the last ``tail`` lines.
_TAIL_SCAN_BYTES = 16 * 1024 * 1024
#: Most bytes read from a file in one poll, so one busy file cannot starve the loop.
_READ_PER_POLL = 1024 * 1024


def output_files(pid: int) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """The fds among 1 and 2 of ``pid`` that are regular files (one per file), and all links.

    Returns ``([(fd, path), ...], {fd: link target})``; raises ``OSError`` when
    ``/proc/PID/fd`` cannot be read.
    """
    files: list[tuple[int, str]] = []
    links: dict[int, str] = {}
    seen: set[tuple[int, int]] = set()
    for fd in (1, 2):
        path = f"/proc/{pid}/fd/{fd}"
        try:
            links[fd] = os.readlink(path)
            info = os.stat(path)
        except FileNotFoundError:
            links.setdefault(fd, "(closed)")
            continue
        if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            files.append((fd, path))
    return files, links
