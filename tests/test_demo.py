"""The demo service and its operations, end to end: real processes, real HTTP, real files."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cockpit.demo.settings import PROFILE_HASH, process_alive, read_json
from tests.support import free_port, read_jsonl, wait_until

KEY = "test-secret-key-4242"
KEY_HASH = hashlib.sha256(KEY.encode()).hexdigest()
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
BODY = {"action": "test_action", "event_type": "test_event"}


@dataclass
class Demo:
    """One isolated demo instance: its own state dir, port and environment."""

    root: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, port: bool = True, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``python -m cockpit.demo --state-dir ROOT [--port P] ARGS``."""
        argv = [sys.executable, "-m", "cockpit.demo", "--state-dir", str(self.root)]
        argv += ["--port", str(self.port)] if port else []
        full_env = {**os.environ, "COCKPIT_DEMO_API_KEY": KEY, "COCKPIT_DEMO_TRAFFIC": "0",
                    **self.env, **(env or {})}
        return subprocess.run([*argv, *args], capture_output=True, text=True, env=full_env,
                              timeout=timeout, check=False)

    def ok(self, *args: str, **kw: Any) -> str:
        result = self.run(*args, **kw)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, trust_env=False)

    def state(self) -> dict[str, Any] | None:
        return read_json(self.root / "demo.json")

    def audit(self) -> list[dict[str, Any]]:
        return read_jsonl(self.root / "audit.jsonl")  # the demo may be mid-write

    def by_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [r for r in self.audit() if r["trace_id"] == trace_id]

    def cleanup(self) -> None:
        self.run("stop", timeout=30)
        state = self.state()
        if state and process_alive(state["pid"]):
            os.kill(state["pid"], signal.SIGKILL)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """A demo instance that is not started; stopped (or killed) after the test."""
    instance = Demo(tmp_path / "demo", free_port())
    yield instance
    instance.cleanup()


@pytest.fixture
def running(demo: Demo) -> Demo:
    """A started demo instance, without synthetic traffic."""
    demo.ok("start")
    return demo


def post(client: httpx.Client, trace_id: str | None = None, key: str | None = KEY,
         body: Any = None, client_id: str | None = None, **extra: str) -> httpx.Response:
    headers = dict(extra)
    if key is not None:
        headers["X-API-Key"] = key
    if trace_id is not None:
        headers["X-TRACE-ID"] = trace_id
    if client_id is not None:
        headers["X-Client-ID"] = client_id
    return client.post("/process", json=BODY if body is None else body, headers=headers)


def chaos(client: httpx.Client, **payload: Any) -> httpx.Response:
    return client.post("/chaos", json=payload, headers={"X-API-Key": KEY})


def tid() -> str:
    return str(uuid.uuid4())


# ---- lifecycle -------------------------------------------------------------------------------
def test_start_status_restart_stop(demo: Demo) -> None:
    out = demo.ok("start")
    state = demo.state()
    assert state is not None
    assert f"pid {state['pid']}" in out and f"port {demo.port}" in out
    assert state["port"] == demo.port and state["host"] == "127.0.0.1"
    assert state["api_key_hint"].startswith("sha256:") and state["started_at"]

    status = demo.ok("status")
    assert f"pid: {state['pid']}" in status and "health: healthy (HTTP 200)" in status
    assert "rss:" in status and "uptime:" in status
    assert "already running" in demo.ok("start")

    # same state dir, another port: refused by the instance lock
    other = demo.run("serve", "--port", str(free_port()), port=False, timeout=20)
    assert other.returncode == 4 and str(state["pid"]) in other.stderr

    # restart without --port reuses the running instance's port
    assert "started demo service" in demo.ok("restart", port=False)
    new = demo.state()
    assert new is not None and new["pid"] != state["pid"] and new["port"] == demo.port
    assert not process_alive(state["pid"])
    with demo.client() as client:
        assert client.get("/health").status_code == 200

    assert "stopped demo service" in demo.ok("stop")
    assert demo.state() is None and not process_alive(new["pid"])
    assert "shutdown signal=SIGTERM" in (demo.root / "demo.log").read_text()
    not_running = demo.run("status")
    assert not_running.returncode == 1 and "not running" in not_running.stdout
    assert "not running" in demo.ok("stop")
    for name in ("demo.json", "demo.log", "demo.out", "audit.jsonl"):
        text = (demo.root / name).read_text() if (demo.root / name).exists() else ""
        assert KEY not in text, f"API key in clear in {name}"


