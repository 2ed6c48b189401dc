"""The kubernetes backend's streams through generic code, against the API double: a
profile with a ``kind: target`` log source, ``kind: events`` log source and ``kind:
target`` metrics; exec through the action runner (the ``kubernetes.exec`` operation and
commands with a target); events in the detail path; the shell hand-over command."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.base import CommandSpec, LogQuery, LogRecord
from cockpit.core.boundary import Boundary
from cockpit.core.config.loader import load_profile
from cockpit.core.environment import open_backend
from cockpit.core.sources.logs import make_follower, merge_sources
from cockpit.core.sources.metrics import MetricsSampler
from cockpit.core.sources.targets import recent_events
from tests.support import async_wait_until
from tests.test_kubernetes_streams import NS, event, pod_metrics

PROFILE = """
name: k8s-streams
backend: {kind: kubernetes}
logs:
  - {name: pods, kind: target, backlog: 10}
  - {name: warnings, kind: events, backlog: 10}
metrics:
  - {name: api cpu, kind: target, stat: cpu_millicores, target: deployment/api,
     warn: {above: 1000}, crit: {above: 2000}}
  - {name: api ready, kind: target, stat: ready_replicas, target: deployment/api,
     crit: {below: 1}}
  - {name: all restarts, kind: target, stat: restarts, warn: {above: 0}}
actions:
  - {id: check, script: 'echo "in $(hostname -s 2>/dev/null || echo pod)"; echo "$WHO" >&2; exit 3',
     target: deployment/api, env: {WHO: operator}}
