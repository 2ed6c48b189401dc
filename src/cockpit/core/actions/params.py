"""Validate action parameters and place them in a command without any shell pasting.

Parameters reach a command in two ways only:
- as environment variables (``param.env_name``), always, for argv and scripts alike;
- inside ``run`` argv elements, where ``{name}`` names a declared param. The element
  stays one argv element whatever the value holds, so ``x; rm -rf /`` is literal text.
Script bodies are never substituted: they read ``$NAME`` from the environment.

A value is refused (``UsageError``, before anything runs or is recorded) when it is longer
than the param's ``max_length``; when it would begin an argv element (or the target)
with ``-``, where the program would read it as an option (``sort {file}`` with
``-o/path`` writes a file), unless the param says ``allow_leading_dash`` or the element
follows a literal ``--``; when it starts with ``-`` and goes to a script or a runbook
step, which may put it anywhere (``find "$DIR"`` with ``-delete`` deletes), unless the
param says ``allow_leading_dash`` (a runbook step: its fence says
``{allow_leading_dash=NAME}``); a negative number starts with ``-`` too; and when its
environment variable is one that changes how programs run (``envnames``): a profile
cannot declare such a param, a runbook's ``$LD_PRELOAD`` can, and is refused here.
Values are quoted in messages only bounded with their controls made visible, and never
when secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cockpit.core.boundary import bound, show_controls
from cockpit.core.config.envnames import reserved_env
from cockpit.core.config.models import Action, Param
from cockpit.core.errors import UsageError

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: How much of a value (or of an unknown param's name) a message quotes.
_SHOWN = 60


def _shown(param: Param, raw: Any) -> str:
    """A value fit for an error message: hidden when secret, else visible and bounded."""
    if param.secret:
        return "***"
    return _quote(raw if isinstance(raw, str) else repr(raw))


def _quote(text: str) -> str:
    return "'" + bound(show_controls(text), _SHOWN) + "'"


def coerce_param(param: Param, raw: Any) -> Any:
    """Turn a raw value (a CLI string, a form field, a YAML default) into the param's type.

    ``ValueError`` with a message for the user; an over-long value is refused before it
    is parsed, matched or quoted.
    """
    kind = param.type
    if isinstance(raw, str) and len(raw) > param.max_length:
        raise ValueError(
            f"{param.name}: the value is {len(raw)} characters long, more than the "
            f"{param.max_length} allowed (max_length)"
        )
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{param.name}: expected true or false, got {_shown(param, raw)}")
    if kind == "int":
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(f"{param.name}: expected a whole number, got {_shown(param, raw)}")
        try:
            value: Any = int(str(raw).strip()) if not isinstance(raw, int | float) else int(raw)
        except ValueError:
            raise ValueError(
                f"{param.name}: expected a whole number, got {_shown(param, raw)}"
            ) from None
    elif kind == "float":
        if isinstance(raw, bool):
            raise ValueError(f"{param.name}: expected a number, got {_shown(param, raw)}")
        try:
            value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            raise ValueError(f"{param.name}: expected a number, got {_shown(param, raw)}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{param.name}: expected a finite number, got {_shown(param, raw)}")
    elif kind == "choice":
        value = str(raw)
        if value not in (param.choices or []):
            raise ValueError(
                f"{param.name}: {_shown(param, value)} is not one of "
                f"{', '.join(param.choices or [])}"
            )
        return value
    else:
        value = str(raw)
        if "\x00" in value:
            raise ValueError(f"{param.name}: NUL bytes are not allowed")
        if param.regex and not re.fullmatch(param.regex, value):
            raise ValueError(f"{param.name}: {_shown(param, value)} does not match /{param.regex}/")
        return value
    if param.min is not None and value < param.min:
        raise ValueError(f"{param.name}: {value} is below the minimum {param.min:g}")
    if param.max is not None and value > param.max:
        raise ValueError(f"{param.name}: {value} is above the maximum {param.max:g}")
    return value


def validate_params(action: Action, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values for every param, defaults filled in; ``UsageError`` listing all problems."""
    declared = {p.name: p for p in action.params}
    problems = [
        f"unknown param {_quote(str(name))} (known: {', '.join(declared) or 'none'})"
        for name in raw
        if name not in declared
    ]
    values: dict[str, Any] = {}
    for param in action.params:
        if param.name in raw:
            source = raw[param.name]
        elif param.default is not None:
            source = param.default
        elif param.is_required:
            problems.append(f"{param.name}: required ({param.type})")
            continue
        else:
            continue
        try:
            values[param.name] = coerce_param(param, source)
        except ValueError as exc:
            problems.append(str(exc))
    problems += placement_problems(action, values)
    if problems:
        raise UsageError(f"action {action.id!r}: " + "; ".join(problems))
    return values


def placement_problems(action: Action, values: Mapping[str, Any]) -> list[str]:
    """Values that would become an option or set an environment variable they must not."""
    problems = []
    leading = action.leading_params()
    for param in action.params:
        if param.name not in values:
            continue
        if reserved_env(param.env_name):
            problems.append(
                f"{param.name}: would set the environment variable {param.env_name}, which "
                f"changes how programs run; a param cannot set it (define {param.env_name} "
                "in the profile's env: or the environment instead)"
            )
        text = param_text(values[param.name])
        if param.name in leading and text.startswith("-") and not param.allow_leading_dash:
            problems.append(_leading_dash(action, param, text))
    return problems


def _leading_dash(action: Action, param: Param, text: str) -> str:
    """Why a value starting with ``-`` is refused here, and how to pass one."""
    shown = f"{param.name}: {_shown(param, text)} starts with '-'"
    number = " (a negative number too)" if param.type in ("int", "float") else ""
    path = "" if number else "write a path as ./-name, or "
    if action.runbook_step:
        return (
            f"{shown}, which the step may hand to a command that reads it as an option; "
            f"{path}the runbook must allow it on the step's fence "
            f"({{allow_leading_dash={param.name}}})"
        )
    if action.script is not None:
        return (
            f"{shown}, which the script may hand to a command that reads it as an "
            f"option{number}; {path}the profile must allow it (allow_leading_dash: true)"
        )
    return (
        f"{shown} where the command would read it as an option{number}; the profile must "
        "allow it (allow_leading_dash: true) or place the argument after '--'"
    )


def param_text(value: Any) -> str:
    """The string form a value takes in argv and env (bools as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute_argv(argv: list[str], values: Mapping[str, Any], declared: set[str]) -> list[str]:
    """Replace ``{name}`` of declared params inside each argv element; each stays one element."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in declared:
            return match.group(0)
        return param_text(values[name]) if name in values else ""

    return [_PLACEHOLDER.sub(replace, element) for element in argv]


def param_env(action: Action, values: Mapping[str, Any]) -> dict[str, str]:
    """Environment variables carrying the param values."""
    return {p.env_name: param_text(values[p.name]) for p in action.params if p.name in values}


def redacted_params(action: Action, values: Mapping[str, Any]) -> dict[str, Any]:
    """Param values fit for the audit trail and the screen: secret ones replaced."""
    secret = {p.name for p in action.params if p.secret}
    return {name: "***" if name in secret else value for name, value in values.items()}


def secret_values(action: Action, values: Mapping[str, Any]) -> list[str]:
    """The values of secret params, for the redactor."""
    return [param_text(values[p.name]) for p in action.params if p.secret and p.name in values]
