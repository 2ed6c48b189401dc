"""The Targets pane (6), the shell session's record and ``cockpit targets``, on the local
backend (processes this test starts, matched by ``backend.processes``). The docker side
is in tests/test_targets_docker.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.core.actions.shell import prepare_shell, record_shell_session
from cockpit.core.audit.trail import verify_trail
from cockpit.core.backends.base import Capability, Health, Target
from cockpit.core.backends.local import LocalBackend
from cockpit.core.sources.targets import format_cpu, format_mem
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.panes.logs_buffer import LogBuffer
from cockpit.tui.panes.targets import TargetsPane, choose_columns, matches, plural
from cockpit.tui.screens.confirm import ConfirmScreen
from cockpit.tui.screens.target_detail import TargetDetailScreen
from cockpit.tui.settings import UserSettings
from tests.support import async_wait_until
from tests.tui_support import finals, make_context, trail

REAL_PYTHON = os.path.realpath(sys.executable)


# -- helpers ----------------------------------------------------------------------------


class Procs:
    """Processes with names of their own (a link to the interpreter named ``name``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        link = self.folder / name
        link.symlink_to(REAL_PYTHON)
        # It lives until its stdin closes: stop() closes it, and so does a test run that
        # dies (no timer, no process left behind).
        proc = subprocess.Popen([str(link), "-c", "import sys; sys.stdin.read()"],
                                stdin=subprocess.PIPE)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)
        if proc.stdin is not None:
            proc.stdin.close()

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


