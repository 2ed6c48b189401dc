"""``pods/NAME/exec?tty=true`` (``kubectl exec -it``): the command runs on a real
pseudo-terminal, so an interactive shell echoes, shows its prompt and reads lines ended
by Enter (a raw terminal sends CR; the pty's line discipline makes it NL), and channel 4
resizes the terminal. Output comes on channel 1 only, as with a real TTY exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import struct
import termios
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp.web

if TYPE_CHECKING:
    from tests.kubedouble.emulator import KubeEmulator

STDIN, STDOUT, ERROR, RESIZE, CLOSE = 0, 1, 3, 4, 255


def _resize(fd: int, data: bytes) -> None:
    with contextlib.suppress(ValueError, OSError, TypeError, AttributeError):
        size = json.loads(data)
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0))


def _controlling_tty() -> None:  # in the child, after setsid
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def serve_tty(em: KubeEmulator, ws: aiohttp.web.WebSocketResponse, argv: list[str],
                    workdir: str, status: Any, kill: Any) -> None:
    """Run ``argv`` on a pty behind the prepared websocket ``ws``."""
    master, slave = pty.openpty()
    _resize(master, b'{"Width": 80, "Height": 24}')
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=workdir, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, preexec_fn=_controlling_tty,
            env={**os.environ, "TERM": os.environ.get("TERM", "xterm")})
    except OSError as exc:
        os.close(master)
        os.close(slave)
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status(None, str(exc))).encode())
        await ws.close()
        return
    os.close(slave)
    em.exec_processes.add(proc)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every process holding the terminal has gone
            data = b""
        if not data:
            loop.remove_reader(master)
        output.put_nowait(data)

    loop.add_reader(master, readable)

    async def pump() -> None:
        while True:
            data = await output.get()
            if not data:
                return
            await ws.send_bytes(bytes([STDOUT]) + data)

    async def read_client() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY and msg.data:
                channel, data = msg.data[0], msg.data[1:]
                if channel == STDIN:
                    with contextlib.suppress(OSError):
                        os.write(master, data)
                elif channel == RESIZE:
                    _resize(master, data)
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    async def finish() -> int:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await pump()
        return await proc.wait()

    client = asyncio.ensure_future(read_client())
    finished = asyncio.ensure_future(finish())
    try:
        done, _ = await asyncio.wait({client, finished}, return_when=asyncio.FIRST_COMPLETED)
        if finished in done and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(bytes([ERROR]) + json.dumps(status(finished.result())).encode())
                await ws.close()
    finally:
        kill(proc)
        loop.remove_reader(master)
        for task in (client, finished):
            task.cancel()
        await asyncio.gather(client, finished, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        em.exec_processes.discard(proc)
        os.close(master)
