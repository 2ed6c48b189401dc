"""Logs of pods (``kubectl logs``): one pod, a workload's pods or a label selector,
every container, merged and tagged ``pod/container``.

Each container is read by a daemon thread (``GET pods/NAME/log?timestamps=true``) that
hands records to the loop through one bounded ``ThreadFeed`` (back-pressure, never
unbounded memory). Lines carry their logged time (the RFC 3339 stamp the kubelet puts in
front). When a followed stream ends (the container restarted, the stream was cut) the
reader asks again ``sinceTime`` its last line (second precision, so the lines of that
second come again and are dropped by ``Deduper``); when the container restarted meanwhile,
what the previous run logged after the last line seen is read first (``previous``).
Pods of a selector that appear later are followed too (a watch on the pods). A pod or
container that cannot be read is a notice; the others go on.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.core.backends.feed import ThreadFeed
from cockpit.core.backends.kubernetes import raw
from cockpit.core.backends.lines import LineSplitter
from cockpit.core.backends.logs import LogItem, LogNotice, LogRecord

_STAMP = re.compile(
    rb"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ?")
#: lines kept per container to drop repeats at the boundary second of a resume
_BOUNDARY_MAX = 10_000


def parse_stamp(line: bytes) -> tuple[int | None, bytes]:
    """``(nanoseconds since the epoch, the rest)`` of a ``timestamps=true`` log line."""
    match = _STAMP.match(line)
    if match is None:
        return None, line
    y, mo, d, h, mi, s, frac, zone = match.groups()
    try:
        moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    except ValueError:
        return None, line
    seconds = int(moment.timestamp())
    if zone not in (b"Z", b"+00:00", b"-00:00"):
        sign = 1 if zone[:1] == b"+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((frac or b"0").ljust(9, b"0"))
    return seconds * 1_000_000_000 + nanos, line[match.end():]


def format_since(ns: int) -> str:
    """``sinceTime`` for a moment in nanoseconds (the API takes whole seconds: floored)."""
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Deduper:
    """Drops what a resumed stream repeats: lines before the last one seen, and the
    lines already seen at exactly its timestamp (counted, so equal lines survive)."""

    def __init__(self) -> None:
        self.last_ns: int | None = None
        self._at_last: Counter[str] = Counter()  #: texts seen at ``last_ns``
        self._skip: Counter[str] = Counter()  #: of those, still to skip in this stream
        self._resuming = False

    def resume(self) -> None:
        """A new stream starts, repeating lines from the last one's second on."""
        self._skip = Counter(self._at_last)
        self._resuming = self.last_ns is not None

    def keep(self, ns: int, text: str) -> bool:
        """Is this line new (and remember it)?"""
        last = self.last_ns
        if self._resuming and last is not None:
            if ns < last:
                return False
            if ns == last and self._skip[text] > 0:
                self._skip[text] -= 1
                return False
            if ns > last:
                self._resuming = False
        if last is None or ns > last:
            self.last_ns = ns
            self._at_last = Counter()
        elif ns < last:
            return True  # out of order within one stream: shown, the boundary stays
        if len(self._at_last) < _BOUNDARY_MAX:
            self._at_last[text] += 1
        return True


