"""One Prometheus metric from one exposition page: scan, select and reduce.

``read_metric`` is pure (it takes the state of the last scrape and returns the new one)
so that it can run in a worker thread while the event loop goes on; the caller keeps the
new state only if the reading finished in time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from cockpit.core.config.models import PrometheusMetric
from cockpit.core.sources.exposition import Sample, scan_family

SeriesKey = tuple[tuple[str, str], ...]


class ReadError(Exception):
    """The page has no usable answer for the metric; the message is the sample's error."""


@dataclass(frozen=True, slots=True)
class ScrapeState:
    """What a prometheus metric remembers between scrapes (for rates and deltas)."""

    at: float | None = None
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    buckets: dict[float, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reading:
    """The value of one scrape, a note (series dropped), and the state to keep."""

    value: float | None
    note: str | None
    state: ScrapeState


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus ``histogram_quantile`` on ``(upper_bound, cumulative_count)`` pairs."""
    if not buckets:
        return None
    ordered = sorted(buckets)
    if not math.isinf(ordered[-1][0]) or len(ordered) < 2:
        return None
    fixed: list[tuple[float, float]] = []
    highest = 0.0
    for bound, count in ordered:  # ensure monotonic, as Prometheus does
        highest = max(highest, count)
        fixed.append((bound, highest))
    observations = fixed[-1][1]
    if observations <= 0:
        return None
    rank = q * observations
    b = next(i for i, (_, count) in enumerate(fixed) if count >= rank)
    if b == len(fixed) - 1:
        return fixed[-2][0]
    if b == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    start, end, count = 0.0, fixed[b][0], fixed[b][1]
    if b > 0:
        start = fixed[b - 1][0]
        count -= fixed[b - 1][1]
        rank -= fixed[b - 1][1]
    if count <= 0:
        return start
    return start + (end - start) * (rank / count)


def _value_names(family: str) -> list[frozenset[str]]:
    """Sample names to sum, in order of preference (a counter's ``_total``, a histogram's
    ``_count`` as a fallback)."""
    base = family[: -len("_total")] if family.endswith("_total") else family
    return [frozenset({family, base + "_total", base}), frozenset({base + "_count"})]


def _series_key(labels: dict[str, str]) -> SeriesKey:
    return tuple(sorted(labels.items()))


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ReadError(f"not a number: {text!r}") from None


def shown_name(metric: PrometheusMetric) -> str:
    """``family{label="value",...}`` as the profile selects it."""
    label_text = ",".join(f'{k}="{v}"' for k, v in metric.labels.items())
    return metric.metric + ("{" + label_text + "}" if label_text else "")


def read_metric(metric: PrometheusMetric, text: str, at: float, previous: ScrapeState, *,
                deadline: float | None = None, stop: threading.Event | None = None) -> Reading:
    """The metric's value on ``text`` (scraped at ``at``, monotonic), from ``previous``.

    Raises ``ReadError``, ``ValueError`` (a malformed line of the family) or
    ``ParseAbandoned`` (past ``deadline`` or ``stop`` set).
    """
    quantile = metric.aggregate == "quantile"
    if quantile:
        base = metric.metric.removesuffix("_bucket")
        groups = [frozenset({base + "_bucket"})]
        family = base
    else:
        groups = _value_names(metric.metric)
        family = metric.metric
    scan = scan_family(text, family, frozenset().union(*groups), metric.labels,
                       ignore="le" if quantile else None, max_series=metric.max_series,
                       deadline=deadline, stop=stop)
    note = f"{scan.dropped} series dropped (max_series {metric.max_series})" \
        if scan.dropped else None
    if quantile:
        return _quantile(metric, scan.samples, previous, at, note)
    chosen: list[Sample] = []
    for names in groups:
        chosen = [s for s in scan.samples if s.name in names]
        if chosen:
            break
    if not chosen and not scan.present:
        raise ReadError(f"no series {shown_name(metric)}")
    # The family exists but no series matches the labels yet (no 500s so far): zero.
    if metric.aggregate == "sum":
        return Reading(sum(s.value for s in chosen), note, previous)
    # rate: per-series increase since the last scrape; a drop is a counter reset.
    current = {_series_key(s.labels): s.value for s in chosen}
    state = ScrapeState(at=at, counters=current, buckets=previous.buckets)
    if previous.at is None or at <= previous.at:
        return Reading(None, note, state)
    increase = 0.0
    for key, value in current.items():
        # A series born since the last scrape started from zero in between.
        before = previous.counters.get(key, 0.0)
        increase += value if value < before else value - before
    return Reading(increase / (at - previous.at), note, state)


def _quantile(metric: PrometheusMetric, buckets: list[Sample], previous: ScrapeState,
              at: float, note: str | None) -> Reading:
    if not buckets:
        raise ReadError(f"no histogram buckets for {shown_name(metric)}")
    totals: dict[float, float] = {}
    for s in buckets:
        bound = _to_float(s.labels.get("le", "nan"))
        totals[bound] = totals.get(bound, 0.0) + s.value
    use = totals
    before = previous.buckets
    if before and before.keys() == totals.keys() and all(
        totals[b] >= before[b] for b in totals
    ):
        delta = {b: totals[b] - before[b] for b in totals}
        if delta.get(math.inf, 0.0) > 0:
            use = delta
    state = ScrapeState(at=at, counters=previous.counters, buckets=totals)
    return Reading(histogram_quantile(metric.quantile, list(use.items())), note, state)