@pytest.fixture
def procs(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    made = Procs(folder)
    yield made
    made.close()


def names() -> tuple[str, str]:
    """Two process names (at most 15 characters: the kernel's ``comm``)."""
    tag = uuid.uuid4().hex[:6]
    return f"cka{tag}", f"ckb{tag}"


def local_profile(alpha: str, beta: str, log: Path, other: Path) -> str:
    return f"""
name: local-targets
backend:
  kind: local
  processes: ["{alpha}", "{beta}"]
  targets_poll: 100ms
logs:
  - {{name: {alpha}, kind: file, path: "{log}"}}
  - {{name: other, kind: file, path: "{other}"}}
"""


def cells(pane: TargetsPane) -> list[dict[str, str]]:
    """The table as shown: one {column: text} per row."""
    table = pane.table
    columns = [str(c.key.value) for c in table.ordered_columns]
    return [dict(zip(columns, (cell.plain for cell in table.get_row(row.key)), strict=True))
            for row in table.ordered_rows]


def names_shown(pane: TargetsPane) -> list[str]:
    return [row["name"].strip() for row in cells(pane)]


async def select(pilot, pane: TargetsPane, name: str) -> None:
    """Move the cursor to the row of ``name`` with j/k, as the operator would."""
    for _ in range(pane.table.row_count):
        await pilot.press("k")
    await pilot.pause()
    for _ in range(pane.table.row_count):
        target = pane.selected_target()
        if target is not None and target.name == name:
            return
        await pilot.press("j")
        await pilot.pause()
    raise AssertionError(f"{name} is not listed: {names_shown(pane)}")


def setup_local(tmp_path: Path, procs: Procs, **kwargs):
    alpha, beta = names()
    procs.start(alpha)
    procs.start(beta)
    log, other = tmp_path / "alpha.log", tmp_path / "other.log"
    log.write_text("alpha one\nalpha two\n")
    other.write_text("other one\n")
    context = make_context(tmp_path, local_profile(alpha, beta, log, other), backend=True,
                           **kwargs)
    return context, alpha, beta


# -- pure parts -------------------------------------------------------------------------


def test_formatters_and_words():
    assert [format_cpu(None), format_cpu(0.42), format_cpu(12.4)] == ["-", "0.4%", "12%"]
    assert [format_mem(None), format_mem(512), format_mem(3 * 1024 ** 2),
            format_mem(1.5 * 1024 ** 3)] == ["-", "512B", "3.0M", "1.5G"]
    assert [plural("process", 1), plural("process", 2), plural("container", 0)] == [
        "1 process", "2 processes", "0 containers"]
    web = Target("1", "web", "container", "running", health=Health("fail", "unhealthy: 503"))
    assert matches(web, "WEB") and matches(web, "unhealthy") and matches(web, "container 503")
    assert matches(web, "fail") and not matches(web, "db")


def test_columns_follow_what_the_targets_have_and_the_width():
    proc = Target("1", "api", "process", "sleeping", cpu_percent=1.0, mem_bytes=10)
    pod = Target("2", "api-7f9", "pod", "Running", scope="prod", restarts=2)
    assert choose_columns(200, [proc]) == ("kind", "name", "state", "health", "reason",
                                           "age", "cpu", "mem")
    assert choose_columns(200, [pod]) == ("kind", "name", "scope", "state", "health",
                                          "reason", "restarts", "age")
    narrow = choose_columns(48, [proc, pod])
    assert {"name", "state", "health"} <= set(narrow) and "scope" not in narrow
    assert "kind" not in narrow and "cpu" not in narrow


def test_the_log_buffer_narrows_to_one_source_with_or_without_a_regex():
    import re

    buffer = LogBuffer(100)
    buffer.extend(["web", "db", "web", "db"], ["", "", "", ""],
                  ["GET /", "select 1", "POST /x", "select 2"])
    buffer.set_source("web")
    buffer.scan()
    assert [buffer.text(buffer.seq_at(r)) for r in range(buffer.visible_count)] == [
        "GET /", "POST /x"]
    buffer.set_pattern(re.compile("POST"))
    buffer.scan()
    assert buffer.visible_count == 1
    buffer.extend(["web", "db"], ["", ""], ["POST /y", "POST /db"])  # new lines: scanned
    buffer.scan()
    assert [buffer.text(buffer.seq_at(r)) for r in range(buffer.visible_count)] == [
        "POST /x", "POST /y"]
    buffer.set_source(None)
    buffer.set_pattern(None)
    assert not buffer.filtered and buffer.visible_count == 6


# -- the shell session's record ---------------------------------------------------------


async def test_a_shell_session_is_recorded_with_its_command_and_exit_status(tmp_path):
    profile = "name: t\nenv:\n  API_TOKEN: tok-9f8e7d6c5b4a\n"
    context = make_context(tmp_path, profile)
    runner = context.runner
    argv = ["sh", "-c", "exit 3", "tok-9f8e7d6c5b4a"]
    prepared = prepare_shell(runner, "web", argv, source={"kind": "test"})
    seen: list[list[str]] = []

    def run(command: list[str]) -> int:
        seen.append(command)  # the real command, secret and all, runs
        return subprocess.run(command, check=False).returncode

    asked = []

    def confirm(request) -> bool:
        asked.append(request)
        assert not trail(context)  # nothing recorded, nothing run while asking
        return True

    outcome = await record_shell_session(runner, prepared, run, confirm=confirm)
    [request] = asked  # caution: a yes/no showing the exact (redacted) command
    assert request.needed == "yes" and request.command == "sh -c 'exit 3' ***"
    assert seen == [argv]
    assert outcome.status == "failed" and outcome.exit_code == 3
    started, final = trail(context)
    for record in (started, final):
        assert record["action"] == "shell" and record["target"] == "web"
        assert record["danger"] == "caution" and record["operator"] == "tester@host"
        assert record["command"] == "sh -c 'exit 3' ***"  # redacted like any run
        assert record["trace_id"] == prepared.trace_id
        assert record["source"] == {"kind": "test"}
    assert started["status"] == "started"
    assert final["status"] == "failed" and final["exit_code"] == 3
    assert final["duration_ms"] >= 0 and "exit status 3" in final["message"]
    assert verify_trail(context.trail_path).ok
    assert not list((context.trail_path.parent / (context.trail_path.name + ".running"))
                    .glob("*.json"))  # the runtime file is gone once recorded


async def test_a_read_only_profile_refuses_the_shell_and_records_it(tmp_path):
    context = make_context(tmp_path, "name: t\n", read_only=True)
    prepared = prepare_shell(context.runner, "web", ["sh", "-c", "exit 0"])
    outcome = await record_shell_session(
        context.runner, prepared, lambda argv: pytest.fail("the shell ran"),
        confirm=lambda request: pytest.fail("asked"))
    assert outcome.status == "denied" and outcome.decision.reason_codes == ["READ_ONLY"]
    [record] = trail(context)
    assert record["action"] == "shell" and record["status"] == "denied"


async def test_a_shell_not_confirmed_is_refused_on_record(tmp_path):
    context = make_context(tmp_path, "name: t\n")
    for confirm in (None, lambda request: False):
        prepared = prepare_shell(context.runner, "web", ["sh", "-c", "exit 0"])
        outcome = await record_shell_session(
            context.runner, prepared, lambda argv: pytest.fail("the shell ran"),
            confirm=confirm)
        assert outcome.status == "denied"
        assert outcome.decision.reason_codes == ["NOT_CONFIRMED"]
    assert [r["status"] for r in trail(context)] == ["denied", "denied"]


async def test_a_shell_that_cannot_start_is_an_error_on_record(tmp_path):
    context = make_context(tmp_path, "name: t\n")
    prepared = prepare_shell(context.runner, "web", [str(tmp_path / "no-such-shell")])
    outcome = await record_shell_session(
        context.runner, prepared, lambda argv: subprocess.run(argv, check=False).returncode,
        confirm=lambda request: True)
    assert outcome.status == "error" and outcome.exit_code is None
    assert [r["status"] for r in trail(context)] == ["started", "error"]
    assert "FileNotFoundError" in finals(context)[0]["message"]


async def test_a_shell_session_from_the_pane_is_a_row_of_the_runs_pane(
        tmp_path, monkeypatch):
    """The session has the terminal while it lasts; afterwards the Runs pane lists it as
    it lists any run: action shell, how it ended, its exit status."""
    from cockpit.tui.panes.runs import RunsPane
    from cockpit.tui.terminal import handover

    context = make_context(tmp_path, "name: t\n")
    handed: list[list[str]] = []

    def hand_terminal(app, command: list[str]) -> int:
        handed.append(command)
        return 3

    monkeypatch.setattr(handover, "hand_terminal", hand_terminal)
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(TargetsPane)
        app.confirm_run = lambda request: True  # (the dialog has its own tests)
        target = Target("7", "web", "container", "running")
        outcome = await pane.shell_flow(target, ["sh", "-c", "exit 3"])
        assert handed == [["sh", "-c", "exit 3"]] and outcome.exit_code == 3
        runs = app.query_one(RunsPane)
        [entry] = runs.entries.values()
        assert entry.action_id == "shell" and entry.status == "failed"
        assert entry.outcome is outcome and not entry.running
        app.confirm_run = lambda request: False
        await pane.shell_flow(target, ["sh"])
        assert [e.status for e in runs.entries.values()] == ["failed", "denied"]
        assert len(handed) == 1
        assert "2 runs · 0 running · 2 not ok" in str(runs.border_subtitle)


# -- the pane on local processes --------------------------------------------------------


async def test_the_pane_lists_local_processes_and_follows_them(tmp_path, procs):
    context, alpha, beta = setup_local(tmp_path, procs)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("6")
        await async_wait_until(lambda: sorted(names_shown(pane)) == [alpha, beta],
                               what="both processes listed")
        rows = {row["name"].strip(): row for row in cells(pane)}
        assert rows[alpha]["health"] == "✓ ok" and rows[alpha]["kind"] == "process"
        assert rows[alpha]["state"] in ("sleeping", "running")
        assert rows[alpha]["mem"].endswith("M") and rows[alpha]["cpu"].endswith("%")
        assert "2 processes" in str(pane.border_subtitle)
        procs.stop(beta)
        await async_wait_until(lambda: names_shown(pane) == [alpha], what="beta gone")
        assert "1 process" in str(pane.border_subtitle)


async def test_a_pane_shown_again_lists_again_rather_than_show_an_old_list(tmp_path, procs):
    """A list had while the pane was hidden is old once it is shown: with a backend that
    polls (here once a minute) it would stand as current until the next poll, "No
    processes" for one started meanwhile. The pane lists again, saying so."""
    alpha, beta = names()
    log, other = tmp_path / "alpha.log", tmp_path / "other.log"
    log.write_text("")
    other.write_text("")
    profile = local_profile(alpha, beta, log, other).replace("targets_poll: 100ms",
                                                             "targets_poll: 60s")
    context = make_context(tmp_path, profile, backend=True)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:  # compact: only pane 1 shown
        pane = app.query_one(TargetsPane)
        await async_wait_until(lambda: pane.watch_paused, what="a list had while hidden")
        assert pane.targets == []
        procs.start(alpha)
        notes: list[str] = []
        statuses: list[str] = []
        show_note, set_status = pane._show_note, pane.set_status
        pane._show_note = lambda text: (notes.append(text), show_note(text))[1]
        pane.set_status = lambda text: (statuses.append(text), set_status(text))[1]
        await pilot.press("6")
        await async_wait_until(lambda: names_shown(pane) == [alpha], timeout=20,
                               what="listed again at once, not at the next poll")
        assert not any(note.startswith("No ") for note in notes), notes
        assert statuses[0] == "listing processes…" and statuses[-1] == "1 process"


async def test_filter_detail_and_logs_of_a_target(tmp_path, procs):
    context, alpha, beta = setup_local(tmp_path, procs)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("6")
        await async_wait_until(lambda: len(names_shown(pane)) == 2, what="listed")
        # / filters by name (and kind, state, reason); Esc clears
        await pilot.press("slash")
        for ch in beta:
            await pilot.press(ch)
        await pilot.press("enter")
        await async_wait_until(lambda: names_shown(pane) == [beta], what="filtered")
        assert "filter" in str(pane.border_subtitle)
        await pilot.press("escape")
        await async_wait_until(lambda: len(names_shown(pane)) == 2, what="filter cleared")
        # Enter: every field and the recent events; Esc back
        await select(pilot, pane, alpha)
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, TargetDetailScreen)
                               and app.screen.events is not None, what="the detail")
        detail = app.screen
        fields = str(detail.query_one("#fields").render())
        assert alpha in fields and str(procs.procs[alpha].pid) in fields
        assert "not set" in fields and "image" in fields  # every field accounted for
        assert "none recorded" in str(detail.query_one("#events").render())
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, TargetDetailScreen),
                               what="back")
        # l: the Logs pane narrowed to the target's lines (its log source, by name)
        logs = app.query_one(LogsPane)
        await async_wait_until(lambda: logs.received == 3, what="log lines read")
        await pilot.press("l")
        await async_wait_until(lambda: app.active_pane == 2, what="the Logs pane")
        await async_wait_until(lambda: logs.visible_lines() == ["alpha one", "alpha two"],
                               what="only the target's lines")
        assert logs.source_filter == alpha
        await pilot.press("escape")
        await async_wait_until(lambda: logs.visible_count == 3, what="every line again")
        # no log source tells beta's lines: l is not offered on it, nor s
        await pilot.press("6")
        await select(pilot, pane, beta)
        assert pane.check_action("logs", ()) is False
        assert pane.check_action("shell", ()) is False  # the local backend has no shell
        footer_keys = {b.binding.key for b in app.screen.active_bindings.values()
                       if b.binding.show and b.enabled}
        assert "l" not in footer_keys and "s" not in footer_keys and "o" in footer_keys
        await pilot.press("l")
        await pilot.pause()
        assert app.active_pane == 6
        await pilot.press("s")  # says the backend has none
        await async_wait_until(lambda: any("no interactive shell" in n.message
                                           for n in app._notifications), what="no shell")


