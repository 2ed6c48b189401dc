"""Metrics against a real exposition endpoint and a fake Prometheus query API on loopback."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from cockpit.core.config.models import (
    HostMetric,
    ProbeLatencyMetric,
    PrometheusMetric,
    PromQLMetric,
    Threshold,
)
from cockpit.core.sources import exposition
from cockpit.core.sources.exposition import ParseAbandoned, family_names, scan_family
from cockpit.core.sources.health import HealthRow
from cockpit.core.sources.metrics import MetricsSampler, parse_family, threshold_state
from cockpit.core.sources.prometheus import histogram_quantile
from tests.metrics_pages import (
    MB,
    WANTED,
    LoopLag,
    PageServer,
    huge_page,
    noise_page,
    series_page,
)
from tests.support import LoopbackHTTP, async_wait_until, free_port

#: Fake Prometheus answers, keyed by query, in the real /api/v1/query response format.
PROMQL: dict[str, tuple[int, dict[str, Any]]] = {
    "sum(qek)": (200, {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"pod": "a"}, "value": [1714000000.0, "0.5"]},
        {"metric": {"pod": "b"}, "value": [1714000000.0, "0.438"]},
    ]}}),
    "hvar": (200, {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "hvar"}, "value": [1714000000.0, "0.12"]},
    ]}}),
    "scalar(1)": (200, {"status": "success",
                        "data": {"resultType": "scalar", "result": [1714000000.0, "42"]}}),
    "empty": (200, {"status": "success", "data": {"resultType": "vector", "result": []}}),
    "bad(": (400, {"status": "error", "errorType": "bad_data",
                   "error": 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'}),
    "up[5m]": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
}


class Exporter(LoopbackHTTP):
    """A loopback server: /metrics from a live CollectorRegistry, plus /api/v1/query."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hits = 0

        def respond(path: str) -> tuple[int, str, bytes]:
            parts = urlsplit(path)
            if parts.path == "/metrics":
                self.hits += 1
                return 200, "text/plain; version=0.0.4; charset=utf-8", generate_latest(
                    self.registry)
            if parts.path == "/api/v1/query":
                query = parse_qs(parts.query).get("query", [""])[0]
                status, doc = PROMQL.get(query, (422, {"status": "error",
                                                       "errorType": "execution",
                                                       "error": "unknown"}))
                return status, "application/json", json.dumps(doc).encode()
            return 500, "text/plain", b"internal error"

        super().__init__(respond)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    yield server
    server.close()


def _prom(url: str, **kw: Any) -> PrometheusMetric:
    return PrometheusMetric.model_validate({"kind": "prometheus", "name": "m", "url": url, **kw})


# --- thresholds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "state"),
    [(0.938, "ok"), (0.88, "ok"), (0.87, "warn"), (0.85, "warn"), (0.849, "crit"), (0.82, "crit"),
     (None, "unknown"), (math.nan, "unknown")],
)
def test_threshold_qek(value: float | None, state: str) -> None:
    """meta-salvage: QEK must be >= 0.85 (crit below), warning below 0.88."""
    assert threshold_state(value, Threshold(below=0.88), Threshold(below=0.85)) == state


@pytest.mark.parametrize(
    ("value", "state"),
    [(0.043, "ok"), (0.08, "ok"), (0.09, "warn"), (0.10, "warn"), (0.12, "crit")],
)
def test_threshold_hvar(value: float, state: str) -> None:
    """meta-salvage: H-VAR must be <= 0.10 (crit above), warning above 0.08."""
    assert threshold_state(value, Threshold(above=0.08), Threshold(above=0.10)) == state


def test_threshold_none_is_ok() -> None:
    assert threshold_state(5.0, None, None) == "ok"


# --- exposition -----------------------------------------------------------------------------


