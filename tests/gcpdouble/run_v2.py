"""Cloud Run Admin API v2: services (list, get, PATCH traffic), revisions (list, get, delete),
operations (get). JSON as the API writes it (proto3: zero values and ``false`` omitted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.gcpdouble.errors import ApiError, invalid
from tests.gcpdouble.paging import page
from tests.gcpdouble.server import Request, Response, Router
from tests.gcpdouble.store import Operation, Revision, Service, State
from tests.gcpdouble.timefmt import rfc3339

if TYPE_CHECKING:
    from tests.gcpdouble.double import GcpDouble

REVISION_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
REVISION_MSG_TYPE = "type.googleapis.com/google.cloud.run.v2.Revision"
P = r"projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v not in (None, "", 0, False, [], {})}


def condition(kind: str, ok: bool | None, when: float, reason: str | None = None, message: str | None = None,
              severity: str | None = None) -> dict[str, Any]:
    state = "CONDITION_RECONCILING" if ok is None else ("CONDITION_SUCCEEDED" if ok else "CONDITION_FAILED")
    return _drop_empty({"type": kind, "state": state, "lastTransitionTime": rfc3339(when), "reason": reason,
                        "message": message, "severity": severity})


def traffic_json(entries: list[dict[str, Any]], uri: str | None = None) -> list[dict[str, Any]]:
    out = []
    for t in entries:
        item = {"type": LATEST_TYPE if t.get("revision") is None else REVISION_TYPE,
                "revision": t.get("revision"), "percent": t.get("percent"), "tag": t.get("tag")}
        if uri is not None and t.get("tag"):
            item["uri"] = tag_uri(uri, t["tag"])
        out.append(_drop_empty(item))
    return out


def tag_uri(uri: str, tag: str) -> str:
    head, _, name = uri.rpartition("/")
    return f"{head}/{tag}---{name}"


def service_name(state: State, svc: Service) -> str:
    return f"projects/{state.project}/locations/{svc.region}/services/{svc.name}"


def revision_name(state: State, rev: Revision) -> str:
    return f"projects/{state.project}/locations/{rev.region}/services/{rev.service}/revisions/{rev.name}"


def service_json(state: State, svc: Service) -> dict[str, Any]:
    with state.lock:
        created, ready = state.latest_created(svc), state.latest_ready(svc)
        uri = state.service_url(svc.region, svc.name)
        failed = created is not None and not created.ready
        when = svc.update_time
        if svc.reconciling:
            terminal = condition("Ready", None, when, message="Deploying revision / routing traffic.")
            routes = condition("RoutesReady", None, when)
        elif failed:
            assert created is not None
            terminal = condition("Ready", False, when, reason="REVISION_FAILED", severity="ERROR",
                                 message=f"Revision '{created.name}' is not ready and cannot serve traffic. {created.message}")
            routes = condition("RoutesReady", True, when)
        else:
            terminal = condition("Ready", True, when)
            routes = condition("RoutesReady", True, when)
        configs = condition("ConfigurationsReady", not failed, when,
                            reason="REVISION_FAILED" if failed else None,
                            message=created.message if failed and created else None,
                            severity="ERROR" if failed else None)
        image = created.image if created else ""
        return _drop_empty({
            "name": service_name(state, svc),
            "uid": svc.uid,
            "generation": str(svc.generation),
            "labels": dict(svc.labels) or None,
            "createTime": rfc3339(svc.create_time),
            "updateTime": rfc3339(svc.update_time),
            "creator": svc.creator,
            "lastModifier": svc.last_modifier,
            "ingress": "INGRESS_TRAFFIC_ALL",
            "launchStage": "GA",
            "template": {
                "scaling": {"maxInstanceCount": 100},
                "timeout": "300s",
                "serviceAccount": f"deployer@{state.project}.iam.gserviceaccount.com",
                "containers": [container_json(image)],
                "maxInstanceRequestConcurrency": 80,
            },
            "traffic": traffic_json(svc.traffic),
            "observedGeneration": str(svc.observed_generation),
            "terminalCondition": terminal,
            "conditions": [routes, configs],
            "latestReadyRevision": revision_name(state, ready) if ready else None,
            "latestCreatedRevision": revision_name(state, created) if created else None,
            "trafficStatuses": traffic_json(svc.serving, uri),
            "uri": uri,
            "urls": [uri],
            "reconciling": svc.reconciling,
            "etag": svc.etag,
        })


def container_json(image: str) -> dict[str, Any]:
    return {
        "image": image,
        "ports": [{"name": "http1", "containerPort": 8080}],
        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}, "cpuIdle": True, "startupCpuBoost": True},
        "startupProbe": {"timeoutSeconds": 240, "periodSeconds": 240, "failureThreshold": 1,
                         "tcpSocket": {"port": 8080}},
    }


def revision_json(state: State, rev: Revision) -> dict[str, Any]:
    with state.lock:
        when = rev.create_time
        if rev.ready:
            conds = [condition("ResourcesAvailable", True, when), condition("ContainerHealthy", True, when)]
            ready = condition("Ready", True, when)
        else:
            conds = [condition("ContainerHealthy", False, when, reason=rev.reason, message=rev.message, severity="ERROR")]
            ready = condition("Ready", False, when, reason=rev.reason, message=rev.message, severity="ERROR")
        return _drop_empty({
            "name": revision_name(state, rev),
            "uid": rev.uid,
            "generation": str(rev.generation),
            "labels": {"serving.knative.dev/route": rev.service, "cloud.googleapis.com/location": rev.region},
            "createTime": rfc3339(rev.create_time),
            "updateTime": rfc3339(rev.create_time),
            "launchStage": "GA",
            "service": f"projects/{state.project}/locations/{rev.region}/services/{rev.service}",
            "scaling": {"maxInstanceCount": 100},
            "maxInstanceRequestConcurrency": 80,
            "timeout": "300s",
            "serviceAccount": f"deployer@{state.project}.iam.gserviceaccount.com",
            "containers": [container_json(rev.image)],
            "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
            "conditions": [ready, *conds],
            "observedGeneration": str(rev.generation),
            "logUri": ("https://console.cloud.google.com/logs/viewer?project="
                       f"{state.project}&resource=cloud_run_revision/service_name/{rev.service}"
                       f"/revision_name/{rev.name}"),
            "etag": f'"{rev.uid[:12]}"',
        })


def operation_json(state: State, op: Operation) -> dict[str, Any]:
    with state.lock:
        if op.kind == "service":
            subject = {"@type": SERVICE_TYPE, **service_json(state, op.subject)}
        else:
            subject = {"@type": REVISION_MSG_TYPE, **revision_json(state, op.subject)}
        out: dict[str, Any] = {"name": op.name, "metadata": subject}
        if op.done:
            out["done"] = True
            if op.error:
                out["error"] = op.error
            else:
                out["response"] = subject
        return out


def parse_traffic(body: Any) -> list[dict[str, Any]]:
    """v2 traffic targets to the store's neutral form (400 on a malformed entry)."""
    if not isinstance(body, list):
        raise invalid("traffic must be a list of TrafficTarget")
    out = []
    for item in body:
        if not isinstance(item, dict):
            raise invalid("a TrafficTarget must be an object")
        kind = item.get("type") or (REVISION_TYPE if item.get("revision") else LATEST_TYPE)
        if kind not in (REVISION_TYPE, LATEST_TYPE):
            raise invalid(f"Invalid value at 'service.traffic.type' ({kind!r})")
        if kind == REVISION_TYPE and not item.get("revision"):
            raise invalid("A traffic target of type REVISION must name a revision.")
        pct = item.get("percent", 0)
        if not isinstance(pct, int) or isinstance(pct, bool):
            raise invalid(f"Invalid value at 'service.traffic.percent' ({pct!r})")
        out.append({"revision": item.get("revision") if kind == REVISION_TYPE else None,
                    "percent": pct, "tag": item.get("tag") or None})
    return out


