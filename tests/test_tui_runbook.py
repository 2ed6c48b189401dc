"""The runbook view: a Markdown runbook opened in the TUI, its steps run through the
profile's backend with the same forms, confirmations, Runs pane and audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Button, Input

from cockpit.core.runbooks.checklist import ChecklistStore
from cockpit.tui.app import CockpitApp
from cockpit.tui.screens.confirm import ConfirmScreen
from cockpit.tui.screens.params import ParamFormScreen
from cockpit.tui.screens.run_output import RunOutputScreen
from cockpit.tui.screens.runbook import RunbookScreen
from tests.hostile import ESCAPES, assert_inert
from tests.support import async_wait_until
from tests.tui_support import finals, make_context, palette_settled, trail

RUNBOOK = """\
# Tiny runbook

## Checks

```bash
echo "checks ok"
```

Expected output:

```text
checks ok
```

- [ ] paged the on-call
- [ ] opened an incident

## Carry a variable

### Set it

```bash
export GREETING="hello from step one"
```

### Use it

```bash
echo "step two says: $GREETING"
```

## Look up a trace

Replace <TRACE_ID> with the id from the alert.

```bash
echo "looking for <TRACE_ID>"
```

## Clean up

```bash
rm -rf "$TMPDIR/cockpit-runbook-test-nothing"
```

## Not runnable

