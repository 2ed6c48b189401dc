"""Audit pane: follow a techno-os audit log, filter, count, open records, operator trail."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from cockpit.core.audit.query import parse_record
from cockpit.core.audit.trail import AuditTrail
from cockpit.tui.panes.audit import AuditPane
from cockpit.tui.panes.audit_rows import compact_timestamp
from cockpit.tui.screens.counts import CountsScreen
from cockpit.tui.screens.record import RecordScreen
from cockpit.tui.settings import UserSettings
from tests.support import async_wait_until
from tests.tui_support import PaneHarness, make_context

COLUMNS = ["ts_utc", "event_type", "decision", "reason_codes", "executor_id", "status",
           "trace_id"]
DENY_REASONS = [["G10_RATE_LIMIT_EXCEEDED"], ["G5_session_expired"], ["G2_INVALID_API_KEY"],
                ["G10_RATE_LIMIT_EXCEEDED", "G5_session_expired"]]
MALFORMED = [
    b'{"ts_utc": "2026-11-22T07:45:45.1+00:00", "event_type": "decision_au',  # truncated
    b"INFO audit sink restarted",  # not JSON
    b'\xff\xfe{"event_type": "decision_audit"}',  # not UTF-8
]


def techno_records(n: int, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    """decision_audit / action_audit records as the techno-os backend writes them."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        ts = f"2026-11-22T07:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}+00:00"
        trace = f"trace-{i:05d}-{rng.randrange(16**8):08x}"
        common = {"ts_utc": ts, "profile_hash": "9f2c" * 16, "trace_id": trace,
                  "api_key_hash": "ab12" * 16, "action": "summarize",
                  "request_event_type": "test_event", "client_id": f"client-{i % 4}",
                  "latency_ms": round(rng.uniform(1, 90), 2)}
        if rng.random() < 0.55:
            deny = rng.random() < 0.4
            out.append({**common, "event_type": "decision_audit",
                        "decision": "DENY" if deny else "ALLOW",
                        "reason_codes": rng.choice(DENY_REASONS) if deny else [],
                        "executor_id": None, "status": None})
        else:
            status = rng.choice(["SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "TIMEOUT"])
            out.append({**common, "event_type": "action_audit", "decision": "ALLOW",
                        "reason_codes": ["EXECUTOR_TIMEOUT"] if status == "TIMEOUT" else [],
                        "executor_id": rng.choice(["llm_executor", "noop_executor"]),
                        "status": status})
    return out


def write_lines(path: Path, records: list[dict[str, Any]], extra: list[bytes] = (),
                mode: str = "wb") -> None:
    with path.open(mode) as fh:
        for rec in records:
            fh.write(orjson.dumps(rec) + b"\n")
        for raw in extra:
            fh.write(raw + b"\n")


def audit_profile(log: Path, backlog: int = 1000) -> str:
    return f"""
        name: techno
        audit:
          path: {log}
          columns: [{", ".join(COLUMNS)}]
          backlog: {backlog}
        """


def test_timestamps_are_shown_compact_in_utc_only():
    assert compact_timestamp("2026-11-22T07:45:45.123456+00:00") == "11-22 07:45:45.123"
    assert compact_timestamp("2026-11-22T07:45:45Z") == "11-22 07:45:45"
    assert compact_timestamp("2026-11-22T07:45:45.1") == "11-22 07:45:45.100"
    assert compact_timestamp("2026-11-22T07:45:45+02:00") == "2026-11-22T07:45:45+02:00"
    assert compact_timestamp("20261122") == "20261122"


def cells(pane: AuditPane, row: int) -> list[str]:
    return [cell.plain for cell in pane.table().get_row_at(row)]


async def type_filter(pilot, pane: AuditPane, text: str, *, typed: bool = False) -> None:
    """``/``, the expression (typed key by key, or pasted), Enter."""
    await pilot.press("slash")
    box = pane.query_one("#audit-filter")
    assert box.has_focus
    box.value = "" if typed else text
    if typed:
        await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()
    await async_wait_until(lambda: (pane.search is None or not pane.search.running)
                           and not pane._filling, what="the whole-file search")
    await pilot.pause()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "audit.log"


async def test_follow_filter_and_status(tmp_path, log):
    records = techno_records(120)
    write_lines(log, records[:60], MALFORMED[:2])
    write_lines(log, records[60:100], MALFORMED[2:], mode="ab")
    context = make_context(tmp_path, audit_profile(log))
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(180, 40)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 103, what="backlog")
        assert pane.view == "system"
        assert [str(c.label) for c in pane.table().ordered_columns] == COLUMNS
        assert pane.malformed_count == 3 and pane.row_count == 103
        first = records[0]
        assert cells(pane, 0) == [compact_timestamp(first["ts_utc"]), first["event_type"], first["decision"],
                                  ",".join(first["reason_codes"]), "", "", first["trace_id"]]
        bad = [cells(pane, i) for i in range(pane.row_count) if cells(pane, i)[0] == "!! malformed"]
        assert len(bad) == 3
        assert [row[-1] for row in bad] == [
            MALFORMED[0].decode()[:47] + "…", "INFO audit sink restarted",
            '\ufffd\ufffd{"event_type": "decision_audit"}']
        assert "3 malformed" in pane.border_subtitle and "following" in pane.border_subtitle

        # appended lines arrive at the bottom, the cursor follows them
        write_lines(log, records[100:110], mode="ab")
        await async_wait_until(lambda: pane.total_count == 113, what="appended lines")
        await pilot.pause()
        assert cells(pane, pane.row_count - 1)[-1] == records[109]["trace_id"]
        assert pane.table().cursor_row == pane.row_count - 1 and pane.following

        # the operator's queries of the runbook (Part 3), against a Python reference
        loaded = records[:110]
        await type_filter(pilot, pane, "decision=DENY", typed=True)
        deny = [r for r in loaded if r["decision"] == "DENY"]
        assert pane.filter_text == "decision=DENY"
        assert pane.row_count == len(deny) > 0
        assert {cells(pane, i)[2] for i in range(pane.row_count)} == {"DENY"}
        assert f"filter decision=DENY: {len(deny)} in the whole file" in pane.border_subtitle

        await type_filter(pilot, pane, "reason_codes=G10_RATE_LIMIT_EXCEEDED")
        rate = [r for r in loaded if "G10_RATE_LIMIT_EXCEEDED" in r["reason_codes"]]
        assert pane.row_count == len(rate) > 0

        trace = records[42]["trace_id"]
        await type_filter(pilot, pane, f"trace_id={trace}")
        assert pane.row_count == 1 and cells(pane, 0)[-1] == trace

        await type_filter(pilot, pane, "event_type=action_audit status!=SUCCESS")
        failed = [r for r in loaded if r["event_type"] == "action_audit"
                  and r["status"] != "SUCCESS"]
        assert pane.row_count == len(failed) > 0
        assert {cells(pane, i)[5] for i in range(pane.row_count)} <= {"FAILED", "TIMEOUT"}

        # brackets in a filter are text, not markup, in the status
        await type_filter(pilot, pane, "trace_id~^trace-0004[0-4]")
        assert pane.row_count == 5 and pane.filter_text == "trace_id~^trace-0004[0-4]"
        assert "trace-0004" in pane.border_subtitle

        await type_filter(pilot, pane, "event_type=action_audit status!=SUCCESS")
        # new lines are filtered as they arrive
        write_lines(log, records[110:120], mode="ab")
        await async_wait_until(lambda: pane.total_count == 123, what="more lines")
        failed = [r for r in records if r["event_type"] == "action_audit"
                  and r["status"] != "SUCCESS"]
        assert pane.row_count == len(failed)

        # a bad expression: its error in the status, the filter in force unchanged
        await type_filter(pilot, pane, "x~(")
        assert "invalid regex" in pane.border_subtitle and "x~(" in pane.border_subtitle
        assert pane.filter_text == "event_type=action_audit status!=SUCCESS"
        assert pane.query_one("#audit-filter").display

        await pilot.press("escape")
        await pilot.pause()
        assert pane.filter_text == "" and pane.row_count == pane.total_count == 123
        assert "invalid regex" not in pane.border_subtitle
        assert not pane.query_one("#audit-filter").display
        assert pane.table().has_focus


async def test_cursor_moved_up_stops_following(tmp_path, log):
    records = techno_records(40)
    write_lines(log, records[:30])
    context = make_context(tmp_path, audit_profile(log))
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 30, what="backlog")
        pane.focus_pane()
        await pilot.press("k", "k")
        await pilot.pause()
        assert pane.table().cursor_row == 27 and not pane.following
        assert "paused" in pane.border_subtitle
        write_lines(log, records[30:], mode="ab")
        await async_wait_until(lambda: pane.total_count == 40, what="appended lines")
        await pilot.pause()
        assert pane.table().cursor_row == 27
        await pilot.press("g")
        assert pane.table().cursor_row == 0
        await pilot.press("j")
        assert pane.table().cursor_row == 1
        await pilot.press("G")
        await pilot.pause()
        assert pane.table().cursor_row == 39 and pane.following
        assert "following" in pane.border_subtitle


