"""Malformed runbooks: a clear error or a best-effort parse, never a traceback."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.core.runbooks.lint import lint_lines
from cockpit.core.runbooks.model import RunbookError
from cockpit.core.runbooks.parser import MAX_BLOCK_LINES, parse_bytes, parse_runbook, parse_text

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"


def cockpit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "cockpit", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_unclosed_fence_is_shown_not_run(tmp_path):
    path = tmp_path / "open.md"
    path.write_text("# Open\n\n```bash\necho one\n\n## Lost heading\n\nmore text\n")
    rb = parse_runbook(path)
    [step] = rb.steps
    assert step.unclosed and not step.runnable
    assert step.reason == "the fence opened at line 3 is never closed"
    assert step.source == "echo one\n\n## Lost heading\n\nmore text"
    assert [s.title for s in rb.sections] == ["Open"]  # the heading is inside the block
    assert lint_lines(rb) == [
        f"{path}:3: unclosed-fence: the ``` fence opened here is never closed: the block runs "
        "to the end of the file (or of its list) and will not run"
    ]
    proc = cockpit("runbook", "lint", str(path))
    assert proc.returncode == 1 and proc.stdout.startswith(f"{path}:3: unclosed-fence:")
    proc = cockpit("runbook", "run", str(path), "open/1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "skipped — the fence opened at line 3 is never closed" in proc.stderr


def test_nested_fences_and_other_fence_forms():
    rb = parse_text(
        "# N\n\n````markdown\n```bash\nrm -rf /\n```\n````\n\n~~~sh\necho tilde\n~~~\n\n"
        "> ```bash\n> echo quoted\n> ```\n\n1. item\n   ```bash\n   echo listed\n   ```\n",
        "n.md",
    )
    assert [(s.id, s.language, s.runnable, s.command) for s in rb.steps] == [
        ("n/1", "markdown", False, "```bash\nrm -rf /\n```"),
        ("n/2", "sh", True, "echo tilde"),
        ("n/3", "bash", True, "echo quoted"),
        ("n/4", "bash", True, "echo listed"),
    ]
    assert rb.steps[0].reason == "markdown block: data or output, not a command"
    assert rb.steps[2].command_lines == (14,) and rb.steps[3].command_lines == (19,)
    assert rb.problems == []


def test_five_megabytes_of_runbooks_parse_completely(tmp_path):
    names = ("meta-salvage-k8s.md", "tai-erlang-autonomics.md", "techno-os-backend.md")
    chunk = "\n".join((FIXTURES / n).read_text() for n in names) + "\n"
    copies = 5_000_000 // len(chunk) + 1
    path = tmp_path / "big.md"
    path.write_text(chunk * copies)
    assert path.stat().st_size > 5_000_000
    rb = parse_runbook(path, which=lambda _: None)
    # each copy: 34 + 57 + 32 steps, 42 + 45 + 27 sections, 6 checklist items
    assert (len(rb.steps), len(rb.sections), len(rb.checklist)) == (
        123 * copies,
        114 * copies,
        6 * copies,
    )
    assert len({s.id for s in rb.steps}) == len(rb.steps)  # ids stay unique
    assert rb.problems == []


def test_a_huge_block_is_shown_but_not_analysed():
    lines = MAX_BLOCK_LINES + 1
    rb = parse_text("# H\n```bash\n" + "echo $X <P>\n" * lines + "```\n", "h.md")
    [step] = rb.steps
    assert not step.runnable and step.placeholders == []
    assert step.reason == (
        f"a block of {lines} lines is too large to analyse (limit {MAX_BLOCK_LINES}); split it"
    )


def test_binary_garbage_and_bad_encodings(tmp_path):
    binary = tmp_path / "image.md"
    binary.write_bytes(b"# looks like\n\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(RunbookError) as err:
        parse_runbook(binary)
    assert err.value.problems == [
        f"{binary}:5: binary data, not a Markdown runbook (NUL byte at offset 22)"
    ]
    noise = tmp_path / "noise.md"
    noise.write_bytes(bytes(random.Random(4).randrange(128, 256) for _ in range(4096)))
    with pytest.raises(RunbookError, match=r"noise.md:1: not UTF-8 text \(\d+ undecodable"):
        parse_runbook(noise)
    latin = parse_bytes("# Caf\u00e9\n\n```bash\necho caf\u00e9\n```\n".encode("latin-1"), "l.md")
    assert [p.format("l.md") for p in latin.problems] == [
        "l.md:1: invalid-utf8: 2 byte(s) that are not UTF-8 read as U+FFFD (first at byte 5)"
    ]
    assert latin.steps[0].command == "echo caf\ufffd"

    for path, message in ((binary, "binary data"), (noise, "not UTF-8 text")):
        for args in (("list", str(path)), ("lint", str(path)), ("run", str(path), "x/1")):
            proc = cockpit("runbook", *args)
            assert proc.returncode == 2, (args, proc.stderr)
            assert message in proc.stderr and "Traceback" not in proc.stderr


def test_empty_missing_and_directory(tmp_path):
    empty = tmp_path / "empty.md"
    empty.write_text("")
    rb = parse_runbook(empty)
    assert (rb.steps, rb.sections, rb.checklist) == ([], [], [])
    assert lint_lines(rb) == [f"{empty}:1: empty: the file is empty: nothing to show or run"]
    proc = cockpit("runbook", "list", str(empty))
    assert proc.returncode == 0 and "0 sections, 0 steps (0 runnable)" in proc.stdout
    proc = cockpit("runbook", "run", str(empty), "top/1")
    assert proc.returncode == 2 and "no step 'top/1'" in proc.stderr

    proc = cockpit("runbook", "list", str(tmp_path / "nope.md"))
    assert (proc.returncode, proc.stderr) == (2, f"{tmp_path / 'nope.md'}:1: no such file\n")
    proc = cockpit("runbook", "lint", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == f"{tmp_path}:1: is a directory, not a Markdown file\n"


def test_hostile_shell_text_never_breaks_the_analysis():
    nasty = [
        "$(" * 500 + "echo",
        "`" * 301,
        "echo 'unterminated\necho \"also",
        "cat <<EOF\nno end",
        "${" * 200,
        "x=( ( ( (",
        "\\",
        "a >",
        "<<",
        "for",
        "kubectl",
        "watch '" + "watch '" * 50,
    ]
    for text in nasty:
        rb = parse_text(f"# X\n```bash\n{text}\n```\n", "x.md")
        assert rb.steps[0].line == 2


def test_random_markdown_never_raises():
    rng = random.Random(1234)
    pieces = ["# h\n", "## h2\n", "```bash\n", "```\n", "````\n", "~~~\n", "- [ ] t\n",
              "| Command |\n|---|\n| `rm -rf /` |\n", "$ echo\n", "<PID> {x} $Y\n", "> q\n",
              "\u201c\u00a0\u200b\n", "\r\n", "```bash {name=\n", "\t```console\n", "\n"]  # fmt: skip
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        rb = parse_text(text, "r.md")
        lint_lines(rb, syntax=False)
