"""The candidate lines of a big file for one prefilter literal, found by forked children
that start before the CLI has imported its machinery, and matched by another.

``cockpit audit tail FILE --where trace_id=ID --json`` spent most of its time on the
scan and on imports, which do not depend on each other. ``start(path, literal,
ignore_case)`` (stdlib only, cheap to import) forks one child per CPU; each maps its own
range of the file and sends back, in file order, every line the query's own prefilter
(``query._candidate_lines``) would hand to the parser: the lines that hold ``literal``
(ASCII case-insensitively with ``ignore_case``, as the prefilter's bytes regex does) and,
with ``escapes`` (a field's value: ``Predicate.escapes``), the lines that hold a
backslash (any JSON escape; free text is matched on the raw line and needs no such
pass). ``LiteralScan.start_matcher`` forks
one more child, the ``Matcher``: it imports the filter (``query``, orjson) while the
parent imports the renderer, then parses and matches the candidates with the normal
path's own ``_Scanner.pick`` and sends the last ``n`` matches back. Each step answers
None where it cannot stand in for the normal path exactly (a child failed, too many
candidates, the filter's prefilter is not ``literal``, a bad expression): the normal
path then answers from the start. Only the candidates are parsed, by the same code, so
the records are the same by construction.
"""

from __future__ import annotations

import mmap
import os

from cockpit.core.audit.ranges import split_ranges
from cockpit.core.audit.ranges import workers as _workers  # (tests patch it here)

TYPE_CHECKING = False  # (typing is ~10 ms: not before the children start)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Files smaller than this are left to the normal scan (it is fast there).
MIN_SIZE = 16 << 20
#: Candidate bytes a child sends back at most; more and the normal path runs (it
#: streams: the matches of a rare literal are what this path is for).
MAX_BYTES = 4 << 20
#: The literal's shortest searched piece (with ``ignore_case``, its longest run of
#: bytes that are not ASCII letters; a hex id's is short): shorter finds too many places.
MIN_KEY = 3
#: Places a child checks at most (the piece found, its line not yet a candidate):
#: more and the normal path runs (a short piece that is everywhere in this file).
MAX_HITS = 50_000
#: Bytes of the mapping searched at a time (then let go): the children's resident memory.
WINDOW = 8 << 20
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)

_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def search_key(literal: bytes, ignore_case: bool) -> bytes | None:
    """The bytes searched for: every line holding ``literal`` holds them.

    Exact: the literal without its surrounding quotes (a long needle skips further
    than one that ends on a frequent ``"``). Case-insensitive: its longest run without
    an ASCII letter (the bytes no case folding changes). None if shorter than
    ``MIN_KEY``."""
    if ignore_case:
        best = b""
        run = bytearray()
        for byte in literal + b"A":
            if byte in _LETTERS:
                if len(run) > len(best):
                    best = bytes(run)
                run.clear()
            else:
                run.append(byte)
        key = best
    else:
        key = literal[1:-1] if literal[:1] == literal[-1:] == b'"' and len(literal) > 2 \
            else literal
    return key if len(key) >= MIN_KEY and b"\n" not in key else None


