"""``pods/NAME/exec`` over a websocket (channel.k8s.io v4/v5), running a REAL local process.

The command's argv runs with ``asyncio.create_subprocess_exec`` in a temporary folder and
a new session; frames carry one channel byte then data (0 stdin, 1 stdout, 2 stderr,
3 the final status, 4 resize; v5: 255 closes a channel). When the client closes the
websocket, the process group is killed: that is how cancel and timeouts are proven.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tempfile
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp.web

from tests.kubedouble.api import ApiError, ApiPath
from tests.kubedouble.logs import pick_container

if TYPE_CHECKING:
    from tests.kubedouble.emulator import KubeEmulator

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int | None, error: str | None = None) -> dict[str, Any]:
    """The channel-3 document: Success, or Failure with the exit code as the API sends it."""
    if error is not None:
        return {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def serve_exec(em: KubeEmulator, raw: aiohttp.web.BaseRequest, ap: ApiPath) -> aiohttp.web.StreamResponse:
    """Upgrade to a websocket and run the command."""
    pod = em._get(ApiPath("", "v1", "pods", ap.namespace, ap.name))
    query = raw.query
    pick_container(pod, query.get("container"))
    argv = query.getall("command", [])
    if not argv:
        raise ApiError(400, "BadRequest", "you must specify at least 1 command")
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed", "Pending"):
        raise ApiError(
            400, "BadRequest",
            f"cannot exec into a container in a completed pod; current phase is {pod['status']['phase']}"
            if pod["status"]["phase"] != "Pending"
            else f'unable to upgrade connection: container not found ("{query.get("container", "")}")',
        )
    ws = aiohttp.web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
    if not ws.can_prepare(raw).ok:
        raise ApiError(400, "BadRequest", "Upgrade request required")
    await ws.prepare(raw)
    em.execs_started += 1
    workdir = tempfile.mkdtemp(prefix="kubedouble-exec-")
    want_stdin = query.get("stdin") in ("true", "1")
    if query.get("tty") in ("true", "1"):  # kubectl exec -it: on a real pty
        from tests.kubedouble.execpty import serve_tty

        try:
            await serve_tty(em, ws, argv, workdir, exit_status, _kill)
        finally:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        return ws
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=workdir,
                stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            message = (
                "Internal error occurred: error executing command in container: failed to exec in "
                f'container: OCI runtime exec failed: exec failed: unable to start container process: exec: "{argv[0]}": '
                f"{'executable file not found in $PATH' if isinstance(exc, FileNotFoundError) else exc.strerror}: unknown"
            )
            await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(None, message)).encode())
            await ws.close()
            return ws
        em.exec_processes.add(proc)
        try:
            await _session(em, ws, proc)
        finally:
            _kill(proc)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
            em.exec_processes.discard(proc)
    finally:
        with contextlib.suppress(OSError):
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return ws


async def _session(em: KubeEmulator, ws: aiohttp.web.WebSocketResponse, proc: asyncio.subprocess.Process) -> None:
    async def pump(stream: asyncio.StreamReader | None, channel: int) -> None:
        if stream is None:
            return
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            await ws.send_bytes(bytes([channel]) + chunk)

    async def read_client() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY and msg.data:
                channel, data = msg.data[0], msg.data[1:]
                if channel == STDIN and proc.stdin is not None:
                    proc.stdin.write(data)
                    with contextlib.suppress(ConnectionError):
                        await proc.stdin.drain()
                elif channel == CLOSE and data[:1] == bytes([STDIN]) and proc.stdin is not None:
                    proc.stdin.close()
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    pumps = asyncio.gather(pump(proc.stdout, STDOUT), pump(proc.stderr, STDERR))
    client = asyncio.ensure_future(read_client())
    finished = asyncio.ensure_future(_finish(pumps, proc))
    try:
        done, _ = await asyncio.wait({client, finished}, return_when=asyncio.FIRST_COMPLETED)
        if finished in done and not ws.closed:
            code = finished.result()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(code)).encode())
                await ws.close()
    finally:
        _kill(proc)  # the client left first: kill the process group
        for task in (client, finished):
            task.cancel()
        pumps.cancel()
        await asyncio.gather(client, finished, pumps, return_exceptions=True)


async def _finish(pumps: asyncio.Future[Any], proc: asyncio.subprocess.Process) -> int:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await pumps
    return await proc.wait()
