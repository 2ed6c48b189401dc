"""The frame encoder: a terminal fed the encoded frames shows exactly what the raw frames show.

The reference terminal is pyte, an independent VT emulator: after every frame, the screen
fed Textual-style raw output and the screen fed the encoder's output must hold the same
characters with the same colours and attributes.
"""

from __future__ import annotations

import random

import pyte
import pytest

from cockpit.tui.terminal.encoder import FrameEncoder
from cockpit.tui.terminal.sgr import DEFAULT, StyleTable, apply_sgr

STYLES = [
    "", "1", "2", "3;4", "7", "9", "38;2;200;10;10", "38;5;208;48;5;17",
    "48;2;20;20;20", "38;2;208;208;208;48;2;28;28;28", "1;38;2;1;2;3;48;2;4;5;6",
    "31;44", "93",
]
TEXTS = ["a", "ok", "ERROR", " ", "│", "──", "漢字", "é", "x y z", "▁▂▃", "✓ ok"]


def segment(style: str, text: str) -> str:
    """One segment as Textual's ``Strip.render`` writes it."""
    return f"\x1b[{style}m{text}\x1b[0m" if style else text


def cup(x: int, y: int) -> str:
    return f"\x1b[{y + 1};{x + 1}H"


class Pair:
    """Two pyte screens, one fed raw frames and one fed the encoder's output."""

    def __init__(self, width: int, height: int, *, erase: bool = False) -> None:
        self.encoder = FrameEncoder(width, height)
        self.encoder.erase = erase
        self.raw, self.encoded = pyte.Screen(width, height), pyte.Screen(width, height)
        self._raw, self._encoded = pyte.Stream(self.raw), pyte.Stream(self.encoded)
        self.bytes_raw = self.bytes_encoded = 0

    def frame(self, data: str) -> str:
        out = self.encoder.encode(data)
        self._raw.feed(data)
        self._encoded.feed(out)
        self.bytes_raw += len(data.encode())
        self.bytes_encoded += len(out.encode())
        return out

    def assert_same(self, note: str = "") -> None:
        for y in range(self.raw.lines):
            raw = [self.raw.buffer[y][x] for x in range(self.raw.columns)]
            enc = [self.encoded.buffer[y][x] for x in range(self.raw.columns)]
            assert raw == enc, f"{note} row {y}:\n{text(raw)!r}\n{text(enc)!r}"


def text(row: list) -> str:
    return "".join(char.data or "·" for char in row)


def full_frame(width: int, rows: list[list[tuple[str, str]]]) -> str:
    return "".join(cup(0, y) + "".join(segment(s, t) for s, t in row) for y, row in enumerate(rows))


def log_screen(width: int, height: int, lines: list[str], clock: int) -> list[list[tuple[str, str]]]:
    """A header, a bordered log view of ``height - 3`` rows, and a footer."""
    border = "38;2;71;71;70;48;2;18;18;18"
    body = "38;2;208;208;208;48;2;28;28;28"
    view = height - 3
    shown = lines[-view:] + [""] * (view - len(lines[-view:]))
    rows = [[("1", f" cockpit {clock:05d}".ljust(width))]]
    for line in shown:
        level = "38;2;255;80;80;48;2;28;28;28" if "ERROR" in line else body
        rows.append([(border, "│"), (level, line[: width - 2].ljust(width - 2)), (border, "│")])
    rows.append([(border, "╰" + "─" * (width - 2) + "╯")])
    rows.append([("7", f" {len(lines)} lines".ljust(width))])
    return rows


def test_a_following_log_view_is_scrolled_by_the_terminal_and_matches():
    width, height = 60, 16
    pair = Pair(width, height)
    rng = random.Random(7)
    lines: list[str] = []
    pair.frame(full_frame(width, log_screen(width, height, lines, 0)))
    pair.assert_same("first frame")
    for step in range(1, 120):
        for _ in range(rng.choice([0, 1, 1, 2, 3, 9])):
            n = len(lines)
            lines.append(f"2026-11-22T13:{n:05d} {'ERROR' if n % 7 == 0 else 'INFO '} request {n}")
        rows = log_screen(width, height, lines, step)
        # Textual repaints the view's inner region and the changed header/footer only
        update = cup(0, 0) + segment(*rows[0][0])
        for y in range(1, height - 2):
            update += cup(1, y) + segment(*rows[y][1])
        update += cup(0, height - 1) + segment(*rows[-1][0])
        pair.frame(update)
        pair.assert_same(f"step {step}")
    assert pair.encoder.stats.scrolls > 30
    assert pair.encoder.stats.passed_through == 0
    assert pair.bytes_encoded < 0.35 * pair.bytes_raw, (pair.bytes_encoded, pair.bytes_raw)


