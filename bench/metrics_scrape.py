"""Benchmark: scraping hostile Prometheus pages without freezing the event loop.

    .venv/bin/python bench/metrics_scrape.py [--runs 5] [--old-runs 1] [--dir DIR]

Generates two pages (cached in the temp dir): a 50 MB page where every line is a sample
of the scraped family, and a page of 100,000 series of that family. A separate server
process streams them on loopback without a ``Content-Length`` (the client has to count).
For each page, each measurement in a fresh process (median of ``--runs``):

* ``sampler``: ``MetricsSampler.sample_all()`` on an event loop with a 10 ms heartbeat:
  the worst heartbeat delay (the longest the UI could not react), wall time, peak RSS;
* ``cockpit check``: the CLI against a one-metric profile: wall time, peak RSS;
* references in the same run: ``old path`` (what cockpit did before: the whole body,
  then prometheus_client's parser on the event loop; ``--old-runs``, 0 to skip, it takes
  ~20 s on the 50 MB page) and ``grep -c`` over the same file.

Target: worst stall under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WANTED = "bench_wanted_total"
MB = 1_000_000
HERE = Path(__file__).resolve()


# --- pages and server -----------------------------------------------------------------------


def lines(count: int) -> bytes:
    return "".join(f'{WANTED}{{id="{i}"}} 1\n' for i in range(count)).encode()


def generate(folder: Path) -> dict[str, Path]:
    """``huge`` (50 MB, every line wanted) and ``series`` (100,000 series), cached."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"huge": folder / "huge.prom", "series": folder / "series.prom"}
    head = f"# HELP {WANTED} wanted\n# TYPE {WANTED} counter\n".encode()
    if not files["huge"].exists():
        block = lines(10_000)
        with files["huge"].open("wb") as fh:  # written a block at a time: see timed()
            fh.write(head)
            for _ in range(50 * MB // len(block) + 1):
                fh.write(block)
    if not files["series"].exists():
        files["series"].write_bytes(head + lines(100_000))
    return files


def serve(folder: Path, port_file: Path) -> None:
    """Stream ``/NAME`` from ``folder/NAME.prom`` without Content-Length (HTTP/1.0)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = folder / (self.path.strip("/") + ".prom")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            try:
                with path.open("rb") as fh:
                    while chunk := fh.read(65536):
                        self.wfile.write(chunk)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


# --- one measurement (in its own process) --------------------------------------------------


class Heartbeat:
    """The worst delay of a 10 ms timer on the running loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.due = 0.0
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.due = time.monotonic() + 0.01
        self.handle = asyncio.get_running_loop().call_later(0.01, self.tick)

    def tick(self) -> None:
        now = time.monotonic()
        self.worst = max(self.worst, now - self.due)
        self.due = now + 0.01
        self.handle = asyncio.get_running_loop().call_later(0.01, self.tick)


async def settle() -> None:
    """Let a heartbeat that came due while the loop was blocked fire (and count)."""
    await asyncio.sleep(0.05)


async def measure_sampler(url: str) -> dict[str, object]:
    from cockpit.core.config.models import PrometheusMetric
    from cockpit.core.sources.metrics import MetricsSampler

    metric = PrometheusMetric.model_validate(
        {"kind": "prometheus", "name": "m", "url": url, "metric": WANTED, "timeout": "30s"})
    sampler = MetricsSampler([metric])
    await sampler.client()  # TLS context and client made before timing
    result: dict[str, object] = {}
    for suffix in ("", "_warm"):  # a fresh process, then the next scrape (the TUI's case)
        beat = Heartbeat()
        beat.start()
        t0 = time.perf_counter()
        sample = (await sampler.sample_all())["m"]
        wall = time.perf_counter() - t0
        await settle()
        if beat.handle is not None:
            beat.handle.cancel()
        result |= {f"stall_ms{suffix}": beat.worst * 1000, f"wall_ms{suffix}": wall * 1000}
    await sampler.close()
    return result | {"result": sample.error or f"value {sample.value:g}"}


async def measure_old(url: str) -> dict[str, object]:
    """The previous implementation: whole body, then prometheus_client on the loop."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient() as client:
        beat = Heartbeat()
        beat.start()
        t0 = time.perf_counter()
        text = (await client.get(url, timeout=120)).text
        kept = "\n".join(x for x in text.split("\n") if x.startswith(WANTED)) + "\n"
        total = sum(s.value for f in text_string_to_metric_families(kept) for s in f.samples)
        wall = time.perf_counter() - t0
        await settle()
    return {"stall_ms": beat.worst * 1000, "wall_ms": wall * 1000, "result": f"value {total:g}"}


def child(kind: str, url: str) -> None:
    result = asyncio.run(measure_sampler(url) if kind == "sampler" else measure_old(url))
    result["rss_mb"] = vm_hwm_mb()
    print(json.dumps(result))


def vm_hwm_mb() -> float | None:
    """This process's own peak RSS (VmHWM starts afresh at exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return None


# --- the runs --------------------------------------------------------------------------------


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall ms, peak RSS MB and stdout of a command.

    The child's ru_maxrss starts at this process's peak (fork), so this process stays
    small (pages are written a block at a time): that floor is printed first.
    """
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - t0) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return wall, usage.ru_maxrss / 1000, out.read()


def median_of(runs: int, one: callable) -> dict[str, object]:  # type: ignore[valid-type]
    results = [one() for _ in range(runs)]
    merged: dict[str, object] = {"result": results[-1].get("result", "")}
    for key in ("stall_ms", "wall_ms", "rss_mb", "stall_ms_warm", "wall_ms_warm"):
        values = [float(r[key]) for r in results if r.get(key) is not None]
        merged[key] = statistics.median(values) if values else None
    return merged


def row(page: str, what: str, m: dict[str, object]) -> None:
    def cell(key: str, width: int) -> str:
        value = m.get(key)
        return f"{value:>{width}.0f}" if isinstance(value, float) else f"{'-':>{width}}"

    print(f"{page:<16} {what:<24} {cell('stall_ms', 9)} {cell('wall_ms', 9)} "
          f"{cell('rss_mb', 8)}  {m.get('result', '')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-runs", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "cockpit-bench")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return 0
    if args.child:
        child(*args.child)
        return 0

    if args.generate:
        generate(args.dir / "metrics")
        return 0
    # Generated in a child so that this process stays small (see timed()).
    subprocess.run([sys.executable, str(HERE), "--generate", "--dir", str(args.dir)], check=True)
    files = {name: args.dir / "metrics" / f"{name}.prom" for name in ("huge", "series")}
    port_file = args.dir / "metrics" / "port"
    port_file.unlink(missing_ok=True)
    server = subprocess.Popen([sys.executable, str(HERE), "--serve", str(args.dir / "metrics"),
                               str(port_file)])
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("the page server did not start")
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        print(f"RSS of a child starts at this process's peak: {vm_hwm_mb() or 0:.0f} MB")
        print(f"{'page':<16} {'what':<24} {'stall ms':>9} {'wall ms':>9} {'RSS MB':>8}  result")
        for name, label in (("huge", "50 MB page"), ("series", "100k series")):
            url = f"{base}/{name}"

            def sampler(url: str = url) -> dict[str, object]:
                _wall, _rss, out = timed([sys.executable, str(HERE), "--child", "sampler", url])
                return json.loads(out.strip().splitlines()[-1])

            measured = median_of(args.runs, sampler)
            row(label, "sampler, fresh process", measured)
            row("", "sampler, next scrape", {"stall_ms": measured["stall_ms_warm"],
                                             "wall_ms": measured["wall_ms_warm"]})
            profile = args.dir / "metrics" / f"{name}.yaml"
            profile.write_text(f"name: bench\nmetrics:\n  - {{name: m, kind: prometheus, "
                               f"url: '{url}', metric: {WANTED}, timeout: 30s}}\n")

            def check(profile: Path = profile) -> dict[str, object]:
                wall, rss, out = timed([sys.executable, "-m", "cockpit", "check", "--profile",
                                        str(profile)], env={**os.environ, "NO_COLOR": "1"})
                result = next((" ".join(x.split()) for x in out.splitlines() if x.strip().startswith(
                    ("✓", "?", "!", "✗"))), out.strip()[-80:])
                return {"wall_ms": wall, "rss_mb": rss, "result": result}

            row("", "cockpit check", median_of(args.runs, check))
            if name == "huge":
                empty = args.dir / "metrics" / "empty.yaml"
                empty.write_text("name: bench\n")

                def start_up(profile: Path = empty) -> dict[str, object]:
                    wall, rss, _out = timed([sys.executable, "-m", "cockpit", "check",
                                             "--profile", str(profile)])
                    return {"wall_ms": wall, "rss_mb": rss, "result": "start-up reference"}

                row("", "cockpit check, no metric", median_of(args.runs, start_up))
            if args.old_runs > 0:
                def old(url: str = url) -> dict[str, object]:
                    _wall, _rss, out = timed([sys.executable, str(HERE), "--child", "old", url])
                    return json.loads(out.strip().splitlines()[-1])

                row("", "old path (loop parse)", median_of(args.old_runs, old))
            if shutil.which("grep"):
                def grep(path: Path = files[name]) -> dict[str, object]:
                    wall, rss, out = timed(["grep", "-c", f"^{WANTED}", str(path)])
                    return {"wall_ms": wall, "rss_mb": rss, "result": f"{out.strip()} lines"}

                row("", "grep -c (reference)", median_of(args.runs, grep))
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
