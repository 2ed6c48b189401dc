"""Seeds: a started double made to look like the cluster of the meta-salvage runbook.

``seed_meta_salvage(double)`` (context salvage-eu): namespace euystacio-ai with
deployment euystacio-api (3 replicas, two revisions 1.4.2 → 1.5.0, one pod in
CrashLoopBackOff so it is 2/3 ready), opa-peace-bonds (2 replicas, "deny" decisions in its
logs), euystacio-worker (its pod Pending: Unschedulable, insufficient cpu), statefulset
euystacio-db, job backup-nightly (succeeded), services, an HPA, events, pod and node
metrics, logs ticking every second in the api pods; namespace monitoring with prometheus
and grafana. ``seed_salvage_us(double)``: a smaller healthy cluster (context salvage-us).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from tests.kubedouble.double import KubeDouble
from tests.kubedouble.objects import make_event, node, node_metrics, owner_ref, pod_metrics
from tests.kubedouble.rollout import UNSCHEDULABLE
from tests.kubedouble.store import now_rfc3339

NS = "euystacio-ai"
MONITORING = "monitoring"
API_OLD, API_NEW = "euystacio/api:1.4.2", "euystacio/api:1.5.0"
INSUFFICIENT_CPU = "0/3 nodes are available: 3 Insufficient cpu."


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def deployment(
    name: str,
    ns: str,
    image: str,
    replicas: int,
    *,
    container: str | None = None,
    port: int | None = None,
    annotations: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment with label ``app=NAME`` and one container."""
    labels = {"app": name}
    spec: dict[str, Any] = {"name": container or name, "image": image}
    if port:
        spec["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    if requests:
        spec["resources"] = {"requests": dict(requests)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": dict(labels), **({"annotations": annotations} if annotations else {})},
                "spec": {"containers": [spec], "restartPolicy": "Always"},
            },
        },
    }


