"""Benchmark: appends per second to the operator trail (each one fsync'd).

    .venv/bin/python bench/audit_append.py [--records 2000] [--runs 5] [--dir DIR]
    PYTHONPATH=/path/to/old/src python bench/audit_append.py   # the same on other code

Times, median of ``--runs``: ``warm`` (one ``AuditTrail`` appending ``--records`` runner-like
records, as the TUI does), and ``cold`` (a new ``AuditTrail`` per append on a trail that
already holds ``--records`` records, as each ``cockpit run`` does: with sealing, the first
append of a trail object checks the whole chain once). Witnesses: ``--witness`` (default:
the default file witness; ``none`` to leave them out).
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cockpit.core.audit.trail import AuditTrail

RECORD = {
    "operator": "ops@host", "profile": "demo", "backend": "local (host)", "target": None,
    "action": "restart", "danger": "caution", "source": {"kind": "profile"},
    "params": {"service": "api"}, "command": "systemctl restart api",
    "trace_id": "550e8400-e29b-41d4-a716-446655440000", "decision": "ALLOW",
    "reason_codes": [], "status": "succeeded", "exit_code": 0, "duration_ms": 812.4,
    "output_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "output_bytes": 0, "output_tail": ["restarted"], "message": "succeeded",
}


def _trail(path: Path, witness: str | None) -> AuditTrail:
    if "witness" in inspect.signature(AuditTrail).parameters:
        return AuditTrail(path, redact=False, witness=witness)
    return AuditTrail(path, redact=False)


def warm(folder: Path, n: int, witness: str | None) -> float:
    trail = _trail(folder / "warm.jsonl", witness)
    t0 = time.perf_counter()
    for _ in range(n):
        trail.append(RECORD)
    return n / (time.perf_counter() - t0)


def cold(folder: Path, n: int, witness: str | None, appends: int = 50) -> float:
    path = folder / "cold.jsonl"
    trail = _trail(path, witness)
    for _ in range(n):
        trail.append(RECORD)
    t0 = time.perf_counter()
    for _ in range(appends):
        _trail(path, witness).append(RECORD)
    return appends / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--witness", default=None,
                        help="COCKPIT_AUDIT_WITNESS value (default: the default witnesses)")
    args = parser.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="audit-append-"))
    os.environ["XDG_STATE_HOME"] = str(base / "state")
    results: dict[str, list[float]] = {"warm": [], "cold": []}
    for run in range(args.runs):
        folder = base / f"run{run}"
        folder.mkdir(parents=True, exist_ok=True)
        results["warm"].append(warm(folder, args.records, args.witness))
        results["cold"].append(cold(folder, args.records, args.witness))
    code = Path(sys.modules[AuditTrail.__module__].__file__ or "?").parent
    print(f"code: {code}  records: {args.records}  runs: {args.runs}  dir: {base}")
    for name, values in results.items():
        print(f"{name:5} median {statistics.median(values):8.0f} appends/s  "
              f"(min {min(values):.0f}, max {max(values):.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
