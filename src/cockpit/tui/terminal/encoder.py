"""Send the terminal only what changed: the frame encoder behind the cockpit's driver.

Textual repaints whole widget regions, and every segment carries a reset and its full
style. Over an SSH link that is most of the traffic. ``FrameEncoder`` keeps a model of
what the terminal shows (a character and a style id per cell) and turns each frame Textual
writes into an equivalent, shorter one:

- cells that already show the right character in the right style are skipped;
- styles change by the difference (``ESC[32m``), not by reset-and-everything;
- when a block of full-width rows moved up (a following log view), the terminal scrolls
  them itself inside a scroll region (DECSTBM) and only the new rows are sent;
- the changed cells go out row by row or style by style, whichever is shorter (log rows
  between pane borders change style four times a row, some 30 bytes each);
- where terminfo says the terminal erases in the current background (``bce``, ``ech``:
  the driver asks), runs of blanks are erased (ECH) rather than sent.

Anything it does not understand is passed through untouched and the model forgotten, so
the worst case is today's output. Cells the model does not know are always sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import rich.cells
from rich.cells import cell_len, get_character_cell_size

from cockpit.tui.terminal.sgr import StyleTable, UnknownSgr

UNKNOWN = -1  #: style id of a cell whose content the model does not know
#: True when every character of a string is one cell wide (Rich's own table when present)
_single_cells = getattr(rich.cells, "_is_single_cell_widths", None) or (
    lambda text: text.isascii() and text.isprintable()
)
_GAP = 6  #: unchanged cells shorter than this are rewritten rather than jumped over
_ERASE_MIN = 8  #: blanks this many and more are erased (ECH) rather than written
_BLOCK = 16  #: cells of a row compared at a time before cell by cell (``_row_runs``)
#: attributes that leave a blank cell looking like an erased one (bold, dim, italic, blink,
#: conceal)
_BLANK_SAFE = frozenset({"1", "2", "3", "5", "6", "8"})


def _run_style(run: tuple[int, int, int, str, int]) -> int:
    return run[4]

_TOKEN = re.compile(
    r"\x1b\[(\d*)(?:;(\d*))?H"  # 1, 2: cursor position
    r"|\x1b\[([\d;:]*)m"  # 3: SGR
    r"|\x1b\]8;([^\x1b\x07]*)(?:\x1b\\|\x07)"  # 4: OSC 8 hyperlink
    r"|(\n)|(\r)"  # 5, 6
    r"|([\x00-\x1f\x7f-\x9f])"  # 7: anything else: not a frame we model
)
#: writes that leave the screen's content alone (synchronised output, cursor, bell, modes)
_HARMLESS = re.compile(
    r"(?:\x1b\[\?(?:25|1000|1002|1003|1004|1006|1015|1016|2004|2026|2048)[hl]"
    r"|\x1b\[\?\d+\$p|\x07|\x1b\]22;[^\x07\x1b]*\x07)+"
)


class _Opaque(Exception):
    """The frame does something the model does not follow."""


@dataclass
class EncoderStats:
    """What the encoder saved, for benchmarks and the debug log."""

    frames: int = 0
    passed_through: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    scrolls: int = 0


class FrameEncoder:
    """Rewrites Textual's frames against a model of the terminal screen."""

    def __init__(self, width: int, height: int) -> None:
        self.styles = StyleTable()
        self.stats = EncoderStats()
        self.width = width
        self.height = height
        self._chars: list[list[str]] = []
        self._cell_styles: list[list[int]] = []
        self._current_style: int | None = None
        self._cursor: tuple[int, int] | None = None
        #: runs of blanks may be erased (ECH) in the current background: the terminal
        #: fills erased cells with it (terminfo's ``bce`` and ``ech``; the driver asks)
        self.erase = False
        self._erase_ok: dict[int, bool] = {}
        self.forget(width, height)

    def forget(self, width: int | None = None, height: int | None = None) -> None:
        """Drop the model (after a resize or output we did not follow)."""
        self.width = width if width is not None else self.width
        self.height = height if height is not None else self.height
        self._chars = [[""] * self.width for _ in range(self.height)]
        self._cell_styles = [[UNKNOWN] * self.width for _ in range(self.height)]
        self._current_style = None
        self._cursor = None

    # -- public ---------------------------------------------------------------------------

    def encode(self, data: str) -> str:
        """The sequence to write instead of ``data``: same resulting screen, fewer bytes."""
        self.stats.frames += 1
        self.stats.bytes_in += len(data)
        if not data or _HARMLESS.fullmatch(data):
            self.stats.bytes_out += len(data)
            return data
        try:
            rows, cursor = self._apply(data)
        except _Opaque:
            self.stats.passed_through += 1
            self.stats.bytes_out += len(data)
            self.forget()
            return data
        out = self._emit(rows, cursor)
        self.stats.bytes_out += len(out)
        return out

    # -- parsing: what the frame writes ---------------------------------------------------

    def _apply(self, data: str) -> tuple[dict[int, tuple[list[str], list[int]]], tuple[int, int]]:
        """New content of every row the frame touches, and where it leaves the cursor."""
        width, height = self.width, self.height
        rows: dict[int, tuple[list[str], list[int]]] = {}
        styles = self.styles
        x = y = 0
        style = 0
        link: str | None = None
        position = 0
        for match in _TOKEN.finditer(data):
            start = match.start()
            if start > position:
                x = self._write_text(rows, data[position:start], x, y, style)
            position = match.end()
            kind = match.lastindex
            if kind == 1 or kind == 2:
                y = int(match.group(1) or 1) - 1
                x = int(match.group(2) or 1) - 1
                if not (0 <= x < width and 0 <= y < height):
                    raise _Opaque
            elif kind == 3:
                try:
                    style = styles.after_sgr(style, match.group(3))
                except UnknownSgr:
                    raise _Opaque from None
            elif kind == 4:
                params = match.group(4)
                link = params if params.partition(";")[2] else None
                style = styles.with_link(style, link)
            elif kind == 5:
                y += 1
                if y >= height:
                    raise _Opaque  # the terminal would scroll
            elif kind == 6:
                x = 0
            else:
                raise _Opaque
        if position < len(data):
            x = self._write_text(rows, data[position:], x, y, style)
        if style != 0 and self.styles.states[style].link is not None:
            raise _Opaque  # a link left open would colour what comes next
        return rows, (x, y)

    def _row(self, rows: dict[int, tuple[list[str], list[int]]], y: int):
        row = rows.get(y)
        if row is None:
            row = rows[y] = (self._chars[y][:], self._cell_styles[y][:])
        return row

    def _write_text(self, rows, text: str, x: int, y: int, style: int) -> int:
        chars, cell_styles = self._row(rows, y)
        width = self.width
        if _single_cells(text):  # every character one cell wide: most text
            end = x + len(text)
            if end > width:
                raise _Opaque  # the terminal would wrap
            self._break_wide(chars, cell_styles, x, end)
            chars[x:end] = text
            cell_styles[x:end] = [style] * len(text)
            return end
        if sum(map(get_character_cell_size, text)) != cell_len(text):
            raise _Opaque  # graphemes Rich measures as a whole (emoji sequences)
        for char in text:
            if not char.isprintable():
                raise _Opaque
            size = get_character_cell_size(char)
            if size == 0:
                if x == 0 or cell_styles[x - 1] == UNKNOWN or chars[x - 1] == "":
                    raise _Opaque
                chars[x - 1] += char  # combining: belongs to the cell before
                continue
            if x + size > width:
                raise _Opaque
            self._break_wide(chars, cell_styles, x, x + size)
            chars[x] = char
            cell_styles[x] = style
            if size == 2:
                chars[x + 1] = ""  # the right half of a wide character
                cell_styles[x + 1] = style
            x += size
        return x

    @staticmethod
    def _break_wide(chars: list[str], cell_styles: list[int], start: int, end: int) -> None:
        """Overwriting half of a wide character: terminals differ on what is left."""
        if (start > 0 and chars[start] == "" and cell_styles[start] != UNKNOWN) or (
            end < len(chars) and chars[end] == "" and cell_styles[end] != UNKNOWN
        ):
            raise _Opaque

    # -- output: the shortest way to the new screen ---------------------------------------

    def _emit(self, rows, cursor: tuple[int, int]) -> str:
        out: list[str] = []
        changed = sorted(
            y for y, (chars, cell_styles) in rows.items()
            if chars != self._chars[y] or cell_styles != self._cell_styles[y]
        )
        for top, bottom, shift in self._scrolls(rows, changed):
            self._scroll(out, top, bottom, shift)
        runs: list[tuple[int, int, int, str, int]] = []
        for y in changed:
            self._row_runs(runs, y, *rows[y])
            self._chars[y], self._cell_styles[y] = rows[y]
        # Row by row, or style by style (a frame of log rows between borders changes
        # style four times a row, some 30 bytes each): whichever is shorter.
        by_row = self._write_runs(runs)
        if len({run[4] for run in runs}) > 1:
            by_style = self._write_runs(sorted(runs, key=_run_style))
            if len(by_style[0]) < len(by_row[0]):
                by_row = by_style
        text, position, self._current_style = by_row
        out.append(text)
        if self._current_style != 0:
            out.append(self.styles.transition(self._current_style, 0))
            self._current_style = 0
        if position != cursor:
            out.append(f"\x1b[{cursor[1] + 1};{cursor[0] + 1}H")
        self._cursor = cursor
        return "".join(out)

    def _row_runs(self, runs: list[tuple[int, int, int, str, int]], y: int,
                  chars: list[str], cell_styles: list[int]) -> None:
        """Add row ``y``'s changed cells as runs of one style: (y, start, end, text, style)."""
        old_chars, old_styles = self._chars[y], self._cell_styles[y]
        width = self.width
        # the unchanged blocks at either end skipped by comparing them whole (in C), the
        # cells between compared one by one: a changed row of a wide screen is mostly
        # what it was (a new value, a count)
        lo, hi = 0, width
        while lo < hi and chars[lo:lo + _BLOCK] == old_chars[lo:lo + _BLOCK] and \
                cell_styles[lo:lo + _BLOCK] == old_styles[lo:lo + _BLOCK]:
            lo += _BLOCK
        while hi - _BLOCK > lo and chars[hi - _BLOCK:hi] == old_chars[hi - _BLOCK:hi] and \
                cell_styles[hi - _BLOCK:hi] == old_styles[hi - _BLOCK:hi]:
            hi -= _BLOCK
        changed = [
            x for x, char, old_char, style, old_style in zip(
                range(lo, hi), chars[lo:hi], old_chars[lo:hi], cell_styles[lo:hi],
                old_styles[lo:hi], strict=True)
            if style != UNKNOWN and (style != old_style or char != old_char)
        ]
        if not changed:
            return
        # stretches of changed cells; short known gaps are rewritten rather than jumped
        stretches: list[list[int]] = [[changed[0], changed[0] + 1]]
        for x in changed[1:]:
            last = stretches[-1]
            if x - last[1] < _GAP and UNKNOWN not in cell_styles[last[1]:x]:
                last[1] = x + 1
            else:
                stretches.append([x, x + 1])
        for start, end in stretches:
            if chars[start] == "" and start > 0 and cell_styles[start - 1] != UNKNOWN:
                start -= 1  # start at the left half of a wide character
            if end < width and chars[end] == "" and cell_styles[end] != UNKNOWN:
                end += 1  # finish a wide character
            run_start = start
            style = cell_styles[start]
            for column in range(start + 1, end):
                if cell_styles[column] != style:
                    runs.append((y, run_start, column, "".join(chars[run_start:column]), style))
                    style = cell_styles[column]
                    run_start = column
            runs.append((y, run_start, end, "".join(chars[run_start:end]), style))

    def _write_runs(self, runs: list[tuple[int, int, int, str, int]]
                    ) -> tuple[str, tuple[int, int] | None, int | None]:
        """The runs written in this order: (output, cursor position after, style after)."""
        out: list[str] = []
        position = self._cursor
        current = self._current_style
        transition = self.styles.transition
        erasable = self._erasable if self.erase else None
        for y, start, end, text, style in runs:
            if position is None or position[1] != y or position[0] > start:
                out.append(f"\x1b[{y + 1};{start + 1}H")
            elif position[0] < start:
                out.append(f"\x1b[{start - position[0]}C")
            if style != current:
                out.append(transition(current, style))
                current = style
            count = end - start
            if erasable is not None and count >= _ERASE_MIN and erasable(style) \
                    and text == " " * count:
                out.append(f"\x1b[{count}X")  # blanks in the current background: bce
                position = (start, y)  # the cursor stays
            else:
                out.append(text)
                position = (end, y)
        return "".join(out), position, current

    def _erasable(self, style: int) -> bool:
        """Blanks of this style look like erased cells (their background, nothing drawn
        over it: no reverse, underline, strike-through, overline or link)."""
        known = self._erase_ok.get(style)
        if known is None:
            state = self.styles.states[style]
            known = self._erase_ok[style] = state.link is None and all(
                code in _BLANK_SAFE for code in state.attributes)
        return known

    def _scrolls(self, rows, changed: list[int]) -> list[tuple[int, int, int]]:
        """Blocks of rows whose new content is old content moved up: (top, bottom, shift)."""
        found: list[tuple[int, int, int]] = []
        run: list[int] = []
        for y in [*changed, -2]:
            if run and y == run[-1] + 1:
                run.append(y)
                continue
            if len(run) >= 3:
                block = self._find_scroll(rows, run[0], run[-1])
                if block:
                    found.append(block)
            run = [y]
        return found

    def _find_scroll(self, rows, first: int, last: int) -> tuple[int, int, int] | None:
        old_rows = {}
        for y in range(first, last + 1):
            if UNKNOWN not in self._cell_styles[y]:
                old_rows.setdefault((tuple(self._chars[y]), tuple(self._cell_styles[y])), y)
        if not old_rows:
            return None
        best: tuple[int, int, int] | None = None
        best_rows = 1
        y = first
        while y <= last:
            chars, cell_styles = rows[y]
            source = old_rows.get((tuple(chars), tuple(cell_styles)))
            if source is None or source <= y:
                y += 1
                continue
            shift = source - y
            end = y
            while end + 1 + shift <= last:
                chars, cell_styles = rows[end + 1]
                old = end + 1 + shift
                if chars != self._chars[old] or cell_styles != self._cell_styles[old] \
                        or UNKNOWN in self._cell_styles[old]:
                    break
                end += 1
            fresh = range(end + 1, end + shift + 1)  # blank after the scroll: all repainted
            if end - y + 1 > best_rows and all(UNKNOWN not in rows[r][1] for r in fresh):
                best, best_rows = (y, end + shift, shift), end - y + 1
            y = end + 1
        return best

    def _scroll(self, out: list[str], top: int, bottom: int, shift: int) -> None:
        """Scroll rows ``top..bottom`` up by ``shift`` in the terminal and in the model."""
        self.stats.scrolls += 1
        if self._current_style != 0:
            out.append(self.styles.transition(self._current_style, 0))  # no coloured blanks
            self._current_style = 0
        out.append(f"\x1b[{top + 1};{bottom + 1}r\x1b[{bottom + 1};1H" + "\n" * shift + "\x1b[r")
        self._cursor = None  # resetting the margins homes the cursor
        chars, cell_styles = self._chars, self._cell_styles
        chars[top:bottom + 1] = [*chars[top + shift:bottom + 1],
                                 *([" "] * self.width for _ in range(shift))]
        cell_styles[top:bottom + 1] = [*cell_styles[top + shift:bottom + 1],
                                       *([0] * self.width for _ in range(shift))]
