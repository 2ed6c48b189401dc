"""Run runbook steps in order through an ``ActionRunner``, audited like profile actions.

A session runs one step or a section: steps that cannot run are skipped (with their
reason), the first failure (or refusal) stops the run. Each step goes through
``ActionRunner.run``, the path of every action: the policy asks caution steps for a yes
and dangerous ones for their step id typed, through ``confirm(step, request)`` (a
``ConfirmRequest`` showing the step's own lines first, ``step_request``; no callback: not
confirmed). A refused step is recorded in the audit trail (``NOT_CONFIRMED``;
``READ_ONLY`` in read-only mode) like a refused action. Every record carries
``source: {kind: runbook, path, step, line}``.

Exported variables flow from a step to the next ones: when a run holds more than one
step and the backend is local, each shell step dumps its exported variables at start and
exit (``actions.step_script(capture_env=True)``) into a private temporary folder; what
changed (and a new working directory, after ``cd``) is passed to the following steps.
Unset variables are not carried over.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from cockpit.core.actions.params import validate_params
from cockpit.core.actions.runner import ActionRunner, ConfirmRequest, PreparedRun, RunOutcome
from cockpit.core.backends.base import OutputLine
from cockpit.core.config.loader import LoadedProfile
from cockpit.core.config.models import Param
from cockpit.core.errors import UsageError
from cockpit.core.runbooks.actions import (
    ENV_DIR_VAR,
    confirmation_text,
    dry_run_text,
    step_action,
    step_params,
    step_source,
)
from cockpit.core.runbooks.model import Runbook, Step

StepStatus = Literal[
    "pending",
    "running",
    "succeeded",
    "failed",
    "denied",
    "skipped",
    "timed_out",
    "cancelled",
    "error",
    "dry-run",
]
#: Asked before a caution or dangerous step: True runs it (a coroutine function too).
Confirm = Callable[[Step, ConfirmRequest], "bool | Awaitable[bool]"]
_NOT_CARRIED = {"_", "SHLVL", "PWD", "OLDPWD", ENV_DIR_VAR}
_OK = ("succeeded", "skipped", "dry-run")


@dataclass
class StepRun:
    """What happened to one step of a session."""

    step: Step
    status: StepStatus = "pending"
    message: str = ""
    outcome: RunOutcome | None = None
    prepared: PreparedRun | None = None
    dry_run: str = ""  #: the exact script and env (dry runs)


def step_request(step: Step, request: ConfirmRequest) -> ConfirmRequest:
    """The runner's ``request`` for a runbook step: its own lines first, then the whole
    script; why it is not safe. What to type (the step id) is the policy's."""
    prepared = request.prepared
    dangerous = request.needed == "type"
    reasons = "; ".join(step.danger.reasons[:3])
    return replace(
        request,
        title=f"{'DANGEROUS' if dangerous else 'Caution'}: runbook step {step.id}",
        description=(
            f"{prepared.action.description} — {reasons or step.danger.level}\n"
            f"Trace id {prepared.trace_id}. Its lines, then the whole script:"
        ),
        command=prepared.redactor.redact(confirmation_text(step, prepared.display)),
        reasons=tuple(step.danger.reasons),
    )


def default_cwd(runbook: Runbook, loaded: LoadedProfile) -> str:
    """Where a runbook's steps start: the profile's ``workdir:`` if it sets one, else the
    runbook's own folder (as Runme does; a bare profile's folder may be the cockpit's
    package, where ``find . -delete`` must never run)."""
    return str(loaded.workdir if loaded.workdir_set else runbook.path.resolve().parent)


