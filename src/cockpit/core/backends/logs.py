"""A query for target logs, and the typed records a backend yields for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warn", "info", "debug", ""]


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which logs: targets (ids or names) or a selector, and how much of them."""

    targets: tuple[str, ...] = ()
    selector: str | None = None  #: a label selector (``app=api``), where the backend has them
    container: str | None = None  #: one container of a pod
    since: float | None = None  #: epoch seconds; records logged at or after it
    tail: int = 100  #: records of backlog per target (when ``since`` is None)
    follow: bool = True
    previous: bool = False  #: the previous run's logs (a crashed container)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One logged line."""

    ts: float  #: the time as logged when the backend knows it, else arrival time
    text: str
    source: str  #: the target's name
    stream: Literal["stdout", "stderr", "log"] = "log"
    severity: Severity = ""  #: where the backend knows it (Cloud Logging); "" otherwise
    logged: bool = False  #: ``ts`` is the time the line was logged (not when it arrived)
    truncated: bool = False  #: the line was longer than the backend's limit and was cut


@dataclass(frozen=True, slots=True)
class LogNotice:
    """A status of the log stream itself, not a line of the logs."""

    ts: float
    source: str
    kind: Literal["unreachable", "following", "ended", "missing", "info"]
    text: str


LogItem = LogRecord | LogNotice