async def test_counts_match_reference(tmp_path, log):
    records = techno_records(200, seed=3)
    write_lines(log, records, MALFORMED)
    context = make_context(tmp_path, audit_profile(log))
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 203, what="backlog")
        pane.focus_pane()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CountsScreen)

        def reference(field: str, recs=records) -> Counter[str]:
            out: Counter[str] = Counter()
            for rec in recs:
                value = rec.get(field)
                for item in value if isinstance(value, list) else [value]:
                    out["null" if item is None else str(item)] += 1
            return out

        assert screen.field == "event_type"
        assert dict((v, n) for v, n, _ in screen.rows()) == reference("event_type")
        counts = [n for _, n, _ in screen.rows()]
        assert counts == sorted(counts, reverse=True)
        assert "last 203 records" in str(screen.query_one("#counts-note").render())
        await pilot.press("c")
        assert screen.field == "decision"
        assert dict((v, n) for v, n, _ in screen.rows()) == reference("decision")
        _, n, percent = screen.rows()[0]
        assert percent == f"{100 * n / len(records):.1f}%"
        await pilot.press("c")
        assert screen.field == "reason_codes"  # arrays: each element counted
        assert dict((v, n) for v, n, _ in screen.rows()) == reference("reason_codes")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CountsScreen)

        # counts follow the filter; "w" counts the whole file with the core in a thread
        await type_filter(pilot, pane, "decision=DENY")
        await pilot.press("c", "c", "c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CountsScreen) and screen.field == "reason_codes"
        deny = [r for r in records if r["decision"] == "DENY"]
        assert dict((v, n) for v, n, _ in screen.rows()) == reference("reason_codes", deny)
        assert screen.result is not None and screen.result.matched == len(deny)
        write_lines(log, techno_records(50, seed=9, start=500), mode="ab")
        more = deny + [r for r in techno_records(50, seed=9, start=500)
                       if r["decision"] == "DENY"]
        await pilot.press("w")
        await async_wait_until(lambda: screen.whole_file, what="whole-file counts")
        assert dict((v, n) for v, n, _ in screen.rows()) == reference("reason_codes", more)
        assert "whole file" in screen.result.scope
        await pilot.press("q")


async def test_enter_opens_record_as_json(tmp_path, log):
    records = techno_records(20)
    write_lines(log, records[:10], MALFORMED[:1])
    context = make_context(tmp_path, audit_profile(log))
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 11, what="backlog")
        pane.focus_pane()
        await pilot.press("g", "j", "j", "j", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        assert json.loads(screen.text) == records[3]
        assert records[3]["trace_id"] in screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RecordScreen)
        await pilot.press("G", "enter")  # the malformed last line: raw text and why
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        assert "truncated JSON" in screen.text and '"event_type": "decision_au' in screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_values_are_redacted_and_inert(tmp_path):
    context = make_context(tmp_path, audit_profile(tmp_path / "none.log"), live=False)
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(200, 20)) as pilot:
        pane = app.query_one(AuditPane)
        record = {"ts_utc": "2026-11-22T07:00:00Z", "event_type": "[bold red]fake[/]",
                  "decision": "DENY", "reason_codes": ["A", "B"],
                  "executor_id": "Authorization: Bearer abcdef0123456789xyz",
                  "status": "x" * 300, "trace_id": "t-\x1b]0;pwned\x07-\x1b[31mred"}
        pane.add_records([parse_record(orjson.dumps(record))])
        await pilot.pause()
        row = cells(pane, 0)
        assert row[1] == "[bold red]fake[/]"  # shown as text, never as markup
        assert row[3] == "A,B"
        assert "abcdef0123456789xyz" not in row[4] and "***" in row[4]
        assert len(row[5]) <= 48 and row[5].endswith("…")
        assert "\x1b" not in row[6] and "\x07" not in row[6]
        pane.focus_pane()
        await pilot.press("enter")
        await pilot.pause()
        assert "abcdef0123456789xyz" not in app.screen.text
        assert "\x1b" not in app.screen.text


