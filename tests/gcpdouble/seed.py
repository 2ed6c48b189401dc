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
    seed_logs = getattr(double, "seed_tai_logs", None)
    if seed_logs is not None:
        seed_logs(backlog=backlog, tick=tick)
    return seeded
