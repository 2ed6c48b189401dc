"""Runbook operations on the demo service: ``python -m cockpit.demo <op> [options]``.

Each operation prints human-readable lines and exits 0 on success, 1 on failure (the last
line says why), 2 on bad usage, 3 when the port is held by another process and 4 when
another instance already runs with the same state directory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cockpit.demo.portinfo import find_port_owner, port_in_use
from cockpit.demo.settings import (
    DEFAULT_HOST,
    DEFAULT_LOG_MAX_BYTES,
    DEFAULT_RATE_LIMIT,
    ENV_API_KEY,
    ENV_LOG_MAX_BYTES,
    ENV_PORT,
    ENV_RATE_LIMIT,
    ENV_STATE,
    ENV_TRACE_ID,
    ENV_TRAFFIC,
    EXIT_FAIL,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PORT_BUSY,
    EXIT_USAGE,
    DemoError,
    DemoPaths,
    api_key,
    configured_port,
    env_enabled,
    env_number,
    parse_port,
    process_alive,
    read_json,
    remove_quietly,
    resolve_state_dir,
    running_state,
    valid_token,
)

if TYPE_CHECKING:
    import httpx

FAULTS = ("latency", "errors", "crash", "audit-sink")
START_DEADLINE_S = 10.0
STOP_DEADLINE_S = 10.0
AUDIT_DEADLINE_S = 5.0
SUCCESS_THRESHOLD = 95.0
STRESS_PACE = 0.8  #: stress-test paces itself at this fraction of the service's rate limit

_pause = threading.Event()  # never set: ``_pause.wait(t)`` is an interruptible sleep


@dataclass(slots=True)
class Ctx:
    """Where the operations find the service: state dir, then flags, env and ``demo.json``."""

    paths: DemoPaths
    port_flag: int | None
    host_flag: str | None

    def target(self) -> tuple[str, int]:
        """Explicit flags win; else the running instance's ``demo.json``; else env/defaults."""
        if self.port_flag is None and self.host_flag is None:
            state = running_state(self.paths)
            if state and isinstance(state.get("port"), int):
                return _client_host(str(state.get("host") or DEFAULT_HOST)), state["port"]
        return _client_host(self.host_flag or DEFAULT_HOST), configured_port(self.port_flag)

    def url(self) -> str:
        host, port = self.target()
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _client_host(host: str) -> str:
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _client(timeout: float = 5.0, connections: int = 4) -> httpx.Client:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(timeout, connect=2.0), trust_env=False,
                        limits=httpx.Limits(max_connections=connections))


def _key_headers(**extra: str) -> dict[str, str]:
    return {"X-API-Key": api_key(), **extra}


def _health(url: str, timeout: float = 3.0) -> tuple[int | None, dict[str, Any] | str]:
    """``(HTTP status, body)`` of GET /health, or ``(None, error)``."""
    import httpx

    try:
        with _client(timeout) as client:
            resp = client.get(f"{url}/health")
        body = resp.json()
        return resp.status_code, body if isinstance(body, dict) else {"status": repr(body)}
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _fmt_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    mins, secs = divmod(int(seconds), 60)
    hours, mins = divmod(mins, 60)
    return f"{hours}h {mins:02d}m {secs:02d}s" if hours else f"{mins}m {secs:02d}s"


def _describe_health(code: int | None, body: dict[str, Any] | str) -> str:
    if code is None:
        return f"no answer ({body})"
    assert isinstance(body, dict)
    bad = [f"{k}={v}" for k, v in (body.get("checks") or {}).items() if v != "healthy"]
    return f"{body.get('status', '?')} (HTTP {code})" + (f": {', '.join(bad)}" if bad else "")


def _port_busy_message(port: int) -> str:
    owner = find_port_owner(port)
    return f"port {port} is in use by {owner.describe()}" if owner else f"port {port} is in use"


