"""Both credential paths of the gcp double, proved with google-auth itself: an ADC file
(authorized_user refresh token; a service-account key's JWT) against ``/token``, and the
metadata server via ``GCE_METADATA_HOST``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import google.oauth2.service_account
import httpx
import pytest

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
LIST = "/v2/projects/tai-erlang-demo/locations/us-central1/services"


def _works(gcp, token: str) -> bool:
    return httpx.get(gcp.url + LIST, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_adc_authorized_user_file_refreshes_through_the_token_endpoint(gcp, tmp_path, monkeypatch):
    path = gcp.write_adc_file(tmp_path / "application_default_credentials.json")
    info = json.loads(path.read_text())
    assert info["type"] == "authorized_user" and info["token_uri"] == f"{gcp.url}/token"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    gcp.redirect_oauth(monkeypatch)  # google-auth ignores an authorized_user file's token_uri
    creds, _project = google.auth.default(scopes=SCOPES)
    assert isinstance(creds, google.oauth2.credentials.Credentials)
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token and creds.expiry is not None
    assert _works(gcp, creds.token)
    assert gcp.credentials.grants == ["refresh_token"]


def test_adc_from_gclouds_config_folder(gcp, tmp_path, monkeypatch):
    config = tmp_path / "gcloud"
    gcp.write_adc_file(config / "application_default_credentials.json")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config))
    gcp.redirect_oauth(monkeypatch)
    creds, _ = google.auth.default(scopes=SCOPES)
    creds.refresh(google.auth.transport.requests.Request())
    assert _works(gcp, creds.token)


def test_service_account_key_jwt_bearer_grant(gcp, tmp_path, monkeypatch):
    path = gcp.write_service_account_key(tmp_path / "key.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    creds, project = google.auth.default(scopes=SCOPES)
    assert isinstance(creds, google.oauth2.service_account.Credentials)
    assert project == "tai-erlang-demo"
    creds.refresh(google.auth.transport.requests.Request())
    assert _works(gcp, creds.token)
    assert gcp.credentials.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_the_gcp_adc_fixture(gcp, gcp_adc):
    creds, _ = google.auth.default(scopes=SCOPES)
    creds.refresh(google.auth.transport.requests.Request())
    assert _works(gcp, creds.token)


def test_a_revoked_refresh_token_or_forged_key_is_refused(gcp, tmp_path, monkeypatch):
    gcp.redirect_oauth(monkeypatch)
    path = gcp.write_adc_file(tmp_path / "adc.json")
    info = json.loads(path.read_text())
    info["refresh_token"] = "1//revoked"
    creds = google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        creds.refresh(google.auth.transport.requests.Request())
    key = json.loads(gcp.write_service_account_key(tmp_path / "key.json").read_text())
    other = json.loads(gcp.write_service_account_key(tmp_path / "other.json").read_text())
    key["private_key"] = other["private_key"]  # signed by another key than its kid names
    forged = google.oauth2.service_account.Credentials.from_service_account_info(key, scopes=SCOPES)
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        forged.refresh(google.auth.transport.requests.Request())


def test_metadata_server_through_gce_metadata_host(gcp, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCE_", "CLOUDSDK_"))}
    env.update(gcp.metadata_env(), CLOUDSDK_CONFIG=str(tmp_path / "empty-gcloud"), GCE_METADATA_TIMEOUT="5")
    code = ("import google.auth, google.auth.transport.requests as r\n"
            "c, p = google.auth.default(scopes=['https://www.googleapis.com/auth/cloud-platform'])\n"
            "c.refresh(r.Request())\nprint(type(c).__module__, p, c.token, c.service_account_email)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    module, project, token, email = out.stdout.split()
    assert module == "google.auth.compute_engine.credentials"
    assert project == "tai-erlang-demo"
    assert email == "tai-erlang-demo-compute@developer.gserviceaccount.com"
    assert _works(gcp, token)
    assert "metadata" in gcp.credentials.grants


def test_metadata_requires_its_header(gcp):
    url = gcp.url + "/computeMetadata/v1/project/project-id"
    assert httpx.get(url).status_code == 403
    resp = httpx.get(url, headers={"Metadata-Flavor": "Google"})
    assert resp.text == "tai-erlang-demo" and resp.headers["metadata-flavor"] == "Google"
    token = httpx.get(gcp.url + "/computeMetadata/v1/instance/service-accounts/default/token",
                      headers={"Metadata-Flavor": "Google"}).json()
    assert token["token_type"] == "Bearer" and _works(gcp, token["access_token"])


def test_issued_tokens_expire_and_can_be_revoked_the_file_token_stays(gcp):
    token = gcp.issue_token("someone@example.com")
    assert _works(gcp, token)
    real = gcp.state.clock
    gcp.state.clock = lambda: real() + gcp.token_lifetime + 1
    assert not _works(gcp, token)
    assert _works(gcp, gcp.token)
    gcp.state.clock = real
    assert _works(gcp, token)
    gcp.revoke_tokens()
    assert not _works(gcp, token) and _works(gcp, gcp.token)
    old = gcp.token
    gcp.set_file_token("ya29.rotated")
    assert not _works(gcp, old) and _works(gcp, "ya29.rotated")
