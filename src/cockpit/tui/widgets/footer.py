"""The footer of the cockpit's main screen."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widgets import Footer


class CockpitFooter(Footer):
    """Textual's footer, laid out again when it recomposes behind another screen.

    Its keys are remade when the bindings change, which happens as a modal screen opens
    (the palette closing, the params form pushed). A screen behind a modal one gets no
    idle message to run the layout its new keys ask for: they stayed unplaced, a blank
    row under the form, until the screen was on top again.
    """

    async def recompose(self) -> None:
        await super().recompose()
        if self.is_attached:
            self.app.call_later(lay_out_behind, self.app)


def lay_out_behind(app: App[Any]) -> None:
    """Run the layout a screen behind the top one still waits for (its footer's keys
    remade as it went behind). Called from the app's queue, after a footer recomposes
    and after a screen is pushed; within a batch of updates (a push, a recompose) the
    screen's idle message would skip it: asked again a moment later."""
    if getattr(app, "_batch_count", 0):
        app.set_timer(0.02, lambda: lay_out_behind(app), name="lay-out-behind")
        return
    top = app.screen
    for screen in app.screen_stack[:-1]:
        if screen is not top and getattr(screen, "_layout_required", False):
            screen.refresh(layout=True)
