"""Follow a system's JSON-lines audit log: batches of parsed records, malformed counted."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cockpit.core.audit.query import AuditRecord, parse_record
from cockpit.core.config.models import AuditSource
from cockpit.core.sources.logs import FileFollower

#: Audit records are cut only beyond this many characters (a cut record is malformed).
AUDIT_MAX_LINE = 1_000_000

__all__ = ["AuditBatch", "AuditFollower", "AuditRecord", "parse_record"]


@dataclass(slots=True)
class AuditBatch:
    """Records that arrived together; ``malformed`` of them could not be parsed."""

    records: list[AuditRecord] = field(default_factory=list)
    malformed: int = 0


class AuditFollower:
    """Follow ``source.path`` from its last ``source.backlog`` records on."""

    def __init__(self, source: AuditSource, *, poll_interval: float = 0.25,
                 batch_max: int = 5000) -> None:
        self.source = source
        self.follower = FileFollower(
            os.path.expanduser(source.path),
            backlog=source.backlog,
            poll_interval=poll_interval,
            max_line=AUDIT_MAX_LINE,
            batch_max=batch_max,
        )
        self.total = 0  #: records seen (malformed included)
        self.malformed = 0  #: malformed records seen

    @property
    def status(self) -> str:
        """The file follower's status: following, waiting for file, cannot read: ..."""
        return self.follower.status

    async def batches(self) -> AsyncIterator[AuditBatch]:
        """Parsed records in batches; blank lines are skipped."""
        async for lines in self.follower.raw_batches():
            batch = AuditBatch()
            for raw in lines:
                if not raw.strip():
                    continue
                record = parse_record(bytes(raw))
                if record.error is not None:
                    batch.malformed += 1
                batch.records.append(record)
            if batch.records:
                self.total += len(batch.records)
                self.malformed += batch.malformed
                yield batch

    async def close(self) -> None:
        await self.follower.close()
