"""``proctree.find_tree`` finds marker carriers reading each process's environment once,
not at every poll of every process on the host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from cockpit.core.backends import proctree
from tests.support import wait_until


def _start(marker: str) -> subprocess.Popen[bytes]:
    """A process carrying ``marker``, once its environment can be read (``Popen`` returns
    within the child's exec, when its environment may still read as empty)."""
    env = {**os.environ, proctree.MARKER_VAR: marker}
    proc = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], env=env)
    wait_until(lambda: psutil.Process(proc.pid).environ().get(proctree.MARKER_VAR) == marker,
               interval=0.001, what="the child's environment")
    return proc


@pytest.mark.parametrize("seen", [{}, {"PATH": "/bin", "HOME": "/"}],
                         ids=["within-exec", "before-exec"])
def test_a_young_process_seen_without_its_marker_is_read_again(
        reads: list[int], monkeypatch: pytest.MonkeyPatch, seen: dict[str, str]) -> None:
    """Seen before its exec (its parent's environment) or within it (an empty one), a
    process is not taken as unmarked for good: the next poll reads it again and finds
    its marker."""
    proc = _start("test-proctree.young")
    try:
        real = psutil.Process.environ
        monkeypatch.setattr(psutil.Process, "environ", lambda self: dict(seen))
        assert _pids("test-proctree.") == set()
        monkeypatch.setattr(psutil.Process, "environ", real)
        assert _pids("test-proctree.") == {proc.pid}
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The pids whose environment ``find_tree`` reads."""
    seen: list[int] = []
    real = psutil.Process.environ

    def environ(self: psutil.Process) -> dict[str, str]:
        seen.append(self.pid)
        return real(self)

    monkeypatch.setattr(psutil.Process, "environ", environ)
    monkeypatch.setattr(proctree, "_markers", {})
    yield seen


def _pids(marker: str) -> set[int]:
    return {p.pid for p in proctree.find_tree(None, 0, marker, prefix=True)}


def test_each_process_environment_is_read_once(reads: list[int]) -> None:
    first = _start("test-proctree.1")
    try:
        assert _pids("test-proctree.") == {first.pid}
        assert first.pid in reads and len(reads) >= 2  # every process, the first time
        reads.clear()
        assert _pids("test-proctree.") == {first.pid}
        assert first.pid not in reads  # the next poll: read again only if new (others
        # start meanwhile on a busy machine)
        second = _start("test-proctree.2")
        try:
            assert _pids("test-proctree.") == {first.pid, second.pid}
            assert second.pid in reads and first.pid not in reads  # only the new one
        finally:
            second.kill()
            second.wait()
    finally:
        first.kill()
        first.wait()
    assert _pids("test-proctree.") == set()  # (both reaped above)
    assert all(pid not in (first.pid, second.pid) for pid, _ in proctree._markers)
