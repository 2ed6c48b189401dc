"""The runbook's HTTP services on loopback: the euystacio API and a Prometheus-like API.

``ServicesDouble().start()`` serves ``api_url`` (``/api/metrics/thresholds``,
``/api/metrics/qek/details``, ``/api/metrics/risk/events?limit=N``, ``/health``,
``/api/providers/ID/risk``, ``POST /fault/qek``, ``POST /fault/h_var``, ``POST /fault/clear``)
and ``prometheus_url`` (``/api/v1/alerts``, ``/api/v1/query``) from a background thread.
Metric values drift a little over time; a fault pushes QEK to 0.82 (below 0.85).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import random
import threading
import time
from typing import Any

import aiohttp.web

IDEAL = {"qek": 0.938, "h_var": 0.043, "ethisches_ideal": 1.0, "symbiosis_score": 0.72}
BASE = {"qek": 0.91, "h_var": 0.05, "ethisches_ideal": 0.98, "symbiosis_score": 0.72}
CRITICAL = {"qek": ("min", 0.85), "h_var": ("max", 0.10), "ethisches_ideal": ("min", 0.95), "symbiosis_score": ("min", 0.5)}


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Metrics:
    """The drifting metric values and the injected faults (thread-safe enough: plain floats)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.faults: dict[str, float] = {}
        self.fault_since: dict[str, float] = {}

    def values(self) -> dict[str, float]:
        t = time.time() - self.started
        out = {}
        for i, (name, base) in enumerate(BASE.items()):
            value = self.faults.get(name, base)
            drift = 0.004 * math.sin(t / (7 + i * 3)) + 0.002 * math.sin(t / (2.3 + i))
            if name == "ethisches_ideal":
                drift = abs(drift) * -1
            out[name] = round(min(1.0, max(0.0, value + drift)), 3)
        return out

    def breached(self) -> list[tuple[str, float, float]]:
        values = self.values()
        out = []
        for name, (kind, limit) in CRITICAL.items():
            value = values[name]
            if (kind == "min" and value < limit) or (kind == "max" and value > limit):
                out.append((name, value, limit))
        return out


