"""Printing for the CLI: redacted, escapes made inert, colour only on a terminal."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from cockpit.core.errors import ConfigError
from cockpit.core.redact import Redactor, default_redactor, strip_escapes

_COLOURS = {
    "ok": "32",
    "warn": "33",
    "crit": "31",
    "fail": "31",
    "unknown": "90",
    "dim": "2",
    "bold": "1",
}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paint(text: str, style: str, stream: TextIO = sys.stdout) -> str:
    code = _COLOURS.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code and use_colour(stream) else text


def safe_text(text: str, redactor: Redactor | None = None) -> str:
    """Text from a command or a log, fit for the terminal: secrets and escapes removed."""
    return strip_escapes((redactor or default_redactor()).redact(text))


def err(message: str) -> None:
    print(f"cockpit: {message}", file=sys.stderr)


def report_problems(exc: ConfigError) -> int:
    """Print a file's ``FILE:LINE: problem`` lines to stderr; the exit status for them."""
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    return 2
