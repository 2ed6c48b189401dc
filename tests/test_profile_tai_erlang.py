"""The worked example profiles/tai-erlang.yaml (Cloud Run) and its Docker Compose variant
tai-erlang-compose.yaml: the runbook attached, both valid, and the Cloud Run profile's
checks, targets and blue-green operations headless against the seeded double (the real
gcloud reading the split back)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cockpit.core.config.loader import load_profile
from cockpit.core.config.models import HttpProbe, PrometheusMetric, TargetMetric, TargetProbe

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "profiles" / "tai-erlang.yaml"
COMPOSE = REPO / "profiles" / "tai-erlang-compose.yaml"
RUNBOOK = "tai-erlang-autonomics.md"


def cockpit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, with this test's environment (the double's
    exports when ``gcp_env`` set them)."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "cockpit", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_runbook_is_attached_and_is_the_shared_one() -> None:
    copy = REPO / "profiles" / RUNBOOK
    assert copy.read_text() == (REPO / "tests" / "fixtures" / "runbooks" / RUNBOOK).read_text()
    for path in (PROFILE, COMPOSE):
        assert f"runbooks: [{RUNBOOK}]" in path.read_text()


def test_the_compose_variant_names_the_service_and_the_emulators() -> None:
    profile = load_profile(COMPOSE, environ={}).profile
    assert profile.backend.kind == "docker"
    assert profile.backend.options == {"project": "tai-erlang-autonomics",
                                       "default_target": "tai-autonomics"}
    probes = {p.name: p for p in profile.health}
    containers = probes["containers"]
    assert isinstance(containers, TargetProbe)
    assert containers.targets == ["tai-autonomics", "pubsub-emulator", "firestore-emulator"]
    health = probes["health"]
    assert isinstance(health, HttpProbe) and health.checks_field == "dependencies"
    assert health.url == "http://localhost:8080/health"
    assert profile.action("up").run == ["docker-compose", "up", "-d"]
    assert profile.action("restart").operation == "restart"
    assert profile.action("docker.restart") is not None  # the backend's own operations


def test_the_profile_as_written() -> None:
    profile = load_profile(PROFILE, environ={}).profile
    assert profile.backend.kind == "cloudrun"
    assert profile.backend.options["regions"] == ["us-central1", "europe-west1"]
    assert profile.runbooks == [RUNBOOK]
    probes = {p.name: p for p in profile.health}
    assert isinstance(probes["service"], TargetProbe)
    assert probes["service"].targets == ["tai-autonomics"]
    health = probes["health"]
    assert isinstance(health, HttpProbe) and health.checks_field == "dependencies"
    assert health.url == "http://localhost:8080/health"  # without $TAI_SERVICE_URL
    stats = {m.name: (m.stat, m.target) for m in profile.metrics if isinstance(m, TargetMetric)}
    assert stats["error rate"] == ("error_rate", "us-central1/tai-autonomics")
    assert {stat for stat, _ in stats.values()} == {
        "error_rate", "p99_latency_ms", "request_rate", "instances"}
    thresholds = {m.name: (m.warn, m.crit) for m in profile.metrics}
    assert thresholds["error rate"][1].above == 1  # the runbook's alert: error rate > 1%
    assert thresholds["p99 latency"][0].above == 500  # target P99 < 500 ms
    assert thresholds["p99 latency"][1].above == 1000  # alert: P99 > 1 s
    assert {m.metric for m in profile.metrics if isinstance(m, PrometheusMetric)} == {
        "tai_http_requests_total", "tai_receipt_emitted_total",
        "tai_governor_decisions_total", "tai_governor_active_tenants"}
    operations = {a.id: (a.operation, a.target, a.danger) for a in profile.actions
                  if a.operation}
    service = "us-central1/tai-autonomics"
    assert operations["blue-green-shift"] == ("update-traffic", service, "dangerous")
    assert operations["blue-green-complete"] == ("update-traffic", service, "dangerous")
    assert operations["blue-green-abort"] == ("update-traffic", service, "dangerous")
    assert operations["rollback"] == ("rollback", service, "dangerous")
    assert {"cloudrun.update-traffic", "cloudrun.rollback", "cloudrun.delete-revision"} <= \
        {a.id for a in profile.actions}
    assert profile.action("recent-errors").run[:3] == ["gcloud", "logging", "read"]
    assert profile.action("describe").run[:4] == ["gcloud", "run", "services", "describe"]
    validate = cockpit("validate", str(PROFILE), str(COMPOSE))
    assert validate.returncode == 0, validate.stdout + validate.stderr


def check(profile: str = str(PROFILE)) -> tuple[int, dict]:
    proc = cockpit("check", "--profile", profile, "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_the_checks_pass_then_fail_once_blue_takes_traffic(gcp, gcp_env) -> None:
    status, report = check()
    assert status == 0, report
    rows = {r["name"]: r for r in report["health"]}
    assert rows["service/tai-autonomics (us-central1)"]["state"] == "ok"
    assert rows["service/tai-autonomics (europe-west1)"]["state"] == "ok"
    assert rows["health/pubsub"]["state"] == "ok"
    assert rows["metrics-endpoint"]["state"] == "ok"
    metrics = {m["name"]: m for m in report["metrics"]}
    assert metrics["error rate"]["value"] == 0 and metrics["p99 latency"]["value"] == 120
    assert metrics["http requests/s"]["state"] == "ok"
    gcp.set_traffic("us-central1", "tai-autonomics",
                    {"tai-autonomics-00001-grn": 90, "tai-autonomics-00002-blu": 10},
                    tags={"tai-autonomics-00001-grn": "green",
                          "tai-autonomics-00002-blu": "blue"})
    status, report = check()
    assert status == 1
    rows = {r["name"]: r for r in report["health"]}
    assert rows["health/pubsub"]["state"] == "fail"
    assert rows["health/pubsub"]["reason"] == "degraded"
    metrics = {m["name"]: m for m in report["metrics"]}
    assert metrics["error rate"]["state"] == "crit"  # 12% of blue's 10%: 1.2% > 1%
    assert metrics["error rate"]["threshold"] == "crit > 1"
    assert metrics["p99 latency"]["state"] == "warn"  # blue's 850 ms
    assert metrics["eu error rate"]["state"] == "ok"
    # blue serving most: /health is the runbook's 503, its reason in the row
    gcp.set_traffic("us-central1", "tai-autonomics",
                    {"tai-autonomics-00001-grn": 40, "tai-autonomics-00002-blu": 60},
                    tags={"tai-autonomics-00001-grn": "green",
                          "tai-autonomics-00002-blu": "blue"})
    status, report = check()
    rows = {r["name"]: r for r in report["health"]}
    assert status == 1 and rows["health"]["state"] == "fail"
    assert rows["health"]["reason"] == ('HTTP 503; status "unavailable": pubsub subscription '
                                        'erlang-autonomics-signals-sub not found')
    assert rows["health/pubsub"]["reason"] == "error"


def test_targets_json_lists_services_and_revisions_with_their_traffic(gcp_env) -> None:
    proc = cockpit("targets", "--profile", str(PROFILE), "--json")
    assert proc.returncode == 0, proc.stderr
    targets = {t["id"]: t for t in json.loads(proc.stdout)}
    us, eu = "us-central1/tai-autonomics", "europe-west1/tai-autonomics"
    assert list(targets) == [eu, f"{eu}/tai-autonomics-00001-grn", us,
                             f"{us}/tai-autonomics-00001-grn", f"{us}/tai-autonomics-00002-blu"]
    assert {i: (t["kind"], t["state"], t["scope"], t["parent"], t["health"]["state"])
            for i, t in targets.items()} == {
        eu: ("service", "ready", "europe-west1", None, "ok"),
        f"{eu}/tai-autonomics-00001-grn": ("revision", "100%", "europe-west1", eu, "ok"),
        us: ("service", "ready", "us-central1", None, "ok"),
        f"{us}/tai-autonomics-00001-grn": ("revision", "100% green", "us-central1", us, "ok"),
        f"{us}/tai-autonomics-00002-blu": ("revision", "0% blue", "us-central1", us, "ok"),
    }
    details = targets[us]["details"]
    assert details["uri"].endswith("/run.app/us-central1/tai-autonomics")
    assert details["latestReadyRevision"] == "tai-autonomics-00002-blu"
    assert [(t["revision"], t["percent"]) for t in details["traffic"] if t["percent"]] == [
        ("tai-autonomics-00001-grn", 100)]
    assert targets[f"{us}/tai-autonomics-00002-blu"]["image"].endswith("tai-autonomics:1.5.0")


def served(gcp) -> dict[str, int]:
    """The us-central1 split as the real ``gcloud run services describe`` reads it."""
    from tests.gcpdouble.gcloud import run_gcloud

    out = run_gcloud(gcp, "run", "services", "describe", "tai-autonomics", "--region",
                     "us-central1", "--format=json")
    traffic = json.loads(out.stdout)["status"]["traffic"]
    return {t["revisionName"]: t["percent"] for t in traffic if t.get("percent")}


def test_update_traffic_headless_then_gcloud_reads_the_split(gcp, gcp_env) -> None:
    service = ["-p", "service=us-central1/tai-autonomics"]
    # dangerous: without --yes and without a terminal it is refused (exit 3)
    refused = cockpit("run", "--profile", str(PROFILE), "cloudrun.update-traffic", *service,
                      "-p", "to_tags=blue=10")
    assert refused.returncode == 3 and "NOT_CONFIRMED" in refused.stderr
    # a split gcloud would refuse is refused before anything runs (exit 2)
    bad = cockpit("run", "--profile", str(PROFILE), "cloudrun.update-traffic", *service,
                  "-p", "to_revisions=tai-autonomics-00001-grn=50", "--yes")
    assert bad.returncode == 2
    assert "100% of traffic has not been specified" in bad.stderr
    ran = cockpit("run", "--profile", str(PROFILE), "cloudrun.update-traffic", *service,
                  "-p", "to_tags=blue=10", "--yes")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "gcloud run services update-traffic tai-autonomics --project tai-erlang-demo " \
        "--region us-central1 --to-tags blue=10" in ran.stderr
    assert re.search(r"tai-autonomics-00002-blu\s+0%\s+10%\s+blue", ran.stdout)
    assert served(gcp) == {"tai-autonomics-00001-grn": 90, "tai-autonomics-00002-blu": 10}
    # the profile's own actions: complete, then the runbook's rollback
    done = cockpit("run", "--profile", str(PROFILE), "blue-green-complete", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert served(gcp) == {"tai-autonomics-00002-blu": 100}
    back = cockpit("run", "--profile", str(PROFILE), "rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "--to-revisions tai-autonomics-00001-grn=100" in back.stderr
    assert served(gcp) == {"tai-autonomics-00001-grn": 100}
    trail = cockpit("audit", "tail", "--where", "status!=started", "--json")
    records = [json.loads(line) for line in trail.stdout.splitlines()]
    assert [r["action"] for r in records] == [
        "cloudrun.update-traffic", "cloudrun.update-traffic", "blue-green-complete",
        "rollback"]
    assert records[-1]["backend"]["project"] == "tai-erlang-demo"
    assert records[-1]["backend"]["region"] == "us-central1"


def test_check_as_text_keeps_its_latency_column_with_long_names(gcp_env) -> None:
    proc = cockpit("check", "--profile", str(PROFILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines()
            if line.lstrip().startswith(("✓ service", "✓ health"))
            and "health latency" not in line]  # a metric, in the metrics' own columns
    assert any("service/tai-autonomics (europe-west1)" in line for line in rows)
    # the latency ("-" or "7.3ms") ends in the same column on every probe row
    ends = {re.search(r"(-|ms)  ", line).end() for line in rows}
    assert len(ends) == 1, rows


def test_the_gcloud_host_actions_talk_to_the_double_in_plain_text(gcp_env) -> None:
    """Host commands get the backend's project and region; gcloud's colours are off, so
    its output is text, not escapes shown as ``\\e[1m``."""
    proc = cockpit("run", "--profile", str(PROFILE), "describe", "-p", "region=europe-west1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Service tai-autonomics in region europe-west1" in proc.stdout
    assert "100% tai-autonomics-00001-grn" in proc.stdout
    assert "\\e[" not in proc.stdout and "\x1b" not in proc.stdout
    errors = cockpit("run", "--profile", str(PROFILE), "recent-errors", "-p", "limit=5")
    assert errors.returncode == 0, errors.stdout + errors.stderr
    assert "severity: ERROR" in errors.stdout


def test_a_region_that_cannot_be_listed_fails_the_check(gcp, gcp_env, tmp_path) -> None:
    """europe-west1 refusing its listing: the service probe's europe-west1 row fails (not
    left out while the header says healthy), and a metric of a service that is not there
    says so instead of a green 0."""
    gcp.inject("GET", r"/locations/europe-west1/services$", 403, times=None)
    status, report = check()
    rows = {r["name"]: r for r in report["health"]}
    assert status == 1
    eu = rows["service/tai-autonomics (europe-west1)"]
    assert eu["state"] == "fail" and eu["reason"].startswith("cannot list europe-west1: "
                                                             "Cloud Run: 403")
    assert rows["service/tai-autonomics (us-central1)"]["state"] == "ok"
    gcp.clear_faults()
    typo = tmp_path / "typo.yaml"
    typo.write_text(PROFILE.read_text().replace("target: us-central1/tai-autonomics\n",
                                                "target: us-central1/tai-autonomicz\n"))
    (tmp_path / RUNBOOK).write_text((REPO / "profiles" / RUNBOOK).read_text())
    status, report = check(str(typo))
    metrics = {m["name"]: m for m in report["metrics"]}
    assert metrics["error rate"]["state"] != "ok", metrics["error rate"]
    assert "no service tai-autonomicz in us-central1" in json.dumps(metrics["error rate"])
