"""``cockpit runbook lint``: what an operator should fix before trusting a runbook.

Findings (``FILE:LINE: kind: message``):
- file-level problems from parsing: ``unclosed-fence``, ``annotation``, ``invalid-utf8``,
  ``empty``;
- copy-paste damage in runnable steps: ``smart-quote``, ``odd-space``, ``zero-width``,
  ``dash``, ``md-link``, ``prompt``, ``trailing-prompt``, ``crlf``, and ``transcript``
  (a line read as output in a block with prompts);
- ``control-character``: an escape or other control character in a code block (its info
  string, command or output): a terminal hides it or acts on it, so what is displayed is
  not what runs (see ``controls``);
- ``dangerous-step``: a dangerous step without a ``danger=`` annotation saying so (a
  control character alone does not ask for one: it is reported as above);
- ``syntax``: ``bash -n`` rejects a shell step (after placeholders are substituted).
"""

from __future__ import annotations

import re
import shutil
import subprocess

from cockpit.core.runbooks.controls import REASON as CONTROL_REASON
from cockpit.core.runbooks.model import Finding, Runbook, Step
from cockpit.core.runbooks.placeholders import substitute

_BASH_ERROR = re.compile(r"line (\d+): (.*)")


def lint(runbook: Runbook, *, syntax: bool = True) -> list[Finding]:
    """Every finding of a parsed runbook, by line."""
    findings = list(runbook.problems)
    bash = shutil.which("bash") if syntax else None
    for step in runbook.steps:
        if step.runnable:
            findings += [r.finding() for r in step.repairs]
            findings += step.notes
        if (
            step.danger.level == "dangerous"
            and step.danger.annotated is None
            and _constructs(step)
        ):
            where = (
                "add {danger=dangerous} to its fence"
                if step.kind == "block"
                else "move it to a fenced block annotated {danger=dangerous}"
            )
            findings.append(
                Finding(
                    step.line,
                    "dangerous-step",
                    f"step {step.id} is dangerous ({'; '.join(_constructs(step))}) and not "
                    f"annotated: {where} if that is intended",
                )
            )
        if bash and step.runnable and (step.language in ("bash", "sh", "shell", "console")):
            problem = _syntax(bash, step)
            if problem is not None:
                findings.append(problem)
    return sorted(findings, key=lambda f: f.line)


def _constructs(step: Step) -> list[str]:
    """The dangerous constructs an annotation should acknowledge (not control characters)."""
    found = [r.split(": ", 1)[-1] for r in step.danger.reasons if r.startswith("dangerous")]
    return [c for c in found if not c.startswith(CONTROL_REASON)]


def _syntax(bash: str, step: Step) -> Finding | None:
    try:
        script = substitute(step.command, step.placeholders)
    except ValueError:
        return None
    try:
        proc = subprocess.run(
            [bash, "-n"], input=script, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode == 0:
        return None
    first = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else "syntax error"
    m = _BASH_ERROR.search(first)
    if not m:
        return Finding(step.line, "syntax", f"bash -n: {first}")
    line = step.line_of(int(m.group(1)) - 1)
    return Finding(line, "syntax", f"bash -n: {m.group(2)}")


def lint_lines(runbook: Runbook, *, syntax: bool = True) -> list[str]:
    """Findings formatted ``FILE:LINE: kind: message``."""
    return [f.format(runbook.path) for f in lint(runbook, syntax=syntax)]
