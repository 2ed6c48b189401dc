"""The last N matching records of a big audit file, in order, in bounded memory.

``iter_tail(path, exprs, n)`` is what ``cockpit audit tail`` prints:

1. a small file is read forwards once; of a big one, the last ``BACKWARD_MAX`` bytes are
   read first (``-n 20`` of a busy filter finishes there);
2. otherwise the file is scanned forwards, split between forked workers (``query.
   _parallel_ranges``), each keeping only its own last ``n`` matches, when ``n`` is at
   most ``KEEP_MAX``;
3. for a larger ``n`` (every DENY of a day) the workers only count the matches, and the
   file is then read forwards once more, skipping the first ``matched - n`` and yielding
   the rest block by block: memory stays bounded whatever the number of matches.

Records come out with their 1-based line numbers, as ``scan_file`` gives them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cockpit.core.audit.query import (
    BLOCK,
    AuditRecord,
    RecordFilter,
    ScanResult,
    _blocks,
    _parallel_ranges,
    _Scanner,
    scan_file,
)

#: Most matches a worker keeps in memory; a larger ``n`` streams in a second pass.
KEEP_MAX = 10_000
#: Bytes read backwards from the end before the scan goes forwards in parallel.
BACKWARD_MAX = 4 * BLOCK


@dataclass(slots=True)
class TailSummary:
    """What the scan saw: matches in the whole file (when known) and malformed lines."""

    matched: int | None = None
    malformed: int = 0


def iter_tail(path: str | os.PathLike[str], exprs: Sequence[str], n: int,
              summary: TailSummary | None = None, *, numbered: bool = True
              ) -> Iterator[AuditRecord]:
    """The last ``n`` records of ``path`` matching ``exprs``, oldest first, streamed.
    ``numbered``: records carry their line numbers where the scan knows them cheaply
    (False spares counting lines for a big result: JSON output shows none).

    Raises ``FileNotFoundError``; ``UsageError`` for a bad expression (before yielding).
    """
    filt = RecordFilter(exprs)
    path = Path(path)
    summary = summary if summary is not None else TailSummary()
    if n <= 0:
        return
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= BACKWARD_MAX:  # small: one forward pass, lines numbered, all counted
            result = _keep_last(path, filt, n, numbered)
            summary.matched, summary.malformed = result.matched, result.malformed
            yield from result.records
            return
        near_end = _from_the_end(fh.fileno(), size, filt, n)
        if near_end is not None:
            summary.malformed = near_end.malformed
            yield from near_end.records
            return
    if n <= KEEP_MAX:
        yield from _kept_tail(path, filt, n, summary, numbered)
    else:
        yield from _streamed_tail(path, filt, n, summary, numbered)


def _from_the_end(fd: int, size: int, filt: RecordFilter, n: int) -> ScanResult | None:
    """The last ``n`` matches if the last ``BACKWARD_MAX`` bytes hold them, else None."""
    start = size - BACKWARD_MAX
    cut = os.pread(fd, 1 << 16, start).find(b"\n")
    if cut == -1:
        return None
    start += cut + 1
    out = ScanResult(total=None)
    scanner = _Scanner(filt, keep=True, count_lines=False)
    for data, stop in _blocks(fd, start, size):
        scanner.block(data, stop, None, out)
        if len(out.records) > n:
            del out.records[:-n]
    if len(out.records) < n:
        return None
    return out


def _keep_last(path: Path, filt: RecordFilter, n: int, numbered: bool) -> ScanResult:
    def run(fd: int, start: int, end: int) -> ScanResult:
        out = ScanResult()
        scanner = _Scanner(filt, keep=True, count_lines=numbered)
        lineno = 1
        for data, stop in _blocks(fd, start, end):
            scanner.block(data, stop, lineno if numbered else None, out)
            if numbered:
                lineno += data.count(b"\n", 0, stop)
            if len(out.records) > n:
                del out.records[:-n]
        return out

    def merge(parts: list[ScanResult]) -> ScanResult:
        out = ScanResult()
        offset = 0
        for part in parts:  # line numbers of each range count from its own start
            for rec in part.records:
                if rec.line is not None:
                    rec.line += offset
            offset += part.total or 0
            out.records.extend(part.records)
            out.matched += part.matched
            out.malformed += part.malformed
        out.total = offset
        del out.records[:-n]
        return out

    return _parallel_ranges(path, run, merge)


def _kept_tail(path: Path, filt: RecordFilter, n: int, summary: TailSummary,
               numbered: bool) -> Iterator[AuditRecord]:
    result = _keep_last(path, filt, n, numbered)
    summary.matched, summary.malformed = result.matched, result.malformed
    yield from result.records


def _streamed_tail(path: Path, filt: RecordFilter, n: int, summary: TailSummary,
                   numbered: bool) -> Iterator[AuditRecord]:
    if n > path.stat().st_size // 2:  # more than the file can hold lines: every match
        skip = 0                          # (a count would only tell what is not skipped)
    else:
        counted = scan_file(path, list(e.expr for e in filt.predicates), count_only=True)
        summary.matched = counted.matched
        skip = max(0, counted.matched - n)
    matched = 0
    scanner = _Scanner(filt, keep=True, count_lines=numbered)
    with path.open("rb") as fh:
        fd = fh.fileno()
        lineno = 1
        malformed = 0
        for data, stop in _blocks(fd, 0, os.fstat(fd).st_size):
            part = ScanResult()
            scanner.block(data, stop, lineno if numbered else None, part)
            if numbered:
                lineno += data.count(b"\n", 0, stop)
            malformed += part.malformed
            matched += part.matched
            records = part.records
            if skip:
                dropped = min(skip, len(records))
                skip -= dropped
                records = records[dropped:]
            yield from records
        summary.malformed = malformed
        if summary.matched is None:
            summary.matched = matched


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cockpit.core.audit.tail PATH N [EXPR ...]``: the last N matching lines
    as ``LINE<TAB>RAW`` (LINE empty where unknown), then ``matched: M`` (the whole file)
    on stderr. The Audit pane's whole-file search runs this: a separate process can fork
    its scan between the CPUs (the cockpit's own process has threads) and never holds the
    UI's interpreter lock. Raw lines, unredacted: the pane puts every cell through the
    boundary, as it does for the lines it follows."""
    import sys

    from cockpit.core.errors import CockpitError

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or not args[1].isdigit():
        print("usage: python -m cockpit.core.audit.tail PATH N [EXPR ...]", file=sys.stderr)
        return 2
    path, n, exprs = args[0], int(args[1]), args[2:]
    out = sys.stdout.buffer
    summary = TailSummary()
    try:
        batch: list[bytes] = []
        for rec in iter_tail(path, exprs, n, summary):
            line = b"" if rec.line is None else str(rec.line).encode()
            batch.append(line + b"\t" + rec.raw.encode("utf-8", "surrogateescape"))
            if len(batch) >= 1024:
                out.write(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            out.write(b"\n".join(batch) + b"\n")
        out.flush()
        matched = summary.matched
        if matched is None:
            matched = scan_file(path, exprs, count_only=True).matched
    except (OSError, CockpitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"matched: {matched}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
