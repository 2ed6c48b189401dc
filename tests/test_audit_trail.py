"""The operator trail: hash chain, locking across processes, torn tails, unwritable sinks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cockpit.core.audit.trail import (
    GENESIS,
    QUARANTINE_ACTION,
    AuditSinkError,
    AuditTrail,
    default_trail_path,
    record_hash,
    verify_trail,
)
from cockpit.core.errors import CockpitError
from tests.support import wait_until

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, items: list[bytes]) -> None:
    path.write_bytes(b"".join(items))


def make_trail(tmp_path: Path, n: int = 10) -> Path:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    for i in range(n):
        trail.append({"action": f"act-{i}", "outcome": "ok", "exit_code": 0})
    return trail.path


def test_default_path_follows_xdg_and_override(tmp_path, monkeypatch):
    assert default_trail_path() == tmp_path / "state" / "cockpit" / "audit.jsonl"
    monkeypatch.setenv("COCKPIT_AUDIT_PATH", str(tmp_path / "elsewhere.jsonl"))
    assert default_trail_path() == tmp_path / "elsewhere.jsonl"
    assert AuditTrail().path == tmp_path / "elsewhere.jsonl"


def test_append_fields_and_chain(tmp_path):
    trail = AuditTrail(tmp_path / "sub" / "audit.jsonl")
    first = trail.append({"action": "restart", "params": {"service": "api"}})
    second = trail.append({"action": "status", "ts": "2026-01-01T00:00:00.000000Z"})
    assert first["seq"] == 1 and first["prev"] == GENESIS
    assert TS.match(first["ts"])
    assert second["seq"] == 2 and second["prev"] == first["hash"]
    assert second["ts"] == "2026-01-01T00:00:00.000000Z"
    assert first["hash"] == record_hash(first)
    # The hash is SHA-256 over sorted-key compact JSON of the record without "hash".
    import hashlib

    body = {k: v for k, v in second.items() if k != "hash"}
    assert second["hash"] == hashlib.sha256(
        orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    stored = [orjson.loads(line) for line in lines(trail.path)]
    assert stored == [first, second]
    assert verify_trail(trail.path).ok
    assert oct(trail.path.stat().st_mode & 0o777) == "0o600"


def test_caller_cannot_forge_chain_fields(tmp_path):
    trail = AuditTrail(tmp_path / "a.jsonl")
    rec = trail.append({"action": "x", "seq": 99, "prev": "f" * 64, "hash": "0" * 64})
    assert rec["seq"] == 1 and rec["prev"] == GENESIS and rec["hash"] != "0" * 64


def test_records_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-abcdef-123")
    trail = AuditTrail(tmp_path / "a.jsonl")
    rec = trail.append({"action": "deploy", "command": "deploy --token tok-abcdef-123",
                        "params": {"api_key": "k-1"}})
    text = trail.path.read_text()
    assert "tok-abcdef-123" not in text and "k-1" not in text
    assert rec["params"]["api_key"] == "***"
    raw = AuditTrail(tmp_path / "b.jsonl", redact=False).append({"api_key": "k-1"})
    assert raw["api_key"] == "k-1"


def test_one_megabyte_field(tmp_path):
    """Stored whole when the caller says so (redact=False); through the boundary a field
    is bounded with a visible mark (a 10 MB param once wrote 20 MB into the trail)."""
    for redact, expected in ((False, "x" * 1_000_000),
                             (True, "x" * 65_536 + f"…[+{1_000_000 - 65_536} chars]")):
        trail = AuditTrail(tmp_path / f"a-{redact}.jsonl", redact=redact)
        trail.append({"action": "first"})
        rec = trail.append({"action": "big", "output": "x" * 1_000_000})
        after = trail.append({"action": "after"})
        assert after["prev"] == rec["hash"]
        assert verify_trail(trail.path).ok and verify_trail(trail.path).count == 3
        assert orjson.loads(lines(trail.path)[1])["output"] == expected


def test_records_show_escapes_even_to_a_raw_reader(tmp_path):
    """`jq -r .command` of a record prints no live escape: the record took the boundary."""
    trail = AuditTrail(tmp_path / "a.jsonl")
    trail.append({"action": "a", "command": "echo \x1b]52;c;eA==\x07", "params": {"p": "\x1b[2J"}})
    rec = orjson.loads(lines(trail.path)[0])
    assert rec["command"] == "echo \\e]52;c;eA==\\a" and rec["params"] == {"p": "\\e[2J"}


def test_edited_record_detected(tmp_path):
    path = make_trail(tmp_path)
    items = lines(path)
    items[6] = items[6].replace(b'"outcome":"ok"', b'"outcome":"failed"')
    write_lines(path, items)
    report = verify_trail(path)
    assert not report.ok and report.first_bad_line == 7 and report.count == 6
    assert report.problem == "line 7: hash does not match its content (edited?)"
    assert not report.torn_tail


def test_edit_with_recomputed_hash_breaks_the_chain(tmp_path):
    path = make_trail(tmp_path)
    items = lines(path)
    rec = orjson.loads(items[3])
    rec["outcome"] = "forged"
    rec["hash"] = record_hash(rec)
    items[3] = orjson.dumps(rec) + b"\n"
    write_lines(path, items)
    report = verify_trail(path)
    assert report.first_bad_line == 5
    assert report.problem == (
        "line 5: prev does not match line 4's hash (deleted, inserted or reordered?)")


def test_deleted_record_detected(tmp_path):
    path = make_trail(tmp_path)
    items = lines(path)
    del items[7]
    write_lines(path, items)
    report = verify_trail(path)
    assert not report.ok and report.first_bad_line == 8
    assert "prev does not match line 7's hash" in (report.problem or "")


def test_deleted_first_record_detected(tmp_path):
    path = make_trail(tmp_path)
    write_lines(path, lines(path)[1:])
    report = verify_trail(path)
    assert report.first_bad_line == 1 and "line 1:" in (report.problem or "")


def test_inserted_record_detected(tmp_path):
    path = make_trail(tmp_path)
    items = lines(path)
    fake = {"seq": 5, "ts": "2026-01-01T00:00:00.000000Z", "action": "fake",
            "prev": orjson.loads(items[3])["hash"]}
    fake["hash"] = record_hash(fake)
    items.insert(4, orjson.dumps(fake) + b"\n")
    write_lines(path, items)
    report = verify_trail(path)
    assert not report.ok and report.first_bad_line == 6


def test_reordered_records_detected(tmp_path):
    path = make_trail(tmp_path)
    items = lines(path)
    items[2], items[3] = items[3], items[2]
    write_lines(path, items)
    report = verify_trail(path)
    assert not report.ok and report.first_bad_line == 3
    assert "deleted, inserted or reordered" in (report.problem or "")


def test_torn_tail_is_reported_then_quarantined(tmp_path):
    path = make_trail(tmp_path, 5)
    good = path.read_bytes()
    torn = b'{"seq":6,"ts":"2026-01-01T00:00:00.000000Z","action":"cut-he'
    path.write_bytes(good + torn)
    report = verify_trail(path)
    assert not report.ok and report.torn_tail and report.first_bad_line == 6
    assert report.count == 5 and "torn last line" in (report.problem or "")

    rec = AuditTrail(path).append({"action": "next"})
    assert verify_trail(path).ok
    records = [orjson.loads(line) for line in lines(path)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert records[5]["action"] == QUARANTINE_ACTION
    assert records[5]["quarantined_bytes"] == len(torn)
    assert rec["seq"] == 7 and rec["prev"] == records[5]["hash"]
    quarantine = path.with_name("audit.jsonl.quarantine")
    entry = orjson.loads(quarantine.read_bytes().splitlines()[0])
    assert entry["raw"] == torn.decode() and entry["offset"] == len(good)
    assert TS.match(entry["ts"])


def test_torn_tail_invalid_json_with_newline(tmp_path):
    path = make_trail(tmp_path, 3)
    path.write_bytes(path.read_bytes() + b'{"seq":4,"ac\n')
    report = verify_trail(path)
    assert report.torn_tail and report.first_bad_line == 4
    AuditTrail(path).append({"action": "next"})
    assert verify_trail(path).ok and verify_trail(path).count == 5


def test_torn_only_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"seq":1,"ts":"20')
    assert verify_trail(path).torn_tail
    rec = AuditTrail(path).append({"action": "first"})
    assert rec["seq"] == 2 and verify_trail(path).ok


def test_foreign_last_line_is_an_error(tmp_path):
    path = make_trail(tmp_path, 2)
    path.write_bytes(path.read_bytes() + b'{"not": "a record"}\n')
    with pytest.raises(AuditSinkError, match="not a trail record"):
        AuditTrail(path).append({"action": "x"})
    assert isinstance(AuditSinkError("x"), CockpitError)


def test_directory_where_the_file_should_be(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.mkdir()
    trail = AuditTrail(path)
    with pytest.raises(AuditSinkError, match="directory"):
        trail.check_writable()
    with pytest.raises(AuditSinkError):
        trail.append({"action": "x"})


def test_directory_cannot_be_created(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("file")
    trail = AuditTrail(blocker / "cockpit" / "audit.jsonl")
    with pytest.raises(AuditSinkError, match="cannot create audit directory"):
        trail.check_writable()
    with pytest.raises(AuditSinkError):
        trail.append({"action": "x"})


def test_read_only_file(tmp_path):
    path = make_trail(tmp_path, 1)
    immutable = False
    if os.geteuid() == 0:  # root writes through mode bits: make the file immutable
        if not shutil.which("chattr") or subprocess.run(
                ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i")
        immutable = True
    else:
        path.chmod(0o444)
    try:
        with pytest.raises(AuditSinkError, match="cannot write audit trail"):
            AuditTrail(path).check_writable()
        with pytest.raises(AuditSinkError):
            AuditTrail(path).append({"action": "x"})
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o600)
    assert verify_trail(path).count == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full():
    trail = AuditTrail("/dev/full")
    with pytest.raises(AuditSinkError, match="no space left"):
        trail.append({"action": "x"})
    with pytest.raises(AuditSinkError, match="not a regular file"):
        trail.check_writable()


def test_last_record_read_without_reading_the_whole_file(tmp_path, monkeypatch):
    path = make_trail(tmp_path, 3)
    # A big but valid trail: the append must only look at its end.
    trail = AuditTrail(path, redact=False)
    for _ in range(3):
        trail.append({"action": "pad", "blob": "y" * 300_000})
    from cockpit.core.audit import trail as trail_mod

    reads: list[int] = []
    real = os.pread

    def counting_pread(fd, n, offset):
        reads.append(n)
        return real(fd, n, offset)

    monkeypatch.setattr(trail_mod.os, "pread", counting_pread)
    trail.append({"action": "last"})
    monkeypatch.undo()
    assert sum(reads) < path.stat().st_size // 2
    assert verify_trail(path).ok


WRITER = """
import sys
from cockpit.core.audit.trail import AuditTrail
trail = AuditTrail(sys.argv[1])
for i in range(int(sys.argv[3])):
    trail.append({"action": "concurrent", "writer": sys.argv[2], "i": i})
