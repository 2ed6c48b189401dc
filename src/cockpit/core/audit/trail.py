"""The operator audit trail: one JSON line per action attempt, hash-chained.

File: ``$XDG_STATE_HOME/cockpit/audit.jsonl`` (``COCKPIT_AUDIT_PATH`` overrides).

Record format. ``append`` adds to the caller's fields:

* ``seq``: 1-based position in the trail;
* ``ts``: UTC time ``2026-11-22T07:45:45.123456Z`` (kept when the caller gives one);
* ``prev``: the ``hash`` of the previous record, 64 zeros for the first;
* ``hash``: SHA-256 hex of the record's canonical JSON without ``hash``: orjson with
  ``OPT_SORT_KEYS``, no whitespace, UTF-8. ``verify_trail`` recomputes it from the parsed
  line, so a record's values are normalised (JSON round trip) before hashing.

Writing. Each append opens the file ``O_APPEND``, takes an exclusive ``flock``, reads the
last record by seeking back from the end, computes the new record, writes the line with
one ``os.write``, ``fsync``s and unlocks: concurrent writers (threads or processes) never
interleave and the chain stays valid.

Sealing (``seal``). Each record also carries ``seal``, an HMAC under a key the writer
evolves and forgets; the hash covers it. The seal state ``<trail>.seal`` holds the next
key and the head the writer last wrote; the verification key is ``<trail>.verify-key``
(to be moved off the host). After each append the head goes to the witnesses
(``witness``).

Before appending, the writer compares the trail with the head it last wrote (``guard``):

* Torn tail. A last line without its newline, or that is not JSON, right after that head
  is what a crash in the middle of a write leaves. It is copied into ``<trail>.quarantine``
  (one JSON line: ``ts``, ``trail``, ``reason``, ``offset``, ``length``, ``sha256``,
  ``raw``, ``raw_b64``), cut off, and a record ``{"action": "audit-quarantine", "outcome":
  "repaired", ...}`` says so before the caller's record.
* Anything else (records deleted at the end, the file replaced or deleted, a record
  re-chained, a line cut mid-way, or a chain that does not verify: checked once per
  ``AuditTrail`` object over the last ``CHAIN_CHECK_BYTES``) is tampering: a cut line is
  quarantined with reason ``cut``, an ``audit-break`` record says what was found, and
  ``take_notices()`` returns a warning. Valid JSON that is not a trail record as the last
  line is an ``AuditSinkError``.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import stat
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cockpit.core.audit import seal
from cockpit.core.audit.guard import judge, seal_body
from cockpit.core.audit.seal import (
    SealState,
    format_seal,
    new_seed,
    read_state,
    write_state,
    write_verify_key,
)
from cockpit.core.audit.witness import Witness, checkpoint, configured
from cockpit.core.errors import CockpitError

if TYPE_CHECKING:
    from cockpit.core.redact import Redactor

GENESIS = "0" * 64
QUARANTINE_ACTION = "audit-quarantine"
BREAK_ACTION = "audit-break"
_MAX_NOTICES = 20
#: The writer checks the chain of at most this many bytes at the end of the trail (once
#: per ``AuditTrail`` object): ~25,000 records, ~0.2 s. ``audit verify`` checks it all.
CHAIN_CHECK_BYTES = 16 * 1024 * 1024
_CHUNK = 65_536
_HEX = frozenset("0123456789abcdef")


class AuditSinkError(CockpitError):
    """The audit trail cannot be written; no action may run."""

    exit_code = 1


def default_trail_path() -> Path:
    """``COCKPIT_AUDIT_PATH``, else ``audit.jsonl`` in the user's state dir (XDG_STATE_HOME)."""
    override = os.environ.get("COCKPIT_AUDIT_PATH")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("cockpit")) / "audit.jsonl"


def utc_now() -> str:
    """Current UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: Mapping[str, Any]) -> bytes:
    """Canonical JSON of ``record`` without ``hash``: sorted keys, no spaces, UTF-8."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex of ``canonical(record)``."""
    return hashlib.sha256(canonical(record)).hexdigest()


