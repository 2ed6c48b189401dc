"""Fetch an exposition page with a cap on its size.

The body is streamed and reading stops as soon as it passes the cap (or as soon as the
``Content-Length`` says it will): a 50 MB page costs at most the cap in memory and in
time, and the metric reports ``body over 4 MB cap``. The cap is on the page as parsed:
gzip (the only encoding asked for) is inflated here, never more than the cap, so a
small compressed body cannot expand into a big one.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import httpx

from cockpit.core.boundary import bound, show_controls


class BadEncoding(Exception):
    """The server answered in a Content-Encoding that was not asked for."""


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
                       headers: Mapping[str, str] | None = None,
                       params: Mapping[str, str] | None = None,
                       any_status: bool = False) -> tuple[int, list[bytes]]:
    """``(status, chunks)`` of a GET; the chunks hold at most ``cap`` bytes in all.

    Raises ``BodyTooLarge`` once the body passes ``cap`` (the connection is then closed
    without reading the rest), ``BadEncoding`` for an encoding other than gzip. A status
    other than 200 returns no chunks, unread, unless ``any_status``.
    """
    asked = {**(headers or {}), "Accept-Encoding": "gzip"}
    async with client.stream("GET", url, timeout=timeout, headers=asked,
                             params=params) as response:
        if response.status_code != 200 and not any_status:
            return response.status_code, []
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        inflate: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("", "identity"):
            shown = bound(show_controls(encoding), 40)
            raise BadEncoding(f"unsupported Content-Encoding {shown!r}")
        length = response.headers.get("content-length", "")
        if inflate is None and length.isdigit() and int(length) > cap:
            raise BodyTooLarge(cap)
        chunks: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            try:
                # At most one byte over the cap is ever inflated: enough to know.
                chunk = raw if inflate is None else inflate.decompress(raw, cap - size + 1)
            except zlib.error as exc:
                raise BadEncoding(f"invalid gzip body: {exc}") from None
            size += len(chunk)
            if size > cap:
                raise BodyTooLarge(cap)
            chunks.append(chunk)
        if inflate is not None:
            chunks.append(inflate.flush())
            if len(chunks[-1]) + size > cap:
                raise BodyTooLarge(cap)
        return response.status_code, chunks
