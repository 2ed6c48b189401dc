"""Finding a backend class by kind: shipped kinds without reading the installed
distributions' metadata, other kinds through the ``cockpit.backends`` entry points."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from cockpit.core.backends import registry
from cockpit.core.backends.local import LocalBackend
from cockpit.core.config.loader import load_profile
from cockpit.core.errors import CockpitError


@pytest.fixture
def plugins(monkeypatch):
    """Entry points as an installed plugin distribution would register them."""
    import importlib.metadata

    found: list[EntryPoint] = []

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [ep for ep in found if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._registered.cache_clear()
    yield found
    registry._registered.cache_clear()


def test_a_plugin_kind_is_found_through_its_entry_point(plugins) -> None:
    plugins.append(EntryPoint("nomad", "cockpit.core.backends.local:LocalBackend",
                              "cockpit.backends"))
    assert registry.is_backend_kind("nomad")
    assert "nomad" in registry.backend_kinds()
    assert registry.load_backend_class("nomad") is LocalBackend


def test_a_plugin_cannot_take_over_a_shipped_kind(plugins) -> None:
    plugins.append(EntryPoint("local", "tests.no_such_module:Backend", "cockpit.backends"))
    assert registry.load_backend_class("local") is LocalBackend


def test_an_unknown_kind_names_the_known_ones(plugins) -> None:
    assert not registry.is_backend_kind("nomad")
    with pytest.raises(CockpitError, match=r"unknown backend kind 'nomad'.*local"):
        registry.load_backend_class("nomad")


def test_a_shipped_kind_is_loaded_without_scanning_entry_points(plugins, tmp_path) -> None:
    """(Each scan reads every installed distribution's entry-point file.)"""
    plugins.append(EntryPoint("nomad", "cockpit.core.backends.local:LocalBackend",
                              "cockpit.backends"))
    calls = []
    import importlib.metadata

    scan = importlib.metadata.entry_points

    def counted(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return scan(group=group)

    importlib.metadata.entry_points = counted  # (the fixture puts the original back)
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\nbackend: {kind: local}\n")
    loaded = load_profile(profile, environ={})
    assert registry.load_backend_class(loaded.profile.backend.kind) is LocalBackend
    assert "cockpit.backends" not in calls
    assert registry.is_backend_kind("nomad") and calls.count("cockpit.backends") == 1
