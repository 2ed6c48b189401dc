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

``write_tail(path, exprs, n, render, out)`` is what the CLI prints: ``render`` of the
same records, a batch at a time; when ``n`` asks for every match of a big file, each
forked worker renders its own range (into a temporary file, copied in order), so the
printing is split between the CPUs too.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from cockpit.core.audit.query import (
    BATCH,
    BLOCK,
    PARALLEL_MIN,
    AuditRecord,
    RecordFilter,
    ScanResult,
    _blocks,
    _kill,
    _parallel_ranges,
    _Plain,
    _Scanner,
    _threads,
    _workers,
    scan_file,
)
from cockpit.core.audit.ranges import split_ranges

#: Most matches a worker keeps in memory; a larger ``n`` streams in a second pass.
KEEP_MAX = 10_000
#: Bytes read backwards from the end before the scan goes forwards in parallel.
BACKWARD_MAX = 4 * BLOCK


class TailSummary(_Plain):
    """What the scan saw: matches in the whole file (when known) and malformed lines."""

    __slots__ = ("malformed", "matched")

    def __init__(self, matched: int | None = None, malformed: int = 0) -> None:
        self.matched = matched
        self.malformed = malformed


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


def _from_the_end(fd: int, size: int, filt: RecordFilter, n: int, offsets: bool = False
                  ) -> ScanResult | None:
    """The last ``n`` matches if the last ``BACKWARD_MAX`` bytes hold them, else None
    (``offsets``: with each one's offset in the file)."""
    start = size - BACKWARD_MAX
    cut = os.pread(fd, 1 << 16, start).find(b"\n")
    if cut == -1:
        return None
    start += cut + 1
    out = ScanResult(total=None, offsets=[] if offsets else None)
    scanner = _Scanner(filt, keep=True, count_lines=False)
    pos = start
    for data, stop in _blocks(fd, start, size):
        scanner.block(data, stop, None, out, base=pos if offsets else None)
        pos += stop
        if len(out.records) > n:
            del out.records[:-n]
            if out.offsets is not None:
                del out.offsets[:-n]
    if len(out.records) < n:
        return None
    return out


def _keep_last(path: Path, filt: RecordFilter, n: int, numbered: bool,
               offsets: bool = False) -> ScanResult:
    """The last ``n`` matches and their counts, the file's ranges scanned in parallel;
    ``offsets``: each record's offset in the file too (``line_numbers`` numbers them)."""
    def run(fd: int, start: int, end: int) -> ScanResult:
        # The range's blocks last first: once they hold n matches, the blocks before them
        # are only counted (no record made, kept, then dropped: a third of a busy
        # filter's scan).
        out = ScanResult(offsets=[] if offsets else None)
        keeper = _Scanner(filt, keep=True, count_lines=numbered)
        counter = _Scanner(filt, keep=False, count_lines=numbered)
        kept: list[tuple[ScanResult, int]] = []  # a block's matches, its lines and after
        found = after = 0
        for data, stop, pos in _blocks_back(fd, start, end):
            part = ScanResult(offsets=[] if offsets else None)
            if found < n:  # numbered: from the block's first line, made right below
                keeper.block(data, stop, 1 if numbered else None, part,
                             base=pos if offsets else None)
            else:
                counter.block(data, stop, None, part)
            after += part.total or 0
            if part.records:
                kept.append((part, after))
                found += len(part.records)
            out.matched += part.matched
            out.malformed += part.malformed
        for part, lines in reversed(kept):
            if numbered:  # the lines before the block: all but it and those after it
                for rec in part.records:
                    rec.line += after - lines  # type: ignore[operator]
            out.records.extend(part.records)
            if out.offsets is not None and part.offsets is not None:
                out.offsets.extend(part.offsets)
        out.total = after
        del out.records[:-n]
        if out.offsets is not None:
            del out.offsets[:-n]
        return out

    def merge(parts: list[ScanResult]) -> ScanResult:
        out = ScanResult(offsets=[] if offsets else None)
        offset = 0
        for part in parts:  # line numbers of each range count from its own start
            for rec in part.records:
                if rec.line is not None:
                    rec.line += offset
            offset += part.total or 0
            out.records.extend(part.records)
            if out.offsets is not None and part.offsets is not None:
                out.offsets.extend(part.offsets)
            out.matched += part.matched
            out.malformed += part.malformed
        out.total = offset
        del out.records[:-n]
        if out.offsets is not None:
            del out.offsets[:-n]
        return out

    return _parallel_ranges(path, run, merge)


