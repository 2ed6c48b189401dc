"""Server-side ``meta.k8s.io/v1 Table`` output, so ``kubectl get`` prints familiar columns.

kubectl asks for a Table in its Accept header (``as=Table``) for human output; the
columns here follow kubectl's printers for the common kinds (NAME READY STATUS RESTARTS AGE
for pods...). Anything else gets NAME and AGE.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from tests.kubedouble.store import ResKey
from tests.kubedouble.timing import parse_time

Row = Callable[[dict[str, Any]], list[Any]]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // (24 * 365)}y"


def age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    try:
        when = parse_time(stamp)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.UTC) - when).total_seconds())


def _meta_age(obj: dict[str, Any]) -> str:
    return age(obj["metadata"].get("creationTimestamp"))


def _containers(obj: dict[str, Any]) -> tuple[str, str]:
    cs = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return ",".join(c["name"] for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(obj: dict[str, Any]) -> str:
    labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS column of ``kubectl get pods`` (kubectl's printPod, simplified)."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            reason = f"ExitCode:{state['terminated'].get('exitCode', 0)}"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod(pod: dict[str, Any]) -> list[Any]:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers", []))
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    last = max(
        (c.get("lastState", {}).get("terminated", {}).get("finishedAt") or "" for c in statuses),
        default="",
    )
    restart_text = f"{restarts} ({age(last)} ago)" if restarts and last else str(restarts)
    return [
        pod["metadata"]["name"], f"{ready}/{total}", pod_status(pod), restart_text, _meta_age(pod),
        pod.get("status", {}).get("podIP") or "<none>", pod.get("spec", {}).get("nodeName") or "<none>",
        "<none>", "<none>",
    ]


def _deployment(dep: dict[str, Any]) -> list[Any]:
    st = dep.get("status", {})
    names, images = _containers(dep)
    return [
        dep["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{dep.get('spec', {}).get('replicas', 1)}",
        st.get("updatedReplicas", 0), st.get("availableReplicas", 0), _meta_age(dep), names, images, _selector(dep),
    ]


def _replicaset(rs: dict[str, Any]) -> list[Any]:
    st = rs.get("status", {})
    names, images = _containers(rs)
    return [
        rs["metadata"]["name"], rs.get("spec", {}).get("replicas", 0), st.get("replicas", 0),
        st.get("readyReplicas", 0), _meta_age(rs), names, images, _selector(rs),
    ]


def _statefulset(sts: dict[str, Any]) -> list[Any]:
    names, images = _containers(sts)
    st = sts.get("status", {})
    return [sts["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{sts.get('spec', {}).get('replicas', 1)}", _meta_age(sts), names, images]


def _job(job: dict[str, Any]) -> list[Any]:
    st = job.get("status", {})
    conditions = {c["type"]: c.get("status") for c in st.get("conditions") or []}
    state = "Complete" if conditions.get("Complete") == "True" else "Failed" if conditions.get("Failed") == "True" else "Running"
    duration = "<unknown>"
    if st.get("startTime") and st.get("completionTime"):
        duration = human_duration((parse_time(st["completionTime"]) - parse_time(st["startTime"])).total_seconds())
    completions = job.get("spec", {}).get("completions", 1)
    return [job["metadata"]["name"], state, f"{st.get('succeeded', 0)}/{completions}", duration, _meta_age(job)]


def _service(svc: dict[str, Any]) -> list[Any]:
    spec = svc.get("spec", {})
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", [])) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [svc["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), "<none>", ports, _meta_age(svc), selector]


def _node(node: dict[str, Any]) -> list[Any]:
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in node.get("status", {}).get("conditions", []))
    version = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
    return [node["metadata"]["name"], "Ready" if ready else "NotReady", "<none>", _meta_age(node), version]


def _namespace(ns: dict[str, Any]) -> list[Any]:
    return [ns["metadata"]["name"], ns.get("status", {}).get("phase", "Active"), _meta_age(ns)]


def _event(ev: dict[str, Any]) -> list[Any]:
    inv = ev.get("involvedObject", {})
    last = ev.get("lastTimestamp") or ev.get("eventTime")
    return [age(last), ev.get("type", ""), ev.get("reason", ""), f"{inv.get('kind', '').lower()}/{inv.get('name', '')}", ev.get("message", "")]


def _hpa(hpa: dict[str, Any]) -> list[Any]:
    spec = hpa.get("spec", {})
    ref = spec.get("scaleTargetRef", {})
    target = next(
        (m["resource"]["target"].get("averageUtilization") for m in spec.get("metrics", []) if m.get("type") == "Resource"),
        None,
    )
    targets = f"cpu: <unknown>/{target}%" if target is not None else "<none>"
    return [
        hpa["metadata"]["name"], f"{ref.get('kind')}/{ref.get('name')}", targets, spec.get("minReplicas", 1),
        spec.get("maxReplicas"), hpa.get("status", {}).get("currentReplicas", 0), _meta_age(hpa),
    ]


def _default(obj: dict[str, Any]) -> list[Any]:
    return [obj["metadata"]["name"], _meta_age(obj)]


def _cols(*names: str, wide: int = 99) -> list[dict[str, Any]]:
    out = []
    for i, name in enumerate(names):
        out.append(
            {
                "name": name,
                "type": "integer" if name in {"Up-to-date", "Available", "Desired", "Current", "MinPods", "MaxPods", "Replicas"} else "string",
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": 0 if i < wide else 1,
            }
        )
    return out


PRINTERS: dict[str, tuple[list[dict[str, Any]], Row]] = {
    "pods": (_cols("Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates", wide=5), _pod),
    "deployments": (_cols("Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector", wide=5), _deployment),
    "replicasets": (_cols("Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector", wide=5), _replicaset),
    "statefulsets": (_cols("Name", "Ready", "Age", "Containers", "Images", wide=3), _statefulset),
    "jobs": (_cols("Name", "Status", "Completions", "Duration", "Age"), _job),
    "services": (_cols("Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector", wide=6), _service),
    "nodes": (_cols("Name", "Status", "Roles", "Age", "Version"), _node),
    "namespaces": (_cols("Name", "Status", "Age"), _namespace),
    "events": (_cols("Last Seen", "Type", "Reason", "Object", "Message"), _event),
    "horizontalpodautoscalers": (_cols("Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"), _hpa),
}


def table(res: ResKey, items: list[dict[str, Any]], resource_version: str, include: str | None) -> dict[str, Any]:
    """A Table of ``items`` (``include``: None/"Metadata" → PartialObjectMetadata, "Object", "None")."""
    columns, row = PRINTERS.get(res[2], (_cols("Name", "Age"), _default)) if res[0] != "metrics.k8s.io" else (_cols("Name", "Age"), _default)
    rows = []
    for obj in items:
        entry: dict[str, Any] = {"cells": row(obj)}
        if include == "Object":
            entry["object"] = obj
        elif include != "None":
            entry["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }
