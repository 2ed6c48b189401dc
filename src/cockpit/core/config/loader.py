"""Load a profile file: YAML with line numbers, ``${VAR}`` expansion, strict validation.

Every problem is reported as ``FILE:LINE: what is wrong`` through ``ConfigError``;
no traceback ever reaches the user.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_state_path
from pydantic import ValidationError

from cockpit.core.backends.registry import backend_kinds, is_backend_kind, load_backend_class
from cockpit.core.boundary import bound, show_controls
from cockpit.core.config import document
from cockpit.core.config.document import (
    LineMap,
    Path_,
    UnreadableText,
    parse_yaml,
    read_text,
)
from cockpit.core.config.expand import (
    ExpansionError,
    ExpansionTooLong,
    expand,
    parse_env_file,
)
from cockpit.core.config.models import FileLogSource, LocatedError, Profile
from cockpit.core.errors import CockpitError, ConfigError

#: longest message quoting the profile's own text.
_MESSAGE_LIMIT = 400
#: most characters ``${VAR}`` expansion may add to a profile.
MAX_EXPANDED_CHARS = 16 * 1024 * 1024
#: keys whose string values are bash, expanded by bash at run time, not by the loader.
_SHELL_KEYS = {"script"}


@dataclass
class LoadedProfile:
    """A validated profile with what it was loaded from."""

    profile: Profile
    path: Path
    workdir: Path
    #: the profile's own variables (env_file + env), exported to every command it runs.
    env: dict[str, str] = field(default_factory=dict)
    #: whether the profile says ``workdir:`` (else ``workdir`` is the profile's folder)
    workdir_set: bool = False

    @property
    def name(self) -> str:
        return self.profile.name


class _Expander:
    """``${VAR}`` expansion over the profile's values (``script`` bodies left alone).

    Expansion may add at most ``MAX_EXPANDED_CHARS`` characters to the whole profile:
    ``${BIG}`` written a million times, or env values doubling each other, are refused
    at the first value that crosses it (reported once), not built.
    """

    def __init__(self, variables: Mapping[str, str], errors: list[tuple[Path_, str]],
                 with_dollar: set[int] | None = None) -> None:
        self.variables = variables
        self.errors = errors
        #: ids of the lists and mappings holding a '$'; None: visit them all
        self.with_dollar = with_dollar
        self.room = MAX_EXPANDED_CHARS

    def tree(self, value: Any, path: Path_) -> Any:
        """``value`` with its strings expanded; untouched lists and mappings as they are."""
        if isinstance(value, str):
            return self.text(value, path)
        if self.with_dollar is not None and id(value) not in self.with_dollar:
            return value
        if isinstance(value, dict):
            return {
                key: item if key in _SHELL_KEYS else self.tree(item, (*path, key))
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.tree(item, (*path, i)) for i, item in enumerate(value)]
        return value

    def text(self, value: str, path: Path_) -> str:
        if "$" not in value or self.room < 0:
            return value
        try:
            result = expand(value, self.variables, len(value) + self.room)
        except ExpansionTooLong:
            self.errors.append((
                path,
                f"${{VAR}} expansion makes the profile more than {MAX_EXPANDED_CHARS} "
                "characters longer",
            ))
            self.room = -1
            return value
        except ExpansionError as exc:
            self.errors.append((path, str(exc)))
            return value
        self.room -= max(0, len(result) - len(value))
        return result


def _format_loc(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    current: Any = data
    for part in loc:
        if (isinstance(current, Mapping) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
        else:
            continue  # pydantic's union tags ("http", "function-after[...]")
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".")


def _shown(message: str) -> str:
    """A message that may quote the profile's text: controls visible, length bounded."""
    return bound(show_controls(message), _MESSAGE_LIMIT)


