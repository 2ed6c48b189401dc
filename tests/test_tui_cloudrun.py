"""The TUI on Cloud Run targets at 80x24: services in two regions with their revisions
under them, and the blue-green confirmation with its traffic table and gcloud line."""

from __future__ import annotations

import re
from pathlib import Path

from cockpit.core.backends.base import Health, Target
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.targets import TargetsPane, choose_columns, scope_tells_apart
from cockpit.tui.screens.confirm import ConfirmScreen
from cockpit.tui.screens.target_detail import TargetDetailScreen
from tests.support import async_wait_until
from tests.tui_support import finals, make_context

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



def test_l_on_one_regions_service_shows_that_regions_lines_only():
    from cockpit.tui.panes.logs_buffer import LogBuffer
    from cockpit.tui.panes.targets import child_log_names

    rows = cloudrun_rows()
    us = next(t for t in rows if t.id == "us-central1/tai-autonomics")
    names = child_log_names(us, rows)
    assert "us-central1/tai-autonomics-00001-grn" in names
    assert not any(n.startswith("europe-west1/") for n in names)
    buffer = LogBuffer(100)
    sources = ["us-central1/tai-autonomics-00001-grn", "europe-west1/tai-autonomics-00001-grn"]
    buffer.extend(sources, ["info", "info"], [f"line of {s}" for s in sources])
    buffer.set_source(us.name, names)
    buffer.scan(None)
    shown = [buffer.text(buffer.seq_at(row)) for row in range(buffer.visible_count)]
    assert shown == ["line of us-central1/tai-autonomics-00001-grn"]


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


# -- the tai-erlang profile against the seeded double -----------------------------------

REPO = Path(__file__).resolve().parent.parent
US = "us-central1/tai-autonomics"


def tai_erlang_app(tmp_path: Path, *, live: bool = True) -> CockpitApp:
    """The cockpit on profiles/tai-erlang.yaml (its runbook beside it), its own backend."""
    profile = (REPO / "profiles" / "tai-erlang.yaml").read_text()
    (tmp_path / "tai-erlang-autonomics.md").write_text(
        (REPO / "profiles" / "tai-erlang-autonomics.md").read_text())
    return CockpitApp(make_context(tmp_path, profile, backend=True, live=live))


def rows_shown(pane: TargetsPane) -> list[dict[str, str]]:
    columns = [str(c.key.value) for c in pane.table.ordered_columns]
    return [dict(zip(columns, (cell.plain for cell in pane.table.get_row(row.key)),
                     strict=True)) for row in pane.table.ordered_rows]


def split_of(gcp) -> dict[str, int]:
    """The us-central1 service's serving split, as the double holds it."""
    service = gcp.state.services[("us-central1", "tai-autonomics")]
    return {t["revision"]: t["percent"] for t in service.traffic if t.get("percent")}


async def test_services_and_revisions_in_the_targets_pane_at_80x24(gcp, gcp_env, tmp_path):
    app = tai_erlang_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(TargetsPane)
            await pilot.press("6")
            await async_wait_until(lambda: pane.painted_count == 5, timeout=30,
                                   what="two services and three revisions")
            rows = rows_shown(pane)
            assert [(r["name"], r["scope"], r["state"], r["health"]) for r in rows] == [
                ("tai-autonomics", "europe-west1", "ready", "✓ ok"),
                ("└ tai-autonomics-00001-grn", "europe-west1", "100%", "✓ ok"),
                ("tai-autonomics", "us-central1", "ready", "✓ ok"),
                ("└ tai-autonomics-00001-grn", "us-central1", "100% green", "✓ ok"),
                ("└ tai-autonomics-00002-blu", "us-central1", "0% blue", "✓ ok"),
            ]
            assert str(pane.border_subtitle) == "2 services · 3 revisions"
            header = str(app.header.render())
            assert "tai-erlang-demo us-central1+1" in header and len(header) <= 80
            # Enter on the us-central1 service: its URL and traffic from the backend
            await pilot.press("j", "j")
            await async_wait_until(lambda: pane.selected_target() is not None
                                   and pane.selected_target().id == US, what="selected")
            await pilot.press("enter")
            await async_wait_until(lambda: isinstance(app.screen, TargetDetailScreen)
                                   and app.screen.details is not None, what="the details")
            details = dict(app.screen.details)
            assert details["uri"].endswith("/run.app/us-central1/tai-autonomics")
            assert details["traffic"].startswith("revision=tai-autonomics-00001-grn "
                                                 "percent=100 tag=green")
            await pilot.press("escape")
    finally:
        await app.context.backend.close()