def _normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON round trip, so what is hashed is exactly what a reader parses back."""
    try:
        raw = orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # e.g. an int beyond 64 bits
        raise AuditSinkError(f"audit record is not serialisable: {exc}") from None
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise AuditSinkError("audit record must be a JSON object")
    return value


def _is_record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("hash"), str)
        and len(value["hash"]) == 64
        and set(value["hash"]) <= _HEX
        and isinstance(value.get("seq"), int)
        and not isinstance(value.get("seq"), bool)
    )


@dataclass(frozen=True, slots=True)
class _Tail:
    """The end of the trail: the last good record and a torn line after it, if any."""

    last: dict[str, Any] | None
    torn_offset: int | None  # where the torn line starts
    size: int


def _read_tail(fd: int, size: int) -> _Tail:
    """The last good record and a torn line after it, reading backwards from the end."""
    if size == 0:
        return _Tail(None, None, 0)
    start, line = _line_ending_at(fd, size)
    if os.pread(fd, 1, size - 1) == b"\n":
        value = _parse(line)
        if _is_record(value):
            return _Tail(value, None, size)
        if value is not None:
            raise AuditSinkError(
                f"audit trail {_name(fd)}: the last line is not a trail record; "
                "run 'cockpit audit verify' and repair it by hand"
            )
    # No newline, or not JSON: what a crash in the middle of a write leaves.
    if start == 0:
        return _Tail(None, 0, size)
    value = _parse(_line_ending_at(fd, start)[1])
    if not _is_record(value):
        raise AuditSinkError(
            f"audit trail {_name(fd)}: the line before the torn last line is not a trail "
            "record; run 'cockpit audit verify' and repair it by hand"
        )
    return _Tail(value, start, size)


def _parse(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _line_ending_at(fd: int, end: int) -> tuple[int, bytes]:
    """Start offset and bytes (without its newline) of the line that ends at ``end``.

    ``end`` is the file size or an offset just after a newline. Reads backwards in chunks,
    so only the last line is read however big the file is.
    """
    stop = end - 1 if end and os.pread(fd, 1, end - 1) == b"\n" else end
    pos = stop
    data = b""
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
        cut = data.rfind(b"\n")
        if cut != -1:
            return pos + cut + 1, data[cut + 1 :]
    return 0, data


def _name(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "(trail)"


class AuditTrail:
    """Append-only, hash-chained JSON-lines file of operator actions."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 redactor: Redactor | None = None, redact: bool = True,
                 witness: str | None = None) -> None:
        """``redactor`` hides secrets in every record before it is hashed (default: one that
        knows this process's environment); ``redact=False`` stores records as given;
        ``witness`` lists checkpoint witnesses (default ``$COCKPIT_AUDIT_WITNESS``, see
        ``witness``)."""
        self.path = Path(path) if path is not None else default_trail_path()
        self.quarantine_path = self.path.with_name(self.path.name + ".quarantine")
        self._redactor = redactor
        self._redact = redact
        self.state_path = seal.state_path(self.path)
        self._witness_spec = witness
        self._witnesses: list[Witness] | None = None
        self._lock = threading.Lock()  # flock is per open file; this serialises threads too
        self._notices: list[str] = []
        self._chain_checked = False
        #: the verification key file this object created (sealing started), if any
        self.key_created: Path | None = None

    # --- writing -------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise ``AuditSinkError`` if a record could not be appended right now."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditSinkError(
                f"cannot create audit directory {self.path.parent}: {_why(exc)}"
            ) from None
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditSinkError(f"cannot write audit trail {self.path}: {_why(exc)}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise AuditSinkError(f"audit trail {self.path} is not a regular file")
        finally:
            os.close(fd)

    def append(self, record: Mapping[str, Any], *, redacted: bool = False) -> dict[str, Any]:
        """Append ``record`` (with ``seq``, ``ts``, ``prev``, ``hash`` set) and return it.

        ``redacted=True``: the caller built the record through the boundary already
        (``Boundary(redactor).obj``, as ``ActionRunner`` does with the redactor that
        knows the action's secrets), so it is not passed again. Blocking (``fsync``):
        async code calls it in a thread (``ActionRunner`` has one writer thread).
        """
        body = dict(record)
        for key in ("seq", "prev", "hash", "seal"):
            body.pop(key, None)
        if self._redact and not redacted:
            redactor = self._redactor
            if redactor is None:
                from cockpit.core.redact import default_redactor

                redactor = default_redactor()
            from cockpit.core.boundary import Boundary

            # outside text in a record (a param, a command, an output line) through the
            # boundary: secrets hidden, escapes visible even to `jq -r`, lengths bounded
            body = Boundary(redactor).obj(body)
        ts = body.pop("ts", None) or utc_now()
        with self._lock:
            try:
                return self._append_locked(ts, body)
            except AuditSinkError:
                raise
            except OSError as exc:
                raise AuditSinkError(
                    f"cannot write audit trail {self.path}: {_why(exc)}"
                ) from None

    def take_notices(self) -> list[str]:
        """Warnings since the last call: tampering found and recorded, a witness failing."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def _notice(self, text: str) -> None:
        self._notices.append(text)
        del self._notices[:-_MAX_NOTICES]

    def _append_locked(self, ts: str, body: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            info = os.fstat(fd)
            tail = _read_tail(fd, info.st_size)
            regular = stat.S_ISREG(info.st_mode)
            if regular:
                result = self._append_sealed(fd, tail, ts, body)
            else:  # e.g. /dev/full: no seal state or witness for it
                result = self._write(fd, tail.last, None, ts, body)[0]
        finally:
            os.close(fd)  # releases the flock
        if created:
            _fsync_dir(self.path.parent)
        if regular:
            self._checkpoint(result)
        return result

    def _append_sealed(self, fd: int, tail: _Tail, ts: str,
                       body: dict[str, Any]) -> dict[str, Any]:
        last = tail.last
        state, breaks = self._load_state(tail)
        verdict = judge(state, last, tail.torn_offset)
        if verdict.kind == "adopt" and last is not None:  # killed before saving the state
            state = state.advanced(last["seq"], last["hash"], tail.torn_offset or tail.size)
            self._save_state(state)
        elif verdict.kind == "tampered":
            breaks.append(verdict.detail)
        chain = self._chain_problem(state)
        if chain is not None:
            breaks.append(f"the chain does not verify: {chain}")
            state = replace(state, acknowledged=_digest(chain))
        extra: dict[str, Any] = {}
        if tail.torn_offset is not None:
            note = self._quarantine(fd, tail.torn_offset, tail.size,
                                    reason="cut" if breaks else "crash")
            if breaks:  # not a crash: the break record says what was moved away
                extra = {k: v for k, v in note.items() if k.startswith("quarantined")}
            else:
                last, state = self._write(fd, last, state, utc_now(), note)
        if breaks:
            found = {"seq": last["seq"], "hash": last["hash"]} if last else None
            detail = "; ".join(breaks)
            record = {"action": BREAK_ACTION, "status": "break", "outcome": "tampered",
                      "detail": detail, "expected_head": {"seq": state.head_seq,
                                                          "hash": state.head_hash},
                      "found_head": found, **extra}
            last, state = self._write(fd, last, state, utc_now(), record)
            self._notice(f"audit trail {self.path} was tampered with: {detail}; recorded as "
                         f"seq {last['seq']}, run 'cockpit audit verify'")
        return self._write(fd, last, state, ts, body)[0]

    def _load_state(self, tail: _Tail) -> tuple[SealState, list[str]]:
        """The seal state; a new one (and a verification key file) if there is none."""
        try:
            state = read_state(self.state_path)
        except ValueError as exc:
            raise AuditSinkError(
                f"audit seal state {self.state_path} is unreadable ({exc}); it was tampered "
                "with: run 'cockpit audit verify --key KEY', then 'cockpit audit init "
                "--force' to start a new seal"
            ) from None
        if state is not None:
            return state, []
        breaks: list[str] = []
        last = tail.last
        if last is not None and "seal" in last:
            breaks.append("the seal state is gone but the trail is sealed: a new "
                          "verification key starts here")
        seed = new_seed()
        self.key_created = write_verify_key(self.path, seed)
        end = tail.torn_offset if tail.torn_offset is not None else tail.size
        state = SealState(0, seed, last["seq"] if last else 0, last["hash"] if last else "",
                          end if last else 0)
        self._save_state(state)
        return state, breaks

    def _save_state(self, state: SealState) -> None:
        try:
            write_state(self.state_path, state)
        except OSError as exc:  # the record is written; the next writer adopts it
            self._notice(f"cannot save the audit seal state {self.state_path}: {_why(exc)}")

    def _chain_problem(self, state: SealState) -> str | None:
        """Once per trail object: the chain's first problem, if not yet recorded (the
        whole chain, or its last ``CHAIN_CHECK_BYTES`` of a bigger trail)."""
        if self._chain_checked:
            return None
        self._chain_checked = True
        size = self.path.stat().st_size
        report = verify_trail(self.path, start=max(0, size - CHAIN_CHECK_BYTES))
        if report.ok or report.torn_tail or report.problem is None:
            return None
        if _digest(report.problem) == state.acknowledged:
            return None
        return report.problem

    def _checkpoint(self, record: dict[str, Any]) -> None:
        try:
            if self._witnesses is None:
                self._witnesses = configured(self.path, self._witness_spec)
            witnesses = self._witnesses
        except ValueError as exc:
            self._notice(str(exc))
            return
        point = checkpoint(self.path, record, utc_now())
        for witness in witnesses:
            try:
                witness.send(point)
            except (OSError, subprocess.SubprocessError) as exc:
                self._notice(f"audit witness {witness.describe()} failed: {exc}")

    def _write(self, fd: int, last: dict[str, Any] | None, state: SealState | None, ts: str,
               body: dict[str, Any]) -> tuple[dict[str, Any], SealState | None]:
        rec: dict[str, Any] = {"seq": (last["seq"] + 1) if last else 1, "ts": ts}
        rec.update(body)
        rec["prev"] = last["hash"] if last else GENESIS
        rec = _normalise(rec)
        if state is not None:
            rec["seal"] = format_seal(state.index, state.key, seal_body(rec))
        rec["hash"] = record_hash(rec)
        line = orjson.dumps(rec) + b"\n"
        before = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, "short write (disk full?)")
            os.fsync(fd)
        except OSError:
            try:  # leave no torn line behind
                os.ftruncate(fd, before)
            except OSError:
                pass
            raise
        if state is not None:
            state = state.advanced(rec["seq"], rec["hash"], before + len(line))
            self._save_state(state)
        return rec, state

    def _quarantine(self, fd: int, offset: int, size: int, *, reason: str) -> dict[str, Any]:
        """Copy the torn line into the quarantine file (whole, fsync'd), then cut it off.

        A kill in the middle leaves the torn line in the trail, so the next writer copies
        it again: a torn quarantine line is dropped first, a complete copy of the same
        bytes is not written twice.
        """
        raw = os.pread(fd, size - offset, offset)
        entry = {
            "ts": utc_now(),
            "trail": str(self.path),
            "reason": reason,
            "offset": offset,
            "length": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "raw": raw.decode("utf-8", errors="replace"),
            "raw_b64": base64.b64encode(raw).decode("ascii"),
        }
        qfd = os.open(self.quarantine_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            qsize = os.fstat(qfd).st_size
            start, last_line = _line_ending_at(qfd, qsize)
            if qsize and os.pread(qfd, 1, qsize - 1) != b"\n":
                os.ftruncate(qfd, start)  # a copy torn by a kill: the trail still has it
                last_line = _line_ending_at(qfd, start)[1] if start else b""
            previous = _parse(last_line) if last_line else None
            if not (isinstance(previous, dict) and previous.get("offset") == offset
                    and previous.get("sha256") == entry["sha256"]):
                line = orjson.dumps(entry) + b"\n"
                if os.write(qfd, line) != len(line):
                    raise OSError(errno.ENOSPC, "short write to the quarantine (disk full?)")
            os.fsync(qfd)
        finally:
            os.close(qfd)
        os.ftruncate(fd, offset)
        os.fsync(fd)
        return {
            "action": QUARANTINE_ACTION,
            "outcome": "repaired",
            "detail": f"torn last line ({len(raw)} bytes at offset {offset}) moved to "
                      f"{self.quarantine_path.name}",
            "quarantined_sha256": entry["sha256"],
            "quarantined_bytes": len(raw),
        }

    # --- reading -------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """Every parseable record, oldest first (malformed lines are skipped)."""
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for line in fh:
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    yield value

    def verify(self) -> VerifyReport:
        return verify_trail(self.path)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EISDIR:
        return "it is a directory"
    return exc.strerror or str(exc)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fsync_dir(path: Path) -> None:
    try:
        dfd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of ``verify_trail``."""

    ok: bool
    count: int  #: records read (up to the first problem)
    first_bad_line: int | None = None
    problem: str | None = None
    torn_tail: bool = False


def verify_trail(path: str | os.PathLike[str], *, start: int = 0) -> VerifyReport:
    """Check every record's hash and the chain; name the first bad line.

    Detects edited records (hash mismatch), deleted, inserted and reordered records (seq
    and prev), and a torn last line (reported with ``torn_tail=True``). Deleting records
    from the end cannot be detected from the file alone (``check.check_trail`` can, with a
    key, a checkpoint or the seal state). Raises ``FileNotFoundError`` if there is no file.
    ``start``: check only from the first line that begins at or after this byte (line
    numbers then count from there; the first record's ``prev`` is taken as given).
    """
    path = Path(path)
    count = 0
    prev_hash: str | None = GENESIS
    prev_seq = 0
    with path.open("rb") as fh:
        lineno = 0
        if start > 0:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                fh.readline()  # the rest of a line that began before ``start``
            prev_hash = None
        line = fh.readline()
        while line:
            lineno += 1
            nxt = fh.readline()
            is_last = not nxt
            if is_last and not line.endswith(b"\n"):
                return _torn(count, lineno, "has no newline (incomplete write)")
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                if is_last:
                    return _torn(count, lineno, "is not valid JSON (incomplete write)")
                return _bad(count, lineno, "not valid JSON")
            if not _is_record(rec):
                return _bad(count, lineno, "not an audit record (no seq or hash)")
            if record_hash(rec) != rec["hash"]:
                return _bad(count, lineno, "hash does not match its content (edited?)")
            if prev_hash is None:  # checking from the middle: take the first link as given
                prev_hash, prev_seq = rec.get("prev"), rec["seq"] - 1
            if rec.get("prev") != prev_hash:
                if lineno == 1:
                    what = "prev is not the start of a chain (records deleted before it?)"
                else:
                    what = (f"prev does not match line {lineno - 1}'s hash "
                            "(deleted, inserted or reordered?)")
                return _bad(count, lineno, what)
            if rec["seq"] != prev_seq + 1:
                return _bad(count, lineno, f"seq {rec['seq']} where {prev_seq + 1} was expected "
                                           "(deleted, inserted or reordered?)")
            count += 1
            prev_hash = rec["hash"]
            prev_seq = rec["seq"]
            line = nxt
    return VerifyReport(ok=True, count=count)


def _bad(count: int, lineno: int, what: str) -> VerifyReport:
    return VerifyReport(False, count, lineno, f"line {lineno}: {what}")


def _torn(count: int, lineno: int, what: str) -> VerifyReport:
    return VerifyReport(
        False, count, lineno,
        f"line {lineno}: torn last line: {what}; the next append moves it to quarantine",
        torn_tail=True,
    )
