"""Benchmark: finding and printing audit records, the cockpit's CLI beside rg, grep, jq and
lnav, on the same 1,000,000-line techno-os audit file, in one run.

    .venv/bin/python bench/audit_query.py [--lines N] [--runs 5] [--dir DIR] [--no-lnav]

The queries an incident starts with (issue 14's table): every record of one trace id (by
field and as free text), every DENY with its reasons printed as JSON and as text, the
DENY count, and a count by ``event_type``. Every command writes to a file (as to a
pipe), the page cache is warm for all, each figure is the median of ``--runs`` runs.
Each reference tool's answer is checked against the cockpit's (same records, same
order), so the figures compare equal work. The cockpit's peak memory (max RSS) is printed
for the big queries: it stays bounded whatever the number of matches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_scan import audit_file, middle_trace_id  # the same file as audit_scan.py

BIN = Path(sys.executable).parent


def timed(cmd: str, runs: int, out: Path) -> tuple[float, float, float]:
    """(median ms, median CPU ms, peak RSS MB) of ``cmd`` run by bash with stdout to
    ``out``. CPU is user+sys of the command and its children (forked workers, a pipeline's
    processes), GNU time's: on a shared machine it moves less than the wall time. The RSS
    is the maximum resident set of the command's process (its forked workers are
    smaller)."""
    times = []
    cpus = []
    mem = out.with_suffix(".rss")
    rss = float("nan")
    for _ in range(runs):
        start = time.perf_counter()
        with out.open("wb") as sink:
            subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", str(mem), "bash", "-c",
                            cmd if "|" in cmd else f"exec {cmd}"],
                           stdout=sink, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
        try:
            kb, user, system = mem.read_text().split()[-3:]
            rss = int(kb) / 1024
            cpus.append((float(user) + float(system)) * 1000)
        except (OSError, ValueError):
            pass
    cpu = statistics.median(cpus) if cpus else float("nan")
    return statistics.median(times), cpu, rss


def records(path: Path) -> list[object]:
    """The JSON records of an output file (lnav and rg print lines as they were)."""
    found = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "cockpit-bench"))
    parser.add_argument("--no-lnav", action="store_true", help="leave lnav out (slow)")
    parser.add_argument("--only", metavar="QUERY", default="",
                        help="only the queries starting with this (e.g. 'trace id')")
    args = parser.parse_args()

    path = audit_file(args.lines, args.dir)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(
        Path(__file__).resolve().parents[1] / "src")], capture_output=True)
    f = str(path)
    trace = middle_trace_id(path, args.lines)
    cockpit = f"{BIN / 'cockpit'} audit"
    tools = {name: shutil.which(name) for name in ("rg", "grep", "jq", "lnav")}
    if args.no_lnav:
        tools["lnav"] = None
    print(f"file: {f} ({path.stat().st_size / 1e6:.0f} MB, {args.lines:,} lines), "
          f"median of {args.runs} runs, {len(os.sched_getaffinity(0))} CPUs")
    print("tools: " + ", ".join(f"{k} {'yes' if v else 'missing'}" for k, v in tools.items()))

    deny_json = (f"{cockpit} tail {f} --where decision=DENY --where reason_codes!= "
                 "--json -n 100000000")
    # (query, label, command, what the output is compared by)
    plan: list[tuple[str, str, str, str]] = [
        ("trace id, by field", "cockpit --where trace_id=ID --json",
         f"{cockpit} tail {f} --where trace_id={trace} --json", "records"),
        ("trace id, by field", "rg -F ID", f"rg -F {trace} {f}", "records"),
        ("trace id, by field", "grep -F ID", f"grep -F {trace} {f}", "records"),
        ("trace id, by field", "jq select(.trace_id==ID)",
         f"jq -c 'select(.trace_id==\"{trace}\")' {f}", "records"),
        ("trace id, by field", "lnav :filter-in ID",
         f"lnav -n -c ':filter-in {trace}' {f}", "records"),
        ("trace id, free text", "cockpit --where ID --json",
         f"{cockpit} tail {f} --where {trace} --json", "records"),
        ("trace id, free text", "rg -F ID", f"rg -F {trace} {f}", "records"),
        # free text is case-insensitive (an id with letters): the same search by rg
        ("trace id, free text", "rg -i -F ID (case-insensitive, as free text)",
         f"rg -i -F {trace} {f}", "records"),
        # the same two queries without the scan started before the imports (the path
        # every other query takes), for the before/after in one run
        ("trace id, by field", "cockpit-without-early-scan --where trace_id=ID --json",
         f"env COCKPIT_LITERAL_SCAN_MIN={1 << 60} {cockpit} tail {f} "
         f"--where trace_id={trace} --json", "records"),
        ("trace id, free text", "cockpit-without-early-scan --where ID --json",
         f"env COCKPIT_LITERAL_SCAN_MIN={1 << 60} {cockpit} tail {f} --where {trace} --json",
         "records"),
        ("DENY with reasons, JSON", "cockpit --where decision=DENY --where reason_codes!= "
         "--json", deny_json, "records"),
        ("DENY with reasons, JSON", "grep -F DENY | grep -vF reason_codes:[]",
         f"grep -F '\"decision\":\"DENY\"' {f} | grep -vF '\"reason_codes\":[]'", "records"),
        ("DENY with reasons, JSON", "rg -F DENY | rg -vF reason_codes:[]",
         f"rg -F '\"decision\":\"DENY\"' {f} | rg -vF '\"reason_codes\":[]'", "records"),
        ("DENY with reasons, JSON", "jq select(DENY and reasons)",
         f"jq -c 'select(.decision==\"DENY\" and (.reason_codes|length)>0)' {f}", "records"),
        ("DENY with reasons, JSON", "lnav :filter-in DENY :filter-out reason_codes:[]",
         f"lnav -n -c ':filter-in \"decision\":\"DENY\"' "
         f"-c ':filter-out \"reason_codes\":\\[\\]' {f}", "records"),
        ("DENY with reasons, text", "cockpit --where ... (text)",
         deny_json.replace(" --json", ""), "lines"),
        ("DENY with reasons, text", "grep -F DENY | grep -vF reason_codes:[]",
         f"grep -F '\"decision\":\"DENY\"' {f} | grep -vF '\"reason_codes\":[]'", "lines"),
        ("DENY, count", "cockpit --where decision=DENY --count",
         f"{cockpit} tail {f} --where decision=DENY --count", "number"),
        ("DENY, count", "grep -c DENY", f"grep -c '\"decision\":\"DENY\"' {f}", "number"),
        ("DENY, count", "rg -c DENY", f"rg -c '\"decision\":\"DENY\"' {f}", "number"),
        ("count by event_type", "cockpit audit stats --by event_type",
         f"{cockpit} stats {f} --by event_type", "counts"),
        ("count by event_type", "rg -o | sort | uniq -c",
         f"rg -o '\"event_type\":\"[^\"]*\"' {f} | sort | uniq -c", "counts"),
        ("count by event_type", "jq -r .event_type | sort | uniq -c",
         f"jq -r .event_type {f} | sort | uniq -c", "counts"),
    ]
    work = Path(tempfile.mkdtemp(prefix="audit-query-"))
    results: dict[str, list[tuple[str, float, float, float, str]]] = {}
    reference: dict[str, object] = {}
    for query, label, cmd, kind in plan:
        if not query.startswith(args.only):
            continue
        tool = label.split()[0]
        if tool in tools and tools[tool] is None:
            continue
        out = work / "out"
        runs = 1 if tool in ("jq", "lnav") else args.runs  # minutes, not milliseconds
        ms, cpu, rss = timed(cmd, runs, out)
        if kind == "records":
            answer: object = records(out)
        elif kind == "number":
            answer = int(out.read_text().split()[0])
        elif kind == "counts":
            answer = sorted(int(line.split()[0]) for line in out.read_text().splitlines()
                            if line.strip() and line.split()[0].isdigit())
        else:
            answer = len(out.read_text().splitlines())
        check = ""
        if tool == "cockpit":
            reference[query] = answer
        elif answer != reference.get(query):
            check = "  (answer differs!)"
        results.setdefault(query, []).append((label, ms, cpu, rss, check))
    shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'query':26} {'tool':52} {'ms':>9} {'x best ref':>10} {'CPU ms':>8} "
          f"{'MB RSS':>7}")
    for query, rows in results.items():
        refs = [ms for label, ms, _, _, _ in rows if not label.startswith("cockpit")
                and not label.startswith(("jq", "lnav"))]
        best = min(refs) if refs else None
        for label, ms, cpu, rss, check in rows:
            ratio = f"{ms / best:9.1f}x" if best else "        -"
            mem = f"{rss:7.0f}" if label.startswith("cockpit") else "       "
            runs = "" if not label.startswith(("jq", "lnav")) else " (1 run)"
            print(f"{query:26} {label[:52]:52} {ms:9.1f} {ratio:>10} {cpu:8.0f} "
                  f"{mem}{runs}{check}")
    print("\nx best ref: time over the fastest of rg/grep for the query (the issue's "
          "targets: trace id <= 2x, DENY JSON <= 3x, text <= 4x, count by <= 1x); "
          "CPU ms: user+sys, median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