@pytest.mark.parametrize("erase", [False, True])
@pytest.mark.parametrize(("width", "height"), [(37, 11), (83, 7)])
def test_random_frames_of_styled_and_wide_text_match(erase, width, height):
    """(Widths of several blocks and a part: rows are compared a block at a time.)"""
    pair = Pair(width, height, erase=erase)
    rng = random.Random(2026)
    texts = [*TEXTS, " " * 8, " " * 13] if erase else TEXTS
    for step in range(400):
        if step % 97 == 0:
            pair.frame("\x1b[2J")  # something the encoder does not model: passed through
        parts = []
        for _ in range(rng.randint(1, 6)):
            y = rng.randrange(height)
            x = rng.randrange(width)
            parts.append(cup(x, y))
            room = width - x
            while room > 0 and rng.random() < 0.8:
                text = rng.choice(texts)
                cells = sum(2 if ord(c) > 0x3000 else 1 for c in text)
                if cells > room:
                    break
                parts.append(segment(rng.choice(STYLES), text))
                room -= cells
            if rng.random() < 0.2 and y < height - 1:
                parts.append("\n")
        pair.frame("".join(parts) + cup(rng.randrange(width), rng.randrange(height)))
        pair.assert_same(f"step {step}")
    assert pair.encoder.stats.passed_through >= 4
    assert pair.bytes_encoded < pair.bytes_raw


def beside_screen(lines: list[str], clock: int) -> list[list[tuple[str, str]]]:
    """A log view of 40 columns between borders, beside an empty bordered pane."""
    border = "38;2;71;71;70;48;2;18;18;18"
    body = "38;2;208;208;208;48;2;28;28;28"
    rows = [[("1", f" cockpit {clock:05d}".ljust(72))]]
    for line in (lines[-12:] + [""] * 12)[:12]:
        rows.append([(border, "│"), (body, line[:40].ljust(40)), (border, "││"),
                     (body, " " * 28), (border, "│")])
    rows.append([("7", f" {len(lines)} lines".ljust(72))])
    return rows


@pytest.mark.parametrize("erase", [False, True])
def test_a_log_view_beside_an_empty_pane_is_sent_style_by_style(erase):
    """Rows of a log view between borders are written a style at a time (one transition
    per style, not four per row); with ``erase`` runs of blanks are erased, not sent."""
    width, height = 72, 14
    pair = Pair(width, height, erase=erase)
    lines: list[str] = []
    pair.frame(full_frame(width, beside_screen(lines, 0)))
    pair.assert_same("first frame")
    for step in range(1, 60):
        for _ in range(step % 4):
            lines.append(f"13:{len(lines):05d} INFO request {len(lines) * 7919 % 10007}")
        rows = beside_screen(lines, step)
        update = cup(0, 0) + segment(*rows[0][0])
        for y in range(1, height - 1):  # Textual repaints the view's rows, borders included
            update += cup(0, y) + "".join(segment(*part) for part in rows[y])
        pair.frame(update + cup(0, height - 1) + segment(*rows[-1][0]))
        pair.assert_same(f"step {step}")
    assert pair.encoder.stats.passed_through == 0
    limit = 0.075 if erase else 0.095  # row by row without erasing: 0.12
    assert pair.bytes_encoded < limit * pair.bytes_raw, (pair.bytes_encoded, pair.bytes_raw)


def test_rows_that_move_inside_a_half_width_pane_are_not_scrolled():
    """A scroll region moves whole rows: the pane beside must not move with it."""
    width, height = 40, 10
    pair = Pair(width, height)

    def frame(first: int) -> str:
        out = ""
        for y in range(height):
            out += cup(0, y) + segment("32", f"left {first + y:03d}".ljust(20))
            out += segment("33", f"right {y:02d}".ljust(20))
        return out

    for first in range(6):
        pair.frame(frame(first))
        pair.assert_same(f"first={first}")
    assert pair.encoder.stats.scrolls == 0


