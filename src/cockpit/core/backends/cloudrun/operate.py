"""The declared operations, run: update-traffic, rollback, delete-revision.

Each is a coroutine on the event loop (the HTTP client is async) inside a
``TaskExecution``. update-traffic and rollback read the service and its revisions,
compute the split (gcloud's semantics, ``traffic.py``), check it (revisions exist and are
Ready), ``PATCH`` the service's traffic with its etag, follow the long-running operation
to its end within ``operation_timeout``, read the service back and print the table.
A refusal by Google (403, 404, 409, 429, 503, ...) or a failed operation is a line on
stderr and exit code 1 (nothing, or not all, happened); a 409 says that someone else
changed the service meanwhile. No answer at all is the execution's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from cockpit.core.backends.base import CommandResult, Execution, OutputLine
from cockpit.core.backends.cloudrun.api import GoogleAPIError
from cockpit.core.backends.cloudrun.ops import new_percentages, previous_revision
from cockpit.core.backends.cloudrun.targets import (
    SUCCEEDED,
    ready_condition,
    traffic_of,
)
from cockpit.core.backends.cloudrun.traffic import (
    LATEST,
    TrafficError,
    shares,
    short,
    table,
    update_traffic,
)
from cockpit.core.backends.operations import OperationCall
from cockpit.core.errors import CockpitError

if TYPE_CHECKING:
    from cockpit.core.backends.cloudrun.backend import CloudRunBackend, Ref

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Refused(CockpitError):
    """The operation cannot be done as asked (stderr, exit code 1; nothing changed)."""


class TaskExecution(Execution):
    """Lines said by a coroutine; ``work(say)`` returns the exit code. A Google error
    or ``Refused`` is a stderr line and exit code 1; no answer (status 0) is the error."""

    def __init__(self, display: str, work: Callable[[Callable[..., None]], Awaitable[int]],
                 timeout: float | None = None) -> None:
        self.display = display
        self._queue: asyncio.Queue[OutputLine | None] = asyncio.Queue()
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._t0 = time.monotonic()
        self._result: CommandResult | None = None
        self._cancelled = False
        self._timed_out = False
        self._lines_taken = False
        self._timeout = timeout
        self._task = asyncio.ensure_future(self._run(work))

    def say(self, text: str, stream: Literal["stdout", "stderr"] = "stdout") -> None:
        self._hash.update(text.encode() + b"\n")
        self._bytes += len(text.encode()) + 1
        self._queue.put_nowait(OutputLine(stream, text, time.time()))

    async def _run(self, work: Callable[[Callable[..., None]], Awaitable[int]]) -> None:
        code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout):
                code = await work(self.say)
        except TimeoutError:
            self._timed_out = True
        except asyncio.CancelledError:
            self._cancelled = True
        except (Refused, TrafficError) as exc:
            self.say(str(exc), "stderr")
            code = 1
        except GoogleAPIError as exc:
            if exc.status == 0:
                error = str(exc)
            else:
                self.say(str(exc), "stderr")
                code = 1
        except CockpitError as exc:
            error = str(exc)
        except Exception as exc:  # a bug or an answer of an unexpected shape
            error = f"{type(exc).__name__}: {exc}"
        self._result = CommandResult(
            exit_code=code, duration=time.monotonic() - self._t0,
            timed_out=self._timed_out, cancelled=self._cancelled,
            output_sha256=self._hash.hexdigest() if self._bytes else _EMPTY_SHA256,
            output_bytes=self._bytes, error=error)
        self._queue.put_nowait(None)

    def lines(self) -> AsyncIterator[OutputLine]:
        if self._lines_taken:
            raise RuntimeError("lines() can be iterated only once per execution")
        self._lines_taken = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[OutputLine]:
        while True:
            line = await self._queue.get()
            if line is None:
                return
            yield line

    async def wait(self) -> CommandResult:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)
        assert self._result is not None
        return self._result

    async def cancel(self) -> None:
        """Stop following (a PATCH already sent stays sent)."""
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def failed(display: str, error: str) -> TaskExecution:
    """An execution that could not start (the result says why)."""

    async def nothing(_say: Callable[..., None]) -> int:
        raise CockpitError(error)

    return TaskExecution(display, nothing)


# -- the operations -----------------------------------------------------------------------


def start_operation(backend: CloudRunBackend, call: OperationCall, display: str,
                    timeout: float | None) -> TaskExecution:
    """Run ``call`` (resolved against the listed targets, or the API)."""
    works = {"update-traffic": _update_traffic, "rollback": _update_traffic,
             "delete-revision": _delete_revision}

    async def work(say: Callable[..., None]) -> int:
        return await works[call.name](backend, call, say)

    return TaskExecution(display, work, timeout)


async def read_service(backend: CloudRunBackend, ref: Ref) -> tuple[dict[str, Any],
                                                                       list[dict[str, Any]]]:
    """The service and its revisions, fresh from the API."""
    svc, revisions = await asyncio.gather(
        backend.api_call("GET", ref.service_path()),
        backend.list_revisions(ref.region, ref.service))
    return svc, revisions


def planned_traffic(call: OperationCall, svc: Mapping[str, Any],
                    revisions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The service's new traffic for ``call`` (update-traffic or rollback), checked:
    each revision named exists and is Ready; raises ``TrafficError``."""
    name = short(svc.get("name"))
    traffic = [dict(t) for t in svc.get("traffic") or []]
    if call.name == "rollback":
        split = shares(traffic_of(svc), svc.get("latestReadyRevision"))
        wanted = {previous_revision(revisions, split): 100}
    else:
        wanted = new_percentages(call.args, traffic, name)
    by_name = {short(r.get("name")): r for r in revisions}
    for key, percent in wanted.items():
        if key == LATEST:
            if percent and not svc.get("latestReadyRevision"):
                raise TrafficError(f"service {name} has no ready revision for LATEST")
            continue
        rev = by_name.get(key)
        if rev is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise TrafficError(f"service {name} has no revision {key} (known: {known})")
        if percent and ready_condition(rev).get("state") != SUCCEEDED:
            raise TrafficError(f"revision {key} is not Ready: it cannot serve traffic")
    return update_traffic(traffic, wanted)


