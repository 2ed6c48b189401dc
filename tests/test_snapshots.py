"""Snapshots of the main screen, palette, params form, dangerous confirmation, help and
metric chart at 80x24 and 120x40, each paired with a run_test test that would raise
(a crashed app can snapshot as a blank screen)."""

from __future__ import annotations

import pytest

from cockpit.tui.panes.metrics import MetricsPane
from cockpit.tui.panes.targets import TargetsPane
from cockpit.tui.screens.chart import ChartScreen
from cockpit.tui.screens.confirm import ConfirmScreen
from cockpit.tui.screens.help import HelpScreen
from cockpit.tui.screens.params import ParamFormScreen
from tests.snapshot_app import feed, no_blink, snapshot_app
from tests.support import async_wait_until
from tests.tui_support import palette_settled

SIZES = [(80, 24), (120, 40)]


async def settle(pilot) -> None:
    feed(pilot.app)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def before(*keys: str, text: str = ""):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        for ch in text:
            await pilot.press(ch)
        if text:
            await palette_settled(pilot, text)
        no_blink(pilot.app)
        await pilot.pause()

    return run_before


SCENES = {
    "main": ((), ""),
    "palette": (("colon",), "inject"),
    "params": (("colon",), "stress-test"),
    "dangerous": (("colon",), "inject-fault"),
    "help": (("question_mark",), ""),
    "chart": (("4", "k", "k", "k", "k", "k", "k", "k", "j", "j", "j", "enter"), ""),
}


def _keys(scene: str) -> tuple[tuple[str, ...], str]:
    return SCENES[scene]


def footer_settled(app) -> bool:
    """The main screen's footer shows its keys and has no recompose pending: nothing in
    its queue (a recompose is posted to it), none of the screen's after-refresh callbacks
    left (where it then waits), every key mounted and laid out (a place in the screen's
    map: keys mounted after the last layout are not drawn)."""
    from textual.widgets import Footer

    main = app.screen_stack[0]
    footer = main.query_one(Footer)
    keys = main.query("FooterKey")
    return (len(keys) >= 4 and footer.message_queue_size == 0 and not main._callbacks
            and all(key.is_mounted for key in keys)
            and sum(1 for key in keys if key.region.area) >= 4)


async def after_palette(pilot, scene: str) -> None:
    """Params and dangerous: Enter on the hit opens the form (waited for, fields built);
    dangerous then submits kind=errors and waits for the confirmation's command box."""
    if scene not in ("params", "dangerous"):
        return
    from textual.command import CommandList, CommandPalette

    app = pilot.app

    hits = app.screen.query_one(CommandList)
    assert isinstance(app.screen, CommandPalette)
    if hits.highlighted is None:  # Enter then picks the highlighted hit, and only that
        await pilot.press("down")
        await async_wait_until(lambda: hits.highlighted is not None, what="a hit highlighted")
    await pilot.press("enter")
    await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen)
                           and app.screen.query("Input, Select"), what="the params form")
    # the main screen's footer, seen below the form, recomposes when the palette closes
    # and again as the screens change (after a refresh): wait for its keys with no
    # recompose still on its way (clean-clone CI runs caught it empty)
    await async_wait_until(lambda: footer_settled(app), what="the footer's keys below the form")
    await pilot.pause()
    if scene == "dangerous":
        app.screen.query_one("#param-kind").value = "errors"
        app.screen.submit()
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen)
                               and app.screen.query("#command"), what="the confirmation")
        await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_snapshot(scene, size, snap_compare, tmp_path):
    keys, text = _keys(scene)

    async def run_before(pilot) -> None:
        await before(*keys, text=text)(pilot)
        await after_palette(pilot, scene)
        no_blink(pilot.app)
        await pilot.pause()
        if scene in ("main", "params", "dangerous"):  # the main screen's footer is seen:
            # settled again after the last pause (a loaded clean-clone CI run caught the
            # params form over an empty footer, recomposed after the wait above)
            await async_wait_until(lambda: footer_settled(pilot.app),
                                   what="the footer's keys at the snapshot")

    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=run_before)


