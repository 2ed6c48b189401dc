"""Open the TUI on a profile: build the core objects, run the app, clean up after it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail, default_trail_path
from cockpit.core.config.discovery import find_profile
from cockpit.core.config.loader import load_profile
from cockpit.core.environment import open_backend
from cockpit.core.http_clients import warm_up
from cockpit.core.sources.early_probes import start_early_probes
from cockpit.tui.context import CockpitContext
from cockpit.tui.settings import UserSettings, load_settings
from cockpit.tui.terminal.hangup import HANGUP_EXIT_CODE, terminal_alive


def build_context(
    profile: str, *, read_only: bool = False, settings: UserSettings | None = None
) -> CockpitContext:
    """Load the profile and open its backend, trail and runner."""
    loaded = load_profile(find_profile(profile))
    backend = open_backend(loaded)
    trail_path = default_trail_path()
    runner = ActionRunner(loaded, backend, AuditTrail(trail_path), read_only=read_only)
    return CockpitContext(
        loaded=loaded,
        backend=backend,
        runner=runner,
        trail_path=trail_path,
        redactor=runner.redactor,
        settings=settings or load_settings(),
        read_only=runner.read_only,
    )


async def _stop_demo(context: CockpitContext) -> None:
    """Stop the demo service this cockpit started, through the audited ``stop`` action
    (the one path; the cockpit started the service, so it answers a confirmation yes)."""
    if context.loaded.profile.action("stop") is None:
        return
    prepared = context.runner.prepare("stop", source={"kind": "auto-stop"})
    outcome = await context.runner.run(prepared, confirm=lambda _request: True)
    with contextlib.suppress(OSError):  # the terminal may be gone (a hang-up)
        print(f"cockpit: stopped the demo service it had started ({outcome.status})",
              file=sys.stderr)


def run_tui(profile: str, *, read_only: bool = False, runbook: str | None = None) -> int:
    """Run the cockpit until the operator quits; switching profile re-opens it."""
    settings = load_settings()
    while True:
        context = build_context(profile, read_only=read_only, settings=settings)
        # before any thread starts: the first probe round, forked, beside the imports
        context.early_probes = start_early_probes(
            context.loaded.profile.health, context.backend, context.boundary)
        if not (context.early_probes is not None and context.early_probes.connects):
            context.backend.warm_up()  # an SDK, in a thread, while Textual is imported
        if context.loaded.profile.speaks_http() and context.early_probes is None:
            warm_up()  # in a thread, while Textual and the panes are imported
        # (with a forked round, the Health pane starts it once the first frame is out)
        from cockpit.tui.app import CockpitApp

        app = CockpitApp(context, runbook=runbook)
        runbook = None  # a profile switch does not re-open it
        result = None
        try:
            result = app.run()
        except OSError:
            if terminal_alive():
                raise
            # the terminal went away while Textual wrote to it: still clean up below
        finally:
            # No SIGHUP may cut the clean-up short: after a hang-up more follow.
            previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
            try:
                if app.started_demo:
                    asyncio.run(_stop_demo(context))
                _close_backend(context)
            finally:
                hung_up = not terminal_alive()
                if not hung_up:
                    signal.signal(signal.SIGHUP, previous)
        if hung_up:
            return HANGUP_EXIT_CODE
        if app.return_code not in (0, None):
            return app.return_code
        if isinstance(result, tuple) and result and result[0] == "switch":
            profile = result[1]
            continue
        return 0


def _close_backend(context) -> None:
    """Close the backend after the app's loop has ended. A client bound to that loop (the
    cloudrun backend's httpx connections) cannot be closed from this new one: the
    process ends anyway, so such a failure is not the operator's problem at quit."""
    try:
        asyncio.run(context.backend.close())
    except RuntimeError as exc:
        if "Event loop is closed" not in str(exc):
            raise
