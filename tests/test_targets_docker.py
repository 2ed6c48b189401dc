"""The Targets pane and ``cockpit targets`` against a real, private dockerd (the
``engine`` fixture, tests/docker_support.py): containers with their health from the
event stream, the detail's recent events, ``l`` on a container's logs, an operation from
the pane through its confirmation into the trail. Skipped without dockerd (a failure
with CI=true)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import OptionList

from cockpit.cli.main import main
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.panes.targets import TargetsPane
from cockpit.tui.screens.confirm import ConfirmScreen
from cockpit.tui.screens.operations import OperationsScreen
from cockpit.tui.screens.target_detail import TargetDetailScreen
from tests.docker_support import run
from tests.support import async_wait_until
from tests.test_targets import cells, names_shown, select
from tests.tui_support import finals, make_context

LOOP = "sh -c 'trap \"exit 0\" TERM; while true; do echo tick-$(hostname); sleep 0.3; done'"
SECOND = 1_000_000_000  # nanoseconds, for healthcheck settings


def healthy(client) -> str:
    return run(client, LOOP, healthcheck={"test": ["CMD", "true"], "interval": SECOND // 5,
                                          "retries": 1})


def sick(client) -> str:
    return run(client, LOOP, healthcheck={
        "test": ["CMD-SHELL", "echo db down; exit 1"], "interval": SECOND // 5,
        "retries": 1})


def profile(engine, *names: str) -> str:
    listed = ", ".join(f'"{n}"' for n in names)
    return f"""
name: docker-targets
backend:
  kind: docker
  host: {engine.host}
  containers: [{listed}]
logs:
  - {{name: containers, kind: target, backlog: 5}}
