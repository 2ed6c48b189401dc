"""One-line header: profile, backend, overall health, read-only state, clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from cockpit.tui.context import CockpitContext

_HEALTH = {
    "ok": ("● healthy", "green"),
    "fail": ("✗ UNHEALTHY", "red"),
    "unknown": ("? probing", "yellow"),
    "none": ("no health probes", "dim"),
}


class CockpitHeader(Widget):
    """Where am I, is it healthy, what time is it. A profile's ``banner`` colours it."""

    DEFAULT_CSS = """
    CockpitHeader { height: 1; background: $panel; color: $foreground; }
    """
    health: reactive[str] = reactive("unknown")
    note: reactive[str] = reactive("")
    #: "connecting" while the backend's connect() runs, "" once connected, else why not
    connection: reactive[str] = reactive("")

    def __init__(self, context: CockpitContext) -> None:
        super().__init__(id="header")
        self.context = context
        banner = context.loaded.profile.banner
        if banner:
            self.styles.background = banner
            self.styles.color = "white"

    def on_mount(self) -> None:
        self._minute = self._clock()
        if self.context.live:
            self.set_interval(1.0, self._tick)

    def _clock(self) -> str:
        return time.strftime("%H:%M", time.localtime(self.context.now()))

    def _tick(self) -> None:
        """Repaint only when the minute changes: a ticking seconds field would cost an
        SSH link a header line every second."""
        minute = self._clock()
        if minute != self._minute:
            self._minute = minute
            self.refresh()

    def render(self) -> Text:
        profile = self.context.loaded.profile
        health = self.health if profile.health else "none"
        label, colour = _HEALTH.get(health, _HEALTH["unknown"])
        mode = "READ-ONLY" if self.context.read_only or profile.read_only else "read-write"
        clock = self._clock()
        line = self.context.boundary.line  # a backend describes a host it was told of
        # What must stay in view (health, read-only, the clock) comes first; the backend's
        # description and the note give way on a narrow terminal (80 columns).
        tail = Text(no_wrap=True)
        tail.append("│ ")
        tail.append(label, style=f"bold {colour}")
        tail.append(" │ ")
        tail.append(mode, style="bold yellow" if mode == "READ-ONLY" else "")
        right = f" {clock} "
        identity = self.context.backend.identity()
        scope = scope_text(identity.context, identity.namespace)
        if scope:
            context, namespace = line(identity.context or ""), line(identity.namespace or "")
            return self._scoped(lambda width: fit_scope(context, namespace, width),
                                line(_kind_host(identity.kind, identity.host)), tail, right)
        if identity.project:  # a cloud project (and its regions) stays in view too
            project, region = line(identity.project), line(identity.region or "")
            # the profile's name keeps some room: a project is not a profile
            return self._scoped(lambda width: fit_project(project, region, width - 14),
                                line(_kind_host(identity.kind, identity.host)), tail, right)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" cockpit ", style="bold reverse")
        text.append(f" {_fit(line(profile.name), 24)} ", style="bold")
        where = Text(no_wrap=True)
        where.append(f"│ {line(self.context.backend.describe())} ")
        if self.connection == "connecting":
            where.append("connecting… ", style="italic yellow")
        elif self.connection:
            where.append(f"✗ {line(self.connection)} ", style="bold red")
        width = self.size.width or 80
        room = width - text.cell_len - tail.cell_len - len(right) - 1
        if where.cell_len > room:
            where.truncate(max(2, room - 2))
            where.append("… ")
        text.append_text(where)
        text.append_text(tail)
        if self.note:
            note_room = width - text.cell_len - len(right) - 4
            if note_room > 8:
                text.append(f" │ {_fit(line(self.note), note_room)}", style="italic")
        pad = max(1, width - text.cell_len - len(right))
        text.append(" " * pad)
        text.append(right, style="bold")
        return text


    def _scoped(self, fit: Callable[[int], str], where: str, tail: Text,
                right: str) -> Text:
        """The header of a backend with a scope (kubernetes' context and namespace, a
        cloud project and its regions; ``fit(width)`` gives its text): it stays in view
        with the health, read-only and the clock; the host gives way first, then the
        ``cockpit`` badge, then the profile's name, then the scope's own long parts."""
        profile = self.context.loaded.profile
        width = self.size.width or 80
        room = width - tail.cell_len - len(right) - 1
        scope_cell = f"│ {fit(room - 3)} "
        room -= len(scope_cell)
        name = self.context.boundary.line(profile.name)
        name_cell = f" {_fit(name, 24)} "
        badge = " cockpit " if room >= 9 + len(name_cell) else ""
        room -= len(badge)
        if room < len(name_cell):
            name_cell = f" {_fit(name, room - 2)} " if room >= 6 else ""
        room -= len(name_cell)
        status = Text(no_wrap=True)
        if self.connection == "connecting":
            status.append("connecting… ", style="italic yellow")
        elif self.connection:
            status.append(f"✗ {self.context.boundary.line(self.connection)} ",
                          style="bold red")
        if self.note:
            status.append(f"{self.context.boundary.line(self.note)} ", style="italic")
        rest = Text(no_wrap=True)
        rest.append_text(status)
        rest.append(f"│ {where} " if where else "")
        if rest.cell_len > room:  # cut, or left out where too little of it would show
            rest.truncate(max(0, room - 2) if room >= 8 else 0)
            if room >= 8:
                rest.append("… ")
        text = Text(no_wrap=True, overflow="ellipsis")
        if badge:
            text.append(badge, style="bold reverse")
        text.append(name_cell, style="bold")
        text.append(scope_cell, style="bold cyan")
        text.append_text(rest)
        text.append_text(tail)
        pad = max(1, width - text.cell_len - len(right))
        text.append(" " * pad)
        text.append(right, style="bold")
        return text


def scope_text(context: str | None, namespace: str | None) -> str:
    """``ctx salvage-eu ns euystacio-ai`` (the parts that apply), or ``""``."""
    parts = [f"ctx {context}" if context else "", f"ns {namespace}" if namespace else ""]
    return " ".join(p for p in parts if p)


def fit_scope(context: str, namespace: str, width: int) -> str:
    """``scope_text`` in ``width`` cells: the context's name is cut first (``gke_…``),
    the namespace last."""
    text = scope_text(context, namespace)
    if len(text) <= width:
        return text
    ns_part = f" ns {namespace}" if namespace else ""
    room = width - len(ns_part) - 4  # "ctx "
    if context and room >= 6:
        return f"ctx {_fit(context, room)}{ns_part}"
    return _fit(text, max(4, width))


def fit_project(project: str, region: str, width: int) -> str:
    """``tai-erlang-demo us-central1,europe-west1`` in ``width`` cells: the regions give
    way first (``us-central1+1``), the project last."""
    text = f"{project} {region}".strip()
    if len(text) <= width:
        return text
    regions = [r for r in region.split(",") if r]
    if len(regions) > 1:
        short = f"{project} {regions[0]}+{len(regions) - 1}"
        if len(short) <= width:
            return short
    return _fit(project, max(4, width))


def _kind_host(kind: str, host: str | None) -> str:
    return kind + (f" ({host})" if host else "")


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