def test_serve_is_fast_and_stops_cleanly_on_sigterm(demo: Demo) -> None:
    env = {**os.environ, "COCKPIT_DEMO_API_KEY": KEY, "COCKPIT_DEMO_TRAFFIC": "0"}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "cockpit.demo", "serve", "--state-dir",
                             str(demo.root), "--port", str(demo.port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"{demo.url}/health", trust_env=False).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=10, what="/health")
        elapsed = time.monotonic() - t0
        assert elapsed < 3.0, f"startup took {elapsed:.2f} s"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert demo.state() is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_busy_port_exits_3_naming_the_owner(demo: Demo) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", demo.port))
        holder.listen()
        for op in ("start", "serve"):
            result = demo.run(op, timeout=20)
            assert result.returncode == 3, (op, result.stdout, result.stderr)
            assert f"port {demo.port} is in use by pid {os.getpid()}" in result.stderr
        owner = demo.run("port-owner")
        assert owner.returncode == 0 and f"pid: {os.getpid()}" in owner.stdout


def test_port_owner(running: Demo) -> None:
    state = running.state()
    assert state is not None
    out = running.ok("port-owner")
    assert f"pid: {state['pid']}" in out and "cockpit.demo serve" in out
    assert "this is the demo service" in out
    nobody = running.run("port-owner", "--port", str(free_port()))
    assert nobody.returncode == 1 and "nobody is listening" in nobody.stdout


# ---- /health and faults ----------------------------------------------------------------------
def test_health_healthy_and_degraded_under_each_fault(running: Demo) -> None:
    with running.client() as client:
        resp = client.get("/health")
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "healthy"
        assert body["checks"] == {"database": "healthy", "audit_sink": "healthy",
                                  "executor": "healthy", "queue": "healthy"}
        assert TS_RE.match(body["timestamp"]) and body["version"] and body["uptime_s"] >= 0

        assert client.post("/chaos", json={"fault": "errors"}).status_code == 401
        assert chaos(client, fault="nope").status_code == 400
        assert chaos(client, fault="latency", value=-5).status_code == 400

        expected = [
            ({"fault": "latency", "value": 150}, 200, "database", "degraded"),
            ({"fault": "errors"}, 200, "executor", "degraded"),
            ({"fault": "errors", "value": 1.0}, 503, "executor", "unhealthy"),
            ({"fault": "audit-sink"}, 503, "audit_sink", "unhealthy"),
        ]
        for payload, code, check, state in expected:
            assert chaos(client, **payload).status_code == 200
            t0 = time.monotonic()
            resp = client.get("/health")
            body = resp.json()
            assert (resp.status_code, body["status"]) == (code, "degraded"), payload
            assert body["checks"][check] == state and body["details"][check], payload
            if payload["fault"] == "latency":
                assert time.monotonic() - t0 >= 0.15
            assert client.delete("/chaos", headers={"X-API-Key": KEY}).status_code == 200
            assert client.get("/health").json()["status"] == "healthy"
        assert client.get("/chaos", headers={"X-API-Key": KEY}).json() == {"faults": {}}


def test_faults_persist_across_restart_until_cleared(running: Demo) -> None:
    assert "injected fault latency" in running.ok("inject-fault", "--kind", "latency",
                                                  "--value", "100")
    running.ok("restart")
    with running.client() as client:
        assert client.get("/chaos", headers={"X-API-Key": KEY}).json()["faults"] == {
            "latency": 100}
    assert "cleared faults: latency" in running.ok("clear-faults")
    running.ok("inject-fault", "--kind", "errors")
    running.ok("stop")
    assert (running.root / "chaos.json").exists()
    assert "cleared persisted faults: errors" in running.ok("clear-faults")
    assert not (running.root / "chaos.json").exists()


