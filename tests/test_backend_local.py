"""LocalBackend against real processes: no mocks, no sleeping, deadlines everywhere."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from cockpit.core.backends.base import (
    MAX_LINE_CHARS,
    Capability,
    CommandSpec,
    Execution,
    OutputLine,
)
from cockpit.core.backends.local import LocalBackend
from cockpit.core.backends.process import LocalExecution
from cockpit.core.backends.registry import create_backend
from cockpit.core.errors import CockpitError
from tests.support import async_wait_until

PY = sys.executable


def _gone(procs: list[psutil.Process]) -> bool:
    """True when none of ``procs`` runs any more (a zombie counts as gone)."""
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def _capture(pids: list[int]) -> list[psutil.Process]:
    """psutil handles for ``pids`` (identity-safe against pid reuse); all must be running."""
    procs = [psutil.Process(pid) for pid in pids]
    assert not any(p.status() == psutil.STATUS_ZOMBIE for p in procs)
    return procs


async def _write_fifo(path: Path, text: str, timeout: float = 10.0) -> None:
    """Write ``text`` into a FIFO once its reader has opened it (deadline-bound).

    The child opens the FIFO read-write once (``exec 3<>FIFO``), so closing our end
    never shows it an EOF between two messages.
    """

    def try_open() -> int | None:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no reader yet
                return None
            raise

    fd = await async_wait_until(try_open, timeout=timeout, what=f"a reader on {path}")
    assert isinstance(fd, int)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _texts(lines: list[OutputLine], stream: str | None = None) -> list[str]:
    return [line.text for line in lines if stream is None or line.stream == stream]


@pytest.fixture
async def backend() -> AsyncIterator[LocalBackend]:
    """A backend whose commands are all cancelled (trees killed) when the test ends."""
    local = LocalBackend({"kill_grace": 0.5})
    started: list[Execution] = []
    start = local.start

    async def tracked_start(spec: CommandSpec) -> LocalExecution:
        execution = await start(spec)
        started.append(execution)
        return execution

    local.start = tracked_start  # type: ignore[method-assign]
    yield local
    for execution in started:
        await execution.cancel()


# -- basics ------------------------------------------------------------------------------


def test_registry_describe_and_capabilities() -> None:
    backend = create_backend("local")
    assert isinstance(backend, LocalBackend)
    assert backend.kind == "local"
    assert backend.describe().startswith("local (")
    for cap in (Capability.RUN, Capability.SCRIPT, Capability.CANCEL, Capability.TARGETS,
                Capability.LOGS):
        assert cap in backend.capabilities
    assert Capability.EXEC_IN_TARGET not in backend.capabilities


def test_bad_options_raise_cockpit_error() -> None:
    with pytest.raises(CockpitError):
        LocalBackend({"processes": ["("]})
    with pytest.raises(CockpitError):
        LocalBackend({"kill_grace": "soon"})
    with pytest.raises(CockpitError):
        LocalBackend({"env": ["A=1"]})


async def test_argv_special_characters_are_literal(backend: LocalBackend, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    args = [
        f"x; touch {pwned}",
        f"$(touch {pwned})",
        f"`touch {pwned}`",
        "a  b\ttab",
        "'single' \"double\" \\ * ? ~ | & > <",
        "ünïcødé",
    ]
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result, lines = await backend.run(CommandSpec(argv=[PY, "-c", code, *args]))
    assert result.exit_code == 0 and result.error is None
    assert json.loads(lines[0].text) == args
    assert not pwned.exists()


async def test_script_has_errexit_pipefail_nounset(backend: LocalBackend) -> None:
    result, lines = await backend.run(
        CommandSpec(script="echo start\nfalse | cat\necho never\n")
    )
    assert result.exit_code == 1
    assert _texts(lines) == ["start"]

    result, lines = await backend.run(CommandSpec(script="echo a; (exit 7); echo b"))
    assert result.exit_code == 7
    assert _texts(lines) == ["a"]

    result, lines = await backend.run(CommandSpec(script='echo "$COCKPIT_SURELY_UNSET_VAR"'))
    assert result.exit_code != 0
    assert any("unbound variable" in text for text in _texts(lines, "stderr"))


async def test_env_and_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCKPIT_T_INHERITED", "from-os")
    backend = LocalBackend({"env": {"COCKPIT_T_A": "from-backend", "COCKPIT_T_B": "backend"}})
    spec = CommandSpec(
        script='echo "$COCKPIT_T_INHERITED $COCKPIT_T_A $COCKPIT_T_B"; pwd; cat <&0 | wc -c',
        env={"COCKPIT_T_B": "from-spec"},
        cwd=str(tmp_path),
    )
    result, lines = await backend.run(spec)
    assert result.exit_code == 0
    assert _texts(lines) == [
        "from-os from-backend from-spec",
        str(tmp_path.resolve()),
        "0",  # stdin is /dev/null
    ]


async def test_final_partial_line_utf8_and_replacement(backend: LocalBackend) -> None:
    code = (
        "import sys; out = sys.stdout.buffer\n"
        "out.write('héllo wörld\\n'.encode()); out.write(b'bad \\xff byte\\n')\n"
        "out.write(b'\\n'); out.write(b'no newline at end')"
    )
    result, lines = await backend.run(CommandSpec(argv=[PY, "-c", code]))
    assert result.exit_code == 0
    assert _texts(lines) == ["héllo wörld", "bad \ufffd byte", "", "no newline at end"]
    raw = "héllo wörld\n".encode() + b"bad \xff byte\n\nno newline at end"
    assert result.output_bytes == len(raw)
    assert result.output_sha256 == hashlib.sha256(raw).hexdigest()


# -- streaming ---------------------------------------------------------------------------


async def test_lines_stream_before_exit_and_interleave(
    backend: LocalBackend, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = (
        'exec 3<>"$FIFO"\n'  # read-write: never EOF, even between two writers
        "echo ready\n"
        "read -r word <&3\n"
        'echo "got $word" >&2\n'
        "read -r word <&3\n"
        'echo "done $word"\n'
    )
    execution = await backend.start(CommandSpec(script=script, env={"FIFO": str(fifo)}))
    waiter = asyncio.create_task(execution.wait())
    seen: list[OutputLine] = []
    async with asyncio.timeout(30):
        async for line in execution.lines():
            seen.append(line)
            if line.text == "ready":
                # The child is blocked on the FIFO: the line came before the exit.
                assert not waiter.done()
                assert psutil.Process(execution.pid).status() != psutil.STATUS_ZOMBIE
                await _write_fifo(fifo, "one\n")
            elif line.text == "got one":
                assert not waiter.done()
                await _write_fifo(fifo, "two\n")
        result = await waiter
    assert result.exit_code == 0
    assert [(line.stream, line.text) for line in seen] == [
        ("stdout", "ready"),
        ("stderr", "got one"),
        ("stdout", "done two"),
    ]
    stamps = [line.ts for line in seen]
    assert stamps == sorted(stamps)


async def test_many_lines_keep_order_per_stream(backend: LocalBackend) -> None:
    script = 'for i in $(seq 1 2000); do echo "out $i"; echo "err $i" >&2; done'
    result, lines = await backend.run(CommandSpec(script=script))
    assert result.exit_code == 0
    assert _texts(lines, "stdout") == [f"out {i}" for i in range(1, 2001)]
    assert _texts(lines, "stderr") == [f"err {i}" for i in range(1, 2001)]
    stamps = [line.ts for line in lines]
    assert stamps == sorted(stamps)


# -- failures to start ---------------------------------------------------------------------


async def test_command_that_cannot_start(backend: LocalBackend, tmp_path: Path) -> None:
    result, lines = await backend.run(CommandSpec(argv=["cockpit-no-such-command-xyz"]))
    assert result.exit_code == 127 and lines == []
    assert "command not found" in (result.error or "")
    assert result.output_bytes == 0 and result.output_sha256 == hashlib.sha256(b"").hexdigest()

    not_exec = tmp_path / "script.sh"
    not_exec.write_text("#!/bin/sh\necho hi\n")
    result, _ = await backend.run(CommandSpec(argv=[str(not_exec)]))
    assert result.exit_code == 126
    assert "permission denied" in (result.error or "")

    result, _ = await backend.run(CommandSpec(argv=["true"], cwd=str(tmp_path / "missing")))
    assert result.exit_code == 127
    assert "working directory" in (result.error or "")


async def test_exit_by_signal_is_128_plus_signal(backend: LocalBackend) -> None:
    result, _ = await backend.run(CommandSpec(argv=[PY, "-c", "import os; os.abort()"]))
    assert result.exit_code == 128 + 6  # SIGABRT
    assert not result.timed_out and not result.cancelled


# -- killing trees -------------------------------------------------------------------------


async def _collect_pids(iterator: AsyncIterator[OutputLine], into: list[OutputLine],
                        count: int) -> dict[str, int]:
    """Read lines until ``count`` "NAME PID" lines were seen; return them by name."""
    async with asyncio.timeout(30):
        async for line in iterator:
            into.append(line)
            if len(_pids(into)) == count:
                return _pids(into)
    raise AssertionError(f"output ended before {count} pids: {into}")


def _pids(lines: list[OutputLine]) -> dict[str, int]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"(\w+) (\d+)", line.text)
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


async def test_timeout_kills_the_whole_tree(backend: LocalBackend) -> None:
    script = (
        'sleep 300 &\necho "child $!"\n'
        "bash -c 'sleep 300 & echo \"grand $!\"; wait' &\n"
        "sleep 300\n"
    )
    execution = await backend.start(CommandSpec(script=script, timeout=1.0))
    lines: list[OutputLine] = []
    iterator = execution.lines()
    pids = await _collect_pids(iterator, lines, 2)
    procs = _capture([execution.pid or 0, *pids.values()])
    async with asyncio.timeout(30):
        lines.extend([line async for line in iterator])
        result = await execution.wait()
    assert result.timed_out and not result.cancelled
    assert result.exit_code in (128 + 15, 128 + 9)
    assert 1.0 <= result.duration < 15
    await async_wait_until(lambda: _gone(procs), timeout=10, what="tree to be gone")


async def test_cancel_kills_tree_including_setsid_orphans(backend: LocalBackend) -> None:
    # each line in one write: with PYTHONUNBUFFERED print() writes its pieces apart, and
    # the two children's lines could interleave ("stubborn" / "orphan N" / " M")
    stubborn = (
        "import os, signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "os.write(1, b'stubborn %d\\n' % os.getpid()); signal.pause()"
    )
    orphan = (
        "import os, subprocess; p = subprocess.Popen(['sleep', '300'], start_new_session=True); "
        "os.write(1, b'orphan %d\\n' % p.pid)"
    )
    script = (
        'sleep 300 &\necho "bg $!"\n'
        'setsid sleep 300 &\necho "sid $!"\n'
        '"$PY" -c "$STUBBORN" &\n'
        '"$PY" -c "$ORPHAN"\n'  # exits at once: its setsid child is re-parented to init
        "wait\n"
    )
    env = {"PY": PY, "STUBBORN": stubborn, "ORPHAN": orphan}
    execution = await backend.start(CommandSpec(script=script, env=env))
    lines: list[OutputLine] = []
    iterator = execution.lines()
    pids = await _collect_pids(iterator, lines, 4)
    procs = _capture([execution.pid or 0, *pids.values()])
    # The orphan really escaped: another session, not a descendant of the command.
    assert os.getsid(pids["orphan"]) != execution.pid
    await async_wait_until(
        lambda: pids["orphan"] not in {p.pid for p in procs[0].children(recursive=True)},
        what="the orphan to be re-parented",
    )

    await execution.cancel()
    await execution.cancel()  # idempotent
    assert _gone(procs), "cancel() returns once the tree is dead"
    async with asyncio.timeout(30):
        lines.extend([line async for line in iterator])
        result = await execution.wait()
    assert result.cancelled and not result.timed_out
    assert result.exit_code in (128 + 15, 128 + 9)


async def test_leftover_pipe_holder_does_not_hang_wait() -> None:
    backend = LocalBackend({"eof_grace": "300ms"})
    execution = await backend.start(CommandSpec(script='sleep 300 &\necho "holder $!"'))
    async with asyncio.timeout(30):
        lines = [line async for line in execution.lines()]
        result = await execution.wait()
    holder = psutil.Process(_pids(lines)["holder"])
    try:
        assert result.exit_code == 0 and not result.cancelled
        assert holder.is_running(), "a normal exit leaves background processes alone"
    finally:
        holder.kill()


async def test_cancel_after_exit_is_a_no_op(backend: LocalBackend) -> None:
    execution = await backend.start(CommandSpec(argv=["true"]))
    result = await execution.wait()
    await execution.cancel()
    await execution.cancel()
    assert result.exit_code == 0 and not result.cancelled
    assert (await execution.wait()) is result


async def test_a_second_cancel_does_not_cut_the_kill_short(backend: LocalBackend,
                                                          tmp_path: Path) -> None:
    """A task cancelled while it kills its command (a worker cancelled at quit, then
    again as its pane goes) finishes the kill before the cancellation goes on: the loop
    may end right after, and the command must not outlive it."""
    pidfile = tmp_path / "pid"
    execution = await backend.start(CommandSpec(
        script=f"echo $$ > {pidfile}; exec sleep 60"))
    await async_wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(),
                           what="the command's pid")
    sleeper = int(pidfile.read_text())
    killing = asyncio.ensure_future(execution.cancel())
    await async_wait_until(lambda: execution._kill_task is not None, interval=0,
                           what="the kill started")  # (its first step, in a thread)
    assert not killing.done()
    killing.cancel()  # the second cancellation
    with pytest.raises(asyncio.CancelledError):
        await killing
    assert not _alive(sleeper)  # gone already: no waiting here
    assert (await execution.wait()).cancelled


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- volume ------------------------------------------------------------------------------

_GEN = """
def chunks():
    for start in range(0, 500_000, 1000):
        yield "".join(f"{i:09d} " + "x" * 89 + "\\n" for i in range(start, start + 1000)).encode()
