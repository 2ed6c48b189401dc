"""Command palette providers: the profile's actions, panes, themes and profiles.

One registry feeds both the palette and the keys: pane jumps are the same app actions
the ``1``-``5`` bindings call.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from cockpit.tui.app import CockpitApp

_DANGER = {"safe": "safe", "caution": "caution", "dangerous": "⚠ DANGEROUS"}


class ActionCommands(Provider):
    """The profile's runbook actions, searched over id, title, tags and description."""

    @property
    def cockpit(self) -> CockpitApp:
        return self.app  # type: ignore[return-value]

    def _entries(self):
        app = self.cockpit
        read_only = app.context.read_only or app.context.loaded.profile.read_only
        for action in app.context.loaded.profile.actions:
            refused = read_only and action.danger != "safe"
            label = f"{action.id} — {action.title} · {_DANGER[action.danger]}"
            if refused:
                label += " (refused: read-only)"
            haystack = " ".join(
                [action.id, action.title, " ".join(action.tags), action.description]
            )
            help_text = action.description or ", ".join(action.tags)
            yield action, label, haystack, help_text

    async def discover(self) -> Hits:
        for action, label, _haystack, help_text in self._entries():
            yield DiscoveryHit(
                label, partial(self.cockpit.request_action, action.id), help=help_text
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, label, haystack, help_text in self._entries():
            score = max(matcher.match(label), matcher.match(haystack) * 0.9)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(label),
                    partial(self.cockpit.request_action, action.id),
                    help=help_text,
                )


class CockpitCommands(Provider):
    """Switch pane, theme or profile."""

    @property
    def cockpit(self) -> CockpitApp:
        return self.app  # type: ignore[return-value]

    def _entries(self):
        app = self.cockpit
        for number, title in app.pane_titles():
            yield f"Go to pane: {title} ({number})", partial(app.action_show_pane, number), ""
        for name in sorted(app.available_themes):
            if name.startswith("cockpit") or name in ("textual-dark", "textual-light"):
                yield f"Theme: {name}", partial(app.switch_theme, name), "switch the theme"
        for location in app.profile_locations():
            if location.shadowed:
                continue
            yield (
                f"Switch profile: {location.name}",
                partial(app.switch_profile, str(location.path)),
                f"{location.origin}: {location.path}",
            )
        yield "Open the operator audit trail", app.action_operator_trail, "audit pane, view a"
        yield "Keys and help", app.action_help, "every binding"

    async def discover(self) -> Hits:
        for label, callback, help_text in self._entries():
            yield DiscoveryHit(label, callback, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, callback, help_text in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text or None)
