"""Start-up time and idle cost of the cockpit TUI, measured through a real pty.

    python bench/tui_pty.py [--runs 5] [--idle-seconds 20] [--idle-runs 1] [--size 80x24]
                            [--prefill N] [--src OTHER/src] [--no-compile]
                            [--idle-src OLD/src] [--early-off]

(``--idle-runs 0``: the start-up figures only.)

Starts the demo service, then:
- start-up: time from spawning ``cockpit`` to its first frame, and to the first frame
  with data (the header saying "healthy"), against a minimal Textual app's first frame;
  and the CPU time (user + system) the process had used by then, steadier than wall
  time on a shared machine;
- idle: CPU % of the cockpit process and bytes/s it writes to the terminal while the
  demo's synthetic traffic keeps every pane moving, with the compact output (the default)
  and without it (``COCKPIT_COMPACT_OUTPUT=0``), against ``tail -f`` of the demo log;
  with ``--idle-src OLD/src``, an older tree's cockpit too (``PYTHONPATH=OLD/src``), in turn
  with this one, for before/after figures from one run.
``--src`` adds the cockpit of another source tree (e.g. an older commit) to the start-up
runs; ``--early-off`` the cockpit with its first probe round in-process
(``COCKPIT_EARLY_PROBES=0``). The cockpits' modules (both trees) are compiled to bytecode first, as ``pip install``
does: an editable install under ``PYTHONDONTWRITEBYTECODE=1`` otherwise compiles every
module at every start (~70 ms of CPU here); ``--no-compile`` measures the trees as they
are. The demo listens on ``$COCKPIT_BENCH_PORT`` (default 8781: another run on the machine
may use it).
Prints medians. Timings are figures to read, never pass/fail tests.
"""

from __future__ import annotations

import argparse
import compileall
import fcntl
import importlib.util
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
MINIMAL_APP = (
    "from textual.app import App\nfrom textual.widgets import Static\n"
    "class A(App):\n    def compose(self):\n        yield Static('hello healthy')\nA().run()\n"
)


def spawn(argv: list[str], env: dict[str, str], cols: int, rows: int) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def read_until(fd: int, marker: bytes, deadline: float) -> tuple[float | None, float | None, int]:
    """Seconds to the first byte and to ``marker``; bytes read."""
    start = time.perf_counter()
    first = None
    buf = b""
    total = 0
    while time.perf_counter() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        total += len(chunk)
        if first is None:
            first = time.perf_counter() - start
        buf += chunk  # the marker may be anywhere in a large read: trim after looking
        if marker in buf:
            return first, time.perf_counter() - start, total
        buf = buf[-len(marker):]
    return first, None, total


