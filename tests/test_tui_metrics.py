"""Metrics pane against a real Prometheus exposition endpoint on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from textual.widgets import Static

from cockpit.core.sources import metrics as metrics_source
from cockpit.core.sources.health import HealthRow
from cockpit.core.sources.metrics import MetricSample
from cockpit.tui.panes.metrics import SPARK_WIDTH, MetricsPane
from cockpit.tui.screens import chart as chart_module
from cockpit.tui.screens.chart import (
    ChartScreen,
    format_number,
    format_value,
    sparkline,
    text_chart,
)
from tests.metrics_pages import MB, WANTED, LoopLag, PageServer, huge_page, series_page
from tests.support import LoopbackHTTP, async_wait_until, wait_until
from tests.tui_support import FROZEN_TIME, PaneHarness, make_context


class Exporter(LoopbackHTTP):
    """A loopback /metrics page from a live CollectorRegistry; counts scrapes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue = Gauge("test_queue_depth", "queue depth", registry=self.registry)
        self.hits = 0

        def respond(path: str) -> tuple[int, str, bytes]:
            self.hits += 1
            return 200, "text/plain; version=0.0.4; charset=utf-8", generate_latest(
                self.registry)

        super().__init__(respond)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    yield server
    server.close()


def profile(url: str, interval: str = "100ms") -> str:
    return f"""
        name: t
        health:
          - name: api
            kind: tcp
            port: 9
            interval: 7s
        metrics:
          - name: queue
            kind: prometheus
            url: {url}/metrics
            metric: test_queue_depth
            interval: {interval}
            warn: {{above: 20}}
            crit: {{above: 50}}
          - name: lat
            kind: probe_latency
            probe: api
            unit: ms
            warn: {{above: 300}}
            crit: {{above: 1000}}
    """


class Harness(PaneHarness):
    """Records every notification."""

    def __init__(self, factory) -> None:
        super().__init__(factory)
        self.notes: list[tuple[str, str]] = []

    def notify(self, message: str, **kw: Any) -> None:
        self.notes.append((message, kw.get("severity", "information")))
        super().notify(message, **kw)


def cells(pane: MetricsPane, key: str) -> list[str]:
    return [cell.plain for cell in pane.table.get_row(key)]


async def test_live_thresholds_notify_once_per_crossing(
    tmp_path: Path, exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    import cockpit.tui.panes.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "CRIT_TOAST_QUIET", 0.0)
    context = make_context(tmp_path, profile(exporter.url))
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(MetricsPane)

        async def reach(value: float, state: str, scrapes: int = 0) -> None:
            exporter.queue.set(value)
            await async_wait_until(lambda: pane.states["queue"] == state, what=state)
            hits = exporter.hits
            await async_wait_until(lambda: exporter.hits >= hits + scrapes, what="scrapes")
            await pilot.pause()

        await reach(5, "ok")
        assert cells(pane, "queue")[2:] == ["5", "● OK", ""]
        spark = len(cells(pane, "queue")[1].strip())
        await reach(30, "warn")
        assert cells(pane, "queue")[2:] == ["30", "▲ WARN", "warn > 20"]
        assert len(cells(pane, "queue")[1].strip()) > spark
        assert len(cells(pane, "queue")[1]) == SPARK_WIDTH
        await reach(80, "crit", scrapes=4)  # several refreshes while crit: one notification
        assert cells(pane, "queue")[2:] == ["80", "✗ CRIT", "crit > 50"]
        assert pane.notified == ["queue"]
        assert [n for n in app.notes if n[1] == "error"] == [("queue is 80 (crit > 50)", "error")]
        await reach(60, "crit", scrapes=2)
        assert pane.notified == ["queue"]
        await reach(5, "ok")
        assert pane.notified == ["queue"]
        await reach(90, "crit", scrapes=2)
        assert pane.notified == ["queue", "queue"]
        # Flapping within the quiet period raises no further toast.
        monkeypatch.setattr(metrics_module, "CRIT_TOAST_QUIET", 60.0)
        await reach(10, "ok")
        await reach(95, "crit", scrapes=2)
        assert pane.notified == ["queue", "queue"]
        assert len([n for n in app.notes if n[1] == "error"]) == 2

        # Enter opens the chart; Esc closes it.
        assert pane.table.cursor_row == 0
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ChartScreen), what="chart")
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.metric.name == "queue"
        assert "✗ CRIT" in chart.title_text() and chart.uses_plotext
        windows = len(chart.values)
        await async_wait_until(lambda: len(chart.values) > windows, what="live chart")
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, ChartScreen), what="closed")
        assert len(app.screen_stack) == 1


