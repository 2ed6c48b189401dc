"""The Logs pane: real files followed live, filter and match cursor, follow, wrap, bounds,
long lines, escape sequences, redaction, resize and a clean shutdown."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Input

from cockpit.core.errors import CockpitError
from cockpit.core.sources.logs import LogLine
from cockpit.tui.panes.logs import DISPLAY_CHARS, LogsPane
from cockpit.tui.panes.logs_buffer import LogBuffer
from cockpit.tui.settings import UserSettings
from tests.hostile import PEM_KEY, assert_inert
from tests.support import async_wait_until
from tests.tui_support import PaneHarness, make_context


def test_buffer_bound_seqs_and_a_resumable_filter_scan():
    cleaned: list[str] = []

    def clean(raw: str) -> str:
        cleaned.append(raw)
        return raw.upper()

    buffer = LogBuffer(5, clean)
    assert buffer.extend(["a"] * 3, [""] * 3, ["l0", "l1", "l2"]) == (3, 0)
    assert buffer.extend(["a"] * 4, [""] * 4, ["l3", "l4", "l5", "l6"]) == (4, 2)
    assert (buffer.first_seq, buffer.next_seq, buffer.evicted) == (2, 7, 2)
    assert buffer.text(buffer.seq_at(0)) == "L2" and cleaned == ["l2"]  # cleaned lazily
    assert buffer.row_of(1) is None and buffer.row_of(6) == 4
    buffer.set_pattern(re.compile("L[3-9]"))
    assert buffer.scanning and buffer.visible_count == 0
    assert buffer.scan(deadline=0.0, chunk=2) == 1  # past its deadline: one chunk only
    assert buffer.scanning and 0 < buffer.scan_progress < 1
    assert buffer.scan() == 3 and not buffer.scanning
    assert [buffer.text(buffer.seq_at(r)) for r in range(4)] == ["L3", "L4", "L5", "L6"]
    assert buffer.extend(["a"] * 2, [""] * 2, ["l7", "x8"]) == (0, 1)  # l2, l3 out: 1 shown
    assert buffer.scan() == 1 and buffer.visible_count == 4  # l7 matches, x8 does not


def two_files(tmp_path: Path) -> tuple[Path, Path, str]:
    api, worker = tmp_path / "api.log", tmp_path / "worker.log"
    api.write_text("")
    worker.write_text("")
    profile = f"""
    name: logs-test
    logs:
      - {{kind: file, name: api, path: {api}}}
      - {{kind: file, name: worker, path: {worker}}}
    """
    return api, worker, profile


def one_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "app.log"
    path.write_text("")
    return path, f"""
    name: logs-test
    logs:
      - {{kind: file, name: app, path: {path}}}
    """


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


async def wait_lines(pane: LogsPane, count: int) -> None:
    await async_wait_until(lambda: pane.line_count >= count, what=f"{count} lines")


def row_with(pane: LogsPane, text: str) -> int:
    return next(i for i, row in enumerate(pane.rendered_text()) if text in row)


def harness(context) -> PaneHarness:
    return PaneHarness(lambda: LogsPane(context))


async def test_two_files_followed_merged_tagged_and_levels_marked(tmp_path):
    api, worker, profile = two_files(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogsPane)
        assert pane.PANE_TITLE == "Logs" and pane.PANE_NUMBER == 2 and pane.id == "logs"
        append(api, "GET /orders 200", "ERROR db connection refused")
        append(worker, "WARN queue is slow", "job 17 done")
        await wait_lines(pane, 4)
        await pilot.pause()
        rows = pane.rendered_text()
        assert any("[api]" in r and "GET /orders 200" in r for r in rows)
        assert any("[worker]" in r and "job 17 done" in r for r in rows)
        error_row = rows[row_with(pane, "db connection refused")]
        warn_row = rows[row_with(pane, "queue is slow")]
        assert error_row.startswith(" E ") and warn_row.startswith(" W ")  # readable uncoloured
        assert rows[row_with(pane, "job 17 done")].startswith("   ")
        # the error line is drawn in the error style
        strip = pane.view.render_line(row_with(pane, "db connection refused"))
        error_style = pane.view.get_component_rich_style("loglines--error")
        assert any(seg.style == error_style and "db connection" in seg.text for seg in strip)
        assert sorted(pane.visible_levels()) == ["", "", "error", "warn"]
        await async_wait_until(lambda: pane.status_text == "2 sources · 4 lines · following")
        # more lines keep arriving while it follows
        append(api, *(f"tick {i}" for i in range(50)))
        await wait_lines(pane, 54)
        await pilot.pause()
        assert "tick 49" in pane.rendered_text()[-1]


async def test_a_source_that_cannot_start_becomes_a_notice_line(tmp_path, monkeypatch):
    """(`cockpit validate` refuses what it can foresee; whatever still fails at start is
    said in the pane, by the cockpit, and the other sources keep going.)"""
    import cockpit.tui.panes.logs as logs_module

    path, _ = one_file(tmp_path)
    profile = f"""
    name: mixed
    logs:
      - {{kind: command, name: pods, run: [kubectl, logs, -f, deploy/api]}}
      - {{kind: file, name: app, path: {path}}}
    """
    real = logs_module.make_follower

    def failing(source, backend):
        if source.name == "pods":
            raise CockpitError("log source 'pods': kubectl is not supported here")
        return real(source, backend)

    monkeypatch.setattr(logs_module, "make_follower", failing)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "still following the file")
        await wait_lines(pane, 2)
        await pilot.pause()
        rows = pane.rendered_text()
        assert any(r.startswith(" ◆ [pods]") and "not supported" in r for r in rows), rows
        assert any("[app]" in r and "still following the file" in r for r in rows)


async def test_filter_with_slash_enter_invalid_regex_and_escape(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "alpha ERROR one", "beta ok", "gamma ERROR two", "delta ok")
        await wait_lines(pane, 4)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("E", "R", "R", "enter")
        assert pane.filter_pattern == "ERR"
        assert pane.visible_count == 2
        assert pane.visible_lines() == ["alpha ERROR one", "gamma ERROR two"]
        assert "filter /ERR/: 2 of 4" in pane.status_text
        assert not isinstance(app.focused, Input)  # back on the log view
        # new matching lines are filtered as they arrive
        append(path, "epsilon ERROR three", "zeta ok")
        await wait_lines(pane, 6)
        assert pane.visible_count == 3
        # an invalid regex is reported in the status, the old filter stays
        await pilot.press("slash", "ctrl+u", "(", "enter")
        assert pane.filter_error is not None and "bad regex /(/" in pane.status_text
        assert pane.filter_pattern == "ERR"
        assert isinstance(app.focused, Input)
        # Esc cancels and clears
        await pilot.press("escape")
        assert pane.filter_pattern is None and pane.filter_error is None
        assert pane.visible_count == 6
        assert "6 lines" in pane.status_text and "filter" not in pane.status_text
        assert not isinstance(app.focused, Input)


async def test_next_and_prev_move_a_cursor_among_matches(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, *(f"line {i} {'hit' if i % 10 == 0 else 'miss'}" for i in range(100)))
        await wait_lines(pane, 100)
        await pilot.press("n")
        assert pane.cursor is None and "no filter" in pane.status_text
        pane.set_filter("hit")
        assert pane.visible_count == 10
        await pilot.press("g", "n")
        assert pane.cursor == 0 and not pane.following
        assert pane.rendered_text()[0].startswith(">")
        await pilot.press("n", "n")
        assert pane.cursor == 2
        assert pane.visible_lines()[pane.cursor] == "line 20 hit"
        await pilot.press("N")
        assert pane.cursor == 1
        await pilot.press("N", "N")
        assert pane.cursor == 0 and "first match" in pane.status_text
        # clearing the filter keeps the cursor on its line, in context
        await pilot.press("n", "escape")
        assert pane.filter_pattern is None
        assert pane.cursor == 10  # "line 10 hit" among all 100 lines
        assert any(r.startswith(">") and "line 10 hit" in r for r in pane.rendered_text())


async def test_follow_toggle_pauses_and_counts_new_lines(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, *(f"first {i}" for i in range(40)))
        await wait_lines(pane, 40)
        await pilot.pause()
        assert pane.following and pane.view.scroll_y == pane.view.max_scroll_y
        await pilot.press("s")
        assert not pane.following and "paused (0 new)" in pane.status_text
        top = pane.view.scroll_y
        append(path, *(f"second {i}" for i in range(25)))
        await wait_lines(pane, 65)
        await async_wait_until(lambda: "paused (25 new)" in pane.status_text)
        assert pane.view.scroll_y == top  # the view did not move
        await pilot.press("s")
        await pilot.pause()
        assert pane.following and pane.status_text.endswith("following")
        assert "second 24" in pane.rendered_text()[-1]


async def test_top_bottom_and_j_k_scroll(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, *(f"row {i}" for i in range(60)))
        await wait_lines(pane, 60)
        await pilot.pause()
        await pilot.press("g")
        assert pane.view.scroll_y == 0 and not pane.following
        assert "row 0" in pane.rendered_text()[0]
        await pilot.press("j", "j")
        assert pane.view.scroll_y == 2
        await pilot.press("k")
        assert pane.view.scroll_y == 1
        await pilot.press("G")
        assert pane.following and pane.view.scroll_y == pane.view.max_scroll_y
        await pilot.pause()
        assert "row 59" in pane.rendered_text()[-1]


async def test_wrap_cuts_long_lines_into_rows(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(LogsPane)
        long = "START-" + "x" * 100 + "-END"
        append(path, "short one", long, "short two")
        await wait_lines(pane, 3)
        await pilot.pause()
        assert not any("-END" in r for r in pane.rendered_text())  # cut at the edge
        await pilot.press("w")
        await pilot.pause()
        assert pane.wrap and "wrap" in pane.status_text
        start, end = row_with(pane, "START-"), row_with(pane, "-END")
        assert end > start  # one line, several rows
        assert row_with(pane, "short two") == end + 1
        await pilot.press("w")
        await pilot.pause()
        assert not pane.wrap


async def test_buffer_bound_drops_lines_and_says_how_many(tmp_path):
    path, profile = one_file(tmp_path)
    context = make_context(tmp_path, profile, settings=UserSettings(log_buffer_lines=100))
    app = harness(context)
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, *(f"numbered {i:04d}" for i in range(1000)))
        await async_wait_until(lambda: pane.line_count + pane.dropped >= 1000)
        await async_wait_until(lambda: "900 dropped" in pane.status_text)
        assert pane.line_count == 100 and pane.dropped == 900
        assert pane.visible_lines()[0] == "numbered 0900"
        assert pane.visible_lines()[-1] == "numbered 0999"
        assert "100 lines" in pane.status_text
        await pilot.pause()
        assert "numbered 0999" in pane.rendered_text()[-1]


async def test_upstream_drops_are_counted_too(tmp_path):
    context = make_context(tmp_path, "name: quiet\n", live=False)
    app = harness(context)
    async with app.run_test(size=(80, 12)):
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("app", "kept", 0.0, "")], dropped=1234)
        assert pane.dropped == 1234 and "1,234 dropped" in pane.status_text


async def test_a_one_megabyte_line_is_cut_and_does_not_freeze(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "before", "y" * (1 << 20), "after")
        await wait_lines(pane, 3)
        await pilot.pause()
        before, huge, after = pane.visible_lines()
        assert (before, after) == ("before", "after")
        # cut twice (by the follower, then for display): the mark counts both cuts
        assert huge == "y" * DISPLAY_CHARS + f"…[+{(1 << 20) - DISPLAY_CHARS} chars]"
        await pilot.press("w")  # a 2,000-char line wrapped at 80 columns
        await pilot.pause()
        assert any(r.strip().endswith(" chars]") for r in pane.rendered_text())


async def test_huge_line_added_directly_is_cut(tmp_path):
    app = harness(make_context(tmp_path, "name: quiet\n", live=False))
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("app", "z" * (1 << 20), 0.0, "")])
        await pilot.pause()
        (text,) = pane.visible_lines()
        assert text == "z" * DISPLAY_CHARS + f"…[+{(1 << 20) - DISPLAY_CHARS} chars]"
        assert len(pane.buffer.raws[0]) < 10_000  # the megabyte is not kept either


async def test_escape_sequences_never_reach_the_screen(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "title \x1b]0;pwned\x07 set", "clear \x1b[2J screen", "bell \x07 ring")
        await wait_lines(pane, 3)
        await pilot.pause()
        rendered = "\n".join(pane.rendered_text())
        # shown, never live, never silently removed: what is displayed is what was sent
        assert "title \\e]0;pwned\\a set" in rendered
        assert "clear \\e[2J screen" in rendered and "bell \\a ring" in rendered
        for y in range(12):
            for segment in pane.view.render_line(y):
                assert "\x1b" not in segment.text and "\x07" not in segment.text


async def test_secrets_are_redacted_on_screen_and_in_the_filter(tmp_path):
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 12)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "call upstream Authorization: Bearer abc.def.ghi ok")
        await wait_lines(pane, 1)
        await pilot.pause()
        rendered = "\n".join(pane.rendered_text())
        assert "Authorization: Bearer ***" in rendered and "abc.def.ghi" not in rendered
        assert pane.visible_lines() == ["call upstream Authorization: Bearer ***"]
        assert pane.set_filter(r"abc\.def")  # the filter cannot probe for the secret
        assert pane.visible_count == 0


async def test_a_filter_over_a_big_buffer_is_applied_in_steps(tmp_path):
    app = harness(make_context(tmp_path, "name: quiet\n"))  # live: the flush timer runs
    async with app.run_test(size=(80, 12)):
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("app", f"request {i} token=s3cr3t{i} done", 0.0, "")
                        for i in range(10_000)])
        await async_wait_until(lambda: pane.line_count == 10_000)
        assert pane.set_filter(r"request \d*7 ")
        if pane.filtering:
            assert "scanning" in pane.status_text
        await async_wait_until(lambda: not pane.filtering, what="the filter pass")
        assert pane.visible_count == 1_000
        await async_wait_until(lambda: "1,000 of 10,000" in pane.status_text)
        assert "scanning" not in pane.status_text
        assert all("token=***" in line for line in pane.visible_lines())


async def test_wide_characters_and_tabs(tmp_path):
    app = harness(make_context(tmp_path, "name: quiet\n", live=False))
    async with app.run_test(size=(30, 10)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("app", "日本語のログ 🚀 " * 6 + "end", 0.0, ""),
                        LogLine("app", "a\tb", 0.0, "")])
        await pilot.pause()
        rows = pane.rendered_text()
        assert rows[0].startswith("   日本語のログ") and rows[1] == "   a       b"
        await pilot.press("w")
        await pilot.pause()
        rows = pane.rendered_text()
        # wrapped between characters, never through a double-width one
        assert "".join(r.strip() for r in rows[:4]).replace(" ", "") == (
            "日本語のログ🚀" * 6 + "end")
        assert rows[4] == "   a       b"


async def test_keymap_can_rebind_by_binding_id(tmp_path):
    ids = {b.id for b in LogsPane.BINDINGS}  # type: ignore[union-attr]
    assert {"logs.filter", "logs.next", "logs.prev", "logs.follow", "logs.wrap",
            "logs.top", "logs.bottom"} <= ids
    app = harness(make_context(tmp_path, "name: quiet\n", live=False))
    async with app.run_test(size=(80, 12)) as pilot:
        app.set_keymap({"logs.filter": "ctrl+f"})
        await pilot.press("ctrl+f")
        assert isinstance(app.focused, Input)


async def test_readable_without_colour(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = harness(make_context(tmp_path, "name: quiet\n", live=False))
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("app", "it broke", 0.0, "error"),
                        LogLine("app", "it wobbled", 0.0, "warn")])
        await pilot.pause()
        rows = pane.rendered_text()
        assert rows[0] == " E it broke" and rows[1] == " W it wobbled"


@pytest.mark.parametrize("wrap", [False, True])
async def test_small_terminal_and_resize_do_not_crash(tmp_path, wrap):
    app = harness(make_context(tmp_path, "name: quiet\n", live=False))
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine(f"src{i % 3}", f"line {i} " + "w" * (i % 90), 0.0,
                                "error" if i % 7 == 0 else "") for i in range(300)])
        if wrap:
            await pilot.press("w")
        await pilot.pause()
        assert len(pane.rendered_text()) > 0
        for size in [(30, 8), (12, 5), (120, 40), (40, 12)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            pane.rendered_text()
        await pilot.press("g", "j", "k", "G", "slash", "1", "enter", "n", "N", "escape")
        await pilot.pause()
        assert not pane.following  # the match cursor paused it
        await pilot.press("G")
        await pilot.pause()
        assert pane.following
        assert "line 299" in "\n".join(pane.rendered_text())


async def test_command_source_stops_cleanly_on_exit(tmp_path, caplog):
    pid_file = tmp_path / "pid"
    profile = f"""
    name: cmd
    logs:
      - kind: command
        name: ticker
        script: "echo $$ > {pid_file}; while true; do echo tick; sleep 0.05; done"
    """
    caplog.set_level(logging.WARNING, logger="asyncio")
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(80, 12)):
        pane = app.query_one(LogsPane)
        await async_wait_until(lambda: pane.line_count >= 3, what="ticks")
        pid = int(pid_file.read_text())
        os.kill(pid, 0)  # running

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await async_wait_until(gone, timeout=5, what="the command to be killed")
    assert "Task was destroyed" not in caplog.text


async def test_regexes_that_look_like_markup_are_shown_as_typed(tmp_path):
    """A user's regex in the status line is plain text: ``([`` once crashed the app."""
    path, profile = one_file(tmp_path)
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "ERR one", "WRR two", "ok three")
        await wait_lines(pane, 3)
        await pilot.press("slash", *"[EW]RR", "enter")
        await pilot.pause()
        assert pane.visible_count == 2
        assert "filter /[EW]RR/: 2 of 3" in str(pane.border_subtitle)
        await pilot.press("slash", "ctrl+u", *"([", "enter")
        await pilot.pause()
        assert app.is_running
        assert "bad regex /([/" in str(pane.border_subtitle)


