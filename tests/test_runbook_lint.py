"""``cockpit runbook lint``: copy-paste damage, unannotated dangerous steps, syntax."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.core.runbooks.lint import lint_lines
from cockpit.core.runbooks.parser import parse_runbook

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash -n needs bash")


def cockpit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "cockpit", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def column(line: int, needle: str) -> int:
    """1-based column of ``needle`` on a line of the damaged fixture (an independent oracle)."""
    text = (FIXTURES / "damaged.md").read_text(encoding="utf-8").split("\n")[line - 1]
    return text.index(needle) + 1


def test_planted_damage_is_found_with_line_and_column():
    path = FIXTURES / "damaged.md"
    rb = parse_runbook(path)
    f = str(path)
    link = "[https://api.example.com/status](https://api.example.com/status)"
    en, em, ldq, rdq, lsq, rsq = "\u2013", "\u2014", "\u201c", "\u201d", "\u2018", "\u2019"
    nbsp, zwsp = "\u00a0", "\u200b"
    transcript = (
        "transcript: no prompt on this line of a block with prompts: read as output, not run"
    )
    assert lint_lines(rb) == [
        f"{f}:8: dash: column {column(8, en)}: '{en}-' -> '--'",
        f"{f}:9: smart-quote: column {column(9, ldq)}: '{ldq}' -> '\"'",
        f"{f}:9: smart-quote: column {column(9, rdq)}: '{rdq}' -> '\"'",
        f"{f}:10: smart-quote: column {column(10, lsq)}: '{lsq}' -> \"'\"",
        f"{f}:10: smart-quote: column {column(10, rsq)}: '{rsq}' -> \"'\"",
        f"{f}:11: odd-space: column {column(11, nbsp)}: 'U+00A0' -> ' '",
        f"{f}:12: md-link: column {column(12, '[')}: '{link}' -> 'https://api.example.com/status'",
        f"{f}:13: zero-width: column {column(13, zwsp)}: 'U+200B' -> '(removed)'",
        f"{f}:14: dash: column {column(14, em)}: '{em}' -> '--'",
        f"{f}:20: prompt: column 1: '$ ' -> '(removed)'",
        f"{f}:21: {transcript}",
        f"{f}:22: {transcript}",
        f"{f}:23: prompt: column 1: 'user@host:~$ ' -> '(removed)'",
        f"{f}:24: trailing-prompt: column 1: 'user@host:~$' -> '(removed)'",
        f"{f}:30: crlf: column 1: 'CRLF line endings (2 lines)' -> 'LF'",
    ]
    assert [column(n, c) for n, c in ((8, en), (9, ldq), (11, nbsp), (13, zwsp))] == [40, 9, 22, 3]
    restart = rb.step("restart/1")
    assert restart.command == (
        "kubectl rollout restart deployment/api --namespace prod\n"
        'curl -H "Accept: application/json" https://api.example.com/health\n'
        "echo 'done'\n"
        "grep -c error app.log | wc -l\n"
        "curl -s https://api.example.com/status\n"
        "ls -la\n"
        "kubectl get pods --all-namespaces"
    )
    assert "\u2013-namespace" in restart.source  # the original stays visible
    assert rb.step("transcript/1").command == "kubectl get pods -n demo\necho ok"
    assert rb.step("windows/1").command == "echo one\necho two"
    assert rb.step("not-damage/1").repairs == []


def test_real_runbooks_hold_no_copy_paste_damage():
    # Their only non-ASCII characters are ✓, ✗, ≥, ≤ and an em dash between words in a
    # comment (read each one): none is damage.
    for name in ("meta-salvage-k8s.md", "tai-erlang-autonomics.md", "techno-os-backend.md"):
        rb = parse_runbook(FIXTURES / name)
        assert [r for s in rb.steps for r in s.repairs] == []
        assert [n for s in rb.steps for n in s.notes] == []


@needs_bash
def test_real_runbooks_lint_exactly():
    meta = FIXTURES / "meta-salvage-k8s.md"
    tai = FIXTURES / "tai-erlang-autonomics.md"
    techno = FIXTURES / "techno-os-backend.md"
    hint = "add {danger=dangerous} to its fence if that is intended"
    assert lint_lines(parse_runbook(meta)) == [
        # `curl ...?query=rate(http_requests_total[5m])`: an unquoted ( is a bash syntax error
        f"{meta}:103: syntax: bash -n: syntax error near unexpected token `('",
        f"{meta}:239: dangerous-step: step emergency-rollback/1 is dangerous (kubectl rollout "
        f"undo (line 241)) and not annotated: {hint}",
        f"{meta}:254: dangerous-step: step blue-green-deployment/1 is dangerous (kubectl patch "
        f"(line 262); kubectl patch (line 266)) and not annotated: {hint}",
        f"{meta}:399: dangerous-step: step disaster-recovery/1 is dangerous (terraform apply "
        f"(line 402)) and not annotated: {hint}",
    ]
    assert [line.split(": ", 2)[:2] for line in lint_lines(parse_runbook(tai))] == [
        [f"{tai}:61", "dangerous-step"],
        [f"{tai}:391", "dangerous-step"],
        [f"{tai}:573", "dangerous-step"],
        [f"{tai}:637", "dangerous-step"],
    ]
    assert lint_lines(parse_runbook(techno)) == [
        f"{techno}:351: dangerous-step: step 43-audit-log-growing-too-fast/3 is dangerous "
        f"(find -delete (line 353)) and not annotated: {hint}"
    ]


def test_lint_cli_exit_codes():
    demo = FIXTURES / "demo-ops.md"
    proc = cockpit("runbook", "lint", str(demo))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    proc = cockpit(
        "runbook", "lint", "--no-syntax", str(FIXTURES / "techno-os-backend.md"), str(demo)
    )
    assert proc.returncode == 1
    assert proc.stdout.count("\n") == 1 and ":351: dangerous-step:" in proc.stdout
    proc = cockpit("runbook", "lint", str(FIXTURES / "damaged.md"))
    assert proc.returncode == 1 and proc.stdout.count("\n") == 15 and "Traceback" not in proc.stderr
