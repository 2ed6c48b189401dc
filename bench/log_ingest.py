"""Benchmark: the Logs pane under a firehose, against Textual's plain ``Log.write_lines``.

    .venv/bin/python bench/log_ingest.py [--seconds 10] [--rate 100000]

Each scenario runs in its own process (so peak RSS is its own) inside a headless
Textual app (``App.run_test(size=(120, 40))``) while a background thread offers
``--rate`` realistic log lines per second for ``--seconds``:

* ``pane/file``: a writer thread appends to a real file; the pane follows it through
  its real worker (``FileFollower`` -> ``merge_sources`` -> ``add_lines`` -> 30 Hz flush).
  This is the honest end-to-end path.
* ``pane/thread``: the thread hands the same batches (``LogLine`` lists) to
  ``LogsPane.add_lines`` with ``app.call_from_thread``.
* ``Log/thread``: reference, Textual's ``Log(max_lines=10_000).write_lines`` fed the same
  batches the same way. Caveat: once ``max_lines`` is reached, Textual 8.2's ``Log`` stops
  repainting (its scroll position no longer changes and ``refresh_lines`` targets rows
  below the viewport), so the screen freezes on old lines and the figure measures
  appending to a list more than displaying.
* ``Log+refresh``: the same plus ``log.refresh()`` after each write, so the screen shows
  the newest lines: what the reference costs when it really displays.

Measured: lines/s ingested (reached the widget) and displayed (entered its display
buffer), whether the newest line is on screen afterwards, the delay of a 10 ms
``set_interval`` timer (p50/p99/max: how responsive the UI stays) and peak RSS.
Targets (not asserted): 100,000 lines/s for 10 s, timer p99 < 50 ms, RSS < 250 MB.

``--freeze`` calls ``gc.freeze()`` once the app has started: the objects that exist by
then (Textual, pydantic, the app) are left out of full garbage collections, which
otherwise scan them all and stall the UI for 40-100 ms every second or so under
allocation-heavy load, whatever the widget.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import psutil
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Log

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.redact import default_redactor
from cockpit.core.sources.logs import LogLine, detect_level
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.settings import UserSettings

SCENARIOS = ("pane/file", "pane/thread", "Log/thread", "Log+refresh")
POOL = 50_000
BATCH_MAX = 5_000
TICK = 0.010


def make_pool(n: int = POOL, seed: int = 11) -> list[str]:
    """Realistic service log lines: text and JSON, ~2% errors, some secrets to redact."""
    rnd = random.Random(seed)
    paths = ["/api/v1/orders", "/api/v1/items/{}", "/healthz", "/api/v1/users/{}/cart",
             "/process", "/metrics", "/api/v2/search?q=widget&page={}"]
    out = []
    for i in range(n):
        ts = f"2026-01-12T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
        rid = f"{rnd.getrandbits(64):016x}"
        roll = rnd.random()
        if roll < 0.02:
            line = (f"{ts} ERROR api.http upstream failed: connection reset by peer "
                    f"host=10.0.{rnd.randint(0, 9)}.{rnd.randint(2, 250)}:5432 attempt={rnd.randint(1, 5)} request_id={rid}")
        elif roll < 0.07:
            line = (f"{ts} WARN  db.pool slow query took {rnd.randint(500, 4000)}ms "
                    f"table=orders rows={rnd.randint(1, 5000)} request_id={rid}")
        elif roll < 0.08:
            line = (f"{ts} DEBUG auth.client refreshed session Authorization: Bearer "
                    f"{rid}.{rnd.getrandbits(64):016x} user_id={rnd.randint(1, 99999)}")
        elif roll < 0.25:
            line = json.dumps({"ts": ts, "level": rnd.choice(["info", "info", "debug"]),
                               "logger": "worker.jobs", "msg": "job finished",
                               "job_id": rid, "elapsed_ms": round(rnd.random() * 900, 2),
                               "queue": rnd.choice(["default", "mail", "reports"])})
        else:
            path = rnd.choice(paths).format(rnd.randint(1, 10_000))
            line = (f"{ts} INFO  api.http request method={rnd.choice(['GET', 'GET', 'POST', 'PUT'])} "
                    f"path={path} status={rnd.choice([200, 200, 200, 201, 204, 404])} "
                    f"duration_ms={rnd.random() * 80:.1f} request_id={rid}")
        out.append(line)
    return out


def make_context(tmp: Path, log_path: Path | None) -> CockpitContext:
    logs = f"logs:\n  - {{kind: file, name: app, path: {log_path}, backlog: 0}}\n" if log_path else ""
    profile = tmp / "profile.yaml"
    profile.write_text("name: bench\n" + logs)
    loaded = load_profile(profile)
    backend = LocalBackend({"env": loaded.env})
    trail = tmp / "operator-audit.jsonl"
    runner = ActionRunner(loaded, backend, AuditTrail(trail), operator="bench@host")
    return CockpitContext(loaded=loaded, backend=backend, runner=runner, trail_path=trail,
                          redactor=default_redactor(), settings=UserSettings(), live=True)


class BenchApp(App[None]):
    """One widget full screen, a 10 ms probe timer, RSS sampling."""

    def __init__(self, widget: Widget, freeze: bool) -> None:
        super().__init__()
        self.widget = widget
        self.freeze = freeze
        self.ticks: list[float] = []
        self.peak_rss = 0
        self._proc = psutil.Process()

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_mount(self) -> None:
        if self.freeze:  # what an app can do once started: full GCs skip startup objects
            gc.collect()
            gc.freeze()
        self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())
        if len(self.ticks) % 10 == 0:
            self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)


class Feeder(threading.Thread):
    """Offers ``rate`` lines/s for ``seconds``, in batches every 10 ms (catching up if late)."""

    def __init__(self, rate: int, seconds: float, send: Callable[[int, int], None]) -> None:
        super().__init__(daemon=True)
        self.rate, self.seconds, self.send = rate, seconds, send
        self.sent = 0
        self.last = -1  #: pool index of the last line sent

    def run(self) -> None:
        start = time.perf_counter()
        pause = threading.Event()
        while (elapsed := time.perf_counter() - start) < self.seconds:
            due = min(int(self.rate * elapsed) - self.sent, BATCH_MAX)
            if due > 0:
                first = self.sent % POOL
                self.send(first, first + due)
                self.sent += due
                self.last = (first + due - 1) % POOL
            pause.wait(TICK)


def pool_slice(pool: list, start: int, end: int) -> list:
    """``pool[start:end]``, wrapping around the end of the pool."""
    if end <= len(pool):
        return pool[start:end]
    return pool[start:] + pool[: end - len(pool)]


async def run_scenario(name: str, seconds: float, rate: int, freeze: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-") as tmp:
        return await _run_scenario(name, seconds, rate, freeze, Path(tmp))


async def _run_scenario(
    name: str, seconds: float, rate: int, freeze: bool, tmp: Path
) -> dict[str, float]:
    pool = make_pool()
    levels = [detect_level(line) for line in pool]
    raw = [(line + "\n").encode() for line in pool]
    log_path = tmp / "app.log"
    log_path.write_bytes(b"")
    if name == "pane/file":
        widget: Widget = LogsPane(make_context(tmp, log_path))
    elif name == "pane/thread":
        widget = LogsPane(make_context(tmp, None))
    else:
        widget = Log(max_lines=10_000)
    app = BenchApp(widget, freeze)

    def write_and_refresh(lines: list[str]) -> None:
        assert isinstance(widget, Log)
        widget.write_lines(lines)
        widget.refresh()

    with log_path.open("ab", buffering=0) as fh:

        def send(start: int, end: int) -> None:
            if name == "pane/file":
                fh.write(b"".join(pool_slice(raw, start, end)))
            elif name == "pane/thread":
                now = time.time()  # fresh LogLine objects, as merge_sources makes them
                batch = [LogLine("app", text, now, level) for text, level in
                         zip(pool_slice(pool, start, end), pool_slice(levels, start, end), strict=True)]
                app.call_from_thread(widget.add_lines, batch)
            elif name == "Log/thread":
                app.call_from_thread(widget.write_lines, pool_slice(pool, start, end))
            else:
                app.call_from_thread(write_and_refresh, pool_slice(pool, start, end))

        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            written = 0

            def counted(start: int, end: int) -> None:
                nonlocal written
                send(start, end)
                written += end - start  # Log: call_from_thread returns once written

            def counts() -> tuple[int, int]:
                if isinstance(widget, LogsPane):
                    return widget.received, widget.buffer.next_seq
                return written, written

            app.ticks.clear()
            feeder = Feeder(rate, seconds, counted)
            cpu0 = sum(psutil.Process().cpu_times()[:2])
            t0 = time.perf_counter()
            feeder.start()
            while feeder.is_alive():
                await asyncio.sleep(0.05)
            window = time.perf_counter() - t0
            cpu = (sum(psutil.Process().cpu_times()[:2]) - cpu0) / window
            ingested, displayed = counts()
            deadline = time.perf_counter() + 3  # let a follower that fell behind catch up
            while counts()[0] < feeder.sent and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            await pilot.pause(0.2)
            # is the newest line on screen? (each pool line starts with a unique timestamp)
            stamp = pool[feeder.last][:40].split('"ts": "')[-1][:24]
            current = stamp in app.export_screenshot().replace("&#160;", " ")
    ticks = [t for t in app.ticks if t <= t0 + window]
    delays = sorted(max(0.0, b - a - TICK) * 1000 for a, b in pairwise(ticks))
    return {
        "offered": feeder.sent / window,
        "ingested": ingested / window,
        "displayed": displayed / window,
        "lag": feeder.sent - ingested,
        "caught_up": counts()[0] >= feeder.sent,
        "current": current,
        "p50": statistics.median(delays),
        "p99": delays[int(len(delays) * 0.99)],
        "max": delays[-1],
        "rss_mb": max(app.peak_rss, psutil.Process().memory_info().rss) / 2**20,
        "cpu": cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="feed time (default 10)")
    parser.add_argument("--rate", type=int, default=100_000, help="lines/s (default 100,000)")
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() once the app has started (see the docstring)")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run these only")
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        result = asyncio.run(run_scenario(args.scenario, args.seconds, args.rate, args.freeze))
        print(json.dumps(result))
        return 0
    print(f"offering {args.rate:,} lines/s for {args.seconds:g} s · headless 120x40 · "
          f"Python {sys.version.split()[0]} · {os.cpu_count()} CPUs · "
          f"gc.freeze: {'yes' if args.freeze else 'no'}")
    header = (f"{'scenario':<12} {'offered/s':>10} {'ingested/s':>11} {'displayed/s':>12} "
              f"{'lag@end':>8} {'screen':>7} {'timer p50':>9} {'p99':>8} {'max':>8} {'RSS MB':>7} {'CPU':>5}")
    print(header)
    print("-" * len(header))
    for name in args.only or SCENARIOS:
        command = [sys.executable, __file__, "--scenario", name, "--seconds", str(args.seconds),
                   "--rate", str(args.rate)] + (["--freeze"] if args.freeze else [])
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{name:<12} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        screen = "current" if r["current"] else "STALE"
        print(f"{name:<12} {r['offered']:>10,.0f} {r['ingested']:>11,.0f} {r['displayed']:>12,.0f} "
              f"{r['lag']:>8,} {screen:>7} {r['p50']:>7.1f}ms {r['p99']:>6.1f}ms "
              f"{r['max']:>6.1f}ms {r['rss_mb']:>7.0f} {r['cpu']:>5.0%}")
    print("ingested: reached the widget during the feed; displayed: entered its display buffer;\n"
          "lag@end: offered but not yet ingested when the feed stopped; screen: the newest line\n"
          "is on screen after the feed; timer: extra delay of a 10 ms set_interval (UI stalls);\n"
          "CPU: process CPU time / wall time during the feed (all threads).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
