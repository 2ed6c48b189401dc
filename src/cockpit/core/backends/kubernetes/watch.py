"""Targets kept current by watches: pods, ReplicaSets and each workload kind, per
context and namespace, each in a daemon thread (list, then watch from the list's
resourceVersion; list again after the watch ends, drops, or answers 410 Gone or an
ERROR event). Pods are never polled one by one.

A context whose watches cannot reach it is an error row of its own in a fleet (the
others go on); with one context, ``snapshot`` raises its ``KubeError`` (the caller
says why and retries). Threads back off 1, 2, 5, then 10 s between attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

from cockpit.core.backends.kubernetes.cluster import (
    Cluster,
    Gone,
    KubeError,
    Unreachable,
)
from cockpit.core.backends.kubernetes.targets import Ref, build_targets, error_target
from cockpit.core.backends.targets import Target

#: kind -> (API group path, resource as the API and RBAC name it). Lists and watches
#: are plain GETs through the client's ApiClient (``raw.py``): the generated API classes
#: cost about a second of imports, the first listing should not wait for them.
KINDS: dict[str, tuple[str, str]] = {
    "pod": ("/api/v1", "pods"),
    "replicaset": ("/apis/apps/v1", "replicasets"),
    "deployment": ("/apis/apps/v1", "deployments"),
    "statefulset": ("/apis/apps/v1", "statefulsets"),
    "daemonset": ("/apis/apps/v1", "daemonsets"),
    "job": ("/apis/batch/v1", "jobs"),
}
WATCH_SECONDS = 240  #: the server ends each watch after this; then we list again
BACKOFF = (1.0, 2.0, 5.0, 10.0)
#: The fewest seconds between two lists yielded by ``updates`` (at most ~4 a second).
MIN_INTERVAL = 0.25
#: Health that depends on the clock (restarts climbing) is recomputed this often.
CLOCK_BUCKET = 30.0


class _Source:
    """One (context, namespace, kind): its objects by name, kept by a thread."""

    def __init__(self, owner: TargetWatch, cluster: Cluster, namespace: str,
                 kind: str) -> None:
        self.owner = owner
        self.cluster = cluster
        self.namespace = namespace
        self.kind = kind
        self.objects: dict[str, dict[str, Any]] = {}
        self.listed = False  #: listed at least once (or failed at least once)
        self.error: KubeError | None = None
        self.lists = 0  #: how many times it listed (tests read it)
        self._response: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        name = f"cockpit-k8s-{self.cluster.name}-{self.namespace}-{self.kind}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            try:
                response.shutdown()
            except Exception:
                pass
            try:
                response.close()
            except Exception:
                pass

    def _run(self) -> None:
        failures = 0
        closing = self.owner.closing
        while not closing.is_set():
            began = time.monotonic()
            try:
                version = self._list()
            except Exception as exc:  # unreachable, forbidden, an answer not understood
                if closing.is_set():
                    return
                error = exc if isinstance(exc, KubeError) else KubeError(
                    f"list {self.kind}: {exc}")
                self.owner.failed(self, error)
                closing.wait(BACKOFF[min(failures, len(BACKOFF) - 1)])
                failures += 1
                continue
            failures = 0
            try:
                self._watch(version)
            except Exception:  # 410 Gone, an ERROR event, a dropped stream: list again
                if closing.is_set():
                    return
            if time.monotonic() - began < 1.0:
                closing.wait(1.0)  # a watch that ends at once: do not spin

    def _get(self, verb: str, query: list[tuple[str, str]], timeout: Any) -> Any:
        """GET this kind's collection (the urllib3 response, unread)."""
        from cockpit.core.backends.kubernetes.raw import _request

        group, resource = KINDS[self.kind]
        if self.owner.selector and self.kind != "replicaset":
            query.append(("labelSelector", self.owner.selector))
        path = f"{group}/namespaces/{quote(self.namespace, safe='')}/{resource}"
        try:
            return _request(self.cluster.client(), path, query, timeout)
        except KubeError:
            raise
        except Exception as exc:
            raise self.cluster.error(exc, verb, resource) from None

    def _list(self) -> str:
        response = self._get("list", [], self.cluster.timeout)
        try:
            data = response.read()
        finally:
            response.release_conn()
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            raise KubeError(f"{self.cluster.name}: list {KINDS[self.kind][1]}: the answer "
                            "is not JSON") from None
        objects = {}
        for item in answer.get("items") or []:
            meta = item.get("metadata") or {}
            meta.setdefault("namespace", self.namespace)
            objects[str(meta.get("name"))] = item
        self.lists += 1
        self.owner.replace(self, objects)
        return str((answer.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> None:
        """Apply the watch's events until it ends; ``Gone`` on 410 / an ERROR event."""
        resource = KINDS[self.kind][1]
        query = [("watch", "true"), ("timeoutSeconds", str(WATCH_SECONDS))]
        if version:
            query.append(("resourceVersion", version))
        response = self._get("watch", query,
                             (self.cluster.timeout, WATCH_SECONDS + self.cluster.timeout))
        self._response = response
        if self.owner.closing.is_set():
            self.stop()
            return
        try:
            for line in _lines(response):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    raise Gone(f"watch {resource}: {obj.get('message', 'error event')}")
                meta = obj.get("metadata") or {}
                if kind == "BOOKMARK":
                    continue
                name = str(meta.get("name") or "")
                if not name:
                    continue
                meta.setdefault("namespace", self.namespace)
                self.owner.apply(self, kind, name, obj)
        finally:
            self.stop()


def _lines(response: Any) -> Iterator[bytes]:
    """The lines of a watch stream (JSON objects, one a line)."""
    pending = b""
    for chunk in response.stream(64 * 1024, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending


class TargetWatch:
    """The targets of some contexts and namespaces, kept current by watches.

    ``start()`` / ``close()``; ``version`` (bumped on each change); ``snapshot(wait)``
    (the list, after every watch has listed once or failed, waiting at most ``wait``
    seconds); ``updates()`` (async: the list each time it changes); ``find(ref, ...)``
    (a listed target a user's reference names); ``sources`` (for tests: ``lists``).
    """

    def __init__(self, clusters: list[Cluster], plan: dict[str, list[str]], *,
                 selector: str | None = None, workloads: tuple[str, ...] = (),
                 fleet: bool = False) -> None:
        self.clusters = clusters
        self.selector = selector
        self.workloads = workloads
        self.fleet = fleet
        self.closing = threading.Event()
        self.version = 0
        self._cond = threading.Condition()
        self.sources: list[_Source] = [
            _Source(self, cluster, namespace, kind)
            for cluster in clusters for namespace in plan.get(cluster.name, ["default"])
            for kind in KINDS]
        self._cache: tuple[tuple[int, int], list[Target]] | None = None
        #: pod targets by uid, reused while the pod's resourceVersion stays the same
        self._pod_targets: dict[Any, tuple[Any, Target]] = {}
        #: the event loops ``updates`` waits in, woken from the threads on a change (no
        #: thread of the loop's executor is ever blocked waiting: quitting stays quick)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def close(self, wait: float = 5.0) -> None:
        """Stop every watch and wait (at most ``wait`` s in all) for the threads: a
        daemon thread still reading at interpreter exit can abort the process."""
        self.closing.set()
        for source in self.sources:
            source.stop()
        with self._cond:
            self._cond.notify_all()
            self._wake()
        deadline = time.monotonic() + wait
        for source in self.sources:
            source.join(max(0.0, deadline - time.monotonic()))

    # -- called by the sources' threads --------------------------------------------------

    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()
        self._wake()

    def _wake(self) -> None:
        for loop, event in list(self._waiters):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self._waiters.discard((loop, event))

    def replace(self, source: _Source, objects: dict[str, dict[str, Any]]) -> None:
        with self._cond:
            changed = objects != source.objects or source.error is not None or (
                not source.listed)
            source.objects = objects
            source.listed = True
            source.error = None
            if changed:
                self._changed()

    def apply(self, source: _Source, kind: str, name: str, obj: dict[str, Any]) -> None:
        with self._cond:
            if kind == "DELETED":
                if source.objects.pop(name, None) is None:
                    return
            elif source.objects.get(name) == obj:
                return
            else:
                source.objects[name] = obj
            self._changed()

    def failed(self, source: _Source, error: KubeError) -> None:
        with self._cond:
            before = str(source.error) if source.error else None
            source.error = error
            source.listed = True
            if before != str(error):
                self._changed()

    # -- readers ------------------------------------------------------------------------

    def ready(self) -> bool:
        return all(source.listed for source in self.sources)

    def wait_changed(self, version: int, timeout: float) -> int:
        """Block until ``version`` is not the current one (or ``timeout``)."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version or self.closing.is_set(),
                                timeout)
            return self.version

    def snapshot(self, wait: float = 0.0) -> list[Target]:
        """The targets (see the class docstring); raises the single context's error."""
        with self._cond:
            self._cond.wait_for(lambda: self.ready() or self.closing.is_set(), wait)
            key = (self.version, int(time.time() // CLOCK_BUCKET))
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            rows: list[Target] = []
            for cluster in self.clusters:
                mine = [s for s in self.sources if s.cluster is cluster]
                problem = _problem(mine)
                if problem is not None:
                    if not self.fleet:
                        raise problem
                    rows.append(error_target(cluster.name, cluster.server, str(problem)))
                    continue
                objects: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
                for source in mine:
                    objects[source.kind].extend(source.objects.values())
                rows += build_targets(objects, context=cluster.name if self.fleet else None,
                                      workloads=self.workloads, cache=self._pod_targets,
                                      epoch=key[1])
            self._cache = (key, rows)
            if len(self._pod_targets) > 2 * len(rows) + 100:  # pods gone: forget them
                self._pod_targets.clear()
            return rows

    async def updates(self) -> AsyncIterator[list[Target]]:
        """The list each time it changes, at most every ``MIN_INTERVAL`` seconds."""
        loop, wake = asyncio.get_running_loop(), asyncio.Event()
        me = (loop, wake)
        with self._cond:
            self._waiters.add(me)
        try:
            last: list[Target] | None = None
            deadline = loop.time() + (max(c.timeout for c in self.clusters)
                                      if self.clusters else 0.0)
            while not (self.ready() or self.closing.is_set()):  # the first listings
                wake.clear()
                if self.ready() or loop.time() >= deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - loop.time()):
                        await wake.wait()
            while not self.closing.is_set():
                version = self.version
                # built in a thread (a thousand pods take a while); a single
                # unreachable context raises
                targets = await asyncio.to_thread(self.snapshot, 0.0)
                if targets != last:
                    last = targets
                    yield targets
                    await asyncio.sleep(MIN_INTERVAL)
                wake.clear()
                if self.version == version:  # nothing new: wait for a change, or the
                    with contextlib.suppress(TimeoutError):  # clock (restarts climbing)
                        async with asyncio.timeout(CLOCK_BUCKET):
                            await wake.wait()
        finally:
            with self._cond:
                self._waiters.discard(me)

    def find(self, ref: Ref, contexts: list[str],
             namespaces_of: Callable[[str], list[str]]) -> Target | None:
        """The listed target ``ref`` names in ``contexts`` (a workload before a pod)."""
        try:
            targets = self.snapshot(0.0)
        except KubeError:
            return None
        best: Target | None = None
        contexts_found: set[str] = set()
        for target in targets:
            details = target.details
            context = details.get("context")
            if target.kind == "context" or target.name != ref.name:
                continue
            if ref.kind is not None and target.kind != ref.kind:
                continue
            if ref.context is not None and context not in (None, ref.context):
                continue
            if context is not None and ref.context is None and context not in contexts:
                continue
            namespace = details.get("namespace")
            if ref.namespace is not None and namespace != ref.namespace:
                continue
            if ref.namespace is None and namespace not in namespaces_of(
                    str(context or (contexts[0] if contexts else ""))):
                continue
            if context is not None:
                contexts_found.add(str(context))
            if best is None or (best.kind == "pod" and target.kind != "pod"):
                best = target
        if ref.context is None and len(contexts_found) > 1:
            raise AmbiguousTarget(
                f"{ref.name!r} is in several contexts ({', '.join(sorted(contexts_found))}):"
                " name it CONTEXT/NAMESPACE/KIND/NAME")
        return best


class AmbiguousTarget(KubeError, ValueError):
    """A name that several contexts of a fleet have: acting on one would be a guess."""


def _problem(sources: list[_Source]) -> KubeError | None:
    """The context's error when it cannot be listed: unreachable, or every kind failed."""
    errors = [s.error for s in sources if s.error is not None]
    if not errors:
        return None
    for error in errors:
        if isinstance(error, Unreachable):
            return error
    pods = [s for s in sources if s.kind == "pod" and s.error is not None]
    if len(errors) == len(sources) or pods:
        return errors[0] if not pods else pods[0].error
    return None
