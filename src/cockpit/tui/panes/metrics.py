"""Metrics pane: one row per metric with a sparkline, the value and its threshold state.

Metrics are sampled in async workers, one re-arming timer per distinct interval
(metrics sharing an interval share a scrape). ``probe_latency`` metrics are fed by
``observe_probe`` from the Health pane's results. Entering crit raises one
notification per crossing; Enter opens the metric's chart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer

from cockpit.core.config.models import ProbeLatencyMetric
from cockpit.core.sources.health import HealthRow
from cockpit.core.sources.metrics import AnyMetric, MetricSample, MetricsSampler, MetricState
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.base import TablePane
from cockpit.tui.screens.chart import (
    STATE_TEXT,
    ChartScreen,
    describe_threshold,
    format_value,
    sparkline,
)
from cockpit.tui.widgets.table import CellTable, spread

SPARK_WIDTH = 24  #: the widest sparkline; narrower when the pane is narrow
_COLUMNS = (("name", None), ("trend", SPARK_WIDTH), ("value", 11), ("state", 6),
            ("reason", None))
_SPARK_STYLE = {"ok": "green", "warn": "yellow", "crit": "red", "unknown": "dim"}


def _sig(cell: Text) -> tuple[str, str]:
    return cell.plain, str(cell.style)


#: A metric flapping across its crit threshold raises one toast per this many seconds.
CRIT_TOAST_QUIET = 60.0
#: Scrapes start this long before their interval's boundary: the answers are there when
#: the background panes repaint at the boundary, in the same frame (a background
#: Metrics pane shows them there).
SCRAPE_LEAD = 0.25


class MetricsPane(TablePane):
    """A table of metrics; Enter charts the selected one, ``ctrl+r`` samples all now."""

    PANE_TITLE = "Metrics"
    PANE_NUMBER = 4
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Chart", id="metrics.open"),
        Binding("ctrl+r", "refresh", "Sample now", id="metrics.refresh"),
        Binding("j", "cursor_down", "Down", show=False, id="metrics.down"),
        Binding("k", "cursor_up", "Up", show=False, id="metrics.up"),
    ]

    def __init__(self, context: CockpitContext, *, id: str | None = "metrics") -> None:
        super().__init__(context, id=id)
        profile = context.loaded.profile
        self._metrics: dict[str, AnyMetric] = {m.name: m for m in profile.metrics}
        self._probe_intervals = {p.name: p.interval for p in profile.health}
        self._sampler = MetricsSampler(list(self._metrics.values()), backend=context.backend)
        self.states: dict[str, MetricState] = dict.fromkeys(self._metrics, "unknown")
        #: metric names, once per notified crossing into crit (oldest first)
        self.notified: list[str] = []
        self._in_crit: set[str] = set()
        self._last_crit_toast: dict[str, float] = {}
        self._groups: dict[float, list[str]] = {}
        for metric in self._metrics.values():
            if not isinstance(metric, ProbeLatencyMetric):
                self._groups.setdefault(metric.interval, []).append(metric.name)
        self._group_timers: dict[float, Timer] = {}
        self._inflight: set[float] = set()
        self._shown: dict[str, tuple[tuple[str, str], ...]] = {}
        self._unpainted: set[str] = set()  #: rows with readings not shown yet
        self._paint_timer: Timer | None = None
        self._last_probe: dict[str, float] = {}  # probe -> checked_at last observed
        self._chart: ChartScreen | None = None
        self._stopped = False
        self._spark_width = SPARK_WIDTH

    def compose(self) -> ComposeResult:
        table = CellTable(cursor_type="row", id="metrics-table")
        for key, width in _COLUMNS:
            table.add_column(key, key=key, width=width)
        for name in self._metrics:
            cells = self._cells(name)
            table.add_row(*cells, key=name)
            self._shown[name] = tuple(_sig(c) for c in cells)
        yield table

    def on_mount(self) -> None:
        self._update_status()
        if self.context.live:
            for interval in self._groups:
                self._start(interval)

    async def on_unmount(self) -> None:
        self._stopped = True
        for timer in self._group_timers.values():
            timer.stop()
        self._group_timers.clear()
        await self._sampler.close()

    @property
    def table(self) -> CellTable:
        return self.query_one("#metrics-table", CellTable)

    # -- polling --------------------------------------------------------------------------

    def _start(self, interval: float) -> None:
        """Sample the metrics of one interval now, unless they are being sampled."""
        timer = self._group_timers.pop(interval, None)
        if timer is not None:
            timer.stop()
        if interval in self._inflight:
            return
        self._inflight.add(interval)
        self.run_worker(self._sample(interval), group="metrics", exit_on_error=False)

    async def _sample(self, interval: float) -> None:
        names = self._groups[interval]
        try:
            samples = await self._sampler.sample_all(names=names)
        except Exception as exc:  # sample_all never raises; keep polling if it ever does
            now = time.time()
            samples = {n: MetricSample(None, "unknown", f"internal error: {exc}", now)
                       for n in names}
        finally:
            self._inflight.discard(interval)
        if self._stopped or not self.is_attached:
            return
        self._apply(samples)
        # Re-arm only now that the scrape is done: a slow endpoint never piles up. The
        # next scrape starts just before a whole multiple of the interval (monotonic
        # clock), where background panes repaint: their rows and the sparklines share a
        # frame.
        if interval >= 1:
            delay = interval - (time.monotonic() + SCRAPE_LEAD) % interval
        else:
            delay = interval
        self._group_timers[interval] = self.set_timer(delay, lambda: self._start(interval))

    def action_refresh(self) -> None:
        """Sample every metric now; the timers restart from the results."""
        if self.context.live:
            for interval in self._groups:
                self._start(interval)

    def observe_probe(self, rows: Iterable[HealthRow]) -> None:
        """Feed Health results (``HealthPane.Updated.rows``) to the probe latency metrics.

        Results already seen (same probe, not newer) are ignored, so a row is never
        counted twice in a series.
        """
        fresh: list[HealthRow] = []
        for row in rows:
            if row.parent is None and row.checked_at > self._last_probe.get(row.name, -1.0):
                self._last_probe[row.name] = row.checked_at
                fresh.append(row)
        if not fresh:
            return
        self._sampler.observe_probe(fresh)
        probes = {row.name for row in fresh}
        samples: dict[str, MetricSample] = {}
        for metric in self._metrics.values():
            if isinstance(metric, ProbeLatencyMetric) and metric.probe in probes:
                last = self._sampler.series(metric.name).last
                if last is not None:
                    samples[metric.name] = last
        if samples:
            self._apply(samples)

    # -- display --------------------------------------------------------------------------

    def show_samples(self, samples: dict[str, MetricSample],
                     history: dict[str, list[float | None]] | None = None) -> None:
        """Show these readings. ``history[name]``, when given, replaces that metric's whole
        window (the sample is then only its current reading); else the sample is appended.
        """
        known: dict[str, MetricSample] = {}
        for name, sample in samples.items():
            if name not in self._metrics:
                continue
            series = self._sampler.series(name)
            if history is not None and name in history:
                series.values.clear()
                series.values.extend(history[name])
                series.last = sample
            else:
                series.append(sample)
            known[name] = sample
        self._apply(known)

    def _apply(self, samples: dict[str, MetricSample]) -> None:
        crossed = [name for name, sample in samples.items() if self._check_crit(name, sample)]
        if crossed:
            self._toast_crit(crossed, samples)
        for name, sample in samples.items():
            self.states[name] = sample.state
            chart = self._chart
            if chart is not None and chart.metric.name == name and chart.is_attached:
                chart.update_data(list(self._sampler.series(name).values), sample)
        if not self.display:
            return  # hidden: a table write would re-lay out the whole screen; on_show paints
        self._unpainted.update(samples)
        if self._paint_timer is not None:
            return  # a background pane: painted at its next slot
        wait = self.repaint_wait() if self.context.live else 0.0
        if wait:
            self._paint_timer = self.set_timer(wait, self._paint_due, name="metrics-paint")
        else:
            self._paint()

    def _paint_due(self) -> None:
        self._paint_timer = None
        if not self.display:
            return
        wait = self.repaint_wait()
        if wait:
            self._paint_timer = self.set_timer(wait, self._paint_due, name="metrics-paint")
        else:
            self._paint()

    def on_descendant_focus(self) -> None:
        """The operator came in: readings that waited for a background repaint show now."""
        if self._paint_timer is not None:
            self._paint_timer.stop()
            self._paint_timer = None
            self._paint()

    def _paint(self) -> None:
        """Write the rows whose readings changed (the cells that differ), and the status."""
        names, self._unpainted = self._unpainted, set()
        changes: list[tuple[str, str, Text]] = []
        for name in self._metrics:
            if name not in names:
                continue
            cells = self._cells(name)
            shown = self._shown.get(name, ())
            sigs = tuple(_sig(c) for c in cells)
            if sigs != shown:
                for i, ((column, _width), cell) in enumerate(zip(_COLUMNS, cells, strict=True)):
                    if i >= len(shown) or shown[i] != sigs[i]:
                        changes.append((name, column, cell))
                self._shown[name] = sigs
        if changes:  # in one update: a region per row, not per cell
            self.table.set_cells(changes)
        self._update_status()

    def _check_crit(self, name: str, sample: MetricSample) -> bool:
        """Whether this sample is a new crossing into crit that deserves a notification
        (one per crossing; ok or warn arms the next one; flapping: one a minute)."""
        if sample.state == "crit" and name not in self._in_crit:
            self._in_crit.add(name)
            now = self.context.now()
            if now - self._last_crit_toast.get(name, float("-inf")) < CRIT_TOAST_QUIET:
                return False
            self._last_crit_toast[name] = now
            self.notified.append(name)
            return True
        if sample.state in ("ok", "warn"):
            self._in_crit.discard(name)
        return False

    def _toast_crit(self, names: list[str], samples: dict[str, MetricSample]) -> None:
        """One notification for every metric that went crit in one sampling round."""
        lines = []
        for name in names:
            metric = self._metrics[name]
            value = format_value(samples[name].value, metric.unit)
            lines.append(f"{name} is {value} (crit {describe_threshold(metric.crit)})")
        self.app.notify(self.context.boundary.text("\n".join(lines)),
                        title="Metric CRIT" if len(names) == 1 else f"{len(names)} metrics CRIT",
                        severity="error", markup=False)

    def _cells(self, name: str) -> tuple[Text, ...]:
        metric = self._metrics[name]
        series = self._sampler.series(name)
        sample = series.last
        state = sample.state if sample is not None else "unknown"
        label, style = STATE_TEXT[state]
        if sample is None:
            reason = "waiting for a probe result" if isinstance(metric, ProbeLatencyMetric) \
                else "not sampled yet"
        elif sample.error:
            reason = self.context.boundary.line(sample.error)  # a scrape's reply: outside
        elif state in ("warn", "crit"):
            reason = f"{state} {describe_threshold(getattr(metric, state))}"
        else:
            reason = ""
        return (
            Text(self.context.boundary.line(name)),
            Text(sparkline(series.values, self._spark_width), style=_SPARK_STYLE[state]),
            Text(format_value(sample.value if sample else None, metric.unit), justify="right"),
            Text(label, style=style),
            Text(reason, style="dim" if sample is None else ""),
        )

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Columns to the pane's width: name, then the sparkline, then the reason.

        Value and state keep their width; the sparkline shrinks to 4 cells and the
        reason to nothing before the name is cut (Enter charts a metric in full).
        """
        table = self.table
        if not table.size.width:
            return
        longest = max(map(len, self._metrics), default=4)
        fixed = {"value": 11, "state": 6}
        flexible = {"name": (min(8, longest), longest), "trend": (4, SPARK_WIDTH),
                    "reason": (0, 1_000)}
        widths = spread(table.usable_width(), fixed, flexible)
        if widths["reason"] < 6 and widths["trend"] < SPARK_WIDTH:  # a stub: give it away
            widths["trend"] += widths["reason"]
            widths["reason"] = 0
        table.fit_columns(widths)
        if widths["trend"] != self._spark_width:
            self._spark_width = widths["trend"]
            for name in self._metrics:
                cell = self._cells(name)[1]
                table.set_cell(name, "trend", cell)
                shown = self._shown.get(name)
                if shown:
                    self._shown[name] = (shown[0], _sig(cell), *shown[2:])

    def on_show(self) -> None:
        """Bring the rows up to date after being hidden (compact layout)."""
        if self._paint_timer is not None:
            self._paint_timer.stop()
            self._paint_timer = None
        self._unpainted.update(n for n in self._metrics if self._sampler.series(n).last)
        self._paint()

    def _update_status(self) -> None:
        counts = {s: sum(1 for v in self.states.values() if v == s) for s in ("warn", "crit")}
        parts = [f"{n} {s.upper()}" for s, n in counts.items() if n]
        self.set_status(" · ".join(parts) if parts else f"{len(self.states)} metrics")

    # -- keys -----------------------------------------------------------------------------

    def open_selected(self, key: str) -> None:
        self.action_open()

    def action_open(self) -> None:
        """Open the chart of the selected metric."""
        table = self.table
        if not table.row_count:
            return
        name = table.ordered_rows[table.cursor_row].key.value or ""
        metric = self._metrics.get(name)
        if metric is None:
            return
        series = self._sampler.series(name)
        interval = self._probe_intervals.get(metric.probe, metric.interval) \
            if isinstance(metric, ProbeLatencyMetric) else metric.interval
        self._chart = ChartScreen(metric, list(series.values), series.last, interval=interval)
        self.app.push_screen(self._chart, callback=self._chart_closed)

    def _chart_closed(self, _result: None) -> None:
        self._chart = None
