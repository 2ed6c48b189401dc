"""The three real runbooks (copies of ../shared/runbooks) parse exactly as read by hand.

Counts were taken from the files: headings outside code blocks, opening fences, task
items, and each block's language, read one by one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cockpit.core.config.loader import load_profile
from cockpit.core.runbooks.model import Expectation
from cockpit.core.runbooks.parser import parse_runbook
from cockpit.core.runbooks.placeholders import missing_params

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "runbooks"
REPO = Path(__file__).resolve().parent.parent
REAL = ("meta-salvage-k8s.md", "tai-erlang-autonomics.md", "techno-os-backend.md")


def parse(name: str):
    return parse_runbook(FIXTURES / name, which=lambda _: None)


def levels(runbook) -> Counter:
    return Counter(s.danger.level for s in runbook.steps if s.runnable)


def params_by_step(runbook) -> dict[str, list[tuple[str, str, tuple[str, ...], int]]]:
    return {
        s.id: [(p.name, p.kind, p.tokens, p.line) for p in s.placeholders]
        for s in runbook.steps
        if s.placeholders
    }


@pytest.mark.parametrize("name", REAL)
def test_fixtures_are_byte_copies_of_the_shared_runbooks(name):
    if not (SHARED / name).exists():
        pytest.skip("../shared/runbooks is not beside this clone")
    assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes()


def test_meta_salvage_k8s():
    rb = parse("meta-salvage-k8s.md")
    assert (len(rb.sections), len(rb.steps), len(rb.checklist)) == (42, 34, 0)
    assert all(s.runnable and s.language == "bash" and s.kind == "block" for s in rb.steps)
    assert rb.problems == []
    assert rb.title == "Protocollo Meta Salvage - Operational Runbooks"
    assert rb.sections[0].slug == "protocollo-meta-salvage---operational-runbooks"

    rollback = rb.step("emergency-rollback/1")
    assert rollback.line == 239
    assert rollback.section.path == (
        "protocollo-meta-salvage---operational-runbooks",
        "deployment-procedures",
        "emergency-rollback",
    )
    assert rollback.danger.level == "dangerous"
    assert rollback.danger.reasons == ("dangerous: kubectl rollout undo (line 241)",)
    assert rb.step("blue-green-deployment/1").danger.reasons == (
        "caution: kubectl apply (line 256)",
        "dangerous: kubectl patch (line 262)",
        "dangerous: kubectl patch (line 266)",
    )
    assert rb.step("disaster-recovery/1").danger.reasons == (
        "dangerous: terraform apply (line 402)",
    )
    assert {s.id for s in rb.steps if s.danger.level == "dangerous"} == {
        "emergency-rollback/1",
        "blue-green-deployment/1",
        "disaster-recovery/1",
    }
    assert rb.step("manual-scaling/1").danger.reasons == (
        "caution: kubectl scale (line 324)",
        "caution: kubectl scale (line 327)",
    )
    assert rb.step("restart-grafana/1").danger.reasons == (
        "caution: kubectl rollout restart (line 436)",
    )
    assert rb.step("configuration-backup/1").danger.reasons == (
        "caution: overwrites backup-k8s-$(date +%Y%m%d).yaml (> redirection) (line 362)",
        "caution: overwrites backup-configmaps-$(date +%Y%m%d).yaml (> redirection) (line 365)",
        "caution: overwrites backup-secrets-$(date +%Y%m%d).yaml (> redirection) (line 368)",
    )
    assert rb.step("metrics-data-backup/1").danger.reasons == ("caution: curl -X POST (line 375)",)
    assert rb.step("daily-health-check/1").danger.level == "safe"  # reads, and comments
    assert levels(rb) == {"safe": 16, "caution": 15, "dangerous": 3}

    assert params_by_step(rb) == {
        "peace-bonds-policy-violation/2": [("PROVIDER_ID", "brace", ("{provider_id}",), 140)]
    }
    assert not any(s.expectations for s in rb.steps)
    assert not any(s.repairs for s in rb.steps)
    assert [s.id for s in rb.section_steps("deployment-procedures")] == [
        "standard-deployment/1",
        "standard-deployment/2",
        "standard-deployment/3",
        "emergency-rollback/1",
        "blue-green-deployment/1",
    ]


def test_tai_erlang_autonomics():
    rb = parse("tai-erlang-autonomics.md")
    # 52 fences: 51 steps + the json block of expected output; + 6 Quick Reference commands
    assert (len(rb.sections), len(rb.steps), len(rb.checklist)) == (45, 57, 6)
    assert sum(s.runnable for s in rb.steps) == 47
    assert rb.problems == []
    not_runnable = {s.id: (s.language, s.reason) for s in rb.steps if not s.runnable}
    no_language = (
        "",
        "no language on the fence: only bash, sh, shell, zsh, console and python blocks run",
    )
    erlang = (
        "erlang",
        "erlang block: expressions for the node's shell (rebar3 shell, remote_console)",
    )
    assert not_runnable == {
        "cloud-run-health-checks/1": no_language,
        "kubernetes-health-checks/1": ("yaml", "yaml block: data or output, not a command"),
        "issue-health-check-fails-503/1": no_language,
        "issue-health-check-fails-503/2": erlang,
        "issue-health-check-fails-503/5": erlang,
        "issue-out-of-memory/1": erlang,
        "issue-pubsub-messages-not-processing/4": erlang,
        "issue-hash-chain-verification-fails/3": erlang,
        "issue-hash-chain-verification-fails/4": erlang,
        "receipt-ledger-backup/1": erlang,
    }

    table = [s for s in rb.steps if s.kind == "table"]
    assert [(s.id, s.line, s.command) for s in table] == [
        (
            "quick-reference/table-1",
            11,
            "_build/default/rel/tai_autonomics/bin/tai_autonomics start",
        ),
        (
            "quick-reference/table-2",
            12,
            "_build/default/rel/tai_autonomics/bin/tai_autonomics stop",
        ),
        ("quick-reference/table-3", 13, "curl http://localhost:8080/health"),
        (
            "quick-reference/table-4",
            14,
            "tail -f _build/default/rel/tai_autonomics/log/erlang.log.1",
        ),
        (
            "quick-reference/table-5",
            15,
            "make build && _build/default/rel/tai_autonomics/bin/tai_autonomics restart",
        ),
        ("quick-reference/table-6", 16, "make gcp-deploy"),
    ]
    assert [s.danger.level for s in table] == [
        "safe", "caution", "safe", "safe", "caution", "caution",
    ]  # fmt: skip

    # the json block after "Expected response:" is the health check's expectation
    assert not any(s.line == 100 for s in rb.steps)
    health = rb.step("manual-health-check/1")
    assert health.line == 95 and health.command == "curl -v http://localhost:8080/health"
    [expected] = health.expectations
    assert (expected.line, expected.source, expected.language) == (100, "block", "json")
    assert expected.text.startswith('{\n  "status": "ok",') and expected.text.endswith("}")
    assert rb.step("local-development/1").expectations == [
        Expectation('Expected: {"status": "ok"}', 39, "comment")
    ]
    assert {s.id for s in rb.steps if s.expectations} == {
        "local-development/1",
        "manual-health-check/1",
    }

    dangerous = {s.id: s.danger.reasons for s in rb.steps if s.danger.level == "dangerous"}
    assert dangerous == {
        "gcp-cloud-run/1": ("dangerous: make terraform-apply (line 65)",),
        "issue-pubsub-messages-not-processing/5": (
            "dangerous: gcloud pubsub subscriptions pull --auto-ack "
            "(acknowledges, removes messages) (line 392)",
        ),
        "disaster-recovery/1": ("dangerous: gcloud firestore restore BACKUP_ID (line 574)",),
        "planned-maintenance/1": (
            "caution: gcloud run deploy tai-autonomics-blue (line 642)",
            "dangerous: gcloud run services update-traffic tai-autonomics (line 643)",
            "dangerous: gcloud run services update-traffic tai-autonomics (line 652)",
        ),
    }
    assert rb.step("issue-pubsub-messages-not-processing/1").danger.level == "safe"  # no ack
    assert rb.step("issue-health-check-fails-503/6").danger.reasons == (
        "caution: tai_autonomics stop (line 202)",
    )
    assert rb.step("docker-compose-local/1").danger.reasons == (
        "caution: docker-compose up (line 49)",
    )
    assert levels(rb) == {"safe": 22, "caution": 21, "dangerous": 4}

    assert params_by_step(rb) == {
        "issue-receipts-not-being-written/4": [("PROJECT_ID", "caps", ("PROJECT_ID",), 243)],
        "issue-receipts-not-being-written/5": [("PROJECT_ID", "caps", ("PROJECT_ID",), 251)],
        "disaster-recovery/1": [("BACKUP_ID", "caps", ("BACKUP_ID",), 574)],
        "disaster-recovery/2": [("REGISTRY", "caps", ("REGISTRY",), 580)],
        "disaster-recovery/3": [("SERVICE_URL", "caps", ("SERVICE_URL",), 585)],
        "planned-maintenance/1": [
            ("NEW_IMAGE", "caps", ("NEW_IMAGE",), 642),
            ("SERVICE_URL", "caps", ("SERVICE_URL",), 646),
        ],
        "quick-diagnostic-commands/1": [("SERVICE_URL", "caps", ("SERVICE_URL",), 692)],
    }
    # $SERVICE_URL is assigned in the same step: not a param
    assert "SERVICE_URL=$(cd terraform" in rb.step("gcp-cloud-run/1").command

    assert [(c.id, c.line, c.checked) for c in rb.checklist] == [
        (f"startup-validation-checklist/check-{n}", 81 + n, False) for n in range(1, 7)
    ]
    assert rb.checklist[0].text == (
        "HTTP server responding: `curl http://localhost:8080/health` returns 200"
    )


def test_techno_os_backend():
    rb = parse("techno-os-backend.md")
    assert (len(rb.sections), len(rb.steps), len(rb.checklist)) == (27, 32, 0)
    assert all(s.runnable for s in rb.steps) and rb.problems == []
    assert [s.kind for s in rb.steps].count("table") == 7
    assert rb.steps[0].id == "11-environment-setup/1"  # "1.1 Environment Setup"

    dangerous = {s.id: s.danger.reasons for s in rb.steps if s.danger.level == "dangerous"}
    assert dangerous == {"43-audit-log-growing-too-fast/3": ("dangerous: find -delete (line 353)",)}
    caution = {s.id: s.danger.reasons for s in rb.steps if s.danger.level == "caution"}
    own_job = "caution: kill of the step's own background job ($API_PID=$!)"
    assert caution == {
        "11-environment-setup/1": ("caution: cp overwrites .env (line 15)",),
        "12-python-dependencies/1": ("caution: pip install (line 32)",),
        "23-api-startup-test/1": (f"{own_job} (line 132)",),
        "24-end-to-end-smoke-test/1": (
            "caution: curl -X POST (line 145)",
            f"{own_job} (line 158)",
            f"{own_job} (line 171)",
        ),
        "part-5-runbook-verification-automated/1": (
            "caution: curl -X POST (line 389)",
            f"{own_job} (line 401)",
        ),
    }

    expectations = {
        s.id: [(e.line, e.source) for e in s.expectations] for s in rb.steps if s.expectations
    }
    assert expectations == {
        "11-environment-setup/1": [(20, "comment")],
        "12-python-dependencies/1": [(34, "comment")],
        "14-action-registry-sync/1": [(63, "comment")],
        "21-unit-tests-pytest/1": [(95, "comment")],
        "31-check-api-health/1": [(211, "comment")],
        "32-audit-log-analysis/1": [(221, "comment")],
    }
    assert rb.step("11-environment-setup/1").expectations[0].text == (
        "Expected output (all 5 lines present):\n"
        "VERITTA_HOST=0.0.0.0\n"
        "VERITTA_PORT=8000\n"
        "VERITTA_BETA_API_KEY=CHANGE_ME_TO_A_LONG_RANDOM_SECRET\n"
        "VERITTA_PROFILES_FINGERPRINT=...\n"
        "VERITTA_AUDIT_LOG_PATH=./audit.log"
    )

    params = params_by_step(rb)
    assert all(kind == "env" for ps in params.values() for _, kind, _, _ in ps)
    assert params["13-governance-profiles-fingerprint-p11-invariant/1"] == [
        ("VERITTA_PROFILES_FINGERPRINT", "env", ("$VERITTA_PROFILES_FINGERPRINT",), 50)
    ]  # the <hash> of line 47 is in a comment: not a param
    assert params["23-api-startup-test/1"] == [
        ("VERITTA_HOST", "env", ("$VERITTA_HOST",), 122),
        ("VERITTA_PORT", "env", ("$VERITTA_PORT",), 122),
    ]
    assert params["24-end-to-end-smoke-test/1"] == [
        ("VERITTA_BETA_API_KEY", "env", ("$VERITTA_BETA_API_KEY",), 147),
        ("VERITTA_AUDIT_LOG_PATH", "env", ("$VERITTA_AUDIT_LOG_PATH",), 164),
    ]
    with_log = [s for s, ps in params.items() if ("VERITTA_AUDIT_LOG_PATH" in {p[0] for p in ps})]
    assert len(with_log) == 18  # 13 blocks and 5 Quick Reference commands
    assert set(params) - set(with_log) == {
        "13-governance-profiles-fingerprint-p11-invariant/1",
        "23-api-startup-test/1",
        "part-5-runbook-verification-automated/1",
    }

    # with the techno-os profile, only what its env does not define is asked for
    loaded = load_profile(REPO / "profiles" / "techno-os.yaml", environ={"PWD": "/srv/techno"})
    smoke = rb.step("24-end-to-end-smoke-test/1")
    assert [p.name for p in missing_params(smoke.placeholders, loaded.env)] == [
        "VERITTA_BETA_API_KEY"
    ]
    assert missing_params(rb.step("15-audit-log-path/1").placeholders, loaded.env) == []


def test_steps_that_run_until_stopped_are_named():
    endless = {
        name: [(s.id, s.endless) for s in parse_runbook(FIXTURES / f"{name}.md").steps
               if s.endless]
        for name in ("meta-salvage-k8s", "tai-erlang-autonomics", "techno-os-backend")
    }
    assert endless == {
        "meta-salvage-k8s": [("standard-deployment/3", "watch"),
                             ("adjust-hpa-parameters/1", "kubectl edit"),
                             ("update-prometheus-configuration/1", "kubectl edit")],
        "tai-erlang-autonomics": [("quick-reference/table-4", "tail -f"),
                                  ("issue-health-check-fails-503/3", "tail -100f"),
                                  ("viewing-logs/1", "tail -f"), ("local/1", "tail -f")],
        "techno-os-backend": [],
    }
