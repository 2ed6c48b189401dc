"""Metrics: Prometheus exposition scrapes, PromQL instant queries, host, probe latency.

``MetricsSampler.sample_all()`` samples every metric concurrently (metrics on the
same exposition URL share one fetch per refresh), keeps a bounded series per metric
for sparklines, and never raises: a failure is a sample with ``value=None`` and an
``error``.

An exposition scrape is bounded: the page is streamed and not read past ``max_body``
(``scrape``), then parsed and reduced in a worker thread (``exposition``: only the
lines of the wanted family are looked at, at most ``max_series`` matching series are
kept), and the whole fetch and parse ends at the metric's ``timeout``: a parse that
runs over is abandoned and reported. The event loop only moves chunks of bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import psutil

from cockpit.core.backends.base import Backend, Capability
from cockpit.core.config.models import (
    HostMetric,
    JsonMetric,
    ProbeLatencyMetric,
    PrometheusMetric,
    PromQLMetric,
    TargetMetric,
    Threshold,
)
from cockpit.core.errors import CockpitError
from cockpit.core.http_clients import async_client
from cockpit.core.sources.exposition import ParseAbandoned, Sample, family_names, scan_family
from cockpit.core.sources.health import MISSING, HealthRow, describe_error, resolve_path
from cockpit.core.sources.prometheus import ReadError, Reading, ScrapeState, read_metric
from cockpit.core.sources.scrape import BadEncoding, BodyTooLarge, fetch_capped, format_size

MetricState = Literal["ok", "warn", "crit", "unknown"]
AnyMetric = (PrometheusMetric | PromQLMetric | HostMetric | ProbeLatencyMetric
             | TargetMetric | JsonMetric)
#: Slack given to a parse thread past its deadline before the scrape stops waiting.
_PARSE_GRACE = 0.5


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


# --- exposition reduction ----------------------------------------------------------------


def parse_family(text: str, family: str, max_series: int = 1_000_000) -> list[Sample]:
    """Samples of ``family`` (and its suffixed series) from an exposition page."""
    return scan_family(text, family, family_names(family), max_series=max_series).samples


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


class _MetricError(Exception):
    """A reading failed; the message is the sample's error."""


@dataclass(frozen=True, slots=True)
class _Page:
    """One fetched exposition page, shared by the metrics of its URL."""

    text: str
    size: int  #: bytes read
    at: float  #: ``time.monotonic()`` when the body was read
    deadline: float  #: ``time.monotonic()`` by which fetch and parses must be done
    timeout: float


def _json_of(chunks: list[bytes]) -> Any:
    """A JSON body (blocking on a big answer: run in a thread)."""
    return json.loads(b"".join(chunks))


