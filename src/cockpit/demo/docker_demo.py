"""Run the demo service in a container: ``python -m cockpit.demo.docker_demo up|down|build``.

No registry is needed. The image is built locally from a tiny root filesystem: a static
busybox (``/bin/busybox`` of Debian's busybox-static, its applets as links) and the
shared libraries this Python and its extension modules link to (found with ``ldd``),
imported with ``docker import``, then given a ``HEALTHCHECK`` (busybox ``wget`` on
``/health``) by a one-line build on top of it. The interpreter itself, its standard
library, the virtual environment and the cockpit sources are bind-mounted read-only at
their own paths, so the image stays a few MB and runs exactly this checkout's demo.

``up`` builds the image if it is missing (or was built for another Python), creates the
container (host network, restart on failure, the demo's state folder mounted read-write
so its audit log can be followed from the host) and waits until it is healthy. The
engine is the one ``DOCKER_HOST`` names (the default socket otherwise).

Exit status: 0 done, 1 failed (the last line says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cockpit
from cockpit.demo.settings import (
    DEFAULT_HOST,
    ENV_API_KEY,
    ENV_LOG_STDOUT,
    ENV_PORT,
    ENV_STATE,
    api_key,
    configured_port,
    resolve_state_dir,
)

IMAGE = "cockpit-demo:latest"
BASE = "cockpit-demo-rootfs:latest"
CONTAINER = "cockpit-demo"
LABEL = "cockpit.demo.runtime"  #: which Python the image was built for
UP_DEADLINE_S = 60.0
#: busybox applets linked in /bin (the healthcheck and the cancel helper need some).
APPLETS = ("sh", "ash", "cat", "echo", "env", "grep", "kill", "ls", "ps", "sleep", "tr",
           "wget", "test", "true", "false", "id", "mkdir", "rm", "date", "head", "tail", "wc")


class DemoImageError(Exception):
    """Why the image or the container could not be made."""


def busybox_path() -> str:
    """A statically linked busybox on this host (Debian: the busybox-static package)."""
    for candidate in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if candidate and os.path.isfile(candidate) and not _dynamic(candidate):
            return candidate
    raise DemoImageError("no static busybox found: apt-get install busybox-static")


def _dynamic(path: str) -> bool:
    """Whether the ELF file at ``path`` asks for a dynamic loader (PT_INTERP)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
            return True
        little = head[5] == 1
        order = "little" if little else "big"
        phoff = int.from_bytes(head[32:40], order)
        phentsize = int.from_bytes(head[54:56], order)
        phnum = int.from_bytes(head[56:58], order)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(int.from_bytes(table[i * phentsize : i * phentsize + 4], order) == 3
               for i in range(phnum))


def runtime_paths() -> list[str]:
    """Host folders to mount read-only: the interpreter's prefix, the venv, the sources."""
    paths = [os.path.realpath(sys.base_prefix), os.path.abspath(sys.prefix)]
    source = str(Path(cockpit.__file__).resolve().parent.parent)
    paths.append(source)
    executable = os.path.realpath(sys.executable)
    paths.append(os.path.dirname(executable))
    out: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in out):
            out.append(path)
    return out


def _shared_objects() -> list[str]:
    """The interpreter, its extension modules and those of the virtual environment."""
    files = [os.path.realpath(sys.executable)]
    base = Path(os.path.realpath(sys.base_prefix)) / "lib"
    files += [str(p) for p in base.glob("python3*/lib-dynload/*.so")
              if not p.name.startswith("_tkinter")]  # Tk pulls in X11: not needed
    if os.path.abspath(sys.prefix) != os.path.realpath(sys.base_prefix):
        venv = Path(sys.prefix) / "lib"
        files += [str(p) for p in venv.glob("python3*/site-packages/**/*.so")]
    return files


def needed_libraries(objects: Iterable[str]) -> list[str]:
    """The shared libraries (and the loader) ``objects`` need (ldd), outside the folders
    that are mounted anyway."""
    mounted = [p.rstrip("/") + "/" for p in runtime_paths()]
    found: set[str] = set()
    objects = list(objects)
    for start in range(0, len(objects), 64):
        proc = subprocess.run(["ldd", *objects[start:start + 64]], capture_output=True,
                              text=True, check=False)
        for line in proc.stdout.splitlines():
            line = line.strip()
            if "=>" in line:
                target = line.split("=>", 1)[1].strip().split(" (")[0].strip()
            else:
                target = line.split(" (")[0].strip()
            if not target.startswith("/") or not os.path.exists(target):
                continue
            target = os.path.normpath(target)
            if not any(target.startswith(m) or os.path.realpath(target).startswith(m)
                       for m in mounted):
                found.add(target)
    return sorted(found)


