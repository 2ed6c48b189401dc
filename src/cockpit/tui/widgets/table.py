"""A DataTable that repaints one cell when one cell changes, and fits its pane's width.

``DataTable.update_cell`` repaints the whole table (and its scrollbars): a Health or
Metrics table whose latency or sparkline cells change every second would then send all
of its rows to the terminal every second. :meth:`CellTable.set_cell` sends only the
changed cell, unless the column must grow.

:meth:`CellTable.fit_columns` sizes the flexible columns to the table's width, so
nothing needs a horizontal scrollbar (Enter shows a row in full).

:class:`CachedCells` keeps each cell's rendering until that cell changes: DataTable's own
caches are keyed on a counter that every update bumps, so one new audit record or one
sparkline tick re-rendered every visible cell through Rich.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.coordinate import Coordinate
from textual.css.styles import RenderStyles
from textual.dom import DOMNode
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

PADDING = 2  #: cell padding of a DataTable column (one cell each side)


_CELL_CACHE_LIMIT = 4096
_JUSTIFIED = ("default", "left", "right", "center")  #: what the text fast path lays out
_CACHE_INTERNALS = ("_row_locations", "_column_locations", "_data", "rows",
                    "_show_hover_cursor", "_pseudo_class_state", "_component_styles")


class _KnownStyles(RenderStyles):
    """A component's styles whose Rich style was computed once (see ``CachedCells``)."""

    _known_rich_style: Style

    @property
    def rich_style(self) -> Style:
        return self._known_rich_style


def _styles_key(node: DOMNode) -> tuple[int, ...] | None:
    """A key that changes when the styles of ``node`` or of any ancestor change (what
    its Rich style and background depend on), or None when Textual does not tell."""
    key: list[int] = []
    current: DOMNode | None = node
    while current is not None:
        cache_key = getattr(current.styles, "_cache_key", None)
        if cache_key is None:
            return None
        key.append(id(current))
        key.append(cache_key)
        current = current._parent  # type: ignore[assignment]
    return tuple(key)


