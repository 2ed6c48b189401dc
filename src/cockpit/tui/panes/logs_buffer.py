"""The Logs pane's bounded line buffer and its regex filter (no Textual here).

A line is kept as strings in parallel deques (source, level, raw head of the line):
no object per line, so a firehose adds nothing for Python's cyclic GC to track (full
collections would otherwise stall the UI). Its display text (redacted, escape-free,
cut: the ``clean`` function given to the buffer) is computed the first time it is
needed, for a row drawn on screen or a line tested against the filter, and kept in
another parallel deque. Lines that scroll by unseen are never cleaned at all.

Lines are numbered with an ever-growing sequence number (``seq``), so a position
(the cursor, the first line in view) survives the oldest lines being dropped.
The *view* is what the pane shows: every buffered line, or only the lines that
match the filter (a regex, and/or one source: the Targets pane's ``l`` narrows the view
to one target's lines, and/or a level floor: lines of that level or worse, the
cockpit's notices always); ``row`` is an index into the view. Testing lines against a filter
costs a redaction each, so it is done by :meth:`LogBuffer.scan` within a deadline,
oldest first, and resumed at the next call: a new filter over a big buffer, or a
filter under a firehose, never blocks the UI.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from itertools import repeat


def _same(text: str) -> str:
    return text


#: levels in order; a floor shows its level and those after it (a line of no level: none)
LEVELS = ("debug", "info", "warn", "error")
_RANK = {level: rank for rank, level in enumerate(LEVELS)} | {"cockpit": len(LEVELS)}


class LogBuffer:
    """At most ``maxlen`` lines; ``evicted`` counts those pushed out by the bound."""

    def __init__(self, maxlen: int, clean: Callable[[str], str] = _same) -> None:
        self.maxlen = max(1, maxlen)
        self._clean = clean
        self.sources: deque[str] = deque(maxlen=self.maxlen)
        self.levels: deque[str] = deque(maxlen=self.maxlen)
        self.raws: deque[str] = deque(maxlen=self.maxlen)
        self._texts: deque[str | None] = deque(maxlen=self.maxlen)  #: display texts
        self.first_seq = 0  #: seq of the oldest line kept
        self.evicted = 0
        self.pattern: re.Pattern[str] | None = None
        self.only_source: str | None = None  #: show only the lines of this source
        self.min_level: str | None = None  #: show only lines of this level or worse
        self._names: frozenset[str] = frozenset()  #: it and its children (a workload's pods)
        self._prefixes: tuple[str, ...] = ()  #: ``NAME/`` of those (a pod's containers)
        self._matches: deque[int] = deque()  #: seqs of matching lines (with a pattern)
        self._scan_seq = 0  #: next seq to test against the pattern

    def __len__(self) -> int:
        return len(self.raws)

    @property
    def next_seq(self) -> int:
        """The seq the next line will get (= lines that ever entered the buffer)."""
        return self.first_seq + len(self.raws)

    @property
    def filtered(self) -> bool:
        """A filter is set (a regex, a source or both): the view is the matching lines."""
        return (self.pattern is not None or self.only_source is not None
                or self.min_level is not None)

    @property
    def visible_count(self) -> int:
        """Rows in the view (matching lines with a filter, else every line)."""
        return len(self._matches) if self.filtered else len(self.raws)

    def source(self, seq: int) -> str:
        return self.sources[seq - self.first_seq]

    def level(self, seq: int) -> str:
        return self.levels[seq - self.first_seq]

    def text(self, seq: int) -> str:
        """The display text of line ``seq`` (cleaned on first use)."""
        index = seq - self.first_seq
        text = self._texts[index]
        if text is None:
            text = self._texts[index] = self._clean(self.raws[index])
        return text

    def extend(
        self, sources: list[str], levels: list[str], raws: list[str]
    ) -> tuple[int, int]:
        """Append lines; returns (rows added to the view, rows gone from its top).

        With a filter, no row is added here: new lines join the view when scanned.
        """
        before = self.next_seq
        total = len(raws)
        skipped = max(0, total - self.maxlen)
        if skipped:
            sources, levels, raws = sources[skipped:], levels[skipped:], raws[skipped:]
        count = len(raws)
        gone = max(0, len(self.raws) + count - self.maxlen)  # old lines pushed out
        self.evicted += skipped + gone
        self.sources.extend(sources)
        self.levels.extend(levels)
        self.raws.extend(raws)
        self._texts.extend(repeat(None, count))
        self.first_seq = before + total - len(self.raws)
        if not self.filtered:
            return count, gone
        self._scan_seq = max(self._scan_seq, self.first_seq)
        matches, first = self._matches, self.first_seq
        gone = 0
        while matches and matches[0] < first:
            matches.popleft()
            gone += 1
        return 0, gone

    def set_pattern(self, pattern: re.Pattern[str] | None) -> None:
        """Filter the view by ``pattern`` (``None``: no regex); see :meth:`scan`."""
        self.pattern = pattern
        self._matches = deque()
        self._scan_seq = self.first_seq

    def set_source(self, source: str | None, also: tuple[str, ...] = ()) -> None:
        """Show only the lines of ``source`` and ``also`` (a workload's pods) and of their
        parts (``NAME/...``: a pod's containers) (``None``: of every source); see
        :meth:`scan`."""
        self.only_source = source
        names = (source, *also) if source is not None else ()
        self._names = frozenset(names)
        self._prefixes = tuple(f"{name}/" for name in names)
        self._matches = deque()
        self._scan_seq = self.first_seq

    def set_level(self, level: str | None) -> None:
        """Show only lines of ``level`` or worse (one of ``LEVELS``; ``None``: every
        level); the cockpit's notices stay. See :meth:`scan`."""
        if level is not None and level not in LEVELS:
            raise ValueError(f"not a level: {level!r}")
        self.min_level = level
        self._matches = deque()
        self._scan_seq = self.first_seq

    @property
    def scanning(self) -> bool:
        """Some lines have not been tested against the filter yet."""
        return self.filtered and self._scan_seq < self.next_seq

    @property
    def scan_progress(self) -> float:
        """Share of the buffered lines already tested against the filter."""
        if not self.scanning or not self.raws:
            return 1.0
        return (self._scan_seq - self.first_seq) / len(self.raws)

    def scan(self, deadline: float | None = None, chunk: int = 256) -> int:
        """Test untested lines against the filter until ``deadline`` (``perf_counter``).

        Returns the rows added to the view (always at its end: lines are tested in order).
        """
        if not self.filtered:
            return 0
        text, only, sources = self.text, self.only_source, self.sources
        # a pod's lines are tagged ``pod/container``: the pod's name shows all of them
        names, within = self._names, self._prefixes
        search = self.pattern.search if self.pattern is not None else None
        floor = _RANK[self.min_level] if self.min_level is not None else None
        levels, rank = self.levels, _RANK.get
        added = 0
        while self._scan_seq < self.next_seq:
            end = min(self.next_seq, self._scan_seq + chunk)
            first = self.first_seq
            found = [seq for seq in range(self._scan_seq, end)
                     if (only is None or sources[seq - first] in names
                         or sources[seq - first].startswith(within))
                     and (floor is None or rank(levels[seq - first], -1) >= floor)
                     and (search is None or search(text(seq)))]
            self._matches.extend(found)
            added += len(found)
            self._scan_seq = end
            if deadline is not None and time.perf_counter() > deadline:
                break
        return added

    def seq_at(self, row: int) -> int:
        """The seq of view row ``row`` (0 <= row < visible_count)."""
        if self.filtered:
            return self._matches[row]
        return self.first_seq + row

    def row_of(self, seq: int) -> int | None:
        """The view row showing ``seq``, or None (dropped, or hidden by the filter)."""
        if seq < self.first_seq or seq >= self.next_seq:
            return None
        if not self.filtered:
            return seq - self.first_seq
        row = bisect_left(self._matches, seq)
        return row if row < len(self._matches) and self._matches[row] == seq else None

    def row_at_or_after(self, seq: int) -> int:
        """The first view row whose seq is >= ``seq`` (``visible_count`` if none)."""
        if not self.filtered:
            return min(max(0, seq - self.first_seq), len(self.raws))
        return bisect_left(self._matches, seq)
