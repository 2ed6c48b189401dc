"""The ``json`` metric kind against a real loopback HTTP server, and ``cockpit check``
reporting alerts and below/above thresholds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.core.config.models import JsonMetric
from cockpit.core.sources.metrics import MetricsSampler
from tests.support import LoopbackHTTP

THRESHOLDS = {"metrics": {"qek": 0.91, "h_var": 0.05, "ethisches_ideal": 0.98,
                          "symbiosis_score": 0.72}}
JSON = "application/json"


class Api(LoopbackHTTP):
    """Mutable routes; counts the requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {
            "/api/metrics/thresholds": (200, JSON, json.dumps(THRESHOLDS).encode()),
            "/odd": (200, JSON, json.dumps({"a": {"s": "0.5", "t": True, "n": None,
                                                  "l": [1, 2], "x": "abc"}}).encode()),
            "/broken": (500, "text/plain", b"oops"),
            "/badjson": (200, JSON, b'{"metrics": '),
            "/huge": (200, JSON, json.dumps({"metrics": {"qek": 1},
                                             "pad": "x" * 3_000_000}).encode()),
        }
        self.hits: dict[str, int] = {}

        def respond(path: str) -> tuple[int, str, bytes]:
            path = path.split("?")[0]
            self.hits[path] = self.hits.get(path, 0) + 1
            return self.routes.get(path, (404, "text/plain", b"no"))

        super().__init__(respond)


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


def metric(name: str, url: str, path: str, **kw: object) -> JsonMetric:
    return JsonMetric.model_validate({"kind": "json", "name": name, "url": url,
                                      "path": path, **kw})


def runbook_metrics(url: str) -> list[JsonMetric]:
    """The runbook's four thresholds, as the meta-salvage profile has them."""
    return [
        metric("QEK", url, "metrics.qek", crit={"below": 0.85}, warn={"below": 0.88}),
        metric("H-VAR", url, "metrics.h_var", crit={"above": 0.10}, warn={"above": 0.08}),
        metric("Ethisches Ideal", url, "metrics.ethisches_ideal", crit={"below": 0.95},
               warn={"below": 0.97}),
        metric("Symbiosis Score", url, "metrics.symbiosis_score", crit={"below": 0.5},
               warn={"below": 0.6}),
    ]


async def test_four_values_from_one_fetch_per_refresh(api: Api) -> None:
    url = api.url + "/api/metrics/thresholds"
    sampler = MetricsSampler(runbook_metrics(url))
    try:
        samples = await sampler.sample_all()
        assert {n: (s.value, s.state) for n, s in samples.items()} == {
            "QEK": (0.91, "ok"), "H-VAR": (0.05, "ok"), "Ethisches Ideal": (0.98, "ok"),
            "Symbiosis Score": (0.72, "ok")}
        assert api.hits["/api/metrics/thresholds"] == 1
        api.routes["/api/metrics/thresholds"] = (200, JSON, json.dumps({"metrics": {
            "qek": 0.86, "h_var": 0.12, "ethisches_ideal": 0.96,
            "symbiosis_score": 0.4}}).encode())
        samples = await sampler.sample_all()
        assert {n: s.state for n, s in samples.items()} == {
            "QEK": "warn", "H-VAR": "crit", "Ethisches Ideal": "warn",
            "Symbiosis Score": "crit"}
        assert api.hits["/api/metrics/thresholds"] == 2
        assert list(sampler.series("QEK").values) == [0.91, 0.86]
    finally:
        await sampler.close()


async def test_what_is_not_a_number_says_why(api: Api) -> None:
    url = api.url + "/odd"
    sampler = MetricsSampler([
        metric("s", url, "a.s"), metric("t", url, "a.t"), metric("n", url, "a.n"),
        metric("l", url, "a.l"), metric("l0", url, "a.l.1"), metric("x", url, "a.x"),
        metric("gone", url, "a.gone"),
    ])
    try:
        samples = await sampler.sample_all()
    finally:
        await sampler.close()
    assert (samples["s"].value, samples["l0"].value) == (0.5, 2.0)
    assert samples["t"].error == "a.t is not a number"
    assert samples["n"].error == "a.n is not a number"
    assert samples["l"].error == "a.l is not a number"
    assert samples["x"].error == "not a number: 'abc'"
    assert samples["gone"].error == "no 'a.gone' in the answer"
    assert all(samples[n].state == "unknown" for n in ("t", "n", "l", "x", "gone"))
    assert api.hits["/odd"] == 1


async def test_failures_cap_and_timeout(api: Api) -> None:
    sampler = MetricsSampler([
        metric("broken", api.url + "/broken", "a"),
        metric("bad", api.url + "/badjson", "metrics.qek"),
        metric("huge", api.url + "/huge", "metrics.qek", max_body="1MB"),
        metric("bigger", api.url + "/huge", "metrics.qek", max_body="1MB",
               headers={"X-Other": "1"}),
        metric("refused", "http://127.0.0.1:9/x", "a", timeout=2),
    ])
    try:
        samples = await sampler.sample_all()
    finally:
        await sampler.close()
    assert samples["broken"].error == "HTTP 500"
    assert samples["bad"].error is not None and samples["bad"].error.startswith("invalid JSON")
    assert samples["huge"].error == "body over 1 MB cap"
    assert samples["refused"].error == "connection refused"
    assert all(s.value is None and s.state == "unknown" for s in samples.values())
    assert api.hits["/huge"] == 2  # other headers: another request


