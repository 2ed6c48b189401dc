"""Themes as YAML files: the built-in ones in ``themes/`` and the user's own.

A theme file holds the fields of ``textual.theme.Theme`` (name, dark, primary, secondary,
accent, foreground, background, surface, panel, success, warning, error, variables).
User themes live in ``$XDG_CONFIG_HOME/cockpit/themes/`` and win over built-in ones.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from platformdirs import user_config_path
from textual.theme import Theme

DEFAULT_THEME = "cockpit-dark"
#: libyaml's safe loader where PyYAML has it (a few ms less at every start)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FIELDS = {
    "name",
    "dark",
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
    "luminosity_spread",
    "text_alpha",
    "variables",
}


def theme_dirs() -> list[Path]:
    """Built-in themes, then the user's (later ones override earlier ones)."""
    return [Path(__file__).resolve().parent / "themes", user_config_path("cockpit") / "themes"]


def load_theme_file(path: Path) -> Theme:
    """Read one theme file; ``ValueError`` naming the file when it is wrong."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}:1: a theme must be a mapping")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"{path}:1: unknown theme keys: {', '.join(unknown)}")
    if "name" not in data or "primary" not in data:
        raise ValueError(f"{path}:1: a theme needs at least 'name' and 'primary'")
    return Theme(**data)


def load_themes() -> tuple[list[Theme], list[str]]:
    """Every theme found, and a problem line for each file that could not be used."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
