"""Commands inside a container (``docker exec``) and built-in operations on containers.

``ExecExecution`` runs an argv in a running container with the command's environment,
streams stdout and stderr line by line, and reports the exec's exit code. The exec
carries ``COCKPIT_EXEC_ID`` in its environment: cancel and timeout kill every process
of the container that carries it (what the command started too) with a second exec,
SIGTERM then SIGKILL after ``kill_grace``; an image without ``sh`` falls back to
signalling the exec's process from this host when the engine runs here.

``OperationExecution`` performs start, stop, restart, kill, pause or unpause and says
what it did and in which state the container ended; an operation cannot be cancelled
half-way (the engine finishes it).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cockpit.core.backends.base import OutputLine, Target
from cockpit.core.backends.docker.engine import Engine, EngineError, describe_error
from cockpit.core.backends.feed import ThreadFeed
from cockpit.core.backends.lines import LineSplitter
from cockpit.core.backends.threaded import KillableExecution, ThreadExecution

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Kills every process of the container whose environment holds COCKPIT_EXEC_ID=$0.
_KILL_SCRIPT = (
    'for d in /proc/[0-9]*; do '
    'if tr "\\0" "\\n" < "$d/environ" 2>/dev/null | grep -qx "COCKPIT_EXEC_ID=$0"; then '
    'kill -"$1" "${d#/proc/}" 2>/dev/null; fi; done; true'
)
#: What the engine says when the program of an exec cannot be started.
_NOT_FOUND_HINTS = ("executable file not found", "no such file or directory")


class ExecExecution(KillableExecution):
    """``argv`` run inside a container; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        target: Target,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        display: str,
        marker: str,
        timeout: float | None,
        kill_grace: float,
        user: str | None = None,
        workdir: str | None = None,
    ) -> None:
        self.exec_id: str | None = None
        super().__init__(display, timeout)
        self.engine = engine
        self.target = target
        self.argv = list(argv)
        self.env = {**env, "COCKPIT_EXEC_ID": marker}
        self.marker = marker
        self.kill_grace = kill_grace
        self.user = user
        self.workdir = workdir
        self._feed.run(self._produce, name=f"cockpit-docker-exec-{target.name}")

    def _produce(self, feed: ThreadFeed[OutputLine]) -> None:
        name = self.target.name
        try:
            client = self.engine.client()
            created = client.exec_create(
                self.target.id or name, self.argv, stdout=True, stderr=True, tty=False,
                environment=[f"{k}={v}" for k, v in self.env.items()],
                user=self.user or "", workdir=self.workdir,
            )
            self.exec_id = created["Id"]
            if self._cancelled or self._timed_out:
                self._finish(None, None)
                return
            stream = client.exec_start(self.exec_id, stream=True, demux=True)
        except Exception as exc:
            self._finish(None, _start_problem(exc, self.engine.host, name))
            return
        feed.on_close(stream.close)
        splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
        first = bytearray()
        try:
            for out, err in stream:
                for data, which in ((out, "stdout"), (err, "stderr")):
                    if not data:
                        continue
                    self._count(data)
                    if len(first) < 512:
                        first += data[:512]
                    now = time.time()
                    lines = [OutputLine(which, t, now, c) for t, c in splitters[which].feed(data)]
                    if lines:
                        feed.put(lines)
        except Exception as exc:
            if not (self._cancelled or self._timed_out or feed.closed):
                self._finish(None, f"lost the output of the exec in {name}: "
                                   f"{describe_error(exc, self.engine.host)}")
                return
        now = time.time()
        for which, splitter in splitters.items():
            feed.put([OutputLine(which, t, now, c) for t, c in splitter.flush()])  # type: ignore[arg-type]
        code = self._exit_code(client)
        text = bytes(first).decode("utf-8", "replace").lower()
        if code in (126, 127) and "exec failed" in text:  # the engine could not start it
            if any(hint in text for hint in _NOT_FOUND_HINTS):
                self._finish(127, f"command not found in container {name}: {self.argv[0]}")
            else:
                self._finish(126, f"cannot execute in container {name}: {self.argv[0]}")
            return
        self._finish(code)

    def _exit_code(self, client: Any) -> int | None:
        """The exec's exit code: the engine may take a moment to record it; and when its
        output was dropped unread (the stream closed early) the command goes on to its
        end (or its timeout), as it would locally."""
        deadline = time.monotonic() + 5.0
        pause = 0.02
        while True:
            try:
                info = client.exec_inspect(self.exec_id)
            except Exception:
                return None
            unread = self._feed.closed and not (self._cancelled or self._timed_out)
            if not info.get("Running") or (time.monotonic() > deadline and not unread):
                code = info.get("ExitCode")
                return int(code) if code is not None else None
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _kill_blocking(self) -> None:
        if self.exec_id is None:
            return  # not started: _produce sees the flag and ends
        try:
            client = self.engine.client()
        except EngineError:
            return
        for sig, grace in (("TERM", self.kill_grace), ("KILL", 5.0)):
            if not self._signal_in_container(client, sig):
                self._signal_from_host(client, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not self._running(client):
                    return
                time.sleep(0.05)

    def _running(self, client: Any) -> bool:
        try:
            return bool(client.exec_inspect(self.exec_id).get("Running"))
        except Exception:
            return False

    def _signal_in_container(self, client: Any, sig: str) -> bool:
        try:
            killer = client.exec_create(self.target.id, ["sh", "-c", _KILL_SCRIPT,
                                                         self.marker, sig])
            client.exec_start(killer["Id"])
            return client.exec_inspect(killer["Id"]).get("ExitCode") == 0
        except Exception:
            return False

    def _signal_from_host(self, client: Any, sig: str) -> None:
        try:
            pid = client.exec_inspect(self.exec_id).get("Pid")
            if pid:
                os.kill(int(pid), getattr(signal, f"SIG{sig}"))
        except (Exception, OSError):
            pass


def _start_problem(exc: BaseException, host: str, name: str) -> str:
    message = describe_error(exc, host)
    lowered = message.lower()
    if "is not running" in lowered or "is paused" in lowered:
        return f"container {name} is not running: {message}"
    return message


# --- operations -------------------------------------------------------------------------


def _state_line(info: Mapping[str, Any]) -> str:
    state = info.get("State") or {}
    status = state.get("Status", "?")
    health = (state.get("Health") or {}).get("Status")
    text = f"{str(info.get('Name', '')).lstrip('/')}: {status}"
    if status == "exited":
        text += f" (exit code {state.get('ExitCode')})"
    if health:
        text += f", health {health}"
    return text


class OperationExecution(ThreadExecution):
    """A built-in operation (start, stop, restart, kill, pause, unpause) on a container."""

    async def cancel(self) -> None:
        """The engine finishes an operation once asked: nothing to cancel."""
        return None

    def __init__(self, engine: Engine, target: Target, operation: str, *, display: str,
                 stop_timeout: float) -> None:
        super().__init__(display)
        self.engine = engine
        self.target = target
        self.operation = operation
        self.stop_timeout = stop_timeout
        self._feed.run(self._produce, name=f"cockpit-docker-{operation}-{target.name}")

    def _produce(self, _feed: ThreadFeed[OutputLine]) -> None:
        name, ref = self.target.name, self.target.id or self.target.name
        verbs = {"start": "starting", "stop": "stopping", "restart": "restarting",
                 "kill": "killing", "pause": "pausing", "unpause": "unpausing"}
        grace = round(self.stop_timeout)
        calls: dict[str, Callable[[Any], object]] = {
            "start": lambda c: c.start(ref),
            "stop": lambda c: c.stop(ref, timeout=grace),
            "restart": lambda c: c.restart(ref, timeout=grace),
            "kill": lambda c: c.kill(ref),
            "pause": lambda c: c.pause(ref),
            "unpause": lambda c: c.unpause(ref),
        }
        call = calls.get(self.operation)
        if call is None:
            self._finish(None, f"unknown operation {self.operation!r}")
            return
        self._say(f"{verbs[self.operation]} container {name} ({self.target.id[:12]})")
        try:
            client = self.engine.client()
            call(client)
        except Exception as exc:
            message = describe_error(exc, self.engine.host)
            if "refused:" not in message:
                self._finish(None, message)  # unreachable: it did not happen
                return
            self._say(message, "stderr")
            self._finish(1)
            return
        try:
            self._say(_state_line(client.inspect_container(ref)))
        except Exception as exc:
            self._say(f"{name}: {describe_error(exc, self.engine.host)}", "stderr")
        self._finish(0)
