"""The kubernetes backend's pure parts on dict fixtures (the API's JSON as kubectl prints
it): health of pods and workloads, target ids and parents, references, previews,
options, the revision history, rollout-status lines, and kubeconfig problems as one line.
No cluster and no SDK import here."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.backends.kubernetes import rollout
from cockpit.core.backends.kubernetes.backend import KubernetesBackend
from cockpit.core.backends.kubernetes.cluster import (
    Cluster,
    Forbidden,
    Gone,
    NotFound,
    Unreachable,
)
from cockpit.core.backends.kubernetes.kubeconfig import KubeconfigError, load_kubeconfig
from cockpit.core.backends.kubernetes.ops import OPERATIONS, target_param
from cockpit.core.backends.kubernetes.options import KubernetesOptions
from cockpit.core.backends.kubernetes.targets import (
    build_targets,
    parse_ref,
    pod_health,
    pod_owner,
    pod_state,
    workload_health,
)
from cockpit.core.backends.operations import OperationCall
from cockpit.core.errors import CockpitError

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NS = "euystacio-ai"


def iso(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def pod(name: str = "api-7d9f-x1", *, phase: str = "Running", ready: bool = True,
        waiting: str | None = None, restarts: int = 0, last: dict | None = None,
        owner: tuple[str, str] | None = ("ReplicaSet", "api-7d9f"),
        hash_: str = "7d9f", **status: Any) -> dict[str, Any]:
    cstat: dict[str, Any] = {"name": "api", "ready": ready, "restartCount": restarts,
                             "state": {"running": {"startedAt": iso(NOW - 3600)}}}
    if waiting:
        cstat["state"] = {"waiting": {"reason": waiting, "message": f"{waiting} message"}}
    if last:
        cstat["lastState"] = {"terminated": last}
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}",
                            "labels": {"app": "api", "pod-template-hash": hash_}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "api", "image": "euystacio/api:1.5.0"}],
                 "nodeName": "node-1"},
        "status": {"phase": phase, "startTime": iso(NOW - 3600),
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "message": "" if ready else
                                   "containers with unready status: [api]"}],
                   "containerStatuses": [cstat], **status},
    }


def deployment(name: str = "api", desired: int = 3, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                         "generation": 2,
                         "annotations": {rollout.REVISION: "2"}},
            "spec": {"replicas": desired, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name,
                                                           "image": "euystacio/api:1.5.0"}]}}},
            "status": {"observedGeneration": 2, **status}}


# -- pod health ---------------------------------------------------------------------------

def test_a_ready_pod_is_ok_and_a_not_ready_one_fails_with_the_condition() -> None:
    assert pod_health(pod(), NOW).state == "ok"
    health = pod_health(pod(ready=False), NOW)
    assert health.state == "fail" and "containers with unready status: [api]" in health.reason


@pytest.mark.parametrize("reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"])
def test_waiting_reasons_fail_with_their_reason(reason: str) -> None:
    p = pod(ready=False, waiting=reason, restarts=5,
            last={"reason": "Error", "exitCode": 1, "finishedAt": iso(NOW - 30)})
    health = pod_health(p, NOW)
    assert health.state == "fail" and health.reason.startswith(f"{reason}: api")
    assert pod_state(p) == reason
    if reason == "CrashLoopBackOff":
        assert "last exit: Error, code 1" in health.reason


def test_oomkilled_and_restarts_climbing() -> None:
    oom = pod(ready=False, phase="Running",
              waiting=None, restarts=1)
    oom["status"]["containerStatuses"][0]["state"] = {"terminated": {"reason": "OOMKilled",
                                                                     "exitCode": 137}}
    assert pod_health(oom, NOW) == pod_health(oom, NOW)
    assert pod_health(oom, NOW).reason == "OOMKilled: api" and pod_state(oom) == "OOMKilled"
    climbing = pod(restarts=4, last={"reason": "OOMKilled", "finishedAt": iso(NOW - 120)})
    health = pod_health(climbing, NOW)
    assert health.state == "unknown"
    assert health.reason == "restarts climbing: 4 (last 2m ago: OOMKilled)"
    settled = pod_health(climbing, NOW + 3600)
    assert settled.state == "ok" and "OOMKilled" in settled.reason


def test_pending_pods_say_the_schedulers_reason_and_evicted_ones_fail() -> None:
    pending = pod(phase="Pending", ready=False)
    pending["status"]["conditions"] = [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory."}]
    pending["status"]["containerStatuses"] = []
    health = pod_health(pending, NOW)
    assert health == health.__class__(
        "fail", "Pending: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.")
    creating = pod(phase="Pending", ready=False, waiting="ContainerCreating")
    creating["status"]["conditions"] = []
    assert pod_health(creating, NOW).state == "unknown"
    assert pod_health(creating, NOW).reason == "Pending: ContainerCreating"
    evicted = pod(phase="Failed", ready=False, reason="Evicted",
                  message="The node was low on resource: memory.")
    assert pod_state(evicted) == "Evicted"
    assert pod_health(evicted, NOW).reason == "Evicted: The node was low on resource: memory."
    done = pod(phase="Succeeded", ready=False)
    assert pod_health(done, NOW).state == "ok" and pod_state(done) == "Completed"
    terminating = pod()
    terminating["metadata"]["deletionTimestamp"] = iso(NOW)
    assert pod_state(terminating) == "Terminating"
    assert pod_health(terminating, NOW).state == "unknown"


# -- workloads ----------------------------------------------------------------------------

def test_workload_health_counts_ready_replicas_and_rollout_progress() -> None:
    assert workload_health("deployment", deployment(
        readyReplicas=3, updatedReplicas=3, replicas=3, availableReplicas=3)) == (
        "Ready", workload_health("deployment", deployment(
            readyReplicas=3, updatedReplicas=3, replicas=3))[1])
    state, health = workload_health("deployment", deployment(
        readyReplicas=2, updatedReplicas=1, replicas=4))
    assert (state, health.state, health.reason) == (
        "Progressing", "unknown", "2/3 ready, rollout 1/3 updated")
    state, health = workload_health("deployment", deployment(readyReplicas=0))
    assert (health.state, health.reason) == ("fail", "0/3 ready")
    stalled = deployment(readyReplicas=1, updatedReplicas=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    assert workload_health("deployment", stalled)[1].state == "fail"
    assert "progress deadline" in workload_health("deployment", stalled)[1].reason
    assert workload_health("deployment", deployment(desired=0))[1].reason == "scaled to 0"
    # fewer ready than desired and nothing rolling out (a crash-looping pod): failing
    state, health = workload_health("deployment", deployment(
        readyReplicas=2, updatedReplicas=3, replicas=3))
    assert (state, health.state, health.reason) == ("Degraded", "fail", "2/3 ready")
    ds = {"metadata": {"name": "agent"}, "spec": {},
          "status": {"desiredNumberScheduled": 3, "numberReady": 3,
                     "updatedNumberScheduled": 3}}
    assert workload_health("daemonset", ds)[1].state == "ok"


def test_job_health_from_its_counts_and_conditions() -> None:
    job = {"metadata": {"name": "backup"}, "spec": {"completions": 1},
           "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}
    assert workload_health("job", job) == ("Complete", workload_health("job", job)[1])
    assert workload_health("job", job)[1].reason == "1/1 succeeded"
    failed = {"metadata": {"name": "backup"}, "spec": {},
              "status": {"failed": 6, "conditions": [
                  {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    assert workload_health("job", failed)[1].reason == (
        "BackoffLimitExceeded: 0/1 succeeded, 6 failed")
    running = {"metadata": {"name": "backup"}, "spec": {}, "status": {"active": 1}}
    assert workload_health("job", running)[1].state == "unknown"


# -- ids, parents, aliases ----------------------------------------------------------------

def test_pods_are_children_of_their_workload_through_the_replicaset() -> None:
    rs = {"metadata": {"name": "api-7d9f", "namespace": NS,
                       "ownerReferences": [{"kind": "Deployment", "name": "api"}]}}
    objects = {"deployment": [deployment(readyReplicas=1)], "replicaset": [rs],
               "pod": [pod(), pod("loner", owner=None)],
               "job": [{"metadata": {"name": "backup", "namespace": NS},
                        "spec": {}, "status": {"active": 1}}]}
    targets = build_targets(objects, now=NOW)
    ids = [t.id for t in targets]
    assert ids == [f"{NS}/deployment/api", f"{NS}/job/backup", f"{NS}/pod/api-7d9f-x1",
                   f"{NS}/pod/loner"]
    api_pod = targets[2]
    assert api_pod.parent == f"{NS}/deployment/api" and api_pod.scope == NS
    assert api_pod.aliases == ("pod/api-7d9f-x1", "api-7d9f-x1", f"{NS}/pod/api-7d9f-x1")
    assert api_pod.restarts == 0 and api_pod.started_at == NOW - 3600
    assert api_pod.image == "euystacio/api:1.5.0"
    assert targets[0].aliases == ("deployment/api", "api", f"{NS}/deployment/api")
    # Without the ReplicaSet, the pod-template-hash suffix names the deployment.
    assert pod_owner(pod()) == ("deployment", "api")
    # A fleet puts the context first; workloads keeps only those and their pods.
    fleet = build_targets(objects, context="eu", workloads=["deployment/api"], now=NOW)
    assert [t.id for t in fleet] == [f"eu/{NS}/deployment/api", f"eu/{NS}/pod/api-7d9f-x1"]
    assert fleet[1].parent == f"eu/{NS}/deployment/api" and fleet[1].scope == f"eu/{NS}"


def test_references_a_user_types() -> None:
    assert parse_ref("api") == parse_ref("api").__class__("api")
    ref = parse_ref("deploy/api")
    assert (ref.kind, ref.name, ref.namespace, ref.context) == ("deployment", "api", None, None)
    ref = parse_ref("eu/shop/pods/web-1")
    assert (ref.context, ref.namespace, ref.kind, ref.name) == ("eu", "shop", "pod", "web-1")
    with pytest.raises(ValueError):
        parse_ref("shop/api")


# -- options and operations ---------------------------------------------------------------

def test_options_are_checked_when_the_profile_is_loaded() -> None:
    opts = KubernetesOptions.model_validate(
        {"kind": "kubernetes", "contexts": ["eu", "us"], "namespace": NS,
         "workloads": ["deploy/euystacio-api", "shop/sts/db"], "timeout": "5s"})
    assert opts.workloads == ["deployment/euystacio-api", "shop/statefulset/db"]
    assert opts.fleet() and opts.timeout == 5.0 and opts.rollout_timeout == 300.0
    for bad, words in (({"context": "a", "contexts": ["b"]}, "exclude each other"),
                       ({"namespace": "a", "namespaces": ["b"]}, "exclude each other"),
                       ({"workloads": ["service/api"]}, "not one of"),
                       ({"workloads": ["api"]}, "KIND/NAME"),
                       ({"namespace": "Bad_NS"}, "not a namespace name"),
                       ({"contexts": ["a", "a"]}, "twice"),
                       ({"kubectl": ""}, "must not be empty"),
                       ({"colour": "red"}, "Extra inputs")):
        with pytest.raises(CockpitError, match=words):
            KubernetesBackend(bad)


def test_operations_are_declared_with_their_danger() -> None:
    dangers = {op.name: op.danger for op in OPERATIONS}
    assert dangers == {"scale": "caution", "restart": "caution", "undo": "dangerous",
                       "rollout-status": "safe", "delete-pod": "dangerous",
                       "exec": "dangerous"}
    opts = KubernetesOptions.model_validate(
        {"kind": "kubernetes", "workloads": ["deployment/euystacio-api", "job/backup"]})
    scale = next(op for op in OPERATIONS if op.name == "scale")
    assert target_param(opts, scale) == {
        "description": "the workload or pod (KIND/NAME or NAME)", "type": "choice",
        "choices": ["deployment/euystacio-api"]}
    delete = next(op for op in OPERATIONS if op.name == "delete-pod")
    assert "choices" not in target_param(opts, delete)


def test_previews_are_kubectl_lines_before_connecting() -> None:
    backend = KubernetesBackend({"context": "salvage-eu", "namespace": NS})
    base = ["kubectl", "--context", "salvage-eu", "-n", NS]
    cases = [
        (OperationCall("scale", "deployment/euystacio-api", {"replicas": "4"}),
         [*base, "scale", "deployment/euystacio-api", "--replicas=4"]),
        (OperationCall("restart", "euystacio-api"),
         [*base, "rollout", "restart", "deployment/euystacio-api"]),
        (OperationCall("undo", "euystacio-api", {"revision": "0"}),
         [*base, "rollout", "undo", "deployment/euystacio-api"]),
        (OperationCall("undo", "euystacio-api", {"revision": "3"}),
         [*base, "rollout", "undo", "deployment/euystacio-api", "--to-revision=3"]),
        (OperationCall("rollout-status", "sts/db"),
         [*base, "rollout", "status", "statefulset/db", "--timeout=300s"]),
        (OperationCall("delete-pod", "api-7d9f-x1"), [*base, "delete", "pod/api-7d9f-x1"]),
        (OperationCall("exec", "deployment/api", {"command": "env | sort"}),
         [*base, "exec", "deployment/api", "--", "sh", "-c", "env | sort"]),
        (OperationCall("scale", "other/deployment/api", {"replicas": "1"}),
         ["kubectl", "--context", "salvage-eu", "-n", "other", "scale", "deployment/api",
          "--replicas=1"]),
    ]
    for call, line in cases:
        assert backend.preview(call) == line
    custom = KubernetesBackend({"kubeconfig": "/etc/k.yaml", "kubectl": "kubectl-1.32",
                                "container": "api"})
    assert custom.preview(OperationCall("exec", "web-1", {"command": "id"})) == [
        "kubectl-1.32", "--kubeconfig", "/etc/k.yaml", "exec", "pod/web-1", "-c", "api",
        "--", "sh", "-c", "id"]


def test_the_package_imports_no_sdk() -> None:
    import subprocess

    code = ("import sys, cockpit.core.backends.kubernetes as k; "
            "k.KubernetesBackend({'context': 'x'}); "
            "print([m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# -- rollouts -----------------------------------------------------------------------------

def _rs(rev: int, image: str, owner_uid: str = "uid-api") -> dict[str, Any]:
    return {"metadata": {"name": f"api-{rev}", "annotations": {rollout.REVISION: str(rev)},
                         "ownerReferences": [{"kind": "Deployment", "name": "api",
                                              "uid": owner_uid}]},
            "spec": {"template": {"metadata": {"labels": {"app": "api",
                                                          "pod-template-hash": f"h{rev}"}},
                                  "spec": {"containers": [{"name": "api", "image": image}]}}}}


def test_the_revision_history_and_the_revision_to_go_back_to() -> None:
    dep = deployment()
    sets = [_rs(2, "api:1.5.0"), _rs(1, "api:1.4.2"), _rs(7, "x", owner_uid="someone-else")]
    revisions = rollout.history(dep, sets)
    assert [(r.number, r.images) for r in revisions] == [(1, ("api:1.4.2",)),
                                                         (2, ("api:1.5.0",))]
    current = rollout.current_revision(dep, revisions)
    assert current == 2 and rollout.pick_revision(revisions, current, 0).number == 1
    assert rollout.pick_revision(revisions, current, 2).number == 2
    with pytest.raises(CockpitError, match="unable to find specified revision 9"):
        rollout.pick_revision(revisions, current, 9)
    with pytest.raises(CockpitError, match="no rollout history"):
        rollout.pick_revision(revisions[1:], current, 0)
    assert rollout.history_lines(revisions, 2, 1) == [
        "REVISION  IMAGES", "1         api:1.4.2 <- rolling back to this one",
        "2         api:1.5.0 (current)"]
    template = rollout.clean_template(revisions[0].template)
    assert template["metadata"]["labels"] == {"app": "api"}
    assert "pod-template-hash" in revisions[0].template["metadata"]["labels"]


def test_rollout_status_lines_are_kubectls() -> None:
    dep = deployment(updatedReplicas=1, replicas=3, availableReplicas=1)
    assert rollout.status_line("deployment", dep) == (False, (
        'Waiting for deployment "api" rollout to finish: 1 out of 3 new replicas have been '
        "updated..."))
    dep = deployment(updatedReplicas=3, replicas=4, availableReplicas=2)
    assert "1 old replicas are pending termination" in rollout.status_line("deployment", dep)[1]
    dep = deployment(updatedReplicas=3, replicas=3, availableReplicas=2)
    assert "2 of 3 updated replicas are available" in rollout.status_line("deployment", dep)[1]
    dep = deployment(updatedReplicas=3, replicas=3, availableReplicas=3)
    assert rollout.status_line("deployment", dep) == (
        True, 'deployment "api" successfully rolled out')
    stale = copy.deepcopy(dep)
    stale["metadata"]["generation"] = 3
    assert rollout.status_line("deployment", stale)[0] is False
    dep["status"]["conditions"] = [{"type": "Progressing",
                                    "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(CockpitError, match="exceeded its progress deadline"):
        rollout.status_line("deployment", dep)


# -- kubeconfig and errors ----------------------------------------------------------------

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: eu
clusters:
- name: eu
  cluster: {server: "https://eu.example:6443"}
- name: us
  cluster: {server: "https://us.example:6443"}
users:
- name: me
  user: {token: abc}
contexts:
- name: eu
  context: {cluster: eu, user: me, namespace: euystacio-ai}
- name: us
  context: {cluster: us, user: me}
"""


