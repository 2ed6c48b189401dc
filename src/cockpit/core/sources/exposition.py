"""A bounded parser for the Prometheus text exposition format, for one wanted family.

``scan_family`` looks only at lines that start with the family's name (a C-speed string
search for ``"\\n" + family``; every other line is skipped without being looked at),
parses the samples whose name is wanted and whose labels match, keeps at most
``max_series`` of them (the rest are counted as dropped) and gives up at ``deadline``
or when ``stop`` is set. It is meant to run in a worker thread: it never touches an
event loop.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from cockpit.core.boundary import bound, show_controls

#: Suffixes of a family's sample names (counters, histograms, summaries, info).
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info")
#: Candidate lines between two looks at the clock (deadline, stop, yield).
CHECK_EVERY = 256
#: Parsing holds the GIL: every this many seconds of it, the thread lets go for a moment,
#: so that the event loop waits for the GIL a millisecond, not the 5 ms switch interval
#: (much more on a loaded machine, where the holder may be descheduled).
YIELD_EVERY = 0.001
_YIELD_FOR = 0.0001

_SEPARATORS = ("{", " ", "\t")
_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]*")
_PAIR_TEXT = r'[ \t]*[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"[^"\\\n]*"[ \t]*'
#: name, label block (quoted values without backslashes), value, optional timestamp
_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)"
    rf"(?:[ \t]*\{{((?:{_PAIR_TEXT},)*(?:{_PAIR_TEXT})?)\}}[ \t]*|[ \t]+)"
    r"(\S+)(?:[ \t]+-?\d+)?[ \t]*$"
)
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\\n]*)"')
_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*')
_ESCAPES = re.compile(r"\\(.)")
_UNESCAPED = {"n": "\n", "\\": "\\", '"': '"'}


class ParseAbandoned(Exception):
    """The deadline passed (or ``stop`` was set) before the page was read to its end."""


@dataclass(slots=True)
class Sample:
    """One parsed sample of an exposition page."""

    name: str
    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class Scan:
    """What ``scan_family`` found."""

    samples: list[Sample] = field(default_factory=list)  #: wanted and matching, at most the cap
    dropped: int = 0  #: wanted and matching samples past ``max_series``
    present: bool = False  #: any sample of the family (any suffix, any labels) was seen
    parsed: int = 0  #: sample lines parsed (labels and value read)


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _ESCAPES.sub(lambda m: _UNESCAPED.get(m.group(1), "\\" + m.group(1)), value)


def _invalid(line: str) -> ValueError:
    return ValueError(f"invalid line {bound(show_controls(line), 120)!r}")


def parse_line(line: str) -> tuple[str, dict[str, str], float]:
    """``name``, labels and value of one sample line (``ValueError`` if malformed)."""
    match = _SAMPLE.match(line)
    if match is not None:  # no escapes in label values: the common case, one regex
        name, block, value_text = match.groups()
        labels = dict(_PAIR.findall(block)) if block else {}
    else:
        name, labels, value_text = _parse_slowly(line)
    try:
        return name, labels, float(value_text)
    except ValueError:
        raise _invalid(line) from None


def _parse_slowly(line: str) -> tuple[str, dict[str, str], str]:
    """A line with escapes in its label values (or a malformed one)."""
    head = _NAME.match(line)
    if head is None:
        raise _invalid(line)
    name, i, end = head.group(1), head.end(), len(line)
    labels: dict[str, str] = {}
    if i < end and line[i] == "{":
        i += 1
        while (match := _LABEL.match(line, i)) is not None:
            labels[match.group(1)] = _unescape(match.group(2))
            i = match.end()
            if i < end and line[i] == ",":
                i += 1
            else:
                break
        while i < end and line[i] in " \t":
            i += 1
        if i >= end or line[i] != "}":
            raise _invalid(line)
        i += 1
    fields = line[i:].split()
    if not 1 <= len(fields) <= 2:
        raise _invalid(line)
    return name, labels, fields[0]


def family_names(family: str) -> frozenset[str]:
    """The sample names that belong to ``family``: itself and its suffixed names."""
    return frozenset([family, *(family + s for s in SUFFIXES)])


def scan_family(text: str, family: str, names: frozenset[str],
                labels: Mapping[str, str] | None = None, *, ignore: str | None = None,
                max_series: int = 10_000, deadline: float | None = None,
                stop: threading.Event | None = None) -> Scan:
    """The samples of ``text`` named in ``names`` whose labels include ``labels``.

    Only lines starting with ``family`` are looked at; ``names`` are among
    ``family_names(family)``. ``ignore`` is a label key left out of the match (``le``).
    Raises ``ParseAbandoned`` past ``deadline`` (``time.monotonic()``) or once ``stop``
    is set, ``ValueError`` on a malformed sample line of the family.
    """
    scan = Scan()
    if not family:
        return scan
    wanted = {k: v for k, v in (labels or {}).items() if k != ignore}
    # A matching line holds each wanted value, quoted as the format escapes it: lines
    # without one are skipped before they are parsed.
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
              for v in wanted.values()]
    belongs = family_names(family)
    needle = "\n" + family
    size = len(family)
    pos = 0 if text.startswith(family) else text.find(needle)
    if pos > 0:
        pos += 1
    seen = 0
    last_yield = time.monotonic()
    while pos >= 0:
        start = pos
        line_end = text.find("\n", pos)
        if line_end < 0:
            line_end = len(text)
        line = text[pos:line_end]
        pos = text.find(needle, line_end)
        if pos >= 0:
            pos += 1
        seen += 1
        if seen % CHECK_EVERY == 0:
            now = time.monotonic()
            if (deadline is not None and now > deadline) or (stop is not None and stop.is_set()):
                raise ParseAbandoned(f"{seen} lines of {family} read")
            if now - last_yield >= YIELD_EVERY:
                time.sleep(_YIELD_FOR)
                last_yield = time.monotonic()
        if line[size:size + 1] in _SEPARATORS:  # the family's own name: the common case
            name = family
        else:
            head = _NAME.match(line)
            name = head.group(1) if head is not None else ""
        if name not in belongs:
            continue  # another family whose name starts with this one
        scan.present = True
        if name not in names:
            continue
        if not wanted and len(scan.samples) >= max_series:
            # Every further sample of a wanted name matches: count the rest in C.
            scan.dropped += sum(text.count(f"\n{n}{sep}", max(start - 1, 0))
                                for n in names & belongs for sep in "{ \t")
            scan.dropped += start == 0  # the first line has no newline before it
            break
        if quoted and not all(q in line for q in quoted):
            continue
        name, got, value = parse_line(line.rstrip("\r"))
        scan.parsed += 1
        if any(got.get(k) != v for k, v in wanted.items()):
            continue
        if len(scan.samples) >= max_series:
            scan.dropped += 1
        else:
            scan.samples.append(Sample(name, got, value))
    return scan
