"""CPU and memory from ``metrics.k8s.io`` (what ``kubectl top`` shows), with restarts and
replicas from the objects themselves.

Pods: ``cpu_millicores``, ``mem_bytes`` (summed over containers), ``cpu_percent`` /
``mem_percent`` of the containers' limits (over the containers that set one),
``restarts``. Workloads: the sums over their pods, plus ``ready_replicas`` and
``desired_replicas``. Nodes (``node/NAME``): usage, and percent of allocatable.
Blocking calls: run in threads.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from cockpit.core.backends.kubernetes import raw

STAT_NAMES: tuple[str, ...] = (
    "cpu_millicores", "cpu_percent", "mem_bytes", "mem_percent", "restarts",
    "ready_replicas", "desired_replicas",
)

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity as a number: ``"250m"`` -> 0.25, ``"120Mi"`` ->
    125829120, ``"1.5Gi"``, ``"1e3"``, ``"123456n"``; ValueError otherwise."""
    if isinstance(text, int | float):
        return float(text)
    match = _QUANTITY.match(str(text).strip())
    if match is None or match.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity: {text!r}")
    try:
        return float(Decimal(match.group(1)) * _SUFFIX[match.group(2)])
    except InvalidOperation:
        raise ValueError(f"not a quantity: {text!r}") from None


def _usage(item: dict[str, Any]) -> tuple[float, float]:
    """(cores, bytes) of a PodMetrics (summed over containers) or NodeMetrics."""
    if "containers" in item:
        cpu = mem = 0.0
        for container in item.get("containers") or []:
            usage = container.get("usage") or {}
            cpu += parse_quantity(usage.get("cpu", "0"))
            mem += parse_quantity(usage.get("memory", "0"))
        return cpu, mem
    usage = item.get("usage") or {}
    return parse_quantity(usage.get("cpu", "0")), parse_quantity(usage.get("memory", "0"))


def _container_usage(item: dict[str, Any]) -> dict[str, tuple[float, float]]:
    out = {}
    for container in item.get("containers") or []:
        usage = container.get("usage") or {}
        out[container.get("name", "")] = (parse_quantity(usage.get("cpu", "0")),
                                          parse_quantity(usage.get("memory", "0")))
    return out


def _limited(pod: dict[str, Any], usage: dict[str, Any]) -> tuple[float, float, float, float]:
    """(cpu used, cpu limit, memory used, memory limit) over the containers with limits."""
    per = _container_usage(usage)
    cpu_used = cpu_limit = mem_used = mem_limit = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        used = per.get(container.get("name", ""), (0.0, 0.0))
        if "cpu" in limits:
            cpu_limit += parse_quantity(limits["cpu"])
            cpu_used += used[0]
        if "memory" in limits:
            mem_limit += parse_quantity(limits["memory"])
            mem_used += used[1]
    return cpu_used, cpu_limit, mem_used, mem_limit


def _percents(stats: dict[str, float], sums: tuple[float, float, float, float]) -> None:
    cpu_used, cpu_limit, mem_used, mem_limit = sums
    if cpu_limit > 0:
        stats["cpu_percent"] = cpu_used / cpu_limit * 100.0
    if mem_limit > 0:
        stats["mem_percent"] = mem_used / mem_limit * 100.0


def _restarts(pod: dict[str, Any]) -> float:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return float(sum(int(s.get("restartCount") or 0) for s in statuses))


def pod_stats(pod: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, float]:
    """The statistics of one pod from its object and its PodMetrics (None: not yet)."""
    stats: dict[str, float] = {"restarts": _restarts(pod)}
    if usage is None:
        return stats
    cpu, mem = _usage(usage)
    stats["cpu_millicores"] = cpu * 1000.0
    stats["mem_bytes"] = mem
    _percents(stats, _limited(pod, usage))
    return stats


def _metrics_path(namespace: str, name: str | None = None) -> str:
    path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{quote(namespace, safe='')}/pods"
    return path + (f"/{quote(name, safe='')}" if name else "")


