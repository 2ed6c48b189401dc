"""The profile's containers, kept current from the engine's event stream (not by polling).

A daemon thread subscribes to the engine's container events, lists and inspects the
selected containers once, then re-inspects a container only when an event names it. If
the engine goes away the thread records why (``error``) and reconnects with backoff,
listing everything again once it is back.

A profile selects containers by ``containers: [names]`` (a name that does not exist is
reported as a target in state ``missing``), by Compose project (``project``, optionally
one ``service``), or, with neither, every container of the engine.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.core.backends.docker.engine import (
    Engine,
    EngineError,
    NoSuchContainer,
    close_quietly,
    describe_error,
    is_not_found,
)
from cockpit.core.backends.targets import Health, Target, TargetEvent
from cockpit.core.backends.targets import missing_target as generic_missing

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
#: Events kept per container for the Targets pane's detail.
EVENTS_KEPT = 20
#: How far back the first event stream replays the engine's events (seconds).
EVENTS_BEFORE_START = 300
#: Event actions after which a container is inspected again.
_RELEVANT = frozenset({
    "create", "start", "restart", "die", "stop", "kill", "pause", "unpause", "destroy",
    "rename", "update", "oom", "attach",
})


@dataclass(frozen=True)
class Selection:
    """Which containers are the profile's targets."""

    names: tuple[str, ...] = ()
    project: str | None = None
    service: str | None = None

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.names:
            return name in self.names
        if self.project is not None:
            if labels.get(PROJECT_LABEL) != self.project:
                return False
            return self.service is None or labels.get(SERVICE_LABEL) == self.service
        return True

    def describe(self) -> str:
        if self.names:
            return ", ".join(self.names)
        if self.project is not None:
            return f"project {self.project}" + (f" service {self.service}" if self.service else "")
        return "every container"


