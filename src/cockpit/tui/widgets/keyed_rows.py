"""Keep a table's rows in line with a list of ``(key, cells)``, writing only what changed:
the Health and Targets panes' rows (a rebuild only when the keys change, else one cell
at a time), and the visible age cells ticking on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

Signature = tuple[str, str]


def cell_sig(cell: Text) -> Signature:
    """What a cell shows: its text and style (equal signatures: no repaint)."""
    return cell.plain, str(cell.style)


class KeyedRows:
    """The cells each row shows, by key; ``columns`` are the table's column keys."""

    def __init__(self) -> None:
        self.shown: dict[str, tuple[Signature, ...]] = {}
        #: the cells tuple each row was last synced from: the same tuple again (a caller
        #: that reuses the cells of an unchanged row) is skipped without a comparison
        self.synced: dict[str, tuple[Text, ...]] = {}

    def clear(self) -> None:
        self.shown.clear()
        self.synced.clear()

    def sync(self, table: DataTable, rows: Iterable[tuple[str, tuple[Text, ...]]],
             columns: Sequence[str], selected: str | None = None) -> bool:
        """Bring ``table`` in line with ``rows``; True when it was rebuilt (the keys
        changed: rare), the cursor kept on ``selected`` (default: the current row)."""
        rows = list(rows)
        keys = [key for key, _ in rows]
        current = [row.key.value for row in table.ordered_rows]
        if keys != current:
            if selected is None and 0 <= table.cursor_row < len(current):
                selected = current[table.cursor_row]
            table.clear()
            self.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
                self.shown[key] = tuple(cell_sig(c) for c in cells)
                self.synced[key] = cells
            if selected in keys:
                table.move_cursor(row=keys.index(selected), animate=False)
            return True
        changes: list[tuple[str, str, Text]] = []
        synced = self.synced
        for key, cells in rows:
            if synced.get(key) is cells:
                continue
            synced[key] = cells
            changes += self.changed(key, cells, columns)
        if changes:
            if hasattr(table, "set_cells"):  # CellTable: one cache invalidation for all
                table.set_cells(changes)
            else:
                for change in changes:
                    table.set_cell(*change)
        return False

    def changed(self, key: str, cells: tuple[Text, ...],
                columns: Sequence[str]) -> list[tuple[str, str, Text]]:
        """The cells of row ``key`` that differ from what it shows (now recorded as
        shown): ``(key, column, cell)`` to write."""
        shown = self.shown.get(key, ())
        sigs = tuple(cell_sig(c) for c in cells)
        if sigs == shown:
            return []
        self.shown[key] = sigs
        return [(key, column, cell)
                for i, (column, cell) in enumerate(zip(columns, cells, strict=True))
                if i >= len(shown) or shown[i] != sigs[i]]

    def update(self, table: DataTable, key: str, cells: tuple[Text, ...],
               columns: Sequence[str]) -> None:
        """Write the cells of row ``key`` that differ from what it shows."""
        for change in self.changed(key, cells, columns):
            table.set_cell(*change)

    def tick_visible(self, table: DataTable, column: str, index: int,
                     text_of: Callable[[str], str | None]) -> None:
        """Rewrite column ``column`` (position ``index``) of the rows in view whose text
        ``text_of(key)`` (None: leave it) differs from what they show (an age)."""
        if not table.row_count or not table.is_on_screen:
            return
        first = int(table.scroll_y)
        ordered = table.ordered_rows
        for position in range(first, min(len(ordered), first + table.size.height)):
            key = ordered[position].key.value
            shown = self.shown.get(key or "")
            if key is None or not shown:
                continue
            text = text_of(key)
            if text is None or shown[index][0] == text:
                continue
            cell = Text(text, justify="right")
            table.set_cell(key, column, cell)
            self.shown[key] = (*shown[:index], cell_sig(cell), *shown[index + 1:])
