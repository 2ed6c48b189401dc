"""``backend: {kind: local, ...}`` options."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from cockpit.core.backends.options import Duration, Names, ProcessOptions


class LocalOptions(ProcessOptions):
    """Commands and processes of this machine."""

    #: regexes searched for in each process's whole command line (``re.search``: anchor
    #: with ``^`` / ``$``): those processes are the targets, and terminate/kill apply to
    #: them (never to pid 1, the cockpit or its parents); without it: the processes this
    #: cockpit started, and no process operations
    processes: Names = Field(default_factory=list)
    log_poll: Duration = 0.25  #: how often a process's output file is read
    targets_poll: Duration = 2.0

    @field_validator("processes")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return value
