"""The kubernetes backend: workloads and pods of one or more kubeconfig contexts.

Options: ``kubernetes/options.py`` (``kubeconfig``, ``context``/``contexts``,
``namespace``/``namespaces``, ``workloads``, ``selector``, ``default_target``,
``container``, ``timeout``, ``rollout_timeout``, ``kubectl``).

- ``connect()`` reads the kubeconfig and imports the SDK in a thread (the import takes
  ~0.7 s: never on the UI thread; no module of this package imports ``kubernetes`` at
  import time), builds one ``Cluster`` per context (``cluster.py``) and starts the
  watches that keep the targets current (``watch.py``).
- Targets (``targets.py``): Deployments, StatefulSets, DaemonSets and Jobs with their
  pods as children, ids ``NS/KIND/NAME`` (a fleet: ``CTX/NS/KIND/NAME``); a context that
  cannot be reached is an error row of its own in a fleet.
- Operations (``ops.py`` declared and previewed as kubectl lines, ``operate.py`` run):
  scale, restart, undo, rollout-status, delete-pod; exec (and commands with a target)
  run through ``self.exec_starter`` (the exec module).
- Commands without a target run on this host (``backends/process.py``) with
  ``KUBECONFIG`` naming a kubeconfig whose current context and namespace are the
  backend's, so a host ``kubectl ...`` talks to the same cluster.
- Scopes: ``scope_verbs = {"ctx": "context", "ns": "namespace"}`` for the palette's
  ``:ctx`` / ``:ns``; ``identity()`` names the current context(s) and namespace(s),
  ``identity_for(target)`` the target's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar

from cockpit.core.backends.base import (
    Backend,
    Capability,
    CommandSpec,
    Execution,
    Target,
)
from cockpit.core.backends.identity import Identity
from cockpit.core.backends.kubernetes import ops
from cockpit.core.backends.kubernetes.cluster import Cluster, KubeError
from cockpit.core.backends.kubernetes.kubeconfig import KubeConfig, load_kubeconfig
from cockpit.core.backends.kubernetes.metrics import STAT_NAMES
from cockpit.core.backends.kubernetes.options import KubernetesOptions
from cockpit.core.backends.kubernetes.streams import (
    KubernetesStreams,
    StreamRef,
    probe_kind,
    start_exec,
)
from cockpit.core.backends.kubernetes.targets import Ref, parse_ref
from cockpit.core.backends.kubernetes.watch import AmbiguousTarget
from cockpit.core.backends.operations import Operation, OperationCall
from cockpit.core.backends.options import BackendOptions
from cockpit.core.backends.process import HostProcesses
from cockpit.core.backends.threaded import failed
from cockpit.core.errors import CockpitError, UsageError

#: ``exec_starter(backend, spec, resolved) -> Execution``: runs ``exec`` operations and
#: commands with a target in a pod (set by the exec module; None: not available).
ExecStarter = Callable[["KubernetesBackend", CommandSpec, "Resolved"], Awaitable[Execution]]


class Resolved:
    """A target reference resolved: the cluster, namespace, kind and name to act on."""

    __slots__ = ("cluster", "kind", "name", "namespace", "target")

    def __init__(self, cluster: Cluster, namespace: str, kind: str, name: str,
                 target: Target | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.kind = kind
        self.name = name
        self.target = target  #: the listed target, where the watch knows it

    def qualified(self) -> str:
        return f"{self.kind}/{self.name}"

    def __repr__(self) -> str:
        return f"Resolved({self.cluster.name}/{self.namespace}/{self.kind}/{self.name})"


class KubernetesBackend(KubernetesStreams, Backend):
    """Workloads and pods of kubeconfig contexts; see the module docstring."""

    kind: ClassVar[str] = "kubernetes"
    capabilities: ClassVar[Capability] = (
        Capability.RUN | Capability.SCRIPT | Capability.CANCEL | Capability.TARGETS
        | Capability.OPERATIONS | Capability.LOGS | Capability.LOGS_SINCE
        | Capability.EXEC_IN_TARGET | Capability.STATS | Capability.EVENT_LOG
    )
    stat_names: ClassVar[tuple[str, ...]] = STAT_NAMES
    options_model: ClassVar[type[BackendOptions]] = KubernetesOptions
    target_noun: ClassVar[str] = "workload"
    scope_verbs: ClassVar[Mapping[str, str]] = {"ctx": "context", "ns": "namespace"}
    #: runs exec operations and commands in a pod; set by the exec module
    exec_starter: ClassVar[ExecStarter | None] = None

    def __init__(self, options: Mapping[str, Any] | BackendOptions | None = None) -> None:
        super().__init__(options)
        self.kopts: KubernetesOptions = self.opts  # type: ignore[assignment]
        self.config: KubeConfig | None = None
        self.clusters: dict[str, Cluster] = {}  #: every context the profile may use
        self.contexts: list[str] = self.kopts.profile_contexts()  #: the current ones
        self._namespace: str | None = None  #: a namespace switched to (``:ns``)
        self.watch: Any = None  #: the TargetWatch (watch.py) once connected
        self._local: HostProcesses | None = None
        self._kubectl_dir: str | None = None
        self._id = uuid.uuid4().hex[:12]

    # -- set-up ---------------------------------------------------------------------------

    @property
    def early_targets(self) -> bool:  # type: ignore[override]
        """A forked copy may connect and list (it imports the SDK there, lists, ends),
        unless a kubeconfig file names a credential plugin or an auth provider: those
        would run twice (a login, a browser), and one that asks the operator could not
        in the copy (its output goes nowhere): a false failure in the first round."""
        from cockpit.core.backends.kubernetes.kubeconfig import config_paths

        try:
            paths = config_paths(self.kopts.kubeconfig, dict(os.environ))
            for path in paths:
                with open(path, "rb") as handle:
                    data = handle.read(8 << 20)
                if b"exec:" in data or b"auth-provider:" in data:
                    return False
        except (OSError, CockpitError):
            return False
        return True

    def warm_up(self) -> None:
        """Import the SDK (~0.4-0.7 s) in a thread while Textual starts."""
        import threading

        def load() -> None:
            import kubernetes.client
            import kubernetes.config  # noqa: F401

        threading.Thread(target=load, name="cockpit-k8s-import", daemon=True).start()

    async def connect(self) -> None:
        """Read the kubeconfig and import the SDK in a thread, then start watching;
        a bad kubeconfig or unknown context raises ``CockpitError`` (one line)."""
        await asyncio.to_thread(self._connect_blocking)
        await self._restart_watch()

    def _connect_blocking(self) -> None:
        config = load_kubeconfig(self.kopts.kubeconfig)
        wanted = self.kopts.profile_contexts() or [config.context(None).name]
        clusters = {}
        for name in wanted:
            clusters[name] = Cluster(config, config.context(name), self.kopts.timeout)
        import kubernetes.client  # noqa: F401 - the slow import, here in a thread

        for cluster in clusters.values():
            try:
                cluster.client()  # credentials: tokens, certificates, exec plugins
            except KubeError:
                if len(clusters) == 1:
                    raise  # one context: say it now; a fleet shows it on its row
        self.config = config
        self.clusters = clusters
        if not self.contexts or any(c not in clusters for c in self.contexts):
            self.contexts = list(clusters)

    async def _restart_watch(self) -> None:
        from cockpit.core.backends.kubernetes.watch import TargetWatch

        old, self.watch = self.watch, None
        if old is not None:
            await asyncio.to_thread(old.close)
        plan = {name: self.namespaces_of(name) for name in self.contexts}
        watch = TargetWatch([self.clusters[c] for c in self.contexts], plan,
                            selector=self.kopts.selector,
                            workloads=tuple(self.kopts.workloads),
                            fleet=self.fleet)
        self.watch = watch
        await asyncio.to_thread(watch.start)

    async def close(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            await asyncio.to_thread(watch.close)
        for cluster in self.clusters.values():
            await asyncio.to_thread(cluster.close)
        if self._kubectl_dir:
            shutil.rmtree(self._kubectl_dir, ignore_errors=True)
            self._kubectl_dir = None

    # -- where it operates ----------------------------------------------------------------

    @property
    def fleet(self) -> bool:
        """Several contexts in the profile: target ids carry their context."""
        return self.kopts.fleet()

    def namespaces_of(self, context: str) -> list[str]:
        """The namespaces watched in ``context`` now."""
        if self._namespace:
            return [self._namespace]
        named = self.kopts.profile_namespaces()
        if named:
            return named
        cluster = self.clusters.get(context)
        return [cluster.namespace if cluster else "default"]

    def _cluster(self, context: str | None = None) -> Cluster:
        if not self.clusters:
            raise CockpitError("the kubernetes backend is not connected")
        name = context or self.contexts[0]
        cluster = self.clusters.get(name)
        if cluster is None:
            raise CockpitError(f"context {name!r} is not one of this profile's "
                               f"({', '.join(self.clusters)})")
        return cluster

    def identity(self) -> Identity:
        """The current context(s) and namespace(s), and the first one's server."""
        contexts = self.contexts or self.kopts.profile_contexts()
        if not self.clusters:
            return Identity("kubernetes", context=",".join(contexts) or None,
                            namespace=",".join(self.kopts.profile_namespaces()) or None)
        namespaces: list[str] = []
        for name in contexts:
            namespaces += [n for n in self.namespaces_of(name) if n not in namespaces]
        return Identity("kubernetes", host=self._cluster().server or None,
                        context=",".join(contexts), namespace=",".join(namespaces))

    def identity_for(self, target: str | None) -> Identity:
        """The context and namespace ``target`` lives in (the backend's without one)."""
        if not target or not self.clusters:
            return self.identity()
        try:
            resolved = self.resolve_nowait(target)
        except (CockpitError, ValueError):
            return self.identity()
        return Identity("kubernetes", host=resolved.cluster.server or None,
                        context=resolved.cluster.name, namespace=resolved.namespace)

    # -- scopes (:ctx, :ns) ---------------------------------------------------------------

    async def scope_choices(self, scope: str) -> list[str]:
        from cockpit.core.backends.kubernetes import scopes

        return await scopes.choices(self, scope)

    async def switch_scope(self, scope: str, value: str) -> None:
        from cockpit.core.backends.kubernetes import scopes

        await scopes.switch(self, scope, value)

    # -- resolving targets ----------------------------------------------------------------

    def resolve_nowait(self, text: str, default_kind: str | None = None) -> Resolved:
        """``text`` (an id or alias) against the current context and namespace, from
        the watched targets where they know it; raises ValueError for a malformed one."""
        ref: Ref = parse_ref(text)
        if ref.context is None and self.fleet and self.watch is not None:
            found = self.watch.find(ref, self.contexts, self.namespaces_of)
            if found is not None:
                return self._resolved_from(found)
        cluster = self._cluster(ref.context)
        namespace = ref.namespace or self.namespaces_of(cluster.name)[0]
        kind = ref.kind
        listed = None
        if self.watch is not None:
            listed = self.watch.find(ref, [cluster.name], self.namespaces_of)
            if listed is not None and (kind is None or listed.kind == kind):
                return self._resolved_from(listed)
        return Resolved(cluster, namespace, kind or default_kind or "deployment", ref.name,
                        listed)

    def _resolved_from(self, target: Target) -> Resolved:
        context = target.details.get("context") or self.contexts[0]
        return Resolved(self._cluster(context), str(target.details.get("namespace")),
                        target.kind, target.name, target)

    # -- operations -----------------------------------------------------------------------

    @classmethod
    def operations(cls, options: BackendOptions) -> list[Operation]:
        return list(ops.OPERATIONS)

    async def explain(self, call: OperationCall) -> list[str]:
        """Before ``undo``: the revision history with images and where it goes back to;
        before ``scale``: the replicas now and after."""
        if call.name not in ("undo", "scale"):
            return []
        try:
            resolved = self.resolve_nowait(call.target, "deployment")
            cluster, ns, kind, name = (resolved.cluster, resolved.namespace, resolved.kind,
                                       resolved.name)
            if call.name == "undo":
                if kind != "deployment":
                    return []
                from cockpit.core.backends.kubernetes.rollout import explain_undo

                return await asyncio.to_thread(explain_undo, cluster, ns, name, call.args)
            if kind not in ("deployment", "statefulset"):
                return []
            method = "deployment" if kind == "deployment" else "stateful_set"
            obj = await cluster.raw_call("get", f"{kind}s", f"apps.read_namespaced_{method}",
                                         name, ns, missing=f"{kind} {name} in namespace {ns}")
            now = (obj.get("spec") or {}).get("replicas")
            ready = (obj.get("status") or {}).get("readyReplicas") or 0
            return [f"{kind}/{name} (context {cluster.name}, namespace {ns}): {now} replicas "
                    f"({ready} ready) now, {call.args.get('replicas', '?')} after"]
        except (CockpitError, ValueError) as exc:
            return [f"cannot read {call.target} before {call.name}: {exc}"]

    def kubectl_base(self, context: str | None, namespace: str | None) -> list[str]:
        """``kubectl [--kubeconfig F] --context C -n NS`` as previews show it."""
        return ops.kubectl_base(self.kopts.kubectl, self.kopts.kubeconfig, context, namespace)

    def preview(self, call: OperationCall) -> list[str]:
        """``kubectl --context C -n NS scale deployment/api --replicas=3``."""
        try:
            resolved = self.resolve_nowait(call.target, ops.DEFAULT_KIND.get(call.name))
            context, namespace = resolved.cluster.name, resolved.namespace
            qualified = resolved.qualified()
            known = resolved.target.kind if resolved.target is not None else \
                _loose_ref(call.target).kind
            op = next((o for o in ops.OPERATIONS if o.name == call.name), None)
            if op is not None and known and op.target_kinds and known not in op.target_kinds:
                raise UsageError(  # refused before anyone is asked, not after
                    f"{call.name} applies to {' or '.join(op.target_kinds)}, not "
                    f"{known} {resolved.name}")
        except AmbiguousTarget as exc:
            raise UsageError(str(exc)) from None
        except (CockpitError, ValueError) as exc:
            if isinstance(exc, UsageError):
                raise
            ref = _loose_ref(call.target)
            context = ref.context or (self.contexts[0] if self.contexts else None)
            namespace = ref.namespace or (self.kopts.profile_namespaces() or [None])[0]
            qualified = f"{ref.kind or ops.DEFAULT_KIND.get(call.name, 'deployment')}/" \
                        f"{ref.name}"
        if call.name == "exec" and self.kopts.container and not call.args.get("container"):
            call = OperationCall(call.name, call.target,
                                 {**call.args, "container": self.kopts.container})
        return ops.preview(call, self.kubectl_base(context, namespace), qualified,
                           self.kopts.rollout_timeout)

    @classmethod
    def fit_actions(cls, profile: Any, opts: BackendOptions) -> list[
            tuple[tuple[str | int, ...], str]]:
        return ops.fit_actions(profile, opts)  # type: ignore[arg-type]

    @classmethod
    def target_param(cls, opts: BackendOptions, op: Operation) -> dict[str, Any]:
        return ops.target_param(opts, op)  # type: ignore[arg-type]

    # -- commands -------------------------------------------------------------------------

    async def start(self, spec: CommandSpec) -> Execution:
        """An operation, a command in a pod (exec), or a command on this host."""
        try:
            return await self._start(spec)
        except Exception as exc:  # never raises: a failed execution says why
            return failed(spec.display(), str(exc) if isinstance(exc, CockpitError)
                          else f"{type(exc).__name__}: {exc}")

    async def _start(self, spec: CommandSpec) -> Execution:
        call = spec.operation
        ref = call.target if call is not None else spec.target
        if ref is None:
            # a host command talks to this backend's cluster (``kubectl_env``): connected
            # first, never run with no environment (kubectl's default context) nor left
            # with one for good (a command probe at start-up came before the connection)
            await self.ensure_connected()
            return await self._host().start(spec)
        if call is not None and call.name not in ops.NAMES:
            return failed(spec.display(), f"the kubernetes backend has no operation "
                                          f"{call.name}")
        if not self.clusters:
            return failed(spec.display(), "the kubernetes backend is not connected")
        default_kind = ops.DEFAULT_KIND.get(call.name) if call is not None else "pod"
        resolved = self.resolve_nowait(ref, default_kind)
        if call is not None and call.name != "exec":
            from cockpit.core.backends.kubernetes.operate import start_operation

            return start_operation(self, call, resolved, spec)
        starter = type(self).exec_starter
        if starter is None:
            return failed(spec.display(), "running commands in a pod is not available "
                                          "(the kubernetes exec module is missing)")
        return await starter(self, spec, resolved)

    def _host(self) -> HostProcesses:
        if self._local is None:
            env = {**self.kubectl_env(), **self.kopts.env}
            opts = self.kopts
            self._local = HostProcesses(
                env, marker_prefix=self._id, kill_grace=opts.kill_grace,
                eof_grace=opts.eof_grace, unread_grace=opts.unread_grace)
        return self._local

    def kubectl_env(self) -> dict[str, str]:
        """``KUBECONFIG`` for host commands: a small file first whose current context
        (with the current namespace) is the backend's, then the profile's files; and
        ``COCKPIT_K8S_CONTEXT`` / ``COCKPIT_K8S_NAMESPACE``."""
        if self.config is None or not self.clusters:
            return {}
        cluster = self._cluster()
        namespace = self.namespaces_of(cluster.name)[0]
        env = {"COCKPIT_K8S_CONTEXT": cluster.name, "COCKPIT_K8S_NAMESPACE": namespace}
        if self.config.in_cluster:
            return env
        if self._kubectl_dir is None:
            self._kubectl_dir = tempfile.mkdtemp(prefix="cockpit-kube-")
        first = os.path.join(self._kubectl_dir, "current.yaml")
        info = cluster.info
        import yaml

        with open(first, "w", encoding="utf-8") as handle:
            yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "current-context": info.name,
                "contexts": [{"name": info.name, "context": {
                    "cluster": info.cluster, "user": info.user, "namespace": namespace}}],
            }, handle)
        env["KUBECONFIG"] = os.pathsep.join([first, *self.config.paths])
        return env

    # -- targets --------------------------------------------------------------------------

    async def list_targets(self) -> list[Target]:
        """Workloads and their pods of the current contexts and namespaces."""
        if self.watch is None:
            raise KubeError("the kubernetes backend is not connected")
        return await asyncio.to_thread(self.watch.snapshot, self.kopts.timeout)

    async def watch_targets(self) -> AsyncIterator[list[Target]]:
        """The target list each time the watches change it (at most ~4 times a
        second); a single context that cannot be reached raises (the caller retries),
        in a fleet it is an error row."""
        if self.watch is None:
            raise KubeError("the kubernetes backend is not connected")
        async for targets in self.watch.updates():
            yield targets

    async def select_targets(self, selector: str) -> list[Target]:
        """The pods a label selector picks in the current contexts and namespaces (as
        ``kubectl get pods -l SELECTOR``), health computed; a context that cannot be
        reached is its error row, as in the Targets pane."""
        from cockpit.core.backends.kubernetes.targets import error_target, pod_owner, pod_target

        async def one(cluster: Cluster, namespace: str) -> list[Target]:
            try:
                answer = await cluster.raw_call(
                    "list", "pods", "core.list_namespaced_pod", namespace,
                    label_selector=selector)
            except KubeError as exc:
                return [error_target(cluster.name, cluster.server or "", str(exc))]
            context = cluster.name if self.fleet else None
            return [pod_target(pod, context=context, parent=pod_owner(pod))
                    for pod in answer.get("items") or []]

        jobs = [one(self.clusters[c], ns) for c in self.contexts if c in self.clusters
                for ns in self.namespaces_of(c)]
        return [t for found in await asyncio.gather(*jobs) for t in found]

    def targets_hint(self) -> str:
        ident = self.identity()
        parts = [f"context {ident.context}", f"namespace {ident.namespace}"]
        if self.kopts.selector:
            parts.append(f"selector {self.kopts.selector}")
        return (f"It lists workloads of {', '.join(parts)}; backend.namespace, "
                "backend.workloads and backend.selector choose others.")


    # -- streams (logs, exec, events, stats: streams.py) ----------------------------------

    async def _stream_ref(self, target: str) -> StreamRef:
        if not target:
            cluster = self._cluster()
            api = await asyncio.to_thread(cluster.client)
            return StreamRef(api, self.namespaces_of(cluster.name)[0], "", "", cluster.name,
                             self.kopts.container)
        resolved = self.resolve_nowait(target)
        typed_kind = _loose_ref(target).kind
        if resolved.target is None and typed_kind is None and self.watch is not None:
            with contextlib.suppress(CockpitError):  # the first listing may be under way
                await asyncio.to_thread(self.watch.snapshot, self.kopts.timeout)
            resolved = self.resolve_nowait(target)
        cluster = resolved.cluster
        api = await asyncio.to_thread(cluster.client)
        kind = resolved.kind
        if resolved.target is None and typed_kind is None:  # not listed (yet): ask
            kind = await asyncio.to_thread(probe_kind, api, resolved.namespace,
                                           resolved.name, self.kopts.timeout) or kind
        return StreamRef(api, resolved.namespace, kind, resolved.name, cluster.name,
                         self.kopts.container)

    def _known_targets(self) -> list[Target]:
        try:
            return self.watch.snapshot(0.0) if self.watch is not None else []
        except CockpitError:
            return []

    def logs_streamable(self, target: Target) -> bool:
        return target.kind != "context" and target.state not in (
            "missing", "unreachable", "Pending")

    def shell_argv(self, target: Target) -> list[str] | None:
        """``kubectl --context C -n NS exec -it POD -- sh`` (a workload: its first
        ready pod)."""
        known = self._known_targets()
        # generic code hands over targets without their details: take the listed one
        own = next((t for t in known if t.id == target.id), target)
        details = own.details
        context = details.get("context") or (self.contexts[0] if self.contexts else None)
        namespace = details.get("namespace") or own.scope.rsplit("/", 1)[-1] or None
        return self.shell_argv_for(own, self.kubectl_base(context, namespace),
                                   self.kopts.container, known)


KubernetesBackend.exec_starter = start_exec


def _loose_ref(text: str) -> Ref:
    try:
        return parse_ref(text)
    except ValueError:
        return Ref(text)
