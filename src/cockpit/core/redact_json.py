"""Which JSON lines the boundary would change, found a block of lines at a time.

``cockpit audit tail --json`` prints records through the boundary: every string redacted,
made visible and bounded (``Boundary.obj``). Parsing and re-serialising each of 100,000
records costs seconds, and almost none of them change. ``lines_to_rewrite`` finds the ones
that may, so the others are printed as they were read:

- a line that is not printable ASCII, holds a backslash (a JSON escape may hide a control
  character or a quote) or is longer than a string may be, is rewritten;
- over the whole block, the fragments ``Redactor.redact_known`` needs before any pattern
  runs (its gates: secret words, ``://``, command names, token shapes) and the explicit
  secret values are searched once, in C; a line without a hit cannot change, since each of
  its strings lies inside the line, between quotes that no gate needs;
- a hit inside a string sends that string, once per distinct string, through
  ``redact_known``; a secret-named key (``"api_key": ...``) has its value hidden. A hit
  that is not inside one string, or anything unsure, rewrites the line.

``raw_lines_to_rewrite`` gives the same answer for lines as read (bytes), mostly in C: a
printable ASCII line without a backslash is split at its quotes, its strings looked up
among those already judged or recognised by shape (trace ids, digests, times); only the
other lines go through ``lines_to_rewrite``.
"""

from __future__ import annotations

import bisect
import itertools
import re
import weakref
from collections.abc import Iterator, Sequence

from cockpit.core.redact import _HARMLESS_KEY, _OBJ_KEY, Redactor
from cockpit.core.secret_rules import _TOKEN_GATE

#: every fragment the gates of ``redact_known`` look for, on lower-cased text
#: (``_word_hint``, ``_command_hint``, ``://``, and ``may_hold_token``'s plain words)
_HINTS = ("pass", "secret", "token", "key", "auth", "cred", "bearer", "cookie", "pw", "sig",
          "://", "mysql", "mariadb", "curl ", "login", "mongo", "redis-cli",
          "dapi", "4b1d", "hook")  # ("sshpass" holds "pass")
#: distinct strings each redactor was seen to leave alone (at most ``_KNOWN_MAX``)
_KNOWN: weakref.WeakKeyDictionary[Redactor, set[str]] = weakref.WeakKeyDictionary()
_KNOWN_MAX = 8192
_STR_LITERALS: weakref.WeakKeyDictionary[Redactor, re.Pattern[str]] = (
    weakref.WeakKeyDictionary())


def lines_to_rewrite(redactor: Redactor, lines: Sequence[str], limit: int) -> set[int]:
    """Indexes of ``lines`` (JSON texts, one record each) that the boundary may change;
    the other lines are exactly what ``Boundary.obj`` would give, serialised."""
    rewrite = {i for i, line in enumerate(lines)
               if len(line) > limit or "\\" in line or not (line.isascii()
                                                            and line.isprintable())}
    block = "\n".join(lines)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def line_of(pos: int) -> int:
        return bisect.bisect_right(starts, pos) - 1

    literals = _line_literals(redactor)
    if literals is not None:
        rewrite.update(line_of(m.start()) for m in literals.finditer(block))
    known = _KNOWN.setdefault(redactor, set())
    gate = ((m.start(), m.end()) for m in _TOKEN_GATE.finditer(block))
    low = block.lower()
    if len(low) != len(block):  # a non-ASCII line changed length (it is rewritten anyway)
        low = "\n".join(line.lower() if line.isascii() else " " * len(line) for line in lines)
    for start, end in itertools.chain(_hint_spans(low), gate):
        index = line_of(start)
        if index in rewrite:
            continue
        if _may_change_at(redactor, block, starts[index], start, end, known):
            rewrite.add(index)
    return rewrite


def _line_literals(redactor: Redactor) -> re.Pattern[str] | None:
    """The explicit secret values that fit in one line (a value with a newline is in no
    line of a block; searched, it could match across two)."""
    if redactor._literals is None:
        return None
    pattern = _STR_LITERALS.get(redactor)
    if pattern is None:
        values = sorted((v for v in redactor._literal_values if "\n" not in v),
                        key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, values)) if values else "(?!)")
        _STR_LITERALS[redactor] = pattern
    return pattern


