"""Cloud Monitoring figures of a service (cloudrun/monitoring.py) against a fake API: the
queries asked (filters, interval, alignment, reducers) and the figures computed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cockpit.core.backends.cloudrun import monitoring as cm
from cockpit.core.backends.cloudrun.logs import format_time

NOW = 1_800_000_000.0


def point(value: float | int | str, end: float = NOW, kind: str = "doubleValue") -> dict:
    return {"interval": {"startTime": format_time(int((end - 60) * 1e9)),
                         "endTime": format_time(int(end * 1e9))},
            "value": {kind: value}}


def series(points: list[dict], rev: str = "api-00001-grn", **labels: str) -> dict:
    return {"metric": {"type": "x", "labels": labels},
            "resource": {"type": "cloud_run_revision",
                         "labels": {"service_name": "api", "revision_name": rev,
                                    "location": "us-central1"}},
            "points": points}


class FakeMonitoring:
    """timeSeries.list answering by metric type; pages of one series each."""

    def __init__(self, answers: dict[str, list[dict]]) -> None:
        self.answers = answers
        self.calls: list[dict[str, list[str]]] = []
        self.error: Exception | None = None

    async def call(self, api: str, method: str, path: str, *, params: Any = None,
                   json: Any = None) -> dict[str, Any]:
        assert (api, method, path) == ("monitoring", "GET", "/v3/projects/p/timeSeries")
        asked: dict[str, list[str]] = {}
        for key, value in params:
            asked.setdefault(key, []).append(value)
        self.calls.append(asked)
        if self.error is not None:
            raise self.error
        metric = re.match(r'metric.type="([^"]+)"', asked["filter"][0]).group(1)
        found = self.answers.get(metric, [])
        index = int(asked.get("pageToken", ["0"])[0])
        answer: dict[str, Any] = {"timeSeries": found[index:index + 1]}
        if index + 1 < len(found):
            answer["nextPageToken"] = str(index + 1)
        return answer

    def asked(self, metric: str) -> list[dict[str, list[str]]]:
        return [c for c in self.calls if metric in c["filter"][0]]


async def stats(fake: FakeMonitoring, window: float = 300.0) -> dict[str, float]:
    return await cm.service_stats(fake, "p", "us-central1", "api", window=window,
                                  clock=lambda: NOW)


def test_stat_names() -> None:
    assert cm.STAT_NAMES == ("request_rate", "error_rate", "p99_latency_ms", "instances")


async def test_figures_of_a_service_with_errors() -> None:
    fake = FakeMonitoring({
        cm.REQUESTS: [series([point(9.4)], response_code_class="2xx"),
                      series([point(0.6)], response_code_class="5xx")],
        cm.LATENCIES: [series([point(120.0)]), series([point(850.0)], rev="api-00002-blu")],
        cm.INSTANCES: [series([point("2", kind="int64Value")]),
                       series([point("2", kind="int64Value")], rev="api-00002-blu")],
    })
    got = await stats(fake)
    assert got == {"request_rate": pytest.approx(10.0), "error_rate": pytest.approx(6.0),
                   "p99_latency_ms": 850.0, "instances": 4.0}
    assert set(got) == set(cm.STAT_NAMES)


async def test_queries_asked() -> None:
    fake = FakeMonitoring({})
    await stats(fake, window=300)
    requests = fake.asked(cm.REQUESTS)[0]
    assert requests["filter"] == [
        'metric.type="run.googleapis.com/request_count" AND '
        'resource.type="cloud_run_revision" AND resource.labels.service_name="api" AND '
        'resource.labels.location="us-central1"']
    assert requests["interval.startTime"] == [format_time(int((NOW - 300) * 1e9))]
    assert requests["interval.endTime"] == [format_time(int(NOW * 1e9))]
    assert requests["aggregation.alignmentPeriod"] == ["60s"]  # a rate per minute
    assert requests["aggregation.perSeriesAligner"] == ["ALIGN_RATE"]
    assert requests["aggregation.crossSeriesReducer"] == ["REDUCE_SUM"]
    assert requests["aggregation.groupByFields"] == ["metric.labels.response_code_class"]
    latencies = fake.asked(cm.REQUESTS.replace("count", "latencies"))[0]
    assert latencies["aggregation.perSeriesAligner"] == ["ALIGN_PERCENTILE_99"]
    assert latencies["aggregation.alignmentPeriod"] == ["300s"]  # one period: the window
    assert "aggregation.crossSeriesReducer" not in latencies
    instances = fake.asked(cm.INSTANCES)[0]
    assert instances["aggregation.alignmentPeriod"] == ["300s"]
    assert instances["aggregation.perSeriesAligner"] == ["ALIGN_MAX"]
    assert instances["aggregation.crossSeriesReducer"] == ["REDUCE_SUM"]


async def test_short_window_is_a_minute_at_least() -> None:
    fake = FakeMonitoring({})
    await stats(fake, window=5)
    assert {c["aggregation.alignmentPeriod"][0] for c in fake.calls} == {"60s"}


async def test_no_traffic_gives_zero_rates_and_no_latency() -> None:
    got = await stats(FakeMonitoring({}))
    assert got == {"request_rate": 0.0, "error_rate": 0.0, "instances": 0.0}


async def test_the_request_rate_is_the_mean_over_the_minutes_monitoring_has() -> None:
    """The newest minute is not in Monitoring yet: it does not count as no traffic."""
    fake = FakeMonitoring({
        cm.REQUESTS: [series([point(6.0, NOW - 60), point(2.0, NOW - 120),
                              point(2.0, NOW - 180)], response_code_class="2xx"),
                      series([point(2.0, NOW - 60)], response_code_class="5xx")],
    })
    got = await stats(fake)
    assert got["request_rate"] == pytest.approx(12.0 / 3)
    assert got["error_rate"] == pytest.approx(2.0 / 12 * 100)


async def test_newest_point_of_a_gauge_counts() -> None:
    fake = FakeMonitoring({cm.INSTANCES: [
        series([point("3", NOW - 300, "int64Value"), point("1", NOW, "int64Value")])]})
    assert (await stats(fake))["instances"] == 1.0


async def test_unreduced_series_are_summed_here() -> None:
    """A server that did not reduce: one series per revision and class."""
    fake = FakeMonitoring({cm.REQUESTS: [
        series([point(3.0)], response_code_class="2xx"),
        series([point(1.0)], rev="api-00002-blu", response_code_class="2xx"),
        series([point(1.0)], rev="api-00002-blu", response_code_class="5xx"),
    ]})
    got = await stats(fake)
    assert got["request_rate"] == pytest.approx(5.0)
    assert got["error_rate"] == pytest.approx(20.0)
    assert len(fake.asked(cm.REQUESTS)) == 3  # page tokens followed
    assert fake.asked(cm.REQUESTS)[2]["pageToken"] == ["2"]


async def test_errors_propagate() -> None:
    class Denied(Exception):
        status = 403

    fake = FakeMonitoring({})
    fake.error = Denied("Cloud Monitoring: 403 PERMISSION_DENIED: no")
    with pytest.raises(Denied, match="403 PERMISSION_DENIED"):
        await stats(fake)
