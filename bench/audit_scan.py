"""Benchmark: cockpit's audit queries against jq and grep on a 1,000,000-line audit log.

    .venv/bin/python bench/audit_scan.py [--lines N] [--runs 5] [--dir DIR]

Generates (once, cached in the temp dir) a techno-os style audit file, then times, in the
same run, the median of ``--runs`` runs of: ``cockpit audit stats FILE --by event_type``
(CLI subprocess and in-process ``count_by``) vs ``jq -r .event_type FILE | sort | uniq -c``,
and the DENY filter ``cockpit audit tail FILE --where decision=DENY --count`` (CLI and
in-process ``scan_file(count_only=True)``) vs ``jq -c 'select(.decision=="DENY")' | wc -l``
vs ``grep -c DENY FILE``. Prints ms, lines/s, MB/s and the ratios vs jq and grep.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

CODES = ["G10_RATE_LIMIT_EXCEEDED", "G2_INVALID_API_KEY", "G5_session_expired",
         "G7_PAYLOAD_LIMIT_EXCEEDED", "EXECUTOR_TIMEOUT"]
EXECUTORS = ["llm_executor", "http_executor", "noop_executor", "db_executor"]


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """A techno-os style audit log: decision_audit and action_audit records, ~250 B/line."""
    rnd = random.Random(seed)
    t0 = datetime(2025, 12, 23, 10, 0, 0, tzinfo=UTC)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        batch: list[bytes] = []
        for i in range(lines):
            ts = (t0 + timedelta(microseconds=i * 3791)).isoformat()
            trace = f"{rnd.getrandbits(32):08x}-{rnd.getrandbits(16):04x}-4{rnd.getrandbits(12):03x}-a{rnd.getrandbits(12):03x}-{rnd.getrandbits(48):012x}"
            profile = f"{rnd.getrandbits(64):016x}{rnd.getrandbits(64):016x}"
            if rnd.random() < 0.55:
                deny = rnd.random() < 0.2
                rec = {"ts_utc": ts, "event_type": "decision_audit",
                       "decision": "DENY" if deny else "ALLOW",
                       "reason_codes": rnd.sample(CODES, rnd.randint(1, 2)) if deny else [],
                       "trace_id": trace, "profile_hash": profile,
                       "latency_ms": round(rnd.random() * 40, 3)}
            else:
                status = rnd.choices(["SUCCESS", "FAILED", "TIMEOUT"], [90, 7, 3])[0]
                rec = {"ts_utc": ts, "event_type": "action_audit", "action": "test_action",
                       "executor_id": rnd.choice(EXECUTORS), "status": status,
                       "reason_codes": ["EXECUTOR_TIMEOUT"] if status == "TIMEOUT" else [],
                       "trace_id": trace, "profile_hash": profile}
            batch.append(orjson.dumps(rec))
            if len(batch) >= 10_000:
                fh.write(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            fh.write(b"\n".join(batch) + b"\n")
    tmp.replace(path)


def audit_file(lines: int, folder: str) -> Path:
    """The generated file of ``lines`` lines in ``folder`` (made once), its pages warm for
    every tool alike."""
    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"techno-os-audit-{lines}.jsonl"
    if not path.exists():
        print(f"generating {lines:,} lines into {path} ...", flush=True)
        generate(path, lines)
    path.read_bytes()
    return path


def middle_trace_id(path: Path, lines: int) -> str:
    """The trace id of the record half-way through the file (the one queries look for)."""
    with path.open() as fh:
        for _ in range(lines // 2):
            line = fh.readline()
    return orjson.loads(line)["trace_id"]


def median_ms(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def shell(cmd: str) -> Callable[[], str]:
    def run() -> str:
        return subprocess.run(cmd, shell=True, check=True, capture_output=True,
                              text=True).stdout.strip()
    return run


def cockpit_cli() -> list[str]:
    """The CLI: the ``cockpit`` script when it has ``audit``, else the module itself."""
    exe = shutil.which("cockpit", path=str(Path(sys.executable).parent))
    if exe:
        probe = subprocess.run([exe, "audit", "stats", "--help"], capture_output=True)
        if probe.returncode == 0:
            return [exe, "audit"]
    return [sys.executable, "-m", "cockpit.cli.audit_cmd"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "cockpit-bench"))
    args = parser.parse_args()

    from cockpit.core.audit.query import count_by, scan_file

    path = audit_file(args.lines, args.dir)
    size = path.stat().st_size
    lines = args.lines
    print(f"file: {path} ({size / 1e6:.0f} MB, {lines:,} lines, "
          f"{size / lines:.0f} B/line), median of {args.runs} runs, "
          f"{len(os.sched_getaffinity(0))} CPUs\n")

    cli = " ".join(cockpit_cli())
    f = str(path)
    have_jq = shutil.which("jq") is not None
    rows: list[tuple[str, str, float]] = []

    def bench(group: str, label: str, fn: Callable[[], object]) -> object:
        ms, result = median_ms(fn, args.runs)
        rows.append((group, label, ms))
        return result

    counts = bench("count by event_type", "cockpit count_by (in-process)",
                   lambda: count_by(f, "event_type").counts)
    bench("count by event_type", "cockpit audit stats --by event_type (CLI)",
          shell(f"{cli} stats {f} --by event_type"))
    if have_jq:
        out = bench("count by event_type", "jq -r .event_type | sort | uniq -c",
                    shell(f"jq -r .event_type {f} | sort | uniq -c"))
        jq_counts = {ln.split()[1]: int(ln.split()[0]) for ln in str(out).splitlines()}
        assert jq_counts == dict(counts), (jq_counts, counts)  # type: ignore[arg-type]

    deny = bench("DENY filter (count)", "cockpit scan_file count_only (in-process)",
                 lambda: scan_file(f, ["decision=DENY"], count_only=True).matched)
    bench("DENY filter (count)", "cockpit audit tail --where decision=DENY --count (CLI)",
          shell(f"{cli} tail {f} --where decision=DENY --count"))
    if have_jq:
        out = bench("DENY filter (count)", "jq -c 'select(.decision==\"DENY\")' | wc -l",
                    shell(f"jq -c 'select(.decision==\"DENY\")' {f} | wc -l"))
        assert int(str(out)) == deny, (out, deny)
    bench("DENY filter (count)", "grep -c DENY", shell(f"grep -c DENY {f}"))

    grep_ms = next(ms for _, label, ms in rows if label == "grep -c DENY")
    print(f"{'query':22} {'tool':58} {'ms':>8} {'lines/s':>12} {'MB/s':>8} "
          f"{'vs jq':>7} {'vs grep':>8}")
    for group in dict.fromkeys(g for g, _, _ in rows):
        group_rows = [r for r in rows if r[0] == group]
        jq_ms = next((ms for _, label, ms in group_rows if label.startswith("jq")), None)
        for _, label, ms in group_rows:
            vs_jq = f"{jq_ms / ms:6.1f}x" if jq_ms else "    -"
            vs_grep = f"{ms / grep_ms:7.1f}x"
            print(f"{group:22} {label:58} {ms:8.1f} {lines / ms * 1000:12,.0f} "
                  f"{size / ms / 1000:8.0f} {vs_jq:>7} {vs_grep:>8}")
    print("\nvs jq: how many times faster than jq; vs grep: how many times slower than "
          "grep -c DENY")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
