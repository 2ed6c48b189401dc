"""The docker backend against a real, private dockerd (see tests/docker_support.py).

Targets from the event stream, exec actions with exit codes, built-in operations through
the confirmation policy and the audit trail, logs followed across a restart, health from
a healthcheck, stats as metrics, an engine that goes away mid-session, and the
containerised demo. Skipped without dockerd (a failure with CI=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail, verify_trail
from cockpit.core.config.loader import load_profile
from cockpit.core.config.models import TargetLogSource, TargetMetric, TargetProbe
from cockpit.core.environment import open_backend
from cockpit.core.errors import CockpitError
from cockpit.core.sources.health import HealthChecker
from cockpit.core.sources.logs import merge_sources
from cockpit.core.sources.metrics import MetricsSampler
from cockpit.core.sources.target_logs import TargetFollower
from tests.docker_support import PrivateEngine, SocketProxy, run
from tests.support import async_wait_until, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
#: exits on SIGTERM at once (a shell as PID 1 ignores signals it does not trap)
LOOP = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.1; done'"
SECOND = 1_000_000_000  # nanoseconds, for healthcheck settings


def state_of(client: Any, name: str) -> dict[str, Any]:
    container = client.containers.get(name)
    return container.attrs["State"]


def write_profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(body)
    return path


def runner_for(path: Path, tmp_path: Path, **kwargs: Any) -> ActionRunner:
    loaded = load_profile(path)
    return ActionRunner(loaded, open_backend(loaded), AuditTrail(tmp_path / "trail.jsonl"),
                        **kwargs)


async def run_action(runner: ActionRunner, action: str, params: dict | None = None,
                     confirmed: bool = False) -> tuple[Any, list[Any]]:
    lines: list[Any] = []
    prepared = runner.prepare(action, params or {})
    outcome = await runner.run(prepared, confirm=(lambda _request: True) if confirmed else None,
                               on_line=lines.append)
    return outcome, lines


# --- targets --------------------------------------------------------------------------------


async def test_targets_follow_the_event_stream(engine, docker_client) -> None:
    from cockpit.core.backends.docker import DockerBackend

    name = run(docker_client, LOOP)
    backend = DockerBackend({"host": engine.host, "containers": [name, "absent-ck"]})
    try:
        targets = {t.name: t for t in await backend.list_targets()}
        target = targets[name]
        assert target.kind == "container" and target.state == "running"
        assert target.details["image"] == "cockpit-test-busybox:latest"
        assert target.details["restart_count"] == 0
        assert abs(target.details["started_at"] - time.time()) < 60
        assert targets["absent-ck"].state == "missing"
        first_start = target.details["started_at"]

        async def state() -> str:
            found = {t.name: t for t in await backend.list_targets()}
            return found[name].state

        docker_client.containers.get(name).kill()
        await async_wait_until(lambda: _eq(state(), "exited"), timeout=15, what="exited")
        docker_client.containers.get(name).start()
        await async_wait_until(lambda: _eq(state(), "running"), timeout=15, what="running")
        again = {t.name: t for t in await backend.list_targets()}[name]
        assert again.details["started_at"] > first_start
        docker_client.containers.get(name).remove(force=True)
        await async_wait_until(lambda: _eq(state(), "missing"), timeout=15, what="removed")
        # Created again under the same name: a new container, found by its event.
        run(docker_client, LOOP, name=name)
        await async_wait_until(lambda: _eq(state(), "running"), timeout=15, what="recreated")
        assert {t.name: t for t in await backend.list_targets()}[name].id != target.id
    finally:
        await backend.close()


async def _eq(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def test_a_compose_project_selects_its_containers(engine, docker_client) -> None:
    from cockpit.core.backends.docker import DockerBackend

    project = f"p{uuid.uuid4().hex[:6]}"
    labels = {"com.docker.compose.project": project}
    web = run(docker_client, LOOP, labels={**labels, "com.docker.compose.service": "web"})
    run(docker_client, LOOP, labels={**labels, "com.docker.compose.service": "db"})
    run(docker_client, LOOP, labels={"com.docker.compose.project": "other"})
    backend = DockerBackend({"host": engine.host, "project": project})
    only_web = DockerBackend({"host": engine.host, "project": project, "service": "web"})
    try:
        services = sorted(t.details["service"] for t in await backend.list_targets())
        assert services == ["db", "web"]
        assert [t.name for t in await only_web.list_targets()] == [web]
        from cockpit.core.backends.base import CommandSpec

        # A service name is enough to run a command in its container.
        result, lines = await backend.run(CommandSpec(argv=["echo", "in web"], target="web"))
        assert result.exit_code == 0 and [line.text for line in lines] == ["in web"]
        result, _ = await only_web.run(CommandSpec(argv=["true"], target="db"))
        assert result.exit_code is None and "no such container among" in result.error
    finally:
        await backend.close()
        await only_web.close()


# --- actions --------------------------------------------------------------------------------


async def test_exec_actions_report_exit_codes_and_stream_output(
    engine, docker_client, tmp_path
) -> None:
    name = run(docker_client, LOOP)
    path = write_profile(tmp_path, f"""
