"""The services' own URLs: ``{double.url}/run.app/REGION/SERVICE`` (and ``.../TAG---SERVICE``
for a tag) serve ``/health`` and ``/metrics`` as the tai-autonomics app does, following the
serving split: while an unhealthy revision (the seed's blue) has traffic, pubsub is
``degraded`` (200), or ``error`` with a 503 when it has the largest share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.gcpdouble.errors import ApiError
from tests.gcpdouble.server import Request, Response, Router
from tests.gcpdouble.timefmt import rfc3339

if TYPE_CHECKING:
    from tests.gcpdouble.double import GcpDouble

SUBSCRIPTION = "erlang-autonomics-signals-sub"


def _split_for(double: GcpDouble, region: str, host: str) -> tuple[str, dict[str, int]]:
    """(service name, {revision: percent}) the URL's requests go to."""
    state = double.state
    tag, _, service = host.rpartition("---")
    with state.lock:
        if (region, service) not in state.services:
            raise ApiError(404, f"no service {service} in {region}")
        if not tag:
            return service, state.serving_split(region, service)
        svc = state.service(region, service)
        for entry in svc.serving:
            if entry.get("tag") == tag:
                name = entry.get("revision") or (state.latest_ready(svc).name if state.latest_ready(svc) else None)
                if name:
                    return service, {name: 100}
        raise ApiError(404, f"no tag {tag} on {service}")


def health(double: GcpDouble, region: str, host: str) -> Response:
    _service, split = _split_for(double, region, host)
    with double.state.lock:
        bad = sum(p for r, p in split.items() if not double.state.revision(region, r).healthy)
    deps = {"supervisors": "ok", "firestore": "ok", "pubsub": "ok"}
    now = rfc3339(double.state.clock())
    if not split:
        return Response(status=503, body={"status": "unavailable", "timestamp": now, "reason": "no revision serves",
                                          "dependencies": deps})
    if bad and _unhealthy_largest(double, region, split):
        deps["pubsub"] = "error"
        return Response(status=503, body={"status": "unavailable", "timestamp": now,
                                          "reason": f"pubsub subscription {SUBSCRIPTION} not found",
                                          "dependencies": deps})
    if bad:
        deps["pubsub"] = "degraded"
    return Response(body={"status": "ok", "timestamp": now, "dependencies": deps})


def _unhealthy_largest(double: GcpDouble, region: str, split: dict[str, int]) -> bool:
    """True when the unhealthy revisions' total share is at least the healthy ones'."""
    bad = sum(p for r, p in split.items() if not double.state.revision(region, r).healthy)
    return bad >= sum(split.values()) - bad


def metrics(double: GcpDouble, region: str, host: str) -> Response:
    service, split = _split_for(double, region, host)
    state = double.state
    with state.lock:
        svc = state.service(region, service)
        elapsed = max(state.clock() - svc.create_time, 1.0)
        total = svc.request_rate * elapsed
        errors = sum(total * p / 100 * state.revision(region, r).error_ratio for r, p in split.items())
    ok = total - errors
    receipts = int(ok * 0.4)
    lines = [
        "# HELP tai_http_requests_total Total HTTP requests handled.",
        "# TYPE tai_http_requests_total counter",
        f'tai_http_requests_total{{method="POST",path="/signals",status="200"}} {int(ok * 0.7)}',
        f'tai_http_requests_total{{method="GET",path="/health",status="200"}} {int(ok * 0.3)}',
        f'tai_http_requests_total{{method="POST",path="/signals",status="503"}} {int(errors)}',
        "# HELP tai_governor_decisions_total Governor decisions taken.",
        "# TYPE tai_governor_decisions_total counter",
        f'tai_governor_decisions_total{{outcome="allow"}} {int(ok * 0.5)}',
        f'tai_governor_decisions_total{{outcome="deny"}} {int(ok * 0.02)}',
        "# HELP tai_governor_active_tenants Tenants with an active governor.",
        "# TYPE tai_governor_active_tenants gauge",
        "tai_governor_active_tenants 7",
        "# HELP tai_receipt_emitted_total Receipts emitted to Firestore.",
        "# TYPE tai_receipt_emitted_total counter",
        f"tai_receipt_emitted_total {receipts}",
        "# HELP tai_receipt_chain_length Length of the receipt hash chain.",
        "# TYPE tai_receipt_chain_length gauge",
        f"tai_receipt_chain_length {receipts}",
        "",
    ]
    return Response(body="\n".join(lines), content_type="text/plain; version=0.0.4; charset=utf-8")


def register(double: GcpDouble, router: Router) -> None:
    base = r"/run\.app/(?P<region>[a-z0-9-]+)/(?P<host>[A-Za-z0-9-]+)"

    def _h(req: Request, region: str, host: str) -> Response:
        return health(double, region, host)

    def _m(req: Request, region: str, host: str) -> Response:
        return metrics(double, region, host)

    def _root(req: Request, region: str, host: str) -> dict[str, Any]:
        service, split = _split_for(double, region, host)
        return {"service": service, "region": region, "revisions": split}

    router.add("GET", base + r"/health", _h, "app", auth=False)
    router.add("GET", base + r"/metrics", _m, "app", auth=False)
    router.add("GET", base + r"/?", _root, "app", auth=False)
