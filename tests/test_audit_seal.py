"""Sealing, checkpoints and the writer's head check: tampering by someone who can write the
trail is detected with the verification key, with a witness checkpoint, or through the
seal state; what cannot be checked is said."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cockpit.core.audit import seal
from cockpit.core.audit.check import check_trail
from cockpit.core.audit.trail import (
    BREAK_ACTION,
    GENESIS,
    QUARANTINE_ACTION,
    AuditTrail,
    record_hash,
    verify_trail,
)
from cockpit.core.audit.witness import default_witness_file

N = 10


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in lines(path)]


def make(tmp_path: Path, n: int = N) -> AuditTrail:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    for i in range(n):
        trail.append({"action": f"act-{i}", "outcome": "ok"})
    return trail


def rechain(items: list[dict]) -> list[bytes]:
    """What an attacker without the key can do: recompute seq, prev and hash."""
    out, prev = [], GENESIS
    for seq, rec in enumerate(items, 1):
        rec = dict(rec, seq=seq, prev=prev)
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
        out.append(orjson.dumps(rec) + b"\n")
    return out


# --- the kinds of tampering ---------------------------------------------------------------


def delete_last(path: Path) -> None:
    path.write_bytes(b"".join(lines(path)[:-3]))


def replace_shorter(path: Path) -> None:
    fake = [{"ts": "2026-01-01T00:00:00.000000Z", "action": f"fake-{i}"} for i in range(4)]
    path.write_bytes(b"".join(rechain(fake)))


def delete_file(path: Path) -> None:
    path.unlink()


def edit_rechain(path: Path) -> None:
    items = records(path)
    items[3]["outcome"] = "forged"
    path.write_bytes(b"".join(rechain(items)))


def cut_mid_line(path: Path) -> None:
    items = lines(path)
    keep = sum(len(x) for x in items[:6]) + len(items[6]) // 2
    with path.open("r+b") as fh:
        fh.truncate(keep)


def append_onto_broken(path: Path) -> None:
    items = lines(path)
    items[3] = items[3].replace(b'"outcome":"ok"', b'"outcome":"forged"')
    path.write_bytes(b"".join(items))
    AuditTrail(path).append({"action": "after-the-edit"})


def append_rechained(path: Path) -> None:
    """A record added at the end with a valid chain (but no seal the attacker can make)."""
    last = records(path)[-1]
    rec = {"seq": last["seq"] + 1, "ts": last["ts"], "action": "added", "prev": last["hash"]}
    rec["hash"] = record_hash(rec)
    with path.open("ab") as fh:
        fh.write(orjson.dumps(rec) + b"\n")


KINDS = [delete_last, replace_shorter, delete_file, edit_rechain, cut_mid_line,
         append_onto_broken, append_rechained]


def check(path: Path, mode: str):
    key = seal.load_verify_key(str(seal.key_path(path)))
    keys = [key] if mode == "key" else []
    witness = [default_witness_file(path)] if mode == "checkpoint" else []
    return check_trail(path, keys=keys, witness_files=witness,
                       use_state=mode in ("key", "state"))


@pytest.mark.parametrize("mode", ["key", "checkpoint", "state", "none"])
@pytest.mark.parametrize("tamper", KINDS, ids=lambda f: f.__name__)
def test_tamper_table(tmp_path, tamper, mode):
    """Each kind x (key / checkpoint / seal state only / nothing): detected or not."""
    trail = make(tmp_path)
    assert check(trail.path, mode).ok
    tamper(trail.path)
    result = check(trail.path, mode)
    undetectable = mode == "none" and tamper in (delete_last, replace_shorter, delete_file,
                                                  edit_rechain)
    if undetectable:
        assert result.ok
        assert result.unchecked, "it must say what it could not check"
    else:
        assert not result.ok, (tamper.__name__, mode)
        assert result.problems or result.torn_tail


def test_key_detects_truncation_when_the_state_is_deleted_too(tmp_path):
    trail = make(tmp_path)
    delete_last(trail.path)
    trail.state_path.unlink()
    key = seal.load_verify_key(str(seal.key_path(trail.path)))
    result = check_trail(trail.path, keys=[key], witness_files=[])
    assert not result.ok and any("seal state is missing" in p for p in result.problems)


def test_nothing_to_check_against_is_said(tmp_path):
    trail = make(tmp_path, 3)
    result = check_trail(trail.path, keys=[], witness_files=[], use_state=False)
    assert result.ok
    text = " ".join(result.unchecked)
    assert "no verification key" in text and "no checkpoint" in text


def test_attacker_with_the_seal_state_cannot_reseal_the_past(tmp_path):
    """The state holds only the next key: resealing an old record with it leaves a gap."""
    trail = make(tmp_path)
    state = seal.read_state(trail.state_path)
    items = records(trail.path)[:-1]
    items[-1]["outcome"] = "forged"
    items[-1].pop("hash")
    items[-1]["seal"] = seal.format_seal(state.index, state.key,
                                         orjson.dumps({k: v for k, v in items[-1].items()
                                                       if k != "seal"},
                                                      option=orjson.OPT_SORT_KEYS))
    items[-1]["hash"] = record_hash(items[-1])
    trail.path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in items))
    seal.write_state(trail.state_path, state.advanced(items[-1]["seq"], items[-1]["hash"],
                                                      trail.path.stat().st_size))
    key = seal.load_verify_key(str(seal.key_path(trail.path)))
    result = check_trail(trail.path, keys=[key], witness_files=[])
    assert not result.ok
    assert any("are missing" in p for p in result.problems), result.problems


def test_old_keys_are_gone_from_the_host(tmp_path):
    trail = make(tmp_path, 3)
    seed = seal.load_verify_key(str(seal.key_path(trail.path)))
    state_bytes = trail.state_path.read_bytes()
    assert seal.read_state(trail.state_path).key == seal.evolve(seed, 3)
    for i in range(3):
        assert seal.evolve(seed, i).hex().encode() not in state_bytes
    assert oct(seal.key_path(trail.path).stat().st_mode & 0o777) == "0o600"


# --- the writer ------------------------------------------------------------------------------


def test_cut_mid_line_is_recorded_not_repaired(tmp_path):
    trail = make(tmp_path)
    cut_mid_line(trail.path)
    AuditTrail(trail.path).append({"action": "next"})
    recs = records(trail.path)
    assert [r["action"] for r in recs[-2:]] == [BREAK_ACTION, "next"]
    assert not any(r["action"] == QUARANTINE_ACTION for r in recs)
    brk = recs[-2]
    assert brk["expected_head"]["seq"] == N and brk["found_head"]["seq"] == 6
    assert "cut mid-line" in brk["detail"] and brk["quarantined_bytes"] > 0
    entry = orjson.loads(trail.quarantine_path.read_bytes())
    assert entry["reason"] == "cut"
    assert verify_trail(trail.path).ok  # the chain goes on, the break is in it
    assert not check_trail(trail.path).ok


def test_crash_torn_tail_is_still_repaired(tmp_path):
    trail = make(tmp_path, 3)
    with trail.path.open("ab") as fh:
        fh.write(b'{"seq":4,"ts":"2026-')
    rec = AuditTrail(trail.path).append({"action": "next"})
    recs = records(trail.path)
    assert [r["action"] for r in recs[-2:]] == [QUARANTINE_ACTION, "next"] and rec["seq"] == 5
    assert orjson.loads(trail.quarantine_path.read_bytes())["reason"] == "crash"
    assert check_trail(trail.path).ok


def test_append_onto_broken_chain_records_a_break_once(tmp_path):
    trail = make(tmp_path)
    append_onto_broken(trail.path)
    recs = records(trail.path)
    assert [r["action"] for r in recs[-2:]] == [BREAK_ACTION, "after-the-edit"]
    assert "the chain does not verify: line 4" in recs[-2]["detail"]
    again = AuditTrail(trail.path)
    again.append({"action": "later"})
    assert [r["action"] for r in records(trail.path)].count(BREAK_ACTION) == 1
    assert again.take_notices() == []


def test_the_writer_warns_about_tampering(tmp_path):
    trail = make(tmp_path)
    delete_last(trail.path)
    writer = AuditTrail(trail.path)
    writer.append({"action": "next"})
    notices = writer.take_notices()
    assert len(notices) == 1 and "tampered with" in notices[0]
    assert "records deleted at the end" in notices[0]
    assert writer.take_notices() == []


def test_deleted_trail_is_recorded_when_written_again(tmp_path):
    trail = make(tmp_path)
    trail.path.unlink()
    rec = AuditTrail(trail.path).append({"action": "next"})
    first = records(trail.path)[0]
    assert first["action"] == BREAK_ACTION and "empty or gone" in first["detail"]
    assert rec["seq"] == 2


def test_killed_between_record_and_state_is_not_tampering(tmp_path):
    trail = make(tmp_path, 4)
    saved = trail.state_path.read_bytes()
    trail.append({"action": "written-but-state-not-saved"})
    trail.state_path.write_bytes(saved)
    key = seal.load_verify_key(str(seal.key_path(trail.path)))
    assert check_trail(trail.path, keys=[key]).ok
    AuditTrail(trail.path).append({"action": "next"})
    assert BREAK_ACTION not in [r["action"] for r in records(trail.path)]
    assert check_trail(trail.path, keys=[key]).ok


def test_lost_seal_state_starts_a_new_key_and_says_so(tmp_path):
    trail = make(tmp_path, 3)
    old_key = seal.load_verify_key(str(seal.key_path(trail.path)))
    trail.state_path.unlink()
    writer = AuditTrail(trail.path)
    writer.append({"action": "next"})
    assert writer.key_created is not None and writer.key_created != seal.key_path(trail.path)
    assert records(trail.path)[-2]["action"] == BREAK_ACTION
    result = check_trail(trail.path, keys=[old_key])
    assert not result.ok


def test_legacy_unsealed_trail_starts_sealing(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"".join(rechain([{"ts": "2026-01-01T00:00:00.000000Z", "action": "old"}
                                       for _ in range(3)])))
    AuditTrail(path).append({"action": "new"})
    key = seal.load_verify_key(str(seal.key_path(path)))
    result = check_trail(path, keys=[key])
    assert result.ok, result.problems
    assert any("before sealing began" in c for c in result.checked)


def test_witness_kinds(tmp_path):
    out = tmp_path / "cmd-witness.jsonl"
    script = tmp_path / "w.sh"
    script.write_text(f"#!/bin/sh\ncat >> {out}\n")
    script.chmod(0o755)
    wfile = tmp_path / "elsewhere" / "w.checkpoints"
    trail = AuditTrail(tmp_path / "audit.jsonl",
                       witness=f"file:{wfile}; cmd:{script}; syslog:{tmp_path}/no-socket")
    rec = trail.append({"action": "a"})
    point = orjson.loads(wfile.read_bytes())
    assert (point["seq"], point["hash"], point["seal"]) == (1, rec["hash"], rec["seal"])
    assert orjson.loads(out.read_bytes())["hash"] == rec["hash"]
    notices = trail.take_notices()
    assert len(notices) == 1 and "syslog" in notices[0]


def test_witness_http(tmp_path):
    import http.server
    import threading

    got: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        trail = AuditTrail(tmp_path / "a.jsonl",
                           witness=f"http://127.0.0.1:{server.server_port}/cp")
        rec = trail.append({"action": "a"})
    finally:
        server.shutdown()
        server.server_close()
    assert orjson.loads(got[0])["hash"] == rec["hash"]


def test_cli_verify_reports_and_json(tmp_path):
    trail = make(tmp_path)
    key_file = tmp_path / "offhost.key"
    os.replace(seal.key_path(trail.path), key_file)
    delete_last(trail.path)
    env = dict(os.environ, COCKPIT_AUDIT_WITNESS="none")
    run = [sys.executable, "-m", "cockpit.cli.audit_cmd", "verify", str(trail.path)]
    out = subprocess.run([*run, "--key", str(key_file), "--witness", "none"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert "were deleted" in out.stdout
    out = subprocess.run([*run, "--key", str(key_file), "--json"], capture_output=True,
                         text=True, env=env, timeout=60)
    doc = orjson.loads(out.stdout)
    assert out.returncode == 1 and doc["ok"] is False and doc["problems"]
    trail.state_path.unlink()
    out = subprocess.run([*run, "--witness", "none"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0
    assert "NOT CHECKED: seals: no verification key" in out.stdout


def test_cli_init_prints_the_key(tmp_path):
    path = tmp_path / "t.jsonl"
    run = [sys.executable, "-m", "cockpit.cli.audit_cmd", "init", str(path)]
    out = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    key = seal.key_path(path).read_text().strip()
    assert key in out.stdout and "OFF this host" in out.stdout
    again = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already" in again.stdout


def test_the_writer_checks_the_end_of_a_big_trail(tmp_path, monkeypatch):
    """Above CHAIN_CHECK_BYTES the writer checks only the chain's last bytes (a bounded
    cost per cockpit start); ``check_trail`` still checks all of it."""
    from cockpit.core.audit import trail as trail_mod

    trail = make(tmp_path, 30)
    size = trail.path.stat().st_size
    monkeypatch.setattr(trail_mod, "CHAIN_CHECK_BYTES", size // 3)
    items = lines(trail.path)
    items[2] = items[2].replace(b'"outcome":"ok"', b'"outcome":"old-edit"')
    items[27] = items[27].replace(b'"outcome":"ok"', b'"outcome":"new-edit"')
    trail.path.write_bytes(b"".join(items))
    AuditTrail(trail.path).append({"action": "next"})
    brk = records(trail.path)[-2]
    assert brk["action"] == BREAK_ACTION and "hash does not match" in brk["detail"]
    assert verify_trail(trail.path).first_bad_line == 3
    assert verify_trail(trail.path, start=size - size // 3).ok is False


def test_checkpoints_catch_records_written_again_after_a_truncation(tmp_path):
    """Records deleted at the end and the trail appended to again: the newest checkpoint
    matches, the earlier ones do not."""
    trail = make(tmp_path)
    delete_last(trail.path)
    trail.state_path.unlink()  # the attacker also removed the writer's memory of its head
    writer = AuditTrail(trail.path)
    for i in range(5):
        writer.append({"action": f"later-{i}"})
    result = check_trail(trail.path, keys=[], witness_files=[default_witness_file(trail.path)],
                         use_state=False)
    assert not result.ok
    assert any("differ from their checkpoints" in p for p in result.problems), result.problems
