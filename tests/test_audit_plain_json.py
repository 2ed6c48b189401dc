"""``plain_json.loads`` reads every line as ``orjson.loads`` does (the same value with
the same types and key order, or the same error), and imports orjson only for a line
that is not plain: checked on random lines made to sit on each rule's edge."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import orjson

from cockpit.core.audit import plain_json

_STRINGS = ['"a"', '"trace_id"', '"zoë 日本"', '""', '"x y"', '"1e5"', '"\\u0041"', '"a\\"b"',
            '"\\ud800"', '"tab\there"', '"\x7f"', '"null"', '"-0"']
_NUMBERS = ["0", "-0", "7", "-12", "0.5", "-0.0", "1.50", "01", "1.", ".5", "+1", "1e5",
            "1E-3", "2.5e300", "1e400", "-1e-400", "NaN", "Infinity", "-Infinity",
            "123456789012345678", "-123456789012345678", "1234567890123456789",
            "18446744073709551615", "18446744073709551616", "-9223372036854775809",
            "0.123456789012345", "1.23456789012345", "12345678901234.56",
            "0.1234567890123456", "9007199254740993.0", "1.7976931348623157"]
_WORDS = ["true", "false", "null", "True", "nul"]
_SPACES = ["", " ", "  ", "\t", "\r", "\u00a0"]


def _value(rnd: random.Random, depth: int) -> str:
    roll = rnd.random()
    if depth < 4 and roll < 0.15:
        return "[" + ",".join(_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
    if depth < 4 and roll < 0.3:
        return _object(rnd, depth + 1)
    pool = rnd.choice((_STRINGS, _NUMBERS, _NUMBERS, _WORDS))
    return rnd.choice(pool)


def _object(rnd: random.Random, depth: int) -> str:
    keys = [rnd.choice(('"a"', '"b"', '"trace_id"', '"é"')) for _ in range(rnd.randint(0, 5))]
    sp = rnd.choice(_SPACES) if rnd.random() < 0.2 else ""
    return "{" + sp + ",".join(f"{k}{sp}:{sp}{_value(rnd, depth)}" for k in keys) + sp + "}"


def _line(rnd: random.Random) -> bytes:
    text = _object(rnd, 0) if rnd.random() < 0.9 else _value(rnd, 3)
    data = text.encode()
    roll = rnd.random()
    if roll < 0.05:
        data = data[: rnd.randint(0, len(data))]  # truncated
    elif roll < 0.08:
        data = data.replace(b"\xc3\xa9", b"\xe9")  # not UTF-8
    elif roll < 0.1:
        data = b"\xef\xbb\xbf" + data  # a byte-order mark
    return data


def _same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down, and the same key order."""
    if a.__class__ is not b.__class__:
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and a == 0.0:
        return str(a) == str(b)  # -0.0 is not 0.0
    return a == b


def _read(loads: Any, line: bytes) -> tuple[str, Any]:
    try:
        return "value", loads(line)
    except orjson.JSONDecodeError as exc:
        return "error", str(exc)


def test_every_line_reads_as_orjson_reads_it() -> None:
    rnd = random.Random(20261205)
    plain = 0
    for _ in range(20_000):
        line = _line(rnd)
        want = _read(orjson.loads, line)
        got = _read(plain_json.loads, line)
        assert got[0] == want[0] and (got[0] == "error" or _same(got[1], want[1])), line
        plain += plain_json._plain(line) is not None
    assert plain > 2_000  # (the standard library's path is taken, not only orjson's)
    for depth in (60, 70, 800, 1100, 5000):  # (the standard parser recurses in C)
        line = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
        want, got = _read(orjson.loads, line), _read(plain_json.loads, line)
        assert got[0] == want[0] and (got[0] == "error" or got[1] == want[1]), depth


def test_each_rule_keeps_its_line_from_the_standard_library() -> None:
    for line in (b'{"n": 18446744073709551616}', b'{"n": -0}', b'{"n": 1e400}',
                 b'{"n": 0.1234567890123456}', b'{"n": NaN}', b'{"s": "\\u0041"}',
                 b'{"s": "a\tb"}', b'{"a": 1, "b": 2} x', b"[1, 2]", b'{"s": "\xe9"}',
                 b'{"a": ' + b"[" * 64 + b"]" * 64 + b"}"):
        assert plain_json._plain(line) is None, line
    assert plain_json._plain(b'{"n": 123456789012345678, "f": -0.5, "s": "zo\xc3\xab"}') == {
        "n": 123456789012345678, "f": -0.5, "s": "zoë"}


def test_plain_lines_never_import_orjson() -> None:
    program = """
import sys
from cockpit.core.audit import plain_json
plain = plain_json.loads(b'{"trace_id": "121f", "n": 3, "ok": true, "x": [1.5, null]}')
before = "orjson" in sys.modules
escaped = plain_json.loads(b'{"trace_id": "\\\\u0031"}')
print(before, "orjson" in sys.modules, plain["n"], escaped["trace_id"])
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.split() == ["False", "True", "3", "1"]
