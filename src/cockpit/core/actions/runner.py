"""Run one action: validate, apply policy, run through the backend, check, record.

Every attempt leaves the audit trail with a record: a denied attempt one record, a run
two (``started`` before anything runs, then the outcome), so a run interrupted by a
crash is still on record. If the trail cannot be written the action is refused with
``AUDIT_SINK_FAILED`` before it runs: nothing runs unaudited.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cockpit.core.actions.params import (
    param_env,
    param_text,
    redacted_params,
    secret_values,
    substitute_argv,
    validate_params,
)
from cockpit.core.actions.policy import Decision, decide
from cockpit.core.audit.recovery import RunRegistry, resolve_abandoned
from cockpit.core.audit.trail import AuditSinkError, AuditTrail
from cockpit.core.backends.base import (
    Backend,
    CommandResult,
    CommandSpec,
    Execution,
    OperationCall,
    OutputLine,
)
from cockpit.core.boundary import Boundary, bound
from cockpit.core.config.loader import LoadedProfile
from cockpit.core.config.models import Action
from cockpit.core.errors import UsageError
from cockpit.core.redact import Redactor, default_redactor

Status = Literal["succeeded", "failed", "denied", "timed_out", "cancelled", "error"]
TAIL_LINES = 20
TAIL_LINE_CHARS = 400


def current_operator() -> str:
    """``user@host`` of whoever runs the cockpit."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def new_trace_id() -> str:
    return str(uuid.uuid4())


@dataclass
class PreparedRun:
    """A validated attempt, ready to be confirmed and executed."""

    action: Action
    values: dict[str, Any]
    spec: CommandSpec
    trace_id: str
    redactor: Redactor
    display: str  #: the exact command, redacted, as shown before confirming
    params_shown: dict[str, Any]
    source: dict[str, Any] = field(default_factory=lambda: {"kind": "profile"})
    _execution: Execution | None = None
    _cancel_requested: bool = False

    async def cancel(self) -> None:
        """Cancel the run (its whole process tree) if it is running, or before it starts."""
        self._cancel_requested = True
        if self._execution is not None:
            await self._execution.cancel()


@dataclass
class RunOutcome:
    """How an attempt ended, and the audit record that says so."""

    status: Status
    decision: Decision
    trace_id: str
    exit_code: int | None = None
    duration: float = 0.0
    message: str = ""
    output_tail: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def cli_exit_code(self) -> int:
        """Exit status for the CLI: the action's own when it ran, 3 denied, 124, 130."""
        if self.status == "denied":
            return 3
        if self.status == "timed_out":
            return 124
        if self.status == "cancelled":
            return 130
        if self.status == "succeeded":
            return 0
        if self.exit_code not in (None, 0):
            return self.exit_code
        return 1


class _SuccessTracker:
    """Evaluates an action's success checks on lines as they stream past."""

    def __init__(self, action: Action) -> None:
        check = action.success
        self.regex = re.compile(check.output_regex) if check and check.output_regex else None
        self.json_check = check.json_field if check else None
        self.regex_seen = False
        self.last_json: Any = None

    def feed(self, text: str) -> None:
        if self.regex is not None and not self.regex_seen and self.regex.search(text):
            self.regex_seen = True
        if self.json_check is not None:
            stripped = text.strip()
            if stripped.startswith("{") and stripped.endswith("}"):
                try:
                    self.last_json = json.loads(stripped)
                except ValueError:
                    pass

    def failures(self) -> list[str]:
        problems = []
        if self.regex is not None and not self.regex_seen:
            problems.append(f"output did not match /{self.regex.pattern}/")
        if self.json_check is not None:
            value: Any = self.last_json
            for part in self.json_check.path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value != self.json_check.equals:
                problems.append(
                    f"JSON field {self.json_check.path} is {value!r}, "
                    f"expected {self.json_check.equals!r}"
                )
        return problems


