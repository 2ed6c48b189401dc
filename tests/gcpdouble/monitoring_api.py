"""Cloud Monitoring v3 ``GET /v3/projects/P/timeSeries`` for three Cloud Run metrics, computed
from the serving split: each revision with traffic gets ``request_rate x share`` req/s
(``error_ratio`` of them 5xx), its own latency and ``instances`` instances. Values are the same
at every point of the interval (the split now)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.gcpdouble.errors import ApiError, invalid
from tests.gcpdouble.filters import compile_filter
from tests.gcpdouble.paging import page
from tests.gcpdouble.server import Request, Router
from tests.gcpdouble.timefmt import parse_duration, parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from tests.gcpdouble.double import GcpDouble

REQUEST_COUNT = "run.googleapis.com/request_count"
LATENCIES = "run.googleapis.com/request_latencies"
INSTANCES = "run.googleapis.com/container/instance_count"
REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "REDUCE_SUM": sum,
    "REDUCE_MEAN": lambda v: sum(v) / len(v),
    "REDUCE_MAX": max,
    "REDUCE_MIN": min,
    "REDUCE_COUNT": lambda v: float(len(v)),
    "REDUCE_PERCENTILE_99": max,
    "REDUCE_PERCENTILE_95": max,
    "REDUCE_PERCENTILE_50": lambda v: sorted(v)[len(v) // 2],
}
ALIGNERS = {"ALIGN_NONE", "ALIGN_RATE", "ALIGN_DELTA", "ALIGN_SUM", "ALIGN_MEAN", "ALIGN_MAX", "ALIGN_MIN",
            "ALIGN_PERCENTILE_99", "ALIGN_PERCENTILE_95", "ALIGN_PERCENTILE_50"}


def _raw_series(double: GcpDouble) -> list[dict[str, Any]]:
    """Every series of the project as {metric, resource, kind, values(aligner, period) -> value}."""
    state = double.state
    out: list[dict[str, Any]] = []
    with state.lock:
        for (region, name), svc in sorted(state.services.items()):
            for rev_name, pct in state.serving_split(region, name).items():
                rev = state.revisions[(region, rev_name)]
                rate = svc.request_rate * pct / 100.0
                resource = {"type": "cloud_run_revision", "labels": {
                    "project_id": double.project, "service_name": name, "revision_name": rev_name,
                    "location": region, "configuration_name": name}}
                classes = [("2xx", "200", rate * (1 - rev.error_ratio))]
                if rev.error_ratio > 0:
                    classes.append(("5xx", "503", rate * rev.error_ratio))
                for cls, code, r in classes:
                    out.append({"metric": {"type": REQUEST_COUNT, "labels": {
                        "response_code_class": cls, "response_code": code}},
                        "resource": resource, "kind": "count", "rate": r})
                out.append({"metric": {"type": LATENCIES, "labels": {}}, "resource": resource,
                            "kind": "latency", "p99": rev.p99_ms, "mean": rev.mean_ms, "rate": rate})
                out.append({"metric": {"type": INSTANCES, "labels": {"state": "active"}}, "resource": resource,
                            "kind": "instances", "value": rev.instances})
    return out


def _aligned(series: dict[str, Any], aligner: str, period: float) -> tuple[str, str, Any]:
    """(metricKind, valueType, value) of one series under ``aligner``."""
    kind = series["kind"]
    if kind == "count":
        if aligner == "ALIGN_RATE":
            return "GAUGE", "DOUBLE", series["rate"]
        if aligner in ("ALIGN_NONE", "ALIGN_DELTA", "ALIGN_SUM"):
            return "DELTA", "INT64", round(series["rate"] * period)
        return "GAUGE", "DOUBLE", series["rate"] * period
    if kind == "latency":
        if aligner == "ALIGN_NONE":
            return "DELTA", "DISTRIBUTION", {"count": str(round(series["rate"] * period)), "mean": series["mean"]}
        if aligner in ("ALIGN_PERCENTILE_99", "ALIGN_MAX"):
            return "GAUGE", "DOUBLE", series["p99"]
        if aligner == "ALIGN_PERCENTILE_95":
            return "GAUGE", "DOUBLE", series["p99"] * 0.9
        if aligner in ("ALIGN_MEAN", "ALIGN_PERCENTILE_50"):
            return "GAUGE", "DOUBLE", series["mean"]
        if aligner == "ALIGN_DELTA":
            return "DELTA", "DISTRIBUTION", {"count": str(round(series["rate"] * period)), "mean": series["mean"]}
        raise invalid(f"The aligner {aligner} is not valid for a DISTRIBUTION metric.")
    if aligner in ("ALIGN_MEAN", "ALIGN_RATE"):
        return "GAUGE", "DOUBLE", float(series["value"]) if aligner == "ALIGN_MEAN" else 0.0
    return "GAUGE", "INT64", series["value"]


def _typed(value_type: str, value: Any) -> dict[str, Any]:
    if value_type == "DOUBLE":
        return {"doubleValue": float(value)}
    if value_type == "INT64":
        return {"int64Value": str(round(value))}
    return {"distributionValue": value}


def _group_key(series: dict[str, Any], fields: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for f in fields:
        parts = f.split(".")
        if len(parts) == 3 and parts[0] in ("metric", "resource") and parts[1] in ("label", "labels"):
            out.append((f"{parts[0]}.{parts[2]}", series[parts[0]]["labels"].get(parts[2], "")))
        elif f in ("resource.type", "metric.type"):
            continue
        else:
            raise invalid(f"Invalid groupByFields entry {f!r}")
    return tuple(out)


def list_time_series(double: GcpDouble, req: Request, project: str) -> dict[str, Any]:
    if project != double.project:
        raise ApiError(403, f"Permission monitoring.timeSeries.list denied (or the resource may not exist): projects/{project}")
    text = req.param("filter")
    if not text or "metric.type" not in text:
        raise invalid("Field filter had an invalid value: a filter must name exactly one metric.type.")
    end_text = req.param("interval.endTime")
    if not end_text:
        raise invalid("Field interval.endTime had an invalid value: it is required.")
    try:
        end = parse_rfc3339(end_text)
        start = parse_rfc3339(req.param("interval.startTime") or end_text)
        period = parse_duration(req.param("aggregation.alignmentPeriod") or "60s")
    except ValueError as exc:
        raise invalid(f"Invalid interval or alignmentPeriod: {exc}") from None
    if start > end:
        raise invalid("Field interval.startTime is later than interval.endTime.")
    if period <= 0:
        raise invalid("The alignment period must be positive.")
    aligner = req.param("aggregation.perSeriesAligner") or "ALIGN_NONE"
    reducer = req.param("aggregation.crossSeriesReducer") or "REDUCE_NONE"
    if aligner not in ALIGNERS:
        raise invalid(f"Unsupported perSeriesAligner {aligner!r}")
    if reducer != "REDUCE_NONE" and reducer not in REDUCERS:
        raise invalid(f"Unsupported crossSeriesReducer {reducer!r}")
    if reducer != "REDUCE_NONE" and aligner == "ALIGN_NONE":
        raise invalid("The aligner cannot be ALIGN_NONE if cross-series reduction is requested.")
    fields = [f for values in (req.query.get("aggregation.groupByFields") or []) for f in values.split(",") if f]
    pred = compile_filter(text)
    chosen = [s for s in _raw_series(double) if pred(s)]
    rows: list[tuple[dict[str, Any], dict[str, Any], str, str, Any]] = []
    for s in chosen:
        mkind, vtype, value = _aligned(s, aligner, period)
        rows.append((s["metric"], s["resource"], mkind, vtype, value))
    if reducer != "REDUCE_NONE":
        groups: dict[tuple[Any, ...], list[tuple[dict[str, Any], dict[str, Any], str, str, Any]]] = {}
        for row, s in zip(rows, chosen, strict=True):
            groups.setdefault((row[0]["type"], _group_key(s, fields)), []).append(row)
        rows = []
        for (mtype, key), members in sorted(groups.items()):
            values = [float(m[4]) for m in members]
            metric_labels = {k.split(".", 1)[1]: v for k, v in key if k.startswith("metric.")}
            res_labels = {k.split(".", 1)[1]: v for k, v in key if k.startswith("resource.")}
            res_labels.setdefault("project_id", double.project)
            vtype = "INT64" if reducer == "REDUCE_COUNT" else "DOUBLE"
            if reducer == "REDUCE_SUM" and members[0][3] == "INT64":
                vtype = "INT64"
            rows.append(({"type": mtype, "labels": metric_labels}, {"type": "cloud_run_revision", "labels": res_labels},
                         members[0][2], vtype, REDUCERS[reducer](values)))
    ends = []
    t = end
    while True:
        ends.append(t)
        t -= period
        if t < start or len(ends) >= 1000:
            break
    headers_only = req.param("view") == "HEADERS"
    out = []
    for metric, resource, mkind, vtype, value in rows:
        series: dict[str, Any] = {"metric": {k: v for k, v in metric.items() if v}, "resource": resource,
                                  "metricKind": mkind, "valueType": vtype}
        if not headers_only:
            series["points"] = [{"interval": {"startTime": rfc3339(e - period if mkind == "DELTA" else e),
                                              "endTime": rfc3339(e)}, "value": _typed(vtype, value)} for e in ends]
        out.append(series)
    chunk, nxt = page(out, req.param("pageToken"), req.param("pageSize"), default=10000, maximum=100000)
    result: dict[str, Any] = {}
    if chunk:
        result["timeSeries"] = chunk
    if nxt:
        result["nextPageToken"] = nxt
    return result


def register(double: GcpDouble, router: Router) -> None:
    router.add("GET", r"/v3/projects/(?P<project>[^/]+)/timeSeries",
               lambda req, project: list_time_series(double, req, project), "monitoring")
