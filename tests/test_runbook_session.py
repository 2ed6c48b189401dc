"""RunbookSession: steps run in order through the ActionRunner, audited, with exported vars."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import orjson
import pytest

from cockpit.core.actions.runner import ActionRunner
from cockpit.core.audit.trail import AuditTrail, verify_trail
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import UsageError
from cockpit.core.runbooks.parser import parse_runbook
from cockpit.core.runbooks.session import RunbookSession
from tests.support import async_wait_until

RUNBOOK = """\
# Ops

## Flow

```bash
export GREETING="hello world"
export FROM_PROFILE_SEEN="$PROFILE_VALUE"
mkdir -p sub && cd sub
```

```erlang
not:runnable().
```

```bash
echo "greeting=$GREETING seen=$FROM_PROFILE_SEEN pwd=$(basename "$PWD") id=<ITEM_ID>"
```

```python
import os
print("python sees", os.environ["GREETING"])
```

## Careful

```bash
echo caution-ran > "$OUT_FILE"
```

```bash
echo after
```

## Failing

```bash
echo first
```

```bash
echo second; exit 3
```

```bash
echo never
```

## Dangerous

```bash {name=wipe}
rm -rf "$TARGET_DIR"
```

## Slow

```bash
sleep 300
```

```bash
echo not reached
```
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("COCKPIT_RUNBOOK_PYTHON", sys.executable)
    profile = tmp_path / "p.yaml"
    profile.write_text(f"name: t\nworkdir: {tmp_path}\nenv: {{PROFILE_VALUE: from-profile}}\n")
    loaded = load_profile(profile)
    book = tmp_path / "ops.md"
    book.write_text(RUNBOOK)
    trail = tmp_path / "trail.jsonl"

    def runner(read_only: bool = False) -> ActionRunner:
        backend = LocalBackend({"env": loaded.env})
        return ActionRunner(loaded, backend, AuditTrail(trail), read_only=read_only,
                            operator="tester@host")  # fmt: skip

    return parse_runbook(book), runner, trail, tmp_path