"""


def row_of(pane: TargetsPane, name: str) -> dict[str, str]:
    return next(r for r in cells(pane) if r["name"].strip() == name)


async def test_the_pane_shows_containers_with_their_health_and_events(
        engine, docker_client, tmp_path):
    good, bad = healthy(docker_client), sick(docker_client)
    # unhealthy before the cockpit starts: its detail still tells it (the first event
    # stream replays the minutes before the start)
    await async_wait_until(
        lambda: docker_client.api.inspect_container(bad)["State"]["Health"]["Status"]
        == "unhealthy", timeout=30, what="the sick container unhealthy")
    context = make_context(tmp_path, profile(engine, good, bad), backend=True)
    app = CockpitApp(context)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(TargetsPane)
            await pilot.press("6")
            await async_wait_until(
                lambda: sorted(names_shown(pane)) == sorted([good, bad])
                and row_of(pane, good)["health"] == "✓ ok"
                and row_of(pane, bad)["health"] == "✗ FAIL", timeout=30,
                what="both containers with their health")
            assert [t.kind for t in pane.targets] == ["container", "container"]
            assert row_of(pane, good)["reason"] == "running · healthy"
            assert row_of(pane, bad)["reason"].startswith("unhealthy: db down")
            assert row_of(pane, good)["state"] == "running"
            assert "2 containers · 1 failing" in str(pane.border_subtitle)
            # the detail has the events the engine's stream told
            await select(pilot, pane, bad)
            await pilot.press("enter")
            await async_wait_until(lambda: isinstance(app.screen, TargetDetailScreen)
                                   and app.screen.events is not None, what="the detail")
            events = str(app.screen.query_one("#events").render())
            assert "health unhealthy" in events
            await pilot.press("escape")
    finally:
        await context.backend.close()


async def test_l_shows_one_containers_lines(engine, docker_client, tmp_path):
    first, second = healthy(docker_client), healthy(docker_client)
    context = make_context(tmp_path, profile(engine, first, second), backend=True)
    app = CockpitApp(context)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(TargetsPane)
            logs = app.query_one(LogsPane)
            await pilot.press("6")
            await async_wait_until(lambda: len(names_shown(pane)) == 2, timeout=30,
                                   what="listed")
            await select(pilot, pane, second)
            assert pane.check_action("logs", ())  # a `target` log source covers it
            await pilot.press("l")
            await async_wait_until(lambda: app.active_pane == 2, what="the Logs pane")
            assert logs.source_filter == second
            await async_wait_until(lambda: logs.visible_count >= 2, timeout=20,
                                   what="its lines")
            shown = logs.visible_lines()
            assert all(line.startswith("tick-") for line in shown)
            assert len(set(shown)) == 1  # one container's hostname only
            assert logs.line_count > logs.visible_count or logs.line_count == len(shown)
    finally:
        await context.backend.close()


async def test_an_operation_from_the_pane_is_confirmed_with_its_preview_and_recorded(
        engine, docker_client, tmp_path):
    name = healthy(docker_client)
    before = docker_client.containers.get(name).attrs["State"]["StartedAt"]
    context = make_context(tmp_path, profile(engine, name), backend=True)
    app = CockpitApp(context)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(TargetsPane)
            await pilot.press("6")
            await async_wait_until(lambda: names_shown(pane) == [name], timeout=30,
                                   what="listed")
            assert pane.check_action("operations", ()) and pane.check_action("shell", ())
            await pilot.press("o")
            await async_wait_until(lambda: isinstance(app.screen, OperationsScreen),
                                   what="the operations")
            options = app.screen.query_one(OptionList)
            offered = [options.get_option_at_index(i).id for i in range(options.option_count)]
            assert offered == ["docker.restart", "docker.stop", "docker.kill",
                               "docker.pause", "docker.exec"]  # what a running one takes
            options.highlighted = offered.index("docker.restart")
            await pilot.press("enter")
            # the container param was filled in: no form, the confirmation shows the command
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen)
                                   and app.screen.query("#command"), what="the confirmation")
            command = str(app.screen.query_one("#command").render())
            assert command == f"docker -H {engine.host} restart {name}"
            assert not finals(context)
            app.screen.query_one("#confirm").press()
            await async_wait_until(lambda: finals(context), timeout=60, what="the outcome")
            [final] = finals(context)
            assert final["action"] == "docker.restart" and final["status"] == "succeeded"
            assert final["command"] == f"docker -H {engine.host} restart {name}"
            assert final["operation"] == {"name": "restart", "target": name, "args": {}}
            after = docker_client.containers.get(name).attrs["State"]["StartedAt"]
            assert after != before
            # exec needs more than the container: the form opens with it filled in
            await pilot.press("o")
            await async_wait_until(lambda: isinstance(app.screen, OperationsScreen),
                                   what="the operations again")
            options = app.screen.query_one(OptionList)
            options.highlighted = offered.index("docker.exec")
            await pilot.press("enter")
            from cockpit.tui.screens.params import ParamFormScreen

            await async_wait_until(lambda: isinstance(app.screen, ParamFormScreen)
                                   and app.screen.query("#param-command"), what="the form")
            assert app.screen.raw_values() == {"container": name}
            assert app.focused is app.screen.query_one("#param-command")
            await pilot.press("escape")
    finally:
        await context.backend.close()


def test_cockpit_targets_json_against_docker(engine, docker_client, tmp_path, capsys):
    good, bad = healthy(docker_client), sick(docker_client)
    path = tmp_path / "p.yaml"
    path.write_text(profile(engine, good, bad, "absent-ck"))
    from tests.support import wait_until

    def listed() -> dict[str, dict]:
        assert main(["targets", "--profile", str(path), "--json"]) == 0
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
        return rows if rows[bad]["health"]["state"] == "fail" \
            and rows[good]["health"]["state"] == "ok" else {}

    rows = wait_until(listed, timeout=30, what="the health checks to settle")
    assert rows[good]["kind"] == "container" and rows[good]["state"] == "running"
    assert rows[good]["health"] == {"state": "ok", "reason": "running · healthy"}
    assert rows[good]["restarts"] == 0 and rows[good]["started_at"] > 0
    assert rows[bad]["health"]["reason"].startswith("unhealthy: db down")
    assert rows["absent-ck"]["state"] == "missing"
    assert main(["targets", "--profile", str(path)]) == 0
    out = capsys.readouterr().out
    assert "✗ FAIL" in out and "✓ ok" in out and "missing" in out


def test_cockpit_targets_exits_1_when_the_engine_is_unreachable(tmp_path, capsys):
    pytest.importorskip("docker")
    path = tmp_path / "p.yaml"
    path.write_text(f"name: t\nbackend:\n  kind: docker\n  host: unix://{tmp_path}/no.sock\n")
    assert main(["targets", "--profile", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot list the targets" in captured.err
    assert Path(tmp_path / "no.sock").name in captured.err


async def test_cpu_and_memory_show_where_a_stats_stream_is_open(engine, docker_client,
                                                                tmp_path):
    """A container's CPU and memory come with the list once its stats stream is open (a
    ``kind: target`` metric opens it); the list never opens one itself."""
    from cockpit.core.backends.docker import DockerBackend

    name = healthy(docker_client)
    backend = DockerBackend({"host": engine.host, "containers": [name]})
    try:
        await backend.connect()
        (listed,) = await backend.list_targets()  # waits for the first listing
        assert listed.mem_bytes is None and not backend.stats._running  # none opened
        await backend.target_stats(name)  # what a target metric does: opens the stream

        async def with_memory() -> bool:
            (target,) = await backend.list_targets()
            return target.mem_bytes is not None and target.mem_bytes > 0

        await async_wait_until(with_memory, timeout=30, what="memory in the list")
    finally:
        await backend.close()