# ---- serve / start / stop / restart / status -------------------------------------------------
def cmd_serve(ctx: Ctx, args: argparse.Namespace) -> int:
    """Run the service in the foreground."""
    from cockpit.demo.service import run

    return run(ctx.paths, ctx.host_flag or DEFAULT_HOST, configured_port(ctx.port_flag),
               api_key(), traffic=not args.no_traffic and env_enabled(ENV_TRAFFIC),
               rate_limit=env_number(ENV_RATE_LIMIT, DEFAULT_RATE_LIMIT, 0.1, 1e6),
               log_max_bytes=int(env_number(ENV_LOG_MAX_BYTES, DEFAULT_LOG_MAX_BYTES,
                                            1024, 1 << 40)))


def cmd_start(ctx: Ctx, args: argparse.Namespace) -> int:
    """Start the service detached and wait until /health answers."""
    return _start(ctx, ctx.host_flag or DEFAULT_HOST, configured_port(ctx.port_flag),
                  no_traffic=args.no_traffic)


def _start(ctx: Ctx, host: str, port: int, *, no_traffic: bool) -> int:
    ctx.paths.ensure()
    state = running_state(ctx.paths)
    if state:
        url = str(state.get("url"))
        code, body = _health(url)
        if code is None:
            raise DemoError(f"pid {state['pid']} is running but {url}/health does not answer "
                            f"({body}); try restart")
        print(f"✓ already running: pid {state['pid']} on {url} "
              f"(health: {_describe_health(code, body)})")
        return EXIT_OK
    if port_in_use(host, port):
        raise DemoError(_port_busy_message(port), EXIT_PORT_BUSY)
    return _spawn(ctx.paths, host, port, no_traffic=no_traffic)


def _spawn(paths: DemoPaths, host: str, port: int, *, no_traffic: bool) -> int:
    import httpx

    argv = [sys.executable, "-m", "cockpit.demo", "serve", "--state-dir", str(paths.root),
            "--host", host, "--port", str(port)] + (["--no-traffic"] if no_traffic else [])
    started = time.monotonic()
    with open(paths.out, "ab") as out:
        out.write(f"--- start {datetime.now(UTC).isoformat()} ---\n".encode())
        out.flush()
        offset = out.tell()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=paths.root)
    chost = _client_host(host)
    url = f"http://[{chost}]:{port}" if ":" in chost else f"http://{chost}:{port}"
    with _client(1.0) as client:
        while True:
            status = proc.poll()
            if status is not None:
                raise DemoError(f"the service exited with status {status} while starting: "
                                f"{_tail(paths.out, offset)}",
                                status if status in (EXIT_PORT_BUSY, EXIT_LOCKED) else EXIT_FAIL)
            state = read_json(paths.state)
            if state and state.get("pid") == proc.pid:
                try:
                    if client.get(f"{url}/health").status_code in (200, 503):
                        break
                except httpx.HTTPError:
                    pass
            if time.monotonic() - started > START_DEADLINE_S:
                proc.kill()
                raise DemoError(f"the service did not answer {url}/health within "
                                f"{START_DEADLINE_S:g} s (see {paths.out})")
            _pause.wait(0.03)
    proc.returncode = 0  # detached on purpose: no "still running" warning when we exit
    print(f"✓ started demo service: pid {proc.pid}, port {port} "
          f"({url}, ready in {time.monotonic() - started:.2f} s)")
    print(f"  state dir: {paths.root}")
    return EXIT_OK


def _tail(path: Path, offset: int, lines: int = 3) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"


