"""The worked example profiles/meta-salvage.yaml: its runbook attached, its generic parts
(probes, thresholds, log sources, actions) valid, its thresholds and alerts read from
loopback servers answering as the runbook's services do.

The profile names the kubernetes backend. Where that backend is not registered yet, the
profile is checked on a copy whose backend is docker (the same probes, metrics, logs and
command actions; the operation actions and the label selector need kubernetes) and the
real file must fail on the backend's kind alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.core.backends.registry import backend_kinds
from cockpit.core.config.loader import load_profile
from cockpit.core.config.models import AlertsProbe, JsonMetric, TargetProbe
from cockpit.core.errors import ConfigError
from cockpit.core.sources.health import HealthChecker
from cockpit.core.sources.metrics import MetricsSampler
from tests.support import LoopbackHTTP

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "profiles" / "meta-salvage.yaml"
OPERATIONS = {"scale-api": "scale", "rollback-api": "undo",
              "rollout-status-api": "rollout-status", "restart-api": "restart"}


def generic_copy(tmp_path: Path, environ: dict[str, str] | None = None):
    """The profile on the docker backend, without what only kubernetes has."""
    text = PROFILE.read_text()
    text = re.sub(r"backend:\n  kind: kubernetes\n(?:  .*\n)*",
                  "backend:\n  kind: docker\n  containers: [euystacio-api]\n", text)
    blocks = text.split("\n  - id: ")
    text = "\n  - id: ".join([blocks[0], *(b for b in blocks[1:] if "operation:" not in b)])
    text = text.replace("    selector: app=opa-peace-bonds\n",
                        "    targets: [deployment/opa-peace-bonds]\n")
    path = tmp_path / "meta-salvage.yaml"
    path.write_text(text)
    (tmp_path / "meta-salvage-k8s.md").write_text(
        (REPO / "profiles" / "meta-salvage-k8s.md").read_text())
    return load_profile(path, environ=environ or {})


def test_the_runbook_is_attached_and_is_the_shared_one() -> None:
    copy = REPO / "profiles" / "meta-salvage-k8s.md"
    assert copy.read_text() == \
        (REPO / "tests" / "fixtures" / "runbooks" / "meta-salvage-k8s.md").read_text()
    assert "runbooks: [meta-salvage-k8s.md]" in PROFILE.read_text()


def test_the_profile_as_written() -> None:
    if "kubernetes" not in backend_kinds():
        with pytest.raises(ConfigError) as info:
            load_profile(PROFILE, environ={})
        assert info.value.problems == [
            f"{PROFILE}:18: backend.kind: unknown backend kind 'kubernetes' "
            f"(known: {', '.join(backend_kinds())})"]
        return
    profile = load_profile(PROFILE, environ={}).profile
    for action_id, operation in OPERATIONS.items():
        action = profile.action(action_id)
        assert action is not None and action.operation == operation
        assert action.target == "deployment/euystacio-api"
    assert profile.action("scale-api").danger == "caution"
    assert profile.action("rollback-api").danger == "dangerous"


def test_the_generic_parts(tmp_path: Path) -> None:
    profile = generic_copy(tmp_path).profile
    assert profile.runbooks == ["meta-salvage-k8s.md"]
    probes = {p.name: p for p in profile.health}
    assert list(probes) == ["workloads", "opa-pods", "api", "thresholds-endpoint", "alerts"]
    assert isinstance(probes["alerts"], AlertsProbe)
    assert probes["alerts"].url == "http://prometheus:9090"
    assert probes["api"].url == "http://euystacio-api:8000/health"
    workloads = probes["workloads"]
    assert isinstance(workloads, TargetProbe) and workloads.targets == [
        "deployment/euystacio-api", "deployment/opa-peace-bonds", "statefulset/euystacio-db"]
    thresholds = {m.name: (m.path, m.crit.model_dump(exclude_none=True),
                           m.warn.model_dump(exclude_none=True))
                  for m in profile.metrics if isinstance(m, JsonMetric)}
    assert thresholds == {
        "QEK": ("metrics.qek", {"below": 0.85}, {"below": 0.88}),
        "H-VAR": ("metrics.h_var", {"above": 0.10}, {"above": 0.08}),
        "Ethisches Ideal": ("metrics.ethisches_ideal", {"below": 0.95}, {"below": 0.97}),
        "Symbiosis Score": ("metrics.symbiosis_score", {"below": 0.5}, {"below": 0.6}),
    }
    assert [s.targets for s in profile.logs] == [["deployment/euystacio-api"],
                                                 ["deployment/opa-peace-bonds"]]
    top = profile.action("top-pods")
    # no --context/-n: kubectl runs with the backend's KUBECONFIG (its current context
    # and namespace), so the actions follow :ctx / :ns
    assert top is not None and top.run == ["kubectl", "top", "pods", "--sort-by={sort}"]
    assert profile.action("api-logs").run[-2:] == ["deployment/euystacio-api", "--tail=100"]


def test_the_selector_probe_as_written() -> None:
    raw = PROFILE.read_text()
    assert "  - name: opa-pods\n    kind: target\n    selector: app=opa-peace-bonds\n" in raw


class Services(LoopbackHTTP):
    """The API's thresholds and Prometheus' alerts, as the runbook's services answer."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.thresholds = {"qek": 0.91, "h_var": 0.05, "ethisches_ideal": 0.98,
                           "symbiosis_score": 0.72}
        self.alerts: list[dict] = []

        def respond(path: str) -> tuple[int, str, bytes]:
            self.hits.append(path)
            if path == "/api/metrics/thresholds":
                body = {"metrics": self.thresholds}
            elif path == "/api/v1/alerts":
                body = {"status": "success", "data": {"alerts": self.alerts}}
            else:
                return 404, "text/plain", b"no"
            return 200, "application/json", json.dumps(body).encode()

        super().__init__(respond)


