"""The Kubernetes test double, cross-checked with the real kubectl and the official client."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.kubedouble import KubeDouble, write_fleet_kubeconfig
from tests.kubedouble.kubectl import kubectl
from tests.support import wait_until

NS = "euystacio-ai"


def _deployment(name: str, replicas: int = 3, image: str = "euystacio/api:1.4.2") -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def _pod(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels or {"app": "x"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


def _http(kube: KubeDouble, path: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(kube.url + path, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


def _client(kubeconfig):
    from kubernetes import client, config

    api = config.new_client_from_config(str(kubeconfig))
    return client.CoreV1Api(api), client.AppsV1Api(api)


# -- discovery and errors -----------------------------------------------------------------
def test_discovery_is_what_kubectl_expects(kube):
    status, ctype, core = _http(kube, "/api/v1")
    assert (status, ctype, core["groupVersion"]) == (200, "application/json", "v1")
    names = {r["name"]: r for r in core["resources"]}
    assert names["pods"]["shortNames"] == ["po"]
    assert "shortNames" not in names["pods/log"]
    _, _, apps = _http(kube, "/apis/apps/v1")
    scale = {r["name"]: r for r in apps["resources"]}["deployments/scale"]
    assert (scale["kind"], scale["group"], scale["version"]) == ("Scale", "autoscaling", "v1")
    _, _, groups = _http(kube, "/apis")
    order = [g["name"] for g in groups["groups"]]
    assert order[-1] == "metrics.k8s.io" and order[0] == "apps"
    for path in ("/version", "/version/"):
        assert _http(kube, path)[2]["gitVersion"].startswith("v1.32")


def test_errors_are_status_documents_in_plain_json(kube):
    status, ctype, body = _http(kube, f"/api/v1/namespaces/{NS}/pods/nope")
    assert (status, ctype) == (404, "application/json")
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["message"] == 'pods "nope" not found'


def test_kubectl_version_and_get_with_jsonpath(kube, kubeconfig):
    kube.create(_pod("p1"))
    kube.create(_pod("p2"))
    version = kubectl(kubeconfig, "version", "-o", "json", check=True)
    assert json.loads(version.stdout)["serverVersion"]["minor"] == "32"
    assert "skew" not in version.stderr.lower()
    got = kubectl(kubeconfig, "get", "pods", "-n", NS, "-o", "jsonpath={.items[*].metadata.name}", check=True)
    assert got.stdout.split() == ["p1", "p2"]
    assert got.stderr == ""
    missing = kubectl(kubeconfig, "get", "pod", "nope")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr


def test_list_is_typed_and_selects_labels(kube, kubeconfig):
    kube.create(_pod("a", {"app": "api", "tier": "web"}))
    kube.create(_pod("b", {"app": "db"}))
    core, _ = _client(kubeconfig)
    pods = core.list_namespaced_pod(NS, label_selector="app in (api,web),tier")
    assert pods.kind == "PodList" and pods.api_version == "v1"
    assert [p.metadata.name for p in pods.items] == ["a"]
    got = kubectl(kubeconfig, "get", "pods", "-l", "app!=api", "-o", "jsonpath={.items[*].metadata.name}", check=True)
    assert got.stdout == "b"


# -- scale --------------------------------------------------------------------------------
def test_kubectl_scale_changes_replicas_and_a_watch_sees_it(kube, kubeconfig):
    kube.create(_deployment("euystacio-api"))
    _core, apps = _client(kubeconfig)
    from kubernetes import watch

    rv = apps.list_namespaced_deployment(NS).metadata.resource_version
    seen: list[tuple[str, int]] = []

    def follow() -> None:
        for ev in watch.Watch().stream(apps.list_namespaced_deployment, NS, resource_version=rv, timeout_seconds=20):
            seen.append((ev["type"], ev["object"].spec.replicas))
            if len(seen) == 2:
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_until(lambda: kube.watchers("deployments") == 1, what="the watch to open")
    kubectl(kubeconfig, "scale", "deployment/euystacio-api", "--replicas=5", check=True)
    scale = apps.patch_namespaced_deployment_scale("euystacio-api", NS, {"spec": {"replicas": 1}})
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 1)
    assert scale.status.selector == "app=euystacio-api"
    thread.join(20)
    assert seen == [("MODIFIED", 5), ("MODIFIED", 1)]
    assert apps.read_namespaced_deployment_scale("euystacio-api", NS).spec.replicas == 1
    assert kube.get("deployment", "euystacio-api", NS)["metadata"]["generation"] == 3


# -- watch --------------------------------------------------------------------------------
def test_watch_without_resource_version_starts_with_the_objects_then_times_out(kube, kubeconfig):
    kube.create(_pod("p1"))
    core, _ = _client(kubeconfig)
    from kubernetes import watch

    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(core.list_namespaced_pod, NS, timeout_seconds=1)]
    assert events == [("ADDED", "p1")]


def test_watch_from_a_resource_version_sends_only_what_changed(kube, kubeconfig):
    kube.create(_pod("old"))
    core, _ = _client(kubeconfig)
    from kubernetes import watch

    rv = core.list_namespaced_pod(NS).metadata.resource_version
    events: list[tuple[str, str]] = []
    stream = watch.Watch()

    def follow() -> None:
        for ev in stream.stream(core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=20):
            events.append((ev["type"], ev["object"].metadata.name))

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_until(lambda: kube.watchers("pods") == 1, what="the watch to open")
    kube.create(_pod("new"))
    kube.set_pod_status("new", NS, phase="Running", ready=True)
    kube.delete("pod", "old", NS)
    wait_until(lambda: len(events) == 3, what="three events")
    kube.end_watches()
    thread.join(10)
    assert events == [("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "old")]


def test_kubectl_get_watch_streams_json_lines(kube, kubeconfig):
    kube.create(_pod("p1"))
    result = kubectl(kubeconfig, "get", "pods", "-n", NS, "--watch", "--request-timeout=2s", "-o", "jsonpath={.metadata.name}{'\\n'}")
    assert result.stdout.split() == ["p1"]


def test_injected_watch_failures(kube, kubeconfig):
    kube.create(_pod("p1"))
    core, _ = _client(kubeconfig)
    from kubernetes import watch
    from kubernetes.client import ApiException

    rv = core.list_namespaced_pod(NS).metadata.resource_version
    kube.expire_watches()
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=5))
    assert err.value.status == 410
    kube.drop_watches(after=0)
    assert list(watch.Watch().stream(core.list_namespaced_pod, NS, timeout_seconds=5)) == []


# -- failures -----------------------------------------------------------------------------
def test_forbidden_is_the_api_servers_message(kube, kubeconfig):
    kube.create(_deployment("euystacio-api"))
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/euystacio-api/scale"
    kube.forbid(path, "PATCH", user="cockpit")
    result = kubectl(kubeconfig, "scale", "deployment/euystacio-api", "--replicas=1")
    assert result.returncode == 1
    assert (
        'Error from server (Forbidden): deployments.apps "euystacio-api" is forbidden: User "cockpit" '
        'cannot patch resource "deployments/scale" in API group "apps" in the namespace "euystacio-ai"'
    ) in result.stderr
    assert kube.requests(path, "PATCH") == 1
    assert kube.get("deployment", "euystacio-api", NS)["spec"]["replicas"] == 3


# -- kubeconfig -----------------------------------------------------------------------------
def test_a_fleet_kubeconfig_names_several_doubles_and_an_unreachable_one(kube, tmp_path):
    us = KubeDouble("us").start()
    try:
        kube.create(_pod("in-eu"))
        us.create(_pod("in-us"))
        path = write_fleet_kubeconfig(
            tmp_path / "fleet",
            {"salvage-eu": (kube, NS), "salvage-us": (us, NS), "salvage-down": (None, NS)},
            current="salvage-eu",
        )
        names = {}
        for ctx in ("salvage-eu", "salvage-us"):
            got = kubectl(path, "--context", ctx, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}", check=True)
            names[ctx] = got.stdout
        assert names == {"salvage-eu": "in-eu", "salvage-us": "in-us"}
        assert kubectl(path, "config", "current-context", check=True).stdout.strip() == "salvage-eu"
        down = kubectl(path, "--context", "salvage-down", "get", "pods", "--request-timeout=5s")
        assert down.returncode == 1 and "refused" in down.stderr
    finally:
        us.stop()
