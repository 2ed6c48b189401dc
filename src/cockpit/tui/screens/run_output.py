"""A run's full output, streaming live while it runs; beside it what was expected
(a runbook step's ``Expected output``), when there is something to compare."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Log, Static

from cockpit.core.boundary import Boundary
from cockpit.core.durations import format_duration
from cockpit.tui.runs import RunEntry


class RunOutputScreen(ModalScreen[None]):
    """Shows a run's command, its output as it arrives, and how it ended.

    The output lines passed the boundary in the runner; the command, the message and
    the expected output pass it here.
    """

    DEFAULT_CSS = """
    RunOutputScreen { align: center middle; }
    RunOutputScreen > Vertical {
        width: 96%; height: 92%; border: thick $accent; background: $surface;
    }
    RunOutputScreen #head { height: auto; width: 1fr; padding: 0 1; }
    RunOutputScreen #body { height: 1fr; }
    RunOutputScreen Log { height: 1fr; width: 1fr; }
    RunOutputScreen #expected {
        width: 1fr; border-left: vkey $panel-lighten-2; padding: 0 1;
    }
    RunOutputScreen #expected-title { color: $text-muted; text-style: bold; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="output.close"),
        Binding("x", "cancel_run", "Cancel run", id="output.cancel"),
    ]

    def __init__(self, entry: RunEntry, *, expected: str = "") -> None:
        super().__init__()
        self.entry = entry
        self.boundary = Boundary(entry.prepared.redactor)
        self.expected = self.boundary.text(expected) if expected else ""
        self._command = self.boundary.text(entry.prepared.display)
        self._shown = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("", id="head", markup=False)
            with Horizontal(id="body"):
                yield Log(id="output", max_lines=20_000)
                if self.expected:
                    with VerticalScroll(id="expected"):
                        yield Static("expected (from the runbook)", id="expected-title")
                        yield Static(self.expected, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._pull()
        self.query_one(Log).focus()
        if self.entry.running:
            self._timer = self.set_interval(0.1, self._pull)

    def _head(self) -> str:
        entry = self.entry
        prepared = entry.prepared
        ended = (
            "" if entry.running else f" · exit {entry.outcome.exit_code if entry.outcome else '?'}"
        )
        message = (
            f" · {self.boundary.line(entry.outcome.message)}"
            if entry.outcome and entry.outcome.message != (entry.status)
            else ""
        )
        return (
            f"#{entry.number} {prepared.action.id} · {entry.status}{ended}"
            f" · {format_duration(entry.duration())}{message}\n"
            f"trace {prepared.trace_id}\n$ {self._command}"
        )

    def _pull(self) -> None:
        """Append the lines that arrived since the last pull, in one batch."""
        entry = self.entry
        new = entry.received - self._shown
        if new > 0:
            batch = list(entry.lines)[-min(new, len(entry.lines)) :]
            self.query_one(Log).write_lines(
                [f"{'! ' if stream == 'stderr' else ''}{text}" for stream, text in batch]
            )
            self._shown = entry.received
        self.query_one("#head", Label).update(self._head())
        if not entry.running and hasattr(self, "_timer"):
            self._timer.stop()

    def action_cancel_run(self) -> None:
        from cockpit.tui.panes.runs import RunsPane

        if self.entry.running:
            self.app.post_message(RunsPane.CancelRequested(self.entry))

    def action_close(self) -> None:
        self.dismiss(None)
