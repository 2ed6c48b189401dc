"""Health pane: one row per probe and per sub-check, each probe on its own interval.

Probes run in async workers (bounded by their timeouts); each probe's timer is armed
again only once its probe has finished, so a slow endpoint never piles up requests.
Only cells whose text changed are written to the table; ages tick once a second for
the visible rows only. Rows reach the table only through the boundary: the checker's
rows have passed it, and ``show_rows`` passes what it is given.

At start-up the first round may already be running in a forked child
(``core.sources.early_probes``): the pane takes its rows as they come, without
blocking, and probes in-process whatever it does not report.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker

from cockpit.core.config.models import (
    AlertsProbe,
    CommandProbe,
    HttpProbe,
    TargetProbe,
    TcpProbe,
)
from cockpit.core.http_clients import warm_up
from cockpit.core.sources.early_probes import EarlyProbes
from cockpit.core.sources.health import AnyProbe, HealthChecker, HealthRow, safe_rows
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.base import TablePane
from cockpit.tui.widgets.keyed_rows import KeyedRows
from cockpit.tui.widgets.table import CellTable, spread

Overall = Literal["ok", "fail", "unknown"]

#: Seconds the pane waits, when it goes, for its cancelled probes to end (a command's
#: tree is sent SIGTERM, then SIGKILL after the backend's grace, 2 s by default).
UNMOUNT_WAIT = 3.0

_COLUMNS = (("state", 6), ("name", None), ("latency", 7), ("age", 4), ("reason", None))
_FIXED = {key: width for key, width in _COLUMNS if width is not None}
_STATE = {
    "ok": ("✓ ok", "green"),
    "fail": ("✗ FAIL", "bold red"),
    "unknown": ("? n/a", "yellow"),
    "pending": ("… wait", "dim"),
}


def format_latency(ms: float | None) -> str:
    """``"34 ms"``, ``"2.5 ms"``, ``"1.2 s"``; ``"-"`` when there is none."""
    if ms is None:
        return "-"
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def format_age(seconds: float) -> str:
    """A coarse age: ``"<10s"``, ``"25s"`` (5 s steps), ``"4m"``, ``"2h"``, ``"3d"``.

    Coarse on purpose: a cell that changes every second repaints the table every
    second, which an SSH link pays for; a fresh result only needs to look fresh.
    """
    seconds = max(0.0, seconds)
    if seconds < 10:
        return "<10s"
    if seconds < 60:
        return f"{int(seconds) // 5 * 5}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def overall_state(rows: list[HealthRow], expected: int = 0) -> Overall:
    """``fail`` if any row fails; ``unknown`` if a row is unknown or a probe has no
    result yet (``expected`` main rows); else ``ok``."""
    if any(r.state == "fail" for r in rows):
        return "fail"
    mains = sum(1 for r in rows if r.parent is None)
    if not rows or mains < expected or any(r.state == "unknown" for r in rows):
        return "unknown"
    return "ok"


def describe_probe(probe: AnyProbe | None) -> str:
    """Where a probe looks: its URL, ``host:port`` or command."""
    if isinstance(probe, HttpProbe):
        return f"{probe.method} {probe.url}"
    if isinstance(probe, TcpProbe):
        return f"tcp {probe.host}:{probe.port}"
    if isinstance(probe, CommandProbe):
        if probe.run:
            return " ".join(probe.run)
        return next(iter((probe.script or "").strip().splitlines()), "")
    if isinstance(probe, TargetProbe):
        picked = [*probe.targets, *([f"selector {probe.selector}"] if probe.selector else [])]
        return "targets: " + (", ".join(picked) or "every target of the profile")
    if isinstance(probe, AlertsProbe):
        from cockpit.core.sources.alerts import alerts_url

        where = ", ".join(f"{k}={v}" for k, v in probe.match.items())
        return f"alerts: GET {alerts_url(probe.url)}" + (f" where {where}" if where else "")
    return ""


async def _ended(worker: Worker[None]) -> None:
    """Once ``worker`` has ended, however it did."""
    with contextlib.suppress(Exception):
        await worker.wait()


class HealthPane(TablePane):
    """Probe results in a table; ``ctrl+r`` re-probes everything now."""

    PANE_TITLE = "Health"
    PANE_NUMBER = 1
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Re-probe", id="health.refresh"),
        Binding("enter", "detail", "Detail", show=False, id="health.detail"),
        Binding("j", "cursor_down", "Down", show=False, id="health.down"),
        Binding("k", "cursor_up", "Up", show=False, id="health.up"),
    ]

    class Updated(Message):
        """New probe results: ``rows`` are the fresh results of this update only (feed
        them to ``MetricsPane.observe_probe``); ``overall`` covers every probe."""

        def __init__(self, rows: list[HealthRow], overall: Overall) -> None:
            super().__init__()
            self.rows = rows
            self.overall = overall

    def __init__(self, context: CockpitContext, *, id: str | None = "health") -> None:
        super().__init__(context, id=id)
        self._probes: dict[str, AnyProbe] = {p.name: p for p in context.loaded.profile.health}
        shown = context.boundary.line  # a profile's probe names are shown through it too
        #: probes by the name rows carry (the name as it passed the boundary)
        self._by_shown: dict[str, AnyProbe] = {shown(name): p for name, p in self._probes.items()}
        self._order: list[str] = list(self._by_shown)
        self._results: dict[str, list[HealthRow]] = {}
        self._keyed = KeyedRows()  # row key -> cells shown
        self._row_info: dict[str, HealthRow | None] = {}  # row key -> row (None: pending)
        self._probe_timers: dict[str, Timer] = {}
        self._inflight: set[str] = set()
        self._checker: HealthChecker | None = None
        self._early: EarlyProbes | None = None  #: the forked first round, while it runs
        self._early_pending: set[str] = set()  #: probes it has yet to report
        self._early_reading = False  #: its pipe is watched by the loop
        self._early_timer: Timer | None = None  #: gives up on it past its deadline
        self._early_unreaped: EarlyProbes | None = None  #: its child, until collected

    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row", id="health-table")
        for key, width in _COLUMNS:
            table.add_column(key, key=key, width=width)
        yield table

    def on_mount(self) -> None:
        self._sync_table()
        if not self.context.live:
            if self.context.early_probes is not None:  # (no launcher makes one so)
                self.context.early_probes.close()
            return
        self._checker = HealthChecker(list(self._probes.values()), self.context.backend,
                                      boundary=self.context.boundary)
        early, self.context.early_probes = self.context.early_probes, None
        if early is not None:
            self._early = early
            self._early_pending = set(early.names) & set(self._probes)
        for name in self._probes:
            if name not in self._early_pending:
                self._start(name)
        if early is not None:
            self._take_early()  # what has come already is in the first frame
            if self._early is not None:
                asyncio.get_running_loop().add_reader(early.fileno(), self._take_early)
                self._early_reading = True
                # a child past its probes' timeouts is given up on, whatever it does
                self._early_timer = self.set_timer(
                    max(0.0, early.deadline - time.monotonic()), self._give_up_early)
        self.set_interval(1.0, self._tick_ages)

    async def on_unmount(self) -> None:
        self._end_early()
        unreaped, self._early_unreaped = self._early_unreaped, None
        if unreaped is not None:  # (rare: stopped mid-round) collected in a thread
            threading.Thread(target=unreaped.wait, name="cockpit-early-probes-reaper",
                             daemon=True).start()
        for timer in self._probe_timers.values():
            timer.stop()
        self._probe_timers.clear()
        # Probes still running are cancelled and waited for (a bounded while): a
        # command probe's cancel kills its process tree, which must happen before the
        # loop ends, or the command outlives the cockpit (a hang-up mid-probe did so).
        running = self.workers.cancel_group(self, "health")
        if running:  # (asyncio.wait: past the bound, nothing more is waited for)
            await asyncio.wait([asyncio.ensure_future(_ended(worker)) for worker in running],
                               timeout=UNMOUNT_WAIT)
        if self._checker is not None:
            checker, self._checker = self._checker, None
            await checker.close()

    @property
    def table(self) -> CellTable:
        return self.query_one("#health-table", CellTable)

    @property
    def rows(self) -> list[HealthRow]:
        """Every current result, in profile order, sub-checks after their probe."""
        return [row for name in self._order for row in self._results.get(name, [])]

    @property
    def overall(self) -> Overall:
        return overall_state(self.rows, expected=len(self._order))

    # -- polling --------------------------------------------------------------------------

    def _take_early(self) -> None:
        """Show the rows the forked first round has reported since last time; once it
        has ended, probe here whatever it did not report."""
        early = self._early
        if early is None:
            return
        for name, rows in early.read():
            if name not in self._early_pending:  # (a line twice: never from our child)
                continue
            self._early_pending.discard(name)
            try:
                self._apply(rows)
            finally:  # whatever showing them did, the probe keeps running
                self._probe_timers[name] = self.set_timer(
                    self._probes[name].interval, lambda name=name: self._start(name))
        if early.ended or not self._early_pending:
            self._finish_early()

    def _give_up_early(self) -> None:
        """The child overran its probes' timeouts: stop it, probe the rest here."""
        self._early_timer = None
        if self._early is not None:
            self._finish_early()

    def _finish_early(self) -> None:
        left = sorted(self._early_pending)
        self._end_early()
        if self.app.return_code is not None:
            # quitting (a hang-up reaches the child too, and ends it): nothing new
            # started now would be stopped
            return
        for name in left:  # the child did not report them (it died, or overran)
            self._start(name)
        if self.context.loaded.profile.speaks_http():
            # the TLS context for this process's own requests, in a thread, once the
            # frame with these rows is out (it imports httpx: GIL time)
            self.call_after_refresh(warm_up)

    def _end_early(self) -> None:
        early, self._early = self._early, None
        self._early_pending.clear()
        if self._early_timer is not None:
            self._early_timer.stop()
            self._early_timer = None
        if early is None:
            return
        if self._early_reading:
            self._early_reading = False
            asyncio.get_running_loop().remove_reader(early.fileno())
        early.close()
        if not early.reap():
            self._early_unreaped = early  # collected by a later tick

    def _start(self, name: str) -> None:
        """Probe ``name`` now in a worker, unless it is already running (here, or in
        the forked first round)."""
        timer = self._probe_timers.pop(name, None)
        if timer is not None:
            timer.stop()
        if name in self._inflight or name in self._early_pending or self._checker is None:
            return
        self._inflight.add(name)
        self.run_worker(self._probe(name), group="health", exit_on_error=False)

    async def _probe(self, name: str) -> None:
        probe = self._probes[name]
        checker = self._checker
        try:
            assert checker is not None
            rows = await checker.check(probe)
        except Exception as exc:  # run_probe never raises; keep polling if it ever does
            rows = safe_rows([HealthRow(name, "fail", None, f"internal error: {exc}",
                                        time.time())], self.context.boundary)
        finally:
            self._inflight.discard(name)
        if self._checker is None or not self.is_attached:  # unmounting
            return
        try:
            self._apply(rows)
        finally:
            # Re-arm only now that the probe is done: a slow probe never piles up; and
            # whatever showing its rows did, the probe keeps running.
            self._probe_timers[name] = self.set_timer(probe.interval,
                                                      lambda: self._start(name))

    def action_refresh(self) -> None:
        """Re-probe every probe now; their timers restart from their results."""
        if not self.context.live:
            return
        for name in self._probes:
            self._start(name)
        self.set_status("re-probing…")

    # -- display --------------------------------------------------------------------------

    def show_rows(self, rows: list[HealthRow]) -> None:
        """Show these results (replacing the rows of the probes they belong to), once
        they have passed the boundary."""
        self._apply(safe_rows(rows, self.context.boundary))

    def _apply(self, rows: list[HealthRow]) -> None:
        grouped: dict[str, list[HealthRow]] = {}
        for row in rows:
            grouped.setdefault(row.parent or row.name, []).append(row)
        for name, group in grouped.items():
            group.sort(key=lambda r: r.parent is not None)  # the probe's row first
            if name not in self._order:
                self._order.append(name)
            self._results[name] = group
        self._sync_table()
        overall = self.overall
        failing = sum(1 for r in self.rows if r.state == "fail")
        self.set_status(f"{overall.upper()} · {failing} failing" if failing else overall.upper())
        self.post_message(self.Updated(list(rows), overall))

    def _wanted(self) -> list[tuple[str, HealthRow | None, str]]:
        """(row key, result or None while pending, probe name) in display order."""
        out: list[tuple[str, HealthRow | None, str]] = []
        for name in self._order:
            results = self._results.get(name)
            if not results:
                out.append((name, None, name))
                continue
            out.extend((row.name, row, name) for row in results)
        # Row keys must be unique: two rows of one name (two processes called "sleep")
        # froze the pane (the table refused the second key) before.
        seen: dict[str, int] = {}
        unique = []
        for key, row, name in out:
            count = seen.get(key, 0) + 1
            seen[key] = count
            unique.append((key if count == 1 else f"{key}\x00{count}", row, name))
        return unique

    def _cells(self, row: HealthRow | None, probe: str, now: float) -> tuple[Text, ...]:
        if row is None:
            label, style = _STATE["pending"]
            return (Text(label, style=style), Text(probe), Text("-"), Text("-"), Text(""))
        label, style = _STATE[row.state]
        if row.parent is not None:
            short = row.name[len(row.parent) + 1:] if row.name.startswith(row.parent + "/") \
                else row.name
            name = Text("  └ " + short)
        else:
            name = Text(row.name, style="bold")
        reason = "" if row.state == "ok" else row.reason
        return (
            Text(label, style=style),
            name,
            Text(format_latency(row.latency_ms), justify="right"),
            Text(format_age(now - row.checked_at), justify="right"),
            Text(reason, style="red" if row.state == "fail" else ""),
        )

    def _sync_table(self) -> None:
        """Bring the table in line with the results, writing only changed cells."""
        table = self.table
        wanted = self._wanted()
        now = self.context.now()
        self._row_info = {key: row for key, row, _ in wanted}
        rows = [(key, self._cells(row, probe, now)) for key, row, probe in wanted]
        # (a probe gaining or losing sub-checks rebuilds the table: rare)
        if self._keyed.sync(table, rows, [column for column, _width in _COLUMNS]):
            self.call_after_refresh(self._fit)

    def _tick_ages(self) -> None:
        """Refresh the age cells of the visible rows, when their text changed."""
        if self._early_unreaped is not None and self._early_unreaped.reap():
            self._early_unreaped = None
        now = self.context.now()

        def age(key: str) -> str | None:
            row = self._row_info.get(key)
            return None if row is None else format_age(now - row.checked_at)

        self._keyed.tick_visible(self.table, "age", 3, age)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Name as wide as the longest (within reason), the reason column the rest."""
        table = self.table
        if not table.size.width:
            return
        longest = max((len(c.plain) for c in table.get_column("name")), default=4)
        flexible = {"name": (min(10, longest), max(4, longest)), "reason": (0, 1_000)}
        table.fit_columns(spread(table.usable_width(), _FIXED, flexible))

    # -- keys -----------------------------------------------------------------------------

    def open_selected(self, key: str) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        """A notification with the selected row's reason, target and last check."""
        table = self.table
        if not table.row_count:
            return
        key = table.ordered_rows[table.cursor_row].key.value or ""
        row = self._row_info.get(key)
        probe = self._by_shown.get(row.parent or row.name if row else key)
        line = self.context.boundary.line
        lines = [line(describe_probe(probe))] if probe is not None else []
        if row is None:
            lines.append("not checked yet")
        else:
            checked = time.strftime("%H:%M:%S", time.localtime(row.checked_at))
            age = format_age(self.context.now() - row.checked_at)
            lines.append(f"{_STATE[row.state][0]} · {format_latency(row.latency_ms)}")
            if row.reason:
                lines.append(row.reason)
            if row.details:
                lines.append(row.details)
            lines.append(f"checked at {checked} ({age} ago)")
        severity = "error" if row is not None and row.state == "fail" else "information"
        self.app.notify("\n".join(text for text in lines if text), title=key,
                        severity=severity, markup=False)
