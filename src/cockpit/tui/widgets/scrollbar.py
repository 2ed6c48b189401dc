"""A scrollbar renderer that writes a horizontal bar as a few runs, not one per cell.

Textual's default renderer yields one segment, with its own SGR codes, per cell: a
120-column horizontal scrollbar costs about 2 KB each time its widget repaints. Runs of
equal style are merged here (same glyphs, same colours), so the bar costs ~100 bytes.
"""

from __future__ import annotations

from rich.segment import Segment, Segments
from textual.scrollbar import ScrollBar, ScrollBarRender


class CompactScrollBarRender(ScrollBarRender):
    """`ScrollBarRender` whose horizontal bars are merged into runs of one style."""

    @classmethod
    def render_bar(cls, *args, **kwargs) -> Segments:  # type: ignore[override]
        bar = super().render_bar(*args, **kwargs)
        vertical = kwargs.get("vertical", args[5] if len(args) > 5 else True)
        if vertical:
            return bar  # one segment per line: merging would join the lines
        return Segments(list(Segment.simplify(bar.segments)), new_lines=bar.new_lines)


def install_compact_scrollbars() -> None:
    """Make every scrollbar of the app use `CompactScrollBarRender`."""
    ScrollBar.renderer = CompactScrollBarRender
