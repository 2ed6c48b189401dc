"""The Health pane takes over a first probe round already running in a forked child.

The child is stood in for by a pipe the test writes the child's lines into, and a real
process that records the SIGTERM the pane sends it to stop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.core.sources.early_probes import EarlyProbes
from cockpit.tui.app import CockpitApp
from cockpit.tui.header import CockpitHeader
from cockpit.tui.panes.health import HealthPane
from tests.support import LoopbackHTTP, async_wait_until, free_port, wait_until
from tests.tui_support import PaneHarness, make_context

#: The stand-in child: says it is ready, then records a SIGTERM in a file and ends.
_CHILD = r"""
import pathlib, signal, sys
flag = pathlib.Path(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *a: (flag.write_text("TERM"), sys.exit(0)))
pathlib.Path(sys.argv[1]).write_text("ready")
signal.pause()  # until the pane (or the test's clean-up) stops it
"""


class FakeRound:
    """An ``EarlyProbes`` over a pipe the test writes, and a stand-in child process."""

    def __init__(self, tmp_path: Path, names: list[str], within: float = 60.0) -> None:
        ready, self.flag = tmp_path / "ready", tmp_path / "term"
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(ready), str(self.flag)])
        wait_until(ready.exists, what="the stand-in child")
        read_fd, self._write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self.early = EarlyProbes(self.proc.pid, read_fd, names, time.monotonic() + within)

    def send(self, name: str, state: str, reason: str) -> None:
        row = [name, state, 1.0, reason, time.time(), None, ""]
        os.write(self._write_fd, json.dumps([name, [row]]).encode() + b"\n")

    def end(self) -> None:
        os.close(self._write_fd)
        self._write_fd = -1

    def terminated(self) -> bool:
        return self.flag.exists()

    def close(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server() -> Iterator[LoopbackHTTP]:
    hits: list[str] = []
    srv = LoopbackHTTP(lambda path: (hits.append(path), (200, "text/plain", b"OK"))[1])
    srv.hits = hits  # type: ignore[attr-defined]
    yield srv
    srv.close()


def _profile(url: str) -> str:
    return f"""
        name: t
        health:
          - {{name: api, kind: http, url: "{url}/health", interval: 1h}}
          - {{name: port, kind: tcp, host: 127.0.0.1, port: {free_port()}, interval: 1h}}
    """


def _pane_app(tmp_path: Path, server: LoopbackHTTP, fake: FakeRound) -> PaneHarness:
    """A Health pane over the test's profile, handed ``fake``'s round to take over."""
    context = make_context(tmp_path, _profile(server.url))
    context.early_probes = fake.early
    return PaneHarness(lambda: HealthPane(context))


def _reason(pane: HealthPane, name: str) -> str | None:
    found = [row.reason for row in pane.rows if row.name == name]
    return found[0] if found else None


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeRound]:
    round_ = FakeRound(tmp_path, ["api", "port"])
    yield round_
    round_.close()


async def test_rows_ready_at_mount_are_in_the_first_frame_and_not_probed_again(
        tmp_path, server, fake, monkeypatch):
    fake.send("api", "ok", "from the child")
    fake.send("port", "ok", "from the child too")
    fake.end()
    context = make_context(tmp_path, _profile(server.url))
    context.early_probes = fake.early
    first: list[str] = []
    render = CockpitHeader.render

    def recorded(self):
        shown = render(self)
        first.append(shown.plain)
        return shown

    monkeypatch.setattr(CockpitHeader, "render", recorded)
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)):
        pane = app.panes[1]
        assert "healthy" in first[0]  # the header's first paint already has the round
        assert _reason(pane, "api") == "from the child"
        assert _reason(pane, "port") == "from the child too"
        assert context.early_probes is None  # taken by the pane
        assert pane._early is None  # the round is over: nothing left to read
    assert server.hits == []  # nothing was probed again in-process
    assert not fake.terminated()  # it had ended by itself


async def test_rows_are_taken_as_they_come_and_the_rest_probed_here(tmp_path, server, fake):
    app = _pane_app(tmp_path, server, fake)
    async with app.run_test(size=(100, 20)):
        pane = app.query_one(HealthPane)
        assert pane.rows == []  # nothing yet: both wait for the child
        fake.send("api", "ok", "from the child")
        await async_wait_until(lambda: _reason(pane, "api") == "from the child",
                               what="the child's api row")
        assert _reason(pane, "port") is None  # still the child's to report
        fake.end()  # it ends without reporting port: probed here (nothing listens)
        await async_wait_until(lambda: _reason(pane, "port") == "connection refused",
                               what="port probed in-process")
        assert _reason(pane, "api") == "from the child"
    assert server.hits == []


async def test_a_reprobe_does_not_run_again_what_the_child_still_runs(
        tmp_path, server, fake):
    app = _pane_app(tmp_path, server, fake)
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(HealthPane)
        await pilot.press("ctrl+r")
        assert pane._inflight == set()  # no second copy of a probe the child runs
        fake.send("api", "ok", "from the child")
        fake.send("port", "ok", "from the child too")
        await async_wait_until(lambda: pane._early is None, what="the round taken")
        assert _reason(pane, "api") == "from the child"
        await pilot.press("ctrl+r")  # the round over: probed here
        await async_wait_until(lambda: _reason(pane, "api") == "HTTP 200", what="api")
    assert len(server.hits) == 1


async def test_a_child_past_its_deadline_is_stopped_and_its_probes_run_here(
        tmp_path, server):
    fake = FakeRound(tmp_path, ["api", "port"], within=0.5)  # and it never writes
    try:
        app = _pane_app(tmp_path, server, fake)
        async with app.run_test(size=(100, 20)):
            pane = app.query_one(HealthPane)
            assert pane.rows == []
            await async_wait_until(lambda: _reason(pane, "port") == "connection refused",
                                   what="port probed here")
            await async_wait_until(lambda: _reason(pane, "api") == "HTTP 200", what="api")
            await async_wait_until(fake.terminated, what="the child told to stop")
    finally:
        fake.close()


async def test_leaving_mid_round_stops_the_child(tmp_path, server, fake):
    app = _pane_app(tmp_path, server, fake)
    async with app.run_test(size=(100, 20)):
        pane = app.query_one(HealthPane)
        assert pane._early is fake.early
    wait_until(fake.terminated, what="the child told to stop")
    assert server.hits == []


async def test_a_child_ending_while_the_cockpit_quits_starts_nothing_here(
        tmp_path, server, fake):
    """A hang-up reaches the child too: it ends at the same moment the cockpit quits.
    Its unreported probes are not started in-process then (nothing would stop them)."""
    app = _pane_app(tmp_path, server, fake)
    async with app.run_test(size=(100, 20)):
        pane = app.query_one(HealthPane)
        fake.end()
        app.exit(None, 129)  # the hang-up's quit, before the child's end is read
        pane._take_early()  # (as the loop calls it when the pipe says end-of-file)
        assert pane._early is None and pane._inflight == set()
    assert server.hits == []





@pytest.mark.parametrize("connects", [True, False])
async def test_the_ui_connects_once_the_first_round_is_shown_when_the_child_connects(
        tmp_path, server, fake, connects, monkeypatch):
    """A child that runs a target probe connects the backend on its own (a kubernetes
    SDK's import, its lists): the UI's own connection, whose import would hold the
    interpreter while the first frame is made, then waits for the panes held back until
    the first round is on screen. Otherwise it starts at mount, as before."""
    import cockpit.tui.app as app_module

    monkeypatch.setattr(app_module, "HOLD_PANES_AT_MOST", 3600.0)  # only the round
    context = make_context(tmp_path, _profile(server.url))
    fake.early.connects = connects
    context.early_probes = fake.early
    app = CockpitApp(context)
    app.hold_panes = True  # as on a real terminal (run_test's is headless)
    connected: list[str] = []  # the first round's rows shown by then, by name
    real = context.backend.ensure_connected

    async def ensure_connected() -> None:
        connected.append(",".join(sorted(row.name for row in app.panes[1].rows)))
        await real()

    context.backend.ensure_connected = ensure_connected  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        if connects:
            assert connected == []  # the round is awaited: the panes are held
            fake.send("api", "ok", "200")
            fake.send("port", "ok", "open")
        await async_wait_until(lambda: connected, what="the connection")
        assert connected[0] == ("api,port" if connects else "")
