"""Benchmark: the incident queries typed into the Audit pane, on the 1,000,000-line
techno-os audit file, beside the same query from the CLI in the same run.

    .venv/bin/python bench/audit_pane.py [--lines N] [--runs 3] [--dir DIR]

For each query: the time from applying the filter to its whole-file answer on screen
(rows shown, every match counted), the CLI's time for the same query (``cockpit audit
tail ... --json -n BUFFER``), and the longest stall of the UI meanwhile (the extra delay of
a 10 ms timer, as ``bench/log_ingest.py`` measures it). Headless (``run_test``), 120x30.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from textual.app import App, ComposeResult

from audit_scan import audit_file, middle_trace_id  # the same file as audit_scan.py
from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.redact import default_redactor
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.audit import AuditPane
from cockpit.tui.settings import UserSettings

TICK = 0.010
BIN = Path(sys.executable).parent


def context(tmp: Path, audit: Path) -> CockpitContext:
    profile = tmp / "profile.yaml"
    profile.write_text(f"name: bench\naudit:\n  path: {audit}\n  backlog: 1000\n"
                       "  columns: [ts_utc, event_type, decision, reason_codes, trace_id]\n")
    loaded = load_profile(profile)
    backend = LocalBackend({"env": loaded.env})
    trail = tmp / "operator-audit.jsonl"
    runner = ActionRunner(loaded, backend, AuditTrail(trail), operator="bench@host")
    return CockpitContext(loaded=loaded, backend=backend, runner=runner, trail_path=trail,
                          redactor=default_redactor(), settings=UserSettings(), live=True)


class PaneApp(App[None]):
    def __init__(self, ctx: CockpitContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.ticks: list[float] = []

    def compose(self) -> ComposeResult:
        yield AuditPane(self.ctx)

    def on_mount(self) -> None:
        self.set_interval(TICK, lambda: self.ticks.append(time.perf_counter()))


async def pane_query(ctx: CockpitContext, text: str
                     ) -> tuple[float, float, float, int | None]:
    """(ms to the answer's first rows, ms to all of it on screen, longest stall ms,
    matches counted)."""
    app = PaneApp(ctx)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(AuditPane)
        deadline = time.monotonic() + 30
        while pane.total_count < 1000 and time.monotonic() < deadline:
            await pilot.pause()
        await pilot.pause()
        app.ticks.clear()
        start = time.perf_counter()
        pane.apply_filter(text)
        while pane.search is not None and pane.search.running:
            await asyncio.sleep(0.002)
        first = (time.perf_counter() - start) * 1000  # the answer's first slice is in
        while pane._filling:
            await asyncio.sleep(0.002)
        await pilot.pause()  # the rows laid out and painted
        elapsed = (time.perf_counter() - start) * 1000
        ticks = [start, *app.ticks, time.perf_counter()]
        stall = max((b - a - TICK) * 1000 for a, b in itertools.pairwise(ticks))
        matched = pane.search.matched if pane.search else None
    return first, elapsed, max(0.0, stall), matched


def cli_ms(audit: Path, exprs: list[str], n: int) -> float:
    cmd = [str(BIN / "cockpit"), "audit", "tail", str(audit), "--json", "-n", str(n)]
    for expr in exprs:
        cmd += ["--where", expr]
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "cockpit-bench"))
    args = parser.parse_args()
    audit = audit_file(args.lines, args.dir)
    trace = middle_trace_id(audit, args.lines)
    tmp = Path(tempfile.mkdtemp(prefix="audit-pane-"))
    ctx = context(tmp, audit)
    limit = ctx.settings.audit_buffer_records
    queries = [(f"trace_id={trace}", [f"trace_id={trace}"]), (trace, [trace]),
               ("decision=DENY reason_codes!=", ["decision=DENY", "reason_codes!="])]
    print(f"file: {audit} ({audit.stat().st_size / 1e6:.0f} MB), buffer {limit:,} records, "
          f"median of {args.runs} runs, {len(os.sched_getaffinity(0))} CPUs\n")
    print(f"{'query':36} {'first ms':>9} {'all ms':>8} {'CLI ms':>8} {'stall ms':>9} "
          f"{'counted':>9}")
    for text, exprs in queries:
        firsts, alls, stalls, counted = [], [], [], None
        for _ in range(args.runs):
            first, full, stall, counted = asyncio.run(pane_query(ctx, text))
            firsts.append(first)
            alls.append(full)
            stalls.append(stall)
        cli = statistics.median(cli_ms(audit, exprs, limit) for _ in range(args.runs))
        print(f"{text[:36]:36} {statistics.median(firsts):9.0f} "
              f"{statistics.median(alls):8.0f} {cli:8.0f} {max(stalls):9.1f} "
              f"{counted if counted is not None else '-':>9}")
    print("\nfirst: filter applied -> the whole file's answer in the table (first slice); "
          "all: every row of it laid out;\nCLI: the same query printing the same number of "
          "records; stall: the longest extra delay of a 10 ms timer (worst run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
