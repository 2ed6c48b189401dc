"""Errors the core raises to its callers (CLI, TUI) with a message fit for a user."""

from __future__ import annotations


class CockpitError(Exception):
    """Base of every error that is reported to the user without a traceback."""

    exit_code = 1


class ConfigError(CockpitError):
    """A profile or config file is wrong. ``problems`` holds ``FILE:LINE: message`` lines."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UsageError(CockpitError):
    """The user asked for something malformed (bad param value, unknown action)."""

    exit_code = 2
