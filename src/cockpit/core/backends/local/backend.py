"""The local backend: commands and processes of this machine.

Commands run through ``backends/process.py`` (no shell for argv, own process group,
the whole tree killed on cancel and timeout); targets are processes matched by option
``processes`` (else those this backend started); a process's logs are the regular file
its stdout/stderr goes to, followed through ``/proc/PID/fd/N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    OutputLine,
    Target,
)
from cockpit.core.backends.identity import Identity
from cockpit.core.backends.local.options import LocalOptions
from cockpit.core.backends.local.proc_logs import output_files
from cockpit.core.backends.operations import Operation, OperationCall
from cockpit.core.backends.options import BackendOptions
from cockpit.core.backends.process import HostProcesses, LocalExecution, failed_execution
from cockpit.core.backends.proctree import find_tree, is_alive
from cockpit.core.backends.targets import Health
from cockpit.core.errors import CockpitError
from cockpit.core.follow import FileFollower
from cockpit.core.lazy import LazyModule

if TYPE_CHECKING:
    import psutil
else:  # ~8 ms: imported by the first process started or listed, not at start-up
    psutil = LazyModule("psutil", globals())


__all__ = ["LocalBackend", "LocalExecution"]


class LocalBackend(Backend):
    """Run commands on this machine; targets are local processes.

    Options: see ``LocalOptions``.
    """

    kind: ClassVar[str] = "local"
    capabilities: ClassVar[Capability] = (
        Capability.RUN | Capability.SCRIPT | Capability.CANCEL | Capability.TARGETS
        | Capability.LOGS | Capability.OPERATIONS
    )
    options_model: ClassVar[type[BackendOptions]] = LocalOptions
    target_noun: ClassVar[str] = "process"
    forkable: ClassVar[bool] = True  # commands are plain child processes

    def __init__(self, options: Mapping[str, Any] | BackendOptions | None = None) -> None:
        super().__init__(options)
        opts: LocalOptions = self.opts  # type: ignore[assignment]
        self._env = dict(opts.env)
        self._kill_grace = opts.kill_grace
        self._eof_grace = opts.eof_grace
        self._unread_grace = opts.unread_grace
        self._log_poll = opts.log_poll
        self._patterns = [re.compile(p) for p in opts.processes]
        self._id = uuid.uuid4().hex[:12]
        self._processes = HostProcesses(
            self._env, kill_grace=self._kill_grace, eof_grace=self._eof_grace,
            unread_grace=self._unread_grace, marker_prefix=self._id,
        )
        self._ps_cache: dict[int, psutil.Process] = {}
        self._ps_lock = threading.Lock()

    def identity(self) -> Identity:
        """``local`` on this host."""
        return Identity("local", host=socket.gethostname())

    def targets_hint(self) -> str:
        if self._patterns:
            return "No process matches the profile's backend.processes patterns."
        return ("Without backend.processes (regexes searched in command lines) the targets "
                "are the processes this cockpit started.")

    @classmethod
    def operations(cls, options: BackendOptions) -> list[Operation]:
        """terminate and kill, on the processes the profile watches (option
        ``processes``); a profile without it has no process operations (its commands are
        cancelled from the Runs pane)."""
        return list(OPERATIONS) if getattr(options, "processes", None) else []

    def preview(self, call: OperationCall) -> list[str]:
        """``kill -s TERM 1234``: the command that does what ``call`` does."""
        return ["kill", "-s", SIGNALS.get(call.name, "TERM"), str(call.target)]

    @classmethod
    def target_param(cls, opts: BackendOptions, op: Operation) -> dict[str, Any]:
        return {"description": "the process id (a target of this profile)",
                "regex": r"^[1-9][0-9]{0,9}$"}

    async def start(self, spec: CommandSpec) -> Execution:
        """Start ``spec``; never raises for a command that cannot start (see ``error``)."""
        if spec.operation is not None:
            return await self._operation(spec)
        if spec.target is not None:
            return failed_execution(
                spec.display(),
                f"the local backend cannot run a command inside a target ({spec.target}): "
                "remove 'target:' from the action, or use a backend with targets",
            )
        try:
            return await self._processes.start(spec)
        except Exception as exc:  # an argv with a NUL byte, ...: never raised to callers
            return failed_execution(spec.display(), f"cannot start: {exc}", 126)

    async def _operation(self, spec: CommandSpec) -> Execution:
        """Signal one of this profile's target processes (never another one)."""
        call = spec.operation
        assert call is not None
        if call.name not in SIGNALS:
            return failed_execution(spec.display(), f"the local backend has no operation "
                                                    f"{call.name}")
        try:
            targets = await self.list_targets()
        except Exception as exc:
            return failed_execution(spec.display(), f"cannot list processes: {exc}")
        if str(call.target) in _protected_pids():
            return failed_execution(
                spec.display(), f"process {call.target} is init, this cockpit or one of its "
                "parents: the cockpit does not signal it")
        if not any(t.id == str(call.target) for t in targets):
            return failed_execution(
                spec.display(), f"process {call.target} is not a target of this profile "
                "(option 'processes', or started by this cockpit)")
        argv = self.preview(call)
        return await self._processes.start(CommandSpec(argv=argv, timeout=spec.timeout))

    # -- targets -----------------------------------------------------------------------

    async def list_targets(self) -> list[Target]:
        """Processes matching option ``processes``, else those this backend started."""
        return await asyncio.to_thread(self._scan_targets)

    def _scan_targets(self) -> list[Target]:
        if self._patterns:
            procs = []
            me = os.getpid()
            for proc in psutil.process_iter(["cmdline", "name"]):
                if proc.pid == me:
                    continue
                text = " ".join(proc.info.get("cmdline") or []) or (proc.info.get("name") or "")
                if any(p.search(text) for p in self._patterns):
                    procs.append(proc)
        else:
            procs = find_tree(None, 0, self._id + ".", prefix=True)
        targets = []
        with self._ps_lock:
            cache: dict[int, psutil.Process] = {}
            for proc in procs:
                cached = self._ps_cache.get(proc.pid)
                proc = cached if cached is not None and cached == proc else proc
                try:
                    with proc.oneshot():
                        cmdline = " ".join(proc.cmdline())
                        status = proc.status()
                        started = proc.create_time()
                        cpu = proc.cpu_percent(None)
                        rss = proc.memory_info().rss
                        targets.append(
                            Target(
                                id=str(proc.pid),
                                name=proc.name(),
                                kind="process",
                                state=status,
                                health=process_health(status),
                                started_at=started,
                                cpu_percent=cpu,
                                mem_bytes=rss,
                                command=cmdline,
                                details={
                                    "pid": proc.pid,
                                    "cmdline": cmdline,
                                    "cpu_percent": cpu,
                                    "rss": rss,
                                    "started": started,
                                },
                            )
                        )
                    cache[proc.pid] = proc  # keeps cpu_percent meaningful on the next call
                except psutil.Error:
                    continue
            self._ps_cache = cache
        targets.sort(key=lambda target: int(target.id))
        return targets

    async def stream_logs(
        self, target_id: str, *, tail: int = 100, follow: bool = True
    ) -> AsyncIterator[OutputLine]:
        """Follow the regular file a process's stdout/stderr goes to, until it exits."""
        try:
            pid = int(target_id)
        except ValueError:
            raise CockpitError(f"not a process id: {target_id!r}") from None
        proc, name, paths = await asyncio.to_thread(_output_paths, pid)
        followers = [FileFollower(path, backlog=tail, poll_interval=self._log_poll)
                     for path in paths]
        queue: asyncio.Queue[list[OutputLine] | None] = asyncio.Queue(maxsize=16)

        async def pump(follower: FileFollower) -> None:
            async for item in follower.raw_events():
                if isinstance(item, str):
                    continue  # rotation/truncation notices: the text says it all
                now = time.time()
                await queue.put([OutputLine("log", text, now, text.endswith(" chars]"),
                                            source=name) for text in follower.decode(item)])

        async def watch() -> None:
            while follow and await asyncio.to_thread(is_alive, proc):
                await asyncio.sleep(self._log_poll)
            for follower in followers:
                follower.finish()

        tasks = [asyncio.ensure_future(pump(f)) for f in followers]
        watcher = asyncio.ensure_future(watch())
        ended = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
        ended.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (batch := await queue.get()) is not None:
                for line in batch:
                    yield line
        finally:
            watcher.cancel()
            for task in tasks:
                task.cancel()
            for follower in followers:
                await follower.close()


