"""The first probe round in a forked child (``core.sources.early_probes``).

A fork is only made by a process with no other thread, so each scenario runs in a
fresh interpreter (``_DRIVER``) against a real loopback HTTP server, a real TCP port and
real commands started by the local backend; it reports what the parent end saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cockpit.core.backends.local import LocalBackend
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import CommandProbe, HttpProbe, TargetProbe, TcpProbe
from cockpit.core.sources.early_probes import EarlyProbes, runs_early, start_early_probes
from tests.support import LoopbackHTTP, free_port, wait_until

HEALTHY = {"status": "healthy", "checks": {"database": "healthy"}}

#: Runs in a fresh interpreter: argv[1] is the scenario (JSON); prints what it saw.
_DRIVER = r"""
import json, os, select, signal, sys, time
from cockpit.core.backends.local import LocalBackend
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import CommandProbe, HttpProbe, TargetProbe, TcpProbe
from cockpit.core.redact import Redactor
from cockpit.core.sources.early_probes import start_early_probes
from tests.support import wait_until

spec = json.loads(sys.argv[1])
if spec.get("noisy"):  # the child's probes write to the standard streams
    from cockpit.core.sources.health import HealthChecker
    check = HealthChecker.check

    async def noisy_check(self, probe):
        print("noise on stdout", flush=True)
        print("noise on stderr", file=sys.stderr, flush=True)
        os.write(2, b"raw noise on fd 2\n")
        return await check(self, probe)

    HealthChecker.check = noisy_check
