"""Health pane against a real loopback HTTP server and a closed TCP port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from cockpit.core.sources.health import HealthRow
from cockpit.tui.panes.health import HealthPane, format_age, format_latency
from tests.support import LoopbackHTTP, async_wait_until, free_port
from tests.tui_support import FROZEN_TIME, PaneHarness, make_context

HEALTHY = {"status": "healthy", "checks": {"database": "healthy", "cache": {"status": "ok"}}}
DEGRADED = {
    "status": "degraded",
    "checks": {"database": "healthy", "cache": {"status": "degraded", "detail": "evictions"}},
}
DOWN = {"status": "unhealthy", "checks": {"database": "down"}}


class HealthServer(LoopbackHTTP):
    """A loopback /health whose answer the test switches; counts requests."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = HEALTHY
        self.status = 200
        self.hits = 0

        def respond(path: str) -> tuple[int, str, bytes]:
            self.hits += 1
            return self.status, "application/json", json.dumps(self.body).encode()

        super().__init__(respond)


@pytest.fixture
def server() -> Iterator[HealthServer]:
    srv = HealthServer()
    yield srv
    srv.close()


def profile(url: str, closed_port: int) -> str:
    return f"""
        name: t
        health:
          - name: api
            kind: http
            url: {url}/health
            interval: 1h
            timeout: 2s
          - name: port
            kind: tcp
            host: 127.0.0.1
            port: {closed_port}
            interval: 1h
            timeout: 1s
    """


class Harness(PaneHarness):
    """Records the pane's Updated messages."""

    def __init__(self, factory) -> None:
        super().__init__(factory)
        self.updates: list[HealthPane.Updated] = []

    def on_health_pane_updated(self, message: HealthPane.Updated) -> None:
        self.updates.append(message)


def cells(pane: HealthPane, key: str) -> list[str]:
    return [cell.plain for cell in pane.table.get_row(key)]


def keys(pane: HealthPane) -> list[str]:
    return [str(row.key.value) for row in pane.table.ordered_rows]


