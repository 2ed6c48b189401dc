"""The cloudrun backend's parts without a network: health and targets from JSON shaped
like the real Cloud Run v2 API, traffic splits checked against gcloud's own code (its
``api_lib/run/traffic.py``, run in a subprocess), gcloud previews, the before/after
table, one-line errors for each status, gcloud's endpoint and proxy variables, option
problems as FILE:LINE, and operations through ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from cockpit.core.backends.cloudrun import CloudRunBackend
from cockpit.core.backends.cloudrun.api import MAX_BODY, GoogleAPI, GoogleAPIError, error_of
from cockpit.core.backends.cloudrun.auth import NO_CREDENTIALS, TokenSource
from cockpit.core.backends.cloudrun.ops import OPERATIONS, previous_revision, target_param
from cockpit.core.backends.cloudrun.options import (
    CloudRunOptions,
    endpoint,
    proxy_url,
    resolve_regions,
)
from cockpit.core.backends.cloudrun.targets import (
    epoch,
    revision_health,
    service_health,
    service_targets,
)
from cockpit.core.backends.cloudrun.traffic import (
    LATEST_TYPE,
    REVISION_TYPE,
    TrafficError,
    by_tags,
    parse_split,
    shares,
    table,
    update_traffic,
)
from cockpit.core.backends.operations import OperationCall
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import CockpitError, ConfigError, UsageError

P = "tai-erlang-demo"
US, EU = "us-central1", "europe-west1"
S = "tai-autonomics"
GRN, BLU, BAD = f"{S}-00001-grn", f"{S}-00002-blu", f"{S}-00003-bad"
IMAGE = f"us-docker.pkg.dev/{P}/tai/tai-autonomics"
GCLOUD_LIB = Path("/usr/lib/google-cloud-sdk/lib")


def rev_name(region: str, rev: str, service: str = S) -> str:
    return f"projects/{P}/locations/{region}/services/{service}/revisions/{rev}"


def cond(kind: str, state: str, reason: str = "", message: str = "") -> dict[str, Any]:
    out = {"type": kind, "state": state, "lastTransitionTime": "2026-12-04T10:00:00.123456789Z"}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def revision(rev: str, created: str, image: str, *, region: str = US, ready: bool = True,
             reason: str = "", message: str = "") -> dict[str, Any]:
    """A Revision as ``GET .../revisions`` answers it (proto3 JSON: zero values left out)."""
    ready_cond = cond("Ready", "CONDITION_SUCCEEDED") if ready else cond(
        "Ready", "CONDITION_FAILED", reason, message)
    return {
        "name": rev_name(region, rev), "uid": f"uid-{rev}", "generation": "1",
        "labels": {"serving.knative.dev/route": S, "cloud.googleapis.com/location": region},
        "createTime": created, "updateTime": created, "launchStage": "GA",
        "service": f"projects/{P}/locations/{region}/services/{S}",
        "scaling": {"maxInstanceCount": 100}, "maxInstanceRequestConcurrency": 80,
        "timeout": "300s", "serviceAccount": f"deployer@{P}.iam.gserviceaccount.com",
        "containers": [{"image": image, "ports": [{"name": "http1", "containerPort": 8080}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}}}],
        "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
        "conditions": [ready_cond, cond("ContainerHealthy", ready_cond["state"], reason,
                                        message)],
        "observedGeneration": "1", "etag": f'"{rev}"',
        "logUri": f"https://console.cloud.google.com/logs/viewer?project={P}",
    }


def target(rev: str | None, percent: int = 0, tag: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": LATEST_TYPE} if rev is None else {
        "type": REVISION_TYPE, "revision": rev}
    if percent:
        out["percent"] = percent
    if tag:
        out["tag"] = tag
    return out


def service(region: str = US, traffic: list[dict[str, Any]] | None = None, *,
            created: str = GRN, ready: str = GRN, reconciling: bool = False,
            terminal: dict[str, Any] | None = None, labels: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """A Service as ``GET .../services`` answers it."""
    traffic = traffic if traffic is not None else [target(GRN, 100, "green"),
                                                   target(BLU, 0, "blue")]
    uri = f"https://{S}-x7kq2a-uc.a.run.app"
    statuses = [{**t, **({"uri": f"https://{t['tag']}---{S}-x7kq2a-uc.a.run.app"}
                         if t.get("tag") else {})} for t in traffic]
    out: dict[str, Any] = {
        "name": f"projects/{P}/locations/{region}/services/{S}", "uid": "uid-svc",
        "generation": "4", "createTime": "2026-11-28T04:00:00.5Z",
        "updateTime": "2026-12-04T10:00:00Z", "creator": "deployer@example.com",
        "lastModifier": "operator@example.com", "ingress": "INGRESS_TRAFFIC_ALL",
        "launchStage": "GA",
        "template": {"containers": [{"image": f"{IMAGE}:1.5.0"}],
                     "scaling": {"maxInstanceCount": 100}},
        "traffic": traffic, "observedGeneration": "4",
        "terminalCondition": terminal or (
            cond("Ready", "CONDITION_RECONCILING", "", "Deploying revision.") if reconciling
            else cond("Ready", "CONDITION_SUCCEEDED")),
        "conditions": [cond("RoutesReady", "CONDITION_SUCCEEDED"),
                       cond("ConfigurationsReady", "CONDITION_SUCCEEDED")],
        "latestReadyRevision": rev_name(region, ready),
        "latestCreatedRevision": rev_name(region, created),
        "trafficStatuses": statuses, "uri": uri, "urls": [uri], "etag": '"etag-1"',
    }
    if reconciling:
        out["reconciling"] = True
    if labels:
        out["labels"] = labels
    return out


def revisions_us() -> list[dict[str, Any]]:
    return [revision(GRN, "2026-11-28T04:00:00Z", f"{IMAGE}:1.4.2"),
            revision(BLU, "2026-12-04T09:00:00.25Z", f"{IMAGE}:1.5.0")]


# -- targets and health -------------------------------------------------------------------

def test_a_service_and_its_revisions_become_targets() -> None:
    rows = service_targets(service(), US, revisions_us())
    svc, blue, green = rows
    assert (svc.id, svc.kind, svc.name, svc.scope, svc.state) == (
        f"{US}/{S}", "service", S, US, "ready")
    assert svc.health.state == "ok" and svc.aliases == (f"services/{S}",)
    # the image that serves (green's, most of the traffic), not the latest template's
    assert svc.image == f"{IMAGE}:1.4.2" and svc.started_at == epoch("2026-11-28T04:00:00.5Z")
    assert svc.details["uri"].startswith("https://") and svc.details["lastModifier"]
    assert svc.details["latestReadyRevision"] == GRN
    assert svc.details["traffic"] == [
        {"revision": GRN, "percent": 100, "tag": "green", "latest": False},
        {"revision": BLU, "percent": 0, "tag": "blue", "latest": False}]
    assert (blue.id, blue.parent, blue.kind, blue.state) == (
        f"{US}/{S}/{BLU}", f"{US}/{S}", "revision", "0% blue")
    assert green.state == "100% green" and green.image.endswith(":1.4.2")
    assert blue.aliases == (f"revisions/{BLU}",) and blue.restarts is None
    assert blue.started_at == pytest.approx(epoch("2026-12-04T09:00:00Z") + 0.25)


def test_revision_states_are_share_and_tag() -> None:
    svc = service(traffic=[target(GRN, 90), target(BLU, 10, "blue")], created=BLU, ready=BLU)
    states = {t.name: t.state for t in service_targets(svc, US, revisions_us())}
    assert states == {S: "ready", GRN: "90%", BLU: "10% blue"}
    latest = service(traffic=[target(None, 100)], created=BLU, ready=BLU)
    states = {t.name: t.state for t in service_targets(latest, US, revisions_us())}
    assert states[BLU] == "100%" and states[GRN] == "0%"


def test_health_of_services_reconciling_and_failed() -> None:
    assert service_health(service(reconciling=True), {}) == (
        "reconciling", service_health(service(reconciling=True), {})[1])
    state, health = service_health(service(reconciling=True), {})
    assert health.state == "unknown" and health.reason == "reconciling: Deploying revision."
    bad = revision(BAD, "2026-12-05T01:00:00Z", f"{IMAGE}:1.6.0", ready=False,
                   reason="CONTAINER_MISSING",
                   message=f"Image '{IMAGE}:1.6.0' not found.")
    svc = service(created=BAD, ready=GRN, terminal=cond(
        "Ready", "CONDITION_FAILED", "REVISION_FAILED", f"Revision '{BAD}' is not ready."))
    state, health = service_health(svc, {BAD: bad})
    assert state == "failed" and health.state == "fail"
    assert health.reason == (f"latest revision {BAD} not ready: ContainerMissing: "
                             f"Image '{IMAGE}:1.6.0' not found.")
    assert revision_health(bad).reason == f"ContainerMissing: Image '{IMAGE}:1.6.0' not found."
    # the service alone (revisions not listed): its own failed condition says why
    state, health = service_health(svc, {})
    assert state == "failed" and "RevisionFailed" in health.reason
    # a latest revision still being made is not a failure
    making = service(created=BAD, ready=GRN)
    assert service_health(making, {BAD: {**bad, "conditions": [
        cond("Ready", "CONDITION_RECONCILING")]}})[1].state == "unknown"
    assert revision_health({"conditions": []}).state == "unknown"


# -- traffic splits: gcloud's semantics ---------------------------------------------------

CASES: list[tuple[list[dict[str, Any]], dict[str, int]]] = [
    ([target("a", 40), target("b", 60)], {"a": 45}),                    # the help's example
    ([target("a", 40), target("b", 60)], {"c": 45}),                    # a new one: scaled
    ([target("a", 100, "green"), target("b", 0, "blue")], {"b": 10}),   # blue-green 10%
    ([target("a", 90, "green"), target("b", 10, "blue")], {"b": 100}),  # complete
    ([target("a", 33), target("b", 33), target("c", 34)], {"d": 50}),   # rounding
    ([target("a", 1), target("b", 1), target("c", 98)], {"c": 97}),     # rounding, precedence
    ([target("a", 50), target("b", 50)], {"a": 0}),                     # 0: dropped
    ([target("a", 50), target("b", 50)], {"a": 0, "b": 0, "c": 100}),
    ([target(None, 100)], {"a": 20}),                                   # LATEST scaled
    ([target("a", 100)], {"LATEST": 100}),                              # to-latest
    ([target("a", 70), target("a", 30, "x")], {"b": 50}),               # same key merged
    ([target("a", 50), target("b", 50)], {"a": 60, "b": 30}),           # all named, under
    ([target("a", 50), target("b", 50)], {"c": 70, "d": 40}),           # over 100
    ([target("a", 50), target("b", 40)], {"a": 10}),                    # current not 100
]


def _gcloud_updates(cases: list[tuple[list[dict[str, Any]], dict[str, int]]]) -> list[Any]:
    """What gcloud's own ``TrafficTargets.UpdateTraffic`` makes of each case."""
    script = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + '/third_party']
