"""RFC3339 times as Google's JSON APIs write them (nanoseconds, ``Z``) and parse them back."""

from __future__ import annotations

import datetime


def rfc3339(epoch: float, nanos: bool = True) -> str:
    """``2026-12-05T04:28:56.123456789Z`` (nanos from the float's microseconds) or whole seconds."""
    when = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    if not nanos:
        return base + "Z"
    ns = round((epoch - int(epoch)) * 1e9)
    ns = min(ns, 999_999_999)
    return f"{base}.{ns:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC3339 time (any fraction length, ``Z`` or an offset)."""
    text = text.strip().strip('"')
    frac = 0.0
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        frac = float("0." + digits) if digits else 0.0
        text = head + rest
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    when = datetime.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp() + frac


def parse_duration(text: str) -> float:
    """``"60s"`` / ``"1.5s"`` (protobuf Duration JSON) to seconds."""
    text = text.strip()
    if not text.endswith("s"):
        raise ValueError(f"bad duration {text!r}")
    return float(text[:-1])