async def test_new_lines_repaint_the_view_not_the_screen(tmp_path):
    """A new line changes the view's virtual size: no screen layout (which would
    repaint every scrollbar on screen), the scrollbar follows, the status repaints
    only the bottom border."""
    context = make_context(tmp_path, "name: quiet\n", live=False)
    app = harness(context)
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("app", f"line {i}", 0.0, "") for i in range(20)])
        await pilot.pause()
        layouts = []
        screen = app.screen
        refresh_layout = screen._refresh_layout
        screen._refresh_layout = lambda *a, **k: (layouts.append(a), refresh_layout(*a, **k))
        for n in range(3):
            pane.add_lines([LogLine("app", f"more {n}", 0.0, "")])
            width, height = pane.outer_size
            assert pane._repaint_regions <= {Region(0, height - 1, width, 1)}
            await pilot.pause()
        view = pane.view
        assert layouts == []
        assert view.virtual_size.height == 23 and view.scroll_y == view.max_scroll_y
        assert view.styles.scrollbar_size_vertical == 0  # following: no thumb to draw
        view.follow = False
        await pilot.pause()
        assert view.styles.scrollbar_size_vertical > 0
        assert view.vertical_scrollbar.window_virtual_size == 23
        assert "more 2" in pane.rendered_text()[-1] and "23 lines" in pane.status_text


async def test_a_private_key_spread_over_lines_is_hidden_whole(tmp_path):
    """Each source's lines after a ``BEGIN`` pass its boundary stream: the key's body
    lines (no secret-looking word in them) are hidden, arriving in separate batches too;
    another source's lines are not masked by it."""
    path, profile = one_file(tmp_path)
    other = tmp_path / "other.log"
    other.write_text("")
    profile += f"  - {{kind: file, name: other, path: {other}}}\n"
    app = harness(make_context(tmp_path, profile))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogsPane)
        append(path, "before", PEM_KEY.split("\n")[0], PEM_KEY.split("\n")[1])
        await wait_lines(pane, 3)
        append(other, "plain line of another source")
        append(path, *PEM_KEY.split("\n")[2:], "after \x1b[31mred")
        await wait_lines(pane, 7)
        await pilot.pause()
        shown = pane.visible_lines()
        assert_inert("\n".join(shown) + "\n".join(pane.rendered_text()))
        assert "after \\e[31mred" in shown and "plain line of another source" in shown
        assert "-----END RSA PRIVATE KEY-----" in shown
        assert shown.count("***") == 2  # the key's two body lines
