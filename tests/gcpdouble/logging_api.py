"""Cloud Logging v2 ``POST /v2/entries:list`` over the double's log entries, and helpers to
append entries and tick a revision's log in the background."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.gcpdouble.errors import ApiError, invalid
from tests.gcpdouble.filters import compile_filter
from tests.gcpdouble.server import Request, Router
from tests.gcpdouble.timefmt import rfc3339

if TYPE_CHECKING:
    from tests.gcpdouble.double import GcpDouble

STDOUT = "run.googleapis.com%2Fstdout"
STDERR = "run.googleapis.com%2Fstderr"
REQUESTS = "run.googleapis.com%2Frequests"


class LogStore:
    """Entries kept sorted by (timestamp, insertId); thread-safe."""

    def __init__(self, double: GcpDouble) -> None:
        self.double = double
        self.lock = threading.Lock()
        self.entries: list[tuple[float, str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self.writers: list[Callable[[], None]] = []  # run by tick_logs()
        self.max_entries = 100_000  # the oldest go first

    def append(self, region: str, service: str, revision: str, text: str | None = None, *,
               severity: str = "INFO", json_payload: dict[str, Any] | None = None,
               http_request: dict[str, Any] | None = None, timestamp: float | None = None,
               log: str | None = None, insert_id: str | None = None) -> dict[str, Any]:
        """Append one entry of a Cloud Run revision; returns it as the API will list it."""
        project = self.double.project
        ts = self.double.state.clock() if timestamp is None else timestamp
        iid = insert_id or f"{next(self._ids):08x}{secrets.token_hex(4)}"
        entry: dict[str, Any] = {
            "insertId": iid,
            "logName": f"projects/{project}/logs/{log or (REQUESTS if http_request else STDOUT)}",
            "resource": {"type": "cloud_run_revision", "labels": {
                "project_id": project, "service_name": service, "revision_name": revision,
                "location": region, "configuration_name": service}},
            "timestamp": rfc3339(ts),
            "receiveTimestamp": rfc3339(ts + 0.05),
            "severity": severity,
            "labels": {"instanceId": "0069c7a988" + hashlib.sha256(revision.encode()).hexdigest()[:20]},
        }
        if http_request is not None:
            entry["httpRequest"] = http_request
            entry["trace"] = f"projects/{project}/traces/{secrets.token_hex(16)}"
        if json_payload is not None:
            entry["jsonPayload"] = json_payload
        elif text is not None:
            entry["textPayload"] = text
        with self.lock:
            self.entries.append((ts, iid, entry))
            if len(self.entries) > 1 and (self.entries[-2][0], self.entries[-2][1]) > (ts, iid):
                self.entries.sort(key=lambda e: (e[0], e[1]))
            if len(self.entries) > self.max_entries:
                del self.entries[: len(self.entries) - self.max_entries]
        return entry

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("resourceNames") or [f"projects/{p}" for p in body.get("projectIds") or []]
        if not names:
            raise invalid("resourceNames is required (e.g. [\"projects/PROJECT\"]).")
        for name in names:
            if name != f"projects/{self.double.project}":
                raise ApiError(403, f"The caller does not have permission to read logs of {name!r}.")
        text = body.get("filter") or ""
        pred = compile_filter(text)
        order = " ".join((body.get("orderBy") or "timestamp asc").lower().split())
        if order not in ("timestamp asc", "timestamp desc", "timestamp"):
            raise invalid(f"orderBy must be 'timestamp asc' or 'timestamp desc', not {order!r}")
        desc = order == "timestamp desc"
        size = body.get("pageSize") or 50
        if not isinstance(size, int) or size <= 0:
            raise invalid(f"pageSize must be a positive integer, not {size!r}")
        size = min(size, 1000)
        after = _decode_token(body.get("pageToken"), text, order)
        with self.lock:
            rows = list(reversed(self.entries)) if desc else list(self.entries)
        if after is not None:
            key = (after[0], after[1])
            rows = [r for r in rows if ((r[0], r[1]) < key if desc else (r[0], r[1]) > key)]
        out: list[dict[str, Any]] = []
        last = None
        for ts, iid, entry in rows:
            if pred(entry):
                if len(out) == size:
                    return {"entries": out, "nextPageToken": _encode_token(last, text, order)}
                out.append(json.loads(json.dumps(entry)))
                last = (ts, iid)
        return {"entries": out} if out else {}

    # -- background ----------------------------------------------------------------------
    def tick(self) -> None:
        """One round of every registered writer (the seed's app logs)."""
        for writer in list(self.writers):
            writer()

    def ticker(self, every: float, fn: Callable[[], None]) -> Callable[[], None]:
        """Run ``fn`` every ``every`` s in a daemon thread until the returned stop() or the double stops."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                fn()

        thread = threading.Thread(target=loop, name="gcpdouble-logs", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(5)

        self.double.on_stop(halt)
        return halt


def _encode_token(last: tuple[float, str] | None, text: str, order: str) -> str:
    assert last is not None
    raw = json.dumps({"k": [last[0], last[1]], "f": hashlib.sha256(f"{text}|{order}".encode()).hexdigest()[:12]})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_token(token: str | None, text: str, order: str) -> tuple[float, str] | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["f"] != hashlib.sha256(f"{text}|{order}".encode()).hexdigest()[:12]:
            raise ValueError("filter changed")
        return float(data["k"][0]), str(data["k"][1])
    except (ValueError, KeyError, TypeError):
        raise invalid("Invalid page token (or the filter/orderBy changed since it was issued).") from None


def register(store: LogStore, router: Router) -> None:
    def entries_list(req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("the body must be a ListLogEntriesRequest")
        return store.query(body)

    router.add("POST", r"/v2/entries:list", entries_list, "logging")
