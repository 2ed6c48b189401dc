"""The backend's connect() runs off the UI thread; the header says "connecting" meanwhile,
and why it failed if it does, while the cockpit stays usable."""

from __future__ import annotations

import asyncio

from cockpit.core.errors import CockpitError
from cockpit.tui.app import CockpitApp
from cockpit.tui.header import CockpitHeader
from tests.support import async_wait_until
from tests.tui_support import make_context

PROFILE = """
name: conn
actions:
  - {id: hello, run: [echo, hi]}
"""


async def test_the_header_says_connecting_until_the_backend_is_connected(tmp_path):
    context = make_context(tmp_path, PROFILE)
    release = asyncio.Event()
    calls = []

    async def slow_connect() -> None:
        calls.append("connect")
        await release.wait()  # a kubeconfig exec plugin, a token fetch...

    context.backend.connect = slow_connect  # type: ignore[method-assign]
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        header = app.query_one(CockpitHeader)
        await async_wait_until(lambda: header.connection == "connecting",
                               what="connecting shown")
        await pilot.pause()
        assert "connecting…" in str(header.render())
        await pilot.press("2")  # the UI answers keys meanwhile
        await async_wait_until(lambda: app.pane(2).has_focus_within, what="pane 2 focused")
        release.set()
        await async_wait_until(lambda: header.connection == "", what="connected")
        assert "connecting" not in str(header.render())
    assert calls == ["connect"]


async def test_a_failed_connect_is_shown_and_the_cockpit_keeps_running(tmp_path):
    context = make_context(tmp_path, PROFILE)

    async def failing_connect() -> None:
        raise CockpitError("context prod: exec plugin gke-gcloud-auth-plugin not found")

    context.backend.connect = failing_connect  # type: ignore[method-assign]
    app = CockpitApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        header = app.query_one(CockpitHeader)
        await async_wait_until(lambda: header.connection.startswith("cannot connect"),
                               what="the failure shown")
        await pilot.pause()
        assert "cannot connect: context prod" in str(header.render())
        assert "gke-gcloud-auth-plugin not found" in header.connection
        assert app.is_running


async def test_read_only_and_the_clock_stay_in_view_at_80_columns(tmp_path):
    """A long backend description (a docker engine's socket path) pushed READ-ONLY and the
    clock off an 80-column header; now the description gives way."""
    context = make_context(tmp_path, PROFILE, read_only=True)
    context.backend.describe = lambda: (  # type: ignore[method-assign]
        "docker (unix:///tmp/ckd-trial-with-a-long-path/run/docker.sock) project shop")
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = str(app.query_one(CockpitHeader).render())
        assert len(header) <= 80, header
        assert "READ-ONLY" in header and header.rstrip().endswith(app.header._clock()), header
        assert "docker (unix:///tmp/ckd" in header and "…" in header


async def test_everything_that_needs_the_backend_waits_for_the_one_connect(tmp_path):
    """A health probe, a target list and a run that come before connect() ends wait for
    the same attempt (one connect, never "not connected"); a failed attempt raises to
    each waiter and the next call tries again."""
    from cockpit.core.backends.base import Capability, Target
    from cockpit.core.sources.targets import current_targets

    context = make_context(tmp_path, PROFILE)
    backend = context.backend
    release = asyncio.Event()
    calls: list[str] = []
    connected = False

    async def slow_connect() -> None:
        nonlocal connected
        calls.append("connect")
        await release.wait()
        connected = True

    async def listing() -> list[Target]:
        assert connected, "listed before connect() ended"
        return [Target("1", "web", "process", "running")]

    backend.connect = slow_connect  # type: ignore[method-assign]
    backend.list_targets = listing  # type: ignore[method-assign]
    # the local backend lists no targets: give it some
    backend.capabilities = Capability.TARGETS | type(backend).capabilities  # type: ignore[misc]
    waiters = [asyncio.ensure_future(current_targets(backend, context.boundary))
               for _ in range(3)]
    await async_wait_until(lambda: calls == ["connect"], what="one connect started")
    assert not any(w.done() for w in waiters)
    release.set()
    results = await asyncio.gather(*waiters)
    assert [[t.name for t in r] for r in results] == [["web"]] * 3
    assert calls == ["connect"]  # one attempt for all
    await backend.ensure_connected()
    assert calls == ["connect"]  # and none once connected

    (tmp_path / "second").mkdir()
    failing = make_context(tmp_path / "second", PROFILE).backend
    attempts: list[int] = []

    async def refused() -> None:
        attempts.append(1)
        raise CockpitError("cannot reach the cluster")

    failing.connect = refused  # type: ignore[method-assign]
    for _ in range(2):
        try:
            await failing.ensure_connected()
        except CockpitError as exc:
            assert "cannot reach" in str(exc)
        else:
            raise AssertionError("a failed connect must raise")
    assert len(attempts) == 2  # each call after a failure tries again
