"""Benchmark: loading hostile and huge profiles, against a bare ``yaml`` parse of the same file.

    .venv/bin/python bench/profile_validate.py [--runs 5] [--actions 80000] [--timeout 30]

Cases: YAML anchor bombs (billion laughs) of 7, 8 and 9 levels of ten aliases each
(10**levels nodes once expanded) and a profile of ``--actions`` actions. Each run is one
child process (memory capped at 2 GiB, killed after ``--timeout`` s) that times
``load_profile`` and, as a reference in the same process, ``yaml.load`` with LibYAML's
``CSafeLoader`` (which builds aliases as shared objects, never expanding them), with the
garbage collector on and paused. Prints the median of ``--runs`` runs, the child's peak
RSS (the reference's included) and the verdict (``ok`` or the error's first line).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import gc, json, resource, sys, time
import yaml
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import CockpitError

path = sys.argv[1]
text = open(path, encoding="utf-8").read()
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
t0 = time.perf_counter()
yaml.load(text, Loader=loader)
ref = time.perf_counter() - t0
gc.disable()
t0 = time.perf_counter()
yaml.load(text, Loader=loader)
ref_nogc = time.perf_counter() - t0
gc.enable()
gc.collect()
t0 = time.perf_counter()
try:
    load_profile(path)
    verdict = "ok"
except CockpitError as exc:
    verdict = str(exc).splitlines()[0]
except BaseException as exc:  # what the operator would see as a traceback
    verdict = f"TRACEBACK {type(exc).__name__}"
took = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load": took, "ref": ref, "ref_nogc": ref_nogc, "rss_mb": rss,
                  "verdict": verdict}))
"""


def bomb(levels: int) -> str:
    """Billion laughs: level 0 holds ten strings, each next level ten aliases of the previous."""
    lines = ["name: bomb", "x:", "  l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def many_actions(count: int) -> str:
    """A profile of ``count`` small argv actions, one flow mapping per line."""
    lines = ["name: big", "actions:"]
    lines += [f"  - {{id: a{i}, run: [echo, '{i}'], danger: safe}}" for i in range(count)]
    return "\n".join(lines) + "\n"


def run_case(path: Path, runs: int, timeout: float) -> dict:
    """Median of ``runs`` child runs of one case (or the verdict of a child that did not end)."""
    results: list[dict] = []
    for _ in range(runs):
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)],
                capture_output=True, text=True, timeout=timeout,
                preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired:
            return {"load": time.perf_counter() - started, "ref": float("nan"),
                    "ref_nogc": float("nan"), "rss_mb": float("nan"),
                    "verdict": f"no verdict in {timeout:g} s"}
        if proc.returncode != 0 or not proc.stdout.strip():
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return {"load": time.perf_counter() - started, "ref": float("nan"),
                    "ref_nogc": float("nan"), "rss_mb": float("nan"),
                    "verdict": f"child died: {tail[:80]}"}
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "load": statistics.median(r["load"] for r in results),
        "ref": statistics.median(r["ref"] for r in results),
        "ref_nogc": statistics.median(r["ref_nogc"] for r in results),
        "rss_mb": max(r["rss_mb"] for r in results),
        "verdict": results[-1]["verdict"],
    }


def _limit_memory() -> None:
    import resource

    cap = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--actions", type=int, default=80_000)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Path]] = []
        for levels in (7, 8, 9):
            path = Path(tmp, f"bomb{levels}.yaml")
            path.write_text(bomb(levels), encoding="utf-8")
            cases.append((f"anchor bomb, {levels} levels", path))
        path = Path(tmp, "actions.yaml")
        path.write_text(many_actions(args.actions), encoding="utf-8")
        cases.append((f"{args.actions} actions ({path.stat().st_size / 1e6:.1f} MB)", path))
        print(f"median of {args.runs} runs; reference: yaml.load with CSafeLoader of the same "
              "file, with the garbage collector on, then paused (as load_profile pauses it)")
        print(f"{'case':<30} {'load_profile':>12} {'ref':>8} {'ref no gc':>9} {'peak RSS':>9}"
              "  verdict")
        for label, path in cases:
            r = run_case(path, args.runs, args.timeout)
            verdict = r["verdict"].replace(str(path), path.name)
            print(f"{label:<30} {r['load'] * 1000:>10.0f}ms {r['ref'] * 1000:>6.0f}ms "
                  f"{r['ref_nogc'] * 1000:>7.0f}ms {r['rss_mb']:>7.0f}MB  {verdict[:90]}")


if __name__ == "__main__":
    main()
