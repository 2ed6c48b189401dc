"""``LogLines``: a line-API log view that renders only the rows on screen.

It draws the view of a :class:`~cockpit.tui.panes.logs_buffer.LogBuffer` (every line,
or the lines matching its filter). Each line is a gutter (``>`` on the cursor line,
``E``/``W`` on error and warning lines, readable without colour), an optional dim
``[source]`` tag and the text, with filter matches underlined. A line's segments are
cached by sequence number (display text comes from the buffer, cleaned on first use);
a frame creates one Strip per row on screen and nothing for the lines off screen.

Without wrap, a row is a line and long lines scroll horizontally. With wrap, a
*scroll step is still one line*: ``scroll_y`` is the line at the top, only the lines
on screen are cut into rows of the view's width, and the virtual height is chosen so
that the last scroll position is bottom-anchored: the last line ends on the last row
(a line too tall to fit above it shows its end).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple, cast

from rich.cells import get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from cockpit.tui.panes.logs_buffer import LogBuffer

#: "◆": a notice of the cockpit itself; a log line cannot carry this mark, whatever it says
_MARKS = {"error": "E", "warn": "W", "cockpit": "◆"}
GUTTER = 3  #: cursor mark, level mark, space


class _Line(NamedTuple):
    """A rendered line: its segments, its width in cells, whether it is all ASCII."""

    segments: list[Segment]
    cells: int
    ascii: bool
    wraps: dict[int, list[tuple[int, int]]]  #: width -> (start, end) cells of each row

    def rows(self, width: int) -> list[tuple[int, int]]:
        """Where the line is cut into rows of ``width`` cells (never inside a character)."""
        rows = self.wraps.get(width)
        if rows is not None:
            return rows
        if self.ascii:
            rows = [(s, min(s + width, self.cells)) for s in range(0, max(1, self.cells), width)]
        else:
            rows, start, pos = [], 0, 0
            for text, _style, _control in self.segments:
                for char in text:
                    cells = get_character_cell_size(char)
                    if pos + cells - start > width and pos > start:
                        rows.append((start, pos))
                        start = pos
                    pos += cells
            rows.append((start, pos))
        self.wraps[width] = rows
        return rows


def _merge(segments: list[Segment]) -> list[Segment]:
    """Adjacent segments of one style as one: each segment costs an escape sequence
    (some 25 bytes) on the terminal at every repaint."""
    out: list[Segment] = []
    for segment in segments:
        if out and out[-1].style == segment.style and not segment.control:
            out[-1] = Segment(out[-1].text + segment.text, segment.style)
        else:
            out.append(segment)
    return out


def _cut(line: _Line, start: int, end: int, width: int, pad: Style) -> Strip:
    """Cells ``start``..``end`` of ``line`` as one Strip padded to ``width``.

    One Strip per row (a Strip is costly to create); ASCII lines are cut by slicing.
    """
    if not line.ascii:  # wide characters: let Strip do the cell arithmetic
        strip = Strip(line.segments, line.cells).crop_extend(start, end, pad)
        return strip.extend_cell_length(width, pad) if end - start < width else strip
    out: list[Segment] = []
    pos = 0
    for text, style, _control in line.segments:
        after = pos + len(text)
        if after > start:
            out.append(Segment(text[max(0, start - pos) : end - pos], style))
        pos = after
        if pos >= end:
            break
    cells = max(0, min(end, line.cells) - start)
    if cells < width:
        if out and out[-1].style == pad:  # one escape sequence for text and padding
            out[-1] = Segment(out[-1].text + " " * (width - cells), pad)
        else:
            out.append(Segment(" " * (width - cells), pad))
        cells = width
    return Strip(out, cells)


def sync_scrollbars(widget: Widget, size: Size) -> None:
    """Fit ``widget``'s scrollbars to its new virtual ``size`` without a layout.

    Textual's ``_scroll_update`` less its unconditional scrollbar refreshes: a bar
    repaints only when its thumb changes (its fields are reactives). A long horizontal
    bar is a few KB of escape sequences, at every new line.
    """
    if not widget.container_size:
        return  # not laid out yet: the first layout sizes the scrollbars
    if widget.styles.auto_dimensions:
        widget.refresh(layout=True)  # the widget's size depends on its content
        return
    widget._scrollbar_changes.clear()
    widget._refresh_scrollbars()  # showing or hiding a bar lays out (layout reactives)
    width, height = widget.container_size
    if widget.show_vertical_scrollbar and widget.styles.scrollbar_size_vertical:
        bar = widget.vertical_scrollbar
        bar.window_virtual_size = size.height
        bar.window_size = height - widget.scrollbar_size_horizontal
    if widget.show_horizontal_scrollbar and widget.styles.scrollbar_size_horizontal:
        bar = widget.horizontal_scrollbar
        bar.window_virtual_size = size.width
        bar.window_size = width - widget.scrollbar_size_vertical
    widget.scroll_x = widget.validate_scroll_x(widget.scroll_x)
    widget.scroll_y = widget.validate_scroll_y(widget.scroll_y)


class QuietStatus:
    """For a bordered pane (mixed in before ``Pane``) whose status changes often.

    Setting ``border_subtitle`` repaints the whole pane, children included: several KB
    for a pane of log lines, at every new status. :meth:`set_status` repaints only the
    bottom border row, where the status is drawn.
    """

    _status: str | None
    _border_only = False

    def set_status(self, text: str) -> None:
        """The status in the bottom border; kept for later while the pane is hidden."""
        if text == self._status:
            return
        self._status = text
        widget = cast(Widget, self)
        if widget.display:
            self._border_only = True
            try:
                widget.border_subtitle = Content(text)  # plain: no markup
            finally:
                self._border_only = False

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False,
        recompose: bool = False,
    ) -> Widget:
        widget = cast(Widget, self)
        if self._border_only and not (regions or layout or recompose):
            width, height = widget.outer_size
            if width and height and widget.styles.border_bottom[0]:
                offset = widget.content_offset  # refresh regions are content-relative
                regions = (Region(-offset.x, height - 1 - offset.y, width, 1),)
        return super().refresh(  # type: ignore[misc]
            *regions, repaint=repaint, layout=layout, recompose=recompose
        )


class LogLines(ScrollView, can_focus=True):
    """A scrolling, following view of a :class:`LogBuffer`."""

    ALLOW_SELECT = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Scroll up", show=False, id="logs.view.up"),
        Binding("down", "scroll_down", "Scroll down", show=False, id="logs.view.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="logs.view.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="logs.view.page_down"),
        Binding("home", "scroll_home", "Top", show=False, id="logs.view.top"),
        Binding("end", "scroll_end", "Bottom", show=False, id="logs.view.bottom"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "loglines--source",
        "loglines--error",
        "loglines--warn",
        "loglines--debug",
        "loglines--mark-error",
        "loglines--mark-warn",
        "loglines--mark-cockpit",
        "loglines--cockpit",
        "loglines--match",
        "loglines--cursor",
    }
    DEFAULT_CSS = """
    LogLines {
        background: $surface;
        color: $foreground;
        overflow-y: scroll;
        overflow-x: auto;
        height: 1fr;
        &.-wrap { overflow-x: hidden; }
        /* Following, the thumb sits at the bottom and says nothing; without it a
           repaint of the view is one column narrower per row on the wire. */
        &.-following { scrollbar-size-vertical: 0; }
        & > .loglines--source { color: $text-muted; text-style: dim; }
        & > .loglines--error { color: $text-error; text-style: bold; }
        & > .loglines--warn { color: $text-warning; }
        & > .loglines--debug { color: $text-muted; }
        & > .loglines--mark-error { background: $error; color: $background; text-style: bold; }
        & > .loglines--mark-warn { background: $warning; color: $background; text-style: bold; }
        & > .loglines--mark-cockpit { color: $accent; text-style: bold; }
        & > .loglines--cockpit { color: $accent; text-style: italic; }
        & > .loglines--match { text-style: bold underline; }
        & > .loglines--cursor { text-style: reverse; }
    }
    """

    #: Not a layout reactive, unlike Widget's: the view's size is fixed by its pane, and
    #: a layout makes the screen re-arrange every widget and repaint every scrollbar on
    #: it (ScrollViews always count as resized), several times a second as lines arrive.
    #: :meth:`watch_virtual_size` updates the scrollbars; showing or hiding one still
    #: lays out the screen (``show_*_scrollbar`` are layout reactives).
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    class FollowChanged(Message):
        """Following was switched on or off (by a key, the mouse or the pane)."""

        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    def __init__(self, buffer: LogBuffer, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-following")
        self.buffer = buffer
        self.show_source = False
        self.source_width = 0
        self.cursor: int | None = None  #: seq of the highlighted line
        self._follow = True
        self._wrap = False
        self._max_width = 0
        self._cache: LRUCache[tuple[int, bool], _Line] = LRUCache(256)
        self._styles: dict[str, Style] | None = None
        self._generation = 0
        self._layout_key: tuple[int, ...] | None = None
        self._layout: list[tuple[_Line, int, int]] = []

    # -- state ---------------------------------------------------------------------------

    @property
    def follow(self) -> bool:
        """Keep the newest line in view as lines arrive."""
        return self._follow

    @follow.setter
    def follow(self, value: bool) -> None:
        if value != self._follow:
            self._follow = value
            self.set_class(value, "-following")
            self.post_message(self.FollowChanged(value))
        if value:
            self.scroll_to(y=self.max_scroll_y, animate=False)

    @property
    def wrap(self) -> bool:
        """Cut long lines into rows instead of scrolling sideways."""
        return self._wrap

    @wrap.setter
    def wrap(self, value: bool) -> None:
        self._wrap = value
        self.set_class(value, "-wrap")
        if value:
            self.scroll_to(x=0, animate=False)
        self.invalidate()
        if self._follow:
            self.scroll_to(y=self.max_scroll_y, animate=False)

    def invalidate(self) -> None:
        """Forget rendered strips (styles, filter, tags or cursor changed) and redraw."""
        self._cache.clear()
        self._generation += 1
        self._update_virtual_size()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._cache.clear()
        self._generation += 1

    def lines_changed(self, added: int, gone: int, width: int) -> None:
        """The buffer grew by ``added`` view rows and lost ``gone`` from the top."""
        if width > self._max_width:
            self._max_width = width
        self._generation += 1
        if self._follow and added:
            # Following, every row moves: old lines would only linger into the older
            # GC generations and make full collections slower.
            self._cache.clear()
        self._update_virtual_size()
        if self._follow and not self.is_vertical_scrollbar_grabbed:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        elif gone:
            self.scroll_to(y=max(0, round(self.scroll_y) - gone), animate=False)
        self.refresh()

    def _viewport(self) -> tuple[int, int]:
        region = self.scrollable_content_region
        return max(1, region.width), max(1, region.height)

    def _update_virtual_size(self) -> None:
        count = self.buffer.visible_count
        if not self._wrap:
            self.virtual_size = Size(self._max_width + GUTTER + self._tag_width(), count)
            return
        width, height = self._viewport()
        top = self._top_for_bottom(count - 1, width, height) if count else 0
        self.virtual_size = Size(width, top + height)

    def watch_virtual_size(self, size: Size) -> None:
        sync_scrollbars(self, size)

    def on_resize(self) -> None:
        self._update_virtual_size()
        if self._follow:
            self.scroll_to(y=self.max_scroll_y, animate=False)

    # -- keys and mouse: scrolling up pauses following, the end resumes it ---------------

    def _pause(self) -> None:
        self.follow = False

    def action_scroll_up(self) -> None:
        self._pause()
        self.scroll_to(y=max(0, round(self.scroll_y) - 1), animate=False)

    def action_scroll_down(self) -> None:
        self.scroll_to(y=round(self.scroll_y) + 1, animate=False)

    def action_page_up(self) -> None:
        self._pause()
        self.scroll_to(y=max(0, round(self.scroll_y) - self._viewport()[1]), animate=False)

    def action_page_down(self) -> None:
        self.scroll_to(y=round(self.scroll_y) + self._viewport()[1], animate=False)

    def action_scroll_home(self) -> None:
        self._pause()
        self.scroll_to(y=0, animate=False)

    def action_scroll_end(self) -> None:
        self.follow = True

    def on_mouse_scroll_up(self) -> None:
        if self.max_scroll_y > 0:
            self._pause()

    # -- cursor ------------------------------------------------------------------------

    def set_cursor(self, seq: int | None) -> None:
        """Highlight line ``seq`` (None: no cursor) and scroll it into view."""
        self.cursor = seq
        self.invalidate()
        if seq is not None:
            self.scroll_to_seq(seq)

    def scroll_to_seq(self, seq: int) -> None:
        """Scroll so that line ``seq`` is in view (it must be in the view)."""
        row = self.buffer.row_of(seq)
        if row is None:
            return
        width, height = self._viewport()
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False)
            return
        rows = 0
        for r in range(top, row + 1):
            rows += self._height_of(r, width)
            if rows > height:
                self.scroll_to(y=self._top_for_bottom(row, width, height), animate=False)
                return

    def top_row(self) -> int:
        """The view row at the top of the screen."""
        return round(self.scroll_y)

    def bottom_row(self) -> int:
        """The last view row that is (at least partly) on screen."""
        width, height = self._viewport()
        count = self.buffer.visible_count
        row, rows = self._top(), 0
        while row < count:
            rows += self._height_of(row, width)
            if rows >= height:
                break
            row += 1
        return max(0, min(row, count - 1))

    # -- rendering ---------------------------------------------------------------------

    def _tag_width(self) -> int:
        return self.source_width + 3 if self.show_source else 0

    def _get_styles(self) -> dict[str, Style]:
        if self._styles is None:
            comp = self.get_component_rich_style
            self._styles = {
                "base": self.rich_style,
                "source": comp("loglines--source"),
                "error": comp("loglines--error"),
                "warn": comp("loglines--warn"),
                "debug": comp("loglines--debug"),
                "mark-error": comp("loglines--mark-error"),
                "mark-warn": comp("loglines--mark-warn"),
                "mark-cockpit": comp("loglines--mark-cockpit"),
                "cockpit": comp("loglines--cockpit"),
                "match": comp("loglines--match", partial=True),
                "cursor": comp("loglines--cursor", partial=True),
            }
        return self._styles

    def _line(self, seq: int) -> _Line:
        """The whole line ``seq`` as segments (not cropped, not wrapped), cached."""
        is_cursor = seq == self.cursor
        key = (seq, is_cursor)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        line = self._build(seq, is_cursor)
        self._cache[key] = line
        return line

    def _build(self, seq: int, is_cursor: bool) -> _Line:
        source, level = self.buffer.source(seq), self.buffer.level(seq)
        styles = self._get_styles()
        base = styles["base"]
        mark = _MARKS.get(level)
        segments = [Segment(">" if is_cursor else " ", base)]
        if mark:
            segments.append(Segment(mark, styles["mark-" + level]))
            segments.append(Segment(" ", base))
        else:
            segments.append(Segment("  ", base))
        if self.show_source:
            tag = f"[{source}]".ljust(self.source_width + 2) + " "
            segments.append(Segment(tag, styles["source"]))
        style = styles.get(level, base)
        text = self.buffer.text(seq)
        pattern = self.buffer.pattern
        if pattern is None:
            segments.append(Segment(text, style))
        else:
            match_style = style + styles["match"]
            pos = 0
            for match in pattern.finditer(text):
                start, end = match.span()
                if start == end:
                    continue
                if start > pos:
                    segments.append(Segment(text[pos:start], style))
                segments.append(Segment(text[start:end], match_style))
                pos = end
            if pos < len(text):
                segments.append(Segment(text[pos:], style))
        if is_cursor:
            cursor = styles["cursor"]
            segments = [Segment(s.text, (s.style or base) + cursor) for s in segments]
        segments = _merge(segments)
        plain = all(segment.text.isascii() for segment in segments)
        cells = sum(len(s.text) for s in segments) if plain else Segment.get_line_length(segments)
        return _Line(segments, cells, plain, {})

    def _height_of(self, row: int, width: int) -> int:
        if not self._wrap:
            return 1
        return len(self._line(self.buffer.seq_at(row)).rows(width))

    def _top_for_bottom(self, row: int, width: int, height: int) -> int:
        """The smallest top row that still shows ``row`` whole at the bottom."""
        if not self._wrap:
            return max(0, row - height + 1)
        rows, top = 0, row
        while top >= 0:
            rows += self._height_of(top, width)
            if rows > height:
                break
            top -= 1
        return min(row, top + 1)

    def _top(self) -> int:
        count = self.buffer.visible_count
        return max(0, min(round(self.scroll_y), count - 1))

    def _wrapped_rows(self, width: int, height: int) -> list[tuple[_Line, int, int]]:
        """(line, first cell, end cell) of each row on screen, in wrap mode."""
        key = (round(self.scroll_y), width, height, self._generation)
        if key == self._layout_key:
            return self._layout
        rows: list[tuple[_Line, int, int]] = []
        count = self.buffer.visible_count
        if count and round(self.scroll_y) >= self.max_scroll_y:
            # at the bottom: the last line ends on the last row, and a line too tall
            # to fit above it shows its end
            row = count - 1
            while len(rows) < height and row >= 0:
                line = self._line(self.buffer.seq_at(row))
                rows[:0] = [(line, start, end) for start, end in line.rows(width)]
                row -= 1
            rows = rows[-height:]
        else:
            row = self._top()
            while len(rows) < height and row < count:
                line = self._line(self.buffer.seq_at(row))
                rows.extend((line, start, end) for start, end in line.rows(width))
                row += 1
            rows = rows[:height]
        self._layout_key, self._layout = key, rows
        return rows

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self._get_styles()["base"]
        if self._wrap:
            rows = self._wrapped_rows(*self._viewport())
            if y >= len(rows):
                return Strip.blank(width, base)
            line, start, end = rows[y]
            return _cut(line, start, end, width, base)
        row = scroll_y + y
        if row >= self.buffer.visible_count:
            return Strip.blank(width, base)
        return _cut(self._line(self.buffer.seq_at(row)), scroll_x, scroll_x + width, width, base)

    def screen_text(self) -> list[str]:
        """The rows on screen as plain text (what a test or a screen reader sees)."""
        _, height = self._viewport()
        return [self.render_line(y).text.rstrip() for y in range(height)]

