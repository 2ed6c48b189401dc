"""Every ``cockpit runbook`` command on a hostile runbook: nothing printed is live, the
hidden command is shown, secrets in a step's output are hidden across lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit.cli.main import main
from tests.hostile import ESCAPES, PEM_KEY, SECRETS, assert_inert

HIDDEN = "df -h /tmp \x1b]0;$(touch /tmp/pwned)\x07"
HOSTILE = f"""\
# Ops {ESCAPES[1]} runbook {ESCAPES[0]}

## Disk

Check the disk {ESCAPES[3]} first.

```bash
{HIDDEN}
```

Expected output:

```text
Filesystem {ESCAPES[4]} Size
```

## Windows

```powershell
taskkill /PID 4242 /F
```

| Task | Command |
|---|---|
| stop | `.\\START.ps1 -Stop` |
| csi | `ls {ESCAPES[6]}` |

- [ ] paged {ESCAPES[0]} on-call
- [ ] bidi {ESCAPES[7]}
"""


@pytest.fixture
def book(tmp_path: Path) -> str:
    path = tmp_path / "hostile.md"
    path.write_text(HOSTILE)
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["runbook", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ("list", "{book}"),
        ("list", "--json", "{book}"),
        ("show", "{book}", "disk/1"),
        ("show", "--json", "{book}", "disk/1"),
        ("show", "{book}", "windows/table-2"),
        ("run", "{book}", "disk/1", "--dry-run"),
        ("lint", "--no-syntax", "{book}"),
        ("checklist", "{book}"),
        ("checklist", "--json", "{book}"),
    ],
    ids=lambda argv: " ".join(a for a in argv if a != "{book}"),
)
def test_every_runbook_command_prints_nothing_live(argv, book, capsys):
    _code, output = run(capsys, *(a.format(book=book) for a in argv))
    assert_inert(output)
    assert output.strip()


def test_list_shows_the_title_visibly_and_the_hidden_step_as_dangerous(book, capsys):
    code, output = run(capsys, "list", book)
    assert code == 0
    first = output.splitlines()[0]
    assert first.endswith("Ops \\e]0;owned-title\\a runbook \\e]52;c;ZWNobyBwd25lZA==\\a")
    disk = next(line for line in output.splitlines() if line.lstrip().startswith("disk/1"))
    assert "dangerous" in disk and "control character \\e (ESC)" in disk
    table = next(line for line in output.splitlines() if "windows/table-1" in line)
    assert "not runnable: Windows command at line 25 (.\\START.ps1 -Stop)" in table


def test_show_and_dry_run_display_the_hidden_command(book, capsys):
    _, shown = run(capsys, "show", book, "disk/1")
    assert "df -h /tmp \\e]0;$(touch /tmp/pwned)\\a" in shown
    assert "danger: dangerous" in shown
    code, dry = run(capsys, "run", book, "disk/1", "--dry-run")
    assert code == 0
    assert "df -h /tmp \\e]0;$(touch /tmp/pwned)\\a" in dry
    data = json.loads(run(capsys, "show", "--json", book, "disk/1")[1])
    assert data["danger"] == "dangerous"
    assert data["command"] == "df -h /tmp \\e]0;$(touch /tmp/pwned)\\a"


def test_lint_flags_each_control_character_with_file_and_line(book, capsys):
    code, output = run(capsys, "lint", "--no-syntax", book)
    assert code == 1
    flagged = [line for line in output.splitlines() if ": control-character: " in line]
    assert [line.split(":")[1] for line in flagged] == ["8", "14", "26"], output
    assert all(line.startswith(f"{book}:") for line in flagged)


def test_run_output_is_inert_and_a_key_split_over_lines_stays_hidden(tmp_path, capsys):
    path = tmp_path / "out.md"
    path.write_text(
        "# Out\n\n```bash\n"
        "printf '\\033]0;owned-title\\007 title\\n'\n"
        "printf '\\033]52;c;ZWNobyBwd25lZA==\\007 clip\\n'\n"
        f"cat <<'EOF'\n{PEM_KEY}\nEOF\n"
        "```\n"
    )
    code, output = run(capsys, "run", str(path), "out/1")
    assert code == 0, output
    assert_inert(output)
    assert "\\e]0;owned-title\\a title" in output
    assert SECRETS[3] not in output


def test_the_terminal_confirmation_shows_the_steps_lines_first(monkeypatch, capsys):
    from types import SimpleNamespace

    from cockpit.cli.runbook_cmd import _ask
    from cockpit.core.actions.runner import ConfirmRequest
    from cockpit.core.redact import default_redactor
    from cockpit.core.runbooks.actions import step_script
    from cockpit.core.runbooks.parser import parse_text
    from cockpit.core.runbooks.session import step_request

    runbook = parse_text(f"# T\n\n```bash\n{HIDDEN}\nkubectl rollout undo deploy/api\n```\n")
    step = runbook.steps[0]
    display = f"bash -euo pipefail <<'SCRIPT'\n{step_script(step)}SCRIPT"
    action = SimpleNamespace(id="rb.t.t-1", danger=step.danger.level, description="t.md:3")
    prepared = SimpleNamespace(display=display, redactor=default_redactor(), action=action,
                               trace_id="trace-1")
    request = step_request(step, ConfirmRequest(prepared, "type", step.id, "", "", display))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: True))
    monkeypatch.setattr("builtins.input", lambda *_prompt: "n")
    assert _ask(step, request, yes=False) is False
    err = capsys.readouterr().err
    assert_inert(err)
    assert f"Type {step.id} to run it" in err
    first = err.index("    df -h /tmp \\e]0;$(touch /tmp/pwned)\\a\n    kubectl rollout undo")
    assert first < err.index("bash -euo pipefail <<'SCRIPT'")
