"""What reaches the terminal: background panes repaint at the ``background_refresh``
cadence, tables repaint one cell at a time and fit their pane, scrollbars are compact."""

from __future__ import annotations

from pathlib import Path

import orjson
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from cockpit.core.sources.health import HealthRow
from cockpit.tui.panes.audit import AuditPane
from cockpit.tui.panes.audit_rows import RecordTable
from cockpit.tui.panes.base import SlotGate
from cockpit.tui.panes.health import HealthPane
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.panes.metrics import MetricsPane
from cockpit.tui.settings import UserSettings
from cockpit.tui.widgets.scrollbar import CompactScrollBarRender
from cockpit.tui.widgets.table import PADDING, CachedCells, CellTable, spread
from tests.support import async_wait_until
from tests.tui_support import make_context

SLOW = UserSettings(background_refresh=60)
PROBE_METRIC = """
name: t
health:
  - {kind: http, name: api, url: "http://127.0.0.1:9/health", interval: 1h}
metrics:
  - {kind: probe_latency, name: api latency, probe: api, unit: ms}
"""


class BesideInput(App):
    """A pane next to an input that holds the focus, as another pane would."""

    def __init__(self, factory) -> None:
        super().__init__()
        self._factory = factory

    def compose(self) -> ComposeResult:
        yield Input(id="elsewhere")
        yield self._factory()


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


async def test_a_background_log_pane_waits_for_its_cadence_and_catches_up_on_focus(
        tmp_path, monkeypatch):
    # The slot clock stands still mid-slot: with the real clock a 60 s slot boundary fell
    # inside the test now and then (CI saw it) and the pane rightly painted there.
    monkeypatch.setattr("cockpit.tui.panes.base._slot_clock", lambda: 1030.0)
    log = tmp_path / "app.log"
    log.write_text("")
    profile = f"name: t\nlogs:\n  - {{kind: file, name: app, path: {log}}}\n"
    app = BesideInput(lambda: LogsPane(make_context(tmp_path, profile, settings=SLOW)))
    async with app.run_test(size=(80, 20)):
        pane = app.query_one(LogsPane)
        assert app.query_one("#elsewhere").has_focus
        append(log, "one", "two")
        await async_wait_until(lambda: pane.line_count == 2, what="the first paint")
        append(log, "three", "four", "five")
        await async_wait_until(lambda: pane.received == 5, what="lines queued")
        # The flush ran and put the lines off to the pane's next slot (a wake timer of
        # about 30 s on the frozen clock), rather than painting them.
        await async_wait_until(
            lambda: pane.flush_asleep and pane._wake_timer is not None
            and pane._wake_timer._interval > 1.0, what="the flush to wait for its slot")
        assert pane.line_count == 2  # painted again only at the slot boundary
        pane.focus_pane()
        await async_wait_until(lambda: pane.line_count == 5, what="caught up on focus")
        append(log, "six")  # the focused pane shows lines at once
        await async_wait_until(lambda: pane.line_count == 6, what="live while focused")


async def test_background_panes_repaint_together_on_shared_slot_boundaries(tmp_path, monkeypatch):
    log = tmp_path / "app.log"
    log.write_text("")
    profile = f"name: t\nlogs:\n  - {{kind: file, name: app, path: {log}}}\n"
    settings = UserSettings(background_refresh=2)
    context = make_context(tmp_path, profile, settings=settings)
    app = BesideInput(lambda: LogsPane(context))
    async with app.run_test(size=(80, 20)):
        logs = app.query_one(LogsPane)
        other = LogsPane(context, id="other")  # a second background pane, same clock
        other_parent = app.screen
        await other_parent.mount(other)
        clock = [1000.3]
        monkeypatch.setattr("cockpit.tui.panes.base._slot_clock", lambda: clock[0])
        assert logs.repaint_wait() == 0 and other.repaint_wait() == 0  # first paints: at once
        clock[0] = 1000.9
        first = clock[0] + logs.repaint_wait()
        clock[0] = 1001.7
        second = clock[0] + other.repaint_wait()
        assert abs(first - second) < 1e-6 and 1002.0 <= first < 1002.01  # the same boundary
        clock[0] = first
        assert logs.repaint_wait() == 0 and other.repaint_wait() == 0  # both paint there
        clock[0] = first + 0.3
        assert logs.repaint_wait() > 1.5  # at most once per slot


