"""Pilot tests of the cockpit app: palette, params form, confirmations, runs, layout, keys."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from cockpit.tui import app as app_module
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.runs import RunsPane
from cockpit.tui.screens.confirm import ConfirmScreen
from cockpit.tui.screens.help import HelpScreen
from cockpit.tui.screens.params import ParamFormScreen
from cockpit.tui.screens.run_output import RunOutputScreen
from cockpit.tui.settings import UserSettings
from tests.support import async_wait_until
from tests.tui_support import finals, make_context, palette_settled, trail

PY = sys.executable

PROFILE = f"""
name: tui-test
actions:
  - id: hello
    title: Say hello
    tags: [greeting]
    run: ["{PY}", -c, "print('hello from action')"]
  - id: greet
    title: Greet someone
    params:
      - {{name: who, type: string, regex: "[a-z]+"}}
      - {{name: times, type: int, min: 1, max: 3, default: 1}}
    run: ["{PY}", -c, "import sys; print(('hi ' + sys.argv[1] + ' ') * int(sys.argv[2]))", "{{who}}", "{{times}}"]
  - id: careful
    title: Careful thing
    danger: caution
    script: echo careful-done
  - id: nuke
    title: Nuke it
    danger: dangerous
    script: echo nuked
  - id: sleepy
    title: Sleep long
    script: |
      echo sleeping
      sleep 300
