"""``cockpit runbook`` against the real demo service, as a new user meets it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port

DEMO = Path(__file__).parent / "fixtures" / "runbooks" / "demo-ops.md"
REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the demo runbook uses curl")


#: what every shell step starts and ends with: run as pasted, fail with the first failure
AS_PASTED = (
    "set +eu +o pipefail\n"
    "__cockpit_failed=0\n"
    "trap '__cockpit_rc=$?; [ \"$__cockpit_failed\" -ne 0 ] || __cockpit_failed=$__cockpit_rc' ERR\n"
)
EXIT_FIRST_FAILURE = 'exit "$__cockpit_failed"\n'


def cockpit(*args: str, env: dict[str, str], stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "cockpit", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def demo_env(tmp_path):
    env = {**os.environ, "COCKPIT_DEMO_PORT": str(free_port()), "NO_COLOR": "1",
           "COCKPIT_RUNBOOK_PYTHON": sys.executable}  # fmt: skip
    yield env
    cockpit("run", "stop", "--yes", env=env)


def trail(env: dict[str, str]) -> list[dict]:
    path = Path(env["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_runbook_steps_run_audited(demo_env):
    env = demo_env
    assert cockpit("run", "start", env=env).returncode == 0
    book = str(DEMO)

    proc = cockpit("runbook", "run", book, "api-health/1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '"status":"healthy"\n'
    assert 'expected (line 26):\n    "status":"healthy"\n' in proc.stderr

    # a section: the caution step is refused without a terminal and without --yes
    proc = cockpit("runbook", "run", book, "smoke-test", env=env, stdin="y\n")
    assert proc.returncode == 3, proc.stderr
    assert "send-one-request/1: denied [NOT_CONFIRMED]" in proc.stderr
    assert "find-it-in-the-audit-log/1" not in proc.stderr  # stopped there

    # with --yes: the trace id exported by the first step reaches the second and third
    proc = cockpit("runbook", "run", book, "smoke-test", "--yes", env=env)
    assert proc.returncode == 0, proc.stderr
    first, response, count = proc.stdout.splitlines()
    trace = first.removeprefix("trace id: ")
    body = json.loads(response)
    assert (body["trace_id"], body["decision"], body["status_code"]) == (trace, "ALLOW", 200)
    assert count == "2"

    # a dangerous step is refused (exit 3) and the refusal is on record
    proc = cockpit("runbook", "run", book, "inject-errors", env=env, stdin="y\n")
    assert proc.returncode == 3
    assert "inject-errors: denied [NOT_CONFIRMED]" in proc.stderr

    # dry run: the exact command, nothing runs
    proc = cockpit("runbook", "run", book, "trace-lookup", "--dry-run", "-p", f"TRACE_ID={trace}",
                   env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "# trace-lookup/1 (line 89) — safe\n"
        f"COCKPIT_P_TRACE_ID={trace} \\\n"
        "bash -euo pipefail <<'SCRIPT'\n"
        "# runbook step trace-lookup/1 (line 89)\n"
        + AS_PASTED
        + 'grep -c \'"trace_id":"\'"${COCKPIT_P_TRACE_ID}"\'"\' "$COCKPIT_DEMO_STATE/audit.jsonl"\n'
        + EXIT_FIRST_FAILURE
        + "SCRIPT\n"
    )
    proc = cockpit("runbook", "run", book, "trace-lookup", "-p", f"TRACE_ID={trace}", env=env)
    assert (proc.returncode, proc.stdout) == (0, "2\n")
    proc = cockpit("runbook", "run", book, "trace-lookup", "-p", "TRACE_ID=x'; touch /tmp/p #",
                   env=env)  # fmt: skip
    assert proc.returncode == 2 and "does not match" in proc.stderr

    proc = cockpit("runbook", "run", book, "checks-in-python/1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "checks: audit_sink, database, executor, queue\n"

    assert cockpit("run", "stop", "--yes", env=env).returncode == 0
    proc = cockpit("audit", "verify", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # start 2, api-health 2, prepare 2 + send denied 1, prepare 2 + send 2 + find 2,
    # inject-errors denied 1, trace-lookup 2, checks-in-python 2, stop 2
    assert "20 records intact" in proc.stdout

    records = [r for r in trail(env) if r.get("source", {}).get("kind") == "runbook"]
    outcomes = [(r["source"]["step"], r["status"]) for r in records if r["status"] != "started"]
    assert outcomes == [
        ("api-health/1", "succeeded"),
        ("prepare/1", "succeeded"),
        ("send-one-request/1", "denied"),
        ("prepare/1", "succeeded"),
        ("send-one-request/1", "succeeded"),
        ("find-it-in-the-audit-log/1", "succeeded"),
        ("inject-errors", "denied"),
        ("trace-lookup/1", "succeeded"),
        ("checks-in-python/1", "succeeded"),
    ]
    assert {r["source"]["path"] for r in records} == {str(DEMO.resolve())}
    denied = next(r for r in records if r["source"]["step"] == "inject-errors")
    assert (denied["action"], denied["danger"], denied["decision"], denied["reason_codes"]) == (
        "rb.demo-ops.inject-errors", "dangerous", "DENY", ["NOT_CONFIRMED"],
    )  # fmt: skip
    lookup = next(r for r in records if r["source"]["step"] == "trace-lookup/1")
    assert lookup["params"] == {"TRACE_ID": trace} and lookup["source"]["line"] == 89
    proc = cockpit("audit", "stats", "--by", "source.step", "--where", "source.kind=runbook",
                   "--where", "status!=started", "--json", env=env)  # fmt: skip
    assert json.loads(proc.stdout)["counts"]["prepare/1"] == 2


def test_list_and_show(demo_env):
    env = demo_env
    proc = cockpit("runbook", "list", str(DEMO), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["title"] == "Demo service runbook"
    assert (len(data["sections"]), len(data["steps"])) == (17, 14)
    assert data["checklist"]["checked"] == 1 and data["checklist"]["total"] == 3
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["inject-errors"]["danger"] == "dangerous"
    assert steps["inject-errors"]["danger_reasons"] == [
        "caution: curl -X POST (line 100)",
        "annotated: danger=dangerous (detected caution)",
    ]
    assert steps["truncate-log"]["danger_detected"] == "dangerous"
    # the demo profile defines COCKPIT_DEMO_*: only real placeholders are params
    assert {k: [p["name"] for p in s["params"]] for k, s in steps.items() if s["params"]} == {
        "trace-lookup/1": ["TRACE_ID"],
        "backups/1": ["YYYYMMDD_HHMMSS"],
    }
    assert steps["from-a-console/1"]["expectations"] == [
        {"line": 34, "source": "console", "language": "", "text": "200"}
    ]
    assert [s["id"] for s in data["steps"] if s["kind"] == "table"] == [
        "quick-reference/table-1", "quick-reference/table-2", "quick-reference/table-3",
    ]  # fmt: skip

    proc = cockpit("runbook", "list", str(DEMO), env=env)
    assert proc.returncode == 0
    assert "17 sections, 14 steps (14 runnable), checklist 1/3" in proc.stdout
    proc = cockpit("runbook", "show", str(DEMO), "backups/1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "YYYYMMDD_HHMMSS (env COCKPIT_P_YYYYMMDD_HHMMSS, line 123)" in proc.stdout
    assert '"$COCKPIT_DEMO_STATE/audit-${COCKPIT_P_YYYYMMDD_HHMMSS}.jsonl"' in proc.stdout
    proc = cockpit("runbook", "show", str(DEMO), "nope/1", env=env)
    assert proc.returncode == 2 and "no step 'nope/1'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_shipped_demo_runbook_matches_the_fixture():
    """The demo profile's runbook: built in, copied beside profiles/demo.yaml, tested."""
    shipped = REPO / "src" / "cockpit" / "profiles" / "demo-runbook.md"
    assert shipped.read_text() == DEMO.read_text()
    assert (REPO / "profiles" / "demo-runbook.md").read_text() == DEMO.read_text()


def test_steps_start_in_the_runbook_s_folder_unless_the_profile_sets_a_workdir(tmp_path):
    """A runbook run with the built-in demo profile ran in the cockpit's own package folder
    (a hostile trial's `find . -delete` step deleted the demo profile there)."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "ops"
    folder.mkdir()
    book = folder / "rb.md"
    book.write_text("# Ops\n\n## Where\n\n```bash\npwd\n```\n")
    env = {**os.environ, "COCKPIT_AUDIT_PATH": str(tmp_path / "a.jsonl"),
           "COCKPIT_AUDIT_WITNESS": "none", "NO_COLOR": "1"}
    run = subprocess.run([sys.executable, "-m", "cockpit", "runbook", "run", str(book),
                          "where/1", "--yes"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert str(folder) in run.stdout.splitlines()
    profile = tmp_path / "p.yaml"
    profile.write_text(f"name: p\nworkdir: {tmp_path}\n")
    run = subprocess.run([sys.executable, "-m", "cockpit", "runbook", "run", str(book),
                          "where/1", "--yes", "--profile", str(profile)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert str(tmp_path) in run.stdout.splitlines()