async def test_a_paint_refreshes_the_footer_only_when_the_keys_offered_change(
        tmp_path, procs):
    """A footer refresh recomposes it and lays the screen out again: a paint every
    background slot that changes no key offered must not cause one (idle CPU)."""
    context, alpha, beta = setup_local(tmp_path, procs)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("6")
        await async_wait_until(lambda: len(names_shown(pane)) == 2, what="listed")
        await select(pilot, pane, alpha)
        assert pane.check_action("logs", ()) is True
        refreshed: list[int] = []
        pane.refresh_bindings = lambda: refreshed.append(1)  # type: ignore[method-assign]
        for _ in range(5):
            pane._paint()
        assert refreshed == []
        await select(pilot, pane, beta)  # no log source tells beta's lines: l goes
        assert refreshed and pane.check_action("logs", ()) is False


async def test_a_hidden_pane_stops_pulling_and_paints_when_shown(tmp_path, procs):
    """Hidden (compact layout, another pane shown), the pane paints nothing and stops
    asking the backend for lists; shown, it paints and pulls again."""
    context, _alpha, _beta = setup_local(tmp_path, procs)
    backend = context.backend
    stream = backend.watch_targets
    pulls: list[int] = []

    async def counted():
        async for targets in stream():
            yield targets
            pulls.append(1)  # runs only when the consumer asks for the next list

    backend.watch_targets = counted  # type: ignore[method-assign]
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        assert not pane.display  # pane 1 is shown in the compact layout
        await async_wait_until(lambda: pane.targets and pane.watch_paused,
                               what="the first list received, then the watch parked")
        for _ in range(3):
            await pilot.pause()
        assert pulls == [] and pane.painted_count == 0
        await pilot.press("6")
        await async_wait_until(lambda: pane.painted_count == 2, what="painted when shown")
        await async_wait_until(lambda: pulls, what="pulling again")


