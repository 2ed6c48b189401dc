"""Items made by a blocking function in a thread, consumed with ``async for`` in the loop.

The Docker SDK is synchronous (one HTTP stream per exec, log or stats follower), so each
stream is read in a daemon thread that hands batches to the event loop through a
``ThreadFeed``. The producer blocks while ``limit`` items wait (back-pressure) and stops
once the consumer closes the feed; closing also runs the ``on_close`` callbacks (which
close the HTTP stream, so a thread blocked in a read wakes up).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ThreadFeed(Generic[T]):
    """A bounded hand-over of items from one producer thread to one async consumer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = 20_000) -> None:
        self._loop = loop
        self._limit = max(1, limit)
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._ready = asyncio.Event()
        self._closed = False
        self._finished = False
        self._error: BaseException | None = None
        self._on_close: list[Callable[[], object]] = []

    # -- producer side (any thread) ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (from the closing thread) when the consumer closes the feed;
        at once if it is already closed."""
        with self._cond:
            if not self._closed:
                self._on_close.append(callback)
                return
        with contextlib.suppress(Exception):
            callback()

    def put(self, items: list[T]) -> bool:
        """Hand over ``items``; blocks while the consumer is behind. False once closed."""
        if not items:
            return not self._closed
        with self._cond:
            while len(self._items) >= self._limit and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return False
            self._items.extend(items)
        self._wake()
        return True

    def finish(self, error: BaseException | None = None) -> None:
        """The producer is done (``error``: it failed; raised to the consumer at the end)."""
        with self._cond:
            self._finished = True
            self._error = error
        self._wake()

    def run(self, produce: Callable[[ThreadFeed[T]], None], name: str) -> threading.Thread:
        """Start ``produce(feed)`` in a daemon thread; the feed finishes when it returns."""

        def main() -> None:
            try:
                produce(self)
            except BaseException as exc:
                self.finish(None if self._closed else exc)
            else:
                self.finish()

        thread = threading.Thread(target=main, name=name, daemon=True)
        thread.start()
        return thread

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(self._ready.set)

    # -- consumer side (the loop) ------------------------------------------------------------

    async def batches(self) -> AsyncIterator[list[T]]:
        """Every item in arrival order, in batches; ends when the producer finished."""
        while True:
            with self._cond:
                batch = list(self._items)
                self._items.clear()
                finished, error = self._finished, self._error
                self._cond.notify_all()
            if batch:
                yield batch
                continue
            if finished:
                if error is not None:
                    raise error
                return
            if self._closed:
                return
            await self._ready.wait()
            self._ready.clear()

    def close(self) -> None:
        """Stop: the producer's next ``put`` returns False; ``on_close`` callbacks run."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._items.clear()
            callbacks, self._on_close = self._on_close, []
            self._cond.notify_all()
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()
        self._ready.set()
