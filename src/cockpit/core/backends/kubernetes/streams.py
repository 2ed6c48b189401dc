"""The streaming half of the Kubernetes backend as a mixin: logs, exec in a pod, the
shell hand-over, events and statistics, delegating to ``logs.py``, ``exec.py``,
``events.py`` and ``metrics.py``.

The backend provides two hooks: ``_stream_ref(target)`` (a user-typed target or id ->
``StreamRef``: the API client of its context, namespace, kind, name) and
``_known_targets()`` (its cached targets, for decisions on the UI thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from cockpit.core.backends.base import CommandSpec, Execution, OutputLine, Target
from cockpit.core.backends.kubernetes import events as k_events
from cockpit.core.backends.kubernetes import metrics as k_metrics
from cockpit.core.backends.kubernetes import raw
from cockpit.core.backends.kubernetes.exec import PodExecution
from cockpit.core.backends.kubernetes.logs import PodLogs, Selection
from cockpit.core.backends.logs import LogItem, LogNotice, LogQuery, LogRecord
from cockpit.core.backends.targets import TargetEvent
from cockpit.core.backends.threaded import failed
from cockpit.core.errors import CockpitError

WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset", "job")


@dataclass(frozen=True, slots=True)
class StreamRef:
    """Where a target lives: the client of its context, and what it is."""

    api: Any  #: ``kubernetes.client.ApiClient`` of the target's context
    namespace: str
    kind: str  #: pod, deployment, statefulset, daemonset, job, node
    name: str
    context: str | None = None
    container: str | None = None  #: the profile's default container


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get(
            "deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def first_ready_pod(api: Any, namespace: str, kind: str, name: str,
                    timeout: float = 10.0) -> str:
    """The pod a workload's commands run in: its first ready pod (by name)."""
    _obj, selector = raw.workload_selector(api, namespace, kind, name, timeout)
    pods = raw.list_pods(api, namespace, selector, timeout=timeout).get("items") or []
    ready = sorted((p.get("metadata") or {}).get("name", "") for p in pods if _ready(p))
    if not ready:
        raise CockpitError(f"{kind}/{name} has no ready pod to run in "
                           f"({len(pods)} pod{'s' if len(pods) != 1 else ''})")
    return ready[0]


def probe_kind(api: Any, namespace: str, name: str, timeout: float = 10.0) -> str | None:
    """What ``name`` is in ``namespace`` when the listing does not say: a workload kind
    (deployment first), else a pod; None when nothing has that name."""
    for kind in (*WORKLOAD_KINDS, "pod"):
        path = raw.pods_path(namespace, name) if kind == "pod" else \
            raw.workload_path(namespace, kind, name)
        try:
            raw.get_json(api, path, timeout=timeout, resource=f"{kind}/{name}")
            return kind
        except raw.KubeApiError as exc:
            if exc.status != 404:
                return None
    return None


