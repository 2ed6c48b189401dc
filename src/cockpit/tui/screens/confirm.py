"""Confirmation of a caution or dangerous action, and of quitting with runs in flight.

Cancel is focused by default. A dangerous action shows the exact command and needs the
action id typed before Run is enabled. The command box scrolls from the keyboard while
Cancel (or the id input) keeps the focus: up/down, pgup/pgdn, home/end. Where the
dialog would not fit the terminal (a backend's before/after table on 80x24), the buttons
and the id input lose their borders, so they stay on screen. Its text is
shown through the boundary: escapes visible (``\\e]0;...``), never live, lines bounded.
"""

from __future__ import annotations

from rich.markup import escape
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from cockpit.core.boundary import bound, show_controls


def visible(text: str) -> str:
    """Text for the dialog: control characters shown, each line bounded."""
    return "\n".join(bound(line) for line in show_controls(text, keep_newlines=True).split("\n"))


HINT = "↑/↓ PgUp/PgDn Home/End: scroll the command"


class ConfirmScreen(ModalScreen[bool]):
    """Ask yes or no; returns True only on an explicit Run."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen.-dangerous > Vertical { border: thick $error; }
    ConfirmScreen #command-box {
        background: $panel; margin: 1 0 0 0; height: auto; max-height: 12;
        scrollbar-size-vertical: 1;
    }
    ConfirmScreen #command { padding: 0 1; }
    ConfirmScreen #message-box { height: auto; scrollbar-size-vertical: 1; }
    ConfirmScreen #scroll-hint { color: $text-muted; height: 1; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; min-width: 10; }
    ConfirmScreen Input { margin-top: 0; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("up", "scroll_command('up')", "Scroll", show=False),
        Binding("down", "scroll_command('down')", "Scroll", show=False),
        Binding("pageup", "scroll_command('page_up')", "Scroll", show=False),
        Binding("pagedown", "scroll_command('page_down')", "Scroll", show=False),
        Binding("home", "scroll_command('home')", "Scroll", show=False),
        Binding("end", "scroll_command('end')", "Scroll", show=False),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        command: str | None = None,
        type_to_confirm: str | None = None,
        confirm_label: str = "Run",
    ) -> None:
        super().__init__(classes="-dangerous" if type_to_confirm else "")
        self._title = title
        self._message = visible(message)
        self._command = visible(command) if command else None
        self.type_to_confirm = type_to_confirm
        self._confirm_label = confirm_label
        self._fitted_for = Size(0, 0)  #: the screen size the layout was fitted to

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{escape(visible(self._title))}[/b]", id="title")
            with VerticalScroll(id="message-box", can_focus=False):
                yield Static(self._message, id="message", markup=False)
            if self._command:
                with VerticalScroll(id="command-box", can_focus=False):
                    yield Static(self._command, id="command", markup=False)
                yield Static("", id="scroll-hint", markup=False)
            if self.type_to_confirm:
                yield Label(f"Type [b]{self.type_to_confirm}[/b] to enable {self._confirm_label}:")
                yield Input(placeholder="type the id shown above, then Enter", id="typed",
                            select_on_focus=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(
                    self._confirm_label,
                    id="confirm",
                    variant="error",
                    disabled=bool(self.type_to_confirm),
                )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self._fit()
        # Toasts would sit on the buttons of a small terminal: the question comes first.
        self.app.clear_notifications()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Keep the buttons (and the id input) on screen: the command box scrolls (from
        the full layout again: a larger terminal may not need the compact one)."""
        if self._command:
            if self.is_mounted and self.compact and self.size != self._fitted_for:
                self.compact = False
                self.query_one("#message-box", VerticalScroll).styles.max_height = None
            self.call_after_refresh(self._fit_command)

    def _fit_command(self) -> None:
        try:
            dialog = self.query_one(Vertical)
            box = self.query_one("#command-box", VerticalScroll)
        except NoMatches:  # answered before this refresh: already torn down
            return
        self._fitted_for = self.size
        def rows(widget) -> int:  # compact: one row each, whether laid out so yet or not
            if self.compact and widget.id in ("typed", "buttons"):
                return 1
            return widget.outer_size.height

        others = sum(rows(w) for w in dialog.children if w is not box)
        room = int(self.size.height * 0.9) - 2 - 1 - others  # borders, the box's margin
        if room < 3 and not self.compact:  # the buttons would fall off the dialog: they
            self.compact = True  # and the id input lose their borders
            room += sum(w.outer_size.height - 1 for w in dialog.children
                        if w.id in ("typed", "buttons"))
        message = self.query_one("#message-box", VerticalScroll)
        if room < 3:  # still too tall: the message's tail scrolls (its head, a backend's
            # table, stays in view), the command keeps three rows
            message.styles.max_height = max(3, message.outer_size.height - (3 - room))
            room = 3
        height = max(3, min(12, room))
        if box.styles.max_height is None or box.styles.max_height.value != height:
            box.styles.max_height = height
        self.call_after_refresh(self._show_hint)

    def _show_hint(self) -> None:
        """Say how to scroll only when the command does not fit in its box (the row
        under the box is blank otherwise)."""
        try:
            box = self.query_one("#command-box", VerticalScroll)
            hint = self.query_one("#scroll-hint", Static)
        except NoMatches:  # answered (Esc) before its first refresh: already torn down
            return
        hint.update(HINT if box.max_scroll_y > 0 else "")

    @property
    def compact(self) -> bool:
        """The buttons and the id input are drawn without borders (a small terminal)."""
        return self.has_class("-compact")

    @compact.setter
    def compact(self, value: bool) -> None:
        self.set_class(value, "-compact")
        for widget in self.query("Button, Input"):
            widget.compact = value  # type: ignore[attr-defined]

    def action_scroll_command(self, how: str) -> None:
        """Scroll the command box; the focus stays where it is (Cancel by default)."""
        if not self._command:
            return
        box = self.query_one("#command-box", VerticalScroll)
        scroll = {
            "up": box.scroll_up, "down": box.scroll_down,
            "page_up": box.scroll_page_up, "page_down": box.scroll_page_down,
            "home": box.scroll_home, "end": box.scroll_end,
        }[how]  # fmt: skip
        scroll(animate=False)

    def on_key(self, event: events.Key) -> None:
        """Typing goes to the id input even while Cancel (the default) has the focus."""
        if not self.type_to_confirm or event.character is None:
            return
        typed = self.query_one("#typed", Input)
        if typed.has_focus or not event.character.isprintable() or event.character == " ":
            return
        event.stop()
        event.prevent_default()
        typed.focus()
        typed.insert_text_at_cursor(event.character)

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value.strip() != self.type_to_confirm

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter after typing the exact id is the confirmation; anything else says why."""
        if event.value.strip() == self.type_to_confirm:
            self.dismiss(True)
        else:
            self.notify(f"type {self.type_to_confirm} exactly to run it, or Esc to cancel",
                        severity="warning", markup=False)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.type_to_confirm and self.query_one("#typed", Input).value.strip() != (
            self.type_to_confirm
        ):
            return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
