"""Cloud Logging following (cloudrun/logs.py) against a fake API: backlog by tail or
since, page tokens, order, insertId dedupe across overlapping polls, severity and text,
429 backoff and other errors, all driven by an injected clock and sleep (never waiting)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cockpit.core.backends.cloudrun import logs as cl
from cockpit.core.backends.logs import LogNotice, LogQuery, LogRecord

T0 = 1_800_000_000  # seconds; entries are stamped from here
SVC = cl.target_filter("p", "us-central1", "api")


class Stop(Exception):
    """Raised by the fake sleep when the script is over: ends a follow."""


class APIError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def stamp(seconds: float, nanos: int = 0) -> str:
    return cl.format_time(int(seconds) * 1_000_000_000 + nanos)


def entry(n: int, seconds: float, *, rev: str = "api-00001-grn", text: str | None = None,
          severity: str = "INFO", nanos: int = 0, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "insertId": f"id{n}", "timestamp": stamp(seconds, nanos), "severity": severity,
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "resource": {"type": "cloud_run_revision",
                     "labels": {"service_name": "api", "revision_name": rev,
                                "location": "us-central1"}},
    }
    if text is not None or not extra:
        body["textPayload"] = text if text is not None else f"line {n}"
    body.update(extra)
    return body


class FakeLogging:
    """entries:list over a list of entries: ``timestamp>=``, revision and severity
    filters, order, page size and tokens; errors injected per call."""

    def __init__(self, entries: list[dict[str, Any]] | None = None) -> None:
        self.entries = list(entries or [])
        self.bodies: list[dict[str, Any]] = []
        self.errors: list[APIError] = []

    def _match(self, filter_text: str, item: dict[str, Any]) -> bool:
        since = re.search(r'timestamp>="([^"]+)"', filter_text)
        if since and cl.parse_time(item["timestamp"]) < cl.parse_time(since.group(1)):
            return False
        revisions = re.findall(r'revision_name="([^"]+)"', filter_text)
        return not revisions or item["resource"]["labels"]["revision_name"] in revisions

    async def call(self, api: str, method: str, path: str, *, params: Any = None,
                   json: Any = None) -> dict[str, Any]:
        assert (api, method, path) == ("logging", "POST", "/v2/entries:list")
        assert json["resourceNames"] == ["projects/p"]
        self.bodies.append(dict(json))
        if self.errors:
            raise self.errors.pop(0)
        hits = [e for e in self.entries if self._match(json["filter"], e)]
        hits.sort(key=lambda e: cl.parse_time(e["timestamp"]),
                  reverse=json["orderBy"] == "timestamp desc")
        start = int(json.get("pageToken") or 0)
        size = json["pageSize"]
        answer: dict[str, Any] = {"entries": hits[start:start + size]}
        if start + size < len(hits):
            answer["nextPageToken"] = str(start + size)
        return answer


class Driver:
    """The injected clock and sleep: each sleep advances the clock, records the pause and
    runs the next scripted step (a mutation of the fake); past the script it stops."""

    def __init__(self, steps: list[Any] | None = None) -> None:
        self.now = float(T0 + 100)
        self.slept: list[float] = []
        self.steps = list(steps or [])

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if not self.steps:
            raise Stop
        step = self.steps.pop(0)
        if step is not None:
            step()


async def run(fake: FakeLogging, query: LogQuery, driver: Driver | None = None,
              filters: list[str] | None = None, **kwargs: Any) -> list[list[Any]]:
    """Every batch until the driver's script is over (or the backlog ends)."""
    driver = driver or Driver()
    batches: list[list[Any]] = []
    stream = cl.follow_logs(fake, "p", filters or [SVC], query, poll=2.0,
                            clock=driver.clock, sleep=driver.sleep, **kwargs)
    try:
        async for batch in stream:
            batches.append(batch)
    except Stop:
        pass
    return batches


def texts(batches: list[list[Any]]) -> list[str]:
    return [item.text for batch in batches for item in batch if isinstance(item, LogRecord)]


def notices(batches: list[list[Any]]) -> list[LogNotice]:
    return [item for batch in batches for item in batch if isinstance(item, LogNotice)]


# -- filters ---------------------------------------------------------------------------


def test_target_filter_service_and_revision() -> None:
    assert cl.target_filter("p", "us-central1", "api") == (
        'resource.type="cloud_run_revision" AND resource.labels.service_name="api" '
        'AND resource.labels.location="us-central1"')
    assert cl.target_filter("p", "europe-west1", "api", "api-00002-blu").endswith(
        'AND resource.labels.location="europe-west1" '
        'AND resource.labels.revision_name="api-00002-blu"')
    assert cl.quote('a"b\\c') == '"a\\"b\\\\c"'


