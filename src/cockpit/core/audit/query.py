"""Filter, count and scan any JSON-lines audit file, fast.

Works on the cockpit's own trail and on a system's audit log (one JSON object a line).

Filter expressions (combined with AND), see ``parse_filter``::

    field=value   field!=value   field~regex   field!~regex
    field>value   field>=value   field<value   field<=value
    has:field     !has:field     free text (no operator: case-insensitive, raw line;
                                 ASCII text folds ASCII letters only)

Fields are dotted paths (``a.b``; through arrays of objects too, ``a.0`` indexes).
Values are compared as strings: numbers as JSON writes them, ``true``/``false``/``null``.
An array matches when any element does (``reason_codes=G10_RATE_LIMIT_EXCEEDED``).
``field=`` (empty) matches an empty string, null, an empty array or object, or a missing
field (like jq's ``.field == null``); ``has:field`` tells missing from null.

Lines that are not JSON objects (truncated, not UTF-8, arrays...) are *malformed*: kept
raw, never matched by a field predicate, counted apart. Blank lines are skipped but
counted in ``total`` (the number of lines).

Speed. The file is read in blocks of whole lines; big files are split between the CPUs
(forked workers, only when the process has no other thread). A filter with an equality
predicate has a byte *prefilter*: a line can only match if it contains the value's bytes
or a backslash (any JSON escape), so only those lines are parsed; free text is matched
on the raw line, so its lines must hold its bytes (ASCII case aside). ``count_by`` of a
top-level key first tries a *fast path* per block, which counts without parsing when it can
prove the result equals a full parse (see ``_fast_count``); other blocks are parsed line
by line with orjson.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

from cockpit.core.audit.ranges import split_ranges
from cockpit.core.audit.ranges import workers as _workers  # (tests patch it here)
from cockpit.core.errors import UsageError
from cockpit.core.lazy import LazyModule

TYPE_CHECKING = False  # (typing, pathlib, orjson: milliseconds of a trace-id query)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    import orjson

    T = TypeVar("T")
else:  # imported when first used: a trace-id query's plain lines never need it
    orjson = LazyModule("orjson", globals())

BLOCK = 1 << 20  #: bytes read at a time (grown to hold one very long line)
PARALLEL_MIN = 32 << 20  #: files smaller than this are scanned in-process
BATCH = 1024  #: matches rendered at a time (``tail``; the literal scan's matcher)
MIN_BISECT = 64 << 10  #: blocks the fast path rejects are halved down to this size
#: a literal's rarest byte seen more than once in this many bytes: search the whole literal
_DIRECT_FIND = 512
_MISSING: Any = object()


# --- records ---------------------------------------------------------------------------


class _Plain:
    """``__repr__`` and ``__eq__`` from ``__slots__`` (what a dataclass gives, without
    the milliseconds a dataclass costs at import: an incident query starts cold)."""

    __slots__ = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass


class AuditRecord(_Plain):
    """One line: ``data`` is the parsed object, or None and ``error`` says why;
    ``line``, its 1-based line number, when known."""

    __slots__ = ("data", "error", "line", "raw")

    def __init__(self, raw: str, data: dict[str, Any] | None, error: str | None = None,
                 line: int | None = None) -> None:
        self.raw = raw
        self.data = data
        self.error = error
        self.line = line

    @property
    def malformed(self) -> bool:
        return self.data is None


def parse_record(raw: bytes, line: int | None = None) -> AuditRecord:
    """Parse one line (its newline may be included)."""
    text = raw.rstrip(b"\r\n") if raw.endswith(b"\n") else raw
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return AuditRecord(text.decode("utf-8", "replace"), None, _why_malformed(text, exc), line)
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(data), "a number"
        )
        return AuditRecord(text.decode("utf-8", "replace"), None,
                           f"JSON {kind}, not an object", line)
    return AuditRecord(text.decode("utf-8", "replace"), data, None, line)


def _why_malformed(text: bytes, exc: Exception) -> str:
    if not text.strip():
        return "empty line"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"not valid UTF-8 (byte {err.start})"
    msg = str(exc)
    stripped = text.rstrip()
    if stripped[:1] in (b"{", b"[") and ("EOF" in msg or "end of" in msg or
                                        stripped[-1:] not in (b"}", b"]")):
        return "truncated JSON (incomplete line)"
    return f"not JSON ({msg.split(':', 1)[0]})"


# --- values and paths --------------------------------------------------------------------


def as_text(value: Any) -> str:
    """A JSON value as the filter compares it: strings as is, others as JSON writes them."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value).decode()


def lookup(data: Any, path: str) -> list[Any]:
    """Values at dotted ``path`` (empty when missing); a literal ``a.b`` key wins."""
    if isinstance(data, dict) and path in data:
        return [data[path]]
    current = [data]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict):
                if part in item:
                    found.append(item[part])
            elif isinstance(item, list):
                if part.isdigit():
                    idx = int(part)
                    if idx < len(item):
                        found.append(item[idx])
                else:
                    found.extend(el[part] for el in item if isinstance(el, dict) and part in el)
        if not found:
            return []
        current = found
    return current


