"""``:ctx`` / ``:ns`` in the palette (k9s-like) with a backend whose scopes switch: the
choices come from a worker, a switch runs off the UI's time, then the header, the
Targets pane, and the health probes follow; a failed switch says why in one line."""

from __future__ import annotations

import asyncio
import re

import pytest
from textual.command import CommandPalette

from cockpit.tui.app import CockpitApp
from cockpit.tui.header import CockpitHeader
from cockpit.tui.panes.health import HealthPane
from cockpit.tui.panes.targets import TargetsPane
from cockpit.tui.screens.scope import ScopeScreen
from tests.scope_backend import ScopeBackend
from tests.support import async_wait_until
from tests.tui_support import make_context, palette_settled

PROFILE = """
    name: meta-salvage
    read_only: true
    health:
      - {name: pods, kind: target, interval: 1h}
"""


@pytest.fixture
def backend() -> ScopeBackend:
    return ScopeBackend()


def app_for(tmp_path, backend, profile: str = PROFILE, live: bool = True) -> CockpitApp:
    return CockpitApp(make_context(tmp_path, profile, backend=backend, live=live))


def header_text(app: CockpitApp) -> str:
    return app.query_one(CockpitHeader).render().plain


def palette_labels(app: CockpitApp) -> list[str]:
    options = app.screen.query_one("CommandList")
    return [str(options.get_option_at_index(i).prompt).split("\n")[0]
            for i in range(options.option_count)]


async def type_in_palette(pilot, query: str) -> None:
    await pilot.press("colon")
    await async_wait_until(lambda: isinstance(pilot.app.screen, CommandPalette),
                           what="the palette")
    for ch in query:
        await pilot.press(ch)


def pod_names(app: CockpitApp) -> list[str]:
    return [t.name for t in app.query_one(TargetsPane).targets]


def probe_rows(app: CockpitApp) -> list[str]:
    return [r.name for r in app.query_one(HealthPane).rows]


async def test_ctx_lists_the_choices_and_a_switch_moves_everything(tmp_path, backend):
    app = app_for(tmp_path, backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await async_wait_until(lambda: pod_names(app) == ["euystacio-api-7d9f-abcde",
                                                          "opa-peace-bonds-5c7b-x2"],
                               what="the first context's pods")
        await async_wait_until(lambda: "pods/opa-peace-bonds-5c7b-x2" in probe_rows(app),
                               what="the probe's rows")
        assert "ctx salvage-eu ns euystacio-ai" in header_text(app)
        await type_in_palette(pilot, "ctx")
        await palette_settled(pilot, "ctx")
        assert palette_labels(app) == ["ctx salvage-eu (current)", "ctx salvage-us"]
        assert backend.choice_calls.count("context") == 1  # fetched once per opening
        for ch in " us":
            await pilot.press(ch)
        await palette_settled(pilot, "ctx us")
        assert palette_labels(app) == ["ctx salvage-us"]
        await pilot.press("enter")
        await async_wait_until(lambda: backend.switches == [("context", "salvage-us")],
                               what="the switch")
        await async_wait_until(lambda: pod_names(app) == ["euystacio-api-6b2c-zzzzz"],
                               what="the new context's pods")
        assert "ctx salvage-us ns euystacio-ai" in header_text(app)
        await async_wait_until(lambda: backend.watching == 1 and backend.watches == 2,
                               what="the old watch closed, one new one")
        await async_wait_until(lambda: probe_rows(app) == ["pods",
                                                           "pods/euystacio-api-6b2c-zzzzz"],
                               what="the probe re-run on the new context")


async def test_ns_by_name_and_the_discovered_entry_opens_a_chooser(tmp_path, backend):
    app = app_for(tmp_path, backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await async_wait_until(lambda: len(pod_names(app)) == 2, what="listed")
        await type_in_palette(pilot, ":ns mon")
        await palette_settled(pilot, ":ns mon")
        assert palette_labels(app) == ["ns monitoring"]
        await pilot.press("enter")
        await async_wait_until(lambda: pod_names(app) == ["prometheus-0"],
                               what="the monitoring namespace")
        assert "ctx salvage-eu ns monitoring" in header_text(app)
        # the palette's own entry for the verb: a list of the choices
        await pilot.press("colon")
        await palette_settled(pilot, "")
        labels = palette_labels(app)
        assert "ctx — switch context (now salvage-eu)" in labels
        assert "ns — switch namespace (now monitoring)" in labels
        for ch in "switch namespace":
            await pilot.press(ch)
        await palette_settled(pilot, "switch namespace")
        assert palette_labels(app)[0] == "ns — switch namespace (now monitoring)"
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, ScopeScreen)
                               and app.screen.choices is not None, what="the chooser")
        assert app.screen.choices == ["euystacio-ai", "monitoring"]
        await pilot.press("up", "enter")
        await async_wait_until(lambda: backend.namespace == "euystacio-ai"
                               and len(pod_names(app)) == 2, what="back to euystacio-ai")