from googlecloudsdk.api_lib.run import traffic
from googlecloudsdk.generated_clients.apis.run.v1 import run_v1_messages as m
out = []
for before, new in json.load(sys.stdin):
    ts = [m.TrafficTarget(revisionName=t.get('revision'),
                          latestRevision=True if t.get('type', '').endswith('LATEST') else None,
                          percent=t.get('percent'), tag=t.get('tag')) for t in before]
    try:
        traffic.TrafficTargets(m, ts).UpdateTraffic(new)
        out.append([{'key': 'LATEST' if x.latestRevision else x.revisionName,
                     'percent': x.percent or 0, 'tag': x.tag or ''} for x in ts])
    except Exception as exc:
        out.append({'error': str(exc)})
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", script, str(GCLOUD_LIB)],
                          input=json.dumps(cases), capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(proc.stdout)


def _ours(before: list[dict[str, Any]], new: dict[str, int]) -> Any:
    try:
        after = update_traffic(copy.deepcopy(before), new)
    except TrafficError as exc:
        return {"error": str(exc)}
    return [{"key": "LATEST" if t["type"] == LATEST_TYPE else t["revision"],
             "percent": t.get("percent", 0), "tag": t.get("tag", "")} for t in after]


def test_traffic_updates_are_gclouds_own() -> None:
    assert GCLOUD_LIB.is_dir(), "gcloud is part of the test environment"
    theirs = _gcloud_updates(CASES)
    for (before, new), expected in zip(CASES, theirs, strict=True):
        assert _ours(before, new) == expected, (before, new)