def _blocks_back(fd: int, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(data, stop, offset) for blocks of whole lines of [start, end), the last first;
    ``start`` begins a line. As with ``_blocks``, ``data`` may hold bytes after ``stop``:
    reads of one size reuse their memory (of varying sizes they took 3.5 times as long)."""
    while end > start:
        low = max(start, end - BLOCK)
        if low > start:  # where a line starts in the block's first bytes
            cut = os.pread(fd, min(4096, end - low), low).find(b"\n", 0, end - low - 1)
            if cut == -1:  # none in its first 4 KiB: the block grows backwards until one
                low = _line_start(fd, start, low, end)
            else:
                low += cut + 1
        data = os.pread(fd, max(BLOCK, end - low), low)
        if len(data) < end - low:  # the file was cut meanwhile
            return
        yield data, end - low, low
        end = low


def _line_start(fd: int, start: int, low: int, end: int) -> int:
    """The first line start after ``start`` in [low, end - 1), looking further back from
    ``low`` as long as there is none; ``start`` if none."""
    while True:
        low = max(start, low - BLOCK)
        if low == start:
            return start
        cut = os.pread(fd, end - low, low).find(b"\n", 0, end - low - 1)
        if cut != -1:
            return low + cut + 1


def line_numbers(path: str | os.PathLike[str], offsets: list[int]) -> list[int]:
    """The 1-based numbers of the lines starting at ``offsets`` (ascending): the newlines
    before each, counted in the file's ranges between forked workers (a count in C a
    block; nothing done per line). Shorter than ``offsets`` if the file was cut meanwhile."""
    if not offsets:
        return []

    def run(fd: int, start: int, end: int) -> tuple[int, list[int]]:
        mine = offsets[bisect_left(offsets, start):bisect_left(offsets, end)]
        lines = 0
        got: list[int] = []
        k = 0
        pos = start
        for data, stop in _blocks(fd, start, end):
            last = 0
            limit = pos + stop
            while k < len(mine) and mine[k] < limit:
                rel = mine[k] - pos
                lines += data.count(b"\n", last, rel)
                last = rel
                got.append(lines)
                k += 1
            lines += data.count(b"\n", last, stop)
            pos = limit
        return lines, got

    def merge(parts: list[tuple[int, list[int]]]) -> list[int]:
        numbers: list[int] = []
        before = 1
        for lines, got in parts:
            numbers.extend(before + g for g in got)
            before += lines
        return numbers

    # the numbers are right only if each range answered for every offset in it
    got = _parallel_ranges(Path(path), run, merge, end=offsets[-1] + 1)
    return got if len(got) == len(offsets) else got[:0]


def _kept_tail(path: Path, filt: RecordFilter, n: int, summary: TailSummary,
               numbered: bool) -> Iterator[AuditRecord]:
    result = _keep_last(path, filt, n, numbered)
    summary.matched, summary.malformed = result.matched, result.malformed
    yield from result.records


def most_matches(size: int, filt: RecordFilter) -> int:
    """The most matches a file of ``size`` bytes can hold: a line that matches is at
    least one byte and its newline, a record (all a field predicate matches) ``{}``."""
    if any(p.op != "text" for p in filt.predicates):
        return (size + 1) // 3
    return (size + 1) // 2


def _streamed_tail(path: Path, filt: RecordFilter, n: int, summary: TailSummary,
                   numbered: bool) -> Iterator[AuditRecord]:
    if n >= most_matches(path.stat().st_size, filt):  # every match
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


#: Turns a batch of matches into the bytes to print: each line as read, and its object
#: (a dict) or, for a malformed line, its ``AuditRecord``.
Render = Callable[[list[bytes], list[Any]], bytes]


def write_tail(path: str | os.PathLike[str], exprs: Sequence[str], n: int, render: Render,
               out: BinaryIO, summary: TailSummary | None = None, *,
               numbered: bool = True) -> None:
    """Write ``render`` of the last ``n`` matches of ``path``, oldest first, to ``out``:
    what rendering ``iter_tail``'s records a batch at a time gives, byte for byte.

    When ``n`` exceeds any possible number of lines (every match of a big file), the
    file is split between forked workers that each render their own range; the first
    range is written as it is rendered, the others (each kept in a temporary file) are
    copied after it, in order: both CPUs work, memory stays bounded. ``render`` must not
    depend on the batches before it (the boundary's JSON and text are line by line)."""
    path = Path(path)
    summary = summary if summary is not None else TailSummary()
    if n <= 0:
        return
    filt = RecordFilter(exprs)
    size = path.stat().st_size
    if size > BACKWARD_MAX and n > KEEP_MAX and n >= most_matches(size, filt):
        _write_every_match(path, filt, render, out, summary, numbered)
        return
    lines: list[bytes] = []
    items: list[Any] = []
    for rec in iter_tail(path, exprs, n, summary, numbered=numbered):
        if rec.data is None:
            lines.append(b"")
            items.append(rec)
        else:
            lines.append(rec.raw.encode())
            items.append(rec.data)
        if len(lines) >= BATCH:
            out.write(render(lines, items))
            lines, items = [], []
    if lines:
        out.write(render(lines, items))


def _write_every_match(path: Path, filt: RecordFilter, render: Render, out: BinaryIO,
                       summary: TailSummary, numbered: bool) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        workers = _workers()
        if (size < PARALLEL_MIN or workers < 2 or not hasattr(os, "fork")
                or _threads() > 1):
            ranges = [(0, size)]
        else:
            ranges = split_ranges(fd, size, workers)
        children: list[tuple[int, int, BinaryIO | None, tuple[int, int]]] = []
        matched = malformed = 0
        try:
            for rng in ranges[1:]:
                try:
                    children.append(_fork_renderer(fd, rng, filt, render, numbered))
                except OSError:  # no temporary file, no fork: this range is done here
                    children.append((0, -1, None, rng))
            got = _render_range(fd, *ranges[0], filt, render, out.write, numbered)
            matched, malformed = got
            while children:
                pid, rfd, spool, rng = children.pop(0)
                try:
                    got = _spooled(pid, rfd) if spool is not None else None
                    if got is None:  # the worker failed (or none ran): done here
                        got = _render_range(fd, *rng, filt, render, out.write, numbered)
                    else:
                        assert spool is not None
                        spool.seek(0)
                        while chunk := spool.read(1 << 20):
                            out.write(chunk)
                finally:
                    if spool is not None:
                        spool.close()
                matched += got[0]
                malformed += got[1]
        finally:
            for pid, rfd, spool, _ in children:  # interrupted: stop the other workers
                if spool is not None:
                    _kill(pid, rfd)
                    spool.close()
        summary.matched, summary.malformed = matched, malformed
    finally:
        os.close(fd)


def _render_range(fd: int, start: int, end: int, filt: RecordFilter, render: Render,
                  write: Callable[[bytes], Any], numbered: bool) -> tuple[int, int]:
    """Render the matches of [start, end) with ``write``; (matched, malformed)."""
    scanner = _Scanner(filt, keep=True, count_lines=False)
    matched = malformed = 0
    before = [-1]  # lines before ``start``: counted only for a malformed match
    block_start = [start]

    def first_line() -> int:
        if before[0] < 0:
            before[0] = sum(data.count(b"\n", 0, stop) for data, stop in _blocks(fd, 0, start))
        return before[0] + 1 + _count_lines(fd, start, block_start[0])

    lines: list[bytes] = []
    items: list[Any] = []
    pos = start
    for data, stop in _blocks(fd, start, end):
        block_start[0] = pos
        got = scanner.pick(data, stop, lines, items, first_line if numbered else None)
        matched += got[0]
        malformed += got[1]
        pos += stop
        if len(lines) >= BATCH:
            write(render(lines, items))
            lines, items = [], []
    if lines:
        write(render(lines, items))
    return matched, malformed


def _count_lines(fd: int, start: int, end: int) -> int:
    return sum(data.count(b"\n", 0, stop) for data, stop in _blocks(fd, start, end))


def _fork_renderer(fd: int, rng: tuple[int, int], filt: RecordFilter, render: Render,
                   numbered: bool) -> tuple[int, int, BinaryIO, tuple[int, int]]:
    """A forked child rendering ``rng`` into a temporary file; (matched, malformed) are
    pickled into a pipe when it is done."""
    import tempfile  # only where every match is printed

    spool: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the caller)
    try:
        rfd, wfd = os.pipe()
    except OSError:
        spool.close()
        raise
    try:
        pid = os.fork()
    except OSError:
        spool.close()
        os.close(rfd)
        os.close(wfd)
        raise
    if pid == 0:  # child: never returns
        os.close(rfd)
        code = 0
        try:
            sink = spool.fileno()

            def write(chunk: bytes) -> None:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(sink, view):]

            payload = pickle.dumps(("ok", _render_range(fd, *rng, filt, render, write,
                                                        numbered)))
        except BaseException as exc:  # reported to the parent
            payload = pickle.dumps(("err", repr(exc)))
            code = 1
        try:
            os.write(wfd, payload)
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd, spool, rng