def rootfs_tar(busybox: str, libraries: Iterable[str]) -> bytes:
    """The image's root filesystem as an uncompressed tarball."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def directory(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def data(name: str, content: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))

        made: set[str] = set()

        def parents(name: str) -> None:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folder = "/".join(parts[:i])
                if folder and folder not in made:
                    made.add(folder)
                    directory(folder)

        for folder in ("bin", "etc", "proc", "sys", "dev", "root", "var", "run"):
            parents(folder + "/x")
        directory("tmp", 0o1777)
        made.add("tmp")
        with open(busybox, "rb") as f:
            data("bin/busybox", f.read(), 0o755)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        data("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                           b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        data("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        for library in libraries:
            name = library.lstrip("/")
            parents(name)
            with open(os.path.realpath(library), "rb") as f:
                data(name, f.read(), 0o755)
    return buf.getvalue()


def _runtime_tag(libraries: list[str]) -> str:
    text = "\n".join([sys.executable, *runtime_paths(), *libraries])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _client() -> Any:
    try:
        import docker
    except ImportError:
        raise DemoImageError(
            "the Docker SDK is missing: pip install 'runbook-cockpit[docker]'"
        ) from None
    try:
        return docker.from_env(timeout=60)
    except Exception as exc:
        from cockpit.core.backends.docker.engine import describe_error, engine_host

        raise DemoImageError(describe_error(exc, engine_host(None))) from None


def build(client: Any, *, force: bool = False) -> str:
    """Build ``IMAGE`` for this Python unless it exists; returns the image tag."""
    import docker

    libraries = needed_libraries(_shared_objects())
    tag = _runtime_tag(libraries)
    if not force:
        try:
            image = client.images.get(IMAGE)
            if (image.labels or {}).get(LABEL) == tag:
                return IMAGE
        except docker.errors.ImageNotFound:
            pass
    print(f"building {IMAGE}: busybox + {len(libraries)} shared libraries", flush=True)
    tarball = rootfs_tar(busybox_path(), libraries)
    client.api.import_image_from_data(tarball, repository=BASE.split(":")[0],
                                      tag=BASE.split(":")[1])
    dockerfile = (
        f"FROM {BASE}\n"
        f"LABEL {LABEL}={tag}\n"
        "ENV PATH=/bin PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n"
        "HEALTHCHECK --interval=2s --timeout=2s --start-period=20s --retries=3 "
        "CMD wget -q -O /dev/null \"http://127.0.0.1:${COCKPIT_DEMO_PORT:-8765}/health\" "
        "|| exit 1\n"
        'CMD ["sh"]\n'
    )
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=IMAGE, rm=True,
                            pull=False)
    except docker.errors.BuildError as exc:
        raise DemoImageError(f"docker build failed: {exc}") from None
    print(f"built {IMAGE}", flush=True)
    return IMAGE


def up(client: Any, name: str, port: int, state: Path) -> int:
    """Create (or start) the demo container and wait until its healthcheck passes."""
    import docker

    build(client)
    state.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cockpit.demo", "serve", "--host", DEFAULT_HOST,
               "--port", str(port), "--state-dir", str(state)]
    volumes = {path: {"bind": path, "mode": "ro"} for path in runtime_paths()}
    volumes[str(state)] = {"bind": str(state), "mode": "rw"}
    environment = {ENV_PORT: str(port), ENV_STATE: str(state), ENV_LOG_STDOUT: "1",
                   ENV_API_KEY: api_key()}
    wanted = hashlib.sha256(repr((client.images.get(IMAGE).id, command, sorted(volumes),
                                  sorted(environment.items()))).encode()).hexdigest()[:16]
    try:
        container = client.containers.get(name)
        if (container.labels or {}).get("cockpit.demo.config") != wanted:
            print(f"replacing {name}: its image or settings changed", flush=True)
            container.remove(force=True)
            raise docker.errors.NotFound("replaced")
    except docker.errors.NotFound:
        container = client.containers.create(
            IMAGE, command, name=name, network_mode="host", volumes=volumes,
            working_dir=str(state), environment=environment,
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 5},
            labels={"cockpit.demo": "1", "cockpit.demo.config": wanted},
        )
        print(f"created container {name} ({container.short_id}) from {IMAGE}", flush=True)
    container.reload()
    if container.status == "paused":
        container.unpause()
    elif container.status != "running":
        container.start()
    print(f"starting {name}: the demo service on http://{DEFAULT_HOST}:{port}", flush=True)
    deadline = time.monotonic() + UP_DEADLINE_S
    while True:
        container.reload()
        state_info = container.attrs["State"]
        health = (state_info.get("Health") or {}).get("Status")
        if health == "healthy":
            print(f"✓ {name} is healthy (pid {state_info.get('Pid')})", flush=True)
            return 0
        if state_info.get("Status") in ("exited", "dead") and not state_info.get("Restarting"):
            tail = container.logs(tail=5).decode("utf-8", "replace").strip()
            raise DemoImageError(f"{name} exited with {state_info.get('ExitCode')}: {tail}")
        if time.monotonic() > deadline:
            raise DemoImageError(f"{name} is not healthy after {UP_DEADLINE_S:.0f}s "
                                 f"(health: {health})")
        time.sleep(0.25)


def down(client: Any, name: str) -> int:
    """Stop and remove the demo container."""
    import docker

    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        print(f"{name} does not exist: nothing to stop", flush=True)
        return 0
    container.stop(timeout=10)
    container.remove()
    print(f"stopped and removed {name}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cockpit.demo.docker_demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "build"])
    parser.add_argument("--name", default=os.environ.get("COCKPIT_DOCKER_DEMO", CONTAINER))
    parser.add_argument("--force", action="store_true", help="build: rebuild the image")
    args = parser.parse_args(argv)
    try:
        client = _client()
        if args.command == "build":
            build(client, force=args.force)
            return 0
        if args.command == "down":
            return down(client, args.name)
        return up(client, args.name, configured_port(None), resolve_state_dir(None).root)
    except DemoImageError as exc:
        print(f"✗ {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # the SDK's errors: one line, no traceback
        print(f"✗ {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
