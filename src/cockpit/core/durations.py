"""Parse human durations such as ``250ms``, ``5s``, ``2m``, ``1h``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Return seconds for a duration string or a bare number of seconds.

    Raises ``ValueError`` with a readable message for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: use e.g. 250ms, 5s, 2m, 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _FACTORS[match.group(2)]
    raise ValueError(f"invalid duration {value!r}: use e.g. 250ms, 5s, 2m, 1h")


def format_duration(seconds: float) -> str:
    """Short human form: ``850ms``, ``4.2s``, ``3m05s``, ``2h01m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}m{secs:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"
