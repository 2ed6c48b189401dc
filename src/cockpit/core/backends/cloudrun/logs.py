"""Cloud Logging entries of Cloud Run services and revisions, followed by polling.

``follow_logs`` asks ``POST /v2/entries:list`` (Cloud Logging v2 REST; live tail is
gRPC only) for the entries of one or more targets (their filters ORed):

- backlog: the newest ``query.tail`` entries (``orderBy: timestamp desc``, page tokens
  followed until enough, then reversed), or every entry since ``query.since``
  (``timestamp asc``, page by page);
- then, every ``poll`` seconds, the entries at or after the newest one seen, less
  ``lookback`` seconds (``timestamp>="..."``, nanosecond precision, page tokens
  followed): an entry that reaches Cloud Logging late (another instance's, stamped
  before the newest one shown) is shown when it comes, after the newer ones; one later
  than ``lookback`` is missed. Entries asked for again are dropped by their ``insertId``
  (a bounded memory of the ids within the lookback);
- HTTP 429 (a bare ``RESOURCE_EXHAUSTED``: Cloud Logging's read quota is about one
  request per second per project) backs off 2, 4, 8 ... 60 s with an ``info`` notice
  saying so, then the same request (the same page) is asked again: nothing is lost;
  any other error is an ``unreachable`` notice and the same request is retried with the
  same backoff.

Each entry becomes ``LogRecord``s (one per line of its text) stamped with the entry's
``timestamp`` (``logged=True``), sourced by its revision, with its severity mapped
(``severity_of``). Batches hold at most ``BATCH_MAX`` items, in time order. The clock and
the sleep are injectable so that tests drive time instead of waiting.

Narrowing by severity: ``target_filter(...) + " AND " + severity_clause("warn")`` asks
Cloud Logging for ``severity>=WARNING`` only (a log source with a severity floor would
pass its filters so); the Logs pane also filters the lines it holds by level (``v``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cockpit.core.backends.logs import LogItem, LogNotice, LogQuery, LogRecord, Severity

if TYPE_CHECKING:
    from cockpit.core.backends.cloudrun.api import GoogleAPI

PAGE_SIZE = 1000  #: entries per entries:list page (the API's maximum)
BATCH_MAX = 1000  #: items per yielded batch
SEEN_MAX = 20_000  #: insertIds remembered at most (those at or after the cursor)
TEXT_MAX = 64 * 1024  #: characters of one line kept (the rest cut, ``truncated``)
BACKOFF_FIRST, BACKOFF_MAX = 2.0, 60.0
#: with no backlog at all, following starts this long before now (late entries)
START_SLACK = 60.0
#: each poll asks again for this many seconds before the newest entry seen (late entries)
LOOKBACK = 5.0


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

# -- filters ---------------------------------------------------------------------------


def quote(value: str) -> str:
    """A value as a Cloud Logging filter string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def target_filter(project: str, region: str, service: str, revision: str | None = None) -> str:
    """The Cloud Logging filter of one service (or one of its revisions) in a region.

    ``project`` is not part of the filter: entries:list is scoped by ``resourceNames``."""
    del project
    parts = ['resource.type="cloud_run_revision"',
             f"resource.labels.service_name={quote(service)}",
             f"resource.labels.location={quote(region)}"]
    if revision:
        parts.append(f"resource.labels.revision_name={quote(revision)}")
    return " AND ".join(parts)


_FLOOR = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"}


def severity_clause(floor: Severity | str) -> str:
    """``severity>=WARNING`` for the floor ``warn`` (and so on); "" for none."""
    level = _FLOOR.get(floor or "")
    return f"severity>={level}" if level else ""


def combine(filters: list[str]) -> str:
    """Several targets' filters as one (ORed)."""
    kept = [f for f in filters if f]
    if len(kept) == 1:
        return kept[0]
    return " OR ".join(f"({f})" for f in kept)


# -- entries ---------------------------------------------------------------------------

_STAMP = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$")


