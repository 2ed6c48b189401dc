"""Building blocks of the Audit pane: cells, filter text, a bounded table, the trail."""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.reactive import Reactive
from textual.widgets import DataTable
from textual.widgets.data_table import DuplicateKey, Row, RowKey

from cockpit.core.audit.query import AuditRecord, RecordFilter, as_text, lookup, parse_record
from cockpit.core.boundary import Boundary
from cockpit.core.errors import UsageError
from cockpit.tui.widgets.loglines import sync_scrollbars
from cockpit.tui.widgets.table import CachedCells

#: Longest value shown in a cell; the full record is one Enter away.
CELL_WIDTH = 48
MALFORMED_MARK = "!! malformed"
#: The operator trail's columns (records written by cockpit.core.audit.trail).
TRAIL_COLUMNS = ("ts", "operator", "action", "status", "decision", "reason_codes",
                 "exit_code", "duration_ms", "trace_id")
#: Fields offered by the counts screen before the view's own columns.
SYSTEM_COUNT_FIELDS = ("event_type", "decision", "reason_codes", "executor_id", "status")
TRAIL_COUNT_FIELDS = ("action", "status", "decision", "reason_codes", "operator", "exit_code")

_STYLES = {
    ("decision", "DENY"): "bold red",
    ("decision", "ALLOW"): "green",
    ("status", "SUCCESS"): "green",
    ("status", "ok"): "green",
}


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def cell_text(data: dict[str, Any], column: str) -> str:
    """A field as a cell shows it: lists joined with ",", missing and null as ""."""
    if data.__class__ is dict and (value := data.get(column)).__class__ is str:
        return value  # a top-level string (most cells): what ``lookup`` finds first
    parts: list[str] = []
    for value in lookup(data, column):
        if value is None:
            continue
        if isinstance(value, list):
            parts.append(",".join(as_text(v) for v in value))
        else:
            parts.append(as_text(value))
    return ",".join(parts)


_ISO_UTC = re.compile(
    r"^\d{4}-(\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(?:Z|[+-]00:?00)?$"
)


def compact_timestamp(value: str) -> str:
    """``2026-11-22T07:45:45.123456+00:00`` -> ``11-22 07:45:45.123`` (UTC only; other
    values as they are). The table is narrow; Enter shows the record in full."""
    match = _ISO_UTC.match(value)
    if match is None:
        return value
    day, clock, fraction = match.groups()
    return f"{day} {clock}" + (f".{(fraction + '00')[:3]}" if fraction else "")


def format_cells(record: AuditRecord, columns: Sequence[str], boundary: Boundary
                 ) -> tuple[Text, ...]:
    """The row of ``record``, every value through the boundary (redacted, escapes
    visible), long values cut, never markup."""
    line = boundary.line
    if record.data is None:  # the marker first, the raw line in the last column (Enter: why)
        raw = clip(line(record.raw), CELL_WIDTH)
        mark = Text(MALFORMED_MARK, style="bold yellow", no_wrap=True)
        if len(columns) == 1:
            return (Text(f"{MALFORMED_MARK} {raw}", style="bold yellow", no_wrap=True),)
        blanks = [Text("")] * (len(columns) - 2)
        return (mark, *blanks, Text(raw, style="yellow", no_wrap=True))
    out = []
    for column in columns:
        value = clip(line(cell_text(record.data, column)), CELL_WIDTH)
        if value[:2].isdigit():
            value = compact_timestamp(value)
        style = _STYLES.get((column, value), "")
        if not style and column == "status" and value and value.upper() not in (
                "SUCCESS", "OK", "DENIED"):
            style = "yellow"
        cell = _shared_cells.get((value, style))
        if cell is None:
            cell = Text(value, style=style, no_wrap=True, end="")
            if len(_shared_cells) >= _SHARED_CELLS_MAX:
                _shared_cells.clear()
            _shared_cells[value, style] = cell
        out.append(cell)
    return tuple(out)


#: Cells of the same text and style are one object: tables never change a cell in place
#: (a change stores a new object), and most columns repeat a few values (DENY, an event
#: type): 5,000 rows are then ~45,000 fewer objects for each full garbage collection to
#: walk (measured: 20-37 ms, holding the interpreter lock, while a big answer is built).
_SHARED_CELLS_MAX = 4096
_shared_cells: dict[tuple[str, str], Text] = {}


