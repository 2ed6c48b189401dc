"""The local backend: commands and processes of this machine.

Commands run through ``backends/process.py`` (no shell for argv, own process group,
the whole tree killed on cancel and timeout); targets are processes matched by option
``processes`` (else those this backend started); a process's logs are the regular file
its stdout/stderr goes to, followed through ``/proc/PID/fd/N``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import psutil

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    OutputLine,
    Target,
)
from cockpit.core.backends.local.proc_logs import FileFollower, output_files
from cockpit.core.backends.process import HostProcesses, LocalExecution, failed_execution
from cockpit.core.backends.proctree import find_tree, is_alive
from cockpit.core.durations import parse_duration
from cockpit.core.errors import CockpitError

__all__ = ["LocalBackend", "LocalExecution"]


class LocalBackend(Backend):
    """Run commands on this machine; targets are local processes.

    Options: ``env`` (mapping added to the environment), ``kill_grace`` (SIGTERM to
    SIGKILL, default 2 s), ``eof_grace`` (2 s), ``unread_grace`` (0.5 s),
    ``processes`` (regexes matched against process command lines for ``list_targets``),
    ``log_poll`` (0.25 s).
    """

    kind: ClassVar[str] = "local"
    capabilities: ClassVar[Capability] = (
        Capability.RUN | Capability.SCRIPT | Capability.CANCEL | Capability.TARGETS
        | Capability.LOGS
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        opts = self.options
        env = opts.get("env") or {}
        if not isinstance(env, Mapping):
            raise CockpitError("local backend: option 'env' must be a mapping")
        self._env = {str(key): str(value) for key, value in env.items()}
        try:
            self._kill_grace = parse_duration(opts.get("kill_grace", 2.0))
            self._eof_grace = parse_duration(opts.get("eof_grace", 2.0))
            self._unread_grace = parse_duration(opts.get("unread_grace", 0.5))
            self._log_poll = parse_duration(opts.get("log_poll", 0.25))
        except ValueError as exc:
            raise CockpitError(f"local backend: {exc}") from None
        patterns = opts.get("processes") or []
        if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
            raise CockpitError("local backend: option 'processes' must be a list of regexes")
        try:
            self._patterns = [re.compile(str(p)) for p in patterns]
        except re.error as exc:
            raise CockpitError(f"local backend: bad 'processes' regex: {exc}") from None
        self._id = uuid.uuid4().hex[:12]
        self._processes = HostProcesses(
            self._env, kill_grace=self._kill_grace, eof_grace=self._eof_grace,
            unread_grace=self._unread_grace, marker_prefix=self._id,
        )
        self._ps_cache: dict[int, psutil.Process] = {}
        self._ps_lock = threading.Lock()

    def describe(self) -> str:
        """``local (hostname)``."""
        return f"local ({socket.gethostname()})"

    async def start(self, spec: CommandSpec) -> Execution:
        """Start ``spec``; never raises for a command that cannot start (see ``error``)."""
        if spec.target is not None:
            return failed_execution(
                spec.display(),
                f"the local backend cannot run a command inside a target ({spec.target}): "
                "remove 'target:' from the action, or use a backend with targets",
            )
        return await self._processes.start(spec)

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
                        targets.append(
                            Target(
                                id=str(proc.pid),
                                name=proc.name(),
                                kind="process",
                                state=proc.status(),
                                details={
                                    "pid": proc.pid,
                                    "cmdline": cmdline,
                                    "cpu_percent": proc.cpu_percent(None),
                                    "rss": proc.memory_info().rss,
                                    "started": proc.create_time(),
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
        proc, name, followers = await asyncio.to_thread(_open_followers, pid, tail)
        try:
            while True:
                alive = follow and await asyncio.to_thread(is_alive, proc)
                got = False
                for follower in followers:
                    for text, cut in follower.read_new(flush=not alive):
                        got = True
                        yield OutputLine("log", text, time.time(), cut, source=name)
                if any(follower.behind for follower in followers):
                    continue
                if not alive:
                    return
                if not got:
                    await asyncio.sleep(self._log_poll)
        finally:
            for follower in followers:
                follower.close()



def _open_followers(pid: int, tail: int) -> tuple[psutil.Process, str, list[FileFollower]]:
    """Find and open the output files of process ``pid`` (blocking)."""
    try:
        proc = psutil.Process(pid)
        name = proc.name()
    except psutil.NoSuchProcess:
        raise CockpitError(f"no process with pid {pid}") from None
    except psutil.Error as exc:
        raise CockpitError(f"cannot inspect process {pid}: {exc}") from None
    try:
        files, links = output_files(pid)
        followers = [FileFollower(path, tail) for _, path in files]
    except OSError as exc:
        raise CockpitError(f"cannot read the output of process {pid} ({name}): {exc}") from None
    if not followers:
        where = ", ".join(f"fd {fd} -> {link}" for fd, link in sorted(links.items()))
        raise CockpitError(
            f"process {pid} ({name}): its output is not a file ({where or 'no fds'}); "
            "only a process writing to a regular file can be followed"
        )
    return proc, name, followers


