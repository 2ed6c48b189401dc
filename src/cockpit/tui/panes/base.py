"""What the panes share: a bordered container with a title, a number key and a status."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, ClassVar, Self

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region
from textual.widgets import DataTable

from cockpit.tui.context import CockpitContext

if TYPE_CHECKING:
    from textual.app import App

#: a wake-up this far into its slot (fraction of the interval) still counts as on time
_SLOT_TOLERANCE = 0.25
_SLOT_LATE = 0.005  #: wake just after the boundary, never just before it
_slot_clock = time.monotonic  #: the clock of background slots (tests replace it)
#: A slot's paints are held this long before its boundary's wake-ups (which come
#: ``_SLOT_LATE`` after it) and released this long after them: one frame for them all.
_HOLD_BEFORE, _HOLD_AFTER = 0.003, 0.030


class SlotGate:
    """Holds the screen's updates around a background slot's boundary, so that every
    pane painting there (each on its own timer, a few ms apart) shares one frame.

    Without it the first wake-up's refresh is painted at once and the next ones in
    frames of their own: each frame composes the screen's rows again (some 10 ms at
    200x50). Paints of the pane the operator is in are never held for long: at most
    ``_HOLD_BEFORE + _SLOT_LATE + _HOLD_AFTER`` seconds once per slot.
    """

    def __init__(self, app: App) -> None:
        self._app = app
        self._dues: list[float] = []  #: monotonic times of the wake-ups held for
        self._batch: contextlib.AbstractContextManager[None] | None = None
        self.holds = 0  #: slots held so far (tests, debugging)

    @classmethod
    def of(cls, app: App) -> SlotGate:
        gate = getattr(app, "_cockpit_slot_gate", None)
        if gate is None:
            gate = cls(app)
            app._cockpit_slot_gate = gate  # type: ignore[attr-defined]
        return gate

    def expect(self, wait: float) -> None:
        """Pane wake-ups are due in ``wait`` seconds (a slot boundary): hold there."""
        due = time.monotonic() + wait  # the timers' clock (the slot clock may be a test's)
        if any(abs(due - known) < _SLOT_LATE for known in self._dues):
            return
        self._dues.append(due)
        self._app.set_timer(max(0.0, wait - _HOLD_BEFORE), lambda: self._begin(due),
                            name="slot-hold")

    def _begin(self, due: float) -> None:
        self._dues.remove(due)
        if self._batch is not None:
            return  # still holding for a boundary just before
        self._batch = self._app.batch_update()
        self._batch.__enter__()
        self.holds += 1
        self._app.set_timer(_HOLD_BEFORE + _HOLD_AFTER, self._end, name="slot-release")

    def _end(self) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.__exit__(None, None, None)
            # the screen paints what waited when it next idles: make it look now (only
            # the App itself is told by the end of a batch)
            with contextlib.suppress(Exception):
                self._app.screen.check_idle()


class Pane(Vertical, can_focus=False):
    """A titled pane. ``PANE_NUMBER`` is its ``1``-``5`` jump key."""

    PANE_TITLE = "Pane"
    PANE_NUMBER = 0
    ALLOW_MAXIMIZE = True  #: ``f`` shows the pane full-screen
    #: tab / shift+tab go to the next / previous pane in number order, in every layout
    #: (the compact layout shows one pane, so moving focus inside it would go nowhere).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.cycle_pane(1)", "Next pane", show=False, id="app.tab"),
        Binding("shift+tab", "app.cycle_pane(-1)", "Prev pane", show=False, id="app.backtab"),
    ]

    DEFAULT_CSS = """
    Pane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        height: 1fr;
        padding: 0;
    }
    Pane:focus-within {
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
    }
    """

    def __init__(self, context: CockpitContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.context = context
        self.border_title = f"{self.PANE_NUMBER} {self.PANE_TITLE}"
        self._status: str | None = None  #: the status as shown
        self._status_given: str | None = None
        self._painted_slot: int | None = None  #: the background slot last painted in

    def repaint_wait(self) -> float:
        """Seconds before new data may be shown (0: now, and this slot is used up).

        The pane the operator is in shows new data at once; the others at most once per
        ``background_refresh`` seconds: each repaint of a scrolling view rewrites all of
        its rows. Those repaints fall on shared slot boundaries of the monotonic clock,
        so background panes repaint together, in one frame rather than one each.
        """
        interval = self.context.settings.background_refresh
        if not self.context.live or interval <= 0 or self.has_focus_within:
            return 0.0
        now = _slot_clock()
        slot = int(now // interval)
        into_slot = now - slot * interval
        if self._painted_slot is None or (
            slot > self._painted_slot and into_slot < interval * _SLOT_TOLERANCE
        ):
            self._painted_slot = slot  # the first paint, or the wake-up at a boundary
            return 0.0
        wait = (slot + 1) * interval - now + _SLOT_LATE
        if self.is_attached:
            SlotGate.of(self.app).expect(wait)
        return wait

    def set_status(self, text: str) -> None:
        """A short note in the bottom border (counts, dropped lines, filter).

        Plain text: a user's regex such as ``[/`` must not be read as markup. A hidden
        pane keeps the text for when it is shown: changing a hidden widget makes Textual
        lay out and repaint the whole screen. A status quotes outside text (a filter, a
        file's error, a count's field), so it passes the boundary.
        """
        if text == self._status_given:
            return
        self._status_given = text
        text = self._status = self.context.boundary.line(text)
        if self.display:
            self._status_only = True  # a status repaints its border row, not the pane
            try:
                self.border_subtitle = Content(text)
            finally:
                self._status_only = False

    _status_only = False

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        """Textual's, except that a new status repaints only the bottom border row (a
        pane's whole repaint is some KB on the wire, and it re-renders every child)."""
        if self._status_only and not (regions or layout or recompose):
            width, height = self.outer_size
            if width and height and self.styles.border_bottom[0]:
                offset = self.content_offset  # refresh regions are content-relative
                regions = (Region(-offset.x, height - 1 - offset.y, width, 1),)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _on_show(self) -> None:
        if self._status is not None:
            self.border_subtitle = Content(self._status)

    def focus_pane(self) -> None:
        """Focus the pane's main widget (its first focusable child)."""
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return


class TablePane(Pane):
    """A pane around one DataTable: ``j``/``k`` move, Enter (the table's own binding)
    calls :meth:`open_selected` with the selected row's key."""

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        table = self.table
        if not table.row_count:
            return None
        return table.ordered_rows[table.cursor_row].key.value

    def open_selected(self, key: str) -> None:
        """What Enter does on a row; panes override it."""

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if (key := self.selected_key()) is not None:
            self.open_selected(key)

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()
