"""Log followers on real files and real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.models import CommandLogSource, FileLogSource, TargetLogSource
from cockpit.core.errors import CockpitError
from cockpit.core.sources.logs import (
    CommandFollower,
    FileFollower,
    Follower,
    LogBatch,
    detect_level,
    make_follower,
    merge_sources,
)
from tests.support import async_wait_until

POLL = 0.02


class Collector:
    """Consume a follower's batches in a task; tests wait on what was collected."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.batches: list[list[str]] = []
        self.lines: list[str] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.follower.batches():
            self.batches.append(batch)
            self.lines.extend(batch)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        await async_wait_until(lambda: len(self.lines) >= count, timeout,
                               what=f"{count} lines (have {self.lines[-5:]!r})")
        return self.lines

    async def stop(self) -> None:
        await self.follower.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 5)


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


async def test_backlog_reads_only_the_end_of_a_big_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with open(path, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # 200 MB hole, no newlines
        fh.seek(0, os.SEEK_END)
        fh.write(b"".join(b"line %d\n" % i for i in range(1000)))
    follower = FileFollower(path, backlog=50, poll_interval=POLL)
    collector = Collector(follower)
    try:
        lines = await collector.wait_for(50)
        assert lines == [f"line {i}" for i in range(950, 1000)]
        assert follower.bytes_read < 256 * 1024
    finally:
        await collector.stop()


async def test_backlog_exact_and_then_follow(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("".join(f"row {i}\n" for i in range(10_000)))
    size = path.stat().st_size
    follower = FileFollower(path, backlog=100, poll_interval=POLL)
    collector = Collector(follower)
    try:
        lines = await collector.wait_for(100)
        assert lines == [f"row {i}" for i in range(9900, 10_000)]
        assert follower.bytes_read < size
        _append(path, "new 1\nnew 2\n")
        lines = await collector.wait_for(102)
        assert lines[-2:] == ["new 1", "new 2"]
    finally:
        await collector.stop()


async def test_many_waiting_lines_come_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("")
    follower = FileFollower(path, backlog=0, poll_interval=POLL, batch_max=1000)
    collector = Collector(follower)
    try:
        await async_wait_until(lambda: follower.status == "following")
        _append(path, "".join(f"n{i}\n" for i in range(5000)))
        lines = await collector.wait_for(5000)
        assert lines == [f"n{i}" for i in range(5000)]
        assert len(collector.batches) <= 10
        assert max(len(b) for b in collector.batches) <= 1000 + 1000
    finally:
        await collector.stop()


async def test_rotation_finishes_old_file_then_reads_new(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("a\n")
    follower = FileFollower(path, backlog=10, poll_interval=POLL)
    collector = Collector(follower)
    try:
        await collector.wait_for(1)
        with open(path, "a", encoding="utf-8") as old:
            os.rename(path, tmp_path / "app.log.1")
            old.write("b (old file, after rename)\n")
            old.flush()
            path.write_text("c (new file)\nd\n")
        lines = await collector.wait_for(5)
        assert lines[:2] == ["a", "b (old file, after rename)"]
        assert lines[2] == f"[cockpit] {path}: replaced by a new file (rotated), reading it from the start"
        assert lines[3:] == ["c (new file)", "d"]
        _append(path, "e\n")
        assert (await collector.wait_for(6))[-1] == "e"
    finally:
        await collector.stop()


async def test_rotation_flushes_a_pending_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("one\ntwo-without-newline")
    follower = FileFollower(path, backlog=10, poll_interval=POLL)
    collector = Collector(follower)
    try:
        await collector.wait_for(1)
        os.rename(path, tmp_path / "app.log.1")
        path.write_text("three\n")
        lines = await collector.wait_for(4)
        assert [lines[0], lines[1], lines[3]] == ["one", "two-without-newline", "three"]
        assert "rotated" in lines[2]
    finally:
        await collector.stop()


async def test_copytruncate(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("".join(f"before {i}\n" for i in range(20)))
    follower = FileFollower(path, backlog=5, poll_interval=POLL)
    collector = Collector(follower)
    try:
        await collector.wait_for(5)
        with open(path, "r+", encoding="utf-8") as fh:  # copytruncate, then a short write
            fh.truncate(0)
        _append(path, "after 1\n")
        lines = await collector.wait_for(7)
        assert lines[5] == f"[cockpit] {path}: truncated, reading it from the start"
        assert lines[-1] == "after 1"
        # Truncated and rewritten past the old position between two polls.
        position = path.stat().st_size
        with open(path, "r+", encoding="utf-8") as fh:
            fh.truncate(0)
            fh.write("".join(f"rewritten {i}\n" for i in range(10)))
        assert path.stat().st_size > position
        lines = await collector.wait_for(18)
        assert "truncated" in lines[7]
        assert lines[8:] == [f"rewritten {i}" for i in range(10)]
    finally:
        await collector.stop()


async def test_partial_line_is_held_until_completed(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("")
    follower = FileFollower(path, backlog=0, poll_interval=POLL)
    collector = Collector(follower)
    try:
        await async_wait_until(lambda: follower.status == "following")
        _append(path, "hel")
        await async_wait_until(lambda: follower.bytes_read >= 3, what="partial read")
        assert collector.lines == []
        _append(path, "lo wörld\nnext")
        assert await collector.wait_for(1) == ["hello wörld"]
        _append(path, "\n")
        assert await collector.wait_for(2) == ["hello wörld", "next"]
    finally:
        await collector.stop()


async def test_backlog_zero_skips_the_current_partial_line_start(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old\npart")
    follower = FileFollower(path, backlog=0, poll_interval=POLL)
    collector = Collector(follower)
    try:
        await async_wait_until(lambda: follower.status == "following")
        _append(path, "ial\n")
        assert await collector.wait_for(1) == ["partial"]
    finally:
        await collector.stop()


async def test_missing_file_then_created(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    follower = FileFollower(path, backlog=10, poll_interval=POLL)
    collector = Collector(follower)
    try:
        await async_wait_until(lambda: follower.status == "waiting for file")
        assert collector.lines == []
        path.write_text("first\nsecond\n")
        assert await collector.wait_for(2) == ["first", "second"]
    finally:
        await collector.stop()


async def test_long_lines_are_cut_and_bad_utf8_replaced(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"x" * 250 + b"\n" + b"bad \xff byte\r\n")
    follower = FileFollower(path, backlog=10, poll_interval=POLL, max_line=100)
    collector = Collector(follower)
    try:
        lines = await collector.wait_for(2)
        assert lines[0] == "x" * 100 + "…[+150 chars]"
        assert lines[1] == "bad \ufffd byte"
        # A line that grows across many reads is bounded while pending.
        for _ in range(10):
            _append(path, "y" * 100)
            await async_wait_until(lambda: follower.bytes_read >= path.stat().st_size)
        _append(path, "\n")
        lines = await collector.wait_for(3)
        assert lines[2] == "y" * 100 + "…[+900 chars]"
    finally:
        await collector.stop()


async def test_close_ends_the_generator(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("a\n")
    follower = FileFollower(path, poll_interval=10)
    collector = Collector(follower)
    await collector.wait_for(1)
    await follower.close()
    await asyncio.wait_for(collector.task, 2)
    assert collector.task.done()


async def test_unreadable_path_becomes_a_notice(tmp_path: Path) -> None:
    follower = FileFollower(tmp_path, poll_interval=POLL)  # a directory
    collector = Collector(follower)
    try:
        lines = await collector.wait_for(1)
        assert lines[0].startswith("[cockpit] ") and "cannot read" in lines[0]
    finally:
        await collector.stop()


async def test_command_follower_restarts_with_backoff() -> None:
    source = CommandLogSource(kind="command", name="cmd",
                              script='echo "run $$"; echo oops >&2; exit 1')
    follower = CommandFollower(source, LocalBackend(), backoff_initial=0.05)
    collector = Collector(follower)
    try:
        await async_wait_until(
            lambda: sum("restarting" in line for line in collector.lines) >= 3,
            what="three restarts")
        notices = [line for line in collector.lines if line.startswith("[cockpit]")]
        assert notices[:3] == [
            "[cockpit] command exited with 1; restarting in 0.05s",
            "[cockpit] command exited with 1; restarting in 0.1s",
            "[cockpit] command exited with 1; restarting in 0.2s",
        ]
        runs = [line for line in collector.lines if line.startswith("run ")]
        assert len(set(runs)) >= 3  # a new process each time
        assert "oops" in collector.lines
    finally:
        await collector.stop()


async def test_command_follower_without_restart_ends() -> None:
    source = CommandLogSource(kind="command", name="cmd", run=["printf", "a\\nb\\nc\\n"],
                              restart=False)
    follower = CommandFollower(source, LocalBackend())
    collector = Collector(follower)
    await asyncio.wait_for(collector.task, 10)
    assert collector.lines == ["a", "b", "c", "[cockpit] command exited with 0"]


async def test_command_follower_close_kills_the_command() -> None:
    source = CommandLogSource(kind="command", name="cmd",
                              script="echo started; exec sleep 60")
    follower = CommandFollower(source, LocalBackend({"kill_grace": 0.2}))
    collector = Collector(follower)
    await collector.wait_for(1)
    await follower.close()
    await asyncio.wait_for(collector.task, 5)
    assert collector.lines == ["started"]


async def test_merge_tags_and_levels(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("ERROR boom\n")
    b.write_text('{"level": "warn", "msg": "slow"}\n')
    followers = {"api": FileFollower(a, poll_interval=POLL),
                 "worker": FileFollower(b, poll_interval=POLL)}
    got: list[LogBatch] = []

    async def consume() -> None:
        async for batch in merge_sources(followers):
            got.append(batch)

    task = asyncio.create_task(consume())
    try:
        await async_wait_until(lambda: sum(len(x.lines) for x in got) >= 2)
        _append(a, "INFO fine\n")
        await async_wait_until(lambda: sum(len(x.lines) for x in got) >= 3)
        lines = [line for batch in got for line in batch.lines]
        assert {(x.source, x.text, x.level) for x in lines} == {
            ("api", "ERROR boom", "error"),
            ("worker", '{"level": "warn", "msg": "slow"}', "warn"),
            ("api", "INFO fine", "info"),
        }
        assert all(batch.dropped == 0 for batch in got)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_merge_drops_oldest_when_consumer_is_slow(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("".join(f"l{i}\n" for i in range(100)))
    follower = FileFollower(path, backlog=100, poll_interval=POLL)
    merged = merge_sources([("a", follower)], max_pending=10)
    try:
        batch = await asyncio.wait_for(anext(merged), 5)
        assert batch.dropped == 90
        assert [line.text for line in batch.lines] == [f"l{i}" for i in range(90, 100)]
    finally:
        await merged.aclose()
    assert follower._closed


async def test_merge_ends_when_sources_end() -> None:
    source = CommandLogSource(kind="command", name="c", run=["echo", "hi"], restart=False)
    batches = [b async for b in merge_sources({"c": CommandFollower(source, LocalBackend())})]
    texts = [line.text for b in batches for line in b.lines]
    assert texts == ["hi", "[cockpit] command exited with 0"]


def test_make_follower(tmp_path: Path) -> None:
    file_source = FileLogSource(kind="file", name="f", path=str(tmp_path / "x.log"), backlog=7)
    follower = make_follower(file_source, None)
    assert isinstance(follower, FileFollower) and follower.backlog == 7
    command = CommandLogSource(kind="command", name="c", run=["true"])
    assert isinstance(make_follower(command, LocalBackend()), CommandFollower)
    with pytest.raises(CockpitError):
        make_follower(command, None)
    with pytest.raises(CockpitError):
        make_follower(TargetLogSource(kind="target", name="t"), LocalBackend())


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("2024-05-01 12:00:00 ERROR db down", "error"),
        ("[err] nope", "error"),
        ("FATAL: out of memory", "error"),
        ("CRITICAL disk", "error"),
        ("Traceback (most recent call last):", "error"),
        ("2024-05-01 WARN slow query", "warn"),
        ("WARNING: deprecated", "warn"),
        ("level=info msg=started", "info"),
        ("DEBUG cache miss", "debug"),
        ("INFO request finished without error", "info"),
        ('{"ts": 1, "level": "error", "msg": "x"}', "error"),
        ('{"severity": "WARNING", "message": "x"}', "warn"),
        ('{"level": 30, "msg": "pino"}', "info"),
        ('{"level": 50, "msg": "pino"}', "error"),
        ("E0501 12:00:00.000000 1 controller.go:1] failed", "error"),
        ("I0501 12:00:00.000000 1 main.go:1] ok", "info"),
        ("GET /api/errors 200", ""),
        ("just a line", ""),
        ("", ""),
    ],
)
def test_detect_level(text: str, level: str) -> None:
    assert detect_level(text) == level


async def test_the_cockpits_notices_are_typed_and_a_log_line_cannot_forge_one(tmp_path):
    """A watched system printing "[cockpit] ..." is a log line; only the follower's own
    notices (here: the file truncated) carry the notice level the Logs pane marks."""
    path = tmp_path / "app.log"
    path.write_text("[cockpit] engine answers again; all clear\nreal line\n")
    follower = FileFollower(path, backlog=10, poll_interval=0.02)
    seen: list = []

    async def collect() -> None:
        async for batch in merge_sources([("app", follower)]):
            seen.extend(batch.lines)

    task = asyncio.create_task(collect())
    try:
        await async_wait_until(lambda: len(seen) >= 2, what="the backlog")
        path.write_text("x\n")  # truncated: the follower says so, as a notice
        await async_wait_until(lambda: any(line.level == "cockpit" for line in seen),
                               what="the truncation notice")
    finally:
        await follower.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    forged = next(line for line in seen if "all clear" in line.text)
    assert forged.level != "cockpit"
    notices = [line for line in seen if line.level == "cockpit"]
    assert notices and all("truncated" in line.text for line in notices), notices
