"""The runs of this session: one ``RunEntry`` per action attempt, fed by the runner."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from cockpit.core.actions.runner import PreparedRun, RunOutcome
from cockpit.core.backends.base import OutputLine

#: Output lines kept per run for the output view; the audit record hashes all of it.
RUN_OUTPUT_LINES = 10_000


@dataclass
class RunEntry:
    """One action attempt and what it printed so far (as it passed the boundary)."""

    number: int
    prepared: PreparedRun
    started: float = field(default_factory=time.time)
    status: str = "running"
    ended: float | None = None
    outcome: RunOutcome | None = None
    lines: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=RUN_OUTPUT_LINES))
    received: int = 0  #: lines received in all; ``received - len(lines)`` were dropped

    @property
    def action_id(self) -> str:
        return self.prepared.action.id

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def dropped(self) -> int:
        return self.received - len(self.lines)

    def duration(self, now: float | None = None) -> float:
        end = self.ended if self.ended is not None else (now or time.time())
        return max(0.0, end - self.started)

    def add_line(self, line: OutputLine) -> None:
        """Keep one output line; ``ActionRunner.run`` gives only lines that passed the
        boundary (secrets hidden across lines, escapes visible, bounded)."""
        self.lines.append((line.stream, line.text))
        self.received += 1

    def finish(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        self.status = outcome.status
        self.ended = time.time()
