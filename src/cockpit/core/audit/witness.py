"""Checkpoints of the trail's head, written outside the trail (after transparency logs).

After each append the writer sends a checkpoint ``{"ts", "trail", "seq", "hash", "seal"}``
(the head record's seal: a checkpoint is as authentic as the head) to every witness.
``cockpit audit verify`` reads the checkpoints of a file witness: the trail must still
hold each of those records with that hash, or records were deleted, replaced or re-chained.

``COCKPIT_AUDIT_WITNESS`` lists witnesses separated by ``;``:

* ``file:PATH``: one JSON line per checkpoint, appended with one write (not fsync'd: a
  crash may lose the last checkpoints, which only makes the witness lag behind);
* ``syslog`` or ``syslog:SOCKET``: a datagram to ``/dev/log`` (journald or syslog keep it);
* ``cmd:COMMAND``: run ``COMMAND`` (shlex-split, no shell) with the checkpoint on stdin;
* ``http://...`` / ``https://...``: POST the checkpoint as JSON;
* ``none``: no witness.

Default: a file in ``$XDG_STATE_HOME/cockpit-witness/`` (a different directory from the
trail), plus syslog when ``/dev/log`` exists. A witness that fails is reported, the append
is not refused: the record is on disk already.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ENV = "COCKPIT_AUDIT_WITNESS"
DEV_LOG = "/dev/log"
_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Witness:
    """One place checkpoints go: ``kind`` is file, syslog, cmd or http."""

    kind: str
    target: str

    def describe(self) -> str:
        return f"{self.kind}:{self.target}"

    def send(self, checkpoint: Mapping[str, Any]) -> None:
        """Deliver one checkpoint; ``OSError`` (or ``subprocess`` errors) if it failed."""
        line = orjson.dumps(checkpoint)
        if self.kind == "file":
            _append_line(Path(self.target), line)
        elif self.kind == "syslog":
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # authpriv.info: kept by journald and by the usual syslog setups
                sock.sendto(b"<86>cockpit-audit: checkpoint " + line, self.target)
        elif self.kind == "cmd":
            subprocess.run(shlex.split(self.target), input=line + b"\n", check=True,
                           timeout=_TIMEOUT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        elif self.kind == "http":
            import urllib.request  # (~8 ms with email and http.client: only for this kind)

            request = urllib.request.Request(
                self.target, data=line, method="POST",
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                response.read()
        else:
            raise OSError(f"unknown witness kind {self.kind!r}")


def default_witness_file(trail: Path) -> Path:
    """``$XDG_STATE_HOME/cockpit-witness/<trail name>-<digest of its path>.checkpoints``."""
    import platformdirs

    digest = hashlib.sha256(str(trail.resolve()).encode()).hexdigest()[:12]
    return Path(platformdirs.user_state_dir("cockpit-witness")) / (
        f"{trail.name}-{digest}.checkpoints")


def configured(trail: Path, spec: str | None = None) -> list[Witness]:
    """The witnesses of ``trail``: ``spec`` (or ``$COCKPIT_AUDIT_WITNESS``), else default."""
    spec = os.environ.get(ENV) if spec is None else spec
    if spec is None or not spec.strip():
        found = [Witness("file", str(default_witness_file(trail)))]
        if os.path.exists(DEV_LOG):
            found.append(Witness("syslog", DEV_LOG))
        return found
    result: list[Witness] = []
    for part in (p.strip() for p in spec.split(";")):
        if not part or part == "none":
            continue
        if part.startswith(("http://", "https://")):
            result.append(Witness("http", part))
        elif part == "syslog":
            result.append(Witness("syslog", DEV_LOG))
        else:
            kind, sep, target = part.partition(":")
            if not sep or kind not in ("file", "syslog", "cmd") or not target:
                raise ValueError(f"{ENV}: not a witness: {part!r}")
            if kind == "file":
                target = str(Path(target).expanduser())
            result.append(Witness(kind, target))
    return result


def checkpoint(trail: Path, record: Mapping[str, Any], ts: str) -> dict[str, Any]:
    """The checkpoint of ``trail`` whose head is ``record``."""
    return {"ts": ts, "trail": str(trail.resolve()), "seq": record["seq"],
            "hash": record["hash"], "seal": record.get("seal")}


def points(witness_file: Path, trail: Path) -> dict[int, str]:
    """Every checkpoint of ``trail`` in ``witness_file``: seq -> hash (torn lines skipped)."""
    name = str(trail.resolve())
    found: dict[int, str] = {}
    with witness_file.open("rb") as fh:
        for line in fh:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if (isinstance(value, dict) and value.get("trail") == name
                    and isinstance(value.get("seq"), int)
                    and isinstance(value.get("hash"), str)):
                found[value["seq"]] = value["hash"]
    return found


def _append_line(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a torn line before: keep it on its own line
        os.write(fd, line + b"\n")
    finally:
        os.close(fd)
