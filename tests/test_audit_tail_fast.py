"""The fast paths of ``cockpit audit tail``: the streamed tail (``audit/tail.py``) gives
what a plain scan gives, in every path it can take; a JSON line printed as it was read is
exactly what the boundary would have made of it; the CLI answers the techno-os runbook's
Part 3 queries with jq's records, in jq's order."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from cockpit.core.audit import query, tail
from cockpit.core.audit.query import scan_file
from cockpit.core.audit.tail import TailSummary, iter_tail
from cockpit.core.boundary import Boundary
from cockpit.core.redact import Redactor
from cockpit.core.redact_json import lines_to_rewrite
from tests import hostile
from tests.test_audit_query import techno_records
from tests.test_secret_formats import TOKENS

JQ = shutil.which("jq")


def _file(tmp_path: Path, records: list[Any], extra: list[bytes] = ()) -> Path:
    path = tmp_path / "audit.log"
    lines = [orjson.dumps(r) for r in records]
    rnd = random.Random(3)
    for raw in extra:  # malformed and hostile lines among the records
        lines.insert(rnd.randrange(len(lines)), raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


HOSTILE_LINES = [
    b'{"ts_utc": "2025-12-23T10:00:00Z", "decision": "DENY", "msg": "\\u001b]0;title\\u0007"}',
    b'{"decision": "DENY", "reason_codes": ["G2_INVALID_API_KEY"], "api_key": "sk_live_x"}',
    b'{"decision": "DENY", "note": "password=hunter2-Sup3rSecret"}',
    b'{"decision": "DENY", "trunc',
    b"not json at all DENY",
]

QUERIES = [
    ["decision=DENY"],
    ["decision=DENY", "reason_codes!="],
    ["event_type=action_audit", "status!=SUCCESS"],
    ["reason_codes~G5_session"],
    ["RATE_LIMIT_EXCEEDED"],
    [],
]


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return _file(tmp_path, techno_records(4000), HOSTILE_LINES)


@pytest.mark.parametrize("exprs", QUERIES, ids=lambda e: ",".join(e) or "all")
@pytest.mark.parametrize("path_kind", ["backward", "kept", "streamed"])
def test_iter_tail_gives_what_a_scan_gives(audit: Path, monkeypatch, exprs, path_kind) -> None:
    if path_kind != "backward":  # the file is "big": the forward paths
        monkeypatch.setattr(tail, "BACKWARD_MAX", 4096)
        monkeypatch.setattr(query, "BLOCK", 4096)
        monkeypatch.setattr(tail, "BLOCK", 4096)
    if path_kind == "streamed":
        monkeypatch.setattr(tail, "KEEP_MAX", 3)
    for n in (1, 5, 40, 10_000_000):
        want = scan_file(audit, exprs, tail=n).records
        summary = TailSummary()
        got = list(iter_tail(audit, exprs, n, summary))
        assert [r.raw for r in got] == [r.raw for r in want], (n, exprs)
        _numbered_right(audit, got)
        if summary.matched is not None:
            assert summary.matched == scan_file(audit, exprs, count_only=True).matched


def test_the_kept_tail_merges_forked_workers_in_order(audit: Path, monkeypatch) -> None:
    """Split between forked workers (each keeps its own last n), line numbers still count
    from the top of the file."""
    monkeypatch.setattr(tail, "BACKWARD_MAX", 4096)
    monkeypatch.setattr(query, "PARALLEL_MIN", 1)
    monkeypatch.setattr(query, "_workers", lambda: 3)
    monkeypatch.setattr(query, "_threads", lambda: 1)
    for exprs in QUERIES:
        want = scan_file(audit, exprs, tail=700).records
        got = list(iter_tail(audit, exprs, 700))
        assert [r.raw for r in got] == [r.raw for r in want], exprs
        assert all(r.line is not None for r in got)
        _numbered_right(audit, got)


def _numbered_right(path: Path, records: list[Any]) -> None:
    """Each record's line number (where given) is its line in the file."""
    lines = path.read_text().splitlines()
    for rec in records:
        if rec.line is not None:
            assert lines[rec.line - 1] == rec.raw, rec.line


