"""A compositor whose partial updates render only the widgets under a changed region.

Textual renders a partial update from the box around every changed region: every widget
overlapping that box renders its lines again (cached lines mostly, but each one walked).
Background panes repaint together at a shared slot boundary (``panes.base``), so at a
wide size their changes are spread over the screen and the box is the whole screen:
the footer, the header and every idle pane were walked for a new audit row and a new
sparkline. Here only the widgets whose visible part overlaps a changed region render.

The same cells are written: an update writes only the changed spans, and the widget in
front at any cell of a span overlaps that span's changed region, so it is rendered (a
line's chops are cut at every widget's edge, so one widget is in front over a whole
chop). ``tests/test_tui_compositor.py`` compares both updates for random regions.
"""

from __future__ import annotations

from typing import Any

from textual._compositor import Compositor
from textual.screen import Screen

#: Caches the compositor builds from ``visible_widgets`` when first asked (Textual 8.2).
_DERIVED = ("_cuts", "_layers_visible")
#: Compositor internals (Textual 8.2) this relies on; without them Textual's own way.
_INTERNALS = ("_dirty_regions", "cuts", "render_partial_update", "_render_chops",
              "_get_renders", *_DERIVED)


class SpanCompositor(Compositor):
    """``Compositor`` whose partial updates skip the widgets no changed region touches."""

    _only: dict[Any, Any] | None = None  #: the widgets of the update being rendered

    @property
    def visible_widgets(self) -> dict[Any, Any]:  # type: ignore[override]
        only = self._only
        return only if only is not None else Compositor.visible_widgets.fget(self)  # type: ignore[attr-defined]

    def render_partial_update(self) -> Any:
        regions = self._dirty_regions
        if len(regions) < 2:  # the box is the region: Textual's way is this way
            return super().render_partial_update()
        self.cuts  # noqa: B018 (every widget's edges, computed and kept before the filter)
        touches = [region.overlaps for region in regions]
        # what Textual builds lazily from the visible widgets: anything built while the
        # filter is set (a widget's render asking what is at a point) is dropped after
        derived = {name: getattr(self, name, None) for name in _DERIVED}
        self._only = {
            widget: (region, clip)
            for widget, (region, clip) in Compositor.visible_widgets.fget(self).items()  # type: ignore[attr-defined]
            if any(overlaps(region.intersection(clip)) for overlaps in touches)
        }
        try:
            return super().render_partial_update()
        finally:
            self._only = None
            for name, value in derived.items():
                if getattr(self, name, None) is not value:
                    setattr(self, name, None)  # built from the few: built again from all


def use_span_compositor(screen: Screen) -> None:
    """Give a screen that has not been laid out yet a ``SpanCompositor``."""
    if all(hasattr(screen._compositor, name) for name in _INTERNALS) and hasattr(
            Compositor, "visible_widgets"):
        screen._compositor = SpanCompositor()