class RunbookSession:
    """Runs steps of one runbook, in order, through one runner."""

    def __init__(
        self,
        runbook: Runbook,
        runner: ActionRunner,
        *,
        confirm: Confirm | None = None,
        on_line: Callable[[Step, OutputLine], None] | None = None,
        on_step: Callable[[StepRun], None] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.runbook = runbook
        self.runner = runner
        self.confirm = confirm
        self.on_line = on_line
        self.on_step = on_step
        self.cwd = cwd or default_cwd(runbook, runner.loaded)
        self.exported: dict[str, str] = {}  #: carried from earlier steps of this session
        self.current: PreparedRun | None = None
        self._cancelled = False

    # -- values -----------------------------------------------------------------------

    def known_env(self) -> dict[str, str]:
        """Variables a step finds defined: process, profile, exported by earlier steps."""
        return {**os.environ, **self.runner.loaded.env, **self.exported}

    def params(self, steps: Sequence[Step]) -> list[tuple[Step, Param]]:
        """Every parameter the runnable ``steps`` ask for, in order."""
        env = self.known_env()
        return [(s, p) for s in steps if s.runnable for p in step_params(s, env)]

    def check_values(
        self, steps: Sequence[Step], values: Mapping[str, Any], *, require: bool = True
    ) -> None:
        """``UsageError`` for an unknown name, an invalid or (``require``) a missing value."""
        wanted = self.params(steps)
        names = {p.name for _, p in wanted}
        unknown = sorted(set(values) - names)
        problems = [
            f"unknown param {n!r} (known: {', '.join(sorted(names)) or 'none'})" for n in unknown
        ]
        seen: set[tuple[str, str]] = set()
        env = self.known_env()
        for step in steps:
            if not step.runnable:
                continue
            action = step_action(self.runbook, step, env=env)
            if not require:
                optional = [p.model_copy(update={"required": False}) for p in action.params]
                action = action.model_copy(update={"params": optional})
            mine = {k: v for k, v in values.items() if any(p.name == k for p in action.params)}
            try:
                validate_params(action, mine)
            except UsageError as exc:
                text = str(exc)
                if (step.id, text) not in seen:
                    seen.add((step.id, text))
                    problems.append(f"step {step.id}: {text.split(': ', 1)[-1]}")
        if problems:
            raise UsageError(f"{self.runbook.path}: " + "; ".join(problems))

    # -- running ----------------------------------------------------------------------

    async def run(
        self,
        steps: Sequence[Step],
        values: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> list[StepRun]:
        """Run ``steps`` in order; stop at the first one that does not succeed."""
        values = dict(values or {})
        self.check_values(steps, values, require=not dry_run)
        runs = [StepRun(step) for step in steps]
        runnable = [s for s in steps if s.runnable]
        capture = len(runnable) > 1 and self.runner.backend.kind == "local"
        env_dir = (
            Path(tempfile.mkdtemp(prefix="cockpit-runbook-")) if capture and not dry_run else None
        )
        try:
            for run in runs:
                if self._cancelled:
                    run.status, run.message = "cancelled", "the session was cancelled"
                    self._notify(run)
                    break
                await self._run_one(run, values, dry_run=dry_run, env_dir=env_dir, capture=capture)
                if run.status not in _OK:
                    break
        finally:
            if env_dir is not None:
                shutil.rmtree(env_dir, ignore_errors=True)
        return runs

    async def cancel(self) -> None:
        """Cancel the running step (its process tree) and the steps after it."""
        self._cancelled = True
        if self.current is not None:
            await self.current.cancel()

    def _notify(self, run: StepRun) -> None:
        if self.on_step is not None:
            self.on_step(run)

    async def _run_one(
        self,
        run: StepRun,
        values: Mapping[str, Any],
        *,
        dry_run: bool,
        env_dir: Path | None,
        capture: bool,
    ) -> None:
        step = run.step
        if not step.runnable:
            run.status, run.message = "skipped", step.reason
            self._notify(run)
            return
        env = self.known_env()
        shell = step.is_shell or step.kind == "table"
        if dry_run:
            mine = {
                k: v for k, v in values.items() if any(p.name == k for p in step_params(step, env))
            }
            run.status = "dry-run"
            run.dry_run = dry_run_text(step, mine, env=env, capture_env=capture and shell)
            self._notify(run)
            return
        extra = dict(self.exported)
        if env_dir is not None and shell:
            extra[ENV_DIR_VAR] = str(env_dir)
            for name in ("before", "after"):
                (env_dir / name).unlink(missing_ok=True)
        action = step_action(
            self.runbook,
            step,
            env=env,
            extra_env=extra,
            cwd=self.cwd,
            capture_env=env_dir is not None and shell,
        )
        mine = {k: v for k, v in values.items() if any(p.name == k for p in action.params)}
        prepared = self.runner.prepare(action, mine, source=step_source(self.runbook, step))
        run.prepared = prepared

        async def ask(request: ConfirmRequest) -> bool:
            if self.confirm is None:
                return False
            answer = self.confirm(step, step_request(step, request))
            return (await answer if inspect.isawaitable(answer) else answer) is True

        def started(_prepared: PreparedRun) -> None:
            run.status = "running"
            self._notify(run)

        self.current = prepared  # a cancel while asking or running stops this step
        try:
            outcome = await self.runner.run(
                prepared,
                confirm=ask,
                on_line=(lambda line: self.on_line(step, line)) if self.on_line else None,
                on_start=started,
            )
        finally:
            self.current = None
        run.outcome = outcome
        run.status = outcome.status
        run.message = outcome.message
        if env_dir is not None and shell and outcome.status == "succeeded":
            self._carry(env_dir)
        self._notify(run)

    def _carry(self, env_dir: Path) -> None:
        before = _read_env(env_dir / "before")
        after = _read_env(env_dir / "after")
        if not after:
            return
        for name, value in after.items():
            if name in _NOT_CARRIED or name.startswith(("BASH_", "COCKPIT_")):
                continue
            if before.get(name) != value:
                self.exported[name] = value
        pwd = after.get("PWD")
        if pwd and pwd != before.get("PWD") and os.path.isdir(pwd):
            self.cwd = pwd


def _read_env(path: Path) -> dict[str, str]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    env = {}
    for item in data.split(b"\0"):
        name, sep, value = item.decode("utf-8", errors="replace").partition("=")
        if sep and name:
            env[name] = value
    return env
