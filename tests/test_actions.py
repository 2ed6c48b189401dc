"""Running actions: params reach commands only as literal text, policy, audit of every attempt."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import psutil
import pytest

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail, verify_trail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import UsageError
from tests.support import async_wait_until, wait_until

PY = sys.executable

PROFILE = f"""
name: t
env:
  API_TOKEN: tok-abcdef-123456
  PLAIN: visible-value
actions:
  - id: echo
    run: ["{PY}", -c, "import sys; print(sys.argv[1]); print(sys.argv[2])", "{{msg}}", "pre-{{msg}}-post"]
    params:
      - {{name: msg, type: string}}
  - id: script
    script: |
      printf 'msg=%s\\n' "$MSG"
      printf 'trace=%s\\n' "$COCKPIT_TRACE_ID"
    params:
      - {{name: msg, type: string}}
  - id: typed
    run: [echo, "{{count}}", "{{ratio}}", "{{flag}}", "{{mode}}", "{{name}}"]
    params:
      - {{name: count, type: int, min: 1, max: 10, default: 2}}
      - {{name: ratio, type: float, min: 0, max: 1, default: 0.5}}
      - {{name: flag, type: bool, default: false}}
      - {{name: mode, type: choice, choices: [fast, slow], default: fast}}
      - {{name: name, type: string, regex: "[a-z]+", default: abc}}
  - id: careful
    danger: caution
    script: touch "$MARKER"
    params: [{{name: marker, type: string}}]
  - id: boom
    danger: dangerous
    script: touch "$MARKER"
    params: [{{name: marker, type: string}}]
  - id: exit7
    script: echo failing; exit 7
  - id: slow
    script: |
      sleep 300 &
      echo "child $!"
      sleep 300
    timeout: 1s
  - id: forever
    script: |
      echo "started $$"
      sleep 300
  - id: checked
    script: |
      echo '{{"status": "degraded"}}'
    success:
      json_field: {{path: status, equals: ok}}
  - id: secret
    script: |
      echo "using $PASSWORD and $API_TOKEN and $PLAIN"
    params:
      - {{name: password, type: string, secret: true}}
  - id: flood
    run: ["{PY}", -c, "import sys; sys.stdout.write(('x' * 99 + chr(10)) * 500000)"]
  - id: longline
    run: ["{PY}", -c, "print('y' * 1_000_000)"]
