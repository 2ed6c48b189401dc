"""Fetch an exposition page with a cap on its size.

The body is streamed and reading stops as soon as it passes the cap (or as soon as the
``Content-Length`` says it will): a 50 MB page costs at most the cap in memory and in
time, and the metric reports ``body over 4 MB cap``.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class BodyTooLarge(Exception):
    """The page is longer than the cap; ``str()`` is the metric's error."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"body over {format_size(cap)} cap")
        self.cap = cap


def format_size(size: int) -> str:
    """``4000000`` -> ``4 MB``, ``1536`` -> ``1.5 kB`` (decimal units, 3 digits)."""
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


async def fetch_capped(client: httpx.AsyncClient, url: str, *, cap: int, timeout: float,
                       headers: Mapping[str, str] | None = None) -> tuple[int, list[bytes]]:
    """``(status, chunks)`` of a GET; the chunks hold at most ``cap`` bytes in all.

    Raises ``BodyTooLarge`` once the body passes ``cap`` (the connection is then closed
    without reading the rest). A status other than 200 returns no chunks, unread.
    """
    async with client.stream("GET", url, timeout=timeout, headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, []
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise BodyTooLarge(cap)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise BodyTooLarge(cap)
            chunks.append(chunk)
        return response.status_code, chunks
