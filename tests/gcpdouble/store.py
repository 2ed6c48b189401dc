"""The double's state: services, revisions, long-running operations (one lock for all).

v2 and gcloud's v1 (Knative) views render the SAME objects, so a change made through one
shows through the other. Traffic entries are kept in one neutral form:
``{"revision": str | None (None = latest ready), "percent": int, "tag": str | None}``.
``Service.traffic`` is the spec; ``Service.serving`` the split in effect (what logs, metrics
and the service's URL follow), set when the operation that changed the spec completes.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.gcpdouble.errors import RPC_CODES, ApiError, invalid, not_found


@dataclass
class Revision:
    region: str
    service: str
    name: str
    image: str
    create_time: float
    ready: bool = True
    reason: str = "CONTAINER_MISSING"  # google.cloud.run.v2 Condition.reason when failed
    message: str = ""
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    generation: int = 1
    # behaviour of the app behind it (the service URL, logs, metrics)
    error_ratio: float = 0.0  # share of its requests answered 5xx
    p99_ms: float = 100.0
    mean_ms: float = 40.0
    instances: int = 2  # while it has traffic
    healthy: bool = True  # /health of the app when it gets the request


@dataclass
class Operation:
    name: str
    region: str
    polls_left: int | None  # None: held until complete_operations()
    on_done: Callable[[], None]  # raises ApiError when the operation fails
    kind: str  # "service" | "revision": what metadata/response render
    subject: Any  # the Service, or the (deleted) Revision
    done: bool = False
    error: dict[str, Any] | None = None


@dataclass
class Service:
    region: str
    name: str
    create_time: float
    creator: str = "deployer@tai-erlang-demo.iam.gserviceaccount.com"
    last_modifier: str = "deployer@tai-erlang-demo.iam.gserviceaccount.com"
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    generation: int = 1
    observed_generation: int = 1
    update_time: float = 0.0
    revisions: list[str] = field(default_factory=list)  # oldest first
    traffic: list[dict[str, Any]] = field(default_factory=list)
    serving: list[dict[str, Any]] = field(default_factory=list)
    pending: str | None = None  # the operation reconciling it
    request_rate: float = 10.0  # req/s over all its revisions
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def reconciling(self) -> bool:
        return self.pending is not None

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.uid}/{self.generation}".encode()).hexdigest()[:16]
        return f'"{digest}"'


class State:
    """Every object of one double, guarded by ``lock`` (an RLock: helpers nest)."""

    def __init__(self, project: str, clock: Callable[[], float] = time.time) -> None:
        self.project = project
        self.clock = clock
        self.lock = threading.RLock()
        self.services: dict[tuple[str, str], Service] = {}
        self.revisions: dict[tuple[str, str], Revision] = {}  # (region, revision name)
        self.operations: dict[str, Operation] = {}
        self.op_polls: int | None = 1
        self.regions: list[str] = []
        self.service_url: Callable[[str, str], str] = lambda region, name: f"https://{name}-{region}.run.app"

    # -- lookups -------------------------------------------------------------------------
    def service(self, region: str, name: str) -> Service:
        with self.lock:
            svc = self.services.get((region, name))
            if svc is None:
                raise not_found(f"projects/{self.project}/locations/{region}/services/{name}")
            return svc

    def revision(self, region: str, name: str, service: str | None = None) -> Revision:
        with self.lock:
            rev = self.revisions.get((region, name))
            if rev is None or (service is not None and rev.service != service):
                where = f"services/{service}/" if service else ""
                raise not_found(f"projects/{self.project}/locations/{region}/{where}revisions/{name}")
            return rev

    def services_in(self, region: str) -> list[Service]:
        with self.lock:
            return sorted((s for s in self.services.values() if s.region == region), key=lambda s: s.name)

    def revisions_of(self, svc: Service) -> list[Revision]:
        """Newest first, as the API lists them."""
        with self.lock:
            return [self.revisions[(svc.region, n)] for n in reversed(svc.revisions)]

    def latest_created(self, svc: Service) -> Revision | None:
        with self.lock:
            return self.revisions[(svc.region, svc.revisions[-1])] if svc.revisions else None

    def latest_ready(self, svc: Service) -> Revision | None:
        with self.lock:
            for rev in self.revisions_of(svc):
                if rev.ready:
                    return rev
            return None

    def resolve(self, svc: Service, traffic: list[dict[str, Any]]) -> dict[str, int]:
        """Percent per revision name of a traffic list (``None`` = the latest ready one)."""
        with self.lock:
            out: dict[str, int] = {}
            for entry in traffic:
                name = entry.get("revision")
                if name is None:
                    latest = self.latest_ready(svc)
                    if latest is None:
                        continue
                    name = latest.name
                out[name] = out.get(name, 0) + int(entry.get("percent") or 0)
            return out

    def serving_split(self, region: str, service: str) -> dict[str, int]:
        """The split in effect: percent per revision (those with 0 omitted)."""
        with self.lock:
            svc = self.service(region, service)
            return {k: v for k, v in self.resolve(svc, svc.serving).items() if v > 0}

    # -- mutations -----------------------------------------------------------------------
    def add_service(self, region: str, name: str, **kwargs: Any) -> Service:
        with self.lock:
            now = self.clock()
            svc = Service(region=region, name=name, create_time=kwargs.pop("create_time", now), **kwargs)
            svc.update_time = svc.update_time or svc.create_time
            self.services[(region, name)] = svc
            if region not in self.regions:
                self.regions.append(region)
            return svc

    def add_revision(self, region: str, service: str, name: str, image: str, **kwargs: Any) -> Revision:
        with self.lock:
            svc = self.service(region, service)
            if (region, name) in self.revisions:
                raise ValueError(f"revision {name} exists in {region}")
            rev = Revision(region=region, service=service, name=name, image=image,
                           create_time=kwargs.pop("create_time", self.clock()), **kwargs)
            self.revisions[(region, name)] = rev
            svc.revisions.append(name)
            return rev

    def validate_traffic(self, svc: Service, traffic: list[dict[str, Any]]) -> None:
        """400 unless percents are 0..100 summing to 100, revisions exist, tags are unique."""
        with self.lock:
            if not traffic:
                raise invalid("traffic must name at least one target")
            total, tags = 0, set()
            for entry in traffic:
                pct = entry.get("percent") or 0
                if not isinstance(pct, int) or pct < 0 or pct > 100:
                    raise invalid(f"traffic percent must be an integer between 0 and 100, not {pct!r}")
                total += pct
                name = entry.get("revision")
                if name is not None:
                    rev = self.revisions.get((svc.region, name))
                    if rev is None or rev.service != svc.name:
                        raise invalid(f"Revision named '{name}' does not exist in service '{svc.name}'.")
                tag = entry.get("tag")
                if tag:
                    if tag in tags:
                        raise invalid(f"Tag '{tag}' is used by more than one traffic target.")
                    tags.add(tag)
                if name is None and not entry.get("latest"):
                    raise invalid("a traffic target names a revision or is of type LATEST")
            if total != 100:
                raise invalid(f"Traffic percents must sum to 100, not {total}.")

    def set_traffic(self, region: str, service: str, traffic: list[dict[str, Any]],
                    modifier: str | None = None, etag: str | None = None) -> Operation:
        """Change the spec's traffic (validated); serving follows when the operation completes."""
        with self.lock:
            svc = self.service(region, service)
            if etag and etag != svc.etag:
                raise ApiError(409, f"etag mismatch: the service '{service}' was changed since it was read "
                               f"(expected {svc.etag}, got {etag})", "ABORTED")
            normal = [{"revision": t.get("revision"), "percent": int(t.get("percent") or 0),
                       "tag": t.get("tag") or None, "latest": t.get("revision") is None}
                      for t in traffic]
            self.validate_traffic(svc, normal)
            previous = [dict(t) for t in svc.traffic]
            svc.traffic = normal
            svc.generation += 1
            svc.update_time = self.clock()
            if modifier:
                svc.last_modifier = modifier

            def finish() -> None:
                bad = [n for n, pct in self.resolve(svc, normal).items()
                       if pct > 0 and not self.revisions[(region, n)].ready]
                svc.observed_generation = svc.generation
                svc.pending = None
                if bad:
                    svc.traffic = previous
                    raise ApiError(412, f"Revision '{bad[0]}' is not ready and cannot serve traffic.",
                                   "FAILED_PRECONDITION")
                svc.serving = [dict(t) for t in normal]

            op = self.new_operation(region, finish, "service", svc)
            svc.pending = op.name
            return op

    def apply_traffic_now(self, region: str, service: str, traffic: list[dict[str, Any]]) -> None:
        """Seed helper: spec and serving set at once, no operation, generation bumped."""
        with self.lock:
            svc = self.service(region, service)
            normal = [{"revision": t.get("revision"), "percent": int(t.get("percent") or 0),
                       "tag": t.get("tag") or None, "latest": t.get("revision") is None}
                      for t in traffic]
            self.validate_traffic(svc, normal)
            svc.traffic = normal
            svc.serving = [dict(t) for t in normal]
            svc.update_time = self.clock()

    def delete_revision(self, region: str, service: str | None, name: str) -> Operation:
        with self.lock:
            rev = self.revision(region, name, service)
            svc = self.service(region, rev.service)
            serving = {**self.resolve(svc, svc.traffic), **self.resolve(svc, svc.serving)}
            tagged = {t.get("revision") for t in svc.traffic if t.get("tag")}
            if serving.get(name, 0) > 0 or name in tagged:
                raise ApiError(400, f"Revision '{name}' is receiving traffic (or is tagged) and cannot be "
                               "deleted. Remove it from the service's traffic first.", "FAILED_PRECONDITION")
            del self.revisions[(region, name)]
            svc.revisions.remove(name)
            return self.new_operation(region, lambda: None, "revision", rev)

    def new_operation(self, region: str, on_done: Callable[[], None], kind: str, subject: Any) -> Operation:
        with self.lock:
            name = f"projects/{self.project}/locations/{region}/operations/{uuid.uuid4()}"
            op = Operation(name=name, region=region, polls_left=self.op_polls, on_done=on_done,
                           kind=kind, subject=subject)
            self.operations[name] = op
            if op.polls_left is not None and op.polls_left <= 0:
                self.finish(op)
            return op

    def finish(self, op: Operation) -> None:
        with self.lock:
            if op.done:
                return
            op.done = True
            try:
                op.on_done()
            except ApiError as exc:
                op.error = {"code": RPC_CODES.get(exc.status, 2), "message": exc.message}

    def poll(self, op: Operation) -> None:
        """One poll of an operation (or of the service it reconciles)."""
        with self.lock:
            if op.done or op.polls_left is None:
                return
            op.polls_left -= 1
            if op.polls_left <= 0:
                self.finish(op)

    def poll_service(self, svc: Service) -> None:
        with self.lock:
            if svc.pending and svc.pending in self.operations:
                self.poll(self.operations[svc.pending])

    def complete_operations(self) -> None:
        with self.lock:
            for op in list(self.operations.values()):
                self.finish(op)
