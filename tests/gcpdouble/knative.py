"""gcloud's view: the Cloud Run v1 (Knative serving) API over the SAME state as v2.

Regional host ``REGION-run.fake``: ``/apis/serving.knative.dev/v1/namespaces/P/services[/S]``
(GET, PUT replacing the object: only ``spec.traffic`` is applied, ``metadata.resourceVersion``
checked), ``.../revisions[?labelSelector=...]``, ``.../revisions/R`` (GET, DELETE).
Global host ``run.fake``: ``/v1/projects/P/locations/L/services[/S]`` (L ``-``: all regions).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tests.gcpdouble.errors import ApiError, invalid
from tests.gcpdouble.server import Request, Router
from tests.gcpdouble.store import Revision, Service, State
from tests.gcpdouble.timefmt import rfc3339

if TYPE_CHECKING:
    from tests.gcpdouble.double import GcpDouble

API_VERSION = "serving.knative.dev/v1"
PROJECT_NUMBER = "123456789012"
NS = r"/apis/serving\.knative\.dev/v1/namespaces/(?P<ns>[^/]+)"


def _cond(kind: str, ok: bool | None, when: float, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    out = {"type": kind, "status": "Unknown" if ok is None else ("True" if ok else "False"),
           "lastTransitionTime": rfc3339(when, nanos=False)}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    if ok is False:
        out["severity"] = "Error"
    return out


def _traffic(entries: list[dict[str, Any]], state: State, svc: Service, uri: str | None) -> list[dict[str, Any]]:
    out = []
    for t in entries:
        item: dict[str, Any] = {}
        if t.get("revision") is None:
            item["latestRevision"] = True
            if uri is not None:  # status names the revision it resolved to
                latest = state.latest_ready(svc)
                if latest is not None:
                    item["revisionName"] = latest.name
        else:
            item["revisionName"] = t["revision"]
        if t.get("percent"):
            item["percent"] = t["percent"]
        if t.get("tag"):
            item["tag"] = t["tag"]
            if uri is not None:
                head, _, name = uri.rpartition("/")
                item["url"] = f"{head}/{t['tag']}---{name}"
        out.append(item)
    return out


def resource_version(svc: Service) -> str:
    return hashlib.sha256(f"{svc.uid}/{svc.generation}".encode()).hexdigest()[:16]


def service_v1(state: State, svc: Service) -> dict[str, Any]:
    with state.lock:
        created, ready = state.latest_created(svc), state.latest_ready(svc)
        uri = state.service_url(svc.region, svc.name)
        failed = created is not None and not created.ready
        when = svc.update_time
        if svc.reconciling:
            conds = [_cond("Ready", None, when, "Deploying", "Routing traffic."),
                     _cond("ConfigurationsReady", True, when), _cond("RoutesReady", None, when)]
        elif failed:
            assert created is not None
            msg = f"Revision '{created.name}' is not ready and cannot serve traffic. {created.message}"
            conds = [_cond("Ready", False, when, "RevisionFailed", msg),
                     _cond("ConfigurationsReady", False, when, "RevisionFailed", msg),
                     _cond("RoutesReady", True, when)]
        else:
            conds = [_cond("Ready", True, when), _cond("ConfigurationsReady", True, when),
                     _cond("RoutesReady", True, when)]
        status: dict[str, Any] = {
            "observedGeneration": svc.observed_generation,
            "conditions": conds,
            "traffic": _traffic(svc.serving, state, svc, uri),
            "url": uri,
            "address": {"url": uri},
        }
        if created is not None:
            status["latestCreatedRevisionName"] = created.name
        if ready is not None:
            status["latestReadyRevisionName"] = ready.name
        return {
            "apiVersion": API_VERSION,
            "kind": "Service",
            "metadata": {
                "name": svc.name,
                "namespace": PROJECT_NUMBER,
                "selfLink": f"/apis/serving.knative.dev/v1/namespaces/{PROJECT_NUMBER}/services/{svc.name}",
                "uid": svc.uid,
                "resourceVersion": resource_version(svc),
                "generation": svc.generation,
                "creationTimestamp": rfc3339(svc.create_time, nanos=False),
                "labels": {"cloud.googleapis.com/location": svc.region, **svc.labels},
                "annotations": {
                    "serving.knative.dev/creator": svc.creator,
                    "serving.knative.dev/lastModifier": svc.last_modifier,
                    "run.googleapis.com/ingress": "all",
                    "run.googleapis.com/ingress-status": "all",
                    "run.googleapis.com/urls": f'["{uri}"]',
                },
            },
            "spec": {
                "template": {
                    "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "100"}},
                    "spec": _revision_spec(state, created.image if created else ""),
                },
                "traffic": _traffic(svc.traffic, state, svc, None),
            },
            "status": status,
        }


def _revision_spec(state: State, image: str) -> dict[str, Any]:
    return {
        "containerConcurrency": 80,
        "timeoutSeconds": 300,
        "serviceAccountName": f"deployer@{state.project}.iam.gserviceaccount.com",
        "containers": [{"image": image, "ports": [{"name": "http1", "containerPort": 8080}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}}}],
    }


def revision_v1(state: State, rev: Revision) -> dict[str, Any]:
    with state.lock:
        svc = state.service(rev.region, rev.service)
        serving = state.resolve(svc, svc.serving).get(rev.name, 0) > 0
        labels = {
            "serving.knative.dev/configuration": rev.service,
            "serving.knative.dev/configurationGeneration": str(rev.generation),
            "serving.knative.dev/service": rev.service,
            "serving.knative.dev/serviceUid": svc.uid,
            "cloud.googleapis.com/location": rev.region,
        }
        if serving:
            labels["serving.knative.dev/route"] = rev.service
        when = rev.create_time
        if rev.ready:
            conds = [_cond("Ready", True, when), _cond("Active", serving, when, None if serving else "Reserve"),
                     _cond("ContainerHealthy", True, when), _cond("ResourcesAvailable", True, when)]
        else:
            conds = [_cond("Ready", False, when, rev.reason.title().replace("_", ""), rev.message),
                     _cond("ContainerHealthy", False, when, rev.reason.title().replace("_", ""), rev.message)]
        digest = hashlib.sha256(rev.image.encode()).hexdigest()
        return {
            "apiVersion": API_VERSION,
            "kind": "Revision",
            "metadata": {
                "name": rev.name,
                "namespace": PROJECT_NUMBER,
                "selfLink": f"/apis/serving.knative.dev/v1/namespaces/{PROJECT_NUMBER}/revisions/{rev.name}",
                "uid": rev.uid,
                "resourceVersion": rev.uid[:16],
                "generation": rev.generation,
                "creationTimestamp": rfc3339(rev.create_time, nanos=False),
                "labels": labels,
                "annotations": {"serving.knative.dev/creator": svc.creator,
                                "autoscaling.knative.dev/maxScale": "100"},
                "ownerReferences": [{"kind": "Configuration", "name": rev.service, "uid": svc.uid,
                                     "apiVersion": API_VERSION, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": _revision_spec(state, rev.image),
            "status": {
                "observedGeneration": rev.generation,
                "conditions": conds,
                "logUrl": ("https://console.cloud.google.com/logs/viewer?project="
                           f"{state.project}&resource=cloud_run_revision/service_name/{rev.service}"
                           f"/revision_name/{rev.name}"),
                "imageDigest": f"{rev.image.split(':')[0]}@sha256:{digest}",
                "serviceName": rev.service,
            },
        }


def _selector(text: str | None) -> list[tuple[str, str, set[str]]]:
    """``k=v,k!=v,k in (a,b)`` as (key, op, values)."""
    out: list[tuple[str, str, set[str]]] = []
    if not text:
        return out
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for part in (p.strip() for p in parts if p.strip()):
        if " in " in part or " notin " in part:
            op = "notin" if " notin " in part else "in"
            key, _, rest = part.partition(f" {op} ")
            out.append((key.strip(), op, {v.strip() for v in rest.strip().strip("()").split(",")}))
        elif "!=" in part:
            key, _, value = part.partition("!=")
            out.append((key.strip(), "!=", {value.strip()}))
        elif "=" in part:
            key, _, value = part.replace("==", "=").partition("=")
            out.append((key.strip(), "=", {value.strip()}))
        else:
            raise invalid(f"Unsupported labelSelector term {part!r}")
    return out


def _matches(labels: dict[str, str], terms: list[tuple[str, str, set[str]]]) -> bool:
    for key, op, values in terms:
        value = labels.get(key)
        if op in ("=", "in") and value not in values:
            return False
        if op in ("!=", "notin") and value in values:
            return False
    return True


def _parse_traffic(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise invalid("spec.traffic must list at least one target")
    out = []
    for t in items:
        if not isinstance(t, dict):
            raise invalid("a traffic target must be an object")
        latest = bool(t.get("latestRevision"))
        name = None if latest else t.get("revisionName")
        if not latest and not name:
            raise invalid("a traffic target names a revisionName or sets latestRevision")
        out.append({"revision": name, "percent": int(t.get("percent") or 0), "tag": t.get("tag") or None})
    return out


class KnativeV1:
    """Handlers of gcloud's v1 API over the double's state."""

    def __init__(self, double: GcpDouble) -> None:
        self.double = double
        self.state = double.state

    def _ns(self, ns: str) -> None:
        if ns not in (self.state.project, PROJECT_NUMBER):
            raise ApiError(403, f"Permission 'run.services.list' denied on resource 'namespaces/{ns}' "
                           "(or resource may not exist).")

    def register(self, router: Router) -> None:
        add = router.add
        add("GET", NS + r"/services", self.list_services, "run-v1-regional")
        add("GET", NS + r"/services/(?P<name>[^/]+)", self.get_service, "run-v1-regional")
        add("PUT", NS + r"/services/(?P<name>[^/]+)", self.replace_service, "run-v1-regional")
        add("GET", NS + r"/revisions", self.list_revisions, "run-v1-regional")
        add("GET", NS + r"/revisions/(?P<name>[^/]+)", self.get_revision, "run-v1-regional")
        add("DELETE", NS + r"/revisions/(?P<name>[^/]+)", self.delete_revision, "run-v1-regional")
        glob = r"/v1/projects/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)"
        add("GET", glob + r"/services", self.list_global, "run-v1")
        add("GET", glob + r"/services/(?P<name>[^/]+)", self.get_global, "run-v1")

    def _list(self, regions: list[str], req: Request) -> dict[str, Any]:
        with self.state.lock:
            items = [service_v1(self.state, s) for r in regions for s in self.state.services_in(r)]
        terms = _selector(req.param("labelSelector"))
        items = [i for i in items if _matches(i["metadata"]["labels"], terms)]
        return {"apiVersion": API_VERSION, "kind": "ServiceList", "metadata": {"resourceVersion": "1",
                "selfLink": f"/apis/serving.knative.dev/v1/namespaces/{PROJECT_NUMBER}/services"}, "items": items}

    def list_services(self, req: Request, ns: str) -> dict[str, Any]:
        self._ns(ns)
        assert req.region is not None
        return self._list([req.region], req)

    def list_global(self, req: Request, ns: str, loc: str) -> dict[str, Any]:
        self._ns(ns)
        return self._list(list(self.state.regions) if loc == "-" else [loc], req)

    def get_global(self, req: Request, ns: str, loc: str, name: str) -> dict[str, Any]:
        self._ns(ns)
        return self._get(loc, name)

    def _get(self, region: str, name: str) -> dict[str, Any]:
        with self.state.lock:
            try:
                svc = self.state.service(region, name)
            except ApiError:
                raise ApiError(404, f"Resource 'services/{name}' of kind 'SERVICE' in region '{region}' "
                               f"in project '{self.state.project}' does not exist.") from None
            self.state.poll_service(svc)
            return service_v1(self.state, svc)

    def get_service(self, req: Request, ns: str, name: str) -> dict[str, Any]:
        self._ns(ns)
        assert req.region is not None
        return self._get(req.region, name)

    def replace_service(self, req: Request, ns: str, name: str) -> dict[str, Any]:
        self._ns(ns)
        region = req.region
        assert region is not None
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise invalid("the body must be a Service with a spec")
        with self.state.lock:
            svc = self.state.service(region, name)
            version = (body.get("metadata") or {}).get("resourceVersion")
            if version and version != resource_version(svc):
                raise ApiError(409, f"Conflict for resource '{name}': version '{version}' was specified but "
                               f"current version is '{resource_version(svc)}'.", "ABORTED")
            traffic = _parse_traffic(body["spec"].get("traffic"))
            self.state.set_traffic(region, name, traffic, modifier=self.double.caller(req))
            return service_v1(self.state, svc)

    def list_revisions(self, req: Request, ns: str) -> dict[str, Any]:
        self._ns(ns)
        assert req.region is not None
        with self.state.lock:
            items = [revision_v1(self.state, r) for s in self.state.services_in(req.region)
                     for r in self.state.revisions_of(s)]
        terms = _selector(req.param("labelSelector"))
        items = [i for i in items if _matches(i["metadata"]["labels"], terms)]
        return {"apiVersion": API_VERSION, "kind": "RevisionList", "metadata": {"resourceVersion": "1",
                "selfLink": f"/apis/serving.knative.dev/v1/namespaces/{PROJECT_NUMBER}/revisions"}, "items": items}

    def get_revision(self, req: Request, ns: str, name: str) -> dict[str, Any]:
        self._ns(ns)
        assert req.region is not None
        with self.state.lock:
            return revision_v1(self.state, self.state.revision(req.region, name))

    def delete_revision(self, req: Request, ns: str, name: str) -> dict[str, Any]:
        self._ns(ns)
        assert req.region is not None
        with self.state.lock:
            op = self.state.delete_revision(req.region, None, name)
            self.state.finish(op)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "kind": "revisions"}}


def register(double: GcpDouble, router: Router) -> None:
    KnativeV1(double).register(router)
