"""Commands in a pod's container through the exec websocket (``kubectl exec``).

``PodExecution`` opens ``pods/NAME/exec`` (``v5.channel.k8s.io`` / ``v4``) in a daemon
thread, splits channel 1 (stdout) and 2 (stderr) into lines, and takes the exit code
from the status channel (3): ``Success`` is 0, ``NonZeroExitCode`` its code, another
failure (a program that cannot be started) an error. The command's environment cannot
go through the exec API: when there is one the command is wrapped by ``sh`` that
exports it (with a ``COCKPIT_EXEC_ID`` marker). Cancel and timeout close the websocket
(the API server then ends the exec stream; the test double kills the process) and,
for wrapped commands, kill every process of the container carrying the marker with a
second exec (TERM, then KILL).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cockpit.core.backends.base import OutputLine
from cockpit.core.backends.feed import ThreadFeed
from cockpit.core.backends.kubernetes import raw
from cockpit.core.backends.lines import LineSplitter
from cockpit.core.backends.threaded import KillableExecution

#: exports NAME=VALUE arguments up to "--", then runs the rest
ENV_WRAPPER = ('while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do export "$1"; shift; done; '
               'shift; exec "$@"')
#: kills every process whose environment holds COCKPIT_EXEC_ID=$0 with signal $1
KILL_SCRIPT = (
    'for d in /proc/[0-9]*; do '
    'if tr "\\0" "\\n" < "$d/environ" 2>/dev/null | grep -qx "COCKPIT_EXEC_ID=$0"; then '
    'kill -"$1" "${d#/proc/}" 2>/dev/null; fi; done; true'
)
STDOUT, STDERR, STATUS = 1, 2, 3


def wrap_env(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` run with ``env`` exported (by ``sh``); unchanged without env."""
    if not env:
        return list(argv)
    return ["sh", "-c", ENV_WRAPPER, "cockpit-exec",
            *(f"{k}={v}" for k, v in env.items()), "--", *argv]


def exit_from_status(text: str | bytes | None) -> tuple[int | None, str | None]:
    """``(exit code, error)`` from the status channel's ``metav1.Status``."""
    if not text:
        return None, "the exec ended without a status (the connection was lost)"
    try:
        status = json.loads(text)
    except ValueError:
        return None, f"unreadable exec status: {str(text)[:200]}"
    if status.get("status") == "Success":
        return 0, None
    details = status.get("details") or {}
    if status.get("reason") == "NonZeroExitCode":
        for cause in details.get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), None
                except (TypeError, ValueError):
                    break
        return None, "non-zero exit code without a code"
    message = str(status.get("message") or status.get("reason") or "exec failed")
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return 127, f"command not found: {message}"
    return None, message


def exec_url(api: Any, namespace: str, pod: str, container: str | None,
             argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The websocket URL and headers (with auth) of an exec."""
    from kubernetes.stream.ws_client import get_websocket_url

    query: list[tuple[str, str]] = [("command", arg) for arg in argv]
    query += [("stdout", "true"), ("stderr", "true"), ("stdin", "false"), ("tty", "false")]
    if container:
        query.append(("container", container))
    _method, url, headers, _body, _post = api.param_serialize(
        method="GET", resource_path=raw.pods_path(namespace, pod, "exec"),
        query_params=query, header_params={}, auth_settings=["BearerToken"])
    return get_websocket_url(url), headers


def open_exec(api: Any, namespace: str, pod: str, container: str | None,
              argv: Sequence[str]) -> Any:
    """A connected ``WSClient`` (binary) running ``argv``; raises on failure."""
    from kubernetes.stream.ws_client import WSClient

    url, headers = exec_url(api, namespace, pod, container, argv)
    return WSClient(api.configuration, url, headers, capture_all=False, binary=True)


def _close_ws(ws: Any) -> None:
    with contextlib.suppress(Exception):
        ws.sock.sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        ws.close()


class PodExecution(KillableExecution):
    """``argv`` run in ``pod``'s container; see the module docstring."""

    kill_settle = 10.0  #: after the kill, the output's end is awaited this long

    def __init__(self, api: Any, namespace: str, pod: str, container: str | None,
                 argv: Sequence[str], env: Mapping[str, str] | None = None, *,
                 display: str, marker: str, timeout: float | None = None,
                 kill_grace: float = 3.0) -> None:
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        self.marker = marker
        self.kill_grace = kill_grace
        self.wrapped = bool(env)
        self.argv = wrap_env(argv, {**(env or {}), **({"COCKPIT_EXEC_ID": marker}
                                                       if env else {})})
        self._stop = threading.Event()
        self._ws: Any = None
        self._ws_lock = threading.Lock()
        super().__init__(display, timeout)
        self._feed.run(self._produce, name=f"cockpit-k8s-exec-{pod}")

    # -- worker thread ---------------------------------------------------------------------

    def _produce(self, feed: ThreadFeed[OutputLine]) -> None:
        try:
            ws = open_exec(self.api, self.namespace, self.pod, self.container, self.argv)
        except Exception as exc:
            self._finish(None, self._start_problem(exc))
            return
        with self._ws_lock:
            self._ws = ws
        if self._stop.is_set():
            _close_ws(ws)
        splitters = {STDOUT: LineSplitter(), STDERR: LineSplitter()}
        names: dict[int, Literal["stdout", "stderr"]] = {STDOUT: "stdout", STDERR: "stderr"}
        status = bytearray()
        lost: str | None = None
        try:
            while ws.is_open() and not self._stop.is_set():
                ws.update(timeout=0.25)
                for channel in (STDOUT, STDERR):
                    data = ws.read_channel(channel)
                    if data:
                        self._count(data)
                        now = time.time()
                        lines = [OutputLine(names[channel], t, now, c)
                                 for t, c in splitters[channel].feed(data)]
                        if lines:
                            feed.put(lines)
                got = ws.read_channel(STATUS)
                if got:
                    status += got
        except Exception as exc:
            if not self._stop.is_set():
                lost = f"lost the exec stream of pod {self.pod}: {exc}"
        finally:
            with contextlib.suppress(Exception):
                status += ws.read_channel(STATUS) or b""
            _close_ws(ws)
        now = time.time()
        for channel, splitter in splitters.items():
            feed.put([OutputLine(names[channel], t, now, c) for t, c in splitter.flush()])
        if self._cancelled or self._timed_out:
            self._finish(None)
            return
        code, error = exit_from_status(bytes(status))
        self._finish(code, lost if code is None and lost else error)

    def _start_problem(self, exc: BaseException) -> str:
        text = str(getattr(exc, "reason", "") or exc)
        if "403" in text:
            return "forbidden by the cluster (RBAC): create pods/exec"
        if "404" in text:
            return f"no such pod: {self.pod}"
        return f"cannot exec in pod {self.pod}: {text}"

    # -- stopping (KillableExecution runs it once, in a thread) ---------------------------

    def _kill_blocking(self) -> None:
        self._stop.set()
        with self._ws_lock:
            ws = self._ws
        if ws is not None:
            _close_ws(ws)  # the exec stream ends (the double kills the process with it)
        if self.wrapped:  # and what the command started, by its marker
            for sig in ("TERM", "KILL"):
                self._signal(sig)

    def _signal(self, sig: str) -> None:
        """Signal the processes carrying the marker, through a second exec."""
        try:
            killer = open_exec(self.api, self.namespace, self.pod, self.container,
                               ["sh", "-c", KILL_SCRIPT, self.marker, sig])
        except Exception:
            return
        try:
            killer.run_forever(timeout=5.0)
        except Exception:
            pass
        finally:
            _close_ws(killer)