def stop(pid: int, fd: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    end = time.time() + 5
    while time.time() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
        except ChildProcessError:
            break
        try:
            select.select([fd], [], [], 0.05)
            os.read(fd, 65536)
        except OSError:
            pass
    else:
        os.kill(pid, signal.SIGKILL)
    os.close(fd)


def measure_idle(argv, env, cols, rows, settle, seconds, prefill=None) -> tuple[float, float]:
    pid, fd = spawn(argv, env, cols, rows)
    read_until(fd, b"\x00never", time.perf_counter() + settle)
    if prefill is not None:  # fill the buffers, then let the cockpit take them in
        prefill()
        read_until(fd, b"\x00never", time.perf_counter() + 15)
    proc = psutil.Process(pid)
    cpu0 = sum(proc.cpu_times()[:2])
    t0 = time.perf_counter()
    _first, _hit, total = read_until(fd, b"\x00never", t0 + seconds)
    elapsed = time.perf_counter() - t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    stop(pid, fd)
    return 100 * cpu / elapsed, total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--idle-runs", type=int, default=1,
                        help="0: start-up figures only")
    parser.add_argument("--prefill", type=int, default=0, metavar="N",
                        help="before measuring idle, append N audit records and N log lines "
                             "(copies of the demo's) so the panes' buffers are full")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--src", help="also start the cockpit of this source tree")
    parser.add_argument("--early-off", action="store_true",
                        help="also start the cockpit with COCKPIT_EARLY_PROBES=0 (the first "
                             "probe round in-process, not in a forked child)")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not compile the cockpit's modules to bytecode first")
    parser.add_argument("--idle-src", metavar="OLD/src",
                        help="also measure idle with an older tree's cockpit (PYTHONPATH)")
    args = parser.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))

    tmp = Path(tempfile.mkdtemp(prefix="cockpit-bench-"))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state"),
           "XDG_CONFIG_HOME": str(tmp / "config"),
           "COCKPIT_DEMO_PORT": os.environ.get("COCKPIT_BENCH_PORT", "8781"),
           "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("NO_COLOR", None)
    subprocess.run([str(BIN / "cockpit"), "run", "start"], env=env, check=True,
                   capture_output=True)
    try:
        cockpit = [str(BIN / "cockpit")]
        minimal = [sys.executable, "-c", MINIMAL_APP]
        subjects = [("cockpit (demo profile)", cockpit, b"healthy", env),
                    ("minimal Textual app", minimal, b"hello healthy", env)]
        trees = [Path(importlib.util.find_spec("cockpit").origin).parent]
        if args.early_off:
            subjects.insert(1, ("cockpit, early probes off", cockpit, b"healthy",
                                {**env, "COCKPIT_EARLY_PROBES": "0"}))
        if args.src:
            other = {**env, "PYTHONPATH": args.src}
            subjects.insert(1, (f"cockpit of {args.src}", cockpit, b"healthy", other))
            trees.append(Path(args.src) / "cockpit")
        if not args.no_compile:
            for tree in trees:
                compileall.compile_dir(tree, quiet=1)
        firsts: dict[str, list[float]] = {label: [] for label, *_ in subjects}
        datas: dict[str, list[float]] = {label: [] for label, *_ in subjects}
        cpus: dict[str, list[float]] = {label: [] for label, *_ in subjects}
        for _ in range(args.runs):  # interleaved: all see the same machine load
            for label, argv, marker, run_env in subjects:
                pid, fd = spawn(argv, run_env, cols, rows)
                first, data, _ = read_until(fd, marker, time.perf_counter() + 20)
                try:  # user + system time of the process (all its threads) so far
                    cpu = sum(psutil.Process(pid).cpu_times()[:2])
                except psutil.Error:
                    cpu = None
                stop(pid, fd)
                if first is not None:
                    firsts[label].append(first)
                if data is not None:
                    datas[label].append(data)
                    if cpu is not None:
                        cpus[label].append(cpu)
        compiled = "as found" if args.no_compile else "compiled beforehand"
        print(f"start-up at {cols}x{rows}, median of {args.runs} runs (interleaved; the "
              f"cockpit's bytecode {compiled})")
        print(f"  {'':28} {'first byte':>12} {'frame with data':>16} {'CPU until then':>15}")
        for label, *_ in subjects:
            first = statistics.median(firsts[label]) if firsts[label] else float("nan")
            data = statistics.median(datas[label]) if datas[label] else float("nan")
            cpu = statistics.median(cpus[label]) if cpus[label] else float("nan")
            print(f"  {label:28} {first * 1000:10.0f}ms {data * 1000:14.0f}ms "
                  f"{cpu * 1000:13.0f}ms")
        if not args.idle_runs:
            return

        log = tmp / "state" / "cockpit" / "demo" / "demo.log"
        raw_env = {**env, "COCKPIT_COMPACT_OUTPUT": "0"}
        prefill = None
        if args.prefill:
            demo = tmp / "state" / "cockpit" / "demo"

            def prefill() -> None:
                for name in ("audit.jsonl", "demo.log"):
                    sample = (demo / name).read_bytes().splitlines(keepends=True)[-50:]
                    with (demo / name).open("ab") as fh:
                        fh.write(b"".join(sample[i % len(sample)] for i in range(args.prefill)))
        old_env = {**env, "PYTHONPATH": str(Path(args.idle_src).resolve())} if args.idle_src \
            else None
        idles, raws, olds = [], [], []
        for _ in range(args.idle_runs):
            if old_env is not None:
                olds.append(measure_idle(cockpit, old_env, cols, rows, 5.0, args.idle_seconds,
                                         prefill))
            idles.append(measure_idle(cockpit, env, cols, rows, 5.0, args.idle_seconds, prefill))
            raws.append(measure_idle(cockpit, raw_env, cols, rows, 5.0, args.idle_seconds,
                                     prefill))
        tail = measure_idle(["tail", "-f", str(log)], env, cols, rows, 1.0, args.idle_seconds)
        filled = f", after {args.prefill:,} records and log lines" if args.prefill else ""
        print(f"idle over {args.idle_seconds:.0f}s with demo traffic (after 5s to settle"
              f"{filled}), median of {args.idle_runs} runs")
        print(f"  {'':28} {'CPU %':>8} {'bytes/s to tty':>16}")
        for label, runs in (("cockpit", idles), ("cockpit, compact output off", raws),
                            ("cockpit, --idle-src tree", olds)):
            if not runs:
                continue
            cpu = statistics.median(r[0] for r in runs)
            rate = statistics.median(r[1] for r in runs)
            print(f"  {label:28} {cpu:8.2f} {rate:16.0f}")
        print(f"  {'tail -f demo.log':28} {tail[0]:8.2f} {tail[1]:16.0f}")
    finally:
        subprocess.run([str(BIN / "cockpit"), "run", "stop", "--yes"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