def cmd_stop(ctx: Ctx, args: argparse.Namespace) -> int:
    """SIGTERM the service, SIGKILL it if it has not exited by the deadline."""
    import psutil

    state = read_json(ctx.paths.state)
    if not state or not isinstance(state.get("pid"), int):
        print(f"not running (no state file in {ctx.paths.root})")
        return EXIT_OK
    pid = state["pid"]
    ctime = state.get("create_time")
    if not process_alive(pid, ctime if isinstance(ctime, (int, float)) else None):
        remove_quietly(ctx.paths.state)
        print(f"not running (pid {pid} has exited; removed its stale state file)")
        return EXIT_OK
    started = time.monotonic()
    how = "SIGTERM"
    try:
        os.kill(pid, signal.SIGTERM)
        if not _wait_dead(pid, STOP_DEADLINE_S):
            how = f"SIGKILL after {STOP_DEADLINE_S:g} s"
            os.kill(pid, signal.SIGKILL)
            if not _wait_dead(pid, 5.0):
                raise DemoError(f"pid {pid} survived SIGKILL")
    except ProcessLookupError:
        pass
    except (PermissionError, psutil.AccessDenied):
        raise DemoError(f"not permitted to signal pid {pid}") from None
    state = read_json(ctx.paths.state)
    if state and state.get("pid") == pid:
        remove_quietly(ctx.paths.state)
    print(f"✓ stopped demo service pid {pid} ({how}, {time.monotonic() - started:.2f} s)")
    return EXIT_OK


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        _pause.wait(0.02)
    return True


def cmd_restart(ctx: Ctx, args: argparse.Namespace) -> int:
    """Stop (if running), then start on the same host and port unless flags say otherwise."""
    state = read_json(ctx.paths.state) or {}
    host = ctx.host_flag or str(state.get("host") or DEFAULT_HOST)
    port = ctx.port_flag or state.get("port")
    port = port if isinstance(port, int) else configured_port(None)
    no_traffic = args.no_traffic or state.get("traffic") is False
    cmd_stop(ctx, args)
    return _start(ctx, host, port, no_traffic=no_traffic)


def cmd_status(ctx: Ctx, args: argparse.Namespace) -> int:
    """pid, port, uptime, RSS and health; exit 1 if not running, 2 if /health is silent."""
    import psutil

    state = read_json(ctx.paths.state)
    if not running_state(ctx.paths) or not state:
        stale = f" (stale state file: pid {state.get('pid')} has exited)" if state else ""
        print(f"✗ demo service is not running{stale}")
        port = state.get("port") if state and isinstance(state.get("port"), int) else None
        port = port or configured_port(ctx.port_flag)
        if port_in_use(DEFAULT_HOST, port):
            print(f"  note: {_port_busy_message(port)}")
        return EXIT_FAIL
    pid = state["pid"]
    try:
        proc = psutil.Process(pid)
        uptime = _fmt_duration(time.time() - proc.create_time())
        rss = f"{proc.memory_info().rss / 1_048_576:.1f} MB"
    except psutil.Error as exc:
        uptime = rss = f"unknown ({type(exc).__name__})"
    url = str(state.get("url"))
    code, body = _health(url)
    print("demo service: running")
    print(f"  pid: {pid}")
    print(f"  url: {url}")
    print(f"  uptime: {uptime}")
    print(f"  rss: {rss}")
    print(f"  health: {_describe_health(code, body)}")
    if code is not None:
        print(f"  faults: {_faults_text(url)}")
    print(f"  state dir: {ctx.paths.root}")
    return EXIT_OK if code is not None else EXIT_USAGE


def _faults_text(url: str) -> str:
    import httpx

    try:
        with _client(3.0) as client:
            resp = client.get(f"{url}/chaos", headers=_key_headers())
        faults = resp.json().get("faults") if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        faults = None
    if faults is None:
        return "unknown"
    return ", ".join(f"{k}={v}" for k, v in faults.items()) or "none"


