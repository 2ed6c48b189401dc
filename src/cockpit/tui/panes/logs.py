"""The Logs pane: every log source of the profile, merged, filtered and followed.

Data path: a worker consumes ``merge_sources`` over one follower per source and queues
whole batches (:meth:`LogsPane.add_lines`); a 30 Hz timer flushes the queue: lines that
would scroll out unseen are skipped (only the last ``log_buffer_lines`` of a flush
matter), the rest go to a bounded buffer that
:class:`~cockpit.tui.widgets.loglines.LogLines` draws row by row. A line passes the
boundary (redacted, escapes made visible, cut to ``DISPLAY_CHARS`` with a ``…[+N chars]``
mark) before it is ever shown or tested against the filter, and only then: lines that
scroll by unseen cost nothing. A private key spans lines, so once a source has shown a
``-----BEGIN`` line, its lines go through that source's boundary stream as they arrive
(one pass each, in order), and a key's body is hidden line by line.
Lines lost on the way (merge backlog, skipped, pushed out of the buffer) are counted
as *dropped* in the status.

Search: ``/`` opens a regex filter (Enter applies, Esc cancels and clears it). The
filter hides the lines that do not match and underlines the matches; ``n``/``N`` move
a highlighted cursor to the next/previous match (the next/previous shown line), which
pauses following. The cursor stays on its line when the filter is cleared, so a
match can then be read in context. ``show_source`` narrows the view to one source's lines
(the Targets pane's ``l``: a target's lines are tagged with its name), with or without a
regex; Esc clears both. ``v`` cycles a level floor (every line, then info, warn or error
and worse): a line's level is the one its source gave (Cloud Logging's severity, an
event's type) or the one guessed from its text; lines of no level are hidden under a
floor, the cockpit's notices never.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from operator import attrgetter
from typing import ClassVar

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Input
from textual.worker import Worker, WorkerCancelled, WorkerError, WorkerFailed

from cockpit.core.boundary import Boundary, LineStream, bound
from cockpit.core.errors import CockpitError
from cockpit.core.sources.logs import (
    NOTICE_PREFIX,
    FileFollower,
    Follower,
    LogLine,
    make_follower,
    merge_sources,
)
from cockpit.tui.context import CockpitContext
from cockpit.tui.panes.base import Pane
from cockpit.tui.panes.logs_buffer import LEVELS, LogBuffer
from cockpit.tui.widgets.loglines import LogLines, QuietStatus

DISPLAY_CHARS = 2_000  #: longer lines are cut for display
HEAD_CHARS = 2 * DISPLAY_CHARS  #: what is kept (and redacted) of a line
#: a line that may start a multi-line secret: its source's lines then go through a stream
KEY_START = "-----BEGIN"
FLUSH_INTERVAL = 1 / 30
STATUS_INTERVAL = 0.25  #: the status follows the flushes at most this often
FLUSH_BUDGET = 0.012  #: seconds of filter testing per flush at most; the rest waits
INGEST_BATCH = 1_000  #: lines per follower batch (one step of work on the UI loop)
INGEST_CHUNK = 128 * 1024  #: bytes a file follower reads per step

_SOURCE = attrgetter("source")
_LEVEL = attrgetter("level")
_TEXT = attrgetter("text")


class _Shown(str):
    """A line that already passed the boundary (through its source's stream)."""

    __slots__ = ()


class _Head(str):
    """The head of a line too long to keep whole; ``extra`` characters were cut off."""

    __slots__ = ("extra",)
    extra: int


_MARK = re.compile(r"…\[\+(\d+) chars\]$")


def _head(raw: str) -> _Head:
    """The head of a long line; what was cut is counted, with what a follower had
    already cut (its ``…[+N chars]`` mark)."""
    extra = len(raw) - HEAD_CHARS
    mark = _MARK.search(raw, len(raw) - 40)
    if mark is not None:
        extra += int(mark.group(1)) - len(mark.group(0))
    head = _Head(raw[:HEAD_CHARS])
    head.extra = extra
    return head


def _widest(raws: list[str]) -> int:
    """Cells of the widest line (as displayed, at most the cut length and its mark)."""
    if not raws:
        return 0
    if "".join(raws).isascii():
        width = max(map(len, raws))
    else:
        width = max(cell_len(raw[:DISPLAY_CHARS]) for raw in raws)
    return min(width, DISPLAY_CHARS + len("…[+99999999 chars]"))


class LogsPane(QuietStatus, Pane):
    """Merged log sources with a regex filter, match cursor, follow and wrap.

    For the app and tests: :meth:`add_lines` (the worker's path too), :meth:`flush`,
    :meth:`set_filter`, :meth:`move_cursor`, :meth:`set_follow`, :meth:`set_wrap`;
    state: ``line_count``, ``visible_count``, ``dropped``, ``received``,
    ``filter_pattern``, ``filter_error``, ``filtering``, ``cursor``, ``following``,
    ``wrap``, ``status_text``; text: :meth:`visible_lines`, :meth:`visible_levels`,
    :meth:`rendered_text` (the rows on screen, as drawn).
    """

    PANE_TITLE = "Logs"
    PANE_NUMBER = 2

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="logs.filter"),
        Binding("n", "next", "Next", id="logs.next"),
        Binding("N", "prev", "Prev", id="logs.prev"),
        Binding("s", "follow", "Follow", id="logs.follow"),
        Binding("w", "wrap", "Wrap", id="logs.wrap"),
        Binding("g", "top", "Top", id="logs.top"),
        Binding("G", "bottom", "Bottom", id="logs.bottom"),
        Binding("j", "down", "Down", id="logs.down", show=False),
        Binding("k", "up", "Up", id="logs.up", show=False),
        Binding("v", "level", "Level", id="logs.level", show=False),
        Binding("escape", "clear_filter", "Clear filter", id="logs.clear_filter"),
    ]

    DEFAULT_CSS = """
    LogsPane > #logs-filter {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    LogsPane > #logs-filter.-open { display: block; }
    """

    def __init__(self, context: CockpitContext, *, id: str | None = "logs") -> None:
        super().__init__(context, id=id)
        self._limit = context.settings.log_buffer_lines
        self.buffer = LogBuffer(self._limit, self._clean)
        #: the boundary, which cuts lines itself (with ``extra``, see ``_clean``)
        self._boundary = Boundary(context.redactor, line_limit=1 << 62)
        self._line = self._boundary.line
        #: a stream per source that has shown a ``KEY_START`` line (see ``add_lines``)
        self._streams: dict[str, LineStream] = {}
        self._sources = [source.name for source in context.loaded.profile.logs]
        self._seen: set[str] = set(self._sources)
        # queued lines as parallel lists of strings: no object per line for the GC
        self._q_sources: list[str] = []
        self._q_levels: list[str] = []
        self._q_raws: list[str] = []
        self._pending_dropped = 0
        self.received = 0  #: lines that reached the pane (skipped ones included)
        self._dropped = 0  #: lost upstream or skipped at a flush
        self.new_while_paused = 0
        self.filter_error: str | None = None
        self._note = ""
        self._timer: Timer | None = None
        self._asleep = False  #: the flush timer is paused: nothing to show until woken
        self._flushed_at = 0.0  #: monotonic time of the last flush that showed lines
        #: wakes the sleeping timer: a background pane's next slot, or one flush interval
        #: after the last flush when lines arrive
        self._wake_timer: Timer | None = None
        self._status_timer: Timer | None = None
        self._status_at = 0.0
        self._worker: Worker[None] | None = None
        self._followers: list[tuple[str, Follower]] = []
        self.view = LogLines(self.buffer, id="logs-view")
        self.filter_input = Input(
            placeholder="regex filter · Enter apply · Esc clear", id="logs-filter"
        )

    # -- composition and lifecycle -----------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.view
        yield self.filter_input

    def on_mount(self) -> None:
        self._tag_sources()
        self._update_status()
        if self.context.live:
            self._timer = self.set_interval(FLUSH_INTERVAL, self.flush, name="logs-flush")
            if self.context.loaded.profile.logs:
                self._worker = self.run_worker(
                    self._ingest(), name="logs-ingest", group="logs", exclusive=True
                )
        else:
            self.flush(budget=None)  # lines added before the pane was mounted

    async def on_unmount(self) -> None:
        worker, self._worker = self._worker, None
        for _name, follower in self._followers:
            with contextlib.suppress(Exception):
                await follower.close()
        if worker is not None and not worker.is_finished:
            worker.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed, WorkerError, TimeoutError):
                async with asyncio.timeout(5):
                    await worker.wait()

    async def retarget(self) -> int:
        """The backend now operates elsewhere (``:ctx`` / ``:ns``): target log sources
        follow its new targets (file and command sources go on). How many restarted."""
        from cockpit.core.sources.target_logs import TargetFollower

        restarted = 0
        for _name, follower in self._followers:
            if isinstance(follower, TargetFollower):
                await follower.restart()
                restarted += 1
        return restarted

    async def _ingest(self) -> None:
        """Follow every source; queue each merged batch for the next flush."""
        followers: list[tuple[str, Follower]] = []
        for source in self.context.loaded.profile.logs:
            try:
                follower = make_follower(source, self.context.backend)
            except CockpitError as exc:
                text = f"{NOTICE_PREFIX}{exc}"
                self.add_lines([LogLine(source.name, text, time.time(), "cockpit")])
                continue
            # Smaller steps than the defaults: each step (read, decode, level) runs on
            # the UI loop, and must stay short under a firehose.
            follower.batch_max = min(follower.batch_max, INGEST_BATCH)
            if isinstance(follower, FileFollower):
                follower.chunk_size = min(follower.chunk_size, INGEST_CHUNK)
            followers.append((source.name, follower))
        self._followers = followers
        if not followers:
            return
        batches = merge_sources(followers, max_pending=self._limit)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                self.add_lines(batch.lines, batch.dropped)

    # -- data path -----------------------------------------------------------------------

    def add_lines(self, lines: list[LogLine], dropped: int = 0) -> None:
        """Queue lines (and a count lost upstream); shown at the next flush.

        When the context is not live (snapshot tests) the lines are shown at once.
        """
        raws = list(map(_TEXT, lines))
        if self._streams or KEY_START in "\n".join(raws):
            self._stream_lines(lines, raws)
        if raws and max(map(len, raws)) > HEAD_CHARS:
            # never keep 1 MB around; the head remembers how much was cut
            raws = [_head(raw) if len(raw) > HEAD_CHARS else raw for raw in raws]
        self._q_sources.extend(map(_SOURCE, lines))
        self._q_levels.extend(map(_LEVEL, lines))
        self._q_raws.extend(raws)
        self._pending_dropped += dropped
        self.received += len(lines)
        excess = len(self._q_raws) - self._limit
        if excess > self._limit:  # keep the queue bounded between flushes
            self._dequeue(excess)
            self._pending_dropped += excess
        if not self.context.live:
            self.flush(budget=None)
        elif self._asleep and self._wake_timer is None:
            # at most one flush per FLUSH_INTERVAL: a firehose must not flush per batch
            due = self._flushed_at + FLUSH_INTERVAL - time.monotonic()
            if due > 0:
                self._wake_timer = self.set_timer(due, self.wake, name="logs-wake")
            else:
                self.wake()

    @property
    def flush_asleep(self) -> bool:
        """True while the flush timer is paused (nothing to show, or waiting its cadence)."""
        return self._asleep

    def wake(self) -> None:
        """Flush at the next tick: the 30 Hz timer sleeps while there is nothing to show."""
        if self._wake_timer is not None:
            self._wake_timer.stop()
            self._wake_timer = None
        if self._asleep and self._timer is not None:
            self._asleep = False
            self._timer.resume()

    def _sleep(self, wait: float | None = None) -> None:
        """Pause the flush timer, until ``wake`` or for ``wait`` seconds."""
        if self._timer is not None and not self._asleep:
            self._asleep = True
            self._timer.pause()
        if wait is not None and self._wake_timer is None:
            self._wake_timer = self.set_timer(wait, self.wake, name="logs-wake")

    def on_descendant_focus(self) -> None:
        """The operator came in: lines that waited for a background repaint show now."""
        self.wake()

    def on_show(self) -> None:
        self.wake()

    def _dequeue(self, count: int) -> tuple[list[str], list[str], list[str]]:
        """Take the oldest ``count`` queued lines as (sources, levels, raws)."""
        taken = (self._q_sources[:count], self._q_levels[:count], self._q_raws[:count])
        del self._q_sources[:count], self._q_levels[:count], self._q_raws[:count]
        return taken

    def _stream_lines(self, lines: list[LogLine], raws: list[str]) -> None:
        """Pass the lines of sources that may be inside a private key through their
        source's boundary stream now, in order (``raws`` is updated in place)."""
        streams = self._streams
        for i, line in enumerate(lines):
            stream = streams.get(line.source)
            if stream is None:
                if KEY_START not in raws[i]:
                    continue  # this source never started a key: its lines stay lazy
                stream = streams[line.source] = self._boundary.stream()
            raws[i] = _Shown(self._cut(stream.line(raws[i])))

    @staticmethod
    def _cut(text: str, extra: int = 0) -> str:
        """Tabs expanded; cut to ``DISPLAY_CHARS`` with a mark counting what was cut."""
        if "\t" in text:
            text = text.expandtabs(8)
        if extra:
            return f"{text[:DISPLAY_CHARS]}…[+{len(text) - DISPLAY_CHARS + extra} chars]"
        return bound(text, DISPLAY_CHARS)

    def _clean(self, raw: str) -> str:
        """Display text: through the boundary (redacted, escapes visible), tabs
        expanded, cut with a mark."""
        if type(raw) is _Shown:
            return raw  # passed its source's stream on arrival
        return self._cut(self._line(raw), getattr(raw, "extra", 0))

    def flush(self, budget: float | None = FLUSH_BUDGET) -> None:
        """Show queued lines (the 30 Hz timer), testing them against the filter if any.

        Only the last ``log_buffer_lines`` queued lines can ever be seen: the others are
        skipped and counted as dropped without being processed. Filter testing stops
        after ``budget`` seconds (None: no limit) and resumes at the next flush.
        """
        buffer = self.buffer
        if not (self._q_raws or self._pending_dropped or buffer.scanning):
            self._sleep()  # until lines arrive: an idle timer still costs CPU
            return
        if not self.is_mounted:
            return
        excess = len(self._q_raws) - self._limit
        if excess > 0:  # only the last buffer-full of lines can ever be seen
            self._dequeue(excess)
            self._pending_dropped += excess
        if not self.display:
            # Hidden (compact layout): a growing hidden view would still make the whole
            # screen lay out and repaint. ``on_show`` wakes the timer.
            self._sleep()
            return
        if self.view.follow and self._q_raws and (wait := self.repaint_wait()):
            self._sleep(wait)  # a background pane: the lines wait for its next repaint
            return
        dropped, self._pending_dropped = self._pending_dropped, 0
        self._flushed_at = time.monotonic()
        self._dropped += dropped
        sources, levels, raws = self._dequeue(len(self._q_raws))
        new_names = set(sources)
        width = _widest(raws)
        was_scanning = buffer.scanning
        added, gone = buffer.extend(sources, levels, raws)
        if buffer.filtered:
            deadline = time.perf_counter() + budget if budget is not None else None
            added = buffer.scan(deadline)
            if was_scanning:
                added = 0  # rows found by a filter's first pass are not "new"
        view = self.view
        if new_names - self._seen:
            self._seen |= new_names
            self._tag_sources()
        if view.cursor is not None and view.cursor < self.buffer.first_seq:
            view.cursor = None
        if not view.follow:
            self.new_while_paused += added
        view.lines_changed(added, gone, width)
        self._update_status(soon=self.context.live)

    def _tag_sources(self) -> None:
        """Show the ``[source]`` tag once there is more than one source."""
        view = self.view
        view.show_source = len(self._seen) > 1
        view.source_width = max(map(len, self._seen), default=0)
        view.invalidate()

    # -- public state --------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """Lines in the buffer."""
        return len(self.buffer)

    @property
    def visible_count(self) -> int:
        """Lines shown: those matching the filter, or all buffered lines."""
        return self.buffer.visible_count

    @property
    def dropped(self) -> int:
        """Lines lost: upstream backlog, skipped at a flush, pushed out of the buffer."""
        return self._dropped + self.buffer.evicted

    @property
    def filter_pattern(self) -> str | None:
        """The active filter regex, or None."""
        pattern = self.buffer.pattern
        return pattern.pattern if pattern is not None else None

    @property
    def following(self) -> bool:
        """New lines scroll into view (else paused)."""
        return self.view.follow

    @property
    def wrap(self) -> bool:
        """Long lines are wrapped (else cut at the edge and scrolled sideways)."""
        return self.view.wrap

    @property
    def filtering(self) -> bool:
        """A filter's pass over the buffer is still in progress."""
        return self.buffer.scanning

    @property
    def cursor(self) -> int | None:
        """View row of the highlighted match, or None."""
        seq = self.view.cursor
        return self.buffer.row_of(seq) if seq is not None else None

    @property
    def status_text(self) -> str:
        """The pane status (bottom border)."""
        return str(self.border_subtitle or "")

    def visible_lines(self) -> list[str]:
        """The text of every shown line (redacted, escape-free, cut), oldest first."""
        buffer = self.buffer
        text, seq_at = buffer.text, buffer.seq_at
        return [text(seq_at(row)) for row in range(buffer.visible_count)]

    def visible_levels(self) -> list[str]:
        """The level of every shown line ("error", "warn", "info", "debug" or "")."""
        buffer = self.buffer
        level, seq_at = buffer.level, buffer.seq_at
        return [level(seq_at(row)) for row in range(buffer.visible_count)]

    def rendered_text(self) -> list[str]:
        """The rows on screen as plain text, exactly as the view renders them."""
        return self.view.screen_text()

    @property
    def source_filter(self) -> str | None:
        """The one source shown (``show_source``), or None."""
        return self.buffer.only_source

    def show_source(self, source: str | None, also: tuple[str, ...] = ()) -> None:
        """Show only the lines of ``source`` (a log source, or a target's name as its lines
        are tagged; ``also``: its children's, a workload's pods); None: every source
        again. A regex filter stays in force."""
        self._refilter(lambda: self.buffer.set_source(source or None, also))

    @property
    def level_floor(self) -> str | None:
        """The lowest level shown (``v``), or None: every line."""
        return self.buffer.min_level

    def set_level(self, level: str | None) -> None:
        """Show only lines of ``level`` ("debug", "info", "warn", "error") or worse, and
        the cockpit's notices; None: every line. The other filters stay in force."""
        self._refilter(lambda: self.buffer.set_level(level or None))

    def set_filter(self, pattern: str | None) -> bool:
        """Filter by regex (empty or None: no filter); False if ``pattern`` is invalid."""
        if pattern:
            try:
                compiled: re.Pattern[str] | None = re.compile(pattern)
            except re.error as exc:
                self._note = ""
                self.filter_error = f"bad regex /{pattern}/: {exc}"
                self._update_status()
                return False
        else:
            compiled = None
        self._refilter(lambda: self.buffer.set_pattern(compiled))
        return True

    def _refilter(self, change) -> None:
        """Apply a filter change (``change()`` sets it in the buffer), keeping the view
        near where it was; the first pass runs within the flush budget, then at flushes."""
        self._note = ""
        self.filter_error = None
        view, buffer = self.view, self.buffer
        top_seq = buffer.seq_at(view.top_row()) if buffer.visible_count else buffer.next_seq
        change()
        if buffer.filtered:
            live = self.context.live
            buffer.scan(time.perf_counter() + FLUSH_BUDGET if live else None)
            if live:
                self.wake()  # the scan goes on at each flush
        view.invalidate()
        if view.cursor is not None and buffer.row_of(view.cursor) is not None:
            view.scroll_to_seq(view.cursor)
        elif view.follow:
            view.follow = True
        else:  # paused: stay near the line that was at the top
            view.scroll_to(y=buffer.row_at_or_after(top_seq), animate=False)
        self._update_status()

    def set_follow(self, follow: bool) -> None:
        """Follow the newest lines, or pause (new lines are counted, not scrolled to)."""
        self._note = ""
        self.view.follow = follow
        self._update_status()

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines, or cut them at the edge."""
        self._note = ""
        self.view.wrap = wrap
        self._update_status()

    def move_cursor(self, step: int) -> bool:
        """Move the match cursor by ``step`` shown lines; False if there is nowhere to go."""
        view, buffer = self.view, self.buffer
        count = buffer.visible_count
        if not buffer.filtered or not count:
            self._note = "no filter: / to search" if not buffer.filtered else "no match"
            self._update_status()
            return False
        row = buffer.row_of(view.cursor) if view.cursor is not None else None
        if row is None:
            if view.cursor is not None:  # on a line hidden by the filter: nearest match
                after = buffer.row_at_or_after(view.cursor)
                target = after if step > 0 else after - 1
            else:
                target = view.top_row() if step > 0 else view.bottom_row()
        else:
            target = row + step
        if not 0 <= target < count:
            self._note = "last match" if step > 0 else "first match"
            self._update_status()
            return False
        self._note = ""
        view.follow = False
        view.set_cursor(buffer.seq_at(target))
        self._update_status()
        return True

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.buffer.filtered or self.filter_input.has_class("-open")
        return True

    def action_filter(self) -> None:
        box = self.filter_input
        box.value = self.filter_pattern or ""
        box.add_class("-open")
        box.focus()
        self.refresh_bindings()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.set_filter(event.value):
            self._close_input()

    def action_clear_filter(self) -> None:
        self._close_input()
        if self.buffer.only_source is not None:
            self.buffer.set_source(None)
        if self.buffer.min_level is not None:
            self.buffer.set_level(None)
        self.set_filter(None)

    def _close_input(self) -> None:
        box = self.filter_input
        if box.has_class("-open"):
            box.remove_class("-open")
            self.view.focus()
        self.refresh_bindings()

    def action_level(self) -> None:
        """Every line, then info, warn, error and worse, then every line again."""
        cycle = (None, *LEVELS[1:])
        self.set_level(cycle[(cycle.index(self.level_floor) + 1) % len(cycle)])

    def action_next(self) -> None:
        self.move_cursor(1)

    def action_prev(self) -> None:
        self.move_cursor(-1)

    def action_follow(self) -> None:
        self.set_follow(not self.view.follow)

    def action_wrap(self) -> None:
        self.set_wrap(not self.view.wrap)

    def action_top(self) -> None:
        self.view.action_scroll_home()

    def action_bottom(self) -> None:
        self.view.action_scroll_end()

    def action_down(self) -> None:
        self.view.action_scroll_down()

    def action_up(self) -> None:
        self.view.action_scroll_up()

    def on_log_lines_follow_changed(self, event: LogLines.FollowChanged) -> None:
        event.stop()
        if event.follow:
            self.new_while_paused = 0
        self._update_status()

    # -- status --------------------------------------------------------------------------

    def _update_status(self, *, soon: bool = False) -> None:
        """Refresh the status; with ``soon``, at most every ``STATUS_INTERVAL`` seconds.

        (A new status repaints the bottom border, so a flush does not do it every frame.)
        """
        if soon:
            wait = self._status_at + STATUS_INTERVAL - time.monotonic()
            if wait > 0:
                if self._status_timer is None:
                    self._status_timer = self.set_timer(wait, self._status_due)
                return
        self._status_at = time.monotonic()
        sources = len(self._sources)
        parts = [f"{sources} source{'s' if sources != 1 else ''}"]
        if self.filter_error:
            parts.append(self.filter_error)
        if self.buffer.filtered:
            scanning = (
                f" (scanning {self.buffer.scan_progress:.0%})" if self.buffer.scanning else ""
            )
            what = [f"source {self.buffer.only_source}"] if self.buffer.only_source else []
            if self.buffer.min_level is not None:
                what.append(f"level {self.buffer.min_level}+")
            if self.buffer.pattern is not None:
                what.append(f"filter /{self.buffer.pattern.pattern}/")
            parts.append(
                f"{' '.join(what)}: "
                f"{self.visible_count:,} of {self.line_count:,}{scanning}"
            )
        else:
            parts.append(f"{self.line_count:,} lines")
        if self.dropped:
            parts.append(f"{self.dropped:,} dropped")
        if not self.is_mounted or self.view.follow:
            parts.append("following")
        else:
            parts.append(f"paused ({self.new_while_paused:,} new)")
        if self.is_mounted and self.view.wrap:
            parts.append("wrap")
        if self._note:
            parts.append(self._note)
        text = self.context.boundary.line(" · ".join(parts))  # a filter, a note: outside text
        if text != self.border_subtitle:
            self.set_status(text)

    def _status_due(self) -> None:
        self._status_timer = None
        self._update_status()
