"""The command palette (``:`` or ``ctrl+p``): one provider, in a fixed order.

Actions first (what the palette is mostly for), then the profile's runbooks and their
steps, then panes, themes, profiles and the cockpit's own commands. One registry feeds
both the palette and the keys: pane jumps are the same app actions the ``1``-``5``
bindings call, and Quit is the same ``q`` that asks while actions run. Textual's own
system commands are not offered: they would duplicate these (Keys, Theme) or bypass
them (its Quit does not ask).

Every entry's text (a profile's action titles and descriptions, runbook titles and
paths, profile file names, theme names) is outside text: ``palette_entries`` passes
each label, help and search text through the context's boundary, the one place the
palette's words are made safe. The sources below build entries from raw text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import FuzzySearch, Matcher

if TYPE_CHECKING:
    from cockpit.tui.app import CockpitApp

_DANGER = {"safe": "safe", "caution": "caution", "dangerous": "⚠ DANGEROUS"}


@dataclass(frozen=True)
class Entry:
    """One palette line: what it says, what it does, what it is found by."""

    label: str
    callback: Callable[[], object]
    help: str = ""
    haystack: str = ""  #: searched too, at a lower score than the label


def palette_entries(app: CockpitApp) -> Iterator[Entry]:
    """Every palette entry, in order, its text through the boundary: escapes shown
    (``\\e]52;...``), never live; secrets redacted; long text cut with a mark. Only
    what is shown (and searched) changes: the callbacks keep the real ids and paths."""
    line = app.context.boundary.line
    for source in (action_entries, scope_entries, runbook_entries, cockpit_entries):
        for entry in source(app):
            yield replace(entry, label=line(entry.label), help=line(entry.help),
                          haystack=line(entry.haystack))


def action_entries(app: CockpitApp) -> Iterator[Entry]:
    """The profile's actions, searched over id, title, tags and description."""
    read_only = app.context.read_only or app.context.loaded.profile.read_only
    for action in app.context.loaded.profile.actions:
        label = f"{action.id} — {action.title} · {_DANGER[action.danger]}"
        if read_only and action.danger != "safe":
            label += " (refused: read-only)"
        haystack = " ".join([action.id, action.title, " ".join(action.tags), action.description])
        yield Entry(label, partial(app.request_action, action.id),
                    action.description or ", ".join(action.tags), haystack)


def scope_entries(app: CockpitApp) -> Iterator[Entry]:
    """``ctx`` / ``ns`` (k9s): switch the backend's context or namespace, where it has
    scopes to switch. ``ctx NAME`` lists the choices (``choice_entries``)."""
    for verb, scope in app.scope_verbs().items():
        current = app.current_scope(scope)
        now = f" (now {current})" if current else ""
        yield Entry(f"{verb} — switch {scope}{now}", partial(app.choose_scope, scope),
                    f"or type: {verb} NAME", f"{verb} {scope} switch")


def parse_scope_query(app: CockpitApp, query: str) -> tuple[str, str, str] | None:
    """``ctx`` / ``:ns prod`` -> (verb, scope, the rest); None for other queries."""
    words = query.strip().lstrip(":").split(maxsplit=1)
    if not words:
        return None
    verbs = app.scope_verbs()
    verb = words[0].lower()
    if verb not in verbs:
        return None
    return verb, verbs[verb], words[1].strip() if len(words) > 1 else ""


def choice_entries(app: CockpitApp, verb: str, scope: str,
                   choices: list[str]) -> Iterator[Entry]:
    """One entry per value ``scope`` can be switched to (raw text: see palette_entries)."""
    current = app.current_scope(scope)
    for value in choices:
        mark = " (current)" if value == current else ""
        yield Entry(f"{verb} {value}{mark}", partial(app.switch_scope, scope, value),
                    f"switch the {scope} to {value}", value)


def runbook_entries(app: CockpitApp) -> Iterator[Entry]:
    """Open a runbook file; the profile's runbooks and their runnable steps."""
    yield Entry("Open a runbook file…", app.action_open_runbook_prompt,
                "a Markdown runbook: its steps run through this profile", "runbook markdown")
    read_only = app.context.read_only or app.context.loaded.profile.read_only
    for path in app.runbook_paths():
        runbook = app.cached_runbook(path)
        if runbook is None:
            problem = app.runbook_problems.get(path, "not read yet")
            yield Entry(f"Runbook unavailable: {path.name}", partial(app.open_runbook, path),
                        f"{path}: {problem}", f"runbook {path.name}")
            continue
        title = runbook.title or path.name
        yield Entry(f"Open runbook: {title}", partial(app.open_runbook, path), str(path),
                    f"runbook {path.name}")
        for step in runbook.steps:
            if not step.runnable:
                continue
            label = (f"{path.stem} › {step.id} — {step.section.title} · "
                     f"{_DANGER[step.danger.level]}")
            if read_only and step.danger.level != "safe":
                label += " (refused: read-only)"
            lines = step.command.strip().split("\n")
            yield Entry(label, partial(app.run_runbook, runbook, [step]),
                        lines[0][:100] if lines else "", step.command[:300])


