"""Build a CockpitContext for TUI tests, and a one-pane harness app."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.redact import default_redactor
from cockpit.tui.context import CockpitContext
from cockpit.tui.settings import UserSettings
from tests.support import read_jsonl

FROZEN_TIME = 1_790_000_000.0  # 2026-09-21T...: a fixed clock for snapshots


def make_context(tmp_path: Path, profile_yaml: str, *, live: bool = True,
                 settings: UserSettings | None = None, read_only: bool = False,
                 backend: Any = None) -> CockpitContext:
    """A context over a profile written to ``tmp_path``, with its own operator trail.

    ``backend``: the profile's own backend (``open_backend``) when True, this backend
    when one is given, else a plain local backend."""
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(profile_yaml).lstrip("\n"))
    loaded = load_profile(path)
    if backend is True:
        from cockpit.core.environment import open_backend

        backend = open_backend(loaded)
    elif backend is None:
        backend = LocalBackend({"env": loaded.env})
    trail_path = tmp_path / "operator-audit.jsonl"
    runner = ActionRunner(loaded, backend, AuditTrail(trail_path), read_only=read_only,
                          operator="tester@host")
    return CockpitContext(
        loaded=loaded, backend=backend, runner=runner, trail_path=trail_path,
        redactor=default_redactor(), settings=settings or UserSettings(), read_only=read_only,
        live=live, frozen_time=None if live else FROZEN_TIME,
    )


class PaneHarness(App):
    """Mounts one widget full-screen, for pane tests."""

    def __init__(self, widget_factory) -> None:
        super().__init__()
        self._factory = widget_factory

    def compose(self) -> ComposeResult:
        yield self._factory()


def trail(context: CockpitContext) -> list[dict]:
    """Every record of the context's operator trail."""
    return read_jsonl(context.trail_path)  # the writer thread may be mid-line


def finals(context: CockpitContext) -> list[dict]:
    """The records that end an attempt (not the ``started`` ones)."""
    return [r for r in trail(context) if r["status"] != "started"]


async def palette_settled(pilot, query: str) -> None:
    """Wait until the open command palette holds ``query`` and its search for it is done
    (every hit listed), instead of pausing a fixed time for the search worker."""
    from textual.command import CommandInput, CommandPalette

    from tests.support import async_wait_until

    app = pilot.app
    await async_wait_until(
        lambda: isinstance(app.screen, CommandPalette)
        and app.screen.query_one(CommandInput).value == query,
        what=f"the palette to hold {query!r}")
    palette = app.screen
    await pilot.pause()  # the last Input.Changed starts the search for the whole query
    group = palette._GATHER_COMMANDS_GROUP
    await async_wait_until(
        lambda: not any(w.group == group and not w.is_finished for w in app.workers),
        what="the palette's search")
    await pilot.pause()