def api_app(metrics: Metrics) -> aiohttp.web.Application:
    """The euystacio API of the runbook."""
    routes = aiohttp.web.RouteTableDef()

    @routes.get("/api/metrics/thresholds")
    async def thresholds(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"metrics": metrics.values(), "timestamp": _iso(time.time())})

    @routes.get("/api/metrics/qek/details")
    async def qek_details(_: aiohttp.web.Request) -> aiohttp.web.Response:
        qek = metrics.values()["qek"]
        return aiohttp.web.json_response(
            {
                "qek": qek,
                "threshold": 0.85,
                "warning": 0.88,
                "ideal": IDEAL["qek"],
                "status": "below_threshold" if qek < 0.85 else "warning" if qek < 0.88 else "ok",
                "components": {"coherence": round(qek + 0.03, 3), "kindness": round(qek - 0.01, 3), "transparency": round(qek + 0.01, 3)},
                "inputs": {"samples": 1200, "rejected": 3 if qek >= 0.85 else 187, "source": "red_code.json"},
                "timestamp": _iso(time.time()),
            }
        )

    @routes.get("/api/metrics/risk/events")
    async def risk_events(request: aiohttp.web.Request) -> aiohttp.web.Response:
        try:
            limit = max(0, min(500, int(request.query.get("limit", "20"))))
        except ValueError:
            return aiohttp.web.json_response({"error": "limit must be an integer"}, status=400)
        now = time.time()
        events = []
        for i in range(limit):
            rng = random.Random(int(now // 60) * 1000 + i)
            score = round(rng.uniform(0.05, 0.95), 2)
            events.append(
                {
                    "timestamp": _iso(now - i * 37),
                    "provider_id": f"prov-{rng.randint(1, 40):02d}",
                    "risk_score": score,
                    "decision": "deny" if score > 0.7 else "allow",
                    "reason": f"high risk provider risk_score={score}" if score > 0.7 else "within bounds",
                }
            )
        return aiohttp.web.json_response({"events": events, "count": len(events)})

    @routes.get("/api/providers/{provider}/risk")
    async def provider_risk(request: aiohttp.web.Request) -> aiohttp.web.Response:
        provider = request.match_info["provider"]
        score = round(random.Random(provider).uniform(0.05, 0.95), 2)
        return aiohttp.web.json_response({"provider_id": provider, "risk_score": score, "blocked": score > 0.7})

    @routes.get("/health")
    async def health(_: aiohttp.web.Request) -> aiohttp.web.Response:
        breached = metrics.breached()
        body = {
            "status": "degraded" if breached else "healthy",
            "version": "1.5.0",
            "checks": {name: "fail" if any(b[0] == name for b in breached) else "ok" for name in BASE},
        }
        return aiohttp.web.json_response(body, status=200)

    @routes.post("/fault/{metric}")
    async def fault(request: aiohttp.web.Request) -> aiohttp.web.Response:
        metric = request.match_info["metric"]
        if metric == "clear":
            metrics.faults.clear()
            metrics.fault_since.clear()
        elif metric == "qek":
            metrics.faults["qek"] = 0.82
            metrics.fault_since.setdefault("qek", time.time())
        elif metric == "h_var":
            metrics.faults["h_var"] = 0.12
            metrics.fault_since.setdefault("h_var", time.time())
        else:
            return aiohttp.web.json_response({"error": f"unknown fault {metric}"}, status=404)
        return aiohttp.web.json_response({"faults": metrics.faults, "metrics": metrics.values()})

    app = aiohttp.web.Application()
    app.add_routes(routes)
    return app


def prometheus_app(metrics: Metrics) -> aiohttp.web.Application:
    """A Prometheus HTTP API answering the runbook's two calls."""
    routes = aiohttp.web.RouteTableDef()

    @routes.get("/api/v1/alerts")
    async def alerts(_: aiohttp.web.Request) -> aiohttp.web.Response:
        start = metrics.started
        found: list[dict[str, Any]] = [
            {
                "labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "euystacio-ai", "container": "api"},
                "annotations": {"summary": "Pod euystacio-ai/euystacio-api is crash looping (restarts climbing)"},
                "state": "firing",
                "activeAt": _iso(start - 600),
                "value": "4",
            },
            {
                "labels": {"alertname": "HighMemoryUsage", "severity": "warning", "namespace": "monitoring"},
                "annotations": {"summary": "Memory usage is above 85% for more than 10 minutes"},
                "state": "pending",
                "activeAt": _iso(start - 120),
                "value": "0.86",
            },
        ]
        for name, value, limit in metrics.breached():
            since = metrics.fault_since.get(name, start)
            if name == "qek":
                found.insert(0, {
                    "labels": {"alertname": "QEKBelowThreshold", "severity": "critical", "service": "euystacio-api"},
                    "annotations": {"summary": f"QEK below minimum threshold: {value:.2f} < {limit:.2f}"},
                    "state": "firing", "activeAt": _iso(since), "value": f"{value:.2f}",
                })
            elif name == "h_var":
                found.insert(0, {
                    "labels": {"alertname": "HVARExceeded", "severity": "critical", "service": "euystacio-api"},
                    "annotations": {"summary": f"H-VAR exceeded maximum threshold: {value:.2f} > {limit:.2f}"},
                    "state": "firing", "activeAt": _iso(since), "value": f"{value:.2f}",
                })
        return aiohttp.web.json_response({"status": "success", "data": {"alerts": found}})

    @routes.get("/api/v1/query")
    async def query(request: aiohttp.web.Request) -> aiohttp.web.Response:
        expr = request.query.get("query", "")
        now = time.time()
        values = metrics.values()
        if not expr:
            return aiohttp.web.json_response(
                {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": empty query'}, status=400
            )
        result: list[dict[str, Any]]
        named = [name for name in values if name in expr]
        if named:
            result = [{"metric": {"__name__": f"euystacio_{named[0]}", "job": "euystacio-api"}, "value": [now, str(values[named[0]])]}]
        elif "http_requests_total" in expr:
            result = [
                {"metric": {"job": "euystacio-api", "pod": f"euystacio-api-{i}"}, "value": [now, f"{41.5 + 3 * math.sin(now / 60 + i):.2f}"]}
                for i in range(3)
            ]
        else:
            result = [{"metric": {"__name__": "up", "job": job}, "value": [now, "1"]} for job in ("euystacio-api", "opa-peace-bonds")]
        return aiohttp.web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})

    app = aiohttp.web.Application()
    app.add_routes(routes)
    return app


class ServicesDouble:
    """Both apps on 127.0.0.1 random ports, served from a background thread."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.api_url = ""
        self.prometheus_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ServicesDouble:
        self._thread = threading.Thread(target=self._run, name="kubedouble-services", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the services double did not start in time")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runners = []
        urls = []
        for app in (api_app(self.metrics), prometheus_app(self.metrics)):
            runner = aiohttp.web.AppRunner(app, access_log=None)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            urls.append(f"http://127.0.0.1:{port}")
            runners.append(runner)
        self.api_url, self.prometheus_url = urls
        self._ready.set()
        await self._stop.wait()
        for runner in runners:
            await runner.cleanup()
