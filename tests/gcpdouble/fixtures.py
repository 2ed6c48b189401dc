"""Pytest fixtures (registered from tests/conftest.py through ``pytest_plugins``).

``gcp``: a started double seeded like tai-erlang (no background log ticking: call
``gcp.tick_logs()`` or ``gcp.start_log_ticker(every)``); ``gcp_env``: its exports set with
monkeypatch (files in the test's tmp folder); returns the dict. ``gcp_adc``: ``gcp_env``
plus an authorized_user ADC file as ``$GOOGLE_APPLICATION_CREDENTIALS`` (and
``CLOUDSDK_AUTH_ACCESS_TOKEN_FILE`` removed), google-auth's refreshes sent to the double;
returns the file's path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gcpdouble.double import GcpDouble
from tests.gcpdouble.seed import PROJECT, seed_tai_erlang


@pytest.fixture
def gcp() -> Iterator[GcpDouble]:
    double = GcpDouble(PROJECT).start()
    try:
        seed_tai_erlang(double)
        yield double
    finally:
        double.stop()


@pytest.fixture
def gcp_env(gcp: GcpDouble, tmp_path, monkeypatch) -> dict[str, str]:
    env = gcp.env(tmp_path / "gcpdouble")
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCE_METADATA_HOST",
                 "GCE_METADATA_IP", "CLOUDSDK_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def gcp_adc(gcp: GcpDouble, gcp_env: dict[str, str], tmp_path, monkeypatch):
    path = gcp.write_adc_file(tmp_path / "gcpdouble" / "application_default_credentials.json")
    monkeypatch.delenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    gcp.redirect_oauth(monkeypatch)
    return path
