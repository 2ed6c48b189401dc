"""Find backend classes by ``kind``: the shipped kinds, and others through the
``cockpit.backends`` entry-point group.

Modules are imported only when a profile asks for their kind, so a local profile
never pays for the Docker, Kubernetes or Google SDKs. A shipped kind is found without
reading the installed distributions' metadata (``importlib.metadata`` and the scan of
every entry-point file are ~5 ms of a cockpit's start-up); another kind looks there.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from cockpit.core.backends.base import Backend
from cockpit.core.errors import CockpitError

#: Kinds shipped with the cockpit, used when the distribution's metadata is missing
#: (running from a source tree without an install).
_BUILTIN = {
    "local": "cockpit.core.backends.local:LocalBackend",
    "docker": "cockpit.core.backends.docker:DockerBackend",
    "kubernetes": "cockpit.core.backends.kubernetes:KubernetesBackend",
    "cloudrun": "cockpit.core.backends.cloudrun:CloudRunBackend",
}


@cache
def _registered() -> dict[str, str]:
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group="cockpit.backends")}
    found.update(_BUILTIN)  # a plugin cannot take over a shipped kind
    return found


def is_backend_kind(kind: str) -> bool:
    """Whether ``kind`` can be named in a profile."""
    return kind in _BUILTIN or kind in _registered()


def backend_kinds() -> list[str]:
    """Every kind that can be named in a profile."""
    return sorted(_registered())


def load_backend_class(kind: str) -> type[Backend]:
    """Import and return the backend class registered for ``kind``."""
    target = _BUILTIN.get(kind) or _registered().get(kind)
    if target is None:
        raise CockpitError(f"unknown backend kind {kind!r} (known: {', '.join(backend_kinds())})")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CockpitError(
            f"backend {kind!r} needs an optional dependency: {exc}. "
            f"Install it with: pip install 'runbook-cockpit[{kind}]'"
        ) from None
    return getattr(module, attr)


def create_backend(kind: str, options: dict[str, Any] | None = None) -> Backend:
    """Instantiate the backend for ``kind`` with its profile options."""
    return load_backend_class(kind)(options)
