"""``o`` on a target: the backend's operations for its kind that the profile enables.

Picking one returns its action id; the app then runs it through the usual flow (params
form where more than the target is needed, policy, confirmation showing the operation's
command line, trail). Names and titles are shown through the boundary.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from cockpit.core.backends.base import Operation, Target
from cockpit.core.boundary import Boundary
from cockpit.core.config.models import Action

_DANGER_STYLE = {"safe": "green", "caution": "yellow", "dangerous": "bold red"}


class OperationsScreen(ModalScreen[str | None]):
    """A list of operations; Enter picks one (its action id), Esc closes."""

    DEFAULT_CSS = """
    OperationsScreen { align: center middle; }
    OperationsScreen > Vertical {
        width: 90%; max-width: 80; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    OperationsScreen OptionList { height: auto; max-height: 16; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="operations.cancel")]

    def __init__(self, target: Target, choices: list[tuple[Operation, Action]],
                 boundary: Boundary) -> None:
        super().__init__()
        self.target = target
        self.choices = choices
        self.boundary = boundary

    def compose(self) -> ComposeResult:
        line = self.boundary.line
        with Vertical():
            title = Text()
            title.append("Operations on ", style="bold")
            title.append(f"{self.target.kind} {self.target.name}", style="bold")
            yield Label(title)
            width = max(len(op.name) for op, _ in self.choices)
            options = []
            for op, action in self.choices:
                text = Text()
                text.append(f"{line(op.name):{width}}  ", style="bold")
                text.append(f"{action.danger:9}", style=_DANGER_STYLE.get(action.danger, ""))
                text.append(f"  {line(action.title)}")
                options.append(Option(text, id=action.id))
            yield OptionList(*options, id="operations")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
