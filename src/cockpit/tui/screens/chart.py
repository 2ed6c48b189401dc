"""A metric's recent window as a large chart, with its warn and crit thresholds.

Drawn with textual-plotext when it is installed, else as a taller text sparkline (the
screen then says so). The chart depends only on the data given to it, so snapshots of
frozen data are stable. Also home of the value and sparkline formatting the Metrics
pane shares.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from cockpit.core.boundary import show_controls
from cockpit.core.config.models import Threshold
from cockpit.core.sources.metrics import AnyMetric, MetricSample, MetricState

_UNRESOLVED: Any = object()
#: textual-plotext's widget class, imported when the first chart opens (plotext costs
#: ~25 ms of start-up otherwise); ``None`` when it is not installed.
PlotextPlot: Any = _UNRESOLVED

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = "·"
STATE_TEXT: dict[str, tuple[str, str]] = {
    "ok": ("● OK", "green"),
    "warn": ("▲ WARN", "bold yellow"),
    "crit": ("✗ CRIT", "bold red"),
    "unknown": ("? n/a", "dim"),
}


# --- formatting ----------------------------------------------------------------------------


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def format_number(value: float | None) -> str:
    """Three significant digits, SI suffixes from a thousand up; ``n/a`` for None."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    size = abs(value)
    if size < 0.001:
        return f"{value:.2e}"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= div * 0.9995:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def format_value(value: float | None, unit: str = "") -> str:
    """``"12.3 req/s"``, ``"87.5%"``, ``"n/a"``."""
    text = format_number(value)
    if value is None or not unit or text == "n/a":
        return text
    if text[-1:].isalpha() and unit in ("B", "B/s", "bit/s"):  # "17.7M" B -> "17.7 MB"
        return f"{text[:-1]} {text[-1]}{unit}"
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def describe_threshold(threshold: Threshold | None) -> str:
    """``"> 0.5"`` / ``"< 0.85"``, or ``""``."""
    if threshold is None:
        return ""
    if threshold.above is not None:
        return f"> {format_number(threshold.above)}"
    return f"< {format_number(threshold.below)}"


def threshold_value(threshold: Threshold | None) -> float | None:
    if threshold is None:
        return None
    return threshold.above if threshold.above is not None else threshold.below


def sparkline(values: Iterable[float | None], width: int = 24) -> str:
    """The last ``width`` values as ``▁▂▃▄▅▆▇█`` (gaps ``·``), right-aligned to ``width``."""
    shown = list(values)[-width:] if width > 0 else []
    numbers = [v for v in shown if _finite(v)]
    lo = min(numbers, default=0.0)
    hi = max(numbers, default=0.0)
    span = hi - lo
    chars: list[str] = []
    for value in shown:
        if value is None or not math.isfinite(value):
            chars.append(GAP)
        elif span <= 0:
            chars.append(BLOCKS[0] if value == 0 else BLOCKS[3])
        else:
            chars.append(BLOCKS[round((value - lo) / span * (len(BLOCKS) - 1))])
    return "".join(chars).rjust(width)


def text_chart(values: Sequence[float | None], width: int, height: int) -> str:
    """A taller block chart (``height`` rows of eighths), for when plotext is missing."""
    shown = list(values)[-max(1, width):]
    numbers = [v for v in shown if _finite(v)]
    lo = min(numbers, default=0.0)
    hi = max(numbers, default=0.0)
    span = (hi - lo) or 1.0
    levels = [
        None if v is None or not math.isfinite(v) else round((v - lo) / span * height * 8)
        for v in shown
    ]
    rows: list[str] = []
    for line in range(height, 0, -1):
        base = (line - 1) * 8
        row = ""
        for level in levels:
            if level is None:
                row += GAP if line == 1 else " "
            else:
                fill = min(8, max(0, level - base))
                row += " " if fill == 0 else BLOCKS[fill - 1]
        rows.append(row)
    return "\n".join(rows)


