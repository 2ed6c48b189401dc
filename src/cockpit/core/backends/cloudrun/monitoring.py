"""Request rate, error rate, p99 latency and instances of a Cloud Run service, from Cloud
Monitoring v3 (``GET /v3/projects/P/timeSeries``) over the last ``window`` seconds.

Three calls, made together, over the window (at least 60 s, Monitoring's finest period
for these metrics):

- ``run.googleapis.com/request_count``, ``ALIGN_RATE`` per minute summed (``REDUCE_SUM``)
  per ``metric.labels.response_code_class``: ``request_rate`` (req/s, every class, the
  mean over the minutes Monitoring has: Cloud Run's samples reach it up to 3 minutes
  late, so a rate over the whole window would under-count the newest ones) and
  ``error_rate`` (percent of those requests ``5xx``; 0 without requests);
- ``run.googleapis.com/request_latencies``, ``ALIGN_PERCENTILE_99`` over one period as
  long as the window: ``p99_latency_ms``, the highest over the service's series (an
  upper bound of the service's own p99; absent without requests in the window);
- ``run.googleapis.com/container/instance_count``, ``ALIGN_MAX`` over the window,
  summed: ``instances``.

Sums and the maximum are also taken here, so the figures hold whether or not the server
reduced the series. Errors (``GoogleAPIError``, a ``CockpitError``) propagate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cockpit.core.backends.cloudrun.logs import (
    Clock,
    format_time,
    parse_time,
    quote,
)

if TYPE_CHECKING:
    from cockpit.core.backends.cloudrun.api import GoogleAPI

STAT_NAMES: tuple[str, ...] = ("request_rate", "error_rate", "p99_latency_ms", "instances")

REQUESTS = "run.googleapis.com/request_count"
LATENCIES = "run.googleapis.com/request_latencies"
INSTANCES = "run.googleapis.com/container/instance_count"
CLASS_LABEL = "response_code_class"
MIN_PERIOD = 60
PAGES_MAX = 20  #: pages of series read at most per call


def series_filter(metric: str, region: str, service: str) -> str:
    """The Monitoring filter of one metric of one service in a region."""
    return (f"metric.type={quote(metric)} AND resource.type=\"cloud_run_revision\" AND "
            f"resource.labels.service_name={quote(service)} AND "
            f"resource.labels.location={quote(region)}")


def point_value(point: Mapping[str, Any]) -> float | None:
    """A point's number (doubleValue, or int64Value which JSON gives as a string)."""
    value = point.get("value") or {}
    for key in ("doubleValue", "int64Value"):
        if key in value:
            try:
                return float(value[key])
            except (TypeError, ValueError):
                return None
    return None


def points(series: Mapping[str, Any]) -> list[tuple[int, float]]:
    """``(end time ns, value)`` of every point of a series that has a number."""
    out = []
    for point in series.get("points") or []:
        if isinstance(point, Mapping) and (value := point_value(point)) is not None:
            out.append((parse_time(str((point.get("interval") or {}).get("endTime")
                                       or "")) or 0, value))
    return out


def newest_value(series: Mapping[str, Any]) -> float | None:
    """The value of a series' newest point (the API lists them newest first; the
    end times decide)."""
    got = points(series)
    return max(got)[1] if got else None


async def time_series(api: GoogleAPI, project: str, filter_text: str, *, start: int,
                      end: int, period: int, aligner: str, reducer: str | None = None,
                      group_by: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every series of one timeSeries.list query (page tokens followed)."""
    base: list[tuple[str, str]] = [
        ("filter", filter_text),
        ("interval.startTime", format_time(start)), ("interval.endTime", format_time(end)),
        ("aggregation.alignmentPeriod", f"{period}s"),
        ("aggregation.perSeriesAligner", aligner), ("view", "FULL"),
    ]
    if reducer:
        base.append(("aggregation.crossSeriesReducer", reducer))
        base.extend(("aggregation.groupByFields", field) for field in group_by)
    out: list[dict[str, Any]] = []
    token = ""
    for _ in range(PAGES_MAX):
        params = [*base, ("pageToken", token)] if token else base
        answer = await api.call("monitoring", "GET", f"/v3/projects/{project}/timeSeries",
                                params=params)
        out.extend(s for s in answer.get("timeSeries") or [] if isinstance(s, dict))
        token = answer.get("nextPageToken") or ""
        if not token:
            break
    return out


def _label(series: Mapping[str, Any], name: str) -> str:
    return str(((series.get("metric") or {}).get("labels") or {}).get(name) or "")


async def service_stats(api: GoogleAPI, project: str, region: str, service: str, *,
                        window: float, clock: Clock = time.time) -> dict[str, float]:
    """``request_rate``, ``error_rate``, ``p99_latency_ms`` (when there were requests)
    and ``instances`` of ``service`` over the last ``window`` seconds."""
    period = max(MIN_PERIOD, round(window))
    end = int(clock() * 1e9)
    span = {"start": end - period * 1_000_000_000, "end": end, "period": period}
    minutes = {**span, "period": MIN_PERIOD}
    requests, latencies, instances = await asyncio.gather(
        time_series(api, project, series_filter(REQUESTS, region, service),
                    aligner="ALIGN_RATE", reducer="REDUCE_SUM",
                    group_by=(f"metric.labels.{CLASS_LABEL}",), **minutes),
        time_series(api, project, series_filter(LATENCIES, region, service),
                    aligner="ALIGN_PERCENTILE_99", **span),
        time_series(api, project, series_filter(INSTANCES, region, service),
                    aligner="ALIGN_MAX", reducer="REDUCE_SUM", **span),
    )
    total, errors, ends = 0.0, 0.0, set()
    for series in requests:
        failed = _label(series, CLASS_LABEL) == "5xx"
        for end_ns, value in points(series):
            ends.add(end_ns)
            total += value
            errors += value if failed else 0.0
    stats = {"request_rate": total / len(ends) if ends else 0.0,
             "error_rate": errors / total * 100 if total > 0 else 0.0}
    p99 = [v for v in map(newest_value, latencies) if v is not None]
    if p99:
        stats["p99_latency_ms"] = max(p99)
    stats["instances"] = sum(newest_value(series) or 0.0 for series in instances)
    return stats
