"""One handle per kubeconfig context: its SDK client, and errors put in words.

The Cluster API (final; the other kubernetes modules build on it):

- ``Cluster(config, info, timeout)``: ``name`` (the context), ``server``,
  ``namespace`` (the context's namespace, else ``default``), ``timeout`` (seconds per
  API call), ``info`` (``kubeconfig.ContextInfo``), ``config`` (``KubeConfig``);
- ``client()``: the ``kubernetes.client.ApiClient`` built from the context (blocking:
  imports the SDK and may run a credential plugin; call it in a thread); raises
  ``KubeError`` (a bad context is said in one line);
- ``core``, ``apps``, ``batch``, ``custom``: ``CoreV1Api``, ``AppsV1Api``,
  ``BatchV1Api``, ``CustomObjectsApi`` on that client, created lazily (blocking the
  first time);
- ``call_blocking(verb, resource, func, *args, missing=None, **kwargs)``: run
  ``func(*args, **kwargs)`` in this thread, ``func`` a callable or ``"api.method"``
  (``"apps.patch_namespaced_deployment_scale"``), with ``_request_timeout`` set to
  ``timeout`` unless given; every failure becomes a ``KubeError`` (see ``error``);
- ``await call(...)``: the same in a thread, bounded by the timeout;
- ``raw(...)`` / ``await raw_call(...)``: ``call`` with ``_preload_content=False``, the
  JSON answer as a dict (camelCase keys, as kubectl prints it; no model objects);
- ``error(exc, verb, resource, missing=None) -> KubeError``: a 403 is ``Forbidden``
  "forbidden by the cluster (RBAC): VERB RESOURCE"; a 404 is ``NotFound`` "no such
  MISSING"; a 410 is ``Gone``; no answer is ``Unreachable``
  "cannot reach CONTEXT (SERVER): why"; other refusals "the cluster refused ...";
- ``close()``: closes the client's connection pool.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from cockpit.core.backends.kubernetes.kubeconfig import ContextInfo, KubeConfig
from cockpit.core.errors import CockpitError

_APIS = {
    "core": "CoreV1Api",
    "apps": "AppsV1Api",
    "batch": "BatchV1Api",
    "custom": "CustomObjectsApi",
}


class KubeError(CockpitError):
    """A call to a cluster failed; the message is fit for a user."""


class Forbidden(KubeError):
    """HTTP 403: ``forbidden by the cluster (RBAC): VERB RESOURCE``."""


class NotFound(KubeError):
    """HTTP 404: the object does not exist."""


class Gone(KubeError):
    """HTTP 410: a watch's resourceVersion is too old (list again)."""


class Unreachable(KubeError):
    """No answer: ``cannot reach CONTEXT (SERVER): why``."""


