"""Generic code around streaming backends, with a fake backend: a target log source over
targets with children (a workload and its pods) follows the parent only and tags lines
with what the backend names (``pod/container``); the ``events`` log source; the log
buffer narrowed to a pod shows its containers' lines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    LogItem,
    LogNotice,
    LogQuery,
    LogRecord,
    Target,
)
from cockpit.core.config.models import EventsLogSource, TargetLogSource
from cockpit.core.sources.event_logs import EventFollower
from cockpit.core.sources.logs import merge_sources
from cockpit.core.sources.target_logs import TargetFollower
from tests.support import async_wait_until


class Streams(Backend):
    kind = "fake"
    capabilities = (Capability.TARGETS | Capability.LOGS | Capability.LOGS_SINCE
                    | Capability.EVENT_LOG)

    def __init__(self) -> None:
        super().__init__({})
        self.queries: list[LogQuery] = []
        self.targets = [
            Target("ns/deployment/api", "api", "deployment", "running"),
            Target("ns/pod/api-1", "api-1", "pod", "running", parent="ns/deployment/api"),
            Target("ns/pod/solo", "solo", "pod", "running"),
        ]

    async def start(self, spec: CommandSpec) -> Execution:  # pragma: no cover - unused
        raise NotImplementedError

    async def list_targets(self) -> list[Target]:
        return list(self.targets)

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogItem]]:
        self.queries.append(query)
        target = query.targets[0]
        pod = "api-1" if target.endswith("api") else target.rsplit("/", 1)[-1]
        yield [LogRecord(time.time(), f"hello from {pod}", f"{pod}/app", logged=True)]
        await asyncio.Event().wait()

    async def event_logs(self, namespace: str | None = None, *, backlog: int = 100,
                         follow: bool = True) -> AsyncIterator[list[LogItem]]:
        yield [LogRecord(1.0, "Warning BackOff pod/api-1: back-off (x3)", "ns/events",
                         severity="warn", logged=True),
               LogRecord(2.0, "Normal Pulled pod/api-1: error-free pull", "ns/events",
                         severity="info", logged=True),
               LogNotice(3.0, "ns/events", "info", "watch restarted")]
        await asyncio.Event().wait()


async def _collect(follower, count: int) -> list:
    lines: list = []

    async def run() -> None:
        async for batch in merge_sources({"src": follower}):
            lines.extend(batch.lines)

    task = asyncio.ensure_future(run())
    try:
        await async_wait_until(lambda: len(lines) >= count, timeout=10, what="lines")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await follower.close()
    return lines


async def test_a_workload_is_followed_once_and_lines_carry_pod_and_container() -> None:
    backend = Streams()
    lines = await _collect(TargetFollower(TargetLogSource(kind="target", name="k8s"),
                                          backend), 2)
    followed = sorted(q.targets[0] for q in backend.queries)
    assert followed == ["ns/deployment/api", "ns/pod/solo"]  # not the workload's pod
    assert sorted((line.source, line.text) for line in lines) == [
        ("api-1/app", "hello from api-1"), ("solo/app", "hello from solo")]


async def test_events_source_levels_warnings_and_keeps_notices_typed() -> None:
    lines = await _collect(EventFollower(EventsLogSource(kind="events", name="ev"),
                                         Streams()), 3)
    assert [(line.source, line.level) for line in lines] == [
        ("ns/events", "warn"), ("ns/events", "info"), ("ev", "cockpit")]


def test_events_source_needs_a_backend_that_has_events() -> None:
    from cockpit.core.backends.local import LocalBackend
    from cockpit.core.errors import CockpitError

    with pytest.raises(CockpitError, match="kind 'events' is not supported"):
        EventFollower(EventsLogSource(kind="events", name="ev"), LocalBackend({}))


def test_the_buffer_narrowed_to_a_pod_shows_its_containers() -> None:
    from cockpit.tui.panes.logs_buffer import LogBuffer

    buffer = LogBuffer(100)
    buffer.extend(["api-1/app", "api-1/sidecar", "api-10/app", "api-1"], ["", "", "", ""],
                  ["a", "b", "c", "d"])
    buffer.set_source("api-1")
    buffer.scan()
    assert [buffer.text(buffer.seq_at(i)) for i in range(buffer.visible_count)] == \
        ["a", "b", "d"]
    buffer.set_source("api", ("api-1", "api-10"))  # a workload and its pods
    buffer.scan()
    assert buffer.visible_count == 4
