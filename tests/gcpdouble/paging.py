"""Page tokens: opaque to clients, an offset inside."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TypeVar

from tests.gcpdouble.errors import invalid

T = TypeVar("T")


def page(items: Sequence[T], token: str | None, size: str | int | None, default: int = 100,
         maximum: int = 1000) -> tuple[list[T], str | None]:
    """The page of ``items`` a ``pageToken``/``pageSize`` pair asks for, and the next token."""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
        except (ValueError, UnicodeDecodeError):
            raise invalid(f"Invalid page token: {token!r}") from None
    try:
        count = int(size) if size not in (None, "", 0, "0") else default
    except ValueError:
        raise invalid(f"Invalid pageSize: {size!r}") from None
    if count < 0:
        raise invalid(f"pageSize must be positive, not {count}")
    count = min(count, maximum)
    chunk = list(items[start:start + count])
    end = start + len(chunk)
    nxt = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else None
    return chunk, nxt