async def test_a_background_pane_paints_on_its_slot_and_at_once_when_focused(
        tmp_path, procs, monkeypatch):
    clock = [1000.5]  # the slot clock of background repaints: mid-slot
    monkeypatch.setattr("cockpit.tui.panes.base._slot_clock", lambda: clock[0])
    context, _alpha, beta = setup_local(tmp_path, procs,
                                       settings=UserSettings(background_refresh=60))
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)):  # the grid: pane 6 in view, not focused
        pane = app.query_one(TargetsPane)
        assert pane.display and not pane.has_focus_within
        await async_wait_until(lambda: pane.painted_count == 2, what="the first paint")
        procs.stop(beta)
        # the new list waits for the pane's next slot (~60 s away on the frozen clock)
        await async_wait_until(
            lambda: len(pane.targets) == 1 and pane.paint_timer is not None
            and pane.paint_timer._interval > 1.0, what="the paint put off to its slot")
        assert pane.painted_count == 2
        clock[0] = 1019.0  # the slot clock moves, still inside the slot: nothing yet
        assert pane.repaint_wait() > 1.0 and pane.painted_count == 2
        pane.focus_pane()
        await async_wait_until(lambda: pane.painted_count == 1, what="painted on focus")


async def test_pane_6_from_the_palette_and_what_it_says_without_targets(tmp_path):
    from textual.command import CommandInput, CommandList

    context = make_context(tmp_path, "name: t\nbackend:\n  kind: local\n"
                           "  processes: ['no-such-process-ck']\n", backend=True)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("colon")
        await async_wait_until(lambda: app.screen.query(CommandList), what="the palette")
        app.screen.query_one(CommandInput).value = "targets"
        commands = app.screen.query_one(CommandList)

        def hit() -> int | None:
            for i in range(commands.option_count):
                if "Go to pane: Targets (6)" in str(commands.get_option_at_index(i).prompt):
                    return i
            return None

        await async_wait_until(lambda: hit() is not None, what="the pane in the palette")
        commands.highlighted = hit()
        await pilot.press("enter")
        await async_wait_until(lambda: app.active_pane == 6 and pane.display, what="pane 6")
        note = pane.query_one("#targets-note")
        await async_wait_until(lambda: note.display, what="the note")
        assert "No processes: the local backend lists none" in str(note.render())
        assert "backend.processes" in str(note.render())  # how to pick processes
        assert str(pane.border_subtitle) == "0 processes"


