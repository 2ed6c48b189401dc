"""Filters, count-by and scans of JSON-lines audit files, checked against plain Python and jq.

Every query of techno-os-backend.md (Parts 2.5, 3 and 4) has a test here.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import cockpit.core.audit.query as q
from cockpit.core.audit.query import (
    RecordFilter,
    count_by,
    parse_filter,
    parse_record,
    scan_file,
    slow_count_by,
)
from cockpit.core.errors import UsageError

JQ = shutil.which("jq")
CODES = ["G10_RATE_LIMIT_EXCEEDED", "G2_INVALID_API_KEY", "G5_session_expired",
         "G7_PAYLOAD_LIMIT_EXCEEDED", "EXECUTOR_TIMEOUT"]
API_KEY_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def techno_records(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts = f"2025-12-23T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00000+00:00"
        trace = f"{rnd.getrandbits(64):016x}-{i:06d}"
        profile: Any = f"{rnd.getrandbits(64):016x}"
        if i % 97 == 5:
            profile = ""  # P1.1 violations
        elif i % 131 == 7:
            profile = None
        if rnd.random() < 0.55:
            deny = rnd.random() < 0.25
            codes = rnd.sample(CODES, rnd.randint(1, 2)) if deny else []
            if deny and i % 53 == 0:
                codes = []  # DENY without reason codes: an audit violation
            rec = {"ts_utc": ts, "event_type": "decision_audit",
                   "decision": "DENY" if deny else "ALLOW", "reason_codes": codes,
                   "trace_id": trace, "profile_hash": profile,
                   "latency_ms": round(rnd.random() * 40, 3)}
            if i % 11 == 0:
                rec["api_key_hash"] = API_KEY_HASH
        else:
            status = rnd.choices(["SUCCESS", "FAILED", "TIMEOUT"], [80, 15, 5])[0]
            rec = {"ts_utc": ts, "event_type": "action_audit", "action": "test_action",
                   "executor_id": rnd.choice(["llm", "http", "noop"]), "status": status,
                   "reason_codes": ["EXECUTOR_TIMEOUT"] if status == "TIMEOUT" else [],
                   "trace_id": trace, "profile_hash": profile, "status_code": 200}
        out.append(rec)
    return out


@pytest.fixture
def techno(tmp_path) -> tuple[Path, list[dict[str, Any]]]:
    records = techno_records(6000)
    path = tmp_path / "audit.log"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path, records


def jq(args: list[str], path: Path) -> str:
    return subprocess.run([JQ, *args, str(path)], check=True, capture_output=True,
                          text=True).stdout


def jq_count(expr: str, path: Path) -> int:
    return len(jq(["-c", expr], path).splitlines())


def uniq_c(text: str) -> Counter[str]:
    return Counter(line for line in text.splitlines())


needs_jq = pytest.mark.skipif(JQ is None, reason="jq not installed")


# --- parse_record ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"a":1,"b":', "truncated JSON (incomplete line)"),
        (b'{"a":"\xff"}', "not valid UTF-8 (byte 6)"),
        (b"[1,2]", "JSON an array, not an object"),
        (b'"text"', "JSON a string, not an object"),
        (b"42", "JSON a number, not an object"),
        (b"null", "JSON null, not an object"),
        (b"", "empty line"),
        (b"hello world", None),
    ],
)
def test_parse_record_malformed(raw, error):
    rec = parse_record(raw)
    assert rec.data is None and rec.malformed
    if error:
        assert rec.error == error
    else:
        assert rec.error and rec.error.startswith("not JSON")
    assert isinstance(rec.raw, str)


def test_parse_record_ok_and_newlines():
    rec = parse_record(b'{"a": 1}\r\n', line=3)
    assert rec.data == {"a": 1} and rec.error is None and rec.raw == '{"a": 1}' and rec.line == 3
    assert parse_record(b'{"a":"\xff"}').raw == '{"a":"\ufffd"}'


# --- filters -----------------------------------------------------------------------------

REC = {
    "event_type": "decision_audit", "decision": "DENY", "status_code": 200, "ok": True,
    "reason_codes": ["G10_RATE_LIMIT_EXCEEDED", "G2_INVALID_API_KEY"], "empty": "",
    "nothing": None, "none": [], "ctx": {"user": {"name": "ann"}, "tags": ["a", "b"]},
    "items": [{"id": 1}, {"id": 2}], "latency": 12.5, "a.b": "dotted-key",
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("decision=DENY", True),
        ("decision=ALLOW", False),
        ("decision!=ALLOW", True),
        ("decision!=DENY", False),
        ("reason_codes=G10_RATE_LIMIT_EXCEEDED", True),
        ("reason_codes=G5_session_expired", False),
        ("reason_codes!=G5_session_expired", True),
        ("reason_codes~RATE_LIMIT", True),
        ("reason_codes~^G2_", True),
        ("reason_codes!~^G7", True),
        ("status_code=200", True),
        ("status_code=200.0", False),
        ("ok=true", True),
        ("nothing=null", True),
        ("latency=12.5", True),
        ("latency>10", True),
        ("latency<=12.5", True),
        ("status_code>=300", False),
        ("event_type>d", True),
        ("empty=", True),
        ("nothing=", True),
        ("none=", True),
        ("missing=", True),
        ("decision=", False),
        ("missing!=x", True),
        ("has:nothing", True),
        ("has:missing", False),
        ("!has:missing", True),
        ("ctx.user.name=ann", True),
        ("ctx.tags=b", True),
        ("items.id=2", True),
        ("items.1.id=2", True),
        ("items.id=3", False),
        ("a.b=dotted-key", True),
        ("rate_limit", True),
        ("RATE_LIMIT", True),
        ("no such text", False),
        ("decision~^D", True),
        ("missing~.", False),
    ],
)
def test_filter_semantics(expr, expected):
    raw = orjson.dumps(REC).decode()
    assert parse_filter(expr).matches(REC, raw) is expected
    assert RecordFilter([expr]).matches(REC) is expected


def test_filters_are_anded_and_malformed_lines_only_match_text():
    f = RecordFilter(["event_type=decision_audit", "decision=DENY"])
    assert f.matches(REC)
    assert not RecordFilter(["event_type=decision_audit", "decision=ALLOW"]).matches(REC)
    assert RecordFilter([]).matches(REC)
    assert not RecordFilter(["decision!=x"]).matches_raw(b'{"trunc')
    assert RecordFilter(["trunc"]).matches_raw(b'{"trunc')
    assert RecordFilter(["decision=DENY"]).matches_raw('{"decision":"DENY"}')


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "empty filter expression"),
        ("x~[", "invalid regex"),
        ("=DENY", "missing field name"),
        ("!=x", "missing field name"),
        ("has:", "'has:' needs a field name"),
        ("a..b=1", "is not a field path"),
        ("x>", "nothing to compare"),
    ],
)
def test_bad_filters(expr, message):
    with pytest.raises(UsageError, match=message):
        parse_filter(expr)


def test_bad_field_for_count_by(tmp_path):
    path = tmp_path / "a.log"
    path.write_text("{}\n")
    with pytest.raises(UsageError):
        count_by(path, "")
    with pytest.raises(FileNotFoundError):
        count_by(tmp_path / "nope.log", "a")
    with pytest.raises(FileNotFoundError):
        scan_file(tmp_path / "nope.log", [])


# --- the runbook's queries ---------------------------------------------------------------


def test_2_5_profile_hash_never_empty(techno):
    path, records = techno
    expected = sum(1 for r in records if r.get("profile_hash") in ("", None))
    found = scan_file(path, ["profile_hash="])
    assert found.matched == expected > 0
    grep = sum(int(subprocess.run(["grep", "-c", pattern, str(path)], capture_output=True,
                                  text=True).stdout or 0)
               for pattern in ('"profile_hash":""', '"profile_hash":null'))
    assert found.matched == grep


@needs_jq
def test_2_5_deny_without_reason_codes(techno):
    path, records = techno
    exprs = ["event_type=decision_audit", "decision=DENY", "reason_codes="]
    expected = [r for r in records if r["event_type"] == "decision_audit"
                and r["decision"] == "DENY" and not r["reason_codes"]]
    assert [rec.data for rec in scan_file(path, exprs).records] == expected
    assert len(expected) == jq_count(
        'select(.event_type=="decision_audit" and .decision=="DENY" and '
        '(.reason_codes == [] or .reason_codes == null))', path)


@needs_jq
def test_3_2_count_by_event_type(techno):
    path, records = techno
    result = count_by(path, "event_type")
    assert result.counts == Counter(r["event_type"] for r in records)
    assert result.counts == uniq_c(jq(["-r", ".event_type"], path))
    assert result.total == result.matched == len(records)
    assert result.malformed == result.missing == 0
    assert result.most_common(1)[0][0] == "decision_audit"


@needs_jq
def test_3_3_deny_decisions_with_reason_codes(techno):
    path, records = techno
    exprs = ["event_type=decision_audit", "decision=DENY"]
    expected = [(r["reason_codes"], r["trace_id"]) for r in records
                if r["event_type"] == "decision_audit" and r["decision"] == "DENY"]
    found = scan_file(path, exprs)
    assert [(rec.data["reason_codes"], rec.data["trace_id"]) for rec in found.records] == expected
    assert found.matched == jq_count(
        'select(.event_type=="decision_audit" and .decision=="DENY")', path)
    assert [r.data["trace_id"] for r in scan_file(path, exprs, limit=20).records] == [
        t for _, t in expected[:20]]
    first = found.records[0]
    assert first.line == records.index(next(
        r for r in records if r["trace_id"] == first.data["trace_id"])) + 1


def test_3_3_correlate_api_key_hash(techno):
    path, _records = techno
    raw_lines = path.read_text().splitlines()
    matching = [orjson.loads(line) for line in raw_lines if API_KEY_HASH in line]
    expected = Counter(orjson.dumps([r["decision"], r["reason_codes"]]).decode()
                       for r in matching)
    found = scan_file(path, [API_KEY_HASH])
    got = Counter(orjson.dumps([rec.data["decision"], rec.data["reason_codes"]]).decode()
                  for rec in found.records)
    assert got == expected and found.matched == len(matching) > 0
    assert count_by(path, "decision", [API_KEY_HASH]).counts == Counter(
        r["decision"] for r in matching)


def test_3_4_rate_limit_violations(techno):
    path, records = techno
    grep_count = int(subprocess.run(["grep", "-c", "RATE_LIMIT_EXCEEDED", str(path)],
                                    capture_output=True, text=True).stdout)
    assert scan_file(path, ["RATE_LIMIT_EXCEEDED"], count_only=True).matched == grep_count
    expected = [(r["ts_utc"], r["trace_id"]) for r in records
                if any("RATE_LIMIT_EXCEEDED" in c for c in r["reason_codes"])]
    found = scan_file(path, ["reason_codes~RATE_LIMIT_EXCEEDED"], limit=10)
    assert [(x.data["ts_utc"], x.data["trace_id"]) for x in found.records] == expected[:10]


@needs_jq
def test_3_5_executor_failures(techno):
    path, records = techno
    exprs = ["event_type=action_audit", "status!=SUCCESS"]
    expected = [r for r in records if r["event_type"] == "action_audit"
                and r["status"] != "SUCCESS"]
    assert [rec.data for rec in scan_file(path, exprs).records] == expected
    assert len(expected) == jq_count(
        'select(.event_type=="action_audit" and .status != "SUCCESS")', path)
    by_executor = count_by(path, "executor_id", ["event_type=action_audit"])
    assert by_executor.counts == Counter(
        r["executor_id"] for r in records if r["event_type"] == "action_audit")
    jq_text = subprocess.run(
        f"{JQ} -c 'select(.event_type==\"action_audit\")' {path} | {JQ} -r .executor_id",
        shell=True, check=True, capture_output=True, text=True).stdout
    assert by_executor.counts == uniq_c(jq_text)


@needs_jq
def test_3_6_session_denials(techno):
    path, records = techno
    expected = [r for r in records if any("G5_session" in c for c in r["reason_codes"])]
    grep_count = int(subprocess.run(["grep", "-c", "G5_session", str(path)],
                                    capture_output=True, text=True).stdout)
    assert scan_file(path, ["G5_session"], count_only=True).matched == grep_count
    found = scan_file(path, ["reason_codes~G5_session"])
    assert [rec.data for rec in found.records] == expected
    assert found.matched == jq_count(
        'select(any(.reason_codes[]?; contains("G5_session")))', path)


def test_3_7_decision_latency_window(techno):
    path, records = techno
    stamps = sorted(r["ts_utc"] for r in records if r["event_type"] == "decision_audit")
    found = sorted(rec.data["ts_utc"] for rec in
                   scan_file(path, ["event_type=decision_audit"]).records)
    assert (found[0], found[-1]) == (stamps[0], stamps[-1])
    per_second = count_by(path, "ts_utc", []).counts
    assert sum(per_second.values()) == len(records)


@needs_jq
def test_4_1_recent_failures(techno):
    path, records = techno
    exprs = ["event_type=action_audit", "status=FAILED"]
    expected = [r for r in records if r["event_type"] == "action_audit"
                and r["status"] == "FAILED"][-5:]
    found = scan_file(path, exprs, tail=5)
    assert [rec.data for rec in found.records] == expected
    jq_last = jq(["-c", 'select(.event_type=="action_audit" and .status=="FAILED")'],
                 path).splitlines()[-5:]
    assert [orjson.loads(line) for line in jq_last] == expected
    assert [rec.data for rec in scan_file(path, [], tail=20).records] == records[-20:]


@needs_jq
def test_4_2_deny_distribution(techno):
    path, records = techno
    expected = Counter(code for r in records for code in r["reason_codes"])
    result = count_by(path, "reason_codes")
    assert result.counts == expected == uniq_c(jq(["-r", ".reason_codes[]"], path))
    deny_only = count_by(path, "reason_codes", ["decision=DENY"])
    assert deny_only.counts == Counter(code for r in records if r.get("decision") == "DENY"
                                       for code in r["reason_codes"])


def test_status_code_as_string(techno):
    path, records = techno
    assert scan_file(path, ["status_code=200"], count_only=True).matched == sum(
        1 for r in records if r.get("status_code") == 200)


# --- exactness of the fast paths ---------------------------------------------------------

ADVERSARIAL = [
    b'{"event_type":"outer","ctx":{"event_type":"inner"}}',
    b'{"ctx":{"event_type":"inner"},"a":1}',
    b'{"event_type":"we\\"ird","x":1}',
    b'{"msg":"\\"event_type\\":\\"fake\\"","event_type":"real"}',
    b'{"msg":"event_type","event_type":"v"}',
    b'{"note":"event_type"}',
    b'{"event_type":"decision_audit","decision":"AL',
    b'{"event_type":"x","ctx":{"a":1}',
    b'{"event_type":"\xff\xfe"}',
    b'[{"event_type":"arr"}]',
    b'"event_type"',
    b"42",
    b"null",
    b'{"event_type":"first","event_type":"second"}',
    b"",
    b"   ",
    b'{"event_type":"crlf","decision":"DENY"}\r',
    b'{"event_type":123}',
    b'{"event_type":null}',
    b'{"event_type":["a","b"]}',
    b'{"event_type":{"x":1}}',
    b'{"event_type" : "spaced"}',
    b'{"event_type": "onespace", "decision": "DENY"}',
    b'{"other":1}',
    '{"event_type":"é","decision":"DENY"}'.encode(),
    b'{"event_type":"a\tb"}',
    b'{"event_type":"\\u0064ecision_audit","decision":"\\u0044ENY"}',
    b'{"decision":"DENY","event_type":"decision_audit","x":"}"}',
    b'{"event_type":"action_audit","x":"{"}',
]


def adversarial_file(path: Path, clean: int, seed: int, tail_newline: bool = True) -> None:
    rnd = random.Random(seed)
    lines = [orjson.dumps(r) for r in techno_records(clean, seed)]
    for bad in ADVERSARIAL:
        lines.insert(rnd.randrange(len(lines) + 1), bad)
    data = b"\n".join(lines)
    path.write_bytes(data + (b"\n" if tail_newline else b""))


def assert_same(fast: q.CountResult, slow: q.CountResult, exact_malformed: bool = True) -> None:
    assert fast.counts == slow.counts
    assert (fast.total, fast.matched, fast.missing) == (slow.total, slow.matched, slow.missing)
    if exact_malformed:
        assert fast.malformed == slow.malformed


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tail_newline", [True, False])
def test_count_by_fast_path_is_exact(tmp_path, monkeypatch, seed, tail_newline):
    monkeypatch.setattr(q, "BLOCK", 4096)
    monkeypatch.setattr(q, "MIN_BISECT", 512)
    path = tmp_path / "adv.log"
    adversarial_file(path, 3000, seed, tail_newline)
    for fieldname in ("event_type", "decision", "reason_codes", "ctx", "trace_id"):
        assert_same(count_by(path, fieldname), slow_count_by(path, fieldname))
    for exprs in (["decision=DENY"], ["event_type=decision_audit", "decision!=ALLOW"]):
        assert_same(count_by(path, "event_type", exprs), slow_count_by(path, "event_type", exprs),
                    exact_malformed=False)


def test_fast_path_is_used_and_exact_on_clean_files(tmp_path, monkeypatch):
    path = tmp_path / "clean.log"
    records = techno_records(5000)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    calls: list[bool] = []
    real = q._fast_count

    def spy(*args):
        result = real(*args)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(q, "_fast_count", spy)
    assert_same(count_by(path, "event_type"), slow_count_by(path, "event_type"))
    assert calls and all(calls)


def test_parallel_workers_agree(tmp_path, monkeypatch):
    path = tmp_path / "adv.log"
    adversarial_file(path, 4000, 9)
    expected = slow_count_by(path, "event_type")
    monkeypatch.setattr(q, "PARALLEL_MIN", 0)
    monkeypatch.setattr(q, "BLOCK", 8192)
    monkeypatch.setattr(q, "_workers", lambda: 3)
    assert_same(count_by(path, "event_type"), expected)
    records = [parse_record(line) for line in path.read_bytes().split(b"\n")[:-1]]
    want = sum(1 for r in records if r.data is not None and r.data.get("decision") == "DENY")
    assert scan_file(path, ["decision=DENY"], count_only=True).matched == want


@pytest.mark.parametrize("exprs", [
    ["decision=DENY"], ["event_type=decision_audit"], ["event_type=é"], ["decision!=DENY"],
    ["reason_codes=G2_INVALID_API_KEY"], ["DENY"], ["deny"], ["event_type~audit$"],
    ["has:ctx"], ["x=}"], ["x={"],
])
def test_scan_prefilter_is_exact(tmp_path, monkeypatch, exprs):
    monkeypatch.setattr(q, "BLOCK", 4096)
    path = tmp_path / "adv.log"
    adversarial_file(path, 2000, 4)
    filt = RecordFilter(exprs)
    raw_lines = path.read_bytes().split(b"\n")[:-1]
    expected = [i + 1 for i, line in enumerate(raw_lines)
                if line.strip() and filt.matches_record(parse_record(line))]
    found = scan_file(path, exprs)
    assert [rec.line for rec in found.records] == expected
    assert found.total == len(raw_lines)
    assert scan_file(path, exprs, count_only=True).matched == len(expected)
    assert [rec.line for rec in scan_file(path, exprs, limit=3).records] == expected[:3]
    tail = scan_file(path, exprs, tail=4).records
    assert [rec.raw for rec in tail] == [raw_lines[i - 1].decode("utf-8", "replace").rstrip("\r")
                                         for i in expected[-4:]]


def test_malformed_lines_are_kept_raw(tmp_path):
    path = tmp_path / "m.log"
    path.write_bytes(b'{"a":1}\n{"a":\n\xff\xfe\n[1]\n\n{"a":2}')
    found = scan_file(path, [])
    assert [(r.line, r.malformed) for r in found.records] == [
        (1, False), (2, True), (3, True), (4, True), (6, False)]
    assert found.malformed == 3 and found.total == 6
    assert found.records[1].error == "truncated JSON (incomplete line)"
    result = count_by(path, "a")
    assert result.counts == Counter({"1": 1, "2": 1}) and result.malformed == 3


def test_long_lines_and_empty_file(tmp_path, monkeypatch):
    monkeypatch.setattr(q, "BLOCK", 1024)
    path = tmp_path / "long.log"
    recs = [{"event_type": "big", "blob": "z" * 5000}, {"event_type": "small"}] * 3
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    assert count_by(path, "event_type").counts == Counter({"big": 3, "small": 3})
    assert len(scan_file(path, ["event_type=big"]).records) == 3
    assert [r.data["event_type"] for r in scan_file(path, [], tail=3).records] == [
        "small", "big", "small"]
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert count_by(empty, "x").total == 0 and scan_file(empty, []).records == []