async def test_operator_trail_view_and_tampering(tmp_path, log):
    write_lines(log, techno_records(5))
    context = make_context(tmp_path, audit_profile(log))
    trail = AuditTrail(context.trail_path)
    for i, (action, status) in enumerate([("restart-api", "ok"), ("smoke-test", "failed"),
                                          ("check-env", "ok")]):
        trail.append({"operator": "tester@host", "action": action, "status": status,
                      "decision": "ALLOW", "reason_codes": [], "exit_code": 0 if status == "ok" else 1,
                      "duration_ms": 12.5 + i, "trace_id": f"op-trace-{i}"})
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(180, 30)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 5, what="backlog")
        pane.focus_pane()
        await pilot.press("a")
        assert pane.view == "operator"
        await async_wait_until(lambda: pane.row_count == 3 and "intact" in pane.trail_status,
                               what="trail loaded")
        assert pane.trail_status == "trail: 3 records intact ✓"
        assert "trail: 3 records intact ✓" in pane.border_subtitle
        assert "operator trail" in pane.border_title
        assert [str(c.label) for c in pane.table().ordered_columns] == [
            "ts", "operator", "action", "status", "decision", "reason_codes", "exit_code",
            "duration_ms", "trace_id"]
        assert cells(pane, 1)[1:4] == ["tester@host", "smoke-test", "failed"]
        assert cells(pane, 1)[6:] == ["1", "13.5", "op-trace-1"]

        # a new record (the app also calls refresh_operator_trail after a run)
        trail.append({"operator": "tester@host", "action": "tail-audit", "status": "ok",
                      "decision": "ALLOW", "reason_codes": [], "trace_id": "op-trace-3"})
        pane.refresh_operator_trail()
        await async_wait_until(lambda: pane.row_count == 4, what="new trail record")
        assert pane.trail_status == "trail: 4 records intact ✓"

        # the filter applies to this view too, and only to it
        await type_filter(pilot, pane, "status=failed")
        assert pane.row_count == 1 and cells(pane, 0)[2] == "smoke-test"
        await pilot.press("a")
        assert pane.view == "system" and pane.row_count == 5 and pane.filter_text == ""
        await pilot.press("a")
        assert pane.filter_text == "status=failed" and pane.row_count == 1
        await pilot.press("escape")
        assert pane.row_count == 4

        # tampering with the middle line is noticed by the poll (no explicit refresh)
        lines = context.trail_path.read_bytes().splitlines(keepends=True)
        rec = orjson.loads(lines[1])
        rec["status"] = "ok"
        lines[1] = orjson.dumps(rec) + b"\n"
        context.trail_path.write_bytes(b"".join(lines))
        await async_wait_until(lambda: "✗" in pane.trail_status, what="verification failure")
        assert pane.trail_status.startswith("trail: line 2: hash does not match")
        assert "line 2: hash does not match" in pane.border_subtitle
        assert cells(pane, 1)[3] == "ok"

        await pilot.press("a")
        assert pane.view == "system" and pane.row_count == 5