def traffic_table(svc: Mapping[str, Any], after: Sequence[Mapping[str, Any]] | None,
                  revisions: Sequence[Mapping[str, Any]], **labels: str) -> list[str]:
    """REVISION / NOW / AFTER / TAG of ``svc`` now and with ``after`` as its traffic."""
    from cockpit.core.backends.cloudrun.targets import newest_first

    latest = svc.get("latestReadyRevision")
    now = shares(traffic_of(svc), latest)
    then = shares(after if after is not None else traffic_of(svc), latest)
    order = [short(r.get("name")) for r in newest_first(revisions)]
    return table(now, then, order, **labels)


async def _update_traffic(backend: CloudRunBackend, call: OperationCall,
                          say: Callable[..., None]) -> int:
    ref = await backend.resolve(call.target, "service")
    svc, revisions = await read_service(backend, ref)
    new = planned_traffic(call, svc, revisions)
    where = f"project {backend.project}, region {ref.region}"
    say(f"service {ref.service} ({where}): updating traffic")
    body: dict[str, Any] = {"traffic": new}
    if svc.get("etag"):
        body["etag"] = svc["etag"]
    try:
        op = await backend.api_call("PATCH", ref.service_path(),
                                    params={"updateMask": "traffic"}, json=body)
    except GoogleAPIError as exc:
        if exc.status in (409, 412):
            raise Refused(f"{exc} -- someone else changed service {ref.service} "
                          f"({where}) since it was read; nothing was changed by this run: "
                          "look at its traffic again and retry") from None
        raise
    await follow(backend, op, ref, say)
    after = await backend.api_call("GET", ref.service_path())
    backend.forget(ref.region, ref.service)
    for line in traffic_table(svc, traffic_of(after), revisions, now_label="BEFORE",
                              after_label="NOW"):
        say(line)
    return 0


async def follow(backend: CloudRunBackend, op: Mapping[str, Any], ref: Ref,
                 say: Callable[..., None]) -> None:
    """Poll the long-running operation until done (or, where it cannot be read, the
    service until it is not reconciling and has observed its generation), within
    ``operation_timeout``; a failed operation raises ``Refused`` with its message."""
    deadline = backend.clock() + backend.copts.operation_timeout
    name = str(op.get("name") or "")
    delay = 0.1
    shown = False
    while True:
        if op.get("done"):
            err = op.get("error")
            if isinstance(err, Mapping):
                message = " ".join(str(err.get("message") or "unknown error").split())
                raise Refused(f"operation {short(name) or '?'} failed: {message}"
                              + (f" (code {err['code']})" if err.get("code") else ""))
            return
        if backend.clock() >= deadline:
            raise Refused(f"operation {short(name) or '?'} not done after "
                          f"{backend.copts.operation_timeout:g}s (it goes on: see "
                          f"`{backend.copts.gcloud} run services describe {ref.service} "
                          f"--region {ref.region}`)")
        if not shown:
            say(f"waiting for operation {short(name) or '(service)'} ...")
            shown = True
        await backend.sleep(delay)
        delay = min(delay * 2, 2.0)
        if name:
            try:
                op = await backend.api_call("GET", "/v2/" + name)
                continue
            except GoogleAPIError as exc:
                if exc.status != 404:
                    raise
                name = ""
        svc = await backend.api_call("GET", ref.service_path())
        settled = not svc.get("reconciling") and \
            str(svc.get("observedGeneration")) == str(svc.get("generation"))
        op = {"done": settled}


async def _delete_revision(backend: CloudRunBackend, call: OperationCall,
                           say: Callable[..., None]) -> int:
    ref = await backend.resolve(call.target, "revision")
    assert ref.revision is not None
    svc = await backend.api_call("GET", ref.service_path())
    split = shares(traffic_of(svc), svc.get("latestReadyRevision"))
    share = split.get(ref.revision)
    if share is not None and share.percent:
        raise Refused(f"revision {ref.revision} serves {share.percent}% of service "
                      f"{ref.service}'s traffic: move its traffic first")
    if share is not None and share.tags:
        raise Refused(f"revision {ref.revision} is tagged {','.join(share.tags)} in service "
                      f"{ref.service}'s traffic: remove the tag first")
    op = await backend.api_call("DELETE", ref.revision_path())
    await follow(backend, op, ref, say)
    backend.forget(ref.region, ref.service)
    say(f"revision {ref.revision} deleted (service {ref.service}, project "
        f"{backend.project}, region {ref.region})")
    return 0
