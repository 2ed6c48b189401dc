"""Metrics: Prometheus exposition scrapes, PromQL instant queries, host, probe latency.

``MetricsSampler.sample_all()`` samples every metric concurrently (metrics on the
same exposition URL share one fetch per refresh), keeps a bounded series per metric
for sparklines, and never raises: a failure is a sample with ``value=None`` and an
``error``. Exposition pages are filtered to the wanted family with a string scan
before the (slow) prometheus_client parser sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from cockpit.core.backends.base import Backend, Capability
from cockpit.core.config.models import (
    HostMetric,
    ProbeLatencyMetric,
    PrometheusMetric,
    PromQLMetric,
    TargetMetric,
    Threshold,
)
from cockpit.core.errors import CockpitError
from cockpit.core.http_clients import async_client
from cockpit.core.sources.health import HealthRow, describe_error

MetricState = Literal["ok", "warn", "crit", "unknown"]
AnyMetric = PrometheusMetric | PromQLMetric | HostMetric | ProbeLatencyMetric | TargetMetric

_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info")
_SEPARATORS = frozenset("{ \t")


# --- thresholds --------------------------------------------------------------------------


def _past(value: float, threshold: Threshold | None) -> bool:
    if threshold is None:
        return False
    if threshold.above is not None:
        return value > threshold.above
    return threshold.below is not None and value < threshold.below


def threshold_state(
    value: float | None, warn: Threshold | None, crit: Threshold | None
) -> MetricState:
    """``crit`` if past the crit threshold, else ``warn`` if past warn, else ``ok``."""
    if value is None or math.isnan(value):
        return "unknown"
    if _past(value, crit):
        return "crit"
    if _past(value, warn):
        return "warn"
    return "ok"


# --- exposition filtering and reduction ----------------------------------------------------


def filter_exposition(text: str, family: str) -> str:
    """Only the lines of ``family``: its HELP/TYPE lines and samples (with suffixes).

    A string scan over the occurrences of the name, far cheaper than a full parse.
    """
    if not family:
        return ""
    out: list[str] = []
    size = len(family)
    i = text.find(family)
    while i >= 0:
        line_start = text.rfind("\n", 0, i) + 1
        line_end = text.find("\n", i)
        if line_end < 0:
            line_end = len(text)
        prefix = text[line_start:i]
        if prefix == "" or prefix in ("# HELP ", "# TYPE ", "# UNIT "):
            rest = text[i + size : i + size + 10]
            ok = rest[:1] in _SEPARATORS or rest == ""
            if not ok:
                for suffix in _SUFFIXES:
                    if rest.startswith(suffix) and (
                        len(rest) == len(suffix) or rest[len(suffix)] in _SEPARATORS
                        or i + size + len(suffix) == line_end
                    ):
                        ok = True
                        break
            if ok:
                out.append(text[line_start:line_end])
        i = text.find(family, line_end)
    return "\n".join(out) + "\n" if out else ""


@dataclass(slots=True)
class Sample:
    """One parsed sample of an exposition page."""

    name: str
    labels: dict[str, str]
    value: float


def parse_family(text: str, family: str) -> list[Sample]:
    """Samples of ``family`` (and its suffixed series) from an exposition page."""
    filtered = filter_exposition(text, family)
    if not filtered:
        return []
    samples: list[Sample] = []
    for fam in text_string_to_metric_families(filtered):
        for s in fam.samples:
            samples.append(Sample(s.name, dict(s.labels), float(s.value)))
    return samples


def _select(samples: Iterable[Sample], names: set[str], labels: dict[str, str],
            ignore: str | None = None) -> list[Sample]:
    return [
        s for s in samples
        if s.name in names and all(s.labels.get(k) == v for k, v in labels.items() if k != ignore)
    ]


def _value_names(family: str) -> list[set[str]]:
    """Sample names to sum, in order of preference (a counter's ``_total``, a histogram's
    ``_count`` as a fallback)."""
    base = family[: -len("_total")] if family.endswith("_total") else family
    return [{family, base + "_total", base}, {base + "_count"}]


def _series_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


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


# --- samples and series -------------------------------------------------------------------


@dataclass(slots=True)
class MetricSample:
    """One reading of a metric."""

    value: float | None
    state: MetricState
    error: str | None
    ts: float  #: ``time.time()``


class MetricSeries:
    """The last ``window`` values of a metric (``None`` for gaps) and its last sample."""

    def __init__(self, metric: AnyMetric) -> None:
        self.metric = metric
        self.values: deque[float | None] = deque(maxlen=metric.window)
        self.last: MetricSample | None = None

    @property
    def state(self) -> MetricState:
        return self.last.state if self.last is not None else "unknown"

    def append(self, sample: MetricSample) -> None:
        self.values.append(sample.value)
        self.last = sample


class _ScrapeState:
    """What a prometheus metric remembers between scrapes (for rates and deltas)."""

    __slots__ = ("at", "buckets", "counters")

    def __init__(self) -> None:
        self.at: float | None = None
        self.counters: dict[tuple[tuple[str, str], ...], float] = {}
        self.buckets: dict[float, float] = {}


class _MetricError(Exception):
    """A reading failed; the message is the sample's error."""