"""


def seed(kube: Any) -> None:
    kube.pause_rollouts()  # the pods are the test's own, not the double's controllers'
    kube.create({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "api", "namespace": NS, "uid": "uid-api",
                              "annotations": {"deployment.kubernetes.io/revision": "1"}},
                 "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                          "template": {"metadata": {"labels": {"app": "api"}},
                                       "spec": {"containers": [{"name": "app", "image": "i"}]}}},
                 "status": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
                            "availableReplicas": 2, "observedGeneration": 1}})
    kube.create({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                 "metadata": {"name": "api-7d9", "namespace": NS,
                              "labels": {"app": "api", "pod-template-hash": "7d9"},
                              "annotations": {"deployment.kubernetes.io/revision": "1"},
                              "ownerReferences": [{"kind": "Deployment", "name": "api",
                                                   "uid": "uid-api", "controller": True,
                                                   "apiVersion": "apps/v1"}]},
                 "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                          "template": {"metadata": {"labels": {"app": "api"}},
                                       "spec": {"containers": [{"name": "app", "image": "i"}]}}}})
    for name in ("api-7d9-a", "api-7d9-b"):
        add_pod(kube, name)


def add_pod(kube: Any, name: str) -> None:
    containers = [{"name": "app", "image": "i",
                   "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]
    if name.endswith("-a"):
        containers.append({"name": "sidecar", "image": "s"})
    kube.create({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": name, "namespace": NS,
                              "labels": {"app": "api", "pod-template-hash": "7d9"},
                              "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9",
                                                   "uid": "uid-rs", "controller": True,
                                                   "apiVersion": "apps/v1"}]},
                 "spec": {"containers": containers}})
    kube.set_pod_status(name, NS, phase="Running", ready=True)


async def connected(kube: Any, kubeconfig: Path, tmp_path: Path) -> ActionRunner:
    seed(kube)
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE)
    loaded = load_profile(path)
    backend = open_backend(loaded)
    await backend.connect()
    await async_wait_until(lambda: _listed(backend), timeout=15, what="the targets")
    return ActionRunner(loaded, backend, AuditTrail(tmp_path / "trail.jsonl"))


async def _listed(backend: Any) -> bool:
    names = {t.name for t in await backend.list_targets()}
    return {"api", "api-7d9-a", "api-7d9-b"} <= names


class Lines:
    def __init__(self, follower: Any) -> None:
        self.follower = follower
        self.lines: list[Any] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for batch in merge_sources({"src": self.follower}):
            self.lines.extend(batch.lines)

    def of(self, source: str) -> list[str]:
        return [line.text for line in self.lines if line.source == source]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.follower.close()


async def test_a_target_log_source_follows_the_workload_s_pods_tagged_pod_container(
        kube, kubeconfig, tmp_path):
    runner = await connected(kube, kubeconfig, tmp_path)
    backend = runner.backend
    kube.append_log("api-7d9-a", ["a says hi"], NS, "app")
    kube.append_log("api-7d9-a", ["sidecar up"], NS, "sidecar")
    kube.append_log("api-7d9-b", ["b says hi"], NS)
    got = Lines(make_follower(runner.loaded.profile.logs[0], backend))
    try:
        await async_wait_until(lambda: got.of("api-7d9-b/app") == ["b says hi"], timeout=15,
                               what="b's lines")
        await async_wait_until(lambda: got.of("api-7d9-a/sidecar") == ["sidecar up"],
                               timeout=15, what="the sidecar's lines")
        add_pod(kube, "api-7d9-c")  # scaled up: a new pod is followed too
        kube.append_log("api-7d9-c", ["c is new"], NS)
        await async_wait_until(lambda: got.of("api-7d9-c/app") == ["c is new"], timeout=15,
                               what="the new pod's lines")
        kube.restart_container("api-7d9-b", NS)
        kube.append_log("api-7d9-b", ["b again"], NS)
        await async_wait_until(lambda: "b again" in got.of("api-7d9-b/app"), timeout=15,
                               what="b after its restart")
        assert got.of("api-7d9-a/app") == ["a says hi"]  # once: not per workload and pod
        assert got.of("api-7d9-b/app") == ["b says hi", "b again"]
    finally:
        await got.close()
        await backend.close()


async def test_backend_logs_query_and_stream_logs(kube, kubeconfig, tmp_path):
    runner = await connected(kube, kubeconfig, tmp_path)
    backend = runner.backend
    kube.append_log("api-7d9-a", ["one"], NS, "app")
    kube.append_log("api-7d9-b", ["two"], NS)
    try:
        records: list[LogRecord] = []
        async for batch in backend.logs(LogQuery(targets=("deployment/api",),
                                                 container="app", follow=False)):
            records += [i for i in batch if isinstance(i, LogRecord)]
        assert sorted((r.source, r.text) for r in records) == [
            ("api-7d9-a/app", "one"), ("api-7d9-b/app", "two")]
        lines = [line async for line in backend.stream_logs("api-7d9-b", follow=False)]
        assert [(line.text, line.source) for line in lines] == [("two", "api-7d9-b/app")]
        kube.restart_container("api-7d9-b", NS)
        previous = []
        async for batch in backend.logs(LogQuery(targets=("pod/api-7d9-b",), previous=True,
                                                 follow=False)):
            previous += [i.text for i in batch if isinstance(i, LogRecord)]
        assert previous == ["two"]
        selected = []
        async for batch in backend.logs(LogQuery(selector="app=api", container="app",
                                                 follow=False)):
            selected += [i.text for i in batch if isinstance(i, LogRecord)]
        assert selected == ["one"]  # b restarted: its current run logged nothing yet
    finally:
        await backend.close()


async def test_target_metrics_feed_the_sampler_with_thresholds(kube, kubeconfig, tmp_path):
    runner = await connected(kube, kubeconfig, tmp_path)
    backend = runner.backend
    kube.create(pod_metrics("api-7d9-a", {"app": {"cpu": "900m", "memory": "100Mi"},
                                          "sidecar": {"cpu": "200m", "memory": "10Mi"}}))
    kube.create(pod_metrics("api-7d9-b", {"app": {"cpu": "300m", "memory": "50Mi"}}))
    kube.restart_container("api-7d9-b", NS)
    sampler = MetricsSampler(runner.loaded.profile.metrics, backend=backend)
    try:
        samples = await sampler.sample_all()
        assert samples["api cpu"].value == 1400 and samples["api cpu"].state == "warn"
        assert samples["api ready"].value == 2 and samples["api ready"].state == "ok"
        assert samples["all restarts"].value == 1 and samples["all restarts"].state == "warn"
        node_free = await backend.target_stats("api-7d9-a")
        assert node_free["cpu_percent"] == 90.0  # of the app container's 1-core limit
    finally:
        await sampler.close()
        await backend.close()


async def test_exec_through_the_runner_and_the_exec_operation(kube, kubeconfig, tmp_path):
    runner = await connected(kube, kubeconfig, tmp_path)
    backend = runner.backend
    try:
        lines: list[Any] = []
        outcome = await runner.run(runner.prepare("check", {}), on_line=lines.append)
        assert outcome.record["exit_code"] == 3, outcome.record
        assert [(line.stream, line.text) for line in lines if line.stream == "stderr"] == \
            [("stderr", "operator")]
        lines.clear()
        prepared = runner.prepare("kubernetes.exec",
                                  {"target": "pod/api-7d9-a", "command": "echo hi; exit 4"})
        outcome = await runner.run(prepared, confirm=lambda _r: True, on_line=lines.append)
        assert outcome.record["exit_code"] == 4 and [line.text for line in lines] == ["hi"]
        lines.clear()
        prepared = runner.prepare("kubernetes.exec", {
            "target": "deployment/api", "pod": "api-7d9-b", "command": "echo in b"})
        assert prepared.display.endswith("exec pod/api-7d9-b -- sh -c 'echo in b'")
        outcome = await runner.run(prepared, confirm=lambda _r: True, on_line=lines.append)
        assert outcome.record["exit_code"] == 0 and [line.text for line in lines] == ["in b"]
        execution = await backend.start(CommandSpec(argv=["sh", "-c", "exit 0"],
                                                    target="api-7d9-b"))
        assert (await execution.wait()).exit_code == 0
        none = await backend.start(CommandSpec(argv=["true"], target="deployment/nothing"))
        assert "nothing" in ((await none.wait()).error or "")
    finally:
        await backend.close()


async def test_events_of_a_target_and_the_namespace_events_source(kube, kubeconfig, tmp_path):
    runner = await connected(kube, kubeconfig, tmp_path)
    backend = runner.backend
    import datetime

    t0 = datetime.datetime(2026, 12, 5, 1, 0, tzinfo=datetime.UTC)
    kube.create(event("e1", "Pod", "api-7d9-b", "BackOff", "Back-off restarting", "Warning",
                      t0, count=2))
    kube.create(event("e2", "Deployment", "api", "ScalingReplicaSet", "Scaled up", "Normal",
                      t0 - datetime.timedelta(minutes=1)))
    got = Lines(make_follower(runner.loaded.profile.logs[1], backend))
    try:
        target = next(t for t in await backend.list_targets() if t.name == "api")
        events = await recent_events(backend, target, Boundary())
        assert [(e.action, e.type) for e in events] == [("ScalingReplicaSet", "Normal"),
                                                        ("BackOff", "Warning")]
        source = f"{NS}/events"
        await async_wait_until(lambda: len(got.of(source)) == 2, timeout=15, what="events")
        levels = [line.level for line in got.lines if line.source == source]
        assert levels == ["info", "warn"]
    finally:
        await got.close()
        await backend.close()


async def test_shell_hand_over_command_for_a_pod_and_a_workload(kube, kubeconfig, tmp_path):
    runner = await connected(kube, kubeconfig, tmp_path)
    backend = runner.backend
    try:
        targets = {t.name: t for t in await backend.list_targets()}
        assert backend.shell_argv(targets["api-7d9-b"]) == [
            "kubectl", "--context", "salvage-eu", "-n", NS, "exec", "-it", "api-7d9-b",
            "--", "sh"]
        assert backend.shell_argv(targets["api"])[7] == "api-7d9-a"  # its first ready pod
        # generic code hands targets over through the boundary, without their details
        from cockpit.core.sources.targets import safe_target

        shown = safe_target(targets["api-7d9-b"], Boundary())
        assert backend.shell_argv(shown) == backend.shell_argv(targets["api-7d9-b"])
        kube.set_pod_status("api-7d9-a", NS, ready=False, reason="CrashLoopBackOff")
        kube.set_pod_status("api-7d9-b", NS, ready=False, reason="CrashLoopBackOff")

        async def no_ready_pod() -> bool:
            listed = {t.name: t for t in await backend.list_targets()}
            return backend.shell_argv(listed["api"]) is None
        await async_wait_until(no_ready_pod, timeout=15, what="no ready pod left")
    finally:
        await backend.close()


def test_the_shell_command_runs_interactively_against_the_double(kube, kubeconfig, tmp_path):
    """What ``s`` hands the terminal to: ``kubectl exec -it POD -- sh`` on a terminal
    (here a pty): the prompt, a line ended by Enter (CR in raw mode), the exit status."""
    import os
    import pty
    import subprocess

    from tests.support import wait_until

    seed(kube)
    master, slave = pty.openpty()
    proc = subprocess.Popen(["kubectl", "--context", "salvage-eu", "-n", NS, "exec", "-it",
                             "api-7d9-a", "--", "sh"], stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True, close_fds=True)
    os.close(slave)
    seen = bytearray()

    def read_some() -> bytes:
        import select

        if select.select([master], [], [], 0.05)[0]:
            try:
                seen.extend(os.read(master, 4096))
            except OSError:
                pass
        return bytes(seen)

    try:
        wait_until(lambda: b"#" in read_some() or b"$" in read_some(), timeout=20,
                   what="the shell's prompt")
        os.write(master, b"echo hi-$((6*7)); exit 7\r")
        wait_until(lambda: read_some() and proc.poll() is not None, timeout=20,
                   what="the shell to end")
        assert proc.returncode == 7
        assert b"hi-42" in seen
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
