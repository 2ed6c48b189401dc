"""The worked example profiles/tai-erlang.yaml (Cloud Run) and its Docker Compose variant
tai-erlang-compose.yaml: the runbook attached, both valid, and the Cloud Run profile's
checks, targets and blue-green operations headless against the seeded double (the real
gcloud reading the split back)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cockpit.core.config.loader import load_profile
from cockpit.core.config.models import HttpProbe, TargetProbe

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