name: t
backend: {{kind: docker, host: "{engine.host}", containers: [{name}]}}
env: {{GREETING: hello}}
actions:
  - id: argv
    run: [sh, -c, 'echo "out $GREETING"; echo err >&2; exit 3']
    expect_exit: [3]
  - id: fails
    run: [sh, -c, 'exit 5']
  - id: script
    params: [{{name: who, default: world}}]
    script: |
      echo "hi $WHO"
      false | true
      echo unreachable
  - id: missing
    run: [no-such-binary, x]
  - id: on-host
    where: host
    run: [sh, -c, 'echo "host $DOCKER_HOST"']
  - id: slow
    run: [sh, -c, 'echo started; sleep 300 & sleep 301']
    timeout: 1s
  - id: cancel-me
    run: [sh, -c, 'echo started; sleep 302']
  - id: elsewhere
    target: absent-ck
    run: ["true"]
""")
    runner = runner_for(path, tmp_path)
    try:
        outcome, lines = await run_action(runner, "argv")
        assert outcome.status == "succeeded" and outcome.exit_code == 3
        assert [(line.stream, line.text) for line in lines] == [
            ("stdout", "out hello"), ("stderr", "err")] or sorted(
            (line.stream, line.text) for line in lines) == [
            ("stderr", "err"), ("stdout", "out hello")]
        assert outcome.record["target"] == name

        outcome, _ = await run_action(runner, "fails")
        assert outcome.status == "failed" and outcome.exit_code == 5
        assert outcome.cli_exit_code == 5

        outcome, lines = await run_action(runner, "script", {"who": "docker"})
        texts = [line.text for line in lines]
        assert "hi docker" in texts and "unreachable" not in texts  # pipefail in busybox sh
        assert outcome.exit_code == 1

        outcome, _ = await run_action(runner, "missing")
        assert outcome.status == "error"
        assert "command not found in container" in outcome.message

        outcome, lines = await run_action(runner, "on-host")
        assert [line.text for line in lines] == [f"host {engine.host}"]

        started = time.monotonic()
        outcome, _ = await run_action(runner, "slow")
        assert outcome.status == "timed_out" and time.monotonic() - started < 15
        ps = docker_client.containers.get(name).exec_run("ps").output.decode()
        assert "sleep 30" not in ps, ps  # the whole tree, background sleep included

        prepared = runner.prepare("cancel-me")
        seen = asyncio.Event()
        task = asyncio.create_task(runner.run(prepared, on_line=lambda _line: seen.set()))
        await asyncio.wait_for(seen.wait(), 15)
        await prepared.cancel()
        outcome = await asyncio.wait_for(task, 15)
        assert outcome.status == "cancelled"
        ps = docker_client.containers.get(name).exec_run("ps").output.decode()
        assert "sleep 302" not in ps, ps

        outcome, _ = await run_action(runner, "elsewhere")
        assert outcome.status == "error" and "no such container" in outcome.message
    finally:
        await runner.backend.close()


async def test_builtin_operations_go_through_policy_and_audit(
    engine, docker_client, tmp_path
) -> None:
    name = run(docker_client, LOOP)
    path = write_profile(tmp_path, f"""
