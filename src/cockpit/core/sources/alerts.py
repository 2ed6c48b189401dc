"""The ``alerts`` health probe: firing alerts of Prometheus (``/api/v1/alerts``) or of an
Alertmanager-compatible API (``/api/v2/alerts``), usable with any backend.

One row named after the probe (fail while an alert fires, ok ``no alerts firing``),
then one failing sub-row per firing alert: its name is the alert's name plus the labels
that tell it apart from alerts of the same name, its reason the ``summary`` (else the
``description``) annotation, its details the labels. The answer is read up to
``max_body`` (``scrape.fetch_capped``) and parsed in a worker thread; every text is
outside text and passes the boundary in ``HealthChecker`` like any other row's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from cockpit.core.config.models import AlertsProbe
from cockpit.core.sources.scrape import BodyTooLarge, fetch_capped

#: Most alert rows one probe shows; the rest are counted in the probe's reason.
MAX_ALERT_ROWS = 200
_REASON_MAX = 200


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as the server reported it."""

    name: str
    state: str  #: "firing" or "pending"
    labels: dict[str, str]
    summary: str


class AlertsError(Exception):
    """The answer could not be read; ``str()`` is the row's reason."""


def alerts_url(url: str) -> str:
    """``url`` with ``/api/v1/alerts`` appended unless its path already ends in ``/alerts``."""
    path = urlsplit(url).path.rstrip("/")
    return url if path.endswith("/alerts") else url.rstrip("/") + "/api/v1/alerts"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _one(item: Any) -> Alert | None:
    if not isinstance(item, dict):
        return None
    raw_labels = item.get("labels")
    labels = {str(k): _text(v) for k, v in raw_labels.items()} \
        if isinstance(raw_labels, dict) else {}
    notes = item.get("annotations")
    notes = notes if isinstance(notes, dict) else {}
    summary = _text(notes.get("summary")) or _text(notes.get("description")) \
        or _text(notes.get("message"))
    state = item.get("state")
    status = item.get("status")
    if not isinstance(state, str) and isinstance(status, dict):  # Alertmanager v2
        state = {"active": "firing", "unprocessed": "pending"}.get(
            _text(status.get("state")), _text(status.get("state")))
    return Alert(labels.get("alertname", "") or "(unnamed alert)", _text(state).lower(),
                 labels, summary)


def parse_alerts(body: bytes) -> list[Alert]:
    """The alerts of a Prometheus or Alertmanager answer (blocking: run in a thread)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise AlertsError(f"invalid JSON: {exc}"[:_REASON_MAX]) from None
    if isinstance(doc, list):  # Alertmanager: GET /api/v2/alerts
        items: Any = doc
    elif isinstance(doc, dict):
        if doc.get("status") not in (None, "success"):
            kind = _text(doc.get("errorType")) or "error"
            raise AlertsError(f"{kind}: {_text(doc.get('error')) or _text(doc.get('status'))}")
        data = doc.get("data")
        items = data.get("alerts") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise AlertsError("unexpected answer: no data.alerts list")
    else:
        raise AlertsError("unexpected answer: not a JSON object")
    return [alert for alert in map(_one, items) if alert is not None]


def selected(alerts: list[Alert], match: Mapping[str, str],
             include_pending: bool) -> list[Alert]:
    """Firing alerts (and pending ones if asked) whose labels have ``match``'s values."""
    states = ("firing", "pending") if include_pending else ("firing",)
    return [a for a in alerts
            if a.state in states and all(a.labels.get(k) == v for k, v in match.items())]


def row_names(alerts: list[Alert]) -> list[str]:
    """Each alert's name, with the labels that differ between alerts of that name
    (``HighCPU (instance=a)``); an alert alone under its name keeps the bare name."""
    by_name: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_name.setdefault(alert.name, []).append(alert)
    names = []
    for alert in alerts:
        same = by_name[alert.name]
        if len(same) == 1:
            names.append(alert.name)
            continue
        keys = sorted({k for a in same for k in a.labels} - {"alertname"})
        differing = [k for k in keys if len({a.labels.get(k) for a in same}) > 1]
        parts = [f"{k}={alert.labels[k]}" for k in differing if k in alert.labels]
        names.append(f"{alert.name} ({', '.join(parts)})" if parts else alert.name)
    return names


def label_text(labels: Mapping[str, str]) -> str:
    """``alertname=X, severity=critical, ...`` (alertname first)."""
    keys = sorted(labels, key=lambda k: (k != "alertname", k))
    return ", ".join(f"{k}={labels[k]}" for k in keys)


async def fetch_alerts(probe: AlertsProbe,
                       client: httpx.AsyncClient) -> tuple[list[Alert], float]:
    """The probe's alerts (selected) and the latency of the answer in ms."""
    started = time.perf_counter()
    try:
        status, chunks = await fetch_capped(
            client, alerts_url(probe.url), cap=probe.max_body, timeout=probe.timeout,
            headers={"Accept": "application/json", **probe.headers}, any_status=True)
    except BodyTooLarge as exc:
        raise AlertsError(f"reply {exc}: not read further") from None
    latency = (time.perf_counter() - started) * 1000.0
    body = b"".join(chunks)
    if status != 200:
        try:
            await asyncio.to_thread(parse_alerts, body)
        except AlertsError as exc:  # Prometheus says why in its error document
            if not str(exc).startswith(("invalid JSON", "unexpected answer")):
                raise AlertsError(f"HTTP {status}: {exc}"[:_REASON_MAX]) from None
        raise AlertsError(f"HTTP {status}")
    alerts = await asyncio.to_thread(parse_alerts, body)
    return selected(alerts, probe.match, probe.include_pending), latency