def cell_widths(cells: Sequence[Text]) -> tuple[int, ...]:
    """Each cell's width as DataTable measures a ``Text``: its longest line's cells."""
    widths = []
    for text in cells:
        plain = text.plain
        widths.append(cell_len(plain) if "\n" not in plain
                      else max(map(cell_len, plain.splitlines()), default=0))
    return tuple(widths)


def make_entry(seq: int, record: AuditRecord, columns: Sequence[str], boundary: Boundary
               ) -> Entry:
    """The entry of ``record``: its cells and their widths (any thread may build it)."""
    cells = format_cells(record, columns, boundary)
    return Entry(seq, record, cells, cell_widths(cells))


_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')


def split_filter(text: str) -> list[str]:
    """Space-separated expressions; double quotes keep spaces (``msg~"rate limit"``)."""
    if text.count('"') % 2:
        raise UsageError(f"bad filter {text.strip()!r}: unbalanced double quote")
    return [tok.replace('"', "") for tok in _TOKEN.findall(text)]


def compile_filter(text: str) -> RecordFilter:
    """The filter of the text typed after ``/``; ``UsageError`` for a bad expression."""
    return RecordFilter(split_filter(text))


@dataclass(slots=True)
class Entry:
    """One record of a view and its row, built once."""

    seq: int
    record: AuditRecord
    cells: tuple[Text, ...]
    widths: tuple[int, ...] = ()  #: the cells' widths (``cell_widths``), when known

    @property
    def key(self) -> str:
        return str(self.seq)


@dataclass
class ViewState:
    """The records of one view (bounded), those shown, and what was dropped or malformed."""

    name: str
    columns: tuple[str, ...]
    limit: int
    entries: deque[Entry] = field(default_factory=deque)
    shown: deque[Entry] = field(default_factory=deque)  #: mirrors the table's rows
    malformed: int = 0
    dropped: int = 0
    following: bool = True

    def admit(self, new: list[Entry]) -> list[Entry]:
        """Add ``new`` to the buffer, oldest dropped past ``limit``; the entries kept."""
        if len(new) > self.limit:
            self.dropped += len(new) - self.limit
            new = new[-self.limit:]
        overflow = len(self.entries) + len(new) - self.limit
        for _ in range(max(0, overflow)):
            self.entries.popleft()
        self.dropped += max(0, overflow)
        self.entries.extend(new)
        return new

    def stale_rows(self) -> int:
        """Shown rows whose records were dropped from the buffer (all at the top)."""
        if not self.entries:
            return len(self.shown)
        first = self.entries[0].seq
        count = 0
        for entry in self.shown:
            if entry.seq >= first:
                break
            count += 1
        return count


@dataclass(slots=True)
class FileSearch:
    """A filter's answer from the whole file (the system log view): the last ``limit``
    matches as entries (negative ``seq``: older than every followed record), how many
    match, and the followed records since the search began (``start_seq``); ``numbered``:
    the search is over, its records carry their line numbers (they may come after them)."""

    text: str
    start_seq: int
    running: bool = True
    entries: list[Entry] = field(default_factory=list)
    matched: int | None = None
    error: str | None = None
    seconds: float = 0.0
    numbered: bool = False


#: The DataTable internals (Textual 8.2) that ``RecordTable._drop_rows_fast`` updates, as
#: ``remove_row`` does for one row.
_INTERNALS = ("_row_locations", "_data", "_new_rows", "_updated_cells", "_update_count",
              "_require_update_dimensions")


#: What ``RecordTable.settle`` runs early of DataTable's ``_on_idle`` (Textual 8.2).
_SETTLE_INTERNALS = ("_updated_cells", "_update_column_widths", "_require_update_dimensions",
                     "_new_rows", "_update_dimensions")


class _UnitRows(Sequence):
    """``ordered_rows`` (or ``_y_offsets``) of a table whose rows are one line high.

    DataTable rebuilds both as lists of every row after each update, several times per
    batch of records: with the 5,000 records an audit view keeps, that was tens of
    milliseconds on the UI thread for ten new rows. Here a row's y is its index.
    """

    def __init__(self, table: RecordTable, offsets: bool) -> None:
        self._table = table
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._table.rows)

    def __getitem__(self, index):  # type: ignore[override]
        count = len(self)
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(count))]
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(index)
        key = self._table._row_locations.get_key(index)
        return (key, 0) if self._offsets else self._table.rows[key]

    def clear(self) -> None:
        """``DataTable.clear`` empties its offset cache through this."""


