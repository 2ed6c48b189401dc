"""Small helpers shaping objects as the controllers and the kubelet would."""

from __future__ import annotations

from typing import Any

from tests.kubedouble.store import now_rfc3339


def ensure_container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's containerStatuses, one per spec container (created if missing)."""
    st = pod.setdefault("status", {})
    statuses = st.setdefault("containerStatuses", [])
    known = {c["name"] for c in statuses}
    for c in pod.get("spec", {}).get("containers", []):
        if c["name"] not in known:
            statuses.append(
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
            )
    return statuses


def set_condition(obj: dict[str, Any], ctype: str, ok: bool, reason: str | None = None, message: str | None = None) -> None:
    """Set (or add) a status condition."""
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    value = "True" if ok else "False"
    for cond in conditions:
        if cond["type"] == ctype:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = now_rfc3339()
            cond["status"] = value
            if reason is not None:
                cond["reason"] = reason
            if message is not None:
                cond["message"] = message
            return
    cond = {"type": ctype, "status": value, "lastTransitionTime": now_rfc3339()}
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)


SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated names


def suffix(seed: str, length: int) -> str:
    """A stable Kubernetes-like name suffix derived from ``seed``."""
    import hashlib

    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:length])


def owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller ownerReference to ``owner``."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences", []) or []:
        if ref.get("controller"):
            return ref
    return None


def make_event(
    involved: dict[str, Any],
    reason: str,
    message: str,
    *,
    type: str = "Normal",
    count: int = 1,
    component: str = "kubelet",
    first: str | None = None,
    last: str | None = None,
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (an object dict)."""
    import uuid

    meta = involved["metadata"]
    stamp = last or now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": meta.get("namespace") or "default",
        },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", "v1"),
            "kind": involved.get("kind", ""),
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": message,
        "type": type,
        "count": count,
        "firstTimestamp": first or stamp,
        "lastTimestamp": stamp,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
    }


def pod_metrics(pod: dict[str, Any], cpu: str = "250m", memory: str = "120Mi") -> dict[str, Any]:
    """A metrics.k8s.io PodMetrics for ``pod``: every container uses ``cpu`` and ``memory``."""
    meta = pod["metadata"]
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace", "default"),
            "labels": dict(meta.get("labels") or {}),
        },
        "timestamp": now_rfc3339(),
        "window": "30s",
        "containers": [
            {"name": c["name"], "usage": {"cpu": cpu, "memory": memory}}
            for c in pod.get("spec", {}).get("containers", [])
        ],
    }


def node_metrics(name: str, cpu: str, memory: str) -> dict[str, Any]:
    """A metrics.k8s.io NodeMetrics."""
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "NodeMetrics",
        "metadata": {"name": name},
        "timestamp": now_rfc3339(),
        "window": "30s",
        "usage": {"cpu": cpu, "memory": memory},
    }


def node(name: str, cpu: str = "4", memory: str = "16Gi") -> dict[str, Any]:
    """A Ready node with capacity."""
    resources = {"cpu": cpu, "memory": memory, "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
            ],
            "nodeInfo": {"kubeletVersion": "v1.32.2", "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "containerd://1.7.24"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}],
        },
    }
