"""Audit pane: rows go into the table in bulk (``RecordTable.add_entries``), and a big
whole-file answer shows its end first, the rest going in above it a slice at a time."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import orjson
import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from cockpit.core.audit.query import parse_record
from cockpit.tui.panes import audit_rows
from cockpit.tui.panes.audit import FILL_BUDGET, AuditPane
from cockpit.tui.panes.audit_rows import Entry, RecordTable, cell_widths
from cockpit.tui.settings import UserSettings
from tests.support import async_wait_until
from tests.test_tui_audit import audit_profile, cells, techno_records, type_filter, write_lines
from tests.tui_support import PaneHarness, make_context

WIDE = "漢字のセル"  # two cells per character


def entries(start: int, count: int) -> list[Entry]:
    """Entries (keys ``start``...) of three cells, some wide, some empty, some of two
    lines; half of them without their widths (measured by the table then)."""
    out = []
    for i in range(start, start + count):
        row = (Text(f"row {i}" + "x" * (i % 13)), Text(WIDE[: i % 5]),
               Text("one\nline two longer" if i % 17 == 0 else ""))
        record = parse_record(b'{"n": %d}' % i, i + 1)
        out.append(Entry(i, record, row, cell_widths(row) if i % 2 else ()))
    return out


class Tables(App):
    """Two tables of 10 rows' height (and a header)."""

    CSS = "RecordTable { height: 11; }"

    def compose(self) -> ComposeResult:
        for name in ("slow", "fast"):
            table = RecordTable(cursor_type="row", id=name)
            for column in ("a", "b", "c"):
                table.add_column(column, key=column)
            yield table


def shown(table: RecordTable) -> list[tuple[str, list[str]]]:
    return [(row.key.value, [c.plain for c in table.get_row(row.key)])
            for row in table.ordered_rows]


def widths(table: RecordTable) -> list[int]:
    return [column.content_width for column in table.ordered_columns]


def test_cell_widths_are_measured_as_datatable_measures_text():
    assert cell_widths((Text("abc"), Text(WIDE), Text(""), Text("a\nlonger line"))) == (
        3, 10, 0, 11)


async def test_add_entries_gives_the_table_add_row_gives():
    app = Tables()
    async with app.run_test(size=(80, 24)) as pilot:
        slow, fast = app.query_one("#slow", RecordTable), app.query_one("#fast", RecordTable)
        for batch in (entries(0, 40), entries(40, 3)):
            for entry in batch:
                slow.add_row(*entry.cells, key=entry.key)
            fast.add_entries(batch)
            await pilot.pause()
            assert shown(fast) == shown(slow)
            assert widths(fast) == widths(slow)
            assert fast.virtual_size == slow.virtual_size
        assert fast.cursor_row == slow.cursor_row == 0
        with pytest.raises(audit_rows.DuplicateKey):
            fast.add_entries([*entries(50, 2), *entries(5, 1)])
        with pytest.raises(audit_rows.DuplicateKey):
            fast.add_entries([*entries(50, 2), *entries(50, 1)])
        with pytest.raises(ValueError):
            fast.add_entries([*entries(50, 2), Entry(99, entries(0, 1)[0].record,
                                                     (Text("1"),) * 4)])
        assert shown(fast) == shown(slow)  # a refused batch adds nothing


@pytest.mark.parametrize("follow", [True, False], ids=["following", "paused"])
async def test_rows_added_first_leave_the_screen_and_the_cursor_where_they_were(follow):
    app = Tables()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#fast", RecordTable)
        table.add_entries(entries(100, 50))
        table.settle()
        table.move_cursor(row=49 if follow else 45)
        if not follow:
            table.move_cursor(row=40)  # in the middle of the screen
        await pilot.pause()
        assert table.size.height == 11 and table.scroll_y > 30  # scrolled to the cursor
        before = [table.render_line(y).text for y in range(1, table.size.height)]
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        table.add_entries(entries(0, 100), first=True)
        await pilot.pause()
        assert table.row_count == 150
        assert [k for k, _ in shown(table)] == [str(i) for i in range(150)]
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key == key
        assert [table.render_line(y).text for y in range(1, table.size.height)] == before