kinds = {"http": HttpProbe, "tcp": TcpProbe, "command": CommandProbe, "target": TargetProbe}
probes = [kinds[p["kind"]].model_validate(p) for p in spec["probes"]]
boundary = Boundary(Redactor(spec.get("secrets", []), env={}))
if spec.get("one_core"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
backend = LocalBackend()
if spec.get("stuck_targets"):  # a target list stuck in a thread (an SDK's, a plugin's)
    import asyncio

    class StuckTargets(LocalBackend):
        early_targets = True

        async def list_targets(self):
            await asyncio.to_thread(time.sleep, spec["stuck_targets"])
            return []

    backend = StuckTargets()
started = time.monotonic()
early = start_early_probes(probes, backend, boundary)
if early is None:
    print(json.dumps(None)); sys.exit()
print(json.dumps({"pid": early.pid, "names": list(early.names)}), flush=True)


def wait_for(path):  # a command of the round has started
    wait_until(lambda: os.path.exists(path), timeout=20, what=path)


if spec.get("exit_when_started"):
    wait_for(spec["exit_when_started"])
    os._exit(0)  # the parent dies mid-round
if spec.get("signal_when_started"):  # a terminal's hang-up, or two stop signals
    wait_for(spec["signal_when_started"])
    for i, name in enumerate(spec["signals"]):
        if i:  # the second once the first's kill has sent the command its SIGTERM
            wait_for(spec["termed"])
        os.kill(early.pid, getattr(signal, name))
killed_while_full = None
if spec.get("stop_when_full"):  # the parent not reading: the child's writes wait
    import fcntl, struct, termios

    def queued():
        return struct.unpack("i", fcntl.ioctl(early.fileno(), termios.FIONREAD, b"\0" * 4))[0]

    wait_for(spec["stop_when_full"])
    wait_until(lambda: queued() >= 60000, timeout=20, what="the pipe full")
    os.kill(early.pid, signal.SIGTERM)  # handled only by a loop that still runs
    sleeper = int(open(spec["stop_when_full"]).read())
    try:
        wait_until(lambda: not os.path.exists(f"/proc/{sleeper}")
                   or open(f"/proc/{sleeper}/stat").read().split(")")[1].split()[0] == "Z",
                   timeout=10, what="the command killed")
        killed_while_full = True
    except AssertionError:
        killed_while_full = False
events = []
deadline = started + 20
ended_in_time = False
ended_at = None
while not early.ended and time.monotonic() < deadline:
    select.select([early.fileno()], [], [], 0.5)
    for name, rows in early.read():
        events.append([round(time.monotonic() - started, 3), name,
                       [[r.name, r.state, r.reason, r.parent] for r in rows]])
    ended_in_time = early.ended
    if early.ended and ended_at is None:
        ended_at = round(time.monotonic() - started, 3)
    if events and spec.get("close_when_started"):
        wait_for(spec["close_when_started"])
        break
early.close()
wait_until(early.reap, timeout=10, what="the child reaped")
print(json.dumps({"events": events, "ended": ended_in_time, "ended_at": ended_at,
                  "reaped": early.reap(),
                  "killed_while_full": killed_while_full}))
"""


def _run(spec: dict, timeout: float = 60, early: str = "1") -> list:
    env = {**os.environ, "COCKPIT_EARLY_PROBES": early}  # "1": even on a 1-core runner
    proc = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(spec)], env=env,
                          cwd=Path(__file__).parents[1],  # (tests.support importable)
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing the child did reached the parent's terminal
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture
def http() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP(lambda path: (200, "application/json", json.dumps(HEALTHY).encode()))
    yield server
    server.close()


def test_a_round_comes_back_probe_by_probe_through_the_boundary(http, tmp_path):
    closed = free_port()
    spec = {"secrets": ["hunter2-secret"], "probes": [
        {"kind": "http", "name": "api", "url": f"{http.url}/health"},
        {"kind": "tcp", "name": "closed", "host": "127.0.0.1", "port": closed},
        {"kind": "command", "name": "slow", "timeout": "20s",
         "script": "sleep 3; echo 'token hunter2-secret \x1b[31m'; exit 3"},
    ]}
    start, end = _run(spec)
    assert start["names"] == ["api", "closed", "slow"]
    events = end["events"]
    assert end["ended"] and end["reaped"]
    by_name = {name: (at, rows) for at, name, rows in events}
    assert [name for _, name, _ in events][-1] == "slow"  # the fast ones did not wait
    assert by_name["api"][0] < by_name["slow"][0] - 1.0
    assert by_name["api"][1] == [["api", "ok", "HTTP 200", None],
                                 ["api/database", "ok", "healthy", "api"]]
    assert by_name["closed"][1][0][:2] == ["closed", "fail"]
    assert "connection refused" in by_name["closed"][1][0][2]
    (slow,) = by_name["slow"][1]
    assert slow[:2] == ["slow", "fail"]
    assert "exit 3" in slow[2]
    assert "hunter2-secret" not in slow[2] and "***" in slow[2]  # redacted
    assert "\x1b" not in slow[2] and "\\e[31m" in slow[2]  # the escape made visible


def test_nothing_the_child_does_reaches_the_terminal():
    spec = {"noisy": True, "probes": [
        {"kind": "tcp", "name": "p", "host": "127.0.0.1", "port": free_port()}]}
    _, end = _run(spec)  # (stderr empty, stdout only the driver's JSON lines)
    assert [name for _, name, _ in end["events"]] == ["p"]


def test_close_stops_the_child_and_kills_a_running_command(tmp_path):
    pidfile = tmp_path / "sleep.pid"
    spec = {"close_when_started": str(pidfile), "probes": [
        {"kind": "tcp", "name": "fast", "host": "127.0.0.1", "port": free_port()},
        {"kind": "command", "name": "stuck", "timeout": "60s",
         "script": f"echo $$ > {pidfile}; exec sleep 60"},
    ]}
    start, end = _run(spec)
    assert [name for _, name, _ in end["events"]] == ["fast"]
    assert not end["ended"]  # closed before the child's end
    assert end["reaped"]  # the child obeyed SIGTERM and was collected
    sleeper = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(),
                             what="the command's pid"))
    wait_until(lambda: not _alive(sleeper), timeout=15, what="the command killed")
    assert not _alive(start["pid"])


def test_the_child_ends_with_its_parent_and_kills_its_command(tmp_path):
    pidfile = tmp_path / "sleep.pid"
    spec = {"exit_when_started": str(pidfile), "probes": [
        {"kind": "command", "name": "stuck", "timeout": "60s",
         "script": f"echo $$ > {pidfile}; exec sleep 60"},
    ]}
    (start,) = _run(spec)
    sleeper = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(),
                             what="the command's pid"))
    wait_until(lambda: not _alive(start["pid"]), timeout=15, what="the child's end")
    wait_until(lambda: not _alive(sleeper), timeout=15, what="the command killed")


@pytest.mark.parametrize("signals", [["SIGHUP"], ["SIGINT"], ["SIGTERM", "SIGTERM"]])
def test_a_hang_up_or_a_second_stop_signal_still_kills_the_command(tmp_path, signals):
    """A hang-up reaches the child (it is in the terminal's process group), so does
    Ctrl+C before raw mode; a second SIGTERM (the pane's close, then the parent's end)
    must not cut the kill of a command's tree short: this one ignores SIGTERM, so only
    the backend's SIGKILL after its grace ends it."""
    pidfile, termed = tmp_path / "sleep.pid", tmp_path / "termed"
    spec = {"signal_when_started": str(pidfile), "signals": signals, "termed": str(termed),
            "probes": [{"kind": "command", "name": "stuck", "timeout": "60s", "script":
                        f"trap 'echo TERM >> {termed}' TERM; echo $$ > {pidfile}; "
                        "while :; do sleep 0.1 || :; done"}]}
    _start, end = _run(spec)
    assert end["events"] == [] and end["ended"]  # it ended, reporting nothing
    sleeper = int(pidfile.read_text())
    wait_until(lambda: not _alive(sleeper), timeout=20, what="the command killed")


def test_a_full_pipe_does_not_stop_the_childs_loop(tmp_path):
    """More rows than the pipe holds while the parent is busy (not reading): the child
    waits for room without blocking its loop, so it still handles a stop signal (and
    its timeouts): the command it runs is killed with the pipe still full."""
    checks = {f"check-{i:04d}": "healthy" for i in range(3000)}
    body = json.dumps({"status": "healthy", "checks": checks}).encode()
    server = LoopbackHTTP(lambda path: (200, "application/json", body))
    pidfile = tmp_path / "sleep.pid"
    try:
        spec = {"stop_when_full": str(pidfile), "probes": [
            {"kind": "http", "name": "big", "url": f"{server.url}/health"},
            {"kind": "command", "name": "cmd", "timeout": "60s",
             "script": f"echo $$ > {pidfile}; exec sleep 60"},
        ]}
        _start, end = _run(spec)
    finally:
        server.close()
    assert end["killed_while_full"] is True


def test_target_probes_and_commands_of_a_backend_that_cannot_fork_stay_in_process():
    local = LocalBackend()

    class Remote(LocalBackend):
        forkable = False

    command = CommandProbe.model_validate({"kind": "command", "name": "c", "run": ["true"]})
    target = TargetProbe.model_validate({"kind": "target", "name": "t"})
    http = HttpProbe.model_validate({"kind": "http", "name": "h", "url": "http://x/"})
    tcp = TcpProbe.model_validate({"kind": "tcp", "name": "p", "host": "x", "port": 1})
    assert [runs_early(p, local) for p in (command, target, http, tcp)] == \
        [True, False, True, True]
    assert runs_early(command, Remote()) is False
    assert runs_early(command, None) is False

    class Connects(LocalBackend):  # connects and lists from a forked copy (kubernetes)
        early_targets = True

    assert runs_early(target, Connects()) is True and runs_early(target, None) is False
    # nothing eligible: no child at all
    assert start_early_probes([target], local, Boundary()) is None
    spec = {"probes": [{"kind": "target", "name": "t"}]}
    assert _run(spec) == [None]


def test_a_probe_stuck_in_a_thread_does_not_keep_the_child_past_its_round():
    """A target probe whose list is stuck in a thread (a kubernetes SDK's import, a
    credential plugin) times out, and the child ends then: it does not wait for that
    thread (asyncio.run would, for 30 s here). A cold connection's timeout is not
    reported: the UI probes it again itself. A fast probe beside it is reported."""
    spec = {"probes": [{"kind": "target", "name": "t", "timeout": "0.5s"},
                       {"kind": "command", "name": "c", "run": ["true"]}],
            "stuck_targets": 30}
    started, end = _run(spec)
    assert started["names"] == ["t", "c"]
    assert [(e[1], e[2][0][1]) for e in end["events"]] == [("c", "ok")]
    assert end["ended"] is True and end["ended_at"] < 10


def test_no_fork_on_a_single_core_nor_when_turned_off():
    spec = {"probes": [{"kind": "tcp", "name": "p", "host": "127.0.0.1", "port": free_port()}]}
    assert _run({**spec, "one_core": True}, early="") == [None]
    assert _run(spec, early="0") == [None]
    start, _end = _run({**spec, "one_core": True}, early="1")  # forced
    assert start["names"] == ["p"]


def test_no_fork_while_another_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        tcp = TcpProbe.model_validate({"kind": "tcp", "name": "p", "host": "x", "port": 1})
        assert start_early_probes([tcp], LocalBackend(), Boundary()) is None
    finally:
        stop.set()
        thread.join()


def test_read_takes_whole_lines_only_and_skips_a_cut_or_broken_one():
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    child = subprocess.Popen(["sleep", "60"])
    try:
        early = EarlyProbes(child.pid, read_fd, ["a", "b", "c"], deadline=0.0)
        row = ["a", "ok", 1.5, "fine", 1.0, None, ""]
        os.write(write_fd, json.dumps(["a", [row]]).encode() + b"\n" + b'["b", [["b"')
        (got,) = early.read()
        assert got[0] == "a" and got[1][0].reason == "fine" and got[1][0].latency_ms == 1.5
        assert not early.ended
        os.write(write_fd, b', "ok"]]]\nnot json\n')  # b's line was cut short of a row
        assert early.read() == []
        os.close(write_fd)
        assert early.read() == [] and early.ended
        early.close()  # ended: the child is not signalled
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


_LAUNCH = r"""
import json, select, sys, time
import cockpit.tui.app
from cockpit.tui.launcher import run_tui

class Stub:  # the app, reduced to what the launcher hands it
    started_demo = False
    return_code = 0

    def __init__(self, context, runbook=None):
        self.early = context.early_probes

    def run(self):
        seen = {}
        deadline = time.monotonic() + 20
        while self.early is not None and not self.early.ended and time.monotonic() < deadline:
            select.select([self.early.fileno()], [], [], 0.5)
            seen.update((name, rows[0].state) for name, rows in self.early.read())
        print(json.dumps(None if self.early is None else seen))

cockpit.tui.app.CockpitApp = Stub
sys.exit(run_tui(sys.argv[1]))
"""


def test_the_launcher_hands_the_app_a_round_already_running(http, tmp_path: Path):
    """``run_tui`` forks the first round once the profile is loaded, before any thread
    (a backend's warm-up, the TLS context) starts."""
    profile = tmp_path / "p.yaml"
    profile.write_text(f"""
name: p
health:
  - {{name: api, kind: http, url: "{http.url}/health"}}
  - {{name: cmd, kind: command, run: ["true"]}}
""")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "COCKPIT_EARLY_PROBES": "1"}
    proc = subprocess.run([sys.executable, "-c", _LAUNCH, str(profile)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"api": "ok", "cmd": "ok"}
