"""A DataTable that repaints one cell when one cell changes, and fits its pane's width.

``DataTable.update_cell`` repaints the whole table (and its scrollbars): a Health or
Metrics table whose latency or sparkline cells change every second would then send all
of its rows to the terminal every second. :meth:`CellTable.set_cell` sends only the
changed cell, unless the column must grow.

:meth:`CellTable.fit_columns` sizes the flexible columns to the table's width, so
nothing needs a horizontal scrollbar (Enter shows a row in full).
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

PADDING = 2  #: cell padding of a DataTable column (one cell each side)


class CellTable(DataTable[Text]):
    """A row-cursor DataTable of `Text` cells with cheap cell updates."""

    DEFAULT_CSS = """
    CellTable { overflow-x: hidden; }
    """

    def set_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """Change one cell and repaint that cell only (the whole table if it must widen)."""
        column = self.columns.get(ColumnKey(column_key))
        if column is None or RowKey(row_key) not in self._row_locations:
            return
        if column.auto_width and cell_len(value.plain) > column.content_width:
            self.update_cell(row_key, column_key, value, update_width=True)
            return
        self._data[RowKey(row_key)][ColumnKey(column_key)] = value
        self._update_count += 1  # the render caches are keyed on it
        self.refresh_coordinate(
            Coordinate(self.get_row_index(row_key), self.get_column_index(column_key))
        )

    def fit_columns(self, widths: Mapping[str, int]) -> None:
        """Set fixed widths of some columns (repaint once, only if any changed)."""
        changed = False
        for key, width in widths.items():
            column = self.columns.get(ColumnKey(key))
            if column is None:
                continue
            width = max(0, width)
            if column.auto_width or column.width != width:
                column.auto_width = False
                column.width = width
                changed = True
        if changed:
            self._require_update_dimensions = True
            self._update_count += 1
            self.refresh()

    def usable_width(self) -> int:
        """Cells available for columns: the width less a vertical scrollbar if needed."""
        width = self.size.width
        rows = self.row_count + (self.header_height if self.show_header else 0)
        if self.show_vertical_scrollbar or rows > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return width


def spread(total: int, fixed: Mapping[str, int], flexible: Mapping[str, tuple[int, int]]
           ) -> dict[str, int]:
    """Widths for ``flexible`` columns ({key: (min, max)}) in what ``fixed`` leaves.

    Every column costs its width plus ``PADDING``. Flexible columns get their minimum,
    then the rest in order of declaration up to each maximum.
    """
    left = total - sum(w + PADDING for w in fixed.values()) - PADDING * len(flexible)
    widths = {key: low for key, (low, _high) in flexible.items()}
    left -= sum(widths.values())
    for key, (low, high) in flexible.items():
        if left <= 0:
            break
        extra = min(left, high - low)
        widths[key] += extra
        left -= extra
    return widths
