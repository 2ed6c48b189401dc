"""A target's backend-specific ``details`` (a Cloud Run service's URL and traffic, a
container's exit code, a pod's node) as outside text, for the detail view and
``cockpit targets --json``.

Lists keep ``details`` away from generic code (``safe_target`` drops them: they can be
large and every listing would pay for them); these functions read one target's, or one
listing's, when asked. Every string passes the boundary and is bounded; numbers, booleans
and None stay as they are; lists and maps are cut at ``MAX_ITEMS`` and ``MAX_DEPTH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cockpit.core.backends.base import Backend, Target
from cockpit.core.boundary import Boundary, bound

MAX_ITEMS = 50  #: entries of one list or map kept (the rest counted)
MAX_DEPTH = 4  #: nesting kept; deeper values are shown as ``…``
TEXT_LIMIT = 500  #: longest string value shown


def safe_details(details: Mapping[str, Any], boundary: Boundary) -> dict[str, Any]:
    """``details`` with every key and string through the boundary, bounded."""
    value = _safe(dict(details), boundary, 0)
    return value if isinstance(value, dict) else {}


def _safe(value: Any, boundary: Boundary, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {_text(k, boundary, 80): _safe(v, boundary, depth + 1)
               for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        out_list = [_safe(v, boundary, depth + 1) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            out_list.append(f"… {len(seq) - MAX_ITEMS} more")
        return out_list
    return _text(value, boundary, TEXT_LIMIT)


def _text(value: Any, boundary: Boundary, limit: int) -> str:
    return bound(boundary.line(str(value)), limit)


def _inline(value: Any) -> str:
    """One line for a value already made safe: ``k=v k=v``, ``a, b``."""
    if isinstance(value, dict):
        return " ".join(f"{k}={_inline(v)}" for k, v in value.items()
                        if v not in (None, "", [], {}))
    if isinstance(value, list):
        return ", ".join(_inline(v) for v in value)
    return "-" if value is None else str(value)


def detail_lines(details: Mapping[str, Any], boundary: Boundary) -> list[tuple[str, str]]:
    """(label, text) per detail worth showing (empty ones left out); a list of maps (a
    service's traffic, its conditions) gives one line per item under its label."""
    lines: list[tuple[str, str]] = []
    for key, value in safe_details(details, boundary).items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            lines += [(key if i == 0 else "", _inline(item)) for i, item in enumerate(value)]
        else:
            lines.append((key, _inline(value)))
    return lines


async def target_details(backend: Backend, target_id: str,
                         boundary: Boundary) -> list[tuple[str, str]]:
    """The details of the target ``target_id`` as listed now (``detail_lines``); empty
    when the backend lists no such target."""
    await backend.ensure_connected()
    found: Target | None = next(
        (t for t in await backend.list_targets() if t.id == target_id), None)
    return detail_lines(found.details, boundary) if found is not None else []
