"""The ``alerts`` probe against a real loopback HTTP server answering as Prometheus does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cockpit.core.boundary import Boundary
from cockpit.core.config.models import AlertsProbe
from cockpit.core.sources.alerts import alerts_url, row_names, selected
from cockpit.core.sources.health import HealthChecker, run_probe
from tests.support import LoopbackHTTP


def prom_alert(name: str, summary: str = "", state: str = "firing", **labels: str) -> dict:
    """One alert exactly as Prometheus' ``/api/v1/alerts`` has it."""
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": summary} if summary else {},
        "state": state,
        "activeAt": "2026-12-05T01:02:03.456789Z",
        "value": "8.2e-01",
    }


def prom_answer(*alerts: dict) -> bytes:
    return json.dumps({"status": "success", "data": {"alerts": list(alerts)}}).encode()


FIRING = prom_answer(
    prom_alert("QEKBelowMinimum", "QEK below minimum threshold: 0.82 < 0.85",
               severity="critical", service="euystacio-api"),
    prom_alert("HighCPU", "CPU above 80%", severity="warning", pod="api-1"),
    prom_alert("HighCPU", "CPU above 80%", severity="warning", pod="api-2"),
    prom_alert("Slow", "pending one", state="pending", severity="critical"),
)


class Prometheus(LoopbackHTTP):
    """Routes: path (without query) -> (status, content type, body)."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes]]) -> None:
        self.paths: list[str] = []

        def respond(path: str) -> tuple[int, str, bytes]:
            self.paths.append(path)
            return routes.get(path.split("?")[0], (404, "text/plain", b"not found"))

        super().__init__(respond)


JSON = "application/json"


@pytest.fixture
def prom() -> Iterator[Prometheus]:
    server = Prometheus({
        "/api/v1/alerts": (200, JSON, FIRING),
        "/quiet/api/v1/alerts": (200, JSON, prom_answer()),
        "/huge/api/v1/alerts": (200, JSON, prom_answer(
            *(prom_alert("Big", "x" * 1000, n=str(i)) for i in range(6000)))),
        "/broken/api/v1/alerts": (500, "text/plain", b"internal error"),
        "/err/api/v1/alerts": (503, JSON, json.dumps(
            {"status": "error", "errorType": "unavailable", "error": "rule manager down"}
        ).encode()),
        "/badjson/api/v1/alerts": (200, JSON, b'{"status": "success", "data": {'),
        "/escapes/api/v1/alerts": (200, JSON, prom_answer(prom_alert(
            "Evil\x1b]52;c;aGk=\x07", "red \x1b[31mALERT\x1b[0m token=ghp_" + "a" * 36,
            severity="critical\x1b[2J"))),
        "/am/api/v2/alerts": (200, JSON, json.dumps([
            {"labels": {"alertname": "Down", "job": "api"},
             "annotations": {"description": "api is down"},
             "status": {"state": "active"}},
            {"labels": {"alertname": "Muted"}, "annotations": {},
             "status": {"state": "suppressed"}},
        ]).encode()),
    })
    yield server
    server.close()


def probe(url: str, **kw: object) -> AlertsProbe:
    return AlertsProbe.model_validate({"kind": "alerts", "name": "alerts", "url": url, **kw})


def test_the_alerts_path_is_appended_unless_given() -> None:
    assert alerts_url("http://p:9090") == "http://p:9090/api/v1/alerts"
    assert alerts_url("http://p:9090/") == "http://p:9090/api/v1/alerts"
    assert alerts_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"


async def test_each_firing_alert_is_a_failing_row(prom: Prometheus) -> None:
    main, *alerts = await run_probe(probe(prom.url))
    assert (main.name, main.state) == ("alerts", "fail")
    assert main.reason == "3 alerts firing: QEKBelowMinimum, HighCPU"
    assert main.latency_ms is not None
    assert [(r.name, r.state, r.parent) for r in alerts] == [
        ("alerts/QEKBelowMinimum", "fail", "alerts"),
        ("alerts/HighCPU (pod=api-1)", "fail", "alerts"),
        ("alerts/HighCPU (pod=api-2)", "fail", "alerts"),
    ]
    assert alerts[0].reason == "QEK below minimum threshold: 0.82 < 0.85"
    assert alerts[0].details == \
        "alertname=QEKBelowMinimum, service=euystacio-api, severity=critical"
    assert prom.paths == ["/api/v1/alerts"]


async def test_match_and_pending(prom: Prometheus) -> None:
    rows = await run_probe(probe(prom.url, match={"severity": "critical"}))
    assert [r.name for r in rows] == ["alerts", "alerts/QEKBelowMinimum"]
    rows = await run_probe(probe(prom.url, match={"severity": "critical"},
                                 include_pending=True))
    assert [(r.name, r.state) for r in rows[1:]] == [
        ("alerts/QEKBelowMinimum", "fail"), ("alerts/Slow", "unknown")]
    assert rows[2].reason == "pending: pending one"
    only_pending = await run_probe(probe(prom.url, match={"alertname": "Slow"},
                                         include_pending=True))
    assert (only_pending[0].state, only_pending[0].reason) == ("unknown", "1 pending")


async def test_none_firing_is_one_ok_row(prom: Prometheus) -> None:
    rows = await run_probe(probe(prom.url + "/quiet"))
    assert [(r.name, r.state, r.reason) for r in rows] == [
        ("alerts", "ok", "no alerts firing")]
    none_match = await run_probe(probe(prom.url, match={"severity": "page"}))
    assert [(r.state, r.reason) for r in none_match] == [("ok", "no alerts firing")]


async def test_a_huge_answer_is_capped(prom: Prometheus) -> None:
    rows = await run_probe(probe(prom.url + "/huge", max_body="1MB"))
    assert [(r.state, r.reason) for r in rows] == [
        ("fail", "reply body over 1 MB cap: not read further")]
    # under a larger cap it is read; the rows shown are bounded, the rest counted
    main, *alerts = await run_probe(probe(prom.url + "/huge", max_body="20MB", timeout=20))
    assert main.state == "fail" and "(+5800 not shown)" in main.reason
    assert len(alerts) == 200


async def test_server_errors_and_invalid_json(prom: Prometheus) -> None:
    rows = await run_probe(probe(prom.url + "/broken"))
    assert [(r.state, r.reason) for r in rows] == [("fail", "HTTP 500")]
    rows = await run_probe(probe(prom.url + "/err"))
    assert [(r.state, r.reason) for r in rows] == [
        ("fail", "HTTP 503: unavailable: rule manager down")]
    rows = await run_probe(probe(prom.url + "/badjson"))
    assert len(rows) == 1 and rows[0].state == "fail"
    assert rows[0].reason.startswith("invalid JSON")
    rows = await run_probe(probe(prom.url + "/nothing-here"))
    assert [(r.state, r.reason) for r in rows] == [("fail", "HTTP 404")]


async def test_alertmanager_answers_too(prom: Prometheus) -> None:
    rows = await run_probe(probe(prom.url + "/am/api/v2/alerts"))
    assert [(r.name, r.state, r.reason) for r in rows] == [
        ("alerts", "fail", "1 alert firing: Down"), ("alerts/Down", "fail", "api is down")]


async def test_unreachable_is_one_failing_row() -> None:
    rows = await run_probe(probe("http://127.0.0.1:9", timeout=2))
    assert [(r.state, r.reason) for r in rows] == [("fail", "connection refused")]


async def test_every_text_passes_the_boundary(prom: Prometheus) -> None:
    checker = HealthChecker([probe(prom.url + "/escapes")], boundary=Boundary())
    try:
        main, alert = await checker.check_all()
    finally:
        await checker.close()
    for text in (main.reason, alert.name, alert.reason, alert.details):
        assert "\x1b" not in text and "\x07" not in text
    assert alert.name == "alerts/Evil\\e]52;c;aGk=\\a"
    assert "\\e[31mALERT" in alert.reason and "ghp_" + "a" * 36 not in alert.reason
    assert "severity=critical\\e[2J" in alert.details


def test_names_tell_alerts_of_one_name_apart() -> None:
    from cockpit.core.sources.alerts import Alert

    alerts = [Alert("A", "firing", {"alertname": "A", "pod": "p1", "sev": "x"}, ""),
              Alert("A", "firing", {"alertname": "A", "pod": "p2", "sev": "x"}, ""),
              Alert("A", "firing", {"alertname": "A", "pod": "p2", "sev": "x"}, ""),
              Alert("B", "firing", {"alertname": "B", "pod": "p1"}, "")]
    assert row_names(alerts) == ["A (pod=p1)", "A (pod=p2)", "A (pod=p2)", "B"]
    assert selected(alerts, {"pod": "p1"}, False) == [alerts[0], alerts[3]]


def test_validation_names_file_and_line(tmp_path) -> None:
    from cockpit.core.config.loader import load_profile
    from cockpit.core.errors import ConfigError

    path = tmp_path / "p.yaml"
    path.write_text("name: p\nhealth:\n  - name: a\n    kind: alerts\n"
                    "    url: http://p:9090\n    match: {severity: [1]}\n"
                    "    include_pending: maybe\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    problems = "\n".join(info.value.problems)
    assert f"{path}:6:" in problems and f"{path}:7:" in problems
    path.write_text("name: p\nhealth:\n  - {name: a, kind: alerts, url: http://p:9090, "
                    "match: {code: 500}}\n")
    assert load_profile(path).profile.health[0].match == {"code": "500"}
