"""The seeded service's own URL (/health, /metrics follow the split) and ``python -m tests.gcpdouble``."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.gcpdouble.seed import BLUE, GREEN, SERVICE
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[1]


def test_health_follows_the_blue_share(gcp):
    url = gcp.seeded["service_url"]
    ok = httpx.get(url + "/health")
    assert ok.status_code == 200
    assert ok.json()["status"] == "ok" and ok.json()["timestamp"]
    assert ok.json()["dependencies"] == {"supervisors": "ok", "firestore": "ok", "pubsub": "ok"}
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 90, BLUE: 10}, tags={GREEN: "green", BLUE: "blue"})
    degraded = httpx.get(url + "/health")
    assert degraded.status_code == 200 and degraded.json()["dependencies"]["pubsub"] == "degraded"
    gcp.set_traffic("us-central1", SERVICE, {GREEN: 40, BLUE: 60})
    bad = httpx.get(url + "/health")
    assert bad.status_code == 503
    assert bad.json()["status"] == "unavailable"
    assert bad.json()["reason"] == "pubsub subscription erlang-autonomics-signals-sub not found"
    assert bad.json()["dependencies"]["pubsub"] == "error"


def test_tag_urls_reach_their_revision_and_europe_is_green(gcp):
    base = gcp.seeded["service_url"].rsplit("/", 1)[0]
    assert httpx.get(f"{base}/blue---{SERVICE}/health").status_code == 503
    assert httpx.get(f"{base}/green---{SERVICE}/health").status_code == 200
    assert httpx.get(f"{base}/nope---{SERVICE}/health").status_code == 404
    eu = gcp.state.service_url("europe-west1", SERVICE)
    assert httpx.get(eu + "/health").status_code == 200


def test_metrics_are_prometheus_text_with_the_runbooks_names(gcp):
    resp = httpx.get(gcp.seeded["service_url"] + "/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    names = {line.split("{")[0].split(" ")[0] for line in resp.text.splitlines() if line and not line.startswith("#")}
    assert {"tai_http_requests_total", "tai_governor_decisions_total", "tai_receipt_emitted_total"} <= names


def test_module_prints_exports_and_serves_until_killed(tmp_path):
    folder = tmp_path / "d"
    proc = subprocess.Popen([sys.executable, "-m", "tests.gcpdouble", "--seed", "tai-erlang", "--dir", str(folder),
                             "--tick", "0.05"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any(line.startswith("export TAI_SERVICE_URL=") for line in lines), timeout=30,
                   what="the export lines")
        env = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines if line.startswith("export "))
        assert (folder / "env.sh").read_text().splitlines() == [line.rstrip("\n") for line in lines]
        assert env["CLOUDSDK_CORE_PROJECT"] == "tai-erlang-demo" and env["CLOUDSDK_RUN_REGION"] == "us-central1"
        assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN"] == "http://run.fake/"
        token = Path(env["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]).read_text().strip()
        proxy = f"http://{env['CLOUDSDK_PROXY_ADDRESS']}:{env['CLOUDSDK_PROXY_PORT']}"
        with httpx.Client(proxy=proxy, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            svc = client.get("http://run.fake/v2/projects/tai-erlang-demo/locations/us-central1/services/tai-autonomics")
            assert svc.status_code == 200 and svc.json()["uri"] == env["TAI_SERVICE_URL"]

            def fresh_logs() -> int:
                body = {"resourceNames": ["projects/tai-erlang-demo"], "pageSize": 1000}
                return len(client.post("http://logging.fake/v2/entries:list", json=body).json()["entries"])

            count = fresh_logs()
            wait_until(lambda: fresh_logs() > count + 2, what="ticked log entries")
        assert httpx.get(env["TAI_SERVICE_URL"] + "/health").json()["status"] == "ok"
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_proxy_mode_hosts_decide_and_connect_is_refused_cleanly(gcp):
    headers = {"Authorization": f"Bearer {gcp.token}"}
    with httpx.Client(proxy=gcp.url, headers=headers, timeout=10) as client:
        assert client.post("http://logging.fake/v2/entries:list",
                           json={"resourceNames": ["projects/tai-erlang-demo"]}).status_code == 200
        # a v2 path on the logging host is not served there
        assert client.get("http://logging.fake/v2/projects/tai-erlang-demo/locations/us-central1/services").status_code == 404
        try:
            client.get("https://run.fake/v2/projects/tai-erlang-demo/locations/us-central1/services")
        except httpx.ProxyError as exc:
            assert "405" in str(exc)
        else:
            raise AssertionError("CONNECT was not refused")


def test_chunked_request_bodies_are_read(gcp):
    def chunks():
        yield b'{"resourceNames": '
        yield b'["projects/tai-erlang-demo"], "pageSize": 1}'

    resp = httpx.post(gcp.url + "/v2/entries:list", content=chunks(), headers={"Authorization": f"Bearer {gcp.token}"})
    assert resp.status_code == 200 and len(resp.json()["entries"]) == 1