# ---- checks from the runbook -----------------------------------------------------------------
def cmd_smoke_test(ctx: Ctx, args: argparse.Namespace) -> int:
    """techno-os 2.4: one request, status_code 200, its trace id in the audit log."""
    import httpx

    trace_id = os.environ.get(ENV_TRACE_ID, "").strip() or str(uuid.uuid4())
    if not valid_token(trace_id):
        raise DemoError(f"{ENV_TRACE_ID} is not a usable trace id (printable ASCII without "
                        "spaces, at most 128 characters)", EXIT_USAGE)
    url = ctx.url()
    audit = ctx.paths.audit
    offset = audit.stat().st_size if audit.exists() else 0
    print(f"POST {url}/process trace_id={trace_id}")
    try:
        with _client(10.0) as client:
            resp = client.post(f"{url}/process", json={"action": "test_action",
                                                       "event_type": "test_event"},
                               headers=_key_headers(**{"X-TRACE-ID": trace_id,
                                                       "X-Client-ID": "smoke-test"}))
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"✗ Smoke test FAILED: no usable answer from {url}: {type(exc).__name__}: {exc}")
        return EXIT_FAIL
    text = orjson.dumps(body).decode()
    if not isinstance(body, dict) or body.get("status_code") != 200:
        print("✗ Smoke test FAILED")
        print(f"Response (HTTP {resp.status_code}): {text}")
        return EXIT_FAIL
    print("✓ Smoke test PASSED")
    print(f"Response: {text}")
    if _wait_for_trace(audit, trace_id, offset, AUDIT_DEADLINE_S):
        print(f"✓ Audit trail recorded for trace_id: {trace_id}")
        return EXIT_OK
    print(f"✗ No audit entry for trace_id: {trace_id} in {audit}")
    return EXIT_FAIL


def _wait_for_trace(path: Path, trace_id: str, offset: int, timeout: float) -> bool:
    """Follow ``path`` from ``offset`` until a record with this exact trace id appears."""
    needle = trace_id.encode()
    deadline = time.monotonic() + timeout
    pending = b""
    while True:
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size < offset:  # replaced or truncated: rescan
                    offset, pending = 0, b""
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if needle in line:
                try:
                    if orjson.loads(line).get("trace_id") == trace_id:
                        return True
                except (orjson.JSONDecodeError, AttributeError):
                    continue
        if time.monotonic() > deadline:
            return False
        _pause.wait(0.05)


def cmd_audit_invariants(ctx: Ctx, args: argparse.Namespace) -> int:
    """techno-os 2.5: profile_hash never empty; every DENY decision has reason codes."""
    path = Path(args.path) if args.path else ctx.paths.audit
    if not path.is_file():
        raise DemoError(f"no audit log at {path}")
    types: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    empty_hash: list[tuple[int, object]] = []
    deny_no_codes: list[tuple[int, object]] = []
    unparsable: list[int] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n") or not raw.strip():
                continue  # a line still being written, or blank
            try:
                rec = orjson.loads(raw)
                if not isinstance(rec, dict):
                    raise TypeError
            except (orjson.JSONDecodeError, TypeError):
                unparsable.append(lineno)
                continue
            event_type = str(rec.get("event_type"))
            types[event_type] += 1
            hash_ = rec.get("profile_hash")
            if not isinstance(hash_, str) or not hash_.strip():
                empty_hash.append((lineno, rec.get("trace_id")))
            if event_type == "decision_audit":
                decisions[str(rec.get("decision"))] += 1
                codes = rec.get("reason_codes")
                if rec.get("decision") == "DENY" and not (isinstance(codes, list) and codes):
                    deny_no_codes.append((lineno, rec.get("trace_id")))
    total = sum(types.values())
    kinds = ", ".join(f"{n} {t}" for t, n in types.most_common()) or "none"
    print(f"audit log: {path}")
    print(f"  records: {total} ({kinds})")
    print(f"  decisions: {decisions['ALLOW']} ALLOW, {decisions['DENY']} DENY")
    ok = True
    if empty_hash:
        ok = False
        line, trace = empty_hash[0]
        print(f"✗ P1.1 Violation: Found empty profile_hash in audit log ({len(empty_hash)} "
              f"record(s); first at line {line}, trace_id {trace})")
    else:
        print(f"✓ P1.1 Invariant: profile_hash never empty ({total} records)")
    if deny_no_codes:
        ok = False
        line, trace = deny_no_codes[0]
        print(f"✗ Audit violation: DENY decision without reason_codes ({len(deny_no_codes)} "
              f"record(s); first at line {line}, trace_id {trace})")
    else:
        print(f"✓ Audit invariant: reason_codes non-empty for DENY ({decisions['DENY']} DENY)")
    if unparsable:
        ok = False
        print(f"✗ {len(unparsable)} line(s) are not JSON objects (first at line {unparsable[0]})")
    return EXIT_OK if ok else EXIT_FAIL


