"""What a backend operates on: targets (processes, containers, pods, revisions), their
health as the backend computes it, and the events that change them.

Generic code (the Targets pane, ``cockpit targets``, the target health probe) only shows
these fields; it never reads a backend's ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

HealthState = Literal["ok", "unknown", "fail"]


@dataclass(frozen=True, slots=True)
class Health:
    """ok / unknown / fail, and why (``CrashLoopBackOff: back-off 5m``, ``unhealthy: ...``)."""

    state: HealthState = "unknown"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """Something a backend runs and operates on."""

    id: str  #: what the backend resolves (container id, pid, namespace/name)
    name: str
    kind: str  #: "process", "container", "pod", "deployment", "service", "revision", ...
    state: str  #: the backend's own word: "running", "exited", "CrashLoopBackOff", ...
    details: Mapping[str, Any] = field(default_factory=dict)  #: backend-specific extras
    scope: str = ""  #: namespace, region, Compose project; "" where it does not apply
    parent: str | None = None  #: ``id`` of the owning target (pod -> deployment)
    restarts: int | None = None
    started_at: float | None = None  #: epoch seconds, while it runs
    finished_at: float | None = None  #: epoch seconds, when it has ended
    health: Health = field(default_factory=Health)
    image: str = ""
    command: str = ""  #: what it runs (a process's command line, a container's command)
    #: other names the target answers to (a Compose service name)
    aliases: tuple[str, ...] = ()
    cpu_percent: float | None = None
    mem_bytes: int | None = None

    def answers_to(self, name: str) -> bool:
        """The target is ``name`` (its name, id or an alias)."""
        return name in (self.name, self.id) or name in self.aliases

    def with_changes(self, **changes: Any) -> Target:
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        """The fields ``cockpit targets --json`` prints."""
        return {
            "kind": self.kind,
            "name": self.name,
            "id": self.id,
            "scope": self.scope,
            "parent": self.parent,
            "state": self.state,
            "health": {"state": self.health.state, "reason": self.health.reason},
            "restarts": self.restarts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "image": self.image,
            "command": self.command,
            "cpu_percent": self.cpu_percent,
            "mem_bytes": self.mem_bytes,
        }


def missing_target(name: str, noun: str = "target") -> Target:
    """A target a profile names that the backend does not have."""
    return Target(id="", name=name, kind=noun, state="missing",
                  health=Health("fail", f"no such {noun}: {name}"))


@dataclass(frozen=True, slots=True)
class TargetEvent:
    """Something that happened to a target (``die``, ``health_status: unhealthy``, a pod
    event ``BackOff``), as the backend reports it."""

    ts: float  #: epoch seconds
    target_id: str
    target_name: str
    action: str  #: the backend's word: "start", "die", "oom", "BackOff", ...
    text: str = ""  #: a sentence, where the backend gives one
    #: "Normal" or "Warning" (Kubernetes' event types); views highlight warnings
    type: str = "Normal"

    @property
    def is_warning(self) -> bool:
        return self.type.casefold() == "warning"