class ActionRunner:
    """Runs a profile's actions through its backend and records every attempt."""

    def __init__(
        self,
        loaded: LoadedProfile,
        backend: Backend,
        trail: AuditTrail,
        *,
        read_only: bool = False,
        redactor: Redactor | None = None,
        operator: str | None = None,
    ) -> None:
        self.loaded = loaded
        self.backend = backend
        self.trail = trail
        self.read_only = read_only or loaded.profile.read_only
        base = redactor or default_redactor()
        self.redactor = base.with_secrets(
            [v for k, v in loaded.env.items() if _looks_secret(k) and len(v) >= 4]
        )
        self.operator = operator or current_operator()
        #: where fresh trace ids come from (tests with frozen screens replace it)
        self.trace_ids: Callable[[], str] = new_trace_id
        self._runs = RunRegistry(trail.path)
        #: ``abandoned`` outcomes recorded at creation for runs of a cockpit that died
        self.recovered: list[dict[str, Any]] = []
        try:
            self.recovered = resolve_abandoned(trail)
        except (AuditSinkError, OSError):
            pass  # the runtime files stay; the next start tries again

    # -- preparing ------------------------------------------------------------------------

    def action(self, action_id: str) -> Action:
        action = self.loaded.profile.action(action_id)
        if action is None:
            known = ", ".join(a.id for a in self.loaded.profile.actions)
            raise UsageError(f"unknown action {action_id!r} (known: {known})")
        return action

    def prepare(
        self,
        action: Action | str,
        raw_params: Mapping[str, Any] | None = None,
        *,
        trace_id: str | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> PreparedRun:
        """Validate params and build the exact command; ``UsageError`` on bad params."""
        if isinstance(action, str):
            action = self.action(action)
        values = validate_params(action, raw_params or {})
        trace_id = trace_id or self.trace_ids()
        env = {
            **self.loaded.env,
            **action.env,
            **param_env(action, values),
            "COCKPIT_TRACE_ID": trace_id,
            "COCKPIT_ACTION": action.id,
            "COCKPIT_PROFILE": self.loaded.name,
        }
        declared = {p.name for p in action.params}
        target = substitute_argv([action.target], values, declared)[0] if action.target else None
        if action.operation is not None:
            target_name = action.target.strip("{}") if action.target else ""
            call = OperationCall(
                action.operation, target or "",
                {k: param_text(v) for k, v in values.items() if k != target_name},
            )
            spec = CommandSpec(operation=call, env=env, timeout=action.timeout, target=target,
                               preview=self.backend.preview(call))
        elif action.run is not None:
            spec = CommandSpec(
                argv=substitute_argv(action.run, values, declared),
                env=env,
                cwd=action.cwd,
                timeout=action.timeout,
                target=target,
                operation=action.operation,
            )
        else:
            spec = CommandSpec(
                script=action.script,
                env=env,
                cwd=action.cwd,
                timeout=action.timeout,
                target=target,
            )
        redactor = self.redactor.with_secrets(secret_values(action, values))
        return PreparedRun(
            action=action,
            values=values,
            spec=spec,
            trace_id=trace_id,
            redactor=redactor,
            display=redactor.redact(spec.display()),
            params_shown=redacted_params(action, values),
            source=dict(source or {"kind": "profile"}),
        )

    # -- recording ------------------------------------------------------------------------

    def _record(self, prepared: PreparedRun, decision: Decision, status: str, **extra: Any) -> dict:
        record: dict[str, Any] = {
            "operator": self.operator,
            "profile": self.loaded.name,
            "backend": self.backend.identity().as_record(),
            "target": prepared.spec.target or prepared.action.target,
            "action": prepared.action.id,
            "danger": prepared.action.danger,
            "source": prepared.source,
            "params": prepared.params_shown,
            "command": prepared.display,
            **_operation_field(prepared.spec),
            "trace_id": prepared.trace_id,
            "decision": decision.label,
            "reason_codes": decision.reason_codes,
            "status": status,
        }
        record.update(extra)
        return self.trail.append(prepared.redactor.redact_obj(record))

    def record_denial(self, prepared: PreparedRun, decision: Decision) -> RunOutcome:
        """Record a refused attempt (policy, confirmation declined, bad state)."""
        try:
            record = self._record(prepared, decision, "denied")
        except AuditSinkError as exc:
            decision = Decision(
                False,
                [*decision.reason_codes, "AUDIT_SINK_FAILED"],
                f"{decision.message}; and the audit trail failed: {exc}",
            )
            record = {}
        message = decision.message
        for notice in self.trail.take_notices():
            message = f"{message}; WARNING: {notice}"
        return RunOutcome("denied", decision, prepared.trace_id, message=message, record=record)

    # -- executing ------------------------------------------------------------------------

    async def execute(
        self,
        prepared: PreparedRun,
        *,
        confirmed: bool = False,
        on_line: Callable[[OutputLine], None] | None = None,
    ) -> RunOutcome:
        """Apply policy, record, run, evaluate and record the outcome.

        ``on_line`` gets each output line once it has passed the boundary (secrets hidden,
        across lines too; escapes visible; bounded); success checks see the real text.
        """
        decision = decide(prepared.action, read_only=self.read_only, confirmed=confirmed)
        if not decision.allowed:
            return self.record_denial(prepared, decision)
        if prepared._cancel_requested:
            return await self._cancelled_before_start(prepared, decision)
        try:
            self.trail.check_writable()
            try:
                self._runs.begin(prepared.trace_id)
            except OSError as exc:
                raise AuditSinkError(f"cannot write the run's runtime file: {exc}") from None
            self._record(prepared, decision, "started")
        except AuditSinkError as exc:
            self._runs.end(prepared.trace_id)
            refused = Decision(
                False, ["AUDIT_SINK_FAILED"], f"refused: the audit trail cannot be written ({exc})"
            )
            return RunOutcome("denied", refused, prepared.trace_id, message=refused.message)

        started = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        tracker = _SuccessTracker(prepared.action)
        # The output is outside text: each stream passes the boundary line by line (a key
        # printed over several lines is hidden whole), once, for the tail and on_line.
        boundary = Boundary(prepared.redactor)
        streams = {"stdout": boundary.stream(), "stderr": boundary.stream()}
        try:
            execution = await self.backend.start(prepared.spec)
            prepared._execution = execution
            self._attach(prepared.trace_id, execution)
            if prepared._cancel_requested:
                await execution.cancel()
            async for line in execution.lines():
                tracker.feed(line.text)
                stream = streams.get(line.stream) or streams.setdefault(
                    line.stream, boundary.stream())
                shown = OutputLine(line.stream, stream.line(line.text), line.ts,
                                   line.truncated, line.source)
                tail.append(bound(shown.text, TAIL_LINE_CHARS))
                if on_line is not None:
                    on_line(shown)
            result = await execution.wait()
        except asyncio.CancelledError:
            if prepared._execution is not None:
                await asyncio.shield(prepared._execution.cancel())
            result = CommandResult(
                exit_code=None, duration=time.monotonic() - started, cancelled=True
            )
            self._finish(prepared, decision, result, tracker, tail)
            raise
        return self._finish(prepared, decision, result, tracker, tail)

    def _attach(self, trace_id: str, execution: Any) -> None:
        """Note the started process in the run's runtime file (for kill -9 recovery)."""
        pid = getattr(execution, "pid", None)
        if not isinstance(pid, int):
            return
        try:
            self._runs.attach(trace_id, pid, getattr(execution, "marker", None))
        except OSError:
            pass  # recovery then records the run as abandoned without killing it

    async def _cancelled_before_start(
        self, prepared: PreparedRun, decision: Decision
    ) -> RunOutcome:
        result = CommandResult(exit_code=None, duration=0.0, cancelled=True)
        return self._finish(prepared, decision, result, _SuccessTracker(prepared.action), deque())

    def _finish(
        self,
        prepared: PreparedRun,
        decision: Decision,
        result: CommandResult,
        tracker: _SuccessTracker,
        tail: deque[str],
    ) -> RunOutcome:
        action = prepared.action
        problems: list[str] = []
        if result.cancelled:
            status: Status = "cancelled"
            message = "cancelled by the operator"
        elif result.timed_out:
            status = "timed_out"
            message = f"timed out after {action.timeout:g}s; its process tree was killed"
        elif result.error:
            status = "error"
            message = result.error
        elif result.exit_code not in action.expect_exit:
            status = "failed"
            message = (
                f"exit code {result.exit_code} (expected {', '.join(map(str, action.expect_exit))})"
            )
        else:
            problems = tracker.failures()
            status = "failed" if problems else "succeeded"
            message = "; ".join(problems) if problems else "succeeded"
        shown_tail = list(tail)  # each line passed the boundary as it arrived
        message = Boundary(prepared.redactor).line(message)
        extra = {
            "exit_code": result.exit_code,
            "duration_ms": round(result.duration * 1000, 1),
            "output_sha256": result.output_sha256,
            "output_bytes": result.output_bytes,
            "output_tail": shown_tail,
            "message": message,
        }
        try:
            record = self._record(prepared, decision, status, **extra)
            self._runs.end(prepared.trace_id)
        except AuditSinkError as exc:
            record = {}
            message = f"{message}; WARNING: the outcome could not be recorded: {exc}"
        for notice in self.trail.take_notices():
            message = f"{message}; WARNING: {notice}"
        return RunOutcome(
            status,
            decision,
            prepared.trace_id,
            exit_code=result.exit_code,
            duration=result.duration,
            message=message,
            output_tail=shown_tail,
            record=record,
        )


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


def _operation_field(spec: CommandSpec) -> dict[str, Any]:
    """``{"operation": {name, target, args}}`` for an operation, else nothing."""
    call = spec.operation
    if call is None:
        return {}
    return {"operation": {"name": call.name, "target": call.target, "args": dict(call.args)}}
