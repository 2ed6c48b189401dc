"""The kubeconfig as kubectl reads it, without importing the Kubernetes SDK.

Where it comes from: the ``kubeconfig:`` option (``a:b`` merged), else ``$KUBECONFIG``
(several files merged; missing ones ignored, as kubectl does), else ``~/.kube/config``,
else the in-cluster service account (``KUBERNETES_SERVICE_HOST`` and the mounted token).
Merging follows kubectl: the first file naming a cluster, context or user wins, and the
first ``current-context`` found is the current one.

``load_kubeconfig`` reads only what the cockpit needs to name things (contexts, their
cluster's server and namespace); ``KubeConfig.api_client(context)`` builds the SDK's
``ApiClient`` with the official loader (certificates, tokens, exec credential plugins
such as ``gke-gcloud-auth-plugin`` or ``aws eks get-token``). Problems are one line: a
file that is missing, malformed YAML as ``FILE:LINE: ...``, an unknown context.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.core.errors import CockpitError

#: The name of the one context of an in-cluster configuration.
IN_CLUSTER = "in-cluster"
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_MAX_BYTES = 8 * 1024 * 1024


class KubeconfigError(CockpitError):
    """The kubeconfig cannot be used (missing, malformed, unknown context)."""


@dataclass(frozen=True, slots=True)
class ContextInfo:
    """One context: its cluster's server, its user, its namespace (None: not set)."""

    name: str
    cluster: str
    user: str
    server: str
    namespace: str | None = None
    source: str = ""  #: the file that defines the context


@dataclass(slots=True)
class KubeConfig:
    """The merged kubeconfig (or the in-cluster account) as the cockpit sees it."""

    paths: list[str]  #: the files merged, in order (empty in a cluster)
    current: str | None  #: ``current-context``
    contexts: dict[str, ContextInfo] = field(default_factory=dict)
    in_cluster: bool = False

    def names(self) -> list[str]:
        """Every context, in file order."""
        return list(self.contexts)

    def context(self, name: str | None) -> ContextInfo:
        """The context ``name`` (None: the current one); ``KubeconfigError`` if unknown."""
        where = ", ".join(self.paths) or "the in-cluster configuration"
        if name is None:
            if not self.current:
                raise KubeconfigError(f"{where}: no current-context; name one with the "
                                      "profile's backend.context")
            name = self.current
        info = self.contexts.get(name)
        if info is None:
            known = ", ".join(self.contexts) or "none"
            raise KubeconfigError(f"{where}: no context {name!r} (known: {known})")
        return info

    def kubectl_env(self) -> dict[str, str]:
        """``KUBECONFIG`` for a host ``kubectl``, so it reads the same files."""
        return {"KUBECONFIG": os.pathsep.join(self.paths)} if self.paths else {}

    def api_client(self, name: str) -> Any:
        """A new ``kubernetes.client.ApiClient`` for context ``name`` (imports the SDK:
        call it in a thread). Credential plugins run here; failures are one line."""
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        configuration = k8s_client.Configuration()
        # The loader logs a failing credential plugin (and goes on without a token):
        # caught here, said as the problem, and kept off the terminal.
        logged = _Logged()
        root = logging.getLogger()
        root.addHandler(logged)
        try:
            if self.in_cluster:
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                k8s_config.load_kube_config(
                    config_file=os.pathsep.join(self.paths), context=name,
                    client_configuration=configuration, persist_config=False)
        except Exception as exc:  # ConfigException, bad certificates, ...
            text = " ".join(str(exc).split()) or type(exc).__name__
            raise KubeconfigError(f"kubeconfig context {name!r}: {text[:300]}") from None
        finally:
            root.removeHandler(logged)
        if logged.messages:
            text = " ".join(logged.messages[0].split())
            raise KubeconfigError(f"kubeconfig context {name!r}: {text[:300]}")
        return k8s_client.ApiClient(configuration=configuration)