def _to_float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise _MetricError(f"not a number: {text!r}") from None


class MetricsSampler:
    """Samples a profile's metrics; one ``MetricSeries`` per metric name."""

    def __init__(self, metrics: Sequence[AnyMetric], *,
                 client: httpx.AsyncClient | None = None,
                 backend: Backend | None = None) -> None:
        self.metrics = list(metrics)
        self.backend = backend  #: for ``target`` metrics (container statistics)
        self._by_name = {m.name: m for m in self.metrics}
        self._series = {m.name: MetricSeries(m) for m in self.metrics}
        self._client = client
        self._own_client = client is None
        self._scrape_state: dict[str, _ScrapeState] = {}
        if any(isinstance(m, HostMetric) and m.metric == "cpu_percent" for m in self.metrics):
            with contextlib.suppress(Exception):
                psutil.cpu_percent(interval=None)  # prime: the first reading is meaningless

    async def client(self) -> httpx.AsyncClient:
        if self._client is None:
            client = await async_client()
            if self._client is None:
                self._client = client
            else:  # another scrape made one meanwhile
                await client.aclose()
        return self._client

    def series(self, name: str) -> MetricSeries:
        """The series of metric ``name`` (KeyError if there is no such metric)."""
        return self._series[name]

    def observe_probe(self, rows: Iterable[HealthRow]) -> None:
        """Feed probe latencies (main rows) into the ``probe_latency`` metrics' series."""
        latest = {row.name: row for row in rows if row.parent is None}
        for metric in self.metrics:
            if isinstance(metric, ProbeLatencyMetric) and metric.probe in latest:
                row = latest[metric.probe]
                # A probe that answered has a latency even when its answer is unhealthy.
                value = row.latency_ms
                error = None if value is not None else (row.reason or row.state)
                state = threshold_state(value, metric.warn, metric.crit)
                self._series[metric.name].append(MetricSample(value, state, error, row.checked_at))

    async def sample_all(self, names: Iterable[str] | None = None) -> dict[str, MetricSample]:
        """Sample every metric (or those named) once, concurrently; append to the series.

        ``probe_latency`` metrics report their last observation and are not appended
        (``observe_probe`` appends them).
        """
        chosen = [self._by_name[n] for n in names if n in self._by_name] if names is not None \
            else self.metrics
        fetches: dict[str, asyncio.Task[tuple[str, float]]] = {}
        timeouts: dict[str, float] = {}
        for m in chosen:
            if isinstance(m, PrometheusMetric):
                timeouts[m.url] = max(timeouts.get(m.url, 0.0), m.timeout)

        def fetch(url: str) -> asyncio.Task[tuple[str, float]]:
            if url not in fetches:
                fetches[url] = asyncio.ensure_future(self._fetch_text(url, timeouts[url]))
            return fetches[url]

        async def one(metric: AnyMetric) -> MetricSample:
            if isinstance(metric, ProbeLatencyMetric):
                last = self._series[metric.name].last
                return last or MetricSample(None, "unknown", "no probe result yet", time.time())
            try:
                if isinstance(metric, PrometheusMetric):
                    value = await self._prometheus(metric, fetch(metric.url))
                elif isinstance(metric, PromQLMetric):
                    value = await self._promql(metric)
                elif isinstance(metric, TargetMetric):
                    async with asyncio.timeout(metric.timeout):
                        value = await self._target(metric)
                else:
                    async with asyncio.timeout(metric.timeout):
                        value = await asyncio.to_thread(_host_value, metric)
                error = None
            except _MetricError as exc:
                value, error = None, str(exc)
            except (TimeoutError, httpx.TimeoutException):
                value, error = None, f"timed out after {metric.timeout:.1f}s"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a metric never raises into the caller
                value, error = None, describe_error(exc, metric.timeout)
            if value is not None and math.isnan(value):
                value, error = None, error or "NaN"
            sample = MetricSample(value, threshold_state(value, metric.warn, metric.crit),
                                  error, time.time())
            self._series[metric.name].append(sample)
            return sample

        try:
            results = await asyncio.gather(*(one(m) for m in chosen))
        finally:
            for task in fetches.values():
                if not task.done():
                    task.cancel()
            if fetches:
                await asyncio.gather(*fetches.values(), return_exceptions=True)
        return {m.name: s for m, s in zip(chosen, results, strict=True)}

    async def close(self) -> None:
        if self._client is not None and self._own_client:
            client, self._client = self._client, None
            await client.aclose()

    # -- kinds ---------------------------------------------------------------------------

    async def _fetch_text(self, url: str, timeout: float) -> tuple[str, float]:
        async with asyncio.timeout(timeout):
            response = await (await self.client()).get(
                url, timeout=timeout, headers={"Accept": "text/plain;version=0.0.4"}
            )
        at = time.monotonic()
        if response.status_code != 200:
            raise _MetricError(f"HTTP {response.status_code}")
        return response.text, at

    async def _prometheus(self, metric: PrometheusMetric,
                          fetched: asyncio.Future[tuple[str, float]]) -> float | None:
        text, at = await asyncio.shield(fetched)
        try:
            samples = parse_family(text, metric.metric)
        except ValueError as exc:
            raise _MetricError(f"invalid exposition: {exc}") from None
        label_text = ",".join(f'{k}="{v}"' for k, v in metric.labels.items())
        shown = metric.metric + ("{" + label_text + "}" if label_text else "")
        state = self._scrape_state.setdefault(metric.name, _ScrapeState())
        if metric.aggregate == "quantile":
            return self._quantile(metric, samples, state, at, shown)
        chosen: list[Sample] = []
        for names in _value_names(metric.metric):
            chosen = _select(samples, names, metric.labels)
            if chosen:
                break
        if not chosen and not samples:
            raise _MetricError(f"no series {shown}")
        # The family exists but no series matches the labels yet (no 500s so far): zero.
        if metric.aggregate == "sum":
            return sum(s.value for s in chosen)
        # rate: per-series increase since the last scrape; a drop is a counter reset.
        current = {_series_key(s.labels): s.value for s in chosen}
        previous, prev_at = state.counters, state.at
        state.counters, state.at = current, at
        if prev_at is None or at <= prev_at:
            return None
        increase = 0.0
        for key, value in current.items():
            # A series born since the last scrape started from zero in between.
            before = previous.get(key, 0.0)
            increase += value if value < before else value - before
        return increase / (at - prev_at)

    def _quantile(self, metric: PrometheusMetric, samples: list[Sample], state: _ScrapeState,
                  at: float, shown: str) -> float | None:
        base = metric.metric[: -len("_bucket")] if metric.metric.endswith("_bucket") \
            else metric.metric
        buckets = _select(samples, {base + "_bucket"}, metric.labels, ignore="le")
        if not buckets:
            raise _MetricError(f"no histogram buckets for {shown}")
        totals: dict[float, float] = {}
        for s in buckets:
            bound = _to_float(s.labels.get("le", "nan"))
            totals[bound] = totals.get(bound, 0.0) + s.value
        previous = state.buckets
        state.buckets, state.at = totals, at
        use = totals
        if previous and previous.keys() == totals.keys() and all(
            totals[b] >= previous[b] for b in totals
        ):
            delta = {b: totals[b] - previous[b] for b in totals}
            if delta.get(math.inf, 0.0) > 0:
                use = delta
        return histogram_quantile(metric.quantile, list(use.items()))

    async def _promql(self, metric: PromQLMetric) -> float | None:
        url = metric.url.rstrip("/") + "/api/v1/query"
        async with asyncio.timeout(metric.timeout):
            response = await (await self.client()).get(
                url, params={"query": metric.query}, timeout=metric.timeout
            )
        try:
            body = response.json()
        except ValueError:
            raise _MetricError(
                f"HTTP {response.status_code}" if response.status_code != 200
                else "invalid JSON from Prometheus"
            ) from None
        if not isinstance(body, dict):
            raise _MetricError("unexpected response from Prometheus")
        if body.get("status") != "success":
            kind = body.get("errorType") or "error"
            raise _MetricError(f"{kind}: {body.get('error') or f'HTTP {response.status_code}'}")
        data = body.get("data") or {}
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            return _to_float(result[1]) if isinstance(result, list) and len(result) == 2 \
                else None
        if kind == "vector":
            if not result:
                raise _MetricError("no data")
            return sum(_to_float(item["value"][1]) for item in result)
        raise _MetricError(f"unsupported result type {kind!r} (use an instant vector or scalar)")


    async def _target(self, metric: TargetMetric) -> float:
        """One statistic of one target, or summed over every target."""
        backend = self.backend
        if backend is None:
            raise _MetricError("a target metric needs the profile's backend")
        if not backend.capabilities & Capability.STATS:
            raise _MetricError(f"the {backend.kind} backend has no target statistics")
        try:
            if metric.target is not None:
                names = [metric.target]
            else:
                names = [t.name for t in await backend.list_targets() if t.state != "missing"]
            if not names:
                raise _MetricError("no targets")
            total = 0.0
            for name in names:
                stats = await backend.target_stats(name)
                if metric.stat not in stats:
                    raise _MetricError(f"waiting for the first {metric.stat} of {name}")
                total += float(stats[metric.stat])
        except CockpitError as exc:
            raise _MetricError(str(exc)) from None
        return total


def _host_value(metric: HostMetric) -> float:
    """One psutil reading (blocking; run in a thread)."""
    if metric.metric == "cpu_percent":
        return float(psutil.cpu_percent(interval=None))
    if metric.metric == "mem_percent":
        return float(psutil.virtual_memory().percent)
    if metric.metric == "load1":
        return float(os.getloadavg()[0]) if hasattr(os, "getloadavg") \
            else float(psutil.getloadavg()[0])
    if metric.metric == "disk_percent":
        try:
            return float(psutil.disk_usage(os.path.expanduser(metric.path)).percent)
        except OSError as exc:
            raise _MetricError(f"{metric.path}: {exc.strerror or exc}") from None
    return float(psutil.swap_memory().percent)
