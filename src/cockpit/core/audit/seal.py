"""Forward-secure sealing of the operator trail (after journald's Forward Secure Sealing).

Keys. A random 32-byte seed is key ``K_0``; ``K_{i+1} = SHA-256("cockpit-audit-evolve" ||
K_i)``. The seed is the *verification key*: written once, 0600, to ``<trail>.verify-key``
for the operator to move off the host (``cockpit audit init`` prints it). The writer keeps
only the next key in the *seal state* ``<trail>.seal`` and overwrites it in place (one
``pwrite`` + ``fsync``) after each record, so a key that sealed a record is gone from the
host: whoever takes the host later can forge records after that point, not before it.

Seal. Each record carries ``"seal": "<i>:<hex>"``, ``HMAC-SHA256(K_i, canonical JSON of the
record without hash and seal)``; the record's ``hash`` covers the seal. ``i`` goes up by
one per record; a jump means records were removed (the writer says so in a break record).

State. Besides the key, the state holds the head the writer last wrote (``seq``, ``hash``,
file ``size``), so the next writer can tell a crash (the trail ends at that head, maybe
with a torn line after it) from a cut, a truncation or a replacement.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

STATE_SIZE = 512
_EVOLVE = b"cockpit-audit-evolve\0"


def evolve(key: bytes, steps: int = 1) -> bytes:
    """``K_{i+steps}`` from ``K_i``."""
    for _ in range(steps):
        key = hashlib.sha256(_EVOLVE + key).digest()
    return key


def mac(key: bytes, body: bytes) -> str:
    """HMAC-SHA256 hex of ``body`` under ``key``."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def format_seal(index: int, key: bytes, body: bytes) -> str:
    """The ``seal`` field: ``"<index>:<hmac hex>"``."""
    return f"{index}:{mac(key, body)}"


def parse_seal(value: Any) -> tuple[int, str] | None:
    """``(index, mac)`` of a ``seal`` field, or None if it is not one."""
    if not isinstance(value, str):
        return None
    index, sep, digest = value.partition(":")
    if not sep or not index.isdigit() or len(digest) != 64:
        return None
    return int(index), digest


def state_path(trail: Path) -> Path:
    return trail.with_name(trail.name + ".seal")


def key_path(trail: Path) -> Path:
    return trail.with_name(trail.name + ".verify-key")


@dataclass(frozen=True, slots=True)
class SealState:
    """What the writer keeps between appends: the next key and the head it last wrote."""

    index: int  #: index of ``key``: the next record is sealed with it
    key: bytes
    head_seq: int = 0
    head_hash: str = ""
    size: int = 0  #: trail size just after the head record
    acknowledged: str = ""  #: digest of a chain problem already recorded in a break record

    def advanced(self, seq: int, digest: str, size: int) -> SealState:
        """The state after a record ``seq``/``digest`` sealed with ``key`` ended at ``size``."""
        return replace(self, index=self.index + 1, key=evolve(self.key),
                       head_seq=seq, head_hash=digest, size=size)

    def encode(self) -> bytes:
        body = orjson.dumps({
            "v": 1, "index": self.index, "key": self.key.hex(), "head_seq": self.head_seq,
            "head_hash": self.head_hash, "size": self.size, "ack": self.acknowledged,
        })
        if len(body) >= STATE_SIZE:
            raise ValueError("seal state too large")
        return body + b" " * (STATE_SIZE - 1 - len(body)) + b"\n"

    @classmethod
    def decode(cls, raw: bytes) -> SealState:
        """Parse a state file; ``ValueError`` if it is not one."""
        try:
            data = orjson.loads(raw)
            return cls(int(data["index"]), bytes.fromhex(data["key"]), int(data["head_seq"]),
                       str(data["head_hash"]), int(data["size"]), str(data.get("ack", "")))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a seal state: {exc}") from None


def read_state(path: Path) -> SealState | None:
    """The state at ``path``; None if there is none; ``ValueError`` if it is unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return SealState.decode(raw)


def write_state(path: Path, state: SealState) -> None:
    """Overwrite the state in place (the old key's bytes are overwritten) and fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        data = state.encode()
        if os.pwrite(fd, data, 0) != len(data):
            raise OSError("short write of the seal state")
        os.fsync(fd)
    finally:
        os.close(fd)


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def write_verify_key(trail: Path, seed: bytes) -> Path:
    """Write the verification key next to the trail (0600), never over an existing one."""
    path = key_path(trail)
    if path.exists():
        n = 2
        while path.with_name(f"{path.name}.{n}").exists():
            n += 1
        path = path.with_name(f"{path.name}.{n}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, seed.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def load_verify_key(text_or_path: str) -> bytes:
    """A verification key from a file holding its hex, or the hex itself."""
    candidate = text_or_path.strip()
    if len(candidate) != 64 or not all(c in "0123456789abcdefABCDEF" for c in candidate):
        candidate = Path(text_or_path).expanduser().read_text().strip()
    try:
        key = bytes.fromhex(candidate)
    except ValueError:
        raise ValueError("a verification key is 64 hex digits") from None
    if len(key) != 32:
        raise ValueError("a verification key is 64 hex digits")
    return key