EXPECTED_SCREEN = {
    "main": None,
    "palette": "CommandPalette",
    "params": ParamFormScreen,
    "dangerous": ConfirmScreen,
    "help": HelpScreen,
    "chart": ChartScreen,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
async def test_scene_reaches_its_screen_without_errors(scene, size, tmp_path):
    """The run_test twin of each snapshot: the scene is really on screen, nothing raised."""
    app = snapshot_app(tmp_path)
    keys, text = _keys(scene)
    async with app.run_test(size=size) as pilot:
        await before(*keys, text=text)(pilot)
        await after_palette(pilot, scene)
        expected = EXPECTED_SCREEN[scene]
        if expected is None:
            assert app.query_one(MetricsPane).states["QEK"] == "crit"
        elif isinstance(expected, str):
            await async_wait_until(lambda: type(app.screen).__name__ == expected, what=scene)
        else:
            await async_wait_until(lambda: isinstance(app.screen, expected), what=scene)
        if scene == "dangerous":
            assert app.screen.type_to_confirm == "inject-fault"
            await async_wait_until(lambda: app.screen.query("#command"), what="command box")
            assert "inject-fault --kind errors" in str(app.screen.query_one("#command").render())
        if scene == "chart":
            assert app.screen.metric.name == "QEK"


LONG_STEP = (
    "# Ops\n\n## Roll back\n\n```bash\nkubectl rollout undo deployment/api -n prod\n"
    + "".join(f"echo line {i}\n" for i in range(30))
    + "echo LAST-LINE\n```\n"
)


async def open_step_confirmation(pilot) -> ConfirmScreen:
    """The app's confirmation of a long dangerous runbook step, through its own flow."""
    from cockpit.core.runbooks.parser import parse_text
    from cockpit.core.runbooks.session import RunbookSession

    app = pilot.app
    await settle(pilot)
    runbook = parse_text(LONG_STEP, "hostile.md")
    step = runbook.steps[0]
    # the session's request (the step's lines first), shown by the app's confirm_run
    session = RunbookSession(runbook, app.context.runner,
                             confirm=lambda _step, request: app.confirm_run(request))
    app.run_worker(session.run([step]))
    await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
    screen = app.screen
    await async_wait_until(lambda: "scroll" in str(screen.query_one("#scroll-hint").render()),
                           what="the scroll hint")
    no_blink(app)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    return screen


def test_snapshot_runbook_step_confirmation_80x24(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        await open_step_confirmation(pilot)

    app = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_runbook_step_confirmation_scene_shows_the_step_first(tmp_path):
    """The run_test twin: the step's first line opens the box, nothing raised."""
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step_confirmation(pilot)
        text = str(screen.query_one("#command").render())
        assert text.startswith("kubectl rollout undo deployment/api -n prod\necho line 0")
        assert text.index("echo LAST-LINE") < text.index("bash -euo pipefail <<'SCRIPT'")
        assert app.focused is screen.query_one("#cancel")


async def open_targets(pilot) -> TargetsPane:
    """Pane 6 with the frozen targets, the failing process selected."""
    app = pilot.app
    await settle(pilot)
    await pilot.press("6")
    app.clear_notifications()  # the metrics' toasts would cover the pane
    pane = app.query_one(TargetsPane)
    await async_wait_until(lambda: pane.display and pane.painted_count == 4,
                           what="the targets painted")
    await pilot.press("j", "j")
    await async_wait_until(lambda: pane.selected_target() is not None
                           and pane.selected_target().name == "demo-worker",
                           what="the failing process selected")
    await pilot.pause()
    return pane


def test_snapshot_targets_pane_80x24(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        await open_targets(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


async def test_targets_scene_shows_the_tree_and_health_words(tmp_path):
    """The run_test twin: pane 6 is on screen with its rows, nothing raised."""
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_targets(pilot)
        columns = [str(c.key.value) for c in pane.table.ordered_columns]
        assert columns == ["kind", "name", "state", "health", "reason", "restarts", "age",
                           "mem"]  # scope and cpu left out at this width
        rows = [dict(zip(columns, (cell.plain for cell in pane.table.get_row(row.key)),
                         strict=True)) for row in pane.table.ordered_rows]
        assert [row["name"] for row in rows] == ["demo", "└ demo-api", "└ demo-worker",
                                                 "cache"]
        health = {row["name"].lstrip("└ "): row["health"] for row in rows}
        assert health == {"cache": "? unknown", "demo": "✓ ok", "demo-api": "✓ ok",
                          "demo-worker": "✗ FAIL"}
        assert "6 Targets" in str(app.query_one("PaneTabs").render())
        assert str(pane.border_subtitle) == "1 service · 2 processes · 1 container · 1 failing"
