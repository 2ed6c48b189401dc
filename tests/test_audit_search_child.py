"""The Audit pane's whole-file search (``python -m cockpit.core.audit.tail``, read by
``core.audit.search.search_file``): the records and their count come first, their line
numbers after them; both are what a plain scan gives, in every path the search takes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.audit import literal_scan, query, search, tail
from cockpit.core.audit.query import RecordFilter, scan_file
from tests.test_audit_query import techno_records
from tests.test_audit_tail_fast import HOSTILE_LINES, QUERIES, _file


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return _file(tmp_path, techno_records(4000), HOSTILE_LINES)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


@pytest.mark.parametrize("forked", [False, True], ids=["in-process", "forked"])
def test_line_numbers_are_the_lines_at_the_offsets(audit: Path, monkeypatch, forked) -> None:
    monkeypatch.setattr(query, "BLOCK", 4096)
    monkeypatch.setattr(tail, "BLOCK", 4096)
    if forked:
        monkeypatch.setattr(query, "PARALLEL_MIN", 1)
        monkeypatch.setattr(query, "_workers", lambda: 3)
        monkeypatch.setattr(query, "_threads", lambda: 1)
    data = audit.read_bytes()
    starts = [0] + [i + 1 for i, b in enumerate(data[:-1]) if b == 10]
    for picked in ([0], starts[-1:], starts[::97], starts[1000:1003], starts):
        assert tail.line_numbers(audit, picked) == [starts.index(o) + 1 for o in picked]
    assert tail.line_numbers(audit, []) == []


def _answer(out: bytes) -> tuple[list[bytes], list[bytes], int, list[int] | None]:
    """(the numbers given with the records, their raw lines, matched, the lines after)."""
    given, raws, matched, numbers = [], [], -1, None
    for line in out.split(b"\n")[:-1]:
        number, tab, raw = line.partition(b"\t")
        if tab:
            assert matched == -1, "a record after the count"
            given.append(number)
            raws.append(raw)
        elif line.startswith(b"matched: "):
            matched = int(line[9:])
        else:
            assert line.startswith(b"lines: ") and matched >= 0
            numbers = [int(n) for n in line[7:].split()]
    return given, raws, matched, numbers


@pytest.mark.parametrize("exprs", QUERIES, ids=lambda e: ",".join(e) or "all")
@pytest.mark.parametrize("path_kind", ["small", "backward", "kept", "literal", "streamed"])
def test_the_search_process_answers_then_numbers(audit: Path, monkeypatch, capsysbinary,
                                                 exprs, path_kind) -> None:
    """Records as a scan's tail gives them, the whole file's count, then each record's
    line number: at once for a small file or a streamed answer, after the count for a big
    file's kept tail (found by the literal scan's children where the filter has a
    literal: "literal")."""
    monkeypatch.setattr(tail, "NICE", 0)  # main() runs in the test's own process here
    if path_kind != "small":
        monkeypatch.setattr(tail, "BACKWARD_MAX", 4096)
        monkeypatch.setattr(query, "BLOCK", 4096)
        monkeypatch.setattr(tail, "BLOCK", 4096)
    if path_kind == "streamed":
        monkeypatch.setattr(tail, "KEEP_MAX", 3)
    answered: list[bool] = []
    if path_kind == "literal":  # (a big file's size, for this small one; forks allowed)
        monkeypatch.setattr(literal_scan, "MIN_SIZE", 0)
        monkeypatch.setattr(literal_scan, "_workers", lambda: 3)
        monkeypatch.setattr(query, "_threads", lambda: 1)
        monkeypatch.setattr(tail, "_threads", lambda: 1)
        real = tail._literal_tail

        def spy(*args: Any) -> Any:
            got = real(*args)
            answered.append(got is not None)
            return got

        monkeypatch.setattr(tail, "_literal_tail", spy)
    lines = _lines(audit)
    for n in (1, 40, 5000):
        if path_kind == "backward" and n > 40:
            continue
        want = scan_file(audit, exprs, tail=n).records
        assert tail.main([str(audit), str(n), *exprs]) == 0
        given, raws, matched, numbers = _answer(capsysbinary.readouterr().out)
        assert raws == [r.raw.encode() for r in want]
        assert matched == scan_file(audit, exprs, count_only=True).matched
        if path_kind != "small" and n <= tail.KEEP_MAX:  # the kept tail: numbered after
            assert given == [b""] * len(want) and numbers is not None
        else:
            assert numbers is None
            numbers = [int(g) for g in given]
        assert [lines[k - 1] for k in numbers] == raws
    pre = RecordFilter(exprs).prefilter()
    if path_kind == "literal" and pre is not None and literal_scan.search_key(
            pre.literal or b"", pre.ignore_case) is not None:  # the children answered
        assert answered and all(answered)


def test_search_file_returns_the_answer_then_numbers_it(tmp_path: Path) -> None:
    """A file bigger than the search reads backwards (the kept tail, unnumbered first):
    the answer and the count, then the same records with their line numbers."""
    records = techno_records(4000)
    reps = tail.BACKWARD_MAX // len(_file(tmp_path, records).read_bytes()) + 2
    path = _file(tmp_path, records * reps, HOSTILE_LINES)
    exprs = ["decision=DENY", "reason_codes!="]
    want = scan_file(path, exprs, tail=300).records

    async def run() -> tuple[Any, list[int | None], list[int | None]]:
        result = await search.search_file(path, exprs, 300)
        before = [r.line for r in result.records]
        await result.numbered()
        return result, before, [r.line for r in result.records]

    result, before, after = asyncio.run(run())
    assert result.error is None
    assert [r.raw for r in result.records] == [r.raw for r in want]
    assert result.matched == scan_file(path, exprs, count_only=True).matched
    assert set(before) == {None} or before == after  # the numbers may have come at once
    lines = path.read_text().splitlines()
    assert [lines[k - 1] for k in after] == [r.raw for r in want]  # type: ignore[index]
    assert not result.counting


def test_a_failed_search_says_why(tmp_path: Path) -> None:
    async def run(path: Path, exprs: list[str]) -> Any:
        result = await search.search_file(path, exprs, 10)
        await result.numbered()
        return result

    gone = asyncio.run(run(tmp_path / "missing.log", ["decision=DENY"]))
    assert gone.error is not None and "missing.log" in gone.error and gone.matched is None
    audit = _file(tmp_path, techno_records(20))
    bad = asyncio.run(run(audit, ["=DENY"]))
    assert bad.error is not None and "missing field name" in bad.error


@pytest.mark.parametrize("numbered", [True, False])
def test_the_kept_tail_read_last_block_first_keeps_long_lines_whole(
        tmp_path: Path, monkeypatch, numbered) -> None:
    """The kept tail reads each range's blocks from its end: a line longer than a block,
    a last line without a newline, the matches' order and numbers as a scan gives them."""
    monkeypatch.setattr(query, "BLOCK", 512)
    monkeypatch.setattr(tail, "BLOCK", 512)
    records = techno_records(600)
    for i in (5, 300, 598):
        records[i]["note"] = "x" * 3000  # over five blocks
        records[i]["decision"] = "DENY"
    path = _file(tmp_path, records, HOSTILE_LINES)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    for exprs in QUERIES:
        for n in (1, 3, 50, 5000):
            want = scan_file(path, exprs, tail=n).records
            got = tail._keep_last(path, query.RecordFilter(exprs), n, numbered, offsets=True)
            assert [r.raw for r in got.records] == [r.raw for r in want], (exprs, n)
            assert got.matched == scan_file(path, exprs, count_only=True).matched
            lines = [r.line for r in scan_file(path, exprs).records[-n:]]
            assert tail.line_numbers(path, got.offsets or []) == lines
            assert [r.line for r in got.records] == (lines if numbered else [None] * len(lines))