def _flat(values: list[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from value
        else:
            yield value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _number(text: str) -> float | None:
    if _NUMBER.fullmatch(text):
        try:
            return float(text)
        except ValueError:
            return None
    return None


# --- predicates --------------------------------------------------------------------------

_EXPR = re.compile(r"(?P<field>[A-Za-z_@$][\w.@$/-]*?)(?P<op>!=|!~|>=|<=|=|~|>|<)(?P<value>.*)",
                   re.DOTALL)
_FIELD = re.compile(r"[A-Za-z_@$][\w.@$/-]*")


class Predicate(_Plain):
    """One parsed filter expression: ``op`` is "=", "!=", "~", "!~", ">", ">=", "<",
    "<=", "has", "!has" or "text"; ``literal``, the bytes a matching line must contain
    (unless it has a backslash and ``escapes``), None for no prefilter;
    ``ignore_case``: the literal is matched case-insensitively (free text); ``_rare``:
    where the prefilter looks, the literal's rarest byte, or -1 for the whole literal."""

    __slots__ = (
        "_needle",
        "_num",
        "_rare",
        "expr",
        "field",
        "ignore_case",
        "literal",
        "op",
        "regex",
        "value",
    )

    def __init__(self, expr: str, op: str, field: str = "", value: str = "",
                 regex: re.Pattern[str] | None = None, literal: bytes | None = None,
                 ignore_case: bool = False, _needle: str = "", _num: float | None = None,
                 _rare: int | None = None) -> None:
        self.expr = expr
        self.op = op
        self.field = field
        self.value = value
        self.regex = regex
        self.literal = literal
        self.ignore_case = ignore_case
        self._needle = _needle
        self._num = _num
        self._rare = _rare

    @property
    def escapes(self) -> bool:
        """Whether a matching line may lack ``literal`` because a JSON escape writes it
        otherwise (``\\u0031`` for ``1``): a field's value is matched as parsed, so the
        lines holding a backslash are candidates too. Free text is matched on the raw
        line: only the lines holding the literal can match."""
        return self.op != "text"

    def matches(self, data: dict[str, Any] | None, raw: str | None = None) -> bool:
        """Does this record (``data``; ``raw`` line for free text) satisfy the predicate?"""
        op = self.op
        if op == "text":
            if raw is None:
                raw = orjson.dumps(data).decode() if data is not None else ""
            if self.regex is not None:  # ASCII text with letters: ASCII case folding
                return self.regex.search(raw) is not None
            if self.literal is not None:  # ASCII text without a letter: as it is
                return self._needle in raw
            return self._needle in raw.casefold()
        if data is None:
            return False
        values = lookup(data, self.field)
        if op == "=":
            return self._equals(values)
        if op == "!=":
            return not self._equals(values)
        if op == "has":
            return bool(values)
        if op == "!has":
            return not values
        if op in ("~", "!~"):
            assert self.regex is not None
            hit = any(
                v is not None and self.regex.search(as_text(v)) for v in _flat(values)
            )
            return hit if op == "~" else not hit
        return any(self._compare(v) for v in _flat(values))

    def matcher(self) -> Callable[[dict[str, Any], str | None], bool]:
        """``matches`` as one function, specialised for equality on a top-level field
        (the common incident query): no path walk, no list of values."""
        if self.op not in ("=", "!=") or "." in self.field:
            return self.matches
        name, want, negate = self.field, self.value, self.op == "!="
        if want == "":
            def empty(data: dict[str, Any], raw: str | None = None) -> bool:
                value = data.get(name, _MISSING)
                return (value is _MISSING or _is_empty(value)) != negate
            return empty
        equals = self._equals

        def equal(data: dict[str, Any], raw: str | None = None) -> bool:
            value = data.get(name, _MISSING)
            if value.__class__ is str:
                return (value == want) != negate
            if value is _MISSING:
                return negate
            return equals([value]) != negate
        return equal

    def _equals(self, values: list[Any]) -> bool:
        if self.value == "":
            return not values or any(_is_empty(v) for v in values)
        want = self.value
        return any(as_text(v) == want for v in _flat(values))

    def _compare(self, value: Any) -> bool:
        if value is None or isinstance(value, dict | list):
            return False
        if self._num is not None and isinstance(value, int | float) and not isinstance(
            value, bool
        ):
            left: Any = float(value)
            right: Any = self._num
        else:
            left, right = as_text(value), self.value
        if self.op == ">":
            return left > right
        if self.op == ">=":
            return left >= right
        if self.op == "<":
            return left < right
        return left <= right


def parse_filter(expr: str) -> Predicate:
    """Parse one filter expression; ``UsageError`` says what is wrong with a bad one."""
    text = expr.strip()
    if not text:
        raise UsageError("empty filter expression")
    if text.startswith(("has:", "!has:")):
        negate = text.startswith("!")
        name = text.split(":", 1)[1].strip()
        if not _FIELD.fullmatch(name):
            raise UsageError(f"bad filter {expr!r}: 'has:' needs a field name, e.g. has:trace_id")
        return Predicate(expr, "!has" if negate else "has", name)
    if text[0] in "=!~<>":
        raise UsageError(
            f"bad filter {expr!r}: missing field name before the operator "
            "(e.g. decision=DENY)"
        )
    m = _EXPR.fullmatch(text)
    if m is None:
        needle = text.casefold()
        literal = text.encode() if text.isascii() else None
        # Without a letter, the bytes are searched as they are. ASCII text with a letter
        # matches its ASCII letters in either case and nothing else: as its bytes
        # prefilter finds it (Unicode case folding would also turn the Kelvin sign into
        # "k", "ﬀ" into "ff": lines the prefilter cannot know of). Other text: Unicode
        # case folding, every line looked at.
        cased = literal is None or text.lower() != text.upper()
        regex = re.compile(re.escape(text), re.IGNORECASE | re.ASCII) \
            if literal is not None and cased else None
        return Predicate(expr, "text", value=text, regex=regex, literal=literal,
                         ignore_case=cased, _needle=needle)
    name, op, value = m.group("field"), m.group("op"), m.group("value")
    if name.endswith(".") or ".." in name:
        raise UsageError(f"bad filter {expr!r}: {name!r} is not a field path")
    pred = Predicate(expr, op, name, value)
    if op in ("~", "!~"):
        try:
            pred.regex = re.compile(value)
        except re.error as exc:
            raise UsageError(f"bad filter {expr!r}: invalid regex {value!r}: {exc}") from None
    elif op in (">", ">=", "<", "<="):
        if value == "":
            raise UsageError(f"bad filter {expr!r}: nothing to compare with after {op!r}")
        pred._num = _number(value)
    elif op == "=" and value and _literal_ok(value):
        pred.literal = _quoted(value) or value.encode()
    return pred


def _quoted(value: str) -> bytes | None:
    """``"value"``: the bytes only a JSON string equal to ``value`` can hold (None where
    the value may also be a number, boolean or null, or JSON may escape it)."""
    if (value in ("true", "false", "null") or _number(value) is not None
            or not (value.isascii() and value.isprintable()) or '"' in value
            or "\\" in value or "/" in value):
        return None
    return b'"' + value.encode() + b'"'


def _literal_ok(value: str) -> bool:
    """Can a line holding ``value`` be found by its bytes? (Not if JSON may write it otherwise.)"""
    if value[:1] in ("{", "["):
        return False  # objects and arrays are written with any spacing
    num = _number(value)
    return num is None or not any(c in value for c in ".eE")  # 1.50 vs 1.5 vs 15e-1


class RecordFilter:
    """Expressions combined with AND. No expressions: every line matches, malformed too."""

    def __init__(self, exprs: Iterable[str] = ()) -> None:
        self.predicates = [parse_filter(e) for e in exprs]
        self._needs_raw = any(p.op == "text" for p in self.predicates)
        self._only_text = bool(self.predicates) and all(
            p.op == "text" for p in self.predicates
        )

    def __bool__(self) -> bool:
        return bool(self.predicates)

    def matches(self, record: dict[str, Any], raw: str | None = None) -> bool:
        """Does the parsed ``record`` match? ``raw`` is its line, for free text."""
        if self._needs_raw and raw is None:
            raw = orjson.dumps(record).decode()
        return all(p.matches(record, raw) for p in self.predicates)

    def matches_record(self, rec: AuditRecord) -> bool:
        if rec.data is None:  # malformed: shown unfiltered, else only free text can match
            return not self.predicates or (self._only_text and all(
                p.matches(None, rec.raw) for p in self.predicates))
        return all(p.matches(rec.data, rec.raw) for p in self.predicates)

    def matches_raw(self, raw: bytes | str) -> bool:
        """Parse ``raw`` (one line) and match it; a malformed line matches only free text."""
        data = raw.encode() if isinstance(raw, str) else raw
        return self.matches_record(parse_record(data))

    def prefilter(self) -> Predicate | None:
        """The predicate whose bytes select candidate lines (the longest literal)."""
        best = [p for p in self.predicates if p.literal]
        return max(best, key=lambda p: len(p.literal or b"")) if best else None


# --- reading blocks ---------------------------------------------------------------------


def _blocks(fd: int, start: int, end: int, size: int | None = None
            ) -> Iterator[tuple[bytes, int]]:
    """(data, stop) for blocks of [start, end): ``data[:stop]`` is whole lines.

    Only the block that reaches ``end`` may end without a newline (the file's last line).
    ``data`` may hold more bytes after ``stop`` (they are read again with the next block):
    cutting them off would copy the block.
    """
    size = size or BLOCK
    pos = start
    while pos < end:
        data = os.pread(fd, min(size, end - pos), pos)
        if not data:
            return
        if pos + len(data) >= end:
            stop = len(data)
        else:
            stop = data.rfind(b"\n") + 1
            while stop == 0 and pos + len(data) < end:  # one line longer than the block
                more = os.pread(fd, min(size, end - pos - len(data)), pos + len(data))
                if not more:
                    break
                data += more
                stop = len(data) if pos + len(data) >= end else data.rfind(b"\n") + 1
            if stop == 0:
                stop = len(data)
        yield data, stop
        pos += stop


def _parallel_ranges(path: str | os.PathLike[str], fn: Callable[[int, int, int], T],
                     merge: Callable[[list[T]], T], end: int | None = None) -> T:
    """``fn(fd, start, end)`` over the file (its first ``end`` bytes), split between
    forked workers when it pays."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if end is not None:
            size = min(size, end)
        workers = _workers()
        if (size < PARALLEL_MIN or workers < 2 or not hasattr(os, "fork")
                or _threads() > 1):
            return merge([fn(fd, 0, size)])
        ranges = split_ranges(fd, size, workers)
        import pickle  # noqa: F401  (the workers' and this process's: imported once)

        children: list[tuple[int, int, tuple[int, int]]] = []
        try:
            for rng in ranges[1:]:
                children.append(_fork_worker(fn, fd, rng))
            results = [fn(fd, *ranges[0])]
            while children:
                pid, rfd, rng = children.pop(0)
                results.append(_collect(pid, rfd, lambda rng=rng: fn(fd, *rng)))
        finally:
            for pid, rfd, _ in children:  # interrupted: stop the other workers
                _kill(pid, rfd)
        return merge(results)
    finally:
        os.close(fd)


def _threads() -> int:
    """Threads of this process (a forked child would copy their locks as they are)."""
    import threading

    return threading.active_count()


def _fork_worker(fn: Callable[[int, int, int], Any], fd: int, rng: tuple[int, int]
                 ) -> tuple[int, int, tuple[int, int]]:
    """Run ``fn(fd, *rng)`` in a forked child that pickles its result into a pipe."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        import pickle

        os.close(rfd)
        code = 0
        try:
            payload = pickle.dumps(("ok", fn(fd, *rng)))
        except BaseException as exc:  # reported to the parent
            payload = pickle.dumps(("err", repr(exc)))
            code = 1
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(wfd, view):]
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd, rng


def _collect(pid: int, rfd: int, redo: Callable[[], T]) -> T:
    """A worker's result; if it failed, its share is done again here."""
    chunks = []
    done = False
    try:
        while data := os.read(rfd, 1 << 20):
            chunks.append(data)
        done = True
    finally:
        os.close(rfd)
        if not done:  # interrupted: do not wait for the worker to finish
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        os.waitpid(pid, 0)
    import pickle

    try:
        status, value = pickle.loads(b"".join(chunks))
    except Exception:  # a worker that died
        status, value = "err", None
    return value if status == "ok" else redo()


def _kill(pid: int, rfd: int) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass
    try:
        os.close(rfd)
    except OSError:
        pass


def _lines(data: bytes, stop: int | None = None) -> list[bytes]:
    lines = (data if stop is None or stop == len(data) else data[:stop]).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _is_blank(line: bytes) -> bool:
    return not line.strip()


def _line_count(data: bytes, stop: int | None = None) -> int:
    stop = len(data) if stop is None else stop
    n = data.count(b"\n", 0, stop)
    return n + 1 if stop and data[stop - 1] != 10 else n


# --- scanning ----------------------------------------------------------------------------


class ScanResult(_Plain):
    """Matching records, with how many matched, lines looked at and malformed lines.

    With a prefilter only candidate lines are parsed, so ``malformed`` counts malformed
    lines among those. ``total`` is the number of lines scanned (blank ones included);
    None for a ``count_only`` scan, which does not count lines.
    """

    __slots__ = ("malformed", "matched", "offsets", "records", "total")

    def __init__(self, records: list[AuditRecord] | None = None, matched: int = 0,
                 total: int | None = 0, malformed: int = 0,
                 offsets: list[int] | None = None) -> None:
        self.records: list[AuditRecord] = [] if records is None else records
        self.matched = matched
        self.total = total
        self.malformed = malformed
        #: each record's byte offset in the file, when the scan was asked for them
        self.offsets = offsets


def _candidate_lines(data: bytes, stop: int, pred: Predicate) -> Iterator[tuple[int, int]]:
    """(start, end) of the lines of ``data[:stop]`` that hold ``pred``'s literal, or a
    backslash where an escape may hide it (``Predicate.escapes``).

    Like grep: memchr for the literal's rarest byte (in a sample of ``data``), check the
    literal around it, then skip to the end of the line.
    """
    lit = pred.literal
    assert lit is not None
    if pred.ignore_case or b"\n" in lit or (
            pred.escapes and data.find(b"\\", 0, stop) != -1):
        yield from _candidate_lines_general(data, stop, pred)
        return
    if pred._rare is None:  # once per scan: the first block is a fair sample
        sample = data[:65536]
        seen = {b: sample.count(bytes([b])) for b in set(lit)}
        rare = min(range(len(lit)), key=lambda i: seen[lit[i]])
        direct = len(lit) > 1 and seen[lit[rare]] * _DIRECT_FIND > len(sample)
        pred._rare = -1 if direct else rare
    rare = pred._rare
    find = data.find
    rfind = data.rfind
    if rare < 0:
        # no byte of the literal is rare (a hex id): the substring search skips faster
        pos = 0
        while True:
            i = find(lit, pos, stop)
            if i == -1:
                return
            end = find(b"\n", i, stop)
            if end == -1:
                end = stop
            yield rfind(b"\n", 0, i) + 1, end
            pos = end + 1
    needle = lit[rare : rare + 1]
    starts = data.startswith
    pos = 0
    while True:
        i = find(needle, pos, stop)
        if i == -1:
            return
        s = i - rare
        if s >= 0 and starts(lit, s):
            end = find(b"\n", i, stop)
            if end == -1:
                end = stop
            yield rfind(b"\n", 0, s) + 1, end
            pos = end + 1
        else:
            pos = i + 1


def _candidate_lines_general(data: bytes, stop: int, pred: Predicate
                             ) -> Iterator[tuple[int, int]]:
    lit = pred.literal
    assert lit is not None
    hits: set[int] = set()
    if b"\n" not in lit:
        flags = re.IGNORECASE if pred.ignore_case else 0
        hits.update(m.start() for m in re.compile(re.escape(lit), flags).finditer(data, 0, stop))
    pos = data.find(b"\\", 0, stop) if pred.escapes else -1
    while pos != -1:
        hits.add(pos)
        pos = data.find(b"\\", pos + 1, stop)
    last_end = -1
    for pos in sorted(hits):
        if pos <= last_end:
            continue
        end = data.find(b"\n", pos, stop)
        if end == -1:
            end = stop
        yield data.rfind(b"\n", 0, pos) + 1, end
        last_end = end


def _all_lines(data: bytes, stop: int) -> Iterator[tuple[int, int]]:
    find = data.find
    pos = 0
    while pos < stop:
        end = find(b"\n", pos, stop)
        if end == -1:
            end = stop
        yield pos, end
        pos = end + 1


class _Scanner:
    """Matches the lines of one block; keeps counts and (optionally) records."""

    def __init__(self, filt: RecordFilter, keep: bool, count_lines: bool = True) -> None:
        self.filt = filt
        self.keep = keep
        self.count_lines = count_lines
        self.pre = filt.prefilter()

    def block(self, data: bytes, stop: int, first_line: int | None, out: ScanResult,
              limit: int | None = None, base: int | None = None) -> None:
        """Match ``data[:stop]`` into ``out``; ``base``: the block's offset in the file,
        each kept record's offset then goes to ``out.offsets``."""
        if self.count_lines and out.total is not None:
            out.total += _line_count(data, stop)
        spans = (_candidate_lines(data, stop, self.pre) if self.pre is not None
                 else _all_lines(data, stop))
        filt = self.filt
        needs_raw = filt._needs_raw
        only_text = filt._only_text
        preds = filt.predicates
        quick = _quick_equality(preds)
        matchers = [p.matcher() for p in preds]
        fields = _top_level_equalities(preds) if quick is None else None
        loads = orjson.loads
        count = data.count
        lineno = first_line
        last = 0
        for start, end in spans:
            line = data[start:end]
            try:
                parsed = loads(line)
            except orjson.JSONDecodeError:
                if _is_blank(line):
                    continue
                parsed = None
            if parsed.__class__ is dict:
                if quick is not None:
                    value = parsed.get(quick[0])
                    ok = value == quick[1] if value.__class__ is str else preds[0].matches(parsed)
                elif fields is not None:  # top-level equalities, inline (as ``pick``)
                    for name, want, negate, pred in fields:
                        value = parsed.get(name, _MISSING)
                        if want:
                            if value.__class__ is str:
                                hit = value == want
                            else:
                                hit = value is not _MISSING and pred._equals([value])
                        elif value.__class__ is list or value.__class__ is str:
                            hit = not value
                        else:
                            hit = value is _MISSING or value is None or value == {}
                        if hit is negate:
                            ok = False
                            break
                    else:
                        ok = True
                else:
                    raw = line.decode("utf-8", "replace") if needs_raw else None
                    for match in matchers:
                        if not match(parsed, raw):
                            ok = False
                            break
                    else:
                        ok = True
                rec_data: dict[str, Any] | None = parsed
            else:
                out.malformed += 1
                rec_data = None
                ok = not preds or (only_text and all(
                    p.matches(None, line.decode("utf-8", "replace")) for p in preds
                ))
            if not ok:
                continue
            out.matched += 1
            if self.keep:
                if lineno is not None:
                    lineno += count(b"\n", last, start)
                    last = start
                if rec_data is None:
                    rec = parse_record(line, lineno)
                else:
                    rec = AuditRecord(line.decode("utf-8", "replace"), rec_data, None, lineno)
                out.records.append(rec)
                if base is not None:
                    out.offsets.append(base + start)  # type: ignore[union-attr]
                if limit is not None and len(out.records) >= limit:
                    return


    def pick(self, data: bytes, stop: int, lines: list[bytes], items: list[Any],
             first_line: Callable[[], int] | None = None,
             loads: Callable[[bytes], Any] | None = None) -> tuple[int, int]:
        """The matches of ``data[:stop]`` appended: each line as read to ``lines``, and to
        ``items`` its object or, for a malformed line, its ``AuditRecord`` (numbered from
        ``first_line()``, the number of the block's first line, asked only then).
        Returns (matched, malformed). ``loads``: what reads a line, as ``orjson.loads``
        does (``plain_json.loads``: without importing orjson for plain lines)."""
        spans = (_candidate_lines(data, stop, self.pre) if self.pre is not None
                 else _all_lines(data, stop))
        filt = self.filt
        needs_raw = filt._needs_raw
        preds = filt.predicates
        quick = _quick_equality(preds)
        matchers = [p.matcher() for p in preds]
        fields = _top_level_equalities(preds)
        loads = loads or orjson.loads
        matched = malformed = 0
        add_line = lines.append
        add_item = items.append
        for start, end in spans:
            line = data[start:end]
            try:
                parsed = loads(line)
            except orjson.JSONDecodeError:
                if _is_blank(line):
                    continue
                parsed = None
            if parsed.__class__ is dict:
                if quick is not None:
                    value = parsed.get(quick[0])
                    if not (value == quick[1] if value.__class__ is str
                            else preds[0].matches(parsed)):
                        continue
                elif fields is not None:  # top-level equalities, inline
                    for name, want, negate, pred in fields:
                        value = parsed.get(name, _MISSING)
                        if want:
                            if value.__class__ is str:
                                hit = value == want
                            else:
                                hit = value is not _MISSING and pred._equals([value])
                        elif value.__class__ is list or value.__class__ is str:
                            hit = not value
                        else:
                            hit = value is _MISSING or value is None or value == {}
                        if hit is negate:
                            break
                    else:
                        add_line(line)
                        add_item(parsed)
                        matched += 1
                    continue
                else:
                    raw = line.decode("utf-8", "replace") if needs_raw else None
                    for match in matchers:
                        if not match(parsed, raw):
                            break
                    else:
                        add_line(line)
                        add_item(parsed)
                        matched += 1
                    continue
                add_line(line)
                add_item(parsed)
                matched += 1
                continue
            malformed += 1
            if preds and not (filt._only_text and all(
                    p.matches(None, line.decode("utf-8", "replace")) for p in preds)):
                continue
            lineno = None if first_line is None else first_line() + data.count(b"\n", 0, start)
            add_line(line)
            add_item(parse_record(line, lineno))
            matched += 1
        return matched, malformed


def _top_level_equalities(preds: list[Predicate]
                          ) -> list[tuple[str, str, bool, Predicate]] | None:
    """(field, value, negated, predicate) of each predicate when all are ``=`` or ``!=``
    on a top-level field, else None."""
    if preds and all(p.op in ("=", "!=") and "." not in p.field for p in preds):
        return [(p.field, p.value, p.op == "!=", p) for p in preds]
    return None


def _quick_equality(preds: list[Predicate]) -> tuple[str, str] | None:
    """(field, value) when the filter is one ``field=value`` on a top-level field."""
    if len(preds) == 1 and preds[0].op == "=" and preds[0].value and "." not in preds[0].field:
        return preds[0].field, preds[0].value
    return None


def scan_file(path: str | os.PathLike[str], exprs: Sequence[str] = (), limit: int | None = None,
              tail: int | None = None, *, count_only: bool = False) -> ScanResult:
    """Records of ``path`` that match every expression.

    ``limit``: the first ``limit`` matches (stops reading there). ``tail``: the last
    ``tail`` matches (reads backwards from the end, only as far as needed). Neither: all
    matches. ``count_only``: only count matches (no records, ``total`` None), over the
    whole file, in parallel. Raises ``FileNotFoundError``; ``UsageError`` for a bad
    expression.
    """
    filt = RecordFilter(exprs)
    if count_only:
        def run(fd: int, start: int, end: int) -> ScanResult:
            out = ScanResult(total=None)
            scanner = _Scanner(filt, keep=False, count_lines=False)
            for data, stop in _blocks(fd, start, end):
                scanner.block(data, stop, None, out)
            return out
        return _parallel_ranges(path, run, _merge_scans)
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        if tail is not None:
            return _scan_tail(fd, size, filt, max(tail, 0))
        out = ScanResult()
        scanner = _Scanner(filt, keep=True)
        lineno = 1
        for data, stop in _blocks(fd, 0, size):
            scanner.block(data, stop, lineno, out, limit)
            if limit is not None and len(out.records) >= limit:
                del out.records[limit:]
                break
            lineno += data.count(b"\n", 0, stop)
        return out


def _merge_scans(parts: list[ScanResult]) -> ScanResult:
    out = ScanResult(total=0)
    for part in parts:
        out.records.extend(part.records)
        out.matched += part.matched
        out.malformed += part.malformed
        if part.total is None or out.total is None:
            out.total = None
        else:
            out.total += part.total
    return out


def _scan_tail(fd: int, size: int, filt: RecordFilter, want: int) -> ScanResult:
    out = ScanResult()
    if want == 0:
        return out
    scanner = _Scanner(filt, keep=True)
    end = size
    collected: list[list[AuditRecord]] = []
    found = 0
    total = 0
    while end > 0 and found < want:
        start = max(0, end - BLOCK)
        while True:
            data = os.pread(fd, end - start, start)
            if start == 0:
                break
            cut = data.find(b"\n", 0, len(data) - 1)  # a line starts after it
            if cut != -1:
                data = data[cut + 1 :]
                start += cut + 1
                break
            start = max(0, start - BLOCK)  # a line longer than the block
        part = ScanResult()
        scanner.block(data, len(data), None, part)
        collected.append(part.records)
        found += len(part.records)
        out.matched += part.matched
        total += part.total or 0
        out.malformed += part.malformed
        end = start
    out.total = total
    records = [rec for chunk in reversed(collected) for rec in chunk]
    out.records = records[-want:]
    return out


# --- count by ----------------------------------------------------------------------------


class CountResult(_Plain):
    """Counts of a field's values among matching records.

    ``total``: lines; ``matched``: well-formed records matching the filter; ``missing``:
    matched records without the field; ``malformed``: lines that are not JSON objects
    (with a prefilter, among the lines parsed). Array values count each element.
    """

    __slots__ = ("counts", "malformed", "matched", "missing", "total")

    def __init__(self, counts: Counter[str] | None = None, total: int = 0, matched: int = 0,
                 malformed: int = 0, missing: int = 0) -> None:
        self.counts: Counter[str] = Counter() if counts is None else counts
        self.total = total
        self.matched = matched
        self.malformed = malformed
        self.missing = missing

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        return self.counts.most_common(n)


def _key_of(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield as_text(item)
    else:
        yield as_text(value)


_Part = tuple[Counter[bytes], Counter[str], int, int, int, int]


class _Counter:
    """Counts the blocks of a range: the fast path where it can vouch, else line by line."""

    def __init__(self, fieldname: str, filt: RecordFilter) -> None:
        self.field = fieldname
        self.filt = filt
        self.pre = filt.prefilter()
        key = fieldname.encode()
        self.fast_ok = (not filt and "." not in fieldname
                        and re.fullmatch(rb"[^\"\\\x00-\x1f]+", key) is not None)
        self.token = b'"' + key + b'"'
        self.kv = re.compile(
            re.escape(self.token) + rb': ?"([^"\\\x00-\x1f]*)"[^\n]*\}\n(?=\{|\Z)'
        )

    def run(self, fd: int, start: int, end: int) -> _Part:
        fast: Counter[bytes] = Counter()
        slow: Counter[str] = Counter()
        acc = [0, 0, 0, 0]  # total, matched, malformed, missing
        for data, stop in _blocks(fd, start, end):
            self._block(data, stop, fast, slow, acc)
        return fast, slow, acc[0], acc[1], acc[2], acc[3]

    def _block(self, data: bytes, stop: int, fast: Counter[bytes], slow: Counter[str],
               acc: list[int]) -> None:
        if not self.fast_ok:
            self._slow(data, stop, slow, acc)
            return
        if data[stop - 1] != 10:  # the file's last line has no newline: parse it apart
            cut = data.rfind(b"\n", 0, stop) + 1
            if cut:
                self._block(data, cut, fast, slow, acc)
            self._slow(data[cut:stop], stop - cut, slow, acc)
            return
        values = _fast_count(data, stop, self.token, self.kv)
        if values is not None:
            fast.update(values)
            acc[0] += len(values)
            acc[1] += len(values)
            return
        # A few odd lines: halve and retry, so they do not slow down the whole block.
        if stop > MIN_BISECT and self._mostly_fast(data, stop):
            mid = data.find(b"\n", stop // 2, stop) + 1
            if 0 < mid < stop:
                self._block(data[:mid], mid, fast, slow, acc)
                self._block(data[mid:stop], stop - mid, fast, slow, acc)
                return
        self._slow(data, stop, slow, acc)

    def _mostly_fast(self, data: bytes, stop: int) -> bool:
        n = data.count(b"\n", 0, stop)
        return n > 0 and len(self.kv.findall(data, 0, stop)) >= n - max(8, n // 64)

    def _slow(self, data: bytes, stop: int, slow: Counter[str], acc: list[int]) -> None:
        filt = self.filt
        fieldname = self.field
        simple = "." not in fieldname
        acc[0] += _line_count(data, stop)
        if self.pre is not None:
            lines: Iterable[bytes] = (
                data[s:e] for s, e in _candidate_lines(data, stop, self.pre)
            )
        else:
            lines = _lines(data, stop)
        for line in lines:
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                rec = None
            if rec.__class__ is not dict:
                if not _is_blank(line):
                    acc[2] += 1
                continue
            if filt and not filt.matches(rec, line.decode("utf-8", "replace")
                                         if filt._needs_raw else None):
                continue
            acc[1] += 1
            if simple:
                value = rec.get(fieldname, _MISSING)
                values = [] if value is _MISSING else [value]
            else:
                values = lookup(rec, fieldname)
            if not values:
                acc[3] += 1
                continue
            for value in values:
                slow.update(_key_of(value))


def _fast_count(data: bytes, stop: int, token: bytes, kv: re.Pattern[bytes]
                ) -> list[bytes] | None:
    """Values of a top-level string field in every line of ``data[:stop]``, or None.

    ``data[:stop]`` is whole lines, ending with a newline. The values are returned only
    when these checks prove each line is a JSON object with exactly one occurrence of the
    key, at top level, with a plain string value, so that a parser returns the same value:

    1. no backslash: no escapes, so a quote always delimits a string and the key's bytes
       are the key; the block is valid UTF-8;
    2. ``kv`` (``"key": ?"value"`` then the rest of the line, ending in ``}``, and the next
       line starts with ``{``) matches T times: T lines end with ``}``, the lines after
       them and the first line start with ``{``;
    3. the token ``"key"`` occurs exactly T times: each of those lines holds it once (no
       duplicate, no nested copy, no copy as a string value);
    4. ``{`` occurs exactly T times. A line without the key would start with ``{`` (it
       follows a line ending in ``}`` or is the first line), taking a ``{`` from one of
       the T lines, which would then have no ``{`` at all and so could not be an object.
       So every line is one of the T, with exactly one ``{``, its first byte: nothing is
       nested and the key is at top level.

    What it cannot prove is that the rest of the line is valid JSON: a line such as
    ``{"a":1,,"key":"x"}`` or ``"key":"x"}`` after a line without the key (hand-made
    garbage, not something a crashed writer leaves) is counted by its value rather than
    as malformed; a full parse of every line is what the fast path avoids.
    """
    if data[0] != 123 or data.find(b"\\", 0, stop) != -1:
        return None
    if not data.isascii():
        try:
            data[:stop].decode("utf-8")
        except UnicodeDecodeError:
            return None
    values = kv.findall(data, 0, stop)
    t = len(values)
    if data.count(token, 0, stop) != t or data.count(b"{", 0, stop) != t:
        return None
    return values


def _merge_counts(parts: list[_Part]) -> CountResult:
    out = CountResult()
    fast: Counter[bytes] = Counter()
    for f, s, total, matched, malformed, missing in parts:
        fast.update(f)
        out.counts.update(s)
        out.total += total
        out.matched += matched
        out.malformed += malformed
        out.missing += missing
    for key, n in fast.items():
        out.counts[key.decode("utf-8")] += n
    return out


def count_by(path: str | os.PathLike[str], fieldname: str, exprs: Sequence[str] = ()
             ) -> CountResult:
    """Count the values of ``fieldname`` among records matching ``exprs``.

    Array values count each element (``reason_codes``). Raises ``FileNotFoundError``,
    ``UsageError`` for a bad expression or field.
    """
    if not fieldname or not _FIELD.fullmatch(fieldname):
        raise UsageError(f"bad field name {fieldname!r}")
    counter = _Counter(fieldname, RecordFilter(exprs))
    return _parallel_ranges(path, counter.run, _merge_counts)


def slow_count_by(path: str | os.PathLike[str], fieldname: str,
                  exprs: Sequence[str] = ()) -> CountResult:
    """``count_by`` that parses every line (the reference the fast path is tested against)."""
    filt = RecordFilter(exprs)
    out = CountResult()
    with open(path, "rb") as fh:
        data = fh.read()
    out.total = _line_count(data)
    for line in _lines(data):
        if _is_blank(line):
            continue
        rec = parse_record(line)
        if rec.data is None:
            out.malformed += 1
            continue
        if not filt.matches_record(rec):
            continue
        out.matched += 1
        values = lookup(rec.data, fieldname)
        if not values:
            out.missing += 1
        for value in values:
            out.counts.update(_key_of(value))
    return out


__all__ = [
    "AuditRecord",
    "CountResult",
    "Predicate",
    "RecordFilter",
    "ScanResult",
    "as_text",
    "count_by",
    "lookup",
    "parse_filter",
    "parse_record",
    "scan_file",
    "slow_count_by",
]
