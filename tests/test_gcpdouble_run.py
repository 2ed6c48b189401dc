"""The gcp double's Cloud Run v2 API: auth, listing, traffic PATCH with operations, revisions, faults."""

from __future__ import annotations

import httpx
import pytest

from tests.gcpdouble import GcpDouble
from tests.gcpdouble.seed import BLUE, GREEN, SERVICE

BASE = "/v2/projects/tai-erlang-demo/locations/us-central1/services"


@pytest.fixture
def client(gcp: GcpDouble):
    with httpx.Client(base_url=gcp.url, headers={"Authorization": f"Bearer {gcp.token}"}, timeout=10) as c:
        yield c


def test_requests_without_a_valid_token_get_401_in_googles_shape(gcp):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        resp = httpx.get(gcp.url + BASE, headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["status"] == "UNAUTHENTICATED"
        assert resp.json()["error"]["code"] == 401


def test_services_list_pages_and_get(gcp, client):
    gcp.add_service("us-central1", "zz-other")
    first = client.get(BASE, params={"pageSize": 1}).json()
    assert [s["name"].rsplit("/", 1)[1] for s in first["services"]] == [SERVICE]
    second = client.get(BASE, params={"pageSize": 1, "pageToken": first["nextPageToken"]}).json()
    assert [s["name"].rsplit("/", 1)[1] for s in second["services"]] == ["zz-other"]
    assert "nextPageToken" not in second
    svc = client.get(f"{BASE}/{SERVICE}").json()
    assert svc["traffic"] == [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": GREEN, "percent": 100, "tag": "green"},
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": BLUE, "tag": "blue"},
    ]
    assert svc["latestReadyRevision"].endswith(f"/revisions/{BLUE}")
    assert svc["latestCreatedRevision"] == svc["latestReadyRevision"]
    assert svc["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
    assert svc["uri"] == gcp.seeded["service_url"]
    assert "reconciling" not in svc and svc["etag"]
    eu = client.get("/v2/projects/tai-erlang-demo/locations/europe-west1/services").json()["services"]
    assert [t["revision"] for t in eu[0]["traffic"]] == [GREEN]


def test_unknown_service_is_404_and_wrong_project_403_and_wildcard_400(client):
    assert client.get(f"{BASE}/nope").json()["error"]["status"] == "NOT_FOUND"
    resp = client.get("/v2/projects/other/locations/us-central1/services")
    assert resp.status_code == 403 and resp.json()["error"]["status"] == "PERMISSION_DENIED"
    assert client.get("/v2/projects/tai-erlang-demo/locations/-/services").status_code == 400


def _split(percent_blue: int, etag: str | None = None) -> dict:
    body: dict = {"traffic": [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": BLUE, "percent": percent_blue, "tag": "blue"},
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": GREEN, "percent": 100 - percent_blue,
         "tag": "green"},
    ]}
    if etag:
        body["etag"] = etag
    return body


def test_patch_traffic_returns_an_operation_and_reconciles_until_it_is_done(gcp, client):
    gcp.op_polls = 2
    before = client.get(f"{BASE}/{SERVICE}").json()
    op = client.patch(f"{BASE}/{SERVICE}", params={"updateMask": "traffic"}, json=_split(10, before["etag"])).json()
    assert op["name"].startswith("projects/tai-erlang-demo/locations/us-central1/operations/")
    assert "done" not in op
    during = client.get(f"{BASE}/{SERVICE}").json()
    assert during["reconciling"] is True
    assert int(during["generation"]) == int(before["generation"]) + 1
    assert during["observedGeneration"] == before["generation"]
    assert during["terminalCondition"]["state"] == "CONDITION_RECONCILING"
    assert gcp.serving_split("us-central1", SERVICE) == {GREEN: 100}
    done = client.get(f"/v2/{op['name']}").json()
    assert done["done"] is True and done["response"]["@type"].endswith("google.cloud.run.v2.Service")
    after = client.get(f"{BASE}/{SERVICE}").json()
    assert "reconciling" not in after and after["observedGeneration"] == after["generation"]
    assert gcp.serving_split("us-central1", SERVICE) == {BLUE: 10, GREEN: 90}
    assert {t["revision"]: t.get("percent", 0) for t in after["trafficStatuses"]} == {BLUE: 10, GREEN: 90}
    assert after["lastModifier"] == "operator@example.com"


def test_patch_refuses_bad_splits_and_stale_etags(client):
    bad_sum = _split(10)
    bad_sum["traffic"][0]["percent"] = 50
    resp = client.patch(f"{BASE}/{SERVICE}", params={"updateMask": "traffic"}, json=bad_sum)
    assert resp.status_code == 400 and "sum to 100" in resp.json()["error"]["message"]
    unknown = _split(10)
    unknown["traffic"][0]["revision"] = "tai-autonomics-00009-zzz"
    resp = client.patch(f"{BASE}/{SERVICE}", params={"updateMask": "traffic"}, json=unknown)
    assert resp.status_code == 400 and "does not exist" in resp.json()["error"]["message"]
    resp = client.patch(f"{BASE}/{SERVICE}", params={"updateMask": "traffic"}, json=_split(10, '"stale"'))
    assert resp.status_code == 409 and resp.json()["error"]["status"] == "ABORTED"


def test_traffic_to_a_failed_revision_fails_the_operation(gcp, client):
    gcp.add_revision("us-central1", SERVICE, "tai-autonomics-00003-bad", "img:broken", ready=False,
                     message="Image 'img:broken' not found.")
    svc = client.get(f"{BASE}/{SERVICE}").json()
    assert svc["terminalCondition"]["state"] == "CONDITION_FAILED"
    assert svc["latestReadyRevision"].endswith(BLUE)
    body = {"traffic": [{"revision": "tai-autonomics-00003-bad", "percent": 100}]}
    op = client.patch(f"{BASE}/{SERVICE}", params={"updateMask": "traffic"}, json=body).json()
    done = client.get(f"/v2/{op['name']}").json()
    assert done["done"] is True and done["error"]["code"] == 9
    assert "not ready" in done["error"]["message"]
    assert gcp.serving_split("us-central1", SERVICE) == {GREEN: 100}


def test_revisions_list_get_and_delete(gcp, client):
    revs = client.get(f"{BASE}/{SERVICE}/revisions").json()["revisions"]
    assert [r["name"].rsplit("/", 1)[1] for r in revs] == [BLUE, GREEN]
    assert revs[0]["containers"][0]["image"].endswith(":1.5.0")
    assert revs[0]["conditions"][0] == {**revs[0]["conditions"][0], "type": "Ready", "state": "CONDITION_SUCCEEDED"}
    one = client.get(f"{BASE}/{SERVICE}/revisions/{GREEN}").json()
    assert one["service"].endswith(f"/services/{SERVICE}")
    resp = client.delete(f"{BASE}/{SERVICE}/revisions/{GREEN}")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "FAILED_PRECONDITION"
    gcp.add_revision("us-central1", SERVICE, "tai-autonomics-00003-old", "img:x")
    op = client.delete(f"{BASE}/{SERVICE}/revisions/tai-autonomics-00003-old").json()
    assert op["metadata"]["@type"].endswith("google.cloud.run.v2.Revision")
    assert client.get(f"{BASE}/{SERVICE}/revisions/tai-autonomics-00003-old").status_code == 404
    assert client.get(f"/v2/{op['name']}").json()["done"] is True


@pytest.mark.parametrize("code,status", [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"),
                                         (404, "NOT_FOUND"), (409, "ABORTED"),
                                         (429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE")])
def test_injected_faults_answer_n_times_then_heal(gcp, client, code, status):
    gcp.inject("GET", r"/services$", code, times=2)
    for _ in range(2):
        resp = client.get(BASE)
        assert resp.status_code == code
        assert resp.json()["error"]["status"] == status
    assert client.get(BASE).status_code == 200
    assert client.get(f"{BASE}/{SERVICE}").status_code == 200


def test_operations_unknown_and_held(gcp, client):
    assert client.get("/v2/projects/tai-erlang-demo/locations/us-central1/operations/x").status_code == 404
    gcp.op_polls = None
    op = client.patch(f"{BASE}/{SERVICE}", params={"updateMask": "traffic"}, json=_split(50)).json()
    for _ in range(3):
        assert "done" not in client.get(f"/v2/{op['name']}").json()
    gcp.complete_operations()
    assert client.get(f"/v2/{op['name']}").json()["done"] is True
