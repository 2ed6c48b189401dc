"""``GcpDouble``: Cloud Run v2 (+ gcloud's v1), Cloud Logging v2, Cloud Monitoring v3, an OAuth2
token endpoint and a metadata server on one loopback port, also an HTTP proxy for gcloud.

Every helper is thread-safe (one lock over the state); requests are served by a
``ThreadingHTTPServer`` in a daemon thread.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.gcpdouble.app import register as register_app
from tests.gcpdouble.credentials import Credentials
from tests.gcpdouble.credentials import register as register_credentials
from tests.gcpdouble.errors import ApiError
from tests.gcpdouble.faults import Fault, Faults
from tests.gcpdouble.knative import register as register_knative
from tests.gcpdouble.logging_api import LogStore
from tests.gcpdouble.logging_api import register as register_logging
from tests.gcpdouble.monitoring_api import register as register_monitoring
from tests.gcpdouble.run_v2 import RunV2
from tests.gcpdouble.server import Request, Router, serve
from tests.gcpdouble.store import Operation, Revision, Service, State

FILE_PRINCIPAL = "operator@example.com"


class GcpDouble:
    """A loopback double of the Google APIs the Cloud Run backend calls (see README.md)."""

    def __init__(self, project: str = "tai-erlang-demo", clock: Callable[[], float] | None = None) -> None:
        import time

        self.project = project
        self.state = State(project, clock or time.time)
        self.faults = Faults()
        self.token = "ya29.double-file-" + secrets.token_hex(8)  # the token file's token
        self._tokens: dict[str, tuple[str, float | None]] = {self.token: (FILE_PRINCIPAL, None)}  # token -> (principal, expiry)
        self._lock = threading.Lock()
        self.router = Router(self._authorize, self.faults.take)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._dir: Path | None = None
        self._own_dir = False
        self.seeded: dict[str, Any] = {}
        self._stoppers: list[Callable[[], None]] = []
        self.logs = LogStore(self)
        self.credentials = Credentials(self)
        self.token_lifetime = 3599  # seconds, for tokens the double issues
        self._register()

    def _register(self) -> None:
        RunV2(self).register(self.router)
        register_logging(self.logs, self.router)
        register_monitoring(self, self.router)
        register_credentials(self.credentials, self.router)
        register_app(self, self.router)
        register_knative(self, self.router)

    # -- life cycle ----------------------------------------------------------------------
    def start(self, port: int = 0) -> GcpDouble:
        if self._server is None:
            self._server, self._thread = serve(self.router, port)
            self.state.service_url = lambda region, name: f"{self.url}/run.app/{region}/{name}"
        return self

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            stop()
        self._stoppers.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(10)
            self._server = self._thread = None
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> GcpDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_stop(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the double stops (background tickers register here)."""
        self._stoppers.append(fn)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the gcp double is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: every API on the direct port (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- files and environment -----------------------------------------------------------
    def directory(self, folder: str | Path | None = None) -> Path:
        """Where the double writes its files (token file, gcloud config): ``folder`` or a temp dir."""
        if folder is not None:
            self._dir = Path(folder)
            self._dir.mkdir(parents=True, exist_ok=True)
        elif self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="gcpdouble-"))
            self._own_dir = True
        return self._dir

    def write_token_file(self, path: str | Path) -> Path:
        """Write the fixed access token (``CLOUDSDK_AUTH_ACCESS_TOKEN_FILE``) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.token + "\n")
        return path

    def env(self, folder: str | Path | None = None) -> dict[str, str]:
        """The exports that point gcloud and the cockpit at this double (files in ``folder``)."""
        base = self.directory(folder)
        config = base / "gcloud"
        config.mkdir(parents=True, exist_ok=True)
        token = self.write_token_file(base / "access-token")
        regions = self.state.regions or ["us-central1"]
        out = {
            "CLOUDSDK_CONFIG": str(config),
            "CLOUDSDK_CORE_PROJECT": self.project,
            "CLOUDSDK_RUN_REGION": regions[0],
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "http://run.fake/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": "http://logging.fake/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING": "http://monitoring.fake/",
            "CLOUDSDK_PROXY_TYPE": "http",
            "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
            "CLOUDSDK_PROXY_PORT": str(self.port),
        }
        tai = self.seeded.get("service_url")
        if tai:
            out["TAI_SERVICE_URL"] = tai
        return out

    # -- auth ----------------------------------------------------------------------------
    def issue_token(self, principal: str) -> str:
        """A new access token for ``principal``, valid ``token_lifetime`` s."""
        token = "ya29.double-" + secrets.token_hex(12)
        with self._lock:
            self._tokens[token] = (principal, self.state.clock() + self.token_lifetime)
        return token

    def revoke_tokens(self, keep_file_token: bool = True) -> None:
        """Every issued token becomes invalid (the next call gets 401); the file's stays unless told."""
        with self._lock:
            self._tokens = {self.token: (FILE_PRINCIPAL, None)} if keep_file_token else {}

    def write_adc_file(self, path: str | Path, principal: str = "adc-user@example.com") -> Path:
        """An ``authorized_user`` ADC file (``gcloud auth application-default login``'s shape)
        whose refresh token this double's ``/token`` honours."""
        return self.credentials.write_adc_file(path, principal)

    def write_service_account_key(self, path: str | Path, name: str = "cockpit-operator") -> Path:
        """A service-account key file whose JWTs this double's ``/token`` verifies."""
        return self.credentials.write_service_account_key(path, name)

    def redirect_oauth(self, monkeypatch: Any) -> None:
        """Send google-auth's authorized_user refreshes to this double's ``/token``.

        google-auth 2.x ignores an ADC file's ``token_uri`` for ``authorized_user`` files
        (``from_authorized_user_info`` always uses ``https://oauth2.googleapis.com/token``);
        this patches that module constant for the test (``monkeypatch`` undoes it).
        Service-account keys honour their ``token_uri`` and need no patch."""
        import google.oauth2.credentials

        monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", f"{self.url}/token")

    def metadata_env(self) -> dict[str, str]:
        """``GCE_METADATA_HOST``/``GCE_METADATA_IP`` naming this double's metadata server."""
        host = f"127.0.0.1:{self.port}"
        return {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host}

    def set_file_token(self, token: str | None = None) -> str:
        """Replace the token file's token (the old one stops working); returns the new one."""
        with self._lock:
            self._tokens.pop(self.token, None)
            self.token = token or "ya29.double-file-" + secrets.token_hex(8)
            self._tokens[self.token] = (FILE_PRINCIPAL, None)
        return self.token

    def _authorize(self, req: Request) -> bool:
        return self.principal(req) is not None

    def principal(self, req: Request) -> str | None:
        header = req.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        with self._lock:
            found = self._tokens.get(header[7:].strip())
        if found is None or (found[1] is not None and found[1] <= self.state.clock()):
            return None
        return found[0]

    def caller(self, req: Request) -> str:
        return self.principal(req) or "unknown"

    # -- faults and operations -----------------------------------------------------------
    def inject(self, method: str | None, path: str, code: int, times: int | None = 1,
               message: str | None = None, status: str | None = None) -> Fault:
        """The next ``times`` requests (None: all) of ``method`` on paths ``path`` (a regex,
        searched) get ``code`` (400/403/404/409/429/503) in Google's error shape."""
        return self.faults.add(Fault(method, re.compile(path), code, message, status, times))

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def op_polls(self) -> int | None:
        """Polls (of the operation or its service) before a new operation is done; None: held."""
        return self.state.op_polls

    @op_polls.setter
    def op_polls(self, value: int | None) -> None:
        self.state.op_polls = value

    def complete_operations(self) -> None:
        self.state.complete_operations()

    def operations(self) -> list[Operation]:
        with self.state.lock:
            return list(self.state.operations.values())

    # -- seeding and mutating ------------------------------------------------------------
    def add_service(self, region: str, name: str, **kwargs: Any) -> Service:
        return self.state.add_service(region, name, **kwargs)

    def add_revision(self, region: str, service: str, name: str, image: str, *, ready: bool = True,
                     reason: str = "CONTAINER_MISSING", message: str = "", **kwargs: Any) -> Revision:
        """A revision (the newest of its service); failed ones carry ``reason``/``message``."""
        return self.state.add_revision(region, service, name, image, ready=ready, reason=reason,
                                       message=message, **kwargs)

    def set_traffic(self, region: str, service: str, split: dict[str, int] | Iterable[dict[str, Any]],
                    tags: dict[str, str] | None = None) -> None:
        """Set spec and serving traffic at once. ``split``: {revision: percent} (``tags``:
        {revision: tag}; a tagged revision absent from ``split`` gets 0%) or neutral entries."""
        if isinstance(split, dict):
            tags = tags or {}
            entries = [{"revision": r, "percent": p, "tag": tags.get(r)} for r, p in split.items()]
            entries += [{"revision": r, "percent": 0, "tag": t} for r, t in tags.items() if r not in split]
        else:
            entries = list(split)
        self.state.apply_traffic_now(region, service, entries)

    def set_metrics(self, region: str, service: str, *, request_rate: float | None = None) -> None:
        """The service's total request rate (req/s over its serving revisions; default 10)."""
        with self.state.lock:
            if request_rate is not None:
                self.state.service(region, service).request_rate = request_rate

    def set_revision(self, region: str, revision: str, **values: Any) -> Revision:
        """Change a revision's behaviour: ``error_ratio``, ``p99_ms``, ``mean_ms``, ``instances``,
        ``healthy``, ``ready``/``reason``/``message``."""
        with self.state.lock:
            rev = self.state.revision(region, revision)
            for key, value in values.items():
                if not hasattr(rev, key) or key in ("region", "service", "name"):
                    raise AttributeError(f"a revision has no settable {key!r}")
                setattr(rev, key, value)
            return rev

    def service(self, region: str, name: str) -> Service:
        return self.state.service(region, name)

    def revision(self, region: str, name: str) -> Revision:
        return self.state.revision(region, name)

    def serving_split(self, region: str, service: str) -> dict[str, int]:
        """The split in effect now: {revision: percent}, zero shares omitted."""
        return self.state.serving_split(region, service)

    def traffic(self, region: str, service: str) -> list[dict[str, Any]]:
        """The spec's traffic entries (``revision`` None = latest), copies."""
        with self.state.lock:
            return [dict(t) for t in self.state.service(region, service).traffic]

    # -- logs ----------------------------------------------------------------------------
    def append_log(self, region: str, service: str, revision: str, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Append a Cloud Logging entry of ``revision`` (``severity``, ``json_payload``,
        ``http_request``, ``timestamp`` epoch, ``log``, ``insert_id`` optional); returns it."""
        return self.logs.append(region, service, revision, text, **kwargs)

    def tick_logs(self) -> None:
        """One round of the seed's app logs (each revision with traffic logs a line)."""
        self.logs.tick()

    def start_log_ticker(self, every: float = 1.0) -> Callable[[], None]:
        """``tick_logs()`` every ``every`` s in the background; returns stop()."""
        return self.logs.ticker(every, self.logs.tick)

    def tick_revision_log(self, region: str, service: str, revision: str, every: float,
                          text: Callable[[int], str] = lambda n: f"tick {n}", severity: str = "INFO") -> Callable[[], None]:
        """Append ``text(n)`` (n = 1, 2, ...) to ``revision``'s log every ``every`` s; returns stop()."""
        counter = iter(range(1, 1 << 62))
        return self.logs.ticker(every, lambda: self.logs.append(region, service, revision, text(next(counter)),
                                                                severity=severity))

    def log_entries(self) -> list[dict[str, Any]]:
        with self.logs.lock:
            return [e for _, _, e in self.logs.entries]

    def throttle_logs(self, times: int = 1) -> Fault:
        """The next ``times`` entries:list calls get a bare 429 RESOURCE_EXHAUSTED."""
        return self.inject("POST", r"^/v2/entries:list$", 429, times=times)

    def requests(self) -> list[tuple[str, str, str]]:
        """Every request served so far: (method, host, path?query)."""
        with self.router.log_lock:
            return list(self.router.log)


__all__ = ["ApiError", "GcpDouble"]
