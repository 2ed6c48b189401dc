"""The TUI on Cloud Run targets at 80x24: services in two regions with their revisions
under them, and the blue-green confirmation with its traffic table and gcloud line."""

from __future__ import annotations

from cockpit.core.backends.base import Health, Target
from cockpit.tui.panes.targets import choose_columns, scope_tells_apart

T = 1_790_000_000.0


def cloudrun_rows() -> list[Target]:
    """tai-autonomics in two regions, as the cloudrun backend lists it."""
    rows = []
    for region, revisions in (
            ("us-central1", [("tai-autonomics-00001-grn", "100% green"),
                             ("tai-autonomics-00002-blu", "0% blue")]),
            ("europe-west1", [("tai-autonomics-00001-grn", "100%")])):
        service = f"{region}/tai-autonomics"
        rows.append(Target(service, "tai-autonomics", "service", "ready", scope=region,
                           health=Health("ok", "Ready"), started_at=T - 86_400))
        rows += [Target(f"{service}/{name}", name, "revision", state, scope=region,
                        parent=service, health=Health("ok", "Ready"), started_at=T - 3600)
                 for name, state in revisions]
    return rows


def test_the_region_stays_when_it_is_what_tells_two_services_apart():
    rows = cloudrun_rows()
    assert scope_tells_apart(rows)
    # at 80 columns (78 inside the border) the kind and the age give way, the region not
    assert choose_columns(78, rows) == ("name", "scope", "state", "health", "reason")
    assert choose_columns(200, rows) == ("kind", "name", "scope", "state", "health",
                                         "reason", "age")
    one_region = [t for t in rows if t.scope == "us-central1"]
    assert not scope_tells_apart(one_region)
    assert "scope" not in choose_columns(78, one_region)  # dropped first, as before

