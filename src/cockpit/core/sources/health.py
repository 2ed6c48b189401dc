"""Health probes: HTTP (status, JSON expectations, nested sub-checks), TCP and command.

Every probe is bounded by its own timeout and never raises: a failure is a
``HealthRow`` in state ``fail`` with a short reason fit for a table cell. Every row's
name and reason come from outside (a reply's sub-check names, a command's stderr, an
error message): ``HealthChecker`` passes them through the boundary (secrets redacted,
escapes made visible, lengths bounded) before anyone sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    Target,
    missing_target,
)
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import (
    AlertsProbe,
    CommandProbe,
    HttpProbe,
    TargetProbe,
    TcpProbe,
)
from cockpit.core.errors import CockpitError
from cockpit.core.http_clients import async_client
from cockpit.core.lazy import LazyModule

if TYPE_CHECKING:
    import httpx
else:  # imported by the first HTTP probe (a forked child may run the first round)
    httpx = LazyModule("httpx", globals())

HealthState = Literal["ok", "fail", "unknown"]
AnyProbe = HttpProbe | TcpProbe | CommandProbe | TargetProbe | AlertsProbe

#: Largest health response body read; the rest is ignored.
MAX_BODY_BYTES = 1 << 20
_REASON_MAX = 200
_MISSING = object()
#: what ``resolve_path`` returns for a path the document does not have
MISSING = _MISSING


@dataclass(slots=True)
class HealthRow:
    """One line of the health table: a probe, or one sub-check of an HTTP probe."""

    name: str
    state: HealthState
    latency_ms: float | None
    reason: str
    checked_at: float  #: ``time.time()`` when the check finished
    parent: str | None = None  #: the probe's name, for a sub-check row
    details: str = ""  #: more than the reason (an alert's labels), for detail views


def safe_rows(rows: Iterable[HealthRow], boundary: Boundary) -> list[HealthRow]:
    """``rows`` with their names, parents, reasons and details through ``boundary``."""
    line = boundary.line
    return [
        HealthRow(line(r.name), r.state, r.latency_ms, line(r.reason), r.checked_at,
                  None if r.parent is None else line(r.parent),
                  line(r.details) if r.details else "")
        for r in rows
    ]


def _short(text: str, limit: int = _REASON_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timeout_reason(seconds: float) -> str:
    """The reason of a probe's row when it ran out of its ``seconds``."""
    return f"timed out after {seconds:.1f}s"