def _validation_problems(exc: ValidationError, data: Any, lines: LineMap, file: str, *,
                         prefix: tuple[str | int, ...] = (), noun: str = "key",
                         known: list[str] | None = None) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = (*prefix, *error["loc"])
        located = error.get("ctx", {}).get("error")
        if isinstance(located, LocatedError):  # problems at paths below ``loc``
            for sub, message, first in located.items:
                at = (*loc, *sub)
                where = _format_loc(at, data)
                also = f" (first at line {lines.line_of((*loc, *first))})" if first else ""
                problems.append(
                    f"{file}:{lines.line_of(at)}: {where + ': ' if where else ''}"
                    f"{_shown(message)}{also}"
                )
            continue
        where = _format_loc(loc, data)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown {noun} {loc[-1]!r}" + (
                f" (known: {', '.join(known)})" if known else "")
            where = _format_loc(loc[:-1], data)
        elif error["type"] == "union_tag_invalid":
            ctx = error.get("ctx", {})
            message = (
                f"unknown kind {ctx.get('tag')!r} (expected one of {ctx.get('expected_tags')})"
            )
            loc = (*loc, "kind")
        elif error["type"] == "union_tag_not_found":
            message = "missing 'kind'"
        message = message.removeprefix("Value error, ")
        line = lines.line_of(loc)
        problems.append(f"{file}:{line}: {_shown(where + ': ' if where else '')}{_shown(message)}")
    return problems


def _capped(problems: list[str], file: str) -> list[str]:
    """The first ``MAX_PROBLEMS`` problems and a line saying how many more there are."""
    if len(problems) <= document.MAX_PROBLEMS:
        return problems
    more = len(problems) - document.MAX_PROBLEMS
    last = problems[document.MAX_PROBLEMS][len(file) + 1 :].split(":", 1)[0]
    return [*problems[: document.MAX_PROBLEMS], f"{file}:{last}: and {more} more problems"]


def _resolve(workdir: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else workdir / path)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a profile's many objects are built.

    Every container the YAML parser and pydantic create would count towards the next
    collection, and each full one walks them all again: 80,000 actions took 7x longer.
    Nothing built here is cyclic garbage, and the file's size is bounded.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_profile(path: str | Path, *, environ: Mapping[str, str] | None = None) -> LoadedProfile:
    """Read, expand and validate the profile at ``path``; raise ``ConfigError`` on any problem."""
    with _gc_paused():
        return _load(Path(path), os.environ if environ is None else environ)