def cockpit_entries(app: CockpitApp) -> Iterator[Entry]:
    """Panes, themes, profiles, help and quitting."""
    for number, title in app.pane_titles():
        yield Entry(f"Go to pane: {title} ({number})", partial(app.action_show_pane, number))
    for name in sorted(app.available_themes):
        if name.startswith("cockpit") or name in ("textual-dark", "textual-light"):
            yield Entry(f"Theme: {name}", partial(app.switch_theme, name), "switch the theme")
    for location in app.profile_locations():
        if not location.shadowed:
            yield Entry(f"Switch profile: {location.name}",
                        partial(app.switch_profile, str(location.path)),
                        f"{location.origin}: {location.path}")
    yield Entry("Open the operator audit trail", app.action_operator_trail,
                "audit pane, view a")
    yield Entry("Keys and help", app.action_help, "every binding")
    yield Entry("Save a screenshot", app.action_screenshot, "an SVG in the current folder")
    yield Entry("Quit", app.action_quit_cockpit, "asks first while actions are running")


def markup_safe(text: str) -> str:
    """Text shown as itself where Textual reads markup: ``grep '[a-z]'`` stays as is.

    Only ``[`` opens markup; ``textual.markup.escape`` also doubles a backslash at the
    end (Rich's rule), which Textual then shows doubled: a command ending in ``\\``.
    """
    return text.replace("[", "\\[")


def _help(entry: Entry) -> str | None:
    """Help text is read as markup: a command such as ``grep '[a-z]'`` must stay as is."""
    return markup_safe(entry.help) if entry.help else None


#: Textual's matcher tries every placement of the query's letters in a candidate: past
#: this many (a long query over a long runbook step: billions, gigabytes in seconds) the
#: placement is found in one pass instead
MAX_PLACEMENTS = 20_000


def fuzzy_match(search: FuzzySearch, query: str, candidate: str) -> tuple[float, list[int]]:
    """Textual's fuzzy score and offsets of ``query`` in ``candidate``, bounded: where
    its search would try more than ``MAX_PLACEMENTS`` placements, the letters are placed
    in order at their first occurrences and that placement is scored."""
    low_query, low = query.lower(), candidate.lower()
    if low_query and low_query not in low:
        placements = 1
        for letter in low_query:
            placements *= low.count(letter)
            if placements > MAX_PLACEMENTS:
                offsets, at = [], 0
                for char in low_query:
                    found = low.find(char, at)
                    if found < 0:
                        return 0.0, []
                    offsets.append(found)
                    at = found + 1
                return search.score(low, offsets), offsets
            if not placements:
                return 0.0, []
    score, offsets = search.match(query, candidate)
    return score, list(offsets)


def _score(matcher: Matcher, text: str) -> float:
    return fuzzy_match(matcher.fuzzy_search, matcher.query, text)[0]


def _highlight(matcher: Matcher, text: str) -> Content:
    """``matcher.highlight`` for plain text: Textual's reads its candidate as markup, so
    an action titled ``[link=...]`` would become a live hyperlink, ``grep '[a-z]'`` lose
    its brackets."""
    content = Content(text)
    score, offsets = fuzzy_match(matcher.fuzzy_search, matcher.query, text)
    if not score:
        return content
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class CockpitCommands(Provider):
    """Everything the palette offers, actions first."""

    @property
    def cockpit(self) -> CockpitApp:
        return self.app  # type: ignore[return-value]

    async def startup(self) -> None:
        """Ask for the scopes' choices (workers) and parse the profile's runbooks (in a
        thread; once while they are unchanged)."""
        self.cockpit.prefetch_scope_choices()
        for path in self.cockpit.runbook_paths():
            await self.cockpit.load_runbook(path, quiet=True)

    async def discover(self) -> Hits:
        for entry in palette_entries(self.cockpit):
            yield DiscoveryHit(markup_safe(entry.label), entry.callback, text=entry.label,
                               help=_help(entry))

    async def search(self, query: str) -> Hits:
        scoped = parse_scope_query(self.cockpit, query)
        if scoped is not None:
            async for hit in self._scope_hits(*scoped):
                yield hit
            return
        matcher = self.matcher(query)
        for entry in palette_entries(self.cockpit):
            score = _score(matcher, entry.label)
            if entry.haystack:
                score = max(score, _score(matcher, entry.haystack) * 0.9)
            if score > 0:
                yield Hit(score, _highlight(matcher, entry.label), entry.callback,
                          text=entry.label, help=_help(entry))

    async def _scope_hits(self, verb: str, scope: str, rest: str) -> Hits:
        """``ctx`` lists every choice; ``ctx NAME`` those matching NAME. The choices come
        from a worker; awaiting them only waits (the palette shows it is busy)."""
        app = self.cockpit
        line = app.context.boundary.line
        try:
            choices = await app.scope_choices(scope)
        except Exception as exc:
            from cockpit.tui.screens.scope import one_line

            problem = line(f"cannot list the {scope}s: {one_line(exc)}")
            yield Hit(1.0, Content(problem),
                      partial(app.notify, problem, severity="error", markup=False),
                      text=problem)
            return
        matcher = self.matcher(rest) if rest else None
        for entry in choice_entries(app, verb, scope, choices):
            label, haystack = line(entry.label), line(entry.haystack)
            score = 1.0 if matcher is None else _score(matcher, haystack)
            if score > 0:
                yield Hit(score, Content(label), entry.callback, text=label,
                          help=markup_safe(line(entry.help)))
