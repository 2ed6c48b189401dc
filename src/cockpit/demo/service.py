"""The demo HTTP service, modelled on techno-os-backend: /health, /process, /metrics, /chaos.

One process, stdlib ``ThreadingHTTPServer``. It writes ``audit.jsonl`` (decision_audit and
action_audit records, one ``write`` each), ``demo.log`` (levelled text, rotated to
``demo.log.1``) and ``demo.json`` (pid, port, ...), and keeps active faults in ``chaos.json``.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import http.client
import os
import random
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from cockpit.demo.settings import (
    ENV_LOG_STDOUT,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PORT_BUSY,
    EXIT_USAGE,
    MAX_PAYLOAD_BYTES,
    PROFILE_HASH,
    VERSION,
    DemoPaths,
    env_enabled,
    key_hash,
    key_hint,
    read_json,
    remove_quietly,
    valid_token,
    write_json_atomic,
)

FAULTS = ("latency", "errors", "crash", "audit-sink")
EXECUTORS = ("executor-1", "executor-2", "executor-3")
EXECUTOR_TIMEOUT_S = 2.0
HEARTBEAT_S = 10.0
DRAIN_LIMIT = 64 * 1024  #: bodies up to this size are read (and dropped) to keep the connection
QUEUE_DEGRADED, QUEUE_UNHEALTHY = 32, 128


def utc_now_iso() -> str:
    """``2026-11-22T07:45:45.123456+00:00``."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class LineLog:
    """Levelled text lines (``<ts> LEVEL message``), one ``write`` each, rotated past a size."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self._echo = env_enabled(ENV_LOG_STDOUT, default=False)

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, level: str, message: str) -> None:
        """Append one line; logging never raises."""
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        data = f"{stamp} {level:<5} {message}\n".encode("utf-8", "replace")
        with self._lock:
            try:
                if self._moved():
                    os.close(self._fd)
                    self._fd = self._open()
                    self._size = os.fstat(self._fd).st_size
                if self._size and self._size + len(data) > self.max_bytes:
                    os.close(self._fd)
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    self._fd = self._open()
                    self._size = 0
                os.write(self._fd, data)
                self._size += len(data)
            except OSError:
                pass
            if self._echo:
                with contextlib.suppress(OSError):
                    os.write(1, data)

    def _moved(self) -> bool:
        """Whether the file was deleted or renamed by someone else."""
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return True

    def info(self, message: str) -> None:
        self.write("INFO", message)

    def warn(self, message: str) -> None:
        self.write("WARN", message)

    def error(self, message: str) -> None:
        self.write("ERROR", message)


class AuditSinkError(Exception):
    """An audit record could not be written."""


class AuditSink:
    """``audit.jsonl``: one compact JSON object per line, each written with one ``write``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fault = False  #: the ``audit-sink`` chaos fault: every write fails
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self._last_error: tuple[float, str] | None = None

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record; ``AuditSinkError`` when it could not be written."""
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            try:
                if self.fault:
                    raise OSError(errno.EIO, "injected I/O error (chaos fault audit-sink)")
                if os.write(self._current_fd(), line) != len(line):
                    raise OSError(errno.EIO, "short write")
            except OSError as exc:
                self._last_error = (time.monotonic(), exc.strerror or str(exc))
                raise AuditSinkError(self._last_error[1]) from exc
            self._last_error = None

    def _current_fd(self) -> int:
        """The open file, reopened when it was moved or deleted."""
        try:
            ino: int | None = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = None
        if self._fd is not None and ino == self._ino:
            return self._fd
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._ino = os.fstat(self._fd).st_ino
        return self._fd

    def reset(self) -> None:
        """Forget the last failure (after a fault is cleared)."""
        with self._lock:
            self._last_error = None

    def health(self) -> tuple[str, str | None]:
        """``(state, detail)`` for the ``audit_sink`` health check."""
        if self.fault:
            return "unhealthy", "audit writes failing: injected I/O error"
        last = self._last_error
        if last and time.monotonic() - last[0] < 30:
            return "unhealthy", f"last audit write failed: {last[1]}"
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            return "unhealthy", f"audit log not writable: {exc.strerror or exc}"
        return "healthy", None


class RateLimiter:
    """Token buckets per key: ``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._lock = threading.Lock()
        self._buckets: dict[object, tuple[float, float]] = {}

    def allow(self, key: object) -> bool:
        """Take one token from ``key``'s bucket if there is one."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > 4096:  # forget buckets that have refilled anyway
                idle = self.burst / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < idle}
        return allowed


class Chaos:
    """Active faults; all but ``crash`` are kept in ``chaos.json`` and survive a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._faults: dict[str, Any] = {}

    @staticmethod
    def normalize(kind: object, value: object) -> Any:
        """The fault's value with defaults and bounds applied; ``ValueError`` if invalid."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULTS)}")
        if kind == "audit-sink":
            return True
        defaults = {"latency": 800, "errors": 0.5, "crash": 0.2}
        bounds = {"latency": (1, 60_000), "errors": (0.01, 1.0), "crash": (0.0, 10.0)}
        if value is None or value is True:
            return defaults[kind]
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"fault {kind}: value must be a number, got {value!r}") from None
        lo, hi = bounds[kind]
        if not lo <= number <= hi:
            raise ValueError(f"fault {kind}: value {number:g} outside {lo:g}..{hi:g}")
        return int(number) if kind == "latency" else number

    def load(self) -> list[str]:
        """Restore faults from ``chaos.json``; returns their names."""
        data = read_json(self.path) or {}
        faults = data.get("faults") if isinstance(data.get("faults"), dict) else {}
        with self._lock:
            for kind, value in faults.items():
                with contextlib.suppress(ValueError):
                    if kind != "crash":
                        self._faults[kind] = self.normalize(kind, value)
            return sorted(self._faults)

    def get(self, kind: str) -> Any:
        return self._faults.get(kind)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._faults)

    def set(self, kind: str, value: Any) -> None:
        with self._lock:
            self._faults[kind] = value
            self._persist()

    def clear(self, kind: str | None = None) -> list[str]:
        """Remove one fault or all; returns the names removed."""
        with self._lock:
            gone = sorted(self._faults) if kind is None else [kind] if kind in self._faults else []
            for name in gone:
                del self._faults[name]
            self._persist()
            return gone

    def _persist(self) -> None:
        lasting = {k: v for k, v in self._faults.items() if k != "crash"}
        if lasting:
            write_json_atomic(self.path, {"faults": lasting, "updated_at": utc_now_iso()})
        else:
            remove_quietly(self.path)


class Metrics:
    """The service's own prometheus registry."""

    def __init__(self, service: DemoService) -> None:
        reg = self.registry = CollectorRegistry()
        self.requests = Counter("demo_requests", "Requests to /process by HTTP status and decision",
                                ["status", "decision"], registry=reg)
        self.latency = Histogram("demo_request_latency_seconds", "Latency of /process",
                                 buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                          2.5, 5.0), registry=reg)
        self.audit_records = Counter("demo_audit_records", "Audit records written",
                                     ["event_type"], registry=reg)
        self.audit_failures = Counter("demo_audit_failures", "Audit writes that failed",
                                      registry=reg)
        self.executions = Counter("demo_executions", "Executions by executor and status",
                                  ["executor_id", "status"], registry=reg)
        Gauge("demo_queue_depth", "Requests in flight", registry=reg).set_function(
            lambda: service.inflight)
        Gauge("demo_qek_score", "Quality score (meta-salvage QEK); alert below 0.85",
              registry=reg).set_function(service.qek_score)
        Gauge("demo_hvar", "Output variance (HVAR); alert above 0.10",
              registry=reg).set_function(service.hvar)
        Gauge("demo_uptime_seconds", "Seconds since start", registry=reg).set_function(
            lambda: time.monotonic() - service.started)
        Gauge("demo_up", "1 while the service runs", registry=reg).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class DemoService:
    """The request handling, health, chaos and background threads of one demo instance."""

    def __init__(self, paths: DemoPaths, host: str, port: int, api_key: str, *,
                 traffic: bool, rate_limit: float, log_max_bytes: int) -> None:
        self.paths = paths
        self.host = host
        self.port = port
        self.traffic = traffic
        self.rate_limit = rate_limit
        self.started = time.monotonic()
        self.log = LineLog(paths.log, log_max_bytes)
        self.audit = AuditSink(paths.audit)
        self.chaos = Chaos(paths.chaos)
        self.limiter = RateLimiter(rate_limit, max(1.0, rate_limit))
        self.metrics = Metrics(self)
        self.inflight = 0
        self._key = api_key
        self._key_hash = key_hash(api_key)
        self._lock = threading.Lock()
        self._next_executor = 0
        self._counts = {"requests": 0, "allow": 0, "deny": 0, "failed": 0}
        self._health_status = "healthy"
        self._stop = threading.Event()
        self._signal: int | None = None
        self._rng = random.Random()

    # ---- domain metrics -------------------------------------------------------------------
    def qek_score(self) -> float:
        errors = self.chaos.get("errors")
        base = 0.93 - 0.3 * errors if errors else 0.93
        return round(base + self._rng.uniform(-0.008, 0.008), 4)

    def hvar(self) -> float:
        latency = self.chaos.get("latency")
        base = 0.14 + min(0.2, latency / 10_000) if latency else 0.04
        return round(base + self._rng.uniform(-0.004, 0.004), 4)

    # ---- /health --------------------------------------------------------------------------
    def health(self) -> tuple[int, dict[str, Any]]:
        latency = self.chaos.get("latency")
        if latency:
            self._stop.wait(latency / 1000)
        checks: dict[str, str] = {}
        details: dict[str, str] = {}

        def check(name: str, state: str, detail: str | None = None) -> None:
            checks[name] = state
            if detail:
                details[name] = detail

        check("database", *(("degraded", f"queries slowed by ~{latency} ms") if latency
                            else ("healthy", None)))
        check("audit_sink", *self.audit.health())
        errors = self.chaos.get("errors")
        if errors:
            check("executor", "unhealthy" if errors >= 1.0 else "degraded",
                  f"{errors:.0%} of executions failing")
        elif latency and latency / 1000 >= EXECUTOR_TIMEOUT_S:
            check("executor", "degraded", f"executions time out after {EXECUTOR_TIMEOUT_S:g} s")
        else:
            check("executor", "healthy")
        depth = self.inflight
        if depth > QUEUE_UNHEALTHY:
            check("queue", "unhealthy", f"{depth} requests in flight")
        elif depth > QUEUE_DEGRADED:
            check("queue", "degraded", f"{depth} requests in flight")
        else:
            check("queue", "healthy")
        states = set(checks.values())
        status = "healthy" if states == {"healthy"} else "degraded"
        code = 503 if "unhealthy" in states else 200
        if status != self._health_status:
            bad = " ".join(f"{k}={v}" for k, v in checks.items() if v != "healthy")
            (self.log.info if status == "healthy" else self.log.warn)(
                f"health status={status} was={self._health_status} {bad}".rstrip())
            self._health_status = status
        body: dict[str, Any] = {
            "status": status,
            "timestamp": utc_now_iso(),
            "version": VERSION,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "checks": checks,
        }
        if details:
            body["details"] = details
        return code, body

    # ---- /process -------------------------------------------------------------------------
    def process(self, headers: Mapping[str, str], body: bytes | None,
                length: int) -> tuple[int, dict[str, Any]]:
        """Gate, audit and execute one request; returns (HTTP status, JSON body)."""
        t0 = time.perf_counter()
        trace_id = headers.get("X-TRACE-ID")
        if not valid_token(trace_id):
            if trace_id:
                self.log.warn(f"invalid X-TRACE-ID header replaced (length {len(trace_id)})")
            trace_id = str(uuid.uuid4())
        client = headers.get("X-Client-ID")
        client = client if client and valid_token(client, 64) else "default"
        with self._lock:
            self.inflight += 1
        try:
            code, payload = self._process(headers, body, length, trace_id, client, t0)
        finally:
            with self._lock:
                self.inflight -= 1
        elapsed = time.perf_counter() - t0
        self.metrics.latency.observe(elapsed)
        self.metrics.requests.labels(str(code), payload["decision"]).inc()
        with self._lock:
            self._counts["requests"] += 1
            kind = "allow" if code == 200 else "failed" if code >= 500 else "deny"
            self._counts[kind] += 1
        return code, payload

    def _process(self, headers: Mapping[str, str], body: bytes | None, length: int,
                 trace_id: str, client: str, t0: float) -> tuple[int, dict[str, Any]]:
        presented = headers.get("X-API-Key")
        presented_hash = key_hash(presented) if presented else None
        action: str | None = None
        event: str | None = None
        code, reasons, error = 200, [], ""
        if presented_hash is None or not hmac.compare_digest(presented_hash, self._key_hash):
            code, reasons, error = 401, ["G2_INVALID_API_KEY"], "missing or invalid API key"
        elif length > MAX_PAYLOAD_BYTES:
            code, reasons = 413, ["G7_PAYLOAD_LIMIT_EXCEEDED"]
            error = f"payload of {length} bytes exceeds {MAX_PAYLOAD_BYTES} bytes"
        elif not self.limiter.allow((presented_hash, client)):
            code, reasons = 429, ["G10_RATE_LIMIT_EXCEEDED"]
            error = f"rate limit of {self.rate_limit:g} requests/s exceeded"
        else:
            try:
                data = orjson.loads(body or b"")
                action, event = data["action"], data["event_type"]
                if not (isinstance(action, str) and isinstance(event, str) and action and event):
                    raise TypeError
            except (orjson.JSONDecodeError, TypeError, KeyError):
                action = event = None
                code, reasons = 400, ["G1_MALFORMED_REQUEST"]
                error = 'body must be a JSON object with string "action" and "event_type"'
        allowed = code == 200
        executor_id = None
        if allowed:
            with self._lock:
                executor_id = EXECUTORS[self._next_executor % len(EXECUTORS)]
                self._next_executor += 1
        common = {"trace_id": trace_id, "api_key_hash": presented_hash, "action": action,
                  "request_event_type": event, "client_id": client}
        decision = "ALLOW" if allowed else "DENY"
        try:
            self._audit("decision_audit", decision, reasons, executor_id, None, t0, common)
        except AuditSinkError as exc:
            return self._sink_failed(trace_id, exc)
        if not allowed:
            self.log.warn(f"deny trace_id={trace_id} status={code} reasons={','.join(reasons)} "
                          f"client={client} key={key_hint(presented) if presented else 'none'} "
                          f"latency_ms={_ms(t0)}")
            return code, {"status_code": code, "trace_id": trace_id, "decision": "DENY",
                          "reason_codes": reasons, "error": error}
        assert executor_id is not None and action is not None
        status, reasons, code = self._execute()
        self.metrics.executions.labels(executor_id, status).inc()
        try:
            self._audit("action_audit", "ALLOW", reasons, executor_id, status, t0, common)
        except AuditSinkError as exc:
            return self._sink_failed(trace_id, exc)
        result = {"executor_id": executor_id, "status": status, "action": action,
                  "event_type": event}
        line = (f"trace_id={trace_id} status={code} action={action} executor={executor_id} "
                f"client={client} latency_ms={_ms(t0)}")
        payload: dict[str, Any] = {"status_code": code, "trace_id": trace_id,
                                   "decision": "ALLOW", "reason_codes": reasons,
                                   "result": result, "latency_ms": _ms(t0)}
        if status == "SUCCESS":
            result["output"] = {"processed": True, "body_bytes": length}
            self.log.info(f"request {line}")
        else:
            payload["error"] = f"execution {status.lower()}"
            self.log.error(f"failed {line} reasons={','.join(reasons)}")
        return code, payload

    def _execute(self) -> tuple[str, list[str], int]:
        """Simulated work on an executor: (status, reason codes, HTTP status)."""
        delay = self._rng.uniform(0.0005, 0.003) + (self.chaos.get("latency") or 0) / 1000
        if delay >= EXECUTOR_TIMEOUT_S:
            self._stop.wait(EXECUTOR_TIMEOUT_S)
            return "TIMEOUT", ["EXECUTOR_TIMEOUT"], 504
        self._stop.wait(delay)
        errors = self.chaos.get("errors")
        if errors and self._rng.random() < errors:
            return "FAILED", ["EXECUTOR_FAILED"], 500
        return "SUCCESS", [], 200

    def _audit(self, event_type: str, decision: str, reasons: list[str],
               executor_id: str | None, status: str | None, t0: float,
               common: Mapping[str, Any]) -> None:
        record = {"ts_utc": utc_now_iso(), "event_type": event_type, "decision": decision,
                  "reason_codes": reasons, "profile_hash": PROFILE_HASH,
                  "trace_id": common["trace_id"], "api_key_hash": common["api_key_hash"],
                  "executor_id": executor_id, "status": status, "latency_ms": _ms(t0),
                  "action": common["action"], "request_event_type": common["request_event_type"],
                  "client_id": common["client_id"]}
        try:
            self.audit.append(record)
        except AuditSinkError:
            self.metrics.audit_failures.inc()
            raise
        self.metrics.audit_records.labels(event_type).inc()

    def _sink_failed(self, trace_id: str, exc: AuditSinkError) -> tuple[int, dict[str, Any]]:
        self.log.error(f"audit_sink_failed trace_id={trace_id} status=500 error={exc}")
        return 500, {"status_code": 500, "trace_id": trace_id, "decision": "DENY",
                     "reason_codes": ["AUDIT_SINK_FAILED"],
                     "error": f"audit sink unavailable: {exc}"}

    # ---- /chaos ---------------------------------------------------------------------------
    def chaos_request(self, method: str, headers: Mapping[str, str],
                      body: bytes | None) -> tuple[int, dict[str, Any]]:
        presented = headers.get("X-API-Key")
        if not presented or not hmac.compare_digest(key_hash(presented), self._key_hash):
            return 401, {"error": "missing or invalid API key",
                         "reason_codes": ["G2_INVALID_API_KEY"]}
        if method == "GET":
            return 200, {"faults": self.chaos.snapshot()}
        if method == "DELETE":
            return 200, self._clear(None)
        try:
            data = orjson.loads(body or b"")
            if not isinstance(data, dict):
                raise TypeError
        except (orjson.JSONDecodeError, TypeError):
            return 400, {"error": 'body must be a JSON object: {"fault": ...} or {"clear": true}'}
        if "clear" in data:
            target = data["clear"]
            if target is True:
                return 200, self._clear(None)
            if target in FAULTS:
                return 200, self._clear(target)
            return 400, {"error": f'"clear" must be true or one of {", ".join(FAULTS)}'}
        kind = data.get("fault")
        try:
            value = Chaos.normalize(kind, data.get("value"))
        except ValueError as exc:
            return 400, {"error": str(exc)}
        self.chaos.set(str(kind), value)
        self._apply_faults()
        self.log.warn(f"chaos injected fault={kind} value={value}")
        if kind == "crash":
            timer = threading.Timer(value, self._crash)
            timer.daemon = True
            timer.start()
        return 200, {"injected": kind, "value": value, "faults": self.chaos.snapshot()}

    def _clear(self, kind: str | None) -> dict[str, Any]:
        cleared = self.chaos.clear(kind)
        self._apply_faults()
        if "audit-sink" in cleared:
            self.audit.reset()
        self.log.info(f"chaos cleared faults={','.join(cleared) or 'none'}")
        return {"cleared": cleared, "faults": self.chaos.snapshot()}

    def _apply_faults(self) -> None:
        self.audit.fault = self.chaos.get("audit-sink") is not None

    def _crash(self) -> None:
        self.log.error(f"fatal: injected crash, exiting with status 1 pid={os.getpid()}")
        print("cockpit-demo: injected crash, exiting with status 1", file=sys.stderr, flush=True)
        os._exit(1)

    # ---- lifecycle ------------------------------------------------------------------------
    def serve(self, server: ThreadingHTTPServer) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status."""
        import psutil

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.port = int(server.server_address[1])
        with contextlib.suppress(OSError):
            self.paths.audit.touch()  # exists (and is checkable) before the first request
        restored = self.chaos.load()
        self._apply_faults()
        url = f"http://{_client_host(self.host)}:{self.port}"
        write_json_atomic(self.paths.state, {
            "pid": os.getpid(), "port": self.port, "host": self.host, "url": url,
            "started_at": utc_now_iso(), "create_time": psutil.Process().create_time(),
            "api_key_hint": key_hint(self._key), "rate_limit_per_s": self.rate_limit,
            "max_payload_bytes": MAX_PAYLOAD_BYTES, "version": VERSION,
            "traffic": self.traffic, "state_dir": str(self.paths.root),
        })
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         name="http", daemon=True).start()
        self.log.info(f"started version={VERSION} url={url} pid={os.getpid()} "
                      f"key={key_hint(self._key)} rate_limit={self.rate_limit:g}/s "
                      f"traffic={'on' if self.traffic else 'off'} state_dir={self.paths.root}")
        if restored:
            self.log.warn(f"restored active faults from chaos.json: {','.join(restored)}")
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        if self.traffic:
            threading.Thread(target=self._traffic_loop, name="traffic", daemon=True).start()
        while not self._stop.wait(1.0):
            pass
        name = signal.Signals(self._signal).name if self._signal else "stop"
        self.log.info(f"shutdown signal={name} uptime_s={time.monotonic() - self.started:.1f}")
        server.shutdown()
        server.server_close()
        state = read_json(self.paths.state)
        if state and state.get("pid") == os.getpid():
            remove_quietly(self.paths.state)
        self.log.info("stopped")
        return EXIT_OK

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signal = signum
        self._stop.set()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                counts = " ".join(f"{k}={v}" for k, v in self._counts.items())
            faults = ",".join(self.chaos.snapshot()) or "none"
            self.log.info(f"heartbeat uptime_s={time.monotonic() - self.started:.0f} {counts} "
                          f"queue_depth={self.inflight} faults={faults}")

    def _traffic_loop(self) -> None:
        """A few requests a second to ourselves: mostly ALLOW, now and then a DENY or a burst."""
        rng = random.Random()
        conn: http.client.HTTPConnection | None = None
        actions = ("test_action", "sync_inventory", "score_batch", "reindex_documents")
        while not self._stop.wait(rng.uniform(0.2, 0.45)):
            roll = rng.random()
            key, client, count = self._key, "synthetic", 1
            body: dict[str, Any] = {"action": rng.choice(actions), "event_type": "test_event",
                                    "items": rng.randint(1, 50)}
            if roll < 0.05:
                key = f"wrong-key-{rng.randrange(1 << 32):08x}"
            elif roll < 0.08:
                body["blob"] = "x" * (MAX_PAYLOAD_BYTES + 1024)
            elif roll < 0.085:
                client, count = "synthetic-burst", int(2 * self.rate_limit) + 10
            data = orjson.dumps(body)
            for _ in range(count):
                if self._stop.is_set():
                    break
                conn = self._synthetic_request(conn, key, client, data)
        if conn is not None:
            conn.close()

    def _synthetic_request(self, conn: http.client.HTTPConnection | None, key: str, client: str,
                           data: bytes) -> http.client.HTTPConnection | None:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(_client_host(self.host), self.port, timeout=10)
            conn.request("POST", "/process", body=data, headers={
                "Content-Type": "application/json", "X-API-Key": key, "X-Client-ID": client,
                "X-TRACE-ID": str(uuid.uuid4())})
            resp = conn.getresponse()
            resp.read()
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        return conn


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def _client_host(host: str) -> str:
    """Where a local client should connect for a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"cockpit-demo/{VERSION}"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body go out as separate small writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Access logs go to demo.log through the service, not to stderr."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        svc = self.server.service
        path = self.path.split("?", 1)[0]
        try:
            if method == "GET" and path == "/health":
                self._json(*svc.health())
            elif method == "GET" and path == "/metrics":
                self._send(200, svc.metrics.exposition(), CONTENT_TYPE_LATEST)
            elif method == "POST" and path == "/process":
                length = self._content_length()
                if length is None:
                    return
                body = self._read_body(length)
                code, payload = svc.process(self.headers, body, length)
                self._json(code, payload, {"X-TRACE-ID": payload["trace_id"]})
            elif path == "/chaos":
                body = None
                if method == "POST":
                    length = self._content_length()
                    if length is None:
                        return
                    if length > MAX_PAYLOAD_BYTES:
                        self.close_connection = True
                        self._json(413, {"error": "body too large"})
                        return
                    body = self._read_body(length)
                self._json(*svc.chaos_request(method, self.headers, body))
            elif method == "GET" and path == "/":
                self._json(200, {"service": "cockpit-demo", "version": VERSION, "endpoints": [
                    "GET /health", "POST /process", "GET /metrics", "GET|POST|DELETE /chaos"]})
            else:
                self._json(404, {"error": f"no route {method} {path}"})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            svc.log.error(f"internal error method={method} path={path} "
                          f"error={type(exc).__name__}: {exc}")
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(500, {"error": "internal error"})

    def _content_length(self) -> int | None:
        """The request's Content-Length; None after answering 400/411 when unusable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._json(411, {"error": "Content-Length required"})
            return None
        raw = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw.isdigit():
            self.close_connection = True
            self._json(400, {"error": "bad Content-Length"})
            return None
        return int(raw)

    def _read_body(self, length: int) -> bytes | None:
        """The body, or None (and the connection closes) when it is too big to drain."""
        if length > DRAIN_LIMIT:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _json(self, code: int, payload: Mapping[str, Any],
              headers: Mapping[str, str] | None = None) -> None:
        self._send(code, orjson.dumps(payload), "application/json", headers)

    def _send(self, code: int, data: bytes, ctype: str,
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: DemoService) -> None:
        self.service = service
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        self.service.log.error(f"connection error client={client_address} error={exc!r}")


def _acquire_lock(paths: DemoPaths) -> int | None:
    """An exclusive ``flock`` on ``demo.lock`` (None if another instance holds it)."""
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def run(paths: DemoPaths, host: str, port: int, api_key: str, *, traffic: bool,
        rate_limit: float, log_max_bytes: int) -> int:
    """Run the service in this process until a signal; returns the exit status."""
    from cockpit.demo.portinfo import find_port_owner

    paths.ensure()
    lock = _acquire_lock(paths)
    if lock is None:
        state = read_json(paths.state) or {}
        print(f"cockpit-demo: another demo service already runs with state dir {paths.root} "
              f"(pid {state.get('pid', '?')}, port {state.get('port', '?')})", file=sys.stderr)
        return EXIT_LOCKED
    try:
        service = DemoService(paths, host, port, api_key, traffic=traffic,
                              rate_limit=rate_limit, log_max_bytes=log_max_bytes)
        try:
            server = _Server((host, port), service)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                owner = find_port_owner(port)
                who = f" by {owner.describe()}" if owner else ""
                message = f"port {port} is in use{who}"
                status = EXIT_PORT_BUSY
            else:
                message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                status = EXIT_USAGE
            service.log.error(f"startup failed: {message}")
            print(f"cockpit-demo: {message}", file=sys.stderr)
            return status
        return service.serve(server)
    finally:
        os.close(lock)