async def test_the_flush_timer_sleeps_while_idle_and_wakes_for_lines_and_its_cadence(
        tmp_path, monkeypatch):
    log = tmp_path / "app.log"
    log.write_text("")
    profile = f"name: t\nlogs:\n  - {{kind: file, name: app, path: {log}}}\n"
    settings = UserSettings(background_refresh=1.0)
    clock = [1000.5]  # the slot clock of background repaints: mid-slot
    monkeypatch.setattr("cockpit.tui.panes.base._slot_clock", lambda: clock[0])
    app = BesideInput(lambda: LogsPane(make_context(tmp_path, profile, settings=settings)))
    async with app.run_test(size=(80, 20)):
        pane = app.query_one(LogsPane)
        await async_wait_until(lambda: pane.flush_asleep, what="no 30 Hz polling while idle")
        append(log, "one")
        await async_wait_until(lambda: pane.line_count == 1, what="woken by a line")
        await async_wait_until(lambda: pane.flush_asleep, what="asleep again")
        append(log, "two", "three")
        # a background pane: it sleeps until its next slot instead of polling
        await async_wait_until(lambda: pane.received == 3 and pane.flush_asleep,
                               what="waiting for its slot")
        assert pane.line_count == 1
        clock[0] = 1001.01  # the next slot begins: its wake-up timer paints
        await async_wait_until(lambda: pane.line_count == 3, timeout=5,
                               what="shown at the next background repaint, without focus")


async def test_a_background_audit_pane_defers_records_until_focused(tmp_path, monkeypatch):
    # mid-slot, frozen: with the real clock a 60 s slot boundary now and then fell inside
    # the test and the pane rightly painted (a clean-clone CI run failed on it)
    monkeypatch.setattr("cockpit.tui.panes.base._slot_clock", lambda: 1030.0)
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    profile = f"name: t\naudit:\n  path: {log}\n  columns: [event_type, decision]\n"
    app = BesideInput(lambda: AuditPane(make_context(tmp_path, profile, settings=SLOW)))

    def write(n: int) -> None:
        with log.open("ab") as fh:
            for i in range(n):
                fh.write(orjson.dumps({"event_type": f"e{i}", "decision": "ALLOW"}) + b"\n")

    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(AuditPane)
        write(2)
        await async_wait_until(lambda: pane.total_count == 2, what="the first paint")
        write(3)
        await async_wait_until(lambda: pane.deferred_count == 3, what="records waiting")
        await pilot.pause()
        assert pane.total_count == 2 and pane.row_count == 2
        pane.focus_pane()
        await async_wait_until(lambda: pane.total_count == 5, what="caught up on focus")
        assert pane.deferred_count == 0 and pane.row_count == 5


async def test_a_background_metrics_pane_shows_readings_at_its_slot_or_on_focus(
        tmp_path, monkeypatch):
    clock = [1030.0]  # mid-slot, and standing still until the test moves it
    monkeypatch.setattr("cockpit.tui.panes.base._slot_clock", lambda: clock[0])
    context = make_context(tmp_path, PROBE_METRIC, settings=UserSettings(background_refresh=1))
    app = BesideInput(lambda: MetricsPane(context))
    async with app.run_test(size=(100, 20)):
        pane = app.query_one(MetricsPane)

        def value() -> str:
            return pane.table.get_cell("api latency", "value").plain

        def probe(latency: float, at: float) -> None:
            pane.observe_probe([HealthRow("api", "ok", latency, "HTTP 200", at)])

        probe(12.0, 1.0)  # the first paint of a pane is at once
        await async_wait_until(lambda: value() == "12 ms", what="the first reading")
        probe(34.0, 2.0)
        assert pane.states["api latency"] == "ok" and value() == "12 ms"  # not yet shown
        assert pane._paint_timer is not None and pane._paint_timer._interval > 0.9
        clock[0] = 1031.001  # the next slot begins: its timer (due in ~1 s) paints
        await async_wait_until(lambda: value() == "34 ms", timeout=5, what="shown at the slot")
        probe(56.0, 3.0)  # this slot is used up: waits again
        await async_wait_until(lambda: pane._paint_timer is not None, what="deferred")
        assert value() == "34 ms"
        pane.focus_pane()
        await async_wait_until(lambda: value() == "56 ms", what="shown on focus")
        probe(78.0, 4.0)  # the focused pane shows readings at once
        await async_wait_until(lambda: value() == "78 ms", what="live while focused")