def test_severity_clause_and_combine() -> None:
    assert cl.severity_clause("warn") == "severity>=WARNING"
    assert cl.severity_clause("error") == "severity>=ERROR"
    assert cl.severity_clause("") == ""
    assert cl.combine(["A"]) == "A"
    assert cl.combine(["A", "B"]) == "(A) OR (B)"


# -- entries ---------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "level"), [
    ("DEFAULT", "debug"), ("DEBUG", "debug"), ("INFO", "info"), ("NOTICE", "info"),
    ("WARNING", "warn"), ("ERROR", "error"), ("CRITICAL", "error"), ("ALERT", "error"),
    ("EMERGENCY", "error"), (None, "debug"), (400, "warn"), (500, "error"), (200, "info"),
])
def test_severity_mapped(given: Any, level: str) -> None:
    assert cl.severity_of(given) == level


def test_entry_text_sources() -> None:
    assert cl.entry_text({"textPayload": "plain"}) == "plain"
    assert cl.entry_text({"jsonPayload": {"message": "Receipt emitted", "n": 1}}) == \
        "Receipt emitted"
    assert cl.entry_text({"jsonPayload": {"event": "x", "n": 1}}) == '{"event":"x","n":1}'
    assert cl.entry_text({"httpRequest": {
        "requestMethod": "GET", "requestUrl": "https://api-x.a.run.app/health?v=1",
        "status": 503, "latency": "0.012s"}}) == "GET /health?v=1 503 12ms"
    assert cl.entry_text({"httpRequest": {"requestMethod": "POST", "requestUrl": "/x",
                                          "status": 200}}) == "POST /x 200"


def test_times_round_trip_with_nanoseconds() -> None:
    ns = cl.parse_time("2026-12-05T04:29:01.123456789Z")
    assert cl.format_time(ns) == "2026-12-05T04:29:01.123456789Z"
    assert cl.parse_time("2026-12-05T05:29:01+01:00") == cl.parse_time("2026-12-05T04:29:01Z")
    assert cl.parse_time("yesterday") is None


async def test_records_carry_time_source_severity_and_split_lines() -> None:
    fake = FakeLogging([
        entry(1, T0, severity="ERROR", text="boom\n  at f()\n", rev="api-00002-blu",
              nanos=5),
        entry(2, T0 + 1, jsonPayload={"message": "Receipt emitted"}),
    ])
    batches = await run(fake, LogQuery(tail=10, follow=False))
    records = [i for b in batches for i in b]
    assert [(r.text, r.source, r.severity, r.logged) for r in records] == [
        ("boom", "api-00002-blu", "error", True),
        ("  at f()", "api-00002-blu", "error", True),
        ("Receipt emitted", "api-00001-grn", "info", True)]
    assert records[0].ts == pytest.approx(T0 + 5e-9)


def test_seen_is_bounded_and_pruned() -> None:
    seen = cl.Seen(limit=3)
    for n in range(5):
        assert seen.add(f"k{n}", n)
    assert len(seen) == 3
    assert not seen.add("k4", 4)
    seen.prune(4)
    assert len(seen) == 1


# -- backlog ---------------------------------------------------------------------------


async def test_tail_reads_newest_pages_and_orders_them(monkeypatch) -> None:
    monkeypatch.setattr(cl, "PAGE_SIZE", 2)
    fake = FakeLogging([entry(n, T0 + n) for n in range(10)])
    batches = await run(fake, LogQuery(tail=5, follow=False))
    assert texts(batches) == [f"line {n}" for n in range(5, 10)]
    assert [b["orderBy"] for b in fake.bodies] == ["timestamp desc"] * 3
    assert [b["pageSize"] for b in fake.bodies] == [2, 2, 1]
    assert [b.get("pageToken") for b in fake.bodies] == [None, "2", "4"]
    assert fake.bodies[0]["filter"] == SVC


async def test_since_reads_pages_in_time_order(monkeypatch) -> None:
    monkeypatch.setattr(cl, "PAGE_SIZE", 3)
    fake = FakeLogging([entry(n, T0 + n) for n in range(10)])
    batches = await run(fake, LogQuery(since=T0 + 4, tail=-1, follow=False))
    assert texts(batches) == [f"line {n}" for n in range(4, 10)]
    assert all(b["orderBy"] == "timestamp asc" for b in fake.bodies)
    assert fake.bodies[0]["filter"] == f'{SVC} AND timestamp>="{stamp(T0 + 4)}"'
    assert [b.get("pageToken") for b in fake.bodies] == [None, "3"]


