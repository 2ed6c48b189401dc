"""The docker backend without an engine: profiles, error messages, parsing, the CLI with
an engine that is not there, and the SDK imported only when a docker profile is used."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.core.backends.docker.engine import describe_error
from cockpit.core.backends.docker.logs import _Lines
from cockpit.core.backends.docker.stats import cpu_percent, memory
from cockpit.core.backends.docker.targets import Selection, parse_time, to_target
from cockpit.core.backends.targets import Health
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import ConfigError
from cockpit.core.sources.health import target_state

HOST = "unix:///tmp/ck-none/docker.sock"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


# --- profiles -----------------------------------------------------------------------------


def test_a_docker_profile_gets_builtin_operations_and_default_targets(tmp_path) -> None:
    path = write(tmp_path, f"""
name: d
backend:
  kind: docker
  host: {HOST}
  containers: [web]
  operations: {{exec: caution, kill: false}}
actions:
  - id: inside
    run: [echo, hi]
  - id: outside
    where: host
    run: [echo, hi]
  - id: docker.restart
    title: Our own restart
    operation: restart
    target: web
    danger: dangerous
""")
    profile = load_profile(path).profile
    actions = {a.id: a for a in profile.actions}
    assert actions["inside"].target == "web"  # the only container is the default target
    assert actions["outside"].target is None
    assert actions["docker.restart"].title == "Our own restart"  # the profile's wins
    assert "docker.kill" not in actions
    assert actions["docker.exec"].danger == "caution"
    assert actions["docker.stop"].danger == "dangerous"
    assert actions["docker.start"].danger == "safe"
    assert actions["docker.pause"].danger == "caution"
    stop = actions["docker.stop"]
    assert stop.operation == "stop" and stop.target == "{container}"
    assert stop.run is None and stop.script is None  # data, not a command line
    param = stop.params[0]
    assert (param.name, param.type, param.choices, param.default) == (
        "container", "choice", ["web"], "web")


def test_docker_profile_problems_have_file_and_line(tmp_path) -> None:
    path = write(tmp_path, f"""name: d
backend:
  kind: docker
  host: {HOST}
  containers: [web, db]
  operations: {{reboot: caution}}
actions:
  - id: where
    run: [echo, hi]
