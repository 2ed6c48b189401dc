"""The cockpit on the demo profile with frozen data, for snapshot tests.

No workers run (``live=False``), the clock is frozen, and every pane is fed the same
deterministic data, so a snapshot changes only when the UI does.
"""

from __future__ import annotations

from pathlib import Path

from cockpit.core.audit.query import parse_record
from cockpit.core.backends.base import Health, Target
from cockpit.core.config.discovery import builtin_dir
from cockpit.core.sources.health import HealthRow
from cockpit.core.sources.logs import LogLine
from cockpit.core.sources.metrics import MetricSample
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.audit import AuditPane
from cockpit.tui.panes.health import HealthPane
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.panes.metrics import MetricsPane
from cockpit.tui.panes.targets import TargetsPane
from tests.tui_support import FROZEN_TIME, make_context

T = FROZEN_TIME


def snapshot_app(tmp_path: Path) -> CockpitApp:
    """A CockpitApp over the built-in demo profile, with no live sources."""
    profile = (builtin_dir() / "demo.yaml").read_text()
    profile = profile.replace("${COCKPIT_DEMO_STATE:-${COCKPIT_STATE_DIR}/demo}", "/demo-state")
    profile = profile.replace("${COCKPIT_DEMO_PORT:-8765}", "8765")
    profile = profile.replace("${COCKPIT_PYTHON}", "python3")  # no venv path on screen
    context = make_context(tmp_path, profile, live=False)
    (tmp_path / "demo-runbook.md").write_text((builtin_dir() / "demo-runbook.md").read_text())
    # The backend describes itself with the host name: keep snapshots host-independent.
    context.backend.describe = lambda: "local (snapshot)"  # type: ignore[method-assign]
    context.runner.trace_ids = lambda: "00000000-0000-4000-8000-000000000000"
    return CockpitApp(context)


def health_rows() -> list[HealthRow]:
    return [
        HealthRow("api", "fail", 812.0, 'status is "degraded", expected "healthy"', T - 2),
        HealthRow("api/database", "ok", None, "healthy", T - 2, parent="api"),
        HealthRow("api/audit_sink", "ok", None, "healthy", T - 2, parent="api"),
        HealthRow("api/executor", "fail", None, "degraded", T - 2, parent="api"),
        HealthRow("api/queue", "ok", None, "healthy", T - 2, parent="api"),
        HealthRow("port", "ok", 1.2, "connected to 127.0.0.1:8765", T - 4),
        HealthRow("audit-log-writable", "ok", 3.9, "exit 0", T - 21),
    ]


def metric_history() -> dict[str, list[float | None]]:
    wave = [3.8, 4.1, 3.9, 4.4, 4.0, 3.7, 4.2, 4.6, 4.1, 3.9, 4.0, 4.3]
    return {
        "requests/s": wave,
        "errors/s": [0, 0, 0, 0, 0, 0, 0.5, 1.5, 2.0, 1.8, 2.1, 1.9],
        "latency p95": [0.004] * 6 + [0.21, 0.32, 0.45, 0.61, 0.58, 0.63],
        "QEK": [0.93, 0.93, 0.94, 0.93, 0.92, 0.93, 0.88, 0.84, 0.80, 0.79, 0.78, 0.78],
        "queue depth": [0, 1, 0, 2, 1, 0, 3, 5, 8, 6, 7, 9],
        "health latency": [3, 4, 3, 5, 4, 3, 420, 610, 790, 805, 798, 812],
        "host cpu": [4, 5, 3, 6, 4, 5, 9, 12, 10, 11, 9, 10],
    }


def metric_samples() -> dict[str, MetricSample]:
    from cockpit.core.sources.metrics import threshold_state

    app_metrics = {m.name: m for m in _demo_metrics()}
    samples = {}
    for name, values in metric_history().items():
        metric = app_metrics[name]
        value = values[-1]
        samples[name] = MetricSample(value, threshold_state(value, metric.warn, metric.crit),
                                     None, T)
    return samples


