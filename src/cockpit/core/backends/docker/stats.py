"""CPU % and memory of containers from the engine's stats stream (``docker stats``).

A container's stream (one reading a second) is opened the first time its statistics are
asked for and kept open while it runs; it ends when the container stops and is opened
again when asked for once the container runs again. Readings are computed the way the
docker CLI does: CPU % from the deltas of the container's and the system's CPU time
times the online CPUs, memory as usage minus the inactive page cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cockpit.core.backends.docker.engine import Engine, describe_error


@dataclass(frozen=True, slots=True)
class Reading:
    cpu_percent: float | None
    mem_bytes: float
    mem_percent: float | None
    at: float  #: ``time.time()``


def cpu_percent(stats: Mapping[str, Any]) -> float | None:
    """CPU % of one stats reading (100 = one whole CPU), None without a previous reading."""
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage")
    system, pre_system = cpu.get("system_cpu_usage"), pre.get("system_cpu_usage")
    if None in (total, pre_total, system, pre_system):
        return None
    cpu_delta, system_delta = total - pre_total, system - pre_system
    if system_delta <= 0 or cpu_delta < 0:
        return 0.0 if system_delta > 0 else None
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    return cpu_delta / system_delta * (cpus or 1) * 100.0


def memory(stats: Mapping[str, Any]) -> tuple[float, float | None]:
    """``(bytes used without inactive page cache, % of the limit)``."""
    mem = stats.get("memory_stats") or {}
    usage = float(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):  # cgroup v1, v2
        if key in detail and detail[key] < usage:
            usage -= detail[key]
            break
    limit = mem.get("limit")
    return usage, (usage / limit * 100.0 if limit else None)


class StatsStreams:
    """One stats stream per container that was asked about, in daemon threads."""

    def __init__(self, engine: Engine, *, stale_after: float = 10.0) -> None:
        self.engine = engine
        self.stale_after = stale_after
        self._latest: dict[str, Reading] = {}
        self._errors: dict[str, str] = {}
        self._streams: dict[str, Any] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    def peek(self, container_id: str) -> Reading | None:
        """The last fresh reading of a stream already open; never opens one."""
        with self._lock:
            reading = self._latest.get(container_id)
        if reading is None or time.time() - reading.at > self.stale_after:
            return None
        return reading

    def latest(self, container_id: str) -> Reading | None:
        """The last reading (opening the stream if it is not open); None if none yet."""
        with self._lock:
            if container_id not in self._running and not self._closed:
                self._running.add(container_id)
                threading.Thread(target=self._follow, args=(container_id,), daemon=True,
                                 name=f"cockpit-docker-stats-{container_id[:12]}").start()
            reading = self._latest.get(container_id)
        if reading is not None and time.time() - reading.at > self.stale_after:
            return None
        return reading

    def error(self, container_id: str) -> str | None:
        return self._errors.get(container_id)

    def forget(self, container_id: str) -> None:
        """Drop the readings of a container that stopped (its stream ends by itself)."""
        with self._lock:
            self._latest.pop(container_id, None)

    def _follow(self, container_id: str) -> None:
        try:
            client = self.engine.client()
            # The SDK's stats() gives no handle to close the stream: build it the same
            # way, with the response kept so close() can shut the socket.
            from docker.types import CancellableStream

            url = client._url("/containers/{0}/stats", container_id)
            response = client._get(url, params={"stream": True}, stream=True)
            client._raise_for_status(response)
            stream = CancellableStream(client._stream_helper(response, decode=True), response)
            with self._lock:
                if self._closed:
                    stream.close()
                    return
                self._streams[container_id] = stream
            self._errors.pop(container_id, None)
            for stats in stream:
                if not stats.get("read") or str(stats.get("read")).startswith("0001-"):
                    continue  # the container stopped: the engine sends an empty reading
                used, percent = memory(stats)
                reading = Reading(cpu_percent(stats), used, percent, time.time())
                with self._lock:
                    self._latest[container_id] = reading
        except Exception as exc:
            if not self._closed:
                self._errors[container_id] = describe_error(exc, self.engine.host)
        finally:
            with self._lock:
                self._streams.pop(container_id, None)
                self._running.discard(container_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            try:
                stream.close()
            except Exception:
                pass