def records(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def test_exported_vars_and_directory_flow_to_the_next_steps(env):
    rb, runner, trail, tmp = env
    lines: list[tuple[str, str]] = []
    session = RunbookSession(
        rb, runner(), on_line=lambda step, line: lines.append((step.id, line.text))
    )
    runs = await session.run(rb.section_steps("flow"), {"ITEM_ID": "a b; $(id)"})
    assert [(r.step.id, r.status) for r in runs] == [
        ("flow/1", "succeeded"),
        ("flow/2", "skipped"),
        ("flow/3", "succeeded"),
        ("flow/4", "succeeded"),
    ]
    assert (
        runs[1].message
        == "erlang block: expressions for the node's shell (rebar3 shell, remote_console)"
    )
    assert lines == [
        ("flow/3", "greeting=hello world seen=from-profile pwd=sub id=a b; $(id)"),
        ("flow/4", "python sees hello world"),
    ]
    assert session.exported == {"GREETING": "hello world", "FROM_PROFILE_SEEN": "from-profile"}
    assert session.cwd == str(tmp / "sub")
    recs = records(trail)
    assert [(r["action"], r["status"]) for r in recs] == [
        ("rb.ops.flow.1", "started"), ("rb.ops.flow.1", "succeeded"),
        ("rb.ops.flow.3", "started"), ("rb.ops.flow.3", "succeeded"),
        ("rb.ops.flow.4", "started"), ("rb.ops.flow.4", "succeeded"),
    ]  # fmt: skip
    assert recs[3]["source"] == {"kind": "runbook", "path": str(tmp / "ops.md"), "step": "flow/3",
                                 "line": 15}  # fmt: skip
    assert recs[3]["params"] == {"ITEM_ID": "a b; $(id)"}
    assert verify_trail(trail).ok


async def test_a_single_step_does_not_capture_the_environment(env):
    rb, runner, trail, _ = env
    runs = await RunbookSession(rb, runner()).run([rb.step("flow/1")])
    assert runs[0].status == "succeeded"
    assert "COCKPIT_RUNBOOK_ENV" not in records(trail)[0]["command"]


async def test_stops_at_the_first_failure_with_its_exit_status(env):
    rb, runner, trail, _ = env
    runs = await RunbookSession(rb, runner()).run(rb.section_steps("failing"))
    assert [r.status for r in runs] == ["succeeded", "failed", "pending"]
    assert runs[1].outcome.exit_code == 3 and runs[1].outcome.cli_exit_code == 3
    assert [r["status"] for r in records(trail)][-1] == "failed"


async def test_non_safe_steps_ask_and_refusals_are_audited(env):
    rb, runner, trail, tmp = env
    out = tmp / "out.txt"
    asked: list[str] = []

    def no(step, request) -> bool:
        asked.append(f"{step.id}:{step.danger.level}:{request.prepared.action.id}:"
                     f"{request.needed}:{request.text_to_type}")
        return False

    runs = await RunbookSession(rb, runner(), confirm=no).run(
        rb.section_steps("careful"), {"OUT_FILE": str(out)}
    )
    assert [r.status for r in runs] == ["denied", "pending"]
    assert asked == ["careful/1:caution:rb.ops.careful.1:yes:None"]
    assert not out.exists()
    [denied] = records(trail)
    assert (denied["decision"], denied["reason_codes"], denied["danger"]) == (
        "DENY", ["NOT_CONFIRMED"], "caution",
    )  # fmt: skip

    async def yes(step, request) -> bool:  # a TUI's confirm is a coroutine
        return True

    runs = await RunbookSession(rb, runner(), confirm=yes).run(
        rb.section_steps("careful"), {"OUT_FILE": str(out)}
    )
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert out.read_text() == "caution-ran\n"

    target = tmp / "precious"
    target.mkdir()
    runs = await RunbookSession(rb, runner()).run([rb.step("wipe")], {"TARGET_DIR": str(target)})
    assert runs[0].status == "denied" and target.exists()
    assert records(trail)[-1]["reason_codes"] == ["NOT_CONFIRMED"]


async def test_read_only_denies_without_asking(env):
    rb, runner, trail, tmp = env
    runs = await RunbookSession(rb, runner(read_only=True), confirm=lambda s, p: pytest.fail()).run(
        rb.section_steps("careful"), {"OUT_FILE": str(tmp / "x")}
    )
    assert runs[0].status == "denied"
    assert records(trail)[-1]["reason_codes"] == ["READ_ONLY"]


async def test_dry_run_runs_and_records_nothing(env):
    rb, runner, trail, _ = env
    runs = await RunbookSession(rb, runner()).run(
        rb.section_steps("flow"), {"ITEM_ID": "x"}, dry_run=True
    )
    assert [r.status for r in runs] == ["dry-run", "skipped", "dry-run", "dry-run"]
    assert "COCKPIT_P_ITEM_ID=x \\\nbash -euo pipefail <<'SCRIPT'\n" in runs[2].dry_run
    assert "trap '__cockpit_env > \"$COCKPIT_RUNBOOK_ENV/after\"' EXIT" in runs[2].dry_run
    assert records(trail) == []
    unset = await RunbookSession(rb, runner()).run([rb.step("flow/3")], dry_run=True)
    assert "# COCKPIT_P_ITEM_ID is not set: pass -p ITEM_ID=VALUE\n" in unset[0].dry_run
    with pytest.raises(UsageError, match="unknown param 'NOPE'"):
        await RunbookSession(rb, runner()).run([rb.step("flow/3")], {"NOPE": "1"}, dry_run=True)


async def test_values_are_checked_before_anything_runs(env):
    rb, runner, trail, _ = env
    session = RunbookSession(rb, runner())
    with pytest.raises(UsageError) as err:
        await session.run(rb.section_steps("flow"), {"NOPE": "1"})
    assert str(err.value) == (
        f"{rb.path}: unknown param 'NOPE' (known: ITEM_ID); step flow/3: ITEM_ID: required (string)"
    )
    assert records(trail) == []


async def test_cancel_kills_the_running_step_and_stops(env):
    rb, runner, trail, _ = env
    session = RunbookSession(rb, runner())
    task = asyncio.ensure_future(session.run(rb.section_steps("slow")))
    await async_wait_until(lambda: session.current is not None and session.current._execution,
                           what="the slow step running")  # fmt: skip
    await session.cancel()
    runs = await task
    assert [r.status for r in runs] == ["cancelled", "pending"]
    assert records(trail)[-1]["status"] == "cancelled"


def test_section_selection(env):
    rb, *_ = env
    assert [s.id for s in rb.select("flow")] == ["flow/1", "flow/2", "flow/3", "flow/4"]
    assert [s.id for s in rb.select("wipe")] == ["wipe"]
    with pytest.raises(UsageError, match="no step 'nope'"):
        rb.select("nope")
    assert textwrap.dedent(rb.step("flow/4").command).startswith("import os")


async def test_a_dangerous_step_asks_for_its_step_id_with_its_own_lines_first(env):
    rb, runner, trail, tmp = env
    asked = []
    target = tmp / "precious"
    target.mkdir()
    runs = await RunbookSession(rb, runner(), confirm=lambda s, r: asked.append(r)).run(
        [rb.step("wipe")], {"TARGET_DIR": str(target)})
    [request] = asked
    assert (request.needed, request.text_to_type) == ("type", "wipe")
    assert request.title == "DANGEROUS: runbook step wipe"
    assert request.command.startswith('rm -rf "$TARGET_DIR"\n\n── the whole script'), request.command
    assert request.reasons and "rm -rf" in request.reasons[0]
    assert runs[0].status == "denied" and target.exists()  # None is not a yes
    assert records(trail)[-1]["reason_codes"] == ["NOT_CONFIRMED"]