async def test_profile_without_audit_offers_operator_view(tmp_path):
    context = make_context(tmp_path, "name: bare\n")
    AuditTrail(context.trail_path).append({"operator": "me", "action": "x", "status": "ok"})
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(120, 20)) as pilot:
        pane = app.query_one(AuditPane)
        assert pane.view == "operator"
        assert "no audit log" in str(pane.query_one("#audit-note").render())
        await async_wait_until(lambda: pane.row_count == 1, what="trail loaded")
        pane.focus_pane()
        await pilot.press("a")
        assert pane.view == "operator"


async def test_bounded_buffer_drops_oldest(tmp_path, log):
    records = techno_records(500)
    write_lines(log, records)
    settings = UserSettings(audit_buffer_records=100)
    context = make_context(tmp_path, audit_profile(log), settings=settings)
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 30)):
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.dropped_count == 400, what="drops")
        assert pane.total_count == pane.row_count == 100
        assert cells(pane, 0)[-1] == records[400]["trace_id"]
        assert "100 records" in pane.border_subtitle
        assert "400 dropped" in pane.border_subtitle


@pytest.mark.parametrize("internals", ["fast", "public"])
async def test_drops_across_batches_keep_rows_and_cursor(tmp_path, monkeypatch, internals):
    if internals == "public":  # as if Textual's DataTable internals had changed
        monkeypatch.setattr("cockpit.tui.panes.audit_rows._INTERNALS", ("_no_such_thing",))
    settings = UserSettings(audit_buffer_records=100)
    context = make_context(tmp_path, audit_profile(tmp_path / "none.log"), live=False,
                           settings=settings)
    records = [parse_record(orjson.dumps(r)) for r in techno_records(260)]
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(AuditPane)
        pane.add_records(records[:60])
        pane.add_records(records[60:120])
        await pilot.pause()
        assert pane.dropped_count == 20 and pane.row_count == 100
        assert [cells(pane, i)[-1] for i in (0, 99)] == [
            records[20].data["trace_id"], records[119].data["trace_id"]]
        assert pane.table().cursor_row == 99
        pane.focus_pane()
        pane.table().move_cursor(row=49)
        await pilot.press("j")  # on records[70], away from the bottom
        pane.add_records(records[120:150])
        await pilot.pause()
        assert pane.selected_record() is records[70]
        await pane.run_action("bottom")
        pane.apply_filter("decision=DENY")
        pane.add_records(records[150:260])
        await pilot.pause()
        window = [r.data for r in records[160:260]]
        deny = [r for r in window if r["decision"] == "DENY"]
        assert pane.total_count == 100 and pane.dropped_count == 160
        assert pane.row_count == len(deny)
        assert [cells(pane, i)[-1] for i in range(pane.row_count)] == [r["trace_id"] for r in deny]
        assert pane.selected_record().data is deny[-1]