async def test_a_new_status_repaints_only_the_panes_bottom_border(tmp_path, monkeypatch):
    from textual.widget import Widget

    context = make_context(tmp_path, HEALTH_AND_METRICS, live=False)
    app = BesideInput(lambda: MetricsPane(context))
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(MetricsPane)
        await pilot.pause()
        calls: list[tuple[Widget, tuple]] = []
        real = Widget.refresh

        def spy(self, *regions, **kwargs):
            calls.append((self, regions))
            return real(self, *regions, **kwargs)

        monkeypatch.setattr(Widget, "refresh", spy)
        pane.set_status("1 WARN")
        mine = [regions for widget, regions in calls if widget is pane]
        width, height = pane.outer_size
        offset = pane.content_offset
        assert mine == [(Region(-offset.x, height - 1 - offset.y, width, 1),)]
        assert str(pane.border_subtitle) == "1 WARN"
        calls.clear()
        pane.set_status("1 WARN")  # the same status: nothing at all
        assert calls == []


class TwoNotes(App):
    def compose(self) -> ComposeResult:
        yield Static("a: old", id="a")
        yield Static("b: old", id="b")


async def test_paints_due_at_one_slot_boundary_share_one_frame(monkeypatch):
    """The slot gate holds the screen's updates over a boundary's wake-ups: two widgets
    updated by timers 10 ms apart reach the terminal in one frame, and updates flow
    again after it."""
    app = TwoNotes()
    shown: list[tuple[bool, bool]] = []
    done = {"a": False, "b": False}
    real_display = App._display

    def display(self, screen, renderable):
        if renderable is not None:
            shown.append((done["a"], done["b"]))
        return real_display(self, screen, renderable)

    monkeypatch.setattr(App, "_display", display)

    def update(name: str) -> None:
        app.query_one(f"#{name}", Static).update(f"{name}: new")
        done[name] = True

    async with app.run_test(size=(40, 5)) as pilot:
        await pilot.pause()
        gate = SlotGate.of(app)
        gate.expect(0.2)
        gate.expect(0.2)  # the same boundary: one hold
        app.set_timer(0.2, lambda: update("a"))
        app.set_timer(0.21, lambda: update("b"))
        await async_wait_until(lambda: gate.holds == 1 and gate._batch is None
                               and shown and shown[-1] == (True, True), what="released")
        assert (True, False) not in shown  # never one without the other
        assert "a: new" in str(app.query_one("#a", Static).render())
        app.query_one("#a", Static).update("a: later")  # no hold now: painted at once
        count = len(shown)
        await async_wait_until(lambda: len(shown) > count, what="a later frame")


class OneTable(App):
    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row")
        table.add_column("name", key="name")
        table.add_column("value", key="value", width=8)
        for i in range(3):
            table.add_row(Text(f"row{i}"), Text(str(i)), key=f"r{i}")
        yield table


async def test_set_cell_repaints_one_cell_unless_the_column_must_widen(monkeypatch):
    app = OneTable()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(CellTable)
        await pilot.pause()
        calls: list[object] = []
        original = table.refresh

        def spy(*regions, **kwargs):
            calls.append(regions)
            return original(*regions, **kwargs)

        monkeypatch.setattr(table, "refresh", spy)
        table.set_cell("r1", "value", Text("42"))
        assert [c for c in calls if not c] == []  # no whole-table repaint
        assert all(isinstance(r, Region) and r.height == 1 for c in calls for r in c)
        assert table.get_cell("r1", "value").plain == "42"
        calls.clear()
        table.set_cell("r2", "name", Text("a much longer name"))  # the column grows
        assert () in calls
        await pilot.pause()
        assert table.columns[next(k for k in table.columns if k.value == "name")].content_width \
            == len("a much longer name")
        table.set_cell("nope", "value", Text("x"))  # unknown rows are ignored


