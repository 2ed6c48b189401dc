"""The one boundary for outside text.

Whatever comes from a watched system, a runbook or a user (log lines, health replies,
target names, command output, runbook code) passes through here before a pane, a CLI
line, JSON output or an audit record sees it:

* **secrets redacted**, with state across lines (a private key's body is hidden even when
  it arrives one line at a time): ``Redactor`` does the matching;
* **escapes made visible, never live and never silently removed**: ``ESC`` is shown as
  ``\\e``, other control characters as ``\\xNN`` (``\\n``, ``\\r`` for line breaks where one
  line is expected), invisible format characters (bidi overrides, zero-width spaces) as
  ``\\uNNNN``; tabs are kept. What is displayed is what runs: a runbook block
  ``df -h <ESC>]0;$(cmd)<BEL>`` is shown as ``df -h \\e]0;$(cmd)\\x07``;
* **lengths bounded with a visible mark**: ``…[+N chars]`` says how much was cut.

``Boundary(redactor)`` bundles the three; ``boundary.line(text)`` for one line,
``.text(text)`` for a block, ``.obj(value)`` for JSON-like values, ``.stream()`` for the
successive lines of one stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from cockpit.core.redact import Redactor, StreamRedactor, default_redactor

TYPE_CHECKING = False  # (typing: milliseconds of an incident query's start)
if TYPE_CHECKING:
    from typing import Any

#: Longest line shown or printed before it is cut with a mark.
LINE_LIMIT = 4096
#: Longest block (multi-line text, a JSON string value) before it is cut with a mark.
TEXT_LIMIT = 65_536

# C0 and C1 controls but tab, DEL, and invisible format characters: soft hyphen, the
# Arabic letter mark, combining grapheme joiner, Mongolian vowel separator, Hangul fillers,
# bidi embeddings, overrides and isolates, zero-width spaces and joiners, line/paragraph
# separators, BOM. (Variation selectors stay: emoji need them.)
_INVISIBLE = (r"\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e"
              r"\u2060-\u2069\u3164\ufeff\uffa0")
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f" + _INVISIBLE + "]")
_UNSAFE_KEEP_NL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f" + _INVISIBLE + "]")
_NAMED = {"\x1b": "\\e", "\n": "\\n", "\r": "\\r", "\x07": "\\a", "\x08": "\\b", "\x00": "\\0"}


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def show_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every escape sequence and control character made visible.

    Nothing is removed: ``"\\x1b[31mred"`` becomes ``"\\e[31mred"``. A line ending
    ``\\r\\n`` (or a final ``\\r``) is a line ending, not content: with ``keep_newlines`` it
    becomes ``\\n``; a lone trailing ``\\r`` is dropped. Tabs are kept.
    """
    if text.isprintable() and text.isascii():
        return text  # the common case; some invisible characters count as printable
    if "\r" in text:
        text = text.replace("\r\n", "\n") if keep_newlines else text
        if text.endswith("\r"):
            text = text[:-1]
    pattern = _UNSAFE_KEEP_NL if keep_newlines else _UNSAFE
    return pattern.sub(_visible, text)


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control or invisible character (tabs and newlines aside)."""
    return _UNSAFE_KEEP_NL.search(text) is not None


def bound(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with ``…[+N chars]`` saying what was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[+{len(text) - limit} chars]"


class Boundary:
    """Redaction, visible controls and bounded lengths, in that order, in one place."""

    def __init__(self, redactor: Redactor | None = None, *, line_limit: int = LINE_LIMIT,
                 text_limit: int = TEXT_LIMIT) -> None:
        self.redactor = redactor if redactor is not None else default_redactor()
        self.line_limit = line_limit
        self.text_limit = text_limit

    def line(self, text: str) -> str:
        """One line as a pane or the CLI shows it: line breaks inside show as ``\\n``."""
        return bound(show_controls(self.redactor.redact(text)), self.line_limit)

    def text(self, text: str) -> str:
        """A block of lines: secrets hidden across lines, each line and the whole bounded."""
        if len(text) > self.text_limit * 2:
            text = bound(text, self.text_limit * 2)  # cap the work before redaction
        stream = self.stream()
        lines = [stream.line(part) for part in text.split("\n")]
        return bound("\n".join(lines), self.text_limit)

    def obj(self, value: Any) -> Any:
        """A JSON-like value with every string redacted, made visible and bounded."""
        return _visible_obj(self.redactor.redact_obj(value), self.text_limit)

    def json_lines(self, lines: list[str], parse: Callable[[str], Any]) -> list[str]:
        """JSON lines (one record each) as ``obj`` makes them, serialised: a line that
        cannot change (``redact_json.lines_to_rewrite``) as it is, the others parsed with
        ``parse``, made safe and written again."""
        from cockpit.core.redact_json import lines_to_rewrite

        rewrite = lines_to_rewrite(self.redactor, lines, self.text_limit)
        if not rewrite:
            return lines
        import json

        out = list(lines)
        for index in rewrite:
            out[index] = json.dumps(self.obj(parse(lines[index])), ensure_ascii=False)
        return out

    def stream(self) -> LineStream:
        """Successive lines of one stream (a log, a command's output), redacted with state."""
        return LineStream(self.redactor.stream(), self.line_limit)


class LineStream:
    """The boundary for the successive lines of one stream (see ``Boundary.stream``)."""

    __slots__ = ("_limit", "_redactor")

    def __init__(self, redactor: StreamRedactor, limit: int) -> None:
        self._redactor = redactor
        self._limit = limit

    def line(self, text: str) -> str:
        """The next line of the stream, made safe."""
        return bound(show_controls(self._redactor.redact_line(text)), self._limit)


def _visible_obj(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return bound(show_controls(value, keep_newlines=True), limit)
    if isinstance(value, Mapping):
        return {
            (_visible_obj(k, limit) if isinstance(k, str) else k): _visible_obj(v, limit)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_visible_obj(v, limit) for v in value]
    return value
