"""The connection to one Docker engine, and errors put in words a user can act on.

The ``docker`` SDK is imported here, lazily, the first time a docker profile talks to
its engine: a local profile never pays for it (tests/test_import_hygiene.py).
"""

from __future__ import annotations

import errno
import importlib.util
import os
import threading
from typing import Any

from cockpit.core.errors import CockpitError

DEFAULT_HOST = "unix:///var/run/docker.sock"
#: HTTP connections kept per engine: every followed log, stats stream and exec holds one.
POOL_SIZE = 64


class EngineError(CockpitError):
    """The engine cannot be reached, refused the request, or has no such container."""


class NoSuchContainer(EngineError):
    """The named container does not exist (or is not a target of the profile)."""


def sdk_missing() -> str | None:
    """Why the Docker SDK cannot be used, or None when it is installed."""
    try:
        found = importlib.util.find_spec("docker") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return (
            "the docker backend needs the Docker SDK for Python: "
            "pip install 'runbook-cockpit[docker]'"
        )
    return None


def engine_host(option: str | None) -> str:
    """The engine URL: the profile's ``host``, else ``$DOCKER_HOST``, else the default."""
    return (option or os.environ.get("DOCKER_HOST") or DEFAULT_HOST).strip()


def describe_error(exc: BaseException, host: str) -> str:
    """One sentence for a failed call to the engine at ``host``."""
    from_sdk = _sdk_errors()
    if isinstance(exc, EngineError):
        return str(exc)
    if from_sdk is not None:
        not_found, api_error = from_sdk
        if isinstance(exc, not_found):
            return _explanation(exc) or "not found"
        if isinstance(exc, api_error):
            return f"the docker engine refused: {_explanation(exc) or exc}"
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
        for arg in getattr(chain[-1], "args", ()):  # urllib3 wraps the OSError in args
            if isinstance(arg, BaseException) and arg not in chain and len(chain) < 10:
                chain.append(arg)
    where = f"docker engine unreachable at {host}"
    for err in chain:
        if isinstance(err, PermissionError) or (
            isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM)
        ):
            return (
                f"permission denied on the docker socket {host}: add your user to the "
                "'docker' group (then log in again), or point DOCKER_HOST or the "
                "profile's backend.host at an engine you may use"
            )
        if isinstance(err, FileNotFoundError) or (
            isinstance(err, OSError) and err.errno == errno.ENOENT
        ):
            return f"{where}: no such socket (is dockerd running?)"
        if isinstance(err, ConnectionRefusedError) or (
            isinstance(err, OSError) and err.errno == errno.ECONNREFUSED
        ):
            return f"{where}: connection refused (is dockerd running?)"
        if isinstance(err, TimeoutError) or "timed out" in str(err).lower():
            return f"{where}: no answer (timed out)"
    text = " ".join(str(e) for e in chain[:3])
    lowered = text.lower()
    if "connection aborted" in lowered or "connection reset" in lowered or (
        "remotedisconnected" in lowered or "protocol" in lowered
    ):
        return f"{where}: the connection was lost"
    return f"{where}: {' '.join(text.split())[:200] or type(exc).__name__}"


def _explanation(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return " ".join(str(explanation or "").split())


def _sdk_errors() -> tuple[type[BaseException], type[BaseException]] | None:
    """The SDK's NotFound and APIError classes, if the SDK was already imported."""
    import sys

    errors = sys.modules.get("docker.errors")
    if errors is None:
        return None
    return errors.NotFound, errors.APIError


def is_not_found(exc: BaseException) -> bool:
    errors = _sdk_errors()
    return isinstance(exc, NoSuchContainer) or (errors is not None and isinstance(exc, errors[0]))


def is_api_error(exc: BaseException) -> bool:
    """The engine answered with an error (as opposed to: could not be reached)."""
    errors = _sdk_errors()
    return errors is not None and isinstance(exc, errors[1])


class Engine:
    """A lazily created low-level API client for one engine, shared by threads."""

    def __init__(self, host: str | None, timeout: float) -> None:
        self.host = engine_host(host)
        self._explicit = host
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The ``docker.APIClient`` (connects on first use; blocking; raises EngineError)."""
        with self._lock:
            if self._client is not None:
                return self._client
            problem = sdk_missing()
            if problem:
                raise EngineError(problem)
            try:
                import docker
                from docker.utils import kwargs_from_env

                env = dict(os.environ)
                if self._explicit:
                    env["DOCKER_HOST"] = self.host
                kwargs = kwargs_from_env(environment=env)
                kwargs.setdefault("base_url", self.host)
                self._client = docker.APIClient(
                    timeout=self.timeout, max_pool_size=POOL_SIZE, **kwargs
                )
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(describe_error(exc, self.host)) from None
            return self._client

    def call(self, what: str, func_name: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<func_name>(*args, **kwargs)``, errors as ``EngineError`` (blocking)."""
        client = self.client()
        try:
            return getattr(client, func_name)(*args, **kwargs)
        except Exception as exc:
            if is_not_found(exc):
                raise NoSuchContainer(f"{what}: {_explanation(exc) or 'not found'}") from None
            raise EngineError(describe_error(exc, self.host)) from None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        close_quietly(client)


def close_quietly(closable: Any) -> None:
    """Close a client or stream that may already be broken (the engine went away)."""
    if closable is None:
        return
    try:
        closable.close()
    except Exception:
        pass
