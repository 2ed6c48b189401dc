"""Benchmark: ``Redactor.redact`` and ``StreamRedactor.redact_line`` throughput on log lines.

    .venv/bin/python bench/redact.py [--lines 100000] [--runs 5]

Two corpora of realistic service logs (the same lines every run, fixed seed):

* ``mixed``: text and JSON lines full of what must stay readable (hex request ids,
  UUIDs, W3C trace ids, ``sha256:`` digests, git SHAs, base64 payloads, URLs, k8s events)
  with ~1% secrets of many formats;
* ``ingest``: ``bench/log_ingest.py``'s pool (what the Logs pane benchmark feeds).

For each, the median of ``--runs`` runs of: ``Redactor().redact(line)`` over every line,
a stream's ``redact_line(line)`` over every line, and, as a reference in the same run,
``grep -Eic`` over the same lines (written to a file) with a pattern comparable to the
redactor's precheck. Figures are lines per second.

``--compare FILE`` also measures the ``Redactor`` of another ``redact.py`` (e.g. the
version before a change: ``git show REV:src/cockpit/core/redact.py > /tmp/old.py``),
interleaved with the current one run by run, and once more line by line (each line
through one then the other: the ratio that load spikes on a shared machine disturb least).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cockpit.core.redact import Redactor

#: A grep pattern close to the redactor's precheck (secret words, token prefixes).
GREP_PATTERN = (
    r"pass(word|wd|phrase)|secret|token|api.?key|access.?key|private|credential"
    r"|authorization|bearer|cookie|://|akia|asia|gh[pousr]_|github_pat_|xox[abprs]-"
    r"|sk[-_]|aiza|eyj|glpat-|npm_|pypi-|accountkey|sg\.|-p[^ ]"
)


def make_mixed(n: int, seed: int = 7) -> list[str]:
    """Realistic log lines: mostly harmless ids and digests, ~1% secrets."""
    rnd = random.Random(seed)

    def hexs(k: int) -> str:
        return "".join(rnd.choice("0123456789abcdef") for _ in range(k))

    def b64(k: int) -> str:
        return base64.b64encode(rnd.randbytes(k)).decode()

    secrets = [
        lambda: f"export GITHUB_TOKEN=ghp_{b64(30)[:36]}",
        lambda: f"npm notice using token npm_{hexs(36)}",
        lambda: f"mysql -h db -u root -p{b64(9)} app",
        lambda: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="
                f"{b64(64)};EndpointSuffix=core.windows.net",
        lambda: f"retrying with glpat-{base64.urlsafe_b64encode(rnd.randbytes(15)).decode()}",
        lambda: f"postgres://app:{hexs(12)}@db:5432/app",
        lambda: f"{{\"auth\": \"{b64(18)}\"}}",
    ]
    out: list[str] = []
    for i in range(n):
        ts = f"2026-01-12T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
        roll = rnd.random()
        if roll < 0.01:
            line = f"{ts} DEBUG {rnd.choice(secrets)()}"
        elif roll < 0.15:
            line = json.dumps({"ts": ts, "level": "info", "msg": "span finished",
                               "trace_id": hexs(32), "span_id": hexs(16),
                               "traceparent": f"00-{hexs(32)}-{hexs(16)}-01",
                               "duration_ms": round(rnd.random() * 90, 2)})
        elif roll < 0.25:
            line = (f"{ts} INFO  deploy pulled image registry.example.com/app@sha256:"
                    f"{hexs(64)} commit={hexs(40)}")
        elif roll < 0.35:
            line = (f"{ts} INFO  jobs.worker job {uuid.UUID(int=rnd.getrandbits(128))} "
                    f"done payload={b64(24)} etag=\"{hexs(32)}\"")
        elif roll < 0.42:
            line = (f"{ts} Normal  Pulled  pod/web-{hexs(10)}-{hexs(5)}  Successfully pulled "
                    f"image \"nginx:1.27\" in 812ms (812ms including waiting)")
        elif roll < 0.50:
            line = (f"{ts} WARN  http.client GET https://api.example.com/v1/items/"
                    f"{rnd.randint(1, 99999)}?page=2 -> 503 in {rnd.randint(5, 900)}ms")
        else:
            line = (f"{ts} INFO  api.http request method=GET path=/api/v1/orders/"
                    f"{rnd.randint(1, 10_000)} status=200 duration_ms={rnd.random() * 80:.1f} "
                    f"request_id={hexs(16)} user_agent=\"curl/8.5.0\"")
        out.append(line)
    return out


def make_ingest(n: int) -> list[str]:
    """``bench/log_ingest.py``'s pool of lines (imported from there)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from log_ingest import make_pool

    return make_pool(n)