class RunV2:
    """Route handlers of the v2 API over the double's state."""

    def __init__(self, double: GcpDouble) -> None:
        self.double = double
        self.state = double.state

    def register(self, router: Router) -> None:
        add = router.add
        add("GET", rf"/v2/{P}/services", self.list_services, "run")
        add("GET", rf"/v2/{P}/services/(?P<service>[^/:]+)", self.get_service, "run")
        add("PATCH", rf"/v2/{P}/services/(?P<service>[^/:]+)", self.patch_service, "run")
        add("GET", rf"/v2/{P}/services/(?P<service>[^/]+)/revisions", self.list_revisions, "run")
        add("GET", rf"/v2/{P}/services/(?P<service>[^/]+)/revisions/(?P<revision>[^/]+)", self.get_revision, "run")
        add("DELETE", rf"/v2/{P}/services/(?P<service>[^/]+)/revisions/(?P<revision>[^/]+)", self.delete_revision, "run")
        add("GET", rf"/v2/{P}/operations/(?P<op>[^/]+)", self.get_operation, "run")

    def _check(self, project: str, region: str, permission: str) -> None:
        if project != self.state.project:
            raise ApiError(403, f"Permission '{permission}' denied on resource 'projects/{project}/locations/{region}' "
                           "(or resource may not exist).")
        if region == "-":
            raise invalid("The location '-' is not supported by this method: name a region.")

    def list_services(self, req: Request, project: str, region: str) -> dict[str, Any]:
        self._check(project, region, "run.services.list")
        with self.state.lock:
            items = [service_json(self.state, s) for s in self.state.services_in(region)]
        chunk, nxt = page(items, req.param("pageToken"), req.param("pageSize"))
        return _drop_empty({"services": chunk, "nextPageToken": nxt})

    def get_service(self, req: Request, project: str, region: str, service: str) -> dict[str, Any]:
        self._check(project, region, "run.services.get")
        with self.state.lock:
            svc = self.state.service(region, service)
            self.state.poll_service(svc)
            return service_json(self.state, svc)

    def patch_service(self, req: Request, project: str, region: str, service: str) -> dict[str, Any]:
        self._check(project, region, "run.services.update")
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("the body must be a Service")
        mask = [m.strip() for m in (req.param("updateMask") or "").split(",") if m.strip()]
        if not mask and "traffic" in body:
            mask = ["traffic"]
        if mask != ["traffic"]:
            raise invalid(f"the gcp double supports updateMask=traffic only, not {','.join(mask) or '(none)'}")
        traffic = parse_traffic(body.get("traffic"))
        with self.state.lock:
            svc = self.state.service(region, service)
            if req.param("validateOnly") == "true":
                neutral = [{**t, "latest": t["revision"] is None} for t in traffic]
                if body.get("etag") and body["etag"] != svc.etag:
                    raise ApiError(409, "etag mismatch", "ABORTED")
                self.state.validate_traffic(svc, neutral)
                op = self.state.new_operation(region, lambda: None, "service", svc)
                self.state.finish(op)
                return operation_json(self.state, op)
            op = self.state.set_traffic(region, service, traffic, modifier=self.double.caller(req),
                                        etag=body.get("etag"))
            return operation_json(self.state, op)

    def list_revisions(self, req: Request, project: str, region: str, service: str) -> dict[str, Any]:
        self._check(project, region, "run.revisions.list")
        with self.state.lock:
            svc = self.state.service(region, service)
            items = [revision_json(self.state, r) for r in self.state.revisions_of(svc)]
        chunk, nxt = page(items, req.param("pageToken"), req.param("pageSize"))
        return _drop_empty({"revisions": chunk, "nextPageToken": nxt})

    def get_revision(self, req: Request, project: str, region: str, service: str, revision: str) -> dict[str, Any]:
        self._check(project, region, "run.revisions.get")
        with self.state.lock:
            return revision_json(self.state, self.state.revision(region, revision, service))

    def delete_revision(self, req: Request, project: str, region: str, service: str, revision: str) -> dict[str, Any]:
        self._check(project, region, "run.revisions.delete")
        with self.state.lock:
            op = self.state.delete_revision(region, service, revision)
            return operation_json(self.state, op)

    def get_operation(self, req: Request, project: str, region: str, op: str) -> dict[str, Any] | Response:
        self._check(project, region, "run.operations.get")
        name = f"projects/{project}/locations/{region}/operations/{op}"
        with self.state.lock:
            found = self.state.operations.get(name)
            if found is None:
                raise ApiError(404, f"Operation '{name}' was not found.")
            self.state.poll(found)
            return operation_json(self.state, found)