def test_the_answer_parses_each_record_when_asked_and_numbers_them_all() -> None:
    """Records asked for before the numbers came get them; those asked for after too."""
    lines = [b'\t{"n": %d}' % i for i in range(6)] + [b"7\tnot json"]
    answer = search.Answer(lines)
    assert len(answer) == 7 and answer[-1].malformed and answer[-1].line == 7
    early = answer[4]
    assert early.data == {"n": 4} and early.line is None and answer[4] is early
    answer.number([10, 11, 12, 13, 14, 15, 16])
    assert early.line == 14
    assert [r.line for r in answer] == [10, 11, 12, 13, 14, 15, 16]
    assert [r.data for r in answer[1:3]] == [{"n": 1}, {"n": 2}]


def test_a_spare_process_answers_as_a_fresh_one(tmp_path: Path) -> None:
    """Started ahead, the search process answers the query sent later as one started
    with it; a spare that is gone is replaced by one; one not used is ended."""
    path = _file(tmp_path, techno_records(500), HOSTILE_LINES)
    exprs = ["decision=DENY", "reason_codes!="]

    async def run() -> list[tuple[list[str], int | None, str | None]]:
        got = []
        for how in ("fresh", "spare", "gone"):
            spare = await search.start_spare() if how != "fresh" else None
            if how == "gone":
                assert spare is not None
                spare.kill()
                await spare.wait()
            result = await search.search_file(path, exprs, 40, spare=spare)
            await result.numbered()
            got.append(([f"{r.line}:{r.raw}" for r in result.records], result.matched,
                        result.error))
        idle = await search.start_spare()
        await search.stop_spare(idle)
        assert idle.returncode is not None
        return got

    fresh, spare, gone = asyncio.run(run())
    assert fresh[2] is None and fresh[1] == scan_file(path, exprs, count_only=True).matched
    assert len(fresh[0]) == 40
    assert spare == fresh and gone == fresh