def test_a_bad_path_names_file_and_line(tmp_path: Path) -> None:
    from cockpit.core.config.loader import load_profile
    from cockpit.core.errors import ConfigError

    path = tmp_path / "p.yaml"
    path.write_text("name: p\nmetrics:\n  - name: m\n    kind: json\n    url: http://x\n"
                    "    path: metrics..qek\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert any(p.startswith(f"{path}:6:") and "invalid path" in p
               for p in info.value.problems), info.value.problems


def _check(profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "cockpit", "check", "--profile",
                           str(profile), *extra], env=env, capture_output=True, text=True,
                          timeout=120)


def test_cockpit_check_reports_alerts_and_thresholds(api: Api, tmp_path: Path) -> None:
    alert = {"labels": {"alertname": "QEKBelowMinimum", "severity": "critical"},
             "annotations": {"summary": "QEK below minimum threshold: 0.82 < 0.85"},
             "state": "firing", "activeAt": "2026-12-05T01:02:03Z", "value": "8.2e-01"}
    api.routes["/prom/api/v1/alerts"] = (200, JSON, json.dumps(
        {"status": "success", "data": {"alerts": [alert]}}).encode())
    api.routes["/api/metrics/thresholds"] = (200, JSON, json.dumps({"metrics": {
        "qek": 0.82, "h_var": 0.09, "ethisches_ideal": 0.99, "symbiosis_score": 0.7}}).encode())
    profile = tmp_path / "p.yaml"
    profile.write_text(f"""\
name: check-test
health:
  - {{name: alerts, kind: alerts, url: "{api.url}/prom"}}
metrics:
  - {{name: QEK, kind: json, url: "{api.url}/api/metrics/thresholds", path: metrics.qek,
     crit: {{below: 0.85}}, warn: {{below: 0.88}}}}
  - {{name: H-VAR, kind: json, url: "{api.url}/api/metrics/thresholds", path: metrics.h_var,
     crit: {{above: 0.10}}, warn: {{above: 0.08}}}}
""")
    proc = _check(profile)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "✗ alerts" in out and "1 alert firing: QEKBelowMinimum" in out
    assert "✗ alerts/QEKBelowMinimum" in out
    assert "QEK below minimum threshold: 0.82 < 0.85" in out
    assert "(crit < 0.85)" in out and "(warn > 0.08)" in out
    proc = _check(profile, "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and doc["healthy"] is False
    row = next(r for r in doc["health"] if r["name"] == "alerts/QEKBelowMinimum")
    assert row["details"] == "alertname=QEKBelowMinimum, severity=critical"
    assert {m["name"]: m.get("threshold") for m in doc["metrics"]} == {
        "QEK": "crit < 0.85", "H-VAR": "warn > 0.08"}
    assert api.hits["/api/metrics/thresholds"] == 2  # one fetch per run for both metrics
    api.routes["/prom/api/v1/alerts"] = (200, JSON, json.dumps(
        {"status": "success", "data": {"alerts": []}}).encode())
    api.routes["/api/metrics/thresholds"] = (200, JSON, json.dumps(THRESHOLDS).encode())
    proc = _check(profile)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no alerts firing" in proc.stdout


async def test_the_metrics_pane_shows_below_and_above(api: Api, tmp_path: Path) -> None:
    from cockpit.tui.panes.metrics import MetricsPane
    from tests.support import async_wait_until
    from tests.tui_support import PaneHarness, make_context

    api.routes["/api/metrics/thresholds"] = (200, JSON, json.dumps({"metrics": {
        "qek": 0.82, "h_var": 0.09, "ethisches_ideal": 0.99, "symbiosis_score": 0.7}}).encode())
    url = api.url + "/api/metrics/thresholds"
    context = make_context(tmp_path, f"""
        name: t
        metrics:
          - {{name: QEK, kind: json, url: "{url}", path: metrics.qek, interval: 1h,
             crit: {{below: 0.85}}, warn: {{below: 0.88}}}}
          - {{name: H-VAR, kind: json, url: "{url}", path: metrics.h_var, interval: 1h,
             crit: {{above: 0.10}}, warn: {{above: 0.08}}}}
          - {{name: Ethisches Ideal, kind: json, url: "{url}", path: metrics.ethisches_ideal,
             interval: 1h, crit: {{below: 0.95}}, warn: {{below: 0.97}}}}
    """)
    app = PaneHarness(lambda: MetricsPane(context))
    async with app.run_test(size=(120, 20)):
        pane = app.query_one(MetricsPane)

        def row(name: str) -> list[str]:
            return [cell.plain for cell in pane.table.get_row(name)]

        await async_wait_until(lambda: row("QEK")[2].strip() == "0.82", what="sampled")
        await async_wait_until(lambda: row("Ethisches Ideal")[2].strip() == "0.99",
                               what="every metric sampled")
        assert row("QEK")[3:] == ["✗ CRIT", "crit < 0.85"]
        assert row("H-VAR")[3:] == ["▲ WARN", "warn > 0.08"]
        assert row("Ethisches Ideal")[3:] == ["● OK", ""]
        assert api.hits["/api/metrics/thresholds"] == 1  # one fetch for the three
