"""Health probes against a real HTTP server, real sockets and real subprocesses."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.models import CommandProbe, HttpProbe, TcpProbe
from cockpit.core.sources.health import HealthChecker, run_probe
from tests.support import LoopbackHTTP, free_port

Route = Callable[[], tuple[int, str, bytes]]


def _json(status: int, body: object) -> Route:
    return lambda: (status, "application/json", json.dumps(body).encode())


class HttpFixture(LoopbackHTTP):
    """Fixed routes: path -> () -> (status, content type, body); status 0 hangs."""

    def __init__(self, routes: dict[str, Route]) -> None:
        def respond(path: str) -> tuple[int, str, bytes]:
            route = routes.get(path.split("?")[0])
            return (404, "text/plain", b"not found") if route is None else route()

        super().__init__(respond)


HEALTHY = {"status": "healthy", "checks": {"database": "healthy", "cache": {"status": "ok"}}}
DEGRADED = {
    "status": "degraded",
    "checks": {"database": "healthy", "cache": {"status": "degraded", "detail": "evictions"}},
}


@pytest.fixture
def http() -> Iterator[HttpFixture]:
    server = HttpFixture({
        "/health": _json(200, HEALTHY),
        "/degraded": _json(200, DEGRADED),
        "/down": _json(503, {"status": "unhealthy", "checks": {"database": "down"}}),
        "/hang": lambda: (0, "application/json", b"{}"),
        "/html": lambda: (200, "text/html; charset=utf-8", b"<html><body>hi</body></html>"),
        "/badjson": lambda: (200, "application/json", b'{"status": "ok",'),
        "/array": _json(200, [{"status": "ok"}]),
        "/plain": lambda: (200, "text/plain", b"OK"),
        "/spring": _json(200, {"status": "UP", "components": {"db": {"status": "UP"}}}),
        "/huge": _json(200, {"status": "ok", "pad": "x" * (2 << 20)}),
    })
    yield server
    server.close()


def _probe(url: str, **kw: object) -> HttpProbe:
    return HttpProbe.model_validate({"kind": "http", "name": "api", "url": url, **kw})


async def test_healthy_with_sub_checks(http: HttpFixture) -> None:
    rows = await run_probe(_probe(http.url + "/health"))
    main, *subs = rows
    assert (main.name, main.state, main.parent) == ("api", "ok", None)
    assert main.latency_ms is not None and main.latency_ms > 0
    assert abs(main.checked_at - time.time()) < 5
    assert [(r.name, r.state, r.parent) for r in subs] == [
        ("api/database", "ok", "api"),
        ("api/cache", "ok", "api"),
    ]


async def test_degraded_sub_check_fails_main_row(http: HttpFixture) -> None:
    main, db, cache = await run_probe(_probe(http.url + "/degraded"))
    assert main.state == "fail"
    assert main.reason == 'status "degraded"'
    assert db.state == "ok"
    assert cache.state == "fail"
    assert cache.reason == "degraded: evictions"


async def test_expect_json_any_of_accepts_degraded(http: HttpFixture) -> None:
    probe = _probe(http.url + "/degraded", expect_json={"status": ["healthy", "degraded"]})
    main, *_ = await run_probe(probe)
    assert main.state == "ok", main.reason
    probe = _probe(http.url + "/degraded", expect_json={"status": "healthy"})
    main, *_ = await run_probe(probe)
    assert main.state == "fail"
    assert main.reason == 'status is "degraded", expected "healthy"'


async def test_custom_checks_field_and_healthy_values(http: HttpFixture) -> None:
    probe = _probe(http.url + "/spring", checks_field="components", healthy_values=["up"])
    main, db = await run_probe(probe)
    assert main.state == "ok" and db.name == "api/db" and db.state == "ok"


async def test_http_503_keeps_sub_checks(http: HttpFixture) -> None:
    main, db = await run_probe(_probe(http.url + "/down"))
    assert main.state == "fail"
    assert main.reason.startswith("HTTP 503")
    assert (db.name, db.state, db.reason) == ("api/database", "fail", "down")


async def test_connection_refused() -> None:
    main, = await run_probe(_probe(f"http://127.0.0.1:{free_port()}/health"))
    assert (main.state, main.reason, main.latency_ms) == ("fail", "connection refused", None)


async def test_dns_failure() -> None:
    main, = await run_probe(_probe("http://no-such-host.invalid/health", timeout=5))
    assert main.state == "fail"
    assert main.reason in ("DNS lookup failed", "timed out after 5.0s")


async def test_hanging_server_times_out(http: HttpFixture) -> None:
    started = time.monotonic()
    main, = await run_probe(_probe(http.url + "/hang", timeout="500ms"))
    elapsed = time.monotonic() - started
    assert (main.state, main.reason) == ("fail", "timed out after 0.5s")
    assert elapsed < 1.0


async def test_html_is_ok_without_expectations_but_not_with(http: HttpFixture) -> None:
    main, = await run_probe(_probe(http.url + "/html"))
    assert main.state == "ok"
    main, = await run_probe(_probe(http.url + "/html", expect_json={"status": "ok"}))
    assert (main.state, main.reason) == ("fail", "expected JSON, got text/html")


async def test_plain_text_ok(http: HttpFixture) -> None:
    main, = await run_probe(_probe(http.url + "/plain"))
    assert (main.state, main.reason) == ("ok", "HTTP 200")


async def test_invalid_json(http: HttpFixture) -> None:
    main, = await run_probe(_probe(http.url + "/badjson"))
    assert main.state == "fail"
    assert main.reason.startswith("invalid JSON: ")


async def test_json_array_body(http: HttpFixture) -> None:
    main, = await run_probe(_probe(http.url + "/array"))
    assert main.state == "ok"  # no expectations: any 200 is fine
    main, = await run_probe(_probe(http.url + "/array", expect_json={"status": "ok"}))
    assert (main.state, main.reason) == ("fail", "expected a JSON object, got array")
    main, = await run_probe(_probe(http.url + "/array", expect_json={"0.status": "ok"}))
    assert main.state == "ok"


async def test_unexpected_status_list(http: HttpFixture) -> None:
    main, = await run_probe(_probe(http.url + "/nope", expect_status=[200, 204]))
    assert (main.state, main.reason) == ("fail", "HTTP 404")
    main, = await run_probe(_probe(http.url + "/nope", expect_status=[404]))
    assert main.state == "ok"


async def test_tcp_open_and_closed() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        row, = await run_probe(TcpProbe(kind="tcp", name="db", port=port))
        assert row.state == "ok" and row.latency_ms is not None
    finally:
        listener.close()
    row, = await run_probe(TcpProbe(kind="tcp", name="db", port=free_port()))
    assert (row.state, row.reason) == ("fail", "connection refused")


async def test_command_ok_and_failing() -> None:
    backend = LocalBackend()
    ok = CommandProbe(kind="command", name="ready", run=["sh", "-c", "echo all good"])
    row, = await run_probe(ok, backend=backend)
    assert (row.state, row.reason) == ("ok", "all good")
    bad = CommandProbe(kind="command", name="ready",
                       script='echo "checking"; echo "disk full" >&2; exit 3')
    row, = await run_probe(bad, backend=backend)
    assert (row.state, row.reason) == ("fail", "exit 3: disk full")
    missing = CommandProbe(kind="command", name="ready", run=["/nonexistent/cmd"])
    row, = await run_probe(missing, backend=backend)
    assert row.state == "fail" and row.reason


async def test_command_timeout_and_no_backend() -> None:
    backend = LocalBackend({"kill_grace": 0.2})
    probe = CommandProbe(kind="command", name="slow", run=["sleep", "30"], timeout=0.3)
    started = time.monotonic()
    row, = await run_probe(probe, backend=backend)
    assert (row.state, row.reason) == ("fail", "timed out after 0.3s")
    assert time.monotonic() - started < 3
    row, = await run_probe(probe)
    assert (row.state, row.reason) == ("fail", "no backend to run the command")


async def test_checker_runs_concurrently(http: HttpFixture) -> None:
    probes = [
        _probe(http.url + "/hang", name="slow", timeout=0.5),
        _probe(http.url + "/health", name="api"),
        TcpProbe(kind="tcp", name="closed", port=free_port()),
    ]
    checker = HealthChecker(probes, LocalBackend())
    try:
        started = time.monotonic()
        rows = await checker.check_all()
        elapsed = time.monotonic() - started
    finally:
        await checker.close()
    assert [r.name for r in rows] == ["slow", "api", "api/database", "api/cache", "closed"]
    assert [r.state for r in rows] == ["fail", "ok", "ok", "ok", "fail"]
    assert elapsed < 1.0


def test_the_tls_context_is_built_once_off_the_event_loop_thread(monkeypatch):
    """httpx reads the CA bundle to build it (~80 ms): never on the UI's thread."""
    import threading

    import httpx

    import cockpit.core.http_clients as http_clients

    built: list[str] = []
    real = httpx.create_ssl_context

    def spy(*args, **kwargs):
        built.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(http_clients, "_context", None)
    monkeypatch.setattr(http_clients.httpx, "create_ssl_context", spy)

    async def main() -> None:
        first = await http_clients.async_client()
        second = await http_clients.async_client()
        await first.aclose()
        await second.aclose()

    asyncio.run(main())
    assert len(built) == 1 and built[0] != threading.main_thread().name


