"""Controllers of the double: Deployments → ReplicaSets → Pods, StatefulSets → Pods.

Simple but real enough for kubectl: a template change makes a new ReplicaSet (named
``DEPLOY-<hash>``, a controller ownerReference, ``deployment.kubernetes.io/revision``), a
rollback reuses the old ReplicaSet with the next revision; every ``step`` seconds a round
moves each rollout one replica further, new pods start (ContainerCreating, then Running
and Ready) and statuses (replicas, readyReplicas, updatedReplicas, availableReplicas,
observedGeneration, Available/Progressing conditions) follow, so ``kubectl rollout status``
converges and ``rollout undo`` / ``rollout history`` work. Pods in other waiting states
(CrashLoopBackOff...) are left as they are: the double never heals what a test broke.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import TYPE_CHECKING, Any

from tests.kubedouble.objects import (
    controller_of,
    make_event,
    owner_ref,
    pod_metrics,
    set_condition,
    suffix,
)
from tests.kubedouble.store import ObjKey, ResKey, now_rfc3339
from tests.kubedouble.timing import pause, wait_event

if TYPE_CHECKING:
    from tests.kubedouble.emulator import KubeEmulator

DEPLOYMENTS: ResKey = ("apps", "v1", "deployments")
REPLICASETS: ResKey = ("apps", "v1", "replicasets")
STATEFULSETS: ResKey = ("apps", "v1", "statefulsets")
PODS: ResKey = ("", "v1", "pods")
NODES: ResKey = ("", "v1", "nodes")
EVENTS: ResKey = ("", "v1", "events")
POD_METRICS: ResKey = ("metrics.k8s.io", "v1beta1", "pods")
DAEMONSETS: ResKey = ("apps", "v1", "daemonsets")
OWNERS = {DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, ("batch", "v1", "jobs")}
REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"
# A pod template annotation: its pods stay Pending, unschedulable with this scheduler message.
UNSCHEDULABLE = "kubedouble/unschedulable"


def template_hash(template: dict[str, Any]) -> str:
    """A stable pod-template-hash (10 characters of the safe alphabet)."""
    clean = copy.deepcopy(template)
    (clean.get("metadata") or {}).get("labels", {}).pop(HASH, None)
    (clean.get("metadata") or {}).get("labels", {}).pop("controller-revision-hash", None)
    return suffix(json.dumps(_pruned(clean), sort_keys=True), 10)


def _pruned(value: Any) -> Any:
    """Drop nulls and empty maps/lists (kubectl's typed round trip adds them, e.g. on undo)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


class Controllers:
    """Reconciles workloads on the double's loop, one step per round."""

    def __init__(self, em: KubeEmulator) -> None:
        self.em = em
        self.step = 0.25  # seconds between rounds
        self.paused = False
        self.dirty: set[ObjKey] = set()
        self.wake = asyncio.Event()
        self.rounds = 0
        self._reconcilers = {
            DEPLOYMENTS: self.reconcile_deployment,
            STATEFULSETS: self.reconcile_statefulset,
            DAEMONSETS: self.reconcile_daemonset,
        }
        em.store.listeners.append(self.on_change)
        em.store.defaulters.append(apply_defaults)

    # -- triggers --------------------------------------------------------------------
    def on_change(self, res: ResKey, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata", {})
        ns = meta.get("namespace")
        if kind == "DELETED" and res in OWNERS:
            self._collect(meta.get("uid"), ns)
        if kind == "DELETED" and res == ("", "v1", "namespaces"):
            store = self.em.store
            for key in [k for k in store.objects if k[1] == meta["name"]]:
                if key in store.objects:
                    store.delete(*key)
            return
        if res in (DEPLOYMENTS, STATEFULSETS, DAEMONSETS):
            if kind != "DELETED":
                self.dirty.add((res, ns, meta["name"]))
        elif res in (REPLICASETS, PODS):
            if res == PODS and kind == "DELETED":
                self.em.store.objects.pop((POD_METRICS, ns, meta["name"]), None)
            owner = controller_of(obj)
            if owner is not None:
                self._mark_owner(owner, ns)
        else:
            return
        self.wake.set()

    def _collect(self, uid: str | None, ns: str | None) -> None:
        """The garbage collector: delete what the deleted object owned."""
        store = self.em.store
        for res in (REPLICASETS, PODS):
            for obj in store.items(res, ns):
                owned = any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
                if owned and store.get(res, ns, obj["metadata"]["name"]) is not None:
                    store.delete(res, ns, obj["metadata"]["name"])

    def _mark_owner(self, owner: dict[str, Any], ns: str | None) -> None:
        if owner.get("kind") == "StatefulSet":
            self.dirty.add((STATEFULSETS, ns, owner["name"]))
        elif owner.get("kind") == "DaemonSet":
            self.dirty.add((DAEMONSETS, ns, owner["name"]))
        elif owner.get("kind") == "ReplicaSet":
            rs = self.em.store.get(REPLICASETS, ns, owner["name"])
            if rs is not None:
                dep = controller_of(rs)
                if dep is not None and dep.get("kind") == "Deployment":
                    self.dirty.add((DEPLOYMENTS, ns, dep["name"]))
        elif owner.get("kind") == "Deployment":
            self.dirty.add((DEPLOYMENTS, ns, owner["name"]))

    # -- the loop --------------------------------------------------------------------
    async def run(self) -> None:
        while not self.em.closing:
            if not self.dirty or self.paused:
                self.wake.clear()
                await wait_event(self.wake, 1.0)
                continue
            await pause(self.step)
            if self.paused:
                continue
            self.rounds += 1
            for key in sorted(self.dirty, key=str):
                self.dirty.discard(key)
                res, ns, name = key
                obj = self.em.store.get(res, ns, name)
                if obj is None:
                    continue
                try:
                    more = self._reconcilers[res](obj)
                except Exception:  # a broken object must not stop the controllers
                    import logging

                    logging.getLogger("kubedouble").exception("reconcile %s failed", key)
                    more = False
                if more:
                    self.dirty.add(key)

    # -- deployments -----------------------------------------------------------------
    def reconcile_deployment(self, dep: dict[str, Any]) -> bool:
        """One step of a Deployment; True while there is more to do."""
        store, ns = self.em.store, dep["metadata"]["namespace"]
        uid = dep["metadata"]["uid"]
        desired = int(dep.get("spec", {}).get("replicas", 1))
        template = dep["spec"]["template"]
        thash = template_hash(template)
        owned = [
            rs for rs in store.items(REPLICASETS, ns)
            if (controller_of(rs) or {}).get("uid") == uid
        ]
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned]
        top = max(revisions, default=0)
        current = next((rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH) == thash), None)
        changed = False
        if current is None and dep["spec"].get("paused") and owned:
            return self._deployment_status(dep, owned, thash)  # paused: no new ReplicaSet
        if current is None:
            current = self._new_replicaset(dep, thash, top + 1)
            self._event(dep, "ScalingReplicaSet", f"Scaled up replica set {current['metadata']['name']} from 0 to {min(desired, 1)}", component="deployment-controller")
            changed = True
        elif int(current["metadata"].get("annotations", {}).get(REVISION, "0")) < top:
            current = self._set_rs(current, revision=top + 1)  # a rollback: the old set is new again
            changed = True
        revision = current["metadata"]["annotations"][REVISION]
        if dep["metadata"].get("annotations", {}).get(REVISION) != revision:
            dep = self._patch_meta(DEPLOYMENTS, dep, {REVISION: revision})
        olds = [rs for rs in owned if rs["metadata"]["uid"] != current["metadata"]["uid"]]
        # scale the new set one replica per step towards the desired count
        have = int(current["spec"].get("replicas", 0))
        want = have + 1 if have < desired else desired
        if want != have:
            current = self._set_rs(current, replicas=want)
            changed = True
        new_ready = self._ready_pods(current)
        allowed = max(0, desired - new_ready)
        for rs in sorted(olds, key=lambda r: -int(r["metadata"].get("annotations", {}).get(REVISION, "0"))):
            now = int(rs["spec"].get("replicas", 0))
            keep = min(now, allowed)
            allowed -= keep
            if keep != now:
                self._set_rs(rs, replicas=keep)
                self._event(dep, "ScalingReplicaSet", f"Scaled down replica set {rs['metadata']['name']} from {now} to {keep}", component="deployment-controller")
                changed = True
        owned = [
            rs for rs in store.items(REPLICASETS, ns)
            if (controller_of(rs) or {}).get("uid") == uid
        ]
        for rs in owned:
            changed |= self._sync_pods(rs)
            changed |= self._rs_status(rs)
        changed |= self._deployment_status(dep, owned, thash)
        return changed

    def _new_replicaset(self, dep: dict[str, Any], thash: str, revision: int) -> dict[str, Any]:
        name = f"{dep['metadata']['name']}-{thash}"
        template = copy.deepcopy(dep["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = thash
        selector = copy.deepcopy(dep["spec"].get("selector") or {"matchLabels": {}})
        selector.setdefault("matchLabels", {})[HASH] = thash
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": dep["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(dep["spec"].get("replicas", 1)),
                    "deployment.kubernetes.io/max-replicas": str(int(dep["spec"].get("replicas", 1)) + 1),
                },
                "ownerReferences": [owner_ref(dep)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        }
        cause = dep["metadata"].get("annotations", {}).get("kubernetes.io/change-cause")
        if cause:
            rs["metadata"]["annotations"]["kubernetes.io/change-cause"] = cause
        return self.em.store.create(REPLICASETS, "ReplicaSet", rs["metadata"]["namespace"], rs)

    def _set_rs(self, rs: dict[str, Any], *, replicas: int | None = None, revision: int | None = None) -> dict[str, Any]:
        new = copy.deepcopy(rs)
        if replicas is not None:
            new["spec"]["replicas"] = replicas
        if revision is not None:
            new["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        meta = new["metadata"]
        return self.em.store.replace(REPLICASETS, meta["namespace"], meta["name"], new)

    def _patch_meta(self, res: ResKey, obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("annotations", {}).update(annotations)
        meta = new["metadata"]
        return self.em.store.replace(res, meta.get("namespace"), meta["name"], new)

    def _pods_of(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [
            p for p in self.em.store.items(PODS, owner["metadata"]["namespace"])
            if (controller_of(p) or {}).get("uid") == uid
        ]

    def _ready_pods(self, owner: dict[str, Any]) -> int:
        return sum(1 for p in self._pods_of(owner) if _pod_ready(p))

    def _sync_pods(self, rs: dict[str, Any]) -> bool:
        """Create or delete pods to match the set's replicas; start pods created earlier."""
        changed = False
        pods = self._pods_of(rs)
        want = int(rs["spec"].get("replicas", 0))
        for pod in pods:
            changed |= self._start(pod)
        if len(pods) < want:
            for i in range(want - len(pods)):
                name = f"{rs['metadata']['name']}-{suffix(rs['metadata']['uid'] + str(len(pods) + i) + now_rfc3339() + str(self.rounds), 5)}"
                self._create_pod(rs, name)
            changed = True
        elif len(pods) > want:
            victims = sorted(pods, key=lambda p: (_pod_ready(p), p["metadata"]["creationTimestamp"]))
            for pod in victims[: len(pods) - want]:
                self.em.store.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
            changed = True
        return changed

    def _create_pod(self, owner: dict[str, Any], name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
        template = owner["spec"]["template"]
        ns = owner["metadata"]["namespace"]
        labels = dict(template.get("metadata", {}).get("labels") or {})
        labels.update(extra_labels or {})
        spec = copy.deepcopy(template.get("spec") or {})
        nodes = sorted(n["metadata"]["name"] for n in self.em.store.items(NODES))
        if nodes and "nodeName" not in spec:
            spec["nodeName"] = nodes[sum(name.encode()) % len(nodes)]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": labels,
                "annotations": dict(template.get("metadata", {}).get("annotations") or {}),
                "ownerReferences": [owner_ref(owner)],
            },
            "spec": spec,
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()}],
                "containerStatuses": [
                    {
                        "name": c["name"], "image": c.get("image", ""), "imageID": "",
                        "ready": False, "started": False, "restartCount": 0,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                    }
                    for c in spec.get("containers", [])
                ],
                "qosClass": "BestEffort",
            },
        }
        if pod["metadata"]["annotations"].get(UNSCHEDULABLE):
            spec.pop("nodeName", None)
            pod["status"] = {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": pod["metadata"]["annotations"][UNSCHEDULABLE],
                        "lastTransitionTime": now_rfc3339(),
                    }
                ],
                "qosClass": "Burstable",
            }
        created = self.em.store.create(PODS, "Pod", ns, pod)
        if pod["metadata"]["annotations"].get(UNSCHEDULABLE):
            self._event(
                created, "FailedScheduling", pod["metadata"]["annotations"][UNSCHEDULABLE],
                type="Warning", component="default-scheduler",
            )
            return created
        if (POD_METRICS, ns, name) not in self.em.store.objects:
            self.em.store.create(POD_METRICS, "PodMetrics", ns, pod_metrics(created))
        if spec.get("nodeName"):
            self._event(created, "Scheduled", f"Successfully assigned {ns}/{name} to {spec['nodeName']}", component="default-scheduler")
        return created

    def _start(self, pod: dict[str, Any]) -> bool:
        """A pod whose containers are being created starts: Running and Ready."""
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if not statuses or not all(
            (c.get("state") or {}).get("waiting", {}).get("reason") == "ContainerCreating" for c in statuses
        ):
            return False
        if pod["metadata"].get("annotations", {}).get("kubedouble/hold") == "true":
            return False
        new = copy.deepcopy(pod)
        now = now_rfc3339()
        new["status"]["phase"] = "Running"
        new["status"]["startTime"] = now
        new["status"]["podIP"] = f"10.42.0.{sum(pod['metadata']['name'].encode()) % 250 + 2}"
        for c in new["status"]["containerStatuses"]:
            c.update(ready=True, started=True, state={"running": {"startedAt": now}})
            c["containerID"] = f"containerd://{suffix(pod['metadata']['uid'] + c['name'], 12)}"
        for ctype in ("Initialized", "Ready", "ContainersReady"):
            set_condition(new, ctype, True)
        meta = new["metadata"]
        self.em.store.replace(PODS, meta["namespace"], meta["name"], new)
        for c in pod.get("spec", {}).get("containers", []):
            self._event(pod, "Pulled", f'Container image "{c.get("image", "")}" already present on machine')
            self._event(pod, "Started", f"Started container {c['name']}")
        return True

    def _rs_status(self, rs: dict[str, Any]) -> bool:
        pods = self._pods_of(rs)
        ready = sum(1 for p in pods if _pod_ready(p))
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if all(rs.get("status", {}).get(k) == v for k, v in status.items()):
            return False
        new = copy.deepcopy(rs)
        new["status"] = status
        self.em.store.replace(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], new)
        return True

    def _deployment_status(self, dep: dict[str, Any], owned: list[dict[str, Any]], thash: str) -> bool:
        desired = int(dep.get("spec", {}).get("replicas", 1))
        pods = [p for rs in owned for p in self._pods_of(rs)]
        updated = [p for p in pods if p["metadata"].get("labels", {}).get(HASH) == thash]
        ready = sum(1 for p in pods if _pod_ready(p))
        new = copy.deepcopy(dep)
        status = new.setdefault("status", {})
        status.update(
            observedGeneration=dep["metadata"].get("generation", 1),
            replicas=len(pods),
            updatedReplicas=len(updated),
            readyReplicas=ready,
            availableReplicas=ready,
        )
        unavailable = max(0, desired - ready)
        if unavailable:
            status["unavailableReplicas"] = unavailable
        else:
            status.pop("unavailableReplicas", None)
        for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if status[key] == 0:
                del status[key]  # the API omits zero counts
        max_unavailable = desired // 4
        available = ready >= desired - max_unavailable
        set_condition(
            new, "Available", available,
            "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "Deployment has minimum availability." if available else "Deployment does not have minimum availability.",
        )
        rs_name = f"{dep['metadata']['name']}-{thash}"
        complete = len(updated) == desired and len(pods) == desired and ready >= desired
        set_condition(
            new, "Progressing", True,
            "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" has successfully progressed.' if complete else f'ReplicaSet "{rs_name}" is progressing.',
        )
        if new == dep:
            return False
        for cond in new["status"]["conditions"]:
            cond.setdefault("lastUpdateTime", cond.get("lastTransitionTime"))
        self.em.store.replace(DEPLOYMENTS, dep["metadata"]["namespace"], dep["metadata"]["name"], new)
        return True

    # -- statefulsets ----------------------------------------------------------------
    def reconcile_statefulset(self, sts: dict[str, Any]) -> bool:
        """One step of a StatefulSet: pods NAME-0..N-1, replaced one at a time on change."""
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        desired = int(sts.get("spec", {}).get("replicas", 1))
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        pods = {p["metadata"]["name"]: p for p in self._pods_of(sts)}
        changed = False
        for pod in pods.values():
            changed |= self._start(pod)
        stale = sorted(
            (p for p in pods.values() if p["metadata"].get("labels", {}).get("controller-revision-hash") != revision),
            key=lambda p: p["metadata"]["name"],
            reverse=True,
        )
        extra = sorted((n for n in pods if int(n.rsplit("-", 1)[1]) >= desired), reverse=True)
        if extra:
            self.em.store.delete(PODS, ns, extra[0])
            changed = True
        elif stale and not changed:
            self.em.store.delete(PODS, ns, stale[0]["metadata"]["name"])
            changed = True
        else:
            for i in range(desired):
                if f"{name}-{i}" not in pods:
                    self._create_pod(
                        sts, f"{name}-{i}",
                        {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": f"{name}-{i}"},
                    )
                    changed = True
                    break
        pods_now = self._pods_of(sts)
        ready = sum(1 for p in pods_now if _pod_ready(p))
        current = [p for p in pods_now if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision]
        new = copy.deepcopy(sts)
        new["status"] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods_now),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": len(current),
            "updatedReplicas": len(current),
            "currentRevision": revision if len(current) == len(pods_now) else sts.get("status", {}).get("currentRevision", revision),
            "updateRevision": revision,
            "collisionCount": 0,
        }
        if new != sts:
            self.em.store.replace(STATEFULSETS, ns, name, new)
            changed = True
        return changed

    # -- daemonsets ------------------------------------------------------------------
    def reconcile_daemonset(self, ds: dict[str, Any]) -> bool:
        """One step of a DaemonSet: a pod on every node its nodeSelector allows."""
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        revision = template_hash(ds["spec"]["template"])
        selector = ds["spec"]["template"].get("spec", {}).get("nodeSelector") or {}
        nodes = [
            n["metadata"]["name"] for n in self.em.store.items(NODES)
            if all(n["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
        ]
        pods = self._pods_of(ds)
        changed = False
        for pod in pods:
            changed |= self._start(pod)
        by_node = {p["spec"].get("nodeName"): p for p in pods}
        stale = [p for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") != revision]
        gone = [p for p in pods if p["spec"].get("nodeName") not in nodes]
        if gone or (stale and not changed):
            victim = (gone or stale)[0]
            self.em.store.delete(PODS, ns, victim["metadata"]["name"])
            changed = True
        else:
            for node_name in nodes:
                if node_name not in by_node:
                    pod_name = f"{name}-{suffix(ds['metadata']['uid'] + node_name + revision, 5)}"
                    template = copy.deepcopy(ds)
                    template["spec"]["template"].setdefault("spec", {})["nodeName"] = node_name
                    self._create_pod(template, pod_name, {"controller-revision-hash": revision})
                    changed = True
        pods = self._pods_of(ds)
        ready = sum(1 for p in pods if _pod_ready(p))
        updated = sum(1 for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision)
        new = copy.deepcopy(ds)
        new["status"] = {
            "observedGeneration": ds["metadata"].get("generation", 1),
            "desiredNumberScheduled": len(nodes),
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": updated,
        }
        if new != ds:
            self.em.store.replace(DAEMONSETS, ns, name, new)
            changed = True
        return changed

    # -- events ----------------------------------------------------------------------
    def _event(self, obj: dict[str, Any], reason: str, message: str, *, type: str = "Normal", component: str = "kubelet") -> None:
        event = make_event(obj, reason, message, type=type, component=component)
        self.em.store.create(EVENTS, "Event", event["metadata"]["namespace"], event)


def apply_defaults(res: ResKey, obj: dict[str, Any]) -> None:
    """The API server's defaults kubectl relies on (update strategies)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if res == DEPLOYMENTS:
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    elif res == STATEFULSETS:
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault("podManagementPolicy", "OrderedReady")
    elif res == DAEMONSETS:
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    if res in (DEPLOYMENTS, STATEFULSETS, REPLICASETS):
        spec.setdefault("replicas", 1)


def _pod_ready(pod: dict[str, Any]) -> bool:
    for cond in pod.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False