def default_container(api: Any, namespace: str, pod: str, timeout: float = 10.0) -> str | None:
    """The container kubectl picks in ``pod``: the ``kubectl.kubernetes.io/default-container``
    annotation, else the first one."""
    obj = raw.get_json(api, raw.pods_path(namespace, pod), timeout=timeout,
                       resource=f"pods/{pod}")
    meta = obj.get("metadata") or {}
    chosen = (meta.get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    names = [c.get("name") for c in (obj.get("spec") or {}).get("containers") or []]
    if chosen in names:
        return str(chosen)
    return str(names[0]) if names else None


class KubernetesStreams:
    """Mixin for the backend; see the module docstring."""

    opts: Any
    _exec_ids = itertools.count(1)
    _exec_prefix = uuid.uuid4().hex[:12]

    # -- hooks the backend implements ------------------------------------------------------

    async def _stream_ref(self, target: str) -> StreamRef:
        raise NotImplementedError

    def _known_targets(self) -> list[Target]:
        return []

    def _timeout(self) -> float:
        return float(getattr(self.opts, "timeout", 10.0) or 10.0)

    # -- logs ------------------------------------------------------------------------------

    async def _selection(self, target: str, container: str | None) -> tuple[StreamRef,
                                                                             Selection]:
        ref = await self._stream_ref(target)
        container = container or ref.container
        if ref.kind == "pod":
            return ref, Selection(ref.namespace, pod=ref.name, container=container)
        if ref.kind in WORKLOAD_KINDS:
            return ref, Selection(ref.namespace, workload=(ref.kind, ref.name),
                                  container=container)
        raise CockpitError(f"{ref.kind}/{ref.name} has no logs")

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogItem]]:
        """Records of every pod and container of the query's targets (and selector),
        merged, tagged ``pod/container``; see ``logs.py``."""
        readers: list[PodLogs] = []
        names = list(query.targets)
        for name in names:
            try:
                ref, sel = await self._selection(name, query.container)
            except CockpitError as exc:
                yield [LogNotice(time.time(), name, "unreachable", str(exc))]
                continue
            readers.append(self._reader(ref.api, sel, query))
        if query.selector:
            ref = await self._stream_ref("")
            readers.append(self._reader(ref.api, Selection(
                ref.namespace, selector=query.selector,
                container=query.container or ref.container), query))
        if not readers:
            return
        if len(readers) == 1:
            stream = readers[0].batches()
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for batch in stream:
                    yield batch
            return
        async for batch in _merge([r.batches() for r in readers]):
            yield batch

    def _reader(self, api: Any, sel: Selection, query: LogQuery) -> PodLogs:
        return PodLogs(api, sel, tail=query.tail, since=query.since, follow=query.follow,
                       previous=query.previous, timeout=self._timeout())

    async def stream_logs(self, target_id: str, *, tail: int = 100, follow: bool = True,
                          since: float | None = None) -> AsyncIterator[OutputLine]:
        """One target's lines (a workload: all its pods), stamped with their logged time;
        notices are dropped here (``logs()`` has them)."""
        stream = self.logs(LogQuery(targets=(target_id,), tail=tail, follow=follow,
                                    since=since))
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for batch in stream:
                for item in batch:
                    if isinstance(item, LogRecord):
                        yield OutputLine("log", item.text, item.ts, item.truncated,
                                         item.source)
                    elif item.kind == "unreachable":
                        raise CockpitError(item.text)

    # -- namespace events as a log -----------------------------------------------------------

    async def event_logs(self, namespace: str | None = None, *, backlog: int = 100,
                         follow: bool = True) -> AsyncIterator[list[LogItem]]:
        """The events of ``namespace`` (default: the backend's) as records (Warning:
        severity ``warn``)."""
        ref = await self._stream_ref("")
        stream = k_events.follow_events(ref.api, namespace or ref.namespace, backlog=backlog,
                                        follow=follow, timeout=self._timeout())
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for batch in stream:
                yield batch

    # -- events and statistics ---------------------------------------------------------------

    async def target_events(self, target_id: str, limit: int = 20) -> list[TargetEvent]:
        """The target's events (a workload's: with its pods' and ReplicaSets'), newest
        last; Warning kept as the event's type."""
        ref = await self._stream_ref(target_id)
        return await asyncio.to_thread(k_events.of_target, ref.api, ref.namespace, ref.kind,
                                       ref.name, limit=limit, timeout=self._timeout())

    async def target_stats(self, target_id: str) -> Mapping[str, float]:
        """``kubectl top`` figures of a pod, a workload (summed) or a node (``node/NAME``)."""
        if target_id.startswith("node/"):
            ref = await self._stream_ref("")
            return await asyncio.to_thread(k_metrics.of_node, ref.api, target_id[5:],
                                           self._timeout())
        ref = await self._stream_ref(target_id)
        if ref.kind == "pod":
            return await asyncio.to_thread(k_metrics.of_pod, ref.api, ref.namespace,
                                           ref.name, self._timeout())
        return await asyncio.to_thread(k_metrics.of_workload, ref.api, ref.namespace,
                                       ref.kind, ref.name, self._timeout())

    # -- exec and the shell ----------------------------------------------------------------

    async def start_in_target(self, spec: CommandSpec, target: str,
                              command: str | None = None, pod: str | None = None,
                              container: str | None = None) -> Execution:
        """Run ``spec`` (argv, script, or the ``exec`` operation's ``command`` by
        ``sh -c``) in the target's pod: a workload's first ready pod unless ``pod``."""
        display = spec.display()
        try:
            ref = await self._stream_ref(target)
            name = pod or ref.name
            if ref.kind in WORKLOAD_KINDS and pod is None:
                name = await asyncio.to_thread(first_ready_pod, ref.api, ref.namespace,
                                               ref.kind, ref.name, self._timeout())
            elif ref.kind != "pod" and pod is None:
                return failed(display, f"cannot run commands in {ref.kind}/{ref.name}")
        except CockpitError as exc:
            return failed(display, str(exc))
        container = container or ref.container
        if container is None:
            try:
                container = await asyncio.to_thread(default_container, ref.api,
                                                    ref.namespace, name, self._timeout())
            except CockpitError as exc:
                return failed(display, str(exc))
        if command is not None:
            argv = ["sh", "-c", command]
        elif spec.argv is not None:
            argv = [str(a) for a in spec.argv]
        else:
            argv = ["sh", "-c", "set -eu; (set -o pipefail) 2>/dev/null && set -o pipefail; "
                    'eval "$0"', spec.script or ""]
        env = {**dict(getattr(self.opts, "env", {}) or {}), **spec.env}
        return PodExecution(
            ref.api, ref.namespace, name, container, argv, env,
            display=display, marker=f"{self._exec_prefix}.{next(self._exec_ids)}",
            timeout=spec.timeout, kill_grace=float(getattr(self.opts, "kill_grace", 3.0)))

    def shell_argv_for(self, target: Target, base: list[str], container: str | None,
                       known: list[Target] | None = None) -> list[str] | None:
        """``BASE exec -it POD [-c CONTAINER] -- sh`` (``BASE``: ``kubectl --context C
        -n NS``) for a pod, or a workload's first ready pod (from the cached targets);
        None without one."""
        pod: Target | None = None
        if target.kind == "pod":
            pod = target
        elif target.kind in WORKLOAD_KINDS:
            ready = sorted((t for t in (known if known is not None else self._known_targets())
                            if t.kind == "pod" and t.parent == target.id
                            and t.health.state == "ok"), key=lambda t: t.name)
            pod = ready[0] if ready else None
        if pod is None or pod.state in ("missing", "Pending", "Succeeded", "Failed",
                                        "Completed", "Terminating"):
            return None
        argv = [*base, "exec", "-it", pod.name.rsplit("/", 1)[-1]]
        if container:
            argv += ["-c", container]
        return [*argv, "--", "sh"]