def find_spans(fd: int, start: int, end: int, literal: bytes, ignore_case: bool,
               max_bytes: int = MAX_BYTES, escapes: bool = True
               ) -> list[tuple[int, bytes]] | None:
    """(offset in the file, line) of each candidate line of [start, end) (which starts
    at a line), in order, without their newlines; None if they hold more than
    ``max_bytes`` or ``literal`` has no searchable key. ``escapes``: the lines holding a
    backslash are candidates too."""
    key = search_key(literal, ignore_case)
    if key is None:
        return None
    if end <= start:
        return []
    base = start - start % mmap.ALLOCATIONGRANULARITY
    # a private mapping (written only where strstr's searches end, a byte put back at
    # once) is a writable buffer, the kind ctypes can hand to the C library
    mm = mmap.mmap(fd, end - base, access=mmap.ACCESS_COPY, offset=base)
    memmem = _memmem(mm) if len(key) >= STRSTR_BELOW or b"\0" in key else _strstr(mm)
    try:
        lo, hi = start - base, end - base
        find, rfind = mm.find, mm.rfind
        find_key = memmem[0] if memmem is not None else find
        want = literal.lower() if ignore_case else literal
        offset = want.find(key)  # every occurrence of the literal has the key there
        found: dict[int, bytes] = {}
        total = hits = 0
        # window by window, each let go once searched (MADV_DONTNEED: the pages stay
        # cached, out of this process's resident set): memory bounded by WINDOW
        searches = [[key, find_key, True, lo]]
        if escapes:  # (a second pass over the mapping: a tenth of a trace id's time)
            searches.append([b"\\", find, False, lo])
        window = lo
        while window < hi:
            stop = min(hi, window - window % WINDOW + WINDOW)
            for search in searches:
                needle, finder, check, pos = search
                limit = min(hi, stop + len(needle) - 1)  # a key across the edge
                while pos < stop:
                    i = finder(needle, pos, limit)
                    if i == -1:
                        pos = stop
                        break
                    if check:  # the literal where the key puts it? (else a miss: on)
                        at = i - offset
                        piece = mm[at:at + len(want)] if lo <= at <= hi - len(want) else b""
                        if (piece.lower() if ignore_case else piece) != want:
                            hits += 1
                            if hits > MAX_HITS:
                                return None
                            pos = i + 1
                            continue
                    s = rfind(b"\n", lo, i) + 1 or lo
                    e = find(b"\n", i, hi)
                    if e == -1:
                        e = hi
                    pos = e + 1
                    if s in found:
                        continue
                    line = mm[s:e]
                    if check and want not in (line.lower() if ignore_case else line):
                        hits += 1
                        if hits > MAX_HITS:
                            return None
                        continue
                    found[s] = line
                    total += len(line) + 1
                    if total > max_bytes:
                        return None
                search[3] = pos
            if _DONTNEED is not None:
                edge = window - window % mmap.PAGESIZE
                mm.madvise(_DONTNEED, edge, stop - edge)
            window = stop
        return [(base + s, found[s]) for s in sorted(found)]
    finally:
        memmem = find_key = None  # the buffer's export, before the mapping closes
        mm.close()


def _memmem(mm: mmap.mmap) -> tuple[Callable[[bytes, int, int], int], object] | None:
    """``find(needle, pos, end)`` over ``mm`` by the C library's ``memmem`` (two to four
    times as fast as ``bytes.find`` for a 36-byte id: ``rg``'s speed), with the ctypes
    buffer it reads (kept alive with it); None where there is no ``memmem``."""
    try:
        import ctypes

        memmem = ctypes.CDLL(None).memmem
        buf = (ctypes.c_char * len(mm)).from_buffer(mm)
    except (ImportError, OSError, AttributeError, TypeError, ValueError):
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    addr = ctypes.addressof(buf)

    def find(needle: bytes, pos: int, end: int) -> int:
        if end - pos < len(needle):
            return -1
        at = memmem(addr + pos, end - pos, needle, len(needle))
        return -1 if not at else at - addr

    return find, buf


#: Bytes at the end of the file that ``looks_rare`` reads.
SAMPLE = 1 << 20


def looks_rare(fd: int, size: int, literal: bytes, ignore_case: bool,
               escapes: bool = True) -> bool:
    """Whether a scan for ``literal`` is likely to answer, judged on the file's last
    ``SAMPLE`` bytes: its candidate lines (those with the literal or a backslash) under
    half of ``MAX_BYTES``, and the key's other places under half of ``MAX_HITS``, when
    the sample's share is scaled to the whole file. Else the children would give up
    after a good part of their scan (a ``decision=DENY`` query: a tenth of the lines),
    and the normal path would start only then."""
    key = search_key(literal, ignore_case)
    at = max(0, size - SAMPLE)
    sample = os.pread(fd, size - at, at)
    if key is None or not sample:
        return key is not None
    scale = size / len(sample)
    line_bytes = len(sample) / (sample.count(b"\n") or 1)
    escapes = sample.count(b"\\") if escapes else 0  # (a line per backslash at most)
    places = sample.count(key)  # (every occurrence of the literal is one of them)
    if (places + escapes) * line_bytes * scale <= MAX_BYTES / 2 and places * scale <= (
            MAX_HITS / 2):
        return True  # (without the literal's own count: a case-insensitive one lowers)
    if ignore_case:
        sample, literal = sample.lower(), literal.lower()
    found = sample.count(literal)
    return ((found + escapes) * line_bytes * scale <= MAX_BYTES / 2
            and (places - found) * scale <= MAX_HITS / 2)


#: Keys shorter than this are searched by ``strstr`` (SIMD: 10 ms for 250 MB whatever the
#: length, where ``memmem`` takes 55 ms for a 4-byte key, 17 for 16 bytes, 11.5 for 36).
STRSTR_BELOW = 32