def test_traffic_updates_spelled_out() -> None:
    after = update_traffic([target("a", 100, "green"), target("b", 0, "blue")], {"b": 10})
    assert after == [target("a", 90), target("b", 10), target("a", 0, "green"),
                     target("b", 0, "blue")]
    assert _ours([target("a", 33), target("b", 33), target("c", 34)], {"d": 50}) == [
        {"key": "a", "percent": 17, "tag": ""}, {"key": "b", "percent": 16, "tag": ""},
        {"key": "c", "percent": 17, "tag": ""}, {"key": "d", "percent": 50, "tag": ""}]
    with pytest.raises(TrafficError, match="Over 100% of traffic is specified"):
        update_traffic([target("a", 100)], {"a": 60, "b": 60})
    with pytest.raises(TrafficError, match="100% of traffic has not been specified"):
        update_traffic([target("a", 50), target("b", 50)], {"a": 60, "b": 30})


def test_splits_as_typed_and_tags() -> None:
    assert parse_split("a=10,b=90") == {"a": 10, "b": 90}
    assert parse_split("LATEST=100") == {"LATEST": 100}
    for bad, words in (("a=x", "is not an integer"), ("a=101", "not between 0 and 100"),
                       ("a", "REVISION=PERCENT"), ("a=1,a=2", "given twice"), ("", "expected"),
                       ("a=1,,b=2", "expected")):
        with pytest.raises(TrafficError, match=words):
            parse_split(bad)
    traffic = [target("a", 100, "green"), target("b", 0, "blue")]
    assert by_tags(traffic, {"blue": 10}, S) == {"b": 10}
    with pytest.raises(TrafficError, match=r"There is no revision tagged with \[red\]"):
        by_tags(traffic, {"red": 10}, S)


def test_the_previous_revision_of_a_rollback() -> None:
    revs = [*revisions_us(), revision(BAD, "2026-12-05T01:00:00Z", "x", ready=False)]
    split = shares([target(BLU, 100)], None)
    assert previous_revision(revs, split) == GRN
    split = shares([target(GRN, 100)], None)
    with pytest.raises(TrafficError, match=f"no Ready revision older than {GRN}"):
        previous_revision(revs, split)
    # the newest serving one counts: 90/10 on green/blue goes back to green
    assert previous_revision(revs, shares([target(GRN, 90), target(BLU, 10)], None)) == GRN


def test_the_before_after_table() -> None:
    before = shares([target(GRN, 100, "green"), target(BLU, 0, "blue")], None)
    after = shares(update_traffic([target(GRN, 100, "green"), target(BLU, 0, "blue")],
                                  {BLU: 10}), None)
    assert table(before, after, [BLU, GRN]) == [
        "REVISION                   NOW  AFTER  TAG",
        f"{BLU}    0%    10%  blue",
        f"{GRN}  100%    90%  green",
    ]


# -- options ------------------------------------------------------------------------------