async def open_shift(app: CockpitApp) -> ConfirmScreen:
    """The blue-green shift (blue=10) through the app's own flow, up to its question."""
    app.request_action("blue-green-shift", prefill={"to_tags": "blue=10"})
    await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen)
                           and app.screen.query("#command")
                           and app.focused is app.screen.query_one("#cancel"), timeout=30,
                           what="the confirmation, Cancel focused")
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return screen


async def test_the_blue_green_shift_asks_with_its_table_and_runs(gcp, gcp_env, tmp_path):
    app = tai_erlang_app(tmp_path)
    context = app.context
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_shift(app)
            message = str(screen.query_one("#message").render())
            assert "REVISION                   NOW  AFTER  TAG" in message
            assert re.search(r"tai-autonomics-00002-blu\s+0%\s+10%\s+blue", message)
            assert re.search(r"tai-autonomics-00001-grn\s+100%\s+90%\s+green", message)
            command = str(screen.query_one("#command").render())
            assert command == ("gcloud run services update-traffic tai-autonomics "
                               "--project tai-erlang-demo --region us-central1 "
                               "--to-tags blue=10")
            assert app.focused is screen.query_one("#cancel")
            assert screen.type_to_confirm == "blue-green-shift"
            # on 80x24 the table fills the dialog: the buttons stay on screen, compact
            await async_wait_until(lambda: screen.compact, what="the compact buttons")
            await pilot.pause()
            for button in ("#cancel", "#confirm"):
                region = screen.query_one(button).region
                assert region.height == 1 and region.bottom <= 24, (button, region)
            await pilot.press("enter")  # Cancel, the default
            await async_wait_until(lambda: finals(context), what="the refusal")
            assert finals(context)[-1]["reason_codes"] == ["NOT_CONFIRMED"]
            assert split_of(gcp) == {"tai-autonomics-00001-grn": 100}
            screen = await open_shift(app)
            for key in "blue-green-shift":
                await pilot.press(key)
            await pilot.press("enter")
            await async_wait_until(lambda: len(finals(context)) == 2, timeout=60,
                                   what="the run's outcome")
            final = finals(context)[-1]
            assert final["status"] == "succeeded", final
            assert split_of(gcp) == {"tai-autonomics-00001-grn": 90,
                                     "tai-autonomics-00002-blu": 10}
            # the Targets pane lists again at once (no wait for its next poll)
            pane = app.query_one(TargetsPane)
            await pilot.press("6")
            await async_wait_until(
                lambda: any(r["state"] == "10% blue" for r in rows_shown(pane)),
                timeout=10, what="the new split in pane 6")
    finally:
        await context.backend.close()


# -- the confirmation's snapshot (frozen clock, no live panes, the double's real table) --


def still_app(tmp_path: Path) -> CockpitApp:
    app = tai_erlang_app(tmp_path, live=False)
    app.context.runner.trace_ids = lambda: "00000000-0000-4000-8000-000000000000"
    return app


async def shift_confirmation(pilot) -> ConfirmScreen:
    """The blue-green shift's question on a still app, settled for a snapshot."""
    from tests.snapshot_app import no_blink

    app = pilot.app
    await pilot.pause()
    screen = await open_shift(app)
    await async_wait_until(lambda: screen.compact, what="the compact buttons")
    no_blink(app)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    return screen


