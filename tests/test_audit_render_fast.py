"""The fast paths of ``cockpit audit tail``'s printing give, byte for byte, what the slow
path gives: ``raw_lines_to_rewrite`` (bytes, a block at a time) picks the lines
``lines_to_rewrite`` picks line by line; ``write_tail`` (forked workers rendering ranges
into temporary files) prints what rendering each record on its own prints; and every
line printed as read is what the boundary makes of it (secrets hidden, escapes visible,
lengths bounded)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from cockpit.cli.audit_cmd import _record_text, _Render, _Summaries, summarize
from cockpit.core.audit import query, tail
from cockpit.core.audit.query import parse_record, scan_file
from cockpit.core.audit.tail import TailSummary, write_tail
from cockpit.core.boundary import Boundary
from cockpit.core.redact import Redactor
from cockpit.core.redact_json import lines_to_rewrite, raw_lines_to_rewrite
from tests import hostile
from tests.test_audit_query import techno_records
from tests.test_secret_formats import TOKENS

PLANTED = [*TOKENS, *hostile.SECRETS, *hostile.ESCAPES, *hostile.LINES[:-1],
           "G2_INVALID_API_KEY", "Bearer abc.def.ghi", "https://u:pw@host/x",
           "mysql -u root -phunter2", "curl -u me:secret https://x", "pw=abc123",
           "--password hunter2", "Authorization: Basic dXNlcjpwYXNz", "plain words",
           "x-goog-signature=abcdef123456", "machine h login u password p",
           "deadbeef-4b1d-0000-aaaa-0123456789ab", "caf\u00e9 \u202e fin", "naïve",
           "sk-" + "a1" * 20, "2025-12-23T10:00:00Z", "2025-12-23T10:00:00.123456+00:00"]


def _variants(s: str) -> list[bytes]:
    """Records holding ``s`` in different places and spellings."""
    compact: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": False}
    return [
        json.dumps({"msg": s}, **compact).encode(),
        json.dumps({"a": 1, "list": ["ok", s], "n": {"deep": s}}).encode(),
        json.dumps({"decision": "DENY", "k": s, "api_key": "x"}, **compact).encode(),
        json.dumps({s[:30]: "value", "token_count": 3}, **compact).encode(),
        json.dumps({"nested": {"decision": "DENY", "reason_codes": [s]}}).encode(),
        json.dumps({"decision": "ALLOW", "trace_id": s}, ensure_ascii=True).encode(),
    ]


def corpus() -> list[bytes]:
    """JSON lines with planted secrets in every kind of place, escapes, non-ASCII, long
    lines, nested keys of the same name, and whitespace variants."""
    lines = [v for s in PLANTED for v in _variants(s)]
    lines += [orjson.dumps(r) for r in techno_records(300)]
    lines += [
        b'{"decision": "DENY", "reason_codes": ["G2_INVALID_API_KEY"], "password": "p4ss"}',
        b'{"decision" : "DENY" , "api_key"  :  "hunter2-Sup3rSecret"}',
        b'{"api_key"   :"abcdefgh12345678"}',
        b'{"token":null,"secret":"","password":true}',
        b'{"n":-12345678901234567890,"f":0.12345678901234567890}',
        b'{"n":1E+5,"t":true,"f":false,"z":null}',
        b'{"tab":"a\\tb","nl":"a\\nb","q":"say \\"hi\\""}',
        b'{"x":"' + b"y" * 70_000 + b'"}',
        b'{"k":"' + "\u00e9".encode() * 40_000 + b'"}',
        b'{"esc":"\\u001b]52;c;ZWNobyBwd25lZA==\\u0007"}',
        b'{"raw_esc":"\x7f"}',
        b'{"hex":"0123456789abcdef0123456789abcdef","id":"4b1d4b1d-0000"}',
        b'  {"lead":"space"}  ',
        b'{"a.b":"c","a":{"b":"secret=hunter2xyz"}}',
        b'{"url":"postgres://user:pw123@db/x","ts":"2025-12-23 10:00:00"}',
    ]
    random.Random(5).shuffle(lines)
    return lines


REDACTORS = [Redactor(), Redactor(["plain", "hunter2", '1}\n{"ts']),
             Redactor(env={"MY_API_TOKEN": "0123456789abcdef"})]


@pytest.mark.parametrize("redactor", REDACTORS, ids=["patterns", "explicit", "env-hex"])
def test_raw_lines_to_rewrite_picks_the_lines_the_str_path_picks(redactor: Redactor) -> None:
    boundary = Boundary(redactor)
    lines = corpus()
    texts = [line.decode() for line in lines]
    want = {i for i, text in enumerate(texts)
            if lines_to_rewrite(redactor, [text], boundary.text_limit)}
    for size in (1, 7, 64, len(lines)):  # the same answer whatever the blocks
        got: set[int] = set()
        for at in range(0, len(lines), size):
            got |= {at + i for i in raw_lines_to_rewrite(redactor, lines[at:at + size],
                                                         boundary.text_limit)}
        assert got == want, size
    assert len(want) < len(lines) - 300  # most lines are printed as read


@pytest.mark.parametrize("redactor", REDACTORS, ids=["patterns", "explicit", "env-hex"])
def test_a_line_printed_as_read_is_what_the_boundary_makes(redactor: Redactor) -> None:
    boundary = Boundary(redactor)
    lines = corpus()
    rewrite = raw_lines_to_rewrite(redactor, lines, boundary.text_limit)
    for i, line in enumerate(lines):
        if i not in rewrite:
            data = json.loads(line)
            assert boundary.obj(data) == data, line
            assert len(line) <= boundary.text_limit
    printed = "\n".join(
        json.dumps(boundary.obj(json.loads(line)), ensure_ascii=False) if i in rewrite
        else line.decode() for i, line in enumerate(lines))
    assert hostile._LIVE.search(printed) is None  # no live escape
    assert "hunter2xyz" not in printed and "pw123" not in printed


def test_a_secret_key_with_spaces_before_its_colon_is_rewritten() -> None:
    line = '{"api_key"  :  "abcdefgh12345678"}'
    assert lines_to_rewrite(Redactor(), [line], 65_536) == {0}
    assert raw_lines_to_rewrite(Redactor(), [line.encode()], 65_536) == {0}


def _audit_file(tmp_path: Path) -> Path:
    lines = corpus() + [orjson.dumps(r) for r in techno_records(3000)]
    lines += [b'{"decision": "DENY", "trunc', b"not json at all DENY", b"\xff\xfe DENY",
              b"", b"[1, 2]", b'{"decision":"DENY","reason_codes":["x"]}\r']
    random.Random(9).shuffle(lines)
    path = tmp_path / "audit.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _slow(path: Path, exprs: list[str], as_json: bool) -> bytes:
    """Each matching record printed on its own, the way the slow path prints it."""
    boundary = Boundary()
    out = []
    for rec in scan_file(path, exprs).records:
        if rec.data is None:
            rec = parse_record(rec.raw.encode(), rec.line) if rec.error is None else rec
            out.append(_record_text(rec, as_json, boundary))
        elif as_json:
            out += boundary.json_lines([rec.raw], orjson.loads)
        else:
            out.append(boundary.line(summarize(rec.data)))
    return "".join(line + "\n" for line in out).encode()


def _force_forked_rendering(monkeypatch) -> None:
    """A small file taken as a big one: every match rendered by three forked workers."""
    monkeypatch.setattr(tail, "BACKWARD_MAX", 4096)
    monkeypatch.setattr(tail, "KEEP_MAX", 3)
    monkeypatch.setattr(tail, "PARALLEL_MIN", 1)
    monkeypatch.setattr(tail, "_workers", lambda: 3)
    monkeypatch.setattr(query, "BLOCK", 8192)
    # a thread left by an earlier test (a demo service, a TLS warm-up) would make the
    # scan refuse to fork: these tests are about the forked path
    monkeypatch.setattr(tail, "_threads", lambda: 1)


QUERIES = [["decision=DENY", "reason_codes!="], ["decision=DENY"], [], ["DENY"],
           ["trace_id~^[0-9a-f]{4}"], ["has:api_key"]]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("exprs", QUERIES, ids=lambda e: ",".join(e) or "all")
def test_write_tail_in_forked_workers_prints_what_the_slow_path_prints(
        tmp_path: Path, monkeypatch, exprs: list[str], as_json: bool) -> None:
    path = _audit_file(tmp_path)
    _force_forked_rendering(monkeypatch)
    monkeypatch.setattr(tail, "BATCH", 100)
    forked = []
    fork = tail._fork_renderer
    monkeypatch.setattr(tail, "_fork_renderer", lambda *a: forked.append(1) or fork(*a))
    boundary = Boundary()
    sink = io.BytesIO()
    summary = TailSummary()
    render = _Render(as_json, boundary, "utf-8", "strict")
    write_tail(path, exprs, 100_000_000, render, sink, summary, numbered=not as_json)
    assert forked == [1, 1]
    assert sink.getvalue() == _slow(path, exprs, as_json)
    assert summary.matched == scan_file(path, exprs, count_only=True).matched
    # the sequential paths (iter_tail's records rendered in batches) print the same
    for n in (100_000_000, 5):
        monkeypatch.setattr(tail, "KEEP_MAX", 10_000)
        again = io.BytesIO()
        write_tail(path, exprs, n, render, again, numbered=not as_json)
        want = _slow(path, exprs, as_json).splitlines(keepends=True)[-n:]
        assert again.getvalue() == b"".join(want)


def _text_records() -> list[dict[str, Any]]:
    """Records whose one-line summaries hold planted secrets, escapes, odd keys and
    values, and lines ``summarize`` cuts short; many with the same keys (columns)."""
    rnd = random.Random(11)
    out: list[dict[str, Any]] = []
    for line in corpus():  # as the scan parses them
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    odd_keys = ["api_key", "password", ":colon", "=eq", " space", "", "x-amz-signature",
                "bearer", "token_count", "curl", "pw", "msg"]
    for i in range(1500):
        planted = rnd.choice(PLANTED)
        rec: dict[str, Any] = {
            "ts_utc": rnd.choice(["2025-12-23T10:00:00.5+00:00", "2025-12-23T10:00:00Z",
                                  planted, 17, "not a time"]) if i % 7 == 0
            else f"2025-12-23T10:{i % 60:02d}:00.{i:06d}+00:00",
            "event_type": "decision_audit", "decision": rnd.choice(["DENY", "ALLOW"]),
            "reason_codes": rnd.choice([[], ["G2_INVALID_API_KEY"], ["A", planted], ""]),
            "trace_id": rnd.choice([f"{rnd.getrandbits(128):032x}",
                                    f"{rnd.getrandbits(32):08x}-4b1d-{i:04d}",
                                    "abc-" + "0" * 20, planted]),
            "profile_hash": f"{rnd.getrandbits(128):032x}",
            "latency_ms": rnd.choice([1.5, 2 ** 62, 1e300, 3, None, True, {"a": planted}]),
        }
        if i % 5 == 0:
            rec[rnd.choice(odd_keys)] = planted
        if i % 9 == 0:
            rec["note"] = planted + " and some more words " * rnd.randint(0, 12)
        out.append(rec)
    same = [{"ts_utc": f"2025-12-23T10:00:{i % 60:02d}.{i:06d}+00:00", "decision": "DENY",
             "reason_codes": [rnd.choice(["G10_RATE_LIMIT_EXCEEDED", "G2_INVALID_API_KEY"])],
             "trace_id": f"{rnd.getrandbits(64):016x}-{i:06d}",
             "profile_hash": f"{rnd.getrandbits(128):032x}" * rnd.choice([1, 1, 4]),
             "latency_ms": round(rnd.random() * 40, 3)} for i in range(3000)]
    for i, key in enumerate(("api_key", "password", "token", "secret", "auth", "pw")):
        for value in ("0123456789abcdef0123", "2025-12-23T10:00:00Z", 123456, 1.5, True,
                      ["abc"], "deadbeef-0000"):
            out.append({"ts_utc": "2025-12-23T10:00:00Z", key: value, "n": i})
            same[i * 20 + len(str(value))][key] = value  # a key only some records have
    same[100]["trace_id"] = "deadbeef-4b1d-0000-0000-000000000000"
    same[200]["trace_id"] = "deadbeef-0123456789abcdef0123"
    same[300]["ts_utc"] = "2025-12-23T10:00:00\x1b]0;x\x07"
    return out + same


@pytest.mark.parametrize("redactor", REDACTORS, ids=["patterns", "explicit", "env-hex"])
def test_text_lines_are_the_boundarys_summaries(redactor: Redactor) -> None:
    boundary = Boundary(redactor)
    records = _text_records()
    want = [boundary.line(summarize(rec)) for rec in records]
    for size in (1, 13, 2048):
        summaries = _Summaries(boundary)
        got: list[str] = []
        for at in range(0, len(records), size):
            got += summaries.lines(records[at:at + size])
        assert got == want, size
        assert [summaries.line(rec) for rec in records] == want
    assert any(line.endswith("…") for line in want)
    assert sum("***" in line for line in want) > 50  # secrets were hidden


def test_a_range_whose_worker_cannot_start_or_fails_is_rendered_in_place(
        tmp_path: Path, monkeypatch) -> None:
    path = _audit_file(tmp_path)
    _force_forked_rendering(monkeypatch)
    fork = tail._fork_renderer
    calls = []

    def flaky(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("no space for a temporary file")
        return fork(*args)

    monkeypatch.setattr(tail, "_fork_renderer", flaky)
    spooled = tail._spooled  # every worker's answer lost (as if it died): redone here
    monkeypatch.setattr(tail, "_spooled", lambda pid, rfd: spooled(pid, rfd) and None)
    for as_json in (True, False):
        sink = io.BytesIO()
        render = _Render(as_json, Boundary(), "utf-8", "strict")
        write_tail(path, ["DENY"], 100_000_000, render, sink, numbered=not as_json)
        assert sink.getvalue() == _slow(path, ["DENY"], as_json)
    assert len(calls) == 4


@pytest.mark.parametrize("needle", ["000123", "-0001", "12:00", "4b1d", "DENY", "Stra"])
def test_free_text_without_a_letter_is_searched_as_bytes(tmp_path: Path, needle: str) -> None:
    """A needle without a letter has no other spelling under case folding (no character
    folds into an ASCII digit or mark): its bytes are searched as they are; with a letter
    the search still ignores case. Either way, what a full scan with casefold finds."""
    lines = [orjson.dumps(r) for r in techno_records(2000)]
    lines += ['{"m":"x000123y","n":"\uff10\uff10\uff10123","t":"12:00"}'.encode(),
              '{"m":"STRASSE 4B1D","k":"\u212a","s":"Stra\u00dfe","d":"deny"}'.encode(),
              b'{"m":"a\\u0030\\u0030\\u00301-00012"}', b"not json -0001 DENY 12:00"]
    random.Random(2).shuffle(lines)
    path = tmp_path / "audit.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pred = query.parse_filter(needle)
    assert pred.ignore_case == any(c.isalpha() for c in needle)
    want = [line.decode() for line in lines if needle.casefold() in line.decode().casefold()]
    assert [r.raw for r in scan_file(path, [needle]).records] == want


def test_json_for_a_terminal_that_is_not_utf8_is_what_the_text_layer_writes(
        tmp_path: Path) -> None:
    path = _audit_file(tmp_path)
    boundary = Boundary()
    sink = io.BytesIO()
    render = _Render(True, boundary, "latin-1", "replace")
    write_tail(path, ["DENY"], 100_000_000, render, sink, numbered=False)
    want = _slow(path, ["DENY"], True).decode().encode("latin-1", "replace")
    assert sink.getvalue() == want
