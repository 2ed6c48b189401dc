"""Which process holds a TCP port: psutil first, then ``/proc/net/tcp`` when access is denied."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


@dataclass(frozen=True, slots=True)
class PortOwner:
    """A listening socket on ``port`` and, when it could be found, the process behind it."""

    port: int
    address: str
    pid: int | None = None
    name: str | None = None
    cmdline: str | None = None

    def describe(self) -> str:
        """``pid 1234 (python3 -m http.server)``, or ``an unknown process``."""
        if self.pid is None:
            return "an unknown process (not permitted to see its owner)"
        what = self.cmdline or self.name or "?"
        return f"pid {self.pid} ({what})"


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails because the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def find_port_owner(port: int) -> PortOwner | None:
    """The listener on ``port`` (any address), or None when nobody listens."""
    found = _via_psutil(port)
    if found is not None and found.pid is not None:
        return found
    proc_found = _via_proc(port)
    return proc_found or found


def _describe_pid(port: int, address: str, pid: int) -> PortOwner:
    import psutil

    name = cmdline = None
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        name = proc.name()
        args = proc.cmdline()
        if args:
            args[0] = os.path.basename(args[0])
            cmdline = " ".join(args)
            if len(cmdline) > 160:
                cmdline = cmdline[:157] + "..."
    return PortOwner(port, address, pid, name, cmdline)


def _via_psutil(port: int) -> PortOwner | None:
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, PermissionError, OSError):
        return None
    anonymous: PortOwner | None = None
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        address = f"{conn.laddr.ip}:{port}"
        if conn.pid:
            return _describe_pid(port, address, conn.pid)
        anonymous = anonymous or PortOwner(port, address)
    return anonymous


def _via_proc(port: int) -> PortOwner | None:
    """Parse ``/proc/net/tcp{,6}`` for a listener, then find the fd holding its inode."""
    inodes: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            hex_addr, _, hex_port = fields[1].rpartition(":")
            if int(hex_port, 16) == port and fields[9] != "0":
                inodes[fields[9]] = _proc_addr(hex_addr) + f":{port}"
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]": addr for inode, addr in inodes.items()}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    addr = wanted.get(os.readlink(fd))
                    if addr is not None:
                        return _describe_pid(port, addr, int(pid_dir.name))
    return PortOwner(port, next(iter(inodes.values())))


def _proc_addr(hex_addr: str) -> str:
    """``0100007F`` -> ``127.0.0.1``; IPv6 addresses are shown as ``[ipv6]``."""
    if len(hex_addr) == 8:
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_addr)[::-1])
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return "[" + socket.inet_ntop(socket.AF_INET6, words) + "]"
