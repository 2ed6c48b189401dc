"""The HTTP layer: a threaded loopback server, also an HTTP proxy (absolute-form request lines).

Routing: each API module registers ``Route``s (method, path regex, handler, api name). The
virtual host decides which APIs a request may reach: ``run.fake`` (v2, and gcloud's global
v1), ``REGION-run.fake`` (gcloud's regional Knative v1), ``logging.fake``,
``monitoring.fake``, ``oauth2.fake``; a loopback address reaches all of them.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.gcpdouble.errors import ApiError

MAX_BODY = 8 * 1024 * 1024


@dataclass
class Request:
    method: str
    host: str  # without port, lower case
    path: str  # unquoted path, no query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    region: str | None = None  # from a ``REGION-run.fake`` host

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, f"Invalid JSON payload received. {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-able, or bytes/str with ``content_type``
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body if self.body is not None else {}, indent=1).encode()


Handler = Callable[..., Response | dict[str, Any]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    api: str  # "run" | "run-v1" | "logging" | "monitoring" | "token" | "metadata" | "app"
    auth: bool = True


VIRTUAL_APIS = {
    "run.fake": {"run", "run-v1"},
    "logging.fake": {"logging"},
    "monitoring.fake": {"monitoring"},
    "oauth2.fake": {"token"},
    "metadata.google.internal": {"metadata"},
}
REGIONAL = re.compile(r"^([a-z]+-[a-z]+\d+)-run\.fake$")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class Router:
    """Finds the route of a request and runs it with auth and fault injection."""

    def __init__(self, authorize: Callable[[Request], bool], take_fault: Callable[[str, str], ApiError | None]) -> None:
        self.routes: list[Route] = []
        self.authorize = authorize
        self.take_fault = take_fault
        self.log: list[tuple[str, str, str]] = []  # (method, host, path+query) of every request
        self.log_lock = threading.Lock()

    def add(self, method: str, pattern: str, handler: Handler, api: str, auth: bool = True) -> None:
        self.routes.append(Route(method, re.compile("^" + pattern + "$"), handler, api, auth))

    def allowed(self, host: str) -> set[str] | None:
        """APIs reachable on ``host`` (None: all of them)."""
        if host in LOOPBACK or host.startswith("127."):
            return None
        if host in VIRTUAL_APIS:
            return VIRTUAL_APIS[host]
        if REGIONAL.match(host):
            return {"run-v1-regional"}
        return set()

    def dispatch(self, req: Request) -> Response:
        allowed = self.allowed(req.host)
        m = REGIONAL.match(req.host)
        if m:
            req.region = m.group(1)
        path_matched = False
        for route in self.routes:
            if route.api == "run-v1-regional":
                if req.region is None:
                    continue
            elif allowed is not None and route.api not in allowed:
                continue
            match = route.pattern.match(req.path)
            if not match:
                continue
            path_matched = True
            if route.method != req.method:
                continue
            if route.auth and not self.authorize(req):
                return error_response(ApiError(401))
            fault = self.take_fault(req.method, req.path)
            if fault is not None:
                return error_response(fault)
            try:
                out = route.handler(req, **match.groupdict())
            except ApiError as exc:
                return error_response(exc)
            return out if isinstance(out, Response) else Response(body=out)
        if path_matched:
            return error_response(ApiError(405, f"Method {req.method} not allowed on {req.path}", "UNIMPLEMENTED"))
        return error_response(ApiError(404, f"The requested URL {req.path} was not found on this server ({req.host})."))


def _host_name(value: str) -> str:
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0]


def error_response(exc: ApiError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if exc.code == 401 else {}
    return Response(status=exc.code, body=exc.body(), headers=headers)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        target = self.path
        if target.startswith(("http://", "https://")):  # proxy: absolute form
            parts = urllib.parse.urlsplit(target)
            host, raw_path, raw_query = parts.hostname or "", parts.path or "/", parts.query
        else:
            host = _host_name(self.headers.get("Host") or "127.0.0.1")
            raw_path, _, raw_query = target.partition("?")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY + 1)) if length else b""
        if len(body) > MAX_BODY:
            self.close_connection = True
            self._send(error_response(ApiError(400, "request body too large")))
            return
        req = Request(
            method=self.command,
            host=host.lower(),
            path=urllib.parse.unquote(raw_path),
            query=urllib.parse.parse_qs(raw_query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        router = self.server.router
        with router.log_lock:
            router.log.append((req.method, req.host, raw_path + (f"?{raw_query}" if raw_query else "")))
        try:
            resp = router.dispatch(req)
        except Exception as exc:  # a bug in the double: say so as a 500, keep serving
            resp = error_response(ApiError(500, f"double bug: {exc!r}", "INTERNAL"))
        self._send(resp)

    def _read_chunked(self) -> bytes:
        body = b""
        while len(body) <= MAX_BODY:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                break
            body += self.rfile.read(size)
            self.rfile.readline()
        return body

    def _send(self, resp: Response) -> None:
        data = resp.encode()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_CONNECT(self) -> None:
        """TLS tunnels are refused: the double speaks plain HTTP only."""
        msg = b"the gcp double is a plain-HTTP proxy: use http:// endpoints (CONNECT refused)\n"
        self.send_response(405, "CONNECT not supported")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(msg)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(msg)
        self.close_connection = True

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, router: Router, port: int = 0) -> None:
        self.router = router
        super().__init__(("127.0.0.1", port), _Handler)


def serve(router: Router, port: int = 0) -> tuple[_Server, threading.Thread]:
    """Start serving ``router`` on 127.0.0.1 (a random port by default) in a daemon thread."""
    server = _Server(router, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="gcpdouble", daemon=True)
    thread.start()
    return server, thread
