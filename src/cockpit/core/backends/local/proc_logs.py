"""Follow the file a local process writes its stdout/stderr to (``/proc/PID/fd/N``).

The file is opened through ``/proc/PID/fd/N``, so it is the very file the process
writes to even after it was renamed or deleted (log rotation). A file that shrinks was
truncated (``copytruncate``): reading restarts at its beginning.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import BinaryIO

from cockpit.core.backends.lines import LineSplitter

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


class FileFollower:
    """Read new complete lines of one open file, from a tail offset onwards."""

    def __init__(self, path: str, tail: int) -> None:
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._splitter = LineSplitter()
        size = os.fstat(self._file.fileno()).st_size
        self._pos, mid_line = _tail_offset(self._file, size, tail)
        if mid_line:
            self._splitter.skip_partial()

    def read_new(self, flush: bool = False) -> list[tuple[str, bool]]:
        """Lines added since the last call (at most ~1 MiB of them); ``flush`` ends a partial."""
        size = os.fstat(self._file.fileno()).st_size
        if size < self._pos:  # truncated: start again from the top
            self._pos = 0
            self._splitter.reset()
        out: list[tuple[str, bool]] = []
        budget = _READ_PER_POLL
        while self._pos < size and budget > 0:
            self._file.seek(self._pos)
            data = self._file.read(min(_CHUNK, size - self._pos))
            if not data:
                break
            self._pos += len(data)
            budget -= len(data)
            out.extend(self._splitter.feed(data))
        if flush and self._pos >= size:
            out.extend(self._splitter.flush())
        return out

    @property
    def behind(self) -> bool:
        """True when unread bytes remain (the last read hit its budget)."""
        with contextlib.suppress(OSError):
            return os.fstat(self._file.fileno()).st_size > self._pos
        return False

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _tail_offset(file: BinaryIO, size: int, count: int) -> tuple[int, bool]:
    """Offset where the last ``count`` lines of ``file`` begin, and whether it is mid-line."""
    if count <= 0 or size == 0:
        return size, False
    end = size
    file.seek(size - 1)
    if file.read(1) == b"\n":
        end -= 1  # the final newline ends the last line; it does not start another
    pos = end
    found = 0
    while pos > 0 and size - pos < _TAIL_SCAN_BYTES:
        step = min(_CHUNK, pos)
        pos -= step
        file.seek(pos)
        block = file.read(step)
        index = len(block)
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            found += 1
            if found == count:
                return pos + index + 1, False
    return pos, pos > 0
