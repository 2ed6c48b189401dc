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



def test_a_services_details_as_lines_through_the_boundary():
    from cockpit.core.boundary import Boundary
    from cockpit.core.sources.target_details import MAX_ITEMS, detail_lines, safe_details

    details = {
        "uri": "https://tai-autonomics-abc-uc.a.run.app",
        "lastModifier": "ops@example.com\x1b]0;pwned\x07",
        "latestReadyRevision": "tai-autonomics-00002-blu",
        "traffic": [{"revision": "tai-autonomics-00001-grn", "percent": 90, "tag": "green",
                     "latest": False},
                    {"revision": "tai-autonomics-00002-blu", "percent": 10, "tag": "blue"}],
        "conditions": [],
        "creator": None,
        "labels": {"team": "sre"},
        "many": list(range(MAX_ITEMS + 5)),
    }
    lines = detail_lines(details, Boundary())
    assert lines[:5] == [
        ("uri", "https://tai-autonomics-abc-uc.a.run.app"),
        ("lastModifier", "ops@example.com\\e]0;pwned\\a"),  # escapes shown, never live
        ("latestReadyRevision", "tai-autonomics-00002-blu"),
        ("traffic", "revision=tai-autonomics-00001-grn percent=90 tag=green latest=False"),
        ("", "revision=tai-autonomics-00002-blu percent=10 tag=blue"),
    ]
    assert ("labels", "team=sre") in lines  # empty ones (conditions, creator) left out
    assert lines[-1][1].endswith("… 5 more")
    safe = safe_details({"a": {"b": {"c": {"d": {"e": 1}}}}, "k": "x" * 2000}, Boundary())
    assert safe["a"]["b"]["c"]["d"] == "…" and len(safe["k"]) < 600