def _profile(tmp_path: Path, backend: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: c\nbackend:\n  kind: cloudrun\n{backend}")
    return path


def test_option_problems_are_file_line(tmp_path: Path) -> None:
    cases = [
        ("  project: tai-erlang-demo\n  region: us-central1\n  regions: [europe-west1]\n",
         4, "exclude each other"),
        ("  project: tai-erlang-demo\n  regions: [us-central1, Mars]\n", 4,
         "'Mars' is not a region name"),
        ("  services: [Tai_Autonomics]\n", 4, "not a Cloud Run service name"),
        ("  endpoints: {run: 'ftp://x'}\n", 4, "not an http(s) URL"),
        ("  endpoints: {storage: 'http://x/'}\n", 4, "storage"),
        ("  timeout: soon\n", 4, "timeout"),
        ("  colour: red\n", 4, "unknown cloudrun backend option 'colour'"),
    ]
    for body, line, words in cases:
        path = _profile(tmp_path, body)
        with pytest.raises(ConfigError) as info:
            load_profile(path)
        problem = info.value.problems[0]
        assert problem.startswith(f"{path}:") and words in problem, problem
        assert re.match(rf"{re.escape(str(path))}:{line}: ", problem) or \
            re.match(rf"{re.escape(str(path))}:[0-9]+: ", problem), problem
    loaded = load_profile(_profile(tmp_path, "  project: tai-erlang-demo\n"
                                             "  regions: [us-central1, europe-west1]\n"
                                             "  services: tai-autonomics\n"
                                             "  operation_timeout: 2m\n"))
    ids = [a.id for a in loaded.profile.actions]
    assert {"cloudrun.update-traffic", "cloudrun.rollback", "cloudrun.delete-revision"} <= set(ids)


def test_a_command_action_naming_a_target_is_refused_when_loaded(tmp_path: Path) -> None:
    path = _profile(tmp_path, "  region: us-central1\nactions:\n  - id: x\n    run: [id]\n"
                              "    target: tai-autonomics\n")
    with pytest.raises(ConfigError, match="Cloud Run has no exec into a service"):
        load_profile(path)


def test_environment_defaults(monkeypatch) -> None:
    env = {"CLOUDSDK_RUN_REGION": "europe-west1",
           "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "http://run.fake",
           "CLOUDSDK_PROXY_TYPE": "http", "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
           "CLOUDSDK_PROXY_PORT": "8123"}
    opts = CloudRunOptions.model_validate({"kind": "cloudrun"})
    assert resolve_regions(opts, env) == ["europe-west1"]
    assert endpoint(opts, "run", env) == "http://run.fake/"
    assert endpoint(opts, "logging", env) == "https://logging.googleapis.com/"
    mine = CloudRunOptions.model_validate({"kind": "cloudrun",
                                           "endpoints": {"run": "http://mine:1/"}})
    assert endpoint(mine, "run", env) == "http://mine:1/"  # the profile wins
    assert proxy_url(env) == "http://127.0.0.1:8123"
    assert proxy_url({**env, "CLOUDSDK_PROXY_TYPE": "socks5"}) is None
    assert proxy_url({**env, "CLOUDSDK_PROXY_USERNAME": "u", "CLOUDSDK_PROXY_PASSWORD": "p@ss"}
                     ) == "http://u:p%40ss@127.0.0.1:8123"
    with pytest.raises(CockpitError, match="no region: set option 'region' or 'regions'"):
        resolve_regions(opts, {})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "from-env-1")
    backend = CloudRunBackend({})
    assert backend.project == "from-env-1" and backend.regions == ["europe-west1"]
    api = GoogleAPI(backend.copts, TokenSource(token_file="/nonexistent"))
    assert api.proxy == "http://127.0.0.1:8123" and api.base("run") == "http://run.fake/"
    ident = backend.identity()
    assert (ident.host, ident.project, ident.region) == ("run.fake", "from-env-1",
                                                          "europe-west1")


# -- a fake Cloud Run v2 over httpx.MockTransport -----------------------------------------

