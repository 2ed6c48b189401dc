"""Ask for a file path (the palette's "Open a runbook file…")."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static


class PathPromptScreen(ModalScreen[Path | None]):
    """One input; Enter returns the path if the file exists, Esc cancels."""

    DEFAULT_CSS = """
    PathPromptScreen { align: center middle; }
    PathPromptScreen > Vertical {
        width: 90%; max-width: 100; height: auto; border: thick $accent;
        background: $surface; padding: 0 1;
    }
    PathPromptScreen #problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield Input(placeholder=self.placeholder, id="path")
            yield Static("", id="problem", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if not event.value.strip():
            return
        if not path.is_file():
            self.query_one("#problem", Static).update(f"no such file: {path}")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
