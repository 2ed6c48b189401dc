"""User settings: ``$XDG_CONFIG_HOME/cockpit/config.yaml``, validated, with env overrides.

```yaml
theme: cockpit-dark          # or cockpit-light, cockpit-high-contrast, any Textual theme
animations: false            # off by default: SSH links
log_buffer_lines: 10000      # Logs pane buffer; older lines are dropped (and counted)
background_refresh: 2        # seconds between repaints of a following pane you are not in
compact_output: true         # send only the cells that changed (COCKPIT_COMPACT_OUTPUT=0: off)
keymap:                      # binding id -> keys, as in posting
  logs.filter: ctrl+f
```
``COCKPIT_THEME`` / ``TEXTUAL_THEME`` override the theme.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from platformdirs import user_config_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cockpit.core.errors import ConfigError


class UserSettings(BaseModel):
    """The user's preferences for the TUI."""

    model_config = ConfigDict(extra="forbid")

    theme: str | None = None
    animations: bool = False
    log_buffer_lines: int = Field(10_000, ge=100, le=1_000_000)
    audit_buffer_records: int = Field(5_000, ge=100, le=1_000_000)
    #: a following pane without focus shows new data at most this often (0: at once);
    #: each repaint of a scrolling view rewrites all its rows (k9s refreshes every 2 s)
    background_refresh: float = Field(2.0, ge=0, le=60)
    #: send the terminal only the cells that changed, and let it scroll log views itself
    compact_output: bool = True
    keymap: dict[str, str] = Field(default_factory=dict)


def settings_path() -> Path:
    return user_config_path("cockpit") / "config.yaml"


def load_settings(path: Path | None = None) -> UserSettings:
    """Read the user config (missing file: defaults); ``ConfigError`` with FILE:LINE."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        data: object = {}
    except OSError as exc:
        raise ConfigError([f"{path}:1: cannot read: {exc.strerror}"]) from None
    else:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 1
            raise ConfigError([f"{path}:{line}: invalid YAML: {exc.problem}"]) from None
    try:
        settings = UserSettings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{path}:1: {where}: {message}")
        raise ConfigError(problems) from None
    env_theme = os.environ.get("COCKPIT_THEME") or os.environ.get("TEXTUAL_THEME")
    if env_theme:
        settings.theme = env_theme
    return settings