```erlang
io:format("hi").
```
"""
HIDDEN = "df -h /tmp \x1b]0;$(touch /tmp/pwned)\x07"


@pytest.fixture
def runbook_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.md"
    path.write_text(RUNBOOK)
    return path


@pytest.fixture
def context(tmp_path: Path, runbook_file: Path):
    return make_context(tmp_path, f"name: rb-test\nrunbooks: [{runbook_file.name}]\n",
                        live=False)


def select(screen: RunbookScreen, key: str) -> None:
    screen.steps_table.move_cursor(row=[screen._key(e) for e in screen.entries].index(key))


async def open_screen(app: CockpitApp, pilot) -> RunbookScreen:
    await async_wait_until(lambda: isinstance(app.screen, RunbookScreen), what="runbook view")
    await pilot.pause()
    return app.screen  # type: ignore[return-value]


async def test_opens_with_steps_and_checklist_in_file_order(context, runbook_file):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        keys = [screen._key(e) for e in screen.entries]
        assert keys == ["checks/1", "[ ] checks/check-1", "[ ] checks/check-2",
                        "set-it/1", "use-it/1", "look-up-a-trace/1",
                        "clean-up/1", "not-runnable/1"], keys
        assert "6 steps (5 runnable, 1 dangerous)" in str(screen.query_one("#rb-head")
                                                          .render())
        select(screen, "clean-up/1")
        await pilot.pause()
        detail = screen.detail_text(screen.selected())
        assert "danger: dangerous" in detail and "rm -rf" in detail
        select(screen, "not-runnable/1")
        await pilot.pause()
        assert "not runnable:" in screen.detail_text(screen.selected())
        assert "danger:" not in screen.detail_text(screen.selected())
        assert screen.steps_table.get_cell("not-runnable/1", "danger").plain == "—"
        await pilot.press("enter")  # refused with the reason, nothing recorded
        assert trail(context) == []
        # the document shows the selected block (its own rendered chunk), not just its
        # section's heading
        select(screen, "use-it/1")
        await pilot.pause()
        doc = screen.query_one("#rb-doc")
        chunk = next(w for line, w in screen._chunks
                     if line == screen.runbook.step("use-it/1").line)
        await async_wait_until(
            lambda: doc.scroll_y == min(chunk.virtual_region.y, doc.max_scroll_y),
            what="the document at the block")


async def test_running_a_step_streams_into_runs_and_is_audited_with_its_source(
    context, runbook_file
):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "checks/1")
        await pilot.press("enter")
        await async_wait_until(lambda: "checks/1" in screen.states
                               and screen.states["checks/1"].status == "succeeded",
                               timeout=15, what="the step")
        runs = app.runs_pane
        [entry] = runs.entries.values()
        assert ("stdout", "checks ok") in list(entry.lines)
        [final] = finals(context)
        assert final["status"] == "succeeded"
        assert final["source"]["kind"] == "runbook" and final["source"]["step"] == "checks/1"
        assert final["source"]["path"] == str(runbook_file.resolve())
        assert "✓ ok" in screen.steps_table.get_cell("checks/1", "state").plain
        await pilot.press("o")  # output beside the expected output
        await async_wait_until(lambda: isinstance(app.screen, RunOutputScreen), what="output")
        assert app.screen.expected == "checks ok"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        # closing and opening the view again keeps what ran in this session
        await pilot.press("escape")
        await pilot.pause()
        app.open_runbook(runbook_file)
        again = await open_screen(app, pilot)
        assert again is not screen and again.states["checks/1"].status == "succeeded"
        assert "✓ ok" in again.steps_table.get_cell("checks/1", "state").plain


async def test_a_section_run_carries_exported_variables(context, runbook_file):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "use-it/1")  # R runs the whole ## section, from its first step
        await pilot.press("R")
        await async_wait_until(lambda: screen.states.get("use-it/1") is not None
                               and screen.states["use-it/1"].status == "succeeded",
                               timeout=20, what="both steps")
        second = screen.last_entry["use-it/1"]
        assert ("stdout", "step two says: hello from step one") in list(second.lines)
        steps = [r["source"]["step"] for r in finals(context)]
        assert steps == ["set-it/1", "use-it/1"]


async def test_a_placeholder_is_asked_for_and_passed_as_a_value(context, runbook_file):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "look-up-a-trace/1")
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen), what="form")
        form = app.screen
        form.query_one("#param-TRACE_ID", Input).value = "abc-123; touch /tmp/x"
        form.submit()
        await async_wait_until(lambda: screen.states.get("look-up-a-trace/1") is not None
                               and screen.states["look-up-a-trace/1"].status
                               not in ("running", "pending"), timeout=15, what="the step")
        entry = screen.last_entry["look-up-a-trace/1"]
        assert ("stdout", "looking for abc-123; touch /tmp/x") in list(entry.lines)


async def test_a_dangerous_step_asks_with_cancel_first_and_a_refusal_is_audited(
    context, runbook_file
):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "clean-up/1")
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        confirm = app.screen
        assert app.focused is confirm.query_one("#cancel", Button)
        assert "rm -rf" in str(confirm.query_one("#command").render())
        await pilot.press("enter")  # Cancel
        await async_wait_until(lambda: finals(context), what="the refusal")
        [rec] = finals(context)
        assert rec["decision"] == "DENY" and rec["reason_codes"] == ["NOT_CONFIRMED"]
        assert rec["source"]["step"] == "clean-up/1"
        await async_wait_until(lambda: screen.states["clean-up/1"].status == "denied",
                               what="refused state")
        assert "refused" in screen.steps_table.get_cell("clean-up/1", "state").plain


async def test_space_ticks_checklist_items_and_the_state_is_kept(context, runbook_file):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "[ ] checks/check-2")
        await pilot.press("space")
        await pilot.pause()
        assert "checklist 1/2" in str(screen.query_one("#rb-head").render())
    store = ChecklistStore(screen.runbook)
    assert store.is_checked("checks/check-2") and not store.is_checked("checks/check-1")


async def test_the_palette_lists_profile_runbooks_and_their_steps(context, runbook_file):
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("colon")
        for ch in "tiny checks":
            await pilot.press(ch)
        await palette_settled(pilot, "tiny checks")
        await pilot.press("enter")
        await async_wait_until(lambda: finals(context), timeout=15, what="the step run")
        assert finals(context)[-1]["source"]["step"] == "checks/1"
        # an open view of that runbook shows a step run from the palette
        app.open_runbook(runbook_file)
        screen = await open_screen(app, pilot)
        assert screen.states["checks/1"].status == "succeeded"


async def test_narrow_terminal_shows_steps_and_m_toggles_the_document(context, runbook_file):
    app = CockpitApp(context, runbook=runbook_file)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(app, pilot)
        assert screen.has_class("-narrow")
        assert not screen.query_one("#rb-doc").display
        await pilot.press("m")
        await pilot.pause()
        assert screen.query_one("#rb-doc").display
        await pilot.press("m")
        await pilot.pause()
        assert screen.steps_table.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RunbookScreen)


HOSTILE = f"""\
# Ops {ESCAPES[1]} runbook

## Disk