async def test_batches_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(cl, "BATCH_MAX", 4)
    fake = FakeLogging([entry(n, T0 + n) for n in range(10)])
    batches = await run(fake, LogQuery(tail=10, follow=False))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert texts(batches) == [f"line {n}" for n in range(10)]


# -- following -------------------------------------------------------------------------


async def test_follow_polls_from_newest_seen_without_repeats_at_equal_times() -> None:
    fake = FakeLogging([entry(1, T0), entry(2, T0 + 1), entry(3, T0 + 1)])
    driver = Driver([
        lambda: fake.entries.extend([entry(4, T0 + 1), entry(5, T0 + 2)]),  # same second
        None,  # a poll with nothing new
        lambda: fake.entries.append(entry(6, T0 + 2)),
    ])
    batches = await run(fake, LogQuery(tail=2), driver)
    assert texts(batches) == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    # the lookback reaches back to the oldest entry shown, not before (line 1 is older)
    polls = [b["filter"] for b in fake.bodies[1:]]
    assert polls == [f'{SVC} AND timestamp>="{stamp(T0 + 1)}"'] * 3
    assert driver.slept == [2.0] * 4


async def test_tail_zero_shows_only_new_entries() -> None:
    fake = FakeLogging([entry(1, T0), entry(2, T0 + 1)])
    driver = Driver([lambda: fake.entries.append(entry(3, T0 + 1))])
    batches = await run(fake, LogQuery(tail=0), driver)
    assert texts(batches) == ["line 3"]
    assert fake.bodies[0]["pageSize"] == 1


async def test_no_backlog_at_all_starts_shortly_before_now() -> None:
    fake = FakeLogging()
    driver = Driver([lambda: fake.entries.append(entry(1, driver.now))])
    batches = await run(fake, LogQuery(tail=5), driver)
    assert texts(batches) == ["line 1"]
    start = T0 + 100 - cl.START_SLACK - cl.LOOKBACK
    assert fake.bodies[1]["filter"].endswith(f'timestamp>="{stamp(start)}"')


async def test_ored_targets_are_merged_in_time_order() -> None:
    grn = cl.target_filter("p", "us-central1", "api", "api-00001-grn")
    blu = cl.target_filter("p", "us-central1", "api", "api-00002-blu")
    fake = FakeLogging([entry(1, T0, rev="api-00002-blu"), entry(2, T0 + 1),
                        entry(3, T0 + 2, rev="api-00002-blu"), entry(4, T0 + 3, rev="other")])
    driver = Driver([lambda: fake.entries.append(entry(5, T0 + 4, rev="api-00002-blu"))])
    batches = await run(fake, LogQuery(tail=10), driver, filters=[grn, blu])
    assert texts(batches) == ["line 1", "line 2", "line 3", "line 5"]
    assert fake.bodies[0]["filter"] == f"({grn}) OR ({blu})"
    start = stamp(T0 + 2 - cl.LOOKBACK)
    assert fake.bodies[1]["filter"] == f'(({grn}) OR ({blu})) AND timestamp>="{start}"'


async def test_page_tokens_followed_while_following(monkeypatch) -> None:
    monkeypatch.setattr(cl, "PAGE_SIZE", 2)
    fake = FakeLogging([entry(0, T0)])
    driver = Driver([lambda: fake.entries.extend(entry(n, T0 + n) for n in range(1, 6))])
    batches = await run(fake, LogQuery(tail=1), driver)
    assert texts(batches) == [f"line {n}" for n in range(6)]
    assert [b.get("pageToken") for b in fake.bodies[1:4]] == [None, "2", "4"]


async def test_429_backs_off_with_a_notice_and_resumes_without_loss() -> None:
    fake = FakeLogging([entry(1, T0)])

    def throttle() -> None:
        fake.entries.append(entry(2, T0 + 1))
        fake.errors.extend(APIError(429, "Cloud Logging: 429 RESOURCE_EXHAUSTED: quota")
                           for _ in range(3))

    driver = Driver([throttle, lambda: fake.entries.append(entry(3, T0 + 2)), None, None])
    batches = await run(fake, LogQuery(tail=5), driver)
    assert texts(batches) == ["line 1", "line 2", "line 3"]
    said = [n.text for n in notices(batches)]
    assert said == [
        f"Cloud Logging is throttling reads (429 RESOURCE_EXHAUSTED): backing off {s}s, "
        "then resuming where it stopped" for s in (2, 4, 8)
    ] + ["Cloud Logging answers again: following"]
    assert {n.kind for n in notices(batches)} == {"info"}
    assert driver.slept[:5] == [2.0, 2.0, 4.0, 8.0, 2.0]  # poll, backoffs, poll


