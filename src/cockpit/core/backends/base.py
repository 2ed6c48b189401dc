"""The one contract every environment backend implements (local, docker, kubernetes,
cloudrun).

A backend:

- declares its **options** as a pydantic model (``options_model``, see ``options.py``),
  validated when the profile is loaded;
- does slow set-up in ``connect()`` (run off the UI thread; the app shows "connecting")
  and releases it in ``close()``;
- names where it operates as structured fields (``identity()``, ``identity.py``),
  written into every audit record;
- runs commands (an argv list, or a script run by ``bash -euo pipefail``) and
  **operations** it declares (``operations()``, ``operations.py``), previewing each as
  the equivalent command line; ``start()`` never raises: a command that cannot run is a
  failed execution;
- lists **targets** with their health computed by itself (``targets.py``), keeps them
  current (``watch_targets()``, from its event stream where it has one) and tells a
  target's recent events;
- answers a **log query** with batches of typed records and notices (``logs.py``).

Generic code passes every text a backend yields through the boundary for outside text
(``core/boundary.py``): target fields in ``guard.py``, log lines in the Logs pane and
the CLI, command output in the action runner.
"""

from __future__ import annotations

import asyncio
import enum
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from cockpit.core.backends.identity import Identity
from cockpit.core.backends.logs import LogItem, LogNotice, LogQuery, LogRecord
from cockpit.core.backends.operations import Operation, OperationCall
from cockpit.core.backends.options import BackendOptions
from cockpit.core.backends.targets import Health, Target, TargetEvent, missing_target
from cockpit.core.errors import CockpitError

__all__ = [
    "MAX_LINE_CHARS", "Backend", "BackendOptions", "Capability", "CommandResult",
    "CommandSpec", "Execution", "Health", "Identity", "LogItem", "LogNotice", "LogQuery",
    "LogRecord", "Operation", "OperationCall", "OutputLine", "Target", "TargetEvent",
    "missing_target",
]

#: Longest line delivered to callers; the rest is cut (the output hash still covers it).
MAX_LINE_CHARS = 16_384


class Capability(enum.Flag):
    """What a backend can do; the UI hides what is missing."""

    NONE = 0
    RUN = enum.auto()  #: run an argv command
    SCRIPT = enum.auto()  #: run a bash script
    CANCEL = enum.auto()  #: cancel a running command with its whole tree
    TARGETS = enum.auto()  #: list targets
    LOGS = enum.auto()  #: stream a target's logs
    EXEC_IN_TARGET = enum.auto()  #: run a command inside a target (container, pod)
    #: ``stream_logs`` takes ``since`` and stamps lines with their logged time, so a
    #: target's logs can be followed again after a restart without gaps or repeats
    LOGS_SINCE = enum.auto()
    STATS = enum.auto()  #: CPU, memory and restarts of a target (``target_stats``)
    OPERATIONS = enum.auto()  #: built-in operations on targets (restart, stop, ...)
    EVENT_LOG = enum.auto()  #: a namespace's events as a log (``event_logs``)


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line of a command's or a target's output."""

    stream: Literal["stdout", "stderr", "log"]
    text: str
    ts: float  #: wall-clock time (``time.time()``) when the line arrived
    truncated: bool = False  #: the line was longer than ``MAX_LINE_CHARS`` and was cut
    source: str = ""  #: a target or log-source name, where it matters


@dataclass(slots=True)
class CommandSpec:
    """What to run. Exactly one of ``argv``, ``script`` and ``operation`` is set."""

    argv: list[str] | None = None
    script: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  #: added to the backend's environment
    cwd: str | None = None
    timeout: float | None = None  #: seconds; the whole tree is killed when it passes
    target: str | None = None  #: run inside this target, where the backend supports it
    #: an operation the backend declared, run by the backend (data, never parsed from argv)
    operation: OperationCall | None = None
    #: the operation's equivalent command line (``Backend.preview``), shown and recorded
    preview: list[str] | None = None

    def __post_init__(self) -> None:
        given = sum(x is not None for x in (self.argv, self.script, self.operation))
        if given != 1:
            raise ValueError("CommandSpec needs exactly one of argv, script and operation")
        if self.argv is not None and not self.argv:
            raise ValueError("CommandSpec.argv must not be empty")

    def display(self) -> str:
        """The exact command as a user should see it before confirming."""
        if self.operation is not None:
            import shlex

            if self.preview:
                return shlex.join(self.preview)
            call = self.operation
            args = " ".join(f"{k}={v}" for k, v in call.args.items())
            return f"{call.name} {call.target}" + (f" {args}" if args else "")
        if self.argv is not None:
            import shlex

            return shlex.join(self.argv)
        return (
            f"bash -euo pipefail -c {self.script!r}"
            if "\n" not in (self.script or "")
            else ("bash -euo pipefail <<'SCRIPT'\n" + (self.script or "").rstrip("\n") + "\nSCRIPT")
        )


@dataclass(slots=True)
class CommandResult:
    """How a command ended."""

    exit_code: int | None  #: None when it never started or was killed before exiting
    duration: float  #: seconds
    timed_out: bool = False
    cancelled: bool = False
    output_sha256: str = ""  #: SHA-256 hex of every byte of stdout and stderr, in arrival order
    output_bytes: int = 0
    error: str | None = None  #: why it could not start (command not found, ...)


class Execution(ABC):
    """A running command. Iterate ``lines()`` once; ``wait()`` for the result."""

    @abstractmethod
    def lines(self) -> AsyncIterator[OutputLine]:
        """Output lines as they arrive; ends when the command's output is closed."""

    @abstractmethod
    async def wait(self) -> CommandResult:
        """Wait until the command has ended (output drained) and return how it ended."""

    @abstractmethod
    async def cancel(self) -> None:
        """Kill the command and its whole process tree; ``wait()`` then reports cancelled."""


