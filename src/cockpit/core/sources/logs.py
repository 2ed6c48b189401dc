"""Log followers: a file (rotation, truncation, partial lines) or a command's output.

Followers yield *batches* of lines; ``merge_sources`` tags batches from several
followers with their source name and a level, and bounds the backlog when the
consumer is slow (the oldest lines are dropped and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from cockpit.core.backends.base import (
    Backend,
    CommandResult,
    CommandSpec,
    Execution,
)
from cockpit.core.config.models import (
    CommandLogSource,
    EventsLogSource,
    FileLogSource,
    TargetLogSource,
)
from cockpit.core.errors import CockpitError
from cockpit.core.follow import NOTICE_PREFIX, FileFollower, Notice, _pause

__all__ = [
    "NOTICE_PREFIX",
    "CommandFollower",
    "FileFollower",
    "Follower",
    "LogBatch",
    "LogLine",
    "Notice",
    "detect_level",
    "make_follower",
]

if TYPE_CHECKING:
    from cockpit.core.sources.event_logs import EventFollower
    from cockpit.core.sources.target_logs import TargetFollower

#: "cockpit": a notice of the cockpit itself (a source ended, lines dropped), not a log line
Level = Literal["error", "warn", "info", "debug", "cockpit", ""]



class Follower(Protocol):
    """Anything that yields batches of lines and can be stopped."""

    def batches(self) -> AsyncIterator[list[str]]: ...

    async def close(self) -> None: ...


# --- command follower --------------------------------------------------------------------


class CommandFollower:
    """Follow a command's output through a backend; restart it with backoff if asked."""

    def __init__(
        self,
        source: CommandLogSource,
        backend: Backend,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 10.0,
        max_buffer: int = 50_000,
        batch_max: int = 5000,
    ) -> None:
        self.source = source
        self.backend = backend
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after  #: a run this long resets the backoff
        self.max_buffer = max_buffer
        self.batch_max = batch_max
        self.restarts = 0
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._execution: Execution | None = None

    def _spec(self) -> CommandSpec:
        run = self.source.run
        return CommandSpec(argv=list(run) if run else None, script=self.source.script)

    async def close(self) -> None:
        """Stop following and kill the running command."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        execution, self._execution = self._execution, None
        if execution is not None:
            with contextlib.suppress(Exception):
                await execution.cancel()

    async def _pump(self, execution: Execution) -> AsyncIterator[list[str]]:
        buf: list[str] = []
        ready = asyncio.Event()
        done = False
        dropped = 0
        error = ""

        async def reader() -> None:
            nonlocal done, dropped, error
            try:
                async for line in execution.lines():
                    buf.append(line.text)
                    if len(buf) > self.max_buffer:
                        excess = len(buf) - self.max_buffer
                        del buf[:excess]
                        dropped += excess
                    ready.set()
            except Exception as exc:  # reported as a line
                error = str(exc) or type(exc).__name__
            finally:
                done = True
                ready.set()

        task = asyncio.create_task(reader())
        try:
            while True:
                await ready.wait()
                ready.clear()
                if dropped:
                    lost, dropped = dropped, 0
                    yield [Notice(f"{NOTICE_PREFIX}dropped {lost} lines (reader too slow)")]
                if buf:
                    batch = buf.copy()
                    buf.clear()
                    for i in range(0, len(batch), self.batch_max):
                        yield batch[i : i + self.batch_max]
                if done and not buf:
                    break
            if error:
                yield [Notice(f"{NOTICE_PREFIX}output failed: {error}")]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @staticmethod
    def _describe_end(result: CommandResult) -> str:
        if result.error:
            return f"failed: {result.error}"
        if result.timed_out:
            return "timed out"
        if result.cancelled:
            return "was cancelled"
        return f"exited with {result.exit_code}"

    async def batches(self) -> AsyncIterator[list[str]]:
        """Lines of the command's output in batches, and a notice when it ends."""
        if self._wake is None:
            self._wake = asyncio.Event()
        delay = self.backoff_initial
        try:
            while not self._closed:
                started = time.monotonic()
                try:
                    execution = await self.backend.start(self._spec())
                except Exception as exc:  # reported as a line
                    how = f"failed to start: {exc or type(exc).__name__}"
                else:
                    self._execution = execution
                    async for batch in self._pump(execution):
                        yield batch
                    try:
                        how = self._describe_end(await execution.wait())
                    except Exception as exc:
                        how = f"failed: {exc}"
                    self._execution = None
                if self._closed:
                    return
                if time.monotonic() - started >= self.stable_after:
                    delay = self.backoff_initial
                if not self.source.restart:
                    yield [Notice(f"{NOTICE_PREFIX}command {how}")]
                    return
                yield [Notice(f"{NOTICE_PREFIX}command {how}; restarting in {delay:g}s")]
                await _pause(self._wake, delay)
                delay = min(delay * 2, self.backoff_max)
                self.restarts += 1
        finally:
            execution, self._execution = self._execution, None
            if execution is not None:
                with contextlib.suppress(Exception):
                    await execution.cancel()


