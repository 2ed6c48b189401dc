"""Copy-paste damage in commands: find it, say where, and repair it visibly.

Commands pasted through chat tools and word processors arrive with smart quotes,
non-breaking or zero-width spaces, dashes where an option's ``--`` was, Markdown links
wrapped around URLs and shell prompts. Each spot becomes a ``Repair`` (line, column,
what was there, what runs instead); nothing is changed without one.

Not damage: an apostrophe between two letters (``it’s``), typographic characters in
comments or strings that are not quotes or option dashes (``✓``, ``—`` between words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cockpit.core.runbooks.model import Repair

_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033"
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032"
_ODD_SPACES = "\u00a0\u1680\u202f\u205f\u3000" + "".join(chr(c) for c in range(0x2000, 0x200B))
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_CHARS = re.compile(f"[{_DOUBLE_QUOTES}{_SINGLE_QUOTES}{_ODD_SPACES}{_ZERO_WIDTH}]")
#: an en/em dash or minus sign where an option dash belongs: ``–-flag``, ``—flag``, ``−f``
_DASH = re.compile(r"(?:(?<=\s)|^)([\u2013\u2014\u2212]{1,2}-?)(?=[A-Za-z])")
_MD_LINK = re.compile(r"\[(https?://[^\]\s]+)\]\((https?://[^)\s]+)\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
#: a pasted shell prompt at the start of a line: ``$ ``, ``user@host:~$ ``, ``PS> ``
PROMPT = re.compile(
    r"^(?P<prompt>(?:\([\w.-]+\)\s)?(?:[\w.-]+@[\w.-]+(?::[^\s$#]*)?\s?)?[$%]"
    r"|[\w.-]+@[\w.-]+(?::[^\s$#]*)?\s?#|PS(?:\s[^>\n]*)?>)[ \t]+(?=\S)"
)
_ROOT_PROMPT = re.compile(r"^(?P<prompt>#)[ \t]+(?=\S)")
#: a line that is nothing but a prompt: what terminals show after the last command
_BARE_PROMPT = re.compile(
    r"^\s*(?:(?:\([\w.-]+\)\s)?(?:[\w.-]+@[\w.-]+(?::\S*)?\s?)?[$%]|PS(?:\s[^>\n]*)?>|>>>)\s*$"
)


def _char_kind(ch: str) -> tuple[str, str]:
    if ch in _DOUBLE_QUOTES:
        return "smart-quote", '"'
    if ch in _SINGLE_QUOTES:
        return "smart-quote", "'"
    if ch in _ODD_SPACES:
        return "odd-space", " "
    return "zero-width", ""


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X}"


@dataclass(frozen=True)
class LineFix:
    """A repaired line and the repairs made to it."""

    text: str
    repairs: list[Repair]


def repair_line(text: str, line: int, column_offset: int = 0) -> LineFix:
    """Repair characters, dashes and links in one line of a command.

    ``column_offset`` is the number of characters before ``text`` on the file's line
    (indentation of a fence inside a list), so columns point into the file.
    """
    if text.isascii() and "](" not in text and "<http" not in text:
        return LineFix(text, [])
    edits: list[tuple[int, int, str, str]] = []  # start, end, kind, replacement
    for m in _CHARS.finditer(text):
        ch = m.group()
        if ch in "\u2019" and 0 < m.start() < len(text) - 1:
            before, after = text[m.start() - 1], text[m.start() + 1]
            if before.isalpha() and after.isalpha():
                continue  # an apostrophe: it's, don't
        kind, replacement = _char_kind(ch)
        edits.append((m.start(), m.end(), kind, replacement))
    for m in _DASH.finditer(text):
        dashes = m.group(1)
        word = re.match(r"[A-Za-z]+", text[m.end() :])
        single = dashes in ("\u2212", "\u2013") and word is not None and len(word.group()) == 1
        edits.append((m.start(1), m.end(1), "dash", "-" if single else "--"))
    for m in _MD_LINK.finditer(text):
        label, target = m.group(1), m.group(2)
        if label.rstrip("/") == target.rstrip("/"):
            edits.append((m.start(), m.end(), "md-link", target))
    for m in _AUTOLINK.finditer(text):
        edits.append((m.start(), m.end(), "md-link", m.group(1)))
    if not edits:
        return LineFix(text, [])
    edits.sort()
    out: list[str] = []
    repairs: list[Repair] = []
    pos = 0
    for start, end, kind, replacement in edits:
        if start < pos:
            continue  # overlapping (a link holding an odd space): the first edit wins
        out.append(text[pos:start])
        out.append(replacement)
        original = text[start:end]
        shown = original if kind in ("md-link", "dash", "smart-quote") else _describe(original)
        repairs.append(Repair(line, start + 1 + column_offset, kind, shown, replacement))
        pos = end
    out.append(text[pos:])
    return LineFix("".join(out), repairs)


def strip_prompt(text: str, *, root: bool = False) -> tuple[str, str] | None:
    """``(prompt, rest)`` when ``text`` starts with a shell prompt, else None.

    ``root`` also accepts a bare ``# `` (a root prompt, meaningful in console blocks only).
    """
    stripped = text.lstrip(" \t")
    indent = len(text) - len(stripped)
    m = PROMPT.match(stripped) or (_ROOT_PROMPT.match(stripped) if root else None)
    if not m:
        return None
    return text[: indent + m.end()], stripped[m.end() :]


def is_bare_prompt(text: str) -> bool:
    """A line holding only a prompt (``$``, ``user@host:~$``, ``PS>``)."""
    return bool(_BARE_PROMPT.match(text))