class FakeRun:
    """Services and revisions per region; PATCH traffic with an etag check; operations
    done after ``op_polls`` reads; errors injected per (method, path regex)."""

    def __init__(self) -> None:
        self.services = {US: service(US), EU: service(EU, [target(GRN, 100)])}
        self.revisions = {US: revisions_us(),
                          EU: [revision(GRN, "2026-11-28T05:00:00Z", f"{IMAGE}:1.4.2",
                                        region=EU)]}
        self.errors: list[tuple[str, str, int, Any]] = []
        self.requests: list[httpx.Request] = []
        self.ops: dict[str, dict[str, Any]] = {}
        self.op_polls = 2
        self.op_error: dict[str, Any] | None = None
        self.token = "tok-1"

    def fail(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.errors.append((method, path, status, body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self._error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
        path = request.url.path
        for i, (method, pattern, status, body) in enumerate(self.errors):
            if method == request.method and re.search(pattern, path):
                del self.errors[i]
                if body is None:
                    return self._error(status, _STATUS[status], f"injected {status}")
                return httpx.Response(status, content=body if isinstance(body, bytes)
                                      else json.dumps(body).encode())
        m = re.fullmatch(rf"/v2/projects/{P}/locations/([^/]+)/(.*)", path)
        if not m:
            return self._error(404, "NOT_FOUND", f"no such path {path}")
        region, rest = m.groups()
        if rest == "services":
            return httpx.Response(200, json={"services": [self.services[region]]}
                                  if region in self.services else {})
        if rest == f"services/{S}" and request.method == "GET":
            return httpx.Response(200, json=self.services[region])
        if rest == f"services/{S}/revisions":
            return httpx.Response(200, json={"revisions": self.revisions[region]})
        if rest == f"services/{S}" and request.method == "PATCH":
            body = json.loads(request.content)
            svc = self.services[region]
            if body.get("etag") != svc["etag"]:
                return self._error(409, "ABORTED", "etag mismatch")
            assert request.url.params["updateMask"] == "traffic"
            svc["traffic"] = body["traffic"]
            svc["trafficStatuses"] = copy.deepcopy(body["traffic"])
            svc["etag"] = '"etag-2"'
            return httpx.Response(200, json=self._op(region, "svc"))
        if rest.startswith("operations/"):
            op = self.ops[rest]
            op["polls"] += 1
            if op["polls"] >= self.op_polls:
                op["done"] = True
                if self.op_error:
                    op["error"] = self.op_error
            return httpx.Response(200, json={k: v for k, v in op.items() if k != "polls"})
        if rest.startswith(f"services/{S}/revisions/") and request.method == "DELETE":
            name = rest.rsplit("/", 1)[1]
            self.revisions[region] = [r for r in self.revisions[region]
                                      if not r["name"].endswith("/" + name)]
            return httpx.Response(200, json={"name": f"projects/{P}/locations/{region}/"
                                             "operations/del", "done": True})
        return self._error(404, "NOT_FOUND", f"Resource '{rest}' was not found")

    def _op(self, region: str, kind: str) -> dict[str, Any]:
        name = f"operations/op-{len(self.ops) + 1}"
        self.ops[name] = {"name": f"projects/{P}/locations/{region}/{name}", "polls": 0,
                          "metadata": {"@type": "type.googleapis.com/google.cloud.run.v2."
                                                "Service"}}
        return {k: v for k, v in self.ops[name].items() if k != "polls"}

    @staticmethod
    def _error(status: int, reason: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"error": {"code": status, "message": message,
                                                      "status": reason}})


_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@pytest.fixture
def fake() -> FakeRun:
    return FakeRun()


async def _connected(tmp_path: Path, fake: FakeRun, monkeypatch, **options: Any
                     ) -> CloudRunBackend:
    for name in ("CLOUDSDK_PROXY_TYPE", "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN"):
        monkeypatch.delenv(name, raising=False)
    token = tmp_path / "token"
    token.write_text(fake.token + "\n")
    backend = CloudRunBackend({"project": P, "regions": [US, EU],
                               "access_token_file": str(token), **options})
    backend.transport = httpx.MockTransport(fake)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    backend.sleep = no_wait  # type: ignore[assignment]
    backend.waits = waits  # type: ignore[attr-defined]
    await backend.connect()
    return backend


async def test_listing_two_regions_and_a_failing_one(tmp_path, fake, monkeypatch) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    rows = await backend.list_targets()
    assert [t.id for t in rows] == [f"{US}/{S}", f"{US}/{S}/{BLU}", f"{US}/{S}/{GRN}",
                                    f"{EU}/{S}", f"{EU}/{S}/{GRN}"]
    fake.fail("GET", f"locations/{EU}/services$", 403)
    rows = await backend.list_targets()
    error = rows[-1]
    assert (error.kind, error.name, error.state, error.health.state) == (
        "region", EU, "error", "fail")
    assert error.health.reason.startswith("Cloud Run: 403 PERMISSION_DENIED: injected 403")
    assert [t.id for t in rows[:-1]] == [f"{US}/{S}", f"{US}/{S}/{BLU}", f"{US}/{S}/{GRN}"]
    fake.fail("GET", f"locations/{EU}/services$", 503)
    fake.fail("GET", f"locations/{US}/services$", 503)
    with pytest.raises(CockpitError, match="503 UNAVAILABLE"):
        await backend.list_targets()
    await backend.close()


async def test_names_resolve_and_ambiguity_is_refused(tmp_path, fake, monkeypatch) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    assert backend.resolve_nowait(f"{EU}/{S}", "service").region == EU
    assert backend.resolve_nowait(BLU, "revision").id == f"{US}/{S}/{BLU}"
    assert backend.resolve_nowait(f"revisions/{BLU}", None).revision == BLU
    with pytest.raises(UsageError, match=f"service {S} is in {US} and {EU}: name one"):
        backend.resolve_nowait(S, "service")
    with pytest.raises(UsageError, match=f"revision {GRN} is in"):
        backend.resolve_nowait(GRN, None)
    with pytest.raises(UsageError, match="name one"):
        backend.preview(OperationCall("rollback", S))
    ident = backend.identity_for(f"{US}/{S}/{BLU}")
    assert ident.as_record() == {"kind": "cloudrun", "host": "run.googleapis.com",
                                 "project": P, "region": US, "service": S}
    assert backend.identity().region == f"{US},{EU}"
    await backend.close()


async def test_previews_are_gcloud_lines_and_bad_splits_are_refused(
        tmp_path, fake, monkeypatch) -> None:
    before = CloudRunBackend({"project": P, "region": US})  # not connected: text only
    base = ["gcloud", "run", "services", "update-traffic", S, "--project", P, "--region", US]
    assert before.preview(OperationCall("update-traffic", S, {"to_revisions": "a=10,b=90",
                                                              "to_tags": "",
                                                              "to_latest": "false"})) == [
        *base, "--to-revisions", "a=10,b=90"]
    assert before.preview(OperationCall("update-traffic", S, {"to_tags": "blue=10"})) == [
        *base, "--to-tags", "blue=10"]
    assert before.preview(OperationCall("update-traffic", S, {"to_latest": "true"})) == [
        *base, "--to-latest"]
    assert before.preview(OperationCall("delete-revision", BLU)) == [
        "gcloud", "run", "revisions", "delete", BLU, "--project", P, "--region", US, "--quiet"]
    for args, words in (({}, "exactly one of"),
                        ({"to_tags": "blue=10", "to_latest": "true"}, "exactly one of"),
                        ({"to_revisions": "a=x"}, "not an integer")):
        with pytest.raises(UsageError, match=words):
            before.preview(OperationCall("update-traffic", S, args))
    backend = await _connected(tmp_path, fake, monkeypatch, gcloud="/opt/gcloud")
    target_ = f"{US}/{S}"
    assert backend.preview(OperationCall("update-traffic", target_, {"to_tags": "blue=10"})
                           )[0] == "/opt/gcloud"
    fake.services[US]["traffic"] = [target(BLU, 100, "blue"), target(GRN, 0, "green")]
    fake.services[US]["trafficStatuses"] = fake.services[US]["traffic"]
    await backend.list_targets()
    assert backend.preview(OperationCall("rollback", target_))[-2:] == [
        "--to-revisions", f"{GRN}=100"]
    refused = [({"to_revisions": f"{GRN}=60,{BLU}=60"}, "Over 100%"),
               ({"to_revisions": "nope-00009-xyz=10"}, "has no revision nope-00009-xyz"),
               ({"to_tags": "red=10"}, r"no revision tagged with \[red\]")]
    for args, words in refused:
        with pytest.raises(UsageError, match=words):
            backend.preview(OperationCall("update-traffic", target_, args))
    with pytest.raises(UsageError, match=f"revision {BLU} serves 100%"):
        backend.preview(OperationCall("delete-revision", f"{US}/{S}/{BLU}"))
    fake.revisions[US][1] = revision(BLU, "2026-12-04T09:00:00Z", "x", ready=False,
                                     reason="HEALTH_CHECK_CONTAINER_ERROR", message="no")
    fake.services[US]["traffic"] = [target(GRN, 100)]
    fake.services[US]["trafficStatuses"] = fake.services[US]["traffic"]
    await backend.list_targets()
    with pytest.raises(UsageError, match=f"revision {BLU} is not Ready"):
        backend.preview(OperationCall("update-traffic", target_, {"to_revisions": f"{BLU}=5"}))
    await backend.close()


async def test_explain_shows_the_traffic_before_and_after(tmp_path, fake, monkeypatch) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    lines = await backend.explain(OperationCall("update-traffic", f"{US}/{S}",
                                                {"to_tags": "blue=10"}))
    assert lines == [
        f"service {S} (project {P}, region {US}): traffic now and after",
        "REVISION                   NOW  AFTER  TAG",
        f"{BLU}    0%    10%  blue",
        f"{GRN}  100%    90%  green",
    ]
    lines = await backend.explain(OperationCall("rollback", f"{US}/{S}"))
    assert lines[0].endswith(f"refused: no Ready revision older than {GRN} to roll back to")
    lines = await backend.explain(OperationCall("update-traffic", S, {"to_latest": "true"}))
    assert "name one" in lines[0]
    await backend.close()


async def test_update_traffic_patches_with_the_etag_and_follows_the_operation(
        tmp_path, fake, monkeypatch) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    call = OperationCall("update-traffic", f"{US}/{S}", {"to_revisions": f"{BLU}=10"})
    result, lines = await backend.run(_op_spec(backend, call))
    assert result.exit_code == 0 and result.error is None, lines
    patch = next(r for r in fake.requests if r.method == "PATCH")
    body = json.loads(patch.content)
    assert body["etag"] == '"etag-1"' and patch.url.params["updateMask"] == "traffic"
    assert body["traffic"] == [target(GRN, 90), target(BLU, 10), target(GRN, 0, "green"),
                               target(BLU, 0, "blue")]
    polls = [r for r in fake.requests if "/operations/" in r.url.path]
    assert len(polls) == 2 and backend.waits == [0.1, 0.2]  # type: ignore[attr-defined]
    texts = [line.text for line in lines]
    assert texts[-3:] == ["REVISION                  BEFORE  NOW  TAG",
                          f"{BLU}      0%  10%  blue",
                          f"{GRN}    100%  90%  green"]
    await backend.close()


def _op_spec(backend: CloudRunBackend, call: OperationCall) -> Any:
    from cockpit.core.backends.base import CommandSpec

    return CommandSpec(operation=call, preview=backend.preview(call))


async def test_a_failed_operation_and_a_conflict_are_one_line(tmp_path, fake, monkeypatch
                                                              ) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    fake.op_error = {"code": 9, "message": "Revision 'x' is not ready and cannot serve "
                                           "traffic."}
    call = OperationCall("update-traffic", f"{US}/{S}", {"to_tags": "blue=50"})
    result, lines = await backend.run(_op_spec(backend, call))
    assert result.exit_code == 1
    assert lines[-1].stream == "stderr" and lines[-1].text == (
        "operation op-1 failed: Revision 'x' is not ready and cannot serve traffic. (code 9)")
    fake.op_error = None
    fake.fail("PATCH", f"services/{S}$", 409)
    result, lines = await backend.run(_op_spec(backend, call))
    assert result.exit_code == 1
    stderr = [line.text for line in lines if line.stream == "stderr"]
    assert len(stderr) == 1 and "409 ABORTED: injected 409" in stderr[0]
    assert f"someone else changed service {S}" in stderr[0] and "nothing was changed" in stderr[0]
    await backend.close()


async def test_an_operation_past_its_timeout_stops_following(tmp_path, fake, monkeypatch
                                                              ) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch, operation_timeout="30s")
    fake.op_polls = 10_000
    now = [1000.0]
    backend.clock = lambda: now[0]  # type: ignore[assignment]

    async def ticking(seconds: float) -> None:
        now[0] += seconds

    backend.sleep = ticking  # type: ignore[assignment]
    call = OperationCall("update-traffic", f"{US}/{S}", {"to_latest": "true"})
    result, lines = await backend.run(_op_spec(backend, call))
    assert result.exit_code == 1
    assert "not done after 30s (it goes on" in lines[-1].text
    await backend.close()


async def test_rollback_and_delete_revision(tmp_path, fake, monkeypatch) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    fake.services[US]["traffic"] = [target(BLU, 100, "blue"), target(GRN, 0, "green")]
    fake.services[US]["trafficStatuses"] = fake.services[US]["traffic"]
    await backend.list_targets()
    result, lines = await backend.run(_op_spec(backend, OperationCall("rollback", f"{US}/{S}")))
    assert result.exit_code == 0, lines
    assert fake.services[US]["traffic"][0] == target(GRN, 100)
    old = revision(f"{S}-00000-old", "2026-11-01T00:00:00Z", "x")
    fake.revisions[US].append(old)
    await backend.list_targets()
    result, lines = await backend.run(_op_spec(backend, OperationCall(
        "delete-revision", f"{S}-00000-old")))
    assert result.exit_code == 0, lines
    assert lines[-1].text == (f"revision {S}-00000-old deleted (service {S}, project {P}, "
                              f"region {US})")
    result, lines = await backend.run(_op_spec(backend, OperationCall(
        "delete-revision", f"{US}/{S}/{BLU}")))
    assert result.exit_code == 1 and "tagged blue" in lines[-1].text
    await backend.close()


@pytest.mark.parametrize("status", [400, 403, 404, 409, 429, 500, 503])
async def test_each_refusal_is_one_line_with_googles_message(tmp_path, fake, monkeypatch,
                                                             status: int) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    fake.fail("GET", f"services/{S}$", status,
              {"error": {"code": status, "status": _STATUS[status],
                         "message": f"Permission 'run.services.get' denied ({status})"}})
    with pytest.raises(GoogleAPIError) as info:
        await backend.api_call("GET", f"/v2/projects/{P}/locations/{US}/services/{S}")
    text = str(info.value)
    assert "\n" not in text and info.value.status == status
    assert text.startswith(f"Cloud Run: {status} {_STATUS[status]}: Permission "
                           f"'run.services.get' denied ({status})"), text
    assert text.endswith(f"[GET /v2/projects/{P}/locations/{US}/services/{S}]")
    hints = {403: "IAM permission", 409: "someone else changed it", 429: "quota exceeded",
             503: "unavailable now"}
    if status in hints:
        assert hints[status] in text
    await backend.close()


def test_error_bodies_that_are_not_googles() -> None:
    err = error_of("logging", 502, b"<html><body>Bad Gateway\n</body></html>")
    assert str(err) == "Cloud Logging: 502 BAD_GATEWAY: <html><body>Bad Gateway </body></html>"
    err = error_of("run", 401, b'{"error": "invalid_token", "error_description": "expired"}')
    assert err.reason == "INVALID_TOKEN" and "expired" in str(err)
    assert error_of("monitoring", 429, b"").reason == "TOO_MANY_REQUESTS"


async def test_bodies_are_capped_and_401_refreshes_once(tmp_path, monkeypatch) -> None:
    token = tmp_path / "token"
    token.write_text("old\n")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] != "Bearer new":
            token.write_text("new\n")  # gcloud wrote a fresh token meanwhile
            return httpx.Response(401, json={"error": {"status": "UNAUTHENTICATED",
                                                       "message": "bad"}})
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * (MAX_BODY + 10))
        return httpx.Response(200, json={"ok": True})

    monkeypatch.delenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", raising=False)
    opts = CloudRunOptions.model_validate({"kind": "cloudrun", "endpoints": {
        "run": "http://run.fake/"}})
    api = GoogleAPI(opts, TokenSource(token_file=str(token)),
                    transport=httpx.MockTransport(handler))
    assert await api.call("run", "GET", "/v2/x") == {"ok": True}
    assert seen == ["Bearer old", "Bearer new"]
    with pytest.raises(GoogleAPIError, match="over 8 MB: not read"):
        await api.call("run", "GET", "/big")
    token.write_text("stale\n")

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(401, json={"error": {"status": "UNAUTHENTICATED",
                                                   "message": "Request had invalid "
                                                              "authentication credentials."}})

    api2 = GoogleAPI(opts, TokenSource(token_file=str(token)),
                     transport=httpx.MockTransport(refuse))
    seen.clear()
    # the token came from a token file: the line names it (not ADC's login)
    with pytest.raises(GoogleAPIError, match=r"401 UNAUTHENTICATED: Request had invalid .*"
                                             r"the token in the access token file \(.*token\)"
                                             r" was refused"):
        await api2.call("run", "GET", "/v2/x")
    assert len(seen) == 2  # asked again once, not more
    await api.aclose()
    await api2.aclose()


