"""Plain HTTP calls to the Kubernetes API through the official client's ``ApiClient``
(its TLS, auth and proxy settings), for the streaming modules.

The generated methods deserialize into models and lack some query parameters
(``sinceTime`` of pod logs); the streams here read JSON dicts and raw bodies instead.
Blocking: call them in threads. ``open_stream`` returns the urllib3 response, which
``shutdown`` wakes from another thread.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from cockpit.core.errors import CockpitError

Query = Sequence[tuple[str, str]]


class KubeApiError(CockpitError):
    """A call the cluster refused or could not answer; ``status`` 0 when unreachable."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def api_message(exc: BaseException, verb: str, resource: str) -> KubeApiError:
    """A one-line error for an exception of the client (403 named as RBAC)."""
    status = int(getattr(exc, "status", 0) or 0)
    if status == 403:
        return KubeApiError(f"forbidden by the cluster (RBAC): {verb} {resource}", 403)
    body = getattr(exc, "body", None)
    message = ""
    if body:
        try:
            message = str(json.loads(body).get("message") or "")
        except (ValueError, AttributeError, TypeError):
            message = str(body)[:300]
    if status:
        reason = getattr(exc, "reason", "") or ""
        return KubeApiError(f"{verb} {resource}: HTTP {status} {reason}".rstrip()
                            + (f": {message}" if message else ""), status)
    return KubeApiError(f"{verb} {resource}: cluster unreachable: "
                        f"{getattr(exc, 'reason', None) or exc}", 0)


def _request(api: Any, path: str, query: Query, timeout: float | None) -> Any:
    method, url, headers, body, post = api.param_serialize(
        method="GET", resource_path=path, query_params=list(query),
        header_params={"Accept": "application/json, */*"}, auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params=headers, body=body,
                            post_params=post, _request_timeout=timeout)
    raw = response.response
    if not 200 <= response.status <= 299:
        from kubernetes.client.exceptions import ApiException

        data = raw.read()
        raw.release_conn()
        exc = ApiException(status=response.status, reason=raw.reason)
        exc.body = data.decode("utf-8", "replace") if data else ""
        raise exc
    return raw


def get_json(api: Any, path: str, query: Query = (), *, timeout: float = 10.0,
             verb: str = "get", resource: str = "") -> dict[str, Any]:
    """GET ``path`` and decode its JSON body; ``KubeApiError`` on failure."""
    try:
        raw = _request(api, path, query, timeout)
        try:
            data = raw.read()
        finally:
            raw.release_conn()
        return json.loads(data or b"{}")
    except KubeApiError:
        raise
    except Exception as exc:
        raise api_message(exc, verb, resource or path) from None


def open_stream(api: Any, path: str, query: Query = (), *, connect_timeout: float = 10.0,
                verb: str = "get", resource: str = "") -> Any:
    """GET ``path`` as a stream (no read timeout): the urllib3 response."""
    try:
        return _request(api, path, query, (connect_timeout, None))
    except Exception as exc:
        raise api_message(exc, verb, resource or path) from None


def chunks(raw: Any) -> Iterator[bytes]:
    """The body of a streamed response as it arrives (chunked or not)."""
    if getattr(raw, "chunked", False):
        yield from raw.read_chunked(decode_content=True)
        return
    while True:
        data = raw.read1(65536)
        if not data:
            return
        yield data


def shutdown(raw: Any) -> None:
    """Wake a thread blocked reading ``raw`` and drop the connection (any thread)."""
    with contextlib.suppress(Exception):
        raw.shutdown()
    with contextlib.suppress(Exception):
        sock = raw.connection.sock if raw.connection is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        raw.close()


def pods_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    """``/api/v1/namespaces/NS/pods[/NAME[/SUB]]``, quoted."""
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
    if name is not None:
        path += f"/{quote(name, safe='')}"
        if sub:
            path += f"/{sub}"
    return path


#: workload kind -> (API group path, plural)
WORKLOADS = {
    "deployment": ("/apis/apps/v1", "deployments"),
    "statefulset": ("/apis/apps/v1", "statefulsets"),
    "daemonset": ("/apis/apps/v1", "daemonsets"),
    "replicaset": ("/apis/apps/v1", "replicasets"),
    "job": ("/apis/batch/v1", "jobs"),
}


def workload_path(namespace: str, kind: str, name: str) -> str:
    group, plural = WORKLOADS[kind]
    return f"{group}/namespaces/{quote(namespace, safe='')}/{plural}/{quote(name, safe='')}"


def selector_string(selector: dict[str, Any] | None) -> str:
    """A ``LabelSelector`` object as the query string form (``app=api,tier in (a,b)``)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def workload_selector(api: Any, namespace: str, kind: str, name: str,
                      timeout: float = 10.0) -> tuple[dict[str, Any], str]:
    """The workload object and the label selector of its pods."""
    obj = get_json(api, workload_path(namespace, kind, name), timeout=timeout,
                   resource=f"{WORKLOADS[kind][1]}/{name}")
    selector = selector_string((obj.get("spec") or {}).get("selector"))
    if not selector:
        raise KubeApiError(f"{kind}/{name} has no pod selector")
    return obj, selector


def list_pods(api: Any, namespace: str, selector: str = "", *,
              timeout: float = 10.0) -> dict[str, Any]:
    """The PodList (a dict) of ``namespace`` matching ``selector``."""
    query = [("labelSelector", selector)] if selector else []
    return get_json(api, pods_path(namespace), query, timeout=timeout, verb="list",
                    resource="pods")
