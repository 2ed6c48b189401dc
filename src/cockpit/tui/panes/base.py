"""What the panes share: a bordered container with a title, a number key and a status."""

from __future__ import annotations

from textual.containers import Vertical

from cockpit.tui.context import CockpitContext


class Pane(Vertical, can_focus=False):
    """A titled pane. ``PANE_NUMBER`` is its ``1``-``5`` jump key."""

    PANE_TITLE = "Pane"
    PANE_NUMBER = 0
    ALLOW_MAXIMIZE = True  #: ``f`` shows the pane full-screen

    DEFAULT_CSS = """
    Pane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        height: 1fr;
        padding: 0;
    }
    Pane:focus-within {
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
    }
    """

    def __init__(self, context: CockpitContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.context = context
        self.border_title = f"{self.PANE_NUMBER} {self.PANE_TITLE}"

    def set_status(self, text: str) -> None:
        """A short note in the bottom border (counts, dropped lines, filter)."""
        self.border_subtitle = text

    def focus_pane(self) -> None:
        """Focus the pane's main widget (its first focusable child)."""
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return
