"""The one protocol every environment backend implements.

A backend runs commands (an argv list, or a script run by ``bash -euo pipefail``)
in its environment, streams their output line by line, cancels them with their
whole process tree, lists targets (processes, containers, pods, revisions) and
streams a target's logs. ``capabilities`` tells callers what is supported.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

#: Longest line delivered to callers; the rest is cut (the output hash still covers it).
MAX_LINE_CHARS = 16_384


class Capability(enum.Flag):
    """What a backend can do; the UI hides what is missing."""

    NONE = 0
    RUN = enum.auto()  #: run an argv command
    SCRIPT = enum.auto()  #: run a bash script
    CANCEL = enum.auto()  #: cancel a running command with its whole tree
    TARGETS = enum.auto()  #: list targets
    LOGS = enum.auto()  #: stream a target's logs
    EXEC_IN_TARGET = enum.auto()  #: run a command inside a target (container, pod)
    #: ``stream_logs`` takes ``since`` and stamps lines with their logged time, so a
    #: target's logs can be followed again after a restart without gaps or repeats
    LOGS_SINCE = enum.auto()
    STATS = enum.auto()  #: CPU, memory and restarts of a target (``target_stats``)
    OPERATIONS = enum.auto()  #: built-in operations on targets (restart, stop, ...)


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line of a command's or a target's output."""

    stream: Literal["stdout", "stderr", "log"]
    text: str
    ts: float  #: wall-clock time (``time.time()``) when the line arrived
    truncated: bool = False  #: the line was longer than ``MAX_LINE_CHARS`` and was cut
    source: str = ""  #: a target or log-source name, where it matters


@dataclass(slots=True)
class CommandSpec:
    """What to run. Exactly one of ``argv`` and ``script`` is set."""

    argv: list[str] | None = None
    script: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  #: added to the backend's environment
    cwd: str | None = None
    timeout: float | None = None  #: seconds; the whole tree is killed when it passes
    target: str | None = None  #: run inside this target, where the backend supports it
    #: a built-in operation on ``target`` (``restart``, ``stop``...) instead of a command;
    #: ``argv`` is then its equivalent command line, shown to the operator and recorded.
    operation: str | None = None

    def __post_init__(self) -> None:
        if (self.argv is None) == (self.script is None):
            raise ValueError("CommandSpec needs exactly one of argv and script")
        if self.argv is not None and not self.argv:
            raise ValueError("CommandSpec.argv must not be empty")

    def display(self) -> str:
        """The exact command as a user should see it before confirming."""
        if self.argv is not None:
            import shlex

            return shlex.join(self.argv)
        return (
            f"bash -euo pipefail -c {self.script!r}"
            if "\n" not in (self.script or "")
            else ("bash -euo pipefail <<'SCRIPT'\n" + (self.script or "").rstrip("\n") + "\nSCRIPT")
        )


@dataclass(slots=True)
class CommandResult:
    """How a command ended."""

    exit_code: int | None  #: None when it never started or was killed before exiting
    duration: float  #: seconds
    timed_out: bool = False
    cancelled: bool = False
    output_sha256: str = ""  #: SHA-256 hex of every byte of stdout and stderr, in arrival order
    output_bytes: int = 0
    error: str | None = None  #: why it could not start (command not found, ...)


@dataclass(frozen=True, slots=True)
class Target:
    """Something a backend operates on."""

    id: str
    name: str
    kind: str  #: "process", "container", "pod", "revision", ...
    state: str  #: "running", "exited", ...
    details: Mapping[str, Any] = field(default_factory=dict)


class Execution(ABC):
    """A running command. Iterate ``lines()`` once; ``wait()`` for the result."""

    @abstractmethod
    def lines(self) -> AsyncIterator[OutputLine]:
        """Output lines as they arrive; ends when the command's output is closed."""

    @abstractmethod
    async def wait(self) -> CommandResult:
        """Wait until the command has ended (output drained) and return how it ended."""

    @abstractmethod
    async def cancel(self) -> None:
        """Kill the command and its whole process tree; ``wait()`` then reports cancelled."""


class Backend(ABC):
    """An environment the cockpit operates: local processes, Docker, Kubernetes, Cloud Run."""

    kind: ClassVar[str]
    capabilities: ClassVar[Capability] = Capability.NONE

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = dict(options or {})

    def describe(self) -> str:
        """One line naming the backend and its target, for headers and audit records."""
        return self.kind

    @abstractmethod
    async def start(self, spec: CommandSpec) -> Execution:
        """Start ``spec`` and return at once with a handle on it."""

    async def run(self, spec: CommandSpec) -> tuple[CommandResult, list[OutputLine]]:
        """Convenience: run to the end, collecting every line (for small outputs only)."""
        execution = await self.start(spec)
        collected = [line async for line in execution.lines()]
        return await execution.wait(), collected

    async def list_targets(self) -> list[Target]:
        """Targets of this environment; empty where the backend has none."""
        return []

    def stream_logs(
        self, target_id: str, *, tail: int = 100, follow: bool = True
    ) -> AsyncIterator[OutputLine]:
        """Lines of a target's logs: ``tail`` lines of backlog, then new ones if ``follow``.

        Backends with timestamped logs (docker) also take ``since`` (epoch seconds) and
        set each line's ``ts`` to the time it was logged.
        """
        raise NotImplementedError(f"backend {self.kind!r} cannot stream logs")

    async def target_stats(self, target_id: str) -> Mapping[str, float]:
        """The latest ``cpu_percent``, ``mem_bytes``, ``mem_percent`` and ``restarts`` of a
        target (``Capability.STATS``); raises ``CockpitError`` when there are none."""
        raise NotImplementedError(f"backend {self.kind!r} has no target statistics")

    @classmethod
    def complete_profile(cls, profile: Any) -> list[tuple[tuple[str | int, ...], str]]:
        """Fit a validated profile to this backend when it is loaded: add the backend's
        built-in actions, fill in default targets. Returns problems as ``(location in the
        profile, message)``; the loader reports them as ``FILE:LINE: message``."""
        return []

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; running commands are not touched."""