def _hint_spans(low: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every occurrence of every hint in ``low`` (a substring search per
    hint: much faster than one alternation over the block)."""
    find = low.find
    for hint in _HINTS:
        size = len(hint)
        at = find(hint)
        while at != -1:
            yield at, at + size
            at = find(hint, at + 1)


def _may_change_at(redactor: Redactor, block: str, line_start: int, start: int, end: int,
                   known: set[str]) -> bool:
    """Does the string holding block[start:end] change (True when it is not one string)?"""
    if block.count('"', line_start, start) % 2 == 0:
        return True  # not inside a string: unsure
    opening = block.rfind('"', line_start, start)
    closing = block.find('"', start)
    if closing == -1 or closing < end or "\n" in block[opening:closing]:
        return True  # the match spans a quote: unsure
    string = block[opening + 1 : closing]
    after = closing + 1
    while block.startswith(" ", after):  # ``"key"   : value`` is a key too
        after += 1
    if (block.startswith(":", after) and _OBJ_KEY.search(string)
            and not _HARMLESS_KEY.search(string)):
        return True  # a secret-named key: its value is hidden
    if string in known:
        return False
    text, aws = redactor.redact_known(string)
    if aws or text != string:
        return True
    if len(known) >= _KNOWN_MAX:
        known.clear()
    known.add(string)
    return False


# --- the same answer on bytes, a block at a time -----------------------------------------

#: printable ASCII and the newline between lines: what a line printed as read may hold
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\n"
#: what JSON may hold outside strings: structure, spaces, numbers, true, false, null
_STRUCTURE = b"{}[],: \n0123456789.+-eEtruefalsn"
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
#: hex digits and dashes: trace ids, UUIDs, digests (no gate fragment but ``4b1d``)
_HEXDASH = b"0123456789abcdef-"
#: an ISO 8601 time: digits, ``-:.+``, ``T`` before a digit, ``Z`` at the end
_TIME = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?")
_TIMES = re.compile(rb"(?:%s\n)*%s" % (_TIME.pattern, _TIME.pattern))
_TIMES = re.compile(rb"(?:%s\n)*%s" % (_TIME.pattern, _TIME.pattern))
#: distinct strings each redactor was seen to leave alone as values, and those among them
#: that would hide the value after them as a key (both at most ``_KNOWN_MAX``)
_SAFE: weakref.WeakKeyDictionary[Redactor, tuple[set[bytes], set[bytes]]] = (
    weakref.WeakKeyDictionary())
_LITERALS: weakref.WeakKeyDictionary[Redactor, re.Pattern[bytes]] = weakref.WeakKeyDictionary()


def raw_lines_to_rewrite(redactor: Redactor, lines: Sequence[bytes], limit: int) -> set[int]:
    """``lines_to_rewrite`` for lines as read (UTF-8 bytes, each one JSON object, in the
    order of the file): the same indexes, found mostly in C over the whole block.

    A line is *certainly unchanged* when it is printable ASCII without a backslash (so
    every quote delimits a string, and the strings are the bytes between quote pairs),
    no explicit secret value occurs in it, what lies outside its strings is only JSON
    structure with no run of 16 digits (the one gate fragment a number can hold), and
    each of its strings is safe: a shape no gate needs (hex with dashes, an ISO time) or
    a string ``redact_known`` leaves alone that does not name a secret-holding key
    where it is a key. Every other line is judged by ``lines_to_rewrite``, one line at a
    time, so the answer is the one the str path gives line by line.
    """
    if not lines:
        return set()
    block = b"\n".join(lines)
    unsure: set[int] = set()
    if (block.isascii() and b"\\" not in block and not block.translate(None, _PRINTABLE)
            and max(map(len, lines)) <= limit):
        easy = list(range(len(lines)))
    else:
        easy = []
        for i, line in enumerate(lines):
            if (len(line) > limit or not line.isascii() or b"\\" in line
                    or line.translate(None, _PRINTABLE)):
                unsure.add(i)
            else:
                easy.append(i)
        block = b"\n".join(lines[i] for i in easy)
    rewrite: set[int] = set()
    if easy:
        sure_rewrite, more_unsure = _judge_block(redactor, block, len(easy))
        rewrite.update(easy[i] for i in sure_rewrite)
        unsure.update(easy[i] for i in more_unsure)
    if unsure:
        order = sorted(unsure)
        texts = [lines[i].decode("utf-8", "replace") for i in order]
        rewrite.update(order[i] for i in lines_to_rewrite(redactor, texts, limit))
    return rewrite


def _judge_block(redactor: Redactor, block: bytes, count: int) -> tuple[set[int], set[int]]:
    """(lines rewritten for sure, lines to judge one by one) of ``block``: ``count``
    printable ASCII JSON lines without a backslash, joined by newlines."""
    pieces = block.split(b'"')
    outside = b"".join(pieces[0::2])
    if (outside.translate(None, _STRUCTURE)
            or b"0" * 16 in outside.translate(_DIGITS_TO_ZERO)):
        return set(), set(range(count))  # something odd outside the strings: line by line
    safe, keyish = _SAFE.setdefault(redactor, (set(), set()))
    strings = set(pieces[1::2])
    unknown = strings - safe
    starts: list[int] | None = None

    def lines_holding(pattern: bytes | re.Pattern[bytes]) -> set[int]:
        nonlocal starts
        if isinstance(pattern, bytes):
            found, at = [], block.find(pattern)
            while at != -1:
                found.append(at)
                at = block.find(pattern, at + 1)
        else:
            found = [m.start() for m in pattern.finditer(block)]
        if not found:
            return set()
        if starts is None:
            starts = [0, *itertools.accumulate(len(p) + 1 for p in block.split(b"\n"))]
        return {bisect.bisect_right(starts, at) - 1 for at in found}

    unsure: set[int] = set()
    rest, odd = _not_hexdash(list(unknown))
    if rest and _TIMES.fullmatch(b"\n".join(rest)):
        rest = []  # times only (the usual case): one match over all of them
    for string in itertools.chain(rest, odd):
        if _string_verdict(redactor, string, safe, keyish) is None:
            unsure |= lines_holding(b'"' + string + b'"')
    for key in keyish & strings:  # safe as a value; as a key its value would be hidden
        unsure |= lines_holding(re.compile(rb'"' + re.escape(key) + rb'" *:'))
    rewrite: set[int] = set()
    if redactor._literals is not None:
        pattern = _LITERALS.get(redactor)
        if pattern is None:  # (a value with a newline is in no line: it would join two)
            values = sorted((v for v in redactor._literal_values if "\n" not in v),
                            key=len, reverse=True)
            pattern = re.compile(b"|".join(re.escape(v.encode()) for v in values)
                                 if values else rb"(?!)")
            _LITERALS[redactor] = pattern
        rewrite = lines_holding(pattern)
    return rewrite, unsure - rewrite


def _not_hexdash(strings: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """``strings`` but those made only of hex digits and dashes (trace ids, UUIDs,
    digests: no gate fragment), sorted out in C; and apart, those of them that hold
    ``4b1d`` (a gate fragment)."""
    joined = b"\n".join(strings)
    rest = list(itertools.compress(strings, joined.translate(None, _HEXDASH).split(b"\n")))
    odd = []
    at = joined.find(b"4b1d")
    while at != -1:  # a string holding the one hex gate fragment: judged too
        start = joined.rfind(b"\n", 0, at) + 1
        end = joined.find(b"\n", at)
        odd.append(joined[start : end if end != -1 else len(joined)])
        at = joined.find(b"4b1d", at + 1)
    return rest, odd


def _string_verdict(redactor: Redactor, string: bytes, safe: set[bytes], keyish: set[bytes]
                    ) -> bool | None:
    """True: ``string`` (printable ASCII) stays as it is wherever it is; None: unsure.
    A string ``redact_known`` leaves alone is remembered in ``safe`` (and, when it names
    a secret-holding key, in ``keyish``); shapes are recognised without being remembered."""
    if not string.translate(None, _HEXDASH) and b"4b1d" not in string:
        return True
    if string[:1].isdigit() and _TIME.fullmatch(string):
        return True
    text = string.decode("ascii")
    if redactor.redact_known(text) != (text, False):
        return None
    if len(safe) >= _KNOWN_MAX:
        safe.clear()
        keyish.clear()
    safe.add(string)
    if _OBJ_KEY.search(text) and not _HARMLESS_KEY.search(text):
        keyish.add(string)
    return True
