"""Open the backend a loaded profile names (imported lazily by kind)."""

from __future__ import annotations

from cockpit.core.backends.base import Backend
from cockpit.core.backends.registry import create_backend
from cockpit.core.config.loader import LoadedProfile


def open_backend(loaded: LoadedProfile) -> Backend:
    """The profile's backend, with the profile's variables exported to what it runs."""
    options = loaded.profile.backend.options
    env = {**loaded.env, **dict(options.get("env") or {})}
    return create_backend(loaded.profile.backend.kind, {**options, "env": env})
