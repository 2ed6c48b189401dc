"""``backend: {kind: cloudrun, ...}`` options, with gcloud's environment as defaults.

Validated when the profile is loaded (unknown keys and bad values are ``FILE:LINE``
problems); what comes from the environment (``$CLOUDSDK_CORE_PROJECT``,
``$CLOUDSDK_RUN_REGION``, endpoint overrides, the token file) is read when the backend
is made, so one set of gcloud exports works for gcloud and the cockpit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cockpit.core.backends.options import Duration, Names, ProcessOptions
from cockpit.core.errors import CockpitError

Api = Literal["run", "logging", "monitoring"]
DEFAULT_ENDPOINTS: dict[str, str] = {
    "run": "https://run.googleapis.com/",
    "logging": "https://logging.googleapis.com/",
    "monitoring": "https://monitoring.googleapis.com/",
}
REGION = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+$")
#: a Cloud Run service name (RFC 1035 label, up to 49 characters)
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$|^[a-z0-9.:-]{1,100}$")
_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


class Endpoints(BaseModel):
    """Base URLs serving ``/v2/...`` (run, logging) and ``/v3/...`` (monitoring)."""

    model_config = ConfigDict(extra="forbid")

    run: str | None = None
    logging: str | None = None
    monitoring: str | None = None

    @field_validator("run", "logging", "monitoring")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _URL.match(value):
            raise ValueError(f"{value!r} is not an http(s) URL (https://run.googleapis.com/)")
        return value


class CloudRunOptions(ProcessOptions):
    """Services and revisions of one Google Cloud project in one or more regions.

    Without ``project``: ``$CLOUDSDK_CORE_PROJECT``, else ``$GOOGLE_CLOUD_PROJECT``,
    else the project of the Application Default Credentials; without ``region`` /
    ``regions``: ``$CLOUDSDK_RUN_REGION``; without ``services``: every service there.
    """

    project: str | None = None
    region: str | None = None
    regions: Names = Field(default_factory=list)
    services: Names = Field(default_factory=list)
    endpoints: Endpoints = Field(default_factory=Endpoints)
    #: a service-account key or ADC JSON file (default: Application Default Credentials)
    credentials: str | None = None
    #: a file holding a fixed access token, as gcloud honours it
    #: (default ``$CLOUDSDK_AUTH_ACCESS_TOKEN_FILE``)
    access_token_file: str | None = None
    #: the service or revision of actions without a target (``REGION/SERVICE`` or a name)
    default_target: str | None = None
    timeout: Duration = 10.0  #: one API call
    operation_timeout: Duration = 300.0  #: following a long-running operation
    logs_poll: Duration = 2.0  #: Cloud Logging is polled this often when following
    metrics_window: Duration = 300.0  #: the window of Cloud Monitoring statistics
    gcloud: str = "gcloud"  #: the gcloud of previews

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a region is listed twice")
        for name in value:
            if not REGION.match(name):
                raise ValueError(f"{name!r} is not a region name (us-central1)")
        return value

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a service is listed twice")
        for name in value:
            if not SERVICE_NAME.match(name):
                raise ValueError(f"{name!r} is not a Cloud Run service name")
        return value

    @model_validator(mode="after")
    def _checked(self) -> CloudRunOptions:
        if self.region is not None and self.regions:
            raise ValueError("options 'region' and 'regions' exclude each other")
        if self.region is not None and not REGION.match(self.region):
            raise ValueError(f"option 'region': {self.region!r} is not a region name "
                             "(us-central1)")
        for key in ("project", "region", "credentials", "access_token_file",
                    "default_target", "gcloud"):
            if getattr(self, key) == "":
                raise ValueError(f"option {key!r} must not be empty")
        if self.project is not None and not _PROJECT.match(self.project):
            raise ValueError(f"option 'project': {self.project!r} is not a project id")
        return self

    @field_validator("timeout", "operation_timeout", "logs_poll", "metrics_window")
    @classmethod
    def _above_zero(cls, value: float) -> float:
        # here, not in the model's check: the error then names the option's own line
        if value <= 0:
            raise ValueError("must be above 0")
        return value


def env_project(env: Mapping[str, str] | None = None) -> str | None:
    """``$CLOUDSDK_CORE_PROJECT``, else ``$GOOGLE_CLOUD_PROJECT`` (None: neither)."""
    env = os.environ if env is None else env
    return env.get("CLOUDSDK_CORE_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or None


def resolve_regions(opts: CloudRunOptions, env: Mapping[str, str] | None = None) -> list[str]:
    """The regions to list: the profile's, else ``$CLOUDSDK_RUN_REGION``; raises a
    one-line ``CockpitError`` naming the option when there are none."""
    env = os.environ if env is None else env
    if opts.regions:
        return list(opts.regions)
    if opts.region:
        return [opts.region]
    region = (env.get("CLOUDSDK_RUN_REGION") or "").strip()
    if region and REGION.match(region):
        return [region]
    if region:
        raise CockpitError(f"cloudrun backend: $CLOUDSDK_RUN_REGION {region!r} is not a "
                           "region name; set option 'regions' (us-central1)")
    raise CockpitError("cloudrun backend: no region: set option 'region' or 'regions' "
                       "(or $CLOUDSDK_RUN_REGION)")


def endpoint(opts: CloudRunOptions, api: Api, env: Mapping[str, str] | None = None) -> str:
    """The base URL of ``api`` (ends with ``/``): the profile's, else
    ``$CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>``, else Google's."""
    env = os.environ if env is None else env
    base = (getattr(opts.endpoints, api)
            or env.get(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}")
            or DEFAULT_ENDPOINTS[api])
    return base if base.endswith("/") else base + "/"


def token_file(opts: CloudRunOptions, env: Mapping[str, str] | None = None) -> str | None:
    """The fixed-token file: the profile's, else ``$CLOUDSDK_AUTH_ACCESS_TOKEN_FILE``."""
    env = os.environ if env is None else env
    return opts.access_token_file or env.get("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE") or None


def proxy_url(env: Mapping[str, str] | None = None) -> str | None:
    """``http://ADDRESS:PORT`` when gcloud's proxy settings name an HTTP proxy
    (``CLOUDSDK_PROXY_TYPE=http``, ``_ADDRESS``, ``_PORT``; user and password when
    set); None otherwise (httpx then honours ``HTTPS_PROXY`` as usual)."""
    env = os.environ if env is None else env
    kind = (env.get("CLOUDSDK_PROXY_TYPE") or "").strip().lower()
    address = (env.get("CLOUDSDK_PROXY_ADDRESS") or "").strip()
    port = (env.get("CLOUDSDK_PROXY_PORT") or "").strip()
    if kind not in ("http", "http_no_tunnel") or not address or not port.isdigit():
        return None
    user = env.get("CLOUDSDK_PROXY_USERNAME")
    password = env.get("CLOUDSDK_PROXY_PASSWORD")
    from urllib.parse import quote

    auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"http://{auth}{host}:{port}"
