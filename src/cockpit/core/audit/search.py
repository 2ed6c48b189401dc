"""Search a whole audit file without stalling the caller: the last N matching records and
how many match, from a separate process (``python -m cockpit.core.audit.tail``).

The Audit pane filters what it has loaded at once; this answers for the whole file,
however big: the child forks its scan between the CPUs (a process with threads must not
fork) and holds none of the caller's interpreter lock. Output is bounded (``max_bytes``);
cancelling the search kills the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import orjson

from cockpit.core.audit.query import AuditRecord, parse_record

#: Most bytes of matching lines read from the child; past it the search says so.
MAX_BYTES = 64 << 20


class Answer(Sequence[AuditRecord]):
    """The search's records, each parsed when first asked for (in whichever thread asks:
    the last rows shown first need not wait for the others), numbered once ``number``
    has given the numbers."""

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self._records: list[AuditRecord | None] = [None] * len(lines)
        self._numbers: list[int] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> AuditRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[AuditRecord]: ...

    def __getitem__(self, index: int | slice) -> AuditRecord | list[AuditRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        rec = self._records[index]
        if rec is None:
            number, _, raw = self._lines[index].partition(b"\t")
            rec = parse_record(raw, int(number) if number.isdigit() else None)
            with self._lock:
                if self._numbers is not None:
                    rec.line = self._numbers[index]
                self._records[index] = rec
        return rec

    def number(self, numbers: list[int]) -> None:
        """Give each record its line number (``numbers`` in order, one a record)."""
        with self._lock:
            self._numbers = numbers
            for rec, line in zip(self._records, numbers, strict=True):
                if rec is not None:
                    rec.line = line


@dataclass(slots=True)
class SearchResult:
    """The last matching records (oldest first), how many match in the whole file, or
    why the search failed. Where the records came before their line numbers, the search
    process is still counting them: ``numbered`` reads them, ``close`` stops it; one of
    the two must be awaited."""

    records: Sequence[AuditRecord] = field(default_factory=list)
    matched: int | None = None
    error: str | None = None
    seconds: float = 0.0
    _proc: asyncio.subprocess.Process | None = None
    _errors: asyncio.Future[bytes] | None = None
    _rest: bytes = b""

    @property
    def counting(self) -> bool:
        """Is the search process still to be read (or stopped)?"""
        return self._proc is not None

    async def numbered(self) -> None:
        """Return once the records carry the line numbers the search gives (at once if
        they came numbered); the process is reaped, however this returns."""
        proc, self._proc = self._proc, None
        if proc is not None:
            assert self._errors is not None and isinstance(self.records, Answer)
            await _number(proc, self._errors, self._rest, self.records)

    async def close(self) -> None:
        """Stop the search process (if still counting) and reap it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await _reap(proc)


#: What the search process prints after the records (``cockpit.core.audit.tail.main``).
_MATCHED, _LINES = b"matched: ", b"lines: "