class CachedCells(DataTable):
    """A DataTable that renders a cell again only when its value, size or style changed.

    Cells are cached by (row key, column key, style, width, cursor, hover) and checked
    against the value object they were rendered from, so a changed cell (a new object,
    as ``update_cell``/``set_cell`` store) renders again. Row and column positions only
    live in the mouse metadata of the segments, which is re-applied when they move.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # before DataTable's __init__, which already clears caches
        self._cell_lines: dict[tuple, tuple[object, int, int, list[list[Segment]]]] = {}
        #: what ``_known`` computed: (styles key, the object it is for, value)
        self._known_styles: dict[str, tuple[tuple[int, ...], object, Any]] = {}
        super().__init__(*args, **kwargs)
        #: DataTable's internals this relies on are there (else: DataTable's own way)
        self._cacheable = all(hasattr(self, name) for name in _CACHE_INTERNALS)

    def add_column(self, label: str | Text, *, width: int | None = None,
                   key: str | None = None, default: Any = None) -> ColumnKey:
        """DataTable's, with a ``str`` label taken as plain text, not markup (DataTable
        parses it as Rich markup: brackets in a name would be read as styles, and the
        parse loads Rich's emoji table, 2 ms of the first frame)."""
        return super().add_column(Text(label) if isinstance(label, str) else label,
                                  width=width, key=key, default=default)

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._cell_lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cell_lines.clear()
        self._known_styles.clear()

    # DataTable asks for its Rich style (a walk over every ancestor's styles), its header
    # and row styles (a new styles object each, merged, then the same walk) and its
    # background for every line it renders: a third of a line's cost. They are kept
    # while no style on the way to the App changed (Textual counts every change).

    def _known(self, what: str, compute: Callable[[], Any], also: object = None) -> Any:
        """``compute()``, or what it gave last time for ``what`` while no style on the
        way to the App changed and ``also`` is the same object."""
        key = _styles_key(self) if self._cacheable else None
        if key is None:
            return compute()
        known = self._known_styles.get(what)
        if known is not None and known[0] == key and known[1] is also:
            return known[2]
        value = compute()
        self._known_styles[what] = (key, also, value)
        return value

    @property
    def rich_style(self) -> Style:
        return self._known("", lambda: DataTable.rich_style.fget(self))  # type: ignore[attr-defined]

    @property
    def background_colors(self) -> tuple[Color, Color]:
        return self._known(" background",
                           lambda: DataTable.background_colors.fget(self))  # type: ignore[attr-defined]

    def get_component_styles(self, *names: str) -> RenderStyles:
        component = self._component_styles.get(names[0]) if len(names) == 1 else None
        if component is None or not self._cacheable:
            return super().get_component_styles(*names)

        def compute() -> RenderStyles:
            styles = super(CachedCells, self).get_component_styles(*names)
            rich_style = styles.rich_style
            styles.__class__ = _KnownStyles
            styles._known_rich_style = rich_style  # type: ignore[attr-defined]
            return styles

        # a component's styles are a new object whenever the table's styles are applied
        return self._known(names[0], compute, also=component)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        if row_index < 0 or column_index < 0 or not self._cacheable:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self._data.get(row_key) if row_key is not None else None
        if row is None or column_key not in row:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = row[column_key]
        height = self.rows[row_key].height
        key = (row_key, column_key, base_style, width, cursor, hover, self._show_hover_cursor,
               self._pseudo_class_state, self.show_cursor, height)
        cached = self._cell_lines.get(key)
        if cached is not None and cached[0] is value:
            _value, at_row, at_column, lines = cached
            if (at_row, at_column) == (row_index, column_index):
                return lines
            meta = Style.from_meta({"row": row_index, "column": column_index})
            lines = [[Segment(text, style + meta if style else meta, control)
                      for text, style, control in line] for line in lines]
        else:
            lines = None
            if height == 1:
                lines = self._render_text_cell(value, row_index, column_index, base_style,
                                               width, cursor, hover)
            if lines is None:
                lines = super()._render_cell(row_index, column_index, base_style, width,
                                             cursor, hover)
        if len(self._cell_lines) >= _CELL_CACHE_LIMIT:
            self._cell_lines.clear()
        self._cell_lines[key] = (value, row_index, column_index, lines)
        return lines

    def _render_text_cell(self, value: object, row_index: int, column_index: int,
                          base_style: Style, width: int, cursor: bool, hover: bool
                          ) -> list[list[Segment]] | None:
        """A plain ``Text`` cell in a one-line row, as DataTable renders it, without Rich's
        Padding/Styled/render_lines pipeline (most of the ~0.2 ms a cell costs).

        The same steps: the text justified, cropped (``Text.truncate``, with its overflow)
        and padded to the cell, cell padding either side, then the table's styles before
        and after. Anything else (tabs, newlines, ``full`` justify, other renderables):
        None, and DataTable renders it.
        """
        if type(value) is not Text:
            return None
        options = self.app.console_options
        plain = value.plain
        justify = value.justify or options.justify or "default"
        if "\n" in plain or "\t" in plain or justify not in _JUSTIFIED:
            return None
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        overflow = value.overflow or options.overflow or "fold"
        text = value
        if justify != "default" or cell_len(plain) > inner:
            # Rich's Lines.justify, then Text.wrap's truncate, on one line
            text = value.copy()
            if justify == "left":
                text.truncate(inner, overflow=overflow, pad=True)
            elif justify in ("right", "center"):
                text.rstrip()
                text.truncate(inner, overflow=overflow)
                if justify == "right":
                    text.pad_left(inner - cell_len(text.plain))
                else:
                    text.pad_left((inner - cell_len(text.plain)) // 2)
                    text.pad_right(inner - cell_len(text.plain))
            text.truncate(inner, overflow=overflow)
        console = self.app.console
        segments = text.render(console)
        if text.style and not text.spans:  # Text.render only applies it through spans
            # as Rich does there: a style it cannot parse is no style, not an error
            style = console.get_style(text.style, default=Style.null())
            segments = Segment.apply_style(segments, style)
        line = [Segment(" " * pad), *segments] if pad else [*segments]
        missing = inner - cell_len(text.plain)
        if missing > 0:
            line.append(Segment(" " * missing))
        if pad:
            line.append(Segment(" " * pad))
        meta = Style.from_meta({"row": row_index, "column": column_index})
        pre_style = base_style + meta + component_style
        return [list(Segment.apply_style(line, pre_style, post_style))]


class CellTable(CachedCells, DataTable[Text]):
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

    def set_cells(self, changes: list[tuple[str, str, Text]]) -> None:
        """Change many cells at once: the render caches are invalidated once (a cell's
        region is found from the ordered rows, which each invalidation rebuilds), and a
        large change repaints the table whole."""
        if len(changes) == 1:
            self.set_cell(*changes[0])
            return
        coordinates: list[tuple[str, str]] = []
        for row_key, column_key, value in changes:
            column = self.columns.get(ColumnKey(column_key))
            if column is None or RowKey(row_key) not in self._row_locations:
                continue
            if column.auto_width and cell_len(value.plain) > column.content_width:
                self.update_cell(row_key, column_key, value, update_width=True)
                continue
            self._data[RowKey(row_key)][ColumnKey(column_key)] = value
            coordinates.append((row_key, column_key))
        if not coordinates:
            return
        self._update_count += 1  # the render caches are keyed on it
        if len(coordinates) > 40:
            self.refresh()
            return
        # one region per row, from its first changed cell to its last: each region is
        # rendered on its own (a line cropped three ways for three cells of one row)
        spans: dict[str, Region] = {}
        for row_key, column_key in coordinates:
            coordinate = Coordinate(self.get_row_index(row_key),
                                    self.get_column_index(column_key))
            if not self.is_valid_coordinate(coordinate):
                continue
            region = self._get_cell_region(coordinate)
            known = spans.get(row_key)
            spans[row_key] = region if known is None else known.union(region)
        for region in spans.values():
            self._refresh_region(region)

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
