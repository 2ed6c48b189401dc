"""The first round of health probes, run in a forked copy of the cockpit while its UI
is still being imported and built.

Start-up keeps one core busy for a third of a second (Textual and the panes are
imported, styled and mounted). The first round's own work, about 55 ms for the HTTP
stack's imports and a first request and then the replies and commands, would add to
that. A second core is usually idle meanwhile (with one core, nothing is forked: the
child's work would only compete with the UI's).
``start_early_probes`` forks once the profile is loaded, before any thread exists. The
child runs the probes through the same ``HealthChecker`` (the same boundary: every row
it sends has passed it) and writes each probe's rows as one JSON line as soon as that
probe ends. The Health pane reads them without blocking and probes in-process whatever
the child did not report (it died, or it took too long).

The child runs HTTP, TCP and alerts probes, command probes only on a backend that says
its commands can start from a forked copy (``Backend.forkable``: the local one), and
target probes only on a backend that connects and lists from one
(``Backend.early_targets``: kubernetes, whose SDK import, 90 ms of CPU, then happens in
the child; ``EarlyProbes.connects`` tells the UI to connect once the first round is
shown, so that import does not hold the interpreter while the first frame is made).
It redirects its standard streams to ``/dev/null`` (nothing it does reaches the
terminal); its writes wait for room without stopping its loop. It ends when the
probes end; told to stop (SIGTERM: the pane's ``close`` or its parent's end; a hang-up
or Ctrl+C, which reach its process group too), it cancels them first, so a command's
process tree is killed, and ignores later signals while it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Sequence

from cockpit.core.backends.base import Backend
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import (
    AlertsProbe,
    CommandProbe,
    HttpProbe,
    TargetProbe,
    TcpProbe,
)
from cockpit.core.sources.health import AnyProbe, HealthChecker, HealthRow, timeout_reason

#: Most bytes read from the child: far above what bounded rows of any profile take.
MAX_BYTES = 4 << 20
#: Seconds past its longest probe's bound the parent waits for the child (the child
#: itself gives up at half of that).
SLACK = 2.0


def runs_early(probe: AnyProbe, backend: Backend | None) -> bool:
    """Whether the forked child may run ``probe``."""
    if isinstance(probe, HttpProbe | TcpProbe | AlertsProbe):
        return True
    if isinstance(probe, TargetProbe):
        return backend is not None and backend.early_targets
    return isinstance(probe, CommandProbe) and backend is not None and backend.forkable


class EarlyProbes:
    """The parent's end: which probes the child runs, and their rows as they come."""

    def __init__(self, pid: int, fd: int, names: Sequence[str], deadline: float,
                 connects: bool = False) -> None:
        self.pid = pid
        self.names: tuple[str, ...] = tuple(names)  #: the probes the child runs
        #: the child connects the backend itself (a target probe): the UI's connection
        #: (an SDK's import, competing for the interpreter) can wait for the first frame
        self.connects = connects
        #: ``time.monotonic()`` past which the child has overrun its probes' timeouts:
        #: give up on it then (the probes it has not reported are run in-process)
        self.deadline = deadline
        self._fd: int | None = fd
        self._buffer = bytearray()
        self._read = 0
        self.ended = False  #: the child's output has ended: nothing more will come
        self._reaped = False

    def fileno(self) -> int:
        """The pipe to wait on (readable when rows or the end have come)."""
        if self._fd is None:
            raise ValueError("closed")
        return self._fd

    def read(self) -> list[tuple[str, list[HealthRow]]]:
        """The probes whose rows have come since the last call, without blocking. Once
        ``ended``, nothing more comes: the probes not reported never will."""
        if self._fd is None or self.ended:
            return []
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                self.ended = True
                break
            if not chunk:
                self.ended = True
                break
            self._read += len(chunk)
            if self._read > MAX_BYTES:  # never from our child; stop listening to it
                self._buffer.clear()
                self.ended = True
                break
            self._buffer += chunk
        found: list[tuple[str, list[HealthRow]]] = []
        *lines, rest = self._buffer.split(b"\n")
        self._buffer = rest
        for line in lines:
            try:
                name, rows = json.loads(line)
                found.append((name, [HealthRow(*row) for row in rows]))
            except (ValueError, TypeError):
                continue  # a line cut by a dying child: that probe runs again in-process
        return found

    def close(self) -> None:
        """Stop listening (unregister the pipe from any loop first). A child that still
        runs is told to stop: it cancels its probes (a command's whole process tree is
        killed) and ends. Then ``reap`` it."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if not self.ended:
            self.ended = True
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)

    def reap(self) -> bool:
        """Collect the ended child's exit status, without waiting (no zombie is left);
        False while it has not ended yet: call again later."""
        if self._reaped:
            return True
        try:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # collected elsewhere
            pid = self.pid
        self._reaped = pid == self.pid
        return self._reaped

    def wait(self) -> None:
        """Collect the child's exit status, waiting for it to end (a thread's job)."""
        if not self._reaped:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self._reaped = True


def start_early_probes(probes: Sequence[AnyProbe], backend: Backend | None,
                       boundary: Boundary) -> EarlyProbes | None:
    """Fork a child that runs the probes it may (``runs_early``); None when there are
    none, when forking is not safe here (another thread runs, or no ``fork``), on a
    single core, or with ``COCKPIT_EARLY_PROBES=0`` (``=1``: even on a single core)."""
    wanted = os.environ.get("COCKPIT_EARLY_PROBES", "")
    chosen = [p for p in probes if runs_early(p, backend)]
    if wanted == "0" or not chosen or not hasattr(os, "fork") \
            or threading.active_count() != 1:
        return None
    if _cores() < 2 and wanted != "1":  # its ~90 ms of CPU would only delay the UI's
        return None
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_fd)
            _run_child(write_fd, parent, chosen, backend, boundary)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    deadline = time.monotonic() + _longest(chosen) + SLACK
    return EarlyProbes(pid, read_fd, [p.name for p in chosen], deadline,
                       connects=any(isinstance(p, TargetProbe) for p in chosen))


def _longest(probes: Sequence[AnyProbe]) -> float:
    """Seconds the slowest probe may take (a command's bound includes its slack)."""
    return max(p.timeout for p in probes) + 1.0


def _cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _run_child(write_fd: int, parent: int, probes: list[AnyProbe], backend: Backend | None,
               boundary: Boundary) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # nothing the child does may reach (or read) the terminal
        os.dup2(devnull, fd)
    _end_with(parent)
    os.set_blocking(write_fd, False)  # a full pipe must not stop the loop (the timeouts)
    longest = _longest(probes) + SLACK / 2

    async def run() -> None:
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()

        def stop() -> None:  # the first stop signal cancels; later ones would cut the
            for sig in _STOPS:  # kill of a command's tree short: ignored
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)
            main.cancel()

        for sig in _STOPS:
            loop.add_signal_handler(sig, stop)
        checker = HealthChecker(probes, backend, boundary=boundary)
        writing = asyncio.Lock()  # one probe's line at a time: lines never interleave

        async def one(probe: AnyProbe) -> None:
            rows = await checker.check(probe)
            if isinstance(probe, TargetProbe) and len(rows) == 1 and rows[0].state == "fail" \
                    and rows[0].reason == timeout_reason(probe.timeout):
                return  # a cold connection here (an SDK's import, a first list) ran
                # out of time: not said, so the UI probes it again itself
            line = json.dumps([probe.name, [
                [r.name, r.state, r.latency_ms, r.reason, r.checked_at, r.parent, r.details]
                for r in rows]]).encode() + b"\n"
            async with writing:
                await _write(loop, write_fd, line)

        try:
            # a TaskGroup, not gather: stopped, it waits for every probe's cancellation
            # (a command's kill) before the loop ends; gather let the first cancelled
            # probe end the round while a command was still being killed
            async with asyncio.timeout(longest), asyncio.TaskGroup() as probing:
                for probe in probes:
                    probing.create_task(one(probe))
        finally:
            await checker.close()

    # Not asyncio.run: closing, it waits for the loop's worker threads, and a probe's
    # thread is not stopped by its cancellation (a kubernetes connection's SDK import,
    # a credential plugin, a list waiting for its own timeout). The round's commands
    # are killed inside ``run`` (the TaskGroup waits for them); the caller then ends
    # the process, threads and all, once ``run`` is over.
    loop = asyncio.new_event_loop()
    with contextlib.suppress(BaseException):
        loop.run_until_complete(run())


#: What stops the child: the pane's close and the parent's end (SIGTERM), and what a
#: terminal sends its whole process group (a hang-up, Ctrl+C before the UI's raw mode).
_STOPS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


async def _write(loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> None:
    """All of ``data`` to the non-blocking pipe, waiting (not blocking) while it is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            writable = loop.create_future()
            loop.add_writer(fd, _resolve, writable)
            try:
                await writable
            finally:
                loop.remove_writer(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _end_with(parent: int) -> None:
    """Get SIGTERM when the parent ends (Linux), so no probe outlives a cockpit that
    quit or crashed."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before that took effect
        os._exit(0)