def _no_metrics(exc: raw.KubeApiError, what: str) -> raw.KubeApiError:
    if exc.status == 404:
        return raw.KubeApiError(f"no metrics for {what} yet (metrics.k8s.io: is "
                                "metrics-server running?)", 404)
    return exc


def of_pod(api: Any, namespace: str, name: str, timeout: float = 10.0) -> dict[str, float]:
    """Statistics of one pod."""
    pod = raw.get_json(api, raw.pods_path(namespace, name), timeout=timeout,
                       resource=f"pods/{name}")
    try:
        usage = raw.get_json(api, _metrics_path(namespace, name), timeout=timeout,
                             resource=f"pods.metrics.k8s.io/{name}")
    except raw.KubeApiError as exc:
        if exc.status != 404:
            raise
        usage = None
    return pod_stats(pod, usage)


def of_workload(api: Any, namespace: str, kind: str, name: str,
                timeout: float = 10.0) -> dict[str, float]:
    """Statistics of a workload: sums over its pods, and its replicas."""
    obj, selector = raw.workload_selector(api, namespace, kind, name, timeout)
    pods = raw.list_pods(api, namespace, selector, timeout=timeout).get("items") or []
    try:
        # by pod name: PodMetrics carry the pods' labels only where metrics-server copies them
        listing = raw.get_json(api, _metrics_path(namespace), timeout=timeout, verb="list",
                               resource="pods.metrics.k8s.io")
        usages = {(m.get("metadata") or {}).get("name"): m
                  for m in listing.get("items") or []}
    except raw.KubeApiError as exc:
        if exc.status != 404:
            raise
        usages = {}
    total: dict[str, float] = {"restarts": 0.0}
    sums = [0.0, 0.0, 0.0, 0.0]
    for pod in pods:
        total["restarts"] += _restarts(pod)
        usage = usages.get((pod.get("metadata") or {}).get("name"))
        if usage is None:
            continue
        cpu, mem = _usage(usage)
        total["cpu_millicores"] = total.get("cpu_millicores", 0.0) + cpu * 1000.0
        total["mem_bytes"] = total.get("mem_bytes", 0.0) + mem
        for index, value in enumerate(_limited(pod, usage)):
            sums[index] += value
    _percents(total, (sums[0], sums[1], sums[2], sums[3]))
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind == "daemonset":
        desired = status.get("desiredNumberScheduled") or 0
        ready = status.get("numberReady") or 0
    elif kind == "job":
        desired = spec.get("completions") or spec.get("parallelism") or 1
        ready = status.get("ready") or 0
    else:
        desired = spec.get("replicas", 1) if spec.get("replicas") is not None else 1
        ready = status.get("readyReplicas") or 0
    total["ready_replicas"] = float(ready)
    total["desired_replicas"] = float(desired)
    if not pods:  # scaled to zero: nothing runs
        total.update(cpu_millicores=0.0, mem_bytes=0.0)
    return total


def of_node(api: Any, name: str, timeout: float = 10.0) -> dict[str, float]:
    """Statistics of a node (``kubectl top nodes``)."""
    node = raw.get_json(api, f"/api/v1/nodes/{quote(name, safe='')}", timeout=timeout,
                        resource=f"nodes/{name}")
    try:
        usage = raw.get_json(api, f"/apis/metrics.k8s.io/v1beta1/nodes/{quote(name, safe='')}",
                             timeout=timeout, resource=f"nodes.metrics.k8s.io/{name}")
    except raw.KubeApiError as exc:
        raise _no_metrics(exc, f"node {name}") from None
    cpu, mem = _usage(usage)
    stats = {"cpu_millicores": cpu * 1000.0, "mem_bytes": mem}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    if allocatable.get("cpu"):
        stats["cpu_percent"] = cpu / parse_quantity(allocatable["cpu"]) * 100.0
    if allocatable.get("memory"):
        stats["mem_percent"] = mem / parse_quantity(allocatable["memory"]) * 100.0
    return stats
