"""One-line header: profile, backend, overall health, read-only state, clock."""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from cockpit.tui.context import CockpitContext

_HEALTH = {
    "ok": ("● healthy", "green"),
    "fail": ("✗ UNHEALTHY", "red"),
    "unknown": ("? probing", "yellow"),
    "none": ("no health probes", "dim"),
}


class CockpitHeader(Widget):
    """Where am I, is it healthy, what time is it. A profile's ``banner`` colours it."""

    DEFAULT_CSS = """
    CockpitHeader { height: 1; background: $panel; color: $foreground; }
    """
    health: reactive[str] = reactive("unknown")
    note: reactive[str] = reactive("")
    #: "connecting" while the backend's connect() runs, "" once connected, else why not
    connection: reactive[str] = reactive("")

    def __init__(self, context: CockpitContext) -> None:
        super().__init__(id="header")
        self.context = context
        banner = context.loaded.profile.banner
        if banner:
            self.styles.background = banner
            self.styles.color = "white"

    def on_mount(self) -> None:
        self._minute = self._clock()
        if self.context.live:
            self.set_interval(1.0, self._tick)

    def _clock(self) -> str:
        return time.strftime("%H:%M", time.localtime(self.context.now()))

    def _tick(self) -> None:
        """Repaint only when the minute changes: a ticking seconds field would cost an
        SSH link a header line every second."""
        minute = self._clock()
        if minute != self._minute:
            self._minute = minute
            self.refresh()

    def render(self) -> Text:
        profile = self.context.loaded.profile
        health = self.health if profile.health else "none"
        label, colour = _HEALTH.get(health, _HEALTH["unknown"])
        mode = "READ-ONLY" if self.context.read_only or profile.read_only else "read-write"
        clock = self._clock()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" cockpit ", style="bold reverse")
        line = self.context.boundary.line  # a backend describes a host it was told of
        text.append(f" {line(profile.name)} ", style="bold")
        text.append(f"│ {line(self.context.backend.describe())} ")
        if self.connection == "connecting":
            text.append("connecting… ", style="italic yellow")
        elif self.connection:
            text.append(f"✗ {line(self.connection)} ", style="bold red")
        text.append("│ ")
        text.append(label, style=f"bold {colour}")
        text.append(" │ ")
        text.append(mode, style="bold yellow" if mode == "READ-ONLY" else "")
        if self.note:
            text.append(f" │ {line(self.note)}", style="italic")
        right = f" {clock} "
        pad = max(1, self.size.width - text.cell_len - len(right))
        text.append(" " * pad)
        text.append(right, style="bold")
        return text
