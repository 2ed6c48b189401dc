"""Access tokens for Google's APIs, as gcloud's users have them.

``TokenSource.token()``: a fixed token from a file (``access_token_file``, default
``$CLOUDSDK_AUTH_ACCESS_TOKEN_FILE``; read again when the file changes), else
Application Default Credentials (``credentials`` option, else google-auth's search:
``$GOOGLE_APPLICATION_CREDENTIALS``, gcloud's ``application_default_credentials.json``,
the metadata server). google-auth is imported, and tokens fetched and refreshed, in a
thread (``asyncio.to_thread``): never at module import, never on the event loop.
Missing or unusable credentials are one line saying what to run.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from cockpit.core.errors import CockpitError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# (never "credentials: run ...": the boundary reads a secret-named pair there)
NO_CREDENTIALS = ("no Google credentials found; run `gcloud auth application-default login` "
                  "(or set GOOGLE_APPLICATION_CREDENTIALS)")
_TOKEN_MAX = 64 * 1024  #: bytes of a token file read at most


class TokenSource:
    """Bearer tokens for the APIs; ``refresh()`` after a 401 gets a new one."""

    def __init__(self, *, token_file: str | None = None, credentials: str | None = None
                 ) -> None:
        self.token_file = token_file
        self.credentials_file = credentials
        self._lock = asyncio.Lock()
        self._file_state: tuple[float, int] | None = None
        self._file_token: str | None = None
        self._creds: Any = None
        self._project: str | None = None
        self._loaded = False

    @property
    def kind(self) -> str:
        """``token file`` or ``ADC`` (for messages)."""
        return "token file" if self.token_file else "ADC"

    async def token(self) -> str:
        """A valid access token (loading or refreshing credentials off the loop)."""
        async with self._lock:
            if self.token_file:
                return await asyncio.to_thread(self._read_file)
            return await asyncio.to_thread(self._adc_token, False)

    async def refresh(self) -> str:
        """A new token after the API refused the last one (401)."""
        async with self._lock:
            if self.token_file:
                self._file_state = None
                return await asyncio.to_thread(self._read_file)
            return await asyncio.to_thread(self._adc_token, True)

    async def project(self) -> str | None:
        """The project of the Application Default Credentials (None: they name none, or
        a token file is used)."""
        if self.token_file:
            return None
        async with self._lock:
            await asyncio.to_thread(self._load)
        return self._project

    def quota_project(self) -> str | None:
        """The credentials' quota project (``x-goog-user-project``), where they name one."""
        return getattr(self._creds, "quota_project_id", None) if self._creds else None

    # -- the token file ------------------------------------------------------------------

    def _read_file(self) -> str:
        path = os.path.expanduser(str(self.token_file))
        try:
            stat = os.stat(path)
            state = (stat.st_mtime, stat.st_size)
            if state == self._file_state and self._file_token:
                return self._file_token
            with open(path, "rb") as handle:
                data = handle.read(_TOKEN_MAX + 1)
        except OSError as exc:
            # the path in brackets: "access-token: No such file" reads as a secret pair
            raise CockpitError(f"cannot read the access token file ({path}): "
                               f"{exc.strerror or exc}") from None
        if len(data) > _TOKEN_MAX:
            raise CockpitError(f"the access token file {path} is over {_TOKEN_MAX} bytes")
        token = data.decode("utf-8", "replace").strip()
        if not token or any(c.isspace() for c in token):
            raise CockpitError(f"the access token file {path} holds no single token")
        self._file_state, self._file_token = state, token
        return token

    # -- Application Default Credentials -------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        import google.auth
        from google.auth import exceptions

        try:
            if self.credentials_file:
                path = os.path.expanduser(self.credentials_file)
                if not os.path.isfile(path):
                    raise CockpitError(f"Google credentials file not found: {path}")
                creds, project = _from_file(path)
            else:
                creds, project = google.auth.default(scopes=SCOPES)
        except (exceptions.DefaultCredentialsError, ValueError, KeyError) as exc:
            if self.credentials_file:
                raise CockpitError(f"unusable Google credentials file "
                                   f"{self.credentials_file}: {_one_line(exc)}") from None
            raise CockpitError(NO_CREDENTIALS) from None
        self._creds, self._project, self._loaded = creds, project or None, True

    def _adc_token(self, force: bool) -> str:
        self._load()
        creds = self._creds
        if force or not creds.valid:
            self._refresh_blocking(creds)
        token = getattr(creds, "token", None)
        if not token:
            raise CockpitError(NO_CREDENTIALS)
        return str(token)

    def _refresh_blocking(self, creds: Any) -> None:
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        try:
            creds.refresh(Request())
        except exceptions.RefreshError as exc:
            raise CockpitError(f"Google credentials refused ({_one_line(exc)}): run "
                               "`gcloud auth application-default login`") from None
        except exceptions.TransportError as exc:
            raise CockpitError(f"cannot get a Google access token: {_one_line(exc)}"
                               ) from None


def _from_file(path: str) -> tuple[Any, str | None]:
    """Credentials of a key or ADC file, by its ``type`` (the loader for that type only)."""
    import json
    import warnings

    import google.auth
    from google.auth import exceptions

    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        raise exceptions.DefaultCredentialsError(f"not a JSON credentials file: {exc}"
                                                 ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        return creds, info.get("project_id")
    if kind == "authorized_user":
        from google.oauth2 import credentials

        creds = credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
        return creds, info.get("quota_project_id")
    if kind is None:
        raise exceptions.DefaultCredentialsError("the file has no credentials 'type'")
    with warnings.catch_warnings():  # external accounts and the like: google-auth decides
        warnings.simplefilter("ignore", DeprecationWarning)
        return google.auth.load_credentials_from_file(path, scopes=SCOPES)


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (google-auth puts whole replies in some)."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    text = " ".join(first.split())
    return text if len(text) <= 300 else text[:297] + "..."