def test_kubeconfig_files_merge_as_kubectl_merges_them(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(KUBECONFIG)
    second = tmp_path / "b.yaml"
    second.write_text(KUBECONFIG.replace("current-context: eu", "current-context: us")
                      .replace("name: eu\n  context: {cluster: eu, user: me, namespace: "
                               "euystacio-ai}", "name: asia\n  context: {cluster: eu, "
                               "user: me}"))
    env = {"KUBECONFIG": os.pathsep.join([str(first), str(tmp_path / "gone.yaml"),
                                          str(second)])}
    config = load_kubeconfig(None, env)
    assert config.paths == [str(first), str(second)]  # a missing file is skipped
    assert config.current == "eu"  # the first current-context wins
    assert config.names() == ["eu", "us", "asia"]
    assert config.context(None).namespace == "euystacio-ai"
    assert config.context("us").server == "https://us.example:6443"
    assert config.context("us").namespace is None
    assert load_kubeconfig(str(second), {}).current == "us"  # the option wins


def test_kubeconfig_problems_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(KubeconfigError, match=r"nope.yaml: no such file"):
        load_kubeconfig(str(missing), {})
    with pytest.raises(KubeconfigError, match=r"KUBECONFIG=.*no such file"):
        load_kubeconfig(None, {"KUBECONFIG": str(missing)})
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nclusters:\n  - name: eu\n   cluster: [\n")
    with pytest.raises(KubeconfigError) as caught:
        load_kubeconfig(str(bad), {})
    message = str(caught.value)
    assert message.startswith(f"{bad}:4: malformed YAML") and "\n" not in message
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(KubeconfigError, match=r"list.yaml:1: a kubeconfig is a mapping"):
        load_kubeconfig(str(listy), {})
    good = tmp_path / "good.yaml"
    good.write_text(KUBECONFIG)
    with pytest.raises(KubeconfigError, match=r"no context 'mars' \(known: eu, us\)"):
        load_kubeconfig(str(good), {}).context("mars")


def test_no_kubeconfig_at_all_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeconfigError, match=r"^no kubeconfig: \$KUBECONFIG is not set"):
        load_kubeconfig(None, {})


async def test_connect_with_an_unknown_context_is_one_line(tmp_path: Path, monkeypatch) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(good))
    backend = KubernetesBackend({"context": "mars"})
    with pytest.raises(CockpitError, match=r"no context 'mars' \(known: eu, us\)"):
        await backend.connect()
    await backend.close()


def test_api_errors_in_words() -> None:
    from kubernetes.client.exceptions import ApiException

    class Info:
        name, server, namespace, cluster, user = "eu", "https://eu.example:6443", None, "", ""

    cluster = Cluster(None, Info(), 1.0)  # type: ignore[arg-type]
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = b'{"kind":"Status","message":"deployments.apps \\"api\\" is forbidden"}'
    error = cluster.error(forbidden, "patch", "deployments/scale")
    assert isinstance(error, Forbidden)
    assert str(error) == "forbidden by the cluster (RBAC): patch deployments/scale"
    missing = cluster.error(ApiException(status=404, reason="Not Found"), "get",
                            "deployments", missing="deployment api in namespace x")
    assert isinstance(missing, NotFound) and str(missing) == (
        "no such deployment api in namespace x")
    assert isinstance(cluster.error(ApiException(status=410), "watch", "pods"), Gone)
    refused = cluster.error(ConnectionRefusedError(111, "Connection refused"), "list", "pods")
    assert isinstance(refused, Unreachable)
    assert str(refused) == "cannot reach eu (https://eu.example:6443): connection refused"