class RecordTable(CachedCells, DataTable[Text]):
    """A DataTable that can drop its first rows in one pass (``remove_row`` is O(rows)),
    and whose new rows repaint the table only, not the whole screen."""

    #: Not a layout reactive, unlike Widget's: the table's size is fixed by its pane, and
    #: a layout makes the screen re-arrange every widget and repaint every scrollbar on
    #: it (ScrollViews always count as resized), at every batch of records.
    #: :meth:`watch_virtual_size` updates the scrollbars; showing or hiding one still
    #: lays out the screen (``show_*_scrollbar`` are layout reactives).
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        sync_scrollbars(self, size)

    # Every row is one line high (``add_row`` is never given a height): positions come
    # from indexes, not from summing the heights of every row above.
    @property
    def ordered_rows(self) -> Sequence[Row]:  # type: ignore[override]
        if not all(hasattr(self, name) for name in _INTERNALS):
            return super().ordered_rows
        return _UnitRows(self, offsets=False)

    @property
    def _y_offsets(self) -> Sequence[tuple[RowKey, int]]:  # type: ignore[override]
        if not all(hasattr(self, name) for name in _INTERNALS):
            return super()._y_offsets
        return _UnitRows(self, offsets=True)

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = sum(column.get_render_width(self) for column in self.columns.values())
        width += self._row_label_column_width
        top = row_index + (self.header_height if self.show_header else 0)
        return Region(0, top, max(self.size.width, width), 1)

    def _get_cell_region(self, coordinate: Coordinate) -> Region:
        if not self.is_valid_coordinate(coordinate):
            return Region(0, 0, 0, 0)
        row_index, column_index = coordinate
        columns = self.ordered_columns
        x = sum(column.get_render_width(self) for column in columns[:column_index])
        x += self._row_label_column_width
        top = row_index + (self.header_height if self.show_header else 0)
        return Region(x, top, columns[column_index].get_render_width(self), 1)

    def settle(self) -> None:
        """Measure new rows now rather than when idle (as DataTable does), so that a
        cursor moved to them scrolls at once: one repaint per batch, not two."""
        if not all(hasattr(self, name) for name in _SETTLE_INTERNALS):
            return
        if self._updated_cells:
            cells = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(cells)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(rows)

    def drop_first_rows(self, count: int) -> None:
        """Remove the first ``count`` rows; the cursor keeps its record when it can."""
        if count <= 0:
            return
        if count >= self.row_count:
            self.clear()
            return
        row, column = self.cursor_coordinate
        if all(hasattr(self, name) for name in _INTERNALS):
            self._drop_rows_fast(count)
        else:  # Textual's internals changed: the slow public way
            for _ in range(count):
                self.remove_row(self.ordered_rows[0].key)
        self.move_cursor(row=max(0, row - count), column=column)

    def add_entries(self, entries: Sequence[Entry], *, first: bool = False) -> None:
        """Add the rows of ``entries`` at the bottom (``first``: above the others, the
        rows shown staying where they are) in one update.

        ``add_row`` costs a cursor check and an idle measure of every cell per row:
        thousands of rows (a whole-file answer) stalled the UI for hundreds of ms. Here
        widths come with the entries (``cell_widths``, measured off the UI thread).
        """
        if not entries:
            return
        if not all(hasattr(self, name) for name in _INTERNALS):
            self._add_entries_slow(entries, first)
            return
        columns = self.ordered_columns
        keys = [column.key for column in columns]
        widths = [column.content_width for column in columns]
        was_empty = not self.rows
        locations = self._row_locations
        new = {RowKey(entry.key): i for i, entry in enumerate(entries)}
        if len(new) < len(entries) or any(row_key in locations for row_key in new):
            raise DuplicateKey("A row key already exists.")  # checked first: no half batch
        if any(len(entry.cells) > len(keys) for entry in entries):
            raise ValueError("More values provided than there are columns.")
        data, rows = self._data, self.rows
        for row_key, entry in zip(new, entries, strict=True):
            cells = entry.cells
            data[row_key] = (dict(zip(keys, cells, strict=True)) if len(cells) == len(keys)
                             else dict(itertools.zip_longest(keys, cells)))
            rows[row_key] = Row(row_key, 1, None, False)
            for i, width in enumerate(entry.widths or cell_widths(cells)):
                if width > widths[i]:
                    widths[i] = width
        for column, width in zip(columns, widths, strict=True):
            column.content_width = width
        if first:
            count = len(new)
            for i in range(len(locations)):
                new[locations.get_key(i)] = i + count  # type: ignore[index]
            self._row_locations = type(locations)(new)
        else:
            start = len(locations)
            for row_key, i in new.items():
                locations[row_key] = start + i
        self._require_update_dimensions = True  # the virtual size, at idle or settle()
        self._update_count += 1
        if first and not was_empty:  # the same rows stay in view, the cursor on its row
            self.settle()  # the new virtual size first: scroll_y is clamped to it
            self.scroll_to(y=self.scroll_y + len(entries), animate=False, immediate=True)
            row, column = self.cursor_coordinate
            self.cursor_coordinate = Coordinate(row + len(entries), column)
        else:
            self.cursor_coordinate = self.cursor_coordinate
        if was_empty and len(self.columns) and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self.refresh()
        self.check_idle()

    def _add_entries_slow(self, entries: Sequence[Entry], first: bool) -> None:
        """``add_entries`` through the public API (Textual's internals changed)."""
        if not first or not self.row_count:
            for entry in entries:
                self.add_row(*entry.cells, key=entry.key)
            return
        row, column = self.cursor_coordinate
        old = [(key.value, self.get_row(key)) for key in (r.key for r in self.ordered_rows)]
        self.clear()
        for entry in entries:
            self.add_row(*entry.cells, key=entry.key)
        for key, cells in old:
            self.add_row(*cells, key=key)
        self.move_cursor(row=row + len(entries), column=column)

    def _drop_rows_fast(self, count: int) -> None:
        locations = self._row_locations
        ordered: list[RowKey] = [
            key for i in range(len(locations)) if (key := locations.get_key(i)) is not None
        ]
        for key in ordered[:count]:
            del self.rows[key]
            del self._data[key]
            self._new_rows.discard(key)
        if self._updated_cells:
            self._updated_cells = {c for c in self._updated_cells if c.row_key in self.rows}
        self._row_locations = type(locations)({key: i for i, key in enumerate(ordered[count:])})
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self.refresh()  # the new size comes at idle, with virtual_size (no layout)
        self.check_idle()


