"""kill -9 of the cockpit mid-run: the next start kills the action's tree and records it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import psutil

from cockpit.core.audit.recovery import RunRegistry, resolve_abandoned, runtime_dir
from cockpit.core.audit.trail import AuditTrail, verify_trail
from cockpit.core.backends.local_tree import is_alive
from tests.support import wait_until

PROFILE = """
name: k
actions:
  - id: forever
    script: |
      sleep 300 &
      echo "started $$ $!"
      sleep 300
  - id: quick
    script: echo hi
"""


def records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def cockpit(profile: Path, *args: str, env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cockpit", "--profile", str(profile), *args],
                            env=env, text=True, **kw)


def test_kill_9_of_the_cockpit_is_resolved_at_the_next_start(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(textwrap.dedent(PROFILE))
    trail = tmp_path / "trail" / "audit.jsonl"
    env = {**os.environ, "COCKPIT_AUDIT_PATH": str(trail), "COCKPIT_AUDIT_WITNESS": "none"}
    proc = cockpit(profile, "run", "forever", env=env, stdout=subprocess.PIPE,
                   stderr=subprocess.DEVNULL)
    procs: list[psutil.Process] = []
    try:
        word, shell, child = proc.stdout.readline().split()
        assert word == "started"
        procs = [psutil.Process(int(shell)), psutil.Process(int(child))]
        wait_until(lambda: any(b'"pid"' in p.read_bytes()
                               for p in runtime_dir(trail).glob("*.json")),
                   timeout=30, what="the runtime file to name the action's process")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert all(is_alive(p) for p in procs), "the tree outlives the cockpit"
        assert [r["status"] for r in records(trail)] == ["started"]

        again = cockpit(profile, "run", "quick", env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
        _out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        wait_until(lambda: not any(is_alive(p) for p in procs), timeout=30,
                   what="the abandoned tree to be gone")
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in procs:
            if is_alive(p):
                p.kill()
    recs = records(trail)
    assert [(r["action"], r["status"]) for r in recs] == [
        ("forever", "started"), ("forever", "abandoned"), ("quick", "started"),
        ("quick", "succeeded")]
    abandoned = recs[1]
    assert abandoned["trace_id"] == recs[0]["trace_id"]
    assert abandoned["started_seq"] == 1
    assert set(abandoned["killed_pids"]) == {int(shell), int(child)}
    assert "was killed" in abandoned["message"]
    assert list(runtime_dir(trail).glob("*.json")) == []
    assert verify_trail(trail).ok


def _started(trail: AuditTrail, trace: str) -> None:
    trail.append({"action": "a", "trace_id": trace, "status": "started"})


def test_a_gone_tree_is_recorded_and_a_reused_pid_is_not_killed(tmp_path):
    trail = AuditTrail(tmp_path / "audit.jsonl", witness="none")
    registry = RunRegistry(trail.path)
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        _started(trail, "t-reused")
        registry.begin("t-reused")
        data = orjson.loads(next(runtime_dir(trail.path).glob("*.json")).read_bytes())
        # A dead cockpit, and a pid that now names another process (other start time).
        data.update(owner_pid=999_999_999, pid=stranger.pid, pgid=stranger.pid,
                    start=psutil.Process(stranger.pid).create_time() - 100, marker=None)
        (runtime_dir(trail.path) / "t-reused.json").write_bytes(orjson.dumps(data))
        appended = resolve_abandoned(trail)
        assert is_alive(psutil.Process(stranger.pid)), "a reused pid must not be killed"
    finally:
        stranger.kill()
        stranger.wait(10)
    assert [r["status"] for r in appended] == ["abandoned"]
    assert appended[0]["killed_pids"] == []
    assert "already gone" in appended[0]["message"]


def test_a_live_cockpit_s_runs_are_left_alone(tmp_path):
    trail = AuditTrail(tmp_path / "audit.jsonl", witness="none")
    _started(trail, "mine")
    RunRegistry(trail.path).begin("mine")  # owned by this (live) process
    assert resolve_abandoned(trail) == []
    assert len(list(runtime_dir(trail.path).glob("*.json"))) == 1


def test_runs_that_ended_or_never_started_add_nothing(tmp_path):
    trail = AuditTrail(tmp_path / "audit.jsonl", witness="none")
    registry = RunRegistry(trail.path)
    _started(trail, "done")
    trail.append({"action": "a", "trace_id": "done", "status": "succeeded"})
    for trace in ("done", "never"):
        registry.begin(trace)
        path = runtime_dir(trail.path) / f"{trace}.json"
        data = orjson.loads(path.read_bytes())
        path.write_bytes(orjson.dumps(dict(data, owner_pid=999_999_999)))
    assert resolve_abandoned(trail) == []
    assert list(runtime_dir(trail.path).glob("*.json")) == []
    assert len(records(trail.path)) == 2
