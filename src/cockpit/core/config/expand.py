"""``${VAR}`` expansion in profile values.

``${VAR}`` takes the variable from the profile's ``env:`` or the process environment;
``${VAR:-default}`` falls back to a default; ``$${`` is a literal ``${``. An undefined
variable without a default is an error, never an empty string. Action and probe
``script`` bodies are left alone: bash expands them at run time with the profile's
environment exported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExpansionError(ValueError):
    """A ``${...}`` reference that cannot be expanded."""


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start`` (nesting allowed)."""
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ExpansionError(f"unclosed '${{' in {text!r}")


class ExpansionTooLong(ExpansionError):
    """The expanded text would be longer than allowed."""


#: Deepest nesting of defaults (``${A:-${B:-x}}`` is 2).
MAX_NESTING = 16


def expand(text: str, variables: Mapping[str, str], limit: int | None = None,
           *, _depth: int = 0) -> str:
    """Expand every ``${VAR}`` / ``${VAR:-default}`` in ``text`` (defaults may nest).

    ``ExpansionTooLong`` as soon as the result would exceed ``limit`` characters: it is
    never built (``${BIG}`` repeated a million times is refused, not joined).
    """
    if "$" not in text:
        return text
    if _depth > MAX_NESTING:
        raise ExpansionError(f"defaults nested deeper than {MAX_NESTING} levels")
    out: list[str] = []
    size = 0

    def add(piece: str) -> None:
        nonlocal size
        size += len(piece)
        if limit is not None and size > limit:
            raise ExpansionTooLong(f"expands to more than {limit} characters")
        out.append(piece)

    index = 0
    while True:
        found = text.find("$", index)
        if found < 0:
            add(text[index:])
            return "".join(out)
        add(text[index:found])
        if text.startswith("$${", found):
            add("${")
            index = found + 3
            continue
        if not text.startswith("${", found):
            add("$")
            index = found + 1
            continue
        end = _closing_brace(text, found + 2)
        body = text[found + 2 : end]
        name, sep, default = body.partition(":-")
        if not _NAME.match(name):
            raise ExpansionError(f"invalid variable reference ${{{body}}}")
        if name in variables:
            add(variables[name])
        elif sep:
            room = None if limit is None else limit - size
            add(expand(default, variables, room, _depth=_depth + 1))
        else:
            raise ExpansionError(
                f"undefined variable ${{{name}}} (set it in the environment or env:)"
            )
        index = end + 1


def parse_env_file(text: str) -> dict[str, str]:
    """Parse dotenv lines: ``KEY=value``, ``export KEY=value``, quotes, ``#`` comments."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.match(key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        result[key] = value
    return result
