"""Runs left behind by a cockpit killed with SIGKILL: find them, stop them, record it.

While an action runs, a small runtime file ``<trail>.running/<trace_id>.json`` says who
runs it (the cockpit's pid and start time) and, once started, what to kill (the action's
pid, which leads its own process group, its start time and the backend's marker). It is
written before the ``started`` record and removed after the outcome record.

At the next start (``ActionRunner`` creation) a runtime file whose cockpit is gone is an
abandoned run: if the action's process is still the same one (pid *and* start time, so a
reused pid is never killed) its tree is killed (SIGTERM, then SIGKILL after a grace);
processes of a gone leader are found only by their marker. Then an ``abandoned`` outcome
is appended for the ``started`` record, saying what was done.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import orjson

#: Fields copied from the ``started`` record into the ``abandoned`` one.
_KEEP = ("operator", "profile", "backend", "target", "action", "danger", "source", "params",
         "command", "trace_id", "decision", "reason_codes")
_GRACE = 2.0


def runtime_dir(trail: Path) -> Path:
    return trail.with_name(trail.name + ".running")


def _start_time(pid: int) -> float | None:
    """The process's start time (``/proc`` via psutil), or None if there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _same_process(pid: Any, started: Any) -> bool:
    return isinstance(pid, int) and pid > 0 and started is not None and (
        _start_time(pid) == started)


class RunRegistry:
    """The runtime files of one trail's runs."""

    def __init__(self, trail_path: Path) -> None:
        self.dir = runtime_dir(trail_path)
        self._me: tuple[int, float | None] | None = None

    def _owner(self) -> tuple[int, float | None]:
        if self._me is None:
            self._me = (os.getpid(), _start_time(os.getpid()))
        return self._me

    def _path(self, trace_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in trace_id)[:120]
        return self.dir / f"{safe}.json"

    def _write(self, trace_id: str, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(trace_id)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, orjson.dumps(data))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def begin(self, trace_id: str) -> None:
        """Before the ``started`` record: this cockpit is about to run ``trace_id``."""
        pid, started = self._owner()
        self._write(trace_id, {"trace_id": trace_id, "owner_pid": pid,
                               "owner_start": started})

    def attach(self, trace_id: str, pid: int | None, marker: str | None) -> None:
        """Once the action runs: what to kill if this cockpit dies."""
        owner, started = self._owner()
        self._write(trace_id, {"trace_id": trace_id, "owner_pid": owner,
                               "owner_start": started, "pid": pid, "pgid": pid,
                               "start": _start_time(pid) if pid else None, "marker": marker})

    def end(self, trace_id: str) -> None:
        """After the outcome record."""
        with contextlib.suppress(FileNotFoundError):
            self._path(trace_id).unlink()

    def orphans(self) -> list[tuple[Path, dict[str, Any]]]:
        """Runtime files whose cockpit is gone."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                data = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if not isinstance(data, dict):
                continue
            if _same_process(data.get("owner_pid"), data.get("owner_start")):
                continue  # its cockpit still runs
            found.append((path, data))
        return found


def stop_tree(data: dict[str, Any], grace: float = _GRACE) -> tuple[str, list[int]]:
    """Kill what is left of an abandoned run; ``(what happened, pids signalled)``."""
    import signal

    import psutil

    from cockpit.core.backends.proctree import any_alive, find_tree, signal_tree

    pid, marker = data.get("pid"), data.get("marker")
    if not isinstance(pid, int) or pid <= 0:
        return "no process was recorded for it (not started, or not a local process)", []
    main = None
    if _same_process(pid, data.get("start")):
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(pid)
    # The group is trusted only while its leader is the recorded process.
    pgid = pid if main is not None else 0
    procs = find_tree(main, pgid, marker if isinstance(marker, str) and marker else None)
    if not procs:
        return "its process tree was already gone", []
    pids = sorted(p.pid for p in procs)
    signal_tree(pgid, procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any_alive(procs) and time.monotonic() < deadline:
        psutil.wait_procs(procs, timeout=0.05)
    if any_alive(procs):
        signal_tree(pgid, procs, signal.SIGKILL)
        psutil.wait_procs(procs, timeout=grace)
    return f"its process tree was still running and was killed ({len(pids)} processes)", pids


def resolve_abandoned(trail: Any) -> list[dict[str, Any]]:
    """Append an ``abandoned`` outcome for each run whose cockpit died; kill its tree.

    ``trail`` is an ``AuditTrail``. Returns the records appended. A runtime file stays if
    its record cannot be written (``AuditSinkError`` propagates), to be resolved later.
    """
    registry = RunRegistry(trail.path)
    orphans = registry.orphans()
    if not orphans:
        return []
    wanted = {str(data.get("trace_id")) for _, data in orphans}
    started: dict[str, dict[str, Any]] = {}
    finished: set[str] = set()
    for rec in trail.records():
        trace = rec.get("trace_id")
        if trace in wanted:
            if rec.get("status") == "started":
                started[trace] = rec
            else:
                finished.add(trace)
    appended = []
    for path, data in orphans:
        trace = str(data.get("trace_id"))
        what, pids = stop_tree(data)
        if trace in started and trace not in finished:
            record = {k: started[trace][k] for k in _KEEP if k in started[trace]}
            record.update({
                "status": "abandoned", "exit_code": None, "killed_pids": pids,
                "message": f"the cockpit (pid {data.get('owner_pid')}) died during the run; "
                           f"at the next start {what}",
                "started_seq": started[trace].get("seq"),
            })
            appended.append(trail.append(record))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return appended
