"""Events (``kubectl get events``): a target's (its own, and a workload's pods' and
ReplicaSets'), newest last, and a namespace's as a followed log (Warning events are
``warn`` records). Blocking calls: run in threads (``follow_events`` does it itself).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cockpit.core.backends.feed import ThreadFeed
from cockpit.core.backends.kubernetes import raw
from cockpit.core.backends.kubernetes.logs import _json_lines
from cockpit.core.backends.logs import LogItem, LogNotice, LogRecord
from cockpit.core.backends.targets import TargetEvent

_KINDS = {"Pod": "pod", "Deployment": "deployment", "StatefulSet": "statefulset",
          "DaemonSet": "daemonset", "Job": "job", "ReplicaSet": "replicaset"}


def _time(text: Any) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def event_time(event: dict[str, Any]) -> float:
    """When an event last happened (``lastTimestamp``, ``series``, ``eventTime``, ...)."""
    series = event.get("series") or {}
    for value in (series.get("lastObservedTime"), event.get("lastTimestamp"),
                  event.get("eventTime"), event.get("firstTimestamp"),
                  (event.get("metadata") or {}).get("creationTimestamp")):
        ts = _time(value)
        if ts is not None:
            return ts
    return 0.0


def event_text(event: dict[str, Any]) -> str:
    message = str(event.get("message") or "").strip()
    count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
    return message + (f" (x{count})" if count > 1 else "")


def _involved(event: dict[str, Any]) -> tuple[str, str]:
    obj = event.get("involvedObject") or event.get("regarding") or {}
    return _KINDS.get(str(obj.get("kind", "")), str(obj.get("kind", "")).lower()), \
        str(obj.get("name", ""))


def to_target_event(event: dict[str, Any], namespace: str,
                    of: tuple[str, str] | None = None) -> TargetEvent:
    """The event as a ``TargetEvent``; one of another object than ``of`` (a workload's
    pod) names that object in front of its text."""
    kind, name = _involved(event)
    text = event_text(event)
    if of is not None and (kind, name) != of:
        text = f"{kind}/{name}: {text}"
    return TargetEvent(ts=event_time(event), target_id=f"{namespace}/{kind}/{name}",
                       target_name=f"{kind}/{name}", action=str(event.get("reason") or ""),
                       text=text, type=str(event.get("type") or "Normal"))


def _list(api: Any, namespace: str, timeout: float,
          field_selector: str = "") -> dict[str, Any]:
    query = [("fieldSelector", field_selector)] if field_selector else []
    return raw.get_json(api, f"/api/v1/namespaces/{quote(namespace, safe='')}/events",
                        query, timeout=timeout, verb="list", resource="events")


def of_target(api: Any, namespace: str, kind: str, name: str, *, limit: int = 20,
              timeout: float = 10.0) -> list[TargetEvent]:
    """Events of a pod or a workload (with its pods and ReplicaSets), newest last."""
    wanted = {(kind, name)}
    if kind in raw.WORKLOADS:
        _obj, selector = raw.workload_selector(api, namespace, kind, name, timeout)
        for pod in raw.list_pods(api, namespace, selector, timeout=timeout).get("items") or []:
            wanted.add(("pod", (pod.get("metadata") or {}).get("name", "")))
        items = _list(api, namespace, timeout).get("items") or []
        prefix = f"{name}-"
        wanted |= {("replicaset", n) for k, n in map(_involved, items)
                   if kind == "deployment" and k == "replicaset" and n.startswith(prefix)}
    else:
        items = _list(api, namespace, timeout,
                      f"involvedObject.name={name}").get("items") or []
    chosen = [e for e in items if _involved(e) in wanted]
    chosen.sort(key=event_time)
    return [to_target_event(e, namespace, (kind, name)) for e in chosen[-limit:]]


def _record(event: dict[str, Any], namespace: str) -> LogRecord:
    kind, name = _involved(event)
    warning = event.get("type") == "Warning"
    text = f"{event.get('type') or 'Normal'} {event.get('reason') or ''} {kind}/{name}: " \
           f"{event_text(event)}"
    return LogRecord(event_time(event) or time.time(), text, f"{namespace}/events",
                     "log", severity="warn" if warning else "info", logged=True)


async def follow_events(api: Any, namespace: str, *, backlog: int = 100,
                        follow: bool = True, timeout: float = 10.0,
                        retry_max: float = 10.0) -> AsyncIterator[list[LogItem]]:
    """The namespace's events as log records: the last ``backlog`` ones, then new ones
    and changes (a repeated event again, with its count) from a watch."""
    feed: ThreadFeed[LogItem] = ThreadFeed(asyncio.get_running_loop(), limit=10_000)
    closed = threading.Event()
    current: list[Any] = []
    source = f"{namespace}/events"

    def close_stream() -> None:
        closed.set()
        for stream in list(current):
            raw.shutdown(stream)

    feed.on_close(close_stream)

    def produce(feed: ThreadFeed[LogItem]) -> None:
        pause, version, problem = 0.5, None, None
        first = True
        while not closed.is_set():
            if version is None:
                try:
                    listing = _list(api, namespace, timeout)
                except raw.KubeApiError as exc:
                    if first and not follow:
                        raise
                    if str(exc) != problem:
                        problem = str(exc)
                        feed.put([LogNotice(time.time(), source, "info",
                                            f"{exc}; retrying")])
                    if closed.wait(pause):
                        return
                    pause = min(pause * 2, retry_max)
                    continue
                items = sorted(listing.get("items") or [], key=event_time)
                if first:
                    feed.put([_record(e, namespace) for e in items[-backlog:]] if backlog
                             else [])
                    first = False
                if not follow:
                    return
                version = (listing.get("metadata") or {}).get("resourceVersion")
            query = [("watch", "true"), ("timeoutSeconds", "300")]
            if version:
                query.append(("resourceVersion", version))
            try:
                stream = raw.open_stream(api, f"/api/v1/namespaces/{quote(namespace, safe='')}"
                                         "/events", query, connect_timeout=timeout,
                                         verb="watch", resource="events")
            except raw.KubeApiError:
                version = None
                if closed.wait(pause):
                    return
                pause = min(pause * 2, retry_max)
                continue
            current.append(stream)
            if closed.is_set():
                raw.shutdown(stream)
            try:
                for event in _json_lines(raw.chunks(stream)):
                    pause = 0.5
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = None
                        break
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind in ("ADDED", "MODIFIED") and not feed.put([_record(obj, namespace)]):
                        return
            except Exception:
                version = None
            finally:
                current.remove(stream)
                raw.shutdown(stream)
            if closed.wait(0.05):
                return

    feed.run(produce, name=f"cockpit-k8s-events-{namespace}")
    try:
        async for batch in feed.batches():
            yield batch
    finally:
        feed.close()
