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
        line = self.context.boundary.line  # a backend describes a host it was told of
        # What must stay in view (health, read-only, the clock) comes first; the backend's
        # description and the note give way on a narrow terminal (80 columns).
        tail = Text(no_wrap=True)
        tail.append("│ ")
        tail.append(label, style=f"bold {colour}")
        tail.append(" │ ")
        tail.append(mode, style="bold yellow" if mode == "READ-ONLY" else "")
        right = f" {clock} "
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" cockpit ", style="bold reverse")
        text.append(f" {_fit(line(profile.name), 24)} ", style="bold")
        where = Text(no_wrap=True)
        where.append(f"│ {line(self.context.backend.describe())} ")
        if self.connection == "connecting":
            where.append("connecting… ", style="italic yellow")
        elif self.connection:
            where.append(f"✗ {line(self.connection)} ", style="bold red")
        width = self.size.width or 80
        room = width - text.cell_len - tail.cell_len - len(right) - 1
        if where.cell_len > room:
            where.truncate(max(2, room - 2))
            where.append("… ")
        text.append_text(where)
        text.append_text(tail)
        if self.note:
            note_room = width - text.cell_len - len(right) - 4
            if note_room > 8:
                text.append(f" │ {_fit(line(self.note), note_room)}", style="italic")
        pad = max(1, width - text.cell_len - len(right))
        text.append(" " * pad)
        text.append(right, style="bold")
        return text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