async def test_backoff_doubles_up_to_a_minute() -> None:
    fake = FakeLogging([entry(1, T0)])
    fake.errors.extend(APIError(429, "429") for _ in range(8))
    driver = Driver([None] * 8)  # the backlog's call is throttled 8 times
    await run(fake, LogQuery(tail=5), driver)
    assert driver.slept == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 2.0]


async def test_429_in_the_middle_of_pages_asks_the_same_page_again(monkeypatch) -> None:
    monkeypatch.setattr(cl, "PAGE_SIZE", 2)
    fake = FakeLogging([entry(n, T0 + n) for n in range(5)])
    original = fake.call

    async def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if kwargs["json"].get("pageToken") == "2" and not getattr(flaky, "done", False):
            flaky.done = True  # type: ignore[attr-defined]
            fake.bodies.append(dict(kwargs["json"]))
            raise APIError(429, "429")
        return await original(*args, **kwargs)

    fake.call = flaky  # type: ignore[method-assign]
    driver = Driver([None])
    batches = await run(fake, LogQuery(since=T0, tail=-1, follow=False), driver)
    assert texts(batches) == [f"line {n}" for n in range(5)]
    assert [b.get("pageToken") for b in fake.bodies] == [None, "2", "2", "4"]
    assert driver.slept == [2.0]


async def test_other_errors_are_unreachable_notices_and_retried() -> None:
    fake = FakeLogging([entry(1, T0)])
    fake.errors.append(APIError(503, "Cloud Logging: 503 UNAVAILABLE: try later"))
    driver = Driver([lambda: fake.entries.append(entry(2, T0 + 1))])
    batches = await run(fake, LogQuery(tail=5), driver)
    assert texts(batches) == ["line 1", "line 2"]
    first = notices(batches)[0]
    assert first.kind == "unreachable"
    assert first.text == "Cloud Logging: 503 UNAVAILABLE: try later; retrying in 2s"
    assert first.ts == T0 + 100


async def test_many_entries_at_one_time_are_each_shown_once() -> None:
    fake = FakeLogging([entry(n, T0) for n in range(50)])
    driver = Driver([lambda: fake.entries.extend(entry(n, T0) for n in range(50, 60)),
                     None])
    batches = await run(fake, LogQuery(tail=100), driver)
    assert texts(batches) == [f"line {n}" for n in range(60)]


async def test_a_late_entry_within_the_lookback_is_shown_once() -> None:
    fake = FakeLogging([entry(1, T0), entry(2, T0 + 10)])
    driver = Driver([
        # another instance's entry reaches Cloud Logging after a newer one was shown
        lambda: fake.entries.extend([entry(3, T0 + 8), entry(4, T0 + 11)]),
        None,
        lambda: fake.entries.append(entry(5, T0 + 4)),  # later than the lookback: missed
        None,
    ])
    batches = await run(fake, LogQuery(tail=10), driver)
    assert texts(batches) == ["line 1", "line 2", "line 3", "line 4"]
    polls = [b["filter"] for b in fake.bodies[1:]]
    assert polls[0] == f'{SVC} AND timestamp>="{stamp(T0 + 10 - cl.LOOKBACK)}"'
    assert polls[-1] == f'{SVC} AND timestamp>="{stamp(T0 + 11 - cl.LOOKBACK)}"'


async def test_the_lookback_never_shows_what_precedes_the_backlog() -> None:
    fake = FakeLogging([entry(n, T0 + n) for n in range(10)])
    driver = Driver([lambda: fake.entries.append(entry(10, T0 + 10)), None])
    batches = await run(fake, LogQuery(tail=2), driver)
    assert texts(batches) == ["line 8", "line 9", "line 10"]  # 5, 6, 7 are within 5 s
    assert fake.bodies[1]["filter"].endswith(f'timestamp>="{stamp(T0 + 8)}"')


async def test_since_is_a_floor_for_the_lookback_too() -> None:
    fake = FakeLogging([entry(n, T0 + n) for n in range(4)])
    driver = Driver([lambda: fake.entries.append(entry(4, T0 + 4))])
    batches = await run(fake, LogQuery(since=T0 + 2, tail=-1), driver)
    assert texts(batches) == ["line 2", "line 3", "line 4"]
    assert fake.bodies[1]["filter"].endswith(f'timestamp>="{stamp(T0 + 2)}"')


async def test_without_lookback_polls_start_at_the_newest_entry() -> None:
    fake = FakeLogging([entry(1, T0), entry(2, T0 + 10)])
    driver = Driver([lambda: fake.entries.append(entry(3, T0 + 8))])
    batches = await run(fake, LogQuery(tail=10), driver, lookback=0.0)
    assert texts(batches) == ["line 1", "line 2"]
    assert fake.bodies[1]["filter"].endswith(f'timestamp>="{stamp(T0 + 10)}"')
