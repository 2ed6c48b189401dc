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
            if ev["object"].spec.replicas == 1:
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_until(lambda: kube.watchers("deployments") == 1, what="the watch to open")
    kubectl(kubeconfig, "scale", "deployment/euystacio-api", "--replicas=5", check=True)
    scale = apps.patch_namespaced_deployment_scale("euystacio-api", NS, {"spec": {"replicas": 1}})
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 1)
    assert scale.status.selector == "app=euystacio-api"
    thread.join(20)
    changes = [replicas for i, (_, replicas) in enumerate(seen) if i == 0 or seen[i - 1][1] != replicas]
    assert {kind for kind, _ in seen} == {"MODIFIED"}
    assert changes[-2:] == [5, 1]  # (the controller's status updates come in between)
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


# -- rollout --------------------------------------------------------------------------------
def _rs_revisions(kubeconfig) -> dict[str, str]:
    got = kubectl(
        kubeconfig, "get", "rs", "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.annotations.deployment\\.kubernetes\\.io/revision} {end}",
        check=True,
    )
    return dict(pair.split("=") for pair in got.stdout.split())


def test_rollout_status_converges_after_a_scale(kube, kubeconfig):
    kube.create(_deployment("euystacio-api", replicas=2))
    first = kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s")
    assert first.returncode == 0, first.stderr
    assert 'deployment "euystacio-api" successfully rolled out' in first.stdout
    kubectl(kubeconfig, "scale", "deployment/euystacio-api", "--replicas=4", check=True)
    again = kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s")
    assert again.returncode == 0, again.stderr
    dep = kube.get("deployment", "euystacio-api", NS)
    assert dep["status"]["readyReplicas"] == 4 and dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    pods = kube.list("pods", NS, "app=euystacio-api")
    assert len(pods) == 4
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == {"ReplicaSet"}


def test_rollout_undo_and_history(kube, kubeconfig):
    kube.create(_deployment("euystacio-api", image="euystacio/api:1.4.2"))
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    kubectl(kubeconfig, "set", "image", "deployment/euystacio-api", "euystacio-api=euystacio/api:1.5.0", check=True)
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    history = kubectl(kubeconfig, "rollout", "history", "deployment/euystacio-api", check=True)
    assert [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()] == ["1", "2"]
    revisions = _rs_revisions(kubeconfig)
    assert sorted(revisions.values()) == ["1", "2"]
    undo = kubectl(kubeconfig, "rollout", "undo", "deployment/euystacio-api")
    assert undo.returncode == 0 and "rolled back" in undo.stdout, undo.stderr
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    image = kubectl(kubeconfig, "get", "deployment", "euystacio-api", "-o", "jsonpath={.spec.template.spec.containers[0].image}", check=True)
    assert image.stdout == "euystacio/api:1.4.2"
    after = _rs_revisions(kubeconfig)
    assert set(after) == set(revisions)  # the old ReplicaSet came back, with the next revision
    assert sorted(after.values()) == ["2", "3"]
    history = kubectl(kubeconfig, "rollout", "history", "deployment/euystacio-api", "--revision=3", check=True)
    assert "euystacio/api:1.4.2" in history.stdout
    pods = kube.list("pods", NS, "app=euystacio-api")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"euystacio/api:1.4.2"}


def test_rollout_restart_replaces_the_pods(kube, kubeconfig):
    kube.create(_deployment("euystacio-api", replicas=2))
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    before = {p["metadata"]["name"] for p in kube.list("pods", NS)}
    kubectl(kubeconfig, "rollout", "restart", "deployment/euystacio-api", check=True)
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    kube.settle()
    after = {p["metadata"]["name"] for p in kube.list("pods", NS)}
    assert len(after) == 2 and not (before & after)


def test_a_deleted_pod_is_replaced_and_a_deleted_deployment_takes_its_pods(kube, kubeconfig):
    kube.create(_deployment("euystacio-api", replicas=2))
    kube.settle()
    victim = kube.list("pods", NS)[0]["metadata"]["name"]
    kubectl(kubeconfig, "delete", "pod", victim, check=True)
    kube.settle()
    names = {p["metadata"]["name"] for p in kube.list("pods", NS)}
    assert len(names) == 2 and victim not in names
    kubectl(kubeconfig, "delete", "deployment", "euystacio-api", check=True)
    wait_until(lambda: not kube.list("pods", NS) and not kube.list("rs", NS), what="garbage collection")