#: operation -> signal
SIGNALS = {"terminate": "TERM", "kill": "KILL"}
OPERATIONS = (
    Operation("terminate", "Terminate a process",
              "SIGTERM: ask the process to stop (it may clean up, or ignore it).",
              "caution", ("process",), timeout=30.0, target_param="pid", tags=("process",)),
    Operation("kill", "Kill a process", "SIGKILL: stop the process at once, no clean-up.",
              "dangerous", ("process",), timeout=30.0, target_param="pid", tags=("process",)),
)

_ALIVE = frozenset({"running", "sleeping", "idle", "disk-sleep", "waking"})


def _protected_pids() -> set[str]:
    """pid 1, this process and its parents: never signalled by an operation."""
    pids = {"1", str(os.getpid())}
    with contextlib.suppress(psutil.Error):
        pids.update(str(parent.pid) for parent in psutil.Process().parents())
    return pids


def process_health(status: str) -> Health:
    """A process is ok while it runs or sleeps; a zombie or a stopped one fails."""
    if status in _ALIVE:
        return Health("ok", status)
    return Health("fail", status)


def _output_paths(pid: int) -> tuple[psutil.Process, str, list[str]]:
    """The process and the ``/proc/PID/fd/N`` paths of its output files (blocking)."""
    try:
        proc = psutil.Process(pid)
        name = proc.name()
    except psutil.NoSuchProcess:
        raise CockpitError(f"no process with pid {pid}") from None
    except psutil.Error as exc:
        raise CockpitError(f"cannot inspect process {pid}: {exc}") from None
    try:
        files, links = output_files(pid)
    except OSError as exc:
        raise CockpitError(f"cannot read the output of process {pid} ({name}): {exc}") from None
    if not files:
        where = ", ".join(f"fd {fd} -> {link}" for fd, link in sorted(links.items()))
        raise CockpitError(
            f"process {pid} ({name}): its output is not a file ({where or 'no fds'}); "
            "only a process writing to a regular file can be followed"
        )
    return proc, name, [path for _, path in files]