""")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    problems = info.value.problems
    assert any(p.startswith(f"{path}:8: ") and "'where'" in p and "where: host" in p
               for p in problems), problems
    assert any(f"{path}:6: " in p and "unknown operation 'reboot'" in p for p in problems)
    path = write(tmp_path, f"name: d\nbackend:\n  kind: docker\n  host: {HOST}\n"
                           "  operations: {stop: maybe}\n")
    with pytest.raises(ConfigError, match=r":5: .*stop: expected safe, caution, dangerous or "
                                          "false, not 'maybe'"):
        load_profile(path)

    path = write(tmp_path, "name: d\nbackend: {kind: docker, containers: [a], project: p}\n")
    with pytest.raises(ConfigError, match="exclude each other"):
        load_profile(path)
    path = write(tmp_path, "name: d\nactions:\n  - {id: a, run: [x], target: t, where: host}\n")
    with pytest.raises(ConfigError, match="exclude each other"):
        load_profile(path)
    path = write(tmp_path, "name: d\nactions:\n  - {id: a, run: [x], operation: stop}\n")
    with pytest.raises(ConfigError, match="an operation is run by the backend"):
        load_profile(path)
    path = write(tmp_path, "name: d\nactions:\n  - {id: a, operation: stop}\n")
    with pytest.raises(ConfigError, match="an operation needs 'target'"):
        load_profile(path)
    path = write(tmp_path, "name: d\nactions:\n  - {id: a, operation: reboot, target: x}\n")
    with pytest.raises(ConfigError, match=r":3: .*the local backend has no operation 'reboot'"):
        load_profile(path)


def test_the_bundled_docker_demo_profile_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    profile = load_profile(root / "profiles" / "docker-demo.yaml").profile
    actions = {a.id: a for a in profile.actions}
    assert actions["smoke-test"].target == "cockpit-demo"
    assert actions["start"].target is None and actions["start"].where == "host"
    assert {"docker.restart", "docker.stop", "docker.exec"} <= set(actions)
    assert [p.kind for p in profile.health] == ["target", "http"]
    assert profile.logs[0].kind == "target"


# --- messages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), "no such socket (is dockerd running?)"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection refused"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied on the docker"),
        (TimeoutError("timed out"), "no answer (timed out)"),
    ],
)
def test_engine_errors_are_put_in_words(error, expected) -> None:
    wrapped = RuntimeError("Error while fetching server API version")
    wrapped.__cause__ = error
    message = describe_error(wrapped, HOST)
    assert expected in message and HOST in message
    if isinstance(error, PermissionError):
        assert "'docker' group" in message


def test_engine_timestamps_and_targets() -> None:
    assert parse_time("2024-05-01T12:00:00.123456789Z") == pytest.approx(1714564800.123456)
    assert parse_time("2024-05-01T12:00:00Z") == 1714564800.0
    assert parse_time("0001-01-01T00:00:00Z") is None
    target = to_target({
        "Id": "abc", "Name": "/web", "RestartCount": 2,
        "Config": {"Image": "img:1", "Labels": {"com.docker.compose.service": "web"}},
        "State": {"Status": "running", "StartedAt": "2024-05-01T12:00:00Z",
                  "Health": {"Status": "unhealthy", "Log": [{"Output": "boom\n"}]}},
    })
    assert (target.name, target.state, target.details["restart_count"]) == ("web", "running", 2)
    state, reason = target_state(target, now=1714564800.0 + 125)
    assert state == "fail"
    assert reason == "unhealthy: boom · up 2m · 2 restarts · image img:1"
    exited = to_target({"Id": "x", "Name": "/job", "State": {
        "Status": "exited", "ExitCode": 3, "FinishedAt": "1970-01-01T00:01:40Z"}})
    assert target_state(exited, now=130.0) == ("fail", "exited (exit code 3) · ended 30s ago")
    oom = to_target({"Id": "x", "Name": "/job", "State": {
        "Status": "exited", "ExitCode": 137, "OOMKilled": True}})
    assert oom.health == Health("fail", "exited (exit code 137) OOM-killed")
    starting = to_target({"Id": "x", "Name": "/w", "State": {
        "Status": "running", "Health": {"Status": "starting"}}})
    assert target_state(starting)[0] == "unknown"
    assert target.aliases == ("web",) and target.restarts == 2 and target.image == "img:1"
    selection = Selection(project="p", service="web")
    assert selection.matches("x", {"com.docker.compose.project": "p",
                                   "com.docker.compose.service": "web"})
    assert not selection.matches("x", {"com.docker.compose.project": "p"})


def test_stats_readings_are_computed_like_the_cli() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 20_000,
                      "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000},
        "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}},
    }
    assert cpu_percent(stats) == pytest.approx(40.0)
    assert memory(stats) == (800, 20.0)
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) is None


def test_log_frames_become_timestamped_lines() -> None:
    frames = _Lines(tty=False)
    got = frames.feed(b"2024-05-01T12:00:00.500000000Z hello\n")
    assert got == [(pytest.approx(1714564800.5), "hello", False)]
    # An entry longer than the engine's frame comes in parts, each with its own stamp.
    assert frames.feed(b"2024-05-01T12:00:01.000000000Z part one ") == []
    got = frames.feed(b"2024-05-01T12:00:01.000000001Z and two\n")
    assert [(text, cut) for _, text, cut in got] == [("part one and two", False)]
    tty = _Lines(tty=True)
    got = tty.feed(b"2024-05-01T12:00:02Z a\r\n2024-05-01T12:00:03Z b\r\n")
    assert [(ts, text) for ts, text, _ in got] == [(1714564802.0, "a"), (1714564803.0, "b")]


# --- CLI with no engine, and the SDK imported only when needed ---------------------------


def _cockpit(*args: str, env_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cockpit.cli.main", *args],
                          capture_output=True, text=True, timeout=60, cwd=env_path)


def test_cli_with_an_unreachable_engine_says_so_without_a_traceback(tmp_path) -> None:
    pytest.importorskip("docker")
    path = write(tmp_path, f"""