name: ops
backend: {{kind: docker, host: "{engine.host}", containers: [{name}], stop_timeout: 2s,
          operations: {{exec: caution}}}}
""")
    runner = runner_for(path, tmp_path)
    try:
        dangers = {a.id: a.danger for a in runner.loaded.profile.actions}
        assert dangers == {"docker.start": "safe", "docker.restart": "caution",
                           "docker.stop": "dangerous", "docker.kill": "dangerous",
                           "docker.pause": "caution", "docker.unpause": "safe",
                           "docker.exec": "caution"}

        # Dangerous and not confirmed: refused, recorded, nothing happens.
        outcome, _ = await run_action(runner, "docker.stop")
        assert outcome.status == "denied" and outcome.decision.reason_codes == ["NOT_CONFIRMED"]
        assert outcome.record["action"] == "docker.stop"
        assert outcome.record["target"] == name
        # The preview is the equivalent docker CLI line (this engine named with -H), the
        # operation itself is data, and the backend's identity is structured.
        assert outcome.record["command"] == f"docker -H {engine.host} stop {name}"
        assert outcome.record["operation"] == {"name": "stop", "target": name, "args": {}}
        assert outcome.record["backend"] == {"kind": "docker", "host": engine.host}
        assert state_of(docker_client, name)["Status"] == "running"

        started = state_of(docker_client, name)["StartedAt"]
        # caution: asks yes/no (the policy), answered yes here
        outcome, lines = await run_action(runner, "docker.restart", confirmed=True)
        assert outcome.status == "succeeded", outcome.message
        assert state_of(docker_client, name)["StartedAt"] != started
        assert any(f"{name}: running" in line.text for line in lines)

        outcome, _ = await run_action(runner, "docker.stop", confirmed=True)
        assert outcome.status == "succeeded"
        assert state_of(docker_client, name)["Status"] == "exited"
        outcome, _ = await run_action(runner, "docker.exec", {"command": "true"}, confirmed=True)
        assert outcome.status == "error" and "not running" in outcome.message

        outcome, _ = await run_action(runner, "docker.start")
        assert outcome.status == "succeeded"
        assert state_of(docker_client, name)["Status"] == "running"

        outcome, _ = await run_action(runner, "docker.pause", confirmed=True)
        assert state_of(docker_client, name)["Status"] == "paused"
        outcome, lines = await run_action(runner, "docker.pause", confirmed=True)  # paused
        assert outcome.status == "failed" and outcome.exit_code == 1
        assert any("already paused" in line.text for line in lines)
        outcome, _ = await run_action(runner, "docker.unpause")
        assert state_of(docker_client, name)["Status"] == "running"

        outcome, lines = await run_action(runner, "docker.exec", {"command": "echo $((6*7))"},
                                          confirmed=True)
        assert outcome.status == "succeeded" and [line.text for line in lines] == ["42"]

        outcome, _ = await run_action(runner, "docker.kill", confirmed=True)
        assert outcome.status == "succeeded"
        assert state_of(docker_client, name)["ExitCode"] == 137

        with pytest.raises(CockpitError, match="nope"):  # only the profile's containers
            runner.prepare("docker.restart", {"container": "nope"})
    finally:
        await runner.backend.close()
    read_only = runner_for(path, tmp_path, read_only=True)
    try:
        outcome, _ = await run_action(read_only, "docker.restart")
        assert outcome.decision.reason_codes == ["READ_ONLY"]
    finally:
        await read_only.backend.close()
    report = verify_trail(tmp_path / "trail.jsonl")
    assert report.ok, report
    records = [line for line in (tmp_path / "trail.jsonl").read_text().splitlines() if line]
    assert len(records) >= 20


# --- logs -----------------------------------------------------------------------------------


class Collector:
    """Merged log lines of a follower, gathered by a background task."""

    def __init__(self, follower: TargetFollower) -> None:
        self.lines: list[Any] = []
        self.task = asyncio.create_task(self._run(follower))

    async def _run(self, follower: TargetFollower) -> None:
        async for batch in merge_sources({"containers": follower}):
            self.lines.extend(batch.lines)

    def texts(self, source: str | None = None) -> list[str]:
        return [line.text for line in self.lines if source is None or line.source == source]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_logs_follow_a_container_across_restart_and_removal(
    engine, docker_client
) -> None:
    from cockpit.core.backends.docker import DockerBackend

    script = ("sh -c 'echo \"boot $(cat /proc/sys/kernel/random/uuid)\"; i=0; "
              "while true; do i=$((i+1)); echo \"tick $i\"; sleep 0.1; done'")
    name = run(docker_client, script)
    other = run(docker_client, "sh -c 'echo other-hello; while true; do sleep 1; done'")
    wait_until(lambda: b"tick 3" in docker_client.containers.get(name).logs(), timeout=15,
               what="a backlog")
    backend = DockerBackend({"host": engine.host, "containers": [name, other]})
    source = TargetLogSource(kind="target", name="containers", backlog=1000)
    collector = Collector(TargetFollower(source, backend))
    try:
        await async_wait_until(lambda: "tick 1" in collector.texts(name), timeout=15,
                               what="the backlog")
        assert collector.texts(name)[0].startswith("boot ")  # tail: the whole past
        await async_wait_until(lambda: "other-hello" in collector.texts(other), timeout=15)

        docker_client.containers.get(name).restart(timeout=1)
        await async_wait_until(
            lambda: sum(t.startswith("boot ") for t in collector.texts(name)) == 2,
            timeout=20, what="the second run's first line")
        await async_wait_until(lambda: collector.texts(name)[-1].startswith("tick"), timeout=10)
        texts = collector.texts(name)
        notices = [t for t in texts if t.startswith("[cockpit]")]
        assert any("log stream ended" in t for t in notices), notices
        assert any("running again: following its logs" in t for t in notices), notices
        plain = [t for t in texts if not t.startswith("[cockpit]")]
        boots = [t for t in plain if t.startswith("boot ")]
        assert len(set(boots)) == 2  # two runs, each line once: nothing lost or repeated
        second = plain.index(boots[1])
        assert plain[second + 1] == "tick 1"
        assert plain[:second] == [boots[0]] + [f"tick {i}" for i in range(1, second)]

        docker_client.containers.get(name).remove(force=True)
        await async_wait_until(
            lambda: collector.texts(name)[-1].startswith("[cockpit]"), timeout=15)
        run(docker_client, script, name=name)  # the same name comes back
        await async_wait_until(
            lambda: sum(t.startswith("boot ") for t in collector.texts(name)) == 3,
            timeout=20, what="the re-created container's logs")
        assert {line.source for line in collector.lines} == {name, other}
    finally:
        await collector.close()
        await backend.close()


# --- health ---------------------------------------------------------------------------------


async def test_health_rows_come_from_state_and_healthcheck(engine, docker_client) -> None:
    from cockpit.core.backends.docker import DockerBackend

    checked = run(docker_client, LOOP, healthcheck={
        "test": ["CMD-SHELL", "test -e /tmp/ok || (echo no ok file; exit 1)"],
        "interval": SECOND // 5, "timeout": SECOND, "retries": 1, "start_period": 0,
    })
    plain = run(docker_client, LOOP)
    done = run(docker_client, "true")
    backend = DockerBackend({"host": engine.host, "containers": [checked, plain, done, "gone"]})
    checker = HealthChecker([TargetProbe(kind="target", name="containers", timeout=10)],
                            backend)

    async def rows() -> dict[str, Any]:
        return {row.name.split("/")[-1]: row for row in await checker.check_all()}

    try:
        await async_wait_until(
            lambda: _state(rows(), checked, "fail"), timeout=20, what="unhealthy")
        found = await rows()
        assert "unhealthy: no ok file" in found[checked].reason
        assert found[plain].state == "ok" and "running" in found[plain].reason
        assert found[done].state == "fail" and "exited (exit code 0)" in found[done].reason
        assert found["gone"].state == "fail" and "no such container" in found["gone"].reason
        assert found["containers"].state == "fail"
        assert found["containers"].parent is None and found[plain].parent == "containers"

        docker_client.containers.get(checked).exec_run("touch /tmp/ok")
        await async_wait_until(lambda: _state(rows(), checked, "ok"), timeout=20,
                               what="healthy")
        assert "healthy" in (await rows())[checked].reason
    finally:
        await checker.close()
        await backend.close()


async def _state(rows: Any, name: str, state: str) -> bool:
    return (await rows)[name].state == state


# --- metrics --------------------------------------------------------------------------------


async def test_stats_become_metrics(engine, docker_client) -> None:
    from cockpit.core.backends.docker import DockerBackend

    busy = run(docker_client, "sh -c 'while :; do :; done'")
    crashy = run(docker_client, "sh -c 'sleep 0.2; exit 1'",
                 restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    backend = DockerBackend({"host": engine.host, "containers": [busy, crashy]})
    metrics = [
        TargetMetric(kind="target", name="cpu", stat="cpu_percent", target=busy),
        TargetMetric(kind="target", name="mem", stat="mem_bytes", target=busy),
        TargetMetric(kind="target", name="mem%", stat="mem_percent", target=busy),
        TargetMetric(kind="target", name="restarts", stat="restarts", target=crashy),
        TargetMetric(kind="target", name="all restarts", stat="restarts",
                     warn={"above": 0}),
    ]
    sampler = MetricsSampler(metrics, backend=backend)
    try:
        async def sampled() -> dict[str, Any]:
            return await sampler.sample_all()

        async def ready() -> bool:
            samples = await sampled()
            return (samples["cpu"].value or 0) > 30 and (samples["restarts"].value or 0) >= 2

        await async_wait_until(ready, timeout=30, interval=0.2, what="cpu and restarts")
        samples = await sampled()
        assert samples["mem"].value and samples["mem"].value > 0
        assert samples["mem%"].value is not None and samples["mem%"].value < 100
        assert samples["all restarts"].value >= 2 and samples["all restarts"].state == "warn"
        assert len(sampler.series("cpu").values) >= 2
        # An exited container has no CPU; its restarts stay.
        lone = MetricsSampler([TargetMetric(kind="target", name="c", stat="cpu_percent",
                                            target=crashy)], backend=backend)
        await async_wait_until(lambda: _eq(_value(lone, "c"), 0.0), timeout=20)
    finally:
        await sampler.close()
        await backend.close()


async def _value(sampler: MetricsSampler, name: str) -> float | None:
    return (await sampler.sample_all())[name].value


# --- an engine that goes away ----------------------------------------------------------------


async def test_an_engine_that_goes_away_is_reported_and_recovered(
    engine: PrivateEngine, docker_client, tmp_path
) -> None:
    name = run(docker_client, "sh -c 'while true; do echo alive; sleep 0.2; done'")
    proxy = SocketProxy(engine.sock, engine.root / f"p{uuid.uuid4().hex[:6]}.sock")
    proxy.open()
    path = write_profile(tmp_path, f"""