def test_crash_fault_kills_the_service_and_restart_brings_it_back(running: Demo) -> None:
    state = running.state()
    assert state is not None
    assert "injected fault crash" in running.ok("inject-fault", "--kind", "crash")
    wait_until(lambda: not process_alive(state["pid"]), timeout=10, what="crash")
    status = running.run("status")
    assert status.returncode == 1 and "stale state file" in status.stdout
    assert "fatal: injected crash" in (running.root / "demo.log").read_text()
    running.ok("restart")
    new = running.state()
    assert new is not None and new["pid"] != state["pid"]
    with running.client() as client:
        assert client.get("/health").json()["status"] == "healthy"
        assert post(client).json()["decision"] == "ALLOW"


def test_audit_sink_fault_fails_requests_with_500(running: Demo) -> None:
    running.ok("inject-fault", "--kind", "audit-sink")
    with running.client() as client:
        before = len(running.audit())
        resp = post(client, tid())
        assert resp.status_code == 500
        assert resp.json()["reason_codes"] == ["AUDIT_SINK_FAILED"]
        assert len(running.audit()) == before
        assert client.get("/health").json()["checks"]["audit_sink"] == "unhealthy"
        smoke = running.run("smoke-test")
        assert smoke.returncode == 1 and "AUDIT_SINK_FAILED" in smoke.stdout
        running.ok("clear-faults")
        assert post(client, tid()).status_code == 200
        assert client.get("/health").status_code == 200


# ---- /process gates and the audit log --------------------------------------------------------
def test_process_allow_writes_decision_and_action_audit(running: Demo) -> None:
    trace = tid()
    with running.client() as client:
        resp = post(client, trace)
    body = resp.json()
    assert resp.status_code == 200 and resp.headers["X-TRACE-ID"] == trace
    assert body["status_code"] == 200 and body["decision"] == "ALLOW" and body["trace_id"] == trace
    assert body["result"]["status"] == "SUCCESS"
    assert re.fullmatch(r"executor-[123]", body["result"]["executor_id"])
    records = running.by_trace(trace)
    assert [r["event_type"] for r in records] == ["decision_audit", "action_audit"]
    for rec in records:
        assert TS_RE.match(rec["ts_utc"])
        assert rec["decision"] == "ALLOW" and rec["reason_codes"] == []
        assert rec["profile_hash"] == PROFILE_HASH and re.fullmatch(r"[0-9a-f]{64}", PROFILE_HASH)
        assert rec["api_key_hash"] == KEY_HASH
        assert rec["executor_id"] == body["result"]["executor_id"]
        assert rec["action"] == "test_action" and isinstance(rec["latency_ms"], float)
    assert records[1]["status"] == "SUCCESS"
    raw = (running.root / "audit.jsonl").read_text()
    assert '"profile_hash":"' in raw  # compact, as the runbook's grep expects