"""


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    loaded = load_profile(path)
    trail_path = tmp_path / "trail" / "audit.jsonl"
    backend = LocalBackend({"env": loaded.env})
    runner = ActionRunner(loaded, backend, AuditTrail(trail_path), operator="tester@host")
    return runner, trail_path, tmp_path


def records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def run(runner, action, params=None, *, confirmed=False, lines=None):
    prepared = runner.prepare(action, params or {})
    outcome = await runner.run(
        prepared,
        confirm=(lambda _request: True) if confirmed else None,
        on_line=(lines.append if lines is not None else None),
    )
    return prepared, outcome


@pytest.mark.parametrize(
    "hostile",
    ["x; touch {d}/pwned", "$(touch {d}/pwned)", "`touch {d}/pwned`", 'a\' "b" \\ | && {d}'],
)
async def test_hostile_values_reach_argv_and_scripts_as_literal_text(setup, hostile):
    runner, _trail, tmp = setup
    value = hostile.format(d=tmp)
    lines: list = []
    _, outcome = await run(runner, "echo", {"msg": value}, lines=lines)
    assert outcome.status == "succeeded"
    assert [line.text for line in lines] == [value, f"pre-{value}-post"]
    lines.clear()
    _, outcome = await run(runner, "script", {"msg": value}, lines=lines)
    assert outcome.status == "succeeded"
    assert lines[0].text == f"msg={value}"
    assert not (tmp / "pwned").exists()


async def test_typed_params_validated_and_defaulted(setup):
    runner, _, _ = setup
    lines: list = []
    await run(runner, "typed", {"count": "3", "flag": "yes"}, lines=lines)
    assert lines[0].text == "3 0.5 true fast abc"
    for bad, fragment in [
        ({"count": "0"}, "below the minimum"),
        ({"count": "11"}, "above the maximum"),
        ({"count": "2.5"}, "whole number"),
        ({"ratio": "nan"}, "finite"),
        ({"flag": "maybe"}, "true or false"),
        ({"mode": "medium"}, "not one of fast, slow"),
        ({"name": "ABC"}, "does not match"),
        ({"nope": "1"}, "unknown param 'nope'"),
    ]:
        with pytest.raises(UsageError, match=fragment):
            runner.prepare("typed", bad)
    with pytest.raises(UsageError, match="msg: required"):
        runner.prepare("echo", {})
    with pytest.raises(UsageError, match="unknown action 'zzz'"):
        runner.prepare("zzz")


async def test_run_is_recorded_twice_with_trace_id_passed_to_the_action(setup):
    runner, trail, _ = setup
    lines: list = []
    prepared, _outcome = await run(runner, "script", {"msg": "hi"}, lines=lines)
    assert lines[1].text == f"trace={prepared.trace_id}"
    started, final = records(trail)
    assert started["status"] == "started" and final["status"] == "succeeded"
    for rec in (started, final):
        assert rec["trace_id"] == prepared.trace_id
        assert rec["operator"] == "tester@host"
        assert rec["profile"] == "t" and rec["action"] == "script"
        assert rec["decision"] == "ALLOW" and rec["params"] == {"msg": "hi"}
    assert final["exit_code"] == 0 and final["output_tail"][0] == "msg=hi"
    expected = hashlib.sha256(f"msg=hi\ntrace={prepared.trace_id}\n".encode()).hexdigest()
    assert final["output_sha256"] == expected
    assert verify_trail(trail).ok


async def test_exit_status_is_kept(setup):
    runner, trail, _ = setup
    _, outcome = await run(runner, "exit7")
    assert outcome.status == "failed" and outcome.exit_code == 7 and outcome.cli_exit_code == 7
    assert records(trail)[-1]["exit_code"] == 7


async def test_success_check_failure(setup):
    runner, _, _ = setup
    _, outcome = await run(runner, "checked")
    assert outcome.status == "failed" and outcome.cli_exit_code == 1
    assert "JSON field status is 'degraded', expected 'ok'" in outcome.message


async def test_read_only_denies_non_safe_and_records_the_denial(setup):
    runner, trail, tmp = setup
    runner.read_only = True
    marker = tmp / "marker"
    _, outcome = await run(runner, "careful", {"marker": str(marker)})
    assert outcome.status == "denied" and outcome.cli_exit_code == 3
    assert outcome.decision.reason_codes == ["READ_ONLY"]
    assert not marker.exists()
    [rec] = records(trail)
    assert rec["decision"] == "DENY" and rec["reason_codes"] == ["READ_ONLY"]
    _, outcome = await run(runner, "exit7")  # safe actions still run
    assert outcome.exit_code == 7


async def test_dangerous_needs_confirmation(setup):
    runner, trail, tmp = setup
    marker = tmp / "marker"
    _, outcome = await run(runner, "boom", {"marker": str(marker)})
    assert outcome.status == "denied" and outcome.decision.reason_codes == ["NOT_CONFIRMED"]
    assert not marker.exists()
    _, outcome = await run(runner, "boom", {"marker": str(marker)}, confirmed=True)
    assert outcome.status == "succeeded" and marker.exists()
    assert [r["status"] for r in records(trail)] == ["denied", "started", "succeeded"]


async def test_unwritable_trail_refuses_before_running(setup):
    runner, _, tmp = setup
    blocker = tmp / "blocker"
    blocker.write_text("a file where a folder should be")
    runner.trail = AuditTrail(blocker / "audit.jsonl")
    marker = tmp / "marker"
    _, outcome = await run(runner, "careful", {"marker": str(marker)}, confirmed=True)
    assert outcome.status == "denied" and outcome.cli_exit_code == 3
    assert outcome.decision.reason_codes == ["AUDIT_SINK_FAILED"]
    assert not marker.exists()


async def test_timeout_kills_the_tree(setup):
    runner, trail, _ = setup
    lines: list = []
    _, outcome = await run(runner, "slow", lines=lines)
    assert outcome.status == "timed_out" and outcome.cli_exit_code == 124
    child = int(lines[0].text.split()[1])
    wait_until(
        lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie",
        timeout=10,
        what="the background child to be killed",
    )
    assert records(trail)[-1]["status"] == "timed_out"


async def test_cancel_kills_and_records(setup):
    import asyncio

    runner, trail, _ = setup
    lines: list = []
    prepared = runner.prepare("forever")
    task = asyncio.create_task(runner.run(prepared, on_line=lines.append))
    await async_wait_until(lambda: lines, timeout=10, what="the action to start")
    await prepared.cancel()
    outcome = await asyncio.wait_for(task, 10)
    assert outcome.status == "cancelled" and outcome.cli_exit_code == 130
    assert records(trail)[-1]["status"] == "cancelled"


async def test_secrets_are_redacted_in_display_output_and_trail(setup):
    runner, trail, _ = setup
    lines: list = []
    _prepared, outcome = await run(runner, "secret", {"password": "hunter2-pass"}, lines=lines)
    # on_line gets each line once it has passed the boundary: no caller sees the secret
    assert lines[0].text == "using *** and *** and visible-value"
    text = trail.read_text()
    assert "hunter2-pass" not in text and "tok-abcdef-123456" not in text
    final = records(trail)[-1]
    assert final["params"] == {"password": "***"}
    assert final["output_tail"] == ["using *** and *** and visible-value"]
    assert outcome.output_tail == final["output_tail"]


async def test_huge_output_is_bounded_and_still_audited(setup):
    runner, trail, _ = setup
    rss_before = psutil.Process().memory_info().rss
    _, outcome = await run(runner, "flood", lines=None)
    assert outcome.status == "succeeded"
    final = records(trail)[-1]
    assert final["output_bytes"] == 50_000_000
    assert final["output_sha256"] == hashlib.sha256(("x" * 99 + "\n").encode() * 500000).hexdigest()
    assert psutil.Process().memory_info().rss - rss_before < 150_000_000
    lines: list = []
    _, outcome = await run(runner, "longline", lines=lines)
    assert outcome.status == "succeeded"
    assert lines[0].truncated and len(lines[0].text) <= 20_000
    assert len(trail.read_text().splitlines()[-1]) < 20_000


def test_kill_9_mid_run_leaves_a_started_record_and_an_intact_chain(setup, tmp_path):
    _, _, tmp = setup
    trail = tmp / "kill" / "audit.jsonl"
    env = {**os.environ, "COCKPIT_AUDIT_PATH": str(trail)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit", "--profile", str(tmp / "p.yaml"), "run", "forever"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        word, pid = proc.stdout.readline().split()
        assert word == "started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # The action's tree outlives a kill -9 of the cockpit (it is its own session):
        # that is what the "started" record without an outcome is for. Clean it up.
        os.killpg(int(pid), signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = verify_trail(trail)
    assert report.ok and report.count == 1
    assert records(trail)[0]["status"] == "started"
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit", "--profile", str(tmp / "p.yaml"), "run", "exit7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 7
    # started, then at the next start the abandoned outcome, then exit7's two records
    assert verify_trail(trail).count == 4
    assert records(trail)[1]["status"] == "abandoned"


# -- the one path: policy once, the caller's confirmation, records off the event loop ------


async def test_the_policy_asks_the_callback_only_for_caution_and_dangerous(setup):
    runner, trail, tmp = setup
    asked: list[tuple[str, str, str | None]] = []

    async def yes(request) -> bool:  # a coroutine (the TUI's), or a plain function (the CLI's)
        asked.append((request.prepared.action.id, request.needed, request.text_to_type))
        return True

    for action in ("exit7", "careful", "boom"):
        prepared = runner.prepare(action, {} if action == "exit7" else {"marker": str(tmp / "m")})
        await runner.run(prepared, confirm=yes)
    assert asked == [("careful", "yes", None), ("boom", "type", "boom")]
    request = []
    prepared = runner.prepare("boom", {"marker": str(tmp / "m")})
    outcome = await runner.run(prepared, confirm=lambda r: request.append(r) or False)
    assert outcome.status == "denied" and outcome.decision.reason_codes == ["NOT_CONFIRMED"]
    assert outcome.message == "boom is dangerous and was not confirmed"
    [shown] = request
    assert shown.title == "DANGEROUS: Boom" and shown.command == prepared.display
    assert f"Trace id {prepared.trace_id}" in shown.description
    assert [r["status"] for r in records(trail)] == [
        "started", "failed", "started", "succeeded", "started", "succeeded", "denied"]


async def test_a_confirmation_that_raises_is_recorded_not_confirmed(setup):
    runner, trail, tmp = setup

    def broken(_request) -> bool:
        raise RuntimeError("the terminal went away")

    prepared = runner.prepare("careful", {"marker": str(tmp / "m")})
    with pytest.raises(RuntimeError):
        await runner.run(prepared, confirm=broken)
    [rec] = records(trail)
    assert (rec["status"], rec["reason_codes"]) == ("denied", ["NOT_CONFIRMED"])
    assert not (tmp / "m").exists()


class _FailingBackend(LocalBackend):
    """Starts nothing (``start`` raises), or a real command whose lines break midway."""

    def __init__(self, options, *, fail_in: str) -> None:
        super().__init__(options)
        self.fail_in = fail_in
        self.executions: list = []

    async def start(self, spec):
        if self.fail_in == "start":
            raise RuntimeError("no such daemon: boom")
        execution = await super().start(spec)
        self.executions.append(execution)
        return _BreakingExecution(execution)


class _BreakingExecution:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.pid = getattr(inner, "pid", None)

    async def lines(self):
        async for line in self.inner.lines():
            yield line
            raise OSError("the stream broke")

    async def wait(self):
        return await self.inner.wait()

    async def cancel(self) -> None:
        await self.inner.cancel()


@pytest.mark.parametrize("fail_in", ["start", "lines"])
async def test_a_backend_that_raises_still_leaves_an_outcome(setup, fail_in):
    runner, trail, _ = setup
    runner.backend = _FailingBackend({"env": runner.loaded.env}, fail_in=fail_in)
    lines: list = []
    _, outcome = await run(runner, "forever", lines=lines)
    want = "RuntimeError: no such daemon: boom" if fail_in == "start" else (
        "OSError: the stream broke")
    assert outcome.status == "error" and want in outcome.message
    started, final = records(trail)
    assert (started["status"], final["status"]) == ("started", "error")
    assert want in final["message"] and final["trace_id"] == started["trace_id"]
    assert verify_trail(trail).ok
    assert not list(runner._runs.dir.glob("*.json"))  # no runtime file left behind
    if fail_in == "lines":  # the command it started is killed, not left running
        pid = int(lines[0].text.split()[1])
        wait_until(
            lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
            timeout=10, what="the started command to be killed")


async def test_records_are_appended_off_the_event_loop_in_order(setup):
    import threading

    runner, _trail, tmp = setup
    threads: list[tuple[str, str]] = []
    append = runner.trail.append

    def spy(record, **kwargs):
        threads.append((record["status"], threading.current_thread().name))
        return append(record, **kwargs)

    runner.trail.append = spy
    await run(runner, "exit7")
    await run(runner, "careful", {"marker": str(tmp / "m")})  # denied: not confirmed
    assert [status for status, _ in threads] == ["started", "failed", "denied"]
    loop_thread = threading.current_thread().name
    assert all(name != loop_thread for _, name in threads), threads


async def test_a_record_passes_the_boundary_once_where_it_is_built(setup):
    runner, trail, _ = setup

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the trail redacted a record again ({name})")

    runner.trail = AuditTrail(trail, redactor=Untouchable())
    _, outcome = await run(runner, "secret", {"password": "hunter2-pass"})
    assert outcome.status == "succeeded"
    text = trail.read_text()
    assert "hunter2-pass" not in text and "tok-abcdef-123456" not in text
    assert [r["params"] for r in records(trail)] == [{"password": "***"}] * 2


def test_a_local_action_naming_a_target_is_refused_and_recorded(tmp_path, monkeypatch):
    """It validates (the profile may move to a backend with targets), and `cockpit run`
    refuses it clearly, before anything starts: one denied record, exit 3."""
    from cockpit.cli.main import main

    path = tmp_path / "p.yaml"
    path.write_text("name: t\nactions:\n  - {id: web-hi, target: web, run: [echo, hi]}\n")
    trail = tmp_path / "trail.jsonl"
    monkeypatch.setenv("COCKPIT_AUDIT_PATH", str(trail))
    assert main(["validate", str(path)]) == 0
    assert main(["--profile", str(path), "run", "web-hi"]) == 3
    mine = [r for r in records(trail) if r.get("action") == "web-hi"]
    assert [(r["status"], r["decision"], r["reason_codes"]) for r in mine] == [
        ("denied", "DENY", ["UNSUPPORTED"])]
    assert mine[0]["target"] == "web"