def _strstr(mm: mmap.mmap) -> tuple[Callable[[bytes, int, int], int], object] | None:
    """``_memmem``'s ``find(needle, pos, end)`` by the C library's ``strstr``, which
    stops at a NUL byte: each search ends at a NUL written over the byte at ``end`` (the
    private mapping's page copied; the byte put back after). A search that finds
    nothing asks ``memchr`` whether a NUL of the data stopped it first, and goes on
    after that one (so the data is read a second time only after the last hit). At the
    mapping's very end the NUL goes over its last byte, and a key ending there is
    looked for by ``memmem``. None where the C library has no ``strstr``, ``memchr`` or
    ``memmem``."""
    tail = _memmem(mm)
    if tail is None:
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        strstr, memchr = libc.strstr, libc.memchr
        buf = (ctypes.c_char * len(mm)).from_buffer(mm)
    except (ImportError, OSError, AttributeError, TypeError, ValueError):
        return None
    strstr.restype = memchr.restype = ctypes.c_void_p
    strstr.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    memchr.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    addr = ctypes.addressof(buf)
    size = len(mm)
    find_tail = tail[0]

    def find(needle: bytes, pos: int, end: int) -> int:
        n = len(needle)
        term = end if end < size else end - 1  # where this search's NUL goes
        while term - pos >= n:
            saved = mm[term]
            mm[term] = 0
            try:
                hit = strstr(addr + pos, needle)
            finally:
                mm[term] = saved
            if hit:  # (before the first NUL: inside [pos, term))
                return hit - addr
            nul = memchr(addr + pos, 0, term - pos)  # a NUL of the data stopped it?
            if not nul:
                break
            pos = nul - addr + 1
        return find_tail(needle, max(pos, end - n), end) if term < end else -1

    return find, (buf, tail[1])


class LiteralScan:
    """Forked children finding candidate lines; ``lines()`` collects them once."""

    def __init__(self, path: str, literal: bytes, ignore_case: bool,
                 children: list[tuple[int, int]], escapes: bool = True) -> None:
        self.path = path
        self.literal = literal
        self.ignore_case = ignore_case
        self.escapes = escapes
        self._children = children

    def lines(self) -> list[bytes] | None:
        """Every candidate line of the file, in order; None if the scan failed."""
        spans = self.spans()
        return None if spans is None else spans[1]

    def spans(self) -> tuple[list[int], list[bytes]] | None:
        """(offsets, lines): every candidate line of the file, in order, and where each
        starts; None if the scan failed."""
        offsets: list[int] = []
        out: list[bytes] = []
        ok = True
        while self._children:
            pid, rfd = self._children.pop(0)
            chunks = []
            try:
                while data := os.read(rfd, 1 << 20):
                    chunks.append(data)
            finally:
                os.close(rfd)
                _, status = os.waitpid(pid, 0)
            payload = b"".join(chunks)
            if status != 0 or not payload.startswith(b"OK\n"):
                ok = False
            elif ok:  # "OFFSET<TAB>LINE" each (a line holds no newline)
                for record in payload[3:].split(b"\n")[:-1]:
                    at, _, line = record.partition(b"\t")
                    offsets.append(int(at))
                    out.append(line)
        return (offsets, out) if ok else None

    def start_matcher(self, exprs: list[str], n: int) -> Matcher | None:
        """The ``Matcher`` child for this scan's literal (see ``start_matcher``)."""
        return start_matcher(exprs, n, self.literal, self.ignore_case, self.escapes)

    def cancel(self) -> None:
        """Stop the children that are still running (the normal path answers)."""
        while self._children:
            pid, rfd = self._children.pop()
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
            os.close(rfd)


def start(path: str, literal: bytes, ignore_case: bool, *, min_size: int = MIN_SIZE,
          escapes: bool = True) -> LiteralScan | None:
    """Fork the children scanning ``path`` for ``literal`` (and, with ``escapes``, for
    the lines holding a backslash); None (nothing started) for a small or unreadable
    file, a literal without a searchable key, or no ``fork``."""
    if not hasattr(os, "fork") or search_key(literal, ignore_case) is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return None
    children: list[tuple[int, int]] = []
    try:
        size = os.fstat(fd).st_size
        if size < min_size or not looks_rare(fd, size, literal, ignore_case, escapes):
            return None
        for rng in split_ranges(fd, size, _workers()):
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns
                code = 1
                try:
                    os.close(rfd)
                    found = find_spans(fd, *rng, literal, ignore_case, escapes=escapes)
                    if found is not None:
                        payload = b"OK\n" + b"".join(
                            b"%d\t%s\n" % (at, line) for at, line in found)
                        view = memoryview(payload)
                        while view:
                            view = view[os.write(wfd, view):]
                        code = 0
                finally:
                    os._exit(code)
            os.close(wfd)
            children.append((pid, rfd))
    except OSError:
        LiteralScan(path, literal, ignore_case, children, escapes).cancel()
        return None
    finally:
        os.close(fd)
    return LiteralScan(path, literal, ignore_case, children, escapes)