async def test_small_terminal_does_not_crash(tmp_path, log):
    write_lines(log, techno_records(30), MALFORMED)
    context = make_context(tmp_path, audit_profile(log))
    AuditTrail(context.trail_path).append({"operator": "me", "action": "x", "status": "ok"})
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 33, what="backlog")
        pane.focus_pane()
        await pilot.press("k", "j", "g", "G", "enter")
        await pilot.pause()
        await pilot.press("escape", "slash", *"decision=DENY", "enter", "c", "c", "w")
        await pilot.pause()
        await pilot.press("escape", "slash", *"x~(", "enter", "escape", "a")
        await async_wait_until(lambda: "intact" in pane.trail_status, what="trail")
        await pilot.press("enter", "escape", "c", "escape", "a")
        await pilot.pause()
        assert pane.view == "system"


async def test_new_rows_repaint_the_table_not_the_screen(tmp_path):
    """A new row changes the table's virtual size: no screen layout (which would
    repaint every scrollbar on screen); following, the new row is shown at once."""
    context = make_context(tmp_path, audit_profile(tmp_path / "none.log"), live=False)
    records = [parse_record(orjson.dumps(r)) for r in techno_records(40)]
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 20)) as pilot:
        pane = app.query_one(AuditPane)
        pane.add_records(records[:30])
        await pilot.pause()
        layouts = []
        screen = app.screen
        refresh_layout = screen._refresh_layout
        screen._refresh_layout = lambda *a, **k: (layouts.append(a), refresh_layout(*a, **k))
        for record in records[30:]:
            pane.add_records([record])
            table = pane.table()
            assert table.virtual_size.height == table.row_count + 1  # measured: header too
            assert table.scroll_y == table.max_scroll_y  # scrolled in the same frame
            await pilot.pause()
        assert layouts == []
        assert table.vertical_scrollbar.window_virtual_size == 41
        assert cells(pane, 39)[-1] == records[39].data["trace_id"]
        assert "40 records" in pane.border_subtitle


