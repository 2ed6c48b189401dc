"""``cockpit targets [--json]``: the backend's targets and their health, headless.

The same list as the TUI's Targets pane (every text through the boundary, children under
their parents); ``--json`` adds each target's backend details (``sources.target_details``:
a Cloud Run service's URL and traffic, a container's exit code). Exit 0; 1 when the backend
cannot list its targets (or has none to list: no ``TARGETS`` capability), the reason on
stderr; 2 for usage and profile errors.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from cockpit.cli.output import err, paint, print_json, safe_text


def add_targets_parser(sub: Any) -> None:
    from cockpit.cli.args import add_profile

    parser = sub.add_parser(
        "targets", help="list the backend's targets (processes, containers) and their health")
    add_profile(parser)
    parser.add_argument("--json", action="store_true",
                        help="a JSON array of targets (kind, name, scope, parent, state, "
                             "health {state, reason}, restarts, started_at, ..., details)")
    parser.set_defaults(func=cmd_targets)


def cmd_targets(args: argparse.Namespace) -> int:
    """List the targets once."""
    return asyncio.run(_targets(args))


async def _targets(args: argparse.Namespace) -> int:
    from cockpit.cli.commands import _load
    from cockpit.core.backends.base import Capability
    from cockpit.core.boundary import Boundary
    from cockpit.core.environment import open_backend
    from cockpit.core.errors import CockpitError
    from cockpit.core.redact import default_redactor
    from cockpit.core.sources.target_details import safe_details
    from cockpit.core.sources.targets import safe_target, tree_order

    loaded = _load(args)
    backend = open_backend(loaded)
    # the profile's secrets are hidden too, as in the TUI (ActionRunner's rule)
    secrets = [value for key, value in loaded.env.items()
               if any(w in key.upper() for w in ("KEY", "TOKEN", "SECRET", "PASSWORD"))
               and len(value) >= 4]
    boundary = Boundary(default_redactor().with_secrets(secrets))
    try:
        if not backend.capabilities & Capability.TARGETS:
            err(f"the {backend.kind} backend has no targets")
            return 1
        try:
            await backend.ensure_connected()
            listed = await backend.list_targets()
        except CockpitError as exc:
            err(f"cannot list the targets of {safe_text(backend.describe())}: "
                f"{safe_text(str(exc))}")
            return 1
    finally:
        await backend.close()
    targets = [safe_target(t, boundary) for t in listed]
    rows = tree_order(targets)
    if args.json:
        # the details of each listed target, by the shown target's identity
        details = {id(shown): raw.details for shown, raw in zip(targets, listed, strict=True)}
        print_json([{**row.target.as_json(),
                     "details": safe_details(details[id(row.target)], boundary)}
                    for row in rows])
        return 0
    if not rows:
        print(safe_text(f"no {backend.target_noun} targets ({backend.describe()})"))
        return 0
    _print_table(rows, time.time())
    return 0


_HEALTH = {"ok": ("✓ ok", "ok"), "unknown": ("? unknown", "warn"), "fail": ("✗ FAIL", "fail")}


def _print_table(rows: list[Any], now: float) -> None:
    """A table: the health as a word and a symbol (colour only on a terminal)."""
    from cockpit.core.sources.health import format_span
    from cockpit.core.sources.targets import format_cpu, format_mem

    table: list[list[str]] = []
    for row in rows:
        t = row.target
        age = format_span(now - t.started_at) if t.started_at is not None else "-"
        table.append([
            t.kind, "  " * row.depth + t.name, _short_id(t.id), t.scope or "-", t.state,
            _HEALTH.get(t.health.state, _HEALTH["unknown"])[0],
            "-" if t.restarts is None else str(t.restarts), age,
            format_cpu(t.cpu_percent), format_mem(t.mem_bytes), t.health.reason,
        ])
    header = ["KIND", "NAME", "ID", "SCOPE", "STATE", "HEALTH", "RESTARTS", "AGE", "CPU",
              "MEM", "REASON"]
    # ids that are paths (kubernetes: NAMESPACE/KIND/NAME) say no more than KIND, NAME
    # and SCOPE; pids and container ids do
    paths = all("/" in row.target.id for row in rows)
    keep = [i for i, name in enumerate(header)
            if (not paths if name == "ID" else
                name in ("KIND", "NAME", "STATE", "HEALTH", "REASON")
                or any(cells[i] != "-" for cells in table))]  # columns with nothing: left out
    widths = {i: max(len(header[i]), *(len(cells[i]) for cells in table)) for i in keep}
    last = keep[-1]

    def line(cells: list[str], health_style: str | None = None) -> str:
        parts = []
        for i in keep:
            text = cells[i] if i == last else f"{cells[i]:{widths[i]}}"
            if header[i] == "HEALTH" and health_style is not None:
                text = paint(text, health_style)
            parts.append(text)
        return "  ".join(parts).rstrip()

    print(line(header))
    for row, cells in zip(rows, table, strict=True):
        style = _HEALTH.get(row.target.health.state, _HEALTH["unknown"])[1]
        print(line(cells, style))


def _short_id(target_id: str) -> str:
    """A pid whole, a container id as ``docker ps`` shows it (12 characters)."""
    return target_id[:12] if target_id else "-"