def test_process_gates_deny_with_reason_codes(running: Demo) -> None:
    with running.client() as client:
        cases = {
            "missing": (post(client, tid(), key=None), 401, "G2_INVALID_API_KEY"),
            "wrong": (post(client, tid(), key="wrong-key"), 401, "G2_INVALID_API_KEY"),
            "big": (post(client, tid(), body={**BODY, "blob": "x" * 9000}), 413,
                    "G7_PAYLOAD_LIMIT_EXCEEDED"),
            "malformed": (post(client, tid(), body={"action": 1}), 400,
                          "G1_MALFORMED_REQUEST"),
        }
        burst = [post(client, client_id="burst") for _ in range(120)]
    limited = [r for r in burst if r.status_code == 429]
    assert limited and all(r.json()["reason_codes"] == ["G10_RATE_LIMIT_EXCEEDED"]
                           for r in limited)
    assert sum(r.status_code == 200 for r in burst) >= 45
    cases["rate"] = (limited[0], 429, "G10_RATE_LIMIT_EXCEEDED")
    for name, (resp, code, reason) in cases.items():
        body = resp.json()
        assert resp.status_code == code and body["status_code"] == code, name
        assert body["decision"] == "DENY" and body["reason_codes"] == [reason], name
        records = running.by_trace(body["trace_id"])
        assert [r["event_type"] for r in records] == ["decision_audit"], name
        assert records[0]["decision"] == "DENY" and records[0]["reason_codes"] == [reason]
        assert records[0]["profile_hash"] == PROFILE_HASH
    # a generated trace id when the header is missing, and key hashes as presented
    uuid.UUID(cases["rate"][0].json()["trace_id"], version=4)
    missing = running.by_trace(cases["missing"][0].json()["trace_id"])[0]
    wrong = running.by_trace(cases["wrong"][0].json()["trace_id"])[0]
    assert missing["api_key_hash"] is None
    assert wrong["api_key_hash"] == hashlib.sha256(b"wrong-key").hexdigest()
    log = (running.root / "demo.log").read_text()
    assert re.search(r"^\S+Z WARN  deny trace_id=\S+ status=401 reasons=G2_INVALID_API_KEY",
                     log, re.M)
    assert re.search(r"^\S+Z INFO  request trace_id=\S+ status=200", log, re.M)


def test_metrics_parse_and_follow_faults(running: Demo) -> None:
    def families(client: httpx.Client) -> dict[str, Any]:
        resp = client.get("/metrics")
        assert resp.status_code == 200
        return {f.name: f for f in text_string_to_metric_families(resp.text)}

    def value(fams: dict[str, Any], name: str, **labels: str) -> float:
        return next(s.value for s in fams[name].samples
                    if s.name == name or s.name == f"{name}_total"
                    if all(s.labels.get(k) == v for k, v in labels.items()))

    with running.client() as client:
        post(client, tid())
        post(client, tid(), key="bad")
        fams = families(client)
        for name in ("demo_requests", "demo_request_latency_seconds", "demo_queue_depth",
                     "demo_qek_score", "demo_hvar", "demo_audit_records", "demo_up"):
            assert name in fams, name
        assert value(fams, "demo_requests", status="200", decision="ALLOW") >= 1
        assert value(fams, "demo_requests", status="401", decision="DENY") >= 1
        assert value(fams, "demo_up") == 1
        assert value(fams, "demo_qek_score") > 0.85 and value(fams, "demo_hvar") < 0.10
        chaos(client, fault="errors")
        chaos(client, fault="latency", value=50)
        fams = families(client)
        assert value(fams, "demo_qek_score") < 0.85 and value(fams, "demo_hvar") > 0.10


def test_log_rotation(demo: Demo) -> None:
    demo.env["COCKPIT_DEMO_LOG_MAX_BYTES"] = "2048"
    demo.ok("start")
    with demo.client() as client:
        for _ in range(40):
            post(client, tid())
    rotated = demo.root / "demo.log.1"
    wait_until(rotated.exists, timeout=5, what="demo.log.1")
    assert rotated.stat().st_size <= 2048
    log = demo.root / "demo.log"
    assert log.stat().st_size <= 2048
    log.unlink()  # deleted behind the service's back: it reopens the path
    with demo.client() as client:
        post(client, tid(), key="bad")
    assert "WARN  deny" in log.read_text()


def test_synthetic_traffic_moves_the_audit_log(demo: Demo) -> None:
    demo.env["COCKPIT_DEMO_TRAFFIC"] = "1"
    demo.ok("start")
    wait_until(lambda: sum(r.get("client_id") == "synthetic" for r in demo.audit()) >= 2,
               timeout=10, what="synthetic traffic")


