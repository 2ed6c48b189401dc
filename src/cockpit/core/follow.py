"""Follow one file like ``tail -F``: backlog from the end, then new lines as they come;
rotation, truncation, partial lines and a path that does not exist yet. The one file
follower: log sources of kind ``file``, ``cockpit audit --follow`` and the local
backend's process output (``/proc/PID/fd/N``) use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator

from cockpit.core.backends.base import MAX_LINE_CHARS

_BLOCK = 64 * 1024
_CHUNK = 1 << 20
NOTICE_PREFIX = "[cockpit] "


class _Cut(bytes):
    """A line whose end was dropped while it was pending; ``cut`` counts the bytes."""

    cut: int


class Notice(str):
    """A status message of the follower itself (not a line of the file)."""


async def _pause(event: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` or until ``event`` is set, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


# --- file follower -----------------------------------------------------------------------


class FileFollower:
    """Follow a file like ``tail -F``: backlog from the end, then new lines as they come.

    Survives rotation (the path names a new inode: the old file is finished, the new
    one read from its start), truncation (restart from 0, also when the file grew past
    the old position again), partial lines (held until their newline, or flushed on
    rotation/truncation) and a path that does not exist yet. Polls with ``os.stat``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        backlog: int = 100,
        poll_interval: float = 0.25,
        max_line: int = MAX_LINE_CHARS,
        batch_max: int = 5000,
        *,
        chunk_size: int = _CHUNK,
        start: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        #: a byte offset to follow from instead of the backlog (what a caller already read)
        self.start = start
        self.backlog = max(0, backlog)
        self.poll_interval = poll_interval
        self.max_line = max(1, max_line)
        self.batch_max = max(1, batch_max)
        self.chunk_size = max(4096, chunk_size)
        self.bytes_read = 0  #: bytes read from disk so far (backlog included)
        self.status = "starting"  #: "following", "waiting for file", "cannot read: ..."
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._pos = 0
        self._last_byte = b""
        self._pending = b""
        self._pending_extra = 0
        self._draining = False

    def finish(self) -> None:
        """The writer is gone: read what is left (a partial last line too), then end."""
        self._draining = True
        if self._wake is not None:
            self._wake.set()

    def decode(self, raw: list[bytes]) -> list[str]:
        """Lines as text (what ``batches`` yields): UTF-8, long ones cut with a mark."""
        return self._decode(raw)

    async def close(self) -> None:
        """Stop following; the generator ends at its next poll."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()

    async def batches(self) -> AsyncIterator[list[str]]:
        """Decoded lines (UTF-8, errors replaced), long ones cut; notices as lines too."""
        async for item in self._items():
            if isinstance(item, Notice):
                yield [item]
            else:
                yield self._decode(item)

    async def raw_events(self) -> AsyncIterator[list[bytes] | str]:
        """Complete lines as bytes (no newline, no CR) and notices (rotation, truncation,
        read errors) as ``str``, in the order they happened."""
        async for item in self._items():
            if isinstance(item, Notice):
                yield str(item)
            else:
                yield [line[:-1] if line.endswith(b"\r") else line for line in item]

    async def raw_batches(self) -> AsyncIterator[list[bytes]]:
        """Complete lines as bytes (no newline, no CR); notices only go to ``status``."""
        async for item in self._items():
            if not isinstance(item, Notice):
                yield [line[:-1] if line.endswith(b"\r") else line for line in item]

    # -- internals ---------------------------------------------------------------------

    def _decode(self, raw: list[bytes]) -> list[str]:
        limit = self.max_line
        out: list[str] = []
        for line in raw:
            extra = getattr(line, "cut", 0)
            if line.endswith(b"\r"):
                line = line[:-1]
            text = line.decode("utf-8", "replace")
            if len(text) > limit or extra:
                extra += max(0, len(text) - limit)
                text = f"{text[:limit]}…[+{extra} chars]"  # the boundary's mark
            out.append(text)
        return out

    def _notice(self, status: str) -> Notice | None:
        changed = status != self.status
        self.status = status
        return Notice(NOTICE_PREFIX + f"{self.path}: {status}") if changed else None

    def _open(self) -> str | None:
        """Open the path; returns None on success, else a status (missing or error)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return "waiting for file"
        except OSError as exc:
            return f"cannot read: {exc.strerror or exc}"
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            return "cannot read: is a directory"
        ident = (st.st_dev, st.st_ino)
        self._fd = fd
        if ident != self._ident or st.st_size < self._pos:
            self._pos, self._last_byte = 0, b""  # a new file (a reopened one resumes)
        self._ident = ident
        return None

    def _close_fd(self, forget: bool = False) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if forget:
            self._ident = None

    def _add_pending(self, data: bytes) -> None:
        room = self.max_line * 4 - len(self._pending)
        if len(data) <= room:
            self._pending += data
        else:
            self._pending += data[: max(0, room)]
            self._pending_extra += len(data) - max(0, room)

    def _take_pending(self) -> bytes:
        line: bytes = self._pending
        if self._pending_extra:
            line = _Cut(line)
            line.cut = self._pending_extra  # type: ignore[attr-defined]
        self._pending = b""
        self._pending_extra = 0
        return line

    def _split(self, chunk: bytes, out: list[bytes]) -> None:
        if self._pending or self._pending_extra:
            nl = chunk.find(b"\n")
            if nl < 0:
                self._add_pending(chunk)
                return
            self._add_pending(chunk[:nl])
            out.append(self._take_pending())
            chunk = chunk[nl + 1 :]
        parts = chunk.split(b"\n")
        tail = parts.pop()
        out.extend(parts)
        if tail:
            self._add_pending(tail)

    def _read_backlog(self) -> list[bytes]:
        """The last ``backlog`` complete lines, reading backwards in growing blocks."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        self._pos = size
        if size == 0:
            return []
        need = self.backlog + 1
        cap = max(4 << 20, self.backlog * 4096, self.max_line * 8)
        pieces: list[bytes] = []
        start, newlines, block = size, 0, _BLOCK
        while start > 0:
            read_start = max(0, start - block)
            piece = os.pread(self._fd, start - read_start, read_start)
            self.bytes_read += len(piece)
            pieces.append(piece)
            newlines += piece.count(b"\n")
            start = read_start
            if newlines >= need or size - start >= cap:
                break
            block = min(block * 2, 8 << 20)
        data = b"".join(reversed(pieces))
        self._last_byte = data[-1:]
        parts = data.split(b"\n")
        tail = parts.pop()
        if start > 0:
            if parts:
                parts.pop(0)  # the fragment of a line that began before ``start``
            else:
                self._pending_extra = start  # one giant line: only its end was read
        if tail:
            self._add_pending(tail)
        return parts[-self.backlog :] if self.backlog else []

    def _read_new(self) -> list[bytes]:
        """Lines appended since the last read, up to about ``batch_max``."""
        assert self._fd is not None
        out: list[bytes] = []
        while len(out) < self.batch_max:
            chunk = os.pread(self._fd, self.chunk_size, self._pos)
            if not chunk:
                break
            self._pos += len(chunk)
            self.bytes_read += len(chunk)
            self._last_byte = chunk[-1:]
            self._split(chunk, out)
        return out

    def _truncated(self) -> bool:
        """The open file shrank, or was truncated and grew past our position again."""
        assert self._fd is not None
        if self._pos == 0:
            return False
        size = os.fstat(self._fd).st_size
        if size < self._pos:
            return True
        # Append-only files never change a byte already read; a different byte just
        # before our position means the file was truncated and rewritten (copytruncate).
        return os.pread(self._fd, 1, self._pos - 1) != self._last_byte

    def _rotated(self) -> bool:
        """The path now names another file than the one we hold open."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away and not recreated yet: keep reading the old file
        return (st.st_dev, st.st_ino) != self._ident

    def _flush_pending(self) -> list[bytes]:
        return [self._take_pending()] if (self._pending or self._pending_extra) else []

    async def _items(self) -> AsyncIterator[list[bytes] | Notice]:
        if self._wake is None:
            self._wake = asyncio.Event()
        first = True
        try:
            while not self._closed:
                if self._fd is None:
                    problem = self._open()
                    if problem is not None:
                        if self._draining:
                            return
                        notice = self._notice(problem)
                        if notice is not None and not problem.startswith("waiting"):
                            yield notice
                        first = False
                        await _pause(self._wake, self.poll_interval)
                        continue
                    self.status = "following"
                try:
                    if first and self.start is not None:
                        first = False
                        self._pos = min(self.start, os.fstat(self._fd).st_size)
                        if self._pos:
                            self._last_byte = os.pread(self._fd, 1, self._pos - 1)
                    if first:
                        first = False
                        lines = self._read_backlog()
                        for i in range(0, len(lines), self.batch_max):
                            yield lines[i : i + self.batch_max]
                    if self._truncated():
                        flushed = self._flush_pending()
                        self._pos, self._last_byte = 0, b""
                        if flushed:
                            yield flushed
                        yield Notice(f"{NOTICE_PREFIX}{self.path}: truncated, "
                                      "reading it from the start")
                    lines = self._read_new()
                    if not lines and self._rotated():
                        lines = self._read_new() + self._flush_pending()
                        self._close_fd(forget=True)
                        if lines:
                            yield lines
                        lines = []
                        yield Notice(f"{NOTICE_PREFIX}{self.path}: replaced by a new "
                                      "file (rotated), reading it from the start")
                        continue
                    if lines:
                        for i in range(0, len(lines), self.batch_max):
                            yield lines[i : i + self.batch_max]
                        await asyncio.sleep(0)  # let other tasks run between big batches
                        continue
                except OSError as exc:
                    self._close_fd()
                    notice = self._notice(f"cannot read: {exc.strerror or exc}")
                    if notice is not None:
                        yield notice
                    await _pause(self._wake, self.poll_interval)
                    continue
                if self._draining:
                    rest = self._flush_pending()
                    if rest:
                        yield rest
                    return
                if self._fd is not None:
                    await _pause(self._wake, self.poll_interval)
        finally:
            self._close_fd()
