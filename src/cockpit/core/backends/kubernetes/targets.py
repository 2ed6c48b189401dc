"""Workloads and pods as ``Target`` rows: pure functions of the API's JSON (dicts with
the camelCase keys kubectl prints), so they are tested on fixtures.

Ids are ``NAMESPACE/KIND/NAME`` (a fleet: ``CONTEXT/NAMESPACE/KIND/NAME``); aliases
``KIND/NAME``, ``NAME`` and ``NAMESPACE/KIND/NAME``; ``scope`` the namespace (a fleet:
``CONTEXT/NAMESPACE``); a pod's ``parent`` is its workload's id (a Deployment's through
its ReplicaSet's ownerReferences). Health:

- pods: ready is ok; CrashLoopBackOff, ImagePullBackOff, ErrImagePull, OOMKilled,
  Evicted, a failed pod, an unschedulable Pending pod (the scheduler's reason) are fail;
  a Pending pod still being scheduled or created, a terminating pod, restarts climbing
  (a restart in the last ``RECENT`` seconds) are unknown;
- workloads: ready/desired replicas and rollout progress (``2/3 ready, rollout 1/3
  updated``); none ready of several wanted, or a rollout past its deadline, is fail;
- jobs: succeeded/failed counts and their conditions.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cockpit.core.backends.kubernetes.options import KIND_WORDS
from cockpit.core.backends.targets import Health, Target

#: A container restarted less than this many seconds ago: "restarts climbing".
RECENT = 600.0
#: Waiting reasons that mean the pod will not run without a change.
_FATAL_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
                  "CreateContainerConfigError", "CreateContainerError", "InvalidImageName",
                  "RunContainerError"}
#: The API group of each workload kind (kubectl's ``deployment.apps/NAME``).
GROUPS = {"deployment": "apps", "statefulset": "apps", "daemonset": "apps",
          "replicaset": "apps", "job": "batch", "pod": ""}
_OWNER_KINDS = {"Deployment": "deployment", "StatefulSet": "statefulset",
                "DaemonSet": "daemonset", "Job": "job", "ReplicaSet": "replicaset"}


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed target reference; parts not typed are None."""

    name: str
    kind: str | None = None
    namespace: str | None = None
    context: str | None = None

    def qualified(self) -> str:
        """``KIND/NAME`` (kubectl's way to name it), or just the name."""
        return f"{self.kind}/{self.name}" if self.kind else self.name


def parse_ref(text: str) -> Ref:
    """``NAME``, ``KIND/NAME``, ``NS/KIND/NAME`` or ``CTX/NS/KIND/NAME`` (kind words
    as kubectl takes them: ``deploy``, ``pods``...). ``NS/NAME`` is not a form."""
    parts = text.strip().split("/")
    if len(parts) == 1:
        return Ref(parts[0])
    kind = KIND_WORDS.get(parts[-2].lower().split(".", 1)[0])
    if kind is None or len(parts) > 4:
        raise ValueError(f"{text!r}: expected NAME, KIND/NAME or NAMESPACE/KIND/NAME")
    if len(parts) == 2:
        return Ref(parts[1], kind)
    if len(parts) == 3:
        return Ref(parts[2], kind, parts[0])
    return Ref(parts[3], kind, parts[1], parts[0])


def target_id(namespace: str, kind: str, name: str, context: str | None = None) -> str:
    """``NS/KIND/NAME``, or ``CTX/NS/KIND/NAME`` in a fleet (``context`` given)."""
    base = f"{namespace}/{kind}/{name}"
    return f"{context}/{base}" if context else base


def parse_time(text: Any) -> float | None:
    """``2026-12-05T01:02:03Z`` -> epoch seconds (None when absent or malformed)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


# -- pods ---------------------------------------------------------------------------------

def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or [])]


def pod_restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0)
               for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def pod_state(pod: Mapping[str, Any]) -> str:
    """kubectl's STATUS word: a waiting or terminated reason, Terminating, or the phase."""
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    if status.get("reason"):  # Evicted, NodeLost, ...
        return str(status["reason"])
    for cstat in _container_statuses(pod):
        state = cstat.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return str(waiting["reason"])
        terminated = state.get("terminated") or {}
        if terminated.get("reason") and status.get("phase") != "Succeeded" and (
                terminated["reason"] != "Completed" or status.get("phase") == "Failed"):
            return str(terminated["reason"])
    phase = str(status.get("phase") or "Unknown")
    return "Completed" if phase == "Succeeded" else phase


