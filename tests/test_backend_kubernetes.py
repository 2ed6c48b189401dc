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
import re
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
from cockpit.core.errors import CockpitError, UsageError
from tests.kubedouble import KubeDouble, write_fleet_kubeconfig
from tests.kubedouble.kubectl import kubectl
from tests.support import async_wait_until, wait_until

NS = "euystacio-ai"
API = "euystacio-api"
ROOT = Path(__file__).resolve().parent.parent


def seed(kube: KubeDouble, name: str = API, replicas: int = 2) -> list[str]:
    """A Deployment rolled out twice by the double's controllers (revision 1:
    euystacio/api:1.4.2, revision 2: 1.5.0); returns its pods' names."""
    from tests.kubedouble.seed import deployment

    kube.create(deployment(name, NS, "euystacio/api:1.4.2", replicas, container="api"))
    kube.settle()
    set_image(kube, "euystacio/api:1.5.0", name)
    kube.settle()
    return pods_of(kube, name)


def set_image(kube: KubeDouble, image: str, name: str = API) -> None:
    kube.patch("deployments", name, {"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": image}]}}}}, NS)


def pods_of(kube: KubeDouble, app: str = API) -> list[str]:
    return sorted(p["metadata"]["name"] for p in kube.list("pods", NS, f"app={app}")
                  if not p["metadata"].get("deletionTimestamp"))


def add_pod(kube: KubeDouble, name: str, *, ready: bool = True) -> None:
    """A pod without a controller (CrashLoopBackOff unless ``ready``)."""
    kube.create({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": name, "namespace": NS, "labels": {"app": "x"}},
                 "spec": {"containers": [{"name": "api", "image": "busybox"}]}})
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
    pods = seed(kube)
    add_pod(kube, "loner", ready=False)
    backend = KubernetesBackend({})
    await backend.connect()
    stream = backend.watch_targets()
    try:
        first = by_id(await anext(stream))
        dep = first[f"{NS}/deployment/{API}"]
        assert (dep.health.state, dep.health.reason) == ("ok", "2/2 ready")
        assert dep.image == "euystacio/api:1.5.0" and dep.details["revision"] == "2"
        children = [t for t in first.values() if t.parent == dep.id]
        assert sorted(t.name for t in children) == pods
        assert all(t.kind == "pod" and t.health.state == "ok" and t.scope == NS
                   and t.details["context"] is None for t in children)
        loner = first[f"{NS}/pod/loner"]
        assert loner.parent is None and loner.health.state == "fail"
        assert loner.health.reason.startswith("CrashLoopBackOff: api")
        assert backend.identity().as_record() == {
            "kind": "kubernetes", "host": kube.url, "context": "salvage-eu", "namespace": NS}

        async def seen(pred) -> dict[str, Target]:
            async with asyncio.timeout(20):
                while True:
                    now = by_id(await anext(stream))
                    if pred(now):
                        return now

        # kubectl scales: the new pods show up under the deployment, then it is 4/4.
        kubectl(kubeconfig, "-n", NS, "scale", f"deployment/{API}", "--replicas=4", check=True)
        now = await seen(lambda t: t[dep.id].health.reason == "4/4 ready")
        assert len([t for t in now.values() if t.parent == dep.id]) == 4
        # kubectl deletes a pod: it leaves the list.
        kubectl(kubeconfig, "-n", NS, "delete", "pod", "loner", "--wait=false", check=True)
        await seen(lambda t: f"{NS}/pod/loner" not in t)
        # Never a request per pod: lists and watches of the namespace only.
        assert kube.requests(re.compile(f"/namespaces/{NS}/pods/[^/?]+$"), "GET") == 0
    finally:
        await stream.aclose()
        await backend.close()