async def test_refresh_and_probe_latency(tmp_path: Path, exporter: Exporter) -> None:
    context = make_context(tmp_path, profile(exporter.url, interval="1h"))
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(MetricsPane)
        exporter.queue.set(3)
        await async_wait_until(lambda: pane.states["queue"] == "ok", what="first scrape")
        hits = exporter.hits
        exporter.queue.set(25)
        await pilot.press("ctrl+r")
        await async_wait_until(lambda: pane.states["queue"] == "warn", timeout=3, what="refresh")
        assert exporter.hits == hits + 1

        assert cells(pane, "lat")[2:] == ["n/a", "? n/a", "waiting for a probe result"]
        row = HealthRow("api", "ok", 34.2, "HTTP 200", time.time())
        pane.observe_probe([row, HealthRow("api/db", "ok", 1.0, "ok", row.checked_at, "api")])
        pane.observe_probe([row])  # the same result again: not counted twice
        await pilot.pause()
        assert cells(pane, "lat")[2:4] == ["34.2 ms", "● OK"]
        assert len(pane._sampler.series("lat").values) == 1
        pane.observe_probe([HealthRow("api", "ok", 1500.0, "HTTP 200", row.checked_at + 1)])
        pane.observe_probe([HealthRow("api", "fail", None, "connection refused",
                                      row.checked_at + 2)])
        await pilot.pause()
        assert pane.notified == ["lat"]
        assert cells(pane, "lat")[2:] == ["n/a", "? n/a", "connection refused"]
        assert len(cells(pane, "lat")[1].strip()) == 3
        assert cells(pane, "lat")[1].endswith("·")


async def test_metrics_crossing_together_raise_one_notification(tmp_path: Path) -> None:
    context = make_context(tmp_path, profile("http://127.0.0.1:9"), live=False)
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(80, 24)):
        pane = app.query_one(MetricsPane)
        pane.show_samples({"queue": MetricSample(90.0, "crit", None, FROZEN_TIME),
                           "lat": MetricSample(1900.0, "crit", None, FROZEN_TIME)})
        errors = [n for n in app.notes if n[1] == "error"]
        assert len(errors) == 1 and pane.notified == ["queue", "lat"]
        assert errors[0][0] == "queue is 90 (crit > 50)\nlat is 1.9k ms (crit > 1k)"


async def test_show_samples_offline_and_chart(tmp_path: Path) -> None:
    context = make_context(tmp_path, profile("http://127.0.0.1:9"), live=False)
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(100, 24)) as pilot:
        pane = app.query_one(MetricsPane)
        history = [float(v) for v in range(0, 80, 4)]
        pane.show_samples({"queue": MetricSample(76.0, "crit", None, FROZEN_TIME)},
                          history={"queue": history})
        await pilot.pause()
        assert cells(pane, "queue")[1] == sparkline(history, SPARK_WIDTH)
        assert cells(pane, "queue")[1].strip().startswith("▁") and cells(pane, "queue")[1][-1] == "█"
        assert pane.states == {"queue": "crit", "lat": "unknown"} and pane.notified == ["queue"]
        pane.show_samples({"lat": MetricSample(None, "unknown", "timed out after 3.0s",
                                               FROZEN_TIME)})
        await pilot.pause()
        assert cells(pane, "lat")[2:] == ["n/a", "? n/a", "timed out after 3.0s"]
        await pilot.press("enter")
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, ChartScreen)
        assert chart.values == history
        assert chart.title_text() == "queue — ✗ CRIT · now 76"
        assert "warn > 20" in chart.legend_text() and "crit > 50" in chart.legend_text()
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ChartScreen) and app.screen.metric.name == "lat"
        assert app.screen.interval == 7.0  # the probe's interval
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.screen_stack) == 1


async def test_chart_falls_back_to_text_without_plotext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chart_module, "PlotextPlot", None)
    context = make_context(tmp_path, profile("http://127.0.0.1:9"), live=False)
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(100, 24)) as pilot:
        pane = app.query_one(MetricsPane)
        pane.show_samples({"queue": MetricSample(8.0, "ok", None, FROZEN_TIME)},
                          history={"queue": [1.0, None, 8.0]})
        await pilot.press("enter")
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, ChartScreen) and not chart.uses_plotext
        assert "textual-plotext is not installed" in chart.legend_text()
        body = chart.query_one("#chart-body", Static)
        assert str(body.render()) == text_chart([1.0, None, 8.0], 100, 12)
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.screen_stack) == 1


