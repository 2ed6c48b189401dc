"""Cloud Monitoring figures (cloudrun/monitoring.py) against the GCP double seeded like
tai-erlang: all traffic on green, then half of it shifted to the bad blue revision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cockpit.core.backends.cloudrun import monitoring as cm
from cockpit.core.backends.cloudrun.api import GoogleAPI, GoogleAPIError
from cockpit.core.backends.cloudrun.auth import TokenSource
from cockpit.core.backends.cloudrun.options import CloudRunOptions
from tests.gcpdouble.seed import BLUE, GREEN, PROJECT, SERVICE


@pytest.fixture
async def api(gcp_env) -> AsyncIterator[GoogleAPI]:
    """The backend's client, reaching the double through gcloud's exports."""
    opts = CloudRunOptions.model_validate({"kind": "cloudrun", "project": PROJECT})
    client = GoogleAPI(opts, TokenSource(token_file=gcp_env["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]))
    yield client
    await client.aclose()


async def stats(api: Any, region: str = "us-central1") -> dict[str, float]:
    return await cm.service_stats(api, PROJECT, region, SERVICE, window=300)


async def test_all_traffic_on_green(gcp, api) -> None:
    assert await stats(api) == {"request_rate": pytest.approx(10.0), "error_rate": 0.0,
                                "p99_latency_ms": pytest.approx(120.0), "instances": 2.0}


async def test_half_on_blue_shows_its_errors_latency_and_instances(gcp, api) -> None:
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 50, BLUE: 50},
                    tags={GREEN: "green", BLUE: "blue"})
    got = await stats(api)
    assert got == {"request_rate": pytest.approx(10.0), "error_rate": pytest.approx(6.0),
                   "p99_latency_ms": pytest.approx(850.0), "instances": 4.0}
    # the other region is untouched
    assert (await stats(api, "europe-west1"))["error_rate"] == 0.0


async def test_request_rate_follows_the_service(gcp, api) -> None:
    gcp.set_metrics("us-central1", SERVICE, request_rate=25.0)
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 90, BLUE: 10},
                    tags={GREEN: "green", BLUE: "blue"})
    got = await stats(api)
    assert got["request_rate"] == pytest.approx(25.0)
    assert got["error_rate"] == pytest.approx(1.2)


async def test_an_unknown_service_has_no_traffic(gcp, api) -> None:
    got = await cm.service_stats(api, PROJECT, "us-central1", "nope", window=300)
    assert got == {"request_rate": 0.0, "error_rate": 0.0, "instances": 0.0}


async def test_an_error_is_raised_with_its_status(gcp, api) -> None:
    gcp.inject("GET", r"/timeSeries", 403, times=3)
    with pytest.raises(GoogleAPIError, match=r"^Cloud Monitoring: 403 PERMISSION_DENIED") as info:
        await stats(api)
    assert info.value.status == 403
