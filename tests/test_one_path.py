"""One engine path: the TUI, the CLI and runbook steps ask the same confirmation for the
same action (the policy's), and ``cockpit run`` asks on a terminal, refuses without one.

A safe, a caution and a dangerous action, each also written as a runbook step with the
same id and danger. Every caller is asked through its own surface and declines; what it
asked (the confirmation kind and the text to type) must be the same everywhere:

* the TUI: the palette, then the ConfirmScreen it shows (or none), and the same steps
  run from a runbook (``run_runbook``);
* the CLI: ``cockpit run`` and ``cockpit runbook run`` on a pseudo-terminal, the prompt
  they print (or none);
* ``RunbookSession`` with a confirm callback.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from cockpit.core.runbooks.parser import parse_runbook
from cockpit.core.runbooks.session import RunbookSession
from cockpit.tui.app import CockpitApp
from cockpit.tui.screens.confirm import ConfirmScreen
from tests.support import async_wait_until
from tests.tui_support import finals, make_context, palette_settled

PROFILE = """
name: one-path
actions:
  - id: look
    title: Look around
    script: echo looked
  - id: careful
    title: Careful thing
    danger: caution
    script: echo careful-done
  - id: wipe
    title: Wipe it
    danger: dangerous
    script: echo wiped
"""
RUNBOOK = """\
# Ops

## Look

```bash {name=look danger=safe}
echo looked
```

## Careful

```bash {name=careful danger=caution}
echo careful-done
```

## Wipe

```bash {name=wipe danger=dangerous}
echo wiped
```
"""
IDS = ("look", "careful", "wipe")
#: What the policy asks for each: none (safe), yes/no (caution), the id typed (dangerous).
EXPECTED = {"look": ("none", None), "careful": ("yes", None), "wipe": ("type", "wipe")}
TYPE_PROMPT = re.compile(rb"Type (\S+) to run it \(anything else cancels\): ")
YES_PROMPT = b"Run it? [y/N] "


@pytest.fixture
def world(tmp_path):
    context = make_context(tmp_path, PROFILE)
    book = tmp_path / "ops.md"
    book.write_text(RUNBOOK)
    env = {**os.environ, "NO_COLOR": "1", "COCKPIT_AUDIT_PATH": str(tmp_path / "cli.jsonl"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    return context, book, env


def test_the_runbook_steps_have_the_actions_ids_and_dangers(world):
    _, book, _ = world
    runbook = parse_runbook(book)
    assert [(s.id, s.danger.level) for s in runbook.steps] == [
        ("look", "safe"), ("careful", "caution"), ("wipe", "dangerous")]


# -- the TUI ------------------------------------------------------------------------------


async def _tui_answer(app, pilot, context, start) -> tuple[str, str | None]:
    """Start an attempt; what its confirmation asks (declined), or none if it just ran."""
    before = len(finals(context))
    await start()
    await async_wait_until(
        lambda: isinstance(app.screen, ConfirmScreen) or len(finals(context)) > before,
        timeout=15, what="a confirmation or the outcome")
    if not isinstance(app.screen, ConfirmScreen):
        assert finals(context)[-1]["status"] == "succeeded"
        return ("none", None)
    screen = app.screen
    asked = ("type", screen.type_to_confirm) if screen.type_to_confirm else ("yes", None)
    await pilot.press("escape")  # Cancel
    await async_wait_until(lambda: len(finals(context)) > before, what="the refusal")
    assert finals(context)[-1]["reason_codes"] == ["NOT_CONFIRMED"]
    return asked


async def _tui_asked(context, book) -> tuple[dict, dict]:
    app = CockpitApp(context)
    actions: dict[str, tuple[str, str | None]] = {}
    steps: dict[str, tuple[str, str | None]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        for action_id in IDS:
            async def palette(action_id=action_id) -> None:
                await pilot.press("colon")
                for ch in action_id:
                    await pilot.press(ch)
                await palette_settled(pilot, action_id)
                await pilot.press("enter")

            actions[action_id] = await _tui_answer(app, pilot, context, palette)
        runbook = await app.load_runbook(book)
        for step in runbook.steps:
            async def from_runbook(step=step) -> None:
                app.run_runbook(runbook, [step])

            steps[step.id] = await _tui_answer(app, pilot, context, from_runbook)
    return actions, steps


# -- the CLI on a pseudo-terminal -----------------------------------------------------------


def run_on_pty(argv: list[str], env: dict[str, str], answer: str | None,
               timeout: float = 60) -> tuple[int, bytes]:
    """Run the cockpit with a terminal for stdin/stdout/stderr; answer its prompt once
    (``None``: Ctrl-C, a SIGINT, instead of an answer)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", *argv], stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; the cockpit printed {output!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the cockpit exited and the terminal closed
                break
            if not chunk:
                break
            output += chunk
            if not answered and (YES_PROMPT in output or TYPE_PROMPT.search(output)):
                if answer is None:
                    proc.send_signal(signal.SIGINT)
                else:
                    os.write(master, answer.encode() + b"\n")
                answered = True
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def asked_on_terminal(output: bytes) -> tuple[str, str | None]:
    typed = TYPE_PROMPT.search(output)
    if typed:
        return ("type", typed.group(1).decode())
    return ("yes", None) if YES_PROMPT in output else ("none", None)


