"""The Kubernetes streams (logs, exec, events, metrics) against the API double, through
the official client: what the modules read is what the double (and kubectl) has."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.backends.kubernetes import events as k_events
from cockpit.core.backends.kubernetes import metrics as k_metrics
from cockpit.core.backends.kubernetes.exec import PodExecution
from cockpit.core.backends.kubernetes.logs import PodLogs, Selection
from cockpit.core.backends.logs import LogNotice, LogRecord
from tests.support import async_wait_until, wait_until

NS = "euystacio-ai"
T0 = datetime.datetime(2026, 12, 5, 1, 0, 0, tzinfo=datetime.UTC)


def api_for(kubeconfig: Path) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


def pod(name: str, labels: dict[str, str], containers: tuple[str, ...] = ("app",),
        limits: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"containers": [
                {"name": c, "image": "img", **({"resources": {"limits": limits}}
                                               if limits and c == "app" else {})}
                for c in containers]}}


def seed_api(kube: Any, pods: tuple[str, ...] = ("api-a", "api-b")) -> None:
    kube.pause_rollouts()  # the pods are the test's own, not the double's controllers'
    kube.create({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "api", "namespace": NS},
                 "spec": {"replicas": len(pods), "selector": {"matchLabels": {"app": "api"}},
                          "template": {"metadata": {"labels": {"app": "api"}},
                                       "spec": {"containers": [{"name": "app", "image": "i"}]}}},
                 "status": {"replicas": len(pods), "readyReplicas": len(pods) - 1}})
    for name in pods:
        containers = ("app", "sidecar") if name == "api-a" else ("app",)
        kube.create(pod(name, {"app": "api"}, containers,
                        limits={"cpu": "500m", "memory": "256Mi"}))
        kube.set_pod_status(name, NS, phase="Running", ready=True)


class Collect:
    """Records and notices of a PodLogs, read in a task."""

    def __init__(self, logs: PodLogs) -> None:
        self.logs = logs
        self.records: list[LogRecord] = []
        self.notices: list[LogNotice] = []
        self.ended = False
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for batch in self.logs.batches():
            for item in batch:
                (self.records if isinstance(item, LogRecord) else self.notices).append(item)
        self.ended = True

    def lines(self, source: str | None = None) -> list[str]:
        return [r.text for r in self.records if source is None or r.source == source]

    async def until(self, predicate: Any, what: str) -> None:
        await async_wait_until(predicate, timeout=15, what=what)

    async def close(self) -> None:
        self.logs.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


# -- logs --------------------------------------------------------------------------------


async def test_a_deployment_s_logs_are_merged_across_pods_and_containers(kube, kubeconfig):
    seed_api(kube)
    kube.append_log("api-a", ["a1", "a2"], NS, "app", at=T0)
    kube.append_log("api-a", ["s1"], NS, "sidecar", at=T0 + datetime.timedelta(seconds=1))
    kube.append_log("api-b", ["b1"], NS, at=T0 + datetime.timedelta(milliseconds=500))
    logs = PodLogs(api_for(kubeconfig), Selection(NS, workload=("deployment", "api")),
                   follow=False)
    got = Collect(logs)
    await got.until(lambda: got.ended, "the end of the logs")
    assert [(r.source, r.text) for r in got.records] == [
        ("api-a/app", "a1"), ("api-a/app", "a2"), ("api-b/app", "b1"),
        ("api-a/sidecar", "s1")]
    assert all(r.logged for r in got.records)
    assert got.records[0].ts == T0.timestamp()
    await got.close()


async def test_a_selector_s_pods_that_appear_later_are_followed(kube, kubeconfig):
    seed_api(kube, pods=("api-a",))
    kube.append_log("api-a", ["before"], NS, "app")
    got = Collect(PodLogs(api_for(kubeconfig), Selection(NS, selector="app=api"), tail=10))
    await got.until(lambda: "before" in got.lines(), "the backlog")
    kube.create(pod("api-late", {"app": "api"}))
    kube.append_log("api-late", ["early line of a new pod"], NS)
    kube.set_pod_status("api-late", NS, phase="Running", ready=True)
    kube.create(pod("other", {"app": "other"}))
    kube.set_pod_status("other", NS, phase="Running", ready=True)
    kube.append_log("other", ["not ours"], NS)
    await got.until(lambda: got.lines("api-late/app") == ["early line of a new pod"],
                    "the new pod's lines")
    kube.append_log("api-late", ["and a later one"], NS)
    await got.until(lambda: "and a later one" in got.lines("api-late/app"), "a later line")
    assert "not ours" not in got.lines()
    await got.close()


async def test_previous_logs_of_a_restarted_container(kube, kubeconfig):
    seed_api(kube, pods=("api-b",))
    kube.append_log("api-b", ["crashed run 1", "panic: boom"], NS)
    kube.restart_container("api-b", NS, waiting="CrashLoopBackOff")
    got = Collect(PodLogs(api_for(kubeconfig), Selection(NS, pod="api-b"), previous=True))
    await got.until(lambda: got.ended, "the end")
    assert got.lines() == ["crashed run 1", "panic: boom"]
    await got.close()


async def test_following_resumes_after_restarts_without_gaps_or_repeats(kube, kubeconfig):
    seed_api(kube, pods=("api-b",))
    same = T0 + datetime.timedelta(seconds=30)  # several lines share the boundary stamp
    kube.append_log("api-b", ["one", "two"], NS, at=same)
    got = Collect(PodLogs(api_for(kubeconfig), Selection(NS, pod="api-b"), tail=-1,
                          retry=0.05, retry_max=0.2))
    await got.until(lambda: got.lines() == ["one", "two"], "the first lines")
    kube.append_log("api-b", ["two", "three"], NS, at=same)  # same second, same text
    await got.until(lambda: len(got.lines()) == 4, "the lines at the same stamp")
    kube.restart_container("api-b", NS)  # the followed stream ends here
    kube.append_log("api-b", ["run 2: four"], NS)
    await got.until(lambda: "run 2: four" in got.lines(), "the new run's line")
    kube.restart_container("api-b", NS, waiting="CrashLoopBackOff")
    kube.append_log("api-b", ["run 3: five"], NS)
    kube.set_pod_status("api-b", NS, ready=True)
    await got.until(lambda: "run 3: five" in got.lines(), "the third run's line")
    kube.append_log("api-b", ["six"], NS)
    await got.until(lambda: "six" in got.lines(), "a last line")
    assert got.lines() == ["one", "two", "two", "three", "run 2: four", "run 3: five", "six"]
    await got.close()


async def test_a_cut_stream_resumes_and_reads_what_the_ended_run_logged_meanwhile(
        kube, kubeconfig):
    """The connection drops, the container restarts before we are back: the lines its
    run logged after the last one we saw come from ``previous``."""
    seed_api(kube, pods=("api-b",))
    api = api_for(kubeconfig)
    logs = PodLogs(api, Selection(NS, pod="api-b"), tail=-1, retry=0.3, retry_max=0.3)
    kube.append_log("api-b", ["first"], NS, at=T0)
    got = Collect(logs)
    await got.until(lambda: got.lines() == ["first"], "the first line")
    rule = kube.fail(f"/api/v1/namespaces/{NS}/pods/api-b/log", 500, "InternalError",
                     "kubelet unreachable", times=None)
    for stream in list(logs._open):  # cut the stream as a lost connection would
        from cockpit.core.backends.kubernetes.raw import shutdown

        shutdown(stream)
    kube.append_log("api-b", ["logged while cut"], NS, at=T0 + datetime.timedelta(seconds=5))
    kube.restart_container("api-b", NS)
    kube.append_log("api-b", ["new run"], NS)
    kube.clear_faults(rule)
    await got.until(lambda: "new run" in got.lines(), "the new run")
    assert got.lines() == ["first", "logged while cut", "new run"]
    await got.close()


async def test_one_pod_that_cannot_be_read_is_a_notice_and_the_others_go_on(kube, kubeconfig):
    seed_api(kube)
    kube.append_log("api-b", ["b ok"], NS)
    kube.append_log("api-a", ["a ok"], NS, "app")
    kube.forbid(f"/api/v1/namespaces/{NS}/pods/api-a/log")
    got = Collect(PodLogs(api_for(kubeconfig), Selection(NS, workload=("deployment", "api")),
                          retry=0.05))
    await got.until(lambda: "b ok" in got.lines(), "the readable pod")
    await got.until(lambda: any("RBAC" in n.text for n in got.notices), "a notice")
    notice = next(n for n in got.notices if "RBAC" in n.text)
    assert notice.kind == "info" and notice.source.startswith("api-a/")
    assert "forbidden by the cluster (RBAC): get pods/api-a/log" in notice.text
    assert not got.ended
    await got.close()


# -- exec --------------------------------------------------------------------------------


async def run_exec(kube, kubeconfig, argv, env=None, timeout=None) -> PodExecution:
    seed_api(kube, pods=("api-b",))
    return PodExecution(api_for(kubeconfig), NS, "api-b", None, argv, env or {},
                        display=" ".join(argv), marker="test.1", timeout=timeout)


async def test_exec_keeps_the_exit_code_and_stderr(kube, kubeconfig):
    execution = await run_exec(kube, kubeconfig,
                               ["sh", "-c", 'echo out; echo "$GREETING" >&2; exit 3'],
                               env={"GREETING": "hello 'quoted' $HOME"})
    lines = [(line.stream, line.text) async for line in execution.lines()]
    result = await execution.wait()
    assert result.exit_code == 3 and result.error is None
    assert ("stdout", "out") in lines and ("stderr", "hello 'quoted' $HOME") in lines
    assert result.output_bytes == len(b"out\nhello 'quoted' $HOME\n")


async def test_exec_of_a_missing_program_says_so(kube, kubeconfig):
    execution = await run_exec(kube, kubeconfig, ["no-such-program-here"])
    result = await execution.wait()
    assert result.exit_code == 127 and "not found" in (result.error or "")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:  # went between the two looks
        return True


@pytest.mark.parametrize("how", ["cancel", "timeout"])
async def test_cancel_and_timeout_kill_the_command(kube, kubeconfig, tmp_path, how):
    pidfile = tmp_path / "pid"
    execution = await run_exec(
        kube, kubeconfig, ["sh", "-c", f'echo $$ > {pidfile}; echo started; exec sleep 300'],
        timeout=1.0 if how == "timeout" else None)
    lines: list[str] = []

    async def read() -> None:
        async for line in execution.lines():
            lines.append(line.text)

    reader = asyncio.ensure_future(read())
    await async_wait_until(lambda: "started" in lines and pidfile.exists(), timeout=15,
                           what="the command to start")
    pid = int(pidfile.read_text())
    assert not _gone(pid)
    if how == "cancel":
        await execution.cancel()
    result = await asyncio.wait_for(execution.wait(), 15)
    await reader
    assert (result.cancelled, result.timed_out) == (how == "cancel", how == "timeout")
    assert result.exit_code is None
    wait_until(lambda: _gone(pid), timeout=10, what="the process to be killed")


# -- events ------------------------------------------------------------------------------


def event(name: str, kind: str, obj: str, reason: str, message: str, etype: str,
          at: datetime.datetime, count: int = 1) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": kind, "name": obj, "namespace": NS},
            "reason": reason, "message": message, "type": etype, "count": count,
            "firstTimestamp": at.isoformat().replace("+00:00", "Z"),
            "lastTimestamp": at.isoformat().replace("+00:00", "Z")}


def seed_events(kube: Any) -> None:
    t = T0
    kube.create(event("e1", "Deployment", "api", "ScalingReplicaSet", "Scaled up", "Normal", t))
    kube.create(event("e2", "Pod", "api-b", "BackOff", "Back-off restarting failed container",
                      "Warning", t + datetime.timedelta(seconds=20), count=4))
    kube.create(event("e3", "ReplicaSet", "api-7d9", "SuccessfulCreate", "Created pod: api-a",
                      "Normal", t + datetime.timedelta(seconds=10)))
    kube.create(event("e4", "Pod", "unrelated", "Pulled", "pulled", "Normal", t))


async def test_events_of_a_workload_with_its_pods_newest_last(kube, kubeconfig):
    seed_api(kube)
    seed_events(kube)
    api = api_for(kubeconfig)
    got = await asyncio.to_thread(k_events.of_target, api, NS, "deployment", "api")
    assert [(e.target_name, e.action, e.type) for e in got] == [
        ("deployment/api", "ScalingReplicaSet", "Normal"),
        ("replicaset/api-7d9", "SuccessfulCreate", "Normal"),
        ("pod/api-b", "BackOff", "Warning")]
    assert got[-1].text == "pod/api-b: Back-off restarting failed container (x4)"
    assert got[-1].is_warning and not got[0].is_warning
    pod_events = await asyncio.to_thread(k_events.of_target, api, NS, "pod", "api-b")
    assert [e.action for e in pod_events] == ["BackOff"]


async def test_namespace_events_as_a_followed_log(kube, kubeconfig):
    seed_api(kube)
    seed_events(kube)
    records: list[LogRecord] = []

    async def follow() -> None:
        async for batch in k_events.follow_events(api_for(kubeconfig), NS, backlog=2):
            records.extend(i for i in batch if isinstance(i, LogRecord))

    task = asyncio.ensure_future(follow())
    try:
        await async_wait_until(lambda: len(records) == 2, timeout=15, what="the backlog")
        assert [r.text for r in records] == [
            "Normal SuccessfulCreate replicaset/api-7d9: Created pod: api-a",
            "Warning BackOff pod/api-b: Back-off restarting failed container (x4)"]
        assert [r.severity for r in records] == ["info", "warn"]
        kube.create(event("e5", "Pod", "api-a", "Unhealthy", "Readiness probe failed",
                          "Warning", T0 + datetime.timedelta(minutes=1)))
        await async_wait_until(lambda: len(records) == 3, timeout=15, what="a new event")
        assert records[-1].severity == "warn" and "Unhealthy pod/api-a" in records[-1].text
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- metrics -----------------------------------------------------------------------------


def pod_metrics(name: str, usage: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": NS},
            "timestamp": "2026-12-05T01:00:00Z", "window": "30s",
            "containers": [{"name": c, "usage": u} for c, u in usage.items()]}


def kubectl_top(kubeconfig: Path, *args: str) -> dict[str, tuple[str, str]]:
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "top", *args],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    return {row[0]: (row[1], row[2]) for row in rows}


async def test_stats_are_what_kubectl_top_shows(kube, kubeconfig):
    seed_api(kube)
    kube.create(pod_metrics("api-a", {"app": {"cpu": "250m", "memory": "120Mi"},
                                      "sidecar": {"cpu": "15m", "memory": "8Mi"}}))
    kube.create(pod_metrics("api-b", {"app": {"cpu": "1200m", "memory": "1.5Gi"}}))
    kube.restart_container("api-b", NS)
    api = api_for(kubeconfig)
    top = await asyncio.to_thread(kubectl_top, kubeconfig, "pods", "-n", NS)
    for name in ("api-a", "api-b"):
        stats = await asyncio.to_thread(k_metrics.of_pod, api, NS, name)
        cpu, mem = top[name]
        assert f"{round(stats['cpu_millicores'])}m" == cpu
        assert f"{round(stats['mem_bytes'] / 2**20)}Mi" == mem
    a = await asyncio.to_thread(k_metrics.of_pod, api, NS, "api-a")
    assert a["cpu_percent"] == pytest.approx(50.0)  # 250m of the app's 500m limit
    assert a["mem_percent"] == pytest.approx(120 / 256 * 100)
    b = await asyncio.to_thread(k_metrics.of_pod, api, NS, "api-b")
    assert b["restarts"] == 1
    total = await asyncio.to_thread(k_metrics.of_workload, api, NS, "deployment", "api")
    assert total["cpu_millicores"] == pytest.approx(250 + 15 + 1200)
    assert total["mem_bytes"] == (120 + 8) * 2**20 + 1.5 * 2**30
    assert (total["ready_replicas"], total["desired_replicas"], total["restarts"]) == (1, 2, 1)
    assert total["cpu_percent"] == pytest.approx((250 + 1200) / 1000 * 100)


async def test_node_stats_like_kubectl_top_nodes(kube, kubeconfig):
    kube.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
                 "status": {"allocatable": {"cpu": "4", "memory": "8Gi"},
                            "capacity": {"cpu": "4", "memory": "8Gi"}}})
    kube.create({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
                 "metadata": {"name": "node-1"}, "timestamp": "2026-12-05T01:00:00Z",
                 "window": "30s", "usage": {"cpu": "1", "memory": "2Gi"}})
    stats = await asyncio.to_thread(k_metrics.of_node, api_for(kubeconfig), "node-1")
    assert stats == {"cpu_millicores": 1000.0, "mem_bytes": 2.0 * 2**30,
                     "cpu_percent": 25.0, "mem_percent": 25.0}
    top = await asyncio.to_thread(kubectl_top, kubeconfig, "nodes")
    assert top["node-1"][0] == "1000m"
