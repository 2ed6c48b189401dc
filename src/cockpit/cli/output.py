"""Printing for the CLI: outside text only through the boundary (secrets redacted, escapes
made visible, long lines cut with a mark), colour only on a terminal."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from cockpit.core.boundary import Boundary
from cockpit.core.errors import ConfigError
from cockpit.core.redact import Redactor

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


def paint(text: str, style: str, stream: TextIO | None = None) -> str:
    """``text`` in the colour of ``style`` where ``stream`` (default: the standard output
    at the time of the call, not of the import) is a terminal that takes colour."""
    code = _COLOURS.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code and use_colour(
        sys.stdout if stream is None else stream) else text


_DEFAULT: Boundary | None = None


def boundary(redactor: Redactor | None = None) -> Boundary:
    """The boundary for ``redactor`` (default: one knowing the environment's secrets)."""
    global _DEFAULT
    if redactor is not None:
        return Boundary(redactor)
    if _DEFAULT is None:
        _DEFAULT = Boundary()
    return _DEFAULT


def safe_text(text: str, redactor: Redactor | None = None) -> str:
    """One line of outside text, fit for the terminal: through the boundary."""
    return boundary(redactor).line(text)


def print_json(value: Any, redactor: Redactor | None = None, *, indent: int | None = 2,
               file: TextIO | None = None) -> None:
    """Print ``value`` as JSON once every string in it has passed the boundary."""
    print(json.dumps(boundary(redactor).obj(value), indent=indent),
          file=file or sys.stdout)


def err(message: str) -> None:
    print(f"cockpit: {message}", file=sys.stderr)


def report_problems(exc: ConfigError) -> int:
    """Print a file's ``FILE:LINE: problem`` lines to stderr; the exit status for them."""
    for problem in exc.problems:  # a problem quotes the file's text: through the boundary
        print(safe_text(problem), file=sys.stderr)
    return 2
