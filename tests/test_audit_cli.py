"""``cockpit audit verify|tail|stats`` end to end, as real subprocesses."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cockpit.cli.audit_cmd import add_audit_parser, cmd_stats, cmd_verify, summarize
from cockpit.core.audit.trail import AuditTrail
from tests.support import wait_until

PARSER = """
import argparse, sys
from cockpit.cli.audit_cmd import add_audit_parser
parser = argparse.ArgumentParser(prog="cockpit")
add_audit_parser(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[1:])
raise SystemExit(args.func(args))
"""


def cockpit(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PARSER, *args], capture_output=True,
                          text=True, timeout=timeout, env=env or os.environ.copy())


def techno_log(path: Path) -> list[dict]:
    records = [
        {"ts_utc": "2025-12-23T10:00:00Z", "event_type": "decision_audit", "decision": "DENY",
         "reason_codes": ["G10_RATE_LIMIT_EXCEEDED"], "trace_id": "t-1", "profile_hash": "p"},
        {"ts_utc": "2025-12-23T10:00:01Z", "event_type": "action_audit", "status": "FAILED",
         "executor_id": "llm", "reason_codes": ["EXECUTOR_TIMEOUT"], "trace_id": "t-2",
         "profile_hash": "p"},
        {"ts_utc": "2025-12-23T10:00:02Z", "event_type": "decision_audit", "decision": "ALLOW",
         "reason_codes": [], "trace_id": "t-3", "profile_hash": ""},
        {"ts_utc": "2025-12-23T10:00:03Z", "event_type": "decision_audit", "decision": "DENY",
         "reason_codes": ["G2_INVALID_API_KEY"], "trace_id": "t-4", "profile_hash": "p",
         "note": "Authorization: Bearer sekrit-token-123 \x1b[31mred\x1b[0m"},
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b'{"trunc\n')
    return records


def test_verify_ok_and_default_trail(tmp_path):
    trail = AuditTrail()  # the default operator trail, in the test's XDG_STATE_HOME
    out = cockpit("audit", "verify")
    assert out.returncode == 0 and "OK: 0 records" in out.stdout
    for i in range(3):
        trail.append({"action": f"a{i}"})
    out = cockpit("audit", "verify")
    assert out.returncode == 0
    assert out.stdout.splitlines()[0] == f"OK: 3 records intact ({trail.path})"


def test_verify_names_the_bad_line(tmp_path):
    path = tmp_path / "t.jsonl"
    trail = AuditTrail(path)
    for i in range(9):
        trail.append({"action": f"a{i}", "outcome": "ok"})
    lines = path.read_bytes().splitlines(keepends=True)
    lines[6] = lines[6].replace(b'"ok"', b'"changed"')
    path.write_bytes(b"".join(lines))
    out = cockpit("audit", "verify", str(path))
    assert out.returncode == 1
    assert "line 7: hash does not match its content (edited?)" in out.stdout


def test_verify_torn_tail(tmp_path):
    path = tmp_path / "t.jsonl"
    AuditTrail(path).append({"action": "a"})
    path.write_bytes(path.read_bytes() + b'{"seq":2,')
    out = cockpit("audit", "verify", str(path))
    assert out.returncode == 1 and out.stdout.startswith("TORN: line 2: torn last line")


def test_errors_are_one_line_exit_2(tmp_path):
    for args in (["audit", "verify", str(tmp_path / "missing")],
                 ["audit", "tail", str(tmp_path / "missing")],
                 ["audit", "stats", str(tmp_path / "missing"), "--by", "x"]):
        out = cockpit(*args)
        assert out.returncode == 2
        assert out.stderr.startswith("cockpit audit: no such file")
        assert len(out.stderr.strip().splitlines()) == 1
    log = tmp_path / "a.log"
    techno_log(log)
    out = cockpit("audit", "tail", str(log), "--where", "x~[")
    assert out.returncode == 2 and "invalid regex" in out.stderr and "Traceback" not in out.stderr
    out = cockpit("audit", "stats", str(log), "--by", "x", "--where", "=oops")
    assert out.returncode == 2 and "missing field name" in out.stderr


def test_tail_human_json_count_and_redaction(tmp_path):
    log = tmp_path / "a.log"
    techno_log(log)
    out = cockpit("audit", "tail", str(log), "--where", "decision=DENY")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2025-12-23T10:00:00Z event_type=decision_audit decision=DENY")
    assert "reason_codes=[G10_RATE_LIMIT_EXCEEDED]" in lines[0] and "trace_id=t-1" in lines[0]
    assert "sekrit" not in out.stdout and "Bearer ***" in lines[1]
    assert "\x1b" not in out.stdout

    out = cockpit("audit", "tail", str(log), "-n", "2", "--json")
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == '{"trunc'
    assert "sekrit" not in lines[0] and "\x1b" not in lines[0]

    out = cockpit("audit", "tail", str(log))
    assert out.stdout.splitlines()[-1].startswith("!! malformed (line 5: truncated JSON")

    # a secret inside an escaped string: redacted, and the line stays valid JSON
    quoted = tmp_path / "q.log"
    cmd = 'curl -H "X-API-Key: abc123secret" -H "Authorization: Bearer tok.en.value"'
    quoted.write_bytes(orjson.dumps({"event_type": "run", "command": cmd}) + b"\n")
    out = cockpit("audit", "tail", str(quoted), "--json")
    [line] = out.stdout.splitlines()
    doc = orjson.loads(line)
    assert doc["event_type"] == "run" and "abc123secret" not in line
    assert "tok.en.value" not in line and "X-API-Key" in doc["command"]

    out = cockpit("audit", "tail", str(log), "--where", "reason_codes~G", "--count")
    assert out.stdout.strip() == "2"
    out = cockpit("audit", "tail", str(log), "-w", "event_type=action_audit",
                  "-w", "status!=SUCCESS", "--count")
    assert out.stdout.strip() == "1"


def test_stats_text_and_json(tmp_path):
    log = tmp_path / "a.log"
    techno_log(log)
    out = cockpit("audit", "stats", str(log), "--by", "event_type")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["count", "event_type"]
    assert lines[1].split() == ["3", "decision_audit"]
    assert lines[2].split() == ["1", "action_audit"]
    assert lines[3] == "-- 5 lines, 4 matched, 0 without event_type, 1 malformed"
    out = cockpit("audit", "stats", str(log), "--by", "reason_codes", "--where",
                  "decision=DENY", "--json")
    doc = orjson.loads(out.stdout)
    assert doc["counts"] == {"G10_RATE_LIMIT_EXCEEDED": 1, "G2_INVALID_API_KEY": 1}
    assert doc["matched"] == 2 and doc["field"] == "reason_codes"
    out = cockpit("audit", "stats", str(log), "--by", "profile_hash", "--json")
    assert orjson.loads(out.stdout)["counts"] == {"p": 3, "": 1}


def test_follow_prints_new_lines_and_survives_truncation(tmp_path):
    log = tmp_path / "live.log"
    log.write_bytes(b'{"event_type":"old","decision":"DENY"}\n')
    proc = subprocess.Popen(
        [sys.executable, "-c", PARSER, "audit", "tail", str(log), "--follow", "--where",
         "decision=DENY", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "old" in proc.stdout.readline()
        with log.open("ab") as fh:
            fh.write(b'{"event_type":"skip","decision":"ALLOW"}\n')
            fh.write(b'{"event_type":"new","decision":"DENY"}\n')
        assert "new" in proc.stdout.readline()
        with log.open("ab") as fh:  # a line written in two parts
            fh.write(b'{"event_type":"split",')
            fh.flush()
            fh.write(b'"decision":"DENY"}\n')
        assert "split" in proc.stdout.readline()
        log.write_bytes(b'{"event_type":"after-truncate","decision":"DENY"}\n')
        assert "after-truncate" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "Traceback" not in err and "truncated" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_follow_of_a_missing_file_waits(tmp_path):
    log = tmp_path / "later.log"
    log.write_text("")
    proc = subprocess.Popen([sys.executable, "-c", PARSER, "audit", "tail", str(log), "-f"],
                            stdout=subprocess.PIPE, text=True)
    try:
        log.write_text('{"event_type":"first"}\n')
        assert proc.stdout is not None
        wait_until(lambda: proc.poll() is None, what="follow running")
        assert "event_type=first" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130


def test_handlers_with_namespaces(tmp_path, capsys):
    log = tmp_path / "a.log"
    techno_log(log)
    code = cmd_stats(argparse.Namespace(path=str(log), by="decision", where=[], json=False))
    assert code == 0 and "DENY" in capsys.readouterr().out
    assert cmd_verify(argparse.Namespace(path=str(tmp_path / "none"))) == 2
    assert "no such file" in capsys.readouterr().err


def test_parser_wiring():
    parser = argparse.ArgumentParser(prog="cockpit")
    add_audit_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["audit", "tail", "f.log", "-w", "a=1", "-w", "b~x", "-n", "5"])
    assert args.where == ["a=1", "b~x"] and args.lines == 5 and args.func.__name__ == "cmd_tail"
    with pytest.raises(SystemExit):
        parser.parse_args(["audit", "stats", "f.log"])  # --by is required


def test_summarize_operator_trail_record():
    rec = {"seq": 4, "ts": "2026-01-01T00:00:00.000000Z", "action": "restart",
           "outcome": "ok", "exit_code": 0, "prev": "0" * 64, "hash": "f" * 64,
           "params": {"service": "api"}}
    text = summarize(rec)
    # who ran what, with which params, comes first
    assert text.startswith(
        '2026-01-01T00:00:00.000000Z seq=4 action=restart params={"service":"api"} outcome=ok')
    assert "hash=" not in text and 'params={"service":"api"}' in text


def _tampered_trails(tmp_path: Path) -> dict[str, Path]:
    """One trail per kind of tampering by someone who can write the trail file."""
    made: dict[str, Path] = {}
    for kind in ("delete_last", "replace_shorter", "delete_file", "edit_rechain", "cut"):
        path = tmp_path / kind / "audit.jsonl"
        trail = AuditTrail(path)
        for i in range(8):
            trail.append({"action": f"a{i}", "outcome": "ok"})
        raw = path.read_bytes().splitlines(keepends=True)
        if kind == "delete_last":
            path.write_bytes(b"".join(raw[:-2]))
        elif kind == "replace_shorter":
            from cockpit.core.audit.trail import GENESIS, record_hash

            prev, out = GENESIS, []
            for seq in (1, 2, 3):
                rec = {"seq": seq, "ts": "2026-01-01T00:00:00.000000Z", "action": "x",
                       "prev": prev}
                rec["hash"] = prev = record_hash(rec)
                out.append(orjson.dumps(rec) + b"\n")
            path.write_bytes(b"".join(out))
        elif kind == "delete_file":
            path.unlink()
        elif kind == "edit_rechain":
            from cockpit.core.audit.trail import record_hash

            recs = [orjson.loads(line) for line in raw]
            recs[2]["outcome"] = "forged"
            for i, rec in enumerate(recs):
                if i:
                    rec["prev"] = recs[i - 1]["hash"]
                rec["hash"] = record_hash(rec)
            path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
        else:
            path.write_bytes(b"".join(raw[:4]) + raw[4][:30])
        made[kind] = path
    return made


def test_verify_detects_what_the_chain_alone_cannot(tmp_path):
    """Truncation, a shorter valid chain, a deleted file, an edit re-chained, a cut: exit 1
    (they all passed with exit 0 when only the unkeyed chain was checked)."""
    for kind, path in _tampered_trails(tmp_path).items():
        out = cockpit("audit", "verify", str(path))
        assert out.returncode == 1, (kind, out.stdout, out.stderr)
        assert "FAIL" in out.stdout, (kind, out.stdout)
