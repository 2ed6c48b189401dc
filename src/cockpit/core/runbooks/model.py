"""What a parsed Markdown runbook is made of: sections, steps, checklist items, findings.

Line numbers are 1-based lines of the Markdown file; columns are 1-based as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cockpit.core.config.models import Danger
from cockpit.core.errors import ConfigError, UsageError

DANGER_RANK: dict[str, int] = {"safe": 0, "caution": 1, "dangerous": 2}
_ENDLESS = re.compile(
    r"\b(?:tail\s+(?:-\w*[fF]\w*|--follow)|watch\s|journalctl\s.*?(?:-f\b|--follow)"
    r"|kubectl\s.*?(?:\s-f\b(?=\s*$|\s+-)|--follow|\s-w\b|--watch)|kubectl\s+edit"
    r"|docker(?:-compose|\s+compose)?\s+logs\s.*?(?:-f\b|--follow))",
    re.MULTILINE,
)
PlaceholderKind = Literal["angle", "brace", "caps", "date", "env"]
#: Where a placeholder token sits in shell text, which decides how it is replaced.
Context = Literal["code", "double", "single", "ansi", "heredoc", "heredoc_quoted"]


class RunbookError(ConfigError):
    """The runbook cannot be read at all (missing, binary). ``problems``: ``FILE:LINE: msg``."""


@dataclass(frozen=True)
class Finding:
    """One problem worth an operator's attention, printed as ``FILE:LINE: kind: message``."""

    line: int
    kind: str
    message: str

    def format(self, file: str | Path) -> str:
        return f"{file}:{self.line}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class Section:
    """A heading. ``slug`` is its GitHub-style anchor, unique in the file."""

    title: str
    slug: str
    level: int  #: 1-6; 0 for the implicit section before the first heading
    line: int
    path: tuple[str, ...]  #: slugs from the outermost heading down to this one


@dataclass(frozen=True)
class Repair:
    """Copy-paste damage in a command and what the cockpit runs instead."""

    line: int
    column: int
    kind: str  #: smart-quote, odd-space, zero-width, dash, md-link, prompt, ...
    original: str
    replacement: str

    @property
    def message(self) -> str:
        shown = self.replacement if self.replacement else "(removed)"
        return f"column {self.column}: {self.original!r} -> {shown!r}"

    def finding(self) -> Finding:
        return Finding(self.line, self.kind, self.message)


@dataclass(frozen=True)
class Expectation:
    """What a step's output should look like, as the runbook says."""

    text: str
    line: int
    source: Literal["block", "comment", "console"]
    language: str = ""


@dataclass(frozen=True)
class Occurrence:
    """One place of a placeholder token in ``Step.command`` (character offsets)."""

    start: int
    end: int
    context: Context
    line: int


@dataclass(frozen=True)
class Placeholder:
    """A value the operator must supply before a step runs."""

    name: str  #: a valid identifier (``PID``, ``UPDATE_ID``, ``VERITTA_AUDIT_LOG_PATH``)
    kind: PlaceholderKind
    tokens: tuple[str, ...]  #: as written (``<PID>``, ``{update_id}``, ``$X``)
    line: int  #: first occurrence
    description: str
    occurrences: tuple[Occurrence, ...] = ()
    #: True when a token sits inside single quotes: the value may then only hold
    #: characters that no shell or program re-parses (see ``placeholders.SAFE_VALUE``).
    restricted: bool = False

    @property
    def env_name(self) -> str:
        """The environment variable carrying the value into the step."""
        return self.name if self.kind == "env" else f"COCKPIT_P_{self.name}"


@dataclass(frozen=True)
class DangerAssessment:
    """How dangerous a step is and why."""

    level: Danger
    reasons: tuple[str, ...] = ()
    detected: Danger = "safe"  #: before any ``danger=`` annotation
    annotated: Danger | None = None


@dataclass
class Step:
    """A fenced code block (or a Quick Reference table command) that may run."""

    id: str
    index: int  #: position among the runbook's steps, from 0
    kind: Literal["block", "table"]
    language: str  #: normalised (``bash``, ``console``, ``python``, ``json``, ``""``)
    info: str  #: the whole fence info string
    section: Section
    line: int  #: the opening fence (or the table row)
    end_line: int
    source: str  #: the block as written
    command: str  #: what runs: repaired, prompts stripped, console output dropped
    command_lines: tuple[int, ...]  #: file line of each line of ``command``
    runnable: bool
    reason: str = ""  #: why it cannot run
    annotations: dict[str, str] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    placeholders: list[Placeholder] = field(default_factory=list)
    danger: DangerAssessment = field(default_factory=lambda: DangerAssessment("safe"))
    unclosed: bool = False
    notes: list[Finding] = field(default_factory=list)  #: e.g. console output lines dropped

    @property
    def is_shell(self) -> bool:
        return self.language in {"bash", "sh", "shell", "zsh", "console"}

    @property
    def in_run_all(self) -> bool:
        """Part of section runs (table commands and ``excludeFromRunAll`` steps are not)."""
        flag = self.annotations.get("excludeFromRunAll", self.annotations.get("skip", "false"))
        return self.kind == "block" and flag.lower() not in {"true", "yes", "1"}

    @property
    def endless(self) -> str:
        """A command that runs until stopped (``tail -f``, ``watch``, ``--follow``), or "":
        such a step ends only at its timeout (``timeout=`` annotation, default 5 min)."""
        match = _ENDLESS.search(self.command) if self.runnable else None
        return " ".join(match.group(0).split()) if match else ""

    def line_of(self, command_line: int) -> int:
        """File line of a 0-based line of ``command``."""
        if not self.command_lines:
            return self.line
        return self.command_lines[min(max(command_line, 0), len(self.command_lines) - 1)]


@dataclass(frozen=True)
class ChecklistItem:
    """A ``- [ ]`` task list item."""

    id: str
    section: Section
    text: str
    line: int
    checked: bool  #: as written in the file


@dataclass
class Runbook:
    """A parsed Markdown runbook."""

    path: Path
    title: str
    sections: list[Section]
    steps: list[Step]
    checklist: list[ChecklistItem]
    problems: list[Finding] = field(default_factory=list)  #: file-level findings

    @property
    def stem(self) -> str:
        return self.path.stem

    def step(self, step_id: str) -> Step:
        """The step with this id; ``UsageError`` naming a few known ids otherwise."""
        for step in self.steps:
            if step.id == step_id:
                return step
        known = ", ".join(s.id for s in self.steps[:8])
        more = " ..." if len(self.steps) > 8 else ""
        raise UsageError(f"{self.path}: no step {step_id!r} (steps: {known}{more})")

    def section(self, slug: str) -> Section | None:
        return next((s for s in self.sections if s.slug == slug), None)

    def section_steps(self, slug: str) -> list[Step]:
        """Steps of a section and its subsections that a section run includes, in order."""
        return [s for s in self.steps if slug in s.section.path and s.in_run_all]

    def select(self, target: str) -> list[Step]:
        """A step id, or a section slug (its steps in order); ``UsageError`` if neither."""
        if any(s.id == target for s in self.steps):
            return [self.step(target)]
        if self.section(target) is not None:
            return self.section_steps(target)
        return [self.step(target)]  # raises with the known ids
