"""Escapes and secrets that reach the terminal from a hostile environment, through a pty.

    python bench/escape_leak.py [--seconds 8] [--src OTHER/src]

Builds a hostile profile from ``tests/hostile.py`` (command probes printing OSC 52
clipboard writes, titles, hyperlinks, screen clears and bidi overrides on stderr; an HTTP
health endpoint on loopback whose sub-check names and reasons carry them; a log file with
escapes and private keys over several lines; an action whose title and description carry
escapes, printing all of it, run from the palette), opens the cockpit on it at 80x24 in a
pty, visits every pane, and counts in the raw bytes written to the terminal: OSC,
DCS/APC/PM/SOS strings, 8-bit C1 controls, BEL, bidi overrides and planted secrets.
Textual writes none of these itself but the pointer shape (OSC 22), which is not counted.
``--src`` runs another source tree (e.g. an older commit) the same way; ``cat`` of the log
file to the same kind of pty is the reference of a tool that passes everything through.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.hostile import BLOCKS, ESCAPES, LINES, SECRETS  # noqa: E402

from tui_pty import spawn, stop  # noqa: E402

KINDS = {
    "OSC (titles, clipboard, links)": re.compile(rb"\x1b\]"),
    "OSC 52 clipboard write": re.compile(rb"\x1b\]52;"),
    "DCS/SOS/PM/APC string": re.compile(rb"\x1b[PX^_]"),
    "8-bit C1 control": re.compile(rb"\xc2[\x80-\x9f]"),
    "BEL": re.compile(rb"\x07"),
}
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def hostile_world(folder: Path, port: int) -> Path:
    corpus = folder / "corpus.json"
    corpus.write_text(json.dumps({"lines": list(LINES), "blocks": list(BLOCKS)}))
    printer = folder / "printer.py"
    printer.write_text(
        "import json, sys\n"
        "c = json.load(open(sys.argv[1]))\n"
        "for t in c['lines'] + c['blocks']:\n"
        "    print(t, flush=True); print(t, file=sys.stderr, flush=True)\n"
        "sys.exit(int(sys.argv[2]))\n")
    log = folder / "app.log"
    log.write_text("\n".join([*LINES, *BLOCKS]) + "\n")
    py = json.dumps(sys.executable)
    probes = "\n".join(
        f"  - {{name: p{i}, kind: command, interval: 3600s, timeout: 20s, run: [{py}, -c, "
        f"{json.dumps(f'import sys; sys.stderr.write({line!r}); sys.exit(1)')}]}}"
        for i, line in enumerate(LINES[:-1]))
    profile = folder / "hostile.yaml"
    profile.write_text(f"""\
name: hostile
health:
  - {{name: api, kind: http, url: "http://127.0.0.1:{port}/health", interval: 3600s}}
{probes}
logs:
  - {{name: app, kind: file, path: "{log}", backlog: 1000}}
actions:
  - id: hostile
    title: {json.dumps("Print the corpus " + ESCAPES[1])}
    description: {json.dumps("shown in the palette " + ESCAPES[0])}
    run: [{py}, "{printer}", "{corpus}", "0"]
""")
    return profile


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        checks = {line[:200]: {"status": "fail", "detail": line[:300]} for line in LINES[:-1]}
        body = json.dumps({"status": "degraded", "checks": checks}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def read_for(fd: int, seconds: float, keys: list[bytes]) -> bytes:
    """Everything the program writes for ``seconds``, typing ``keys`` at even intervals."""
    import select

    out = bytearray()
    end = time.monotonic() + seconds
    step = seconds / (len(keys) + 1)
    next_key = time.monotonic() + step
    while time.monotonic() < end:
        if keys and time.monotonic() >= next_key:
            os.write(fd, keys.pop(0))
            next_key += step
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return bytes(out)


#: What Textual writes itself: the pointer shape (OSC 22), ended by BEL.
TEXTUAL_OWN = re.compile(rb"\x1b\]22;[\w-]*\x07")


def count(raw: bytes) -> dict[str, int]:
    raw = TEXTUAL_OWN.sub(b"", raw)
    counts = {kind: len(pattern.findall(raw)) for kind, pattern in KINDS.items()}
    text = raw.decode("utf-8", "replace")
    counts["bidi override"] = len(BIDI.findall(text))
    counts["planted secrets"] = sum(text.count(s) for s in SECRETS)
    return counts


def run_cockpit(profile: Path, seconds: float, src: str | None, state: Path) -> dict[str, int]:
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(state),
           "XDG_CONFIG_HOME": str(state / "config"), "COCKPIT_AUDIT_PATH": str(state / "a.jsonl")}
    if src:
        env["PYTHONPATH"] = src
    argv = [sys.executable, "-m", "cockpit", "--profile", str(profile)]
    pid, fd = spawn(argv, env, 80, 24)
    # every pane, a probe's detail, then the action from the palette and its output
    keys = [b"1", b"\r", b"\x1b", b"2", b"G", b"3", b"4", b"5", b":", b"hostile", b"\r",
            b"\r", b"5", b"\r", b"\x1b"]
    try:
        raw = read_for(fd, seconds, keys)
    finally:
        stop(pid, fd)
    if os.environ.get("ESCAPE_LEAK_DUMP"):
        Path(os.environ["ESCAPE_LEAK_DUMP"] + (".old" if src else "")).write_bytes(raw)
    return count(raw)


def run_cat(log: Path) -> dict[str, int]:
    pid, fd = spawn(["cat", str(log)], dict(os.environ), 80, 24)
    raw = read_for(fd, 1.0, [])
    stop(pid, fd)
    return count(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--src", help="another source tree to run the same way")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        profile = hostile_world(folder, server.server_address[1])
        columns = {"this tree": run_cockpit(profile, args.seconds, None, folder / "s1")}
        if args.src:
            columns[args.src] = run_cockpit(profile, args.seconds, args.src, folder / "s2")
        columns["cat app.log"] = run_cat(folder / "app.log")
    server.shutdown()
    names = list(columns)
    print(f"{'reaching the terminal':32}" + "".join(f"{n[-22:]:>24}" for n in names))
    for kind in [*KINDS, "bidi override", "planted secrets"]:
        print(f"{kind:32}" + "".join(f"{columns[n][kind]:>24}" for n in names))
    subprocess.run(["stty", "sane"], check=False, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
