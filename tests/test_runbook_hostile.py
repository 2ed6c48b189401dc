"""Runbooks cannot hide commands: what is displayed is what runs.

Control characters in a block are shown, linted and make the step dangerous; steps the
cockpit cannot judge (PowerShell) are never safe; Windows-only commands do not run
through bash.
"""

from __future__ import annotations

import pytest

from cockpit.core.boundary import show_controls
from cockpit.core.runbooks.actions import dry_run_text
from cockpit.core.runbooks.lint import lint
from cockpit.core.runbooks.parser import parse_text

HIDDEN = "df -h /tmp \x1b]0;$(touch /tmp/pwned)\x07"
PWSH = lambda _name: "/usr/bin/pwsh"  # noqa: E731


def one(text: str, which=PWSH):
    runbook = parse_text(text, "t.md", which=which)
    return runbook, runbook.steps[0]


def test_a_hidden_osc_command_is_dangerous_and_shown_in_the_dry_run():
    _, step = one(f"# T\n\n```bash\n{HIDDEN}\n```\n")
    assert step.runnable and step.danger.level == "dangerous"
    assert any("control character \\e (ESC)" in r for r in step.danger.reasons)
    assert "df -h /tmp \\e]0;$(touch /tmp/pwned)\\a" in show_controls(dry_run_text(step))


@pytest.mark.parametrize("annotation", ["safe", "caution"])
def test_an_annotation_cannot_make_a_control_character_step_less_than_dangerous(annotation):
    _, step = one(f"# T\n\n```bash {{danger={annotation}}}\n{HIDDEN}\n```\n")
    assert step.danger.level == "dangerous"
    assert step.danger.annotated == annotation
    assert any("kept at dangerous" in r for r in step.danger.reasons)


@pytest.mark.parametrize(
    ("where", "text", "line"),
    [
        ("command", f"# T\n\n```bash\necho ok\n{HIDDEN}\n```\n", 5),
        ("info string", "# T\n\n```bash \x1b[8m\necho ok\n```\n", 3),
        ("expected output", "# T\n\n```bash\necho ok\n```\n\n```text\nok\x1b[2J\n```\n", 8),
        ("table cell", "# T\n\n| What | Command |\n|---|---|\n| x | `ls \x9b31m` |\n", 5),
        ("python", "# T\n\n```python\nprint('hi')  # \u202e)'ti' eval\n```\n", 4),
        ("yaml block", "# T\n\n```yaml\nkey: \x1b]52;c;ZWNobw==\x07\n```\n", 4),
    ],
)
def test_lint_flags_every_control_character_in_a_code_block(where, text, line):
    runbook = parse_text(text, "t.md", which=PWSH)
    findings = [f for f in lint(runbook, syntax=False) if f.kind == "control-character"]
    assert [f.line for f in findings] == [line], where
    assert "\x1b" not in findings[0].message and "\x9b" not in findings[0].message
    assert "what is displayed is not what runs" in findings[0].message


def test_lint_reports_the_visible_form_and_no_annotation_advice():
    runbook, _ = one(f"# T\n\n```bash\n{HIDDEN}\n```\n")
    findings = lint(runbook, syntax=False)
    assert [f.kind for f in findings] == ["control-character"]
    assert findings[0].format("t.md").startswith("t.md:4: control-character: column 12: \\e")
    assert findings[0].message.endswith("df -h /tmp \\e]0;$(touch /tmp/pwned)\\a")


def test_tabs_and_plain_unicode_are_not_control_characters():
    runbook = parse_text("# T\n\n```bash\nprintf 'a\\tb'\techo ✓ — ok\n```\n", "t.md")
    assert [f for f in lint(runbook, syntax=False) if f.kind == "control-character"] == []
    assert runbook.steps[0].danger.level == "safe"


POWERSHELL = [
    ("powershell", "taskkill /PID 4242 /F", "dangerous"),
    ("pwsh", "Remove-Item C:\\temp\\cache -Recurse", "dangerous"),
    ("ps1", "Copy-Item .env.example .env -Force", "caution"),
    ("powershell", "Get-Process | Sort-Object CPU", "caution"),
]


@pytest.mark.parametrize(("fence", "code", "level"), POWERSHELL)
def test_powershell_is_never_safe(fence, code, level):
    _, step = one(f"# T\n\n```{fence}\n{code}\n```\n")
    assert step.language == "powershell" and step.runnable
    assert step.danger.level == level
    assert any("cannot judge PowerShell" in r for r in step.danger.reasons)


def test_a_safe_annotation_on_powershell_keeps_caution():
    _, step = one("# T\n\n```pwsh {danger=safe}\nGet-Date\n```\n")
    assert step.danger.level == "caution"


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (".\\START.ps1 -Stop", ".\\START.ps1 -Stop"),
        ("cmd /c dir", "cmd /c"),
        ("scripts\\run.bat", "scripts\\run.bat"),
        ("C:\\tools\\backup.exe --now", "C:\\tools\\backup.exe --now"),
        ("deploy.cmd prod", "deploy.cmd prod"),
        ("taskkill /IM api.exe /F", "taskkill /IM"),
    ],
)
def test_windows_commands_in_a_quick_reference_table_do_not_run_through_bash(command, shown):
    text = f"# T\n\n## Quick Reference\n\n| Task | Command |\n|---|---|\n| do | `{command}` |\n"
    runbook = parse_text(text, "t.md")
    [step] = runbook.steps
    assert not step.runnable
    assert step.reason.startswith(f"Windows command at line 7 ({shown}): steps run with bash")


def test_windows_command_in_a_bash_block_and_posix_look_alikes():
    _, step = one("# T\n\n```bash\necho start\nFOO=1 .\\START.ps1 -Stop\n```\n")
    assert not step.runnable and "at line 5" in step.reason
    posix = "# T\n\n```bash\n\\ls -la\n./start.sh --stop\necho a\\ b\ngrep -E 'x\\|y' f\n```\n"
    _, step = one(posix)
    assert step.runnable, step.reason
