"""Seeds: ``tai-erlang`` (the runbook's service with a green and a bad blue revision)."""

from __future__ import annotations

from typing import Any

from tests.gcpdouble.double import GcpDouble

PROJECT = "tai-erlang-demo"
SERVICE = "tai-autonomics"
REGIONS = ("us-central1", "europe-west1")
IMAGE = f"us-docker.pkg.dev/{PROJECT}/tai/tai-autonomics"
GREEN = "tai-autonomics-00001-grn"
BLUE = "tai-autonomics-00002-blu"
SUBSCRIPTION = "erlang-autonomics-signals-sub"
SEEDS = ("tai-erlang",)


def seed_tai_erlang(double: GcpDouble, *, tick: float | None = None, backlog: int = 12) -> dict[str, Any]:
    """Seed ``double`` like the tai-erlang runbook; ``tick`` s: append app logs in the background."""
    now = double.state.clock()
    for i, region in enumerate(REGIONS):
        double.add_service(region, SERVICE, create_time=now - 7 * 86400 - i * 3600,
                           update_time=now - 86400)
        double.add_revision(region, SERVICE, GREEN, f"{IMAGE}:1.4.2", create_time=now - 7 * 86400 - i * 3600,
                            p99_ms=120.0, mean_ms=35.0)
    double.add_revision(REGIONS[0], SERVICE, BLUE, f"{IMAGE}:1.5.0", create_time=now - 3600,
                        error_ratio=0.12, p99_ms=850.0, mean_ms=240.0, healthy=False)
    double.set_traffic(REGIONS[0], SERVICE, {GREEN: 100}, tags={GREEN: "green", BLUE: "blue"})
    double.set_traffic(REGIONS[1], SERVICE, {GREEN: 100})
    double.service(REGIONS[0], SERVICE).update_time = now - 3600  # blue's deploy
    double.service(REGIONS[1], SERVICE).update_time = now - 7 * 86400 - 3600
    seeded = {
        "project": PROJECT if double.project == PROJECT else double.project,
        "service": SERVICE,
        "regions": list(REGIONS),
        "green": GREEN,
        "blue": BLUE,
    }
    if double._server is not None:
        seeded["service_url"] = double.state.service_url(REGIONS[0], SERVICE)
    double.seeded.update(seeded)
    seed_tai_logs(double, backlog=backlog, tick=tick)
    return seeded


def green_line(n: int) -> str:
    return f"Receipt emitted: tenant=tenant-{100 + n % 7} receipt=rcpt-{n:06d} chain=ok"


BLUE_ERROR = f"Pub/Sub subscription {SUBSCRIPTION}: NOT_FOUND"


def seed_tai_logs(double: GcpDouble, *, backlog: int, tick: float | None) -> None:
    """A backlog of green INFO lines (both regions), a request log and blue's startup ERROR;
    a writer for ``tick_logs()``: each revision with traffic logs one line per round."""
    now = double.state.clock()
    step = 240.0 / max(backlog, 1)
    for region in REGIONS:
        for i in range(backlog):
            double.append_log(region, SERVICE, GREEN, green_line(i), timestamp=now - 240 + i * step)
    double.append_log(REGIONS[0], SERVICE, GREEN, severity="INFO", timestamp=now - 100.5,
                      http_request={"requestMethod": "GET", "requestUrl": f"{double.seeded.get('service_url', '')}/health",
                                    "status": 200, "latency": "0.012s", "responseSize": "96",
                                    "userAgent": "GoogleHC/1.0", "remoteIp": "35.191.0.1", "protocol": "HTTP/1.1"})
    double.append_log(REGIONS[0], SERVICE, BLUE, severity="ERROR", timestamp=now - 3500,
                      json_payload={"message": BLUE_ERROR, "subscription": SUBSCRIPTION, "module": "gcp_pubsub"})
    counter = iter(range(backlog, 1 << 62))

    def write() -> None:
        n = next(counter)
        for region in REGIONS:
            for rev in double.serving_split(region, SERVICE):
                if double.revision(region, rev).healthy:
                    double.append_log(region, SERVICE, rev, green_line(n))
                else:
                    double.append_log(region, SERVICE, rev, BLUE_ERROR, severity="ERROR")

    double.logs.writers.append(write)
    if tick:
        double.start_log_ticker(tick)