class _Logged(logging.Handler):
    """Error records logged by this thread (the SDK's loader says problems that way)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def config_paths(option: str | None, environ: dict[str, str] | None = None) -> list[str]:
    """The files to merge (empty: none; the in-cluster account may apply)."""
    env = os.environ if environ is None else environ
    if option:
        paths = [os.path.expanduser(p) for p in option.split(os.pathsep) if p]
        for path in paths:
            if not os.path.isfile(path):
                raise KubeconfigError(f"kubeconfig {path}: no such file "
                                      "(the profile's backend.kubeconfig)")
        return paths
    listed = env.get("KUBECONFIG", "")
    if listed:
        paths = [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
        found = [p for p in paths if os.path.isfile(p)]
        if not found:
            raise KubeconfigError(f"KUBECONFIG={listed}: no such file")
        return found
    home = os.path.expanduser("~/.kube/config")
    return [home] if os.path.isfile(home) else []


def load_kubeconfig(option: str | None = None,
                    environ: dict[str, str] | None = None) -> KubeConfig:
    """Read and merge the kubeconfig (see the module docstring); blocking, no SDK."""
    env = os.environ if environ is None else environ
    paths = config_paths(option, dict(env))
    if not paths:
        if env.get("KUBERNETES_SERVICE_HOST") and (_SA_DIR / "token").is_file():
            return _in_cluster(env)
        raise KubeconfigError("no kubeconfig: $KUBECONFIG is not set, ~/.kube/config does "
                              "not exist, and this is not a pod with a service account")
    merged = KubeConfig(paths=paths, current=None)
    clusters: dict[str, dict[str, Any]] = {}
    users: set[str] = set()
    raw_contexts: list[tuple[str, dict[str, Any], str]] = []
    for path in paths:
        doc = _read(path)
        if merged.current is None and doc.get("current-context"):
            merged.current = str(doc["current-context"])
        for entry in _entries(doc, "clusters", path):
            clusters.setdefault(entry["name"], entry.get("cluster") or {})
        for entry in _entries(doc, "users", path):
            users.add(entry["name"])
        for entry in _entries(doc, "contexts", path):
            raw_contexts.append((entry["name"], entry.get("context") or {}, path))
    for name, ctx, path in raw_contexts:
        if name in merged.contexts:
            continue
        if not isinstance(ctx, dict):
            raise KubeconfigError(f"{path}: context {name!r} is not a mapping")
        cluster_name = str(ctx.get("cluster") or "")
        cluster = clusters.get(cluster_name)
        server = str(cluster.get("server") or "") if isinstance(cluster, dict) else ""
        merged.contexts[name] = ContextInfo(
            name=name, cluster=cluster_name, user=str(ctx.get("user") or ""),
            server=server, namespace=str(ctx["namespace"]) if ctx.get("namespace") else None,
            source=path)
    return merged


def _in_cluster(env: Any) -> KubeConfig:
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "443")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    try:
        namespace = (_SA_DIR / "namespace").read_text().strip() or None
    except OSError:
        namespace = None
    info = ContextInfo(IN_CLUSTER, IN_CLUSTER, IN_CLUSTER, server, namespace)
    return KubeConfig(paths=[], current=IN_CLUSTER, contexts={IN_CLUSTER: info},
                      in_cluster=True)


def _read(path: str) -> dict[str, Any]:
    """One kubeconfig file as a mapping; problems as ``FILE:LINE: ...``."""
    import yaml

    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise KubeconfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        raise KubeconfigError(f"{path}: larger than {_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise KubeconfigError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KubeconfigError(f"{path}{line}: malformed YAML: {problem}") from None
    if doc is None:
        raise KubeconfigError(f"{path}: the kubeconfig is empty")
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{path}:1: a kubeconfig is a mapping "
                              "(apiVersion, clusters, contexts, users)")
    return doc


def _entries(doc: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        raise KubeconfigError(f"{path}: {key} must be a list")
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise KubeconfigError(f"{path}: every entry of {key} needs a name")
        found.append(item)
    return found
