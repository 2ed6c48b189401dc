"""Checklist state per runbook under the state directory: load, toggle, save, survive edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.core.errors import CockpitError, UsageError
from cockpit.core.runbooks.checklist import ChecklistStore, default_state_dir, state_file
from cockpit.core.runbooks.parser import parse_runbook

TEXT = "# R\n## Go\n- [ ] health green\n- [x] trail intact\n- [ ] smoke test\n"


@pytest.fixture
def runbook(tmp_path):
    path = tmp_path / "ops.md"
    path.write_text(TEXT)
    return path


def test_state_dir_follows_cockpit_state_dir_then_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("COCKPIT_STATE_DIR", raising=False)
    assert default_state_dir() == tmp_path / "state" / "cockpit"  # conftest's XDG_STATE_HOME
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "custom"))
    assert default_state_dir() == tmp_path / "custom"


def test_toggle_persists_per_runbook(runbook, tmp_path):
    state = tmp_path / "st"
    store = ChecklistStore(parse_runbook(runbook), state)
    assert store.state == {"go/check-1": False, "go/check-2": True, "go/check-3": False}
    assert store.progress() == (1, 3)
    assert store.toggle("go/check-1") is True
    store.set("go/check-2", False)
    path = state_file(runbook, state)
    assert path.parent == state / "runbooks" and path.name.startswith("ops-")
    saved = json.loads(path.read_text())
    assert saved["runbook"] == str(runbook.resolve())
    assert saved["items"]["go/check-1"] == {"checked": True, "text": "health green"}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over

    again = ChecklistStore(parse_runbook(runbook), state)
    assert again.state == {"go/check-1": True, "go/check-2": False, "go/check-3": False}
    other = tmp_path / "other" / "ops.md"
    other.parent.mkdir()
    other.write_text(TEXT)
    assert ChecklistStore(parse_runbook(other), state).progress() == (1, 3)  # its own state

    with pytest.raises(UsageError, match="no checklist item 'go/check-9'"):
        again.toggle("go/check-9")


def test_edited_items_and_corrupt_state_fall_back_to_the_file(runbook, tmp_path):
    state = tmp_path / "st"
    ChecklistStore(parse_runbook(runbook), state).set("go/check-1", True)
    runbook.write_text(TEXT.replace("health green", "health and metrics green"))
    assert ChecklistStore(parse_runbook(runbook), state).is_checked("go/check-1") is False

    state_file(runbook, state).write_text("{not json")
    store = ChecklistStore(parse_runbook(runbook), state)
    assert store.progress() == (1, 3) and "unreadable checklist state ignored" in store.problem
    store.toggle("go/check-3")
    assert json.loads(state_file(runbook, state).read_text())["items"]["go/check-3"]["checked"]


def test_unwritable_state_is_a_clear_error(runbook, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(CockpitError, match="cannot save the checklist state"):
        ChecklistStore(parse_runbook(runbook), not_a_dir).toggle("go/check-1")


def test_checklist_cli(runbook, tmp_path):
    env = {**os.environ, "COCKPIT_STATE_DIR": str(tmp_path / "cli-state"), "NO_COLOR": "1"}

    def cockpit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cockpit", "runbook", "checklist", *args],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    proc = cockpit(str(runbook), "--check", "go/check-3", "--toggle", "go/check-2")
    assert proc.returncode == 0
    assert proc.stdout == (
        f"{runbook}: checklist 1/3\n"
        "  [ ] go/check-1  health green  (line 3)\n"
        "  [ ] go/check-2  trail intact  (line 4)\n"
        "  [x] go/check-3  smoke test  (line 5)\n"
    )
    data = json.loads(cockpit(str(runbook), "--json").stdout)
    assert (data["checked"], data["total"]) == (1, 3)
    assert Path(data["state_file"]).parent == tmp_path / "cli-state" / "runbooks"
    proc = cockpit(str(runbook), "--check", "nope")
    assert proc.returncode == 2 and "no checklist item 'nope'" in proc.stderr
