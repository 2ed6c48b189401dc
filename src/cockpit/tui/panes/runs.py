"""Runs pane: every action attempt of this session, with its live output a key away."""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from cockpit.core.durations import format_duration
from cockpit.tui.panes.base import TablePane
from cockpit.tui.runs import RunEntry

_STATUS = {
    "running": "▶ running",
    "succeeded": "✓ ok",
    "failed": "✗ FAILED",
    "denied": "⊘ DENIED",
    "timed_out": "⏱ TIMEOUT",
    "cancelled": "■ cancelled",
    "error": "✗ ERROR",
}


class RunsPane(TablePane):
    """A table of runs; Enter shows a run's output streaming live, ``x`` cancels it."""

    PANE_TITLE = "Runs"
    PANE_NUMBER = 5
    BINDINGS = [
        Binding("enter", "open", "Output", id="runs.open"),
        Binding("x", "cancel_run", "Cancel run", id="runs.cancel"),
        Binding("j", "cursor_down", "Down", show=False, id="runs.down"),
        Binding("k", "cursor_up", "Up", show=False, id="runs.up"),
    ]

    class OpenRequested(Message):
        """The operator wants to see a run's output."""

        def __init__(self, entry: RunEntry) -> None:
            super().__init__()
            self.entry = entry

    class CancelRequested(Message):
        """The operator wants to cancel a running run."""

        def __init__(self, entry: RunEntry) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, context, *, id: str | None = "runs") -> None:
        super().__init__(context, id=id)
        self.entries: dict[str, RunEntry] = {}
        self._ticker = None

    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(cursor_type="row", id="runs-table")
        table.add_column("#", key="n", width=3)
        table.add_column("status", key="status", width=11)
        table.add_column("action", key="action")
        table.add_column("params", key="params")
        table.add_column("time", key="time", width=7)
        table.add_column("exit", key="exit", width=4)
        yield table

    def on_mount(self) -> None:
        self.set_status("no runs yet · ctrl+p or : to run an action")

    def _cells(self, entry: RunEntry) -> list[str]:
        params = self.context.boundary.line(
            json.dumps(entry.prepared.params_shown, ensure_ascii=False)[1:-1])
        exit_code = (
            ""
            if entry.outcome is None or entry.outcome.exit_code is None
            else str(entry.outcome.exit_code)
        )
        return [
            str(entry.number),
            _STATUS.get(entry.status, entry.status),
            entry.action_id,
            params.replace('"', ""),
            format_duration(entry.duration(self.context.now())),
            exit_code,
        ]

    def add_run(self, entry: RunEntry) -> None:
        """Show a new run at the bottom and move the cursor to it."""
        key = str(entry.number)
        self.entries[key] = entry
        self.table.add_row(*self._cells(entry), key=key)
        self.table.move_cursor(row=self.table.row_count - 1)
        self._update_status()
        if self._ticker is None and self.context.live:
            self._ticker = self.set_interval(1.0, self._tick)

    def update_run(self, entry: RunEntry) -> None:
        """Refresh a run's row (status, duration, exit code)."""
        key = str(entry.number)
        for column, value in zip(
            ("n", "status", "action", "params", "time", "exit"), self._cells(entry), strict=True
        ):
            self.table.update_cell(key, column, value)
        self._update_status()

    def _tick(self) -> None:
        running = [e for e in self.entries.values() if e.running]
        for entry in running:
            self.table.update_cell(
                str(entry.number), "time", format_duration(entry.duration(self.context.now()))
            )
        if not running and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _update_status(self) -> None:
        running = sum(1 for e in self.entries.values() if e.running)
        failed = sum(1 for e in self.entries.values() if e.status not in ("running", "succeeded"))
        count = len(self.entries)
        self.set_status(
            f"{count} run{'s' if count != 1 else ''} · {running} running · {failed} not ok"
        )

    @property
    def selected(self) -> RunEntry | None:
        table = self.table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.entries.get(str(row_key.value))

    @property
    def running_entries(self) -> list[RunEntry]:
        return [e for e in self.entries.values() if e.running]

    def open_selected(self, key: str) -> None:
        self.action_open()

    def action_open(self) -> None:
        if (entry := self.selected) is not None:
            self.post_message(self.OpenRequested(entry))

    def action_cancel_run(self) -> None:
        entry = self.selected
        if entry is None or not entry.running:
            self.app.notify("select a running run to cancel", severity="warning")
            return
        self.post_message(self.CancelRequested(entry))