def parse_time(text: str) -> int | None:
    """An RFC 3339 time as nanoseconds since the epoch (None when it is not one)."""
    match = _STAMP.match(text or "")
    if match is None:
        return None
    y, mo, d, h, mi, s, frac, zone = match.groups()
    try:
        seconds = int(datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                               tzinfo=UTC).timestamp())
    except ValueError:
        return None
    if zone not in ("Z", "z", "+00:00", "-00:00"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def format_time(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 in UTC, nanoseconds kept."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


_SEVERITY: dict[str, Severity] = {
    "DEFAULT": "debug", "DEBUG": "debug", "INFO": "info", "NOTICE": "info",
    "WARNING": "warn", "ERROR": "error", "CRITICAL": "error", "ALERT": "error",
    "EMERGENCY": "error",
}
_SEVERITY_NUMBERS: list[tuple[int, Severity]] = [
    (500, "error"), (400, "warn"), (200, "info"), (0, "debug")]


def severity_of(value: Any) -> Severity:
    """A LogSeverity (name, or its number) as a record's severity; DEFAULT is debug."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return next(level for floor, level in _SEVERITY_NUMBERS if value >= floor) \
            if value >= 0 else "debug"
    return _SEVERITY.get(str(value or "DEFAULT").upper(), "debug")


def _latency_ms(text: Any) -> str:
    """``"0.012s"`` (a Duration) as ``12ms``; "" when absent."""
    if not isinstance(text, str) or not text.endswith("s"):
        return ""
    try:
        return f"{float(text[:-1]) * 1000:.0f}ms"
    except ValueError:
        return ""


def http_text(request: Mapping[str, Any]) -> str:
    """An httpRequest as ``GET /path 503 12ms``."""
    url = str(request.get("requestUrl") or "")
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "") \
        if parts.scheme else url
    words = [str(request.get("requestMethod") or ""), path,
             str(request.get("status") or ""), _latency_ms(request.get("latency"))]
    return " ".join(w for w in words if w)


def entry_text(entry: Mapping[str, Any]) -> str:
    """The text of an entry: textPayload, jsonPayload.message (else the JSON), the
    httpRequest (``GET /path 503 12ms``), or a protoPayload's method."""
    text = entry.get("textPayload")
    if isinstance(text, str):
        return text
    payload = entry.get("jsonPayload")
    if isinstance(payload, Mapping):
        message = payload.get("message")
        if isinstance(message, str):
            return message
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    request = entry.get("httpRequest")
    if isinstance(request, Mapping):
        return http_text(request)
    proto = entry.get("protoPayload")
    if isinstance(proto, Mapping):
        return " ".join(str(proto.get(k)) for k in ("methodName", "resourceName")
                        if proto.get(k))
    return ""


def entry_source(entry: Mapping[str, Any], regional: bool = False) -> str:
    """The revision an entry came from (else its service); ``regional``: as
    ``REGION/REVISION`` (a profile of several regions has the same names in each)."""
    labels = (entry.get("resource") or {}).get("labels") or {}
    name = str(labels.get("revision_name") or labels.get("service_name") or "")
    location = labels.get("location")
    return f"{location}/{name}" if regional and location and name else name


def entry_key(entry: Mapping[str, Any]) -> str:
    """What identifies an entry: its insertId (else its time, log and text)."""
    insert = entry.get("insertId")
    if insert:
        return f"{entry.get('logName', '')}\x00{insert}"
    return f"{entry.get('timestamp', '')}\x00{entry.get('logName', '')}\x00{entry_text(entry)}"


def entry_records(entry: Mapping[str, Any], ns: int, regional: bool = False
                   ) -> list[LogRecord]:
    """An entry as records: one per line of its text, logged at ``ns``."""
    ts = ns / 1e9
    source = entry_source(entry, regional)
    severity = severity_of(entry.get("severity"))
    lines = entry_text(entry).rstrip("\n").split("\n")
    out = []
    for line in lines:
        line = line.rstrip("\r")
        cut = len(line) > TEXT_MAX
        out.append(LogRecord(ts, line[:TEXT_MAX] if cut else line, source, "log",
                             severity=severity, logged=True, truncated=cut))
    return out


def entry_time(entry: Mapping[str, Any]) -> int | None:
    """The entry's time in nanoseconds (its receiveTimestamp when it has no timestamp)."""
    return parse_time(str(entry.get("timestamp") or entry.get("receiveTimestamp") or ""))


class Seen:
    """The keys of the entries at or after the cursor: a poll at ``timestamp>=cursor``
    asks for them again. Bounded: the oldest are forgotten past ``limit``."""

    def __init__(self, limit: int = SEEN_MAX) -> None:
        self.limit = limit
        self._keys: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, ns: int) -> bool:
        """Remember ``key``; False when it was seen already."""
        if key in self._keys:
            return False
        self._keys[key] = ns
        while len(self._keys) > self.limit:
            self._keys.popitem(last=False)
        return True

    def prune(self, cursor: int) -> None:
        """Forget the keys of entries before ``cursor`` (not asked for again)."""
        stale = [key for key, ns in self._keys.items() if ns < cursor]
        for key in stale:
            del self._keys[key]


# -- following -------------------------------------------------------------------------


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


class _Follower:
    """One ``follow_logs`` call's state."""

    def __init__(self, api: GoogleAPI, project: str, filters: list[str], *,
                 clock: Clock, sleep: Sleep, label: str, lookback: float = 0.0,
                 regional: bool = False) -> None:
        self.api = api
        self.regional = regional
        self.project = project
        self.filter = combine(filters)
        self.clock = clock
        self.sleep = sleep
        self.label = label
        self.seen = Seen()
        self.cursor: int | None = None  #: newest entry time seen (ns)
        self.lookback = int(max(0.0, lookback) * 1e9)
        #: entries before this are never shown (they precede the backlog shown)
        self.floor: int | None = None
        self.backoff = BACKOFF_FIRST
        self.failing = False

    def notice(self, kind: Any, text: str) -> LogNotice:
        return LogNotice(self.clock(), self.label, kind, text)

    def body(self, filter_text: str, order: str, size: int, token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"resourceNames": [f"projects/{self.project}"],
                                "filter": filter_text, "orderBy": f"timestamp {order}",
                                "pageSize": size}
        if token:
            body["pageToken"] = token
        return body

    async def page(self, body: dict[str, Any], out: list[LogItem]) -> dict[str, Any] | float:
        """One entries:list call: its answer, or after a 429 or another error the seconds
        to wait before asking again (a notice in ``out``, which the caller yields)."""
        try:
            answer = await self.api.call("logging", "POST", "/v2/entries:list", json=body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            wait = self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            self.failing = True
            if _status(exc) == 429:
                out.append(self.notice(
                    "info", f"Cloud Logging is throttling reads (429 RESOURCE_EXHAUSTED): "
                            f"backing off {wait:g}s, then resuming where it stopped"))
            else:
                text = str(exc) if str(exc).startswith("Cloud Logging") \
                    else f"Cloud Logging: {exc}"
                out.append(self.notice("unreachable", f"{text}; retrying in {wait:g}s"))
            return wait
        if self.failing:
            out.append(self.notice("info", "Cloud Logging answers again: following"))
        self.failing = False
        self.backoff = BACKOFF_FIRST
        return answer if isinstance(answer, dict) else {}

    def fresh(self, entries: list[Any]) -> list[tuple[int, Mapping[str, Any]]]:
        """The entries not seen yet, with their times, in time order (remembered)."""
        got = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            ns = entry_time(entry)
            if ns is None or (self.floor is not None and ns < self.floor):
                continue
            if self.seen.add(entry_key(entry), ns):
                got.append((ns, entry))
        got.sort(key=lambda pair: pair[0])
        return got

    def advance(self, fresh: list[tuple[int, Mapping[str, Any]]]) -> None:
        if fresh:
            newest = fresh[-1][0]
            if self.cursor is None or newest > self.cursor:
                self.cursor = newest
                self.seen.prune(newest - self.lookback)

    def start(self) -> int | None:
        """Where a poll starts: the newest entry seen less the lookback (not before
        the floor)."""
        if self.cursor is None:
            return None
        start = self.cursor - self.lookback
        return max(start, self.floor) if self.floor is not None else start

    async def tail(self, count: int) -> AsyncIterator[list[LogItem]]:
        """The newest ``count`` entries (at least the newest one is read, to start the
        cursor there; it is shown only when ``count`` > 0)."""
        want = max(count, 1)
        entries: list[Any] = []
        token: str | None = None
        while len(entries) < want:
            out: list[LogItem] = []
            answer = await self.page(
                self.body(self.filter, "desc", min(PAGE_SIZE, want - len(entries)), token), out)
            if out:
                yield out
            if not isinstance(answer, dict):
                await self.sleep(answer)
                continue
            entries.extend(answer.get("entries") or [])
            token = answer.get("nextPageToken") or None
            if not token:
                break
        fresh = self.fresh(entries[:want])
        self.advance(fresh)
        if len(entries) >= want and fresh:
            # older entries exist that were not shown: a poll must not show them now
            self.floor = fresh[0][0] if count > 0 else fresh[-1][0]
        if self.cursor is None:
            self.cursor = int((self.clock() - START_SLACK) * 1e9)
        if count > 0:
            for chunk in _chunks(_records(fresh, self.regional)):
                yield chunk

    async def poll(self) -> AsyncIterator[list[LogItem]]:
        """Every entry at or after the cursor not seen yet, page by page, until the
        last page (a failed page is asked again after its backoff)."""
        text = self.filter
        start = self.start()
        if start is not None:
            stamp = f'timestamp>="{format_time(start)}"'
            text = f"({text}) AND {stamp}" if " OR " in text else \
                (f"{text} AND {stamp}" if text else stamp)
        token: str | None = None
        while True:
            out: list[LogItem] = []
            answer = await self.page(self.body(text, "asc", PAGE_SIZE, token), out)
            if out:
                yield out
            if not isinstance(answer, dict):
                await self.sleep(answer)
                continue
            fresh = self.fresh(answer.get("entries") or [])
            self.advance(fresh)
            for chunk in _chunks(_records(fresh, self.regional)):
                yield chunk
            token = answer.get("nextPageToken") or None
            if not token:
                return


def _records(fresh: list[tuple[int, Mapping[str, Any]]], regional: bool) -> list[LogItem]:
    return [record for ns, entry in fresh for record in entry_records(entry, ns, regional)]


def _chunks(items: list[LogItem]) -> list[list[LogItem]]:
    return [items[i:i + BATCH_MAX] for i in range(0, len(items), BATCH_MAX)]


async def follow_logs(
    api: GoogleAPI, project: str, filters: list[str], query: LogQuery, *,
    poll: float, clock: Clock = time.time, sleep: Sleep = asyncio.sleep,
    lookback: float = LOOKBACK, regional: bool = False,
) -> AsyncIterator[list[LogItem]]:
    """Batches of records (and notices) of the entries matching any of ``filters``:
    the backlog (``query.tail`` newest, or since ``query.since``), then, with
    ``query.follow``, new entries every ``poll`` seconds (and late ones up to
    ``lookback`` seconds older than the newest shown); ``regional``: records sourced
    ``REGION/REVISION``. See the module's docstring."""
    label = ", ".join(query.targets) or "Cloud Logging"
    state = _Follower(api, project, filters, clock=clock, sleep=sleep, label=label,
                      lookback=lookback, regional=regional)
    if query.since is not None:
        state.cursor = state.floor = int(query.since * 1e9)
        async for batch in state.poll():
            yield batch
    elif query.tail >= 0:
        async for batch in state.tail(query.tail):
            yield batch
    else:  # no bound given: whatever Cloud Logging keeps by default, oldest first
        async for batch in state.poll():
            yield batch
    while query.follow:
        await sleep(poll)
        async for batch in state.poll():
            yield batch
