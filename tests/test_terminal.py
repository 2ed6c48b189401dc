"""The cockpit in a real terminal: tmux at 80x24, the demo, smoke-test from the palette."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port, wait_until

TMUX = shutil.which("tmux")
COCKPIT = str(Path(sys.executable).parent / "cockpit")

if TMUX is None:
    if os.environ.get("CI"):
        raise RuntimeError("tmux is required in CI (.ci/run installs it)")
    pytest.skip("tmux is not installed: apt-get install tmux to run this test",
                allow_module_level=True)


def tmux(*args: str) -> str:
    return subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=30).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


@pytest.fixture
def session(tmp_path):
    name = f"cockpit-test-{os.getpid()}"
    port = free_port()
    env = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COCKPIT_DEMO_PORT": str(port),
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    subprocess.run([TMUX, "kill-session", "-t", name], capture_output=True)
    subprocess.run(
        [TMUX, "new-session", "-d", "-s", name, "-x", "80", "-y", "24",
         f"env {exports} {COCKPIT}; echo COCKPIT-EXITED $?; sleep 60"],
        check=True, timeout=30, cwd=tmp_path,
    )
    yield name, {**os.environ, **env}
    subprocess.run([TMUX, "kill-session", "-t", name], capture_output=True)
    subprocess.run([sys.executable, "-m", "cockpit.demo", "stop"],
                   env={**os.environ, **env}, capture_output=True, timeout=30)


def test_smoke_test_from_the_palette_in_tmux(session):
    name, env = session
    wait_until(lambda: "● healthy" in screen(name), timeout=30,
               what="the header to show the demo healthy")
    assert "Health" in screen(name)
    tmux("send-keys", "-t", name, ":")
    wait_until(lambda: "smoke-test" in screen(name) or "Search" in screen(name), timeout=10,
               what="the command palette")
    tmux("send-keys", "-t", name, "-l", "smoke-test")
    wait_until(lambda: "End-to-end smoke test" in screen(name), timeout=10,
               what="the smoke-test hit")
    tmux("send-keys", "-t", name, "Enter")
    wait_until(lambda: "smoke-test: succeeded" in screen(name), timeout=30,
               what="smoke-test to succeed")
    tmux("send-keys", "-t", name, "q")
    wait_until(lambda: "COCKPIT-EXITED 0" in screen(name), timeout=30, what="the cockpit to quit")
    verify = subprocess.run([COCKPIT, "audit", "verify"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # auto-start (2 records), smoke-test (2), auto-stop on quit (2)
    assert "6 records intact" in verify.stdout
    count = subprocess.run(
        [COCKPIT, "audit", "tail", "--where", "action=smoke-test", "--where", "status=succeeded",
         "--count"], env=env, capture_output=True, text=True, timeout=60)
    assert count.stdout.strip() == "1"
