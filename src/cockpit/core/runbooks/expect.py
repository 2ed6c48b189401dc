"""Expected output: labels that introduce it, and ``# Expected ...`` comments in a block.

Choice: a block of expected output is **not** a step. It is attached to the step before
it (``Step.expectations``) when either
- the paragraph right before it is a label (``Expected:``, ``Expected output``,
  ``**Expected response:**``, ``Example output:``) and the block itself does not run
  (json, text, yaml, no language...), or
- it is a json/text/no-language block right after a runnable step, with nothing between;
and that step is in the same section. Otherwise it is an ordinary (non-runnable) step.
"""

from __future__ import annotations

import re

from cockpit.core.runbooks.model import Expectation

_LABEL = re.compile(r"^(?:expected|example|sample)\b[^\n]{0,60}$", re.I)
_COMMENT = re.compile(r"^\s*#\s*(?:expected|example output|sample output)\b", re.I)
OUTPUT_LANGUAGES = frozenset({"", "json", "text", "txt", "plaintext", "plain", "output", "log"})


def is_label(paragraph: str) -> bool:
    """Does a paragraph announce expected output (``**Expected:**``, ``Expected response:``)?"""
    plain = re.sub(r"[*_`]", "", paragraph).strip()
    if not _LABEL.match(plain):
        return False
    return plain.endswith(":") or len(plain) <= 30


def comment_expectations(command: str, lines: tuple[int, ...]) -> list[Expectation]:
    """``# Expected ...`` comments and the comment lines right after them."""
    found: list[Expectation] = []
    texts = command.split("\n")
    k = 0
    while k < len(texts):
        if not _COMMENT.match(texts[k]):
            k += 1
            continue
        start = k
        group = [_uncomment(texts[k])]
        k += 1
        while k < len(texts) and texts[k].lstrip().startswith("#") and not _COMMENT.match(texts[k]):
            group.append(_uncomment(texts[k]))
            k += 1
        line = lines[start] if start < len(lines) else (lines[-1] if lines else 0)
        found.append(Expectation("\n".join(group).rstrip(), line, "comment"))
    return found


def _uncomment(text: str) -> str:
    body = text.lstrip()[1:]
    return body[1:] if body.startswith(" ") else body