# --- the operator trail --------------------------------------------------------------------


@dataclass(slots=True)
class TrailSnapshot:
    """The trail's last records, its verification state, and how many lines it holds.

    ``malformed`` counts the unreadable lines among the records loaded."""

    records: list[AuditRecord]
    status: str
    ok: bool | None  #: None: no trail yet
    lines: int = 0
    malformed: int = 0


def load_trail(path: Path, limit: int) -> TrailSnapshot:
    """Read the operator trail (last ``limit`` records) and check it as ``cockpit audit
    verify`` does: chain, seals, checkpoints and the writer's last head."""
    from cockpit.core.audit.check import check_trail, local_keys
    from cockpit.core.audit.seal import load_verify_key

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TrailSnapshot([], "trail: no records yet", None)
    except OSError as exc:
        return TrailSnapshot([], f"trail: cannot read: {exc.strerror or exc} ✗", False)
    numbered = [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    records = [parse_record(line, n) for n, line in numbered[-limit:]]
    malformed = sum(1 for rec in records if rec.malformed)
    try:
        keys = [load_verify_key(k) for k in local_keys(path)[0]]
        report = check_trail(path, keys=keys)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        return TrailSnapshot(records, f"trail: cannot verify: {why} ✗",
                             False, len(numbered), malformed)
    if report.ok:
        status = f"trail: {report.count:,} records intact ✓"
    else:
        problem = report.problems[0] if report.problems else "torn last line (crashed write)"
        status = f"trail: {problem} ✗"
    return TrailSnapshot(records, status, report.ok, len(numbered), malformed)


def count_values(records: Iterable[AuditRecord], fieldname: str
                 ) -> tuple[dict[str, int], int, int]:
    """(counts, matched, missing) of a field over well-formed records; arrays per element."""
    counts: dict[str, int] = {}
    matched = missing = 0
    for rec in records:
        if rec.data is None:
            continue
        matched += 1
        values = lookup(rec.data, fieldname)
        if not values:
            missing += 1
        for value in values:
            for item in value if isinstance(value, list) else (value,):
                key = as_text(item)
                counts[key] = counts.get(key, 0) + 1
    return counts, matched, missing
