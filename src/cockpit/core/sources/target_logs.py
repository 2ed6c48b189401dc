"""Follow the logs of a backend's targets (containers): merged, each line tagged with its
container, and targets picked up again when they come back.

``TargetFollower.batches()`` yields lists of ``TaggedLine`` (a ``str`` with a ``source``,
the target's name, which ``merge_sources`` uses as the line's source). Every running
target (of ``source.targets``, or all) is followed from ``backlog`` lines of its past
(or what it logged in the last ``since``). A target whose stream ends (it stopped or was
removed) gets a notice; when it runs again it is followed again from just after the last
line seen, so a restart loses and repeats nothing. The list of targets comes from the
backend (the docker backend keeps it current from the engine's events, so asking is
cheap); an unreachable engine is a notice, and following resumes when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from cockpit.core.backends.base import Backend, Capability, LogNotice, LogQuery, Target
from cockpit.core.boundary import bound, show_controls
from cockpit.core.config.models import TargetLogSource
from cockpit.core.errors import CockpitError

NOTICE_PREFIX = "[cockpit] "


def tag(name: str) -> str:
    """A target's name as a line's tag: it comes from the engine, so escapes are made
    visible and it is bounded (the lines themselves pass the boundary in the pane)."""
    return bound(show_controls(name), 120)


def _clock(ts: float) -> str:
    """``05:40:01.123Z``: a logged time (UTC) in front of a line that has none."""
    moment = time.gmtime(ts)
    return f"{time.strftime('%H:%M:%S', moment)}.{int(ts * 1000) % 1000:03d}Z"


class TaggedLine(str):
    """A line of one target's logs; ``source`` names the target."""

    __slots__ = ("level", "notice", "source")
    source: str
    notice: bool  #: a notice of the cockpit (the stream ended, lines dropped), typed
    level: str  #: the severity the backend gave (Cloud Logging); "": guessed from the text

    def __new__(cls, text: str, source: str, notice: bool = False,
                level: str = "") -> TaggedLine:
        line = super().__new__(cls, text)
        line.source = source
        line.notice = notice
        line.level = level
        return line


