"""The backend contract, the same tests for every backend (local, docker, kubernetes and
cloudrun): exit codes kept, stderr, timeout and cancel kill
the whole tree, output hashed, a failed start recorded with an outcome, operations
previewed and recorded, logs without gaps or repeats (and since a time where the backend
stamps its lines), the health of a target.

Real components only: local subprocesses, a private ``dockerd`` with busybox, and the
Kubernetes API double (``tests/kubedouble``: the real client over HTTP; the kubernetes
backend's commands without a target run on this host, as its host actions do), the GCP
double (``tests/gcpdouble``: Cloud Run v2 and Cloud Logging over HTTP through gcloud's
proxy settings; Cloud Run has no exec, so its commands run on this host too).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    LogNotice,
    LogQuery,
    LogRecord,
    OutputLine,
)
from cockpit.core.config.loader import load_profile
from cockpit.core.environment import open_backend
from tests.support import async_wait_until

KINDS = ["local", "docker", "kubernetes", "cloudrun"]
#: prints "N" every 20 ms, forever (each line its number)
COUNTER = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done"


@dataclass
class Harness:
    """One backend, a target to run commands in and one whose logs are read."""

    kind: str
    runner: ActionRunner
    command_target: str | None  #: where commands run (None: on this host)
    logs_target: str  #: a target printing COUNTER
    operation: str  #: an operation on ``op_target``, safe to run in the test
    op_target: str
    trail: Path
    processes: Any  #: () -> set of "sleep 300" process ids in the command's environment
    cleanup: list[Any] = field(default_factory=list)
    stop_op: str = "kill"  #: an operation that ends ``op_target`` (or removes it)

    @property
    def backend(self) -> Backend:
        return self.runner.backend

    def spec(self, **kwargs: Any) -> CommandSpec:
        return CommandSpec(target=self.command_target, **kwargs)


def _runner(tmp_path: Path, body: str) -> ActionRunner:
    path = tmp_path / "profile.yaml"
    path.write_text(body)
    loaded = load_profile(path)
    return ActionRunner(loaded, open_backend(loaded), AuditTrail(tmp_path / "trail.jsonl"))


def _local_sleepers() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        if (proc.info.get("cmdline") or [])[:2] == ["sleep", "300"]:
            found.add(proc.pid)
    return found


@pytest.fixture(params=KINDS)
async def harness(request, tmp_path) -> AsyncIterator[Harness]:
    if request.param == "local":
        marker = f"contract-{uuid.uuid4().hex[:8]}"
        log = tmp_path / "counter.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(["bash", "-c", f"{COUNTER} # {marker}"], stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        victim = subprocess.Popen(["bash", "-c", f"sleep 600; exit # {marker}-victim"],
                                  start_new_session=True)
        runner = _runner(tmp_path, f"name: c\nbackend:\n  kind: local\n"
                                   f"  processes: ['{marker}']\n")
        before = _local_sleepers()
        h = Harness("local", runner, None, str(proc.pid), "terminate", str(victim.pid),
                    tmp_path / "trail.jsonl", lambda: _local_sleepers() - before)
        h.cleanup += [proc.kill, victim.kill, proc.wait, victim.wait]
    elif request.param == "docker":
        engine = request.getfixturevalue("engine")
        client = request.getfixturevalue("docker_client")
        from tests.test_backend_docker import LOOP, run

        shell = run(client, LOOP)
        counter = run(client, f"sh -c '{COUNTER}'")
        runner = _runner(tmp_path, f"name: c\nbackend:\n  kind: docker\n"
                                   f"  host: \"{engine.host}\"\n"
                                   f"  containers: [{shell}, {counter}]\n"
                                   f"  default_target: {shell}\n  stop_timeout: 1s\n")

        def sleepers() -> set[int]:
            out = client.containers.get(shell).exec_run(["ps", "-o", "pid,args"]).output
            rows = [line.split(None, 1) for line in out.decode().splitlines()[1:]]
            return {int(row[0]) for row in rows if len(row) == 2
                    and row[1].strip() == "sleep 300"}

        h = Harness("docker", runner, shell, counter, "restart", shell,
                    tmp_path / "trail.jsonl", sleepers)
    elif request.param == "kubernetes":
        h = _kubernetes_harness(request, tmp_path)
    elif request.param == "cloudrun":
        h = _cloudrun_harness(request, tmp_path)
    await h.backend.connect()
    try:
        yield h
    finally:
        await h.backend.close()
        for step in h.cleanup:
            step()


def _kubernetes_harness(request: Any, tmp_path: Path) -> Harness:
    """A deployment to restart, a pod printing COUNTER's lines, a victim pod; commands
    without a target run on this host."""
    kube = request.getfixturevalue("kube")
    request.getfixturevalue("kubeconfig")
    ns = "euystacio-ai"
    labels = {"app": "contract"}
    kube.create({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "contract", "namespace": ns, "labels": labels},
                 "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                          "template": {"metadata": {"labels": labels}, "spec": {
                              "containers": [{"name": "c", "image": "busybox"}]}}}})
    for name in ("counter", "victim"):
        kube.create({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": ns},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        kube.set_pod_status(name, ns, phase="Running", ready=True,
                            status={"startTime": "2026-01-01T00:00:00Z"})
    stop_ticking = kube.tick_logs("counter", lambda n: str(n + 1), ns, interval=0.02)
    runner = _runner(tmp_path, f"name: c\nbackend:\n  kind: kubernetes\n  namespace: {ns}\n")
    before = _local_sleepers()
    h = Harness("kubernetes", runner, None, "counter", "restart", "deployment/contract",
                tmp_path / "trail.jsonl", lambda: _local_sleepers() - before,
                stop_op="delete-pod")
    h.cleanup.append(stop_ticking)
    h.victim = "victim"  # type: ignore[attr-defined]
    return h


def _cloudrun_harness(request: Any, tmp_path: Path) -> Harness:
    """The seeded tai-erlang service in one region, its newest revision serving and
    logging COUNTER's numbers; the operation is a rollback (to the revision before it: an
    operation without args), the stop operation deletes a spare revision; commands run on
    this host."""
    gcp = request.getfixturevalue("gcp")
    request.getfixturevalue("gcp_env")
    from tests.gcpdouble.seed import BLUE, GREEN, IMAGE, SERVICE

    region = "us-central1"
    now = gcp.state.clock()
    counter, victim = f"{SERVICE}-00003-ctr", f"{SERVICE}-00000-vic"
    gcp.add_revision(region, SERVICE, victim, f"{IMAGE}:1.0.0", create_time=now - 30 * 86400)
    gcp.add_revision(region, SERVICE, counter, f"{IMAGE}:1.6.0", create_time=now - 60)
    gcp.set_traffic(region, SERVICE, {counter: 100}, tags={GREEN: "green", BLUE: "blue"})
    stop_ticking = gcp.tick_revision_log(region, SERVICE, counter, 0.02, text=str)
    runner = _runner(tmp_path, f"name: c\nbackend:\n  kind: cloudrun\n  region: {region}\n"
                               f"  services: [{SERVICE}]\n  logs_poll: 200ms\n")
    before = _local_sleepers()
    h = Harness("cloudrun", runner, None, counter, "rollback", SERVICE,
                tmp_path / "trail.jsonl", lambda: _local_sleepers() - before,
                stop_op="delete-revision")
    h.cleanup.append(stop_ticking)
    h.victim = victim  # type: ignore[attr-defined]
    return h


async def _run(h: Harness, spec: CommandSpec) -> tuple[Any, list[OutputLine]]:
    execution = await h.backend.start(spec)
    lines = [line async for line in execution.lines()]
    return await execution.wait(), lines


async def test_exit_codes_and_stderr_are_kept(harness: Harness) -> None:
    result, lines = await _run(harness, harness.spec(script="echo out; echo err >&2; exit 7"))
    assert result.exit_code == 7 and result.error is None
    assert [(line.stream, line.text) for line in lines if line.text] == [
        ("stdout", "out"), ("stderr", "err")] or sorted(
        (line.stream, line.text) for line in lines) == [("stderr", "err"), ("stdout", "out")]
    result, _ = await _run(harness, harness.spec(argv=["sh", "-c", "exit 0"]))
    assert result.exit_code == 0


async def test_output_is_hashed_byte_for_byte(harness: Harness) -> None:
    result, lines = await _run(harness, harness.spec(argv=["sh", "-c", "printf 'a\\nb\\n'"]))
    assert [line.text for line in lines] == ["a", "b"]
    assert result.output_sha256 == hashlib.sha256(b"a\nb\n").hexdigest()
    assert result.output_bytes == 4


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_timeout_and_cancel_kill_the_whole_tree(harness: Harness, how: str) -> None:
    script = "sleep 300 & sleep 300 & echo started; wait"
    spec = harness.spec(script=script, timeout=1.5 if how == "timeout" else None)
    execution = await harness.backend.start(spec)
    lines = execution.lines()
    async with asyncio.timeout(30):
        async for line in lines:
            if line.text == "started":
                break
    await async_wait_until(lambda: len(harness.processes()) == 2, timeout=15,
                           what="both sleeps to run")
    if how == "cancel":
        await execution.cancel()
    async with asyncio.timeout(60):
        async for _ in lines:
            pass
        result = await execution.wait()
    assert result.timed_out if how == "timeout" else result.cancelled
    await async_wait_until(lambda: not harness.processes(), timeout=15,
                           what="every process of the tree to be gone")


async def test_a_command_that_cannot_start_is_a_failed_execution_with_an_outcome(
        harness: Harness) -> None:
    result, _ = await _run(harness, harness.spec(argv=["no-such-program-xyz"]))
    assert result.exit_code not in (0, None) or result.error
    runner = harness.runner
    loaded = runner.loaded
    from cockpit.core.config.models import Action

    action = Action(id="missing", run=["no-such-program-xyz"], target=harness.command_target)
    loaded.profile.actions.append(action)
    outcome = await runner.execute(runner.prepare("missing"), confirmed=True)
    assert outcome.status in ("failed", "error")
    records = [json.loads(line) for line in harness.trail.read_text().splitlines()]
    mine = [r for r in records if r.get("trace_id") == outcome.trace_id]
    assert [r["status"] for r in mine] == ["started", outcome.status]
    assert mine[-1]["backend"]["kind"] == harness.kind  # structured identity


async def test_operations_are_previewed_and_recorded(harness: Harness) -> None:
    runner = harness.runner
    action_id = f"{harness.kind}.{harness.operation}"
    action = runner.action(action_id)
    declared = {op.name: op for op in harness.backend.operations(harness.backend.opts)}
    op = declared[harness.operation]
    prepared = runner.prepare(action, {op.target_param: harness.op_target})
    assert prepared.spec.operation is not None and prepared.spec.argv is None
    assert harness.op_target in prepared.display
    assert prepared.display == " ".join(harness.backend.preview(prepared.spec.operation))
    outcome = await runner.execute(prepared, confirmed=True)
    assert outcome.status == "succeeded", outcome.message
    record = outcome.record
    assert record["command"] == prepared.display
    assert record["operation"] == {"name": harness.operation, "target": harness.op_target,
                                   "args": {}}


async def _read_logs(backend: Backend, query: LogQuery, want: int) -> list[LogRecord]:
    got: list[LogRecord] = []
    stream = backend.logs(query)
    async with asyncio.timeout(30):
        async for batch in stream:
            assert not [i for i in batch if isinstance(i, LogNotice) and i.kind == "unreachable"]
            got += [item for item in batch if isinstance(item, LogRecord)]
            if len(got) >= want:
                break
    await stream.aclose()
    return got


def _numbers(records: list[LogRecord]) -> list[int]:
    return [int(r.text) for r in records if re.fullmatch(r"\d+", r.text)]


async def test_logs_follow_without_gaps_or_repeats(harness: Harness) -> None:
    backend = harness.backend
    if not backend.capabilities & Capability.LOGS:
        return  # the backend declares no logs (kubernetes until its logs module joins)
    target = harness.logs_target
    records = await _read_logs(backend, LogQuery(targets=(target,), tail=5, follow=True), 40)
    numbers = _numbers(records)
    assert len(numbers) >= 40
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
    names = {target, *(t.name for t in await backend.list_targets())}
    # a target's name, or NAME/PART where a target has several streams (pod/container)
    assert all(r.source in names or r.source.rsplit("/", 1)[0] in names for r in records), \
        {r.source for r in records}
    if not backend.capabilities & Capability.LOGS_SINCE:
        return
    # Since the last line's logged time: the next lines, none missing, none repeated.
    last = records[-1]
    assert last.logged
    later = await _read_logs(backend, LogQuery(targets=(target,), since=last.ts, tail=-1), 20)
    fresh = _numbers([r for r in later if r.ts > last.ts])
    assert fresh[:10] == list(range(numbers[-1] + 1, numbers[-1] + 11)), (numbers[-3:], fresh)


async def test_a_running_target_is_healthy_and_a_gone_one_is_not(harness: Harness) -> None:
    backend = harness.backend
    targets = {t.id: t for t in await backend.list_targets()}
    running = next(t for t in targets.values() if harness.logs_target in (t.id, t.name))
    assert running.health.state == "ok", running.health
    assert running.started_at is not None and running.kind in (
        "process", "container", "pod", "revision")
    # Operating on the victim ends it: its health says so (or it leaves the list).
    runner = harness.runner
    op = {o.name: o for o in backend.operations(backend.opts)}
    stop = harness.stop_op
    victim = getattr(harness, "victim", harness.op_target)
    prepared = runner.prepare(f"{harness.kind}.{stop}", {op[stop].target_param: victim})
    outcome = await runner.execute(prepared, confirmed=True)
    assert outcome.status == "succeeded", outcome.message

    async def victim_not_ok() -> bool:
        now = {t.id: t for t in await backend.list_targets()}
        found = [t for t in now.values() if victim in (t.id, t.name)]
        return not found or found[0].health.state == "fail"

    await async_wait_until(victim_not_ok, timeout=20, what="the killed target not ok")


def test_every_backend_kind_is_covered() -> None:
    from cockpit.core.backends.registry import backend_kinds

    assert set(backend_kinds()) <= set(KINDS), "a new backend must join the contract suite"
    assert sys.version_info >= (3, 11)


async def test_start_never_raises_even_for_an_argv_the_os_refuses(harness: Harness) -> None:
    result, lines = await _run(harness, harness.spec(argv=["echo", "a\0b"]))
    assert result.exit_code != 0 or result.error, result
    assert lines == [] or all(isinstance(line, OutputLine) for line in lines)


async def test_local_operations_never_signal_init_or_the_cockpit(tmp_path) -> None:
    """A pattern as loose as `processes: [x]` matches pid 1 (a new user's trial did it):
    the operation refuses it, and the cockpit itself."""
    import os

    runner = _runner(tmp_path, "name: c\nbackend: {kind: local, processes: ['.']}\n")
    try:
        for pid in ("1", str(os.getpid())):
            prepared = runner.prepare("local.terminate", {"pid": pid})
            outcome = await runner.execute(prepared, confirmed=True)
            assert outcome.status == "error" and "does not signal it" in outcome.message
    finally:
        await runner.backend.close()
