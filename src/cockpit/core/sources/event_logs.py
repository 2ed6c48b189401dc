"""Follow a namespace's events as a log source (``kind: events``) through the backend's
``event_logs`` (generic: no backend is imported here). Warnings are levelled ``warn``;
a stream that fails is a notice and is opened again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from cockpit.core.backends.base import Backend, Capability, LogNotice, LogRecord
from cockpit.core.config.models import EventsLogSource
from cockpit.core.errors import CockpitError
from cockpit.core.sources.target_logs import NOTICE_PREFIX, TaggedLine, tag


class LevelledLine(TaggedLine):
    """A tagged line whose level the backend gave (not guessed from the text)."""

    __slots__ = ("level",)
    level: str

    def __new__(cls, text: str, source: str, level: str = "") -> LevelledLine:
        line = super().__new__(cls, text, source)
        line.level = level
        return line


_LEVELS = {"error": "error", "warn": "warn", "info": "info", "debug": "debug"}


class EventFollower:
    """The events of ``source.namespace`` (or the backend's), as tagged lines."""

    def __init__(self, source: EventsLogSource, backend: Backend, *,
                 retry: float = 1.0, retry_max: float = 30.0, batch_max: int = 5000) -> None:
        if not backend.capabilities & Capability.EVENT_LOG:
            raise CockpitError(f"log source {source.name!r}: kind 'events' is not supported "
                               f"by the {backend.kind} backend")
        self.source = source
        self.backend = backend
        self.retry, self.retry_max = retry, retry_max
        self.batch_max = batch_max
        self._closed = False
        self._wake = asyncio.Event()

    async def batches(self) -> AsyncIterator[list[str]]:
        pause = self.retry
        backlog = self.source.backlog
        name = self.source.name
        while not self._closed:
            try:
                await self.backend.ensure_connected()
                stream = self.backend.event_logs(self.source.namespace, backlog=backlog)
                async with contextlib.aclosing(stream):  # type: ignore[type-var]
                    async for batch in stream:
                        lines: list[str] = []
                        for item in batch:
                            if isinstance(item, LogRecord):
                                lines.append(LevelledLine(item.text, tag(item.source or name),
                                                          _LEVELS.get(item.severity, "")))
                            elif isinstance(item, LogNotice):
                                lines.append(TaggedLine(NOTICE_PREFIX + item.text, name, True))
                        for start in range(0, len(lines), self.batch_max):
                            yield lines[start:start + self.batch_max]
                        pause = self.retry
                        backlog = 0  # after a failure: only what comes next
                if self._closed:
                    return
                problem = "event stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = f"event stream failed: {exc}"
            yield [TaggedLine(f"{NOTICE_PREFIX}{problem}; again in {pause:g}s", name, True)]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            pause = min(pause * 2, self.retry_max)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
