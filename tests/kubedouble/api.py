"""Wire helpers of the double: API paths, Status errors, JSON responses, discovery documents."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import aiohttp.web

from tests.kubedouble.store import ResKey

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.2",
    "gitCommit": "67a30c0adcf52bd3f56ff0893ce19966be12991f",
    "gitTreeState": "clean",
    "buildDate": "2025-02-12T21:19:47Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# Subresources: (kind, group, version, verbs); group/version None = the parent's.
SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, list[str]]] = {
    "scale": ("Scale", "autoscaling", "v1", ["get", "patch", "update"]),
    "status": (None, None, None, ["get", "patch", "update"]),
    "log": ("Pod", None, None, ["get"]),
    "exec": ("PodExecOptions", None, None, ["create", "get"]),
    "attach": ("PodAttachOptions", None, None, ["create", "get"]),
    "portforward": ("PodPortForwardOptions", None, None, ["create", "get"]),
    "eviction": ("Eviction", "policy", "v1", ["create"]),
    "binding": ("Binding", None, None, ["create"]),
    "ephemeralcontainers": ("Pod", None, None, ["get", "patch", "update"]),
    "resize": ("Pod", None, None, ["get", "patch", "update"]),
    "proxy": (None, None, None, ["create", "delete", "get", "patch", "update"]),
    "finalize": ("Namespace", None, None, ["update"]),
    "token": ("TokenRequest", "authentication.k8s.io", "v1", ["create"]),
    "approval": ("CertificateSigningRequest", None, None, ["get", "patch", "update"]),
}


class ApiError(Exception):
    """An error the API answers with a ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``v1 Status`` failure document."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def json_response(body: Any, status: int = 200) -> aiohttp.web.Response:
    """JSON with the Content-Type exactly ``application/json`` (as the API server sends it)."""
    return aiohttp.web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def error_response(exc: ApiError) -> aiohttp.web.Response:
    return json_response(exc.status(), status=exc.code)


def qualified(res: ResKey) -> str:
    """``pods`` or ``deployments.apps`` as API messages name a resource."""
    return res[2] if not res[0] else f"{res[2]}.{res[0]}"


def not_found(res: ResKey, name: str) -> ApiError:
    details: dict[str, Any] = {"name": name, "kind": res[2]}
    if res[0]:
        details["group"] = res[0]
    return ApiError(404, "NotFound", f'{qualified(res)} "{name}" not found', details)


def forbidden_message(
    res: ResKey, name: str | None, verb: str, namespace: str | None, sub: str | None, user: str
) -> str:
    """The API server's RBAC message, e.g. ``deployments.apps "x" is forbidden: User ...``."""
    subject = f'{qualified(res)} "{name}"' if name else qualified(res)
    resource = f"{res[2]}/{sub}" if sub else res[2]
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{res[0]}"{where}'
    )


@dataclass
class ApiPath:
    """A parsed resource path: ``/apis/G/V[/namespaces/NS]/PLURAL[/NAME[/SUB]]``."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    sub: str | None = None

    @property
    def res(self) -> ResKey:
        return (self.group, self.version, self.plural)


_GV = re.compile(r"^/(?:api/(?P<v1>[^/]+)|apis/(?P<g>[^/]+)/(?P<v>[^/]+))(?P<rest>/.*)?$")


def parse_api_path(path: str, namespaced: set[ResKey]) -> ApiPath | None:
    """Parse a resource path; ``namespaced`` tells ``namespaces/x/pods`` from ``namespaces/x``."""
    match = _GV.match(path.rstrip("/") or "/")
    if not match or not match.group("rest"):
        return None
    group = match.group("g") or ""
    version = match.group("v1") or match.group("v")
    parts = [p for p in match.group("rest").split("/") if p]
    namespace = None
    if (
        len(parts) >= 3
        and parts[0] == "namespaces"
        and (group, version, parts[2]) in namespaced
    ):
        namespace, parts = parts[1], parts[2:]
    plural = parts[0]
    name = parts[1] if len(parts) > 1 else None
    sub = "/".join(parts[2:]) or None
    return ApiPath(group, version, plural, namespace, name, sub)


def version_key(version: str) -> tuple[int, int, int]:
    """Sort key of API versions as Kubernetes prefers them: GA, then beta, then alpha."""
    match = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not match:
        return (-1, 0, 0)
    stage = {"alpha": 0, "beta": 1, None: 2}[match.group(2)]
    return (stage, int(match.group(1)), int(match.group(3) or 0))