def parse_time(text: object) -> float | None:
    """Epoch seconds of an engine timestamp (``2024-01-02T03:04:05.123456789Z``)."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    head, dot, rest = text.partition(".")
    if dot:  # fromisoformat takes at most 6 digits of a second
        cut = next((i for i, ch in enumerate(rest) if not ch.isdigit()), len(rest))
        text = f"{head}.{rest[:cut][:6] or '0'}{rest[cut:] or 'Z'}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def to_target(info: Mapping[str, Any]) -> Target:
    """A ``Target`` from ``docker inspect`` output, its health computed."""
    state: Mapping[str, Any] = info.get("State") or {}
    config: Mapping[str, Any] = info.get("Config") or {}
    labels: Mapping[str, str] = config.get("Labels") or {}
    health: Mapping[str, Any] = state.get("Health") or {}
    log = health.get("Log") or []
    last = log[-1] if log else {}
    status = str(state.get("Status") or "unknown")
    details = {
        "image": config.get("Image") or info.get("Image", ""),
        "health": health.get("Status") or None,
        "health_output": " ".join(str(last.get("Output") or "").split())[:300],
        "health_failing_streak": health.get("FailingStreak", 0),
        "started_at": parse_time(state.get("StartedAt")),
        "finished_at": parse_time(state.get("FinishedAt")),
        "exit_code": state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
        "error": state.get("Error") or "",
        "restart_count": int(info.get("RestartCount") or 0),
        "project": labels.get(PROJECT_LABEL),
        "service": labels.get(SERVICE_LABEL),
        "tty": bool(config.get("Tty")),
        "pid": state.get("Pid") or None,
    }
    service = labels.get(SERVICE_LABEL)
    return Target(
        id=str(info.get("Id", "")),
        name=str(info.get("Name", "")).lstrip("/"),
        kind="container",
        state=status,
        details=details,
        scope=labels.get(PROJECT_LABEL) or "",
        restarts=details["restart_count"],
        started_at=details["started_at"] if status in ("running", "paused") else None,
        finished_at=details["finished_at"] if status in ("exited", "dead") else None,
        health=container_health(status, details),
        image=str(details["image"] or ""),
        command=" ".join(str(part) for part in [info.get("Path") or "",
                                               *(info.get("Args") or [])] if part),
        aliases=(service,) if service else (),
    )


def container_health(status: str, details: Mapping[str, Any]) -> Health:
    """Running and (with a healthcheck) healthy is ok; a check still starting is unknown;
    paused, exited, dead, unhealthy fail, with the reason (exit code, OOM, check output)."""
    health = details.get("health")
    if status == "running":
        if health in (None, "", "none", "healthy"):
            return Health("ok", "running" + (" · healthy" if health == "healthy" else ""))
        if health == "starting":
            return Health("unknown", "health check starting")
        output = details.get("health_output") or ""
        return Health("fail", f"{health}" + (f": {output}" if output else ""))
    text = status
    if status in ("exited", "dead"):
        text += f" (exit code {details.get('exit_code')})"
        if details.get("oom_killed"):
            text += " OOM-killed"
        if details.get("error"):
            text += f": {details['error']}"
    return Health("fail", text)


def missing_target(name: str) -> Target:
    return generic_missing(name, "container")


@dataclass
class _State:
    by_id: dict[str, Target] = field(default_factory=dict)
    synced: bool = False
    error: str | None = None
    version: int = 0
    #: recent events of each container, newest last
    events: dict[str, deque[TargetEvent]] = field(default_factory=dict)


class TargetWatch:
    """The selected containers, refreshed from the event stream by a daemon thread."""

    def __init__(self, engine: Engine, selection: Selection, *, backoff_max: float = 5.0,
                 resync_interval: float = 60.0) -> None:
        self.engine = engine
        self.selection = selection
        self.backoff_max = backoff_max
        #: a full listing this often, and 1, 3 and 10 s after each (re)connection: an
        #: engine that just restarted answers before it has restored its containers.
        self.resync_interval = resync_interval
        self._epoch = 0  #: connections made
        #: the first event stream replays the engine's events from this time: what
        #: happened to the containers in the minutes before the cockpit started
        self._since = int(time.time() - EVENTS_BEFORE_START)
        self._state = _State()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Any = None

    # -- reading ----------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._main, name="cockpit-docker-events", daemon=True
                )
                self._thread.start()
                threading.Thread(target=self._resync_main, name="cockpit-docker-resync",
                                 daemon=True).start()

    @property
    def version(self) -> int:
        """Grows whenever the targets (or the engine's reachability) change."""
        return self._state.version

    def snapshot(self, wait: float = 0.0) -> list[Target]:
        """The targets (configured names that do not exist as ``missing``), sorted by name.

        Waits up to ``wait`` seconds for the first listing; raises ``EngineError`` when the
        engine cannot be reached (or has not answered yet).
        """
        self.start()
        deadline = time.monotonic() + wait
        with self._cond:
            while not self._state.synced and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            state = self._state
            if state.error is not None:
                raise EngineError(state.error)
            if not state.synced:
                raise EngineError(
                    f"the docker engine at {self.engine.host} has not answered yet"
                )
            targets = sorted(state.by_id.values(), key=lambda t: t.name)
        names = {t.name for t in targets}
        missing = [missing_target(n) for n in self.selection.names if n not in names]
        if self.selection.names:
            order = {name: i for i, name in enumerate(self.selection.names)}
            return sorted(targets + missing, key=lambda t: order.get(t.name, len(order)))
        return targets

    def wait_changed(self, version: int, timeout: float) -> int:
        """Block until ``version`` changes or ``timeout`` passes; the current version."""
        with self._cond:
            if self._state.version == version:
                self._cond.wait(timeout)
            return self._state.version

    def resolve(self, ref: str, wait: float = 0.0) -> Target:
        """The target named ``ref`` (name, Compose service or id prefix); ``NoSuchContainer``
        when it is not one of the profile's targets."""
        targets = self.snapshot(wait)
        for match in (
            lambda t: t.name == ref,
            lambda t: ref in t.aliases,
            lambda t: len(ref) >= 4 and t.id.startswith(ref),
        ):
            found = [t for t in targets if match(t)]
            if found:
                target = found[0]
                if target.state == "missing":
                    raise NoSuchContainer(f"no such container: {ref}")
                return target
        raise NoSuchContainer(
            f"no such container among this profile's targets ({self.selection.describe()}): {ref}"
        )

    def events_of(self, target_id: str, limit: int) -> list[TargetEvent]:
        """The container's recent events (from a few minutes before the cockpit started),
        newest last."""
        with self._cond:
            kept = list(self._state.events.get(target_id, ()))
        return kept[-limit:]

    def close(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        close_quietly(stream)
        with self._cond:
            self._cond.notify_all()

    # -- the thread -------------------------------------------------------------------------

    def _main(self) -> None:
        delay = 0.25
        while not self._stop.is_set():
            try:
                client = self.engine.client()
                since, self._since = self._since, None  # later streams: from now on
                stream = client.events(decode=True, filters={"type": "container"},
                                       since=since)
                self._stream = stream
                if self._stop.is_set():
                    stream.close()
                    return
                self._full_sync(client)
                self._epoch += 1
                delay = 0.25
                for event in stream:
                    if self._stop.is_set():
                        return
                    self._on_event(client, event)
                if self._stop.is_set():
                    return
                raise EngineError(
                    f"lost the connection to the docker engine at {self.engine.host}"
                )
            except Exception as exc:
                if self._stop.is_set():
                    return
                self._set_error(describe_error(exc, self.engine.host))
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)
            finally:
                stream, self._stream = self._stream, None
                close_quietly(stream)

    def _resync_main(self) -> None:
        epoch = 0
        soon: list[float] = []
        next_at = time.monotonic() + self.resync_interval
        while not self._stop.wait(0.25):
            if self._epoch != epoch:
                epoch = self._epoch
                now = time.monotonic()
                soon = [now + 1.0, now + 3.0, now + 10.0]
                next_at = soon.pop(0)
            if time.monotonic() < next_at:
                continue
            next_at = soon.pop(0) if soon else time.monotonic() + self.resync_interval
            if self._state.error is None:
                try:
                    self._full_sync(self.engine.client())
                except Exception:
                    pass  # the event thread notices and reports an engine that went away

    def _set_error(self, message: str) -> None:
        with self._cond:
            changed = self._state.error != message or not self._state.synced
            self._state.error = message
            self._state.synced = True
            if changed:
                self._state.version += 1
            self._cond.notify_all()

    def _full_sync(self, client: Any) -> None:
        found: dict[str, Target] = {}
        for summary in client.containers(all=True):
            names = [str(n).lstrip("/") for n in summary.get("Names") or []]
            name = next((n for n in names if "/" not in n), names[0] if names else "")
            if not self.selection.matches(name, summary.get("Labels") or {}):
                continue
            try:
                target = to_target(client.inspect_container(summary["Id"]))
            except Exception as exc:
                if is_not_found(exc):
                    continue  # removed meanwhile
                raise
            found[target.id] = target
        with self._cond:
            self._state.by_id = found
            self._state.error = None
            self._state.synced = True
            self._state.version += 1
            self._cond.notify_all()

    def _on_event(self, client: Any, event: Mapping[str, Any]) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        if action not in _RELEVANT and not action.startswith("health_status"):
            return
        actor = event.get("Actor") or {}
        cid = str(actor.get("ID") or event.get("id") or "")
        attrs: Mapping[str, str] = actor.get("Attributes") or {}
        name = str(attrs.get("name") or "")
        known = cid in self._state.by_id
        if not known and not self.selection.matches(name, attrs):
            return
        target: Target | None = None
        if action != "destroy":
            try:
                target = to_target(client.inspect_container(cid))
            except Exception as exc:
                if not is_not_found(exc):
                    raise
        ts = event.get("timeNano")
        when = ts / 1e9 if isinstance(ts, int | float) else float(event.get("time") or time.time())
        shown = action.replace("health_status: ", "health ")
        note = TargetEvent(when, cid, name or (target.name if target else cid[:12]), shown,
                           _event_text(action, attrs))
        with self._cond:
            self._state.events.setdefault(cid, deque(maxlen=EVENTS_KEPT)).append(note)
            if len(self._state.events) > 4 * EVENTS_KEPT:  # forget removed containers
                for old in [k for k in self._state.events if k not in self._state.by_id][:8]:
                    self._state.events.pop(old, None)
            if target is None or not self._belongs(target):
                self._state.by_id.pop(cid, None)  # removed, or renamed/relabelled away
            else:
                self._state.by_id[cid] = target
            self._state.version += 1
            self._cond.notify_all()

    def _belongs(self, target: Target) -> bool:
        labels = {
            label: str(target.details.get(key) or "")
            for label, key in ((PROJECT_LABEL, "project"), (SERVICE_LABEL, "service"))
        }
        return self.selection.matches(target.name, labels)


def _event_text(action: str, attrs: Mapping[str, str]) -> str:
    """A sentence for an event: exit codes, signals, images."""
    if action == "die":
        return f"exited with code {attrs.get('exitCode', '?')}"
    if action == "kill":
        return f"signal {attrs.get('signal', '?')}"
    if action == "oom":
        return "out of memory"
    if action.startswith("health_status"):
        return action.partition(":")[2].strip()
    if action in ("create", "start") and attrs.get("image"):
        return f"image {attrs['image']}"
    return ""