def _load(path: Path, environ: Mapping[str, str]) -> LoadedProfile:
    file = str(path)
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise ConfigError([f"{file}:1: no such file"]) from None
    except UnreadableText as exc:
        raise ConfigError([f"{file}:{exc.line}: {exc.message}"]) from None
    data, lines, with_dollar = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{file}:1: a profile must be a mapping of keys, not {type(data).__name__}"]
        )

    errors: list[tuple[Path_, str]] = []
    variables: dict[str, str] = dict(environ)
    variables.setdefault("COCKPIT_PYTHON", sys.executable)
    variables.setdefault("COCKPIT_STATE_DIR", str(user_state_path("cockpit")))
    own_env: dict[str, str] = {}
    expander = _Expander(variables, errors, with_dollar)

    raw_workdir = data.get("workdir")
    workdir = path.resolve().parent
    if isinstance(raw_workdir, str):
        expanded = expander.text(raw_workdir, ("workdir",))
        workdir = Path(_resolve(workdir, expanded))

    env_files = data.get("env_file") or []
    env_room = document.MAX_FILE_BYTES  # env files together
    for index, env_file in enumerate([env_files] if isinstance(env_files, str) else env_files):
        if not isinstance(env_file, str):
            continue
        optional = env_file.startswith("-")  # systemd's EnvironmentFile=- convention
        env_path = Path(_resolve(workdir, env_file.removeprefix("-")))
        try:
            text = read_text(env_path, limit=max(env_room, 0))
            env_room -= len(text)
            loaded = parse_env_file(text)
        except FileNotFoundError:
            if optional:
                continue
            loc = ("env_file", index) if not isinstance(env_files, str) else ("env_file",)
            errors.append(
                (
                    loc,
                    f"env_file {str(env_path)!r} does not exist "
                    f"(prefix it with '-' to make it optional)",
                )
            )
            continue
        except UnreadableText as exc:
            env_room = 0 if exc.too_large else env_room
            loc = ("env_file", index) if not isinstance(env_files, str) else ("env_file",)
            where = f" (line {exc.line})" if exc.line > 1 else ""
            errors.append((loc, f"env_file {str(env_path)!r}{where}: {exc.message}"))
            continue
        own_env.update(loaded)
        variables.update(loaded)

    raw_env = data.get("env") or {}
    if isinstance(raw_env, dict):
        for key, value in raw_env.items():
            if isinstance(value, str | int | float | bool):
                text_value = (
                    value
                    if isinstance(value, str)
                    else str(value).lower()
                    if isinstance(value, bool)
                    else str(value)
                )
                expanded = expander.text(text_value, ("env", key))
                own_env[str(key)] = expanded
                variables[str(key)] = expanded
                raw_env[key] = expanded

    data = {
        key: value if key == "env" else expander.tree(value, (key,))
        for key, value in data.items()
    }
    problems = [f"{file}:{lines.line_of(loc)}: {_shown(msg)}" for loc, msg in errors]
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        # Report every problem at once; skip validation noise on lines whose
        # ${VAR} could not be expanded (already reported).
        bad_lines = {p[len(file) + 1 :].split(":", 1)[0] for p in problems}
        problems += [p for p in _validation_problems(exc, data, lines, file)
                     if p[len(file) + 1 :].split(":", 1)[0] not in bad_lines]
        problems.sort(key=lambda p: int(p[len(file) + 1 :].split(":", 1)[0]))
        raise ConfigError(_capped(problems, file)) from None
    if problems:
        raise ConfigError(_capped(problems, file))

    if not is_backend_kind(profile.backend.kind):
        line = lines.line_of(("backend", "kind"))
        raise ConfigError(
            [
                f"{file}:{line}: backend.kind: unknown backend kind "
                f"{profile.backend.kind!r} (known: {', '.join(backend_kinds())})"
            ]
        )

    try:  # the backend's built-in actions and default targets (its SDK is not imported)
        backend_class = load_backend_class(profile.backend.kind)
    except CockpitError:
        backend_class = None  # reported when the backend is opened
    if backend_class is not None:
        try:  # the backend's own options model: unknown keys and bad values, with lines
            backend_class.options_model.model_validate(
                {"kind": profile.backend.kind, **profile.backend.options})
        except ValidationError as exc:
            found = _validation_problems(exc, {"backend": data.get("backend")}, lines, file,
                                         prefix=("backend",),
                                         noun=f"{profile.backend.kind} backend option",
                                         known=sorted(backend_class.options_model.model_fields))
            raise ConfigError(sorted(
                found, key=lambda p: int(p[len(file) + 1 :].split(":", 1)[0]))) from None
        fitted = backend_class.complete_profile(profile)
        if fitted:
            raise ConfigError(sorted(
                (f"{file}:{lines.line_of(loc)}: {msg}" for loc, msg in fitted),
                key=lambda p: int(p[len(file) + 1 :].split(":", 1)[0]),
            ))

    for source in profile.logs:
        if isinstance(source, FileLogSource):
            source.path = _resolve(workdir, source.path)
    if profile.audit is not None:
        profile.audit.path = _resolve(workdir, profile.audit.path)
    default_cwd = str(workdir)
    for action in profile.actions:
        action.cwd = _resolve(workdir, action.cwd) if action.cwd else default_cwd
    return LoadedProfile(profile=profile, path=path, workdir=workdir, env=own_env,
                         workdir_set=isinstance(raw_workdir, str))