def _demo_metrics():
    from cockpit.core.config.loader import load_profile

    return load_profile(builtin_dir() / "demo.yaml").profile.metrics


def log_lines() -> list[LogLine]:
    texts = [
        ("info", "2026-09-21T14:13:10.101Z INFO  request trace_id=5f1c status=200 latency_ms=3"),
        ("warn", "2026-09-21T14:13:10.388Z WARN  deny trace_id=77aa reason=G2_INVALID_API_KEY"),
        ("info", "2026-09-21T14:13:11.002Z INFO  heartbeat requests=1204 denies=31"),
        ("error", "2026-09-21T14:13:11.420Z ERROR executor failed trace_id=9c3e executor-2"),
        ("info", "2026-09-21T14:13:11.713Z INFO  request trace_id=c0de status=200 latency_ms=4"),
        ("warn", "2026-09-21T14:13:12.050Z WARN  deny trace_id=ab12 reason=G10_RATE_LIMIT_EXCEEDED"),
        ("error", "2026-09-21T14:13:12.400Z ERROR executor failed trace_id=f00d executor-1"),
        ("info", "2026-09-21T14:13:12.881Z INFO  request trace_id=beef status=200 latency_ms=5"),
    ]
    return [LogLine("demo", text, T - 10 + i, level) for i, (level, text) in enumerate(texts)]


def audit_records():
    lines = [
        b'{"ts_utc":"2026-09-21T14:13:10.101+00:00","event_type":"decision_audit","decision":"ALLOW","reason_codes":[],"trace_id":"5f1c0000","profile_hash":"ab","executor_id":"executor-1","status":"SUCCESS"}',
        b'{"ts_utc":"2026-09-21T14:13:10.388+00:00","event_type":"decision_audit","decision":"DENY","reason_codes":["G2_INVALID_API_KEY"],"trace_id":"77aa0000","profile_hash":"ab"}',
        b'{"ts_utc":"2026-09-21T14:13:11.420+00:00","event_type":"action_audit","decision":"ALLOW","reason_codes":["EXECUTOR_FAILED"],"trace_id":"9c3e0000","profile_hash":"ab","executor_id":"executor-2","status":"FAILED"}',
        b'{"ts_utc":"2026-09-21T14:13:12.050+00:00","event_type":"decision_audit","decision":"DENY","reason_codes":["G10_RATE_LIMIT_EXCEEDED"],"trace_id":"ab120000","profile_hash":"ab"}',
        b'{"ts_utc":"2026-09-21T14:13:12.4',
    ]
    return [parse_record(line) for line in lines]


def targets() -> list[Target]:
    """A service with two processes under it (one failing), and a container."""
    mb = 1024 * 1024
    return [
        Target("svc", "demo", "service", "running", health=Health("ok", "2 processes"),
               started_at=T - 7200),
        Target("101", "demo-api", "process", "running", parent="svc",
               health=Health("ok", "running"), started_at=T - 7100, cpu_percent=3.2,
               mem_bytes=48 * mb),
        Target("102", "demo-worker", "process", "zombie", parent="svc",
               health=Health("fail", "zombie"), started_at=T - 125, cpu_percent=0.0,
               mem_bytes=0, restarts=3),
        Target("c0ffee", "cache", "container", "running", scope="demo",
               health=Health("unknown", "health check starting"), started_at=T - 4,
               restarts=0),
    ]


def feed(app: CockpitApp) -> None:
    """Fill every pane with the frozen data."""
    app.query_one(HealthPane).show_rows(health_rows())
    app.query_one(MetricsPane).show_samples(metric_samples(), metric_history())
    app.query_one(LogsPane).add_lines(log_lines())
    app.query_one(AuditPane).add_records(audit_records())
    app.query_one(TargetsPane).show_targets(targets())


def no_blink(app: CockpitApp) -> None:
    from textual.widgets import Input

    for screen in app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
