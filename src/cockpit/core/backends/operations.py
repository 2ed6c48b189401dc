"""Operations a backend declares on its targets (restart, stop, scale, ...).

An operation is data: a name, a target, typed args. The backend runs it (through its API)
and previews it as the equivalent command line (``docker restart web``, ``kubectl scale
deployment/api --replicas=3``), shown before confirming and recorded. A profile gets each
as an action ``KIND.OPERATION`` (``docker.restart``) that goes through the usual params,
policy, confirmation and trail; ``backend.operations`` changes a danger level or drops one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Danger = Literal["safe", "caution", "dangerous"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One verb a backend supports on some kinds of targets."""

    name: str  #: "restart"; the action is ``KIND.NAME``
    title: str
    description: str
    danger: Danger
    target_kinds: tuple[str, ...]  #: which targets it applies to ("container",)
    #: typed params besides the target, as profile ``params:`` entries (name, type, ...)
    params: tuple[Mapping[str, Any], ...] = ()
    timeout: float = 60.0
    #: what the target param is called in forms and ``-p`` (``container``, ``pod``)
    target_param: str = "target"
    tags: tuple[str, ...] = ()
    #: the target states it makes sense in (the backend's words); empty: any state.
    #: Views offer it only there (start on a stopped container, unpause on a paused one)
    states: tuple[str, ...] = ()

    def applies_to(self, kind: str, state: str) -> bool:
        """Offered on a target of this kind in this state."""
        return kind in self.target_kinds and (not self.states or state in self.states)


@dataclass(frozen=True, slots=True)
class OperationCall:
    """An operation to run: which, on what, with which args (already validated)."""

    name: str
    target: str
    args: Mapping[str, Any] = field(default_factory=dict)
