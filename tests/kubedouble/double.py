"""``KubeDouble``: the emulator served by ``kmock.Server`` in a background thread.

The double owns an event loop in its own thread, so blocking clients (kubectl through
``subprocess.run``, the official ``kubernetes`` client) and the cockpit's loop all talk to
it over loopback HTTP. Every helper is thread-safe: it hops onto the double's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import datetime
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import kmock

from tests.kubedouble import logs
from tests.kubedouble.emulator import KubeEmulator
from tests.kubedouble.faults import Rule, path_pattern
from tests.kubedouble.kubeconfig import write_fleet_kubeconfig
from tests.kubedouble.objects import (
    ensure_container_statuses,
    make_event,
    node_metrics,
    pod_metrics,
    set_condition,
)
from tests.kubedouble.patching import merge_patch
from tests.kubedouble.rollout import Controllers

T = TypeVar("T")
PODS = ("", "v1", "pods")


class KubeDouble:
    """A Kubernetes API double on ``127.0.0.1:<random port>``, served from its own thread."""

    def __init__(self, name: str = "kube") -> None:
        self.name = name
        self.emulator = KubeEmulator()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._url: str | None = None
        self.controllers = Controllers(self.emulator)
        self.seeded: dict[str, Any] = {}  # what a seed made (names tests need)

    # -- life cycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (once started)."""
        if self._url is None:
            raise RuntimeError("the kube double is not started")
        return self._url

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the kube double is not started")
        return self._loop

    def start(self, timeout: float = 15.0) -> KubeDouble:
        """Serve in a background thread; returns once the port is listening."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=f"kubedouble-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the kube double did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the kube double failed to start: {self._error!r}")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Close watches and streams, stop the server and join the thread."""
        if self._thread is None or self._loop is None:
            return
        loop, stop = self._loop, self._stop
        if stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._begin_stop)
        self._thread.join(timeout)
        self._thread = None

    def _begin_stop(self) -> None:
        self.emulator.closing = True
        self.emulator.store.close_watchers()
        for log in self.emulator.logbook.logs.values():
            log.notify()  # log followers see ``closing`` now, not at their next poll
        for task in list(self.emulator.tasks):
            task.cancel()
        assert self._stop is not None
        self._stop.set()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.emulator, kmock.Server(self.emulator, host="127.0.0.1", port=0) as server:
            self._url = f"http://127.0.0.1:{server.port}"
            self.emulator.spawn(self.controllers.run())
            self._ready.set()
            await self._stop.wait()
            for proc in list(self.emulator.exec_processes):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            if self.emulator.tasks:
                await asyncio.gather(*self.emulator.tasks, return_exceptions=True)

    def __enter__(self) -> KubeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- running on the double's loop ----------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the double's loop (directly if not started or already there)."""
        loop = self._loop
        if loop is None or not loop.is_running() or self._on_loop():
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=15)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- objects -------------------------------------------------------------------------
    def _res(self, kind: str) -> tuple[str, str, str]:
        return self.emulator.resource_for(kind)

    def _res_of(self, obj: Mapping[str, Any]) -> tuple[str, str, str]:
        api_version = obj.get("apiVersion", "v1")
        group, _, version = api_version.rpartition("/")
        kind = obj["kind"]
        for res in self.emulator.kinds:
            if res[0] == group and res[1] == version and self.emulator.kind_of(res) == kind:
                return res
        raise KeyError(f"{api_version} {kind}")

    def _ns(self, res: tuple[str, str, str], namespace: str | None) -> str | None:
        return (namespace or "default") if res in self.emulator.namespaced else None

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object from a dict with apiVersion/kind/metadata (fills uid, rv...)."""
        res = self._res_of(obj)
        namespace = self._ns(res, obj.get("metadata", {}).get("namespace"))
        kind = self.emulator.kind_of(res)
        return copy.deepcopy(self.call(self.emulator.store.create, res, kind, namespace, dict(obj)))

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or merge it into the existing one (a JSON merge patch)."""
        res = self._res_of(obj)
        meta = obj.get("metadata", {})
        namespace = self._ns(res, meta.get("namespace"))

        def run() -> dict[str, Any]:
            store = self.emulator.store
            old = store.get(res, namespace, meta["name"])
            if old is None:
                return store.create(res, self.emulator.kind_of(res), namespace, dict(obj))
            return store.replace(res, namespace, meta["name"], merge_patch(old, dict(obj)))

        return copy.deepcopy(self.call(run))

    def apply_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        for obj in objs:
            self.apply(obj)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """A copy of the object (``kind`` is a Kind, plural, short name...), or None."""
        res = self._res(kind)
        obj = self.call(self.emulator.store.get, res, self._ns(res, namespace), name)
        return copy.deepcopy(obj)

    def list(self, kind: str, namespace: str | None = None, selector: str = "") -> list[dict[str, Any]]:
        res = self._res(kind)
        return copy.deepcopy(self.call(self.emulator.store.items, res, namespace, selector))

    def patch(self, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Merge ``patch`` into the object (JSON merge patch: ``None`` deletes a key)."""
        res = self._res(kind)
        ns = self._ns(res, namespace)

        def run() -> dict[str, Any]:
            store = self.emulator.store
            old = store.get(res, ns, name)
            if old is None:
                raise KeyError(f"{kind} {ns}/{name}")
            return store.replace(res, ns, name, merge_patch(old, dict(patch)))

        return copy.deepcopy(self.call(run))

    def mutate(self, kind: str, name: str, fn: Callable[[dict[str, Any]], None], namespace: str | None = None) -> dict[str, Any]:
        """Change a copy of the object with ``fn(obj)`` on the loop and store it."""
        res = self._res(kind)
        ns = self._ns(res, namespace)

        def run() -> dict[str, Any]:
            store = self.emulator.store
            old = store.get(res, ns, name)
            if old is None:
                raise KeyError(f"{kind} {ns}/{name}")
            new = copy.deepcopy(old)
            fn(new)
            return store.replace(res, ns, name, new)

        return copy.deepcopy(self.call(run))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        res = self._res(kind)
        self.call(self.emulator.store.delete, res, self._ns(res, namespace), name)

    def set_pod_status(
        self,
        name: str,
        namespace: str | None = None,
        *,
        phase: str | None = None,
        ready: bool | None = None,
        reason: str | None = None,
        message: str | None = None,
        restart_count: int | None = None,
        container: str | None = None,
        status: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set a pod's phase, readiness, a container's waiting reason and restartCount.

        ``reason`` (e.g. CrashLoopBackOff, ImagePullBackOff) makes the container waiting;
        ``status`` is merged last, for anything else.
        """

        def change(pod: dict[str, Any]) -> None:
            st = pod.setdefault("status", {})
            if phase is not None:
                st["phase"] = phase
            statuses = ensure_container_statuses(pod)
            targets = [c for c in statuses if container in (None, c["name"])]
            for cs in targets:
                if ready is not None:
                    cs["ready"] = ready
                    cs["started"] = ready
                if restart_count is not None:
                    cs["restartCount"] = restart_count
                if reason is not None:
                    cs["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
                    cs["ready"] = False
                elif ready:
                    cs["state"] = {"running": {"startedAt": pod["metadata"].get("creationTimestamp")}}
            all_ready = bool(statuses) and all(c.get("ready") for c in statuses)
            set_condition(pod, "Ready", all_ready)
            set_condition(pod, "ContainersReady", all_ready)
            if status:
                pod["status"] = merge_patch(pod["status"], dict(status))

        return self.mutate("pods", name, change, namespace)

    # -- controllers -------------------------------------------------------------------
    @property
    def rollout_step(self) -> float:
        """Seconds between two reconcile rounds (each moves a rollout one replica)."""
        return self.controllers.step

    @rollout_step.setter
    def rollout_step(self, seconds: float) -> None:
        self.controllers.step = seconds

    def pause_rollouts(self) -> None:
        """Freeze the controllers (statuses stay as they are) until ``resume_rollouts``."""
        self.controllers.paused = True

    def resume_rollouts(self) -> None:
        self.controllers.paused = False
        self.call(self.controllers.wake.set)

    def settled(self) -> bool:
        """True when no workload has reconcile work left."""
        return self.call(lambda: not self.controllers.dirty)

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until the controllers have nothing left to do."""
        from tests.support import wait_until

        wait_until(self.settled, timeout=timeout, what="the kube double's controllers to settle")

    # -- logs --------------------------------------------------------------------------
    def append_log(
        self,
        pod: str,
        lines: str | Iterable[str],
        namespace: str | None = None,
        container: str | None = None,
        at: datetime.datetime | None = None,
    ) -> None:
        """Append lines to a container's log (the pod's only container by default)."""
        ns = namespace or "default"
        batch = [lines] if isinstance(lines, str) else list(lines)

        def run() -> None:
            obj = self.emulator.store.get(PODS, ns, pod)
            if obj is None:
                raise KeyError(f"pod {ns}/{pod}")
            name = logs.pick_container(obj, container)
            self.emulator.logbook.append(ns, pod, name, batch, at)

        self.call(run)

    def restart_container(
        self,
        pod: str,
        namespace: str | None = None,
        container: str | None = None,
        *,
        reason: str = "Error",
        exit_code: int = 1,
        waiting: str | None = None,
    ) -> dict[str, Any]:
        """End the container's instance: its lines become ``--previous``, restartCount+1,
        lastState.terminated set; ``waiting="CrashLoopBackOff"`` leaves it waiting."""
        ns = namespace or "default"
        return copy.deepcopy(
            self.call(
                logs.restart_container, self.emulator, ns, pod, container,
                reason=reason, exit_code=exit_code, waiting=waiting,
            )
        )

    def tick_logs(
        self,
        pod: str,
        make_line: Callable[[int], str | list[str]],
        namespace: str | None = None,
        container: str | None = None,
        interval: float = 1.0,
    ) -> Callable[[], None]:
        """Append ``make_line(n)`` every ``interval`` s while the pod exists; returns a stopper."""
        ns = namespace or "default"

        def run() -> asyncio.Task[Any]:
            obj = self.emulator.store.get(PODS, ns, pod)
            if obj is None:
                raise KeyError(f"pod {ns}/{pod}")
            name = logs.pick_container(obj, container)
            return self.emulator.spawn(logs.tick(self.emulator, ns, pod, name, make_line, interval))

        task = self.call(run)
        return lambda: self.call(task.cancel) and None

    # -- metrics and events ----------------------------------------------------------------
    def set_pod_metrics(self, pod: str, namespace: str | None = None, cpu: str = "250m", memory: str = "120Mi") -> dict[str, Any]:
        """The pod's PodMetrics (every container uses ``cpu`` and ``memory``), created or replaced."""
        obj = self.get("pod", pod, namespace)
        if obj is None:
            raise KeyError(f"pod {namespace}/{pod}")
        metrics = pod_metrics(obj, cpu, memory)
        self.delete_if_present("pods.metrics.k8s.io", pod, obj["metadata"]["namespace"])
        return self.create(metrics)

    def set_node_metrics(self, node: str, cpu: str, memory: str) -> dict[str, Any]:
        """A node's NodeMetrics, created or replaced."""
        self.delete_if_present("nodes.metrics.k8s.io", node)
        return self.create(node_metrics(node, cpu, memory))

    def add_event(
        self,
        kind: str,
        name: str,
        reason: str,
        message: str,
        namespace: str | None = None,
        *,
        type: str = "Normal",
        count: int = 1,
        component: str = "kubelet",
    ) -> dict[str, Any]:
        """A core/v1 Event about an existing object (``kind`` as for ``get``)."""
        obj = self.get(kind, name, namespace)
        if obj is None:
            raise KeyError(f"{kind} {namespace}/{name}")
        return self.create(make_event(obj, reason, message, type=type, count=count, component=component))

    def delete_if_present(self, kind: str, name: str, namespace: str | None = None) -> bool:
        res = self._res(kind)
        ns = self._ns(res, namespace)

        def run() -> bool:
            if self.emulator.store.get(res, ns, name) is None:
                return False
            self.emulator.store.delete(res, ns, name)
            return True

        return self.call(run)

    # -- failures ------------------------------------------------------------------------
    def forbid(
        self,
        path: str | re.Pattern[str],
        method: str | None = None,
        *,
        user: str = "u",
        times: int | None = None,
        message: str | None = None,
    ) -> Rule:
        """Answer ``path`` with 403 and the API server's RBAC message (until ``unforbid``)."""
        return self.emulator.faults.add(
            Rule("status", path_pattern(path), method, times, 403, "Forbidden", message, user)
        )

    def fail(
        self,
        path: str | re.Pattern[str],
        code: int,
        reason: str,
        message: str,
        method: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Answer ``path`` with any Status error."""
        return self.emulator.faults.add(Rule("status", path_pattern(path), method, times, code, reason, message))

    def drop_watches(self, path: str | re.Pattern[str] = re.compile(""), *, after: int = 0, times: int | None = 1) -> Rule:
        """End the next watch(es) on ``path`` after ``after`` events (a dropped connection)."""
        return self.emulator.faults.add(Rule("drop", path_pattern(path), "GET", times, after=after))

    def expire_watches(self, path: str | re.Pattern[str] = re.compile(""), *, times: int | None = 1) -> Rule:
        """Answer the next watch(es) on ``path`` with a 410 ``Expired`` ERROR event."""
        return self.emulator.faults.add(Rule("gone", path_pattern(path), "GET", times))

    def end_watches(self) -> None:
        """End every watch open right now (the clients see the stream close)."""
        self.call(self.emulator.store.close_watchers)

    def watchers(self, kind: str) -> int:
        """How many watches of ``kind`` are open right now."""
        res = self._res(kind)
        return self.call(lambda: len(self.emulator.store.watchers[res]))

    def clear_faults(self, rule: Rule | None = None) -> None:
        if rule is None:
            self.emulator.faults.clear()
        else:
            self.emulator.faults.remove(rule)

    def requests(self, path: str | re.Pattern[str], method: str | None = None) -> int:
        """How many requests reached ``path`` (exact path, or a pattern searched)."""
        pattern = path_pattern(path)
        total = 0
        for key, count in self.call(lambda: list(self.emulator.counts.items())):
            verb, _, p = key.partition(" ")
            if (method is None or verb == method.upper()) and pattern.search(p):
                total += count
        return total

    # -- kubeconfig ----------------------------------------------------------------------
    def write_kubeconfig(
        self, path: str | os.PathLike[str], context: str = "salvage-eu", namespace: str = "euystacio-ai"
    ) -> Path:
        """Write a kubeconfig with one context for this double; returns the path."""
        return write_fleet_kubeconfig(path, {context: (self, namespace)}, current=context)