def order_batch(items: list[LogItem]) -> list[LogItem]:
    """A batch of several containers' items in time order (stable: each container's
    own order is kept)."""
    return sorted(items, key=lambda item: item.ts)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which pods: one pod, or those matching a label selector (of a workload)."""

    namespace: str
    pod: str | None = None
    selector: str | None = None
    workload: tuple[str, str] | None = None  #: (kind, name): its pods' selector
    container: str | None = None  #: only this container


def _containers(pod: dict[str, Any], only: str | None) -> list[str]:
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return [n for n in names if n and (only is None or n == only)]


def _status_of(pod: dict[str, Any], container: str) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return status
    return {}


def _has_started(status: dict[str, Any]) -> bool:
    state = status.get("state") or {}
    return bool(state.get("running") or state.get("terminated")
                or (status.get("lastState") or {}).get("terminated"))


class PodLogs:
    """One query's readers; ``batches()`` yields merged records and notices."""

    def __init__(self, api: Any, selection: Selection, *, tail: int = 100,
                 since: float | None = None, follow: bool = True, previous: bool = False,
                 timeout: float = 10.0, limit: int = 10_000,
                 retry: float = 0.5, retry_max: float = 5.0) -> None:
        self.api = api
        self.sel = selection
        self.tail = tail
        self.since_ns = int(since * 1_000_000_000) if since is not None else None
        self.follow = follow and not previous
        self.previous = previous
        self.timeout = timeout
        self.limit = limit
        self.retry, self.retry_max = retry, retry_max
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._readers: dict[str, threading.Thread] = {}
        self._open: set[Any] = set()
        self._feed: ThreadFeed[LogItem] | None = None

    # -- consumer ------------------------------------------------------------------------

    async def batches(self) -> AsyncIterator[list[LogItem]]:
        self._feed = feed = ThreadFeed(asyncio.get_running_loop(), limit=self.limit)
        feed.on_close(self._shutdown)
        feed.run(self._discover, name=f"cockpit-k8s-logs-{self._label()}")
        held: list[LogItem] = []  # without follow: every container's lines in time order
        try:
            async for batch in feed.batches():
                if self.follow or len(held) + len(batch) > self.limit:
                    if held:
                        batch, held = held + batch, []
                    yield order_batch(batch)
                else:
                    held.extend(batch)
            if held:
                yield order_batch(held)
        finally:
            feed.close()

    def close(self) -> None:
        if self._feed is not None:
            self._feed.close()
        self._shutdown()

    def _shutdown(self) -> None:
        self._closed.set()
        with self._lock:
            streams = list(self._open)
        for stream in streams:
            raw.shutdown(stream)

    # -- helpers (threads) ---------------------------------------------------------------

    def _label(self) -> str:
        sel = self.sel
        if sel.pod:
            return sel.pod
        if sel.workload:
            return f"{sel.workload[0]}/{sel.workload[1]}"
        return sel.selector or sel.namespace

    def _put(self, items: list[LogItem]) -> bool:
        assert self._feed is not None
        return self._feed.put(items)

    def _notice(self, source: str, kind: Any, text: str) -> None:
        self._put([LogNotice(time.time(), source, kind, text)])

    def _track(self, stream: Any) -> None:
        with self._lock:
            self._open.add(stream)
        if self._closed.is_set():
            raw.shutdown(stream)

    def _untrack(self, stream: Any) -> None:
        with self._lock:
            self._open.discard(stream)
        raw.shutdown(stream)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless closed; True when closed."""
        return self._closed.wait(seconds)

    # -- discovery -----------------------------------------------------------------------

    def _discover(self, feed: ThreadFeed[LogItem]) -> None:
        sel = self.sel
        try:
            selector = sel.selector
            if sel.workload is not None:
                _obj, selector = raw.workload_selector(
                    self.api, sel.namespace, *sel.workload, timeout=self.timeout)
            if sel.pod is not None:
                pod = raw.get_json(self.api, raw.pods_path(sel.namespace, sel.pod),
                                   timeout=self.timeout, resource=f"pods/{sel.pod}")
                pods, version = [pod], None
            else:
                listing = raw.list_pods(self.api, sel.namespace, selector or "",
                                        timeout=self.timeout)
                pods = listing.get("items") or []
                version = (listing.get("metadata") or {}).get("resourceVersion")
        except raw.KubeApiError as exc:
            self._notice(self._label(), "unreachable", f"logs of {self._label()}: {exc}")
            return
        if not pods and not self.follow:
            self._notice(self._label(), "missing", f"no pods of {self._label()}")
        for pod in pods:
            self._start_readers(pod)
        if self.follow and sel.pod is None:
            self._watch(selector or "", version)
        for thread in list(self._readers.values()):
            while thread.is_alive() and not self._closed.is_set():
                thread.join(0.5)

    def _watch(self, selector: str, version: str | None) -> None:
        """Follow the selector's pods: start readers for pods that appear or start."""
        pause = self.retry
        while not self._closed.is_set():
            if version is None:
                try:
                    listing = raw.list_pods(self.api, self.sel.namespace, selector,
                                            timeout=self.timeout)
                except raw.KubeApiError as exc:
                    self._notice(self._label(), "info", f"cannot list pods: {exc}; retrying")
                    if self._wait(pause):
                        return
                    pause = min(pause * 2, self.retry_max)
                    continue
                version = (listing.get("metadata") or {}).get("resourceVersion")
                for pod in listing.get("items") or []:
                    self._start_readers(pod)
            query = [("watch", "true"), ("timeoutSeconds", "300"),
                     ("allowWatchBookmarks", "true")]
            if selector:
                query.append(("labelSelector", selector))
            if version:
                query.append(("resourceVersion", version))
            try:
                stream = raw.open_stream(self.api, raw.pods_path(self.sel.namespace), query,
                                         connect_timeout=self.timeout, verb="watch",
                                         resource="pods")
            except raw.KubeApiError:
                version = None
                if self._wait(pause):
                    return
                pause = min(pause * 2, self.retry_max)
                continue
            self._track(stream)
            try:
                for event in _json_lines(raw.chunks(stream)):
                    pause = self.retry
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = None  # 410 Gone and others: list again
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        version = rv
                    if kind in ("ADDED", "MODIFIED"):
                        self._start_readers(obj)
            except Exception:
                version = None  # a cut watch: list again (readers keep their place)
            finally:
                self._untrack(stream)
            if self._wait(0.05):
                return

    def _start_readers(self, pod: dict[str, Any]) -> None:
        name = (pod.get("metadata") or {}).get("name") or ""
        if not name or self._closed.is_set():
            return
        containers = _containers(pod, self.sel.container)
        if not containers and self.sel.container and self.sel.pod:
            self._notice(name, "missing", f"pod {name} has no container {self.sel.container}")
        for container in containers:
            key = f"{name}/{container}"
            status = _status_of(pod, container)
            if self.follow and not _has_started(status) and self.sel.pod is None:
                continue  # not started yet: a later MODIFIED event starts it
            with self._lock:
                if key in self._readers and self._readers[key].is_alive():
                    continue
                thread = threading.Thread(target=self._read, args=(name, container),
                                          daemon=True, name=f"cockpit-k8s-log-{key}")
                self._readers[key] = thread
            thread.start()

    # -- one container -------------------------------------------------------------------

    def _read(self, pod: str, container: str) -> None:
        try:
            self._read_container(pod, container)
        except Exception as exc:  # a bug must not end the other readers silently
            if not self._closed.is_set():
                self._notice(f"{pod}/{container}", "info", f"log reader failed: {exc!r}")

    def _read_container(self, pod: str, container: str) -> None:
        source = f"{pod}/{container}"
        dedupe = Deduper()
        pause = self.retry
        problem: str | None = None
        restarts = self._restart_count(pod, container)
        first = True
        while not self._closed.is_set():
            if not first and self.follow:
                # Again after a stream that ended (the container restarted, or the
                # stream was cut): what the run that ended logged after our last line
                # comes from ``previous``; a pod that finished or went ends here.
                checked = self._check_run(pod, container, source, restarts, dedupe)
                if checked is None:
                    return
                if checked < 0:
                    if self._wait(pause):
                        return
                    pause = min(pause * 2, self.retry_max)
                    continue
                restarts = checked
            query: list[tuple[str, str]] = [("container", container), ("timestamps", "true")]
            if self.follow:
                query.append(("follow", "true"))
            if self.previous:
                query.append(("previous", "true"))
            if dedupe.last_ns is not None:
                query.append(("sinceTime", format_since(dedupe.last_ns)))
            elif self.since_ns is not None:
                query.append(("sinceTime", format_since(self.since_ns)))
            elif self.tail >= 0 and first:
                query.append(("tailLines", str(self.tail)))
            first = False
            dedupe.resume()
            got = self._stream(pod, source, query, dedupe)
            if isinstance(got, raw.KubeApiError):
                if got.status == 404 and "pods" in str(got):
                    self._notice(source, "info", f"pod {pod} is gone")
                    return
                if not self.follow:
                    self._notice(source, "info", f"cannot read the logs of {source}: {got}")
                    return
                if str(got) != problem:
                    problem = str(got)
                    self._notice(source, "info",
                                 f"cannot read the logs of {source}: {got}; retrying")
                if self._wait(pause):
                    return
                pause = min(pause * 2, self.retry_max)
                continue
            if not self.follow or self._closed.is_set():
                return
            if got:
                pause, problem = self.retry, None
                if self._wait(0.05):
                    return
            else:  # nothing new: do not spin on a stream that ends at once
                if self._wait(pause):
                    return
                pause = min(pause * 2, self.retry_max)

    def _check_run(self, pod: str, container: str, source: str, restarts: int,
                   dedupe: Deduper) -> int | None:
        """The container's restart count now (after reading what an ended run logged
        since our last line), None when the pod is gone or done, -1 when unknown."""
        try:
            obj = raw.get_json(self.api, raw.pods_path(self.sel.namespace, pod),
                               timeout=self.timeout, resource=f"pods/{pod}")
        except raw.KubeApiError as exc:
            if exc.status == 404:
                self._notice(source, "ended", f"pod {pod} is gone")
                return None
            return -1
        status = _status_of(obj, container)
        now = int(status.get("restartCount") or 0)
        if now > restarts and dedupe.last_ns is not None:
            fill = [("container", container), ("timestamps", "true"), ("previous", "true"),
                    ("sinceTime", format_since(dedupe.last_ns))]
            dedupe.resume()
            if isinstance(self._stream(pod, source, fill, dedupe), raw.KubeApiError):
                return -1
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and (status.get("state") or {}).get("terminated"):
            self._notice(source, "ended", f"{source} ended ({phase})")
            return None
        return max(now, restarts)

    def _restart_count(self, pod: str, container: str) -> int:
        try:
            obj = raw.get_json(self.api, raw.pods_path(self.sel.namespace, pod),
                               timeout=self.timeout, resource=f"pods/{pod}")
        except raw.KubeApiError:
            return 0
        return int(_status_of(obj, container).get("restartCount") or 0)

    def _stream(self, pod: str, source: str, query: list[tuple[str, str]],
                dedupe: Deduper) -> int | raw.KubeApiError:
        """Read one log stream to its end; the number of new lines, or the error."""
        try:
            stream = raw.open_stream(self.api, raw.pods_path(self.sel.namespace, pod, "log"),
                                     query, connect_timeout=self.timeout,
                                     resource=f"pods/{pod}/log")
        except raw.KubeApiError as exc:
            return exc
        self._track(stream)
        splitter = LineSplitter()
        count = 0
        since = self.since_ns

        def records(pieces: Iterable[tuple[str, bool]]) -> list[LogItem]:
            out: list[LogItem] = []
            now = time.time()
            for text, cut in pieces:
                ns, rest = parse_stamp(text.encode("utf-8", "surrogateescape"))
                line = rest.decode("utf-8", "replace").rstrip("\r")
                if ns is None:
                    out.append(LogRecord(now, line, source, "log", truncated=cut))
                    continue
                if since is not None and ns < since:
                    continue
                if dedupe.keep(ns, line):
                    out.append(LogRecord(ns / 1e9, line, source, "log", logged=True,
                                         truncated=cut))
            return out

        try:
            for chunk in raw.chunks(stream):
                got = records(splitter.feed(chunk))
                if got:
                    count += len(got)
                    if not self._put(got):
                        return count
            got = records(splitter.flush())
            count += len(got)
            self._put(got)
        except Exception:
            pass  # cut: the caller resumes from the last line
        finally:
            self._untrack(stream)
        return count


def _json_lines(chunks: Iterable[bytes], limit: int = 16 * 1024 * 1024) -> Iterable[dict[str, Any]]:
    """Objects of a watch stream (one JSON document per line)."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while True:
            end = buf.find(b"\n")
            if end < 0:
                break
            line = bytes(buf[:end]).strip()
            del buf[: end + 1]
            if line:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
        if len(buf) > limit:
            raise ValueError("watch event too large")