async def test_add_entries_without_the_datatable_internals_it_relies_on(monkeypatch):
    """Another Textual: the public API, the same rows, the cursor on the same row."""
    app = Tables()
    async with app.run_test(size=(80, 24)) as pilot:
        slow, fast = app.query_one("#slow", RecordTable), app.query_one("#fast", RecordTable)
        fast.add_entries(entries(10, 20))
        fast.move_cursor(row=19)
        monkeypatch.setattr(audit_rows, "_INTERNALS", (*audit_rows._INTERNALS, "_not_there"))
        slow.add_entries(entries(10, 20))
        slow.move_cursor(row=19)
        slow.add_entries(entries(0, 10), first=True)
        slow.add_entries(entries(30, 2))
        monkeypatch.undo()
        fast.add_entries(entries(0, 10), first=True)
        fast.add_entries(entries(30, 2))
        await pilot.pause()
        assert shown(slow) == shown(fast)
        assert [k for k, _ in shown(fast)] == [str(i) for i in range(32)]
        assert slow.cursor_row == fast.cursor_row == 29


class Clock:
    """``time.perf_counter`` for the pane: advances ``step`` seconds a call."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize("step", [0.0, 2 * FILL_BUDGET], ids=["fast-machine", "slow-machine"])
async def test_a_big_answer_shows_its_end_first_then_the_rest_above_it(
        tmp_path: Path, monkeypatch, step):
    """The last FIRST_ROWS matches are on screen before the rest is built; the rest goes
    in above them FILL_SLICE rows at a time, and the event loop runs between two slices
    whenever they took FILL_BUDGET (the pane's clock is driven here: each slice takes
    twice the budget, or no time); a record followed meanwhile waits, then joins the
    answer."""
    monkeypatch.setattr("cockpit.tui.panes.audit.FIRST_ROWS", 10)
    monkeypatch.setattr("cockpit.tui.panes.audit.FILL_SLICE", 7)
    monkeypatch.setattr("cockpit.tui.panes.audit.time", Clock(step))
    log = tmp_path / "audit.log"
    records = techno_records(3000)
    write_lines(log, records)
    deny = [r for r in records if r["decision"] == "DENY"]
    settings = UserSettings(audit_buffer_records=100)
    context = make_context(tmp_path, audit_profile(log, backlog=100), settings=settings)
    app = PaneHarness(lambda: AuditPane(context))
    extra = techno_records(1, seed=99, start=5000)[0]
    extra.update(decision="DENY", event_type="decision_audit", reason_codes=["X"])
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 100, what="the backlog")
        pane.focus_pane()
        table = pane.table()
        loop_turns = 0
        ticking = True

        def tick() -> None:  # counts the event loop's turns
            nonlocal loop_turns
            loop_turns += 1
            if ticking:
                asyncio.get_running_loop().call_soon(tick)

        slices: list[tuple[int, int]] = []  # (rows, the loop's turns before them)
        add_entries = table.add_entries

        def spy(batch, *, first=False):
            if first:
                if not slices:  # the answer's end is shown; a record is followed now
                    assert pane._filling and pane.row_count == 10
                    assert cells(pane, 9)[-1] == deny[-1]["trace_id"]
                    assert pane.following
                    pane.add_records([parse_record(orjson.dumps(extra))])
                    assert pane.deferred_count == 1
                slices.append((len(batch), loop_turns))
            add_entries(batch, first=first)

        monkeypatch.setattr(table, "add_entries", spy)
        tick()
        try:
            await type_filter(pilot, pane, "decision=DENY")
        finally:
            ticking = False
        assert [n for n, _turn in slices] == [7] * 12 + [6]  # 90 rows above the 10
        turns = [turn for _n, turn in slices]
        yielded = sum(b > a for a, b in itertools.pairwise(turns))
        assert yielded == (len(slices) - 1 if step else 0)
        await async_wait_until(lambda: pane.deferred_count == 0, what="the followed record")
        assert pane.row_count == 100
        assert [cells(pane, i)[-1] for i in range(100)] == [
            r["trace_id"] for r in [*deny[-99:], extra]]
        assert pane.following and table.cursor_row == 99
        assert pane.search is not None and pane.search.matched == len(deny) + 1
        assert [e.record.data["trace_id"] for e in pane.search.entries] == [
            r["trace_id"] for r in deny[-100:]]


def test_cells_of_one_text_and_style_are_shared_and_their_number_bounded(monkeypatch):
    """Cells repeat (DENY, an event type): one object each; unique ones (trace ids) do
    not pile up."""
    from cockpit.core.boundary import Boundary

    monkeypatch.setattr(audit_rows, "_SHARED_CELLS_MAX", 50)
    monkeypatch.setattr(audit_rows, "_shared_cells", {})
    boundary = Boundary()
    rows = [audit_rows.format_cells(parse_record(
        b'{"decision": "DENY", "trace_id": "t-%d"}' % i, i), ("decision", "trace_id"),
        boundary) for i in range(200)]
    assert len({id(row[0]) for row in rows[:20]}) == 1 and rows[0][0].style == "bold red"
    assert [row[1].plain for row in rows] == [f"t-{i}" for i in range(200)]
    assert len(audit_rows._shared_cells) <= 50


@pytest.mark.parametrize("failure", ["cut short", "no process"])
async def test_a_failed_whole_file_search_leaves_the_rows_loaded(tmp_path: Path, monkeypatch,
                                                                 failure):
    """The answer cut short (over the size bound) or no search process: the rows loaded
    that match stay, and the status says why the whole file did not answer."""
    from cockpit.core.audit import search as core_search

    log = tmp_path / "audit.log"
    records = techno_records(300)
    write_lines(log, records)

    spares = []

    async def failing(path, exprs, limit, **kwargs):
        spares.append(kwargs.get("spare"))
        if failure == "no process":
            raise OSError("no such interpreter")
        cut = [parse_record(orjson.dumps(r), n) for n, r in enumerate(records[:50], 1)]
        return core_search.SearchResult(cut, None, "the matching records are over 64 MB")

    monkeypatch.setattr(core_search, "search_file", failing)
    context = make_context(tmp_path, audit_profile(log, backlog=100))
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 100, what="the backlog")
        pane.focus_pane()
        await pilot.press("slash")  # the filter box: a spare search process starts
        await async_wait_until(lambda: pane._spare is not None, what="the spare process")
        await type_filter(pilot, pane, "decision=DENY")
        assert spares and spares[0] is not None  # not asked: ended
        await async_wait_until(lambda: spares[0].returncode is not None, what="its end")
        loaded = [r["trace_id"] for r in records[-100:] if r["decision"] == "DENY"]
        assert [cells(pane, i)[-1] for i in range(pane.row_count)] == loaded
        why = ("cannot search: no such interpreter" if failure == "no process"
               else "the matching records are over 64 MB")
        assert f"of 100 loaded · whole file: {why}" in pane.border_subtitle


async def test_a_big_files_answer_is_shown_then_its_lines_numbered(tmp_path: Path) -> None:
    """A file past what the search reads from its end: the answer (unnumbered by the
    search process at first) gets each record's line in the file once the search has
    counted them."""
    from cockpit.core.audit import tail

    log = tmp_path / "audit.log"
    records = techno_records(2000)
    while len(records) * 200 < tail.BACKWARD_MAX + (1 << 20):
        records += records[:2000]
    write_lines(log, records)
    assert log.stat().st_size > tail.BACKWARD_MAX  # the kept tail, numbered after
    settings = UserSettings(audit_buffer_records=100)
    context = make_context(tmp_path, audit_profile(log, backlog=100), settings=settings)
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 100, what="the backlog")
        pane.focus_pane()
        await type_filter(pilot, pane, "decision=DENY")
        search = pane.search
        assert search is not None and search.error is None
        await async_wait_until(lambda: search.numbered, what="the line numbers")
        deny = [n for n, r in enumerate(records, 1) if r["decision"] == "DENY"]
        assert search.matched == len(deny)
        assert [e.record.line for e in search.entries] == deny[-100:]
        lines = log.read_bytes().split(b"\n")
        assert all(orjson.loads(lines[e.record.line - 1]) == e.record.data
                   for e in search.entries)