async def start_exec(backend: Any, spec: CommandSpec, resolved: Any) -> Execution:
    """The backend's ``exec_starter``: ``spec`` (a command with a target, or the
    ``exec`` operation: its ``command`` by ``sh -c``, an optional ``pod`` and
    ``container`` param) in the resolved target's pod."""
    call = spec.operation
    args = call.args if call is not None else {}
    command = None
    if call is not None:
        command = str(args.get("command") or "")
        if not command:
            return failed(spec.display(), "exec: no command given")
    target = f"{resolved.namespace}/{resolved.kind}/{resolved.name}"
    if getattr(backend, "fleet", False):
        target = f"{resolved.cluster.name}/{target}"
    return await backend.start_in_target(
        spec, target, command=command, pod=str(args["pod"]) if args.get("pod") else None,
        container=str(args["container"]) if args.get("container") else None)


async def _merge(streams: list[AsyncIterator[list[LogItem]]]) -> AsyncIterator[list[LogItem]]:
    """Batches of several streams as they come (bounded: each stream waits while
    batches queue up)."""
    queue: asyncio.Queue[list[LogItem] | None] = asyncio.Queue(maxsize=64)

    async def pump(stream: AsyncIterator[list[LogItem]]) -> None:
        try:
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for batch in stream:
                    await queue.put(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put([LogNotice(time.time(), "", "unreachable", str(exc))])
        await queue.put(None)

    tasks = [asyncio.ensure_future(pump(s)) for s in streams]
    active = len(tasks)
    try:
        while active:
            batch = await queue.get()
            if batch is None:
                active -= 1
                continue
            yield batch
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