async def test_a_call_without_an_answer_is_one_line(tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    opts = CloudRunOptions.model_validate({"kind": "cloudrun", "endpoints": {
        "run": "http://run.fake/"}, "timeout": "1s"})
    api = GoogleAPI(opts, TokenSource(token_file=str(token)),
                    transport=httpx.MockTransport(hang))
    with pytest.raises(GoogleAPIError) as info:
        await api.call("run", "GET", "/v2/x")
    assert info.value.status == 0
    assert str(info.value) == ("Cloud Run: UNREACHABLE: cannot reach run.fake: connection "
                               "refused [GET /v2/x]")
    await api.aclose()


async def test_missing_credentials_are_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.delenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", raising=False)
    backend = CloudRunBackend({"project": P, "region": US})
    with pytest.raises(CockpitError) as info:
        await backend.connect()
    assert str(info.value) == NO_CREDENTIALS
    with pytest.raises(CockpitError, match="cannot read the access token file"):
        await CloudRunBackend({"project": P, "region": US,
                               "access_token_file": str(tmp_path / "nope")}).connect()
    key = tmp_path / "bad.json"
    key.write_text("{}")
    with pytest.raises(CockpitError, match=f"unusable Google credentials file {key}"):
        await CloudRunBackend({"project": P, "region": US, "credentials": str(key)}).connect()


async def test_host_commands_get_gclouds_project_and_region(tmp_path, fake, monkeypatch) -> None:
    from cockpit.core.backends.base import CommandSpec

    backend = await _connected(tmp_path, fake, monkeypatch)
    result, lines = await backend.run(CommandSpec(
        script='echo "$CLOUDSDK_CORE_PROJECT $CLOUDSDK_RUN_REGION"'))
    assert result.exit_code == 0 and [line.text for line in lines] == [f"{P} {US}"]
    result, _ = await backend.run(CommandSpec(argv=["id"], target=f"{US}/{S}"))
    assert result.exit_code is None and "Cloud Run has no exec into a service" in str(
        result.error)
    await backend.switch_scope("region", EU)
    result, lines = await backend.run(CommandSpec(script='echo "$CLOUDSDK_RUN_REGION"'))
    assert [line.text for line in lines] == [EU]
    assert [t.scope for t in await backend.list_targets()] == [EU, EU]
    assert await backend.scope_choices("region") == ["all", US, EU]
    with pytest.raises(CockpitError, match="no region 'asia-east1'"):
        await backend.switch_scope("region", "asia-east1")
    await backend.close()


async def test_label_selectors_pick_services(tmp_path, fake, monkeypatch) -> None:
    fake.services[US]["labels"] = {"app": "tai", "tier": "api"}
    backend = await _connected(tmp_path, fake, monkeypatch)
    assert [t.id for t in await backend.select_targets("app=tai")] == [f"{US}/{S}"]
    assert [t.id for t in await backend.select_targets("app!=tai")] == [f"{EU}/{S}"]
    assert await backend.select_targets("tier,!nope") != []
    await backend.close()


def test_operations_and_their_target_params() -> None:
    assert {op.name: op.danger for op in OPERATIONS} == {
        "update-traffic": "dangerous", "rollback": "dangerous", "delete-revision": "dangerous"}
    opts = CloudRunOptions.model_validate({"kind": "cloudrun", "regions": [US, EU],
                                           "services": [S]})
    update = OPERATIONS[0]
    assert target_param(opts, update)["choices"] == [f"{US}/{S}", f"{EU}/{S}"]
    one = CloudRunOptions.model_validate({"kind": "cloudrun", "region": US, "services": [S]})
    assert target_param(one, update) == {"description": "the service (SERVICE or "
                                         "REGION/SERVICE)", "type": "choice", "choices": [S],
                                         "default": S}
    assert "regex" in target_param(one, OPERATIONS[2])


def test_the_package_imports_no_google_auth() -> None:
    code = ("import sys, cockpit.core.backends.cloudrun as c; "
            "c.CloudRunBackend({'project': 'p-1234', 'region': 'us-central1'}); "
            "print([m for m in sys.modules if m.startswith('google')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


async def test_cancel_stops_following_an_operation(tmp_path, fake, monkeypatch) -> None:
    backend = await _connected(tmp_path, fake, monkeypatch)
    fake.op_polls = 10_000
    waiting = asyncio.Event()
    never = asyncio.Event()

    async def held(_seconds: float) -> None:
        waiting.set()
        await never.wait()

    backend.sleep = held  # type: ignore[assignment]
    call = OperationCall("update-traffic", f"{US}/{S}", {"to_latest": "true"})
    execution = await backend.start(_op_spec(backend, call))
    await asyncio.wait_for(waiting.wait(), 10)
    await execution.cancel()
    result = await execution.wait()
    assert result.cancelled and result.exit_code is None
    texts = [line.text async for line in execution.lines()]
    assert texts[0].startswith("service ") and texts[-1].startswith("waiting for operation")
    await backend.close()
