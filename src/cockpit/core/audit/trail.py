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

Torn tail. A last line without its newline, or that is not JSON, is what a crash in the
middle of a write leaves. The next writer copies it into ``<trail>.quarantine`` (one JSON
line: ``ts``, ``trail``, ``offset``, ``length``, ``sha256``, ``raw`` text, ``raw_b64``),
truncates it off, appends a record ``{"action": "audit-quarantine", "outcome":
"repaired", ...}`` saying so, then the caller's record. Anything else wrong with the last
line (valid JSON that is not a trail record) is an ``AuditSinkError``: that is not a crash
but tampering, and ``cockpit audit verify`` tells where.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import stat
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cockpit.core.errors import CockpitError

if TYPE_CHECKING:
    from cockpit.core.redact import Redactor

GENESIS = "0" * 64
QUARANTINE_ACTION = "audit-quarantine"
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
                 redactor: Redactor | None = None, redact: bool = True) -> None:
        """``redactor`` hides secrets in every record before it is hashed (default: one that
        knows this process's environment); ``redact=False`` stores records as given."""
        self.path = Path(path) if path is not None else default_trail_path()
        self.quarantine_path = self.path.with_name(self.path.name + ".quarantine")
        self._redactor = redactor
        self._redact = redact
        self._lock = threading.Lock()  # flock is per open file; this serialises threads too

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

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append ``record`` (with ``seq``, ``ts``, ``prev``, ``hash`` set) and return it."""
        body = dict(record)
        for key in ("seq", "prev", "hash"):
            body.pop(key, None)
        if self._redact:
            redactor = self._redactor
            if redactor is None:
                from cockpit.core.redact import default_redactor

                redactor = default_redactor()
            body = redactor.redact_obj(body)
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

    def _append_locked(self, ts: str, body: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            tail = _read_tail(fd, size)
            last = tail.last
            if tail.torn_offset is not None:
                note = self._quarantine(fd, tail.torn_offset, size)
                last = self._write(fd, last, utc_now(), note)
            result = self._write(fd, last, ts, body)
        finally:
            os.close(fd)  # releases the flock
        if created:
            _fsync_dir(self.path.parent)
        return result

    def _write(self, fd: int, last: dict[str, Any] | None, ts: str,
               body: dict[str, Any]) -> dict[str, Any]:
        rec: dict[str, Any] = {"seq": (last["seq"] + 1) if last else 1, "ts": ts}
        rec.update(body)
        rec["prev"] = last["hash"] if last else GENESIS
        rec = _normalise(rec)
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
        return rec

    def _quarantine(self, fd: int, offset: int, size: int) -> dict[str, Any]:
        raw = os.pread(fd, size - offset, offset)
        entry = {
            "ts": utc_now(),
            "trail": str(self.path),
            "offset": offset,
            "length": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "raw": raw.decode("utf-8", errors="replace"),
            "raw_b64": base64.b64encode(raw).decode("ascii"),
        }
        qfd = os.open(self.quarantine_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(qfd, orjson.dumps(entry) + b"\n")
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


def verify_trail(path: str | os.PathLike[str]) -> VerifyReport:
    """Check every record's hash and the chain; name the first bad line.

    Detects edited records (hash mismatch), deleted, inserted and reordered records (seq
    and prev), and a torn last line (reported with ``torn_tail=True``). Deleting records
    from the end cannot be detected from the file alone. Raises ``FileNotFoundError`` if
    there is no file.
    """
    path = Path(path)
    count = 0
    prev_hash = GENESIS
    prev_seq = 0
    with path.open("rb") as fh:
        lineno = 0
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