def _corpus() -> list[str]:
    strings = [*TOKENS, *hostile.SECRETS, *hostile.ESCAPES, *hostile.LINES[:-1],
               "G2_INVALID_API_KEY", "Bearer abc.def.ghi", "https://u:pw@host/x",
               "mysql -u root -phunter2", "curl -u me:secret https://x", "pw=abc123",
               "--password hunter2", "Authorization: Basic dXNlcjpwYXNz", "plain words",
               "x-goog-signature=abcdef123456", "machine h login u password p"]
    lines = []
    for s in strings:
        lines.append(json.dumps({"msg": s}, separators=(",", ":")))
        lines.append(json.dumps({"a": 1, "list": ["ok", s], "n": {"deep": s}}))
        lines.append(json.dumps({"api_key": "x", "k": s}))
        lines.append(json.dumps({s[:30]: "value", "token_count": 3}))
    lines += [json.dumps({"ts": "2025-12-23T10:00:00.1+00:00", "trace_id": f"{i:08x}-aa",
                          "reason_codes": ["G10_RATE_LIMIT_EXCEEDED"]}) for i in range(50)]
    lines.append(json.dumps({"long": "y" * 70_000}))
    return lines


@pytest.mark.parametrize("redactor", [Redactor(), Redactor(["plain"])], ids=["patterns", "explicit"])
def test_json_lines_printed_as_read_are_what_the_boundary_makes(redactor: Redactor) -> None:
    boundary = Boundary(redactor)
    lines = _corpus()
    out = boundary.json_lines(lines, json.loads)
    assert len(out) == len(lines)
    kept = 0
    for raw, printed in zip(lines, out, strict=True):
        assert json.loads(printed) == boundary.obj(json.loads(raw)), raw
        kept += printed is raw or printed == raw
    # the fast path is taken where nothing changes (not everything rewritten)
    assert kept >= 50
    rewrite = lines_to_rewrite(redactor, lines, boundary.text_limit)
    changed = {i for i, raw in enumerate(lines)
               if json.loads(raw) != boundary.obj(json.loads(raw))}
    assert changed and changed <= rewrite  # every line that changes is rewritten


def _cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cockpit.cli.main", "audit", "tail", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout


#: The runbook's Part 3 queries: (jq program, the cockpit's filters)
PART3 = [
    ('select(.event_type=="decision_audit" and .decision=="DENY")',
     ["event_type=decision_audit", "decision=DENY"]),
    ('select(.event_type=="action_audit" and .status != "SUCCESS")',
     ["event_type=action_audit", "status!=SUCCESS"]),
    ('select(.event_type=="action_audit")', ["event_type=action_audit"]),
    ('select(.reason_codes[]? | contains("G5_session"))', ["reason_codes~G5_session"]),
    ('select(.decision=="DENY" and (.reason_codes | length) > 0)',
     ["decision=DENY", "reason_codes!="]),
]


@pytest.mark.parametrize("program,exprs", PART3, ids=[p[0][:40] for p in PART3])
def test_the_cli_answers_part_3_with_jqs_records_in_jqs_order(tmp_path: Path, program: str,
                                                              exprs: list[str]) -> None:
    assert JQ, "jq is needed (installed on these machines and in CI)"
    path = _file(tmp_path, techno_records(3000))
    expected = [json.loads(line) for line in subprocess.run(
        [JQ, "-c", program, str(path)], capture_output=True, text=True,
        check=True).stdout.splitlines()]
    where = [arg for e in exprs for arg in ("--where", e)]
    printed = _cli(str(path), *where, "--json", "-n", "100000000")
    assert [json.loads(line) for line in printed.splitlines()] == expected
    assert int(_cli(str(path), *where, "--count").strip()) == len(expected)
    last = _cli(str(path), *where, "--json", "-n", "7")
    assert [json.loads(line) for line in last.splitlines()] == expected[-7:]
