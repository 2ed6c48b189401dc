"""Cloud Logging following (cloudrun/logs.py) against the GCP double: the seeded backlog by
tail and since, a revision's log ticking in the background followed with exact lines (no
gaps, no repeats, entries at equal times once each), and a 429 injected mid-follow that
backs off with a notice and resumes without loss."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cockpit.core.backends.cloudrun import logs as cl
from cockpit.core.backends.cloudrun.api import GoogleAPI
from cockpit.core.backends.cloudrun.auth import TokenSource
from cockpit.core.backends.cloudrun.options import CloudRunOptions
from cockpit.core.backends.logs import LogNotice, LogQuery, LogRecord
from tests.gcpdouble.seed import BLUE, BLUE_ERROR, GREEN, PROJECT, SERVICE, green_line
from tests.support import async_wait_until

REGION = "us-central1"


@pytest.fixture
async def api(gcp_env) -> AsyncIterator[GoogleAPI]:
    """The backend's client, reaching the double as gcloud does: virtual-host endpoint
    overrides through gcloud's proxy settings, the token file."""
    opts = CloudRunOptions.model_validate({"kind": "cloudrun", "project": PROJECT})
    client = GoogleAPI(opts, TokenSource(token_file=gcp_env["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]))
    yield client
    await client.aclose()


class QuickSleep:
    """The injected sleep: records what was asked, waits a moment at most."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(seconds, 0.02)):
                await asyncio.Event().wait()


async def backlog(api: GoogleAPI, filters: list[str], query: LogQuery) -> list[Any]:
    items: list[Any] = []
    async for batch in cl.follow_logs(api, PROJECT, filters, query, poll=0.05):
        items.extend(batch)
    return items


def service_filter(revision: str | None = None) -> str:
    return cl.target_filter(PROJECT, REGION, SERVICE, revision)


async def test_tail_of_the_seeded_service(gcp, api) -> None:
    items = await backlog(api, [service_filter()], LogQuery(tail=6, follow=False))
    assert all(isinstance(i, LogRecord) for i in items)
    health = gcp.seeded["service_url"].split("/", 3)[3]
    assert [i.text for i in items] == [f"GET /{health}/health 200 12ms"] + [
        green_line(n) for n in range(7, 12)]
    assert {(i.source, i.severity, i.logged) for i in items} == {(GREEN, "info", True)}
    assert [i.ts for i in items] == sorted(i.ts for i in items)


async def test_since_on_a_revision_gives_its_error_with_severity(gcp, api) -> None:
    since = time.time() - 4000
    items = await backlog(api, [service_filter(BLUE)], LogQuery(since=since, tail=-1,
                                                                 follow=False))
    assert [(i.text, i.source, i.severity) for i in items] == [(BLUE_ERROR, BLUE, "error")]


async def test_two_regions_ored(gcp, api) -> None:
    europe = cl.target_filter(PROJECT, "europe-west1", SERVICE)
    items = await backlog(api, [service_filter(GREEN), europe], LogQuery(tail=24,
                                                                          follow=False))
    assert len(items) == 24
    assert [i.ts for i in items] == sorted(i.ts for i in items)


async def follow(api: GoogleAPI, filters: list[str], query: LogQuery, sleep: QuickSleep,
                 items: list[Any]) -> asyncio.Task[None]:
    async def run() -> None:
        async for batch in cl.follow_logs(api, PROJECT, filters, query, poll=0.05,
                                          sleep=sleep):
            items.extend(batch)

    return asyncio.ensure_future(run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def ticks(items: list[Any]) -> list[str]:
    return [i.text for i in items if isinstance(i, LogRecord) and i.text.startswith("tick ")]


async def test_following_a_ticking_revision_has_no_gaps_and_no_repeats(gcp, api) -> None:
    items: list[Any] = []
    sleep = QuickSleep()
    task = await follow(api, [service_filter(GREEN)], LogQuery(tail=3), sleep, items)
    await async_wait_until(lambda: len(items) >= 3, what="the backlog")
    halt = gcp.tick_revision_log(REGION, SERVICE, GREEN, every=0.01)
    try:
        await async_wait_until(lambda: len(ticks(items)) >= 60, what="60 ticks")
        halt()
        last = max(e["timestamp"] for e in gcp.log_entries())
        # more entries at the very time of the newest one seen: each shown once
        for n in range(5):
            gcp.append_log(REGION, SERVICE, GREEN, f"same time {n}",
                           timestamp=cl.parse_time(last) / 1e9)
        count = len([e for e in gcp.log_entries() if "tick " in e.get("textPayload", "")])
        await async_wait_until(
            lambda: len(ticks(items)) == count
            and sum(1 for i in items if getattr(i, "text", "").startswith("same time")) == 5,
            what="every tick and the entries at equal times")
        polls = len(sleep.asked)
        await async_wait_until(lambda: len(sleep.asked) >= polls + 3, what="3 more polls")
    finally:
        halt()
        await stop(task)
    assert ticks(items) == [f"tick {n}" for n in range(1, count + 1)]
    texts = [i.text for i in items if isinstance(i, LogRecord)]
    assert texts[:3] == [green_line(n) for n in range(9, 12)]
    assert texts[-5:] == [f"same time {n}" for n in range(5)]
    assert not [i for i in items if isinstance(i, LogNotice)]


async def test_a_429_mid_follow_backs_off_says_so_and_loses_nothing(gcp, api) -> None:
    items: list[Any] = []
    sleep = QuickSleep()
    task = await follow(api, [service_filter(GREEN)], LogQuery(tail=0), sleep, items)
    await async_wait_until(lambda: sleep.asked, what="the first poll")
    halt = gcp.tick_revision_log(REGION, SERVICE, GREEN, every=0.01)
    try:
        await async_wait_until(lambda: len(ticks(items)) >= 10, what="10 ticks")
        gcp.throttle_logs(times=3)
        await async_wait_until(
            lambda: any(getattr(i, "text", "").startswith("Cloud Logging answers again")
                        for i in items), what="the follow resumed")
        await async_wait_until(lambda: len(ticks(items)) >= 40, what="40 ticks")
        halt()
        count = len([e for e in gcp.log_entries() if "tick " in e.get("textPayload", "")])
        await async_wait_until(lambda: len(ticks(items)) == count, what="every tick")
    finally:
        halt()
        await stop(task)
    assert ticks(items) == [f"tick {n}" for n in range(1, count + 1)]
    said = [(i.kind, i.text) for i in items if isinstance(i, LogNotice)]
    assert said == [
        ("info", f"Cloud Logging is throttling reads (429 RESOURCE_EXHAUSTED): backing off "
                 f"{s}s, then resuming where it stopped") for s in (2, 4, 8)
    ] + [("info", "Cloud Logging answers again: following")]
    assert [s for s in sleep.asked if s != 0.05] == [2.0, 4.0, 8.0]


@contextlib.asynccontextmanager
async def following(tmp_path, regions: list[str], *, backlog: int
                    ) -> AsyncIterator[tuple[Any, list[Any]]]:
    """The backend of a profile of ``regions`` and the lines of a ``kind: target`` log
    source of the service, as the Logs pane reads them (collected while inside)."""
    from cockpit.core.config.loader import load_profile
    from cockpit.core.config.models import TargetLogSource
    from cockpit.core.environment import open_backend
    from cockpit.core.sources.logs import merge_sources
    from cockpit.core.sources.target_logs import TargetFollower

    path = tmp_path / "profile.yaml"
    path.write_text(f"name: tai\nbackend: {{kind: cloudrun, project: {PROJECT}, "
                    f"regions: [{', '.join(regions)}], logs_poll: 0.05}}\n")
    backend = open_backend(load_profile(path))
    await backend.connect()
    follower = TargetFollower(TargetLogSource(kind="target", name="run", targets=[SERVICE],
                                              backlog=backlog), backend, poll_interval=0.05)
    lines: list[Any] = []

    async def run() -> None:
        async for batch in merge_sources({"run": follower}):
            lines.extend(batch.lines)

    task = asyncio.ensure_future(run())
    try:
        yield backend, lines
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await follower.close()
        await backend.close()


async def test_the_backend_s_target_log_source_carries_severity_as_level(gcp, gcp_env,
                                                                         tmp_path) -> None:
    """Through the backend (``CloudRunBackend.logs``) and a ``kind: target`` log source, as
    the Logs pane reads them: green's INFO lines, then blue's ERROR lines once it serves."""
    async with following(tmp_path, [REGION], backlog=2) as (backend, lines):
        await async_wait_until(lambda: len(lines) >= 2, what="the backlog")
        gcp.set_traffic(REGION, SERVICE, {GREEN: 50, BLUE: 50},
                        tags={GREEN: "green", BLUE: "blue"})
        gcp.tick_logs()
        await async_wait_until(lambda: len(lines) >= 4, what="a round of both revisions")
        stats = await backend.target_stats(f"{REGION}/{SERVICE}")
    # Cloud Logging's text has no time: each line shows the time it was logged first
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}Z .+", line.text) for line in lines)
    got = [(line.source, line.text.split(" ", 1)[1], line.level) for line in lines]
    assert got[:2] == [(GREEN, green_line(10), "info"), (GREEN, green_line(11), "info")]
    assert sorted(got[2:]) == [(GREEN, green_line(12), "info"), (BLUE, BLUE_ERROR, "error")]
    assert stats["error_rate"] == pytest.approx(6.0)


async def test_a_service_in_two_regions_is_followed_in_each_and_tagged_by_region(
        gcp, gcp_env, tmp_path) -> None:
    """``targets: [tai-autonomics]`` in a profile of two regions: both services' logs,
    each line tagged REGION/REVISION (the revision names are the same in both)."""
    want = {f"{REGION}/{GREEN}", f"europe-west1/{GREEN}"}
    async with following(tmp_path, [REGION, "europe-west1"], backlog=1) as (_, lines):
        await async_wait_until(lambda: want <= {line.source for line in lines},
                               what="lines of both regions")
    assert {line.source for line in lines} == want