class NoTargets(LocalBackend):
    capabilities = LocalBackend.capabilities & ~Capability.TARGETS


async def test_a_backend_without_targets_is_said_so(tmp_path):
    context = make_context(tmp_path, "name: t\n", backend=NoTargets())
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        pane = app.query_one(TargetsPane)
        assert "The local backend has no targets." in str(
            pane.query_one("#targets-note").render())
        assert not pane.supported
        assert not [w for w in app.workers if w.group == "targets"]  # nothing watched


async def test_the_list_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr("cockpit.tui.panes.targets.MAX_TARGETS", 5)
    context = make_context(tmp_path, "name: t\n", live=False)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        pane = app.query_one(TargetsPane)
        pane.show_targets([Target(str(i), f"p{i}", "process", "running") for i in range(8)])
        await async_wait_until(lambda: pane.painted_count == 5, what="the first five")
        assert "3 more not shown" in str(pane.border_subtitle)


def test_operations_offered_are_those_the_profile_enables(tmp_path):
    pytest.importorskip("docker")
    from cockpit.core.backends.docker import DockerBackend

    profile = ("name: t\nbackend:\n  kind: docker\n  host: unix:///nonexistent.sock\n"
               "  containers: [web]\n  operations: {kill: false, exec: false}\n")
    context = make_context(tmp_path, profile, backend=True)
    assert isinstance(context.backend, DockerBackend)  # never connected: data only
    pane = TargetsPane(context)
    web = Target("abc", "web", "container", "running")
    assert [action.id for _op, action in pane.operations_for(web)] == [
        "docker.restart", "docker.stop", "docker.pause"]  # only what a running one takes
    paused = Target("abc", "web", "container", "paused")
    assert [action.id for _op, action in pane.operations_for(paused)] == [
        "docker.restart", "docker.stop", "docker.unpause"]
    exited = Target("abc", "web", "container", "exited")
    assert [action.id for _op, action in pane.operations_for(exited)] == [
        "docker.start", "docker.restart"]
    assert pane.operations_for(Target("1", "x", "process", "running")) == []


