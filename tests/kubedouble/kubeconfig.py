"""Kubeconfig files naming doubles: one context each, or a fleet with unreachable clusters."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import yaml


class HasUrl(Protocol):
    url: str


def closed_port_url() -> str:
    """``http://127.0.0.1:PORT`` of a port nothing listens on (an unreachable cluster)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def write_fleet_kubeconfig(
    path: str | os.PathLike[str],
    contexts: Mapping[str, tuple[HasUrl | str | None, str]],
    current: str | None = None,
) -> Path:
    """One kubeconfig naming several doubles: ``{context: (double, namespace)}``.

    A double may be a URL string instead, or None for an unreachable cluster (a closed port).
    ``current`` defaults to the first context.
    """
    clusters, users, ctxs = [], [], []
    for name, (double, namespace) in contexts.items():
        if isinstance(double, str):
            server = double
        elif double is None:
            server = closed_port_url()
        else:
            server = double.url
        clusters.append({"name": name, "cluster": {"server": server}})
        users.append({"name": f"{name}-user", "user": {"token": f"double-token-{name}"}})
        ctxs.append({"name": name, "context": {"cluster": name, "user": f"{name}-user", "namespace": namespace}})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "users": users,
        "contexts": ctxs,
        "current-context": current or next(iter(contexts)),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    target.chmod(0o600)
    return target