def _spooled(pid: int, rfd: int) -> tuple[int, int] | None:
    """A rendering worker's (matched, malformed), None if it failed."""
    chunks = []
    try:
        while data := os.read(rfd, 1 << 16):
            chunks.append(data)
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
    try:
        status, value = pickle.loads(b"".join(chunks))
    except Exception:  # a worker that died
        return None
    return value if status == "ok" else None


def _unnumbered_tail(path: Path, filt: RecordFilter, n: int, summary: TailSummary
                     ) -> tuple[list[AuditRecord], list[int]]:
    """``iter_tail``'s records of a big file for ``n`` at most ``KEEP_MAX``, without line
    numbers (each would cost a count of every line before it), with their offsets."""
    with path.open("rb") as fh:
        fd = fh.fileno()
        near_end = _from_the_end(fd, os.fstat(fd).st_size, filt, n, offsets=True)
    if near_end is not None:  # (then counted: as fast as the kept tail, side by side)
        summary.malformed = near_end.malformed
        return near_end.records, near_end.offsets or []
    result = _literal_tail(path, filt, n) or _keep_last(path, filt, n, False, offsets=True)
    summary.matched, summary.malformed = result.matched, result.malformed
    return result.records, result.offsets or []


def _literal_tail(path: Path, filt: RecordFilter, n: int) -> ScanResult | None:
    """``_keep_last``'s answer (with offsets) from the prefilter's candidate lines as
    ``literal_scan`` finds them (forked children, ``memmem`` over the mapped file: a
    trace id's query in a third of the time), matched by the same ``_Scanner``; None
    where that scan does not answer (no literal, a small file, too many candidates, a
    process with threads): then the normal scan."""
    pre = filt.prefilter()
    if pre is None or pre.literal is None or _threads() > 1:
        return None
    from cockpit.core.audit import literal_scan

    scan = literal_scan.start(os.fspath(path), pre.literal, pre.ignore_case,
                              min_size=literal_scan.MIN_SIZE, escapes=pre.escapes)
    if scan is None:
        return None
    try:
        found = scan.spans()
    finally:
        scan.cancel()
    if found is None:
        return None
    offsets, lines = found
    block = b"\n".join(lines)
    out = ScanResult(offsets=[])
    _Scanner(filt, keep=True, count_lines=False).block(block, len(block), None, out, base=0)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    out.offsets = [offsets[bisect_right(starts, at) - 1] for at in out.offsets or []]
    del out.records[:-n], out.offsets[:-n]
    return out


