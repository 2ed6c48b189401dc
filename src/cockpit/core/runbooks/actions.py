"""A runbook step as a profile ``Action``: the exact script, its params, its danger.

The script is what ``ActionRunner`` hands the backend (``bash -euo pipefail``):
- shell steps: ``set +o pipefail`` first (runbook pipelines such as ``... | head`` are
  written for an interactive shell, where the last command's status counts), then the
  command with each placeholder token replaced by ``"${COCKPIT_P_NAME}"`` (quoted for
  where it sits, see ``placeholders.substitute``). ``-e`` and ``-u`` stay: a failing
  command or an unset variable stops the step.
- with ``capture_env`` (a section run) a trap writes the exported variables, NUL
  separated, to ``$COCKPIT_RUNBOOK_ENV/after`` (and ``before`` at the start), so the
  next step gets what this one exported (see ``session``).
- python steps: ``exec "${COCKPIT_RUNBOOK_PYTHON:-python3}" -`` fed the code by a quoted
  heredoc: the system's interpreter (set ``COCKPIT_RUNBOOK_PYTHON`` in a profile's env
  to choose another); placeholders are not substituted in Python code.
- powershell (when ``pwsh`` is on PATH): ``pwsh -NoProfile -NonInteractive -Command -``.
Parameter values never enter the script text: they travel as environment variables.
A value starting with ``-`` is refused (``validate_params``) unless the fence allows it
(``{allow_leading_dash=NAME}``): the step may hand it to a command as an option.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from cockpit.core.config.models import Action, Param
from cockpit.core.durations import parse_duration
from cockpit.core.errors import UsageError
from cockpit.core.runbooks.model import Runbook, Step
from cockpit.core.runbooks.placeholders import (
    SAFE_VALUE,
    dash_allowed,
    date_regex,
    missing_params,
    substitute,
)

DEFAULT_TIMEOUT = 300.0
ENV_DIR_VAR = "COCKPIT_RUNBOOK_ENV"
_CAPTURE = (
    "__cockpit_env() { local n; for n in $(compgen -e); do "
    'printf \'%s=%s\\0\' "$n" "${!n-}"; done; }\n'
    f'__cockpit_env > "${ENV_DIR_VAR}/before"\n'
    f"trap '__cockpit_env > \"${ENV_DIR_VAR}/after\"' EXIT\n"
)


def action_id(runbook: Runbook, step: Step) -> str:
    """``rb.<file-stem>.<step id>``, lower-case, fit for ``Action.id``."""
    raw = f"rb.{runbook.stem}.{step.id.replace('/', '.')}".lower()
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", raw)
    return re.sub(r"-{2,}", "-", cleaned)


def _heredoc(body: str, base: str) -> tuple[str, str]:
    delimiter = base
    lines = set(body.split("\n"))
    n = 1
    while delimiter in lines:
        delimiter, n = f"{base}_{n}", n + 1
    return delimiter, body


#: A block runs as if pasted into a terminal: a failing command does not stop the ones
#: after it (no -e, -u or pipefail) ...
_AS_PASTED = (
    "set +eu +o pipefail\n"
    "__cockpit_failed=0\n"
    "trap '__cockpit_rc=$?; [ \"$__cockpit_failed\" -ne 0 ] "
    "|| __cockpit_failed=$__cockpit_rc' ERR\n"
)
#: ... but the step still fails, with the status of the first command that failed.
_EXIT_FIRST_FAILURE = 'exit "$__cockpit_failed"\n'


def step_script(step: Step, *, capture_env: bool = False) -> str:
    """The script the backend runs for this step; ``UsageError`` if it cannot run."""
    if not step.runnable:
        raise UsageError(f"{step.id} (line {step.line}) cannot run: {step.reason}")
    header = f"# runbook step {step.id} (line {step.line})\n"
    if step.language == "python":
        delimiter, body = _heredoc(step.command, "COCKPIT_PYTHON_EOF")
        return (
            f"{header}exec \"${{COCKPIT_RUNBOOK_PYTHON:-python3}}\" - <<'{delimiter}'\n"
            f"{body}\n{delimiter}\n"
        )
    if step.language == "powershell":
        delimiter, body = _heredoc(step.command, "COCKPIT_PWSH_EOF")
        pwsh = "exec pwsh -NoProfile -NonInteractive -Command -"
        return f"{header}{pwsh} <<'{delimiter}'\n{body}\n{delimiter}\n"
    try:
        command = substitute(step.command, step.placeholders)
    except ValueError as exc:
        raise UsageError(f"{step.id}: {exc}") from None
    capture = _CAPTURE if capture_env else ""
    return f"{header}{capture}{_AS_PASTED}{command}\n{_EXIT_FIRST_FAILURE}"


def step_lines(step: Step) -> str:
    """The step's own lines as they run (placeholders as their ``"${COCKPIT_P_X}"``)."""
    if step.is_shell:
        try:
            return substitute(step.command, step.placeholders)
        except ValueError:
            return step.command
    return step.command