def _is_httpx(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is httpx's ``name`` error; without importing httpx (~20 ms on the
    UI thread at a TCP probe's first failure): if it is not imported, it is not."""
    module = sys.modules.get("httpx")
    return module is not None and isinstance(exc, getattr(module, name))


def describe_error(exc: BaseException, timeout: float | None = None) -> str:
    """A short, user-facing reason for a network error (httpx or socket level)."""
    if isinstance(exc, TimeoutError) or _is_httpx(exc, "TimeoutException"):
        return timeout_reason(timeout) if timeout is not None else "timed out"
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for err in chain:
        if isinstance(err, ConnectionRefusedError) or (
            isinstance(err, OSError) and err.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(err, socket.gaierror):
            return "DNS lookup failed"
    text = " ".join(str(e) for e in chain).lower()
    if "connection refused" in text or "errno 111" in text:
        return "connection refused"
    if any(
        hint in text
        for hint in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "no address associated",
            "getaddrinfo failed",
        )
    ):
        return "DNS lookup failed"
    if "connection reset" in text:
        return "connection reset"
    if _is_httpx(exc, "RemoteProtocolError"):
        return _short(f"protocol error: {exc}")
    if _is_httpx(exc, "ConnectError"):
        return _short(f"connection failed: {exc}" if str(exc) else "connection failed")
    message = str(exc) or type(exc).__name__
    return _short(message)


# --- JSON helpers ------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def resolve_path(doc: Any, path: str) -> Any:
    """Follow a dotted path (``a.b.0.c``) through dicts and lists; ``_MISSING`` if absent."""
    cur = doc
    for part in path.split(".") if path else []:
        if isinstance(cur, dict):
            if part not in cur:
                return _MISSING
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return cur


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return actual.casefold() == expected.casefold()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    return actual == expected


def _show(value: Any) -> str:
    return _short(json.dumps(value, ensure_ascii=False, default=str), 60)


def _check_expectations(doc: Any, expect: dict[str, Any]) -> str | None:
    """The first unmet ``expect_json`` entry as a reason, or None when all hold."""
    for path, expected in expect.items():
        actual = resolve_path(doc, path)
        if actual is _MISSING:
            if not isinstance(doc, dict | list):
                return f"expected a JSON object, got {_json_type(doc)}"
            if isinstance(doc, list) and not path.split(".")[0].isdigit():
                return "expected a JSON object, got array"
            return f"missing {path!r}"
        options = expected if isinstance(expected, list) else [expected]
        if not any(_matches(actual, option) for option in options):
            want = _show(expected) if len(options) == 1 else "one of " + _show(options)
            return f"{path} is {_show(actual)}, expected {want}"
    return None


def _is_healthy(value: str, healthy: set[str]) -> bool:
    return value.strip().casefold() in healthy


def _sub_state(value: Any, healthy: set[str]) -> tuple[HealthState, str, float | None]:
    """State, reason and latency of one sub-check value (a string, bool or object)."""
    latency: float | None = None
    detail = ""
    status: Any = value
    if isinstance(value, dict):
        status = _MISSING
        for key in ("status", "state", "health", "healthy", "ok"):
            if key in value:
                status = value[key]
                break
        for key in ("detail", "details", "message", "error", "reason", "output"):
            if isinstance(value.get(key), str) and value[key]:
                detail = value[key]
                break
        for key in ("latency_ms", "duration_ms", "time_ms"):
            if isinstance(value.get(key), int | float) and not isinstance(value[key], bool):
                latency = float(value[key])
                break
    if isinstance(status, bool):
        state: HealthState = "ok" if status else "fail"
        text = "healthy" if status else "unhealthy"
    elif isinstance(status, str):
        state = "ok" if _is_healthy(status, healthy) else "fail"
        text = status
    elif status is _MISSING:
        return "unknown", _short(detail or "no status"), latency
    else:
        return "unknown", _short(f"status {_show(status)}"), latency
    reason = text if not detail else f"{text}: {detail}"
    return state, _short(reason), latency


def _iter_checks(checks: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(checks, dict):
        yield from ((str(k), v) for k, v in checks.items())
    elif isinstance(checks, list):
        for i, item in enumerate(checks):
            if isinstance(item, dict):
                name = item.get("name") or item.get("id") or item.get("component") or str(i)
                yield str(name), item


# --- probes ------------------------------------------------------------------------------


def _row(name: str, state: HealthState, latency: float | None, reason: str,
         parent: str | None = None, details: str = "") -> HealthRow:
    return HealthRow(name, state, latency, reason, time.time(), parent, details)


async def _read_body(response: httpx.Response) -> tuple[bytes, bool]:
    """The body, at most ``MAX_BODY_BYTES``, and whether it went on past that cap."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:MAX_BODY_BYTES], True
    return b"".join(chunks), False


async def _http_probe(probe: HttpProbe, client: httpx.AsyncClient) -> list[HealthRow]:
    started = time.perf_counter()
    async with client.stream(
        probe.method, probe.url, headers=probe.headers, timeout=probe.timeout
    ) as response:
        body, over_cap = await _read_body(response)
    latency = (time.perf_counter() - started) * 1000.0
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    declared_json = content_type == "application/json" or content_type.endswith("+json")
    needs_json = bool(probe.expect_json)
    status_ok = response.status_code in probe.expect_status
    reasons: list[str] = []
    if not status_ok:
        reasons.append(f"HTTP {response.status_code}")

    doc: Any = _MISSING
    stripped = body.lstrip()
    if over_cap:
        reasons.append(f"reply over the {MAX_BODY_BYTES >> 20} MB cap: not read further")
    elif declared_json or needs_json or stripped[:1] in (b"{", b"["):
        try:
            doc = json.loads(body)
        except ValueError as exc:
            if declared_json or (needs_json and stripped[:1] in (b"{", b"[")):
                reasons.append(_short(f"invalid JSON: {exc}", 80))
            elif needs_json:
                shown = content_type or "no content type"
                reasons.append(f"expected JSON, got {shown}")
    rows: list[HealthRow] = []
    if doc is not _MISSING:
        if needs_json:
            problem = _check_expectations(doc, probe.expect_json)
            if problem:
                reasons.append(problem)
        healthy = {v.strip().casefold() for v in probe.healthy_values}
        if isinstance(doc, dict):
            top = doc.get("status", _MISSING)
            if isinstance(top, str) and not _is_healthy(top, healthy) and not (
                needs_json and "status" in probe.expect_json
            ):
                # the reply's own words where it gives them ({"status": "unavailable",
                # "reason": "supervisor governance_sup not running"})
                why = next((doc[key] for key in ("reason", "message", "error", "detail")
                            if isinstance(doc.get(key), str) and doc[key].strip()), "")
                reasons.append(f"status {_show(top)}" + (f": {why}" if why else ""))
        if probe.checks_field:
            checks = resolve_path(doc, probe.checks_field)
            for sub, value in _iter_checks(checks if checks is not _MISSING else None):
                state, reason, sub_latency = _sub_state(value, healthy)
                rows.append(_row(f"{probe.name}/{sub}", state, sub_latency, reason, probe.name))
    if reasons:
        main = _row(probe.name, "fail", latency, _short("; ".join(reasons)))
    else:
        main = _row(probe.name, "ok", latency, f"HTTP {response.status_code}")
    return [main, *rows]


async def _tcp_probe(probe: TcpProbe) -> list[HealthRow]:
    started = time.perf_counter()
    _reader, writer = await asyncio.open_connection(probe.host, probe.port)
    latency = (time.perf_counter() - started) * 1000.0
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return [_row(probe.name, "ok", latency, f"connected to {probe.host}:{probe.port}")]


async def _command_probe(probe: CommandProbe, backend: Backend) -> list[HealthRow]:
    spec = CommandSpec(argv=list(probe.run) if probe.run else None, script=probe.script,
                       timeout=probe.timeout)
    started = time.perf_counter()
    execution: Execution = await backend.start(spec)
    last_out = last_err = ""
    try:
        async for line in execution.lines():
            text = line.text.strip()
            if text:
                if line.stream == "stderr":
                    last_err = text
                else:
                    last_out = text
        result = await execution.wait()
    except BaseException:
        with contextlib.suppress(Exception):
            await execution.cancel()
        raise
    latency = (time.perf_counter() - started) * 1000.0
    last = last_err or last_out
    if result.error:
        return [_row(probe.name, "fail", None, _short(result.error))]
    if result.timed_out:
        return [_row(probe.name, "fail", latency, timeout_reason(probe.timeout))]
    if result.cancelled or result.exit_code is None:
        return [_row(probe.name, "fail", latency, "cancelled")]
    if result.exit_code == 0:
        return [_row(probe.name, "ok", latency, _short(last_out or "exit 0"))]
    reason = f"exit {result.exit_code}" + (f": {last}" if last else "")
    return [_row(probe.name, "fail", latency, _short(reason))]


def format_span(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def target_state(target: Target, now: float | None = None) -> tuple[HealthState, str]:
    """A target's health as its backend computed it; the reason adds the uptime, the
    restarts and the image (generic fields)."""
    now = time.time() if now is None else now
    parts = [target.health.reason or target.state]
    if target.started_at is not None:
        parts.append(f"up {format_span(now - target.started_at)}")
    elif target.finished_at is not None:
        parts.append(f"ended {format_span(now - target.finished_at)} ago")
    if target.restarts:
        parts.append(f"{target.restarts} restart{'s' if target.restarts != 1 else ''}")
    if target.image:
        parts.append(f"image {target.image}")
    return target.health.state, _short(" · ".join(p for p in parts if p))


async def _target_probe(probe: TargetProbe, backend: Backend | None) -> list[HealthRow]:
    if backend is None or not backend.capabilities & Capability.TARGETS:
        kind = backend.kind if backend is not None else "none"
        return [_row(probe.name, "fail", None, f"the {kind} backend has no targets")]
    try:
        await backend.ensure_connected()
        targets = await backend.list_targets() if probe.targets or not probe.selector \
            else []  # docker: a cached list, so no latency
        picked = await backend.select_targets(probe.selector) if probe.selector else []
    except CockpitError as exc:
        return [_row(probe.name, "fail", None, _short(str(exc)))]
    if probe.selector and not picked and not probe.targets:
        return [_row(probe.name, "fail", None,
                     _short(f"no {backend.target_noun}s match {probe.selector}"))]
    if probe.selector and not probe.targets:
        chosen = picked
    elif probe.targets:
        wanted = set(probe.targets)
        chosen = [t for t in targets if wanted & {t.name, *t.aliases}]
        seen = {name for t in chosen for name in (t.name, *t.aliases)}
        chosen += [missing_target(name, backend.target_noun)
                   for name in probe.targets if name not in seen]
        ids = {t.id for t in chosen}
        chosen += [t for t in picked if t.id not in ids]
    else:
        chosen = targets
    now = time.time()
    rows = []
    names = [t.name for t in chosen]
    scoped = [(t.name, t.scope) for t in chosen]
    for target in chosen:
        state, reason = target_state(target, now)
        # Names can repeat (two processes called "sleep", one service in two regions):
        # then the scope tells them apart where it can, else the id.
        label = target.name if names.count(target.name) == 1 or not target.id \
            else f"{target.name} ({target.scope})" if target.scope \
            and scoped.count((target.name, target.scope)) == 1 \
            else f"{target.name} ({target.id})"
        rows.append(_row(f"{probe.name}/{label}", state, None, reason, probe.name))
    bad = [r for r in rows if r.state == "fail"]
    if not chosen:
        main = _row(probe.name, "fail", None, f"no {backend.target_noun}s")
    elif bad:
        names = ", ".join(r.name.split("/", 1)[1] for r in bad)
        main = _row(probe.name, "fail", None, _short(f"{len(bad)} of {len(rows)} not ok: {names}"))
    elif unknown := [r for r in rows if r.state == "unknown"]:
        names = ", ".join(r.name.split("/", 1)[1] for r in unknown)
        main = _row(probe.name, "unknown", None,
                    _short(f"{len(unknown)} of {len(rows)} not known yet: {names}"))
    else:
        main = _row(probe.name, "ok", None, f"{len(rows)} ok")
    return [main, *rows]


async def _alerts_probe(probe: AlertsProbe, client: httpx.AsyncClient) -> list[HealthRow]:
    from cockpit.core.sources import alerts as am

    try:
        found, latency = await am.fetch_alerts(probe, client)
    except am.AlertsError as exc:
        return [_row(probe.name, "fail", None, _short(str(exc)))]
    shown = found[:am.MAX_ALERT_ROWS]
    rows = [
        _row(f"{probe.name}/{name}", "fail" if alert.state == "firing" else "unknown", None,
             _short(("pending: " if alert.state == "pending" else "")
                    + (alert.summary or alert.state)),
             probe.name, am.label_text(alert.labels))
        for alert, name in zip(shown, am.row_names(shown), strict=True)
    ]
    firing = [a for a in found if a.state == "firing"]
    more = f" (+{len(found) - len(shown)} not shown)" if len(found) > len(shown) else ""
    if firing:
        names = ", ".join(dict.fromkeys(a.name for a in firing))
        count = f"{len(firing)} alert{'s' if len(firing) != 1 else ''} firing"
        main = _row(probe.name, "fail", latency, _short(f"{count}: {names}{more}"))
    elif found:
        main = _row(probe.name, "unknown", latency, f"{len(found)} pending{more}")
    else:
        main = _row(probe.name, "ok", latency, "no alerts firing")
    return [main, *rows]


async def run_probe(
    probe: AnyProbe,
    *,
    client: httpx.AsyncClient | None = None,
    backend: Backend | None = None,
) -> list[HealthRow]:
    """Run one probe, bounded by its timeout: its row, then one row per sub-check."""
    own_client: httpx.AsyncClient | None = None
    try:
        slack = 1.0 if probe.kind in ("command", "target") else 0.0
        async with asyncio.timeout(probe.timeout + slack):
            if isinstance(probe, HttpProbe | AlertsProbe):
                if client is None:
                    client = own_client = await async_client()
                if isinstance(probe, AlertsProbe):
                    return await _alerts_probe(probe, client)
                return await _http_probe(probe, client)
            if isinstance(probe, TcpProbe):
                return await _tcp_probe(probe)
            if isinstance(probe, TargetProbe):
                return await _target_probe(probe, backend)
            if backend is None:
                return [_row(probe.name, "fail", None, "no backend to run the command")]
            return await _command_probe(probe, backend)
    except TimeoutError:
        return [_row(probe.name, "fail", None, timeout_reason(probe.timeout))]
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a probe never raises into the caller
        if _is_httpx(exc, "TimeoutException"):
            return [_row(probe.name, "fail", None, timeout_reason(probe.timeout))]
        return [_row(probe.name, "fail", None, describe_error(exc, probe.timeout))]
    finally:
        if own_client is not None:
            with contextlib.suppress(Exception):
                await own_client.aclose()


class HealthChecker:
    """Runs a profile's probes concurrently with one shared HTTP client; every row it
    returns has passed ``boundary`` (default: one with the environment's secrets)."""

    def __init__(self, probes: Sequence[AnyProbe], backend: Backend | None = None,
                 *, boundary: Boundary | None = None) -> None:
        self.probes = list(probes)
        self.backend = backend
        self.boundary = boundary if boundary is not None else Boundary()
        self._client: httpx.AsyncClient | None = None

    async def client(self) -> httpx.AsyncClient:
        if self._client is None:
            client = await async_client(
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10)
            )
            if self._client is None:
                self._client = client
            else:  # another probe made one meanwhile
                await client.aclose()
        return self._client

    async def check(self, probe: AnyProbe) -> list[HealthRow]:
        """Run one probe (the caller may schedule each probe on its own interval)."""
        client = await self.client() if isinstance(probe, HttpProbe | AlertsProbe) else None
        rows = await run_probe(probe, client=client, backend=self.backend)
        return safe_rows(rows, self.boundary)

    async def check_all(self) -> list[HealthRow]:
        """Every probe at once; rows in probe order, each probe followed by its sub-checks."""
        results = await asyncio.gather(*(self.check(p) for p in self.probes))
        return [row for rows in results for row in rows]

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