def service(name: str, ns: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": f"10.43.{sum(name.encode()) % 250}.{port % 250}",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


# -- log lines ----------------------------------------------------------------------------
def api_line(n: int) -> str:
    """A line of euystacio-api: access logs, kernel metrics, now and then an ERROR."""
    rng = random.Random(n)
    if n % 12 == 11:
        return "ERROR euystacio.kernel: red_code.json integrity check failed: sha256 mismatch (retrying in 5s)"
    if n % 7 == 3:
        qek = 0.9 + rng.uniform(-0.02, 0.02)
        return f"INFO  euystacio.kernel: qek={qek:.3f} h_var={0.05 + rng.uniform(-0.01, 0.01):.3f} symbiosis_score=0.72"
    if n % 17 == 5:
        return "WARN  euystacio.kernel: h_var drift detected over the last 5m window"
    path = rng.choice(["/api/metrics/thresholds", "/health", "/api/metrics/qek/details", "/api/metrics/risk/events?limit=50"])
    return f'INFO  uvicorn.access: 10.42.0.{rng.randint(2, 250)}:{rng.randint(30000, 60000)} - "GET {path} HTTP/1.1" 200'


CRASH_LINES = [
    "INFO  euystacio.api: starting euystacio-api 1.5.0 (workers=2)",
    "INFO  euystacio.kernel: loading red_code.json",
    "ERROR euystacio.kernel: red_code.json signature mismatch: expected 9f3c...e1, got 04ab...7d",
    "Traceback (most recent call last):",
    '  File "/app/euystacio/kernel.py", line 88, in load_red_code',
    "    raise IntegrityError(\"red_code.json signature mismatch\")",
    "euystacio.kernel.IntegrityError: red_code.json signature mismatch",
]


def opa_line(n: int) -> str:
    """A decision log line of OPA; every third one is a deny."""
    rng = random.Random(1000 + n)
    provider = f"prov-{rng.randint(1, 40):02d}"
    if n % 3 == 2:
        score = 0.85 if n % 6 == 5 else round(rng.uniform(0.71, 0.95), 2)
        return (
            f'{{"level":"info","msg":"Decision Log","path":"peace_bonds/allow","result":false,'
            f'"input":{{"provider":"{provider}","risk_score":{score}}},'
            f'"reason":"deny: high risk provider risk_score={score} > 0.70"}}'
        )
    score = round(rng.uniform(0.05, 0.6), 2)
    return (
        f'{{"level":"info","msg":"Decision Log","path":"peace_bonds/allow","result":true,'
        f'"input":{{"provider":"{provider}","risk_score":{score}}}}}'
    )


def prometheus_line(n: int) -> str:
    return f'ts=now caller=compact.go:{500 + n % 80} level=info component=tsdb msg="write block" mint={n} maxt={n + 1}'


# -- seeding ------------------------------------------------------------------------------
def _pods(double: KubeDouble, ns: str, app: str) -> list[dict[str, Any]]:
    return double.list("pods", ns, f"app={app}")


def seed_meta_salvage(double: KubeDouble, *, tick: float = 1.0, crash_every: float = 30.0) -> dict[str, Any]:
    """Seed a STARTED double like the runbook's cluster; returns names tests may need.

    ``tick``: seconds between log lines of the api pods (0 = no ticking);
    ``crash_every``: seconds between two crashes of the crash-looping pod (0 = never).
    """
    step = double.rollout_step
    double.rollout_step = 0.02
    try:
        for i in (1, 2, 3):
            double.apply(node(f"node-{i}", cpu="4", memory="16Gi"))
            double.apply(node_metrics(f"node-{i}", cpu=f"{[1210, 870, 1530][i - 1]}m", memory=f"{[6144, 5120, 7168][i - 1]}Mi"))
        for ns in ("default", "kube-system", NS, MONITORING):
            double.apply(namespace(ns))
        api = deployment("euystacio-api", NS, API_OLD, 3, container="api", port=8000)
        api["metadata"]["annotations"] = {"kubernetes.io/change-cause": "deploy euystacio-api 1.4.2"}
        double.apply(api)
        double.apply(deployment("opa-peace-bonds", NS, "openpolicyagent/opa:0.68.0", 2, container="opa", port=8181))
        double.apply(
            deployment(
                "euystacio-worker", NS, "euystacio/worker:1.5.0", 1, container="worker",
                annotations={UNSCHEDULABLE: INSUFFICIENT_CPU}, requests={"cpu": "6", "memory": "2Gi"},
            )
        )
        double.apply(statefulset("euystacio-db", NS, "postgres:16.4", 1))
        double.apply(deployment("prometheus", MONITORING, "prom/prometheus:v2.53.0", 1, container="prometheus", port=9090))
        double.apply(deployment("grafana", MONITORING, "grafana/grafana:11.1.0", 1, container="grafana", port=3000))
        for name, port in (("euystacio-api", 8000), ("opa-peace-bonds", 8181), ("euystacio-db", 5432)):
            double.apply(service(name, NS, port))
        double.apply(service("prometheus", MONITORING, 9090))
        double.apply(hpa())
        double.settle()
        double.patch(
            "deployment", "euystacio-api",
            {
                "metadata": {"annotations": {"kubernetes.io/change-cause": "deploy euystacio-api 1.5.0"}},
                "spec": {"template": {"spec": {"containers": [{"name": "api", "image": API_NEW}]}}},
            },
            NS,
        )
        double.settle()
        job_pod = _job(double)
        api_pods = sorted(p["metadata"]["name"] for p in _pods(double, NS, "euystacio-api"))
        crashing = api_pods[0]
        _crash(double, crashing, restarts=4)
        _metrics(double, crashing)
        double.settle()
    finally:
        double.rollout_step = step
    for pod in api_pods[1:]:
        double.append_log(pod, [api_line(n) for n in range(40)], NS)
    opa_pods = sorted(p["metadata"]["name"] for p in _pods(double, NS, "opa-peace-bonds"))
    for pod in opa_pods:
        double.append_log(pod, [opa_line(n) for n in range(60)], NS)
    for pod in _pods(double, MONITORING, "prometheus"):
        double.append_log(pod["metadata"]["name"], [prometheus_line(n) for n in range(20)], MONITORING)
    db = double.list("pods", NS, "app=euystacio-db")[0]["metadata"]["name"]
    double.append_log(db, ["LOG:  database system is ready to accept connections", "LOG:  checkpoint complete"], NS)
    stoppers = []
    if tick > 0:
        for pod in api_pods[1:]:
            stoppers.append(double.tick_logs(pod, _counter_lines(api_line, 40), NS, interval=tick))
        for pod in opa_pods:
            stoppers.append(double.tick_logs(pod, _counter_lines(opa_line, 60), NS, interval=tick * 2))
    if crash_every > 0:
        stoppers.append(crash_loop(double, crashing, NS, every=crash_every))
    return {
        "api_pods": api_pods,
        "crashing": crashing,
        "opa_pods": opa_pods,
        "db_pod": db,
        "job_pod": job_pod,
        "pending": _pods(double, NS, "euystacio-worker")[0]["metadata"]["name"],
        "stop_ticking": lambda: [stop() for stop in stoppers],
    }


def _counter_lines(make: Any, start: int) -> Any:
    counter = itertools.count(start)
    return lambda _n: make(next(counter))


def statefulset(name: str, ns: str, image: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": dict(labels)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "postgres", "image": image, "ports": [{"containerPort": 5432}]}]},
            },
        },
    }


def hpa() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "euystacio-api-hpa", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "euystacio-api"},
            "minReplicas": 3,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
        "status": {"currentReplicas": 3, "desiredReplicas": 3},
    }


