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
from cockpit.core.backends.proctree import is_alive
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


LEADER_EXITS = """
name: k
actions:
  - id: leader-exits
    script: |
      setsid sleep 300 &
      sleep 300 &
      echo "started $$ $!"
      while [ ! -e "$GO" ]; do sleep 0.05; done
  - id: quick
    script: echo hi
"""


def test_an_abandoned_tree_whose_leader_exited_is_killed_and_the_new_cockpit_lives(tmp_path):
    """The leader of the abandoned run is gone, its children live on (one in a session of
    its own): the next start kills them and lives. (Whether the dead leader is still a
    zombie depends on who reaps orphans here; the test below covers a reaped leader.)"""
    profile = tmp_path / "p.yaml"
    profile.write_text(textwrap.dedent(LEADER_EXITS))
    trail = tmp_path / "trail" / "audit.jsonl"
    go = tmp_path / "go"
    env = {**os.environ, "COCKPIT_AUDIT_PATH": str(trail), "COCKPIT_AUDIT_WITNESS": "none",
           "GO": str(go)}
    proc = cockpit(profile, "run", "leader-exits", env=env, stdout=subprocess.PIPE,
                   stderr=subprocess.DEVNULL)
    children: list[psutil.Process] = []
    try:
        _word, shell, _child = proc.stdout.readline().split()
        leader = psutil.Process(int(shell))

        def sleepers() -> list[psutil.Process]:
            found = []
            for c in leader.children(recursive=True):
                try:
                    if c.cmdline() == ["sleep", "300"]:
                        found.append(c)
                except psutil.Error:
                    pass
            return found

        wait_until(lambda: len(sleepers()) == 2, timeout=30, what="both sleeps to start")
        children = sleepers()
        wait_until(lambda: any(b'"pid"' in p.read_bytes()
                               for p in runtime_dir(trail).glob("*.json")),
                   timeout=30, what="the runtime file to name the action's process")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        go.touch()
        wait_until(lambda: not is_alive(leader), timeout=30, what="the leader to exit")
        assert all(is_alive(c) for c in children), "the children outlive their leader"
        # In a session of its own: a cockpit that signals its own group kills only itself.
        again = cockpit(profile, "run", "quick", env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, start_new_session=True)
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, (again.returncode, err)
        assert "hi" in out
        wait_until(lambda: not any(is_alive(c) for c in children), timeout=30,
                   what="the abandoned children to be gone")
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in children:
            if is_alive(c):
                c.kill()
    assert [(r["action"], r["status"]) for r in records(trail)] == [
        ("leader-exits", "started"), ("leader-exits", "abandoned"), ("quick", "started"),
        ("quick", "succeeded")]


STOP_TREE_IN_A_SESSION = """
import json, sys
from cockpit.core.audit.recovery import stop_tree
print(json.dumps(stop_tree(json.loads(sys.argv[1]), grace=5)))
"""


def test_stop_tree_with_its_leader_reaped_never_signals_its_own_group(tmp_path):
    """The leader's pid names nothing (reaped), a marked child lives on: ``stop_tree``
    kills the child and must not signal group 0, its own (it did: the cockpit doing the
    clean-up and its caller died of SIGTERM at every start)."""
    from cockpit.core.backends.proctree import MARKER_VAR

    gone = subprocess.Popen(["true"])
    gone.wait(10)
    marked = subprocess.Popen(["sleep", "300"], env={**os.environ, MARKER_VAR: "m-123"},
                              start_new_session=True)
    try:
        data = {"pid": gone.pid, "start": 1.0, "marker": "m-123"}
        cleaner = subprocess.run(
            [sys.executable, "-c", STOP_TREE_IN_A_SESSION, orjson.dumps(data).decode()],
            capture_output=True, text=True, timeout=60, start_new_session=True)
        assert cleaner.returncode == 0, (cleaner.returncode, cleaner.stderr)
        what, pids = orjson.loads(cleaner.stdout)
        assert pids == [marked.pid] and "killed" in what
        assert marked.wait(10) is not None
    finally:
        if marked.poll() is None:
            marked.kill()
