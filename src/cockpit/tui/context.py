"""What every pane and screen of the TUI shares: the loaded profile and the core objects."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.backends.base import Backend
from cockpit.core.boundary import Boundary
from cockpit.core.config.loader import LoadedProfile
from cockpit.core.redact import Redactor
from cockpit.core.sources.early_probes import EarlyProbes
from cockpit.tui.settings import UserSettings


@dataclass
class CockpitContext:
    """The core objects behind one cockpit session.

    ``live`` is False in snapshot tests: panes then start no workers and show only what
    tests feed them through their public ``show_*``/``add_*`` methods; ``frozen_time``
    fixes the clock so ages and the header clock are stable. ``boundary`` (built from
    ``redactor``) is the one way outside text reaches a pane or a screen.
    """

    loaded: LoadedProfile
    backend: Backend
    runner: ActionRunner
    trail_path: Path
    redactor: Redactor
    settings: UserSettings = field(default_factory=UserSettings)
    read_only: bool = False
    live: bool = True
    frozen_time: float | None = None
    #: the first round of health probes, running in a forked child (the Health pane
    #: takes it over); None: the pane probes everything itself
    early_probes: EarlyProbes | None = None
    boundary: Boundary = field(init=False)

    def __post_init__(self) -> None:
        self.boundary = Boundary(self.redactor)

    def now(self) -> float:
        """Wall-clock time, or the frozen time of a snapshot test."""
        return self.frozen_time if self.frozen_time is not None else time.time()