# ---- runbook operations ----------------------------------------------------------------------
def test_smoke_test_uses_cockpit_trace_id(running: Demo) -> None:
    trace = "cockpit-" + uuid.uuid4().hex
    out = running.ok("smoke-test", env={"COCKPIT_TRACE_ID": trace})
    assert "✓ Smoke test PASSED" in out
    assert f"✓ Audit trail recorded for trace_id: {trace}" in out
    assert [r["event_type"] for r in running.by_trace(trace)] == ["decision_audit",
                                                                 "action_audit"]
    generated = running.ok("smoke-test")
    trace2 = re.search(r"trace_id: (\S+)", generated)
    assert trace2 and running.by_trace(trace2.group(1))
    bad = running.run("smoke-test", env={"COCKPIT_TRACE_ID": "has space"})
    assert bad.returncode == 2
    running.ok("stop")
    down = running.run("smoke-test")
    assert down.returncode == 1 and "FAILED" in down.stdout


def test_audit_invariants_pass_then_fail_on_tampering(running: Demo, tmp_path: Path) -> None:
    with running.client() as client:
        post(client, tid())
        post(client, tid(), key="bad")
    out = running.ok("audit-invariants")
    assert "✓ P1.1 Invariant: profile_hash never empty" in out
    assert "✓ Audit invariant: reason_codes non-empty for DENY" in out
    audit = running.root / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)

    deny_no_codes = tmp_path / "deny.jsonl"
    rec = orjson.loads(next(line for line in lines if b'"DENY"' in line))
    deny_no_codes.write_bytes(b"".join(lines) + orjson.dumps({**rec, "reason_codes": []}) + b"\n")
    result = running.run("audit-invariants", "--path", str(deny_no_codes))
    assert result.returncode == 1 and "DENY decision without reason_codes" in result.stdout

    rec = orjson.loads(lines[0])
    with open(audit, "ab") as f:
        f.write(orjson.dumps({**rec, "profile_hash": ""}) + b"\n")
    result = running.run("audit-invariants")
    assert result.returncode == 1 and "P1.1 Violation" in result.stdout


def test_stress_test_passes_and_fails_under_errors(running: Demo) -> None:
    out = running.ok("stress-test", "--requests", "60")
    rate = re.search(r"success rate: ([\d.]+)%", out)
    assert rate and float(rate.group(1)) >= 95 and "p50:" in out and "p95:" in out
    running.ok("inject-fault", "--kind", "errors")
    failed = running.run("stress-test", "--requests", "40")
    assert failed.returncode == 1 and "EXECUTOR_FAILED" in failed.stdout
    assert running.run("stress-test", "--requests", "0").returncode == 2


def test_backup_audit_copies_with_same_sha256(running: Demo) -> None:
    with running.client() as client:
        for _ in range(5):
            post(client, tid())
    out = running.ok("backup-audit")
    path = re.search(r"backup: (\S+)", out)
    digest = re.search(r"sha256: ([0-9a-f]{64})", out)
    assert path and digest
    backup = Path(path.group(1))
    assert backup.parent == running.root / "backups"
    assert re.fullmatch(r"audit-\d{8}_\d{6}(-\d+)?\.jsonl", backup.name)
    source = hashlib.sha256((running.root / "audit.jsonl").read_bytes()).hexdigest()
    assert hashlib.sha256(backup.read_bytes()).hexdigest() == source == digest.group(1)
    second = Path(re.search(r"backup: (\S+)", running.ok("backup-audit")).group(1))
    assert second != backup and second.exists()


def test_ops_fail_cleanly_when_not_running(demo: Demo) -> None:
    assert "stress-test" in demo.ok("--help")
    assert "--requests" in demo.ok("stress-test", "--help")
    assert demo.run("status").returncode == 1
    inject = demo.run("inject-fault", "--kind", "latency")
    assert inject.returncode == 1 and "not reachable" in inject.stderr
    assert demo.run("stress-test").returncode == 1
    assert demo.run("backup-audit").returncode == 1
    assert demo.run("audit-invariants").returncode == 1
    assert demo.run("port-owner").returncode == 1
