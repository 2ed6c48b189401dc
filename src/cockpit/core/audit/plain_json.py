"""Read the candidate lines of an incident query as orjson reads them, without importing
orjson for the plainest lines (~15 ms of the query's start: it imports dataclasses,
inspect, uuid and datetime).

A line is *plain* when it is UTF-8 without a backslash or a control character (no
escape: every string is the bytes between a pair of quotes), its quotes pair up, and
what lies outside its strings is JSON structure, spaces, ``true``/``false``/``null``,
integers of at most 18 digits (orjson reads bigger ones as floats) other than ``-0``,
and decimals without an exponent of at most 15 digits (exact in any float parser).
For a plain line the standard library's parser gives what orjson gives: the same keys
in the same order (a repeated key keeps its last value), the same values of the same
types. Any other line, or one the standard parser refuses or reads as no object, is
read by orjson itself, imported then.
"""

from __future__ import annotations

import json

from cockpit.core.lazy import LazyModule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import orjson
else:
    orjson = LazyModule("orjson", globals())

#: The bytes a plain line may hold (checked as UTF-8 when decoded).
_ALLOWED = bytes(b for b in range(0x20, 0x100) if b not in (0x5C, 0x7F))
#: JSON structure outside strings, read as spaces between tokens.
_STRUCTURE_TO_SPACE = bytes.maketrans(b"{}[]:,", b"      ")
_WORDS = frozenset((b"true", b"false", b"null"))
_MAX_OPEN = 64  #: brackets a plain line opens at most (orjson refuses past 1024 deep)

_decode = json.JSONDecoder().decode


def loads(line: bytes) -> Any:
    """``orjson.loads(line)``: the same value, or the same ``orjson.JSONDecodeError``."""
    data = _plain(line)
    return orjson.loads(line) if data is None else data


def _plain(line: bytes) -> dict[str, Any] | None:
    """The object a plain ``line`` holds; None if the line is not plain (or holds no
    object, or is not JSON)."""
    if line.translate(None, _ALLOWED):
        return None
    pieces = line.split(b'"')
    if not len(pieces) & 1:
        return None
    outside = b" ".join(pieces[0::2])
    if outside.count(b"{") + outside.count(b"[") > _MAX_OPEN:
        return None
    for token in outside.translate(_STRUCTURE_TO_SPACE).split(b" "):
        if token and token not in _WORDS and not _plain_number(token):
            return None
    try:
        data = _decode(line.decode("utf-8"))
    except ValueError:  # (UnicodeDecodeError too)
        return None
    return data if data.__class__ is dict else None


def _plain_number(token: bytes) -> bool:
    body = token[1:] if token[:1] == b"-" else token
    whole, dot, fraction = body.partition(b".")
    if not whole.isdigit() or (len(whole) > 1 and whole[:1] == b"0"):
        return False
    if dot:
        return fraction.isdigit() and len(whole) + len(fraction) <= 15
    return len(whole) <= 18 and token != b"-0"
