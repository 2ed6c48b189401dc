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
"""

from __future__ import annotations

import bisect
import itertools
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

    literals = redactor._literals
    if literals is not None:
        rewrite.update(line_of(m.start()) for m in literals.finditer(block))
    known = _KNOWN.setdefault(redactor, set())
    gate = ((m.start(), m.end()) for m in _TOKEN_GATE.finditer(block))
    for start, end in itertools.chain(_hint_spans(block.lower()), gate):
        index = line_of(start)
        if index in rewrite:
            continue
        if _may_change_at(redactor, block, starts[index], start, end, known):
            rewrite.add(index)
    return rewrite


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
    after = block[closing + 1 : closing + 3].lstrip(" ")
    if after.startswith(":") and _OBJ_KEY.search(string) and not _HARMLESS_KEY.search(string):
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
