"""``:ctx`` / ``:ns`` without a name: the values a backend's scope can be switched to.

The choices are fetched in a worker (``CockpitApp.scope_choices``: the backend may read a
kubeconfig or ask a cluster); the list shows "loading…" meanwhile and the UI never waits.
Enter returns the value picked; Esc closes. Every value is shown through the boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from cockpit.tui.app import CockpitApp


class ScopeScreen(ModalScreen[str | None]):
    """Pick a value of ``scope`` (a context, a namespace)."""

    DEFAULT_CSS = """
    ScopeScreen { align: center middle; }
    ScopeScreen > Vertical {
        width: 90%; max-width: 70; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ScopeScreen OptionList { height: auto; max-height: 16; margin-top: 1; }
    ScopeScreen #scope-note { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="scope.cancel")]

    def __init__(self, scope: str, current: str | None) -> None:
        super().__init__()
        self.scope = scope
        self.current = current
        self.choices: list[str] | None = None  #: None until loaded
        self.problem: str | None = None

    @property
    def cockpit(self) -> CockpitApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Switch {self.scope}", style="bold"))
            yield Static(f"loading the {self.scope}s…", id="scope-note", markup=False)
            yield OptionList(id="scope-choices")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(OptionList).display = False
        self.run_worker(self._load(), exit_on_error=False)

    async def _load(self) -> None:
        try:
            choices = await self.cockpit.scope_choices(self.scope)
        except Exception as exc:
            self.problem = self.cockpit.context.boundary.line(one_line(exc))
            self.choices = []
            self.query_one("#scope-note", Static).update(
                f"cannot list the {self.scope}s: {self.problem}")
            return
        self.show_choices(choices)

    def show_choices(self, choices: list[str]) -> None:
        line = self.cockpit.context.boundary.line
        self.choices = list(choices)
        options = self.query_one(OptionList)
        options.clear_options()
        for value in self.choices:
            text = Text(line(value), style="bold" if value == self.current else "")
            if value == self.current:
                text.append("  (current)", style="dim")
            options.add_option(Option(text, id=value))
        note = self.query_one("#scope-note", Static)
        if not self.choices:
            note.update(f"no {self.scope} to switch to")
            return
        note.display = False
        options.display = True
        options.highlighted = self.choices.index(self.current) \
            if self.current in self.choices else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


def one_line(exc: BaseException) -> str:
    """An error's first line (its type's name when it has no text)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
