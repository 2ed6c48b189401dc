"""The kubernetes backend in the TUI: first frame with data, and the UI's stalls while
1,000 pods are listed and updated. Against the test double (no cluster needed).

    python bench/kube_tui.py [--runs 5] [--pods 1000] [--seconds 10] [--rate 100]

1. start-up at 80x24 through a real pty, medians of ``--runs``: the demo profile (first
   frame saying "healthy") against a kubernetes profile on the seeded double (first
   frame saying "UNHEALTHY", which only the cluster's crash-looping deployment can make:
   the profile is meta-salvage's backend with its workloads probe alone), and a minimal
   Textual app;
2. stalls: the Targets pane over a double holding ``--pods`` pods in 10 deployments while
   ``--rate`` pod statuses change per second for ``--seconds``; a 10 ms UI timer
   measures how late it fires (as ``bench/log_ingest.py``), against the same pane idle.
Timings are figures to read, never pass/fail tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tui_pty import MINIMAL_APP, read_until, spawn, stop  # noqa: E402

BIN = Path(sys.executable).parent
TICK = 0.010


# -- 1. start-up --------------------------------------------------------------------------

def start_double(tmp: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.kubedouble", "--seed", "meta-salvage",
                             "--dir", str(tmp)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    exports: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export "):
            key, _, value = line[len("export "):].strip().partition("=")
            exports[key] = value
        if "PROMETHEUS_URL" in exports:
            break
    return proc, exports


def kube_profile(tmp: Path) -> Path:
    profile = tmp / "kube-bench.yaml"
    profile.write_text(
        "name: kube-bench\n"
        "backend:\n  kind: kubernetes\n  context: salvage-eu\n  namespace: euystacio-ai\n"
        "  workloads: [deployment/euystacio-api, deployment/opa-peace-bonds,"
        " statefulset/euystacio-db]\n"
        "health:\n  - {name: workloads, kind: target, targets: [deployment/euystacio-api,"
        " deployment/opa-peace-bonds, statefulset/euystacio-db]}\n")
    return profile


def startup(runs: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cockpit-kube-bench-"))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state"),
           "XDG_CONFIG_HOME": str(tmp / "config"), "COCKPIT_DEMO_PORT": "8782",
           "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("NO_COLOR", None)
    double, exports = start_double(tmp)
    subprocess.run([str(BIN / "cockpit"), "run", "start"], env=env, check=True,
                   capture_output=True)
    try:
        cockpit = str(BIN / "cockpit")
        cases = [
            ("cockpit, demo profile", [cockpit], env, b"healthy"),
            ("cockpit, kubernetes profile", [cockpit, "--profile", str(kube_profile(tmp))],
             {**env, **exports}, b"UNHEALTHY"),
            ("minimal Textual app", [sys.executable, "-c", MINIMAL_APP], env,
             b"hello healthy"),
        ]
        results: dict[str, list[float]] = {label: [] for label, *_ in cases}
        for _ in range(runs):  # interleaved, so a slow moment of the machine hits all
            for label, argv, case_env, marker in cases:
                pid, fd = spawn(argv, case_env, 80, 24)
                _first, data, _ = read_until(fd, marker, time.perf_counter() + 30)
                stop(pid, fd)
                if data is not None:
                    results[label].append(data)
        print(f"first frame with data at 80x24, median of {runs} runs")
        demo = statistics.median(results["cockpit, demo profile"] or [float("nan")])
        for label, times in results.items():
            median = statistics.median(times) if times else float("nan")
            print(f"  {label:30} {median * 1000:8.0f} ms  ({median / demo:.2f}x the demo;"
                  f" {len(times)}/{runs} runs reached it)")
    finally:
        subprocess.run([str(BIN / "cockpit"), "run", "stop", "--yes"], env=env,
                       capture_output=True)
        double.terminate()
        double.wait(10)


# -- 2. stalls with many pods ---------------------------------------------------------------

def seed_pods(double, pods: int) -> list[str]:
    from tests.kubedouble.seed import deployment, namespace

    double.apply(namespace("bench"))
    double.rollout_step = 0.001
    per = max(1, pods // 10)
    for i in range(10):
        double.apply(deployment(f"svc-{i:02d}", "bench", "bench/app:1.0", per))
    double.settle(timeout=300)
    return [p["metadata"]["name"] for p in double.list("pods", "bench")]


def serve_double(folder: Path, pods: int) -> None:
    """``--serve-double``: a double with ``pods`` pods in its own process (so its work is
    not the cockpit's), driven by lines on stdin: ``churn RATE SECONDS``."""
    from tests.kubedouble import KubeDouble

    double = KubeDouble("bench").start()
    t0 = time.perf_counter()
    names = seed_pods(double, pods)
    double.write_kubeconfig(folder / "kubeconfig", context="bench", namespace="bench")
    print(f"ready {len(names)} {time.perf_counter() - t0:.1f}", flush=True)
    rnd = random.Random(7)
    for line in sys.stdin:
        _verb, rate, seconds = line.split()
        sent, start, pause = 0, time.perf_counter(), threading.Event()
        while (elapsed := time.perf_counter() - start) < float(seconds):
            for _ in range(max(0, int(int(rate) * elapsed) - sent)):
                double.set_pod_status(rnd.choice(names), "bench", ready=rnd.random() < 0.7,
                                      restart_count=rnd.randrange(5))
                sent += 1
            pause.wait(0.01)
        print(f"done {sent}", flush=True)
    double.stop()


async def stalls(pods: int, seconds: float, rate: int) -> None:
    from tests.tui_support import make_context
    from textual.app import App, ComposeResult

    from cockpit.tui.panes.targets import TargetsPane

    tmp = Path(tempfile.mkdtemp(prefix="cockpit-kube-stall-"))
    server = subprocess.Popen([sys.executable, __file__, "--serve-double", str(tmp),
                               "--pods", str(pods)], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    try:
        _ready, count, took = server.stdout.readline().split()
        print(f"\nstalls: {count} pods in 10 deployments (seeded in {took} s, in another "
              "process), Targets pane at 120x40")
        context = make_context(tmp, f"""
            name: stall
            backend: {{kind: kubernetes, kubeconfig: {tmp / "kubeconfig"}, context: bench,
                       namespace: bench}}
            """, backend=True)
        await context.backend.ensure_connected()

        class Bench(App[None]):
            def __init__(self) -> None:
                super().__init__()
                self.ticks: list[float] = []

            def compose(self) -> ComposeResult:
                yield TargetsPane(context, id="targets")

            def on_mount(self) -> None:
                self.set_interval(TICK, lambda: self.ticks.append(time.perf_counter()))

        app = Bench()
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(TargetsPane)
            deadline = time.perf_counter() + 120
            t0 = time.perf_counter()
            while pane.table.row_count < int(count) + 10 and time.perf_counter() < deadline:
                await pilot.pause()
            print(f"  {pane.table.row_count} rows on screen "
                  f"{(time.perf_counter() - t0) * 1000:.0f} ms after mount")
            for label, busy in (("idle", False), (f"{rate} pod updates/s", True)):
                app.ticks.clear()
                if busy:
                    server.stdin.write(f"churn {rate} {seconds}\n")
                    server.stdin.flush()
                    await asyncio.to_thread(server.stdout.readline)
                else:
                    await asyncio.sleep(seconds)
                delays = sorted(max(0.0, b - a - TICK) * 1000
                                for a, b in pairwise(list(app.ticks)))
                print(f"  {label:22} timer late p50 {statistics.median(delays):6.1f} ms"
                      f"  p99 {delays[int(len(delays) * 0.99)]:6.1f} ms"
                      f"  max {delays[-1]:6.1f} ms")
        await context.backend.close()
    finally:
        server.stdin.close()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--only", choices=("startup", "stalls"))
    parser.add_argument("--serve-double", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_double:
        serve_double(args.serve_double, args.pods)
        return
    if args.only != "stalls":
        startup(args.runs)
    if args.only != "startup":
        asyncio.run(stalls(args.pods, args.seconds, args.rate))


if __name__ == "__main__":
    main()