async def test_target_logs_follow_the_switch(tmp_path, backend):
    from cockpit.tui.panes.logs import LogsPane

    # docker: a kind whose target log sources load (the app runs the fake backend)
    profile = PROFILE + """
    backend: {kind: docker, containers: [web]}
    logs:
      - {name: pods, kind: target}
    """
    app = app_for(tmp_path, backend, profile)
    async with app.run_test(size=(80, 24)) as pilot:
        logs = app.query_one(LogsPane)
        await async_wait_until(lambda: backend.logging == {
            "euystacio-ai/pod/euystacio-api-7d9f-abcde",
            "euystacio-ai/pod/opa-peace-bonds-5c7b-x2"}, what="the first pods' logs")
        await type_in_palette(pilot, "ns monitoring")
        await palette_settled(pilot, "ns monitoring")
        await pilot.press("enter")
        await async_wait_until(lambda: backend.logging == {"monitoring/pod/prometheus-0"},
                               what="only the new namespace's pod followed")
        await pilot.press("2")
        await async_wait_until(
            lambda: any("hello from monitoring/pod/prometheus-0" in line
                        for line in logs.visible_lines()), what="its line shown")
        assert backend.context == "salvage-eu"  # only the namespace changed


async def test_a_failed_switch_says_why_in_one_line(tmp_path, backend):
    backend.refuse = "forbidden by the cluster (RBAC): list namespaces"
    app = app_for(tmp_path, backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await async_wait_until(lambda: len(pod_names(app)) == 2, what="listed")
        await type_in_palette(pilot, "ns monitoring")
        await palette_settled(pilot, "ns monitoring")
        await pilot.press("enter")
        await async_wait_until(lambda: any("cannot switch" in str(n.message)
                                           for n in app._notifications), what="the notice")
        notice = next(n for n in app._notifications if "cannot switch" in str(n.message))
        assert notice.message == ("cannot switch namespace to monitoring: forbidden by the "
                                  "cluster (RBAC): list namespaces")
        assert notice.severity == "error"
        assert "ns euystacio-ai" in header_text(app) and backend.watches == 1
        assert len(pod_names(app)) == 2


async def test_the_choices_never_hold_the_ui(tmp_path, backend):
    backend.gate = asyncio.Event()
    app = app_for(tmp_path, backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_in_palette(pilot, "ctx")
        await async_wait_until(lambda: "context" in backend.choice_calls,
                               what="the choices asked for")
        # still waiting for the backend: the palette takes keys meanwhile
        for ch in " sal":
            await pilot.press(ch)
        await async_wait_until(
            lambda: app.screen.query_one("CommandInput").value == "ctx sal", what="typed")
        assert isinstance(app.screen, CommandPalette)
        backend.gate.set()
        await palette_settled(pilot, "ctx sal")
        assert palette_labels(app) == ["ctx salvage-eu (current)", "ctx salvage-us"]


async def test_no_scope_verbs_no_entries(tmp_path):
    app = CockpitApp(make_context(tmp_path, PROFILE))  # the local backend
    async with app.run_test(size=(80, 24)) as pilot:
        await type_in_palette(pilot, "ctx")
        await palette_settled(pilot, "ctx")
        assert not any(label.startswith(("ctx", "ns ")) for label in palette_labels(app))


async def test_header_at_80_with_a_usual_context(tmp_path, backend):
    app = app_for(tmp_path, backend, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.header.health = "fail"
        await pilot.pause()
        text = header_text(app)
        assert text.startswith(" meta-salvage │ ctx salvage-eu ns euystacio-ai")  # no badge
        assert "✗ UNHEALTHY │ READ-ONLY" in text and len(text) == 80


@pytest.mark.parametrize("health", ["ok", "fail"])
async def test_header_keeps_context_namespace_read_only_and_clock_at_80(tmp_path, health):
    backend = ScopeBackend("a-rather-long-context-name-eu", "euystacio-ai")
    app = app_for(tmp_path, backend, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.header.health = health
        await pilot.pause()
        text = header_text(app)
        assert len(text) <= 80
        # the namespace whole; a context name this long gives way first, with a mark
        assert re.search(r"│ ctx a-rather-long-context-n[a-z-]*… ns euystacio-ai │", text)
        assert text.startswith("│ ctx")  # the badge and the profile's name gave way
        assert "READ-ONLY" in text and text.rstrip().endswith(app.header._clock())
        assert ("UNHEALTHY" if health == "fail" else "healthy") in text


def test_snapshot_header_with_context_and_namespace_80x24(snap_compare, tmp_path):
    from cockpit.core.backends.base import Health, Target
    from cockpit.core.sources.health import HealthRow
    from tests.snapshot_app import no_blink
    from tests.tui_support import FROZEN_TIME

    async def run_before(pilot) -> None:
        pilot.app.query_one(TargetsPane).show_targets([
            Target("euystacio-ai/deployment/euystacio-api", "euystacio-api", "deployment",
                   "1/3 ready", scope="euystacio-ai", health=Health("fail", "1/3 ready")),
        ])
        pilot.app.query_one(HealthPane).show_rows([HealthRow(
            "pods", "fail", None, "1 of 3 not ok: euystacio-api", FROZEN_TIME - 2)])
        await pilot.pause()
        await async_wait_until(lambda: pilot.app.header.health == "fail", what="unhealthy")
        no_blink(pilot.app)
        await pilot.pause()

    app = app_for(tmp_path, ScopeBackend(), live=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