def _segments(values: Sequence[float | None],
              interval: float) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite values as (seconds ago, value) points, newest at 0."""
    count = len(values)
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, value in enumerate(values):
        if value is not None and math.isfinite(value):
            current.append((-(count - 1 - i) * interval, value))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


# --- the screen ----------------------------------------------------------------------------


def plotext_plot() -> Any:
    """``PlotextPlot``, imported on first use; ``None`` without textual-plotext."""
    global PlotextPlot
    if PlotextPlot is _UNRESOLVED:
        try:
            from textual_plotext import PlotextPlot as found
        except ImportError:  # pragma: no cover - textual-plotext is a dependency
            found = None
        PlotextPlot = found
    return PlotextPlot


@cache
def _plot_class(base: type) -> type:
    class _Plot(base):  # type: ignore[misc,valid-type]
        """A plot that shows a note instead of crashing when the area is too small."""

        def render(self) -> Any:
            try:
                return super().render()
            except Exception:  # plotext at a tiny size: degrade, never crash the app
                return Text("(too small for a chart)", style="dim")

    return _Plot


class ChartScreen(ModalScreen[None]):
    """One metric's window: values over time, warn and crit lines; Esc closes."""

    DEFAULT_CSS = """
    ChartScreen { align: center middle; }
    ChartScreen > Vertical {
        width: 95%; max-width: 140; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ChartScreen #chart-title { width: 1fr; text-style: bold; }
    ChartScreen #chart-body { height: 1fr; }
    ChartScreen #chart-legend { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="chart.close"),
    ]

    def __init__(self, metric: AnyMetric, values: Sequence[float | None],
                 sample: MetricSample | None = None, *, interval: float | None = None) -> None:
        """``values``: the window, oldest first; ``interval``: seconds between values."""
        super().__init__()
        self.metric = metric
        self.values: list[float | None] = list(values)
        self.sample = sample
        self.interval = interval if interval is not None else metric.interval
        self.uses_plotext = plotext_plot() is not None

    @property
    def state(self) -> MetricState:
        return self.sample.state if self.sample is not None else "unknown"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text(), id="chart-title", markup=False)
            plot = plotext_plot()
            if plot is not None:
                yield _plot_class(plot)(id="chart-body")
            else:
                yield Static(id="chart-body", markup=False)
            yield Label(self.legend_text(), id="chart-legend", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._draw()

    def title_text(self) -> str:
        unit = f" ({self.metric.unit})" if self.metric.unit else ""
        current = self.sample.value if self.sample is not None else None
        label = STATE_TEXT[self.state][0]
        name = show_controls(self.metric.name)
        return f"{name}{unit} — {label} · now {format_value(current, self.metric.unit)}"

    def legend_text(self) -> str:
        parts = [f"last {len(self.values)} samples, every {format_number(self.interval)}s"]
        if self.metric.warn is not None:
            parts.append(f"warn {describe_threshold(self.metric.warn)} (yellow line)")
        if self.metric.crit is not None:
            parts.append(f"crit {describe_threshold(self.metric.crit)} (red line)")
        if not self.uses_plotext:
            parts.append("text chart: textual-plotext is not installed")
        if self.sample is not None and self.sample.error:
            parts.append(f"error: {self.sample.error}")
        parts.append("Esc closes")
        return " · ".join(parts)

    def update_data(self, values: Sequence[float | None], sample: MetricSample | None) -> None:
        """New window and current sample (the Metrics pane calls this while open)."""
        self.values = list(values)
        self.sample = sample
        self.query_one("#chart-title", Label).update(self.title_text())
        self.query_one("#chart-legend", Label).update(self.legend_text())
        self._draw()

    def _draw(self) -> None:
        body = self.query_one("#chart-body")
        plot = plotext_plot()
        if plot is None or not isinstance(body, plot):
            assert isinstance(body, Static)
            body.update(text_chart(self.values, 100, 12))
            return
        plt = body.plt
        plt.clear_figure()
        count = len(self.values)
        segments = _segments(self.values, self.interval)
        lines = [
            (value, color)
            for value, color in ((threshold_value(self.metric.warn), "yellow"),
                                 (threshold_value(self.metric.crit), "red"))
            if value is not None
        ]
        ys = [y for run in segments for _, y in run] + [value for value, _ in lines]
        for run in segments:  # one line per run of values: gaps stay gaps
            plt.plot([x for x, _ in run], [y for _, y in run], marker="braille", color="cyan")
        for value, color in lines:
            plt.hline(value, color)
        if ys:
            lo, hi = min(ys), max(ys)
            pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
            bottom = lo - pad
            if lo >= 0 > bottom:  # latencies, depths, rates: no negative axis
                bottom = 0
            plt.ylim(bottom, hi + pad)
        plt.xlim(-(max(count, 2) - 1) * self.interval, 0)
        plt.xlabel("seconds ago")
        plt.title("" if segments else "no data yet")
        body.refresh()

    def action_close(self) -> None:
        self.dismiss(None)