async def test_set_cells_repaints_one_region_per_row_spanning_its_changed_cells(monkeypatch):
    """Each region is rendered on its own: two cells of one row are one region."""
    app = OneTable()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(CellTable)
        await pilot.pause()
        calls: list[tuple[object, ...]] = []
        original = table.refresh

        def spy(*regions, **kwargs):
            calls.append(regions)
            return original(*regions, **kwargs)

        monkeypatch.setattr(table, "refresh", spy)
        table.set_cells([("r1", "name", Text("row1")), ("r1", "value", Text("7")),
                         ("r2", "value", Text("8"))])
        regions = [r for c in calls for r in c]
        assert len(regions) == 2 and all(r.height == 1 for r in regions)
        first, second = sorted(regions, key=lambda r: r.y)
        name_width = table.columns[next(k for k in table.columns if k.value == "name")
                                   ].get_render_width(table)
        assert first.x == 0 and first.width == name_width + 8 + 2  # both cells
        assert second.x == name_width and second.width == 8 + 2  # the value cell only
        assert second.y == first.y + 1
        assert [table.get_cell("r1", "value").plain, table.get_cell("r2", "value").plain] \
            == ["7", "8"]


async def test_a_cell_is_rendered_again_only_when_it_changes(monkeypatch):
    rendered: list[tuple[int, int]] = []
    real = CachedCells._render_text_cell

    def counting(self, value, row_index, column_index, *args, **kwargs):
        rendered.append((row_index, column_index))
        return real(self, value, row_index, column_index, *args, **kwargs)

    monkeypatch.setattr(CachedCells, "_render_text_cell", counting)
    app = OneTable()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(CellTable)
        await pilot.pause()
        assert (1, 0) in rendered and (1, 1) in rendered
        rendered.clear()
        table.set_cell("r1", "value", Text("7"))
        await pilot.pause()
        # DataTable alone renders the whole row (its caches are keyed on an update counter)
        assert rendered == [(1, 1)]
        assert "7" in table.render_line(2).text  # header, row0, row1
        rendered.clear()
        table.add_row(Text("row3"), Text("3"), key="r3")
        await pilot.pause()
        assert all(row == 3 for row, _column in rendered), rendered


async def test_cached_cells_carry_their_new_row_in_the_mouse_metadata(tmp_path):
    table = RecordTable(cursor_type="row")

    class Holder(App):
        def compose(self) -> ComposeResult:
            yield table

    async with Holder().run_test(size=(40, 10)) as pilot:
        table.add_column("n", key="n")
        for i in range(6):
            table.add_row(Text(f"record {i}"), key=f"k{i}")
        await pilot.pause()
        for y in range(1, 7):
            table.render_line(y)  # painted once at their first rows
        table.drop_first_rows(2)
        await pilot.pause()
        for y, text in ((1, "record 2"), (2, "record 3"), (3, "record 4")):
            strip = table.render_line(y)  # y - 1: the row under the header
            assert text in strip.text
            metas = [seg.style.meta for seg in strip if seg.style and seg.style.meta]
            assert metas and all(meta.get("row") == y - 1 for meta in metas), (y, metas)


async def test_table_styles_are_kept_only_while_no_style_on_the_way_up_changes():
    from textual.containers import Vertical
    from textual.dom import DOMNode

    table = CellTable(cursor_type="row", zebra_stripes=True)
    names = ("datatable--header", "datatable--even-row", "datatable--odd-row",
             "datatable--cursor")

    class Boxed(App):
        def compose(self) -> ComposeResult:
            with Vertical(id="box"):
                yield Input(id="elsewhere")
                yield table

    def kept() -> tuple:
        return (table.rich_style, table.background_colors,
                [table.get_component_styles(n).rich_style for n in names])

    def fresh() -> tuple:
        return (DOMNode.rich_style.fget(table), DOMNode.background_colors.fget(table),
                [DOMNode.get_component_styles(table, n).rich_style for n in names])

    async with Boxed().run_test(size=(60, 12)) as pilot:
        table.add_column("a", key="a")
        table.add_row(Text("x"), key="x")
        await pilot.pause()
        assert kept() == fresh()
        before = kept()
        changes = (
            lambda app: setattr(app.query_one("#box").styles, "background", "red"),
            lambda app: setattr(table.styles, "color", "yellow"),
            lambda app: table.focus(),
            lambda app: setattr(app, "theme", "textual-light"),
        )
        for change in changes:
            change(pilot.app)
            await pilot.pause()
            assert kept() == fresh()
        assert kept() != before
        assert table.render_line(1).text.startswith(" x")