#: Between a step's own lines and the whole script in a confirmation.
WRAPPED = "── the whole script, as the backend runs it (the cockpit's wrapper included) ──"


def confirmation_text(step: Step, display: str) -> str:
    """What a confirmation shows: the step's own lines first, then the exact script.

    ``display`` is the prepared command (``PreparedAction.display``). A confirmation box
    of a few lines then shows what the step does, not the wrapper around it; the
    wrapper stays available below it.
    """
    return f"{step_lines(step).rstrip()}\n\n{WRAPPED}\n{display}"


def step_params(step: Step, env: Mapping[str, str] | None = None) -> list[Param]:
    """The step's parameters; ``$VARS`` already defined in ``env`` are not asked for.

    A value starting with ``-`` is refused unless the fence names the param in
    ``{allow_leading_dash=NAME}``: the step may hand it to a command as an option.
    """
    params = []
    dashes = dash_allowed(step.annotations)
    for p in missing_params(step.placeholders, env or {}):
        if p.kind == "date" and len(p.tokens) == 1:
            regex = date_regex(p.tokens[0])
        elif p.restricted:
            regex = SAFE_VALUE
        else:
            regex = None
        description = p.description
        if p.restricted:
            description += " (inside single quotes: letters, digits and _.:/@+=,%~- only)"
        params.append(
            Param(
                name=p.name,
                type="string",
                description=description,
                regex=regex,
                env=p.env_name,
                secret=_looks_secret(p.name),
                allow_leading_dash=p.name in dashes,
            )
        )
    return params


def step_action(
    runbook: Runbook,
    step: Step,
    *,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    capture_env: bool = False,
) -> Action:
    """The step as an ``Action`` for ``ActionRunner.prepare``.

    ``env`` is what is already defined (profile + process environment): ``$VARS`` found
    there are not params. ``extra_env`` is added to the step's environment (variables
    exported by earlier steps of a session).
    """
    timeout = DEFAULT_TIMEOUT
    if "timeout" in step.annotations:
        try:
            timeout = parse_duration(step.annotations["timeout"])
        except ValueError:
            pass
    title = f"{step.section.title} — step {step.id}"
    return Action(
        id=action_id(runbook, step),
        title=title,
        description=f"{runbook.path}:{step.line}",
        tags=["runbook", step.language or "text"],
        script=step_script(step, capture_env=capture_env),
        params=step_params(step, env),
        danger=step.danger.level,
        timeout=timeout,
        env=dict(extra_env or {}),
        cwd=cwd,
    ).mark_runbook_step()


def step_source(runbook: Runbook, step: Step) -> dict[str, Any]:
    """The ``source`` of the audit record: which runbook, which step, which line."""
    return {
        "kind": "runbook",
        "path": str(runbook.path.resolve()) if runbook.path.name else str(runbook.path),
        "step": step.id,
        "line": step.line,
    }


def dry_run_text(
    step: Step,
    values: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    capture_env: bool = False,
    reveal_secrets: bool = False,
) -> str:
    """Exactly what would run: the env assignments (``shlex.quote``d) and the script.

    Params without a value are shown as a comment; secret values as ``***``.
    """
    values = values or {}
    lines = [f"# {step.id} (line {step.line}) — {step.danger.level}"]
    lines += [f"#   {reason}" for reason in step.danger.reasons]
    assignments = []
    for param in step_params(step, env):
        if param.name in values:
            value = str(values[param.name])
            shown = "'***'" if param.secret and not reveal_secrets else shlex.quote(value)
            assignments.append(f"{param.env_name}={shown}")
        else:
            lines.append(f"# {param.env_name} is not set: pass -p {param.name}=VALUE")
    delimiter, script = _heredoc(step_script(step, capture_env=capture_env).rstrip("\n"), "SCRIPT")
    lines += [f"{a} \\" for a in assignments]
    lines.append(f"bash -euo pipefail <<'{delimiter}'")
    lines.append(script)
    lines.append(delimiter)
    return "\n".join(lines) + "\n"


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))