#: How far the search process lowers its priority once its answer is sent: the line
#: numbers it counts then yield the CPU to the UI putting that answer on screen.
NICE = 10


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cockpit.core.audit.tail PATH N [EXPR ...]`` (or ``-``: those as a JSON
    list, one line on stdin, for a process started ahead): the last N matching lines
    as ``LINE<TAB>RAW`` (LINE empty where not known yet), then ``matched: M`` (matches in
    the whole file), then, if some lines came unnumbered, ``lines: L1 L2 ...`` (the
    number of each line above, in order), on stdout; errors on stderr.

    The Audit pane's whole-file search runs this: a separate process can fork its scan
    between the CPUs (the cockpit's own process has threads) and never holds the UI's
    interpreter lock. The answer comes before its line numbers: numbering a line costs a
    count of every line before it, which a big file's answer then waits for no more. Raw
    lines, unredacted: the pane puts every cell through the boundary, as it does for the
    lines it follows. Lowers the process's priority (``NICE``) once the answer is sent."""
    import sys

    from cockpit.core.errors import CockpitError

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["-"]:  # started ahead: the arguments come as a JSON list on stdin
        import orjson

        line = sys.stdin.buffer.readline()
        if not line.strip():  # not needed after all
            return 0
        try:
            args = [str(arg) for arg in orjson.loads(line)]
        except (orjson.JSONDecodeError, TypeError):
            args = []
    if len(args) < 2 or not args[1].isdigit():
        print("usage: python -m cockpit.core.audit.tail PATH N [EXPR ...]", file=sys.stderr)
        return 2
    path, n, exprs = Path(args[0]), int(args[1]), args[2:]
    out = sys.stdout.buffer
    summary = TailSummary()
    try:
        filt = RecordFilter(exprs)
        offsets: list[int] = []
        if 0 < n <= KEEP_MAX and path.stat().st_size > BACKWARD_MAX:
            records, offsets = _unnumbered_tail(path, filt, n, summary)
        else:  # a small file is numbered as it is read; a big answer as it streams
            records = iter_tail(path, exprs, n, summary)  # type: ignore[assignment]
        batch: list[bytes] = []
        for rec in records:
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
        out.write(b"matched: %d\n" % matched)
        out.flush()
        if offsets:
            with contextlib.suppress(OSError):  # (not allowed: counted as we are)
                os.nice(NICE)
            numbers = line_numbers(path, offsets)
            if numbers:
                out.write(b"lines: " + " ".join(map(str, numbers)).encode() + b"\n")
                out.flush()
    except (OSError, CockpitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
