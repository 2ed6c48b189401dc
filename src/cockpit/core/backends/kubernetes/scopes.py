"""The palette's ``:ctx`` and ``:ns``: what a scope can be switched to, and switching.

Contexts come from the kubeconfig (the profile's first, ``all`` first when it names
several); namespaces are listed from the cluster (the profile's when it cannot say,
``all`` first when the profile names several).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.core.backends.kubernetes.cluster import KubeError
from cockpit.core.errors import CockpitError

if TYPE_CHECKING:
    from cockpit.core.backends.kubernetes.backend import KubernetesBackend

ALL = "all"


async def choices(backend: KubernetesBackend, scope: str) -> list[str]:
    """The values ``scope`` ("context" or "namespace") can be switched to."""
    opts = backend.kopts
    if scope == "context":
        named = opts.profile_contexts()
        known = backend.config.names() if backend.config is not None else named
        ordered = [*named, *(c for c in known if c not in named)]
        return [ALL, *ordered] if len(named) > 1 else ordered
    if scope == "namespace":
        named = opts.profile_namespaces()
        listed: list[str] = []
        if backend.clusters:
            cluster = backend._cluster()
            try:
                answer = await cluster.raw_call("list", "namespaces",
                                                "core.list_namespace")
                listed = sorted(str((item.get("metadata") or {}).get("name"))
                                for item in answer.get("items") or [])
            except KubeError:
                listed = []
            if not listed:
                listed = [cluster.namespace]
        ordered = [*named, *(n for n in listed if n not in named)]
        return [ALL, *ordered] if len(named) > 1 else ordered
    raise CockpitError(f"the kubernetes backend has no {scope} to switch "
                       "(it has context and namespace)")


async def switch(backend: KubernetesBackend, scope: str, value: str) -> None:
    """Operate in ``value`` from now on (the watches start again)."""
    if scope not in ("context", "namespace"):
        raise CockpitError(f"the kubernetes backend has no {scope} to switch "
                           "(it has context and namespace)")
    allowed = await choices(backend, scope)
    if value not in allowed:
        raise CockpitError(f"no {scope} {value!r} (known: {', '.join(allowed) or 'none'})")
    if scope == "context":
        if value == ALL:
            wanted = backend.kopts.profile_contexts() or list(backend.clusters)[:1]
        else:
            wanted = [value]
        config = backend.config
        for name in wanted:
            if name not in backend.clusters and config is not None:
                from cockpit.core.backends.kubernetes.cluster import Cluster

                backend.clusters[name] = Cluster(config, config.context(name),
                                                 backend.kopts.timeout)
        backend.contexts = wanted
        backend._namespace = None
    else:
        backend._namespace = None if value == ALL else value
    backend._local = None  # host commands follow the new context and namespace
    await backend._restart_watch()