async def test_an_operation_on_a_local_process_names_it_by_pid_and_is_recorded(
        tmp_path, procs):
    from textual.widgets import OptionList

    from cockpit.tui.screens.operations import OperationsScreen

    context, _alpha, beta = setup_local(tmp_path, procs)
    pid = procs.procs[beta].pid
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("6")
        await async_wait_until(lambda: len(names_shown(pane)) == 2, what="listed")
        await select(pilot, pane, beta)
        await pilot.press("o")
        await async_wait_until(lambda: isinstance(app.screen, OperationsScreen),
                               what="the operations")
        options = app.screen.query_one(OptionList)
        offered = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert offered == ["local.terminate", "local.kill"]
        await pilot.press("enter")  # terminate: the process param is the pid
        await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen)
                               and app.screen.query("#command"), what="the confirmation")
        assert str(app.screen.query_one("#command").render()) == f"kill -s TERM {pid}"
        app.screen.query_one("#confirm").press()
        await async_wait_until(lambda: finals(context), timeout=30, what="the outcome")
        [final] = finals(context)
        assert final["action"] == "local.terminate" and final["status"] == "succeeded"
        assert final["command"] == f"kill -s TERM {pid}"
        procs.procs[beta].wait(10)  # it is gone
        await async_wait_until(lambda: beta not in names_shown(pane), what="off the list")


# -- the shell from the pane ------------------------------------------------------------


class ShellBackend(LocalBackend):
    """A local backend whose targets have a "shell": a short real command."""

    def shell_argv(self, target: Target) -> list[str] | None:
        return ["sh", "-c", "exit 3"]


def shell_context(tmp_path: Path, procs: Procs, **kwargs):
    alpha, _beta = names()
    procs.start(alpha)
    context = make_context(tmp_path, "name: t\n", **kwargs, backend=ShellBackend(
        {"processes": [alpha], "targets_poll": 0.1}))
    return context, alpha


async def open_shell_prompt(app, pilot, alpha: str) -> ConfirmScreen:
    pane = app.query_one(TargetsPane)
    await pilot.press("6")
    await async_wait_until(lambda: names_shown(pane) == [alpha], what="listed")
    assert pane.check_action("shell", ()) is True
    await pilot.press("s")
    await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="asked")
    return app.screen


async def test_s_asks_with_the_command_then_hands_the_terminal_over_and_records(
        tmp_path, procs):
    context, alpha = shell_context(tmp_path, procs)
    app = CockpitApp(context)
    suspended = []

    @contextmanager
    def suspend():  # the headless driver cannot suspend: only this boundary is replaced
        suspended.append(signal.getsignal(signal.SIGINT))
        yield

    async with app.run_test(size=(80, 24)) as pilot:
        app.suspend = suspend  # type: ignore[method-assign]
        sigint = signal.getsignal(signal.SIGINT)
        screen = await open_shell_prompt(app, pilot, alpha)
        assert "sh -c 'exit 3'" in str(screen.query_one("#command").render())
        assert not finals(context)  # nothing recorded while asking
        screen.query_one("#confirm").press()
        await async_wait_until(lambda: len(finals(context)) == 1, what="the session recorded")
        assert suspended  # the real `sh -c 'exit 3'` ran inside app.suspend()
        assert signal.getsignal(signal.SIGINT) == sigint  # restored after
        started, final = trail(context)
        assert started["status"] == "started" and started["action"] == "shell"
        assert final["status"] == "failed" and final["exit_code"] == 3
        assert final["target"] == alpha and final["command"] == "sh -c 'exit 3'"
        assert final["source"] == {"kind": "tui", "pane": "targets"}
        await async_wait_until(lambda: any("exit status 3" in n.message
                                           for n in app._notifications), what="told")


