"""Turn the lines of a fenced block into the command that would run.

- ``console`` blocks: lines after a prompt (``$ ``, ``% ``, ``user@host:~$ ``; ``# `` when
  the block has no other prompt) are commands, with their continuation lines (``\\``
  at the end, heredoc bodies, a ``> `` secondary prompt); every other line is output,
  kept as the step's expected output.
- shell blocks (``bash``, ``sh``...): a pasted prompt is copy-paste damage. It is
  stripped with a ``prompt`` repair, and the block is then read like a console
  transcript: a line without a prompt is output (noted, not run).
- every command line is repaired character by character (``repair.repair_line``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cockpit.core.runbooks.model import Expectation, Finding, Repair
from cockpit.core.runbooks.repair import PROMPT, is_bare_prompt, repair_line, strip_prompt

_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_PS2 = re.compile(r"^\s*> ?")

#: (file line, column offset of the text on that line, text)
SourceLine = tuple[int, int, str]


@dataclass
class Body:
    command: str
    lines: tuple[int, ...]  #: file line of each command line
    repairs: list[Repair] = field(default_factory=list)
    outputs: list[Expectation] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    prompts: int = 0  #: command lines that had a prompt


def _ends_open(text: str, heredoc: str | None) -> tuple[bool, str | None]:
    """Does the command continue on the next line? Returns (continues, heredoc delimiter)."""
    if heredoc is not None:
        return (text.strip() != heredoc), (None if text.strip() == heredoc else heredoc)
    m = _HEREDOC.search(text)
    if m and "<<<" not in text[max(0, m.start() - 1) : m.start() + 3]:
        return True, m.group(2)
    return text.rstrip().endswith("\\"), None


def build_body(lines: list[SourceLine], language: str) -> Body:
    """The command, line map, repairs and output of a block's lines."""
    if language == "python":
        return _plain(lines, repair=True)
    if language not in ("bash", "sh", "shell", "zsh", "console"):
        return _plain(lines, repair=False)
    has_prompt = any(PROMPT.match(text.lstrip(" \t")) for _, _, text in lines)
    if language == "console":
        return _transcript(lines, damage=False, root=not has_prompt)
    if has_prompt:
        return _transcript(lines, damage=True, root=False)
    return _plain(lines, repair=True, trailing_prompt=True)


def _plain(lines: list[SourceLine], *, repair: bool, trailing_prompt: bool = False) -> Body:
    body = Body("", ())
    texts: list[str] = []
    numbers: list[int] = []
    last = max((k for k, (_, _, t) in enumerate(lines) if t.strip()), default=-1)
    for k, (number, offset, text) in enumerate(lines):
        if trailing_prompt and k == last and is_bare_prompt(text):
            body.repairs.append(Repair(number, offset + 1, "trailing-prompt", text.strip(), ""))
            continue
        if repair:
            fix = repair_line(text, number, offset)
            text = fix.text
            body.repairs.extend(fix.repairs)
        texts.append(text)
        numbers.append(number)
    body.command = "\n".join(texts)
    body.lines = tuple(numbers)
    return body


def _transcript(lines: list[SourceLine], *, damage: bool, root: bool) -> Body:
    body = Body("", ())
    texts: list[str] = []
    numbers: list[int] = []
    output: list[tuple[int, str]] = []
    continuing = False
    heredoc: str | None = None

    def flush_output() -> None:
        if output and any(t.strip() for _, t in output):
            text = "\n".join(t for _, t in output).strip("\n")
            body.outputs.append(Expectation(text, output[0][0], "console"))
        output.clear()

    for number, offset, text in lines:
        if continuing:
            ps2 = _PS2.match(text)
            if ps2 and not text.lstrip().startswith(">>"):
                text = text[ps2.end() :]
                offset += ps2.end()
            fix = repair_line(text, number, offset)
            texts.append(fix.text)
            numbers.append(number)
            body.repairs.extend(fix.repairs)
            continuing, heredoc = _ends_open(fix.text, heredoc)
            continue
        prompt = strip_prompt(text, root=root)
        if prompt is not None:
            flush_output()
            shown, rest = prompt
            if damage:
                body.repairs.append(Repair(number, offset + 1, "prompt", shown.strip() + " ", ""))
            fix = repair_line(rest, number, offset + len(shown))
            texts.append(fix.text)
            numbers.append(number)
            body.repairs.extend(fix.repairs)
            body.prompts += 1
            continuing, heredoc = _ends_open(fix.text, None)
            continue
        if is_bare_prompt(text):
            if damage:
                body.repairs.append(Repair(number, offset + 1, "trailing-prompt", text.strip(), ""))
            continue
        stripped = text.strip()
        if damage and (not stripped or stripped.startswith("#")):
            continue  # blank lines and comments between prompted commands
        output.append((number, text))
        if damage and stripped:
            body.notes.append(
                Finding(
                    number,
                    "transcript",
                    "no prompt on this line of a block with prompts: read as output, not run",
                )
            )
    flush_output()
    body.command = "\n".join(texts)
    body.lines = tuple(numbers)
    return body
