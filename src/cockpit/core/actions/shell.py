"""An interactive shell in a target, on the operator's terminal, recorded in the trail.

The backend names the command (``Backend.shell_argv``: ``docker exec -it web sh``); the
UI hands the real terminal to it. Since it runs whatever the operator then types, it is
treated as a ``caution`` action named ``shell``: a read-only profile refuses it, the UI
asks first (showing the exact command), and the trail gets what the runner writes for a
run, through the runner's own recording and redaction: a ``started`` record before the
terminal is handed over, then the outcome with the shell's exit status and duration (a
refusal is one ``denied`` record). A runtime file lives while the shell runs, so a
cockpit killed meanwhile leaves the session to be recorded ``abandoned`` at the next
start. What was typed and shown in the shell is not recorded.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping
from typing import Any

from cockpit.core.actions.policy import Decision, decide
from cockpit.core.actions.runner import ActionRunner, PreparedRun, RunOutcome
from cockpit.core.audit.trail import AuditSinkError
from cockpit.core.backends.base import CommandSpec
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import Action

SHELL_ACTION = "shell"
SHELL_DANGER = "caution"


def prepare_shell(runner: ActionRunner, target: str, argv: list[str], *,
                  source: Mapping[str, Any] | None = None) -> PreparedRun:
    """The shell session as a run to confirm and record: action ``shell`` on ``target``,
    its command shown exactly (redacted) as it will run."""
    action = Action(id=SHELL_ACTION, title=f"Interactive shell in {target}",
                    description="an interactive shell: the operator types arbitrary commands",
                    run=list(argv), danger=SHELL_DANGER, target=target)
    spec = CommandSpec(argv=list(argv), target=target)
    return PreparedRun(
        action=action, values={}, spec=spec, trace_id=runner.trace_ids(),
        redactor=runner.redactor, display=runner.redactor.redact(shlex.join(argv)),
        params_shown={}, source=dict(source or {"kind": "tui"}),
    )


def shell_decision(runner: ActionRunner, prepared: PreparedRun) -> Decision:
    """The policy for the session (a read-only profile refuses it)."""
    return decide(prepared.action, read_only=runner.read_only, confirmed=True)


def refuse_shell(runner: ActionRunner, prepared: PreparedRun, decision: Decision) -> RunOutcome:
    """Record a refused session (read-only, declined by the operator)."""
    return runner.record_denial(prepared, decision)


def record_shell_session(runner: ActionRunner, prepared: PreparedRun,
                         run: Callable[[list[str]], int | None]) -> RunOutcome:
    """Apply the policy, record ``started``, call ``run(argv)`` (which hands the terminal
    to the command and returns its exit status) and record how it ended.

    ``run`` raising is an ``error`` outcome (the command could not start, the terminal
    could not be handed over); nothing runs when the trail cannot be written.
    """
    decision = shell_decision(runner, prepared)
    if not decision.allowed:
        return refuse_shell(runner, prepared, decision)
    try:
        runner.trail.check_writable()
        try:
            runner._runs.begin(prepared.trace_id)
        except OSError as exc:
            raise AuditSinkError(f"cannot write the session's runtime file: {exc}") from None
        runner._record(prepared, decision, "started")
    except AuditSinkError as exc:
        runner._runs.end(prepared.trace_id)
        refused = Decision(False, ["AUDIT_SINK_FAILED"],
                           f"refused: the audit trail cannot be written ({exc})")
        return RunOutcome("denied", refused, prepared.trace_id, message=refused.message)
    started = time.monotonic()
    exit_code: int | None = None
    error: str | None = None
    try:
        exit_code = run(list(prepared.spec.argv or ()))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration = time.monotonic() - started
    if error is not None:
        status = "error"
        message = f"the shell could not run: {error}"
    elif exit_code == 0:
        status, message = "succeeded", "the shell ended with exit status 0"
    else:
        status = "failed"
        message = f"the shell ended with exit status {exit_code}"
    message = Boundary(prepared.redactor).line(message)
    try:
        record = runner._record(prepared, decision, status, exit_code=exit_code,
                                duration_ms=round(duration * 1000, 1), message=message)
        runner._runs.end(prepared.trace_id)
    except AuditSinkError as exc:
        record = {}
        message = f"{message}; WARNING: the outcome could not be recorded: {exc}"
    for notice in runner.trail.take_notices():
        message = f"{message}; WARNING: {notice}"
    return RunOutcome(status, decision, prepared.trace_id, exit_code=exit_code,  # type: ignore[arg-type]
                      duration=duration, message=message, record=record)
