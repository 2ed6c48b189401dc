"""Markdown runbooks: parse a team's runbook as it is, analyse its steps, run them audited.

The modules, each with one job:
- ``parser``: Markdown -> ``Runbook`` (sections, steps, checklist, file problems);
- ``fence``, ``body``, ``repair``, ``expect``: what one fenced block is (language and
  annotations, the command that would run, copy-paste repairs, expected output);
- ``shell``: a forgiving lexer for shell text; ``placeholders`` and ``danger`` use it;
- ``actions``: a step as a profile ``Action`` (script, params, danger), dry-run text;
- ``session``: run steps in order through an ``ActionRunner``, exported vars carried;
- ``checklist``: checklist state under the state directory; ``lint``: findings.
"""

from cockpit.core.runbooks.actions import dry_run_text, step_action, step_params, step_source
from cockpit.core.runbooks.checklist import ChecklistStore
from cockpit.core.runbooks.lint import lint, lint_lines
from cockpit.core.runbooks.model import (
    ChecklistItem,
    DangerAssessment,
    Expectation,
    Finding,
    Placeholder,
    Repair,
    Runbook,
    RunbookError,
    Section,
    Step,
)
from cockpit.core.runbooks.parser import parse_bytes, parse_runbook, parse_text
from cockpit.core.runbooks.session import RunbookSession, StepRun

__all__ = [
    "ChecklistItem",
    "ChecklistStore",
    "DangerAssessment",
    "Expectation",
    "Finding",
    "Placeholder",
    "Repair",
    "Runbook",
    "RunbookError",
    "RunbookSession",
    "Section",
    "Step",
    "StepRun",
    "dry_run_text",
    "lint",
    "lint_lines",
    "parse_bytes",
    "parse_runbook",
    "parse_text",
    "step_action",
    "step_params",
    "step_source",
]
