"""One HTTP client for Cloud Run v2, Cloud Logging v2 and Cloud Monitoring v3 (REST).

``GoogleAPI.call(api, method, path, params=, json=)`` returns the reply's JSON object.
The base URLs are the options' (``endpoints``, else gcloud's
``$CLOUDSDK_API_ENDPOINT_OVERRIDES_*``); gcloud's HTTP proxy settings
(``CLOUDSDK_PROXY_TYPE=http``, ``_ADDRESS``, ``_PORT``) are honoured; every call has the
``timeout`` option as its deadline and every body is capped (``MAX_BODY``). A 401
refreshes the token once and asks again. A refusal is a ``GoogleAPIError`` whose
``str()`` is one line keeping Google's own message (``Cloud Run: 403 PERMISSION_DENIED:
Permission 'run.services.update' denied on ...``).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from cockpit.core.backends.cloudrun.auth import TokenSource
from cockpit.core.backends.cloudrun.options import (
    CloudRunOptions,
    endpoint,
    proxy_url,
)
from cockpit.core.errors import CockpitError

MAX_BODY = 8 * 1024 * 1024
LABELS = {"run": "Cloud Run", "logging": "Cloud Logging", "monitoring": "Cloud Monitoring"}
#: what a status means, after Google's own message
HINTS = {
    401: "credentials refused: run `gcloud auth application-default login`",
    403: "the account lacks the IAM permission",
    409: "someone else changed it meanwhile: read it again and retry",
    412: "someone else changed it meanwhile (etag): read it again and retry",
    429: "quota exceeded: try again later",
    503: "the service is unavailable now: try again",
}
_MESSAGE_MAX = 500


class GoogleAPIError(CockpitError):
    """A call Google refused or that got no answer; ``str()`` is one line."""

    def __init__(self, api: str, status: int, reason: str, message: str,
                 request: str = "") -> None:
        self.api = api
        self.status = status  #: the HTTP status (0: no answer)
        self.reason = reason  #: ``error.status`` of the reply (``PERMISSION_DENIED``)
        self.message = message  #: Google's own message
        self.request = request  #: ``GET /v2/projects/...``
        super().__init__(self._line())

    def _line(self) -> str:
        label = LABELS.get(self.api, self.api)
        head = f"{label}: {self.status} {self.reason}" if self.status else \
            f"{label}: {self.reason}"
        text = f"{head}: {self.message}" if self.message else head
        hint = HINTS.get(self.status)
        if hint:
            text += f" ({hint})"
        return text + (f" [{self.request}]" if self.request else "")


class GoogleAPI:
    """Calls Google's REST APIs with a token from ``tokens``."""

    def __init__(self, opts: CloudRunOptions, tokens: TokenSource, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.opts = opts
        self.tokens = tokens
        self.timeout = float(opts.timeout)
        self.bases = {api: endpoint(opts, api, env) for api in LABELS}  # type: ignore[arg-type]
        self.proxy = proxy_url(env)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_lock = asyncio.Lock()

    def base(self, api: str) -> str:
        return self.bases[api]

    async def _http(self) -> httpx.AsyncClient:
        async with self._client_lock:
            if self._client is None:
                timeout = httpx.Timeout(self.timeout)
                if self._transport is not None:
                    self._client = httpx.AsyncClient(transport=self._transport,
                                                     timeout=timeout)
                else:
                    from cockpit.core.http_clients import async_client

                    kwargs: dict[str, Any] = {"timeout": timeout}
                    if self.proxy:
                        kwargs["proxy"] = self.proxy
                    self._client = await async_client(**kwargs)
            return self._client

    async def call(self, api: Literal["run", "logging", "monitoring"], method: str,
                   path: str, *,
                   params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
                   json: Any = None) -> dict[str, Any]:
        """The JSON object Google answers (``{}`` for an empty body); raises
        ``GoogleAPIError`` (one line) or ``CockpitError`` (no credentials)."""
        request = f"{method.upper()} {path}"
        token = await self.tokens.token()
        status, body = await self._send(api, method, path, params, json, token, request)
        if status == 401:
            token = await self.tokens.refresh()
            status, body = await self._send(api, method, path, params, json, token, request)
        if status >= 400:
            error = error_of(api, status, body, request)
            if status == 401 and self.tokens.token_file:  # not ADC: say which token
                error.args = (str(error).replace(
                    HINTS[401], f"the token in the access token file ({self.tokens.token_file})"
                    " was refused: write a fresh one, e.g. `gcloud auth print-access-token`"),)
            raise error
        if not body.strip():
            return {}
        try:
            data = jsonlib.loads(body)
        except ValueError:
            raise GoogleAPIError(api, status, "BAD_REPLY",
                                 f"the reply is not JSON: {_excerpt(body)}", request) from None
        if not isinstance(data, dict):
            raise GoogleAPIError(api, status, "BAD_REPLY", "the reply is not a JSON object",
                                 request)
        return data

    async def _send(self, api: str, method: str, path: str, params: Any, json: Any,
                    token: str, request: str) -> tuple[int, bytes]:
        client = await self._http()
        url = self.bases[api] + path.lstrip("/")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        quota = self.tokens.quota_project()
        if quota:
            headers["x-goog-user-project"] = quota
        try:
            async with asyncio.timeout(self.timeout):
                async with client.stream(method.upper(), url, params=params, json=json,
                                         headers=headers) as reply:
                    declared = reply.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > MAX_BODY:
                        raise _too_large(api, reply.status_code, request)
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in reply.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_BODY:
                            raise _too_large(api, reply.status_code, request)
                        chunks.append(chunk)
                    return reply.status_code, b"".join(chunks)
        except TimeoutError:
            raise GoogleAPIError(api, 0, "TIMEOUT", f"no answer from {_host(url)} within "
                                 f"{self.timeout:g}s", request) from None
        except httpx.TimeoutException:
            raise GoogleAPIError(api, 0, "TIMEOUT", f"no answer from {_host(url)} within "
                                 f"{self.timeout:g}s", request) from None
        except httpx.HTTPError as exc:
            via = f" via proxy {self.proxy}" if self.proxy and self._transport is None else ""
            raise GoogleAPIError(api, 0, "UNREACHABLE", f"cannot reach {_host(url)}{via}: "
                                 f"{_excerpt(str(exc) or type(exc).__name__)}",
                                 request) from None

    async def aclose(self) -> None:
        """Close the connections; from another event loop than the one that opened them
        (the TUI's has ended) they are already gone with it."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except RuntimeError as exc:
                if "Event loop is closed" not in str(exc):
                    raise


def error_of(api: str, status: int, body: bytes, request: str = "") -> GoogleAPIError:
    """The error of a reply with ``status`` >= 400: Google's ``error.status`` and
    ``error.message`` where the body has them, else the body's first words."""
    reason, message = "", ""
    try:
        data = jsonlib.loads(body) if body.strip() else None
    except ValueError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # some Google front ends wrap the error in a list
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            reason = str(err.get("status") or "")
            message = str(err.get("message") or "")
        elif isinstance(err, str):  # OAuth-style {"error": "invalid_token", ...}
            reason = err.upper()
            message = str(data.get("error_description") or "")
    if not reason:
        reason = _phrase(status)
    if not message and data is None:
        message = _excerpt(body.decode("utf-8", "replace"))
    return GoogleAPIError(api, status, reason, _excerpt(message), request)


def _too_large(api: str, status: int, request: str) -> GoogleAPIError:
    return GoogleAPIError(api, status, "TOO_LARGE",
                          f"the reply is over {MAX_BODY // (1024 * 1024)} MB: not read",
                          request)


def _phrase(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).name
    except ValueError:
        return "HTTP_ERROR"


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_MAX else flat[: _MESSAGE_MAX - 3] + "..."