class Cluster:
    """One context's client and API accessors; see the module docstring."""

    def __init__(self, config: KubeConfig, info: ContextInfo, timeout: float = 10.0) -> None:
        self.config = config
        self.info = info
        self.name = info.name
        self.server = info.server
        self.namespace = info.namespace or "default"
        self.timeout = timeout
        self._client: Any = None
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Cluster({self.name!r}, {self.server!r})"

    # -- the client ---------------------------------------------------------------------

    def client(self) -> Any:
        """The ApiClient (built on first use; blocking)."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = self.config.api_client(self.name)
                except CockpitError as exc:
                    raise KubeError(str(exc)) from None
                if not self.server:
                    self.server = str(getattr(self._client.configuration, "host", "") or "")
            return self._client

    def _api(self, key: str) -> Any:
        api = self._apis.get(key)
        if api is None:
            client = self.client()
            from kubernetes import client as k8s_client

            api = getattr(k8s_client, _APIS[key])(client)
            self._apis[key] = api
        return api

    @property
    def core(self) -> Any:
        return self._api("core")

    @property
    def apps(self) -> Any:
        return self._api("apps")

    @property
    def batch(self) -> Any:
        return self._api("batch")

    @property
    def custom(self) -> Any:
        return self._api("custom")

    # -- calls --------------------------------------------------------------------------

    def _resolve(self, func: Callable[..., Any] | str) -> Callable[..., Any]:
        if callable(func):
            return func
        api, _, method = func.partition(".")
        return getattr(self._api(api), method)

    def call_blocking(self, verb: str, resource: str, func: Callable[..., Any] | str,
                      *args: Any, missing: str | None = None, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` with the timeout; failures as ``KubeError``."""
        try:
            method = self._resolve(func)
            if isinstance(func, str):
                kwargs.setdefault("_request_timeout", self.timeout)
            return method(*args, **kwargs)
        except KubeError:
            raise
        except Exception as exc:
            raise self.error(exc, verb, resource, missing) from None

    async def call(self, verb: str, resource: str, func: Callable[..., Any] | str,
                   *args: Any, missing: str | None = None, **kwargs: Any) -> Any:
        """``call_blocking`` in a thread, abandoned past the timeout (and a margin)."""
        try:
            async with asyncio.timeout(self.timeout * 1.5 + 2.0):
                return await asyncio.to_thread(self.call_blocking, verb, resource, func,
                                               *args, missing=missing, **kwargs)
        except TimeoutError:
            raise Unreachable(self.unreachable(f"no answer within {self.timeout:g} s")
                              ) from None

    def raw(self, verb: str, resource: str, func: str, *args: Any,
            missing: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer of ``func`` as a dict (blocking)."""
        kwargs["_preload_content"] = False
        response = self.call_blocking(verb, resource, func, *args, missing=missing, **kwargs)
        try:
            data = response.data
        finally:
            response.release_conn()
        try:
            decoded = json.loads(data or b"{}")
        except ValueError:
            raise KubeError(f"{self.name}: {verb} {resource}: the answer is not JSON"
                            ) from None
        return decoded if isinstance(decoded, dict) else {}

    async def raw_call(self, verb: str, resource: str, func: str, *args: Any,
                       missing: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """``raw`` in a thread, bounded like ``call``."""
        try:
            async with asyncio.timeout(self.timeout * 1.5 + 2.0):
                return await asyncio.to_thread(self.raw, verb, resource, func, *args,
                                               missing=missing, **kwargs)
        except TimeoutError:
            raise Unreachable(self.unreachable(f"no answer within {self.timeout:g} s")
                              ) from None

    # -- errors -------------------------------------------------------------------------

    def unreachable(self, why: str) -> str:
        return f"cannot reach {self.name} ({self.server or 'no server'}): {why}"

    def error(self, exc: BaseException, verb: str, resource: str,
              missing: str | None = None) -> KubeError:
        """The ``KubeError`` saying what went wrong with ``verb resource``."""
        if isinstance(exc, KubeError):
            return exc
        status = getattr(exc, "status", None)
        if _api_exception(exc) and isinstance(status, int) and status:
            message = _status_message(getattr(exc, "body", None)) or str(
                getattr(exc, "reason", "") or "")
            if status == 403:
                return Forbidden(f"forbidden by the cluster (RBAC): {verb} {resource}")
            if status == 404:
                return NotFound(f"no such {missing}" if missing else
                                f"{verb} {resource}: not found ({message})")
            if status == 410:
                return Gone(f"{verb} {resource}: gone (410): {message}")
            if status == 401:
                return KubeError(f"{self.name}: the cluster rejected the credentials "
                                 f"(401) for {verb} {resource}")
            return KubeError(f"the cluster refused {verb} {resource}: {status} {message}"
                             .rstrip())
        return Unreachable(self.unreachable(_connection_problem(exc)))

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._apis.clear()
        if client is not None:
            try:
                client.close()
            except Exception:
                pass


def _api_exception(exc: BaseException) -> bool:
    """The SDK's ApiException (or a subclass: ForbiddenException, ...)."""
    import sys

    module = sys.modules.get("kubernetes.client.exceptions")
    return module is not None and isinstance(exc, module.ApiException)


def _status_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return " ".join(str(body).split())[:200]
    return " ".join(str(data.get("message", "")).split())[:300] if isinstance(
        data, dict) else ""


def _connection_problem(exc: BaseException) -> str:
    """A short reason for a failed connection (refused, timed out, TLS, DNS)."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        reason = getattr(cur, "reason", None)
        cur = reason if isinstance(reason, BaseException) and reason not in chain else (
            cur.__cause__ or cur.__context__)
    text = " ".join(" ".join(str(e).split()) for e in chain).lower()
    names = " ".join(type(e).__name__ for e in chain)
    if "refused" in text:
        return "connection refused"
    if "Timeout" in names or "timed out" in text:
        return "no answer (timed out)"
    if "SSL" in names or "certificate" in text:
        return "TLS handshake failed: " + " ".join(str(chain[-1]).split())[:160]
    if "name or service not known" in text or "nodename nor servname" in text or (
            "name resolution" in text):
        return "unknown host"
    if "reset" in text or "aborted" in text or "closed" in text:
        return "the connection was lost"
    return " ".join(str(exc).split())[:200] or type(exc).__name__