async def test_a_reply_over_the_body_cap_says_so(http: HttpFixture) -> None:
    """It said 'invalid JSON: ... column 1048577' (the cut body), not why."""
    (row,) = await run_probe(_probe(http.url + "/huge"))
    assert row.state == "fail"
    assert "over the 1 MB cap" in row.reason and "invalid JSON" not in row.reason


async def test_targets_of_one_name_are_told_apart_by_id() -> None:
    from cockpit.core.backends.base import Backend, Capability, Health, Target
    from cockpit.core.config.models import TargetProbe
    from cockpit.core.sources.health import run_probe

    class Two(Backend):
        kind = "two"
        capabilities = Capability.TARGETS

        async def start(self, spec):  # pragma: no cover - not used
            raise AssertionError

        async def list_targets(self):
            return [Target("11", "sleep", "process", "sleeping", health=Health("ok", "up")),
                    Target("12", "sleep", "process", "zombie", health=Health("fail", "z")),
                    Target("13", "web", "process", "running", health=Health("ok", "up"))]

    rows = await run_probe(TargetProbe(kind="target", name="procs"), backend=Two())
    assert [r.name for r in rows] == ["procs", "procs/sleep (11)", "procs/sleep (12)",
                                      "procs/web"]
    assert rows[0].state == "fail" and "sleep (12)" in rows[0].reason