async def test_the_meta_salvage_cluster_shows_its_health_reasons(salvage, kubeconfig) -> None:
    """The seeded runbook cluster: a crash-looping api pod (2/3 ready), an unschedulable
    worker, a StatefulSet, a Job that succeeded; a selector narrows to the OPA pods."""
    seeded = salvage.seeded
    backend = KubernetesBackend({})
    await backend.connect()
    try:
        targets = by_id(await backend.list_targets())
    finally:
        await backend.close()
    api = targets[f"{NS}/deployment/{API}"]
    assert (api.health.state, api.health.reason) == ("fail", "2/3 ready")  # degraded
    crashing = targets[f"{NS}/pod/{seeded['crashing']}"]
    assert crashing.parent == api.id and crashing.health.state == "fail"
    assert crashing.health.reason.startswith("CrashLoopBackOff: api (last exit: Error")
    assert crashing.state == "CrashLoopBackOff" and crashing.restarts == 4
    worker = targets[f"{NS}/deployment/euystacio-worker"]
    assert (worker.health.state, worker.health.reason) == ("fail", "0/1 ready")
    pending = targets[f"{NS}/pod/{seeded['pending']}"]
    assert pending.health == pending.health.__class__(
        "fail", "Pending: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.")
    db = targets[f"{NS}/statefulset/euystacio-db"]
    assert db.health.state == "ok" and db.kind == "statefulset"
    assert targets[f"{NS}/pod/{seeded['db_pod']}"].parent == db.id
    job = targets[f"{NS}/job/backup-nightly"]
    assert (job.state, job.health.state, job.health.reason) == ("Complete", "ok",
                                                                "1/1 succeeded")
    assert targets[f"{NS}/pod/{seeded['job_pod']}"].parent == job.id
    assert not [t for t in targets.values() if t.scope != NS]  # only the context's namespace

    opa = KubernetesBackend({"selector": "app=opa-peace-bonds"})
    await opa.connect()
    try:
        names = sorted(t.name for t in await opa.list_targets())
    finally:
        await opa.close()
    assert names == sorted(["opa-peace-bonds", *seeded["opa_pods"]])


@pytest.mark.parametrize("fault", ["drop", "expire"])
async def test_a_dropped_or_expired_watch_lists_again(kube, kubeconfig, fault) -> None:
    seed(kube, replicas=1)
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
        add_pod(kube, "after-the-fault")
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
    image = "{.spec.template.spec.containers[0].image}"
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
        kube.settle()

        # undo (dangerous): the history with images, then the previous image is back
        outcome, lines = await run_action(runner, "kubernetes.undo",
                                          {"target": f"deployment/{API}"})
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == f"{base} rollout undo deployment/{API}"
        assert "  1         euystacio/api:1.4.2 <- rolling back to this one" in lines
        assert "  2         euystacio/api:1.5.0 (current)" in lines
        assert lines[-1] == f"deployment.apps/{API} rolled back to revision 1 " \
                            "(euystacio/api:1.4.2)"
        assert jsonpath(kubeconfig, "deployment", API, image) == "euystacio/api:1.4.2"
        kube.settle()
        history = kubectl(kubeconfig, "-n", NS, "rollout", "history", f"deployment/{API}",
                          check=True).stdout.split()
        assert history[-2:] == ["3", "<none>"] and "1" not in history  # 1 became 3
        # and a chosen revision: back to 2 (1.5.0), asked with the history and where it
        # goes back to (the backend's explanation, before anything runs)
        asked: list[Any] = []

        def answer(request: Any) -> bool:
            asked.append(request)
            return True

        outcome = await runner.run(runner.prepare(
            "kubernetes.undo", {"target": f"deployment/{API}", "revision": "2"}),
            confirm=answer)
        assert outcome.status == "succeeded", outcome.message
        context = asked[0].context
        assert context[0].endswith("revision history; it goes back to revision 2"), context
        assert "  2         euystacio/api:1.5.0 <- rolling back to this one" in context
        assert "  3         euystacio/api:1.4.2 (current)" in context
        assert outcome.record["command"].endswith("--to-revision=2")
        assert jsonpath(kubeconfig, "deployment", API, image) == "euystacio/api:1.5.0"
        kube.settle()

        # restart, then rollout-status (safe) follows the controller's progress to the end
        outcome, _ = await run_action(runner, "kubernetes.restart",
                                      {"target": f"deployment/{API}"})
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == f"{base} rollout restart deployment/{API}"
        stamp = jsonpath(kubeconfig, "deployment", API, "{.spec.template.metadata."
                         r"annotations.kubectl\.kubernetes\.io/restartedAt}")
        assert stamp.endswith("Z") and len(stamp) == 20
        outcome, lines = await run_action(runner, "kubernetes.rollout-status",
                                          {"target": f"deployment/{API}"}, confirmed=False)
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == (f"{base} rollout status deployment/{API} "
                                             "--timeout=20s")
        assert lines[-1] == f'deployment "{API}" successfully rolled out'
        assert all(line.startswith("Waiting for ") for line in lines[:-1])
        status = kubectl(kubeconfig, "-n", NS, "rollout", "status", f"deployment/{API}",
                         "--timeout=5s", check=True).stdout
        assert "successfully rolled out" in status

        # delete-pod (dangerous): kubectl no longer finds it
        victim = pods_of(kube)[0]
        outcome, _ = await run_action(runner, "kubernetes.delete-pod", {"target": victim})
        assert outcome.status == "succeeded", outcome.message
        assert outcome.record["command"] == f"{base} delete pod/{victim}"
        gone = kubectl(kubeconfig, "-n", NS, "get", "pod", victim)
        assert gone.returncode != 0 and "NotFound" in gone.stderr

        # delete-pod named at a deployment: refused when prepared, before anyone is
        # asked (the preview would have been a deployment deletion)
        with pytest.raises(UsageError, match="delete-pod applies to pod, not deployment"):
            runner.prepare("kubernetes.delete-pod", {"target": f"deployment/{API}"})

        # a pod that does not exist: a failed run saying so
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
    kube.pause_rollouts()
    set_image(kube, "euystacio/api:1.6.0")
    runner = runner_for(profile(tmp_path, backend="  rollout_timeout: 1s\n"), tmp_path)
    await runner.backend.connect()
    try:
        outcome, lines = await run_action(runner, "kubernetes.rollout-status",
                                          {"target": API}, confirmed=False)
        assert outcome.status == "failed" and outcome.exit_code == 1
        assert lines == ["Waiting for deployment spec update to be observed...",
                         "error: timed out waiting for the condition (1s)"]
    finally:
        kube.resume_rollouts()
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
    pod_name = seed(kube, replicas=1)[0]
    config = write_fleet_kubeconfig(tmp_path / "fleet", {"eu": (kube, NS), "us": (None, NS)})
    monkeypatch.setenv("KUBECONFIG", str(config))
    backend = KubernetesBackend({"contexts": ["eu", "us"], "timeout": "2s"})
    await backend.connect()
    try:
        targets = by_id(await backend.list_targets())
        assert f"eu/{NS}/deployment/{API}" in targets
        pod = targets[f"eu/{NS}/pod/{pod_name}"]
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