def pod_health(pod: Mapping[str, Any], now: float | None = None) -> Health:
    """The pod's health (see the module docstring)."""
    now = time.time() if now is None else now
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if _meta(pod).get("deletionTimestamp"):
        return Health("unknown", "terminating")
    if phase == "Succeeded":
        return Health("ok", "completed")
    if phase == "Failed":
        reason = status.get("reason") or _terminated_reason(pod) or "failed"
        message = " ".join(str(status.get("message") or "").split())
        return Health("fail", f"{reason}: {message}" if message else str(reason))
    last_oom = ""
    for cstat in _container_statuses(pod):
        name = cstat.get("name", "?")
        waiting = (cstat.get("state") or {}).get("waiting") or {}
        last = (cstat.get("lastState") or {}).get("terminated") or {}
        if last.get("reason") == "OOMKilled":
            last_oom = name
        reason = waiting.get("reason")
        if reason in _FATAL_WAITING:
            text = f"{reason}: {name}"
            if last.get("reason"):
                text += f" (last exit: {last['reason']}"
                if last.get("exitCode") is not None:
                    text += f", code {last['exitCode']}"
                text += ")"
            message = " ".join(str(waiting.get("message") or "").split())
            if message and reason != "CrashLoopBackOff":
                text += f": {message}"
            return Health("fail", text)
        terminated = (cstat.get("state") or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            return Health("fail", f"OOMKilled: {name}")
    if phase == "Pending":
        scheduled = _condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            reason = scheduled.get("reason") or "not scheduled"
            message = " ".join(str(scheduled.get("message") or "").split())
            text = f"Pending: {reason}" + (f": {message}" if message else "")
            return Health("fail" if reason == "Unschedulable" else "unknown", text)
        waiting = [((c.get("state") or {}).get("waiting") or {}).get("reason")
                   for c in _container_statuses(pod)]
        found = next((w for w in waiting if w), None)
        return Health("unknown", f"Pending: {found}" if found else "Pending")
    ready = _condition(pod, "Ready")
    if phase == "Running" and ready is not None and ready.get("status") == "True":
        recent = _recent_restart(pod, now)
        if recent:
            return Health("unknown", recent)
        if last_oom:
            return Health("ok", f"ready (last exit of {last_oom}: OOMKilled)")
        return Health("ok", "ready")
    if phase == "Running":
        message = " ".join(str((ready or {}).get("message") or "").split())
        recent = _recent_restart(pod, now)
        text = "not ready" + (f": {message}" if message else "")
        return Health("fail", f"{text}; {recent}" if recent else text)
    return Health("unknown", str(phase))


def _terminated_reason(pod: Mapping[str, Any]) -> str:
    for cstat in _container_statuses(pod):
        terminated = (cstat.get("state") or {}).get("terminated") or {}
        if terminated.get("reason"):
            return str(terminated["reason"])
    return ""


def _recent_restart(pod: Mapping[str, Any], now: float) -> str:
    """``restarts climbing: 4 (last 2m ago: OOMKilled)`` when a container restarted
    less than ``RECENT`` seconds ago; empty otherwise."""
    restarts = pod_restarts(pod)
    if not restarts:
        return ""
    latest, why = None, ""
    for cstat in _container_statuses(pod):
        last = (cstat.get("lastState") or {}).get("terminated") or {}
        ended = parse_time(last.get("finishedAt"))
        if ended is not None and (latest is None or ended > latest):
            latest, why = ended, str(last.get("reason") or "")
    if latest is None or now - latest > RECENT:
        return ""
    return f"restarts climbing: {restarts} (last {_ago(now - latest)} ago" + (
        f": {why})" if why else ")")


def pod_owner(pod: Mapping[str, Any],
              replicasets: Mapping[str, Mapping[str, Any]] | None = None
              ) -> tuple[str, str] | None:
    """``(kind, name)`` of the pod's workload: its controller, a ReplicaSet followed to
    its Deployment (from ``replicasets`` by name, else by the ``pod-template-hash``
    suffix); None for a bare pod (or a ReplicaSet without a Deployment)."""
    for ref in _meta(pod).get("ownerReferences") or []:
        kind = _OWNER_KINDS.get(str(ref.get("kind")))
        name = str(ref.get("name") or "")
        if kind is None or not name:
            continue
        if kind != "replicaset":
            return kind, name
        rs = (replicasets or {}).get(name)
        if rs is not None:
            for owner in _meta(rs).get("ownerReferences") or []:
                if owner.get("kind") == "Deployment" and owner.get("name"):
                    return "deployment", str(owner["name"])
            return None
        hash_ = str((_meta(pod).get("labels") or {}).get("pod-template-hash") or "")
        if hash_ and name.endswith("-" + hash_):
            return "deployment", name[: -len(hash_) - 1]
        return None
    return None


def pod_images(pod: Mapping[str, Any]) -> str:
    return ",".join(str(c.get("image", "")) for c in
                    (pod.get("spec") or {}).get("containers") or [])


def _pod_started(status: Mapping[str, Any]) -> float | None:
    """The pod's start time, else its earliest running container's."""
    started = parse_time(status.get("startTime"))
    if started is not None:
        return started
    times = [parse_time(((c.get("state") or {}).get("running") or {}).get("startedAt"))
             for c in status.get("containerStatuses") or []]
    found = [t for t in times if t is not None]
    return min(found) if found else None


def pod_target(pod: Mapping[str, Any], *, context: str | None = None,
               parent: tuple[str, str] | None = None, now: float | None = None) -> Target:
    """One pod as a Target (``context`` set in a fleet; ``parent`` its workload)."""
    meta = _meta(pod)
    ns, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "?")
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    phase = status.get("phase")
    return Target(
        id=target_id(ns, "pod", name, context), name=name, kind="pod",
        state=pod_state(pod),
        details={"context": context, "namespace": ns, "uid": meta.get("uid"),
                 "node": spec.get("nodeName"), "containers": containers,
                 "ip": status.get("podIP"), "phase": phase,
                 "labels": dict(meta.get("labels") or {})},
        scope=f"{context}/{ns}" if context else ns,
        parent=target_id(ns, parent[0], parent[1], context) if parent else None,
        restarts=pod_restarts(pod),
        started_at=_pod_started(status) if phase == "Running" else None,
        finished_at=None,
        health=pod_health(pod, now),
        image=pod_images(pod),
        command=" ".join(str(x) for x in ((spec.get("containers") or [{}])[0]
                                          .get("command") or [])),
        aliases=(f"pod/{name}", name, f"{ns}/pod/{name}"),
    )