def test_trail_status_reports_records_deleted_from_the_end(tmp_path, monkeypatch):
    """The Audit pane checks the trail as `cockpit audit verify` does: deleting the last
    records leaves a valid chain, but the writer's head and the seals say it was cut."""
    from cockpit.tui.panes.audit_rows import load_trail

    monkeypatch.setenv("COCKPIT_AUDIT_WITNESS", "none")
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path, redact=False)
    for n in range(5):
        trail.append({"action": f"a{n}", "outcome": "succeeded"})
    assert load_trail(path, 100).ok is True
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))
    snapshot = load_trail(path, 100)
    assert snapshot.ok is False and "✗" in snapshot.status


@pytest.mark.parametrize("fill_slice", [400, 7], ids=["at-once", "sliced"])
async def test_a_filter_is_answered_from_the_whole_file(tmp_path, log, monkeypatch, fill_slice):
    """Records long out of the buffer are found (an old trace id), the whole result is
    counted, the last matches fill the buffer (the last first, then the rest above them a
    slice at a time when there are many), and later matching records join them."""
    monkeypatch.setattr("cockpit.tui.panes.audit.FILL_SLICE", fill_slice)
    monkeypatch.setattr("cockpit.tui.panes.audit.FIRST_ROWS", fill_slice)  # the end first
    records = techno_records(3000)
    write_lines(log, records)
    settings = UserSettings(audit_buffer_records=100)
    context = make_context(tmp_path, audit_profile(log, backlog=100), settings=settings)
    app = PaneHarness(lambda: AuditPane(context))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(AuditPane)
        await async_wait_until(lambda: pane.total_count == 100, what="the backlog")
        pane.focus_pane()
        old = records[7]["trace_id"]
        await type_filter(pilot, pane, f"trace_id={old}")
        assert pane.row_count == 1 and cells(pane, 0)[-1] == old
        assert f"filter trace_id={old}: 1 in the whole file" in pane.border_subtitle

        await type_filter(pilot, pane, "decision=DENY")
        deny = [r for r in records if r["decision"] == "DENY"]
        assert pane.search is not None and pane.search.matched == len(deny) > 100
        assert pane.row_count == 100
        assert [cells(pane, i)[-1] for i in range(100)] == [r["trace_id"] for r in deny[-100:]]
        assert f"{len(deny):,} in the whole file" in pane.border_subtitle
        record = pane.search.entries[0].record
        assert record.line == records.index(deny[-100]) + 1  # its line in the file

        # a matching record appended later joins the answer; the oldest row leaves
        extra = techno_records(1, seed=99, start=5000)[0]
        extra.update(decision="DENY", event_type="decision_audit", reason_codes=["X"])
        write_lines(log, [extra], mode="ab")
        await async_wait_until(lambda: cells(pane, pane.row_count - 1)[-1] == extra["trace_id"],
                               what="the appended DENY")
        assert pane.row_count == 100 and pane.search.matched == len(deny) + 1
        assert cells(pane, 0)[-1] == deny[-99]["trace_id"]

        # cleared: the loaded records again
        pane.action_clear_filter()
        await pilot.pause()
        assert pane.search is None and pane.row_count == 100
        assert cells(pane, 99)[-1] == extra["trace_id"]