def cmd_stress_test(ctx: Ctx, args: argparse.Namespace) -> int:
    """N concurrent requests paced under the rate limit; fail below 95% success."""
    import httpx

    url = ctx.url()
    code, body = _health(url)
    if code is None:
        raise DemoError(f"service not reachable at {url}: {body}")
    rate = args.rate
    if rate is None:
        state = running_state(ctx.paths) or {}
        limit = state.get("rate_limit_per_s")
        if not isinstance(limit, (int, float)) or limit <= 0:
            limit = env_number(ENV_RATE_LIMIT, DEFAULT_RATE_LIMIT, 0.1, 1e6)
        rate = limit * STRESS_PACE
    total, workers = args.requests, min(args.concurrency, args.requests)
    pace = f"paced at {rate:g} req/s" if rate else "unpaced"
    print(f"stress test: {total} requests to {url}/process, concurrency {workers}, {pace}")
    client_id = f"stress-{uuid.uuid4().hex[:8]}"
    lock = threading.Lock()
    next_index = iter(range(total))
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    started = time.monotonic()

    def worker(client: httpx.Client) -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            if rate:
                _pause.wait(max(0.0, started + index / rate - time.monotonic()))
            t0 = time.perf_counter()
            try:
                resp = client.post(f"{url}/process", headers=_key_headers(**{
                    "X-TRACE-ID": str(uuid.uuid4()), "X-Client-ID": client_id}),
                    json={"action": "stress_action", "event_type": "test_event", "n": index})
                answer = resp.json()
                ok = resp.status_code == 200 and answer.get("status_code") == 200
                label = "ok" if ok else (f"HTTP {resp.status_code} "
                                         f"{','.join(answer.get('reason_codes') or [])}").strip()
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                label = type(exc).__name__
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                outcomes[label] += 1

    with _client(10.0, connections=workers) as client, ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker, client) for _ in range(workers)]:
            future.result()
    wall = time.monotonic() - started
    succeeded = outcomes.pop("ok", 0)
    rate_pct = 100.0 * succeeded / total
    latencies.sort()
    print(f"  requests: {total}  succeeded: {succeeded}  failed: {total - succeeded}")
    print(f"  success rate: {rate_pct:.1f}% (threshold {SUCCESS_THRESHOLD:g}%)")
    print(f"  latency p50: {_pct(latencies, 50):.1f} ms  p95: {_pct(latencies, 95):.1f} ms  "
          f"max: {latencies[-1] * 1000:.1f} ms")
    print(f"  throughput: {total / wall:.1f} req/s over {wall:.2f} s")
    for label, count in outcomes.most_common():
        print(f"  failures: {count} x {label}")
    if rate_pct < SUCCESS_THRESHOLD:
        print(f"✗ Stress test FAILED: success rate {rate_pct:.1f}% < {SUCCESS_THRESHOLD:g}%")
        return EXIT_FAIL
    print("✓ Stress test PASSED")
    return EXIT_OK


def _pct(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1] * 1000