"""


def test_two_processes_append_concurrently(tmp_path):
    path = tmp_path / "audit.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "500"])
             for name in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=110) == 0
    report = verify_trail(path)
    assert report.ok, report.problem
    assert report.count == 1000
    records = [orjson.loads(line) for line in lines(path)]
    for name in ("a", "b"):
        assert [r["i"] for r in records if r["writer"] == name] == list(range(500))


def test_kill_nine_mid_append(tmp_path):
    path = tmp_path / "audit.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "k", "1000000"])
    try:
        wait_until(lambda: path.exists() and path.stat().st_size > 40_000, timeout=60,
                   what="the writer to append records")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    report = verify_trail(path)
    assert report.ok or report.torn_tail, report.problem
    before = report.count
    AuditTrail(path).append({"action": "after-crash"})
    report = verify_trail(path)
    assert report.ok, report.problem
    assert report.count >= before + 1


QUARANTINER = """
import os, sys
from cockpit.core.audit.trail import AuditTrail
path = sys.argv[1]
trail = AuditTrail(path, witness="none")
blob = b'{"seq":0,"ts":"2026-01-01T00:00:00.000000Z","action":"torn","blob":"' + b"x" * 2_000_000
i = 0
while True:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, blob + str(i).encode())  # what a writer killed mid-line leaves
    os.close(fd)
    trail.append({"action": "after", "i": i})
    i += 1