# -- logs -----------------------------------------------------------------------------------
def _running_pod(kube: KubeDouble, name: str = "web") -> str:
    kube.create(_pod(name))
    kube.set_pod_status(name, NS, phase="Running", ready=True)
    return name


def test_logs_tail_timestamps_since_and_previous(kube, kubeconfig):
    import datetime
    import re

    pod = _running_pod(kube)
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    kube.append_log(pod, ["old line"], NS, at=old)
    kube.append_log(pod, [f"line {i}" for i in range(5)], NS)
    tail = kubectl(kubeconfig, "logs", pod, "--tail=2", check=True)
    assert tail.stdout == "line 3\nline 4\n"
    stamped = kubectl(kubeconfig, "logs", pod, "--tail=1", "--timestamps", check=True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z line 4\n", stamped.stdout)
    recent = kubectl(kubeconfig, "logs", pod, "--since=1h", check=True)
    assert recent.stdout.splitlines() == [f"line {i}" for i in range(5)]
    since_time = kubectl(kubeconfig, "logs", pod, f"--since-time={old.strftime('%Y-%m-%dT%H:%M:%SZ')}", check=True)
    assert since_time.stdout.splitlines()[0] == "old line"
    none = kubectl(kubeconfig, "logs", pod, "--previous")
    assert none.returncode == 1
    assert f'previous terminated container "main" in pod "{pod}" not found' in none.stderr
    restarted = kube.restart_container(pod, NS, reason="Error", exit_code=2, waiting="CrashLoopBackOff")
    status = restarted["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    previous = kubectl(kubeconfig, "logs", pod, "--previous", "--tail=1", check=True)
    assert previous.stdout == "line 4\n"
    assert kubectl(kubeconfig, "logs", pod, check=True).stdout == ""


def test_logs_follow_streams_new_lines_until_the_container_restarts(kube, kubeconfig, tmp_path):
    import subprocess

    pod = _running_pod(kube)
    kube.append_log(pod, ["before"], NS)
    path = f"/api/v1/namespaces/{NS}/pods/{pod}/log"
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kube-cache"), "logs", "-f", pod],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: kube.requests(path) == 1, timeout=20, what="kubectl to follow the log")
        kube.append_log(pod, ["after 1", "after 2"], NS)
        kube.restart_container(pod, NS)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait(10)
    assert out.splitlines() == ["before", "after 1", "after 2"], err


def test_logs_of_a_multi_container_pod_need_a_container(kube, kubeconfig):
    pod = _pod("two")
    pod["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    kube.create(pod)
    kube.append_log("two", "from sidecar", NS, container="sidecar")
    missing = kubectl(kubeconfig, "logs", "two", "-c", "nope")
    assert "container nope is not valid for pod two" in missing.stderr
    assert kubectl(kubeconfig, "logs", "two", "-c", "sidecar", check=True).stdout == "from sidecar\n"


def test_ticking_logs(kube, kubeconfig):
    pod = _running_pod(kube)
    stop = kube.tick_logs(pod, lambda n: f"tick {n}", NS, interval=0.05)
    core, _ = _client(kubeconfig)
    wait_until(lambda: core.read_namespaced_pod_log(pod, NS).count("tick") >= 3, what="ticks")
    stop()
    assert core.read_namespaced_pod_log(pod, NS).splitlines()[:3] == ["tick 0", "tick 1", "tick 2"]


# -- exec -----------------------------------------------------------------------------------
def test_kubectl_exec_returns_the_exit_code_and_stderr(kube, kubeconfig):
    pod = _running_pod(kube)
    result = kubectl(kubeconfig, "exec", pod, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == "hi\n"
    assert "oops" in result.stderr
    ok = kubectl(kubeconfig, "exec", pod, "--", "sh", "-c", "pwd")
    assert ok.returncode == 0 and "kubedouble-exec-" in ok.stdout
    missing = kubectl(kubeconfig, "exec", pod, "--", "no-such-command-here")
    assert missing.returncode != 0 and "executable file not found" in missing.stderr


def test_python_client_exec(kube, kubeconfig):
    from kubernetes.stream import stream

    pod = _running_pod(kube)
    core, _ = _client(kubeconfig)
    out = stream(core.connect_get_namespaced_pod_exec, pod, NS, command=["sh", "-c", "echo py"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "py\n"
    ws = stream(
        core.connect_get_namespaced_pod_exec, pod, NS, command=["sh", "-c", "echo a; echo b >&2; exit 7"],
        stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False,
    )
    ws.run_forever(timeout=20)
    assert (ws.returncode, ws.read_stdout(), ws.read_stderr()) == (7, "a\n", "b\n")


def _group_alive(pgid: int) -> bool:
    from pathlib import Path

    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_closing_the_exec_websocket_kills_the_process_group(kube, kubeconfig):
    from kubernetes.stream import stream

    pod = _running_pod(kube)
    core, _ = _client(kubeconfig)
    ws = stream(
        core.connect_get_namespaced_pod_exec, pod, NS, command=["sh", "-c", "sleep 300 & sleep 301; wait"],
        stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False,
    )
    procs = wait_until(lambda: list(kube.emulator.exec_processes), what="the exec process")
    pgid = procs[0].pid
    wait_until(lambda: _group_alive(pgid), what="the process group")
    ws.close()
    wait_until(lambda: not kube.emulator.exec_processes, what="the exec to end")
    wait_until(lambda: not _group_alive(pgid), what="the process group to die")


# -- events, metrics, the seed --------------------------------------------------------------
def test_the_salvage_seed_as_kubectl_sees_it(salvage, kubeconfig):
    seeded = salvage.seeded
    ready = kubectl(kubeconfig, "get", "deployment", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.readyReplicas}/{.spec.replicas} {end}", check=True)
    assert dict(p.split("=") for p in ready.stdout.split()) == {
        "euystacio-api": "2/3", "euystacio-worker": "/1", "opa-peace-bonds": "2/2",
    }
    crashing = kubectl(kubeconfig, "get", "pod", seeded["crashing"], "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.reason}", check=True)
    assert crashing.stdout == "CrashLoopBackOff 4 Error"
    pending = kubectl(kubeconfig, "get", "pod", seeded["pending"], "-o", "jsonpath={.status.phase} {.status.conditions[0].reason} {.status.conditions[0].message}", check=True)
    assert pending.stdout == "Pending Unschedulable 0/3 nodes are available: 3 Insufficient cpu."
    history = kubectl(kubeconfig, "rollout", "history", "deployment/euystacio-api", check=True)
    assert "1.4.2" in history.stdout and "1.5.0" in history.stdout
    job = kubectl(kubeconfig, "get", "job", "backup-nightly", "-o", "jsonpath={.status.succeeded}", check=True)
    assert job.stdout == "1"
    sts = kubectl(kubeconfig, "rollout", "status", "statefulset/euystacio-db", "--timeout=10s")
    assert sts.returncode == 0, sts.stderr
    deny = kubectl(kubeconfig, "logs", "deployment/opa-peace-bonds", "--tail=50", check=True)
    assert sum("deny" in line for line in deny.stdout.splitlines()) >= 5
    prev = kubectl(kubeconfig, "logs", seeded["crashing"], "--previous", "--tail=1", check=True)
    assert "IntegrityError" in prev.stdout
    assert kubectl(kubeconfig, "get", "pods", "-n", "monitoring", "-l", "app=prometheus", "-o", "name", check=True).stdout.startswith("pod/prometheus-")


def test_kubectl_top_pods_and_nodes(salvage, kubeconfig):
    pods = kubectl(kubeconfig, "top", "pods", "-n", NS, check=True)
    rows = {line.split()[0]: line.split()[1:] for line in pods.stdout.splitlines()[1:]}
    api = salvage.seeded["api_pods"][1]
    assert rows[api] == ["250m", "120Mi"]
    assert rows[salvage.seeded["crashing"]] == ["5m", "31Mi"]
    nodes = kubectl(kubeconfig, "top", "nodes", check=True)
    assert [line.split()[0] for line in nodes.stdout.splitlines()[1:]] == ["node-1", "node-2", "node-3"]
    assert "1210m" in nodes.stdout


def test_events_warning_and_normal(salvage, kubeconfig):
    warnings = kubectl(kubeconfig, "get", "events", "--field-selector", "type=Warning", "-o", "jsonpath={range .items[*]}{.reason}:{.involvedObject.name}:{.count} {end}", check=True)
    found = set(warnings.stdout.split())
    assert f"BackOff:{salvage.seeded['crashing']}:4" in found
    assert f"FailedScheduling:{salvage.seeded['pending']}:1" in found
    normal = kubectl(kubeconfig, "events", "--for", f"pod/{salvage.seeded['api_pods'][1]}", check=True)
    for reason in ("Scheduled", "Pulled", "Started"):
        assert reason in normal.stdout


def test_the_seeded_api_logs_tick(salvage):
    pod = salvage.seeded["api_pods"][1]
    path = ("euystacio-ai", pod, "api")
    count = salvage.call(lambda: len(salvage.emulator.logbook.logs[path].current))
    wait_until(lambda: salvage.call(lambda: len(salvage.emulator.logbook.logs[path].current)) > count, timeout=10, what="a new line")


# -- the runbook's services and the command line ----------------------------------------------
def test_services_double():
    from tests.kubedouble.services import ServicesDouble

    services = ServicesDouble().start()
    try:
        def get(url: str) -> dict:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return json.loads(resp.read())

        metrics = get(services.api_url + "/api/metrics/thresholds")["metrics"]
        assert set(metrics) == {"qek", "h_var", "ethisches_ideal", "symbiosis_score"}
        assert metrics["qek"] >= 0.85
        alerts = get(services.prometheus_url + "/api/v1/alerts")
        assert alerts["status"] == "success"
        assert sorted(a["state"] for a in alerts["data"]["alerts"]) == ["firing", "pending"]
        urllib.request.urlopen(urllib.request.Request(services.api_url + "/fault/qek", method="POST"), timeout=10).read()
        assert get(services.api_url + "/api/metrics/thresholds")["metrics"]["qek"] < 0.85
        firing = [a for a in get(services.prometheus_url + "/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == "QEKBelowThreshold"]
        assert firing and firing[0]["state"] == "firing" and firing[0]["annotations"]["summary"].startswith("QEK below minimum threshold: 0.8")
        assert get(services.api_url + "/health")["status"] == "degraded"
        assert len(get(services.api_url + "/api/metrics/risk/events?limit=7")["events"]) == 7
        assert get(services.api_url + "/api/metrics/qek/details")["status"] == "below_threshold"
        query = get(services.prometheus_url + "/api/v1/query?query=rate(http_requests_total%5B5m%5D)")
        assert query["data"]["resultType"] == "vector" and query["data"]["result"]
    finally:
        services.stop()


def test_python_m_kubedouble_prints_the_exports(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.kubedouble", "--seed", "meta-salvage", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert [line.split("=")[0] for line in lines] == ["export KUBECONFIG", "export METASALVAGE_API", "export PROMETHEUS_URL"], proc.stderr.read() if proc.poll() is not None else lines
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        contexts = kubectl(env["KUBECONFIG"], "config", "get-contexts", "-o", "name", check=True)
        assert contexts.stdout.split() == ["salvage-eu", "salvage-us"]
        pods = kubectl(env["KUBECONFIG"], "get", "pods", "-n", NS, "-l", "app=euystacio-api", "-o", "name", check=True)
        assert len(pods.stdout.split()) == 3
        us = kubectl(env["KUBECONFIG"], "--context", "salvage-us", "get", "deploy", "-o", "jsonpath={.items[*].status.readyReplicas}", check=True)
        assert us.stdout.split() == ["2", "2"]
        with urllib.request.urlopen(env["METASALVAGE_API"] + "/health", timeout=10) as resp:
            assert json.loads(resp.read())["status"] == "healthy"
        with urllib.request.urlopen(env["PROMETHEUS_URL"] + "/api/v1/alerts", timeout=10) as resp:
            assert json.loads(resp.read())["status"] == "success"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(20) == 0
        finally:
            proc.kill()
            proc.communicate(timeout=10)


def test_kubectl_human_output_uses_server_side_tables(salvage, kubeconfig):
    pods = kubectl(kubeconfig, "get", "pods", check=True)
    lines = pods.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    crashing = rows[salvage.seeded["crashing"]]
    assert crashing[1:4] == ["0/1", "CrashLoopBackOff", "4"]
    assert rows[salvage.seeded["pending"]][2] == "Pending"
    assert rows[salvage.seeded["job_pod"]][2] == "Completed"
    deploy = kubectl(kubeconfig, "get", "deployment", "euystacio-api", check=True)
    assert deploy.stdout.splitlines()[1].split()[:4] == ["euystacio-api", "2/3", "3", "2"]


def test_kube_fleet_fixture(kube_fleet):
    from kubernetes import client, config

    names = {}
    for ctx in ("salvage-eu", "salvage-us"):
        api = config.new_client_from_config(str(kube_fleet.kubeconfig), context=ctx)
        names[ctx] = sorted(d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment(NS).items)
    assert names == {
        "salvage-eu": ["euystacio-api", "euystacio-worker", "opa-peace-bonds"],
        "salvage-us": ["euystacio-api", "opa-peace-bonds"],
    }
    down = kubectl(kube_fleet.kubeconfig, "--context", "salvage-down", "get", "pods", "--request-timeout=5s")
    assert down.returncode == 1 and "connection refused" in down.stderr


def test_metrics_and_events_helpers(kube, kubeconfig):
    from tests.kubedouble.objects import node

    pod = _running_pod(kube)
    kube.create(node("node-1"))
    kube.set_pod_metrics(pod, NS, cpu="750m", memory="300Mi")
    kube.set_node_metrics("node-1", cpu="2", memory="8Gi")
    top = kubectl(kubeconfig, "top", "pod", pod, check=True)
    assert top.stdout.splitlines()[1].split() == [pod, "750m", "300Mi"]
    assert kubectl(kubeconfig, "top", "nodes", check=True).stdout.splitlines()[1].split()[:2] == ["node-1", "2000m"]
    kube.add_event("pod", pod, "OOMKilling", "Memory cgroup out of memory", NS, type="Warning")
    events = kubectl(kubeconfig, "get", "events", "-o", "jsonpath={range .items[*]}{.type}/{.reason}/{.involvedObject.name}{end}", check=True)
    assert events.stdout == f"Warning/OOMKilling/{pod}"


def test_kubectl_exec_with_stdin(kube, kubeconfig, tmp_path):
    import subprocess

    pod = _running_pod(kube)
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kube-cache"),
         "exec", "-i", pod, "--", "sh", "-c", "tr a-z A-Z; exit 4"],
        input="hello stdin\n", capture_output=True, text=True, timeout=30,
    )
    assert (result.returncode, result.stdout) == (4, "HELLO STDIN\n"), result.stderr


def test_daemonset_rollout_and_a_paused_deployment(kube, kubeconfig):
    from tests.kubedouble.objects import node

    for i in (1, 2):
        kube.create(node(f"node-{i}"))
    labels = {"app": "agent"}
    kube.create({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": NS, "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}},
    })
    status = kubectl(kubeconfig, "rollout", "status", "daemonset/agent", "--timeout=30s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status.stderr
    assert sorted(p["spec"]["nodeName"] for p in kube.list("pods", NS, "app=agent")) == ["node-1", "node-2"]
    kube.create(_deployment("euystacio-api", replicas=1))
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    kubectl(kubeconfig, "rollout", "pause", "deployment/euystacio-api", check=True)
    kubectl(kubeconfig, "set", "image", "deployment/euystacio-api", "euystacio-api=euystacio/api:9", check=True)
    kube.settle()
    assert {p["spec"]["containers"][0]["image"] for p in kube.list("pods", NS, "app=euystacio-api")} == {"euystacio/api:1.4.2"}
    kubectl(kubeconfig, "rollout", "resume", "deployment/euystacio-api", check=True)
    kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=30s", check=True)
    kube.settle()
    assert {p["spec"]["containers"][0]["image"] for p in kube.list("pods", NS, "app=euystacio-api")} == {"euystacio/api:9"}


def test_rollout_status_times_out_on_the_crashing_deployment(salvage, kubeconfig):
    result = kubectl(kubeconfig, "rollout", "status", "deployment/euystacio-api", "--timeout=2s")
    assert result.returncode == 1
    assert "2 of 3 updated replicas are available" in result.stdout
    assert "timed out" in result.stderr


def test_kubectl_create_generators_and_namespace_deletion(kube, kubeconfig):
    kubectl(kubeconfig, "create", "namespace", "scratch", check=True)
    kubectl(kubeconfig, "create", "configmap", "red-code", "--from-literal=a=b", "-n", "scratch", check=True)
    kubectl(kubeconfig, "create", "secret", "generic", "s1", "--from-literal=pw=hunter2", "-n", "scratch", check=True)
    assert kube.get("configmap", "red-code", "scratch")["data"] == {"a": "b"}
    assert kube.get("secret", "s1", "scratch")["data"] == {"pw": "aHVudGVyMg=="}
    refused = kubectl(kubeconfig, "create", "deployment", "x", "--image=nginx", "-n", "scratch")
    assert refused.returncode == 1 and "cannot read this protobuf body" in refused.stderr
    kubectl(kubeconfig, "delete", "namespace", "scratch", check=True)
    assert kube.get("configmap", "red-code", "scratch") is None
