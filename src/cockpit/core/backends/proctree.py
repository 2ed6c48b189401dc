"""Find and signal every process that belongs to one local command (blocking; use threads).

A command's processes are found three ways, so that none escapes a kill:

- the descendants of its main process (``psutil`` children, recursive);
- the members of its process group (the main process leads its own session/group);
- every process whose environment carries the command's marker variable
  (``COCKPIT_EXEC_ID``), which catches grandchildren that called ``setsid`` and were
  re-parented to init after their parent exited. A process that clears its environment
  and leaves the group after its parent died is the only kind not found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from cockpit.core.lazy import LazyModule

TYPE_CHECKING = False
if TYPE_CHECKING:
    import psutil
else:  # ~8 ms: imported by the first process tree looked at, not at start-up
    psutil = LazyModule("psutil", globals())

#: Environment variable set to a unique value in every command the local backend starts.
MARKER_VAR = "COCKPIT_EXEC_ID"

#: Each process's marker (None: none) as read from its environment, by (pid, start time):
#: a process's environment is read once it has settled, not at every poll of every
#: process on the host. A process started with the marker shows its parent's
#: environment until its ``exec``: one without it is read again while it is young. One
#: that drops the marker by a later ``exec`` is still taken as marked, which it was.
_markers: dict[tuple[int, float], str | None] = {}
#: Seconds after its start from which a process's environment without the marker is final.
STEADY_AFTER = 10.0


def find_tree(
    main: psutil.Process | None, pgid: int, marker: str | None = None, *, prefix: bool = False
) -> list[psutil.Process]:
    """Live processes of one command: ``main``'s tree, group ``pgid``, ``marker`` carriers.

    ``main`` was captured when the command started, so a reused pid is never mistaken
    for it. ``pgid <= 0`` skips the group; ``prefix`` makes the marker match any value
    starting with it (every command of one backend).
    """
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    if main is not None and main.is_running():  # a zombie main still has its children
        found[main.pid] = main
        with contextlib.suppress(psutil.Error):
            for child in main.children(recursive=True):
                found[child.pid] = child
    markers: dict[tuple[int, float], str | None] = {}
    for proc in psutil.process_iter():
        if proc.pid in found or proc.pid == me:
            continue
        try:
            if pgid > 0 and os.getpgid(proc.pid) == pgid:
                found[proc.pid] = proc
                continue
            if marker is not None:
                value = _marker_of(proc, markers)
                if value is not None and (
                    value.startswith(marker) if prefix else value == marker
                ):
                    found[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    if marker is not None:
        global _markers
        _markers = markers  # (the processes that are gone are forgotten)
    return [proc for proc in found.values() if is_alive(proc)]


def _marker_of(proc: psutil.Process, seen: dict[tuple[int, float], str | None]
               ) -> str | None:
    """``proc``'s marker, read from its environment the first time only; kept in
    ``seen``. A process whose environment cannot be read has none."""
    key = (proc.pid, proc.create_time())
    if key in _markers:
        value = _markers[key]
        seen[key] = value
        return value
    try:
        environ = proc.environ()
    except psutil.AccessDenied:  # (another user's process: not one of ours)
        seen[key] = None
        return None
    except psutil.Error:
        environ = {}  # (psutil says "gone" for an empty environment: a kernel thread)
    value = environ.get(MARKER_VAR)
    # a young process without the marker may be one of ours seen before its exec (its
    # parent's environment, or an empty one within the exec): read again at the next
    # poll, until it is old
    if value is not None or key[1] < time.time() - STEADY_AFTER:
        seen[key] = value
    return value


def is_alive(proc: psutil.Process) -> bool:
    """True while ``proc`` runs (a zombie counts as dead; the same pid reused does too)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def any_alive(procs: list[psutil.Process]) -> bool:
    """True if one of ``procs`` still runs."""
    return any(is_alive(proc) for proc in procs)


def signal_tree(pgid: int, procs: list[psutil.Process], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pgid`` and to each of ``procs`` still alive.

    ``pgid <= 0`` (unknown) and this process's own group are never signalled as a group:
    ``killpg(0)`` is the caller's own group.
    """
    if pgid > 0 and pgid != os.getpgrp():
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            if is_alive(proc):
                proc.send_signal(sig)  # psutil refuses if the pid now names another process