async def test_one_unreachable_context_is_said_in_one_line(tmp_path, monkeypatch) -> None:
    config = write_fleet_kubeconfig(tmp_path / "gone", {"salvage-eu": (None, NS)})
    monkeypatch.setenv("KUBECONFIG", str(config))
    backend = KubernetesBackend({"timeout": "2s"})
    await backend.connect()  # reads the kubeconfig; the cluster is asked by the watches
    try:
        with pytest.raises(CockpitError) as caught:
            await backend.list_targets()
        assert str(caught.value).startswith("cannot reach salvage-eu (http://127.0.0.1:")
        assert str(caught.value).endswith("): connection refused")
        stream = backend.watch_targets()
        with pytest.raises(CockpitError, match="cannot reach salvage-eu"):
            await anext(stream)
        await stream.aclose()
    finally:
        await backend.close()


async def test_a_fleet_operation_acts_on_its_own_context_and_records_it(
        kube, tmp_path, monkeypatch) -> None:
    seed(kube, replicas=1)
    us = KubeDouble("us").start()
    try:
        us.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        seed(us, replicas=1)
        config = write_fleet_kubeconfig(tmp_path / "fleet", {"eu": (kube, NS), "us": (us, NS)})
        monkeypatch.setenv("KUBECONFIG", str(config))
        runner = runner_for(profile(tmp_path, backend="  contexts: [eu, us]\n"), tmp_path)
        await runner.backend.connect()
        try:
            ids = {t.id for t in await runner.backend.list_targets()}
            assert {f"eu/{NS}/deployment/{API}", f"us/{NS}/deployment/{API}"} <= ids
            outcome, _ = await run_action(runner, "kubernetes.scale",
                                          {"target": f"us/{NS}/deployment/{API}",
                                           "replicas": "3"})
            assert outcome.status == "succeeded", outcome.message
            assert outcome.record["command"] == (
                f"kubectl --context us -n {NS} scale deployment/{API} --replicas=3")
            assert outcome.record["backend"] == {"kind": "kubernetes", "host": us.url,
                                                 "context": "us", "namespace": NS}
            # a name both contexts have is refused when prepared, never guessed
            with pytest.raises(UsageError, match=r"is in several contexts \(eu, us\)"):
                runner.prepare("kubernetes.scale",
                               {"target": f"deployment/{API}", "replicas": "5"})
        finally:
            await runner.backend.close()
        replicas = "{.spec.replicas}"
        assert kubectl(config, "--context", "us", "-n", NS, "get", "deployment", API, "-o",
                       f"jsonpath={replicas}", check=True).stdout == "3"
        assert kubectl(config, "--context", "eu", "-n", NS, "get", "deployment", API, "-o",
                       f"jsonpath={replicas}", check=True).stdout == "1"
    finally:
        us.stop()