# -- workloads ----------------------------------------------------------------------------

def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def workload_health(kind: str, obj: Mapping[str, Any]) -> tuple[str, Health]:
    """``(state word, Health)`` of a Deployment, StatefulSet, DaemonSet or Job."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "job":
        return _job_health(spec, status, obj)
    if kind == "daemonset":
        desired = _int(status.get("desiredNumberScheduled"))
        ready = _int(status.get("numberReady"))
        updated = _int(status.get("updatedNumberScheduled"), desired)
        rolling = updated < desired
    elif kind == "statefulset":
        desired = _int(spec.get("replicas"), 1)
        ready = _int(status.get("readyReplicas"))
        updated = _int(status.get("updatedReplicas"), desired)
        rolling = bool(status.get("updateRevision")) and status.get(
            "updateRevision") != status.get("currentRevision") and updated < desired
    else:  # a Deployment: a rollout while pods of an older template remain
        desired = _int(spec.get("replicas"), 1)
        ready = _int(status.get("readyReplicas"))
        updated = _int(status.get("updatedReplicas"), desired)
        rolling = updated < _int(status.get("replicas"), updated)
    generation = _int(_meta(obj).get("generation"))
    observed = _int(status.get("observedGeneration"), generation)
    progressing = _condition(obj, "Progressing")
    text = f"{ready}/{desired} ready"
    if rolling:
        text += f", rollout {min(updated, desired)}/{desired} updated"
    elif observed < generation:
        text += ", rollout pending"
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return "Stalled", Health("fail", f"{text}, rollout stalled (progress deadline "
                                         "exceeded)")
    if desired == 0:
        return "ScaledDown", Health("ok", "scaled to 0")
    if ready >= desired and not rolling and observed >= generation:
        return "Ready", Health("ok", text)
    if ready == 0:
        return "NotReady", Health("fail", text)
    return ("Progressing" if rolling else "Degraded"), Health("unknown", text)


def _job_health(spec: Mapping[str, Any], status: Mapping[str, Any],
                obj: Mapping[str, Any]) -> tuple[str, Health]:
    completions = _int(spec.get("completions"), 1)
    succeeded, failed = _int(status.get("succeeded")), _int(status.get("failed"))
    active = _int(status.get("active"))
    counts = f"{succeeded}/{completions} succeeded" + (f", {failed} failed" if failed else "")
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "Complete", Health("ok", counts)
        if cond.get("type") == "Failed":
            reason = cond.get("reason") or "failed"
            return "Failed", Health("fail", f"{reason}: {counts}")
    if _meta(obj).get("deletionTimestamp"):
        return "Terminating", Health("unknown", counts)
    if (spec.get("suspend")) is True:
        return "Suspended", Health("unknown", f"suspended, {counts}")
    return "Running", Health("unknown", f"{active} active, {counts}")


def workload_images(obj: Mapping[str, Any]) -> str:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return ",".join(str(c.get("image", "")) for c in spec.get("containers") or [])


def workload_target(kind: str, obj: Mapping[str, Any], *,
                    context: str | None = None) -> Target:
    """A Deployment, StatefulSet, DaemonSet or Job as a Target."""
    meta = _meta(obj)
    ns, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "?")
    state, health = workload_health(kind, obj)
    status = obj.get("status") or {}
    return Target(
        id=target_id(ns, kind, name, context), name=name, kind=kind, state=state,
        details={"context": context, "namespace": ns, "uid": meta.get("uid"),
                 "generation": meta.get("generation"),
                 "revision": (meta.get("annotations") or {}).get(
                     "deployment.kubernetes.io/revision"),
                 "replicas": (obj.get("spec") or {}).get("replicas"),
                 "ready": status.get("readyReplicas", status.get("numberReady")),
                 "labels": dict(meta.get("labels") or {})},
        scope=f"{context}/{ns}" if context else ns,
        started_at=parse_time(meta.get("creationTimestamp")),
        finished_at=parse_time(status.get("completionTime")) if kind == "job" else None,
        health=health, image=workload_images(obj),
        aliases=(f"{kind}/{name}", name, f"{ns}/{kind}/{name}"),
    )


def error_target(context: str, server: str, reason: str) -> Target:
    """The row of a context that cannot be reached (its other rows are unknown)."""
    return Target(id=f"{context}/!unreachable", name=context, kind="context",
                  state="unreachable", details={"context": context, "server": server},
                  scope=context, health=Health("fail", reason))


# -- a whole listing ----------------------------------------------------------------------

def build_targets(objects: Mapping[str, Iterable[Mapping[str, Any]]], *,
                  context: str | None = None, workloads: Iterable[str] = (),
                  now: float | None = None) -> list[Target]:
    """Targets of one context from its objects by kind (``pod``, ``replicaset``,
    ``deployment``, ...): workloads first (sorted), each followed by its pods; pods
    without a workload last. ``workloads`` (``KIND/NAME`` or ``NS/KIND/NAME``) keeps
    only those and their pods."""
    wanted = set(workloads)

    def chosen(ns: str, kind: str, name: str) -> bool:
        return not wanted or f"{kind}/{name}" in wanted or f"{ns}/{kind}/{name}" in wanted

    replicasets: dict[str, dict[str, Mapping[str, Any]]] = {}
    for rs in objects.get("replicaset", ()):
        replicasets.setdefault(str(_meta(rs).get("namespace")), {})[
            str(_meta(rs).get("name"))] = rs
    rows: list[Target] = []
    for kind in ("deployment", "statefulset", "daemonset", "job"):
        for obj in objects.get(kind, ()):
            meta = _meta(obj)
            if chosen(str(meta.get("namespace")), kind, str(meta.get("name"))):
                rows.append(workload_target(kind, obj, context=context))
    present = {t.id for t in rows}
    pods: list[Target] = []
    for pod in objects.get("pod", ()):
        ns = str(_meta(pod).get("namespace") or "default")
        owner = pod_owner(pod, replicasets.get(ns, {}))
        if owner is not None and owner[0] == "replicaset":
            owner = None
        if wanted and (owner is None or not chosen(ns, *owner)):
            continue
        target = pod_target(pod, context=context, parent=owner, now=now)
        if target.parent is not None and target.parent not in present:
            target = target.with_changes(parent=None)
        pods.append(target)
    rows.sort(key=lambda t: (t.scope, t.kind, t.name))
    pods.sort(key=lambda t: (t.scope, t.name))
    return rows + pods
