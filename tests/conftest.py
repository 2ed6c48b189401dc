"""Every test runs with its own XDG directories, so nothing touches the user's files."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point XDG state/config at a temporary folder and clear cockpit overrides."""
    state = tmp_path / "state"
    config = tmp_path / "config"
    state.mkdir()
    config.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for var in ("COCKPIT_AUDIT_PATH", "COCKPIT_PROFILE", "NO_COLOR", "COCKPIT_DEMO_PORT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path
