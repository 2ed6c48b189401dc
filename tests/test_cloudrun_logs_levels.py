"""Severity from the backend reaches the Logs pane and can be filtered there: a target log
source keeps each record's severity as the line's level (not guessed from the text), the
log buffer takes a level floor, and the pane's ``v`` cycles it (Esc clears it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    LogItem,
    LogQuery,
    LogRecord,
    Target,
)
from cockpit.core.config.models import TargetLogSource
from cockpit.core.sources.logs import LogLine, merge_sources
from cockpit.core.sources.target_logs import TargetFollower
from cockpit.tui.panes.logs import LogsPane
from cockpit.tui.panes.logs_buffer import LogBuffer
from tests.support import async_wait_until
from tests.tui_support import PaneHarness, make_context


class Severities(Backend):
    """One service whose records carry severities (as Cloud Logging's do)."""

    kind = "fake"
    capabilities = Capability.TARGETS | Capability.LOGS | Capability.LOGS_SINCE

    async def start(self, spec: CommandSpec) -> Execution:  # pragma: no cover - unused
        raise NotImplementedError

    async def list_targets(self) -> list[Target]:
        return [Target("r/api", "api", "service", "running")]

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogItem]]:
        yield [LogRecord(1.0, "Pub/Sub subscription sub: NOT_FOUND", "api-00002-blu",
                         severity="error", logged=True),
               LogRecord(2.0, "Receipt emitted", "api-00001-grn", severity="info",
                         logged=True),
               LogRecord(3.0, "an error word at debug", "api-00001-grn", severity="debug",
                         logged=True),
               LogRecord(4.0, "ERROR guessed: no severity given", "api-00001-grn",
                         logged=True)]
        await asyncio.Event().wait()


async def test_a_target_source_keeps_the_backends_severity_as_the_level() -> None:
    follower = TargetFollower(TargetLogSource(kind="target", name="run"), Severities({}))
    lines: list[LogLine] = []

    async def run() -> None:
        async for batch in merge_sources({"run": follower}):
            lines.extend(batch.lines)

    task = asyncio.ensure_future(run())
    try:
        await async_wait_until(lambda: len(lines) >= 4, what="4 lines")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await follower.close()
    assert [(line.source, line.level) for line in lines] == [
        ("api-00002-blu", "error"), ("api-00001-grn", "info"), ("api-00001-grn", "debug"),
        ("api-00001-grn", "error")]  # the last one guessed from its text


def test_the_buffer_level_floor() -> None:
    buffer = LogBuffer(100)
    buffer.extend(["a"] * 6, ["debug", "info", "warn", "error", "", "cockpit"],
                  ["d", "i", "w", "e", "none", "notice"])
    buffer.set_level("warn")
    assert buffer.filtered
    buffer.scan()
    shown = [buffer.text(buffer.seq_at(i)) for i in range(buffer.visible_count)]
    assert shown == ["w", "e", "notice"]
    buffer.set_level("debug")
    buffer.scan()
    assert buffer.visible_count == 5  # only the line of no level is hidden
    buffer.set_level(None)
    assert not buffer.filtered and buffer.visible_count == 6
    with pytest.raises(ValueError, match="not a level"):
        buffer.set_level("loud")


async def test_v_cycles_the_level_floor_and_escape_clears_it(tmp_path) -> None:
    app = PaneHarness(lambda: LogsPane(make_context(tmp_path, "name: quiet\n", live=False)))
    async with app.run_test(size=(100, 14)) as pilot:
        pane = app.query_one(LogsPane)
        pane.add_lines([LogLine("run", text, 0.0, level) for text, level in [
            ("debug line", "debug"), ("Receipt emitted", "info"),
            ("slow", "warn"), ("NOT_FOUND", "error"), ("[cockpit] note", "cockpit")]])
        pane.view.focus()
        await pilot.pause()
        assert pane.level_floor is None and pane.visible_count == 5
        floors = []
        for _ in range(4):
            await pilot.press("v")
            floors.append((pane.level_floor, pane.visible_lines()))
        assert floors == [
            ("info", ["Receipt emitted", "slow", "NOT_FOUND", "[cockpit] note"]),
            ("warn", ["slow", "NOT_FOUND", "[cockpit] note"]),
            ("error", ["NOT_FOUND", "[cockpit] note"]),
            (None, ["debug line", "Receipt emitted", "slow", "NOT_FOUND", "[cockpit] note"]),
        ]
        await pilot.press("v", "v")
        assert "level warn+: 3 of 5" in pane.status_text
        pane.set_filter("NOT")  # a regex narrows further
        assert pane.visible_lines() == ["NOT_FOUND"]
        assert "level warn+ filter /NOT/: 1 of 5" in pane.status_text
        await pilot.press("escape")
        assert pane.level_floor is None and pane.filter_pattern is None
        assert pane.visible_count == 5
