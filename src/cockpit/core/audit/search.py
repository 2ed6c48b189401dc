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
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cockpit.core.audit.query import AuditRecord, parse_record

#: Most bytes of matching lines read from the child; past it the search says so.
MAX_BYTES = 64 << 20


@dataclass(slots=True)
class SearchResult:
    """The last matching records (oldest first), how many match in the whole file, or
    why the search failed."""

    records: list[AuditRecord] = field(default_factory=list)
    matched: int | None = None
    error: str | None = None
    seconds: float = 0.0


async def search_file(path: str | os.PathLike[str], exprs: Sequence[str], limit: int, *,
                      max_bytes: int = MAX_BYTES) -> SearchResult:
    """The last ``limit`` records of ``path`` matching ``exprs`` and their number."""
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cockpit.core.audit.tail", os.fspath(path), str(limit),
        *exprs, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    result = SearchResult()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read(1 << 16))
        chunks: list[bytes] = []
        size = 0
        while chunk := await proc.stdout.read(1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                result.error = f"the matching records are over {max_bytes >> 20} MB"
                proc.kill()
                break
        status = await proc.wait()
        report = (await errors).decode("utf-8", "replace").strip()
    finally:
        if proc.returncode is None:  # cancelled: the scan stops with us
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.shield(proc.wait())
    for line in report.splitlines():
        if line.startswith("matched: ") and line[9:].isdigit():
            result.matched = int(line[9:])
        elif line.startswith("error: ") and result.error is None:
            result.error = line[7:]
    if status != 0 and result.error is None:
        result.error = report.splitlines()[-1] if report else f"search exited with {status}"
    data = b"".join(chunks)
    if result.error is not None:  # cut short: whole lines only
        data = data[: data.rfind(b"\n") + 1]
    result.records = await asyncio.to_thread(_parse, data)
    result.seconds = time.monotonic() - start
    return result


def _parse(data: bytes) -> list[AuditRecord]:
    records = []
    for line in data.split(b"\n"):
        number, tab, raw = line.partition(b"\t")
        if not tab:
            continue
        records.append(parse_record(raw, int(number) if number.isdigit() else None))
    return records