name: gone
backend: {{kind: docker, host: "{HOST}", containers: [web]}}
health: [{{name: containers, kind: target}}]
metrics: [{{name: cpu, kind: target, stat: cpu_percent, target: web}}]
actions: [{{id: hello, run: [echo, hello]}}]
""")
    check = _cockpit("check", "--profile", str(path), env_path=tmp_path)
    assert check.returncode == 1
    assert f"docker engine unreachable at {HOST}: no such socket" in check.stdout
    run = _cockpit("run", "hello", "--profile", str(path), env_path=tmp_path)
    assert run.returncode == 1
    assert f"error — docker engine unreachable at {HOST}" in run.stderr
    restart = _cockpit("run", "docker.restart", "--profile", str(path), "--json", "--yes",
                       env_path=tmp_path)
    assert restart.returncode == 1 and json.loads(restart.stdout)["status"] == "error"
    listed = _cockpit("actions", "--profile", str(path), env_path=tmp_path)
    assert listed.returncode == 0 and "docker.stop" in listed.stdout  # needs no engine
    for done in (check, run, restart, listed):
        assert "Traceback" not in done.stdout + done.stderr


def test_the_sdk_is_imported_only_when_the_engine_is_used(tmp_path) -> None:
    pytest.importorskip("docker")
    path = write(tmp_path, f"name: d\nbackend: {{kind: docker, host: '{HOST}'}}\n")
    code = (
        "import sys, asyncio\n"
        "from cockpit.core.config.discovery import find_profile\n"
        "from cockpit.core.config.loader import load_profile\n"
        "from cockpit.core.environment import open_backend\n"
        "open_backend(load_profile(find_profile('demo')))\n"
        "assert 'docker' not in sys.modules, 'a local profile imported docker'\n"
        f"backend = open_backend(load_profile({str(path)!r}))\n"
        "assert 'docker' not in sys.modules, 'loading a docker profile imported docker'\n"
        "try:\n"
        "    asyncio.run(backend.list_targets())\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "print('docker' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "True"  # using the engine imports it
    assert lines[-2].startswith("EngineError docker engine unreachable")


def test_an_action_naming_an_operation_takes_at_least_its_danger(tmp_path) -> None:
    """A profile action with `operation: kill` cannot be safe (it was: read-only ran it
    without a question), and an operation turned off cannot be run through one."""
    path = write(tmp_path, f"""name: d
backend:
  kind: docker
  host: {HOST}
  containers: [web]
  operations: {{restart: dangerous, pause: false}}
actions:
  - {{id: halt, operation: kill, target: web}}
  - {{id: bounce, operation: restart, target: web}}
  - {{id: careful-start, operation: start, target: web, danger: caution}}
""")
    actions = {a.id: a for a in load_profile(path).profile.actions}
    assert actions["halt"].danger == "dangerous"
    assert actions["bounce"].danger == "dangerous"  # the profile's level for restart
    assert actions["careful-start"].danger == "caution"  # raising it stays possible
    path = write(tmp_path, f"""name: d
backend: {{kind: docker, host: {HOST}, containers: [web], operations: {{pause: false}}}}
actions:
  - {{id: freeze, operation: pause, target: web}}
""")
    with pytest.raises(ConfigError, match=r":4: .*'pause' is turned off by backend.operations"):
        load_profile(path)


def test_validate_refuses_target_logs_a_backend_cannot_follow(tmp_path) -> None:
    path = write(tmp_path, "name: d\nbackend: {kind: local, processes: [x]}\nlogs:\n"
                           "  - {kind: target, name: procs}\n")
    with pytest.raises(ConfigError, match=r":4: log source 'procs': kind 'target' is not "
                                          "supported by the local backend"):
        load_profile(path)