# ---- chaos -----------------------------------------------------------------------------------
def cmd_inject_fault(ctx: Ctx, args: argparse.Namespace) -> int:
    """POST /chaos with one fault."""
    import httpx

    payload: dict[str, Any] = {"fault": args.kind}
    if args.value is not None:
        try:
            payload["value"] = float(args.value)
        except ValueError:
            raise DemoError(f"--value must be a number, got {args.value!r}", EXIT_USAGE) from None
    url = ctx.url()
    try:
        with _client(5.0) as client:
            resp = client.post(f"{url}/chaos", json=payload, headers=_key_headers())
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DemoError(f"service not reachable at {url}: {type(exc).__name__}: {exc}") from None
    if resp.status_code == 401:
        raise DemoError(f"the service rejected the API key (set {ENV_API_KEY} to its key)")
    if resp.status_code != 200:
        raise DemoError(f"HTTP {resp.status_code}: {body.get('error', body)}")
    value = body.get("value")
    shown = {"latency": f"+{value} ms per request", "errors": f"{value:.0%} of executions fail",
             "crash": f"exit with status 1 in {value:g} s",
             "audit-sink": "audit writes fail"}[args.kind]
    print(f"✓ injected fault {args.kind}: {shown}")
    print(f"  active faults: {', '.join(body.get('faults') or {}) or 'none'}")
    if args.kind == "crash":
        print("  the service will exit; `restart` brings it back")
    else:
        print("  faults persist across restarts until clear-faults")
    return EXIT_OK


def cmd_clear_faults(ctx: Ctx, args: argparse.Namespace) -> int:
    """DELETE /chaos; when the service is down, clear the faults kept in chaos.json."""
    import httpx

    url = ctx.url()
    try:
        with _client(5.0) as client:
            resp = client.delete(f"{url}/chaos", headers=_key_headers())
    except httpx.TransportError:
        data = read_json(ctx.paths.chaos) or {}
        faults = data.get("faults") if isinstance(data.get("faults"), dict) else {}
        remove_quietly(ctx.paths.chaos)
        names = ", ".join(faults) or "none were kept"
        print(f"✓ service not running; cleared persisted faults: {names}")
        return EXIT_OK
    if resp.status_code == 401:
        raise DemoError(f"the service rejected the API key (set {ENV_API_KEY} to its key)")
    if resp.status_code != 200:
        raise DemoError(f"HTTP {resp.status_code} from {url}/chaos")
    cleared = resp.json().get("cleared") or []
    print(f"✓ cleared faults: {', '.join(cleared)}" if cleared else "✓ no active faults")
    return EXIT_OK


# ---- diagnostics -----------------------------------------------------------------------------
def cmd_port_owner(ctx: Ctx, args: argparse.Namespace) -> int:
    """Which process listens on the port; exit 1 if nobody."""
    port = ctx.target()[1]
    owner = find_port_owner(port)
    if owner is None:
        print(f"✗ nobody is listening on port {port}")
        return EXIT_FAIL
    print(f"port {port}: listening on {owner.address}")
    if owner.pid is None:
        print("  owner: unknown (not permitted to see it)")
        return EXIT_OK
    print(f"  pid: {owner.pid}")
    print(f"  name: {owner.name or '?'}")
    print(f"  cmdline: {owner.cmdline or '?'}")
    state = running_state(ctx.paths)
    if state and state.get("pid") == owner.pid:
        print(f"  this is the demo service of {ctx.paths.root}")
    return EXIT_OK


