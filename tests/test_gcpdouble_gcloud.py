"""The real gcloud (/usr/bin/gcloud, v1 Knative API through the double's proxy) and the v2 API
see ONE state. Each gcloud call costs about a second: keep them few. A missing gcloud fails."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.gcpdouble.gcloud import GCLOUD, run_gcloud
from tests.gcpdouble.knative import _selector
from tests.gcpdouble.seed import BLUE, BLUE_ERROR, GREEN, SERVICE

V2 = "/v2/projects/tai-erlang-demo/locations/us-central1/services/tai-autonomics"
V1 = "http://us-central1-run.fake/apis/serving.knative.dev/v1/namespaces/tai-erlang-demo"


@pytest.fixture
def client(gcp):
    with httpx.Client(base_url=gcp.url, headers={"Authorization": f"Bearer {gcp.token}"}, timeout=10) as c:
        yield c


def _split(status_traffic: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in status_traffic:
        out[t["revisionName"]] = out.get(t["revisionName"], 0) + t.get("percent", 0)
    return {k: v for k, v in out.items() if v}


def test_gcloud_is_installed():
    assert GCLOUD.endswith("gcloud")


def test_describe_shows_the_seeded_traffic_then_a_v2_change(gcp, client, tmp_path):
    out = run_gcloud(gcp, "run", "services", "describe", SERVICE, "--format=json", folder=tmp_path)
    svc = json.loads(out.stdout)
    assert _split(svc["status"]["traffic"]) == {GREEN: 100}
    assert {t.get("tag") for t in svc["status"]["traffic"]} == {"green", "blue"}
    assert svc["status"]["url"] == gcp.seeded["service_url"]
    etag = client.get(V2).json()["etag"]
    body = {"etag": etag, "traffic": [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": BLUE, "percent": 25, "tag": "blue"},
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": GREEN, "percent": 75, "tag": "green"}]}
    op = client.patch(V2, params={"updateMask": "traffic"}, json=body).json()
    assert client.get(f"/v2/{op['name']}").json()["done"] is True
    out = run_gcloud(gcp, "run", "services", "describe", SERVICE, "--format=json", folder=tmp_path)
    assert _split(json.loads(out.stdout)["status"]["traffic"]) == {BLUE: 25, GREEN: 75}


def test_gcloud_update_traffic_shows_through_v2(gcp, client, tmp_path):
    out = run_gcloud(gcp, "run", "services", "update-traffic", SERVICE,
                     f"--to-revisions={BLUE}=10,{GREEN}=90", folder=tmp_path)
    assert "10%" in out.stdout + out.stderr
    svc = client.get(V2).json()
    assert "reconciling" not in svc and svc["observedGeneration"] == svc["generation"]
    split: dict[str, int] = {}
    for t in svc["trafficStatuses"]:
        split[t["revision"]] = split.get(t["revision"], 0) + t.get("percent", 0)
    assert {k: v for k, v in split.items() if v} == {BLUE: 10, GREEN: 90}
    assert {t.get("tag") for t in svc["traffic"]} >= {"green", "blue"}  # gcloud keeps tags as 0% targets
    assert gcp.serving_split("us-central1", SERVICE) == {BLUE: 10, GREEN: 90}


def test_gcloud_logging_read_returns_the_seeded_entries(gcp, tmp_path):
    out = run_gcloud(gcp, "logging", "read", 'resource.type="cloud_run_revision" AND severity>=ERROR',
                     "--limit=5", "--format=json", folder=tmp_path)
    entries = json.loads(out.stdout)
    assert [e["jsonPayload"]["message"] for e in entries] == [BLUE_ERROR]
    assert entries[0]["resource"]["labels"]["revision_name"] == BLUE


def test_v1_revisions_label_selector_put_conflicts_and_delete(gcp):
    headers = {"Authorization": f"Bearer {gcp.token}"}
    with httpx.Client(proxy=gcp.url, headers=headers, timeout=10) as c:
        revs = c.get(f"{V1}/revisions", params={"labelSelector": f"serving.knative.dev/service = {SERVICE}"}).json()
        assert [r["metadata"]["name"] for r in revs["items"]] == [BLUE, GREEN]
        assert c.get(f"{V1}/revisions", params={"labelSelector": "serving.knative.dev/service=x"}).json()["items"] == []
        svc = c.get(f"{V1}/services/{SERVICE}").json()
        stale = json.loads(json.dumps(svc))
        svc["spec"]["traffic"] = [{"revisionName": BLUE, "percent": 100}]
        assert c.put(f"{V1}/services/{SERVICE}", json=svc).status_code == 200
        assert c.put(f"{V1}/services/{SERVICE}", json=stale).status_code == 409
        assert c.delete(f"{V1}/revisions/{GREEN}").status_code == 400  # serves until the change is done
        gcp.complete_operations()
        assert c.delete(f"{V1}/revisions/{GREEN}").status_code == 200  # no longer serving nor tagged
        assert c.delete(f"{V1}/revisions/{BLUE}").json()["error"]["status"] == "FAILED_PRECONDITION"
        assert c.get("http://run.fake/v1/projects/tai-erlang-demo/locations/-/services").json()["items"]
        assert c.get(f"{V1}/services").status_code == 200
        assert c.get(f"{V1}/services", headers={"Authorization": "Bearer x"}).status_code == 401


def test_label_selector_terms():
    assert _selector("a=b, c != d,e in (f, g)") == [("a", "=", {"b"}), ("c", "!=", {"d"}), ("e", "in", {"f", "g"})]
