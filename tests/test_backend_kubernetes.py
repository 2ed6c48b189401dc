"""The kubernetes backend against the test double (tests/kubedouble), cross-checked with
the real kubectl: targets listed and kept current by watches (a dropped or expired watch
lists again), every operation through the one engine path (prepare + run: preview,
confirmation, audit record naming context and namespace), what the cockpit changes
kubectl sees and the other way round, a 403 said in words, a fleet with an unreachable
context, scopes, host commands talking to the same cluster, and the headless CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail, verify_trail
from cockpit.core.backends.kubernetes import KubernetesBackend
from cockpit.core.backends.targets import Target
from cockpit.core.config.loader import load_profile
from cockpit.core.environment import open_backend
from tests.kubedouble import KubeDouble, write_fleet_kubeconfig
from tests.kubedouble.kubectl import kubectl
from tests.support import async_wait_until, wait_until

NS = "euystacio-ai"
API = "euystacio-api"
ROOT = Path(__file__).resolve().parent.parent


def seed(kube: KubeDouble, name: str = API, *, ready: int = 2, pods: int = 2,
         images: tuple[str, ...] = ("euystacio/api:1.4.2", "euystacio/api:1.5.0")) -> None:
    """A Deployment with one ReplicaSet per image (revisions 1..N, the last current) and
    ``pods`` pods of the current one, ``ready`` of them ready."""
    labels = {"app": name}
    revision = len(images)
    dep = kube.create({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"replicas": pods, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "api", "image": images[-1]}]}}},
        "status": {"replicas": pods, "updatedReplicas": pods, "readyReplicas": ready,
                   "availableReplicas": ready}})
    uid = dep["metadata"]["uid"]
    observed(kube, name)
    for number, image in enumerate(images, start=1):
        hash_ = f"h{number}x"
        kube.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{name}-{hash_}", "namespace": NS,
                         "labels": {**labels, "pod-template-hash": hash_},
                         "annotations": {"deployment.kubernetes.io/revision": str(number)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": name, "uid": uid,
                                              "controller": True}]},
            "spec": {"replicas": pods if number == revision else 0,
                     "selector": {"matchLabels": {**labels, "pod-template-hash": hash_}},
                     "template": {"metadata": {"labels": {**labels,
                                                          "pod-template-hash": hash_}},
                                  "spec": {"containers": [{"name": "api", "image": image}]}}}})
    for index in range(pods):
        add_pod(kube, f"{name}-h{revision}x-p{index}", f"{name}-h{revision}x", images[-1],
                ready=index < ready, labels={**labels, "pod-template-hash": f"h{revision}x"})


def observed(kube: KubeDouble, name: str = API) -> None:
    """What the deployment controller would do: observe the latest generation."""

    def observe(obj: dict[str, Any]) -> None:
        generation = obj["metadata"].get("generation", 1)
        obj.setdefault("status", {})["observedGeneration"] = generation

    kube.mutate("deployments", name, observe, NS)


def add_pod(kube: KubeDouble, name: str, replicaset: str | None, image: str = "busybox",
            *, ready: bool = True, labels: dict | None = None) -> None:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": labels or {"app": "x"}}
    if replicaset:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": replicaset, "uid": "u", "controller": True}]
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                 "spec": {"containers": [{"name": "api", "image": image}]}})
    if ready:
        kube.set_pod_status(name, NS, phase="Running", ready=True)
    else:
        kube.set_pod_status(name, NS, phase="Running", reason="CrashLoopBackOff",
                            restart_count=7)


def profile(tmp_path: Path, extra: str = "", backend: str = "") -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(f"name: k8s\nbackend:\n  kind: kubernetes\n{backend}{extra}")
    return path


def runner_for(path: Path, tmp_path: Path) -> ActionRunner:
    loaded = load_profile(path)
    return ActionRunner(loaded, open_backend(loaded), AuditTrail(tmp_path / "trail.jsonl"))


async def run_action(runner: ActionRunner, action: str, params: dict | None = None,
                     confirmed: bool = True) -> tuple[Any, list[str]]:
    lines: list[Any] = []
    prepared = runner.prepare(action, params or {})
    outcome = await runner.run(prepared, confirm=(lambda _r: True) if confirmed else None,
                               on_line=lines.append)
    return outcome, [line.text for line in lines]


def by_id(targets: list[Target]) -> dict[str, Target]:
    return {t.id: t for t in targets}


def jsonpath(kubeconfig: Path, kind: str, name: str, path: str) -> str:
    return kubectl(kubeconfig, "-n", NS, "get", kind, name, "-o", f"jsonpath={path}",
                   check=True).stdout


# -- targets ------------------------------------------------------------------------------

async def test_targets_are_listed_and_kept_current_by_watches(kube, kubeconfig) -> None:
    seed(kube)
    add_pod(kube, "loner", None, ready=False)
    backend = KubernetesBackend({})
    await backend.connect()
    stream = backend.watch_targets()
    try:
        first = by_id(await anext(stream))
        dep = first[f"{NS}/deployment/{API}"]
        assert (dep.health.state, dep.health.reason) == ("ok", "2/2 ready")
        child = first[f"{NS}/pod/{API}-h2x-p0"]
        assert child.parent == dep.id and child.health.state == "ok"
        assert child.details["context"] is None and child.scope == NS
        loner = first[f"{NS}/pod/loner"]
        assert loner.parent is None and loner.health.state == "fail"
        assert loner.health.reason.startswith("CrashLoopBackOff: api")
        assert backend.identity().as_record() == {
            "kind": "kubernetes", "host": kube.url, "context": "salvage-eu", "namespace": NS}

        # A pod made by someone else shows up; one deleted by kubectl goes away.
        add_pod(kube, f"{API}-h2x-p9", f"{API}-h2x", labels={"app": API})

        async def seen(pred) -> dict[str, Target]:
            async with asyncio.timeout(15):
                while True:
                    now = by_id(await anext(stream))
                    if pred(now):
                        return now

        now = await seen(lambda t: f"{NS}/pod/{API}-h2x-p9" in t)
        assert now[f"{NS}/pod/{API}-h2x-p9"].parent == dep.id
        kubectl(kubeconfig, "-n", NS, "delete", "pod", "loner", "--wait=false", check=True)
        await seen(lambda t: f"{NS}/pod/loner" not in t)
        kubectl(kubeconfig, "-n", NS, "scale", f"deployment/{API}", "--replicas=5", check=True)
        now = await seen(lambda t: t[dep.id].details["replicas"] == 5)
        assert now[dep.id].health.reason == "2/5 ready, rollout pending"
        observed(kube)  # the controller saw the new spec
        now = await seen(lambda t: t[dep.id].health.reason == "2/5 ready")
        assert now[dep.id].health.state == "unknown"
        # Never a request per pod: lists and watches of the namespace only.
        assert kube.requests(f"/api/v1/namespaces/{NS}/pods/{API}-h2x-p0", "GET") == 0
    finally:
        await stream.aclose()
        await backend.close()


@pytest.mark.parametrize("fault", ["drop", "expire"])
async def test_a_dropped_or_expired_watch_lists_again(kube, kubeconfig, fault) -> None:
    seed(kube, pods=1, ready=1)
    backend = KubernetesBackend({})
    await backend.connect()
    try:
        await backend.list_targets()
        pods = next(s for s in backend.watch.sources if s.kind == "pod")
        await async_wait_until(lambda: kube.watchers("pods") >= 1, timeout=10,
                               what="the pod watch")
        lists = pods.lists
        if fault == "drop":
            kube.drop_watches("pods", times=1)
        else:
            kube.expire_watches("pods", times=1)
        kube.end_watches()  # the next watch is the one that fails
        add_pod(kube, "after-the-fault", None)
        await async_wait_until(lambda: pods.lists > lists, timeout=20, what="a new list")

        async def listed() -> bool:
            return f"{NS}/pod/after-the-fault" in by_id(await backend.list_targets())

        await async_wait_until(listed, timeout=20, what="the pod made meanwhile")
    finally:
        await backend.close()


# -- operations through the one engine path -----------------------------------------------

async def test_operations_run_through_the_one_path_and_kubectl_sees_them(
        kube, kubeconfig, tmp_path) -> None:
    seed(kube)
    path = profile(tmp_path, backend=f"  namespace: {NS}\n  workloads: [deployment/{API}]\n"
                                     "  rollout_timeout: 20s\n")
    runner = runner_for(path, tmp_path)
    await runner.backend.connect()
    try:
        base = f"kubectl --context salvage-eu -n {NS}"
        # scale (caution): not confirmed -> refused, nothing changes
        outcome, _ = await run_action(runner, "kubernetes.scale",
                                      {"target": f"deployment/{API}", "replicas": "4"},
                                      confirmed=False)
        assert outcome.status == "denied" and outcome.decision.reason_codes == ["NOT_CONFIRMED"]
        assert jsonpath(kubeconfig, "deployment", API, "{.spec.replicas}") == "2"
        outcome, lines = await run_action(runner, "kubernetes.scale",
                                          {"target": f"deployment/{API}", "replicas": "4"})
        assert outcome.status == "succeeded", outcome.message
        record = outcome.record
        assert record["command"] == f"{base} scale deployment/{API} --replicas=4"
        assert record["backend"] == {"kind": "kubernetes", "host": kube.url,
                                     "context": "salvage-eu", "namespace": NS}
        assert record["operation"] == {"name": "scale", "target": f"deployment/{API}",
                                       "args": {"replicas": "4"}}
        assert lines[0].startswith(f"deployment.apps/{API} scaled (replicas 2 -> 4")
        assert jsonpath(kubeconfig, "deployment", API, "{.spec.replicas}") == "4"

        # restart: the template annotation kubectl rollout restart sets
        outcome, _ = await run_action(runner, "kubernetes.restart", {"target": f"deployment/{API}"})
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == f"{base} rollout restart deployment/{API}"
        stamp = jsonpath(kubeconfig, "deployment", API,
                         r"{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}")
        assert stamp.endswith("Z") and len(stamp) == 20

        # undo (dangerous): the history with images, then the previous image is back
        outcome, lines = await run_action(runner, "kubernetes.undo", {"target": f"deployment/{API}"})
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == f"{base} rollout undo deployment/{API}"
        assert "  1         euystacio/api:1.4.2 <- rolling back to this one" in lines
        assert "  2         euystacio/api:1.5.0 (current)" in lines
        assert jsonpath(kubeconfig, "deployment", API,
                        "{.spec.template.spec.containers[0].image}") == "euystacio/api:1.4.2"
        history = kubectl(kubeconfig, "-n", NS, "rollout", "history", f"deployment/{API}",
                          check=True).stdout
        assert "REVISION" in history and "1" in history and "2" in history

        # rollout-status (safe): waits, printing progress, until the rollout is available
        kube.patch("deployments", API, {"status": {"updatedReplicas": 1,
                                                   "availableReplicas": 1}}, NS)
        observed(kube)
        reads = kube.requests(f"/apis/apps/v1/namespaces/{NS}/deployments/{API}", "GET")
        task = asyncio.ensure_future(run_action(runner, "kubernetes.rollout-status",
                                                {"target": f"deployment/{API}"},
                                                confirmed=False))
        await async_wait_until(lambda: kube.requests(
            f"/apis/apps/v1/namespaces/{NS}/deployments/{API}", "GET") >= reads + 2, timeout=15,
            what="rollout-status to read the deployment twice")
        kube.patch("deployments", API, {"status": {"replicas": 4, "updatedReplicas": 4,
                                                   "availableReplicas": 4,
                                                   "readyReplicas": 4}}, NS)
        outcome, lines = await task
        assert outcome.status == "succeeded", outcome.message
        assert lines[0] == (f'Waiting for deployment "{API}" rollout to finish: 1 out of 4 '
                            "new replicas have been updated...")
        assert lines[-1] == f'deployment "{API}" successfully rolled out'

        # delete-pod (dangerous): kubectl no longer finds it
        victim = f"{API}-h2x-p0"
        outcome, _ = await run_action(runner, "kubernetes.delete-pod", {"target": victim})
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == f"{base} delete pod/{victim}"
        gone = kubectl(kubeconfig, "-n", NS, "get", "pod", victim)
        assert gone.returncode != 0 and "NotFound" in gone.stderr

        # a deployment that does not exist: a failed run saying so
        outcome, lines = await run_action(runner, "kubernetes.delete-pod", {"target": "nope"})
        assert outcome.status == "failed"
        assert f"no such pod nope in namespace {NS}" in lines
    finally:
        await runner.backend.close()
    report = verify_trail(tmp_path / "trail.jsonl")
    assert report.ok, report


async def test_a_rollout_that_does_not_finish_fails_at_its_timeout(
        kube, kubeconfig, tmp_path) -> None:
    seed(kube)
    kube.patch("deployments", API, {"status": {"updatedReplicas": 1}}, NS)
    observed(kube)
    runner = runner_for(profile(tmp_path, backend="  rollout_timeout: 1s\n"), tmp_path)
    await runner.backend.connect()
    try:
        outcome, lines = await run_action(runner, "kubernetes.rollout-status",
                                          {"target": API}, confirmed=False)
        assert outcome.status == "failed" and outcome.exit_code == 1
        assert lines == [f'Waiting for deployment "{API}" rollout to finish: 1 out of 2 new '
                         "replicas have been updated...",
                         "error: timed out waiting for the condition (1s)"]
    finally:
        await runner.backend.close()


async def test_a_403_is_a_failed_run_saying_rbac(kube, kubeconfig, tmp_path) -> None:
    seed(kube)
    kube.forbid(f"/apis/apps/v1/namespaces/{NS}/deployments/{API}/scale", "PATCH")
    runner = runner_for(profile(tmp_path), tmp_path)
    await runner.backend.connect()
    try:
        outcome, lines = await run_action(runner, "kubernetes.scale",
                                          {"target": API, "replicas": "7"})
    finally:
        await runner.backend.close()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert lines == ["forbidden by the cluster (RBAC): patch deployments/scale"]
    records = [json.loads(line) for line in (tmp_path / "trail.jsonl").read_text().splitlines()]
    final = records[-1]
    assert final["status"] == "failed"
    assert final["output_tail"] == ["forbidden by the cluster (RBAC): patch deployments/scale"]
    assert jsonpath(kubeconfig, "deployment", API, "{.spec.replicas}") == "2"


# -- fleets, scopes, host commands --------------------------------------------------------

async def test_a_fleet_lists_the_reachable_context_and_an_error_row_for_the_other(
        kube, tmp_path, monkeypatch) -> None:
    seed(kube, pods=1, ready=1)
    config = write_fleet_kubeconfig(tmp_path / "fleet", {"eu": (kube, NS), "us": (None, NS)})
    monkeypatch.setenv("KUBECONFIG", str(config))
    backend = KubernetesBackend({"contexts": ["eu", "us"], "timeout": "2s"})
    await backend.connect()
    try:
        targets = by_id(await backend.list_targets())
        assert f"eu/{NS}/deployment/{API}" in targets
        pod = targets[f"eu/{NS}/pod/{API}-h2x-p0"]
        assert pod.parent == f"eu/{NS}/deployment/{API}" and pod.scope == f"eu/{NS}"
        error = targets["us/!unreachable"]
        assert error.health.state == "fail"
        assert error.health.reason.startswith("cannot reach us (http://127.0.0.1:")
        assert error.health.reason.endswith("connection refused")
        assert backend.identity().context == "eu,us"
        assert backend.identity_for(f"eu/{NS}/deployment/{API}").as_record() == {
            "kind": "kubernetes", "host": kube.url, "context": "eu", "namespace": NS}
        assert backend.identity_for(API).context == "eu"  # found by its alias
        assert await backend.scope_choices("context") == ["all", "eu", "us"]
        await backend.switch_scope("context", "eu")
        targets = by_id(await backend.list_targets())
        assert "us/!unreachable" not in targets and f"eu/{NS}/deployment/{API}" in targets
    finally:
        await backend.close()


async def test_namespaces_are_listed_from_the_cluster_and_switched(kube, kubeconfig) -> None:
    seed(kube, pods=1, ready=1)
    kube.create({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "elsewhere", "namespace": "default"},
                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    backend = KubernetesBackend({})
    await backend.connect()
    try:
        assert backend.scope_verbs == {"ctx": "context", "ns": "namespace"}
        assert await backend.scope_choices("namespace") == ["default", NS]
        await backend.switch_scope("namespace", "default")
        assert backend.identity().namespace == "default"
        assert [t.id for t in await backend.list_targets()] == ["default/pod/elsewhere"]
        with pytest.raises(Exception, match="no namespace 'mars'"):
            await backend.switch_scope("namespace", "mars")
    finally:
        await backend.close()


async def test_host_commands_talk_to_the_same_cluster_and_namespace(
        kube, kubeconfig, tmp_path) -> None:
    seed(kube, pods=1, ready=1)
    path = profile(tmp_path, extra="actions:\n  - id: deployments\n"
                                   "    run: [kubectl, get, deployments, -o, name]\n"
                                   "  - id: where\n    script: echo $COCKPIT_K8S_CONTEXT "
                                   "$COCKPIT_K8S_NAMESPACE\n")
    other = tmp_path / "elsewhere"
    kube.write_kubeconfig(other, context="not-this-one", namespace="default")
    runner = runner_for(path, tmp_path)
    await runner.backend.connect()
    try:
        outcome, lines = await run_action(runner, "deployments", confirmed=False)
        assert outcome.status == "succeeded", outcome.message
        assert lines == [f"deployment.apps/{API}"]
        outcome, lines = await run_action(runner, "where", confirmed=False)
        assert lines == [f"salvage-eu {NS}"]
    finally:
        await runner.backend.close()


# -- headless CLI -------------------------------------------------------------------------

def cockpit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


def test_the_headless_cli_lists_targets_and_scales(kube, kubeconfig, tmp_path) -> None:
    seed(kube)
    path = profile(tmp_path, backend=f"  workloads: [deployment/{API}]\n")
    env = {**os.environ, "COCKPIT_AUDIT_PATH": str(tmp_path / "trail.jsonl")}
    listed = cockpit("targets", "--json", "--profile", str(path), env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["kind"], r["name"]) for r in rows][:1] == [("deployment", API)]
    assert {r["parent"] for r in rows[1:]} == {f"{NS}/deployment/{API}"}
    ran = cockpit("run", "kubernetes.scale", "--profile", str(path), "--param",
                  f"target=deployment/{API}", "--param", "replicas=4", "--yes", env=env)
    assert ran.returncode == 0, ran.stderr
    assert wait_until(lambda: jsonpath(kubeconfig, "deployment", API, "{.spec.replicas}")
                      == "4", timeout=5)
    kube.forbid(f"/apis/apps/v1/namespaces/{NS}/deployments/{API}/scale", "PATCH")
    refused = cockpit("run", "kubernetes.scale", "--profile", str(path), "-p",
                      f"target=deployment/{API}", "-p", "replicas=1", "--yes", env=env)
    assert refused.returncode == 1
    assert "forbidden by the cluster (RBAC): patch deployments/scale" in refused.stderr
    bad = cockpit("run", "kubernetes.scale", "--profile", str(path), "-p", "target=nope",
                  "-p", "replicas=1", "--yes", env=env)
    assert bad.returncode == 2 and "nope" in bad.stderr
    unknown = profile(tmp_path, backend="  context: mars\n")
    listed = cockpit("targets", "--json", "--profile", str(unknown), env=env)
    assert listed.returncode == 1 and "no context 'mars'" in listed.stderr
    assert "Traceback" not in listed.stderr