async def test_the_shell_declined_or_unsuspendable_is_recorded(tmp_path, procs):
    context, alpha = shell_context(tmp_path, procs)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_shell_prompt(app, pilot, alpha)
        screen.query_one("#cancel").press()
        await async_wait_until(lambda: len(finals(context)) == 1, what="the refusal")
        assert finals(context)[0]["reason_codes"] == ["NOT_CONFIRMED"]
        # the headless driver cannot hand the terminal over: an error, on record
        screen = await open_shell_prompt(app, pilot, alpha)
        screen.query_one("#confirm").press()
        await async_wait_until(lambda: len(finals(context)) == 2, what="the error")
        final = finals(context)[-1]
        assert final["status"] == "error" and "SuspendNotSupported" in final["message"]


async def test_a_read_only_cockpit_refuses_the_shell_without_asking(tmp_path, procs):
    context, alpha = shell_context(tmp_path, procs, read_only=True)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("6")
        await async_wait_until(lambda: names_shown(pane) == [alpha], what="listed")
        await pilot.press("s")
        await async_wait_until(lambda: finals(context), what="the refusal")
        assert not isinstance(app.screen, ConfirmScreen)
        assert finals(context)[0]["reason_codes"] == ["READ_ONLY"]


# -- cockpit targets ------------------------------------------------------------------