def test_spread_gives_minimums_then_the_rest_in_order():
    fixed = {"state": 6, "age": 4}
    flexible = {"name": (8, 20), "reason": (0, 1000)}
    used = sum(w + PADDING for w in fixed.values()) + PADDING * len(flexible)
    assert spread(used + 8, fixed, flexible) == {"name": 8, "reason": 0}
    assert spread(used + 15, fixed, flexible) == {"name": 15, "reason": 0}
    assert spread(used + 50, fixed, flexible) == {"name": 20, "reason": 30}
    assert spread(10, fixed, flexible) == {"name": 8, "reason": 0}  # too narrow: minimums


def test_horizontal_scrollbar_is_a_few_runs_not_one_segment_per_cell():
    bar = CompactScrollBarRender.render_bar(size=120, virtual_size=400, window_size=120,
                                            position=100, vertical=False)
    segments = [s for s in bar.segments if s.text != "\n"]
    assert sum(len(s.text) for s in segments) == 120
    assert len(segments) <= 5
    vertical = CompactScrollBarRender.render_bar(size=20, virtual_size=100, window_size=20,
                                                 position=10, vertical=True)
    assert len(list(vertical.segments)) == 20  # one per line, untouched
    assert all(isinstance(s, Segment) for s in vertical.segments)


HEALTH_AND_METRICS = """
name: fit
health:
  - {kind: http, name: api, url: "http://127.0.0.1:9/health", interval: 1h}
  - {kind: tcp, name: a-rather-long-probe-name, host: 127.0.0.1, port: 9, interval: 1h}
metrics:
  - {kind: probe_latency, name: api latency, probe: api, unit: ms}
  - {kind: probe_latency, name: port latency, probe: a-rather-long-probe-name, unit: ms}
"""


async def test_tables_fit_the_pane_with_no_horizontal_scrolling(tmp_path):
    for size in ((80, 24), (40, 12), (120, 40)):
        for pane_type in (HealthPane, MetricsPane):
            context = make_context(tmp_path, HEALTH_AND_METRICS, live=False)
            app = BesideInput(lambda pane_type=pane_type, context=context: pane_type(context))
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                pane = app.query_one(pane_type)
                table = pane.table
                await async_wait_until(lambda table=table: all(
                    not c.auto_width for c in table.columns.values()), what="columns fitted")
                widths = [c.width + PADDING for c in table.columns.values()]
                assert not table.show_horizontal_scrollbar
                if size[0] >= 80:
                    assert sum(widths) <= table.usable_width(), (size, pane_type, widths)
                    last = list(table.columns.values())[-1]
                    assert last.key.value == "reason" and last.width >= 6


