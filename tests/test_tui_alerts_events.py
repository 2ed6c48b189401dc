"""The Health pane with an ``alerts`` probe (one keyed row per firing alert, against a
loopback Prometheus), a label ``selector`` on a target probe, and Warning events in a
target's detail view (highlighted and marked ``!``, so they show without colour)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit.core.backends.base import Backend, Capability, Health, Target, TargetEvent
from cockpit.core.config.models import TargetProbe
from cockpit.core.errors import CockpitError, ConfigError
from cockpit.core.sources.health import run_probe
from cockpit.tui.app import CockpitApp
from cockpit.tui.panes.health import HealthPane
from cockpit.tui.panes.targets import TargetsPane
from cockpit.tui.screens.target_detail import TargetDetailScreen, event_lines, event_text
from tests.support import LoopbackHTTP, async_wait_until
from tests.tui_support import PaneHarness, make_context


def alert(name: str, summary: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, **labels}, "annotations": {"summary": summary},
            "state": "firing", "activeAt": "2026-12-05T01:02:03Z", "value": "1e+00"}


class Prometheus(LoopbackHTTP):
    def __init__(self) -> None:
        self.alerts: list[dict] = []
        super().__init__(lambda _path: (200, "application/json", json.dumps(
            {"status": "success", "data": {"alerts": self.alerts}}).encode()))


def keys(pane: HealthPane) -> list[str]:
    return [str(row.key.value) for row in pane.table.ordered_rows]


def cells(pane: HealthPane, key: str) -> list[str]:
    return [cell.plain for cell in pane.table.get_row(key)]


async def test_health_pane_shows_one_row_per_firing_alert(tmp_path: Path) -> None:
    prom = Prometheus()
    prom.alerts = [alert("HighCPU", "CPU above 80%", pod="api-1"),
                   alert("HighCPU", "CPU above 80%", pod="api-2")]
    context = make_context(tmp_path, f"""
        name: t
        health:
          - {{name: alerts, kind: alerts, url: "{prom.url}", interval: 1h}}
    """)
    app = PaneHarness(lambda: HealthPane(context))
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            pane = app.query_one(HealthPane)
            await async_wait_until(lambda: len(keys(pane)) == 3, what="the alert rows")
            assert keys(pane) == ["alerts", "alerts/HighCPU (pod=api-1)",
                                  "alerts/HighCPU (pod=api-2)"]
            assert cells(pane, "alerts")[0] == "✗ FAIL"
            assert cells(pane, "alerts")[4] == "2 alerts firing: HighCPU"
            assert cells(pane, "alerts/HighCPU (pod=api-1)")[1:2] == [
                "  └ HighCPU (pod=api-1)"]
            assert cells(pane, "alerts/HighCPU (pod=api-2)")[4] == "CPU above 80%"
            # the detail of an alert's row: its labels
            await pilot.press("j", "enter")
            await async_wait_until(lambda: list(app._notifications), what="the detail")
            note = list(app._notifications)[-1]
            assert "alertname=HighCPU, pod=api-1" in note.message
            # one resolves, another fires: rows follow, by key
            prom.alerts = [alert("HighCPU", "CPU above 80%", pod="api-2"),
                           alert("DiskFull", "disk \x1b[31mfull\x1b[0m")]
            await pilot.press("ctrl+r")
            await async_wait_until(lambda: keys(pane) == [
                "alerts", "alerts/HighCPU", "alerts/DiskFull"], what="the rows follow")
            assert cells(pane, "alerts/DiskFull")[4] == "disk \\e[31mfull\\e[0m"
            prom.alerts = []
            await pilot.press("ctrl+r")
            await async_wait_until(lambda: keys(pane) == ["alerts"], what="none firing")
            assert cells(pane, "alerts")[0] == "✓ ok" and pane.overall == "ok"
    finally:
        prom.close()


class Labelled(Backend):
    """Targets with labels the backend alone reads (``details``), as kubernetes has."""

    kind = "labelled"
    capabilities = Capability.TARGETS

    async def start(self, spec):  # pragma: no cover - nothing runs here
        raise AssertionError("not used")

    async def list_targets(self) -> list[Target]:
        return [
            Target("ns/pod/opa-1", "opa-1", "pod", "Running", {"app": "opa"},
                   health=Health("ok", "Ready")),
            Target("ns/pod/opa-2", "opa-2", "pod", "CrashLoopBackOff", {"app": "opa"},
                   health=Health("fail", "CrashLoopBackOff")),
            Target("ns/pod/api-1", "api-1", "pod", "Running", {"app": "api"},
                   health=Health("ok", "Ready")),
        ]

    async def select_targets(self, selector: str) -> list[Target]:
        key, _, value = selector.partition("=")
        if not key:
            raise CockpitError(f"invalid selector {selector!r}")
        return [t for t in await self.list_targets() if t.details.get(key) == value]

    async def target_events(self, target_id: str, limit: int = 20) -> list[TargetEvent]:
        return [
            TargetEvent(1_790_000_000.0, target_id, "opa-2", "Scheduled", "assigned to n1"),
            TargetEvent(1_790_000_060.0, target_id, "opa-2", "BackOff",
                        "Back-off restarting failed container \x1b[2J", type="Warning"),
        ]


async def test_a_selector_picks_targets_through_the_backend() -> None:
    probe = TargetProbe(kind="target", name="opa", selector="app=opa")
    rows = await run_probe(probe, backend=Labelled())
    assert [(r.name, r.state) for r in rows] == [
        ("opa", "fail"), ("opa/opa-1", "ok"), ("opa/opa-2", "fail")]
    assert rows[0].reason == "1 of 2 not ok: opa-2"
    none = await run_probe(TargetProbe(kind="target", name="x", selector="app=gone"),
                           backend=Labelled())
    assert [(r.state, r.reason) for r in none] == [("fail", "no targets match app=gone")]
    both = await run_probe(TargetProbe(kind="target", name="b", selector="app=opa",
                                       targets=["api-1"]), backend=Labelled())
    assert [r.name for r in both] == ["b", "b/api-1", "b/opa-1", "b/opa-2"]
    bad = await run_probe(TargetProbe(kind="target", name="b", selector="=x"),
                          backend=Labelled())
    assert [(r.state, r.reason) for r in bad] == [("fail", "invalid selector '=x'")]


def test_a_backend_without_labels_refuses_a_selector_with_its_line(tmp_path: Path) -> None:
    from cockpit.core.config.loader import load_profile

    path = tmp_path / "p.yaml"
    path.write_text("name: p\nhealth:\n  - name: opa\n    kind: target\n"
                    "    selector: app=opa\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert info.value.problems == [
        f"{path}:5: health probe 'opa': the local backend has no label selectors; "
        "name its targets with 'targets:'"]
    path.write_text("name: p\nhealth:\n  - {name: opa, kind: target, selector: ' '}\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert "selector must not be empty" in info.value.problems[0]


def test_warning_events_are_marked_and_coloured() -> None:
    events = [TargetEvent(1.0, "p", "p", "Pulled", "image pulled"),
              TargetEvent(2.0, "p", "p", "BackOff", "restarting", type="Warning")]
    lines = event_lines(events)
    assert lines[0].startswith("! ") and "Warning BackOff  restarting" in lines[0]
    assert lines[1].startswith("  ") and "Pulled" in lines[1]
    text = event_text(events)
    assert text.plain == "\n".join(lines)
    warn = [span for span in text.spans if "yellow" in str(span.style)]
    assert len(warn) == 1 and text.plain[warn[0].start:warn[0].end] == lines[0]
    assert TargetEvent(0.0, "d", "d", "die").is_warning is False  # docker's: Normal


async def test_the_detail_view_highlights_warning_events(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    context = make_context(tmp_path, "name: t\n", backend=Labelled())
    app = CockpitApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TargetsPane)
        await pilot.press("6")
        await async_wait_until(lambda: pane.painted_count == 3, what="listed")
        for _ in range(3):
            if pane.selected_target() is not None and pane.selected_target().name == "opa-2":
                break
            await pilot.press("j")
        await pilot.press("enter")
        await async_wait_until(lambda: isinstance(app.screen, TargetDetailScreen)
                               and app.screen.events is not None, what="the detail")
        shown = app.screen.query_one("#events").render()
        lines = str(shown).splitlines()
        assert lines[0].startswith("! ") and "BackOff" in lines[0]
        assert "\\e[2J" in lines[0] and "\x1b" not in str(shown)  # through the boundary
        assert lines[1].startswith("  ") and "Scheduled" in lines[1]
        title = str(app.screen.query_one("#events-title").render())
        assert "! 1 warning" in title


class Streaming(Backend):
    """Targets of a namespace and a log stream per target that stays open."""

    kind = "streaming"
    capabilities = Capability.TARGETS | Capability.LOGS | Capability.LOGS_SINCE

    def __init__(self) -> None:
        super().__init__({})
        self.namespace = "a"
        self.open: set[str] = set()

    async def start(self, spec):  # pragma: no cover - nothing runs here
        raise AssertionError("not used")

    async def list_targets(self) -> list[Target]:
        return [Target(f"{self.namespace}/pod/web", "web", "pod", "running",
                       health=Health("ok"))]

    async def logs(self, query):
        import asyncio

        from cockpit.core.backends.logs import LogRecord

        target = query.targets[0]
        self.open.add(target)
        try:
            yield [LogRecord(1.0, f"hello from {target}", "web", logged=True)]
            await asyncio.Event().wait()
        finally:
            self.open.discard(target)


async def test_target_logs_follow_a_switched_namespace() -> None:
    import asyncio
    import contextlib

    from cockpit.core.config.models import TargetLogSource
    from cockpit.core.sources.target_logs import TargetFollower

    backend = Streaming()
    follower = TargetFollower(TargetLogSource(kind="target", name="web"), backend,
                              poll_interval=0.05)
    seen: list[str] = []

    async def read() -> None:
        async for batch in follower.batches():
            seen.extend(str(line) for line in batch)

    task = asyncio.ensure_future(read())
    try:
        await async_wait_until(lambda: "hello from a/pod/web" in seen, what="namespace a")
        assert backend.open == {"a/pod/web"}
        backend.namespace = "b"
        await follower.restart()
        await async_wait_until(lambda: "hello from b/pod/web" in seen, what="namespace b")
        assert backend.open == {"b/pod/web"}  # the old stream was closed
    finally:
        await follower.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
