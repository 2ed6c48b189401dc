"""A form for an action's parameters, validated by the core before anything runs."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from cockpit.core.actions.params import coerce_param
from cockpit.core.boundary import Boundary, has_controls, show_controls
from cockpit.core.config.models import Action, Param


class ParamFormScreen(ModalScreen[dict[str, Any] | None]):
    """One field per param; returns the raw values, or None when cancelled."""

    DEFAULT_CSS = """
    ParamFormScreen { align: center middle; }
    ParamFormScreen > VerticalScroll {
        width: 90%; max-width: 90; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ParamFormScreen .error { color: $error; height: auto; }
    ParamFormScreen .help { color: $text-muted; height: auto; }
    ParamFormScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ParamFormScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="params.cancel")]

    def __init__(self, action: Action) -> None:
        super().__init__()
        self.action = action
        self.errors: dict[str, str] = {}
        self.boundary = Boundary()

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            title = Text()
            title.append(self.action.id, style="bold")
            title.append(f" — {show_controls(self.action.title)} ({self.action.danger})")
            yield Label(title)
            for param in self.action.params:
                label = f"{param.name} ({param.type}{', required' if param.is_required else ''})"
                yield Label(Text(show_controls(label)))
                yield self._field(param)
                if param.description:
                    yield Static(show_controls(param.description), classes="help",
                                 markup=False)
                yield Static("", id=f"error-{param.name}", classes="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Next", id="submit", variant="primary")

    def _field(self, param: Param):
        field_id = f"param-{param.name}"
        if param.type == "choice":
            options = [(choice, choice) for choice in param.choices or []]
            value = param.default if param.default in (param.choices or []) else Select.NULL
            return Select(options, value=value, id=field_id, allow_blank=param.default is None)
        if param.type == "bool":
            return Switch(value=bool(param.default), id=field_id)
        default = "" if param.default is None else str(param.default)
        return Input(
            value=default, id=field_id, password=param.secret, placeholder=param.regex or param.type
        )

    def on_mount(self) -> None:
        fields = self.query("Input, Select, Switch")
        if fields:
            fields.first().focus()

    def raw_values(self) -> dict[str, Any]:
        """What the operator entered, before validation (blank fields omitted)."""
        values: dict[str, Any] = {}
        for param in self.action.params:
            widget = self.query_one(f"#param-{param.name}")
            if isinstance(widget, Select):
                if widget.value is not Select.NULL:
                    values[param.name] = widget.value
            elif isinstance(widget, Switch) or (isinstance(widget, Input) and widget.value != ""):
                values[param.name] = widget.value
        return values

    def validate_form(self) -> bool:
        """Check every field with the core's rules; show a message under each bad one."""
        raw = self.raw_values()
        self.errors = {}
        for param in self.action.params:
            if param.name in raw:
                try:
                    coerce_param(param, raw[param.name])
                except ValueError as exc:
                    # the message quotes what was typed: through the boundary
                    self.errors[param.name] = self.boundary.line(str(exc))
            elif param.is_required:
                self.errors[param.name] = f"{param.name}: required"
        for param in self.action.params:
            self.query_one(f"#error-{param.name}", Static).update(self.errors.get(param.name, ""))
        return not self.errors

    @on(Input.Changed)
    def _visible(self, event: Input.Changed) -> None:
        """A pasted escape is shown, never live: the field holds it in visible form
        (``\\e``), which is also the value submitted, so what is shown is what runs."""
        if has_controls(event.value):
            event.input.value = show_controls(event.value)

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        """Enter moves to the next field; in the last one it submits the form."""
        fields = list(self.query("Input, Select, Switch"))
        if event.input in fields and fields.index(event.input) < len(fields) - 1:
            fields[fields.index(event.input) + 1].focus()
            return
        self.submit()

    @on(Button.Pressed, "#submit")
    def submit(self) -> None:
        if self.validate_form():
            self.dismiss(self.raw_values())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
