"""A private Docker engine for the docker backend's tests.

``PrivateEngine`` starts ``dockerd`` (Debian's docker.io) on a socket of its own under a
temporary folder (``--bridge=none --iptables=false``: no network set-up, containers use
the host's network), with overlay2 or, where the sandbox refuses it, vfs; and imports a
busybox image made from a tarball of the host's static busybox (no registry involved).

Without dockerd, root or a static busybox the tests are skipped, with how to enable
them; with ``CI=true`` that is a failure instead (``.ci/run`` installs what they need).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until

IMAGE = "cockpit-test-busybox:latest"
HOW_TO_ENABLE = (
    "to run them: apt-get install docker.io busybox-static, and run the tests as root "
    "(pip install 'runbook-cockpit[docker]'); in CI (CI=true) this is a failure"
)
APPLETS = ("sh", "cat", "echo", "env", "grep", "kill", "ls", "ps", "sleep", "tr", "test",
           "true", "false", "touch", "rm", "date", "seq", "wget", "yes", "head", "id", "sync")


def unavailable() -> str | None:
    """Why the private engine cannot run here, or None."""
    if shutil.which("dockerd") is None:
        return "dockerd not found"
    if os.geteuid() != 0:
        return "dockerd needs root"
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the docker SDK is not installed"
    try:
        from cockpit.demo.docker_demo import busybox_path

        busybox_path()
    except Exception as exc:
        return str(exc)
    return None


def skip_or_fail(reason: str) -> None:
    message = f"docker engine tests: {reason}; {HOW_TO_ENABLE}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def busybox_rootfs() -> bytes:
    """A root filesystem with the static busybox and its applets, as a tarball."""
    from cockpit.demo.docker_demo import busybox_path

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder, mode in (("bin", 0o755), ("etc", 0o755), ("proc", 0o755), ("sys", 0o755),
                             ("dev", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        data = Path(busybox_path()).read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buf.getvalue()


class PrivateEngine:
    """dockerd on a private socket; ``kill()`` and ``start()`` for outage tests."""

    def __init__(self) -> None:
        # Short path: a unix socket path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="ckd-", dir="/tmp"))
        self.sock = self.root / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.log = self.root / "dockerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.driver = "overlay2"
        self.client = None

    def _argv(self) -> list[str]:
        return [
            "dockerd", "--host", self.host, "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"),
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            f"--storage-driver={self.driver}", "--log-level=warn",
        ]

    def start(self, timeout: float = 40.0) -> None:
        """Start dockerd and wait until it answers (first start: overlay2, else vfs)."""
        drivers = ("overlay2", "vfs") if self.client is None else (self.driver,)
        for driver in drivers:
            self.driver = driver
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                wait_until(self._answers, timeout=timeout, interval=0.1,
                           what=f"dockerd ({driver}) to answer on {self.sock}")
                return
            except AssertionError:
                self._kill_group()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"dockerd did not start; its log ends with:\n{tail}")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"dockerd exited with {self.proc.returncode}")
        if not self.sock.exists():
            return False
        import docker

        try:
            client = docker.APIClient(base_url=self.host, timeout=5)
            client.ping()
        except Exception:
            return False
        self.client = client
        return True

    def kill(self) -> None:
        """SIGKILL dockerd alone, as a crash would: its containerd and the containers
        keep running, and the next ``start()`` attaches to them again."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    def _kill_group(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop dockerd cleanly (it stops its containers and unmounts), then clean up."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        # containerd shims of a killed daemon may linger: end those of this engine only.
        import psutil

        for leftover in psutil.process_iter(["cmdline"]):
            if str(self.root) in " ".join(leftover.info.get("cmdline") or []):
                with contextlib.suppress(psutil.Error):
                    leftover.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                      if str(self.root) in line]
            if not mounts:
                break
            for mount in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def import_busybox(self) -> str:
        """Import the busybox image (once per engine); returns its tag."""
        assert self.client is not None
        repo, tag = IMAGE.split(":")
        self.client.import_image_from_data(busybox_rootfs(), repository=repo, tag=tag)
        return IMAGE


class SocketProxy:
    """A socket in front of the engine's: ``close()`` makes the engine vanish for its
    clients (every connection dropped, the socket file gone), ``open()`` brings it back.

    Killing and restarting dockerd itself proved unreliable in the sandbox (the restarted
    daemon timed out waiting for its containerd), and a proxy keeps the containers alive.
    """

    def __init__(self, upstream: Path, path: Path) -> None:
        self.upstream = str(upstream)
        self.path = path
        self.host = f"unix://{path}"
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            conns, self._conns = self._conns, set()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def run(client: Any, command: str, *, name: str | None = None, **kwargs: Any) -> str:
    """Start a busybox container (host network) with the ``docker_client`` fixture's
    client; returns its name (removed after the test)."""
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    client.made.append(name)
    client.containers.run(IMAGE, command, name=name, detach=True, network_mode="host",
                          **kwargs)
    return name
