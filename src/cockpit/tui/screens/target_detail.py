"""Enter on a target: every generic field of it, what its backend says besides (a Cloud
Run service's URL, traffic and last modifier), and its recent events (Esc back).

The target passed the boundary before it reached the pane; its backend details pass it
in ``sources.target_details``, events in ``sources.targets.recent_events``. Everything
is shown as plain text (never markup).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from cockpit.core.backends.base import Target, TargetEvent
from cockpit.core.sources.health import format_span
from cockpit.core.sources.target_details import target_details
from cockpit.core.sources.targets import format_cpu, format_mem, recent_events
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.targets import HEALTH

EVENTS_SHOWN = 20


def _when(ts: float | None, now: float, suffix: str = "ago") -> str:
    if ts is None:
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    return f"{stamp} ({format_span(now - ts)} {suffix})"


def target_fields(target: Target, now: float) -> list[tuple[str, str]]:
    """(label, value) of every field the pane knows of a target."""
    label, _style = HEALTH.get(target.health.state, HEALTH["unknown"])
    return [
        ("kind", target.kind),
        ("name", target.name),
        ("id", target.id or "-"),
        ("scope", target.scope or "-"),
        ("parent", target.parent or "-"),
        ("state", target.state),
        ("health", label),
        ("reason", target.health.reason or "-"),
        ("restarts", "-" if target.restarts is None else str(target.restarts)),
        ("started", _when(target.started_at, now)),
        ("finished", _when(target.finished_at, now)),
        ("image", target.image or "-"),
        ("command", target.command or "-"),
        ("aliases", ", ".join(target.aliases) or "-"),
        ("cpu", format_cpu(target.cpu_percent)),
        ("memory", format_mem(target.mem_bytes)),
    ]


#: how a Warning event is marked: a symbol too, so it shows without colour (NO_COLOR)
WARNING_MARK, WARNING_STYLE = "!", "bold yellow"


def event_lines(events: list[TargetEvent]) -> list[str]:
    """One line per event, newest first (in view at 80x24): a ``!`` and the word for a
    warning, time, what, and the backend's sentence where it says more than the action
    (a workload's event about one of its pods names the pod there)."""
    return [
        f"{WARNING_MARK if e.is_warning else ' '} "
        f"{time.strftime('%H:%M:%S', time.localtime(e.ts))}  "
        + ("Warning " if e.is_warning else "") + e.action
        + (f"  {e.text}" if e.text and e.text not in e.action else "")
        for e in reversed(events)
    ]


def event_text(events: list[TargetEvent]) -> Text:
    """``event_lines`` as plain text (never markup), warnings in the warning colour."""
    text = Text()
    for i, (event, line) in enumerate(zip(reversed(events), event_lines(events),
                                          strict=True)):
        if i:
            text.append("\n")
        text.append(line, style=WARNING_STYLE if event.is_warning else "")
    return text


class TargetDetailScreen(ModalScreen[None]):
    """A target's fields and recent events."""

    DEFAULT_CSS = """
    TargetDetailScreen { align: center middle; }
    TargetDetailScreen > VerticalScroll {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    TargetDetailScreen #fields { height: auto; }
    TargetDetailScreen #details { height: auto; margin-top: 1; }
    TargetDetailScreen #events-title { margin-top: 1; }
    TargetDetailScreen #events { height: auto; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "close", "Back", id="target_detail.close")]

    def __init__(self, target: Target, context: CockpitContext) -> None:
        super().__init__()
        self.target = target
        self.context = context
        self.events: list[TargetEvent] | None = None  #: None until loaded
        self.events_problem: str | None = None
        #: the backend's details as (label, text), None until loaded
        self.details: list[tuple[str, str]] | None = None

    def compose(self) -> ComposeResult:
        fields = target_fields(self.target, self.context.now())
        given = [(label, value) for label, value in fields if value != "-"]
        unset = [label for label, value in fields if value == "-"]
        if unset:  # every field is accounted for, in few lines at 80x24
            given.append(("not set", ", ".join(unset)))
        width = max(len(label) for label, _ in given)
        text = Text()
        for i, (label, value) in enumerate(given):
            text.append(f"{label:{width}}  ", style="bold")
            style = HEALTH.get(self.target.health.state, ("", ""))[1] if label == "health" \
                else "dim" if label == "not set" else ""
            text.append(value, style=style)
            if i < len(given) - 1:
                text.append("\n")
        with VerticalScroll():
            title = Text(f"{self.target.kind} {self.target.name}", style="bold")
            yield Label(title)
            yield Static(text, id="fields")
            details = Static("", id="details", markup=False)
            details.display = False
            yield details
            yield Label(Text("Recent events, newest first", style="bold"), id="events-title")
            yield Static("loading…", id="events", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        if self.context.live:
            self.run_worker(self._load_details(), exit_on_error=False)
            self.run_worker(self._load_events(), exit_on_error=False)
        else:
            self.show_events([])

    async def _load_details(self) -> None:
        """The backend's own details of the target, as listed now (nothing shown when it
        has none or cannot list: the fields above stand)."""
        if not self.target.id:
            self.show_details([])
            return
        try:
            lines = await target_details(self.context.backend, self.target.id,
                                         self.context.boundary)
        except Exception:
            lines = []
        self.show_details(lines)

    def show_details(self, lines: list[tuple[str, str]]) -> None:
        """Show the backend's details under the generic fields, aligned with them."""
        self.details = list(lines)
        widget = self.query_one("#details", Static)
        if not lines:
            widget.display = False
            return
        width = max(len(label) for label, _ in lines)
        text = Text()
        for i, (label, value) in enumerate(lines):
            text.append(f"{label:{width}}  ", style="bold")
            text.append(value)
            if i < len(lines) - 1:
                text.append("\n")
        widget.update(text)
        widget.display = True

    async def _load_events(self) -> None:
        try:
            events = await recent_events(self.context.backend, self.target,
                                         self.context.boundary, EVENTS_SHOWN)
        except Exception as exc:
            self.events_problem = self.context.boundary.line(str(exc) or type(exc).__name__)
            self.query_one("#events", Static).update(
                f"cannot read its events: {self.events_problem}")
            self.events = []
            return
        self.show_events(events)

    def show_events(self, events: list[TargetEvent]) -> None:
        self.events = list(events)
        noun = self.context.backend.kind
        warnings = sum(1 for e in self.events if e.is_warning)
        if warnings:
            self.query_one("#events-title", Label).update(Text.assemble(
                ("Recent events, newest first", "bold"), "  ",
                (f"{WARNING_MARK} {warnings} warning{'s' if warnings != 1 else ''}",
                 WARNING_STYLE)))
        self.query_one("#events", Static).update(
            event_text(self.events) if self.events else f"none recorded (the {noun} "
            "backend keeps its recent events, where it has any)")

    def action_close(self) -> None:
        self.dismiss(None)