def test_formatting() -> None:
    assert [format_number(v) for v in (None, 0, 5, 0.1234, 999.4, 999.7, 1234, 12_345_678,
                                       -2.5, 0.00001234)] == [
        "n/a", "0", "5", "0.123", "999", "1k", "1.23k", "12.3M", "-2.5", "1.23e-05"]
    assert format_value(87.46, "%") == "87.5%"
    assert format_value(1.5, "req/s") == "1.5 req/s"
    assert format_value(17.7e6, "B") == "17.7 MB" and format_value(512, "B") == "512 B"
    assert format_value(1900, "ms") == "1.9k ms"
    assert format_value(None, "ms") == "n/a"
    assert sparkline([], 5) == "     "
    assert sparkline([1, 1], 4) == "  ▄▄"
    assert sparkline([0, None, 7], 3) == "▁·█"
    assert sparkline(range(100), 10) == "▁▂▃▃▄▅▆▆▇█"
    assert text_chart([0, 1], 2, 2).splitlines() == [" █", " █"]


async def test_crash_guard_small_terminal(tmp_path: Path, exporter: Exporter) -> None:
    context = make_context(tmp_path, profile(exporter.url))
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(MetricsPane)
        exporter.queue.set(60)
        await async_wait_until(lambda: pane.states["queue"] == "crit", what="crit")
        for key in ("j", "k", "ctrl+r", "enter"):
            await pilot.press(key)
        await async_wait_until(lambda: isinstance(app.screen, ChartScreen), what="chart")
        hits = exporter.hits
        await async_wait_until(lambda: exporter.hits > hits + 2, what="live updates")
        await pilot.pause()
        await pilot.press("escape", "j", "enter", "escape")
        await pilot.pause()
        assert app.is_running and len(app.screen_stack) == 1


# --- hostile pages: the UI never waits for a scrape ---------------------------------------------


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    server = PageServer({"/huge": (huge_page(50 * MB), False),
                         "/series": (series_page(100_000), True)})
    yield server
    server.close()


def hostile_profile(url: str, names: tuple[str, ...] = ("huge", "series")) -> str:
    """Metrics named after the page they scrape, every 100 ms."""
    return "name: t\nmetrics:\n" + "".join(
        f"  - {{name: {name}, kind: prometheus, url: '{url}/{name}', metric: {WANTED}, "
        "interval: 100ms}\n" for name in names)


async def test_keys_are_handled_while_hostile_pages_are_scraped(
    tmp_path: Path, pages: PageServer
) -> None:
    context = make_context(tmp_path, hostile_profile(pages.url))
    app = Harness(lambda: MetricsPane(context))
    async with app.run_test(size=(140, 24)) as pilot:
        lag = LoopLag().start()
        pane = app.query_one(MetricsPane)
        await async_wait_until(lambda: cells(pane, "huge")[4] == "body over 4 MB cap"
                               and cells(pane, "series")[4].startswith("90000 series dropped"),
                               timeout=30, what="both scrapes shown")
        assert cells(pane, "series")[2] == "10k"
        served = dict(pages.served)
        for key, row in (("j", 1), ("k", 0), ("j", 1), ("k", 0)):
            await pilot.press(key)
            assert pane.table.cursor_row == row
        await async_wait_until(lambda: all(pages.served.get(p, 0) >= served.get(p, 0) + 3
                                           for p in ("/huge", "/series")),
                               timeout=30, what="three more scrapes of each page")
        lag.stop()
        lag.check()


async def test_a_key_is_handled_while_a_parse_is_in_flight_and_quit_abandons_it(
    tmp_path: Path, pages: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    outcome: list[str] = []
    real = metrics_source.read_metric

    def gated(*args: Any, **kw: Any) -> Any:
        entered.set()
        release.wait(30)
        try:
            reading = real(*args, **kw)
        except BaseException as exc:
            outcome.append(type(exc).__name__)
            raise
        outcome.append("done")
        return reading

    monkeypatch.setattr(metrics_source, "read_metric", gated)
    context = make_context(tmp_path, hostile_profile(pages.url, ("series",)))
    app = Harness(lambda: MetricsPane(context))
    try:
        async with app.run_test(size=(140, 24)) as pilot:
            pane = app.query_one(MetricsPane)
            assert list(pane.states) == ["series"]
            await async_wait_until(entered.is_set, what="a parse in its thread")
            lag = LoopLag().start()
            await pilot.press("enter")
            await async_wait_until(lambda: isinstance(app.screen, ChartScreen), what="chart")
            await pilot.press("escape")
            await async_wait_until(lambda: len(app.screen_stack) == 1, what="closed")
            lag.stop()
            assert pane._inflight and cells(pane, "series")[4] == "not sampled yet"
            lag.check()
        # The app is gone with the parse still waiting: it must give up, not run on.
    finally:
        release.set()
    wait_until(lambda: outcome, what="the parse thread to end")
    assert outcome == ["ParseAbandoned"]