def cmd_backup_audit(ctx: Ctx, args: argparse.Namespace) -> int:
    """Copy audit.jsonl (complete lines) to backups/audit-YYYYMMDD_HHMMSS.jsonl."""
    src = ctx.paths.audit
    if not src.is_file():
        raise DemoError(f"no audit log at {src}")
    ctx.paths.backups.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    dest = ctx.paths.backups / f"audit-{stamp}.jsonl"
    n = 1
    while dest.exists():
        dest = ctx.paths.backups / f"audit-{stamp}-{n}.jsonl"
        n += 1
    tmp = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    records = 0
    with open(src, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        cut = _last_line_end(f, size)
        f.seek(0)
        with open(tmp, "wb") as out:
            left = cut
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
                digest.update(chunk)
                records += chunk.count(b"\n")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    os.replace(tmp, dest)
    print(f"✓ backup: {dest}")
    print(f"  size: {cut} bytes, {records} records")
    print(f"  sha256: {digest.hexdigest()}")
    if cut < size:
        print(f"  left out {size - cut} bytes of a line still being written")
    return EXIT_OK


def _last_line_end(f: Any, size: int) -> int:
    """Offset just after the last newline at or before ``size``."""
    window = min(size, 1 << 16)
    f.seek(size - window)
    tail = f.read(window)
    cut = tail.rfind(b"\n")
    if cut >= 0:
        return size - window + cut + 1
    return 0 if size <= window else size


# ---- command line ----------------------------------------------------------------------------
def _int_in(lo: int, hi: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        return parse_port(text, "--port")
    except DemoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--state-dir", default=default, metavar="DIR",
                        help=f"state directory (env {ENV_STATE}; default "
                             "$XDG_STATE_HOME/cockpit/demo)")
    parser.add_argument("--port", type=_port, default=default,
                        help=f"TCP port (env {ENV_PORT}; default 8765, or the running "
                             "instance's)")
    parser.add_argument("--host", default=default, help="address to bind/connect (127.0.0.1)")


EPILOG = f"""environment:
  {ENV_STATE}, {ENV_PORT}, {ENV_API_KEY} (default demo-key-change-me),
  {ENV_TRAFFIC}=0 (no synthetic traffic), {ENV_RATE_LIMIT} (req/s, default 50),
  {ENV_LOG_MAX_BYTES} (rotate demo.log, default 5 MB), {ENV_TRACE_ID} (smoke-test trace id)
exit status: 0 ok, 1 failed, 2 usage / not answering, 3 port in use, 4 already running"""


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m cockpit.demo`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="python -m cockpit.demo", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The runbook-cockpit demo service and its runbook operations.")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="op", required=True, metavar="OP")

    def add(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=text,
                           description=text.replace("%%", "%"))
        p.set_defaults(func=func)
        return p

    add("serve", cmd_serve, "run the service in the foreground").add_argument(
        "--no-traffic", action="store_true", help="no synthetic background traffic")
    for name, func, text in (("start", cmd_start, "start the service detached"),
                             ("restart", cmd_restart, "stop, then start")):
        add(name, func, text).add_argument("--no-traffic", action="store_true",
                                           help="no synthetic background traffic")
    add("stop", cmd_stop, "stop the service (SIGTERM, then SIGKILL)")
    add("status", cmd_status, "pid, port, uptime, memory and health")
    add("smoke-test", cmd_smoke_test, "one request; its trace id must reach the audit log")
    add("audit-invariants", cmd_audit_invariants,
        "check profile_hash and DENY reason codes in the audit log").add_argument(
        "--path", help="audit log to check (default: the state dir's audit.jsonl)")
    stress = add("stress-test", cmd_stress_test, "N concurrent requests; fail below 95%% success")
    stress.add_argument("--requests", type=_int_in(1, 100_000), default=100)
    stress.add_argument("--concurrency", type=_int_in(1, 64), default=4)
    stress.add_argument("--rate", type=_rate, default=None,
                        help="requests/s (default: 80%% of the service's rate limit; 0: unpaced)")
    inject = add("inject-fault", cmd_inject_fault, "inject a fault through POST /chaos")
    inject.add_argument("--kind", required=True, choices=FAULTS)
    inject.add_argument("--value", help="latency ms (800), error fraction (0.5), crash delay s")
    add("clear-faults", cmd_clear_faults, "clear all injected faults")
    add("port-owner", cmd_port_owner, "which process listens on the port")
    add("backup-audit", cmd_backup_audit, "copy audit.jsonl to backups/ with its sha256")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cockpit.demo``."""
    args = build_parser().parse_args(argv)
    try:
        ctx = Ctx(resolve_state_dir(args.state_dir), args.port, args.host)
        return int(args.func(ctx, args))
    except DemoError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