"""


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _ends_whole(path: Path) -> bool:
    data = path.read_bytes() if path.exists() else b""
    return not data or data.endswith(b"\n")


def test_kill_nine_during_quarantine(tmp_path):
    """SIGKILLs while torn lines are moved to quarantine (even rounds: as soon as the
    quarantine grows, mostly mid-write; odd rounds: once an entry is whole): every
    quarantine line stays whole and true to the bytes it took, none is copied twice, the
    trail stays valid and no break is recorded."""
    import base64
    import hashlib
    import itertools

    from cockpit.core.audit.check import check_trail
    from cockpit.core.audit.trail import BREAK_ACTION

    path = tmp_path / "audit.jsonl"
    quarantine = path.with_name("audit.jsonl.quarantine")
    for round_ in range(10):
        seen = _size(quarantine)
        proc = subprocess.Popen([sys.executable, "-c", QUARANTINER, str(path)])
        try:
            wait_until(lambda seen=seen: _size(quarantine) != seen, timeout=60,
                       interval=0.0005, what="the quarantine to grow")
            if round_ % 2:
                wait_until(lambda: _ends_whole(quarantine), timeout=60, interval=0.0005,
                           what="a whole quarantine entry")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
    AuditTrail(path, witness="none").append({"action": "after-the-kills"})
    entries = [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
    assert entries
    for entry in entries:
        raw = base64.b64decode(entry["raw_b64"])
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        assert len(raw) == entry["length"] and entry["reason"] == "crash"
    pairs = [(e["offset"], e["sha256"]) for e in entries]
    assert all(a != b for a, b in itertools.pairwise(pairs)), "copied twice"
    report = verify_trail(path)
    assert report.ok, report.problem
    actions = [orjson.loads(line)["action"] for line in lines(path)]
    assert BREAK_ACTION not in actions and actions[-1] == "after-the-kills"
    assert check_trail(path, witness_files=[]).ok


def test_torn_quarantine_line_is_replaced_by_a_whole_copy(tmp_path):
    """A writer killed while copying a torn line leaves half a quarantine line and the torn
    line still in the trail: the next writer drops the half copy and writes a whole one."""
    path = make_trail(tmp_path, 3)
    torn = b'{"seq":4,"ts":"2026-01-01T00:00:00.000000Z","action":"cut-he'
    path.write_bytes(path.read_bytes() + torn)
    quarantine = path.with_name("audit.jsonl.quarantine")
    quarantine.write_bytes(b'{"ts":"2026-01-01T00:00:00.000000Z","trail":"x","raw":"{\\"se')
    AuditTrail(path).append({"action": "next"})
    entries = [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
    assert len(entries) == 1 and entries[0]["raw"] == torn.decode()
    # Killed after the copy was fsync'd but before the cut: the same bytes are not copied
    # twice.
    path.write_bytes(path.read_bytes() + torn)
    size = len(path.read_bytes()) - len(torn)
    entry = dict(entries[0], offset=size)
    quarantine.write_bytes(orjson.dumps(entry) + b"\n")
    AuditTrail(path).append({"action": "again"})
    assert len(quarantine.read_bytes().splitlines()) == 1