def cli_records(env: dict[str, str]) -> list[dict]:
    path = Path(env["COCKPIT_AUDIT_PATH"])
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _cli_asked(context, book, env) -> tuple[dict, dict]:
    profile = str(context.loaded.path)
    actions, steps = {}, {}
    for action_id in IDS:
        code, output = run_on_pty(["run", action_id, "--profile", profile], env, answer="n")
        actions[action_id] = asked_on_terminal(output)
        status = cli_records(env)[-1]["status"]
        assert (code, status) == ((0, "succeeded") if action_id == "look" else (3, "denied")), (
            output)
        code, output = run_on_pty(["runbook", "run", str(book), action_id, "--profile", profile],
                                  env, answer="n")
        steps[action_id] = asked_on_terminal(output)
        assert code == (0 if action_id == "look" else 3), output
    return actions, steps


# -- the same question everywhere ------------------------------------------------------------


async def test_the_tui_the_cli_and_a_runbook_session_ask_the_same(world):
    context, book, env = world
    tui_actions, tui_steps = await _tui_asked(context, book)

    session_asked: dict[str, tuple[str, str | None]] = {}

    def decline(step, request) -> bool:
        session_asked[step.id] = (request.needed, request.text_to_type)
        return False

    runbook = parse_runbook(book)
    for step in runbook.steps:
        [run] = await RunbookSession(runbook, context.runner, confirm=decline).run([step])
        session_asked.setdefault(step.id, ("none", None))
        assert run.status == ("succeeded" if step.id == "look" else "denied")

    cli_actions, cli_steps = _cli_asked(context, book, env)

    assert tui_actions == EXPECTED
    assert tui_steps == EXPECTED
    assert session_asked == EXPECTED
    assert cli_actions == EXPECTED
    assert cli_steps == EXPECTED


# -- cockpit run: caution asks on a terminal, is refused without one unless --yes ------------


def test_cli_caution_without_a_terminal_is_refused_with_a_hint(world):
    context, _, env = world
    profile = str(context.loaded.path)
    proc = subprocess.run([sys.executable, "-m", "cockpit", "run", "careful", "--profile",
                           profile], env=env, input="y\n", capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "careful is caution: not confirmed (no terminal to ask on); use --yes" in proc.stderr
    assert "careful-done" not in proc.stdout
    [record] = cli_records(env)
    assert (record["decision"], record["reason_codes"]) == ("DENY", ["NOT_CONFIRMED"])
    proc = subprocess.run([sys.executable, "-m", "cockpit", "run", "careful", "--yes",
                           "--profile", profile], env=env, capture_output=True, text=True,
                          timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "careful-done\n"), proc.stderr


def test_cli_on_a_terminal_runs_after_yes_or_the_typed_id(world):
    context, _, env = world
    profile = str(context.loaded.path)
    # the command shown before asking holds 'echo wiped'; its output is a line of its own
    code, output = run_on_pty(["run", "careful", "--profile", profile], env, answer="y")
    assert code == 0 and b"\ncareful-done\r\n" in output, output
    code, output = run_on_pty(["run", "wipe", "--profile", profile], env, answer="yes")
    assert code == 3 and b"\nwiped\r\n" not in output, output  # a yes is not the id
    code, output = run_on_pty(["run", "wipe", "--profile", profile], env, answer="wipe")
    assert code == 0 and b"\nwiped\r\n" in output, output
    assert [(r["action"], r["status"]) for r in cli_records(env) if r["status"] != "started"] == [
        ("careful", "succeeded"), ("wipe", "denied"), ("wipe", "succeeded")]


def test_ctrl_c_at_the_prompt_is_a_no(world):
    """The run's SIGINT handler (cancel the run) would only note the signal while the
    prompt blocks: at the prompt Ctrl-C interrupts it and declines."""
    context, _, env = world
    profile = str(context.loaded.path)
    code, output = run_on_pty(["run", "careful", "--profile", profile], env, answer=None)
    assert code == 3 and b"\ncareful-done\r\n" not in output, output
    [record] = cli_records(env)
    assert record["reason_codes"] == ["NOT_CONFIRMED"]


def test_yes_still_says_what_it_confirmed(tmp_path, capsys, monkeypatch):
    from cockpit.cli.main import main

    path = tmp_path / "p.yaml"
    path.write_text("name: t\nactions:\n  - {id: careful, danger: caution, "
                    "run: [echo, careful-done]}\n  - {id: plain, run: [echo, plain]}\n")
    monkeypatch.setenv("COCKPIT_AUDIT_PATH", str(tmp_path / "trail.jsonl"))
    assert main(["--profile", str(path), "run", "careful", "--yes"]) == 0
    err = capsys.readouterr().err
    assert "careful is caution, confirmed by --yes; it runs:\n    echo careful-done" in err
    assert main(["--profile", str(path), "run", "plain", "--yes"]) == 0
    assert "confirmed by --yes" not in capsys.readouterr().err  # safe: nothing was asked
