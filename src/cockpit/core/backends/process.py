"""Commands run as asyncio subprocesses on this machine (the local backend, and host
commands of other backends).

Behaviour worth knowing:

- **No shell for argv.** ``argv`` is executed directly; a ``script`` runs as
  ``bash -euo pipefail -c SCRIPT`` with stdin ``/dev/null`` (``CommandSpec.display()``
  shows a multi-line script as a heredoc; the semantics are the same, except that
  commands in the script read an empty stdin rather than the script itself).
- **Environment:** ``os.environ`` + backend option ``env`` + ``spec.env``, plus
  ``COCKPIT_EXEC_ID`` (a unique marker used to find the command's processes).
- **Process tree:** every command leads its own session/process group. Cancel and
  timeout send SIGTERM to the group and to every process found by
  ``proctree.find_tree`` (descendants, group members, marker carriers: this catches
  ``setsid`` grandchildren), then SIGKILL after ``kill_grace`` (default 2 s) to whatever
  is left, including processes forked meanwhile. ``cancel()`` returns once that is done.
- **Exit codes:** a command killed by signal N reports ``128 + N`` (shell convention):
  a timeout or cancel usually yields 143 (SIGTERM) or 137 (SIGKILL). A timeout keeps the
  real exit code and sets ``timed_out``; a cancel sets ``cancelled``. A command that
  cannot start returns ``exit_code`` 127 (not found, missing cwd) or 126 (permission
  denied, not executable) with ``error`` set; ``start()`` does not raise for those.
- **Output:** stdout and stderr are read concurrently in 64 KiB chunks and split into
  lines (see ``lines``); every byte is hashed (SHA-256, arrival order) and
  counted. Lines pass through a bounded queue (``queue_batches`` batches, one batch per
  chunk read), so a slow ``lines()`` consumer back-pressures the child through the pipe
  instead of buffering. Lines wait in the queue for a consumer until ``wait()`` is
  called; if ``lines()`` has still not been called ``unread_grace`` (0.5 s) after
  ``wait()``, further lines are **dropped** (a later ``lines()`` call sees the lines
  from then on). Lines are dropped as well once a ``lines()`` iterator is closed or
  garbage-collected before the end. A consumer that keeps the iterator but stops
  iterating stalls the command (that is back-pressure).
- **Leftover holders:** when the main process has exited but other processes keep the
  pipes open (a daemon started with ``&`` without redirecting its output), reading
  stops after ``eof_grace`` (2 s) without new output; those processes are not killed,
  but their output is no longer read (they get SIGPIPE/EPIPE on their next write).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from cockpit.core.backends.base import CommandResult, CommandSpec, Execution, OutputLine
from cockpit.core.backends.lines import LineSplitter
from cockpit.core.backends.proctree import MARKER_VAR, any_alive, find_tree, signal_tree
from cockpit.core.lazy import LazyModule

if TYPE_CHECKING:
    import psutil
else:  # ~8 ms: imported by the first process started or listed, not at start-up
    psutil = LazyModule("psutil", globals())


_CHUNK = 64 * 1024
#: Longest wait for SIGKILLed processes to be gone (a process in D state may linger).
_KILL_CONFIRM = 5.0
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_Batch = list[OutputLine]



class LocalExecution(Execution):
    """A command started by ``LocalBackend``; see the module docstring for the rules."""

    def __init__(
        self,
        display: str,
        *,
        timeout: float | None = None,
        kill_grace: float = 2.0,
        eof_grace: float = 2.0,
        unread_grace: float = 0.5,
        queue_batches: int = 64,
        marker: str = "",
    ) -> None:
        self.display = display
        self.pid: int | None = None
        self._timeout = timeout
        self._kill_grace = kill_grace
        self._eof_grace = eof_grace
        self._unread_grace = unread_grace
        self._marker = marker
        self._proc: asyncio.subprocess.Process | None = None
        self._transport: asyncio.SubprocessTransport | None = None
        self._exited: asyncio.Future[None] | None = None
        self._ps_main: psutil.Process | None = None
        self._queue: asyncio.Queue[_Batch | None] = asyncio.Queue(max(1, queue_batches))
        self._put_lock = asyncio.Lock()  # FIFO: batches enter the queue in timestamp order
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._t0 = time.monotonic()
        self._result: CommandResult | None = None
        self._done = asyncio.Event()
        self._timed_out = False
        self._cancelled = False
        self._kill_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._readers: list[asyncio.Task[None]] = []
        self._lines_taken = False
        self._abandoned = False
        self._dropping = False
        self._output_closed = False
        self._emitting = 0
        self._drop_timer: asyncio.TimerHandle | None = None

    @property
    def marker(self) -> str:
        """The ``COCKPIT_EXEC_ID`` value every process of this command carries."""
        return self._marker

    # -- lifecycle -------------------------------------------------------------------

    def _fail(self, exit_code: int | None, error: str) -> LocalExecution:
        """End at once: the command could not start."""
        self._result = CommandResult(
            exit_code=exit_code,
            duration=time.monotonic() - self._t0,
            output_sha256=_EMPTY_SHA256,
            error=error,
        )
        self._output_closed = True
        self._queue.put_nowait(None)
        self._done.set()
        return self

    def _begin(
        self,
        proc: asyncio.subprocess.Process,
        transport: asyncio.SubprocessTransport,
        exited: asyncio.Future[None],
    ) -> LocalExecution:
        """Attach the started process and launch the readers and the supervisor."""
        self._proc = proc
        self._transport = transport
        self._exited = exited
        self.pid = proc.pid
        try:
            self._ps_main = psutil.Process(proc.pid)
        except psutil.Error:  # it already exited and was reaped
            self._ps_main = None
        assert proc.stdout is not None and proc.stderr is not None
        loop = asyncio.get_running_loop()
        self._readers = [
            loop.create_task(self._read(proc.stdout, "stdout")),
            loop.create_task(self._read(proc.stderr, "stderr")),
        ]
        self._tasks = [*self._readers, loop.create_task(self._supervise())]
        return self

    async def _supervise(self) -> None:
        proc, exited = self._proc, self._exited
        assert proc is not None and exited is not None
        error: str | None = None
        exit_code: int | None = None
        try:
            # Not proc.wait(): on Python 3.11 it returns only once the pipes are closed too.
            done, _ = await asyncio.wait({exited}, timeout=self._timeout)
            if not done:
                if not self._cancelled:
                    self._timed_out = True
                await self._kill()
            await exited
            returncode = proc.returncode
            assert returncode is not None
            exit_code = 128 - returncode if returncode < 0 else returncode
            await self._drain_readers()
            if self._kill_task is not None:
                await asyncio.shield(self._kill_task)
        except Exception as exc:  # never leave wait() hanging
            error = f"local backend failure: {exc!r}"
            for task in self._readers:
                task.cancel()
        self._result = CommandResult(
            exit_code=exit_code,
            duration=time.monotonic() - self._t0,
            timed_out=self._timed_out,
            cancelled=self._cancelled,
            output_sha256=self._hash.hexdigest(),
            output_bytes=self._bytes,
            error=error,
        )
        self._output_closed = True
        self._done.set()
        if self._drop_timer is not None:
            self._drop_timer.cancel()
        if self._dropping:
            self._drain()
        else:
            await self._queue.put(None)

    async def _drain_readers(self) -> None:
        """Wait for EOF on both pipes; give up on pipes held open by leftover processes."""
        pending = {task for task in self._readers if not task.done()}
        seen = self._bytes
        while pending:
            _, pending = await asyncio.wait(pending, timeout=self._eof_grace)
            if not pending:
                return
            if self._bytes == seen and not self._emitting:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                if self._transport is not None:  # close our pipe ends (the process exited)
                    self._transport.close()
                return
            seen = self._bytes

    # -- output ----------------------------------------------------------------------

    async def _read(
        self, stream: asyncio.StreamReader, name: Literal["stdout", "stderr"]
    ) -> None:
        splitter = LineSplitter()
        while True:
            chunk = await stream.read(_CHUNK)
            if not chunk:
                break
            self._hash.update(chunk)
            self._bytes += len(chunk)
            now = time.time()
            await self._emit([OutputLine(name, t, now, cut) for t, cut in splitter.feed(chunk)])
        now = time.time()
        await self._emit([OutputLine(name, t, now, cut) for t, cut in splitter.flush()])

    async def _emit(self, batch: _Batch) -> None:
        if not batch or self._dropping:
            return
        self._emitting += 1
        try:
            async with self._put_lock:
                if not self._dropping:
                    await self._queue.put(batch)
        finally:
            self._emitting -= 1

    def _drain(self) -> None:
        """Empty the queue (waking blocked readers); keep the end marker if output ended."""
        while True:
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
        if self._output_closed:
            self._queue.put_nowait(None)

    def _start_dropping(self) -> None:
        self._dropping = True
        self._drain()

    def _drop_unread(self) -> None:
        if not self._lines_taken:
            self._start_dropping()

    def _abandon(self) -> None:
        """The ``lines()`` iterator was closed before the end: drop lines from now on."""
        self._abandoned = True
        self._start_dropping()

    def lines(self) -> AsyncIterator[OutputLine]:
        """Output lines as they arrive; may be called once."""
        if self._lines_taken:
            raise RuntimeError("lines() can be iterated only once per execution")
        self._lines_taken = True
        if self._dropping and not self._abandoned:
            self._dropping = False  # a late consumer gets the lines from now on
        return _LineIterator(self, asyncio.get_running_loop())

    # -- results and control -----------------------------------------------------------

    async def wait(self) -> CommandResult:
        """Wait for the process to exit and its output to close; return how it ended."""
        if not self._lines_taken and self._drop_timer is None and not self._done.is_set():
            self._drop_timer = asyncio.get_running_loop().call_later(
                self._unread_grace, self._drop_unread
            )
        await self._done.wait()
        assert self._result is not None
        return self._result

    async def cancel(self) -> None:
        """Kill the whole tree (idempotent; a no-op once the command has ended)."""
        if self._proc is None or self._done.is_set():
            return
        if self._proc.returncode is None and not self._timed_out:
            self._cancelled = True
        await self._kill()

    async def _kill(self) -> None:
        if self._kill_task is None:
            self._kill_task = asyncio.get_running_loop().create_task(self._kill_tree())
        # Cancelled again while the tree is being killed (a worker cancelled at quit,
        # then again as its pane goes): the kill is finished first (it is bounded by
        # the grace and the confirmation), then the cancellation goes on. Else the loop
        # could end before the SIGTERM, and the command outlive the cockpit.
        cancelled = False
        while not self._kill_task.done():
            try:
                await asyncio.shield(self._kill_task)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def _kill_tree(self) -> None:
        assert self._proc is not None
        pgid = self._proc.pid
        procs = await asyncio.to_thread(find_tree, self._ps_main, pgid, self._marker)
        await asyncio.to_thread(signal_tree, pgid, procs, signal.SIGTERM)
        deadline = time.monotonic() + self._kill_grace
        while time.monotonic() < deadline and await asyncio.to_thread(any_alive, procs):
            await asyncio.sleep(0.05)
        # SIGKILL the rest and whatever was forked meanwhile, until none is found alive.
        deadline = time.monotonic() + _KILL_CONFIRM
        while time.monotonic() < deadline:
            procs = await asyncio.to_thread(find_tree, self._ps_main, pgid, self._marker)
            if not procs:
                break
            await asyncio.to_thread(signal_tree, pgid, procs, signal.SIGKILL)
            await asyncio.sleep(0.02)


class _ExitAwareProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol of ``create_subprocess_exec``, plus a future set at exit."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


class _LineIterator:
    """Async iterator over an execution's queued batches; dropping it stops the queue."""

    def __init__(self, execution: LocalExecution, loop: asyncio.AbstractEventLoop) -> None:
        self._execution: LocalExecution | None = execution
        self._loop = loop
        self._pending: deque[OutputLine] = deque()

    def __aiter__(self) -> _LineIterator:
        return self

    async def __anext__(self) -> OutputLine:
        while not self._pending:
            if self._execution is None:
                raise StopAsyncIteration
            batch = await self._execution._queue.get()
            if batch is None:
                self._execution = None
                raise StopAsyncIteration
            self._pending.extend(batch)
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Stop iterating; later lines are dropped."""
        execution, self._execution = self._execution, None
        self._pending.clear()
        if execution is not None:
            execution._abandon()

    def __del__(self) -> None:
        execution = self._execution
        if execution is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(execution._abandon)



class HostProcesses:
    """Start commands on this machine: environment, process group, marker, timeouts."""

    def __init__(self, env: Mapping[str, str], *, kill_grace: float = 2.0,
                 eof_grace: float = 2.0, unread_grace: float = 0.5, marker_prefix: str) -> None:
        self._env = dict(env)
        self._kill_grace = kill_grace
        self._eof_grace = eof_grace
        self._unread_grace = unread_grace
        self._prefix = marker_prefix
        self._counter = 0

    async def start(self, spec: CommandSpec) -> LocalExecution:
        """Start ``spec``; never raises for a command that cannot start (see ``error``)."""
        if spec.argv is not None:
            argv = [str(arg) for arg in spec.argv]
        else:
            argv = ["bash", "-euo", "pipefail", "-c", spec.script or ""]
        self._counter += 1
        marker = f"{self._prefix}.{self._counter}"
        env = dict(os.environ)
        env.update(self._env)
        env.update({str(key): str(value) for key, value in spec.env.items()})
        env[MARKER_VAR] = marker
        execution = LocalExecution(
            spec.display(),
            timeout=spec.timeout,
            kill_grace=self._kill_grace,
            eof_grace=self._eof_grace,
            unread_grace=self._unread_grace,
            marker=marker,
        )
        cwd = spec.cwd
        if cwd is not None and not os.path.isdir(cwd):
            return execution._fail(127, f"working directory not found: {cwd}")
        loop = asyncio.get_running_loop()
        try:  # what create_subprocess_exec does, with a protocol that reports the exit
            transport, protocol = await loop.subprocess_exec(
                lambda: _ExitAwareProtocol(_CHUNK, loop),
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return execution._fail(*_start_error(exc, argv[0], cwd))
        proc = asyncio.subprocess.Process(transport, protocol, loop)
        return execution._begin(proc, transport, protocol.exited)


def _start_error(exc: OSError, program: str, cwd: str | None) -> tuple[int, str]:
    """Exit code and message for a command that could not start."""
    if cwd is not None and exc.filename == cwd and exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return 127, f"working directory not found: {cwd}"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return 127, f"command not found: {program}"
    if exc.errno == errno.EACCES:
        return 126, f"permission denied: {program}"
    if exc.errno == errno.ENOEXEC:
        return 126, f"cannot execute (exec format error): {program}"
    return 126, f"cannot start {program}: {exc.strerror or exc}"


def failed_execution(display: str, error: str, exit_code: int | None = None) -> LocalExecution:
    """An execution that never started: no output, ``error`` set, ``exit_code``."""
    return LocalExecution(display)._fail(exit_code, error)