async def test_namespaces_are_listed_from_the_cluster_and_switched(kube, kubeconfig) -> None:
    seed(kube, replicas=1)
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
    seed(kube, replicas=1)
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


async def test_a_host_command_before_the_connection_still_talks_to_this_cluster(
        kube, kubeconfig, tmp_path) -> None:
    """A host command that comes before anything connected the backend (a command
    probe of the first round, an action from the palette at once) connects it first:
    it never runs with kubectl's default context, and neither do the ones after it."""
    from cockpit.core.sources.health import HealthChecker

    where = "echo ctx=$COCKPIT_K8S_CONTEXT ns=$COCKPIT_K8S_NAMESPACE"
    path = profile(tmp_path, extra=(
        f"health:\n  - name: here\n    kind: command\n    script: test "
        f"\"$COCKPIT_K8S_CONTEXT\" = salvage-eu\n"
        f"actions:\n  - id: where\n    script: {where}\n"))
    runner = runner_for(path, tmp_path)
    try:
        probe = runner.loaded.profile.health[0]  # the Health pane's first round
        rows = await HealthChecker([probe], runner.backend).check(probe)
        assert [(row.name, row.state) for row in rows] == [("here", "ok")], rows
        outcome, lines = await run_action(runner, "where", confirmed=False)
        assert outcome.status == "succeeded", outcome.message
        assert lines == [f"ctx=salvage-eu ns={NS}"]
    finally:
        await runner.backend.close()


# -- credentials --------------------------------------------------------------------------

def exec_kubeconfig(tmp_path: Path, kube: KubeDouble, plugin: str) -> Path:
    """A kubeconfig whose user gets its token from an exec credential plugin."""
    script = tmp_path / "plugin.sh"
    script.write_text(plugin)
    script.chmod(0o755)
    import yaml

    path = tmp_path / "exec-kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "eks",
        "clusters": [{"name": "eks", "cluster": {"server": kube.url}}],
        "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "aws",
                                                 "namespace": NS}}],
        "users": [{"name": "aws", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(script),
            "interactiveMode": "Never"}}}]}))
    return path


async def test_exec_credential_plugins_are_run_by_the_official_loader(
        kube, tmp_path, monkeypatch) -> None:
    seed(kube, replicas=1)
    token = ('#!/bin/sh\necho \'{"apiVersion": "client.authentication.k8s.io/v1beta1", '
             '"kind": "ExecCredential", "status": {"token": "from-the-plugin"}}\'\n')
    monkeypatch.setenv("KUBECONFIG", str(exec_kubeconfig(tmp_path, kube, token)))
    backend = KubernetesBackend({})
    await backend.connect()
    try:
        assert f"{NS}/deployment/{API}" in by_id(await backend.list_targets())
        headers = backend.clusters["eks"].client().configuration.api_key
        assert "from-the-plugin" in str(headers)
    finally:
        await backend.close()
    failing = "#!/bin/sh\necho 'token expired: run aws sso login' >&2\nexit 1\n"
    monkeypatch.setenv("KUBECONFIG", str(exec_kubeconfig(tmp_path, kube, failing)))
    backend = KubernetesBackend({})
    with pytest.raises(CockpitError) as caught:
        await backend.connect()
    await backend.close()
    message = str(caught.value)
    assert message == ("kubeconfig context 'eks': exec: process returned 1. token expired: "
                       "run aws sso login")


# -- connecting off the event loop -------------------------------------------------------

RESPONSIVE = """
import sys, threading, time, asyncio
from cockpit.core.backends.kubernetes import KubernetesBackend

class Spy:
    # where the SDK is first imported (the thread's name)
    where = []
    def find_spec(self, name, path=None, target=None):
        if name == "kubernetes" and not self.where:
            self.where.append(threading.current_thread().name)
        return None

sys.meta_path.insert(0, Spy())

async def main():
    loop = asyncio.get_running_loop()
    gaps, last = [], [time.monotonic()]
    def tick():
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now
        loop.call_later(0.005, tick)
    loop.call_later(0.005, tick)
    before = "kubernetes" in sys.modules
    began = time.monotonic()
    backend = KubernetesBackend({})
    await backend.connect()
    targets = await backend.list_targets()
    took = time.monotonic() - began
    await backend.close()
    print(before, "kubernetes" in sys.modules, round(max(gaps), 3), round(took, 3), len(targets),
          Spy.where[0].replace(" ", "_"))

asyncio.run(main())
"""


