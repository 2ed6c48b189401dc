"""Rollouts: the revision history of a Deployment (its ReplicaSets' revisions, as
kubectl's client-side ``rollout undo`` reads them), undo, and waiting for a rollout.

Pure helpers (``history``, ``pick_revision``, ``status_line``) work on the API's JSON
and are tested on fixtures; ``undo`` and ``status`` run them against a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cockpit.core.backends.kubernetes.cluster import Cluster, KubeError

if TYPE_CHECKING:
    from cockpit.core.backends.kubernetes.operate import OperationExecution

REVISION = "deployment.kubernetes.io/revision"
_HASH = "pod-template-hash"
_METHOD = {"deployment": "deployment", "statefulset": "stateful_set",
           "daemonset": "daemon_set"}


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of a Deployment: its number, ReplicaSet, images and pod template."""

    number: int
    replicaset: str
    images: tuple[str, ...]
    template: Mapping[str, Any]
    change_cause: str = ""


def history(deployment: Mapping[str, Any],
            replicasets: list[Mapping[str, Any]]) -> list[Revision]:
    """The deployment's revisions, oldest first (ReplicaSets it controls that carry a
    revision annotation)."""
    meta = deployment.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    found: dict[int, Revision] = {}
    for rs in replicasets:
        rs_meta = rs.get("metadata") or {}
        owners = rs_meta.get("ownerReferences") or []
        if not any(o.get("kind") == "Deployment" and (
                (uid and o.get("uid") == uid) or (not uid and o.get("name") == name))
                for o in owners):
            continue
        try:
            number = int((rs_meta.get("annotations") or {}).get(REVISION, ""))
        except ValueError:
            continue
        template = (rs.get("spec") or {}).get("template") or {}
        images = tuple(str(c.get("image", "")) for c in
                       (template.get("spec") or {}).get("containers") or [])
        cause = str((rs_meta.get("annotations") or {}).get("kubernetes.io/change-cause")
                    or "")
        found[number] = Revision(number, str(rs_meta.get("name")), images, template, cause)
    return [found[n] for n in sorted(found)]


def current_revision(deployment: Mapping[str, Any], revisions: list[Revision]) -> int:
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION, ""))
    except ValueError:
        return revisions[-1].number if revisions else 0


def pick_revision(revisions: list[Revision], current: int, wanted: int) -> Revision:
    """The revision to go back to: ``wanted``, or (0) the latest before ``current``;
    ``KubeError`` when there is none (as kubectl says it)."""
    if wanted:
        for rev in revisions:
            if rev.number == wanted:
                return rev
        raise KubeError(f"unable to find specified revision {wanted} in history")
    older = [rev for rev in revisions if rev.number != current]
    if not older:
        raise KubeError("no rollout history found: there is no previous revision to go "
                        "back to")
    return older[-1]


def history_lines(revisions: list[Revision], current: int, chosen: int | None) -> list[str]:
    """``REVISION  IMAGES`` rows, the current and the chosen revisions marked."""
    lines = ["REVISION  IMAGES"]
    for rev in revisions:
        mark = " (current)" if rev.number == current else ""
        mark += " <- rolling back to this one" if rev.number == chosen else ""
        lines.append(f"{rev.number:<9} {', '.join(rev.images) or '-'}{mark}")
    return lines


def clean_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The ReplicaSet's pod template without its ``pod-template-hash`` label."""
    result = copy.deepcopy(dict(template))
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(_HASH, None)
    return result


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return clean_template(a) == clean_template(b)


def read_history(cluster: Cluster, ns: str, name: str
                 ) -> tuple[dict[str, Any], list[Revision], int]:
    """The deployment, its revisions (oldest first) and its current revision (blocking)."""
    deployment = cluster.raw("get", "deployments", "apps.read_namespaced_deployment",
                             name, ns, missing=f"deployment {name} in namespace {ns}")
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    listing = cluster.raw("list", "replicasets", "apps.list_namespaced_replica_set", ns,
                          **({"label_selector": selector} if selector else {}))
    revisions = history(deployment, listing.get("items") or [])
    return deployment, revisions, current_revision(deployment, revisions)


def explain_undo(cluster: Cluster, ns: str, name: str, args: Mapping[str, Any]) -> list[str]:
    """What ``undo`` would do, for the confirmation: the history with images, the
    current revision and the one it goes back to (blocking)."""
    try:
        wanted = int(str(args.get("revision") or "0"))
    except ValueError:
        return [f"revision must be a whole number, not {args.get('revision')!r}"]
    _deployment, revisions, current = read_history(cluster, ns, name)
    try:
        chosen: int | None = pick_revision(revisions, current, wanted).number
        verdict = f"it goes back to revision {chosen}"
    except KubeError as exc:
        chosen, verdict = None, f"it would fail: {exc}"
    return [f"deployment.apps/{name} (context {cluster.name}, namespace {ns}): "
            f"revision history; {verdict}",
            *("  " + line for line in history_lines(revisions, current, chosen))]


