"""The terminal goes away (SSH dropped, tmux killed): the cockpit quits as on ``q``.

It stops the demo it started (recorded in the trail) and exits with 129, whether a
SIGHUP reaches it or not (a parent such as ``make`` may take the SIGHUP; Textual's input
thread then spun on end-of-file at a third of a core, for ever).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import free_port, wait_until

COCKPIT = str(Path(sys.executable).parent / "cockpit")


def start(tmp_path: Path, *, ignore_sighup: bool) -> tuple[int, int, dict[str, str]]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "COCKPIT_DEMO_PORT": str(free_port()),
           "TERM": "xterm-256color"}
    pid, fd = pty.fork()
    if pid == 0:  # the cockpit, on the demo, in a pty of its own
        if ignore_sighup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as if a parent took it
        os.execvpe(COCKPIT, [COCKPIT], env)
    screen = bytearray()

    def healthy() -> bool:
        while select.select([fd], [], [], 0)[0]:
            screen.extend(os.read(fd, 65536))
        return b"healthy" in screen

    wait_until(healthy, timeout=30, what="the demo healthy")
    return pid, fd, env


def exit_status(pid: int, fd: int | None) -> int:
    """The exit code once the process ended (fails if a signal killed it)."""
    result: list[int] = []

    def ended() -> bool:
        if fd is not None:
            try:
                while select.select([fd], [], [], 0)[0]:
                    os.read(fd, 65536)
            except OSError:
                pass
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            result.append(status)
        return bool(done)

    wait_until(ended, timeout=30, what="the cockpit to exit")
    assert os.WIFEXITED(result[0]), f"killed by signal {os.WTERMSIG(result[0])}"
    return os.WEXITSTATUS(result[0])


def stops_recorded(env: dict[str, str]) -> str:
    return subprocess.run(
        [COCKPIT, "audit", "tail", "--where", "action=stop", "--where", "status=succeeded",
         "--count"], env=env, capture_output=True, text=True, timeout=60).stdout.strip()


def demo_down(env: dict[str, str]) -> bool:
    status = subprocess.run([COCKPIT, "run", "status"], env=env, capture_output=True,
                            text=True, timeout=60)
    return status.returncode != 0


def cleanup(pid: int, env: dict[str, str]) -> None:
    """After a failure: nothing left running (the cockpit, the demo it started)."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        return  # it had exited: it stopped the demo itself
    subprocess.run([COCKPIT, "run", "stop", "--yes"], env=env, capture_output=True, timeout=60)


def test_sighup_quits_cleanly_and_stops_the_demo(tmp_path):
    pid, fd, env = start(tmp_path, ignore_sighup=False)
    try:
        os.kill(pid, signal.SIGHUP)
        assert exit_status(pid, fd) == 129
    finally:
        os.close(fd)
        cleanup(pid, env)
    assert stops_recorded(env) == "1"
    assert demo_down(env)


@pytest.mark.parametrize("ignore_sighup", [False, True], ids=["sighup", "no-sighup"])
def test_a_terminal_that_hangs_up_ends_the_cockpit(tmp_path, ignore_sighup):
    pid, fd, env = start(tmp_path, ignore_sighup=ignore_sighup)
    closed = time.monotonic()
    os.close(fd)  # the terminal is gone: reads and writes now fail with EIO
    try:
        assert exit_status(pid, None) == 129
    finally:
        cleanup(pid, env)
    assert time.monotonic() - closed < 15
    assert stops_recorded(env) == "1"
    assert demo_down(env)