async def start_spare() -> asyncio.subprocess.Process:
    """A search process started ahead of its query (``search_file(..., spare=)``), which
    it waits for on stdin: the interpreter's start and the imports (~50 ms of CPU) are
    done while the operator types the filter. ``stop_spare`` ends one not used."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cockpit.core.audit.tail", "-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)


async def stop_spare(proc: asyncio.subprocess.Process) -> None:
    """End a spare search process (idle: killing it loses nothing) and reap it."""
    if proc.stdin is not None:
        proc.stdin.close()
    await _reap(proc)


async def _ask(spare: asyncio.subprocess.Process, args: list[str]) -> bool:
    """Send ``args`` to a spare process; False if it cannot take them (gone)."""
    if spare.returncode is not None or spare.stdin is None:
        return False
    try:
        spare.stdin.write(orjson.dumps(args) + b"\n")
        await spare.stdin.drain()
        spare.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


async def search_file(path: str | os.PathLike[str], exprs: Sequence[str], limit: int, *,
                      max_bytes: int = MAX_BYTES,
                      spare: asyncio.subprocess.Process | None = None) -> SearchResult:
    """The last ``limit`` records of ``path`` matching ``exprs`` and their number,
    returned as soon as the search process (``spare`` if it can take the query, see
    ``start_spare``) has sent both; line numbers that come after them are put on the
    records by ``SearchResult.numbered``."""
    start = time.monotonic()
    args = [os.fspath(path), str(limit), *exprs]
    try:
        asked = spare is not None and await _ask(spare, args)
        if spare is not None and not asked:
            await _reap(spare)
    except BaseException:  # cancelled: the spare goes too
        if spare is not None:
            _kill(spare)
        raise
    if asked:
        assert spare is not None
        proc = spare
    else:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cockpit.core.audit.tail", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)  # a group of its own
    result = SearchResult()
    handed = False
    try:
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read(1 << 16))
        data = bytearray()
        mark = -1
        while chunk := await proc.stdout.read(1 << 20):
            seen = len(data)
            data += chunk
            mark = _control(data, max(0, seen - len(_MATCHED)))
            if mark >= 0:
                break
            if len(data) > max_bytes:
                result.error = f"the matching records are over {max_bytes >> 20} MB"
                _kill(proc)
                break
        if mark >= 0:  # the records and their number: the rest (line numbers) follows
            while data.find(b"\n", mark) == -1 and (chunk := await proc.stdout.read(1 << 16)):
                data += chunk
            end = data.find(b"\n", mark)
            count = bytes(data[mark + len(_MATCHED): end if end >= 0 else len(data)])
            if end >= 0 and count.isdigit():
                result.matched = int(count)
                result.records = records = Answer(bytes(data[:mark]).split(b"\n")[:-1])
                result.seconds = time.monotonic() - start
                result._proc, result._errors = proc, errors
                result._rest = bytes(data[end + 1:])
                handed = True
                return result
        status = await proc.wait()
        report = (await errors).decode("utf-8", "replace").strip()
    finally:
        if not handed:  # cancelled: the scan stops with us
            await _reap(proc)
    for line in report.splitlines():
        if line.startswith("error: ") and result.error is None:
            result.error = line[7:]
    if result.error is None:
        result.error = (report.splitlines()[-1] if report and status != 0
                        else f"search exited with {status} before counting")
    # cut short or failed: the whole lines before it, numbered where they came so
    records = data[:mark] if mark >= 0 else data[: data.rfind(b"\n") + 1]
    result.records = await asyncio.to_thread(_parse, bytes(records))
    result.seconds = time.monotonic() - start
    return result


def _control(data: bytearray, start: int) -> int:
    """Where the ``matched:`` line begins in ``data`` (searched from ``start``), or -1.
    A record's line always holds a tab (``LINE<TAB>RAW``), so no record begins so."""
    if start == 0 and data.startswith(_MATCHED):
        return 0
    at = data.find(b"\n" + _MATCHED, start)
    return at + 1 if at >= 0 else -1


async def _number(proc: asyncio.subprocess.Process, errors: asyncio.Future[bytes],
                  data: bytes, records: Answer) -> None:
    """Read the rest of the search's output (``lines: ...``) and number ``records``;
    the process is reaped when this returns, however it returns (killed if cut short)."""
    assert proc.stdout is not None
    try:
        data += await proc.stdout.read()
        await proc.wait()
        with contextlib.suppress(Exception):
            await errors
        for line in data.split(b"\n"):
            if line.startswith(_LINES):
                numbers = line[len(_LINES):].split()
                if len(numbers) == len(records) and all(map(bytes.isdigit, numbers)):
                    records.number([int(number) for number in numbers])
    finally:
        await _reap(proc)  # cancelled: the count stops with us


def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the search process's group: the workers it forked too (else they go on to
    the end of their ranges)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Kill ``proc`` if it still runs and wait for it, cancelled or not meanwhile (then
    cancelled once it is reaped): a process the loop has not reaped when it closes is
    reported at exit ('Event loop is closed'); asyncio.run cancels the tasks left again."""
    if proc.returncode is None:
        _kill(proc)
    cancelled = False
    while proc.returncode is None:
        try:
            await asyncio.shield(proc.wait())
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _parse(data: bytes) -> list[AuditRecord]:
    records = []
    for line in data.split(b"\n"):
        number, tab, raw = line.partition(b"\t")
        if not tab:
            continue
        records.append(parse_record(raw, int(number) if number.isdigit() else None))
    return records
