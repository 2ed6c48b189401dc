"""Run one action: the one path of the TUI, the CLI and runbook steps.

``ActionRunner.prepare(action, raw_params)`` validates the params (``UsageError``) and
builds the exact command; ``ActionRunner.run(prepared, confirm=..., on_line=...)`` then
applies the policy once (``policy.decide``), asks the caller's ``confirm`` callback with
a ``ConfirmRequest`` only when the policy needs a confirmation (caution: yes/no;
dangerous: type the id), records, runs through the backend, checks and records.

Every attempt leaves the audit trail with a record: a denied attempt one record, a run
two (``started`` before anything runs, then the outcome, also when the backend raises),
so a run interrupted by a crash is still on record. If the trail cannot be written the
action is refused with ``AUDIT_SINK_FAILED`` before it runs: nothing runs unaudited.
Each record passes the boundary once, where it is built, and is appended (``fsync``) in
the runner's single writer thread, so the event loop never waits on the disk and records
keep their order.
"""

from __future__ import annotations

import asyncio
import getpass
import inspect
import json
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from cockpit.core.actions.params import (
    param_env,
    param_text,
    redacted_params,
    secret_values,
    substitute_argv,
    validate_params,
)
from cockpit.core.actions.policy import Confirmation, Decision, decide, not_confirmed
from cockpit.core.audit.recovery import RunRegistry, resolve_abandoned
from cockpit.core.audit.trail import AuditSinkError, AuditTrail
from cockpit.core.backends.base import (
    Backend,
    Capability,
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
T = TypeVar("T")


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


@dataclass(frozen=True)
class ConfirmRequest:
    """What the operator is asked before a run the policy allows with a confirmation.

    ``needed`` is ``yes`` (a yes/no question, No the default) or ``type`` (run only once
    ``text_to_type`` is typed exactly). ``title``, ``description`` and ``command`` (the
    exact command, redacted) are what to show; ``reasons`` why a runbook step is not safe.
    """

    prepared: PreparedRun
    needed: Confirmation
    text_to_type: str | None
    title: str
    description: str
    command: str
    reasons: tuple[str, ...] = ()
    #: what the backend tells before an operation runs (a rollout history), outside
    #: text through the boundary
    context: tuple[str, ...] = ()


#: The caller's answer to a ``ConfirmRequest``: True runs it (a coroutine function too).
Confirm = Callable[[ConfirmRequest], "bool | Awaitable[bool]"]


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
        #: the one thread that writes records and runtime files (created on first use)
        self._writer: ThreadPoolExecutor | None = None
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

    # -- the one path -----------------------------------------------------------------------

    async def run(
        self,
        prepared: PreparedRun,
        *,
        confirm: Confirm | None = None,
        on_line: Callable[[OutputLine], None] | None = None,
        on_start: Callable[[PreparedRun], None] | None = None,
    ) -> RunOutcome:
        """Run a prepared attempt: decide once, confirm if needed, record, run, record.

        The policy (``policy.decide``) is applied once. When it asks for a confirmation,
        ``confirm(ConfirmRequest)`` (a function or a coroutine function) is called; no
        callback, a false answer or a callback that raises is a ``NOT_CONFIRMED`` denial,
        recorded. ``on_start(prepared)`` is called once the ``started`` record is written,
        just before the backend starts the command; ``on_line`` gets each output line once
        it has passed the boundary (secrets hidden, across lines too; escapes visible;
        bounded); success checks see the real text. Records are written in the runner's
        writer thread, in order, never on the event loop.
        """
        action = prepared.action
        unsupported = self._unsupported(prepared)
        if unsupported is not None:  # refused before anyone is asked: it cannot run
            return await self.record_denial_async(prepared, unsupported)
        decision = decide(action, read_only=self.read_only, step_id=_step_id(prepared))
        if not decision.allowed:
            return await self.record_denial_async(prepared, decision)
        if decision.confirmation != "none":
            request = replace(confirm_request(prepared, decision),
                              context=await self._explain(prepared))
            try:
                answer: Any = confirm(request) if confirm is not None else False
                if inspect.isawaitable(answer):
                    answer = await answer
            except (Exception, asyncio.CancelledError) as exc:
                refused = not_confirmed(action)
                refused = Decision(False, refused.reason_codes,
                                   f"{refused.message} (the confirmation failed: {exc!r})")
                await self.record_denial_async(prepared, refused)
                raise
            if answer is not True:
                return await self.record_denial_async(prepared, not_confirmed(action))
        return await self._execute(prepared, decision, on_line, on_start)

    def _unsupported(self, prepared: PreparedRun) -> Decision | None:
        """A command naming a target on a backend that cannot run one inside a target."""
        spec = prepared.spec
        if spec.operation is not None or spec.target is None:
            return None
        if self.backend.capabilities & Capability.EXEC_IN_TARGET:
            return None
        return Decision(
            False, ["UNSUPPORTED"],
            f"{prepared.action.id} names a target ({spec.target}), and the "
            f"{self.backend.kind} backend cannot run a command inside one: remove 'target:' "
            "from the action, or use a backend with targets")

    async def execute(
        self,
        prepared: PreparedRun,
        *,
        confirmed: bool = False,
        on_line: Callable[[OutputLine], None] | None = None,
    ) -> RunOutcome:
        """``run`` for a caller that asked already: ``confirmed`` answers any confirmation
        the policy needs (caution and dangerous alike), False refuses it."""
        return await self.run(
            prepared, confirm=(lambda _request: True) if confirmed else None, on_line=on_line
        )

    async def _explain(self, prepared: PreparedRun) -> tuple[str, ...]:
        """The backend's lines before an operation is confirmed (at most 40, bounded,
        through the boundary); nothing for commands."""
        call = prepared.spec.operation
        if call is None:
            return ()
        try:
            async with asyncio.timeout(15):
                await self.backend.ensure_connected()
                lines = await self.backend.explain(call)
        except Exception as exc:  # a backend's bug must not block the question
            lines = [f"(could not read what the {self.backend.kind} backend knows "
                     f"about it: {exc})"]
        boundary = Boundary(prepared.redactor)
        shown = [bound(boundary.line(line), 300) for line in lines[:40]]
        if len(lines) > 40:
            shown.append(f"… {len(lines) - 40} more lines")
        return tuple(shown)

    async def _start(self, prepared: PreparedRun) -> Execution:
        """The backend's ``start``, once it is connected (a run chosen while the app is
        still connecting waits; a backend that cannot connect is a failed execution)."""
        from cockpit.core.backends.process import failed_execution
        from cockpit.core.errors import CockpitError

        try:
            await self.backend.ensure_connected()
        except CockpitError as exc:
            return failed_execution(prepared.display, f"cannot connect: {exc}")
        return await self.backend.start(prepared.spec)

    # -- recording ------------------------------------------------------------------------

    def _record_body(
        self, prepared: PreparedRun, decision: Decision, status: str, **extra: Any
    ) -> dict[str, Any]:
        """The record of an attempt, through the boundary once (the action's redactor)."""
        record: dict[str, Any] = {
            "operator": self.operator,
            "profile": self.loaded.name,
            "backend": self.backend.identity_for(_acted_on(prepared.spec)).as_record(),
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
        return Boundary(prepared.redactor).obj(record)

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.trail.append(record, redacted=True)

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the writer thread: one thread, so records keep their order.

        Shielded: if the caller is cancelled meanwhile the write still completes (a
        queued write is never dropped), and the cancellation reaches the caller.
        """
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="cockpit-audit")
        return await asyncio.shield(asyncio.wrap_future(self._writer.submit(fn, *args)))

    def _denial(self, prepared: PreparedRun, decision: Decision) -> RunOutcome:
        """Append a denial record (blocking) and say what happened."""
        try:
            record = self._append(self._record_body(prepared, decision, "denied"))
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

    def record_denial(self, prepared: PreparedRun, decision: Decision) -> RunOutcome:
        """Record a refused attempt from synchronous code (blocks on the trail's fsync)."""
        return self._denial(prepared, decision)

    async def record_denial_async(self, prepared: PreparedRun, decision: Decision) -> RunOutcome:
        """Record a refused attempt from async code: the write runs in the writer thread."""
        return await self._in_writer(self._denial, prepared, decision)

    # -- executing ------------------------------------------------------------------------

    def _begin(self, prepared: PreparedRun, decision: Decision) -> None:
        """In the writer thread: the trail writable, the runtime file, ``started``."""
        try:
            self.trail.check_writable()
            try:
                self._runs.begin(prepared.trace_id)
            except OSError as exc:
                raise AuditSinkError(f"cannot write the run's runtime file: {exc}") from None
            self._append(self._record_body(prepared, decision, "started"))
        except AuditSinkError:
            self._runs.end(prepared.trace_id)
            raise

    async def _execute(
        self,
        prepared: PreparedRun,
        decision: Decision,
        on_line: Callable[[OutputLine], None] | None,
        on_start: Callable[[PreparedRun], None] | None,
    ) -> RunOutcome:
        """Record ``started``, run, evaluate and record the outcome, whatever happens."""
        if prepared._cancel_requested:
            return await self._cancelled_before_start(prepared, decision)
        started = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        tracker = _SuccessTracker(prepared.action)
        try:
            await self._in_writer(self._begin, prepared, decision)
        except AuditSinkError as exc:
            refused = Decision(
                False, ["AUDIT_SINK_FAILED"], f"refused: the audit trail cannot be written ({exc})"
            )
            return RunOutcome("denied", refused, prepared.trace_id, message=refused.message)
        except asyncio.CancelledError:
            # the started record is written (the write was not dropped): its outcome follows
            cancelled = CommandResult(exit_code=None, duration=0.0, cancelled=True)
            await self._finish(prepared, decision, cancelled, tracker, tail)
            raise
        # The output is outside text: each stream passes the boundary line by line (a key
        # printed over several lines is hidden whole), once, for the tail and on_line.
        boundary = Boundary(prepared.redactor)
        streams = {"stdout": boundary.stream(), "stderr": boundary.stream()}
        try:
            if on_start is not None:
                on_start(prepared)
            execution = await self._start(prepared)
            prepared._execution = execution
            await self._in_writer(self._attach, prepared.trace_id, execution)
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
            await self._finish(prepared, decision, result, tracker, tail)
            raise
        except Exception as exc:  # the backend (or a callback) failed: still an outcome
            if prepared._execution is not None:
                try:
                    await asyncio.shield(prepared._execution.cancel())
                except Exception:
                    pass  # the error below is what the record says
            result = CommandResult(
                exit_code=None,
                duration=time.monotonic() - started,
                error=f"the run failed: {type(exc).__name__}: {exc}",
            )
        return await self._finish(prepared, decision, result, tracker, tail)

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
        return await self._finish(
            prepared, decision, result, _SuccessTracker(prepared.action), deque()
        )

    async def _finish(
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
        record, message = await self.record_outcome(prepared, decision, status, **extra)
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

    async def record_outcome(self, prepared: PreparedRun, decision: Decision, status: str,
                             **extra: Any) -> tuple[dict[str, Any], str]:
        """Write a run's outcome record (in the writer thread, its runtime file then
        removed); returns the record ({} if it could not be written) and the message,
        with a warning when the trail failed or has something to say."""
        message = str(extra.get("message", ""))
        record = self._record_body(prepared, decision, status, **extra)
        try:
            record = await self._in_writer(self._end, prepared.trace_id, record)
        except AuditSinkError as exc:
            record = {}
            message = f"{message}; WARNING: the outcome could not be recorded: {exc}"
        for notice in self.trail.take_notices():
            message = f"{message}; WARNING: {notice}"
        return record, message

    def _end(self, trace_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """In the writer thread: the outcome record, then the runtime file removed."""
        written = self._append(record)
        self._runs.end(trace_id)
        return written


def confirm_request(prepared: PreparedRun, decision: Decision) -> ConfirmRequest:
    """What to ask before running ``prepared`` under ``decision`` (an ALLOW that needs a
    confirmation): the question, the text to type, and the command to show."""
    action = prepared.action
    dangerous = decision.confirmation == "type"
    return ConfirmRequest(
        prepared=prepared,
        needed=decision.confirmation,
        text_to_type=decision.text_to_type,
        title=f"{'DANGEROUS' if dangerous else 'Caution'}: {action.title or action.id}",
        description=(
            f"{action.description or action.id}\nTrace id {prepared.trace_id}. "
            + ("It will do the equivalent of:" if prepared.spec.operation is not None
               else "It will run exactly:")
        ),
        command=prepared.display,
    )


def _step_id(prepared: PreparedRun) -> str | None:
    """The runbook step an attempt runs (``source`` of a runbook step), if any."""
    source = prepared.source
    step = source.get("step") if source.get("kind") == "runbook" else None
    return step if isinstance(step, str) and step else None


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


def _acted_on(spec: CommandSpec) -> str | None:
    """The target a command runs in or an operation acts on."""
    return spec.operation.target if spec.operation is not None else spec.target


def _operation_field(spec: CommandSpec) -> dict[str, Any]:
    """``{"operation": {name, target, args}}`` for an operation, else nothing."""
    call = spec.operation
    if call is None:
        return {}
    return {"operation": {"name": call.name, "target": call.target, "args": dict(call.args)}}