"""


async def test_50mb_output_bounded_memory_and_hash(backend: LocalBackend) -> None:
    namespace: dict[str, object] = {}
    exec(_GEN, namespace)
    expected = hashlib.sha256()
    for chunk in namespace["chunks"]():  # type: ignore[operator]
        expected.update(chunk)
    child = _GEN + "import sys\nfor c in chunks():\n    sys.stdout.buffer.write(c)\n"

    me = psutil.Process()
    base_rss = me.memory_info().rss
    peak = base_rss
    count = 0
    execution = await backend.start(CommandSpec(argv=[PY, "-c", child]))
    async with asyncio.timeout(100):
        async for line in execution.lines():
            if count % 1000 == 0:
                assert line.text.startswith(f"{count:09d} ")
            count += 1
            if count % 20_000 == 0:
                peak = max(peak, me.memory_info().rss)
        result = await execution.wait()
    peak = max(peak, me.memory_info().rss)
    assert result.exit_code == 0
    assert count == 500_000
    assert result.output_bytes == 50_000_000
    assert result.output_sha256 == expected.hexdigest()
    assert peak - base_rss < 100 * 1024 * 1024, f"RSS grew by {(peak - base_rss) >> 20} MiB"


_BLOCK = ("y" * 99 + "\n") * 1000  # 100 kB
_BIG_CHILD = f"import sys\nfor _ in range(300): sys.stdout.write({_BLOCK!r})"  # 30 MB


async def test_wait_without_reading_lines_drops_them(backend: LocalBackend) -> None:
    expected = _BLOCK.encode() * 300
    me = psutil.Process()
    base_rss = me.memory_info().rss
    execution = await backend.start(CommandSpec(argv=[PY, "-c", _BIG_CHILD]))
    async with asyncio.timeout(60):
        result = await execution.wait()
    assert result.exit_code == 0
    assert result.output_bytes == len(expected)
    assert result.output_sha256 == hashlib.sha256(expected).hexdigest()
    assert me.memory_info().rss - base_rss < 100 * 1024 * 1024
    # A late reader gets what little was still queued, and the iteration ends.
    async with asyncio.timeout(10):
        late = [line async for line in execution.lines()]
    assert len(late) < 300_000


async def test_consumer_task_started_after_wait_gets_every_line(
    backend: LocalBackend,
) -> None:
    child = "import sys\nfor i in range(50_000): sys.stdout.write(f'line {i}\\n')"
    execution = await backend.start(CommandSpec(argv=[PY, "-c", child]))

    async def consume() -> list[str]:
        return [line.text async for line in execution.lines()]

    consumer = asyncio.create_task(consume())  # lines() is first called after wait()
    async with asyncio.timeout(60):
        result = await execution.wait()
        texts = await consumer
    assert result.exit_code == 0
    assert texts == [f"line {i}" for i in range(50_000)]


async def test_abandoned_iterator_does_not_stall_the_command(backend: LocalBackend) -> None:
    execution = await backend.start(CommandSpec(argv=[PY, "-c", _BIG_CHILD]))
    first = []
    async with asyncio.timeout(60):
        async for line in execution.lines():
            first.append(line.text)
            if len(first) == 10:
                break  # the iterator is dropped here: later lines are discarded
        result = await execution.wait()
    assert first == ["y" * 99] * 10
    assert result.exit_code == 0
    assert result.output_bytes == 30_000_000


async def test_one_megabyte_line_is_cut(backend: LocalBackend) -> None:
    code = (
        "import sys; w = sys.stdout.buffer.write\n"
        "w(b'a' * 1_000_000 + b'\\n'); w(b'after\\n'); w(b'b' * 200_000)"
    )
    result, lines = await backend.run(CommandSpec(argv=[PY, "-c", code]))
    assert result.exit_code == 0
    assert [(len(line.text), line.truncated) for line in lines] == [
        (MAX_LINE_CHARS, True),
        (5, False),
        (MAX_LINE_CHARS, True),
    ]
    assert lines[0].text == "a" * MAX_LINE_CHARS and lines[1].text == "after"
    assert result.output_bytes == 1_000_000 + 1 + 6 + 200_000


# -- targets and logs ----------------------------------------------------------------------


async def test_list_targets_by_regex_and_own_processes(tmp_path: Path) -> None:
    token = f"cockpit-target-{os.getpid()}-{tmp_path.name}"
    code = "import signal; signal.pause()"
    runner = LocalBackend({"kill_grace": 0.5})
    execution = await runner.start(CommandSpec(argv=[PY, "-c", code, token]))
    try:
        by_regex = LocalBackend({"processes": [re.escape(token) + "$"]})
        targets = await by_regex.list_targets()
        assert [t.id for t in targets] == [str(execution.pid)]
        target = targets[0]
        assert target.kind == "process" and target.name.startswith("python")
        assert target.state in {"running", "sleeping"}
        assert target.details["pid"] == execution.pid
        assert token in target.details["cmdline"]
        assert target.details["rss"] > 0 and target.details["started"] > 0
        assert isinstance(target.details["cpu_percent"], float)

        own = await runner.list_targets()
        assert str(execution.pid) in {t.id for t in own}
        assert await LocalBackend().list_targets() == []  # a fresh backend started nothing
    finally:
        await execution.cancel()
        await execution.wait()
    assert str(execution.pid) not in {t.id for t in await runner.list_targets()}


async def test_stream_logs_follows_output_file(backend: LocalBackend, tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = (
        'exec >>"$LOG" 2>&1 3<>"$FIFO"\n'
        "for i in 1 2 3; do echo \"old $i\"; done\n"
        "read -r _ <&3\n"
        'echo "new 1"\n'
        "read -r _ <&3\n"
        'echo "after truncate"\n'
        "read -r _ <&3\n"
        'printf "last, no newline"\n'
    )
    execution = await backend.start(
        CommandSpec(script=script, env={"LOG": str(log), "FIFO": str(fifo)})
    )
    await async_wait_until(lambda: log.exists() and log.read_text().count("\n") == 3,
                           what="the old lines")
    seen: list[OutputLine] = []
    async with asyncio.timeout(30):
        async for line in backend.stream_logs(str(execution.pid), tail=2):
            seen.append(line)
            if line.text == "old 3":
                await _write_fifo(fifo, "go\n")
            elif line.text == "new 1":
                log.write_text("")  # copytruncate-style rotation
                await _write_fifo(fifo, "go\n")
            elif line.text == "after truncate":
                await _write_fifo(fifo, "go\n")
    assert _texts(seen) == ["old 2", "old 3", "new 1", "after truncate", "last, no newline"]
    assert {(line.stream, line.source) for line in seen} == {("log", "bash")}
    assert (await execution.wait()).exit_code == 0


async def test_stream_logs_without_follow_and_errors(
    backend: LocalBackend, tmp_path: Path
) -> None:
    log = tmp_path / "out.log"
    code = "import signal; signal.pause()"
    script = f'for i in $(seq 1 50); do echo "l $i"; done > "$LOG"; exec "$PY" -c "{code}" >>"$LOG"'
    execution = await backend.start(
        CommandSpec(script=script, env={"LOG": str(log), "PY": PY})
    )
    piped = await backend.start(CommandSpec(argv=[PY, "-c", code]))
    try:
        await async_wait_until(
            lambda: psutil.Process(execution.pid).name().startswith("python"), what="exec"
        )
        async with asyncio.timeout(10):
            lines = [line async for line in backend.stream_logs(
                str(execution.pid), tail=3, follow=False)]
        assert _texts(lines) == ["l 48", "l 49", "l 50"]

        with pytest.raises(CockpitError, match="not a file"):
            async for _ in backend.stream_logs(str(piped.pid)):
                pass
        with pytest.raises(CockpitError):
            async for _ in backend.stream_logs("not-a-pid"):
                pass
    finally:
        for ex in (execution, piped):
            await ex.cancel()
            await ex.wait()