def test_hyperlinks_and_cursor_position_survive():
    pair = Pair(30, 5)
    link = "\x1b]8;id=1;https://example.invalid/\x1b\\"
    data = cup(2, 1) + link + segment("4", "docs") + "\x1b]8;;\x1b\\" + segment("1", " x") + cup(7, 3)
    out = pair.frame(data)
    pair.assert_same()
    assert "https://example.invalid/" in out
    assert out.endswith(cup(7, 3))
    # the same frame again: nothing on screen changes, only the cursor is where it was
    assert pair.frame(data) == ""
    assert pair.frame(data.replace(cup(7, 3), cup(1, 1))) == cup(1, 1)


def test_a_frame_the_encoder_does_not_follow_is_passed_through_and_the_model_forgotten():
    pair = Pair(20, 4)
    first = cup(0, 0) + segment("1", "hello")
    pair.frame(first)
    assert pair.frame(first) == ""
    odd = cup(0, 1) + "\x1b[?1049h" + segment("", "x")
    assert pair.frame(odd) == odd
    assert "hello" in pair.frame(first)  # sent again: the model was dropped


def test_writes_that_leave_the_screen_alone_keep_the_model():
    pair = Pair(20, 4)
    first = cup(0, 0) + segment("1", "hello")
    pair.frame(first)
    for harmless in ("\x1b[?2026h", "\x1b[?2026l", "\x1b[?25l", "\x07"):
        assert pair.frame(harmless) == harmless
    assert pair.frame(first) == ""


def test_forget_after_a_resize_sends_everything_again():
    pair = Pair(20, 4)
    first = cup(0, 0) + segment("1", "hello")
    pair.frame(first)
    pair.encoder.forget(30, 6)
    assert "hello" in pair.encoder.encode(first)


def test_a_frame_that_would_wrap_or_scroll_the_screen_is_not_modelled():
    pair = Pair(10, 3)
    wraps = cup(8, 0) + "abc"
    assert pair.frame(wraps) == wraps
    scrolls = cup(0, 2) + "a\nb"
    assert pair.frame(scrolls) == scrolls


@pytest.mark.parametrize(("before", "params", "after"), [
    ("", "1;38;2;1;2;3", "\x1b[1;38;2;1;2;3m"),
    ("1;38;2;1;2;3", "1;38;2;9;9;9", "\x1b[38;2;9;9;9m"),
    ("1;31", "31", "\x1b[0;31m"),
    ("31;44", "31", "\x1b[49m"),
    ("4", "", "\x1b[0m"),
])
def test_style_transitions_are_the_difference(before, params, after):
    table = StyleTable()
    start = table.after_sgr(0, before)
    target = table.after_sgr(0, params)
    assert table.transition(start, target) == after
    assert table.transition(None, target).startswith("\x1b[0")


def test_sgr_parsing():
    assert apply_sgr(DEFAULT, "1;2;22").attributes == frozenset()
    state = apply_sgr(DEFAULT, "38;5;208;48;2;1;2;3;4")
    assert (state.foreground, state.background) == ("38;5;208", "48;2;1;2;3")
    assert "4" in state.attributes
    assert apply_sgr(state, "39;49;24") == DEFAULT


def test_blanks_are_erased_only_where_terminfo_says_the_terminal_erases_in_colour():
    import subprocess
    import sys

    pytest.importorskip("curses")

    def erases(term: str) -> bool:  # curses reads terminfo once per process
        code = ("import sys; from cockpit.tui.terminal.driver import terminal_erases; "
                "print(terminal_erases(sys.argv[1]))")
        out = subprocess.run([sys.executable, "-c", code, term], capture_output=True,
                             text=True, check=True, timeout=30).stdout
        return out.strip() == "True"

    assert erases("xterm-256color")  # bce and ech
    assert not erases("screen-256color")  # GNU screen: no bce by default
    assert not erases("no-such-terminal")
    assert not erases("")
