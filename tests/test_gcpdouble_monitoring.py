"""The gcp double's Cloud Monitoring v3 timeSeries.list, computed from the serving split."""

from __future__ import annotations

import httpx
import pytest

from tests.gcpdouble import GcpDouble
from tests.gcpdouble.seed import BLUE, GREEN, SERVICE
from tests.gcpdouble.timefmt import rfc3339

PATH = "/v3/projects/tai-erlang-demo/timeSeries"
SVC = 'resource.labels.service_name="tai-autonomics" AND resource.labels.location="us-central1"'


@pytest.fixture
def client(gcp: GcpDouble):
    with httpx.Client(base_url=gcp.url, headers={"Authorization": f"Bearer {gcp.token}"}, timeout=10) as c:
        yield c


def _query(gcp, client, metric: str, aligner: str | None = None, reducer: str | None = None,
           group: list[str] | None = None, window: float = 300, period: str = "60s", **extra) -> dict:
    now = gcp.state.clock()
    params: list[tuple[str, str]] = [
        ("filter", f'metric.type="{metric}" AND {SVC}'),
        ("interval.startTime", rfc3339(now - window)), ("interval.endTime", rfc3339(now)),
        ("aggregation.alignmentPeriod", period)]
    if aligner:
        params.append(("aggregation.perSeriesAligner", aligner))
    if reducer:
        params.append(("aggregation.crossSeriesReducer", reducer))
    for field in group or []:
        params.append(("aggregation.groupByFields", field))
    params += list(extra.items())
    resp = client.get(PATH, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _values(series: dict) -> list[float]:
    return [float(next(iter(p["value"].values()))) for p in series["points"]]


def test_request_rate_and_error_share_follow_the_split(gcp, client):
    total = _query(gcp, client, "run.googleapis.com/request_count", "ALIGN_RATE", "REDUCE_SUM")["timeSeries"]
    assert len(total) == 1 and _values(total[0]) == [10.0] * 6
    assert total[0]["metricKind"] == "GAUGE" and total[0]["valueType"] == "DOUBLE"
    by_class = _query(gcp, client, "run.googleapis.com/request_count", "ALIGN_RATE", "REDUCE_SUM",
                      ["metric.labels.response_code_class"])["timeSeries"]
    assert {s["metric"]["labels"]["response_code_class"]: _values(s)[0] for s in by_class} == {"2xx": 10.0}
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 50, BLUE: 50})
    by_class = _query(gcp, client, "run.googleapis.com/request_count", "ALIGN_RATE", "REDUCE_SUM",
                      ["metric.labels.response_code_class"])["timeSeries"]
    rates = {s["metric"]["labels"]["response_code_class"]: _values(s)[0] for s in by_class}
    assert rates["5xx"] / (rates["2xx"] + rates["5xx"]) == pytest.approx(0.12 * 0.5)
    per_rev = _query(gcp, client, "run.googleapis.com/request_count", "ALIGN_RATE", "REDUCE_NONE")["timeSeries"]
    assert {s["resource"]["labels"]["revision_name"] for s in per_rev} == {GREEN, BLUE}


def test_latency_p99_and_instances(gcp, client):
    p99 = _query(gcp, client, "run.googleapis.com/request_latencies", "ALIGN_PERCENTILE_99", "REDUCE_MAX")
    assert _values(p99["timeSeries"][0])[0] == 120.0
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 90, BLUE: 10})
    per_rev = _query(gcp, client, "run.googleapis.com/request_latencies", "ALIGN_PERCENTILE_99")["timeSeries"]
    assert {s["resource"]["labels"]["revision_name"]: _values(s)[0] for s in per_rev} == {GREEN: 120.0, BLUE: 850.0}
    mean = _query(gcp, client, "run.googleapis.com/request_latencies", "ALIGN_MEAN", "REDUCE_MEAN")["timeSeries"]
    assert _values(mean[0])[0] == pytest.approx((35.0 + 240.0) / 2)
    inst = _query(gcp, client, "run.googleapis.com/container/instance_count", "ALIGN_MAX", "REDUCE_SUM")["timeSeries"]
    assert _values(inst[0])[0] == 4 and inst[0]["points"][0]["value"] == {"int64Value": "4"}
    raw = _query(gcp, client, "run.googleapis.com/request_latencies")["timeSeries"]
    assert "distributionValue" in raw[0]["points"][0]["value"]


def test_points_are_newest_first_per_alignment_period(gcp, client):
    series = _query(gcp, client, "run.googleapis.com/request_count", "ALIGN_DELTA", "REDUCE_SUM", window=120,
                    period="30s")["timeSeries"][0]
    ends = [p["interval"]["endTime"] for p in series["points"]]
    assert ends == sorted(ends, reverse=True) and len(ends) == 5
    assert series["points"][0]["value"] == {"int64Value": "300"}
    headers = _query(gcp, client, "run.googleapis.com/request_count", "ALIGN_RATE", view="HEADERS")["timeSeries"]
    assert "points" not in headers[0]


def test_other_service_or_region_is_empty_and_bad_requests_400(gcp, client):
    now = rfc3339(gcp.state.clock())
    resp = client.get(PATH, params={"filter": 'metric.type="run.googleapis.com/request_count" AND '
                                              'resource.labels.service_name="nope"', "interval.endTime": now})
    assert resp.json() == {}
    assert client.get(PATH, params={"filter": 'resource.labels.service_name="x"', "interval.endTime": now}).status_code == 400
    assert client.get(PATH, params={"filter": 'metric.type="run.googleapis.com/request_count"'}).status_code == 400
    bad = client.get(PATH, params={"filter": 'metric.type="run.googleapis.com/request_count"', "interval.endTime": now,
                                   "aggregation.crossSeriesReducer": "REDUCE_SUM"})
    assert bad.status_code == 400
    other = client.get("/v3/projects/other/timeSeries", params={"filter": 'metric.type="x"', "interval.endTime": now})
    assert other.status_code == 403
    gcp.inject("GET", r"/timeSeries$", 503)
    assert client.get(PATH, params={"filter": 'metric.type="x"', "interval.endTime": now}).status_code == 503
