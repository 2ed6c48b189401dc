"""Control characters in code blocks: what a terminal would hide or act on.

A block ``df -h /tmp <ESC>]0;$(cmd)<BEL>`` looks like ``df -h /tmp`` on a terminal (the
OSC sequence sets the window title) while bash runs ``$(cmd)``. Such characters are never
removed: they are shown visibly (``boundary.show_controls``), ``lint`` reports each line
holding one (``control-character``), and a step whose command holds one is dangerous
whatever its annotation says (see ``danger.assess``).

Counted: C0 and C1 controls but tab and newline, DEL, and the invisible characters that
stay in what runs (bidi embeddings, overrides and isolates, direction marks, line and
paragraph separators, invisible operators). Zero-width spaces and joiners are
copy-paste damage instead: ``repair`` removes them from what runs and says so.
"""

from __future__ import annotations

import re

from cockpit.core.boundary import bound, show_controls
from cockpit.core.runbooks.body import SourceLine
from cockpit.core.runbooks.model import Finding

KIND = "control-character"
#: How a danger reason about a control character starts (``lint`` keys on it).
REASON = "control character"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2061-\u2069]")
_NAMES = {"\x1b": "ESC", "\x07": "BEL", "\x08": "BS", "\x00": "NUL", "\x9b": "CSI",
          "\x9d": "OSC", "\x90": "DCS", "\x7f": "DEL", "\x0d": "CR", "\x0c": "FF",
          "\u202e": "RIGHT-TO-LEFT OVERRIDE", "\u202d": "LEFT-TO-RIGHT OVERRIDE",
          "\u2066": "LEFT-TO-RIGHT ISOLATE", "\u2067": "RIGHT-TO-LEFT ISOLATE",
          "\u2068": "FIRST STRONG ISOLATE", "\u2069": "POP DIRECTIONAL ISOLATE"}  # fmt: skip
_SHOWN = 160  #: longest visible form of a line quoted in a message


def first_control(text: str) -> int:
    """Offset of the first control character in ``text``; -1 when there is none."""
    m = _CONTROL.search(text)
    return m.start() if m else -1


def describe(ch: str) -> str:
    """``\\e (ESC)``: the visible form of one control character and its name."""
    name = _NAMES.get(ch, f"U+{ord(ch):04X}")
    return f"{show_controls(ch)} ({name})"


def control_findings(lines: list[SourceLine]) -> list[Finding]:
    """One ``control-character`` finding per line holding one, with its visible form."""
    findings = []
    for number, offset, text in lines:
        at = first_control(text)
        if at < 0:
            continue
        count = len(_CONTROL.findall(text))
        more = f" (and {count - 1} more)" if count > 1 else ""
        findings.append(
            Finding(
                number,
                KIND,
                f"column {offset + at + 1}: {describe(text[at])}{more}; a terminal hides "
                f"or acts on it, so what is displayed is not what runs: "
                f"{bound(show_controls(text), _SHOWN)}",
            )
        )
    return findings


def command_control(command: str) -> tuple[int, str] | None:
    """``(0-based line, description)`` of the first control character in a command."""
    at = first_control(command)
    if at < 0:
        return None
    return command.count("\n", 0, at), describe(command[at])