def test_filter_parses_only_the_selected_family_of_a_big_page() -> None:
    registry = CollectorRegistry()
    noise = Gauge("app_noise_value", "noise", ["shard", "key"], registry=registry)
    for shard in range(68):
        for key in range(100):
            noise.labels(str(shard), str(key)).set(shard * key)
    requests = Counter("demo_requests", "requests", ["path"], registry=registry)
    for i in range(20):
        requests.labels(f"/p{i}").inc(i)
    decoy = Counter("demo_requests_total_by_path", "decoy", ["path"], registry=registry)
    decoy.labels('demo_requests_total{"x"}').inc()
    Gauge("x_demo_requests_total", "decoy", registry=registry).set(1)
    text = generate_latest(registry).decode()
    assert text.count("\napp_noise_value{") == 6800

    scan = scan_family(text, "demo_requests_total", family_names("demo_requests_total"))
    assert scan.parsed == 20  # the 6800 noise lines and the decoys were never parsed
    samples = parse_family(text, "demo_requests_total")
    assert len(samples) == 20
    assert sum(s.value for s in samples) == sum(range(20))
    assert parse_family(text, "no_such_family") == []


def test_histogram_quantile_matches_prometheus() -> None:
    buckets = [(0.1, 0.0), (0.25, 100.0), (0.5, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.2425)
    assert histogram_quantile(0.5, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0  # in +Inf bucket
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None  # no observations
    assert histogram_quantile(0.5, [(1.0, 1.0), (2.0, 2.0)]) is None  # no +Inf bucket


async def test_sum_with_label_selection_and_one_fetch_per_url(exporter: Exporter) -> None:
    requests = Counter("demo_requests", "r", ["path", "status"], registry=exporter.registry)
    requests.labels("/a", "200").inc(5)
    requests.labels("/b", "200").inc(7)
    requests.labels("/a", "500").inc(2)
    url = exporter.url + "/metrics"
    sampler = MetricsSampler([
        _prom(url, name="all", metric="demo_requests_total"),
        _prom(url, name="ok", metric="demo_requests_total", labels={"status": "200"}),
        _prom(url, name="a500", metric="demo_requests", labels={"path": "/a", "status": "500"}),
        _prom(url, name="none", metric="demo_requests_total", labels={"status": "404"}),
    ])
    try:
        got = await sampler.sample_all()
    finally:
        await sampler.close()
    # The family exists but has no 404 series yet: that is zero, not unknown.
    assert {k: v.value for k, v in got.items()} == {"all": 14, "ok": 12, "a500": 2, "none": 0}
    assert got["none"].error is None and got["none"].state == "ok"
    assert exporter.hits == 1
    missing = MetricsSampler([_prom(url, name="gone", metric="no_such_family_total")])
    try:
        gone = (await missing.sample_all())["gone"]
    finally:
        await missing.close()
    assert gone.value is None and gone.state == "unknown"
    assert gone.error == "no series no_such_family_total"


async def test_rate_p95_and_counter_reset(exporter: Exporter) -> None:
    requests = Counter("demo_requests", "r", registry=exporter.registry)
    latency = Histogram("demo_latency_seconds", "l", registry=exporter.registry)
    for _ in range(100):
        latency.observe(0.2)
    url = exporter.url + "/metrics"
    sampler = MetricsSampler([
        _prom(url, name="rps", metric="demo_requests_total", aggregate="rate"),
        _prom(url, name="p95", metric="demo_latency_seconds", aggregate="quantile"),
        _prom(url, name="rate_count", metric="demo_latency_seconds", aggregate="rate"),
    ])
    try:
        before0 = time.monotonic()
        first = await sampler.sample_all()
        after0 = time.monotonic()
        assert first["rps"].value is None and first["rps"].error is None  # no baseline yet
        assert first["p95"].value == pytest.approx(0.2425)  # from the totals

        requests.inc(50)
        for _ in range(100):
            latency.observe(2.0)
        await async_wait_until(lambda: time.monotonic() - after0 >= 0.2, what="time to pass")
        before1 = time.monotonic()
        second = await sampler.sample_all()
        after1 = time.monotonic()
        low, high = 50 / (after1 - before0), 50 / (before1 - after0)
        assert low <= second["rps"].value <= high
        assert 100 / (after1 - before0) <= second["rate_count"].value <= 100 / (before1 - after0)
        assert second["p95"].value == pytest.approx(2.425)  # on the delta since the last scrape

        # The service restarts: a fresh registry with smaller counters.
        exporter.registry = CollectorRegistry()
        restarted = Counter("demo_requests", "r", registry=exporter.registry)
        restarted.inc(3)
        fresh = Histogram("demo_latency_seconds", "l", registry=exporter.registry)
        fresh.observe(0.02)
        await async_wait_until(lambda: time.monotonic() - after1 >= 0.2, what="time to pass")
        before2 = time.monotonic()
        third = await sampler.sample_all()
        after2 = time.monotonic()
        rps = third["rps"].value  # the reset counts as a restart from zero: increase 3
        assert rps is not None and 3 / (after2 - before1) <= rps <= 3 / (before2 - after1)
        assert third["p95"].value == pytest.approx(0.01 + 0.015 * 0.95)
        assert len(sampler.series("rps").values) == 3
        assert sampler.series("rps").values[0] is None
    finally:
        await sampler.close()


async def test_unreachable_and_http_errors(exporter: Exporter) -> None:
    sampler = MetricsSampler([
        _prom(f"http://127.0.0.1:{free_port()}/metrics", name="down", metric="x"),
        _prom(exporter.url + "/broken", name="broken", metric="x"),
        PromQLMetric(kind="promql", name="pq", url=f"http://127.0.0.1:{free_port()}", query="up"),
    ])
    try:
        got = await sampler.sample_all()
    finally:
        await sampler.close()
    assert (got["down"].value, got["down"].error, got["down"].state) == (
        None, "connection refused", "unknown")
    assert (got["broken"].value, got["broken"].error) == (None, "HTTP 500")
    assert got["pq"].error == "connection refused"


async def test_promql(exporter: Exporter) -> None:
    def q(name: str, query: str, **kw: Any) -> PromQLMetric:
        return PromQLMetric(kind="promql", name=name, url=exporter.url + "/", query=query, **kw)

    sampler = MetricsSampler([
        q("qek", "sum(qek)", warn=Threshold(below=0.88), crit=Threshold(below=0.85)),
        q("hvar", "hvar", warn=Threshold(above=0.08), crit=Threshold(above=0.10)),
        q("scalar", "scalar(1)"),
        q("empty", "empty"),
        q("bad", "bad("),
        q("matrix", "up[5m]"),
    ])
    try:
        got = await sampler.sample_all()
    finally:
        await sampler.close()
    assert got["qek"].value == pytest.approx(0.938) and got["qek"].state == "ok"
    assert got["hvar"].value == pytest.approx(0.12) and got["hvar"].state == "crit"
    assert got["scalar"].value == 42.0
    assert (got["empty"].value, got["empty"].error) == (None, "no data")
    assert got["bad"].value is None
    assert got["bad"].error == ('bad_data: invalid parameter "query": 1:5: parse error: '
                                "unclosed left parenthesis")
    assert got["matrix"].error and "matrix" in got["matrix"].error


async def test_host_metrics() -> None:
    names = ["cpu_percent", "mem_percent", "load1", "disk_percent", "swap_percent"]
    metrics = [HostMetric(kind="host", name=n, metric=n) for n in names]
    metrics.append(HostMetric(kind="host", name="nodisk", metric="disk_percent",
                              path="/no/such/dir"))
    sampler = MetricsSampler(metrics)
    got = await sampler.sample_all()
    for name in names:
        assert isinstance(got[name].value, float), (name, got[name])
        assert got[name].value >= 0 and got[name].error is None
    assert got["nodisk"].value is None and "/no/such/dir" in (got["nodisk"].error or "")


async def test_probe_latency_and_window() -> None:
    metric = ProbeLatencyMetric(kind="probe_latency", name="lat", probe="api", window=3,
                                warn=Threshold(above=100))
    sampler = MetricsSampler([metric])
    got = await sampler.sample_all()
    assert (got["lat"].value, got["lat"].error) == (None, "no probe result yet")
    for ms in (10.0, 20.0, 150.0, 30.0):
        sampler.observe_probe([
            HealthRow("api", "ok", ms, "HTTP 200", time.time()),
            HealthRow("api/db", "ok", 1.0, "ok", time.time(), parent="api"),
            HealthRow("other", "ok", 999.0, "HTTP 200", time.time()),
        ])
        if ms == 150.0:
            assert sampler.series("lat").state == "warn"
    assert list(sampler.series("lat").values) == [20.0, 150.0, 30.0]
    sampler.observe_probe([HealthRow("api", "fail", None, "connection refused", time.time())])
    got = await sampler.sample_all()
    assert (got["lat"].value, got["lat"].error, got["lat"].state) == (
        None, "connection refused", "unknown")


# --- hostile pages: bounded scrapes -----------------------------------------------------------


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    huge = huge_page(50 * MB)
    server = PageServer({
        "/huge": (huge, False),  # streamed: the client must stop reading by itself
        "/huge-length": (huge, True),  # announced: refused on the header
        "/huge-small-cap": (huge, False),
        "/series": (series_page(100_000), True),
        "/noise": (noise_page(60_000, 3), True),  # 2.7 MB
        # 50 MB that gzip makes 400 times smaller: the cap is on what is inflated
        "/bomb": (gzip.compress(f"{WANTED} 1\n".encode() * (50 * MB // 20)), True,
                  {"Content-Encoding": "gzip"}),
        "/gzip": (gzip.compress(series_page(3)), True, {"Content-Encoding": "gzip"}),
        "/brotli": (b"\x00" * 64, True, {"Content-Encoding": "br\x1b[2J"}),
    })
    yield server
    server.close()


async def _sample_with_lag(metrics: list[PrometheusMetric]) -> tuple[dict, LoopLag]:
    sampler = MetricsSampler(metrics)
    lag = LoopLag().start()
    try:
        got = await sampler.sample_all()
        ticks = lag.ticks  # a tick held up by work at the end is counted too
        await async_wait_until(lambda: lag.ticks > ticks, what="one more heartbeat")
    finally:
        lag.stop()
        await sampler.close()
    return got, lag


async def test_a_50mb_page_is_cut_at_the_cap_and_the_loop_keeps_running(
    pages: PageServer,
) -> None:
    got, lag = await _sample_with_lag([
        _prom(pages.url + "/huge", name="streamed", metric=WANTED),
        _prom(pages.url + "/huge-length", name="announced", metric=WANTED),
        _prom(pages.url + "/huge-small-cap", name="small", metric=WANTED, max_body="1MB"),
    ])
    assert {k: (v.value, v.state, v.error) for k, v in got.items()} == {
        "streamed": (None, "unknown", "body over 4 MB cap"),
        "announced": (None, "unknown", "body over 4 MB cap"),
        "small": (None, "unknown", "body over 1 MB cap"),
    }
    lag.check()
    await async_wait_until(lambda: all(pages.served.get(p) for p in ("/huge", "/huge-length")),
                           what="the server to notice the hang-ups")
    # Reading stopped at the cap: the server could not send the page (socket buffers aside).
    assert pages.sent["/huge"] < 25 * MB
    assert pages.sent["/huge-length"] < 25 * MB


async def test_100k_series_keep_only_what_is_asked_for(pages: PageServer) -> None:
    url = pages.url + "/series"
    got, lag = await _sample_with_lag([  # timeouts for a loaded machine: not tested here
        _prom(url, name="capped", metric=WANTED, timeout="30s"),
        _prom(url, name="one", metric=WANTED, labels={"id": "99999"}),
        _prom(url, name="all", metric=WANTED, max_series=200_000),
    ])
    assert (got["capped"].value, got["capped"].error) == (
        10_000, "90000 series dropped (max_series 10000)")
    assert got["capped"].state == "ok"  # a reading, with a note
    assert (got["one"].value, got["one"].error) == (1, None)
    assert (got["all"].value, got["all"].error) == (100_000, None)
    lag.check()


async def test_lines_of_other_families_are_never_parsed(
    pages: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = exposition.parse_line

    def counting(line: str) -> tuple[str, dict[str, str], float]:
        parsed.append(line)
        return real(line)

    monkeypatch.setattr(exposition, "parse_line", counting)
    got, _lag = await _sample_with_lag([_prom(pages.url + "/noise", name="w", metric=WANTED)])
    assert (got["w"].value, got["w"].error) == (3, None)
    assert [line.split("{")[0] for line in parsed] == [WANTED] * 3


async def test_a_parse_past_the_deadline_is_abandoned_and_reported(
    pages: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parse thread's clock jumps past any deadline: it must give up at its next check.
    monkeypatch.setattr(exposition, "time", SimpleNamespace(
        monotonic=lambda: time.monotonic() + 3600, sleep=time.sleep))
    parsed: list[str] = []
    real = exposition.parse_line
    monkeypatch.setattr(exposition, "parse_line", lambda line: parsed.append(line) or real(line))
    got, _lag = await _sample_with_lag([
        _prom(pages.url + "/series", name="slow", metric=WANTED, timeout="2s",
              max_series=200_000),
    ])
    assert got["slow"].value is None
    size = len(series_page(100_000)) / MB
    assert got["slow"].error == f"timed out after 2.0s parsing {size:.3g} MB (abandoned)"
    assert len(parsed) < exposition.CHECK_EVERY  # it stopped at the first check


def test_a_stopped_scan_gives_up() -> None:
    stop = threading.Event()
    stop.set()
    text = series_page(3 * exposition.CHECK_EVERY).decode()
    with pytest.raises(ParseAbandoned):
        scan_family(text, WANTED, family_names(WANTED), stop=stop)
    assert len(scan_family(text, WANTED, family_names(WANTED)).samples) == 3 * exposition.CHECK_EVERY


def test_cockpit_check_on_a_50mb_page(pages: PageServer, tmp_path: Path) -> None:
    profile = tmp_path / "big.yaml"
    profile.write_text(textwrap.dedent(f"""
        name: big
        metrics:
          - name: wanted
            kind: prometheus
            url: {pages.url}/huge
            metric: {WANTED}
    """))
    env = {**os.environ, "NO_COLOR": "1"}
    out_path = tmp_path / "out.txt"
    hwm_path = tmp_path / "hwm.txt"
    # The peak RSS of this cockpit's own memory (VmHWM after exec), written by the child:
    # wait4's ru_maxrss also counts the forked copy of this (large) test process.
    runner = (
        "import runpy, sys\n"
        "profile, hwm_file = sys.argv[1:3]\n"
        "sys.argv = ['cockpit', 'check', '--profile', profile]\n"
        "try:\n    runpy.run_module('cockpit', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "open(hwm_file, 'w').write(hwm.split()[1])\n"
        "sys.exit(code)\n"
    )
    with out_path.open("w") as out_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", runner, str(profile), str(hwm_path)],
            stdout=out_file, stderr=subprocess.STDOUT, env=env)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    out = out_path.read_text()
    assert proc.returncode == 0, out
    assert "wanted" in out and "n/a" in out and "body over 4 MB cap" in out
    # VmHWM is in kB; reading 50 MB and parsing it took 1.35 GB.
    peak_kb = int(hwm_path.read_text())
    assert peak_kb < 300_000, f"peak RSS {peak_kb // 1000} MB"


def test_scan_family_reads_the_format_and_nothing_else() -> None:
    text = (
        "# HELP w_total w_total{a=\"1\"} 99 in a comment\n"
        'w_total{a="1",b="x}y"} 2 1714000000000\n'
        'w_total{ a = "1" , b="q\\"\\\\\\n" ,} +Inf\n'
        "w_total 3\n"
        "w_total_created 5\n"
        "w_totally 7\n"  # another family
        'other{name="w_total"} 9\n'
    )
    names = family_names("w_total")
    scan = scan_family(text, "w_total", frozenset({"w_total"}))
    assert [(s.labels, s.value) for s in scan.samples] == [
        ({"a": "1", "b": "x}y"}, 2.0), ({"a": "1", "b": 'q"\\\n'}, math.inf), ({}, 3.0)]
    assert scan.present and scan.dropped == 0
    # An escaped value is matched as the format writes it, before any parse.
    escaped = scan_family(text, "w_total", names, {"b": 'q"\\\n'})
    assert [s.value for s in escaped.samples] == [math.inf] and escaped.parsed == 1
    # Past max_series, the rest is counted, not read; the first line counts too.
    assert scan_family("w 1\nw 2\nw{x=\"y\"} 3\n", "w", frozenset({"w"}), max_series=1).dropped == 2
    assert scan_family("w 1\nw 2\n", "w", frozenset({"w"}), max_series=1).samples[0].value == 1
    for bad in ('w_total{a="1" 2\n', "w_total\n", 'w_total{a="1"} x\n', "w_total 1 2 3\n"):
        with pytest.raises(ValueError, match="invalid line"):
            scan_family(bad, "w_total", names)
    with pytest.raises(ValueError, match=r"\\\\e\[31m"):  # quoted with escapes made visible
        scan_family("w_total{a=\"\x1b[31m\"} red\n", "w_total", names)


@pytest.mark.parametrize(("given", "size"), [("4MB", 4_000_000), ("512kB", 512_000),
                                             ("8MiB", 8 * 2**20), (2048, 2048)])
def test_max_body_sizes(given: object, size: int) -> None:
    assert _prom("http://x", metric="m", max_body=given).max_body == size


def test_max_body_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="invalid size '4 parsecs'"):
        _prom("http://x", metric="m", max_body="4 parsecs")
    with pytest.raises(ValueError, match="greater than or equal to 1024"):
        _prom("http://x", metric="m", max_body=10)


async def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(pages: PageServer) -> None:
    assert len(pages.pages["/bomb"][0]) < MB / 4  # a small body on the wire
    got, lag = await _sample_with_lag([
        _prom(pages.url + "/bomb", name="bomb", metric=WANTED),
        _prom(pages.url + "/gzip", name="gzip", metric=WANTED),
        _prom(pages.url + "/brotli", name="br", metric=WANTED),
    ])
    assert {k: (v.value, v.error) for k, v in got.items()} == {
        "bomb": (None, "body over 4 MB cap"),
        "gzip": (3, None),
        "br": (None, "unsupported Content-Encoding 'br\\\\e[2j'"),
    }
    lag.check()
    # What is held at once stays near the cap: nothing inflates a whole network read.
    tracemalloc.start()
    try:
        again, _lag = await _sample_with_lag([_prom(pages.url + "/bomb", name="b", metric=WANTED)])
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert again["b"].error == "body over 4 MB cap"
    assert peak < 16 * MB, f"{peak / MB:.0f} MB held at once"  # it was 59 MB


async def test_a_huge_promql_answer_is_capped_and_read_off_the_loop(
    exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = [{"metric": {"__name__": "up", "pod": f"pod-{i}"}, "value": [1714000000.0, "1"]}
              for i in range(100_000)]
    monkeypatch.setitem(PROMQL, "up", (200, {"status": "success",
                                            "data": {"resultType": "vector", "result": result}}))
    sampler = MetricsSampler([
        PromQLMetric(kind="promql", name="capped", url=exporter.url, query="up"),
        PromQLMetric(kind="promql", name="whole", url=exporter.url, query="up",
                     max_body="16MB", timeout="30s"),
    ])
    lag = LoopLag().start()
    try:
        got = await sampler.sample_all()
        ticks = lag.ticks
        await async_wait_until(lambda: lag.ticks > ticks, what="one more heartbeat")
    finally:
        lag.stop()
        await sampler.close()
    assert (got["capped"].value, got["capped"].error) == (None, "body over 4 MB cap")
    assert (got["whole"].value, got["whole"].error) == (100_000, None)
    lag.check()