class TargetFollower:
    """Follow every selected target's logs through the backend's ``stream_logs``."""

    def __init__(
        self,
        source: TargetLogSource,
        backend: Backend,
        *,
        poll_interval: float = 0.25,
        max_buffer: int = 50_000,
        batch_max: int = 5000,
    ) -> None:
        needed = Capability.TARGETS | Capability.LOGS | Capability.LOGS_SINCE
        if backend.capabilities & needed != needed:
            raise CockpitError(
                f"log source {source.name!r}: kind 'target' is not supported by the "
                f"{backend.kind} backend (use a file or command source)"
            )
        self.source = source
        self.backend = backend
        self.poll_interval = poll_interval
        self.max_buffer = max_buffer
        self.batch_max = batch_max
        self._buf: list[TaggedLine] = []
        self._ready: asyncio.Event | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last_ts: dict[str, float] = {}  #: target name -> time of its last line
        #: target name -> (the run whose stream ended, or None if it failed; when)
        self._ended: dict[str, tuple[tuple[str, object] | None, float]] = {}
        self._announced: set[str] = set()  #: missing targets already reported
        self._closed = False

    def _wanted(self, target: Target, targets: list[Target] | None = None) -> bool:
        """Named by the source (every target when it names none); a child target (a
        pod) is left to its parent's stream when the parent is followed too (a
        workload's logs cover its pods, those that come later included)."""
        names = self.source.targets
        if names and not any(target.answers_to(name) for name in names):
            return False
        if target.parent is None or targets is None:
            return True
        parent = next((t for t in targets if t.id == target.parent), None)
        return parent is None or not self.backend.logs_streamable(parent) \
            or not self._wanted(parent)

    def _push(self, lines: list[TaggedLine]) -> None:
        self._buf.extend(lines)
        excess = len(self._buf) - self.max_buffer
        if excess > 0:
            del self._buf[:excess]
            self._buf.append(TaggedLine(f"{NOTICE_PREFIX}dropped {excess} lines "
                                        "(reader too slow)", self.source.name, True))
        if self._ready is not None:
            self._ready.set()

    def _notice(self, text: str, source: str | None = None) -> None:
        self._push([TaggedLine(NOTICE_PREFIX + text, source or self.source.name, True)])

    @staticmethod
    def _key(target: Target) -> str:
        """What a followed target is known by: its name within its scope (a Compose
        project, a namespace, a region: the same service name in two regions is two
        targets), stable when the target is re-created."""
        return f"{target.scope}/{target.name}" if target.scope else target.name

    @staticmethod
    def _run_key(target: Target) -> tuple[str, object]:
        """Which run of a target this is: a restart or re-creation changes it."""
        return target.id, target.started_at

    async def _follow(self, target: Target) -> None:
        name = target.name
        key = self._key(target)
        shown = tag(name)
        kwargs: dict[str, Any] = {"tail": self.source.backlog, "follow": True}
        if key in self._last_ts:  # seen before: everything after the last line seen
            kwargs.update(tail=-1, since=self._last_ts[key])
        elif key in self._ended:
            kwargs.update(tail=-1, since=self._ended[key][1] - 1.0)
        elif self.source.since is not None:
            kwargs.update(tail=-1, since=time.time() - self.source.since)
        query = LogQuery(targets=(target.id or name,), **kwargs)
        if key in self._ended:
            self._notice(f"{target.state} again: following its logs", shown)
        last = self._last_ts.get(key) if "since" in kwargs else None
        # lines whose text has no time (Cloud Logging's) show the time they were logged
        timed = self.backend.log_text_has_time
        failed = False
        try:
            stream = self.backend.logs(query)
            ending = f"log stream ended (the {self.backend.target_noun} stopped or was removed)"
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for batch in stream:
                    lines = []
                    for item in batch:
                        if isinstance(item, LogNotice):
                            if item.kind == "unreachable":
                                raise CockpitError(item.text)
                            if item.kind != "ended":
                                self._notice(item.text, shown)
                            continue
                        if last is not None and item.ts <= last:
                            continue  # the engine's since is inclusive
                        self._last_ts[key] = max(item.ts, self._last_ts.get(key, 0.0))
                        # a target of several streams (a workload's pods and containers)
                        # tags each line with its own (``pod/container``)
                        own = item.source and item.source not in query.targets \
                            and item.source != name
                        text = item.text if timed else f"{_clock(item.ts)} {item.text}"
                        lines.append(TaggedLine(text, tag(item.source) if own else shown,
                                                level=item.severity))
                    if lines:
                        self._push(lines)
                    await asyncio.sleep(0)  # let the consumer and other targets run
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed = True
            ending = f"log stream failed: {exc}"
        # A failed stream is retried on the same run; an ended one waits for the next run.
        self._ended[key] = (None if failed else self._run_key(target), time.time())
        if not self._closed:
            self._notice(f"{ending}; following it again when it runs", shown)

    async def batches(self) -> AsyncIterator[list[str]]:
        """Lines of every followed target in batches (``TaggedLine``), plus notices."""
        self._ready = asyncio.Event()
        problem: str | None = None
        try:
            while not self._closed:
                try:
                    await self.backend.ensure_connected()
                    targets = await self.backend.list_targets()
                except CockpitError as exc:
                    if str(exc) != problem:
                        problem = str(exc)
                        self._notice(f"{problem}; retrying")
                    targets = None
                except Exception as exc:  # keep following what we follow
                    self._notice(f"cannot list targets: {exc}")
                    targets = None
                if targets is not None:
                    if problem is not None:
                        problem = None
                        self._notice("the engine answers again")
                    self._attach(targets)
                if self._buf:
                    batch, self._buf = self._buf[: self.batch_max], self._buf[self.batch_max:]
                    yield list(batch)
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._ready.wait()
                self._ready.clear()
        finally:
            await self._stop_tasks()

    def _attach(self, targets: list[Target]) -> None:
        for name, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[name]
        for target in targets:
            if not self._wanted(target, targets):
                continue
            if target.state == "missing":
                if target.name not in self._announced:
                    self._announced.add(target.name)
                    self._notice(f"no such {self.backend.target_noun}: {target.name}",
                                 tag(target.name))
                continue
            self._announced.discard(target.name)
            key = self._key(target)
            ended = self._ended.get(key)
            if ended is not None and (
                ended[0] == self._run_key(target)  # the run we followed to its end
                or (ended[0] is None and time.time() - ended[1] < 1.0)  # failed: retry soon
            ):
                continue
            if self.backend.logs_streamable(target) and key not in self._tasks:
                self._tasks[key] = asyncio.get_running_loop().create_task(
                    self._follow(target)
                )
        if self.source.targets:
            present = {name for t in targets for name in (t.name, *t.aliases)}
            for name in self.source.targets:
                if name not in present and name not in self._announced:
                    self._announced.add(name)
                    self._notice(f"no such {self.backend.target_noun}: {name}", tag(name))

    async def _stop_tasks(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def restart(self) -> None:
        """Follow the backend's targets afresh (its context or namespace was switched):
        every stream stops, and the next listing decides what is followed, with its
        backlog."""
        await self._stop_tasks()
        self._ended.clear()
        self._announced.clear()
        self._last_ts.clear()
        if self._ready is not None:
            self._ready.set()

    async def close(self) -> None:
        """Stop following every target."""
        self._closed = True
        if self._ready is not None:
            self._ready.set()
        await self._stop_tasks()
