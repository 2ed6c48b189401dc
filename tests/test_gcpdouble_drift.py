"""The double cannot drift from the real APIs: its replies decode with the APIs' own generated
message classes (gcloud's apitools clients) without a single unrecognized field."""

from __future__ import annotations

import httpx
import pytest

from tests.gcpdouble.drift import unrecognized_fields
from tests.gcpdouble.seed import BLUE, GREEN, SERVICE
from tests.gcpdouble.timefmt import rfc3339

LOC = "/v2/projects/tai-erlang-demo/locations/us-central1"
V1 = "http://us-central1-run.fake/apis/serving.knative.dev/v1/namespaces/tai-erlang-demo"


def _replies(gcp) -> list[dict]:
    headers = {"Authorization": f"Bearer {gcp.token}"}
    gcp.op_polls = 2
    gcp.add_revision("us-central1", SERVICE, "tai-autonomics-00003-bad", "img:broken", ready=False,
                     message="Image 'img:broken' not found.")
    docs: list[dict] = []

    def add(api: str, message: str, body: dict, what: str) -> None:
        assert body, what
        docs.append({"api": api, "message": message, "body": body, "what": what})

    with httpx.Client(base_url=gcp.url, headers=headers, timeout=10) as c:
        add("run/v2", "GoogleCloudRunV2ListServicesResponse", c.get(f"{LOC}/services").json(), "v2 services list")
        add("run/v2", "GoogleCloudRunV2Service", c.get(f"{LOC}/services/{SERVICE}").json(), "v2 service")
        add("run/v2", "GoogleCloudRunV2ListRevisionsResponse", c.get(f"{LOC}/services/{SERVICE}/revisions").json(),
            "v2 revisions list")
        body = {"traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": BLUE, "percent": 10,
                             "tag": "blue"},
                            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": GREEN, "percent": 90}]}
        op = c.patch(f"{LOC}/services/{SERVICE}", params={"updateMask": "traffic"}, json=body).json()
        add("run/v2", "GoogleLongrunningOperation", op, "v2 operation (running)")
        add("run/v2", "GoogleCloudRunV2Service", c.get(f"{LOC}/services/{SERVICE}").json(), "v2 service (reconciling)")
        done = c.get(f"/v2/{op['name']}").json()
        add("run/v2", "GoogleLongrunningOperation", done, "v2 operation (done)")
        add("run/v2", "GoogleCloudRunV2Service", {k: v for k, v in done["response"].items() if k != "@type"},
            "v2 operation response")
        bad = c.patch(f"{LOC}/services/{SERVICE}", params={"updateMask": "traffic"},
                      json={"traffic": [{"revision": "tai-autonomics-00003-bad", "percent": 100}]}).json()
        c.get(f"/v2/{bad['name']}")
        add("run/v2", "GoogleLongrunningOperation", c.get(f"/v2/{bad['name']}").json(), "v2 operation (failed)")
        entries = c.post("/v2/entries:list", json={"resourceNames": ["projects/tai-erlang-demo"], "pageSize": 1000})
        add("logging/v2", "ListLogEntriesResponse", entries.json(), "entries:list")
        paged = c.post("/v2/entries:list", json={"resourceNames": ["projects/tai-erlang-demo"], "pageSize": 2})
        add("logging/v2", "ListLogEntriesResponse", paged.json(), "entries:list (paged)")
        now = gcp.state.clock()
        for metric, aligner, reducer in [("request_count", "ALIGN_RATE", "REDUCE_SUM"),
                                         ("request_count", None, None),
                                         ("request_latencies", "ALIGN_PERCENTILE_99", "REDUCE_MAX"),
                                         ("request_latencies", None, None),
                                         ("container/instance_count", "ALIGN_MAX", "REDUCE_SUM")]:
            params = [("filter", f'metric.type="run.googleapis.com/{metric}"'),
                      ("interval.startTime", rfc3339(now - 300)), ("interval.endTime", rfc3339(now)),
                      ("aggregation.alignmentPeriod", "60s")]
            if aligner:
                params += [("aggregation.perSeriesAligner", aligner), ("aggregation.crossSeriesReducer", reducer),
                           ("aggregation.groupByFields", "metric.labels.response_code_class")]
            add("monitoring/v3", "ListTimeSeriesResponse", c.get("/v3/projects/tai-erlang-demo/timeSeries",
                                                                  params=params).json(), f"timeSeries {metric} {aligner}")
    with httpx.Client(proxy=gcp.url, headers=headers, timeout=10) as c:
        add("run/v1", "Service", c.get(f"{V1}/services/{SERVICE}").json(), "v1 service")
        add("run/v1", "ListServicesResponse", c.get(f"{V1}/services").json(), "v1 services list")
        add("run/v1", "ListServicesResponse", c.get("http://run.fake/v1/projects/tai-erlang-demo/locations/-/services")
            .json(), "v1 global services list")
        add("run/v1", "ListRevisionsResponse", c.get(f"{V1}/revisions").json(), "v1 revisions list")
        add("run/v1", "Revision", c.get(f"{V1}/revisions/{BLUE}").json(), "v1 revision")
    return docs


def test_the_doubles_replies_have_no_field_the_real_apis_lack(gcp):
    docs = _replies(gcp)
    assert len(docs) >= 20
    assert unrecognized_fields(docs) == []


@pytest.mark.parametrize("where", ["top", "nested", "enum"])
def test_the_check_catches_a_made_up_field(gcp, where):
    with httpx.Client(base_url=gcp.url, headers={"Authorization": f"Bearer {gcp.token}"}) as c:
        svc = c.get(f"{LOC}/services/{SERVICE}").json()
    if where == "top":
        svc["trafficSplit"] = 100
    elif where == "nested":
        svc["traffic"][0]["weight"] = 1
    else:
        svc["terminalCondition"]["state"] = "CONDITION_HAPPY"
    found = unrecognized_fields([{"api": "run/v2", "message": "GoogleCloudRunV2Service", "body": svc, "what": "svc"}])
    assert found == {"top": ["svc: trafficSplit"], "nested": ["svc: traffic[0].weight"],
                     "enum": ["svc: terminalCondition.state"]}[where]
