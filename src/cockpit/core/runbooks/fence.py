"""Fence info strings: the language and Runme-style annotations.

```` ```bash {name=restart-api danger=dangerous timeout=30s} ```` gives the language
``bash`` and ``{"name": "restart-api", "danger": "dangerous", "timeout": "30s"}``.
Values may be quoted (``name="restart api"``); Runme's JSON form
(``{"name":"x","excludeFromRunAll":true}``) is read as well.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Callable

_ALIASES = {
    "sh": "sh", "bash": "bash", "shell": "shell", "zsh": "zsh", "ksh": "sh",
    "console": "console", "shell-session": "console", "shellsession": "console",
    "sh-session": "console", "terminal": "console",
    "python": "python", "py": "python", "python3": "python",
    "powershell": "powershell", "pwsh": "powershell", "ps1": "powershell", "ps": "powershell",
}  # fmt: skip
_DATA = {"json", "yaml", "yml", "toml", "xml", "ini", "csv", "text", "txt", "plaintext",
         "plain", "output", "log", "diff", "markdown", "md", "html", "properties", "env",
         "dotenv", "jsonc", "json5"}  # fmt: skip
SHELLS = frozenset({"bash", "sh", "shell", "zsh", "console"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KNOWN_KEYS = frozenset({"name", "danger", "timeout", "excludeFromRunAll", "skip", "id",
                        "interactive", "background", "cwd", "closeTerminalOnSuccess",
                        "allow_leading_dash"})  # fmt: skip


def split_info(info: str) -> tuple[str, dict[str, str], str | None]:
    """``(language, annotations, problem)`` of a fence info string; never raises."""
    info = info.strip()
    brace = info.find("{")
    head = info if brace < 0 else info[:brace]
    attrs_text = "" if brace < 0 else info[brace:]
    words = head.split()
    language = normalize_language(words[0]) if words else ""
    if not attrs_text:
        return language, {}, None
    attrs, problem = parse_attributes(attrs_text)
    return language, attrs, problem


def normalize_language(word: str) -> str:
    word = word.strip().lower().lstrip(".")
    return _ALIASES.get(word, word)


def parse_attributes(text: str) -> tuple[dict[str, str], str | None]:
    """``{key=value ...}`` or Runme's JSON object; the problem, if any, as a sentence."""
    text = text.strip()
    if not text.endswith("}"):
        return {}, f"annotation {text!r} is not closed with '}}'"
    inner = text[1:-1].strip()
    if inner.startswith('"'):
        try:
            data = json.loads(text)
        except ValueError as exc:
            return {}, f"annotation {text!r} is not valid JSON: {exc}"
        if not isinstance(data, dict):
            return {}, f"annotation {text!r} is not an object"
        return {str(k): _scalar(v) for k, v in data.items()}, None
    try:
        parts = shlex.split(inner, comments=False, posix=True)
    except ValueError as exc:
        return {}, f"annotation {text!r}: {exc}"
    attrs: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key:
            return attrs, f"annotation {part!r} is not key=value"
        attrs[key] = value
    return attrs, None


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name)) and "/" not in name


def not_runnable_reason(language: str, which: Callable[[str], str | None] = shutil.which) -> str:
    """Why a block of this language cannot run; ``""`` when it can."""
    if language in SHELLS or language == "python":
        return ""
    if language == "powershell":
        return "" if which("pwsh") else "powershell needs pwsh, which is not on PATH"
    if not language:
        return "no language on the fence: only bash, sh, shell, zsh, console and python blocks run"
    if language in _DATA:
        return f"{language} block: data or output, not a command"
    if language == "erlang":
        return "erlang block: expressions for the node's shell (rebar3 shell, remote_console)"
    return f"{language} blocks do not run in the cockpit (only shell, console and python)"