def _decode(chunks: list[bytes]) -> str:
    """The page's text (blocking on a big page: run in a thread)."""
    return b"".join(chunks).decode("utf-8", errors="replace")


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
        self._scrape_state: dict[str, ScrapeState] = {}
        self._stop = threading.Event()  #: set by ``close``: parse threads give up
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
        fetches: dict[str, asyncio.Task[_Page]] = {}
        timeouts: dict[str, float] = {}
        caps: dict[str, int] = {}
        for m in chosen:
            if isinstance(m, PrometheusMetric):
                timeouts[m.url] = max(timeouts.get(m.url, 0.0), m.timeout)
                caps[m.url] = max(caps.get(m.url, 0), m.max_body)

        def fetch(url: str) -> asyncio.Task[_Page]:
            if url not in fetches:
                fetches[url] = asyncio.ensure_future(
                    self._fetch_page(url, timeouts[url], caps[url]))
            return fetches[url]

        # JSON documents: one GET per URL (and headers) per refresh, parsed once
        json_docs: dict[tuple[str, tuple[tuple[str, str], ...]], asyncio.Task[Any]] = {}
        json_spec: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, int]] = {}
        for m in chosen:
            if isinstance(m, JsonMetric):
                key = (m.url, tuple(sorted(m.headers.items())))
                timeout, cap = json_spec.get(key, (0.0, 0))
                json_spec[key] = (max(timeout, m.timeout), max(cap, m.max_body))

        def document(metric: JsonMetric) -> asyncio.Task[Any]:
            key = (metric.url, tuple(sorted(metric.headers.items())))
            if key not in json_docs:
                timeout, cap = json_spec[key]
                json_docs[key] = asyncio.ensure_future(
                    self._fetch_json(metric.url, dict(key[1]), timeout, cap))
            return json_docs[key]

        async def one(metric: AnyMetric) -> MetricSample:
            if isinstance(metric, ProbeLatencyMetric):
                last = self._series[metric.name].last
                return last or MetricSample(None, "unknown", "no probe result yet", time.time())
            error: str | None = None
            try:
                if isinstance(metric, PrometheusMetric):
                    reading = await self._prometheus(metric, fetch(metric.url))
                    value, error = reading.value, reading.note
                elif isinstance(metric, PromQLMetric):
                    value = await self._promql(metric)
                elif isinstance(metric, JsonMetric):
                    async with asyncio.timeout(metric.timeout):
                        value = json_number(await asyncio.shield(document(metric)),
                                            metric.path)
                elif isinstance(metric, TargetMetric):
                    async with asyncio.timeout(metric.timeout):
                        value = await self._target(metric)
                else:
                    async with asyncio.timeout(metric.timeout):
                        value = await asyncio.to_thread(_host_value, metric)
            except (_MetricError, BodyTooLarge, BadEncoding) as exc:
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
            tasks = [*fetches.values(), *json_docs.values()]
            for task in tasks:
                if not task.done():
                    task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        return {m.name: s for m, s in zip(chosen, results, strict=True)}

    async def close(self) -> None:
        """Close the HTTP client; parses still running in threads give up."""
        self._stop.set()
        if self._client is not None and self._own_client:
            client, self._client = self._client, None
            await client.aclose()

    # -- kinds ---------------------------------------------------------------------------

    async def _fetch_page(self, url: str, timeout: float, cap: int) -> _Page:
        """The page at ``url``, read up to ``cap`` bytes and decoded in a thread."""
        deadline = time.monotonic() + timeout
        async with asyncio.timeout(timeout):
            status, chunks = await fetch_capped(
                await self.client(), url, cap=cap, timeout=timeout,
                headers={"Accept": "text/plain;version=0.0.4"},
            )
            at = time.monotonic()
            if status != 200:
                raise _MetricError(f"HTTP {status}")
            text = await asyncio.to_thread(_decode, chunks)
        return _Page(text, sum(map(len, chunks)), at, deadline, timeout)

    async def _fetch_json(self, url: str, headers: dict[str, str], timeout: float,
                          cap: int) -> Any:
        """The JSON document at ``url``, read up to ``cap`` bytes, parsed in a thread."""
        async with asyncio.timeout(timeout):
            status, chunks = await fetch_capped(
                await self.client(), url, cap=cap, timeout=timeout,
                headers={"Accept": "application/json", **headers})
            if status != 200:
                raise _MetricError(f"HTTP {status}")
            try:
                return await asyncio.to_thread(_json_of, chunks)
            except ValueError as exc:
                raise _MetricError(f"invalid JSON: {exc}"[:120]) from None

    async def _prometheus(self, metric: PrometheusMetric,
                          fetched: asyncio.Future[_Page]) -> Reading:
        """Scan and reduce the page in a worker thread, within the scrape's deadline."""
        page = await asyncio.shield(fetched)
        previous = self._scrape_state.get(metric.name, ScrapeState())
        work = asyncio.to_thread(read_metric, metric, page.text, page.at, previous,
                                 deadline=page.deadline, stop=self._stop)
        abandoned = _MetricError(f"timed out after {page.timeout:.1f}s parsing "
                                 f"{format_size(page.size)} (abandoned)")
        try:
            # The thread gives up at the deadline by itself; the grace only covers a
            # thread that could not check it (a pathological single line).
            async with asyncio.timeout(max(page.deadline - time.monotonic(), 0.0)
                                       + _PARSE_GRACE):
                reading = await work
        except (ParseAbandoned, TimeoutError):
            raise abandoned from None
        except ReadError as exc:
            raise _MetricError(str(exc)) from None
        except ValueError as exc:
            raise _MetricError(f"invalid exposition: {exc}") from None
        self._scrape_state[metric.name] = reading.state
        return reading

    async def _promql(self, metric: PromQLMetric) -> float | None:
        url = metric.url.rstrip("/") + "/api/v1/query"
        async with asyncio.timeout(metric.timeout):
            # An answer can be big (a query over many series): capped like a page, and
            # its JSON read in a thread.
            status, chunks = await fetch_capped(
                await self.client(), url, cap=metric.max_body, timeout=metric.timeout,
                params={"query": metric.query}, any_status=True,
            )
            try:
                body = await asyncio.to_thread(_json_of, chunks)
            except ValueError:
                raise _MetricError(
                    f"HTTP {status}" if status != 200 else "invalid JSON from Prometheus"
                ) from None
        if not isinstance(body, dict):
            raise _MetricError("unexpected response from Prometheus")
        if body.get("status") != "success":
            kind = body.get("errorType") or "error"
            raise _MetricError(f"{kind}: {body.get('error') or f'HTTP {status}'}")
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
            await backend.ensure_connected()
            if metric.target is not None:
                names = [metric.target]
            else:
                targets = await backend.list_targets()
                ids = {t.id for t in targets}
                # the top-level targets: a workload's statistics already sum its pods
                names = [t.name for t in targets if t.state != "missing"
                         and (t.parent is None or t.parent not in ids)]
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


def json_number(doc: Any, path: str) -> float:
    """The number at the dotted ``path`` of ``doc`` (a numeric string counts)."""
    value = resolve_path(doc, path)
    if value is MISSING:
        raise _MetricError(f"no {path!r} in the answer")
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise _MetricError(f"{path} is not a number")
    result = _to_float(value)
    if math.isinf(result):
        raise _MetricError(f"{path} is not a finite number")
    return result


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