class Matcher:
    """A forked child that imports the query machinery (the filter; orjson only for a
    candidate line that is not plain: ``plain_json``) while the parent imports the
    renderer, then matches the candidate lines the parent sends it
    by ``query._Scanner.pick``, as the normal path does, and sends back the last ``n``
    matches: ``(batch, lines, objects, malformed)``, ``query.BATCH`` and each line as
    ``write_tail`` hands it to the renderer with its parsed object, marshalled (JSON
    values survive marshal unchanged); a malformed line's object None, its record's raw
    text in ``malformed`` by index. None instead when the answer may not be the normal
    path's: the filter's prefilter is not ``literal``, a bad expression, a failure."""

    def __init__(self, pid: int, to_child: int, from_child: int) -> None:
        self._pid = pid
        self._to = to_child
        self._from = from_child

    def result(self, lines: list[bytes]
               ) -> tuple[int, list[bytes], list[Any], dict[int, str]] | None:
        """Match ``lines`` (every candidate, in order) in the child; None: see above."""
        import marshal

        pid, self._pid = self._pid, 0
        try:
            _write_all(self._to, b"OK\n" + b"\n".join(lines))
        except OSError:
            pass
        finally:
            os.close(self._to)
        chunks = []
        try:
            while data := os.read(self._from, 1 << 20):
                chunks.append(data)
        finally:
            os.close(self._from)
            os.waitpid(pid, 0)
        try:
            got = marshal.loads(b"".join(chunks))
        except (EOFError, ValueError, TypeError):
            return None
        return got if isinstance(got, tuple) else None

    def cancel(self) -> None:
        """Stop the child if its answer was not asked for."""
        if self._pid:
            pid, self._pid = self._pid, 0
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
            os.close(self._to)
            os.close(self._from)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]


def start_matcher(exprs: list[str], n: int, literal: bytes, ignore_case: bool,
                  escapes: bool = True) -> Matcher | None:
    """Fork the ``Matcher`` child for ``exprs`` (the last ``n`` matches); None if it
    cannot be forked."""
    try:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        for fd in (down_r, down_w, up_r, up_w):
            os.close(fd)
        return None
    if pid == 0:  # child: never returns
        try:
            os.close(down_w)
            os.close(up_r)
            _write_all(up_w, _match(exprs, n, literal, ignore_case, escapes, down_r))
        finally:
            os._exit(0)
    os.close(down_r)
    os.close(up_w)
    return Matcher(pid, down_w, up_r)


def _match(exprs: list[str], n: int, literal: bytes, ignore_case: bool, escapes: bool,
           rfd: int) -> bytes:
    """The matcher child's answer, marshalled (None: the normal path answers)."""
    import marshal

    answer: Any = None
    try:
        from cockpit.core.audit import plain_json
        from cockpit.core.audit.query import BATCH, RecordFilter, _Scanner

        filt = RecordFilter(exprs)
        pre = filt.prefilter()
        chunks = []
        while data := os.read(rfd, 1 << 20):
            chunks.append(data)
        data = b"".join(chunks)
        if (pre is not None and pre.literal == literal and pre.ignore_case == ignore_case
                and pre.escapes == escapes and n > 0 and data.startswith(b"OK\n")):
            data = data[3:]
            lines: list[bytes] = []
            items: list[Any] = []
            # orjson is imported only for a line the standard library cannot read as it
            _Scanner(filt, keep=True, count_lines=False).pick(
                data, len(data), lines, items, loads=plain_json.loads)
            del lines[:-n], items[:-n]
            # each line as ``write_tail`` has it: a record's as decoded, a malformed
            # line's empty (its record's raw text is what is printed: sent apart)
            malformed = {i: item.raw for i, item in enumerate(items)
                         if item.__class__ is not dict}
            for i in range(len(lines)):
                lines[i] = b"" if i in malformed else lines[i].decode(
                    "utf-8", "replace").encode()
                if i in malformed:
                    items[i] = None
            answer = (BATCH, lines, items, malformed)
        return marshal.dumps(answer)
    except Exception:  # the normal path answers (and says what is wrong)
        return marshal.dumps(None)