def test_connect_imports_the_sdk_off_the_event_loop(kube, kubeconfig) -> None:
    """The SDK import (~0.7 s) and the first listing happen in threads: the loop keeps
    ticking (a TUI keeps drawing) while a kubernetes profile connects."""
    seed(kube, replicas=1)
    out = subprocess.run([sys.executable, "-c", RESPONSIVE], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ), check=True).stdout.split()
    before, after, gap, took, count, where = out
    assert (before, after) == ("False", "True")
    assert where != "MainThread"  # imported in a worker thread, never on the loop's
    assert int(count) == 2  # the deployment and its pod
    # A big module's bytecode is loaded holding the GIL, so the loop may wait a little,
    # never for the whole import and listing.
    assert float(gap) < 0.5, (gap, took)


EARLY_ROUND = r"""
import json, select, sys, time
from cockpit.core.boundary import Boundary
from cockpit.core.config.loader import load_profile
from cockpit.core.environment import open_backend
from cockpit.core.sources.early_probes import start_early_probes

loaded = load_profile(sys.argv[1])
early = start_early_probes(loaded.profile.health, open_backend(loaded), Boundary())
rows = {}
deadline = time.monotonic() + 60
while not early.ended and time.monotonic() < deadline:
    select.select([early.fileno()], [], [], deadline - time.monotonic())
    for name, got in early.read():
        rows[name] = [[row.name, row.state] for row in got]
early.close()
print(json.dumps({"names": list(early.names), "connects": early.connects, "rows": rows,
                  "sdk_here": "kubernetes" in sys.modules}))
"""


def test_the_first_rounds_target_probe_runs_in_the_forked_child(
        kube, kubeconfig, tmp_path) -> None:
    """The first probe round's child connects and lists on its own (its SDK imported
    there): the target probe's rows come back as the cockpit's own probe gives them,
    and the cockpit's process has not imported the SDK for them."""
    seed(kube, replicas=2)
    path = profile(tmp_path, extra=(
        f"health:\n  - {{name: workloads, kind: target, targets: [deployment/{API}]}}\n"))
    env = {**os.environ, "COCKPIT_EARLY_PROBES": "1"}
    done = subprocess.run([sys.executable, "-c", EARLY_ROUND, str(path)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["names"] == ["workloads"] and seen["connects"] is True
    assert seen["sdk_here"] is False

    async def in_process() -> list[list[str]]:
        from cockpit.core.sources.health import HealthChecker

        loaded = load_profile(path)
        backend = open_backend(loaded)
        try:
            probe = loaded.profile.health[0]
            return [[row.name, row.state] for row in
                    await HealthChecker([probe], backend).check(probe)]
        finally:
            await backend.close()

    expected = asyncio.run(in_process())
    assert seen["rows"] == {"workloads": expected}
    assert expected == [["workloads", "ok"], [f"workloads/{API}", "ok"]]


def test_a_credential_plugin_keeps_the_first_rounds_target_probe_in_process(
        kube, kubeconfig, tmp_path, monkeypatch) -> None:
    """A kubeconfig whose user runs a credential plugin (or names an auth provider) is
    not connected by the forked child: the plugin would run twice, and one that asks
    the operator could not there. Without one, the child connects."""
    from cockpit.core.config.models import TargetProbe
    from cockpit.core.sources.early_probes import runs_early

    probe = TargetProbe.model_validate({"kind": "target", "name": "t"})
    assert runs_early(probe, KubernetesBackend({"kind": "kubernetes"})) is True
    plugin = exec_kubeconfig(tmp_path, kube, "#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("KUBECONFIG", f"{kubeconfig}{os.pathsep}{plugin}")
    assert runs_early(probe, KubernetesBackend({"kind": "kubernetes"})) is False
    assert runs_early(probe, KubernetesBackend(
        {"kind": "kubernetes", "kubeconfig": str(kubeconfig)})) is True
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert runs_early(probe, KubernetesBackend({"kind": "kubernetes"})) is False


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