class Backend(ABC):
    """An environment the cockpit operates: local processes, Docker, Kubernetes, Cloud Run."""

    kind: ClassVar[str]
    capabilities: ClassVar[Capability] = Capability.NONE
    #: the model of ``backend:`` in a profile (unknown keys are errors)
    options_model: ClassVar[type[BackendOptions]] = BackendOptions
    #: what one target is called in messages ("container", "process", "pod")
    target_noun: ClassVar[str] = "target"
    #: whether ``start`` works from a forked copy of the process made before
    #: ``connect()`` (no client, no thread): the first round of health probes runs
    #: there while the UI starts (``sources.early_probes``)
    forkable: ClassVar[bool] = False
    #: whether ``connect()`` and ``list_targets`` work from such a forked copy (it
    #: connects there on its own, its SDK imported there): the first round's target
    #: probes run there too, and the UI connects once that round is shown
    early_targets: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | BackendOptions | None = None) -> None:
        if isinstance(options, BackendOptions):
            self.opts = options
        else:
            from pydantic import ValidationError

            try:
                self.opts = self.options_model.model_validate(
                    {"kind": self.kind, **dict(options or {})})
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise CockpitError(f"{self.kind} backend: option {where}: {first['msg']}"
                                   ) from None
        self.options: dict[str, Any] = self.opts.model_dump(exclude_unset=True)

    # -- set-up ------------------------------------------------------------------------

    async def connect(self) -> None:  # noqa: B027 - optional hook
        """Slow set-up (credentials, a client, a first listing); called off the UI thread
        before anything else. Raises ``CockpitError`` when the environment cannot be
        reached at all; the cockpit shows why and keeps running."""

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Start slow imports (an SDK) in a daemon thread while the UI is being built,
        so ``connect()`` finds them done; returns at once."""

    async def ensure_connected(self) -> None:
        """``connect()`` once: every caller that needs the environment awaits the same
        attempt (the app starts it; a health probe or a target list that comes first
        waits for it instead of failing). A failed attempt raises to each waiter, and
        the next call tries again."""
        attempt = getattr(self, "_connect_attempt", None)
        if attempt is None or (attempt.done() and (attempt.cancelled() or attempt.exception())):
            attempt = asyncio.ensure_future(self.connect())
            self._connect_attempt = attempt
        await asyncio.shield(attempt)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; running commands are not touched."""

    def identity(self) -> Identity:
        """Where this backend operates, as structured fields."""
        return Identity(self.kind)

    def identity_for(self, target: str | None) -> Identity:
        """Where a command on ``target`` runs (a fleet backend names that target's own
        context and namespace); the backend's ``identity()`` without a target."""
        return self.identity()

    def describe(self) -> str:
        """One line naming the backend and where it operates, for headers."""
        return self.identity().display()

    # -- scopes an operator can switch (k9s ``:ctx``, ``:ns``) ---------------------------

    #: palette verbs that switch a scope, mapped to the scope they switch
    #: (kubernetes: ``{"ctx": "context", "ns": "namespace"}``); empty: nothing to switch
    scope_verbs: ClassVar[Mapping[str, str]] = {}

    async def scope_choices(self, scope: str) -> list[str]:
        """The values ``scope`` can be switched to (off the UI thread; may read config),
        ``"all"`` first where the profile names several."""
        return []

    async def switch_scope(self, scope: str, value: str) -> None:
        """Operate in ``value`` of ``scope`` from now on: ``identity()``, new commands and
        target listings follow it (callers restart ``watch_targets``). Raises
        ``CockpitError`` for a value that is not one of ``scope_choices``."""
        raise CockpitError(f"the {self.kind} backend has no {scope} to switch")

    # -- commands and operations --------------------------------------------------------

    @abstractmethod
    async def start(self, spec: CommandSpec) -> Execution:
        """Start ``spec`` and return at once with a handle on it. Never raises: a command
        or operation that cannot run is a failed execution (``CommandResult.error``)."""

    async def run(self, spec: CommandSpec) -> tuple[CommandResult, list[OutputLine]]:
        """Convenience: run to the end, collecting every line (for small outputs only)."""
        execution = await self.start(spec)
        collected = [line async for line in execution.lines()]
        return await execution.wait(), collected

    @classmethod
    def operations(cls, options: BackendOptions) -> list[Operation]:
        """The operations this backend declares (before a profile's ``operations:``)."""
        return []

    async def explain(self, call: OperationCall) -> list[str]:
        """Lines an operator reads before confirming ``call`` (kubernetes ``undo``: the
        revision history with images and the one it goes back to); empty by default.
        Never raises: what cannot be read is one line saying so."""
        return []

    def preview(self, call: OperationCall) -> list[str]:
        """The equivalent command line of ``call`` (``docker restart web``)."""
        args = [f"{k}={v}" for k, v in call.args.items()]
        return [self.kind, call.name, call.target, *args]

    # -- targets ------------------------------------------------------------------------

    async def list_targets(self) -> list[Target]:
        """Targets of this environment, health computed; empty where there are none."""
        return []

    async def watch_targets(self) -> AsyncIterator[list[Target]]:
        """The target list each time it changes. Backends with an event stream override
        this; the default reads ``list_targets`` every ``targets_poll`` seconds and yields
        when something changed. A listing that fails raises (the caller retries)."""
        last: list[Target] | None = None
        while True:
            targets = await self.list_targets()  # a failed listing raises: the caller
            if targets != last:                   # says why and retries
                last = targets
                yield targets
            await asyncio.sleep(max(0.2, self.opts.targets_poll))

    async def select_targets(self, selector: str) -> list[Target]:
        """The targets a label selector (``app=opa-peace-bonds``) picks, health computed
        (a profile's ``selector:``); ``CockpitError`` where the backend has no labels."""
        raise CockpitError(f"the {self.kind} backend has no label selectors")

    def targets_hint(self) -> str:
        """A sentence for an empty target list: which option selects targets."""
        return ""

    async def target_events(self, target_id: str, limit: int = 20) -> list[TargetEvent]:
        """The target's recent events, newest last; empty where the backend has none."""
        return []

    def logs_streamable(self, target: Target) -> bool:
        """Can ``target``'s logs be followed now (a log source of ``kind: target``
        follows those)? Default: it runs (docker's words)."""
        return target.state in ("running", "paused", "restarting")

    def shell_argv(self, target: Target) -> list[str] | None:
        """The command that opens an interactive shell in ``target`` on this terminal
        (``docker exec -it web sh``), or None where the backend has none."""
        return None

    # -- logs ---------------------------------------------------------------------------

    def stream_logs(
        self, target_id: str, *, tail: int = 100, follow: bool = True
    ) -> AsyncIterator[OutputLine]:
        """Lines of one target's logs: ``tail`` lines of backlog, then new ones if
        ``follow``. Backends with timestamped logs also take ``since`` (epoch seconds) and
        set each line's ``ts`` to the time it was logged (``Capability.LOGS_SINCE``)."""
        raise NotImplementedError(f"backend {self.kind!r} cannot stream logs")

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogItem]]:
        """Batches of records for ``query``: each target's lines merged, as they arrive;
        a target that cannot be read, or that ends, is a notice."""
        queue: asyncio.Queue[LogItem | None] = asyncio.Queue(maxsize=10_000)
        stamped = bool(self.capabilities & Capability.LOGS_SINCE)

        async def one(target_id: str) -> None:
            kwargs: dict[str, Any] = {"tail": query.tail, "follow": query.follow}
            if stamped and query.since is not None:
                kwargs["since"] = query.since
            try:
                async for line in self.stream_logs(target_id, **kwargs):
                    await queue.put(LogRecord(
                        line.ts, line.text, line.source or target_id,
                        line.stream, logged=stamped, truncated=line.truncated))
                await queue.put(LogNotice(time.time(), target_id, "ended", "logs ended"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await queue.put(LogNotice(time.time(), target_id, "unreachable", str(exc)))

        tasks = [asyncio.ensure_future(one(t)) for t in query.targets]
        done = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))

        def ended(fut: asyncio.Future[Any]) -> None:
            if not fut.cancelled():
                fut.exception()  # a gather cancelled on close ends with CancelledError: seen
            queue.put_nowait(None)

        done.add_done_callback(ended)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                batch: list[LogItem] = [item]
                while len(batch) < 1000 and not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt is None:
                        yield batch
                        return
                    batch.append(nxt)
                yield batch
        finally:
            for task in tasks:
                task.cancel()
            done.cancel()

    def event_logs(self, namespace: str | None = None, *, backlog: int = 100,
                   follow: bool = True) -> AsyncIterator[list[LogItem]]:
        """Batches of the events of ``namespace`` (the backend's own by default) as
        records, warnings with severity ``warn`` (``Capability.EVENT_LOG``)."""
        raise NotImplementedError(f"backend {self.kind!r} has no event log")

    async def target_stats(self, target_id: str) -> Mapping[str, float]:
        """The latest values of ``stat_names`` for a target (``Capability.STATS``);
        raises ``CockpitError`` when there are none."""
        raise NotImplementedError(f"backend {self.kind!r} has no target statistics")

    #: the statistics ``target_stats`` gives (metrics ``kind: target`` name one)
    stat_names: ClassVar[tuple[str, ...]] = ()
    #: a log line's text says when it was logged (an app's own log format); False: only
    #: the record's ``ts`` does (Cloud Logging's entries), and views show that time
    log_text_has_time: ClassVar[bool] = True

    # -- profile ------------------------------------------------------------------------

    @classmethod
    def fit_actions(cls, profile: Any, opts: BackendOptions) -> list[
            tuple[tuple[str | int, ...], str]]:
        """Backend-specific fitting of the profile's actions (a default target)."""
        return []

    @classmethod
    def target_param(cls, opts: BackendOptions, op: Operation) -> dict[str, Any]:
        """The param naming an operation's target (choices and default where known)."""
        return {"description": f"the {cls.target_noun}",
                "regex": r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$"}

    @classmethod
    def complete_profile(cls, profile: Any) -> list[tuple[tuple[str | int, ...], str]]:
        """Fit a validated profile to this backend when it is loaded: add the declared
        operations as actions ``KIND.OPERATION``, check metric stats and actions against
        what the backend can do. Returns problems as ``(location in the profile,
        message)``; the loader reports them as ``FILE:LINE: message``."""
        from cockpit.core.backends.profile_fit import fit_profile

        return fit_profile(cls, profile)
