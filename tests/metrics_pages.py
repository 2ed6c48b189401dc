"""Hostile exposition pages and a loopback server that streams them, for metrics tests."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WANTED = "test_wanted_total"
MB = 1_000_000


def wanted_lines(count: int, start: int = 0) -> bytes:
    """``count`` samples of the wanted family, value 1 each, one series per ``id``."""
    return "".join(f'{WANTED}{{id="{i}"}} 1\n' for i in range(start, start + count)).encode()


def series_page(series: int) -> bytes:
    """A page of ``series`` distinct series of the wanted family (HELP and TYPE first)."""
    head = f"# HELP {WANTED} wanted\n# TYPE {WANTED} counter\n".encode()
    return head + wanted_lines(series)


def huge_page(size: int) -> bytes:
    """At least ``size`` bytes where every line is a sample of the wanted family."""
    block = wanted_lines(10_000)
    return f"# TYPE {WANTED} counter\n".encode() + block * (size // len(block) + 1)


def noise_page(noise: int, wanted: int) -> bytes:
    """``noise`` series of other families (one named like the wanted one plus a suffix
    that is not a family suffix, one quoting it in a label), then ``wanted`` series."""
    lines = [f'test_noise_value{{shard="{i % 64}",key="{i}"}} {i}\n' for i in range(noise)]
    lines.append(f"{WANTED}_by_path 7\n")
    lines.append(f'test_decoy{{name="{WANTED}"}} 9\n')
    return "".join(lines).encode() + wanted_lines(wanted)


class PageServer:
    """A threaded HTTP/1.0 server on 127.0.0.1 serving fixed pages.

    ``pages[path] = (body, with_length[, headers])``: without a ``Content-Length`` the body is
    streamed in 64 kB writes until it ends or the client hangs up; ``sent[path]`` is the
    bytes written by the last request, ``served[path]`` how many requests ended.
    """

    def __init__(self, pages: dict[str, tuple[bytes, bool] | tuple[bytes, bool, dict]]) -> None:
        self.pages = pages
        self.sent: dict[str, int] = {}
        self.served: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, with_length, *extra = server.pages[self.path]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                for key, value in (extra[0] if extra else {}).items():
                    self.send_header(key, value)
                if with_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                sent = 0
                view = memoryview(body)
                try:
                    while sent < len(body):
                        self.wfile.write(view[sent:sent + 65536])
                        sent += len(view[sent:sent + 65536])
                except OSError:
                    pass  # the client stopped reading
                finally:
                    with server.lock:
                        server.sent[self.path] = sent
                        server.served[self.path] = server.served.get(self.path, 0) + 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LoopLag:
    """A 10 ms heartbeat on the running event loop.

    ``worst`` is the longest a tick was late (wall time: the longest nothing could run,
    machine load included); ``worst_cpu`` the most CPU the loop's own thread burned
    between two ticks, i.e. work done on the loop. That one does not grow when a loaded
    machine starves the process or a parse thread holds the GIL: it is the one to bound
    tightly.
    """

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.ticks = 0
        self._due = 0.0
        self._cpu = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> LoopLag:
        self._due = time.monotonic() + self.period
        self._cpu = time.thread_time()
        self._handle = asyncio.get_running_loop().call_later(self.period, self._tick)
        return self

    def _tick(self) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        self.worst = max(self.worst, now - self._due)
        self.worst_cpu = max(self.worst_cpu, cpu - self._cpu)
        self.ticks += 1
        self._due, self._cpu = now + self.period, cpu
        self._handle = asyncio.get_running_loop().call_later(self.period, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def check(self) -> None:
        """Fail if the loop did more than 250 ms of work at once, or (a gross bound that
        a loaded machine does not reach) could not run anything for 2 s."""
        assert self.ticks > 0, "the heartbeat never ran"
        assert self.worst_cpu < 0.25, f"the loop worked {self.worst_cpu * 1000:.0f} ms at once"
        assert self.worst < 2.0, f"the loop stalled {self.worst * 1000:.0f} ms"
