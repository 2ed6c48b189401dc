"""Enter in the Audit pane: one record as pretty JSON (a malformed line: raw and why)."""

from __future__ import annotations

from typing import ClassVar

import orjson
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from cockpit.core.audit.query import AuditRecord
from cockpit.core.boundary import Boundary

#: A record is shown up to this many characters.
MAX_CHARS = 200_000


def record_text(record: AuditRecord, boundary: Boundary) -> str:
    """Pretty JSON of a record, or the error and raw line of a malformed one; through
    the boundary (values redacted, escapes visible, lines and the whole bounded)."""
    if record.data is None:
        where = f"line {record.line}: " if record.line else ""
        text = f"malformed ({where}{record.error})\n\n{record.raw}"
    else:
        data = boundary.redactor.redact_obj(record.data)
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()
    return Boundary(boundary.redactor, line_limit=MAX_CHARS, text_limit=MAX_CHARS).text(text)


class RecordScreen(ModalScreen[None]):
    """A scrollable view of one record; Esc closes."""

    DEFAULT_CSS = """
    RecordScreen { align: center middle; }
    RecordScreen > Vertical {
        width: 90%; max-width: 120; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    RecordScreen #record-title { height: auto; }
    RecordScreen VerticalScroll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close", id="record.close"),
        Binding("y", "copy", "Copy", id="record.copy"),
        Binding("j", "scroll(1)", "Down", show=False, id="record.down"),
        Binding("k", "scroll(-1)", "Up", show=False, id="record.up"),
    ]

    def __init__(self, record: AuditRecord, boundary: Boundary, *, title: str = "Record"
                 ) -> None:
        super().__init__()
        self.record = record
        self.title_text = boundary.line(title)
        self.text = record_text(record, boundary)  #: what is shown (through the boundary)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"), id="record-title")
            with VerticalScroll(id="record-scroll"):
                if self.record.malformed:
                    yield Static(Text(self.text), id="record-body")
                else:
                    yield Static(Syntax(self.text, "json", theme="ansi_dark",
                                        background_color="default", word_wrap=True),
                                 id="record-body")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("record copied (redacted)")

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)
