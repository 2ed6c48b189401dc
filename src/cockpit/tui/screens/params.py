"""A form for an action's parameters, validated by the core before anything runs.

Everything the form shows from the profile (the action's title, each param's
description, regex, default and choices) passes the boundary: escapes visible, secrets
redacted, lengths bounded. What it submits is the profile's own value: a choice shown as
``c \\e]52;...`` submits the choice itself, and a default that cannot be shown as it
is (escapes, a secret) is left to the core, the field showing it as its placeholder.
"""

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

#: a regex longer than this says less in a placeholder than the param's type
HINT_REGEX_MAX = 32


def _hint(param: Param) -> str:
    """The placeholder of an empty field: a short regex (``^blue=[0-9]+$``), else the
    type; ``optional`` when it may stay empty."""
    hint = param.regex if param.regex and len(param.regex) <= HINT_REGEX_MAX else param.type
    return hint if param.is_required else f"optional ({hint})"


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

    def __init__(self, action: Action, boundary: Boundary | None = None,
                 values: dict[str, Any] | None = None) -> None:
        """``values``: fields filled in already (a target picked in the Targets pane)."""
        super().__init__()
        self.action = action
        self.given = dict(values or {})
        self.errors: dict[str, str] = {}
        self.boundary = boundary if boundary is not None else Boundary()

    def compose(self) -> ComposeResult:
        line = self.boundary.line
        with VerticalScroll():
            title = Text()
            title.append(line(self.action.id), style="bold")
            title.append(f" — {line(self.action.title)} ({self.action.danger})")
            yield Label(title)
            for param in self.action.params:
                label = f"{param.name} ({param.type}{', required' if param.is_required else ''})"
                yield Label(Text(line(label)))
                yield self._field(param)
                if param.description:
                    yield Static(line(param.description), classes="help", markup=False)
                yield Static("", id=f"error-{param.name}", classes="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Next", id="submit", variant="primary")

    def _field(self, param: Param):
        field_id = f"param-{param.name}"
        given = param.name in self.given
        value = self.given[param.name] if given else param.default
        if param.type == "choice":
            choices = param.choices or []
            options = list(zip(self._choice_labels(choices), choices, strict=True))
            chosen = value if value in choices else Select.NULL
            return Select(options, value=chosen, id=field_id, allow_blank=param.default is None)
        if param.type == "bool":
            return Switch(value=bool(value), id=field_id)
        placeholder = self.boundary.line(_hint(param))
        if given:  # shown and submitted as it is (it passed the boundary where it came from)
            return Input(value="" if value is None else str(value), id=field_id,
                         password=param.secret, placeholder=placeholder)
        default = "" if param.default is None else str(param.default)
        if default and not param.secret and self.boundary.line(default) != default:
            # Shown in the field, its visible form would be what runs: left blank, the
            # core fills in the real default, which the placeholder shows safely.
            placeholder = f"default: {self.boundary.line(default)}"
            default = ""
        return Input(value=default, id=field_id, password=param.secret, placeholder=placeholder)

    def _choice_labels(self, choices: list[str]) -> list[Text]:
        """Each choice as shown (plain text, not markup), one label per choice: two that
        would look alike (``\\e`` typed, an ESC) are told apart by their number."""
        labels = [self.boundary.line(choice) for choice in choices]
        seen: dict[str, int] = {}
        for label in labels:
            seen[label] = seen.get(label, 0) + 1
        return [Text(f"{label} (choice {n})" if seen[label] > 1 else label)
                for n, label in enumerate(labels, 1)]

    def on_mount(self) -> None:
        fields = list(self.query("Input, Select, Switch"))
        open_ = [f for f in fields if (f.id or "").removeprefix("param-") not in self.given]
        if fields:
            (open_ or fields)[0].focus()

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
