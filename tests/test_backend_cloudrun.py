"""The cloudrun backend against the GCP double (``tests/gcpdouble``, seeded like
tai-erlang), reached the way gcloud reaches it: the double's exports (virtual-host
endpoint overrides and gcloud's HTTP proxy settings) set in the environment.

Services and revisions of two regions, a region that fails, a traffic change through the
action runner (recorded with project, region and service; the long-running operation
followed; the real gcloud then sees the split), a rollback, refusals as one line, and
both credential paths (the token file; an authorized_user ADC file refreshed at the
double's /token)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail
from cockpit.core.backends.cloudrun import CloudRunBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.environment import open_backend
from tests.gcpdouble.gcloud import run_gcloud
from tests.gcpdouble.seed import BLUE, GREEN, PROJECT, SERVICE

US, EU = "us-central1", "europe-west1"
PROFILE = """name: tai
backend:
  kind: cloudrun
  project: tai-erlang-demo
  regions: [us-central1, europe-west1]
  services: [tai-autonomics]
  operation_timeout: 30s
"""


def _runner(tmp_path: Path, body: str = PROFILE) -> ActionRunner:
    path = tmp_path / "profile.yaml"
    path.write_text(body)
    loaded = load_profile(path)
    return ActionRunner(loaded, open_backend(loaded), AuditTrail(tmp_path / "trail.jsonl"))


def _records(tmp_path: Path, trace_id: str) -> list[dict[str, Any]]:
    lines = (tmp_path / "trail.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("trace_id") == trace_id]


@pytest.fixture
async def runner(gcp_env, tmp_path) -> Any:
    runner = _runner(tmp_path)
    await runner.backend.connect()
    yield runner
    await runner.backend.close()


async def test_services_and_revisions_of_two_regions(runner, gcp) -> None:
    rows = {t.id: t for t in await runner.backend.list_targets()}
    assert list(rows) == [f"{US}/{SERVICE}", f"{US}/{SERVICE}/{BLUE}", f"{US}/{SERVICE}/{GREEN}",
                          f"{EU}/{SERVICE}", f"{EU}/{SERVICE}/{GREEN}"]
    svc = rows[f"{US}/{SERVICE}"]
    assert (svc.kind, svc.state, svc.health.state, svc.scope) == ("service", "ready", "ok", US)
    assert svc.details["uri"] == gcp.seeded["service_url"]
    assert svc.details["latestReadyRevision"] == BLUE
    blue, green = rows[f"{US}/{SERVICE}/{BLUE}"], rows[f"{US}/{SERVICE}/{GREEN}"]
    assert (blue.state, green.state) == ("0% blue", "100% green")
    assert blue.parent == svc.id and blue.image.endswith(":1.5.0") and green.started_at
    assert rows[f"{EU}/{SERVICE}/{GREEN}"].state == "100%"


async def test_a_region_that_fails_is_one_error_row(runner, gcp) -> None:
    gcp.inject("GET", rf"/locations/{EU}/services$", 503, times=None)
    rows = await runner.backend.list_targets()
    assert [t.id for t in rows][:3] == [f"{US}/{SERVICE}", f"{US}/{SERVICE}/{BLUE}",
                                        f"{US}/{SERVICE}/{GREEN}"]
    error, unseen = rows[-2:]
    assert (error.kind, error.name, error.state, error.health.state) == (
        "region", EU, "error", "fail")
    assert error.health.reason.startswith("Cloud Run: 503 UNAVAILABLE"), error.health.reason
    assert "\n" not in error.health.reason
    # the service the profile names there fails too (a probe of it must not pass)
    assert (unseen.id, unseen.kind, unseen.health.state) == (f"{EU}/{SERVICE}", "service",
                                                            "fail")
    assert unseen.health.reason.startswith(f"cannot list {EU}: Cloud Run: 503")


async def test_a_failed_latest_revision_fails_the_service(runner, gcp) -> None:
    bad = f"{SERVICE}-00003-bad"
    gcp.add_revision(US, SERVICE, bad, "us-docker.pkg.dev/x/tai:9.9", ready=False,
                     reason="CONTAINER_MISSING", message="Image 'us-docker.pkg.dev/x/tai:9.9' "
                                                        "not found.")
    rows = {t.id: t for t in await runner.backend.list_targets()}
    svc = rows[f"{US}/{SERVICE}"]
    assert (svc.state, svc.health.state) == ("failed", "fail")
    assert svc.health.reason == (f"latest revision {bad} not ready: ContainerMissing: Image "
                                 "'us-docker.pkg.dev/x/tai:9.9' not found.")
    assert rows[f"{US}/{SERVICE}/{bad}"].health.state == "fail"


async def test_update_traffic_through_the_runner_is_recorded_and_followed(
        runner, gcp, tmp_path) -> None:
    gcp.op_polls = 3
    prepared = runner.prepare("cloudrun.update-traffic",
                              {"service": f"{US}/{SERVICE}", "to_tags": "blue=10"})
    assert prepared.display == (f"gcloud run services update-traffic {SERVICE} --project "
                                f"{PROJECT} --region {US} --to-tags blue=10")
    asked: list[Any] = []

    def confirm(request: Any) -> bool:
        asked.append(request)
        return True

    outcome = await runner.run(prepared, confirm=confirm)
    assert outcome.status == "succeeded", outcome.message
    context = list(asked[0].context)
    assert context[1:] == ["REVISION                   NOW  AFTER  TAG",
                           f"{BLUE}    0%    10%  blue",
                           f"{GREEN}  100%    90%  green"]
    assert gcp.serving_split(US, SERVICE) == {GREEN: 90, BLUE: 10}
    polls = [p for m, _, p in gcp.requests() if m == "GET" and "/operations/" in p]
    assert len(polls) >= 3  # followed until done
    started, ended = _records(tmp_path, prepared.trace_id)
    for record in (started, ended):
        assert record["backend"] == {"kind": "cloudrun", "host": "run.fake",
                                     "project": PROJECT, "region": US, "service": SERVICE}
    assert ended["operation"] == {"name": "update-traffic", "target": f"{US}/{SERVICE}",
                                  "args": {"to_revisions": "", "to_tags": "blue=10",
                                           "to_latest": "false"}}
    assert ended["output_tail"][-2:] == [f"{BLUE}      0%  10%  blue",
                                         f"{GREEN}    100%  90%  green"]
    # the real gcloud sees the new split
    described = run_gcloud(gcp, "run", "services", "describe", SERVICE, "--region", US,
                           "--format", "json")
    traffic = json.loads(described.stdout)["status"]["traffic"]
    assert {t["revisionName"]: t.get("percent", 0) for t in traffic
            if t.get("percent")} == {GREEN: 90, BLUE: 10}


async def test_a_change_made_by_gcloud_shows_in_the_targets(runner, gcp) -> None:
    run_gcloud(gcp, "run", "services", "update-traffic", SERVICE, "--region", US,
               "--to-revisions", f"{BLUE}=30")
    rows = {t.id: t for t in await runner.backend.list_targets()}
    assert rows[f"{US}/{SERVICE}/{BLUE}"].state == "30% blue"
    assert rows[f"{US}/{SERVICE}/{GREEN}"].state == "70% green"


async def test_rollback_goes_to_the_previous_serving_revision(runner, gcp, tmp_path) -> None:
    gcp.set_traffic(US, SERVICE, {BLUE: 100}, tags={GREEN: "green", BLUE: "blue"})
    await runner.backend.list_targets()
    prepared = runner.prepare("cloudrun.rollback", {"service": f"{US}/{SERVICE}"})
    assert prepared.display.endswith(f"--to-revisions {GREEN}=100")
    outcome = await runner.execute(prepared, confirmed=True)
    assert outcome.status == "succeeded", outcome.message
    assert gcp.serving_split(US, SERVICE) == {GREEN: 100}
    tags = {t.get("tag") for t in gcp.traffic(US, SERVICE)}
    assert {"green", "blue"} <= tags  # tags kept, as gcloud keeps them
    # nothing older than green to go back to: refused before anyone is asked
    await runner.backend.list_targets()
    with pytest.raises(Exception, match=f"no Ready revision older than {GREEN}"):
        runner.prepare("cloudrun.rollback", {"service": f"{US}/{SERVICE}"})


async def test_a_bad_split_is_refused_when_prepared(runner) -> None:
    from cockpit.core.errors import UsageError

    for args, words in (({"to_revisions": f"{GREEN}=70,{BLUE}=70"}, "Over 100%"),
                        ({"to_tags": "purple=10"}, r"no revision tagged with \[purple\]"),
                        ({"to_tags": "blue=10", "to_latest": "true"}, "exactly one of")):
        with pytest.raises(UsageError, match=words):
            runner.prepare("cloudrun.update-traffic", {"service": f"{US}/{SERVICE}", **args})
    with pytest.raises(UsageError, match=f"service {SERVICE} is in {US} and {EU}: name one"):
        runner.backend.preview(__import__("cockpit.core.backends.operations", fromlist=["x"])
                               .OperationCall("rollback", SERVICE))


@pytest.mark.parametrize(("code", "reason", "words"), [
    (409, "ABORTED", "someone else changed service tai-autonomics"),
    (403, "PERMISSION_DENIED", "the account lacks the IAM permission"),
    (429, "RESOURCE_EXHAUSTED", "quota exceeded"),
    (503, "UNAVAILABLE", "the service is unavailable now"),
])
async def test_refusals_are_one_line(runner, gcp, tmp_path, code: int, reason: str,
                                     words: str) -> None:
    gcp.inject("PATCH", rf"/services/{SERVICE}$", code, message=f"refused with {code}")
    prepared = runner.prepare("cloudrun.update-traffic",
                              {"service": f"{US}/{SERVICE}", "to_tags": "blue=10"})
    outcome = await runner.execute(prepared, confirmed=True)
    assert outcome.status == "failed"
    _, ended = _records(tmp_path, prepared.trace_id)
    errors = [line for line in ended["output_tail"] if line.startswith("Cloud Run:")]
    assert len(errors) == 1, ended["output_tail"]
    assert errors[0].startswith(f"Cloud Run: {code} {reason}: refused with {code}")
    assert words in errors[0]
    assert gcp.serving_split(US, SERVICE) == {GREEN: 100}  # nothing changed


async def test_a_failed_operation_fails_the_run_with_its_message(runner, gcp, tmp_path
                                                                 ) -> None:
    gcp.op_polls = 3
    message = "The user-provided container failed the health check."

    async def blue_breaks_meanwhile(_seconds: float) -> None:
        gcp.set_revision(US, BLUE, ready=False, reason="HEALTH_CHECK_CONTAINER_ERROR",
                         message=message)

    runner.backend.sleep = blue_breaks_meanwhile
    prepared = runner.prepare("cloudrun.update-traffic",
                              {"service": f"{US}/{SERVICE}", "to_tags": "blue=10"})
    outcome = await runner.execute(prepared, confirmed=True)
    assert outcome.status == "failed"
    _, ended = _records(tmp_path, prepared.trace_id)
    last = ended["output_tail"][-1]
    assert re.fullmatch(rf"operation [-0-9a-f]+ failed: Revision '{BLUE}' is not ready and "
                        r"cannot serve traffic\. \(code 9\)", last), last
    assert gcp.serving_split(US, SERVICE) == {GREEN: 100}
    # now that blue is not Ready, a split giving it traffic is refused when prepared
    await runner.backend.list_targets()
    from cockpit.core.errors import UsageError

    with pytest.raises(UsageError, match=f"revision {BLUE} is not Ready"):
        runner.prepare("cloudrun.update-traffic",
                       {"service": f"{US}/{SERVICE}", "to_tags": "blue=10"})


async def test_delete_revision_refuses_a_tagged_one_and_deletes_a_spare(runner, gcp) -> None:
    spare = f"{SERVICE}-00000-old"
    gcp.add_revision(US, SERVICE, spare, "us-docker.pkg.dev/x/tai:1.0",
                     create_time=gcp.state.clock() - 30 * 86400)
    await runner.backend.list_targets()
    from cockpit.core.errors import UsageError

    with pytest.raises(UsageError, match=r"serves 0% of service .* \(tag blue\)"):
        runner.prepare("cloudrun.delete-revision", {"revision": f"{US}/{SERVICE}/{BLUE}"})
    prepared = runner.prepare("cloudrun.delete-revision", {"revision": spare})
    assert prepared.display == (f"gcloud run revisions delete {spare} --project {PROJECT} "
                                f"--region {US} --quiet")
    outcome = await runner.execute(prepared, confirmed=True)
    assert outcome.status == "succeeded", outcome.message
    assert spare not in {t.name for t in await runner.backend.list_targets()}


async def test_host_commands_talk_to_the_same_project(runner) -> None:
    from cockpit.core.backends.base import CommandSpec

    result, lines = await runner.backend.run(CommandSpec(
        argv=["sh", "-c", 'echo "$CLOUDSDK_CORE_PROJECT/$CLOUDSDK_RUN_REGION"']))
    assert result.exit_code == 0 and lines[0].text == f"{PROJECT}/{US}"


async def test_the_token_file_is_read_again_when_it_changes(gcp, gcp_env) -> None:
    backend = CloudRunBackend({"regions": [US]})
    await backend.connect()
    assert backend.project == PROJECT  # $CLOUDSDK_CORE_PROJECT
    new = gcp.set_file_token()
    Path(gcp_env["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]).write_text(new + "\n")
    assert len(await backend.list_targets()) == 3
    await backend.close()


async def test_adc_from_an_authorized_user_file(gcp, gcp_adc) -> None:
    backend = CloudRunBackend({"regions": [US, EU]})
    await backend.connect()
    rows = await backend.list_targets()
    assert [t.kind for t in rows].count("service") == 2
    gcp.revoke_tokens(keep_file_token=False)  # the access token dies: refreshed after 401
    assert len(await backend.list_targets()) == 5
    await backend.close()


async def test_no_credentials_at_all_is_one_line(gcp_env, tmp_path, monkeypatch) -> None:
    from cockpit.core.backends.cloudrun.auth import NO_CREDENTIALS
    from cockpit.core.errors import CockpitError

    monkeypatch.delenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(CockpitError) as info:
        await CloudRunBackend({"regions": [US]}).connect()
    assert str(info.value) == NO_CREDENTIALS


async def test_statistics_and_logs_of_a_service(runner, gcp) -> None:
    from cockpit.core.backends.base import LogQuery, LogRecord

    backend = runner.backend
    stats = await backend.target_stats(f"{US}/{SERVICE}")
    assert set(stats) == set(backend.stat_names)
    assert stats["error_rate"] == 0 and stats["p99_latency_ms"] == 120
    gcp.set_traffic(US, SERVICE, {GREEN: 50, BLUE: 50}, tags={GREEN: "green", BLUE: "blue"})
    assert (await backend.target_stats(f"{US}/{SERVICE}/{BLUE}"))["error_rate"] == 6
    records: list[LogRecord] = []
    query = LogQuery(targets=(f"{US}/{SERVICE}",), tail=200, follow=False)
    async for batch in backend.logs(query):
        records += [item for item in batch if isinstance(item, LogRecord)]
    # the profile has two regions: each line says which region's revision it came from
    assert {r.source for r in records} == {f"{US}/{GREEN}", f"{US}/{BLUE}"}
    assert any(r.severity == "error" and "NOT_FOUND" in r.text for r in records)
    assert [r.ts for r in records] == sorted(r.ts for r in records)
    notices = [batch async for batch in backend.logs(LogQuery(targets=(SERVICE,),
                                                              follow=False))]
    assert "name one" in notices[0][0].text  # in two regions: which one?
