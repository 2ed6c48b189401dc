"""Failure injection: answer a path with 403 (or any Status), drop or expire watches."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class Rule:
    """One injected failure: requests matching ``method`` and ``path`` get it."""

    kind: str  # "status" | "drop" | "gone"
    path: re.Pattern[str]
    method: str | None = None
    times: int | None = None  # None = forever
    code: int = 403
    reason: str = "Forbidden"
    message: str | None = None  # None = the RBAC message built from the path
    user: str = "u"
    after: int = 0  # drop: events sent before the watch ends


@dataclass
class Faults:
    """The injected failures of one double (set from any thread, read on the double's loop)."""

    rules: list[Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        with self.lock:
            if rule in self.rules:
                self.rules.remove(rule)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> Rule | None:
        """The first rule of ``kinds`` matching the request (consuming one of its ``times``)."""
        with self.lock:
            for rule in self.rules:
                if rule.kind not in kinds:
                    continue
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if not rule.path.search(path):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None


def path_pattern(path: str | re.Pattern[str]) -> re.Pattern[str]:
    """A literal path matches exactly (query ignored); a compiled pattern searches."""
    if isinstance(path, re.Pattern):
        return path
    return re.compile("^" + re.escape(path.rstrip("/")) + "/?$")