async def test_record_table_positions_match_datatable_without_summing_every_row():
    """RecordTable computes row positions from indexes; DataTable sums all rows above."""
    from textual.coordinate import Coordinate

    fast, plain = RecordTable(cursor_type="row"), DataTable(cursor_type="row")

    class Both(App):
        CSS = "DataTable { height: 12; }"

        def compose(self) -> ComposeResult:
            yield fast
            yield plain

    async with Both().run_test(size=(60, 30)) as pilot:
        for table in (fast, plain):
            table.add_column("a", key="a")
            table.add_column("b", key="b")
            for i in range(40):
                table.add_row(Text(f"a{i}"), Text(f"b{i}"), key=f"k{i}")
        await pilot.pause()
        fast.drop_first_rows(5)
        for _ in range(5):
            plain.remove_row(plain.ordered_rows[0].key)
        await pilot.pause()
        assert [r.key for r in fast.ordered_rows] == [r.key for r in plain.ordered_rows]
        assert list(fast._y_offsets) == list(plain._y_offsets)
        assert [r.key for r in fast.ordered_rows[3:7]] == [r.key for r in plain.ordered_rows[3:7]]
        assert fast.ordered_rows[-1].key == plain.ordered_rows[-1].key
        for row in (0, 7, 34):
            assert fast._get_row_region(row).y == plain._get_row_region(row).y
            for column in (0, 1):
                assert fast._get_cell_region(Coordinate(row, column)) == \
                    plain._get_cell_region(Coordinate(row, column))
        fast.move_cursor(row=30)
        plain.move_cursor(row=30)
        await pilot.pause()
        assert fast.cursor_row == plain.cursor_row == 30
        for table in (fast, plain):  # the cursor row scrolled into view
            rows_shown = table.size.height - table.header_height
            assert table.scroll_y <= 30 < table.scroll_y + rows_shown, (table, table.scroll_y)


FAST_PATH_CELLS = [
    Text("plain"), Text("bold", style="bold"), Text.assemble(("ERR", "red"), " and ", ("ok", "green")),
    Text("x" * 50), Text("ellipsis " * 9, overflow="ellipsis"), Text("漢字漢字漢字漢字漢字漢字漢字"),
    Text(""), Text("✓ ok", style="green on black"), Text("crop " * 20, overflow="crop"),
    Text("tab\tcell"), Text("two\nlines"), Text("right", justify="right"),
    Text("left ", style="on blue", justify="left"), Text.assemble("mid", ("dle", "bold"), justify="center"),
    Text("long right aligned value", justify="right", overflow="ellipsis"), Text("full", justify="full"),
    Text("unparsable", style="bold $accent"), Text.assemble(("spans", "$nope"), " too", style="italic"),
]


async def test_the_text_cell_fast_path_renders_exactly_what_datatable_renders():
    from rich.style import Style

    table = CellTable(cursor_type="row", zebra_stripes=True)

    class Holder(App):
        def compose(self) -> ComposeResult:
            yield table

    async with Holder().run_test(size=(120, 30)) as pilot:
        table.add_column("a", key="a", width=9)
        table.add_column("b", key="b")
        for i, cell in enumerate(FAST_PATH_CELLS):
            table.add_row(cell, FAST_PATH_CELLS[-1 - i], key=f"k{i}")
        await pilot.pause()
        fast = skipped = 0
        for row in range(len(FAST_PATH_CELLS)):
            for column, key in enumerate(("a", "b")):
                value = table.get_cell(f"k{row}", key)
                natural = table.columns[ColumnKey(key)].get_render_width(table)
                for width in (natural, 6, 3):
                    for base in (Style(), Style(bgcolor="grey11"), Style(color="red", bold=True)):
                        for cursor, hover in ((False, False), (True, False), (False, True)):
                            got = table._render_text_cell(value, row, column, base, width,
                                                          cursor, hover)
                            table._cell_render_cache.clear()
                            want = DataTable._render_cell(table, row, column, base, width,
                                                          cursor, hover)
                            if got is None:
                                skipped += 1
                                continue
                            fast += 1
                            assert got == want, (value, width, base, cursor, hover)
        assert fast > 250 and skipped == 3 * 3 * 3 * 3 * 2  # tab, newline, full: DataTable's way


class BracketedColumns(App):
    def compose(self) -> ComposeResult:
        table = CellTable()
        table.add_column("[bold]name[/bold] :fire:", key="name")
        table.add_column(Text("styled", style="italic"), key="styled")
        yield table


async def test_a_text_column_label_is_plain_text_not_markup():
    app = BracketedColumns()
    async with app.run_test(size=(60, 5)) as pilot:
        table = app.query_one(CellTable)
        await pilot.pause()
        label = table.columns[ColumnKey("name")].label
        assert label.plain == "[bold]name[/bold] :fire:" and not label.spans
        assert "[bold]name[/bold] :fire:" in table.render_line(0).text
        # a Text label is kept as it is, style included
        assert table.columns[ColumnKey("styled")].label.style == "italic"
