"""Audit pane: the system's JSON-lines audit log, followed, and the cockpit's operator trail.

Two views (``a`` toggles): the system log (``profile.audit``) with the profile's columns,
and the operator trail (``context.trail_path``) with its hash-chain verification state.
Each view keeps at most ``settings.audit_buffer_records`` records (older ones dropped and
counted); rows arrive a batch at a time and the cursor stays on the newest row while it
is at the bottom. ``/`` filters with the core's expressions (AND), ``c`` counts a
field's values, Enter shows a record as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from cockpit.core.audit.query import AuditRecord, RecordFilter, count_by
from cockpit.core.config.models import AuditSource
from cockpit.core.errors import CockpitError
from cockpit.core.sources.audit import AuditFollower
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.audit_rows import (
    SYSTEM_COUNT_FIELDS,
    TRAIL_COLUMNS,
    TRAIL_COUNT_FIELDS,
    Entry,
    FileSearch,
    RecordTable,
    TrailSnapshot,
    ViewState,
    compile_filter,
    count_values,
    load_trail,
    make_entry,
    split_filter,
)
from cockpit.tui.panes.base import Pane
from cockpit.tui.widgets.loglines import QuietStatus

if TYPE_CHECKING:  # imported when a search runs
    from cockpit.core.audit.search import SearchResult

View = Literal["system", "operator"]
_LABELS = {"system": "system log", "operator": "operator trail"}
#: Seconds between checks of the operator trail file (the next check waits for this one).
TRAIL_POLL = 1.0
#: Rows of a search's answer shown first (its end: where the cursor goes), before the
#: rest is built; the rest goes in above them FILL_SLICE rows at a time, the loop running
#: for FILL_PAUSE s whenever FILL_BUDGET s of the UI thread went to it (a bare yield let
#: a Textual timer's chain of tasks take one step only); followed records wait FILL_WAIT s.
FIRST_ROWS, FILL_SLICE, FILL_BUDGET, FILL_PAUSE, FILL_WAIT = 200, 250, 0.005, 0.001, 0.05


class AuditPane(QuietStatus, Pane):
    """The audit log and the operator trail as tables; filter, counts, record view."""

    PANE_TITLE = "Audit"
    PANE_NUMBER = 3

    DEFAULT_CSS = """
    AuditPane #audit-note { color: $text-muted; height: auto; padding: 0 1; }
    AuditPane RecordTable { height: 1fr; }
    AuditPane #audit-filter { dock: bottom; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="audit.filter"),
        Binding("c", "counts", "Counts", id="audit.counts"),
        Binding("enter", "open_record", "Record", id="audit.open"),
        Binding("a", "toggle_view", "Trail/log", id="audit.toggle_view"),
        Binding("g", "top", "Top", show=False, id="audit.top"),
        Binding("G", "bottom", "Bottom", show=False, id="audit.bottom"),
        Binding("j", "cursor_down", "Down", show=False, id="audit.down"),
        Binding("k", "cursor_up", "Up", show=False, id="audit.up"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="audit.clear_filter"),
    ]

    def __init__(self, context: CockpitContext, *, id: str | None = "audit") -> None:
        super().__init__(context, id=id)
        self.source: AuditSource | None = context.loaded.profile.audit
        limit = context.settings.audit_buffer_records
        self._views: dict[str, ViewState] = {
            "operator": ViewState("operator", TRAIL_COLUMNS, limit)}
        if self.source is not None:
            columns = tuple(dict.fromkeys(self.source.columns)) or ("ts_utc",)
            self._views["system"] = ViewState("system", columns, limit)
        self.view: View = "system" if self.source is not None else "operator"
        #: each view's filter: (text as typed, compiled); the operator trail and the
        #: system log are filtered separately
        self._filters: dict[str, tuple[str, RecordFilter]] = {}
        #: the system log's filter answered from the whole file (see ``_search_file``)
        self._searches: dict[str, FileSearch] = {}
        self.trail_status = "trail: not loaded yet"  #: the operator trail's verification
        self._filter_error: str | None = None
        self._seq = 0
        self._follower: AuditFollower | None = None
        self._follow_problem: str | None = None
        self._trail_sig: tuple[int, int, int, int] | None = None
        self._trail_forced = True
        self._trail_wake: asyncio.Event | None = None
        #: system records that arrived while the pane was hidden, and how many overflowed
        self._deferred: deque[AuditRecord] = deque(maxlen=limit)
        self._deferred_dropped = 0
        self._deferred_timer: Timer | None = None
        #: a search's answer is going into the table a slice a frame (``_fill``)
        self._filling = False
        #: a search process started when the filter box opens (``_keep_spare``): the
        #: next search's start-up is done while the filter is typed
        self._spare: asyncio.subprocess.Process | None = None

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.source is None:
            yield Static("This profile has no audit log (audit: path:); showing the "
                         "cockpit's operator trail.", id="audit-note")
        for name, state in self._views.items():
            table = RecordTable(cursor_type="row", zebra_stripes=True, id=f"audit-{name}")
            for column in state.columns:
                table.add_column(Text(self.context.boundary.line(column)), key=column)
            table.display = name == self.view
            yield table
        filt = Input(placeholder="filter: decision=DENY reason_codes=… trace_id=… text "
                     "(Enter applies, Esc clears)", id="audit-filter", compact=True)
        filt.display = False
        yield filt

    def on_mount(self) -> None:
        self._update_title()
        self._update_status()
        if not self.context.live:
            self.show_trail(load_trail(self.context.trail_path, self._views["operator"].limit))
            return
        self._trail_wake = asyncio.Event()
        self.run_worker(self._watch_trail(), group="audit-trail", exit_on_error=False)
        if self.source is not None:
            self.run_worker(self._follow_audit(self.source), group="audit-follow",
                            exit_on_error=False)
            self.set_interval(1.0, self._check_follower)

    # -- public state -------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows shown in the current view (those matching the filter)."""
        return len(self._state.shown)

    @property
    def total_count(self) -> int:
        """Records held for the current view (at most ``audit_buffer_records``)."""
        return len(self._state.entries)

    @property
    def malformed_count(self) -> int:
        """Malformed lines seen by the current view."""
        return self._state.malformed

    @property
    def dropped_count(self) -> int:
        """Records of the current view dropped to keep the buffer bounded."""
        return self._state.dropped

    @property
    def deferred_count(self) -> int:
        """System records waiting to be shown (pane hidden, or a background repaint due)."""
        return len(self._deferred)

    @property
    def following(self) -> bool:
        """Is the cursor on the newest row (new rows keep it there)?"""
        return _at_bottom(self._table)

    def table(self, view: str | None = None) -> RecordTable:
        """The table of ``view`` (default: the current one)."""
        return self.query_one(f"#audit-{view or self.view}", RecordTable)

    def selected_record(self) -> AuditRecord | None:
        """The record under the cursor of the current view."""
        shown = self._state.shown
        row = self._table.cursor_row
        return shown[row].record if 0 <= row < len(shown) else None

    # -- feeding ------------------------------------------------------------------------

    def add_records(self, records: Iterable[AuditRecord]) -> None:
        """Add records of the system log (one batch: one table update).

        While the pane is hidden (compact layout, another pane shown) records wait,
        bounded, and reach the table when it is shown: a hidden table that grows
        would still make the whole screen lay out and repaint.
        """
        if "system" not in self._views:
            return
        batch = list(records)
        wait = self.repaint_wait() if self.display else 0.0
        if self._filling:  # the table is being filled with a search's answer: wait
            wait = max(wait, FILL_WAIT)
        if self.display and not wait and not self._deferred:
            self._append("system", batch)
            return
        limit = self._deferred.maxlen or 0
        self._deferred_dropped += max(0, len(self._deferred) + len(batch) - limit)
        self._deferred.extend(batch)
        if not self.display:
            return
        if not wait:
            self.on_show()
        elif self._deferred_timer is None:
            # a background pane: the records wait for its next repaint
            self._deferred_timer = self.set_timer(wait, self._deferred_due)

    def _deferred_due(self) -> None:
        self._deferred_timer = None
        if not self.display:
            return
        wait = self.repaint_wait() or (FILL_WAIT if self._filling else 0.0)
        if wait:
            self._deferred_timer = self.set_timer(wait, self._deferred_due)
        else:
            self.on_show()

    def on_descendant_focus(self) -> None:
        """The operator came in: show what waited at once."""
        if self._deferred_timer is not None:
            self._deferred_timer.stop()
            self._deferred_timer = None
            self.on_show()

    def on_show(self) -> None:
        """Apply what arrived while the pane was hidden (or waited for a repaint)."""
        if self._deferred and "system" in self._views and not self._filling:
            self._views["system"].dropped += self._deferred_dropped
            self._deferred_dropped = 0
            records = list(self._deferred)
            self._deferred.clear()
            self._append("system", records)

    def show_trail(self, snapshot: TrailSnapshot) -> None:
        """Replace the operator view with a fresh read of the trail."""
        state = self._views["operator"]
        self.trail_status = snapshot.status
        state.entries.clear()
        state.admit(self._entries("operator", snapshot.records))
        state.dropped = max(0, snapshot.lines - len(state.entries))
        state.malformed = snapshot.malformed
        self._rebuild("operator")

    def refresh_operator_trail(self) -> None:
        """Re-read and verify the trail now (the app calls this after each run)."""
        if self._trail_wake is None:
            if self.is_mounted:
                self.show_trail(load_trail(self.context.trail_path,
                                           self._views["operator"].limit))
            return
        self._trail_forced = True
        self._trail_wake.set()

    def apply_filter(self, text: str) -> str | None:
        """Filter both views with ``text``; the error message of a bad expression."""
        try:
            filt = compile_filter(text)
        except CockpitError as exc:
            self._filter_error = str(exc)
            self._update_status()
            return self._filter_error
        self._filter_error = None
        shown_text = " ".join(text.split()) if filt else ""
        self._filters[self.view] = (shown_text, filt)
        if self.view == "system":
            self._start_search(shown_text)
        self._rebuild(self.view)
        return None

    @property
    def search(self) -> FileSearch | None:
        """The whole-file answer to the current view's filter (the system log only)."""
        return self._searches.get(self.view)

    def _start_search(self, text: str) -> None:
        """Ask the whole file for ``text`` (the filter as shown), in a worker; the rows
        loaded so far answer meanwhile."""
        self.workers.cancel_group(self, "audit-search")
        self._searches.pop("system", None)
        if not text or self.source is None or not self.context.live:
            return
        search = FileSearch(text, self._seq)
        self._searches["system"] = search
        self.run_worker(self._search_file(search), group="audit-search",
                        exit_on_error=False)

    @property
    def filter_text(self) -> str:
        """The filter in force in the view shown ("" when none)."""
        return self._filters.get(self.view, ("", None))[0]

    def _filter_of(self, view: str) -> RecordFilter | None:
        filt = self._filters.get(view, ("", None))[1]
        return filt if filt else None

    def clear_filter(self) -> None:
        """Show every record again."""
        self.apply_filter("")

    # -- actions ------------------------------------------------------------------------

    def action_filter(self) -> None:
        filt = self.query_one("#audit-filter", Input)
        filt.value = self.filter_text
        filt.display = True
        filt.focus()
        if (self.view == "system" and self.source is not None and self.context.live
                and self._spare is None and not self.workers_in("audit-spare")):
            self.run_worker(self._keep_spare(), group="audit-spare", exit_on_error=False)

    def workers_in(self, group: str) -> bool:
        """Does one of this pane's workers of ``group`` still run?"""
        return any(w.group == group and not w.is_finished
                   for w in self.workers if w.node is self)

    async def _keep_spare(self) -> None:
        """Start a spare search process and hold it until a search takes it (then this
        worker is cancelled) or the pane goes (it is ended and reaped)."""
        from cockpit.core.audit.search import start_spare, stop_spare

        proc = await start_spare()
        self._spare = proc
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            if self._spare is proc:  # not taken
                self._spare = None
                await stop_spare(proc)

    def _take_spare(self) -> asyncio.subprocess.Process | None:
        """The spare search process, if one is ready (it is the caller's now)."""
        spare, self._spare = self._spare, None
        self.workers.cancel_group(self, "audit-spare")
        return spare

    def action_clear_filter(self) -> None:
        filt = self.query_one("#audit-filter", Input)
        filt.value = ""
        filt.display = False
        self.clear_filter()
        self._table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":  # else Esc goes on to the app
            return bool(self.query_one("#audit-filter", Input).display or self.filter_text
                        or self._filter_error)
        return True

    def action_toggle_view(self) -> None:
        if self.source is None:
            self.notify("this profile has no audit log: only the operator trail",
                        severity="warning")
            return
        self.view = "operator" if self.view == "system" else "system"
        for name in self._views:
            self.table(name).display = name == self.view
        if not self.query_one("#audit-filter", Input).has_focus:
            self._table.focus()
        if self.view == "operator":
            self.refresh_operator_trail()
        self._update_title()
        self._update_status()

    def action_counts(self) -> None:
        from cockpit.tui.screens.counts import CountsScreen, FieldCounts  # not start-up work

        state = self._state
        records = [entry.record for entry in state.shown]
        fields = (SYSTEM_COUNT_FIELDS if self.view == "system" else TRAIL_COUNT_FIELDS)
        scope = f"last {len(state.entries):,} records loaded"
        if self.filter_text:
            scope = f"filter {self.filter_text} · {scope}"

        def counter(fieldname: str) -> FieldCounts:
            return FieldCounts.build(fieldname, *count_values(records, fieldname), scope)

        path = (os.path.expanduser(self.source.path)
                if self.view == "system" and self.source is not None
                else self.context.trail_path)
        exprs = split_filter(self.filter_text)

        def file_counter(fieldname: str) -> FieldCounts:
            result = count_by(path, fieldname, exprs)
            where = f"whole file: {result.total:,} lines, {result.malformed:,} malformed"
            return FieldCounts.build(fieldname, dict(result.counts), result.matched,
                                     result.missing, where)

        title = f"Counts · {_LABELS[self.view]}"
        self.app.push_screen(CountsScreen(
            [*fields, *state.columns], counter, boundary=self.context.boundary,
            title=title, file_counter=file_counter))

    def action_open_record(self) -> None:
        record = self.selected_record()
        if record is None:
            return
        row = self._table.cursor_row + 1
        title = f"{_LABELS[self.view]} · row {row:,} of {self.row_count:,}"
        if record.line:
            title += f" · line {record.line:,}"
        # Imported here: rich.syntax pulls in pygments, not start-up work.
        from cockpit.tui.screens.record import RecordScreen

        self.app.push_screen(RecordScreen(record, self.context.boundary, title=title))

    def action_top(self) -> None:
        self._table.move_cursor(row=0)

    def action_bottom(self) -> None:
        _to_bottom(self._table)

    def action_cursor_down(self) -> None:
        self._table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self._table.action_cursor_up()

    def focus_pane(self) -> None:
        self._table.focus()

    # -- events -------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "audit-filter":
            return
        event.stop()
        if self.apply_filter(event.value) is None:
            event.input.display = False
            self._table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self._table:
            event.stop()
            self.action_open_record()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self._table:
            self._update_status()

    # -- internals ----------------------------------------------------------------------

    @property
    def _state(self) -> ViewState:
        return self._views[self.view]

    @property
    def _table(self) -> RecordTable:
        return self.table()

    def _entries(self, name: str, records: list[AuditRecord]) -> list[Entry]:
        columns = self._views[name].columns
        boundary = self.context.boundary
        out = []
        for record in records:
            self._seq += 1
            out.append(make_entry(self._seq, record, columns, boundary))
        return out

    def _append(self, name: str, records: list[AuditRecord]) -> None:
        """One batch into a view: buffer, drop the oldest rows, add the matching ones."""
        if not records:
            return
        state = self._views[name]
        table = self.table(name)
        follow = _at_bottom(table)
        state.malformed += sum(1 for rec in records if rec.data is None)
        kept = state.admit(self._entries(name, records))
        search = self._searches.get(name)
        if search is not None and not search.running and search.error is None:
            self._append_searched(name, kept, follow)
            return
        stale = state.stale_rows()
        if stale:
            for _ in range(stale):
                state.shown.popleft()
            table.drop_first_rows(stale)
        filt = self._filter_of(name)
        matching = [e for e in kept if filt.matches_record(e.record)] if filt else kept
        state.shown.extend(matching)
        table.add_entries(matching)
        if follow:
            _to_bottom(table)
        if name == self.view:
            self._update_status()

    def _append_searched(self, name: str, kept: list[Entry], follow: bool) -> None:
        """New records into a view showing a whole-file answer: the matching ones after
        it, the oldest rows dropped past the buffer's size."""
        state = self._views[name]
        table = self.table(name)
        filt = self._filter_of(name)
        matching = [e for e in kept if filt is None or filt.matches_record(e.record)]
        search = self._searches[name]
        if search.matched is not None:
            search.matched += len(matching)
        state.shown.extend(matching)
        table.add_entries(matching)
        excess = len(state.shown) - state.limit
        if excess > 0:
            for _ in range(excess):
                state.shown.popleft()
            table.drop_first_rows(excess)
        if follow:
            _to_bottom(table)
        if name == self.view:
            self._update_status()

    def _rebuild(self, name: str) -> None:
        """Fill a view's table again from its buffer (a new filter, a reloaded trail),
        or from the whole file's answer to the filter once it has come."""
        state = self._views[name]
        table = self.table(name)
        follow = _at_bottom(table)
        keep = None
        if not follow and 0 <= table.cursor_row < len(state.shown):
            keep = state.shown[table.cursor_row]
        filt = self._filter_of(name)
        search = self._searches.get(name)
        if search is not None and not search.running and search.error is None:
            later = [e for e in state.entries if e.seq > search.start_seq
                     and (not filt or filt.matches_record(e.record))]
            shown = [*search.entries, *later][-state.limit:]
        else:
            shown = [e for e in state.entries if not filt or filt.matches_record(e.record)]
        state.shown = deque(shown)
        table.clear()
        table.add_entries(shown)
        if follow or keep is None:
            _to_bottom(table)
        else:
            row = _find(shown, keep)
            table.move_cursor(row=row)
        if name == self.view:
            self._update_status()

    def _update_title(self) -> None:
        self.border_title = f"{self.PANE_NUMBER} {self.PANE_TITLE} · {_LABELS[self.view]}"

    def _update_status(self) -> None:
        state = self._state
        parts: list[str] = []
        if self._filter_error:
            parts.append(f"✗ {self._filter_error}")
        if self.view == "operator":
            parts.append(self.trail_status)
        search = self.search
        if search is not None and search.running:
            parts.append(f"filter {self.filter_text}: {len(state.shown):,} of "
                         f"{len(state.entries):,} loaded · searching the whole file…")
        elif search is not None and search.error is None:
            parts.append(f"filter {self.filter_text}: {search.matched or 0:,} in the whole "
                         f"file ({search.seconds:.2f} s), last {len(state.shown):,} shown")
        elif self.filter_text:
            parts.append(f"filter {self.filter_text}: {len(state.shown):,} of "
                         f"{len(state.entries):,}"
                         + (f" loaded · whole file: {search.error}" if search else ""))
        else:
            parts.append(f"{len(state.entries):,} records")
        if state.malformed:
            parts.append(f"{state.malformed:,} malformed")
        if state.dropped:
            parts.append(f"{state.dropped:,} dropped")
        if self.view == "system" and self._follow_problem:
            parts.append(self._follow_problem)
        parts.append("following" if self.following else "paused (G follows)")
        self.set_status(" · ".join(parts))  # plain text: filters may hold brackets

    # -- workers ------------------------------------------------------------------------

    async def _search_file(self, search: FileSearch) -> None:
        """The whole file's last matches and their number (``core.audit.search``: a
        separate process); rows built off the UI thread, the last ones first: the screen
        shows the answer's end while the rest is built and goes in above it. The search
        numbers the records' lines meanwhile (a big file's answer comes first)."""
        from cockpit.core.audit.search import search_file, stop_spare

        assert self.source is not None
        state = self._views["system"]
        path = os.path.expanduser(self.source.path)
        spare = self._take_spare()
        try:
            result = await search_file(path, split_filter(search.text), state.limit,
                                       spare=spare)
        except OSError as exc:
            search.error = f"cannot search: {exc}"
            result = None
        finally:
            if spare is not None and spare.stdin is not None and not spare.stdin.is_closing():
                await stop_spare(spare)  # not asked (the search failed before): ended
        try:
            await self._show_answer(search, result)
            if result is not None and self._searches.get("system") is search:
                await result.numbered()
        finally:
            if result is not None:  # another filter, or the pane is going: it stops
                await result.close()
        search.numbered = True

    async def _show_answer(self, search: FileSearch, result: SearchResult | None) -> None:
        """Put ``result`` on screen as ``search``'s answer (the rows loaded if it failed)."""
        state = self._views["system"]
        if self._searches.get("system") is not search:
            return  # another filter since
        if result is not None:
            search.error = result.error
            search.matched = result.matched
            search.seconds = result.seconds
        if result is None or search.error is not None:
            search.running = False
            self._rebuild("system")  # the rows loaded, as the status says
            return
        columns, boundary = state.columns, self.context.boundary
        records = result.records
        total = len(records)

        def build(start: int, stop: int) -> list[Entry]:
            return [make_entry(i - total, records[i], columns, boundary)
                    for i in range(start, stop)]

        split = max(0, total - FIRST_ROWS)
        search.entries = await asyncio.to_thread(build, split, total)
        if self._searches.get("system") is not search:
            return
        search.running = False
        if not split:
            self._rebuild("system")
            return
        self._filling = True
        try:
            self._rebuild("system")  # the answer's end, the cursor on its last row
            # painted before the rest is built: that thread would take the interpreter
            # lock from the frame half the time (measured: 24 ms frames took 40-70 ms)
            await self._after_frame()
            older = await asyncio.to_thread(build, 0, split)
            if self._searches.get("system") is not search:
                return
            search.entries = older + search.entries
            await self._fill_above(search, older)
        finally:
            self._filling = False
        if self._searches.get("system") is search:
            self._update_status()
            self.on_show()  # records followed meanwhile

    async def _after_frame(self) -> None:
        """Return once the screen has been refreshed (at once if it needs nothing)."""
        painted = asyncio.Event()
        if self.call_after_refresh(painted.set):
            await painted.wait()

    async def _fill_above(self, search: FileSearch, older: list[Entry]) -> None:
        """Put the older part of a big answer above the rows shown, FILL_SLICE rows at a
        time, the loop running FILL_PAUSE whenever FILL_BUDGET went to it: no frame or
        timer waits for thousands of rows, and the rows on screen stay where they are."""
        state = self._views["system"]
        table = self.table("system")
        room = state.limit - len(state.shown)  # followed records since: the newest stay
        older = older[max(0, len(older) - room):] if room > 0 else []
        began = time.perf_counter()
        while older:
            part = older[-FILL_SLICE:]
            del older[-FILL_SLICE:]
            table.add_entries(part, first=True)
            state.shown.extendleft(reversed(part))
            if time.perf_counter() - began >= FILL_BUDGET:
                await asyncio.sleep(FILL_PAUSE)  # timers, messages, a frame if due
                if self._searches.get("system") is not search:
                    return  # another filter: it rebuilt the table
                began = time.perf_counter()

    async def _follow_audit(self, source: AuditSource) -> None:
        follower = self._follower = AuditFollower(source)
        try:
            async for batch in follower.batches():
                self.add_records(batch.records)
        except (OSError, CockpitError) as exc:
            self._follow_problem = f"cannot follow the audit log: {exc}"
            self._update_status()
        finally:
            await follower.close()

    def _check_follower(self) -> None:
        follower = self._follower
        if follower is None:
            return
        problem = None if follower.status in ("following", "starting") else follower.status
        if problem != self._follow_problem:
            self._follow_problem = problem
            self._update_status()

    async def _watch_trail(self) -> None:
        """Re-read the trail when its file changes (checked every second) or when asked."""
        assert self._trail_wake is not None
        path = self.context.trail_path
        limit = self._views["operator"].limit
        while True:
            self._trail_wake.clear()
            sig = _signature(path)
            if self._trail_forced or sig != self._trail_sig:
                self._trail_forced = False
                self._trail_sig = sig
                snapshot = await asyncio.to_thread(load_trail, path, limit)
                self.show_trail(snapshot)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TRAIL_POLL):
                    await self._trail_wake.wait()


def _at_bottom(table: DataTable[object]) -> bool:
    return table.cursor_row >= table.row_count - 1


def _to_bottom(table: DataTable[object]) -> None:
    if table.row_count:
        if isinstance(table, RecordTable):
            table.settle()  # new rows measured now: the cursor scrolls in the same frame
        table.move_cursor(row=table.row_count - 1)


def _find(shown: list[Entry], keep: Entry) -> int:
    """The row of ``keep`` (same entry, else same trail line), else of the next newer one."""
    seqs = [entry.seq for entry in shown]
    i = bisect_left(seqs, keep.seq)
    if i < len(shown) and shown[i].seq == keep.seq:
        return i
    if keep.record.line is not None:
        for j, entry in enumerate(shown):
            if entry.record.line == keep.record.line:
                return j
    return max(0, min(i, len(shown) - 1))


def _signature(path: os.PathLike[str]) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
