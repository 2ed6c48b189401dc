"""The backend's targets as generic code shows them: through the boundary for outside
text, kept current from the backend's ``watch_targets`` (its event stream where it has
one), ordered with children under their parents.

The Targets pane and ``cockpit targets`` read targets only through here, so a backend
cannot hand a name, a state or a reason to the screen without it passing the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cockpit.core.backends.base import Backend, Capability, Health, Target, TargetEvent
from cockpit.core.boundary import Boundary, bound

#: Longest name, state or scope shown; a reason gets more room.
NAME_LIMIT = 253  # a Kubernetes name's limit
REASON_LIMIT = 1000


def safe_target(target: Target, boundary: Boundary) -> Target:
    """``target`` with every text field through the boundary (escapes shown, secrets
    hidden, lengths bounded)."""

    def short(text: str, limit: int = NAME_LIMIT) -> str:
        return bound(boundary.line(text), limit)

    return target.with_changes(
        id=short(target.id),
        name=short(target.name),
        kind=short(target.kind, 40),
        state=short(target.state, 80),
        scope=short(target.scope),
        parent=short(target.parent) if target.parent is not None else None,
        image=short(target.image, 400),
        command=bound(boundary.line(target.command), 1000),
        aliases=tuple(short(a) for a in target.aliases),
        health=Health(target.health.state, short(target.health.reason, REASON_LIMIT)),
        details={},  # backend-specific: never shown by generic code
    )


def _safe_all(targets: list[Target], boundary: Boundary,
              seen: dict[str, tuple[Target, Target]]) -> list[Target]:
    """``safe_target`` of each, reusing ``seen``'s answer for a target listed as before."""
    shown: list[Target] = []
    fresh: dict[str, tuple[Target, Target]] = {}
    for target in targets:
        known = seen.get(target.id)
        safe = known[1] if known is not None and known[0] == target else \
            safe_target(target, boundary)
        fresh[target.id] = (target, safe)
        shown.append(safe)
    seen.clear()
    seen.update(fresh)
    return shown


def safe_event(event: TargetEvent, boundary: Boundary) -> TargetEvent:
    """An event with its texts through the boundary."""
    return TargetEvent(event.ts, bound(boundary.line(event.target_id), NAME_LIMIT),
                       bound(boundary.line(event.target_name), NAME_LIMIT),
                       bound(boundary.line(event.action), 80),
                       bound(boundary.line(event.text), REASON_LIMIT),
                       bound(boundary.line(event.type), 40))


@dataclass(frozen=True, slots=True)
class TargetRow:
    """A target in display order: ``depth`` 1 under its parent."""

    target: Target
    depth: int


def tree_order(targets: list[Target]) -> list[TargetRow]:
    """Parents first, each followed by its children (by kind, then name); a child whose
    parent is not listed stands at the top level."""
    ids = {t.id for t in targets}
    children: dict[str, list[Target]] = {}
    roots: list[Target] = []
    for target in targets:
        if target.parent is not None and target.parent in ids and target.parent != target.id:
            children.setdefault(target.parent, []).append(target)
        else:
            roots.append(target)
    rows: list[TargetRow] = []

    def add(target: Target, depth: int, seen: set[str]) -> None:
        rows.append(TargetRow(target, min(depth, 4)))
        if target.id in seen:
            return
        for child in sorted(children.get(target.id, ()), key=_order):
            add(child, depth + 1, seen | {target.id})

    for root in sorted(roots, key=_order):
        add(root, 0, set())
    return rows


def _order(target: Target) -> tuple[str, str, str]:
    return (target.scope, target.kind, target.name)


async def current_targets(backend: Backend, boundary: Boundary) -> list[Target]:
    """One listing, through the boundary (``CockpitError`` when it cannot be had)."""
    if not backend.capabilities & Capability.TARGETS:
        return []
    await backend.ensure_connected()
    return [safe_target(t, boundary) for t in await backend.list_targets()]


async def watch_targets(backend: Backend, boundary: Boundary) -> AsyncIterator[list[Target]]:
    """The target list each time the backend says it changed, through the boundary."""
    if not backend.capabilities & Capability.TARGETS:
        return
    await backend.ensure_connected()
    stream = backend.watch_targets()
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        seen: dict[str, tuple[Target, Target]] = {}  # id -> (as listed, as shown)
        async for targets in stream:
            # off the event loop, and only for targets that changed: the boundary over a
            # thousand targets takes a while
            yield await asyncio.to_thread(_safe_all, targets, boundary, seen)


async def recent_events(backend: Backend, target: Target, boundary: Boundary,
                        limit: int = 20) -> list[TargetEvent]:
    """The target's recent events, through the boundary."""
    await backend.ensure_connected()
    events = await backend.target_events(target.id, limit)
    return [safe_event(e, boundary) for e in events[-limit:]]


def format_cpu(percent: float | None) -> str:
    """``"0.4%"``, ``"12%"``; ``"-"`` where it is not known."""
    if percent is None:
        return "-"
    return f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%"


def format_mem(size: float | None) -> str:
    """``"512K"``, ``"34.5M"``, ``"1.2G"`` (powers of 1024); ``"-"`` where not known."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            if unit == "B":
                return f"{value:.0f}B"
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
        value /= 1024
    return "-"  # pragma: no cover - the loop always returns