def test_snapshot_blue_green_confirmation_80x24(snap_compare, gcp, gcp_env, tmp_path):
    app = still_app(tmp_path)

    async def run_before(pilot) -> None:
        await shift_confirmation(pilot)

    # the backend's client belongs to the snapshot's own event loop, gone when it returns:
    # nothing to close from here (the double closes the connections when it stops)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_blue_green_confirmation_scene_reaches_its_screen(gcp, gcp_env, tmp_path):
    """The run_test twin of the snapshot: the question is on screen, nothing raised."""
    app = still_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await shift_confirmation(pilot)
            assert "Trace id 00000000-0000-4000-8000-000000000000" in str(
                screen.query_one("#message").render())
            assert screen.query_one("#confirm").disabled  # until the id is typed
            await pilot.press("escape")
            await async_wait_until(lambda: not isinstance(app.screen, ConfirmScreen),
                                   what="the question gone")
    finally:
        await app.context.backend.close()


# -- the palette over the tai-erlang runbook's steps ---------------------------------------


def test_fuzzy_match_is_textuals_where_that_is_cheap_and_bounded_where_not():
    import time as clock

    from textual.fuzzy import FuzzySearch

    from cockpit.tui.commands import fuzzy_match

    search = FuzzySearch()
    for query, text in (("bgs", "blue-green-shift"), ("inject", "inject-fault — Inject"),
                        ("xyz", "blue-green-shift"), ("rollback", "rollback")):
        score, offsets = search.match(query, text)
        assert fuzzy_match(search, query, text) == (score, list(offsets))
    step = (REPO / "profiles" / "tai-erlang-autonomics.md").read_text()[:4000]
    started = clock.perf_counter()
    score, offsets = fuzzy_match(search, "recent-errors", step)
    assert clock.perf_counter() - started < 0.5  # Textual's own search: gigabytes
    assert score > 0 and len(offsets) == len("recent-errors")
    assert "".join(step.lower()[i] for i in offsets) == "recent-errors"


async def test_a_long_query_over_the_runbooks_steps_settles(gcp_env, tmp_path):
    """Typing an action's whole id in the palette, with the runbook's steps among the
    entries, lists it first (it ran the cockpit out of memory before)."""
    from textual.command import CommandPalette

    from tests.tui_support import palette_settled

    app = still_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon")
        await async_wait_until(lambda: isinstance(app.screen, CommandPalette),
                               what="the palette")
        for key in "recent-errors":
            await pilot.press(key)
        await palette_settled(pilot, "recent-errors")
        hits = app.screen.query_one("CommandList")
        first = str(hits.get_option_at_index(0).prompt).split("\n")[0]
        assert first.startswith("recent-errors — Recent errors")
        assert hits.option_count > 1  # runbook steps match too
        await pilot.press("escape")


async def test_a_confirmation_too_tall_for_80x24_keeps_its_table_command_and_buttons():
    """A backend's table and a long description: the buttons and id input go compact,
    then the message's tail scrolls; its head (the table), the command and the buttons
    stay on screen."""
    from textual.app import App

    table = ["REVISION                   NOW  AFTER  TAG",
             "tai-autonomics-00002-blu    0%    10%  blue",
             "tai-autonomics-00001-grn  100%    90%  green"]
    words = [f"a long description, line {i}" for i in range(8)]

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ConfirmScreen(
                "DANGEROUS: Update a service's traffic split", "\n".join([*table, *words]),
                command="gcloud run services update-traffic tai-autonomics --to-tags blue=10",
                type_to_confirm="cloudrun.update-traffic"))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen)
                               and app.screen.compact, what="the compact question")
        screen = app.screen
        box = screen.query_one("#message-box")
        await async_wait_until(lambda: box.max_scroll_y > 0, what="the message scrolling")
        await pilot.pause()
        for widget in ("#message-box", "#command-box", "#typed", "#cancel", "#confirm"):
            region = screen.query_one(widget).region
            assert region.height >= 1 and region.bottom <= 24, (widget, region)
        assert box.region.height >= len(table)  # the table in view
        assert screen.query_one("#command-box").region.height >= 1
