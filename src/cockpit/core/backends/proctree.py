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

import psutil

#: Environment variable set to a unique value in every command the local backend starts.
MARKER_VAR = "COCKPIT_EXEC_ID"


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
    for proc in psutil.process_iter():
        if proc.pid in found or proc.pid == me:
            continue
        try:
            if pgid > 0 and os.getpgid(proc.pid) == pgid:
                found[proc.pid] = proc
                continue
            if marker is not None:
                value = proc.environ().get(MARKER_VAR)
                if value is not None and (
                    value.startswith(marker) if prefix else value == marker
                ):
                    found[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    return [proc for proc in found.values() if is_alive(proc)]


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
