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


async def test_v_narrows_the_logs_to_warnings_then_errors_then_every_level(tmp_path):
    """Cloud Logging's severities arrive as levels: ``v`` keeps ERROR lines only (the
    cockpit's own notices too), a regex on top; Esc shows everything again."""
    from cockpit.core.sources.logs import LogLine
    from cockpit.tui.panes.logs import LogsPane
    from tests.tui_support import PaneHarness, make_context

    context = make_context(tmp_path, "name: quiet\n", live=False)
    app = PaneHarness(lambda: LogsPane(context))
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([
            LogLine("tai-autonomics-00001-grn", "Receipt emitted", 0.0, "info"),
            LogLine("tai-autonomics-00002-blu", "Pub/Sub subscription: NOT_FOUND", 0.0,
                    "error"),
            LogLine("tai-autonomics-00001-grn", "slow Firestore write", 0.0, "warn"),
            LogLine("tai-autonomics-00001-grn", "debugging", 0.0, "debug"),
            LogLine("tai-autonomics", "◆ Cloud Logging throttled: retrying in 2s", 0.0,
                    "cockpit"),
        ])
        pane.flush(None)
        pane.view.focus()
        await pilot.press("v")
        assert pane.level_floor == "warn"
        assert pane.visible_levels() == ["error", "warn", "cockpit"]
        await pilot.press("v")
        assert pane.level_floor == "error"
        assert pane.visible_lines() == ["Pub/Sub subscription: NOT_FOUND",
                                        "◆ Cloud Logging throttled: retrying in 2s"]
        assert "errors: 2 of 5" in pane.status_text
        assert pane.set_filter("Pub/Sub")
        assert pane.visible_count == 1
        await pilot.press("escape")  # every filter off
        assert pane.level_floor is None and pane.visible_count == 5
        await pilot.press("v", "v", "v")  # round the cycle back to every level
        assert pane.level_floor is None and pane.visible_count == 5
