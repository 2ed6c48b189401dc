"""``?``: every binding of the focused pane and of the app, with its id for the keymap."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label

from cockpit.tui.settings import settings_path


class HelpScreen(ModalScreen[None]):
    """Lists keys, what they do and their binding ids."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    HelpScreen DataTable { height: auto; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, bindings: list[tuple[str, str, str, str]]) -> None:
        """``bindings``: (where, key, description, id) rows."""
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("[b]Keys[/b] — remap any id in " + str(settings_path()) + " (keymap:)")
            table: DataTable = DataTable(cursor_type="row", zebra_stripes=False)
            table.add_columns("where", "key", "action", "id")
            for row in self.rows:
                table.add_row(*row)
            yield table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
