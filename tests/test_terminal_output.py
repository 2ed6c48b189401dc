"""The compact output in real terminals: Textual's own frames through a pty, and tmux.

1. The cockpit runs in a pty with every ``FrameEncoder.encode`` call recorded; replaying
   the raw frames into one pyte screen and the encoded ones into another gives the same
   screen after every frame, across log bursts and a resize.
2. In tmux (a real terminal emulator), a log view that the terminal scrolled itself shows
   exactly the lines that were appended, in order.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import pyte
import pytest

from tests.support import read_jsonl, wait_until

RECORDER = """
import sys, orjson
from cockpit.tui.terminal import encoder

real = encoder.FrameEncoder.encode
log = open(sys.argv[1], "ab", buffering=0)

def encode(self, data):
    out = real(self, data)
    log.write(orjson.dumps([self.width, self.height, data, out]) + b"\\n")
    return out

encoder.FrameEncoder.encode = encode
from cockpit.cli.main import main
sys.argv = ["cockpit", *sys.argv[2:]]
main()
"""


def write_profile(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "app.log"
    log.write_text("")
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(f"""
        name: output-test
        logs:
          - {{kind: file, name: app, path: {log}}}
        """).lstrip())
    return profile, log


def append(path: Path, first: int, count: int) -> None:
    with path.open("a") as fh:
        fh.write("".join(f"line {n:03d} INFO request done\n" for n in range(first, first + count)))


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color",
           "COLORTERM": "truecolor"}
    env.pop("NO_COLOR", None)
    env.pop("COCKPIT_COMPACT_OUTPUT", None)
    return env


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def recorded(path: Path) -> list[list]:
    return read_jsonl(path)  # the recorder may be mid-write on its last line


def test_real_frames_replayed_raw_and_encoded_give_the_same_screen(tmp_path):
    profile, log = write_profile(tmp_path)
    record = tmp_path / "frames.jsonl"
    launcher = tmp_path / "launch.py"
    launcher.write_text(RECORDER)
    pid, fd = pty.fork()
    if pid == 0:  # the cockpit, in the pty
        os.execvpe(sys.executable, [sys.executable, str(launcher), str(record),
                                    "--profile", str(profile)], env_for(tmp_path))
    set_size(fd, 100, 30)
    drained = bytearray()

    def drain() -> None:
        while select.select([fd], [], [], 0)[0]:
            try:
                drained.extend(os.read(fd, 65536))
            except OSError:
                return

    def shows(text: str):
        def check() -> bool:
            drain()
            return any(text in frame[2] for frame in recorded(record))
        return check

    try:
        wait_until(shows("Logs"), timeout=30, what="the first frame")
        os.write(fd, b"2")  # the Logs pane in front: it repaints at once
        first = 0
        for burst in (3, 1, 7, 2, 12, 1, 1, 30, 4):
            append(log, first, burst)
            first += burst
            wait_until(shows(f"line {first - 1:03d}"), timeout=15, what=f"line {first - 1}")
        set_size(fd, 80, 24)
        os.kill(pid, signal.SIGWINCH)
        wait_until(lambda: any(f[0] == 80 for f in recorded(record)) or drain(), timeout=15,
                   what="a frame at 80x24")
        for burst in (2, 5, 1):
            append(log, first, burst)
            first += burst
            wait_until(shows(f"line {first - 1:03d}"), timeout=15, what=f"line {first - 1}")
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: drain() or os.waitpid(pid, os.WNOHANG)[0], timeout=15,
                   what="the cockpit to exit")
        os.close(fd)

    frames = recorded(record)
    raw_screen, encoded_screen = pyte.Screen(100, 30), pyte.Screen(100, 30)
    raw, encoded = pyte.Stream(raw_screen), pyte.Stream(encoded_screen)
    raw_bytes = encoded_bytes = scrolls = 0
    for number, (width, height, data, out) in enumerate(frames):
        if (width, height) != (raw_screen.columns, raw_screen.lines):
            raw_screen.resize(height, width)
            encoded_screen.resize(height, width)
        raw.feed(data)
        encoded.feed(out)
        raw_bytes += len(data.encode())
        encoded_bytes += len(out.encode())
        scrolls += bool(re.search(r"\x1b\[\d+;\d+r", out))
        for y in range(height):
            expected = [raw_screen.buffer[y][x] for x in range(width)]
            got = [encoded_screen.buffer[y][x] for x in range(width)]
            assert got == expected, f"frame {number}, row {y}"
    assert "line 064" in "\n".join(encoded_screen.display)
    assert scrolls >= 3, "the log view was never scrolled by the terminal"
    assert encoded_bytes < raw_bytes / 2, (encoded_bytes, raw_bytes)


TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None and not os.environ.get("CI"), reason="tmux is not installed")
def test_tmux_shows_exactly_the_appended_lines_after_terminal_scrolls(tmp_path):
    assert TMUX, "tmux is required in CI (.ci/run installs it)"
    profile, log = write_profile(tmp_path)
    name = f"cockpit-output-{os.getpid()}"
    env = env_for(tmp_path)
    exports = " ".join(f"{k}={env[k]}" for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "TERM"))
    cockpit = str(Path(sys.executable).parent / "cockpit")

    def screen() -> list[str]:
        return subprocess.run([TMUX, "capture-pane", "-p", "-t", name], capture_output=True,
                              text=True, timeout=30).stdout.splitlines()

    subprocess.run([TMUX, "kill-session", "-t", name], capture_output=True)
    subprocess.run([TMUX, "new-session", "-d", "-s", name, "-x", "80", "-y", "24",
                    f"env {exports} {cockpit} --profile {profile}"], check=True, timeout=30)
    try:
        wait_until(lambda: any("Logs" in row for row in screen()), timeout=30,
                   what="the cockpit in tmux")
        subprocess.run([TMUX, "send-keys", "-t", name, "2"], check=True, timeout=30)
        first = 0
        for burst in (5, 1, 2, 9, 1, 3, 25, 1, 6):
            append(log, first, burst)
            first += burst
            last = f"line {first - 1:03d}"
            wait_until(lambda last=last: any(last in row for row in screen()), timeout=15,
                       what=last)
            shown = [int(m.group(1)) for row in screen() if (m := re.search(r"line (\d{3})", row))]
            assert shown == list(range(shown[0], first)), shown
            assert len(shown) >= min(first, 12), shown
    finally:
        subprocess.run([TMUX, "kill-session", "-t", name], capture_output=True)
