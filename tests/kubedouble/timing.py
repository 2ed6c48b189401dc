"""Waiting on the double's loop without sleeping: a timer future, or an event with a deadline."""

from __future__ import annotations

import asyncio
import datetime


async def pause(seconds: float) -> None:
    """Wait ``seconds`` on the running loop (a timer, cancellable)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    handle = loop.call_later(seconds, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        handle.cancel()


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


def rfc3339nano(when: datetime.datetime) -> str:
    """Go's RFC3339Nano as the kubelet writes log timestamps (trailing zeros trimmed)."""
    when = when.astimezone(datetime.UTC)
    frac = f"{when.microsecond:06d}000".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime:
    """Parse an RFC3339 time (with or without fractions, Z or offset)."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    return datetime.datetime.fromisoformat(text)
