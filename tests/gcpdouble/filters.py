"""The subset of the Logging / Monitoring filter language the cockpit writes.

``AND`` / ``OR`` / ``NOT`` (and juxtaposition as AND), parentheses, comparisons
``field OP value`` with ``= != > >= < <= :``; values quoted or bare. ``severity`` compares
by rank, ``timestamp`` as time. Anything else is a 400 saying what was not understood.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.gcpdouble.errors import invalid
from tests.gcpdouble.timefmt import parse_rfc3339

SEVERITIES = {"DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400, "ERROR": 500,
              "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800}
_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>>=|<=|!=|=~|!~|=|>|<|:)'
                    r'|(?P<word>[^\s()=<>!:"]+))')
Predicate = Callable[[dict[str, Any]], bool]


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise invalid(f"Unparseable filter near {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if kind == "op" and pos < len(text) and text[pos] not in '"(':
            bare = re.compile(r"[^\s()]+").match(text, pos)
            if bare:  # a bare value may hold ':' (times) or '=': up to a space or paren
                out.append(("word", bare.group(0)))
                pos = bare.end()
                while pos < len(text) and text[pos].isspace():
                    pos += 1
    return out


class _Parser:
    def __init__(self, text: str, resolve: Callable[[dict[str, Any], str], Any]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.resolve = resolve
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise invalid(f"Unexpected end of filter: {self.text!r}")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda _: True
        pred = self.expr()
        if self.peek() is not None:
            raise invalid(f"Unexpected {self.peek()[1]!r} in filter {self.text!r}")  # type: ignore[index]
        return pred

    def expr(self) -> Predicate:
        parts = [self.conj()]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def conj(self) -> Predicate:
        parts = [self.neg()]
        while True:
            tok = self.peek()
            if tok is None or tok[0] == "rp" or tok == ("word", "OR"):
                break
            if tok == ("word", "AND"):
                self.take()
            parts.append(self.neg())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def neg(self) -> Predicate:
        if self.peek() == ("word", "NOT"):
            self.take()
            inner = self.neg()
            return lambda e: not inner(e)
        return self.primary()

    def primary(self) -> Predicate:
        kind, value = self.take()
        if kind == "lp":
            inner = self.expr()
            if self.take()[0] != "rp":
                raise invalid(f"Missing ')' in filter {self.text!r}")
            return inner
        if kind != "word":
            raise invalid(f"Expected a field name, got {value!r} in filter {self.text!r}")
        field = value
        if self.peek() is None or self.peek()[0] != "op":  # type: ignore[index]
            raise invalid(f"The gcp double supports 'field OP value' terms only, not {field!r}")
        op = self.take()[1]
        vkind, operand = self.take()
        if vkind not in ("str", "word"):
            raise invalid(f"Expected a value after {field}{op} in filter {self.text!r}")
        return _compare(field, op, operand, self.resolve)


def _compare(field: str, op: str, operand: str, resolve: Callable[[dict[str, Any], str], Any]) -> Predicate:
    if field == "severity":
        want = SEVERITIES.get(operand.upper())
        if want is None:
            try:
                want = int(operand)
            except ValueError:
                raise invalid(f"Unknown severity {operand!r}") from None
        key: Callable[[Any], Any] = lambda v: SEVERITIES.get(str(v).upper(), 0)  # noqa: E731
        target: Any = want
    elif field in ("timestamp", "receiveTimestamp"):
        try:
            target = parse_rfc3339(operand)
        except ValueError:
            raise invalid(f"Invalid timestamp {operand!r} in filter") from None
        key = lambda v: parse_rfc3339(v) if isinstance(v, str) else v  # noqa: E731
    else:
        target, key = operand, (lambda v: v if isinstance(v, str) else str(v))

    def pred(entry: dict[str, Any]) -> bool:
        raw = resolve(entry, field)
        if raw is None:
            return op in ("!=", "!~")
        value = key(raw)
        if op == "=":
            return value == target
        if op == "!=":
            return value != target
        if op == ":":
            return str(target).lower() in str(value).lower()
        if op == "=~":
            return re.search(str(target), str(value)) is not None
        if op == "!~":
            return re.search(str(target), str(value)) is None
        if op == ">":
            return value > target
        if op == ">=":
            return value >= target
        if op == "<":
            return value < target
        if op == "<=":
            return value <= target
        raise invalid(f"Unsupported operator {op!r}")

    return pred


def dotted(entry: dict[str, Any], field: str) -> Any:
    """``a.b.c`` into nested dicts (``labels`` also spelled ``label``); None when absent."""
    cur: Any = entry
    for part in field.split("."):
        if not isinstance(cur, dict):
            return None
        if part not in cur and part == "label":
            part = "labels"
        cur = cur.get(part)
    return cur


def compile_filter(text: str | None, resolve: Callable[[dict[str, Any], str], Any] = dotted) -> Predicate:
    """A predicate over entries (or time series) for ``text`` (empty: everything)."""
    return _Parser(text or "", resolve).parse()
