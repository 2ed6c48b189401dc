"""Follow one container's logs (``docker logs -f --timestamps``) as ``OutputLine``s.

The engine prefixes every log entry with its RFC 3339 timestamp; it becomes the line's
``ts`` (so a follower can attach again ``since`` the last line it saw without repeating
lines). Without a TTY the engine sends one frame per entry, and an entry longer than
16 KiB comes as several frames (each with its own timestamp) that are joined again. With
a TTY the stream is raw text whose lines each start with a timestamp. The stream ends
when the container stops or is removed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from cockpit.core.backends.base import OutputLine, Target
from cockpit.core.backends.docker.engine import (
    Engine,
    EngineError,
    describe_error,
    is_not_found,
)
from cockpit.core.backends.docker.targets import parse_time
from cockpit.core.backends.feed import ThreadFeed
from cockpit.core.backends.lines import LineSplitter

_STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?")


def _split_stamp(data: bytes) -> tuple[float | None, bytes]:
    match = _STAMP.match(data)
    if match is None:
        return None, data
    return parse_time(match.group(1).decode("ascii")), data[match.end():]


class _Lines:
    """Turns the log stream's chunks into ``(ts, text, truncated)``."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self._splitter = LineSplitter()
        self._ts: float | None = None  # timestamp of the line being assembled

    def feed(self, chunk: bytes) -> list[tuple[float, str, bool]]:
        now = time.time()
        out: list[tuple[float, str, bool]] = []
        if self.tty:
            for text, cut in self._splitter.feed(chunk):
                ts, rest = _split_stamp(text.encode("utf-8", "surrogateescape"))
                out.append((ts or now, rest.decode("utf-8", "replace").rstrip("\r"), cut))
            return out
        ts, payload = _split_stamp(chunk)
        if self._ts is None:
            self._ts = ts or now
        for text, cut in self._splitter.feed(payload):
            out.append((self._ts, text, cut))
            self._ts = ts or now  # a frame's later lines carry its own stamp
        if payload.endswith(b"\n"):
            self._ts = None
        return out

    def flush(self) -> list[tuple[float, str, bool]]:
        ts = self._ts or time.time()
        return [(ts, text.rstrip("\r"), cut) for text, cut in self._splitter.flush()]


async def follow_logs(
    engine: Engine,
    target: Target,
    *,
    tail: int | str = 100,
    since: float | None = None,
    follow: bool = True,
) -> AsyncIterator[OutputLine]:
    """Lines of ``target``'s logs; ends when its log stream ends (it stopped, or went)."""
    loop = asyncio.get_running_loop()
    feed: ThreadFeed[OutputLine] = ThreadFeed(loop, limit=20_000)
    name = target.name
    lines = _Lines(bool(target.details.get("tty")))

    def produce(feed: ThreadFeed[OutputLine]) -> None:
        client = engine.client()
        kwargs: dict[str, Any] = {"stream": True, "follow": follow, "timestamps": True,
                                  "tail": tail}
        if since is not None and since > 0:
            kwargs["since"] = float(since)
        try:
            stream = client.logs(target.id or name, **kwargs)
        except Exception as exc:
            raise EngineError(f"logs of {name}: {describe_error(exc, engine.host)}") from None
        feed.on_close(stream.close)
        try:
            for chunk in stream:
                got = lines.feed(chunk)
                if got and not feed.put([OutputLine("log", t, ts, c, name) for ts, t, c in got]):
                    return
        except Exception as exc:
            if feed.closed:
                return
            message = describe_error(exc, engine.host)
            if "connection was lost" in message or "unreachable" in message:
                raise EngineError(message) from None
            # the engine closed the stream as the container went away: a normal end
        feed.put([OutputLine("log", t, ts, c, name) for ts, t, c in lines.flush()])
        if follow and not feed.closed:
            _check_end(client)

    def _check_end(client: Any) -> None:
        """A followed stream ends when the container stops; if it still runs the same
        run, the connection was cut (the engine went away): that is an error."""
        try:
            info = client.inspect_container(target.id or name)
        except Exception as exc:
            if is_not_found(exc):
                return  # removed
            raise EngineError(describe_error(exc, engine.host)) from None
        state = info.get("State") or {}
        if state.get("Running") and parse_time(state.get("StartedAt")) == target.details.get(
            "started_at"
        ):
            raise EngineError(f"the log stream of {name} was cut")

    feed.run(produce, name=f"cockpit-docker-logs-{name}")
    try:
        async for batch in feed.batches():
            for line in batch:
                yield line
    finally:
        feed.close()
