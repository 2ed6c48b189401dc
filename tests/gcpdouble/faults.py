"""Fault injection: requests matching a method and a path regex get an error, ``times`` times."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from tests.gcpdouble.errors import ApiError

INJECTABLE = (400, 403, 404, 409, 429, 503)


@dataclass
class Fault:
    """One injected error for ``method`` (None: any) on paths that ``path`` searches."""

    method: str | None
    path: re.Pattern[str]
    code: int
    message: str | None = None
    status: str | None = None
    times: int | None = 1  # None: forever
    hits: int = 0


@dataclass
class Faults:
    """The injected errors of one double (set from any thread, consumed by request threads)."""

    rules: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> Fault:
        if fault.code not in INJECTABLE:
            raise ValueError(f"inject one of {INJECTABLE}, not {fault.code}")
        with self.lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def take(self, method: str, path: str) -> ApiError | None:
        """The error for this request, if a rule matches (consuming one of its ``times``)."""
        with self.lock:
            for rule in self.rules:
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if not rule.path.search(path):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return ApiError(rule.code, rule.message, rule.status)
        return None