name: outage
backend: {{kind: docker, host: "{proxy.host}", containers: [{name}]}}
health: [{{name: containers, kind: target, timeout: 10s}}]
actions: [{{id: hello, run: [echo, hello]}}]
""")
    runner = runner_for(path, tmp_path)
    backend = runner.backend
    checker = HealthChecker(runner.loaded.profile.health, backend)
    collector = Collector(TargetFollower(
        TargetLogSource(kind="target", name="containers", backlog=5), backend))
    try:
        assert (await checker.check_all())[0].state == "ok"
        await async_wait_until(lambda: "alive" in collector.texts(name), timeout=15)

        proxy.close()  # the engine goes away: its socket is gone, every stream cut
        await async_wait_until(lambda: _main_fails(checker), timeout=20, what="reported")
        reason = (await checker.check_all())[0].reason
        assert "docker engine" in reason and proxy.host in reason, reason
        outcome, _ = await run_action(runner, "hello")
        assert outcome.status == "error" and "docker engine" in outcome.message
        assert outcome.cli_exit_code == 1
        await async_wait_until(
            lambda: any("unreachable" in t or "lost" in t for t in collector.texts()),
            timeout=20, what="a notice in the logs")

        proxy.open()  # and comes back: the same backend recovers on its own
        await async_wait_until(lambda: _main_ok(checker), timeout=20, what="recovered")
        outcome, lines = await run_action(runner, "hello")
        assert outcome.status == "succeeded" and [line.text for line in lines] == ["hello"]
        count = len(collector.texts(name))
        await async_wait_until(lambda: len(collector.texts(name)) > count + 2, timeout=20,
                               what="logs again")
        assert any("answers again" in t for t in collector.texts())
    finally:
        await collector.close()
        await checker.close()
        await backend.close()
        proxy.close()


async def _main_fails(checker: HealthChecker) -> bool:
    return (await checker.check_all())[0].state == "fail"


async def _main_ok(checker: HealthChecker) -> bool:
    rows = await checker.check_all()
    return all(row.state == "ok" for row in rows) and len(rows) == 2


# --- the containerised demo ------------------------------------------------------------------


async def test_the_docker_demo_profile_runs_the_demo_in_a_container(
    engine, docker_client, tmp_path, monkeypatch
) -> None:
    port = free_port()
    container = f"ck-demo-{uuid.uuid4().hex[:6]}"
    docker_client.made.append(container)
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    monkeypatch.setenv("COCKPIT_DEMO_PORT", str(port))
    monkeypatch.setenv("COCKPIT_DEMO_STATE", str(tmp_path / "demo-state"))
    monkeypatch.setenv("COCKPIT_DOCKER_DEMO", container)
    runner = runner_for(ROOT / "profiles" / "docker-demo.yaml", tmp_path)
    profile = runner.loaded.profile
    checker = HealthChecker(profile.health, runner.backend)
    sampler = MetricsSampler(profile.metrics, backend=runner.backend)
    collector = Collector(TargetFollower(profile.logs[0], runner.backend))
    try:
        outcome, lines = await run_action(runner, "start")
        assert outcome.status == "succeeded", [line.text for line in lines]
        await async_wait_until(lambda: _all_ok(checker), timeout=30, what="healthy")

        outcome, lines = await run_action(runner, "smoke-test")  # inside the container
        assert outcome.status == "succeeded", [line.text for line in lines]
        assert outcome.record["target"] == container
        await async_wait_until(lambda: any("request trace_id=" in t
                                           for t in collector.texts(container)), timeout=20)

        async def cpu_sampled() -> bool:
            samples = await sampler.sample_all()
            return samples["container memory"].value is not None and \
                samples["container cpu"].value is not None
        await async_wait_until(cpu_sampled, timeout=20, interval=0.3)

        outcome, lines = await run_action(runner, "stop", confirmed=True)  # caution
        assert outcome.status == "succeeded", [line.text for line in lines]
        import docker

        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(container)
    finally:
        await collector.close()
        await sampler.close()
        await checker.close()
        await runner.backend.close()


async def _all_ok(checker: HealthChecker) -> bool:
    return all(row.state == "ok" for row in await checker.check_all())
