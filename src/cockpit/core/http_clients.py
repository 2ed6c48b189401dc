"""HTTP clients for probes and scrapes, made without blocking the event loop.

``httpx.AsyncClient()`` builds its TLS context on the spot: it reads the CA bundle, about
80 ms here, on whatever thread creates the client, the UI thread at start-up included.
The context is built once, in a thread, and shared; ``warm_up`` starts that early.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from typing import TYPE_CHECKING, Any

from cockpit.core.lazy import LazyModule

if TYPE_CHECKING:
    import httpx
else:  # ~20 ms, and 35 more at the first client and request: not before a first frame
    httpx = LazyModule("httpx", globals())

_context: ssl.SSLContext | None = None
_context_lock = threading.Lock()


def _build_context() -> ssl.SSLContext:
    global _context
    with _context_lock:
        if _context is None:
            _context = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
        return _context


def warm_up() -> None:
    """Start building the TLS context in a daemon thread, so that it is ready when the
    first probe of a starting cockpit wants it. Reading the CA bundle mostly runs
    without the GIL, beside the main thread's imports (importing httpcore and anyio
    there too was slower: they need the GIL). Never raises; a failure shows up where it
    used to, on first use."""
    threading.Thread(target=_warm_up, name="cockpit-tls-warm-up", daemon=True).start()


def _warm_up() -> None:
    with contextlib.suppress(Exception):
        _build_context()


async def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once in a thread."""
    return _context if _context is not None else await asyncio.to_thread(_build_context)


async def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that verifies TLS like the default one."""
    return httpx.AsyncClient(verify=await tls_context(), **kwargs)
