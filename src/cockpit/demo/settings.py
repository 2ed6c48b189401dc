"""Settings shared by the demo service and its operations: flags, then env, then defaults."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ENV_STATE = "COCKPIT_DEMO_STATE"
ENV_PORT = "COCKPIT_DEMO_PORT"
ENV_API_KEY = "COCKPIT_DEMO_API_KEY"
ENV_TRAFFIC = "COCKPIT_DEMO_TRAFFIC"
ENV_RATE_LIMIT = "COCKPIT_DEMO_RATE_LIMIT"
ENV_LOG_MAX_BYTES = "COCKPIT_DEMO_LOG_MAX_BYTES"
#: also write every log line to stdout (in a container: ``docker logs``)
ENV_LOG_STDOUT = "COCKPIT_DEMO_LOG_STDOUT"
ENV_TRACE_ID = "COCKPIT_TRACE_ID"

VERSION = "1.0.0"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_API_KEY = "demo-key-change-me"
DEFAULT_RATE_LIMIT = 50.0  #: requests per second per (API key, client id), also the burst
DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024
MAX_PAYLOAD_BYTES = 8192
#: The governance profile fingerprint every audit record carries (techno-os P1.1).
PROFILE_HASH = hashlib.sha256(b"cockpit-demo/governance-profile/v1").hexdigest()

#: Exit statuses shared by ``serve`` and the operations.
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_PORT_BUSY, EXIT_LOCKED = 0, 1, 2, 3, 4


class DemoError(Exception):
    """An operation failed; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class DemoPaths:
    """The files of one demo instance, all under ``root``."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "demo.json"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "demo.log"

    @property
    def out(self) -> Path:
        return self.root / "demo.out"

    @property
    def chaos(self) -> Path:
        return self.root / "chaos.json"

    @property
    def lock(self) -> Path:
        return self.root / "demo.lock"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def ensure(self) -> None:
        """Create the state directory."""
        self.root.mkdir(parents=True, exist_ok=True)


def resolve_state_dir(flag: str | os.PathLike[str] | None = None) -> DemoPaths:
    """``--state-dir``, else ``$COCKPIT_DEMO_STATE``, else ``<user state dir>/cockpit/demo``."""
    if flag:
        return DemoPaths(Path(flag).expanduser().absolute())
    env = os.environ.get(ENV_STATE, "").strip()
    if env:
        return DemoPaths(Path(env).expanduser().absolute())
    import platformdirs

    return DemoPaths(Path(platformdirs.user_state_dir("cockpit")) / "demo")


def parse_port(text: str | int, source: str) -> int:
    """A TCP port in 1..65535, or ``DemoError`` (usage) naming where it came from."""
    try:
        port = int(str(text).strip())
    except ValueError:
        raise DemoError(f"{source}: not a port number: {text!r}", EXIT_USAGE) from None
    if not 1 <= port <= 65535:
        raise DemoError(f"{source}: port {port} is outside 1..65535", EXIT_USAGE)
    return port


def configured_port(flag: int | None = None) -> int:
    """``--port``, else ``$COCKPIT_DEMO_PORT``, else 8765."""
    if flag is not None:
        return parse_port(flag, "--port")
    env = os.environ.get(ENV_PORT, "").strip()
    return parse_port(env, ENV_PORT) if env else DEFAULT_PORT


def api_key() -> str:
    """The API key: ``$COCKPIT_DEMO_API_KEY`` or the well-known default."""
    return os.environ.get(ENV_API_KEY) or DEFAULT_API_KEY


def key_hash(key: str) -> str:
    """sha256 hex of a key, as in the audit log's ``api_key_hash``."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def key_hint(key: str) -> str:
    """A safe way to name a key in logs and state: a prefix of its hash, never the key."""
    return "sha256:" + key_hash(key)[:12]


def env_number(name: str, default: float, lo: float, hi: float) -> float:
    """A float from the environment, clamped to ``lo..hi``; ``default`` if unset or bad."""
    raw = os.environ.get(name, "").strip()
    try:
        return min(hi, max(lo, float(raw))) if raw else default
    except ValueError:
        return default


def env_enabled(name: str, default: bool = True) -> bool:
    """False for ``0/false/no/off`` (any case), ``default`` when unset."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in {"0", "false", "no", "off"}


def valid_token(value: str | None, max_len: int = 128) -> bool:
    """A header value usable as a trace or client id: printable ASCII, no spaces."""
    return bool(value) and len(value) <= max_len and all(33 <= ord(c) <= 126 for c in value)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when missing, unreadable or not an object."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def remove_quietly(path: Path) -> None:
    """Delete a file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """Whether ``pid`` runs (zombies count as dead) and, if given, started at ``create_time``."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def running_state(paths: DemoPaths) -> dict[str, Any] | None:
    """``demo.json`` if the process it names is alive, else None."""
    state = read_json(paths.state)
    if not state or not isinstance(state.get("pid"), int):
        return None
    ctime = state.get("create_time")
    alive = process_alive(state["pid"], ctime if isinstance(ctime, (int, float)) else None)
    return state if alive else None
