"""Following a JSON-lines audit log on a real file."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from cockpit.core.config.models import AuditSource
from cockpit.core.sources.audit import AuditBatch, AuditFollower
from tests.support import async_wait_until


def _record(i: int, decision: str = "ALLOW") -> str:
    return json.dumps({"ts_utc": f"2025-01-01T00:00:{i:02d}Z", "event_type": "decision_audit",
                       "decision": decision, "reason_codes": [], "trace_id": f"t{i}"})


async def test_backlog_follow_and_malformed_counts(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("\n".join([_record(i) for i in range(5)] + ['{"broken": ', "", _record(5)])
                    + "\n")
    follower = AuditFollower(AuditSource(path=str(path), backlog=4), poll_interval=0.02)
    batches: list[AuditBatch] = []

    async def consume() -> None:
        async for batch in follower.batches():
            batches.append(batch)

    task = asyncio.create_task(consume())
    try:
        await async_wait_until(lambda: follower.total >= 3, what="backlog")
        # backlog 4 lines: record 4, the broken line, a blank line (skipped), record 5
        records = [r for b in batches for r in b.records]
        assert [r.data["trace_id"] if r.data else None for r in records] == ["t4", None, "t5"]
        assert records[1].error and records[1].raw == '{"broken": '
        assert (follower.total, follower.malformed) == (3, 1)
        assert sum(b.malformed for b in batches) == 1

        with open(path, "a", encoding="utf-8") as fh:
            fh.write(_record(6, "DENY") + "\nnot json at all\n")
        await async_wait_until(lambda: follower.total >= 5, what="appended records")
        records = [r for b in batches for r in b.records]
        assert records[3].data is not None and records[3].data["decision"] == "DENY"
        assert records[4].data is None and records[4].error
        assert follower.malformed == 2
        assert follower.status == "following"
    finally:
        await follower.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def test_missing_audit_file_waits(tmp_path: Path) -> None:
    path = tmp_path / "later" / "audit.log"
    follower = AuditFollower(AuditSource(path=str(path)), poll_interval=0.02)
    batches: list[AuditBatch] = []

    async def consume() -> None:
        async for batch in follower.batches():
            batches.append(batch)

    task = asyncio.create_task(consume())
    try:
        await async_wait_until(lambda: follower.status == "waiting for file")
        assert batches == []
        path.parent.mkdir()
        path.write_text(_record(1) + "\n")
        await async_wait_until(lambda: follower.total == 1)
        assert batches[0].records[0].data == json.loads(_record(1))
    finally:
        await follower.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
