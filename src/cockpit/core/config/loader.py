"""Load a profile file: YAML with line numbers, ``${VAR}`` expansion, strict validation.

Every problem is reported as ``FILE:LINE: what is wrong`` through ``ConfigError``;
no traceback ever reaches the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_state_path
from pydantic import ValidationError

from cockpit.core.backends.registry import backend_kinds, load_backend_class
from cockpit.core.config.expand import ExpansionError, expand, parse_env_file
from cockpit.core.config.models import FileLogSource, Profile
from cockpit.core.errors import CockpitError, ConfigError

Path_ = tuple[str | int, ...]
#: LibYAML's parser when PyYAML has it: ~10x faster than the pure-Python one (~20 ms
#: of start-up for the demo profile); same nodes, marks and values.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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

    @property
    def name(self) -> str:
        return self.profile.name


class _LineMap:
    """Maps a path of keys/indexes inside the YAML document to its 1-based line."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}

    def line_of(self, path: Path_, data: Any) -> int:
        """Line of the deepest part of ``path`` that exists in ``data``."""
        best: Path_ = ()
        current: Any = data
        walked: list[str | int] = []
        for part in path:
            if (isinstance(current, Mapping) and part in current) or (
                isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
            ):
                current = current[part]
            else:
                continue
            walked.append(part)
            if tuple(walked) in self.lines:
                best = tuple(walked)
        return self.lines.get(best, 1)


def _walk(node: yaml.Node, path: Path_, lines: _LineMap, problems: list[str], file: str) -> None:
    lines.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(f"{file}:{line}: duplicate key {key!r} (first at line {seen[key]})")
            seen[key] = line
            lines.lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, problems, file)


def _parse_yaml(text: str, file: str) -> tuple[Any, _LineMap]:
    lines = _LineMap()
    problems: list[str] = []
    try:
        loader = _SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError([f"{file}:1: the file is empty"])
            _walk(node, (), lines, problems, file)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError([f"{file}:{line}: invalid YAML: {what}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{file}:1: invalid YAML: {exc}"]) from None
    if problems:
        raise ConfigError(problems)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{file}:1: a profile must be a mapping of keys, not {type(data).__name__}"]
        )
    return data, lines


def _expand_tree(
    value: Any, variables: Mapping[str, str], path: Path_, errors: list[tuple[Path_, str]]
) -> Any:
    if isinstance(value, str):
        try:
            return expand(value, variables)
        except ExpansionError as exc:
            errors.append((path, str(exc)))
            return value
    if isinstance(value, dict):
        return {
            key: item if key in _SHELL_KEYS else _expand_tree(item, variables, (*path, key), errors)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_expand_tree(item, variables, (*path, i), errors) for i, item in enumerate(value)]
    return value


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


def _validation_problems(exc: ValidationError, data: Any, lines: _LineMap, file: str) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        where = _format_loc(loc, data)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
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
        line = lines.line_of(loc, data)
        problems.append(f"{file}:{line}: {where + ': ' if where else ''}{message}")
    return problems


def _resolve(workdir: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else workdir / path)


def load_profile(path: str | Path, *, environ: Mapping[str, str] | None = None) -> LoadedProfile:
    """Read, expand and validate the profile at ``path``; raise ``ConfigError`` on any problem."""
    path = Path(path)
    file = str(path)
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}:1: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}:1: cannot read: {exc}"]) from None
    data, lines = _parse_yaml(text, file)

    errors: list[tuple[Path_, str]] = []
    variables: dict[str, str] = dict(environ)
    variables.setdefault("COCKPIT_PYTHON", sys.executable)
    variables.setdefault("COCKPIT_STATE_DIR", str(user_state_path("cockpit")))
    own_env: dict[str, str] = {}

    raw_workdir = data.get("workdir")
    workdir = path.resolve().parent
    if isinstance(raw_workdir, str):
        expanded = _expand_tree(raw_workdir, variables, ("workdir",), errors)
        workdir = Path(_resolve(workdir, expanded))

    env_files = data.get("env_file") or []
    for index, env_file in enumerate([env_files] if isinstance(env_files, str) else env_files):
        if not isinstance(env_file, str):
            continue
        optional = env_file.startswith("-")  # systemd's EnvironmentFile=- convention
        env_path = Path(_resolve(workdir, env_file.removeprefix("-")))
        try:
            loaded = parse_env_file(env_path.read_text(encoding="utf-8"))
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
        except OSError as exc:
            loc = ("env_file", index) if not isinstance(env_files, str) else ("env_file",)
            errors.append((loc, f"cannot read env_file {str(env_path)!r}: {exc.strerror}"))
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
                expanded = _expand_tree(text_value, variables, ("env", key), errors)
                own_env[str(key)] = expanded
                variables[str(key)] = expanded
                raw_env[key] = expanded

    data = {
        key: value if key == "env" else _expand_tree(value, variables, (key,), errors)
        for key, value in data.items()
    }
    problems = [f"{file}:{lines.line_of(loc, data)}: {msg}" for loc, msg in errors]
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        # Report every problem at once; skip validation noise on lines whose
        # ${VAR} could not be expanded (already reported).
        bad_lines = {p[len(file) + 1 :].split(":", 1)[0] for p in problems}
        problems += [p for p in _validation_problems(exc, data, lines, file)
                     if p[len(file) + 1 :].split(":", 1)[0] not in bad_lines]
        problems.sort(key=lambda p: int(p[len(file) + 1 :].split(":", 1)[0]))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)

    kinds = backend_kinds()
    if profile.backend.kind not in kinds:
        line = lines.line_of(("backend", "kind"), data)
        raise ConfigError(
            [
                f"{file}:{line}: backend.kind: unknown backend kind "
                f"{profile.backend.kind!r} (known: {', '.join(kinds)})"
            ]
        )

    try:  # the backend's built-in actions and default targets (its SDK is not imported)
        backend_class = load_backend_class(profile.backend.kind)
    except CockpitError:
        backend_class = None  # reported when the backend is opened
    if backend_class is not None:
        fitted = backend_class.complete_profile(profile)
        if fitted:
            raise ConfigError(sorted(
                (f"{file}:{lines.line_of(loc, data)}: {msg}" for loc, msg in fitted),
                key=lambda p: int(p[len(file) + 1 :].split(":", 1)[0]),
            ))

    for source in profile.logs:
        if isinstance(source, FileLogSource):
            source.path = _resolve(workdir, source.path)
    if profile.audit is not None:
        profile.audit.path = _resolve(workdir, profile.audit.path)
    for action in profile.actions:
        action.cwd = _resolve(workdir, action.cwd) if action.cwd else str(workdir)
    return LoadedProfile(profile=profile, path=path, workdir=workdir, env=own_env)