def make_follower(
    source: FileLogSource | CommandLogSource | TargetLogSource | EventsLogSource,
    backend: Backend | None,
) -> FileFollower | CommandFollower | TargetFollower | EventFollower:
    """The follower for a profile's log source."""
    if isinstance(source, FileLogSource):
        return FileFollower(os.path.expanduser(source.path), backlog=source.backlog)
    if backend is None:
        raise CockpitError(f"log source {source.name!r} needs the profile's backend")
    if isinstance(source, CommandLogSource):
        return CommandFollower(source, backend)
    if isinstance(source, EventsLogSource):
        from cockpit.core.sources.event_logs import EventFollower

        return EventFollower(source, backend)
    from cockpit.core.sources.target_logs import TargetFollower

    return TargetFollower(source, backend)


# --- levels and merging ------------------------------------------------------------------


@dataclass(slots=True)
class LogLine:
    """One line of one log source."""

    source: str
    text: str
    ts: float  #: ``time.time()`` when the batch arrived
    level: Level = ""


@dataclass(slots=True)
class LogBatch:
    """Lines from every source since the last batch; ``dropped`` lines were lost."""

    lines: list[LogLine]
    dropped: int = 0


_WORD_LEVELS: dict[str, Level] = {
    "fatal": "error", "critical": "error", "crit": "error", "error": "error", "err": "error",
    "panic": "error", "emerg": "error", "emergency": "error", "severe": "error",
    "traceback": "error",
    "warning": "warn", "warn": "warn",
    "info": "info", "notice": "info",
    "debug": "debug", "trace": "debug",
}
_WORD_RE = re.compile(
    r"\b(fatal|critical|crit|error|err|panic|emerg|emergency|severe|traceback|"
    r"warning|warn|info|notice|debug)\b",
    re.IGNORECASE,
)
_JSON_RE = re.compile(
    r'"(?:level|severity|lvl|loglevel|log\.level|levelname)"\s*:\s*(?:"([A-Za-z]+)"|(\d+))',
    re.IGNORECASE,
)
_KLOG_RE = re.compile(r"([EWIF])\d{4} ")
_KLOG: dict[str, Level] = {"E": "error", "F": "error", "W": "warn", "I": "info"}


def _numeric_level(number: int) -> Level:
    if number < 10:  # syslog severities 0..7
        return "error" if number <= 3 else "warn" if number == 4 else (
            "info" if number <= 6 else "debug")
    return "error" if number >= 50 else "warn" if number >= 40 else (
        "info" if number >= 30 else "debug")


def _is_notice(text: str) -> bool:
    return isinstance(text, Notice) or bool(getattr(text, "notice", False))


def detect_level(text: str) -> Level:
    """Guess a line's level: JSON ``level``/``severity``, klog ``E0101``, or a level word."""
    head = text[:200]
    stripped = head.lstrip()
    if stripped.startswith("{"):
        match = _JSON_RE.search(text, 0, 4000)
        if match:
            if match.group(2) is not None:
                return _numeric_level(int(match.group(2)))
            return _WORD_LEVELS.get(match.group(1).lower(), "")
    klog = _KLOG_RE.match(stripped)
    if klog:
        return _KLOG[klog.group(1)]
    match = _WORD_RE.search(head)
    if match:
        return _WORD_LEVELS[match.group(1).lower()]
    return ""


async def merge_sources(
    followers: Mapping[str, Follower] | Iterable[tuple[str, Follower]],
    *,
    max_pending: int = 10_000,
) -> AsyncIterator[LogBatch]:
    """Merge followers (name -> follower) into batches of tagged, levelled lines.

    At most ``max_pending`` lines wait for the consumer; beyond that the oldest are
    dropped and counted in the next batch's ``dropped``. Ends when every follower has
    ended; closes the followers when the iteration stops.
    """
    items = list(followers.items()) if isinstance(followers, Mapping) else list(followers)
    limit = max(1, max_pending)
    buf: deque[LogLine] = deque(maxlen=limit)
    ready = asyncio.Event()
    counters = {"dropped": 0, "active": len(items)}

    def push(lines: list[LogLine]) -> None:
        overflow = len(buf) + len(lines) - limit
        if overflow > 0:
            counters["dropped"] += overflow
        buf.extend(lines)
        ready.set()

    async def pump(name: str, follower: Follower) -> None:
        try:
            async for batch in follower.batches():
                ts = time.time()
                keep = batch[-limit:] if len(batch) > limit else batch
                counters["dropped"] += len(batch) - len(keep)
                if keep and type(keep[0]) is not str:
                    # A target follower tags each line with its target (TaggedLine.source);
                    # the cockpit's own notices are typed (``Notice``), never guessed from
                    # the text, so a watched system cannot print one.
                    push([LogLine(getattr(text, "source", name), str(text), ts,
                                  "cockpit" if _is_notice(text)
                                  else getattr(text, "level", "") or detect_level(text))
                          for text in keep])
                else:
                    push([LogLine(name, text, ts, detect_level(text)) for text in keep])
                await asyncio.sleep(0)
        except Exception as exc:  # a failing source becomes a line
            push([LogLine(name, f"{NOTICE_PREFIX}source failed: {exc}", time.time(), "cockpit")])
        finally:
            counters["active"] -= 1
            ready.set()

    tasks = [asyncio.create_task(pump(name, f)) for name, f in items]
    try:
        while True:
            if not buf and not counters["dropped"]:
                if counters["active"] <= 0:
                    return
                await ready.wait()
                ready.clear()
                continue
            lines = list(buf)
            buf.clear()
            dropped, counters["dropped"] = counters["dropped"], 0
            yield LogBatch(lines, dropped)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _name, follower in items:
            with contextlib.suppress(Exception):
                await follower.close()
