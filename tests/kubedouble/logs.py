"""``pods/NAME/log``: per-container log buffers, the previous instance, follow streams.

Query parameters as the API server reads them: ``container``, ``follow``, ``previous``,
``tailLines``, ``timestamps`` (RFC3339Nano prefix), ``sinceSeconds``, ``sinceTime``,
``limitBytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp.web

from tests.kubedouble.api import ApiError, ApiPath
from tests.kubedouble.objects import ensure_container_statuses, set_condition
from tests.kubedouble.store import ResKey
from tests.kubedouble.timing import parse_time, pause, rfc3339, rfc3339nano, wait_event

if TYPE_CHECKING:
    from tests.kubedouble.emulator import KubeEmulator

PODS: ResKey = ("", "v1", "pods")
_WAITING_TO_START = {"ContainerCreating", "PodInitializing", "ErrImagePull", "ImagePullBackOff"}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class ContainerLog:
    """The lines of one container: the running instance and the previous one."""

    current: list[tuple[datetime.datetime, str]] = field(default_factory=list)
    previous: list[tuple[datetime.datetime, str]] | None = None
    instance: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class LogBook:
    """Every container log of a double (used on the double's loop only)."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, str, str], ContainerLog] = {}

    def get(self, namespace: str, pod: str, container: str) -> ContainerLog:
        return self.logs.setdefault((namespace, pod, container), ContainerLog())

    def append(self, namespace: str, pod: str, container: str, lines: list[str], at: datetime.datetime | None = None) -> None:
        log = self.get(namespace, pod, container)
        when = at or _now()
        for line in lines:
            log.current.append((when, line))
        if len(log.current) > 20000:
            del log.current[:5000]
        log.notify()

    def restart(self, namespace: str, pod: str, container: str) -> None:
        log = self.get(namespace, pod, container)
        log.previous, log.current = log.current, []
        log.instance += 1
        log.notify()

    def forget(self, namespace: str, pod: str) -> None:
        for key in [k for k in self.logs if k[:2] == (namespace, pod)]:
            self.logs.pop(key).notify()


def container_names(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec", {})
    return [c["name"] for c in spec.get("containers", [])] + [
        c["name"] for c in spec.get("initContainers", [])
    ]


def pick_container(pod: dict[str, Any], container: str | None) -> str:
    """The container a log/exec request means, or the API server's 400 error."""
    name = pod["metadata"]["name"]
    names = container_names(pod)
    main = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    if not container:
        if len(main) == 1:
            return main[0]
        raise ApiError(
            400, "BadRequest",
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]",
        )
    if container not in names:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
    return container


def _format(when: datetime.datetime, line: str, timestamps: bool) -> bytes:
    return ((rfc3339nano(when) + " " if timestamps else "") + line + "\n").encode()


async def serve_log(em: KubeEmulator, raw: aiohttp.web.BaseRequest, ap: ApiPath) -> aiohttp.web.StreamResponse:
    """The log subresource of a pod."""
    if raw.method != "GET":
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    pod = em._get(ApiPath("", "v1", "pods", ap.namespace, ap.name))
    assert ap.name is not None and ap.namespace is not None
    query = raw.query
    container = pick_container(pod, query.get("container"))
    previous = query.get("previous") in ("true", "1")
    follow = query.get("follow") in ("true", "1") and not previous
    timestamps = query.get("timestamps") in ("true", "1")
    book: LogBook = em.logbook
    log = book.get(ap.namespace, ap.name, container)
    if previous and log.previous is None:
        raise ApiError(
            400, "BadRequest",
            f'previous terminated container "{container}" in pod "{ap.name}" not found',
        )
    lines = list(log.previous if previous else log.current)
    start, instance = len(log.current), log.instance  # follow from here (nothing lost meanwhile)
    if not lines and not previous:
        state = _container_state(pod, container)
        reason = (state.get("waiting") or {}).get("reason")
        if reason in _WAITING_TO_START:
            raise ApiError(
                400, "BadRequest",
                f'container "{container}" in pod "{ap.name}" is waiting to start: {reason}',
            )
    since: datetime.datetime | None = None
    try:
        if query.get("sinceSeconds"):
            since = _now() - datetime.timedelta(seconds=int(query["sinceSeconds"]))
        elif query.get("sinceTime"):
            since = parse_time(query["sinceTime"])
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        limit = int(query["limitBytes"]) if query.get("limitBytes") else None
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"invalid log options: {exc}") from None
    if since is not None:
        lines = [(when, line) for when, line in lines if when >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    await response.prepare(raw)
    sent = 0
    try:
        for when, line in lines:
            data = _format(when, line, timestamps)
            if limit is not None and sent + len(data) > limit:
                await response.write(data[: limit - sent])
                return response
            await response.write(data)
            sent += len(data)
        if follow:
            await _follow(em, raw, response, ap, container, log, timestamps, start, instance)
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    return response


async def _follow(
    em: KubeEmulator,
    raw: aiohttp.web.BaseRequest,
    response: aiohttp.web.StreamResponse,
    ap: ApiPath,
    container: str,
    log: ContainerLog,
    timestamps: bool,
    index: int,
    instance: int,
) -> None:
    """Stream new lines until the client leaves, the container restarts or the pod goes."""
    while not em.closing:
        if log.instance != instance:
            # the instance ended: its last lines (now "previous") still belong to this stream
            if log.instance == instance + 1 and log.previous:
                for when, line in log.previous[index:]:
                    await response.write(_format(when, line, timestamps))
            return
        changed = log.changed
        if index < len(log.current):
            for when, line in log.current[index:]:
                await response.write(_format(when, line, timestamps))
            index = len(log.current)
            continue
        await wait_event(changed, 1.0)
        if raw.transport is None or raw.transport.is_closing():
            return
        if em.store.get(PODS, ap.namespace, ap.name or "") is None:
            return
        if em.logbook.logs.get((ap.namespace or "", ap.name or "", container)) is not log:
            return


def _container_state(pod: dict[str, Any], container: str) -> dict[str, Any]:
    for cs in pod.get("status", {}).get("containerStatuses", []) or []:
        if cs.get("name") == container:
            return cs.get("state") or {}
    return {}


def restart_container(
    em: KubeEmulator,
    namespace: str,
    pod_name: str,
    container: str | None = None,
    *,
    reason: str = "Error",
    exit_code: int = 1,
    waiting: str | None = None,
) -> dict[str, Any]:
    """A container instance ends: its lines become ``previous``, restartCount+1.

    ``waiting`` (e.g. ``CrashLoopBackOff``) leaves the new instance waiting, not running.
    """
    pod = em.store.get(PODS, namespace, pod_name)
    if pod is None:
        raise KeyError(f"pod {namespace}/{pod_name}")
    name = pick_container(pod, container)
    log = em.logbook.get(namespace, pod_name, name)
    started = rfc3339(log.current[0][0]) if log.current else pod["metadata"].get("creationTimestamp")
    em.logbook.restart(namespace, pod_name, name)
    new = _deepcopy(pod)
    for cs in ensure_container_statuses(new):
        if cs["name"] != name:
            continue
        now = rfc3339(_now())
        cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
        cs["lastState"] = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": now,
                "containerID": f"containerd://{pod_name}-{name}-{cs['restartCount'] - 1}",
            }
        }
        if waiting:
            cs["state"] = {
                "waiting": {
                    "reason": waiting,
                    "message": f"back-off 5m0s restarting failed container={name} pod={pod_name}_{namespace}",
                }
            }
            cs["ready"] = cs["started"] = False
        else:
            cs["state"] = {"running": {"startedAt": now}}
    statuses = new["status"]["containerStatuses"]
    ready = all(c.get("ready") for c in statuses)
    set_condition(new, "Ready", ready)
    set_condition(new, "ContainersReady", ready)
    return em.store.replace(PODS, namespace, pod_name, new)


def _deepcopy(obj: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(obj)


async def tick(
    em: KubeEmulator,
    namespace: str,
    pod: str,
    container: str,
    make_line: Callable[[int], str | list[str]],
    interval: float,
) -> None:
    """Append ``make_line(n)`` every ``interval`` seconds while the pod exists."""
    n = 0
    while not em.closing and em.store.get(PODS, namespace, pod) is not None:
        produced = make_line(n)
        em.logbook.append(namespace, pod, container, [produced] if isinstance(produced, str) else produced)
        n += 1
        await pause(interval)
