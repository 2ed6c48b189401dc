"""HTTP clients for probes and scrapes, made without blocking the event loop.

``httpx.AsyncClient()`` builds its TLS context on the spot: it reads the CA bundle, about
80 ms here, on whatever thread creates the client, the UI thread at start-up included.
The context is built once, in a thread, and shared.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

import httpx

_context: ssl.SSLContext | None = None
_context_lock = threading.Lock()


def _build_context() -> ssl.SSLContext:
    global _context
    with _context_lock:
        if _context is None:
            _context = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
        return _context


async def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once in a thread."""
    return _context if _context is not None else await asyncio.to_thread(_build_context)


async def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that verifies TLS like the default one."""
    return httpx.AsyncClient(verify=await tls_context(), **kwargs)