def undo(ex: OperationExecution, cluster: Cluster, ns: str, name: str,
         args: Mapping[str, Any]) -> int:
    """Roll ``deployment/NAME`` back; prints the history with images first."""
    try:
        wanted = int(str(args.get("revision") or "0"))
    except ValueError:
        ex.say(f"undo: revision must be a whole number, not {args.get('revision')!r}",
               "stderr")
        return 2
    missing = f"deployment {name} in namespace {ns}"
    deployment, revisions, current = read_history(cluster, ns, name)
    ex.say(f"deployment.apps/{name} (context {cluster.name}, namespace {ns}): "
           "revision history")
    try:
        chosen = pick_revision(revisions, current, wanted)
    except KubeError as exc:
        for line in history_lines(revisions, current, None):
            ex.say("  " + line)
        ex.say(f"error: {exc}", "stderr")
        return 1
    for line in history_lines(revisions, current, chosen.number):
        ex.say("  " + line)
    template = (deployment.get("spec") or {}).get("template") or {}
    if _same(template, chosen.template):
        ex.say(f"deployment.apps/{name} skipped rollback (current template already "
               f"matches revision {chosen.number})")
        return 0
    patch = [{"op": "replace", "path": "/spec/template",
              "value": clean_template(chosen.template)}]
    cluster.call_blocking("patch", "deployments", "apps.patch_namespaced_deployment",
                          name, ns, patch, missing=missing)
    ex.say(f"deployment.apps/{name} rolled back to revision {chosen.number} "
           f"({', '.join(chosen.images)})")
    return 0


# -- rollout status -----------------------------------------------------------------------

def status_line(kind: str, obj: Mapping[str, Any]) -> tuple[bool, str]:
    """``(done, line)`` as ``kubectl rollout status`` words it; raises ``KubeError``
    when a Deployment's rollout is past its progress deadline."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    name = meta.get("name", "?")
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if generation > observed:
        return False, f"Waiting for {kind} spec update to be observed..."
    if kind == "daemonset":
        desired = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        available = int(status.get("numberAvailable") or 0)
        if updated < desired:
            return False, (f'Waiting for daemon set "{name}" rollout to finish: {updated} '
                           f"out of {desired} new pods have been updated...")
        if available < desired:
            return False, (f'Waiting for daemon set "{name}" rollout to finish: {available}'
                           f" of {desired} updated pods are available...")
        return True, f'daemon set "{name}" successfully rolled out'
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    if kind == "statefulset":
        ready = int(status.get("readyReplicas") or 0)
        if ready < replicas:
            return False, (f"Waiting for {replicas - ready} pods to be ready...")
        if status.get("updateRevision") and status.get("updateRevision") != status.get(
                "currentRevision") and updated < replicas:
            return False, (f"Waiting for partitioned roll out to finish: {updated} out of "
                           f"{replicas} new pods have been updated...")
        revision = status.get("updateRevision") or status.get("currentRevision") or "?"
        return True, (f"statefulset rolling update complete {replicas} pods at revision "
                      f"{revision}...")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == \
                "ProgressDeadlineExceeded":
            raise KubeError(f'deployment "{name}" exceeded its progress deadline')
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < replicas:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {updated} out '
                       f"of {replicas} new replicas have been updated...")
    if total > updated:
        return False, (f'Waiting for deployment "{name}" rollout to finish: '
                       f"{total - updated} old replicas are pending termination...")
    if available < updated:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {available} of'
                       f" {updated} updated replicas are available...")
    return True, f'deployment "{name}" successfully rolled out'


def status(ex: OperationExecution, cluster: Cluster, ns: str, kind: str, name: str,
           timeout: float) -> int:
    """Wait until the rollout is done (0), or ``timeout`` passes (1), printing each new
    progress line; reads the one object about once a second."""
    import time

    deadline = time.monotonic() + timeout
    method = f"apps.read_namespaced_{_METHOD[kind]}"
    plural = {"deployment": "deployments", "statefulset": "statefulsets",
              "daemonset": "daemonsets"}[kind]
    last = ""
    pause = 0.2
    while True:
        obj = cluster.raw("get", plural, method, name, ns,
                          missing=f"{kind} {name} in namespace {ns}")
        done, line = status_line(kind, obj)
        if line != last:
            ex.say(line)
            last = line
        if done:
            return 0
        left = deadline - time.monotonic()
        if left <= 0:
            ex.say(f"error: timed out waiting for the condition ({timeout:g}s)", "stderr")
            return 1
        if ex.stop.wait(min(pause, left)):
            return 1
        pause = min(pause * 2, 1.0)