def test_cockpit_targets_lists_local_processes(tmp_path, procs, capsys, monkeypatch):
    alpha, _beta = names()
    procs.start(alpha)
    path = tmp_path / "p.yaml"
    path.write_text(f"name: t\nbackend:\n  kind: local\n  processes: ['{alpha}']\n")
    assert main(["targets", "--profile", str(path), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["kind"] == "process" and row["name"] == alpha
    assert row["id"] == str(procs.procs[alpha].pid)
    assert row["health"] == {"state": "ok", "reason": row["state"]}
    assert {"scope", "parent", "restarts", "started_at"} <= set(row)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["targets", "--profile", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["KIND", "NAME", "ID", "STATE", "HEALTH"]
    assert alpha in out[1] and "✓ ok" in out[1] and "\x1b" not in "".join(out)
    assert str(procs.procs[alpha].pid) in out[1].split()  # the pid local.terminate takes
    assert alpha in row["command"] and "sys.stdin.read()" in row["command"]  # what matched


def test_cockpit_targets_exit_statuses(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text("name: t\nbackend:\n  kind: local\n  processes: ['no-such-proc-ck']\n")
    assert main(["targets", "--profile", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["targets", "--profile", str(path)]) == 0
    assert "no process targets" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        main(["targets", "--profile", str(path), "--bogus"])
    assert usage.value.code == 2
    assert main(["targets", "--profile", str(tmp_path / "none.yaml")]) == 2


def test_a_shell_is_as_dangerous_as_the_profiles_exec(tmp_path):
    """docker-demo sets `exec: dangerous`; the shell (which can do what exec does) then asks
    to type its id, not a yes (a new user's trial found it only cautious)."""
    from cockpit.core.actions.shell import prepare_shell

    context = make_context(tmp_path, "name: s\nbackend: {kind: local, processes: [x]}\n")
    runner = context.runner
    assert prepare_shell(runner, "web", ["sh"]).action.danger == "caution"
    exec_action = runner.loaded.profile.actions[0].model_copy(
        update={"id": "local.exec", "danger": "dangerous"})
    runner.loaded.profile.actions.append(exec_action)
    assert prepare_shell(runner, "web", ["sh"]).action.danger == "dangerous"


async def test_a_state_that_grows_longer_widens_its_column(tmp_path):
    """paused -> running showed "runnin": the column kept the width of "paused"."""
    from textual.widgets._data_table import ColumnKey

    context = make_context(tmp_path, "name: t\n", live=False)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        pane = app.query_one(TargetsPane)
        pane.show_targets([Target("a1", "web", "container", "paused",
                                  health=Health("fail", "paused"))])
        await async_wait_until(lambda: pane.painted_count == 1, what="the paused row")

        def state_width() -> int:
            return pane.table.columns[ColumnKey("state")].width

        await async_wait_until(lambda: state_width() == len("paused"), what="fitted")
        pane.show_targets([Target("a1", "web", "container", "running",
                                  health=Health("ok", "running"))])
        await async_wait_until(lambda: state_width() >= len("running"),
                               what="the column widened")


async def test_an_unreachable_backend_is_said_in_the_status_not_listed_as_a_target(tmp_path):
    """The docker engine gone: the pane says why and retries; no made-up row is counted
    as a container or offered keys (a new user's trial saw `1 container · 1 failing`)."""
    from cockpit.core.errors import CockpitError

    context = make_context(tmp_path, "name: t\nbackend: {kind: local, processes: [x]}\n")
    calls = []

    async def gone():
        calls.append(1)
        raise CockpitError("the docker engine at unix:///nope.sock is unreachable")
        yield []  # pragma: no cover - an async generator

    context.backend.watch_targets = gone  # type: ignore[method-assign]
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        pane = app.query_one(TargetsPane)
        await async_wait_until(lambda: "unreachable" in str(pane.border_subtitle),
                               what="the problem in the status")
        assert "cannot list targets" in str(pane.border_subtitle)
        assert pane.targets == [] and pane.table.row_count == 0


def test_an_operation_names_a_fleet_target_by_what_no_other_target_shares() -> None:
    """Two contexts with the same deployment: the selected row's id goes to the param,
    never the shared alias (which would act on the first context's)."""
    from cockpit.core.config.models import Action
    from cockpit.tui.panes.targets import target_value

    eu = Target("eu/shop/deployment/api", "api", "deployment", "Ready",
                aliases=("deployment/api", "api", "shop/deployment/api"))
    us = Target("us/shop/deployment/api", "api", "deployment", "Ready",
                aliases=("deployment/api", "api", "shop/deployment/api"))
    db = Target("us/shop/statefulset/db", "db", "statefulset", "Ready",
                aliases=("statefulset/db", "db", "shop/statefulset/db"))
    action = Action.model_validate({"id": "kubernetes.scale", "operation": "scale",
                                    "target": "{target}", "params": [{"name": "target"}]})
    assert target_value(action, "target", us, [eu, us, db]) == "us/shop/deployment/api"
    assert target_value(action, "target", db, [eu, us, db]) == "db"  # unique: short
    assert target_value(action, "target", us, [us]) == "api"


async def test_l_is_offered_on_a_pod_of_a_workload_whose_logs_are_followed(tmp_path) -> None:
    """k9s's most used key: a `target` log source on a workload covers its pods too."""
    from tests.tui_support import PaneHarness

    context = make_context(tmp_path, """
        name: pods
        backend: {kind: kubernetes}
        logs:
          - {name: api, kind: target, targets: [deployment/api]}
        """)  # loaded for kubernetes, run on a local backend (nothing is connected)
    api = Target("shop/deployment/api", "api", "deployment", "Ready",
                 aliases=("deployment/api", "shop/deployment/api"))
    pod = Target("shop/pod/api-1", "api-1", "pod", "Running", parent=api.id,
                 aliases=("pod/api-1", "shop/pod/api-1"))
    lone = Target("shop/pod/lone", "lone", "pod", "Running", aliases=("pod/lone",))
    app = PaneHarness(lambda: TargetsPane(context))
    async with app.run_test(size=(100, 20)):
        pane = app.query_one(TargetsPane)
        pane.show_targets([api, pod, lone])
        await async_wait_until(lambda: pane.painted_count == 3, what="three rows")
        assert pane.logs_for(pane.targets[1]) and pane.targets[1].name == "api-1"
        assert pane.logs_for(pane.targets[0])  # the workload itself
        assert not pane.logs_for(pane.targets[2])  # a pod of nothing followed


async def test_rows_say_stale_when_the_list_cannot_be_had_again(tmp_path) -> None:
    """The cluster went away: the rows shown claim no health until a listing comes."""
    from tests.tui_support import PaneHarness

    context = make_context(tmp_path, "name: t\n")
    up = Target("ns/deployment/api", "api", "deployment", "Ready", health=Health("ok", "1/1"))
    app = PaneHarness(lambda: TargetsPane(context))
    async with app.run_test(size=(100, 20)):
        pane = app.query_one(TargetsPane)
        pane.focus_pane()
        pane.show_targets([up])

        def health() -> str:
            return str(pane.table.get_cell_at((0, pane._columns.index("health"))))

        await async_wait_until(lambda: health() == "✓ ok", what="the row, ok")
        pane._fail("cannot reach salvage-eu (http://127.0.0.1:1): connection refused")
        await async_wait_until(lambda: health() == "? stale", what="the row, stale")
        assert "cannot reach salvage-eu" in str(pane.border_subtitle)
        pane.show_targets([up])  # a listing again
        await async_wait_until(lambda: health() == "✓ ok", what="known again")