"""



@pytest.fixture
def context(tmp_path):
    return make_context(tmp_path, PROFILE)


async def open_palette_and_run(pilot, query: str) -> None:
    await pilot.press("colon")
    await pilot.pause()
    for ch in query:
        await pilot.press(ch)
    await palette_settled(pilot, query)
    await pilot.press("enter")
    await pilot.pause()


async def test_palette_runs_a_safe_action_and_audits_it(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "hello")
        runs = app.query_one(RunsPane)
        await async_wait_until(lambda: runs.entries and not runs.running_entries, timeout=15,
                               what="the run to finish")
        [entry] = runs.entries.values()
        assert entry.status == "succeeded"
        assert list(entry.lines) == [("stdout", "hello from action")]
        [final] = finals(context)
        assert final["action"] == "hello" and final["status"] == "succeeded"
        assert final["source"] == {"kind": "tui"}


async def test_params_form_validates_before_running(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "greet")
        await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen), what="form")
        form = app.screen
        form.query_one("#param-who", Input).value = "BAD NAME"
        form.query_one("#param-times", Input).value = "9"
        form.submit()
        await pilot.pause()
        assert isinstance(app.screen, ParamFormScreen)
        assert "does not match" in form.errors["who"]
        assert "above the maximum" in form.errors["times"]
        assert trail(context) == []  # nothing ran, nothing recorded
        form.query_one("#param-who", Input).value = "bob"
        form.query_one("#param-times", Input).value = "2"
        form.submit()
        runs = app.query_one(RunsPane)
        await async_wait_until(lambda: runs.entries and not runs.running_entries, timeout=15,
                               what="the run")
        [entry] = runs.entries.values()
        assert entry.lines[0][1] == "hi bob hi bob "
        assert finals(context)[-1]["params"] == {"who": "bob", "times": 2}


async def test_caution_asks_and_cancel_is_the_default(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "careful")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert app.focused is app.screen.query_one("#cancel", Button)
        await pilot.press("enter")  # Enter on the focused Cancel
        await async_wait_until(lambda: finals(context), what="the denial record")
        [rec] = finals(context)
        assert rec["decision"] == "DENY" and rec["reason_codes"] == ["NOT_CONFIRMED"]
        await open_palette_and_run(pilot, "careful")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        app.screen.query_one("#confirm", Button).press()
        await async_wait_until(lambda: len(finals(context)) == 2, timeout=15, what="the run")
        assert finals(context)[-1]["status"] == "succeeded"


async def test_dangerous_shows_command_and_needs_the_typed_id(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "nuke")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        screen = app.screen
        assert "echo nuked" in str(screen.query_one("#command").render())
        assert screen.query_one("#confirm", Button).disabled
        screen.query_one("#typed", Input).value = "nuk"
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        screen.query_one("#typed", Input).value = "nuke"
        await pilot.pause()
        assert not screen.query_one("#confirm", Button).disabled
        screen.query_one("#typed", Input).focus()
        await pilot.press("enter")  # Enter after the exact id confirms
        await async_wait_until(lambda: finals(context), timeout=15, what="the run")
        assert finals(context)[-1]["status"] == "succeeded"


async def test_dangerous_confirmation_fits_80x24_and_typing_reaches_the_id_box(tmp_path):
    long_script = "\n".join(f"echo line-{i}" for i in range(40)) + "\necho nuked"
    profile = PROFILE.replace("    script: echo nuked", "    script: |\n" + "\n".join(
        "      " + line for line in long_script.splitlines()))
    profile = profile.replace("    title: Nuke it\n", "    title: Nuke it\n    description: "
                              + "A long description that wraps over several lines. " * 4 + "\n")
    context = make_context(tmp_path, profile)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_palette_and_run(pilot, "nuke")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        screen = app.screen
        await pilot.pause()
        dialog = screen.query_one("Vertical").region
        for widget_id in ("#cancel", "#confirm", "#typed"):  # all wholly on screen
            region = screen.query_one(widget_id).region
            assert region.height == 3 and dialog.contains_region(region), (widget_id, region)
        assert app.focused is screen.query_one("#cancel", Button)
        await pilot.press(*"nuke")  # typed with Cancel focused: goes to the id box
        assert screen.query_one("#typed", Input).value == "nuke"
        await pilot.press("enter")
        await async_wait_until(lambda: finals(context), timeout=15, what="the run")
        assert finals(context)[-1]["status"] == "succeeded"


async def test_read_only_lists_but_refuses_with_the_reason(tmp_path):
    context = make_context(tmp_path, PROFILE, read_only=True)
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "nuke")
        await async_wait_until(lambda: finals(context), what="the denial")
        [rec] = finals(context)
        assert rec["reason_codes"] == ["READ_ONLY"]
        runs = app.query_one(RunsPane)
        assert [e.status for e in runs.entries.values()] == ["denied"]


async def test_cancel_a_running_action_with_confirmation(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "sleepy")
        runs = app.query_one(RunsPane)
        await async_wait_until(lambda: runs.entries and list(runs.values_lines())
                               if hasattr(runs, "values_lines") else
                               any(e.lines for e in runs.entries.values()), timeout=15,
                               what="output")
        await pilot.press("5")
        await pilot.press("x")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        app.screen.query_one("#confirm", Button).press()
        await async_wait_until(lambda: not runs.running_entries, timeout=15, what="cancel")
        assert finals(context)[-1]["status"] == "cancelled"


async def test_run_output_view_and_quit_asks_while_running(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_palette_and_run(pilot, "sleepy")
        runs = app.query_one(RunsPane)
        await async_wait_until(lambda: any(e.lines for e in runs.entries.values()), timeout=15,
                               what="output")
        await pilot.press("5", "enter")
        await async_wait_until(lambda: isinstance(app.screen, RunOutputScreen), what="output")
        await pilot.press("escape")
        await pilot.press("q")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="quit prompt")
        await pilot.press("escape")  # stay
        await pilot.pause()
        assert app.is_running and runs.running_entries
        await pilot.press("q")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="quit prompt")
        app.screen.query_one("#confirm", Button).press()
        await async_wait_until(lambda: not app.is_running or not runs.running_entries,
                               timeout=15, what="quit")
    assert finals(context)[-1]["status"] == "cancelled"


async def test_compact_layout_pane_keys_and_fullscreen(context):
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.compact
        for key, pane_id in (("2", "logs"), ("3", "audit"), ("4", "metrics"), ("5", "runs"),
                             ("6", "targets"), ("1", "health")):
            await pilot.press(key)
            await pilot.pause()
            visible = [p.id for p in app.query("Pane") if p.display]
            assert visible == [pane_id]
        assert app.query_one("PaneTabs").display
        await pilot.press("f")
        assert app.full_pane and [p.id for p in app.query("Pane") if p.display] == ["health"]
        assert app.query_one("CockpitHeader").display  # the health state stays in view
        await pilot.pause()
        assert not app.query_one("PaneTabs").display  # something visibly changes at 80x24
        await pilot.press("f")
        assert not app.full_pane
        # tab / shift+tab walk the panes in number order (one pane shown: not stuck in it)
        shown = []
        for _ in range(6):
            await pilot.press("tab")
            await pilot.pause()
            shown.append(next(p.id for p in app.query("Pane") if p.display))
        assert shown == ["logs", "audit", "metrics", "runs", "targets", "health"]
        await pilot.press("shift+tab")
        await pilot.pause()
        assert [p.id for p in app.query("Pane") if p.display] == ["targets"]
        await pilot.press("1")
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert not app.compact
        assert len([p for p in app.query("Pane") if p.display]) == 6
        await pilot.press("3", "f")
        await pilot.pause()
        assert [p.id for p in app.query("Pane") if p.display] == ["audit"]
        await pilot.press("escape")  # esc backs out of full-screen too
        await pilot.pause()
        assert len([p for p in app.query("Pane") if p.display]) == 6


async def test_ctrl_p_opens_the_palette_with_actions_first_and_its_quit_asks(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await palette_settled(pilot, "")
        options = app.screen.query_one("CommandList")
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        ids = ["hello", "greet", "careful", "nuke", "sleepy"]  # actions first, in order
        assert [label.split(" — ")[0] for label in labels[:5]] == ids, labels[:6]
        assert not any(label.startswith("Maximize") for label in labels)  # no Textual extras
        await pilot.press("escape")
        await open_palette_and_run(pilot, "sleepy")
        runs = app.query_one(RunsPane)
        await async_wait_until(lambda: runs.running_entries, timeout=15, what="a running run")
        await open_palette_and_run(pilot, "quit")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="quit prompt")
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and runs.running_entries
        await runs.running_entries[0].prepared.cancel()


async def test_help_lists_bindings_with_ids(context):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await async_wait_until(lambda: isinstance(app.screen, HelpScreen), what="help")
        ids = {row[3] for row in app.screen.rows}
        assert {"app.quit", "app.fullscreen", "app.help"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_remaps_a_binding(tmp_path):
    context = make_context(tmp_path, PROFILE,
                           settings=UserSettings(keymap={"app.help": "h"}))
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("h")
        await async_wait_until(lambda: isinstance(app.screen, HelpScreen), what="help via h")


async def test_themes_are_loaded_and_unknown_theme_falls_back(tmp_path):
    context = make_context(tmp_path, PROFILE, settings=UserSettings(theme="nope"))
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)):
        assert {"cockpit-dark", "cockpit-light", "cockpit-high-contrast"} <= set(
            app.available_themes)
        assert app.theme == "cockpit-dark"
        assert any("unknown theme" in p for p in app.theme_problems)
        assert app.animation_level == "none"


async def test_header_says_a_profile_has_no_health_probes(context):
    """Not "? probing" forever: there is nothing to probe."""
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = app.query_one("CockpitHeader")
        assert "no health probes" in header.render().plain
        assert "probing" not in header.render().plain


@pytest.mark.parametrize("text", [
    'curl -X POST "http://127.0.0.1/chaos" \\', "grep '[a-z]' app.log", "a [b] \\[c]",
    "[bold]not bold[/bold]", "ends with [",
])
def test_palette_text_is_shown_as_itself(text):
    """Markup-escaped palette text reads back unchanged (no doubled trailing backslash)."""
    from textual.content import Content

    from cockpit.tui.commands import markup_safe

    assert Content.from_markup(markup_safe(text)).plain == text


def held_profile(gate: Path) -> str:
    """One probe that answers once ``gate`` exists, and a metric of its latency."""
    return f"""
    name: held-test
    health:
      - name: gated
        kind: command
        interval: 1h
        timeout: 30s
        script: |
          while [ ! -e "{gate}" ]; do sleep 0.02; done
    metrics:
      - name: lat
        kind: probe_latency
        probe: gated
        unit: ms
    """


def mounted_panes(app: CockpitApp) -> list[str]:
    return [p.id for p in app.query("Pane")]


async def test_held_panes_are_mounted_once_every_probe_reported(tmp_path, monkeypatch):
    """At 80x24 on a terminal, only the pane shown is mounted until the first health round
    is on screen; then the others, the Metrics pane fed the results it missed."""
    monkeypatch.setattr(app_module, "HOLD_PANES_AT_MOST", 60.0)
    gate = tmp_path / "gate"
    app = CockpitApp(make_context(tmp_path, held_profile(gate)))
    app.hold_panes = True  # as on a real terminal (run_test's is headless)
    async with app.run_test(size=(80, 24)):
        header = app.query_one("CockpitHeader")
        assert mounted_panes(app) == ["health"]
        assert [t for _, t in app.pane_titles()] == [
            "Health", "Logs", "Audit", "Metrics", "Runs", "Targets"]
        gate.touch()
        await async_wait_until(lambda: len(mounted_panes(app)) == 6, what="panes mounted")
        assert "healthy" in header.render().plain
        assert mounted_panes(app) == ["health", "metrics", "logs", "targets", "audit", "runs"]
        assert app.pane_titles() == [(n, app.panes[n].PANE_TITLE) for n in sorted(app.panes)]
        metrics = app.panes[4]
        await async_wait_until(lambda: metrics.states.get("lat") == "ok", what="latency")
        assert len(metrics._sampler.series("lat").values) == 1


async def test_a_key_mounts_held_panes_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "HOLD_PANES_AT_MOST", 60.0)
    gate = tmp_path / "gate"
    app = CockpitApp(make_context(tmp_path, held_profile(gate)))
    app.hold_panes = True
    async with app.run_test(size=(80, 24)) as pilot:
        assert mounted_panes(app) == ["health"]
        await pilot.press("2")
        await pilot.pause()
        assert len(mounted_panes(app)) == 6
        assert [p.id for p in app.query("Pane") if p.display] == ["logs"]
        await async_wait_until(lambda: app.focused is not None
                               and app.panes[2] in app.focused.ancestors_with_self,
                               what="logs focused")
        gate.touch()
        await async_wait_until(lambda: app.panes[4].states.get("lat") == "ok",
                               what="latency after the panes were mounted")


async def test_held_panes_are_mounted_on_a_wide_terminal_and_without_probes(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(app_module, "HOLD_PANES_AT_MOST", 60.0)
    app = CockpitApp(make_context(tmp_path, PROFILE))  # no probes: after the first frame
    app.hold_panes = True
    async with app.run_test(size=(80, 24)):
        await async_wait_until(lambda: len(mounted_panes(app)) == 6, what="panes mounted")
    gate = tmp_path / "gate"
    app = CockpitApp(make_context(tmp_path, held_profile(gate)))
    app.hold_panes = True
    async with app.run_test(size=(80, 24)) as pilot:
        assert len(mounted_panes(app)) == 1
        await pilot.resize_terminal(200, 50)
        await async_wait_until(lambda: len(mounted_panes(app)) == 6, what="panes mounted")
        gate.touch()
        await async_wait_until(lambda: app.header.health == "ok", what="probe answered")
    app = CockpitApp(make_context(tmp_path, held_profile(gate)))
    app.hold_panes = True
    async with app.run_test(size=(200, 50)):
        assert len(mounted_panes(app)) == 6  # every pane is seen: none held
        await async_wait_until(lambda: app.header.health == "ok", what="probe answered")
