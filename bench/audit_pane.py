"""Benchmark: the incident queries typed into the Audit pane, on the 1,000,000-line
techno-os audit file, beside the same query from the CLI in the same run.

    .venv/bin/python bench/audit_pane.py [--lines N] [--runs 3] [--dir DIR] [--old SRC]
        [--no-freeze] [--only field|text|deny]

For each query (typed into the filter box, opened ``TYPING`` s before; ``--at-once``:
applied without it): the time from applying the filter to the first frame painted with the
whole-file answer's rows (every match counted), to the first frame with all of its rows
in the table, the CLI's time for the same query (``cockpit audit tail ... --json -n
BUFFER``), the time until its rows carry their line numbers (the search process counts
them after sending its answer), and the longest stall of the UI meanwhile (the extra
delay of a 10 ms timer, as ``bench/log_ingest.py`` measures it). Headless (``run_test``), 120x30; frames are
the screen's updates as the app hands them to its driver. Also: how long the pane's own
search process took, the pane's resident memory with the answer shown, and the stall's
reference: the same timer's delay while the pane is idle and the same search process
runs (on a shared or small machine, that process and the others take the CPU from the
UI whatever it does).

The start-up heap is frozen before each query, as the cockpit does 1.5 s after its start
(``app._freeze_heap``): else full garbage collections walk it and stall the UI for 40-80
ms whatever the pane does (``--no-freeze`` measures that).

``--old SRC`` (another tree's ``src``) measures that tree's pane the same way in the same
run, each run of each tree in a fresh process, the two alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from rich.console import RenderableType
from textual.app import App, ComposeResult
from textual.screen import Screen

from audit_scan import audit_file, middle_trace_id  # the same file as audit_scan.py
from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.redact import default_redactor
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.audit import AuditPane
from cockpit.tui.panes.audit_rows import split_filter
from cockpit.tui.settings import UserSettings

TICK = 0.010
#: Seconds between opening the filter box and applying the filter (--at-once: none, the
#: filter applied without the box, as a caller other than the operator would).
TYPING = 0.3
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
        self.on_paint: list[object] = []  #: called after each frame is handed over

    def _display(self, screen: Screen, renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            for probe in self.on_paint:
                probe()  # type: ignore[operator]

    def compose(self) -> ComposeResult:
        yield AuditPane(self.ctx)

    def on_mount(self) -> None:
        self.set_interval(TICK, lambda: self.ticks.append(time.perf_counter()))


Run = tuple[float, float, float, int | None, float, float, float, float]


async def pane_query(ctx: CockpitContext, audit: Path, text: str, freeze: bool = True
                     ) -> Run:
    """(ms to the answer's first rows, ms to all of it on screen, longest stall ms,
    matches counted, search process ms, RSS MB, stall reference ms, ms until the rows
    carry their line numbers)."""
    app = PaneApp(ctx)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(AuditPane)
        deadline = time.monotonic() + 30
        while pane.total_count < 1000 and time.monotonic() < deadline:
            await pilot.pause()
        await pilot.pause()
        if freeze:  # as the cockpit does once started (app._freeze_heap): full
            gc.collect()  # collections leave the start-up heap out
            gc.freeze()
        # the reference: the pane idle while the same search process runs (its CPU load
        # and the machine's, without the pane's work)
        app.ticks.clear()
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cockpit.core.audit.tail", str(audit),
            str(ctx.settings.audit_buffer_records), *split_filter(text),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        idle = late(began, app.ticks, time.perf_counter())
        marks: dict[str, float] = {}

        def probe() -> None:  # what this frame shows
            search = pane.search
            if search is None or search.running:
                return
            marks.setdefault("first", time.perf_counter())
            if not pane._filling:
                marks.setdefault("all", time.perf_counter())

        app.on_paint.append(probe)
        if TYPING:  # the operator opens the filter box ("/") and types the filter
            pane.action_filter()
            await asyncio.sleep(TYPING)
        app.ticks.clear()
        start = time.perf_counter()
        pane.apply_filter(text)
        deadline = time.monotonic() + 60
        poked = False
        while "all" not in marks and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
            search = pane.search
            if not poked and search is not None and not search.running and not pane._filling:
                poked = True
                pane.table().refresh()  # a frame even if the last rows changed nothing
        end = time.perf_counter()
        while (pane.search is not None and not getattr(pane.search, "numbered", True)
               and time.monotonic() < deadline):  # (an --old tree numbers them first)
            await asyncio.sleep(0.002)
        numbered = (time.perf_counter() - start) * 1000
        first = (marks.get("first", end) - start) * 1000
        elapsed = (marks.get("all", end) - start) * 1000
        stall = late(start, app.ticks, time.perf_counter())
        matched = pane.search.matched if pane.search else None
        search_ms = pane.search.seconds * 1000 if pane.search else 0.0
    rss = rss_mb()
    if freeze:  # the next run's app starts from a clean heap: frozen, this run's app
        gc.unfreeze()  # (its garbage included) would stay for good and count in the
        gc.collect()  # next runs' RSS
    return first, elapsed, stall, matched, search_ms, rss, idle, numbered


def late(start: float, ticks: list[float], end: float) -> float:
    """The longest extra delay (ms) of the 10 ms timer between ``start`` and ``end``."""
    times = [start, *(t for t in ticks if t >= start), end]
    return max(0.0, max((b - a - TICK) * 1000 for a, b in itertools.pairwise(times)))


def rss_mb() -> float:
    """The process's resident memory now (MB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def cli_ms(audit: Path, exprs: list[str], n: int) -> float:
    cmd = [str(BIN / "cockpit"), "audit", "tail", str(audit), "--json", "-n", str(n)]
    for expr in exprs:
        cmd += ["--where", expr]
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def child(old: str | None, args: argparse.Namespace, index: int) -> Run:
    """One run of query ``index`` in a fresh process (``old``: that tree's src)."""
    env = dict(os.environ)
    if old:
        env["PYTHONPATH"] = old + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--lines", str(args.lines), "--dir",
                          args.dir, "--child", str(index),
                          *(["--no-freeze"] if args.no_freeze else []),
                          *(["--at-once"] if args.at_once else [])], env=env, check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out.splitlines()[-1])
    first, full, stall, counted, search_ms, rss, idle, numbered = got
    return first, full, stall, counted, search_ms, rss, idle, numbered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "cockpit-bench"))
    parser.add_argument("--old", help="another tree's src, measured the same way")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the start-up heap in full collections (the app freezes it)")
    parser.add_argument("--only", choices=("field", "text", "deny"),
                        help="run this query only (trace id by field, as free text, DENY)")
    parser.add_argument("--at-once", action="store_true",
                        help="apply the filter without opening the filter box first")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global TYPING
    if args.at_once:
        TYPING = 0.0
    audit = audit_file(args.lines, args.dir)
    trace = middle_trace_id(audit, args.lines)
    tmp = Path(tempfile.mkdtemp(prefix="audit-pane-"))
    ctx = context(tmp, audit)
    limit = ctx.settings.audit_buffer_records
    queries = [(f"trace_id={trace}", [f"trace_id={trace}"]), (trace, [trace]),
               ("decision=DENY reason_codes!=", ["decision=DENY", "reason_codes!="])]
    if args.child is not None:
        print(json.dumps(asyncio.run(pane_query(ctx, audit, queries[args.child][0],
                                                not args.no_freeze))))
        return 0
    trees = [("new", None), ("old", args.old)] if args.old else [("", None)]
    print(f"file: {audit} ({audit.stat().st_size / 1e6:.0f} MB), buffer {limit:,} records, "
          f"median of {args.runs} runs, {len(os.sched_getaffinity(0))} CPUs\n")
    print(f"{'query':36} {'tree':4} {'first ms':>9} {'all ms':>8} {'lines':>7} {'search':>7} {'CLI ms':>8} "
          f"{'stall med/max':>14} {'ref med/max':>13} {'counted':>8} {'RSS MB':>7}")
    for index, (text, exprs) in enumerate(queries):
        if args.only and index != ("field", "text", "deny").index(args.only):
            continue
        runs: dict[str, list[Run]] = {name: [] for name, _ in trees}
        clis = []
        for _ in range(args.runs):
            for name, src in trees:
                runs[name].append(child(src, args, index) if args.old
                                  else asyncio.run(pane_query(ctx, audit, text, not args.no_freeze)))
            clis.append(cli_ms(audit, exprs, limit))
        cli = statistics.median(clis)
        for name, _src in trees:
            firsts, alls, stalls, counts, searches, rsss, idles, numbereds = zip(
                *runs[name], strict=True)
            counted = counts[-1]
            print(f"{text[:36]:36} {name:4} {statistics.median(firsts):9.0f} "
                  f"{statistics.median(alls):8.0f} {statistics.median(numbereds):7.0f} "
                  f"{statistics.median(searches):7.0f} "
                  f"{cli:8.0f} {statistics.median(stalls):6.1f} / {max(stalls):5.1f} "
                  f"{statistics.median(idles):5.1f} / {max(idles):5.1f} "
                  f"{counted if counted is not None else '-':>8} {max(rsss):7.0f}")
    print("\nfirst: filter applied -> the first frame showing the whole file's answer; "
          "all: the first frame with every row of it in the table;\nlines: until its rows "
          "carry their line numbers (the search counts them after its answer); search: "
          "the pane's search process (python -m cockpit.core.audit.tail) until its answer "
          "is read;\nCLI: the same query "
          "printing the same number of records (median, runs alternating with the pane's); "
          "stall: the longest extra delay of a 10 ms timer in a run (median, worst of the runs);\n"
          "ref: the same, the pane idle while the same search process runs (what its "
          "CPU load and the machine's cost the UI);\n"
          "RSS: the pane's process once the answer is shown (the most of the runs; one "
          "process a run with --old, else all runs in one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
