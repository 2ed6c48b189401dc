"""The gcp double's Cloud Logging v2 entries:list: filters, order, pages, ticking, 429."""

from __future__ import annotations

import httpx
import pytest

from tests.gcpdouble import GcpDouble
from tests.gcpdouble.filters import compile_filter
from tests.gcpdouble.seed import BLUE, BLUE_ERROR, GREEN, SERVICE
from tests.gcpdouble.timefmt import parse_rfc3339, rfc3339
from tests.support import wait_until

RUN = 'resource.type="cloud_run_revision" AND resource.labels.service_name="tai-autonomics"'


@pytest.fixture
def client(gcp: GcpDouble):
    with httpx.Client(base_url=gcp.url, headers={"Authorization": f"Bearer {gcp.token}"}, timeout=10) as c:
        yield c


def _list(client, **body) -> dict:
    body.setdefault("resourceNames", ["projects/tai-erlang-demo"])
    resp = client.post("/v2/entries:list", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_entries_have_the_apis_shape(client):
    entries = _list(client, filter=RUN + ' AND resource.labels.location="us-central1"')["entries"]
    assert entries
    first = entries[0]
    assert set(first) >= {"insertId", "timestamp", "severity", "resource", "logName", "receiveTimestamp"}
    assert first["resource"]["labels"] == {
        "project_id": "tai-erlang-demo", "service_name": SERVICE, "revision_name": first["resource"]["labels"]["revision_name"],
        "location": "us-central1", "configuration_name": SERVICE}
    assert first["timestamp"].endswith("Z") and len(first["timestamp"].split(".")[1]) == 10  # 9 digits + Z
    times = [parse_rfc3339(e["timestamp"]) for e in entries]
    assert times == sorted(times)
    assert any("httpRequest" in e and e["httpRequest"]["status"] == 200 for e in entries)
    assert any(e.get("jsonPayload", {}).get("message") == BLUE_ERROR for e in entries)


def test_filters_severity_revision_or_and_parentheses(client):
    errors = _list(client, filter=RUN + " AND severity>=ERROR")["entries"]
    assert [e["resource"]["labels"]["revision_name"] for e in errors] == [BLUE]
    assert _list(client, filter=RUN + " AND severity=ERROR")["entries"] == errors
    eu_or_blue = _list(client, filter=RUN + ' AND (resource.labels.location="europe-west1" OR '
                       f'resource.labels.revision_name="{BLUE}")')["entries"]
    assert {e["resource"]["labels"]["location"] for e in eu_or_blue} == {"europe-west1", "us-central1"}
    assert all(e["resource"]["labels"]["location"] == "europe-west1" or e["resource"]["labels"]["revision_name"] == BLUE
               for e in eu_or_blue)
    assert _list(client, filter='resource.type="k8s_container"') == {}


def test_timestamp_bounds_and_desc_order(gcp, client):
    all_us = _list(client, filter=RUN + ' AND resource.labels.location="us-central1"')["entries"]
    pivot = all_us[5]["timestamp"]
    later = _list(client, filter=RUN + f' AND resource.labels.location="us-central1" AND timestamp>"{pivot}"')["entries"]
    assert later == all_us[6:]
    since = _list(client, filter=RUN + f' AND resource.labels.location="us-central1" AND timestamp>="{pivot}"')["entries"]
    assert since == all_us[5:]
    before = _list(client, filter=RUN + f' AND resource.labels.location="us-central1" AND timestamp<"{pivot}"')["entries"]
    assert before == all_us[:5]
    desc = _list(client, filter=RUN + ' AND resource.labels.location="us-central1"', orderBy="timestamp desc",
                 pageSize=3)
    assert desc["entries"] == list(reversed(all_us))[:3]


def test_page_tokens_walk_everything_once_even_while_entries_arrive(gcp, client):
    flt = RUN + ' AND resource.labels.location="europe-west1"'
    total = _list(client, filter=flt, pageSize=1000)["entries"]
    seen, token = [], None
    while True:
        body = {"filter": flt, "pageSize": 5}
        if token:
            body["pageToken"] = token
        page = _list(client, **body)
        seen += page.get("entries", [])
        token = page.get("nextPageToken")
        gcp.append_log("europe-west1", SERVICE, GREEN, "arrived meanwhile", timestamp=1.0)  # older: not in asc walk
        if not token:
            break
    assert [e["insertId"] for e in seen] == [e["insertId"] for e in total]
    assert client.post("/v2/entries:list", json={"resourceNames": ["projects/tai-erlang-demo"], "filter": flt,
                                                 "pageToken": "garbage"}).status_code == 400


def test_bad_requests_are_400_or_403(client):
    assert client.post("/v2/entries:list", json={"filter": RUN}).status_code == 400
    assert client.post("/v2/entries:list", json={"resourceNames": ["projects/other"]}).status_code == 403
    resp = client.post("/v2/entries:list", json={"resourceNames": ["projects/tai-erlang-demo"], "filter": "severity>="})
    assert resp.status_code == 400


def test_ticks_follow_the_serving_split(gcp, client):
    flt = RUN + ' AND resource.labels.location="us-central1" AND timestamp>="{}"'
    mark = rfc3339(gcp.state.clock())
    gcp.tick_logs()
    fresh = _list(client, filter=flt.format(mark))["entries"]
    assert {(e["resource"]["labels"]["revision_name"], e["severity"]) for e in fresh} == {(GREEN, "INFO")}
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 50, BLUE: 50})
    mark = rfc3339(gcp.state.clock())
    gcp.tick_logs()
    fresh = _list(client, filter=flt.format(mark))["entries"]
    assert {(e["resource"]["labels"]["revision_name"], e["severity"]) for e in fresh} == {(GREEN, "INFO"), (BLUE, "ERROR")}
    assert any(e.get("textPayload") == BLUE_ERROR for e in fresh)


def test_background_ticking_of_one_revision(gcp, client):
    stop = gcp.tick_revision_log("us-central1", SERVICE, GREEN, 0.02, text=lambda n: f"beat {n}")
    flt = RUN + ' AND textPayload:"beat"'
    wait_until(lambda: len(_list(client, filter=flt).get("entries", [])) >= 3, what="three beats")
    stop()
    texts = [e["textPayload"] for e in _list(client, filter=flt)["entries"]]
    assert texts[:3] == ["beat 1", "beat 2", "beat 3"]


def test_throttling_is_a_bare_429(gcp, client):
    gcp.throttle_logs(times=1)
    resp = client.post("/v2/entries:list", json={"resourceNames": ["projects/tai-erlang-demo"]})
    assert resp.status_code == 429 and resp.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "retry-after" not in resp.headers
    assert client.post("/v2/entries:list", json={"resourceNames": ["projects/tai-erlang-demo"]}).status_code == 200


def test_filter_language_subset():
    entry = {"severity": "WARNING", "timestamp": "2026-12-05T04:00:00.5Z", "resource": {"labels": {"a": "x y"}}}
    assert compile_filter('severity>=WARNING AND resource.labels.a="x y"')(entry)
    assert compile_filter("severity>INFO timestamp>=2026-12-05T04:00:00Z")(entry)  # juxtaposition = AND
    assert not compile_filter('NOT resource.labels.a="x y" OR severity<WARNING')(entry)
    assert compile_filter('(severity=ERROR OR severity=WARNING) AND resource.labels.a:"X"')(entry)
    assert compile_filter('resource.labels.missing!="z"')(entry)
    assert compile_filter("")(entry)