def lines_per_second(fn: Callable[[str], object], lines: list[str]) -> float:
    start = time.perf_counter()
    for line in lines:
        fn(line)
    return len(lines) / (time.perf_counter() - start)


def grep_lines_per_second(path: Path, n: int) -> float | None:
    grep = shutil.which("grep")
    if grep is None:
        return None
    start = time.perf_counter()
    # Output captured, not sent to /dev/null: GNU grep stops at the first match then.
    subprocess.run([grep, "-Eic", GREP_PATTERN, str(path)], check=False,
                   capture_output=True)
    return n / (time.perf_counter() - start)


def alternating_us(first: Callable[[str], object], second: Callable[[str], object],
                   lines: list[str]) -> tuple[float, float]:
    """Microseconds per line of each, every line through one then the other."""
    clock = time.perf_counter
    a = b = 0.0
    for line in lines:
        t0 = clock()
        first(line)
        t1 = clock()
        second(line)
        b += clock() - t1
        a += t1 - t0
    return a / len(lines) * 1e6, b / len(lines) * 1e6


def load_redactor(path: str) -> object:
    """The ``Redactor()`` of the ``redact.py`` at ``path`` (another version)."""
    spec = importlib.util.spec_from_file_location("redact_compared", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Redactor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", metavar="FILE", help="another redact.py to measure too")
    args = parser.parse_args()
    redactors: dict[str, object] = {"current": Redactor()}
    if args.compare:
        redactors["compared"] = load_redactor(args.compare)
    for redactor in redactors.values():
        redactor.redact("warm up: password=x ghp_" + "a" * 36)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        for name, lines in (("mixed", make_mixed(args.lines)),
                            ("ingest", make_ingest(args.lines))):
            path = Path(tmp) / f"{name}.log"
            path.write_text("\n".join(lines) + "\n")
            figures: dict[str, list[float]] = {}
            for _ in range(args.runs):
                for label, redactor in redactors.items():
                    r = redactor  # type: ignore[assignment]
                    figures.setdefault(f"{label} redact", []).append(
                        lines_per_second(r.redact, lines))  # type: ignore[attr-defined]
                    if hasattr(r, "stream"):  # redactors before streams had none
                        figures.setdefault(f"{label} stream", []).append(
                            lines_per_second(r.stream().redact_line, lines))
                g = grep_lines_per_second(path, len(lines))
                if g is not None:
                    figures.setdefault("grep -Eic", []).append(g)
            for label, redactor in redactors.items():
                changed = sum(redactor.redact(line) != line for line in lines)  # type: ignore[attr-defined]
                print(f"{name}: {label} changes {changed}/{len(lines)} lines")
            for label, values in figures.items():
                print(f"{name:7} {label:18} {statistics.median(values):>12,.0f} lines/s "
                      f"(median of {len(values)})")
            if "compared" in redactors:
                cur, old = redactors["current"], redactors["compared"]
                for what in ("redact", "stream"):
                    if what == "stream" and not hasattr(old, "stream"):
                        continue
                    if what == "redact":
                        pair = alternating_us(cur.redact, old.redact, lines)  # type: ignore[attr-defined]
                    else:
                        pair = alternating_us(cur.stream().redact_line,  # type: ignore[attr-defined]
                                              old.stream().redact_line, lines)  # type: ignore[attr-defined]
                    print(f"{name:7} {what} line by line: current {pair[0]:.2f} us, "
                          f"compared {pair[1]:.2f} us per line ({pair[0] / pair[1]:.2f}x)")


if __name__ == "__main__":
    main()
