"""An interactive shell in a target, on the operator's terminal, recorded in the trail.

The backend names the command (``Backend.shell_argv``: ``docker exec -it web sh``); the
caller hands the real terminal to it. Since it runs whatever the operator then types, it
is an action named ``shell`` of danger ``caution`` (or that of the backend's ``exec``
operation, if higher), under the one policy: a read-only
profile refuses it, otherwise the operator is asked yes/no first (the caller's
``confirm`` callback gets the runner's ``ConfirmRequest``, with the exact command). The
trail gets what the runner writes for a run, through the runner's own records,
redaction and writer thread: a ``started`` record before the terminal is handed over,
then the outcome with the shell's exit status and duration (a refusal is one ``denied``
record). A runtime file lives while the shell runs, so a cockpit killed meanwhile leaves
the session to be recorded ``abandoned`` at the next start. What is typed and shown in
the shell is not recorded.
"""

from __future__ import annotations

import asyncio
import inspect
import shlex
import time
from collections.abc import Callable, Mapping
from typing import Any

from cockpit.core.actions.policy import Decision, decide, not_confirmed
from cockpit.core.actions.runner import (
    ActionRunner,
    Confirm,
    PreparedRun,
    RunOutcome,
    confirm_request,
)
from cockpit.core.audit.trail import AuditSinkError
from cockpit.core.backends.base import CommandSpec
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import Action

SHELL_ACTION = "shell"
SHELL_DANGER = "caution"


def shell_danger(runner: ActionRunner) -> str:
    """``caution``, or the level of the backend's ``exec`` operation in this profile if
    higher: a shell can do whatever an ad-hoc command can (docker-demo: dangerous)."""
    levels = ("safe", "caution", "dangerous")
    exec_action = runner.loaded.profile.action(f"{runner.backend.kind}.exec")
    level = exec_action.danger if exec_action is not None else SHELL_DANGER
    return max(SHELL_DANGER, level, key=levels.index)


def prepare_shell(runner: ActionRunner, target: str, argv: list[str], *,
                  source: Mapping[str, Any] | None = None) -> PreparedRun:
    """The shell session as a run to confirm and record: action ``shell`` on ``target``,
    its command shown exactly (redacted) as it will run."""
    action = Action(
        id=SHELL_ACTION, title=f"a shell in {target}", run=list(argv),
        danger=shell_danger(runner),
        target=target,
        description=(f"This terminal goes to the shell until it ends. What you type there "
                     f"runs in {target} and is not recorded; the session's start, end and "
                     "exit status are."),
    )
    spec = CommandSpec(argv=list(argv), target=target)
    return PreparedRun(
        action=action, values={}, spec=spec, trace_id=runner.trace_ids(),
        redactor=runner.redactor, display=runner.redactor.redact(shlex.join(argv)),
        params_shown={}, source=dict(source or {"kind": "tui"}),
    )


async def record_shell_session(
    runner: ActionRunner,
    prepared: PreparedRun,
    run: Callable[[list[str]], int | None],
    *,
    confirm: Confirm | None = None,
) -> RunOutcome:
    """Decide (read-only refuses), ask ``confirm`` as ``ActionRunner.run`` does (no
    callback or a false answer: ``NOT_CONFIRMED``), record ``started``, call
    ``run(argv)`` (it hands the terminal to the command and returns its exit status;
    it blocks, the terminal being the command's meanwhile) and record how it ended.

    ``run`` raising is an ``error`` outcome (the command could not start, the terminal
    could not be handed over); nothing runs when the trail cannot be written.
    """
    action = prepared.action
    decision = decide(action, read_only=runner.read_only)
    if not decision.allowed:
        return await runner.record_denial_async(prepared, decision)
    if decision.confirmation != "none":
        try:
            answer: Any = confirm(confirm_request(prepared, decision)) \
                if confirm is not None else False
            if inspect.isawaitable(answer):
                answer = await answer
        except (Exception, asyncio.CancelledError) as exc:
            refused = not_confirmed(action)
            await runner.record_denial_async(prepared, Decision(
                False, refused.reason_codes,
                f"{refused.message} (the confirmation failed: {exc!r})"))
            raise
        if answer is not True:
            return await runner.record_denial_async(prepared, not_confirmed(action))
    try:
        await runner._in_writer(runner._begin, prepared, decision)
    except AuditSinkError as exc:
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
    record, message = await runner.record_outcome(
        prepared, decision, status, exit_code=exit_code,
        duration_ms=round(duration * 1000, 1), message=message)
    return RunOutcome(status, decision, prepared.trace_id, exit_code=exit_code,  # type: ignore[arg-type]
                      duration=duration, message=message, record=record)
