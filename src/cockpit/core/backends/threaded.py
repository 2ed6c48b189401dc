"""An ``Execution`` whose lines are made by a thread (operations and exec streams of the
docker and kubernetes backends).

``ThreadExecution(display)``: a subclass starts its producer with
``self._feed.run(produce, name=...)``; the producer says lines with ``_say(text,
stream)`` (counted and hashed like any output), counts raw bytes with ``_count``, and
ends with ``_finish(exit_code, error=None)``. ``failed(display, error)`` is an
execution that could not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Literal

from cockpit.core.backends.base import CommandResult, Execution, OutputLine
from cockpit.core.backends.feed import ThreadFeed

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ThreadExecution(Execution):
    """Output lines made by a thread; the result is set by ``_finish``."""

    def __init__(self, display: str) -> None:
        self.display = display
        self._loop = asyncio.get_running_loop()
        self._feed: ThreadFeed[OutputLine] = ThreadFeed(self._loop, limit=20_000)
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._t0 = time.monotonic()
        self._done = asyncio.Event()
        self._result: CommandResult | None = None
        self._lines_taken = False
        self._cancelled = False
        self._timed_out = False

    def _count(self, data: bytes) -> None:
        self._hash.update(data)
        self._bytes += len(data)

    def _say(self, text: str, stream: Literal["stdout", "stderr"] = "stdout") -> None:
        """A line of our own, counted in the output like any line."""
        self._count(text.encode() + b"\n")
        self._feed.put([OutputLine(stream, text, time.time())])

    def _finish(self, exit_code: int | None, error: str | None = None) -> None:
        result = CommandResult(
            exit_code=exit_code, duration=time.monotonic() - self._t0,
            timed_out=self._timed_out, cancelled=self._cancelled,
            output_sha256=self._hash.hexdigest() if self._bytes else _EMPTY_SHA256,
            output_bytes=self._bytes, error=error)

        def done() -> None:
            if self._result is None:
                self._result = result
                self._done.set()

        self._feed.finish()
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(done)

    def lines(self) -> AsyncIterator[OutputLine]:
        if self._lines_taken:
            raise RuntimeError("lines() can be iterated only once per execution")
        self._lines_taken = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[OutputLine]:
        try:
            async for batch in self._feed.batches():
                for line in batch:
                    yield line
        finally:
            if not self._feed.closed and not self._done.is_set():
                self._feed.close()

    async def wait(self) -> CommandResult:
        if not self._lines_taken:
            self._feed.close()  # nobody reads the lines: do not hold the command back
        await self._done.wait()
        assert self._result is not None
        return self._result

    async def cancel(self) -> None:
        """Operations end on their own; a subclass that can stop earlier overrides it."""
        self._cancelled = True


def failed(display: str, error: str, exit_code: int | None = None) -> ThreadExecution:
    """An execution that could not start (the result says why)."""
    execution = ThreadExecution(display)
    execution._finish(exit_code, error)
    return execution


class KillableExecution(ThreadExecution):
    """A thread-made execution that a timeout or ``cancel()`` really stops:
    ``_kill_blocking`` (a subclass's, run once in a thread) kills the command and what
    it started; ``kill_settle`` seconds are then given to the output to end."""

    kill_settle: float = 0.0

    def __init__(self, display: str, timeout: float | None = None) -> None:
        super().__init__(display)
        self._kill_task: asyncio.Task[None] | None = None
        self._watchdog = (self._loop.create_task(self._expire(timeout))
                          if timeout is not None else None)

    def _kill_blocking(self) -> None:
        raise NotImplementedError

    async def _expire(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._done.wait()
                return
        if not self._done.is_set():
            self._timed_out = True
            await self._kill()

    async def cancel(self) -> None:
        """Kill the command and what it started (idempotent); ``wait()`` then reports
        cancelled."""
        if self._done.is_set():
            return
        if not self._timed_out:
            self._cancelled = True
        await self._kill()

    async def _kill(self) -> None:
        if self._kill_task is None:
            self._kill_task = self._loop.create_task(asyncio.to_thread(self._kill_blocking))
        await asyncio.shield(self._kill_task)
        if self.kill_settle:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.kill_settle):
                    await self._done.wait()