@pytest.fixture
def services() -> Iterator[Services]:
    server = Services()
    yield server
    server.close()


async def test_the_daily_check_against_the_services(tmp_path: Path,
                                                    services: Services) -> None:
    env = {"METASALVAGE_API": services.url, "PROMETHEUS_URL": services.url}
    profile = generic_copy(tmp_path, env).profile
    sampler = MetricsSampler(profile.metrics)
    alerts = [p for p in profile.health if isinstance(p, AlertsProbe)]
    checker = HealthChecker(alerts)
    try:
        samples = await sampler.sample_all(
            [m.name for m in profile.metrics if isinstance(m, JsonMetric)])
        assert {n: s.state for n, s in samples.items()} == {
            "QEK": "ok", "H-VAR": "ok", "Ethisches Ideal": "ok", "Symbiosis Score": "ok"}
        assert services.hits.count("/api/metrics/thresholds") == 1
        services.thresholds = {"qek": 0.82, "h_var": 0.12, "ethisches_ideal": 0.96,
                               "symbiosis_score": 0.55}
        samples = await sampler.sample_all(
            [m.name for m in profile.metrics if isinstance(m, JsonMetric)])
        assert {n: s.state for n, s in samples.items()} == {
            "QEK": "crit", "H-VAR": "crit", "Ethisches Ideal": "warn",
            "Symbiosis Score": "warn"}
        assert [r.reason for r in await checker.check_all()] == ["no alerts firing"]
        services.alerts = [{"labels": {"alertname": "QEKBelowMinimum", "severity": "critical"},
                            "annotations": {"summary": "QEK below minimum threshold: "
                                                       "0.82 < 0.85"},
                            "state": "firing", "activeAt": "2026-12-05T01:00:00Z",
                            "value": "8.2e-01"}]
        rows = await checker.check_all()
        assert [(r.name, r.state, r.reason) for r in rows] == [
            ("alerts", "fail", "1 alert firing: QEKBelowMinimum"),
            ("alerts/QEKBelowMinimum", "fail", "QEK below minimum threshold: 0.82 < 0.85")]
    finally:
        await sampler.close()
        await checker.close()