def _job(double: KubeDouble) -> str:
    """backup-nightly: a Job that succeeded, with its completed pod and logs."""
    started = now_rfc3339()
    job = double.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "backup-nightly", "namespace": NS, "labels": {"app": "backup-nightly"}},
            "spec": {
                "completions": 1,
                "parallelism": 1,
                "backoffLimit": 3,
                "selector": {"matchLabels": {"job-name": "backup-nightly"}},
                "template": {
                    "metadata": {"labels": {"job-name": "backup-nightly"}},
                    "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "backup", "image": "euystacio/backup:2.1.0"}]},
                },
            },
            "status": {
                "succeeded": 1,
                "active": 0,
                "startTime": started,
                "completionTime": started,
                "conditions": [
                    {"type": "Complete", "status": "True", "lastProbeTime": started, "lastTransitionTime": started},
                    {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": started, "lastTransitionTime": started},
                ],
            },
        }
    )
    name = "backup-nightly-k8x2q"
    pod = double.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {"job-name": "backup-nightly", "batch.kubernetes.io/job-name": "backup-nightly"},
                "ownerReferences": [owner_ref(job)],
            },
            "spec": {"nodeName": "node-2", "restartPolicy": "OnFailure", "containers": [{"name": "backup", "image": "euystacio/backup:2.1.0"}]},
            "status": {
                "phase": "Succeeded",
                "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
                "containerStatuses": [
                    {
                        "name": "backup", "image": "euystacio/backup:2.1.0", "imageID": "", "ready": False,
                        "started": False, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}},
                    }
                ],
            },
        }
    )
    double.append_log(name, ["pg_dump: dumping euystacio (14 tables)", "uploading backup-euystacio.sql.gz (182 MiB)", "backup complete"], NS)
    double.apply(make_event(pod, "Completed", "Job completed", component="job-controller") | {"involvedObject": {"kind": "Job", "namespace": NS, "name": "backup-nightly", "uid": job["metadata"]["uid"], "apiVersion": "batch/v1"}})
    return name


def _crash(double: KubeDouble, pod: str, restarts: int) -> None:
    """Make ``pod`` crash ``restarts`` times: CrashLoopBackOff, its lines in --previous."""
    for _ in range(restarts):
        double.append_log(pod, CRASH_LINES, NS)
        double.restart_container(pod, NS, reason="Error", exit_code=1, waiting="CrashLoopBackOff")
    obj = double.get("pod", pod, NS)
    assert obj is not None
    double.apply(
        make_event(
            obj, "BackOff", f"Back-off restarting failed container api in pod {pod}_{NS}({obj['metadata']['uid']})",
            type="Warning", count=restarts,
        )
        | {"metadata": {"name": f"{pod}.backoff", "namespace": NS}}
    )


def crash_loop(double: KubeDouble, pod: str, ns: str = NS, every: float = 30.0) -> Any:
    """Crash ``pod`` again every ``every`` seconds (restartCount climbs); returns a stopper."""
    def line(n: int) -> list[str]:
        obj = double.emulator.store.get(("", "v1", "pods"), ns, pod)
        if obj is None or n == 0:
            return []
        from tests.kubedouble.logs import restart_container

        double.emulator.logbook.append(ns, pod, "api", CRASH_LINES)
        restarted = restart_container(double.emulator, ns, pod, "api", waiting="CrashLoopBackOff")
        key = (("", "v1", "events"), ns, f"{pod}.backoff")
        event = double.emulator.store.get(*key)
        if event is not None:
            import copy

            new = copy.deepcopy(event)
            new["count"] = int(restarted["status"]["containerStatuses"][0]["restartCount"])
            new["lastTimestamp"] = now_rfc3339()
            double.emulator.store.replace(key[0], ns, key[2], new)
        return []

    return double.tick_logs(pod, line, ns, interval=every)


def _metrics(double: KubeDouble, crashing: str) -> None:
    usage = {"opa-peace-bonds": ("40m", "64Mi"), "euystacio-db": ("120m", "512Mi"), "prometheus": ("310m", "1200Mi"), "grafana": ("25m", "180Mi")}
    for ns in (NS, MONITORING):
        for pod in double.list("pods", ns):
            if pod.get("status", {}).get("phase") != "Running":
                double.call(double.emulator.store.objects.pop, (("metrics.k8s.io", "v1beta1", "pods"), ns, pod["metadata"]["name"]), None)
                continue
            app = pod["metadata"].get("labels", {}).get("app", "")
            cpu, memory = usage.get(app, ("250m", "120Mi"))
            if pod["metadata"]["name"] == crashing:
                cpu, memory = "5m", "31Mi"
            double.apply(pod_metrics(pod, cpu, memory))


def seed_salvage_us(double: KubeDouble) -> None:
    """The smaller healthy cluster of context salvage-us."""
    step = double.rollout_step
    double.rollout_step = 0.02
    try:
        for i in (1, 2):
            double.apply(node(f"us-node-{i}", cpu="4", memory="16Gi"))
            double.apply(node_metrics(f"us-node-{i}", cpu="640m", memory="4096Mi"))
        for ns in ("default", NS):
            double.apply(namespace(ns))
        double.apply(deployment("euystacio-api", NS, API_NEW, 2, container="api", port=8000))
        double.apply(deployment("opa-peace-bonds", NS, "openpolicyagent/opa:0.68.0", 2, container="opa", port=8181))
        double.settle()
    finally:
        double.rollout_step = step
    for pod in double.list("pods", NS):
        double.append_log(pod["metadata"]["name"], [api_line(n) if "api" in pod["metadata"]["name"] else opa_line(n) for n in range(20)], NS)