async def test_live_probes_subchecks_refresh_and_updates(
    tmp_path: Path, server: HealthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    context = make_context(tmp_path, profile(server.url, free_port()))
    app = Harness(lambda: HealthPane(context))
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(HealthPane)
        await async_wait_until(lambda: len(pane.rows) == 4, what="all probe rows")
        assert keys(pane) == ["api", "api/database", "api/cache", "port"]
        api = cells(pane, "api")
        assert api[0] == "✓ ok" and "ok" in api[0]
        assert api[1] == "api" and api[2].endswith(" ms") and api[4] == ""
        assert cells(pane, "api/database")[:2] == ["✓ ok", "  └ database"]
        port = cells(pane, "port")
        assert "FAIL" in port[0] and port[4] == "connection refused"
        assert pane.overall == "fail"
        await async_wait_until(lambda: len(app.updates) >= 2, what="one update per probe")
        assert all(u.overall in ("fail", "unknown") for u in app.updates)
        assert app.updates[-1].overall == "fail"
        assert {r.name for u in app.updates for r in u.rows} == {
            "api", "api/database", "api/cache", "port"}

        # The interval is an hour: only ctrl+r can probe again, and it does at once.
        hits = server.hits
        server.body = DEGRADED
        updates = len(app.updates)
        await pilot.press("ctrl+r")
        await async_wait_until(lambda: server.hits > hits, timeout=3, what="re-probe")
        await async_wait_until(lambda: "FAIL" in cells(pane, "api")[0], what="api fails")
        assert cells(pane, "api")[4] == 'status "degraded"'
        assert cells(pane, "api/cache")[0] == "✗ FAIL"
        assert cells(pane, "api/cache")[4] == "degraded: evictions"
        assert cells(pane, "api/database")[0] == "✓ ok"
        await async_wait_until(lambda: len(app.updates) >= updates + 2, what="updates")

        # Sub-checks vanish: the table is rebuilt in order, the cursor stays on its row.
        await pilot.press("j", "j", "j")
        assert pane.table.cursor_row == 3
        server.status, server.body = 503, DOWN
        await pilot.press("ctrl+r")
        await async_wait_until(lambda: keys(pane) == ["api", "api/database", "port"],
                               what="rebuilt table")
        assert pane.table.cursor_row == 2
        assert "HTTP 503" in cells(pane, "api")[4]
        await pilot.press("k")
        assert pane.table.cursor_row == 1

        # Ages tick (once a second, visible rows only).
        await async_wait_until(lambda: cells(pane, "port")[3] not in ("0s", "-"), timeout=5,
                               what="age tick")

        # Enter: a detail notification with the URL and the reason.
        await pilot.press("k", "enter")
        await async_wait_until(lambda: list(app._notifications), what="notification")
        note = list(app._notifications)[-1]
        assert server.url + "/health" in note.message and "HTTP 503" in note.message


async def test_show_rows_offline_is_deterministic(tmp_path: Path) -> None:
    context = make_context(tmp_path, profile("http://127.0.0.1:9", 9), live=False)
    app = Harness(lambda: HealthPane(context))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(HealthPane)
        assert cells(pane, "api")[0] == "… wait" and pane.overall == "unknown"
        pane.show_rows([
            HealthRow("api", "ok", 34.2, "HTTP 200", FROZEN_TIME - 3),
            HealthRow("api/db", "unknown", None, "no status", FROZEN_TIME - 3, "api"),
            HealthRow("port", "ok", 0.42, "connected", FROZEN_TIME - 125),
        ])
        await pilot.pause()
        assert cells(pane, "api") == ["✓ ok", "api", "34 ms", "<10s", ""]
        assert cells(pane, "api/db") == ["? n/a", "  └ db", "-", "<10s", "no status"]
        assert cells(pane, "port")[2:4] == ["0.4 ms", "2m"]
        assert pane.overall == "unknown"
        assert app.updates[-1].overall == "unknown"
        # Nothing changed: no cell is written (no repaint), neither by the age tick.
        writes = pane.table._update_count
        pane.show_rows([HealthRow("port", "ok", 0.42, "connected", FROZEN_TIME - 125)])
        pane._tick_ages()
        assert pane.table._update_count == writes
        pane.show_rows([HealthRow("api/db", "ok", 1.0, "ok", FROZEN_TIME, "api"),
                        HealthRow("api", "ok", 30.0, "HTTP 200", FROZEN_TIME)])
        await pilot.pause()
        assert [r.name for r in pane.rows] == ["api", "api/db", "port"]
        assert pane.overall == "ok"
        assert app.updates[-1].overall == "ok"
        assert isinstance(pane.table, DataTable)


def test_formatting() -> None:
    assert format_latency(None) == "-"
    assert format_latency(34.4) == "34 ms"
    assert format_latency(2.54) == "2.5 ms"
    assert format_latency(12_345) == "12.3 s"
    assert [format_age(s) for s in (-1, 3.9, 14.9, 61, 7200, 200_000)] == [
        "<10s", "<10s", "10s", "1m", "2h", "2d"]


async def test_crash_guard_small_terminal(tmp_path: Path, server: HealthServer) -> None:
    context = make_context(tmp_path, profile(server.url, free_port()))
    app = Harness(lambda: HealthPane(context))
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(HealthPane)
        await async_wait_until(lambda: len(pane.rows) == 4, what="rows")
        for key in ("j", "j", "k", "enter", "ctrl+r", "j", "j", "j", "j", "enter"):
            await pilot.press(key)
        await pilot.pause()
        await async_wait_until(lambda: not pane._inflight, what="probes done")
        assert app.is_running


async def test_rows_of_the_same_name_do_not_freeze_the_pane(tmp_path: Path) -> None:
    """Two processes called "sleep" gave two rows keyed alike: the table refused the
    second, the probe was never re-armed and the pane froze (a new user found it)."""
    import time

    from cockpit.core.sources.health import HealthRow

    context = make_context(tmp_path, "name: dup\n", live=False)
    app = Harness(lambda: HealthPane(context))
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(HealthPane)
        now = time.time()

        def rows(state: str) -> list[HealthRow]:
            return [HealthRow("procs", state, None, "", now),
                    HealthRow("procs/sleep", "ok", None, "", now, "procs"),
                    HealthRow("procs/sleep", state, None, "gone", now, "procs"),
                    HealthRow("cmd", "fail", None, "exit 1", now)]

        pane.show_rows(rows("ok"))
        await pilot.pause()
        assert len(keys(pane)) == 4 and len(set(keys(pane))) == 4
        assert cells(pane, "cmd")[4] == "exit 1"
        pane.show_rows(rows("fail"))  # later results still show
        await pilot.pause()
        assert [c[0] for c in (cells(pane, k) for k in keys(pane))].count("✗ FAIL") == 3


async def test_leaving_kills_a_command_probe_still_running(tmp_path: Path) -> None:
    """The pane's going waits (a bounded while) for its cancelled probes: a command
    probe's process is gone once the app has ended (after a hang-up the loop ends
    right then, and the command outlived the cockpit)."""
    import psutil

    pidfile = tmp_path / "pid"
    context = make_context(tmp_path, f"""
        name: t
        health:
          - name: slow
            kind: command
            timeout: 60s
            script: "echo $$ > {pidfile}; exec sleep 60"
    """)
    app = Harness(lambda: HealthPane(context))
    async with app.run_test(size=(100, 20)):
        await async_wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(),
                               what="the probe's command running")
        sleeper = psutil.Process(int(pidfile.read_text()))
    try:
        assert not sleeper.is_running() or sleeper.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