Check the disk {ESCAPES[0]} first {ESCAPES[3]}.

Every trick: {" | ".join(ESCAPES)}

```bash
{HIDDEN}
```

- [ ] paged {ESCAPES[0]} on-call

## Roll back

```bash
kubectl rollout undo deployment/api -n prod
{"".join(f"echo line {i}{chr(10)}" for i in range(30))}echo LAST-LINE
```
"""


@pytest.fixture
def hostile_file(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.md"
    path.write_text(HOSTILE)
    return path


def rendered(widget) -> str:
    """The text a widget draws (its whole content), line by line."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text for strip in strips)


async def test_a_hostile_runbook_shows_every_escape_visibly(context, hostile_file):
    app = CockpitApp(context, runbook=hostile_file)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "disk/1")
        await pilot.pause()
        head = rendered(screen.query_one("#rb-head"))
        assert "Ops \\e]0;owned-title\\a runbook" in head
        detail = rendered(screen.query_one("#rb-detail-text"))
        assert "df -h /tmp \\e]0;$(touch /tmp/pwned)\\a" in detail
        assert "danger: dangerous" in detail
        document = "\n".join(rendered(w) for _, w in screen._chunks)
        assert "\\e]52;c;ZWNobyBwd25lZA==\\a" in document  # prose and checklist
        assert "$(touch /tmp/pwned)" in document  # the block shows what runs
        assert "\\e]8;;http://evil.invalid" in document and "safe\\u202eexe.txt" in document
        item = screen.steps_table.get_cell("[ ] disk/check-1", "id").plain
        assert item == "paged \\e]52;c;ZWNobyBwd25lZA==\\a on-call"
        for text in (head, detail, document, item):
            assert_inert(text)


def command_view(confirm: ConfirmScreen) -> list[str]:
    """The lines of the confirmation's command box that are on screen now."""
    static = confirm.query_one("#command")
    boxes = confirm.query("#command-box")
    box = boxes.first() if boxes else static  # (the box was the Static itself)
    height = box.scrollable_content_region.height
    crop = Region(0, round(box.scroll_y), static.size.width, height)
    return [strip.text.strip() for strip in static.render_lines(crop)]


async def test_a_step_confirmation_at_80x24_shows_its_lines_first_and_scrolls_by_key(
    context, hostile_file
):
    app = CockpitApp(context, runbook=hostile_file)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(app, pilot)
        select(screen, "roll-back/1")
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        confirm = app.screen
        await async_wait_until(lambda: command_view(confirm)[:1] != [""], what="the box")
        cancel = confirm.query_one("#cancel", Button)
        assert app.focused is cancel
        view = command_view(confirm)
        assert view[0] == "kubectl rollout undo deployment/api -n prod", view
        assert "echo LAST-LINE" not in view
        for _ in range(40):  # pgdn until the step's last line shows, Cancel keeps the focus
            if "echo LAST-LINE" in command_view(confirm):
                break
            await pilot.press("pagedown")
            await pilot.pause()
        assert "echo LAST-LINE" in command_view(confirm)
        assert app.focused is cancel
        await pilot.press("home")
        await pilot.pause()
        assert command_view(confirm)[0] == "kubectl rollout undo deployment/api -n prod"
        for ch in "roll-back/1":  # the dangerous confirmation still needs the id typed
            await pilot.press(ch)
        await async_wait_until(lambda: not confirm.query_one("#confirm", Button).disabled,
                               what="Run enabled")
        await pilot.press("escape")
        await async_wait_until(lambda: finals(context), what="the refusal")
        assert finals(context)[0]["reason_codes"] == ["NOT_CONFIRMED"]


async def test_the_palette_shows_a_hostile_runbook_inert(tmp_path, hostile_file):
    from cockpit.tui.commands import palette_entries

    context = make_context(tmp_path, f"name: rb-test\nrunbooks: [{hostile_file.name}]\n",
                           live=False)
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)):
        assert await app.load_runbook(hostile_file) is not None
        entries = list(palette_entries(app))
        text = "\n".join(f"{e.label}\n{e.help}\n{e.haystack}" for e in entries)
        assert "Open runbook: Ops \\e]0;owned-title\\a runbook" in text
        assert "df -h /tmp \\e]0;$(touch /tmp/pwned)\\a" in text
        assert_inert(text)
