"""``c`` in the Audit pane: counts of a field's values, most frequent first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, OptionList

from cockpit.core.boundary import Boundary
from cockpit.core.errors import CockpitError


@dataclass(slots=True)
class FieldCounts:
    """Counts of one field: ``matched`` records, ``missing`` of them without the field."""

    field: str
    counts: list[tuple[str, int]] = field(default_factory=list)  #: sorted, biggest first
    matched: int = 0
    missing: int = 0
    scope: str = ""  #: what was counted ("last 4,000 records", "whole file: ...")

    @classmethod
    def build(cls, fieldname: str, counts: dict[str, int], matched: int, missing: int,
              scope: str) -> FieldCounts:
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(fieldname, ordered, matched, missing, scope)


CountFn = Callable[[str], FieldCounts]


class CountsScreen(ModalScreen[None]):
    """Pick a field on the left; its values, counts and percents on the right."""

    DEFAULT_CSS = """
    CountsScreen { align: center middle; }
    CountsScreen > Vertical {
        width: 90%; max-width: 110; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    CountsScreen #counts-note { color: $text-muted; height: auto; }
    CountsScreen Horizontal { height: 1fr; }
    CountsScreen OptionList { width: 22; height: 1fr; }
    CountsScreen DataTable { width: 1fr; height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="counts.close"),
        Binding("c", "next_field", "Next field", id="counts.next"),
        Binding("C", "previous_field", "Previous field", show=False, id="counts.previous"),
        Binding("w", "whole_file", "Whole file", id="counts.whole_file"),
    ]

    def __init__(self, fields: Sequence[str], counter: CountFn, *, boundary: Boundary,
                 field: str | None = None, title: str = "Counts",
                 file_counter: CountFn | None = None) -> None:
        """``counter(field)`` counts the loaded window; ``file_counter`` the whole file
        (run in a thread on ``w``)."""
        super().__init__()
        self.fields = list(dict.fromkeys(fields))
        self.counter = counter
        self.file_counter = file_counter
        self.boundary = boundary
        self.title_text = boundary.line(title)
        self.field = field if field in self.fields else self.fields[0]
        self.result: FieldCounts | None = None
        self.whole_file = False  #: the table shows the whole file's counts

    def compose(self) -> ComposeResult:
        boundary = self.boundary
        with Vertical():
            yield Label(Text(self.title_text, style="bold"), id="counts-title")
            yield Label("", id="counts-note")
            with Horizontal():
                yield OptionList(*(Text(boundary.line(name)) for name in self.fields),
                                 id="counts-fields")
                table: DataTable[Text] = DataTable(cursor_type="row", id="counts-table")
                table.add_column("value", key="value")
                table.add_column("count", key="count")
                table.add_column("%", key="percent")
                yield table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self.fields.index(self.field)
        self.show_field(self.field)
        self.query_one(DataTable).focus()

    # -- public -------------------------------------------------------------------------

    def show_field(self, fieldname: str) -> None:
        """Count ``fieldname`` over the loaded window and show it."""
        self.field = fieldname
        self.whole_file = False
        self._show(self.counter(fieldname))

    def rows(self) -> list[tuple[str, int, str]]:
        """(value, count, percent) as shown, for tests."""
        if self.result is None:
            return []
        return [(value, n, _percent(n, self.result.matched)) for value, n in self.result.counts]

    # -- actions ------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_next_field(self) -> None:
        self._step(1)

    def action_previous_field(self) -> None:
        self._step(-1)

    def action_whole_file(self) -> None:
        if self.file_counter is None:
            self.notify("whole-file counts: not available for this view", severity="warning")
            return
        self._note(f"counting {self.field} over the whole file…")
        self.run_worker(self._count_file(self.field), group="counts", exclusive=True,
                        exit_on_error=False)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        fieldname = self.fields[event.option_index]
        if fieldname != self.field or self.result is None:
            self.show_field(fieldname)

    # -- internals ----------------------------------------------------------------------

    def _step(self, delta: int) -> None:
        index = (self.fields.index(self.field) + delta) % len(self.fields)
        self.query_one(OptionList).highlighted = index
        self.show_field(self.fields[index])

    async def _count_file(self, fieldname: str) -> None:
        assert self.file_counter is not None
        try:
            result = await asyncio.to_thread(self.file_counter, fieldname)
        except (CockpitError, OSError) as exc:
            self._note(f"whole-file count failed: {exc}")
            return
        if fieldname == self.field:
            self.whole_file = True
            self._show(result)

    def _show(self, result: FieldCounts) -> None:
        self.result = result
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(
            (Text(self.boundary.line(value) or '""', no_wrap=True),
             Text(f"{n:,}", justify="right"),
             Text(_percent(n, result.matched), justify="right"))
            for value, n in result.counts
        )
        note = (f"by {result.field} · {result.scope} · {result.matched:,} records"
                f" · {len(result.counts):,} values")
        if result.missing:
            note += f" · {result.missing:,} without {result.field}"
        if not self.whole_file and self.file_counter is not None:
            note += " · w: whole file"
        self._note(note)

    def _note(self, text: str) -> None:
        self.query_one("#counts-note", Label).update(Text(self.boundary.line(text)))


def _percent(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"
