"""The docker backend: operate containers through the Docker Engine API.

Options: ``docker/options.py`` (``host``, ``containers`` or ``project``/``service``,
``default_target``, ``operations``, ``stop_timeout``, ``timeout``, ``user``, and the
process graces of host commands).

Commands with a ``target`` run inside that container (``docker exec``; a ``script`` runs
with ``bash -euo pipefail``, or ``sh -eu`` in images without bash); commands without one
run on this host (``backends/process.py``; ``DOCKER_HOST`` is set for them when the
profile names the engine). The declared operations (``ops.py``) come as actions
``docker.start``, ``docker.stop``, ..., previewed as their docker CLI line.

Targets come from the engine's event stream (``targets.py``: health and recent events
too), logs from ``docker logs -f`` (``logs.py``), CPU and memory from the stats stream
(``stats.py``). The SDK is imported only once the engine is first used.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    OutputLine,
    Target,
)
from cockpit.core.backends.docker import ops
from cockpit.core.backends.docker.engine import (
    Engine,
    EngineError,
    NoSuchContainer,
    sdk_missing,
)
from cockpit.core.backends.docker.exec import ExecExecution, OperationExecution
from cockpit.core.backends.docker.logs import follow_logs
from cockpit.core.backends.docker.ops import OPERATIONS
from cockpit.core.backends.docker.options import DockerOptions
from cockpit.core.backends.docker.stats import StatsStreams
from cockpit.core.backends.docker.targets import Selection, TargetWatch
from cockpit.core.backends.identity import Identity
from cockpit.core.backends.operations import Operation, OperationCall
from cockpit.core.backends.options import BackendOptions
from cockpit.core.backends.process import HostProcesses
from cockpit.core.backends.targets import TargetEvent
from cockpit.core.backends.threaded import failed
from cockpit.core.errors import CockpitError

#: A script in a container: bash when the image has it, else sh (with pipefail if it can).
_SCRIPT_RUNNER = (
    'if command -v bash >/dev/null 2>&1; then exec bash -euo pipefail -c "$0"; fi; '
    'set -eu; (set -o pipefail) 2>/dev/null && set -o pipefail; eval "$0"'
)


#: Seconds between target lists that differ only in their CPU and memory readings.
STATS_EVERY = 5.0


class DockerBackend(Backend):
    """Containers of one Docker engine; see the module docstring for the options."""

    kind: ClassVar[str] = "docker"
    capabilities: ClassVar[Capability] = (
        Capability.RUN | Capability.SCRIPT | Capability.CANCEL | Capability.TARGETS
        | Capability.LOGS | Capability.LOGS_SINCE | Capability.EXEC_IN_TARGET | Capability.STATS
        | Capability.OPERATIONS
    )

    options_model: ClassVar[type[BackendOptions]] = DockerOptions
    target_noun: ClassVar[str] = "container"
    stat_names: ClassVar[tuple[str, ...]] = ("cpu_percent", "mem_bytes", "mem_percent",
                                             "restarts")

    def __init__(self, options: Mapping[str, Any] | BackendOptions | None = None) -> None:
        super().__init__(options)
        opts: DockerOptions = self.opts  # type: ignore[assignment]
        problem = sdk_missing()
        if problem:
            raise CockpitError(problem)
        self.selection = Selection(tuple(opts.containers), opts.project, opts.service)
        self._timeout = opts.timeout
        self._stop_timeout = opts.stop_timeout
        self._kill_grace = opts.kill_grace
        self._env = dict(opts.env)
        self._user = opts.user
        self.engine = Engine(opts.host or None, self._timeout)
        self._explicit_host = bool(opts.host)
        self.watch = TargetWatch(self.engine, self.selection)
        self.stats = StatsStreams(self.engine)
        self._local: HostProcesses | None = None
        self._id = uuid.uuid4().hex[:12]
        self._counter = itertools.count(1)

    async def connect(self) -> None:
        """Start watching the engine's containers (the SDK import and the first listing
        happen in threads); an unreachable engine is shown by the targets, not raised."""
        await asyncio.to_thread(self.watch.start)

    def identity(self) -> Identity:
        """The engine, and the Compose project if the profile names one."""
        return Identity("docker", host=self.engine.host, project=self.selection.project)

    @classmethod
    def operations(cls, options: BackendOptions) -> list[Operation]:
        return list(OPERATIONS)

    def preview(self, call: OperationCall) -> list[str]:
        """``docker restart web`` (with ``-H HOST`` when the profile names the engine)."""
        return ops.preview(call, self.engine.host if self._explicit_host else None)

    @classmethod
    def fit_actions(cls, profile: Any, opts: BackendOptions) -> list[
            tuple[tuple[str | int, ...], str]]:
        return ops.fit_actions(profile, opts)  # type: ignore[arg-type]

    @classmethod
    def target_param(cls, opts: BackendOptions, op: Operation) -> dict[str, Any]:
        return ops.target_param(opts)  # type: ignore[arg-type]

    def targets_hint(self) -> str:
        return (f"It selects {self.selection.describe()}; backend.containers or "
                "backend.project choose others.")

    def shell_argv(self, target: Target) -> list[str] | None:
        """``docker exec -it CONTAINER sh -c 'bash || sh'``: bash where the image has it;
        None unless the container runs."""
        if target.state != "running":
            return None
        engine = ["-H", self.engine.host] if self._explicit_host else []
        user = ["-u", self._user] if self._user else []
        return ["docker", *engine, "exec", "-it", *user, target.name, "sh", "-c",
                "command -v bash >/dev/null 2>&1 && exec bash || exec sh"]

    # -- commands ----------------------------------------------------------------------------

    async def start(self, spec: CommandSpec) -> Execution:
        """Run ``spec`` in its target container, as an operation, or on this host."""
        try:
            return await self._start(spec)
        except Exception as exc:  # never raises: a failed execution says why
            return failed(spec.display(), f"{type(exc).__name__}: {exc}")

    async def _start(self, spec: CommandSpec) -> Execution:
        call = spec.operation
        ref = call.target if call is not None else spec.target
        if ref is None:
            return await self._host().start(spec)
        try:
            target = await self._resolve(ref)
        except EngineError as exc:
            return failed(spec.display(), str(exc))
        if call is not None and call.name != "exec":
            if call.name not in {op.name for op in OPERATIONS}:
                return failed(spec.display(), f"the docker backend has no operation {call.name}")
            return OperationExecution(self.engine, target, call.name,
                                      display=spec.display(), stop_timeout=self._stop_timeout)
        if target.state != "running":
            state = "paused" if target.state == "paused" else f"not running ({target.state})"
            return failed(spec.display(), f"container {target.name} is {state}")
        if call is not None:  # exec: the command is an arg, run by sh -c
            command = str(call.args.get("command") or "")
            if not command:
                return failed(spec.display(), "exec: no command given")
            argv = ["sh", "-c", command]
        elif spec.argv is not None:
            argv = [str(arg) for arg in spec.argv]
        else:
            argv = ["sh", "-c", _SCRIPT_RUNNER, spec.script or ""]
        return ExecExecution(
            self.engine, target, argv, {**self._env, **spec.env},
            display=spec.display(), marker=f"{self._id}.{next(self._counter)}",
            timeout=spec.timeout, kill_grace=self._kill_grace, user=self._user,
        )

    def _host(self) -> HostProcesses:
        if self._local is None:
            env = dict(self._env)
            if self._explicit_host:
                env.setdefault("DOCKER_HOST", self.engine.host)
            opts = self.opts
            self._local = HostProcesses(
                env, marker_prefix=self._id, kill_grace=opts.kill_grace,
                eof_grace=opts.eof_grace, unread_grace=opts.unread_grace)
        return self._local

    async def _resolve(self, ref: str) -> Target:
        cached = self._snapshot_nowait()
        if cached is not None:
            try:
                return self.watch.resolve(ref)
            except NoSuchContainer:
                pass  # maybe created a moment ago: ask the engine below
        return await asyncio.to_thread(self._resolve_blocking, ref)

    def _resolve_blocking(self, ref: str) -> Target:
        try:
            return self.watch.resolve(ref, wait=self._timeout)
        except NoSuchContainer as missing:
            # The event may not have arrived yet: ask the engine directly.
            from cockpit.core.backends.docker.targets import to_target

            try:
                info = self.engine.call(f"container {ref}", "inspect_container", ref)
            except NoSuchContainer:
                raise missing from None
            target = to_target(info)
            if not self.watch._belongs(target):
                raise NoSuchContainer(
                    f"container {target.name} is not a target of this profile "
                    f"({self.selection.describe()})"
                ) from None
            return target

    # -- targets -----------------------------------------------------------------------------

    def _snapshot_nowait(self) -> list[Target] | None:
        try:
            return self.watch.snapshot(0.0)
        except EngineError:
            return None

    async def list_targets(self) -> list[Target]:
        """The profile's containers (from the event-fed cache), with CPU and memory where a
        stats stream is open (a ``kind: target`` metric); ``EngineError`` when the engine
        cannot be reached."""
        try:
            targets = self.watch.snapshot(0.0)
        except EngineError:
            targets = await asyncio.to_thread(self.watch.snapshot, self._timeout)
        return [self._with_stats(t) for t in targets]

    def _with_stats(self, target: Target) -> Target:
        reading = self.stats.peek(target.id) if target.id else None
        if reading is None or target.state not in ("running", "paused"):
            return target
        return target.with_changes(cpu_percent=reading.cpu_percent,
                                   mem_bytes=int(reading.mem_bytes))

    async def watch_targets(self) -> AsyncIterator[list[Target]]:
        """The container list each time the engine's event stream changes it; raises
        ``EngineError`` when the engine cannot be reached (the caller retries)."""
        version, last, shown_at = -1, None, 0.0
        while True:
            targets = await self.list_targets()  # EngineError: the caller says why, retries
            seen = self.watch.version
            now = time.monotonic()
            # An event changes the list at once; CPU and memory readings at most every 5 s.
            if seen != version or (targets != last and now - shown_at >= STATS_EVERY):
                version, last, shown_at = seen, targets, now
                yield targets
            await asyncio.to_thread(self.watch.wait_changed, version, 1.0)

    async def target_events(self, target_id: str, limit: int = 20) -> list[TargetEvent]:
        """The container's events from the stream (replayed from a few minutes before
        the cockpit started)."""
        return self.watch.events_of(target_id, limit)

    async def stream_logs(
        self,
        target_id: str,
        *,
        tail: int = 100,
        follow: bool = True,
        since: float | None = None,
    ) -> AsyncIterator[OutputLine]:
        """The container's log lines with their logged time; ends when it stops."""
        target = await self._resolve(target_id)
        async for line in follow_logs(self.engine, target, tail=tail if tail >= 0 else "all",
                                      since=since, follow=follow):
            yield line

    async def target_stats(self, target_id: str) -> Mapping[str, float]:
        """CPU %, memory and restarts of a container (from its stats stream)."""
        target = await self._resolve(target_id)
        stats: dict[str, float] = {"restarts": float(target.restarts or 0)}
        if target.state not in ("running", "paused"):
            self.stats.forget(target.id)
            stats.update(cpu_percent=0.0, mem_bytes=0.0, mem_percent=0.0)
            return stats
        reading = self.stats.latest(target.id)
        if reading is not None:
            stats["mem_bytes"] = reading.mem_bytes
            if reading.mem_percent is not None:
                stats["mem_percent"] = reading.mem_percent
            if reading.cpu_percent is not None:
                stats["cpu_percent"] = reading.cpu_percent
        else:
            error = self.stats.error(target.id)
            if error:
                raise EngineError(f"stats of {target.name}: {error}")
        return stats

    async def close(self) -> None:
        self.watch.close()
        self.stats.close()
        await asyncio.to_thread(self.engine.close)

