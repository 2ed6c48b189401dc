"""``SpanCompositor`` (``tui.terminal.compositor``) writes what Textual's compositor
writes for the same changed regions, rendering fewer widgets to do it."""

from __future__ import annotations

import random

from rich.text import Text
from textual._compositor import Compositor
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from cockpit.tui.terminal.compositor import SpanCompositor, use_span_compositor


class Panes(App):
    """Bordered panes side by side, a table, a footer, and a toast over them."""

    CSS = """
    Static, DataTable { border: round $accent; height: 1fr; }
    """

    def get_default_screen(self) -> Screen:
        screen = super().get_default_screen()
        use_span_compositor(screen)
        return screen

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical():
                yield Static("\n".join(f"log line {i} " * 3 for i in range(30)), id="a")
                yield Static(Text("styled", style="bold red on blue"), id="b")
            with Vertical():
                table: DataTable = DataTable(id="t")
                table.add_columns("name", "value")
                for i in range(12):
                    table.add_row(f"row {i}", Text(str(i * 7), style="green"))
                yield table
                yield Static("wide ✓ ● 日本 cells", id="c")
        yield Footer()

    def on_mount(self) -> None:
        self.notify("a toast over two panes", timeout=60)


def _written(compositor: Compositor, regions: list[Region], how) -> str:
    compositor._dirty_regions.clear()
    compositor._dirty_regions.update(regions)
    compositor._cuts = compositor._layers_visible = None  # built anew by either way
    update = how(compositor)
    assert update is not None
    return update.render_segments(compositor_console)


compositor_console = None


async def test_partial_updates_write_what_textuals_compositor_writes() -> None:
    global compositor_console
    app = Panes()
    async with app.run_test(size=(70, 22)) as pilot:
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        compositor = app.screen._compositor
        assert isinstance(compositor, SpanCompositor)
        compositor_console = app.console
        width, height = app.size
        rng = random.Random(14)
        rendered: list[int] = []
        real = Compositor._get_renders

        def counting(self, crop=None):
            for render in real(self, crop):
                rendered.append(1)
                yield render

        fewer = 0
        for trial in range(300):
            regions = []
            for _ in range(rng.randint(1, 5)):
                x, y = rng.randrange(width), rng.randrange(height)
                w = rng.choice([1, 2, 5, 12, width])
                h = rng.choice([1, 1, 2, 4])
                regions.append(Region(x, y, min(w, width - x), min(h, height - y)))
            Compositor._get_renders = counting
            try:
                rendered.clear()
                ours = _written(compositor, regions, SpanCompositor.render_partial_update)
                ours_count = len(rendered)
                rendered.clear()
                textuals = _written(compositor, regions, Compositor.render_partial_update)
                textuals_count = len(rendered)
            finally:
                Compositor._get_renders = real
            assert ours == textuals, f"trial {trial}: {regions}"
            assert compositor._cuts == Compositor.cuts.fget(compositor)
            assert ours_count <= textuals_count
            fewer += ours_count < textuals_count
        assert fewer > 50  # spread regions: widgets between them are not rendered
        assert compositor._only is None  # the filter is only there during an update
        assert len(compositor.visible_widgets) > 8


async def test_the_cockpits_main_screen_has_the_span_compositor(tmp_path) -> None:
    from cockpit.tui.app import CockpitApp
    from tests.test_tui_app import PROFILE
    from tests.tui_support import make_context

    app = CockpitApp(make_context(tmp_path, PROFILE))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen_stack[0]._compositor, SpanCompositor)


async def test_a_widget_asking_what_is_where_during_an_update_gets_every_widget() -> None:
    """What the compositor builds while an update renders a few widgets (a render
    asking what is at a point) does not stay built from those few."""
    app = Panes()
    async with app.run_test(size=(70, 22)) as pilot:
        await pilot.pause()
        compositor = app.screen._compositor
        a, b = app.query_one("#a"), app.query_one("#b")
        inside_a = a.region.offset
        real = type(b).render_lines

        def asking(self, crop):
            self.screen.get_widget_at(0, 0)
            return real(self, crop)

        type(b).render_lines = asking
        try:
            compositor._layers_visible = None
            box = b.region
            compositor._dirty_regions.update([Region(box.x, box.y, 2, 1),
                                              Region(box.x + 3, box.y + 1, 2, 1)])
            assert compositor.render_partial_update() is not None
        finally:
            type(b).render_lines = real
        assert app.screen.get_widget_at(*inside_a)[0] is a
